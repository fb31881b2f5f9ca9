/* SPDX-License-Identifier: MIT */
/*
 * pvnet/accel_sdk.h - the accelerator plugin SDK: the bookkeeping every
 * queue-pair device needs, written once (nic-accel/sdk/).
 *
 * A plugin implements the ABI of pvnet/accel_plugin.h. What is the same for every
 * device that exports accel queue pairs lives here: devices with a lock and a
 * port table, ports with an IOMMU table of registered guest pages, RX filters
 * and counters, queue pairs with their shared memory (memfd), doorbell and
 * interrupt eventfds, IOMMU-checked DMA, descriptor handling, RX delivery into
 * posted buffers, interrupt moderation, and most ops of the table. A plugin
 * keeps what is its own: probe, open/close, the engine (TX to its wire, wire
 * RX, offloads), and any op the SDK does not provide.
 *
 * Building: plugins.mk compiles every .c of nic-accel/sdk/ into each plugin .so (with
 * -fvisibility=hidden, so the SDK's symbols stay private to each plugin);
 * libnic-accel gets one copy through nic-accel/builtin_sdk.c for the built-in
 * simnic. The SDK uses only pvnet/accel_plugin.h, pvnet/lib.h and libc.
 *
 * Layout contract. The ABI's object types are the plugin's own structs; each
 * embeds the SDK's part as its FIRST member, named `sdk`:
 *
 *	struct accel_dev  { struct accel_sdk_dev sdk;  ...the plugin's fields };
 *	struct accel_port { struct accel_sdk_port sdk; ... };
 *	struct accel_qp   { struct accel_sdk_qp sdk;   ... };
 *	ACCEL_SDK_LAYOUT_CHECK();   (after the three definitions)
 *
 * so a pointer to the plugin's object is a pointer to its SDK part (C11 6.7.2.1)
 * and the SDK's ops can go straight into the plugin's accel_ops table. The SDK
 * allocates ports and queue pairs itself (zeroed, class->port_size / qp_size
 * bytes), so the plugin's fields start at zero; the plugin allocates its device
 * (zeroed) and calls accel_sdk_dev_init.
 *
 * Locking: one mutex per device (dev->sdk.lock) protects every field of the
 * device, its ports and queue pairs. The SDK's ops take it; functions marked
 * "caller holds the lock" expect it held (the engine holds it for a pass), and
 * every class hook is called with it held. No SDK function takes a lock or
 * makes a syscall per packet, except writing an interrupt eventfd when
 * moderation fires.
 *
 * Guest-shared memory (descriptor rings, registered pages) is read once into
 * locals (accel_sdk_desc_read) and only the copies are checked.
 *
 * Errors: 0 or -errno, as in pvnet/accel_plugin.h.
 */
#ifndef PVNET_ACCEL_SDK_H
#define PVNET_ACCEL_SDK_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <pvnet/accel_plugin.h>

/* Sizes of the SDK's tables; a class may use fewer (class->max_*). */
#define ACCEL_SDK_MAX_PORTS 64
#define ACCEL_SDK_MAX_QPS 8
#define ACCEL_SDK_MAX_FILTERS 16
#define ACCEL_SDK_MAX_RING 4096u
#define ACCEL_SDK_DEFAULT_RING 256u   /* qp_alloc with ring_len 0 */
#define ACCEL_SDK_DEFAULT_QUOTA 4096u /* IOMMU pages, port_alloc with iommu_quota 0 */
#define ACCEL_SDK_DEFAULT_BURST 32u

/* ---- IOMMU: open addressing on the page number, tombstones on delete ---- */

#define ACCEL_SDK_IOMMU_EMPTY 0
#define ACCEL_SDK_IOMMU_USED 1
#define ACCEL_SDK_IOMMU_DELETED 2

struct accel_sdk_iommu_entry {
	uint64_t pfn;  /* iova >> 12 */
	uint8_t *host; /* the page's host address */
	uint8_t state; /* ACCEL_SDK_IOMMU_* */
	uint8_t writable;
};

struct accel_sdk_iommu {
	struct accel_sdk_iommu_entry *tab;
	uint32_t cap;   /* power of two, >= 2 * quota */
	uint32_t count; /* used entries */
	uint32_t dead;  /* tombstones */
	uint32_t quota; /* pages the port may register */
};

/* ---- objects ---- */

/* A queue pair: its rings in `mem` (a memfd: the shared page, then ring_len TX
 * descriptors, then ring_len RX descriptors), doorbell and interrupt eventfds. */
