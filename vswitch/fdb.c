/* SPDX-License-Identifier: MIT */
/*
 * The MAC table: (VLAN, MAC) -> port, with ageing, a size limit, a per-port limit
 * on learnt entries and static entries.
 *
 * Entries are preallocated (max_entries) and chained by 32-bit index from a
 * power-of-two bucket array (load factor <= 1); free entries sit on a free list. No
 * allocation after create. One mutex guards everything; the data path holds it for
 * a whole batch (see vswitch.h "Concurrency").
 *
 * Each port's dynamic entries are also on a per-port LRU list (oldest at the head,
 * moved to the tail when seen again), so the oldest entry of a port is found in
 * O(1). Learning never fails because a table filled up (no "locked table"):
 * - a port at its limit gives up its own oldest dynamic entry for the new one
 *   (counted as a limit hit and an eviction on that port);
 * - a full table first reclaims expired entries (at most once per second), then
 *   takes the oldest dynamic entry of the port holding the most dynamic entries
 *   (the learning port itself on a tie). A port flooding random source MACs thus
 *   only ever pushes out its own entries while it holds the most.
 * Static entries are never evicted or aged; they count against the table size
 * but not against a port's limit.
 *
 * Ageing is lazy: an entry older than ageing_ns is treated as absent by look-ups and
 * reclaimed when met; vsw_fdb_expire() sweeps the table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vsw_private.h"

#define IDX_NONE UINT32_MAX
#define FULL_SWEEP_INTERVAL_NS 1000000000ull

struct fdb_entry {
	uint64_t key;       /* mac (48 bits) | vlan << 48 */
	uint64_t last_seen; /* ns; unused for static entries */
	uint32_t port_no;
	uint32_t next;               /* chain or free list */
	uint32_t lru_prev, lru_next; /* the port's LRU list (dynamic entries only) */
	bool is_static;
};

/* One port's share of the table, by port number. */
struct fdb_port {
	uint32_t limit;    /* 0: the bridge default */
	uint32_t count;    /* dynamic entries on the port */
	uint32_t lru_head; /* oldest */
	uint32_t lru_tail; /* newest */
	struct vsw_port_fdb_stats st;
};

struct vsw_fdb {
	pthread_mutex_t lock;
	unsigned max_entries;
	unsigned n_entries;
	uint32_t port_limit; /* default per-port limit */
	uint64_t ageing_ns;
	uint32_t bucket_mask;
	uint32_t free_head;
	uint32_t port_hwm; /* ports[0..port_hwm) may hold entries */
	uint64_t next_full_sweep;
	uint32_t *buckets;
	struct fdb_entry *entries;
	struct vsw_fdb_counters counters;
	uint64_t gen; /* bumped by every insert and removal (vsw_fdb_gen; OVN VTEP, vtep.c) */
	struct fdb_port ports[VSW_PORTS_MAX];
};

static uint64_t fdb_key(uint16_t vlan, const uint8_t *mac)
{
	uint64_t k = 0;

	for (int i = 0; i < 6; i++)
		k = (k << 8) | mac[i];
	return k | (uint64_t)vlan << 48;
}

static uint32_t fdb_bucket(const struct vsw_fdb *fdb, uint64_t key)
{
	/* multiplicative hashing: the high bits of key * odd constant */
	return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & fdb->bucket_mask;
}

int vsw_fdb_create(unsigned max_entries, uint64_t ageing_ns, struct vsw_fdb **out)
{
	struct vsw_fdb *fdb;
	uint32_t nb = 1;
	int rc = -EINVAL;

	*out = NULL;
	if (max_entries == 0 || max_entries > (1u << 24) || ageing_ns == 0)
		goto fail;
	rc = -ENOMEM;
	fdb = calloc(1, sizeof(*fdb));
	if (!fdb)
		goto fail;
	while (nb < max_entries)
		nb <<= 1;
	fdb->buckets = malloc(sizeof(*fdb->buckets) * nb);
	if (!fdb->buckets)
		goto fail_fdb;
	fdb->entries = calloc(max_entries, sizeof(*fdb->entries));
	if (!fdb->entries)
		goto fail_buckets;
	rc = -pthread_mutex_init(&fdb->lock, NULL);
	if (rc)
		goto fail_entries;
	memset(fdb->buckets, 0xff, sizeof(*fdb->buckets) * nb);
	fdb->bucket_mask = nb - 1;
	fdb->max_entries = max_entries;
	fdb->ageing_ns = ageing_ns;
	fdb->port_limit = VSW_FDB_PORT_DEFAULT_MAX;
	for (unsigned i = 0; i < max_entries; i++)
		fdb->entries[i].next = i + 1 < max_entries ? i + 1 : IDX_NONE;
	for (unsigned i = 0; i < VSW_PORTS_MAX; i++)
		fdb->ports[i].lru_head = fdb->ports[i].lru_tail = IDX_NONE;
	fdb->free_head = 0;
	*out = fdb;
	return 0;

fail_entries:
	free(fdb->entries);
fail_buckets:
	free(fdb->buckets);
fail_fdb:
	free(fdb);
fail:
	return rc;
}

