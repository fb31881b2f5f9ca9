/* Unit tests for the vswitch data path: learning, unicast, flooding, VLANs, drops
 * and their accounting, bursts, completion/refcounts, port removal under traffic,
 * and the software checksum / TCP segmentation fallbacks. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/vswitch.h>

#define NPORTS 4
#define REC_MAX 256

/* What a fake port saw of one packet. */
struct rec_pkt {
	uint8_t dst_id, src_id;
	uint32_t len;
	uint16_t tci;
	uint8_t wire[64]; /* pvnet_pkt_write_head output */
	uint32_t wire_size;
	uint16_t flags;
	uint8_t gso_type;
};

struct fake_port {
	unsigned sends, n;
	int accept; /* accept at most this many per send; < 0: all */
	struct rec_pkt rec[REC_MAX];
	pthread_mutex_t lock;
	unsigned destroyed;
};

static int fake_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	struct fake_port *f = vsw_port_priv(port);
	unsigned take = b->count;

	pthread_mutex_lock(&f->lock);
	f->sends++;
	if (f->accept >= 0 && (unsigned)f->accept < take)
		take = (unsigned)f->accept;
	for (unsigned i = 0; i < take; i++) {
		struct pvnet_pkt *p = b->pkts[i];
		if (f->n < REC_MAX) {
			struct rec_pkt *r = &f->rec[f->n];
			r->dst_id = p->data[5];
			r->src_id = p->data[11];
			r->len = p->len;
			r->tci = b->vlan_tci[i];
			r->flags = p->flags;
			r->gso_type = p->gso_type;
			r->wire_size =
				pvnet_pkt_write_head(p, b->vlan_tci[i], r->wire, sizeof(r->wire));
		}
		f->n++;
		pvnet_pkt_put(p);
	}
	pthread_mutex_unlock(&f->lock);
	return (int)take;
}

static void fake_destroy(struct vsw_port *port)
{
	struct fake_port *f = vsw_port_priv(port);
	f->destroyed++;
}

static const struct vsw_port_ops fake_ops = {
	.type = "test", .send = fake_send, .destroy = fake_destroy};

struct env {
	struct vsw_bridge *br;
	struct pvnet_pkt_pool *pool;
	struct vsw_port *p[NPORTS];
	struct fake_port f[NPORTS];
};

static void env_init_flags(struct env *e, unsigned flags)
{
	char name[32];

	memset(e, 0, sizeof(*e));
	assert_int_equal(vsw_create("br0", NULL, &e->br), 0);
	assert_int_equal(pvnet_pkt_pool_create(512, 2048, &e->pool), 0);
	for (int i = 0; i < NPORTS; i++) {
		snprintf(name, sizeof(name), "vif%d.0", i + 1);
		e->f[i].accept = -1;
		pthread_mutex_init(&e->f[i].lock, NULL);
		assert_int_equal(vsw_port_add(e->br, name, &fake_ops, &e->f[i], flags, &e->p[i]),
				 0);
	}
}

static void env_init(struct env *e)
{
	env_init_flags(e, VSW_PORT_F_ALL);
}

static void env_fini(struct env *e)
{
	vsw_destroy(e->br);
	for (int i = 0; i < NPORTS; i++) {
		assert_int_equal(e->f[i].destroyed, 1);
		pthread_mutex_destroy(&e->f[i].lock);
	}
	/* every packet came back: nothing leaked, nothing put twice */
	assert_int_equal(pvnet_pkt_pool_avail(e->pool), 512);
	pvnet_pkt_pool_destroy(e->pool);
}

static void reset_rec(struct env *e)
{
	for (int i = 0; i < NPORTS; i++) {
		e->f[i].sends = 0;
		e->f[i].n = 0;
	}
}

/* A frame dst_id <- src_id (ids are the last MAC byte; 0xff dst = broadcast, 0x100 +
 * x = multicast 01:00:5e:..:x), with an 802.1Q tag when tci >= 0. */
static struct pvnet_pkt *mk(struct env *e, unsigned dst_id, unsigned src_id, int tci, unsigned size)
{
	uint8_t frame[1600] = {0};
	struct pvnet_pkt *p = pvnet_pkt_alloc(e->pool);
	unsigned o = 12;

	assert_non_null(p);
	if (dst_id == 0xff) {
		memset(frame, 0xff, 6);
	} else if (dst_id >= 0x100) {
		frame[0] = 0x01, frame[2] = 0x5e, frame[5] = (uint8_t)dst_id;
	} else {
		frame[0] = 0x02, frame[5] = (uint8_t)dst_id;
	}
	frame[6] = src_id >= 0x100 ? 0x01 : 0x02, frame[11] = (uint8_t)src_id;
	if (tci >= 0) {
		frame[o++] = 0x81, frame[o++] = 0x00;
		frame[o++] = (uint8_t)(tci >> 8), frame[o++] = (uint8_t)tci;
	}
	frame[o++] = 0x08, frame[o++] = 0x00;
	for (unsigned i = o; i < size; i++)
		frame[i] = (uint8_t)i;
	assert_int_equal(pvnet_pkt_set_local(p, frame, size), 0);
	return p;
}

static void input1(struct env *e, int in, struct pvnet_pkt *p)
{
	struct pvnet_pkt_batch b = {.count = 1, .pkts = {p}};
	assert_int_equal(vsw_input(e->br, e->p[in], &b), 0);
	assert_int_equal(b.count, 0);
}

static uint64_t tx_total(struct env *e)
{
	struct vsw_port_stats st;
	uint64_t t = 0;

	for (int i = 0; i < NPORTS; i++) {
		vsw_port_get_stats(e->p[i], &st);
		t += st.tx_packets + st.drops[VSW_DROP_EGRESS_FULL] + st.drops[VSW_DROP_NO_OFFLOAD];
	}
	return t;
}

static uint64_t ingress_drops(struct env *e)
{
	struct vsw_port_stats st;
	uint64_t t = 0;

	for (int i = 0; i < NPORTS; i++) {
		vsw_port_get_stats(e->p[i], &st);
		for (int r = 0; r < VSW_DROP__MAX; r++)
			if (r != VSW_DROP_EGRESS_FULL && r != VSW_DROP_NO_OFFLOAD)
				t += st.drops[r];
	}
	return t;
}

