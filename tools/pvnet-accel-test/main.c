/* SPDX-License-Identifier: MIT */
/*
 * pvnet-accel-test - drives an accelerator device through the framework API
 * (nic-accel/), the way netback will: opens a plugin's device, attaches vifs,
 * registers "guest" memory, posts RX buffers and sends frames on a mapped
 * queue pair, and counts what comes back. Also a tiny AF_PACKET sender and
 * counter for the far end ("raw-send" / "raw-recv") so tests need no other tool.
 *
 *   pvnet-accel-test --devargs 'net_af_packet0;iface=veth1' --send 100
 *   pvnet-accel-test --devargs ... --expect 100 --timeout 5 --ready FILE
 *   pvnet-accel-test --devargs 'net_memif0;role=client;socket=S' --bench 5 --no-thread
 *   pvnet-accel-test --devargs ... --level 1 --mac M --send 0 --expect 10
 *   pvnet-accel-test raw-send IFACE COUNT [SIZE] [DST-MAC]
 *   pvnet-accel-test raw-recv IFACE COUNT TIMEOUT_S [READY-FILE]
 *
 * Frames carry EtherType 0x88b5 (local experimental) and "PVNETACC" + a sequence
 * number; only those are counted. Output is key=value lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/accel.h>
#include <pvnet/version.h>

#define ETHERTYPE_TEST 0x88b5
#define MAGIC "PVNETACC"
#define BUF_SIZE 2048u

static char g_last_err[2048];
static int g_verbose;

static void host_log(void *ctx, enum accel_log_level lvl, const char *msg)
{
	static const char *const names[] = {"ERR", "WARN", "INFO", "DEBUG"};

	(void)ctx;
	if (lvl == ACCEL_LOG_ERR)
		snprintf(g_last_err, sizeof(g_last_err), "%s", msg);
	if (lvl <= ACCEL_LOG_WARN || (lvl == ACCEL_LOG_INFO && g_verbose >= 1) || g_verbose >= 2)
		fprintf(stderr, "accel %s: %s\n", names[lvl], msg);
}

static uint32_t build_frame(uint8_t *f, uint32_t size, const uint8_t *dst, const uint8_t *src,
			    uint32_t seq)
{
	if (size < 60)
		size = 60;
	if (size > 1514)
		size = 1514;
	memset(f, 0, size);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE_TEST >> 8;
	f[13] = ETHERTYPE_TEST & 0xff;
	memcpy(f + 14, MAGIC, 8);
	memcpy(f + 22, &seq, 4);
	return size;
}

static int is_test_frame(const uint8_t *f, uint32_t len)
{
	return len >= 22 && f[12] == (ETHERTYPE_TEST >> 8) && f[13] == (ETHERTYPE_TEST & 0xff) &&
	       memcmp(f + 14, MAGIC, 8) == 0;
}

/* ---- AF_PACKET far end ---- */

static int raw_open(const char *ifname, struct sockaddr_ll *sll)
{
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_TEST));

	if (fd < 0)
		return -errno;
	memset(sll, 0, sizeof(*sll));
	sll->sll_family = AF_PACKET;
	sll->sll_protocol = htons(ETHERTYPE_TEST);
	sll->sll_ifindex = (int)if_nametoindex(ifname);
	sll->sll_halen = 6;
	if (sll->sll_ifindex == 0 || bind(fd, (struct sockaddr *)sll, sizeof(*sll)) < 0) {
		int rc = -errno;
		close(fd);
		return rc ? rc : -ENODEV;
	}
	return fd;
}

