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
#include <sys/epoll.h>
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
	struct xs_conn *next, *prev; /* srv->conns */
	struct xs_conn *pnext;       /* srv->pending, while `pending` */
	bool pending;
	struct xs_conn *knext; /* srv->parked, while `parked` */
	bool parked;           /* throttled: its fd is not watched for input */
	bool watched;          /* in srv->epfd's set, with events `ev` */
	uint32_t ev;
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
	/*
	 * No scan over every connection per message: the connection of a ready fd
	 * is found by fd, and only connections given output (or a hang-up) since
	 * the last flush are written and reaped.
	 */
	struct xs_conn **byfd; /* [fd], nbyfd entries */
	int nbyfd;
	struct xs_conn *pending;
	/*
	 * With an epoll set (xs_server_watch): every fd is registered once, when it
	 * opens, and removed before it closes; a connection's events are changed
	 * only when what it waits for changes (flush). Throttled connections wait
	 * on `parked` until their domain may send requests again.
	 */
	int epfd;
	uint64_t eptag;
	struct xs_conn *parked;
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

/* Puts c on the list xs_server_flush writes (and reaps if dead). */
static void conn_pend(struct xs_server *srv, struct xs_conn *c)
{
	if (c->pending)
		return;
	c->pending = true;
	c->pnext = srv->pending;
	srv->pending = c;
}

static void out_append(struct xs_server *srv, struct xs_conn *c, uint32_t type, uint32_t req_id,
		       uint32_t tx_id, const void *p1, size_t l1, const void *p2, size_t l2)
{
	struct xsd_sockmsg h = {type, req_id, tx_id, (uint32_t)(l1 + l2)};
	size_t need = XS_HDR + l1 + l2;
	bool event = type == XS_WATCH_EVENT;
	struct xs_msg *m;
	conn_pend(srv, c);
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
		ssize_t n =
			send(c->fd, m->data + m->off, m->len - m->off, MSG_DONTWAIT | MSG_NOSIGNAL);
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
	case 'n':
		p->perm = XS_PERM_NONE;
		break;
	case 'r':
		p->perm = XS_PERM_READ;
		break;
	case 'w':
		p->perm = XS_PERM_WRITE;
		break;
	case 'b':
		p->perm = XS_PERM_BOTH;
		break;
	default:
		return -EINVAL;
	}
	return parse_domid(s + 1, &p->domid);
}

/*
 * One request being handled. The dispatcher fills it from the table's rules:
 * a[] are the payload's NUL-terminated arguments (na of them, -1 if the payload
 * is not all terminated strings), path is the first of them for XS_FLAG_PATH
 * types, tx is the request's transaction (0 for XS_FLAG_NOTID types).
 */
struct xs_req {
	struct xs_server *srv;
	struct xs_conn *c;
	struct xs_caller who;
	const struct xsd_sockmsg *h;
	const char *pl; /* h->len bytes */
	const char **a;
	int na;
	const char *path;
	uint32_t tx;
};

/* A handler's return: 0 answers "OK", -errno an error; XS_REPLIED it replied itself. */
#define XS_REPLIED 1

static void req_reply(const struct xs_req *r, const void *p, size_t l)
{
	reply((struct xs_out){r->srv, r->c}, r->h, p, l);
}

static int do_read(const struct xs_req *r)
{
	char *val;
	size_t len;
	int rc = xsi_read(r->srv->st, &r->who, r->tx, r->path, &val, &len);
	if (rc)
		return rc;
	req_reply(r, val, len);
	free(val);
	return XS_REPLIED;
}

/* Payload "path\0value": the value is the rest, not NUL-terminated. */
static int do_write(const struct xs_req *r)
{
	size_t plen = strlen(r->path) + 1;
	return xsi_write(r->srv->st, &r->who, r->tx, r->path, r->pl + plen, r->h->len - plen);
}

static int do_mkdir(const struct xs_req *r)
{
	return xsi_mkdir(r->srv->st, &r->who, r->tx, r->path);
}

static int do_rm(const struct xs_req *r)
{
	return xsi_rm(r->srv->st, &r->who, r->tx, r->path, true);
}

