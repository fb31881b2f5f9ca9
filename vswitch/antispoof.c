/* SPDX-License-Identifier: MIT */
/*
 * Per-port anti-spoofing (vswitch.h "anti-spoofing"): source MAC, and with
 * configured addresses the IPv4/IPv6 source, ARP sender and ND claims. Checked in
 * vsw_input stage 1 on the head after the outer tag was popped, with the one frame
 * parser (pvnet/pkt_parse.h): inner tags and IPv6 extension headers are seen
 * through. The head holds at least Ethernet + IPv6 + ICMPv6 ND for every port
 * (netback copies 128 B, local packets are whole); a frame whose headers a check
 * needs are cut short or malformed is refused as bad_headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <pvnet/log.h>
#include <pvnet/pkt_parse.h>

#include "vsw_private.h"

#define ND_NS 135
#define ND_NA 136
#define ND_RA 134
#define ND_REDIRECT 137
#define ND_OPT_SLLA 1
#define ND_OPT_TLLA 2
#define DHCP4_SERVER_PORT 67
#define DHCP4_CLIENT_PORT 68
#define DHCP6_SERVER_PORT 547
#define DHCP6_CLIENT_PORT 546

struct vsw_antispoof {
	uint8_t mac[6];
	unsigned n4, n6;
	uint8_t v4[VSW_ANTISPOOF_MAX_IPS][4];
	uint8_t v6[VSW_ANTISPOOF_MAX_IPS][16];
	uint8_t ll6[16]; /* fe80::EUI-64(mac), always permitted as IPv6 source */
};

static bool v4_ok(const struct vsw_antispoof *as, const uint8_t *a)
{
	for (unsigned i = 0; i < as->n4; i++)
		if (!memcmp(as->v4[i], a, 4))
			return true;
	return false;
}

static bool v6_listed(const struct vsw_antispoof *as, const uint8_t *a)
{
	for (unsigned i = 0; i < as->n6; i++)
		if (!memcmp(as->v6[i], a, 16))
			return true;
	return false;
}

static bool v6_unspec(const uint8_t *a)
{
	static const uint8_t zero[16];
	return !memcmp(a, zero, 16);
}

/* The frame's IPv4 header is at fr->l3_off; rc is pvnet_frame_parse's verdict. */
static int check_ipv4(const struct vsw_antispoof *as, const uint8_t *d,
		      const struct pvnet_frame *fr)
{
	static const uint8_t any[4];
	const uint8_t *ip = d + fr->l3_off;

	if (!as->n4)
		return -1;
	if (fr->l3 != PVNET_FRAME_L3_IPV4)
		return VSW_DROP_BAD_HEADERS; /* cut short, or not version 4 / IHL < 5 */
	if (v4_ok(as, ip + 12))
		return -1;
	/* DHCP discover/request from 0.0.0.0 to server port 67 */
	if (!memcmp(ip + 12, any, 4) && fr->l4_proto == PVNET_IPPROTO_UDP &&
	    (fr->flags & PVNET_FRAME_F_L4) && !(fr->flags & PVNET_FRAME_F_FRAG) &&
	    pvnet_rd16(d + fr->l4_off + 2) == 67)
		return -1;
	return VSW_DROP_SPOOFED_IP;
}

static int check_arp(const struct vsw_antispoof *as, const uint8_t *d, const struct pvnet_frame *fr,
		     int rc)
{
	static const uint8_t any[4];
	const uint8_t *arp = d + fr->l3_off;

	/* Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4 */
	if (!(fr->flags & PVNET_FRAME_F_ARP_ETH_IP))
		return rc < 0 ? VSW_DROP_BAD_HEADERS : VSW_DROP_SPOOFED_ARP;
	if (memcmp(arp + PVNET_ARP_OFF_SHA, as->mac, 6))
		return VSW_DROP_SPOOFED_ARP;
	if (as->n4 && !v4_ok(as, arp + PVNET_ARP_OFF_SPA) &&
	    memcmp(arp + PVNET_ARP_OFF_SPA, any, 4))
		return VSW_DROP_SPOOFED_ARP;
	return -1;
}

/* Checks ND options of an NS/NA: link-layer address options must be ours. */
static bool nd_opts_ok(const struct vsw_antispoof *as, const uint8_t *opt, uint32_t size)
{
	while (size >= 8) {
		uint32_t olen = (uint32_t)opt[1] * 8;
		if (olen == 0 || olen > size)
			return false;
		if ((opt[0] == ND_OPT_SLLA || opt[0] == ND_OPT_TLLA) && olen >= 8 &&
		    memcmp(opt + 2, as->mac, 6))
			return false;
		opt += olen;
		size -= olen;
	}
	return true;
}