struct accel_sdk_qp {
	struct accel_port *port;
	uint32_t idx;   /* position in port->sdk.qps, = the qid filters name */
	uint32_t flags; /* ACCEL_QP_F_* */
	int mem_fd, doorbell_fd, irq_fd;
	void *mem;
	size_t mem_size;
	uint32_t ring_len;
	struct accel_qp_shared *sh;
	struct accel_desc *tx, *rx;
	uint32_t tx_cons, rx_cons; /* the device's copies; the shared ones are output */
	uint32_t irq_frames, irq_usecs, irq_pending;
	uint64_t irq_first_ns;
	uint64_t rx_packets, tx_packets;
};

/* An RX filter; `hw` is the plugin's handle for a hardware rule (NULL: none). */
struct accel_sdk_filter {
	struct accel_rx_filter f;
	void *hw;
};

/* The counters the SDK itself keeps; a plugin adds its own to its port struct
 * and names all of them, in its order, in class->port_stats. */
struct accel_sdk_port_stats {
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
	uint64_t rx_dropped, tx_dropped;
	uint64_t rx_no_buffer;         /* RX: not enough posted buffer space */
	uint64_t dma_faults;           /* DMA to/from an unregistered or read-only page */
	uint64_t irq_raised;           /* interrupt eventfd written */
	uint64_t iommu_quota_exceeded; /* mem_register refused: quota */
	uint64_t ring_errors;          /* the driver published an impossible index */
};

struct accel_sdk_port {
	struct accel_dev *dev;
	uint32_t idx; /* slot in dev->sdk.ports */
	uint32_t domid, level;
	uint8_t mac[6];
	int detached;
	uint64_t features; /* active ACCEL_FEAT_BIT mask */
	struct accel_sdk_iommu mmu;
	struct accel_qp *qps[ACCEL_SDK_MAX_QPS];
	uint32_t n_qps;
	struct accel_sdk_filter filters[ACCEL_SDK_MAX_FILTERS];
	uint32_t n_filters;
	struct accel_sdk_port_stats st;
};

/* One named per-port counter: a uint64_t at `off` bytes into struct accel_port. */
struct accel_sdk_stat_desc {
	const char *name;
	size_t off;
};
#define ACCEL_SDK_PORT_STAT(name, member)                                                          \
	{                                                                                          \
		name, offsetof(struct accel_port, member)                                          \
	}

/*
 * What a plugin tells the SDK about itself: constants and hooks. Every hook is
 * optional (NULL: nothing to do) and runs with the device lock held, except
 * qp_fini on qp_alloc's error path (that queue pair was never visible).
 */
struct accel_sdk_class {
	const char *qp_mem_name; /* the queue pairs' memfd name (shows in /proc/PID/fd) */
	size_t port_size;        /* sizeof(struct accel_port) */
	size_t qp_size;          /* sizeof(struct accel_qp) */
	uint32_t levels;         /* ACCEL_LEVEL_BIT mask port_alloc accepts */
	/* Limits; 0 (or more than the SDK's tables hold) means the SDK's maximum. */
	uint32_t max_ports;     /* ACCEL_SDK_MAX_PORTS */
	uint32_t max_qps;       /* per port, ACCEL_SDK_MAX_QPS */
	uint32_t max_filters;   /* per port, ACCEL_SDK_MAX_FILTERS */
	uint32_t max_ring;      /* descriptors, power of two, ACCEL_SDK_MAX_RING */
	uint32_t default_quota; /* IOMMU pages when port_args.iommu_quota is 0; 0: 4096 */
	uint32_t burst;         /* accel_sdk_poll's budget when the caller gives 0; 0: 32 */
	const struct accel_sdk_stat_desc *port_stats; /* stats_get(port): in this order */
	uint32_t n_port_stats;

	/* A new port, filled in (sdk part) but not yet in dev->sdk.ports. An error
	 * refuses it (the SDK frees it and returns the error). */
	int (*port_init)(struct accel_port *port, const struct accel_port_args *args);
	/* A port about to be freed; its filters and queue pairs are gone already. */
	void (*port_fini)(struct accel_port *port);
	/* A queue pair about to be freed (also on qp_alloc's error path). */
	void (*qp_fini)(struct accel_qp *qp);
	/* A filter just added to port->sdk.filters (f->hw is NULL), or about to be
	 * removed (a filter's hw handle is the plugin's to release here). */
	void (*filter_added)(struct accel_port *port, struct accel_sdk_filter *f);
	void (*filter_removed)(struct accel_port *port, struct accel_sdk_filter *f);
	/* Device-wide counters for stats_get(port = NULL), appended with
	 * accel_sdk_stat_put; an error is returned by stats_get. */
	int (*dev_stats)(struct accel_dev *dev, struct accel_stat *out, uint32_t max, int *n);
	/* One engine pass (accel_sdk_poll): packets moved, or -errno. Required
	 * when the ops table uses accel_sdk_poll. */
	int (*engine_pass)(struct accel_dev *dev, uint32_t budget);
};

