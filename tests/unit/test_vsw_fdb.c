/* Unit tests for the vswitch MAC table: ageing (injected clock, set/get), moves, size
 * limit, per-port limits and eviction order, static entries, dump, flush on port removal, and the bridge registry. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pvnet/vswitch.h>

#define SEC 1000000000ull

static uint64_t fake_now;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

/* A port that records how many packets it was sent, then releases them. */
struct rec_port {
	unsigned pkts, sends;
};

static int rec_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	struct rec_port *r = vsw_port_priv(port);
	unsigned n = b->count;

	r->sends++;
	r->pkts += n;
	pvnet_pkt_put_batch(b);
	return (int)n;
}

static const struct vsw_port_ops rec_ops = {.type = "test", .send = rec_send};

struct env {
	struct vsw_bridge *br;
	struct pvnet_pkt_pool *pool;
	struct vsw_port *p[3];
	struct rec_port r[3];
};

static void env_init(struct env *e, unsigned max_entries)
{
	struct vsw_bridge_config cfg = {.fdb_max_entries = max_entries, .clock_ns = fake_clock};
	char name[16];

	memset(e, 0, sizeof(*e));
	fake_now = 1000 * SEC;
	assert_int_equal(vsw_create("br-fdb", &cfg, &e->br), 0);
	assert_int_equal(pvnet_pkt_pool_create(256, 256, &e->pool), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(vsw_port_add(e->br, name, &rec_ops, &e->r[i], 0, &e->p[i]), 0);
	}
}

static void env_fini(struct env *e)
{
	vsw_destroy(e->br);
	assert_int_equal(pvnet_pkt_pool_avail(e->pool), 256);
	pvnet_pkt_pool_destroy(e->pool);
}

static void mac_of(uint8_t mac[6], unsigned id)
{
	mac[0] = 0x02;
	mac[1] = 0;
	mac[2] = (uint8_t)(id >> 24);
	mac[3] = (uint8_t)(id >> 16);
	mac[4] = (uint8_t)(id >> 8);
	mac[5] = (uint8_t)id;
}

/* Sends one 64-B frame src_id -> dst_id (dst_id 0: broadcast) on port `in`. */
static void send_frame(struct env *e, int in, unsigned src_id, unsigned dst_id)
{
	struct pvnet_pkt_batch b = {0};
	uint8_t frame[64] = {0};

	if (dst_id)
		mac_of(frame, dst_id);
	else
		memset(frame, 0xff, 6);
	mac_of(frame + 6, src_id);
	frame[12] = 0x08;
	b.pkts[0] = pvnet_pkt_alloc(e->pool);
	assert_non_null(b.pkts[0]);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], frame, sizeof(frame)), 0);
	b.count = 1;
	assert_int_equal(vsw_input(e->br, e->p[in], &b), 0);
	assert_int_equal(b.count, 0);
}

static int lookup(struct env *e, unsigned id)
{
	uint8_t mac[6];
	uint32_t no;

	mac_of(mac, id);
	if (vsw_fdb_lookup(e->br, 0, mac, &no))
		return -1;
	return (int)no;
}

static void test_ageing(void **state)
{
	struct vsw_bridge_stats st;
	struct env e;
	(void)state;

	env_init(&e, 0);
	send_frame(&e, 0, 1, 0);
	assert_int_equal(lookup(&e, 1), (int)vsw_port_no(e.p[0]));
	fake_now += 299 * SEC;
	assert_int_equal(lookup(&e, 1), (int)vsw_port_no(e.p[0]));
	/* seen again: refreshed, so it lives another 300 s from now */
	send_frame(&e, 0, 1, 0);
	fake_now += 299 * SEC;
	assert_int_equal(lookup(&e, 1), (int)vsw_port_no(e.p[0]));
	send_frame(&e, 1, 2, 0);
	fake_now += 1 * SEC; /* entry 1 is now exactly 300 s old */
	assert_int_equal(vsw_fdb_age(e.br), 1);
	assert_int_equal(lookup(&e, 1), -1);
	assert_int_equal(lookup(&e, 2), (int)vsw_port_no(e.p[1]));
	vsw_bridge_get_stats(e.br, &st);
	assert_int_equal(st.fdb_entries, 1);
	assert_int_equal(st.fdb_aged, 1);
	/* an expired destination floods again instead of going to its old port */
	fake_now += 300 * SEC;
	e.r[0].pkts = e.r[2].pkts = 0;
	send_frame(&e, 1, 3, 2); /* 2 has expired too: unknown unicast floods */
	assert_int_equal(e.r[0].pkts, 1);
	assert_int_equal(e.r[2].pkts, 1);
	env_fini(&e);
}

