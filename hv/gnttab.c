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

	if (!readonly && g->ld)
		hv_logdirty_mark(g, act->frame); /* dom0 wrote into the guest: log-dirty */
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

/* Which grant_lock is held during a pass: at most one. */
struct lock_run {
	struct hv_domain *held;
};

static void run_lock(struct lock_run *r, struct hv_domain *d)
{
	if (r->held == d)
		return;
	if (r->held)
		pthread_mutex_unlock(&r->held->grant_lock);
	pthread_mutex_lock(&d->grant_lock);
	r->held = d;
}

static void run_unlock(struct lock_run *r)
{
	if (r->held)
		pthread_mutex_unlock(&r->held->grant_lock);
	r->held = NULL;
}


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
	g->nr_mapped--;
	pthread_mutex_unlock(&g->grant_lock);
	maptrack_free(d, h);
	hv_domain_put(g);
}

/*
 * Map and unmap hold the mapper's maptrack_lock for the whole batch and a
 * granter's grant_lock once per run of consecutive ops naming that granter
 * (the order maptrack_lock -> grant_lock of hv_private.h); domains are looked
 * up once per batch through a small cache.
 */
#define MAP_CACHE_MAX 8

struct map_cache {
	unsigned n;
	struct hv_domain *d[MAP_CACHE_MAX];
};

static struct hv_domain *map_cache_get(struct hv *hv, struct map_cache *c, domid_t domid)
{
	struct hv_domain *d;
	unsigned i;

	for (i = 0; i < c->n; i++)
		if (c->d[i]->domid == domid)
			return c->d[i];
	d = hv_domain_get(hv, domid);
	if (!d)
		return NULL;
	if (c->n == MAP_CACHE_MAX) /* the oldest is in no op of this batch any more */
		hv_domain_put(c->d[--c->n]);
	memmove(c->d + 1, c->d, c->n * sizeof(c->d[0]));
	c->d[0] = d;
	c->n++;
	return d;
}

static int16_t map_one(struct hv *hv, struct hv_domain *md, struct map_cache *c, struct lock_run *r,
		       struct gnttab_map_grant_ref *op)
{
	bool ro = op->flags & GNTMAP_readonly;
	struct hv_domain *g;
	domid_t dom = op->dom == DOMID_SELF ? md->domid : op->dom;
	uint32_t h, frame;
	int16_t st;

	op->handle = 0;
	op->dev_bus_addr = 0;
	if (!(op->flags & GNTMAP_host_map))
		return GNTST_general_error; /* only host mappings exist here */
	/* The grant_lock held for the previous op is released before a lookup. */
	g = r->held && r->held->domid == dom ? r->held : NULL;
	if (!g) {
		run_unlock(r);
		g = map_cache_get(hv, c, dom);
	}
	if (!g)
		return GNTST_bad_domain;
	st = md->mt_closed ? GNTST_general_error : maptrack_alloc(md, &h);
	if (st != GNTST_okay)
		return st;
	run_lock(r, g);
	/* The granter's cap: whoever maps, one guest's grants never take more than
	 * their share of dom0's mappings (the table every vif needs). */
	if (g->domid != 0 && g->nr_mapped >= hv_limit_of(hv, HV_LIMIT_GNT_MAPS)) {
		g->maps_refused++;
		hv_note_refusal(hv, HV_LIMIT_GNT_MAPS);
		PVLOG_RL(INFO, "gnttab", "dom%u: %u of its grants mapped, limit reached", g->domid,
			 g->nr_mapped);
		maptrack_free(md, h);
		return GNTST_no_space;
	}
	st = grant_pin(g, op->ref, md->domid, ro, true, &frame);
	if (st != GNTST_okay) {
		maptrack_free(md, h);
		return st;
	}
	g->nr_mapped++;
	hv_domain_ref(g); /* the mapping's own reference; the cache holds one already */
	md->mt[h].granter = g;
	md->mt[h].ref = op->ref;
	md->mt[h].readonly = ro;
	md->mt[h].addr = g->mem + (size_t)frame * HV_PAGE_SIZE;
	op->host_addr = (uint64_t)(uintptr_t)md->mt[h].addr;
	op->handle = h;
	return GNTST_okay;
}

int gnttab_map_grant_ref(struct hv *hv, domid_t caller, struct gnttab_map_grant_ref *ops,
			 unsigned count)
{
	struct hv_domain *md = hv_domain_get(hv, caller);
	struct map_cache c = {0};
	struct lock_run r = {NULL};
	unsigned i;

	if (!md)
		return -ESRCH;
	pthread_mutex_lock(&md->maptrack_lock);
	for (i = 0; i < count; i++)
		ops[i].status = map_one(hv, md, &c, &r, &ops[i]);
	run_unlock(&r);
	pthread_mutex_unlock(&md->maptrack_lock);
	while (c.n)
		hv_domain_put(c.d[--c.n]);
	hv_domain_put(md);
	return 0;
}