/*
 * The source address, and ND claims wherever ICMPv6 sits: the parser walks the
 * extension-header chain, so hop-by-hop / destination options / routing headers
 * in front of an NA hide nothing. A chain the head does not hold, or an NS/NA
 * whose body reaches beyond the head or is fragmented (RFC 6980 forbids it),
 * cannot be checked: bad_headers. Router Advertisements and Redirects: spoofed_nd.
 */
static int check_ipv6(const struct vsw_antispoof *as, const struct pvnet_pkt *pkt,
		      const struct pvnet_frame *fr)
{
	const uint8_t *d = pkt->data, *ip = d + fr->l3_off, *icmp;
	uint32_t end;
	bool src_unspec;

	/* RA guard (RFC 6105), with or without IPv6 addresses configured: a port
	 * behind anti-spoofing is no router, its RAs and Redirects would make the
	 * other guests route through it (or renumber them) */
	if (fr->l3 == PVNET_FRAME_L3_IPV6 && (fr->flags & PVNET_FRAME_F_L4) &&
	    fr->l4_proto == PVNET_IPPROTO_ICMPV6 &&
	    (d[fr->l4_off] == ND_RA || d[fr->l4_off] == ND_REDIRECT))
		return VSW_DROP_SPOOFED_ND;
	if (!as->n6)
		return -1;
	if (fr->l3 != PVNET_FRAME_L3_IPV6)
		return VSW_DROP_BAD_HEADERS;
	src_unspec = v6_unspec(ip + 8);
	if (!src_unspec && !v6_listed(as, ip + 8) && memcmp(ip + 8, as->ll6, 16))
		return VSW_DROP_SPOOFED_IP;
	if (!(fr->flags & PVNET_FRAME_F_L4_PROTO))
		/* a later fragment carries no ICMPv6 header; else the chain is cut/too long */
		return (fr->flags & PVNET_FRAME_F_LATER_FRAG) ? -1 : VSW_DROP_BAD_HEADERS;
	if (fr->l4_proto != PVNET_IPPROTO_ICMPV6)
		return -1;
	if (!(fr->flags & PVNET_FRAME_F_L4))
		return VSW_DROP_BAD_HEADERS;
	icmp = d + fr->l4_off;
	if (icmp[0] != ND_NS && icmp[0] != ND_NA)
		return -1;
	end = fr->ip_end;
	if ((fr->flags & PVNET_FRAME_F_FRAG) || end < (uint32_t)fr->l4_off + 24 || end > pkt->len ||
	    end > pkt->head_size)
		return VSW_DROP_BAD_HEADERS;
	/* NA: the target is what the sender claims. NS from :: is DAD: also a claim. */
	if (icmp[0] == ND_NA || src_unspec) {
		if (!v6_listed(as, icmp + 8) && memcmp(icmp + 8, as->ll6, 16))
			return VSW_DROP_SPOOFED_ND;
	}
	if (!nd_opts_ok(as, icmp + 24, end - fr->l4_off - 24))
		return VSW_DROP_SPOOFED_ND;
	return -1;
}

/*
 * DHCP guard, with or without addresses configured: a port behind anti-spoofing is
 * no DHCP server. A DHCPv4 server message (UDP 67 -> 68) or DHCPv6 server message
 * (UDP 547 -> 546) from it would hand the other guests addresses, a gateway and DNS
 * servers of its choosing. Behind any tags and IPv6 extension headers; a first
 * fragment is judged by its UDP header (the later ones carry none and are useless
 * without it). Clients (68 -> 67, 546 -> 547) pass.
 */
static int check_dhcp(const uint8_t *d, const struct pvnet_frame *fr)
{
	uint16_t sport, dport;

	if (!(fr->flags & PVNET_FRAME_F_L4_PROTO) || fr->l4_proto != PVNET_IPPROTO_UDP)
		return -1;
	if (!(fr->flags & PVNET_FRAME_F_L4))
		return VSW_DROP_BAD_HEADERS; /* a UDP header the head does not hold: cannot tell */
	sport = pvnet_rd16(d + fr->l4_off);
	dport = pvnet_rd16(d + fr->l4_off + 2);
	if (fr->l3 == PVNET_FRAME_L3_IPV4 && sport == DHCP4_SERVER_PORT &&
	    dport == DHCP4_CLIENT_PORT)
		return VSW_DROP_SPOOFED_DHCP;
	if (fr->l3 == PVNET_FRAME_L3_IPV6 && sport == DHCP6_SERVER_PORT &&
	    dport == DHCP6_CLIENT_PORT)
		return VSW_DROP_SPOOFED_DHCP;
	return -1;
}

