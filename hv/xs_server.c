/* SPDX-License-Identifier: MIT */
/*
 * The xenstore wire-protocol server: a Unix listener (dom0 connections) plus
 * connections added for guests. Every socket is non-blocking. Input is
 * buffered until a whole message (16-byte header + len) is present; a header
 * with len > XENSTORE_PAYLOAD_MAX drops the connection. Replies and watch
 * events are appended whole to a per-connection output buffer, so they never
 * interleave mid-message; a connection whose pending output exceeds
 * XS_OUT_MAX (a reader that does not read) is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "xs_private.h"

#define MOD "xs"
#define XS_HDR ((size_t)sizeof(struct xsd_sockmsg))
#define XS_OUT_MAX (1u << 20)

struct xs_conn {
	struct xs_conn *next;
	int fd; /* -1 for in-memory connections */
	domid_t dom;
	bool dead;
	size_t inlen;
	uint8_t in[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
	uint8_t *out;
	size_t outoff, outlen, outcap; /* pending bytes are out[outoff..outlen) */
};

struct xs_server {
	struct xs_store *st;
	int lfd;
	char *path;
	struct xs_conn *conns;
};

/* ---------- output ---------- */

static void conn_kill(struct xs_conn *c, const char *why)
{
	if (!c->dead)
		PVLOG_RL(WARN, MOD, "dropping dom%u connection: %s", (unsigned)c->dom, why);
	c->dead = true;
}

static void out_append(struct xs_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
		       const void *p1, size_t l1, const void *p2, size_t l2)
{
	struct xsd_sockmsg h = {type, req_id, tx_id, (uint32_t)(l1 + l2)};
	size_t need = XS_HDR + l1 + l2;
	if (c->dead)
		return;
	if (c->outoff && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen - c->outoff + need > XS_OUT_MAX) {
		conn_kill(c, "output backlog over 1 MiB");
		return;
	}
	if (c->outlen + need > c->outcap) {
		/* Compact first, then grow. */
		if (c->outoff) {
			memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
		}
		if (c->outlen + need > c->outcap) {
			size_t cap = c->outcap ? c->outcap : 8192;
			while (cap < c->outlen + need)
				cap *= 2;
			uint8_t *n = realloc(c->out, cap);
			if (!n) {
				conn_kill(c, "out of memory");
				return;
			}
			c->out = n;
			c->outcap = cap;
		}
	}
	memcpy(c->out + c->outlen, &h, XS_HDR);
	c->outlen += XS_HDR;
	if (l1)
		memcpy(c->out + c->outlen, p1, l1);
	c->outlen += l1;
	if (l2)
		memcpy(c->out + c->outlen, p2, l2);
	c->outlen += l2;
}

static void conn_write(struct xs_conn *c)
{
	while (!c->dead && c->fd >= 0 && c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			c->outoff += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			conn_kill(c, "write failed");
		}
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
}

static void conn_event(void *arg, void *conn, const char *path, const char *token)
{
	(void)arg;
	out_append(conn, XS_WATCH_EVENT, 0, 0, path, strlen(path) + 1, token, strlen(token) + 1);
}

static void reply(struct xs_conn *c, const struct xsd_sockmsg *h, const void *p, size_t l)
{
	out_append(c, h->type, h->req_id, h->tx_id, p, l, NULL, 0);
}

static void reply_err(struct xs_conn *c, const struct xsd_sockmsg *h, int err)
{
	const char *name = xs_errno_name(err);
	out_append(c, XS_ERROR, h->req_id, h->tx_id, name, strlen(name) + 1, NULL, 0);
}

static void reply_ok(struct xs_conn *c, const struct xsd_sockmsg *h)
{
	reply(c, h, "OK", 3);
}

/* ---------- request handling ---------- */

/* Splits payload into NUL-terminated strings; returns how many (all must be terminated). */
static int split(const char *p, size_t len, const char **args, int max)
{
	int n = 0;
	size_t off = 0;
	while (off < len) {
		const char *z = memchr(p + off, '\0', len - off);
		if (!z || n == max)
			return -1;
		args[n++] = p + off;
		off = (size_t)(z - p) + 1;
	}
	return n;
}

static int parse_domid(const char *s, domid_t *out)
{
	char *end;
	unsigned long v;
	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v > 0xffff)
		return -EINVAL;
	*out = (domid_t)v;
	return 0;
}

static int perms_to_wire(const struct xs_perm *perms, unsigned n, char *buf, size_t cap,
			 size_t *len)
{
	static const char letters[] = {'n', 'r', 'w', 'b'};
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		int w = snprintf(buf + off, cap - off, "%c%u", letters[perms[i].perm & 3],
				 (unsigned)perms[i].domid);
		if (w < 0 || (size_t)w + 1 > cap - off)
			return -E2BIG;
		off += (size_t)w + 1;
	}
	*len = off;
	return 0;
}