/* XS_DIRECTORY "path\0", XS_DIRECTORY_PART "path\0offset\0". */
static int do_directory(const struct xs_req *r)
{
	char **names = NULL;
	unsigned count = 0;
	uint64_t gen = 0;
	char buf[XENSTORE_PAYLOAD_MAX];
	size_t off = 0, skip = 0;
	int rc;
	bool part = r->h->type == XS_DIRECTORY_PART;

	if (part) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(r->a[1], &end, 10);
		if (!*r->a[1] || *end || errno)
			return -EINVAL;
		skip = v;
	}
	if ((rc = xsi_directory(r->srv->st, &r->who, r->tx, r->path, &names, &count, &gen)))
		goto out;
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
				goto out;
			}
			memcpy(buf + off, names[i], l);
			off += l;
		}
	}
	req_reply(r, buf, off);
	rc = XS_REPLIED;
out:
	xs_free_list(names, count);
	return rc;
}

static int do_get_perms(const struct xs_req *r)
{
	struct xs_perm perms[XS_MAX_PERMS];
	unsigned n = XS_MAX_PERMS;
	char buf[XENSTORE_PAYLOAD_MAX];
	size_t len;
	int rc;
	if ((rc = xsi_get_perms(r->srv->st, &r->who, r->tx, r->path, perms, &n)) ||
	    (rc = perms_to_wire(perms, n, buf, sizeof(buf), &len)))
		return rc;
	req_reply(r, buf, len);
	return XS_REPLIED;
}

/* "path\0perm\0perm\0...": the first perm is the owner. */
static int do_set_perms(const struct xs_req *r)
{
	struct xs_perm perms[XS_MAX_PERMS];
	int rc = 0;
	for (int i = 1; i < r->na && !rc; i++)
		rc = perm_parse(r->a[i], &perms[i - 1]);
	if (!rc)
		rc = xsi_set_perms(r->srv->st, &r->who, r->tx, r->path, perms, (unsigned)r->na - 1);
	return rc;
}

static int do_watch(const struct xs_req *r)
{
	uint64_t handle;
	int rc = xsi_watch_add(r->srv->st, &r->who, r->path, r->a[1], NULL, NULL, &handle);
	if (rc)
		return rc;
	reply_ok((struct xs_out){r->srv, r->c}, r->h);
	/* As xenstored: the ack, then the event fired on registration. */
	xsi_watch_fire_initial(r->srv->st, handle);
	return XS_REPLIED;
}

static int do_unwatch(const struct xs_req *r)
{
	return xsi_unwatch(r->srv->st, &r->who, r->path, r->a[1]);
}

/* The payload is not looked at (xenstored wants ""); the reply is the id. */
static int do_transaction_start(const struct xs_req *r)
{
	char buf[16];
	uint32_t tx;
	int rc = xsi_transaction_start(r->srv->st, &r->who, &tx);
	if (rc)
		return rc;
	int n = snprintf(buf, sizeof(buf), "%u", tx);
	req_reply(r, buf, (size_t)n + 1);
	return XS_REPLIED;
}

/* "T\0" commits, "F\0" aborts. */
static int do_transaction_end(const struct xs_req *r)
{
	if (strcmp(r->a[0], "T") && strcmp(r->a[0], "F"))
		return -EINVAL;
	return xsi_transaction_end(r->srv->st, &r->who, r->tx, r->a[0][0] == 'T');
}

static int do_get_domain_path(const struct xs_req *r)
{
	char buf[32];
	domid_t d;
	if (parse_domid(r->a[0], &d))
		return -EINVAL;
	int n = snprintf(buf, sizeof(buf), "/local/domain/%u", (unsigned)d);
	req_reply(r, buf, (size_t)n + 1);
	return XS_REPLIED;
}

static int do_is_domain_introduced(const struct xs_req *r)
{
	domid_t d;
	if (parse_domid(r->a[0], &d))
		return -EINVAL;
	req_reply(r, xsi_domain_is_introduced(r->srv->st, d) ? "T" : "F", 2);
	return XS_REPLIED;
}

static int do_reset_watches(const struct xs_req *r)
{
	xsi_conn_gone(r->srv->st, r->c);
	return 0;
}

/* "domid\0..." (xenstored's mfn and port follow; unused here). */
static int do_introduce(const struct xs_req *r)
{
	domid_t d;
	if (parse_domid(r->a[0], &d))
		return -EINVAL;
	return xs_domain_introduce(r->srv->st, d, NULL);
}

