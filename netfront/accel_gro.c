/* SPDX-License-Identifier: MIT */
/*
 * netfront/accel_gro.c - receive coalescing (GRO) for the NIC fast path
 * (Levels 2-3, accel.c). The NIC DMAs MTU frames into the guest's queue pair;
 * writing each to the TAP costs one writev and one trip up the guest's stack.
 * As real drivers do, consecutive in-order TCP segments of one flow within a
 * burst are handed to the TAP as one GSO super-frame: a patched copy of the
 * first segment's headers, then every segment's payload straight from the RX
 * pages (no copy of ours), with a virtio_net_hdr saying TCPV4/TCPV6, the MSS and
 * NEEDS_CSUM (the TCP check field holds the pseudo-header sum, as the TAP expects
 * for a partial checksum).
 *
 * Only segments the NIC verified (CSUM_OK) are merged: the stack above trusts a
 * partial checksum. What merges (Linux's tcp_gro_receive rules, reimplemented):
 * same Ethernet header, IPv4 without options and DF set without fragmentation
 * or IPv6 without extension headers, identical IP fields except length/ID/
 * checksum, same ports, ack, window and TCP options, flags ACK (+PSH) only,
 * sequence continuing the held one, payload of the held segments all MSS and
 * the new one at most MSS. A short segment or PSH closes the super-frame. All
 * frame bytes come from NIC-written pages: every field used is read from the
 * caller's frame once and checked before use; the frame must stay unchanged
 * until nf_gro_finish (the RX pages are reposted only after the burst).
 */
#include <errno.h>
#include <string.h>

#include <pvnet/lib.h>
#include <pvnet/pkt_parse.h>

#include "nf_private.h"

#define ETH_HLEN 14
#define TCP_F_FIN 0x01
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_PSH 0x08
#define TCP_F_ACK 0x10

struct gro_seg {
	uint32_t l4_off, hdr_len, seq;
	uint8_t tcp_flags;
	bool v6;
};

/*
 * Parses one frame of `len` bytes from `f`, a local copy of its first `avail`
 * bytes. Returns the TCP payload size (> 0) and fills *s, or 0 when the frame is
 * not a coalescable TCP segment.
 */
static uint32_t gro_parse(const uint8_t *f, uint32_t avail, uint32_t len, struct gro_seg *s)
{
	struct pvnet_frame fr;
	uint32_t ip_len, l4, thl;

	if (avail < ETH_HLEN + 60 || len < avail)
		return 0; /* below the smallest IPv6 TCP segment: nothing to coalesce */
	/* headers through TCP within our copy, untagged, TCP, not a fragment */
	if (pvnet_frame_parse(f, avail, &fr) < 0 || fr.n_tags || !(fr.flags & PVNET_FRAME_F_L4) ||
	    fr.l4_proto != PVNET_IPPROTO_TCP || (fr.flags & PVNET_FRAME_F_FRAG))
		return 0;
	l4 = fr.l4_off;
	if (fr.l3 == PVNET_FRAME_L3_IPV4) {
		const uint8_t *ip = f + ETH_HLEN;
		if (ip[0] != 0x45 || pvnet_rd16(ip + 6) != 0x4000)
			return 0; /* options, or no DF */
		ip_len = pvnet_rd16(ip + 2);
		if (ip_len < 40 || ip_len > len - ETH_HLEN)
			return 0;
		s->v6 = false;
		ip_len -= 20; /* TCP header + payload */
	} else if (fr.l3 == PVNET_FRAME_L3_IPV6 && !fr.n_exthdrs) {
		ip_len = pvnet_rd16(f + ETH_HLEN + 4);
		if (ip_len < 20 || ip_len > len - ETH_HLEN - 40)
			return 0;
		s->v6 = true;
	} else {
		return 0; /* ARP, other, IPv6 extension headers */
	}
	thl = fr.l4_hdr_len;
	if (thl >= ip_len)
		return 0; /* no payload */
	s->tcp_flags = f[l4 + 13];
	if ((s->tcp_flags & ~(TCP_F_PSH)) != TCP_F_ACK)
		return 0; /* SYN/FIN/RST/URG/ECE/CWR, or no ACK */
	s->l4_off = l4;
	s->hdr_len = l4 + thl;
	s->seq = pvnet_rd32(f + l4 + 4);
	return ip_len - thl;
}

void nf_gro_reset(struct nf_gro *g)
{
	g->nseg = 0;
}

bool nf_gro_start(struct nf_gro *g, const uint8_t *frame, uint32_t len, bool csum_ok)
{
	struct gro_seg s;
	uint32_t pay;

	uint32_t avail = len < NF_GRO_HDR_MAX ? len : NF_GRO_HDR_MAX;

	g->nseg = 0;
	if (!csum_ok)
		return false;
	memcpy(g->hdr, frame, avail); /* the one read of the headers; patched at finish */
	pay = gro_parse(g->hdr, avail, len, &s);
	if (!pay)
		return false;
	g->hdr_len = s.hdr_len;
	g->l4_off = s.l4_off;
	g->v6 = s.v6;
	g->mss = pay;
	g->payload = pay;
	g->next_seq = s.seq + pay;
	g->closed = (s.tcp_flags & TCP_F_PSH) != 0;
	g->first = frame;
	g->first_len = len;
	g->iov[2] = (struct iovec){.iov_base = (void *)(frame + s.hdr_len), .iov_len = pay};
	g->nseg = 1;
	return true;
}

