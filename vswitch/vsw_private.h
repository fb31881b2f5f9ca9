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
	unsigned flags;    /* VSW_PORT_F_* */
	bool enabled;      /* read by workers, written under the port-table write lock */
	uint8_t mode;      /* enum vsw_port_mode; changed under the write lock */
	uint16_t vid;      /* access VID, or trunk native VID */
	uint64_t trunk[(VSW_VLAN_MAX + 1 + 63) / 64]; /* allowed tagged VIDs (trunk) */
	char name[VSW_NAME_MAX];

	/* Counters, relaxed atomics, added once per batch. */
	_Alignas(64) uint64_t rx_packets, rx_bytes;
	_Alignas(64) uint64_t tx_packets, tx_bytes;
	uint64_t drops[VSW_DROP__MAX];
};

/* Software TSO output buffers: Ethernet + IPv6 + TCP with options + a 1500-B MTU. */
#define VSW_FALLBACK_BUF_SIZE 2048

struct vsw_bridge {
	char name[VSW_NAME_MAX];
	pthread_rwlock_t lock;                 /* port table + port config, see bridge.c */
	struct vsw_port *ports[VSW_PORTS_MAX]; /* by port number */
	struct vsw_port *active[VSW_PORTS_MAX]; /* dense, port-number order */
	unsigned n_active;
	struct vsw_fdb *fdb;
	uint64_t (*clock_ns)(void *arg);
	void *clock_arg;
	struct pvnet_pkt_pool *fallback;       /* software TSO segments */
	struct vsw_bridge *next;               /* registry list (switch.c) */
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
	VSW_FDB_REFRESHED = 0, VSW_FDB_NEW, VSW_FDB_MOVED, VSW_FDB_FULL, VSW_FDB_STATIC_KEPT
};

struct vsw_fdb_counters {
	uint64_t learned, moves, aged, learn_full;
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

#endif /* PVNET_VSW_PRIVATE_H */
