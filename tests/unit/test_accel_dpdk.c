/* SPDX-License-Identifier: MIT */
/*
 * test_accel_dpdk.c - the DPDK accelerator plugin (build/.../dpdk.so) through
 * the framework, on DPDK's net_ring vdev: a port whose TX queue feeds its own
 * RX queue, so every frame sent comes back. Level 0 loopback, DMA faults both
 * ways, rx_no_buffer, Level 1 software demux by MAC (net_ring has no rte_flow),
 * TX checksum fill, features, wrong devargs (our check and DPDK's), the same
 * vdev opened again after close (hot-plug remove works), counters.
 * Skips when dpdk.so was not built (no dpdk-dev) next to this binary.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvnet/accel.h>
#include <pvnet/lib.h>

#include "accel_qp_drv.h"

static char g_so[PATH_MAX];
static char g_skip[PATH_MAX + 128];
static char g_log[4096];

static const uint8_t MAC_A[6] = {0x00, 0x16, 0x3e, 0, 0, 0x0a};
static const uint8_t MAC_B[6] = {0x00, 0x16, 0x3e, 0, 0, 0x0b};
static const uint8_t MAC_D0[6] = {0x00, 0x16, 0x3e, 0, 0, 0xd0};
static const uint8_t MAC_X[6] = {0x02, 0, 0, 0, 0, 0x99};

static void log_cb(void *ctx, enum accel_log_level lvl, const char *msg)
{
	(void)ctx;
	if (lvl <= ACCEL_LOG_WARN)
		snprintf(g_log, sizeof(g_log), "%s", msg);
}

struct fx {
	struct accel_registry *reg;
	struct accel_device *dev;
	void *allocs[16];
	int nallocs;
};

static int fx_try_open(struct fx *f, const char *devargs)
{
	struct accel_host host = {.size = sizeof(host), .log = log_cb};
	struct accel_open_args oa = {
		.wire_fd = -1, .flags = ACCEL_OPEN_F_NO_THREAD, .devargs = devargs};
	char err[512];

	memset(f, 0, sizeof(*f));
	g_log[0] = '\0';
	assert_int_equal(accel_registry_create(&f->reg), 0);
	assert_int_equal(accel_load_file(f->reg, g_so, err, sizeof(err)), 0);
	return accel_device_open(f->reg, "dpdk", &host, &oa, &f->dev);
}

static void fx_open(struct fx *f, const char *devargs)
{
	int rc = fx_try_open(f, devargs);

	if (rc)
		fail_msg("open %s: %d: %s", devargs, rc, g_log);
}

static void fx_close(struct fx *f)
{
	accel_device_close(f->dev);
	accel_registry_destroy(f->reg);
	while (f->nallocs)
		free(f->allocs[--f->nallocs]);
}

static struct accel_attach *vif(struct fx *f, uint32_t domid, uint32_t level, const uint8_t *mac,
				uint32_t qp_flags)
{
	return drv_vif(f->dev, domid, level, mac, 1, qp_flags);
}

static uint8_t *pages(struct fx *f, struct accel_attach *a, uint64_t iova, uint32_t n, int wr)
{
	assert_true(f->nallocs < 16);
	return drv_pages(a, iova, n, wr, &f->allocs[f->nallocs++]);
}

static void poll_dev(struct fx *f)
{
	for (int i = 0; i < 4; i++)
		accel_device_poll(f->dev, 64);
}

static uint64_t pstat(struct accel_attach *a, const char *name)
{
	struct accel_stat st[256];
	return drv_stat_of(st, accel_attach_stats(a, st, 256), 256, name);
}

static uint64_t dstat(struct fx *f, const char *name)
{
	struct accel_stat st[256];
	return drv_stat_of(st, accel_device_stats(f->dev, st, 256), 256, name);
}

static uint16_t frame(uint8_t *p, const uint8_t *dst, const uint8_t *src, uint16_t len, uint8_t tag)
{
	memset(p, tag, len);
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = 0x88;
	p[13] = 0xb5;
	return len;
}

#define SKIP_IF_NO_PLUGIN()                                                                        \
	do {                                                                                       \
		if (g_skip[0]) {                                                                   \
			print_message("SKIP: %s\n", g_skip);                                       \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Level 0: every frame sent comes back through net_ring, bytes intact. */
