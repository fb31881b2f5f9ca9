/* SPDX-License-Identifier: MIT */
/*
 * netfront's guest half of NIC Levels 2-3 (docs/nic-levels.md): the queue pair
 * dom0 attached to this vif, driven straight from queue 0's data thread.
 *
 * Discovery, as Xen's netaccel did: the backend publishes `accel-frontend`
 * (plugin name) and `accel-qp` (queue-pair index) in its vif dir once it has
 * registered our buffer pools in the NIC's IOMMU; we fetch the qp's memfd,
 * doorbell and interrupt fds with the ACCEL_QP hypercall and map the rings.
 * The backend removes the nodes after it freed the NIC port (the NIC then
 * touches none of our pages), and we stop using the qp.
 *
 * Buffers: TX frames stay in the TX pool pages the TAP read them into (the same
 * pool the rings use, granted read-only to dom0 and registered at IOVA
 * gref << 12); RX uses a separate pool of NF_ACCEL_RX_POOL writable pages,
 * page i at IOVA (rx_ref + i) << 12, posted in ring order (slot s <-> page s %
 * pool). Neither pool is ever revoked while connected.
 *
 * What goes on the fast path (the "local MACs" rule): a frame takes the qp
 * unless its destination is broadcast/multicast, or one of the MACs in the
 * backend's `accel-local-macs` (other guests on this host the NIC cannot reach:
 * they are served by dom0's switch), or the qp cannot take it now (detached,
 * ring error, ring full, more than NF_ACCEL_TX_MAX_PAGES pages in flight, a GSO
 * type the NIC lacks). Declined frames go to the rings unchanged, so detach
 * loses nothing: frames already posted wait on the qp until attach, new ones
 * use the rings. A qp that is merely busy (ring or page budget full while
 * attached) is not a reason to spill to dom0: the thread stops reading the TAP
 * until the NIC completes (nf_accel_tx_blocked), as a NIC queue backpressures
 * its stack; the rate limit on the NIC shapes the guest the same way.
 *
 * Threads: nf_accel_update/disconnect run on the control thread; the rest on
 * queue 0's thread. They meet through two flags (want: control -> thread,
 * using: thread -> control, acquire/release) and the MAC table's seqlock. The
 * data path makes no hypercall and takes no lock; one doorbell write per TX burst.
 *
 * Interrupts: the qp's irq_enable stays 0 while the thread polls; nf_accel_pending
 * (before a sleep) arms it and looks at both rings once more, so the device raises
 * irq_fd only for a thread that sleeps, and the thread reads it once per real
 * wake-up. Receive: single-slot frames go through GRO (accel_gro.c), one TAP write
 * per run of TCP segments.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/accel_plugin.h>
#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/log.h>
#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

#include "nf_private.h"

#define PAGE 4096u
#define GSO_SLOT 0xffffu

struct nf_accel {
	struct nf_vif *vif;
	/* RX pool: allocated once for the life of the vif */
	uint64_t rx_pfn;
	grant_ref_t rx_ref;
	uint8_t *rx_pages;

	/* control thread */
	struct hvc_accel_qp map;
	void *mem;
	char plugin[ACCEL_NAME_MAX];
	char macs_str[18 * 16];
	uint32_t want;  /* atomic: the thread should use the qp */
	uint32_t using; /* atomic: the thread uses it */

	/* local MACs: seqlock, written by control, read once per burst by the thread */
	uint32_t mac_seq;
	unsigned n_macs;
	uint8_t macs[16][6];

	/* queue 0's thread */
	struct accel_qp_shared *sh;
	struct accel_desc *txr, *rxr;
	uint32_t mask, ring_len;
	uint32_t tx_prod, tx_done, rx_prod, rx_next;
	unsigned tx_inflight; /* TX pool pages on the qp */
	bool tx_dirty;
	uint32_t l_seq;
	unsigned l_n;
	uint8_t l_macs[16][6];
	uint16_t tx_slot_page[ACCEL_PAGE_SIZE / sizeof(struct accel_desc) * 16]; /* by slot */
	bool irq_armed;         /* irq_enable is 1: we may sleep on irq_fd (see nf_accel_pending) */
	uint64_t armed_wakeups; /* q->wakeups when armed: unchanged = we did not sleep */
	bool gro_off;           /* PVNET_NF_GRO=0: one TAP write per NIC frame */
	int64_t last_work_ns, spin_ns; /* adaptive busy-poll window (nf_accel_pending) */
	struct nf_gro gro;

	/* counters (thread writes, control reads after it stopped or at logging) */
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes, tx_nic_err, rx_err, attaches;
	uint64_t irq_arms, irq_wakes, spins;
	uint64_t declined[NF_ACCEL_DECL__COUNT];
};

