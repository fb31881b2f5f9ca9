/* SPDX-License-Identifier: MIT */
/*
 * The per-domain ledger: limits, their settings syntax, and usage per domain.
 *
 * Usage lives in a two-level table indexed by domid (256 blocks of 256
 * domains, a block allocated on the first charge of one of its domains), so a
 * charge is one mutex, two loads and an add, and memory grows only with the
 * domids in use.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>
#include <pvnet/quota.h>

#define MOD "quota"

static const struct {
	const char *name;
	uint64_t def;
	int err; /* positive errno */
	const char *help;
} res_info[QUOTA_NR] = {
	[QUOTA_XS_CONNS] = {"xs-conns", 4, EDQUOT, "store connections per domain"},
	[QUOTA_XS_NODES] = {"xs-nodes", 1000, ENOSPC,
			    "store nodes a domain owns (including nodes it gave away)"},
	[QUOTA_XS_WATCHES] = {"xs-watches", 128, E2BIG, "store watches per domain"},
	[QUOTA_XS_TRANSACTIONS] = {"xs-transactions", 10, ENOSPC,
				   "open store transactions per domain"},
	[QUOTA_XS_TX_NODES] = {"xs-tx-nodes", 1024, ENOSPC,
			       "store nodes one transaction may touch"},
	[QUOTA_XS_VALUE_SIZE] = {"xs-value-size", 2048, ENOSPC, "bytes in one store value"},
	[QUOTA_XS_PATH_SIZE] = {"xs-path-size", 2048, EINVAL,
				"bytes in a store path below the domain's home"},
	[QUOTA_XS_OUTPUT_BYTES] = {"xs-output-bytes", 262144, ENOSPC,
				   "store replies and events queued unread per domain"},
	[QUOTA_XS_WATCH_EVENTS] = {"xs-watch-events", 1024, ENOSPC,
				   "store watch events queued unread per domain"},
	[QUOTA_EVTCHNS] = {"evtchns", 1023, ENOSPC, "event-channel ports per domain"},
	[QUOTA_GNT_MAPS] = {"gnt-maps", 8192, ENOSPC, "dom0 mappings of a domain's grants"},
	[QUOTA_MAC_PER_PORT] = {"mac-per-port", 1024, ENOSPC, "learnt MAC entries per switch port"},
	[QUOTA_RX_SHARE_PCT] = {"rx-share-pct", 25, ENOSPC,
				"percent of a shared packet pool one domain's RX may hold"},
};

#define BLK_SHIFT 8
#define BLK_SIZE (1u << BLK_SHIFT)
#define NBLK ((1u << 16) >> BLK_SHIFT)

struct quota_dom {
	uint64_t use[QUOTA_NR];
};

struct quota_ledger {
	pthread_mutex_t lock;
	struct quota_limits lim;
	uint64_t refused[QUOTA_NR];
	struct quota_dom *blk[NBLK];
};

/* ---------- limits ---------- */

void quota_limits_default(struct quota_limits *l)
{
	for (unsigned i = 0; i < QUOTA_NR; i++)
		l->v[i] = res_info[i].def;
}

const char *quota_res_name(enum quota_res r)
{
	return (unsigned)r < QUOTA_NR ? res_info[r].name : NULL;
}

const char *quota_res_help(enum quota_res r)
{
	return (unsigned)r < QUOTA_NR ? res_info[r].help : NULL;
}

int quota_res_error(enum quota_res r)
{
	return (unsigned)r < QUOTA_NR ? -res_info[r].err : -EINVAL;
}

