/* SPDX-License-Identifier: MIT */
/* nb_flow_hash: the RX queue a multi-queue vif gives a packet (rx.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../netback/nb_private.h"

static struct pvnet_pkt pk;
static uint8_t frame[128];

/* An Ethernet + IPv4 (+ TCP/UDP ports) frame in `frame`, described by `pk`. */
static const struct pvnet_pkt *v4(uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
				  uint16_t dport, uint16_t frag)
{
	memset(frame, 0, sizeof(frame));
	memset(&pk, 0, sizeof(pk));
	frame[12] = 0x08;
	frame[14] = 0x45;
	frame[20] = (uint8_t)(frag >> 8);
	frame[21] = (uint8_t)frag;
	frame[23] = proto;
	for (int i = 0; i < 4; i++) {
		frame[26 + i] = (uint8_t)(src >> (24 - 8 * i));
		frame[30 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	frame[34] = (uint8_t)(sport >> 8);
	frame[35] = (uint8_t)sport;
	frame[36] = (uint8_t)(dport >> 8);
	frame[37] = (uint8_t)dport;
	pk.data = frame;
	pk.len = pk.head_size = 54;
	return &pk;
}

static void same_flow_same_hash(void **state)
{
	uint32_t h;

	(void)state;
	h = nb_flow_hash(v4(6, 0x0a000001, 0x0a000002, 41000, 5201, 0));
	/* the payload and the length do not matter */
	frame[60] = 0xff;
	pk.len = 1500;
	assert_int_equal(nb_flow_hash(&pk), h);
	assert_int_equal(nb_flow_hash(v4(6, 0x0a000001, 0x0a000002, 41000, 5201, 0)), h);
}

static void flows_spread_over_queues(void **state)
{
	unsigned per[2] = {0, 0}, per4[4] = {0, 0, 0, 0};

	(void)state;
	/* the test_multiqueue / iperf3 -P shape: one address pair, ports differ */
	for (uint16_t p = 0; p < 64; p++) {
		uint32_t h =
			nb_flow_hash(v4(6, 0x0a000001, 0x0a000002, (uint16_t)(41000 + p), 5201, 0));
		per[h % 2]++;
		per4[h % 4]++;
	}
	assert_true(per[0] >= 16 && per[1] >= 16);
	for (int i = 0; i < 4; i++)
		assert_true(per4[i] >= 6);
}

static void fragments_hash_alike(void **state)
{
	uint32_t first, later;

	(void)state;
	/* a first fragment (MF) and a later one (offset, no ports): same queue */
	first = nb_flow_hash(v4(17, 0x0a000001, 0x0a000002, 41000, 9000, 0x2000));
	later = nb_flow_hash(v4(17, 0x0a000001, 0x0a000002, 0x1234, 0x5678, 0x00b9));
	assert_int_equal(first, later);
}

static void ipv6_and_short_frames(void **state)
{
	uint32_t a, b;

	(void)state;
	memset(frame, 0, sizeof(frame));
	memset(&pk, 0, sizeof(pk));
	frame[12] = 0x86;
	frame[13] = 0xdd;
	frame[14 + 6] = 6; /* TCP */
	frame[14 + 8 + 15] = 1;
	frame[14 + 24 + 15] = 2;
	frame[54] = 0xa0;
	frame[55] = 0x28; /* source port 41000 */
	pk.data = frame;
	pk.len = pk.head_size = 74;
	a = nb_flow_hash(&pk);
	frame[55] = 0x29;
	b = nb_flow_hash(&pk);
	assert_int_not_equal(a, b);
	/* nothing is read past head_size: a frame cut anywhere still hashes */
	for (uint32_t n = 0; n <= 74; n++) {
		pk.head_size = n;
		(void)nb_flow_hash(&pk);
	}
	/* ARP and other EtherTypes: by MAC addresses */
	memset(frame, 0, sizeof(frame));
	frame[12] = 0x08;
	frame[13] = 0x06;
	pk.head_size = 42;
	a = nb_flow_hash(&pk);
	frame[11] = 9;
	assert_int_not_equal(nb_flow_hash(&pk), a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_flow_same_hash),
		cmocka_unit_test(flows_spread_over_queues),
		cmocka_unit_test(fragments_hash_alike),
		cmocka_unit_test(ipv6_and_short_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
