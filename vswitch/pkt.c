/* SPDX-License-Identifier: MIT */
/*
 * Packet pools (include/pvnet/pkt.h).
 *
 * The free packets form a LIFO stack of pool indices (a Treiber stack): `head`
 * packs the top index, the number of free packets and a tag, and one
 * compare-and-swap moves a whole burst on or off the stack. LIFO: the packet
 * freed last is allocated first, so a worker's burst reuses the packets (and
 * their cache lines) it just released instead of the pool's coldest ones, as a
 * FIFO ring did. The tag changes on every successful update, so a CAS fails if
 * the stack changed since its head was read (no ABA): when it succeeds, the chain
 * a popper walked is the stack's, unchanged (a free packet's `next` is written
 * only by the thread that frees it, before the push that publishes it). The tag
 * is 30 bits: an ABA needs 2^30 updates during one popper's read-modify-write.
 * No lock, no allocation: alloc and put may run on any thread.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>
#include <pvnet/pkt.h>

#define POOL_IDX_BITS 17
#define POOL_IDX_MASK ((1ull << POOL_IDX_BITS) - 1)
#define POOL_IDX_NONE ((uint32_t)POOL_IDX_MASK) /* > 65535: end of the stack */
#define POOL_CNT_SHIFT POOL_IDX_BITS
#define POOL_TAG_SHIFT (2 * POOL_IDX_BITS)

struct pvnet_pkt_pool {
	_Alignas(64) uint64_t head;  /* atomic: tag << 34 | free count << 17 | top index */
	_Alignas(64) uint32_t *next; /* atomic entries: the free packet below index i */
	unsigned count;
	uint32_t buf_size;
	struct pvnet_pkt *pkts;
	uint8_t *bufs;
};

static inline uint64_t head_make(uint64_t old, uint32_t cnt, uint32_t top)
{
	uint64_t tag = (old >> POOL_TAG_SHIFT) + 1;
	return tag << POOL_TAG_SHIFT | (uint64_t)cnt << POOL_CNT_SHIFT | top;
}

static inline uint32_t head_top(uint64_t h)
{
	return (uint32_t)(h & POOL_IDX_MASK);
}

static inline uint32_t head_cnt(uint64_t h)
{
	return (uint32_t)((h >> POOL_CNT_SHIFT) & POOL_IDX_MASK);
}