static void test_mac_move(void **state)
{
	struct vsw_bridge_stats st;
	struct env e;
	(void)state;

	env_init(&e, 0);
	send_frame(&e, 0, 7, 0);
	assert_int_equal(lookup(&e, 7), (int)vsw_port_no(e.p[0]));
	send_frame(&e, 1, 7, 0); /* the VM moved behind p1 */
	assert_int_equal(lookup(&e, 7), (int)vsw_port_no(e.p[1]));
	vsw_bridge_get_stats(e.br, &st);
	assert_int_equal(st.fdb_moves, 1);
	assert_int_equal(st.fdb_learned, 1);
	assert_int_equal(st.fdb_entries, 1);
	memset(e.r, 0, sizeof(e.r));
	send_frame(&e, 2, 8, 7);
	assert_int_equal(e.r[1].pkts, 1);
	assert_int_equal(e.r[0].pkts, 0);
	env_fini(&e);
}

static void test_table_full(void **state)
{
	struct vsw_bridge_stats st;
	struct vsw_port_stats ps;
	struct env e;
	(void)state;

	env_init(&e, 4);
	for (unsigned id = 1; id <= 6; id++)
		send_frame(&e, 0, id, 0);
	/* never a locked table: the port holding the most entries (p0 itself) gives up
	 * its oldest ones for the new MACs */
	vsw_bridge_get_stats(e.br, &st);
	assert_int_equal(st.fdb_entries, 4);
	assert_int_equal(st.fdb_learned, 6);
	assert_int_equal(st.fdb_evicted, 2);
	assert_int_equal(st.fdb_learn_full, 0);
	assert_int_equal(lookup(&e, 1), -1);
	assert_int_equal(lookup(&e, 2), -1);
	assert_int_equal(lookup(&e, 6), (int)vsw_port_no(e.p[0]));
	/* the frames were still forwarded: 6 broadcasts reached each other port */
	assert_int_equal(e.r[1].pkts, 6);
	assert_int_equal(e.r[2].pkts, 6);
	vsw_port_get_stats(e.p[0], &ps);
	assert_int_equal(ps.rx_packets, 6);
	/* p1's first MAC takes one of p0's (p0 holds the most) */
	send_frame(&e, 1, 9, 0);
	assert_int_equal(lookup(&e, 9), (int)vsw_port_no(e.p[1]));
	assert_int_equal(lookup(&e, 3), -1);
	env_fini(&e);
}

static void port_fdb(struct env *e, int p, struct vsw_port_fdb_stats *fs)
{
	vsw_port_get_fdb_stats(e->p[p], fs);
}