static int raw_main(int argc, char **argv)
{
	struct sockaddr_ll sll;
	uint8_t f[2048], dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x99};
	int fd, rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: raw-send IFACE COUNT [SIZE] [DST] | raw-recv IFACE COUNT "
				"TIMEOUT [READY]\n");
		return 2;
	}
	fd = raw_open(argv[2], &sll);
	if (fd < 0) {
		fprintf(stderr, "raw: %s: %s\n", argv[2], strerror(-fd));
		return 1;
	}
	if (strcmp(argv[1], "raw-send") == 0) {
		long n = atol(argv[3]), sent = 0;
		uint32_t size = argc > 4 ? (uint32_t)atoi(argv[4]) : 64;

		if (argc > 5 && pvnet_mac_parse(argv[5], dst)) {
			fprintf(stderr, "raw-send: bad MAC %s\n", argv[5]);
			rc = 2;
			goto out;
		}
		for (long i = 0; i < n; i++) {
			uint32_t len = build_frame(f, size, dst, src, (uint32_t)i);
			memcpy(sll.sll_addr, dst, 6);
			if (sendto(fd, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) ==
			    (ssize_t)len)
				sent++;
		}
		printf("raw_tx=%ld\n", sent);
		rc = sent == n ? 0 : 1;
	} else {
		long want = atol(argv[3]), got = 0;
		uint64_t end = pvnet_now_ns() + (uint64_t)(atof(argv[4]) * 1e9);

		if (argc > 5) {
			FILE *r = fopen(argv[5], "w");
			if (r)
				fclose(r);
		}
		while (got < want && pvnet_now_ns() < end) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, 50) <= 0)
				continue;
			ssize_t r = recv(fd, f, sizeof(f), MSG_DONTWAIT);
			if (r > 0 && is_test_frame(f, (uint32_t)r))
				got++;
		}
		printf("raw_rx=%ld\n", got);
		rc = got >= want ? 0 : 1;
	}
out:
	close(fd);
	return rc;
}

/* ---- driving a queue pair ---- */

struct drv {
	struct accel_attach *att;
	struct accel_qp_map m;
	void *mem;
	struct accel_qp_shared *sh;
	struct accel_desc *tx, *rx;
	uint32_t tx_prod, tx_cons, rx_prod, rx_cons;
	uint8_t *txmem, *rxmem;
	uint64_t tx_iova, rx_iova;
	uint64_t tx_done, tx_err, rx_frames, rx_other, rx_err, rx_bytes;
};

static int drv_setup(struct accel_device *dev, struct drv *d, uint32_t domid, uint32_t level,
		     const uint8_t *mac, uint32_t ring, uint32_t qp_flags, uint64_t iova)
{
	struct accel_vif_config c = {.domid = domid,
				     .level = level,
				     .queues = 1,
				     .iommu_quota = 2 * ring,
				     .ring_len = ring,
				     .qp_flags = qp_flags};
	size_t region = (size_t)ring * BUF_SIZE;
	int rc;

	memset(d, 0, sizeof(*d));
	memcpy(c.mac, mac, 6);
	rc = accel_attach_create(dev, &c, &d->att);
	if (rc)
		return rc;
	rc = accel_attach_map_qp(d->att, 0, 0, &d->m);
	if (rc)
		return rc;
	d->mem = mmap(NULL, d->m.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->m.mem_fd, 0);
	if (d->mem == MAP_FAILED)
		return -errno;
	d->sh = d->mem;
	d->tx = (struct accel_desc *)((uint8_t *)d->mem + d->m.tx_ring_off);
	d->rx = (struct accel_desc *)((uint8_t *)d->mem + d->m.rx_ring_off);
	d->txmem = aligned_alloc(ACCEL_PAGE_SIZE, region);
	d->rxmem = aligned_alloc(ACCEL_PAGE_SIZE, region);
	if (!d->txmem || !d->rxmem)
		return -ENOMEM;
	memset(d->txmem, 0, region);
	memset(d->rxmem, 0, region);
	d->tx_iova = iova;
	d->rx_iova = iova + region;
	struct accel_mem_region r[2] = {
		{.iova = d->tx_iova, .host = d->txmem, .size = (uint32_t)region, .flags = 0},
		{.iova = d->rx_iova,
		 .host = d->rxmem,
		 .size = (uint32_t)region,
		 .flags = ACCEL_MEM_F_WRITABLE},
	};
	rc = accel_attach_mem_register(d->att, r, 2);
	if (rc)
		return rc;
	/* post every RX buffer */
	for (uint32_t i = 0; i < ring; i++)
		d->rx[i] = (struct accel_desc){
			.iova = d->rx_iova + (uint64_t)i * BUF_SIZE, .len = BUF_SIZE, .id = i};
	d->rx_prod = ring;
	accel_ring_store(&d->sh->rx_prod, d->rx_prod);
	return 0;
}