static void test_learn_then_unicast(void **state)
{
	struct vsw_port_stats st;
	struct env e;
	(void)state;

	env_init(&e);
	input1(&e, 0, mk(&e, 2, 1, -1, 64)); /* unknown: floods to 1,2,3 */
	assert_int_equal(e.f[0].n, 0);
	assert_int_equal(e.f[1].n + e.f[2].n + e.f[3].n, 3);
	input1(&e, 1, mk(&e, 1, 2, -1, 100)); /* 1 was learned on port 0 */
	assert_int_equal(e.f[0].n, 1);
	assert_int_equal(e.f[0].rec[0].src_id, 2);
	assert_int_equal(e.f[2].n + e.f[3].n, 2); /* nothing new elsewhere */
	reset_rec(&e);
	input1(&e, 0, mk(&e, 2, 1, -1, 64)); /* 2 now known on port 1 */
	assert_int_equal(e.f[1].n, 1);
	assert_int_equal(e.f[0].n + e.f[2].n + e.f[3].n, 0);
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.rx_packets, 2);
	assert_int_equal(st.rx_bytes, 128);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, 100);
	/* accounting: 3 ingress packets -> 3 (flood) + 1 + 1 egress copies, no drops */
	assert_int_equal(tx_total(&e), 5);
	assert_int_equal(ingress_drops(&e), 0);
	env_fini(&e);
}

/* One burst, one flow: the FDB work is done once per (VLAN, MAC) run, but a learn
 * that adds an entry makes the next packets look their destination up again. */
static void test_burst_fdb_cache(void **state)
{
	struct pvnet_pkt_batch b = {.count = 3};
	struct vsw_port_stats st;
	struct env e;
	(void)state;

	env_init(&e);
	b.pkts[0] = mk(&e, 5, 1, -1, 64); /* 5 unknown: flood to 1, 2, 3 */
	b.pkts[1] = mk(&e, 5, 5, -1, 64); /* learns 5 on port 0, then 5 is port 0: loop */
	b.pkts[2] = mk(&e, 5, 1, -1, 64); /* same flow as the first: must see the new entry */
	assert_int_equal(vsw_input(e.br, e.p[0], &b), 0);
	assert_int_equal(e.f[1].n + e.f[2].n + e.f[3].n, 3);
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_LOOP], 2);
	/* a run of one source: learnt once, each packet still switched */
	reset_rec(&e);
	b.count = 4;
	for (unsigned i = 0; i < 4; i++)
		b.pkts[i] = mk(&e, 1, 7, -1, 64); /* 1 is on port 0 */
	assert_int_equal(vsw_input(e.br, e.p[2], &b), 0);
	assert_int_equal(e.f[0].n, 4);
	input1(&e, 0, mk(&e, 7, 1, -1, 64)); /* 7 was learnt on port 2 */
	assert_int_equal(e.f[2].n, 1);
	env_fini(&e);
}

static void test_flood_kinds(void **state)
{
	struct vsw_bridge_stats bs;
	struct env e;
	(void)state;

	env_init(&e);
	input1(&e, 2, mk(&e, 0xff, 3, -1, 64));  /* broadcast */
	input1(&e, 2, mk(&e, 0x101, 3, -1, 64)); /* multicast */
	input1(&e, 2, mk(&e, 0x42, 3, -1, 64));  /* unknown unicast */
	for (int i = 0; i < NPORTS; i++)
		assert_int_equal(e.f[i].n, i == 2 ? 0 : 3);
	vsw_bridge_get_stats(e.br, &bs);
	assert_int_equal(bs.flooded, 3);
	/* a multicast source: dropped as bad_src_mac, counted, never learned */
	input1(&e, 0, mk(&e, 3, 0x101, -1, 64));
	struct vsw_port_stats st;
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_BAD_SRC_MAC], 1);
	assert_int_equal(tx_total(&e) + ingress_drops(&e), 3 * 3 + 1);
	env_fini(&e);
}

static void test_loop_and_disabled(void **state)
{
	struct vsw_port_stats st;
	struct env e;
	(void)state;

	env_init(&e);
	input1(&e, 0, mk(&e, 0xff, 1, -1, 64));
	input1(&e, 0, mk(&e, 0xff, 5, -1, 64));
	reset_rec(&e);
	/* destination learned on the ingress port itself: never sent back */
	input1(&e, 0, mk(&e, 5, 1, -1, 64));
	for (int i = 0; i < NPORTS; i++)
		assert_int_equal(e.f[i].n, 0);
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_LOOP], 1);
	/* disabled ingress */
	vsw_port_set_enabled(e.p[1], false);
	input1(&e, 1, mk(&e, 0xff, 9, -1, 64));
	vsw_port_get_stats(e.p[1], &st);
	assert_int_equal(st.drops[VSW_DROP_INGRESS_DISABLED], 1);
	assert_int_equal(st.rx_packets, 1);
	/* a disabled port is skipped on egress */
	input1(&e, 0, mk(&e, 0xff, 1, -1, 64));
	assert_int_equal(e.f[1].n, 0);
	assert_int_equal(e.f[2].n, 1);
	/* a lone port: flood has nowhere to go */
	for (int i = 1; i < NPORTS; i++)
		vsw_port_set_enabled(e.p[i], false);
	input1(&e, 0, mk(&e, 0xff, 1, -1, 64));
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_NO_PORT], 1);
	/* 6 ingress: 3+3+2 egress copies of the delivered floods, 3 ingress drops */
	assert_int_equal(tx_total(&e), 8);
	assert_int_equal(ingress_drops(&e), 3);
	env_fini(&e);
}

static void test_runts(void **state)
{
	struct pvnet_pkt_batch b = {0};
	struct vsw_port_stats st;
	uint8_t tiny[13] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8};
	struct env e;
	(void)state;

	env_init(&e);
	b.pkts[0] = pvnet_pkt_alloc(e.pool);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], tiny, 13), 0);
	b.pkts[1] = pvnet_pkt_alloc(e.pool);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[1], tiny, 0), 0);
	b.pkts[2] = mk(&e, 0xff, 1, 5, 64);
	b.pkts[2]->len = b.pkts[2]->head_size = 16; /* tagged, but cut inside the tag */
	b.pkts[3] = mk(&e, 0xff, 1, -1, 14);        /* exactly a header: valid */
	b.count = 4;
	assert_int_equal(vsw_input(e.br, e.p[0], &b), 0);
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_INVALID_FRAME], 3);
	assert_int_equal(st.rx_packets, 4);
	assert_int_equal(e.f[1].n, 1);
	assert_int_equal(tx_total(&e), 3);
	env_fini(&e);
}

