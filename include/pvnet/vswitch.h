/* SPDX-License-Identifier: MIT */
/*
 * pvnet/vswitch.h - the dom0 software switch: learning L2 bridges with 802.1Q
 * access/trunk ports, processing bursts of packets (struct pvnet_pkt_batch).
 *
 * The switch knows no device. A port is a name, a `struct vsw_port_ops` and an
 * opaque `priv` (the Open vSwitch netdev-provider model): netback implements VIF
 * ports (named "vif<domid>.<n>"), other modules TAP / AF_PACKET / VXLAN / pcap.
 *
 * Data path:  vsw_input(bridge, ingress, batch)
 *   parse (pvnet/pkt_parse.h: Ethernet and every VLAN tag; the outer tag, any TPID,
 *   is popped into pkt->vlan_tci; bad source MACs, 802.1D link-local destinations
 *   and double tags on access ports are dropped, see docs/security.md "Frames")
 *   -> classify into
 *   a VLAN by the ingress port's mode -> learn (VLAN, source MAC) -> port -> look up
 *   the destination -> group the burst by egress port -> call each egress port's
 *   send() once per group with the per-packet tag to insert. Broadcast, multicast
 *   and unknown unicast flood to every other port of the VLAN; nothing goes back out
 *   of its ingress port. Every packet is delivered or counted as dropped with a
 *   reason on a port (enum vsw_drop_reason).
 *
 * Accounting (what the tests check): for each ingress packet, either one ingress
 * drop is counted on the ingress port, or it reaches k >= 1 egresses, each of which
 * counts it as tx_packets or as a drop on the egress port (egress_full, no_offload).
 *
 * Concurrency and the choices made:
 * - vsw_input() may run concurrently on several threads, for different ingress
 *   ports of the same bridge and for one ingress port too (the queues of a
 *   multi-queue vif, each on its own worker): per ingress port it only reads the
 *   port's configuration and adds to its counters atomically; the mirror and the
 *   FDB have their locks.
 * - Control calls (port add/del/config, FDB add/del/flush/age, stats) may run on
 *   any thread concurrently with vsw_input().
 * - The port table is read under a bridge rwlock taken once per batch (read side,
 *   writer-preferring, so control calls cannot starve). vsw_port_del() takes the
 *   write side: when it returns, no worker can still be inside a send() of that
 *   port, and its FDB entries are gone. Cost: one atomic RMW per 32 packets.
 * - The FDB (MAC table) is one hash table with a mutex taken once per batch for
 *   all learning and look-ups of that batch, never per packet. With the 1-2
 *   workers of DESIGN §5 that is two uncontended lock operations per 32 packets; a
 *   per-bucket seqlock read side is the upgrade if profiles ever show contention.
 * - Counters are per port, aggregated per batch and added with relaxed atomics.
 * - send() of an egress port may be called by several workers at once (two
 *   ingress ports flooding to it); the port serialises internally. send() must not
 *   call vsw_input() on the same bridge synchronously.
 */
#ifndef PVNET_VSWITCH_H
#define PVNET_VSWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvnet/pkt.h>

#define VSW_NAME_MAX 32    /* bridge and port names, with the NUL */
#define VSW_PORTS_MAX 1024 /* ports per bridge */
#define VSW_VLAN_MAX 4094  /* valid VIDs are 1..4094; 0 = untagged / no VLAN */
#define VSW_FDB_DEFAULT_MAX 8192
#define VSW_FDB_DEFAULT_AGEING_NS (300ull * 1000000000ull) /* 300 s, like Linux bridge */

struct vsw_switch;
struct vsw_bridge;
struct vsw_port;

/* Why a packet (or one egress copy of it) was dropped. */
enum vsw_drop_reason {
	VSW_DROP_INVALID_FRAME = 0, /* shorter than 14 B, or a VLAN tag cut short */
	VSW_DROP_VLAN_MISMATCH,     /* VID not allowed on the ingress/egress port */
	VSW_DROP_INGRESS_DISABLED,  /* ingress port administratively down */
	VSW_DROP_LOOP,              /* destination learned on the ingress port */
	VSW_DROP_NO_PORT,           /* flood with no other member port in the VLAN */
	VSW_DROP_EGRESS_FULL,       /* egress send() did not accept it */
	VSW_DROP_NO_OFFLOAD,        /* egress lacks an offload and software fallback failed */
	VSW_DROP_SPOOFED_MAC,       /* anti-spoofing: source MAC is not the port's */
	VSW_DROP_SPOOFED_IP,        /* anti-spoofing: IPv4/IPv6 source not configured */
	VSW_DROP_SPOOFED_ARP,       /* anti-spoofing: ARP sender MAC/IP not the port's */
	VSW_DROP_SPOOFED_ND,     /* anti-spoofing: NA / DAD-NS target or ND lladdr option foreign */
	VSW_DROP_BAD_SRC_MAC,    /* source MAC all-zero or multicast/broadcast: never learnt */
	VSW_DROP_LINK_LOCAL,     /* IEEE 802.1D reserved group 01:80:c2:00:00:0X: never forwarded */
	VSW_DROP_DOUBLE_TAGGED,  /* access port: a VLAN tag inside the outer/priority tag */
	VSW_DROP_BAD_HEADERS,    /* truncated or malformed L3/L4 headers the switch must read */
	VSW_DROP_RX_SHARE,       /* destination's share of a shared packet pool exhausted */
	VSW_DROP_UNKNOWN_REMOTE, /* tunnel datagram from a peer that is not a configured remote */
	VSW_DROP_SPOOFED_DHCP, /* anti-spoofing: DHCPv4 (UDP 67->68) / DHCPv6 (547->546) server message */
	VSW_DROP__MAX
};

