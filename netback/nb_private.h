/* SPDX-License-Identifier: MIT */
/*
 * netback private state. Who touches what:
 *
 *   control thread  struct nb (vifs list), struct nb_vif (xenbus fields), connect /
 *                   disconnect, stats snapshots.
 *   owner worker    a queue's TX side (tx_cons, the request copy, the burst) and the
 *                   queue's RX event handling; one worker owns a queue while it is in
 *                   that worker's set (worker->lock: the worker holds it across its polling rounds
 *                   and hands it over when a control call raises ctl_want).
 *   any worker      a queue's RX ring and pending list, under rxq.lock (once per burst).
 *   any thread      TX completions (struct nb_txc): lock-free, see tx.c.
 */
#ifndef NB_PRIVATE_H
#define NB_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvnet/io/netif.h>
#include <pvnet/lib.h>
#include <pvnet/netback.h>
#include <pvnet/pkt.h>

#define NB_MOD "netback"
#define NB_TX_RING NET_TX_RING_SIZE /* 256 */
#define NB_RX_RING NET_RX_RING_SIZE /* 256 */
#define NB_BURST PVNET_BATCH_MAX    /* 32 */
#define NB_VIF_HASH 1024            /* buckets of nb->vif_hash (power of 2) */
#define NB_TX_HEAD_MAX (PVNET_PKT_HDR_SIZE - PVNET_PKT_HEADROOM) /* header bytes copied */

/* ---- the pure TX validator (tx_parse.c) ---------------------------------------- */

enum nb_tx_verdict {
	NB_TX_OK = 0,    /* a packet to forward */
	NB_TX_DROP = 1,  /* consume nr_slots, answer data slots ERROR, extras NULL */
	NB_TX_FATAL = 2, /* the ring is broken: disable the vif */
	NB_TX_MCAST = 3, /* a multicast-control request: slot 0 OKAY, extras NULL */
};

enum nb_tx_fatal {
	NB_TXF_NONE = 0,
	NB_TXF_CHAIN_TRUNCATED, /* more_data/extra chain runs past the queued requests */
	NB_TXF_TOO_MANY_SLOTS,  /* >= 22 data slots */
	NB_TXF_PAGE_OVERFLOW,   /* offset + size > 4096 */
	NB_TXF_EXTRA_TYPE,      /* extra type 0 or >= MAX */
	NB_TXF_GSO_SIZE,        /* GSO extra with size 0 */
	NB_TXF_GSO_TYPE,        /* GSO extra with an unknown type */
	NB_TXF_PROD_OVERFLOW,   /* req_prod impossibly far ahead (tx.c) */
	NB_TXF__MAX
};
const char *nb_tx_fatal_name(unsigned f);

/* Data slots accepted (1 + XEN_NETIF_NR_SLOTS_MIN), dropped up to, fatal from. */
#define NB_TX_MAX_DATA_SLOTS (1 + XEN_NETIF_NR_SLOTS_MIN) /* 19 */
#define NB_TX_FATAL_DATA_SLOTS 22

/*
 * One packet as laid out on the ring, relative to reqs[0]: slot 0 is the first data
 * slot, slots [1, 1 + nr_extras) are extras, slots [1 + nr_extras, nr_slots) are the
 * further data slots.
 */
struct nb_tx_desc {
	unsigned nr_slots; /* ring slots the packet occupies (consume them all) */
	unsigned nr_extras;
	unsigned nr_data;    /* data slots, including slot 0 */
	uint32_t len;        /* slot 0's size: the whole packet */
	uint16_t first_size; /* bytes in slot 0 itself */
	uint16_t flags;      /* slot 0's NETTXF_* */
	uint8_t gso_type;    /* XEN_NETIF_GSO_TYPE_*, 0 without a GSO extra */
	uint16_t gso_size;
	unsigned reason; /* NB_DROP_* (DROP) or NB_TXF_* (FATAL) */
};

/*
 * Validates the packet starting at reqs[0] (private copies of the ring, `avail` >= 1
 * of them queued). Pure: reads only reqs[0 .. avail). Returns enum nb_tx_verdict
 * and fills *d (nr_slots is meaningful for every verdict but FATAL).
 */