static void drv_free(struct drv *d)
{
	if (d->mem && d->mem != MAP_FAILED)
		munmap(d->mem, d->m.mem_size);
	if (d->att) {
		close(d->m.mem_fd);
		close(d->m.doorbell_fd);
		close(d->m.irq_fd);
	}
	free(d->txmem);
	free(d->rxmem);
}

/* Reaps TX completions and RX frames; reposts RX buffers. */
static void drv_reap(struct drv *d)
{
	uint32_t mask = d->m.ring_len - 1, cons = accel_ring_load(&d->sh->tx_cons);
	int reposted = 0;

	while (d->tx_cons != cons) {
		const struct accel_desc *s = &d->tx[d->tx_cons++ & mask];
		if (s->flags & ACCEL_DESC_F_ERR)
			d->tx_err++;
		else
			d->tx_done++;
	}
	cons = accel_ring_load(&d->sh->rx_cons);
	while (d->rx_cons != cons) {
		struct accel_desc s = d->rx[d->rx_cons++ & mask];
		uint32_t id = s.id % d->m.ring_len;

		if (s.flags & ACCEL_DESC_F_ERR)
			d->rx_err++;
		else if (is_test_frame(d->rxmem + (size_t)id * BUF_SIZE, s.len))
			d->rx_frames++, d->rx_bytes += s.len;
		else
			d->rx_other++;
		d->rx[d->rx_prod++ & mask] = (struct accel_desc){
			.iova = d->rx_iova + (uint64_t)id * BUF_SIZE, .len = BUF_SIZE, .id = id};
		reposted = 1;
	}
	if (reposted)
		accel_ring_store(&d->sh->rx_prod, d->rx_prod);
}

/* Queues up to `max` frames; returns how many. */
static uint32_t drv_send(struct drv *d, uint32_t max, uint32_t size, const uint8_t *dst,
			 const uint8_t *src, uint32_t *seq, int doorbell)
{
	uint32_t mask = d->m.ring_len - 1, n = 0;

	while (n < max && d->tx_prod - d->tx_cons < d->m.ring_len) {
		uint32_t slot = d->tx_prod & mask;
		uint8_t *buf = d->txmem + (size_t)slot * BUF_SIZE;
		uint32_t len = build_frame(buf, size, dst, src, (*seq)++);

		d->tx[slot] = (struct accel_desc){.iova = d->tx_iova + (uint64_t)slot * BUF_SIZE,
						  .len = (uint16_t)len,
						  .id = slot};
		d->tx_prod++;
		n++;
	}
	if (n) {
		/* descriptors before the producer index, the index before the doorbell */
		accel_ring_store(&d->sh->tx_prod, d->tx_prod);
		if (doorbell) {
			uint64_t one = 1;
			if (write(d->m.doorbell_fd, &one, sizeof(one)) < 0) {
				/* the engine polls the ring anyway */
			}
		}
	}
	return n;
}

static void print_stats(struct accel_device *dev, struct accel_attach *att, const char *tag)
{
	struct accel_stat st[256];
	char buf[8192];
	int n = accel_device_stats(dev, st, 256);

	for (int i = 0; i < n && i < 256; i++)
		printf("dev.%s=%llu\n", st[i].name, (unsigned long long)st[i].value);
	n = accel_attach_stats(att, st, 256);
	for (int i = 0; i < n && i < 256; i++)
		printf("%s.%s=%llu\n", tag, st[i].name, (unsigned long long)st[i].value);
	if (accel_format_features(att, "vif1.0", buf, sizeof(buf)) > 0)
		fputs(buf, stdout);
}

/* A device counter by name; UINT64_MAX if the device has none by that name
 * (then "link_up" reads as up: nothing to wait for). */
