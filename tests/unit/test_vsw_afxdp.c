/* Unit tests for the AF_XDP uplink (vswitch/port_afxdp.c) over a veth pair in a
 * private network namespace this process creates (unshare(CLONE_NEWNET); it and
 * its devices vanish with the process): argument and interface checks with their
 * reasons, frames both ways in generic (skb) and native (drv) mode, the too-big
 * drop counter, refusing an interface that already runs an XDP program, and the
 * program gone after vsw_port_del. Device tests are skipped without
 * CAP_SYS_ADMIN. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
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
#include <unistd.h>
#include <cmocka.h>

#include <bpf/libbpf.h>

#include <pvnet/vswitch.h>

#define TEST_TYPE 0x88b5 /* local experimental ethertype: nothing else uses it */

static bool have_netns;

#include "vsw_sink.h"

static int raw_socket(const char *ifname)
{
	return raw_socket_proto(ifname, TEST_TYPE);
}

/* An ETH_P_ALL socket with PACKET_AUXDATA (the kernel may strip a tag to metadata). */
static int raw_socket_all(const char *ifname)
{
	int one = 1, fd = raw_socket_proto(ifname, ETH_P_ALL);
	assert_int_equal(setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)), 0);
	return fd;
}

/* Next frame from source id `src_id`: its VLAN id (inline or in auxdata), 0 if
 * untagged, -1 if none came within ~3 s. */
static int raw_recv_tagged(int fd, uint8_t *buf, size_t size, uint8_t src_id)
{
	uint16_t tci;
	ssize_t n = raw_recv(fd, buf, size, src_id, &tci);

	if (n < 18)
		return -1;
	if (tci)
		return tci & 0xfff;
	return buf[12] == 0x81 && buf[13] == 0x00 ? ((buf[14] << 8 | buf[15]) & 0xfff) : 0;
}

static void inject_input(struct vsw_bridge *br, struct vsw_port *in, struct pvnet_pkt_pool *pool,
			 const uint8_t *f, uint32_t size)
{
	struct pvnet_pkt_batch b = {0};
	b.pkts[0] = pvnet_pkt_alloc(pool);
	assert_non_null(b.pkts[0]);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], f, size), 0);
	b.count = 1;
	assert_int_equal(vsw_input(br, in, &b), 0);
}

static void frame(uint8_t *f, size_t size, uint8_t dst_id, uint8_t src_id)
{
	memset(f, 0, size);
	if (dst_id == 0xff)
		memset(f, 0xff, 6);
	else
		f[0] = 0x02, f[5] = dst_id;
	f[6] = 0x02;
	f[11] = src_id;
	f[12] = TEST_TYPE >> 8;
	f[13] = TEST_TYPE & 0xff;
	memcpy(f + 40, "pvnet-afxdp", 11);
}

static void inject(struct vsw_port *out, struct pvnet_pkt_pool *pool, const uint8_t *f,
		   uint32_t size)
{
	struct pvnet_pkt_batch b = {0};
	b.pkts[0] = pvnet_pkt_alloc(pool);
	assert_non_null(b.pkts[0]);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], f, size), 0);
	b.count = 1;
	assert_int_equal(vsw_port_inject(out, &b), 0);
}

static uint32_t xdp_prog_id(const char *ifname)
{
	uint32_t id = 0;
	assert_int_equal(bpf_xdp_query_id((int)if_nametoindex(ifname), 0, &id), 0);
	return id;
}

static void veth_up(void)
{
	sh("ip link add pvx-a type veth peer name pvx-b && ip link set pvx-a up && "
	   "ip link set pvx-b up");
}

