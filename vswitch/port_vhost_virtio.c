/* SPDX-License-Identifier: MIT */
/*
 * vhost-user port, the virtio data side: guest TX and RX on split virtqueues (see
 * include/pvnet/vhost.h for the contract, vhost_private.h for the layout).
 *
 * A guest frame is copied exactly once, straight between guest memory and the
 * pvnet_pkt / the egress packet.
 *
 * Memory layout written by the guest (virtio 1.x split ring, little endian; this
 * code runs on x86-64 only, as QEMU's TCG/KVM hosts here do):
 *   desc[num]  {u64 addr; u32 len; u16 flags; u16 next}
 *   avail      {u16 flags; u16 idx; u16 ring[num]}
 *   used       {u16 flags; u16 idx; {u32 id; u32 len} ring[num]}
 * Everything the guest can write is read once into locals and validated there.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "vhost_private.h"

/* ---- guest memory -------------------------------------------------------------------- */

void vsw_vhost_count_mem_fault(struct vsw_vhost *vh, unsigned n)
{
	if (!n)
		return;
	CNT_ADD(vh, guest_mem_fault, n);
	__atomic_store_n(&vh->mem_fault_counted, true, __ATOMIC_RELAXED);
}

/*
 * Walks the descriptor chain at `head` of `vq`, collecting its buffers into
 * segs[0..*nsegs). `want_write`: every buffer must be device-writable (RX) or
 * every one device-readable (TX). Bounds: at most vq->num descriptors (a loop
 * exceeds it), at most one indirect table (not nested, length a multiple of 16),
 * every buffer inside guest memory, total at most `max_size`. Returns the total
 * bytes, or -EINVAL.
 */
static int64_t walk_chain(const struct vsw_vhost *vh, const struct vhu_vq *vq, uint16_t head,
			  bool want_write, struct vhu_seg *segs, unsigned *nsegs, uint64_t max_size)
{
	const struct vring_desc *table = vq->desc;
	uint32_t table_len = vq->num, idx = head, budget = vq->num;
	bool indirect = false;
	uint64_t total = 0;
	unsigned n = 0;

	for (;;) {
		struct vring_desc d;

		if (idx >= table_len || budget-- == 0)
			return -EINVAL;
		memcpy(&d, (const void *)&table[idx], sizeof(d)); /* one read of guest memory */
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > VRING_MAX_NUM)
				return -EINVAL;
			table = (const struct vring_desc *)vhu_gpa_to_host(vh, d.addr, d.len);
			if (!table)
				return -EINVAL;
			indirect = true;
			table_len = d.len / sizeof(struct vring_desc);
			budget = table_len;
			idx = 0;
			continue;
		}
		if (!!(d.flags & VRING_DESC_F_WRITE) != want_write)
			return -EINVAL;
		if (d.len) {
			uint8_t *p = vhu_gpa_to_host(vh, d.addr, d.len);
			total += d.len;
			if (!p || total > max_size || n == VHU_MAX_SEGS)
				return -EINVAL;
			segs[n].p = p;
			segs[n].len = d.len;
			n++;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
	}
	*nsegs = n;
	return (int64_t)total;
}

/* Copies `size` bytes starting at byte `off` of the gathered buffers into dst. */
static void segs_read(const struct vhu_seg *segs, unsigned n, uint32_t off, void *dst,
		      uint32_t size)
{
	uint8_t *out = dst;

	for (unsigned i = 0; i < n && size; i++) {
		if (off >= segs[i].len) {
			off -= segs[i].len;
			continue;
		}
		uint32_t c = segs[i].len - off;
		if (c > size)
			c = size;
		memcpy(out, segs[i].p + off, c);
		out += c;
		size -= c;
		off = 0;
	}
}

static void vq_push_used(struct vhu_vq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->num - 1)];

	e->id = head;
	e->len = len;
	vq->used_idx++;
}

/* Where the split ring keeps the event indexes (VIRTIO_RING_F_EVENT_IDX): the
 * guest's used_event after its avail ring, ours (avail_event) after the used ring;
 * both inside what vq_map mapped (6 + 2 num and 6 + 8 num bytes). */
