/* Unit tests for the VXLAN port's isolation rules, in a private network namespace
 * (loopback with extra addresses): datagrams from an address that is not a
 * configured remote are dropped as unknown_remote and nothing is learnt; those
 * from the remote are switched and their inner MAC learnt; the UDP source port is
 * a hash of the inner flow in 49152-65535 (one flow, one port); the same over an
 * IPv6 underlay, where the receiving kernel checks the UDP checksum. */
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

#define VNI 4242

static bool have_netns;

/* A port that counts what it is sent and remembers the last source MAC. */
struct sink {
	unsigned pkts;
	uint8_t last_src[6];
};

static int sink_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	struct sink *s = vsw_port_priv(port);
	unsigned n = b->count;

	for (unsigned i = 0; i < n; i++) {
		__atomic_add_fetch(&s->pkts, 1, __ATOMIC_RELAXED);
		memcpy(s->last_src, b->pkts[i]->data + 6, 6);
		pvnet_pkt_put(b->pkts[i]);
	}
	return (int)n;
}

static const struct vsw_port_ops sink_ops = {.type = "test", .send = sink_send};

struct env {
	struct vsw_bridge *br;
	struct vsw_worker *w;
	struct vsw_port *vx, *in;
	struct sink sink;
	struct pvnet_pkt_pool *pool;
};

static void env_init(struct env *e, const char *local, const char *remote)
{
	struct vsw_vxlan_config cfg = {.vni = VNI, .n_remotes = 1};

	memset(e, 0, sizeof(*e));
	assert_int_equal(vsw_ip_parse(local, &cfg.local), 0);
	assert_int_equal(vsw_ip_parse(remote, &cfg.remotes[0]), 0);
	assert_int_equal(vsw_create("brx", NULL, &e->br), 0);
	assert_int_equal(vsw_worker_create("vxtest", &e->w), 0);
	assert_int_equal(vsw_vxlan_port_add(e->br, e->w, "vx0", &cfg, &e->vx), 0);
	assert_int_equal(vsw_port_add(e->br, "in0", &sink_ops, &e->sink, 0, &e->in), 0);
	assert_int_equal(pvnet_pkt_pool_create(64, 2048, &e->pool), 0);
}

static void env_fini(struct env *e)
{
	vsw_destroy(e->br);
	vsw_worker_destroy(e->w);
	pvnet_pkt_pool_destroy(e->pool);
}

/* A UDP socket bound to addr:port (port 0: any). */
static int udp_bound(const char *addr, uint16_t port)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	bool v6 = strchr(addr, ':') != NULL;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {0, 200000};

	assert_true(fd >= 0);
	if (v6)
		assert_int_equal(inet_pton(AF_INET6, addr, &s6.sin6_addr), 1);
	else
		assert_int_equal(inet_pton(AF_INET, addr, &s4.sin_addr), 1);
	assert_int_equal(v6 ? bind(fd, (struct sockaddr *)&s6, sizeof(s6))
			    : bind(fd, (struct sockaddr *)&s4, sizeof(s4)),
			 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Sends one VXLAN datagram (VNI, inner broadcast from mac) from fd to addr:4789. */
static void send_vxlan(int fd, const char *addr, const uint8_t mac[6])
{
	uint8_t d[8 + 60] = {0x08,        0, 0, 0, (uint8_t)(VNI >> 16), (uint8_t)(VNI >> 8),
			     (uint8_t)VNI};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(VSW_VXLAN_PORT)};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(VSW_VXLAN_PORT)};
	bool v6 = strchr(addr, ':') != NULL;

	memset(d + 8, 0xff, 6);
	memcpy(d + 14, mac, 6);
	d[20] = 0x08;
	if (v6)
		inet_pton(AF_INET6, addr, &s6.sin6_addr);
	else
		inet_pton(AF_INET, addr, &s4.sin_addr);
	assert_int_equal(v6 ? sendto(fd, d, sizeof(d), 0, (struct sockaddr *)&s6, sizeof(s6))
			    : sendto(fd, d, sizeof(d), 0, (struct sockaddr *)&s4, sizeof(s4)),
			 (ssize_t)sizeof(d));
}

static uint64_t unknown_remote(struct env *e)
{
	struct vsw_port_stats st;

	vsw_port_get_stats(e->vx, &st);
	return st.drops[VSW_DROP_UNKNOWN_REMOTE];
}

static bool wait_until(bool (*cond)(struct env *, uint64_t), struct env *e, uint64_t v)
{
	for (int i = 0; i < 200; i++) {
		if (cond(e, v))
			return true;
		usleep(10000);
	}
	return false;
}

static bool unknown_is(struct env *e, uint64_t v)
{
	return unknown_remote(e) == v;
}
static bool sink_is(struct env *e, uint64_t v)
{
	return __atomic_load_n(&e->sink.pkts, __ATOMIC_RELAXED) == v;
}

/* Injects, on port in0, one inner UDP frame of flow `i` (destination port 5000 + i)
 * to an unknown MAC: flooded to vx0. */
static void inject_flow(struct env *e, unsigned i)
{
	uint8_t f[60] = {0x02, 0xee, 0xee, 0xee, 0xee, 0xee, 0x02, 0, 0, 0, 0,  0x99,
			 0x08, 0x00, 0x45, 0,    0,    46,   0,    0, 0, 0, 64, 17,
			 0,    0,    10,   0,    0,    1,    10,   0, 0, 2};
	struct pvnet_pkt_batch b = {0};

	f[34] = 1000 >> 8;
	f[35] = 1000 & 0xff;
	f[36] = (uint8_t)((5000 + i) >> 8);
	f[37] = (uint8_t)(5000 + i);
	f[39] = 26;
	b.pkts[0] = pvnet_pkt_alloc(e->pool);
	assert_non_null(b.pkts[0]);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], f, sizeof(f)), 0);
	b.count = 1;
	assert_int_equal(vsw_input(e->br, e->in, &b), 0);
}

