/* SPDX-License-Identifier: MIT */
/*
 * pktgen.c - frame generator and sink core (contract in include/pvnet/pktgen.h).
 *
 * The UDP checksum is computed once over the template with a zero sequence
 * number and timestamp; each frame then adds only the eight 16-bit words of
 * those two fields (they sit at even offsets from the UDP header, so the
 * words line up with the checksum's word boundaries).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/lib.h>
#include <pvnet/pktgen.h>

struct pktgen {
	struct pktgen_cfg cfg;
	uint32_t udp_sum0;  /* unfolded sum of the template, seq = ts = 0 */
	uint64_t next_seq;  /* next sequence number to send */
	uint64_t start_ns;  /* pacing origin */
	uint64_t rx_expect; /* next sequence number expected */
	struct pktgen_stats st;
	uint64_t lat[PKTGEN_LAT_BUCKETS];
	uint8_t tmpl[PKTGEN_SIZE_MAX];
};

static uint32_t sum64(uint64_t v)
{
	return (uint32_t)(v >> 48) + (uint32_t)((v >> 32) & 0xffff) +
	       (uint32_t)((v >> 16) & 0xffff) + (uint32_t)(v & 0xffff);
}

static void build_template(struct pktgen *pg)
{
	const struct pktgen_cfg *c = &pg->cfg;
	uint8_t *f = pg->tmpl, *ip = f + 14, *udp = f + 34;
	uint32_t sum, i;
	uint16_t ulen = (uint16_t)(c->size - 34);

	memcpy(f, c->dst_mac, 6);
	memcpy(f + 6, c->src_mac, 6);
	pvnet_wr16(f + 12, 0x0800);

	ip[0] = 0x45;
	ip[1] = 0;
	pvnet_wr16(ip + 2, (uint16_t)(c->size - 14));
	pvnet_wr16(ip + 4, 0);
	pvnet_wr16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17;
	pvnet_wr16(ip + 10, 0);
	memcpy(ip + 12, &c->src_ip, 4);
	memcpy(ip + 16, &c->dst_ip, 4);
	pvnet_wr16(ip + 10, pvnet_csum_finish(pvnet_csum_partial(ip, 20, 0)));

	pvnet_wr16(udp, c->src_port);
	pvnet_wr16(udp + 2, c->dst_port);
	pvnet_wr16(udp + 4, ulen);
	pvnet_wr16(udp + 6, 0);
	pvnet_wr16(f + PKTGEN_OFF_MAGIC, PKTGEN_MAGIC);
	memset(f + PKTGEN_OFF_SEQ, 0, 16);
	for (i = PKTGEN_OFF_TS + 8; i < c->size; i++)
		f[i] = (uint8_t)i;

	/* Pseudo header: src, dst, zero + protocol, UDP length. */
	sum = pvnet_csum_pseudo4(ip, 17, ulen);
	pg->udp_sum0 = pvnet_csum_partial(udp, ulen, sum);
}

int pktgen_create(const struct pktgen_cfg *cfg, struct pktgen **out)
{
	struct pktgen *pg;

	if (!cfg || !out || cfg->size < PKTGEN_SIZE_MIN || cfg->size > PKTGEN_SIZE_MAX)
		return -EINVAL;
	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return -ENOMEM;
	pg->cfg = *cfg;
	if (!pg->cfg.src_port)
		pg->cfg.src_port = 9;
	if (!pg->cfg.dst_port)
		pg->cfg.dst_port = 9;
	build_template(pg);
	*out = pg;
	return 0;
}

void pktgen_destroy(struct pktgen *pg)
{
	free(pg);
}

void pktgen_reset(struct pktgen *pg, uint64_t now_ns)
{
	memset(&pg->st, 0, sizeof(pg->st));
	memset(pg->lat, 0, sizeof(pg->lat));
	pg->next_seq = 0;
	pg->rx_expect = 0;
	pg->start_ns = now_ns;
}

uint32_t pktgen_size(const struct pktgen *pg)
{
	return pg->cfg.size;
}

