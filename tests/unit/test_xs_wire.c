/*
 * Wire-protocol tests (hv/xs_server.c, guest/xs_client.c): the server runs in its
 * own thread and poll loop on a Unix socket in a mkdtemp dir, driven by
 * Debian's xenstore-utils (fork/exec), raw (malformed) byte streams and xs_client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/io/xs_wire.h>
#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

#include "../../hv/xs_private.h"

static struct {
	char dir[64];
	char sock[96];
	struct xs_store *st;
	struct xs_server *srv;
	pthread_t thr;
	int stop[2];
	int guest3;  /* raw guest connection, dom3 */
	int guest3b; /* dom3 connection wrapped in an xs_client */
} g;

/* Served as pvnetd serves it: every fd in an epoll set (xs_server_watch). */
#define EP_TAG (7ull << 32)
static void *server_loop(void *arg)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event stop = {.events = EPOLLIN, .data.u64 = 0};
	(void)arg;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, g.stop[0], &stop) < 0 ||
	    xs_server_watch(g.srv, ep, EP_TAG) < 0)
		abort();
	for (;;) {
		struct epoll_event ev[64];
		int n = epoll_wait(ep, ev, 64, 100);
		bool quit = false;
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == 0)
				quit = true;
			else if ((ev[i].data.u64 & ~0xffffffffull) == EP_TAG)
				xs_server_handle(g.srv, (int)(uint32_t)ev[i].data.u64);
		}
		xs_server_flush(g.srv);
		if (quit)
			break;
	}
	close(ep);
	return NULL;
}

static int group_setup(void **state)
{
	int sp[2], sp2[2];
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	strcpy(g.dir, "/tmp/pvnet-xs-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	snprintf(g.sock, sizeof(g.sock), "%s/sock", g.dir);
	if (xs_store_create(NULL, &g.st) || xs_server_create(g.st, g.sock, &g.srv))
		return -1;
	if (xs_domain_introduce(g.st, 3, "guest3") || xs_domain_introduce(g.st, 5, "guest5"))
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp2))
		return -1;
	if (xs_server_add_conn(g.srv, sp[0], 3) || xs_server_add_conn(g.srv, sp2[0], 3))
		return -1;
	g.guest3 = sp[1];
	g.guest3b = sp2[1];
	if (pipe(g.stop) || pthread_create(&g.thr, NULL, server_loop, NULL))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	(void)state;
	if (write(g.stop[1], "x", 1) != 1)
		return -1;
	pthread_join(g.thr, NULL);
	close(g.stop[0]);
	close(g.stop[1]);
	close(g.guest3);
	close(g.guest3b);
	xs_server_destroy(g.srv);
	xs_store_destroy(g.st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---------- helpers ---------- */

static int raw_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, g.sock);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_send(int fd, uint32_t type, uint32_t req, uint32_t tx, const void *p, size_t len)
{
	struct xsd_sockmsg h = {type, req, tx, (uint32_t)len};
	assert_int_equal(send(fd, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
	if (len)
		assert_int_equal(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

static int read_full_timeout(int fd, void *buf, size_t len, int ms)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, ms) <= 0)
			return -ETIMEDOUT;
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one non-event message; payload into buf (NUL-terminated). */
static int raw_recv(int fd, struct xsd_sockmsg *h, char *buf, size_t cap, int ms)
{
	for (;;) {
		int rc = read_full_timeout(fd, h, sizeof(*h), ms);
		if (rc)
			return rc;
		assert_true(h->len < cap);
		if ((rc = read_full_timeout(fd, buf, h->len, ms)))
			return rc;
		buf[h->len] = '\0';
		if (h->type != XS_WATCH_EVENT)
			return 0;
	}
}

static void expect_error(int fd, uint32_t req, const char *name)
{
	struct xsd_sockmsg h;
	char buf[4200];
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_int_equal(h.type, XS_ERROR);
	assert_int_equal(h.req_id, req);
	assert_int_equal(h.len, strlen(name) + 1);
	assert_string_equal(buf, name);
}

static struct xs_client *client(void)
{
	struct xs_client *c;
	assert_int_equal(xs_client_open(g.sock, &c), 0);
	return c;
}

static bool have_tools(void)
{
	return access("/usr/bin/xenstore-ls", X_OK) == 0 &&
	       access("/usr/bin/xenstore-write", X_OK) == 0;
}

/* Runs a xenstore tool; stdout into out (NUL-terminated). Returns exit status. */
static int run_tool(char *out, size_t cap, const char *tool, ...)
{
	const char *argv[16];
	int n = 0, pfd[2], status;
	size_t off = 0;
	va_list ap;
	argv[n++] = tool;
	va_start(ap, tool);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		setenv("XENSTORED_PATH", g.sock, 1);
		execvp(tool, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], out + off, cap - 1 - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	out[off] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* ---------- real xenstore-utils ---------- */

static void test_tools_basic(void **state)
{
	char out[8192];
	(void)state;
	if (!have_tools()) {
		skip(); /* xenstore-utils not installed (apt-get install xenstore-utils) */
		return;
	}
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-write", "/tt/a", "hello", "/tt/b/c",
				  "x y", NULL),
			 0);
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-read", "/tt/a", NULL), 0);
	assert_string_equal(out, "hello\n");
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-list", "/tt", NULL), 0);
	assert_string_equal(out, "a\nb\n");
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-ls", "/tt", NULL), 0);
	assert_non_null(strstr(out, "a = \"hello\""));
	assert_non_null(strstr(out, " c = \"x y\""));
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-chmod", "/tt/a", "n3", "r5", NULL),
			 0);
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-ls", "-p", "/tt", NULL), 0);
	assert_non_null(strstr(out, "(n3,r5)"));
	/* The chmod is real: dom5 may read, dom3 owns. */
	char *v;
	struct xs_perm p[4];
	unsigned np = 4;
	struct xs_client *c = client();
	assert_int_equal(xs_client_get_perms(c, 0, "/tt/a", p, &np), 0);
	assert_int_equal(np, 2);
	assert_int_equal(p[0].domid, 3);
	assert_int_equal(p[1].domid, 5);
	assert_int_equal(p[1].perm, XS_PERM_READ);
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-rm", "/tt/b", NULL), 0);
	assert_int_equal(xs_client_read(c, 0, "/tt/b/c", &v, NULL), -ENOENT);
	assert_int_not_equal(run_tool(out, sizeof(out), "xenstore-read", "/tt/b", NULL), 0);
	/* The whole tree lists, including introduced domains. */
	assert_int_equal(run_tool(out, sizeof(out), "xenstore-ls", NULL), 0);
	assert_non_null(strstr(out, "name = \"guest3\""));
	xs_client_close(c);
}

