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

#include "nb_private.h"

#define NIC_MAX 8
#define NIC_RING 256u
#define NIC_TX_BUF 65536u                   /* one (GSO) frame per TX slot */
#define NIC_RX_BUF 4096u                    /* one page per RX slot */
#define NIC_IOVA_TX 0x100000000ull          /* dom0's IOVAs, far above any gref << 12 */
#define NIC_IOVA_RX 0x200000000ull
#define NIC_QUOTA ((NIC_RING * NIC_TX_BUF + NIC_RING * NIC_RX_BUF) / ACCEL_PAGE_SIZE)
#define NIC_POOL_PKTS 512u
#define L1_MAX_GREFS 1024u /* distinct guest RX grants a Level-1 vif may have mapped */

/* A mapped queue pair, driven by dom0. */
struct nb_qp {
	struct accel_qp_map map;
	void *mem;
	struct accel_qp_shared *sh;
	struct accel_desc *tx, *rx;
	uint32_t mask;
	uint32_t tx_prod;  /* ours, published to sh->tx_prod */
	uint32_t rx_prod;  /* ours, published to sh->rx_prod */
	uint32_t rx_next;  /* next RX completion to read */
};

struct nb_nic {
	char name[16];
	char plugin[ACCEL_NAME_MAX];
	char wire[IFNAMSIZ];
	char bridge[VSW_NAME_MAX];
	unsigned max_vfs;
	int wire_fd;
	struct nb *nb;
	struct accel_device *dev;
	struct accel_attach *up; /* the uplink's Level-0 port, default RX queue */
	struct nb_qp qp;
	uint8_t *txbuf, *rxbuf;  /* registered dom0 buffers */
	struct pvnet_pkt_pool *pool;
	struct vsw_bridge *br;
	struct vsw_port *port;
	struct vsw_worker *worker;
	bool worker_added;
	pthread_mutex_t tx_lock;
	/* counters (relaxed atomics) */
	uint64_t tx_ring_full, tx_too_big, rx_no_pkt, rx_errors, rx_packets, tx_packets;
};

struct nb_accel {
	struct accel_registry *reg;
	struct nb_nic *nics[NIC_MAX];
};

struct l1_gref {
	uint32_t gref;
	bool used;
	grant_handle_t handle;
	void *host;
};

/* One vif's accelerator state. */
struct nb_accel_vif {
	struct nb_vif *vif;
	struct nb_nic *nic;
	unsigned level;          /* effective level (0 = uplink only) */
	unsigned want_level;
	struct accel_attach *att; /* Level >= 1 */
	struct nb_qp qp;
	bool worker_added;
	/* under queue 0's rx_lock */
	bool rx_active;          /* Level-1 RX running */
	bool port_detached;      /* detached to give the ring back to software */
	bool user_detached;      /* `pvnet accel detach` */
	uint16_t req_id[NB_RX_RING]; /* guest request ids by ring index */
	struct l1_gref grefs[L1_MAX_GREFS];
	unsigned n_grefs;
	bool grefs_full;
	/* counters */
	uint64_t nic_rx_packets, nic_rx_bytes, nic_rx_errors, reclaims, grant_maps;
	/* Levels 2-3, guest-driven (control thread only) */
	bool guest;               /* the guest drives the qp; dom0 only controls */
	grant_handle_t *l2_handles; /* mapped pool pages, unmapped at teardown */
	unsigned l2_nmaps;
	char local_macs[18 * 16]; /* last accel-local-macs written */
	bool local_macs_set;
};

#define L2_MAX_POOL 1024u /* pool pages (TX + RX) a guest may have registered */
#define L2_MAX_LOCAL 15u  /* MACs in accel-local-macs */
#define L2_RING 512u      /* descriptors per ring of a guest-driven qp (the guest posts
			   * min(ring, its RX pool) buffers: slack while it is descheduled) */

/* ---- queue-pair mapping ---------------------------------------------------------- */

static void qp_unmap(struct nb_qp *q)
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

static int qp_mapin(struct accel_attach *att, struct nb_qp *q)
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
		qp_unmap(q);
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

static void qp_doorbell(struct nb_qp *q)
{
	uint64_t one = 1;
	if (write(q->map.doorbell_fd, &one, sizeof(one)) < 0)
		PVLOG_RL(WARN, NB_MOD, "doorbell: %s", strerror(errno));
}

