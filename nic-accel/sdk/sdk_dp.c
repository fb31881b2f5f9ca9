/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/sdk/sdk_dp.c - the plugin SDK's data path (pvnet/accel_sdk.h):
 * IOMMU-checked DMA, TX descriptor reading and completion, RX delivery into
 * posted buffers, unicast classification, interrupt moderation. The caller
 * holds the device lock for everything here.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/accel_sdk.h>

/* ---- IOMMU ---- */

static uint32_t dp_pfn_hash(uint64_t pfn)
{
	return (uint32_t)((pfn * 0x9E3779B97F4A7C15ull) >> 32);
}

const struct accel_sdk_iommu_entry *accel_sdk_iommu_lookup(const struct accel_sdk_iommu *m,
							   uint64_t pfn)
{
	if (!m->tab)
		return NULL;
	for (uint32_t i = 0, h = dp_pfn_hash(pfn); i < m->cap; i++) {
		const struct accel_sdk_iommu_entry *e = &m->tab[(h + i) & (m->cap - 1)];
		if (e->state == ACCEL_SDK_IOMMU_EMPTY)
			return NULL;
		if (e->state == ACCEL_SDK_IOMMU_USED && e->pfn == pfn)
			return e;
	}
	return NULL;
}

int accel_sdk_dma(struct accel_port *port, uint64_t iova, void *buf, uint32_t len, int write)
{
	struct accel_sdk_port *p = ACCEL_SDK_PORT(port);
	uint8_t *b = buf;

	while (len) {
		uint32_t off = (uint32_t)(iova & (ACCEL_PAGE_SIZE - 1));
		uint32_t n = ACCEL_PAGE_SIZE - off;
		const struct accel_sdk_iommu_entry *e = accel_sdk_iommu_lookup(&p->mmu, iova >> 12);

		if (n > len)
			n = len;
		if (!e || (write && !e->writable)) {
			p->st.dma_faults++;
			accel_sdk_log_rl(p->dev, ACCEL_LOG_DEBUG,
					 "dom%u: DMA fault %s iova 0x%llx (%s)", p->domid,
					 write ? "write" : "read", (unsigned long long)iova,
					 e ? "read-only" : "not registered");
			return -EFAULT;
		}
		if (write)
			memcpy(e->host + off, b, n);
		else
			memcpy(b, e->host + off, n);
		b += n;
		iova += n;
		len -= n;
	}
	return 0;
}

/* ---- interrupts ---- */

void accel_sdk_irq_note(struct accel_qp *qp, uint32_t n)
{
	struct accel_sdk_qp *q = ACCEL_SDK_QP(qp);

	if (n == 0)
		return;
	if (q->irq_pending == 0)
		q->irq_first_ns = accel_sdk_now(ACCEL_SDK_PORT(q->port)->dev);
	q->irq_pending += n;
}