void vsw_fdb_destroy(struct vsw_fdb *fdb)
{
	if (!fdb)
		return;
	pthread_mutex_destroy(&fdb->lock);
	free(fdb->entries);
	free(fdb->buckets);
	free(fdb);
}

void vsw_fdb_lock(struct vsw_fdb *fdb)
{
	pthread_mutex_lock(&fdb->lock);
}

void vsw_fdb_unlock(struct vsw_fdb *fdb)
{
	pthread_mutex_unlock(&fdb->lock);
}

static bool fdb_expired(const struct vsw_fdb *fdb, const struct fdb_entry *e, uint64_t now)
{
	return !e->is_static && now - e->last_seen >= fdb->ageing_ns && now >= e->last_seen;
}

/* The port's effective limit: its own, else the bridge default; never above the table. */
static uint32_t port_limit(const struct vsw_fdb *fdb, const struct fdb_port *p)
{
	uint32_t l = p->limit ? p->limit : fdb->port_limit;

	return l < fdb->max_entries ? l : fdb->max_entries;
}

/* ---- per-port LRU lists ---- */

static void lru_append(struct vsw_fdb *fdb, uint32_t i)
{
	struct fdb_entry *e = &fdb->entries[i];
	struct fdb_port *p = &fdb->ports[e->port_no];

	e->lru_next = IDX_NONE;
	e->lru_prev = p->lru_tail;
	if (p->lru_tail == IDX_NONE)
		p->lru_head = i;
	else
		fdb->entries[p->lru_tail].lru_next = i;
	p->lru_tail = i;
	p->count++;
	if (e->port_no >= fdb->port_hwm)
		fdb->port_hwm = e->port_no + 1;
}

static void lru_remove(struct vsw_fdb *fdb, uint32_t i)
{
	struct fdb_entry *e = &fdb->entries[i];
	struct fdb_port *p = &fdb->ports[e->port_no];

	if (e->lru_prev == IDX_NONE)
		p->lru_head = e->lru_next;
	else
		fdb->entries[e->lru_prev].lru_next = e->lru_next;
	if (e->lru_next == IDX_NONE)
		p->lru_tail = e->lru_prev;
	else
		fdb->entries[e->lru_next].lru_prev = e->lru_prev;
	e->lru_prev = e->lru_next = IDX_NONE;
	p->count--;
}

/* Finds key; *prevp gets the index linking to it (IDX_NONE if bucket head). */
static uint32_t fdb_find(const struct vsw_fdb *fdb, uint64_t key, uint32_t *prevp)
{
	uint32_t prev = IDX_NONE, i = fdb->buckets[fdb_bucket(fdb, key)];

	while (i != IDX_NONE && fdb->entries[i].key != key) {
		prev = i;
		i = fdb->entries[i].next;
	}
	if (prevp)
		*prevp = prev;
	return i;
}

static void fdb_unlink(struct vsw_fdb *fdb, uint32_t i, uint32_t prev)
{
	struct fdb_entry *e = &fdb->entries[i];

	if (!e->is_static)
		lru_remove(fdb, i);
	if (prev == IDX_NONE)
		fdb->buckets[fdb_bucket(fdb, e->key)] = e->next;
	else
		fdb->entries[prev].next = e->next;
	e->next = fdb->free_head;
	fdb->free_head = i;
	fdb->n_entries--;
	__atomic_add_fetch(&fdb->gen, 1, __ATOMIC_RELAXED);
}

/* Unlinks entry i when its chain predecessor is not known. */
static void fdb_unlink_any(struct vsw_fdb *fdb, uint32_t i)
{
	uint32_t prev;

	fdb_find(fdb, fdb->entries[i].key, &prev);
	fdb_unlink(fdb, i, prev);
}