/* Receives the datagram of one flow at the remote; returns its UDP source port. */
static int recv_sport(int fd, unsigned *flow)
{
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	uint8_t d[256];
	ssize_t n = recvfrom(fd, d, sizeof(d), 0, (struct sockaddr *)&from, &fl);

	if (n < 8 + 38)
		return -1;
	*flow = (unsigned)(d[8 + 36] << 8 | d[8 + 37]) - 5000;
	return ntohs(from.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&from)->sin6_port
						: ((struct sockaddr_in *)&from)->sin_port);
}

static void check_underlay(const char *local, const char *remote, const char *stranger)
{
	uint8_t mac_x[6] = {0x02, 0x5a, 0, 0, 0, 0x33}, mac_y[6] = {0x02, 0x5a, 0, 0, 0, 0x22};
	int ports[16], sport, r, s;
	unsigned flow = 16, distinct = 0;
	char line[1024];
	uint32_t no;
	struct env e;

	if (!have_netns) {
		skip();
		return;
	}
	env_init(&e, local, remote);
	r = udp_bound(remote, VSW_VXLAN_PORT); /* the configured remote VTEP */
	s = udp_bound(stranger, 0);            /* a host that is not configured */
	/* the stranger: dropped, counted, not switched, not learnt */
	for (int i = 0; i < 5; i++)
		send_vxlan(s, local, mac_x);
	assert_true(wait_until(unknown_is, &e, 5));
	assert_int_equal(e.sink.pkts, 0);
	assert_int_equal(vsw_fdb_lookup(e.br, 0, mac_x, &no), -ENOENT);
	/* the remote: switched, learnt on vx0 */
	send_vxlan(r, local, mac_y);
	assert_true(wait_until(sink_is, &e, 1));
	assert_memory_equal(e.sink.last_src, mac_y, 6);
	assert_int_equal(vsw_fdb_lookup(e.br, 0, mac_y, &no), 0);
	assert_int_equal(no, vsw_port_no(e.vx));
	assert_int_equal(unknown_remote(&e), 5);
	vsw_port_format(e.vx, line, sizeof(line));
	assert_non_null(strstr(line, "macs_learned=1"));
	if (!strstr(line, "udp_src=flow-hash")) { /* no CAP_NET_RAW: fixed source port */
		close(r);
		close(s);
		env_fini(&e);
		skip();
		return;
	}
	/* 16 flows, each twice: one source port per flow, spread, in 49152-65535 */
	for (int k = 0; k < 16; k++)
		ports[k] = -1;
	for (unsigned rep = 0; rep < 2; rep++)
		for (unsigned i = 0; i < 16; i++)
			inject_flow(&e, i);
	for (int k = 0; k < 32; k++) {
		sport = recv_sport(r, &flow);
		assert_true(sport >= 49152 && sport <= 65535);
		assert_true(flow < 16);
		if (ports[flow] < 0)
			ports[flow] = sport;
		else
			assert_int_equal(ports[flow], sport);
	}
	for (unsigned i = 0; i < 16; i++) {
		bool seen = false;
		assert_true(ports[i] >= 0); /* every flow arrived */
		for (unsigned j = 0; j < i; j++)
			seen |= ports[j] == ports[i];
		distinct += !seen;
	}
	assert_true(distinct >= 12);
	close(r);
	close(s);
	env_fini(&e);
}

static void test_ipv4_underlay(void **state)
{
	(void)state;
	check_underlay("127.0.0.1", "127.0.0.2", "127.0.0.3");
}

static void test_ipv6_underlay(void **state)
{
	(void)state;
	check_underlay("fd00:4242::1", "fd00:4242::2", "fd00:4242::3");
}

static void test_config_refused(void **state)
{
	struct vsw_vxlan_config cfg = {.vni = VNI, .n_remotes = 1};
	struct vsw_bridge *br;
	struct vsw_worker *w;
	struct vsw_port *p;
	(void)state;

	assert_int_equal(vsw_create("brc", NULL, &br), 0);
	assert_int_equal(vsw_worker_create("vxcfg", &w), 0);
	assert_int_equal(vsw_ip_parse("127.0.0.1", &cfg.local), 0);
	assert_int_equal(vsw_ip_parse("fd00:4242::2", &cfg.remotes[0]), 0);
	assert_int_equal(vsw_vxlan_port_add(br, w, "vxm", &cfg, &p), -EAFNOSUPPORT);
	cfg.n_remotes = 0;
	assert_int_equal(vsw_vxlan_port_add(br, w, "vxm", &cfg, &p), -EINVAL);
	vsw_destroy(br);
	vsw_worker_destroy(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_underlay),
		cmocka_unit_test(test_ipv6_underlay),
		cmocka_unit_test(test_config_refused),
	};

	/* a private network namespace: loopback with the test's addresses, UDP 4789
	 * free whatever the host runs (root only; otherwise the socket tests skip) */
	if (unshare(CLONE_NEWNET) == 0 &&
	    system("ip link set lo up && ip addr add 127.0.0.2/8 dev lo 2>/dev/null; "
		   "ip addr add fd00:4242::1/64 dev lo nodad && "
		   "ip addr add fd00:4242::2/64 dev lo nodad && "
		   "ip addr add fd00:4242::3/64 dev lo nodad") == 0)
		have_netns = true;
	else
		fprintf(stderr, "# no private network namespace (needs root): socket tests skip\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
