/* Unit tests for the store (hv/xs_store.c): tree, permissions, quotas, watches, transactions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/xs.h>

#include "../../hv/xs_private.h"

struct evlog {
	int n;
	char path[16][128];
	char token[16][64];
};

static void ev_cb(void *arg, const char *path, const char *token)
{
	struct evlog *l = arg;
	if (l->n < 16) {
		snprintf(l->path[l->n], sizeof(l->path[0]), "%s", path);
		snprintf(l->token[l->n], sizeof(l->token[0]), "%s", token);
	}
	l->n++;
}

static bool ev_has(const struct evlog *l, const char *path)
{
	for (int i = 0; i < l->n && i < 16; i++)
		if (!strcmp(l->path[i], path))
			return true;
	return false;
}

/* The ledger the store under test enforces (one per test, made by setup). */
static struct quota_ledger *g_led;

static int setup(void **state)
{
	struct quota_limits lim;
	struct xs_store *st;
	quota_limits_default(&lim);
	lim.v[QUOTA_XS_NODES] = 20;
	lim.v[QUOTA_XS_VALUE_SIZE] = 64;
	lim.v[QUOTA_XS_WATCHES] = 3;
	lim.v[QUOTA_XS_TRANSACTIONS] = 2;
	lim.v[QUOTA_XS_TX_NODES] = 8;
	lim.v[QUOTA_XS_PATH_SIZE] = 40;
	if (quota_ledger_create(&lim, &g_led) || xs_store_create(g_led, &st))
		return -1;
	if (xs_domain_introduce(st, 3, "g3") || xs_domain_introduce(st, 4, "g4"))
		return -1;
	xs_store_dispatch(st);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	xs_store_destroy(*state);
	/* Everything the store charged came back when it went. */
	for (domid_t d = 1; d < 8; d++)
		for (int r = QUOTA_XS_CONNS; r <= QUOTA_XS_WATCH_EVENTS; r++)
			if (quota_usage(g_led, d, (enum quota_res)r)) {
				fprintf(stderr, "leak: dom%u %s=%llu\n", d,
					quota_res_name((enum quota_res)r),
					(unsigned long long)quota_usage(g_led, d,
									(enum quota_res)r));
				return -1;
			}
	quota_ledger_destroy(g_led);
	g_led = NULL;
	return 0;
}

