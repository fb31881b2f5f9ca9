/* SPDX-License-Identifier: MIT */
/*
 * Guest RX (dom0 -> guest): the VIF port's send op and the drain of its queue.
 *
 * send() appends the burst to the queue's pending list (bounded in bytes and
 * packets, XSA-392) and drains it at once into the buffers the guest posted:
 * each posted request is copied once, each packet becomes grant-copy ops -- the
 * head (with the egress 802.1Q tag) from dom0 memory (GNTCOPY_source_va), the
 * tail straight from the sender's grants (GNTCOPY_source_gref, so guest-to-guest
 * payload is copied exactly once) -- into the posted pages (GNTCOPY_dest_gref),
 * split at page boundaries. One gnttab_copy per round of up to 32 packets, then
 * the responses in the requests' slots, one push, at most one notification.
 * Packets that do not fit wait for the guest's RX event; after NB_RX_EXPIRE_MS
 * they are dropped (rx_expired).
 *
 * Persistent grants (feature-persistent, persist.c): the guest's posted RX refs
 * are mapped writable on first sight (q->rx_pmap, under rx_lock); a packet whose
 * destination pages are mapped gets its head written straight into the first one
 * (no staging) and every piece whose source is in dom0 memory or in the sender's
 * mapped TX pages (nb_tx_pkt_pmap) is a plain memcpy: guest to guest is then one
 * memcpy from the sender's TX page into the receiver's RX page, no grant op. A
 * piece with an unmapped side stays a grant-copy op (GNTCOPY_*_va for the mapped
 * side), so a ref the map refused gets the same error as without the feature. Packets are released after the queue lock is
 * dropped (XSA-424: completions run other vifs' code).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/quota.h>

#include "nb_private.h"

#define PAGE 4096u
#define STAGE 136u      /* staged wire head per packet: 128 + tag + pad */
#define OPS_PER_PKT 48u /* bound on copy ops one packet needs */
#define NB_RX_OPS (NB_BURST * OPS_PER_PKT)
#define MAX_DATA_SLOTS 17u /* 64 KiB + 4 bytes of tag in 4 KiB pages */
#define REL_MAX (NB_RX_QUEUE_MAX_PKTS + NB_BURST)

int nb_rxq_init(struct nb_queue *q)
{
	q->pend = calloc(NB_RX_QUEUE_MAX_PKTS, sizeof(*q->pend));
	q->ops = calloc(NB_RX_OPS, sizeof(*q->ops));
	q->stage = malloc((size_t)NB_BURST * STAGE);
	if (!q->pend || !q->ops || !q->stage) {
		nb_rxq_fini(q);
		return -ENOMEM;
	}
	pthread_mutex_init(&q->rx_lock, NULL);
	return 0;
}

void nb_rxq_fini(struct nb_queue *q)
{
	/* called after the worker, the switch port and the pending packets are gone */
	nb_pmap_destroy(q->rx_pmap);
	q->rx_pmap = NULL;
	free(q->pend);
	free(q->ops);
	free(q->stage);
	q->pend = NULL;
	q->ops = NULL;
	q->stage = NULL;
}

/* nb_rx_has_pending and nb_rx_can_progress run per queue per polling round:
 * inline in nb_private.h */

/* ---- the domain's share of the shared pools (nb_private.h, struct nb_share) ---- */

/* Slots released by one drain, applied to the share under one lock. */
struct share_dec {
	bool any;
	uint32_t n[NB_SHARE_SLOTS];
};

/*
 * Charges one packet to share s (caller holds s->lock). Returns the slot charged,
 * -1 when the packet holds no pool we account (no pool), or -2 when the domain
 * already holds its share of that pool (drop it as rx_share), including when every
 * slot holds packets of another pool.
 */
