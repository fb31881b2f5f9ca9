/* SPDX-License-Identifier: MIT */
/*
 * test_accel_sdk.c - the plugin SDK (pvnet/accel_sdk.h) on its own, with a
 * minimal device defined here: class defaults, the hooks and when they run,
 * counters in the class's order, the TX burst verdicts, RX delivery into posted
 * buffers, unicast classification, the rate-limited data-path log.
 * The driver's side is played by writing the ring memory directly.
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

#include <pvnet/accel_sdk.h>

struct accel_qp {
	struct accel_sdk_qp sdk;
	int fini_seen;
};

struct accel_port {
	struct accel_sdk_port sdk;
	struct {
		uint64_t own_counter;
	} st;
};

struct accel_dev {
	struct accel_sdk_dev sdk;
	int port_inits, port_finis, qp_finis, filters_added, filters_removed;
	int refuse_level1;
	enum accel_sdk_tx_verdict verdicts[8];
	int n_xmit;
	int log_lines;
	char last_log[256];
};
ACCEL_SDK_LAYOUT_CHECK();

static const uint8_t MAC_A[6] = {0x00, 0x16, 0x3e, 0, 0, 0x0a};
static const uint8_t MAC_B[6] = {0x00, 0x16, 0x3e, 0, 0, 0x0b};

static uint64_t fake_now = 1000000000ull;
static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void log_cb(void *ctx, enum accel_log_level lvl, const char *msg)
{
	struct accel_dev *dev = ctx;

	(void)lvl;
	dev->log_lines++;
	snprintf(dev->last_log, sizeof(dev->last_log), "%s", msg);
}

static int t_port_init(struct accel_port *port, const struct accel_port_args *args)
{
	struct accel_dev *dev = port->sdk.dev;

	(void)args;
	if (dev->refuse_level1 && port->sdk.level == 1)
		return -ENOSPC;
	dev->port_inits++;
	return 0;
}

static void t_port_fini(struct accel_port *port)
{
	/* filters and queue pairs are gone before */
	assert_int_equal(port->sdk.n_filters, 0);
	assert_int_equal(port->sdk.n_qps, 0);
	port->sdk.dev->port_finis++;
}

static void t_qp_fini(struct accel_qp *qp)
{
	ACCEL_SDK_PORT(qp->sdk.port)->dev->qp_finis++;
}

static void t_filter_added(struct accel_port *port, struct accel_sdk_filter *f)
{
	assert_null(f->hw);
	f->hw = port; /* any handle */
	port->sdk.dev->filters_added++;
}

static void t_filter_removed(struct accel_port *port, struct accel_sdk_filter *f)
{
	assert_ptr_equal(f->hw, port);
	port->sdk.dev->filters_removed++;
}

static int t_dev_stats(struct accel_dev *dev, struct accel_stat *out, uint32_t max, int *n)
{
	accel_sdk_stat_put(out, max, n, "dev_counter", (uint64_t)dev->port_inits);
	return 0;
}

static enum accel_sdk_tx_verdict t_xmit(struct accel_qp *qp, const struct accel_sdk_tx_pkt *pkt)
{
	struct accel_dev *dev = ACCEL_SDK_PORT(qp->sdk.port)->dev;
	uint8_t buf[ACCEL_PKT_MAX];

	assert_false(pkt->bad);
	if (accel_sdk_tx_gather(qp, pkt, buf))
		return ACCEL_SDK_TX_DROP;
	return dev->verdicts[dev->n_xmit++ % 8];
}

static const struct accel_sdk_stat_desc t_stats[] = {
	ACCEL_SDK_PORT_STAT("rx_packets", sdk.st.rx_packets),
	ACCEL_SDK_PORT_STAT("own_counter", st.own_counter),
	ACCEL_SDK_PORT_STAT("tx_dropped", sdk.st.tx_dropped),
};

static const struct accel_sdk_class t_class = {
	.qp_mem_name = "sdk-test-qp",
	.port_size = sizeof(struct accel_port),
	.qp_size = sizeof(struct accel_qp),
	.levels = ACCEL_LEVEL_BIT(0) | ACCEL_LEVEL_BIT(1) | ACCEL_LEVEL_BIT(2),
	.max_ports = 4,
	.max_filters = 2,
	.port_stats = t_stats,
	.n_port_stats = sizeof(t_stats) / sizeof(t_stats[0]),
	.port_init = t_port_init,
	.port_fini = t_port_fini,
	.qp_fini = t_qp_fini,
	.filter_added = t_filter_added,
	.filter_removed = t_filter_removed,
	.dev_stats = t_dev_stats,
};