int nb_tx_parse(const struct netif_tx_request *reqs, unsigned avail, struct nb_tx_desc *d);

/* ---- in-order TX responses (tx_cmpl.c) ------------------------------------------ */

/*
 * Responses must leave in ring order while packets complete in any order. Each
 * request slot gets its (id, status) when it is consumed and a `ready` flag when
 * its packet completes; nb_cmpl_take() pops the contiguous ready prefix.
 * set/take are called by one thread at a time (the pusher); mark_ready from any.
 */
struct nb_cmpl {
	RING_IDX next;                            /* next ring index to answer (== rsp_prod_pvt) */
	struct netif_tx_response rsp[NB_TX_RING]; /* the response each slot will get */
	uint8_t ready[NB_TX_RING];                /* atomic */
};

void nb_cmpl_init(struct nb_cmpl *c, RING_IDX start);
/* set / set_status / mark_ready run per slot on the data path: inline */
static inline void nb_cmpl_set(struct nb_cmpl *c, RING_IDX idx, uint16_t id, int16_t status)
{
	c->rsp[idx & (NB_TX_RING - 1)] = (struct netif_tx_response){.id = id, .status = status};
}
static inline void nb_cmpl_set_status(struct nb_cmpl *c, RING_IDX idx, int16_t status)
{
	c->rsp[idx & (NB_TX_RING - 1)].status = status;
}
/* Marks n slots from idx complete (release: set() before ready). No fence: the
 * caller orders the ready flags before it examines the pusher's busy flag, once
 * per burst (tx.c). */
static inline void nb_cmpl_mark_ready(struct nb_cmpl *c, RING_IDX idx, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__atomic_store_n(&c->ready[(idx + i) & (NB_TX_RING - 1)], 1, __ATOMIC_RELEASE);
}
bool nb_cmpl_head_ready(const struct nb_cmpl *c);
/* Pops up to max ready responses in ring order into rsp[]; returns the count. */
unsigned nb_cmpl_take(struct nb_cmpl *c, struct netif_tx_response *rsp, unsigned max);
/* The same straight into the shared ring, from ring->rsp_prod_pvt on (which equals
 * c->next), in one pass; does not move rsp_prod_pvt. Returns the count. */
unsigned nb_cmpl_take_ring(struct nb_cmpl *c, struct netif_tx_back_ring *ring);

/* ---- runtime structures ------------------------------------------------------------ */

struct nb;
struct nb_vif;
struct nb_worker;

/* TX completion state; lives until the queue is gone AND its last packet completed. */
struct nb_txc {
	_Alignas(64) uint32_t busy; /* atomic: 1 while a thread pushes; 1 forever once dead */
	uint32_t refs;              /* atomic: 1 for the queue + packets in flight */
	struct netif_tx_back_ring ring;
	int notify_fd;
	uint64_t notifies; /* atomic */
	struct nb_cmpl cmpl;
	/* persist.c (TX grants mapped read-only; the owner worker inserts, any thread
	 * looks up; unmapped when the last reference goes) */
	struct nb_pmap *pmap;
};

struct nb_pending {
	struct pvnet_pkt *pkt;
	uint16_t tci;
	int16_t share; /* the slot of vif->share charged for it, -1 none */
	uint64_t t_ns; /* enqueue time */
};

/*
 * A domain's share of the shared packet pools (rx.c). Every packet waiting in one
 * of the domain's RX queues holds a buffer of some pool: an uplink's, VXLAN's,
 * vhost-user's (a LOCAL packet of pool P), or a slot of the sender's TX ring (a
 * GRANT packet from domain S: its response waits for every egress). Each such
 * pool -- (P, none) or (netback's pool, S) -- is a key; the domain may hold at most
 * rx-share-pct percent of the key's capacity (pool size, or NB_TX_RING slots),
 * at least one packet. Frames beyond it are dropped as rx_share at enqueue, so a
 * guest that stops posting RX buffers never starves a pool every other guest
 * needs. One per domain with a vif, shared by its vifs and queues; `lock` nests
 * inside a queue's rx_lock and is taken once per burst.
 */
