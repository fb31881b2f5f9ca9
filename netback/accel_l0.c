/* SPDX-License-Identifier: MIT */
/*
 * netback's NIC accelerators, Level 0 (accel_int.h): a NIC opened from a plugin,
 * its wire (an AF_PACKET socket on a host interface) and its uplink port on the
 * switch, driven by dom0 through the device's default queue pair.
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


/* ---- the wire ---------------------------------------------------------------------- */

/* AF_PACKET socket on `ifname`: promiscuous, up, our own frames not looped back. */
/* The last error a plugin logged while opening a NIC on this thread (the control
 * thread), for the CLI's message; every line also goes to pvnetd's log. */
static __thread char nic_last_err[384];

static void nic_host_log(void *ctx, enum accel_log_level level, const char *msg)
{
	if (level == ACCEL_LOG_ERR)
		snprintf(nic_last_err, sizeof(nic_last_err), "%s", msg);
	if (pvnet_log_enabled((enum pvnet_log_level)level))
		pvnet_log((enum pvnet_log_level)level, ctx ? (const char *)ctx : "accel", "%s",
			  msg);
}


static int wire_open(const char *ifname, char *err, size_t errlen)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct packet_mreq mr = {.mr_type = PACKET_MR_PROMISC};
	struct ifreq ifr;
	int fd, one = 1, rc;

	if (strlen(ifname) >= IFNAMSIZ) {
		snprintf(err, errlen, "interface name '%s' too long", ifname);
		return -EINVAL;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "AF_PACKET socket: %s", strerror(-rc));
		return rc;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		rc = -errno;
		snprintf(err, errlen, "wire %s: no such interface", ifname);
		goto fail;
	}
	sll.sll_ifindex = ifr.ifr_ifindex;
	mr.mr_ifindex = ifr.ifr_ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "wire %s: %s", ifname, strerror(-rc));
		goto fail;
	}
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			PVLOG(WARN, NB_MOD, "wire %s: cannot set up: %s", ifname, strerror(errno));
	}
	return fd;
fail:
	close(fd);
	return rc;
}


/* ---- the uplink port (Level 0) ------------------------------------------------------ */

/* Frees TX slots the device completed; returns the free slots. Under tx_lock. */
static uint32_t tx_free_slots(struct nb_nic *nic)
{
	uint32_t cons = accel_ring_load(&nic->qp.sh->tx_cons);
	return nic->qp.map.ring_len - (nic->qp.tx_prod - cons);
}


static int uplink_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct nb_nic *nic = vsw_port_priv(port);
	struct nb_qp *q = &nic->qp;
	uint64_t full = 0, big = 0, sent = 0;
	unsigned n = 0;

	pthread_mutex_lock(&nic->tx_lock);
	uint32_t free_slots = tx_free_slots(nic);
	for (; n < batch->count; n++) {
		struct pvnet_pkt *pkt = batch->pkts[n];
		bool gso = pkt->gso_type != PVNET_GSO_NONE;
		uint32_t need = gso ? 2 : 1, slot;
		int len;

		if (free_slots < need) {
			full += batch->count - n;
			break;
		}
		if (gso) {
			slot = q->tx_prod & q->mask;
			q->tx[slot] = (struct accel_desc){
				.iova = (uint64_t)pkt->gso_size |
					(uint64_t)(pkt->gso_type == PVNET_GSO_TCPV6
							   ? ACCEL_GSO_TCPV6
							   : ACCEL_GSO_TCPV4)
						<< 16,
				.flags = ACCEL_DESC_F_GSO};
			q->tx_prod++;
		}
		slot = q->tx_prod & q->mask;
		len = vsw_pkt_linearize(pkt, batch->vlan_tci[n],
					nic->txbuf + (size_t)slot * NIC_TX_BUF, NIC_TX_BUF - 1);
		if (len < 14 || len > ACCEL_PKT_MAX) {
			/* cannot be sent: complete the GSO slot (if any) as a runt the NIC drops */
			big++;
			len = 0;
		}
		q->tx[slot] = (struct accel_desc){
			.iova = NIC_IOVA_TX + (uint64_t)slot * NIC_TX_BUF,
			.len = (uint16_t)len,
			.flags =
				(uint16_t)((pkt->flags & PVNET_PKT_F_CSUM_BLANK) ? ACCEL_DESC_F_CSUM
										 : 0),
			.id = slot};
		q->tx_prod++;
		free_slots -= need;
		sent++;
		pvnet_pkt_put(pkt);
	}
	if (n) {
		/* descriptors before the producer index that publishes them */
		accel_ring_store(&q->sh->tx_prod, q->tx_prod);
		nba_qp_doorbell(q);
	}
	pthread_mutex_unlock(&nic->tx_lock);
	nb_add(&nic->tx_ring_full, full);
	nb_add(&nic->tx_too_big, big);
	nb_add(&nic->tx_packets, sent - big);
	return (int)n;
}


