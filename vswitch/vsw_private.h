/* SPDX-License-Identifier: MIT */
/* vswitch private header: the bridge, port and FDB internals shared by the vswitch .c files. */
#ifndef PVNET_VSW_PRIVATE_H
#define PVNET_VSW_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvnet/vswitch.h>

#define VSW_LOG "vswitch"
#define VSW_PORT_NONE UINT32_MAX

enum vsw_port_mode { VSW_MODE_ACCESS = 0, VSW_MODE_TRUNK = 1 };

struct vsw_port {
	struct vsw_bridge *br;
	const struct vsw_port_ops *ops;
	void *priv;
	uint32_t port_no;
	unsigned flags; /* VSW_PORT_F_* */
	bool enabled;   /* read by workers, written under the port-table write lock */
	uint8_t mode;   /* enum vsw_port_mode; changed under the write lock */
	uint16_t vid;   /* access VID, or trunk native VID */
	uint64_t trunk[(VSW_VLAN_MAX + 1 + 63) / 64]; /* allowed tagged VIDs (trunk) */
	char name[VSW_NAME_MAX];
	/* Optional features, swapped under the port-table write lock (workers read them
	 * under the read lock for one vsw_input call); freed after the swap. */
	struct vsw_antispoof *antispoof;
	struct vsw_mirror *mirror;

	/* Counters, relaxed atomics, added once per batch. */
	_Alignas(64) uint64_t rx_packets, rx_bytes;
	_Alignas(64) uint64_t tx_packets, tx_bytes;
	uint64_t drops[VSW_DROP__MAX];
};

/* Software TSO output buffers: Ethernet + IPv6 + TCP with options + a 1500-B MTU. */
#define VSW_FALLBACK_BUF_SIZE 2048

struct vsw_bridge {
	char name[VSW_NAME_MAX];
	pthread_rwlock_t lock;                  /* port table + port config, see bridge.c */
	struct vsw_port *ports[VSW_PORTS_MAX];  /* by port number */
	struct vsw_port *active[VSW_PORTS_MAX]; /* dense, port-number order */
	unsigned n_active;
	struct vsw_fdb *fdb;
	uint64_t (*clock_ns)(void *arg);
	void *clock_arg;
	struct pvnet_pkt_pool *fallback; /* software TSO segments */
	/* the ports' anti-spoofing MACs and addresses (antispoof.c), rebuilt under
	 * `lock` (write); NULL: none */
	struct vsw_addr_owner *owners;
	uint32_t owners_mask;                   /* slots - 1 */
	struct vsw_bridge *next;                /* registry list (switch.c) */
	uint64_t flooded, sw_csum, sw_tso_segs; /* relaxed atomics */
};

/* ---- FDB (fdb.c) ---------------------------------------------------------------
 * One hash table of preallocated entries, chained by index, guarded by `lock`. The
 * data path takes the lock once per batch (vsw_fdb_lock) and calls the _locked
 * functions for every packet of the batch.
 */
struct vsw_fdb;

/* Result of vsw_fdb_learn_locked. */
enum vsw_fdb_learn {
	VSW_FDB_REFRESHED = 0,
	VSW_FDB_NEW,
	VSW_FDB_MOVED,
	VSW_FDB_FULL,
	VSW_FDB_STATIC_KEPT
};

struct vsw_fdb_counters {
	uint64_t learned, moves, aged, learn_full, evicted;
};

int vsw_fdb_create(unsigned max_entries, uint64_t ageing_ns, struct vsw_fdb **out);
void vsw_fdb_destroy(struct vsw_fdb *fdb);
void vsw_fdb_lock(struct vsw_fdb *fdb);
void vsw_fdb_unlock(struct vsw_fdb *fdb);
enum vsw_fdb_learn vsw_fdb_learn_locked(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac,
					uint32_t port_no, uint64_t now);