static void test_refusals(void **state)
{
	struct vsw_afxdp_config skb_zc = {.mode = VSW_AFXDP_MODE_SKB, .copy = VSW_AFXDP_ZEROCOPY};
	struct vsw_afxdp_config q7 = {.queue = 7};
	struct vsw_afxdp_config bad = {.mode = 9};
	struct vsw_bridge *br, *br2;
	struct vsw_worker *w;
	struct vsw_port *p, *p2;
	char why[256];
	(void)state;

	assert_int_equal(vsw_create("br0", NULL, &br), 0);
	assert_int_equal(vsw_worker_create("t-xdp", &w), 0);
	assert_int_equal(vsw_afxdp_port_add(NULL, w, "x", NULL, why, sizeof(why), &p), -EINVAL);
	assert_null(p);
	assert_int_equal(vsw_afxdp_port_add(br, w, "", NULL, why, sizeof(why), &p), -EINVAL);
	assert_int_equal(vsw_afxdp_port_add(br, w, "x", &bad, NULL, 0, &p), -EINVAL);
	assert_int_equal(vsw_afxdp_port_add(br, w, "nosuchdev0", NULL, why, sizeof(why), &p),
			 -ENODEV);
	assert_string_equal(why, "no such interface nosuchdev0");
	assert_int_equal(vsw_afxdp_port_add(br, w, "lo", &skb_zc, why, sizeof(why), &p), -EINVAL);
	assert_non_null(strstr(why, "zero-copy needs native"));
	if (!have_netns)
		goto out;

	/* lo has no ETHTOOL_GCHANNELS: the rtnetlink queue count answers */
	assert_int_equal(vsw_afxdp_port_add(br, w, "lo", &q7, why, sizeof(why), &p), -ERANGE);
	assert_string_equal(why, "queue 7 out of range: lo has 1 RX queue");
	veth_up();
	assert_int_equal(vsw_afxdp_port_add(br, w, "pvx-a", &q7, why, sizeof(why), &p), -ERANGE);
	assert_string_equal(why, "queue 7 out of range: pvx-a has 1 RX queue");
	assert_int_equal(xdp_prog_id("pvx-a"), 0);

	/* a second port on an interface that already runs XDP is refused, and the
	 * first one's program stays */
	assert_int_equal(vsw_afxdp_port_add(br, w, "pvx-a", NULL, why, sizeof(why), &p), 0);
	uint32_t id = xdp_prog_id("pvx-a");
	assert_true(id > 0);
	assert_int_equal(vsw_create("br2", NULL, &br2), 0);
	assert_int_equal(vsw_afxdp_port_add(br2, w, "pvx-a", NULL, why, sizeof(why), &p2), -EBUSY);
	assert_non_null(strstr(why, "already runs XDP program"));
	assert_int_equal(xdp_prog_id("pvx-a"), id);
	vsw_destroy(br2);
	assert_int_equal(vsw_port_del(br, p), 0);
	assert_int_equal(xdp_prog_id("pvx-a"), 0);
	sh("ip link del pvx-a");
out:
	vsw_destroy(br);
	vsw_worker_destroy(w);
}