static int share_charge(struct nb_share *s, const struct pvnet_pkt *pkt)
{
	const void *pool = pkt->pool;
	uint32_t src = UINT32_MAX, capacity, cap;
	int match = -1, free_slot = -1;

	if (!pool)
		return -1;
	if (pkt->src_kind == PVNET_PKT_SRC_GRANT) {
		/* the sender's TX slots stay in use until every egress lets go */
		src = pkt->src.domid;
		capacity = NB_TX_RING;
	} else {
		capacity = pvnet_pkt_pool_size(pkt->pool);
	}
	for (int i = 0; i < NB_SHARE_SLOTS; i++) {
		struct nb_share_slot *sl = &s->slot[i];
		if (sl->pool == pool && sl->src == src) {
			match = i;
			break;
		}
		if (free_slot < 0 && sl->held == 0)
			free_slot = i;
	}
	if (match < 0) {
		if (free_slot < 0)
			return -2;
		match = free_slot;
		s->slot[match].pool = pool;
		s->slot[match].src = src;
	}
	cap = (uint32_t)((uint64_t)capacity * s->pct / 100);
	if (cap < 1)
		cap = 1;
	s->slot[match].cap = cap;
	if (s->slot[match].held >= cap)
		return -2;
	s->slot[match].held++;
	return match;
}

static void share_release(struct nb_share *s, const struct share_dec *d)
{
	if (!s || !d->any)
		return;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < NB_SHARE_SLOTS; i++)
		s->slot[i].held -= d->n[i];
	pthread_mutex_unlock(&s->lock);
}

/* Removes the head pending entry (the caller took its packet). */
static inline void pend_pop(struct nb_queue *q, struct share_dec *d)
{
	struct nb_pending *e = &q->pend[q->pend_head];

	q->pend_bytes -= e->pkt->len;
	if (e->share >= 0) {
		d->n[e->share]++;
		d->any = true;
	}
	q->pend_head = (q->pend_head + 1) % NB_RX_QUEUE_MAX_PKTS;
	__atomic_store_n(&q->pend_count, q->pend_count - 1, __ATOMIC_RELAXED);
}

static uint32_t wire_len(const struct pvnet_pkt *pkt, uint16_t tci)
{
	return pkt->len + (tci && pkt->head_size >= 12 ? PVNET_VLAN_HLEN : 0);
}

/* Slots a packet needs in the guest's RX ring (data + GSO extra). */
static unsigned slots_needed(const struct pvnet_pkt *pkt, uint16_t tci)
{
	return (wire_len(pkt, tci) + PAGE - 1) / PAGE + (pkt->gso_type != PVNET_GSO_NONE);
}

struct rx_build {
	struct nb_queue *q;
	struct gnttab_copy *ops;
	unsigned nops;
	grant_ref_t dst_gref[MAX_DATA_SLOTS];
	uint8_t *dst_va[MAX_DATA_SLOTS]; /* mapped destination pages, NULL: grant copy */
	uint32_t wpos;                   /* wire position */
};

/* Emits a copy of `len` wire bytes from one source piece, split at the guest's pages. */
static void emit(struct rx_build *b, bool src_gref, uint64_t src, domid_t src_dom, uint16_t src_off,
		 uint32_t len)
{
	while (len) {
		unsigned slot = b->wpos / PAGE;
		uint32_t doff = b->wpos % PAGE, n = PAGE - doff;
		uint8_t *dva = b->dst_va[slot];
		struct gnttab_copy *op;

		if (n > len)
			n = len;
		if (dva && !src_gref) {
			/* both sides mapped / in dom0 */
			memcpy(dva + doff, (const void *)(uintptr_t)src, n);
			src += n;
			b->wpos += n;
			len -= n;
			continue;
		}
		op = &b->ops[b->nops++];
		if (dva)
			*op = (struct gnttab_copy){
				.dest = {.u.gmfn = (xen_pfn_t)(uintptr_t)(dva + doff)},
				.len = (uint16_t)n,
				.flags = GNTCOPY_dest_va,
			};
		else
			*op = (struct gnttab_copy){
				.dest = {.u.ref = b->dst_gref[slot],
					 .domid = b->q->vif->domid,
					 .offset = (uint16_t)doff},
				.len = (uint16_t)n,
				.flags = GNTCOPY_dest_gref,
			};
		if (src_gref) {
			op->source.u.ref = (grant_ref_t)src;
			op->source.domid = src_dom;
			op->source.offset = src_off;
			op->flags |= GNTCOPY_source_gref;
			src_off = (uint16_t)(src_off + n);
		} else {
			op->source.u.gmfn = src;
			op->flags |= GNTCOPY_source_va;
			src += n;
		}
		b->wpos += n;
		len -= n;
	}
}

