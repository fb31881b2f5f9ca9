/* Unit tests for port mirroring (the file read back with pcap_open_offline has
 * exactly the frames the port counters show, tags as on the wire, --count stops;
 * a pcap filter and a snap length apply; the writer thread's bounded queue drops
 * and counts instead of stalling the switch when the reader is slow or gone;
 * symlinks are not followed) and replay (a capture injected out of a port, or
 * into the bridge). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/vswitch.h>

static unsigned got[3];

static int count_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	got[vsw_port_no(port)] += b->count;
	for (unsigned i = 0; i < b->count; i++)
		pvnet_pkt_put(b->pkts[i]);
	return (int)b->count;
}

static const struct vsw_port_ops ops = {.type = "test", .send = count_send};

struct env {
	struct vsw_bridge *br;
	struct pvnet_pkt_pool *pool;
	struct vsw_port *p[3];
	char dir[64];
};

static void env_init(struct env *e)
{
	const char *names[3] = {"eth0", "vif1.0", "vif2.0"};
	assert_int_equal(vsw_create("br0", NULL, &e->br), 0);
	assert_int_equal(pvnet_pkt_pool_create(128, 2048, &e->pool), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vsw_port_add(e->br, names[i], &ops, NULL, VSW_PORT_F_ALL,
					      &e->p[i]),
				 0);
	strcpy(e->dir, "/tmp/vsw-capture.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	memset(got, 0, sizeof(got));
}

static void env_fini(struct env *e)
{
	char cmd[128];
	vsw_destroy(e->br);
	assert_int_equal(pvnet_pkt_pool_avail(e->pool), 128);
	pvnet_pkt_pool_destroy(e->pool);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
}

/* n frames from src_id to dst_id (0xff: broadcast) in on port `in`, `size` bytes each. */
static void inject(struct env *e, int in, uint8_t src_id, uint8_t dst_id, unsigned n, uint32_t size)
{
	struct pvnet_pkt_batch b = {0};
	uint8_t f[1514] = {0};

	for (unsigned k = 0; k < n; k++) {
		memset(f, dst_id == 0xff ? 0xff : 0, 6);
		if (dst_id != 0xff) {
			f[0] = 0x02;
			f[5] = dst_id;
		}
		f[6] = 0x02;
		f[11] = src_id;
		f[12] = 0x08;
		f[14] = (uint8_t)k;
		b.pkts[b.count] = pvnet_pkt_alloc(e->pool);
		assert_non_null(b.pkts[b.count]);
		assert_int_equal(pvnet_pkt_set_local(b.pkts[b.count], f, size), 0);
		if (++b.count == PVNET_BATCH_MAX || k + 1 == n)
			assert_int_equal(vsw_input(e->br, e->p[in], &b), 0);
	}
}

/* Frames in a capture; *tagged gets those with an 802.1Q tag of VID `vid`. */
static int pcap_count(const char *path, uint16_t vid, int *tagged)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *pc = pcap_open_offline(path, err);
	int n = 0;

	assert_non_null(pc);
	*tagged = 0;
	while (pcap_next_ex(pc, &h, &d) == 1) {
		n++;
		assert_int_equal(h->caplen, h->len);
		if (d[12] == 0x81 && d[13] == 0 && ((d[14] << 8 | d[15]) & 0xfff) == vid)
			(*tagged)++;
	}
	pcap_close(pc);
	return n;
}

static void test_mirror_counts(void **state)
{
	struct env e;
	struct vsw_port_stats st;
	char path[128], line[512];
	uint64_t frames;
	int tagged;
	uint16_t vids[1] = {10};
	(void)state;

	env_init(&e);
	snprintf(path, sizeof(path), "%s/m.pcap", e.dir);
	/* eth0 is a trunk for VLAN 10, vif1.0 / vif2.0 access ports on 10 */
	assert_int_equal(vsw_port_set_trunk(e.p[0], 0, vids, 1), 0);
	assert_int_equal(vsw_port_set_access(e.p[1], 10), 0);
	assert_int_equal(vsw_port_set_access(e.p[2], 10), 0);
	assert_int_equal(vsw_port_mirror_start(e.p[0], path, 0), 0);
	vsw_port_format(e.p[0], line, sizeof(line));
	assert_non_null(strstr(line, " mirror="));
	assert_non_null(strstr(line, "mode=trunk native=0 vlans=10"));
	inject(&e, 1, 1, 0xff, 40, 60); /* flooded: eth0 sends 40 tagged */
	inject(&e, 2, 2, 1, 5, 100);    /* unicast vif2 -> vif1: not on eth0 */
	inject(&e, 1, 1, 2, 3, 100);    /* unicast vif1 -> vif2: not on eth0 */
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), 0);
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), -ENOENT);
	vsw_port_get_stats(e.p[0], &st);
	assert_int_equal(st.tx_packets, 40);
	assert_int_equal(frames, st.rx_packets + st.tx_packets);
	assert_int_equal(pcap_count(path, 10, &tagged), (int)(st.rx_packets + st.tx_packets));
	assert_int_equal(tagged, 40);

	/* received frames are recorded as they came (tagged), before any drop */
	snprintf(path, sizeof(path), "%s/rx.pcap", e.dir);
	assert_int_equal(vsw_port_mirror_start(e.p[1], path, 0), 0);
	inject(&e, 1, 1, 0xff, 7, 60);
	assert_int_equal(vsw_port_mirror_stop(e.p[1], &frames), 0);
	assert_int_equal(frames, 7);
	assert_int_equal(pcap_count(path, 0, &tagged), 7);
	env_fini(&e);
}

