/* SPDX-License-Identifier: MIT */
/*
 * pvnet/netback.h - the dom0 half of the paravirtual NIC, inside pvnetd.
 *
 * Control plane (xenbus): netback watches /local/domain/0/backend/vif in the store.
 * For every <domid>/<handle> directory the toolstack writes it creates a vif,
 * writes its features (feature-sg, feature-gso-tcpv4/6, feature-rx-copy=1,
 * feature-rx-flip=0, feature-split-event-channels=1, multi-queue-max-queues = the
 * backend's `queues` node (the vif's queues=; absent: NB_MAX_QUEUES; capped there),
 * feature-persistent=1) and state=InitWait, then follows the frontend's state
 * (a frontend asking for more queues is refused, as Xen netback refuses it):
 * Initialised/Connected -> map the rings, bind the event channels, add switch port
 * "vif<domid>.<handle>" on the bridge named by the backend's `bridge` node, start
 * the queues, state=Connected. Frontend Closing/Closed or its directory gone ->
 * disconnect. Frontend back to Initialising -> InitWait again (reconnect). The
 * backend directory gone (domain destroyed) -> the vif is freed. Every frontend
 * value is parsed strictly and bounds-checked; a bad one makes the vif Closed
 * with an error node at /local/domain/0/error/backend/vif/<d>/<n>/error (as
 * xenbus_dev_fatal writes it).
 *
 * Data plane: `nr_workers` run-to-completion threads poll the vif queues in
 * bursts of 32 (queue -> worker round robin), spin briefly when idle, then sleep
 * on the queues' event fds with epoll. The queues of one vif enter the switch from
 * their workers at once (no per-vif lock); a multi-queue vif's guest RX queue is
 * chosen per packet by a flow hash (addresses, TCP/UDP ports), so one flow keeps
 * its order on one queue and several flows reach several guest queue threads. Guest TX requests are copied out of the
 * ring once and validated with Linux netback's rules (netback/tx_parse.c); a
 * ring that breaks them fatally (XSA-39/90) disables the vif at once and is
 * disconnected from the control thread. Guest RX: packets are copied head from
 * dom0 memory and tail straight from the sender's grants into the receiver's
 * posted buffers, one grant-copy batch per burst; packets waiting for RX buffers
 * sit in a per-vif queue bounded in bytes (NB_RX_QUEUE_MAX_BYTES) whose packets
 * expire after NB_RX_EXPIRE_MS (XSA-392); what one domain's queues hold of any one
 * shared pool is bounded by its RX share (nb_set_rx_share_pct, drops: rx_share).
 * Store watch events are coalesced: one backend update per vif per control-loop
 * turn (nb_process), however many writes a frontend makes.
 *
 * Threading: nb_create, nb_destroy, nb_process and the stats/listing calls run on
 * pvnetd's control thread (the store's thread). The store callbacks run from
 * xs_store_dispatch on that thread too.
 */
#ifndef PVNET_NETBACK_H
#define PVNET_NETBACK_H

#include <stdbool.h>
#include <stdint.h>

#include <pvnet/hv.h>
#include <pvnet/vswitch.h>
#include <pvnet/xs.h>

#define NB_MAX_QUEUES 4 /* multi-queue-max-queues = min(8, 4) */
#define NB_MAX_WORKERS 64
#define NB_RX_QUEUE_MAX_BYTES                                                                      \
	(4u * 1024 *                                                                               \
	 1024) /* per queue, XSA-392 bound: a ring of 64 KiB GSO packets and a 1 Gb/s 50 ms credit burst */
#define NB_RX_QUEUE_MAX_PKTS 512
#define NB_RX_EXPIRE_MS 2000

/* Why netback dropped a packet (or, for *_fatal, disabled a vif). */
enum nb_drop_reason {
	NB_DROP_TX_FATAL = 0,      /* fatal ring errors (vif disabled); counts events */
	NB_DROP_TX_TOO_MANY_SLOTS, /* 20..21 slots */
	NB_DROP_TX_FRAG_OVERFLOW,  /* a fragment larger than the bytes remaining */
	NB_DROP_TX_ZERO_FRAG,      /* a zero-size fragment after the first */
	NB_DROP_TX_RUNT,           /* first slot shorter than 14 bytes */
	NB_DROP_TX_COPY_ERROR,     /* grant copy of the header failed (bad gref) */
	NB_DROP_TX_CSUM_SETUP,     /* csum_blank/GSO with headers that do not parse */
	NB_DROP_TX_DISABLED,       /* requests answered while the vif is disabled */
	NB_DROP_RX_QUEUE_FULL,     /* RX queue over its byte/packet bound */
	NB_DROP_RX_EXPIRED,        /* waited more than NB_RX_EXPIRE_MS for RX buffers */
	NB_DROP_RX_COPY_ERROR,     /* grant copy into the guest failed (NETIF_RSP_ERROR) */
	NB_DROP_RX_TOO_BIG,        /* needs more slots than the frontend may take */
	NB_DROP_RX_DISABLED,       /* vif disabled or disconnected */
	NB_DROP_RX_SHARE, /* the domain holds its share of the packet's pool (rx-share-pct) */
	NB_DROP__MAX
};

