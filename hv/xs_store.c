/* SPDX-License-Identifier: MIT */
/*
 * The store: a tree of nodes with sorted child arrays (lookup O(depth log k)),
 * Xen permissions, per-domain node accounting, watches and transactions.
 *
 * Transactions: nodes are reference counted and shared between the live tree
 * and the trees of open transactions (oxenstored's immutable-tree idea). A
 * transaction starts with a reference to the live root, O(1); whoever changes
 * a node first makes the path to it private (node_mut: copy each shared node
 * on the way, O(depth x fan-out)), so a transaction costs what it touches,
 * never the size of the whole tree. It records, for every path it reads or
 * writes, the generation that path had when first touched (0 = absent), up to
 * xs-tx-nodes paths. Commit fails with -EAGAIN if any recorded path's
 * generation in the live tree differs, -ENOSPC if the nodes it adds would
 * take a domain over xs-nodes; otherwise each written path is copied from the
 * transaction's tree into the live tree (parents before children) and the
 * transaction's watch events fire.
 *
 * Accounting goes to the per-domain ledger (pvnet/quota.h): live nodes by
 * owner, watches and transactions by domain (whatever connection they came
 * on). A transaction's tree keeps only its per-domain node delta.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>

#include "xs_private.h"

struct xs_node {
	char *name;
	unsigned refs; /* trees and parents holding this node (shared with transactions) */
	struct xs_node **kids; /* sorted by name */
	unsigned nkids, capkids;
	char *val; /* vlen bytes + NUL */
	size_t vlen;
	struct xs_perm *perms; /* nperms >= 1; [0] is the owner */
	unsigned nperms;
	uint64_t gen;
};

struct xs_acct {
	domid_t dom;
	long long nodes; /* a transaction's change to the domain's live count */
};

struct xs_tree {
	struct xs_node *root;
	bool live;           /* the live tree: node counts go to the ledger */
	struct xs_acct *acct; /* transactions only: per-domain node deltas */
	unsigned nacct, capacct;
};

struct xs_txrec {
	char *path;
	uint64_t gen;
	bool written;
	bool check; /* false: the tx's own changes decided this path's state */
};

struct xs_txev {
	char *path;
	bool rm;
};

struct xs_tx {
	struct xs_tx *next;
	uint32_t id;
	domid_t dom;
	void *owner; /* connection, or NULL */
	uint64_t start_gen; /* nodes in tree with a higher gen were changed by the tx */
	struct xs_tree tree;
	struct xs_txrec *recs;
	unsigned nrecs, caprecs;
	struct xs_txev *evs;
	unsigned nevs, capevs;
};

struct xs_watch {
	struct xs_watch *next;
	uint64_t handle;
	char *path;     /* absolute, or "@..." */
	char *token;
	size_t rel_off; /* bytes to strip for relative watches, 0 otherwise */
	domid_t dom;
	void *conn;
	xs_watch_cb cb;
	void *arg;
};

struct xs_event {
	struct xs_event *next;
	uint64_t handle;
	char *path;
	char *token;
};

/* "@introduceDomain" / "@releaseDomain": not in the tree, but with permissions (XSA-115). */
struct xs_special {
	const char *name;
	struct xs_perm *perms;
	unsigned nperms;
};

struct xs_store {
	struct quota_ledger *led;
	bool own_led;
	struct xs_special special[2];
	struct xs_tree main;
	uint64_t gen;
	struct xs_tx *txs;
	uint32_t next_tx;
	struct xs_watch *watches;
	uint64_t next_watch;
	struct xs_event *evq_head, **evq_tail;
	domid_t *doms; /* introduced domains */
	unsigned ndoms, capdoms;
	xs_conn_event_fn conn_event;
	void *conn_event_arg;
};

#define MOD "xs"

/* ---------- nodes ---------- */

/* Drops one reference; the node (and its references to its kids) goes with the last. */
static void node_put(struct xs_node *n)
{
	if (!n || --n->refs)
		return;
	for (unsigned i = 0; i < n->nkids; i++)
		node_put(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->val);
	free(n->perms);
	free(n);
}

static struct xs_node *node_new(const char *name, size_t namelen, const struct xs_perm *perms,
				unsigned nperms)
{
	struct xs_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->refs = 1;
	n->name = strndup(name, namelen);
	n->val = calloc(1, 1);
	n->perms = malloc(sizeof(*perms) * nperms);
	if (!n->name || !n->val || !n->perms) {
		free(n->name);
		free(n->val);
		free(n->perms);
		free(n);
		return NULL;
	}
	memcpy(n->perms, perms, sizeof(*perms) * nperms);
	n->nperms = nperms;
	return n;
}

/* A private copy of one node: its own value, perms and kid array; the kids are shared. */
static struct xs_node *node_copy(const struct xs_node *n)
{
	struct xs_node *c = node_new(n->name, strlen(n->name), n->perms, n->nperms);
	if (!c)
		return NULL;
	free(c->val);
	c->val = malloc(n->vlen + 1);
	c->kids = n->nkids ? malloc(sizeof(*c->kids) * n->nkids) : NULL;
	if (!c->val || (n->nkids && !c->kids)) {
		node_put(c);
		return NULL;
	}
	memcpy(c->val, n->val, n->vlen + 1);
	c->vlen = n->vlen;
	c->gen = n->gen;
	for (unsigned i = 0; i < n->nkids; i++) {
		c->kids[i] = n->kids[i];
		c->kids[i]->refs++;
	}
	c->nkids = c->capkids = n->nkids;
	return c;
}

