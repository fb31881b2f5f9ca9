/* SPDX-License-Identifier: MIT */
/*
 * pvnet-pktgen - the pktgen core (include/pvnet/pktgen.h) over an AF_PACKET
 * socket with PACKET_MMAP rings, so the kernel's path is measured with the
 * same generator pvnet's netfront uses.
 *
 *   pvnet-pktgen tx IFACE [--size 64] [--rate max|PPS] [--seconds 5]
 *                         [--dst-mac MAC] [--src-mac MAC] [--src-ip A]
 *                         [--dst-ip A] [--burst 32] [--ring 1024] [--json]
 *   pvnet-pktgen rx IFACE [--seconds 5] [--idle-ms 500] [--ring 1024] [--json]
 *
 * TX: a TPACKET_V2 TX ring with PACKET_QDISC_BYPASS. Every slot is filled with
 * the frame template once; per frame only the sequence number, timestamp and
 * UDP checksum are rewritten. One send() per burst hands the burst to the
 * kernel. RX: a TPACKET_V2 RX ring; one poll() only when the ring is empty.
 * Time is read once per burst.
 *
 * Output: one line per second, then a "summary" line; with --json the summary
 * is one JSON object instead. cpu_ns_per_pkt is this process's user+system
 * time (which includes the kernel softirq work done in its context, the
 * kernel's path for veth) divided by the frames it moved.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/pktgen.h>
#include <pvnet/version.h>

struct opts {
	bool tx;
	const char *ifname;
	uint32_t size;
	uint64_t rate;
	double seconds;
	uint32_t burst;
	uint32_t ring;
	uint32_t idle_ms;
	bool json;
	bool quiet;
	uint8_t dst_mac[6], src_mac[6];
	bool have_dst, have_src;
	uint32_t src_ip, dst_ip;
};

struct ring {
	int fd;
	int ifindex;
	uint8_t *map;
	size_t map_size;
	uint32_t frame_size;
	uint32_t frame_nr;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pvnet-pktgen tx IFACE [--size 64] [--rate max|PPS] [--seconds 5]\n"
		"                     [--dst-mac MAC] [--src-mac MAC] [--src-ip A] [--dst-ip A]\n"
		"                     [--burst 32] [--ring 1024] [--json] [--quiet]\n"
		"       pvnet-pktgen rx IFACE [--seconds 5] [--idle-ms 500] [--ring 1024]\n"
		"                     [--json] [--quiet]\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int i;
	char *end;

	memset(o, 0, sizeof(*o));
	o->size = 64;
	o->seconds = 5;
	o->burst = 32;
	o->ring = 1024;
	o->idle_ms = 500;
	o->src_ip = htonl(0x0a630001); /* 10.99.0.1 */
	o->dst_ip = htonl(0x0a630002); /* 10.99.0.2: not configured, so dropped */
	memset(o->dst_mac, 0xff, 6);
	if (argc < 3)
		return -EINVAL;
	if (!strcmp(argv[1], "tx"))
		o->tx = true;
	else if (strcmp(argv[1], "rx"))
		return -EINVAL;
	o->ifname = argv[2];
	for (i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

		if (!strcmp(a, "--json")) {
			o->json = true;
			takes = false;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = true;
			takes = false;
		} else if (!v) {
			return -EINVAL;
		} else if (!strcmp(a, "--size")) {
			o->size = (uint32_t)strtoul(v, &end, 10);
			if (*end || o->size < PKTGEN_SIZE_MIN || o->size > PKTGEN_SIZE_MAX)
				return -EINVAL;
		} else if (!strcmp(a, "--rate")) {
			if (!strcmp(v, "max")) {
				o->rate = 0;
			} else {
				o->rate = strtoull(v, &end, 10);
				if (*end)
					return -EINVAL;
			}
		} else if (!strcmp(a, "--seconds")) {
			o->seconds = strtod(v, &end);
			if (*end || o->seconds <= 0)
				return -EINVAL;
		} else if (!strcmp(a, "--burst")) {
			o->burst = (uint32_t)strtoul(v, &end, 10);
			if (*end || o->burst < 1 || o->burst > 1024)
				return -EINVAL;
		} else if (!strcmp(a, "--ring")) {
			o->ring = (uint32_t)strtoul(v, &end, 10);
			if (*end || o->ring < 16 || o->ring > 65536)
				return -EINVAL;
		} else if (!strcmp(a, "--idle-ms")) {
			o->idle_ms = (uint32_t)strtoul(v, &end, 10);
			if (*end)
				return -EINVAL;
		} else if (!strcmp(a, "--dst-mac")) {
			if (pvnet_mac_parse(v, o->dst_mac))
				return -EINVAL;
			o->have_dst = true;
		} else if (!strcmp(a, "--src-mac")) {
			if (pvnet_mac_parse(v, o->src_mac))
				return -EINVAL;
			o->have_src = true;
		} else if (!strcmp(a, "--src-ip")) {
			if (inet_pton(AF_INET, v, &o->src_ip) != 1)
				return -EINVAL;
		} else if (!strcmp(a, "--dst-ip")) {
			if (inet_pton(AF_INET, v, &o->dst_ip) != 1)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		if (takes)
			i++;
	}
	return 0;
}

