/* SPDX-License-Identifier: MIT */
/*
 * Packet pools (include/pvnet/pkt.h).
 *
 * The free list is a bounded multi-producer/multi-consumer ring of packet pointers
 * where each cell carries a sequence number (the classic "sequence per cell" bounded
 * queue): a producer or consumer claims a position with one compare-and-swap and
 * publishes the cell with a release store of its sequence. No lock, no allocation:
 * alloc and put may run on any thread.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>
#include <pvnet/pkt.h>

struct pool_cell {
	uint64_t seq;
	struct pvnet_pkt *pkt;
};

struct pvnet_pkt_pool {
	_Alignas(64) uint64_t enq_pos; /* producers' cursor, own cache line */
	_Alignas(64) uint64_t deq_pos; /* consumers' cursor, own cache line */
	_Alignas(64) uint64_t mask;
	unsigned count;
	uint32_t buf_size;
	struct pool_cell *cells;
	struct pvnet_pkt *pkts;
	uint8_t *bufs;
};

static int pool_push(struct pvnet_pkt_pool *pool, struct pvnet_pkt *pkt)
{
	uint64_t pos = __atomic_load_n(&pool->enq_pos, __ATOMIC_RELAXED);
	struct pool_cell *cell;

	for (;;) {
		cell = &pool->cells[pos & pool->mask];
		/* acquire: pairs with the consumer's release that freed this cell */
		uint64_t seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);
		int64_t diff = (int64_t)(seq - pos);
		if (diff == 0) {
			if (__atomic_compare_exchange_n(&pool->enq_pos, &pos, pos + 1, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				break;
		} else if (diff < 0) {
			return -ENOSPC; /* cannot happen: the ring holds every packet */
		} else {
			pos = __atomic_load_n(&pool->enq_pos, __ATOMIC_RELAXED);
		}
	}
	cell->pkt = pkt;
	/* release: the pointer is visible before the cell reads as full */
	__atomic_store_n(&cell->seq, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

static struct pvnet_pkt *pool_pop(struct pvnet_pkt_pool *pool)
{
	uint64_t pos = __atomic_load_n(&pool->deq_pos, __ATOMIC_RELAXED);
	struct pool_cell *cell;
	struct pvnet_pkt *pkt;

	for (;;) {
		cell = &pool->cells[pos & pool->mask];
		/* acquire: pairs with the producer's release that filled this cell */
		uint64_t seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);
		int64_t diff = (int64_t)(seq - (pos + 1));
		if (diff == 0) {
			if (__atomic_compare_exchange_n(&pool->deq_pos, &pos, pos + 1, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				break;
		} else if (diff < 0) {
			return NULL; /* empty */
		} else {
			pos = __atomic_load_n(&pool->deq_pos, __ATOMIC_RELAXED);
		}
	}
	pkt = cell->pkt;
	/* release: our read of the pointer happens before a producer reuses the cell */
	__atomic_store_n(&cell->seq, pos + pool->mask + 1, __ATOMIC_RELEASE);
	return pkt;
}

int pvnet_pkt_pool_create(unsigned count, uint32_t buf_size, struct pvnet_pkt_pool **out)
{
	struct pvnet_pkt_pool *pool = NULL;
	uint64_t ring = 1;
	int rc = -EINVAL;

	*out = NULL;
	if (count == 0 || count > 65536)
		goto fail;
	while (ring < count)
		ring <<= 1;
	rc = -ENOMEM;
	pool = aligned_alloc(64, sizeof(*pool));
	if (!pool)
		goto fail;
	memset(pool, 0, sizeof(*pool));
	pool->mask = ring - 1;
	pool->count = count;
	pool->buf_size = buf_size;
	pool->cells = calloc(ring, sizeof(*pool->cells));
	if (!pool->cells)
		goto fail_pool;
	pool->pkts = aligned_alloc(64, sizeof(struct pvnet_pkt) * count);
	if (!pool->pkts)
		goto fail_cells;
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
	for (uint64_t i = 0; i < ring; i++)
		pool->cells[i].seq = i;
	for (unsigned i = 0; i < count; i++) {
		pool->pkts[i].pool = pool;
		pool->pkts[i].index = i;
		pool_push(pool, &pool->pkts[i]);
	}
	*out = pool;
	return 0;

fail_pkts:
	free(pool->pkts);
fail_cells:
	free(pool->cells);
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
	free(pool->cells);
	free(pool);
}

unsigned pvnet_pkt_pool_avail(const struct pvnet_pkt_pool *pool)
{
	uint64_t enq = __atomic_load_n(&pool->enq_pos, __ATOMIC_ACQUIRE);
	uint64_t deq = __atomic_load_n(&pool->deq_pos, __ATOMIC_ACQUIRE);
	return enq >= deq ? (unsigned)(enq - deq) : 0;
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
	struct pvnet_pkt *pkt = pool_pop(pool);

	if (pkt)
		pkt_reset(pkt);
	return pkt;
}

unsigned pvnet_pkt_alloc_bulk(struct pvnet_pkt_pool *pool, struct pvnet_pkt **pkts, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		pkts[i] = pvnet_pkt_alloc(pool);
		if (!pkts[i])
			break;
	}
	return i;
}

void pvnet_pkt_put(struct pvnet_pkt *pkt)
{
	if (!pkt)
		return;
	/* acq_rel: every holder's reads of the data happen before done() and reuse */
	if (__atomic_sub_fetch(&pkt->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (pkt->done)
		pkt->done(pkt);
	pool_push(pkt->pool, pkt);
}

void pvnet_pkt_put_batch(struct pvnet_pkt_batch *batch)
{
	for (unsigned i = 0; i < batch->count; i++)
		pvnet_pkt_put(batch->pkts[i]);
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
