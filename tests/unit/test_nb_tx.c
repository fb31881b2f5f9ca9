/* Unit tests for netback's guest-TX validator (netback/tx_parse.c): one case per
 * rule of Linux netback / reference §3-4, and for the in-order response logic
 * (netback/tx_cmpl.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../netback/nb_private.h"

#define MAXR 64

static struct netif_tx_request reqs[MAXR];

/* A packet of `nfrags` data slots, each `fsize` bytes (slot 0 carries the total). */
static unsigned make_pkt(unsigned nfrags, uint16_t fsize)
{
	memset(reqs, 0, sizeof(reqs));
	for (unsigned i = 0; i < nfrags; i++) {
		reqs[i].gref = 100 + i;
		reqs[i].id = (uint16_t)i;
		reqs[i].size = fsize;
		reqs[i].flags = i + 1 < nfrags ? NETTXF_more_data : 0;
	}
	reqs[0].size = (uint16_t)(fsize * nfrags);
	return nfrags;
}

static void set_extra(unsigned slot, uint8_t type, uint8_t flags, uint16_t gso_size,
		      uint8_t gso_type)
{
	struct netif_extra_info ex = {.type = type, .flags = flags};
	ex.u.gso.size = gso_size;
	ex.u.gso.type = gso_type;
	memset(&reqs[slot], 0, sizeof(reqs[slot]));
	memcpy(&reqs[slot], &ex, sizeof(ex));
}

static void test_single_slot_ok(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(1, 60);
	assert_int_equal(nb_tx_parse(reqs, 1, &d), NB_TX_OK);
	assert_int_equal(d.nr_slots, 1);
	assert_int_equal(d.nr_data, 1);
	assert_int_equal(d.len, 60);
	assert_int_equal(d.first_size, 60);
}

static void test_19_slots_accepted(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(19, 100);
	assert_int_equal(nb_tx_parse(reqs, 19, &d), NB_TX_OK);
	assert_int_equal(d.nr_data, 19);
	assert_int_equal(d.first_size, 100);
}

static void test_20_and_21_slots_dropped(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(20, 100);
	assert_int_equal(nb_tx_parse(reqs, 20, &d), NB_TX_DROP);
	assert_int_equal(d.reason, NB_DROP_TX_TOO_MANY_SLOTS);
	assert_int_equal(d.nr_slots, 20); /* every slot consumed and answered */
	make_pkt(21, 100);
	assert_int_equal(nb_tx_parse(reqs, 21, &d), NB_TX_DROP);
	assert_int_equal(d.nr_slots, 21);
}

