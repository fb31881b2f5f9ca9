/* Unit tests for a VXLAN port under a control plane (an OVN hardware VTEP): remotes
 * replaced at run time, the BUM replication list, static remote MACs that learning
 * does not move, and what happens to MACs of a VTEP that is removed. Real UDP sockets
 * in a private network namespace (loopback with extra addresses). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/vswitch.h>

#define VNI 5001

static bool have_netns;

static int sink_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	unsigned *n = vsw_port_priv(port);

	for (unsigned i = 0; i < b->count; i++) {
		__atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
		pvnet_pkt_put(b->pkts[i]);
	}
	return (int)b->count;
}

static const struct vsw_port_ops sink_ops = {.type = "test", .send = sink_send};

/* A UDP socket on addr:4789 with a 200 ms receive timeout: a remote VTEP. */
static int vtep_sock(const char *addr)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(VSW_VXLAN_PORT)};
	struct timeval tv = {0, 200000};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, addr, &s4.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&s4, sizeof(s4)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* 1 if a datagram arrives on fd within 200 ms, after which fd is drained. */
static int got(int fd)
{
	uint8_t d[256];
	int n = 0;

	while (recv(fd, d, sizeof(d), n ? MSG_DONTWAIT : 0) > 0)
		n++;
	return n > 0;
}

/* One frame to `dst` injected on the local port: switched to the VXLAN port. */
static void inject(struct vsw_bridge *br, struct vsw_port *in, struct pvnet_pkt_pool *pool,
		   const uint8_t dst[6])
{
	uint8_t f[60] = {0, 0, 0, 0, 0, 0, 0x02, 0x10, 0, 0, 0, 1, 0x08, 0x00};
	struct pvnet_pkt_batch b = {0};

	memcpy(f, dst, 6);
	b.pkts[0] = pvnet_pkt_alloc(pool);
	assert_non_null(b.pkts[0]);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], f, sizeof(f)), 0);
	b.count = 1;
	assert_int_equal(vsw_input(br, in, &b), 0);
}

/* One VXLAN datagram from fd to 127.0.0.1 with an inner broadcast from `src`. */
static void send_from(int fd, const uint8_t src[6])
{
	uint8_t d[8 + 60] = {0x08,        0, 0, 0, (uint8_t)(VNI >> 16), (uint8_t)(VNI >> 8),
			     (uint8_t)VNI};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(VSW_VXLAN_PORT)};

	memset(d + 8, 0xff, 6);
	memcpy(d + 14, src, 6);
	d[20] = 0x08;
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	assert_int_equal(sendto(fd, d, sizeof(d), 0, (struct sockaddr *)&s4, sizeof(s4)),
			 (ssize_t)sizeof(d));
}

static uint64_t drops_unknown(struct vsw_port *p)
{
	struct vsw_port_stats st;

	vsw_port_get_stats(p, &st);
	return st.drops[VSW_DROP_UNKNOWN_REMOTE];
}

