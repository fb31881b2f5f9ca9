/* SPDX-License-Identifier: MIT */
/*
 * pvnet-microbench - the cost of the grant-copy path (hv/gnttab.c) in-process,
 * without rings, netback or guests' processes.
 *
 *   pvnet-microbench [--runs 5] [--ops 400000] [--refs 256] [--json]
 *
 * Builds an hv with two guest domains A and B, maps their memory and grant
 * tables as a guest process would (hv_domain_fds + mmap), and grants `refs`
 * pages of each to dom0: A's read-only (TX buffers), B's writable (RX buffers).
 * Every configuration issues gnttab_copy batches of 32 and 64 ops, walking the
 * refs round robin so each op names another entry (as netback sees a stream of
 * packets), and prints the median over `runs` runs of ns per op and ns per
 * 64-byte packet equivalent (ops/pkt in the label):
 *
 *   hdr    gref->va     TX header copy: A's gref -> dom0 buffer (1 op/pkt)
 *   hdr-p  gref->va     the same with every ref also mapped persistently by dom0
 *   rx     va->gref     RX copy of a staged head into B's gref (1 op/pkt)
 *   rx2    va+gref->gref RX head (va) + tail (A gref) into one B gref (2 ops/pkt)
 *   g2g    gref->gref   guest -> guest extreme late copy (1 op/pkt)
 *   pkt    hdr + rx     one TX batch and one RX batch per burst (2 ops/pkt)
 *   2thr   gref->va     two threads, one on A and one on B, ns/op per thread
 *
 * Time: single-thread rows count the thread's CPU time (so other load on the
 * shared cores does not inflate them); the 2thr rows count wall time (so lock
 * waits, which sleep, do count). Placement: whatever the scheduler does; the
 * 2thr rows need both cores idle to mean anything.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/hv.h>
#include <pvnet/log.h>
#include <pvnet/version.h>

#define MAX_BATCH 64
#define MAX_RUNS 64
#define PKT_SIZE 64
#define MEM_FRAMES 1024u

struct guest {
	domid_t id;
	uint8_t *mem;
	struct grant_entry_v1 *gnt;
	size_t mem_size, gnt_size;
};

struct bench {
	struct hv *hv;
	struct guest a, b;
	unsigned refs;
	unsigned long ops;
	uint8_t *dom0_buf; /* refs * 128 bytes of dom0 memory */
};

enum kind { K_HDR, K_RX, K_RX2, K_G2G, K_PKT };

static int guest_make(struct hv *hv, const char *name, unsigned refs, bool readonly,
		      struct guest *g)
{
	struct hv_domain_config cfg;
	int mfd, gfd, ret;
	unsigned i;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	cfg.mem_size = (uint64_t)MEM_FRAMES * HV_PAGE_SIZE;
	cfg.nr_grant_frames = (refs + GNTTAB_ENTRIES_PER_FRAME - 1) / GNTTAB_ENTRIES_PER_FRAME + 1;
	ret = hv_domain_create(hv, &cfg, &g->id);
	if (ret < 0)
		return ret;
	ret = hv_domain_fds(hv, g->id, &mfd, &gfd);
	if (ret < 0)
		return ret;
	g->mem_size = cfg.mem_size;
	g->gnt_size = (size_t)cfg.nr_grant_frames * HV_PAGE_SIZE;
	g->mem = mmap(NULL, g->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	g->gnt = mmap(NULL, g->gnt_size, PROT_READ | PROT_WRITE, MAP_SHARED, gfd, 0);
	close(mfd);
	close(gfd);
	if (g->mem == MAP_FAILED || g->gnt == MAP_FAILED)
		return -ENOMEM;
	memset(g->mem, 0x5a, g->mem_size); /* fault every frame in */
	/* ref r (1-based, ref 0 is reserved in Xen) grants frame r. */
	for (i = 1; i <= refs; i++)
		gnttab_grant_access(g->gnt, i, 0, i, readonly);
	return 0;
}

/* Fills one batch of `n` packets starting at packet number `p`; returns the op count. */
static unsigned fill(struct bench *b, enum kind k, unsigned long p, unsigned n,
		     struct gnttab_copy *ops, bool rx_half)
{
	unsigned i, nops = 0;