/* Waits (at most 5 s) until the port's mirror has closed its output. */
static bool wait_done(struct vsw_port *p)
{
	struct vsw_mirror_stats st;

	for (int i = 0; i < 500; i++) {
		if (vsw_port_mirror_get_stats(p, &st) == 0 && st.done)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_mirror_count_limit(void **state)
{
	struct env e;
	char path[128];
	uint64_t frames;
	int tagged;
	(void)state;

	env_init(&e);
	snprintf(path, sizeof(path), "%s/c.pcap", e.dir);
	assert_int_equal(vsw_port_mirror_start(e.p[0], path, 25), 0);
	inject(&e, 1, 1, 0xff, 64, 1514);
	/* complete after 25 frames (the writer closes the file), before mirror-stop */
	assert_true(wait_done(e.p[0]));
	assert_int_equal(pcap_count(path, 0, &tagged), 25);
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), 0);
	assert_int_equal(frames, 25);
	assert_int_equal(pcap_count(path, 0, &tagged), 25);
	/* errors */
	assert_int_equal(vsw_port_mirror_start(e.p[0], "/nonexistent/dir/x.pcap", 0), -ENOENT);
	assert_int_equal(vsw_port_mirror_start(e.p[0], "/tmp/x.pcapng", 0), -EPROTONOSUPPORT);
	env_fini(&e);
}

/* Frames in a capture with caplen == want_caplen, and the file's snaplen. */
static int pcap_caplens(const char *path, uint32_t want_caplen, int *snaplen)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *pc = pcap_open_offline(path, err);
	int n = 0;

	assert_non_null(pc);
	*snaplen = pcap_snapshot(pc);
	while (pcap_next_ex(pc, &h, &d) == 1) {
		assert_int_equal(h->caplen, want_caplen);
		assert_int_equal(h->len, 1000);
		n++;
	}
	pcap_close(pc);
	return n;
}

/* A pcap filter keeps only matching frames; --snaplen cuts each frame. */
static void test_mirror_filter_snaplen(void **state)
{
	struct vsw_mirror_stats st;
	char path[128], why[256] = "", line[1024];
	uint64_t frames;
	int tagged, snap;
	struct env e;
	(void)state;

	env_init(&e);
	snprintf(path, sizeof(path), "%s/f.pcap", e.dir);
	struct vsw_mirror_opts o = {.path = path,
				    .filter = "ether src 02:00:00:00:00:02",
				    .why = why,
				    .why_size = sizeof(why)};
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o), 0);
	vsw_port_format(e.p[0], line, sizeof(line));
	assert_non_null(strstr(line, "mirror_filter='ether src 02:00:00:00:00:02'"));
	inject(&e, 1, 1, 0xff, 30, 100); /* from ...:01: filtered out */
	inject(&e, 2, 2, 0xff, 12, 100); /* from ...:02: recorded */
	assert_int_equal(vsw_port_mirror_get_stats(e.p[0], &st), 0);
	assert_int_equal(st.filtered, 30);
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), 0);
	assert_int_equal(frames, 12);
	assert_int_equal(pcap_count(path, 0, &tagged), 12);

	/* a filter that does not compile is refused, with libpcap's reason */
	o.filter = "ether src nonsense and (";
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o), -EINVAL);
	assert_non_null(strstr(why, "bad filter"));
	assert_int_equal(vsw_port_mirror_get_stats(e.p[0], &st), -ENOENT);

	/* snaplen 64: 1000-byte frames recorded as 64 bytes, len kept */
	snprintf(path, sizeof(path), "%s/s.pcap", e.dir);
	struct vsw_mirror_opts o2 = {.path = path, .snaplen = 64, .count = 9};
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o2), 0);
	inject(&e, 1, 1, 0xff, 20, 1000);
	assert_true(wait_done(e.p[0]));
	assert_int_equal(pcap_caplens(path, 64, &snap), 9);
	assert_int_equal(snap, 64);
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), 0);
	assert_int_equal(frames, 9);
	o2.snaplen = 70000;
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o2), -EINVAL);
	env_fini(&e);
}

