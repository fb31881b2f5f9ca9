/* SPDX-License-Identifier: MIT */
/*
 * The xenstore wire-protocol server: a Unix listener (dom0 connections) plus
 * connections added for guests. Every socket is non-blocking. Input is
 * buffered until a whole message (16-byte header + len) is present; a header
 * with len > XENSTORE_PAYLOAD_MAX drops the connection. Replies and watch
 * events are queued whole per connection, so they never interleave
 * mid-message.
 *
 * What a guest domain can make the server hold is charged to the domain in the
 * ledger, over all its connections: connections (xs-conns: more are refused
 * with EDQUOT), queued output bytes (xs-output-bytes) and queued watch events
 * (xs-watch-events). When a new event would go over either, the oldest
 * unsent events of that connection are dropped (then the new one, if it still
 * does not fit), as C xenstored drops events for a domain that does not read.
 * While the domain's queued output is at its limit, its requests are left
 * unread in the socket (its own writes block; pvnetd never does). A dom0
 * connection is not limited except that one with more than XS_OUT_MAX
 * unread is dropped (the pvnet CLI reads what it asks for).
 *
 * One call handles at most XS_BUDGET requests of a connection, so no client
 * holds the control loop; one with more buffered asks for POLLOUT, which a
 * socket with room reports at once, to be called again next turn.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#define XS_BUDGET 64

/* One queued reply or event, sent from off. */
struct xs_msg {
	struct xs_msg *next;
	bool event;
	size_t len, off;
	uint8_t data[];
};

