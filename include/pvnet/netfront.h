/* SPDX-License-Identifier: MIT */
/*
 * pvnet/netfront.h - the guest half of the paravirtual NIC (netfront), used
 * by pvnet-guest.
 *
 * One struct nf_vif drives one vif of the guest: the xenbus frontend state
 * machine on /local/domain/<d>/device/vif/<n>, a TAP device eth<n> inside the
 * guest's network namespace (IFF_VNET_HDR, multi-queue when more than one
 * queue is negotiated), and one data-path thread per queue moving frames
 * between the TAP and the netif TX/RX rings.
 *
 * Protocol choices (both ends follow them; see docs/architecture.md):
 *   - split event channels (event-channel-tx / -rx), rx-copy only;
 *   - "persistent" buffers (feature-persistent=1): at connect the frontend
 *     grants a fixed pool of its own pages - NF_TX_POOL read-only TX pages and
 *     NF_RX_POOL writable RX pages per queue - and reuses the same refs for the
 *     life of the connection; it never revokes one while connected;
 *   - RX request id = ring slot index, and RX page i belongs to slot i;
 *   - TX request id = index of the TX pool page carrying the fragment.
 *
 * Threading: the nf_vif_* control functions run on ONE thread (pvnet-guest's
 * main loop), which also owns the xs_client. Data-path threads touch only
 * their queue, the shared rings and the TAP; they make no hypercall and take
 * no lock. The hvc handle is shared (it serialises calls itself).
 *
 * Memory: pages come from the guest's own memory (hvc_mem), below
 * hvc_scratch_pfn(), handed out by a struct nf_alloc shared by the guest's
 * vifs; grant refs likewise from GNTTAB_NR_RESERVED_ENTRIES upwards.
 */
#ifndef PVNET_NETFRONT_H
#define PVNET_NETFRONT_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "io/netif.h"
#include "io/vif.h"

struct hvc;
struct xs_client;

#define NF_TX_POOL 256 /* TX pages per queue (one per TX ring slot) */
#define NF_RX_POOL 256 /* RX pages per queue (one per RX ring slot) */
#define NF_MAX_QUEUES 8
#define NF_TX_MAX_DATA_SLOTS 17 /* data slots we ever use for one packet (64 KiB + hdr) */
#define NF_TX_SLOTS_NEEDED (NF_TX_MAX_DATA_SLOTS + 2)     /* 19: data + GSO extra + spare */
#define NF_RX_MAX_DATA_SLOTS (XEN_NETIF_NR_SLOTS_MIN + 1) /* 18 + 1, as Linux netfront */
#define NF_BURST 64                                       /* packets per burst and direction */

/*
 * Frames and grant refs handed out to vifs: bump allocators, plus the queue
 * blocks (2 ring pages + NF_TX_POOL + NF_RX_POOL frames, as many refs) of
 * vifs destroyed on a running guest (hot-plug), reused by the next queue once
 * the backend holds none of their grants any more.
 */
#define NF_ALLOC_FREE_MAX 64 /* blocks kept for reuse; more are left unused */
struct nf_alloc {
	uint8_t *mem;      /* hvc_mem() */
	uint64_t next_pfn; /* next free frame */
	uint64_t end_pfn;  /* hvc_scratch_pfn(): first frame we must not use */
	struct grant_entry_v1 *gnt;
	grant_ref_t next_ref;
	grant_ref_t end_ref;
	unsigned nr_free; /* entries of free_blk[] */
	struct {
		uint64_t pfn;
		grant_ref_t ref;
	} free_blk[NF_ALLOC_FREE_MAX];
};

/*
 * Initialises `a` over the guest's memory and grant table (frames from
 * first_pfn, refs from GNTTAB_NR_RESERVED_ENTRIES). Borrows hv.
 */
void nf_alloc_init(struct nf_alloc *a, struct hvc *hv, uint64_t first_pfn);

struct nf_vif;

/*
 * Creates the frontend of vif `devid` of this guest. Reads the frontend dir
 * (backend path, mac, mtu), the backend's `ip` node, creates eth<devid> in the
 * CURRENT network namespace (the caller has entered the guest's), sets MAC,
 * MTU, addresses, link up, and registers a store watch on the backend dir
 * with token "vif<devid>". Does not connect yet: nf_vif_handle_event() does,
 * when the backend reaches InitWait. Borrows hv, xs and alloc (they must
 * outlive the vif). -ENODEV for a device being removed (backend online = 0).
 * On error nothing is left behind.
 */
int nf_vif_create(struct hvc *hv, struct xs_client *xs, struct nf_alloc *alloc, unsigned devid,
		  struct nf_vif **out);

