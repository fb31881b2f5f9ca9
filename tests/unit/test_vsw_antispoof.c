/* Unit tests for per-port anti-spoofing: every spoof kind is dropped and counted as
 * its own reason on the ingress port; legitimate traffic (IPv4, IPv6, ARP, ND,
 * DHCP from 0.0.0.0, DAD, link-local) passes. No VLAN tag (any TPID, stacked,
 * priority) and no IPv6 extension header hides a claim. The switch input's frame
 * checks: bad_src_mac (never learnt), link_local, double_tagged on access ports
 * (no VLAN hopping onto a trunk, native VLAN set or not), bad_headers. A port's
 * anti-spoofing MAC sent from another port is spoofed_mac there, its addresses
 * claimed from another port spoofed_arp / spoofed_nd. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <pvnet/vswitch.h>

static unsigned delivered;

/* What one port sent: frames, and the last one as on the wire. */
struct rec {
	unsigned n;
	uint8_t last[256];
	uint32_t last_size;
};

static int count_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	struct rec *r = vsw_port_priv(port);
	delivered += b->count;
	if (r)
		for (unsigned i = 0; i < b->count; i++) {
			r->n++;
			r->last_size = pvnet_pkt_write_head(b->pkts[i], b->vlan_tci[i], r->last,
							    sizeof(r->last));
		}
	for (unsigned i = 0; i < b->count; i++)
		pvnet_pkt_put(b->pkts[i]);
	return (int)b->count;
}

static const struct vsw_port_ops ops = {.type = "test", .send = count_send};

static const uint8_t MAC[6] = {0x00, 0x16, 0x3e, 0x00, 0x00, 0x01};
static const uint8_t OTHER[6] = {0x00, 0x16, 0x3e, 0x00, 0x00, 0x99};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct env {
	struct vsw_bridge *br;
	struct pvnet_pkt_pool *pool;
	struct vsw_port *in, *out;
};

static void env_init(struct env *e)
{
	struct vsw_ip_addr ips[3];

	assert_int_equal(vsw_create("br0", NULL, &e->br), 0);
	assert_int_equal(pvnet_pkt_pool_create(64, 2048, &e->pool), 0);
	assert_int_equal(vsw_port_add(e->br, "vif1.0", &ops, NULL, VSW_PORT_F_ALL, &e->in), 0);
	assert_int_equal(vsw_port_add(e->br, "eth0", &ops, NULL, VSW_PORT_F_ALL, &e->out), 0);
	assert_int_equal(vsw_ip_parse("10.0.0.1", &ips[0]), 0);
	assert_int_equal(vsw_ip_parse("fd00::1", &ips[1]), 0);
	assert_int_equal(vsw_ip_parse("10.0.0.2", &ips[2]), 0);
	assert_int_equal(vsw_port_set_antispoof(e->in, MAC, ips, 3), 0);
	delivered = 0;
}

static void env_fini(struct env *e)
{
	vsw_destroy(e->br);
	assert_int_equal(pvnet_pkt_pool_avail(e->pool), 64);
	pvnet_pkt_pool_destroy(e->pool);
}

static size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	return 14;
}

static size_t ipv4(uint8_t *f, const uint8_t *src_mac, const char *src, uint8_t proto,
		   uint16_t dport)
{
	size_t o = eth(f, BCAST, src_mac, 0x0800);
	uint8_t *ip = f + o;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[3] = 28;
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, "10.0.0.254", ip + 16);
	ip[20 + 2] = (uint8_t)(dport >> 8);
	ip[20 + 3] = (uint8_t)dport;
	return o + 28;
}

static size_t arp(uint8_t *f, const uint8_t *eth_src, const uint8_t *sha, const char *spa,
		  const char *tpa)
{
	size_t o = eth(f, BCAST, eth_src, 0x0806);
	uint8_t *a = f + o;
	memset(a, 0, 28);
	a[1] = 1;
	a[2] = 0x08;
	a[4] = 6;
	a[5] = 4;
	a[7] = 1;
	memcpy(a + 8, sha, 6);
	inet_pton(AF_INET, spa, a + 14);
	inet_pton(AF_INET, tpa, a + 24);
	return o + 28;
}

/* IPv6 + ICMPv6 (type 0: echo-ish filler; 135 NS / 136 NA with a target and an
 * optional link-layer option carrying `ll`). */
static size_t ipv6(uint8_t *f, const char *src, uint8_t icmp_type, const char *target,
		   const uint8_t *ll)
{
	size_t o = eth(f, BCAST, MAC, 0x86dd);
	uint8_t *ip = f + o, *icmp = ip + 40;
	size_t plen = icmp_type ? 24 + (ll ? 8 : 0) : 8;
	memset(ip, 0, 40 + plen);
	ip[0] = 0x60;
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	ip[6] = 58;
	ip[7] = 255;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, "ff02::1", ip + 24);
	icmp[0] = icmp_type ? icmp_type : 128;
	if (icmp_type) {
		inet_pton(AF_INET6, target, icmp + 8);
		if (ll) {
			icmp[24] = icmp_type == 135 ? 1 : 2;
			icmp[25] = 1;
			memcpy(icmp + 26, ll, 6);
		}
	}
	return o + 40 + plen;
}