/* Binary search; returns the index where `name` is or would be inserted. */
static unsigned kid_index(const struct xs_node *n, const char *name, size_t len, bool *found)
{
	unsigned lo = 0, hi = n->nkids;
	*found = false;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const char *k = n->kids[mid]->name;
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

static int kid_insert(struct xs_node *p, struct xs_node *k, unsigned idx)
{
	if (p->nkids == p->capkids) {
		unsigned cap = p->capkids ? p->capkids * 2 : 4;
		struct xs_node **nk = realloc(p->kids, sizeof(*nk) * cap);
		if (!nk)
			return -ENOMEM;
		p->kids = nk;
		p->capkids = cap;
	}
	memmove(&p->kids[idx + 1], &p->kids[idx], sizeof(*p->kids) * (p->nkids - idx));
	p->kids[idx] = k;
	p->nkids++;
	return 0;
}

/* Looks up an absolute, validated path. */
static struct xs_node *tree_lookup(const struct xs_tree *t, const char *path)
{
	struct xs_node *n = t->root;
	const char *p = path + 1;
	while (n && *p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool found;
		unsigned i = kid_index(n, p, len, &found);
		n = found ? n->kids[i] : NULL;
		p += len;
		if (*p == '/')
			p++;
	}
	return n;
}

/*
 * Returns the node at an absolute, validated path of t, made private to t: each
 * shared node on the way is replaced by a copy (parents first), so changing it
 * changes no other tree. NULL if absent or out of memory.
 */
static struct xs_node *node_mut(struct xs_tree *t, const char *path)
{
	struct xs_node **slot = &t->root;
	const char *p = path + 1;
	for (;;) {
		struct xs_node *n = *slot;
		if (n->refs > 1) {
			struct xs_node *c = node_copy(n);
			if (!c)
				return NULL;
			n->refs--; /* the slot's reference moves to the copy */
			*slot = c;
			n = c;
		}
		if (!*p)
			return n;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool found;
		unsigned i = kid_index(n, p, len, &found);
		if (!found)
			return NULL;
		slot = &n->kids[i];
		p += len;
		if (*p == '/')
			p++;
	}
}

/* ---------- accounting ---------- */

static struct xs_acct *acct_get(struct xs_tree *t, domid_t dom, bool create)
{
	for (unsigned i = 0; i < t->nacct; i++)
		if (t->acct[i].dom == dom)
			return &t->acct[i];
	if (!create)
		return NULL;
	if (t->nacct == t->capacct) {
		unsigned cap = t->capacct ? t->capacct * 2 : 8;
		struct xs_acct *na = realloc(t->acct, sizeof(*na) * cap);
		if (!na)
			return NULL;
		t->acct = na;
		t->capacct = cap;
	}
	t->acct[t->nacct] = (struct xs_acct){.dom = dom, .nodes = 0};
	return &t->acct[t->nacct++];
}

/* Nodes dom owns as seen from tree t (the live count plus a transaction's delta). */
static long long acct_nodes(struct xs_store *st, struct xs_tree *t, domid_t dom)
{
	long long n = (long long)quota_usage(st->led, dom, QUOTA_XS_NODES);
	if (!t->live) {
		struct xs_acct *a = acct_get(t, dom, false);
		if (a)
			n += a->nodes;
	}
	return n;
}

/* Would `more` new nodes take dom over its node quota (in tree t)? Counts the refusal. */
static bool nodes_over(struct xs_store *st, struct xs_tree *t, domid_t dom, long long more)
{
	uint64_t lim = quota_limit(st->led, QUOTA_XS_NODES);
	if (dom == 0 || lim == QUOTA_UNLIMITED || acct_nodes(st, t, dom) + more <= (long long)lim)
		return false;
	quota_note_refusal(st->led, QUOTA_XS_NODES);
	return true;
}

static void acct_add(struct xs_store *st, struct xs_tree *t, domid_t dom, int delta)
{
	if (t->live) {
		/* Limits were checked before the change: a node given away still counts. */
		if (delta > 0)
			quota_charge_force(st->led, dom, QUOTA_XS_NODES, (uint64_t)delta);
		else
			quota_uncharge(st->led, dom, QUOTA_XS_NODES, (uint64_t)-delta);
		return;
	}
	struct xs_acct *a = acct_get(t, dom, true);
	if (a)
		a->nodes += delta;
	else
		PVLOG_RL(ERR, MOD, "out of memory accounting a transaction's nodes");
}

static void subtree_unaccount(struct xs_store *st, struct xs_tree *t, const struct xs_node *n)
{
	acct_add(st, t, n->perms[0].domid, -1);
	for (unsigned i = 0; i < n->nkids; i++)
		subtree_unaccount(st, t, n->kids[i]);
}

/* Removes kid i of p (p private to t) with its subtree; bumps p's generation. */
static void kid_remove_at(struct xs_store *st, struct xs_tree *t, struct xs_node *p, unsigned i)
{
	struct xs_node *k = p->kids[i];
	memmove(&p->kids[i], &p->kids[i + 1], sizeof(*p->kids) * (p->nkids - i - 1));
	p->nkids--;
	p->gen = ++st->gen;
	subtree_unaccount(st, t, k);
	node_put(k);
}

static void parent_of(const char *path, char *buf);

/* Removes the node at absolute `path` (not "/") from t with its subtree. */
static int node_remove(struct xs_store *st, struct xs_tree *t, const char *path)
{
	char parent[XS_ABS_PATH_MAX + 1];
	const char *name = strrchr(path, '/') + 1;
	struct xs_node *p;
	bool found;
	unsigned i;

	parent_of(path, parent);
	if (!(p = node_mut(t, parent)))
		return tree_lookup(t, parent) ? -ENOMEM : -ENOENT;
	i = kid_index(p, name, strlen(name), &found);
	if (found)
		kid_remove_at(st, t, p, i);
	return 0;
}

static void tree_fini(struct xs_tree *t)
{
	node_put(t->root);
	free(t->acct);
	memset(t, 0, sizeof(*t));
}

/* ---------- paths and permissions ---------- */

static bool valid_chars(const char *p)
{
	for (; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '@' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Canonicalises `path` for domain `dom` into out (XS_ABS_PATH_MAX + 1 bytes).
 * *rel_off gets the bytes to strip to give back the caller's relative form.
 */
static int path_canon(domid_t dom, const char *path, bool watch, char *out, size_t *rel_off)
{
	size_t len;
	if (rel_off)
		*rel_off = 0;
	if (!path)
		return -EINVAL;
	len = strlen(path);
	if (watch && path[0] == '@') {
		if (strcmp(path, "@introduceDomain") && strcmp(path, "@releaseDomain"))
			return -EINVAL;
		memcpy(out, path, len + 1);
		return 0;
	}
	if (len == 0 || !valid_chars(path) || strstr(path, "//"))
		return -EINVAL;
	if (path[0] == '/') {
		if (len > XS_ABS_PATH_MAX || (len > 1 && path[len - 1] == '/'))
			return -EINVAL;
		memcpy(out, path, len + 1);
		return 0;
	}
	if (len > XS_REL_PATH_MAX || path[len - 1] == '/')
		return -EINVAL;
	int hl = snprintf(out, XS_ABS_PATH_MAX + 1, "/local/domain/%u/", (unsigned)dom);
	if (hl + len > XS_ABS_PATH_MAX)
		return -EINVAL;
	memcpy(out + hl, path, len + 1);
	if (rel_off)
		*rel_off = (size_t)hl;
	return 0;
}

/*
 * xs-path-size for an unprivileged domain: the path's length without the
 * domain's home "/local/domain/<dom>/" (Xen's rule). -EINVAL when over.
 */
static int path_quota(struct xs_store *st, domid_t dom, const char *abs)
{
	char home[32];
	size_t len = strlen(abs);
	uint64_t lim;
	if (dom == 0 || abs[0] == '@')
		return 0;
	int hl = snprintf(home, sizeof(home), "/local/domain/%u/", (unsigned)dom);
	if (!strncmp(abs, home, (size_t)hl))
		len -= (size_t)hl;
	lim = quota_limit(st->led, QUOTA_XS_PATH_SIZE);
	if (lim != QUOTA_UNLIMITED && len > lim) {
		quota_note_refusal(st->led, QUOTA_XS_PATH_SIZE);
		return quota_res_error(QUOTA_XS_PATH_SIZE);
	}
	return 0;
}

/* A guest's path refused by the wire's own length rule counts as an xs-path-size refusal too. */
static int path_refused(struct xs_store *st, domid_t dom, const char *path, int rc)
{
	if (dom != 0 && path &&
	    strnlen(path, XS_ABS_PATH_MAX + 1) > (path[0] == '/' ? XS_ABS_PATH_MAX : XS_REL_PATH_MAX))
		quota_note_refusal(st->led, QUOTA_XS_PATH_SIZE);
	return rc;
}

static unsigned perm_list_for(const struct xs_perm *perms, unsigned nperms, domid_t dom)
{
	if (dom == 0 || perms[0].domid == dom)
		return XS_PERM_BOTH;
	for (unsigned i = 1; i < nperms; i++)
		if (perms[i].domid == dom)
			return perms[i].perm;
	return perms[0].perm;
}

static struct xs_special *special_find(struct xs_store *st, const char *path)
{
	for (unsigned i = 0; i < 2; i++)
		if (path && !strcmp(path, st->special[i].name))
			return &st->special[i];
	return NULL;
}

static unsigned perm_for(const struct xs_node *n, domid_t dom)
{
	return perm_list_for(n->perms, n->nperms, dom);
}

/* Deepest existing node on the way to path (path itself if present). */
static struct xs_node *deepest(const struct xs_tree *t, const char *path, const char **rest)
{
	struct xs_node *n = t->root;
	const char *p = path + 1;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool found;
		unsigned i = kid_index(n, p, len, &found);
		if (!found)
			break;
		n = n->kids[i];
		p += len;
		if (*p == '/')
			p++;
	}
	if (rest)
		*rest = p;
	return n;
}

/*
 * Finds path with access `need`: -EACCES if the node (or, when absent, its
 * deepest existing ancestor) denies it; -ENOENT if absent but allowed.
 */
static int node_get(const struct xs_tree *t, const char *path, domid_t dom, unsigned need,
		    struct xs_node **out)
{
	const char *rest;
	struct xs_node *n = deepest(t, path, &rest);
	if ((perm_for(n, dom) & need) != need)
		return -EACCES;
	if (*rest)
		return -ENOENT;
	*out = n;
	return 0;
}

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
		struct xs_special *sp = special_find(st, path);
		return sp && (perm_list_for(sp->perms, sp->nperms, dom) & XS_PERM_READ);
	}
	return (perm_for(deepest(&st->main, path, NULL), dom) & XS_PERM_READ) != 0;
}

