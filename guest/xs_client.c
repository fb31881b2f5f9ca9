/* SPDX-License-Identifier: MIT */
/*
 * guest/xs_client.c - a small blocking store client (pvnet/xs_client.h). One
 * request is outstanding at a time; watch events that arrive while waiting for a
 * reply are queued in order and handed out by xs_client_read_watch().
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvnet/io/xs_wire.h>
#include <pvnet/xs_client.h>

struct xs_cev {
	struct xs_cev *next;
	char *path;
	char *token;
};

struct xs_client {
	int fd;
	uint32_t next_req;
	struct xs_cev *evq_head, **evq_tail;
};

int xs_client_open_fd(int fd, struct xs_client **out)
{
	struct xs_client *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_req = 1;
	c->evq_tail = &c->evq_head;
	*out = c;
	return 0;
}

int xs_client_open(const char *socket_path, struct xs_client **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return xs_client_open_fd(fd, out);
}

void xs_client_close(struct xs_client *c)
{
	if (!c)
		return;
	while (c->evq_head) {
		struct xs_cev *e = c->evq_head;
		c->evq_head = e->next;
		free(e->path);
		free(e->token);
		free(e);
	}
	close(c->fd);
	free(c);
}

int xs_client_fd(struct xs_client *c)
{
	return c->fd;
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one message; *body is malloc'd (len + 1 bytes, NUL-terminated). */
static int read_msg(struct xs_client *c, struct xsd_sockmsg *h, char **body)
{
	int rc = read_full(c->fd, h, sizeof(*h));
	if (rc)
		return rc;
	if (h->len > XENSTORE_PAYLOAD_MAX)
		return -EPROTO;
	*body = malloc(h->len + 1);
	if (!*body)
		return -ENOMEM;
	if ((rc = read_full(c->fd, *body, h->len))) {
		free(*body);
		return rc;
	}
	(*body)[h->len] = '\0';
	return 0;
}

/* Queues a watch event message (takes body). */
static int queue_event(struct xs_client *c, char *body, size_t len)
{
	size_t pl = strnlen(body, len);
	struct xs_cev *e;
	if (pl + 1 >= len) {
		free(body);
		return -EPROTO;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(body);
		return -ENOMEM;
	}
	e->path = strdup(body);
	e->token = strdup(body + pl + 1);
	free(body);
	if (!e->path || !e->token) {
		free(e->path);
		free(e->token);
		free(e);
		return -ENOMEM;
	}
	*c->evq_tail = e;
	c->evq_tail = &e->next;
	return 0;
}

/*
 * Sends one request made of the given pieces and waits for its reply.
 * On success *rep (may be NULL) gets the malloc'd payload and *replen its size.
 */