/* Sends one frame in on e->in; returns the drop reason counted, or -1 if delivered. */
static int send_one(struct env *e, const uint8_t *frame, size_t size)
{
	struct vsw_port_stats before, after;
	struct pvnet_pkt_batch b = {0};
	unsigned d0 = delivered;

	vsw_port_get_stats(e->in, &before);
	b.pkts[0] = pvnet_pkt_alloc(e->pool);
	assert_non_null(b.pkts[0]);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], frame, (uint32_t)size), 0);
	b.count = 1;
	assert_int_equal(vsw_input(e->br, e->in, &b), 0);
	vsw_port_get_stats(e->in, &after);
	for (int r = 0; r < VSW_DROP__MAX; r++)
		if (after.drops[r] != before.drops[r]) {
			assert_int_equal(after.drops[r], before.drops[r] + 1);
			assert_int_equal(delivered, d0);
			return r;
		}
	assert_true(delivered > d0); /* to every other member of the VLAN when flooded */
	return -1;
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_SPOOFED_MAC), "spoofed_mac");
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_SPOOFED_IP), "spoofed_ip");
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_SPOOFED_ARP), "spoofed_arp");
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_SPOOFED_ND), "spoofed_nd");
}

static void test_mac_and_ipv4(void **state)
{
	struct env e;
	uint8_t f[256];
	(void)state;

	env_init(&e);
	assert_int_equal(send_one(&e, f, ipv4(f, MAC, "10.0.0.1", 6, 80)), -1);
	assert_int_equal(send_one(&e, f, ipv4(f, MAC, "10.0.0.2", 17, 53)), -1);
	assert_int_equal(send_one(&e, f, ipv4(f, OTHER, "10.0.0.1", 6, 80)), VSW_DROP_SPOOFED_MAC);
	assert_int_equal(send_one(&e, f, ipv4(f, MAC, "10.0.0.9", 6, 80)), VSW_DROP_SPOOFED_IP);
	/* DHCP from 0.0.0.0 to port 67 passes; 0.0.0.0 elsewhere does not */
	assert_int_equal(send_one(&e, f, ipv4(f, MAC, "0.0.0.0", 17, 67)), -1);
	assert_int_equal(send_one(&e, f, ipv4(f, MAC, "0.0.0.0", 17, 68)), VSW_DROP_SPOOFED_IP);
	/* a short IPv4 header cannot prove its source: bad_headers */
	assert_int_equal(send_one(&e, f, 14 + 10), VSW_DROP_BAD_HEADERS);
	/* other ethertypes with the right MAC pass */
	assert_int_equal(send_one(&e, f, eth(f, BCAST, MAC, 0x88b5) + 46), -1);
	env_fini(&e);
}

static void test_arp(void **state)
{
	struct env e;
	uint8_t f[256];
	(void)state;

	env_init(&e);
	assert_int_equal(send_one(&e, f, arp(f, MAC, MAC, "10.0.0.1", "10.0.0.254")), -1);
	/* gratuitous ARP for our own address passes, for a foreign one does not */
	assert_int_equal(send_one(&e, f, arp(f, MAC, MAC, "10.0.0.1", "10.0.0.1")), -1);
	assert_int_equal(send_one(&e, f, arp(f, MAC, MAC, "10.0.0.77", "10.0.0.77")),
			 VSW_DROP_SPOOFED_ARP);
	/* ARP probe (sender 0.0.0.0) passes */
	assert_int_equal(send_one(&e, f, arp(f, MAC, MAC, "0.0.0.0", "10.0.0.1")), -1);
	/* sender hardware address not ours */
	assert_int_equal(send_one(&e, f, arp(f, MAC, OTHER, "10.0.0.1", "10.0.0.254")),
			 VSW_DROP_SPOOFED_ARP);
	/* Ethernet source not ours: the MAC check comes first */
	assert_int_equal(send_one(&e, f, arp(f, OTHER, OTHER, "10.0.0.1", "10.0.0.254")),
			 VSW_DROP_SPOOFED_MAC);
	env_fini(&e);
}

static void test_ipv6_and_nd(void **state)
{
	struct env e;
	uint8_t f[256];
	(void)state;

	env_init(&e);
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 0, NULL, NULL)), -1);
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::9", 0, NULL, NULL)), VSW_DROP_SPOOFED_IP);
	/* the EUI-64 link-local of the port's MAC is always ours; another is not */
	assert_int_equal(send_one(&e, f, ipv6(f, "fe80::216:3eff:fe00:1", 0, NULL, NULL)), -1);
	assert_int_equal(send_one(&e, f, ipv6(f, "fe80::1234", 0, NULL, NULL)),
			 VSW_DROP_SPOOFED_IP);
	/* NA for our address with our lladdr passes; a foreign target or lladdr does not */
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 136, "fd00::1", MAC)), -1);
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 136, "fd00::9", MAC)),
			 VSW_DROP_SPOOFED_ND);
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 136, "fd00::1", OTHER)),
			 VSW_DROP_SPOOFED_ND);
	/* NS resolving someone else's address is fine; DAD claiming a foreign one is not */
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 135, "fd00::42", MAC)), -1);
	assert_int_equal(send_one(&e, f, ipv6(f, "::", 135, "fd00::1", NULL)), -1);
	assert_int_equal(send_one(&e, f, ipv6(f, "::", 135, "fd00::9", NULL)), VSW_DROP_SPOOFED_ND);
	env_fini(&e);
}