struct xs_conn {
	struct xs_conn *next;
	int fd; /* -1 for in-memory connections */
	domid_t dom;
	bool dead;
	bool charged; /* holds one xs-conns unit of its domain */
	size_t inlen;
	uint8_t in[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
	struct xs_msg *oq, **oq_tail;
	size_t outbytes; /* queued, not yet sent */
};

struct xs_server {
	struct xs_store *st;
	struct quota_ledger *led;
	int lfd;
	char *path;
	struct xs_conn *conns;
	uint64_t events_dropped; /* watch events dropped for a domain over its limits */
};

/* ---------- output ---------- */

static void conn_kill(struct xs_conn *c, const char *why)
{
	if (!c->dead)
		PVLOG_RL(WARN, MOD, "dropping dom%u connection: %s", (unsigned)c->dom, why);
	c->dead = true;
}

/* Unqueues m (which follows *pp in c's queue) and returns what it held to the ledger. */
static void msg_drop(struct xs_server *srv, struct xs_conn *c, struct xs_msg **pp)
{
	struct xs_msg *m = *pp;
	*pp = m->next;
	if (c->oq_tail == &m->next)
		c->oq_tail = pp;
	c->outbytes -= m->len - m->off;
	quota_uncharge(srv->led, c->dom, QUOTA_XS_OUTPUT_BYTES, m->len);
	if (m->event)
		quota_uncharge(srv->led, c->dom, QUOTA_XS_WATCH_EVENTS, 1);
	free(m);
}

/* Drops c's oldest event not yet partly sent; false if it has none. */
static bool drop_oldest_event(struct xs_server *srv, struct xs_conn *c)
{
	for (struct xs_msg **pp = &c->oq; *pp; pp = &(*pp)->next)
		if ((*pp)->event && (*pp)->off == 0) {
			msg_drop(srv, c, pp);
			srv->events_dropped++;
			quota_note_refusal(srv->led, QUOTA_XS_WATCH_EVENTS);
			return true;
		}
	return false;
}

static void out_append(struct xs_server *srv, struct xs_conn *c, uint32_t type, uint32_t req_id,
		       uint32_t tx_id, const void *p1, size_t l1, const void *p2, size_t l2)
{
	struct xsd_sockmsg h = {type, req_id, tx_id, (uint32_t)(l1 + l2)};
	size_t need = XS_HDR + l1 + l2;
	bool event = type == XS_WATCH_EVENT;
	struct xs_msg *m;
	if (c->dead)
		return;
	if (c->dom == 0 && c->outbytes + need > XS_OUT_MAX) {
		conn_kill(c, "output backlog over 1 MiB");
		return;
	}
	if (event) {
		/* Make room by dropping this connection's oldest events, as C xenstored does. */
		while (quota_would_exceed(srv->led, c->dom, QUOTA_XS_OUTPUT_BYTES, need) ||
		       quota_would_exceed(srv->led, c->dom, QUOTA_XS_WATCH_EVENTS, 1))
			if (!drop_oldest_event(srv, c)) {
				srv->events_dropped++;
				quota_note_refusal(srv->led, QUOTA_XS_WATCH_EVENTS);
				PVLOG_RL(WARN, MOD, "dom%u reads no watch events: dropping them",
					 (unsigned)c->dom);
				return;
			}
	}
	m = malloc(sizeof(*m) + need);
	if (!m) {
		conn_kill(c, "out of memory");
		return;
	}
	m->next = NULL;
	m->event = event;
	m->len = need;
	m->off = 0;
	memcpy(m->data, &h, XS_HDR);
	if (l1)
		memcpy(m->data + XS_HDR, p1, l1);
	if (l2)
		memcpy(m->data + XS_HDR + l1, p2, l2);
	/* Replies are charged unchecked: a domain at its limit sends no more requests. */
	quota_charge_force(srv->led, c->dom, QUOTA_XS_OUTPUT_BYTES, need);
	if (event)
		quota_charge_force(srv->led, c->dom, QUOTA_XS_WATCH_EVENTS, 1);
	*c->oq_tail = m;
	c->oq_tail = &m->next;
	c->outbytes += need;
}

/* The domain has as much output queued as it may: read none of its requests. */
static bool conn_throttled(struct xs_server *srv, const struct xs_conn *c)
{
	return c->dom != 0 && quota_would_exceed(srv->led, c->dom, QUOTA_XS_OUTPUT_BYTES, 1);
}

static void conn_write(struct xs_server *srv, struct xs_conn *c)
{
	while (!c->dead && c->fd >= 0 && c->oq) {
		struct xs_msg *m = c->oq;
		ssize_t n = send(c->fd, m->data + m->off, m->len - m->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			m->off += (size_t)n;
			c->outbytes -= (size_t)n;
			if (m->off == m->len)
				msg_drop(srv, c, &c->oq);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			conn_kill(c, "write failed");
		}
	}
}

/* The connection a reply goes out on, and its server. */
struct xs_out {
	struct xs_server *srv;
	struct xs_conn *c;
};

static void conn_event(void *arg, void *conn, const char *path, const char *token)
{
	out_append(arg, conn, XS_WATCH_EVENT, 0, 0, path, strlen(path) + 1, token,
		   strlen(token) + 1);
}

static void reply(struct xs_out o, const struct xsd_sockmsg *h, const void *p, size_t l)
{
	out_append(o.srv, o.c, h->type, h->req_id, h->tx_id, p, l, NULL, 0);
}

static void reply_err(struct xs_out o, const struct xsd_sockmsg *h, int err)
{
	const char *name = xs_errno_name(err);
	out_append(o.srv, o.c, XS_ERROR, h->req_id, h->tx_id, name, strlen(name) + 1, NULL, 0);
}

static void reply_ok(struct xs_out o, const struct xsd_sockmsg *h)
{
	reply(o, h, "OK", 3);
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
	struct xs_out o = {srv, c};
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
	reply(o, h, buf, off);
	xs_free_list(names, count);
	return;
err:
	xs_free_list(names, count);
	reply_err(o, h, rc);
}

static void handle_msg(struct xs_server *srv, struct xs_conn *c, const struct xsd_sockmsg *h,
		       const char *pl)
{
	struct xs_caller who = {c->dom, c};
	struct xs_out o = {srv, c};
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
		reply(o, h, val, len);
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
		reply(o, h, buf, len);
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
		reply_ok(o, h);
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
		reply(o, h, buf, (size_t)n + 1);
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
		reply(o, h, buf, (size_t)n + 1);
		return;
	}
	case XS_IS_DOMAIN_INTRODUCED: {
		domid_t d;
		if (na != 1 || parse_domid(a[0], &d)) {
			rc = -EINVAL;
			break;
		}
		reply(o, h, xsi_domain_is_introduced(srv->st, d) ? "T" : "F", 2);
		return;
	}
	case XS_RESET_WATCHES:
		xsi_conn_gone(srv->st, c);
		break;
	case XS_CONTROL:
	case XS_RESUME:
	case XS_SET_TARGET:
		/* Not implemented here: privileged callers learn so, others are refused. */
		rc = c->dom == 0 ? -ENOSYS : -EACCES;
		break;
	case XS_INTRODUCE:
	case XS_RELEASE: {
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
		/* Unknown, removed (XS_RESTRICT) or server-to-client types, as xenstored. */
		rc = -ENOSYS;
		break;
	}
	if (rc)
		reply_err(o, h, rc);
	else
		reply_ok(o, h);
}

/* Whether c holds a whole request it has not handled yet. */
static bool conn_has_request(const struct xs_conn *c)
{
	struct xsd_sockmsg h;
	if (c->inlen < XS_HDR)
		return false;
	memcpy(&h, c->in, XS_HDR);
	return h.len > XENSTORE_PAYLOAD_MAX || c->inlen >= XS_HDR + h.len;
}

/*
 * Consumes buffered input, at most *budget requests (decremented), none while
 * the domain is throttled; returns false if the connection must be dropped.
 */