int quota_res_from_name(const char *key)
{
	for (unsigned i = 0; i < QUOTA_NR; i++)
		if (!strcmp(res_info[i].name, key))
			return (int)i;
	return -ENOENT;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int quota_limits_parse(struct quota_limits *l, const char *kv, char *err, size_t errlen)
{
	char key[64], val[64];
	const char *eq, *s, *e;
	size_t klen, vlen;
	int r;

	if (!kv || !(eq = strchr(kv, '='))) {
		seterr(err, errlen, "expected key=value, got '%s'", kv ? kv : "");
		return -EINVAL;
	}
	for (s = kv; s < eq && is_blank(*s); s++)
		;
	for (e = eq; e > s && is_blank(e[-1]); e--)
		;
	klen = (size_t)(e - s);
	if (klen == 0 || klen >= sizeof(key)) {
		seterr(err, errlen, "bad key in '%s'", kv);
		return klen ? -ENOENT : -EINVAL;
	}
	memcpy(key, s, klen);
	key[klen] = '\0';
	for (s = eq + 1; *s && is_blank(*s); s++)
		;
	for (e = s + strlen(s); e > s && is_blank(e[-1]); e--)
		;
	vlen = (size_t)(e - s);
	if (vlen >= sizeof(val)) {
		seterr(err, errlen, "%s: value too long", key);
		return -ERANGE;
	}
	memcpy(val, s, vlen);
	val[vlen] = '\0';
	if ((r = quota_res_from_name(key)) < 0) {
		seterr(err, errlen, "unknown limit '%s' (see docs/security.md)", key);
		return -ENOENT;
	}
	if (!strcmp(val, "unlimited")) {
		l->v[r] = QUOTA_UNLIMITED;
		return 0;
	}
	if (vlen == 0 || val[0] < '0' || val[0] > '9') {
		seterr(err, errlen, "%s: '%s' is not a number or \"unlimited\"", key, val);
		return -EINVAL;
	}
	errno = 0;
	char *end;
	unsigned long long v = strtoull(val, &end, 10);
	if (*end) {
		seterr(err, errlen, "%s: '%s' is not a number or \"unlimited\"", key, val);
		return -EINVAL;
	}
	if (errno == ERANGE || (r == QUOTA_RX_SHARE_PCT && (v < 1 || v > 100))) {
		seterr(err, errlen, "%s: %s is out of range", key, val);
		return -ERANGE;
	}
	l->v[r] = v;
	return 0;
}

int quota_limits_load(struct quota_limits *l, const char *path, char *err, size_t errlen)
{
	char line[512], msg[256];
	unsigned lineno = 0;
	int rc = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		rc = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *s = line;
		size_t len = strlen(line);
		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			if (err && errlen)
				snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			rc = -EINVAL;
			break;
		}
		while (*s && is_blank(*s))
			s++;
		if (!*s || *s == '#')
			continue;
		if ((rc = quota_limits_parse(l, s, msg, sizeof(msg)))) {
			if (err && errlen)
				snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			break;
		}
	}
	if (!rc && ferror(f)) {
		rc = -EIO;
		if (err && errlen)
			snprintf(err, errlen, "%s: read error", path);
	}
	fclose(f);
	return rc;
}

int quota_limits_format(const struct quota_limits *l, char *buf, size_t size)
{
	size_t off = 0;
	for (unsigned i = 0; i < QUOTA_NR; i++) {
		int n;
		if (l->v[i] == QUOTA_UNLIMITED)
			n = snprintf(buf + (off < size ? off : size), off < size ? size - off : 0,
				     "%s=unlimited\n", res_info[i].name);
		else
			n = snprintf(buf + (off < size ? off : size), off < size ? size - off : 0,
				     "%s=%llu\n", res_info[i].name, (unsigned long long)l->v[i]);
		if (n < 0)
			return n;
		off += (size_t)n;
	}
	return off > INT_MAX ? INT_MAX : (int)off;
}

/* ---------- the ledger ---------- */

int quota_ledger_create(const struct quota_limits *lim, struct quota_ledger **out)
{
	struct quota_ledger *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	if (pthread_mutex_init(&q->lock, NULL)) {
		free(q);
		return -ENOMEM;
	}
	if (lim)
		q->lim = *lim;
	else
		quota_limits_default(&q->lim);
	*out = q;
	return 0;
}