static void test_vlan_access_isolation(void **state)
{
	struct vsw_port_stats st;
	struct env e;
	(void)state;

	env_init(&e);
	assert_int_equal(vsw_port_set_access(e.p[0], 10), 0);
	assert_int_equal(vsw_port_set_access(e.p[1], 10), 0);
	assert_int_equal(vsw_port_set_access(e.p[2], 20), 0);
	assert_int_equal(vsw_port_set_access(e.p[3], 4095), -EINVAL);
	input1(&e, 0, mk(&e, 0xff, 1, -1, 64));
	input1(&e, 2, mk(&e, 0xff, 3, -1, 64));
	assert_int_equal(e.f[1].n, 1); /* VLAN 10 only */
	assert_int_equal(e.f[2].n, 0);
	assert_int_equal(e.f[3].n, 0); /* port 3 is untagged / VLAN 0 */
	assert_int_equal(e.f[0].n, 0);
	assert_int_equal(e.f[1].rec[0].tci, 0);
	struct vsw_port_stats s2;
	vsw_port_get_stats(e.p[2], &s2);
	assert_int_equal(s2.drops[VSW_DROP_NO_PORT], 1); /* alone in VLAN 20 */
	/* the same MAC in two VLANs is two entries */
	uint32_t no;
	uint8_t m1[6] = {2, 0, 0, 0, 0, 1};
	assert_int_equal(vsw_fdb_lookup(e.br, 10, m1, &no), 0);
	assert_int_equal(no, vsw_port_no(e.p[0]));
	assert_int_equal(vsw_fdb_lookup(e.br, 20, m1, &no), -ENOENT);
	/* a tagged frame on an access port is dropped; a priority tag is accepted */
	input1(&e, 0, mk(&e, 0xff, 1, 10, 64));
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_VLAN_MISMATCH], 1);
	input1(&e, 0, mk(&e, 0xff, 1, 0x6000, 64)); /* PCP 3, VID 0 */
	assert_int_equal(e.f[1].n, 2);
	assert_int_equal(e.f[1].rec[1].len, 60); /* popped on egress of an access port */
	/* unicast to a MAC learned in another VLAN is not delivered across */
	input1(&e, 2, mk(&e, 1, 3, -1, 64));
	assert_int_equal(e.f[0].n, 0);
	/* 5 ingress: 2 delivered once each, 3 dropped at ingress (no_port x2, vlan) */
	assert_int_equal(tx_total(&e), 2);
	assert_int_equal(ingress_drops(&e), 3);
	env_fini(&e);
}

static void test_vlan_trunk(void **state)
{
	static const uint16_t vids[] = {10, 20};
	struct vsw_port_stats st;
	struct env e;
	(void)state;

	env_init(&e);
	assert_int_equal(vsw_port_set_trunk(e.p[0], 0, vids, 2), 0);
	assert_int_equal(vsw_port_set_access(e.p[1], 10), 0);
	assert_int_equal(vsw_port_set_access(e.p[2], 20), 0);
	assert_int_equal(vsw_port_set_access(e.p[3], 30), 0);
	/* tagged VID 10 (PCP 5) in on the trunk: popped toward the access port */
	input1(&e, 0, mk(&e, 0xff, 1, 0xa000 | 10, 100));
	assert_int_equal(e.f[1].n, 1);
	assert_int_equal(e.f[2].n + e.f[3].n, 0);
	assert_int_equal(e.f[1].rec[0].tci, 0);
	assert_int_equal(e.f[1].rec[0].len, 96);
	assert_int_equal(e.f[1].rec[0].wire[12], 0x08); /* ethertype right after MACs */
	/* untagged in on access VLAN 20: pushed with VID 20 toward the trunk */
	input1(&e, 2, mk(&e, 0xff, 3, -1, 64));
	assert_int_equal(e.f[0].n, 1);
	assert_int_equal(e.f[0].rec[0].tci, 20);
	assert_int_equal(e.f[0].rec[0].wire_size, 64 + 4);
	const uint8_t *w = e.f[0].rec[0].wire;
	assert_int_equal(w[11], 3);
	assert_int_equal(w[12], 0x81);
	assert_int_equal(w[13], 0x00);
	assert_int_equal(w[14], 0);
	assert_int_equal(w[15], 20);
	assert_int_equal(w[16], 0x08);
	assert_int_equal(w[17], 0x00);
	/* unicast back from VLAN 10 access to the MAC learned on the trunk: tagged */
	input1(&e, 1, mk(&e, 1, 2, -1, 64));
	assert_int_equal(e.f[0].n, 2);
	assert_int_equal(e.f[0].rec[1].tci, 10);
	/* VID 30 is not on the trunk: dropped at ingress; untagged: native (0), nobody */
	input1(&e, 0, mk(&e, 0xff, 1, 30, 64));
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_VLAN_MISMATCH], 1);
	input1(&e, 0, mk(&e, 0xff, 1, -1, 64));
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.drops[VSW_DROP_NO_PORT], 1);
	/* a bad trunk list is refused */
	uint16_t bad = 4095;
	assert_int_equal(vsw_port_set_trunk(e.p[3], 0, &bad, 1), -EINVAL);
	/* trunk to trunk keeps the tag and its PCP */
	assert_int_equal(vsw_port_set_trunk(e.p[3], 0, vids, 2), 0);
	input1(&e, 0, mk(&e, 0xff, 1, 0xa000 | 20, 64));
	assert_int_equal(e.f[3].n, 1);
	assert_int_equal(e.f[3].rec[0].tci, 0xa000 | 20);
	assert_int_equal(e.f[2].rec[1].tci, 0);
	env_fini(&e);
}