static int do_release(const struct xs_req *r)
{
	domid_t d;
	if (parse_domid(r->a[0], &d))
		return -EINVAL;
	return xs_domain_release(r->srv->st, d);
}

/* The most arguments split() is asked for: a path and XS_MAX_PERMS perms, plus one. */
#define XS_ARGS_MAX (XS_MAX_PERMS + 2)

/*
 * The wire's message types, as xenstored's wire_funcs[]: a row per type with
 * its rules (XS_FLAG_*, hv/xs_private.h) and the accepted number of
 * arguments, checked in this order by handle_msg before the handler runs:
 *   no row (unknown, removed XS_RESTRICT)          -> ENOSYS
 *   XS_FLAG_PRIV and the caller is not dom0        -> EACCES
 *   no handler (server-to-client or unsupported)   -> ENOSYS
 *   XS_FLAG_NOTX and a transaction id is given     -> EBUSY
 *   argument count outside [min, max] (not RAW)    -> EINVAL
 *   XS_FLAG_PATH and no terminated first string    -> EINVAL
 */
static const struct xs_wire_func {
	const char *name;
	int (*fn)(const struct xs_req *r);
	unsigned flags;
	unsigned char min, max; /* arguments, when not XS_FLAG_RAW */
} wire_funcs[XS_TYPE_COUNT] = {
	[XS_CONTROL] = {"CONTROL", NULL, XS_FLAG_PRIV | XS_FLAG_RAW, 0, 0},
	[XS_DIRECTORY] = {"DIRECTORY", do_directory, XS_FLAG_PATH, 1, 1},
	[XS_READ] = {"READ", do_read, XS_FLAG_PATH, 1, 1},
	[XS_GET_PERMS] = {"GET_PERMS", do_get_perms, XS_FLAG_PATH, 1, 1},
	[XS_WATCH] = {"WATCH", do_watch, XS_FLAG_NOTID | XS_FLAG_PATH, 2, 2},
	[XS_UNWATCH] = {"UNWATCH", do_unwatch, XS_FLAG_NOTID | XS_FLAG_PATH, 2, 2},
	[XS_TRANSACTION_START] = {"TRANSACTION_START", do_transaction_start,
				  XS_FLAG_NOTX | XS_FLAG_RAW, 0, 0},
	[XS_TRANSACTION_END] = {"TRANSACTION_END", do_transaction_end, 0, 1, 1},
	[XS_INTRODUCE] = {"INTRODUCE", do_introduce, XS_FLAG_PRIV | XS_FLAG_NOTID, 1, XS_ARGS_MAX},
	[XS_RELEASE] = {"RELEASE", do_release, XS_FLAG_PRIV | XS_FLAG_NOTID, 1, XS_ARGS_MAX},
	[XS_GET_DOMAIN_PATH] = {"GET_DOMAIN_PATH", do_get_domain_path, XS_FLAG_NOTID, 1, 1},
	[XS_WRITE] = {"WRITE", do_write, XS_FLAG_PATH | XS_FLAG_RAW, 0, 0},
	[XS_MKDIR] = {"MKDIR", do_mkdir, XS_FLAG_PATH, 1, 1},
	[XS_RM] = {"RM", do_rm, XS_FLAG_PATH, 1, 1},
	[XS_SET_PERMS] = {"SET_PERMS", do_set_perms, XS_FLAG_PATH, 2, XS_MAX_PERMS + 1},
	[XS_WATCH_EVENT] = {"WATCH_EVENT", NULL, XS_FLAG_RAW, 0, 0},
	[XS_ERROR] = {"ERROR", NULL, XS_FLAG_RAW, 0, 0},
	[XS_IS_DOMAIN_INTRODUCED] = {"IS_DOMAIN_INTRODUCED", do_is_domain_introduced, XS_FLAG_NOTID,
				     1, 1},
	[XS_RESUME] = {"RESUME", NULL, XS_FLAG_PRIV | XS_FLAG_RAW, 0, 0},
	[XS_SET_TARGET] = {"SET_TARGET", NULL, XS_FLAG_PRIV | XS_FLAG_RAW, 0, 0},
	[XS_RESET_WATCHES] = {"RESET_WATCHES", do_reset_watches, XS_FLAG_NOTID | XS_FLAG_RAW, 0, 0},
	[XS_DIRECTORY_PART] = {"DIRECTORY_PART", do_directory, XS_FLAG_PATH, 2, 2},
};