/* A port at its limit gives up its own oldest entry (least recently seen). */
static void test_port_limit_eviction_order(void **state)
{
	struct vsw_port_fdb_stats fs;
	struct env e;
	(void)state;

	env_init(&e, 0);
	assert_int_equal(vsw_port_get_mac_limit(e.p[0]), VSW_FDB_PORT_DEFAULT_MAX);
	assert_int_equal(vsw_port_set_mac_limit(e.p[0], 4), 0);
	assert_int_equal(vsw_port_get_mac_limit(e.p[0]), 4);
	assert_int_equal(vsw_port_set_mac_limit(e.p[0], VSW_FDB_MAX_ENTRIES + 1), -EINVAL);
	for (unsigned id = 1; id <= 4; id++) {
		send_frame(&e, 0, id, 0);
		fake_now += SEC;
	}
	send_frame(&e, 0, 1, 0); /* 1 seen again: now 2 is the oldest */
	fake_now += SEC;
	send_frame(&e, 0, 5, 0);
	assert_int_equal(lookup(&e, 2), -1);
	assert_int_equal(lookup(&e, 1), (int)vsw_port_no(e.p[0]));
	assert_int_equal(lookup(&e, 3), (int)vsw_port_no(e.p[0]));
	assert_int_equal(lookup(&e, 5), (int)vsw_port_no(e.p[0]));
	send_frame(&e, 0, 6, 0); /* then 3 */
	assert_int_equal(lookup(&e, 3), -1);
	assert_int_equal(lookup(&e, 4), (int)vsw_port_no(e.p[0]));
	port_fdb(&e, 0, &fs);
	assert_int_equal(fs.entries, 4);
	assert_int_equal(fs.limit, 4);
	assert_int_equal(fs.learnt, 6);
	assert_int_equal(fs.evicted, 2);
	assert_int_equal(fs.limit_hits, 2);
	/* lowering the limit evicts the oldest at once: 4, 1 go (1 was refreshed
	 * before 5 and 6 were learnt) */
	assert_int_equal(vsw_port_set_mac_limit(e.p[0], 2), 0);
	assert_int_equal(lookup(&e, 4), -1);
	assert_int_equal(lookup(&e, 1), -1);
	assert_int_equal(lookup(&e, 5), (int)vsw_port_no(e.p[0]));
	assert_int_equal(lookup(&e, 6), (int)vsw_port_no(e.p[0]));
	/* an entry that expired before eviction counts as aged, not evicted */
	fake_now += 400 * SEC;
	send_frame(&e, 0, 7, 0);
	port_fdb(&e, 0, &fs);
	assert_int_equal(fs.evicted, 4);
	/* 0: back to the bridge default */
	assert_int_equal(vsw_port_set_mac_limit(e.p[0], 0), 0);
	assert_int_equal(vsw_port_get_mac_limit(e.p[0]), VSW_FDB_PORT_DEFAULT_MAX);
	env_fini(&e);
}

/* A flood of random source MACs on one port never evicts another port's entries,
 * nor a static entry, and stays at its limit; the table never locks. */
static void test_flood_keeps_other_ports(void **state)
{
	struct vsw_port_fdb_stats fs;
	struct vsw_bridge_stats st;
	uint8_t mac[6];
	struct env e;
	(void)state;

	env_init(&e, 64);
	mac_of(mac, 100);
	assert_int_equal(vsw_fdb_add_static(e.br, 0, mac, e.p[0]), 0);
	send_frame(&e, 1, 1, 0);
	send_frame(&e, 1, 2, 0);
	send_frame(&e, 2, 3, 0);
	/* per-port limit above the table: the table bound applies (same rule) */
	for (unsigned id = 1000; id < 11000; id++) {
		send_frame(&e, 0, id, 0);
		if (id % 1000 == 0)
			fake_now += SEC; /* the guests keep talking */
		if (id % 1000 == 0) {
			send_frame(&e, 1, 1, 0);
			send_frame(&e, 1, 2, 0);
			send_frame(&e, 2, 3, 0);
		}
	}
	assert_int_equal(lookup(&e, 1), (int)vsw_port_no(e.p[1]));
	assert_int_equal(lookup(&e, 2), (int)vsw_port_no(e.p[1]));
	assert_int_equal(lookup(&e, 3), (int)vsw_port_no(e.p[2]));
	assert_int_equal(lookup(&e, 100), (int)vsw_port_no(e.p[0]));
	assert_int_equal(lookup(&e, 10999), (int)vsw_port_no(e.p[0]));
	vsw_bridge_get_stats(e.br, &st);
	assert_int_equal(st.fdb_entries, 64);
	assert_int_equal(st.fdb_learn_full, 0);
	port_fdb(&e, 0, &fs);
	assert_int_equal(fs.entries, 64 - 4);
	assert_int_equal(fs.limit, 64);
	assert_int_equal(fs.learnt, 10000);
	port_fdb(&e, 1, &fs);
	assert_int_equal(fs.entries, 2);
	assert_int_equal(fs.evicted, 0);
	/* with a port limit of 16 the flooder holds 16 and others can learn freely */
	assert_int_equal(vsw_port_set_mac_limit(e.p[0], 16), 0);
	for (unsigned id = 20000; id < 20100; id++)
		send_frame(&e, 0, id, 0);
	for (unsigned id = 4; id < 30; id++)
		send_frame(&e, 2, id, 0);
	port_fdb(&e, 0, &fs);
	assert_int_equal(fs.entries, 16);
	port_fdb(&e, 2, &fs);
	assert_int_equal(fs.entries, 27);
	assert_int_equal(fs.evicted, 0);
	assert_int_equal(lookup(&e, 1), (int)vsw_port_no(e.p[1]));
	env_fini(&e);
}