static void test_burst_one_send_per_port(void **state)
{
	struct pvnet_pkt_batch b = {0};
	struct vsw_port_stats st;
	struct env e;
	(void)state;

	env_init(&e);
	for (int i = 1; i < NPORTS; i++)
		input1(&e, i, mk(&e, 0xff, (unsigned)(10 + i), -1, 64));
	reset_rec(&e);
	for (unsigned i = 0; i < PVNET_BATCH_MAX; i++) {
		unsigned dst = i % 5 == 4 ? 0xff : 11 + i % 3; /* ports 1,2,3 and broadcasts */
		b.pkts[i] = mk(&e, dst, 1, -1, 64 + i);
	}
	b.count = PVNET_BATCH_MAX;
	assert_int_equal(vsw_input(e.br, e.p[0], &b), 0);
	unsigned bcast = 0;
	for (unsigned i = 0; i < PVNET_BATCH_MAX; i++)
		bcast += i % 5 == 4;
	for (int q = 1; q < NPORTS; q++) {
		assert_int_equal(e.f[q].sends, 1);
		unsigned expect = bcast;
		for (unsigned i = 0; i < PVNET_BATCH_MAX; i++)
			expect += i % 5 != 4 && 11 + i % 3 == (unsigned)(10 + q);
		assert_int_equal(e.f[q].n, expect);
		/* input order is kept within a port: lengths strictly increase */
		for (unsigned k = 1; k < e.f[q].n; k++)
			assert_true(e.f[q].rec[k].len > e.f[q].rec[k - 1].len);
	}
	assert_int_equal(e.f[0].sends, 0);
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.rx_packets, PVNET_BATCH_MAX);
	/* accounting: each unicast once, each broadcast 3 times */
	assert_int_equal(tx_total(&e), 3 * 3 + (PVNET_BATCH_MAX - bcast) + 3 * bcast);
	assert_int_equal(ingress_drops(&e), 0);
	env_fini(&e);
}

static void test_egress_full(void **state)
{
	struct pvnet_pkt_batch b = {0};
	struct vsw_port_stats st;
	struct env e;
	(void)state;

	env_init(&e);
	input1(&e, 1, mk(&e, 0xff, 2, -1, 64));
	e.f[1].accept = 5;
	for (unsigned i = 0; i < 12; i++)
		b.pkts[i] = mk(&e, 2, 1, -1, 64);
	b.count = 12;
	assert_int_equal(vsw_input(e.br, e.p[0], &b), 0);
	vsw_port_get_stats(e.p[1], &st);
	assert_int_equal(st.tx_packets, 5);
	assert_int_equal(st.tx_bytes, 5 * 64);
	assert_int_equal(st.drops[VSW_DROP_EGRESS_FULL], 7);
	assert_int_equal(st.tx_packets + st.drops[VSW_DROP_EGRESS_FULL], 12);
	env_fini(&e);
}

/* Completion: runs once, after every egress released the packet. */
static unsigned done_calls, done_ntx;

static void on_done(struct pvnet_pkt *p)
{
	done_calls++;
	done_ntx = p->n_tx;
}

static void test_completion_refcount(void **state)
{
	struct env e;
	(void)state;

	env_init(&e);
	done_calls = 0;
	e.f[3].accept = 0;
	struct pvnet_pkt *p = mk(&e, 0xff, 1, -1, 64);
	p->done = on_done;
	input1(&e, 0, p);
	assert_int_equal(done_calls, 1);
	assert_int_equal(done_ntx, 2); /* ports 1 and 2 took it, port 3 refused */
	/* a held reference delays completion until the port lets go */
	p = mk(&e, 0xff, 1, -1, 64);
	p->done = on_done;
	pvnet_pkt_get(p, 1);
	input1(&e, 0, p);
	assert_int_equal(done_calls, 1);
	pvnet_pkt_put(p);
	assert_int_equal(done_calls, 2);
	env_fini(&e);
}

/* ---- port removal while another thread forwards ---- */

struct stress {
	struct env *e;
	volatile int stop;
	uint64_t batches; /* atomic */
};