/* Pushes the chain first..last (k packets, linked through next[] by the caller). */
static void pool_push_chain(struct pvnet_pkt_pool *pool, uint32_t first, uint32_t last, uint32_t k)
{
	uint64_t old = __atomic_load_n(&pool->head, __ATOMIC_RELAXED), nw;

	do {
		__atomic_store_n(&pool->next[last], head_top(old), __ATOMIC_RELAXED);
		nw = head_make(old, head_cnt(old) + k, first);
		/* release: the packets' last uses and next[] before the head that frees them */
	} while (!__atomic_compare_exchange_n(&pool->head, &old, nw, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

/* Pops up to n packets with one successful CAS; returns how many. */
static unsigned pool_pop_bulk(struct pvnet_pkt_pool *pool, struct pvnet_pkt **pkts, unsigned n)
{
	/* acquire: pairs with the release of the pushes that freed what we walk */
	uint64_t old = __atomic_load_n(&pool->head, __ATOMIC_ACQUIRE), nw;
	unsigned k;

	for (;;) {
		uint32_t cur = head_top(old);

		k = head_cnt(old) < n ? head_cnt(old) : n;
		if (!k)
			return 0;
		unsigned i;

		for (i = 0; i < k; i++) {
			if (cur >= pool->count)
				break; /* a stale chain: the CAS below fails */
			pkts[i] = &pool->pkts[cur];
			cur = __atomic_load_n(&pool->next[cur], __ATOMIC_RELAXED);
		}
		if (i < k) { /* never hand out entries we did not fill: read again */
			old = __atomic_load_n(&pool->head, __ATOMIC_ACQUIRE);
			continue;
		}
		nw = head_make(old, head_cnt(old) - k, cur);
		if (__atomic_compare_exchange_n(&pool->head, &old, nw, true, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			return k;
	}
}

int pvnet_pkt_pool_create(unsigned count, uint32_t buf_size, struct pvnet_pkt_pool **out)
{
	struct pvnet_pkt_pool *pool = NULL;
	int rc = -EINVAL;

	*out = NULL;
	if (count == 0 || count > 65536)
		goto fail;
	rc = -ENOMEM;
	pool = aligned_alloc(64, sizeof(*pool));
	if (!pool)
		goto fail;
	memset(pool, 0, sizeof(*pool));
	pool->count = count;
	pool->buf_size = buf_size;
	pool->next = calloc(count, sizeof(*pool->next));
	if (!pool->next)
		goto fail_pool;
	pool->pkts = aligned_alloc(64, sizeof(struct pvnet_pkt) * count);
	if (!pool->pkts)
		goto fail_next;
	memset(pool->pkts, 0, sizeof(struct pvnet_pkt) * count);
	if (buf_size) {
		size_t stride = ((size_t)buf_size + 63) & ~(size_t)63;
		pool->bufs = aligned_alloc(64, stride * count);
		if (!pool->bufs)
			goto fail_pkts;
		for (unsigned i = 0; i < count; i++) {
			pool->pkts[i].buf = pool->bufs + stride * i;
			pool->pkts[i].buf_size = buf_size;
		}
	}
	for (unsigned i = 0; i < count; i++) {
		pool->pkts[i].pool = pool;
		pool->pkts[i].index = i;
		pool->pkts[i].refcnt = 1;
		pool->next[i] = i + 1 < count ? i + 1 : POOL_IDX_NONE;
	}
	pool->head = (uint64_t)count << POOL_CNT_SHIFT | 0; /* packet 0 on top */
	*out = pool;
	return 0;

fail_pkts:
	free(pool->pkts);
fail_next:
	free(pool->next);
fail_pool:
	free(pool);
fail:
	return rc;
}

void pvnet_pkt_pool_destroy(struct pvnet_pkt_pool *pool)
{
	unsigned avail;

	if (!pool)
		return;
	avail = pvnet_pkt_pool_avail(pool);
	if (avail != pool->count)
		PVLOG(WARN, "vswitch", "packet pool destroyed with %u of %u packets out",
		      pool->count - avail, pool->count);
	free(pool->bufs);
	free(pool->pkts);
	free(pool->next);
	free(pool);
}

unsigned pvnet_pkt_pool_avail(const struct pvnet_pkt_pool *pool)
{
	return head_cnt(__atomic_load_n(&pool->head, __ATOMIC_ACQUIRE));
}

unsigned pvnet_pkt_pool_size(const struct pvnet_pkt_pool *pool)
{
	return pool->count;
}

static void pkt_reset(struct pvnet_pkt *pkt)
{
	pkt->data = pkt->buf ? pkt->buf : pkt->hdr + PVNET_PKT_HEADROOM;
	pkt->len = 0;
	pkt->head_size = 0;
	pkt->flags = 0;
	pkt->vlan_tci = 0;
	pkt->vlan = 0;
	pkt->src_kind = PVNET_PKT_SRC_LOCAL;
	pkt->gso_type = PVNET_GSO_NONE;
	pkt->gso_size = 0;
	pkt->csum_start = 0;
	pkt->csum_offset = 0;
	pkt->in_port = 0;
	pkt->refcnt = 1;
	pkt->n_tx = 0;
	pkt->done = NULL;
	pkt->done_arg = NULL;
	pkt->src.domid = 0;
	pkt->src.nr_frags = 0;
	pkt->src.tail_off = 0;
	pkt->src.cookie = 0;
}

struct pvnet_pkt *pvnet_pkt_alloc(struct pvnet_pkt_pool *pool)
{
	struct pvnet_pkt *pkt;

	if (!pool_pop_bulk(pool, &pkt, 1))
		return NULL;
	pkt_reset(pkt);
	return pkt;
}

unsigned pvnet_pkt_alloc_bulk(struct pvnet_pkt_pool *pool, struct pvnet_pkt **pkts, unsigned n)
{
	unsigned got = pool_pop_bulk(pool, pkts, n);

	for (unsigned i = 0; i < got; i++) {
		if (i + 1 < got)
			__builtin_prefetch(pkts[i + 1], 1);
		pkt_reset(pkts[i]);
	}
	return got;
}

/* Drops one reference; true if it was the last one. Always a read-modify-write:
 * a skipped RMW for a holder that reads 1 would turn a double put, which the RMW
 * makes harmless to the pool (the count wraps, nothing is pushed twice), into a
 * packet pushed twice onto the free stack. */
static inline bool pkt_unref(struct pvnet_pkt *pkt)
{
	/* acq_rel: the other holders' reads happen before done() and reuse */
	if (__atomic_sub_fetch(&pkt->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
		return false;
	pkt->refcnt = 1; /* we are the only one left */
	return true;
}

void pvnet_pkt_put(struct pvnet_pkt *pkt)
{
	if (!pkt || !pkt_unref(pkt))
		return;
	if (pkt->done)
		pkt->done(pkt);
	pool_push_chain(pkt->pool, pkt->index, pkt->index, 1);
}

void pvnet_pkt_put_bulk(struct pvnet_pkt **pkts, unsigned n)
{
	struct pvnet_pkt_pool *pool = NULL;
	uint32_t first = 0, last = 0, k = 0;

	for (unsigned i = 0; i < n; i++) {
		struct pvnet_pkt *pkt = pkts[i];

		if (!pkt || !pkt_unref(pkt))
			continue;
		if (pkt->done)
			pkt->done(pkt);
		if (k && pkt->pool != pool) {
			pool_push_chain(pool, first, last, k);
			k = 0;
		}
		if (!k) {
			pool = pkt->pool;
			first = pkt->index;
		} else {
			/* our own free packets: nobody else reads their next[] yet */
			__atomic_store_n(&pool->next[last], pkt->index, __ATOMIC_RELAXED);
		}
		last = pkt->index;
		k++;
	}
	if (k)
		pool_push_chain(pool, first, last, k);
}

void pvnet_pkt_put_batch(struct pvnet_pkt_batch *batch)
{
	pvnet_pkt_put_bulk(batch->pkts, batch->count);
	batch->count = 0;
}

int pvnet_pkt_set_local(struct pvnet_pkt *pkt, const void *frame, uint32_t size)
{
	uint8_t *dst = pkt->buf;
	uint32_t room = pkt->buf_size;

	if (!dst) {
		dst = pkt->hdr + PVNET_PKT_HEADROOM;
		room = PVNET_PKT_HDR_SIZE - PVNET_PKT_HEADROOM;
	}
	if (size > room)
		return -ENOSPC;
	memcpy(dst, frame, size);
	pkt->data = dst;
	pkt->len = size;
	pkt->head_size = size;
	pkt->src_kind = PVNET_PKT_SRC_LOCAL;
	return 0;
}

uint32_t pvnet_pkt_write_head(const struct pvnet_pkt *pkt, uint16_t vlan_tci, void *dst,
			      uint32_t dst_size)
{
	uint8_t tag[PVNET_VLAN_HLEN];
	uint8_t *d = dst;
	uint32_t total, n, done = 0;

	if (!vlan_tci || pkt->head_size < 12) {
		n = pkt->head_size < dst_size ? pkt->head_size : dst_size;
		memcpy(d, pkt->data, n);
		return pkt->head_size;
	}
	total = pkt->head_size + PVNET_VLAN_HLEN;
	tag[0] = PVNET_ETH_P_8021Q >> 8;
	tag[1] = PVNET_ETH_P_8021Q & 0xff;
	tag[2] = (uint8_t)(vlan_tci >> 8);
	tag[3] = (uint8_t)vlan_tci;
	/* MAC addresses, tag, then the rest of the head */
	n = dst_size < 12 ? dst_size : 12;
	memcpy(d, pkt->data, n);
	done = n;
	n = dst_size - done < PVNET_VLAN_HLEN ? dst_size - done : PVNET_VLAN_HLEN;
	memcpy(d + done, tag, n);
	done += n;
	n = dst_size - done < pkt->head_size - 12 ? dst_size - done : pkt->head_size - 12;
	memcpy(d + done, pkt->data + 12, n);
	return total;
}
