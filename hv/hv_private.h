/* SPDX-License-Identifier: MIT */
/*
 * hv/hv_private.h - internals of the hypervisor core shared by hv/domain.c,
 * hv/gnttab.c, hv/evtchn.c and hv/hypercall.c. Not for other modules.
 *
 * Locking (outermost first; never take them in another order):
 *   hv->lock            the domain table, name lookup, domid allocation,
 *                       the xenstore connector.
 *   d->maptrack_lock    the mappings domain d HOLDS (as mapper).
 *   g->grant_lock       domain g's grant state as GRANTER: active table,
 *                       populated bitmap, per-frame pin counts.
 *   hv->evtchn_lock     every port of every domain, hv->evt_doms[].
 *                       Taken alone (never with the locks above).
 * The ledger's mutex (hv_note_refusal) is a leaf: taken under any of these, it
 * takes nothing else.
 * A domain's grant_lock never nests another lock, so a copy or map of one
 * domain's grant never waits for a control-path lock of another domain.
 * Grant batches (gnttab.c) hold at most one grant_lock at a time, taken once
 * per run of consecutive ops naming the same granter; copies move the bytes
 * with no lock held, under the pins taken for the batch's chunk.
 *
 * Lifetime: struct hv_domain is reference counted. The domain table holds one
 * reference (dropped by hv_domain_destroy), every mapping held by another
 * domain holds one on the granter, and every grant op holds one for its
 * duration. The memory and grant-table mappings are released with the last
 * reference; so a dying domain's frames stay mapped in pvnetd until dom0 (or
 * whoever) unmaps its last grant of it.
 */
#ifndef PVNET_HV_PRIVATE_H
#define PVNET_HV_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvnet/hv.h>

/* Limits of hv_domain_config values. */
#define HV_MAX_GRANT_FRAMES 1024u
#define HV_MAX_EVTCHNS EVTCHN_2L_NR_CHANNELS

/* Per-entry pin state of a granter's table (Xen's "active grant entry"). */
struct hv_active {
	uint32_t pins;    /* map + copy pins; GTF_reading is set while > 0 */
	uint32_t wr_pins; /* writable pins; GTF_writing is set while > 0 */
	uint32_t frame;   /* the frame read at first pin, used until pins == 0 */
	domid_t domid;    /* the domain that pinned it */
	uint16_t pad;
};

/* One mapping held by a mapping domain; the handle is the array index. */
struct hv_maptrack {
	struct hv_domain *granter; /* holds a reference while in_use */
	void *addr;                /* in pvnetd's mapping of the granter's memory */
	grant_ref_t ref;
	uint32_t next_free; /* free-list link */
	bool in_use;
	bool readonly;
};

#define HV_MT_NONE UINT32_MAX

enum hv_port_state {
	HV_PORT_CLOSED = EVTCHNSTAT_closed,
	HV_PORT_UNBOUND = EVTCHNSTAT_unbound,
	HV_PORT_INTERDOMAIN = EVTCHNSTAT_interdomain,
};

struct hv_port {
	uint8_t state;             /* enum hv_port_state */
	domid_t remote_dom;        /* unbound: who may bind; interdomain: peer */
	evtchn_port_t remote_port; /* interdomain: peer port */
	int efd; /* interdomain: this port's eventfd (signalled by the peer), else -1 */
};

struct hv_domain {
	struct hv *hv;
	domid_t domid;
	char name[HV_NAME_MAX];
	int refcnt; /* __atomic */
	bool dying; /* set under hv->lock when destroyed */

	/* Pseudo-physical memory (none for dom0). */
	uint64_t mem_size;
	uint32_t nr_frames;
	int mem_fd;
	uint8_t *mem;

	/* Grant table as granter (none for dom0). */
	uint32_t nr_mapped;    /* under grant_lock: mappings others hold of our grants */
	uint64_t maps_refused; /* under grant_lock: maps refused at HV_LIMIT_GNT_MAPS */
	int gnt_fd;
	struct grant_entry_v1 *gnt;
	uint32_t nr_grant_frames;
	uint32_t nr_grant_entries;
	pthread_mutex_t grant_lock;
	struct hv_active *active; /* [nr_grant_entries] */
	uint64_t *populated;      /* bitmap [nr_frames] */
	uint32_t *frame_pins;     /* [nr_frames]: pins (grant or raw copy) on each frame */