static int perm_parse(const char *s, struct xs_perm *p)
{
	switch (s[0]) {
	case 'n': p->perm = XS_PERM_NONE; break;
	case 'r': p->perm = XS_PERM_READ; break;
	case 'w': p->perm = XS_PERM_WRITE; break;
	case 'b': p->perm = XS_PERM_BOTH; break;
	default: return -EINVAL;
	}
	return parse_domid(s + 1, &p->domid);
}

static void do_directory(struct xs_server *srv, struct xs_conn *c, const struct xsd_sockmsg *h,
			 const char **a, int na)
{
	struct xs_caller who = {c->dom, c};
	char **names = NULL;
	unsigned count = 0;
	uint64_t gen = 0;
	char buf[XENSTORE_PAYLOAD_MAX];
	size_t off = 0, skip = 0;
	int rc;
	bool part = h->type == XS_DIRECTORY_PART;

	if (na != (part ? 2 : 1)) {
		rc = -EINVAL;
		goto err;
	}
	if (part) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(a[1], &end, 10);
		if (!*a[1] || *end || errno) {
			rc = -EINVAL;
			goto err;
		}
		skip = v;
	}
	if ((rc = xsi_directory(srv->st, &who, h->tx_id, a[0], &names, &count, &gen)))
		goto err;
	if (part) {
		/* "generation\0" then whole names from byte `skip` of the list; "\0" ends it. */
		int g = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)gen);
		size_t pos = 0;
		unsigned i;
		off = (size_t)g + 1;
		for (i = 0; i < count; i++) {
			size_t l = strlen(names[i]) + 1;
			if (pos >= skip) {
				if (off + l + 1 > sizeof(buf))
					break;
				memcpy(buf + off, names[i], l);
				off += l;
			}
			pos += l;
		}
		if (i == count)
			buf[off++] = '\0';
	} else {
		for (unsigned i = 0; i < count; i++) {
			size_t l = strlen(names[i]) + 1;
			if (off + l > sizeof(buf)) {
				rc = -E2BIG;
				goto err;
			}
			memcpy(buf + off, names[i], l);
			off += l;
		}
	}
	reply(c, h, buf, off);
	xs_free_list(names, count);
	return;
err:
	xs_free_list(names, count);
	reply_err(c, h, rc);
}