int gnttab_unmap_grant_ref(struct hv *hv, domid_t caller, struct gnttab_unmap_grant_ref *ops,
			   unsigned count)
{
	struct hv_domain *md = hv_domain_get(hv, caller);
	struct lock_run r = {NULL};
	unsigned i, puts = 0;

	if (!md)
		return -ESRCH;
	pthread_mutex_lock(&md->maptrack_lock);
	for (i = 0; i < count; i++) {
		struct gnttab_unmap_grant_ref *op = &ops[i];
		uint32_t h = op->handle;
		struct hv_domain *g;

		if (h >= md->mt_size || !md->mt[h].in_use || !md->mt[h].granter) {
			op->status = GNTST_bad_handle;
			continue;
		}
		if (op->host_addr && op->host_addr != (uint64_t)(uintptr_t)md->mt[h].addr) {
			op->status = GNTST_bad_virt_addr;
			continue;
		}
		g = md->mt[h].granter;
		if (r.held != g) {
			/* The mappings' references on the previous granter go after its
			 * lock: the last one may free it. */
			struct hv_domain *prev = r.held;
			run_unlock(&r);
			hv_domain_put_n(prev, puts);
			puts = 0;
			run_lock(&r, g);
		}
		grant_unpin(g, md->mt[h].ref, md->mt[h].readonly);
		g->nr_mapped--;
		maptrack_free(md, h);
		puts++;
		op->status = GNTST_okay;
	}
	{
		struct hv_domain *prev = r.held;
		run_unlock(&r);
		hv_domain_put_n(prev, puts);
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

/*
 * A batch is processed in chunks of COPY_CHUNK ops, each in passes:
 *   1. validate the arguments and resolve domains (no lock);
 *   2. pin every source side, then every destination side: a granter's
 *      grant_lock is taken once per run of consecutive sides naming that
 *      granter, and a side naming the same (domain, ref or frame, access) as
 *      the side before it shares its pin (as Xen reuses the acquired buffer);
 *   3. copy, with no lock held;
 *   4. drop the pins, again one lock per run of the same granter.
 * At most one grant_lock is held at any time, so runs never deadlock. A
 * side's pin lasts from pass 2 to pass 4 of its chunk; every op still sees
 * the entry validated once and the frame read at its (first) pin, and the
 * statuses are those of op-by-op processing: a destination is only looked at
 * when its source was acquired.
 */
#define COPY_CHUNK 64
#define COPY_PENDING INT16_MAX /* not a GNTST code: still in progress */
#define DOM_CACHE_KEEP 8       /* entries kept across chunks */
#define DOM_CACHE_MAX (2 * COPY_CHUNK + DOM_CACHE_KEEP)

/* The domains a batch touched, each with one reference, looked up once. */
struct dom_cache {
	unsigned n;
	struct hv_domain *d[DOM_CACHE_MAX];
};

static struct hv_domain *cache_get(struct hv *hv, struct dom_cache *c, domid_t domid)
{
	struct hv_domain *d;
	unsigned i;

	for (i = 0; i < c->n; i++)
		if (c->d[i]->domid == domid)
			return c->d[i];
	/* Room is guaranteed: a chunk adds at most 2 * COPY_CHUNK entries to at
	 * most DOM_CACHE_KEEP kept from the chunks before. */
	d = hv_domain_get(hv, domid);
	if (d)
		c->d[c->n++] = d;
	return d;
}

static void cache_flush(struct dom_cache *c)
{
	while (c->n)
		hv_domain_put(c->d[--c->n]);
}

enum side_kind { SIDE_VA, SIDE_GREF, SIDE_GMFN };

/* A resolved side of a copy. */
struct copy_side {
	struct hv_domain *d; /* granter / owner; NULL for a va or an unknown domain */
	uint8_t *ptr;        /* start of the bytes to copy, once pinned */
	uint64_t idx;        /* gref: ref; gmfn: frame number; va: the address */
	uint32_t frame;      /* once pinned */
	uint16_t offset;
	uint8_t kind;  /* enum side_kind */
	bool readonly; /* source sides */
	bool owns;     /* holds a pin of its own (not shared with the previous op's) */
};

struct copy_job {
	struct copy_side side[2]; /* source, dest */
	int16_t st;
};

/* Checks op's arguments (Xen's order) and fills its sides; no lock, no pin. */
static int16_t copy_prepare(struct hv *hv, domid_t caller, const struct gnttab_copy *op,
			    struct dom_cache *c, struct copy_job *j)
{
	uint16_t fl = op->flags;
	bool s_gref = fl & GNTCOPY_source_gref, d_gref = fl & GNTCOPY_dest_gref;
	bool s_va = fl & GNTCOPY_source_va, d_va = fl & GNTCOPY_dest_va;
	const struct gnttab_copy_ptr *p;
	unsigned k;

	j->side[0].owns = j->side[1].owns = false;
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

	for (k = 0; k < 2; k++) {
		struct copy_side *s = &j->side[k];
		bool gref = k ? d_gref : s_gref, va = k ? d_va : s_va;

		p = k ? &op->dest : &op->source;
		s->d = NULL;
		s->ptr = NULL;
		s->readonly = k == 0;
		s->offset = p->offset;
		if (va) {
			s->kind = SIDE_VA;
			s->idx = p->u.gmfn;
			continue;
		}
		s->kind = gref ? SIDE_GREF : SIDE_GMFN;
		s->idx = gref ? p->u.ref : p->u.gmfn;
		/* An unknown domain is reported when this side's turn comes. */
		s->d = cache_get(hv, c,
				 gref ? (p->domid == DOMID_SELF ? caller : p->domid) : caller);
	}
	return COPY_PENDING;
}

static bool side_same(const struct copy_side *a, const struct copy_side *b)
{
	return a->d == b->d && a->kind == b->kind && a->idx == b->idx && a->readonly == b->readonly;
}

/*
 * Pins side s (its domain's lock is held through r), or shares the pin of
 * `prev`, the same side of the previous op, when that names the same thing
 * and holds a pin.
 */
static int16_t side_pin(domid_t caller, struct lock_run *r, struct copy_side *s,
			const struct copy_side *prev)
{
	struct hv_domain *d = s->d;
	int16_t st;

	if (s->kind == SIDE_VA) {
		s->ptr = (uint8_t *)(uintptr_t)s->idx;
		return s->ptr ? GNTST_okay : GNTST_bad_virt_addr;
	}
	if (!d)
		return GNTST_bad_domain;
	if (prev && prev->ptr && side_same(s, prev)) {
		s->frame = prev->frame; /* Xen: consecutive ops reuse the acquired buffer */
	} else {
		run_lock(r, d);
		if (s->kind == SIDE_GREF) {
			st = grant_pin(d, (grant_ref_t)s->idx, caller, s->readonly, false,
				       &s->frame);
			if (st != GNTST_okay)
				return st;
		} else {
			if (!hv_frame_populated(d, s->idx))
				return GNTST_bad_page;
			s->frame = (uint32_t)s->idx;
			d->frame_pins
				[s->frame]++; /* keeps the frame from being given away mid-copy */
		}
		s->owns = true;
	}
	s->ptr = d->mem + (size_t)s->frame * HV_PAGE_SIZE + s->offset;
	return GNTST_okay;
}

static void side_unpin(struct lock_run *r, struct copy_side *s)
{
	if (!s->owns)
		return;
	run_lock(r, s->d);
	if (s->kind == SIDE_GREF)
		grant_unpin(s->d, (grant_ref_t)s->idx, s->readonly);
	else
		s->d->frame_pins[s->frame]--;
	s->owns = false;
}

static void copy_chunk(struct hv *hv, domid_t caller, struct gnttab_copy *ops, unsigned n,
		       struct dom_cache *c)
{
	struct copy_job jobs[COPY_CHUNK];
	struct lock_run r = {NULL};
	unsigned i, k;

	for (i = 0; i < n; i++)
		jobs[i].st = copy_prepare(hv, caller, &ops[i], c, &jobs[i]);

	/* Sources, then destinations of the ops whose source was acquired. */
	for (k = 0; k < 2; k++) {
		const struct copy_side *prev = NULL;

		for (i = 0; i < n; i++) {
			struct copy_job *j = &jobs[i];

			if (j->st != COPY_PENDING)
				continue;
			j->st = side_pin(caller, &r, &j->side[k], prev);
			if (j->st == GNTST_okay) {
				j->st = COPY_PENDING;
				prev = &j->side[k];
			} else {
				prev = NULL;
			}
		}
	}
	run_unlock(&r);

	for (i = 0; i < n; i++) {
		struct copy_job *j = &jobs[i];

		if (j->st == COPY_PENDING) {
			/* source and dest may be one frame */
			memmove(j->side[1].ptr, j->side[0].ptr, ops[i].len);
			j->st = GNTST_okay;
		}
	}

	/* Sources, then destinations: one lock per run again. */
	for (k = 0; k < 2; k++)
		for (i = 0; i < n; i++)
			side_unpin(&r, &jobs[i].side[k]);
	run_unlock(&r);

	for (i = 0; i < n; i++) {
		ops[i].status = jobs[i].st;
		if (jobs[i].st != GNTST_okay)
			PVLOG_RL(DEBUG, "gnttab", "dom%u copy: %s", caller,
				 gnttab_strstatus(jobs[i].st));
	}
}

int gnttab_copy(struct hv *hv, domid_t caller, struct gnttab_copy *ops, unsigned count)
{
	struct dom_cache c;
	unsigned i, n;

	c.n = 0;
	for (i = 0; i < count; i += n) {
		n = count - i < COPY_CHUNK ? count - i : COPY_CHUNK;
		copy_chunk(hv, caller, ops + i, n, &c);
		if (c.n > DOM_CACHE_KEEP)
			cache_flush(&c);
	}
	cache_flush(&c);
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
