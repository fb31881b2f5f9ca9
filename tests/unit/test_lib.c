/* SPDX-License-Identifier: MIT */
/* The bottom layer (lib/): the one MAC parser, the clock, the byte-order
 * helpers and the Internet checksum every tool and module uses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvnet/io/vif.h>
#include <pvnet/lib.h>

static void test_mac_parse_accepts(void **state)
{
	uint8_t m[6];
	char out[18];
	(void)state;

	assert_int_equal(pvnet_mac_parse("00:16:3e:Aa:bB:ff", m), 0);
	assert_memory_equal(m, "\x00\x16\x3e\xaa\xbb\xff", 6);
	pvnet_mac_format(m, out);
	assert_string_equal(out, "00:16:3e:aa:bb:ff");
	/* syntax only: multicast, broadcast and zero MACs parse (callers decide) */
	assert_int_equal(pvnet_mac_parse("ff:ff:ff:ff:ff:ff", m), 0);
	assert_int_equal(pvnet_mac_parse("00:00:00:00:00:00", m), 0);
}

static void test_mac_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"00:16:3e:aa:bb",     /* short */
		"00:16:3e:aa:bb:ff:", /* trailing separator */
		"00:16:3e:aa:bb:ff0", /* trailing digit */
		"00-16-3e-aa-bb-ff",  /* other separator */
		"0g:16:3e:aa:bb:ff",  /* not hex */
		"0:16:3e:aa:bb:ff",   /* one digit (sscanf's %x took it) */
		"100:16:3e:aa:bb:ff", /* three digits */
		" 00:16:3e:aa:bb:ff", /* leading blank */
		"",
	};
	uint8_t m[6] = {1, 2, 3, 4, 5, 6};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pvnet_mac_parse(bad[i], m), -EINVAL);
		assert_memory_equal(m, "\x01\x02\x03\x04\x05\x06", 6); /* untouched */
	}
	assert_int_equal(pvnet_mac_parse(NULL, m), -EINVAL);
}