static void handle_msg(struct xs_server *srv, struct xs_conn *c, const struct xsd_sockmsg *h,
		       const char *pl)
{
	struct xs_caller who = {c->dom, c};
	const char *a[XS_MAX_PERMS + 2];
	int na = split(pl, h->len, a, XS_MAX_PERMS + 2);
	char buf[XENSTORE_PAYLOAD_MAX];
	int rc = 0;

	switch (h->type) {
	case XS_READ: {
		char *val;
		size_t len;
		if (na != 1) {
			rc = -EINVAL;
			break;
		}
		if ((rc = xsi_read(srv->st, &who, h->tx_id, a[0], &val, &len)))
			break;
		reply(c, h, val, len);
		free(val);
		return;
	}
	case XS_WRITE: {
		const char *z = memchr(pl, '\0', h->len);
		if (!z) {
			rc = -EINVAL;
			break;
		}
		size_t plen = (size_t)(z - pl) + 1;
		rc = xsi_write(srv->st, &who, h->tx_id, pl, pl + plen, h->len - plen);
		break;
	}
	case XS_MKDIR:
		rc = na == 1 ? xsi_mkdir(srv->st, &who, h->tx_id, a[0]) : -EINVAL;
		break;
	case XS_RM:
		rc = na == 1 ? xsi_rm(srv->st, &who, h->tx_id, a[0], true) : -EINVAL;
		break;
	case XS_DIRECTORY:
	case XS_DIRECTORY_PART:
		if (na < 0) {
			rc = -EINVAL;
			break;
		}
		do_directory(srv, c, h, a, na);
		return;
	case XS_GET_PERMS: {
		struct xs_perm perms[XS_MAX_PERMS];
		unsigned n = XS_MAX_PERMS;
		size_t len;
		if (na != 1) {
			rc = -EINVAL;
			break;
		}
		if ((rc = xsi_get_perms(srv->st, &who, h->tx_id, a[0], perms, &n)) ||
		    (rc = perms_to_wire(perms, n, buf, sizeof(buf), &len)))
			break;
		reply(c, h, buf, len);
		return;
	}
	case XS_SET_PERMS: {
		struct xs_perm perms[XS_MAX_PERMS];
		if (na < 2 || na > XS_MAX_PERMS + 1) {
			rc = -EINVAL;
			break;
		}
		for (int i = 1; i < na && !rc; i++)
			rc = perm_parse(a[i], &perms[i - 1]);
		if (!rc)
			rc = xsi_set_perms(srv->st, &who, h->tx_id, a[0], perms, (unsigned)na - 1);
		break;
	}
	case XS_WATCH: {
		uint64_t handle;
		if (na != 2) {
			rc = -EINVAL;
			break;
		}
		rc = xsi_watch_add(srv->st, &who, a[0], a[1], NULL, NULL, &handle);
		if (rc == -EEXIST)
			break;
		if (rc)
			break;
		reply_ok(c, h);
		/* As xenstored: the ack, then the event fired on registration. */
		xsi_watch_fire_initial(srv->st, handle);
		return;
	}
	case XS_UNWATCH:
		rc = na == 2 ? xsi_unwatch(srv->st, &who, a[0], a[1]) : -EINVAL;
		break;
	case XS_TRANSACTION_START: {
		uint32_t tx;
		if (h->tx_id) {
			rc = -EBUSY;
			break;
		}
		if ((rc = xsi_transaction_start(srv->st, &who, &tx)))
			break;
		int n = snprintf(buf, sizeof(buf), "%u", tx);
		reply(c, h, buf, (size_t)n + 1);
		return;
	}
	case XS_TRANSACTION_END:
		if (na != 1 || (strcmp(a[0], "T") && strcmp(a[0], "F"))) {
			rc = -EINVAL;
			break;
		}
		rc = xsi_transaction_end(srv->st, &who, h->tx_id, a[0][0] == 'T');
		break;
	case XS_GET_DOMAIN_PATH: {
		domid_t d;
		if (na != 1 || (rc = parse_domid(a[0], &d))) {
			rc = -EINVAL;
			break;
		}
		int n = snprintf(buf, sizeof(buf), "/local/domain/%u", (unsigned)d);
		reply(c, h, buf, (size_t)n + 1);
		return;
	}
	case XS_IS_DOMAIN_INTRODUCED: {
		domid_t d;
		if (na != 1 || parse_domid(a[0], &d)) {
			rc = -EINVAL;
			break;
		}
		reply(c, h, xsi_domain_is_introduced(srv->st, d) ? "T" : "F", 2);
		return;
	}
	case XS_RESET_WATCHES:
		xsi_conn_gone(srv->st, c);
		break;
	case XS_CONTROL:
		rc = c->dom == 0 ? -ENOSYS : -EACCES;
		break;
	case XS_INTRODUCE:
	case XS_RELEASE:
	case XS_RESUME:
	case XS_SET_TARGET: {
		domid_t d;
		if (c->dom != 0) {
			rc = -EACCES;
			break;
		}
		if (na < 1 || parse_domid(a[0], &d)) {
			rc = -EINVAL;
			break;
		}
		if (h->type == XS_INTRODUCE)
			rc = xs_domain_introduce(srv->st, d, NULL);
		else if (h->type == XS_RELEASE)
			rc = xs_domain_release(srv->st, d);
		break;
	}
	default:
		rc = -EINVAL;
		break;
	}
	if (rc)
		reply_err(c, h, rc);
	else
		reply_ok(c, h);
}

/* Consumes buffered input; returns false if the connection must be dropped. */
static bool conn_process(struct xs_server *srv, struct xs_conn *c)
{
	while (!c->dead && c->inlen >= XS_HDR) {
		struct xsd_sockmsg h;
		memcpy(&h, c->in, XS_HDR); /* one copy, then validated */
		if (h.len > XENSTORE_PAYLOAD_MAX) {
			conn_kill(c, "message longer than 4096");
			return false;
		}
		if (c->inlen < XS_HDR + h.len)
			break;
		handle_msg(srv, c, &h, (const char *)c->in + XS_HDR);
		size_t used = XS_HDR + h.len;
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	return !c->dead;
}

/* ---------- connections ---------- */

static void conn_free(struct xs_server *srv, struct xs_conn *c)
{
	xsi_conn_gone(srv->st, c);
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	free(c);
}

static void reap(struct xs_server *srv)
{
	for (struct xs_conn **pp = &srv->conns; *pp;) {
		struct xs_conn *c = *pp;
		if (c->dead) {
			*pp = c->next;
			conn_free(srv, c);
		} else {
			pp = &c->next;
		}
	}
}

static int conn_add(struct xs_server *srv, int fd, domid_t domid, struct xs_conn **out)
{
	struct xs_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->dom = domid;
	c->next = srv->conns;
	srv->conns = c;
	if (out)
		*out = c;
	return 0;
}

int xs_server_add_conn(struct xs_server *srv, int fd, domid_t domid)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return conn_add(srv, fd, domid, NULL);
}

int xs_server_add_mem_conn(struct xs_server *srv, domid_t domid, struct xs_conn **out)
{
	return conn_add(srv, -1, domid, out);
}