/* "tx_fatal", "tx_too_many_slots", ...; "?" out of range. */
const char *nb_drop_reason_name(unsigned reason);

/* A snapshot of one vif for the CLI. */
struct nb_vif_info {
	domid_t domid;
	unsigned handle;
	char name[VSW_NAME_MAX]; /* "vif<domid>.<handle>" */
	char bridge[VSW_NAME_MAX];
	char mac[18];
	int be_state; /* XenbusState of the backend */
	int fe_state; /* last frontend state read, -1 if none */
	bool connected;
	bool disabled; /* fatal error seen */
	unsigned nr_queues;
	unsigned features; /* NB_FEAT_* the frontend negotiated */
	char last_error[96];
	char accel[96]; /* its NIC accelerator, or why it has none ("": none asked) */
	/* guest -> dom0 (the guest's TX ring) and dom0 -> guest (its RX ring) */
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t rx_queued_bytes, notifies;
	uint64_t drops[NB_DROP__MAX];
};

#define NB_FEAT_SG (1u << 0)
#define NB_FEAT_GSO4 (1u << 1)
#define NB_FEAT_GSO6 (1u << 2)
#define NB_FEAT_CSUM (1u << 3)
#define NB_FEAT_RX_NOTIFY (1u << 4)
#define NB_FEAT_PERSISTENT (1u << 5)

struct nb;

/*
 * Creates netback: a packet pool, `nr_workers` (1..NB_MAX_WORKERS; 0 = 1) worker
 * threads, and the store watch on /local/domain/0/backend/vif. hv, xs and sw stay
 * the caller's and must outlive the netback. 0 or -errno (nothing left behind).
 */
int nb_create(struct hv *hv, struct xs_store *xs, struct vsw_switch *sw, unsigned nr_workers,
	      struct nb **out);
/* Disconnects every vif (switch ports removed, grants unmapped, ports closed),
 * stops the workers, removes the watch. NULL is a no-op. */
void nb_destroy(struct nb *nb);

/* An eventfd the control loop polls: readable when a worker asks the control
 * thread to act (a vif hit a fatal error). Then call nb_process(). */
int nb_ctl_fd(const struct nb *nb);
void nb_process(struct nb *nb);

unsigned nb_nr_workers(const struct nb *nb);

/*
 * RX share of the shared packet pools (rx-share-pct of the ledger, default 25): the
 * packets waiting in one domain's RX queues may hold at most pct percent of any one
 * pool (an uplink's, VXLAN's, vhost-user's buffers, or one sender's TX ring slots),
 * at least one packet; frames beyond it are dropped as rx_share (the vif's drops and
 * the switch port's). 1..100, else -EINVAL. Control thread.
 */
int nb_set_rx_share_pct(struct nb *nb, unsigned pct);
unsigned nb_get_rx_share_pct(const struct nb *nb);
/* The ledger (pvnet/quota.h) in which rx_share drops are noted as refusals of
 * `rx-share-pct` (pvnet info); NULL: none. It must outlive nb or be unset first. */
struct quota_ledger;
void nb_set_quota(struct nb *nb, struct quota_ledger *q);

/* Calls cb with a snapshot of each vif (domid, handle order); stops at the first
 * non-zero return and returns it (-ENOMEM, no call made, if the snapshot array
 * cannot be had). domid < 0: all domains (any number). */
int nb_vif_foreach(struct nb *nb, int domid, int (*cb)(const struct nb_vif_info *vi, void *arg),
		   void *arg);