/* A FIFO whose reader never reads: the switch keeps forwarding at full speed, the
 * bounded queue drops and counts, mirror-stop returns in bounded time. Then a
 * reader that goes away ends the capture; symlinks and reader-less FIFOs are
 * refused. */
static void test_mirror_slow_reader(void **state)
{
	struct vsw_mirror_stats st;
	char path[128], link[128], why[256];
	uint64_t frames, t0, t1;
	struct env e;
	int rfd;
	(void)state;

	env_init(&e);
	snprintf(path, sizeof(path), "%s/fifo", e.dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	struct vsw_mirror_opts o = {.path = path, .why = why, .why_size = sizeof(why)};
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o), -ENXIO); /* no reader */
	rfd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	o.queue_size = 256 * 1024;
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o), 0);
	/* 4000 x 1514 B = 6 MB through the port; the pipe (64 KiB) + queue (256 KiB)
	 * take a fraction: the rest must be dropped, not waited for */
	t0 = pvnet_now_ms();
	for (int k = 0; k < 125; k++)
		inject(&e, 1, 1, 0xff, 32, 1514);
	t1 = pvnet_now_ms();
	assert_int_equal(got[0], 4000); /* every frame still switched */
	assert_int_equal(vsw_port_mirror_get_stats(e.p[0], &st), 0);
	assert_true(st.queue_drops > 3000);
	assert_int_equal(st.queued + st.queue_drops, 4000);
	assert_true(t1 - t0 < 2000);
	t0 = pvnet_now_ms();
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), 0);
	t1 = pvnet_now_ms();
	assert_true(t1 - t0 < 100); /* the pipe is drained in the background */
	assert_true(frames < 4000 - 3000);

	/* the reader goes away: EPIPE ends the capture, the switch does not notice */
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o), 0);
	close(rfd);
	inject(&e, 1, 1, 0xff, 32, 1514);
	assert_true(wait_done(e.p[0]));
	inject(&e, 1, 1, 0xff, 32, 1514);
	assert_int_equal(vsw_port_mirror_get_stats(e.p[0], &st), 0);
	assert_true(st.done);
	assert_true(st.queued <= 32); /* nothing recorded once the output is gone */
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), 0);

	/* a symlink is not followed (the target is not created or truncated) */
	snprintf(link, sizeof(link), "%s/link.pcap", e.dir);
	snprintf(path, sizeof(path), "%s/target", e.dir);
	assert_int_equal(symlink(path, link), 0);
	struct vsw_mirror_opts o3 = {.path = link, .why = why, .why_size = sizeof(why)};
	assert_int_equal(vsw_port_mirror_start_opts(e.p[0], &o3), -ELOOP);
	assert_int_equal(access(path, F_OK), -1);
	env_fini(&e);
}

static void test_replay(void **state)
{
	struct env e;
	char path[128];
	uint64_t frames, skipped;
	struct vsw_port_stats st;
	(void)state;

	env_init(&e);
	snprintf(path, sizeof(path), "%s/r.pcap", e.dir);
	/* capture 50 frames leaving eth0, then send them out of vif2.0 */
	assert_int_equal(vsw_port_mirror_start(e.p[0], path, 50), 0);
	inject(&e, 1, 1, 0xff, 50, 200);
	assert_int_equal(vsw_port_mirror_stop(e.p[0], &frames), 0);
	assert_int_equal(frames, 50);
	memset(got, 0, sizeof(got));
	assert_int_equal(vsw_port_replay(e.p[2], path, false, &skipped), 50);
	assert_int_equal(skipped, 0);
	assert_int_equal(got[2], 50);
	assert_int_equal(got[0] + got[1], 0);
	vsw_port_get_stats(e.p[2], &st);
	assert_int_equal(st.tx_packets, 100); /* 50 flooded before + 50 replayed */
	/* --ingress: switched as if received on eth0, flooded to both vifs */
	memset(got, 0, sizeof(got));
	assert_int_equal(vsw_port_replay(e.p[0], path, true, &skipped), 50);
	assert_int_equal(got[1], 50);
	assert_int_equal(got[2], 50);
	assert_int_equal(vsw_port_replay(e.p[0], "/nonexistent.pcap", false, NULL), -ENOENT);
	/* a readable file that is no capture: -EBADMSG, so the caller can say so */
	assert_int_equal(vsw_port_replay(e.p[0], "/proc/self/status", false, NULL), -EBADMSG);
	env_fini(&e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as pvnetd */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mirror_counts),
		cmocka_unit_test(test_mirror_count_limit),
		cmocka_unit_test(test_mirror_filter_snaplen),
		cmocka_unit_test(test_mirror_slow_reader),
		cmocka_unit_test(test_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