/* Fires watches for a change at absolute `path`; rm also fires watches below it. */
static void fire(struct xs_store *st, const char *path, bool rm)
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

/* ---------- transactions bookkeeping ---------- */

static struct xs_tx *tx_find(struct xs_store *st, const struct xs_caller *c, uint32_t id)
{
	for (struct xs_tx *t = st->txs; t; t = t->next)
		if (t->id == id)
			return (t->owner == c->conn && t->dom == c->dom) ? t : NULL;
	return NULL;
}

/* Records the first touch of `path` in tx (call before modifying it). */
static int tx_note(struct xs_store *st, struct xs_tx *tx, const char *path, bool written)
{
	for (unsigned i = 0; i < tx->nrecs; i++)
		if (!strcmp(tx->recs[i].path, path)) {
			tx->recs[i].written |= written;
			return 0;
		}
	if (tx->dom != 0 && quota_limit(st->led, QUOTA_XS_TX_NODES) != QUOTA_UNLIMITED &&
	    tx->nrecs >= quota_limit(st->led, QUOTA_XS_TX_NODES)) {
		quota_note_refusal(st->led, QUOTA_XS_TX_NODES);
		return quota_res_error(QUOTA_XS_TX_NODES);
	}
	if (tx->nrecs == tx->caprecs) {
		unsigned cap = tx->caprecs ? tx->caprecs * 2 : 8;
		struct xs_txrec *nr = realloc(tx->recs, sizeof(*nr) * cap);
		if (!nr)
			return -ENOMEM;
		tx->recs = nr;
		tx->caprecs = cap;
	}
	/*
	 * An absent node whose deepest ancestor the tx already changed (e.g. the tx
	 * removed it) says nothing about the live tree: that ancestor's own record
	 * carries the conflict check.
	 */
	struct xs_node *n = tree_lookup(&tx->tree, path);
	bool check = n || deepest(&tx->tree, path, NULL)->gen <= tx->start_gen;
	char *dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	tx->recs[tx->nrecs++] = (struct xs_txrec){
		.path = dup, .gen = n ? n->gen : 0, .written = written, .check = check};
	return 0;
}

