/*
 * The store server's dispatch table (hv/xs_server.c wire_funcs[]): every wire
 * message type has a row, and the rules of each row (XS_FLAG_*, hv/xs_private.h)
 * decide the answer a request gets before any handler runs. Requests go
 * through in-memory connections (no sockets), as the fuzzer's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pvnet/io/xs_wire.h>
#include <pvnet/xs.h>

#include "../../hv/xs_private.h"

#define T(x)                                                                                       \
	{                                                                                          \
		x, #x                                                                              \
	}
static const struct {
	uint32_t type;
	const char *name;
} all_types[] = {
	T(XS_CONTROL),
	T(XS_DIRECTORY),
	T(XS_READ),
	T(XS_GET_PERMS),
	T(XS_WATCH),
	T(XS_UNWATCH),
	T(XS_TRANSACTION_START),
	T(XS_TRANSACTION_END),
	T(XS_INTRODUCE),
	T(XS_RELEASE),
	T(XS_GET_DOMAIN_PATH),
	T(XS_WRITE),
	T(XS_MKDIR),
	T(XS_RM),
	T(XS_SET_PERMS),
	T(XS_WATCH_EVENT),
	T(XS_ERROR),
	T(XS_IS_DOMAIN_INTRODUCED),
	T(XS_RESUME),
	T(XS_SET_TARGET),
	T(XS_RESET_WATCHES),
	T(XS_DIRECTORY_PART),
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static struct {
	struct xs_store *st;
	struct xs_server *srv;
	struct xs_conn *dom0, *guest;
} g;

static int setup(void **state)
{
	(void)state;
	memset(&g, 0, sizeof(g));
	if (xs_store_create(NULL, &g.st) || xs_domain_introduce(g.st, 3, "guest3") ||
	    xs_server_create(g.st, NULL, &g.srv) || xs_server_add_mem_conn(g.srv, 0, &g.dom0) ||
	    xs_server_add_mem_conn(g.srv, 3, &g.guest))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	xs_server_destroy(g.srv);
	xs_store_destroy(g.st);
	return 0;
}

/* Sends one request and returns its reply's type; the payload goes to out. */
static uint32_t ask(struct xs_conn *c, uint32_t type, uint32_t tx, const void *p, size_t l,
		    char *out, size_t cap)
{
	uint8_t buf[sizeof(struct xsd_sockmsg) + 256];
	struct xsd_sockmsg h = {type, 42, tx, (uint32_t)l};
	const uint8_t *rep;
	size_t len;
	assert_true(l <= 256);
	memcpy(buf, &h, sizeof(h));
	if (l)
		memcpy(buf + sizeof(h), p, l);
	assert_int_equal(xs_conn_feed(g.srv, c, buf, sizeof(h) + l), (int)(sizeof(h) + l));
	rep = xs_conn_output(c, &len);
	assert_non_null(rep);
	assert_true(len >= sizeof(h));
	memcpy(&h, rep, sizeof(h));
	assert_int_equal(len, sizeof(h) + h.len);
	assert_int_equal(h.req_id, 42);
	assert_true(h.len < cap);
	memcpy(out, rep + sizeof(h), h.len);
	out[h.len] = '\0';
	xs_conn_output_consume(g.srv, c, len);
	return h.type;
}

/* The error name a request is answered with, or "" if it was not an error. */
static const char *ask_err(struct xs_conn *c, uint32_t type, uint32_t tx, const void *p, size_t l)
{
	static char out[4200];
	return ask(c, type, tx, p, l, out, sizeof(out)) == XS_ERROR ? out : "";
}

static void test_every_type_has_a_row(void **state)
{
	const char *name;
	unsigned flags;
	bool handled;
	(void)state;
	for (size_t i = 0; i < NTYPES; i++) {
		assert_int_equal(xs_server_wire_row(all_types[i].type, &name, &flags, &handled), 0);
		assert_string_equal(name, all_types[i].name + 3); /* without "XS_" */
	}
	/* The enum is dense but for the removed XS_RESTRICT (20): nothing is missed above. */
	for (uint32_t t = 0; t < XS_TYPE_COUNT; t++)
		assert_int_equal(xs_server_wire_row(t, &name, &flags, &handled) == 0, t != 20);
	assert_int_equal(xs_server_wire_row(XS_TYPE_COUNT, &name, &flags, &handled), -ENOENT);
	assert_int_equal(xs_server_wire_row(XS_INVALID, &name, &flags, &handled), -ENOENT);
	assert_int_equal(NTYPES, XS_TYPE_COUNT - 1);
}

