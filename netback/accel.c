/* SPDX-License-Identifier: MIT */
/*
 * dom0's driver of NIC accelerators (include/pvnet/netback.h, "NIC accelerators"):
 * the NIC's uplink port on the switch (Level 0), the per-vif RX queues whose
 * buffers are the guest's own posted RX grants (Level 1), and the control path of
 * guest-driven queue pairs (Levels 2-3): dom0 maps the buffer pools the frontend
 * granted (accel-tx-pool / accel-rx-pool), registers them in the port's IOMMU at
 * IOVA gref << 12, programs the TX MAC/IP filter, the rate limit and the RX filter,
 * and publishes accel-frontend / accel-qp / accel-local-macs in the backend dir;
 * the guest fetches the qp's fds with the ACCEL_QP hypercall (the connector below)
 * and drives it itself. dom0 touches no packet of that vif's fast path.
 *
 * Queue pairs are driven through their shared memory (pvnet/accel.h, "driver
 * half"): dom0 maps each qp's memfd, posts descriptors, release-stores the
 * producer index and rings the doorbell once per burst; completions are read
 * after an acquire-load of the device's consumer index. Interrupt eventfds are
 * polled by the switch's uplink worker (level-triggered; the poll drains them).
 *
 * Files (accel_int.h): this one holds what every level shares (queue-pair mapping,
 * the registry and the guest's qp connector, per-vif connect/disconnect by level,
 * the numbers the CLI views are built from); accel_l0.c the NIC and its uplink
 * port, accel_l1.c Level 1, accel_l2.c Levels 2-3, accel_l3.c the Level-3 hairpin.
 * Text and JSON are pvnetd's (tools/pvnetd/report.c): netback returns numbers.
 *
 * Locks: nic->tx_lock serialises the uplink's send() (several netback workers) and
 * is taken once per burst. A Level-1 vif's RX state lives under its queue 0's
 * rx_lock, the lock rx.c already holds for the ring, so the NIC completions and
 * the software path never write responses concurrently. Control calls run on the
 * control thread.
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

/* ---- queue-pair mapping ---------------------------------------------------------- */

void nba_qp_unmap(struct nb_qp *q)
{
	if (q->mem)
		munmap(q->mem, q->map.mem_size);
	if (q->map.mem_fd >= 0)
		close(q->map.mem_fd);
	if (q->map.doorbell_fd >= 0)
		close(q->map.doorbell_fd);
	if (q->map.irq_fd >= 0)
		close(q->map.irq_fd);
	memset(q, 0, sizeof(*q));
	q->map.mem_fd = q->map.doorbell_fd = q->map.irq_fd = -1;
}


int nba_qp_mapin(struct accel_attach *att, struct nb_qp *q)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->map.mem_fd = q->map.doorbell_fd = q->map.irq_fd = -1;
	rc = accel_attach_map_qp(att, 0, 0, &q->map);
	if (rc < 0)
		return rc;
	q->mem = mmap(NULL, q->map.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, q->map.mem_fd, 0);
	if (q->mem == MAP_FAILED) {
		q->mem = NULL;
		rc = -errno;
		nba_qp_unmap(q);
		return rc;
	}
	q->sh = q->mem;
	q->tx = (struct accel_desc *)((uint8_t *)q->mem + q->map.tx_ring_off);
	q->rx = (struct accel_desc *)((uint8_t *)q->mem + q->map.rx_ring_off);
	q->mask = q->map.ring_len - 1;
	q->tx_prod = accel_ring_load(&q->sh->tx_prod);
	q->rx_prod = accel_ring_load(&q->sh->rx_prod);
	q->rx_next = accel_ring_load(&q->sh->rx_cons);
	return 0;
}


void nba_qp_doorbell(struct nb_qp *q)
{
	uint64_t one = 1;
	if (write(q->map.doorbell_fd, &one, sizeof(one)) < 0)
		PVLOG_RL(WARN, NB_MOD, "doorbell: %s", strerror(errno));
}