/* Reference checksum: a plain sum of 16-bit words, carries folded at the end. */
static uint16_t ref_csum(const uint8_t *a, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i += 2)
		s += (uint64_t)a[i] * 256 + (i + 1 < n ? a[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void test_csum_vectors(void **state)
{
	/* RFC 1071 section 3 example: sum 0xddf2 */
	static const uint8_t v[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	static uint8_t big[200000];
	uint8_t rnd[1501];
	(void)state;

	assert_int_equal(pvnet_csum_fold(pvnet_csum_partial(v, 8, 0)), 0xddf2);
	assert_int_equal(pvnet_csum_finish(pvnet_csum_partial(v, 8, 0)), (uint16_t)~0xddf2);
	srand(7);
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)rand();
	for (uint32_t n = 0; n <= sizeof(rnd); n += 37)
		assert_int_equal(pvnet_csum_finish(pvnet_csum_partial(rnd, n, 0)),
				 ref_csum(rnd, n));
	/* split sums compose when the split is at an even offset */
	assert_int_equal(pvnet_csum_finish(pvnet_csum_partial(rnd + 600, 901,
							      pvnet_csum_partial(rnd, 600, 0))),
			 ref_csum(rnd, 1501));
	/* all-ones words over more than 64 KiB: the carries are kept */
	memset(big, 0xff, sizeof(big));
	big[7] = 0x12;
	assert_int_equal(pvnet_csum_finish(pvnet_csum_partial(big, sizeof(big), 0)),
			 ref_csum(big, sizeof(big)));
}

static void test_csum_pseudo(void **state)
{
	/* IPv4 10.0.0.1 -> 10.0.0.2, UDP, 8-byte header with a zero checksum */
	uint8_t ip4[20] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
	uint8_t ph4[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 8};
	uint8_t ip6[40] = {0x60};
	uint8_t ph6[40] = {0};
	(void)state;

	assert_int_equal(pvnet_csum_fold(pvnet_csum_pseudo4(ip4, 17, 8)),
			 pvnet_csum_fold(pvnet_csum_partial(ph4, 12, 0)));
	for (int i = 0; i < 32; i++)
		ip6[8 + i] = ph6[i] = (uint8_t)(i * 7 + 1);
	ph6[32] = 0, ph6[33] = 1, ph6[34] = 0x23, ph6[35] = 0x45; /* length 0x12345 */
	ph6[39] = 6;
	assert_int_equal(pvnet_csum_fold(pvnet_csum_pseudo6(ip6, 6, 0x12345)),
			 pvnet_csum_fold(pvnet_csum_partial(ph6, 40, 0)));
}

static void test_byte_order(void **state)
{
	uint8_t b[8];
	(void)state;

	pvnet_wr16(b, 0x1234);
	assert_memory_equal(b, "\x12\x34", 2);
	assert_int_equal(pvnet_rd16(b), 0x1234);
	pvnet_wr32(b, 0x89abcdefu);
	assert_memory_equal(b, "\x89\xab\xcd\xef", 4);
	assert_int_equal(pvnet_rd32(b), 0x89abcdefu);
	pvnet_wr64(b, 0x0102030405060708ull);
	assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_true(pvnet_rd64(b) == 0x0102030405060708ull);
}

static void test_clock(void **state)
{
	uint64_t a, b;
	(void)state;

	a = pvnet_now_ns();
	b = pvnet_now_ns();
	assert_true(a > 0 && b >= a);
	assert_true(pvnet_now_ms() >= a / 1000000u);
	assert_true(pvnet_clock_ns(CLOCK_REALTIME) > 1600000000ull * 1000000000ull);
	assert_int_equal(pvnet_clock_ns((clockid_t)-99), 0); /* bad clock: 0 */
}

/* The vif-mode vocabulary both the toolstack and netfront use (pvnet/io/vif.h). */
static void test_vif_mode(void **state)
{
	static const char *const bad[] = {"TAP", "tap ", "", "pktgen0", "bridge"};
	enum pvnet_vif_mode m = PVNET_VIF_MODE_SINK;
	(void)state;

	for (int i = PVNET_VIF_MODE_TAP; i <= PVNET_VIF_MODE_SINK; i++) {
		assert_int_equal(pvnet_vif_mode_parse(pvnet_vif_mode_name((enum pvnet_vif_mode)i),
						      &m),
				 0);
		assert_int_equal(m, i);
	}
	assert_string_equal(pvnet_vif_mode_name(PVNET_VIF_MODE_PKTGEN), "pktgen");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pvnet_vif_mode_parse(bad[i], &m), -EINVAL);
		assert_int_equal(m, PVNET_VIF_MODE_SINK); /* untouched */
	}
	assert_int_equal(pvnet_vif_mode_parse(NULL, &m), -EINVAL);
	assert_string_equal(pvnet_vif_mode_name((enum pvnet_vif_mode)7), "?");
}

/* The namespace name check netfront and pvnetd share, and removal refusing a bad name. */
static void test_netns_names(void **state)
{
	char name[201];

	(void)state;
	assert_true(pvnet_netns_name_ok("web1"));
	assert_true(pvnet_netns_name_ok("a"));
	assert_true(pvnet_netns_name_ok("..."));
	memset(name, 'n', sizeof(name) - 1);
	name[199] = 0;
	assert_true(pvnet_netns_name_ok(name)); /* 199 bytes */
	name[199] = 'n';
	name[200] = 0;
	assert_false(pvnet_netns_name_ok(name)); /* 200 bytes */
	assert_false(pvnet_netns_name_ok(""));
	assert_false(pvnet_netns_name_ok("."));
	assert_false(pvnet_netns_name_ok(".."));
	assert_false(pvnet_netns_name_ok("a/b"));
	assert_false(pvnet_netns_name_ok("/x"));
	/* refused before anything under /run/netns is touched */
	assert_int_equal(pvnet_netns_remove("../netns"), -EINVAL);
	assert_int_equal(pvnet_netns_remove(".."), -EINVAL);
	assert_int_equal(pvnet_netns_remove(""), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_parse_accepts), cmocka_unit_test(test_mac_parse_refuses),
		cmocka_unit_test(test_csum_vectors),      cmocka_unit_test(test_csum_pseudo),
		cmocka_unit_test(test_byte_order),        cmocka_unit_test(test_clock),
		cmocka_unit_test(test_vif_mode),          cmocka_unit_test(test_netns_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