/* Static entries are never evicted; a table full of them refuses learning
 * (counted), and the frames are still forwarded. */
static void test_static_kept(void **state)
{
	struct vsw_bridge_stats st;
	uint8_t mac[6];
	struct env e;
	(void)state;

	env_init(&e, 4);
	for (unsigned id = 1; id <= 3; id++) {
		mac_of(mac, id);
		assert_int_equal(vsw_fdb_add_static(e.br, 0, mac, e.p[1]), 0);
	}
	for (unsigned id = 10; id < 20; id++)
		send_frame(&e, 0, id, 0);
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(lookup(&e, id), (int)vsw_port_no(e.p[1]));
	assert_int_equal(lookup(&e, 19), (int)vsw_port_no(e.p[0]));
	mac_of(mac, 4);
	/* an operator's static entry takes a dynamic entry's place in a full table */
	assert_int_equal(vsw_fdb_add_static(e.br, 0, mac, e.p[1]), 0);
	assert_int_equal(lookup(&e, 19), -1);
	vsw_bridge_get_stats(e.br, &st);
	assert_int_equal(st.fdb_entries, 4);
	mac_of(mac, 5);
	assert_int_equal(vsw_fdb_add_static(e.br, 0, mac, e.p[1]), -ENOSPC);
	e.r[1].pkts = 0;
	send_frame(&e, 0, 20, 0);
	vsw_bridge_get_stats(e.br, &st);
	assert_int_equal(st.fdb_learn_full, 1);
	assert_int_equal(e.r[1].pkts, 1); /* still forwarded */
	for (unsigned id = 1; id <= 4; id++)
		assert_int_equal(lookup(&e, id), (int)vsw_port_no(e.p[1]));
	env_fini(&e);
}

static void test_ageing_set_get(void **state)
{
	struct env e;
	(void)state;

	env_init(&e, 0);
	assert_int_equal(vsw_bridge_get_ageing(e.br), 300);
	assert_int_equal(vsw_bridge_set_ageing(e.br, 0), -EINVAL);
	assert_int_equal(vsw_bridge_set_ageing(e.br, VSW_FDB_AGEING_MAX_S + 1), -EINVAL);
	assert_int_equal(vsw_bridge_get_ageing(e.br), 300);
	send_frame(&e, 0, 1, 0);
	fake_now += 20 * SEC;
	send_frame(&e, 0, 2, 0);
	assert_int_equal(vsw_bridge_set_ageing(e.br, 10), 0);
	assert_int_equal(vsw_bridge_get_ageing(e.br), 10);
	assert_int_equal(lookup(&e, 1), -1); /* 20 s old: gone under 10 s ageing */
	assert_int_equal(lookup(&e, 2), (int)vsw_port_no(e.p[0]));
	fake_now += 10 * SEC;
	assert_int_equal(vsw_fdb_age(e.br), 1);
	assert_int_equal(lookup(&e, 2), -1);
	assert_int_equal(vsw_bridge_set_ageing(e.br, VSW_FDB_AGEING_MAX_S), 0);
	send_frame(&e, 0, 3, 0);
	fake_now += 100000 * SEC;
	assert_int_equal(lookup(&e, 3), (int)vsw_port_no(e.p[0]));
	env_fini(&e);
}