/* "invalid_frame", "vlan_mismatch", ...; "?" for out-of-range values. */
const char *vsw_drop_reason_name(enum vsw_drop_reason reason);

/* Offloads an egress port accepts (vsw_port_add flags). Without them the switch
 * finishes checksums / segments TCP in software before send(). */
#define VSW_PORT_F_CSUM (1u << 0) /* accepts PVNET_PKT_F_CSUM_BLANK packets */
#define VSW_PORT_F_TSO4 (1u << 1) /* accepts PVNET_GSO_TCPV4 packets */
#define VSW_PORT_F_TSO6 (1u << 2) /* accepts PVNET_GSO_TCPV6 packets */
#define VSW_PORT_F_ALL (VSW_PORT_F_CSUM | VSW_PORT_F_TSO4 | VSW_PORT_F_TSO6)
/* Every port must be able to read a PVNET_PKT_SRC_GRANT packet's tail (copy it from
 * src.frags with the hv grant-copy API, or vsw_pkt_linearize). A grant-backed packet
 * that needs software checksum/TSO for an egress without the offload is linearised
 * through the tail reader (vsw_tail_reader_set) first; without a reader, or when the
 * frame does not fit the fallback buffers, it is dropped there as no_offload. */

/* Device counters a port may report beyond the switch's own. */
struct vsw_port_dev_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, rx_errors, tx_errors;
};

struct vsw_port_ops {
	const char *type; /* "vif", "tap", "afpacket", "test", ... */
	/*
	 * Egress, required. The switch passes up to PVNET_BATCH_MAX packets, all for this
	 * port, with batch->vlan_tci[i] the tag to insert (0: untagged). Returns the
	 * number n of packets accepted (0..count), or -errno for none. The port takes
	 * the reference of pkts[0 .. n) and drops it (pvnet_pkt_put) when it has finished
	 * reading each; the switch keeps pkts[n .. count), counts them as egress_full and
	 * releases them. The packets' data must be treated as read-only (shared with
	 * other egresses). May be called by several threads at once.
	 */
	int (*send)(struct vsw_port *port, struct pvnet_pkt_batch *batch);
	/* Optional: device counters. 0 or -errno; missing op: -EOPNOTSUPP. */
	int (*get_stats)(struct vsw_port *port, struct vsw_port_dev_stats *stats);
	/* Optional: called once from vsw_port_del()/vsw_destroy() after the port is
	 * unreachable from every worker; frees `priv` if the port owns it. */
	void (*destroy)(struct vsw_port *port);
	/* Optional: one line of device details for `switch show` ("dev=veth0 ifindex=4
	 * ring=..."), NUL-terminated in buf[0..size). Returns the snprintf-style length. */
	int (*describe)(struct vsw_port *port, char *buf, size_t size);
};

/* Bridge configuration; zero fields take the defaults. */
struct vsw_bridge_config {
	unsigned fdb_max_entries; /* default VSW_FDB_DEFAULT_MAX */
	uint64_t fdb_ageing_ns;   /* default VSW_FDB_DEFAULT_AGEING_NS */
	/* Time source for ageing, in ns; default CLOCK_MONOTONIC. Injected by tests. */
	uint64_t (*clock_ns)(void *arg);
	void *clock_arg;
	unsigned fallback_pool_size; /* packets for software TSO; default 256 */
};

/* Bridge-wide counters. */
struct vsw_bridge_stats {
	uint64_t fdb_entries; /* current */
	uint64_t fdb_learned; /* new dynamic entries */
	uint64_t fdb_moves;   /* a MAC seen on another port: entry updated */
	uint64_t fdb_aged;    /* entries removed by ageing */
	uint64_t
		fdb_learn_full; /* learning skipped: table full of static entries (frame still forwarded) */
	uint64_t flooded;     /* packets flooded (each counted once) */
	uint64_t sw_csum;     /* checksums completed in software */
	uint64_t sw_tso_segs; /* segments produced by software TSO */
	unsigned ports;
	uint64_t fdb_evicted; /* live dynamic entries evicted (port limit or full table) */
};

/* The switch's own view of a port. */
struct vsw_port_stats {
	uint64_t rx_packets, rx_bytes; /* offered to vsw_input on this port */
	uint64_t tx_packets, tx_bytes; /* accepted by this port's send() (bytes on wire) */
	uint64_t drops[VSW_DROP__MAX];
};

/* ---- bridges ---------------------------------------------------------------- */