static const char *const decl_names[NF_ACCEL_DECL__COUNT] = {"group", "local", "detached",
							     "full",  "gso",   "big"};

/* An integer knob from pvnet-guest's environment (inherited from pvnetd). */
static long env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (!v || !*v)
		return def;
	x = strtol(v, &end, 10);
	if (*end || x < min || x > max) {
		PVLOG(WARN, MOD, "%s='%s' ignored (%ld..%ld)", name, v, min, max);
		return def;
	}
	return x;
}

int nf_accel_create(struct nf_vif *vif, struct nf_alloc *a)
{
	struct nf_accel *acc;
	grant_ref_t ref;

	if (vif->acc)
		return 0;
	acc = calloc(1, sizeof(*acc));
	if (!acc)
		return -ENOMEM;
	if (a->end_pfn - a->next_pfn < NF_ACCEL_RX_POOL ||
	    a->end_ref - a->next_ref < NF_ACCEL_RX_POOL) {
		free(acc);
		return -ENOMEM;
	}
	acc->rx_pfn = a->next_pfn;
	ref = a->next_ref;
	a->next_pfn += NF_ACCEL_RX_POOL;
	a->next_ref += NF_ACCEL_RX_POOL;
	acc->rx_ref = ref;
	acc->rx_pages = a->mem + acc->rx_pfn * PAGE;
	acc->vif = vif;
	acc->map.mem_fd = acc->map.doorbell_fd = acc->map.irq_fd = -1;
	acc->gro_off = env_long("PVNET_NF_GRO", 1, 0, 1) == 0;
	acc->spin_ns =
		env_long("PVNET_NF_ACCEL_SPIN_US", NF_ACCEL_SPIN_US_DEFAULT, 0, 10000) * 1000;
	vif->acc = acc;
	return 0;
}

grant_ref_t nf_accel_rx_ref(const struct nf_vif *vif)
{
	return vif->acc->rx_ref;
}

void nf_accel_grant(struct nf_vif *vif)
{
	struct nf_accel *acc = vif->acc;
	struct nf_alloc *a = vif->alloc;

	if (!acc)
		return;
	for (unsigned i = 0; i < NF_ACCEL_RX_POOL; i++) {
		struct grant_entry_v1 *e = &a->gnt[acc->rx_ref + i];
		uint16_t fl = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
		/* still granted from the last connection (dom0 held it): keep it */
		if ((fl & GTF_type_mask) == GTF_permit_access && e->domid == vif->backend_id &&
		    e->frame == acc->rx_pfn + i && !(fl & GTF_readonly))
			continue;
		gnttab_grant_access(a->gnt, acc->rx_ref + i, vif->backend_id,
				    (uint32_t)(acc->rx_pfn + i), false);
	}
}

int nf_accel_write_keys(struct nf_vif *vif, uint32_t tx)
{
	struct nf_accel *acc = vif->acc;
	char path[192];
	int rc = 0;

	if (!acc || vif->nr_queues != 1)
		return 0;
	snprintf(path, sizeof(path), "%s/accel-tx-pool", vif->fe);
	rc |= xs_client_printf(vif->xs, tx, path, "%u %u", vif->q[0]->tx_ref_base, NF_TX_POOL);
	snprintf(path, sizeof(path), "%s/accel-rx-pool", vif->fe);
	rc |= xs_client_printf(vif->xs, tx, path, "%u %u", acc->rx_ref, NF_ACCEL_RX_POOL);
	return rc ? -EIO : 0;
}

/* ---- data path (queue 0's thread) -------------------------------------------------- */

static void qp_doorbell(struct nf_accel *acc)
{
	uint64_t one = 1;

	if (write(acc->map.doorbell_fd, &one, sizeof(one)) < 0)
		PVLOG_RL(WARN, MOD, "%s: NIC doorbell: %s", acc->vif->ifname, strerror(errno));
}

