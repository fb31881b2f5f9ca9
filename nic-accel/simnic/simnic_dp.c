/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/simnic/simnic_dp.c - simnic's engine: IOMMU-checked DMA, TX (with
 * anti-spoofing, rate limit, checksum fill, TSO), the on-NIC L2 switch (VF
 * hairpin), wire RX (filters, default queue, checksum verify, LRO), interrupt
 * moderation, on the SDK's data path (pvnet/accel_sdk.h). Every function here
 * runs with dev->sdk.lock held.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/pkt_parse.h>

#include "simnic.h"

/* ---- checksums and parsing ---- */

uint16_t simnic_ip_csum(const uint8_t *ip, uint32_t ihl)
{
	return pvnet_csum_finish(pvnet_csum_partial(ip, ihl, 0));
}

/* pvnet_frame_parse (pvnet/pkt_parse.h), restricted to what the NIC offloads:
 * TCP or UDP over IPv4 (not a fragment) or IPv6 (no extension headers), behind
 * any VLAN tags, headers within len. 0 or -1. */
int simnic_parse_l4(const uint8_t *f, uint32_t len, struct simnic_l4 *out)
{
	struct pvnet_frame fr;

	if (pvnet_frame_parse(f, len, &fr) < 0 || !(fr.flags & PVNET_FRAME_F_L4) ||
	    (fr.flags & PVNET_FRAME_F_FRAG) || fr.n_exthdrs ||
	    (fr.l4_proto != PVNET_IPPROTO_TCP && fr.l4_proto != PVNET_IPPROTO_UDP))
		return -1;
	out->l3_off = fr.l3_off;
	out->l4_off = fr.l4_off;
	out->hdr_len = (uint32_t)fr.l4_off + fr.l4_hdr_len;
	out->proto = fr.l4_proto;
	out->ipv6 = fr.l3 == PVNET_FRAME_L3_IPV6;
	return 0;
}

/* The L4 checksum over the pseudo header and f[l4_off, len), with the checksum
 * field counted as it is: 0 when verifying a correct packet, the value to store
 * when the field was zeroed first. The L4 length is taken from `len`. */
uint16_t simnic_l4_csum(const uint8_t *f, uint32_t len, const struct simnic_l4 *l4)
{
	uint32_t sum, l4len = len - l4->l4_off;

	if (l4->ipv6)
		sum = pvnet_csum_pseudo6(f + l4->l3_off, l4->proto, l4len);
	else
		sum = pvnet_csum_pseudo4(f + l4->l3_off, l4->proto, l4len);
	return pvnet_csum_finish(pvnet_csum_partial(f + l4->l4_off, l4len, sum));
}

/* Frame length as the L3 header says (drops Ethernet padding). */
static uint32_t l3_frame_len(const uint8_t *f, uint32_t len, const struct simnic_l4 *l4)
{
	uint32_t n = l4->ipv6 ? l4->l3_off + 40 + pvnet_rd16(f + l4->l3_off + 4)
			      : l4->l3_off + pvnet_rd16(f + l4->l3_off + 2);
	return n <= len ? n : len;
}

static void fill_l4_csum(uint8_t *f, uint32_t len, const struct simnic_l4 *l4)
{
	uint32_t at = l4->l4_off + (l4->proto == 6 ? 16 : 6);
	uint16_t c;

	pvnet_wr16(f + at, 0);
	c = simnic_l4_csum(f, len, l4);
	if (l4->proto == 17 && c == 0)
		c = 0xffff; /* UDP: 0 means "no checksum" */
	pvnet_wr16(f + at, c);
}

