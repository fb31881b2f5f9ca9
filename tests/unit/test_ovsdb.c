/* Unit tests for the OVSDB client (include/pvnet/ovsdb.h): framer, replica, connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/ovsdb.h>

#define U1 "11111111-2222-3333-4444-555555555555"
#define U2 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

static void push_str(struct ovsdb_framer *f, const char *s)
{
	assert_int_equal(ovsdb_framer_push(f, s, strlen(s)), 0);
}

static void test_framer_split(void **state)
{
	static const char two[] =
		" {\"id\":1,\"s\":\"a}]\\\"{\"} \n{\"method\":\"update\",\"params\":[[1,{}]]}";
	struct ovsdb_framer f;
	size_t end1 = (size_t)(strstr(two, "\"} ") + 1 - two);
	json_t *m;

	(void)state;
	ovsdb_framer_init(&f, 0);
	/* byte by byte: nothing before the first closing brace */
	for (size_t i = 0; i < sizeof(two) - 1; i++) {
		assert_int_equal(ovsdb_framer_push(&f, two + i, 1), 0);
		int rc = ovsdb_framer_next(&f, &m);

		if (i == end1) {
			assert_int_equal(rc, 1);
			assert_string_equal(json_string_value(json_object_get(m, "s")), "a}]\"{");
			json_decref(m);
		} else if (i == sizeof(two) - 2) {
			assert_int_equal(rc, 1);
			assert_string_equal(json_string_value(json_object_get(m, "method")),
					    "update");
			json_decref(m);
		} else {
			assert_int_equal(rc, 0);
		}
	}
	assert_int_equal(ovsdb_framer_next(&f, &m), 0);
	/* all at once */
	push_str(&f, two);
	assert_int_equal(ovsdb_framer_next(&f, &m), 1);
	json_decref(m);
	assert_int_equal(ovsdb_framer_next(&f, &m), 1);
	json_decref(m);
	assert_int_equal(ovsdb_framer_next(&f, &m), 0);
	ovsdb_framer_fini(&f);
}

static void test_framer_bad(void **state)
{
	struct ovsdb_framer f;
	json_t *m;

	(void)state;
	ovsdb_framer_init(&f, 64);
	/* balanced but not JSON: consumed, the next message still parses */
	push_str(&f, "{\"a\":}{\"b\":2}");
	assert_int_equal(ovsdb_framer_next(&f, &m), -EPROTO);
	assert_null(m);
	assert_int_equal(ovsdb_framer_next(&f, &m), 1);
	assert_int_equal(json_integer_value(json_object_get(m, "b")), 2);
	json_decref(m);
	/* not an object: the framing is lost, everything dropped */
	push_str(&f, "[1,2]{\"c\":3}");
	assert_int_equal(ovsdb_framer_next(&f, &m), -EPROTO);
	assert_int_equal(ovsdb_framer_next(&f, &m), 0);
	/* a stray closing bracket inside an object */
	push_str(&f, "{]}");
	assert_int_equal(ovsdb_framer_next(&f, &m), -EPROTO); /* "{]" is no JSON */
	assert_int_equal(ovsdb_framer_next(&f, &m), -EPROTO); /* "}" starts no object */
	assert_int_equal(ovsdb_framer_next(&f, &m), 0);
	/* over the limit: refused and reset */
	char big[80];
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	assert_int_equal(ovsdb_framer_push(&f, big, 40), 0);
	assert_int_equal(ovsdb_framer_next(&f, &m), 0);
	assert_int_equal(ovsdb_framer_push(&f, big + 40, 40), -EMSGSIZE);
	assert_int_equal(f.len, 0);
	/* usable again afterwards */
	push_str(&f, "{\"d\":4}");
	assert_int_equal(ovsdb_framer_next(&f, &m), 1);
	json_decref(m);
	ovsdb_framer_fini(&f);
}

static json_t *js(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (!j)
		fail_msg("bad test JSON: %s: %s", text, err.text);
	return j;
}

static int apply(struct ovsdb_replica *r, const char *text, int replace)
{
	json_t *j = js(text);
	int rc = ovsdb_replica_apply(r, j, replace);

	json_decref(j);
	return rc;
}