/* Reposts the RX slots [from, to) with their own dom0 buffers. */
static void rx_post(struct nb_nic *nic, uint32_t count)
{
	struct nb_qp *q = &nic->qp;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t slot = q->rx_prod & q->mask;
		q->rx[slot] = (struct accel_desc){.iova = NIC_IOVA_RX + (uint64_t)slot * NIC_RX_BUF,
						  .len = NIC_RX_BUF,
						  .id = slot};
		q->rx_prod++;
	}
	/* posted buffers before the producer index */
	accel_ring_store(&q->sh->rx_prod, q->rx_prod);
}


/* The uplink worker: completed RX frames -> one vsw_input per burst. */
static int uplink_poll(void *arg, unsigned budget)
{
	struct nb_nic *nic = arg;
	struct nb_qp *q = &nic->qp;
	struct pvnet_pkt_batch batch = {0};
	uint32_t cons, used = 0;
	uint64_t errs = 0, nopkt = 0;

	nba_irq_drain(q);
	if (budget > PVNET_BATCH_MAX)
		budget = PVNET_BATCH_MAX;
	cons = accel_ring_load(&q->sh->rx_cons); /* completions before the index */
	while (q->rx_next != cons && batch.count < budget) {
		struct accel_desc d[ACCEL_TX_MAX_SLOTS];
		uint32_t n = 0, total = 0;
		bool bad = false;

		/* one chain: slots up to the first without MORE (the device publishes whole chains) */
		while (q->rx_next + n != cons && n < ACCEL_TX_MAX_SLOTS) {
			d[n] = *(volatile struct accel_desc *)&q->rx[(q->rx_next + n) & q->mask];
			if (!(d[n++].flags & ACCEL_DESC_F_MORE))
				break;
		}
		if (d[n - 1].flags & ACCEL_DESC_F_MORE) {
			if (n < ACCEL_TX_MAX_SLOTS)
				break; /* cannot happen with a whole chain published; retry later */
			bad = true;
		}
		struct pvnet_pkt *pkt = bad ? NULL : pvnet_pkt_alloc(nic->pool);
		if (!bad && !pkt) {
			nopkt++;
			break; /* leave it; the device counts rx_no_buffer meanwhile */
		}
		for (uint32_t i = 0; i < n && !bad; i++) {
			uint32_t slot = (q->rx_next + i) & q->mask;
			if ((d[i].flags & ACCEL_DESC_F_ERR) || d[i].len > NIC_RX_BUF ||
			    total + d[i].len > pkt->buf_size) {
				bad = true;
				break;
			}
			memcpy(pkt->buf + total, nic->rxbuf + (size_t)slot * NIC_RX_BUF, d[i].len);
			total += d[i].len;
		}
		q->rx_next += n;
		used += n;
		if (bad || total < 14) {
			errs++;
			pvnet_pkt_put(pkt);
			continue;
		}
		pkt->data = pkt->buf;
		pkt->len = pkt->head_size = total;
		if (d[0].flags & ACCEL_DESC_F_CSUM_OK)
			pkt->flags |= PVNET_PKT_F_DATA_VALIDATED;
		batch.pkts[batch.count++] = pkt;
	}
	if (used)
		rx_post(nic, used);
	nb_add(&nic->rx_errors, errs);
	nb_add(&nic->rx_no_pkt, nopkt);
	nb_add(&nic->rx_packets, batch.count);
	if (batch.count) {
		unsigned got = batch.count;
		vsw_input(nic->br, nic->port, &batch);
		return (int)got;
	}
	return 0;
}


