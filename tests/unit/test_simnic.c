/* SPDX-License-Identifier: MIT */
/*
 * test_simnic.c - simnic, the reference device, driven through the framework:
 * IOMMU faults and quotas, anti-spoofing, VF isolation and hairpin, RX steering,
 * checksum offload, TSO, LRO, interrupt moderation, rate limiting on an injected
 * clock, detach/attach, the engine thread, ethtool renderings.
 * "Guest memory" is plain page-aligned heap registered at chosen IOVAs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvnet/accel.h>
#include <pvnet/lib.h>

#include "../../nic-accel/accel_private.h"
#include "accel_qp_drv.h"

static const uint8_t MAC_A[6] = {0x00, 0x16, 0x3e, 0, 0, 0x0a};
static const uint8_t MAC_B[6] = {0x00, 0x16, 0x3e, 0, 0, 0x0b};
static const uint8_t MAC_D0[6] = {0x00, 0x16, 0x3e, 0, 0, 0xd0};
static const uint8_t MAC_X[6] = {0x02, 0, 0, 0, 0, 0x99}; /* remote host */
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- fixture ---- */

/* Guest memory of the current test, freed by fx_close after the device. */
static void *g_allocs[32];
static int g_nallocs;

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

struct fx {
	struct accel_registry *reg;
	struct accel_device *dev;
	int wire[2]; /* wire[0] given to the device, wire[1] is "the remote host" */
};