/* RX checksum verification (rx-checksumming): CSUM_OK / CSUM_BAD / 0. */
static uint16_t rx_csum_flags(struct accel_port *port, const uint8_t *f, uint32_t len)
{
	struct simnic_l4 l4;
	uint32_t n;

	if (!(port->sdk.features & ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM)) ||
	    simnic_parse_l4(f, len, &l4))
		return 0;
	n = l3_frame_len(f, len, &l4);
	if (n < l4.hdr_len)
		return 0;
	if (l4.proto == 17 && !l4.ipv6 && pvnet_rd16(f + l4.l4_off + 6) == 0)
		return ACCEL_DESC_F_CSUM_OK;
	if (simnic_l4_csum(f, n, &l4) == 0)
		return ACCEL_DESC_F_CSUM_OK;
	port->st.rx_csum_bad++;
	return ACCEL_DESC_F_CSUM_BAD;
}

/* ---- the L2 switch ---- */

static int mac_is_group(const uint8_t *mac)
{
	return mac[0] & 1;
}

/* The outer tag's VID (any TPID), for the MAC/VLAN filters. */
static uint16_t frame_vlan(const uint8_t *f, uint32_t len)
{
	struct pvnet_frame fr;

	pvnet_frame_parse_l2(f, len, &fr);
	return fr.n_tags ? fr.outer_tci & 0x0fff : ACCEL_VLAN_NONE;
}

static void wire_send(struct accel_dev *dev, const uint8_t *f, uint32_t len)
{
	dev->wire_tx++;
	if (dev->wire_fd < 0)
		return;
	if (write(dev->wire_fd, f, len) != (ssize_t)len)
		dev->wire_errors++;
}

static void deliver_default(struct accel_dev *dev, const uint8_t *f, uint32_t len)
{
	struct accel_qp *q = dev->sdk.default_qp;

	if (!q || q->sdk.port->sdk.detached) {
		dev->rx_dropped++;
		return;
	}
	accel_sdk_rx_deliver(q, f, len, rx_csum_flags(q->sdk.port, f, len));
}

/* A frame leaving port `src`: VF-to-VF unicast is hairpinned, VF group frames
 * also reach the default queue (dom0 replicates them in software); the rest goes
 * to the wire. Only Level 3 ports take part in the on-NIC switch. */
static void switch_out(struct accel_port *src, const uint8_t *f, uint32_t len)
{
	struct accel_dev *dev = src->sdk.dev;

	if (src->sdk.level == 3) {
		if (!mac_is_group(f)) {
			struct accel_qp *q =
				accel_sdk_lookup_ucast(dev, f, frame_vlan(f, len), 3, src);
			if (q) {
				src->st.hairpin_packets++;
				accel_sdk_rx_deliver(q, f, len, rx_csum_flags(q->sdk.port, f, len));
				return;
			}
		} else if (dev->sdk.default_qp && dev->sdk.default_qp->sdk.port != src) {
			deliver_default(dev, f, len);
		}
	}
	wire_send(dev, f, len);
}

/* ---- TX ---- */

/* 1 if the frame passes the qp's TX filter. The addresses are checked behind
 * every VLAN tag; a frame whose IPv4/ARP header is cut short fails. */
static int tx_filter_ok(const struct accel_qp *qp, const uint8_t *f, uint32_t len)
{
	const struct accel_tx_filter *t = &qp->txf;
	struct pvnet_frame fr;
	uint32_t ip;
	int rc;

	if (len < 14)
		return 0;
	if ((t->flags & ACCEL_TXF_CHECK_MAC) && memcmp(f + 6, t->mac, 6) != 0)
		return 0;
	if (!(t->flags & ACCEL_TXF_CHECK_IP))
		return 1;
	rc = pvnet_frame_parse(f, len, &fr);
	if (fr.l3_off == 0)
		return 0; /* tags cut short or too many */
	if (fr.l3_type == PVNET_ETH_P_IPV4_NUM) {
		if (fr.l3 != PVNET_FRAME_L3_IPV4)
			return 0;
		memcpy(&ip, f + fr.l3_off + 12, 4);
	} else if (fr.l3_type == PVNET_ETH_P_ARP) {
		if (!(fr.flags & PVNET_FRAME_F_ARP_ETH_IP) || rc < 0)
			return 0;
		memcpy(&ip, f + fr.l3_off + PVNET_ARP_OFF_SPA, 4);
	} else {
		return 1; /* only IPv4 and ARP carry a checked source address */
	}
	for (uint32_t i = 0; i < t->n_ipv4 && i < ACCEL_TXF_MAX_IPV4; i++)
		if (t->ipv4[i] == ip)
			return 1;
	return 0;
}