static struct accel_dev *dev_open(void)
{
	struct accel_dev *dev = calloc(1, sizeof(*dev));
	struct accel_host host = {.size = sizeof(host), .now_ns = fake_clock, .log = log_cb};

	assert_non_null(dev);
	host.ctx = dev;
	accel_sdk_dev_init(dev, &t_class, &host, NULL);
	dev->sdk.features = ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM) | ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM);
	dev->sdk.features_default = ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM);
	return dev;
}

static void dev_close(struct accel_dev *dev)
{
	accel_sdk_dev_free_ports(dev);
	accel_sdk_dev_fini(dev);
	free(dev);
}

static struct accel_port *port_new(struct accel_dev *dev, uint32_t domid, uint32_t level,
				   const uint8_t *mac)
{
	struct accel_port_args pa = {.domid = domid, .level = level, .iommu_quota = 16};
	struct accel_port *port = NULL;

	memcpy(pa.mac, mac, 6);
	assert_int_equal(accel_sdk_port_alloc(dev, &pa, &port), 0);
	return port;
}

static struct accel_qp *qp_new(struct accel_port *port, uint32_t flags)
{
	struct accel_qp_args qa = {.ring_len = 16, .flags = flags};
	struct accel_qp *qp = NULL;

	assert_int_equal(accel_sdk_qp_alloc(port, &qa, &qp), 0);
	return qp;
}

/* n zeroed pages at iova, registered; freed by the caller after the device. */
static uint8_t *pages(struct accel_port *port, uint64_t iova, uint32_t n, int writable)
{
	uint8_t *p = aligned_alloc(ACCEL_PAGE_SIZE, (size_t)n * ACCEL_PAGE_SIZE);
	struct accel_mem_region r = {.iova = iova,
				     .host = p,
				     .size = (uint64_t)n * ACCEL_PAGE_SIZE,
				     .flags = writable ? ACCEL_MEM_F_WRITABLE : 0};

	assert_non_null(p);
	memset(p, 0, (size_t)n * ACCEL_PAGE_SIZE);
	assert_int_equal(accel_sdk_mem_register(port, &r, 1), 0);
	return p;
}

/* The driver's side: one TX slot at the producer index. */
static void drv_tx(struct accel_qp *qp, uint32_t *prod, uint64_t iova, uint16_t len, uint16_t flags)
{
	qp->sdk.tx[*prod & (qp->sdk.ring_len - 1)] =
		(struct accel_desc){.iova = iova, .len = len, .flags = flags, .id = *prod};
	(*prod)++;
	accel_ring_store(&qp->sdk.sh->tx_prod, *prod);
}

static void drv_rx_post(struct accel_qp *qp, uint32_t *prod, uint64_t iova, uint16_t len)
{
	qp->sdk.rx[*prod & (qp->sdk.ring_len - 1)] =
		(struct accel_desc){.iova = iova, .len = len, .id = *prod};
	(*prod)++;
	accel_ring_store(&qp->sdk.sh->rx_prod, *prod);
}

