/* SPDX-License-Identifier: MIT */
/*
 * pvnet/accel_plugin.h - the NIC accelerator plugin ABI: what a vendor plugin
 * sees (as DPDK's ethdev_driver.h). The versioned ops table a plugin exports,
 * the objects it implements (device, port, queue pair), the host services it may
 * call, and the queue-pair descriptor ring format shared with the driver that
 * drives a queue pair (netback in dom0 at Levels 0-1, the guest's netfront at
 * Levels 2-3). A plugin includes this header and the SDK (pvnet/accel_sdk.h,
 * which includes it), never the host-side API pvnet/accel.h (the registry,
 * devices and attachments pvnetd and netback call): make check-layers fails on
 * a plugin folder that does.
 *
 * Levels (DESIGN §7; docs/nic-levels.md is the long version):
 *   0  one queue pair per port; checksum offload, TSO, LRO, interrupt moderation.
 *   1  several RX queues per port chosen by destination MAC/VLAN filters; one
 *      device-wide default queue gets broadcast/multicast/unmatched frames; RX
 *      DMA goes straight into guest buffers registered in the port's IOMMU domain.
 *   2  a queue pair's rings and doorbell are memory mapped into the guest
 *      process; the device enforces the TX source MAC/IP filter and rate limit.
 *   3  virtual functions: each port is a VF with its own IOMMU domain; an L2
 *      switch on the device hairpins VF-to-VF unicast, the rest goes to the wire.
 *
 * Object model (netaccel's VI / VMDq pool / SR-IOV VF, one name for all three):
 *   device  one NIC instance (ops->open), owns the wire and the engine.
 *   port    per-vif function of a device at one level, with its own IOMMU domain
 *           (the table of registered guest frames), RX filters and counters.
 *           At Level 3 a port is a VF.
 *   qp      a queue pair of a port: one TX ring, one RX ring, a doorbell, an
 *           interrupt; the TX filter and rate limit are per queue pair.
 *
 * DMA model: a device touches guest memory only through its port's IOMMU table.
 * Every descriptor address is an IOVA; a miss or a write to a read-only entry is
 * a DMA fault: the transfer is refused and counted (dma_faults), never fatal. By
 * convention the IOVA of a granted frame is (gref << 12) | offset, like
 * netaccel's buffer-table addresses; plugins must not depend on it.
 */
#ifndef PVNET_ACCEL_PLUGIN_H
#define PVNET_ACCEL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/* ======================================================================= */
/* The plugin ABI                                                           */
/* ======================================================================= */

/*
 * ABI versioning (netmap NETMAP_API, DPDK "future proof" flags):
 * - A plugin's table says which ABI it was compiled for (abi_major/abi_minor) and
 *   how many bytes the table has (size = sizeof(struct accel_ops) at its build).
 * - The loader accepts abi_major == ACCEL_ABI_MAJOR and any abi_minor: an older
 *   minor has a shorter table (ops it lacks read as NULL), a newer minor a longer
 *   one (the loader copies only the bytes it knows). A table shorter than
 *   ACCEL_OPS_MIN_SIZE (through the last required op) is rejected.
 * - Bits of `flags` outside ACCEL_F_KNOWN are rejected: a plugin that needs a
 *   semantic this loader does not have must not be loaded silently.
 * - Minor bumps only append fields at the end. Anything else is a major bump.
 */
#define ACCEL_ABI_MAJOR 1
#define ACCEL_ABI_MINOR 0

/* The one symbol an external plugin (.so) exports. */
#define ACCEL_ENTRY_SYMBOL "pvnet_accel_entry"
struct accel_ops;
typedef const struct accel_ops *(*accel_entry_fn)(void);

/* Plugin flags (accel_ops.flags). */
#define ACCEL_F_THREAD_SAFE (1ull << 0) /* ops may be called concurrently on different ports */
#define ACCEL_F_HW_THREAD (1ull << 1)   /* the device runs its own engine thread */
#define ACCEL_F_KNOWN (ACCEL_F_THREAD_SAFE | ACCEL_F_HW_THREAD)

/* Levels, as a bit mask in accel_ops.levels and accel_dev_info.levels. */
#define ACCEL_LEVEL_BIT(l) (1u << (l))
#define ACCEL_LEVEL_MAX 3