/* ---- NIC accelerators (netback/accel.c, docs/nic-levels.md) ----------------
 *
 * A NIC is an accelerator device (nic-accel) whose wire is an AF_PACKET socket on a
 * host interface in dom0's namespace. netback drives dom0's side of it:
 *   - the NIC's uplink port: a switch port named after the NIC on its bridge, backed
 *     by a Level-0 port of the device with the default RX queue; its send posts TX
 *     descriptors (checksum / TSO offloads on the NIC), its RX (polled by the switch's
 *     uplink worker on the queue pair's interrupt eventfd) feeds vsw_input.
 *   - per vif, from the backend nodes `accel` (plugin name), `accel-level` (0..3) and
 *     optionally `accel-nic` (NIC name; default: the first NIC opened with that
 *     plugin): Level 0 uses the uplink only. Level 1 gives the vif its own device
 *     port with an RX queue steered by the vif's MAC; netback maps the guest's posted
 *     RX grants once (persistent), registers them as IOVAs (gref << 12) in the port's
 *     IOMMU and posts them to that queue, so unicast from the wire is DMA'd straight
 *     into guest buffers and netback only writes the RX responses. Broadcast,
 *     multicast and frames from other guests stay on the software path; when the
 *     software path needs the ring the port is detached, the unused buffers are
 *     taken back, and the port is attached again once the software queue is empty.
 *     A vif with an access VLAN or several queues falls back to Level 0; so does a
 *     vif whose port cannot be allocated (out of ports / VFs), with a log line.
 * Threading: every call below runs on the control thread.
 */
struct accel_registry;

/* The registry the NICs are opened from. Stays the caller's; must outlive nb. */
void nb_accel_set_registry(struct nb *nb, struct accel_registry *reg);

struct nb_nic_args {
	const char *name;    /* NIC and uplink port name, [A-Za-z0-9_.-]{1,15} */
	const char *plugin;  /* accelerator plugin */
	const char *wire;    /* host interface for the wire (AF_PACKET), NULL = no wire */
	const char *bridge;  /* bridge of the uplink port; NULL = "br0" */
	const char *devargs; /* plugin devargs or NULL */
	unsigned vfs;        /* Level-3 VFs, 0 = device default */
};
/* Opens a NIC and adds its uplink port. 0 or -errno with one line in err. */
int nb_nic_add(struct nb *nb, const struct nb_nic_args *args, char *err, size_t errlen);
/* Removes the uplink port and closes the NIC (vifs on it fall back to software).
 * 0 or -ENOENT. */
int nb_nic_del(struct nb *nb, const char *name);
#define NB_NIC_MAX 8 /* NICs open at once (nb_nic_add -ENOSPC beyond) */
/* One NIC, as `pvnet nic list` shows it (pvnetd renders the text and the JSON). */
struct nb_nic_info {
	char name[16];
	char plugin[32]; /* ACCEL_NAME_MAX */
	char wire[16];   /* host interface of the wire, "" if none */
	char bridge[VSW_NAME_MAX];
	unsigned max_vfs;                                      /* --vfs (0: the device's default) */
	uint64_t vfs_in_use, wire_rx_packets, wire_tx_packets; /* the device's counters */
};
/* Fills out[0..max) with the open NICs; returns how many there are (may exceed max). */
int nb_nic_list(struct nb *nb, struct nb_nic_info *out, unsigned max);
/* One line of an ethtool view (pvnetd renders the text and the JSON). */
struct nb_ethtool_item {
	char name[48];  /* ethtool's name; a feature's sub-item starts with a tab */
	uint64_t value; /* statistics: the counter; features: 1 on, 0 off */
	bool fixed;     /* features: cannot be changed ("[fixed]") */
};
#define NB_ETHTOOL_MAX 256 /* items a view has at most (-S: port, device and netback's) */
/*
 * ethtool views of a vif ("vif3.0", its accelerator port; a Level-0 vif shows its
 * NIC's uplink port; a vif without an accelerator what its frontend negotiated and
 * netback's counters) or of a NIC by name (its uplink port, then the device-wide
 * counters as dev_*). what: 'k' (features) or 'S' (statistics: a Level >= 1 vif
 * adds netback's pv_* counters). Fills out[0..max) in ethtool's order and returns
 * how many, -ENOENT (no such vif or NIC), or the plugin's -errno.
 */
int nb_accel_ethtool(struct nb *nb, const char *name, char what, struct nb_ethtool_item *out,
		     unsigned max);
/* `pvnet accel detach|attach VIF`: detach moves the vif to the software path
 * (the rings), attach brings the accelerator back. 0, -ENOENT, -ENODEV,
 * -EOPNOTSUPP (Level 0: the vif has no port of its own). */
int nb_accel_vif_set_attached(struct nb *nb, const char *vif, bool attached);

#endif /* PVNET_NETBACK_H */