/* Builds the copy ops of one packet; the destination slots are already chosen. */
static void build_pkt(struct rx_build *b, const struct pvnet_pkt *pkt, uint16_t tci, uint8_t *stage)
{
	uint32_t whead, staged, tagged = (tci && pkt->head_size >= 12) ? PVNET_VLAN_HLEN : 0;

	b->wpos = 0;
	if (b->dst_va[0]) {
		/* the head straight into the guest's first page (no staging copy) */
		whead = pvnet_pkt_write_head(pkt, tci, b->dst_va[0], PAGE);
		staged = whead < PAGE ? whead : PAGE;
		b->wpos = staged;
	} else {
		whead = pvnet_pkt_write_head(pkt, tci, stage, STAGE);
		staged = whead < STAGE ? whead : STAGE;
		emit(b, false, (uint64_t)(uintptr_t)stage, 0, 0, staged);
	}
	if (whead > staged) /* a long LOCAL head: the rest straight from pkt->data */
		emit(b, false, (uint64_t)(uintptr_t)(pkt->data + staged - tagged), 0, 0,
		     whead - staged);
	if (pkt->src_kind == PVNET_PKT_SRC_GRANT && pkt->len > pkt->head_size) {
		const struct nb_pmap *sm = nb_tx_pkt_pmap(pkt); /* the sender's mapped TX pages */
		uint32_t fpos = 0, from = pkt->src.tail_off;
		for (unsigned k = 0; k < pkt->src.nr_frags; k++) {
			const struct pvnet_pkt_frag *f = &pkt->src.frags[k];
			uint32_t end = fpos + f->size;
			if (end > from) {
				uint32_t skip = from > fpos ? from - fpos : 0;
				uint16_t off = (uint16_t)(f->offset + skip);
				const uint8_t *sva = sm ? nb_pmap_lookup(sm, f->gref) : NULL;
				if (sva) /* TX parse bounded offset + size by the page */
					emit(b, false, (uint64_t)(uintptr_t)(sva + off), 0, 0,
					     f->size - skip);
				else
					emit(b, true, f->gref, pkt->src.domid, off, f->size - skip);
			}
			fpos = end;
		}
	}
}

struct rx_pk {
	RING_IDX first;
	unsigned nslots, op0, nops;
	uint32_t wlen;
	struct pvnet_pkt *pkt;
};

/*
 * One round of the drain, in three stages over up to NB_BURST pending packets (the
 * shape of the TX side and of Linux's xenvif_rx_action):
 *   rx_build    each posted request the round needs copied once; per packet the
 *               destination slots chosen and its copy ops built (memcpy at once
 *               where both sides are mapped); too-big packets dropped, counted
 *   rx_copy     one gnttab_copy for the round
 *   rx_respond  per packet: copy status checked, responses written into the
 *               requests' slots (GSO extra after the first), delivered or counted
 *               as rx_copy_error; then one push and the notify decision
 */
struct rx_round {
	struct rx_pk pk[NB_BURST];
	struct netif_rx_request rq[NB_RX_RING];
	unsigned npk, used, nops;
};