static uint64_t stat_of(const struct accel_stat *st, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(st[i].name, name) == 0)
			return st[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

/* ---- tests ---- */

static void test_class_defaults(void **state)
{
	struct accel_dev *dev = dev_open();

	(void)state;
	assert_int_equal(dev->sdk.cls.max_ports, 4);
	assert_int_equal(dev->sdk.cls.max_qps, ACCEL_SDK_MAX_QPS);
	assert_int_equal(dev->sdk.cls.max_filters, 2);
	assert_int_equal(dev->sdk.cls.max_ring, ACCEL_SDK_MAX_RING);
	assert_int_equal(dev->sdk.cls.default_quota, ACCEL_SDK_DEFAULT_QUOTA);
	assert_int_equal(dev->sdk.cls.burst, ACCEL_SDK_DEFAULT_BURST);
	assert_int_equal(accel_sdk_poll(dev, 0), -EOPNOTSUPP); /* no engine_pass */
	dev_close(dev);
}

static void test_ports_and_hooks(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port_args pa = {.level = 3};
	struct accel_port *p0, *p1, *p = NULL;
	struct accel_qp *q0, *q1, *q2;
	struct accel_rx_filter f = {.vlan = ACCEL_VLAN_ANY, .qid = 1};
	uint64_t sup, act;

	(void)state;
	assert_int_equal(accel_sdk_port_alloc(dev, &pa, &p), -EOPNOTSUPP); /* not in levels */
	pa.level = 4;
	assert_int_equal(accel_sdk_port_alloc(dev, &pa, &p), -EINVAL);
	pa.level = 1;
	dev->refuse_level1 = 1;
	assert_int_equal(accel_sdk_port_alloc(dev, &pa, &p), -ENOSPC); /* the hook said no */
	assert_null(dev->sdk.ports[0]);
	dev->refuse_level1 = 0;
	p0 = port_new(dev, 1, 1, MAC_A);
	p1 = port_new(dev, 2, 0, MAC_B);
	assert_int_equal(dev->port_inits, 2);
	for (int i = 0; i < 2; i++)
		(void)port_new(dev, 10 + (uint32_t)i, 0, MAC_B);
	assert_int_equal(accel_sdk_port_alloc(dev, &pa, &p), -ENOSPC); /* max_ports 4 */
	accel_sdk_port_free(dev->sdk.ports[3]);
	accel_sdk_port_free(dev->sdk.ports[2]);
	assert_int_equal(dev->port_finis, 2);
	assert_int_equal(dev->sdk.ports_end, 2); /* loops over ports stop at the last one used */

	/* queue pairs: Level 0 has one; one default-RX per device */
	q0 = qp_new(p0, ACCEL_QP_F_DEFAULT_RX);
	q1 = qp_new(p0, 0);
	q2 = qp_new(p0, 0);
	assert_ptr_equal(dev->sdk.default_qp, q0);
	(void)qp_new(p1, 0);
	{
		struct accel_qp_args qa = {.ring_len = 16, .flags = ACCEL_QP_F_DEFAULT_RX};
		struct accel_qp *x = NULL;
		assert_int_equal(accel_sdk_qp_alloc(p1, &qa, &x), -ENOSPC);
		qa.ring_len = 12;
		assert_int_equal(accel_sdk_qp_alloc(p0, &qa, &x), -EINVAL);
		qa.ring_len = 16;
		assert_int_equal(accel_sdk_qp_alloc(p0, &qa, &x), -EBUSY);
	}
	/* filters: hw hooks on add, on removal by qp_free and by rx_filter_del */
	memcpy(f.mac, MAC_A, 6);
	assert_int_equal(accel_sdk_rx_filter_add(p0, &f), 0);
	assert_int_equal(accel_sdk_rx_filter_add(p0, &f), -EEXIST);
	f.mac[5] = 0x42;
	f.qid = 2;
	assert_int_equal(accel_sdk_rx_filter_add(p0, &f), 0);
	f.mac[5] = 0x43;
	assert_int_equal(accel_sdk_rx_filter_add(p0, &f), -ENOSPC);     /* max_filters 2 */
	assert_int_equal(accel_sdk_rx_filter_add(p1, &f), -EOPNOTSUPP); /* Level 0 */
	assert_int_equal(dev->filters_added, 2);
	assert_int_equal(dev->qp_finis, 2); /* the refused allocations */
	accel_sdk_qp_free(q1);              /* its filter goes, q2's filter now names qid 1 */
	assert_int_equal(dev->filters_removed, 1);
	assert_int_equal(dev->qp_finis, 3);
	assert_int_equal(p0->sdk.n_filters, 1);
	assert_int_equal(p0->sdk.filters[0].f.qid, 1);
	assert_int_equal(q2->sdk.idx, 1);
	f.mac[5] = 0x42;
	f.vlan = ACCEL_VLAN_ANY;
	assert_int_equal(accel_sdk_rx_filter_del(p0, &f), 0);
	assert_int_equal(accel_sdk_rx_filter_del(p0, &f), -ENOENT);
	assert_int_equal(dev->filters_removed, 2);

	/* features: supported is the device's, a new port gets the default */
	assert_int_equal(accel_sdk_features_get(p0, &sup, &act), 0);
	assert_int_equal(act, ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM));
	assert_int_equal(accel_sdk_features_set(p0, ACCEL_FEAT_BIT(ACCEL_FEAT_TSO)), -EINVAL);
	assert_int_equal(accel_sdk_features_set(p0, sup), 0);
	/* detach marks every qp */
	assert_int_equal(accel_sdk_detach(p0), 0);
	assert_true(q0->sdk.sh->status.idx & ACCEL_QP_S_DETACHED);
	assert_int_equal(accel_sdk_attach(p0), 0);
	assert_false(q2->sdk.sh->status.idx & ACCEL_QP_S_DETACHED);
	dev_close(dev);
}