/* The rules themselves, as xenstored has them. */
static void test_rows_rules(void **state)
{
	const char *name;
	unsigned flags;
	bool handled;
	(void)state;
	for (size_t i = 0; i < NTYPES; i++) {
		uint32_t t = all_types[i].type;
		bool priv = t == XS_CONTROL || t == XS_INTRODUCE || t == XS_RELEASE ||
			    t == XS_RESUME || t == XS_SET_TARGET;
		bool unsupported = t == XS_CONTROL || t == XS_RESUME || t == XS_SET_TARGET ||
				   t == XS_WATCH_EVENT || t == XS_ERROR;
		bool path = t == XS_DIRECTORY || t == XS_DIRECTORY_PART || t == XS_READ ||
			    t == XS_GET_PERMS || t == XS_SET_PERMS || t == XS_WATCH ||
			    t == XS_UNWATCH || t == XS_WRITE || t == XS_MKDIR || t == XS_RM;
		xs_server_wire_row(t, &name, &flags, &handled);
		assert_int_equal(!!(flags & XS_FLAG_PRIV), priv);
		assert_int_equal(handled, !unsupported);
		assert_int_equal(!!(flags & XS_FLAG_PATH), path);
		assert_int_equal(!!(flags & XS_FLAG_NOTX), t == XS_TRANSACTION_START);
	}
}

/* What each row's flags say a request gets, checked over the wire for every type. */
static void test_answers_follow_the_table(void **state)
{
	const char *name;
	unsigned flags;
	bool handled;
	(void)state;
	for (uint32_t t = 0; t < XS_TYPE_COUNT + 3; t++) {
		bool row = xs_server_wire_row(t, &name, &flags, &handled) == 0;
		if (!row) {
			assert_string_equal(ask_err(g.guest, t, 0, NULL, 0), "ENOSYS");
			assert_string_equal(ask_err(g.dom0, t, 0, NULL, 0), "ENOSYS");
			continue;
		}
		if (flags & XS_FLAG_PRIV)
			assert_string_equal(ask_err(g.guest, t, 0, "3", 2), "EACCES");
		if (!handled) {
			assert_string_equal(ask_err(g.dom0, t, 0, "/x", 3), "ENOSYS");
			if (!(flags & XS_FLAG_PRIV))
				assert_string_equal(ask_err(g.guest, t, 0, "/x", 3), "ENOSYS");
			continue;
		}
		if (flags & XS_FLAG_NOTX)
			assert_string_equal(ask_err(g.dom0, t, 1, NULL, 0), "EBUSY");
		/* Every counted type wants at least one argument; "" is none. */
		if (!(flags & XS_FLAG_RAW))
			assert_string_equal(ask_err(g.dom0, t, 0, NULL, 0), "EINVAL");
		/* A path that is not a terminated string. */
		if (flags & XS_FLAG_PATH)
			assert_string_equal(ask_err(g.dom0, t, 0, "/x", 2), "EINVAL");
	}
}

/* A NOTID type runs outside the transaction it names; others run inside it. */
static void test_transaction_ids(void **state)
{
	char out[256], id[16];
	(void)state;
	assert_int_equal(ask(g.dom0, XS_TRANSACTION_START, 0, "", 1, id, sizeof(id)),
			 XS_TRANSACTION_START);
	uint32_t tx = (uint32_t)strtoul(id, NULL, 10);
	assert_true(tx != 0);
	assert_int_equal(ask(g.dom0, XS_WRITE, tx, "/tool/d\0v", 9, out, sizeof(out)), XS_WRITE);
	/* Not visible outside the transaction yet, visible inside it. */
	assert_string_equal(ask_err(g.dom0, XS_READ, 0, "/tool/d", 8), "ENOENT");
	assert_int_equal(ask(g.dom0, XS_READ, tx, "/tool/d", 8, out, sizeof(out)), XS_READ);
	assert_string_equal(out, "v");
	/* GET_DOMAIN_PATH ignores the id, even one that names no transaction. */
	assert_int_equal(ask(g.dom0, XS_GET_DOMAIN_PATH, 999, "3", 2, out, sizeof(out)),
			 XS_GET_DOMAIN_PATH);
	assert_string_equal(out, "/local/domain/3");
	assert_int_equal(ask(g.dom0, XS_TRANSACTION_END, tx, "T", 2, out, sizeof(out)),
			 XS_TRANSACTION_END);
	assert_int_equal(ask(g.dom0, XS_READ, 0, "/tool/d", 8, out, sizeof(out)), XS_READ);
	assert_string_equal(out, "v");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_has_a_row),
		cmocka_unit_test(test_rows_rules),
		cmocka_unit_test_setup_teardown(test_answers_follow_the_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_ids, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