static void irq_drain(struct nb_qp *q)
{
	uint64_t v;
	if (read(q->map.irq_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		PVLOG_RL(WARN, NB_MOD, "irq eventfd: %s", strerror(errno));
}

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
					(uint64_t)(pkt->gso_type == PVNET_GSO_TCPV6 ? ACCEL_GSO_TCPV6
										    : ACCEL_GSO_TCPV4)
						<< 16,
				.flags = ACCEL_DESC_F_GSO};
			q->tx_prod++;
		}
		slot = q->tx_prod & q->mask;
		len = vsw_pkt_linearize(pkt, batch->vlan_tci[n], nic->txbuf + (size_t)slot * NIC_TX_BUF,
					NIC_TX_BUF - 1);
		if (len < 14 || len > ACCEL_PKT_MAX) {
			/* cannot be sent: complete the GSO slot (if any) as a runt the NIC drops */
			big++;
			len = 0;
		}
		q->tx[slot] = (struct accel_desc){
			.iova = NIC_IOVA_TX + (uint64_t)slot * NIC_TX_BUF,
			.len = (uint16_t)len,
			.flags = (uint16_t)((pkt->flags & PVNET_PKT_F_CSUM_BLANK) ? ACCEL_DESC_F_CSUM
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
		qp_doorbell(q);
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
						  .len = NIC_RX_BUF, .id = slot};
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

	irq_drain(q);
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
	qp_unmap(&nic->qp);
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

static int accel_connect(void *arg, domid_t domid, uint32_t handle, uint32_t qp,
			 struct hv_accel_qp *out);

void nb_accel_set_registry(struct nb *nb, struct accel_registry *reg)
{
	if (!nb->accel)
		nb->accel = calloc(1, sizeof(*nb->accel));
	if (nb->accel)
		nb->accel->reg = reg;
	hv_set_accel_connector(nb->hv, reg && nb->accel ? accel_connect : NULL, nb);
}

static struct nb_nic *nic_find(struct nb *nb, const char *name)
{
	if (!nb->accel)
		return NULL;
	for (unsigned i = 0; i < NIC_MAX; i++)
		if (nb->accel->nics[i] && !strcmp(nb->accel->nics[i]->name, name))
			return nb->accel->nics[i];
	return NULL;
}

int nb_nic_add(struct nb *nb, const struct nb_nic_args *a, char *err, size_t errlen)
{
	struct accel_open_args oa = {.wire_fd = -1, .max_vfs = a->vfs, .devargs = a->devargs};
	struct accel_host host = {.size = sizeof(host)};
	uint64_t feat_sup = 0, feat_act = 0;
	unsigned port_flags = 0;
	struct accel_vif_config vc = {.domid = 0, .level = 0, .queues = 1,
				      .iommu_quota = NIC_QUOTA, .ring_len = NIC_RING,
				      .qp_flags = ACCEL_QP_F_DEFAULT_RX};
	struct accel_mem_region mr[2];
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
	if (nic_find(nb, a->name)) {
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
	if (a->wire) {
		snprintf(nic->wire, sizeof(nic->wire), "%s", a->wire);
		nic->wire_fd = wire_open(a->wire, err, errlen);
		if (nic->wire_fd < 0) {
			rc = nic->wire_fd;
			nic->wire_fd = -1;
			goto fail;
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
		goto fail;
	}
	rc = accel_attach_create(nic->dev, &vc, &nic->up);
	if (rc < 0) {
		snprintf(err, errlen, "uplink port: %s", strerror(-rc));
		goto fail;
	}
	rc = qp_mapin(nic->up, &nic->qp);
	if (rc < 0) {
		snprintf(err, errlen, "mapping the uplink queue pair: %s", strerror(-rc));
		goto fail;
	}
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
		goto fail;
	}
	mr[0] = (struct accel_mem_region){.iova = NIC_IOVA_TX, .host = nic->txbuf,
					  .size = NIC_RING * NIC_TX_BUF};
	mr[1] = (struct accel_mem_region){.iova = NIC_IOVA_RX, .host = nic->rxbuf,
					  .size = NIC_RING * NIC_RX_BUF,
					  .flags = ACCEL_MEM_F_WRITABLE};
	rc = accel_attach_mem_register(nic->up, mr, 2);
	if (rc < 0) {
		snprintf(err, errlen, "registering dom0 buffers: %s", strerror(-rc));
		goto fail;
	}
	rc = pvnet_pkt_pool_create(NIC_POOL_PKTS, NIC_TX_BUF, &nic->pool);
	if (rc < 0) {
		snprintf(err, errlen, "packet pool: %s", strerror(-rc));
		goto fail;
	}
	/* frames the switch hands the uplink are at most one MTU-sized frame unless
	 * the NIC segments: the LRO it would do needs an MSS the ring cannot carry */
	(void)accel_attach_feature_set_name(nic->up, "large-receive-offload", 0);
	rx_post(nic, nic->qp.map.ring_len);
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
		goto fail;
	}
	rc = vsw_switch_uplink_worker(nb->sw, &nic->worker);
	if (rc == 0)
		rc = vsw_worker_add(nic->worker, nic->qp.map.irq_fd, uplink_poll, nic);
	if (rc < 0) {
		snprintf(err, errlen, "uplink worker: %s", strerror(-rc));
		goto fail;
	}
	nic->worker_added = true;
	nb->accel->nics[slot] = nic;
	PVLOG(INFO, NB_MOD, "NIC %s: plugin %s, wire %s, uplink on bridge %s", nic->name,
	      nic->plugin, nic->wire[0] ? nic->wire : "-", nic->bridge);
	return 0;
fail:
	nic_close(nic);
	return rc;
}

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
	struct gnttab_map_grant_ref m = {.flags = GNTMAP_host_map, .ref = gref,
					 .dom = av->vif->domid};
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
				      .size = ACCEL_PAGE_SIZE, .flags = ACCEL_MEM_F_WRITABLE};
	rc = accel_attach_mem_register(av->att, &r, 1);
	if (rc < 0) {
		struct gnttab_unmap_grant_ref u = {.handle = m.handle};
		gnttab_unmap_grant_ref(nb->hv, 0, &u, 1);
		av->grefs_full = true;
		return rc;
	}
	*e = (struct l1_gref){.gref = gref, .used = true, .handle = m.handle,
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
		struct accel_desc d = *(volatile struct accel_desc *)&nq->rx[nq->rx_next & nq->mask];
		RING_IDX idx = q->rx.rsp_prod_pvt;
		struct netif_rx_response r = {.id = av->req_id[idx & (NB_RX_RING - 1)], .offset = 0};

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
				 av->rx_active && !av->user_detached && !av->grefs_full, __ATOMIC_RELAXED);
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
		nq->rx[nq->rx_prod & nq->mask] = (struct accel_desc){
			.iova = (uint64_t)rq.gref << 12, .len = ACCEL_PAGE_SIZE, .id = (uint32_t)idx};
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
	irq_drain(&av->qp);
	pthread_mutex_lock(&q->rx_lock);
	n = av->rx_active ? l1_harvest_locked(q, av) : 0;
	nb_accel_rx_refill_locked(q);
	pthread_mutex_unlock(&q->rx_lock);
	return (int)n;
}

