/* SPDX-License-Identifier: MIT */
/*
 * pvnet/pkt_parse.h - locate the L3/L4 headers of an Ethernet frame, for the
 * checksum and GSO metadata that netif does not carry.
 *
 * netif_tx_request's NETTXF_csum_blank and netif_rx_response's
 * NETRXF_csum_blank say "the L4 checksum is not filled in" but, unlike
 * virtio_net_hdr, carry no csum_start/csum_offset: both ends find them by
 * parsing the headers (as Linux's skb_checksum_setup does). This is that parser.
 * It reads only the bytes given (a copied header), never beyond `len`.
 */
#ifndef PVNET_PKT_PARSE_H
#define PVNET_PKT_PARSE_H

#include <stdint.h>

#define PVNET_IPPROTO_TCP 6
#define PVNET_IPPROTO_UDP 17

struct pvnet_l4_info {
	uint16_t l3_off;      /* IP header offset (after Ethernet and any 802.1Q tags) */
	uint16_t l4_off;      /* TCP/UDP header offset = csum_start */
	uint16_t csum_offset; /* from l4_off: 16 for TCP, 6 for UDP */
	uint16_t hdr_len;     /* through the end of the TCP header (TCP only), else l4_off + 8 */
	uint8_t proto;        /* PVNET_IPPROTO_TCP or _UDP */
	uint8_t ipv6;         /* 1 for IPv6 */
};

/*
 * Parses Ethernet (with up to two 802.1Q/802.1ad tags), IPv4 (with options, not a
 * fragment) or IPv6 (with hop-by-hop/routing/destination-options extension
 * headers), then TCP or UDP. Returns 0 and fills `out`, or -1 if the frame is
 * not TCP/UDP over IP or the headers do not fit in `len` bytes.
 */
static inline int pvnet_l4_locate(const uint8_t *f, uint32_t len, struct pvnet_l4_info *out)
{
	uint32_t off = 12, l4;
	uint16_t type;
	uint8_t proto;

	if (len < 14)
		return -1;
	type = (uint16_t)(f[12] << 8 | f[13]);
	off = 14;
	for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < 2; tags++) {
		if (len < off + 4)
			return -1;
		type = (uint16_t)(f[off + 2] << 8 | f[off + 3]);
		off += 4;
	}
	out->l3_off = (uint16_t)off;
	if (type == 0x0800) {
		uint32_t ihl;
		if (len < off + 20 || (f[off] >> 4) != 4)
			return -1;
		ihl = (uint32_t)(f[off] & 0x0f) * 4;
		if (ihl < 20 || len < off + ihl)
			return -1;
		/* a fragment (MF set or offset != 0) has no L4 header to fill */
		if (((f[off + 6] & 0x3f) | f[off + 7]) != 0)
			return -1;
		proto = f[off + 9];
		l4 = off + ihl;
		out->ipv6 = 0;
	} else if (type == 0x86DD) {
		if (len < off + 40 || (f[off] >> 4) != 6)
			return -1;
		proto = f[off + 6];
		l4 = off + 40;
		/* skip hop-by-hop (0), routing (43), destination options (60) */
		for (int i = 0; i < 8 && (proto == 0 || proto == 43 || proto == 60); i++) {
			if (len < l4 + 8)
				return -1;
			proto = f[l4];
			l4 += (uint32_t)(f[l4 + 1] + 1) * 8;
		}
		out->ipv6 = 1;
	} else {
		return -1;
	}
	if (l4 > 0xffff)
		return -1;
	out->l4_off = (uint16_t)l4;
	out->proto = proto;
	if (proto == PVNET_IPPROTO_TCP) {
		uint32_t doff;
		if (len < l4 + 20)
			return -1;
		doff = (uint32_t)(f[l4 + 12] >> 4) * 4;
		if (doff < 20 || len < l4 + doff)
			return -1;
		out->csum_offset = 16;
		out->hdr_len = (uint16_t)(l4 + doff);
	} else if (proto == PVNET_IPPROTO_UDP) {
		if (len < l4 + 8)
			return -1;
		out->csum_offset = 6;
		out->hdr_len = (uint16_t)(l4 + 8);
	} else {
		return -1;
	}
	return 0;
}

#endif /* PVNET_PKT_PARSE_H */