#define NB_SHARE_SLOTS 32
#define NB_RX_SHARE_PCT_DEFAULT 25
struct nb_share {
	struct nb_share *next; /* nb->shares, control thread */
	domid_t domid;
	unsigned refs; /* vifs of the domain (control thread) */
	unsigned pct;  /* percent of each key's capacity */
	pthread_mutex_t lock;
	struct nb_share_slot {
		const void *pool; /* NULL: free (held == 0) */
		uint32_t src;     /* sender domid for GRANT packets, UINT32_MAX for LOCAL */
		uint32_t held;    /* packets pending */
		uint32_t cap;     /* the share: max(1, capacity * pct / 100) */
	} slot[NB_SHARE_SLOTS];
};
/* netback.c, control thread: the domain's share (created with refs 1) or NULL on ENOMEM. */
struct nb_share *nb_share_get(struct nb *nb, domid_t domid);
void nb_share_put(struct nb *nb, struct nb_share *s);

struct nb_queue {
	struct nb_vif *vif;
	unsigned index;
	struct nb_worker *worker;

	/* TX: owner worker only */
	_Alignas(64) RING_IDX tx_cons;
	struct nb_txc *txc;
	void *tx_page; /* mapped ring page */
	grant_handle_t tx_handle;
	evtchn_port_t tx_port; /* dom0's bound port */
	int tx_wait_fd;
	int txc_notify_fd; /* owned here; txc->notify_fd is a copy */
	/* credit scheduler (rate.c), owner worker only */
	uint64_t rate_seen;      /* the vif->rate value last applied */
	uint64_t rate_remaining; /* bytes the queue may still send in this window */
	uint64_t rate_window_ns; /* start of the current credit window */
	uint64_t rate_timer_ns;  /* != 0: stopped until then (the "credit timeout") */
	uint64_t rate_stalls;    /* times a packet did not fit (atomic for readers) */

	/* RX: under rx_lock */
	_Alignas(64) pthread_mutex_t rx_lock;
	struct netif_rx_back_ring rx;
	void *rx_page;
	grant_handle_t rx_handle;
	evtchn_port_t rx_port;
	int rx_wait_fd, rx_notify_fd; /* rx_notify_fd may equal txc->notify_fd (one channel) */
	bool shared_evtchn;
	struct nb_pending *pend; /* ring buffer of NB_RX_QUEUE_MAX_PKTS */
	unsigned pend_head, pend_count;
	uint64_t pend_bytes;
	uint32_t accel_lend;     /* atomic: Level 1 lends posted requests to the NIC (accel.c) */
	struct gnttab_copy *ops; /* scratch for one RX burst */
	uint8_t *stage;          /* tagged heads for one RX burst */

	/* epoll sources (data.ptr points at these) */
	struct nb_evsrc {
		struct nb_queue *q;
		int kind; /* 0 tx, 1 rx */
	} ev_tx, ev_rx;

	/* persist.c: RX grants mapped writable, under rx_lock; unmapped by nb_rxq_fini */
	struct nb_pmap *rx_pmap;

	/* rx.c (speed round 3): while packets are pending, the req_prod the guest must
	 * reach before a drain can deliver the head packet (written under rx_lock,
	 * read lock-free by the owner worker to skip rounds that cannot progress) */
	uint32_t rx_want; /* atomic */

	/* worker.c (polling mode): the vif's `pvnet-poll` backend node, read at attach:
	 * 0 = event mode, < 0 = polling mode (never sleep), > 0 = busy-poll window (ns) */
	int64_t poll_ns;
};