/* ---- per-vif attach / detach ------------------------------------------------------ */

static int read_be(struct nb_vif *vif, const char *key, char *buf, size_t size)
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

static void l1_teardown(struct nb_accel_vif *av)
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
	qp_unmap(&av->qp);
	for (unsigned i = 0; i < L1_MAX_GREFS; i++) {
		if (av->grefs[i].used) {
			struct gnttab_unmap_grant_ref u = {.handle = av->grefs[i].handle};
			gnttab_unmap_grant_ref(nb->hv, 0, &u, 1);
		}
	}
	memset(av->grefs, 0, sizeof(av->grefs));
	av->n_grefs = 0;
}

static struct nb_nic *nic_for_vif(struct nb_vif *vif, const char *plugin)
{
	char want[16];
	struct nb *nb = vif->nb;

	if (!nb->accel)
		return NULL;
	if (read_be(vif, "accel-nic", want, sizeof(want)) == 0)
		return nic_find(nb, want);
	for (unsigned i = 0; i < NIC_MAX; i++)
		if (nb->accel->nics[i] && !strcmp(nb->accel->nics[i]->plugin, plugin))
			return nb->accel->nics[i];
	return NULL;
}

static int l1_setup(struct nb_accel_vif *av)
{
	struct nb_vif *vif = av->vif;
	struct accel_vif_config vc = {.domid = vif->domid, .handle = vif->handle, .level = av->want_level,
				      .queues = 1, .iommu_quota = L1_MAX_GREFS / 2,
				      .ring_len = NB_RX_RING};
	struct accel_rx_filter f = {.vlan = ACCEL_VLAN_NONE, .qid = 0};
	unsigned m[6];
	int rc;

	if (sscanf(vif->mac, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4],
		   &m[5]) != 6)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++)
		vc.mac[i] = f.mac[i] = (uint8_t)m[i];
	rc = accel_attach_create(av->nic->dev, &vc, &av->att);
	if (rc < 0)
		return rc;
	(void)accel_attach_feature_set_name(av->att, "large-receive-offload", 0);
	rc = qp_mapin(av->att, &av->qp);
	if (rc == 0)
		rc = accel_attach_rx_filter_add(av->att, &f);
	if (rc == 0)
		rc = vsw_worker_add(av->nic->worker, av->qp.map.irq_fd, l1_poll, av);
	if (rc < 0) {
		l1_teardown(av);
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


/* ---- Levels 2-3: the guest drives the queue pair, dom0 controls -------------------- */

static void be_node_write(struct nb_vif *vif, const char *key, const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", vif->be_path, key);
	if (xs_printf(vif->nb->xs, 0, path, "%s", val) < 0)
		PVLOG(WARN, NB_MOD, "%s: cannot write %s", vif->name, key);
}

static void be_node_rm(struct nb_vif *vif, const char *key)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", vif->be_path, key);
	(void)xs_rm(vif->nb->xs, 0, 0, path);
}

