/* SPDX-License-Identifier: MIT */
/*
 * The data path: vsw_input() switches one burst in stages, each over the whole
 * vector (VPP style): parse + classify, learn + look up (one FDB lock), decide the
 * egress set and finish checksums that some egress cannot, then one send() per
 * egress port with the packets in input order.
 */
#include <errno.h>
#include <string.h>

#include <pvnet/log.h>
#include <pvnet/pkt_parse.h>

#include "vsw_private.h"

#define OUT_DROP (UINT32_MAX - 2) /* out[i]: dropped, reason in why[i] */
#define OUT_FLOOD (UINT32_MAX - 1)
#define TSO_MAX_SEGS 64

/* The tag `q` needs for a frame of `vlan` (PCP from `pcp`): 0 untagged, > 0 the
 * TCI, -1 when q is not a member of the VLAN. */
static int egress_tci(const struct vsw_port *q, uint16_t vlan, uint16_t pcp)
{
	if (q->mode == VSW_MODE_ACCESS)
		return q->vid == vlan ? 0 : -1;
	if (vlan == q->vid)
		return 0;
	if (vlan && (q->trunk[vlan / 64] >> (vlan % 64) & 1))
		return (int)(pcp | vlan);
	return -1;
}

/* The VLAN of a frame arriving on `p`, or -1 (vlan_mismatch). `tagged_vid` is the
 * frame's VID, or -1 untagged. */
static int ingress_vlan(const struct vsw_port *p, int tagged_vid)
{
	if (tagged_vid <= 0) /* untagged or priority-tagged */
		return p->vid;
	if (p->mode == VSW_MODE_ACCESS)
		return -1;
	if (tagged_vid == p->vid || (p->trunk[tagged_vid / 64] >> (tagged_vid % 64) & 1))
		return tagged_vid;
	return -1;
}

/* (VLAN, MAC) as one integer: VLAN <= 4095 leaves the top bits clear, so
 * UINT64_MAX never matches a key. */
static inline uint64_t mac_key(uint16_t vlan, const uint8_t *mac)
{
	return (uint64_t)(vlan & 0xfff) << 48 | (uint64_t)mac[0] << 40 | (uint64_t)mac[1] << 32 |
	       (uint64_t)mac[2] << 24 | (uint64_t)mac[3] << 16 | (uint64_t)mac[4] << 8 | mac[5];
}

/*
 * Parses and classifies pkt with the frame parser (pvnet/pkt_parse.h); pops the
 * outer VLAN tag, whatever its TPID (0x8100, 0x88a8, 0x9100). -1 valid, else a
 * drop reason. *inner: a tag is still in the frame after the pop (QinQ on a
 * trunk); such a frame never leaves through a trunk that would send its VLAN
 * untagged, where the inner tag would read as another VLAN.
 *
 * Checked here for every port: the source MAC (all-zero or group: bad_src_mac,
 * never learnt), 802.1D link-local destinations (link_local, never forwarded),
 * the tag stack (cut short: invalid_frame; more than PVNET_FRAME_MAX_TAGS:
 * bad_headers). An access port takes untagged and priority-tagged (VID 0)
 * frames only: a tag inside the first is double_tagged, a VID: vlan_mismatch.
 */