static void datapath(enum vsw_afxdp_mode mode, const char *mode_text)
{
	struct vsw_afxdp_config cfg = {.mode = mode};
	struct sink s = {.lock = PTHREAD_MUTEX_INITIALIZER, .type = TEST_TYPE};
	struct vsw_bridge *br;
	struct vsw_worker *w;
	struct vsw_port *up, *sp;
	struct pvnet_pkt_pool *pool;
	struct vsw_port_dev_stats ds;
	static uint8_t f[6000];
	char why[256], line[1024];
	int fd;

	veth_up();
	assert_int_equal(vsw_create("br0", NULL, &br), 0);
	assert_int_equal(pvnet_pkt_pool_create(64, 8192, &pool), 0);
	assert_int_equal(vsw_worker_create("t-xdp", &w), 0);
	if (vsw_afxdp_port_add(br, w, "pvx-a", &cfg, why, sizeof(why), &up)) {
		print_message("afxdp %s: %s\n", mode_text, why);
		fail();
	}
	assert_int_equal(vsw_port_add(br, "sink", &sink_ops, &s, VSW_PORT_F_ALL, &sp), 0);
	vsw_port_format(up, line, sizeof(line));
	assert_non_null(strstr(line, "type=afxdp"));
	assert_non_null(strstr(line, "queue=0/1"));
	assert_non_null(strstr(line, mode_text));
	assert_true(xdp_prog_id("pvx-a") > 0);
	fd = raw_socket("pvx-b");

	/* wire -> bridge: 40 frames sent on the peer reach the sink, intact */
	frame(f, 100, 0xff, 0x0b);
	for (int i = 0; i < 40; i++)
		assert_int_equal(send(fd, f, 100, 0), 100);
	assert_true(wait_count(&s, 40));
	assert_int_equal(s.last_len, 100);
	assert_memory_equal(s.last + 40, "pvnet-afxdp", 11);

	/* bridge -> wire: 1500-byte frames leave intact */
	for (int i = 0; i < 3; i++) {
		uint16_t tci;

		frame(f, 1500, 0x0b, (uint8_t)(0x20 + i));
		inject(up, pool, f, 1500);
		assert_int_equal(raw_recv(fd, f, sizeof(f), (uint8_t)(0x20 + i), &tci), 1500);
		assert_memory_equal(f + 40, "pvnet-afxdp", 11);
	}

	/* 802.1Q: uplink trunk for VLAN 10, sink access on 10. A frame tagged inline
	 * on the wire reaches the sink untagged; the reply leaves the uplink tagged. */
	uint16_t vids[1] = {10};
	assert_int_equal(vsw_port_set_trunk(up, 0, vids, 1), 0);
	assert_int_equal(vsw_port_set_access(sp, 10), 0);
	frame(f, 104, 0xff, 0x0d);
	memmove(f + 16, f + 12, 88);
	f[12] = 0x81, f[13] = 0x00, f[14] = 0x00, f[15] = 10;
	unsigned before = sink_count(&s);
	assert_int_equal(send(fd, f, 104, 0), 104);
	assert_true(wait_count(&s, before + 1));
	assert_int_equal(s.last_len, 100);
	assert_memory_equal(s.last + 40, "pvnet-afxdp", 11);
	close(fd);
	fd = raw_socket_all("pvx-b");
	frame(f, 100, 0x0d, 0x0e);
	inject_input(br, sp, pool, f, 100);
	assert_int_equal(raw_recv_tagged(fd, f, sizeof(f), 0x0e), 10);
	assert_int_equal(vsw_port_set_access(up, 0), 0);
	assert_int_equal(vsw_port_set_access(sp, 0), 0);

	/* larger than a UMEM frame: dropped and counted as tx_too_big */
	frame(f, 5000, 0x0b, 0x30);
	inject(up, pool, f, 5000);
	vsw_port_format(up, line, sizeof(line));
	assert_non_null(strstr(line, "tx_too_big=1 "));
	assert_non_null(strstr(line, "rx_nobuf=0 rx_bad_desc=0"));
	assert_int_equal(vsw_port_get_dev_stats(up, &ds), 0);
	assert_true(ds.rx_packets >= 40);
	assert_int_equal(ds.tx_packets, 4);
	assert_int_equal(ds.tx_errors, 1);

	close(fd);
	assert_int_equal(vsw_port_del(br, up), 0);
	assert_int_equal(xdp_prog_id("pvx-a"), 0); /* the interface is left as found */
	vsw_destroy(br);
	vsw_worker_destroy(w);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 64);
	pvnet_pkt_pool_destroy(pool);
	sh("ip link del pvx-a");
}

static void test_skb_mode(void **state)
{
	(void)state;
	if (!have_netns)
		skip();
	datapath(VSW_AFXDP_MODE_SKB, "xdp=skb,copy");
}

static void test_drv_mode(void **state)
{
	(void)state;
	if (!have_netns)
		skip();
	datapath(VSW_AFXDP_MODE_DRV, "xdp=drv,copy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_skb_mode),
		cmocka_unit_test(test_drv_mode),
	};
	have_netns = unshare(CLONE_NEWNET) == 0;
	if (!have_netns)
		fprintf(stderr,
			"test_vsw_afxdp: SKIP device tests: unshare(CLONE_NEWNET): %s "
			"(needs root)\n",
			strerror(errno));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