static void *forwarder(void *arg)
{
	struct stress *s = arg;
	struct pvnet_pkt_batch b;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		memset(&b, 0, sizeof(b));
		for (unsigned i = 0; i < 16; i++)
			b.pkts[i] = mk(s->e, i % 2 ? 0xff : 0x30 + i % 4, 1, -1, 64);
		b.count = 16;
		assert_int_equal(vsw_input(s->e->br, s->e->p[0], &b), 0);
		__atomic_fetch_add(&s->batches, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_port_del_under_traffic(void **state)
{
	struct fake_port extra[2];
	struct stress s = {0};
	struct vsw_port_stats st;
	pthread_t th;
	struct env e;
	(void)state;

	env_init(&e);
	memset(extra, 0, sizeof(extra));
	for (int i = 0; i < 2; i++) {
		extra[i].accept = -1;
		pthread_mutex_init(&extra[i].lock, NULL);
	}
	s.e = &e;
	assert_int_equal(pthread_create(&th, NULL, forwarder, &s), 0);
	while (__atomic_load_n(&s.batches, __ATOMIC_RELAXED) == 0)
		sched_yield();
	for (unsigned round = 0; round < 300; round++) {
		/* let the forwarder in between control operations */
		for (uint64_t b0 = __atomic_load_n(&s.batches, __ATOMIC_RELAXED);
		     __atomic_load_n(&s.batches, __ATOMIC_RELAXED) == b0;)
			sched_yield();
		struct vsw_port *q;
		struct fake_port *f = &extra[round % 2];
		uint8_t mac[6] = {2, 0, 0, 0, 0, (uint8_t)(0x30 + round % 4)};
		unsigned before = f->destroyed;
		assert_int_equal(vsw_port_add(e.br, "hot", &fake_ops, f, VSW_PORT_F_ALL, &q), 0);
		assert_int_equal(vsw_fdb_add_static(e.br, 0, mac, q), 0);
		if (round % 3 == 0)
			vsw_port_del(e.br, e.p[3]), e.p[3] = NULL;
		assert_int_equal(vsw_port_del(e.br, q), 0);
		assert_int_equal(f->destroyed, before + 1);
		if (!e.p[3])
			assert_int_equal(vsw_port_add(e.br, "vif4.0", &fake_ops, &e.f[3],
						      VSW_PORT_F_ALL, &e.p[3]),
					 0);
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	assert_true(s.batches > 0);
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.rx_packets, s.batches * 16);
	assert_int_equal(extra[0].destroyed + extra[1].destroyed, 300);
	assert_int_equal(e.f[3].destroyed, 100);
	e.f[3].destroyed = 0; /* the last instance is destroyed by env_fini */
	for (int i = 0; i < 2; i++)
		pthread_mutex_destroy(&extra[i].lock);
	env_fini(&e);
}

/* ---- software offload ---- */

/* The checksum over a (even size) then b: lib's (tested in test_lib). */
static uint16_t ref_csum(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	return pvnet_csum_finish(pvnet_csum_partial(b, nb, pvnet_csum_partial(a, na, 0)));
}

/* Builds Ethernet + IPv4/IPv6 + TCP (20 B + `opt` B options) + payload. */
static unsigned build_tcp(uint8_t *f, bool v6, unsigned payload, unsigned opt)
{
	unsigned l3 = 14, l4, i;

	memset(f, 0, 14);
	f[0] = 2, f[5] = 2, f[6] = 2, f[11] = 1;
	if (!v6) {
		f[12] = 0x08, f[13] = 0x00;
		memset(f + l3, 0, 20);
		f[l3] = 0x45;
		f[l3 + 4] = 0x12, f[l3 + 5] = 0x34; /* id */
		f[l3 + 8] = 64;
		f[l3 + 9] = 6;
		uint8_t ips[8] = {10, 0, 0, 1, 10, 0, 0, 2};
		memcpy(f + l3 + 12, ips, 8);
		l4 = l3 + 20;
	} else {
		f[12] = 0x86, f[13] = 0xdd;
		memset(f + l3, 0, 40);
		f[l3] = 0x60;
		f[l3 + 6] = 6;
		f[l3 + 7] = 64;
		for (i = 0; i < 32; i++)
			f[l3 + 8 + i] = (uint8_t)(0xfd + i);
		l4 = l3 + 40;
	}
	memset(f + l4, 0, 20 + opt);
	f[l4] = 0x30, f[l4 + 1] = 0x39; /* sport 12345 */
	f[l4 + 2] = 0x00, f[l4 + 3] = 0x50;
	f[l4 + 4] = 0xff, f[l4 + 5] = 0xff, f[l4 + 6] = 0xf0, f[l4 + 7] = 0x00; /* seq wraps */
	f[l4 + 12] = (uint8_t)(((20 + opt) / 4) << 4);
	f[l4 + 13] = 0x80 | 0x10 | 0x08 | 0x01; /* CWR ACK PSH FIN */
	for (i = 0; i < opt; i++)
		f[l4 + 20 + i] = 1; /* NOP */
	for (i = 0; i < payload; i++)
		f[l4 + 20 + opt + i] = (uint8_t)(i * 7 + 3);
	unsigned total = l4 + 20 + opt + payload;
	if (!v6) {
		f[l3 + 2] = (uint8_t)((total - 14) >> 8), f[l3 + 3] = (uint8_t)(total - 14);
	} else {
		unsigned pl = total - 54;
		f[l3 + 4] = (uint8_t)(pl >> 8), f[l3 + 5] = (uint8_t)pl;
	}
	return total;
}

/* Verifies one TCP segment's checksums against the reference. */
static void check_tcp(const uint8_t *s, unsigned size, bool v6)
{
	uint8_t ph[40];
	unsigned l4 = v6 ? 54 : 34, tcp_len = size - l4, n;

	if (!v6) {
		assert_int_equal(ref_csum(s + 14, 20, NULL, 0), 0); /* IPv4 header checksum */
		assert_int_equal((s[16] << 8 | s[17]), size - 14);
		memcpy(ph, s + 26, 8);
		ph[8] = 0, ph[9] = 6, ph[10] = (uint8_t)(tcp_len >> 8), ph[11] = (uint8_t)tcp_len;
		n = 12;
	} else {
		assert_int_equal((s[18] << 8 | s[19]), tcp_len);
		memcpy(ph, s + 22, 32);
		ph[32] = 0, ph[33] = 0, ph[34] = (uint8_t)(tcp_len >> 8), ph[35] = (uint8_t)tcp_len;
		ph[36] = ph[37] = ph[38] = 0, ph[39] = 6;
		n = 40;
	}
	assert_int_equal(ref_csum(ph, n, s + l4, tcp_len), 0);
}

static void do_tso(bool v6)
{
	static uint8_t f[4096];
	struct pvnet_pkt_pool *pool;
	struct pvnet_pkt *segs[8], *p;
	unsigned payload = 3000, mss = 1000, opt = 12, total;
	unsigned l4 = v6 ? 54 : 34, hl = l4 + 20 + opt;

	assert_int_equal(pvnet_pkt_pool_create(8, 4096, &pool), 0);
	total = build_tcp(f, v6, payload + 1, opt); /* 3001 B: 4 segments, last 1 B */
	p = pvnet_pkt_alloc(pool);
	assert_int_equal(pvnet_pkt_set_local(p, f, total), 0);
	p->gso_type = v6 ? PVNET_GSO_TCPV6 : PVNET_GSO_TCPV4;
	p->gso_size = (uint16_t)mss;
	assert_int_equal(vsw_offload_tso(p, pool, segs, 3), -ENOSPC);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 7);
	int n = vsw_offload_tso(p, pool, segs, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++) {
		const uint8_t *s = segs[i]->data;
		unsigned plen = i < 3 ? mss : 1;
		assert_int_equal(segs[i]->len, hl + plen);
		/* payload bytes are the right slice of the original */
		assert_memory_equal(s + hl, f + hl + (unsigned)i * mss, plen);
		uint32_t seq =
			(uint32_t)s[l4 + 4] << 24 | s[l4 + 5] << 16 | s[l4 + 6] << 8 | s[l4 + 7];
		assert_int_equal(seq, (uint32_t)(0xfffff000u + (unsigned)i * mss));
		uint8_t fl = s[l4 + 13];
		assert_int_equal(!!(fl & 0x80), i == 0);     /* CWR first only */
		assert_int_equal(!!(fl & 0x01), i == n - 1); /* FIN last only */
		assert_int_equal(!!(fl & 0x08), i == n - 1); /* PSH last only */
		assert_true(fl & 0x10);
		if (!v6)
			assert_int_equal((s[18] << 8 | s[19]), 0x1234 + i); /* IP id */
		check_tcp(s, segs[i]->len, v6);
		assert_true(segs[i]->flags & PVNET_PKT_F_DATA_VALIDATED);
		pvnet_pkt_put(segs[i]);
	}
	/* not TCP: refused */
	p->data[v6 ? 20 : 23] = 17;
	assert_int_equal(vsw_offload_tso(p, pool, segs, 8), -EINVAL);
	pvnet_pkt_put(p);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 8);
	pvnet_pkt_pool_destroy(pool);
}