/* Takes the qp into use: post every RX buffer. */
static void thread_start(struct nf_queue *q, struct nf_accel *acc)
{
	acc->sh = acc->mem;
	acc->txr = (struct accel_desc *)((uint8_t *)acc->mem + acc->map.tx_ring_off);
	acc->rxr = (struct accel_desc *)((uint8_t *)acc->mem + acc->map.rx_ring_off);
	acc->ring_len = acc->map.ring_len;
	acc->mask = acc->ring_len - 1;
	/* a qp we used before (reattach) keeps its indices: continue from them */
	acc->tx_prod = acc->tx_done = accel_ring_load(&acc->sh->tx_cons);
	accel_ring_store(&acc->sh->tx_prod, acc->tx_prod);
	acc->rx_next = acc->rx_prod = accel_ring_load(&acc->sh->rx_cons);
	acc->tx_inflight = 0;
	acc->l_seq = 1; /* odd: never equal, forces a copy of the MAC table */
	/* no interrupts while the thread runs: it arms them before it sleeps */
	accel_ring_store(&acc->sh->irq_enable, 0);
	acc->irq_armed = false;
	acc->last_work_ns = 0;
	nf_gro_reset(&acc->gro);
	for (uint32_t i = 0; i < acc->ring_len && i < NF_ACCEL_RX_POOL; i++) {
		uint32_t page = acc->rx_prod & (NF_ACCEL_RX_POOL - 1);
		acc->rxr[acc->rx_prod & acc->mask] = (struct accel_desc){
			.iova = (uint64_t)(acc->rx_ref + page) << 12, .len = PAGE, .id = page};
		acc->rx_prod++;
	}
	accel_ring_store(&acc->sh->rx_prod, acc->rx_prod); /* buffers before the index */
	qp_doorbell(acc);
	acc->attaches++;
	(void)q;
}

/* Stops using the qp: the NIC port is gone (or we are disconnecting), so the TX
 * pages still on it are ours again. */
static void thread_stop(struct nf_queue *q, struct nf_accel *acc)
{
	for (uint32_t i = acc->tx_done; i != acc->tx_prod; i++) {
		uint16_t id = acc->tx_slot_page[i & acc->mask];
		if (id != GSO_SLOT && id < NF_TX_POOL && q->tx_state[id] == NF_TX_ACCEL) {
			q->tx_state[id] = NF_TX_FREE;
			q->tx_free[q->tx_nfree++] = id;
		}
	}
	acc->tx_done = acc->tx_prod;
	acc->tx_inflight = 0;
}

static bool qp_usable(const struct nf_accel *acc)
{
	uint32_t st = accel_ring_load(&acc->sh->status);
	return !(st & (ACCEL_QP_S_DETACHED | ACCEL_QP_S_RING_ERR));
}

static bool mac_is_local(struct nf_accel *acc, const uint8_t *dst)
{
	for (unsigned i = 0; i < acc->l_n; i++)
		if (!memcmp(acc->l_macs[i], dst, 6))
			return true;
	return false;
}

/* Copies the control thread's MAC table when it changed (seqlock read side). */
static void macs_sync(struct nf_accel *acc)
{
	uint32_t s1 = __atomic_load_n(&acc->mac_seq, __ATOMIC_ACQUIRE);

	if (s1 == acc->l_seq || (s1 & 1))
		return;
	unsigned n = acc->n_macs;
	if (n > 16)
		n = 16;
	memcpy(acc->l_macs, acc->macs, sizeof(acc->l_macs));
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the copy before re-reading the sequence */
	if (__atomic_load_n(&acc->mac_seq, __ATOMIC_RELAXED) != s1)
		return; /* torn: retry next burst */
	acc->l_n = n;
	acc->l_seq = s1;
}

