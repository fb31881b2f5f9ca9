/* SPDX-License-Identifier: MIT */
/*
 * The store's watches (as xenstored's watch.c): registration, firing on a change
 * at or below a watched path (rm also fires watches below the removed node),
 * the permission check on each event (a watcher sees only what it may read)
 * and the queue of in-process events run by xs_store_dispatch().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>

#include "xs_store_int.h"

/* ---------- watches and events ---------- */

static bool path_at_or_below(const char *base, const char *p)
{
	size_t bl = strlen(base);
	if (!strcmp(base, "/"))
		return p[0] == '/';
	return !strncmp(base, p, bl) && (p[bl] == '\0' || p[bl] == '/');
}

static void deliver(struct xs_store *st, struct xs_watch *w, const char *path)
{
	const char *rp = path;
	if (w->rel_off && strlen(path) >= w->rel_off &&
	    !strncmp(path, w->path, w->rel_off))
		rp = path + w->rel_off;
	if (w->conn) {
		if (st->conn_event)
			st->conn_event(st->conn_event_arg, w->conn, rp, w->token);
		return;
	}
	struct xs_event *e = calloc(1, sizeof(*e));
	if (!e)
		goto fail;
	e->handle = w->handle;
	e->path = strdup(rp);
	e->token = strdup(w->token);
	if (!e->path || !e->token)
		goto fail;
	*st->evq_tail = e;
	st->evq_tail = &e->next;
	return;
fail:
	if (e) {
		free(e->path);
		free(e->token);
		free(e);
	}
	PVLOG_RL(ERR, MOD, "out of memory queueing watch event for %s", path);
}

/* May domain `dom` see a change at `path` (live tree)? */
static bool watcher_may_see(struct xs_store *st, domid_t dom, const char *path)
{
	if (dom == 0)
		return true;
	if (path[0] == '@') {
		/* XSA-115: special events only for domains the special node lets read. */
		struct xs_special *sp = xst_special_find(st, path);
		return sp && (xst_perm_list_for(sp->perms, sp->nperms, dom) & XS_PERM_READ);
	}
	return (xst_perm_for(xst_deepest(&st->main, path, NULL), dom) & XS_PERM_READ) != 0;
}

/* Fires watches for a change at absolute `path`; rm also fires watches below it. */
void xst_fire(struct xs_store *st, const char *path, bool rm)
{
	for (struct xs_watch *w = st->watches; w; w = w->next) {
		const char *ev = NULL;
		if (path[0] == '@' || w->path[0] == '@') {
			if (!strcmp(path, w->path))
				ev = path;
		} else if (path_at_or_below(w->path, path)) {
			ev = path;
		} else if (rm && path_at_or_below(path, w->path)) {
			ev = w->path;
		}
		if (ev && watcher_may_see(st, w->dom, ev))
			deliver(st, w, ev);
	}
}

/* ---------- watches ---------- */

int xsi_watch_add(struct xs_store *st, const struct xs_caller *c, const char *path,
		  const char *token, xs_watch_cb cb, void *arg, uint64_t *handle)
{
	char abs[XS_ABS_PATH_MAX + 1];
	size_t rel_off;
	struct xs_watch *w;
	int rc = xst_path_canon(c->dom, path, true, abs, &rel_off);
	if (rc)
		return xst_path_refused(st, c->dom, path, rc);
	if ((rc = xst_path_quota(st, c->dom, abs)))
		return rc;
	if (!token)
		return -EINVAL;
	for (w = st->watches; w; w = w->next)
		if (w->conn == c->conn && w->dom == c->dom && c->conn && !strcmp(w->path, abs) &&
		    !strcmp(w->token, token))
			return -EEXIST;
	/* Per domain, whatever connection asks (Xen's model). */
	if ((rc = quota_charge(st->led, c->dom, QUOTA_XS_WATCHES, 1)))
		return rc;
	w = calloc(1, sizeof(*w));
	if (w) {
		w->path = strdup(abs);
		w->token = strdup(token);
	}
	if (!w || !w->path || !w->token) {
		if (w) {
			free(w->path);
			free(w->token);
		}
		free(w);
		quota_uncharge(st->led, c->dom, QUOTA_XS_WATCHES, 1);
		return -ENOMEM;
	}
	w->rel_off = rel_off;
	w->dom = c->dom;
	w->conn = c->conn;
	w->cb = cb;
	w->arg = arg;
	w->handle = ++st->next_watch;
	w->next = st->watches;
	st->watches = w;
	if (handle)
		*handle = w->handle;
	return 0;
}