int xs_server_wire_row(uint32_t type, const char **name, unsigned *flags, bool *handled)
{
	const struct xs_wire_func *f = type < XS_TYPE_COUNT ? &wire_funcs[type] : NULL;
	if (!f || !f->name)
		return -ENOENT;
	*name = f->name;
	*flags = f->flags;
	*handled = f->fn != NULL;
	return 0;
}

/* Checks a request against its row's rules; 0 and r->path/tx set, or -errno. */
static int req_check(const struct xs_wire_func *f, struct xs_req *r)
{
	if (!f->name)
		return -ENOSYS; /* unknown or removed, as xenstored */
	if ((f->flags & XS_FLAG_PRIV) && r->c->dom != 0)
		return -EACCES;
	if (!f->fn)
		return -ENOSYS; /* server-to-client, or not implemented here */
	if ((f->flags & XS_FLAG_NOTX) && r->h->tx_id)
		return -EBUSY;
	if (!(f->flags & XS_FLAG_RAW) && (r->na < f->min || r->na > f->max))
		return -EINVAL;
	if (f->flags & XS_FLAG_PATH) {
		/* RAW payloads (WRITE) start with the path; others have it split already. */
		if (f->flags & XS_FLAG_RAW)
			r->path = memchr(r->pl, '\0', r->h->len) ? r->pl : NULL;
		else
			r->path = r->a[0];
		if (!r->path)
			return -EINVAL;
	}
	r->tx = (f->flags & XS_FLAG_NOTID) ? 0 : r->h->tx_id;
	return 0;
}

static void handle_msg(struct xs_server *srv, struct xs_conn *c, const struct xsd_sockmsg *h,
		       const char *pl)
{
	static const struct xs_wire_func none;
	const struct xs_wire_func *f = h->type < XS_TYPE_COUNT ? &wire_funcs[h->type] : &none;
	const char *a[XS_ARGS_MAX];
	struct xs_req r = {
		.srv = srv,
		.c = c,
		.who = {c->dom, c},
		.h = h,
		.pl = pl,
		.a = a,
		.na = split(pl, h->len, a, XS_ARGS_MAX),
	};
	struct xs_out o = {srv, c};
	int rc = req_check(f, &r);

	if (!rc)
		rc = f->fn(&r);
	if (rc == XS_REPLIED)
		return;
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

/* What c waits for: input unless throttled; output room when replies wait or
 * requests are left buffered (budget spent: a socket with room reports it at once). */
static uint32_t conn_want(struct xs_server *srv, const struct xs_conn *c)
{
	bool throttled = conn_throttled(srv, c);
	return (throttled ? 0 : (uint32_t)EPOLLIN) |
	       (c->oq || (!throttled && conn_has_request(c)) ? (uint32_t)EPOLLOUT : 0);
}

/* Brings c's registration in the epoll set up to date (one epoll_ctl if it changed). */
static void conn_arm(struct xs_server *srv, struct xs_conn *c)
{
	uint32_t want;

	if (srv->epfd < 0 || c->fd < 0 || c->dead)
		return;
	want = conn_want(srv, c);
	if (!c->watched || want != c->ev) {
		struct epoll_event e = {.events = want, .data.u64 = srv->eptag | (uint32_t)c->fd};
		if (epoll_ctl(srv->epfd, c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) ==
		    0) {
			c->watched = true;
			c->ev = want;
		} else {
			conn_kill(c, "cannot watch its socket");
			conn_pend(srv, c);
			return;
		}
	}
	if (!(want & EPOLLIN) && !c->parked) {
		c->parked = true;
		c->knext = srv->parked;
		srv->parked = c;
	}
}

/* ---------- connections ---------- */

/* Takes c out of the server's lists (conns, by fd, pending). */
static void conn_unlink(struct xs_server *srv, struct xs_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->fd >= 0 && c->fd < srv->nbyfd && srv->byfd[c->fd] == c)
		srv->byfd[c->fd] = NULL;
	if (c->pending)
		for (struct xs_conn **pp = &srv->pending; *pp; pp = &(*pp)->pnext)
			if (*pp == c) {
				*pp = c->pnext;
				break;
			}
	c->pending = false;
	if (c->parked)
		for (struct xs_conn **pp = &srv->parked; *pp; pp = &(*pp)->knext)
			if (*pp == c) {
				*pp = c->knext;
				break;
			}
	c->parked = false;
}