static uint16_t *vq_used_event(const struct vhu_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *vq_avail_event(const struct vhu_vq *vq)
{
	return (uint16_t *)(void *)&vq->used->ring[vq->num];
}

/* Whether index `event` lies in [old, new) (mod 2^16): the other side asked to be
 * told once the index passes it (virtio 1.x 2.7.10). */
static bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Publishes the used entries written since the last call and signals the guest
 * only if it asked: used_event passed (EVENT_IDX) or interrupts not suppressed
 * (VRING_AVAIL_F_NO_INTERRUPT). One write() per burst at most, none for a polling
 * frontend. */
static void vq_publish(struct vsw_vhost *vh, struct vhu_vq *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	bool notify;

	/* release: the used elements are visible before the index that exposes them */
	__atomic_store_n(&vq->used->idx, now, __ATOMIC_RELEASE);
	/* full fence: the index store is ordered before reading the guest's flags or
	 * used_event (otherwise a guest re-enabling interrupts could miss this update) */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->call_fd < 0)
		return;
	if (vh->event_idx) {
		/* one read of the guest's index; any value is safe (at worst a spurious
		 * or a missing interrupt, the guest's own doing) */
		uint16_t ev = __atomic_load_n(vq_used_event(vq), __ATOMIC_RELAXED);
		notify = vring_need_event(ev, now, old);
	} else {
		notify = !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
			   VRING_AVAIL_F_NO_INTERRUPT);
	}
	vq->signalled_used = now;
	if (notify) {
		uint64_t one = 1;
		if (write(vq->call_fd, &one, sizeof(one)) == sizeof(one))
			CNT_ADD(vh, calls, 1);
	}
}

/* ---- guest TX: guest -> switch ------------------------------------------------------- */

/* Maps a guest TX virtio_net_hdr onto the packet. 0 or -EINVAL. */
static int hdr_to_pkt(const struct virtio_net_hdr_mrg *h, struct pvnet_pkt *pkt)
{
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if ((uint32_t)h->csum_start + h->csum_offset + 2 > pkt->len)
			return -EINVAL;
		pkt->flags |= PVNET_PKT_F_CSUM_BLANK;
		pkt->csum_start = h->csum_start;
		pkt->csum_offset = h->csum_offset;
	} else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		pkt->flags |= PVNET_PKT_F_DATA_VALIDATED;
	}
	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		pkt->gso_type = PVNET_GSO_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		pkt->gso_type = PVNET_GSO_TCPV6;
		break;
	default: /* UFO: never negotiated */
		return -EINVAL;
	}
	if (!h->gso_size || !(pkt->flags & PVNET_PKT_F_CSUM_BLANK))
		return -EINVAL;
	pkt->gso_size = h->gso_size;
	return 0;
}

/* Reads one guest TX chain into `pkt`. 0, or -EINVAL (bad chain: counted by caller),
 * -EPROTO (bad header). */
static int tx_read_chain(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t head,
			 struct pvnet_pkt *pkt)
{
	struct vhu_seg segs[VHU_MAX_SEGS];
	struct virtio_net_hdr_mrg h = {0};
	unsigned n;
	int64_t total =
		walk_chain(vh, vq, head, false, segs, &n, (uint64_t)vh->hdr_size + pkt->buf_size);

	if (total < 0 || total < (int64_t)vh->hdr_size + PVNET_ETH_HLEN)
		return -EINVAL;
	segs_read(segs, n, 0, &h, vh->hdr_size);
	pkt->len = pkt->head_size = (uint32_t)(total - vh->hdr_size);
	segs_read(segs, n, vh->hdr_size, pkt->data, pkt->len);
	return hdr_to_pkt(&h, pkt) < 0 ? -EPROTO : 0;
}

/* Completion of a guest TX packet (last reference dropped, any thread): counts it
 * when no egress took it (the switch has counted why). */
