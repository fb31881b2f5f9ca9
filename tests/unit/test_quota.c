/* Unit tests for the per-domain ledger (hv/quota.c): settings syntax, charges at each limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/quota.h>

static void test_defaults_and_names(void **state)
{
	struct quota_limits l;
	(void)state;
	quota_limits_default(&l);
	assert_int_equal(l.v[QUOTA_XS_NODES], 1000);
	assert_int_equal(l.v[QUOTA_XS_WATCHES], 128);
	assert_int_equal(l.v[QUOTA_XS_TRANSACTIONS], 10);
	assert_int_equal(l.v[QUOTA_XS_VALUE_SIZE], 2048);
	for (int r = 0; r < QUOTA_NR; r++) {
		const char *n = quota_res_name((enum quota_res)r);
		assert_non_null(n);
		assert_non_null(quota_res_help((enum quota_res)r));
		assert_int_equal(quota_res_from_name(n), r);
		assert_true(quota_res_error((enum quota_res)r) < 0);
		assert_true(l.v[r] > 0);
	}
	assert_null(quota_res_name(QUOTA_NR));
	assert_int_equal(quota_res_from_name("no-such"), -ENOENT);
	assert_int_equal(quota_res_error(QUOTA_XS_WATCHES), -E2BIG);
	assert_int_equal(quota_res_error(QUOTA_XS_NODES), -ENOSPC);
	assert_int_equal(quota_res_error(QUOTA_XS_CONNS), -EDQUOT);
}

static void test_parse(void **state)
{
	struct quota_limits l;
	char err[256];
	(void)state;
	quota_limits_default(&l);
	assert_int_equal(quota_limits_parse(&l, "xs-nodes=5", err, sizeof(err)), 0);
	assert_int_equal(l.v[QUOTA_XS_NODES], 5);
	assert_int_equal(quota_limits_parse(&l, "  xs-watches = 7 \n", err, sizeof(err)), 0);
	assert_int_equal(l.v[QUOTA_XS_WATCHES], 7);
	assert_int_equal(quota_limits_parse(&l, "evtchns=unlimited", err, sizeof(err)), 0);
	assert_true(l.v[QUOTA_EVTCHNS] == QUOTA_UNLIMITED);
	assert_int_equal(quota_limits_parse(&l, "xs-nodes", err, sizeof(err)), -EINVAL);
	assert_int_equal(quota_limits_parse(&l, "bogus=1", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "bogus"));
	assert_int_equal(quota_limits_parse(&l, "xs-nodes=-1", err, sizeof(err)), -EINVAL);
	assert_int_equal(quota_limits_parse(&l, "xs-nodes=12x", err, sizeof(err)), -EINVAL);
	assert_int_equal(quota_limits_parse(&l, "xs-nodes=", err, sizeof(err)), -EINVAL);
	assert_int_equal(quota_limits_parse(&l, "xs-nodes=99999999999999999999999", err,
					    sizeof(err)),
			 -ERANGE);
	assert_int_equal(quota_limits_parse(&l, "rx-share-pct=101", err, sizeof(err)), -ERANGE);
	assert_int_equal(quota_limits_parse(&l, "rx-share-pct=0", NULL, 0), -ERANGE);
	/* Failed settings left the value alone. */
	assert_int_equal(l.v[QUOTA_XS_NODES], 5);
	assert_int_equal(l.v[QUOTA_RX_SHARE_PCT], 25);

	char buf[1024];
	int n = quota_limits_format(&l, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	assert_non_null(strstr(buf, "xs-nodes=5\n"));
	assert_non_null(strstr(buf, "evtchns=unlimited\n"));
	/* Round trip: every formatted line parses back. */
	struct quota_limits l2;
	quota_limits_default(&l2);
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		assert_int_equal(quota_limits_parse(&l2, line, NULL, 0), 0);
	assert_memory_equal(&l, &l2, sizeof(l));
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/pvnet-quota-XXXXXX";
	struct quota_limits l;
	char err[256];
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	const char *good = "# limits\n\nxs-nodes=50\n  xs-conns = 2\n";
	assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	close(fd);
	quota_limits_default(&l);
	assert_int_equal(quota_limits_load(&l, path, err, sizeof(err)), 0);
	assert_int_equal(l.v[QUOTA_XS_NODES], 50);
	assert_int_equal(l.v[QUOTA_XS_CONNS], 2);

	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("xs-nodes=60\n# ok\nxs-wathces=3\nxs-conns=9\n", f);
	fclose(f);
	assert_int_equal(quota_limits_load(&l, path, err, sizeof(err)), -ENOENT);
	/* The message names the file and the line. */
	char want[300];
	snprintf(want, sizeof(want), "%s:3:", path);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "xs-wathces"));
	assert_int_equal(l.v[QUOTA_XS_NODES], 60);
	assert_int_equal(l.v[QUOTA_XS_CONNS], 2);
	unlink(path);
	assert_int_equal(quota_limits_load(&l, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
}

static void test_charge_at_limit(void **state)
{
	struct quota_limits l;
	struct quota_ledger *q;
	(void)state;
	quota_limits_default(&l);
	l.v[QUOTA_XS_NODES] = 3;
	l.v[QUOTA_XS_WATCHES] = 2;
	assert_int_equal(quota_ledger_create(&l, &q), 0);
	assert_int_equal(quota_limit(q, QUOTA_XS_NODES), 3);

	assert_int_equal(quota_charge(q, 5, QUOTA_XS_NODES, 2), 0);
	assert_false(quota_would_exceed(q, 5, QUOTA_XS_NODES, 1));
	assert_true(quota_would_exceed(q, 5, QUOTA_XS_NODES, 2));
	assert_int_equal(quota_charge(q, 5, QUOTA_XS_NODES, 1), 0);
	assert_int_equal(quota_charge(q, 5, QUOTA_XS_NODES, 1), -ENOSPC);
	assert_int_equal(quota_usage(q, 5, QUOTA_XS_NODES), 3);
	assert_int_equal(quota_refusals(q, QUOTA_XS_NODES), 1);
	/* Another domain is not affected by domain 5 being full. */
	assert_int_equal(quota_charge(q, 6, QUOTA_XS_NODES, 3), 0);
	assert_int_equal(quota_usage(q, 6, QUOTA_XS_NODES), 3);
	/* Watches: Xen's E2BIG. */
	assert_int_equal(quota_charge(q, 5, QUOTA_XS_WATCHES, 2), 0);
	assert_int_equal(quota_charge(q, 5, QUOTA_XS_WATCHES, 1), -E2BIG);
	/* dom0 is counted, never refused. */
	assert_int_equal(quota_charge(q, 0, QUOTA_XS_NODES, 100000), 0);
	assert_int_equal(quota_usage(q, 0, QUOTA_XS_NODES), 100000);
	/* Forced charges go over the limit; then every normal charge is refused. */
	quota_charge_force(q, 5, QUOTA_XS_NODES, 2);
	assert_int_equal(quota_usage(q, 5, QUOTA_XS_NODES), 5);
	assert_int_equal(quota_charge(q, 5, QUOTA_XS_NODES, 0), -ENOSPC);
	quota_uncharge(q, 5, QUOTA_XS_NODES, 3);
	assert_int_equal(quota_charge(q, 5, QUOTA_XS_NODES, 1), 0);
	/* Uncharging more than held floors at 0. */
	quota_uncharge(q, 5, QUOTA_XS_NODES, 100);
	assert_int_equal(quota_usage(q, 5, QUOTA_XS_NODES), 0);
	quota_uncharge(q, 999, QUOTA_XS_NODES, 1);
	assert_int_equal(quota_usage(q, 999, QUOTA_XS_NODES), 0);
	/* Run-time limit change and unlimited. */
	quota_set_limit(q, QUOTA_XS_NODES, QUOTA_UNLIMITED);
	assert_int_equal(quota_charge(q, 5, QUOTA_XS_NODES, UINT64_MAX / 2), 0);
	/* Largest domid works. */
	assert_int_equal(quota_charge(q, 0xffff, QUOTA_EVTCHNS, 1), 0);
	assert_int_equal(quota_usage(q, 0xffff, QUOTA_EVTCHNS), 1);
	quota_domain_forget(q, 6);
	assert_int_equal(quota_usage(q, 6, QUOTA_XS_NODES), 0);
	assert_int_equal(quota_charge(q, 1, QUOTA_NR, 1), -EINVAL);
	quota_note_refusal(q, QUOTA_GNT_MAPS);
	assert_int_equal(quota_refusals(q, QUOTA_GNT_MAPS), 1);
	struct quota_limits got;
	quota_get_limits(q, &got);
	assert_true(got.v[QUOTA_XS_NODES] == QUOTA_UNLIMITED);
	quota_ledger_destroy(q);
	quota_ledger_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_names),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_charge_at_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