static void fx_open(struct fx *f, uint32_t flags, int with_wire)
{
	struct accel_host host = {.size = sizeof(host), .now_ns = fake_clock};
	struct accel_open_args oa = {.wire_fd = -1, .flags = flags, .max_vfs = 2};

	memset(f, 0, sizeof(*f));
	f->wire[0] = f->wire[1] = -1;
	fake_now = 1000000000ull;
	assert_int_equal(accel_registry_create(&f->reg), 0);
	assert_int_equal(accel_register_builtins(f->reg), 0);
	if (with_wire) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, f->wire), 0);
		int sz = 4 << 20;
		setsockopt(f->wire[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(f->wire[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		oa.wire_fd = f->wire[0];
	}
	assert_int_equal(accel_device_open(f->reg, "simnic", &host, &oa, &f->dev), 0);
}

static void fx_close(struct fx *f)
{
	accel_device_close(f->dev);
	accel_registry_destroy(f->reg);
	if (f->wire[0] >= 0)
		close(f->wire[0]);
	if (f->wire[1] >= 0)
		close(f->wire[1]);
	while (g_nallocs)
		free(g_allocs[--g_nallocs]);
}

static struct accel_attach *vif(struct fx *f, uint32_t domid, uint32_t level, const uint8_t *mac,
				uint32_t queues, uint32_t qp_flags)
{
	return drv_vif(f->dev, domid, level, mac, queues, qp_flags);
}

static uint64_t stat(struct accel_attach *a, const char *name)
{
	struct accel_stat st[64];

	return drv_stat_of(st, accel_attach_stats(a, st, 64), 64, name);
}

static uint64_t dev_stat(struct accel_device *dev, const char *name)
{
	struct accel_stat st[32];

	return drv_stat_of(st, accel_device_stats(dev, st, 32), 32, name);
}

/* Guest pages registered at iova. */
static uint8_t *guest_pages(struct accel_attach *a, uint64_t iova, uint32_t pages, int writable)
{
	assert_true(g_nallocs < 32);
	return drv_pages(a, iova, pages, writable, &g_allocs[g_nallocs++]);
}

static void poll_dev(struct fx *f)
{
	while (accel_device_poll(f->dev, 64) > 0) {
	}
}

static ssize_t wire_recv(struct fx *f, uint8_t *buf, size_t size)
{
	return recv(f->wire[1], buf, size, MSG_DONTWAIT);
}

/* ---- independent packet construction and checksums ---- */

/* The checksum is lib's (tested against its own reference in test_lib); the
 * pseudo headers are summed here by hand, not by lib's helpers. */
static uint16_t ref_csum(const uint8_t *p, size_t len, uint32_t sum)
{
	return pvnet_csum_finish(pvnet_csum_partial(p, len, sum));
}

/* 1 if the IPv4 header and TCP checksum of an untagged frame verify. */
static int ref_tcp4_ok(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	size_t tot = (size_t)(ip[2] << 8 | ip[3]);
	uint32_t sum = 0;

	if (len < 14 + tot || ref_csum(ip, 20, 0) != 0)
		return 0;
	for (int i = 12; i < 20; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	sum += 6 + (uint32_t)(tot - 20);
	return ref_csum(ip + 20, tot - 20, sum) == 0;
}

/* Ethernet + IPv4 + TCP (20 B), valid checksums unless csum_blank. */
static size_t mk_tcp4(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint32_t sip,
		      uint32_t dip, uint32_t seq, uint8_t flags, const uint8_t *pl, size_t plen,
		      int csum_blank)
{
	uint8_t *ip = f + 14, *tcp = f + 34;
	size_t tot = 40 + plen;
	uint32_t sum = 0;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08, f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45, ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
	ip[4] = 0x12, ip[5] = 0x34, ip[8] = 64, ip[9] = 6;
	memcpy(ip + 12, &sip, 4);
	memcpy(ip + 16, &dip, 4);
	uint16_t c = ref_csum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	memset(tcp, 0, 20);
	tcp[0] = 0x30, tcp[1] = 0x39, tcp[2] = 0x00, tcp[3] = 0x50;
	tcp[4] = (uint8_t)(seq >> 24), tcp[5] = (uint8_t)(seq >> 16), tcp[6] = (uint8_t)(seq >> 8),
	tcp[7] = (uint8_t)seq;
	tcp[11] = 1; /* ack */
	tcp[12] = 0x50, tcp[13] = flags, tcp[14] = 0xff, tcp[15] = 0xff;
	memcpy(tcp + 20, pl, plen);
	if (!csum_blank) {
		for (int i = 12; i < 20; i += 2)
			sum += (uint32_t)ip[i] << 8 | ip[i + 1];
		sum += 6 + (uint32_t)(20 + plen);
		c = ref_csum(tcp, 20 + plen, sum);
		tcp[16] = (uint8_t)(c >> 8), tcp[17] = (uint8_t)c;
	}
	return 14 + tot;
}

/* A plain Ethernet frame with an optional 802.1Q tag. */
static size_t mk_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, int vid)
{
	size_t off = 12;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (vid >= 0) {
		f[12] = 0x81, f[13] = 0x00, f[14] = (uint8_t)(vid >> 8), f[15] = (uint8_t)vid;
		off = 16;
	}
	f[off] = 0x88, f[off + 1] = 0xb5; /* local experimental ethertype */
	memset(f + off + 2, 0xab, 60 - off - 2);
	return 60;
}

#define IP(a, b, c, d)                                                                             \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* ---- tests ---- */

/* A descriptor with an unregistered IOVA, or an RX write into a read-only page,
 * is refused and counted; nothing reaches the wire or the page. */
static void test_dma_fault_unregistered(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t buf[2048];
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *a = vif(&f, 5, 2, MAC_A, 1, 0);
	uint8_t *mem = guest_pages(a, 0x10000, 1, 1);
	uint8_t *ro = guest_pages(a, 0x20000, 1, 0);
	drv_map(a, 0, 5, &d);

	size_t n = mk_eth(mem, MAC_X, MAC_A, -1);
	drv_tx(&d, 0x50000, (uint16_t)n, 0, 1); /* never registered */
	poll_dev(&f);
	assert_int_equal(accel_ring_load(&d.sh->tx_cons), 1);
	assert_true(d.tx[0].flags & ACCEL_DESC_F_DONE);
	assert_true(d.tx[0].flags & ACCEL_DESC_F_ERR);
	assert_int_equal(stat(a, "dma_faults"), 1);
	assert_int_equal(stat(a, "tx_dropped"), 1);
	assert_true(wire_recv(&f, buf, sizeof(buf)) < 0);

	/* a packet straddling into an unregistered page also faults */
	drv_tx(&d, 0x10000 + 4000, 200, 0, 2);
	poll_dev(&f);
	assert_int_equal(stat(a, "dma_faults"), 2);

	/* RX into a read-only page: write refused */
	drv_rx_post(&d, 0x20000, 2048, 7);
	n = mk_eth(buf, MAC_A, MAC_X, -1);
	assert_int_equal(send(f.wire[1], buf, n, 0), (ssize_t)n);
	poll_dev(&f);
	const struct accel_desc *c = drv_rx_next(&d);
	assert_non_null(c);
	assert_true(c->flags & ACCEL_DESC_F_ERR);
	assert_int_equal(c->id, 7);
	assert_int_equal(stat(a, "dma_faults"), 3);
	assert_int_equal(stat(a, "rx_dropped"), 1);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(ro[i], 0);

	/* the same send with a good descriptor works */
	n = mk_eth(mem, MAC_X, MAC_A, -1);
	drv_tx(&d, 0x10000, (uint16_t)n, 0, 3);
	poll_dev(&f);
	assert_int_equal(wire_recv(&f, buf, sizeof(buf)), (ssize_t)n);
	assert_int_equal(stat(a, "tx_packets"), 1);

	drv_unmap(&d);
	fx_close(&f);
}

/* Registration beyond the per-vif quota is refused with -ENOSPC and counted,
 * by the framework and by the device itself. */
static void test_registration_quota(void **state)
{
	struct fx f;
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 0);
	struct accel_vif_config c = {.domid = 7, .level = 2, .iommu_quota = 4};
	struct accel_attach *a = NULL;
	memcpy(c.mac, MAC_A, 6);
	assert_int_equal(accel_attach_create(f.dev, &c, &a), 0);

	uint8_t *p = aligned_alloc(ACCEL_PAGE_SIZE, 8 * ACCEL_PAGE_SIZE);
	struct accel_mem_region r = {.iova = 0x100000,
				     .host = p,
				     .size = 3 * ACCEL_PAGE_SIZE,
				     .flags = ACCEL_MEM_F_WRITABLE};
	assert_int_equal(accel_attach_mem_register(a, &r, 1), 0);
	r.iova = 0x200000;
	r.host = p + 3 * ACCEL_PAGE_SIZE;
	r.size = 2 * ACCEL_PAGE_SIZE;
	assert_int_equal(accel_attach_mem_register(a, &r, 1), -ENOSPC);
	assert_int_equal(stat(a, "fw_iommu_quota_exceeded"), 1);
	assert_int_equal(stat(a, "iommu_entries"), 3);
	r.size = ACCEL_PAGE_SIZE;
	assert_int_equal(accel_attach_mem_register(a, &r, 1), 0);
	assert_int_equal(stat(a, "iommu_entries"), 4);

	/* the device enforces its own table quota even if the caller does not */
	const struct accel_ops *ops = a->dev->ops;
	r.iova = 0x300000;
	r.host = p + 5 * ACCEL_PAGE_SIZE;
	assert_int_equal(ops->mem_register(a->port, &r, 1), -ENOSPC);
	assert_int_equal(stat(a, "iommu_quota_exceeded"), 1);
	/* all or nothing, duplicates refused */
	r.iova = 0x100000;
	assert_int_equal(accel_attach_mem_unregister(a, 0x200000, ACCEL_PAGE_SIZE), 0);
	assert_int_equal(accel_attach_mem_register(a, &r, 1), -EEXIST);
	assert_int_equal(stat(a, "iommu_entries"), 3);
	r.iova = 0x100001;
	assert_int_equal(accel_attach_mem_register(a, &r, 1), -EINVAL);

	fx_close(&f);
	free(p);
}

/* Level 2 TX filter: spoofed source MAC or IP is dropped by the device. */
static void test_spoof_dropped(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t buf[2048], pl[100] = {0};
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *a = vif(&f, 5, 2, MAC_A, 1, 0);
	uint8_t *mem = guest_pages(a, 0x10000, 4, 0);
	struct accel_tx_filter tf = {.flags = ACCEL_TXF_CHECK_MAC | ACCEL_TXF_CHECK_IP,
				     .n_ipv4 = 1,
				     .ipv4 = {IP(10, 0, 0, 5)}};
	memcpy(tf.mac, MAC_A, 6);
	assert_int_equal(accel_attach_tx_filter_set(a, 0, &tf), 0);
	drv_map(a, 0, 5, &d);

	size_t n0 =
		mk_tcp4(mem, MAC_X, MAC_B, IP(10, 0, 0, 5), IP(10, 0, 0, 9), 1, 0x10, pl, 100, 0);
	size_t n1 = mk_tcp4(mem + 4096, MAC_X, MAC_A, IP(10, 0, 0, 66), IP(10, 0, 0, 9), 1, 0x10,
			    pl, 100, 0);
	size_t n2 = mk_tcp4(mem + 8192, MAC_X, MAC_A, IP(10, 0, 0, 5), IP(10, 0, 0, 9), 1, 0x10, pl,
			    100, 0);
	drv_tx(&d, 0x10000, (uint16_t)n0, 0, 1); /* wrong MAC */
	drv_tx(&d, 0x11000, (uint16_t)n1, 0, 2); /* wrong IP */
	drv_tx(&d, 0x12000, (uint16_t)n2, 0, 3); /* good */
	poll_dev(&f);
	assert_int_equal(stat(a, "tx_spoof_dropped"), 2);
	assert_int_equal(stat(a, "tx_dropped"), 2);
	assert_int_equal(stat(a, "tx_packets"), 1);
	assert_true(d.tx[0].flags & ACCEL_DESC_F_ERR);
	assert_true(d.tx[1].flags & ACCEL_DESC_F_ERR);
	assert_false(d.tx[2].flags & ACCEL_DESC_F_ERR);
	assert_int_equal(wire_recv(&f, buf, sizeof(buf)), (ssize_t)n2);
	assert_memory_equal(buf + 6, MAC_A, 6);
	assert_true(wire_recv(&f, buf, sizeof(buf)) < 0);

	drv_unmap(&d);
	fx_close(&f);
}

/* Two VFs: neither can reach the other's memory or queues. */
static void test_vf_isolation(void **state)
{
	struct fx f;
	struct drv da;
	uint8_t buf[256];
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *a = vif(&f, 5, 3, MAC_A, 1, 0);
	struct accel_attach *b = vif(&f, 6, 3, MAC_B, 1, 0);
	guest_pages(a, 0x10000, 1, 1);
	uint8_t *mb = guest_pages(b, 0x80000, 1, 1);
	memset(mb, 0x5a, 4096);
	drv_map(a, 0, 5, &da);

	/* B's IOVA through A's descriptors: A's IOMMU domain has no such entry */
	drv_tx(&da, 0x80000, 64, 0, 1);
	poll_dev(&f);
	assert_int_equal(stat(a, "dma_faults"), 1);
	assert_int_equal(stat(b, "dma_faults"), 0);
	assert_true(wire_recv(&f, buf, sizeof(buf)) < 0);
	/* RX for A into B's IOVA: refused, B's page untouched */
	drv_rx_post(&da, 0x80000, 2048, 1);
	size_t n = mk_eth(buf, MAC_A, MAC_X, -1);
	send(f.wire[1], buf, n, 0);
	poll_dev(&f);
	assert_int_equal(stat(a, "dma_faults"), 2);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(mb[i], 0x5a);

	/* queues: A cannot map B's qp for itself, steer to a queue it lacks, or
	 * claim B's MAC */
	struct accel_qp_map m;
	assert_int_equal(accel_attach_map_qp(b, 0, 5, &m), -EPERM);
	struct accel_rx_filter rf = {.vlan = ACCEL_VLAN_ANY, .qid = 1};
	memcpy(rf.mac, MAC_A, 6);
	assert_int_equal(accel_attach_rx_filter_add(a, &rf), -EINVAL);
	rf.qid = 0;
	memcpy(rf.mac, MAC_B, 6);
	assert_int_equal(accel_attach_rx_filter_add(b, &rf), 0);
	assert_int_equal(accel_attach_rx_filter_add(a, &rf), -EEXIST);
	/* VF count is a limit: the third VF is refused (guest falls back to software) */
	struct accel_vif_config c = {.domid = 9, .level = 3};
	struct accel_attach *x = NULL;
	assert_int_equal(accel_attach_create(f.dev, &c, &x), -ENOSPC);
	accel_attach_destroy(b);
	assert_int_equal(accel_attach_create(f.dev, &c, &x), 0);

	drv_unmap(&da);
	fx_close(&f);
}

/* VF-to-VF unicast is hairpinned on the NIC into the other VF's buffers. */
static void test_vf_hairpin(void **state)
{
	struct fx f;
	struct drv da, db;
	uint8_t buf[256];
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *a = vif(&f, 5, 3, MAC_A, 1, 0);
	struct accel_attach *b = vif(&f, 6, 3, MAC_B, 1, 0);
	uint8_t *ma = guest_pages(a, 0x10000, 1, 0);
	uint8_t *mb = guest_pages(b, 0x10000, 1, 1); /* same IOVA, other domain */
	drv_map(a, 0, 5, &da);
	drv_map(b, 0, 6, &db);
	drv_rx_post(&db, 0x10000, 2048, 42);

	size_t n = mk_eth(ma, MAC_B, MAC_A, -1);
	drv_tx(&da, 0x10000, (uint16_t)n, 0, 1);
	poll_dev(&f);
	const struct accel_desc *c = drv_rx_next(&db);
	assert_non_null(c);
	assert_int_equal(c->id, 42);
	assert_int_equal(c->len, n);
	assert_false(c->flags & ACCEL_DESC_F_ERR);
	assert_memory_equal(mb, ma, n);
	assert_int_equal(stat(a, "hairpin_packets"), 1);
	assert_int_equal(stat(b, "rx_packets"), 1);
	assert_true(wire_recv(&f, buf, sizeof(buf)) < 0);

	/* to an unknown MAC: out to the wire */
	n = mk_eth(ma, MAC_X, MAC_A, -1);
	drv_tx(&da, 0x10000, (uint16_t)n, 0, 2);
	poll_dev(&f);
	assert_int_equal(wire_recv(&f, buf, sizeof(buf)), (ssize_t)n);

	drv_unmap(&da);
	drv_unmap(&db);
	fx_close(&f);
}

/* Level 1: MAC/VLAN filters pick the RX queue; broadcast and misses go to the
 * default queue (dom0's). */
static void test_rx_steering(void **state)
{
	struct fx f;
	struct drv d0, q0, q1;
	uint8_t buf[256];
	const struct accel_desc *c;
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *dom0 = vif(&f, 0, 0, MAC_D0, 1, ACCEL_QP_F_DEFAULT_RX);
	struct accel_attach *g = vif(&f, 5, 1, MAC_A, 2, 0);
	guest_pages(dom0, 0x10000, 1, 1);
	uint8_t *gm = guest_pages(g, 0x10000, 2, 1);
	struct accel_rx_filter rf = {.vlan = ACCEL_VLAN_NONE, .qid = 0};
	memcpy(rf.mac, MAC_A, 6);
	assert_int_equal(accel_attach_rx_filter_add(g, &rf), 0);
	rf.vlan = 10;
	rf.qid = 1;
	assert_int_equal(accel_attach_rx_filter_add(g, &rf), 0);
	drv_map(dom0, 0, 0, &d0);
	drv_map(g, 0, 0, &q0); /* Level 1: dom0 drives the guest's queues */
	drv_map(g, 1, 0, &q1);
	assert_int_equal(accel_attach_map_qp(g, 0, 5, &q0.m), -EPERM); /* not at Level 1 */
	for (int i = 0; i < 4; i++) {
		drv_rx_post(&d0, 0x10000, 2048, (uint32_t)i);
		drv_rx_post(&q0, 0x10000, 2048, (uint32_t)i);
		drv_rx_post(&q1, 0x11000, 2048, (uint32_t)i);
	}

	size_t n = mk_eth(buf, MAC_A, MAC_X, -1);
	send(f.wire[1], buf, n, 0);
	n = mk_eth(buf, MAC_A, MAC_X, 10);
	send(f.wire[1], buf, n, 0);
	n = mk_eth(buf, BCAST, MAC_X, -1);
	send(f.wire[1], buf, n, 0);
	n = mk_eth(buf, MAC_B, MAC_X, -1); /* unicast nobody filters */
	send(f.wire[1], buf, n, 0);
	n = mk_eth(buf, MAC_A, MAC_X, 20); /* A's MAC on a VLAN without a filter */
	send(f.wire[1], buf, n, 0);
	poll_dev(&f);

	c = drv_rx_next(&q0);
	assert_non_null(c);
	assert_int_equal(c->len, 60);
	assert_null(drv_rx_next(&q0));
	c = drv_rx_next(&q1);
	assert_non_null(c);
	assert_int_equal(gm[4096 + 12], 0x81); /* the tagged one, in q1's buffer */
	assert_null(drv_rx_next(&q1));
	for (int i = 0; i < 3; i++)
		assert_non_null(drv_rx_next(&d0));
	assert_null(drv_rx_next(&d0));
	assert_int_equal(dev_stat(f.dev, "rx_filter_miss"), 2);
	assert_int_equal(stat(g, "rx_queue_0_packets"), 1);
	assert_int_equal(stat(g, "rx_queue_1_packets"), 1);
	assert_int_equal(stat(dom0, "rx_packets"), 3);

	/* detached: the guest's frames take the software path (default queue) */
	assert_int_equal(accel_attach_detach(g), 0);
	assert_true(q0.sh->status.idx & ACCEL_QP_S_DETACHED);
	n = mk_eth(buf, MAC_A, MAC_X, -1);
	send(f.wire[1], buf, n, 0);
	poll_dev(&f);
	assert_null(drv_rx_next(&q0));
	assert_non_null(drv_rx_next(&d0));
	assert_int_equal(accel_attach_reattach(g), 0);
	send(f.wire[1], buf, n, 0);
	poll_dev(&f);
	assert_non_null(drv_rx_next(&q0));

	drv_unmap(&d0);
	drv_unmap(&q0);
	drv_unmap(&q1);
	fx_close(&f);
}

/* TSO: one 5000-byte TCP payload with MSS 1000 leaves as 5 valid segments. */
static void test_tso(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t pl[5000], buf[4096];
	(void)state;

	for (int i = 0; i < 5000; i++)
		pl[i] = (uint8_t)(i * 7);
	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *a = vif(&f, 0, 0, MAC_A, 1, ACCEL_QP_F_DEFAULT_RX);
	uint8_t *mem = guest_pages(a, 0x10000, 2, 0);
	drv_map(a, 0, 0, &d);
	size_t n = mk_tcp4(mem, MAC_X, MAC_A, IP(10, 0, 0, 5), IP(10, 0, 0, 9), 1000, 0x18, pl,
			   5000, 1);
	/* two slots: header + 2000 bytes, then the rest */
	drv_tx(&d, 1000 | (uint64_t)ACCEL_GSO_TCPV4 << 16, 0, ACCEL_DESC_F_GSO, 0);
	drv_tx(&d, 0x10000, 2054, ACCEL_DESC_F_MORE | ACCEL_DESC_F_CSUM, 1);
	drv_tx(&d, 0x10000 + 2054, (uint16_t)(n - 2054), ACCEL_DESC_F_CSUM, 2);
	poll_dev(&f);
	assert_int_equal(accel_ring_load(&d.sh->tx_cons), 3);

	uint8_t got[5000];
	size_t off = 0;
	for (int s = 0; s < 5; s++) {
		ssize_t r = wire_recv(&f, buf, sizeof(buf));
		assert_int_equal(r, 54 + 1000);
		assert_true(ref_tcp4_ok(buf, (size_t)r));
		uint32_t seq = (uint32_t)buf[38] << 24 | (uint32_t)buf[39] << 16 |
			       (uint32_t)buf[40] << 8 | buf[41];
		assert_int_equal(seq, 1000 + off);
		assert_int_equal(buf[18] << 8 | buf[19], 0x1234 + s); /* IP id */
		assert_int_equal(buf[47] & 0x08, s == 4 ? 0x08 : 0);  /* PSH on the last */
		memcpy(got + off, buf + 54, 1000);
		off += 1000;
	}
	assert_true(wire_recv(&f, buf, sizeof(buf)) < 0);
	assert_memory_equal(got, pl, 5000);
	assert_int_equal(stat(a, "tso_segments"), 5);

	/* checksum offload without GSO */
	n = mk_tcp4(mem, MAC_X, MAC_A, IP(10, 0, 0, 5), IP(10, 0, 0, 9), 1, 0x10, pl, 300, 1);
	assert_false(ref_tcp4_ok(mem, n));
	drv_tx(&d, 0x10000, (uint16_t)n, ACCEL_DESC_F_CSUM, 3);
	poll_dev(&f);
	assert_int_equal(wire_recv(&f, buf, sizeof(buf)), (ssize_t)n);
	assert_true(ref_tcp4_ok(buf, n));
	assert_int_equal(stat(a, "tx_csum_filled"), 1);

	drv_unmap(&d);
	fx_close(&f);
}

/* LRO: consecutive segments of one flow become one frame with valid checksums;
 * a gap or another flow starts a new one; RX checksum verification flags. */
static void test_lro(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t pl[4000], fr[2048];
	const struct accel_desc *c;
	(void)state;

	for (int i = 0; i < 4000; i++)
		pl[i] = (uint8_t)(i * 13 + 1);
	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *a = vif(&f, 0, 0, MAC_A, 1, ACCEL_QP_F_DEFAULT_RX);
	uint8_t *mem = guest_pages(a, 0x10000, 32, 1);
	assert_int_equal(accel_attach_feature_set_name(a, "large-receive-offload", 1), 0);
	drv_map(a, 0, 0, &d);
	for (int i = 0; i < 8; i++)
		drv_rx_post(&d, 0x10000 + (uint64_t)i * 8192, 8192, (uint32_t)i);

	for (int s = 0; s < 4; s++) {
		size_t n = mk_tcp4(fr, MAC_A, MAC_X, IP(10, 0, 0, 9), IP(10, 0, 0, 5),
				   5000 + (uint32_t)s * 1000, 0x10, pl + s * 1000, 1000, 0);
		send(f.wire[1], fr, n, 0);
	}
	/* out of order: not coalesced with the above */
	size_t n = mk_tcp4(fr, MAC_A, MAC_X, IP(10, 0, 0, 9), IP(10, 0, 0, 5), 20000, 0x10, pl, 100,
			   0);
	send(f.wire[1], fr, n, 0);
	/* a bad checksum is flagged, never coalesced */
	n = mk_tcp4(fr, MAC_A, MAC_X, IP(10, 0, 0, 9), IP(10, 0, 0, 5), 20100, 0x10, pl, 100, 0);
	fr[60] ^= 0xff;
	send(f.wire[1], fr, n, 0);
	poll_dev(&f);

	c = drv_rx_next(&d);
	assert_non_null(c);
	assert_int_equal(c->len, 54 + 4000);
	assert_true(c->flags & ACCEL_DESC_F_LRO);
	assert_true(c->flags & ACCEL_DESC_F_CSUM_OK);
	assert_true(ref_tcp4_ok(mem, 54 + 4000));
	assert_memory_equal(mem + 54, pl, 4000);
	c = drv_rx_next(&d);
	assert_non_null(c);
	assert_int_equal(c->len, 154);
	assert_false(c->flags & ACCEL_DESC_F_LRO);
	assert_true(c->flags & ACCEL_DESC_F_CSUM_OK);
	c = drv_rx_next(&d);
	assert_non_null(c);
	assert_true(c->flags & ACCEL_DESC_F_CSUM_BAD);
	assert_null(drv_rx_next(&d));
	assert_int_equal(stat(a, "lro_coalesced"), 3);
	assert_int_equal(stat(a, "rx_csum_bad"), 1);

	drv_unmap(&d);
	fx_close(&f);
}

/* Token bucket at 1 MB/s over one simulated second (1 ms ticks): within 10%. */
static void test_rate_limit(void **state)
{
	struct fx f;
	struct drv d;
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 0);
	struct accel_attach *a = vif(&f, 5, 2, MAC_A, 1, 0);
	uint8_t *mem = guest_pages(a, 0x10000, 1, 0);
	mk_eth(mem, MAC_X, MAC_A, -1);
	assert_int_equal(accel_attach_rate_limit_set(a, 0, 1000000, 10000), 0);
	drv_map(a, 0, 5, &d);

	uint64_t start_bytes = stat(a, "tx_bytes");
	for (int tick = 0; tick < 1000; tick++) {
		uint32_t cons = accel_ring_load(&d.sh->tx_cons);
		while (d.tx_prod - cons < d.m.ring_len)
			drv_tx(&d, 0x10000, 1000, 0, d.tx_prod);
		poll_dev(&f);
		fake_now += 1000000; /* 1 ms */
	}
	uint64_t sent = stat(a, "tx_bytes") - start_bytes;
	assert_true(sent >= 900000 && sent <= 1100000);
	assert_true(stat(a, "tx_rate_throttled") > 0);
	assert_int_equal(stat(a, "tx_dropped"), 0); /* shaping, not policing */

	drv_unmap(&d);
	fx_close(&f);
}