/* True if `token` is the watch token of this vif. */
bool nf_vif_owns_token(const struct nf_vif *vif, const char *token);

/*
 * Re-reads the backend state and advances the state machine: connect on
 * InitWait, start the data path on Connected, tear down on Closing/Closed or
 * when the backend dir disappears, reconnect when it comes back to InitWait.
 * Returns 0, or -errno on a store/hypercall failure (the vif stays usable).
 */
int nf_vif_handle_event(struct nf_vif *vif);

/*
 * Graceful close: frontend state Closing, wait up to timeout_ms for the
 * backend to close, stop the data path, state Closed, revoke the grants and
 * close the event channels. Idempotent.
 */
void nf_vif_shutdown(struct nf_vif *vif, int timeout_ms);

/* Logs the vif's counters (packets, bytes, drops by reason). */
void nf_vif_log_stats(const struct nf_vif *vif);

/*
 * pvnetd restarts (tools/pvnetd/adopt.c): nf_vif_orphan() when the hypercall
 * socket hung up - stops the data path and forgets the connection (the TAP, its
 * addresses and the sockets on it stay; hypercalls on the dead socket just
 * fail); nf_vif_reattach() once hvc_reattach() succeeded, with the new store
 * client: re-registers the backend watch, whose first event runs the connect
 * sequence again (frontend Initialising, backend InitWait, new rings and ports).
 */
void nf_vif_orphan(struct nf_vif *vif);
int nf_vif_reattach(struct nf_vif *vif, struct xs_client *xs);

/*
 * Stops everything (as nf_vif_shutdown(vif, 0) if still connected), frees; the
 * vif's queue blocks go back to its nf_alloc for reuse. NULL is a no-op.
 */
void nf_vif_destroy(struct nf_vif *vif);

/*
 * The toolstack removed the vif's frontend directory (hot-unplug, `pvnet
 * network-detach`): stops the data path, revokes, logs the counters and
 * destroys the vif (its TAP device goes) without writing to the store, whose
 * nodes are gone. The vif is freed; NULL is a no-op.
 */
void nf_vif_remove(struct nf_vif *vif);

/*
 * True once the backend said the toolstack is removing the device (backend
 * `online` = 0, or the backend directory gone) and the vif closed: its
 * directory is stale even if still listed; a directory listed again later is
 * a new device.
 */
bool nf_vif_removing(const struct nf_vif *vif);

/* The vif's device id (its directory under device/vif). */
unsigned nf_vif_devid(const struct nf_vif *vif);

/*
 * Attachment of a vif: what sits on the guest side of the rings. Read from the
 * frontend node `pvnet-mode` (written by the toolstack from the vif spec
 * `mode=`): "tap" (default, also when the node is absent), "pktgen" or "sink"
 * (enum pvnet_vif_mode, <pvnet/io/vif.h>).
 * In pktgen and sink modes no TAP device is created: the queue threads run
 * the application callbacks below straight on the ring buffers (frames are
 * built in the granted TX pages and read from the posted RX pages), busy-poll
 * while there is work and back off to sleeping on the event channels when
 * idle. Optional frontend nodes of these modes (defaults in brackets):
 *   pvnet-pkt      frame size in bytes [64]; pktgen frames must fit one
 *                  page (60..4096) since each frame is one TX slot
 *   pvnet-pps      packets per second per queue, 0 = as fast as possible [0]
 *   pvnet-dst-mac  generator destination MAC [ff:ff:ff:ff:ff:ff]; the
 *                  environment variable PVNET_PKTGEN_DST of pvnet-guest, when
 *                  set, overrides it (benchmarks that start the guest
 *                  themselves)
 */
/* The modes and their spelling: <pvnet/io/vif.h> (shared with the toolstack). */

/* The vif's attachment and its pktgen parameters, as read at create. */
struct nf_vif_params {
	enum pvnet_vif_mode mode;
	unsigned pkt;   /* frame size, bytes */
	unsigned pps;   /* 0 = as fast as possible */
	uint8_t mac[6]; /* our MAC (frontend `mac`) */
	uint8_t dst_mac[6];
	char ip[64]; /* first address of the backend `ip` node without
			      prefix, "" if none */
};
void nf_vif_get_params(const struct nf_vif *vif, struct nf_vif_params *p);

/*
 * One frame handed to or from an application callback. TX: `data` is a
 * granted TX page of `cap` bytes; on entry `len` is the length of the frame
 * the application last wrote into this very buffer (0 if none: the buffer
 * holds garbage), so a generator may only restamp it; the callback sets
 * `len` (60..cap) for every frame it sends. RX: `data`/`len` is one received
 * frame, valid only during the call (linearised when it spanned slots).
 */
