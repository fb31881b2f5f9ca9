/* Unit tests for the device ports over real kernel devices, inside a private
 * network namespace this process creates (unshare(CLONE_NEWNET); it and every
 * device in it vanish when the test exits): AF_PACKET over a veth pair (both
 * directions, 802.1Q tags kept), TAP with the host stack answering ARP, VXLAN
 * byte layout and flood-and-learn against plain UDP sockets. Skipped without
 * CAP_SYS_ADMIN. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/vswitch.h>

static bool have_netns;

#include "vsw_sink.h"

static int raw_socket(const char *ifname)
{
	return raw_socket_proto(ifname, ETH_P_ALL);
}

static void frame(uint8_t *f, uint8_t dst_id, uint8_t src_id, bool tagged, uint16_t vid)
{
	memset(f, 0, 100);
	if (dst_id == 0xff)
		memset(f, 0xff, 6);
	else
		f[0] = 0x02, f[5] = dst_id;
	f[6] = 0x02;
	f[11] = src_id;
	if (tagged) {
		f[12] = 0x81;
		f[14] = (uint8_t)(vid >> 8);
		f[15] = (uint8_t)vid;
		f[16] = 0x88;
		f[17] = 0xb5;
	} else {
		f[12] = 0x88;
		f[13] = 0xb5;
	}
	memcpy(f + 40, "pvnet-payload", 13);
}

static void inject_local(struct vsw_bridge *br, struct vsw_port *in, struct pvnet_pkt_pool *pool,
			 const uint8_t *f, uint32_t size)
{
	struct pvnet_pkt_batch b = {0};
	b.pkts[0] = pvnet_pkt_alloc(pool);
	assert_non_null(b.pkts[0]);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], f, size), 0);
	b.count = 1;
	assert_int_equal(vsw_input(br, in, &b), 0);
}

static void test_afpacket_veth(void **state)
{
	struct vsw_bridge *br;
	struct vsw_worker *w;
	struct vsw_port *up, *sp;
	struct pvnet_pkt_pool *pool;
	struct sink s = {.lock = PTHREAD_MUTEX_INITIALIZER, .type = 0x88b5};
	struct vsw_port_dev_stats ds;
	uint8_t f[2048];
	uint16_t vids[1] = {10}, tci;
	int fd, one = 1;
	char line[512];
	ssize_t n;
	(void)state;

	if (!have_netns)
		skip();
	sh("ip link add pvt-a type veth peer name pvt-b && ip link set pvt-b up");
	assert_int_equal(vsw_create("br0", NULL, &br), 0);
	assert_int_equal(pvnet_pkt_pool_create(64, 2048, &pool), 0);
	assert_int_equal(vsw_worker_create("t-uplink", &w), 0);
	assert_int_equal(vsw_afpacket_port_add(br, w, "nosuchdev0", &up), -ENODEV);
	assert_int_equal(vsw_afpacket_port_add(br, w, "pvt-a", &up), 0);
	assert_int_equal(vsw_port_add(br, "sink", &sink_ops, &s, VSW_PORT_F_ALL, &sp), 0);
	vsw_port_format(up, line, sizeof(line));
	assert_non_null(strstr(line, "type=afpacket"));
	assert_non_null(strstr(line, "dev=pvt-a"));
	fd = raw_socket("pvt-b");
	assert_int_equal(setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)), 0);

	/* wire -> bridge: 20 frames written on the peer reach the sink */
	frame(f, 0xff, 0x0b, false, 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(send(fd, f, 100, 0), 100);
	assert_true(wait_count(&s, 20));
	assert_int_equal(s.last_len, 100);
	assert_memory_equal(s.last + 40, "pvnet-payload", 13);

	/* bridge -> wire: unicast to the learned MAC of the peer */
	frame(f, 0x0b, 0x0c, false, 0);
	inject_local(br, sp, pool, f, 100);
	n = raw_recv(fd, f, sizeof(f), 0x0c, &tci);
	assert_int_equal(n, 100);
	assert_memory_equal(f + 40, "pvnet-payload", 13);

	/* VLANs: uplink trunk for 10, sink access on 10. A tagged frame from the wire
	 * arrives untagged at the sink; the reply leaves the wire tagged 10. */
	assert_int_equal(vsw_port_set_trunk(up, 0, vids, 1), 0);
	assert_int_equal(vsw_port_set_access(sp, 10), 0);
	frame(f, 0xff, 0x0d, true, 10);
	unsigned before = sink_count(&s);
	assert_int_equal(send(fd, f, 100, 0), 100);
	assert_true(wait_count(&s, before + 1));
	assert_int_equal(s.last_len, 96);
	assert_int_equal(s.last[12], 0x88);
	frame(f, 0x0d, 0x0e, false, 0);
	inject_local(br, sp, pool, f, 100);
	n = raw_recv(fd, f, sizeof(f), 0x0e, &tci);
	/* the kernel may strip the tag into auxdata or leave it inline */
	if (n == 104)
		assert_int_equal((f[14] << 8 | f[15]) & 0xfff, 10);
	else
		assert_true(n == 100 && (tci & 0xfff) == 10);
	assert_int_equal(vsw_port_get_dev_stats(up, &ds), 0);
	assert_true(ds.rx_packets >= 21 && ds.tx_packets >= 2);

	close(fd);
	assert_int_equal(vsw_port_del(br, up), 0);
	vsw_destroy(br);
	vsw_worker_destroy(w);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 64);
	pvnet_pkt_pool_destroy(pool);
	sh("ip link del pvt-a");
}

