/* SPDX-License-Identifier: MIT */
/*
 * pvnet/pkt_parse.h - the one parser for guest- and wire-controlled Ethernet
 * frames: VLAN tags, L3 (IPv4, IPv6 with its extension-header chain, ARP) and the
 * upper-layer header (TCP, UDP, ICMP, ICMPv6).
 *
 * Every component that reads a frame a guest, a VMM or a wire peer wrote uses
 * it: the switch input and anti-spoofing (vswitch/), the offload fallbacks and
 * checksum setup (vswitch/offload.c, netback/tx.c, netfront/offload.c,
 * netfront/accel_gro.c) and the NIC plugins (nic-accel/, which see only
 * include/: hence header-only, static inline). Each caller applies its own
 * policy on the result (what it accepts, what it drops and why); the parser only
 * says what the bytes are.
 *
 * What it sees through:
 *   - any number (up to PVNET_FRAME_MAX_TAGS) of VLAN tags with TPID 0x8100
 *     (802.1Q), 0x88a8 (802.1ad S-tag) or 0x9100 (pre-standard QinQ), in any
 *     order, including priority tags (VID 0); it reports the outermost TPID/TCI,
 *     the second tag's TCI and the number of tags;
 *   - IPv6 extension headers (hop-by-hop, routing, fragment, destination
 *     options, AH, mobility, HIP, shim6; at most PVNET_FRAME_MAX_EXTHDRS) up to
 *     the upper-layer header; ESP and "no next header" end the walk.
 *
 * Bounds: it reads only f[0, len) and never beyond, whatever the bytes say.
 * Offsets it reports are below 65536 (at most 8 tags, 15 extension headers of
 * at most 2 KiB each, 60-byte IPv4 and TCP headers). It reads each byte it
 * uses once per call; callers parsing guest-shared memory pass a private copy.
 *
 * Threading: pure functions, no state.
 */
#ifndef PVNET_PKT_PARSE_H
#define PVNET_PKT_PARSE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <pvnet/lib.h>

#define PVNET_ETH_P_8021AD 0x88A8
#define PVNET_ETH_P_QINQ_9100 0x9100
#define PVNET_ETH_P_ARP 0x0806
#define PVNET_ETH_P_IPV4_NUM 0x0800
#define PVNET_ETH_P_IPV6_NUM 0x86DD

#define PVNET_IPPROTO_HOPOPTS 0
#define PVNET_IPPROTO_ICMP 1
#define PVNET_IPPROTO_TCP 6
#define PVNET_IPPROTO_UDP 17
#define PVNET_IPPROTO_ROUTING 43
#define PVNET_IPPROTO_FRAGMENT 44
#define PVNET_IPPROTO_ESP 50
#define PVNET_IPPROTO_AH 51
#define PVNET_IPPROTO_ICMPV6 58
#define PVNET_IPPROTO_NONE 59
#define PVNET_IPPROTO_DSTOPTS 60
#define PVNET_IPPROTO_MH 135
#define PVNET_IPPROTO_HIP 139
#define PVNET_IPPROTO_SHIM6 140

#define PVNET_FRAME_MAX_TAGS 8     /* more tags: -EINVAL */
#define PVNET_FRAME_MAX_EXTHDRS 15 /* more IPv6 extension headers: -EINVAL */

/* pvnet_frame.l3 */
enum pvnet_frame_l3 {
	PVNET_FRAME_L3_NONE = 0, /* an EtherType the parser does not know, or not reached */
	PVNET_FRAME_L3_IPV4,     /* version 4, IHL >= 5, the whole IPv4 header within len */
	PVNET_FRAME_L3_IPV6,     /* version 6, the fixed 40-byte header within len */
	PVNET_FRAME_L3_ARP,      /* the 8-byte ARP fixed header within len */
};

/* pvnet_frame.flags */
#define PVNET_FRAME_F_FRAG (1u << 0) /* an IP fragment (IPv4 MF/offset, IPv6 fragment header) */
#define PVNET_FRAME_F_LATER_FRAG (1u << 1) /* fragment offset != 0: no upper-layer header here */
#define PVNET_FRAME_F_L4_PROTO                                                                     \
	(1u << 2)                  /* the walk reached the upper layer: l4_off, l4_proto valid */
#define PVNET_FRAME_F_L4 (1u << 3) /* TCP/UDP/ICMP/ICMPv6 header wholly within len */
#define PVNET_FRAME_F_ARP_ETH_IP                                                                   \
	(1u << 4) /* ARP for Ethernet/IPv4 (1, 0x0800, 6, 4), 28 B within len */