/* Port number or VSW_PORT_NONE (missing or expired; an expired entry is reclaimed). */
uint32_t vsw_fdb_lookup_locked(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac,
			       uint64_t now);
int vsw_fdb_set_static(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac, uint32_t port_no);
int vsw_fdb_remove(struct vsw_fdb *fdb, uint16_t vlan, const uint8_t *mac);
unsigned vsw_fdb_expire(struct vsw_fdb *fdb, uint64_t now);
/* port_no VSW_PORT_NONE: every port. */
void vsw_fdb_flush_port(struct vsw_fdb *fdb, uint32_t port_no, bool statics);
int vsw_fdb_walk(struct vsw_fdb *fdb, uint64_t now,
		 int (*cb)(const struct vsw_fdb_entry *e, void *arg), void *arg);
unsigned vsw_fdb_count(struct vsw_fdb *fdb);
/* Per-port limit on dynamic entries (0: the bridge default); entries above a lowered
 * limit are evicted at once, oldest first. 0 or -EINVAL. */
int vsw_fdb_port_set_limit(struct vsw_fdb *fdb, uint32_t port_no, uint32_t limit, uint64_t now);
/* The bridge default (> 0); ports above it lose their oldest entries. 0 or -EINVAL. */
int vsw_fdb_set_default_limit(struct vsw_fdb *fdb, uint32_t limit, uint64_t now);
uint32_t vsw_fdb_get_default_limit(struct vsw_fdb *fdb);
/* A port number's slot back to defaults (limit, counters): on port add. */
void vsw_fdb_port_reset(struct vsw_fdb *fdb, uint32_t port_no);
/* Counters of a port number; entries and the effective limit filled in. */
void vsw_fdb_port_get(struct vsw_fdb *fdb, uint32_t port_no, struct vsw_port_fdb_stats *st);
/* Changes with every insert and removal (learn, move, age, flush, static). */
uint64_t vsw_fdb_gen_get(struct vsw_fdb *fdb);
void vsw_fdb_set_ageing(struct vsw_fdb *fdb, uint64_t ageing_ns);
uint64_t vsw_fdb_get_ageing(struct vsw_fdb *fdb);
void vsw_fdb_get_counters(struct vsw_fdb *fdb, struct vsw_fdb_counters *c);

static inline bool vsw_mac_is_multicast(const uint8_t *mac)
{
	return mac[0] & 1;
}

