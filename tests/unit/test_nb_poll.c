/* Unit tests for netback's polling-mode knob (netback/worker.c): the backend
 * `pvnet-poll` node that the vif key `poll=` becomes. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../netback/nb_private.h"

static int parse(const char *s, int64_t *ns)
{
	return nb_poll_parse_node(s, strlen(s), ns);
}

static void test_poll_words(void **state)
{
	int64_t ns = 123;

	(void)state;
	assert_int_equal(parse("on", &ns), 0);
	assert_true(ns < 0);
	assert_int_equal(parse("off", &ns), 0);
	assert_int_equal(ns, 0);
}

static void test_poll_window(void **state)
{
	int64_t ns = 0;

	(void)state;
	assert_int_equal(parse("1", &ns), 0);
	assert_int_equal(ns, 1000);
	assert_int_equal(parse("50", &ns), 0);
	assert_int_equal(ns, 50000);
	assert_int_equal(parse("1000000", &ns), 0);
	assert_int_equal(ns, 1000000000);
	/* the node is not NUL-terminated: only len bytes count */
	assert_int_equal(nb_poll_parse_node("25junk", 2, &ns), 0);
	assert_int_equal(ns, 25000);
}

static void test_poll_rejects(void **state)
{
	static const char *const bad[] = {"",   "0",   "1000001", "-5", "5us",
					  "ON", "onn", "of",      " 5", "99999999999999999999"};
	int64_t ns = 7;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &ns), -EINVAL);
		assert_int_equal(ns, 7); /* untouched on error */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_words),
		cmocka_unit_test(test_poll_window),
		cmocka_unit_test(test_poll_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