bool nf_gro_merge(struct nf_gro *g, const uint8_t *frame, uint32_t len, bool csum_ok)
{
	uint8_t h[NF_GRO_HDR_MAX];
	const uint8_t *a = g->hdr;
	struct gro_seg s;
	uint32_t pay, l4 = g->l4_off, avail = len < NF_GRO_HDR_MAX ? len : NF_GRO_HDR_MAX;

	if (!g->nseg || g->closed || !csum_ok || g->nseg >= NF_GRO_MAX_SEGS)
		return false;
	memcpy(h, frame, avail); /* the one read of the headers we compare */
	pay = gro_parse(h, avail, len, &s);
	if (!pay || s.hdr_len != g->hdr_len || s.v6 != g->v6)
		return false;
	if (pay > g->mss || s.seq != g->next_seq)
		return false;
	if ((uint64_t)g->hdr_len - ETH_HLEN + g->payload + pay > 65535)
		return false; /* the IP length field (IPv4; IPv6 payload length alike) */
	if (memcmp(h, a, ETH_HLEN))
		return false;
	if (!g->v6) {
		const uint8_t *x = h + ETH_HLEN, *y = a + ETH_HLEN;
		/* all but total length (2), ID (4) and checksum (10) */
		if (memcmp(x, y, 2) || memcmp(x + 6, y + 6, 4) || memcmp(x + 12, y + 12, 8))
			return false;
	} else {
		const uint8_t *x = h + ETH_HLEN, *y = a + ETH_HLEN;
		/* all but the payload length (4) */
		if (memcmp(x, y, 4) || memcmp(x + 6, y + 6, 34))
			return false;
	}
	/* ports, ack, offset, window, urgent, options; flags but PSH; not seq/check */
	if (memcmp(h + l4, a + l4, 4) || memcmp(h + l4 + 8, a + l4 + 8, 5) ||
	    ((h[l4 + 13] ^ a[l4 + 13]) & ~TCP_F_PSH) || memcmp(h + l4 + 14, a + l4 + 14, 2) ||
	    memcmp(h + l4 + 18, a + l4 + 18, g->hdr_len - l4 - 18))
		return false;
	g->iov[2 + g->nseg] =
		(struct iovec){.iov_base = (void *)(frame + g->hdr_len), .iov_len = pay};
	g->nseg++;
	g->payload += pay;
	g->next_seq += pay;
	if (s.tcp_flags & TCP_F_PSH) {
		g->hdr[l4 + 13] |= TCP_F_PSH;
		g->closed = true;
	}
	if (pay < g->mss)
		g->closed = true;
	return true;
}

unsigned nf_gro_finish(struct nf_gro *g, struct iovec **iov, uint32_t *bytes)
{
	uint8_t *ip = g->hdr + ETH_HLEN, *th = g->hdr + g->l4_off;
	uint32_t tcp_len = g->hdr_len - g->l4_off + g->payload, s = 0;
	unsigned n = g->nseg;

	if (!n)
		return 0;
	g->nseg = 0;
	g->vh = (struct virtio_net_hdr){.gso_type = VIRTIO_NET_HDR_GSO_NONE};
	g->iov[0] = (struct iovec){.iov_base = &g->vh, .iov_len = sizeof(g->vh)};
	*iov = g->iov;
	if (n == 1) {
		/* nothing merged: the frame as the NIC wrote it (verified checksum) */
		g->vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
		g->iov[1] = (struct iovec){.iov_base = (void *)g->first, .iov_len = g->first_len};
		*bytes = g->first_len;
		g->frames++;
		return 2;
	}
	if (!g->v6) {
		pvnet_wr16(ip + 2, (uint16_t)(tcp_len + 20));
		pvnet_wr16(ip + 10, 0);
		pvnet_wr16(ip + 10, pvnet_csum_finish(pvnet_csum_partial(ip, 20, 0)));
		s = pvnet_csum_pseudo4(ip, 6, tcp_len);
	} else {
		pvnet_wr16(ip + 4, (uint16_t)tcp_len);
		s = pvnet_csum_pseudo6(ip, 6, tcp_len);
	}
	pvnet_wr16(th + 16,
		   pvnet_csum_fold(s)); /* partial checksum: the pseudo-header sum, not inverted */
	g->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	g->vh.gso_type = g->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	g->vh.hdr_len = (uint16_t)g->hdr_len;
	g->vh.gso_size = (uint16_t)g->mss;
	g->vh.csum_start = (uint16_t)g->l4_off;
	g->vh.csum_offset = 16;
	g->iov[1] = (struct iovec){.iov_base = g->hdr, .iov_len = g->hdr_len};
	*bytes = g->hdr_len + g->payload;
	g->frames++;
	g->super++;
	g->merged += n;
	return 2 + n;
}
