/* SPDX-License-Identifier: MIT */
/*
 * hv/xs_store_int.h - the store's data structures, shared by xs_store.c (tree,
 * nodes, permissions, operations), xs_store_watch.c, xs_store_tx.c and
 * xs_store_domain.c. Not for other files (the server uses xs_private.h).
 */
#ifndef PVNET_HV_XS_STORE_INT_H
#define PVNET_HV_XS_STORE_INT_H

#include <pvnet/quota.h>

#include "xs_private.h"


struct xs_node {
	char *name;
	unsigned refs;         /* trees and parents holding this node (shared with transactions) */
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
	bool live;            /* the live tree: node counts go to the ledger */
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
	void *owner;        /* connection, or NULL */
	uint64_t start_gen; /* nodes in tree with a higher gen were changed by the tx */
	struct xs_tree tree;
	struct xs_txrec *recs;
	unsigned nrecs, caprecs;
	struct xs_txev *evs;
	unsigned nevs, capevs;
};

/*
 * Watches are indexed so that no operation scans every watch: a prefix tree of
 * watched paths (one xs_wnode per path component; a change at P visits only
 * the nodes on P's way, and a removal the subtree below P), and three hashes:
 * by handle, by connection (watches that came on one) and by domain
 * (unprivileged domains only), so a connection's or a domain's watches are
 * dropped without looking at anyone else's.
 */
struct xs_wnode {
	char *name; /* one component ("" for the roots) */
	struct xs_wnode *parent;
	struct xs_wnode **kids; /* sorted by name */
	unsigned nkids, capkids;
	struct xs_watch *watches; /* on exactly this path, via wn_next */
};

enum { XS_WH_HANDLE, XS_WH_CONN, XS_WH_DOM, XS_WH__MAX };

struct xs_watch {
	struct xs_watch *next, *prev; /* st->watches: every watch, oldest first */
	struct xs_watch *wn_next;     /* the prefix tree node's list */
	struct xs_wnode *wn;
	struct xs_watch *h_next[XS_WH__MAX]; /* hash chains */
	uint64_t handle;
	char *path; /* absolute, or "@..." */
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
	struct xs_watch *watches, *watches_tail;
	unsigned nwatches;
	struct xs_wnode *wroot;           /* "/" and below */
	struct xs_wnode *wspecial;        /* "@introduceDomain", "@releaseDomain" */
	struct xs_watch **wh[XS_WH__MAX]; /* hash buckets, whmask + 1 each */
	unsigned whmask;
	struct xs_watch **fire_buf; /* the watches one change fires (reused) */
	unsigned fire_cap;
	uint64_t next_watch;
	struct xs_event *evq_head, **evq_tail;
	uint64_t dom_bits[(1u << 16) / 64]; /* introduced domains, by id */
	xs_conn_event_fn conn_event;
	void *conn_event_arg;
};

#define MOD "xs"

/*
 * Store internals shared by its four files (hv/xs_store*.c), as xenstored's
 * core.c, watch.c, transaction.c and domain.c. Paths given to these are
 * absolute and validated (xst_path_canon) unless said otherwise.
 */

/* --- tree (xs_store.c) --- */
struct xs_node *xst_node_new(const char *name, size_t namelen, const struct xs_perm *perms,
			     unsigned nperms);
/* Binary search; returns the index where `name` is or would be inserted. */
unsigned xst_kid_index(const struct xs_node *n, const char *name, size_t len, bool *found);
struct xs_node *xst_tree_lookup(const struct xs_tree *t, const char *path);
/* The node at path made private to t (shared nodes on the way copied); NULL if absent/ENOMEM. */
struct xs_node *xst_node_mut(struct xs_tree *t, const char *path);
/* Deepest existing node on the way to path (path itself if present); *rest: the missing part. */
struct xs_node *xst_deepest(const struct xs_tree *t, const char *path, const char **rest);
/* Would `more` new nodes take dom over its node quota (in tree t)? Counts the refusal. */
bool xst_nodes_over(struct xs_store *st, struct xs_tree *t, domid_t dom, long long more);
/* Removes kid i of p (p private to t) with its subtree; bumps p's generation. */
void xst_kid_remove_at(struct xs_store *st, struct xs_tree *t, struct xs_node *p, unsigned i);
/* Removes the node at `path` (not "/") from t with its subtree. */
int xst_node_remove(struct xs_store *st, struct xs_tree *t, const char *path);
void xst_tree_fini(struct xs_tree *t);
/* Creates path and missing ancestors in t as dom (quota-checked); notes paths in tx. */
int xst_tree_create(struct xs_store *st, struct xs_tree *t, struct xs_tx *tx, const char *path,
		    domid_t dom, struct xs_node **out);
int xst_set_value(struct xs_store *st, struct xs_tree *t, const char *path, const void *val,
		  size_t len);
/* Sets the permissions of the node at `path` in t; the node's count moves to the new owner. */
int xst_set_perms(struct xs_store *st, struct xs_tree *t, const char *path,
		  const struct xs_perm *perms, unsigned count);
/* Canonicalises a caller's path (any form) into out (XS_ABS_PATH_MAX + 1 bytes). */
int xst_path_canon(domid_t dom, const char *path, bool watch, char *out, size_t *rel_off);
/* xs-path-size for an unprivileged domain (-EINVAL when over). */
int xst_path_quota(struct xs_store *st, domid_t dom, const char *abs);
/* Returns rc, counting an over-long guest path as an xs-path-size refusal. */
int xst_path_refused(struct xs_store *st, domid_t dom, const char *path, int rc);
unsigned xst_perm_list_for(const struct xs_perm *perms, unsigned nperms, domid_t dom);
unsigned xst_perm_for(const struct xs_node *n, domid_t dom);
/* "@introduceDomain"/"@releaseDomain" or NULL. */
struct xs_special *xst_special_find(struct xs_store *st, const char *path);

/* --- watches (xs_store_watch.c) --- */
/* Fires watches for a change at `path`; rm also fires watches below it. */
void xst_fire(struct xs_store *st, const char *path, bool rm);
/* Frees every watch, queued event and the watch index (store teardown). */
void xst_watches_fini(struct xs_store *st);
/* Drops the watches of a connection (by_dom false) or of a domain (by_dom true). */
void xst_watches_drop_if(struct xs_store *st, void *conn, bool by_dom, domid_t dom);

/* --- transactions (xs_store_tx.c) --- */
/* The caller's open transaction id, or NULL. */
struct xs_tx *xst_tx_find(struct xs_store *st, const struct xs_caller *c, uint32_t id);
/* Records the first touch of `path` in tx (call before modifying it). */
int xst_tx_note(struct xs_store *st, struct xs_tx *tx, const char *path, bool written);
/* Queues a watch event to fire at commit (one per path and kind). */
int xst_tx_event(struct xs_tx *tx, const char *path, bool rm);
/* Frees an unlinked transaction and gives back its quota. NULL is a no-op. */
void xst_tx_free(struct xs_store *st, struct xs_tx *tx);
/* Drops the transactions of a connection (by_dom false) or of a domain (by_dom true). */
void xst_txs_drop_if(struct xs_store *st, void *conn, bool by_dom, domid_t dom);

#endif /* PVNET_HV_XS_STORE_INT_H */
