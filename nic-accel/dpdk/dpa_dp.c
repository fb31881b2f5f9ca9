/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/dpa_dp.c - the engine: IOMMU-checked DMA, TX from queue-pair
 * rings into mbufs sent in bursts, RX bursts from every ethdev queue classified
 * by destination MAC/VLAN and copied into the buffers the driver posted,
 * interrupt moderation. Every function here runs with dev->lock held.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "dpa.h"

/* ---- IOMMU ---- */

static uint32_t pfn_hash(uint64_t pfn)
{
	return (uint32_t)((pfn * 0x9E3779B97F4A7C15ull) >> 32);
}

const struct dpa_iommu_entry *dpa_iommu_lookup(const struct dpa_iommu *m, uint64_t pfn)
{
	if (!m->tab)
		return NULL;
	for (uint32_t i = 0, h = pfn_hash(pfn); i < m->cap; i++) {
		const struct dpa_iommu_entry *e = &m->tab[(h + i) & (m->cap - 1)];
		if (e->state == 0)
			return NULL;
		if (e->state == 1 && e->pfn == pfn)
			return e;
	}
	return NULL;
}

/*
 * Copies between a device buffer and IOVA space, page by page through the
 * port's IOMMU. A miss or a write to a read-only page is a DMA fault: nothing
 * more is transferred, the fault is counted on the port, -EFAULT.
 */
int dpa_dma(struct accel_port *port, uint64_t iova, void *buf, uint32_t len, int write)
{
	uint8_t *b = buf;

	while (len) {
		uint32_t off = (uint32_t)(iova & (ACCEL_PAGE_SIZE - 1));
		uint32_t n = ACCEL_PAGE_SIZE - off;
		const struct dpa_iommu_entry *e = dpa_iommu_lookup(&port->mmu, iova >> 12);

		if (n > len)
			n = len;
		if (!e || (write && !e->writable)) {
			port->st.dma_faults++;
			return -EFAULT;
		}
		if (write)
			memcpy(e->host + off, b, n);
		else
			memcpy(b, e->host + off, n);
		b += n;
		iova += n;
		len -= n;
	}
	return 0;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- interrupts ---- */

static void irq_note(struct accel_qp *qp, uint32_t n)
{
	if (n == 0)
		return;
	if (qp->irq_pending == 0)
		qp->irq_first_ns = dpa_now(qp->port->dev);
	qp->irq_pending += n;
}

static void irq_check(struct accel_qp *qp, uint64_t now)
{
	int fire;

	if (!qp->irq_pending)
		return;
	if (qp->irq_frames == 0 && qp->irq_usecs == 0)
		fire = 1;
	else
		fire = (qp->irq_frames && qp->irq_pending >= qp->irq_frames) ||
		       (qp->irq_usecs && now - qp->irq_first_ns >= qp->irq_usecs * 1000ull);
	if (!fire)
		return;
	qp->irq_pending = 0;
	if (accel_ring_load(&qp->sh->irq_enable)) {
		uint64_t one = 1;
		if (write(qp->irq_fd, &one, sizeof(one)) == sizeof(one))
			qp->port->st.irq_raised++;
	}
}

/* ---- TX ---- */

/* Fills the L4 checksum of an IPv4/IPv6 TCP/UDP frame in place; 0 or -1. */
static int fill_l4_csum(uint8_t *f, uint32_t len)
{
	uint32_t off = 14, l4;
	uint16_t type, csum;
	uint8_t proto;

	if (len < 14)
		return -1;
	type = rd16(f + 12);
	if (type == 0x8100 || type == 0x88a8) {
		if (len < 18)
			return -1;
		type = rd16(f + 16);
		off = 18;
	}
	if (type == 0x0800) {
		const struct rte_ipv4_hdr *ip = (const void *)(f + off);
		uint32_t ihl, tot;
		if (len < off + 20 || (f[off] >> 4) != 4)
			return -1;
		ihl = (f[off] & 15u) * 4;
		tot = rd16(f + off + 2);
		if (ihl < 20 || tot < ihl || off + tot > len || (rd16(f + off + 6) & 0x3fff))
			return -1;
		proto = f[off + 9];
		l4 = off + ihl;
		if ((proto == 6 && tot < ihl + 20) || (proto == 17 && tot < ihl + 8))
			return -1;
		if (proto != 6 && proto != 17)
			return -1;
		uint8_t *c = f + l4 + (proto == 6 ? 16 : 6);
		c[0] = c[1] = 0;
		csum = rte_ipv4_udptcp_cksum(ip, f + l4);
		memcpy(c, &csum, 2);
		return 0;
	}
	if (type == 0x86dd) {
		const struct rte_ipv6_hdr *ip6 = (const void *)(f + off);
		uint32_t plen;
		if (len < off + 40 || (f[off] >> 4) != 6)
			return -1;
		plen = rd16(f + off + 4);
		proto = f[off + 6];
		l4 = off + 40;
		if (l4 + plen > len || (proto != 6 && proto != 17) ||
		    (proto == 6 && plen < 20) || (proto == 17 && plen < 8))
			return -1;
		uint8_t *c = f + l4 + (proto == 6 ? 16 : 6);
		c[0] = c[1] = 0;
		csum = rte_ipv6_udptcp_cksum(ip6, f + l4);
		memcpy(c, &csum, 2);
		return 0;
	}
	return -1;
}

/*
 * Hands queued mbufs to the PMD. What it does not take waits for the next pass
 * (TX rings are not read meanwhile: backpressure, like a full NIC ring); with
 * `final`, mbufs the PMD has refused for DPA_TX_STALL_NS (link down, peer
 * gone) are dropped and counted in tx_ring_full.
 */
static void tx_flush(struct accel_dev *dev, int final)
{
	uint16_t sent = 0;

	if (dev->n_txb)
		sent = rte_eth_tx_burst(dev->port_id, 0, dev->txb, (uint16_t)dev->n_txb);
	dev->st.wire_tx += sent;
	if (sent < dev->n_txb)
		memmove(dev->txb, dev->txb + sent, (dev->n_txb - sent) * sizeof(dev->txb[0]));
	dev->n_txb -= sent;
	if (sent || !dev->n_txb) {
		dev->tx_stall_since = 0;
		return;
	}
	if (!final)
		return;
	if (!dev->tx_stall_since) {
		dev->tx_stall_since = dpa_now(dev);
	} else if (dpa_now(dev) - dev->tx_stall_since > DPA_TX_STALL_NS) {
		dev->st.tx_ring_full += dev->n_txb;
		rte_pktmbuf_free_bulk(dev->txb, dev->n_txb);
		dev->n_txb = 0;
		dev->tx_stall_since = 0;
	}
}

void dpa_tx_drain(struct accel_dev *dev)
{
	if (dev->n_txb)
		rte_pktmbuf_free_bulk(dev->txb, dev->n_txb);
	dev->n_txb = 0;
}

/* Copies `total` bytes from `src` into a new mbuf chain. */
static struct rte_mbuf *mbuf_from(struct accel_dev *dev, const uint8_t *src, uint32_t total)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(dev->pool), *cur = head;
	uint32_t off = 0;

	while (cur && off < total) {
		uint32_t n = rte_pktmbuf_tailroom(cur);
		if (n > total - off)
			n = total - off;
		memcpy(rte_pktmbuf_mtod_offset(cur, uint8_t *, cur->data_len), src + off, n);
		cur->data_len = (uint16_t)(cur->data_len + n);
		head->pkt_len += n;
		off += n;
		if (off < total) {
			struct rte_mbuf *seg = rte_pktmbuf_alloc(dev->pool);
			if (!seg || !(dev->tx_offloads & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)) {
				rte_pktmbuf_free(seg);
				rte_pktmbuf_free(head);
				return NULL;
			}
			cur->next = seg;
			head->nb_segs++;
			cur = seg;
		}
	}
	return head;
}