static void test_loopback_level0(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t *txm, *rxm;

	(void)state;
	SKIP_IF_NO_PLUGIN();
	fx_open(&f, "net_ring0");
	struct accel_attach *a = vif(&f, 1, 0, MAC_A, ACCEL_QP_F_DEFAULT_RX);
	drv_map(a, 0, 0, &d);
	txm = pages(&f, a, 0x10000, 8, 0);
	rxm = pages(&f, a, 0x20000, 8, 1);
	for (int i = 0; i < 16; i++)
		drv_rx_post(&d, 0x20000 + (uint64_t)i * 2048, 2048, d.rx_prod);
	for (int i = 0; i < 10; i++)
		drv_tx(&d, 0x10000 + (uint64_t)i * 2048,
		       frame(txm + i * 2048, MAC_X, MAC_A, (uint16_t)(60 + i * 100), (uint8_t)i), 0,
		       d.tx_prod);
	poll_dev(&f);
	for (int i = 0; i < 10; i++) {
		const struct accel_desc *t = drv_tx_next(&d);
		assert_non_null(t);
		assert_true(t->flags & ACCEL_DESC_F_DONE);
		assert_false(t->flags & ACCEL_DESC_F_ERR);
		const struct accel_desc *r = drv_rx_next(&d);
		assert_non_null(r);
		assert_int_equal(r->len, 60 + i * 100);
		assert_int_equal(r->flags & (ACCEL_DESC_F_DONE | ACCEL_DESC_F_ERR),
				 ACCEL_DESC_F_DONE);
		assert_memory_equal(rxm + (size_t)(r->id % 16) * 2048, txm + i * 2048, r->len);
	}
	assert_int_equal(pstat(a, "tx_packets"), 10);
	assert_int_equal(pstat(a, "rx_packets"), 10);
	assert_int_equal(dstat(&f, "wire_tx_packets"), 10);
	assert_int_equal(dstat(&f, "eth_rx_packets"), 10);
	assert_int_equal(dstat(&f, "link_up"), 1);
	drv_unmap(&d);
	fx_close(&f);
}

/* Unregistered TX buffer and a read-only RX buffer: refused, counted, not fatal. */
static void test_dma_faults(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t *txm;

	(void)state;
	SKIP_IF_NO_PLUGIN();
	fx_open(&f, "net_ring0");
	struct accel_attach *a = vif(&f, 1, 0, MAC_A, ACCEL_QP_F_DEFAULT_RX);
	drv_map(a, 0, 0, &d);
	txm = pages(&f, a, 0x10000, 2, 0);
	pages(&f, a, 0x30000, 1, 0);            /* read-only: not an RX buffer */
	drv_tx(&d, 0x900000, 60, 0, d.tx_prod); /* never registered */
	poll_dev(&f);
	const struct accel_desc *t = drv_tx_next(&d);
	assert_non_null(t);
	assert_true(t->flags & ACCEL_DESC_F_ERR);
	assert_int_equal(pstat(a, "dma_faults"), 1);
	assert_int_equal(pstat(a, "tx_dropped"), 1);
	/* a good frame comes back, but the only RX buffer is read-only */
	drv_rx_post(&d, 0x30000, 2048, d.rx_prod);
	drv_tx(&d, 0x10000, frame(txm, MAC_X, MAC_A, 60, 1), 0, d.tx_prod);
	poll_dev(&f);
	const struct accel_desc *r = drv_rx_next(&d);
	assert_non_null(r);
	assert_true(r->flags & ACCEL_DESC_F_ERR);
	assert_int_equal(pstat(a, "dma_faults"), 2);
	assert_int_equal(pstat(a, "rx_dropped"), 1);
	/* no buffer posted at all: rx_no_buffer */
	drv_tx(&d, 0x10000, 60, 0, d.tx_prod);
	poll_dev(&f);
	assert_int_equal(pstat(a, "rx_no_buffer"), 1);
	drv_unmap(&d);
	fx_close(&f);
}

