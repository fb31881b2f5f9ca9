/* SPDX-License-Identifier: MIT */
/* The bottom layer (lib/): the one MAC parser every tool and module uses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_parse_accepts),
		cmocka_unit_test(test_mac_parse_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
