/* SPDX-License-Identifier: MIT */
/*
 * Guest TX (guest -> dom0): one burst per call on the queue's owner worker.
 *
 *   read req_prod once; copy every queued request once into a private array;
 *   validate packet by packet (tx_parse.c) on the copies only; one grant-copy batch
 *   for the headers of the whole burst (GNTCOPY_source_gref -> GNTCOPY_dest_va into
 *   pkt->hdr); the fragments stay in pkt->src for the egress to copy the tail
 *   straight from the guest's grants; vsw_input(); push the responses once.
 *
 * Responses (choice documented in the issue): each packet's completion (pkt->done,
 * when its last reference goes) marks its slots ready in a per-queue completion
 * array (tx_cmpl.c); responses leave as a contiguous ready prefix, in ring order.
 * Completions that happen inside the owner's burst (the common case: the switch
 * delivered or dropped the packet synchronously) are pushed once at the end of the
 * burst; a late completion (a packet that waited in another vif's RX queue) pushes
 * from the thread that completes it. Pushers are serialised by the `busy` flag
 * (no lock); a pusher re-checks after clearing it so no completion is stranded.
 * A dead queue keeps busy = 1 forever: late completions never touch an unmapped
 * ring, they only drop their reference.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/pkt_parse.h>

#include "nb_private.h"

/* The queue whose burst is running on this thread: its completions only mark their
 * slots ready and are counted; the end of the burst fences, drops their references
 * and pushes once (no fence, no atomic, no push per packet). */
static __thread struct nb_txc *nb_cur_txc;
static __thread unsigned nb_cur_done;

int nb_txc_create(struct nb_txc **out)
{
	struct nb_txc *c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);

	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->refs = 1;
	c->notify_fd = -1;
	*out = c;
	return 0;
}

static void txc_put_n(struct nb_txc *c, uint32_t n)
{
	if (c && n && __atomic_sub_fetch(&c->refs, n, __ATOMIC_ACQ_REL) == 0) {
		/* the last packet reading the guest's TX pages is gone: unmap them */
		nb_pmap_destroy(c->pmap);
		free(c);
	}
}

void nb_txc_put(struct nb_txc *c)
{
	txc_put_n(c, 1);
}

void nb_txc_kill(struct nb_txc *c)
{
	if (!c)
		return;
	/* wait out a pusher, then keep busy set: nobody touches the ring again */
	while (__atomic_exchange_n(&c->busy, 1, __ATOMIC_SEQ_CST))
		sched_yield();
	nb_txc_put(c);
}