struct nb_vif {
	struct nb_vif *next;
	struct nb_vif *prev;  /* xenbus.c: nb->vifs is doubly linked (O(1) removal) */
	struct nb_vif *hnext; /* xenbus.c: nb->vif_hash chain (by domid) */
	struct nb_vif *dnext; /* xenbus.c: nb->dirty list while dirty */
	struct nb *nb;
	domid_t domid;
	unsigned handle;
	char be_path[96];
	char fe_path[96];
	char name[VSW_NAME_MAX];
	char bridge_name[VSW_NAME_MAX];
	char mac[18];
	int be_state, fe_state;
	bool connected;
	bool seen;  /* rescan mark */
	bool dirty; /* xenbus.c: a watch event named this vif; updated at the next nb_process */
	unsigned max_queues; /* the backend's `queues` node (the vif's queues=), capped */
	uint32_t disabled;   /* atomic: set by a worker on a fatal error */
	uint32_t fatal_reported;
	char last_error[96];
	char accel_note[96]; /* control thread: its accelerator, or why it has none (vif-list) */
	unsigned features;
	unsigned nr_queues;
	struct nb_queue *queues;
	struct nb_share *share; /* the domain's RX share (vif_create .. vif_free) */
	struct vsw_bridge *br;
	struct vsw_port *port;
	/* `rate` node: credit bytes << 32 | interval usec, 0 = unlimited. Written by the
	 * control thread, read by the workers once per burst (relaxed: a stale value for
	 * one burst is harmless). */
	uint64_t rate;

	/* counters, relaxed atomics added per burst */
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t drops[NB_DROP__MAX];

	/* accelerator (accel.c): set and cleared by the control thread; the RX hooks
	 * read it under queue 0's rx_lock */
	struct nb_accel_vif *accel;
};

struct nb_worker {
	struct nb *nb;
	unsigned index;
	pthread_t thread;
	bool started;
	int epfd;
	int kick_fd;
	pthread_mutex_t
		lock; /* held while a polling round runs; control takes it to change the set */
	struct nb_queue **queues;
	unsigned nr_queues, cap_queues;
	uint32_t stop; /* atomic */
	uint64_t rounds, sleeps;
	/* worker.c (speed round 3): the worker holds `lock` across its polling rounds;
	 * a thread that wants the set raises ctl_want (atomic), and the worker lets go
	 * of the lock at its next round until ctl_want is back to 0. */
	uint32_t ctl_want;
	/* polling mode (worker.c): the strongest poll_ns of the queues in the set
	 * (< 0 wins, else the longest window), recomputed under `lock` on attach and
	 * detach; polls = idle passes that yielded instead of sleeping */
	int64_t poll_ns;
	uint64_t polls;
};

struct nb {
	struct hv *hv;
	struct xs_store *xs;
	struct vsw_switch *sw;
	struct pvnet_pkt_pool *pool;
	struct nb_worker *workers;
	unsigned nr_workers;
	unsigned next_worker;
	int ctl_fd;
	uint64_t be_watch;
	bool be_watch_set;
	struct nb_vif *vifs;
	/* xenbus.c: watch events only mark what changed (a vif dirty, or the whole
	 * backend tree) and kick ctl_fd; nb_process does the work once per loop turn */
	bool rescan_all;
	bool rescan_some; /* rescan_dom has bits: rescan only those domains */
	uint64_t rescan_dom[(1u << 16) / 64];
	struct nb_vif *vif_hash[NB_VIF_HASH]; /* every vif, by domid: no scan per event */
	struct nb_vif *dirty;                 /* the vifs to update at the next nb_process */
	bool kicked;                          /* ctl_fd written since the last nb_process */
	uint64_t watch_events;                /* events seen */
	uint64_t rescans;           /* rescans of the backend tree (all of it, or one domain) */
	uint64_t vif_updates;       /* vif_update calls (one per dirty vif per turn) */
	struct nb_accel *accel;     /* accel.c: NICs, NULL until the first one */
	struct nb_share *shares;    /* per-domain RX shares (control thread) */
	unsigned rx_share_pct;      /* for new shares: nb_set_rx_share_pct, default 25 */
	struct quota_ledger *quota; /* atomic pointer: rx_share drops noted there (nb_set_quota) */
};

/* netback.c */
static inline void nb_add(uint64_t *ctr, uint64_t v)
{
	if (v)
		__atomic_fetch_add(ctr, v, __ATOMIC_RELAXED);
}
/* Worker side of a fatal error: disables the vif and wakes the control thread. */
void nb_vif_fatal(struct nb_vif *vif, const char *why);

