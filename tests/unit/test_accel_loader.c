/* SPDX-License-Identifier: MIT */
/*
 * test_accel_loader.c - the plugin loader and registry: version range, declared
 * table size (shorter and longer), unknown flags, missing entry symbol, NULL
 * required ops, missing optional ops (-EOPNOTSUPP), directory loading, simnic as
 * a .so and as a built-in, `pvnet accel list` rendering.
 *
 * The broken plugins come from tests/unit/test_accel_loader/test_plugins.c,
 * compiled here at run time into a temporary directory (cc -shared -fPIC), one
 * .so per VARIANT_*; simnic.so from the nic-accel/simnic sources. Run from the
 * repository root (tests/run.sh does); without a compiler the tests SKIP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvnet/accel.h>

static char g_dir[64];
static char g_skip[128];

static const char *const variants[] = {"GOOD",    "SHORT",  "BADVER", "FLAGS",
				       "NULLREQ", "LONGER", "NOSYM"};

static const char *cc(void)
{
	const char *c = getenv("CC");
	return c && *c ? c : "cc";
}

static int build(const char *cmd)
{
	int rc = system(cmd);
	return rc == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
	char cmd[1024];
	(void)state;

	if (access("tests/unit/test_accel_loader/test_plugins.c", R_OK) != 0) {
		snprintf(g_skip, sizeof(g_skip), "not run from the repository root");
		return 0;
	}
	snprintf(g_dir, sizeof(g_dir), "/tmp/pvnet-accel-test-XXXXXX");
	if (!mkdtemp(g_dir)) {
		snprintf(g_skip, sizeof(g_skip), "mkdtemp: %s", strerror(errno));
		return 0;
	}
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		char lower[16];
		size_t k;
		for (k = 0; variants[i][k] && k < sizeof(lower) - 1; k++)
			lower[k] = (char)(variants[i][k] | 0x20);
		lower[k] = '\0';
		snprintf(
			cmd, sizeof(cmd),
			"%s -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -fPIC -shared "
			"-fvisibility=hidden -DACCEL_TEST_PLUGIN -DVARIANT_%s -DPLUGIN_NAME='\"%s\"' "
			"-o %s/tp_%s.so tests/unit/test_accel_loader/test_plugins.c",
			cc(), variants[i], lower, g_dir, lower);
		if (build(cmd)) {
			snprintf(g_skip, sizeof(g_skip), "cannot build test plugins with %s", cc());
			return 0;
		}
	}
	snprintf(cmd, sizeof(cmd),
		 "%s -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror -Iinclude -pthread -fPIC "
		 "-shared -fvisibility=hidden -o %s/simnic.so nic-accel/simnic/*.c "
		 "nic-accel/sdk/*.c",
		 cc(), g_dir);
	if (build(cmd))
		snprintf(g_skip, sizeof(g_skip), "cannot build simnic.so with %s", cc());
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	(void)state;

	if (g_dir[0] && strncmp(g_dir, "/tmp/pvnet-accel-test-", 22) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g_dir);
	}
	return 0;
}

#define NEED_PLUGINS()                                                                             \
	do {                                                                                       \
		if (g_skip[0]) {                                                                   \
			fprintf(stderr, "SKIP: %s\n", g_skip);                                     \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static int load(struct accel_registry *reg, const char *file, char *err, size_t errlen)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", g_dir, file);
	err[0] = '\0';
	return accel_load_file(reg, path, err, errlen);
}

/* Loads one broken plugin; checks the error code and that the message names the
 * file and contains `text`. */
static void expect_reject(const char *file, int code, const char *text)
{
	struct accel_registry *reg;
	char err[256];

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(load(reg, file, err, sizeof(err)), code);
	if (!strstr(err, text) || strncmp(err, file, strlen(file)) != 0)
		fail_msg("message for %s: \"%s\" lacks \"%s\"", file, err, text);
	assert_int_equal(accel_list(reg, NULL, 0), 0);
	accel_registry_destroy(reg);
}

static void test_wrong_version(void **state)
{
	(void)state;
	NEED_PLUGINS();
	expect_reject("tp_badver.so", -EPROTO,
		      "ABI version 2.0 not supported (this loader takes 1.x");
}