static void tx_pkt_done(struct pvnet_pkt *pkt)
{
	struct vsw_vhost *vh = pkt->done_arg;

	/* n_tx is final here (ordered by the refcount, see vsw_egress_send) */
	if (__atomic_load_n(&pkt->n_tx, __ATOMIC_RELAXED) == 0)
		__atomic_fetch_add(&vh->tx_undelivered, 1, __ATOMIC_RELAXED);
}

/* Hands a burst to the switch (takes every packet) and notes whether most of it
 * went nowhere (every egress full, or no egress): the port thread then lets the
 * guest's ring hold the next frames for a while (tx_backoff, port_vhost.c). */
static void tx_deliver(struct vsw_vhost *vh, struct pvnet_pkt_batch *batch)
{
	unsigned count = batch->count;
	uint64_t lost = __atomic_load_n(&vh->tx_undelivered, __ATOMIC_RELAXED);

	pthread_mutex_lock(&vh->life_lock);
	if (!vh->stopping)
		vsw_input(vh->br, vh->port, batch);
	else
		pvnet_pkt_put_batch(batch); /* the port is leaving the bridge */
	pthread_mutex_unlock(&vh->life_lock);
	lost = __atomic_load_n(&vh->tx_undelivered, __ATOMIC_RELAXED) - lost;
	vh->tx_lossy = 2 * lost > count;
}

unsigned vsw_vhost_tx_burst(struct vsw_vhost *vh, struct vhu_vq *vq)
{
	struct pvnet_pkt_batch batch;
	struct pvnet_pkt *pkts[PVNET_BATCH_MAX];
	uint64_t bytes = 0;
	unsigned got, used = 0, bad = 0, badhdr = 0;
	uint16_t avail_idx, n;

	if (!vhu_vq_ready(vq))
		return 0;
	/* acquire: ring entries up to avail->idx are read after the index */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	n = (uint16_t)(avail_idx - vq->last_avail);
	if (!n)
		return 0;
	if (n > vq->num) { /* the guest broke its ring: stop serving it */
		PVLOG_RL(WARN, MOD,
			 "%s: guest TX avail index jumped by %u (ring %u): queue stopped", vh->name,
			 n, vq->num);
		CNT_ADD(vh, tx_bad_desc, 1);
		vq->started = false;
		return 0;
	}
	if (n > PVNET_BATCH_MAX)
		n = PVNET_BATCH_MAX;
	got = pvnet_pkt_alloc_bulk(vh->pool, pkts, n);
	if (got < n)
		CNT_ADD(vh, tx_pool_empty, 1);
	batch.count = 0;
	for (unsigned i = 0; i < got; i++) {
		uint16_t head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
						__ATOMIC_RELAXED);
		struct pvnet_pkt *pkt = pkts[i];
		int rc;

		vq->last_avail++;
		rc = head < vq->num ? tx_read_chain(vh, vq, head, pkt) : -EINVAL;
		/* the data is copied out: the buffer goes back to the guest at once */
		if (head < vq->num)
			vq_push_used(vq, head, 0);
		used++;
		if (rc < 0) {
			rc == -EPROTO ? badhdr++ : bad++;
			pvnet_pkt_put(pkt);
			continue;
		}
		bytes += pkt->len;
		pkt->done = tx_pkt_done;
		pkt->done_arg = vh;
		batch.vlan_tci[batch.count] = 0;
		batch.pkts[batch.count++] = pkt;
	}
	if (vhu_mem_faulted(vh)) {
		/* some chain was read from zero pages: nothing of this burst is trusted */
		vsw_vhost_count_mem_fault(vh, batch.count);
		pvnet_pkt_put_batch(&batch);
		return used;
	}
	if (used)
		vq_publish(vh, vq);
	if (bad) {
		CNT_ADD(vh, tx_bad_desc, bad);
		PVLOG_RL(WARN, MOD, "%s: %u malformed guest TX chains dropped", vh->name, bad);
	}
	if (badhdr)
		CNT_ADD(vh, tx_bad_hdr, badhdr);
	CNT_ADD(vh, guest_tx_packets, batch.count);
	CNT_ADD(vh, guest_tx_bytes, bytes);
	if (batch.count)
		tx_deliver(vh, &batch);
	return used;
}