static void test_replica(void **state)
{
	struct ovsdb_replica r;
	json_t *row;

	(void)state;
	assert_int_equal(ovsdb_replica_init(&r, 3), 0);
	assert_int_equal(apply(&r,
			       "{\"Logical_Switch\":{\"" U1
			       "\":{\"new\":{\"name\":\"ls1\",\"tunnel_key\":5000}}},"
			       "\"Physical_Locator\":{\"" U2
			       "\":{\"new\":{\"dst_ip\":\"10.0.0.2\"}}}}",
			       1),
			 0);
	assert_int_equal(r.rows, 2);
	row = ovsdb_replica_row(&r, "Logical_Switch", U1);
	assert_non_null(row);
	assert_string_equal(ovsdb_row_string(row, "name"), "ls1");
	/* modify merges the new columns */
	assert_int_equal(
		apply(&r,
		      "{\"Logical_Switch\":{\"" U1
		      "\":{\"old\":{\"tunnel_key\":5000},\"new\":{\"tunnel_key\":[\"set\",[5001]]}}}}",
		      0),
		0);
	row = ovsdb_replica_row(&r, "Logical_Switch", U1);
	assert_string_equal(ovsdb_row_string(row, "name"), "ls1");
	assert_int_equal(json_integer_value(ovsdb_set_get(json_object_get(row, "tunnel_key"), 0)),
			 5001);
	/* malformed: a bad uuid, or a "new" that is no object: nothing changes */
	assert_int_equal(apply(&r,
			       "{\"Logical_Switch\":{\"" U1
			       "\":{\"old\":{}}},\"X\":{\"nope\":{\"new\":{}}}}",
			       0),
			 -EINVAL);
	assert_int_equal(apply(&r, "{\"Logical_Switch\":{\"" U1 "\":{\"new\":7}}}", 0), -EINVAL);
	assert_int_equal(apply(&r, "[1]", 0), -EINVAL);
	assert_non_null(ovsdb_replica_row(&r, "Logical_Switch", U1));
	assert_int_equal(r.rows, 2);
	/* the row bound: a third row fits, a fourth does not, and nothing of it is kept */
	assert_int_equal(apply(&r, "{\"T\":{\"" U2 "\":{\"new\":{}}}}", 0), 0);
	assert_int_equal(r.rows, 3);
	assert_int_equal(apply(&r,
			       "{\"Logical_Switch\":{\"" U2 "\":{\"new\":{\"name\":\"ls2\"}}},"
			       "\"Physical_Locator\":{\"" U2 "\":{}}}",
			       0),
			 0); /* one in, one out */
	assert_int_equal(r.rows, 3);
	assert_int_equal(apply(&r, "{\"U\":{\"" U1 "\":{\"new\":{}}}}", 0), -ENOSPC);
	assert_null(ovsdb_replica_row(&r, "U", U1));
	/* delete */
	assert_int_equal(apply(&r, "{\"Logical_Switch\":{\"" U1 "\":{\"old\":{}}}}", 0), 0);
	assert_null(ovsdb_replica_row(&r, "Logical_Switch", U1));
	assert_int_equal(r.rows, 2);
	/* a full resync replaces everything: nothing stale survives */
	assert_int_equal(apply(&r,
			       "{\"Physical_Locator\":{\"" U1
			       "\":{\"new\":{\"dst_ip\":\"10.0.0.9\"}}}}",
			       1),
			 0);
	assert_int_equal(r.rows, 1);
	assert_null(ovsdb_replica_table(&r, "Logical_Switch"));
	assert_null(ovsdb_replica_table(&r, "T"));
	assert_non_null(ovsdb_replica_row(&r, "Physical_Locator", U1));
	ovsdb_replica_fini(&r);
}

static void test_datum(void **state)
{
	json_t *set = js("[\"set\",[[\"uuid\",\"" U1 "\"],[\"uuid\",\"" U2 "\"]]]");
	json_t *one = js("[\"uuid\",\"" U1 "\"]");
	json_t *map = js("[\"map\",[[0,[\"uuid\",\"" U2 "\"]],[7]]]");
	const json_t *k, *v;

	(void)state;
	assert_int_equal(ovsdb_set_len(set), 2);
	assert_string_equal(ovsdb_atom_uuid(ovsdb_set_get(set, 1)), U2);
	assert_int_equal(ovsdb_set_len(one), 1);
	assert_string_equal(ovsdb_atom_uuid(ovsdb_set_get(one, 0)), U1);
	assert_null(ovsdb_set_get(one, 1));
	assert_int_equal(ovsdb_map_len(map), 2);
	assert_int_equal(ovsdb_map_pair(map, 0, &k, &v), 0);
	assert_int_equal(json_integer_value(k), 0);
	assert_string_equal(ovsdb_atom_uuid(v), U2);
	assert_int_equal(ovsdb_map_pair(map, 1, &k, &v), -EINVAL);
	assert_int_equal(ovsdb_set_len(map), 0);
	assert_null(ovsdb_atom_uuid(map));
	assert_true(ovsdb_uuid_valid(U1));
	assert_false(ovsdb_uuid_valid("11111111-2222-3333-4444-55555555555"));
	assert_false(ovsdb_uuid_valid("11111111-2222-3333-4444x555555555555"));
	assert_false(ovsdb_uuid_valid("g1111111-2222-3333-4444-555555555555"));
	json_decref(set);
	json_decref(one);
	json_decref(map);
}