/* The bridge default applies to ports without their own limit; a re-used port
 * number starts from the defaults; a MAC moving in counts against the new port. */
static void test_bridge_default_limit(void **state)
{
	struct vsw_port_fdb_stats fs;
	struct vsw_port *q;
	struct env e;
	(void)state;

	env_init(&e, 0);
	assert_int_equal(vsw_bridge_get_mac_limit(e.br), VSW_FDB_PORT_DEFAULT_MAX);
	assert_int_equal(vsw_port_set_mac_limit(e.p[1], 5), 0);
	for (unsigned id = 1; id <= 5; id++) {
		send_frame(&e, 0, id, 0);
		send_frame(&e, 1, 100 + id, 0);
		fake_now += SEC;
	}
	assert_int_equal(vsw_bridge_set_mac_limit(e.br, 0), -EINVAL);
	assert_int_equal(vsw_bridge_set_mac_limit(e.br, 3), 0);
	assert_int_equal(vsw_bridge_get_mac_limit(e.br), 3);
	port_fdb(&e, 0, &fs);
	assert_int_equal(fs.entries, 3);
	assert_int_equal(fs.limit, 3);
	assert_int_equal(lookup(&e, 2), -1);
	assert_int_equal(lookup(&e, 3), (int)vsw_port_no(e.p[0]));
	port_fdb(&e, 1, &fs);
	assert_int_equal(fs.entries, 5); /* its own limit */
	/* MAC 101 moves from p1 to p0, which is at its limit: p0's oldest (3) goes */
	send_frame(&e, 0, 101, 0);
	assert_int_equal(lookup(&e, 101), (int)vsw_port_no(e.p[0]));
	assert_int_equal(lookup(&e, 3), -1);
	port_fdb(&e, 0, &fs);
	assert_int_equal(fs.entries, 3);
	port_fdb(&e, 1, &fs);
	assert_int_equal(fs.entries, 4);
	/* a port re-using p1's number starts with the default and zero counters */
	uint32_t no = vsw_port_no(e.p[1]);
	assert_int_equal(vsw_port_del(e.br, e.p[1]), 0);
	assert_int_equal(vsw_port_add(e.br, "p1b", &rec_ops, &e.r[1], 0, &q), 0);
	assert_int_equal(vsw_port_no(q), no);
	vsw_port_get_fdb_stats(q, &fs);
	assert_int_equal(fs.limit, 3);
	assert_int_equal(fs.learnt, 0);
	assert_int_equal(fs.entries, 0);
	env_fini(&e);
}

struct dump_acc {
	unsigned n, n_static;
	uint32_t port_of_id5;
	uint64_t age_of_id5;
};

static int dump_cb(const struct vsw_fdb_entry *ent, void *arg)
{
	struct dump_acc *a = arg;

	a->n++;
	a->n_static += ent->is_static;
	if (ent->mac[5] == 5 && ent->mac[0] == 2) {
		a->port_of_id5 = ent->port_no;
		a->age_of_id5 = ent->age_ns;
	}
	return 0;
}