#define PVNET_FRAME_F_EXTHDRS (1u << 5) /* IPv6: at least one extension header was walked */

/* ARP (Ethernet/IPv4) field offsets from l3_off */
#define PVNET_ARP_OFF_OP 6
#define PVNET_ARP_OFF_SHA 8
#define PVNET_ARP_OFF_SPA 14
#define PVNET_ARP_OFF_THA 18
#define PVNET_ARP_OFF_TPA 24
#define PVNET_ARP_ETH_IP_SIZE 28

/*
 * What the parser found. Fields are valid as far as the parse got (see the
 * return value of pvnet_frame_parse): l3_off/l3_type once every tag was read,
 * l3 once the L3 header was, l4_off/l4_proto with PVNET_FRAME_F_L4_PROTO,
 * l4_hdr_len with PVNET_FRAME_F_L4.
 */
struct pvnet_frame {
	uint16_t outer_tpid; /* TPID of the outermost tag (n_tags > 0) */
	uint16_t outer_tci;  /* its TCI: PCP | DEI | VID; VID 0 = priority tag */
	uint16_t inner_tci;  /* the second tag's TCI (n_tags > 1) */
	uint8_t n_tags;      /* VLAN tags read, outermost first */
	uint8_t l3;          /* enum pvnet_frame_l3 */
	uint16_t l3_off;     /* first byte after the MAC addresses and every tag; 0 = not reached */
	uint16_t l3_type;    /* the EtherType there */
	uint16_t l4_off;     /* upper-layer header (after IPv4 options / IPv6 extension headers) */
	uint16_t l4_hdr_len; /* its size: TCP data offset, UDP 8, ICMP/ICMPv6 8 */
	uint16_t ip_end;     /* IPv4: l3_off + total length; IPv6: l3_off + 40 + payload length
			      * (as the header says: may exceed len; 0 for a jumbogram) */
	uint8_t l4_proto;  /* upper-layer protocol number (IPv4 protocol, last IPv6 next header) */
	uint8_t n_exthdrs; /* IPv6 extension headers walked */
	uint16_t flags;    /* PVNET_FRAME_F_* */
	uint16_t arp_op;   /* ARP operation (PVNET_FRAME_F_ARP_ETH_IP) */
};

static inline bool pvnet_eth_p_is_vlan(uint16_t type)
{
	return type == 0x8100 || type == PVNET_ETH_P_8021AD || type == PVNET_ETH_P_QINQ_9100;
}

/* IEEE 802.1D reserved group addresses 01:80:c2:00:00:00-0f (STP, PAUSE, LACP,
 * 802.1X, LLDP, ...): a bridge never forwards them. */
static inline bool pvnet_mac_is_link_local(const uint8_t *mac)
{
	return mac[0] == 0x01 && mac[1] == 0x80 && mac[2] == 0xc2 && mac[3] == 0 && mac[4] == 0 &&
	       (mac[5] & 0xf0) == 0;
}