static void test_tap_host_stack(void **state)
{
	struct vsw_bridge *br;
	struct vsw_worker *w;
	struct vsw_port *tp, *sp;
	struct pvnet_pkt_pool *pool;
	struct sink s = {.lock = PTHREAD_MUTEX_INITIALIZER, .type = 0x0806};
	uint8_t f[64] = {0};
	(void)state;

	if (!have_netns)
		skip();
	assert_int_equal(vsw_create("br0", NULL, &br), 0);
	assert_int_equal(pvnet_pkt_pool_create(16, 2048, &pool), 0);
	assert_int_equal(vsw_worker_create("t-tap", &w), 0);
	assert_int_equal(vsw_tap_port_add(br, w, "pvtap0", &tp), 0);
	assert_int_equal(vsw_port_add(br, "sink", &sink_ops, &s, VSW_PORT_F_ALL, &sp), 0);
	sh("ip addr add 10.99.0.1/24 dev pvtap0 && sysctl -qw net.ipv6.conf.pvtap0.disable_ipv6=1");
	/* ARP who-has 10.99.0.1 tell 10.99.0.2 from the sink: the host stack answers */
	memset(f, 0xff, 6);
	f[6] = 0x02, f[11] = 0x22;
	f[12] = 0x08, f[13] = 0x06;
	f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4, f[21] = 1;
	memcpy(f + 22, f + 6, 6);
	f[28] = 10, f[29] = 99, f[31] = 2;
	f[38] = 10, f[39] = 99, f[41] = 1;
	unsigned before = sink_count(&s);
	for (int i = 0; i < 3 && !wait_count(&s, before + 1); i++)
		inject_local(br, sp, pool, f, 60);
	assert_true(wait_count(&s, before + 1));
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.last[12] << 8 | s.last[13], 0x0806);
	assert_int_equal(s.last[21], 2); /* ARP reply */
	assert_int_equal(s.last[5], 0x22);
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(vsw_port_del(br, tp), 0);
	/* the TAP the port created is gone with it */
	assert_int_equal(if_nametoindex("pvtap0"), 0);
	vsw_destroy(br);
	vsw_worker_destroy(w);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 16);
	pvnet_pkt_pool_destroy(pool);
}

static int udp_bound(const char *ip, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static ssize_t udp_recv(int fd, uint8_t *buf, size_t size)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 2000) <= 0)
		return -1;
	return recv(fd, buf, size, MSG_DONTWAIT);
}

static void test_vxlan_header(void **state)
{
	uint8_t h[8];
	uint32_t vni;
	(void)state;

	vsw_vxlan_encap_hdr(h, 0x123456);
	/* RFC 7348 5: flags (I = 0x08), 24 reserved bits, 24-bit VNI, 8 reserved bits */
	static const uint8_t want[8] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
	assert_memory_equal(h, want, 8);
	assert_int_equal(vsw_vxlan_decap_hdr(h, 8, &vni), 0);
	assert_int_equal(vni, 0x123456);
	h[0] = 0;
	assert_int_equal(vsw_vxlan_decap_hdr(h, 8, &vni), -EINVAL);
	assert_int_equal(vsw_vxlan_decap_hdr(want, 7, &vni), -EINVAL);
}

