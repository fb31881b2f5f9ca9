/*
 * Unit tests for netback's RX share of the shared packet pools (netback/rx.c): a vif
 * whose guest posts no RX buffers holds at most rx-share-pct of any one pool (an
 * uplink's buffers, or one sender's TX ring slots); frames beyond it are dropped as
 * rx_share (the vif's counter and the switch port's), another domain still gets its
 * own share of the same pool, and what a queue releases is given back.
 *
 * The vifs are real switch ports (nb_vif_port_ops on a vsw bridge) with real RX
 * queues over a shared ring page that no guest ever fills with requests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>
#include <pvnet/quota.h>

#include "../../netback/nb_private.h"

#define POOL 256u

struct tvif {
	struct nb_vif vif;
	struct nb_queue q;
	struct vsw_port *port;
	void *ring;
};

struct fx {
	struct nb nb;
	struct vsw_bridge *br;
	struct pvnet_pkt_pool *uplink, *vxlan, *grants;
	struct tvif a, b;
};

static void tvif_init(struct fx *f, struct tvif *t, domid_t domid, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->vif.nb = &f->nb;
	t->vif.domid = domid;
	snprintf(t->vif.name, sizeof(t->vif.name), "%s", name);
	t->vif.nr_queues = 1;
	t->vif.queues = &t->q;
	t->vif.share = nb_share_get(&f->nb, domid);
	assert_non_null(t->vif.share);
	t->q.vif = &t->vif;
	t->q.rx_notify_fd = -1;
	assert_int_equal(nb_rxq_init(&t->q), 0);
	t->ring = aligned_alloc(4096, 4096);
	assert_non_null(t->ring);
	SHARED_RING_INIT((struct netif_rx_sring *)t->ring);
	BACK_RING_INIT(&t->q.rx, (struct netif_rx_sring *)t->ring, 4096);
	assert_int_equal(vsw_port_add(f->br, name, &nb_vif_port_ops, &t->vif, VSW_PORT_F_ALL,
				      &t->port),
			 0);
	t->vif.port = t->port;
	t->vif.connected = true;
}

static void tvif_fini(struct fx *f, struct tvif *t)
{
	nb_rx_purge(&t->q);
	vsw_port_del(f->br, t->port);
	pthread_mutex_destroy(&t->q.rx_lock);
	nb_rxq_fini(&t->q);
	nb_share_put(&f->nb, t->vif.share);
	free(t->ring);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pvnet_log_set_level(PVNET_LOG_WARN);
	f->nb.rx_share_pct = NB_RX_SHARE_PCT_DEFAULT;
	assert_int_equal(vsw_create("brs", NULL, &f->br), 0);
	assert_int_equal(pvnet_pkt_pool_create(POOL, 2048, &f->uplink), 0);
	assert_int_equal(pvnet_pkt_pool_create(POOL, 2048, &f->vxlan), 0);
	assert_int_equal(pvnet_pkt_pool_create(4096, 0, &f->grants), 0);
	tvif_init(f, &f->a, 5, "vif5.0");
	tvif_init(f, &f->b, 6, "vif6.0");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tvif_fini(f, &f->a);
	tvif_fini(f, &f->b);
	assert_null(f->nb.shares);
	vsw_destroy(f->br);
	assert_int_equal(pvnet_pkt_pool_avail(f->uplink), POOL);
	assert_int_equal(pvnet_pkt_pool_avail(f->grants), 4096);
	pvnet_pkt_pool_destroy(f->uplink);
	pvnet_pkt_pool_destroy(f->vxlan);
	pvnet_pkt_pool_destroy(f->grants);
	free(f);
	return 0;
}

/* Sends n frames toward t, in bursts, as the switch would: LOCAL frames from `pool`,
 * or, with src_dom != 0, GRANT-backed frames from that sender (pool `grants`).
 * Packets the pool cannot give are not sent. Returns how many were offered. */
static unsigned offer(struct tvif *t, struct pvnet_pkt_pool *pool, domid_t src_dom, unsigned n)
{
	static const uint8_t frame[60] = {0x00, 0x16, 0x3e, 0, 0, 1,    0x02,
					  0,    0,    0,    0, 9, 0x08, 0x00};
	unsigned sent = 0;

	while (sent < n) {
		struct pvnet_pkt_batch b = {0};
		while (b.count < PVNET_BATCH_MAX && sent + b.count < n) {
			struct pvnet_pkt *p = pvnet_pkt_alloc(pool);
			if (!p)
				break;
			if (src_dom) {
				memcpy(p->data, frame, sizeof(frame));
				p->len = 1514;
				p->head_size = sizeof(frame);
				p->src_kind = PVNET_PKT_SRC_GRANT;
				p->src.domid = src_dom;
				p->src.nr_frags = 1;
				p->src.frags[0] = (struct pvnet_pkt_frag){.gref = 8, .size = 1514};
				p->src.tail_off = sizeof(frame);
			} else {
				assert_int_equal(pvnet_pkt_set_local(p, frame, sizeof(frame)), 0);
			}
			b.pkts[b.count++] = p;
		}
		if (!b.count)
			break;
		/* the vif port accepts the whole burst and counts its own drops */
		assert_int_equal(nb_vif_port_ops.send(t->port, &b), (int)b.count);
		sent += b.count;
	}
	return sent;
}