void xsi_watch_fire_initial(struct xs_store *st, uint64_t handle)
{
	for (struct xs_watch *w = st->watches; w; w = w->next)
		if (w->handle == handle) {
			deliver(st, w, w->path);
			return;
		}
}

void xst_watch_free(struct xs_store *st, struct xs_watch *w)
{
	quota_uncharge(st->led, w->dom, QUOTA_XS_WATCHES, 1);
	free(w->path);
	free(w->token);
	free(w);
}

int xsi_unwatch(struct xs_store *st, const struct xs_caller *c, const char *path,
		const char *token)
{
	char abs[XS_ABS_PATH_MAX + 1];
	int rc = xst_path_canon(c->dom, path, true, abs, NULL);
	if (rc)
		return rc;
	for (struct xs_watch **pp = &st->watches; *pp; pp = &(*pp)->next) {
		struct xs_watch *w = *pp;
		if (w->conn == c->conn && w->dom == c->dom && !strcmp(w->path, abs) &&
		    !strcmp(w->token, token)) {
			*pp = w->next;
			xst_watch_free(st, w);
			return 0;
		}
	}
	return -ENOENT;
}

void xst_watches_drop_if(struct xs_store *st, void *conn, bool by_dom, domid_t dom)
{
	for (struct xs_watch **pp = &st->watches; *pp;) {
		struct xs_watch *w = *pp;
		if ((by_dom && w->dom == dom) || (!by_dom && w->conn == conn)) {
			*pp = w->next;
			xst_watch_free(st, w);
		} else {
			pp = &w->next;
		}
	}
}

void xsi_conn_gone(struct xs_store *st, void *conn)
{
	if (!conn)
		return;
	xst_watches_drop_if(st, conn, false, 0);
	xst_txs_drop_if(st, conn, false, 0);
}

struct quota_ledger *xsi_ledger(struct xs_store *st)
{
	return st->led;
}

void xsi_set_conn_event(struct xs_store *st, xs_conn_event_fn fn, void *arg)
{
	st->conn_event = fn;
	st->conn_event_arg = arg;
}

int xs_watch_add(struct xs_store *st, const char *path, const char *token, xs_watch_cb cb,
		 void *arg, uint64_t *handle)
{
	struct xs_caller c = {0, NULL};
	uint64_t h;
	int rc;
	if (!cb)
		return -EINVAL;
	rc = xsi_watch_add(st, &c, path, token, cb, arg, &h);
	if (rc)
		return rc;
	xsi_watch_fire_initial(st, h);
	if (handle)
		*handle = h;
	return 0;
}

int xs_watch_remove(struct xs_store *st, uint64_t handle)
{
	for (struct xs_watch **pp = &st->watches; *pp; pp = &(*pp)->next) {
		struct xs_watch *w = *pp;
		if (w->handle == handle && !w->conn) {
			*pp = w->next;
			xst_watch_free(st, w);
			return 0;
		}
	}
	return -ENOENT;
}

int xs_store_dispatch(struct xs_store *st)
{
	int n = 0;
	/* Only what is queued now: callbacks that cause events run them next turn. */
	struct xs_event *e = st->evq_head;
	st->evq_head = NULL;
	st->evq_tail = &st->evq_head;
	while (e) {
		struct xs_event *next = e->next;
		struct xs_watch *w;
		for (w = st->watches; w; w = w->next)
			if (w->handle == e->handle)
				break;
		if (w && w->cb) {
			w->cb(w->arg, e->path, e->token);
			n++;
		}
		free(e->path);
		free(e->token);
		free(e);
		e = next;
	}
	return n;
}