static int tx_event(struct xs_tx *tx, const char *path, bool rm)
{
	/* One event per path and kind: a rewrite storm inside a tx stays its size. */
	for (unsigned i = 0; i < tx->nevs; i++)
		if (tx->evs[i].rm == rm && !strcmp(tx->evs[i].path, path))
			return 0;
	if (tx->nevs == tx->capevs) {
		unsigned cap = tx->capevs ? tx->capevs * 2 : 8;
		struct xs_txev *ne = realloc(tx->evs, sizeof(*ne) * cap);
		if (!ne)
			return -ENOMEM;
		tx->evs = ne;
		tx->capevs = cap;
	}
	char *dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	tx->evs[tx->nevs++] = (struct xs_txev){.path = dup, .rm = rm};
	return 0;
}

static void tx_free(struct xs_store *st, struct xs_tx *tx)
{
	if (!tx)
		return;
	quota_uncharge(st->led, tx->dom, QUOTA_XS_TRANSACTIONS, 1);
	tree_fini(&tx->tree);
	for (unsigned i = 0; i < tx->nrecs; i++)
		free(tx->recs[i].path);
	for (unsigned i = 0; i < tx->nevs; i++)
		free(tx->evs[i].path);
	free(tx->recs);
	free(tx->evs);
	free(tx);
}

static void tx_unlink(struct xs_store *st, struct xs_tx *tx)
{
	for (struct xs_tx **pp = &st->txs; *pp; pp = &(*pp)->next)
		if (*pp == tx) {
			*pp = tx->next;
			return;
		}
}

/*
 * Resolves the tree an operation works on, canonicalises the path and, in a
 * transaction, notes the path. Returns 0 or -errno.
 */
struct op {
	struct xs_tree *t;
	struct xs_tx *tx;
	char path[XS_ABS_PATH_MAX + 1];
};

static int op_begin(struct xs_store *st, const struct xs_caller *c, uint32_t txid,
		    const char *path, struct op *op)
{
	int rc = path_canon(c->dom, path, false, op->path, NULL);
	if (rc)
		return path_refused(st, c->dom, path, rc);
	if ((rc = path_quota(st, c->dom, op->path)))
		return rc;
	op->tx = NULL;
	op->t = &st->main;
	if (txid) {
		op->tx = tx_find(st, c, txid);
		if (!op->tx)
			return -ENOENT;
		op->t = &op->tx->tree;
	}
	return 0;
}

static void op_fire(struct xs_store *st, struct op *op, const char *path, bool rm)
{
	if (op->tx) {
		if (tx_event(op->tx, path, rm))
			PVLOG_RL(ERR, MOD, "out of memory recording tx event");
	} else {
		fire(st, path, rm);
	}
}

/* Parent path of an absolute path, in place into buf. */
static void parent_of(const char *path, char *buf)
{
	const char *s = strrchr(path, '/');
	size_t len = (s == path) ? 1 : (size_t)(s - path);
	memcpy(buf, path, len);
	buf[len] = '\0';
}

/*
 * Creates path and any missing ancestors in t, as domain dom (quota-checked for
 * dom != 0). New nodes inherit their parent's permissions; a non-dom0 creator
 * owns them. In a transaction, every touched path is noted.
 */