size_t pktgen_stamp(struct pktgen *pg, void *buf, uint64_t now_ns)
{
	uint8_t *f = buf;
	uint64_t seq = pg->next_seq++;
	uint16_t csum;

	pvnet_wr64(f + PKTGEN_OFF_SEQ, seq);
	pvnet_wr64(f + PKTGEN_OFF_TS, now_ns);
	csum = pvnet_csum_finish(pg->udp_sum0 + sum64(seq) + sum64(now_ns));
	pvnet_wr16(f + 40, csum ? csum : 0xffff); /* 0 would mean "no checksum" */
	pg->st.tx_frames++;
	pg->st.tx_bytes += pg->cfg.size;
	return pg->cfg.size;
}

size_t pktgen_fill(struct pktgen *pg, void *buf, size_t cap, uint64_t now_ns)
{
	if (cap < pg->cfg.size)
		return 0;
	memcpy(buf, pg->tmpl, pg->cfg.size);
	return pktgen_stamp(pg, buf, now_ns);
}

uint32_t pktgen_budget(const struct pktgen *pg, uint64_t now_ns, uint32_t max)
{
	uint64_t due;
	unsigned __int128 t;

	if (!pg->cfg.rate_pps)
		return max;
	if (now_ns <= pg->start_ns)
		return 0;
	t = (unsigned __int128)(now_ns - pg->start_ns) * pg->cfg.rate_pps;
	due = (uint64_t)(t / 1000000000u);
	if (due <= pg->st.tx_frames)
		return 0;
	due -= pg->st.tx_frames;
	return due < max ? (uint32_t)due : max;
}

unsigned pktgen_lat_bucket(uint64_t ns)
{
	unsigned msb;

	if (ns < 64)
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	return 64u + (msb - 6u) * 32u + (unsigned)((ns >> (msb - 5u)) & 31u);
}

uint64_t pktgen_lat_value(unsigned bucket)
{
	unsigned g, sub, msb;

	if (bucket < 64)
		return bucket;
	if (bucket >= PKTGEN_LAT_BUCKETS)
		bucket = PKTGEN_LAT_BUCKETS - 1;
	g = (bucket - 64u) / 32u;
	sub = (bucket - 64u) % 32u;
	msb = g + 6u;
	return ((uint64_t)(32u + sub) << (msb - 5u)) + ((uint64_t)1 << (msb - 5u)) / 2u;
}

uint64_t pktgen_hist_pct(const uint64_t *hist, uint64_t count, double p)
{
	uint64_t rank, cum = 0;
	double r;
	unsigned b;

	if (!count || p <= 0)
		return 0;
	if (p > 100)
		p = 100;
	/* Nearest-rank: the smallest value with at least p% of samples at or
	 * below it. */
	r = p / 100.0 * (double)count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	for (b = 0; b < PKTGEN_LAT_BUCKETS; b++) {
		cum += hist[b];
		if (cum >= rank)
			return pktgen_lat_value(b);
	}
	return pktgen_lat_value(PKTGEN_LAT_BUCKETS - 1);
}

uint64_t pktgen_latency_pct(const struct pktgen *pg, double p)
{
	return pktgen_hist_pct(pg->lat, pg->st.rx_lat_count, p);
}

int pktgen_rx(struct pktgen *pg, const void *frame, size_t len, uint64_t now_ns)
{
	const uint8_t *f = frame;
	uint64_t seq, ts;

	if (len < PKTGEN_SIZE_MIN || f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 ||
	    f[23] != 17 || (uint16_t)(f[36] << 8 | f[37]) != pg->cfg.dst_port ||
	    (uint16_t)(f[42] << 8 | f[43]) != PKTGEN_MAGIC) {
		pg->st.rx_other++;
		return -EINVAL;
	}
	seq = pvnet_rd64(f + PKTGEN_OFF_SEQ);
	ts = pvnet_rd64(f + PKTGEN_OFF_TS);
	pg->st.rx_frames++;
	pg->st.rx_bytes += len;
	if (seq >= pg->rx_expect) {
		pg->st.rx_lost += seq - pg->rx_expect;
		pg->rx_expect = seq + 1;
	} else {
		pg->st.rx_late++;
		if (pg->st.rx_lost)
			pg->st.rx_lost--;
	}
	if (ts <= now_ns) {
		pg->lat[pktgen_lat_bucket(now_ns - ts)]++;
		pg->st.rx_lat_count++;
	}
	return 0;
}

void pktgen_stats_get(const struct pktgen *pg, struct pktgen_stats *st)
{
	*st = pg->st;
}