static void conn_free(struct xs_server *srv, struct xs_conn *c)
{
	conn_unlink(srv, c);
	xsi_conn_gone(srv->st, c);
	if (c->watched)
		(void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->fd >= 0)
		close(c->fd);
	while (c->oq)
		msg_drop(srv, c, &c->oq);
	if (c->charged)
		quota_uncharge(srv->led, c->dom, QUOTA_XS_CONNS, 1);
	free(c);
}

/* Frees every dead connection (a scan: for domain teardown and the fuzzer). */
static void reap(struct xs_server *srv)
{
	for (struct xs_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		if (c->dead)
			conn_free(srv, c);
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
	if (fd >= srv->nbyfd) {
		int n = fd < 64 ? 128 : fd * 2;
		struct xs_conn **nb = realloc(srv->byfd, sizeof(*nb) * (size_t)n);
		if (!nb) {
			free(c);
			quota_uncharge(srv->led, domid, QUOTA_XS_CONNS, 1);
			close(fd);
			return -ENOMEM;
		}
		memset(nb + srv->nbyfd, 0, sizeof(*nb) * (size_t)(n - srv->nbyfd));
		srv->byfd = nb;
		srv->nbyfd = n;
	}
	c->charged = true;
	c->oq_tail = &c->oq;
	c->fd = fd;
	c->dom = domid;
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	if (fd >= 0)
		srv->byfd[fd] = c;
	if (fd >= 0 && srv->epfd >= 0) {
		conn_arm(srv, c);
		if (c->dead) {
			conn_free(srv, c);
			return -ENOMEM;
		}
	}
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
	srv->epfd = -1;
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
	while (srv->conns)
		conn_free(srv, srv->conns);
	free(srv->byfd);
	xsi_set_conn_event(srv->st, NULL, NULL);
	if (srv->lfd >= 0 && srv->epfd >= 0)
		(void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->lfd, NULL);
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
					  (c->oq || (!throttled && conn_has_request(c)) ? POLLOUT
											: 0))};
	}
	return n;
}

int xs_server_handle(struct xs_server *srv, int fd)
{
	struct xs_conn *c;

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
	c = fd < srv->nbyfd ? srv->byfd[fd] : NULL;
	if (!c || c->dead)
		return -ENOENT;
	conn_pend(srv, c); /* flushed, or freed if it dies, below */
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

void xs_server_flush(struct xs_server *srv)
{
	struct xs_conn *c;
	while ((c = srv->pending)) {
		srv->pending = c->pnext;
		c->pending = false;
		conn_write(srv, c);
		if (c->dead)
			conn_free(srv, c);
		else
			conn_arm(srv, c);
	}
	/* throttled connections whose domain may send again: watch their input again */
	for (struct xs_conn **pp = &srv->parked; *pp;) {
		c = *pp;
		if (c->dead || !conn_throttled(srv, c)) {
			*pp = c->knext;
			c->parked = false;
			conn_arm(srv, c); /* dead: freed at the next flush it is pended for */
			if (c->dead)
				conn_pend(srv, c);
		} else {
			pp = &c->knext;
		}
	}
}

int xs_server_watch(struct xs_server *srv, int epfd, uint64_t tag)
{
	if (srv->epfd >= 0 || epfd < 0 || (tag & 0xffffffffull))
		return -EINVAL;
	srv->epfd = epfd;
	srv->eptag = tag;
	if (srv->lfd >= 0) {
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = tag | (uint32_t)srv->lfd};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, srv->lfd, &e) < 0) {
			int rc = -errno;
			srv->epfd = -1;
			return rc;
		}
	}
	for (struct xs_conn *c = srv->conns; c; c = c->next) {
		conn_arm(srv, c);
		if (c->dead)
			conn_pend(srv, c);
	}
	xs_server_flush(srv);
	return 0;
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