int xs_conn_feed(struct xs_server *srv, struct xs_conn *conn, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len && !conn->dead) {
		size_t room = sizeof(conn->in) - conn->inlen;
		size_t n = len < room ? len : room;
		memcpy(conn->in + conn->inlen, p, n);
		conn->inlen += n;
		p += n;
		len -= n;
		conn_process(srv, conn);
	}
	if (conn->dead) {
		reap(srv);
		return -EPROTO;
	}
	return 0;
}

const void *xs_conn_output(struct xs_conn *conn, size_t *len)
{
	*len = conn->outlen - conn->outoff;
	return conn->out + conn->outoff;
}

void xs_conn_output_consume(struct xs_conn *conn, size_t len)
{
	size_t pend = conn->outlen - conn->outoff;
	conn->outoff += len < pend ? len : pend;
	if (conn->outoff == conn->outlen)
		conn->outoff = conn->outlen = 0;
}

static void conn_read(struct xs_server *srv, struct xs_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
		if (n > 0) {
			c->inlen += (size_t)n;
			if (!conn_process(srv, c))
				return;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		c->dead = true; /* EOF or error: the peer went away */
		return;
	}
}

/* ---------- server ---------- */

int xs_server_create(struct xs_store *st, const char *socket_path, struct xs_server **out)
{
	struct xs_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int rc;

	if (!srv)
		return -ENOMEM;
	srv->st = st;
	srv->lfd = -1;
	if (socket_path) {
		if (strlen(socket_path) >= sizeof(sa.sun_path)) {
			rc = -ENAMETOOLONG;
			goto err;
		}
		strcpy(sa.sun_path, socket_path);
		srv->path = strdup(socket_path);
		srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (!srv->path || srv->lfd < 0) {
			rc = srv->path ? -errno : -ENOMEM;
			goto err;
		}
		unlink(socket_path);
		if (bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    chmod(socket_path, 0600) < 0 || listen(srv->lfd, 64) < 0) {
			rc = -errno;
			goto err;
		}
	}
	xsi_set_conn_event(st, conn_event, srv);
	*out = srv;
	return 0;
err:
	if (srv->lfd >= 0)
		close(srv->lfd);
	free(srv->path);
	free(srv);
	return rc;
}

void xs_server_destroy(struct xs_server *srv)
{
	if (!srv)
		return;
	while (srv->conns) {
		struct xs_conn *c = srv->conns;
		srv->conns = c->next;
		conn_free(srv, c);
	}
	xsi_set_conn_event(srv->st, NULL, NULL);
	if (srv->lfd >= 0) {
		close(srv->lfd);
		unlink(srv->path);
	}
	free(srv->path);
	free(srv);
}

int xs_server_fds(struct xs_server *srv, int *fds, int max)
{
	int n = 0;
	if (srv->lfd >= 0 && n < max)
		fds[n++] = srv->lfd;
	for (struct xs_conn *c = srv->conns; c && n < max; c = c->next)
		if (c->fd >= 0 && !c->dead)
			fds[n++] = c->fd;
	return n;
}

int xs_server_pollfds(struct xs_server *srv, struct pollfd *pfds, int max)
{
	int n = 0;
	if (srv->lfd >= 0 && n < max)
		pfds[n++] = (struct pollfd){.fd = srv->lfd, .events = POLLIN};
	for (struct xs_conn *c = srv->conns; c && n < max; c = c->next)
		if (c->fd >= 0 && !c->dead)
			pfds[n++] = (struct pollfd){
				.fd = c->fd,
				.events = (short)(POLLIN | (c->outlen > c->outoff ? POLLOUT : 0))};
	return n;
}

int xs_server_handle(struct xs_server *srv, int fd)
{
	if (fd < 0)
		return -ENOENT;
	if (fd == srv->lfd) {
		for (;;) {
			int cfd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (cfd < 0)
				break;
			if (conn_add(srv, cfd, 0, NULL))
				PVLOG_RL(ERR, MOD, "out of memory accepting a connection");
		}
		return 0;
	}
	for (struct xs_conn *c = srv->conns; c; c = c->next) {
		if (c->fd != fd || c->dead)
			continue;
		conn_read(srv, c);
		xs_server_flush(srv);
		return 0;
	}
	return -ENOENT;
}

void xs_server_flush(struct xs_server *srv)
{
	for (struct xs_conn *c = srv->conns; c; c = c->next)
		conn_write(c);
	reap(srv);
}

void xs_server_drop_domain(struct xs_server *srv, domid_t domid)
{
	for (struct xs_conn *c = srv->conns; c; c = c->next)
		if (c->dom == domid && domid != 0)
			c->dead = true;
	reap(srv);
}