/* Token bucket: 1 if `bytes` may go now (the bucket may go negative by one
 * packet, so packets larger than the burst still pass, and the long-run rate is
 * exact). */
static int rate_take(struct accel_qp *qp, uint32_t bytes)
{
	uint64_t now;

	if (!qp->rate_bps)
		return 1;
	now = accel_sdk_now(qp->sdk.port->sdk.dev);
	if (now > qp->last_refill_ns) {
		uint64_t dt = now - qp->last_refill_ns;
		if (dt > 1000000000ull)
			dt = 1000000000ull;
		qp->tokens += (int64_t)((unsigned __int128)qp->rate_bps * dt / 1000000000ull);
		if (qp->tokens > (int64_t)qp->burst)
			qp->tokens = (int64_t)qp->burst;
		qp->last_refill_ns = now;
	}
	if (qp->tokens <= 0) {
		if (!qp->throttled)
			qp->sdk.port->st.tx_rate_throttled++;
		qp->throttled = 1;
		return 0;
	}
	qp->throttled = 0;
	qp->tokens -= bytes;
	return 1;
}

/* TSO: cut a TCP packet into MSS-sized segments with their own IP/TCP headers. */
static int tx_tso(struct accel_port *port, uint8_t *f, uint32_t len, uint32_t mss)
{
	struct accel_dev *dev = port->sdk.dev;
	struct simnic_l4 l4;
	uint32_t hl, payload, seq, off;
	uint16_t ipid;
	uint8_t tcpflags;
	int nseg = 0;

	if (simnic_parse_l4(f, len, &l4) || l4.proto != 6 || mss == 0)
		return -EINVAL;
	hl = l4.hdr_len;
	if (hl + mss > SIMNIC_FRAME_MAX)
		return -EINVAL;
	payload = len - hl;
	seq = pvnet_rd32(f + l4.l4_off + 4);
	ipid = l4.ipv6 ? 0 : pvnet_rd16(f + l4.l3_off + 4);
	tcpflags = f[l4.l4_off + 13];
	for (off = 0; off < payload || (payload == 0 && nseg == 0); nseg++) {
		uint32_t n = payload - off < mss ? payload - off : mss;
		uint8_t *s = dev->segbuf;
		int last = off + n >= payload;

		memcpy(s, f, hl);
		memcpy(s + hl, f + hl + off, n);
		if (l4.ipv6) {
			pvnet_wr16(s + l4.l3_off + 4, (uint16_t)(hl - l4.l3_off - 40 + n));
		} else {
			pvnet_wr16(s + l4.l3_off + 2, (uint16_t)(hl - l4.l3_off + n));
			pvnet_wr16(s + l4.l3_off + 4, (uint16_t)(ipid + nseg));
			pvnet_wr16(s + l4.l3_off + 10, 0);
			pvnet_wr16(s + l4.l3_off + 10,
				   simnic_ip_csum(s + l4.l3_off, l4.l4_off - l4.l3_off));
		}
		pvnet_wr32(s + l4.l4_off + 4, seq + off);
		/* FIN and PSH only on the last segment, CWR only on the first */
		s[l4.l4_off + 13] = (uint8_t)(tcpflags & ~(last ? 0 : 0x09) & ~(nseg ? 0x80 : 0));
		fill_l4_csum(s, hl + n, &l4);
		switch_out(port, s, hl + n);
		off += n;
		if (n == 0)
			break;
	}
	port->st.tso_segments += (uint64_t)nseg;
	return 0;
}