/* Names: plugins, counters, features (ETH_GSTRING_LEN, like ethtool). */
#define ACCEL_NAME_MAX 32

/* Log levels for accel_host.log (same order as pvnet/log.h). */
enum accel_log_level { ACCEL_LOG_ERR = 0, ACCEL_LOG_WARN, ACCEL_LOG_INFO, ACCEL_LOG_DEBUG };

/*
 * Host services handed to a plugin at probe/open. `size` is the caller's
 * sizeof(struct accel_host): a plugin reads fields past `size` as absent.
 * Every callback may be called from any thread, including the device's engine.
 * now_ns: a monotonic clock in ns; tests inject a fake one (rate limits and
 * interrupt moderation read time only through it). NULL = CLOCK_MONOTONIC.
 * log: one line without newline; NULL = silent.
 */
struct accel_host {
	uint32_t size;
	uint32_t reserved;
	void *ctx;
	uint64_t (*now_ns)(void *ctx);
	void (*log)(void *ctx, enum accel_log_level level, const char *msg);
};

/* Offload features, named as ethtool -k names them. */
enum accel_feature {
	ACCEL_FEAT_RX_CSUM = 0,    /* rx-checksumming */
	ACCEL_FEAT_TX_CSUM,        /* tx-checksumming */
	ACCEL_FEAT_SG,             /* scatter-gather */
	ACCEL_FEAT_TSO,            /* tcp-segmentation-offload */
	ACCEL_FEAT_LRO,            /* large-receive-offload */
	ACCEL_FEAT_RX_VLAN_FILTER, /* rx-vlan-filter */
	ACCEL_FEAT_HW_TC,          /* hw-tc-offload (TX filters, rate limits) */
	ACCEL_FEAT_COUNT
};
#define ACCEL_FEAT_BIT(f) (1ull << (f))

/* Returned by probe. */
struct accel_dev_info {
	char model[ACCEL_NAME_MAX]; /* e.g. "simnic" */
	uint32_t levels;            /* ACCEL_LEVEL_BIT mask this device supports */
	uint32_t max_ports;         /* per device, all levels */
	uint32_t max_vfs;           /* Level 3 ports */
	uint32_t max_qps_per_port;
	uint32_t max_rx_filters; /* per port */
	uint32_t max_ring_len;   /* descriptors, power of two */
	uint64_t features;       /* ACCEL_FEAT_BIT mask supported */
};

/*
 * Arguments of open. wire_fd: the "wire", a descriptor on which one read() is one
 * Ethernet frame and one write() sends one (TAP without IFF_VNET_HDR, AF_PACKET
 * SOCK_RAW, a SOCK_DGRAM/SEQPACKET socketpair in tests); the device dup()s it and
 * the caller keeps its own. -1 = no wire (frames to the wire are counted as
 * wire_tx and discarded). devargs: the config's devargs string or NULL.
 */
#define ACCEL_OPEN_F_NO_THREAD (1u << 0) /* no engine thread: the caller runs ops->poll */
struct accel_open_args {
	int wire_fd;
	uint32_t flags;
	uint32_t max_vfs; /* 0 = device default */
	uint32_t reserved;
	const char *devargs;
};

/* Arguments of port_alloc. */
struct accel_port_args {
	uint32_t domid;       /* owner; the IOMMU domain of the port */
	uint32_t level;       /* 0..3, a level of accel_dev_info.levels */
	uint32_t iommu_quota; /* max registered pages (IOMMU entries); 0 = device default */
	uint32_t reserved;
	uint8_t mac[6]; /* the vif's MAC */
	uint16_t pad;
};

/*
 * Arguments of qp_alloc. ring_len: descriptors per ring, a power of two in
 * 8..max_ring_len, 0 = 256. Interrupt moderation: the device signals the qp's
 * interrupt once irq_frames completions are pending or the oldest pending one is
 * irq_usecs old (0/0 = every burst).
 */
#define ACCEL_QP_F_DEFAULT_RX (1u << 0) /* the device's default RX queue (broadcast, misses) */
struct accel_qp_args {
	uint32_t ring_len;
	uint32_t flags;
	uint32_t irq_frames;
	uint32_t irq_usecs;
};

