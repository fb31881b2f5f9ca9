/* SPDX-License-Identifier: MIT */
/*
 * The MAC table: (VLAN, MAC) -> port, with ageing, a size limit and static entries.
 *
 * Entries are preallocated (max_entries) and chained by 32-bit index from a
 * power-of-two bucket array (load factor <= 1); free entries sit on a free list. No
 * allocation after create. One mutex guards everything; the data path holds it for
 * a whole batch (see vswitch.h "Concurrency").
 *
 * Ageing is lazy: an entry older than ageing_ns is treated as absent by look-ups and
 * reclaimed when met; vsw_fdb_expire() sweeps the table. When the table is full,
 * learning sweeps expired entries at most once per second before giving up.
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
	uint32_t next;      /* chain or free list */
	bool is_static;
};

struct vsw_fdb {
	pthread_mutex_t lock;
	unsigned max_entries;
	unsigned n_entries;
	uint64_t ageing_ns;
	uint32_t bucket_mask;
	uint32_t free_head;
	uint64_t next_full_sweep;
	uint32_t *buckets;
	struct fdb_entry *entries;
	struct vsw_fdb_counters counters;
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
	for (unsigned i = 0; i < max_entries; i++)
		fdb->entries[i].next = i + 1 < max_entries ? i + 1 : IDX_NONE;
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

	if (prev == IDX_NONE)
		fdb->buckets[fdb_bucket(fdb, e->key)] = e->next;
	else
		fdb->entries[prev].next = e->next;
	e->next = fdb->free_head;
	fdb->free_head = i;
	fdb->n_entries--;
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
	return i;
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
	uint32_t i = fdb_find(fdb, key, NULL);
	struct fdb_entry *e;

	if (i != IDX_NONE) {
		e = &fdb->entries[i];
		if (e->is_static)
			return e->port_no == port_no ? VSW_FDB_REFRESHED : VSW_FDB_STATIC_KEPT;
		e->last_seen = now;
		if (e->port_no == port_no)
			return VSW_FDB_REFRESHED;
		e->port_no = port_no;
		fdb->counters.moves++;
		return VSW_FDB_MOVED;
	}
	if (fdb->free_head == IDX_NONE && now >= fdb->next_full_sweep) {
		fdb->next_full_sweep = now + FULL_SWEEP_INTERVAL_NS;
		fdb_sweep(fdb, now);
	}
	if (fdb_insert(fdb, key, port_no, now, false) == IDX_NONE) {
		fdb->counters.learn_full++;
		return VSW_FDB_FULL;
	}
	fdb->counters.learned++;
	return VSW_FDB_NEW;
}

uint32_t vsw_fdb_lookup_locked(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac,
			       uint64_t now)
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

	pthread_mutex_lock(&fdb->lock);
	i = fdb_find(fdb, key, NULL);
	if (i != IDX_NONE) {
		fdb->entries[i].port_no = port_no;
		fdb->entries[i].is_static = true;
	} else if (fdb_insert(fdb, key, port_no, 0, true) == IDX_NONE) {
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