/* Reads "<first-ref> <count>" from the frontend dir. */
static int read_pool(struct nb_vif *vif, const char *key, uint32_t *ref, uint32_t *count)
{
	char path[160], *val = NULL, buf[48];
	size_t len = 0;
	unsigned long r, n;
	char *end;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", vif->fe_path, key);
	rc = xs_read(vif->nb->xs, 0, 0, path, &val, &len);
	if (rc < 0)
		return rc;
	if (len >= sizeof(buf)) {
		free(val);
		return -EINVAL;
	}
	memcpy(buf, val, len); /* one read of a guest-written node; parse the copy */
	buf[len] = 0;
	free(val);
	r = strtoul(buf, &end, 10);
	if (end == buf || *end != ' ')
		return -EINVAL;
	n = strtoul(end + 1, &end, 10);
	if (*end || n == 0 || n > L2_MAX_POOL || r > UINT32_MAX - n)
		return -EINVAL;
	*ref = (uint32_t)r;
	*count = (uint32_t)n;
	return 0;
}

/* The vif's `ip` node -> up to ACCEL_TXF_MAX_IPV4 IPv4 addresses (network order). */
static void tx_filter_from_vif(struct nb_vif *vif, const uint8_t mac[6], struct accel_tx_filter *f)
{
	char buf[256], *save = NULL;

	memset(f, 0, sizeof(*f));
	f->flags = ACCEL_TXF_CHECK_MAC;
	memcpy(f->mac, mac, 6);
	if (read_be(vif, "ip", buf, sizeof(buf)) < 0)
		return;
	for (char *t = strtok_r(buf, " ,", &save); t && f->n_ipv4 < ACCEL_TXF_MAX_IPV4;
	     t = strtok_r(NULL, " ,", &save)) {
		struct in_addr a;
		t[strcspn(t, "/")] = 0;
		if (inet_pton(AF_INET, t, &a) == 1)
			f->ipv4[f->n_ipv4++] = a.s_addr;
	}
	if (f->n_ipv4)
		f->flags |= ACCEL_TXF_CHECK_IP;
}

/* Can the NIC carry unicast from `a` straight to `b`? Only VF to VF (Level 3
 * hairpin) on one NIC, both attached. */
static bool nic_reaches(const struct nb_accel_vif *a, const struct nb_vif *b)
{
	const struct nb_accel_vif *bv = b->accel;

	return a->level == 3 && bv && bv->guest && bv->level == 3 && bv->nic == a->nic &&
	       !a->user_detached && !bv->user_detached;
}

/*
 * accel-local-macs of every guest-driven vif on `bridge`: the MACs of the other
 * connected vifs there that the NIC cannot reach (the guest sends frames to them
 * on the rings; the NIC would put them on the wire). `gone` is leaving: omitted.
 */
static void local_macs_refresh(struct nb *nb, const char *bridge, const struct nb_vif *gone)
{
	for (struct nb_vif *v = nb->vifs; v; v = v->next) {
		struct nb_accel_vif *av = v->accel;
		char list[sizeof(av->local_macs)] = "";
		size_t off = 0;
		unsigned n = 0;

		if (v == gone || !av || !av->guest || strcmp(v->bridge_name, bridge))
			continue;
		for (struct nb_vif *o = nb->vifs; o && n < L2_MAX_LOCAL; o = o->next) {
			if (o == v || o == gone || !o->connected || strcmp(o->bridge_name, bridge) ||
			    nic_reaches(av, o))
				continue;
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", n ? " " : "",
						o->mac);
			n++;
		}
		if (av->local_macs_set && !strcmp(list, av->local_macs))
			continue;
		snprintf(av->local_macs, sizeof(av->local_macs), "%s", list);
		av->local_macs_set = true;
		be_node_write(v, "accel-local-macs", list);
	}
}