static void test_vxlan_port(void **state)
{
	struct vsw_vxlan_config cfg = {.vni = 4242, .dstport = 14789, .n_remotes = 2};
	struct vsw_bridge *br;
	struct vsw_worker *w;
	struct vsw_port *vx, *sp;
	struct pvnet_pkt_pool *pool;
	struct sink s = {.lock = PTHREAD_MUTEX_INITIALIZER, .type = 0x88b5};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(14789)};
	uint8_t f[128], d[2048];
	int r2, r3;
	ssize_t n;
	(void)state;

	if (!have_netns)
		skip();
	sh("ip link set lo up");
	assert_int_equal(vsw_ip_parse("127.0.0.1", &cfg.local), 0);
	assert_int_equal(vsw_ip_parse("127.0.0.2", &cfg.remotes[0]), 0);
	assert_int_equal(vsw_ip_parse("127.0.0.3", &cfg.remotes[1]), 0);
	r2 = udp_bound("127.0.0.2", 14789);
	r3 = udp_bound("127.0.0.3", 14789);
	assert_int_equal(vsw_create("br0", NULL, &br), 0);
	assert_int_equal(pvnet_pkt_pool_create(16, 2048, &pool), 0);
	assert_int_equal(vsw_worker_create("t-vxlan", &w), 0);
	assert_int_equal(vsw_vxlan_port_add(br, w, "vx0", &cfg, &vx), 0);
	assert_int_equal(vsw_port_add(br, "sink", &sink_ops, &s, VSW_PORT_F_ALL, &sp), 0);

	/* flood: both remote VTEPs get header + the inner frame, byte for byte */
	frame(f, 0xff, 0x11, false, 0);
	inject_local(br, sp, pool, f, 100);
	for (int k = 0; k < 2; k++) {
		n = udp_recv(k ? r3 : r2, d, sizeof(d));
		assert_int_equal(n, 108);
		static const uint8_t want[8] = {0x08, 0, 0, 0, 0, 0x10, 0x92, 0}; /* 4242 */
		assert_memory_equal(d, want, 8);
		assert_memory_equal(d + 8, f, 100);
	}
	/* decap: a datagram from VTEP .3 reaches the sink; its MAC is learned */
	vsw_vxlan_encap_hdr(d, 4242);
	frame(d + 8, 0x11, 0x33, false, 0);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	assert_int_equal(sendto(r3, d, 108, 0, (struct sockaddr *)&to, sizeof(to)), 108);
	assert_true(wait_count(&s, 1));
	assert_int_equal(s.last_len, 100);
	assert_memory_equal(s.last, d + 8, 100);
	/* wrong VNI: dropped by the port, never switched */
	vsw_vxlan_encap_hdr(d, 7);
	frame(d + 8, 0x11, 0x34, false, 0);
	assert_int_equal(sendto(r3, d, 108, 0, (struct sockaddr *)&to, sizeof(to)), 108);
	usleep(100000);
	assert_int_equal(sink_count(&s), 1);
	/* unicast to the learned MAC goes to .3 only */
	frame(f, 0x33, 0x11, false, 0);
	inject_local(br, sp, pool, f, 100);
	n = udp_recv(r3, d, sizeof(d));
	assert_int_equal(n, 108);
	assert_memory_equal(d + 8, f, 100);
	struct pollfd p = {.fd = r2, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 200), 0);

	char line[512];
	vsw_port_format(vx, line, sizeof(line));
	assert_non_null(
		strstr(line, "vni=4242 dstport=14789 local=127.0.0.1 remotes=127.0.0.2,127.0.0.3"));
	assert_non_null(strstr(line, "macs_learned=1 rx_bad_vni=1"));
	close(r2);
	close(r3);
	vsw_destroy(br);
	vsw_worker_destroy(w);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 16);
	pvnet_pkt_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vxlan_header),
		cmocka_unit_test(test_afpacket_veth),
		cmocka_unit_test(test_tap_host_stack),
		cmocka_unit_test(test_vxlan_port),
	};
	have_netns = unshare(CLONE_NEWNET) == 0;
	if (!have_netns)
		fprintf(stderr,
			"test_vsw_ports: SKIP device tests: unshare(CLONE_NEWNET): %s "
			"(needs root)\n",
			strerror(errno));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