/* ---- guest RX: switch -> guest ------------------------------------------------------- */

/*
 * Writes one frame (hdr + data[0..len)) into the guest's RX buffers: one chain
 * without MRG_RXBUF, as many as needed with it. The used entries are written but
 * not published. 0, -ENOBUFS (not enough buffers posted: nothing consumed),
 * -EINVAL (a malformed chain was consumed and returned empty; the frame is lost).
 */
static int rx_emit(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t avail_idx,
		   struct virtio_net_hdr_mrg *h, const uint8_t *data, uint32_t len)
{
	bool mrg = vh->features & BIT(VIRTIO_NET_F_MRG_RXBUF);
	uint16_t save_avail = vq->last_avail, save_used = vq->used_idx, nbufs = 0;
	uint32_t hdr_size = vh->hdr_size, off = 0, hdr_off = 0;
	const uint32_t nb_off = offsetof(struct virtio_net_hdr_mrg, num_buffers);
	uint8_t *nb_p[2] = {NULL, NULL}; /* where the two num_buffers bytes landed */

	h->num_buffers = 1;
	while (off < len || hdr_off < hdr_size) {
		struct vhu_seg segs[VHU_MAX_SEGS];
		unsigned n = 0;
		uint32_t written = 0;
		int64_t cap;
		uint16_t head;

		if (vq->last_avail == avail_idx) {
			vq->last_avail = save_avail;
			vq->used_idx = save_used;
			return -ENOBUFS;
		}
		head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
				       __ATOMIC_RELAXED);
		vq->last_avail++;
		cap = head < vq->num ? walk_chain(vh, vq, head, true, segs, &n, UINT32_MAX)
				     : -EINVAL;
		if (cap < 0 || (nbufs == 0 && cap < hdr_size) || (!mrg && cap < hdr_size + len)) {
			/* every chain taken for this frame goes back empty; the frame is lost */
			uint16_t end = vq->last_avail;
			vq->used_idx = save_used;
			for (uint16_t a = save_avail; a != end; a++) {
				uint16_t hd = __atomic_load_n(&vq->avail->ring[a & (vq->num - 1)],
							      __ATOMIC_RELAXED);
				if (hd < vq->num)
					vq_push_used(vq, hd, 0);
			}
			CNT_ADD(vh, rx_bad_desc, 1);
			return -EINVAL;
		}
		/* the header first (it may span buffers), then the frame */
		for (unsigned s = 0; s < n && (off < len || hdr_off < hdr_size); s++) {
			uint32_t pos = 0;
			if (hdr_off < hdr_size) {
				uint32_t c = segs[s].len < hdr_size - hdr_off ? segs[s].len
									      : hdr_size - hdr_off;
				for (uint32_t b = 0; b < 2; b++)
					if (nb_off + b >= hdr_off && nb_off + b < hdr_off + c)
						nb_p[b] = segs[s].p + (nb_off + b - hdr_off);
				memcpy(segs[s].p, (uint8_t *)h + hdr_off, c);
				hdr_off += c;
				pos = c;
			}
			if (pos < segs[s].len && off < len) {
				uint32_t c = segs[s].len - pos < len - off ? segs[s].len - pos
									   : len - off;
				memcpy(segs[s].p + pos, data + off, c);
				off += c;
				pos += c;
			}
			written += pos;
		}
		vq_push_used(vq, head, written);
		nbufs++;
	}
	if (nbufs > 1 && nb_p[0] && nb_p[1]) {
		/* num_buffers lives in the first buffer's header (little endian) */
		*nb_p[0] = (uint8_t)nbufs;
		*nb_p[1] = (uint8_t)(nbufs >> 8);
	}
	return 0;
}