static int tree_create(struct xs_store *st, struct xs_tree *t, struct xs_tx *tx, const char *path,
		       domid_t dom, struct xs_node **out)
{
	char buf[XS_ABS_PATH_MAX + 1];
	const char *rest;
	struct xs_node *n = deepest(t, path, &rest);
	size_t base = (size_t)(rest - path);
	unsigned missing = 0;
	int rc;

	if (!*rest) {
		*out = n;
		return 0;
	}
	if (!(perm_for(n, dom) & XS_PERM_WRITE))
		return -EACCES;
	for (const char *p = rest; p; p = strchr(p + 1, '/'))
		missing++;
	if (nodes_over(st, t, dom, missing))
		return quota_res_error(QUOTA_XS_NODES);
	/* buf: the deepest existing node's path */
	memcpy(buf, path, base);
	buf[base ? base - 1 : 0] = '\0';
	if (base <= 1)
		strcpy(buf, "/");
	if (tx) {
		if ((rc = tx_note(st, tx, buf, true)))
			return rc;
		for (const char *p = rest;;) {
			char sub[XS_ABS_PATH_MAX + 1];
			const char *e = strchr(p, '/');
			size_t end = e ? (size_t)(e - path) : strlen(path);
			memcpy(sub, path, end);
			sub[end] = '\0';
			if ((rc = tx_note(st, tx, sub, true)))
				return rc;
			if (!e)
				break;
			p = e + 1;
		}
	}
	if (!(n = node_mut(t, buf)))
		return -ENOMEM;
	while (*rest) {
		const char *e = strchr(rest, '/');
		size_t len = e ? (size_t)(e - rest) : strlen(rest);
		bool found;
		unsigned idx = kid_index(n, rest, len, &found);
		struct xs_node *k = node_new(rest, len, n->perms, n->nperms);
		if (!k)
			return -ENOMEM;
		if (dom != 0)
			k->perms[0].domid = dom;
		if ((rc = kid_insert(n, k, idx))) {
			node_put(k);
			return rc;
		}
		acct_add(st, t, k->perms[0].domid, 1);
		n->gen = ++st->gen;
		k->gen = ++st->gen;
		n = k;
		rest += len;
		if (*rest == '/')
			rest++;
	}
	*out = n;
	return 0;
}

/* Sets the value of the node at `path` in t (made private to t first). */
static int set_value(struct xs_store *st, struct xs_tree *t, const char *path, const void *val,
		     size_t len)
{
	struct xs_node *n = node_mut(t, path);
	char *v = malloc(len + 1);
	if (!n || !v) {
		free(v);
		return -ENOMEM;
	}
	if (len)
		memcpy(v, val, len);
	v[len] = '\0';
	free(n->val);
	n->val = v;
	n->vlen = len;
	n->gen = ++st->gen;
	return 0;
}

/* Sets the permissions of the node at `path` in t; the node's count moves to the new owner. */
static int set_perms(struct xs_store *st, struct xs_tree *t, const char *path,
		     const struct xs_perm *perms, unsigned count)
{
	struct xs_node *n = node_mut(t, path);
	struct xs_perm *p = malloc(sizeof(*p) * count);
	if (!n || !p) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p, perms, sizeof(*p) * count);
	if (n->perms[0].domid != p[0].domid) {
		acct_add(st, t, n->perms[0].domid, -1);
		acct_add(st, t, p[0].domid, 1);
	}
	free(n->perms);
	n->perms = p;
	n->nperms = count;
	n->gen = ++st->gen;
	return 0;
}

/* The common start of a read: resolve the path, record it in the transaction's
 * read set, find the node the caller may read. 0 and *n, or -errno. */
static int read_begin(struct xs_store *st, const struct xs_caller *c, uint32_t tx,
		      const char *path, struct op *op, struct xs_node **n)
{
	int rc = op_begin(st, c, tx, path, op);
	if (rc)
		return rc;
	if (op->tx && (rc = tx_note(st, op->tx, op->path, false)))
		return rc;
	return node_get(op->t, op->path, c->dom, XS_PERM_READ, n);
}

/* ---------- public and internal operations ---------- */

int xsi_read(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
	     char **val, size_t *len)
{
	struct op op;
	struct xs_node *n;
	int rc = read_begin(st, c, tx, path, &op, &n);
	if (rc)
		return rc;
	*val = malloc(n->vlen + 1);
	if (!*val)
		return -ENOMEM;
	memcpy(*val, n->val, n->vlen + 1);
	if (len)
		*len = n->vlen;
	return 0;
}

int xsi_write(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
	      const void *val, size_t len)
{
	struct op op;
	struct xs_node *n;
	int rc = op_begin(st, c, tx, path, &op);
	if (rc)
		return rc;
	/* Every value must fit one wire reply; guests are further held to their quota. */
	if (len > XS_PAYLOAD_MAX)
		return -E2BIG;
	if (c->dom != 0 && quota_limit(st->led, QUOTA_XS_VALUE_SIZE) != QUOTA_UNLIMITED &&
	    len > quota_limit(st->led, QUOTA_XS_VALUE_SIZE)) {
		quota_note_refusal(st->led, QUOTA_XS_VALUE_SIZE);
		return quota_res_error(QUOTA_XS_VALUE_SIZE);
	}
	if (op.tx && (rc = tx_note(st, op.tx, op.path, true)))
		return rc;
	rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n);
	if (rc == -ENOENT)
		rc = tree_create(st, op.t, op.tx, op.path, c->dom, &n);
	if (rc)
		return rc;
	if ((rc = set_value(st, op.t, op.path, val, len)))
		return rc;
	op_fire(st, &op, op.path, false);
	return 0;
}

int xsi_mkdir(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path)
{
	struct op op;
	struct xs_node *n;
	int rc = op_begin(st, c, tx, path, &op);
	if (rc)
		return rc;
	if (op.tx && (rc = tx_note(st, op.tx, op.path, false)))
		return rc;
	rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n);
	if (rc != -ENOENT)
		return rc; /* exists already (0) or no access */
	if ((rc = tree_create(st, op.t, op.tx, op.path, c->dom, &n)))
		return rc;
	op_fire(st, &op, op.path, false);
	return 0;
}