void quota_ledger_destroy(struct quota_ledger *q)
{
	if (!q)
		return;
	for (unsigned i = 0; i < NBLK; i++)
		free(q->blk[i]);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* Caller holds the lock. NULL if the domain was never charged (and !create) or no memory. */
static struct quota_dom *dom_get(struct quota_ledger *q, domid_t dom, bool create)
{
	struct quota_dom **b = &q->blk[dom >> BLK_SHIFT];
	if (!*b) {
		if (!create)
			return NULL;
		*b = calloc(BLK_SIZE, sizeof(**b));
		if (!*b)
			return NULL;
	}
	return &(*b)[dom & (BLK_SIZE - 1)];
}

static void lock(const struct quota_ledger *q)
{
	pthread_mutex_lock(&((struct quota_ledger *)q)->lock);
}

static void unlock(const struct quota_ledger *q)
{
	pthread_mutex_unlock(&((struct quota_ledger *)q)->lock);
}

uint64_t quota_limit(const struct quota_ledger *q, enum quota_res r)
{
	uint64_t v;
	if ((unsigned)r >= QUOTA_NR)
		return 0;
	lock(q);
	v = q->lim.v[r];
	unlock(q);
	return v;
}

void quota_set_limit(struct quota_ledger *q, enum quota_res r, uint64_t value)
{
	if ((unsigned)r >= QUOTA_NR)
		return;
	lock(q);
	q->lim.v[r] = value;
	unlock(q);
}

void quota_get_limits(const struct quota_ledger *q, struct quota_limits *out)
{
	lock(q);
	*out = q->lim;
	unlock(q);
}

static bool exceeds(const struct quota_ledger *q, const struct quota_dom *d, domid_t dom,
		    enum quota_res r, uint64_t n)
{
	uint64_t use = d ? d->use[r] : 0, lim = q->lim.v[r];
	if (dom == 0 || lim == QUOTA_UNLIMITED)
		return false;
	return use > lim || n > lim - use;
}

int quota_charge(struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n)
{
	struct quota_dom *d;
	int rc = 0;
	if ((unsigned)r >= QUOTA_NR)
		return -EINVAL;
	lock(q);
	d = dom_get(q, dom, true);
	if (exceeds(q, d, dom, r, n)) {
		q->refused[r]++;
		rc = -res_info[r].err;
	} else if (!d) {
		rc = -ENOMEM;
	} else {
		d->use[r] += n;
	}
	unlock(q);
	return rc;
}

void quota_charge_force(struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n)
{
	struct quota_dom *d;
	if ((unsigned)r >= QUOTA_NR)
		return;
	lock(q);
	d = dom_get(q, dom, true);
	if (d)
		d->use[r] += n;
	unlock(q);
	if (!d)
		PVLOG_RL(ERR, MOD, "out of memory charging %s to domain %u", res_info[r].name,
			 (unsigned)dom);
}

void quota_uncharge(struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n)
{
	struct quota_dom *d;
	if ((unsigned)r >= QUOTA_NR)
		return;
	lock(q);
	d = dom_get(q, dom, false);
	if (d)
		d->use[r] = d->use[r] > n ? d->use[r] - n : 0;
	unlock(q);
}

uint64_t quota_usage(const struct quota_ledger *q, domid_t dom, enum quota_res r)
{
	const struct quota_dom *d;
	uint64_t v = 0;
	if ((unsigned)r >= QUOTA_NR)
		return 0;
	lock(q);
	d = q->blk[dom >> BLK_SHIFT] ? &q->blk[dom >> BLK_SHIFT][dom & (BLK_SIZE - 1)] : NULL;
	if (d)
		v = d->use[r];
	unlock(q);
	return v;
}

bool quota_would_exceed(const struct quota_ledger *q, domid_t dom, enum quota_res r, uint64_t n)
{
	const struct quota_dom *d;
	bool x;
	if ((unsigned)r >= QUOTA_NR)
		return true;
	lock(q);
	d = q->blk[dom >> BLK_SHIFT] ? &q->blk[dom >> BLK_SHIFT][dom & (BLK_SIZE - 1)] : NULL;
	x = exceeds(q, d, dom, r, n);
	unlock(q);
	return x;
}

uint64_t quota_refusals(const struct quota_ledger *q, enum quota_res r)
{
	uint64_t v;
	if ((unsigned)r >= QUOTA_NR)
		return 0;
	lock(q);
	v = q->refused[r];
	unlock(q);
	return v;
}

void quota_note_refusal(struct quota_ledger *q, enum quota_res r)
{
	if ((unsigned)r >= QUOTA_NR)
		return;
	lock(q);
	q->refused[r]++;
	unlock(q);
}

void quota_domain_forget(struct quota_ledger *q, domid_t dom)
{
	struct quota_dom *d;
	lock(q);
	d = dom_get(q, dom, false);
	if (d)
		memset(d, 0, sizeof(*d));
	unlock(q);
}