/* Stage 1 of a round: `avail` posted requests from q->rx.req_cons. */
static inline void rx_build(struct nb_queue *q, struct rx_round *r, struct rx_build *b,
			    struct nb_pmap *pm, unsigned avail, struct pvnet_pkt **rel,
			    unsigned *nrel, uint64_t *drops, struct share_dec *sd)
{
	struct nb_vif *vif = q->vif;

	r->npk = r->used = r->nops = 0;
	while (q->pend_count && r->npk < NB_BURST && r->nops + OPS_PER_PKT <= NB_RX_OPS) {
		struct nb_pending *e = &q->pend[q->pend_head];
		unsigned need = slots_needed(e->pkt, e->tci);
		unsigned ndata = need - (e->pkt->gso_type != PVNET_GSO_NONE);
		unsigned used = r->used;

		if (q->pend_count > 1) {
			/* the next packet's descriptor and head, and the guest's next
			 * request line: their misses overlap this packet's copy */
			const struct pvnet_pkt *nx =
				q->pend[(q->pend_head + 1) % NB_RX_QUEUE_MAX_PKTS].pkt;
			__builtin_prefetch(nx);
			__builtin_prefetch(nx->data);
			__builtin_prefetch(RING_GET_REQUEST(&q->rx, q->rx.req_cons + used + need));
		}
		/* b is not zeroed per packet (that memset was most of this loop):
		 * build_pkt reads dst_gref/dst_va only for the ndata slots set below */
		b->nops = r->nops;

		if (ndata > MAX_DATA_SLOTS || (ndata > 1 && !(vif->features & NB_FEAT_SG))) {
			drops[NB_DROP_RX_TOO_BIG]++;
			rel[(*nrel)++] = e->pkt;
			goto pop;
		}
		if (need > avail - used)
			break;
		/* copy each posted request once */
		if (need == 1) {
			/* the common one-slot packet */
			RING_COPY_REQUEST(&q->rx, q->rx.req_cons + used, &r->rq[used]);
			b->dst_gref[0] = r->rq[used].gref;
			b->dst_va[0] = pm ? nb_pmap_get(pm, r->rq[used].gref) : NULL;
		} else {
			for (unsigned k = 0; k < need; k++)
				RING_COPY_REQUEST(&q->rx, q->rx.req_cons + used + k,
						  &r->rq[used + k]);
			for (unsigned k = 0, sl = 0; k < need; k++) {
				/* the GSO extra takes the slot right after the first data slot */
				if (e->pkt->gso_type != PVNET_GSO_NONE && k == 1)
					continue;
				b->dst_gref[sl] = r->rq[used + k].gref;
				b->dst_va[sl++] = pm ? nb_pmap_get(pm, r->rq[used + k].gref) : NULL;
			}
		}
		build_pkt(b, e->pkt, e->tci, q->stage + (size_t)r->npk * STAGE);
		r->pk[r->npk] = (struct rx_pk){.first = used,
					       .nslots = need,
					       .op0 = r->nops,
					       .nops = b->nops - r->nops,
					       .wlen = b->wpos,
					       .pkt = e->pkt};
		r->nops = b->nops;
		r->used += need;
		r->npk++;
pop:
		pend_pop(q, sd);
	}
}

/* Stage 2: the round's copies that are not already done by memcpy. */
static inline void rx_copy(struct nb_queue *q, const struct rx_round *r)
{
	if (r->nops)
		gnttab_copy(q->vif->nb->hv, 0, q->ops, r->nops);
}

/* Stage 3: responses in the requests' slots, one push; true if the guest asked for
 * an event. Every packet of the round goes to rel[]. */
static inline bool rx_respond(struct nb_queue *q, const struct rx_round *r, struct pvnet_pkt **rel,
			      unsigned *nrel, uint64_t *drops, unsigned *delivered, uint64_t *bytes)
{
	struct nb_vif *vif = q->vif;
	int notify = 0;

	for (unsigned p = 0; p < r->npk; p++) {
		const struct rx_pk *pk = &r->pk[p];
		struct pvnet_pkt *pkt = pk->pkt;
		bool gso = pkt->gso_type != PVNET_GSO_NONE, err = false;
		uint32_t left = pk->wlen;
		uint16_t csum = 0;

		for (unsigned k = 0; k < pk->nops; k++)
			if (q->ops[pk->op0 + k].status != GNTST_okay)
				err = true;
		if (pkt->flags & PVNET_PKT_F_CSUM_BLANK)
			csum = NETRXF_csum_blank | NETRXF_data_validated;
		else if (pkt->flags & PVNET_PKT_F_DATA_VALIDATED)
			csum = NETRXF_data_validated;
		if (pk->nslots == 1) {
			/* one data slot (no GSO extra), wlen <= PAGE: one store */
			struct netif_rx_response rsp = {.id = r->rq[pk->first].id,
							.offset = 0,
							.flags = csum,
							.status = err ? NETIF_RSP_ERROR
								      : (int16_t)pk->wlen};
			*RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt + pk->first) = rsp;
		} else {
			for (unsigned k = 0; k < pk->nslots; k++) {
				unsigned slot = pk->first + k;
				RING_IDX idx = q->rx.rsp_prod_pvt + slot;
				if (gso && k == 1) {
					struct netif_extra_info ex = {
						.type = XEN_NETIF_EXTRA_TYPE_GSO};
					ex.u.gso.size = pkt->gso_size;
					ex.u.gso.type = pkt->gso_type;
					/* the extra overlays the response slot */
					memcpy(RING_GET_RESPONSE(&q->rx, idx), &ex, sizeof(ex));
					continue;
				}
				uint32_t n = left < PAGE ? left : PAGE;
				struct netif_rx_response rsp = {.id = r->rq[slot].id, .offset = 0};
				left -= n;
				rsp.status = err ? NETIF_RSP_ERROR : (int16_t)n;
				if (k == 0)
					rsp.flags =
						(uint16_t)(csum | (gso ? NETRXF_extra_info : 0));
				if (left)
					rsp.flags |= NETRXF_more_data;
				*RING_GET_RESPONSE(&q->rx, idx) = rsp;
			}
		}
		if (err) {
			drops[NB_DROP_RX_COPY_ERROR]++;
			PVLOG_RL(DEBUG, NB_MOD, "%s: RX grant copy failed", vif->name);
		} else {
			(*delivered)++;
			*bytes += pk->wlen;
		}
		rel[(*nrel)++] = pkt;
	}
	q->rx.req_cons += r->used;
	q->rx.rsp_prod_pvt += r->used;
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->rx, notify);
	return notify != 0;
}