static void test_mac_only_and_off(void **state)
{
	struct env e;
	uint8_t f[256];
	struct vsw_ip_addr bad = {.family = 99};
	char line[512];
	(void)state;

	env_init(&e);
	vsw_port_format(e.in, line, sizeof(line));
	assert_non_null(
		strstr(line, "antispoof=mac:00:16:3e:00:00:01,ip:10.0.0.1,ip:10.0.0.2,ip:fd00::1"));
	/* MAC only: any address passes, a foreign MAC does not */
	assert_int_equal(vsw_port_set_antispoof(e.in, MAC, NULL, 0), 0);
	assert_int_equal(send_one(&e, f, ipv4(f, MAC, "192.168.1.1", 6, 80)), -1);
	assert_int_equal(send_one(&e, f, arp(f, MAC, MAC, "192.168.1.1", "192.168.1.1")), -1);
	assert_int_equal(send_one(&e, f, ipv4(f, OTHER, "10.0.0.1", 6, 80)), VSW_DROP_SPOOFED_MAC);
	/* off */
	assert_int_equal(vsw_port_set_antispoof(e.in, NULL, NULL, 0), 0);
	assert_int_equal(send_one(&e, f, ipv4(f, OTHER, "10.0.0.9", 6, 80)), -1);
	vsw_port_format(e.in, line, sizeof(line));
	assert_null(strstr(line, "antispoof"));
	/* bad arguments */
	assert_int_equal(vsw_port_set_antispoof(e.in, BCAST, NULL, 0), -EINVAL);
	assert_int_equal(vsw_port_set_antispoof(e.in, MAC, &bad, 1), -EINVAL);
	assert_int_equal(vsw_ip_parse("10.0.0.256", &bad), -EINVAL);
	env_fini(&e);
}

/* Sends one frame in on `port` of e->br; the drop reason counted, or -1 if delivered. */
static int send_on(struct env *e, struct vsw_port *port, const uint8_t *frame, size_t size)
{
	struct vsw_port *keep = e->in;
	int r;

	e->in = port;
	r = send_one(e, frame, size);
	e->in = keep;
	return r;
}

static size_t add_tags(uint8_t *f, size_t size, unsigned n, const uint16_t *tags);

static const uint8_t PEER[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x42};

/* the frame ipv6() built, with PEER as its source MAC */
static size_t peer_src(uint8_t *f, size_t size)
{
	memcpy(f + 6, PEER, 6);
	return size;
}

/* A port's anti-spoofing MAC and addresses are its alone: another port (an uplink, a VXLAN remote,
 * a vif) sending the MAC as source gets spoofed_mac, so it cannot move the entry;
 * one claiming an address gets spoofed_arp / spoofed_nd. */