/* Level 1 on a PMD without rte_flow: MAC filters demux in software. */
static void test_level1_sw_demux(void **state)
{
	struct fx f;
	struct drv da, db, d0;
	uint8_t *txm;

	(void)state;
	SKIP_IF_NO_PLUGIN();
	fx_open(&f, "net_ring0");
	struct accel_attach *a = vif(&f, 1, 1, MAC_A, 0);
	struct accel_attach *b = vif(&f, 2, 1, MAC_B, 0);
	struct accel_attach *z = vif(&f, 0, 0, MAC_D0, ACCEL_QP_F_DEFAULT_RX);
	struct accel_rx_filter fa = {.vlan = ACCEL_VLAN_ANY, .qid = 0};
	struct accel_rx_filter fb = {.vlan = ACCEL_VLAN_NONE, .qid = 0};

	memcpy(fa.mac, MAC_A, 6);
	memcpy(fb.mac, MAC_B, 6);
	assert_int_equal(accel_attach_rx_filter_add(a, &fa), 0);
	assert_int_equal(accel_attach_rx_filter_add(b, &fb), 0);
	assert_int_equal(accel_attach_rx_filter_add(a, &fb), -EEXIST);
	assert_int_equal(accel_attach_rx_filter_add(z, &fa), -EOPNOTSUPP); /* Level 0 */
	drv_map(a, 0, 0, &da);
	drv_map(b, 0, 0, &db);
	drv_map(z, 0, 0, &d0);
	txm = pages(&f, z, 0x10000, 2, 0);
	pages(&f, a, 0x20000, 1, 1);
	pages(&f, b, 0x20000, 1, 1); /* same IOVA, another IOMMU domain */
	pages(&f, z, 0x40000, 1, 1);
	drv_rx_post(&da, 0x20000, 2048, da.rx_prod);
	drv_rx_post(&db, 0x20000, 2048, db.rx_prod);
	drv_rx_post(&d0, 0x40000, 2048, d0.rx_prod);
	drv_rx_post(&d0, 0x40800, 2048, d0.rx_prod);
	frame(txm, MAC_A, MAC_X, 60, 1);
	frame(txm + 2048, MAC_B, MAC_X, 60, 2);
	frame(txm + 4096, MAC_X, MAC_X, 60, 3);
	drv_tx(&d0, 0x10000, 60, 0, d0.tx_prod);
	drv_tx(&d0, 0x10800, 60, 0, d0.tx_prod);
	drv_tx(&d0, 0x11000, 60, 0, d0.tx_prod);
	poll_dev(&f);
	assert_non_null(drv_rx_next(&da));
	assert_non_null(drv_rx_next(&db));
	assert_non_null(drv_rx_next(&d0));
	assert_null(drv_rx_next(&d0));
	assert_int_equal(pstat(a, "rx_packets"), 1);
	assert_int_equal(pstat(b, "rx_packets"), 1);
	assert_int_equal(pstat(z, "rx_packets"), 1);
	assert_int_equal(dstat(&f, "rx_filter_miss"), 1);
	assert_int_equal(dstat(&f, "rx_steering_hw"), 0);
	/* detached: its unicast goes to the default queue */
	assert_int_equal(accel_attach_detach(a), 0);
	drv_tx(&d0, 0x10000, 60, 0, d0.tx_prod);
	poll_dev(&f);
	assert_null(drv_rx_next(&da));
	assert_non_null(drv_rx_next(&d0));
	assert_int_equal(accel_attach_reattach(a), 0);
	drv_unmap(&da);
	drv_unmap(&db);
	drv_unmap(&d0);
	fx_close(&f);
}

static uint16_t ref_udp4_csum(const uint8_t *f, uint16_t len)
{
	uint16_t ulen = (uint16_t)(len - 34);
	uint32_t sum = pvnet_csum_partial(f + 26, 8, 17u + ulen); /* pseudo header by hand */

	return pvnet_csum_finish(pvnet_csum_partial(f + 34, ulen, sum));
}