/* worker.c */
int nb_workers_start(struct nb *nb, unsigned n);
void nb_workers_stop(struct nb *nb);
int nb_worker_attach(struct nb_worker *w, struct nb_queue *q);
void nb_worker_detach(struct nb_worker *w, struct nb_queue *q);
/* Parses a `pvnet-poll` node value (not NUL-terminated, `len` bytes): "on" -> -1,
 * "off" -> 0, microseconds 1..1000000 -> the window in ns. 0 or -EINVAL. */
int nb_poll_parse_node(const char *s, size_t len, int64_t *ns);

/* tx.c */
int nb_txc_create(struct nb_txc **out);
void nb_txc_put(struct nb_txc *c);
/* Marks the completion state dead (no more ring access) and drops the queue's ref. */
void nb_txc_kill(struct nb_txc *c);
void nb_txc_push(struct nb_txc *c);
/* One TX burst of queue q (owner worker). Returns work done (slots consumed). */
unsigned nb_tx_burst(struct nb_queue *q);
/* Are TX requests pending (after arming req_event)? */
bool nb_tx_final_check(struct nb_queue *q);

/* rate.c */
#define NB_RATE_MAX_BURST 131072u /* Xen: max(131072, credit_bytes) */
/* Parses "bytes,usec" (libxl's format) into the packed vif->rate value. 0 or -EINVAL. */
int nb_rate_parse_node(const char *s, size_t len, uint64_t *packed);
/*
 * Owner worker, once per TX burst before the first request: applies a changed rate
 * and the credit timeout. Returns false while the queue is stopped (no credit until
 * q->rate_timer_ns).
 */
bool nb_rate_begin(struct nb_queue *q, uint64_t rate, uint64_t now);
/* A request of `size` bytes: true if it may go (credit taken), false if it does not
 * fit (the timer is armed for the next window; leave it on the ring). */
bool nb_rate_take(struct nb_queue *q, uint64_t rate, uint32_t size, uint64_t now);
/* rx.c */
extern const struct vsw_port_ops nb_vif_port_ops;
int nb_rxq_init(struct nb_queue *q);
void nb_rxq_fini(struct nb_queue *q);
/* RX event / timer: drains pending packets into posted buffers, expires old ones. */
unsigned nb_rx_service(struct nb_queue *q);
/* The RX queue a packet takes on a multi-queue vif: nb_flow_hash(pkt) % nr_queues.
 * Same flow, same hash (addresses, TCP/UDP ports); reads only pkt->data[0, head_size). */
uint32_t nb_flow_hash(const struct pvnet_pkt *pkt);
/* Releases every pending packet (disconnect). */
void nb_rx_purge(struct nb_queue *q);
/* Packets waiting, or (Level 1) posted requests not yet lent to the NIC: a hint
 * read without the lock; nb_rx_service decides under it. Inline: the worker asks
 * it of every queue every polling round. */
static inline bool nb_rx_has_pending(struct nb_queue *q)
{
	if (__atomic_load_n(&q->pend_count, __ATOMIC_RELAXED) != 0)
		return true;
	return __atomic_load_n(&q->accel_lend, __ATOMIC_RELAXED) &&
	       PVNET_RING_READ_ONCE(q->rx.sring->req_prod) != q->rx.req_cons;
}

/* accel.c */
/* Control thread: after a successful connect / before a disconnect. */
void nb_accel_vif_connect(struct nb_vif *vif);
void nb_accel_vif_disconnect(struct nb_vif *vif);
/* vif->rate changed (the `rate` watch): Levels 2-3 reprogram the NIC's limit */
void nb_accel_vif_rate_changed(struct nb_vif *vif, uint64_t packed);
/* Closes every NIC (nb_xenbus_stop, after the vifs are gone). */
void nb_accel_fini(struct nb *nb);
/* RX hooks, called by rx.c with q->rx_lock held: before the software path takes
 * requests (gives back the ones the NIC holds), and when its queue is empty
 * (lends the guest's free requests to the NIC again). */
void nb_accel_rx_reclaim_locked(struct nb_queue *q);
void nb_accel_rx_refill_locked(struct nb_queue *q);

/* xenbus.c */
int nb_xenbus_start(struct nb *nb);
void nb_xenbus_stop(struct nb *nb);
void nb_vif_disconnect(struct nb_vif *vif);