/* Creates a standalone bridge. `cfg` may be NULL (defaults). Caller owns it. */
int vsw_create(const char *name, const struct vsw_bridge_config *cfg, struct vsw_bridge **out);
/* Deletes every port (their destroy ops run) and the bridge. NULL is a no-op. Call
 * only when no thread is inside vsw_input() on it. */
void vsw_destroy(struct vsw_bridge *br);
const char *vsw_bridge_name(const struct vsw_bridge *br);
void vsw_bridge_get_stats(struct vsw_bridge *br, struct vsw_bridge_stats *stats);

/* ---- the registry: bridges by name (for the daemon and the CLI) -------------- */

int vsw_switch_create(struct vsw_switch **out);
/* Destroys every bridge. NULL is a no-op. */
void vsw_switch_destroy(struct vsw_switch *sw);
/* Returns the bridge `name`, creating it with default config on first use. The
 * switch owns the bridge. 0 or -errno (-EINVAL bad name). */
int vsw_bridge_get_or_create(struct vsw_switch *sw, const char *name, struct vsw_bridge **out);
/* 0, or -ENOENT. */
int vsw_bridge_find(struct vsw_switch *sw, const char *name, struct vsw_bridge **out);
/* Removes and destroys bridge `name` (see vsw_destroy). 0 or -ENOENT. */
int vsw_bridge_del(struct vsw_switch *sw, const char *name);
/* Calls cb for each bridge, in creation order, under the registry lock (cb must not
 * add or delete bridges). Stops at the first non-zero return and returns it. */
int vsw_switch_foreach(struct vsw_switch *sw, int (*cb)(struct vsw_bridge *br, void *arg),
		       void *arg);

/* ---- ports -------------------------------------------------------------------- */

/*
 * Adds a port. `name` is free-form (unique per bridge, < VSW_NAME_MAX), `ops` must
 * outlive the port, `priv` stays the caller's until ops->destroy runs. New ports are
 * enabled, access ports on VLAN 0 (untagged). `flags` = VSW_PORT_F_*.
 * 0, -EINVAL, -EEXIST (name taken), -ENOSPC (VSW_PORTS_MAX), -ENOMEM.
 */
int vsw_port_add(struct vsw_bridge *br, const char *name, const struct vsw_port_ops *ops,
		 void *priv, unsigned flags, struct vsw_port **out);
/*
 * Removes a port: waits for every worker to leave the port table, flushes its FDB
 * entries, then runs ops->destroy and frees it. Safe while other ports forward.
 * Must not be called from inside send(). 0 or -ENOENT.
 */
int vsw_port_del(struct vsw_bridge *br, struct vsw_port *port);
/* 0 or -ENOENT. */
int vsw_port_find(struct vsw_bridge *br, const char *name, struct vsw_port **out);

void *vsw_port_priv(const struct vsw_port *port);
/* An egress port's own drop of n packets it accepted from send() (e.g. a vif over its
 * RX share: rx_share); counted on the port like the switch's drops. Any thread. */
void vsw_port_count_drop(struct vsw_port *port, enum vsw_drop_reason reason, uint64_t n);
const char *vsw_port_name(const struct vsw_port *port);
uint32_t vsw_port_no(const struct vsw_port *port); /* unique in the bridge while it lives */
unsigned vsw_port_flags(const struct vsw_port *port);

/* Administrative state; a disabled port drops ingress (ingress_disabled) and is
 * skipped on egress. */
void vsw_port_set_enabled(struct vsw_port *port, bool enabled);
/* Access port on `vid` (0 = untagged, no VLAN). Tagged ingress frames with a
 * non-zero VID are dropped (vlan_mismatch), frames with a second tag inside the
 * first (any TPID, also a priority tag) as double_tagged; egress is untagged.
 * Flushes the port's dynamic FDB entries. 0 or -EINVAL. */
int vsw_port_set_access(struct vsw_port *port, uint16_t vid);
/* Trunk port carrying `vids[0..n)` tagged, and `native` untagged (0: untagged
 * frames belong to the no-VLAN domain 0). Flushes the port's dynamic FDB entries.
 * 0 or -EINVAL. */
int vsw_port_set_trunk(struct vsw_port *port, uint16_t native, const uint16_t *vids, unsigned n);

void vsw_port_get_stats(struct vsw_port *port, struct vsw_port_stats *stats);
/* Device counters via ops->get_stats; -EOPNOTSUPP if the port has none. */
int vsw_port_get_dev_stats(struct vsw_port *port, struct vsw_port_dev_stats *stats);
/* Calls cb for each port in port-number order, under the port-table read lock (cb
 * must not add or delete ports). Stops at the first non-zero return. */
int vsw_port_foreach(struct vsw_bridge *br, int (*cb)(struct vsw_port *port, void *arg), void *arg);

/* ---- data path ------------------------------------------------------------------ */

/*
 * Switches a burst received on `in` (a port of `br`). Takes ownership of every
 * packet in `batch`, even on failure; batch->count is 0 on return. The packets'
 * head may be modified (VLAN tag popped, checksum completed in software). Returns 0,
 * or -EINVAL (bad arguments: the packets are still released and counted nowhere).
 */