static void l2_teardown(struct nb_accel_vif *av)
{
	struct nb_vif *vif = av->vif;
	struct nb *nb = vif->nb;

	/* the NIC first: after port_free it touches no registered page and no qp; only
	 * then tell the guest (it reuses its TX pages once accel-frontend is gone) */
	accel_attach_destroy(av->att);
	av->att = NULL;
	be_node_rm(vif, "accel-frontend");
	be_node_rm(vif, "accel-qp");
	be_node_rm(vif, "accel-local-macs");
	for (unsigned i = 0; i < av->l2_nmaps; i += 64) {
		struct gnttab_unmap_grant_ref u[64];
		unsigned n = av->l2_nmaps - i < 64 ? av->l2_nmaps - i : 64;
		for (unsigned k = 0; k < n; k++)
			u[k] = (struct gnttab_unmap_grant_ref){.handle = av->l2_handles[i + k]};
		gnttab_unmap_grant_ref(nb->hv, 0, u, n);
	}
	free(av->l2_handles);
	av->l2_handles = NULL;
	av->l2_nmaps = 0;
	av->guest = false;
	av->local_macs_set = false;
}

/*
 * Maps the frontend's pools and registers them at IOVA gref << 12: TX pages
 * read-only (the NIC only reads them), RX pages writable. All or nothing.
 */
static int l2_register_pools(struct nb_accel_vif *av, const uint32_t ref[2], const uint32_t cnt[2])
{
	struct nb_vif *vif = av->vif;
	unsigned total = cnt[0] + cnt[1], k = 0;
	struct gnttab_map_grant_ref *m = calloc(total, sizeof(*m));
	struct accel_mem_region *r = calloc(total, sizeof(*r));
	int rc = 0;

	av->l2_handles = calloc(total, sizeof(*av->l2_handles));
	if (!m || !r || !av->l2_handles) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned p = 0; p < 2; p++)
		for (uint32_t i = 0; i < cnt[p]; i++, k++)
			m[k] = (struct gnttab_map_grant_ref){
				.flags = GNTMAP_host_map | (p == 0 ? GNTMAP_readonly : 0),
				.ref = ref[p] + i, .dom = vif->domid};
	rc = gnttab_map_grant_ref(vif->nb->hv, 0, m, total);
	for (k = 0; k < total; k++) {
		if (rc == 0 && m[k].status == GNTST_okay) {
			av->l2_handles[av->l2_nmaps++] = m[k].handle;
		} else if (rc == 0) {
			PVLOG(WARN, NB_MOD, "%s: pool grant %u: status %d", vif->name, m[k].ref,
			      m[k].status);
			rc = -EPERM;
		}
	}
	if (rc < 0)
		goto out;
	for (k = 0; k < total; k++)
		r[k] = (struct accel_mem_region){
			.iova = (uint64_t)m[k].ref << 12, .host = (void *)(uintptr_t)m[k].host_addr,
			.size = ACCEL_PAGE_SIZE,
			.flags = (m[k].flags & GNTMAP_readonly) ? 0 : ACCEL_MEM_F_WRITABLE};
	rc = accel_attach_mem_register(av->att, r, total);
	if (rc == 0)
		av->grant_maps += total;
out:
	free(m);
	free(r);
	return rc;
}

/* Level 2/3 with the guest half. -EOPNOTSUPP: the frontend offers no pools. */
/* Xen's rate ("bytes per usec window", packed as in nb_rate_parse_node; 0 =
 * unlimited) as the queue pair's token bucket: bytes per second, and a burst of
 * one window's credit plus one maximal packet, the cap netback's own credit
 * scheduler keeps (rate.c). */
static int l2_rate_set(struct nb_accel_vif *av, uint64_t packed)
{
	uint64_t bytes = packed >> 32, usec = packed & 0xffffffffu;
	uint64_t bps = usec ? bytes * 1000000u / usec : 0;

	return accel_attach_rate_limit_set(av->att, 0, bps, bps ? bytes + XEN_NETIF_MAX_TX_SIZE : 0);
}