static void test_tso_v4(void **state)
{
	(void)state;
	do_tso(false);
}

static void test_tso_v6(void **state)
{
	(void)state;
	do_tso(true);
}

/* The switch completes the checksum / segments for egresses lacking the offload,
 * and leaves the packet untouched for those that have it. */
static void test_switch_offload_fallback(void **state)
{
	static uint8_t f[4096];
	struct vsw_bridge_stats bs;
	struct env e;
	unsigned total;
	(void)state;

	env_init_flags(&e, 0);
	/* port 1: full offloads; ports 0, 2, 3: none. Re-add port 1 with flags. */
	assert_int_equal(vsw_port_del(e.br, e.p[1]), 0);
	e.f[1].destroyed = 0;
	assert_int_equal(vsw_port_add(e.br, "vif2.0", &fake_ops, &e.f[1], VSW_PORT_F_ALL, &e.p[1]),
			 0);
	vsw_port_set_enabled(e.p[3], false);

	/* csum_blank TCP: pseudo-header sum in the field, as a guest leaves it */
	total = build_tcp(f, false, 200, 0);
	uint8_t ph[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, (uint8_t)(total - 34)};
	uint16_t seed = pvnet_csum_fold(pvnet_csum_partial(ph, 12, 0));
	f[34 + 16] = (uint8_t)(seed >> 8), f[34 + 17] = (uint8_t)seed;
	struct pvnet_pkt *p = pvnet_pkt_alloc(e.pool);
	assert_int_equal(pvnet_pkt_set_local(p, f, total), 0);
	p->flags = PVNET_PKT_F_CSUM_BLANK;
	p->csum_start = 34;
	p->csum_offset = 16;
	input1(&e, 0, p); /* unknown dst: floods to ports 1 and 2 */
	assert_int_equal(e.f[1].n, 1);
	assert_int_equal(e.f[2].n, 1);
	/* completed once, before any send, so both see a valid checksum */
	assert_true(e.f[2].rec[0].flags & PVNET_PKT_F_DATA_VALIDATED);
	assert_false(e.f[1].rec[0].flags & PVNET_PKT_F_CSUM_BLANK);

	/* GSO to a port without TSO: segmented there, kept whole for port 1 */
	reset_rec(&e);
	total = build_tcp(f, false, 1900, 0);
	p = pvnet_pkt_alloc(e.pool);
	assert_int_equal(pvnet_pkt_set_local(p, f, total), 0);
	p->gso_type = PVNET_GSO_TCPV4;
	p->gso_size = 1000;
	input1(&e, 0, p);
	assert_int_equal(e.f[1].n, 1);
	assert_int_equal(e.f[1].rec[0].gso_type, PVNET_GSO_TCPV4);
	assert_int_equal(e.f[2].n, 2);
	assert_int_equal(e.f[2].sends, 1);
	assert_int_equal(e.f[2].rec[0].len, 54 + 1000);
	assert_int_equal(e.f[2].rec[1].len, 54 + 900);
	vsw_bridge_get_stats(e.br, &bs);
	assert_int_equal(bs.sw_csum, 1);
	assert_int_equal(bs.sw_tso_segs, 2);
	env_fini(&e);
}

/* The "guest memory" a grant-backed test packet's tail lives in. */
static uint8_t guest_frame[4096];
static unsigned tail_reads;

static int fake_tail_read(void *arg, const struct pvnet_pkt *pkt, void *dst, uint32_t size)
{
	(void)arg;
	tail_reads++;
	if (pkt->src.tail_off + size > sizeof(guest_frame))
		return -EINVAL;
	memcpy(dst, guest_frame + pkt->src.tail_off, size);
	return 0;
}

/* A guest's frame: 64 header bytes copied into dom0, the rest still "granted". */
static struct pvnet_pkt *mk_grant(struct env *e, unsigned total)
{
	struct pvnet_pkt *p = pvnet_pkt_alloc(e->pool);

	assert_non_null(p);
	memcpy(p->hdr + PVNET_PKT_HEADROOM, guest_frame, 64);
	p->data = p->hdr + PVNET_PKT_HEADROOM;
	p->len = total;
	p->head_size = 64;
	p->src_kind = PVNET_PKT_SRC_GRANT;
	p->src.domid = 1;
	p->src.nr_frags = 1;
	p->src.frags[0] = (struct pvnet_pkt_frag){.gref = 8, .offset = 0, .size = (uint16_t)total};
	p->src.tail_off = 64;
	return p;
}

/* Grant-backed packets (payload still in the sender's grants) get the software
 * checksum / TSO fallback too: linearised through the tail reader first. */
static void test_grant_backed_fallback(void **state)
{
	struct vsw_bridge_stats bs;
	struct vsw_port_stats ps;
	struct env e;
	unsigned total;
	(void)state;

	env_init_flags(&e, 0); /* no port takes any offload */
	vsw_port_set_enabled(e.p[2], false);
	vsw_port_set_enabled(e.p[3], false);
	vsw_tail_reader_set(fake_tail_read, NULL);
	tail_reads = 0;

	/* csum_blank, grant-backed: completed into a LOCAL copy for port 1 */
	total = build_tcp(guest_frame, false, 300, 0);
	uint8_t ph[12] = {10,
			  0,
			  0,
			  1,
			  10,
			  0,
			  0,
			  2,
			  0,
			  6,
			  (uint8_t)((total - 34) >> 8),
			  (uint8_t)(total - 34)};
	uint16_t seed = pvnet_csum_fold(pvnet_csum_partial(ph, 12, 0));
	guest_frame[34 + 16] = (uint8_t)(seed >> 8), guest_frame[34 + 17] = (uint8_t)seed;
	struct pvnet_pkt *p = mk_grant(&e, total);
	p->flags = PVNET_PKT_F_CSUM_BLANK;
	p->csum_start = 34;
	p->csum_offset = 16;
	input1(&e, 0, p);
	assert_int_equal(e.f[1].n, 1);
	assert_int_equal(e.f[1].rec[0].len, total);
	assert_true(e.f[1].rec[0].flags & PVNET_PKT_F_DATA_VALIDATED);
	assert_false(e.f[1].rec[0].flags & PVNET_PKT_F_CSUM_BLANK);

	/* GSO, grant-backed: segmented for port 1 */
	reset_rec(&e);
	total = build_tcp(guest_frame, false, 2500, 0);
	p = mk_grant(&e, total);
	p->gso_type = PVNET_GSO_TCPV4;
	p->gso_size = 1000;
	input1(&e, 0, p);
	assert_int_equal(e.f[1].n, 3);
	assert_int_equal(e.f[1].rec[0].len, 54 + 1000);
	assert_int_equal(e.f[1].rec[2].len, 54 + 500);
	assert_int_equal(tail_reads, 2);
	vsw_bridge_get_stats(e.br, &bs);
	assert_int_equal(bs.sw_csum, 1);
	assert_int_equal(bs.sw_tso_segs, 3);
	vsw_port_get_stats(e.p[1], &ps);
	assert_int_equal(ps.drops[VSW_DROP_NO_OFFLOAD], 0);

	/* without a tail reader the packet is dropped and counted, not sent broken */
	vsw_tail_reader_set(NULL, NULL);
	reset_rec(&e);
	p = mk_grant(&e, total);
	p->gso_type = PVNET_GSO_TCPV4;
	p->gso_size = 1000;
	input1(&e, 0, p);
	assert_int_equal(e.f[1].n, 0);
	vsw_port_get_stats(e.p[1], &ps);
	assert_int_equal(ps.drops[VSW_DROP_NO_OFFLOAD], 1);
	env_fini(&e);
}