static void test_tools_big_directory(void **state)
{
	char out[65536];
	char p[64];
	struct xs_client *c = client();
	(void)state;
	for (int i = 0; i < 400; i++) {
		snprintf(p, sizeof(p), "/bigdir/a-rather-long-child-name-%03d", i);
		assert_int_equal(xs_client_write(c, 0, p, "v", 1), 0);
	}
	/* xs_client falls back to XS_DIRECTORY_PART on E2BIG, as libxenstore does. */
	char **names;
	unsigned count;
	assert_int_equal(xs_client_directory(c, 0, "/bigdir", &names, &count), 0);
	assert_int_equal(count, 400);
	assert_string_equal(names[399], "a-rather-long-child-name-399");
	xs_free_list(names, count);
	/* Raw XS_DIRECTORY_PART: generation, names, and an empty string at the end. */
	int fd = raw_connect();
	struct xsd_sockmsg h;
	char buf[4200];
	raw_send(fd, XS_DIRECTORY, 1, 0, "/bigdir", 8);
	expect_error(fd, 1, "E2BIG");
	raw_send(fd, XS_DIRECTORY_PART, 2, 0,
		 "/bigdir\0"
		 "11542",
		 14);
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_int_equal(h.type, XS_DIRECTORY_PART);
	size_t gl = strlen(buf);
	assert_true(gl > 0 && gl < 20);
	assert_string_equal(buf + gl + 1, "a-rather-long-child-name-398");
	assert_int_equal(h.len, gl + 1 + 2 * 29 + 1);
	assert_int_equal(buf[h.len - 1], 0);
	assert_int_equal(buf[h.len - 2], 0);
	close(fd);
	if (have_tools()) {
		assert_int_equal(run_tool(out, sizeof(out), "xenstore-list", "/bigdir", NULL), 0);
		int lines = 0;
		for (char *s = out; *s; s++)
			lines += *s == '\n';
		assert_int_equal(lines, 400);
	}
	assert_int_equal(xs_client_rm(c, 0, "/bigdir"), 0);
	xs_client_close(c);
}