/* Processes up to `budget` packets of one qp's TX ring; returns packets done. */
static int tx_qp(struct accel_qp *qp, uint32_t budget)
{
	struct accel_port *port = qp->port;
	struct accel_dev *dev = port->dev;
	uint32_t mask = qp->ring_len - 1, frame_max = (uint32_t)dev->mtu + 18;
	uint32_t prod = accel_ring_load(&qp->sh->tx_prod), cons = qp->tx_cons, done = 0;
	int pkts = 0;

	if (prod - cons > qp->ring_len) {
		if (!(qp->sh->status.idx & ACCEL_QP_S_RING_ERR))
			port->st.ring_errors++;
		qp->sh->status.idx |= ACCEL_QP_S_RING_ERR;
		return 0;
	}
	while (cons != prod && (uint32_t)pkts < budget) {
		struct accel_desc d[ACCEL_TX_MAX_SLOTS + 1];
		uint32_t n = 0, total = 0, off = 0, first;
		int bad = 0, csum = 0, complete = 0, gso = 0;

		if (dev->n_txb == DPA_BURST) {
			tx_flush(dev, 0);
			if (dev->n_txb == DPA_BURST)
				break; /* the PMD is full: leave the rest on the ring */
		}
		while (cons + n != prod && n < ACCEL_TX_MAX_SLOTS + 1) {
			/* one read of shared memory into a local, checked afterwards */
			d[n] = *(const volatile struct accel_desc *)&qp->tx[(cons + n) & mask];
			if (n == 0 && (d[0].flags & ACCEL_DESC_F_GSO)) {
				gso = 1;
				n++;
				continue;
			}
			total += d[n].len;
			csum |= !!(d[n].flags & ACCEL_DESC_F_CSUM);
			if (!(d[n++].flags & ACCEL_DESC_F_MORE)) {
				complete = 1;
				break;
			}
		}
		if (!complete) {
			if (n < ACCEL_TX_MAX_SLOTS + 1)
				break; /* the rest of the packet is not published yet */
			bad = 1;       /* too many slots: drop what we have */
		}
		if (!bad && (total > ACCEL_PKT_MAX || total < 14))
			bad = 1;
		if (!bad && total > frame_max) {
			/* no TSO handed to the PMD (yet): a super-frame cannot go out */
			if (gso)
				port->st.tx_gso_dropped++;
			bad = 1;
		}
		first = gso ? 1 : 0;
		if (!bad) {
			struct rte_mbuf *m = NULL;
			uint8_t *buf = dev->scratch;
			int direct = 0;

			m = rte_pktmbuf_alloc(dev->pool);
			if (m && total <= rte_pktmbuf_tailroom(m)) {
				buf = rte_pktmbuf_mtod(m, uint8_t *); /* DMA straight into the mbuf */
				direct = 1;
			}
			for (uint32_t i = first; i < n && !bad; i++) {
				if (dpa_dma(port, d[i].iova, buf + off, d[i].len, 0))
					bad = 1;
				off += d[i].len;
			}
			if (!bad && csum && (port->features & ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM)) &&
			    fill_l4_csum(buf, total) == 0)
				port->st.tx_csum_filled++;
			if (!bad && direct) {
				m->data_len = (uint16_t)total;
				m->pkt_len = total;
			} else if (!bad) {
				rte_pktmbuf_free(m);
				m = mbuf_from(dev, buf, total);
			}
			if (!m && !bad) {
				dev->st.mbuf_alloc_failed++;
				bad = 1;
			}
			if (bad) {
				rte_pktmbuf_free(m);
			} else {
				dev->txb[dev->n_txb++] = m;
				port->st.tx_packets++;
				port->st.tx_bytes += total;
				qp->tx_packets++;
			}
		}
		if (bad)
			port->st.tx_dropped++;
		for (uint32_t i = 0; i < n; i++) {
			d[i].flags |= ACCEL_DESC_F_DONE | (bad ? ACCEL_DESC_F_ERR : 0);
			qp->tx[(cons + i) & mask] = d[i];
		}
		cons += n;
		done += n;
		pkts++;
	}
	qp->tx_cons = cons;
	/* completions written above are visible before the new consumer index */
	accel_ring_store(&qp->sh->tx_cons, cons);
	irq_note(qp, done);
	return pkts;
}