/*
 * A queue pair as exported by qp_map. Every fd is a new descriptor owned by the
 * caller (close it; hand it to the guest over SCM_RIGHTS). mem_fd is a memfd of
 * mem_size bytes holding struct accel_qp_shared at offset 0 and the two rings at
 * tx_ring_off / rx_ring_off. doorbell_fd (eventfd): write 8 bytes (any nonzero
 * count) after publishing producer indices. irq_fd (eventfd): readable when the
 * device completed descriptors and the qp's interrupt is enabled.
 */
struct accel_qp_map {
	int mem_fd;
	int doorbell_fd;
	int irq_fd;
	uint32_t ring_len;
	uint64_t mem_size;
	uint64_t tx_ring_off;
	uint64_t rx_ring_off;
};

/*
 * ---- Queue-pair descriptor rings (shared memory; the driver half's contract) ----
 *
 * Each ring is ring_len 16-byte descriptors. Indices are free-running u32s, the
 * slot is index & (ring_len - 1). Producer and consumer indices live on separate
 * cache lines (memif / DPDK rte_ring): the driver writes tx.prod and rx.prod,
 * the device writes tx.cons and rx.cons. Ordering:
 *   driver: write descriptors; release-store prod; write the doorbell (eventfd).
 *   device: acquire-load prod; read each descriptor ONCE into a local copy;
 *           write back the completion into the same slot; release-store cons.
 *   driver: acquire-load cons; slots [old cons, cons) are complete.
 *
 * TX: the driver fills {iova, len, flags, id}. A packet is one or more slots
 * chained with ACCEL_DESC_F_MORE (at most ACCEL_TX_MAX_SLOTS). An optional first
 * slot with ACCEL_DESC_F_GSO is a metadata slot: iova = gso_size (MSS) | gso_type
 * << 16, len = 0. ACCEL_DESC_F_CSUM asks the device to fill the L4 checksum.
 * Completion: flags |= ACCEL_DESC_F_DONE, plus ACCEL_DESC_F_ERR if the packet was
 * dropped (DMA fault, spoof, malformed); `id` is left untouched.
 *
 * RX: the driver posts empty buffers {iova, len = buffer size, flags = 0, id}.
 * The device writes a frame into one or more consecutive posted buffers and
 * writes back len = bytes written, flags = DONE | MORE on all but the last slot,
 * and on the first slot CSUM_OK (L4 checksum verified) or CSUM_BAD, LRO if
 * frames were coalesced. `id` is left untouched.
 */
struct accel_desc {
	uint64_t iova;
	uint16_t len;
	uint16_t flags;
	uint32_t id;
};
_Static_assert(sizeof(struct accel_desc) == 16, "accel_desc is 16 bytes");
_Static_assert(offsetof(struct accel_desc, flags) == 10, "accel_desc.flags at 10");

#define ACCEL_DESC_F_MORE (1u << 0)      /* TX/RX: the packet continues in the next slot */
#define ACCEL_DESC_F_CSUM (1u << 1)      /* TX: fill the L4 checksum */
#define ACCEL_DESC_F_GSO (1u << 2)       /* TX: metadata slot, see above */
#define ACCEL_DESC_F_DONE (1u << 8)      /* completion: written by the device */
#define ACCEL_DESC_F_ERR (1u << 9)       /* completion: TX packet dropped / RX error */
#define ACCEL_DESC_F_CSUM_OK (1u << 10)  /* RX: L4 checksum verified good */
#define ACCEL_DESC_F_CSUM_BAD (1u << 11) /* RX: L4 checksum verified bad */
#define ACCEL_DESC_F_LRO (1u << 12)      /* RX: several wire frames coalesced */
#define ACCEL_GSO_TCPV4 1
#define ACCEL_GSO_TCPV6 2
#define ACCEL_TX_MAX_SLOTS 18 /* like XEN_NETIF_NR_SLOTS_MIN */
#define ACCEL_PKT_MAX 65535   /* bytes, one (GSO) packet */
#define ACCEL_PAGE_SIZE 4096u

/* One index on its own cache line. */
struct accel_ring_idx {
	uint32_t idx;
	uint32_t pad[15];
};
_Static_assert(sizeof(struct accel_ring_idx) == 64, "index on its own cache line");

