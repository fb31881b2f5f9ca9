/* SPDX-License-Identifier: MIT */
/*
 * pvnet/quota.h - the per-domain ledger: what one domain may make pvnetd hold.
 *
 * Xen's model: quotas belong to a domain, never to one of its connections,
 * rings or ports, so a domain that opens more connections, transactions or
 * queues gains nothing. One ledger per pvnetd; the store, the hypervisor core
 * (event channels, grant maps), netback and the switch consult it.
 *
 * Two parts:
 *  - struct quota_limits: one value per resource (enum quota_res), with the
 *    defaults below, settable as "key=value" (pvnetd --limit KEY=VALUE, or a
 *    --limits FILE of such lines). A value is a decimal number or "unlimited".
 *  - struct quota_ledger: the limits plus every domain's current usage, with
 *    charge/uncharge helpers. Domain 0 (pvnetd itself, the privileged domain)
 *    is counted but never refused, as Xen exempts dom0 from xenstored quotas.
 *
 * Threading: a ledger may be used from any thread (one mutex inside; every
 * call is O(1) amortised and never blocks on anything but that mutex).
 *
 * Resources, keys and defaults (the table in docs/security.md repeats them):
 *
 *   key              default  what one domain may hold
 *   xs-conns               4  store connections (a Xen domain has one ring)
 *   xs-nodes            1000  store nodes it owns, including nodes whose owner
 *                             it changed (Xen: quota-nb-entry-per-domain)
 *   xs-watches           128  watches over all its connections (Xen: 128)
 *   xs-transactions       10  open transactions over all its connections
 *   xs-tx-nodes         1024  nodes one transaction may touch (Xen: 1024)
 *   xs-value-size       2048  bytes in one store value (Xen: 2048)
 *   xs-path-size        2048  bytes in a path, counted without the domain's
 *                             home "/local/domain/<id>/" (Xen: 2048)
 *   xs-output-bytes   262144  store replies and watch events queued unread,
 *                             over all its connections
 *   xs-watch-events     1024  watch events queued unread (oldest dropped)
 *   evtchns             1023  event-channel ports (Xen's xl default 1023)
 *   gnt-maps            8192  dom0 mappings of this domain's grants
 *   mac-per-port        1024  learnt MAC entries per switch port it owns
 *   rx-share-pct          25  percent of a shared packet pool its RX may hold
 *
 * Errors a refused charge returns (the Xen error for that limit):
 *   -ENOSPC  xs-nodes, xs-transactions, xs-tx-nodes, xs-value-size,
 *            xs-output-bytes, xs-watch-events, evtchns, gnt-maps, mac-per-port,
 *            rx-share-pct
 *   -E2BIG   xs-watches (cxenstored's answer to a watch over quota)
 *   -EDQUOT  xs-conns (no Xen equivalent: one ring per domain there)
 *   -EINVAL  xs-path-size (Xen rejects an over-long path as invalid)
 * quota_res_error() gives it for callers that check a limit themselves.
 */
#ifndef PVNET_QUOTA_H
#define PVNET_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grant_table.h" /* domid_t */

enum quota_res {
	QUOTA_XS_CONNS,
	QUOTA_XS_NODES,
	QUOTA_XS_WATCHES,
	QUOTA_XS_TRANSACTIONS,
	QUOTA_XS_TX_NODES,
	QUOTA_XS_VALUE_SIZE,
	QUOTA_XS_PATH_SIZE,
	QUOTA_XS_OUTPUT_BYTES,
	QUOTA_XS_WATCH_EVENTS,
	QUOTA_EVTCHNS,
	QUOTA_GNT_MAPS,
	QUOTA_MAC_PER_PORT,
	QUOTA_RX_SHARE_PCT,
	QUOTA_NR
};

#define QUOTA_UNLIMITED UINT64_MAX

struct quota_limits {
	uint64_t v[QUOTA_NR]; /* indexed by enum quota_res */
};

/* Fills every limit with its default. */
void quota_limits_default(struct quota_limits *l);
/* The setting's key ("xs-nodes"), or NULL for an out-of-range r. */
const char *quota_res_name(enum quota_res r);
/* One-line description of a resource (for --help and docs), or NULL. */
const char *quota_res_help(enum quota_res r);
/* -errno a refused charge of r returns (see the table above). */
int quota_res_error(enum quota_res r);
/* The resource named `key`, or -ENOENT. */
int quota_res_from_name(const char *key);

/*
 * Applies one "key=value" setting (surrounding blanks allowed). Returns 0,
 * -ENOENT (unknown key), -EINVAL (no '=' or not a number/"unlimited"),
 * -ERANGE (out of range). On error `l` is unchanged and, when err != NULL, a
 * message naming the key and value is written to err (errlen bytes).
 */
int quota_limits_parse(struct quota_limits *l, const char *kv, char *err, size_t errlen);
/*
 * Applies a file of settings: one "key=value" per line; blank lines and lines
 * starting with '#' are ignored. Stops at the first bad line: returns its
 * error and writes "PATH:LINE: message" to err. -errno if the file cannot be
 * read. Settings before the bad line stay applied to `l`.
 */
int quota_limits_load(struct quota_limits *l, const char *path, char *err, size_t errlen);
/* Writes "key=value\n" for every limit into buf (snprintf semantics). */
int quota_limits_format(const struct quota_limits *l, char *buf, size_t size);

struct quota_ledger;

/* lim may be NULL for the defaults; it is copied. */
int quota_ledger_create(const struct quota_limits *lim, struct quota_ledger **out);
/* quota_ledger_destroy(NULL) is a no-op. Users of the ledger must be gone. */
void quota_ledger_destroy(struct quota_ledger *q);

/* The current limit of a resource. */
uint64_t quota_limit(const struct quota_ledger *q, enum quota_res r);
/* Changes one limit at run time; usage above the new limit is kept, only new charges are refused. */
void quota_set_limit(struct quota_ledger *q, enum quota_res r, uint64_t value);
/* A copy of all current limits. */
void quota_get_limits(const struct quota_ledger *q, struct quota_limits *out);

/*
 * Charges n units of r to domain dom. Returns 0, or quota_res_error(r) if
 * usage + n would exceed the limit (usage unchanged; the refusal is counted,
 * see quota_refusals). Domain 0 is never refused.
 */
int quota_charge(struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n);
/* Charges without checking the limit (e.g. dom0 gives a node to a domain). */
void quota_charge_force(struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n);
/* Returns n units; usage never goes below 0. */
void quota_uncharge(struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n);
/* Current usage of r by dom (0 for a domain never charged). */
uint64_t quota_usage(const struct quota_ledger *q, domid_t dom, enum quota_res r);
/* True if charging n more units of r to dom would be refused (nothing charged). */
bool quota_would_exceed(const struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n);
/* Charges refused for r since creation, over all domains (for `pvnet stats`). */
uint64_t quota_refusals(const struct quota_ledger *q, enum quota_res r);
/* Counts one refusal of r decided by a caller that checks its limit itself. */
void quota_note_refusal(struct quota_ledger *q, enum quota_res r);
/*
 * Forgets a domain's usage (call when the domain is destroyed, after its users
 * uncharged what they hold), so a domid reused later starts from zero.
 */
void quota_domain_forget(struct quota_ledger *q, domid_t dom);

#endif /* PVNET_QUOTA_H */