static void expect_val(struct xs_store *st, domid_t as, uint32_t tx, const char *path,
		       const char *want)
{
	char *v = NULL;
	size_t len = 0;
	assert_int_equal(xs_read(st, as, tx, path, &v, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_string_equal(v, want);
	free(v);
}

static void test_basic_ops(void **state)
{
	struct xs_store *st = *state;
	char **names;
	unsigned count;
	char *v;
	assert_int_equal(xs_write(st, 0, 0, "/a/b/c", "x", 1), 0);
	expect_val(st, 0, 0, "/a/b/c", "x");
	expect_val(st, 0, 0, "/a/b", "");
	assert_int_equal(xs_write(st, 0, 0, "/a/b/d", "", 0), 0);
	assert_int_equal(xs_directory(st, 0, 0, "/a/b", &names, &count), 0);
	assert_int_equal(count, 2);
	assert_string_equal(names[0], "c");
	assert_string_equal(names[1], "d");
	xs_free_list(names, count);
	assert_int_equal(xs_mkdir(st, 0, 0, "/a/e"), 0);
	assert_int_equal(xs_mkdir(st, 0, 0, "/a/e"), 0);
	assert_int_equal(xs_rm(st, 0, 0, "/a/b"), 0);
	assert_int_equal(xs_read(st, 0, 0, "/a/b/c", &v, NULL), -ENOENT);
	assert_int_equal(xs_rm(st, 0, 0, "/a/b"), -ENOENT);
	assert_int_equal(xs_rm(st, 0, 0, "/"), -EINVAL);
	assert_int_equal(xs_printf(st, 0, "/a/n", "%d", 42), 0);
	long long n;
	assert_int_equal(xs_read_int(st, 0, "/a/n", &n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(xs_read_int(st, 0, "/a/e", &n), -EINVAL);
	assert_int_equal(xs_read_int(st, 0, "/a/none", &n), -ENOENT);
	/* Relative paths are under the caller's home. */
	assert_int_equal(xs_write(st, 3, 0, "data/k", "v", 1), 0);
	expect_val(st, 0, 0, "/local/domain/3/data/k", "v");
}

static void test_path_too_long(void **state)
{
	struct xs_store *st = *state;
	size_t n = XS_ABS_PATH_MAX + 10;
	char *p = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (i % 8 == 0) ? '/' : 'a';
	p[n] = '\0';
	assert_int_equal(xs_write(st, 0, 0, p, "x", 1), -EINVAL);
	/* Exactly at the limit is fine. */
	p[XS_ABS_PATH_MAX] = '\0';
	if (p[XS_ABS_PATH_MAX - 1] == '/')
		p[XS_ABS_PATH_MAX - 1] = 'a';
	assert_int_equal(xs_write(st, 0, 0, p, "x", 1), 0);
	/* Relative: 2048 max. */
	memset(p, 'r', XS_REL_PATH_MAX + 1);
	p[XS_REL_PATH_MAX + 1] = '\0';
	assert_int_equal(xs_write(st, 3, 0, p, "x", 1), -EINVAL);
	free(p);
}

static void test_invalid_chars(void **state)
{
	struct xs_store *st = *state;
	static const char *const bad[] = {"/a b", "/a//b", "/a/", "", "/a*", "/ä", "/a\nb", "/a.b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(xs_write(st, 0, 0, bad[i], "x", 1), -EINVAL);
	assert_int_equal(xs_write(st, 0, 0, "/ok-A_z@9", "x", 1), 0);
	uint64_t h;
	struct evlog l = {0};
	assert_int_equal(xs_watch_add(st, "@bogusSpecial", "t", ev_cb, &l, &h), -EINVAL);
}

static void test_value_quota(void **state)
{
	struct xs_store *st = *state;
	char big[100];
	memset(big, 'v', sizeof(big));
	assert_int_equal(xs_write(st, 3, 0, "/local/domain/3/v", big, 64), 0);
	/* Over xs-value-size: Xen's ENOSPC, counted in the ledger. */
	assert_int_equal(xs_write(st, 3, 0, "/local/domain/3/v", big, 65), -ENOSPC);
	assert_int_equal(quota_refusals(g_led, QUOTA_XS_VALUE_SIZE), 1);
	/* dom0 is exempt. */
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/3/v", big, sizeof(big)), 0);
	/* Nobody may store more than one wire payload. */
	char *huge = calloc(1, XS_PAYLOAD_MAX + 1);
	assert_int_equal(xs_write(st, 0, 0, "/huge", huge, XS_PAYLOAD_MAX + 1), -E2BIG);
	assert_int_equal(xs_write(st, 0, 0, "/huge", huge, XS_PAYLOAD_MAX), 0);
	free(huge);
}

static void test_node_quota_enospc(void **state)
{
	struct xs_store *st = *state;
	char p[64];
	int rc = 0, i;
	/* dom3 owns 3 nodes already (home, domid, name); quota is 20. */
	for (i = 0; i < 40 && rc == 0; i++) {
		snprintf(p, sizeof(p), "n%d", i);
		rc = xs_write(st, 3, 0, p, "x", 1);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(i, 18);
	/* Removing frees quota. */
	assert_int_equal(xs_rm(st, 3, 0, "n0"), 0);
	assert_int_equal(xs_write(st, 3, 0, "again", "x", 1), 0);
	/* Creating several missing parents at once counts all of them. */
	assert_int_equal(xs_rm(st, 3, 0, "n1"), 0);
	assert_int_equal(xs_write(st, 3, 0, "deep/er", "x", 1), -ENOSPC);
}

static void test_quotas_not_for_dom0(void **state)
{
	struct xs_store *st = *state;
	char p[64];
	char big[4000];
	uint32_t tx[5];
	struct xs_caller c0 = {0, (void *)&c0};
	memset(big, 'q', sizeof(big));
	for (int i = 0; i < 100; i++) {
		snprintf(p, sizeof(p), "/local/domain/0/n%d", i);
		assert_int_equal(xs_write(st, 0, 0, p, big, sizeof(big)), 0);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(xs_transaction_start(st, 0, &tx[i]), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(xs_transaction_end(st, 0, tx[i], false), 0);
	for (int i = 0; i < 10; i++) {
		char tok[16];
		snprintf(tok, sizeof(tok), "t%d", i);
		assert_int_equal(xsi_watch_add(st, &c0, "/local", tok, NULL, NULL, NULL), 0);
	}
	xsi_conn_gone(st, &c0);
}

static void test_watch_quota_enospc(void **state)
{
	struct xs_store *st = *state;
	struct xs_caller c3 = {3, (void *)&c3};
	assert_int_equal(xsi_watch_add(st, &c3, "a", "1", NULL, NULL, NULL), 0);
	assert_int_equal(xsi_watch_add(st, &c3, "b", "2", NULL, NULL, NULL), 0);
	assert_int_equal(xsi_watch_add(st, &c3, "c", "3", NULL, NULL, NULL), 0);
	/* Over xs-watches: cxenstored's E2BIG. */
	assert_int_equal(xsi_watch_add(st, &c3, "d", "4", NULL, NULL, NULL), -E2BIG);
	/* A second connection of the same domain gains nothing. */
	struct xs_caller c3b = {3, (void *)&c3b};
	assert_int_equal(xsi_watch_add(st, &c3b, "e", "5", NULL, NULL, NULL), -E2BIG);
	/* Another domain has its own. */
	struct xs_caller c4 = {4, (void *)&c4};
	assert_int_equal(xsi_watch_add(st, &c4, "e", "5", NULL, NULL, NULL), 0);
	xsi_conn_gone(st, &c4);
	assert_int_equal(xsi_watch_add(st, &c3, "a", "1", NULL, NULL, NULL), -EEXIST);
	assert_int_equal(xsi_unwatch(st, &c3, "a", "1"), 0);
	assert_int_equal(xsi_unwatch(st, &c3, "a", "1"), -ENOENT);
	assert_int_equal(xsi_watch_add(st, &c3, "d", "4", NULL, NULL, NULL), 0);
	xsi_conn_gone(st, &c3);
}

static void test_too_many_transactions(void **state)
{
	struct xs_store *st = *state;
	uint32_t a, b, c;
	assert_int_equal(xs_transaction_start(st, 3, &a), 0);
	assert_int_equal(xs_transaction_start(st, 3, &b), 0);
	assert_int_equal(xs_transaction_start(st, 3, &c), -ENOSPC);
	/* Another domain has its own count; a domain cannot end another's tx. */
	assert_int_equal(xs_transaction_start(st, 4, &c), 0);
	assert_int_equal(xs_transaction_end(st, 4, a, true), -ENOENT);
	assert_int_equal(xs_transaction_end(st, 3, a, true), 0);
	assert_int_equal(xs_transaction_start(st, 3, &a), 0);
	assert_int_equal(xs_transaction_end(st, 3, a, false), 0);
	assert_int_equal(xs_transaction_end(st, 3, b, false), 0);
	assert_int_equal(xs_transaction_end(st, 4, c, false), 0);
	assert_int_equal(xs_transaction_end(st, 3, 12345, true), -ENOENT);
}

static void test_read_denied_eacces(void **state)
{
	struct xs_store *st = *state;
	char *v;
	char **names;
	unsigned count;
	assert_int_equal(xs_write(st, 0, 0, "/secret/key", "s", 1), 0);
	/* Root perms are "n0": other domains see nothing. */
	assert_int_equal(xs_read(st, 3, 0, "/secret/key", &v, NULL), -EACCES);
	assert_int_equal(xs_directory(st, 3, 0, "/secret", &names, &count), -EACCES);
	/* Absent nodes under an unreadable parent: EACCES, not ENOENT. */
	assert_int_equal(xs_read(st, 3, 0, "/secret/none", &v, NULL), -EACCES);
	/* Another guest's home. */
	assert_int_equal(xs_read(st, 4, 0, "/local/domain/3/name", &v, NULL), -EACCES);
	/* Own home: readable; absent there is ENOENT. */
	expect_val(st, 3, 0, "name", "g3");
	assert_int_equal(xs_read(st, 3, 0, "none", &v, NULL), -ENOENT);
	/* Granting read to dom3 works. */
	struct xs_perm p[2] = {{0, XS_PERM_NONE}, {3, XS_PERM_READ}};
	assert_int_equal(xs_set_perms(st, 0, 0, "/secret/key", p, 2), 0);
	expect_val(st, 3, 0, "/secret/key", "s");
	assert_int_equal(xs_read(st, 4, 0, "/secret/key", &v, NULL), -EACCES);
	assert_int_equal(xs_write(st, 3, 0, "/secret/key", "x", 1), -EACCES);
}

static void test_write_outside_home_eacces(void **state)
{
	struct xs_store *st = *state;
	struct xs_perm perms[4];
	unsigned n = 4;
	assert_int_equal(xs_write(st, 3, 0, "/tool/x", "x", 1), -EACCES);
	assert_int_equal(xs_write(st, 3, 0, "/local/domain/4/x", "x", 1), -EACCES);
	assert_int_equal(xs_mkdir(st, 3, 0, "/local/domain/4/d"), -EACCES);
	assert_int_equal(xs_rm(st, 3, 0, "/local/domain/4/name"), -EACCES);
	/* With "w3" on a dom0 directory, dom3 can create, and owns what it creates. */
	struct xs_perm w[2] = {{0, XS_PERM_NONE}, {3, XS_PERM_WRITE}};
	assert_int_equal(xs_mkdir(st, 0, 0, "/shared"), 0);
	assert_int_equal(xs_set_perms(st, 0, 0, "/shared", w, 2), 0);
	assert_int_equal(xs_write(st, 3, 0, "/shared/mine", "x", 1), 0);
	assert_int_equal(xs_get_perms(st, 0, 0, "/shared/mine", perms, &n), 0);
	assert_int_equal(perms[0].domid, 3);
	/* Only the owner may change permissions; dom4 cannot touch it. */
	assert_int_equal(xs_set_perms(st, 3, 0, "/shared", w, 2), -EACCES);
	assert_int_equal(xs_write(st, 4, 0, "/shared/other", "x", 1), -EACCES);
	/* Perms capacity too small. */
	n = 1;
	assert_int_equal(xs_get_perms(st, 0, 0, "/shared", perms, &n), -E2BIG);
	assert_int_equal(n, 2);
}

static void test_perm_inheritance(void **state)
{
	struct xs_store *st = *state;
	struct xs_perm p[4];
	unsigned n = 4;
	struct xs_perm r[2] = {{0, XS_PERM_READ}, {5, XS_PERM_BOTH}};
	assert_int_equal(xs_mkdir(st, 0, 0, "/inh"), 0);
	assert_int_equal(xs_set_perms(st, 0, 0, "/inh", r, 2), 0);
	assert_int_equal(xs_write(st, 0, 0, "/inh/a/b", "x", 1), 0);
	assert_int_equal(xs_get_perms(st, 0, 0, "/inh/a/b", p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].domid, 0);
	assert_int_equal(p[0].perm, XS_PERM_READ);
	assert_int_equal(p[1].domid, 5);
	assert_int_equal(p[1].perm, XS_PERM_BOTH);
	/* Bad perm lists. */
	struct xs_perm bad = {0, 7};
	assert_int_equal(xs_set_perms(st, 0, 0, "/inh", &bad, 1), -EINVAL);
	assert_int_equal(xs_set_perms(st, 0, 0, "/inh", r, 0), -EINVAL);
	assert_int_equal(xs_set_perms(st, 0, 0, "/nope", r, 1), -ENOENT);
}

static void test_tx_conflict_eagain(void **state)
{
	struct xs_store *st = *state;
	uint32_t tx;
	assert_int_equal(xs_write(st, 0, 0, "/t/k", "0", 1), 0);
	assert_int_equal(xs_transaction_start(st, 0, &tx), 0);
	expect_val(st, 0, tx, "/t/k", "0");
	assert_int_equal(xs_write(st, 0, tx, "/t/k2", "1", 1), 0);
	/* Outside change to a node the transaction read. */
	assert_int_equal(xs_write(st, 0, 0, "/t/k", "other", 5), 0);
	assert_int_equal(xs_transaction_end(st, 0, tx, true), -EAGAIN);
	char *v;
	assert_int_equal(xs_read(st, 0, 0, "/t/k2", &v, NULL), -ENOENT);
	expect_val(st, 0, 0, "/t/k", "other");
	/* Write-write conflict. */
	assert_int_equal(xs_transaction_start(st, 0, &tx), 0);
	assert_int_equal(xs_write(st, 0, tx, "/t/k", "tx", 2), 0);
	assert_int_equal(xs_write(st, 0, 0, "/t/k", "live", 4), 0);
	assert_int_equal(xs_transaction_end(st, 0, tx, true), -EAGAIN);
	expect_val(st, 0, 0, "/t/k", "live");
}

static void test_tx_commit_and_isolation(void **state)
{
	struct xs_store *st = *state;
	uint32_t tx;
	char *v;
	struct evlog l = {0};
	uint64_t h;
	assert_int_equal(xs_write(st, 0, 0, "/c/old/child", "1", 1), 0);
	assert_int_equal(xs_write(st, 0, 0, "/unrelated", "1", 1), 0);
	assert_int_equal(xs_watch_add(st, "/c", "tok", ev_cb, &l, &h), 0);
	assert_int_equal(xs_store_dispatch(st), 1);
	l.n = 0;
	assert_int_equal(xs_transaction_start(st, 0, &tx), 0);
	assert_int_equal(xs_write(st, 0, tx, "/c/new/deep", "v", 1), 0);
	assert_int_equal(xs_rm(st, 0, tx, "/c/old"), 0);
	assert_int_equal(xs_mkdir(st, 0, tx, "/c/old"), 0); /* recreated empty */
	/* Invisible outside until commit; no events yet. */
	assert_int_equal(xs_read(st, 0, 0, "/c/new/deep", &v, NULL), -ENOENT);
	expect_val(st, 0, 0, "/c/old/child", "1");
	assert_int_equal(xs_read(st, 0, tx, "/c/old/child", &v, NULL), -ENOENT);
	assert_int_equal(xs_store_dispatch(st), 0);
	/* An unrelated outside change does not conflict. */
	assert_int_equal(xs_write(st, 0, 0, "/unrelated", "2", 1), 0);
	assert_int_equal(xs_transaction_end(st, 0, tx, true), 0);
	expect_val(st, 0, 0, "/c/new/deep", "v");
	assert_int_equal(xs_read(st, 0, 0, "/c/old/child", &v, NULL), -ENOENT);
	expect_val(st, 0, 0, "/c/old", "");
	assert_true(xs_store_dispatch(st) >= 2);
	assert_true(ev_has(&l, "/c/new/deep"));
	assert_true(ev_has(&l, "/c/old"));
	/* Abort discards. */
	assert_int_equal(xs_transaction_start(st, 0, &tx), 0);
	assert_int_equal(xs_write(st, 0, tx, "/c/aborted", "x", 1), 0);
	assert_int_equal(xs_transaction_end(st, 0, tx, false), 0);
	assert_int_equal(xs_read(st, 0, 0, "/c/aborted", &v, NULL), -ENOENT);
	assert_int_equal(xs_watch_remove(st, h), 0);
	assert_int_equal(xs_watch_remove(st, h), -ENOENT);
}

static void test_watch_registration_and_below(void **state)
{
	struct xs_store *st = *state;
	struct evlog l = {0};
	uint64_t h;
	assert_int_equal(xs_watch_add(st, "/w", "tok", ev_cb, &l, &h), 0);
	/* Fired once on registration, delivered from dispatch only. */
	assert_int_equal(l.n, 0);
	assert_int_equal(xs_store_dispatch(st), 1);
	assert_string_equal(l.path[0], "/w");
	assert_string_equal(l.token[0], "tok");
	assert_int_equal(xs_write(st, 0, 0, "/w/a/b", "x", 1), 0);
	assert_int_equal(xs_write(st, 0, 0, "/wx", "x", 1), 0); /* not below /w */
	assert_int_equal(xs_write(st, 0, 0, "/other", "x", 1), 0);
	assert_int_equal(xs_store_dispatch(st), 1);
	assert_string_equal(l.path[1], "/w/a/b");
	/* rm of an ancestor fires the watch with the watched path. */
	struct evlog l2 = {0};
	uint64_t h2;
	assert_int_equal(xs_watch_add(st, "/w/a/b", "t2", ev_cb, &l2, &h2), 0);
	xs_store_dispatch(st);
	l.n = 0;
	l2.n = 0;
	assert_int_equal(xs_rm(st, 0, 0, "/w/a"), 0);
	xs_store_dispatch(st);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.path[0], "/w/a");
	assert_int_equal(l2.n, 1);
	assert_string_equal(l2.path[0], "/w/a/b");
	xs_watch_remove(st, h);
	xs_watch_remove(st, h2);
}

/*
 * Many watches, as a thousand guests and their backends make: the index fires
 * exactly the watches at or above a change (and, for a removal, below it, with
 * their own path), newest first, and a released domain's watches go with it.
 */
static void test_watch_index_many(void **state)
{
	struct xs_store *st = *state;
	struct evlog l = {0};
	enum { N = 600 };
	static uint64_t h[N];
	uint64_t hroot, ha, hb, hd;
	char path[64], tok[16];
	struct xs_caller c5 = {5, NULL};

	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/many/%d/x", i);
		snprintf(tok, sizeof(tok), "t%d", i);
		assert_int_equal(xs_watch_add(st, path, tok, ev_cb, &l, &h[i]), 0);
	}
	assert_int_equal(xs_watch_add(st, "/", "root", ev_cb, &l, &hroot), 0);
	assert_int_equal(xs_watch_add(st, "/many/7/x", "a", ev_cb, &l, &ha), 0);
	assert_int_equal(xs_watch_add(st, "/many/7/x", "b", ev_cb, &l, &hb), 0);
	xs_store_dispatch(st);
	l.n = 0;
	/* below three watches on one path and the root's: newest first */
	assert_int_equal(xs_write(st, 0, 0, "/many/7/x/y", "v", 1), 0);
	assert_int_equal(xs_store_dispatch(st), 4);
	assert_string_equal(l.token[0], "b");
	assert_string_equal(l.token[1], "a");
	assert_string_equal(l.token[2], "root");
	assert_string_equal(l.token[3], "t7");
	assert_string_equal(l.path[3], "/many/7/x/y");
	/* a sibling prefix ("/many/70" is not below "/many/7"): the root's only */
	l.n = 0;
	assert_int_equal(xs_write(st, 0, 0, "/many/70", "v", 1), 0);
	assert_int_equal(xs_store_dispatch(st), 1);
	assert_string_equal(l.token[0], "root");
	/* a removal: the watches below fire with their own path */
	l.n = 0;
	assert_int_equal(xs_rm(st, 0, 0, "/many/7"), 0);
	assert_int_equal(xs_store_dispatch(st), 4);
	assert_string_equal(l.token[0], "b");
	assert_string_equal(l.path[0], "/many/7/x");
	assert_string_equal(l.token[2], "root");
	assert_string_equal(l.path[2], "/many/7");
	assert_string_equal(l.path[3], "/many/7/x");
	/* removed watches fire no more */
	for (int i = 0; i < N; i++)
		assert_int_equal(xs_watch_remove(st, h[i]), 0);
	assert_int_equal(xs_watch_remove(st, ha), 0);
	assert_int_equal(xs_watch_remove(st, hb), 0);
	assert_int_equal(xs_watch_remove(st, hroot), 0);
	assert_int_equal(xs_watch_remove(st, hroot), -ENOENT);
	l.n = 0;
	assert_int_equal(xs_write(st, 0, 0, "/many/1/x", "v", 1), 0);
	assert_int_equal(xs_store_dispatch(st), 0);
	/* a domain's watches (relative paths) are dropped when it is released */
	assert_int_equal(xs_domain_introduce(st, 5, "five"), 0);
	assert_int_equal(xsi_watch_add(st, &c5, "device/vif", "d1", ev_cb, &l, &hd), 0);
	assert_int_equal(xsi_watch_add(st, &c5, "control", "d2", ev_cb, &l, &hd), 0);
	assert_int_equal(quota_usage(g_led, 5, QUOTA_XS_WATCHES), 2);
	l.n = 0;
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/5/control/shutdown", "x", 1), 0);
	assert_int_equal(xs_store_dispatch(st), 1);
	assert_string_equal(l.path[0], "control/shutdown"); /* relative, as it was given */
	assert_int_equal(xs_domain_release(st, 5), 0);
	assert_int_equal(quota_usage(g_led, 5, QUOTA_XS_WATCHES), 0);
	l.n = 0;
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/5/control/x", "x", 1), 0);
	assert_int_equal(xs_store_dispatch(st), 0);
}

static void remove_self_cb(void *arg, const char *path, const char *token)
{
	struct xs_store **pst = arg;
	(void)path;
	(void)token;
	uint64_t h = strtoull(token, NULL, 10);
	assert_int_equal(xs_watch_remove(*pst, h), 0);
	assert_int_equal(xs_write(*pst, 0, 0, "/selfrm/inner", "x", 1), 0);
}

static void test_watch_cb_removes_itself(void **state)
{
	struct xs_store *st = *state;
	uint64_t h;
	char tok[32];
	/* Handles start at 1 and grow; predict this one to put it in the token. */
	struct xs_caller c0 = {0, NULL};
	assert_int_equal(xsi_watch_add(st, &c0, "/selfrm", "probe", NULL, NULL, &h), 0);
	assert_int_equal(xs_watch_remove(st, h), 0);
	snprintf(tok, sizeof(tok), "%llu", (unsigned long long)h + 1);
	assert_int_equal(xs_watch_add(st, "/selfrm", tok, remove_self_cb, state, &h), 0);
	assert_int_equal(xs_store_dispatch(st), 1);
	/* Its own write's event is not delivered: the watch is gone. */
	assert_int_equal(xs_store_dispatch(st), 0);
}

static void test_domain_introduce_release(void **state)
{
	struct xs_store *st = *state;
	struct evlog in = {0}, rel = {0};
	uint64_t h1, h2;
	char *v;
	struct xs_perm p[2];
	unsigned n = 2;
	assert_int_equal(xs_watch_add(st, "@introduceDomain", "i", ev_cb, &in, &h1), 0);
	assert_int_equal(xs_watch_add(st, "@releaseDomain", "r", ev_cb, &rel, &h2), 0);
	xs_store_dispatch(st);
	in.n = rel.n = 0;
	assert_int_equal(xs_domain_introduce(st, 7, "seven"), 0);
	assert_int_equal(xs_domain_introduce(st, 7, "seven"), -EEXIST);
	xs_store_dispatch(st);
	assert_int_equal(in.n, 1);
	assert_string_equal(in.path[0], "@introduceDomain");
	assert_int_equal(rel.n, 0);
	expect_val(st, 0, 0, "/local/domain/7/name", "seven");
	expect_val(st, 7, 0, "domid", "7");
	assert_int_equal(xs_get_perms(st, 0, 0, "/local/domain/7", p, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].domid, 7);
	assert_int_equal(p[0].perm, XS_PERM_NONE);
	assert_true(xsi_domain_is_introduced(st, 7));
	uint32_t tx;
	assert_int_equal(xs_transaction_start(st, 7, &tx), 0);
	assert_int_equal(xs_domain_release(st, 7), 0);
	assert_int_equal(xs_domain_release(st, 7), -ENOENT);
	xs_store_dispatch(st);
	assert_int_equal(rel.n, 1);
	assert_string_equal(rel.path[0], "@releaseDomain");
	assert_int_equal(xs_read(st, 0, 0, "/local/domain/7", &v, NULL), -ENOENT);
	assert_false(xsi_domain_is_introduced(st, 7));
	assert_int_equal(xs_transaction_end(st, 7, tx, false), -ENOENT);
	xs_watch_remove(st, h1);
	xs_watch_remove(st, h2);
}

static void count_conn_event(void *arg, void *conn, const char *path, const char *token)
{
	struct evlog *l = arg;
	(void)conn;
	ev_cb(l, path, token);
}

static void test_guest_watch_needs_read_perm(void **state)
{
	struct xs_store *st = *state;
	struct xs_caller c3 = {3, (void *)&c3};
	struct evlog l = {0};
	uint64_t h;
	xsi_set_conn_event(st, count_conn_event, &l);
	/* Xen lets a guest watch any path, but only tells it about what it may read. */
	assert_int_equal(xsi_watch_add(st, &c3, "/tool", "t", NULL, NULL, &h), 0);
	xsi_watch_fire_initial(st, h);
	assert_int_equal(l.n, 1);
	assert_int_equal(xs_write(st, 0, 0, "/tool/x", "1", 1), 0);
	assert_int_equal(l.n, 1);
	/* A relative watch reports relative paths. */
	assert_int_equal(xsi_watch_add(st, &c3, "data", "d", NULL, NULL, &h), 0);
	assert_int_equal(xs_write(st, 3, 0, "data/k", "1", 1), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.path[1], "data/k");
	assert_string_equal(l.token[1], "d");
	xsi_conn_gone(st, &c3);
	assert_int_equal(xsi_unwatch(st, &c3, "/tool", "t"), -ENOENT);
	assert_int_equal(xs_write(st, 3, 0, "data/k", "2", 1), 0);
	assert_int_equal(l.n, 2);
	xsi_set_conn_event(st, NULL, NULL);
}

static void test_path_size_quota(void **state)
{
	struct xs_store *st = *state;
	struct xs_caller c3 = {3, (void *)&c3};
	char rel[64], abs[96];
	/* xs-path-size is 40 here, counted below the domain's own home. */
	memset(rel, 'p', 40);
	rel[40] = '\0';
	assert_int_equal(xs_write(st, 3, 0, rel, "x", 1), 0);
	snprintf(abs, sizeof(abs), "/local/domain/3/%s", rel);
	assert_int_equal(xs_write(st, 3, 0, abs, "y", 1), 0);
	strcat(rel, "q");
	assert_int_equal(xs_write(st, 3, 0, rel, "x", 1), -EINVAL);
	assert_int_equal(xsi_watch_add(st, &c3, rel, "t", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(quota_refusals(g_led, QUOTA_XS_PATH_SIZE), 2);
	/* Past the wire's own limit (2048 relative) it is refused and counted the same way. */
	char *huge = malloc(XS_REL_PATH_MAX + 2);
	memset(huge, 'h', XS_REL_PATH_MAX + 1);
	huge[XS_REL_PATH_MAX + 1] = '\0';
	assert_int_equal(xs_write(st, 3, 0, huge, "x", 1), -EINVAL);
	free(huge);
	assert_int_equal(quota_refusals(g_led, QUOTA_XS_PATH_SIZE), 3);
	/* dom0 is exempt. */
	assert_int_equal(xs_write(st, 0, 0,
				  "/local/domain/3/ppppppppppppppppppppppppppppppppppppppppppppp",
				  "x", 1),
			 0);
}

static void test_tx_nodes_quota(void **state)
{
	struct xs_store *st = *state;
	uint32_t tx;
	char p[32], *v = NULL;
	int i, rc = 0;
	assert_int_equal(xs_transaction_start(st, 3, &tx), 0);
	/* xs-tx-nodes is 8: the ninth distinct path is refused; touching one again is free. */
	for (i = 0; i < 8; i++) {
		snprintf(p, sizeof(p), "t%d", i);
		rc = xs_read(st, 3, tx, p, &v, NULL);
		assert_int_equal(rc, -ENOENT);
	}
	assert_int_equal(xs_read(st, 3, tx, "t8", &v, NULL), -ENOSPC);
	assert_int_equal(xs_read(st, 3, tx, "t3", &v, NULL), -ENOENT);
	assert_int_equal(xs_transaction_end(st, 3, tx, false), 0);
	assert_true(quota_refusals(g_led, QUOTA_XS_TX_NODES) >= 1);
}

static void test_tx_commit_checked_against_quota(void **state)
{
	struct xs_store *st = *state;
	uint32_t a, b;
	char p[32], *v = NULL;
	/* dom3 owns 3 nodes + a, b, z = 6; quota 20. Each transaction alone fits; both do not. */
	assert_int_equal(xs_mkdir(st, 3, 0, "a"), 0);
	assert_int_equal(xs_mkdir(st, 3, 0, "b"), 0);
	assert_int_equal(xs_mkdir(st, 3, 0, "z"), 0);
	assert_int_equal(xs_transaction_start(st, 3, &a), 0);
	assert_int_equal(xs_transaction_start(st, 3, &b), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(p, sizeof(p), "a/k%d", i);
		assert_int_equal(xs_write(st, 3, a, p, "x", 1), 0);
	}
	for (int i = 0; i < 6; i++) {
		snprintf(p, sizeof(p), "b/k%d", i);
		assert_int_equal(xs_write(st, 3, b, p, "x", 1), 0);
	}
	/* Meanwhile the domain fills its quota outside the transactions (no conflict). */
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "z/%d", i);
		assert_int_equal(xs_write(st, 3, 0, p, "x", 1), 0);
	}
	assert_int_equal(quota_usage(g_led, 3, QUOTA_XS_NODES), 11);
	assert_int_equal(xs_transaction_end(st, 3, a, true), 0);
	assert_int_equal(quota_usage(g_led, 3, QUOTA_XS_NODES), 17);
	assert_int_equal(xs_transaction_end(st, 3, b, true), -ENOSPC);
	assert_int_equal(quota_usage(g_led, 3, QUOTA_XS_NODES), 17);
	assert_int_equal(xs_read(st, 3, 0, "b/k0", &v, NULL), -ENOENT);
}

static void test_owner_change(void **state)
{
	struct xs_store *st = *state;
	struct xs_perm give4 = {.domid = 4, .perm = XS_PERM_NONE};
	struct xs_perm own3r = {.domid = 3, .perm = XS_PERM_READ};
	assert_int_equal(xs_write(st, 3, 0, "mine", "x", 1), 0);
	uint64_t before4 = quota_usage(g_led, 4, QUOTA_XS_NODES);
	/* As Xen: an unprivileged domain may change perms of its node but not its owner. */
	assert_int_equal(xs_set_perms(st, 3, 0, "mine", &give4, 1), -EPERM);
	assert_int_equal(xs_set_perms(st, 3, 0, "mine", &own3r, 1), 0);
	assert_int_equal(quota_usage(g_led, 4, QUOTA_XS_NODES), before4);
	/* dom0 may: the node then counts against its new owner. */
	uint64_t before3 = quota_usage(g_led, 3, QUOTA_XS_NODES);
	assert_int_equal(xs_set_perms(st, 0, 0, "/local/domain/3/mine", &give4, 1), 0);
	assert_int_equal(quota_usage(g_led, 4, QUOTA_XS_NODES), before4 + 1);
	assert_int_equal(quota_usage(g_led, 3, QUOTA_XS_NODES), before3 - 1);
}

static void test_release_reowns_nodes(void **state)
{
	struct xs_store *st = *state;
	struct xs_perm open_rw = {.domid = 0, .perm = XS_PERM_BOTH};
	struct xs_perm p[2];
	unsigned n = 2;
	assert_int_equal(xs_mkdir(st, 0, 0, "/shared"), 0);
	assert_int_equal(xs_set_perms(st, 0, 0, "/shared", &open_rw, 1), 0);
	assert_int_equal(xs_write(st, 4, 0, "/shared/left", "x", 1), 0);
	assert_int_equal(xs_domain_release(st, 4), 0);
	/* The node it left behind is dom0's now: a later domain 4 inherits nothing. */
	assert_int_equal(xs_get_perms(st, 0, 0, "/shared/left", p, &n), 0);
	assert_int_equal(p[0].domid, 0);
	assert_int_equal(quota_usage(g_led, 4, QUOTA_XS_NODES), 0);
}

static void test_special_nodes_xsa115(void **state)
{
	struct xs_store *st = *state;
	struct xs_caller c3 = {3, (void *)&c3};
	struct evlog l = {0};
	struct xs_perm p[2];
	unsigned n = 2;
	uint64_t h;
	xsi_set_conn_event(st, count_conn_event, &l);
	/* A guest may register; it hears nothing until dom0 lets it read the special node. */
	assert_int_equal(xsi_watch_add(st, &c3, "@releaseDomain", "r", NULL, NULL, &h), 0);
	assert_int_equal(xsi_watch_add(st, &c3, "@introduceDomain", "i", NULL, NULL, &h), 0);
	assert_int_equal(xs_domain_introduce(st, 6, "six"), 0);
	assert_int_equal(xs_domain_release(st, 6), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(xs_get_perms(st, 3, 0, "@introduceDomain", p, &n), -EACCES);
	n = 2;
	assert_int_equal(xs_get_perms(st, 0, 0, "@introduceDomain", p, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].domid, 0);
	assert_int_equal(p[0].perm, XS_PERM_NONE);
	/* Only dom0 (the owner) sets them. */
	p[0] = (struct xs_perm){.domid = 0, .perm = XS_PERM_NONE};
	p[1] = (struct xs_perm){.domid = 3, .perm = XS_PERM_READ};
	assert_int_equal(xs_set_perms(st, 3, 0, "@introduceDomain", p, 2), -EACCES);
	assert_int_equal(xs_set_perms(st, 0, 0, "@introduceDomain", p, 2), 0);
	assert_int_equal(xs_domain_introduce(st, 6, "six"), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.path[0], "@introduceDomain");
	assert_int_equal(xs_domain_release(st, 6), 0);
	assert_int_equal(l.n, 1); /* @releaseDomain still dom0-only */
	n = 2;
	assert_int_equal(xs_get_perms(st, 3, 0, "@introduceDomain", p, &n), 0);
	assert_int_equal(n, 2);
	xsi_conn_gone(st, &c3);
	xsi_set_conn_event(st, NULL, NULL);
}

/* A transaction costs what it touches: start/write/commit on a big tree stays cheap. */
static void test_tx_cost_bounded_by_its_size(void **state)
{
	struct xs_store *st = *state;
	double t0;
	uint32_t tx[8];
	char p[64];
	for (int i = 0; i < 20000; i++) {
		snprintf(p, sizeof(p), "/big/d%d/n%d", i % 100, i);
		assert_int_equal(xs_write(st, 0, 0, p, "v", 1), 0);
	}
	t0 = pvnet_now_s();
	/* 8 open at once (dom0 is not limited), 2000 rounds: a whole-tree copy per start
	 * would copy 20000 nodes 16000 times. */
	for (int r = 0; r < 2000; r++) {
		for (int i = 0; i < 8; i++)
			assert_int_equal(xs_transaction_start(st, 0, &tx[i]), 0);
		snprintf(p, sizeof(p), "/big/d%d/n%d", r % 100, r);
		assert_int_equal(xs_write(st, 0, tx[0], p, "w", 1), 0);
		assert_int_equal(xs_transaction_end(st, 0, tx[0], true), 0);
		for (int i = 1; i < 8; i++)
			assert_int_equal(xs_transaction_end(st, 0, tx[i], false), 0);
	}
	double s = pvnet_now_s() - t0;
	print_message("2000 x 8 transactions on a 20000-node tree: %.3f s\n", s);
	assert_true(s < 2.0);
	expect_val(st, 0, 0, "/big/d7/n7", "w");
	/* Isolation still holds with shared nodes: a tx sees its start state. */
	assert_int_equal(xs_transaction_start(st, 0, &tx[0]), 0);
	assert_int_equal(xs_write(st, 0, 0, "/big/d1/n1", "live", 4), 0);
	expect_val(st, 0, tx[0], "/big/d1/n1", "w");
	assert_int_equal(xs_write(st, 0, tx[0], "/big/d2/n2", "txv", 3), 0);
	expect_val(st, 0, 0, "/big/d2/n2", "w");
	assert_int_equal(xs_transaction_end(st, 0, tx[0], true), -EAGAIN);
	expect_val(st, 0, 0, "/big/d2/n2", "w");
	assert_int_equal(xs_rm(st, 0, 0, "/big"), 0);
}

static void test_many_nodes_fast(void **state)
{
	struct xs_store *st = *state;
	char p[64];
	char **names;
	unsigned count;
	for (int i = 0; i < 20000; i++) {
		snprintf(p, sizeof(p), "/many/d%d/n%d", i % 100, i);
		assert_int_equal(xs_write(st, 0, 0, p, "v", 1), 0);
	}
	assert_int_equal(xs_directory(st, 0, 0, "/many/d7", &names, &count), 0);
	assert_int_equal(count, 200);
	xs_free_list(names, count);
	uint32_t tx;
	assert_int_equal(xs_transaction_start(st, 0, &tx), 0);
	assert_int_equal(xs_write(st, 0, tx, "/many/d1/tx", "v", 1), 0);
	assert_int_equal(xs_transaction_end(st, 0, tx, true), 0);
	expect_val(st, 0, 0, "/many/d1/tx", "v");
	assert_int_equal(xs_rm(st, 0, 0, "/many"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_chars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_quota_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quotas_not_for_dom0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_quota_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_denied_eacces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_outside_home_eacces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perm_inheritance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_conflict_eagain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_commit_and_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_registration_and_below, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_cb_removes_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_introduce_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_watch_needs_read_perm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_nodes_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_size_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_nodes_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_commit_checked_against_quota, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_owner_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_reowns_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_nodes_xsa115, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_cost_bounded_by_its_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_index_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
