/* SPDX-License-Identifier: MIT */
/*
 * The store's core (as xenstored's core.c): a tree of nodes with sorted child
 * arrays (lookup O(depth log k)), Xen permissions, per-domain node accounting,
 * the operations and the store's lifecycle. Watches are in xs_store_watch.c,
 * transactions in xs_store_tx.c, domains in xs_store_domain.c.
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

#include "xs_store_int.h"

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

struct xs_node *xst_node_new(const char *name, size_t namelen, const struct xs_perm *perms,
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
	struct xs_node *c = xst_node_new(n->name, strlen(n->name), n->perms, n->nperms);
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
unsigned xst_kid_index(const struct xs_node *n, const char *name, size_t len, bool *found)
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
struct xs_node *xst_tree_lookup(const struct xs_tree *t, const char *path)
{
	struct xs_node *n = t->root;
	const char *p = path + 1;
	while (n && *p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool found;
		unsigned i = xst_kid_index(n, p, len, &found);
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
struct xs_node *xst_node_mut(struct xs_tree *t, const char *path)
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
		unsigned i = xst_kid_index(n, p, len, &found);
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
bool xst_nodes_over(struct xs_store *st, struct xs_tree *t, domid_t dom, long long more)
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
void xst_kid_remove_at(struct xs_store *st, struct xs_tree *t, struct xs_node *p, unsigned i)
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
int xst_node_remove(struct xs_store *st, struct xs_tree *t, const char *path)
{
	char parent[XS_ABS_PATH_MAX + 1];
	const char *name = strrchr(path, '/') + 1;
	struct xs_node *p;
	bool found;
	unsigned i;

	parent_of(path, parent);
	if (!(p = xst_node_mut(t, parent)))
		return xst_tree_lookup(t, parent) ? -ENOMEM : -ENOENT;
	i = xst_kid_index(p, name, strlen(name), &found);
	if (found)
		xst_kid_remove_at(st, t, p, i);
	return 0;
}

void xst_tree_fini(struct xs_tree *t)
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
int xst_path_canon(domid_t dom, const char *path, bool watch, char *out, size_t *rel_off)
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
int xst_path_quota(struct xs_store *st, domid_t dom, const char *abs)
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
int xst_path_refused(struct xs_store *st, domid_t dom, const char *path, int rc)
{
	if (dom != 0 && path &&
	    strnlen(path, XS_ABS_PATH_MAX + 1) >
		    (path[0] == '/' ? XS_ABS_PATH_MAX : XS_REL_PATH_MAX))
		quota_note_refusal(st->led, QUOTA_XS_PATH_SIZE);
	return rc;
}

unsigned xst_perm_list_for(const struct xs_perm *perms, unsigned nperms, domid_t dom)
{
	if (dom == 0 || perms[0].domid == dom)
		return XS_PERM_BOTH;
	for (unsigned i = 1; i < nperms; i++)
		if (perms[i].domid == dom)
			return perms[i].perm;
	return perms[0].perm;
}

struct xs_special *xst_special_find(struct xs_store *st, const char *path)
{
	for (unsigned i = 0; i < 2; i++)
		if (path && !strcmp(path, st->special[i].name))
			return &st->special[i];
	return NULL;
}

unsigned xst_perm_for(const struct xs_node *n, domid_t dom)
{
	return xst_perm_list_for(n->perms, n->nperms, dom);
}

/* Deepest existing node on the way to path (path itself if present). */
struct xs_node *xst_deepest(const struct xs_tree *t, const char *path, const char **rest)
{
	struct xs_node *n = t->root;
	const char *p = path + 1;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool found;
		unsigned i = xst_kid_index(n, p, len, &found);
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
	struct xs_node *n = xst_deepest(t, path, &rest);
	if ((xst_perm_for(n, dom) & need) != need)
		return -EACCES;
	if (*rest)
		return -ENOENT;
	*out = n;
	return 0;
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

static int op_begin(struct xs_store *st, const struct xs_caller *c, uint32_t txid, const char *path,
		    struct op *op)
{
	int rc = xst_path_canon(c->dom, path, false, op->path, NULL);
	if (rc)
		return xst_path_refused(st, c->dom, path, rc);
	if ((rc = xst_path_quota(st, c->dom, op->path)))
		return rc;
	op->tx = NULL;
	op->t = &st->main;
	if (txid) {
		op->tx = xst_tx_find(st, c, txid);
		if (!op->tx)
			return -ENOENT;
		op->t = &op->tx->tree;
	}
	return 0;
}

static void op_fire(struct xs_store *st, struct op *op, const char *path, bool rm)
{
	if (op->tx) {
		if (xst_tx_event(op->tx, path, rm))
			PVLOG_RL(ERR, MOD, "out of memory recording tx event");
	} else {
		xst_fire(st, path, rm);
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
int xst_tree_create(struct xs_store *st, struct xs_tree *t, struct xs_tx *tx, const char *path,
		    domid_t dom, struct xs_node **out)
{
	char buf[XS_ABS_PATH_MAX + 1];
	const char *rest;
	struct xs_node *n = xst_deepest(t, path, &rest);
	size_t base = (size_t)(rest - path);
	unsigned missing = 0;
	int rc;

	if (!*rest) {
		*out = n;
		return 0;
	}
	if (!(xst_perm_for(n, dom) & XS_PERM_WRITE))
		return -EACCES;
	for (const char *p = rest; p; p = strchr(p + 1, '/'))
		missing++;
	if (xst_nodes_over(st, t, dom, missing))
		return quota_res_error(QUOTA_XS_NODES);
	/* buf: the deepest existing node's path */
	memcpy(buf, path, base);
	buf[base ? base - 1 : 0] = '\0';
	if (base <= 1)
		strcpy(buf, "/");
	if (tx) {
		if ((rc = xst_tx_note(st, tx, buf, true)))
			return rc;
		for (const char *p = rest;;) {
			char sub[XS_ABS_PATH_MAX + 1];
			const char *e = strchr(p, '/');
			size_t end = e ? (size_t)(e - path) : strlen(path);
			memcpy(sub, path, end);
			sub[end] = '\0';
			if ((rc = xst_tx_note(st, tx, sub, true)))
				return rc;
			if (!e)
				break;
			p = e + 1;
		}
	}
	if (!(n = xst_node_mut(t, buf)))
		return -ENOMEM;
	while (*rest) {
		const char *e = strchr(rest, '/');
		size_t len = e ? (size_t)(e - rest) : strlen(rest);
		bool found;
		unsigned idx = xst_kid_index(n, rest, len, &found);
		struct xs_node *k = xst_node_new(rest, len, n->perms, n->nperms);
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
int xst_set_value(struct xs_store *st, struct xs_tree *t, const char *path, const void *val,
		  size_t len)
{
	struct xs_node *n = xst_node_mut(t, path);
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
int xst_set_perms(struct xs_store *st, struct xs_tree *t, const char *path,
		  const struct xs_perm *perms, unsigned count)
{
	struct xs_node *n = xst_node_mut(t, path);
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
static int read_begin(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
		      struct op *op, struct xs_node **n)
{
	int rc = op_begin(st, c, tx, path, op);
	if (rc)
		return rc;
	if (op->tx && (rc = xst_tx_note(st, op->tx, op->path, false)))
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
	if (op.tx && (rc = xst_tx_note(st, op.tx, op.path, true)))
		return rc;
	rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n);
	if (rc == -ENOENT)
		rc = xst_tree_create(st, op.t, op.tx, op.path, c->dom, &n);
	if (rc)
		return rc;
	if ((rc = xst_set_value(st, op.t, op.path, val, len)))
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
	if (op.tx && (rc = xst_tx_note(st, op.tx, op.path, false)))
		return rc;
	rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n);
	if (rc != -ENOENT)
		return rc; /* exists already (0) or no access */
	if ((rc = xst_tree_create(st, op.t, op.tx, op.path, c->dom, &n)))
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
	if (op.tx && ((rc = xst_tx_note(st, op.tx, op.path, true)) ||
		      (rc = xst_tx_note(st, op.tx, parent, true))))
		return rc;
	rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n);
	if (rc == -ENOENT && wire_semantics && xst_tree_lookup(op.t, parent))
		return 0;
	if (rc)
		return rc;
	/* Fire first: watchers' read permission is judged on the node still present. */
	op_fire(st, &op, op.path, true);
	return xst_node_remove(st, op.t, op.path);
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
	if (op.tx && (rc = xst_tx_note(st, op.tx, op.path, false)))
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
	struct xs_special *sp = xst_special_find(st, path);
	int rc;
	if (sp) {
		if (!(xst_perm_list_for(sp->perms, sp->nperms, c->dom) & XS_PERM_READ))
			return -EACCES;
		return perms_copy_out(sp->perms, sp->nperms, perms, count);
	}
	if ((rc = read_begin(st, c, tx, path, &op, &n)))
		return rc;
	return perms_copy_out(n->perms, n->nperms, perms, count);
}

/* SET_PERMS on "@introduceDomain"/"@releaseDomain": who may get those events (XSA-115). */
static int special_set_perms(const struct xs_caller *c, struct xs_special *sp,
			     const struct xs_perm *perms, unsigned count)
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
	if ((sp = xst_special_find(st, path)))
		return special_set_perms(c, sp, perms, count);
	if ((rc = op_begin(st, c, tx, path, &op)))
		return rc;
	if (op.tx && (rc = xst_tx_note(st, op.tx, op.path, true)))
		return rc;
	if ((rc = node_get(op.t, op.path, c->dom, XS_PERM_WRITE, &n)))
		return rc;
	/* As Xen: only the owner (or dom0) may change permissions, and only dom0 the owner. */
	if (c->dom != 0 && n->perms[0].domid != c->dom)
		return -EACCES;
	if (c->dom != 0 && perms[0].domid != n->perms[0].domid)
		return -EPERM;
	if ((rc = xst_set_perms(st, op.t, op.path, perms, count)))
		return rc;
	op_fire(st, &op, op.path, false);
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
	st->main.root = xst_node_new("", 0, &root_perm, 1);
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
		xst_tx_free(st, t);
	}
	xst_watches_fini(st);
	if (st->main.root) {
		/* Give the live nodes back to whoever shares the ledger. */
		subtree_unaccount(st, &st->main, st->main.root);
		xst_tree_fini(&st->main);
	}
	for (unsigned i = 0; i < 2; i++)
		free(st->special[i].perms);
	if (st->own_led)
		quota_ledger_destroy(st->led);
	free(st);
}