static void test_qp_map(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p1 = port_new(dev, 5, 1, MAC_A), *p2 = port_new(dev, 6, 2, MAC_B);
	struct accel_qp *q1 = qp_new(p1, 0), *q2 = qp_new(p2, 0);
	struct accel_qp_map m;

	(void)state;
	assert_int_equal(accel_sdk_qp_map(q1, 5, &m), -EPERM); /* Level 1: dom0 only */
	assert_int_equal(accel_sdk_qp_map(q2, 5, &m), -EPERM); /* not its domain */
	assert_int_equal(accel_sdk_qp_map(q2, 6, &m), 0);
	assert_int_equal(m.ring_len, 16);
	assert_int_equal(m.tx_ring_off, ACCEL_PAGE_SIZE);
	assert_int_equal(m.rx_ring_off, ACCEL_PAGE_SIZE + 16 * sizeof(struct accel_desc));
	close(m.mem_fd);
	close(m.doorbell_fd);
	close(m.irq_fd);
	dev_close(dev);
}

static void test_stats_order(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p = port_new(dev, 1, 1, MAC_A);
	struct accel_stat st[16];
	int n;

	(void)state;
	(void)qp_new(p, 0);
	p->sdk.st.rx_packets = 7;
	p->st.own_counter = 8;
	p->sdk.st.tx_dropped = 9;
	n = accel_sdk_stats_get(dev, p, st, 16);
	assert_int_equal(n, 3 + 1 + 2 + 1);
	assert_string_equal(st[0].name, "rx_packets");
	assert_int_equal(st[0].value, 7);
	assert_string_equal(st[1].name, "own_counter");
	assert_int_equal(st[1].value, 8);
	assert_string_equal(st[2].name, "tx_dropped");
	assert_int_equal(st[2].value, 9);
	assert_string_equal(st[3].name, "iommu_entries");
	assert_string_equal(st[4].name, "rx_queue_0_packets");
	assert_string_equal(st[6].name, "hw_cpu_ns");
	/* a short array: counted all the same */
	assert_int_equal(accel_sdk_stats_get(dev, p, st, 2), n);
	n = accel_sdk_stats_get(dev, NULL, st, 16);
	assert_int_equal(n, 2);
	assert_string_equal(st[0].name, "dev_counter");
	assert_int_equal(st[0].value, 1);
	dev_close(dev);
}

static void test_iommu_quota(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p = port_new(dev, 1, 1, MAC_A);
	uint8_t *mem = pages(p, 0x10000, 8, 1);
	struct accel_mem_region r = {.iova = 0x10000, .host = mem, .size = ACCEL_PAGE_SIZE};
	uint8_t *big = aligned_alloc(ACCEL_PAGE_SIZE, 9 * ACCEL_PAGE_SIZE);
	struct accel_mem_region rb = {.iova = 0x100000, .host = big, .size = 9 * ACCEL_PAGE_SIZE};
	struct accel_stat st[16];

	(void)state;
	assert_int_equal(accel_sdk_mem_register(p, &r, 1), -EEXIST);  /* registered already */
	assert_int_equal(accel_sdk_mem_register(p, &rb, 1), -ENOSPC); /* quota 16 */
	assert_int_equal(p->sdk.st.iommu_quota_exceeded, 1);
	assert_int_equal(accel_sdk_mem_unregister(p, 0x10000, 8 * ACCEL_PAGE_SIZE), 0);
	assert_int_equal(accel_sdk_mem_register(p, &rb, 1), 0);
	assert_int_equal(stat_of(st, accel_sdk_stats_get(dev, p, st, 16), "iommu_entries"), 9);
	dev_close(dev);
	free(mem);
	free(big);
}

