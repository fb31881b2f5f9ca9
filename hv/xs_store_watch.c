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

/* ---------- the index: prefix tree and hashes ---------- */

/* Binary search of p's kids; the index where `name` is or would be inserted. */
static unsigned wkid_index(const struct xs_wnode *p, const char *name, size_t len, bool *found)
{
	unsigned lo = 0, hi = p->nkids;
	*found = false;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const char *k = p->kids[mid]->name;
		int c = strncmp(k, name, len);
		if (c == 0 && k[len] != '\0')
			c = 1;
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct xs_wnode *wnode_new(struct xs_wnode *parent, const char *name, size_t len)
{
	struct xs_wnode *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	if (!(n->name = strndup(name, len))) {
		free(n);
		return NULL;
	}
	n->parent = parent;
	return n;
}

/*
 * The tree node of a watch path ("/..." or "@..."), created with its missing
 * ancestors when `create`; NULL if absent (or out of memory).
 */
static struct xs_wnode *wnode_find(struct xs_store *st, const char *path, bool create)
{
	struct xs_wnode **root = path[0] == '@' ? &st->wspecial : &st->wroot;
	const char *p = path[0] == '@' ? path : path + 1;
	struct xs_wnode *n;

	if (!*root && (!create || !(*root = wnode_new(NULL, "", 0))))
		return NULL;
	n = *root;
	while (*p) {
		/* "@..." is one component */
		const char *e = path[0] == '@' ? NULL : strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool found;
		unsigned i = wkid_index(n, p, len, &found);
		if (!found) {
			struct xs_wnode *k;
			if (!create)
				return NULL;
			if (n->nkids == n->capkids) {
				unsigned cap = n->capkids ? n->capkids * 2 : 4;
				struct xs_wnode **nk = realloc(n->kids, sizeof(*nk) * cap);
				if (!nk)
					return NULL;
				n->kids = nk;
				n->capkids = cap;
			}
			if (!(k = wnode_new(n, p, len)))
				return NULL;
			memmove(&n->kids[i + 1], &n->kids[i], sizeof(*n->kids) * (n->nkids - i));
			n->kids[i] = k;
			n->nkids++;
		}
		n = n->kids[i];
		p += len;
		if (*p == '/')
			p++;
	}
	return n;
}

/* Frees n and its ancestors while they hold no watch and no kid (the roots stay). */
static void wnode_prune(struct xs_wnode *n)
{
	while (n && n->parent && !n->watches && !n->nkids) {
		struct xs_wnode *p = n->parent;
		bool found;
		unsigned i = wkid_index(p, n->name, strlen(n->name), &found);
		if (found) {
			memmove(&p->kids[i], &p->kids[i + 1],
				sizeof(*p->kids) * (p->nkids - i - 1));
			p->nkids--;
		}
		free(n->kids);
		free(n->name);
		free(n);
		n = p;
	}
}

static void wnode_free_all(struct xs_wnode *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->nkids; i++)
		wnode_free_all(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* The hash key of w in table h; false if w is not in that table. */
static bool wkey(const struct xs_watch *w, int h, uint64_t *key)
{
	switch (h) {
	case XS_WH_HANDLE:
		*key = w->handle;
		return true;
	case XS_WH_CONN:
		*key = (uint64_t)(uintptr_t)w->conn;
		return w->conn != NULL;
	default:
		/* dom0's watches are never dropped by domain: kept out of one long chain */
		*key = w->dom;
		return w->dom != 0;
	}
}

static void whash_link(struct xs_store *st, struct xs_watch *w)
{
	uint64_t key;
	for (int h = 0; h < XS_WH__MAX; h++) {
		if (!wkey(w, h, &key))
			continue;
		struct xs_watch **b = &st->wh[h][mix64(key) & st->whmask];
		w->h_next[h] = *b;
		*b = w;
	}
}

static void whash_unlink(struct xs_store *st, struct xs_watch *w)
{
	uint64_t key;
	for (int h = 0; h < XS_WH__MAX; h++) {
		if (!wkey(w, h, &key))
			continue;
		for (struct xs_watch **pp = &st->wh[h][mix64(key) & st->whmask]; *pp;
		     pp = &(*pp)->h_next[h])
			if (*pp == w) {
				*pp = w->h_next[h];
				break;
			}
	}
}

/* Keeps the buckets at least as many as the watches (chains of ~1). */
static int whash_grow(struct xs_store *st)
{
	unsigned n = st->wh[0] ? st->whmask + 1 : 0, cap = n ? n * 2 : 64;
	struct xs_watch **nb[XS_WH__MAX];

	if (n && st->nwatches < n)
		return 0;
	for (int h = 0; h < XS_WH__MAX; h++)
		if (!(nb[h] = calloc(cap, sizeof(*nb[h])))) {
			while (h-- > 0)
				free(nb[h]);
			return n ? 0 : -ENOMEM; /* longer chains, still correct */
		}
	for (int h = 0; h < XS_WH__MAX; h++) {
		free(st->wh[h]);
		st->wh[h] = nb[h];
	}
	st->whmask = cap - 1;
	for (struct xs_watch *w = st->watches; w; w = w->next)
		whash_link(st, w);
	return 0;
}

static struct xs_watch *watch_by_handle(struct xs_store *st, uint64_t handle)
{
	if (!st->wh[XS_WH_HANDLE])
		return NULL;
	for (struct xs_watch *w = st->wh[XS_WH_HANDLE][mix64(handle) & st->whmask]; w;
	     w = w->h_next[XS_WH_HANDLE])
		if (w->handle == handle)
			return w;
	return NULL;
}

/* Unlinks w from every index and frees it with its quota. */
static void watch_del(struct xs_store *st, struct xs_watch *w)
{
	struct xs_wnode *wn = w->wn;
	for (struct xs_watch **pp = &wn->watches; *pp; pp = &(*pp)->wn_next)
		if (*pp == w) {
			*pp = w->wn_next;
			break;
		}
	wnode_prune(wn);
	whash_unlink(st, w);
	if (w->prev)
		w->prev->next = w->next;
	else
		st->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		st->watches_tail = w->prev;
	st->nwatches--;
	quota_uncharge(st->led, w->dom, QUOTA_XS_WATCHES, 1);
	free(w->path);
	free(w->token);
	free(w);
}

/* ---------- events ---------- */

static void deliver(struct xs_store *st, struct xs_watch *w, const char *path)
{
	const char *rp = path;
	if (w->rel_off && strlen(path) >= w->rel_off && !strncmp(path, w->path, w->rel_off))
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

/* Adds the watches of wn (and, with below, of its whole subtree) to st->fire_buf. */
static int fire_collect(struct xs_store *st, const struct xs_wnode *wn, bool below, unsigned *n)
{
	for (struct xs_watch *w = wn->watches; w; w = w->wn_next) {
		if (*n == st->fire_cap) {
			unsigned cap = st->fire_cap ? st->fire_cap * 2 : 64;
			struct xs_watch **nb = realloc(st->fire_buf, sizeof(*nb) * cap);
			if (!nb)
				return -ENOMEM;
			st->fire_buf = nb;
			st->fire_cap = cap;
		}
		st->fire_buf[(*n)++] = w;
	}
	for (unsigned i = 0; below && i < wn->nkids; i++)
		if (fire_collect(st, wn->kids[i], true, n))
			return -ENOMEM;
	return 0;
}

static int handle_desc(const void *a, const void *b)
{
	uint64_t x = (*(struct xs_watch *const *)a)->handle,
		 y = (*(struct xs_watch *const *)b)->handle;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Fires watches for a change at absolute `path`; rm also fires watches below
 * it (with their own path). Visits only the prefix tree nodes on path's way
 * (and, for rm, below it): the cost is that of the watches that fire. They
 * fire newest first.
 */
void xst_fire(struct xs_store *st, const char *path, bool rm)
{
	struct xs_wnode *wn = path[0] == '@' ? st->wspecial : st->wroot;
	const char *p = path[0] == '@' ? path : path + 1;
	size_t plen = strlen(path);
	unsigned n = 0;
	int rc = 0;

	while (wn && !rc) {
		if (path[0] != '@' || !*p)
			rc = fire_collect(st, wn, false, &n); /* watches at or above path */
		if (!*p)
			break;
		const char *e = path[0] == '@' ? NULL : strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool found;
		unsigned i = wkid_index(wn, p, len, &found);
		wn = found ? wn->kids[i] : NULL;
		p += len;
		if (*p == '/')
			p++;
	}
	if (!rc && rm && wn && !*p && path[0] != '@')
		for (unsigned i = 0; i < wn->nkids && !rc; i++)
			rc = fire_collect(st, wn->kids[i], true, &n);
	if (rc)
		PVLOG_RL(ERR, MOD, "out of memory firing watches for %s: some not fired", path);
	/* the order events had when the watches were one list, newest first */
	if (n > 1)
		qsort(st->fire_buf, n, sizeof(*st->fire_buf), handle_desc);
	for (unsigned i = 0; i < n; i++) {
		struct xs_watch *w = st->fire_buf[i];
		/* a watch below a removed path gets its own path */
		const char *ev = strlen(w->path) > plen ? w->path : path;
		if (watcher_may_see(st, w->dom, ev))
			deliver(st, w, ev);
	}
}

/* ---------- watches ---------- */

/* The watch of (conn, dom) on abs with token, or NULL. */
static struct xs_watch *watch_find(struct xs_store *st, const struct xs_caller *c, const char *abs,
				   const char *token)
{
	struct xs_wnode *wn = wnode_find(st, abs, false);
	for (struct xs_watch *w = wn ? wn->watches : NULL; w; w = w->wn_next)
		if (w->conn == c->conn && w->dom == c->dom && !strcmp(w->token, token))
			return w;
	return NULL;
}

int xsi_watch_add(struct xs_store *st, const struct xs_caller *c, const char *path,
		  const char *token, xs_watch_cb cb, void *arg, uint64_t *handle)
{
	char abs[XS_ABS_PATH_MAX + 1];
	size_t rel_off;
	struct xs_watch *w;
	struct xs_wnode *wn;
	int rc = xst_path_canon(c->dom, path, true, abs, &rel_off);
	if (rc)
		return xst_path_refused(st, c->dom, path, rc);
	if ((rc = xst_path_quota(st, c->dom, abs)))
		return rc;
	if (!token)
		return -EINVAL;
	if (c->conn && watch_find(st, c, abs, token))
		return -EEXIST;
	/* Per domain, whatever connection asks (Xen's model). */
	if ((rc = quota_charge(st->led, c->dom, QUOTA_XS_WATCHES, 1)))
		return rc;
	rc = -ENOMEM;
	if (whash_grow(st))
		goto uncharge;
	if (!(wn = wnode_find(st, abs, true)))
		goto prune;
	if (!(w = calloc(1, sizeof(*w))))
		goto prune;
	w->path = strdup(abs);
	w->token = strdup(token);
	if (!w->path || !w->token)
		goto free_w;
	w->rel_off = rel_off;
	w->dom = c->dom;
	w->conn = c->conn;
	w->cb = cb;
	w->arg = arg;
	w->handle = ++st->next_watch;
	w->wn = wn;
	w->wn_next = wn->watches;
	wn->watches = w;
	w->prev = st->watches_tail;
	if (w->prev)
		w->prev->next = w;
	else
		st->watches = w;
	st->watches_tail = w;
	st->nwatches++;
	whash_link(st, w);
	if (handle)
		*handle = w->handle;
	return 0;

free_w:
	free(w->path);
	free(w->token);
	free(w);
prune:
	if (wn)
		wnode_prune(wn);
uncharge:
	quota_uncharge(st->led, c->dom, QUOTA_XS_WATCHES, 1);
	return rc;
}

void xsi_watch_fire_initial(struct xs_store *st, uint64_t handle)
{
	struct xs_watch *w = watch_by_handle(st, handle);
	if (w)
		deliver(st, w, w->path);
}

int xsi_unwatch(struct xs_store *st, const struct xs_caller *c, const char *path, const char *token)
{
	char abs[XS_ABS_PATH_MAX + 1];
	struct xs_watch *w;
	int rc = xst_path_canon(c->dom, path, true, abs, NULL);
	if (rc)
		return rc;
	if (!token || !(w = watch_find(st, c, abs, token)))
		return -ENOENT;
	watch_del(st, w);
	return 0;
}

void xst_watches_drop_if(struct xs_store *st, void *conn, bool by_dom, domid_t dom)
{
	int h = by_dom ? XS_WH_DOM : XS_WH_CONN;
	uint64_t key = by_dom ? dom : (uint64_t)(uintptr_t)conn;

	if (!st->wh[h] || (by_dom ? dom == 0 : conn == NULL))
		return; /* never asked for: dom0's and in-process watches are not indexed */
	/* only the one chain: this owner's watches and a few others' */
	for (struct xs_watch *w = st->wh[h][mix64(key) & st->whmask], *next; w; w = next) {
		next = w->h_next[h];
		if (by_dom ? w->dom == dom : w->conn == conn)
			watch_del(st, w);
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
	struct xs_watch *w = watch_by_handle(st, handle);
	if (!w || w->conn)
		return -ENOENT;
	watch_del(st, w);
	return 0;
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
		struct xs_watch *w = watch_by_handle(st, e->handle);
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

void xst_watches_fini(struct xs_store *st)
{
	while (st->watches)
		watch_del(st, st->watches);
	while (st->evq_head) {
		struct xs_event *e = st->evq_head;
		st->evq_head = e->next;
		free(e->path);
		free(e->token);
		free(e);
	}
	wnode_free_all(st->wroot);
	wnode_free_all(st->wspecial);
	for (int h = 0; h < XS_WH__MAX; h++)
		free(st->wh[h]);
	free(st->fire_buf);
}