int xsi_rm(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
	   bool wire_semantics)
{
	struct op op;
	struct xs_node *n;
	char parent[XS_ABS_PATH_MAX + 1];
	int rc = op_begin(st, c, tx, path, &op);
	if (rc)
		return rc;
	if (!strcmp(op.path, "/"))
		return -EINVAL;
	parent_of(op.path, parent);
	if (op.tx &&
	    ((rc = tx_note(st, op.tx, op.path, true)) || (rc = tx_note(st, op.tx, parent, true))))
		return rc;
	rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n);
	if (rc == -ENOENT && wire_semantics && tree_lookup(op.t, parent))
		return 0;
	if (rc)
		return rc;
	/* Fire first: watchers' read permission is judged on the node still present. */
	op_fire(st, &op, op.path, true);
	return node_remove(st, op.t, op.path);
}

int xsi_directory(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
		  char ***names, unsigned *count, uint64_t *gen)
{
	struct op op;
	struct xs_node *n;
	char **v;
	int rc = op_begin(st, c, tx, path, &op);
	if (rc)
		return rc;
	if (op.tx && (rc = tx_note(st, op.tx, op.path, false)))
		return rc;
	if ((rc = node_get(op.t, op.path, c->dom, XS_PERM_READ, &n)))
		return rc;
	v = calloc(n->nkids ? n->nkids : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < n->nkids; i++) {
		v[i] = strdup(n->kids[i]->name);
		if (!v[i]) {
			xs_free_list(v, i);
			return -ENOMEM;
		}
	}
	*names = v;
	*count = n->nkids;
	if (gen)
		*gen = n->gen;
	return 0;
}

void xs_free_list(char **names, unsigned count)
{
	if (!names)
		return;
	for (unsigned i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static int perms_copy_out(const struct xs_perm *src, unsigned n, struct xs_perm *perms,
			  unsigned *count)
{
	if (*count < n) {
		*count = n;
		return -E2BIG;
	}
	memcpy(perms, src, sizeof(*perms) * n);
	*count = n;
	return 0;
}

int xsi_get_perms(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
		  struct xs_perm *perms, unsigned *count)
{
	struct op op;
	struct xs_node *n;
	struct xs_special *sp = special_find(st, path);
	int rc;
	if (sp) {
		if (!(perm_list_for(sp->perms, sp->nperms, c->dom) & XS_PERM_READ))
			return -EACCES;
		return perms_copy_out(sp->perms, sp->nperms, perms, count);
	}
	if ((rc = read_begin(st, c, tx, path, &op, &n)))
		return rc;
	return perms_copy_out(n->perms, n->nperms, perms, count);
}

/* SET_PERMS on "@introduceDomain"/"@releaseDomain": who may get those events (XSA-115). */
static int special_set_perms(const struct xs_caller *c,
			     struct xs_special *sp, const struct xs_perm *perms, unsigned count)
{
	struct xs_perm *p;
	if (c->dom != 0 && sp->perms[0].domid != c->dom)
		return -EACCES;
	if (c->dom != 0 && perms[0].domid != sp->perms[0].domid)
		return -EPERM;
	if (!(p = malloc(sizeof(*p) * count)))
		return -ENOMEM;
	memcpy(p, perms, sizeof(*p) * count);
	free(sp->perms);
	sp->perms = p;
	sp->nperms = count;
	return 0;
}

int xsi_set_perms(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
		  const struct xs_perm *perms, unsigned count)
{
	struct op op;
	struct xs_node *n;
	struct xs_special *sp;
	int rc;
	if (!perms || count == 0 || count > XS_MAX_PERMS)
		return -EINVAL;
	for (unsigned i = 0; i < count; i++)
		if (perms[i].perm > XS_PERM_BOTH)
			return -EINVAL;
	if ((sp = special_find(st, path)))
		return special_set_perms(c, sp, perms, count);
	if ((rc = op_begin(st, c, tx, path, &op)))
		return rc;
	if (op.tx && (rc = tx_note(st, op.tx, op.path, true)))
		return rc;
	if ((rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n)))
		return rc;
	/* As Xen: only the owner (or dom0) may change permissions, and only dom0 the owner. */
	if (c->dom != 0 && n->perms[0].domid != c->dom)
		return -EACCES;
	if (c->dom != 0 && perms[0].domid != n->perms[0].domid)
		return -EPERM;
	if ((rc = set_perms(st, op.t, op.path, perms, count)))
		return rc;
	op_fire(st, &op, op.path, false);
	return 0;
}

int xsi_transaction_start(struct xs_store *st, const struct xs_caller *c, uint32_t *txid)
{
	struct xs_tx *tx;
	int rc;
	/* Per domain, whatever connection asks (Xen's model). */
	if ((rc = quota_charge(st->led, c->dom, QUOTA_XS_TRANSACTIONS, 1)))
		return rc;
	tx = calloc(1, sizeof(*tx));
	if (!tx) {
		quota_uncharge(st->led, c->dom, QUOTA_XS_TRANSACTIONS, 1);
		return -ENOMEM;
	}
	/* O(1): the transaction shares the live tree until either side changes a node. */
	tx->tree.root = st->main.root;
	tx->tree.root->refs++;
	for (;;) {
		struct xs_tx *o = st->txs;
		tx->id = ++st->next_tx;
		while (o && o->id != tx->id)
			o = o->next;
		if (tx->id != 0 && !o)
			break;
	}
	tx->dom = c->dom;
	tx->owner = c->conn;
	tx->start_gen = st->gen;
	tx->next = st->txs;
	st->txs = tx;
	*txid = tx->id;
	return 0;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xs_txrec *)a)->path, ((const struct xs_txrec *)b)->path);
}