static void test_tool_watch(void **state)
{
	int pfd[2], status;
	char buf[256];
	size_t off = 0;
	(void)state;
	if (access("/usr/bin/xenstore-watch", X_OK)) {
		skip(); /* xenstore-watch missing */
		return;
	}
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		setenv("XENSTORED_PATH", g.sock, 1);
		execlp("xenstore-watch", "xenstore-watch", "-n", "2", "/wt", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* First line: the event fired on registration. */
	while (!memchr(buf, '\n', off)) {
		assert_int_equal(read_full_timeout(pfd[0], buf + off, 1, 5000), 0);
		off++;
	}
	buf[off] = '\0';
	assert_string_equal(buf, "/wt\n");
	struct xs_client *c = client();
	assert_int_equal(xs_client_write(c, 0, "/wt/below/x", "1", 1), 0);
	off = 0;
	for (;;) {
		ssize_t r = read(pfd[0], buf + off, sizeof(buf) - 1 - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	buf[off] = '\0';
	assert_string_equal(buf, "/wt/below/x\n");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(pfd[0]);
	xs_client_close(c);
}

/* ---------- xs_client ---------- */

static void test_client_ops(void **state)
{
	struct xs_client *c = client();
	char *v, **names;
	size_t len;
	unsigned count;
	(void)state;
	assert_int_equal(xs_client_write(c, 0, "/cl/bin", "a\0b", 3), 0);
	assert_int_equal(xs_client_read(c, 0, "/cl/bin", &v, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "a\0b", 3);
	free(v);
	assert_int_equal(xs_client_printf(c, 0, "/cl/n", "%d", 7), 0);
	assert_int_equal(xs_client_mkdir(c, 0, "/cl/dir"), 0);
	assert_int_equal(xs_client_directory(c, 0, "/cl", &names, &count), 0);
	assert_int_equal(count, 3);
	xs_free_list(names, count);
	assert_int_equal(xs_client_get_domain_path(c, 3, &v), 0);
	assert_string_equal(v, "/local/domain/3");
	free(v);
	assert_int_equal(xs_client_rm(c, 0, "/cl/dir"), 0);
	assert_int_equal(xs_client_read(c, 0, "/cl/dir", &v, &len), -ENOENT);
	assert_int_equal(xs_client_read(c, 0, "/cl//x", &v, &len), -EINVAL);
	/* Transactions: commit, abort. */
	uint32_t tx;
	assert_int_equal(xs_client_transaction_start(c, &tx), 0);
	assert_int_equal(xs_client_write(c, tx, "/cl/tx", "1", 1), 0);
	assert_int_equal(xs_client_read(c, 0, "/cl/tx", &v, &len), -ENOENT);
	assert_int_equal(xs_client_transaction_end(c, tx, true), 0);
	assert_int_equal(xs_client_read(c, 0, "/cl/tx", &v, &len), 0);
	free(v);
	assert_int_equal(xs_client_transaction_start(c, &tx), 0);
	assert_int_equal(xs_client_rm(c, tx, "/cl/tx"), 0);
	assert_int_equal(xs_client_transaction_end(c, tx, false), 0);
	assert_int_equal(xs_client_read(c, 0, "/cl/tx", &v, &len), 0);
	free(v);
	assert_int_equal(xs_client_transaction_end(c, 999999, true), -ENOENT);
	xs_client_close(c);
}

static void test_tx_conflict_over_wire(void **state)
{
	struct xs_client *a = client(), *b = client();
	uint32_t tx;
	char *v;
	(void)state;
	assert_int_equal(xs_client_write(a, 0, "/conf/k", "0", 1), 0);
	assert_int_equal(xs_client_transaction_start(a, &tx), 0);
	assert_int_equal(xs_client_read(a, tx, "/conf/k", &v, NULL), 0);
	free(v);
	/* b cannot use a's transaction. */
	assert_int_equal(xs_client_write(b, tx, "/conf/k", "b", 1), -ENOENT);
	assert_int_equal(xs_client_write(b, 0, "/conf/k", "b", 1), 0);
	assert_int_equal(xs_client_write(a, tx, "/conf/k", "a", 1), 0);
	assert_int_equal(xs_client_transaction_end(a, tx, true), -EAGAIN);
	assert_int_equal(xs_client_read(a, 0, "/conf/k", &v, NULL), 0);
	assert_string_equal(v, "b");
	free(v);
	xs_client_close(a);
	xs_client_close(b);
}

static void test_client_watch_events_queued(void **state)
{
	struct xs_client *a = client(), *b = client();
	char *path, *token, *v;
	(void)state;
	assert_int_equal(xs_client_watch(a, "/wq", "tokA"), 0);
	assert_int_equal(xs_client_write(b, 0, "/wq/x", "1", 1), 0);
	assert_int_equal(xs_client_write(b, 0, "/wqsibling", "1", 1), 0);
	/* A request on a: events arriving meanwhile are queued, not lost. */
	assert_int_equal(xs_client_read(a, 0, "/wq/x", &v, NULL), 0);
	free(v);
	assert_int_equal(xs_client_read_watch(a, 2000, &path, &token), 0);
	assert_string_equal(path, "/wq");
	assert_string_equal(token, "tokA");
	free(path);
	free(token);
	assert_int_equal(xs_client_read_watch(a, 2000, &path, &token), 0);
	assert_string_equal(path, "/wq/x");
	free(path);
	free(token);
	assert_int_equal(xs_client_read_watch(a, 100, &path, &token), -ETIMEDOUT);
	assert_int_equal(xs_client_unwatch(a, "/wq", "tokA"), 0);
	assert_int_equal(xs_client_unwatch(a, "/wq", "tokA"), -ENOENT);
	assert_int_equal(xs_client_write(b, 0, "/wq/y", "1", 1), 0);
	assert_int_equal(xs_client_read_watch(a, 100, &path, &token), -ETIMEDOUT);
	xs_client_close(a);
	xs_client_close(b);
}

static void test_release_domain_fired(void **state)
{
	struct xs_client *c = client();
	char *path, *token, *v;
	(void)state;
	assert_int_equal(xs_client_watch(c, "@releaseDomain", "rel"), 0);
	assert_int_equal(xs_client_read_watch(c, 2000, &path, &token), 0);
	assert_string_equal(path, "@releaseDomain");
	free(path);
	free(token);
	/* XS_RELEASE from the (dom0) socket releases dom5. */
	int fd = raw_connect();
	struct xsd_sockmsg h;
	char buf[64];
	raw_send(fd, XS_IS_DOMAIN_INTRODUCED, 1, 0, "5", 2);
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "T");
	raw_send(fd, XS_RELEASE, 2, 0, "5", 2);
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_int_equal(h.type, XS_RELEASE);
	assert_string_equal(buf, "OK");
	raw_send(fd, XS_IS_DOMAIN_INTRODUCED, 3, 0, "5", 2);
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_string_equal(buf, "F");
	close(fd);
	assert_int_equal(xs_client_read_watch(c, 2000, &path, &token), 0);
	assert_string_equal(path, "@releaseDomain");
	assert_string_equal(token, "rel");
	free(path);
	free(token);
	assert_int_equal(xs_client_read(c, 0, "/local/domain/5/name", &v, NULL), -ENOENT);
	xs_client_close(c);
}

/* ---------- bad input on the wire ---------- */

static void test_oversized_len_dropped(void **state)
{
	int bad = raw_connect(), good = raw_connect();
	struct xsd_sockmsg h;
	char buf[64];
	(void)state;
	struct xsd_sockmsg big = {XS_READ, 1, 0, XENSTORE_PAYLOAD_MAX + 1};
	assert_int_equal(send(bad, &big, sizeof(big), 0), sizeof(big));
	/* Dropped: EOF, no reply. */
	assert_int_equal(read_full_timeout(bad, &h, sizeof(h), 2000), -ECONNRESET);
	close(bad);
	/* The server still serves others. */
	raw_send(good, XS_GET_DOMAIN_PATH, 9, 0, "3", 2);
	assert_int_equal(raw_recv(good, &h, buf, sizeof(buf), 2000), 0);
	assert_int_equal(h.req_id, 9);
	assert_string_equal(buf, "/local/domain/3");
	close(good);
}

static void test_truncated_then_rest(void **state)
{
	int fd = raw_connect();
	uint8_t msg[64];
	struct xsd_sockmsg h = {XS_GET_DOMAIN_PATH, 77, 0, 3}, r;
	char buf[64];
	(void)state;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), "42", 3);
	assert_int_equal(send(fd, msg, 10, 0), 10); /* part of the header */
	assert_int_equal(read_full_timeout(fd, &r, sizeof(r), 150), -ETIMEDOUT);
	assert_int_equal(send(fd, msg + 10, 7, 0), 7); /* rest of header + 1 byte */
	assert_int_equal(read_full_timeout(fd, &r, sizeof(r), 150), -ETIMEDOUT);
	assert_int_equal(send(fd, msg + 17, 2, 0), 2);
	assert_int_equal(raw_recv(fd, &r, buf, sizeof(buf), 2000), 0);
	assert_int_equal(r.req_id, 77);
	assert_string_equal(buf, "/local/domain/42");
	/* Two messages in one write are both answered, in order. */
	uint8_t two[64];
	h.req_id = 1;
	h.len = 2;
	memcpy(two, &h, sizeof(h));
	memcpy(two + 16, "1", 2);
	h.req_id = 2;
	h.len = 2;
	memcpy(two + 18, &h, sizeof(h));
	memcpy(two + 34, "2", 2);
	assert_int_equal(send(fd, two, 36, 0), 36);
	assert_int_equal(raw_recv(fd, &r, buf, sizeof(buf), 2000), 0);
	assert_int_equal(r.req_id, 1);
	assert_int_equal(raw_recv(fd, &r, buf, sizeof(buf), 2000), 0);
	assert_int_equal(r.req_id, 2);
	assert_string_equal(buf, "/local/domain/2");
	close(fd);
}

static void test_unknown_type_enosys(void **state)
{
	int fd = raw_connect();
	(void)state;
	raw_send(fd, 99, 5, 0, "x", 2);
	expect_error(fd, 5, "ENOSYS");
	raw_send(fd, XS_WATCH_EVENT, 6, 0, "/a\0t", 5);
	expect_error(fd, 6, "ENOSYS");
	raw_send(fd, 20 /* removed XS_RESTRICT */, 7, 0, NULL, 0);
	expect_error(fd, 7, "ENOSYS");
	raw_send(fd, XS_SET_TARGET, 17, 0,
		 "3\0"
		 "5",
		 4);
	expect_error(fd, 17, "ENOSYS");
	/* Missing NUL terminator / wrong arg count. */
	raw_send(fd, XS_READ, 8, 0, "/tool", 5);
	expect_error(fd, 8, "EINVAL");
	raw_send(fd, XS_WATCH, 9, 0, "/tool", 6);
	expect_error(fd, 9, "EINVAL");
	raw_send(fd, XS_TRANSACTION_END, 10, 0, "X", 2);
	expect_error(fd, 10, "EINVAL");
	raw_send(fd, XS_SET_PERMS, 11, 0, "/tool\0q3", 9);
	expect_error(fd, 11, "EINVAL");
	raw_send(fd, XS_CONTROL, 12, 0, "print\0x", 8);
	expect_error(fd, 12, "ENOSYS");
	close(fd);
}

static void test_guest_restrictions(void **state)
{
	int fd = g.guest3;
	struct xsd_sockmsg h;
	char buf[4200];
	(void)state;
	raw_send(fd, XS_INTRODUCE, 1, 0,
		 "9\0"
		 "1\0"
		 "1",
		 6);
	expect_error(fd, 1, "EACCES");
	raw_send(fd, XS_RELEASE, 2, 0, "5", 2);
	expect_error(fd, 2, "EACCES");
	raw_send(fd, XS_READ, 3, 0, "/local/domain/5/name", 21);
	expect_error(fd, 3, "EACCES");
	raw_send(fd, XS_WRITE, 4, 0, "/tool/evil\0x", 12);
	expect_error(fd, 4, "EACCES");
	raw_send(fd, XS_CONTROL, 5, 0, "print\0x", 8);
	expect_error(fd, 5, "EACCES");
	/* Its own home, by relative path. */
	raw_send(fd, XS_WRITE, 6, 0, "data/k\0val", 10);
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_int_equal(h.type, XS_WRITE);
	assert_string_equal(buf, "OK");
	raw_send(fd, XS_READ, 7, 0, "/local/domain/3/data/k", 23);
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_int_equal(h.type, XS_READ);
	assert_int_equal(h.len, 3);
	assert_string_equal(buf, "val");
	/* Value over the default xs-value-size (2048): Xen's ENOSPC. */
	char big[2100 + 8];
	memcpy(big, "data/b", 7);
	memset(big + 7, 'x', 2100);
	raw_send(fd, XS_WRITE, 8, 0, big, 7 + 2049);
	expect_error(fd, 8, "ENOSPC");
	/* Perms as the wire sends them. */
	raw_send(fd, XS_GET_PERMS, 9, 0, "data/k", 7);
	assert_int_equal(raw_recv(fd, &h, buf, sizeof(buf), 2000), 0);
	assert_int_equal(h.len, 3);
	assert_memory_equal(buf, "n3\0", 3);
}

static void test_guest_client_quota_tx(void **state)
{
	struct xs_client *c;
	uint32_t tx[11];
	int rc = 0, i;
	(void)state;
	assert_int_equal(xs_client_open_fd(dup(g.guest3b), &c), 0);
	for (i = 0; i < 11 && rc == 0; i++)
		rc = xs_client_transaction_start(c, &tx[i]);
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(i, 11);
	/* Transactions are the domain's: its other connection gets none either. */
	struct xs_client *c2;
	uint32_t t2;
	assert_int_equal(xs_client_open_fd(dup(g.guest3), &c2), 0);
	assert_int_equal(xs_client_transaction_start(c2, &t2), -ENOSPC);
	for (i = 0; i < 10; i++)
		assert_int_equal(xs_client_transaction_end(c, tx[i], false), 0);
	assert_int_equal(xs_client_transaction_start(c2, &t2), 0);
	assert_int_equal(xs_client_transaction_end(c2, t2, false), 0);
	/* Watch quota (default 128 per domain): cxenstored's E2BIG. */
	char tok[16];
	rc = 0;
	for (i = 0; i < 200 && rc == 0; i++) {
		snprintf(tok, sizeof(tok), "%d", i);
		rc = xs_client_watch(c, "data", tok);
		if (rc == 0) {
			/* swallow the registration event */
			char *ep, *et;
			assert_int_equal(xs_client_read_watch(c, 2000, &ep, &et), 0);
			free(ep);
			free(et);
		}
	}
	assert_int_equal(rc, -E2BIG);
	assert_true(i <= 129);
	/* The domain's other connection gains nothing... */
	assert_int_equal(xs_client_watch(c2, "data", "other"), -E2BIG);
	/* ...until one is given back. */
	assert_int_equal(xs_client_unwatch(c, "data", "0"), 0);
	assert_int_equal(xs_client_watch(c2, "data", "other"), 0);
	assert_int_equal(xs_client_unwatch(c2, "data", "other"), 0);
	for (int k = 1; k < i - 1; k++) {
		snprintf(tok, sizeof(tok), "%d", k);
		assert_int_equal(xs_client_unwatch(c, "data", tok), 0);
	}
	xs_client_close(c2);
	xs_client_close(c);
}

static void test_slow_reader_dropped(void **state)
{
	int slow = raw_connect();
	struct xs_client *c = client();
	char token[2000];
	size_t total = 0;
	bool eof = false;
	(void)state;
	memset(token, 't', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	char msg[2100];
	memcpy(msg, "/slow\0", 6);
	memcpy(msg + 6, token, sizeof(token));
	raw_send(slow, XS_WATCH, 1, 0, msg, 6 + sizeof(token));
	/* ~2 KiB per event, never read: more than 1 MiB + socket buffers. */
	for (int i = 0; i < 1200; i++)
		assert_int_equal(xs_client_write(c, 0, "/slow/x", "1", 1), 0);
	/* The server is still responsive to others. */
	char *v;
	assert_int_equal(xs_client_read(c, 0, "/slow/x", &v, NULL), 0);
	free(v);
	/* Drain: the slow connection ends with EOF before all events arrived. */
	for (;;) {
		ssize_t n;
		struct pollfd pfd = {.fd = slow, .events = POLLIN};
		if (poll(&pfd, 1, 2000) <= 0)
			break;
		n = read(slow, token, sizeof(token));
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		total += (size_t)n;
	}
	assert_true(eof);
	assert_true(total > 0 && total < 1200u * 2000u);
	close(slow);
	xs_client_close(c);
}

/* Builds one request into buf; returns its size. */
static size_t mk_req(uint8_t *buf, uint32_t type, uint32_t req, const void *pl, size_t len)
{
	struct xsd_sockmsg h = {type, req, 0, (uint32_t)len};
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), pl, len);
	return sizeof(h) + len;
}