/* Interrupt moderation: notify after N completions or after T us. */
static void test_irq_moderation(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t buf[128];
	uint64_t v;
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_vif_config c = {.domid = 0,
				     .level = 0,
				     .qp_flags = ACCEL_QP_F_DEFAULT_RX,
				     .irq_frames = 4,
				     .irq_usecs = 50};
	struct accel_attach *a = NULL;
	memcpy(c.mac, MAC_A, 6);
	assert_int_equal(accel_attach_create(f.dev, &c, &a), 0);
	guest_pages(a, 0x10000, 8, 1);
	drv_map(a, 0, 0, &d);
	for (int i = 0; i < 8; i++)
		drv_rx_post(&d, 0x10000 + (uint64_t)i * 4096, 2048, (uint32_t)i);
	size_t n = mk_eth(buf, MAC_A, MAC_X, -1);

	for (int i = 0; i < 3; i++)
		send(f.wire[1], buf, n, 0);
	poll_dev(&f);
	assert_true(read(d.m.irq_fd, &v, 8) < 0); /* 3 < 4, no time passed */
	send(f.wire[1], buf, n, 0);
	poll_dev(&f);
	assert_int_equal(read(d.m.irq_fd, &v, 8), 8);
	send(f.wire[1], buf, n, 0);
	poll_dev(&f);
	assert_true(read(d.m.irq_fd, &v, 8) < 0);
	fake_now += 60000; /* 60 us > 50 us */
	poll_dev(&f);
	accel_device_poll(f.dev, 64);
	assert_int_equal(read(d.m.irq_fd, &v, 8), 8);
	assert_int_equal(stat(a, "irq_raised"), 2);
	/* the driver may mask it */
	accel_ring_store(&d.sh->irq_enable, 0);
	for (int i = 0; i < 4; i++)
		send(f.wire[1], buf, n, 0);
	poll_dev(&f);
	assert_true(read(d.m.irq_fd, &v, 8) < 0);

	drv_unmap(&d);
	fx_close(&f);
}