static int uplink_get_stats(struct vsw_port *port, struct vsw_port_dev_stats *st)
{
	struct nb_nic *nic = vsw_port_priv(port);

	memset(st, 0, sizeof(*st));
	st->rx_packets = __atomic_load_n(&nic->rx_packets, __ATOMIC_RELAXED);
	st->tx_packets = __atomic_load_n(&nic->tx_packets, __ATOMIC_RELAXED);
	st->rx_errors = __atomic_load_n(&nic->rx_errors, __ATOMIC_RELAXED);
	st->tx_errors = __atomic_load_n(&nic->tx_too_big, __ATOMIC_RELAXED) +
			__atomic_load_n(&nic->tx_ring_full, __ATOMIC_RELAXED);
	return 0;
}


static int uplink_describe(struct vsw_port *port, char *buf, size_t size)
{
	struct nb_nic *nic = vsw_port_priv(port);
	return snprintf(buf, size, "nic=%s plugin=%s wire=%s", nic->name, nic->plugin,
			nic->wire[0] ? nic->wire : "-");
}


static const struct vsw_port_ops uplink_ops = {
	.type = "nic",
	.send = uplink_send,
	.get_stats = uplink_get_stats,
	.destroy = NULL, /* the NIC owns priv */
	.describe = uplink_describe,
};


static void nic_close(struct nb_nic *nic)
{
	if (!nic)
		return;
	if (nic->worker_added)
		vsw_worker_del(nic->worker, nic->qp.map.irq_fd);
	if (nic->port)
		vsw_port_del(nic->br, nic->port);
	nba_qp_unmap(&nic->qp);
	accel_device_close(nic->dev); /* destroys the attachments */
	if (nic->txbuf)
		munmap(nic->txbuf, (size_t)NIC_RING * NIC_TX_BUF);
	if (nic->rxbuf)
		munmap(nic->rxbuf, (size_t)NIC_RING * NIC_RX_BUF);
	pvnet_pkt_pool_destroy(nic->pool);
	if (nic->wire_fd >= 0)
		close(nic->wire_fd);
	pthread_mutex_destroy(&nic->tx_lock);
	free(nic);
}


static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}


/* nb_nic_add, step 1: the wire, the device, its uplink port and queue pair. */
static int nic_open(struct nb *nb, struct nb_nic *nic, const struct nb_nic_args *a, char *err,
		    size_t errlen)
{
	struct accel_open_args oa = {.wire_fd = -1, .max_vfs = a->vfs, .devargs = a->devargs};
	struct accel_host host = {.size = sizeof(host)};
	struct accel_vif_config vc = {.domid = 0,
				      .level = 0,
				      .queues = 1,
				      .iommu_quota = NIC_QUOTA,
				      .ring_len = NIC_RING,
				      .qp_flags = ACCEL_QP_F_DEFAULT_RX};
	int rc;

	if (a->wire) {
		snprintf(nic->wire, sizeof(nic->wire), "%s", a->wire);
		nic->wire_fd = wire_open(a->wire, err, errlen);
		if (nic->wire_fd < 0) {
			rc = nic->wire_fd;
			nic->wire_fd = -1;
			return rc;
		}
	}
	oa.wire_fd = nic->wire_fd;
	host.ctx = nic->plugin;
	host.log = nic_host_log;
	nic_last_err[0] = 0;
	rc = accel_device_open(nb->accel->reg, a->plugin, &host, &oa, &nic->dev);
	if (rc < 0) {
		/* the plugin's own words (e.g. DPDK's probe error) say more than errno */
		snprintf(err, errlen, "opening %s: %s", a->plugin,
			 nic_last_err[0] ? nic_last_err : strerror(-rc));
		return rc;
	}
	rc = accel_attach_create(nic->dev, &vc, &nic->up);
	if (rc < 0) {
		snprintf(err, errlen, "uplink port: %s", strerror(-rc));
		return rc;
	}
	rc = nba_qp_mapin(nic->up, &nic->qp);
	if (rc < 0)
		snprintf(err, errlen, "mapping the uplink queue pair: %s", strerror(-rc));
	return rc;
}