/* Opens an AF_PACKET socket on ifname with a TPACKET_V2 ring (TX or RX) of
 * nr frames able to hold size-byte frames, mapped into r. */
static int ring_open(struct ring *r, const char *ifname, bool tx, uint32_t nr, uint32_t size)
{
	struct tpacket_req req;
	struct sockaddr_ll sll;
	int ver = TPACKET_V2, one = 1, ret;
	uint32_t fsz = 2048, per_block;

	memset(r, 0, sizeof(*r));
	r->fd = socket(AF_PACKET, SOCK_RAW, tx ? 0 : htons(ETH_P_ALL));
	if (r->fd < 0)
		return -errno;
	r->ifindex = (int)if_nametoindex(ifname);
	if (!r->ifindex) {
		ret = -ENODEV;
		goto err_close;
	}
	if (setsockopt(r->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver))) {
		ret = -errno;
		goto err_close;
	}
	while (fsz < size + TPACKET_ALIGN(TPACKET2_HDRLEN) + 64)
		fsz <<= 1;
	per_block = fsz >= 65536 ? 1 : 65536 / fsz;
	memset(&req, 0, sizeof(req));
	req.tp_frame_size = fsz;
	req.tp_block_size = fsz * per_block;
	req.tp_block_nr = (nr + per_block - 1) / per_block;
	req.tp_frame_nr = req.tp_block_nr * per_block;
	if (tx) {
		/* Best effort: older kernels lack it and still work, slower. */
		(void)setsockopt(r->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
		ret = setsockopt(r->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req));
	} else {
		(void)setsockopt(r->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
		ret = setsockopt(r->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req));
	}
	if (ret) {
		ret = -errno;
		goto err_close;
	}
	r->frame_size = fsz;
	r->frame_nr = req.tp_frame_nr;
	r->map_size = (size_t)req.tp_block_size * req.tp_block_nr;
	r->map = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->map == MAP_FAILED) {
		ret = -errno;
		r->map = NULL;
		goto err_close;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = tx ? 0 : htons(ETH_P_ALL);
	sll.sll_ifindex = r->ifindex;
	if (bind(r->fd, (struct sockaddr *)&sll, sizeof(sll))) {
		ret = -errno;
		goto err_unmap;
	}
	return 0;

err_unmap:
	munmap(r->map, r->map_size);
	r->map = NULL;
err_close:
	close(r->fd);
	r->fd = -1;
	return ret;
}

static void ring_close(struct ring *r)
{
	if (r->map)
		munmap(r->map, r->map_size);
	if (r->fd >= 0)
		close(r->fd);
}

static struct tpacket2_hdr *slot(const struct ring *r, uint32_t i)
{
	return (struct tpacket2_hdr *)(r->map + (size_t)i * r->frame_size);
}