static void test_22_slots_fatal(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(22, 100);
	assert_int_equal(nb_tx_parse(reqs, 22, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_TOO_MANY_SLOTS);
	make_pkt(40, 100);
	assert_int_equal(nb_tx_parse(reqs, 40, &d), NB_TX_FATAL);
}

static void test_chain_past_queue_fatal(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(5, 100);
	assert_int_equal(nb_tx_parse(reqs, 4, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_CHAIN_TRUNCATED);
}

static void test_page_overflow_fatal(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(3, 100);
	reqs[2].offset = 4000; /* 4000 + 100 > 4096 */
	assert_int_equal(nb_tx_parse(reqs, 3, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_PAGE_OVERFLOW);
	make_pkt(1, 200);
	reqs[0].offset = 3900;
	assert_int_equal(nb_tx_parse(reqs, 1, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_PAGE_OVERFLOW);
	make_pkt(1, 200);
	reqs[0].offset = 3896; /* exactly to the end of the page */
	assert_int_equal(nb_tx_parse(reqs, 1, &d), NB_TX_OK);
}

static void test_runt_dropped(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(1, 13);
	assert_int_equal(nb_tx_parse(reqs, 1, &d), NB_TX_DROP);
	assert_int_equal(d.reason, NB_DROP_TX_RUNT);
	/* total 100 but the followers take 90: slot 0 has 10 bytes */
	make_pkt(2, 50);
	reqs[0].size = 100;
	reqs[1].size = 90;
	assert_int_equal(nb_tx_parse(reqs, 2, &d), NB_TX_DROP);
	assert_int_equal(d.reason, NB_DROP_TX_RUNT);
	make_pkt(1, 14);
	assert_int_equal(nb_tx_parse(reqs, 1, &d), NB_TX_OK);
}

static void test_frag_larger_than_remaining_dropped(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(3, 100);
	reqs[0].size = 150; /* the followers claim 200 */
	assert_int_equal(nb_tx_parse(reqs, 3, &d), NB_TX_DROP);
	assert_int_equal(d.reason, NB_DROP_TX_FRAG_OVERFLOW);
	assert_int_equal(d.nr_slots, 3);
}

static void test_zero_size_frag_dropped(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(3, 100);
	reqs[2].size = 0;
	assert_int_equal(nb_tx_parse(reqs, 3, &d), NB_TX_DROP);
	assert_int_equal(d.reason, NB_DROP_TX_ZERO_FRAG);
	assert_int_equal(d.nr_slots, 3);
}

static void test_gso_extra_ok(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(3, 1000);
	/* slot 0, extra, then the two followers */
	memmove(&reqs[2], &reqs[1], 2 * sizeof(reqs[0]));
	reqs[0].flags |= NETTXF_extra_info | NETTXF_csum_blank;
	set_extra(1, XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(nb_tx_parse(reqs, 4, &d), NB_TX_OK);
	assert_int_equal(d.nr_slots, 4);
	assert_int_equal(d.nr_extras, 1);
	assert_int_equal(d.nr_data, 3);
	assert_int_equal(d.gso_type, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(d.gso_size, 1448);
}

static void test_extra_type_fatal(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(2, 100);
	reqs[0].flags = NETTXF_extra_info;
	reqs[0].size = 100;
	set_extra(1, XEN_NETIF_EXTRA_TYPE_NONE, 0, 0, 0);
	assert_int_equal(nb_tx_parse(reqs, 2, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_EXTRA_TYPE);
	set_extra(1, XEN_NETIF_EXTRA_TYPE_MAX, 0, 0, 0);
	assert_int_equal(nb_tx_parse(reqs, 2, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_EXTRA_TYPE);
}

static void test_extra_missing_fatal(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(1, 100);
	reqs[0].flags = NETTXF_extra_info;
	assert_int_equal(nb_tx_parse(reqs, 1, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_CHAIN_TRUNCATED);
	/* an extra that says MORE with nothing after it */
	set_extra(1, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_FLAG_MORE, 0, 0);
	assert_int_equal(nb_tx_parse(reqs, 2, &d), NB_TX_FATAL);
}

static void test_gso_bad_fatal(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(1, 100);
	reqs[0].flags = NETTXF_extra_info;
	set_extra(1, XEN_NETIF_EXTRA_TYPE_GSO, 0, 0, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(nb_tx_parse(reqs, 2, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_GSO_SIZE);
	set_extra(1, XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, 7);
	assert_int_equal(nb_tx_parse(reqs, 2, &d), NB_TX_FATAL);
	assert_int_equal(d.reason, NB_TXF_GSO_TYPE);
}

static void test_mcast_extra_consumed(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(1, 0);
	reqs[0].flags = NETTXF_extra_info;
	set_extra(1, XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_FLAG_MORE, 0, 0);
	set_extra(2, XEN_NETIF_EXTRA_TYPE_MCAST_DEL, 0, 0, 0);
	assert_int_equal(nb_tx_parse(reqs, 3, &d), NB_TX_MCAST);
	assert_int_equal(d.nr_slots, 3);
	assert_int_equal(d.nr_extras, 2);
}

static void test_two_packets_back_to_back(void **state)
{
	struct nb_tx_desc d;
	(void)state;
	make_pkt(2, 100);
	reqs[2] = (struct netif_tx_request){.gref = 9, .size = 64, .id = 2};
	assert_int_equal(nb_tx_parse(reqs, 3, &d), NB_TX_OK);
	assert_int_equal(d.nr_slots, 2);
	assert_int_equal(nb_tx_parse(&reqs[2], 1, &d), NB_TX_OK);
	assert_int_equal(d.len, 64);
}

/* ---- in-order responses ---- */

static void test_cmpl_in_order_prefix(void **state)
{
	static struct nb_cmpl c;
	struct netif_tx_response rsp[NB_TX_RING];
	(void)state;

	nb_cmpl_init(&c, 0xfffffffeu); /* across the index wrap */
	for (unsigned i = 0; i < 6; i++)
		nb_cmpl_set(&c, 0xfffffffeu + i, (uint16_t)(10 + i), NETIF_RSP_OKAY);
	/* packet B (slots 2..3) completes before packet A (slots 0..1) */
	nb_cmpl_mark_ready(&c, 0xfffffffeu + 2, 2);
	assert_false(nb_cmpl_head_ready(&c));
	assert_int_equal(nb_cmpl_take(&c, rsp, NB_TX_RING), 0);
	nb_cmpl_set_status(&c, 0xfffffffeu + 1, NETIF_RSP_ERROR);
	nb_cmpl_mark_ready(&c, 0xfffffffeu, 2);
	assert_true(nb_cmpl_head_ready(&c));
	assert_int_equal(nb_cmpl_take(&c, rsp, NB_TX_RING), 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(rsp[i].id, 10 + i);
	assert_int_equal(rsp[1].status, NETIF_RSP_ERROR);
	assert_int_equal(c.next, 2u);
	/* slot 5 before 4: nothing until 4 completes */
	nb_cmpl_mark_ready(&c, 3, 1);
	assert_int_equal(nb_cmpl_take(&c, rsp, NB_TX_RING), 0);
	nb_cmpl_mark_ready(&c, 2, 1);
	assert_int_equal(nb_cmpl_take(&c, rsp, 1), 1); /* bounded by max */
	assert_int_equal(nb_cmpl_take(&c, rsp, NB_TX_RING), 1);
	assert_int_equal(rsp[0].id, 15);
	assert_int_equal(c.next, 4u);
}

static void test_cmpl_full_ring_reuse(void **state)
{
	static struct nb_cmpl c;
	struct netif_tx_response rsp[NB_TX_RING];
	(void)state;

	nb_cmpl_init(&c, 0);
	for (unsigned round = 0; round < 3; round++) {
		RING_IDX base = round * NB_TX_RING;
		for (unsigned i = 0; i < NB_TX_RING; i++)
			nb_cmpl_set(&c, base + i, (uint16_t)i, NETIF_RSP_OKAY);
		/* complete in reverse order: everything leaves on the last one */
		for (unsigned i = NB_TX_RING; i-- > 1;) {
			nb_cmpl_mark_ready(&c, base + i, 1);
			assert_int_equal(nb_cmpl_take(&c, rsp, NB_TX_RING), 0);
		}
		nb_cmpl_mark_ready(&c, base, 1);
		assert_int_equal(nb_cmpl_take(&c, rsp, NB_TX_RING), NB_TX_RING);
		assert_int_equal(rsp[255].id, 255);
	}
}

/* nb_cmpl_take_ring: the ready prefix straight into the shared ring's response
 * slots from rsp_prod_pvt on, across the index wrap, rsp_prod_pvt left alone. */
static void test_cmpl_take_ring(void **state)
{
	static struct nb_cmpl c;
	static _Alignas(4096) uint8_t page[4096];
	struct netif_tx_sring *s = (struct netif_tx_sring *)page;
	struct netif_tx_back_ring ring;
	RING_IDX start = 0xfffffffdu;
	(void)state;

	SHARED_RING_INIT(s);
	BACK_RING_INIT(&ring, s, sizeof(page));
	ring.rsp_prod_pvt = start;
	nb_cmpl_init(&c, start);
	for (unsigned i = 0; i < 5; i++)
		nb_cmpl_set(&c, start + i, (uint16_t)(40 + i), NETIF_RSP_OKAY);
	nb_cmpl_set_status(&c, start + 2, NETIF_RSP_ERROR);
	nb_cmpl_mark_ready(&c, start + 1, 3); /* not the head yet */
	assert_int_equal(nb_cmpl_take_ring(&c, &ring), 0);
	nb_cmpl_mark_ready(&c, start, 1);
	assert_int_equal(nb_cmpl_take_ring(&c, &ring), 4);
	assert_int_equal(ring.rsp_prod_pvt, start); /* the caller moves it */
	for (unsigned i = 0; i < 4; i++) {
		const struct netif_tx_response *r = RING_GET_RESPONSE(&ring, start + i);
		assert_int_equal(r->id, 40 + i);
		assert_int_equal(r->status, i == 2 ? NETIF_RSP_ERROR : NETIF_RSP_OKAY);
	}
	assert_int_equal(c.next, start + 4);
	ring.rsp_prod_pvt += 4;
	nb_cmpl_mark_ready(&c, start + 4, 1);
	assert_int_equal(nb_cmpl_take_ring(&c, &ring), 1);
	assert_int_equal(RING_GET_RESPONSE(&ring, start + 4)->id, 44);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_slot_ok),
		cmocka_unit_test(test_19_slots_accepted),
		cmocka_unit_test(test_20_and_21_slots_dropped),
		cmocka_unit_test(test_22_slots_fatal),
		cmocka_unit_test(test_chain_past_queue_fatal),
		cmocka_unit_test(test_page_overflow_fatal),
		cmocka_unit_test(test_runt_dropped),
		cmocka_unit_test(test_frag_larger_than_remaining_dropped),
		cmocka_unit_test(test_zero_size_frag_dropped),
		cmocka_unit_test(test_gso_extra_ok),
		cmocka_unit_test(test_extra_type_fatal),
		cmocka_unit_test(test_extra_missing_fatal),
		cmocka_unit_test(test_gso_bad_fatal),
		cmocka_unit_test(test_mcast_extra_consumed),
		cmocka_unit_test(test_two_packets_back_to_back),
		cmocka_unit_test(test_cmpl_in_order_prefix),
		cmocka_unit_test(test_cmpl_full_ring_reuse),
		cmocka_unit_test(test_cmpl_take_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
