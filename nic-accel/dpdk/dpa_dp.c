/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/dpa_dp.c - the engine: IOMMU-checked DMA, TX from queue-pair
 * rings into mbufs sent in bursts, RX bursts from every ethdev queue classified
 * by destination MAC/VLAN and copied into the buffers the driver posted,
 * interrupt moderation, on the SDK's data path (pvnet/accel_sdk.h). Every
 * function here runs with dev->sdk.lock held.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <pvnet/pkt_parse.h>

#include "dpa.h"

/* ---- TX ---- */

/* Fills the L4 checksum of an IPv4 (not a fragment) / IPv6 (no extension
 * headers) TCP/UDP frame in place, behind any VLAN tags, the IP length within the
 * frame; 0 or -1. Parsed by pvnet_frame_parse (pvnet/pkt_parse.h). */
static int fill_l4_csum(uint8_t *f, uint32_t len)
{
	struct pvnet_frame fr;
	uint16_t csum;
	uint8_t *c;

	if (pvnet_frame_parse(f, len, &fr) < 0 || !(fr.flags & PVNET_FRAME_F_L4) ||
	    (fr.flags & PVNET_FRAME_F_FRAG) ||
	    (fr.l4_proto != PVNET_IPPROTO_TCP && fr.l4_proto != PVNET_IPPROTO_UDP))
		return -1;
	/* the IP length covers the L4 header and stays within the frame */
	if (fr.ip_end < fr.l4_off + fr.l4_hdr_len || fr.ip_end > len)
		return -1;
	c = f + fr.l4_off + (fr.l4_proto == PVNET_IPPROTO_TCP ? 16 : 6);
	if (fr.l3 == PVNET_FRAME_L3_IPV4) {
		c[0] = c[1] = 0;
		csum = rte_ipv4_udptcp_cksum((const struct rte_ipv4_hdr *)(f + fr.l3_off),
					     f + fr.l4_off);
	} else {
		if (fr.n_exthdrs)
			return -1;
		c[0] = c[1] = 0;
		csum = rte_ipv6_udptcp_cksum((const struct rte_ipv6_hdr *)(f + fr.l3_off),
					     f + fr.l4_off);
	}
	memcpy(c, &csum, 2);
	return 0;
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
		dev->tx_stall_since = accel_sdk_now(dev);
	} else if (accel_sdk_now(dev) - dev->tx_stall_since > DPA_TX_STALL_NS) {
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

/* One packet of a queue pair's TX ring (accel_sdk_tx_burst) into an mbuf
 * queued for the PMD. */
static enum accel_sdk_tx_verdict dpa_xmit(struct accel_qp *qp, const struct accel_sdk_tx_pkt *pkt)
{
	struct accel_port *port = qp->sdk.port;
	struct accel_dev *dev = port->sdk.dev;
	struct rte_mbuf *m;
	uint8_t *buf = dev->scratch;
	int direct = 0;

	if (dev->n_txb == DPA_BURST) {
		tx_flush(dev, 0);
		if (dev->n_txb == DPA_BURST)
			return ACCEL_SDK_TX_STOP; /* the PMD is full: leave the rest on the ring */
	}
	if (pkt->total > (uint32_t)dev->mtu + 18) {
		/* no TSO handed to the PMD (yet): a super-frame cannot go out */
		if (pkt->first)
			port->st.tx_gso_dropped++;
		return ACCEL_SDK_TX_DROP;
	}
	m = rte_pktmbuf_alloc(dev->pool);
	if (m && pkt->total <= rte_pktmbuf_tailroom(m)) {
		buf = rte_pktmbuf_mtod(m, uint8_t *); /* DMA straight into the mbuf */
		direct = 1;
	}
	if (accel_sdk_tx_gather(qp, pkt, buf)) {
		rte_pktmbuf_free(m);
		return ACCEL_SDK_TX_DROP; /* DMA fault, counted */
	}
	if (pkt->csum && (port->sdk.features & ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM)) &&
	    fill_l4_csum(buf, pkt->total) == 0)
		port->st.tx_csum_filled++;
	if (direct) {
		m->data_len = (uint16_t)pkt->total;
		m->pkt_len = pkt->total;
	} else {
		rte_pktmbuf_free(m);
		m = mbuf_from(dev, buf, pkt->total);
	}
	if (!m) {
		dev->st.mbuf_alloc_failed++;
		return ACCEL_SDK_TX_DROP;
	}
	dev->txb[dev->n_txb++] = m;
	return ACCEL_SDK_TX_SENT;
}

/* ---- RX ---- */

static uint16_t rx_csum_flags(struct accel_port *port, const struct rte_mbuf *m)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (!(port->sdk.features & ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM)))
		return 0;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return ACCEL_DESC_F_CSUM_OK;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		port->st.rx_csum_bad++;
		return ACCEL_DESC_F_CSUM_BAD;
	}
	return 0;
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
	{
		/* the outer tag, any TPID (what follows it is not read here) */
		struct pvnet_frame fr;
		pvnet_frame_parse_l2(f, m->pkt_len >= 18 ? 18 : 14, &fr);
		if (fr.n_tags)
			vid = fr.outer_tci & 0x0fff;
	}
	if (!(f[0] & 1)) {
		/* Level 1 filters; Levels 2-3 are not offered */
		q = accel_sdk_lookup_ucast(dev, f, vid, 1, NULL);
		if (!q)
			dev->st.rx_filter_miss++;
		else if (hwq && q->hwq == hwq)
			q->sdk.port->st.rx_hw_steered++;
	}
	if (!q)
		q = dev->sdk.default_qp;
	if (!q || q->sdk.port->sdk.detached) {
		dev->st.rx_dropped++;
		return;
	}
	/* the frame in one piece: in place for a one-segment mbuf, else via scratch */
	f = rte_pktmbuf_read(m, 0, m->pkt_len, dev->scratch);
	if (!f) {
		q->sdk.port->sdk.st.rx_dropped++;
		return;
	}
	accel_sdk_rx_deliver(q, f, m->pkt_len, rx_csum_flags(q->sdk.port, m));
}

int dpa_engine_pass(struct accel_dev *dev, uint32_t budget)
{
	struct rte_mbuf *pkts[DPA_BURST];
	int moved = 0;

	if (!dev->started)
		return 0;
	if (budget > DPA_BURST)
		budget = DPA_BURST;
	for (uint32_t i = 0; i < dev->sdk.ports_end; i++) {
		struct accel_port *p = dev->sdk.ports[i];
		if (!p || p->sdk.detached)
			continue;
		for (uint32_t q = 0; q < p->sdk.n_qps; q++)
			moved += accel_sdk_tx_burst(p->sdk.qps[q], budget, dpa_xmit);
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
	accel_sdk_irq_check_all(dev, accel_sdk_now(dev));
	return moved;
}