/* Fills the virtio_net_hdr for an egress packet (tag_len: 4 when a tag is inserted). */
static void pkt_to_hdr(const struct vsw_vhost *vh, const struct pvnet_pkt *pkt, uint32_t tag_len,
		       struct virtio_net_hdr_mrg *h)
{
	memset(h, 0, sizeof(*h));
	if (pkt->flags & PVNET_PKT_F_CSUM_BLANK) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = (uint16_t)(pkt->csum_start + tag_len);
		h->csum_offset = pkt->csum_offset;
	} else if ((pkt->flags & PVNET_PKT_F_DATA_VALIDATED) &&
		   (vh->features & BIT(VIRTIO_NET_F_GUEST_CSUM))) {
		h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	if (pkt->gso_type != PVNET_GSO_NONE) {
		h->gso_type = pkt->gso_type == PVNET_GSO_TCPV4 ? VIRTIO_NET_HDR_GSO_TCPV4
							       : VIRTIO_NET_HDR_GSO_TCPV6;
		h->gso_size = pkt->gso_size;
		/* a hint for the guest: Ethernet + IP + TCP headers, bounded by the frame */
		uint32_t hl = (uint32_t)h->csum_start + 20, fl = pkt->len + tag_len;
		h->hdr_len = (uint16_t)(hl <= fl ? hl : fl);
	}
}

/* Emits one egress packet as it is (offloads the guest can take). Under lock. */
static int rx_emit_pkt(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t avail_idx,
		       const struct pvnet_pkt *pkt, uint16_t tci)
{
	struct virtio_net_hdr_mrg h;
	const uint8_t *data = pkt->data;
	uint32_t len = pkt->len, tag_len = tci ? PVNET_VLAN_HLEN : 0;
	int rc;

	if (tci || pkt->len > pkt->head_size) {
		rc = vsw_pkt_linearize(pkt, tci, vh->scratch, VHU_BUF_SIZE);
		if (rc < 0)
			return rc == -ENOSPC ? -EINVAL : rc;
		data = vh->scratch;
		len = (uint32_t)rc;
	}
	pkt_to_hdr(vh, pkt, tag_len, &h);
	rc = rx_emit(vh, vq, avail_idx, &h, data, len);
	if (rc == 0) { /* counted by vhost_send: delivered, or lost to a memory fault */
		vh->rx_burst_pkts++;
		vh->rx_burst_bytes += len;
	}
	return rc;
}

/*
 * A packet needing an offload the guest did not negotiate: copy it into our own
 * LOCAL packet (shared packets are read-only), then checksum or segment it in
 * software and emit the result. Frames lost here are counted rx_fallback_drop.
 */
static int rx_emit_fallback(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t avail_idx,
			    const struct pvnet_pkt *pkt, uint16_t tci)
{
	struct pvnet_pkt *copy = pvnet_pkt_alloc(vh->fb_pool), *segs[VHU_TSO_MAX_SEGS];
	int rc, nseg;

	if (!copy)
		goto drop;
	rc = vsw_pkt_linearize(pkt, 0, copy->data, copy->buf_size);
	if (rc < 0)
		goto put_copy;
	copy->len = copy->head_size = (uint32_t)rc;
	copy->flags = pkt->flags & (PVNET_PKT_F_CSUM_BLANK | PVNET_PKT_F_DATA_VALIDATED);
	copy->csum_start = pkt->csum_start;
	copy->csum_offset = pkt->csum_offset;
	copy->gso_type = pkt->gso_type;
	copy->gso_size = pkt->gso_size;
	if (copy->gso_type == PVNET_GSO_NONE) {
		if (vsw_offload_csum(copy) < 0)
			goto put_copy;
		CNT_ADD(vh, rx_sw_csum, 1);
		rc = rx_emit_pkt(vh, vq, avail_idx, copy, tci);
		pvnet_pkt_put(copy);
		return rc;
	}
	nseg = vsw_offload_tso(copy, vh->fb_pool, segs, VHU_TSO_MAX_SEGS);
	pvnet_pkt_put(copy);
	if (nseg < 0)
		goto drop;
	CNT_ADD(vh, rx_sw_tso, 1);
	rc = 0;
	for (int i = 0; i < nseg; i++) {
		/* segments carry full checksums; an earlier failure drops the rest */
		if (rc == 0)
			rc = rx_emit_pkt(vh, vq, avail_idx, segs[i], tci);
		pvnet_pkt_put(segs[i]);
	}
	return rc == -ENOBUFS ? -EINVAL : rc; /* partly delivered: never retried */
put_copy:
	pvnet_pkt_put(copy);
drop:
	CNT_ADD(vh, rx_fallback_drop, 1);
	return -EINVAL;
}