/* Counts queued messages of a connection by type (drains them). */
static void drain(struct xs_server *srv, struct xs_conn *c, unsigned *replies, unsigned *events)
{
	size_t len;
	const void *p;
	*replies = *events = 0;
	while ((p = xs_conn_output(c, &len)) && len) {
		struct xsd_sockmsg h;
		assert_true(len >= sizeof(h));
		memcpy(&h, p, sizeof(h));
		if (h.type == XS_WATCH_EVENT)
			(*events)++;
		else
			(*replies)++;
		xs_conn_output_consume(srv, c, len);
	}
}

/* Per-domain limits of the server: connections, queued events and output. */
static void test_server_domain_limits(void **state)
{
	struct quota_limits lim;
	struct quota_ledger *led;
	struct xs_store *st;
	struct xs_server *srv;
	struct xs_conn *c[4], *more;
	uint8_t buf[256];
	unsigned r, e;
	(void)state;
	quota_limits_default(&lim);
	lim.v[QUOTA_XS_CONNS] = 2;
	lim.v[QUOTA_XS_WATCH_EVENTS] = 5;
	lim.v[QUOTA_XS_OUTPUT_BYTES] = 2000;
	assert_int_equal(quota_ledger_create(&lim, &led), 0);
	assert_int_equal(xs_store_create(led, &st), 0);
	assert_int_equal(xs_domain_introduce(st, 3, "g3"), 0);
	assert_int_equal(xs_server_create(st, NULL, &srv), 0);

	/* xs-conns: the third connection of dom3 is refused; dom0 and dom4 are not. */
	assert_int_equal(xs_server_add_mem_conn(srv, 3, &c[0]), 0);
	assert_int_equal(xs_server_add_mem_conn(srv, 3, &c[1]), 0);
	assert_int_equal(xs_server_add_mem_conn(srv, 3, &more), -EDQUOT);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(xs_server_add_conn(srv, sp[0], 3), -EDQUOT); /* fd closed by it */
	close(sp[1]);
	assert_int_equal(xs_server_add_mem_conn(srv, 4, &c[2]), 0);
	assert_int_equal(xs_server_add_mem_conn(srv, 0, &c[3]), 0);
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_CONNS), 2);

	/* A watch dom3 never reads: events beyond xs-watch-events drop the oldest. */
	size_t n = mk_req(buf, XS_WATCH, 1, "data\0t", 7);
	assert_int_equal(xs_conn_feed(srv, c[0], buf, n), (int)n);
	drain(srv, c[0], &r, &e);
	assert_int_equal(r, 1);
	assert_int_equal(e, 1);
	for (int i = 0; i < 20; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/local/domain/3/data/k%d", i);
		assert_int_equal(xs_write(st, 0, 0, path, "v", 1), 0);
	}
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_WATCH_EVENTS), 5);
	assert_true(xs_server_events_dropped(srv) >= 15);
	/* The newest survive. */
	{
		size_t len;
		const uint8_t *p = xs_conn_output(c[0], &len);
		assert_non_null(p);
		assert_non_null(memmem(p, len, "data/k15", 8));
	}
	drain(srv, c[0], &r, &e);
	assert_int_equal(e, 5);
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_WATCH_EVENTS), 0);
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES), 0);

	/* xs-output-bytes: a domain that does not read its replies is not read either. */
	unsigned sent = 0;
	uint8_t reqs[64 * 32];
	size_t off = 0;
	char bigval[1000];
	memset(bigval, 'b', sizeof(bigval));
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/3/big", bigval, sizeof(bigval)), 0);
	for (int i = 0; i < 64; i++, sent++)
		off += mk_req(reqs + off, XS_READ, (uint32_t)(100 + i), "big", 4);
	int fed = xs_conn_feed(srv, c[1], reqs, off);
	assert_true(fed > 0 && (size_t)fed <= off);
	uint64_t held = quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES);
	assert_true(held >= 2000 && held < 2000 + 4096 + 16);
	/* Its other connection is held back as well (the quota is the domain's). */
	n = mk_req(buf, XS_READ, 7, "domid", 6);
	assert_int_equal(xs_conn_feed(srv, c[0], buf, n), (int)n);
	drain(srv, c[0], &r, &e);
	assert_int_equal(r, 0);
	/* dom4 is not affected. */
	assert_int_equal(xs_conn_feed(srv, c[2], buf, n), (int)n);
	drain(srv, c[2], &r, &e);
	assert_int_equal(r, 1);
	/* Once dom3 reads, its requests are served again (drained in turns). */
	unsigned total = 0;
	for (int turn = 0; turn < 100 && total < sent; turn++) {
		drain(srv, c[1], &r, &e);
		total += r;
		int k = xs_conn_feed(srv, c[1], reqs + fed, off - (size_t)fed);
		assert_true(k >= 0);
		fed += k;
	}
	assert_int_equal(total, sent);

	xs_server_destroy(srv);
	xs_store_destroy(st);
	for (int d = 0; d < 5; d++)
		for (int res = QUOTA_XS_CONNS; res <= QUOTA_XS_WATCH_EVENTS; res++)
			if (d)
				assert_int_equal(quota_usage(led, (domid_t)d, (enum quota_res)res),
						 0);
	quota_ledger_destroy(led);
}