int vsw_input(struct vsw_bridge *br, struct vsw_port *in, struct pvnet_pkt_batch *batch);

/* ---- MAC table ------------------------------------------------------------------ */

struct vsw_fdb_entry {
	uint8_t mac[6];
	uint16_t vlan;
	uint32_t port_no;
	bool is_static;
	uint64_t age_ns; /* time since last seen (0 for static) */
};

/* Adds or replaces a static entry (never aged, never moved by learning). 0, -EINVAL,
 * -ENOSPC (table full). */
int vsw_fdb_add_static(struct vsw_bridge *br, uint16_t vlan, const uint8_t mac[6],
		       struct vsw_port *port);
/* 0 or -ENOENT. */
int vsw_fdb_del(struct vsw_bridge *br, uint16_t vlan, const uint8_t mac[6]);
/* Port number for (vlan, mac) if present and not expired: 0 and *port_no, or -ENOENT. */
int vsw_fdb_lookup(struct vsw_bridge *br, uint16_t vlan, const uint8_t mac[6], uint32_t *port_no);
/* Removes expired dynamic entries now (expired entries are also ignored and
 * reclaimed lazily by the data path). Returns how many were removed. */
unsigned vsw_fdb_age(struct vsw_bridge *br);
/* Removes dynamic entries (and static ones if `statics`) of `port` (NULL: all ports). */
void vsw_fdb_flush(struct vsw_bridge *br, struct vsw_port *port, bool statics);
/* Calls cb with a copy of each live entry (for `pvnet switch fdb`), under the FDB
 * lock: cb must not call back into the bridge. Stops at the first non-zero return. */
int vsw_fdb_dump(struct vsw_bridge *br, int (*cb)(const struct vsw_fdb_entry *e, void *arg),
		 void *arg);
/* A number that changes whenever an entry is learnt, moved, aged out or flushed (any
 * thread; the control plane polls it to report MAC changes at once: OVN VTEP). */
uint64_t vsw_fdb_generation(struct vsw_bridge *br);

/* ---- software offload helpers (vswitch/offload.c) --------------------------------- */

/* The Internet checksum is lib's (pvnet_csum_partial / _finish, <pvnet/lib.h>). */
/*
 * Completes a CSUM_BLANK LOCAL packet: sums [csum_start, len) (the field holding the
 * pseudo-header seed, as virtio/netfront leave it) and stores the result at
 * csum_start + csum_offset; clears CSUM_BLANK, sets DATA_VALIDATED. 0, or -EINVAL
 * (not LOCAL, offsets outside the frame), or 0 with nothing done if not CSUM_BLANK.
 */
int vsw_offload_csum(struct pvnet_pkt *pkt);
/*
 * Software TSO: splits a LOCAL TCPv4/TCPv6 GSO packet (untagged, at `data`) into
 * segments of at most gso_size payload bytes, each a complete LOCAL frame with
 * correct IPv4 header checksum / lengths / ids, sequence numbers, flags (FIN/PSH on
 * the last only, CWR on the first only) and full TCP checksum, allocated from
 * `pool`. Segments inherit vlan, vlan_tci and in_port. Stores them in
 * segs[0..ret); the caller owns one reference on each. `pkt` is not consumed.
 * Returns the number of segments, or -EINVAL (not a valid TCP GSO frame), -ENOBUFS
 * (pool empty or its buffers too small), -ENOSPC (more than `max_segs` segments);
 * on error no segment is left allocated.
 */
int vsw_offload_tso(const struct pvnet_pkt *pkt, struct pvnet_pkt_pool *pool,
		    struct pvnet_pkt **segs, unsigned max_segs);

/* ---- port settings for operators (bridge.c) ---------------------------------------- */

/*
 * Formats one port's switch settings as a single line without a trailing newline,
 * for `pvnet switch show`, e.g.
 *   "vx0 port 3 type=vxlan up mode=trunk native=0 vlans=10,20 offloads=none
 *    mirror=/tmp/m.pcap(12/100) antispoof=mac:00:16:3e:00:00:01,ip:10.0.0.1
 *    vni=42 dstport=4789 local=10.1.0.1 remotes=10.1.0.2 vteps_learned=1"
 * (the tail after the common fields comes from ops->describe). Always
 * NUL-terminates (truncating); returns the length it wanted (snprintf-style).
 * Takes the bridge read lock: fine inside vsw_port_foreach's callback (read locks
 * nest), not while holding the write side.
 */
int vsw_port_format(struct vsw_port *port, char *buf, size_t size);
/* Finds a port by name in any bridge of `sw` (first match, creation order). 0 and
 * *br_out and *port_out, or -ENOENT. The pointers stay valid until the port is deleted. */
int vsw_switch_port_find(struct vsw_switch *sw, const char *port_name, struct vsw_bridge **br_out,
			 struct vsw_port **port_out);

/* ---- anti-spoofing (antispoof.c) ---------------------------------------------------- */