static void test_mac_claimed_elsewhere(void **state)
{
	struct env e;
	struct vsw_port *third;
	uint8_t f[256];
	(void)state;

	env_init(&e);
	assert_int_equal(send_on(&e, e.out, f, ipv4(f, MAC, "10.0.0.1", 6, 80)),
			 VSW_DROP_SPOOFED_MAC);
	assert_int_equal(send_on(&e, e.out, f, arp(f, MAC, MAC, "10.0.0.1", "10.0.0.9")),
			 VSW_DROP_SPOOFED_MAC);
	assert_int_equal(send_on(&e, e.out, f, ipv4(f, OTHER, "10.9.9.9", 6, 80)), -1);
	assert_int_equal(send_one(&e, f, ipv4(f, MAC, "10.0.0.1", 6, 80)), -1); /* the owner */
	/* its addresses too: ARP sender, NA target, DAD NS target, NS source, whatever
	 * tags the frame carries; asking for them is no claim */
	assert_int_equal(send_on(&e, e.out, f, arp(f, PEER, PEER, "10.0.0.2", "10.0.0.2")),
			 VSW_DROP_SPOOFED_ARP);
	assert_int_equal(send_on(&e, e.out, f, arp(f, PEER, PEER, "10.0.0.7", "10.0.0.2")), -1);
	{
		uint16_t prio[] = {0x88a8, 0};
		size_t n = add_tags(f, arp(f, PEER, PEER, "10.0.0.1", "10.0.0.9"), 1, prio);
		assert_int_equal(send_on(&e, e.out, f, n), VSW_DROP_SPOOFED_ARP);
	}
	assert_int_equal(send_on(&e, e.out, f,
				 peer_src(f, ipv6(f, "fd00::7", 136, "fd00::1", PEER))),
			 VSW_DROP_SPOOFED_ND);
	assert_int_equal(send_on(&e, e.out, f, peer_src(f, ipv6(f, "::", 135, "fd00::1", NULL))),
			 VSW_DROP_SPOOFED_ND);
	assert_int_equal(send_on(&e, e.out, f,
				 peer_src(f, ipv6(f, "fd00::1", 135, "fd00::7", PEER))),
			 VSW_DROP_SPOOFED_ND);
	assert_int_equal(send_on(&e, e.out, f,
				 peer_src(f, ipv6(f, "fd00::7", 135, "fd00::1", PEER))),
			 -1);
	assert_int_equal(send_on(&e, e.out, f,
				 peer_src(f, ipv6(f, "fd00::7", 136, "fd00::7", PEER))),
			 -1);
	/* a third port given the same MAC: shared, neither is protected from the other */
	assert_int_equal(vsw_port_add(e.br, "vif2.0", &ops, NULL, VSW_PORT_F_ALL, &third), 0);
	assert_int_equal(vsw_port_set_antispoof(third, MAC, NULL, 0), 0);
	assert_int_equal(send_on(&e, third, f, ipv4(f, MAC, "10.0.0.1", 6, 80)), -1);
	assert_int_equal(vsw_port_set_antispoof(third, OTHER, NULL, 0), 0);
	assert_int_equal(send_on(&e, e.out, f, ipv4(f, MAC, "10.0.0.1", 6, 80)),
			 VSW_DROP_SPOOFED_MAC);
	assert_int_equal(send_on(&e, e.out, f, ipv4(f, OTHER, "10.0.0.1", 6, 80)),
			 VSW_DROP_SPOOFED_MAC);
	/* the owner's anti-spoofing off, or the owner gone: the MAC is free again */
	assert_int_equal(vsw_port_set_antispoof(e.in, NULL, NULL, 0), 0);
	assert_int_equal(send_on(&e, e.out, f, ipv4(f, MAC, "10.0.0.1", 6, 80)), -1);
	assert_int_equal(vsw_port_del(e.br, third), 0);
	assert_int_equal(send_on(&e, e.out, f, ipv4(f, OTHER, "10.0.0.1", 6, 80)), -1);
	env_fini(&e);
}

/* Inserts tags (tpid, tci pairs) after the MAC addresses of the frame in f. */
static size_t add_tags(uint8_t *f, size_t size, unsigned n, const uint16_t *tags)
{
	memmove(f + 12 + 4 * n, f + 12, size - 12);
	for (unsigned i = 0; i < n; i++) {
		f[12 + 4 * i] = (uint8_t)(tags[2 * i] >> 8);
		f[13 + 4 * i] = (uint8_t)tags[2 * i];
		f[14 + 4 * i] = (uint8_t)(tags[2 * i + 1] >> 8);
		f[15 + 4 * i] = (uint8_t)tags[2 * i + 1];
	}
	return size + 4 * n;
}

/* Inserts IPv6 extension headers (each 8 bytes, next-header chained) between the
 * IPv6 header and ICMPv6 of an untagged frame built by ipv6(); fixes lengths. */
static size_t add_exthdrs(uint8_t *f, size_t size, unsigned n, const uint8_t *types)
{
	uint8_t *ip = f + 14;
	size_t plen = (size_t)(ip[4] << 8 | ip[5]) + 8 * n;
	memmove(ip + 40 + 8 * n, ip + 40, size - 54);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *h = ip + 40 + 8 * i;
		memset(h, 0, 8);
		h[0] = i + 1 < n ? types[i + 1] : 58;
		if (types[i] != 44)
			h[2] = 1, h[3] = 4; /* PadN */
	}
	ip[6] = types[0];
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	return size + 8 * n;
}

static const uint16_t TPIDS[3] = {0x8100, 0x88a8, 0x9100};

/* A guest behind anti-spoofing is no router: Router Advertisements and Redirects
 * from it are spoofed_nd (RA guard, RFC 6105), behind tags and extension headers,
 * whether or not IPv6 addresses are configured; Router Solicitations pass. */
