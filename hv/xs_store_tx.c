/* SPDX-License-Identifier: MIT */
/*
 * The store's transactions (as xenstored's transaction.c); the model (shared
 * reference-counted nodes, generation records, commit) is described at the top
 * of xs_store.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>

#include "xs_store_int.h"

/* ---------- transactions bookkeeping ---------- */

struct xs_tx *xst_tx_find(struct xs_store *st, const struct xs_caller *c, uint32_t id)
{
	for (struct xs_tx *t = st->txs; t; t = t->next)
		if (t->id == id)
			return (t->owner == c->conn && t->dom == c->dom) ? t : NULL;
	return NULL;
}

/* Records the first touch of `path` in tx (call before modifying it). */
int xst_tx_note(struct xs_store *st, struct xs_tx *tx, const char *path, bool written)
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
	struct xs_node *n = xst_tree_lookup(&tx->tree, path);
	bool check = n || xst_deepest(&tx->tree, path, NULL)->gen <= tx->start_gen;
	char *dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	tx->recs[tx->nrecs++] = (struct xs_txrec){
		.path = dup, .gen = n ? n->gen : 0, .written = written, .check = check};
	return 0;
}

int xst_tx_event(struct xs_tx *tx, const char *path, bool rm)
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

void xst_tx_free(struct xs_store *st, struct xs_tx *tx)
{
	if (!tx)
		return;
	quota_uncharge(st->led, tx->dom, QUOTA_XS_TRANSACTIONS, 1);
	xst_tree_fini(&tx->tree);
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
	struct xs_node *tn = xst_tree_lookup(&tx->tree, path);
	struct xs_node *mn = xst_tree_lookup(&st->main, path);
	int rc;
	if (!tn) {
		if (mn && mn != st->main.root)
			return xst_node_remove(st, &st->main, path);
		return 0;
	}
	if (!mn) {
		/* Parents sort first, so only the last component can be missing. */
		if ((rc = xst_tree_create(st, &st->main, NULL, path, 0, &mn)))
			return rc;
	}
	if (!(mn = xst_node_mut(&st->main, path)))
		return -ENOMEM;
	/* Children the transaction removed (all others' changes would have conflicted). */
	for (unsigned i = mn->nkids; i-- > 0;) {
		bool found;
		xst_kid_index(tn, mn->kids[i]->name, strlen(mn->kids[i]->name), &found);
		if (!found)
			xst_kid_remove_at(st, &st->main, mn, i);
	}
	if ((rc = xst_set_value(st, &st->main, path, tn->val, tn->vlen)))
		return rc;
	return xst_set_perms(st, &st->main, path, tn->perms, tn->nperms);
}

int xsi_transaction_end(struct xs_store *st, const struct xs_caller *c, uint32_t txid, bool commit)
{
	struct xs_tx *tx = txid ? xst_tx_find(st, c, txid) : NULL;
	int rc = 0;
	if (!tx)
		return -ENOENT;
	tx_unlink(st, tx);
	if (!commit)
		goto out_free;
	for (unsigned i = 0; i < tx->nrecs; i++) {
		struct xs_node *mn = xst_tree_lookup(&st->main, tx->recs[i].path);
		if (tx->recs[i].check && (mn ? mn->gen : 0) != tx->recs[i].gen) {
			rc = -EAGAIN;
			goto out_free;
		}
	}
	/* The commit as a whole is held to the node quota of every domain it grows. */
	for (unsigned i = 0; i < tx->tree.nacct; i++) {
		const struct xs_acct *a = &tx->tree.acct[i];
		if (a->nodes > 0 && xst_nodes_over(st, &st->main, a->dom, a->nodes)) {
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
		xst_fire(st, tx->evs[i].path, tx->evs[i].rm);
out_free:
	xst_tx_free(st, tx);
	return rc;
}


void xst_txs_drop_if(struct xs_store *st, void *conn, bool by_dom, domid_t dom)
{
	for (struct xs_tx **pp = &st->txs; *pp;) {
		struct xs_tx *t = *pp;
		if ((by_dom && t->dom == dom) || (!by_dom && t->owner == conn)) {
			*pp = t->next;
			xst_tx_free(st, t);
		} else {
			pp = &t->next;
		}
	}
}