static void test_csum_fill_verified(void **state)
{
	static uint8_t f[4096];
	struct pvnet_pkt_pool *pool;
	unsigned total;
	(void)state;

	assert_int_equal(pvnet_pkt_pool_create(2, 4096, &pool), 0);
	total = build_tcp(f, true, 777, 4);
	uint8_t ph[40];
	unsigned tcp_len = total - 54;
	memcpy(ph, f + 22, 32);
	memset(ph + 32, 0, 8);
	ph[34] = (uint8_t)(tcp_len >> 8), ph[35] = (uint8_t)tcp_len, ph[39] = 6;
	uint16_t seed = pvnet_csum_fold(pvnet_csum_partial(ph, 40, 0));
	f[54 + 16] = (uint8_t)(seed >> 8), f[54 + 17] = (uint8_t)seed;
	struct pvnet_pkt *p = pvnet_pkt_alloc(pool);
	assert_int_equal(pvnet_pkt_set_local(p, f, total), 0);
	p->flags = PVNET_PKT_F_CSUM_BLANK;
	p->csum_start = 54;
	p->csum_offset = 16;
	assert_int_equal(vsw_offload_csum(p), 0);
	check_tcp(p->data, p->len, true);
	assert_false(p->flags & PVNET_PKT_F_CSUM_BLANK);
	/* out-of-frame offsets are refused */
	p->flags = PVNET_PKT_F_CSUM_BLANK;
	p->csum_start = (uint16_t)(total - 1);
	assert_int_equal(vsw_offload_csum(p), -EINVAL);
	pvnet_pkt_put(p);
	pvnet_pkt_pool_destroy(pool);
}

static void test_pool_and_api_errors(void **state)
{
	struct pvnet_pkt_pool *pool;
	struct pvnet_pkt *pk[4];
	struct vsw_port *q;
	struct env e;
	(void)state;

	assert_int_equal(pvnet_pkt_pool_create(0, 0, &pool), -EINVAL);
	assert_int_equal(pvnet_pkt_pool_create(3, 0, &pool), 0);
	assert_int_equal(pvnet_pkt_alloc_bulk(pool, pk, 4), 3);
	assert_null(pvnet_pkt_alloc(pool));
	/* without a buffer, the inline header area holds small frames */
	uint8_t big[200] = {0};
	assert_int_equal(pvnet_pkt_set_local(pk[0], big, 120), 0);
	assert_int_equal(pvnet_pkt_set_local(pk[0], big, 121), -ENOSPC);
	for (int i = 0; i < 3; i++)
		pvnet_pkt_put(pk[i]);
	pvnet_pkt_put(NULL);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 3);
	pvnet_pkt_pool_destroy(pool);
	pvnet_pkt_pool_destroy(NULL);

	env_init(&e);
	assert_int_equal(vsw_port_add(e.br, "vif1.0", &fake_ops, NULL, 0, &q), -EEXIST);
	assert_int_equal(vsw_port_add(e.br, "x", &fake_ops, NULL, 0x100, &q), -EINVAL);
	assert_int_equal(vsw_port_find(e.br, "vif3.0", &q), 0);
	assert_ptr_equal(q, e.p[2]);
	assert_string_equal(vsw_port_name(q), "vif3.0");
	struct vsw_port_dev_stats ds;
	assert_int_equal(vsw_port_get_dev_stats(q, &ds), -EOPNOTSUPP);
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_EGRESS_FULL), "egress_full");
	assert_string_equal(vsw_drop_reason_name(VSW_DROP__MAX), "?");
	/* a port of another bridge: refused, packets still released */
	struct vsw_bridge *other;
	assert_int_equal(vsw_create("br1", NULL, &other), 0);
	struct pvnet_pkt_batch b = {.count = 1, .pkts = {mk(&e, 0xff, 1, -1, 64)}};
	assert_int_equal(vsw_input(other, e.p[0], &b), -EINVAL);
	assert_int_equal(b.count, 0);
	vsw_destroy(other);
	env_fini(&e);
}

/* ---- the pool under several threads: bulk alloc, frees on other threads ------- */

#define MT_THREADS 4
#define MT_ITERS 20000
#define MT_POOL 256

static struct mt_state {
	struct pvnet_pkt_pool *pool;
	pthread_mutex_t mu;
	struct pvnet_pkt *box[MT_POOL];
	unsigned nbox;
	uint8_t owned[MT_POOL];         /* atomic: 1 while a packet is out of the pool */
	uint64_t allocs, dones, errors; /* atomic */
} g_mt;

static void mt_done(struct pvnet_pkt *p)
{
	__atomic_fetch_add(&g_mt.dones, 1, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&g_mt.owned[p->index], 0, __ATOMIC_RELAXED))
		__atomic_fetch_add(&g_mt.errors, 1, __ATOMIC_RELAXED);
}