static uint64_t dev_stat(struct accel_device *dev, const char *name)
{
	struct accel_stat st[256];
	int n = accel_device_stats(dev, st, 256);

	for (int i = 0; i < n && i < 256; i++)
		if (strcmp(st[i].name, name) == 0)
			return st[i].value;
	return UINT64_MAX;
}

static void usage(void)
{
	fprintf(stderr, "usage: pvnet-accel-test [--plugin-dir DIR] [--accel NAME] --devargs STR\n"
			"         [--level 0|1] [--mac MAC] [--dst MAC] [--size B] [--send N]\n"
			"         [--expect N] [--timeout S] [--bench S] [--ring N] [--no-thread]\n"
			"         [--ready FILE] [--wait-file FILE] [--stats] [-v]\n"
			"       pvnet-accel-test raw-send IFACE COUNT [SIZE] [DST]\n"
			"       pvnet-accel-test raw-recv IFACE COUNT TIMEOUT [READY]\n");
}

/* What the command line asks for. */
struct at_opts {
	const char *dir, *name, *devargs, *ready, *go;
	uint8_t mac[6], dst[6];
	uint32_t level, size, ring;
	long send_n, expect;
	double timeout, bench;
	int no_thread, stats;
};

static const struct option longopts[] = {{"plugin-dir", required_argument, 0, 'D'},
					 {"accel", required_argument, 0, 'a'},
					 {"devargs", required_argument, 0, 'd'},
					 {"level", required_argument, 0, 'l'},
					 {"mac", required_argument, 0, 'm'},
					 {"dst", required_argument, 0, 't'},
					 {"size", required_argument, 0, 's'},
					 {"send", required_argument, 0, 'n'},
					 {"expect", required_argument, 0, 'e'},
					 {"timeout", required_argument, 0, 'T'},
					 {"bench", required_argument, 0, 'b'},
					 {"ring", required_argument, 0, 'r'},
					 {"no-thread", no_argument, 0, 'N'},
					 {"ready", required_argument, 0, 'R'},
					 {"stats", no_argument, 0, 'S'},
					 {"verbose", no_argument, 0, 'v'},
					 {"wait-file", required_argument, 0, 'W'},
					 {0, 0, 0, 0}};

/* The options into o; -1 to go on, else main's exit status. */
static int parse_opts(int argc, char **argv, struct at_opts *o)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (opt) {
		case 'D':
			o->dir = optarg;
			break;
		case 'a':
			o->name = optarg;
			break;
		case 'd':
			o->devargs = optarg;
			break;
		case 'l':
			o->level = (uint32_t)atoi(optarg);
			break;
		case 'm':
		case 't':
			if (pvnet_mac_parse(optarg, opt == 'm' ? o->mac : o->dst)) {
				fprintf(stderr, "bad MAC %s\n", optarg);
				return 2;
			}
			break;
		case 's':
			o->size = (uint32_t)atoi(optarg);
			break;
		case 'n':
			o->send_n = atol(optarg);
			break;
		case 'e':
			o->expect = atol(optarg);
			break;
		case 'T':
			o->timeout = atof(optarg);
			break;
		case 'b':
			o->bench = atof(optarg);
			break;
		case 'r':
			o->ring = (uint32_t)atoi(optarg);
			break;
		case 'N':
			o->no_thread = 1;
			break;
		case 'R':
			o->ready = optarg;
			break;
		case 'S':
			o->stats = 1;
			break;
		case 'W':
			o->go = optarg;
			break;
		case 'v':
			g_verbose++;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!o->dir)
		o->dir = ACCEL_PLUGIN_DIR_DEFAULT;
	return -1;
}

/* The plugin found (built in, or loaded from dir) and its device opened; 0 or -1 (said). */
static int open_device(struct accel_registry *reg, const struct at_opts *o, struct accel_host *host,
		       struct accel_open_args *oa, struct accel_device **dev, char *err,
		       size_t errlen)
{
	int rc;

	if (accel_register_builtins(reg))
		return -1;
	if (!accel_find(reg, o->name)) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s.so", o->dir, o->name);
		if (accel_load_file(reg, path, err, errlen)) {
			printf("open=error %s\n", err);
			return -1;
		}
	}
	if (!accel_find(reg, o->name)) {
		printf("open=error no plugin named %s in %s\n", o->name, o->dir);
		return -1;
	}
	rc = accel_device_open(reg, o->name, host, oa, dev);
	if (rc) {
		printf("open=error %s\nerror=%s\n", strerror(-rc), g_last_err);
		return -1;
	}
	printf("open=ok\n");
	fflush(stdout);
	return 0;
}