static void test_short_table(void **state)
{
	char want[128];
	(void)state;
	NEED_PLUGINS();
	snprintf(want, sizeof(want), "ops table is 24 bytes, shorter than the %zu bytes ABI 1.0",
		 (size_t)ACCEL_OPS_MIN_SIZE);
	expect_reject("tp_short.so", -EINVAL, want);
}

static void test_unknown_flags(void **state)
{
	(void)state;
	NEED_PLUGINS();
	expect_reject("tp_flags.so", -ENOTSUP, "unknown flag bits 0x100 in ops table");
}

static void test_missing_symbol(void **state)
{
	(void)state;
	NEED_PLUGINS();
	expect_reject("tp_nosym.so", -ENOENT, "missing symbol pvnet_accel_entry");
}

static void test_null_required_op(void **state)
{
	(void)state;
	NEED_PLUGINS();
	expect_reject("tp_nullreq.so", -EINVAL, "lacks a required op");
}

static void test_not_a_plugin(void **state)
{
	struct accel_registry *reg;
	char err[256];
	(void)state;

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(accel_load_file(reg, "/nonexistent/x.so", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "x.so: cannot load: "));
	accel_registry_destroy(reg);
}

/* A newer minor with a longer table is accepted; only known bytes are used. */
static void test_longer_table(void **state)
{
	struct accel_registry *reg;
	struct accel_plugin_info info[4];
	struct accel_device *dev;
	struct accel_attach *att;
	struct accel_open_args oa = {.wire_fd = -1};
	struct accel_vif_config vc = {.domid = 1, .level = 0};
	char err[256];
	(void)state;
	NEED_PLUGINS();

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(load(reg, "tp_longer.so", err, sizeof(err)), 0);
	assert_int_equal(accel_list(reg, info, 4), 1);
	assert_string_equal(info[0].name, "tp_longer");
	assert_int_equal(info[0].abi_major, 1);
	assert_int_equal(info[0].abi_minor, 5);
	assert_non_null(strstr(info[0].source, "/tp_longer.so"));
	assert_int_equal(accel_device_open(reg, "tp_longer", NULL, &oa, &dev), 0);
	assert_int_equal(accel_attach_create(dev, &vc, &att), 0);
	assert_int_equal(accel_attach_detach(att), -EOPNOTSUPP);
	accel_device_close(dev);
	accel_registry_destroy(reg);
}

/* Every optional op a plugin leaves out is -EOPNOTSUPP from the framework. */
static void test_missing_optional_ops(void **state)
{
	struct accel_registry *reg;
	struct accel_device *dev;
	struct accel_attach *att;
	struct accel_open_args oa = {.wire_fd = -1};
	struct accel_vif_config vc = {.domid = 1, .level = 0};
	struct accel_qp_map m;
	struct accel_rx_filter rf = {0};
	struct accel_tx_filter tf = {0};
	struct accel_stat st[4];
	uint64_t a, b;
	char err[256], buf[256];
	static uint8_t page[4096] __attribute__((aligned(4096)));
	struct accel_mem_region r = {.iova = 0, .host = page, .size = 4096};
	(void)state;
	NEED_PLUGINS();

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(load(reg, "tp_good.so", err, sizeof(err)), 0);
	assert_int_equal(accel_device_open(reg, "tp_good", NULL, &oa, &dev), 0);
	vc.level = 2; /* the plugin declares Level 0 only */
	assert_int_equal(accel_attach_create(dev, &vc, &att), -EOPNOTSUPP);
	vc.level = 0;
	assert_int_equal(accel_attach_create(dev, &vc, &att), 0);
	assert_int_equal(accel_attach_map_qp(att, 0, 0, &m), -EOPNOTSUPP);
	assert_int_equal(accel_attach_mem_register(att, &r, 1), -EOPNOTSUPP);
	assert_int_equal(accel_attach_mem_unregister(att, 0, 4096), -EOPNOTSUPP);
	assert_int_equal(accel_attach_rx_filter_add(att, &rf), -EOPNOTSUPP);
	assert_int_equal(accel_attach_rx_filter_del(att, &rf), -EOPNOTSUPP);
	assert_int_equal(accel_attach_tx_filter_set(att, 0, &tf), -EOPNOTSUPP);
	assert_int_equal(accel_attach_rate_limit_set(att, 0, 1000, 0), -EOPNOTSUPP);
	assert_int_equal(accel_attach_features_get(att, &a, &b), -EOPNOTSUPP);
	assert_int_equal(accel_attach_features_set(att, 0), -EOPNOTSUPP);
	assert_int_equal(accel_attach_detach(att), -EOPNOTSUPP);
	assert_int_equal(accel_attach_reattach(att), -EOPNOTSUPP);
	assert_int_equal(accel_device_poll(dev, 1), -EOPNOTSUPP);
	assert_int_equal(accel_device_stats(dev, st, 4), -EOPNOTSUPP);
	assert_int_equal(accel_format_features(att, "vif1.0", buf, sizeof(buf)), -EOPNOTSUPP);
	/* the framework's own counters still print */
	assert_int_equal(accel_attach_stats(att, st, 4), 2);
	assert_true(accel_format_stats(att, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "     fw_iommu_pages: 0\n"));
	accel_device_close(dev);
	accel_registry_destroy(reg);
}