/* The engine thread moves frames on its own and reports its CPU as hardware. */
static void test_engine_thread(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t buf[128];
	(void)state;

	fx_open(&f, 0, 1);
	struct accel_attach *a = vif(&f, 5, 2, MAC_A, 1, 0);
	uint8_t *mem = guest_pages(a, 0x10000, 1, 1);
	drv_map(a, 0, 5, &d);
	drv_rx_post(&d, 0x10000, 2048, 1);
	uint64_t one = 1;
	assert_int_equal(write(d.m.doorbell_fd, &one, 8), 8);
	size_t n = mk_eth(buf, MAC_A, MAC_X, -1);
	send(f.wire[1], buf, n, 0);
	for (int i = 0; i < 2000 && accel_ring_load(&d.sh->rx_cons) == 0; i++)
		usleep(1000);
	assert_int_equal(accel_ring_load(&d.sh->rx_cons), 1);
	assert_memory_equal(mem, buf, n);
	/* nonzero but small: the engine sleeps when idle */
	assert_true(stat(a, "hw_cpu_ns") > 0);
	assert_int_equal(accel_device_poll(f.dev, 1) >= 0, 1);

	drv_unmap(&d);
	fx_close(&f);
}

/* ethtool renderings and feature names. */
static void test_ethtool_format(void **state)
{
	struct fx f;
	char buf[8192];
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 0);
	struct accel_attach *a = vif(&f, 5, 2, MAC_A, 1, 0);
	int n = accel_format_stats(a, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	assert_non_null(strstr(buf, "NIC statistics:\n     rx_packets: 0\n     tx_packets: 0\n"));
	assert_non_null(strstr(buf, "     tx_spoof_dropped: 0\n"));
	assert_non_null(strstr(buf, "     hw_cpu_ns: "));
	n = accel_format_features(a, "vif5.0", buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "Features for vif5.0:\nrx-checksumming: on\n"));
	assert_non_null(strstr(buf, "large-receive-offload: off\n"));
	assert_int_equal(accel_attach_feature_set_name(a, "tcp-segmentation-offload", 0), 0);
	accel_format_features(a, "vif5.0", buf, sizeof(buf));
	assert_non_null(strstr(buf, "tcp-segmentation-offload: off\n"));
	assert_int_equal(accel_attach_feature_set_name(a, "no-such-feature", 1), -ENOENT);
	/* truncation is reported like snprintf */
	n = accel_format_stats(a, buf, 10);
	assert_true(n > 10);
	assert_int_equal(strlen(buf), 9);
	fx_close(&f);
}