static void test_tx_burst(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p = port_new(dev, 1, 1, MAC_A);
	struct accel_qp *q = qp_new(p, 0);
	uint8_t *mem = pages(p, 0x10000, 2, 0);
	uint32_t prod = 0;

	(void)state;
	dev->verdicts[0] = ACCEL_SDK_TX_SENT;
	dev->verdicts[1] = ACCEL_SDK_TX_DROP;
	dev->verdicts[2] = ACCEL_SDK_TX_STOP;
	dev->verdicts[3] = ACCEL_SDK_TX_SENT;
	drv_tx(q, &prod, 0x10000, 60, 0);
	drv_tx(q, &prod, 0x10100, 10, 0); /* too short: dropped, xmit not called */
	drv_tx(q, &prod, 0x10200, 30, ACCEL_DESC_F_MORE);
	drv_tx(q, &prod, 0x10300, 30, 0);                 /* one packet of two slots */
	drv_tx(q, &prod, 0x10400, 60, 0);                 /* xmit: STOP */
	drv_tx(q, &prod, 0x10500, 60, ACCEL_DESC_F_MORE); /* not finished */
	assert_int_equal(accel_sdk_tx_burst(q, 32, t_xmit), 3);
	assert_int_equal(dev->n_xmit, 3);
	assert_int_equal(accel_ring_load(&q->sdk.sh->tx_cons), 4);
	assert_int_equal(q->sdk.tx[0].flags, ACCEL_DESC_F_DONE);
	assert_int_equal(q->sdk.tx[1].flags, ACCEL_DESC_F_DONE | ACCEL_DESC_F_ERR);
	assert_int_equal(q->sdk.tx[2].flags,
			 ACCEL_DESC_F_MORE | ACCEL_DESC_F_DONE | ACCEL_DESC_F_ERR);
	assert_int_equal(p->sdk.st.tx_packets, 1);
	assert_int_equal(p->sdk.st.tx_bytes, 60);
	assert_int_equal(p->sdk.st.tx_dropped, 2);
	assert_int_equal(q->sdk.irq_pending, 4);
	/* the stopped packet goes next time; the unfinished one waits */
	assert_int_equal(accel_sdk_tx_burst(q, 32, t_xmit), 1);
	assert_int_equal(accel_ring_load(&q->sdk.sh->tx_cons), 5);
	/* the driver rewrites the unfinished slot 5 with an unregistered page: a DMA
	 * fault (xmit drops it), then a good packet */
	prod = 5;
	drv_tx(q, &prod, 0x900000, 60, 0);
	drv_tx(q, &prod, 0x10000, 60, 0);
	assert_int_equal(accel_sdk_tx_burst(q, 32, t_xmit), 2);
	assert_int_equal(p->sdk.st.dma_faults, 1);
	/* an impossible producer: ring error, counted once */
	accel_ring_store(&q->sdk.sh->tx_prod, prod + 100);
	assert_int_equal(accel_sdk_tx_burst(q, 32, t_xmit), 0);
	assert_int_equal(accel_sdk_tx_burst(q, 32, t_xmit), 0);
	assert_true(q->sdk.sh->status.idx & ACCEL_QP_S_RING_ERR);
	assert_int_equal(p->sdk.st.ring_errors, 1);
	dev_close(dev);
	free(mem);
}

static void test_tx_read_gso(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p = port_new(dev, 1, 1, MAC_A);
	struct accel_qp *q = qp_new(p, 0);
	struct accel_sdk_tx_pkt pkt;
	uint32_t prod = 0;

	(void)state;
	drv_tx(q, &prod, 1448, 0xffff, ACCEL_DESC_F_GSO); /* metadata: mss 1448 */
	drv_tx(q, &prod, 0x10000, 100, ACCEL_DESC_F_MORE | ACCEL_DESC_F_CSUM);
	drv_tx(q, &prod, 0x20000, 100, 0);
	assert_int_equal(accel_sdk_tx_read(q, 0, prod, &pkt), 0);
	assert_int_equal(pkt.n, 3);
	assert_int_equal(pkt.first, 1);
	assert_int_equal(pkt.mss, 1448);
	assert_int_equal(pkt.total, 200); /* the metadata slot's len is not data */
	assert_true(pkt.csum);
	assert_false(pkt.bad);
	assert_int_equal(accel_sdk_tx_read(q, 0, 2, &pkt), -EAGAIN);
	dev_close(dev);
}