	/* Mappings this domain holds of others' grants. */
	pthread_mutex_t maptrack_lock;
	struct hv_maptrack *mt;
	uint32_t mt_size, mt_limit, mt_used, mt_free;
	bool mt_closed; /* no new mappings: the domain is being destroyed */

	/* Event channels; under hv->evtchn_lock. */
	struct hv_port *ports;
	uint32_t max_evtchns;    /* table size (ports 1..max_evtchns-1) */
	uint32_t nr_ports;       /* ports not closed: charged to HV_LIMIT_EVTCHNS */
	uint32_t port_hint;      /* no free port below it */
	uint64_t evtchn_refused; /* allocations refused at HV_LIMIT_EVTCHNS */

	/* Log-dirty during a migration (save.c); NULL when off. Set and cleared
	 * under grant_lock; its dom0 bitmap is written under grant_lock. */
	struct hv_logdirty *ld;
};

struct hv {
	pthread_mutex_t lock;
	struct hv_domain *doms[HV_MAX_DOMID + 1];
	domid_t next_domid;
	hv_xs_connect_fn xs_connect;
	void *xs_arg;
	hv_accel_connect_fn accel_connect; /* hypercall.c */
	void *accel_arg;

	pthread_mutex_t evtchn_lock;
	struct hv_domain *evt_doms[HV_MAX_DOMID + 1];

	uint32_t limits[HV_LIMIT__MAX]; /* atomic: per-guest limits (hv_set_limit) */
	struct quota_ledger *quota;     /* atomic pointer: where refusals are noted, or NULL */
};

/* Notes one refusal at `which` in the ledger, if any (its mutex is a leaf lock). */
void hv_note_refusal(struct hv *hv, enum hv_limit which);

/* A per-guest limit (relaxed read: a limit changed concurrently applies from the next call). */
static inline uint32_t hv_limit_of(struct hv *hv, enum hv_limit which)
{
	return __atomic_load_n(&hv->limits[which], __ATOMIC_RELAXED);
}

/* A live (not dying) domain with a reference taken, or NULL. DOMID_SELF is not resolved here. */
struct hv_domain *hv_domain_get(struct hv *hv, domid_t domid);
/* Drops a reference; frees the domain with the last one. NULL is a no-op. */
void hv_domain_put(struct hv_domain *d);
/* Drops n references at once (one atomic); NULL or n == 0 is a no-op. */
void hv_domain_put_n(struct hv_domain *d, unsigned n);
/* Takes one more reference on a domain the caller already holds one on. */
static inline void hv_domain_ref(struct hv_domain *d)
{
	__atomic_add_fetch(&d->refcnt, 1, __ATOMIC_RELAXED);
}

/* Frame bitmap helpers; the caller holds d->grant_lock. */
static inline bool hv_frame_populated(const struct hv_domain *d, uint64_t pfn)
{
	return pfn < d->nr_frames && (d->populated[pfn / 64] >> (pfn % 64)) & 1;
}
static inline void hv_frame_set_populated(struct hv_domain *d, uint64_t pfn, bool on)
{
	if (on)
		d->populated[pfn / 64] |= 1ull << (pfn % 64);
	else
		d->populated[pfn / 64] &= ~(1ull << (pfn % 64));
}
/* Unpopulates frame pfn (punches it out of the memfd). Caller holds d->grant_lock. */
int hv_frame_unpopulate(struct hv_domain *d, uint64_t pfn);

/* gnttab.c: drops every mapping d holds and refuses new ones. */
void hv_gnttab_release_maps(struct hv_domain *d);

/* evtchn.c: port table setup/teardown; attach publishes d for evtchn ops, detach closes all ports. */
int hv_evtchn_attach(struct hv *hv, struct hv_domain *d, uint32_t max_evtchns);
void hv_evtchn_detach(struct hv *hv, struct hv_domain *d);
/* Ports of d not closed; *refused (if not NULL) receives its refused allocations. */
uint32_t hv_evtchn_nr_bound(struct hv *hv, struct hv_domain *d, uint64_t *refused);

/* save.c: marks frame dirty in d's log (caller holds d->grant_lock); frees the log. */
void hv_logdirty_mark(struct hv_domain *d, uint32_t frame);
void hv_logdirty_free(struct hv_domain *d);
/* save.c: the PVHC_OP_LOGDIRTY hypercall: fds[0] the shared log, fds[1] the kick eventfd. */
int hv_logdirty_fds(struct hv_domain *d, int *fds);

#endif /* PVNET_HV_PRIVATE_H */