/* A table declared shorter than the struct in memory: bytes past `size` are
 * never used, even if they hold pointers. */
static int never_called(struct accel_qp *qp, uint32_t domid, struct accel_qp_map *out)
{
	(void)qp, (void)domid, (void)out;
	fail_msg("an op past the declared size was called");
	return 0;
}

static void test_declared_size_honoured(void **state)
{
	struct accel_registry *reg;
	const struct accel_ops *simnic;
	struct accel_ops mine;
	struct accel_device *dev;
	struct accel_attach *att;
	struct accel_open_args oa = {.wire_fd = -1, .flags = ACCEL_OPEN_F_NO_THREAD};
	struct accel_vif_config vc = {.domid = 0, .level = 0};
	struct accel_qp_map m;
	char err[256];
	(void)state;

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(accel_register_builtins(reg), 0);
	simnic = accel_plugin_ops(accel_find(reg, "simnic"));
	assert_non_null(simnic);
	mine = *simnic;
	mine.name = "old_minor";
	mine.size = (uint32_t)ACCEL_OPS_MIN_SIZE;
	mine.qp_map = never_called;
	assert_int_equal(accel_register_ops(reg, &mine, "test", err, sizeof(err)), 0);
	assert_null(accel_plugin_ops(accel_find(reg, "old_minor"))->qp_map);
	assert_int_equal(accel_device_open(reg, "old_minor", NULL, &oa, &dev), 0);
	assert_int_equal(accel_attach_create(dev, &vc, &att), 0);
	assert_int_equal(accel_attach_map_qp(att, 0, 0, &m), -EOPNOTSUPP);
	accel_device_close(dev);

	/* names are checked, duplicates refused */
	mine.name = "Bad Name";
	assert_int_equal(accel_register_ops(reg, &mine, "test", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad plugin name"));
	mine.name = "simnic";
	assert_int_equal(accel_register_ops(reg, &mine, "test", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "a plugin named 'simnic' is already registered"));
	mine.name = "nolevels";
	mine.levels = 0x10;
	assert_int_equal(accel_register_ops(reg, &mine, "test", err, sizeof(err)), -EINVAL);
	assert_int_equal(accel_register_ops(reg, NULL, "test", err, sizeof(err)), -EINVAL);
	assert_int_equal(accel_device_open(reg, "nosuch", NULL, &oa, &dev), -ENOENT);
	accel_registry_destroy(reg);
}

/* Built-ins are listed once, with their levels and "built-in" as the source. */
static void test_builtins_list(void **state)
{
	struct accel_registry *reg;
	struct accel_plugin_info info[4];
	char buf[1024], lv[16];
	(void)state;

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(accel_register_builtins(reg), 0);
	assert_int_equal(accel_register_builtins(reg), -EEXIST);
	assert_int_equal(accel_list(reg, info, 4), 1);
	assert_string_equal(info[0].name, "simnic");
	assert_string_equal(info[0].source, "built-in");
	assert_int_equal(info[0].levels, 0xf);
	accel_levels_str(info[0].levels, lv, sizeof(lv));
	assert_string_equal(lv, "0,1,2,3");
	accel_levels_str(0x5, lv, sizeof(lv));
	assert_string_equal(lv, "0,2");
	assert_true(accel_format_list(reg, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "NAME"));
	assert_non_null(strstr(buf, "LEVELS"));
	assert_non_null(strstr(buf, "simnic"));
	assert_non_null(strstr(buf, "0,1,2,3"));
	assert_non_null(strstr(buf, "built-in"));
	assert_string_equal(accel_feature_name(ACCEL_FEAT_TSO), "tcp-segmentation-offload");
	assert_null(accel_feature_name(ACCEL_FEAT_COUNT));
	accel_registry_destroy(NULL);
	accel_registry_destroy(reg);
}

/* With the built-ins registered (as pvnetd does), a dir's simnic.so is not opened:
 * the built-in serves, the rest of the dir still loads. */
static void test_load_dir_after_builtins(void **state)
{
	struct accel_registry *reg;
	struct accel_plugin_info info[8];
	(void)state;
	NEED_PLUGINS();

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(accel_register_builtins(reg), 0);
	assert_int_equal(accel_load_dir(reg, g_dir), 2); /* tp_good, tp_longer */
	assert_int_equal(accel_list(reg, info, 8), 3);
	assert_string_equal(info[0].name, "simnic");
	assert_string_equal(info[0].source, "built-in");
	accel_registry_destroy(reg);
}

/* A directory: good plugins load, broken ones are skipped; simnic.so works. */
static void test_load_dir(void **state)
{
	struct accel_registry *reg;
	struct accel_plugin_info info[8];
	struct accel_device *dev;
	struct accel_attach *att;
	struct accel_open_args oa = {.wire_fd = -1, .flags = ACCEL_OPEN_F_NO_THREAD};
	struct accel_vif_config vc = {.domid = 3, .level = 2, .iommu_quota = 2};
	struct accel_qp_map m;
	char buf[2048], err[256];
	static uint8_t pages[3 * 4096] __attribute__((aligned(4096)));
	struct accel_mem_region r = {.iova = 0x1000, .host = pages, .size = 3 * 4096};
	(void)state;
	NEED_PLUGINS();

	assert_int_equal(accel_registry_create(&reg), 0);
	assert_int_equal(accel_load_dir(reg, "/nonexistent-dir"), -ENOENT);
	assert_int_equal(accel_load_dir(reg, g_dir), 3); /* simnic, tp_good, tp_longer */
	assert_int_equal(accel_list(reg, info, 8), 3);
	assert_string_equal(info[0].name, "simnic");
	assert_non_null(strstr(info[0].source, "/simnic.so"));
	assert_int_equal(accel_register_builtins(reg), -EEXIST); /* same name */
	accel_format_list(reg, buf, sizeof(buf));
	assert_non_null(strstr(buf, "tp_longer"));
	assert_non_null(strstr(buf, "1.5"));

	/* simnic from the .so: a Level 2 port, quota enforced, ring exported */
	assert_int_equal(accel_device_open(reg, "simnic", NULL, &oa, &dev), 0);
	assert_int_equal(accel_attach_create(dev, &vc, &att), 0);
	assert_int_equal(accel_attach_mem_register(att, &r, 1), -ENOSPC);
	r.size = 2 * 4096;
	assert_int_equal(accel_attach_mem_register(att, &r, 1), 0);
	assert_int_equal(accel_attach_map_qp(att, 0, 3, &m), 0);
	assert_true(m.mem_fd >= 0 && m.doorbell_fd >= 0 && m.irq_fd >= 0);
	assert_int_equal(m.tx_ring_off, 4096);
	close(m.mem_fd);
	close(m.doorbell_fd);
	close(m.irq_fd);
	assert_int_equal(accel_attach_map_qp(att, 0, 4, &m), -EPERM);
	accel_device_close(dev);
	(void)err;
	accel_registry_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_short_table),
		cmocka_unit_test(test_unknown_flags),
		cmocka_unit_test(test_missing_symbol),
		cmocka_unit_test(test_null_required_op),
		cmocka_unit_test(test_not_a_plugin),
		cmocka_unit_test(test_longer_table),
		cmocka_unit_test(test_missing_optional_ops),
		cmocka_unit_test(test_declared_size_honoured),
		cmocka_unit_test(test_builtins_list),
		cmocka_unit_test(test_load_dir),
		cmocka_unit_test(test_load_dir_after_builtins),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