#define VSW_ANTISPOOF_MAX_IPS 16

/* One permitted L3 source address. */
struct vsw_ip_addr {
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; IPv4 uses addr[0..4) */
};

/*
 * Restricts what `port` may send into the bridge (checked at ingress, after VLAN
 * parsing, counted as spoofed_mac / spoofed_ip / spoofed_arp / spoofed_nd):
 * - source MAC must be `mac`;
 * - with n_ips > 0: IPv4 source in the IPv4 list (0.0.0.0 allowed only for DHCP to
 *   UDP port 67), ARP sender MAC = `mac` and sender IP in the list (0.0.0.0 probes
 *   allowed), IPv6 source in the IPv6 list or :: or the EUI-64 link-local of `mac`,
 *   NA targets and DAD (source ::) NS targets in the list, and ND source/target
 *   link-layer options equal to `mac`. A family with no address configured is not
 *   restricted at L3 (only its MAC is). Other ethertypes pass.
 * - no ICMPv6 Router Advertisement or Redirect (RA guard, RFC 6105), whatever is
 *   configured: a port that must route turns anti-spoofing off.
 * - no DHCP server message (DHCP guard): UDP 67 -> 68 over IPv4, 547 -> 546 over
 *   IPv6, behind any tags, whatever is configured: spoofed_dhcp. A port that must
 *   serve DHCP turns anti-spoofing off (xl's `trusted` vif flag is not consulted).
 * - `mac` is this port's alone in its bridge: a frame with it as source MAC from any
 *   other port (an uplink, a VXLAN remote, a TAP, a vif) is dropped as spoofed_mac on
 *   that port and never learnt, so no peer can move the entry away (unless two ports
 *   are given the same `mac`: then neither is protected).
 * mac == NULL disables the filter. Replaces any previous setting. 0 or -EINVAL
 * (multicast mac, n_ips > VSW_ANTISPOOF_MAX_IPS, bad family). Safe at run time.
 */
int vsw_port_set_antispoof(struct vsw_port *port, const uint8_t *mac, const struct vsw_ip_addr *ips,
			   unsigned n_ips);
/* Parses "10.0.0.1" or "fd00::1" into *out. 0 or -EINVAL. */
int vsw_ip_parse(const char *text, struct vsw_ip_addr *out);

/* ---- mirroring and replay (mirror.c) ------------------------------------------------ */

/*
 * Mirrors every frame `port` receives (as offered to vsw_input, before VLAN
 * parsing) and every frame it sends (as accepted by its send(), with the egress
 * tag) to a capture file written with libpcap: pcapng if `path` ends in ".pcapng",
 * pcap otherwise (DLT_EN10MB). `count` > 0 stops after that many frames (the file
 * is then complete and closed); 0 = until vsw_port_mirror_stop(). Grant-backed
 * frames are written with their head only (caplen < len) unless a tail reader is
 * registered (vsw_tail_reader_set). The file is flushed once per burst.
 * Replaces a running mirror. 0 or -errno (-EINVAL, file errors as -EIO/-errno).
 */
int vsw_port_mirror_start(struct vsw_port *port, const char *path, uint64_t count);
/* Stops and closes the mirror; *frames (may be NULL) gets the frames written.
 * 0 or -ENOENT (no mirror). */
int vsw_port_mirror_stop(struct vsw_port *port, uint64_t *frames);
/*
 * Reads a capture (pcap or pcapng) with pcap_open_offline and injects every frame:
 * as_input = false: sent out of `port` (its send(), counted as the port's tx or
 * egress_full, mirrored); true: switched as if received on `port` (vsw_input).
 * Bursts of PVNET_BATCH_MAX; frames larger than the packet buffer are skipped.
 * Runs synchronously. Returns frames injected (>= 0) or -errno (the file's own,
 * e.g. -ENOENT; -EBADMSG: not a capture libpcap reads); *skipped (may be NULL) gets
 * the frames not injected.
 */
int vsw_port_replay(struct vsw_port *port, const char *path, bool as_input, uint64_t *skipped);

/*
 * Sends `batch` out of `port` directly (no switching): counts tx / egress_full on
 * the port and mirrors, like a switched egress. Takes ownership of every packet,
 * even on failure; batch->count is 0 on return. 0 or -EINVAL.
 */
int vsw_port_inject(struct vsw_port *port, struct pvnet_pkt_batch *batch);

/* ---- reading grant-backed tails (for ports that must linearise a frame) ----------------- */

/* Copies the tail of a PVNET_PKT_SRC_GRANT packet, bytes [head_size, len), into dst
 * (size = len - head_size). 0 or -errno. Registered once by netback. */
typedef int (*vsw_tail_read_fn)(void *arg, const struct pvnet_pkt *pkt, void *dst, uint32_t size);
/* Process-wide; NULL disables. Call before ports send grant-backed packets. */
void vsw_tail_reader_set(vsw_tail_read_fn fn, void *arg);
/*
 * Writes the whole frame as it goes on the wire (tag `vlan_tci` inserted when != 0)
 * into dst: head via pvnet_pkt_write_head, tail via the tail reader. Returns the
 * frame size, -ENOSPC (dst_size too small), -EOPNOTSUPP (grant tail, no reader).
 */