/* A malicious driver's impossible producer index is counted, not trusted. */
/*
 * A hostile Level-2 guest posts a GSO metadata slot with MSS 0 and a large
 * length at a registered page, then 64 KiB of data slots: the metadata slot is
 * never copied, so the device's 64 KiB TX buffer cannot overflow (ASan checks).
 */
static void test_gso_slot_mss0(void **state)
{
	struct fx f;
	struct drv d;
	uint8_t buf[4096];
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 1);
	struct accel_attach *a = vif(&f, 5, 2, MAC_A, 1, 0);
	uint8_t *mem = guest_pages(a, 0x10000, 16, 0);
	drv_map(a, 0, 5, &d);
	mk_eth(mem, MAC_X, MAC_A, -1);
	/* GSO slot: mss 0, len 60000, iova pointing into registered memory */
	drv_tx(&d, 0x10000, 60000, ACCEL_DESC_F_GSO, 0);
	for (uint32_t i = 0; i < 16; i++) /* 16 x 4095 = 65520 bytes of data */
		drv_tx(&d, 0x10000 + (uint64_t)i * 4096, 4095, i < 15 ? ACCEL_DESC_F_MORE : 0,
		       i + 1);
	poll_dev(&f);
	poll_dev(&f);
	assert_int_equal(accel_ring_load(&d.sh->tx_cons), 17);
	/* the packet was handled (sent or dropped) and counted; no overflow (ASan) */
	assert_int_equal(stat(a, "tx_packets") + stat(a, "tx_dropped"), 1);
	while (wire_recv(&f, buf, sizeof(buf)) >= 0)
		;
	drv_unmap(&d);
	fx_close(&f);
}