static void test_vtep_control(void **state)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t m[6] = {0x02, 0x77, 0, 0, 0, 1}, mc[6] = {0x01, 0, 0x5e, 0, 0, 1};
	struct vsw_vxlan_config cfg = {.vni = VNI, .n_remotes = 1};
	struct vsw_ip_addr rem[2], other, where;
	bool flood[2] = {true, false}, st;
	struct vsw_port *vx, *in;
	struct pvnet_pkt_pool *pool;
	struct vsw_bridge *br;
	struct vsw_worker *w;
	unsigned sunk = 0;
	int a, b;

	(void)state;
	if (!have_netns) {
		skip();
		return;
	}
	assert_int_equal(vsw_ip_parse("127.0.0.1", &cfg.local), 0);
	assert_int_equal(vsw_ip_parse("127.0.0.2", &cfg.remotes[0]), 0);
	assert_int_equal(vsw_ip_parse("127.0.0.2", &rem[0]), 0);
	assert_int_equal(vsw_ip_parse("127.0.0.3", &rem[1]), 0);
	assert_int_equal(vsw_ip_parse("127.0.0.4", &other), 0);
	assert_int_equal(vsw_create("brv", NULL, &br), 0);
	assert_int_equal(vsw_worker_create("vxvtep", &w), 0);
	assert_int_equal(vsw_vxlan_port_add(br, w, "vx0", &cfg, &vx), 0);
	assert_int_equal(vsw_port_add(br, "in0", &sink_ops, &sunk, 0, &in), 0);
	assert_int_equal(pvnet_pkt_pool_create(64, 2048, &pool), 0);
	a = vtep_sock("127.0.0.2");
	b = vtep_sock("127.0.0.3");

	/* not a VXLAN port */
	assert_int_equal(vsw_vxlan_set_remotes(in, rem, NULL, 2), -EINVAL);
	assert_int_equal(vsw_vxlan_mac_add(in, m, &rem[0]), -EINVAL);

	/* two remotes, only the first in the replication list */
	assert_int_equal(vsw_vxlan_set_remotes(vx, rem, flood, 2), 0);
	inject(br, in, pool, bcast);
	assert_true(got(a));
	assert_false(got(b));

	/* a static MAC goes to its VTEP only, even one outside the replication list */
	assert_int_equal(vsw_vxlan_mac_add(vx, m, &other), -ENOENT);
	assert_int_equal(vsw_vxlan_mac_add(vx, mc, &rem[1]), -EINVAL);
	assert_int_equal(vsw_vxlan_mac_add(vx, m, &rem[1]), 0);
	inject(br, in, pool, m);
	assert_true(got(b));
	assert_false(got(a));
	/* learning from the other VTEP does not move it */
	send_from(a, m);
	for (int i = 0; i < 200 && !__atomic_load_n(&sunk, __ATOMIC_RELAXED); i++)
		usleep(10000);
	assert_int_equal(sunk, 1);
	assert_int_equal(vsw_vxlan_mac_lookup(vx, m, &where, &st), 0);
	assert_true(st);
	assert_memory_equal(where.addr, rem[1].addr, 4);

	/* the VTEP removed: its MACs go, what it sends is refused */
	assert_int_equal(vsw_vxlan_set_remotes(vx, rem, NULL, 1), 0);
	assert_int_equal(vsw_vxlan_mac_lookup(vx, m, &where, &st), -ENOENT);
	assert_int_equal(vsw_vxlan_mac_del(vx, m), -ENOENT);
	send_from(b, m);
	for (int i = 0; i < 200 && drops_unknown(vx) < 1; i++)
		usleep(10000);
	assert_int_equal(drops_unknown(vx), 1);
	assert_int_equal(sunk, 1);

	/* add then delete: flooded again (to the one remote left) */
	assert_int_equal(vsw_vxlan_mac_add(vx, m, &rem[0]), 0);
	assert_int_equal(vsw_vxlan_mac_del(vx, m), 0);
	assert_int_equal(vsw_vxlan_mac_lookup(vx, m, &where, NULL), -ENOENT);
	inject(br, in, pool, m);
	assert_true(got(a));

	/* no remote at all: nothing leaves */
	assert_int_equal(vsw_vxlan_set_remotes(vx, NULL, NULL, 0), 0);
	inject(br, in, pool, bcast);
	assert_false(got(a));
	assert_false(got(b));

	close(a);
	close(b);
	vsw_destroy(br);
	vsw_worker_destroy(w);
	pvnet_pkt_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vtep_control),
	};

	if (unshare(CLONE_NEWNET) == 0 &&
	    system("ip link set lo up && ip addr add 127.0.0.2/8 dev lo 2>/dev/null; true") == 0)
		have_netns = true;
	else
		fprintf(stderr, "# no private network namespace (needs root): the test skips\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