/* Level 0: the vif's queue is also the default RX queue. Level 1: the vif's
 * queue gets its MAC by filter; a dom0 Level 0 port takes the rest. 0 or -1
 * (err names the step). */
static int attach_vif(struct accel_device *dev, const struct at_opts *o, struct drv *vif,
		      struct drv *def, int *have_def, char *err, size_t errlen)
{
	snprintf(err, errlen, "attach");
	if (o->level == 0) {
		if (drv_setup(dev, vif, 1, 0, o->mac, o->ring, ACCEL_QP_F_DEFAULT_RX, 0x100000))
			return -1;
	} else {
		struct accel_rx_filter f = {.vlan = ACCEL_VLAN_ANY, .qid = 0};
		const uint8_t d0mac[6] = {0x00, 0x16, 0x3e, 0, 0, 0xd0};

		if (drv_setup(dev, vif, 1, 1, o->mac, o->ring, 0, 0x100000))
			return -1;
		if (drv_setup(dev, def, 0, 0, d0mac, o->ring, ACCEL_QP_F_DEFAULT_RX, 0x4000000))
			return -1;
		*have_def = 1;
		memcpy(f.mac, o->mac, 6);
		snprintf(err, errlen, "rx filter");
		if (accel_attach_rx_filter_add(vif->att, &f))
			return -1;
	}
	return 0;
}

/* Wait for the link (memif connects after start), say ready, wait for --wait-file. */
static void wait_ready(struct accel_device *dev, const struct at_opts *o)
{
	/* wait for the link (memif connects after start) before sending */
	for (uint64_t until = pvnet_now_ns() + (uint64_t)(o->timeout * 1e9);
	     pvnet_now_ns() < until;) {
		if (dev_stat(dev, "link_up") != 0)
			break;
		if (o->no_thread)
			accel_device_poll(dev, 32);
		usleep(1000);
	}
	printf("link_up=%llu\n", (unsigned long long)dev_stat(dev, "link_up"));
	if (o->ready) {
		FILE *r = fopen(o->ready, "w");
		if (r)
			fclose(r);
	}

	/* --wait-file: the far end says when it listens */
	for (uint64_t until = pvnet_now_ns() + (uint64_t)(o->timeout * 1e9);
	     o->go && pvnet_now_ns() < until;) {
		if (access(o->go, F_OK) == 0)
			break;
		usleep(1000);
	}
}

/* Send and reap until done (or the bench/timeout ends); frames sent, *secs taken. */
static uint64_t run_traffic(struct accel_device *dev, const struct at_opts *o, struct drv *vif,
			    struct drv *def, int have_def, double *secs)
{
	uint64_t t0 = pvnet_now_ns(),
		 end = t0 + (uint64_t)((o->bench > 0 ? o->bench : o->timeout) * 1e9);
	uint64_t sent = 0, last_done = 0, last_rx = 0;
	uint32_t seq = 0;

	while (pvnet_now_ns() < end) {
		if (o->bench > 0 || (long)sent < o->send_n) {
			uint32_t want = o->bench > 0 ? 64 : (uint32_t)(o->send_n - (long)sent);
			sent += drv_send(vif, want > 64 ? 64 : want, o->size, o->dst, o->mac, &seq,
					 !o->no_thread);
		}
		if (o->no_thread)
			accel_device_poll(dev, 32);
		drv_reap(vif);
		if (have_def)
			drv_reap(def);
		if (o->bench <= 0 && vif->tx_done + vif->tx_err >= (uint64_t)o->send_n &&
		    (long)(vif->rx_frames + (have_def ? def->rx_frames : 0)) >= o->expect &&
		    (o->expect > 0 || vif->tx_done + vif->tx_err >= sent))
			break;
		if (!o->no_thread && o->bench <= 0 && vif->tx_done + vif->tx_err == last_done &&
		    vif->rx_frames + vif->rx_other == last_rx)
			usleep(20); /* nothing moved: let the engine thread run */
		last_done = vif->tx_done + vif->tx_err;
		last_rx = vif->rx_frames + vif->rx_other;
	}
	*secs = (double)(pvnet_now_ns() - t0) / 1e9;
	return sent;
}

