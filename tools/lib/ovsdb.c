/* SPDX-License-Identifier: MIT */
/*
 * ovsdb.c - OVSDB client: stream framer, table replica, non-blocking connection.
 * Contracts in include/pvnet/ovsdb.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/ovsdb.h>

#define MOD "ovsdb"

/* ---- framer ------------------------------------------------------------------------ */

void ovsdb_framer_init(struct ovsdb_framer *f, size_t max_size)
{
	memset(f, 0, sizeof(*f));
	f->max = max_size ? max_size : OVSDB_MSG_MAX_DEFAULT;
}

void ovsdb_framer_fini(struct ovsdb_framer *f)
{
	free(f->buf);
	f->buf = NULL;
	f->len = f->cap = f->start = f->scan = 0;
	f->depth = 0;
	f->in_str = f->esc = 0;
}

static void framer_reset(struct ovsdb_framer *f)
{
	f->len = f->start = f->scan = 0;
	f->depth = 0;
	f->in_str = f->esc = 0;
}

/* Moves the unconsumed bytes to the front of the buffer. */
static void framer_compact(struct ovsdb_framer *f)
{
	if (!f->start)
		return;
	memmove(f->buf, f->buf + f->start, f->len - f->start);
	f->len -= f->start;
	f->scan -= f->start;
	f->start = 0;
}

int ovsdb_framer_push(struct ovsdb_framer *f, const void *data, size_t size)
{
	framer_compact(f);
	if (size > f->max || f->len > f->max - size) {
		/* bytes after a complete message are not scanned yet: a burst of small messages
		 * larger than max is still legal, so only refuse when the buffer cannot be
		 * drained by next() first (the caller drains between reads) */
		framer_reset(f);
		return -EMSGSIZE;
	}
	if (f->len + size > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		char *nb;

		while (cap < f->len + size)
			cap *= 2;
		if (cap > f->max)
			cap = f->max;
		nb = realloc(f->buf, cap);
		if (!nb)
			return -ENOMEM;
		f->buf = nb;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, data, size);
	f->len += size;
	return 0;
}

static int is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int ovsdb_framer_next(struct ovsdb_framer *f, json_t **out)
{
	*out = NULL;
	if (f->depth == 0 && !f->in_str) {
		while (f->start < f->len && is_ws(f->buf[f->start]))
			f->start++;
		f->scan = f->start;
		if (f->start == f->len) {
			framer_reset(f);
			return 0;
		}
		if (f->buf[f->start] != '{') {
			framer_reset(f);
			return -EPROTO;
		}
	}
	while (f->scan < f->len) {
		char ch = f->buf[f->scan++];

		if (f->in_str) {
			if (f->esc)
				f->esc = 0;
			else if (ch == '\\')
				f->esc = 1;
			else if (ch == '"')
				f->in_str = 0;
			continue;
		}
		if (ch == '"') {
			f->in_str = 1;
		} else if (ch == '{' || ch == '[') {
			f->depth++;
		} else if (ch == '}' || ch == ']') {
			if (f->depth == 0) {
				framer_reset(f);
				return -EPROTO;
			}
			if (--f->depth == 0) {
				json_error_t err;
				json_t *j =
					json_loadb(f->buf + f->start, f->scan - f->start, 0, &err);

				f->start = f->scan;
				if (!j)
					return -EPROTO;
				if (!json_is_object(j)) {
					json_decref(j);
					return -EPROTO;
				}
				*out = j;
				return 1;
			}
		}
	}
	return 0;
}

/* ---- datum helpers ----------------------------------------------------------------- */