static uint32_t fdb_insert(struct vsw_fdb *fdb, uint64_t key, uint32_t port_no, uint64_t now,
			   bool is_static)
{
	uint32_t i = fdb->free_head, b;
	struct fdb_entry *e;

	if (i == IDX_NONE)
		return IDX_NONE;
	e = &fdb->entries[i];
	fdb->free_head = e->next;
	b = fdb_bucket(fdb, key);
	e->key = key;
	e->port_no = port_no;
	e->last_seen = now;
	e->is_static = is_static;
	e->next = fdb->buckets[b];
	fdb->buckets[b] = i;
	fdb->n_entries++;
	__atomic_add_fetch(&fdb->gen, 1, __ATOMIC_RELAXED);
	if (!is_static)
		lru_append(fdb, i);
	return i;
}

static unsigned fdb_sweep(struct vsw_fdb *fdb, uint64_t now);

/* Removes the oldest dynamic entry of port_no (which has one): aged if it has
 * expired anyway, else evicted. */
static void evict_oldest(struct vsw_fdb *fdb, uint32_t port_no, uint64_t now)
{
	struct fdb_port *p = &fdb->ports[port_no];
	uint32_t i = p->lru_head;

	if (fdb_expired(fdb, &fdb->entries[i], now)) {
		fdb->counters.aged++;
	} else {
		fdb->counters.evicted++;
		p->st.evicted++;
	}
	fdb_unlink_any(fdb, i);
}

/* The port that gives up an entry when the table is full: the one holding the most
 * dynamic entries, `self` on a tie. VSW_PORT_NONE if there is none (all static). */
static uint32_t full_victim(const struct vsw_fdb *fdb, uint32_t self)
{
	uint32_t best = self < VSW_PORTS_MAX && fdb->ports[self].count ? self : VSW_PORT_NONE;
	uint32_t most = best == VSW_PORT_NONE ? 0 : fdb->ports[self].count;

	for (uint32_t n = 0; n < fdb->port_hwm; n++) {
		if (fdb->ports[n].count > most) {
			most = fdb->ports[n].count;
			best = n;
		}
	}
	return best;
}

/* Makes room for one more dynamic entry on port_no: its limit, then the table.
 * false if the table is full of static entries. */
static bool make_room(struct vsw_fdb *fdb, uint32_t port_no, uint64_t now)
{
	struct fdb_port *p = &fdb->ports[port_no];
	uint32_t victim;

	if (p->count >= port_limit(fdb, p)) {
		p->st.limit_hits++;
		while (p->count >= port_limit(fdb, p))
			evict_oldest(fdb, port_no, now);
	}
	if (fdb->free_head != IDX_NONE)
		return true;
	if (now >= fdb->next_full_sweep) {
		fdb->next_full_sweep = now + FULL_SWEEP_INTERVAL_NS;
		fdb_sweep(fdb, now);
		if (fdb->free_head != IDX_NONE)
			return true;
	}
	victim = full_victim(fdb, port_no);
	if (victim == VSW_PORT_NONE)
		return false;
	evict_oldest(fdb, victim, now);
	return true;
}

static unsigned fdb_sweep(struct vsw_fdb *fdb, uint64_t now)
{
	unsigned removed = 0;

	for (uint32_t b = 0; b <= fdb->bucket_mask; b++) {
		uint32_t prev = IDX_NONE, i = fdb->buckets[b];
		while (i != IDX_NONE) {
			uint32_t next = fdb->entries[i].next;
			if (fdb_expired(fdb, &fdb->entries[i], now)) {
				fdb_unlink(fdb, i, prev);
				removed++;
			} else {
				prev = i;
			}
			i = next;
		}
	}
	fdb->counters.aged += removed;
	return removed;
}