static void test_ra_guard(void **state)
{
	static const uint8_t hbh[] = {0};
	struct env e;
	uint8_t f[512];
	uint16_t prio[] = {0x8100, 0};
	size_t n;
	(void)state;

	env_init(&e);
	n = ipv6(f, "fe80::216:3eff:fe00:1", 0, NULL, NULL);
	f[14 + 40] = 134; /* RA from our own link-local address */
	assert_int_equal(send_one(&e, f, n + 8), VSW_DROP_SPOOFED_ND);
	n = ipv6(f, "fe80::216:3eff:fe00:1", 0, NULL, NULL);
	f[14 + 40] = 137; /* Redirect */
	assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ND);
	n = ipv6(f, "fe80::216:3eff:fe00:1", 0, NULL, NULL);
	f[14 + 40] = 134;
	n = add_exthdrs(f, n, 1, hbh);
	assert_int_equal(send_one(&e, f, add_tags(f, n, 1, prio)), VSW_DROP_SPOOFED_ND);
	n = ipv6(f, "fe80::216:3eff:fe00:1", 0, NULL, NULL);
	f[14 + 40] = 133; /* a Router Solicitation is no claim */
	assert_int_equal(send_one(&e, f, n), -1);
	/* MAC-only anti-spoofing: still no router */
	assert_int_equal(vsw_port_set_antispoof(e.in, MAC, NULL, 0), 0);
	n = ipv6(f, "fe80::216:3eff:fe00:1", 0, NULL, NULL);
	f[14 + 40] = 134;
	assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ND);
	/* anti-spoofing off: the operator lets the port route */
	assert_int_equal(vsw_port_set_antispoof(e.in, NULL, NULL, 0), 0);
	assert_int_equal(send_one(&e, f, n), -1);
	env_fini(&e);
}

/* DHCPv4 (or DHCPv6) server message from the MAC: UDP sport -> dport. */
static size_t udp4(uint8_t *f, const uint8_t *src_mac, const char *src, uint16_t sport,
		   uint16_t dport)
{
	size_t n = ipv4(f, src_mac, src, 17, dport);
	f[14 + 20] = (uint8_t)(sport >> 8);
	f[14 + 21] = (uint8_t)sport;
	return n;
}

static size_t udp6(uint8_t *f, const char *src, uint16_t sport, uint16_t dport)
{
	size_t n = ipv6(f, src, 0, NULL, NULL); /* 8 bytes of payload: the UDP header */
	f[14 + 6] = 17;
	f[14 + 40] = (uint8_t)(sport >> 8);
	f[14 + 41] = (uint8_t)sport;
	f[14 + 42] = (uint8_t)(dport >> 8);
	f[14 + 43] = (uint8_t)dport;
	return n;
}

/* A guest behind anti-spoofing is no DHCP server (DHCP guard): DHCPv4 OFFER/ACK
 * (UDP 67 -> 68) and DHCPv6 ADVERTISE/REPLY (547 -> 546) from it are spoofed_dhcp,
 * from its own addresses, in a priority tag of any TPID, behind an IPv6 extension
 * header, whatever addresses are configured; client messages pass, and so does an
 * offer from a port without anti-spoofing. */
static void test_dhcp_guard(void **state)
{
	static const uint8_t hbh[] = {0};
	struct env e;
	uint8_t f[512];
	size_t n;
	(void)state;

	env_init(&e);
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_SPOOFED_DHCP), "spoofed_dhcp");
	assert_int_equal(send_one(&e, f, udp4(f, MAC, "10.0.0.1", 67, 68)), VSW_DROP_SPOOFED_DHCP);
	for (unsigned t = 0; t < 3; t++) {
		uint16_t prio[] = {TPIDS[t], 0};
		n = udp4(f, MAC, "10.0.0.1", 67, 68);
		assert_int_equal(send_one(&e, f, add_tags(f, n, 1, prio)), VSW_DROP_SPOOFED_DHCP);
	}
	/* a client: DISCOVER from 0.0.0.0, REQUEST/RENEW from its address; DHCPv6 SOLICIT */
	assert_int_equal(send_one(&e, f, udp4(f, MAC, "0.0.0.0", 68, 67)), -1);
	assert_int_equal(send_one(&e, f, udp4(f, MAC, "10.0.0.1", 68, 67)), -1);
	assert_int_equal(send_one(&e, f, udp6(f, "fe80::216:3eff:fe00:1", 546, 547)), -1);
	/* other UDP from port 67 or to 68 is no DHCP server message */
	assert_int_equal(send_one(&e, f, udp4(f, MAC, "10.0.0.1", 67, 53)), -1);
	/* DHCPv6 ADVERTISE/REPLY, plain and behind hop-by-hop */
	assert_int_equal(send_one(&e, f, udp6(f, "fe80::216:3eff:fe00:1", 547, 546)),
			 VSW_DROP_SPOOFED_DHCP);
	n = add_exthdrs(f, udp6(f, "fe80::216:3eff:fe00:1", 547, 546), 1, hbh);
	f[14 + 40] = 17; /* the hop-by-hop header leads to UDP */
	assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_DHCP);
	/* a UDP header cut short cannot be told from an offer */
	assert_int_equal(send_one(&e, f, udp4(f, MAC, "10.0.0.1", 67, 68) - 4),
			 VSW_DROP_BAD_HEADERS);
	/* MAC-only anti-spoofing: still no server */
	assert_int_equal(vsw_port_set_antispoof(e.in, MAC, NULL, 0), 0);
	assert_int_equal(send_one(&e, f, udp4(f, MAC, "10.0.0.77", 67, 68)), VSW_DROP_SPOOFED_DHCP);
	/* a port without anti-spoofing (the uplink; this port switched off) may serve */
	assert_int_equal(send_on(&e, e.out, f, udp4(f, OTHER, "10.0.0.254", 67, 68)), -1);
	assert_int_equal(vsw_port_set_antispoof(e.in, NULL, NULL, 0), 0);
	assert_int_equal(send_one(&e, f, udp4(f, MAC, "10.0.0.1", 67, 68)), -1);
	assert_int_equal(send_one(&e, f, udp6(f, "fe80::216:3eff:fe00:1", 547, 546)), -1);
	env_fini(&e);
}