/* The counters as key=value lines; 0 if every frame went and as many came as expected. */
static int report(struct accel_device *dev, const struct at_opts *o, struct drv *vif,
		  struct drv *def, int have_def, uint64_t sent, double secs)
{
	/* let the last frames on the wire arrive (bench) */
	printf("tx_sent=%llu\ntx_done=%llu\ntx_err=%llu\nrx_frames=%llu\nrx_other=%llu\n"
	       "rx_err=%llu\n",
	       (unsigned long long)sent, (unsigned long long)vif->tx_done,
	       (unsigned long long)vif->tx_err, (unsigned long long)vif->rx_frames,
	       (unsigned long long)vif->rx_other, (unsigned long long)vif->rx_err);
	if (have_def)
		printf("rx_default_frames=%llu\nrx_default_other=%llu\n",
		       (unsigned long long)def->rx_frames, (unsigned long long)def->rx_other);
	if (o->bench > 0) {
		uint64_t wire = dev_stat(dev, "wire_tx_packets");
		printf("bench_seconds=%.2f\ntx_mpps=%.3f\nwire_tx_mpps=%.3f\nrx_mpps=%.3f\n", secs,
		       (double)vif->tx_done / secs / 1e6,
		       wire == UINT64_MAX ? 0.0 : (double)wire / secs / 1e6,
		       (double)vif->rx_frames / secs / 1e6);
	}
	if (o->stats)
		print_stats(dev, vif->att, "vif");
	return (vif->tx_done >= (uint64_t)o->send_n &&
		(long)(vif->rx_frames + (have_def ? def->rx_frames : 0)) >= o->expect)
		       ? 0
		       : 1;
}

int main(int argc, char **argv)
{
	if (pvnet_version_opt(argc, argv, "pvnet-accel-test"))
		return 0;
	struct at_opts o = {.dir = getenv("PVNET_ACCEL_DIR"),
			    .name = "dpdk",
			    .mac = {0x00, 0x16, 0x3e, 0, 0, 0x01},
			    .dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			    .size = 64,
			    .ring = 256,
			    .timeout = 5};
	int rc = 1;
	struct accel_registry *reg = NULL;
	struct accel_device *dev = NULL;
	struct drv vif = {0}, def = {0};
	int have_def = 0;
	char err[512];
	uint64_t sent;
	double secs;

	if (argc > 1 && strncmp(argv[1], "raw-", 4) == 0)
		return raw_main(argc, argv);
	rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	rc = 1;
	struct accel_host host = {.size = sizeof(host), .log = host_log};
	struct accel_open_args oa = {.wire_fd = -1,
				     .flags = o.no_thread ? ACCEL_OPEN_F_NO_THREAD : 0,
				     .devargs = o.devargs};

	if (accel_registry_create(&reg))
		return 1;
	if (open_device(reg, &o, &host, &oa, &dev, err, sizeof(err)))
		goto out;
	if (attach_vif(dev, &o, &vif, &def, &have_def, err, sizeof(err)))
		goto out_err;
	wait_ready(dev, &o);
	sent = run_traffic(dev, &o, &vif, &def, have_def, &secs);
	rc = report(dev, &o, &vif, &def, have_def, sent, secs);
	goto out;

out_err:
	printf("error=%s failed %s\n", err, g_last_err);
out:
	/* the device (and its engine) goes first: it may DMA into the vif memory */
	accel_device_close(dev);
	drv_free(&vif);
	drv_free(&def);
	accel_registry_destroy(reg);
	return rc;
}