enum vsw_fdb_learn vsw_fdb_learn_locked(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac,
					uint32_t port_no, uint64_t now)
{
	uint64_t key = fdb_key(vlan, mac);
	uint32_t i, prev;
	struct fdb_entry *e;

	if (port_no >= VSW_PORTS_MAX)
		return VSW_FDB_FULL;
	i = fdb_find(fdb, key, &prev);
	if (i != IDX_NONE) {
		e = &fdb->entries[i];
		if (e->is_static)
			return e->port_no == port_no ? VSW_FDB_REFRESHED : VSW_FDB_STATIC_KEPT;
		if (e->port_no == port_no) {
			e->last_seen = now;
			if (fdb->ports[port_no].lru_tail != i) { /* newest again */
				lru_remove(fdb, i);
				lru_append(fdb, i);
			}
			return VSW_FDB_REFRESHED;
		}
		/* a move: the entry becomes a new one of port_no (limit applies there) */
		fdb_unlink(fdb, i, prev);
		if (!make_room(fdb, port_no, now) ||
		    fdb_insert(fdb, key, port_no, now, false) == IDX_NONE) {
			fdb->counters.learn_full++;
			return VSW_FDB_FULL;
		}
		fdb->counters.moves++;
		return VSW_FDB_MOVED;
	}
	if (!make_room(fdb, port_no, now) ||
	    fdb_insert(fdb, key, port_no, now, false) == IDX_NONE) {
		fdb->counters.learn_full++;
		return VSW_FDB_FULL;
	}
	fdb->counters.learned++;
	fdb->ports[port_no].st.learnt++;
	return VSW_FDB_NEW;
}

uint32_t vsw_fdb_lookup_locked(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac, uint64_t now)
{
	uint32_t prev, i = fdb_find(fdb, fdb_key(vlan, mac), &prev);

	if (i == IDX_NONE)
		return VSW_PORT_NONE;
	if (fdb_expired(fdb, &fdb->entries[i], now)) {
		fdb_unlink(fdb, i, prev);
		fdb->counters.aged++;
		return VSW_PORT_NONE;
	}
	return fdb->entries[i].port_no;
}

int vsw_fdb_set_static(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac, uint32_t port_no)
{
	uint64_t key = fdb_key(vlan, mac);
	uint32_t i;
	int rc = 0;

	if (port_no >= VSW_PORTS_MAX)
		return -EINVAL;
	pthread_mutex_lock(&fdb->lock);
	i = fdb_find(fdb, key, NULL);
	if (i != IDX_NONE) {
		if (!fdb->entries[i].is_static)
			lru_remove(fdb, i);
		fdb->entries[i].port_no = port_no;
		fdb->entries[i].is_static = true;
	} else {
		/* the operator's entry beats a learnt one: in a full table, evict as
		 * learning would (never another static entry) */
		if (fdb->free_head == IDX_NONE) {
			uint32_t victim = full_victim(fdb, VSW_PORT_NONE);
			if (victim != VSW_PORT_NONE)
				evict_oldest(fdb, victim, 0);
		}
		if (fdb_insert(fdb, key, port_no, 0, true) == IDX_NONE)
			rc = -ENOSPC;
	}
	pthread_mutex_unlock(&fdb->lock);
	return rc;
}

int vsw_fdb_remove(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac)
{
	uint32_t prev, i;
	int rc = -ENOENT;

	pthread_mutex_lock(&fdb->lock);
	i = fdb_find(fdb, fdb_key(vlan, mac), &prev);
	if (i != IDX_NONE) {
		fdb_unlink(fdb, i, prev);
		rc = 0;
	}
	pthread_mutex_unlock(&fdb->lock);
	return rc;
}

unsigned vsw_fdb_expire(struct vsw_fdb *fdb, uint64_t now)
{
	unsigned n;

	pthread_mutex_lock(&fdb->lock);
	n = fdb_sweep(fdb, now);
	pthread_mutex_unlock(&fdb->lock);
	return n;
}

void vsw_fdb_flush_port(struct vsw_fdb *fdb, uint32_t port_no, bool statics)
{
	pthread_mutex_lock(&fdb->lock);
	for (uint32_t b = 0; b <= fdb->bucket_mask; b++) {
		uint32_t prev = IDX_NONE, i = fdb->buckets[b];
		while (i != IDX_NONE) {
			struct fdb_entry *e = &fdb->entries[i];
			uint32_t next = e->next;
			if ((port_no == VSW_PORT_NONE || e->port_no == port_no) &&
			    (statics || !e->is_static))
				fdb_unlink(fdb, i, prev);
			else
				prev = i;
			i = next;
		}
	}
	pthread_mutex_unlock(&fdb->lock);
}

void vsw_fdb_port_reset(struct vsw_fdb *fdb, uint32_t port_no)
{
	struct fdb_port *p;

	if (port_no >= VSW_PORTS_MAX)
		return;
	pthread_mutex_lock(&fdb->lock);
	p = &fdb->ports[port_no];
	while (p->count) /* normally flushed already */
		fdb_unlink_any(fdb, p->lru_head);
	memset(p, 0, sizeof(*p));
	p->lru_head = p->lru_tail = IDX_NONE;
	pthread_mutex_unlock(&fdb->lock);
}

