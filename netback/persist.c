/* SPDX-License-Identifier: MIT */
/*
 * Persistent grant mappings (feature-persistent, DESIGN §5 "Where the cycles go").
 *
 * A frontend that advertises feature-persistent grants a fixed pool of buffers once
 * and reuses the same refs for the life of the connection. Each ref is mapped into
 * dom0 (gnttab_map_grant_ref, caller 0) the first time a request names it and kept
 * in a table until disconnect, so a packet costs a memcpy instead of a grant op
 * (no compare-and-swap on the guest-shared entry per packet). The hv keeps
 * GTF_reading/GTF_writing set while mapped: the frontend cannot revoke a mapped ref
 * (a frontend that tries just gets its entry pinned until disconnect).
 *
 * The table: open addressing over NB_PMAP_SLOTS slots, at most NB_PMAP_MAX entries
 * (load <= 1/2); when full, or when the map is refused (bad / foreign / read-only /
 * revoked ref), the caller falls back to grant copy, which reports the same error
 * as without the feature. Entries are only added, never removed, while the table
 * lives: one inserter at a time (the TX queue's owner worker, or the RX queue's
 * rx_lock holder), any number of lock-free readers (another vif's RX reading a
 * sender's TX pages). A slot's `va` is written before its key (release), readers
 * load the key with acquire.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/hv.h>
#include <pvnet/log.h>

#include "nb_private.h"

#define NB_PMAP_SLOTS (2 * NB_PMAP_MAX) /* power of two */
_Static_assert((NB_PMAP_SLOTS & (NB_PMAP_SLOTS - 1)) == 0, "slots: power of two");

struct nb_pmap_slot {
	uint32_t key; /* atomic: ref + 1, 0 = empty */
	grant_handle_t handle;
	uint8_t *va;
};

struct nb_pmap {
	struct nb_pmap_hints hints; /* first: nb_pmap_get() reads it inline */
	struct hv *hv;
	domid_t domid;
	bool writable;
	unsigned count;     /* entries (inserter only) */
	uint64_t map_fails; /* refused maps (inserter only) */
	struct nb_pmap_slot slot[NB_PMAP_SLOTS];
};

static inline unsigned pmap_hash(grant_ref_t ref)
{
	return (unsigned)((ref * 2654435761u) >> 7) & (NB_PMAP_SLOTS - 1);
}

int nb_pmap_create(struct hv *hv, domid_t domid, bool writable, struct nb_pmap **out)
{
	struct nb_pmap *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->hv = hv;
	m->domid = domid;
	m->writable = writable;
	*out = m;
	return 0;
}

void nb_pmap_destroy(struct nb_pmap *m)
{
	struct gnttab_unmap_grant_ref ops[64];
	unsigned n = 0;

	if (!m)
		return;
	for (unsigned i = 0; i < NB_PMAP_SLOTS; i++) {
		if (!m->slot[i].key)
			continue;
		ops[n++] = (struct gnttab_unmap_grant_ref){.handle = m->slot[i].handle};
		if (n == 64) {
			gnttab_unmap_grant_ref(m->hv, 0, ops, n);
			n = 0;
		}
	}
	if (n)
		gnttab_unmap_grant_ref(m->hv, 0, ops, n);
	free(m);
}

uint8_t *nb_pmap_lookup(const struct nb_pmap *m, grant_ref_t ref)
{
	uint32_t key = ref + 1;

	if (!m || !key)
		return NULL;
	for (unsigned h = pmap_hash(ref);; h = (h + 1) & (NB_PMAP_SLOTS - 1)) {
		/* acquire: the slot's va was written before its key */
		uint32_t k = __atomic_load_n(&m->slot[h].key, __ATOMIC_ACQUIRE);
		if (k == key)
			return m->slot[h].va;
		if (!k)
			return NULL; /* load <= 1/2: an empty slot ends every probe */
	}
}

/* The inserter's cache (nb_private.h): the last va seen for a ref at its index. */
static uint8_t *hint_set(struct nb_pmap *m, uint32_t key, uint8_t *va)
{
	unsigned i = (key - 1) & (NB_PMAP_HINTS - 1);

	m->hints.e[i].key = key;
	m->hints.e[i].va = va;
	return va;
}

uint8_t *nb_pmap_get_slow(struct nb_pmap *m, grant_ref_t ref)
{
	uint32_t key = ref + 1;
	struct gnttab_map_grant_ref op;
	unsigned h;

	if (!m || !key)
		return NULL;
	for (h = pmap_hash(ref);; h = (h + 1) & (NB_PMAP_SLOTS - 1)) {
		uint32_t k = m->slot[h].key; /* the inserter reads its own writes */
		if (k == key)
			return hint_set(m, key, m->slot[h].va);
		if (!k)
			break;
	}
	if (m->count >= NB_PMAP_MAX)
		return NULL;
	op = (struct gnttab_map_grant_ref){
		.flags = GNTMAP_host_map | (m->writable ? 0 : GNTMAP_readonly),
		.ref = ref,
		.dom = m->domid,
	};
	if (gnttab_map_grant_ref(m->hv, 0, &op, 1) < 0 || op.status != GNTST_okay) {
		m->map_fails++;
		PVLOG_RL(DEBUG, NB_MOD, "dom%u: persistent map of ref %u refused: %s", m->domid,
			 ref, gnttab_strstatus(op.status));
		return NULL;
	}
	m->slot[h].handle = op.handle;
	m->slot[h].va = (uint8_t *)(uintptr_t)op.host_addr;
	/* release: handle and va before the key that publishes them */
	__atomic_store_n(&m->slot[h].key, key, __ATOMIC_RELEASE);
	m->count++;
	return hint_set(m, key, m->slot[h].va);
}