/* nb_nic_add, step 2: dom0's TX/RX buffers registered, the packet pool, RX posted. */
static int nic_buffers(struct nb_nic *nic, char *err, size_t errlen)
{
	struct accel_mem_region mr[2];
	int rc;

	nic->txbuf = mmap(NULL, (size_t)NIC_RING * NIC_TX_BUF, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	nic->rxbuf = mmap(NULL, (size_t)NIC_RING * NIC_RX_BUF, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nic->txbuf == MAP_FAILED || nic->rxbuf == MAP_FAILED) {
		if (nic->txbuf == MAP_FAILED)
			nic->txbuf = NULL;
		if (nic->rxbuf == MAP_FAILED)
			nic->rxbuf = NULL;
		rc = -ENOMEM;
		snprintf(err, errlen, "buffers: %s", strerror(-rc));
		return rc;
	}
	mr[0] = (struct accel_mem_region){
		.iova = NIC_IOVA_TX, .host = nic->txbuf, .size = NIC_RING * NIC_TX_BUF};
	mr[1] = (struct accel_mem_region){.iova = NIC_IOVA_RX,
					  .host = nic->rxbuf,
					  .size = NIC_RING * NIC_RX_BUF,
					  .flags = ACCEL_MEM_F_WRITABLE};
	rc = accel_attach_mem_register(nic->up, mr, 2);
	if (rc < 0) {
		snprintf(err, errlen, "registering dom0 buffers: %s", strerror(-rc));
		return rc;
	}
	rc = pvnet_pkt_pool_create(NIC_POOL_PKTS, NIC_TX_BUF, &nic->pool);
	if (rc < 0) {
		snprintf(err, errlen, "packet pool: %s", strerror(-rc));
		return rc;
	}
	/* frames the switch hands the uplink are at most one MTU-sized frame unless
	 * the NIC segments: the LRO it would do needs an MSS the ring cannot carry */
	(void)accel_attach_feature_set_name(nic->up, "large-receive-offload", 0);
	rx_post(nic, nic->qp.map.ring_len);
	return 0;
}

/* nb_nic_add, step 3: the uplink port on its bridge and the worker polling it. */
static int nic_plug(struct nb *nb, struct nb_nic *nic, char *err, size_t errlen)
{
	uint64_t feat_sup = 0, feat_act = 0;
	unsigned port_flags = 0;
	int rc;

	/* the uplink takes only the offloads the NIC does: the switch segments and
	 * checksums in software for the rest (a NIC without TSO drops super-frames) */
	if (accel_attach_features_get(nic->up, &feat_sup, &feat_act) == 0) {
		if (feat_act & ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM))
			port_flags |= VSW_PORT_F_CSUM;
		if ((feat_act & ACCEL_FEAT_BIT(ACCEL_FEAT_TSO)) &&
		    (feat_act & ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM)))
			port_flags |= VSW_PORT_F_TSO4 | VSW_PORT_F_TSO6;
	}
	rc = vsw_bridge_get_or_create(nb->sw, nic->bridge, &nic->br);
	if (rc == 0)
		rc = vsw_port_add(nic->br, nic->name, &uplink_ops, nic, port_flags, &nic->port);
	if (rc < 0) {
		snprintf(err, errlen, "uplink port %s on %s: %s", nic->name, nic->bridge,
			 strerror(-rc));
		nic->port = NULL;
		return rc;
	}
	rc = vsw_switch_uplink_worker(nb->sw, &nic->worker);
	if (rc == 0)
		rc = vsw_worker_add(nic->worker, nic->qp.map.irq_fd, uplink_poll, nic);
	if (rc < 0) {
		snprintf(err, errlen, "uplink worker: %s", strerror(-rc));
		return rc;
	}
	nic->worker_added = true;
	return 0;
}