/* Offset 0 of a queue pair's memory. */
struct accel_qp_shared {
	struct accel_ring_idx tx_prod;    /* driver */
	struct accel_ring_idx tx_cons;    /* device */
	struct accel_ring_idx rx_prod;    /* driver */
	struct accel_ring_idx rx_cons;    /* device */
	struct accel_ring_idx irq_enable; /* driver: 1 = signal irq_fd (default 1) */
	struct accel_ring_idx status;     /* device: ACCEL_QP_S_* */
};
_Static_assert(sizeof(struct accel_qp_shared) == 384, "qp shared header");
_Static_assert(offsetof(struct accel_qp_shared, tx_cons) == 64, "tx_cons on its own line");
#define ACCEL_QP_S_RUNNING (1u << 0)
#define ACCEL_QP_S_DETACHED (1u << 1) /* device stopped serving the qp (migration) */
#define ACCEL_QP_S_RING_ERR (1u << 2) /* the driver published an impossible index */

/* Memory pre-registration: one region of guest memory into a port's IOMMU. */
#define ACCEL_MEM_F_WRITABLE (1u << 0) /* the device may write (RX buffers) */
struct accel_mem_region {
	uint64_t iova;  /* page aligned */
	void *host;     /* page aligned host mapping of the frames (e.g. a gnttab map) */
	uint32_t size;  /* bytes, a multiple of ACCEL_PAGE_SIZE */
	uint32_t flags; /* ACCEL_MEM_F_* */
};

/*
 * RX filter: frames whose destination MAC equals `mac` and whose VLAN matches go
 * to queue `qid` of the port (a port-local index: a port can only steer to its
 * own queues). vlan: 1..4094 = that tag, ACCEL_VLAN_NONE = untagged only,
 * ACCEL_VLAN_ANY = either.
 */
#define ACCEL_VLAN_NONE 0u
#define ACCEL_VLAN_ANY 0xffffu
struct accel_rx_filter {
	uint8_t mac[6];
	uint16_t vlan;
	uint32_t qid;
};

/*
 * TX filter (anti-spoofing) of a queue pair: with CHECK_MAC a frame whose source
 * MAC is not `mac` is dropped; with CHECK_IP an IPv4 frame whose source address
 * is none of ipv4[0..n_ipv4) (network byte order) is dropped, and so is ARP
 * whose sender IP is none of them. Dropped frames count as tx_spoof_dropped.
 */
#define ACCEL_TXF_CHECK_MAC (1u << 0)
#define ACCEL_TXF_CHECK_IP (1u << 1)
#define ACCEL_TXF_MAX_IPV4 4
struct accel_tx_filter {
	uint32_t flags;
	uint32_t n_ipv4;
	uint32_t ipv4[ACCEL_TXF_MAX_IPV4];
	uint8_t mac[6];
	uint16_t pad;
};

/* A named counter, as ethtool -S prints it. */
struct accel_stat {
	char name[ACCEL_NAME_MAX];
	uint64_t value;
};

/* Objects a plugin defines; opaque to the framework. */
struct accel_dev;
struct accel_port;
struct accel_qp;

/*
 * The ops table. Fields up to and including qp_free are required (non-NULL);
 * the rest are optional: NULL makes the framework return -EOPNOTSUPP.
 * All int ops return 0 or -errno unless said otherwise. Locking: unless the
 * plugin sets ACCEL_F_THREAD_SAFE, the framework serialises calls per device.
 * A plugin must tolerate calls from any thread; its engine runs concurrently.
 */
struct accel_ops {
	/* header: never moves */
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t size;       /* sizeof(struct accel_ops) as the plugin was built */
	uint64_t flags;      /* ACCEL_F_* */
	const char *name;    /* short name used in configs: accel=<name> */
	const char *version; /* the plugin's own version string */
	uint32_t levels;     /* ACCEL_LEVEL_BIT mask */
	uint32_t reserved;

