/* Unit tests for per-port anti-spoofing: every spoof kind is dropped and counted as
 * its own reason on the ingress port; legitimate traffic (IPv4, IPv6, ARP, ND,
 * DHCP from 0.0.0.0, DAD, link-local) passes. */
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

static int count_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	(void)port;
	delivered += b->count;
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
	assert_int_equal(delivered, d0 + 1);
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
	/* a short IPv4 header cannot prove its source */
	assert_int_equal(send_one(&e, f, 14 + 10), VSW_DROP_SPOOFED_IP);
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
	assert_int_equal(send_one(&e, f, ipv6(f, "fe80::1234", 0, NULL, NULL)), VSW_DROP_SPOOFED_IP);
	/* NA for our address with our lladdr passes; a foreign target or lladdr does not */
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 136, "fd00::1", MAC)), -1);
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 136, "fd00::9", MAC)), VSW_DROP_SPOOFED_ND);
	assert_int_equal(send_one(&e, f, ipv6(f, "fd00::1", 136, "fd00::1", OTHER)), VSW_DROP_SPOOFED_ND);
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
	assert_non_null(strstr(line, "antispoof=mac:00:16:3e:00:00:01,ip:10.0.0.1,ip:10.0.0.2,ip:fd00::1"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_mac_and_ipv4),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_ipv6_and_nd),
		cmocka_unit_test(test_mac_only_and_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