/* ---- RX ---- */

/*
 * Writes one frame into the buffers the driver posted on qp's RX ring, through
 * the port's IOMMU. Whole frame or nothing: not enough posted space -> dropped
 * (rx_no_buffer) with no slot consumed; a DMA fault -> the slots used so far
 * complete with ERR.
 */
static int rx_deliver(struct accel_qp *qp, struct rte_mbuf *m, uint16_t first_flags)
{
	struct accel_port *port = qp->port;
	struct accel_dev *dev = port->dev;
	struct accel_desc d[ACCEL_TX_MAX_SLOTS];
	uint32_t prod = accel_ring_load(&qp->sh->rx_prod), cons = qp->rx_cons;
	uint32_t avail = prod - cons, n = 0, room = 0, off = 0, len = m->pkt_len;
	int fault = 0;

	if (avail > qp->ring_len) {
		port->st.ring_errors++;
		qp->sh->status.idx |= ACCEL_QP_S_RING_ERR;
		port->st.rx_dropped++;
		return -EIO;
	}
	while (room < len && n < avail && n < ACCEL_TX_MAX_SLOTS) {
		d[n] = *(const volatile struct accel_desc *)&qp->rx[(cons + n) & (qp->ring_len - 1)];
		room += d[n].len;
		n++;
	}
	if (room < len || n == 0) {
		port->st.rx_no_buffer++;
		port->st.rx_dropped++;
		return -ENOBUFS;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t chunk = len - off < d[i].len ? len - off : d[i].len;
		const void *src = rte_pktmbuf_read(m, off, chunk, dev->scratch);

		if (!fault && (!src || dpa_dma(port, d[i].iova, (void *)(uintptr_t)src, chunk, 1)))
			fault = 1;
		d[i].flags = ACCEL_DESC_F_DONE;
		if (fault) {
			d[i].flags |= ACCEL_DESC_F_ERR;
			d[i].len = 0;
		} else {
			d[i].len = (uint16_t)chunk;
			if (i + 1 < n)
				d[i].flags |= ACCEL_DESC_F_MORE;
		}
		off += chunk;
	}
	if (!fault)
		d[0].flags |= first_flags;
	for (uint32_t i = 0; i < n; i++)
		qp->rx[(cons + i) & (qp->ring_len - 1)] = d[i];
	qp->rx_cons = cons + n;
	/* completions written above are visible before the new consumer index */
	accel_ring_store(&qp->sh->rx_cons, qp->rx_cons);
	irq_note(qp, n);
	if (fault) {
		port->st.rx_dropped++;
		return -EFAULT;
	}
	port->st.rx_packets++;
	port->st.rx_bytes += len;
	qp->rx_packets++;
	return 0;
}