/* Makes the live node at rec->path match the transaction's copy. */
static int commit_one(struct xs_store *st, struct xs_tx *tx, const char *path)
{
	struct xs_node *tn = tree_lookup(&tx->tree, path);
	struct xs_node *mn = tree_lookup(&st->main, path);
	int rc;
	if (!tn) {
		if (mn && mn != st->main.root)
			return node_remove(st, &st->main, path);
		return 0;
	}
	if (!mn) {
		/* Parents sort first, so only the last component can be missing. */
		if ((rc = tree_create(st, &st->main, NULL, path, 0, &mn)))
			return rc;
	}
	if (!(mn = node_mut(&st->main, path)))
		return -ENOMEM;
	/* Children the transaction removed (all others' changes would have conflicted). */
	for (unsigned i = mn->nkids; i-- > 0;) {
		bool found;
		kid_index(tn, mn->kids[i]->name, strlen(mn->kids[i]->name), &found);
		if (!found)
			kid_remove_at(st, &st->main, mn, i);
	}
	if ((rc = set_value(st, &st->main, path, tn->val, tn->vlen)))
		return rc;
	return set_perms(st, &st->main, path, tn->perms, tn->nperms);
}

int xsi_transaction_end(struct xs_store *st, const struct xs_caller *c, uint32_t txid,
			bool commit)
{
	struct xs_tx *tx = txid ? tx_find(st, c, txid) : NULL;
	int rc = 0;
	if (!tx)
		return -ENOENT;
	tx_unlink(st, tx);
	if (!commit)
		goto out_free;
	for (unsigned i = 0; i < tx->nrecs; i++) {
		struct xs_node *mn = tree_lookup(&st->main, tx->recs[i].path);
		if (tx->recs[i].check && (mn ? mn->gen : 0) != tx->recs[i].gen) {
			rc = -EAGAIN;
			goto out_free;
		}
	}
	/* The commit as a whole is held to the node quota of every domain it grows. */
	for (unsigned i = 0; i < tx->tree.nacct; i++) {
		const struct xs_acct *a = &tx->tree.acct[i];
		if (a->nodes > 0 && nodes_over(st, &st->main, a->dom, a->nodes)) {
			rc = quota_res_error(QUOTA_XS_NODES);
			goto out_free;
		}
	}
	if (tx->nrecs)
		qsort(tx->recs, tx->nrecs, sizeof(*tx->recs), path_cmp);
	for (unsigned i = 0; i < tx->nrecs; i++) {
		if (!tx->recs[i].written)
			continue;
		int r = commit_one(st, tx, tx->recs[i].path);
		if (r) {
			PVLOG(ERR, MOD, "commit of tx %u: %s: error %d", txid, tx->recs[i].path, r);
			rc = r;
		}
	}
	for (unsigned i = 0; i < tx->nevs; i++)
		fire(st, tx->evs[i].path, tx->evs[i].rm);
out_free:
	tx_free(st, tx);
	return rc;
}

/* ---------- watches ---------- */

int xsi_watch_add(struct xs_store *st, const struct xs_caller *c, const char *path,
		  const char *token, xs_watch_cb cb, void *arg, uint64_t *handle)
{
	char abs[XS_ABS_PATH_MAX + 1];
	size_t rel_off;
	struct xs_watch *w;
	int rc = path_canon(c->dom, path, true, abs, &rel_off);
	if (rc)
		return path_refused(st, c->dom, path, rc);
	if ((rc = path_quota(st, c->dom, abs)))
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

static void watch_free(struct xs_store *st, struct xs_watch *w)
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
	int rc = path_canon(c->dom, path, true, abs, NULL);
	if (rc)
		return rc;
	for (struct xs_watch **pp = &st->watches; *pp; pp = &(*pp)->next) {
		struct xs_watch *w = *pp;
		if (w->conn == c->conn && w->dom == c->dom && !strcmp(w->path, abs) &&
		    !strcmp(w->token, token)) {
			*pp = w->next;
			watch_free(st, w);
			return 0;
		}
	}
	return -ENOENT;
}

static void watches_drop_if(struct xs_store *st, void *conn, bool by_dom, domid_t dom)
{
	for (struct xs_watch **pp = &st->watches; *pp;) {
		struct xs_watch *w = *pp;
		if ((by_dom && w->dom == dom) || (!by_dom && w->conn == conn)) {
			*pp = w->next;
			watch_free(st, w);
		} else {
			pp = &w->next;
		}
	}
}

static void txs_drop_if(struct xs_store *st, void *conn, bool by_dom, domid_t dom)
{
	for (struct xs_tx **pp = &st->txs; *pp;) {
		struct xs_tx *t = *pp;
		if ((by_dom && t->dom == dom) || (!by_dom && t->owner == conn)) {
			*pp = t->next;
			tx_free(st, t);
		} else {
			pp = &t->next;
		}
	}
}