static int l2_setup(struct nb_accel_vif *av)
{
	struct nb_vif *vif = av->vif;
	struct accel_vif_config vc = {.domid = vif->domid, .handle = vif->handle,
				      .level = av->want_level, .queues = 1,
				      .ring_len = L2_RING};
	struct accel_rx_filter f = {.vlan = ACCEL_VLAN_NONE, .qid = 0};
	struct accel_tx_filter tf;
	uint32_t ref[2], cnt[2];
	char buf[64];
	unsigned m[6];
	int rc;

	if (read_pool(vif, "accel-tx-pool", &ref[0], &cnt[0]) < 0 ||
	    read_pool(vif, "accel-rx-pool", &ref[1], &cnt[1]) < 0)
		return -EOPNOTSUPP;
	if (cnt[0] + cnt[1] > L2_MAX_POOL)
		return -E2BIG;
	if (sscanf(vif->mac, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4],
		   &m[5]) != 6)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++)
		vc.mac[i] = f.mac[i] = (uint8_t)m[i];
	vc.iommu_quota = cnt[0] + cnt[1]; /* the per-vif quota: exactly its pools */
	rc = accel_attach_create(av->nic->dev, &vc, &av->att);
	if (rc < 0)
		return rc;
	av->guest = true; /* from here on l2_teardown undoes */
	/* an LRO frame would carry no MSS for the guest's TAP */
	(void)accel_attach_feature_set_name(av->att, "large-receive-offload", 0);
	rc = l2_register_pools(av, ref, cnt);
	if (rc < 0)
		goto fail;
	tx_filter_from_vif(vif, vc.mac, &tf);
	rc = accel_attach_tx_filter_set(av->att, 0, &tf);
	if (rc < 0)
		goto fail;
	if (read_be(vif, "rate", buf, sizeof(buf)) == 0) {
		uint64_t packed = 0;
		if (nb_rate_parse_node(buf, strlen(buf), &packed) == 0 && packed) {
			rc = l2_rate_set(av, packed);
			if (rc < 0)
				goto fail;
		}
	}
	rc = accel_attach_rx_filter_add(av->att, &f);
	if (rc < 0)
		goto fail;
	be_node_write(vif, "accel-qp", "0");
	be_node_write(vif, "accel-frontend", av->nic->plugin);
	PVLOG(INFO, NB_MOD, "%s: guest-driven qp (level %u): %u TX + %u RX pool pages registered, "
	      "TX filter mac%s (%u IPv4)", vif->name, av->want_level, cnt[0], cnt[1],
	      (tf.flags & ACCEL_TXF_CHECK_IP) ? "+ip" : "", tf.n_ipv4);
	return 0;
fail:
	l2_teardown(av);
	return rc;
}

static struct nb_vif *vif_by_dom(struct nb *nb, domid_t domid, uint32_t handle)
{
	for (struct nb_vif *v = nb->vifs; v; v = v->next)
		if (v->domid == domid && v->handle == handle)
			return v;
	return NULL;
}

/* hv's accelerator connector (control thread): the qp of the caller's own vif. */
static int accel_connect(void *arg, domid_t domid, uint32_t handle, uint32_t qp,
			 struct hv_accel_qp *out)
{
	struct nb_vif *vif = vif_by_dom(arg, domid, handle);
	struct accel_qp_map map;
	int rc;

	if (!vif || !vif->accel || !vif->accel->guest || !vif->accel->att)
		return -ENOENT;
	if (qp >= accel_attach_queues(vif->accel->att))
		return -ENOENT;
	/* the plugin checks domid against the port's owner too (-EPERM) */
	rc = accel_attach_map_qp(vif->accel->att, qp, domid, &map);
	if (rc < 0)
		return rc;
	*out = (struct hv_accel_qp){.mem_fd = map.mem_fd, .doorbell_fd = map.doorbell_fd,
				    .irq_fd = map.irq_fd, .ring_len = map.ring_len,
				    .mem_size = map.mem_size, .tx_ring_off = map.tx_ring_off,
				    .rx_ring_off = map.rx_ring_off};
	PVLOG(INFO, NB_MOD, "%s: queue pair %u handed to dom%u", vif->name, qp, domid);
	return 0;
}