	/* required */
	/* Describe the device without opening it. */
	int (*probe)(const struct accel_host *host, struct accel_dev_info *info);
	/* Open one device instance. `host` must outlive the device. */
	int (*open)(const struct accel_host *host, const struct accel_open_args *args,
		    struct accel_dev **out);
	/* Stop the engine, free every port and qp still allocated. NULL is a no-op. */
	void (*close)(struct accel_dev *dev);
	/* A per-vif port. -ENOSPC when out of ports or (Level 3) out of VFs. */
	int (*port_alloc)(struct accel_dev *dev, const struct accel_port_args *args,
			  struct accel_port **out);
	/* Frees the port's qps, filters and IOMMU entries. NULL is a no-op. */
	void (*port_free)(struct accel_port *port);
	/* A queue pair of a port; Level 0 ports have exactly one (-ENOSPC after). */
	int (*qp_alloc)(struct accel_port *port, const struct accel_qp_args *args,
			struct accel_qp **out);
	void (*qp_free)(struct accel_qp *qp);

	/* optional */
	/* Export a qp's rings/doorbell/irq for `domid`'s driver. Allowed for domid 0
	 * (dom0 drives it, Levels 0-1) and, at Level >= 2, for the port's domid;
	 * -EPERM otherwise. */
	int (*qp_map)(struct accel_qp *qp, uint32_t domid, struct accel_qp_map *out);
	/* Pre-register `count` regions into the port's IOMMU domain: all or nothing.
	 * -ENOSPC (and counted as iommu_quota_exceeded) beyond the port's quota,
	 * -EEXIST if an IOVA is already mapped, -EINVAL if unaligned. */
	int (*mem_register)(struct accel_port *port, const struct accel_mem_region *regions,
			    uint32_t count);
	/* Remove `size` bytes of IOVA space from the IOMMU (missing pages ignored).
	 * In-flight DMA to them completes or faults; never touches them afterwards. */
	int (*mem_unregister)(struct accel_port *port, uint64_t iova, uint64_t size);
	/* -EEXIST if another port of the device owns (mac, vlan); -EINVAL bad qid. */
	int (*rx_filter_add)(struct accel_port *port, const struct accel_rx_filter *f);
	int (*rx_filter_del)(struct accel_port *port, const struct accel_rx_filter *f);
	/* Replace the qp's TX filter; flags = 0 turns it off. */
	int (*tx_filter_set)(struct accel_qp *qp, const struct accel_tx_filter *f);
	/* Token bucket on TX bytes: bytes_per_sec (0 = unlimited), burst bytes (0 =
	 * bytes_per_sec / 100, at least one max packet). Over the limit the device
	 * stops taking descriptors (shaping), it does not drop. */
	int (*rate_limit_set)(struct accel_qp *qp, uint64_t bytes_per_sec, uint64_t burst);
	/* Fill up to `max` counters of `port` (NULL = device-wide); returns the
	 * number the device has (may exceed max: call again with more room). */
	int (*stats_get)(struct accel_dev *dev, struct accel_port *port, struct accel_stat *out,
			 uint32_t max);
	/* Offload features of a port: supported and active ACCEL_FEAT_BIT masks. */
	int (*features_get)(struct accel_port *port, uint64_t *supported, uint64_t *active);
	/* -EINVAL if `active` has bits outside supported. */
	int (*features_set)(struct accel_port *port, uint64_t active);
	/* Migration: detach stops the device serving the port (frames for it go to
	 * the default queue, i.e. the software path; its TX rings are not read) and
	 * keeps its state; attach resumes. Both idempotent. */
	int (*detach)(struct accel_port *port);
	int (*attach)(struct accel_port *port);
	/* Without an engine thread (ACCEL_OPEN_F_NO_THREAD): run the engine once,
	 * at most `budget` packets per queue; returns the number of packets moved. */
	int (*poll)(struct accel_dev *dev, uint32_t budget);
};

/* Size through the last required op: the shortest table the loader accepts. */
#define ACCEL_OPS_MIN_SIZE (offsetof(struct accel_ops, qp_free) + sizeof(void (*)(void)))

/*
 * ---- Driver-half helpers: drive a mapped queue pair (netback, netfront, tests) ----
 * `sh` is the mapped struct accel_qp_shared, `ring` the descriptor array.
 * Single producer per ring; no locking.
 */
static inline uint32_t accel_ring_load(const struct accel_ring_idx *i)
{
	return __atomic_load_n(&i->idx, __ATOMIC_ACQUIRE);
}
static inline void accel_ring_store(struct accel_ring_idx *i, uint32_t v)
{
	__atomic_store_n(&i->idx, v, __ATOMIC_RELEASE);
}

#endif /* PVNET_ACCEL_PLUGIN_H */