int ovsdb_uuid_valid(const char *s)
{
	static const char tmpl[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (!s || strlen(s) != sizeof(tmpl) - 1)
		return 0;
	for (size_t i = 0; tmpl[i]; i++) {
		char ch = s[i];

		if (tmpl[i] == '-') {
			if (ch != '-')
				return 0;
		} else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
			     (ch >= 'A' && ch <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

static int is_pair(const json_t *j, const char *tag)
{
	return json_is_array(j) && json_array_size(j) == 2 &&
	       json_is_string(json_array_get(j, 0)) &&
	       !strcmp(json_string_value(json_array_get(j, 0)), tag);
}

const char *ovsdb_atom_uuid(const json_t *atom)
{
	const json_t *v;

	if (!is_pair(atom, "uuid") && !is_pair(atom, "named-uuid"))
		return NULL;
	v = json_array_get(atom, 1);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

size_t ovsdb_set_len(const json_t *datum)
{
	if (!datum)
		return 0;
	if (is_pair(datum, "set"))
		return json_is_array(json_array_get(datum, 1))
			       ? json_array_size(json_array_get(datum, 1))
			       : 0;
	if (is_pair(datum, "map"))
		return 0;
	return 1;
}

const json_t *ovsdb_set_get(const json_t *datum, size_t i)
{
	if (!datum)
		return NULL;
	if (is_pair(datum, "set"))
		return json_array_get(json_array_get(datum, 1), i);
	if (is_pair(datum, "map"))
		return NULL;
	return i == 0 ? datum : NULL;
}

size_t ovsdb_map_len(const json_t *datum)
{
	if (!is_pair(datum, "map") || !json_is_array(json_array_get(datum, 1)))
		return 0;
	return json_array_size(json_array_get(datum, 1));
}

int ovsdb_map_pair(const json_t *datum, size_t i, const json_t **k, const json_t **v)
{
	const json_t *p;

	if (!is_pair(datum, "map"))
		return -EINVAL;
	p = json_array_get(json_array_get(datum, 1), i);
	if (!json_is_array(p) || json_array_size(p) != 2)
		return -EINVAL;
	*k = json_array_get(p, 0);
	*v = json_array_get(p, 1);
	return 0;
}

const char *ovsdb_row_string(const json_t *row, const char *column)
{
	const json_t *d = json_is_object(row) ? json_object_get(row, column) : NULL;
	const json_t *a;

	if (!d || ovsdb_set_len(d) != 1)
		return NULL;
	a = ovsdb_set_get(d, 0);
	return json_is_string(a) ? json_string_value(a) : NULL;
}

json_t *ovsdb_uuid_ref(const char *uuid)
{
	return json_pack("[ss]", "uuid", uuid);
}

json_t *ovsdb_named_ref(const char *name)
{
	return json_pack("[ss]", "named-uuid", name);
}

json_t *ovsdb_set_of(json_t *elems)
{
	return json_pack("[so]", "set", elems);
}

/* ---- replica ----------------------------------------------------------------------- */

int ovsdb_replica_init(struct ovsdb_replica *r, size_t max_rows)
{
	r->tables = json_object();
	r->rows = 0;
	r->max_rows = max_rows ? max_rows : OVSDB_ROWS_MAX_DEFAULT;
	return r->tables ? 0 : -ENOMEM;
}

void ovsdb_replica_fini(struct ovsdb_replica *r)
{
	json_decref(r->tables);
	r->tables = NULL;
	r->rows = 0;
}

void ovsdb_replica_clear(struct ovsdb_replica *r)
{
	json_object_clear(r->tables);
	r->rows = 0;
}

json_t *ovsdb_replica_table(const struct ovsdb_replica *r, const char *table)
{
	json_t *t = json_object_get(r->tables, table);

	return t && json_object_size(t) ? t : NULL;
}

json_t *ovsdb_replica_row(const struct ovsdb_replica *r, const char *table, const char *uuid)
{
	return json_object_get(json_object_get(r->tables, table), uuid);
}

/* Checks the shape of every row-update and counts the rows the result would hold. */
static int updates_check(const struct ovsdb_replica *r, json_t *updates, int replace,
			 size_t *rows_after)
{
	const char *tname, *uuid;
	json_t *tu, *ru;
	size_t rows = replace ? 0 : r->rows;

	if (!json_is_object(updates))
		return -EINVAL;
	json_object_foreach(updates, tname, tu)
	{
		json_t *cur = replace ? NULL : json_object_get(r->tables, tname);

		if (!json_is_object(tu) || !*tname)
			return -EINVAL;
		json_object_foreach(tu, uuid, ru)
		{
			json_t *nw = json_object_get(ru, "new");
			json_t *old = json_object_get(ru, "old");
			int exists = cur && json_object_get(cur, uuid);

			if (!json_is_object(ru) || !ovsdb_uuid_valid(uuid))
				return -EINVAL;
			if ((nw && !json_is_object(nw)) || (old && !json_is_object(old)))
				return -EINVAL;
			if (nw && !exists)
				rows++;
			else if (!nw && exists)
				rows--;
		}
	}
	if (rows > r->max_rows)
		return -ENOSPC;
	*rows_after = rows;
	return 0;
}

int ovsdb_replica_apply(struct ovsdb_replica *r, json_t *updates, int replace)
{
	const char *tname, *uuid;
	json_t *tu, *ru;
	json_t *tables = r->tables;
	size_t rows;
	int rc = updates_check(r, updates, replace, &rows);

	if (rc)
		return rc;
	if (replace) {
		tables = json_object();
		if (!tables)
			return -ENOMEM;
	} else {
		/* apply to a copy so that a failed allocation half-way changes nothing */
		tables = json_deep_copy(r->tables);
		if (!tables)
			return -ENOMEM;
	}
	json_object_foreach(updates, tname, tu)
	{
		json_t *t = json_object_get(tables, tname);

		if (!t) {
			t = json_object();
			if (!t || json_object_set_new(tables, tname, t))
				goto nomem;
		}
		json_object_foreach(tu, uuid, ru)
		{
			json_t *nw = json_object_get(ru, "new");
			json_t *row = json_object_get(t, uuid);

			if (!nw) {
				json_object_del(t, uuid);
				continue;
			}
			if (row) {
				if (json_object_update(row, nw))
					goto nomem;
			} else {
				row = json_deep_copy(nw);
				if (!row || json_object_set_new(t, uuid, row))
					goto nomem;
			}
		}
	}
	json_decref(r->tables);
	r->tables = tables;
	r->rows = rows;
	return 0;
nomem:
	json_decref(tables);
	return -ENOMEM;
}

/* ---- connection -------------------------------------------------------------------- */

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_UP };

struct ovsdb_conn {
	char *target;
	struct sockaddr_storage sa; /* the remote tried now: sas[cur] */
	socklen_t sa_len;
	struct sockaddr_storage sas[OVSDB_MAX_REMOTES]; /* "A,B,C": a cluster's members */
	socklen_t sa_lens[OVSDB_MAX_REMOTES];
	unsigned n_sas, cur;
	const struct ovsdb_conn_ops *ops;
	void *arg;
	int fd;
	enum conn_state state;
	struct ovsdb_framer in;
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t next_id;
	uint64_t retry_at_ms; /* CONN_IDLE: when to connect */
	unsigned backoff_ms;
	uint64_t last_rx_ms;
	uint64_t probe_sent_ms; /* 0: no probe outstanding */
	uint64_t now_ms;
	struct ovsdb_conn_stats st;
	struct pvnet_ratelimit rl;
};

static int parse_target(struct ovsdb_conn *c, const char *target)
{
	memset(&c->sa, 0, sizeof(c->sa));
	if (!strncmp(target, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&c->sa;
		size_t n = strlen(target + 5);

		if (!n || n >= sizeof(un->sun_path))
			return -EINVAL;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, target + 5, n + 1);
		c->sa_len = (socklen_t)sizeof(*un);
		return 0;
	}
	if (!strncmp(target, "tcp:", 4)) {
		char host[64];
		const char *h = target + 4, *colon, *hend;
		char *end;
		unsigned long port;

		if (*h == '[') {
			hend = strchr(h, ']');
			if (!hend || hend[1] != ':')
				return -EINVAL;
			colon = hend + 1;
			h++;
		} else {
			colon = strrchr(h, ':');
			if (!colon)
				return -EINVAL;
			hend = colon;
		}
		if ((size_t)(hend - h) >= sizeof(host) || hend == h)
			return -EINVAL;
		memcpy(host, h, (size_t)(hend - h));
		host[hend - h] = 0;
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || !port || port > 65535)
			return -EINVAL;
		if (strchr(host, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->sa;

			if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
				return -EINVAL;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			c->sa_len = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&c->sa;

			if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
				return -EINVAL;
			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)port);
			c->sa_len = sizeof(*s4);
		}
		return 0;
	}
	return -EINVAL;
}

int ovsdb_conn_create(const char *target, const struct ovsdb_conn_ops *ops, void *arg,
		      struct ovsdb_conn **out)
{
	struct ovsdb_conn *c = calloc(1, sizeof(*c));
	int rc = 0;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	/* "unix:A,tcp:B:P,...": each connect tries the next one (a Raft cluster's members) */
	for (const char *t = target; !rc; t = strchr(t, ',') + 1) {
		size_t len = strchr(t, ',') ? (size_t)(strchr(t, ',') - t) : strlen(t);
		char one[256];

		if (c->n_sas >= OVSDB_MAX_REMOTES || len >= sizeof(one)) {
			rc = -EINVAL;
			break;
		}
		memcpy(one, t, len);
		one[len] = 0;
		rc = parse_target(c, one);
		if (rc)
			break;
		c->sas[c->n_sas] = c->sa;
		c->sa_lens[c->n_sas++] = c->sa_len;
		if (!strchr(t, ','))
			break;
	}
	if (rc)
		goto err_free;
	c->sa = c->sas[0];
	c->sa_len = c->sa_lens[0];
	c->target = strdup(target);
	if (!c->target) {
		rc = -ENOMEM;
		goto err_free;
	}
	c->ops = ops;
	c->arg = arg;
	c->fd = -1;
	c->state = CONN_IDLE;
	c->backoff_ms = OVSDB_BACKOFF_MIN_MS;
	c->next_id = 1;
	ovsdb_framer_init(&c->in, 0);
	*out = c;
	return 0;
err_free:
	free(c);
	return rc;
}

static void conn_close(struct ovsdb_conn *c, int notify)
{
	int was_up = c->state == CONN_UP;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CONN_IDLE;
	c->out_len = c->out_off = 0;
	ovsdb_framer_fini(&c->in);
	ovsdb_framer_init(&c->in, 0);
	c->probe_sent_ms = 0;
	c->retry_at_ms = c->now_ms + c->backoff_ms;
	c->cur = (c->cur + 1) % c->n_sas; /* the next member of a list, if any */
	c->sa = c->sas[c->cur];
	c->sa_len = c->sa_lens[c->cur];
	if (c->backoff_ms < OVSDB_BACKOFF_MAX_MS)
		c->backoff_ms = c->backoff_ms * 2 > OVSDB_BACKOFF_MAX_MS ? OVSDB_BACKOFF_MAX_MS
									 : c->backoff_ms * 2;
	if (was_up) {
		c->st.disconnects++;
		if (notify && c->ops->disconnected)
			c->ops->disconnected(c->arg, c);
	}
}

void ovsdb_conn_destroy(struct ovsdb_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	ovsdb_framer_fini(&c->in);
	free(c->out);
	free(c->target);
	free(c);
}

int ovsdb_conn_fd(const struct ovsdb_conn *c)
{
	return c->state == CONN_IDLE ? -1 : c->fd;
}

short ovsdb_conn_events(const struct ovsdb_conn *c)
{
	if (c->state == CONN_CONNECTING)
		return POLLOUT;
	if (c->state == CONN_UP)
		return (short)(POLLIN | (c->out_len > c->out_off ? POLLOUT : 0));
	return 0;
}

int ovsdb_conn_is_up(const struct ovsdb_conn *c)
{
	return c->state == CONN_UP;
}

unsigned ovsdb_conn_backoff_ms(const struct ovsdb_conn *c)
{
	return c->backoff_ms;
}

void ovsdb_conn_get_stats(const struct ovsdb_conn *c, struct ovsdb_conn_stats *st)
{
	*st = c->st;
}

int ovsdb_conn_timeout_ms(const struct ovsdb_conn *c, uint64_t now_ms)
{
	uint64_t at;

	if (c->state == CONN_IDLE)
		at = c->retry_at_ms;
	else if (c->state == CONN_UP)
		at = c->probe_sent_ms ? c->last_rx_ms + 2 * OVSDB_IDLE_PROBE_MS
				      : c->last_rx_ms + OVSDB_IDLE_PROBE_MS;
	else
		at = now_ms + 1000;
	if (at <= now_ms)
		return 0;
	return at - now_ms > 60000 ? 60000 : (int)(at - now_ms);
}

static int queue_json(struct ovsdb_conn *c, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n;
	int rc = 0;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + n > OVSDB_OUTQ_MAX) {
		c->st.outq_full++;
		rc = -ENOBUFS;
		goto out;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *nb;

		while (cap < c->out_len + n)
			cap *= 2;
		nb = realloc(c->out, cap);
		if (!nb) {
			rc = -ENOMEM;
			goto out;
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	c->st.msgs_out++;
out:
	free(s);
	return rc;
}

int ovsdb_conn_request(struct ovsdb_conn *c, const char *method, json_t *params, uint64_t *id)
{
	json_t *msg;
	int rc;

	if (c->state != CONN_UP) {
		json_decref(params);
		return -ENOTCONN;
	}
	msg = json_pack("{s:s,s:o,s:I}", "method", method, "params", params ? params : json_array(),
			"id", (json_int_t)c->next_id);
	if (!msg)
		return -ENOMEM;
	rc = queue_json(c, msg);
	json_decref(msg);
	if (!rc && id)
		*id = c->next_id;
	if (!rc)
		c->next_id++;
	return rc;
}

void ovsdb_conn_reconnect(struct ovsdb_conn *c)
{
	conn_close(c, 1);
}

static void conn_start(struct ovsdb_conn *c)
{
	int fd = socket(c->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		goto fail;
	c->fd = fd;
	if (connect(fd, (struct sockaddr *)&c->sa, c->sa_len) == 0) {
		c->state = CONN_CONNECTING; /* completes on the first POLLOUT */
		return;
	}
	if (errno == EINPROGRESS || errno == EAGAIN) {
		c->state = CONN_CONNECTING;
		return;
	}
fail:
	c->st.connect_fails++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CONN_IDLE;
	conn_close(c, 0);
}

static void conn_established(struct ovsdb_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		c->st.connect_fails++;
		conn_close(c, 0);
		return;
	}
	c->state = CONN_UP;
	c->st.connects++;
	c->backoff_ms = OVSDB_BACKOFF_MIN_MS;
	c->last_rx_ms = c->now_ms;
	PVLOG(INFO, MOD, "%s: connected", c->target);
	if (c->ops->connected)
		c->ops->connected(c->arg, c);
}

static void bad_msg(struct ovsdb_conn *c, const char *why)
{
	c->st.bad_msgs++;
	if (pvnet_log_ratelimit(&c->rl))
		pvnet_log(PVNET_LOG_WARN, MOD, "%s: ignored a message: %s", c->target, why);
}

static void handle_msg(struct ovsdb_conn *c, json_t *m)
{
	json_t *method = json_object_get(m, "method");
	json_t *id = json_object_get(m, "id");

	c->st.msgs_in++;
	if (json_is_string(method)) {
		json_t *params = json_object_get(m, "params");

		if (!strcmp(json_string_value(method), "echo") && id && !json_is_null(id)) {
			json_t *r = json_pack("{s:O,s:n,s:O}", "result",
					      params ? params : json_null(), "error", "id", id);

			if (r)
				queue_json(c, r);
			json_decref(r);
			return;
		}
		if (c->ops->notify)
			c->ops->notify(c->arg, c, json_string_value(method), params);
		return;
	}
	if (json_is_string(id) || !json_is_integer(id)) {
		/* our own echo replies carry the id "echo" */
		if (json_is_string(id) && !strcmp(json_string_value(id), "echo"))
			return;
		bad_msg(c, "a reply without a numeric id");
		return;
	}
	if (json_integer_value(id) <= 0 || (uint64_t)json_integer_value(id) >= c->next_id) {
		bad_msg(c, "a reply to no request");
		return;
	}
	if (c->ops->reply) {
		json_t *res = json_object_get(m, "result");
		json_t *err = json_object_get(m, "error");

		c->ops->reply(c->arg, c, (uint64_t)json_integer_value(id),
			      json_is_null(res) ? NULL : res, json_is_null(err) ? NULL : err);
	}
}

static void conn_read(struct ovsdb_conn *c)
{
	char buf[65536];

	for (int turns = 0; turns < 64 && c->state == CONN_UP; turns++) {
		ssize_t n = read(c->fd, buf, sizeof(buf));
		json_t *m;
		int rc;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			PVLOG(WARN, MOD, "%s: connection lost (%s)", c->target,
			      n == 0 ? "closed by the server" : strerror(errno));
			conn_close(c, 1);
			return;
		}
		if (n < 0)
			return;
		c->last_rx_ms = c->now_ms;
		c->probe_sent_ms = 0;
		rc = ovsdb_framer_push(&c->in, buf, (size_t)n);
		if (rc == -EMSGSIZE) {
			c->st.oversize++;
			PVLOG(WARN, MOD, "%s: a message over %zu bytes: reconnecting", c->target,
			      c->in.max);
			conn_close(c, 1);
			return;
		}
		if (rc) {
			conn_close(c, 1);
			return;
		}
		while (c->state == CONN_UP && (rc = ovsdb_framer_next(&c->in, &m)) != 0) {
			if (rc < 0) {
				bad_msg(c, "not a JSON object");
				continue;
			}
			handle_msg(c, m);
			json_decref(m);
		}
	}
}

static void conn_write(struct ovsdb_conn *c)
{
	while (c->state == CONN_UP && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			PVLOG(WARN, MOD, "%s: send: %s", c->target, strerror(errno));
			conn_close(c, 1);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

void ovsdb_conn_run(struct ovsdb_conn *c, short revents, uint64_t now_ms)
{
	c->now_ms = now_ms;
	if (c->state == CONN_IDLE) {
		if (now_ms >= c->retry_at_ms)
			conn_start(c);
		return;
	}
	if (c->state == CONN_CONNECTING) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			conn_established(c);
		if (c->state != CONN_UP)
			return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		conn_read(c);
	if (c->state != CONN_UP)
		return;
	if (c->probe_sent_ms && now_ms >= c->last_rx_ms + 2 * OVSDB_IDLE_PROBE_MS) {
		c->st.idle_drops++;
		PVLOG(WARN, MOD, "%s: no answer for %u ms: reconnecting", c->target,
		      2 * OVSDB_IDLE_PROBE_MS);
		conn_close(c, 1);
		return;
	}
	if (!c->probe_sent_ms && now_ms >= c->last_rx_ms + OVSDB_IDLE_PROBE_MS) {
		json_t *m = json_pack("{s:s,s:[],s:s}", "method", "echo", "params", "id", "echo");

		if (m && !queue_json(c, m))
			c->probe_sent_ms = now_ms;
		json_decref(m);
	}
	conn_write(c);
}
