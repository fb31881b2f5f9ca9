/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/dpa.h - the DPDK accelerator plugin's private definitions.
 * Prefix dpa_ ("DPDK accelerator"). Built as build/lib/pvnet-accel/dpdk.so by
 * nic-accel/plugins.mk with pkg-config libdpdk's flags; the only export is
 * pvnet_accel_entry (plugin.c).
 *
 * One accel device = one DPDK ethdev port, hot-plugged from the config's
 * devargs (a vdev string: net_af_packet0,iface=veth1 / net_tap0,iface=dtap0 /
 * net_memif0,role=client,socket=/run/x.sock). In xl-style vif specs a ',' ends
 * the key, so the plugin also takes ';' for ',' (devargs=net_tap0;iface=dtap0).
 *
 * The EAL is initialised once per process, on the first open (dpa_eal.c), and
 * never torn down: DPDK cannot initialise it twice. Each device probes and
 * removes its own vdev (rte_dev_probe / rte_dev_remove), so devices can be
 * opened and closed many times in one process.
 *
 * Ports (per vif) at Level 0 or 1 share the ethdev: TX of every queue pair goes
 * to ethdev TX queue 0; wire RX is classified by destination MAC/VLAN onto the
 * Level 1 queue pairs' RX rings, the rest to the device's default queue pair.
 * At Level 1 each filter also becomes an rte_flow rule steering the MAC/VLAN to
 * an ethdev RX queue of its own when the PMD has rte_flow (else the demux is
 * software only: counters rx_steering_hw = 0 and a log line say so). The
 * software classifier always runs, so a PMD that spreads frames across queues
 * (tap's multiqueue hash) never misdelivers.
 *
 * Written on the plugin SDK (pvnet/accel_sdk.h, nic-accel/sdk/): the SDK keeps
 * ports, queue pairs and their rings, the IOMMU table, filters and the common
 * counters, and provides most ops; this plugin adds the EAL, the ethdev, rte_flow
 * and the engine.
 *
 * Locking: one mutex per device (dev->sdk.lock) protects everything below it.
 * Every op takes it; the engine takes it for one pass (a burst per queue), never
 * per packet. Guest memory is reached only through the port's IOMMU table
 * (accel_sdk_dma); descriptors are read once into locals before they are checked.
 */
#ifndef PVNET_DPA_H
#define PVNET_DPA_H

#include <stddef.h>
#include <stdint.h>

#include <pvnet/accel_sdk.h>

struct rte_mempool;
struct rte_mbuf;
struct rte_flow;

#define DPA_VERSION "0.1"
#define DPA_MAX_PORTS ACCEL_SDK_MAX_PORTS
#define DPA_MAX_QPS ACCEL_SDK_MAX_QPS
#define DPA_MAX_FILTERS ACCEL_SDK_MAX_FILTERS
#define DPA_MAX_HWQ 4 /* ethdev RX queues: 0 = default, 1.. = rte_flow targets */
#define DPA_MAX_RING ACCEL_SDK_MAX_RING
#define DPA_BURST 32
#define DPA_DEFAULT_QUOTA ACCEL_SDK_DEFAULT_QUOTA
#define DPA_FRAME_MAX 65536u
#define DPA_ERR_MAX 1024
#define DPA_NAME_MAX 64
#define DPA_TX_STALL_NS 10000000ull /* 10 ms refused by the PMD: drop (tx_ring_full) */
#define DPA_DEVARGS_MAX 512

/* The plugin's own per-port counters; with the SDK's (sdk.st) in ethtool -S
 * order in dpa_dev.c's port_stats. */
struct dpa_port_stats {
	uint64_t tx_csum_filled;
	uint64_t tx_gso_dropped; /* GSO packet larger than the MTU, no TSO on the PMD */
	uint64_t rx_csum_bad;
	uint64_t rx_hw_steered; /* arrived on the ethdev queue rte_flow assigned to the qp */
};

/* Device-wide counters (names in dpa_dev.c). */
struct dpa_dev_stats {
	uint64_t wire_rx, wire_tx;
	uint64_t tx_ring_full;      /* mbufs the PMD refused for DPA_TX_STALL_NS: dropped */
	uint64_t mbuf_alloc_failed; /* TX packets dropped for want of an mbuf */
	uint64_t rx_filter_miss;    /* unicast with no filter: to the default queue */
	uint64_t rx_dropped;        /* no default queue, or it is detached */
	uint64_t rx_oversize;       /* frame longer than DPA_FRAME_MAX */
	uint64_t flow_rules;        /* rte_flow rules installed now */
	uint64_t flow_fallbacks;    /* filters left to software (create failed, no queue) */
};
#define DPA_DEV_NSTATS (sizeof(struct dpa_dev_stats) / sizeof(uint64_t))

/* The SDK's part first (pvnet/accel_sdk.h): rings, IOMMU, filters (sdk.filters[].hw
 * is the filter's struct rte_flow, NULL: software only), common counters. */
struct accel_qp {
	struct accel_sdk_qp sdk;
	int hwq; /* ethdev RX queue rte_flow steers to this qp, 0 = none */
};

struct accel_port {
	struct accel_sdk_port sdk;
	struct dpa_port_stats st;
};

struct accel_dev {
	struct accel_sdk_dev sdk;      /* lock, ports, default qp, poll thread, features */
	char name[DPA_NAME_MAX];       /* the vdev name, e.g. net_af_packet0 */
	char devargs[DPA_DEVARGS_MAX]; /* as DPDK takes it (commas) */
	char driver[DPA_NAME_MAX];     /* the PMD's driver name */
	uint16_t port_id;
	int probed, configured, started;
	struct rte_mempool *pool;
	uint32_t n_rxq;                    /* ethdev RX queues configured */
	uint16_t n_txq;                    /* ethdev TX queues configured (only queue 0 is used) */
	int flow_ok;                       /* rte_flow MAC/VLAN -> QUEUE validated on this PMD */
	uint64_t rx_offloads, tx_offloads; /* enabled on the ethdev */
	uint16_t mtu;
	struct accel_qp *hwq_owner[DPA_MAX_HWQ];
	int idle_passes;
	struct dpa_dev_stats st;
	uint8_t *scratch;                /* one frame (multi-segment RX reads, TX gather) */
	struct rte_mbuf *txb[DPA_BURST]; /* mbufs waiting for rte_eth_tx_burst */
	uint32_t n_txb;
	uint64_t tx_stall_since; /* accel_sdk_now() when the PMD last refused them all, 0 = not */
};
ACCEL_SDK_LAYOUT_CHECK();

/* dpa_eal.c: EAL once per process, vdev probe/remove, DPDK log capture. */
/* Rewrites `in` (';' or ',' separated) into DPDK's form in `out` and the vdev
 * name in `name`. -EINVAL with a reason in err. */
int dpa_devargs_parse(const char *in, char *out, size_t out_size, char *name, size_t name_size,
		      char *err, size_t errlen);
/* Initialises the EAL if no one did yet. -errno with the EAL's words in err. */
int dpa_eal_up(struct accel_dev *dev, char *err, size_t errlen);
/* Hot-plugs dev->devargs and finds its ethdev port. */
int dpa_vdev_probe(struct accel_dev *dev, char *err, size_t errlen);
void dpa_vdev_remove(struct accel_dev *dev);
/* Collects DPDK's warnings and errors between begin and end (what explains a
 * failure); end copies them, or "(DPDK logged nothing)", into out. */
void dpa_capture_begin(void);
void dpa_capture_end(char *out, size_t size);
/* Log sink for DPDK messages outside a capture (the last device opened). */
void dpa_log_sink_set(struct accel_dev *dev);
void dpa_log_sink_clear(struct accel_dev *dev);

/* dpa_dev.c */
const struct accel_ops *dpa_accel_ops(void);

/* dpa_port.c: ethdev configuration, offloads (dev->sdk.features), rte_flow.
 * Callers hold dev->sdk.lock. */
int dpa_ethdev_setup(struct accel_dev *dev, char *err, size_t errlen);
void dpa_ethdev_teardown(struct accel_dev *dev);
int dpa_flow_add(struct accel_dev *dev, struct accel_sdk_filter *f, struct accel_qp *qp);
void dpa_flow_del(struct accel_dev *dev, struct accel_sdk_filter *f);
int dpa_ethdev_stats(struct accel_dev *dev, struct accel_stat *out, uint32_t max, int *n);

/* dpa_dp.c: the engine; callers hold dev->sdk.lock. */
int dpa_engine_pass(struct accel_dev *dev, uint32_t budget);
/* Frees mbufs still waiting for TX (close). */
void dpa_tx_drain(struct accel_dev *dev);

#endif /* PVNET_DPA_H */