static int parse_one(const struct vsw_port *in, struct pvnet_pkt *pkt, bool *inner)
{
	struct pvnet_frame fr;
	uint8_t *d = pkt->data;
	int vid = -1, vlan, rc;

	*inner = false;
	if (pkt->head_size < PVNET_ETH_HLEN || pkt->len < pkt->head_size)
		return VSW_DROP_INVALID_FRAME;
	if (vsw_mac_is_multicast(d + 6) || pvnet_mac_is_zero(d + 6))
		return VSW_DROP_BAD_SRC_MAC;
	if (pvnet_mac_is_link_local(d))
		return VSW_DROP_LINK_LOCAL;
	rc = pvnet_frame_parse_l2(d, pkt->head_size, &fr);
	if (in->mode == VSW_MODE_ACCESS && fr.n_tags > 1)
		return VSW_DROP_DOUBLE_TAGGED;
	if (rc == -EINVAL)
		return VSW_DROP_BAD_HEADERS;
	if (rc < 0)
		return VSW_DROP_INVALID_FRAME;
	if (fr.n_tags) {
		if ((pkt->flags & PVNET_PKT_F_CSUM_BLANK) && pkt->csum_start < PVNET_VLAN_HLEN + 12)
			return VSW_DROP_INVALID_FRAME;
		pkt->vlan_tci = fr.outer_tci;
		pkt->flags |= PVNET_PKT_F_VLAN;
		vid = pkt->vlan_tci & 0x0fff;
		*inner = fr.n_tags > 1;
		memmove(d + PVNET_VLAN_HLEN, d, 12);
		pkt->data = d + PVNET_VLAN_HLEN;
		pkt->len -= PVNET_VLAN_HLEN;
		pkt->head_size -= PVNET_VLAN_HLEN;
		if (pkt->flags & PVNET_PKT_F_CSUM_BLANK)
			pkt->csum_start -= PVNET_VLAN_HLEN;
	}
	vlan = ingress_vlan(in, vid);
	if (vlan < 0)
		return VSW_DROP_VLAN_MISMATCH;
	pkt->vlan = (uint16_t)vlan;
	pkt->in_port = in->port_no;
	return -1;
}

/* A frame that still carries a tag must not go out of trunk q untagged. */
static inline bool inner_tag_hops(const struct vsw_port *q, bool inner, int tci)
{
	return inner && tci == 0 && q->mode == VSW_MODE_TRUNK;
}

struct egress_ctx {
	struct vsw_bridge *br;
	struct vsw_port *in;
	struct pvnet_pkt_batch *in_batch;
	const uint32_t *out;
	struct pvnet_pkt_batch b; /* the group being built */
};