int vsw_antispoof_check(const struct vsw_antispoof *as, const struct pvnet_pkt *pkt)
{
	const uint8_t *d = pkt->data;
	struct pvnet_frame fr;
	int rc, rc2;

	if (memcmp(d + 6, as->mac, 6))
		return VSW_DROP_SPOOFED_MAC;
	/* behind every remaining VLAN tag (vsw_input popped the outer one) */
	rc = pvnet_frame_parse(d, pkt->head_size, &fr);
	if (!fr.l3_off)
		return VSW_DROP_BAD_HEADERS; /* tags cut short, or too many */
	rc2 = check_dhcp(d, &fr);
	if (rc2 >= 0)
		return rc2;
	switch (fr.l3_type) {
	case PVNET_ETH_P_IPV4_NUM:
		return check_ipv4(as, d, &fr);
	case PVNET_ETH_P_IPV6_NUM:
		return check_ipv6(as, pkt, &fr);
	case PVNET_ETH_P_ARP:
		return check_arp(as, d, &fr, rc);
	default:
		return -1;
	}
}

/*
 * The bridge's table of what anti-spoofing binds to its ports: each port's MAC and
 * configured addresses, so that no other port (an uplink, VXLAN or TAP peer) can
 * claim them. Open addressing, linear probing, at most half full; rebuilt whole on
 * every change (a configuration event, O(ports x addresses)), so no deletions.
 */
enum { OWN_MAC = 1, OWN_V4, OWN_V6 };
#define OWN_SHARED UINT16_MAX /* given to several ports: protects none of them */

struct vsw_addr_owner {
	uint8_t kind; /* 0: free slot */
	uint8_t key[16];
	uint16_t owner; /* port_no + 1, or OWN_SHARED */
};

