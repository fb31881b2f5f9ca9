/* SPDX-License-Identifier: MIT */
/*
 * hv/gnttab.c - grant tables v1: map/unmap, copy, transfer, and the granter
 * side helpers.
 *
 * Pinning an entry follows Xen's _set_status_v1: the flags, domid and frame of
 * the shared entry are read once into locals; the copy is validated; the
 * GTF_reading / GTF_writing bits are added to the SHARED flags with a
 * compare-and-swap that fails if the granter changed the flags meanwhile
 * (retried at most 5 times, then GNTST_general_error). The frame read at the
 * first pin is the one used until the last unpin, whatever the granter writes
 * into the entry later. Pin counts live in the granter's private active table
 * (under its grant_lock), so the shared bits clear only with the last pin.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>

#include "hv_private.h"

#define PIN_RETRIES 5

/* ---------------------------------------------------------------- pinning */

/*
 * Adds `add` (GTF_reading and maybe GTF_writing) to entry e on behalf of
 * `user`. On success *frame is the entry's frame as read at that moment.
 */
static int16_t set_status(struct grant_entry_v1 *e, domid_t user, bool readonly, bool is_map,
			  uint32_t *frame)
{
	uint16_t add = readonly ? GTF_reading : (GTF_reading | GTF_writing);
	uint16_t bad = is_map ? (GTF_type_mask | GTF_sub_page) : GTF_type_mask;
	uint16_t flags;
	domid_t domid;
	int tries;

	for (tries = 0; tries < PIN_RETRIES; tries++) {
		/* acquire: domid and frame were published before flags (wmb in the granter). */
		flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
		domid = __atomic_load_n(&e->domid, __ATOMIC_RELAXED);
		if ((flags & bad) != GTF_permit_access || domid != user)
			return GNTST_permission_denied;
		if (!readonly && (flags & GTF_readonly))
			return GNTST_permission_denied;
		/* acq_rel: our later accesses to the frame stay after the pin is visible. */
		if (__atomic_compare_exchange_n(&e->flags, &flags, (uint16_t)(flags | add), false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*frame = __atomic_load_n(&e->frame, __ATOMIC_RELAXED);
			return GNTST_okay;
		}
	}
	return GNTST_general_error;
}

/*
 * Clears bits from the shared flags. An atomic fetch-and is the lock-free
 * form of the CAS loop: unlike a CAS loop it cannot be starved by a granter
 * that keeps rewriting the word. release: our accesses to the frame are done
 * before the granter can see the bit go.
 */
static void clear_status(struct grant_entry_v1 *e, uint16_t bits)
{
	__atomic_fetch_and(&e->flags, (uint16_t)~bits, __ATOMIC_RELEASE);
}

/* Pins entry `ref` of granter g for `user`. Caller holds g->grant_lock. */
static int16_t grant_pin(struct hv_domain *g, grant_ref_t ref, domid_t user, bool readonly,
			 bool is_map, uint32_t *frame)
{
	struct grant_entry_v1 *e;
	struct hv_active *act;
	uint32_t f;
	int16_t st;

	if (ref >= g->nr_grant_entries)
		return GNTST_bad_gntref;
	e = &g->gnt[ref];
	act = &g->active[ref];
	if (act->pins == 0) {
		st = set_status(e, user, readonly, is_map, &f);
		if (st != GNTST_okay)
			return st;
		if (!hv_frame_populated(g, f)) {
			clear_status(e, readonly ? GTF_reading : (GTF_reading | GTF_writing));
			return GNTST_bad_page;
		}
		act->frame = f;
		act->domid = user;
		g->frame_pins[f]++;
	} else {
		if (act->domid != user)
			return GNTST_permission_denied;
		if (!readonly && act->wr_pins == 0) {
			/* First writer on a read-pinned entry: re-validate, add GTF_writing. */
			st = set_status(e, user, false, is_map, &f);
			if (st != GNTST_okay)
				return st;
		}
	}
	act->pins++;
	if (!readonly)
		act->wr_pins++;
	*frame = act->frame;
	return GNTST_okay;
}

static void grant_unpin(struct hv_domain *g, grant_ref_t ref, bool readonly)
{
	struct hv_active *act = &g->active[ref];
	uint16_t bits = 0;

	if (!readonly && --act->wr_pins == 0)
		bits |= GTF_writing;
	if (--act->pins == 0) {
		bits |= GTF_reading | GTF_writing;
		g->frame_pins[act->frame]--;
	}
	if (bits)
		clear_status(&g->gnt[ref], bits);
}

/* ------------------------------------------------------------ map / unmap */

static int16_t maptrack_alloc(struct hv_domain *d, uint32_t *handle)
{
	uint32_t h;

	if (d->mt_free == HV_MT_NONE) {
		uint32_t nsize, i;
		struct hv_maptrack *nmt;

		if (d->mt_size >= d->mt_limit)
			return GNTST_no_space;
		nsize = d->mt_size ? d->mt_size * 2 : 64;
		if (nsize > d->mt_limit)
			nsize = d->mt_limit;
		nmt = realloc(d->mt, (size_t)nsize * sizeof(*nmt));
		if (!nmt)
			return GNTST_no_space;
		memset(nmt + d->mt_size, 0, (size_t)(nsize - d->mt_size) * sizeof(*nmt));
		for (i = nsize; i-- > d->mt_size;) {
			nmt[i].next_free = d->mt_free;
			d->mt_free = i;
		}
		d->mt = nmt;
		d->mt_size = nsize;
	}
	if (d->mt_used >= d->mt_limit)
		return GNTST_no_space;
	h = d->mt_free;
	d->mt_free = d->mt[h].next_free;
	d->mt[h].in_use = true;
	d->mt_used++;
	*handle = h;
	return GNTST_okay;
}

static void maptrack_free(struct hv_domain *d, uint32_t h)
{
	memset(&d->mt[h], 0, sizeof(d->mt[h]));
	d->mt[h].next_free = d->mt_free;
	d->mt_free = h;
	d->mt_used--;
}

/* Undoes mapping h of d. Caller holds d->maptrack_lock. */
static void map_release_locked(struct hv_domain *d, uint32_t h)
{
	struct hv_domain *g = d->mt[h].granter;

	pthread_mutex_lock(&g->grant_lock);
	grant_unpin(g, d->mt[h].ref, d->mt[h].readonly);
	pthread_mutex_unlock(&g->grant_lock);
	maptrack_free(d, h);
	hv_domain_put(g);
}

static void map_one(struct hv *hv, struct hv_domain *md, struct gnttab_map_grant_ref *op)
{
	bool ro = op->flags & GNTMAP_readonly;
	struct hv_domain *g;
	domid_t dom = op->dom == DOMID_SELF ? md->domid : op->dom;
	uint32_t h, frame;
	int16_t st;

	op->handle = 0;
	op->dev_bus_addr = 0;
	if (!(op->flags & GNTMAP_host_map)) {
		op->status = GNTST_general_error; /* only host mappings exist here */
		return;
	}
	g = hv_domain_get(hv, dom);
	if (!g) {
		op->status = GNTST_bad_domain;
		return;
	}
	pthread_mutex_lock(&md->maptrack_lock);
	st = md->mt_closed ? GNTST_general_error : maptrack_alloc(md, &h);
	if (st != GNTST_okay)
		goto unlock;
	pthread_mutex_lock(&g->grant_lock);
	st = grant_pin(g, op->ref, md->domid, ro, true, &frame);
	pthread_mutex_unlock(&g->grant_lock);
	if (st != GNTST_okay) {
		maptrack_free(md, h);
		goto unlock;
	}
	md->mt[h].granter = g; /* keeps our reference */
	md->mt[h].ref = op->ref;
	md->mt[h].readonly = ro;
	md->mt[h].addr = g->mem + (size_t)frame * HV_PAGE_SIZE;
	op->host_addr = (uint64_t)(uintptr_t)md->mt[h].addr;
	op->handle = h;
	g = NULL;
unlock:
	pthread_mutex_unlock(&md->maptrack_lock);
	hv_domain_put(g);
	op->status = st;
}

int gnttab_map_grant_ref(struct hv *hv, domid_t caller, struct gnttab_map_grant_ref *ops,
			 unsigned count)
{
	struct hv_domain *md = hv_domain_get(hv, caller);
	unsigned i;

	if (!md)
		return -ESRCH;
	for (i = 0; i < count; i++)
		map_one(hv, md, &ops[i]);
	hv_domain_put(md);
	return 0;
}

int gnttab_unmap_grant_ref(struct hv *hv, domid_t caller, struct gnttab_unmap_grant_ref *ops,
			   unsigned count)
{
	struct hv_domain *md = hv_domain_get(hv, caller);
	unsigned i;

	if (!md)
		return -ESRCH;
	pthread_mutex_lock(&md->maptrack_lock);
	for (i = 0; i < count; i++) {
		struct gnttab_unmap_grant_ref *op = &ops[i];
		uint32_t h = op->handle;

		if (h >= md->mt_size || !md->mt[h].in_use || !md->mt[h].granter) {
			op->status = GNTST_bad_handle;
			continue;
		}
		if (op->host_addr && op->host_addr != (uint64_t)(uintptr_t)md->mt[h].addr) {
			op->status = GNTST_bad_virt_addr;
			continue;
		}
		map_release_locked(md, h);
		op->status = GNTST_okay;
	}
	pthread_mutex_unlock(&md->maptrack_lock);
	hv_domain_put(md);
	return 0;
}

void hv_gnttab_release_maps(struct hv_domain *d)
{
	uint32_t h;

	pthread_mutex_lock(&d->maptrack_lock);
	d->mt_closed = true;
	for (h = 0; h < d->mt_size; h++)
		if (d->mt[h].in_use && d->mt[h].granter)
			map_release_locked(d, h);
	pthread_mutex_unlock(&d->maptrack_lock);
}

/* ------------------------------------------------------------------- copy */

/* One cached domain reference per side of a batch: consecutive ops on the
 * same domain do not touch the domain table again. */
struct dom_cache {
	struct hv_domain *d;
};

static struct hv_domain *cache_get(struct hv *hv, struct dom_cache *c, domid_t domid)
{
	if (c->d && c->d->domid == domid)
		return c->d;
	hv_domain_put(c->d);
	c->d = hv_domain_get(hv, domid);
	return c->d;
}

/* A resolved side of a copy. */
struct copy_side {
	struct hv_domain *d; /* NULL for a dom0 virtual address */
	bool gref;
	bool readonly;
	grant_ref_t ref;
	uint32_t frame;
	uint8_t *ptr;
};

static int16_t side_acquire(struct hv *hv, domid_t caller, const struct gnttab_copy_ptr *p,
			    bool is_gref, bool is_va, bool readonly, uint16_t len,
			    struct dom_cache *c, struct copy_side *s)
{
	struct hv_domain *d;
	int16_t st = GNTST_okay;

	memset(s, 0, sizeof(*s));
	if (is_va) {
		s->ptr = (uint8_t *)(uintptr_t)p->u.gmfn;
		return s->ptr ? GNTST_okay : GNTST_bad_virt_addr;
	}
	d = cache_get(hv, c, is_gref ? (p->domid == DOMID_SELF ? caller : p->domid) : caller);
	if (!d)
		return GNTST_bad_domain;
	pthread_mutex_lock(&d->grant_lock);
	if (is_gref) {
		st = grant_pin(d, p->u.ref, caller, readonly, false, &s->frame);
		s->ref = p->u.ref;
	} else if (!hv_frame_populated(d, p->u.gmfn)) {
		st = GNTST_bad_page;
	} else {
		s->frame = (uint32_t)p->u.gmfn;
		d->frame_pins[s->frame]++; /* keeps the frame from being given away mid-copy */
	}
	pthread_mutex_unlock(&d->grant_lock);
	if (st != GNTST_okay)
		return st;
	(void)len;
	s->d = d;
	s->gref = is_gref;
	s->readonly = readonly;
	s->ptr = d->mem + (size_t)s->frame * HV_PAGE_SIZE + p->offset;
	return GNTST_okay;
}

static void side_release(struct copy_side *s)
{
	struct hv_domain *d = s->d;

	if (!d)
		return;
	pthread_mutex_lock(&d->grant_lock);
	if (s->gref)
		grant_unpin(d, s->ref, s->readonly);
	else
		d->frame_pins[s->frame]--;
	pthread_mutex_unlock(&d->grant_lock);
	s->d = NULL;
}

static int16_t copy_one(struct hv *hv, domid_t caller, const struct gnttab_copy *op,
			struct dom_cache *sc, struct dom_cache *dc)
{
	uint16_t fl = op->flags;
	bool s_gref = fl & GNTCOPY_source_gref, d_gref = fl & GNTCOPY_dest_gref;
	bool s_va = fl & GNTCOPY_source_va, d_va = fl & GNTCOPY_dest_va;
	struct copy_side src, dst;
	int16_t st;

	if (caller != 0 && (s_va || d_va))
		return GNTST_permission_denied;
	if ((s_va && s_gref) || (d_va && d_gref))
		return GNTST_general_error;
	/* A raw frame may only be one of the caller's own. */
	if (!s_gref && !s_va && op->source.domid != DOMID_SELF && op->source.domid != caller)
		return GNTST_permission_denied;
	if (!d_gref && !d_va && op->dest.domid != DOMID_SELF && op->dest.domid != caller)
		return GNTST_permission_denied;
	if (op->len > HV_PAGE_SIZE)
		return GNTST_bad_copy_arg;
	if (!s_va && op->source.offset + op->len > HV_PAGE_SIZE)
		return GNTST_bad_copy_arg;
	if (!d_va && op->dest.offset + op->len > HV_PAGE_SIZE)
		return GNTST_bad_copy_arg;
	if (op->len == 0)
		return GNTST_okay;

	st = side_acquire(hv, caller, &op->source, s_gref, s_va, true, op->len, sc, &src);
	if (st != GNTST_okay)
		return st;
	st = side_acquire(hv, caller, &op->dest, d_gref, d_va, false, op->len, dc, &dst);
	if (st == GNTST_okay)
		memmove(dst.ptr, src.ptr, op->len); /* source and dest may be one frame */
	side_release(&dst);
	side_release(&src);
	return st;
}

int gnttab_copy(struct hv *hv, domid_t caller, struct gnttab_copy *ops, unsigned count)
{
	struct dom_cache sc = {NULL}, dc = {NULL};
	unsigned i;

	for (i = 0; i < count; i++) {
		ops[i].status = copy_one(hv, caller, &ops[i], &sc, &dc);
		if (ops[i].status != GNTST_okay)
			PVLOG_RL(DEBUG, "gnttab", "dom%u copy #%u: %s", caller, i,
				 gnttab_strstatus(ops[i].status));
	}
	hv_domain_put(sc.d);
	hv_domain_put(dc.d);
	return 0;
}

/* --------------------------------------------------------------- transfer */

/*
 * Claims entry `ref` of receiver r (accept_transfer, granted to `from`, not
 * yet committed, naming an unpopulated frame slot) by adding
 * GTF_transfer_committed. Caller holds r->grant_lock.
 */
static int16_t transfer_claim(struct hv_domain *r, grant_ref_t ref, domid_t from, uint32_t *slot)
{
	struct grant_entry_v1 *e;
	uint16_t flags;
	uint32_t frame;
	int tries;

	if (ref >= r->nr_grant_entries)
		return GNTST_bad_gntref;
	e = &r->gnt[ref];
	for (tries = 0; tries < PIN_RETRIES; tries++) {
		flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
		if ((flags & GTF_type_mask) != GTF_accept_transfer ||
		    (flags & (GTF_transfer_committed | GTF_transfer_completed)) ||
		    __atomic_load_n(&e->domid, __ATOMIC_RELAXED) != from)
			return GNTST_permission_denied;
		frame = __atomic_load_n(&e->frame, __ATOMIC_RELAXED);
		/* Not bad_page: that status promises the sender kept its frame. */
		if (frame >= r->nr_frames || hv_frame_populated(r, frame) || r->frame_pins[frame])
			return GNTST_general_error;
		if (__atomic_compare_exchange_n(&e->flags, &flags,
						(uint16_t)(flags | GTF_transfer_committed), false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*slot = frame;
			return GNTST_okay;
		}
	}
	return GNTST_general_error;
}

static int16_t transfer_one(struct hv *hv, struct hv_domain *sd, struct gnttab_transfer *op,
			    uint8_t *buf)
{
	struct hv_domain *r;
	uint32_t slot;
	int16_t st;

	/* Steal the frame: only bad_page leaves it with the sender. */
	pthread_mutex_lock(&sd->grant_lock);
	if (!hv_frame_populated(sd, op->mfn) || sd->frame_pins[op->mfn]) {
		pthread_mutex_unlock(&sd->grant_lock);
		return GNTST_bad_page;
	}
	memcpy(buf, sd->mem + (size_t)op->mfn * HV_PAGE_SIZE, HV_PAGE_SIZE);
	hv_frame_unpopulate(sd, op->mfn);
	pthread_mutex_unlock(&sd->grant_lock);

	r = hv_domain_get(hv, op->domid == DOMID_SELF ? sd->domid : op->domid);
	if (!r)
		return GNTST_bad_domain;
	pthread_mutex_lock(&r->grant_lock);
	st = transfer_claim(r, op->ref, sd->domid, &slot);
	if (st == GNTST_okay) {
		memcpy(r->mem + (size_t)slot * HV_PAGE_SIZE, buf, HV_PAGE_SIZE);
		hv_frame_set_populated(r, slot, true);
		/* release: the frame's contents are visible before "completed". */
		__atomic_fetch_or(&r->gnt[op->ref].flags, (uint16_t)GTF_transfer_completed,
				  __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&r->grant_lock);
	hv_domain_put(r);
	return st;
}

int gnttab_transfer(struct hv *hv, domid_t caller, struct gnttab_transfer *ops, unsigned count)
{
	struct hv_domain *sd = hv_domain_get(hv, caller);
	uint8_t *buf;
	unsigned i;
	int ret = 0;

	if (!sd)
		return -ESRCH;
	buf = malloc(HV_PAGE_SIZE);
	if (!buf) {
		ret = -ENOMEM;
		goto put;
	}
	for (i = 0; i < count; i++)
		ops[i].status = transfer_one(hv, sd, &ops[i], buf);
	free(buf);
put:
	hv_domain_put(sd);
	return ret;
}

/* ------------------------------------------------------------ granter side */

void gnttab_grant_access(struct grant_entry_v1 *table, grant_ref_t ref, domid_t domid,
			 uint32_t frame, bool readonly)
{
	struct grant_entry_v1 *e = &table[ref];

	e->domid = domid;
	e->frame = frame;
	/* wmb: domid and frame are visible before the entry becomes valid. */
	__atomic_store_n(&e->flags, (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0)),
			 __ATOMIC_RELEASE);
}

void gnttab_grant_transfer(struct grant_entry_v1 *table, grant_ref_t ref, domid_t domid,
			   uint32_t frame)
{
	struct grant_entry_v1 *e = &table[ref];

	e->domid = domid;
	e->frame = frame;
	/* wmb: as above. */
	__atomic_store_n(&e->flags, (uint16_t)GTF_accept_transfer, __ATOMIC_RELEASE);
}

int gnttab_end_access(struct grant_entry_v1 *table, grant_ref_t ref)
{
	struct grant_entry_v1 *e = &table[ref];
	uint16_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

	do {
		if (flags & (GTF_reading | GTF_writing))
			return -EBUSY;
	} while (!__atomic_compare_exchange_n(&e->flags, &flags, 0, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return 0;
}