void vsw_egress_send(struct vsw_port *q, struct pvnet_pkt_batch *b)
{
	struct vsw_mirror *m = q->mirror;
	uint32_t wire[PVNET_BATCH_MAX];
	uint64_t bytes = 0;
	unsigned count = b->count;
	int n;

	if (!count)
		return;
	/* sizes read before send: the port may release the packets at once */
	for (unsigned i = 0; i < count; i++)
		wire[i] = b->pkts[i]->len + (b->vlan_tci[i] ? PVNET_VLAN_HLEN : 0);
	/* n_tx: only the thread switching the packet writes it (here, and below for
	 * the refused ones), and done() reads it after the last reference is dropped
	 * (ordered by the refcount's acq_rel): a load and a store, no locked RMW */
	for (unsigned i = 0; i < count; i++)
		__atomic_store_n(&b->pkts[i]->n_tx,
				 __atomic_load_n(&b->pkts[i]->n_tx, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
	struct pvnet_pkt *keep[PVNET_BATCH_MAX];
	uint16_t tags[PVNET_BATCH_MAX];
	if (m) {
		/* the mirror reads the accepted packets after send(): hold them */
		memcpy(keep, b->pkts, count * sizeof(keep[0]));
		memcpy(tags, b->vlan_tci, count * sizeof(tags[0]));
		for (unsigned i = 0; i < count; i++)
			pvnet_pkt_get(keep[i], 1);
	}
	n = q->ops->send(q, b);
	if (n < 0)
		n = 0;
	if ((unsigned)n > count)
		n = (int)count;
	for (unsigned i = 0; i < (unsigned)n; i++)
		bytes += wire[i];
	if (m) {
		vsw_mirror_record(m, keep, tags, (unsigned)n);
		for (unsigned i = 0; i < count; i++)
			pvnet_pkt_put(keep[i]);
	}
	for (unsigned i = (unsigned)n; i < count; i++) {
		__atomic_store_n(&b->pkts[i]->n_tx,
				 __atomic_load_n(&b->pkts[i]->n_tx, __ATOMIC_RELAXED) - 1,
				 __ATOMIC_RELAXED);
		pvnet_pkt_put(b->pkts[i]);
	}
	vsw_atomic_add(&q->tx_packets, (unsigned)n);
	vsw_atomic_add(&q->tx_bytes, bytes);
	vsw_atomic_add(&q->drops[VSW_DROP_EGRESS_FULL], count - (unsigned)n);
	b->count = 0;
}

static void flush_group(struct egress_ctx *ctx, struct vsw_port *q)
{
	vsw_egress_send(q, &ctx->b);
}

static void group_add(struct egress_ctx *ctx, struct vsw_port *q, struct pvnet_pkt *pkt,
		      uint16_t tci)
{
	if (ctx->b.count == PVNET_BATCH_MAX)
		flush_group(ctx, q);
	ctx->b.vlan_tci[ctx->b.count] = tci;
	ctx->b.pkts[ctx->b.count++] = pkt;
}

/* A frame linearised for the software fallback (at most one GSO super-frame). */
static __thread uint8_t lin_buf[65536 + 64];

/*
 * Makes a LOCAL view of a grant-backed packet for the software fallback: the
 * whole frame, untagged, copied into this thread's lin_buf through the tail
 * reader (netback's grant copy). tmp shares pkt's metadata; it is only read.
 */
static int linear_view(const struct pvnet_pkt *pkt, struct pvnet_pkt *tmp)
{
	int n = vsw_pkt_linearize(pkt, 0, lin_buf, sizeof(lin_buf));

	if (n < 0)
		return n;
	*tmp = *pkt;
	tmp->data = lin_buf;
	tmp->len = tmp->head_size = (uint32_t)n;
	tmp->src_kind = PVNET_PKT_SRC_LOCAL;
	return 0;
}

/* Completes the checksum of a CSUM_BLANK packet into a fresh LOCAL packet from
 * the fallback pool; NULL if it cannot (pool empty, frame too big). */
static struct pvnet_pkt *csum_copy(struct vsw_bridge *br, const struct pvnet_pkt *src)
{
	struct pvnet_pkt *c = pvnet_pkt_alloc(br->fallback);

	if (!c)
		return NULL;
	if (pvnet_pkt_set_local(c, src->data, src->len) < 0) {
		pvnet_pkt_put(c);
		return NULL;
	}
	c->flags = src->flags;
	c->vlan_tci = src->vlan_tci;
	c->vlan = src->vlan;
	c->in_port = src->in_port;
	c->csum_start = src->csum_start;
	c->csum_offset = src->csum_offset;
	if (vsw_offload_csum(c) < 0) {
		pvnet_pkt_put(c);
		return NULL;
	}
	return c;
}

/* Adds one egress copy of pkt (whose reference for q we hold) to q's group,
 * falling back to software TSO / checksum when q cannot take the offload. A
 * grant-backed packet (a guest's frame whose payload is still in its grants) is
 * linearised first. */
static void egress_one_slow(struct egress_ctx *ctx, struct vsw_port *q, struct pvnet_pkt *pkt,
			    uint16_t tci);

static inline void egress_one(struct egress_ctx *ctx, struct vsw_port *q, struct pvnet_pkt *pkt,
			      uint16_t tci)
{
	/* the common case, no offload to finish in software: straight into the group */
	if (pkt->gso_type == PVNET_GSO_NONE &&
	    (!(pkt->flags & PVNET_PKT_F_CSUM_BLANK) || (q->flags & VSW_PORT_F_CSUM)))
		group_add(ctx, q, pkt, tci);
	else
		egress_one_slow(ctx, q, pkt, tci);
}

static void egress_one_slow(struct egress_ctx *ctx, struct vsw_port *q, struct pvnet_pkt *pkt,
			    uint16_t tci)
{
	struct pvnet_pkt *segs[TSO_MAX_SEGS];
	struct pvnet_pkt tmp;
	const struct pvnet_pkt *view = pkt;
	unsigned need;
	int n;

	if (pkt->gso_type != PVNET_GSO_NONE) {
		need = pkt->gso_type == PVNET_GSO_TCPV4 ? VSW_PORT_F_TSO4 : VSW_PORT_F_TSO6;
		if (!(q->flags & need)) {
			n = 0;
			if (pkt->src_kind != PVNET_PKT_SRC_LOCAL) {
				n = linear_view(pkt, &tmp);
				view = &tmp;
			}
			if (n == 0)
				n = vsw_offload_tso(view, ctx->br->fallback, segs, TSO_MAX_SEGS);
			pvnet_pkt_put(pkt); /* q's reference on the original */
			if (n < 0) {
				PVLOG_RL(WARN, VSW_LOG, "%s: software TSO for %s failed: %d",
					 ctx->br->name, q->name, n);
				vsw_atomic_add(&q->drops[VSW_DROP_NO_OFFLOAD], 1);
				return;
			}
			vsw_atomic_add(&ctx->br->sw_tso_segs, (unsigned)n);
			for (int i = 0; i < n; i++)
				group_add(ctx, q, segs[i], tci);
			return;
		}
	} else if ((pkt->flags & PVNET_PKT_F_CSUM_BLANK) && !(q->flags & VSW_PORT_F_CSUM)) {
		/* a LOCAL packet was completed before any send; this one is grant-backed */
		struct pvnet_pkt *c = NULL;

		if (linear_view(pkt, &tmp) == 0)
			c = csum_copy(ctx->br, &tmp);
		pvnet_pkt_put(pkt);
		if (!c) {
			vsw_atomic_add(&q->drops[VSW_DROP_NO_OFFLOAD], 1);
			return;
		}
		vsw_atomic_add(&ctx->br->sw_csum, 1);
		pkt = c;
	}
	group_add(ctx, q, pkt, tci);
}

static bool port_usable(const struct vsw_port *q, const struct vsw_port *in)
{
	return q != in && q->enabled;
}

int vsw_port_inject(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct vsw_bridge *br;

	if (!batch)
		return -EINVAL;
	if (!port || batch->count > PVNET_BATCH_MAX) {
		pvnet_pkt_put_batch(batch);
		return -EINVAL;
	}
	br = port->br;
	pthread_rwlock_rdlock(&br->lock);
	if (port->enabled) {
		vsw_egress_send(port, batch);
	} else {
		vsw_atomic_add(&port->drops[VSW_DROP_NO_PORT], batch->count);
		pvnet_pkt_put_batch(batch);
	}
	pthread_rwlock_unlock(&br->lock);
	batch->count = 0;
	return 0;
}

/* check-funcs: the switch's per-batch input (contract in vswitch.h), kept
 * whole: one pass over the batch under one read lock, per-packet decisions
 * (VLAN, anti-spoofing, learning, lookup, egress batching) in locals. */
int vsw_input(struct vsw_bridge *br, struct vsw_port *in, struct pvnet_pkt_batch *batch)
{
	uint32_t out[PVNET_BATCH_MAX];
	uint8_t why[PVNET_BATCH_MAX];
	uint32_t ucast[PVNET_BATCH_MAX];
	bool ucast_done[PVNET_BATCH_MAX];
	bool inner[PVNET_BATCH_MAX];
	unsigned n, n_ucast = 0, n_flood = 0;
	uint64_t rx_bytes = 0, now, drops[VSW_DROP__MAX] = {0};
	struct egress_ctx ctx;

	if (!batch)
		return -EINVAL;
	n = batch->count < PVNET_BATCH_MAX ? batch->count : PVNET_BATCH_MAX;
	if (!br || !in || in->br != br || batch->count > PVNET_BATCH_MAX) {
		pvnet_pkt_put_batch(batch);
		return -EINVAL;
	}

	pthread_rwlock_rdlock(&br->lock);
	if (in->port_no >= VSW_PORTS_MAX || br->ports[in->port_no] != in) {
		/* a port being deleted whose RX source has not stopped yet */
		pthread_rwlock_unlock(&br->lock);
		pvnet_pkt_put_batch(batch);
		return -ENOENT;
	}
	for (unsigned i = 0; i < n; i++)
		rx_bytes += batch->pkts[i]->len;
	vsw_atomic_add(&in->rx_packets, n);
	vsw_atomic_add(&in->rx_bytes, rx_bytes);
	if (in->mirror) /* as received: before the tag is popped */
		vsw_mirror_record(in->mirror, batch->pkts, NULL, n);

	/* Stage 1: parse and classify; anti-spoofing on the parsed frame. */
	for (unsigned i = 0; i < n; i++) {
		int r = VSW_DROP_INGRESS_DISABLED;
		inner[i] = false;
		if (in->enabled)
			r = parse_one(in, batch->pkts[i], &inner[i]);
		if (r < 0 && in->antispoof)
			r = vsw_antispoof_check(in->antispoof, batch->pkts[i]);
		else if (r < 0) /* another port's anti-spoofing MAC or address claimed? */
			r = vsw_antispoof_claimed(br, in->port_no, batch->pkts[i]);
		out[i] = r < 0 ? VSW_PORT_NONE : OUT_DROP;
		why[i] = r < 0 ? 0 : (uint8_t)r;
	}

	/* Stage 2: learn and look up, one FDB lock for the burst. A burst is mostly
	 * one flow: a packet with the previous one's (VLAN, source) is not learnt
	 * again (same port, same `now`: the same result; not after a FULL, which is
	 * counted per attempt), and one with the previous (VLAN, destination) reuses
	 * its lookup unless a learn since then added or moved an entry. */
	now = br->clock_ns(br->clock_arg);
	vsw_fdb_lock(br->fdb);
	{
		uint64_t last_src = UINT64_MAX, last_dst = UINT64_MAX;
		uint32_t last_out = VSW_PORT_NONE;

		for (unsigned i = 0; i < n; i++) {
			struct pvnet_pkt *pkt = batch->pkts[i];
			uint64_t k;

			if (out[i] == OUT_DROP)
				continue;
			k = mac_key(pkt->vlan, pkt->data + 6);
			if (k != last_src) {
				enum vsw_fdb_learn r =
					vsw_fdb_learn_locked(br->fdb, pkt->vlan, pkt->data + 6,
							     in->port_no, now);
				last_src = r == VSW_FDB_FULL ? UINT64_MAX : k;
				if (r == VSW_FDB_NEW || r == VSW_FDB_MOVED)
					last_dst = UINT64_MAX;
			}
			if (vsw_mac_is_multicast(pkt->data))
				continue;
			k = mac_key(pkt->vlan, pkt->data);
			if (k != last_dst) {
				last_out =
					vsw_fdb_lookup_locked(br->fdb, pkt->vlan, pkt->data, now);
				last_dst = k;
			}
			out[i] = last_out;
		}
	}
	vsw_fdb_unlock(br->fdb);

	/* Stage 3: egress set per packet; references for floods; software checksum for
	 * LOCAL packets some egress cannot checksum (done before any send, because
	 * other egresses may already read the shared data). */
	for (unsigned i = 0; i < n; i++) {
		struct pvnet_pkt *pkt = batch->pkts[i];
		bool need_csum = false;
		unsigned k = 0;

		if (out[i] == OUT_DROP)
			continue;
		if (out[i] != VSW_PORT_NONE) {
			struct vsw_port *q = br->ports[out[i]];
			if (q == in) {
				out[i] = OUT_DROP;
				why[i] = VSW_DROP_LOOP;
			} else if (!q || !q->enabled) {
				out[i] = OUT_DROP;
				why[i] = VSW_DROP_NO_PORT;
			} else if (egress_tci(q, pkt->vlan, 0) < 0) {
				out[i] = OUT_DROP;
				why[i] = VSW_DROP_VLAN_MISMATCH;
			} else if (inner_tag_hops(q, inner[i], egress_tci(q, pkt->vlan, 0))) {
				out[i] = OUT_DROP;
				why[i] = VSW_DROP_DOUBLE_TAGGED;
			} else {
				need_csum = !(q->flags & VSW_PORT_F_CSUM);
				unsigned g;
				for (g = 0; g < n_ucast && ucast[g] != out[i]; g++)
					;
				if (g == n_ucast) {
					ucast_done[n_ucast] = false;
					ucast[n_ucast++] = out[i];
				}
			}
		} else {
			unsigned hops = 0;
			for (unsigned j = 0; j < br->n_active; j++) {
				struct vsw_port *q = br->active[j];
				int tci = port_usable(q, in) ? egress_tci(q, pkt->vlan, 0) : -1;
				if (tci >= 0 && inner_tag_hops(q, inner[i], tci)) {
					hops++;
				} else if (tci >= 0) {
					k++;
					need_csum |= !(q->flags & VSW_PORT_F_CSUM);
				}
			}
			if (k == 0) {
				out[i] = OUT_DROP;
				why[i] = hops ? VSW_DROP_DOUBLE_TAGGED : VSW_DROP_NO_PORT;
			} else {
				out[i] = OUT_FLOOD;
				n_flood++;
				pvnet_pkt_get(pkt, k - 1);
			}
		}
		if (out[i] != OUT_DROP && need_csum && (pkt->flags & PVNET_PKT_F_CSUM_BLANK) &&
		    pkt->gso_type == PVNET_GSO_NONE && pkt->src_kind == PVNET_PKT_SRC_LOCAL) {
			if (vsw_offload_csum(pkt) == 0)
				vsw_atomic_add(&br->sw_csum, 1);
		}
	}

	/* Stage 4: one group per egress port, packets in input order. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.br = br;
	ctx.in = in;
	ctx.in_batch = batch;
	ctx.out = out;
	if (n_flood) {
		vsw_atomic_add(&br->flooded, n_flood);
		for (unsigned j = 0; j < br->n_active; j++) {
			struct vsw_port *q = br->active[j];
			if (!port_usable(q, in))
				continue;
			for (unsigned g = 0; g < n_ucast; g++)
				if (ucast[g] == q->port_no)
					ucast_done[g] = true;
			for (unsigned i = 0; i < n; i++) {
				struct pvnet_pkt *pkt = batch->pkts[i];
				uint16_t pcp = pkt->vlan_tci & 0xe000;
				int tci;
				if (out[i] == q->port_no || out[i] == OUT_FLOOD) {
					tci = egress_tci(q, pkt->vlan, pcp);
					if (tci >= 0 && !inner_tag_hops(q, inner[i], tci))
						egress_one(&ctx, q, pkt, (uint16_t)tci);
				}
			}
			flush_group(&ctx, q);
		}
	}
	for (unsigned g = 0; g < n_ucast; g++) {
		struct vsw_port *q = br->ports[ucast[g]];
		if (ucast_done[g])
			continue;
		for (unsigned i = 0; i < n; i++) {
			struct pvnet_pkt *pkt = batch->pkts[i];
			if (out[i] == ucast[g])
				egress_one(&ctx, q, pkt,
					   (uint16_t)egress_tci(q, pkt->vlan,
								pkt->vlan_tci & 0xe000));
		}
		flush_group(&ctx, q);
	}

	/* Ingress drops, counted on the ingress port. */
	for (unsigned i = 0; i < n; i++) {
		if (out[i] != OUT_DROP)
			continue;
		drops[why[i]]++;
		pvnet_pkt_put(batch->pkts[i]);
	}
	for (unsigned r = 0; r < VSW_DROP__MAX; r++)
		vsw_atomic_add(&in->drops[r], drops[r]);
	pthread_rwlock_unlock(&br->lock);
	batch->count = 0;
	return 0;
}