static bool conn_process(struct xs_server *srv, struct xs_conn *c, unsigned *budget)
{
	while (!c->dead && c->inlen >= XS_HDR && *budget && !conn_throttled(srv, c)) {
		struct xsd_sockmsg h;
		memcpy(&h, c->in, XS_HDR); /* one copy, then validated */
		if (h.len > XENSTORE_PAYLOAD_MAX) {
			conn_kill(c, "message longer than 4096");
			return false;
		}
		if (c->inlen < XS_HDR + h.len)
			break;
		handle_msg(srv, c, &h, (const char *)c->in + XS_HDR);
		(*budget)--;
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
	while (c->oq)
		msg_drop(srv, c, &c->oq);
	if (c->charged)
		quota_uncharge(srv->led, c->dom, QUOTA_XS_CONNS, 1);
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
	struct xs_conn *c;
	/* Per domain: a domain with more connections gains nothing but is capped anyway. */
	int rc = quota_charge(srv->led, domid, QUOTA_XS_CONNS, 1);
	if (rc) {
		PVLOG_RL(WARN, MOD, "dom%u: store connection refused (xs-conns=%llu)",
			 (unsigned)domid,
			 (unsigned long long)quota_limit(srv->led, QUOTA_XS_CONNS));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		quota_uncharge(srv->led, domid, QUOTA_XS_CONNS, 1);
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	c->charged = true;
	c->oq_tail = &c->oq;
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
	size_t used = 0;
	unsigned budget = XS_BUDGET;
	conn_process(srv, conn, &budget); /* what was left buffered first */
	while (used < len && !conn->dead) {
		size_t room = sizeof(conn->in) - conn->inlen;
		size_t n = len - used < room ? len - used : room;
		if (n == 0)
			break; /* throttled with a full buffer: the caller consumes output first */
		memcpy(conn->in + conn->inlen, p + used, n);
		conn->inlen += n;
		used += n;
		budget = XS_BUDGET;
		conn_process(srv, conn, &budget);
	}
	if (conn->dead) {
		reap(srv);
		return -EPROTO;
	}
	return used > INT_MAX ? INT_MAX : (int)used;
}

const void *xs_conn_output(struct xs_conn *conn, size_t *len)
{
	if (!conn->oq) {
		*len = 0;
		return NULL;
	}
	*len = conn->oq->len - conn->oq->off;
	return conn->oq->data + conn->oq->off;
}

void xs_conn_output_consume(struct xs_server *srv, struct xs_conn *conn, size_t len)
{
	while (len && conn->oq) {
		struct xs_msg *m = conn->oq;
		size_t n = m->len - m->off < len ? m->len - m->off : len;
		m->off += n;
		conn->outbytes -= n;
		len -= n;
		if (m->off == m->len)
			msg_drop(srv, conn, &conn->oq);
	}
}

/* Handles buffered requests and reads more, within one budget of requests. */
static void conn_read(struct xs_server *srv, struct xs_conn *c)
{
	unsigned budget = XS_BUDGET;
	for (unsigned reads = 0; reads < XS_BUDGET; reads++) {
		if (!conn_process(srv, c, &budget) || !budget || conn_throttled(srv, c))
			return;
		ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
		if (n > 0) {
			c->inlen += (size_t)n;
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
	srv->led = xsi_ledger(st);
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
	for (struct xs_conn *c = srv->conns; c && n < max; c = c->next) {
		bool throttled;
		if (c->fd < 0 || c->dead)
			continue;
		throttled = conn_throttled(srv, c);
		/* POLLOUT also when requests wait buffered: a socket with room reports it at once. */
		pfds[n++] = (struct pollfd){
			.fd = c->fd,
			.events = (short)((throttled ? 0 : POLLIN) |
					  (c->oq || (!throttled && conn_has_request(c)) ? POLLOUT : 0))};
	}
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
		conn_write(srv, c);
		if (conn_throttled(srv, c)) {
			/*
			 * Not polled for input, so only a hang-up or an error woke us: the
			 * peer is gone (it can read no reply); drop it rather than be woken
			 * for it again every turn.
			 */
			struct pollfd p = {.fd = c->fd, .events = 0};
			if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
				c->dead = true;
		} else {
			conn_read(srv, c);
		}
		xs_server_flush(srv);
		return 0;
	}
	return -ENOENT;
}

void xs_server_flush(struct xs_server *srv)
{
	for (struct xs_conn *c = srv->conns; c; c = c->next)
		conn_write(srv, c);
	reap(srv);
}

void xs_server_drop_domain(struct xs_server *srv, domid_t domid)
{
	for (struct xs_conn *c = srv->conns; c; c = c->next)
		if (c->dom == domid && domid != 0)
			c->dead = true;
	reap(srv);
}

uint64_t xs_server_events_dropped(const struct xs_server *srv)
{
	return srv->events_dropped;
}