void nb_txc_push(struct nb_txc *c)
{
	for (;;) {
		unsigned n;
		int notify = 0;

		if (__atomic_exchange_n(&c->busy, 1, __ATOMIC_SEQ_CST))
			return; /* another thread pushes (it re-checks), or the queue is dead */
		/* the ready prefix straight into the ring's response slots, one pass */
		n = nb_cmpl_take_ring(&c->cmpl, &c->ring);
		if (n) {
			c->ring.rsp_prod_pvt += n;
			RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&c->ring, notify);
			if (notify) {
				uint64_t one = 1;
				if (write(c->notify_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
					nb_add(&c->notifies, 1);
			}
		}
		/* seq_cst: clear busy before looking for completions that found it set */
		__atomic_store_n(&c->busy, 0, __ATOMIC_SEQ_CST);
		if (!nb_cmpl_head_ready(&c->cmpl))
			return;
	}
}

static void tx_done(struct pvnet_pkt *pkt)
{
	struct nb_txc *c = pkt->done_arg;

	nb_cmpl_mark_ready(&c->cmpl, (RING_IDX)pkt->src.cookie, (unsigned)(pkt->src.cookie >> 32));
	if (nb_cur_txc == c) {
		nb_cur_done++; /* the burst's end fences, puts and pushes */
		return;
	}
	/* seq_cst: ready flags before the pusher's busy flag is examined */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	nb_txc_push(c);
	nb_txc_put(c);
}

const struct nb_pmap *nb_tx_pkt_pmap(const struct pvnet_pkt *pkt)
{
	/* the packet's reference on its completion state keeps the table alive */
	return pkt->done == tx_done ? ((const struct nb_txc *)pkt->done_arg)->pmap : NULL;
}

bool nb_tx_final_check(struct nb_queue *q)
{
	struct netif_tx_sring *s = q->txc->ring.sring;

	if (__atomic_load_n(&q->vif->disabled, __ATOMIC_RELAXED))
		return false;
	if (q->rate_timer_ns)
		return false; /* stopped by the credit timer, which wakes the worker */
	if (PVNET_RING_READ_ONCE(s->req_prod) != q->tx_cons)
		return true;
	return pvnet_ring_holdoff(&s->req_event, &s->req_prod, q->tx_cons + 1) != q->tx_cons;
}

/* Copy ops for the first `head` bytes of the frame spelled by pkt->src.frags. */
static unsigned head_ops(const struct pvnet_pkt *pkt, uint32_t head, struct gnttab_copy *ops)
{
	uint32_t pos = 0;
	unsigned n = 0;

	for (unsigned k = 0; k < pkt->src.nr_frags && pos < head; k++) {
		const struct pvnet_pkt_frag *f = &pkt->src.frags[k];
		uint32_t take = f->size < head - pos ? f->size : head - pos;
		if (!take)
			continue;
		ops[n] = (struct gnttab_copy){
			.source = {.u.ref = f->gref, .domid = pkt->src.domid, .offset = f->offset},
			.dest = {.u.gmfn = (xen_pfn_t)(uintptr_t)(pkt->data + pos)},
			.len = (uint16_t)take,
			.flags = GNTCOPY_source_gref | GNTCOPY_dest_va,
		};
		n++;
		pos += take;
	}
	return n;
}

/*
 * Persistent path: maps every fragment's ref on first sight (so an egress can read
 * the tail from the mapping too) and copies the first `head` bytes with memcpy.
 * False if a fragment of the head is not mapped (the caller grant-copies it).
 * The parser bounded offset + size by the page for every fragment.
 */
static bool head_copy_mapped(struct nb_pmap *m, struct pvnet_pkt *pkt, uint32_t head)
{
	uint32_t pos = 0;
	bool ok = true;

	for (unsigned k = 0; k < pkt->src.nr_frags; k++) {
		const struct pvnet_pkt_frag *f = &pkt->src.frags[k];
		uint32_t take = pos < head ? (f->size < head - pos ? f->size : head - pos) : 0;
		const uint8_t *va = nb_pmap_get(m, f->gref);

		if (k + 1 < pkt->src.nr_frags)
			__builtin_prefetch(&pkt->src.frags[k + 1]);
		if (!take)
			continue;
		if (!va) {
			ok = false;
			continue;
		}
		if (ok)
			memcpy(pkt->data + pos, va + f->offset, take);
		pos += take;
	}
	return ok;
}

/* Checksum/GSO metadata from the copied header; false if it does not parse. */
static bool tx_offload_setup(struct pvnet_pkt *pkt)
{
	struct pvnet_l4_info l4;

	if (!(pkt->flags & PVNET_PKT_F_CSUM_BLANK) && pkt->gso_type == PVNET_GSO_NONE)
		return true;
	if (pvnet_l4_locate(pkt->data, pkt->head_size, &l4) < 0)
		return false;
	if (pkt->gso_type != PVNET_GSO_NONE) {
		if (l4.proto != PVNET_IPPROTO_TCP ||
		    (pkt->gso_type == PVNET_GSO_TCPV6) != (l4.ipv6 != 0))
			return false;
		pkt->flags |= PVNET_PKT_F_CSUM_BLANK; /* GSO implies a partial checksum */
	}
	pkt->csum_start = l4.l4_off;
	pkt->csum_offset = l4.csum_offset;
	return true;
}

/*
 * Requests are copied out of the ring as the parser reaches them, NB_TX_COPY_AHEAD
 * at a time, not all `avail` at once: a full ring (256 queued) would otherwise be
 * copied whole for a burst that takes 32. Each slot is still copied exactly once
 * (the parser only ever sees the private copies); a chain longer than what is
 * copied (the parser says "truncated") gets the rest of the queue copied and is
 * parsed again, so the verdict is the one the whole queue gives.
 */
#define NB_TX_COPY_AHEAD 64

static unsigned tx_copy_reqs(struct nb_txc *c, RING_IDX cons, struct netif_tx_request *reqs,
			     unsigned from, unsigned to)
{
	for (unsigned k = from; k < to; k++)
		RING_COPY_REQUEST(&c->ring, cons + k, &reqs[k]);
	return to;
}

static unsigned tx_burst(struct nb_queue *q, RING_IDX prod);

unsigned nb_tx_burst(struct nb_queue *q)
{
	struct nb_txc *c = q->txc;
	RING_IDX prod;

	/* the empty poll is the common call: nothing but two loads before leaving
	 * (the burst's stack arrays are set up only when there is work) */
	if (__atomic_load_n(&q->vif->disabled, __ATOMIC_RELAXED))
		return 0;
	prod = PVNET_RING_READ_ONCE(c->ring.sring->req_prod);
	if (prod == q->tx_cons)
		return 0;
	return tx_burst(q, prod);
}

/*
 * One burst in three stages over the whole vector, as Linux's xenvif_tx_action
 * (build -> copy -> submit):
 *   tx_build   the requests copied once out of the ring and parsed; a packet per
 *              valid chain with its grant fragments, its head copied from the
 *              persistent mappings or queued as grant-copy ops; every slot's
 *              completion status recorded
 *   tx_copy    one gnttab_copy for the burst's heads; the packets' references on
 *              the completion state
 *   tx_submit  per packet: copy status and offload metadata checked (a failure
 *              drops it, counted), then one vsw_input for the rest, the responses
 *              pushed once, the counters added once
 */
struct tx_burst {
	struct nb_queue *q;
	struct nb_txc *c;
	struct netif_tx_request reqs[NB_TX_RING];
	struct gnttab_copy ops[NB_BURST * NB_TX_MAX_DATA_SLOTS];
	struct pvnet_pkt_batch batch;
	unsigned op_first[NB_BURST], op_count[NB_BURST], extras[NB_BURST];
	uint64_t drops[NB_DROP__MAX];
	unsigned nops;
	unsigned fatal_why;
};

/* Stage 1 over requests [q->tx_cons, q->tx_cons + avail): returns the slots consumed
 * (q->tx_cons is advanced by them). check-funcs: a data-path inner loop, kept
 * whole: inlined into the burst, its per-packet state stays in registers. */
static inline unsigned tx_build(struct tx_burst *t, unsigned avail, uint64_t rate, uint64_t now)
{
	struct nb_queue *q = t->q;
	struct nb_vif *vif = q->vif;
	struct nb_txc *c = t->c;
	struct netif_tx_request *reqs = t->reqs;
	struct pvnet_pkt *stash[NB_BURST];
	unsigned nstash, used = 0, copied = 0, i = 0;
	RING_IDX cons = q->tx_cons;

	/* one pool operation for the burst: at most one packet per queued slot; what
	 * the burst does not use goes back in one operation at the end */
	nstash = pvnet_pkt_alloc_bulk(vif->nb->pool, stash, avail < NB_BURST ? avail : NB_BURST);

	t->batch.count = 0;
	while (i < avail && t->batch.count < NB_BURST) {
		struct nb_tx_desc d;
		struct pvnet_pkt *pkt = NULL;
		RING_IDX at = cons + i;
		int v;

		if (copied < avail && copied - i < NB_TX_COPY_AHEAD / 2)
			copied = tx_copy_reqs(c, cons, reqs, copied,
					      avail - i < NB_TX_COPY_AHEAD ? avail
									   : i + NB_TX_COPY_AHEAD);
		/* credit is charged per packet (slot 0's size) before anything else, as
		 * Xen does: dropped packets pay too */
		if (rate && !nb_rate_take(q, rate, reqs[i].size, now))
			break;
		v = nb_tx_parse(&reqs[i], copied - i, &d);
		if (v == NB_TX_FATAL && d.reason == NB_TXF_CHAIN_TRUNCATED && copied < avail) {
			/* a chain past the copied window: copy the rest, judge again */
			copied = tx_copy_reqs(c, cons, reqs, copied, avail);
			v = nb_tx_parse(&reqs[i], copied - i, &d);
		}

		if (v == NB_TX_FATAL) {
			t->fatal_why = d.reason;
			break;
		}
		if (v == NB_TX_OK) {
			if (used == nstash) {
				if (rate)
					q->rate_remaining +=
						reqs[i].size; /* charged again on retry */
				break; /* pool exhausted: leave the requests queued, retry */
			}
			pkt = stash[used++];
			if (used < nstash)
				__builtin_prefetch(stash[used]->hdr, 1); /* the next head's copy */
			if (c->pmap && i + d.nr_slots < copied) {
				/* the next packet's first bytes, written by the guest's CPU:
				 * start the miss while this packet is built */
				const struct netif_tx_request *r = &reqs[i + d.nr_slots];
				const uint8_t *va = nb_pmap_peek(c->pmap, r->gref); /* no map */
				if (va)
					__builtin_prefetch(va + (r->offset & 4095u));
			}
		}
		if (d.nr_slots == 1) {
			/* the common single-slot packet */
			nb_cmpl_set(&c->cmpl, at, reqs[i].id,
				    v == NB_TX_DROP ? NETIF_RSP_ERROR : NETIF_RSP_OKAY);
		} else {
			for (unsigned j = 0; j < d.nr_slots; j++) {
				bool extra = j >= 1 && j < 1 + d.nr_extras;
				int16_t st = extra ? NETIF_RSP_NULL
						   : (v == NB_TX_DROP ? NETIF_RSP_ERROR
								      : NETIF_RSP_OKAY);
				nb_cmpl_set(&c->cmpl, at + j, reqs[i + j].id, st);
			}
		}
		if (v != NB_TX_OK) {
			if (v == NB_TX_DROP) {
				t->drops[d.reason]++;
				PVLOG_RL(DEBUG, NB_MOD, "%s: TX drop: %s", vif->name,
					 nb_drop_reason_name(d.reason));
			}
			nb_cmpl_mark_ready(&c->cmpl, at, d.nr_slots);
			i += d.nr_slots;
			continue;
		}

		pkt->src_kind = PVNET_PKT_SRC_GRANT;
		pkt->src.domid = vif->domid;
		pkt->src.nr_frags = (uint16_t)d.nr_data;
		pkt->src.frags[0] =
			(struct pvnet_pkt_frag){reqs[i].gref, reqs[i].offset, d.first_size};
		for (unsigned k = 1; k < d.nr_data; k++) {
			const struct netif_tx_request *r = &reqs[i + d.nr_extras + k];
			pkt->src.frags[k] = (struct pvnet_pkt_frag){r->gref, r->offset, r->size};
		}
		pkt->len = d.len;
		pkt->head_size = d.len < NB_TX_HEAD_MAX ? d.len : NB_TX_HEAD_MAX;
		pkt->src.tail_off = pkt->head_size;
		if (d.flags & NETTXF_csum_blank)
			pkt->flags |= PVNET_PKT_F_CSUM_BLANK;
		if (d.flags & NETTXF_data_validated)
			pkt->flags |= PVNET_PKT_F_DATA_VALIDATED;
		pkt->gso_type = d.gso_type;
		pkt->gso_size = d.gso_size;
		pkt->src.cookie = (uint64_t)at | (uint64_t)d.nr_slots << 32;
		pkt->done = tx_done;
		pkt->done_arg = c;
		t->op_first[t->batch.count] = t->nops;
		if (c->pmap && head_copy_mapped(c->pmap, pkt, pkt->head_size))
			t->op_count[t->batch.count] = 0;
		else
			t->op_count[t->batch.count] =
				head_ops(pkt, pkt->head_size, t->ops + t->nops);
		t->nops += t->op_count[t->batch.count];
		t->extras[t->batch.count] = d.nr_extras;
		t->batch.pkts[t->batch.count++] = pkt;
		i += d.nr_slots;
	}
	q->tx_cons = cons + i;
	if (used < nstash)
		pvnet_pkt_put_bulk(stash + used, nstash - used); /* unused: back in one go */
	return i;
}

/* Stage 2: the heads that were not copied from mappings, in one grant-copy batch. */
static inline void tx_copy(struct tx_burst *t)
{
	if (t->nops)
		gnttab_copy(t->q->vif->nb->hv, 0, t->ops, t->nops);
	/* every packet now holds a reference on the completion state */
	if (t->batch.count)
		__atomic_fetch_add(&t->c->refs, t->batch.count, __ATOMIC_RELAXED);
}

/* Stage 3: checks, the switch, the responses, the counters. */
static inline void tx_submit(struct tx_burst *t)
{
	struct nb_vif *vif = t->q->vif;
	struct nb_txc *c = t->c;
	struct pvnet_pkt_batch fwd;
	uint64_t bytes = 0;

	nb_cur_txc = c;
	nb_cur_done = 0;
	fwd.count = 0;
	for (unsigned p = 0; p < t->batch.count; p++) {
		struct pvnet_pkt *pkt = t->batch.pkts[p];
		int reason = -1;

		for (unsigned k = 0; k < t->op_count[p]; k++)
			if (t->ops[t->op_first[p] + k].status != GNTST_okay)
				reason = NB_DROP_TX_COPY_ERROR;
		if (reason < 0 && !tx_offload_setup(pkt))
			reason = NB_DROP_TX_CSUM_SETUP;
		if (reason >= 0) {
			RING_IDX at = (RING_IDX)pkt->src.cookie;
			unsigned ns = (unsigned)(pkt->src.cookie >> 32);
			for (unsigned j = 0; j < ns; j++)
				if (j == 0 || j >= 1 + t->extras[p])
					nb_cmpl_set_status(&c->cmpl, at + j, NETIF_RSP_ERROR);
			t->drops[reason]++;
			PVLOG_RL(DEBUG, NB_MOD, "%s: TX drop: %s", vif->name,
				 nb_drop_reason_name((unsigned)reason));
			pvnet_pkt_put(pkt);
			continue;
		}
		if (pkt->head_size == pkt->len)
			pkt->src_kind = PVNET_PKT_SRC_LOCAL; /* all of it is in hdr[] */
		bytes += pkt->len;
		fwd.vlan_tci[fwd.count] = 0;
		fwd.pkts[fwd.count++] = pkt;
	}
	if (fwd.count) {
		unsigned n = fwd.count;
		/* no per-vif lock: the queues of one vif enter the switch from their
		 * own workers at once (vsw_input's contract allows it for one port) */
		vsw_input(vif->br, vif->port, &fwd);
		nb_add(&vif->tx_packets, n);
		nb_add(&vif->tx_bytes, bytes);
	}
	nb_cur_txc = NULL;
	/* seq_cst: this burst's ready flags before the pusher's busy flag is examined */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	nb_txc_push(c);
	txc_put_n(c, nb_cur_done); /* never the last: the queue holds one */
	for (unsigned r = 0; r < NB_DROP__MAX; r++)
		nb_add(&vif->drops[r], t->drops[r]);
}

/* One burst of requests [q->tx_cons, prod); prod was read once by the caller. */
static __attribute__((noinline)) unsigned tx_burst(struct nb_queue *q, RING_IDX prod)
{
	struct nb_vif *vif = q->vif;
	struct nb *nb = vif->nb;
	struct nb_txc *c = q->txc;
	struct tx_burst t;
	unsigned i, avail;
	RING_IDX next;
	uint64_t rate, now = 0;

	pvnet_rmb(); /* req_prod before the requests it publishes */
	next = __atomic_load_n(&c->cmpl.next, __ATOMIC_ACQUIRE);
	avail = prod - q->tx_cons;
	if (avail > NB_TX_RING || prod - next > NB_TX_RING) {
		nb_vif_fatal(vif, nb_tx_fatal_name(NB_TXF_PROD_OVERFLOW));
		return 0;
	}
	if ((vif->features & NB_FEAT_PERSISTENT) && !c->pmap &&
	    nb_pmap_create(nb->hv, vif->domid, false, &c->pmap) < 0)
		c->pmap = NULL; /* no memory: grant copy, as without the feature */
	rate = __atomic_load_n(&vif->rate, __ATOMIC_RELAXED);
	if (rate || q->rate_seen) {
		now = pvnet_now_ns(); /* vDSO, once per burst */
		if (!nb_rate_begin(q, rate, now))
			return 0; /* out of credit until the next window: leave them queued */
	}
	t.q = q;
	t.c = c;
	t.nops = 0;
	t.fatal_why = NB_TXF_NONE;
	memset(t.drops, 0, sizeof(t.drops));

	i = tx_build(&t, avail, rate, now);
	tx_copy(&t);
	tx_submit(&t);
	if (t.fatal_why != NB_TXF_NONE)
		nb_vif_fatal(vif, nb_tx_fatal_name(t.fatal_why));
	return i ? i : (t.fatal_why != NB_TXF_NONE);
}