/* ---- persistent grant mappings (persist.c, feature-persistent) ------------------ */

/* mappings per table; beyond it: grant copy. A well-behaved frontend reuses one
 * page per ring slot (256); twice that leaves room for a pool that rotates. With two
 * tables and two ring pages a queue holds at most 2 + 2 x 512 dom0 maps, all charged
 * to the guest's HV_LIMIT_GNT_MAPS. */
#define NB_PMAP_MAX 512
struct nb_pmap;
/* An empty table for `domid`'s grants, mapped read-only or writable. 0 or -ENOMEM. */
int nb_pmap_create(struct hv *hv, domid_t domid, bool writable, struct nb_pmap **out);
/* Unmaps every entry and frees the table; nobody may use it any more. NULL: no-op. */
void nb_pmap_destroy(struct nb_pmap *m);
/*
 * Every table starts with a direct-mapped cache of the refs its inserter looked up
 * last (persist.c fills it): the inserter's per-packet lookup is one compare, no
 * call, no probe. Only the inserter reads or writes it (an entry is two words: a
 * concurrent reader could see a torn pair); other threads use nb_pmap_lookup.
 */
#define NB_PMAP_HINTS 512 /* power of two */
struct nb_pmap_hints {
	struct {
		uint32_t key; /* ref + 1, 0 = empty */
		uint8_t *va;
	} e[NB_PMAP_HINTS];
};
/* Lock-free lookup from any thread while the table lives; NULL if not mapped. */
uint8_t *nb_pmap_lookup(const struct nb_pmap *m, grant_ref_t ref);
uint8_t *nb_pmap_get_slow(struct nb_pmap *m, grant_ref_t ref);
/* dom0 address of `ref`'s page, mapping it on first sight (one inserter at a time);
 * NULL when the map is refused or the table is full (the caller grant-copies). */
static inline uint8_t *nb_pmap_get(struct nb_pmap *m, grant_ref_t ref)
{
	if (m) {
		const struct nb_pmap_hints *h = (const struct nb_pmap_hints *)(const void *)m;
		unsigned i = ref & (NB_PMAP_HINTS - 1);
		if (h->e[i].key == ref + 1 && ref + 1 != 0)
			return h->e[i].va;
	}
	return nb_pmap_get_slow(m, ref);
}
/* The inserter's lookup that never maps: the cache, else nb_pmap_lookup. */
static inline uint8_t *nb_pmap_peek(struct nb_pmap *m, grant_ref_t ref)
{
	const struct nb_pmap_hints *h = (const struct nb_pmap_hints *)(const void *)m;
	unsigned i = ref & (NB_PMAP_HINTS - 1);

	if (h->e[i].key == ref + 1 && ref + 1 != 0)
		return h->e[i].va;
	return nb_pmap_lookup(m, ref);
}
/* tx.c: the sender's TX table of a packet netback took from a guest, else NULL
 * (valid while the caller holds a reference on pkt). */
const struct nb_pmap *nb_tx_pkt_pmap(const struct pvnet_pkt *pkt);

/* ---- speed round 3 (rx.c) ------------------------------------------------------ */

/* Lock-free hint for the owner worker: true if nb_rx_service could deliver or lend
 * something now (pending packets and the guest posted what the head one needs, or
 * Level 1 requests to lend). Expiry is not checked: call nb_rx_service on pending
 * queues before sleeping. */
static inline bool nb_rx_can_progress(struct nb_queue *q)
{
	RING_IDX prod;

	if (__atomic_load_n(&q->pend_count, __ATOMIC_RELAXED) != 0) {
		/* relaxed: a stale hint costs one useless drain or one round of delay */
		prod = PVNET_RING_READ_ONCE(q->rx.sring->req_prod);
		return (int32_t)(prod - __atomic_load_n(&q->rx_want, __ATOMIC_RELAXED)) >= 0;
	}
	return __atomic_load_n(&q->accel_lend, __ATOMIC_RELAXED) &&
	       PVNET_RING_READ_ONCE(q->rx.sring->req_prod) != q->rx.req_cons;
}

#endif /* NB_PRIVATE_H */