static void test_tags_hide_no_claim(void **state)
{
	struct env e;
	uint8_t f[512];
	(void)state;

	env_init(&e);
	for (unsigned t = 0; t < 3; t++) {
		uint16_t prio[] = {TPIDS[t], 0xe000};
		uint16_t two[] = {TPIDS[t], 0x0000, TPIDS[(t + 1) % 3], 0x0005};
		size_t n;

		/* access port: a priority tag is popped and the claim checked behind it */
		n = add_tags(f, arp(f, MAC, MAC, "10.0.0.77", "10.0.0.77"), 1, prio);
		assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ARP);
		n = add_tags(f, arp(f, MAC, OTHER, "10.0.0.1", "10.0.0.1"), 1, prio);
		assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ARP);
		n = add_tags(f, ipv4(f, MAC, "10.0.0.9", 17, 53), 1, prio);
		assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_IP);
		n = add_tags(f, ipv6(f, "fd00::1", 136, "fd00::9", MAC), 1, prio);
		assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ND);
		n = add_tags(f, arp(f, OTHER, OTHER, "10.0.0.1", "10.0.0.1"), 1, prio);
		assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_MAC);
		/* legitimate, priority-tagged: passes */
		n = add_tags(f, arp(f, MAC, MAC, "10.0.0.1", "10.0.0.1"), 1, prio);
		assert_int_equal(send_one(&e, f, n), -1);
		/* two tags on an access port: double_tagged before any claim is read */
		n = add_tags(f, arp(f, MAC, MAC, "10.0.0.77", "10.0.0.77"), 2, two);
		assert_int_equal(send_one(&e, f, n), VSW_DROP_DOUBLE_TAGGED);
		n = add_tags(f, arp(f, MAC, MAC, "10.0.0.1", "10.0.0.1"), 2, two);
		assert_int_equal(send_one(&e, f, n), VSW_DROP_DOUBLE_TAGGED);
	}
	/* a trunk port with anti-spoofing: every inner tag is seen through */
	{
		uint16_t vids[] = {5, 6};
		assert_int_equal(vsw_port_set_trunk(e.in, 0, vids, 2), 0);
		assert_int_equal(vsw_port_set_trunk(e.out, 0, vids, 2), 0);
		for (unsigned t = 0; t < 3; t++) {
			uint16_t one[] = {TPIDS[t], 5};
			uint16_t three[] = {TPIDS[t], 5, 0x8100, 0, TPIDS[(t + 2) % 3], 6};
			size_t n = add_tags(f, arp(f, MAC, MAC, "10.0.0.77", "10.0.0.77"), 1, one);
			assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ARP);
			n = add_tags(f, arp(f, MAC, MAC, "10.0.0.77", "10.0.0.77"), 3, three);
			assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ARP);
			n = add_tags(f, ipv6(f, "fd00::1", 136, "fd00::9", MAC), 3, three);
			assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ND);
			n = add_tags(f, arp(f, MAC, MAC, "10.0.0.1", "10.0.0.1"), 3, three);
			assert_int_equal(send_one(&e, f, n), -1);
			/* the tag stack cut short */
			n = add_tags(f, arp(f, MAC, MAC, "10.0.0.1", "10.0.0.1"), 3, three);
			assert_int_equal(send_one(&e, f, 14 + 4 + 6), VSW_DROP_INVALID_FRAME);
		}
	}
	env_fini(&e);
}

static void test_exthdrs_hide_no_nd_claim(void **state)
{
	static const uint8_t hbh_dst[] = {0, 60};
	static const uint8_t many[] = {0, 60, 60, 60, 43};
	static const uint8_t frag[] = {44};
	struct env e;
	uint8_t f[512];
	size_t n;
	(void)state;

	env_init(&e);
	/* NA for a foreign target / with a foreign lladdr behind hop-by-hop + dest-opts */
	n = add_exthdrs(f, ipv6(f, "fd00::1", 136, "fd00::9", MAC), 2, hbh_dst);
	assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ND);
	n = add_exthdrs(f, ipv6(f, "fd00::1", 136, "fd00::1", OTHER), 5, many);
	assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ND);
	n = add_exthdrs(f, ipv6(f, "::", 135, "fd00::9", NULL), 1, hbh_dst);
	assert_int_equal(send_one(&e, f, n), VSW_DROP_SPOOFED_ND);
	/* our own NA with extension headers passes */
	n = add_exthdrs(f, ipv6(f, "fd00::1", 136, "fd00::1", MAC), 2, hbh_dst);
	assert_int_equal(send_one(&e, f, n), -1);
	/* fragmented ND (RFC 6980) cannot be checked */
	n = add_exthdrs(f, ipv6(f, "fd00::1", 136, "fd00::1", MAC), 1, frag);
	assert_int_equal(send_one(&e, f, n), VSW_DROP_BAD_HEADERS);
	/* a chain cut short, or an extension header longer than the frame */
	n = add_exthdrs(f, ipv6(f, "fd00::1", 136, "fd00::9", MAC), 2, hbh_dst);
	assert_int_equal(send_one(&e, f, 14 + 40 + 12), VSW_DROP_BAD_HEADERS);
	f[14 + 40 + 1] = 30;
	assert_int_equal(send_one(&e, f, n), VSW_DROP_BAD_HEADERS);
	/* NS/NA shorter than its fixed part */
	n = ipv6(f, "fd00::1", 136, "fd00::1", NULL);
	assert_int_equal(send_one(&e, f, n - 4), VSW_DROP_BAD_HEADERS);
	env_fini(&e);
}