/* ---- connection against a server played by the test over a real unix socket ---- */

struct ev {
	int ups, downs, replies, notifies;
	uint64_t last_id;
	char last_method[32];
};

static void on_up(void *arg, struct ovsdb_conn *c)
{
	(void)c;
	((struct ev *)arg)->ups++;
}

static void on_down(void *arg, struct ovsdb_conn *c)
{
	(void)c;
	((struct ev *)arg)->downs++;
}

static void on_reply(void *arg, struct ovsdb_conn *c, uint64_t id, json_t *res, json_t *err)
{
	struct ev *e = arg;

	(void)c;
	(void)err;
	assert_non_null(res);
	e->replies++;
	e->last_id = id;
}

static void on_notify(void *arg, struct ovsdb_conn *c, const char *method, json_t *params)
{
	struct ev *e = arg;

	(void)c;
	(void)params;
	e->notifies++;
	snprintf(e->last_method, sizeof(e->last_method), "%s", method);
}

static const struct ovsdb_conn_ops ops = {on_up, on_down, on_reply, on_notify};

/* Runs the connection's loop until cond() or 3 s. */
static int spin(struct ovsdb_conn *c, int (*cond)(void *), void *arg)
{
	uint64_t end = pvnet_now_ms() + 3000;

	while (pvnet_now_ms() < end) {
		struct pollfd p = {.fd = ovsdb_conn_fd(c), .events = ovsdb_conn_events(c)};
		int t = ovsdb_conn_timeout_ms(c, pvnet_now_ms());

		if (cond(arg))
			return 1;
		if (t > 20)
			t = 20;
		if (poll(&p, p.fd >= 0 ? 1 : 0, t) < 0)
			return 0;
		ovsdb_conn_run(c, p.fd >= 0 ? p.revents : 0, pvnet_now_ms());
	}
	return cond(arg);
}

/* Runs the connection's loop for ms milliseconds. */
static void pump(struct ovsdb_conn *c, unsigned ms)
{
	uint64_t end = pvnet_now_ms() + ms;

	while (pvnet_now_ms() < end) {
		struct pollfd p = {.fd = ovsdb_conn_fd(c), .events = ovsdb_conn_events(c)};

		poll(&p, p.fd >= 0 ? 1 : 0, 10);
		ovsdb_conn_run(c, p.fd >= 0 ? p.revents : 0, pvnet_now_ms());
	}
}

static struct ev E;
static struct ovsdb_conn *C;
static int is_up(void *a)
{
	(void)a;
	return ovsdb_conn_is_up(C);
}
static int got_reply(void *a)
{
	(void)a;
	return E.replies > 0;
}
static int got_notify(void *a)
{
	(void)a;
	return E.notifies > 0;
}
static int is_down(void *a)
{
	(void)a;
	return E.downs > 0;
}

/* Reads one JSON message from the test server's side. */
static json_t *srv_read(int fd)
{
	struct ovsdb_framer f;
	json_t *m = NULL;
	char ch;

	ovsdb_framer_init(&f, 0);
	while (read(fd, &ch, 1) == 1) {
		assert_int_equal(ovsdb_framer_push(&f, &ch, 1), 0);
		if (ovsdb_framer_next(&f, &m) == 1)
			break;
	}
	ovsdb_framer_fini(&f);
	return m;
}