static inline bool pvnet_mac_is_zero(const uint8_t *mac)
{
	return !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

/*
 * The L2 part: MAC addresses and every VLAN tag. Fills n_tags, outer_tpid,
 * outer_tci, inner_tci as it reads them, then l3_off and l3_type; clears the
 * rest of *out. Returns 0, -ENODATA (len < 14, or a tag cut short: n_tags counts
 * the whole tags read, l3_off stays 0) or -EINVAL (more than PVNET_FRAME_MAX_TAGS
 * tags; n_tags = PVNET_FRAME_MAX_TAGS).
 */
static inline int pvnet_frame_parse_l2(const uint8_t *f, uint32_t len, struct pvnet_frame *out)
{
	uint32_t off = 12;
	uint16_t type;

	*out = (struct pvnet_frame){0};
	if (len < 14)
		return -ENODATA;
	type = pvnet_rd16(f + 12);
	off = 14;
	while (pvnet_eth_p_is_vlan(type)) {
		if (out->n_tags == PVNET_FRAME_MAX_TAGS)
			return -EINVAL;
		if (len < off + 4)
			return -ENODATA;
		if (out->n_tags == 0) {
			out->outer_tpid = type;
			out->outer_tci = pvnet_rd16(f + off);
		} else if (out->n_tags == 1) {
			out->inner_tci = pvnet_rd16(f + off);
		}
		out->n_tags++;
		type = pvnet_rd16(f + off + 2);
		off += 4;
	}
	out->l3_off = (uint16_t)off;
	out->l3_type = type;
	return 0;
}

/* 1 for an IPv6 extension header whose length is (byte 1 + 1) * 8 octets. */
static inline bool pvnet_ipv6_is_exthdr(uint8_t nh)
{
	return nh == PVNET_IPPROTO_HOPOPTS || nh == PVNET_IPPROTO_ROUTING ||
	       nh == PVNET_IPPROTO_DSTOPTS || nh == PVNET_IPPROTO_MH || nh == PVNET_IPPROTO_HIP ||
	       nh == PVNET_IPPROTO_SHIM6;
}

/* The upper-layer header at out->l4_off: sets l4_hdr_len and F_L4 for TCP, UDP,
 * ICMP, ICMPv6 when it fits. 0, -ENODATA (cut short) or -EINVAL (TCP offset < 5);
 * 0 for another protocol. */
static inline int pvnet_frame_parse_l4_(const uint8_t *f, uint32_t len, struct pvnet_frame *out)
{
	uint32_t l4 = out->l4_off, hl;

	switch (out->l4_proto) {
	case PVNET_IPPROTO_TCP:
		if (len < l4 + 20)
			return -ENODATA;
		hl = (uint32_t)(f[l4 + 12] >> 4) * 4;
		if (hl < 20)
			return -EINVAL;
		break;
	case PVNET_IPPROTO_UDP:
	case PVNET_IPPROTO_ICMP:
	case PVNET_IPPROTO_ICMPV6:
		hl = 8;
		break;
	default:
		return 0;
	}
	if (len < l4 + hl)
		return -ENODATA;
	out->l4_hdr_len = (uint16_t)hl;
	out->flags |= PVNET_FRAME_F_L4;
	return 0;
}

/*
 * Parses the whole frame f[0, len): L2 (pvnet_frame_parse_l2), then by EtherType
 * IPv4, IPv6 (walking its extension headers), ARP, then the upper-layer header.
 * Returns:
 *   0        every header it knows was complete and well formed (an unknown
 *            EtherType or upper-layer protocol, a later fragment, ESP: 0, with
 *            l3 = NONE / no F_L4);
 *   -ENODATA a header runs past len (a truncated frame, or a head copy too
 *            short): *out holds what came before it;
 *   -EINVAL  malformed: too many tags or extension headers, wrong IP version,
 *            IHL < 5, TCP data offset < 5.
 * Never reads outside f[0, len).
 */
static inline int pvnet_frame_parse(const uint8_t *f, uint32_t len, struct pvnet_frame *out)
{
	uint32_t off, l4;
	uint8_t nh;
	int rc = pvnet_frame_parse_l2(f, len, out);

	if (rc)
		return rc;
	off = out->l3_off;
	switch (out->l3_type) {
	case PVNET_ETH_P_IPV4_NUM: {
		uint32_t ihl;
		if (len < off + 20)
			return -ENODATA;
		ihl = (uint32_t)(f[off] & 0x0f) * 4;
		if ((f[off] >> 4) != 4 || ihl < 20)
			return -EINVAL;
		if (len < off + ihl)
			return -ENODATA;
		out->l3 = PVNET_FRAME_L3_IPV4;
		out->ip_end = (uint16_t)(off + pvnet_rd16(f + off + 2) > 0xffff
						 ? 0xffff
						 : off + pvnet_rd16(f + off + 2));
		if (((f[off + 6] & 0x3f) | f[off + 7]) != 0) {
			out->flags |= PVNET_FRAME_F_FRAG;
			if (((f[off + 6] & 0x1f) | f[off + 7]) != 0)
				out->flags |= PVNET_FRAME_F_LATER_FRAG;
		}
		out->l4_proto = f[off + 9];
		out->l4_off = (uint16_t)(off + ihl);
		if (out->flags & PVNET_FRAME_F_LATER_FRAG)
			return 0;
		out->flags |= PVNET_FRAME_F_L4_PROTO;
		return pvnet_frame_parse_l4_(f, len, out);
	}
	case PVNET_ETH_P_IPV6_NUM:
		if (len < off + 40)
			return -ENODATA;
		if ((f[off] >> 4) != 6)
			return -EINVAL;
		out->l3 = PVNET_FRAME_L3_IPV6;
		{
			uint32_t plen = pvnet_rd16(f + off + 4);
			out->ip_end = (uint16_t)(plen == 0                  ? 0
						 : off + 40 + plen > 0xffff ? 0xffff
									    : off + 40 + plen);
		}
		nh = f[off + 6];
		l4 = off + 40;
		for (;;) {
			uint32_t hl;
			if (nh == PVNET_IPPROTO_FRAGMENT) {
				hl = 8;
			} else if (nh == PVNET_IPPROTO_AH) {
				if (len < l4 + 2)
					return -ENODATA;
				hl = ((uint32_t)f[l4 + 1] + 2) * 4;
			} else if (pvnet_ipv6_is_exthdr(nh)) {
				if (len < l4 + 2)
					return -ENODATA;
				hl = ((uint32_t)f[l4 + 1] + 1) * 8;
			} else {
				break;
			}
			if (out->n_exthdrs == PVNET_FRAME_MAX_EXTHDRS)
				return -EINVAL;
			if (len < l4 + hl)
				return -ENODATA;
			out->n_exthdrs++;
			out->flags |= PVNET_FRAME_F_EXTHDRS;
			if (nh == PVNET_IPPROTO_FRAGMENT) {
				out->flags |= PVNET_FRAME_F_FRAG;
				if (pvnet_rd16(f + l4 + 2) & 0xfff8) {
					out->flags |= PVNET_FRAME_F_LATER_FRAG;
					out->l4_proto = f[l4];
					out->l4_off = (uint16_t)(l4 + hl);
					return 0;
				}
			}
			nh = f[l4];
			l4 += hl;
		}
		out->l4_proto = nh;
		out->l4_off = (uint16_t)l4;
		out->flags |= PVNET_FRAME_F_L4_PROTO;
		return pvnet_frame_parse_l4_(f, len, out);
	case PVNET_ETH_P_ARP:
		if (len < off + 8)
			return -ENODATA;
		out->l3 = PVNET_FRAME_L3_ARP;
		out->arp_op = pvnet_rd16(f + off + PVNET_ARP_OFF_OP);
		if (pvnet_rd16(f + off) == 1 && pvnet_rd16(f + off + 2) == PVNET_ETH_P_IPV4_NUM &&
		    f[off + 4] == 6 && f[off + 5] == 4) {
			if (len < off + PVNET_ARP_ETH_IP_SIZE)
				return -ENODATA;
			out->flags |= PVNET_FRAME_F_ARP_ETH_IP;
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- checksum/GSO metadata (netif carries no csum_start) ---------------------------- */

/*
 * netif_tx_request's NETTXF_csum_blank and netif_rx_response's NETRXF_csum_blank
 * say "the L4 checksum is not filled in" but, unlike virtio_net_hdr, carry no
 * csum_start/csum_offset: both ends find them by parsing the headers (as Linux's
 * skb_checksum_setup does).
 */
struct pvnet_l4_info {
	uint16_t l3_off;      /* IP header offset (after Ethernet and any VLAN tags) */
	uint16_t l4_off;      /* TCP/UDP header offset = csum_start */
	uint16_t csum_offset; /* from l4_off: 16 for TCP, 6 for UDP */
	uint16_t hdr_len;     /* through the end of the TCP header (TCP only), else l4_off + 8 */
	uint8_t proto;        /* PVNET_IPPROTO_TCP or _UDP */
	uint8_t ipv6;         /* 1 for IPv6 */
};

/*
 * pvnet_frame_parse, restricted to what a checksum offload can complete: TCP or
 * UDP over IPv4 (not a fragment) or IPv6 (extension headers allowed, not a
 * fragment), headers within len. 0 and *out, or -1.
 */
static inline int pvnet_l4_locate(const uint8_t *f, uint32_t len, struct pvnet_l4_info *out)
{
	struct pvnet_frame fr;

	if (pvnet_frame_parse(f, len, &fr) < 0 || !(fr.flags & PVNET_FRAME_F_L4) ||
	    (fr.flags & PVNET_FRAME_F_FRAG) ||
	    (fr.l4_proto != PVNET_IPPROTO_TCP && fr.l4_proto != PVNET_IPPROTO_UDP))
		return -1;
	out->l3_off = fr.l3_off;
	out->l4_off = fr.l4_off;
	out->proto = fr.l4_proto;
	out->ipv6 = fr.l3 == PVNET_FRAME_L3_IPV6;
	out->csum_offset = fr.l4_proto == PVNET_IPPROTO_TCP ? 16 : 6;
	out->hdr_len = (uint16_t)(fr.l4_off + fr.l4_hdr_len);
	return 0;
}

#endif /* PVNET_PKT_PARSE_H */