/* A connection of a throttled domain that hangs up is dropped, not polled for ever. */
static void test_throttled_hangup_dropped(void **state)
{
	struct quota_limits lim;
	struct quota_ledger *led;
	struct xs_store *st;
	struct xs_server *srv;
	int deaf[2], gone[2];
	struct pollfd p[8];
	uint8_t reqs[20 * 32];
	size_t off = 0;
	char bigval[3000];
	(void)state;
	quota_limits_default(&lim);
	lim.v[QUOTA_XS_OUTPUT_BYTES] = 2000;
	assert_int_equal(quota_ledger_create(&lim, &led), 0);
	assert_int_equal(xs_store_create(led, &st), 0);
	assert_int_equal(xs_domain_introduce(st, 3, "g3"), 0);
	assert_int_equal(xs_server_create(st, NULL, &srv), 0);
	memset(bigval, 'b', sizeof(bigval));
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/3/big", bigval, sizeof(bigval)), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, deaf), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, gone), 0);
	/* A small send buffer: the kernel soon takes no more replies for the deaf peer. */
	int sz = 4096;
	setsockopt(deaf[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	assert_int_equal(xs_server_add_conn(srv, deaf[0], 3), 0);
	assert_int_equal(xs_server_add_conn(srv, gone[0], 3), 0);
	for (int i = 0; i < 20; i++)
		off += mk_req(reqs + off, XS_READ, (uint32_t)i + 1, "big", 4);
	/* Serve in turns while the peer sends and never reads, until replies wait in pvnetd. */
	for (int turn = 0; turn < 40; turn++) {
		if (turn < 20)
			assert_int_equal(write(deaf[1], reqs + turn * (off / 20), off / 20),
					 (ssize_t)(off / 20));
		int n = xs_server_pollfds(srv, p, 8);
		if (poll(p, (nfds_t)n, 10) > 0)
			for (int i = 0; i < n; i++)
				if (p[i].revents)
					xs_server_handle(srv, p[i].fd);
	}
	assert_true(quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES) >= 2000);
	/* Throttled: neither connection of the domain is polled for input. */
	int n = xs_server_pollfds(srv, p, 8);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		assert_int_equal(p[i].events & POLLIN, 0);
	/* The other connection's peer goes away: one turn drops it. */
	close(gone[1]);
	for (int turn = 0; turn < 3; turn++) {
		n = xs_server_pollfds(srv, p, 8);
		if (poll(p, (nfds_t)n, 10) > 0)
			for (int i = 0; i < n; i++)
				if (p[i].revents)
					xs_server_handle(srv, p[i].fd);
	}
	assert_int_equal(xs_server_pollfds(srv, p, 8), 1);
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_CONNS), 1);
	close(deaf[1]);
	xs_server_destroy(srv);
	xs_store_destroy(st);
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES), 0);
	quota_ledger_destroy(led);
}