int nb_nic_add(struct nb *nb, const struct nb_nic_args *a, char *err, size_t errlen)
{
	struct nb_nic *nic = NULL;
	unsigned slot = NIC_MAX;
	int rc;

	if (!nb->accel || !nb->accel->reg) {
		snprintf(err, errlen, "no accelerator registry");
		return -ENODEV;
	}
	if (!valid_name(a->name, sizeof(nic->name))) {
		snprintf(err, errlen, "bad NIC name '%.32s' ([A-Za-z0-9_.-], at most 15)", a->name);
		return -EINVAL;
	}
	if (nba_nic_find(nb, a->name)) {
		snprintf(err, errlen, "NIC %s exists", a->name);
		return -EEXIST;
	}
	for (unsigned i = 0; i < NIC_MAX && slot == NIC_MAX; i++)
		if (!nb->accel->nics[i])
			slot = i;
	if (slot == NIC_MAX) {
		snprintf(err, errlen, "at most %u NICs", NIC_MAX);
		return -ENOSPC;
	}
	if (!accel_find(nb->accel->reg, a->plugin)) {
		snprintf(err, errlen, "no accelerator plugin '%.32s' (see pvnet accel list)",
			 a->plugin);
		return -ENOENT;
	}
	nic = calloc(1, sizeof(*nic));
	if (!nic)
		return -ENOMEM;
	nic->nb = nb;
	nic->wire_fd = -1;
	pthread_mutex_init(&nic->tx_lock, NULL);
	nic->qp.map.mem_fd = nic->qp.map.doorbell_fd = nic->qp.map.irq_fd = -1;
	snprintf(nic->name, sizeof(nic->name), "%s", a->name);
	snprintf(nic->plugin, sizeof(nic->plugin), "%s", a->plugin);
	snprintf(nic->bridge, sizeof(nic->bridge), "%s", a->bridge ? a->bridge : "br0");
	nic->max_vfs = a->vfs;
	rc = nic_open(nb, nic, a, err, errlen);
	if (rc == 0)
		rc = nic_buffers(nic, err, errlen);
	if (rc == 0)
		rc = nic_plug(nb, nic, err, errlen);
	if (rc < 0) {
		nic_close(nic);
		return rc;
	}
	nb->accel->nics[slot] = nic;
	PVLOG(INFO, NB_MOD, "NIC %s: plugin %s, wire %s, uplink on bridge %s", nic->name,
	      nic->plugin, nic->wire[0] ? nic->wire : "-", nic->bridge);
	return 0;
}

int nb_nic_del(struct nb *nb, const char *name)
{
	struct nb_nic *nic = nba_nic_find(nb, name);

	if (!nic)
		return -ENOENT;
	for (struct nb_vif *v = nb->vifs; v; v = v->next)
		if (v->accel && v->accel->nic == nic)
			nb_accel_vif_disconnect(v);
	for (unsigned i = 0; i < NIC_MAX; i++)
		if (nb->accel->nics[i] == nic)
			nb->accel->nics[i] = NULL;
	nic_close(nic);
	return 0;
}