static uint16_t rx_csum_flags(struct accel_port *port, const struct rte_mbuf *m)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (!(port->features & ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM)))
		return 0;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return ACCEL_DESC_F_CSUM_OK;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		port->st.rx_csum_bad++;
		return ACCEL_DESC_F_CSUM_BAD;
	}
	return 0;
}

static int vlan_match(uint16_t filter, uint16_t vid)
{
	return filter == ACCEL_VLAN_ANY || filter == vid;
}

/* The Level 1 queue pair a unicast (mac, vid) is filtered to, or NULL. */
static struct accel_qp *lookup_ucast(struct accel_dev *dev, const uint8_t *mac, uint16_t vid)
{
	for (int i = 0; i < DPA_MAX_PORTS; i++) {
		struct accel_port *p = dev->ports[i];
		if (!p || p->detached || p->level < 1)
			continue;
		for (uint32_t k = 0; k < p->n_filters; k++) {
			const struct accel_rx_filter *f = &p->filters[k].f;
			if (memcmp(f->mac, mac, 6) == 0 && vlan_match(f->vlan, vid) &&
			    f->qid < p->n_qps)
				return p->qps[f->qid];
		}
	}
	return NULL;
}

static void rx_one(struct accel_dev *dev, uint16_t hwq, struct rte_mbuf *m)
{
	uint8_t hdr[18];
	const uint8_t *f;
	struct accel_qp *q = NULL;
	uint16_t vid = ACCEL_VLAN_NONE;

	dev->st.wire_rx++;
	if (m->pkt_len < 14) {
		dev->st.rx_dropped++;
		return;
	}
	if (m->pkt_len > DPA_FRAME_MAX) {
		dev->st.rx_oversize++;
		return;
	}
	f = rte_pktmbuf_read(m, 0, m->pkt_len >= 18 ? 18 : 14, hdr);
	if (m->pkt_len >= 18 && rd16(f + 12) == 0x8100)
		vid = rd16(f + 14) & 0x0fff;
	if (!(f[0] & 1)) {
		q = lookup_ucast(dev, f, vid);
		if (!q)
			dev->st.rx_filter_miss++;
		else if (hwq && q->hwq == hwq)
			q->port->st.rx_hw_steered++;
	}
	if (!q)
		q = dev->default_qp;
	if (!q || q->port->detached) {
		dev->st.rx_dropped++;
		return;
	}
	rx_deliver(q, m, rx_csum_flags(q->port, m));
}

int dpa_engine_pass(struct accel_dev *dev, uint32_t budget)
{
	struct rte_mbuf *pkts[DPA_BURST];
	int moved = 0;
	uint64_t now;

	if (!dev->started)
		return 0;
	if (budget > DPA_BURST)
		budget = DPA_BURST;
	for (int i = 0; i < DPA_MAX_PORTS; i++) {
		struct accel_port *p = dev->ports[i];
		if (!p || p->detached)
			continue;
		for (uint32_t q = 0; q < p->n_qps; q++)
			moved += tx_qp(p->qps[q], budget);
	}
	tx_flush(dev, 1);
	for (uint16_t q = 0; q < dev->n_rxq; q++) {
		uint16_t nb = rte_eth_rx_burst(dev->port_id, q, pkts, (uint16_t)budget);

		for (uint16_t k = 0; k < nb; k++)
			rx_one(dev, q, pkts[k]);
		if (nb)
			rte_pktmbuf_free_bulk(pkts, nb);
		moved += nb;
	}
	now = dpa_now(dev);
	for (int i = 0; i < DPA_MAX_PORTS; i++) {
		struct accel_port *p = dev->ports[i];
		for (uint32_t q = 0; p && q < p->n_qps; q++)
			irq_check(p->qps[q], now);
	}
	return moved;
}