/*
 * The epoll path: a throttled domain's connections are not watched for input
 * (no busy wake-ups while its requests wait), are watched again once the peer
 * reads its replies (every request is then answered), and one that hangs up
 * while throttled is dropped.
 */
static void test_watch_throttled_parked(void **state)
{
	struct quota_limits lim;
	struct quota_ledger *led;
	struct xs_store *st;
	struct xs_server *srv;
	struct epoll_event ev[8];
	int deaf[2], gone[2], ep, n;
	uint8_t reqs[20 * 32];
	static uint8_t in[20 * 3100];
	size_t off = 0, got = 0;
	unsigned replies = 0, idle_wakeups = 0;
	char bigval[3000];
	(void)state;
	quota_limits_default(&lim);
	lim.v[QUOTA_XS_OUTPUT_BYTES] = 2000;
	assert_int_equal(quota_ledger_create(&lim, &led), 0);
	assert_int_equal(xs_store_create(led, &st), 0);
	assert_int_equal(xs_domain_introduce(st, 3, "g3"), 0);
	assert_int_equal(xs_server_create(st, NULL, &srv), 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	assert_int_equal(xs_server_watch(srv, ep, EP_TAG), 0);
	assert_int_equal(xs_server_watch(srv, ep, EP_TAG), -EINVAL); /* once */
	memset(bigval, 'b', sizeof(bigval));
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/3/big", bigval, sizeof(bigval)), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, deaf), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, gone), 0);
	int sz = 4096;
	setsockopt(deaf[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	assert_int_equal(xs_server_add_conn(srv, deaf[0], 3), 0);
	assert_int_equal(xs_server_add_conn(srv, gone[0], 3), 0);
	for (int i = 0; i < 20; i++)
		off += mk_req(reqs + off, XS_READ, (uint32_t)i + 1, "big", 4);
	/* The peer sends in turns and never reads, until replies wait in the server. */
	for (int turn = 0; turn < 40; turn++) {
		if (turn < 20)
			assert_int_equal(write(deaf[1], reqs + turn * (off / 20), off / 20),
					 (ssize_t)(off / 20));
		n = epoll_wait(ep, ev, 8, 10);
		for (int i = 0; i < n; i++)
			xs_server_handle(srv, (int)(uint32_t)ev[i].data.u64);
		xs_server_flush(srv);
	}
	assert_true(quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES) >= 2000);
	/* Throttled, requests unread, replies stuck: nothing wakes the loop. */
	for (int turn = 0; turn < 5; turn++)
		if (epoll_wait(ep, ev, 8, 10) > 0)
			idle_wakeups++;
	assert_int_equal(idle_wakeups, 0);
	/* The other connection hangs up: dropped although not watched for input. */
	close(gone[1]);
	for (int turn = 0; turn < 3; turn++) {
		n = epoll_wait(ep, ev, 8, 10);
		for (int i = 0; i < n; i++)
			xs_server_handle(srv, (int)(uint32_t)ev[i].data.u64);
		xs_server_flush(srv);
	}
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_CONNS), 1);
	/* The peer reads: every request is answered, in bounded time. */
	for (int turn = 0; turn < 2000 && replies < 20; turn++) {
		ssize_t r = recv(deaf[1], in + got, sizeof(in) - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		for (replies = 0, off = 0; off + sizeof(struct xsd_sockmsg) <= got;) {
			struct xsd_sockmsg h;
			memcpy(&h, in + off, sizeof(h));
			if (off + sizeof(h) + h.len > got)
				break;
			assert_int_equal(h.type, XS_READ);
			off += sizeof(h) + h.len;
			replies++;
		}
		n = epoll_wait(ep, ev, 8, 1);
		for (int i = 0; i < n; i++)
			xs_server_handle(srv, (int)(uint32_t)ev[i].data.u64);
		xs_server_flush(srv);
	}
	assert_int_equal(replies, 20);
	close(deaf[1]);
	for (int turn = 0; turn < 3; turn++) {
		n = epoll_wait(ep, ev, 8, 10);
		for (int i = 0; i < n; i++)
			xs_server_handle(srv, (int)(uint32_t)ev[i].data.u64);
		xs_server_flush(srv);
	}
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_CONNS), 0);
	/* Closed connections left the set: it is empty. */
	assert_int_equal(epoll_wait(ep, ev, 8, 0), 0);
	xs_server_destroy(srv);
	xs_store_destroy(st);
	close(ep);
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES), 0);
	quota_ledger_destroy(led);
}

