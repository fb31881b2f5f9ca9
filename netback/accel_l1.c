/* SPDX-License-Identifier: MIT */
/*
 * netback's NIC accelerators, Level 1 (accel_int.h): the vif's own device port
 * with an RX queue steered by its MAC; the guest's posted RX grants are mapped
 * once, registered at IOVA gref << 12 and posted to that queue, so unicast from
 * the wire lands in guest buffers and netback only writes the RX responses.
 */
#include <errno.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/accel.h>
#include <pvnet/log.h>

#include "accel_int.h"


/* ---- Level 1: the guest's RX buffers on the vif's own NIC queue ------------------------ */

static struct l1_gref *gref_lookup(struct nb_accel_vif *av, uint32_t gref)
{
	uint32_t h = (gref * 2654435761u) & (L1_MAX_GREFS - 1);

	for (uint32_t i = 0; i < L1_MAX_GREFS; i++) {
		struct l1_gref *e = &av->grefs[(h + i) & (L1_MAX_GREFS - 1)];
		if (!e->used || e->gref == gref)
			return e;
	}
	return NULL;
}


/* Maps a guest RX grant once and registers it at IOVA gref << 12. 0 or -errno. */
static int gref_register(struct nb_accel_vif *av, uint32_t gref)
{
	struct nb *nb = av->vif->nb;
	struct l1_gref *e = gref_lookup(av, gref);
	struct gnttab_map_grant_ref m = {
		.flags = GNTMAP_host_map, .ref = gref, .dom = av->vif->domid};
	struct accel_mem_region r;
	int rc;

	if (e && e->used)
		return 0;
	if (!e || av->n_grefs >= L1_MAX_GREFS / 2) {
		av->grefs_full = true;
		return -ENOSPC;
	}
	rc = gnttab_map_grant_ref(nb->hv, 0, &m, 1);
	if (rc < 0 || m.status != GNTST_okay)
		return -EPERM;
	r = (struct accel_mem_region){.iova = (uint64_t)gref << 12,
				      .host = (void *)(uintptr_t)m.host_addr,
				      .size = ACCEL_PAGE_SIZE,
				      .flags = ACCEL_MEM_F_WRITABLE};
	rc = accel_attach_mem_register(av->att, &r, 1);
	if (rc < 0) {
		struct gnttab_unmap_grant_ref u = {.handle = m.handle};
		gnttab_unmap_grant_ref(nb->hv, 0, &u, 1);
		av->grefs_full = true;
		return rc;
	}
	*e = (struct l1_gref){.gref = gref,
			      .used = true,
			      .handle = m.handle,
			      .host = (void *)(uintptr_t)m.host_addr};
	av->n_grefs++;
	av->grant_maps++;
	return 0;
}


/* NIC completions -> RX responses in ring order. Caller holds q->rx_lock. Returns
 * the packets delivered. */
static unsigned l1_harvest_locked(struct nb_queue *q, struct nb_accel_vif *av)
{
	struct nb_qp *nq = &av->qp;
	uint32_t cons = accel_ring_load(&nq->sh->rx_cons); /* completions before the index */
	unsigned pkts = 0, errs = 0;
	uint64_t bytes = 0;
	bool first = true;
	int notify = 0;

	if (nq->rx_next == cons)
		return 0;
	while (nq->rx_next != cons) {
		struct accel_desc d =
			*(volatile struct accel_desc *)&nq->rx[nq->rx_next & nq->mask];
		RING_IDX idx = q->rx.rsp_prod_pvt;
		struct netif_rx_response r = {.id = av->req_id[idx & (NB_RX_RING - 1)],
					      .offset = 0};

		/* the device never touches id: a slot out of order is a broken device */
		if (d.id != (uint32_t)idx || idx == q->rx.req_cons) {
			PVLOG_RL(WARN, NB_MOD, "%s: NIC RX completion out of order", av->vif->name);
			break;
		}
		if ((d.flags & ACCEL_DESC_F_ERR) || d.len > ACCEL_PAGE_SIZE) {
			r.status = NETIF_RSP_ERROR;
			errs++;
		} else {
			r.status = (int16_t)d.len;
			bytes += d.len;
		}
		if (first && (d.flags & ACCEL_DESC_F_CSUM_OK))
			r.flags |= NETRXF_data_validated;
		if (d.flags & ACCEL_DESC_F_MORE) {
			r.flags |= NETRXF_more_data;
			first = false;
		} else {
			first = true;
			pkts++;
		}
		*RING_GET_RESPONSE(&q->rx, idx) = r;
		q->rx.rsp_prod_pvt++;
		nq->rx_next++;
	}
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->rx, notify);
	if (notify) {
		uint64_t one = 1;
		if (write(q->rx_notify_fd, &one, sizeof(one)) < 0)
			PVLOG_RL(WARN, NB_MOD, "%s: RX notify failed", av->vif->name);
	}
	nb_add(&av->nic_rx_packets, pkts);
	nb_add(&av->nic_rx_bytes, bytes);
	nb_add(&av->nic_rx_errors, errs);
	nb_add(&av->vif->rx_packets, pkts);
	nb_add(&av->vif->rx_bytes, bytes);
	return pkts;
}


void nb_accel_rx_reclaim_locked(struct nb_queue *q)
{
	struct nb_accel_vif *av = q->vif->accel;
	struct nb_qp *nq;

	if (!av || !av->rx_active || q->index != 0 || q->rx.req_cons == q->rx.rsp_prod_pvt)
		return;
	nq = &av->qp;
	/* stop the device using our posted buffers; afterwards it writes none of them */
	if (!av->port_detached && accel_attach_detach(av->att) == 0)
		av->port_detached = true;
	if (!av->port_detached)
		return; /* cannot take them back: software waits for the NIC */
	l1_harvest_locked(q, av);
	/* the device is detached and reads rx_prod afresh: retract what it did not use */
	nq->rx_prod = accel_ring_load(&nq->sh->rx_cons);
	accel_ring_store(&nq->sh->rx_prod, nq->rx_prod);
	q->rx.req_cons = q->rx.rsp_prod_pvt; /* the requests are the software path's again */
	av->reclaims++;
}