/* TX frame data starts here when PACKET_TX_HAS_OFF is not set. */
static uint8_t *tx_data(struct tpacket2_hdr *h)
{
	return (uint8_t *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
}

static int if_mac(int fd, const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		return -errno;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static void print_second(const struct opts *o, double t, uint64_t frames, uint64_t bytes, double dt)
{
	if (o->quiet || o->json)
		return;
	printf("%s %6.2fs %10.0f pps %8.3f Gb/s\n", o->tx ? "tx" : "rx", t, (double)frames / dt,
	       (double)bytes * 8 / dt / 1e9);
	fflush(stdout);
}

static void print_summary(const struct opts *o, struct pktgen *pg, double secs, uint64_t cpu)
{
	struct pktgen_stats st;
	uint64_t frames, bytes;
	double pps, gbps, cpp;

	pktgen_stats_get(pg, &st);
	frames = o->tx ? st.tx_frames : st.rx_frames;
	bytes = o->tx ? st.tx_bytes : st.rx_bytes;
	pps = secs > 0 ? (double)frames / secs : 0;
	gbps = secs > 0 ? (double)bytes * 8 / secs / 1e9 : 0;
	cpp = frames ? (double)cpu / (double)frames : 0;
	if (o->json) {
		printf("{\"mode\":\"%s\",\"iface\":\"%s\",\"size\":%u,\"seconds\":%.3f,"
		       "\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"pps\":%.0f,\"gbps\":%.4f,"
		       "\"cpu_ns_per_pkt\":%.1f,\"lost\":%" PRIu64 ",\"late\":%" PRIu64
		       ",\"other\":%" PRIu64 ",\"lat_p50_ns\":%" PRIu64 ",\"lat_p99_ns\":%" PRIu64
		       ",\"lat_p999_ns\":%" PRIu64 "}\n",
		       o->tx ? "tx" : "rx", o->ifname, o->tx ? pktgen_size(pg) : 0, secs, frames,
		       bytes, pps, gbps, cpp, st.rx_lost, st.rx_late, st.rx_other,
		       pktgen_latency_pct(pg, 50), pktgen_latency_pct(pg, 99),
		       pktgen_latency_pct(pg, 99.9));
	} else {
		printf("summary %s iface=%s frames=%" PRIu64 " bytes=%" PRIu64
		       " seconds=%.3f pps=%.0f gbps=%.4f cpu_ns_per_pkt=%.1f",
		       o->tx ? "tx" : "rx", o->ifname, frames, bytes, secs, pps, gbps, cpp);
		if (!o->tx)
			printf(" lost=%" PRIu64 " late=%" PRIu64 " other=%" PRIu64
			       " lat_p50_ns=%" PRIu64 " lat_p99_ns=%" PRIu64
			       " lat_p999_ns=%" PRIu64,
			       st.rx_lost, st.rx_late, st.rx_other, pktgen_latency_pct(pg, 50),
			       pktgen_latency_pct(pg, 99), pktgen_latency_pct(pg, 99.9));
		printf("\n");
	}
	fflush(stdout);
}

static int run_tx(const struct opts *o, struct pktgen *pg, struct ring *r)
{
	uint64_t t0, t, next_print, end, cpu0, last_f = 0, last_b = 0, last_t;
	uint32_t head = 0, i, n, budget;
	struct pktgen_stats st;
	int ret = 0;

	t0 = pvnet_now_ns();
	pktgen_reset(pg, t0);
	/* Write the template into every slot once. */
	for (i = 0; i < r->frame_nr; i++)
		pktgen_fill(pg, tx_data(slot(r, i)), r->frame_size - TPACKET2_HDRLEN, t0);
	t0 = pvnet_now_ns();
	pktgen_reset(pg, t0);
	cpu0 = cpu_ns();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	next_print = t0 + 1000000000u;
	last_t = t0;
	t = t0;
	while (!stop && t < end) {
		budget = pktgen_budget(pg, t, o->burst);
		for (n = 0; n < budget; n++) {
			struct tpacket2_hdr *h = slot(r, head);

			if (h->tp_status != TP_STATUS_AVAILABLE)
				break;
			h->tp_len = pktgen_stamp(pg, tx_data(h), t);
			/* Frame contents before the status the kernel polls on. */
			__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
			head = head + 1 == r->frame_nr ? 0 : head + 1;
		}
		if (n && send(r->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN &&
		    errno != ENOBUFS && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (!n && budget) {
			/* Ring full: wait for the kernel to free slots. */
			struct pollfd pfd = {.fd = r->fd, .events = POLLOUT};

			(void)send(r->fd, NULL, 0, MSG_DONTWAIT);
			(void)poll(&pfd, 1, 10);
		}
		t = pvnet_now_ns();
		if (t >= next_print) {
			pktgen_stats_get(pg, &st);
			print_second(o, (double)(t - t0) / 1e9, st.tx_frames - last_f,
				     st.tx_bytes - last_b, (double)(t - last_t) / 1e9);
			last_f = st.tx_frames;
			last_b = st.tx_bytes;
			last_t = t;
			next_print += 1000000000u;
		}
	}
	/* Let the kernel finish what is queued before taking the CPU time. */
	(void)send(r->fd, NULL, 0, 0);
	print_summary(o, pg, (double)(pvnet_now_ns() - t0) / 1e9, cpu_ns() - cpu0);
	return ret;
}

static int run_rx(const struct opts *o, struct pktgen *pg, struct ring *r)
{
	uint64_t t0, t, next_print, end, cpu0, first = 0, last_rx = 0, last_f = 0, last_b = 0;
	uint64_t last_t, t_stop;
	uint32_t head = 0, n;
	struct pktgen_stats st;

	t0 = pvnet_now_ns();
	pktgen_reset(pg, t0);
	cpu0 = cpu_ns();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	next_print = t0 + 1000000000u;
	last_t = t0;
	t = t0;
	while (!stop && t < end) {
		for (n = 0; n < 256; n++) {
			struct tpacket2_hdr *h = slot(r, head);

			if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
				break;
			pktgen_rx(pg, (uint8_t *)h + h->tp_mac, h->tp_snaplen, t);
			/* Done reading the frame before handing the slot back. */
			__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
			head = head + 1 == r->frame_nr ? 0 : head + 1;
		}
		if (n) {
			if (!first)
				first = t;
			last_rx = t;
		} else {
			struct pollfd pfd = {.fd = r->fd, .events = POLLIN};

			if (first && o->idle_ms && t - last_rx > (uint64_t)o->idle_ms * 1000000u)
				break;
			(void)poll(&pfd, 1, 20);
		}
		t = pvnet_now_ns();
		if (t >= next_print) {
			pktgen_stats_get(pg, &st);
			print_second(o, (double)(t - t0) / 1e9, st.rx_frames - last_f,
				     st.rx_bytes - last_b, (double)(t - last_t) / 1e9);
			last_f = st.rx_frames;
			last_b = st.rx_bytes;
			last_t = t;
			next_print += 1000000000u;
		}
	}
	/* The rate is taken over the time frames were arriving. */
	t_stop = first ? last_rx : t;
	print_summary(o, pg, first ? (double)(t_stop - first) / 1e9 : (double)(t - t0) / 1e9,
		      cpu_ns() - cpu0);
	return 0;
}

int main(int argc, char **argv)
{
	if (pvnet_version_opt(argc, argv, "pvnet-pktgen"))
		return 0;
	struct pktgen_cfg cfg;
	struct pktgen *pg = NULL;
	struct ring r = {.fd = -1};
	struct sigaction sa;
	struct opts o;
	int ret;

	if (parse_args(argc, argv, &o)) {
		usage();
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ret = ring_open(&r, o.ifname, o.tx, o.ring, o.size);
	if (ret) {
		fprintf(stderr, "pvnet-pktgen: %s: %s\n", o.ifname, strerror(-ret));
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = o.size;
	cfg.rate_pps = o.rate;
	memcpy(cfg.dst_mac, o.dst_mac, 6);
	if (o.have_src)
		memcpy(cfg.src_mac, o.src_mac, 6);
	else
		(void)if_mac(r.fd, o.ifname, cfg.src_mac);
	cfg.src_ip = o.src_ip;
	cfg.dst_ip = o.dst_ip;
	ret = pktgen_create(&cfg, &pg);
	if (ret) {
		fprintf(stderr, "pvnet-pktgen: %s\n", strerror(-ret));
		goto out;
	}
	ret = o.tx ? run_tx(&o, pg, &r) : run_rx(&o, pg, &r);
	if (ret)
		fprintf(stderr, "pvnet-pktgen: %s\n", strerror(-ret));
out:
	pktgen_destroy(pg);
	ring_close(&r);
	return ret ? 1 : 0;
}