	for (i = 0; i < n; i++, p++) {
		grant_ref_t r = (grant_ref_t)(p % b->refs) + 1;
		uint8_t *va = b->dom0_buf + (p % b->refs) * 128;
		struct gnttab_copy *op = &ops[nops++];

		memset(op, 0, sizeof(*op));
		op->len = PKT_SIZE;
		switch (k) {
		case K_PKT:
			if (rx_half)
				goto rx;
			/* fall through */
		case K_HDR:
			op->flags = GNTCOPY_source_gref | GNTCOPY_dest_va;
			op->source.domid = b->a.id;
			op->source.u.ref = r;
			op->dest.u.gmfn = (uint64_t)(uintptr_t)va;
			break;
		case K_RX:
rx:
			op->flags = GNTCOPY_source_va | GNTCOPY_dest_gref;
			op->source.u.gmfn = (uint64_t)(uintptr_t)va;
			op->dest.domid = b->b.id;
			op->dest.u.ref = r;
			break;
		case K_RX2:
			op->flags = GNTCOPY_source_va | GNTCOPY_dest_gref;
			op->source.u.gmfn = (uint64_t)(uintptr_t)va;
			op->dest.domid = b->b.id;
			op->dest.u.ref = r;
			op->len = PKT_SIZE / 2;
			op = &ops[nops++];
			memset(op, 0, sizeof(*op));
			op->flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
			op->source.domid = b->a.id;
			op->source.u.ref = r;
			op->source.offset = PKT_SIZE / 2;
			op->dest.domid = b->b.id;
			op->dest.u.ref = r;
			op->dest.offset = PKT_SIZE / 2;
			op->len = PKT_SIZE / 2;
			break;
		case K_G2G:
			op->flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
			op->source.domid = b->a.id;
			op->source.u.ref = r;
			op->dest.domid = b->b.id;
			op->dest.u.ref = r;
			break;
		}
	}
	return nops;
}

/* Runs `pkts` packets in batches of `batch`; returns ns per packet, or -1 on a failed op. */
static double run_once(struct bench *b, enum kind k, unsigned batch, unsigned long pkts)
{
	struct gnttab_copy ops[2 * MAX_BATCH];
	unsigned long p;
	uint64_t t0, t1;
	unsigned i, n;

	t0 = pvnet_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (p = 0; p < pkts; p += batch) {
		n = fill(b, k, p, batch, ops, false);
		gnttab_copy(b->hv, 0, ops, n);
		for (i = 0; i < n; i++)
			if (ops[i].status != GNTST_okay)
				return -1;
		if (k == K_PKT) {
			n = fill(b, k, p, batch, ops, true);
			gnttab_copy(b->hv, 0, ops, n);
			for (i = 0; i < n; i++)
				if (ops[i].status != GNTST_okay)
					return -1;
		}
	}
	t1 = pvnet_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	return (double)(t1 - t0) / (double)p;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return (a > c) - (a < c);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Two threads: each copies headers from its own guest (gref -> its dom0 buffer). */
struct thr {
	struct bench *b;
	struct guest *g;
	unsigned batch;
	uint8_t *buf;
	pthread_barrier_t *bar;
	double ns_per_op;
	int failed;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	struct gnttab_copy ops[MAX_BATCH];
	unsigned long p, pkts = t->b->ops;
	uint64_t t0;
	unsigned i;

	pthread_barrier_wait(t->bar);
	t0 = pvnet_clock_ns(CLOCK_MONOTONIC);
	for (p = 0; p < pkts; p += t->batch) {
		for (i = 0; i < t->batch; i++) {
			unsigned long q = (p + i) % t->b->refs;
			memset(&ops[i], 0, sizeof(ops[i]));
			ops[i].flags = GNTCOPY_source_gref | GNTCOPY_dest_va;
			ops[i].source.domid = t->g->id;
			ops[i].source.u.ref = (grant_ref_t)q + 1;
			ops[i].dest.u.gmfn = (uint64_t)(uintptr_t)(t->buf + q * 128);
			ops[i].len = PKT_SIZE;
		}
		gnttab_copy(t->b->hv, 0, ops, t->batch);
		for (i = 0; i < t->batch; i++)
			if (ops[i].status != GNTST_okay)
				t->failed = 1;
	}
	t->ns_per_op = (double)(pvnet_clock_ns(CLOCK_MONOTONIC) - t0) / (double)p;
	return NULL;
}

static double run_two_threads(struct bench *b, unsigned batch)
{
	pthread_barrier_t bar;
	struct thr t[2];
	pthread_t tid[2];
	double ns;
	unsigned i;

	pthread_barrier_init(&bar, NULL, 2);
	for (i = 0; i < 2; i++) {
		t[i] = (struct thr){.b = b, .g = i ? &b->b : &b->a, .batch = batch, .bar = &bar};
		t[i].buf = malloc((size_t)b->refs * 128);
		if (!t[i].buf || pthread_create(&tid[i], NULL, thr_main, &t[i]) != 0) {
			fprintf(stderr, "thread setup failed\n");
			exit(1);
		}
	}
	for (i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&bar);
	ns = (t[0].ns_per_op + t[1].ns_per_op) / 2;
	for (i = 0; i < 2; i++)
		free(t[i].buf);
	return t[0].failed || t[1].failed ? -1 : ns;
}

static void commit_id(char *out, size_t size)
{
	FILE *f = popen("git rev-parse --short HEAD 2>/dev/null", "r");

	snprintf(out, size, "unknown");
	if (f) {
		if (fgets(out, (int)size, f))
			out[strcspn(out, "\n")] = 0;
		pclose(f);
	}
	if (!out[0])
		snprintf(out, size, "unknown");
}

static void usage(void)
{
	fprintf(stderr, "usage: pvnet-microbench [--runs N] [--ops N] [--refs N] [--json]\n");
}

/* One row of the table: a copy kind, its label, and how it runs. */
struct mb_cfg {
	const char *name, *label;
	enum kind k;
	unsigned ops_per_pkt;
	bool persistent, threads;
};

static const struct mb_cfg cfgs[] = {
	{"hdr", "gref->va", K_HDR, 1, false, false},
	{"hdr-p", "gref->va persistent", K_HDR, 1, true, false},
	{"rx", "va->gref", K_RX, 1, false, false},
	{"rx2", "va+gref->gref", K_RX2, 2, false, false},
	{"g2g", "gref->gref", K_G2G, 1, false, false},
	{"pkt", "hdr + rx batches", K_PKT, 2, false, false},
	{"2thr", "gref->va A|B", K_HDR, 1, false, true},
};

/* --runs, --ops, --refs, --json into b, runs and json; -1 to go on, else main's status. */
static int parse_opts(int argc, char **argv, struct bench *b, unsigned *runs, bool *json)
{
	static const struct option lo[] = {
		{"runs", required_argument, NULL, 'r'}, {"ops", required_argument, NULL, 'o'},
		{"refs", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "r:o:n:jh", lo, NULL)) != -1) {
		switch (opt) {
		case 'r':
			*runs = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			b->ops = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			b->refs = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'j':
			*json = true;
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (*runs == 0 || *runs > MAX_RUNS || b->refs == 0 || b->refs >= MEM_FRAMES ||
	    b->ops < 64) {
		usage();
		return 2;
	}
	return -1;
}

/* Map all of guest A's refs into dom0 for a persistent row; 0 or 1 (said). */
static int persistent_map(struct bench *b, struct gnttab_map_grant_ref *maps)
{
	unsigned i;

	for (i = 0; i < b->refs; i++) {
		maps[i] = (struct gnttab_map_grant_ref){
			.flags = GNTMAP_host_map | GNTMAP_readonly,
			.ref = i + 1,
			.dom = b->a.id,
		};
	}
	gnttab_map_grant_ref(b->hv, 0, maps, b->refs);
	for (i = 0; i < b->refs; i++)
		if (maps[i].status != GNTST_okay) {
			fprintf(stderr, "map of ref %u failed: %d\n", i + 1, maps[i].status);
			return 1;
		}
	return 0;
}

/* Unmap what persistent_map mapped. */
static void persistent_unmap(struct bench *b, const struct gnttab_map_grant_ref *maps)
{
	struct gnttab_unmap_grant_ref u;

	for (unsigned i = 0; i < b->refs; i++) {
		u = (struct gnttab_unmap_grant_ref){.handle = maps[i].handle};
		gnttab_unmap_grant_ref(b->hv, 0, &u, 1);
	}
}

/* One row at each batch size: the median of runs, printed; 0 or 1 (said). */
static int run_cfg(struct bench *b, const struct mb_cfg *cfg, unsigned runs, bool json, bool *first)
{
	static const unsigned batches[] = {32, 64};
	double v[MAX_RUNS];

	for (unsigned bi = 0; bi < 2; bi++) {
		double ns_pkt;

		for (unsigned r = 0; r < runs; r++) {
			v[r] = cfg->threads ? run_two_threads(b, batches[bi])
					    : run_once(b, cfg->k, batches[bi], b->ops);
			if (v[r] < 0) {
				fprintf(stderr, "%s: a copy failed\n", cfg->name);
				return 1;
			}
		}
		ns_pkt = median(v, runs);
		if (json) {
			printf("%s{\"name\": \"%s\", \"batch\": %u, \"ns_per_op\": %.2f, "
			       "\"ns_per_pkt\": %.2f}",
			       *first ? "" : ", ", cfg->name, batches[bi],
			       ns_pkt / cfg->ops_per_pkt, ns_pkt);
			*first = false;
		} else {
			printf("%-6s %-20s batch=%-3u %8.1f ns/op %8.1f ns/pkt (%u op/pkt)\n",
			       cfg->name, cfg->label, batches[bi], ns_pkt / cfg->ops_per_pkt,
			       ns_pkt, cfg->ops_per_pkt);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (pvnet_version_opt(argc, argv, "pvnet-microbench"))
		return 0;
	struct gnttab_map_grant_ref *maps = NULL;
	struct bench b;
	unsigned runs = 5, c;
	bool json = false, first = true;
	char commit[32];
	int rc;

	memset(&b, 0, sizeof(b));
	b.refs = 256;
	b.ops = 400000;
	rc = parse_opts(argc, argv, &b, &runs, &json);
	if (rc >= 0)
		return rc;
	b.ops -= b.ops % 64;
	pvnet_log_set_level(PVNET_LOG_WARN); /* no domain create/destroy lines */
	if (hv_create(&b.hv) < 0 || guest_make(b.hv, "bench-a", b.refs, true, &b.a) < 0 ||
	    guest_make(b.hv, "bench-b", b.refs, false, &b.b) < 0) {
		fprintf(stderr, "pvnet-microbench: setup failed\n");
		return 1;
	}
	b.dom0_buf = calloc(b.refs, 128);
	maps = calloc(b.refs, sizeof(*maps));
	if (!b.dom0_buf || !maps)
		return 1;
	commit_id(commit, sizeof(commit));

	if (json)
		printf("{\"commit\": \"%s\", \"runs\": %u, \"ops\": %lu, \"refs\": %u, \"rows\": [",
		       commit, runs, b.ops, b.refs);
	else
		printf("# pvnet-microbench --runs %u --ops %lu --refs %u   cores=%ld placement=any "
		       "pkt=%uB median of %u, time=thread-cpu (2thr: wall), commit=%s\n",
		       runs, b.ops, b.refs, sysconf(_SC_NPROCESSORS_ONLN), PKT_SIZE, runs, commit);
	for (c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
		if (cfgs[c].persistent && persistent_map(&b, maps))
			return 1;
		if (run_cfg(&b, &cfgs[c], runs, json, &first))
			return 1;
		if (cfgs[c].persistent)
			persistent_unmap(&b, maps);
	}
	if (json)
		printf("]}\n");
	free(maps);
	free(b.dom0_buf);
	munmap(b.a.mem, b.a.mem_size);
	munmap(b.a.gnt, b.a.gnt_size);
	munmap(b.b.mem, b.b.mem_size);
	munmap(b.b.gnt, b.b.gnt_size);
	hv_destroy(b.hv);
	return 0;
}
