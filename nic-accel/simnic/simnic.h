/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/simnic/simnic.h - simnic's private definitions (the device model).
 *
 * simnic is built twice from the same sources: as build/lib/pvnet-accel/simnic.so
 * (nic-accel/plugins.mk, entry in plugin.c) and into libnic-accel as a built-in
 * (nic-accel/builtin_simnic.c includes simnic_dev.c and simnic_dp.c).
 *
 * Locking: one mutex per device (dev->lock) protects everything below it. Every
 * op takes it; the engine takes it for one pass (TX of every queue, one burst of
 * wire RX, interrupt moderation), so control ops see a quiescent device.
 *
 * Memory: queue-pair rings live in a memfd per qp, mapped by the device and by
 * whoever drives the qp. Guest buffers are reached only through the port's
 * IOMMU table (simnic_dma); everything read from shared memory is copied to a
 * local before it is validated.
 */
#ifndef PVNET_SIMNIC_H
#define PVNET_SIMNIC_H

#include <pthread.h>
#include <stdint.h>

#include <pvnet/accel.h>

#define SIMNIC_VERSION "1.0"
#define SIMNIC_MAX_PORTS 64
#define SIMNIC_MAX_QPS 8
#define SIMNIC_MAX_FILTERS 16
#define SIMNIC_DEFAULT_VFS 8
#define SIMNIC_DEFAULT_QUOTA 4096u
#define SIMNIC_MAX_RING 4096u
#define SIMNIC_BURST 32
#define SIMNIC_FRAME_MAX 65536u

struct simnic_iommu_entry {
	uint64_t pfn;  /* iova >> 12 */
	uint8_t *host; /* page's host address */
	uint8_t state; /* 0 empty, 1 used, 2 deleted */
	uint8_t writable;
};

struct simnic_iommu {
	struct simnic_iommu_entry *tab;
	uint32_t cap;   /* power of two */
	uint32_t count; /* used entries */
	uint32_t dead;  /* deleted entries (tombstones) */
	uint32_t quota;
};

/* Per-port counters; the order is the ethtool -S order (simnic_dev.c names). */
struct simnic_stats {
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
	uint64_t rx_dropped, tx_dropped;
	uint64_t rx_no_buffer;
	uint64_t dma_faults;
	uint64_t tx_spoof_dropped;
	uint64_t tx_rate_throttled;
	uint64_t tx_csum_filled;
	uint64_t tso_segments;
	uint64_t lro_coalesced;
	uint64_t rx_csum_bad;
	uint64_t irq_raised;
	uint64_t hairpin_packets;
	uint64_t iommu_quota_exceeded;
	uint64_t ring_errors;
};
#define SIMNIC_NSTATS (sizeof(struct simnic_stats) / sizeof(uint64_t))

struct accel_qp {
	struct accel_port *port;
	uint32_t idx;
	uint32_t flags;
	int mem_fd, doorbell_fd, irq_fd;
	void *mem;
	size_t mem_size;
	uint32_t ring_len;
	struct accel_qp_shared *sh;
	struct accel_desc *tx, *rx;
	uint32_t tx_cons, rx_cons; /* device's own copies; the shared ones are output */
	struct accel_tx_filter txf;
	uint64_t rate_bps, burst;
	int64_t tokens;
	uint64_t last_refill_ns;
	int throttled;
	uint32_t irq_frames, irq_usecs, irq_pending;
	uint64_t irq_first_ns;
	uint64_t rx_packets, tx_packets;
};

struct accel_port {
	struct accel_dev *dev;
	uint32_t idx, domid, level;
	uint8_t mac[6];
	int detached;
	uint64_t features;
	struct simnic_iommu mmu;
	struct accel_qp *qps[SIMNIC_MAX_QPS];
	uint32_t n_qps;
	struct accel_rx_filter filters[SIMNIC_MAX_FILTERS];
	uint32_t n_filters;
	struct simnic_stats st;
};

struct accel_dev {
	struct accel_host host; /* copy, unknown tail zeroed */
	int wire_fd;
	uint32_t flags, max_vfs, n_vfs;
	pthread_mutex_t lock;
	pthread_t thread;
	int thread_running;
	int stop_fd;
	volatile int stop;
	struct accel_port *ports[SIMNIC_MAX_PORTS];
	struct accel_qp *default_qp;
	uint64_t cpu_ns; /* engine CPU time when driven by ops->poll */
	uint64_t wire_rx, wire_tx, wire_errors, rx_filter_miss, rx_dropped;
	uint8_t *txbuf;  /* one TX packet, gathered from guest memory */
	uint8_t *segbuf; /* one TSO segment / wire RX frame */
	uint8_t *lrobuf; /* the pending LRO aggregate */
};

/* simnic_dev.c */
uint64_t simnic_now(struct accel_dev *dev);
void simnic_log(struct accel_dev *dev, enum accel_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const struct accel_ops *simnic_accel_ops(void);

/* simnic_dp.c: the engine; callers hold dev->lock. */
int simnic_dma(struct accel_port *port, uint64_t iova, void *buf, uint32_t len, int write);
const struct simnic_iommu_entry *simnic_iommu_lookup(const struct simnic_iommu *m, uint64_t pfn);
int simnic_engine_pass(struct accel_dev *dev, uint32_t budget);

/* Checksums and header parsing, exposed for the unit tests. */
struct simnic_l4 {
	uint32_t l3_off, l4_off, hdr_len; /* hdr_len: end of the L4 header */
	uint8_t proto, ipv6;
};
int simnic_parse_l4(const uint8_t *f, uint32_t len, struct simnic_l4 *out);
uint16_t simnic_l4_csum(const uint8_t *f, uint32_t len, const struct simnic_l4 *l4);
uint16_t simnic_ip_csum(const uint8_t *ip, uint32_t ihl);

#endif /* PVNET_SIMNIC_H */