struct accel_sdk_dev {
	struct accel_sdk_class cls; /* the plugin's, its zero limits filled in */
	struct accel_host host;     /* copy; a shorter (older) table's tail reads as absent */
	uint32_t flags;             /* accel_open_args.flags */
	uint64_t features;          /* ACCEL_FEAT_BIT mask ports may enable (features_get) */
	uint64_t features_default;  /* a new port's active features */
	pthread_mutex_t lock;
	pthread_t thread; /* the plugin's engine thread, when thread_running */
	int thread_running;
	volatile int stop;       /* set by close for the engine thread */
	uint64_t cpu_ns;         /* engine CPU time spent in accel_sdk_poll */
	uint64_t log_window_ns;  /* accel_sdk_log_rl: start of the current window */
	uint32_t log_lines;      /* lines printed in it */
	uint32_t log_suppressed; /* lines dropped since the last one printed */
	struct accel_port *ports[ACCEL_SDK_MAX_PORTS];
	uint32_t ports_end;          /* 1 + the highest slot in use: loops over ports stop here */
	struct accel_qp *default_qp; /* the ACCEL_QP_F_DEFAULT_RX queue pair, or NULL */
};

/* The SDK part of a plugin object (the layout contract above). */
#define ACCEL_SDK_DEV(d) ((struct accel_sdk_dev *)(void *)(d))
#define ACCEL_SDK_PORT(p) ((struct accel_sdk_port *)(void *)(p))
#define ACCEL_SDK_QP(q) ((struct accel_sdk_qp *)(void *)(q))
#define ACCEL_SDK_LAYOUT_CHECK()                                                                   \
	_Static_assert(offsetof(struct accel_dev, sdk) == 0, "accel_dev: sdk first");              \
	_Static_assert(offsetof(struct accel_port, sdk) == 0, "accel_port: sdk first");            \
	_Static_assert(offsetof(struct accel_qp, sdk) == 0, "accel_qp: sdk first")

/* ---- devices ---- */

/*
 * Initialises the SDK part of a zeroed device: class, host table (copied;
 * `host` may be NULL), flags from `args` (may be NULL), the lock. Pair with
 * accel_sdk_dev_fini. Cannot fail.
 */
void accel_sdk_dev_init(struct accel_dev *dev, const struct accel_sdk_class *cls,
			const struct accel_host *host, const struct accel_open_args *args);
/* Frees every port (and its queue pairs), hooks included; takes the lock. The
 * engine thread must be stopped. */
void accel_sdk_dev_free_ports(struct accel_dev *dev);
/* Destroys the lock. The device's memory stays the plugin's to free. */
void accel_sdk_dev_fini(struct accel_dev *dev);

/* The host's clock (host.now_ns) or CLOCK_MONOTONIC, in ns. */
uint64_t accel_sdk_now(struct accel_dev *dev);
/* Any other clock: pvnet_clock_ns (pvnet/lib.h). */
/* Formats one line (up to 1535 bytes) to the host's log callback, if any. Not
 * rate-limited: on the data path, log only what a guest cannot repeat at will,
 * or at ACCEL_LOG_DEBUG. */
