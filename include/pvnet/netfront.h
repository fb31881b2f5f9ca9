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
 * Protocol choices (both ends follow them; see docs and the issue #3 brief):
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

struct hvc;
struct xs_client;

#define NF_TX_POOL 256 /* TX pages per queue (one per TX ring slot) */
#define NF_RX_POOL 256 /* RX pages per queue (one per RX ring slot) */
#define NF_MAX_QUEUES 8
#define NF_TX_MAX_DATA_SLOTS 17 /* data slots we ever use for one packet (64 KiB + hdr) */
#define NF_TX_SLOTS_NEEDED (NF_TX_MAX_DATA_SLOTS + 2) /* 19: data + GSO extra + spare */
#define NF_RX_MAX_DATA_SLOTS (XEN_NETIF_NR_SLOTS_MIN + 1) /* 18 + 1, as Linux netfront */
#define NF_BURST 64 /* packets per burst and direction */

/* Frames and grant refs handed out to vifs; plain bump allocators. */
struct nf_alloc {
	uint8_t *mem;           /* hvc_mem() */
	uint64_t next_pfn;      /* next free frame */
	uint64_t end_pfn;       /* hvc_scratch_pfn(): first frame we must not use */
	struct grant_entry_v1 *gnt;
	grant_ref_t next_ref;
	grant_ref_t end_ref;
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
 * outlive the vif). On error nothing is left behind.
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

/* Stops everything (as nf_vif_shutdown(vif, 0) if still connected), frees. NULL is a no-op. */
void nf_vif_destroy(struct nf_vif *vif);

/*
 * Network namespace of the guest, made the way `ip netns add` does: unshares
 * the CALLING THREAD's network namespace (call it from main() before any
 * thread exists), makes /run/netns a shared mount point, and bind-mounts the
 * new namespace on /run/netns/<name>, and brings its loopback up. -EEXIST if that name exists already
 * (nothing changed); -EINVAL for a name with '/' or "."/"..".
 */
int nf_netns_create(const char *name);
/* Removes the mount and the file (umount2 MNT_DETACH + unlink). */
int nf_netns_remove(const char *name);

/* ---- Pure helpers of the data path, exposed for unit tests ---- */

/* Drop / error reasons counted per queue. */
enum nf_drop {
	NF_DROP_TX_RUNT,        /* TAP frame shorter than an Ethernet header */
	NF_DROP_TX_BAD_VNET,    /* virtio_net_hdr we cannot express (UDP GSO, gso_size 0...) */
	NF_DROP_TX_TOO_BIG,     /* frame larger than 64 KiB */
	NF_DROP_TX_BROKEN,      /* queue disabled after a backend protocol error */
	NF_DROP_TX_BACKEND,     /* backend answered NETIF_RSP_ERROR/DROPPED */
	NF_DROP_RX_BAD_RSP,     /* id/offset/size invalid, or too many slots */
	NF_DROP_RX_BACKEND,     /* response status < 0 */
	NF_DROP_RX_BAD_EXTRA,   /* missing/unknown extra info */
	NF_DROP_RX_CSUM_SETUP,  /* csum_blank/GSO on a frame whose L4 header we cannot find */
	NF_DROP_RX_TAP_WRITE,   /* writev to the TAP failed */
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