static uint32_t owner_hash(uint8_t kind, const uint8_t *key, unsigned size)
{
	uint32_t h = 2166136261u ^ kind; /* FNV-1a */
	for (unsigned i = 0; i < size; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

static unsigned kind_size(uint8_t kind)
{
	return kind == OWN_MAC ? 6 : kind == OWN_V4 ? 4 : 16;
}

static void owner_put(struct vsw_addr_owner *t, uint32_t mask, uint8_t kind, const uint8_t *key,
		      uint32_t port_no)
{
	unsigned size = kind_size(kind);

	for (uint32_t i = owner_hash(kind, key, size) & mask;; i = (i + 1) & mask) {
		if (!t[i].kind) {
			t[i].kind = kind;
			memcpy(t[i].key, key, size);
			t[i].owner = (uint16_t)(port_no + 1);
			return;
		}
		if (t[i].kind == kind && !memcmp(t[i].key, key, size)) {
			if (t[i].owner != port_no + 1)
				t[i].owner = OWN_SHARED;
			return;
		}
	}
}

/* true if key is bound to one port and it is not port_no */
static bool owner_other(const struct vsw_bridge *br, uint32_t port_no, uint8_t kind,
			const uint8_t *key)
{
	const struct vsw_addr_owner *t = br->owners;
	unsigned size = kind_size(kind);

	if (!t)
		return false;
	for (uint32_t i = owner_hash(kind, key, size) & br->owners_mask;;
	     i = (i + 1) & br->owners_mask) {
		if (!t[i].kind)
			return false;
		if (t[i].kind == kind && !memcmp(t[i].key, key, size))
			return t[i].owner != OWN_SHARED && t[i].owner != port_no + 1;
	}
}

void vsw_antispoof_owners_free(struct vsw_bridge *br)
{
	free(br->owners);
	br->owners = NULL;
	br->owners_mask = 0;
}

int vsw_antispoof_owners_rebuild(struct vsw_bridge *br)
{
	struct vsw_addr_owner *t;
	uint32_t n = 0, slots = 16;

	vsw_antispoof_owners_free(br);
	for (uint32_t no = 0; no < VSW_PORTS_MAX; no++)
		if (br->ports[no] && br->ports[no]->antispoof)
			n += 1 + br->ports[no]->antispoof->n4 + br->ports[no]->antispoof->n6;
	if (!n)
		return 0;
	while (slots < 2 * n)
		slots *= 2;
	t = calloc(slots, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t no = 0; no < VSW_PORTS_MAX; no++) {
		const struct vsw_antispoof *as = br->ports[no] ? br->ports[no]->antispoof : NULL;

		if (!as)
			continue;
		owner_put(t, slots - 1, OWN_MAC, as->mac, no);
		for (unsigned i = 0; i < as->n4; i++)
			owner_put(t, slots - 1, OWN_V4, as->v4[i], no);
		for (unsigned i = 0; i < as->n6; i++)
			owner_put(t, slots - 1, OWN_V6, as->v6[i], no);
	}
	br->owners = t;
	br->owners_mask = slots - 1;
	return 0;
}

int vsw_antispoof_claimed(const struct vsw_bridge *br, uint32_t port_no,
			  const struct pvnet_pkt *pkt)
{
	const uint8_t *d = pkt->data, *icmp;
	struct pvnet_frame fr;

	if (!br->owners)
		return -1;
	if (owner_other(br, port_no, OWN_MAC, d + 6))
		return VSW_DROP_SPOOFED_MAC;
	/* claims only: an ARP sender, an NA target, a DAD NS target (what makes a
	 * neighbour cache point at the sender); a frame too short to say is let through
	 * as before (it claims nothing a cache would take) */
	pvnet_frame_parse(d, pkt->head_size, &fr);
	if (fr.l3_type == PVNET_ETH_P_ARP && (fr.flags & PVNET_FRAME_F_ARP_ETH_IP))
		return owner_other(br, port_no, OWN_V4, d + fr.l3_off + PVNET_ARP_OFF_SPA)
			       ? VSW_DROP_SPOOFED_ARP
			       : -1;
	if (fr.l3 != PVNET_FRAME_L3_IPV6 || !(fr.flags & PVNET_FRAME_F_L4) ||
	    fr.l4_proto != PVNET_IPPROTO_ICMPV6 || (uint32_t)fr.l4_off + 24 > pkt->head_size)
		return -1;
	icmp = d + fr.l4_off;
	/* an NA's target, a DAD NS's target; and the source of any other NS (the
	 * receiver caches the source with the NS's link-layer option) */
	if (icmp[0] == ND_NA || (icmp[0] == ND_NS && v6_unspec(d + fr.l3_off + 8)))
		return owner_other(br, port_no, OWN_V6, icmp + 8) ? VSW_DROP_SPOOFED_ND : -1;
	if (icmp[0] == ND_NS)
		return owner_other(br, port_no, OWN_V6, d + fr.l3_off + 8) ? VSW_DROP_SPOOFED_ND
									   : -1;
	return -1;
}

void vsw_antispoof_free(struct vsw_antispoof *as)
{
	free(as);
}

int vsw_ip_parse(const char *text, struct vsw_ip_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, out->addr) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->addr) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int vsw_port_set_antispoof(struct vsw_port *port, const uint8_t *mac, const struct vsw_ip_addr *ips,
			   unsigned n_ips)
{
	struct vsw_antispoof *as = NULL, *old;

	if (!port || n_ips > VSW_ANTISPOOF_MAX_IPS || (n_ips && !ips))
		return -EINVAL;
	if (mac) {
		if (vsw_mac_is_multicast(mac))
			return -EINVAL;
		as = calloc(1, sizeof(*as));
		if (!as)
			return -ENOMEM;
		memcpy(as->mac, mac, 6);
		for (unsigned i = 0; i < n_ips; i++) {
			if (ips[i].family == AF_INET) {
				memcpy(as->v4[as->n4++], ips[i].addr, 4);
			} else if (ips[i].family == AF_INET6) {
				memcpy(as->v6[as->n6++], ips[i].addr, 16);
			} else {
				free(as);
				return -EINVAL;
			}
		}
		/* fe80::/64 + modified EUI-64 of the MAC (RFC 4291 appendix A) */
		as->ll6[0] = 0xfe;
		as->ll6[1] = 0x80;
		as->ll6[8] = mac[0] ^ 0x02;
		as->ll6[9] = mac[1];
		as->ll6[10] = mac[2];
		as->ll6[11] = 0xff;
		as->ll6[12] = 0xfe;
		as->ll6[13] = mac[3];
		as->ll6[14] = mac[4];
		as->ll6[15] = mac[5];
	}
	pthread_rwlock_wrlock(&port->br->lock);
	old = port->antispoof;
	port->antispoof = as;
	if (vsw_antispoof_owners_rebuild(port->br) < 0)
		PVLOG(ERR, VSW_LOG,
		      "%s: no memory for the table of anti-spoofing addresses: "
		      "other ports' claims on them are not checked",
		      port->br->name);
	pthread_rwlock_unlock(&port->br->lock);
	/* no worker can still read `old`: they hold the read lock while they use it */
	vsw_antispoof_free(old);
	return 0;
}

int vsw_antispoof_format(const struct vsw_antispoof *as, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	size_t off;
	int n;

	n = snprintf(buf, size, "mac:%02x:%02x:%02x:%02x:%02x:%02x", as->mac[0], as->mac[1],
		     as->mac[2], as->mac[3], as->mac[4], as->mac[5]);
	off = n > 0 ? (size_t)n : 0;
	for (unsigned i = 0; i < as->n4 + as->n6 && off < size; i++) {
		if (i < as->n4)
			inet_ntop(AF_INET, as->v4[i], a, sizeof(a));
		else
			inet_ntop(AF_INET6, as->v6[i - as->n4], a, sizeof(a));
		n = snprintf(buf + off, size - off, ",ip:%s", a);
		if (n > 0)
			off += (size_t)n;
	}
	return (int)off;
}