/* Frees up to 32 packets other threads left in the box (their second reference). */
static void mt_drain_box(void)
{
	struct pvnet_pkt *take[32];
	unsigned n = 0;

	pthread_mutex_lock(&g_mt.mu);
	while (g_mt.nbox && n < 32)
		take[n++] = g_mt.box[--g_mt.nbox];
	pthread_mutex_unlock(&g_mt.mu);
	pvnet_pkt_put_bulk(take, n);
}

static void *mt_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	for (int it = 0; it < MT_ITERS; it++) {
		struct pvnet_pkt *pk[32];
		unsigned want = 1 + (unsigned)rand_r(&seed) % 32;
		unsigned got = pvnet_pkt_alloc_bulk(g_mt.pool, pk, want);

		for (unsigned i = 0; i < got; i++) {
			struct pvnet_pkt *p = pk[i];
			if (__atomic_exchange_n(&g_mt.owned[p->index], 1, __ATOMIC_RELAXED) ||
			    p->refcnt != 1 || p->done || p->len || p->pool != g_mt.pool)
				__atomic_fetch_add(&g_mt.errors, 1, __ATOMIC_RELAXED);
			p->done = mt_done;
			p->len = (uint32_t)it + 1; /* written by the owner, read by no one else */
			if (rand_r(&seed) & 1) {
				/* a second reference, dropped by whichever thread drains the box */
				pvnet_pkt_get(p, 1);
				pthread_mutex_lock(&g_mt.mu);
				if (g_mt.nbox < MT_POOL)
					g_mt.box[g_mt.nbox++] = p;
				else
					pvnet_pkt_put(p);
				pthread_mutex_unlock(&g_mt.mu);
			}
		}
		__atomic_fetch_add(&g_mt.allocs, got, __ATOMIC_RELAXED);
		if (rand_r(&seed) & 1) {
			pvnet_pkt_put_bulk(pk, got);
		} else {
			for (unsigned i = 0; i < got; i++)
				pvnet_pkt_put(pk[i]);
		}
		mt_drain_box();
	}
	return NULL;
}

static void test_pool_threads(void **state)
{
	pthread_t th[MT_THREADS];
	(void)state;

	memset(&g_mt, 0, sizeof(g_mt));
	pthread_mutex_init(&g_mt.mu, NULL);
	assert_int_equal(pvnet_pkt_pool_create(MT_POOL, 0, &g_mt.pool), 0);
	for (unsigned i = 0; i < MT_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mt_thread,
						(void *)(uintptr_t)(i + 1)),
				 0);
	for (unsigned i = 0; i < MT_THREADS; i++)
		pthread_join(th[i], NULL);
	while (g_mt.nbox)
		mt_drain_box();
	assert_int_equal(g_mt.errors, 0);
	assert_true(g_mt.allocs > MT_ITERS);
	assert_int_equal(g_mt.dones, g_mt.allocs); /* one completion per allocation */
	assert_int_equal(pvnet_pkt_pool_avail(g_mt.pool), MT_POOL);
	/* every packet is back exactly once: a bulk alloc of the whole pool gets them */
	struct pvnet_pkt *all[MT_POOL + 1];
	uint8_t seen[MT_POOL] = {0};
	assert_int_equal(pvnet_pkt_alloc_bulk(g_mt.pool, all, MT_POOL + 1), MT_POOL);
	for (unsigned i = 0; i < MT_POOL; i++) {
		assert_false(seen[all[i]->index]);
		seen[all[i]->index] = 1;
	}
	assert_int_equal(pvnet_pkt_pool_avail(g_mt.pool), 0);
	pvnet_pkt_put_bulk(all, MT_POOL);
	assert_int_equal(pvnet_pkt_pool_avail(g_mt.pool), MT_POOL);
	pvnet_pkt_pool_destroy(g_mt.pool);
	pthread_mutex_destroy(&g_mt.mu);
}

/* LIFO: the packets freed last are the next ones allocated (their lines are warm). */
static void test_pool_lifo_bulk(void **state)
{
	struct pvnet_pkt_pool *pool;
	struct pvnet_pkt *a[8], *b[8], *c, *held;
	(void)state;

	assert_int_equal(pvnet_pkt_pool_create(8, 64, &pool), 0);
	assert_int_equal(pvnet_pkt_alloc_bulk(pool, a, 5), 5);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 3);
	pvnet_pkt_get(a[1], 1); /* two references: the bulk put keeps it out */
	held = a[3];
	a[3] = NULL; /* NULL entries are skipped */
	c = a[0];
	pvnet_pkt_put_bulk(a, 5);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 6);
	/* a bulk put stacks the run with its first packet on top */
	assert_ptr_equal(pvnet_pkt_alloc(pool), c);
	pvnet_pkt_put(c);
	pvnet_pkt_put(held);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 7);
	assert_ptr_equal(pvnet_pkt_alloc(pool), held); /* the last one freed */
	pvnet_pkt_put(held);
	assert_int_equal(pvnet_pkt_alloc_bulk(pool, b, 8), 7);
	for (unsigned i = 0; i < 7; i++)
		assert_ptr_not_equal(b[i], a[1]);
	pvnet_pkt_put(a[1]);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 1);
	assert_int_equal(a[1]->refcnt, 1);
	pvnet_pkt_put_bulk(b, 7);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 8);
	pvnet_pkt_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn_then_unicast),
		cmocka_unit_test(test_burst_fdb_cache),
		cmocka_unit_test(test_flood_kinds),
		cmocka_unit_test(test_loop_and_disabled),
		cmocka_unit_test(test_runts),
		cmocka_unit_test(test_vlan_access_isolation),
		cmocka_unit_test(test_vlan_trunk),
		cmocka_unit_test(test_burst_one_send_per_port),
		cmocka_unit_test(test_egress_full),
		cmocka_unit_test(test_completion_refcount),
		cmocka_unit_test(test_port_del_under_traffic),
		cmocka_unit_test(test_tso_v4),
		cmocka_unit_test(test_tso_v6),
		cmocka_unit_test(test_switch_offload_fallback),
		cmocka_unit_test(test_grant_backed_fallback),
		cmocka_unit_test(test_csum_fill_verified),
		cmocka_unit_test(test_pool_and_api_errors),
		cmocka_unit_test(test_pool_threads),
		cmocka_unit_test(test_pool_lifo_bulk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