void accel_sdk_irq_check(struct accel_qp *qp, uint64_t now)
{
	struct accel_sdk_qp *q = ACCEL_SDK_QP(qp);
	int fire;

	if (!q->irq_pending)
		return;
	if (q->irq_frames == 0 && q->irq_usecs == 0)
		fire = 1;
	else
		fire = (q->irq_frames && q->irq_pending >= q->irq_frames) ||
		       (q->irq_usecs && now - q->irq_first_ns >= q->irq_usecs * 1000ull);
	if (!fire)
		return;
	q->irq_pending = 0;
	/* Store-load order: the ring indices published before this (RX producer, TX
	 * consumer) must be visible before irq_enable is read. Pairs with the guest's
	 * store of irq_enable = 1, full fence, ring re-check before it sleeps: one of
	 * the two sides always sees the other (no lost wake-up). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (accel_ring_load(&q->sh->irq_enable)) {
		uint64_t one = 1;
		if (write(q->irq_fd, &one, sizeof(one)) == sizeof(one))
			ACCEL_SDK_PORT(q->port)->st.irq_raised++;
	}
}

void accel_sdk_irq_check_all(struct accel_dev *dev, uint64_t now)
{
	struct accel_sdk_dev *d = ACCEL_SDK_DEV(dev);

	for (uint32_t i = 0; i < d->ports_end; i++) {
		struct accel_sdk_port *p = ACCEL_SDK_PORT(d->ports[i]);
		for (uint32_t q = 0; p && q < p->n_qps; q++)
			accel_sdk_irq_check(p->qps[q], now);
	}
}

/* ---- TX ---- */

int accel_sdk_tx_ring_ok(struct accel_qp *qp, uint32_t prod)
{
	struct accel_sdk_qp *q = ACCEL_SDK_QP(qp);

	if (prod - q->tx_cons <= q->ring_len)
		return 1;
	if (!(q->sh->status.idx & ACCEL_QP_S_RING_ERR))
		ACCEL_SDK_PORT(q->port)->st.ring_errors++;
	q->sh->status.idx |= ACCEL_QP_S_RING_ERR;
	return 0;
}

/* Inlined into accel_sdk_tx_burst (the per-packet path); exported below. */
static inline int tx_read(const struct accel_qp *qp, uint32_t cons, uint32_t prod,
			  struct accel_sdk_tx_pkt *pkt)
{
	const struct accel_sdk_qp *q = (const struct accel_sdk_qp *)(const void *)qp;
	uint32_t mask = q->ring_len - 1, n = 0;
	int complete = 0;

	pkt->total = pkt->mss = pkt->first = 0;
	pkt->csum = pkt->bad = 0;
	while (cons + n != prod && n < ACCEL_TX_MAX_SLOTS + 1) {
		pkt->d[n] = accel_sdk_desc_read(&q->tx[(cons + n) & mask]);
		if (n == 0 && (pkt->d[0].flags & ACCEL_DESC_F_GSO)) {
			/* metadata only: never copied, whatever its len or mss says */
			pkt->mss = (uint32_t)(pkt->d[0].iova & 0xffff);
			pkt->first = 1;
			n++;
			continue;
		}
		pkt->total += pkt->d[n].len;
		pkt->csum |= !!(pkt->d[n].flags & ACCEL_DESC_F_CSUM);
		if (!(pkt->d[n++].flags & ACCEL_DESC_F_MORE)) {
			complete = 1;
			break;
		}
	}
	pkt->n = n;
	if (!complete) {
		if (n < ACCEL_TX_MAX_SLOTS + 1)
			return -EAGAIN; /* the rest of the packet is not published yet */
		pkt->bad = 1;           /* too many slots: drop what we have */
	}
	if (pkt->total > ACCEL_PKT_MAX || pkt->total < 14)
		pkt->bad = 1;
	return 0;
}

int accel_sdk_tx_read(const struct accel_qp *qp, uint32_t cons, uint32_t prod,
		      struct accel_sdk_tx_pkt *pkt)
{
	return tx_read(qp, cons, prod, pkt);
}

int accel_sdk_tx_gather(struct accel_qp *qp, const struct accel_sdk_tx_pkt *pkt, uint8_t *buf)
{
	struct accel_port *port = ACCEL_SDK_QP(qp)->port;
	uint32_t off = 0;

	/* data slots only: their lengths add up to total, the size of buf (the
	 * bound is re-checked per slot all the same) */
	for (uint32_t i = pkt->first; i < pkt->n; i++) {
		if (off + pkt->d[i].len > pkt->total ||
		    accel_sdk_dma(port, pkt->d[i].iova, buf + off, pkt->d[i].len, 0))
			return -EFAULT;
		off += pkt->d[i].len;
	}
	return 0;
}

static inline void tx_complete(struct accel_qp *qp, uint32_t cons, struct accel_sdk_tx_pkt *pkt,
			       int bad)
{
	struct accel_sdk_qp *q = ACCEL_SDK_QP(qp);

	for (uint32_t i = 0; i < pkt->n; i++) {
		pkt->d[i].flags |= ACCEL_DESC_F_DONE | (bad ? ACCEL_DESC_F_ERR : 0);
		q->tx[(cons + i) & (q->ring_len - 1)] = pkt->d[i];
	}
}

void accel_sdk_tx_complete(struct accel_qp *qp, uint32_t cons, struct accel_sdk_tx_pkt *pkt,
			   int bad)
{
	tx_complete(qp, cons, pkt, bad);
}

void accel_sdk_tx_publish(struct accel_qp *qp, uint32_t cons, uint32_t slots)
{
	struct accel_sdk_qp *q = ACCEL_SDK_QP(qp);

	q->tx_cons = cons;
	/* completions written before are visible before the new consumer index */
	accel_ring_store(&q->sh->tx_cons, cons);
	accel_sdk_irq_note(qp, slots);
}

int accel_sdk_tx_burst(struct accel_qp *qp, uint32_t budget, accel_sdk_xmit_fn xmit)
{
	struct accel_sdk_qp *q = ACCEL_SDK_QP(qp);
	struct accel_sdk_port *p = ACCEL_SDK_PORT(q->port);
	uint32_t prod = accel_ring_load(&q->sh->tx_prod), cons = q->tx_cons, done = 0;
	struct accel_sdk_tx_pkt pkt;
	int pkts = 0;

	if (!accel_sdk_tx_ring_ok(qp, prod))
		return 0;
	while (cons != prod && (uint32_t)pkts < budget) {
		enum accel_sdk_tx_verdict v = ACCEL_SDK_TX_DROP;

		if (tx_read(qp, cons, prod, &pkt))
			break; /* the rest of the packet is not published yet */
		if (!pkt.bad)
			v = xmit(qp, &pkt);
		if (v == ACCEL_SDK_TX_STOP)
			break;
		if (v == ACCEL_SDK_TX_SENT) {
			p->st.tx_packets++;
			p->st.tx_bytes += pkt.total;
			q->tx_packets++;
		} else {
			p->st.tx_dropped++;
		}
		tx_complete(qp, cons, &pkt, v != ACCEL_SDK_TX_SENT);
		cons += pkt.n;
		done += pkt.n;
		pkts++;
	}
	accel_sdk_tx_publish(qp, cons, done);
	return pkts;
}

/* ---- RX ---- */

int accel_sdk_rx_deliver(struct accel_qp *qp, const uint8_t *frame, uint32_t len,
			 uint16_t first_flags)
{
	struct accel_sdk_qp *q = ACCEL_SDK_QP(qp);
	struct accel_sdk_port *p = ACCEL_SDK_PORT(q->port);
	struct accel_desc d[ACCEL_TX_MAX_SLOTS];
	uint32_t prod = accel_ring_load(&q->sh->rx_prod), cons = q->rx_cons;
	uint32_t avail = prod - cons, n = 0, room = 0, off = 0;
	int fault = 0;

	if (avail > q->ring_len) {
		p->st.ring_errors++;
		q->sh->status.idx |= ACCEL_QP_S_RING_ERR;
		p->st.rx_dropped++;
		return -EIO;
	}
	while (room < len && n < avail && n < ACCEL_TX_MAX_SLOTS) {
		d[n] = accel_sdk_desc_read(&q->rx[(cons + n) & (q->ring_len - 1)]);
		room += d[n].len;
		n++;
	}
	if (room < len || n == 0) {
		p->st.rx_no_buffer++;
		p->st.rx_dropped++;
		return -ENOBUFS;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t chunk = len - off < d[i].len ? len - off : d[i].len;

		if (!fault &&
		    accel_sdk_dma(q->port, d[i].iova, (void *)(uintptr_t)(frame + off), chunk, 1))
			fault = 1;
		d[i].flags = ACCEL_DESC_F_DONE;
		if (fault) {
			d[i].flags |= ACCEL_DESC_F_ERR;
			d[i].len = 0;
		} else {
			d[i].len = (uint16_t)chunk;
			if (i + 1 < n)
				d[i].flags |= ACCEL_DESC_F_MORE;
		}
		off += chunk;
	}
	if (!fault)
		d[0].flags |= first_flags;
	for (uint32_t i = 0; i < n; i++)
		q->rx[(cons + i) & (q->ring_len - 1)] = d[i];
	q->rx_cons = cons + n;
	/* completions written above are visible before the new consumer index */
	accel_ring_store(&q->sh->rx_cons, q->rx_cons);
	accel_sdk_irq_note(qp, n);
	if (fault) {
		p->st.rx_dropped++;
		return -EFAULT;
	}
	p->st.rx_packets++;
	p->st.rx_bytes += len;
	q->rx_packets++;
	return 0;
}

static int vlan_match(uint16_t filter, uint16_t vid)
{
	return filter == ACCEL_VLAN_ANY || filter == vid;
}

struct accel_qp *accel_sdk_lookup_ucast(struct accel_dev *dev, const uint8_t *mac, uint16_t vid,
					uint32_t min_level, const struct accel_port *skip)
{
	struct accel_sdk_dev *d = ACCEL_SDK_DEV(dev);

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < d->ports_end; i++) {
			struct accel_sdk_port *p = ACCEL_SDK_PORT(d->ports[i]);
			if (!p || d->ports[i] == skip || p->detached || p->level < min_level)
				continue;
			if (pass == 0) {
				for (uint32_t k = 0; k < p->n_filters; k++) {
					const struct accel_rx_filter *f = &p->filters[k].f;
					if (memcmp(f->mac, mac, 6) == 0 &&
					    vlan_match(f->vlan, vid) && f->qid < p->n_qps)
						return p->qps[f->qid];
				}
			} else if (p->level >= 2 && p->n_qps && memcmp(p->mac, mac, 6) == 0) {
				return p->qps[0];
			}
		}
	}
	return NULL;
}
