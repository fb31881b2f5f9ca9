/* SPDX-License-Identifier: MIT */
/*
 * pvnet/pkt.h - the packet descriptor and batch shared by the switch, netback and
 * every port implementation.
 *
 * A `struct pvnet_pkt` describes one Ethernet frame. Its bytes live in two parts:
 *
 *   head  `head_size` contiguous bytes at `data`, in dom0 memory. Either the inline
 *         `hdr[]` area (a copied header, "extreme late copy") or a dom0 buffer
 *         (`buf`, from the pool, e.g. a frame read from a TAP device).
 *   tail  the remaining `len - head_size` bytes, still in the ingress port's source:
 *         for PVNET_PKT_SRC_GRANT they are in the sender's granted pages described by
 *         `src.frags`, starting at byte `src.tail_off` of the frame those fragments
 *         spell. For PVNET_PKT_SRC_LOCAL the tail is empty (head_size == len).
 *
 * The switch switches on the head only; an egress port copies head then tail,
 * straight from the sender's grants into the receiver's buffer (DESIGN §5).
 *
 * VLAN: after vsw_input() has parsed a frame the bytes at `data` are always
 * untagged; an 802.1Q tag seen at ingress is popped into `vlan_tci` (flag
 * PVNET_PKT_F_VLAN). The tag to write on egress is per egress port and travels in
 * the batch (`pvnet_pkt_batch.vlan_tci[i]`), never in the shared packet.
 * `csum_start` is relative to `data` (the untagged frame); an egress writer that
 * inserts a tag adds 4 to it.
 *
 * Lifetime: packets come from a fixed, preallocated `struct pvnet_pkt_pool` (no
 * malloc on the data path). pvnet_pkt_alloc() returns a packet with one reference.
 * The switch takes one extra reference per additional egress when it floods; every
 * holder drops its reference with pvnet_pkt_put() once it no longer reads the
 * packet's data (for a grant-backed packet: after its grant copy is done). When the
 * last reference goes, `done(pkt)` runs (the ingress port's completion, e.g. send
 * the TX responses to the guest), then the packet returns to its pool.
 *
 * Threading: alloc/put are lock-free and may run on any thread. The pool is a LIFO
 * (the packet freed last is allocated next, while its lines are still cached); the
 * bulk calls move a whole burst with one compare-and-swap. A packet's fields
 * are written by its ingress port and by vsw_input(); egress ports only read them.
 */
#ifndef PVNET_PKT_H
#define PVNET_PKT_H

#include <stdint.h>

#define PVNET_BATCH_MAX 32     /* packets per burst (DPDK/OVS/VPP size) */
#define PVNET_PKT_HDR_SIZE 128 /* inline header area: Ethernet + VLAN + IPv6 + TCP */
#define PVNET_PKT_HEADROOM 8   /* hdr[] bytes kept free in front of a copied header */
#define PVNET_PKT_MAX_FRAGS 19 /* XEN_NETIF_NR_SLOTS_MIN + 1 */
#define PVNET_ETH_HLEN 14
#define PVNET_VLAN_HLEN 4
#define PVNET_ETH_P_8021Q 0x8100
#define PVNET_ETH_P_IPV4 0x0800
#define PVNET_ETH_P_IPV6 0x86DD

/* pvnet_pkt.flags */
#define PVNET_PKT_F_VLAN (1u << 0)           /* vlan_tci holds the tag popped at ingress */
#define PVNET_PKT_F_CSUM_BLANK (1u << 1)     /* L4 checksum not computed (NETTXF_csum_blank) */
#define PVNET_PKT_F_DATA_VALIDATED (1u << 2) /* checksum known good (NETTXF_data_validated) */

/* pvnet_pkt.gso_type: the values of XEN_NETIF_GSO_TYPE_* */
#define PVNET_GSO_NONE 0
#define PVNET_GSO_TCPV4 1
#define PVNET_GSO_TCPV6 2

enum pvnet_pkt_src_kind {
	PVNET_PKT_SRC_LOCAL = 0, /* whole frame at `data` in dom0 memory */
	PVNET_PKT_SRC_GRANT = 1, /* head copied, tail in the sender's grants */
};

/* One fragment of a frame in a guest's granted page (a TX request slot). */
struct pvnet_pkt_frag {
	uint32_t gref;   /* grant reference, in the domain `src.domid` */
	uint16_t offset; /* offset of the data in the granted page */
	uint16_t size;   /* bytes in this fragment */
};
_Static_assert(sizeof(struct pvnet_pkt_frag) == 8, "pvnet_pkt_frag size");

/*
 * The source descriptor: owned and interpreted by the ingress port. The switch
 * never reads it; an egress port reads it to copy the tail. All fragments belong to
 * one domain (a frame comes from one guest's TX ring).
 */
struct pvnet_pkt_src {
	uint16_t domid;    /* granting domain (PVNET_PKT_SRC_GRANT) */
	uint16_t nr_frags; /* valid entries in frags[] */
	uint32_t tail_off; /* offset, in the frame spelled by frags[], of the tail */
	uint64_t cookie;   /* free for the ingress port (e.g. queue + first request id) */
	struct pvnet_pkt_frag frags[PVNET_PKT_MAX_FRAGS];
};

struct pvnet_pkt_pool;
struct pvnet_pkt;

/* Completion: runs once, on the thread that drops the last reference. Must not
 * call pvnet_pkt_put() on `pkt`; the packet returns to its pool afterwards. */
typedef void (*pvnet_pkt_done_fn)(struct pvnet_pkt *pkt);