int vsw_pkt_linearize(const struct pvnet_pkt *pkt, uint16_t vlan_tci, void *dst, uint32_t dst_size);

/* ---- uplink worker (worker.c) ----------------------------------------------------- */

/*
 * A thread polling uplink RX sources: epoll on their fds, and for each ready one
 * calls poll(arg, PVNET_BATCH_MAX) repeatedly while it returns a full burst
 * (bounded, to stay fair), then sleeps in epoll_wait again. poll() receives up to
 * `budget` frames and hands them to vsw_input; it returns the number received or
 * -errno (logged, rate-limited). Sources are level-triggered.
 */
struct vsw_worker;
typedef int (*vsw_rx_poll_fn)(void *arg, unsigned budget);

/* Starts the thread. `name` (< 16 chars) names it. Caller owns the worker. */
int vsw_worker_create(const char *name, struct vsw_worker **out);
/* Stops and joins the thread; sources still registered are dropped (not called).
 * NULL is a no-op. */
void vsw_worker_destroy(struct vsw_worker *w);
/* Registers fd (EPOLLIN); 0, -EEXIST, -ENOSPC, -errno. */
int vsw_worker_add(struct vsw_worker *w, int fd, vsw_rx_poll_fn poll, void *arg);
/* Unregisters fd; when it returns the worker is not inside, and will not again
 * enter, that source's poll(). Must not be called from poll(). 0 or -ENOENT. */
int vsw_worker_del(struct vsw_worker *w, int fd);
/* Counters: wake-ups and poll calls, for stats. */
void vsw_worker_get_stats(struct vsw_worker *w, uint64_t *wakeups, uint64_t *polls);
/* The switch's shared uplink worker, started on first use, stopped by
 * vsw_switch_destroy after every bridge (so port destroy ops may still use it).
 * 0 or -errno. */
int vsw_switch_uplink_worker(struct vsw_switch *sw, struct vsw_worker **out);

/* ---- device ports (port_afpacket.c, port_tap.c, port_vxlan.c) ----------------------- */

/*
 * Attaches host interface `ifname` (in the caller's network namespace) to `br` as
 * port `ifname` over AF_PACKET: TPACKET_V3 RX ring, TPACKET_V3 TX ring (one sendto
 * per burst), PACKET_QDISC_BYPASS, PACKET_VNET_HDR (GSO / partial-checksum frames
 * pass whole both ways), promiscuous, interface set up. RX is polled by `worker`.
 * Port flags VSW_PORT_F_ALL. 0 or -errno (-ENODEV no such interface).
 * The port owns the socket and rings; vsw_port_del() releases them.
 */
int vsw_afpacket_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *ifname,
			  struct vsw_port **out);
/* AF_XDP uplink settings (port_afxdp.c); all-zero = queue 0, auto mode, auto copy. */
enum vsw_afxdp_mode { VSW_AFXDP_MODE_AUTO = 0, VSW_AFXDP_MODE_SKB, VSW_AFXDP_MODE_DRV };
enum vsw_afxdp_copy { VSW_AFXDP_COPY_AUTO = 0, VSW_AFXDP_COPY, VSW_AFXDP_ZEROCOPY };
struct vsw_afxdp_config {
	uint32_t queue;           /* RX/TX queue of the interface the socket binds to */
	enum vsw_afxdp_mode mode; /* XDP attach: auto = native (drv), else generic (skb) */
	enum vsw_afxdp_copy copy; /* auto = zero-copy if the driver has it (never in skb) */
};
/*
 * Attaches queue cfg->queue of host interface `ifname` to `br` as port `ifname`
 * over an AF_XDP socket: loads a small XDP program redirecting that queue into the
 * socket (other queues: XDP_PASS), UMEM of 4096 x 4 KiB frames, need_wakeup rings;
 * RX polled by `worker`, frames copied into pool packets and out of them. No
 * offloads (port flags 0); frames above 4 KiB are dropped (tx_too_big). Refuses an
 * interface that already has an XDP program. cfg NULL = defaults. 0 or -errno
 * (-ENODEV no such interface, -ERANGE queue out of range, -EBUSY XDP program
 * present, BPF/socket errors); on failure a one-line reason goes to why[0..why_size)
 * (may be NULL). The port owns socket, UMEM and program: vsw_port_del() detaches the
 * program (only if still ours) and releases them.
 */
int vsw_afxdp_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *ifname,
		       const struct vsw_afxdp_config *cfg, char *why, size_t why_size,
		       struct vsw_port **out);
/*
 * Creates (or attaches to) TAP device `ifname` with IFF_VNET_HDR and
 * TUNSETOFFLOAD(csum, TSO4, TSO6), sets it up, and adds it to `br` as port `ifname`.
 * The host stack's frames on the TAP enter the bridge and vice versa. A TAP the
 * port created is deleted with the port. Port flags VSW_PORT_F_ALL. 0 or -errno.
 */