static void test_rx_deliver(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p = port_new(dev, 1, 1, MAC_A);
	struct accel_qp *q = qp_new(p, 0);
	uint8_t *mem = pages(p, 0x10000, 2, 1), frame[3000];
	uint32_t prod = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	assert_int_equal(accel_sdk_rx_deliver(q, frame, 3000, ACCEL_DESC_F_CSUM_OK), -ENOBUFS);
	assert_int_equal(p->sdk.st.rx_no_buffer, 1);
	drv_rx_post(q, &prod, 0x10000, 2048);
	drv_rx_post(q, &prod, 0x10800, 2048);
	assert_int_equal(accel_sdk_rx_deliver(q, frame, 3000, ACCEL_DESC_F_CSUM_OK), 0);
	assert_int_equal(accel_ring_load(&q->sdk.sh->rx_cons), 2);
	assert_int_equal(q->sdk.rx[0].flags,
			 ACCEL_DESC_F_DONE | ACCEL_DESC_F_MORE | ACCEL_DESC_F_CSUM_OK);
	assert_int_equal(q->sdk.rx[0].len, 2048);
	assert_int_equal(q->sdk.rx[1].flags, ACCEL_DESC_F_DONE);
	assert_int_equal(q->sdk.rx[1].len, 3000 - 2048);
	assert_memory_equal(mem, frame, 3000);
	assert_int_equal(p->sdk.st.rx_packets, 1);
	assert_int_equal(p->sdk.st.rx_bytes, 3000);
	/* a buffer outside the IOMMU: the slot completes with ERR */
	drv_rx_post(q, &prod, 0x900000, 2048);
	assert_int_equal(accel_sdk_rx_deliver(q, frame, 60, 0), -EFAULT);
	assert_int_equal(q->sdk.rx[2].flags, ACCEL_DESC_F_DONE | ACCEL_DESC_F_ERR);
	assert_int_equal(p->sdk.st.dma_faults, 1);
	assert_int_equal(p->sdk.st.rx_dropped, 2);
	/* interrupt: moderation off fires at once when the driver enabled it */
	accel_sdk_irq_check_all(dev, fake_now);
	assert_int_equal(p->sdk.st.irq_raised, 1);
	dev_close(dev);
	free(mem);
}

static void test_lookup_ucast(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p1 = port_new(dev, 1, 1, MAC_A), *p2 = port_new(dev, 2, 2, MAC_B);
	struct accel_qp *q1 = qp_new(p1, 0), *q2 = qp_new(p2, 0);
	struct accel_rx_filter f = {.vlan = 5, .qid = 0};
	const uint8_t other[6] = {0x02, 0, 0, 0, 0, 1};

	(void)state;
	memcpy(f.mac, other, 6);
	assert_int_equal(accel_sdk_rx_filter_add(p1, &f), 0);
	assert_ptr_equal(accel_sdk_lookup_ucast(dev, other, 5, 1, NULL), q1);
	assert_null(accel_sdk_lookup_ucast(dev, other, 6, 1, NULL));
	assert_null(accel_sdk_lookup_ucast(dev, other, 5, 2, NULL));          /* min_level */
	assert_ptr_equal(accel_sdk_lookup_ucast(dev, MAC_B, 0, 1, NULL), q2); /* own MAC, L2 */
	assert_null(accel_sdk_lookup_ucast(dev, MAC_B, 0, 1, p2));
	assert_null(accel_sdk_lookup_ucast(dev, MAC_A, 0, 1, NULL)); /* own MAC at L1: no */
	accel_sdk_detach(p1);
	assert_null(accel_sdk_lookup_ucast(dev, other, 5, 1, NULL));
	dev_close(dev);
}

static void test_log_ratelimit(void **state)
{
	struct accel_dev *dev = dev_open();
	struct accel_port *p = port_new(dev, 1, 1, MAC_A);
	uint8_t b[4];

	(void)state;
	dev->log_lines = 0;
	for (int i = 0; i < 15; i++)
		assert_int_equal(accel_sdk_dma(p, 0x900000, b, 4, 0), -EFAULT);
	assert_int_equal(p->sdk.st.dma_faults, 15);
	assert_int_equal(dev->log_lines, ACCEL_SDK_LOG_RL_LINES);
	fake_now += ACCEL_SDK_LOG_RL_NS;
	assert_int_equal(accel_sdk_dma(p, 0x900000, b, 4, 1), -EFAULT);
	assert_int_equal(dev->log_lines, ACCEL_SDK_LOG_RL_LINES + 1);
	assert_non_null(strstr(dev->last_log, "DMA fault write"));
	assert_non_null(strstr(dev->last_log, "(5 similar lines suppressed)"));
	dev_close(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_defaults), cmocka_unit_test(test_ports_and_hooks),
		cmocka_unit_test(test_qp_map),         cmocka_unit_test(test_stats_order),
		cmocka_unit_test(test_iommu_quota),    cmocka_unit_test(test_tx_burst),
		cmocka_unit_test(test_tx_read_gso),    cmocka_unit_test(test_rx_deliver),
		cmocka_unit_test(test_lookup_ucast),   cmocka_unit_test(test_log_ratelimit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