struct pvnet_pkt {
	/* First cache line: what the switch touches per packet. */
	uint8_t *data;          /* first byte of the frame (head) */
	uint32_t len;           /* bytes in the whole frame */
	uint32_t head_size;     /* contiguous bytes at `data`; <= len */
	uint16_t flags;         /* PVNET_PKT_F_* */
	uint16_t vlan_tci;      /* tag popped at ingress, when PVNET_PKT_F_VLAN */
	uint16_t vlan;          /* VLAN the switch classified the frame into (0 = none) */
	uint8_t src_kind;       /* enum pvnet_pkt_src_kind */
	uint8_t gso_type;       /* PVNET_GSO_* */
	uint16_t gso_size;      /* MSS: payload bytes per segment (gso_type != NONE) */
	uint16_t csum_start;    /* from `data`, when PVNET_PKT_F_CSUM_BLANK */
	uint16_t csum_offset;   /* from csum_start: where the checksum goes */
	uint32_t in_port;       /* ingress port number, set by vsw_input() */
	uint32_t refcnt;        /* atomic; see pvnet_pkt_get/put */
	uint32_t n_tx;          /* atomic; egresses that accepted the packet */
	pvnet_pkt_done_fn done; /* optional completion, set by the ingress port */
	void *done_arg;         /* free for the completion */

	/* Pool bookkeeping (read-only for users). */
	struct pvnet_pkt_pool *pool;
	uint8_t *buf;      /* this packet's dom0 data buffer, NULL if the pool has none */
	uint32_t buf_size; /* bytes at buf */
	uint32_t index;    /* position in the pool: side tables may be indexed by it */

	struct pvnet_pkt_src src;

	_Alignas(64) uint8_t hdr[PVNET_PKT_HDR_SIZE];
};
_Static_assert(sizeof(struct pvnet_pkt) % 64 == 0, "pvnet_pkt is cache aligned");

/*
 * A burst. `vlan_tci[i]` is per-egress metadata for pkts[i], filled by the switch
 * before it calls a port's send: the 802.1Q TCI the port must insert on the wire,
 * or 0 to send the frame untagged. Ingress ports leave it 0.
 */
struct pvnet_pkt_batch {
	unsigned count;
	struct pvnet_pkt *pkts[PVNET_BATCH_MAX];
	uint16_t vlan_tci[PVNET_BATCH_MAX];
};

/*
 * Creates a pool of `count` packets (1..65536), each with a dom0 data buffer of
 * `buf_size` bytes (0: no buffer, for grant-backed packets). The caller owns the
 * pool; destroy it only after every packet has returned. 0 or -errno.
 */
int pvnet_pkt_pool_create(unsigned count, uint32_t buf_size, struct pvnet_pkt_pool **out);
/* NULL is a no-op. Packets still out are reported (log) and leaked into nothing:
 * their memory goes with the pool. */
void pvnet_pkt_pool_destroy(struct pvnet_pkt_pool *pool);
/* Packets currently in the pool (free), for tests and stats. */
unsigned pvnet_pkt_pool_avail(const struct pvnet_pkt_pool *pool);
/* Packets the pool was created with (netback's RX share is a fraction of it). */
unsigned pvnet_pkt_pool_size(const struct pvnet_pkt_pool *pool);

/*
 * Takes one packet; NULL when the pool is empty. The packet is reset: one reference,
 * no flags, PVNET_PKT_SRC_LOCAL, `data` = buf (or hdr + PVNET_PKT_HEADROOM without a
 * buffer), len = head_size = 0, no completion. The caller owns the reference.
 */
struct pvnet_pkt *pvnet_pkt_alloc(struct pvnet_pkt_pool *pool);
/* Takes up to `n` packets into pkts[], reset as by pvnet_pkt_alloc, with one
 * compare-and-swap; returns how many (all-or-some, never blocks). */
unsigned pvnet_pkt_alloc_bulk(struct pvnet_pkt_pool *pool, struct pvnet_pkt **pkts, unsigned n);

/* Adds `n` references (for a holder that keeps the packet beyond the call). */
static inline void pvnet_pkt_get(struct pvnet_pkt *pkt, uint32_t n)
{
	__atomic_fetch_add(&pkt->refcnt, n, __ATOMIC_RELAXED);
}

/* Drops one reference; on the last one runs `done` and returns the packet to its
 * pool. The caller must not touch `pkt` afterwards. NULL is a no-op. */
void pvnet_pkt_put(struct pvnet_pkt *pkt);
/* Drops one reference on each of pkts[0..n) (NULL entries skipped): runs `done`
 * for every last reference, then returns those packets to their pools with one
 * compare-and-swap per run of packets from the same pool. The caller must not
 * touch the packets afterwards. */
void pvnet_pkt_put_bulk(struct pvnet_pkt **pkts, unsigned n);
/* Drops one reference on every packet of `batch` (pvnet_pkt_put_bulk) and sets
 * count to 0. */
void pvnet_pkt_put_batch(struct pvnet_pkt_batch *batch);

/*
 * Copies `size` bytes of a frame at `frame` into the packet's own buffer and makes
 * it a LOCAL packet (len = head_size = size). -ENOSPC if it does not fit (buffer,
 * or hdr[] minus headroom when the pool has no buffer).
 */
int pvnet_pkt_set_local(struct pvnet_pkt *pkt, const void *frame, uint32_t size);

/*
 * Writes the packet as it goes on the wire of one egress into `dst`: the head,
 * with an 802.1Q tag carrying `vlan_tci` inserted after the MAC addresses when
 * `vlan_tci` != 0. Copies min(head bytes out, dst_size) bytes; returns the number of
 * head bytes on the wire (head_size, + 4 with a tag). The tail, if any, is the
 * egress port's to copy (from src.frags).
 */
uint32_t pvnet_pkt_write_head(const struct pvnet_pkt *pkt, uint16_t vlan_tci, void *dst,
			      uint32_t dst_size);

#endif /* PVNET_PKT_H */