/* One packet of a queue pair's TX ring (accel_sdk_tx_burst). */
static enum accel_sdk_tx_verdict simnic_xmit(struct accel_qp *qp,
					     const struct accel_sdk_tx_pkt *pkt)
{
	struct accel_port *port = qp->sdk.port;
	uint8_t *f = port->sdk.dev->txbuf; /* ACCEL_PKT_MAX bytes: room for pkt->total */
	struct simnic_l4 l4;

	if (!rate_take(qp, pkt->total))
		return ACCEL_SDK_TX_STOP; /* shaping: leave it on the ring */
	if (accel_sdk_tx_gather(qp, pkt, f))
		return ACCEL_SDK_TX_DROP; /* DMA fault, counted */
	if (!tx_filter_ok(qp, f, pkt->total)) {
		port->st.tx_spoof_dropped++;
		return ACCEL_SDK_TX_DROP;
	}
	if (pkt->mss && (port->sdk.features & ACCEL_FEAT_BIT(ACCEL_FEAT_TSO)) &&
	    tx_tso(port, f, pkt->total, pkt->mss) == 0)
		return ACCEL_SDK_TX_SENT; /* segmented and sent */
	if (pkt->csum && (port->sdk.features & ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM)) &&
	    simnic_parse_l4(f, pkt->total, &l4) == 0) {
		fill_l4_csum(f, l3_frame_len(f, pkt->total, &l4), &l4);
		port->st.tx_csum_filled++;
	}
	switch_out(port, f, pkt->total);
	return ACCEL_SDK_TX_SENT;
}

/* ---- wire RX with LRO ---- */

struct lro_state {
	struct accel_qp *qp; /* NULL: nothing pending */
	uint32_t len, segs, next_seq;
	struct simnic_l4 l4;
};

static void lro_flush(struct accel_dev *dev, struct lro_state *lro)
{
	uint8_t *f = dev->lrobuf;
	uint16_t flags = ACCEL_DESC_F_CSUM_OK;

	if (!lro->qp)
		return;
	if (lro->segs > 1) {
		pvnet_wr16(f + lro->l4.l3_off + 2, (uint16_t)(lro->len - lro->l4.l3_off));
		pvnet_wr16(f + lro->l4.l3_off + 10, 0);
		pvnet_wr16(f + lro->l4.l3_off + 10,
			   simnic_ip_csum(f + lro->l4.l3_off, lro->l4.l4_off - lro->l4.l3_off));
		fill_l4_csum(f, lro->len, &lro->l4);
		flags |= ACCEL_DESC_F_LRO;
		lro->qp->sdk.port->st.lro_coalesced += lro->segs - 1;
	}
	accel_sdk_rx_deliver(lro->qp, f, lro->len, flags);
	lro->qp = NULL;
}

/* 1 if f (already checksum-verified, IPv4/TCP, parsed as l4) extends the aggregate. */
static int lro_try_append(struct accel_dev *dev, struct lro_state *lro, struct accel_qp *qp,
			  const uint8_t *f, uint32_t len, const struct simnic_l4 *l4)
{
	const uint8_t *a = dev->lrobuf;
	uint32_t plen = len - l4->hdr_len;

	if (lro->qp != qp || l4->hdr_len != lro->l4.hdr_len || l4->l3_off != lro->l4.l3_off)
		return 0;
	/* same MACs, VLAN, addresses, ports; consecutive sequence; same ack */
	if (memcmp(a, f, l4->l3_off) != 0 || memcmp(a + l4->l3_off + 12, f + l4->l3_off + 12, 8) ||
	    memcmp(a + l4->l4_off, f + l4->l4_off, 4) ||
	    memcmp(a + l4->l4_off + 8, f + l4->l4_off + 8, 4) ||
	    pvnet_rd32(f + l4->l4_off + 4) != lro->next_seq)
		return 0;
	if (memcmp(a + l4->l4_off + 20, f + l4->l4_off + 20, l4->hdr_len - l4->l4_off - 20))
		return 0; /* TCP options differ (timestamps) */
	if (lro->len + plen > 65535 - 14)
		return 0;
	memcpy(dev->lrobuf + lro->len, f + l4->hdr_len, plen);
	lro->len += plen;
	lro->segs++;
	lro->next_seq += plen;
	/* the latest window and PSH win */
	memcpy(dev->lrobuf + l4->l4_off + 13, f + l4->l4_off + 13, 3);
	return 1;
}