static void test_src_mac_and_link_local(void **state)
{
	static const uint8_t zero[6] = {0};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	static const uint8_t ll[][6] = {
		{0x01, 0x80, 0xc2, 0, 0, 0x00}, {0x01, 0x80, 0xc2, 0, 0, 0x01},
		{0x01, 0x80, 0xc2, 0, 0, 0x02}, {0x01, 0x80, 0xc2, 0, 0, 0x03},
		{0x01, 0x80, 0xc2, 0, 0, 0x0e}, {0x01, 0x80, 0xc2, 0, 0, 0x0f}};
	struct vsw_port_stats st;
	struct env e;
	struct rec rin = {0};
	uint8_t f[256];
	uint32_t port;
	(void)state;

	env_init(&e);
	/* from the port without anti-spoofing: every port type gets these checks */
	assert_int_equal(vsw_port_set_antispoof(e.in, NULL, NULL, 0), 0);
	{
		struct vsw_port *p3;
		assert_int_equal(vsw_port_add(e.br, "p3", &ops, &rin, VSW_PORT_F_ALL, &p3), 0);
	}
	size_t n = ipv4(f, zero, "10.0.0.1", 17, 53);
	assert_int_equal(send_one(&e, f, n), VSW_DROP_BAD_SRC_MAC);
	n = ipv4(f, mcast, "10.0.0.1", 17, 53);
	assert_int_equal(send_one(&e, f, n), VSW_DROP_BAD_SRC_MAC);
	n = ipv4(f, BCAST, "10.0.0.1", 17, 53);
	assert_int_equal(send_one(&e, f, n), VSW_DROP_BAD_SRC_MAC);
	assert_int_equal(vsw_fdb_lookup(e.br, 0, zero, &port), -ENOENT);
	assert_int_equal(vsw_fdb_lookup(e.br, 0, mcast, &port), -ENOENT);
	for (unsigned i = 0; i < sizeof(ll) / sizeof(ll[0]); i++) {
		n = eth(f, ll[i], MAC, 0x88cc) + 46;
		assert_int_equal(send_one(&e, f, n), VSW_DROP_LINK_LOCAL);
	}
	/* 01:80:c2:00:00:10 is not in the reserved block: flooded */
	{
		uint8_t gvrp[6] = {0x01, 0x80, 0xc2, 0, 0, 0x21};
		n = eth(f, gvrp, MAC, 0x88b5) + 46;
		assert_int_equal(send_one(&e, f, n), -1);
	}
	assert_int_equal(rin.n, 1);
	vsw_port_get_stats(e.in, &st);
	assert_int_equal(st.drops[VSW_DROP_BAD_SRC_MAC], 3);
	assert_int_equal(st.drops[VSW_DROP_LINK_LOCAL], 6);
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_BAD_SRC_MAC), "bad_src_mac");
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_LINK_LOCAL), "link_local");
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_DOUBLE_TAGGED), "double_tagged");
	assert_string_equal(vsw_drop_reason_name(VSW_DROP_BAD_HEADERS), "bad_headers");
	env_fini(&e);
}

/* access port (VLAN 10) -> trunk: a tag inside the priority tag never arrives on the
 * trunk as VLAN 20, whatever the trunk's native VLAN. */
