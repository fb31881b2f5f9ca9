/* SPDX-License-Identifier: MIT */
/*
 * test_plugins.c - deliberately broken (and one minimal good) accelerator
 * plugins for test_accel_loader. The test compiles this file into one .so per
 * variant at run time (-DACCEL_TEST_PLUGIN -DVARIANT_<X> -fPIC -shared); when the
 * Makefile links it into the test binary, ACCEL_TEST_PLUGIN is unset and it is
 * empty.
 */
#ifdef ACCEL_TEST_PLUGIN
#include <errno.h>
#include <stdlib.h>

#include <pvnet/accel.h>

struct accel_dev {
	int x;
};
struct accel_port {
	int x;
};
struct accel_qp {
	int x;
};

static int t_probe(const struct accel_host *h, struct accel_dev_info *i)
{
	(void)h;
	i->levels = 1;
	return 0;
}
__attribute__((unused)) static int t_open(const struct accel_host *h,
					  const struct accel_open_args *a, struct accel_dev **o)
{
	(void)h, (void)a;
	*o = calloc(1, sizeof(**o));
	return *o ? 0 : -ENOMEM;
}
static void t_close(struct accel_dev *d)
{
	free(d);
}
static int t_port_alloc(struct accel_dev *d, const struct accel_port_args *a, struct accel_port **o)
{
	(void)d, (void)a;
	*o = calloc(1, sizeof(**o));
	return *o ? 0 : -ENOMEM;
}
static void t_port_free(struct accel_port *p)
{
	free(p);
}
static int t_qp_alloc(struct accel_port *p, const struct accel_qp_args *a, struct accel_qp **o)
{
	(void)p, (void)a;
	*o = calloc(1, sizeof(**o));
	return *o ? 0 : -ENOMEM;
}
static void t_qp_free(struct accel_qp *q)
{
	free(q);
}

#define T_MAJOR ACCEL_ABI_MAJOR
#define T_MINOR ACCEL_ABI_MINOR
#define T_SIZE sizeof(struct accel_ops)
#define T_FLAGS 0
#define T_OPEN t_open
#if defined(VARIANT_SHORT)
#undef T_SIZE
#define T_SIZE 24
#elif defined(VARIANT_BADVER)
#undef T_MAJOR
#define T_MAJOR (ACCEL_ABI_MAJOR + 1)
#elif defined(VARIANT_FLAGS)
#undef T_FLAGS
#define T_FLAGS (1ull << 8)
#elif defined(VARIANT_NULLREQ)
#undef T_OPEN
#define T_OPEN NULL
#elif defined(VARIANT_LONGER)
#undef T_MINOR
#define T_MINOR (ACCEL_ABI_MINOR + 5)
#undef T_SIZE
#define T_SIZE (sizeof(struct accel_ops) + 16)
#endif

/* A table from a future minor: our struct plus fields this loader does not know
 * (only VARIANT_LONGER declares them in `size`). */
static const struct {
	struct accel_ops ops;
	int (*future_op)(void);
	uint64_t future_field;
} table = {
	.ops =
		{
			.abi_major = T_MAJOR,
			.abi_minor = T_MINOR,
			.size = T_SIZE,
			.flags = T_FLAGS,
			.name = "tp_" PLUGIN_NAME,
			.version = "0.1",
			.levels = 1,
			.probe = t_probe,
			.open = T_OPEN,
			.close = t_close,
			.port_alloc = t_port_alloc,
			.port_free = t_port_free,
			.qp_alloc = t_qp_alloc,
			.qp_free = t_qp_free,
		},
	.future_op = NULL,
	.future_field = 0xdeadbeef,
};

#ifdef VARIANT_NOSYM
__attribute__((visibility("default"))) const struct accel_ops *pvnet_accel_entry_typo(void);
const struct accel_ops *pvnet_accel_entry_typo(void)
#else
__attribute__((visibility("default"))) const struct accel_ops *pvnet_accel_entry(void);
const struct accel_ops *pvnet_accel_entry(void)
#endif
{
	return &table.ops;
}
#else
typedef int accel_test_plugins_unused;
#endif