static inline uint64_t vsw_atomic_read(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void vsw_atomic_add(uint64_t *p, uint64_t v)
{
	if (v)
		__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* ---- egress (input.c): hands a group to q->ops->send, counts, mirrors. Caller
 * holds br->lock (read). Releases what the port did not accept; count = 0 after. */
void vsw_egress_send(struct vsw_port *q, struct pvnet_pkt_batch *b);

/* ---- anti-spoofing (antispoof.c) ---- */
struct vsw_antispoof;
/* -1 if pkt (parsed, untagged at data) may enter, else a VSW_DROP_SPOOFED_* reason. */
int vsw_antispoof_check(const struct vsw_antispoof *as, const struct pvnet_pkt *pkt);
void vsw_antispoof_free(struct vsw_antispoof *as);
/* "mac:..,ip:..,ip:.." into buf. */
int vsw_antispoof_format(const struct vsw_antispoof *as, char *buf, size_t size);
/* Rebuilds br->owners from its ports' anti-spoofing MACs and addresses. Caller
 * holds br->lock for writing (after a port's anti-spoofing changed or a port left).
 * 0 or -ENOMEM (then no address is protected; the caller logs it). */
int vsw_antispoof_owners_rebuild(struct vsw_bridge *br);
void vsw_antispoof_owners_free(struct vsw_bridge *br);
/*
 * For a frame entering through a port without anti-spoofing of its own (an uplink,
 * VXLAN, TAP): -1, or VSW_DROP_SPOOFED_MAC if its source MAC is another port's
 * anti-spoofing MAC, VSW_DROP_SPOOFED_ARP / _ND if it claims another port's
 * anti-spoofing address (ARP sender, NA target, DAD NS target). Caller holds
 * br->lock (read); pkt parsed and untagged at data as for vsw_antispoof_check.
 */
int vsw_antispoof_claimed(const struct vsw_bridge *br, uint32_t port_no,
			  const struct pvnet_pkt *pkt);

/* ---- mirror (mirror.c) ---- */
struct vsw_mirror;
/* Records pkts of b as on the wire with tags b->vlan_tci[i] (NULL tags: as received,
 * i.e. untouched data). n: how many of b->pkts to record. */
void vsw_mirror_record(struct vsw_mirror *m, struct pvnet_pkt *const *pkts, const uint16_t *tags,
		       unsigned n);
void vsw_mirror_free(struct vsw_mirror *m, uint64_t *frames);
int vsw_mirror_format(const struct vsw_mirror *m, char *buf, size_t size);

/* ---- device port helpers (port_afpacket.c) ---- */
/* Sets `ifname` up (and promiscuous if asked); *ifindex gets its index. 0 or -errno. */
int vsw_netdev_up(const char *ifname, bool promisc, int *ifindex);
/* Destroys a port's RX pool once every packet is back (waits up to 1 s, then leaks
 * it with a warning rather than free memory another port still reads). */
void vsw_pool_release(struct pvnet_pkt_pool *pool, unsigned count, const char *who);

/* virtio-net header <-> packet metadata (port_tap.c), shared by TAP and AF_PACKET.
 * The header is struct virtio_net_hdr (10 bytes). */
struct virtio_net_hdr;
/* 0, or -EINVAL (unsupported GSO type / offsets outside the frame). */
int vsw_vnet_hdr_to_pkt(const struct virtio_net_hdr *vh, struct pvnet_pkt *pkt);
void vsw_pkt_to_vnet_hdr(const struct pvnet_pkt *pkt, uint16_t vlan_tci, struct virtio_net_hdr *vh);

#define VSW_DEV_BUF_SIZE (65536 + 256) /* a 64 KiB GSO frame + Ethernet + tag */
#define VSW_DEV_POOL 256

/* ---- vhost-user: files the VMM hands over (port_vhost_mem.c) ---- */
/* One guest memory region as mapped by the port. */
struct vsw_vhost_region {
	uint64_t gpa, size, uva; /* as the VMM described it */
	uint8_t *host;           /* = map + mmap_offset */
	void *map;               /* the whole mapping, from file offset 0 */
	size_t map_size;
};
/*
 * Maps region `r` (gpa, size, uva set by the caller) from `mmap_offset` of `fd`
 * (not taken: the caller closes it). Seals a sealable memfd against shrinking
 * first (*sealed: the file cannot shrink now, by us or its creator), checks the
 * file holds the region, and registers the mapping with the SIGBUS guard: a fault
 * in it (an unsealed file shrank) maps zero pages over the whole mapping, stores 1
 * to *fault and writes 1 to eventfd `wake_fd` (-1: none). The guard's handler is
 * installed with the first region, and again if someone replaced it since
 * (chaining to whatever was there). 0 or -errno (-EINVAL bad region, -EBADF not
 * a memfd, tmpfs or hugetlbfs file, -ENOSPC guard table full); on error nothing
 * is left mapped.
 */
int vsw_vhost_region_map(struct vsw_vhost_region *r, int fd, uint64_t mmap_offset, int *fault,
			 int wake_fd, bool *sealed);
/* Unregisters and unmaps `r` (mapped by vsw_vhost_region_map). */
void vsw_vhost_region_unmap(struct vsw_vhost_region *r);
/* Whether `fd` is an eventfd (true when it cannot tell: /proc not mounted). */
bool vsw_vhost_fd_is_eventfd(int fd);

#endif /* PVNET_VSW_PRIVATE_H */