/* Turns of an epoll-driven server loop. */
static void ep_turns(struct xs_server *srv, int ep, int turns, int ms)
{
	struct epoll_event ev[8];
	for (int turn = 0; turn < turns; turn++) {
		int n = epoll_wait(ep, ev, 8, ms);
		for (int i = 0; i < n; i++)
			xs_server_handle(srv, (int)(uint32_t)ev[i].data.u64);
		xs_server_flush(srv);
	}
}

/*
 * A connection with no output of its own, whose domain is throttled by its
 * other connection's unread replies, is not served meanwhile and is watched
 * again (its request answered) once those replies are read.
 */
static void test_watch_parked_rearmed(void **state)
{
	struct quota_limits lim;
	struct quota_ledger *led;
	struct xs_store *st;
	struct xs_server *srv;
	int deaf[2], b[2], ep;
	uint8_t reqs[20 * 32], req[32], sink[65536], reply[64];
	size_t off = 0, rlen;
	ssize_t r = -1;
	char bigval[3000];
	(void)state;
	quota_limits_default(&lim);
	lim.v[QUOTA_XS_OUTPUT_BYTES] = 2000;
	assert_int_equal(quota_ledger_create(&lim, &led), 0);
	assert_int_equal(xs_store_create(led, &st), 0);
	assert_int_equal(xs_domain_introduce(st, 3, "g3"), 0);
	assert_int_equal(xs_server_create(st, NULL, &srv), 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	assert_int_equal(xs_server_watch(srv, ep, EP_TAG), 0);
	memset(bigval, 'b', sizeof(bigval));
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/3/big", bigval, sizeof(bigval)), 0);
	assert_int_equal(xs_write(st, 0, 0, "/local/domain/3/small", "x", 1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, deaf), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	int sz = 4096;
	setsockopt(deaf[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	assert_int_equal(xs_server_add_conn(srv, deaf[0], 3), 0);
	assert_int_equal(xs_server_add_conn(srv, b[0], 3), 0);
	for (int i = 0; i < 20; i++)
		off += mk_req(reqs + off, XS_READ, (uint32_t)i + 1, "big", 4);
	for (int turn = 0; turn < 20; turn++) {
		assert_int_equal(write(deaf[1], reqs + turn * (off / 20), off / 20),
				 (ssize_t)(off / 20));
		ep_turns(srv, ep, 2, 10);
	}
	assert_true(quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES) >= 2000);
	rlen = mk_req(req, XS_READ, 99, "small", 6);
	assert_int_equal(write(b[1], req, rlen), (ssize_t)rlen);
	ep_turns(srv, ep, 5, 10);
	assert_int_equal(recv(b[1], reply, sizeof(reply), MSG_DONTWAIT), -1); /* throttled */
	for (int turn = 0; turn < 3000 && r <= 0; turn++) {
		while (recv(deaf[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
		ep_turns(srv, ep, 1, 1);
		r = recv(b[1], reply, sizeof(reply), MSG_DONTWAIT);
	}
	assert_int_equal(r, (ssize_t)sizeof(struct xsd_sockmsg) + 1);
	assert_memory_equal(reply + sizeof(struct xsd_sockmsg), "x", 1);
	close(deaf[1]);
	close(b[1]);
	ep_turns(srv, ep, 3, 10);
	assert_int_equal(quota_usage(led, 3, QUOTA_XS_CONNS), 0);
	xs_server_destroy(srv);
	xs_store_destroy(st);
	close(ep);
	quota_ledger_destroy(led);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tools_basic),
		cmocka_unit_test(test_tools_big_directory),
		cmocka_unit_test(test_tool_watch),
		cmocka_unit_test(test_client_ops),
		cmocka_unit_test(test_tx_conflict_over_wire),
		cmocka_unit_test(test_client_watch_events_queued),
		cmocka_unit_test(test_release_domain_fired),
		cmocka_unit_test(test_oversized_len_dropped),
		cmocka_unit_test(test_truncated_then_rest),
		cmocka_unit_test(test_unknown_type_enosys),
		cmocka_unit_test(test_guest_restrictions),
		cmocka_unit_test(test_guest_client_quota_tx),
		cmocka_unit_test(test_slow_reader_dropped),
		cmocka_unit_test(test_server_domain_limits),
		cmocka_unit_test(test_throttled_hangup_dropped),
		cmocka_unit_test(test_watch_throttled_parked),
		cmocka_unit_test(test_watch_parked_rearmed),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