struct nf_app_frame {
	uint8_t *data;
	uint32_t len;
	uint32_t cap;
};

/*
 * Application of a pktgen/sink vif. Both callbacks run on the queue's data
 * thread, once per burst (never per packet), must not block and make no
 * system call they can avoid; one `arg` is shared by all queues, so keep
 * per-queue state indexed by `queue`.
 *   tx_fill: fill up to n frames (frames[i] for i < return value are sent,
 *            in order); return 0 when there is nothing to send now (pacing).
 *            NULL: the vif sends nothing (sink).
 *   rx:      n received frames. NULL: frames are counted and recycled.
 */
struct nf_app_ops {
	unsigned (*tx_fill)(void *arg, unsigned queue, struct nf_app_frame *frames, unsigned n);
	void (*rx)(void *arg, unsigned queue, const struct nf_app_frame *frames, unsigned n);
};

/*
 * Sets the application of a pktgen/sink vif; call before the data path
 * starts (right after nf_vif_create). Borrows ops and arg until
 * nf_vif_destroy(). -EINVAL on a tap vif.
 */
int nf_vif_set_app(struct nf_vif *vif, const struct nf_app_ops *ops, void *arg);

/* Frames per application burst (TX fill and RX delivery). */
#define NF_APP_BURST 32

/*
 * Network namespace of the guest, made the way `ip netns add` does: unshares
 * the CALLING THREAD's network namespace (call it from main() before any
 * thread exists), makes /run/netns a shared mount point, and bind-mounts the
 * new namespace on /run/netns/<name>, and brings its loopback up. -EEXIST if that name exists already
 * (nothing changed); -EINVAL for a name with '/' or "."/"..".
 */
int nf_netns_create(const char *name);
/* Removed with pvnet_netns_remove() (<pvnet/lib.h>), which the toolstack uses too. */

/* ---- Pure helpers of the data path, exposed for unit tests ---- */

/* Drop / error reasons counted per queue. */
enum nf_drop {
	NF_DROP_TX_RUNT,       /* TAP frame shorter than an Ethernet header */
	NF_DROP_TX_BAD_VNET,   /* virtio_net_hdr we cannot express (UDP GSO, gso_size 0...) */
	NF_DROP_TX_TOO_BIG,    /* frame larger than 64 KiB */
	NF_DROP_TX_BROKEN,     /* queue disabled after a backend protocol error */
	NF_DROP_TX_BACKEND,    /* backend answered NETIF_RSP_ERROR/DROPPED */
	NF_DROP_RX_BAD_RSP,    /* id/offset/size invalid, or too many slots */
	NF_DROP_RX_BACKEND,    /* response status < 0 */
	NF_DROP_RX_BAD_EXTRA,  /* missing/unknown extra info */
	NF_DROP_RX_CSUM_SETUP, /* csum_blank/GSO on a frame whose L4 header we cannot find */
	NF_DROP_RX_TAP_WRITE,  /* writev to the TAP failed */
	NF_DROP__COUNT
};
const char *nf_drop_name(enum nf_drop d);

/*
 * virtio_net_hdr (from the TAP) -> netif TX flags for slot 0, and the GSO
 * extra when *has_extra is set. Returns 0, or -EOPNOTSUPP for a header netif
 * cannot carry (UDP/ECN GSO, GSO with gso_size 0, unknown flags/types).
 * gso_sv4/gso_v6 say whether the backend offered feature-gso-tcpv4/-tcpv6.
 */
int nf_tx_flags_from_vnet(const struct virtio_net_hdr *vh, bool gso_v4, bool gso_v6,
			  uint16_t *flags, struct netif_extra_info *extra, bool *has_extra);

/*
 * netif RX flags of the first response, plus the GSO extra (NULL if none) ->
 * virtio_net_hdr for the TAP. `frame` holds the first `len` bytes of the
 * packet (at least its headers): csum_start/offset and hdr_len come from
 * pvnet_l4_locate. Returns 0, or -EINVAL when csum/GSO metadata cannot be
 * set up (unknown GSO type, headers not found): drop the packet.
 */
int nf_vnet_from_rx(uint16_t rx_flags, const struct netif_extra_info *gso, const uint8_t *frame,
		    uint32_t len, struct virtio_net_hdr *vh);

/*
 * Validates a privately copied RX response for ring slot `slot_id`: id must
 * equal slot_id, status >= 0 and offset + status <= 4096. Returns 0,
 * -EIO for status < 0 (backend error: drop), -EPROTO for a malformed one.
 */
int nf_rx_rsp_check(const struct netif_rx_response *rsp, uint16_t slot_id);

#endif /* PVNET_NETFRONT_H */