static void test_no_vlan_hopping(void **state)
{
	static const uint8_t DST2[6] = {0x00, 0x16, 0x3e, 0x00, 0x00, 0x42};
	uint16_t vids[] = {10, 20};
	struct vsw_port *acc, *tr, *tr2;
	struct rec rtr = {0}, rtr2 = {0};
	struct vsw_port_stats st;
	struct env e;
	uint8_t f[256];
	(void)state;

	env_init(&e);
	acc = e.in;
	assert_int_equal(vsw_port_set_antispoof(acc, NULL, NULL, 0), 0);
	vsw_port_set_enabled(e.out, false);
	assert_int_equal(vsw_port_add(e.br, "tr", &ops, &rtr, VSW_PORT_F_ALL, &tr), 0);
	assert_int_equal(vsw_port_add(e.br, "tr2", &ops, &rtr2, VSW_PORT_F_ALL, &tr2), 0);
	assert_int_equal(vsw_port_set_access(acc, 10), 0);
	for (int native = 0; native <= 10; native += 10) {
		for (unsigned t = 0; t < 3; t++) {
			uint16_t hop[] = {TPIDS[t], 0x0000, 0x8100, 20};
			uint16_t hop2[] = {TPIDS[t], 10, TPIDS[t], 20};
			uint16_t prio[] = {TPIDS[t], 0x2000};
			size_t n;

			assert_int_equal(vsw_port_set_trunk(tr, (uint16_t)native, vids, 2), 0);
			rtr.n = 0;
			n = add_tags(f, eth(f, DST2, MAC, 0x0800) + 46, 2, hop);
			assert_int_equal(send_one(&e, f, n), VSW_DROP_DOUBLE_TAGGED);
			n = add_tags(f, eth(f, BCAST, MAC, 0x0800) + 46, 2, hop);
			assert_int_equal(send_one(&e, f, n), VSW_DROP_DOUBLE_TAGGED);
			n = add_tags(f, eth(f, BCAST, MAC, 0x0800) + 46, 2, hop2);
			assert_int_equal(send_one(&e, f, n), VSW_DROP_DOUBLE_TAGGED);
			n = add_tags(f, eth(f, BCAST, MAC, 0x0800) + 46, 1, hop2 + 2);
			assert_int_equal(send_one(&e, f, n), VSW_DROP_VLAN_MISMATCH);
			assert_int_equal(rtr.n, 0);
			/* priority-tagged and untagged frames are VLAN 10 on the trunk */
			n = add_tags(f, eth(f, BCAST, MAC, 0x0800) + 46, 1, prio);
			assert_int_equal(send_one(&e, f, n), -1);
			assert_int_equal(rtr.n, 1);
			if (native == 10) {
				assert_int_equal(rtr.last[12] << 8 | rtr.last[13], 0x0800);
			} else {
				assert_int_equal(rtr.last[12] << 8 | rtr.last[13], 0x8100);
				assert_int_equal((rtr.last[14] << 8 | rtr.last[15]) & 0xfff, 10);
				assert_int_equal(rtr.last[16] << 8 | rtr.last[17], 0x0800);
			}
		}
	}
	/* trunk -> trunk: a frame tagged with native VLAN 10 (or priority) around VLAN
	 * 20 never leaves a trunk that sends VLAN 10 untagged */
	assert_int_equal(vsw_port_set_trunk(tr, 10, vids, 2), 0);
	assert_int_equal(vsw_port_set_trunk(tr2, 10, vids, 2), 0);
	vsw_port_set_enabled(acc, false);
	rtr2.n = 0;
	{
		struct pvnet_pkt_batch b = {0};
		uint16_t hop[] = {0x8100, 10, 0x8100, 20};
		size_t n = add_tags(f, eth(f, BCAST, OTHER, 0x0800) + 46, 2, hop);
		b.pkts[0] = pvnet_pkt_alloc(e.pool);
		assert_int_equal(pvnet_pkt_set_local(b.pkts[0], f, (uint32_t)n), 0);
		b.count = 1;
		assert_int_equal(vsw_input(e.br, tr, &b), 0);
		vsw_port_get_stats(tr, &st);
		assert_int_equal(st.drops[VSW_DROP_DOUBLE_TAGGED], 1);
		assert_int_equal(rtr2.n, 0);
		/* with the access port of VLAN 10 back: it gets the frame (inner tag and
		 * all, inside its own VLAN), the trunk still does not, nothing is dropped */
		vsw_port_set_enabled(acc, true);
		unsigned d0 = delivered;
		n = add_tags(f, eth(f, BCAST, OTHER, 0x0800) + 46, 2, hop);
		b.pkts[0] = pvnet_pkt_alloc(e.pool);
		assert_int_equal(pvnet_pkt_set_local(b.pkts[0], f, (uint32_t)n), 0);
		b.count = 1;
		assert_int_equal(vsw_input(e.br, tr, &b), 0);
		assert_int_equal(delivered, d0 + 1);
		assert_int_equal(rtr2.n, 0);
		vsw_port_get_stats(tr, &st);
		assert_int_equal(st.drops[VSW_DROP_DOUBLE_TAGGED], 1);
	}
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_mac_and_ipv4),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_ipv6_and_nd),
		cmocka_unit_test(test_mac_only_and_off),
		cmocka_unit_test(test_mac_claimed_elsewhere),
		cmocka_unit_test(test_tags_hide_no_claim),
		cmocka_unit_test(test_exthdrs_hide_no_nd_claim),
		cmocka_unit_test(test_ra_guard),
		cmocka_unit_test(test_dhcp_guard),
		cmocka_unit_test(test_src_mac_and_link_local),
		cmocka_unit_test(test_no_vlan_hopping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