void nb_accel_vif_connect(struct nb_vif *vif)
{
	char plugin[ACCEL_NAME_MAX], lvl[8];
	struct nb_accel_vif *av;
	unsigned level = 0;
	int rc;

	if (read_be(vif, "accel", plugin, sizeof(plugin)) < 0 || !plugin[0]) {
		local_macs_refresh(vif->nb, vif->bridge_name, NULL);
		return;
	}
	if (read_be(vif, "accel-level", lvl, sizeof(lvl)) == 0) {
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
		PVLOG(WARN, NB_MOD, "%s: accel=%s: no such NIC opened (pvnet nic add); software path",
		      vif->name, plugin);
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
		if (read_be(vif, "vlan", v, sizeof(v)) == 0)
			vlan = strtoul(v, NULL, 10);
		if (vif->nr_queues != 1 || vlan) {
			PVLOG(INFO, NB_MOD, "%s: Level %u needs one queue and no access VLAN; Level 0",
			      vif->name, level);
		} else if (level >= 2 && (rc = l2_setup(av)) != -EOPNOTSUPP) {
			if (rc < 0)
				PVLOG(WARN, NB_MOD, "%s: %s port on NIC %s: %s; Level 0 (software path)",
				      vif->name, plugin, av->nic->name, strerror(-rc));
			else
				av->level = level;
		} else if ((rc = l1_setup(av)) < 0) {
			PVLOG(WARN, NB_MOD, "%s: %s port on NIC %s: %s; Level 0 (software path)",
			      vif->name, plugin, av->nic->name, strerror(-rc));
		} else {
			av->level = level;
		}
	}
	PVLOG(INFO, NB_MOD, "%s: accelerator %s on NIC %s, level %u (asked %u)%s", vif->name,
	      plugin, av->nic->name, av->level, level, av->guest ? ", guest-driven" : "");
	local_macs_refresh(vif->nb, vif->bridge_name, NULL);
}

void nb_accel_vif_disconnect(struct nb_vif *vif)
{
	struct nb_accel_vif *av = vif->accel;

	if (vif->nb->accel)
		local_macs_refresh(vif->nb, vif->bridge_name, vif);
	if (!av)
		return;
	if (av->guest)
		l2_teardown(av);
	else if (av->level >= 1)
		l1_teardown(av);
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
	rc = l2_rate_set(av, packed);
	if (rc < 0)
		PVLOG(WARN, NB_MOD, "%s: NIC %s refused the new rate: %s", vif->name, av->nic->name,
		      strerror(-rc));
	else
		PVLOG(INFO, NB_MOD, "%s: rate applied on NIC %s's queue pair", vif->name,
		      av->nic->name);
}