/* ACCEL_DESC_F_CSUM: the UDP checksum is filled (by the PMD or the plugin). */
static void test_tx_csum_and_features(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t *txm, *rxm;
	uint64_t sup = 0, act = 0;
	const uint16_t len = 34 + 8 + 20;

	(void)state;
	SKIP_IF_NO_PLUGIN();
	fx_open(&f, "net_ring0");
	struct accel_attach *a = vif(&f, 1, 0, MAC_A, ACCEL_QP_F_DEFAULT_RX);
	assert_int_equal(accel_attach_features_get(a, &sup, &act), 0);
	assert_true(sup & ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM));
	assert_false(sup & ACCEL_FEAT_BIT(ACCEL_FEAT_LRO));
	assert_int_equal(accel_attach_feature_set_name(a, "large-receive-offload", 1), -EINVAL);
	drv_map(a, 0, 0, &d);
	txm = pages(&f, a, 0x10000, 1, 0);
	rxm = pages(&f, a, 0x20000, 1, 1);
	memset(txm, 0, len);
	memcpy(txm, MAC_X, 6);
	memcpy(txm + 6, MAC_A, 6);
	txm[12] = 0x08;
	txm[14] = 0x45;
	txm[16] = 0;
	txm[17] = (uint8_t)(len - 14);
	txm[22] = 64;
	txm[23] = 17;
	memcpy(txm + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	txm[34 + 1] = 99;
	txm[34 + 3] = 100;
	txm[34 + 5] = 28;
	memset(txm + 42, 0x5a, 20);
	drv_rx_post(&d, 0x20000, 2048, d.rx_prod);
	drv_tx(&d, 0x10000, len, ACCEL_DESC_F_CSUM, d.tx_prod);
	poll_dev(&f);
	const struct accel_desc *r = drv_rx_next(&d);
	assert_non_null(r);
	assert_int_equal(r->len, len);
	assert_int_equal(pstat(a, "tx_csum_filled"), 1);
	uint16_t got = (uint16_t)(rxm[40] << 8 | rxm[41]);
	rxm[40] = rxm[41] = 0;
	uint16_t want = ref_udp4_csum(rxm, len);
	assert_int_equal(got, want ? want : 0xffff);
	drv_unmap(&d);
	fx_close(&f);
}

/* Our own devargs checks, and DPDK's refusal, both say what was expected. */
static void test_wrong_devargs(void **state)
{
	struct fx f;

	(void)state;
	SKIP_IF_NO_PLUGIN();
	assert_int_equal(fx_try_open(&f, NULL), -EINVAL);
	assert_non_null(strstr(g_log, "no devargs"));
	fx_close(&f);
	assert_int_equal(fx_try_open(&f, "eth0"), -EINVAL);
	assert_non_null(strstr(g_log, "not a DPDK network vdev"));
	assert_non_null(strstr(g_log, "net_af_packet0;iface="));
	fx_close(&f);
	assert_true(fx_try_open(&f, "net_nosuchpmd0;x=1") < 0);
	assert_non_null(strstr(g_log, "DPDK cannot probe 'net_nosuchpmd0,x=1'"));
	fx_close(&f);
	assert_true(fx_try_open(&f, "net_af_packet9;iface=pvnoif0") < 0);
	assert_non_null(strstr(g_log, "SIOCGIFINDEX"));
	fx_close(&f);
}

/* Close removes the vdev: the same name probes again; two devices at once. */
static void test_reopen_and_two_devices(void **state)
{
	struct fx f, g;

	(void)state;
	SKIP_IF_NO_PLUGIN();
	for (int i = 0; i < 3; i++) {
		fx_open(&f, "net_null0;copy=1");
		fx_close(&f);
	}
	fx_open(&f, "net_ring1");
	fx_open(&g, "net_ring2");
	fx_close(&g);
	assert_int_equal(fx_try_open(&g, "net_ring1"), -EBUSY);
	assert_non_null(strstr(g_log, "already open"));
	fx_close(&g);
	fx_close(&f);
}

int main(void)
{
	char self[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0'; /* BUILD/tests */
		snprintf(g_so, sizeof(g_so), "%s/../lib/pvnet-accel/dpdk.so", self);
	}
	if (access(g_so, R_OK) != 0)
		snprintf(g_skip, sizeof(g_skip), "%s not built (no pkg-config libdpdk: dpdk-dev)",
			 g_so);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_level0),
		cmocka_unit_test(test_dma_faults),
		cmocka_unit_test(test_level1_sw_demux),
		cmocka_unit_test(test_tx_csum_and_features),
		cmocka_unit_test(test_wrong_devargs),
		cmocka_unit_test(test_reopen_and_two_devices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