void xsi_conn_gone(struct xs_store *st, void *conn)
{
	if (!conn)
		return;
	watches_drop_if(st, conn, false, 0);
	txs_drop_if(st, conn, false, 0);
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
			watch_free(st, w);
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

/* ---------- domains ---------- */

bool xsi_domain_is_introduced(struct xs_store *st, domid_t domid)
{
	if (domid == 0)
		return true;
	for (unsigned i = 0; i < st->ndoms; i++)
		if (st->doms[i] == domid)
			return true;
	return false;
}

int xs_domain_introduce(struct xs_store *st, domid_t domid, const char *name)
{
	struct xs_caller c = {0, NULL};
	char path[64], sub[80], num[16];
	struct xs_perm perm = {.domid = domid, .perm = XS_PERM_NONE};
	int rc;

	if (domid != 0 && xsi_domain_is_introduced(st, domid))
		return -EEXIST;
	snprintf(path, sizeof(path), "/local/domain/%u", (unsigned)domid);
	if ((rc = xsi_mkdir(st, &c, 0, path)))
		return rc;
	if ((rc = xsi_set_perms(st, &c, 0, path, &perm, 1)))
		return rc;
	snprintf(sub, sizeof(sub), "%s/domid", path);
	snprintf(num, sizeof(num), "%u", (unsigned)domid);
	if ((rc = xsi_write(st, &c, 0, sub, num, strlen(num))))
		return rc;
	if (name) {
		snprintf(sub, sizeof(sub), "%s/name", path);
		if ((rc = xsi_write(st, &c, 0, sub, name, strlen(name))))
			return rc;
	}
	if (domid != 0) {
		if (st->ndoms == st->capdoms) {
			unsigned cap = st->capdoms ? st->capdoms * 2 : 8;
			domid_t *nd = realloc(st->doms, sizeof(*nd) * cap);
			if (!nd)
				return -ENOMEM;
			st->doms = nd;
			st->capdoms = cap;
		}
		st->doms[st->ndoms++] = domid;
	}
	fire(st, "@introduceDomain", false);
	return 0;
}

/*
 * After a domain is gone, the nodes it still owns elsewhere pass to dom0, so a
 * later domain with the same id inherits neither them nor their count.
 * Recursive over the live tree (a dom0 operation, once per domain's life).
 */
static void reown_walk(struct xs_store *st, char *path, size_t len, const struct xs_node *n,
		       domid_t domid)
{
	if (n->perms[0].domid == domid) {
		struct xs_perm *p = malloc(sizeof(*p) * n->nperms);
		if (p) {
			memcpy(p, n->perms, sizeof(*p) * n->nperms);
			p[0].domid = 0;
			if (set_perms(st, &st->main, len ? path : "/", p, n->nperms))
				PVLOG_RL(ERR, MOD, "out of memory re-owning %s", path);
			free(p);
			n = tree_lookup(&st->main, len ? path : "/");
			if (!n)
				return;
		}
	}
	for (unsigned i = 0; i < n->nkids; i++) {
		size_t kl = strlen(n->kids[i]->name);
		if (len + 1 + kl > XS_ABS_PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, n->kids[i]->name, kl + 1);
		reown_walk(st, path, len + 1 + kl, n->kids[i], domid);
		path[len] = '\0';
	}
}

int xs_domain_release(struct xs_store *st, domid_t domid)
{
	struct xs_caller c = {0, NULL};
	char path[64];
	bool known = false;

	for (unsigned i = 0; i < st->ndoms; i++)
		if (st->doms[i] == domid) {
			st->doms[i] = st->doms[--st->ndoms];
			known = true;
			break;
		}
	if (!known)
		return -ENOENT;
	snprintf(path, sizeof(path), "/local/domain/%u", (unsigned)domid);
	(void)xsi_rm(st, &c, 0, path, true);
	watches_drop_if(st, NULL, true, domid);
	txs_drop_if(st, NULL, true, domid);
	if (quota_usage(st->led, domid, QUOTA_XS_NODES)) {
		char buf[XS_ABS_PATH_MAX + 1] = "";
		reown_walk(st, buf, 0, st->main.root, domid);
	}
	fire(st, "@releaseDomain", false);
	return 0;
}

/* ---------- lifecycle and public wrappers ---------- */

int xs_store_create(struct quota_ledger *led, struct xs_store **out)
{
	static const char *const initial[] = {"/local", "/local/domain", "/tool"};
	struct xs_perm root_perm = {.domid = 0, .perm = XS_PERM_NONE};
	struct xs_caller c = {0, NULL};
	struct xs_store *st = calloc(1, sizeof(*st));
	int rc = -ENOMEM;

	if (!st)
		return -ENOMEM;
	st->led = led;
	if (!led) {
		if ((rc = quota_ledger_create(NULL, &st->led)))
			goto err;
		st->own_led = true;
	}
	st->main.live = true;
	st->evq_tail = &st->evq_head;
	st->special[0].name = "@introduceDomain";
	st->special[1].name = "@releaseDomain";
	rc = -ENOMEM;
	for (unsigned i = 0; i < 2; i++) {
		/* Xen's default: dom0 only (XSA-115); dom0 may grant others with SET_PERMS. */
		if (!(st->special[i].perms = malloc(sizeof(root_perm))))
			goto err;
		st->special[i].perms[0] = root_perm;
		st->special[i].nperms = 1;
	}
	st->main.root = node_new("", 0, &root_perm, 1);
	if (!st->main.root)
		goto err;
	acct_add(st, &st->main, 0, 1);
	for (unsigned i = 0; i < 3; i++)
		if ((rc = xsi_mkdir(st, &c, 0, initial[i])))
			goto err;
	*out = st;
	return 0;
err:
	xs_store_destroy(st);
	return rc;
}

void xs_store_destroy(struct xs_store *st)
{
	if (!st)
		return;
	while (st->txs) {
		struct xs_tx *t = st->txs;
		st->txs = t->next;
		tx_free(st, t);
	}
	while (st->watches) {
		struct xs_watch *w = st->watches;
		st->watches = w->next;
		watch_free(st, w);
	}
	while (st->evq_head) {
		struct xs_event *e = st->evq_head;
		st->evq_head = e->next;
		free(e->path);
		free(e->token);
		free(e);
	}
	if (st->main.root) {
		/* Give the live nodes back to whoever shares the ledger. */
		subtree_unaccount(st, &st->main, st->main.root);
		tree_fini(&st->main);
	}
	for (unsigned i = 0; i < 2; i++)
		free(st->special[i].perms);
	if (st->own_led)
		quota_ledger_destroy(st->led);
	free(st->doms);
	free(st);
}