/* Drains pending packets into posted buffers, round by round. Caller holds rx_lock.
 * Packets to release go to rel[]. Returns packets delivered. */
static unsigned drain_locked(struct nb_queue *q, struct pvnet_pkt **rel, unsigned *nrel,
			     uint64_t now, uint64_t *drops)
{
	struct nb_vif *vif = q->vif;
	struct netif_rx_sring *s = q->rx.sring;
	unsigned delivered = 0;
	uint64_t bytes = 0;
	bool notify_any = false;
	struct nb_pmap *pm;
	struct rx_build b;
	struct rx_round r;
	struct share_dec sd;

	sd.any = false;
	memset(sd.n, 0, sizeof(sd.n));
	b.q = q;
	b.ops = q->ops;
	/* expire what waited too long (the guest stopped consuming) */
	while (q->pend_count &&
	       now - q->pend[q->pend_head].t_ns > (uint64_t)NB_RX_EXPIRE_MS * 1000000ull) {
		rel[(*nrel)++] = q->pend[q->pend_head].pkt;
		pend_pop(q, &sd);
		drops[NB_DROP_RX_EXPIRED]++;
	}
	if (q->pend_count)
		nb_accel_rx_reclaim_locked(q); /* Level 1: take back what the NIC holds */
	if ((vif->features & NB_FEAT_PERSISTENT) && !q->rx_pmap &&
	    nb_pmap_create(vif->nb->hv, vif->domid, true, &q->rx_pmap) < 0)
		q->rx_pmap = NULL; /* no memory: grant copy, as without the feature */
	pm = q->rx_pmap;

	while (q->pend_count) {
		RING_IDX prod = PVNET_RING_READ_ONCE(s->req_prod);
		unsigned avail;

		pvnet_rmb(); /* req_prod before the requests it publishes */
		avail = prod - q->rx.req_cons;
		if (avail > NB_RX_RING) {
			nb_vif_fatal(vif, "RX req_prod overflow");
			break;
		}
		rx_build(q, &r, &b, pm, avail, rel, nrel, drops, &sd);
		if (!r.npk)
			break;
		rx_copy(q, &r);
		notify_any |= rx_respond(q, &r, rel, nrel, drops, &delivered, &bytes);
	}
	if (q->pend_count) {
		/* ask for an event once the guest has posted enough for the head packet */
		struct nb_pending *e = &q->pend[q->pend_head];
		RING_IDX want = q->rx.req_cons + slots_needed(e->pkt, e->tci);
		__atomic_store_n(&q->rx_want, want, __ATOMIC_RELAXED);
		/* the worker's next nb_rx_can_progress looks at req_prod again */
		(void)pvnet_ring_holdoff(&s->req_event, &s->req_prod, want);
	} else {
		nb_accel_rx_refill_locked(q); /* Level 1: lend free requests to the NIC */
	}
	if (notify_any) {
		uint64_t one = 1;
		if (write(q->rx_notify_fd, &one, sizeof(one)) < 0)
			PVLOG_RL(WARN, NB_MOD, "%s: RX notify failed", vif->name);
	}
	share_release(vif->share, &sd);
	nb_add(&vif->rx_packets, delivered);
	nb_add(&vif->rx_bytes, bytes);
	return delivered;
}

static void flush_drops(struct nb_vif *vif, const uint64_t *drops)
{
	for (unsigned r = 0; r < NB_DROP__MAX; r++)
		nb_add(&vif->drops[r], drops[r]);
}

static void release(struct pvnet_pkt **rel, unsigned n)
{
	pvnet_pkt_put_bulk(rel, n); /* one pool operation per run of one pool */
}