/* 1 if the frame may start or join an aggregate. */
static int lro_eligible(const uint8_t *f, uint32_t len, const struct simnic_l4 *l4)
{
	if (l4->ipv6 || l4->proto != 6 || l4->l4_off - l4->l3_off != 20)
		return 0;
	if (l3_frame_len(f, len, l4) != len || len <= l4->hdr_len)
		return 0;
	/* only ACK (and PSH); SYN/FIN/RST/URG/ECE/CWR end coalescing */
	return (f[l4->l4_off + 13] & ~0x18) == 0 && (f[l4->l4_off + 13] & 0x10);
}

static void rx_one(struct accel_dev *dev, struct lro_state *lro, const uint8_t *f, uint32_t len)
{
	struct accel_qp *q = NULL;
	struct simnic_l4 l4;
	uint16_t cf;

	if (len < 14) {
		dev->rx_dropped++;
		return;
	}
	if (!mac_is_group(f)) {
		q = accel_sdk_lookup_ucast(dev, f, frame_vlan(f, len), 1, NULL);
		if (!q)
			dev->rx_filter_miss++;
	}
	if (!q)
		q = dev->sdk.default_qp;
	if (!q || q->sdk.port->sdk.detached) {
		lro_flush(dev, lro);
		dev->rx_dropped++;
		return;
	}
	cf = rx_csum_flags(q->sdk.port, f, len);
	if ((q->sdk.port->sdk.features & ACCEL_FEAT_BIT(ACCEL_FEAT_LRO)) &&
	    cf == ACCEL_DESC_F_CSUM_OK && simnic_parse_l4(f, len, &l4) == 0 &&
	    lro_eligible(f, len, &l4)) {
		if (lro_try_append(dev, lro, q, f, len, &l4))
			return;
		lro_flush(dev, lro);
		memcpy(dev->lrobuf, f, len);
		lro->qp = q;
		lro->len = len;
		lro->segs = 1;
		lro->l4 = l4;
		lro->next_seq = pvnet_rd32(f + l4.l4_off + 4) + (len - l4.hdr_len);
		return;
	}
	lro_flush(dev, lro);
	accel_sdk_rx_deliver(q, f, len, cf);
}

static int wire_rx(struct accel_dev *dev, uint32_t budget)
{
	struct lro_state lro = {0};
	int n = 0;

	if (dev->wire_fd < 0)
		return 0;
	while ((uint32_t)n < budget) {
		struct pollfd pfd = {.fd = dev->wire_fd, .events = POLLIN};
		ssize_t r;

		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
			break;
		r = read(dev->wire_fd, dev->segbuf, SIMNIC_FRAME_MAX);
		if (r <= 0) {
			dev->wire_errors++;
			break;
		}
		dev->wire_rx++;
		rx_one(dev, &lro, dev->segbuf, (uint32_t)r);
		n++;
	}
	lro_flush(dev, &lro);
	return n;
}

int simnic_engine_pass(struct accel_dev *dev, uint32_t budget)
{
	int moved = 0;

	for (uint32_t i = 0; i < dev->sdk.ports_end; i++) {
		struct accel_port *p = dev->sdk.ports[i];
		if (!p || p->sdk.detached)
			continue;
		for (uint32_t q = 0; q < p->sdk.n_qps; q++) {
			uint64_t v;
			/* drain the doorbell; the ring indices say what to do */
			if (read(p->sdk.qps[q]->sdk.doorbell_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: not rung, the rings are scanned anyway */
			}
			moved += accel_sdk_tx_burst(p->sdk.qps[q], budget, simnic_xmit);
		}
	}
	moved += wire_rx(dev, budget);
	accel_sdk_irq_check_all(dev, accel_sdk_now(dev));
	return moved;
}