static uint64_t share_drops(struct tvif *t)
{
	struct vsw_port_stats st;

	vsw_port_get_stats(t->port, &st);
	assert_int_equal(st.drops[VSW_DROP_RX_SHARE], t->vif.drops[NB_DROP_RX_SHARE]);
	return t->vif.drops[NB_DROP_RX_SHARE];
}

static void test_share_of_one_pool(void **state)
{
	struct fx *f = *state;
	unsigned share = POOL * NB_RX_SHARE_PCT_DEFAULT / 100; /* 64 */

	assert_int_equal(offer(&f->a, f->uplink, 0, 200), 200);
	assert_int_equal(f->a.q.pend_count, share);
	assert_int_equal(share_drops(&f->a), 200 - share);
	assert_int_equal(pvnet_pkt_pool_avail(f->uplink), POOL - share);
	assert_int_equal(f->a.vif.drops[NB_DROP_RX_QUEUE_FULL], 0);
	/* another pool is another share */
	assert_int_equal(offer(&f->a, f->vxlan, 0, 100), 100);
	assert_int_equal(f->a.q.pend_count, 2 * share);
	assert_int_equal(share_drops(&f->a), (200 - share) + (100 - share));
	assert_int_equal(pvnet_pkt_pool_avail(f->vxlan), POOL - share);
	/* the other domain receives its own share of the same uplink pool */
	assert_int_equal(offer(&f->b, f->uplink, 0, 64), 64);
	assert_int_equal(f->b.q.pend_count, 64);
	assert_int_equal(share_drops(&f->b), 0);
	/* released packets are given back: the share refills */
	nb_rx_purge(&f->a.q);
	assert_int_equal(pvnet_pkt_pool_avail(f->vxlan), POOL);
	assert_int_equal(offer(&f->a, f->uplink, 0, share), share);
	assert_int_equal(f->a.q.pend_count, share);
	assert_int_equal(share_drops(&f->a), (200 - share) + (100 - share));
}

static void test_share_per_sender(void **state)
{
	struct fx *f = *state;
	unsigned share = NB_TX_RING * NB_RX_SHARE_PCT_DEFAULT / 100; /* 64 of a TX ring */

	assert_int_equal(offer(&f->a, f->grants, 7, 100), 100);
	assert_int_equal(f->a.q.pend_count, share);
	assert_int_equal(share_drops(&f->a), 100 - share);
	/* a second sender keeps its own slots' share */
	assert_int_equal(offer(&f->a, f->grants, 8, share), share);
	assert_int_equal(f->a.q.pend_count, 2 * share);
	assert_int_equal(share_drops(&f->a), 100 - share);
}

static void test_share_two_vifs_one_domain(void **state)
{
	struct fx *f = *state;
	struct tvif c;

	/* a second vif of domain 5 shares its domain's share, it does not add one */
	tvif_init(f, &c, 5, "vif5.1");
	assert_ptr_equal(c.vif.share, f->a.vif.share);
	assert_int_equal(offer(&f->a, f->uplink, 0, 40), 40);
	assert_int_equal(offer(&c, f->uplink, 0, 40), 40);
	assert_int_equal(f->a.q.pend_count + c.q.pend_count, 64);
	assert_int_equal(share_drops(&c), 16);
	tvif_fini(f, &c);
}

static void test_share_drops_noted_in_ledger(void **state)
{
	struct fx *f = *state;
	struct quota_ledger *q;

	assert_int_equal(quota_ledger_create(NULL, &q), 0);
	nb_set_quota(&f->nb, q);
	assert_int_equal(offer(&f->a, f->uplink, 0, 100), 100);
	assert_int_equal(quota_refusals(q, QUOTA_RX_SHARE_PCT), 36);
	assert_int_equal(share_drops(&f->a), 36);
	nb_set_quota(&f->nb, NULL);
	quota_ledger_destroy(q);
}

static void test_share_pct_setting(void **state)
{
	struct fx *f = *state;

	assert_int_equal(nb_set_rx_share_pct(&f->nb, 0), -EINVAL);
	assert_int_equal(nb_set_rx_share_pct(&f->nb, 101), -EINVAL);
	assert_int_equal(nb_set_rx_share_pct(&f->nb, 50), 0);
	assert_int_equal(nb_get_rx_share_pct(&f->nb), 50);
	assert_int_equal(offer(&f->a, f->uplink, 0, 200), 200);
	assert_int_equal(f->a.q.pend_count, 128);
	/* the floor: at least one packet, however small the pool share */
	assert_int_equal(nb_set_rx_share_pct(&f->nb, 1), 0);
	nb_rx_purge(&f->a.q);
	assert_int_equal(offer(&f->a, f->uplink, 0, 10), 10);
	assert_int_equal(f->a.q.pend_count, 2); /* 1% of 256 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_share_of_one_pool),           T(test_share_per_sender),
		T(test_share_two_vifs_one_domain),   T(test_share_pct_setting),
		T(test_share_drops_noted_in_ledger),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
