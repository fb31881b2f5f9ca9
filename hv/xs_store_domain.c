/* SPDX-License-Identifier: MIT */
/*
 * The store's domains (as xenstored's domain.c): introduce, release (the
 * domain's home, watches and transactions go; nodes it still owns elsewhere
 * pass to dom0) and the introduced set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>

#include "xs_store_int.h"

/* ---------- domains ---------- */

bool xsi_domain_is_introduced(struct xs_store *st, domid_t domid)
{
	return domid == 0 || (st->dom_bits[domid / 64] >> (domid % 64)) & 1;
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
	if (domid != 0)
		st->dom_bits[domid / 64] |= 1ull << (domid % 64);
	xst_fire(st, "@introduceDomain", false);
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
			if (xst_set_perms(st, &st->main, len ? path : "/", p, n->nperms))
				PVLOG_RL(ERR, MOD, "out of memory re-owning %s", path);
			free(p);
			n = xst_tree_lookup(&st->main, len ? path : "/");
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

	if (domid == 0 || !xsi_domain_is_introduced(st, domid))
		return -ENOENT;
	st->dom_bits[domid / 64] &= ~(1ull << (domid % 64));
	snprintf(path, sizeof(path), "/local/domain/%u", (unsigned)domid);
	(void)xsi_rm(st, &c, 0, path, true);
	xst_watches_drop_if(st, NULL, true, domid);
	xst_txs_drop_if(st, NULL, true, domid);
	if (quota_usage(st->led, domid, QUOTA_XS_NODES)) {
		char buf[XS_ABS_PATH_MAX + 1] = "";
		reown_walk(st, buf, 0, st->main.root, domid);
	}
	xst_fire(st, "@releaseDomain", false);
	return 0;
}