bool nf_accel_tx(struct nf_queue *q, const struct virtio_net_hdr *vh, uint32_t len)
{
	struct nf_accel *acc = q->acc;
	const uint8_t *frame;
	uint32_t nslots, need, gso_type = 0, room;

	if (!acc || !__atomic_load_n(&acc->using, __ATOMIC_RELAXED))
		return false;
	frame = q->tx_pages + (size_t)q->tx_free[q->tx_nfree - 1] * PAGE;
	if (frame[0] & 1) {
		acc->declined[NF_ACCEL_DECL_GROUP]++;
		return false;
	}
	if (mac_is_local(acc, frame)) {
		acc->declined[NF_ACCEL_DECL_LOCAL]++;
		return false;
	}
	if (!qp_usable(acc)) {
		acc->declined[NF_ACCEL_DECL_DETACHED]++;
		return false;
	}
	switch (vh->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		gso_type = ACCEL_GSO_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		gso_type = ACCEL_GSO_TCPV6;
		break;
	default: /* ECN, UDP: the rings (and their checks) handle it */
		acc->declined[NF_ACCEL_DECL_GSO]++;
		return false;
	}
	if (gso_type && vh->gso_size == 0) {
		acc->declined[NF_ACCEL_DECL_GSO]++;
		return false;
	}
	if (len > ACCEL_PKT_MAX) {
		acc->declined[NF_ACCEL_DECL_BIG]++;
		return false;
	}
	nslots = (len + PAGE - 1) / PAGE;
	need = nslots + (gso_type ? 1 : 0);
	room = acc->ring_len - (acc->tx_prod - accel_ring_load(&acc->sh->tx_cons));
	if (room < need || acc->tx_inflight + nslots > NF_ACCEL_TX_MAX_PAGES) {
		acc->declined[NF_ACCEL_DECL_FULL]++;
		return false;
	}
	if (gso_type) {
		acc->tx_slot_page[acc->tx_prod & acc->mask] = GSO_SLOT;
		acc->txr[acc->tx_prod & acc->mask] = (struct accel_desc){
			.iova = (uint64_t)vh->gso_size | (uint64_t)gso_type << 16,
			.flags = ACCEL_DESC_F_GSO,
			.id = GSO_SLOT};
		acc->tx_prod++;
	}
	/* the pages the TAP filled, from the top of the free stack, in order */
	for (uint32_t s = 0; s < nslots; s++) {
		uint16_t id = q->tx_free[--q->tx_nfree];
		uint32_t size = len - s * PAGE > PAGE ? PAGE : len - s * PAGE;
		uint16_t fl = (uint16_t)((s + 1 < nslots ? ACCEL_DESC_F_MORE : 0) |
					 (s == 0 && (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
						  ? ACCEL_DESC_F_CSUM
						  : 0));
		q->tx_state[id] = NF_TX_ACCEL;
		acc->tx_slot_page[acc->tx_prod & acc->mask] = id;
		acc->txr[acc->tx_prod & acc->mask] =
			(struct accel_desc){.iova = (uint64_t)(q->tx_ref_base + id) << 12,
					    .len = (uint16_t)size,
					    .flags = fl,
					    .id = id};
		acc->tx_prod++;
	}
	acc->tx_inflight += nslots;
	acc->tx_dirty = true;
	acc->tx_pkts++;
	acc->tx_bytes += len;
	return true;
}

bool nf_accel_tx_blocked(const struct nf_queue *q)
{
	const struct nf_accel *acc = q->acc;

	if (!acc || !__atomic_load_n(&acc->using, __ATOMIC_RELAXED) || !qp_usable(acc))
		return false;
	/* room for one maximal frame (data slots + the GSO slot) */
	return acc->tx_inflight + NF_TX_MAX_DATA_SLOTS > NF_ACCEL_TX_MAX_PAGES ||
	       acc->ring_len - (acc->tx_prod - accel_ring_load(&acc->sh->tx_cons)) <
		       NF_TX_MAX_DATA_SLOTS + 1;
}

void nf_accel_tx_flush(struct nf_queue *q)
{
	struct nf_accel *acc = q->acc;

	if (!acc || !acc->tx_dirty)
		return;
	acc->tx_dirty = false;
	accel_ring_store(&acc->sh->tx_prod, acc->tx_prod); /* descriptors before the index */
	qp_doorbell(acc);
}

/* TX completions: pages back to the free stack. */
static unsigned tx_complete(struct nf_queue *q, struct nf_accel *acc)
{
	uint32_t cons = accel_ring_load(&acc->sh->tx_cons); /* completions before the index */
	unsigned n = 0;

	if (cons - acc->tx_done > acc->tx_prod - acc->tx_done) {
		PVLOG_RL(WARN, MOD, "%s: NIC TX consumer beyond our producer", q->vif->ifname);
		return 0;
	}
	for (; acc->tx_done != cons; acc->tx_done++, n++) {
		uint32_t slot = acc->tx_done & acc->mask;
		uint16_t id = acc->tx_slot_page[slot];
		uint16_t fl = __atomic_load_n(&acc->txr[slot].flags, __ATOMIC_RELAXED);

		if (id == GSO_SLOT)
			continue;
		if ((fl & ACCEL_DESC_F_ERR) && !(fl & ACCEL_DESC_F_MORE))
			acc->tx_nic_err++; /* one per dropped packet (its last slot) */
		if (id < NF_TX_POOL && q->tx_state[id] == NF_TX_ACCEL) {
			q->tx_state[id] = NF_TX_FREE;
			q->tx_free[q->tx_nfree++] = id;
			acc->tx_inflight--;
		}
	}
	return n;
}

static void rx_tap_write(struct nf_queue *q, const struct iovec *iov, unsigned n, uint32_t bytes,
			 bool gso)
{
	if (writev(q->tap_fd, iov, (int)n) < 0) {
		q->drops[NF_DROP_RX_TAP_WRITE]++;
		if (gso && errno == EINVAL && !q->acc->gro_off) {
			/* a TAP that refuses GSO frames: this one is lost (TCP resends
			 * it), the next ones go one by one */
			q->acc->gro_off = true;
			PVLOG(WARN, MOD, "%s: the TAP refused a GSO frame; receive coalescing off",
			      q->vif->ifname);
			return;
		}
		PVLOG_RL(WARN, MOD, "%s: TAP write: %s", q->vif->ifname, strerror(errno));
		return;
	}
	q->rx_pkts++;
	q->rx_bytes += bytes;
	if (gso)
		q->rx_gso_pkts++;
}

/* Writes the super-frame GRO holds, if any. */
static void gro_flush(struct nf_queue *q, struct nf_accel *acc)
{
	struct iovec *iov;
	uint32_t bytes;
	unsigned n = nf_gro_finish(&acc->gro, &iov, &bytes);

	if (n)
		rx_tap_write(q, iov, n, bytes, n > 2);
}

/*
 * RX completions -> TAP, buffers reposted. Single-slot frames go through GRO
 * (accel_gro.c): a run of segments of one TCP flow is one TAP write. Held frames
 * point into RX pages, so the burst ends with a flush before any page is reposted.
 */
static unsigned rx_harvest(struct nf_queue *q, struct nf_accel *acc)
{
	uint32_t cons = accel_ring_load(&acc->sh->rx_cons); /* completions before the index */
	unsigned pkts = 0;
	uint32_t used = 0;

	if (cons - acc->rx_next > acc->rx_prod - acc->rx_next) {
		PVLOG_RL(WARN, MOD, "%s: NIC RX consumer beyond our producer", q->vif->ifname);
		return 0;
	}
	while (acc->rx_next + used != cons && pkts < acc->ring_len) {
		struct iovec iov[1 + ACCEL_TX_MAX_SLOTS];
		struct virtio_net_hdr vh = {.gso_type = VIRTIO_NET_HDR_GSO_NONE};
		uint32_t n = 0, total = 0, start = acc->rx_next + used;
		bool bad = false, whole = false;
		uint16_t first = 0;

		while (start + n != cons && n < ACCEL_TX_MAX_SLOTS) {
			/* one read of each completion into a local */
			struct accel_desc d =
				*(volatile struct accel_desc *)&acc->rxr[(start + n) & acc->mask];
			uint32_t page = (start + n) & (NF_ACCEL_RX_POOL - 1);
			if (n == 0)
				first = d.flags;
			if ((d.flags & ACCEL_DESC_F_ERR) || d.len > PAGE)
				bad = true;
			iov[1 + n].iov_base = acc->rx_pages + (size_t)page * PAGE;
			iov[1 + n].iov_len = bad ? 0 : d.len;
			total += bad ? 0 : d.len;
			n++;
			if (!(d.flags & ACCEL_DESC_F_MORE)) {
				whole = true;
				break;
			}
		}
		if (!whole && n < ACCEL_TX_MAX_SLOTS)
			break; /* the NIC publishes whole chains; look again later */
		used += n;
		pkts++;
		if (bad || !whole || total < 14) {
			acc->rx_err++;
			continue;
		}
		acc->rx_pkts++;
		acc->rx_bytes += total;
		if (n == 1 && !acc->gro_off) {
			const uint8_t *f = iov[1].iov_base;
			bool ok = first & ACCEL_DESC_F_CSUM_OK;

			if (nf_gro_merge(&acc->gro, f, total, ok))
				continue;
			gro_flush(q, acc);
			if (nf_gro_start(&acc->gro, f, total, ok))
				continue;
		} else {
			gro_flush(q, acc); /* keep the order of the flow's frames */
		}
		if (first & ACCEL_DESC_F_CSUM_OK)
			vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
		iov[0].iov_base = &vh;
		iov[0].iov_len = sizeof(vh);
		rx_tap_write(q, iov, 1 + n, total, false);
	}
	gro_flush(q, acc);
	acc->rx_next += used;
	/* repost the pages of the consumed slots: slot s <-> page s % pool */
	while (acc->rx_prod - acc->rx_next < acc->ring_len &&
	       acc->rx_prod - acc->rx_next < NF_ACCEL_RX_POOL) {
		uint32_t page = acc->rx_prod & (NF_ACCEL_RX_POOL - 1);
		acc->rxr[acc->rx_prod & acc->mask] = (struct accel_desc){
			.iova = (uint64_t)(acc->rx_ref + page) << 12, .len = PAGE, .id = page};
		acc->rx_prod++;
	}
	if (used)
		accel_ring_store(&acc->sh->rx_prod, acc->rx_prod); /* buffers before the index */
	return pkts;
}

unsigned nf_accel_poll(struct nf_queue *q)
{
	struct nf_accel *acc = q->acc;
	bool want, using;
	unsigned work;

	if (!acc)
		return 0;
	want = __atomic_load_n(&acc->want, __ATOMIC_ACQUIRE); /* the mapping before its use */
	using = __atomic_load_n(&acc->using, __ATOMIC_RELAXED);
	if (want && !using) {
		thread_start(q, acc);
		__atomic_store_n(&acc->using, 1, __ATOMIC_RELEASE);
	} else if (!want && using) {
		thread_stop(q, acc);
		__atomic_store_n(&acc->using, 0, __ATOMIC_RELEASE); /* control may unmap now */
		return 1;
	}
	if (!want)
		return 0;
	if (acc->irq_armed) {
		/* interrupts off again while we poll. After a sleep, one read consumes
		 * the wake-up (the rings say what to do); without one, a signal the
		 * device may have raised meanwhile stays pending and ends the next
		 * sleep at once, where this read clears it: never a syscall per loop */
		accel_ring_store(&acc->sh->irq_enable, 0);
		acc->irq_armed = false;
		if (q->wakeups != acc->armed_wakeups) {
			nf_drain_eventfd(acc->map.irq_fd);
			acc->irq_wakes++;
		}
	}
	macs_sync(acc);
	work = tx_complete(q, acc);
	work += rx_harvest(q, acc);
	if (work && acc->spin_ns)
		acc->last_work_ns = (int64_t)pvnet_now_ns();
	return work;
}

/* Completions we have not harvested yet (RX frames, or TX slots of ours). */
static bool qp_has_work(const struct nf_accel *acc)
{
	return accel_ring_load(&acc->sh->rx_cons) != acc->rx_next ||
	       accel_ring_load(&acc->sh->tx_cons) != acc->tx_done;
}

/*
 * Interrupts on before sleeping, then one more look at the rings: a completion
 * published before the device saw irq_enable = 1 is found here, one after it
 * raises irq_fd. Returns true if there is work after all.
 */
static bool irq_arm(const struct nf_queue *q, struct nf_accel *acc)
{
	if (!acc->irq_armed) {
		accel_ring_store(&acc->sh->irq_enable, 1);
		acc->irq_armed = true;
		acc->armed_wakeups = q->wakeups;
		acc->irq_arms++;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* irq_enable before re-reading the indices */
	return qp_has_work(acc);
}

int nf_accel_wait_fd(const struct nf_queue *q)
{
	struct nf_accel *acc = q->acc;

	/* the thread itself sets `using`; the control thread closes the fd only after it
	 * cleared it */
	if (!acc || !__atomic_load_n(&acc->using, __ATOMIC_RELAXED))
		return -1;
	if (!acc->irq_armed && irq_arm(q, acc)) {
		uint64_t one = 1;
		/* work arrived since nf_accel_pending: make the sleep return at once */
		if (write(acc->map.irq_fd, &one, sizeof(one)) < 0)
			PVLOG_RL(WARN, MOD, "%s: self-wake: %s", acc->vif->ifname, strerror(errno));
	}
	return acc->map.irq_fd;
}

bool nf_accel_pending(const struct nf_queue *q)
{
	struct nf_accel *acc = q->acc;

	if (!acc)
		return false;
	if (__atomic_load_n(&acc->want, __ATOMIC_RELAXED) !=
	    __atomic_load_n(&acc->using, __ATOMIC_RELAXED))
		return true;
	if (!acc->using)
		return false;
	if (qp_has_work(acc))
		return true;
	/*
	 * Adaptive busy-poll: right after qp work the next frame or completion is
	 * usually microseconds away, while a sleep costs poll() + a wake-up. Bounded
	 * by spin_ns after the last work, and yielding: on 2 cores the NIC engine or
	 * the guest stack may need this CPU to produce that work.
	 */
	if (acc->spin_ns && acc->last_work_ns &&
	    (int64_t)pvnet_now_ns() - acc->last_work_ns < acc->spin_ns) {
		acc->spins++;
		sched_yield();
		return true;
	}
	return irq_arm(q, acc);
}

/* ---- control thread ------------------------------------------------------------------ */

static void kick(struct nf_accel *acc)
{
	struct nf_queue *q = acc->vif->q[0];
	uint64_t one = 1;

	/* queue 0's thread polls its stop eventfd and drains it unless told to stop */
	if (q && q->thread_running && q->stop_fd >= 0 && write(q->stop_fd, &one, sizeof(one)) < 0)
		PVLOG(WARN, MOD, "%s: waking queue 0: %s", acc->vif->ifname, strerror(errno));
}

static void unmap_qp(struct nf_accel *acc)
{
	if (acc->mem)
		munmap(acc->mem, acc->map.mem_size);
	acc->mem = NULL;
	if (acc->map.mem_fd >= 0)
		close(acc->map.mem_fd);
	if (acc->map.doorbell_fd >= 0)
		close(acc->map.doorbell_fd);
	if (acc->map.irq_fd >= 0)
		close(acc->map.irq_fd);
	acc->map.mem_fd = acc->map.doorbell_fd = acc->map.irq_fd = -1;
	acc->plugin[0] = 0;
}

/* Asks the thread to stop using the qp and waits (bounded) until it did. */
static void stop_using(struct nf_vif *vif, struct nf_accel *acc)
{
	struct nf_queue *q = vif->q[0];

	__atomic_store_n(&acc->want, 0, __ATOMIC_RELEASE);
	if (q && q->thread_running) {
		for (int i = 0; i < 2000 && __atomic_load_n(&acc->using, __ATOMIC_ACQUIRE); i++) {
			struct timespec ts = {0, 500000};
			kick(acc);
			nanosleep(&ts, NULL);
		}
		if (__atomic_load_n(&acc->using, __ATOMIC_ACQUIRE)) {
			PVLOG(ERR, MOD,
			      "%s: queue 0 did not release the NIC queue pair; kept mapped",
			      vif->ifname);
			return;
		}
	} else if (q && acc->using) {
		thread_stop(q, acc); /* no thread: do it here */
		acc->using = 0;
	}
	PVLOG(INFO, MOD,
	      "%s: accelerator %s detached (tx %llu pkts, rx %llu pkts, nic tx "
	      "errors %llu, rx errors %llu)",
	      vif->ifname, acc->plugin[0] ? acc->plugin : "-", (unsigned long long)acc->tx_pkts,
	      (unsigned long long)acc->rx_pkts, (unsigned long long)acc->tx_nic_err,
	      (unsigned long long)acc->rx_err);
	unmap_qp(acc);
}

static int read_node(struct nf_vif *vif, const char *key, char *buf, size_t size)
{
	char path[192], *val = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", vif->be, key);
	rc = xs_client_read(vif->xs, 0, path, &val, &len);
	if (rc < 0)
		return rc;
	snprintf(buf, size, "%.*s", (int)len, val);
	free(val);
	return 0;
}

static void macs_update(struct nf_vif *vif, struct nf_accel *acc)
{
	char buf[sizeof(acc->macs_str)], *save = NULL, copy[sizeof(buf)];
	uint8_t macs[16][6];
	unsigned n = 0;

	if (read_node(vif, "accel-local-macs", buf, sizeof(buf)) < 0)
		buf[0] = 0;
	if (!strcmp(buf, acc->macs_str) && acc->mac_seq)
		return;
	snprintf(acc->macs_str, sizeof(acc->macs_str), "%s", buf);
	snprintf(copy, sizeof(copy), "%s", buf);
	for (char *t = strtok_r(copy, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save))
		if (pvnet_mac_parse(t, macs[n]) == 0)
			n++;
	/* seqlock write side: odd while the table changes */
	__atomic_store_n(&acc->mac_seq, acc->mac_seq | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE); /* odd sequence before the table */
	memcpy(acc->macs, macs, sizeof(macs));
	acc->n_macs = n;
	__atomic_store_n(&acc->mac_seq, acc->mac_seq + 1, __ATOMIC_RELEASE); /* table, then even */
	PVLOG(INFO, MOD, "%s: %u local MAC(s) kept on the rings: '%s'", vif->ifname, n, buf);
}

int nf_accel_update(struct nf_vif *vif)
{
	struct nf_accel *acc = vif->acc;
	char plugin[ACCEL_NAME_MAX], qps[16];
	struct hvc_accel_qp m;
	unsigned long qp;
	void *mem;
	int rc;

	if (!acc || !vif->running || vif->nr_queues != 1)
		return 0;
	if (read_node(vif, "accel-frontend", plugin, sizeof(plugin)) < 0 || !plugin[0]) {
		if (acc->mem)
			stop_using(vif, acc);
		return 0;
	}
	macs_update(vif, acc);
	if (acc->mem)
		return 0;
	qp = read_node(vif, "accel-qp", qps, sizeof(qps)) == 0 ? strtoul(qps, NULL, 10) : 0;
	rc = hvc_accel_qp_get(vif->hv, DOMID_SELF, vif->devid, (unsigned)qp, &m);
	if (rc < 0) {
		PVLOG(WARN, MOD, "%s: accelerator %s: queue pair %lu: %s; rings only", vif->ifname,
		      plugin, qp, strerror(-rc));
		return rc;
	}
	/* the geometry comes from dom0, still check it against the mapping */
	if (m.ring_len > 4096 || m.tx_ring_off < sizeof(struct accel_qp_shared) ||
	    m.tx_ring_off > m.mem_size || m.rx_ring_off > m.mem_size ||
	    (uint64_t)m.ring_len * sizeof(struct accel_desc) > m.mem_size - m.tx_ring_off ||
	    (uint64_t)m.ring_len * sizeof(struct accel_desc) > m.mem_size - m.rx_ring_off) {
		rc = -EPROTO;
		goto fail;
	}
	mem = mmap(NULL, m.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, m.mem_fd, 0);
	if (mem == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	acc->map = m;
	acc->mem = mem;
	snprintf(acc->plugin, sizeof(acc->plugin), "%s", plugin);
	__atomic_store_n(&acc->want, 1, __ATOMIC_RELEASE); /* the mapping before the flag */
	kick(acc);
	PVLOG(INFO, MOD, "%s: accelerator %s: queue pair %lu mapped (%u descriptors); fast path on",
	      vif->ifname, plugin, qp, m.ring_len);
	return 0;
fail:
	close(m.mem_fd);
	close(m.doorbell_fd);
	close(m.irq_fd);
	PVLOG(WARN, MOD, "%s: accelerator %s: bad queue pair: %s", vif->ifname, plugin,
	      strerror(-rc));
	return rc;
}

void nf_accel_disconnect(struct nf_vif *vif)
{
	struct nf_accel *acc = vif->acc;

	if (!acc)
		return;
	if (acc->mem)
		stop_using(vif, acc);
	acc->want = acc->using = 0;
	acc->macs_str[0] = 0;
	acc->mac_seq = 0;
}

void nf_accel_log_stats(const struct nf_vif *vif)
{
	const struct nf_accel *acc = vif->acc;
	char decl[256] = "";
	size_t off = 0;

	if (!acc || !acc->attaches)
		return;
	for (unsigned i = 0; i < NF_ACCEL_DECL__COUNT && off < sizeof(decl); i++)
		off += (size_t)snprintf(decl + off, sizeof(decl) - off, " %s=%llu", decl_names[i],
					(unsigned long long)acc->declined[i]);
	PVLOG(INFO, MOD,
	      "%s: fast path: tx %llu pkts %llu bytes, rx %llu pkts %llu bytes, nic tx "
	      "errors %llu, rx errors %llu, attaches %llu, declined to the rings:%s; gro: %llu TAP "
	      "writes, %llu super-frames of %llu frames; irq arms %llu wakes %llu, spins %llu",
	      vif->ifname, (unsigned long long)acc->tx_pkts, (unsigned long long)acc->tx_bytes,
	      (unsigned long long)acc->rx_pkts, (unsigned long long)acc->rx_bytes,
	      (unsigned long long)acc->tx_nic_err, (unsigned long long)acc->rx_err,
	      (unsigned long long)acc->attaches, decl, (unsigned long long)acc->gro.frames,
	      (unsigned long long)acc->gro.super, (unsigned long long)acc->gro.merged,
	      (unsigned long long)acc->irq_arms, (unsigned long long)acc->irq_wakes,
	      (unsigned long long)acc->spins);
}

void nf_accel_destroy(struct nf_vif *vif)
{
	if (!vif->acc)
		return;
	nf_accel_disconnect(vif);
	free(vif->acc);
	vif->acc = NULL;
}