void nba_irq_drain(struct nb_qp *q)
{
	uint64_t v;
	if (read(q->map.irq_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		PVLOG_RL(WARN, NB_MOD, "irq eventfd: %s", strerror(errno));
}

void nb_accel_set_registry(struct nb *nb, struct accel_registry *reg)
{
	if (!nb->accel)
		nb->accel = calloc(1, sizeof(*nb->accel));
	if (nb->accel)
		nb->accel->reg = reg;
	hv_set_accel_connector(nb->hv, reg && nb->accel ? nba_guest_connect : NULL, nb);
}


struct nb_nic *nba_nic_find(struct nb *nb, const char *name)
{
	if (!nb->accel)
		return NULL;
	for (unsigned i = 0; i < NIC_MAX; i++)
		if (nb->accel->nics[i] && !strcmp(nb->accel->nics[i]->name, name))
			return nb->accel->nics[i];
	return NULL;
}


/* ---- per-vif attach / detach ------------------------------------------------------ */

int nba_read_be(struct nb_vif *vif, const char *key, char *buf, size_t size)
{
	char path[160], *val = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", vif->be_path, key);
	rc = xs_read(vif->nb->xs, 0, 0, path, &val, &len);
	if (rc < 0)
		return rc;
	if (len >= size || memchr(val, 0, len)) {
		free(val);
		return -EINVAL;
	}
	memcpy(buf, val, len);
	buf[len] = 0;
	free(val);
	return 0;
}


static struct nb_nic *nic_for_vif(struct nb_vif *vif, const char *plugin)
{
	char want[16];
	struct nb *nb = vif->nb;

	if (!nb->accel)
		return NULL;
	if (nba_read_be(vif, "accel-nic", want, sizeof(want)) == 0)
		return nba_nic_find(nb, want);
	for (unsigned i = 0; i < NIC_MAX; i++)
		if (nb->accel->nics[i] && !strcmp(nb->accel->nics[i]->plugin, plugin))
			return nb->accel->nics[i];
	return NULL;
}


void nb_accel_vif_connect(struct nb_vif *vif)
{
	char plugin[ACCEL_NAME_MAX], lvl[8];
	struct nb_accel_vif *av;
	unsigned level = 0;
	int rc;

	vif->accel_note[0] = 0;
	if (nba_read_be(vif, "accel", plugin, sizeof(plugin)) < 0 || !plugin[0]) {
		nba_local_macs_refresh(vif->nb, vif->bridge_name, NULL);
		return;
	}
	if (nba_read_be(vif, "accel-level", lvl, sizeof(lvl)) == 0) {
		if (lvl[0] < '0' || lvl[0] > '3' || lvl[1]) {
			PVLOG(WARN, NB_MOD, "%s: bad accel-level '%s', using 0", vif->name, lvl);
		} else {
			level = (unsigned)(lvl[0] - '0');
		}
	}
	av = calloc(1, sizeof(*av));
	if (!av)
		return;
	av->vif = vif;
	av->want_level = level;
	av->qp.map.mem_fd = av->qp.map.doorbell_fd = av->qp.map.irq_fd = -1;
	av->nic = nic_for_vif(vif, plugin);
	if (!av->nic) {
		PVLOG(WARN, NB_MOD,
		      "%s: accel=%s: no such NIC opened (pvnet nic add); software path", vif->name,
		      plugin);
		snprintf(vif->accel_note, sizeof(vif->accel_note),
			 "software path: no %s NIC on this host", plugin);
		free(av);
		return;
	}
	if (strcmp(av->nic->bridge, vif->bridge_name))
		PVLOG(WARN, NB_MOD, "%s: NIC %s is on bridge %s, the vif on %s", vif->name,
		      av->nic->name, av->nic->bridge, vif->bridge_name);
	pthread_mutex_lock(&vif->queues[0].rx_lock); /* the RX hooks read it under the lock */
	vif->accel = av;
	pthread_mutex_unlock(&vif->queues[0].rx_lock);
	if (level >= 1) {
		/* Levels 2-3 need the guest half (netfront/accel.c); until it is wired dom0
		 * drives the vif's port (a VF at Level 3, counted against --vfs) as at
		 * Level 1 */
		unsigned long vlan = 0;
		char v[8];
		if (nba_read_be(vif, "vlan", v, sizeof(v)) == 0)
			vlan = strtoul(v, NULL, 10);
		if (vif->nr_queues != 1 || vlan) {
			PVLOG(INFO, NB_MOD,
			      "%s: Level %u needs one queue and no access VLAN; Level 0", vif->name,
			      level);
		} else if (level >= 2 && (rc = nba_l2_setup(av)) != -EOPNOTSUPP) {
			if (rc < 0)
				PVLOG(WARN, NB_MOD,
				      "%s: %s port on NIC %s: %s; Level 0 (software path)",
				      vif->name, plugin, av->nic->name, strerror(-rc));
			else
				av->level = level;
		} else if ((rc = nba_l1_setup(av)) < 0) {
			PVLOG(WARN, NB_MOD, "%s: %s port on NIC %s: %s; Level 0 (software path)",
			      vif->name, plugin, av->nic->name, strerror(-rc));
		} else {
			av->level = level;
		}
	}
	snprintf(vif->accel_note, sizeof(vif->accel_note), "%s level %u on NIC %s%s", plugin,
		 av->level, av->nic->name, av->level < level ? " (asked more; see the log)" : "");
	PVLOG(INFO, NB_MOD, "%s: accelerator %s on NIC %s, level %u (asked %u)%s", vif->name,
	      plugin, av->nic->name, av->level, level, av->guest ? ", guest-driven" : "");
	nba_local_macs_refresh(vif->nb, vif->bridge_name, NULL);
}


void nb_accel_vif_disconnect(struct nb_vif *vif)
{
	struct nb_accel_vif *av = vif->accel;

	if (vif->nb->accel)
		nba_local_macs_refresh(vif->nb, vif->bridge_name, vif);
	if (!av)
		return;
	if (av->guest)
		nba_l2_teardown(av);
	else if (av->level >= 1)
		nba_l1_teardown(av);
	if (vif->queues) {
		/* the RX hooks read vif->accel under queue 0's rx_lock */
		pthread_mutex_lock(&vif->queues[0].rx_lock);
		vif->accel = NULL;
		pthread_mutex_unlock(&vif->queues[0].rx_lock);
	} else {
		vif->accel = NULL;
	}
	free(av);
}


void nb_accel_vif_rate_changed(struct nb_vif *vif, uint64_t packed)
{
	struct nb_accel_vif *av = vif->accel;
	int rc;

	/* Levels 0-1: the guest's TX passes netback's credit scheduler, which reads
	 * vif->rate itself. Levels 2-3: it goes straight to the NIC's queue pair. */
	if (!av || !av->guest || !av->att)
		return;
	rc = nba_l2_rate_set(av, packed);
	if (rc < 0)
		PVLOG(WARN, NB_MOD, "%s: NIC %s refused the new rate: %s", vif->name, av->nic->name,
		      strerror(-rc));
	else
		PVLOG(INFO, NB_MOD, "%s: rate applied on NIC %s's queue pair", vif->name,
		      av->nic->name);
}


void nb_accel_fini(struct nb *nb)
{
	if (!nb->accel)
		return;
	hv_set_accel_connector(nb->hv, NULL, NULL);
	for (unsigned i = 0; i < NIC_MAX; i++)
		if (nb->accel->nics[i])
			nb_nic_del(nb, nb->accel->nics[i]->name);
	free(nb->accel);
	nb->accel = NULL;
}


/* ---- CLI views ----------------------------------------------------------------------- */

int nb_nic_list(struct nb *nb, struct nb_nic_info *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; nb->accel && i < NIC_MAX; i++) {
		struct nb_nic *nic = nb->accel->nics[i];
		struct nb_nic_info *e;
		struct accel_stat st[64];
		int k;

		if (!nic)
			continue;
		if (n++ >= max)
			continue;
		e = &out[n - 1];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", nic->name);
		snprintf(e->plugin, sizeof(e->plugin), "%s", nic->plugin);
		snprintf(e->wire, sizeof(e->wire), "%s", nic->wire);
		snprintf(e->bridge, sizeof(e->bridge), "%s", nic->bridge);
		e->max_vfs = nic->max_vfs;
		k = accel_device_stats(nic->dev, st, 64);
		for (int j = 0; j < k && j < 64; j++) {
			if (!strcmp(st[j].name, "wire_rx_packets"))
				e->wire_rx_packets = st[j].value;
			else if (!strcmp(st[j].name, "wire_tx_packets"))
				e->wire_tx_packets = st[j].value;
			else if (!strcmp(st[j].name, "vfs_in_use"))
				e->vfs_in_use = st[j].value;
		}
	}
	return (int)n;
}

static struct nb_vif *vif_by_name(struct nb *nb, const char *name)
{
	for (struct nb_vif *v = nb->vifs; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}


/* Appends one item to an ethtool view (dropped beyond max, still counted). */
static void eth_put(struct nb_ethtool_item *out, unsigned max, unsigned *n, const char *name,
		    uint64_t value, bool fixed)
{
	if (*n < max) {
		struct nb_ethtool_item *e = &out[*n];
		snprintf(e->name, sizeof(e->name), "%.47s", name);
		e->value = value;
		e->fixed = fixed;
	}
	(*n)++;
}

/* ethtool -k / -S of a vif without an accelerator: what its frontend negotiated
 * (netif features as ethtool names) and netback's own counters for it. */
static unsigned soft_ethtool(struct nb_vif *vif, char what, struct nb_ethtool_item *out,
			     unsigned max)
{
	unsigned f = vif->features, n = 0;
	char name[48];

	if (what == 'k') {
		eth_put(out, max, &n, "rx-checksumming", !!(f & NB_FEAT_CSUM), true);
		eth_put(out, max, &n, "tx-checksumming", !!(f & NB_FEAT_CSUM), true);
		eth_put(out, max, &n, "scatter-gather", !!(f & NB_FEAT_SG), true);
		eth_put(out, max, &n, "tcp-segmentation-offload",
			!!(f & (NB_FEAT_GSO4 | NB_FEAT_GSO6)), false);
		eth_put(out, max, &n, "\ttx-tcp-segmentation", !!(f & NB_FEAT_GSO4), true);
		eth_put(out, max, &n, "\ttx-tcp6-segmentation", !!(f & NB_FEAT_GSO6), true);
		eth_put(out, max, &n, "large-receive-offload", 0, true);
		eth_put(out, max, &n, "persistent-grants", !!(f & NB_FEAT_PERSISTENT), true);
		return n;
	}
	/* tx = the guest's TX ring (guest -> switch), rx = its RX ring, as `pvnet stats` */
	eth_put(out, max, &n, "tx_packets", __atomic_load_n(&vif->tx_packets, __ATOMIC_RELAXED), 0);
	eth_put(out, max, &n, "tx_bytes", __atomic_load_n(&vif->tx_bytes, __ATOMIC_RELAXED), 0);
	eth_put(out, max, &n, "rx_packets", __atomic_load_n(&vif->rx_packets, __ATOMIC_RELAXED), 0);
	eth_put(out, max, &n, "rx_bytes", __atomic_load_n(&vif->rx_bytes, __ATOMIC_RELAXED), 0);
	for (unsigned r = 0; r < NB_DROP__MAX; r++) {
		snprintf(name, sizeof(name), "drop_%s", nb_drop_reason_name(r));
		eth_put(out, max, &n, name, __atomic_load_n(&vif->drops[r], __ATOMIC_RELAXED), 0);
	}
	return n;
}

int nb_accel_ethtool(struct nb *nb, const char *name, char what, struct nb_ethtool_item *out,
		     unsigned max)
{
	struct nb_vif *vif = vif_by_name(nb, name);
	struct nb_nic *nic = NULL;
	struct accel_attach *att = NULL;
	struct accel_stat st[128];
	char sname[48];
	unsigned n = 0;
	int k;

	if (vif) {
		if (!vif->accel)
			return (int)soft_ethtool(vif, what, out, max);
		att = vif->accel->att ? vif->accel->att : vif->accel->nic->up;
	} else if ((nic = nba_nic_find(nb, name))) {
		att = nic->up;
	} else {
		return -ENOENT;
	}
	if (what == 'k') {
		uint64_t sup = 0, act = 0;
		int rc = accel_attach_features_get(att, &sup, &act);
		if (rc)
			return rc;
		for (unsigned f = 0; f < ACCEL_FEAT_COUNT; f++)
			eth_put(out, max, &n, accel_feature_name(f), !!(act & ACCEL_FEAT_BIT(f)),
				!(sup & ACCEL_FEAT_BIT(f)));
		return (int)n;
	}
	k = accel_attach_stats(att, st, 128);
	if (k < 0)
		return k;
	for (int j = 0; j < k && j < 128; j++)
		eth_put(out, max, &n, st[j].name, st[j].value, false);
	if (vif && vif->accel->level >= 1) {
		struct nb_accel_vif *av = vif->accel;
		eth_put(out, max, &n, "pv_nic_rx_packets",
			__atomic_load_n(&av->nic_rx_packets, __ATOMIC_RELAXED), false);
		eth_put(out, max, &n, "pv_nic_rx_bytes",
			__atomic_load_n(&av->nic_rx_bytes, __ATOMIC_RELAXED), false);
		eth_put(out, max, &n, "pv_nic_rx_errors",
			__atomic_load_n(&av->nic_rx_errors, __ATOMIC_RELAXED), false);
		eth_put(out, max, &n, "pv_reclaims", av->reclaims, false);
		eth_put(out, max, &n, "pv_grant_maps", av->grant_maps, false);
		eth_put(out, max, &n, "pv_detached", av->user_detached, false);
		eth_put(out, max, &n, "pv_guest_driven", av->guest, false);
	} else if (nic) {
		k = accel_device_stats(nic->dev, st, 64);
		for (int j = 0; j < k && j < 64; j++) {
			snprintf(sname, sizeof(sname), "dev_%.43s", st[j].name);
			eth_put(out, max, &n, sname, st[j].value, false);
		}
	}
	return (int)(n < max ? n : max);
}


/* vif-list's accel note after `accel detach|attach` (or a migration's detach). */
static void nba_note_attached(struct nb_vif *vif, bool attached)
{
	struct nb_accel_vif *av = vif->accel;

	snprintf(vif->accel_note, sizeof(vif->accel_note), "%s level %u on NIC %s%s",
		 av->nic->plugin, av->level, av->nic->name,
		 attached ? "" : ", detached: software path");
}

int nb_accel_vif_set_attached(struct nb *nb, const char *name, bool attached)
{
	struct nb_vif *vif = vif_by_name(nb, name);
	struct nb_accel_vif *av;
	struct nb_queue *q;

	if (!vif)
		return -ENOENT;
	av = vif->accel;
	if (!av)
		return -ENODEV;
	if (av->level == 0)
		return -EOPNOTSUPP;
	if (av->guest) {
		/* the guest sees ACCEL_QP_S_DETACHED in the qp's status and sends on the
		 * rings; unicast from the wire reaches it through the default queue */
		int rc = attached ? accel_attach_reattach(av->att) : accel_attach_detach(av->att);
		if (rc < 0)
			return rc;
		av->user_detached = !attached;
		nba_local_macs_refresh(nb, vif->bridge_name, NULL); /* hairpin peers move too */
		nba_note_attached(vif, attached);
		return 0;
	}
	q = &vif->queues[0];
	pthread_mutex_lock(&q->rx_lock);
	if (!attached) {
		av->user_detached = true;
		/* the wire's unicast now reaches the vif through the switch */
		if (!av->port_detached && accel_attach_detach(av->att) == 0)
			av->port_detached = true;
		/* hand back the requests the NIC holds (it is detached) */
		if (q->rx.req_cons != q->rx.rsp_prod_pvt)
			nb_accel_rx_reclaim_locked(q);
	} else {
		av->user_detached = false;
		nb_accel_rx_refill_locked(q);
	}
	pthread_mutex_unlock(&q->rx_lock);
	/* anything queued meanwhile goes out now */
	nb_rx_service(q);
	nba_note_attached(vif, attached);
	return 0;
}