void nb_accel_rx_refill_locked(struct nb_queue *q)
{
	struct nb_accel_vif *av = q->vif->accel;
	struct netif_rx_sring *s = q->rx.sring;
	struct nb_qp *nq;
	RING_IDX prod;
	uint32_t avail, room, posted = 0;

	if (av && q->index == 0)
		__atomic_store_n(&q->accel_lend,
				 av->rx_active && !av->user_detached && !av->grefs_full,
				 __ATOMIC_RELAXED);
	if (!av || !av->rx_active || q->index != 0 || av->user_detached || av->grefs_full ||
	    q->pend_count || __atomic_load_n(&q->vif->disabled, __ATOMIC_RELAXED))
		return;
	nq = &av->qp;
	l1_harvest_locked(q, av);
	prod = PVNET_RING_READ_ONCE(s->req_prod);
	pvnet_rmb(); /* req_prod before the requests it publishes */
	avail = prod - q->rx.req_cons;
	if (avail > NB_RX_RING)
		return; /* rx.c flags the vif */
	room = nq->map.ring_len - (nq->rx_prod - accel_ring_load(&nq->sh->rx_cons));
	while (posted < avail && posted < room) {
		struct netif_rx_request rq;
		RING_IDX idx = q->rx.req_cons;

		RING_COPY_REQUEST(&q->rx, idx, &rq); /* one copy; only the copy is used */
		if (gref_register(av, rq.gref) < 0)
			break;
		av->req_id[idx & (NB_RX_RING - 1)] = rq.id;
		nq->rx[nq->rx_prod & nq->mask] =
			(struct accel_desc){.iova = (uint64_t)rq.gref << 12,
					    .len = ACCEL_PAGE_SIZE,
					    .id = (uint32_t)idx};
		nq->rx_prod++;
		q->rx.req_cons++;
		posted++;
	}
	if (posted)
		accel_ring_store(&nq->sh->rx_prod, nq->rx_prod); /* descriptors before the index */
	if (av->port_detached && accel_attach_reattach(av->att) == 0)
		av->port_detached = false;
	/* an event when the guest posts more */
	(void)pvnet_ring_holdoff(&s->req_event, &s->req_prod, q->rx.req_cons + 1);
}


/* The uplink worker, on the vif queue's interrupt. */
static int l1_poll(void *arg, unsigned budget)
{
	struct nb_accel_vif *av = arg;
	struct nb_queue *q = &av->vif->queues[0];
	unsigned n;

	(void)budget;
	nba_irq_drain(&av->qp);
	pthread_mutex_lock(&q->rx_lock);
	n = av->rx_active ? l1_harvest_locked(q, av) : 0;
	nb_accel_rx_refill_locked(q);
	pthread_mutex_unlock(&q->rx_lock);
	return (int)n;
}


void nba_l1_teardown(struct nb_accel_vif *av)
{
	struct nb *nb = av->vif->nb;

	if (av->vif->queues && av->rx_active) {
		struct nb_queue *q = &av->vif->queues[0];
		pthread_mutex_lock(&q->rx_lock);
		av->rx_active = false;
		__atomic_store_n(&q->accel_lend, 0, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&q->rx_lock);
	}
	if (av->worker_added)
		vsw_worker_del(av->nic->worker, av->qp.map.irq_fd);
	av->worker_added = false;
	accel_attach_destroy(av->att); /* the device touches no guest page afterwards */
	av->att = NULL;
	nba_qp_unmap(&av->qp);
	for (unsigned i = 0; i < L1_MAX_GREFS; i++) {
		if (av->grefs[i].used) {
			struct gnttab_unmap_grant_ref u = {.handle = av->grefs[i].handle};
			gnttab_unmap_grant_ref(nb->hv, 0, &u, 1);
		}
	}
	memset(av->grefs, 0, sizeof(av->grefs));
	av->n_grefs = 0;
}


int nba_l1_setup(struct nb_accel_vif *av)
{
	struct nb_vif *vif = av->vif;
	struct accel_vif_config vc = {.domid = vif->domid,
				      .handle = vif->handle,
				      .level = av->want_level,
				      .queues = 1,
				      .iommu_quota = L1_MAX_GREFS / 2,
				      .ring_len = NB_RX_RING};
	struct accel_rx_filter f = {.vlan = ACCEL_VLAN_NONE, .qid = 0};
	int rc;

	if (pvnet_mac_parse(vif->mac, vc.mac))
		return -EINVAL;
	memcpy(f.mac, vc.mac, 6);
	rc = accel_attach_create(av->nic->dev, &vc, &av->att);
	if (rc < 0)
		return rc;
	(void)accel_attach_feature_set_name(av->att, "large-receive-offload", 0);
	rc = nba_qp_mapin(av->att, &av->qp);
	if (rc == 0)
		rc = accel_attach_rx_filter_add(av->att, &f);
	if (rc == 0)
		rc = vsw_worker_add(av->nic->worker, av->qp.map.irq_fd, l1_poll, av);
	if (rc < 0) {
		nba_l1_teardown(av);
		return rc;
	}
	av->worker_added = true;
	{
		struct nb_queue *q = &vif->queues[0];
		pthread_mutex_lock(&q->rx_lock);
		av->rx_active = true;
		nb_accel_rx_refill_locked(q);
		pthread_mutex_unlock(&q->rx_lock);
	}
	return 0;
}
