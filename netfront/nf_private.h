/* SPDX-License-Identifier: MIT */
/*
 * netfront private state: one nf_vif per vif, one nf_queue per negotiated
 * queue. See include/pvnet/netfront.h for the threading and protocol rules.
 */
#ifndef PVNET_NF_PRIVATE_H
#define PVNET_NF_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <pvnet/event_channel.h>
#include <pvnet/grant_table.h>
#include <pvnet/io/netif.h>
#include <pvnet/netfront.h>

#define MOD "netfront"

/* tx_state[] of a TX pool page (NF_TX_ACCEL: on the NIC queue pair, accel.c) */
enum { NF_TX_FREE = 0, NF_TX_FIRST = 1, NF_TX_FRAG = 2, NF_TX_ACCEL = 3 };

struct nf_accel; /* accel.c: the guest half of NIC Levels 2-3 */

struct nf_queue {
	struct nf_vif *vif;
	unsigned idx;

	/* Frames and refs, allocated once for the life of the process. */
	uint64_t tx_ring_pfn, rx_ring_pfn;
	grant_ref_t tx_ring_ref, rx_ring_ref;
	uint8_t *tx_pages; /* NF_TX_POOL contiguous pages */
	uint8_t *rx_pages; /* NF_RX_POOL contiguous pages, page i <-> RX slot i */
	uint64_t tx_pool_pfn, rx_pool_pfn;
	grant_ref_t tx_ref_base, rx_ref_base;

	/* Per connection. */
	struct netif_tx_front_ring tx;
	struct netif_rx_front_ring rx;
	evtchn_port_t tx_port, rx_port;
	int tx_wait, tx_notify, rx_wait, rx_notify; /* -1 when closed */
	int tap_fd;  /* queue 0: the vif's fd (borrowed); others owned */
	int stop_fd; /* eventfd that wakes the thread to stop */
	int wait_ep; /* TAP mode: the queue thread's epoll set (datapath.c), else -1 */
	pthread_t thread;
	bool thread_running;
	volatile int stop;

	/* Data-path state, touched only by the queue thread while it runs. */
	uint16_t tx_free[NF_TX_POOL];
	unsigned tx_nfree;
	uint8_t tx_state[NF_TX_POOL];
	int64_t poll_ns; /* idle busy-poll before sleeping; < 0: never sleep (polling mode) */
	bool broken;
	bool rx_incomplete;              /* last RX burst stopped in the middle of a packet */
	uint16_t tx_app_len[NF_TX_POOL]; /* pktgen/sink: frame the app last wrote per page */
	uint8_t *app_lin;                /* pktgen/sink: linear copy of a multi-slot RX frame */
	struct nf_accel *acc;            /* queue 0 of a tap vif: the NIC fast path, else NULL */

	/* Counters (written by the queue thread, read after it stopped). */
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
	uint64_t tx_gso_pkts, rx_gso_pkts, tx_notify_count, rx_notify_count, wakeups;
	uint64_t sleeps; /* times the thread gave up polling and slept */
	uint64_t drops[NF_DROP__COUNT];
};

struct nf_vif {
	struct hvc *hv;
	struct xs_client *xs;
	struct nf_alloc *alloc;
	domid_t domid, backend_id;
	unsigned devid;
	char fe[96], be[128], token[24], ifname[16];
	uint8_t mac[6];
	unsigned mtu;
	struct nf_vif_params params; /* mode, pktgen size/rate/destination */
	const struct nf_app_ops *app;
	void *app_arg;
	int tap_fd;           /* queue 0's fd; keeps the device alive across reconnects */
	struct nf_accel *acc; /* tap vifs: NIC Levels 2-3 state (accel.c), kept for life */

	unsigned nr_queues;                /* negotiated for the current connection */
	struct nf_queue *q[NF_MAX_QUEUES]; /* allocated on first use, kept */
	bool gso_v4, gso_v6, sg;

	int fe_state;   /* what we last wrote to our state node */
	bool connected; /* keys written, resources live */
	bool running;   /* data threads started */
	bool ever_ran;  /* a connection reached Connected: reconnect after Closed is sane */
	int be_seen;    /* the backend state the last event showed (0: none yet) */
	bool shutting_down;
	bool removing; /* the backend said online = 0: the toolstack removes the device */

	/* Totals of past connections (queues are reset on reconnect). */
	uint64_t tot[4];
	uint64_t tot_drops[NF_DROP__COUNT];
};

/* datapath.c */
void nf_queue_reset(struct nf_queue *q);
void nf_notify(int fd, uint64_t *count);
void nf_queue_broken(struct nf_queue *q, const char *why);
unsigned nf_tx_reclaim(struct nf_queue *q);
void nf_rx_refill(struct nf_queue *q, bool do_notify);
bool nf_final_check(struct netif_rx_front_ring *rx, struct netif_tx_front_ring *tx,
		    bool rx_incomplete, bool tx_inflight);
void nf_drain_eventfd(int fd);

/*
 * Busy-poll window of a TAP queue thread after its last work, from the
 * environment of pvnet-guest (inherited from pvnetd): PVNET_NF_POLL_US=<us>,
 * or "always" for polling mode (never sleep; burns a core per queue).
 */
#define NF_POLL_US_DEFAULT 0
int64_t nf_poll_ns_from_env(void);

