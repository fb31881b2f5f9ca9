/* SPDX-License-Identifier: MIT */
/*
 * pvnet/pktgen.h - a traffic generator and sink core, independent of how
 * frames move.
 *
 * The core builds Ethernet/IPv4/UDP frames into buffers the caller owns and
 * counts frames the caller hands back. It never allocates per packet, makes
 * no system call and takes no lock: time is passed in by the caller (read it
 * once per burst). The same core drives an AF_PACKET TX/RX ring
 * (tools/pvnet-pktgen) and is meant to fill netfront's granted TX pages
 * directly (pvnet-guest mode=pktgen), so both ends of a comparison run the
 * identical generator.
 *
 * Frame layout (all multi-byte fields in network byte order):
 *   0  Ethernet: dst MAC, src MAC, type 0x0800               14 bytes
 *   14 IPv4: ver/ihl 0x45, tos 0, total len, id 0, DF, ttl 64,
 *      proto 17, header checksum, src, dst                   20 bytes
 *   34 UDP: src port, dst port, len, checksum (always set)    8 bytes
 *   42 payload: magic 0x5056 ("PV")                           2 bytes
 *   44          sequence number (uint64, per generator)       8 bytes
 *   52          transmit timestamp, ns (caller's clock)       8 bytes
 *   60          filler bytes (i & 0xff) up to the frame size
 * A frame is `size` bytes as written to the buffer, without FCS; 60..9000.
 * "64 B" in pvnet's tables means 64 bytes written, as testpmd's --txpkts=64.
 *
 * Ownership: the generator owns nothing the caller passes in; buffers passed
 * to pktgen_fill/pktgen_stamp/pktgen_rx stay the caller's and are not kept.
 * Locking: none; one generator per thread.
 */
#ifndef PVNET_PKTGEN_H
#define PVNET_PKTGEN_H

#include <stddef.h>
#include <stdint.h>

#define PKTGEN_SIZE_MIN 60
#define PKTGEN_SIZE_MAX 9000
#define PKTGEN_HDR_SIZE 42  /* Ethernet + IPv4 + UDP */
#define PKTGEN_MAGIC 0x5056 /* first payload bytes: "PV" */
#define PKTGEN_OFF_MAGIC 42
#define PKTGEN_OFF_SEQ 44
#define PKTGEN_OFF_TS 52

/* Latency histogram: exact below 64 ns, then 32 sub-buckets per power of two
 * (relative error of a reported percentile below 1/32). */
#define PKTGEN_LAT_BUCKETS (64 + 58 * 32)

struct pktgen_cfg {
	uint32_t size; /* frame bytes, PKTGEN_SIZE_MIN..PKTGEN_SIZE_MAX */
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint32_t src_ip;   /* network byte order */
	uint32_t dst_ip;   /* network byte order */
	uint16_t src_port; /* host byte order; 0 means 9 (discard) */
	uint16_t dst_port; /* host byte order; 0 means 9 (discard) */
	uint64_t rate_pps; /* 0: as fast as the caller can send */
};

/* Counters; all cumulative since pktgen_create() or pktgen_reset(). */
struct pktgen_stats {
	uint64_t tx_frames, tx_bytes;
	uint64_t rx_frames, rx_bytes; /* pktgen frames recognised */
	uint64_t rx_other;            /* frames that are not ours (ignored) */
	uint64_t rx_lost;             /* sequence gaps not filled later */
	uint64_t rx_late;             /* below the next expected sequence number */
	uint64_t rx_lat_count;        /* samples in the latency histogram */
};

struct pktgen;

/* Validates cfg and builds the frame template. Returns 0 and *out, or
 * -EINVAL (bad size) / -ENOMEM. The caller frees with pktgen_destroy(). */
int pktgen_create(const struct pktgen_cfg *cfg, struct pktgen **out);

/* Frees the generator; NULL is a no-op. */
void pktgen_destroy(struct pktgen *pg);

/* Zeroes every counter and the latency histogram, restarts the sequence at 0
 * and the pacing clock at now_ns. */
void pktgen_reset(struct pktgen *pg, uint64_t now_ns);

/* The configured frame size in bytes. */
uint32_t pktgen_size(const struct pktgen *pg);

/* Writes the next frame (template, next sequence number, now_ns as the
 * timestamp, correct IPv4 and UDP checksums) into buf and counts it as sent.
 * Returns the frame length, or 0 (nothing written, nothing counted) if cap is
 * smaller than the frame. */
size_t pktgen_fill(struct pktgen *pg, void *buf, size_t cap, uint64_t now_ns);

/* As pktgen_fill(), for a buffer that already holds a frame written by
 * pktgen_fill() of this generator (a reused ring slot): rewrites only the
 * sequence number, timestamp and UDP checksum (about 20 bytes). Returns the
 * frame length. */
size_t pktgen_stamp(struct pktgen *pg, void *buf, uint64_t now_ns);

/* How many frames may be sent at now_ns to keep to rate_pps, at most max
 * (always max when rate_pps is 0). Does not count anything: call pktgen_fill
 * or pktgen_stamp for each frame actually sent. */
uint32_t pktgen_budget(const struct pktgen *pg, uint64_t now_ns, uint32_t max);

/* Accounts one received frame seen at now_ns: if it is a pktgen frame (IPv4,
 * UDP to this generator's dst port, magic present) updates rx counters,
 * sequence-based loss (a gap counts as lost; a late frame that fills a gap
 * is taken back off rx_lost and counted in rx_late) and, when the timestamp
 * is not after now_ns, the latency histogram with now_ns - timestamp.
 * Returns 0 for a pktgen frame, -EINVAL (counted in rx_other) otherwise. */
int pktgen_rx(struct pktgen *pg, const void *frame, size_t len, uint64_t now_ns);

/* Copies the counters into *st. */
void pktgen_stats_get(const struct pktgen *pg, struct pktgen_stats *st);

/* The p-th percentile (0 < p <= 100) of the recorded latencies, in ns, or 0
 * if there are none. */
uint64_t pktgen_latency_pct(const struct pktgen *pg, double p);

/* Histogram helpers, exposed for tests and for other samplers: the bucket of
 * a value, a representative value of a bucket (its midpoint), and the p-th
 * percentile of hist[PKTGEN_LAT_BUCKETS] holding count samples. */
unsigned pktgen_lat_bucket(uint64_t ns);
uint64_t pktgen_lat_value(unsigned bucket);
uint64_t pktgen_hist_pct(const uint64_t *hist, uint64_t count, double p);

#endif /* PVNET_PKTGEN_H */