static bool needs_fallback(const struct vsw_vhost *vh, const struct pvnet_pkt *pkt)
{
	uint64_t f = vh->features;

	if (pkt->gso_type == PVNET_GSO_TCPV4)
		return !(f & BIT(VIRTIO_NET_F_GUEST_TSO4)) || !(f & BIT(VIRTIO_NET_F_GUEST_CSUM));
	if (pkt->gso_type == PVNET_GSO_TCPV6)
		return !(f & BIT(VIRTIO_NET_F_GUEST_TSO6)) || !(f & BIT(VIRTIO_NET_F_GUEST_CSUM));
	return (pkt->flags & PVNET_PKT_F_CSUM_BLANK) && !(f & BIT(VIRTIO_NET_F_GUEST_CSUM));
}

/*
 * The guest RX queue pair for an egress frame: by a hash of its flow (MACs, and the
 * IPv4/IPv6 addresses and TCP/UDP ports when present in the linear head), so a flow
 * keeps its order; among the `n` ready pairs listed in `ready`.
 */
static unsigned pick_rxq(const struct pvnet_pkt *pkt, const unsigned *ready, unsigned n)
{
	const uint8_t *d = pkt->data;
	uint32_t hl = pkt->head_size < pkt->len ? pkt->head_size : pkt->len, h = 2166136261u;
	uint32_t off = 14, from = 0, to = 12;
	uint16_t et;

	if (n == 1 || hl < 14)
		return ready[0];
	et = (uint16_t)(d[12] << 8 | d[13]);
	if (et == 0x8100 && hl >= 18) {
		et = (uint16_t)(d[16] << 8 | d[17]);
		off = 18;
	}
	if (et == 0x0800 && hl >= off + 20 && (d[off] >> 4) == 4) {
		uint32_t ihl = (uint32_t)(d[off] & 15) * 4;
		bool l4 = (d[off + 9] == 6 || d[off + 9] == 17) && !(d[off + 6] & 0x3f) &&
			  !d[off + 7] && ihl >= 20 && hl >= off + ihl + 4;
		for (uint32_t i = off + 12; i < off + 20; i++) /* addresses */
			h = (h ^ d[i]) * 16777619u;
		from = l4 ? off + ihl : 0; /* ports, or the MACs */
		to = l4 ? off + ihl + 4 : 12;
	} else if (et == 0x86dd && hl >= off + 40) {
		bool l4 = (d[off + 6] == 6 || d[off + 6] == 17) && hl >= off + 44;
		for (uint32_t i = off + 8; i < off + 40; i++)
			h = (h ^ d[i]) * 16777619u;
		from = l4 ? off + 40 : 0;
		to = l4 ? off + 44 : 12;
	}
	for (uint32_t i = from; i < to; i++)
		h = (h ^ d[i]) * 16777619u;
	return ready[h % n];
}

/*
 * Guest kicks of queue `vq` wanted (on) or not: guest TX, for frames; guest RX,
 * for buffers. With EVENT_IDX "on" asks for a kick once the guest posts past what
 * we consumed (avail_event = last_avail) and "off" leaves avail_event behind, so
 * the guest does not kick until it wraps around to it; without, the
 * VRING_USED_F_NO_NOTIFY flag.
 */
static void set_notify(const struct vsw_vhost *vh, struct vhu_vq *vq, bool on)
{
	uint16_t f;

	if (vh->event_idx) {
		if (on)
			__atomic_store_n(vq_avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
		return;
	}
	f = __atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED);
	f = on ? f & ~VRING_USED_F_NO_NOTIFY : f | VRING_USED_F_NO_NOTIFY;
	__atomic_store_n(&vq->used->flags, f, __ATOMIC_RELAXED);
}