/*
 * accel.c: NIC Levels 2-3, the guest half (see the file's header comment).
 * Control thread: create (once per tap vif: allocates the RX pool), grant (at
 * each connect, before the keys), write_keys (inside the connect transaction:
 * accel-tx-pool / accel-rx-pool = "<first ref> <count>"), update (on every
 * backend-dir watch: accel-frontend / accel-qp / accel-local-macs), disconnect
 * (after the queue threads stopped), destroy.
 * Queue 0's thread: poll (per loop: hand-over, TX completions, RX to the TAP),
 * tx (offer one frame read from the TAP into the top tx_free pages: true = it
 * is on the qp), tx_flush (once per burst: publish + doorbell), pending (before
 * sleeping: arms the qp's interrupt and looks again; true = work after all, do not
 * sleep) and wait_fd (the fd to sleep on; arms the interrupt if pending did not).
 */
#define NF_ACCEL_RX_POOL 512      /* RX pages of the fast path (power of two): ~30 ms at 200 Mb/s */
#define NF_ACCEL_TX_MAX_PAGES 128 /* TX pool pages the qp may hold (the rings keep the rest) */
/* Busy-poll window of queue 0's thread after its last qp work, before it arms the
 * qp's interrupt and sleeps (PVNET_NF_ACCEL_SPIN_US overrides; 0 = off) */
#define NF_ACCEL_SPIN_US_DEFAULT 0 /* 30 us measured: fewer wake-ups, 3x the instructions */
enum nf_accel_decl {               /* why a frame was declined to the rings */
		     NF_ACCEL_DECL_GROUP,
		     NF_ACCEL_DECL_LOCAL,
		     NF_ACCEL_DECL_DETACHED,
		     NF_ACCEL_DECL_FULL,
		     NF_ACCEL_DECL_GSO,
		     NF_ACCEL_DECL_BIG,
		     NF_ACCEL_DECL__COUNT
};
int nf_accel_create(struct nf_vif *vif, struct nf_alloc *a);
void nf_accel_grant(struct nf_vif *vif);
grant_ref_t nf_accel_rx_ref(const struct nf_vif *vif);
int nf_accel_write_keys(struct nf_vif *vif, uint32_t tx);
int nf_accel_update(struct nf_vif *vif);
void nf_accel_disconnect(struct nf_vif *vif);
void nf_accel_log_stats(const struct nf_vif *vif);
void nf_accel_destroy(struct nf_vif *vif);
unsigned nf_accel_poll(struct nf_queue *q);
bool nf_accel_tx(struct nf_queue *q, const struct virtio_net_hdr *vh, uint32_t len);
void nf_accel_tx_flush(struct nf_queue *q);
bool nf_accel_tx_blocked(const struct nf_queue *q);
int nf_accel_wait_fd(const struct nf_queue *q);
bool nf_accel_pending(const struct nf_queue *q);

/* ---- accel_gro.c: receive coalescing on the NIC fast path (accel.c) -------------
 * Queue 0's thread only. Per burst: nf_gro_merge (true: the frame continues the
 * held super-frame), else nf_gro_finish + write the held one, then nf_gro_start
 * (true: held as the start of a new one; false: write the frame on its own).
 * Held frames are referenced, not copied: they must stay unchanged until
 * nf_gro_finish. nf_gro_finish returns the iovec count (0: nothing held) of
 * virtio_net_hdr + frame in g->iov, and the frame's size in *bytes.
 */
#define NF_GRO_MAX_SEGS 64 /* segments per super-frame (64 KiB / MSS 1024) */
#define NF_GRO_HDR_MAX 128 /* Ethernet + IP + TCP header bytes we copy and compare */
struct nf_gro {
	struct iovec iov[2 + NF_GRO_MAX_SEGS]; /* vnet hdr, headers, payloads */
	struct virtio_net_hdr vh;
	uint8_t hdr[NF_GRO_HDR_MAX]; /* the first segment's headers, patched at finish */
	const uint8_t *first;        /* the first segment (written as is if alone) */
	uint32_t first_len, hdr_len, l4_off, mss, payload, next_seq;
	unsigned nseg;
	bool v6, closed;
	uint64_t frames, super, merged; /* TAP writes, super-frames, segments in them */
};
void nf_gro_reset(struct nf_gro *g);
bool nf_gro_start(struct nf_gro *g, const uint8_t *frame, uint32_t len, bool csum_ok);
bool nf_gro_merge(struct nf_gro *g, const uint8_t *frame, uint32_t len, bool csum_ok);
unsigned nf_gro_finish(struct nf_gro *g, struct iovec **iov, uint32_t *bytes);
/* ---- end of accel_gro.c ---------------------------------------------------------- */

/* app.c: the pktgen/sink data-path thread */
void *nf_app_thread(void *arg);
#define NF_RX_LIN_SIZE (NF_RX_MAX_DATA_SLOTS * 4096u)
int nf_queue_start(struct nf_queue *q);
void nf_queue_stop(struct nf_queue *q);

/* netns.c: TAP and interface setup in the current namespace */
int nf_tap_open(const char *ifname, int *fd);
int nf_tap_set_offload(int fd, unsigned offload);
int nf_if_configure(const char *ifname, const uint8_t mac[6], unsigned mtu);
int nf_if_add_addrs(const char *ifname, const char *ips);
/* Default routes via the space-separated gateway addresses (vif `gateway=`), in
 * the current namespace: as `ip route replace default via GW dev IFNAME`.
 * Returns 0 or the last -errno (each failure is logged). */
int nf_if_add_gateways(const char *ifname, const char *gws);
int nf_if_up(const char *ifname);

#endif /* PVNET_NF_PRIVATE_H */