int vsw_tap_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *ifname,
		     struct vsw_port **out);

#define VSW_VXLAN_PORT 4789
#define VSW_VXLAN_MAX_REMOTES 16
#define VSW_VXLAN_HLEN 8 /* the VXLAN header after UDP */

struct vsw_vxlan_config {
	uint32_t vni;             /* 0..2^24-1 */
	uint16_t dstport;         /* 0: 4789 */
	struct vsw_ip_addr local; /* family 0: any, in the remotes' family */
	struct vsw_ip_addr remotes[VSW_VXLAN_MAX_REMOTES]; /* flood list (head-end replication) */
	unsigned n_remotes; /* >= 1; all of one family, that of `local` if set */
};
/*
 * Adds a VXLAN (RFC 7348) port `name` on the UDP socket bound to local:dstport,
 * IPv4 or IPv6 underlay (the family of the addresses), shared by every port bound
 * there (one per VNI: -EEXIST if the VNI is taken on that socket, -EADDRINUSE if
 * another program holds the UDP port). Received datagrams with the I flag and our
 * VNI are accepted only from a configured remote (others: dropped, counted as
 * unknown_remote on the port, nothing learnt), decapsulated into the bridge and
 * their inner source MAC learned to that remote; frames to a learned MAC go to
 * its VTEP, others to every remote. Learned VTEPs age with the bridge's ageing
 * time (vsw_bridge_set_ageing). Sent datagrams carry a UDP source port hashed from
 * the inner flow, in 49152-65535 (a raw socket; without CAP_NET_RAW: dstport,
 * logged). No offloads (the switch checksums / segments first). 0 or -errno
 * (-EAFNOSUPPORT: mixed families).
 */
int vsw_vxlan_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *name,
		       const struct vsw_vxlan_config *cfg, struct vsw_port **out);
/* Encapsulation helpers (exposed for tests): writes the 8-byte VXLAN header for
 * `vni`; parses one, returning 0 and *vni, or -EINVAL (I flag missing, short). */
void vsw_vxlan_encap_hdr(uint8_t hdr[VSW_VXLAN_HLEN], uint32_t vni);
int vsw_vxlan_decap_hdr(const uint8_t *data, size_t size, uint32_t *vni);

/* ---- MAC table limits and ageing (fdb.c, bridge.c) ---------------------------------- */

/*
 * What one port may make the MAC table hold. Every port (guest vif, uplink, VXLAN,
 * TAP) has a limit on the dynamic entries learnt on it: the port's own setting, else
 * the bridge default VSW_FDB_PORT_DEFAULT_MAX (1024). The table as a whole holds
 * fdb_max_entries (VSW_FDB_DEFAULT_MAX, 8192). Learning never stops because a limit
 * was reached (no locked table):
 * - a port at its limit gives up its own oldest dynamic entry for the new MAC
 *   (counted as limit_hits and evicted on that port);
 * - a full table reclaims expired entries, then evicts the oldest dynamic entry of the
 *   port holding the most dynamic entries (the learning port on a tie), so a port
 *   flooding random source MACs only pushes out its own entries.
 * Static entries are never evicted nor aged; they do not count against a port limit.
 * A MAC moving to another port counts against the new port's limit.
 */
#define VSW_FDB_PORT_DEFAULT_MAX 1024
#define VSW_FDB_MAX_ENTRIES (1u << 24)
#define VSW_FDB_AGEING_MAX_S 1000000u /* ageing time bounds, seconds: 1 .. 1,000,000 */

/* A port's share of the MAC table (port-show, stats). */
struct vsw_port_fdb_stats {
	uint64_t entries;    /* dynamic entries now learnt on the port */
	uint64_t limit;      /* effective limit */
	uint64_t learnt;     /* new dynamic entries learnt on the port */
	uint64_t evicted;    /* its live entries evicted (its limit, or a full table) */
	uint64_t limit_hits; /* learning found the port at its limit */
};

/* Ageing time of dynamic entries, in seconds (default 300, like Linux). Applies at
 * once to every entry (an entry older than the new time is gone). 0 or -EINVAL (0 or
 * above VSW_FDB_AGEING_MAX_S). VXLAN ports age learnt VTEPs with the same time. */
int vsw_bridge_set_ageing(struct vsw_bridge *br, uint32_t secs);
uint32_t vsw_bridge_get_ageing(const struct vsw_bridge *br);
/* The bridge default per-port limit (ports without their own setting). Ports above a
 * lowered limit lose their oldest entries at once. 0 or -EINVAL (0, or above
 * VSW_FDB_MAX_ENTRIES). */
int vsw_bridge_set_mac_limit(struct vsw_bridge *br, uint32_t max);
uint32_t vsw_bridge_get_mac_limit(const struct vsw_bridge *br);
/* The default per-port limit of every bridge of `sw`, now and created later (pvnetd
 * sets it from the ledger's mac-per-port). 0 or -EINVAL. */
int vsw_switch_set_mac_limit(struct vsw_switch *sw, uint32_t max);
/* A port's own limit on learnt MACs; 0 = follow the bridge default. Lowering it
 * evicts the port's oldest entries at once. The effective limit never exceeds the
 * table size. 0 or -EINVAL (above VSW_FDB_MAX_ENTRIES). */
