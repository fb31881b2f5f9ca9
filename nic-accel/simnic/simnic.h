/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/simnic/simnic.h - simnic's private definitions (the device model).
 *
 * simnic is built twice from the same sources: as build/lib/pvnet-accel/simnic.so
 * (nic-accel/plugins.mk, entry in plugin.c) and into libnic-accel as a built-in
 * (nic-accel/plugins.mk adds simnic_dev.c, simnic_dp.c and the SDK to the
 * library's sources, MODULE_SRCS_nic-accel).
 *
 * simnic is written on the plugin SDK (pvnet/accel_sdk.h, nic-accel/sdk/): the
 * SDK keeps ports, queue pairs and their memfd rings, the IOMMU table, filters
 * and the common counters, and provides most ops; simnic adds the engine (TX
 * filter, rate limit, checksum, TSO, the on-NIC switch, wire RX with LRO),
 * VFs, and its own counters.
 *
 * Locking: one mutex per device (dev->sdk.lock) protects everything below it.
 * Every op takes it; the engine takes it for one pass (TX of every queue, one
 * burst of wire RX, interrupt moderation), so control ops see a quiescent device.
 *
 * Memory: guest buffers are reached only through the port's IOMMU table
 * (accel_sdk_dma); everything read from shared memory is copied to a local
 * before it is validated.
 */
#ifndef PVNET_SIMNIC_H
#define PVNET_SIMNIC_H

#include <stdint.h>

#include <pvnet/accel_sdk.h>

#define SIMNIC_VERSION "1.0"
#define SIMNIC_MAX_PORTS ACCEL_SDK_MAX_PORTS
#define SIMNIC_MAX_QPS ACCEL_SDK_MAX_QPS
#define SIMNIC_MAX_FILTERS ACCEL_SDK_MAX_FILTERS
#define SIMNIC_DEFAULT_VFS 8
#define SIMNIC_DEFAULT_QUOTA ACCEL_SDK_DEFAULT_QUOTA
#define SIMNIC_MAX_RING ACCEL_SDK_MAX_RING
#define SIMNIC_BURST 32
#define SIMNIC_FRAME_MAX 65536u

/* simnic's own per-port counters; with the SDK's (sdk.st) in ethtool -S order
 * in simnic_dev.c's port_stats. */
struct simnic_stats {
	uint64_t tx_spoof_dropped;
	uint64_t tx_rate_throttled;
	uint64_t tx_csum_filled;
	uint64_t tso_segments;
	uint64_t lro_coalesced;
	uint64_t rx_csum_bad;
	uint64_t hairpin_packets;
};

/* The SDK's part first (pvnet/accel_sdk.h): rings, IOMMU, filters, common
 * counters; below it what only simnic has. */
struct accel_qp {
	struct accel_sdk_qp sdk;
	struct accel_tx_filter txf;
	uint64_t rate_bps, burst;
	int64_t tokens;
	uint64_t last_refill_ns;
	int throttled;
};

struct accel_port {
	struct accel_sdk_port sdk;
	struct simnic_stats st;
};

struct accel_dev {
	struct accel_sdk_dev sdk; /* lock, ports, default queue pair, engine thread */
	int wire_fd;
	uint32_t max_vfs, n_vfs;
	int stop_fd;
	uint64_t wire_rx, wire_tx, wire_errors, rx_filter_miss, rx_dropped;
	uint8_t *txbuf;  /* one TX packet, gathered from guest memory */
	uint8_t *segbuf; /* one TSO segment / wire RX frame */
	uint8_t *lrobuf; /* the pending LRO aggregate */
};
ACCEL_SDK_LAYOUT_CHECK();

/* simnic_dev.c */
const struct accel_ops *simnic_accel_ops(void);

/* simnic_dp.c: the engine; callers hold dev->sdk.lock. */
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