static void srv_write(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_conn(void **state)
{
	char dir[] = "/tmp/test_ovsdb.XXXXXX", path[64], target[80];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ovsdb_conn_stats st;
	struct ovsdb_conn *bad;
	int lfd, sfd;
	uint64_t id;
	json_t *m;

	(void)state;
	assert_int_equal(ovsdb_conn_create("tcp:1.2.3.4", &ops, NULL, &bad), -EINVAL);
	assert_int_equal(ovsdb_conn_create("tcp:1.2.3.4:0", &ops, NULL, &bad), -EINVAL);
	assert_int_equal(ovsdb_conn_create("ssl:1.2.3.4:6640", &ops, NULL, &bad), -EINVAL);
	assert_int_equal(ovsdb_conn_create("tcp:[::1]:6640", &ops, NULL, &bad), 0);
	ovsdb_conn_destroy(bad);

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/db.sock", dir);
	snprintf(target, sizeof(target), "unix:%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* no server yet: attempts fail and the backoff grows */
	assert_int_equal(ovsdb_conn_create(target, &ops, &E, &C), 0);
	ovsdb_conn_run(C, 0, pvnet_now_ms());
	ovsdb_conn_get_stats(C, &st);
	assert_int_equal(st.connect_fails, 1);
	assert_int_equal(ovsdb_conn_backoff_ms(C), 2 * OVSDB_BACKOFF_MIN_MS);
	assert_int_equal(ovsdb_conn_request(C, "list_dbs", NULL, &id), -ENOTCONN);

	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_true(spin(C, is_up, NULL));
	assert_int_equal(E.ups, 1);
	assert_int_equal(ovsdb_conn_backoff_ms(C), OVSDB_BACKOFF_MIN_MS);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);

	/* a request and its reply */
	assert_int_equal(ovsdb_conn_request(C, "list_dbs", json_array(), &id), 0);
	pump(C, 100); /* flushes; the connection stays up */
	m = srv_read(sfd);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "method")), "list_dbs");
	assert_int_equal(json_integer_value(json_object_get(m, "id")), (json_int_t)id);
	json_decref(m);
	/* a reply to no request is ignored, then the real one, then a server echo */
	srv_write(sfd, "{\"id\":99,\"result\":[],\"error\":null}");
	{
		char r[96];
		snprintf(r, sizeof(r),
			 "{\"id\":%llu,\"result\":[\"hardware_vtep\"],\"error\":null}",
			 (unsigned long long)id);
		srv_write(sfd, r);
	}
	srv_write(sfd, "{\"method\":\"echo\",\"params\":[\"x\"],\"id\":\"e1\"}garbage-after");
	assert_true(spin(C, got_reply, NULL));
	assert_int_equal(E.last_id, id);
	m = srv_read(sfd);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "id")), "e1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(m, "result"), 0)),
			    "x");
	json_decref(m);
	srv_write(sfd, "{\"method\":\"update\",\"params\":[null,{}],\"id\":null}");
	/* the garbage lost the framing: the framer was dropped, the notification may be gone
	 * with it, but the connection carries on and the next one arrives */
	spin(C, got_notify, NULL);
	if (!E.notifies) {
		srv_write(sfd, "{\"method\":\"update\",\"params\":[null,{}],\"id\":null}");
		assert_true(spin(C, got_notify, NULL));
	}
	assert_string_equal(E.last_method, "update");
	ovsdb_conn_get_stats(C, &st);
	assert_true(st.bad_msgs >= 2);
	assert_true(ovsdb_conn_is_up(C));

	/* the server goes away: disconnected, backoff, and back when it returns */
	close(sfd);
	assert_true(spin(C, is_down, NULL));
	assert_false(ovsdb_conn_is_up(C));
	assert_true(spin(C, is_up, NULL));
	assert_int_equal(E.ups, 2);
	ovsdb_conn_get_stats(C, &st);
	assert_int_equal(st.disconnects, 1);
	ovsdb_conn_destroy(C);

	/* a list of members (a cluster): a dead one first, the live one at the next connect;
	 * an empty element or more than OVSDB_MAX_REMOTES is refused */
	{
		char list[256];
		struct ovsdb_conn *L;

		assert_int_equal(ovsdb_conn_create("unix:/a,", &ops, NULL, &bad), -EINVAL);
		assert_int_equal(ovsdb_conn_create("unix:/a,unix:/b,unix:/c,unix:/d,unix:/e,"
						   "unix:/f,unix:/g,unix:/h,unix:/i",
						   &ops, NULL, &bad),
				 -EINVAL);
		snprintf(list, sizeof(list), "unix:%s/none.sock,%s", dir, target);
		assert_int_equal(ovsdb_conn_create(list, &ops, &E, &L), 0);
		C = L; /* is_up() looks at C */
		ovsdb_conn_run(L, 0, pvnet_now_ms());
		ovsdb_conn_get_stats(L, &st);
		assert_int_equal(st.connect_fails, 1);
		assert_true(spin(L, is_up, NULL));
		sfd = accept(lfd, NULL, NULL);
		assert_true(sfd >= 0);
		close(sfd);
		ovsdb_conn_destroy(L);
		C = NULL;
	}
	close(lfd);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framer_split), cmocka_unit_test(test_framer_bad),
		cmocka_unit_test(test_replica),      cmocka_unit_test(test_datum),
		cmocka_unit_test(test_conn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