unsigned nb_rx_service(struct nb_queue *q)
{
	struct pvnet_pkt *rel[REL_MAX];
	uint64_t drops[NB_DROP__MAX] = {0};
	unsigned nrel = 0, n;

	pthread_mutex_lock(&q->rx_lock);
	n = drain_locked(q, rel, &nrel, pvnet_now_ns(), drops);
	pthread_mutex_unlock(&q->rx_lock);
	release(rel, nrel);
	flush_drops(q->vif, drops);
	return n + nrel;
}

void nb_rx_purge(struct nb_queue *q)
{
	struct pvnet_pkt *rel[NB_RX_QUEUE_MAX_PKTS];
	unsigned n = 0;

	struct share_dec sd;

	sd.any = false;
	memset(sd.n, 0, sizeof(sd.n));
	pthread_mutex_lock(&q->rx_lock);
	while (q->pend_count) {
		rel[n++] = q->pend[q->pend_head].pkt;
		pend_pop(q, &sd);
	}
	q->pend_bytes = 0;
	share_release(q->vif->share, &sd);
	pthread_mutex_unlock(&q->rx_lock);
	release(rel, n);
	nb_add(&q->vif->drops[NB_DROP_RX_DISABLED], n);
}

/* Enqueues pkts (all for queue q) and drains. */
static void rxq_send(struct nb_queue *q, struct pvnet_pkt **pkts, const uint16_t *tci, unsigned n)
{
	struct pvnet_pkt *rel[REL_MAX];
	uint64_t drops[NB_DROP__MAX] = {0}, now = pvnet_now_ns();
	unsigned nrel = 0;

	struct nb_share *sh = q->vif->share;

	pthread_mutex_lock(&q->rx_lock);
	if (sh)
		pthread_mutex_lock(&sh->lock); /* once per burst, inside rx_lock */
	for (unsigned i = 0; i < n; i++) {
		int slot = -1;

		if (q->pend_count >= NB_RX_QUEUE_MAX_PKTS ||
		    q->pend_bytes + pkts[i]->len > NB_RX_QUEUE_MAX_BYTES) {
			drops[NB_DROP_RX_QUEUE_FULL]++;
			rel[nrel++] = pkts[i];
			continue;
		}
		if (sh && (slot = share_charge(sh, pkts[i])) == -2) {
			drops[NB_DROP_RX_SHARE]++;
			rel[nrel++] = pkts[i];
			continue;
		}
		q->pend[(q->pend_head + q->pend_count) % NB_RX_QUEUE_MAX_PKTS] =
			(struct nb_pending){
				.pkt = pkts[i], .tci = tci[i], .share = (int16_t)slot, .t_ns = now};
		q->pend_bytes += pkts[i]->len;
		__atomic_store_n(&q->pend_count, q->pend_count + 1, __ATOMIC_RELAXED);
	}
	if (sh)
		pthread_mutex_unlock(&sh->lock);
	drain_locked(q, rel, &nrel, now, drops);
	pthread_mutex_unlock(&q->rx_lock);
	release(rel, nrel);
	if (drops[NB_DROP_RX_SHARE]) {
		struct quota_ledger *ql = __atomic_load_n(&q->vif->nb->quota, __ATOMIC_ACQUIRE);

		vsw_port_count_drop(q->vif->port, VSW_DROP_RX_SHARE, drops[NB_DROP_RX_SHARE]);
		for (uint64_t k = 0; ql && k < drops[NB_DROP_RX_SHARE]; k++)
			quota_note_refusal(ql, QUOTA_RX_SHARE_PCT); /* drop path only: <= 32 */
	}
	flush_drops(q->vif, drops);
}

/*
 * A flow's hash, for the guest RX queue of a multi-queue vif: IPv4/IPv6 addresses
 * and, for TCP/UDP (IPv4 unfragmented, IPv6 without extension headers), the ports;
 * other frames hash their MAC addresses. Reads only the packet's contiguous head
 * in dom0 memory (pkt->data, head_size: what the switch already parsed), never
 * guest memory. A flow always gets the same queue, so its packets stay in order;
 * different flows spread over the queues (and so over the guest's queue threads).
 */