void accel_sdk_log(struct accel_dev *dev, enum accel_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The data path's log: like accel_sdk_log, at most ACCEL_SDK_LOG_RL_LINES lines
 * per ACCEL_SDK_LOG_RL_NS per device (the next line printed says how many were
 * suppressed). Caller holds the lock. Count the event in a counter as well. */
#define ACCEL_SDK_LOG_RL_LINES 10
#define ACCEL_SDK_LOG_RL_NS 5000000000ull
void accel_sdk_log_rl(struct accel_dev *dev, enum accel_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fills pfd[n..max) with the doorbell of each port's first queue pair (the
 * engine thread's sleep set); returns the new count. Takes the lock. */
nfds_t accel_sdk_doorbells(struct accel_dev *dev, struct pollfd *pfd, nfds_t n, nfds_t max);

/* ---- ops: ready to be put in the plugin's accel_ops table ---- */

/* Every op below, as designated initializers for an accel_ops table. Do not
 * set one of these ops again in the same initializer (-Woverride-init): list
 * the SDK's ops one by one instead when you replace one. */
#define ACCEL_SDK_OPS                                                                              \
	.port_alloc = accel_sdk_port_alloc, .port_free = accel_sdk_port_free,                      \
	.qp_alloc = accel_sdk_qp_alloc, .qp_free = accel_sdk_qp_free, .qp_map = accel_sdk_qp_map,  \
	.mem_register = accel_sdk_mem_register, .mem_unregister = accel_sdk_mem_unregister,        \
	.rx_filter_add = accel_sdk_rx_filter_add, .rx_filter_del = accel_sdk_rx_filter_del,        \
	.stats_get = accel_sdk_stats_get, .features_get = accel_sdk_features_get,                  \
	.features_set = accel_sdk_features_set, .detach = accel_sdk_detach,                        \
	.attach = accel_sdk_attach, .poll = accel_sdk_poll

/* Port: level must be in class->levels (ACCEL_LEVEL_MAX < level: -EINVAL,
 * a level the class lacks: -EOPNOTSUPP); -ENOSPC with every slot used;
 * iommu_quota 0 means class->default_quota, above 2^24 pages -EINVAL. */
int accel_sdk_port_alloc(struct accel_dev *dev, const struct accel_port_args *args,
			 struct accel_port **out);
void accel_sdk_port_free(struct accel_port *port);
/* Queue pair: ring_len 0 means ACCEL_SDK_DEFAULT_RING, else a power of two in
 * [8, class->max_ring]; a Level 0 port has one queue pair; one default-RX queue
 * pair per device (-EBUSY). Freeing shifts later queue pairs down by one and
 * removes the filters that pointed at the freed one. */
int accel_sdk_qp_alloc(struct accel_port *port, const struct accel_qp_args *args,
		       struct accel_qp **out);
void accel_sdk_qp_free(struct accel_qp *qp);
/* Domain 0 always; the port's own domain at Level 2 and 3; else -EPERM. */
int accel_sdk_qp_map(struct accel_qp *qp, uint32_t domid, struct accel_qp_map *out);
/* All or nothing: page-aligned regions, within the quota (-ENOSPC, counted),
 * no page registered twice (-EEXIST). */
int accel_sdk_mem_register(struct accel_port *port, const struct accel_mem_region *r,
			   uint32_t count);
int accel_sdk_mem_unregister(struct accel_port *port, uint64_t iova, uint64_t size);
/* Level >= 1 (-EOPNOTSUPP at 0); unicast MAC, VLAN 0..4094 or ACCEL_VLAN_ANY;
 * no overlap with any port's filter on the device (-EEXIST). */
int accel_sdk_rx_filter_add(struct accel_port *port, const struct accel_rx_filter *f);
int accel_sdk_rx_filter_del(struct accel_port *port, const struct accel_rx_filter *f);
/* Port: class->port_stats, iommu_entries, per-queue packets; device:
 * class->dev_stats. Then hw_cpu_ns (engine thread CPU, or accel_sdk_poll's). */
int accel_sdk_stats_get(struct accel_dev *dev, struct accel_port *port, struct accel_stat *out,
			uint32_t max);
int accel_sdk_features_get(struct accel_port *port, uint64_t *supported, uint64_t *active);
int accel_sdk_features_set(struct accel_port *port, uint64_t active);
/* Stop / resume serving the port's queue pairs (ACCEL_QP_S_DETACHED). */
int accel_sdk_detach(struct accel_port *port);
int accel_sdk_attach(struct accel_port *port);
/* One class->engine_pass under the lock, its thread CPU time added to cpu_ns;
 * -EOPNOTSUPP without one. */
int accel_sdk_poll(struct accel_dev *dev, uint32_t budget);

/* Appends one counter to a stats_get answer (counted even past `max`). */
void accel_sdk_stat_put(struct accel_stat *out, uint32_t max, int *n, const char *name, uint64_t v);

/* ---- data path: the caller holds the lock ---- */

/* The used entry for page `pfn`, or NULL. */
const struct accel_sdk_iommu_entry *accel_sdk_iommu_lookup(const struct accel_sdk_iommu *m,
							   uint64_t pfn);
/*
 * Copies between `buf` and IOVA space page by page through the port's IOMMU
 * (write: buf -> guest). A miss or a write to a read-only page is a DMA fault:
 * nothing more is copied, dma_faults counted (and logged at DEBUG, rate
 * limited), -EFAULT.
 */
int accel_sdk_dma(struct accel_port *port, uint64_t iova, void *buf, uint32_t len, int write);

/* One read of a guest-shared descriptor into a local, validated afterwards. */
static inline struct accel_desc accel_sdk_desc_read(const struct accel_desc *slot)
{
	return *(const volatile struct accel_desc *)slot;
}

/* One TX packet as read from a queue pair's ring. */
struct accel_sdk_tx_pkt {
	struct accel_desc d[ACCEL_TX_MAX_SLOTS + 1];
	uint32_t n;     /* slots, the GSO metadata slot included */
	uint32_t first; /* first data slot: 1 after a GSO metadata slot, else 0 */
	uint32_t total; /* bytes in the data slots */
	uint32_t mss;   /* from the GSO slot (iova & 0xffff), 0 without one */
	int csum;       /* some slot asked for ACCEL_DESC_F_CSUM */
	int bad;        /* too many slots, or total outside [14, ACCEL_PKT_MAX] */
};

/* What a plugin's transmit callback did with one packet. */
enum accel_sdk_tx_verdict {
	ACCEL_SDK_TX_SENT, /* taken: counted in tx_packets/tx_bytes, completed */
	ACCEL_SDK_TX_DROP, /* dropped (count the reason): tx_dropped, completed with ERR */
	ACCEL_SDK_TX_STOP, /* not now (shaping, a full NIC queue): left on the ring */
};
/* Sends one well-formed packet (pkt->bad is 0); the data is still in guest
 * memory: accel_sdk_tx_gather copies it out. Called with the lock held. */
typedef enum accel_sdk_tx_verdict (*accel_sdk_xmit_fn)(struct accel_qp *qp,
						       const struct accel_sdk_tx_pkt *pkt);

/*
 * Runs up to `budget` packets of qp's TX ring through `xmit`: checks the
 * producer index (an impossible one marks the ring ACCEL_QP_S_RING_ERR, counted
 * once in ring_errors), reads each packet's descriptors once, drops malformed
 * ones (tx_dropped), writes the completions, then publishes the consumer index
 * and notes the slots for interrupt moderation. Returns the packets consumed.
 */
int accel_sdk_tx_burst(struct accel_qp *qp, uint32_t budget, accel_sdk_xmit_fn xmit);

/* The steps of accel_sdk_tx_burst, for a plugin that needs its own loop. */
/* 1 when the TX ring's producer `prod` is possible; else 0, the ring marked. */
int accel_sdk_tx_ring_ok(struct accel_qp *qp, uint32_t prod);
/* Reads the packet at `cons` (before `prod`) into pkt: 0, or -EAGAIN when its
 * last slot is not published yet (nothing consumed). */
int accel_sdk_tx_read(const struct accel_qp *qp, uint32_t cons, uint32_t prod,
		      struct accel_sdk_tx_pkt *pkt);
/* Writes the packet's slots back at `cons` with DONE (and ERR when bad). */
void accel_sdk_tx_complete(struct accel_qp *qp, uint32_t cons, struct accel_sdk_tx_pkt *pkt,
			   int bad);
/* Publishes the TX consumer index after the completions and notes `slots`
 * for interrupt moderation. */
void accel_sdk_tx_publish(struct accel_qp *qp, uint32_t cons, uint32_t slots);
/* DMAs the data slots into buf (room for pkt->total bytes): 0 or -EFAULT. */
int accel_sdk_tx_gather(struct accel_qp *qp, const struct accel_sdk_tx_pkt *pkt, uint8_t *buf);

/*
 * Writes one frame into the buffers the driver posted on qp's RX ring. Whole
 * frame or nothing: not enough posted space -> -ENOBUFS (rx_no_buffer) with no
 * slot consumed; a DMA fault -> -EFAULT, the slots used so far complete with
 * ERR; `first_flags` (CSUM_OK, LRO...) go on the first slot. Counted on the port.
 */
int accel_sdk_rx_deliver(struct accel_qp *qp, const uint8_t *frame, uint32_t len,
			 uint16_t first_flags);

/* The queue pair a unicast (mac, vid) goes to among attached ports with level
 * >= min_level other than `skip` (may be NULL): explicit filters first, then a
 * Level >= 2 port's own MAC to its first queue pair. NULL: none. */
struct accel_qp *accel_sdk_lookup_ucast(struct accel_dev *dev, const uint8_t *mac, uint16_t vid,
					uint32_t min_level, const struct accel_port *skip);

/* Interrupt moderation: note `n` completed slots; fire the interrupt eventfd
 * when irq_frames / irq_usecs say so (at once when both are 0) and the driver
 * enabled interrupts; accel_sdk_irq_check_all does every queue pair. */
void accel_sdk_irq_note(struct accel_qp *qp, uint32_t n);
void accel_sdk_irq_check(struct accel_qp *qp, uint64_t now);
void accel_sdk_irq_check_all(struct accel_dev *dev, uint64_t now);

#endif /* PVNET_ACCEL_SDK_H */