static int request(struct xs_client *c, uint32_t type, uint32_t tx, const void *const *parts,
		   const size_t *lens, int nparts, char **rep, size_t *replen)
{
	uint8_t buf[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
	struct xsd_sockmsg h = {type, c->next_req++, tx, 0};
	size_t off = sizeof(h);
	int rc;

	if (c->next_req == 0)
		c->next_req = 1;
	for (int i = 0; i < nparts; i++) {
		if (off + lens[i] > sizeof(buf))
			return -E2BIG;
		memcpy(buf + off, parts[i], lens[i]);
		off += lens[i];
	}
	h.len = (uint32_t)(off - sizeof(h));
	memcpy(buf, &h, sizeof(h));
	if ((rc = write_full(c->fd, buf, off)))
		return rc;
	for (;;) {
		struct xsd_sockmsg r;
		char *body;
		if ((rc = read_msg(c, &r, &body)))
			return rc;
		if (r.type == XS_WATCH_EVENT) {
			if ((rc = queue_event(c, body, r.len)))
				return rc;
			continue;
		}
		if (r.req_id != h.req_id) {
			free(body); /* stale reply: ignore */
			continue;
		}
		if (r.type == XS_ERROR) {
			rc = xs_errno_from_name(body, strnlen(body, r.len));
			free(body);
			return rc;
		}
		if (r.type != type) {
			free(body);
			return -EPROTO;
		}
		if (rep) {
			*rep = body;
			if (replen)
				*replen = r.len;
		} else {
			free(body);
		}
		return 0;
	}
}

/* Request whose payload is one or two NUL-terminated strings. */
static int req_str(struct xs_client *c, uint32_t type, uint32_t tx, const char *s1, const char *s2,
		   char **rep, size_t *replen)
{
	const void *parts[2] = {s1, s2};
	size_t lens[2] = {strlen(s1) + 1, s2 ? strlen(s2) + 1 : 0};
	return request(c, type, tx, parts, lens, s2 ? 2 : 1, rep, replen);
}

int xs_client_read(struct xs_client *c, uint32_t tx, const char *path, char **val, size_t *len)
{
	return req_str(c, XS_READ, tx, path, NULL, val, len);
}

int xs_client_write(struct xs_client *c, uint32_t tx, const char *path, const void *val, size_t len)
{
	const void *parts[2] = {path, val};
	size_t lens[2] = {strlen(path) + 1, len};
	return request(c, XS_WRITE, tx, parts, lens, 2, NULL, NULL);
}

int xs_client_printf(struct xs_client *c, uint32_t tx, const char *path, const char *fmt, ...)
{
	char buf[XENSTORE_PAYLOAD_MAX];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -E2BIG;
	return xs_client_write(c, tx, path, buf, (size_t)n);
}

int xs_client_mkdir(struct xs_client *c, uint32_t tx, const char *path)
{
	return req_str(c, XS_MKDIR, tx, path, NULL, NULL, NULL);
}

int xs_client_rm(struct xs_client *c, uint32_t tx, const char *path)
{
	return req_str(c, XS_RM, tx, path, NULL, NULL, NULL);
}

/* Splits a list of NUL-terminated names into a malloc'd array. */
static int names_from(const char *buf, size_t len, char ***names, unsigned *count)
{
	unsigned n = 0, i = 0;
	char **v;
	for (size_t off = 0; off < len; off += strnlen(buf + off, len - off) + 1)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t off = 0; off < len; i++) {
		size_t l = strnlen(buf + off, len - off);
		v[i] = strndup(buf + off, l);
		if (!v[i]) {
			xs_free_list(v, i);
			return -ENOMEM;
		}
		off += l + 1;
	}
	*names = v;
	*count = n;
	return 0;
}

/* XS_DIRECTORY_PART loop for directories whose listing exceeds one message. */
static int directory_part(struct xs_client *c, uint32_t tx, const char *path, char ***names,
			  unsigned *count)
{
	char *acc = NULL, gen0[32] = "";
	size_t acclen = 0;
	int rc, tries = 0;
again:
	for (;;) {
		char off[32], *rep;
		size_t rl, gl;
		snprintf(off, sizeof(off), "%zu", acclen);
		if ((rc = req_str(c, XS_DIRECTORY_PART, tx, path, off, &rep, &rl)))
			goto out;
		gl = strnlen(rep, rl);
		if (gl + 1 > rl || gl >= sizeof(gen0)) {
			free(rep);
			rc = -EPROTO;
			goto out;
		}
		if (acclen == 0) {
			memcpy(gen0, rep, gl + 1);
		} else if (strcmp(gen0, rep)) {
			/* The directory changed between parts: start again. */
			free(rep);
			free(acc);
			acc = NULL;
			acclen = 0;
			if (++tries > 8) {
				rc = -EAGAIN;
				goto out;
			}
			goto again;
		}
		size_t dl = rl - gl - 1;
		bool last = dl == 0 || (rep[rl - 1] == 0 && (dl == 1 || rep[rl - 2] == 0));
		if (last && dl)
			dl--; /* drop the end-of-list empty string */
		char *na = realloc(acc, acclen + dl + 1);
		if (!na) {
			free(rep);
			rc = -ENOMEM;
			goto out;
		}
		acc = na;
		memcpy(acc + acclen, rep + gl + 1, dl);
		acclen += dl;
		free(rep);
		if (last)
			break;
	}
	rc = names_from(acc ? acc : "", acclen, names, count);
out:
	free(acc);
	return rc;
}

int xs_client_directory(struct xs_client *c, uint32_t tx, const char *path, char ***names,
			unsigned *count)
{
	char *rep;
	size_t rl;
	int rc = req_str(c, XS_DIRECTORY, tx, path, NULL, &rep, &rl);
	if (rc == -E2BIG)
		return directory_part(c, tx, path, names, count);
	if (rc)
		return rc;
	rc = names_from(rep, rl, names, count);
	free(rep);
	return rc;
}