static void test_ring_garbage(void **state)
{
	struct fx f;
	struct drv d;
	(void)state;

	fx_open(&f, ACCEL_OPEN_F_NO_THREAD, 0);
	struct accel_attach *a = vif(&f, 5, 2, MAC_A, 1, 0);
	drv_map(a, 0, 5, &d);
	accel_ring_store(&d.sh->tx_prod, 100000);
	accel_ring_store(&d.sh->rx_prod, 100000);
	poll_dev(&f);
	assert_int_equal(stat(a, "ring_errors"), 1);
	assert_true(d.sh->status.idx & ACCEL_QP_S_RING_ERR);
	assert_int_equal(accel_ring_load(&d.sh->tx_cons), 0);
	/* random descriptors: lengths, IOVAs, flags */
	accel_ring_store(&d.sh->tx_prod, 0);
	srand(1);
	for (int i = 0; i < 64; i++)
		drv_tx(&d, (uint64_t)rand() << 12, (uint16_t)rand(), (uint16_t)rand(), (uint32_t)i);
	poll_dev(&f);
	poll_dev(&f);
	assert_true(stat(a, "tx_dropped") > 0);
	drv_unmap(&d);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dma_fault_unregistered),
		cmocka_unit_test(test_registration_quota),
		cmocka_unit_test(test_spoof_dropped),
		cmocka_unit_test(test_vf_isolation),
		cmocka_unit_test(test_vf_hairpin),
		cmocka_unit_test(test_rx_steering),
		cmocka_unit_test(test_tso),
		cmocka_unit_test(test_gso_slot_mss0),
		cmocka_unit_test(test_lro),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_irq_moderation),
		cmocka_unit_test(test_engine_thread),
		cmocka_unit_test(test_ethtool_format),
		cmocka_unit_test(test_ring_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