uint32_t nb_flow_hash(const struct pvnet_pkt *pkt)
{
	const uint8_t *d = pkt->data;
	uint32_t n = pkt->head_size, off = 14, h = 0x9e3779b9u;
	uint16_t type;

	if (n < 14)
		return 0;
	type = (uint16_t)(d[12] << 8 | d[13]);
	if (type == 0x8100 && n >= 18) {
		type = (uint16_t)(d[16] << 8 | d[17]);
		off = 18;
	}
	if (type == 0x0800 && n >= off + 20) {
		const uint8_t *ip = d + off;
		uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
		uint32_t a, b;

		memcpy(&a, ip + 12, 4);
		memcpy(&b, ip + 16, 4);
		h ^= a * 0x85ebca6bu;
		h ^= b * 0xc2b2ae35u;
		/* ports only without fragmentation: every fragment then hashes alike */
		if ((ip[9] == 6 || ip[9] == 17) && ihl >= 20 && !(ip[6] & 0x3f) && !ip[7] &&
		    n >= off + ihl + 4) {
			uint32_t ports;
			memcpy(&ports, ip + ihl, 4);
			h ^= ports * 0x27d4eb2fu;
		}
	} else if (type == 0x86dd && n >= off + 40) {
		const uint8_t *ip = d + off;
		uint32_t w;

		for (unsigned i = 8; i < 40; i += 4) {
			memcpy(&w, ip + i, 4);
			h = (h ^ w) * 0x01000193u;
		}
		if ((ip[6] == 6 || ip[6] == 17) && n >= off + 44) {
			memcpy(&w, ip + 40, 4);
			h ^= w * 0x27d4eb2fu;
		}
	} else {
		uint32_t w;

		for (unsigned i = 0; i < 12; i += 4) {
			memcpy(&w, d + i, 4);
			h = (h ^ w) * 0x01000193u;
		}
	}
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}

static int vif_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct nb_vif *vif = vsw_port_priv(port);
	unsigned nq = vif->nr_queues, n = batch->count;

	if (__atomic_load_n(&vif->disabled, __ATOMIC_RELAXED)) {
		nb_add(&vif->drops[NB_DROP_RX_DISABLED], n);
		return 0; /* the switch releases them (egress_full) */
	}
	if (nq <= 1) {
		rxq_send(&vif->queues[0], batch->pkts, batch->vlan_tci, n);
	} else {
		/* spread by flow hash: one flow's packets stay in order on one queue,
		 * a sender's several flows reach several of the guest's queue threads */
		uint8_t sel[PVNET_BATCH_MAX];

		for (unsigned i = 0; i < n; i++)
			sel[i] = (uint8_t)(nb_flow_hash(batch->pkts[i]) % nq);
		for (unsigned qi = 0; qi < nq; qi++) {
			struct pvnet_pkt *p[NB_BURST];
			uint16_t t[NB_BURST];
			unsigned k = 0;
			for (unsigned i = 0; i < n; i++) {
				if (sel[i] == qi) {
					p[k] = batch->pkts[i];
					t[k++] = batch->vlan_tci[i];
				}
			}
			if (k)
				rxq_send(&vif->queues[qi], p, t, k);
		}
	}
	return (int)n;
}

static int vif_get_stats(struct vsw_port *port, struct vsw_port_dev_stats *st)
{
	struct nb_vif *vif = vsw_port_priv(port);

	/* the device's view: its rx is what the guest sent us */
	st->rx_packets = __atomic_load_n(&vif->tx_packets, __ATOMIC_RELAXED);
	st->rx_bytes = __atomic_load_n(&vif->tx_bytes, __ATOMIC_RELAXED);
	st->tx_packets = __atomic_load_n(&vif->rx_packets, __ATOMIC_RELAXED);
	st->tx_bytes = __atomic_load_n(&vif->rx_bytes, __ATOMIC_RELAXED);
	st->rx_errors = 0;
	st->tx_errors = 0;
	for (unsigned r = 0; r < NB_DROP__MAX; r++) {
		uint64_t v = __atomic_load_n(&vif->drops[r], __ATOMIC_RELAXED);
		if (r < NB_DROP_RX_QUEUE_FULL)
			st->rx_errors += v;
		else
			st->tx_errors += v;
	}
	return 0;
}

const struct vsw_port_ops nb_vif_port_ops = {
	.type = "vif",
	.send = vif_send,
	.get_stats = vif_get_stats,
	.destroy = NULL, /* the vif owns priv */
};
