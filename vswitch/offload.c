/* SPDX-License-Identifier: MIT */
/*
 * Software fallbacks for egress ports that lack checksum / TSO offload:
 * completion of a CSUM_BLANK packet (the checksum is lib's), and TCP
 * segmentation of a GSO packet whose data is in dom0 memory.
 */
#include <errno.h>
#include <string.h>

#include <pvnet/lib.h>
#include <pvnet/pkt_parse.h>

#include "vsw_private.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80
#define UDP_CSUM_OFFSET 6

int vsw_offload_csum(struct pvnet_pkt *pkt)
{
	uint32_t field;
	uint16_t c;

	if (!(pkt->flags & PVNET_PKT_F_CSUM_BLANK))
		return 0;
	field = (uint32_t)pkt->csum_start + pkt->csum_offset;
	if (pkt->src_kind != PVNET_PKT_SRC_LOCAL || pkt->head_size != pkt->len ||
	    field + 2 > pkt->len)
		return -EINVAL;
	c = pvnet_csum_finish(pvnet_csum_partial(pkt->data + pkt->csum_start,
						 pkt->len - pkt->csum_start, 0));
	if (c == 0 && pkt->csum_offset == UDP_CSUM_OFFSET)
		c = 0xffff; /* UDP: zero means "no checksum" */
	pvnet_wr16(pkt->data + field, c);
	pkt->flags &= (uint16_t)~PVNET_PKT_F_CSUM_BLANK;
	pkt->flags |= PVNET_PKT_F_DATA_VALIDATED;
	return 0;
}

struct tso_layout {
	uint32_t l3_off, l4_off, hdr_len, payload;
	bool v4;
};

/* A TCP GSO frame whose headers software TSO can rewrite: IPv4 (not a fragment) or
 * IPv6 without extension headers (tso_fix rewrites the fixed header's length),
 * matching gso_type, the TCP header within the frame. */
static int tso_parse(const struct pvnet_pkt *pkt, struct tso_layout *lo)
{
	struct pvnet_frame fr;

	if (pkt->src_kind != PVNET_PKT_SRC_LOCAL || pkt->head_size != pkt->len || !pkt->gso_size)
		return -EINVAL;
	if (pvnet_frame_parse(pkt->data, pkt->len, &fr) < 0 || !(fr.flags & PVNET_FRAME_F_L4) ||
	    fr.l4_proto != PVNET_IPPROTO_TCP || (fr.flags & PVNET_FRAME_F_FRAG))
		return -EINVAL;
	if (pkt->gso_type == PVNET_GSO_TCPV4 && fr.l3 == PVNET_FRAME_L3_IPV4)
		lo->v4 = true;
	else if (pkt->gso_type == PVNET_GSO_TCPV6 && fr.l3 == PVNET_FRAME_L3_IPV6 && !fr.n_exthdrs)
		lo->v4 = false;
	else
		return -EINVAL;
	lo->l3_off = fr.l3_off;
	lo->l4_off = fr.l4_off;
	lo->hdr_len = (uint32_t)fr.l4_off + fr.l4_hdr_len;
	lo->payload = pkt->len - lo->hdr_len;
	return 0;
}

/* Fills one segment's headers (copied already) for `seg_payload` bytes at `off`. */
static void tso_fix(uint8_t *s, const struct tso_layout *lo, uint32_t seq, uint16_t ip_id,
		    uint32_t seg_payload, bool first, bool last)
{
	uint8_t *ip = s + lo->l3_off, *tcp = s + lo->l4_off;
	uint32_t l4_size = lo->hdr_len - lo->l4_off + seg_payload, sum;

	if (lo->v4) {
		uint32_t ihl = lo->l4_off - lo->l3_off;
		pvnet_wr16(ip + 2, (uint16_t)(ihl + l4_size));
		pvnet_wr16(ip + 4, ip_id);
		pvnet_wr16(ip + 10, 0);
		pvnet_wr16(ip + 10, pvnet_csum_finish(pvnet_csum_partial(ip, ihl, 0)));
		sum = pvnet_csum_pseudo4(ip, PVNET_IPPROTO_TCP, l4_size);
	} else {
		pvnet_wr16(ip + 4, (uint16_t)l4_size);
		sum = pvnet_csum_pseudo6(ip, PVNET_IPPROTO_TCP, l4_size);
	}
	pvnet_wr32(tcp + 4, seq);
	if (!last)
		tcp[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
	if (!first)
		tcp[13] &= (uint8_t)~TCP_CWR;
	pvnet_wr16(tcp + 16, 0);
	pvnet_wr16(tcp + 16, pvnet_csum_finish(pvnet_csum_partial(tcp, l4_size, sum)));
}

int vsw_offload_tso(const struct pvnet_pkt *pkt, struct pvnet_pkt_pool *pool,
		    struct pvnet_pkt **segs, unsigned max_segs)
{
	struct tso_layout lo;
	unsigned nseg, got;
	uint32_t mss, seq;
	uint16_t ip_id;
	int rc;

	rc = tso_parse(pkt, &lo);
	if (rc)
		goto out;
	mss = pkt->gso_size;
	nseg = lo.payload ? (lo.payload + mss - 1) / mss : 1;
	rc = -ENOSPC;
	if (nseg > max_segs)
		goto out;
	rc = -ENOBUFS;
	got = pvnet_pkt_alloc_bulk(pool, segs, nseg);
	if (got < nseg)
		goto fail_put;
	if (!segs[0]->buf || segs[0]->buf_size < lo.hdr_len + (lo.payload < mss ? lo.payload : mss))
		goto fail_put;
	seq = pvnet_rd32(pkt->data + lo.l4_off + 4);
	ip_id = lo.v4 ? pvnet_rd16(pkt->data + lo.l3_off + 4) : 0;
	for (unsigned i = 0; i < nseg; i++) {
		struct pvnet_pkt *s = segs[i];
		uint32_t off = i * mss;
		uint32_t n = lo.payload - off < mss ? lo.payload - off : mss;

		if (!lo.payload)
			n = 0;
		memcpy(s->buf, pkt->data, lo.hdr_len);
		memcpy(s->buf + lo.hdr_len, pkt->data + lo.hdr_len + off, n);
		tso_fix(s->buf, &lo, seq + off, (uint16_t)(ip_id + i), n, i == 0, i + 1 == nseg);
		s->data = s->buf;
		s->len = s->head_size = lo.hdr_len + n;
		s->flags = (pkt->flags & PVNET_PKT_F_VLAN) | PVNET_PKT_F_DATA_VALIDATED;
		s->vlan_tci = pkt->vlan_tci;
		s->vlan = pkt->vlan;
		s->in_port = pkt->in_port;
	}
	return (int)nseg;

fail_put:
	for (unsigned i = 0; i < got; i++)
		pvnet_pkt_put(segs[i]);
out:
	return rc;
}