int vsw_fdb_port_set_limit(struct vsw_fdb *fdb, uint32_t port_no, uint32_t limit, uint64_t now)
{
	struct fdb_port *p;

	if (port_no >= VSW_PORTS_MAX || limit > VSW_FDB_MAX_ENTRIES)
		return -EINVAL;
	pthread_mutex_lock(&fdb->lock);
	p = &fdb->ports[port_no];
	p->limit = limit;
	while (p->count > port_limit(fdb, p))
		evict_oldest(fdb, port_no, now);
	pthread_mutex_unlock(&fdb->lock);
	return 0;
}

int vsw_fdb_set_default_limit(struct vsw_fdb *fdb, uint32_t limit, uint64_t now)
{
	if (limit == 0 || limit > VSW_FDB_MAX_ENTRIES)
		return -EINVAL;
	pthread_mutex_lock(&fdb->lock);
	fdb->port_limit = limit;
	for (uint32_t n = 0; n < fdb->port_hwm; n++)
		while (fdb->ports[n].count > port_limit(fdb, &fdb->ports[n]))
			evict_oldest(fdb, n, now);
	pthread_mutex_unlock(&fdb->lock);
	return 0;
}

uint32_t vsw_fdb_get_default_limit(struct vsw_fdb *fdb)
{
	uint32_t l;

	pthread_mutex_lock(&fdb->lock);
	l = fdb->port_limit;
	pthread_mutex_unlock(&fdb->lock);
	return l;
}

void vsw_fdb_port_get(struct vsw_fdb *fdb, uint32_t port_no, struct vsw_port_fdb_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (port_no >= VSW_PORTS_MAX)
		return;
	pthread_mutex_lock(&fdb->lock);
	*st = fdb->ports[port_no].st;
	st->entries = fdb->ports[port_no].count;
	st->limit = port_limit(fdb, &fdb->ports[port_no]);
	pthread_mutex_unlock(&fdb->lock);
}

uint64_t vsw_fdb_gen_get(struct vsw_fdb *fdb)
{
	return __atomic_load_n(&fdb->gen, __ATOMIC_RELAXED);
}

void vsw_fdb_set_ageing(struct vsw_fdb *fdb, uint64_t ageing_ns)
{
	pthread_mutex_lock(&fdb->lock);
	fdb->ageing_ns = ageing_ns;
	pthread_mutex_unlock(&fdb->lock);
}

uint64_t vsw_fdb_get_ageing(struct vsw_fdb *fdb)
{
	uint64_t v;

	pthread_mutex_lock(&fdb->lock);
	v = fdb->ageing_ns;
	pthread_mutex_unlock(&fdb->lock);
	return v;
}

int vsw_fdb_walk(struct vsw_fdb *fdb, uint64_t now,
		 int (*cb)(const struct vsw_fdb_entry *e, void *arg), void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&fdb->lock);
	for (uint32_t b = 0; b <= fdb->bucket_mask && !rc; b++) {
		for (uint32_t i = fdb->buckets[b]; i != IDX_NONE && !rc; i = fdb->entries[i].next) {
			const struct fdb_entry *e = &fdb->entries[i];
			struct vsw_fdb_entry out;
			if (fdb_expired(fdb, e, now))
				continue;
			for (int k = 0; k < 6; k++)
				out.mac[k] = (uint8_t)(e->key >> (40 - 8 * k));
			out.vlan = (uint16_t)(e->key >> 48);
			out.port_no = e->port_no;
			out.is_static = e->is_static;
			out.age_ns = e->is_static || now < e->last_seen ? 0 : now - e->last_seen;
			rc = cb(&out, arg);
		}
	}
	pthread_mutex_unlock(&fdb->lock);
	return rc;
}

unsigned vsw_fdb_count(struct vsw_fdb *fdb)
{
	unsigned n;

	pthread_mutex_lock(&fdb->lock);
	n = fdb->n_entries;
	pthread_mutex_unlock(&fdb->lock);
	return n;
}

void vsw_fdb_get_counters(struct vsw_fdb *fdb, struct vsw_fdb_counters *c)
{
	pthread_mutex_lock(&fdb->lock);
	*c = fdb->counters;
	pthread_mutex_unlock(&fdb->lock);
}