static void test_static_and_dump(void **state)
{
	struct dump_acc a = {0};
	uint8_t mac[6];
	struct env e;
	(void)state;

	env_init(&e, 0);
	mac_of(mac, 5);
	assert_int_equal(vsw_fdb_add_static(e.br, 0, mac, e.p[2]), 0);
	uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(vsw_fdb_add_static(e.br, 0, bcast, e.p[2]), -EINVAL);
	send_frame(&e, 0, 1, 0);
	fake_now += 10 * SEC;
	send_frame(&e, 1, 5, 0); /* learning must not move a static entry */
	assert_int_equal(lookup(&e, 5), (int)vsw_port_no(e.p[2]));
	fake_now += 1000 * SEC; /* static entries never age */
	assert_int_equal(vsw_fdb_age(e.br), 1);
	assert_int_equal(lookup(&e, 5), (int)vsw_port_no(e.p[2]));
	send_frame(&e, 0, 1, 0);
	fake_now += 3 * SEC;
	assert_int_equal(vsw_fdb_dump(e.br, dump_cb, &a), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.n_static, 1);
	assert_int_equal(a.port_of_id5, vsw_port_no(e.p[2]));
	assert_int_equal(a.age_of_id5, 0);
	assert_int_equal(vsw_fdb_del(e.br, 0, mac), 0);
	assert_int_equal(vsw_fdb_del(e.br, 0, mac), -ENOENT);
	assert_int_equal(lookup(&e, 5), -1);
	env_fini(&e);
}

static void test_flush_on_port_del(void **state)
{
	struct vsw_bridge_stats st;
	struct vsw_port *q;
	struct env e;
	uint8_t mac[6];
	(void)state;

	env_init(&e, 0);
	send_frame(&e, 1, 1, 0);
	send_frame(&e, 1, 2, 0);
	send_frame(&e, 0, 3, 0);
	mac_of(mac, 4);
	assert_int_equal(vsw_fdb_add_static(e.br, 0, mac, e.p[1]), 0);
	uint32_t old_no = vsw_port_no(e.p[1]);
	assert_int_equal(vsw_port_del(e.br, e.p[1]), 0);
	vsw_bridge_get_stats(e.br, &st);
	assert_int_equal(st.fdb_entries, 1);
	assert_int_equal(st.ports, 2);
	/* the number is reused; nothing stale points at the new port */
	assert_int_equal(vsw_port_add(e.br, "p1b", &rec_ops, &e.r[1], 0, &q), 0);
	assert_int_equal(vsw_port_no(q), old_no);
	assert_int_equal(lookup(&e, 1), -1);
	assert_int_equal(lookup(&e, 4), -1);
	assert_int_equal(lookup(&e, 3), (int)vsw_port_no(e.p[0]));
	env_fini(&e);
}

static int count_cb(struct vsw_bridge *br, void *arg)
{
	(void)br;
	(*(unsigned *)arg)++;
	return 0;
}

static void test_registry(void **state)
{
	struct vsw_bridge *a, *b, *c;
	struct vsw_switch *sw;
	unsigned n = 0;
	(void)state;

	assert_int_equal(vsw_switch_create(&sw), 0);
	assert_int_equal(vsw_bridge_find(sw, "br0", &a), -ENOENT);
	assert_int_equal(vsw_bridge_get_or_create(sw, "br0", &a), 0);
	assert_int_equal(vsw_bridge_get_or_create(sw, "br0", &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(vsw_bridge_get_or_create(sw, "br1", &c), 0);
	assert_ptr_not_equal(a, c);
	assert_string_equal(vsw_bridge_name(c), "br1");
	assert_int_equal(vsw_bridge_get_or_create(sw, "", &b), -EINVAL);
	assert_null(b);
	assert_int_equal(vsw_switch_foreach(sw, count_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(vsw_bridge_del(sw, "br0"), 0);
	assert_int_equal(vsw_bridge_del(sw, "br0"), -ENOENT);
	assert_int_equal(vsw_bridge_find(sw, "br1", &b), 0);
	assert_ptr_equal(b, c);
	vsw_switch_destroy(sw);
	vsw_switch_destroy(NULL);
	vsw_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ageing),
		cmocka_unit_test(test_mac_move),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_port_limit_eviction_order),
		cmocka_unit_test(test_flood_keeps_other_ports),
		cmocka_unit_test(test_static_kept),
		cmocka_unit_test(test_ageing_set_get),
		cmocka_unit_test(test_bridge_default_limit),
		cmocka_unit_test(test_static_and_dump),
		cmocka_unit_test(test_flush_on_port_del),
		cmocka_unit_test(test_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