/* ---- refills: a full guest RX queue holds its senders back ---------------------------- */

static uint32_t refill_gen; /* futex word: guest RX queues that got buffers after running dry */

uint32_t vsw_vhost_refill_gen(void)
{
	return __atomic_load_n(&refill_gen, __ATOMIC_ACQUIRE);
}

static void refill_signal(void)
{
	__atomic_fetch_add(&refill_gen, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &refill_gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

bool vsw_vhost_refill_wait(uint32_t gen, uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

	/* returns at once (EAGAIN) if the generation already moved */
	syscall(SYS_futex, &refill_gen, FUTEX_WAIT_PRIVATE, gen, &ts, NULL, 0);
	return vsw_vhost_refill_gen() != gen;
}

/*
 * Guest RX queue `vq` ran dry and frames were dropped: ask the guest to kick when
 * it posts buffers (the port thread then wakes the senders that paused, see
 * tx_backoff in port_vhost.c). Under vh->lock.
 */
static void rx_ask_kick(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t avail_idx)
{
	if (vq->rx_kick_on || !vhu_vq_ready(vq))
		return;
	set_notify(vh, vq, true);
	if (vh->event_idx) /* past what it has posted, which may be part of a frame */
		__atomic_store_n(vq_avail_event(vq), avail_idx, __ATOMIC_RELAXED);
	vq->rx_kick_on = true;
	/* full fence: the request is visible before the last look at the index, so
	 * buffers posted meanwhile without a kick are seen here */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != avail_idx) {
		set_notify(vh, vq, false);
		vq->rx_kick_on = false;
		refill_signal();
	}
}

void vsw_vhost_rx_kicked(struct vsw_vhost *vh, struct vhu_vq *vq)
{
	bool was_on;

	pthread_mutex_lock(&vh->lock);
	was_on = vq->rx_kick_on;
	if (was_on && vhu_vq_ready(vq))
		set_notify(vh, vq, false);
	vq->rx_kick_on = false;
	pthread_mutex_unlock(&vh->lock);
	if (was_on)
		refill_signal();
}

static __thread bool may_spin; /* this thread may busy-wait in rx_wait */

void vsw_vhost_set_may_spin(bool on)
{
	may_spin = on;
}

/*
 * Guest RX queue `vq` has no buffer for the next frame: wait for the guest to post
 * more, as a NIC's ring would not (virtio lets the device hold a frame until
 * buffers come), but only briefly: the caller is a switch thread serving other
 * ports too. At most VHU_RX_WAIT_NS per send() in all (*wait_end: its deadline,
 * 0 before the first wait), spinning on the avail index, and only on a thread
 * that may spin (vsw_vhost_set_may_spin). true with
 * *avail_idx updated when buffers came (validated like the first read).
 */
static bool rx_wait(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t *avail_idx,
		    uint64_t *wait_end)
{
	uint64_t now;

	if (!may_spin) /* the guest may need this very core to post its buffers */
		return false;
	now = pvnet_now_ns();
	if (!*wait_end) {
		*wait_end = now + VHU_RX_WAIT_NS;
		CNT_ADD(vh, rx_waits, 1);
	}
	for (unsigned spin = 0; now < *wait_end; spin++) {
		/* acquire: the new buffers are read after the index that publishes them */
		uint16_t a = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
		if (a != *avail_idx) {
			if ((uint16_t)(a - vq->last_avail) > vq->num) { /* broken ring */
				CNT_ADD(vh, rx_bad_desc, 1);
				vq->started = false;
				return false;
			}
			*avail_idx = a;
			return true;
		}
		__builtin_ia32_pause();
		if ((spin & 15) == 15)
			now = pvnet_now_ns();
	}
	return false;
}

int vsw_vhost_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct vsw_vhost *vh = vsw_port_priv(port);
	unsigned i = 0, nready = 0, ready[VSW_VHOST_MAX_QUEUES];
	uint16_t avail_idx[VSW_VHOST_MAX_QUEUES];
	uint32_t emitted = 0; /* bit per queue pair */
	uint64_t wait_end = 0;

	pthread_mutex_lock(&vh->lock);
	if (vhu_mem_faulted(vh)) { /* the port thread disconnects the VMM */
		i = batch->count;
		vsw_vhost_count_mem_fault(vh, i);
		goto unlock;
	}
	for (unsigned q = 0; q < vh->nq / 2; q++) {
		struct vhu_vq *vq = &vh->vq[2 * q];
		if (!vhu_vq_ready(vq))
			continue;
		/* acquire: the guest's buffers are read after the index that publishes them */
		avail_idx[q] = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
		if ((uint16_t)(avail_idx[q] - vq->last_avail) > vq->num) {
			CNT_ADD(vh, rx_bad_desc, 1);
			vq->started = false;
			continue;
		}
		ready[nready++] = q;
	}
	if (!nready) {
		CNT_ADD(vh, rx_not_ready, batch->count);
		goto unlock;
	}
	vh->rx_burst_pkts = vh->rx_burst_bytes = 0;
	for (; i < batch->count; i++) {
		const struct pvnet_pkt *pkt = batch->pkts[i];
		unsigned q = pick_rxq(pkt, ready, nready);
		struct vhu_vq *vq = &vh->vq[2 * q];
		int rc = needs_fallback(vh, pkt)
				 ? rx_emit_fallback(vh, vq, avail_idx[q], pkt, batch->vlan_tci[i])
				 : rx_emit_pkt(vh, vq, avail_idx[q], pkt, batch->vlan_tci[i]);
		if (rc == -ENOBUFS) {
			if (emitted & (1u << q))
				vq_publish(vh, vq); /* what it has, so it can refill */
			emitted &= ~(1u << q);
			if (rx_wait(vh, vq, &avail_idx[q], &wait_end)) {
				i--; /* the same frame again, into the new buffers */
				continue;
			}
			rx_ask_kick(vh, vq, avail_idx[q]);
			break;
		}
		emitted |= 1u << q; /* delivered, or consumed a bad chain (counted) */
	}
	if (vhu_mem_faulted(vh)) {
		/* written into zero pages, not the guest's: lost */
		vsw_vhost_count_mem_fault(vh, (unsigned)vh->rx_burst_pkts);
	} else {
		CNT_ADD(vh, guest_rx_packets, vh->rx_burst_pkts);
		CNT_ADD(vh, guest_rx_bytes, vh->rx_burst_bytes);
		for (unsigned k = 0; k < nready; k++)
			if (emitted & (1u << ready[k]))
				vq_publish(vh, &vh->vq[2 * ready[k]]);
	}
	if (i < batch->count)
		CNT_ADD(vh, rx_no_buffers, batch->count - i);
unlock:
	pthread_mutex_unlock(&vh->lock);
	for (unsigned k = 0; k < i; k++)
		pvnet_pkt_put(batch->pkts[k]);
	return (int)i;
}

/* ---- notifications ----------------------------------------------------------------- */

void vsw_vhost_tx_notify_all(struct vsw_vhost *vh, bool on)
{
	for (unsigned q = VHU_TXQ; q < vh->nq; q += 2)
		if (vhu_vq_ready(&vh->vq[q]))
			set_notify(vh, &vh->vq[q], on);
}

bool vsw_vhost_tx_pending(const struct vsw_vhost *vh)
{
	for (unsigned q = VHU_TXQ; q < vh->nq; q += 2) {
		const struct vhu_vq *tq = &vh->vq[q];
		if (vhu_vq_ready(tq) &&
		    __atomic_load_n(&tq->avail->idx, __ATOMIC_ACQUIRE) != tq->last_avail)
			return true;
	}
	return false;
}

bool vsw_vhost_any_tx_ready(const struct vsw_vhost *vh)
{
	for (unsigned q = VHU_TXQ; q < vh->nq; q += 2)
		if (vhu_vq_ready(&vh->vq[q]))
			return true;
	return false;
}