int xs_client_get_perms(struct xs_client *c, uint32_t tx, const char *path, struct xs_perm *perms,
			unsigned *count)
{
	char *rep;
	size_t rl;
	unsigned n = 0;
	int rc = req_str(c, XS_GET_PERMS, tx, path, NULL, &rep, &rl);
	if (rc)
		return rc;
	for (size_t off = 0; off < rl; off += strnlen(rep + off, rl - off) + 1) {
		const char *s = rep + off;
		struct xs_perm p;
		char *end;
		switch (s[0]) {
		case 'n':
			p.perm = XS_PERM_NONE;
			break;
		case 'r':
			p.perm = XS_PERM_READ;
			break;
		case 'w':
			p.perm = XS_PERM_WRITE;
			break;
		case 'b':
			p.perm = XS_PERM_BOTH;
			break;
		default:
			rc = -EPROTO;
			goto out;
		}
		p.domid = (domid_t)strtoul(s + 1, &end, 10);
		if (n < *count)
			perms[n] = p;
		n++;
	}
	if (n > *count)
		rc = -E2BIG;
	*count = n;
out:
	free(rep);
	return rc;
}

int xs_client_set_perms(struct xs_client *c, uint32_t tx, const char *path,
			const struct xs_perm *perms, unsigned count)
{
	static const char letters[] = {'n', 'r', 'w', 'b'};
	char buf[XENSTORE_PAYLOAD_MAX];
	size_t off;
	const void *parts[1] = {buf};
	size_t lens[1];
	if (count == 0 || count > XS_MAX_PERMS)
		return -EINVAL;
	off = strlen(path) + 1;
	if (off > sizeof(buf))
		return -E2BIG;
	memcpy(buf, path, off);
	for (unsigned i = 0; i < count; i++) {
		int w = snprintf(buf + off, sizeof(buf) - off, "%c%u", letters[perms[i].perm & 3],
				 (unsigned)perms[i].domid);
		if (w < 0 || (size_t)w + 1 > sizeof(buf) - off)
			return -E2BIG;
		off += (size_t)w + 1;
	}
	lens[0] = off;
	return request(c, XS_SET_PERMS, tx, parts, lens, 1, NULL, NULL);
}

int xs_client_transaction_start(struct xs_client *c, uint32_t *tx)
{
	char *rep, *end;
	unsigned long v;
	int rc = req_str(c, XS_TRANSACTION_START, 0, "", NULL, &rep, NULL);
	if (rc)
		return rc;
	v = strtoul(rep, &end, 10);
	if (end == rep || v == 0 || v > UINT32_MAX)
		rc = -EPROTO;
	else
		*tx = (uint32_t)v;
	free(rep);
	return rc;
}

int xs_client_transaction_end(struct xs_client *c, uint32_t tx, bool commit)
{
	return req_str(c, XS_TRANSACTION_END, tx, commit ? "T" : "F", NULL, NULL, NULL);
}

int xs_client_watch(struct xs_client *c, const char *path, const char *token)
{
	return req_str(c, XS_WATCH, 0, path, token, NULL, NULL);
}

int xs_client_unwatch(struct xs_client *c, const char *path, const char *token)
{
	return req_str(c, XS_UNWATCH, 0, path, token, NULL, NULL);
}

int xs_client_get_domain_path(struct xs_client *c, domid_t domid, char **path)
{
	char num[16];
	snprintf(num, sizeof(num), "%u", (unsigned)domid);
	return req_str(c, XS_GET_DOMAIN_PATH, 0, num, NULL, path, NULL);
}

int xs_client_read_watch(struct xs_client *c, int timeout_ms, char **path, char **token)
{
	int rc;
	while (!c->evq_head) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		struct xsd_sockmsg h;
		char *body;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		if ((rc = read_msg(c, &h, &body)))
			return rc;
		if (h.type != XS_WATCH_EVENT) {
			free(body); /* a reply nobody waits for */
			continue;
		}
		if ((rc = queue_event(c, body, h.len)))
			return rc;
	}
	struct xs_cev *e = c->evq_head;
	c->evq_head = e->next;
	if (!c->evq_head)
		c->evq_tail = &c->evq_head;
	*path = e->path;
	*token = e->token;
	free(e);
	return 0;
}