int vsw_port_set_mac_limit(struct vsw_port *p, uint32_t max);
/* The effective limit (the port's own, else the bridge default). */
uint32_t vsw_port_get_mac_limit(const struct vsw_port *p);
void vsw_port_get_fdb_stats(const struct vsw_port *p, struct vsw_port_fdb_stats *st);

/* ---- capture without harm (mirror.c) -------------------------------------------------- */

/*
 * Mirror options (vsw_port_mirror_start is this with path and count only). The
 * data path copies matching frames, cut to `snaplen`, into a bounded queue of
 * `queue_size` bytes; a writer thread writes them to `path` (a regular file,
 * created 0600 or truncated, or a FIFO/pipe, which must have a reader and is
 * written non-blocking). When the queue is full a frame is not recorded and
 * counted (queue_drops): a slow disk or a reader that stops reading never slows
 * the switch or the caller. A pipe reader that goes away ends the capture
 * (write_errors). Symlinks are not followed. The file is pcap (DLT_EN10MB).
 */
#define VSW_MIRROR_QUEUE_DEFAULT (4u << 20)
struct vsw_mirror_opts {
	const char *path;    /* absolute or relative to pvnetd's cwd; not ".pcapng" */
	uint64_t count;      /* stop after this many recorded frames; 0: until stopped */
	uint32_t snaplen;    /* bytes kept per frame, 1..65535; 0: 65535 */
	const char *filter;  /* tcpdump/pcap-filter(7) expression; NULL or "": all */
	uint32_t queue_size; /* bytes; 0: VSW_MIRROR_QUEUE_DEFAULT */
	char *why;           /* may be NULL: a one-line reason on failure */
	size_t why_size;
};
struct vsw_mirror_stats {
	uint64_t queued;       /* frames accepted into the queue */
	uint64_t written;      /* frames written out */
	uint64_t queue_drops;  /* frames not recorded: queue full */
	uint64_t filtered;     /* frames the filter did not match */
	uint64_t truncated;    /* grant-backed frames recorded head-only */
	uint64_t write_errors; /* queued frames lost: output gone, or not drained at stop */
	bool done;             /* the output is closed (count reached or gone) */
};
/* Starts (or replaces) the port's mirror. 0 or -errno: -EINVAL (bad options or
 * filter: see why), -EPROTONOSUPPORT (.pcapng), -ENXIO (pipe without reader),
 * -ELOOP (symlink), open errors. Stopping (vsw_port_mirror_stop) drains the queue:
 * all of it to a file before it returns; to a pipe in the background for at most
 * 200 ms (stop returns at once, its frame count is what was written by then). */
int vsw_port_mirror_start_opts(struct vsw_port *port, const struct vsw_mirror_opts *opts);
/* 0, or -ENOENT (no mirror). */
int vsw_port_mirror_get_stats(struct vsw_port *port, struct vsw_mirror_stats *st);

/* ---- VXLAN ports under a control plane (OVN hardware VTEP; port_vxlan.c) ----------- */

/*
 * Replaces the remotes of VXLAN port `port` at run time: the VTEPs it accepts
 * datagrams from and sends to (at most VSW_VXLAN_MAX_REMOTES, of the port's underlay
 * family; 0 is allowed: the port then sends nothing and accepts nothing), and which of
 * them receive broadcast, multicast and unknown unicast (flood[i]; NULL = all): OVN's
 * Mcast_Macs_Remote "unknown-dst" locator set. Learnt and static MACs stay with their
 * VTEP when it is still a remote; those of a VTEP removed are dropped. 0, -EINVAL (not a
 * VXLAN port, too many), -EAFNOSUPPORT (another family). Thread-safe against traffic.
 */
int vsw_vxlan_set_remotes(struct vsw_port *port, const struct vsw_ip_addr *remotes,
			  const bool *flood, unsigned n_remotes);
/*
 * A static remote MAC (OVN's Ucast_Macs_Remote): frames to `mac` go to `remote` only,
 * which must be one of the port's remotes. Never ages; learning does not move it.
 * Shares the VTEP table (at most 512 MACs per port) with learnt entries. 0, -EINVAL
 * (not a VXLAN port, multicast MAC), -ENOENT (not a remote), -ENOSPC (table full).
 */
int vsw_vxlan_mac_add(struct vsw_port *port, const uint8_t mac[6],
		      const struct vsw_ip_addr *remote);
/* Removes a static MAC: 0, -ENOENT (none static), -EINVAL (not a VXLAN port). */
int vsw_vxlan_mac_del(struct vsw_port *port, const uint8_t mac[6]);
/* Where frames to `mac` go: 0 and *remote (*is_static if not NULL), -ENOENT (flooded). */
int vsw_vxlan_mac_lookup(struct vsw_port *port, const uint8_t mac[6], struct vsw_ip_addr *remote,
			 bool *is_static);

#endif /* PVNET_VSWITCH_H */