int nb_nic_del(struct nb *nb, const char *name)
{
	struct nb_nic *nic = nic_find(nb, name);

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

int nb_nic_format_list(struct nb *nb, char *buf, size_t size)
{
	size_t off = 0;
	int n = snprintf(buf, size, "%-15s %-10s %-15s %-15s %6s %12s %12s\n", "NAME", "PLUGIN",
			 "WIRE", "BRIDGE", "VFS", "WIRE_RX", "WIRE_TX");

	if (n > 0)
		off = (size_t)n < size ? (size_t)n : size;
	for (unsigned i = 0; nb->accel && i < NIC_MAX; i++) {
		struct nb_nic *nic = nb->accel->nics[i];
		struct accel_stat st[64];
		uint64_t rx = 0, tx = 0, vfs = 0;
		int k;

		if (!nic)
			continue;
		k = accel_device_stats(nic->dev, st, 64);
		for (int j = 0; j < k && j < 64; j++) {
			if (!strcmp(st[j].name, "wire_rx_packets"))
				rx = st[j].value;
			else if (!strcmp(st[j].name, "wire_tx_packets"))
				tx = st[j].value;
			else if (!strcmp(st[j].name, "vfs_in_use"))
				vfs = st[j].value;
		}
		n = snprintf(buf + off, size - off, "%-15s %-10s %-15s %-15s %2llu/%-3u %12llu %12llu\n",
			     nic->name, nic->plugin, nic->wire[0] ? nic->wire : "-", nic->bridge,
			     (unsigned long long)vfs, nic->max_vfs, (unsigned long long)rx,
			     (unsigned long long)tx);
		if (n > 0)
			off += (size_t)n < size - off ? (size_t)n : size - off;
	}
	return (int)off;
}

static struct nb_vif *vif_by_name(struct nb *nb, const char *name)
{
	for (struct nb_vif *v = nb->vifs; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

/* ethtool -k / -S of a vif without an accelerator: what its frontend negotiated
 * (netif features as ethtool names) and netback's own counters for it. */
static int soft_ethtool(struct nb_vif *vif, const char *name, char what, char *buf, size_t size)
{
	unsigned f = vif->features;
	int n;

	if (what == 'k')
		return snprintf(buf, size,
				"Features for %s:\n"
				"rx-checksumming: %s [fixed]\n"
				"tx-checksumming: %s [fixed]\n"
				"scatter-gather: %s [fixed]\n"
				"tcp-segmentation-offload: %s\n"
				"\ttx-tcp-segmentation: %s [fixed]\n"
				"\ttx-tcp6-segmentation: %s [fixed]\n"
				"large-receive-offload: off [fixed]\n"
				"persistent-grants: %s [fixed]\n",
				name, (f & NB_FEAT_CSUM) ? "on" : "off", (f & NB_FEAT_CSUM) ? "on" : "off",
				(f & NB_FEAT_SG) ? "on" : "off",
				(f & (NB_FEAT_GSO4 | NB_FEAT_GSO6)) ? "on" : "off",
				(f & NB_FEAT_GSO4) ? "on" : "off", (f & NB_FEAT_GSO6) ? "on" : "off",
				(f & NB_FEAT_PERSISTENT) ? "on" : "off");
	/* tx = the guest's TX ring (guest -> switch), rx = its RX ring, as `pvnet stats` */
	n = snprintf(buf, size,
		     "NIC statistics:\n     tx_packets: %llu\n     tx_bytes: %llu\n"
		     "     rx_packets: %llu\n     rx_bytes: %llu\n",
		     (unsigned long long)__atomic_load_n(&vif->tx_packets, __ATOMIC_RELAXED),
		     (unsigned long long)__atomic_load_n(&vif->tx_bytes, __ATOMIC_RELAXED),
		     (unsigned long long)__atomic_load_n(&vif->rx_packets, __ATOMIC_RELAXED),
		     (unsigned long long)__atomic_load_n(&vif->rx_bytes, __ATOMIC_RELAXED));
	for (unsigned r = 0; r < NB_DROP__MAX && n > 0 && (size_t)n < size; r++) {
		int m = snprintf(buf + n, size - (size_t)n, "     drop_%s: %llu\n",
				 nb_drop_reason_name(r),
				 (unsigned long long)__atomic_load_n(&vif->drops[r], __ATOMIC_RELAXED));
		if (m > 0)
			n += m;
	}
	return n;
}

int nb_accel_ethtool(struct nb *nb, const char *name, char what, char *buf, size_t size)
{
	struct nb_vif *vif = vif_by_name(nb, name);
	struct nb_nic *nic = NULL;
	struct accel_attach *att = NULL;
	int n, m;

	if (vif) {
		if (!vif->accel)
			return soft_ethtool(vif, name, what, buf, size);
		att = vif->accel->att ? vif->accel->att : vif->accel->nic->up;
	} else if ((nic = nic_find(nb, name))) {
		att = nic->up;
	} else {
		return -ENOENT;
	}
	if (what == 'k')
		return accel_format_features(att, name, buf, size);
	n = accel_format_stats(att, buf, size);
	if (n < 0 || (size_t)n >= size)
		return n;
	if (vif && vif->accel->level >= 1) {
		struct nb_accel_vif *av = vif->accel;
		m = snprintf(buf + n, size - (size_t)n,
			     "     pv_nic_rx_packets: %llu\n     pv_nic_rx_bytes: %llu\n"
			     "     pv_nic_rx_errors: %llu\n     pv_reclaims: %llu\n"
			     "     pv_grant_maps: %llu\n     pv_detached: %d\n"
			     "     pv_guest_driven: %d\n",
			     (unsigned long long)__atomic_load_n(&av->nic_rx_packets, __ATOMIC_RELAXED),
			     (unsigned long long)__atomic_load_n(&av->nic_rx_bytes, __ATOMIC_RELAXED),
			     (unsigned long long)__atomic_load_n(&av->nic_rx_errors, __ATOMIC_RELAXED),
			     (unsigned long long)av->reclaims, (unsigned long long)av->grant_maps,
			     av->user_detached, av->guest);
		if (m > 0)
			n += m;
	} else if (nic) {
		struct accel_stat st[64];
		int k = accel_device_stats(nic->dev, st, 64);
		for (int j = 0; j < k && j < 64 && (size_t)n < size; j++) {
			m = snprintf(buf + n, size - (size_t)n, "     dev_%s: %llu\n", st[j].name,
				     (unsigned long long)st[j].value);
			if (m > 0)
				n += m;
		}
	}
	return n;
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
		local_macs_refresh(nb, vif->bridge_name, NULL); /* hairpin peers move too */
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
	return 0;
}
