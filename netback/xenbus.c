/* SPDX-License-Identifier: MIT */
/*
 * The xenbus backend: vif discovery, feature advertisement, the state machine
 * that follows the frontend, connect and disconnect. Runs on the control thread
 * only (store watch callbacks and nb_process).
 *
 * One in-process watch on /local/domain. A watch event only marks what it names:
 * the vif whose backend or frontend directory changed (dirty), or, for a change of
 * the backend tree itself (a vif directory appearing or going), a full rescan; it
 * then kicks the control eventfd, and nb_process() does the work once per control
 * loop turn: one rescan, or one update per dirty vif, however many events a guest
 * wrote in between (a frontend writing its nodes in a loop costs pvnetd one
 * vif_update per turn, never one per write). Updates are idempotent (the backend
 * writes its state only when it changes). Every value a frontend wrote is hostile:
 * parsed strictly (decimal digits only, range-checked).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/io/xenbus.h>
#include <pvnet/log.h>

#include "nb_private.h"

#define BE_ROOT "/local/domain/0/backend/vif"

/* Strict unsigned decimal: 1..10 digits, no sign/space, value <= max. */
static int parse_uint(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int read_uint(struct nb *nb, const char *dir, const char *key, unsigned long long max,
		     unsigned long long *out)
{
	char path[160], *val = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	rc = xs_read(nb->xs, 0, 0, path, &val, &len);
	if (rc < 0)
		return rc;
	rc = parse_uint(val, len, max, out);
	free(val);
	return rc;
}

/* A boolean feature flag: absent or anything but "1" is off. */
static bool read_flag(struct nb *nb, const char *dir, const char *key)
{
	unsigned long long v = 0;
	return read_uint(nb, dir, key, 1, &v) == 0 && v == 1;
}

static int read_str(struct nb *nb, const char *dir, const char *key, char *buf, size_t size)
{
	char path[160], *val = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	rc = xs_read(nb->xs, 0, 0, path, &val, &len);
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

static void be_write(struct nb_vif *vif, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void be_write(struct nb_vif *vif, const char *key, const char *fmt, ...)
{
	char path[160], val[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", vif->be_path, key);
	if (n < 0 || xs_write(vif->nb->xs, 0, 0, path, val, (size_t)n) < 0)
		PVLOG(WARN, NB_MOD, "%s: cannot write %s", vif->name, path);
}

static void be_set_state(struct nb_vif *vif, int st)
{
	if (vif->be_state == st)
		return;
	PVLOG(INFO, NB_MOD, "%s: backend %s -> %s", vif->name, xenbus_strstate(vif->be_state),
	      xenbus_strstate(st));
	vif->be_state = st;
	be_write(vif, "state", "%d", st);
}

/* xenbus_dev_fatal: error/<nodename>/error in dom0's home, and Closed. */
static void vif_dev_fatal(struct nb_vif *vif, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void vif_dev_fatal(struct nb_vif *vif, int err, const char *fmt, ...)
{
	char msg[96], path[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(vif->last_error, sizeof(vif->last_error), "%s", msg);
	PVLOG(WARN, NB_MOD, "%s: %s", vif->name, msg);
	snprintf(path, sizeof(path), "/local/domain/0/error/backend/vif/%u/%u/error", vif->domid,
		 vif->handle);
	xs_printf(vif->nb->xs, 0, path, "%d %s", -err, msg);
	be_set_state(vif, XenbusStateClosed);
}

static void unmap_ring(struct nb *nb, grant_handle_t h)
{
	struct gnttab_unmap_grant_ref u = {.handle = h};
	gnttab_unmap_grant_ref(nb->hv, 0, &u, 1);
}

static void queue_fini(struct nb_vif *vif, struct nb_queue *q)
{
	struct nb *nb = vif->nb;

	if (q->txc) {
		nb_txc_kill(q->txc); /* late completions never touch the ring again */
		if (q->txc_notify_fd >= 0)
			close(q->txc_notify_fd);
		q->txc = NULL;
	}
	if (q->tx_page)
		unmap_ring(nb, q->tx_handle);
	if (q->rx_page)
		unmap_ring(nb, q->rx_handle);
	q->tx_page = q->rx_page = NULL;
	if (q->tx_port)
		evtchn_close(nb->hv, 0, q->tx_port);
	if (q->rx_port && !q->shared_evtchn)
		evtchn_close(nb->hv, 0, q->rx_port);
	q->tx_port = q->rx_port = 0;
	if (q->tx_wait_fd >= 0)
		close(q->tx_wait_fd);
	if (!q->shared_evtchn) {
		if (q->rx_wait_fd >= 0)
			close(q->rx_wait_fd);
		if (q->rx_notify_fd >= 0)
			close(q->rx_notify_fd);
	}
	q->tx_wait_fd = q->rx_wait_fd = q->rx_notify_fd = -1;
	if (q->pend) {
		pthread_mutex_destroy(&q->rx_lock);
		nb_rxq_fini(q);
	}
}

static int queue_init(struct nb_vif *vif, struct nb_queue *q, const char *dir)
{
	struct nb *nb = vif->nb;
	struct gnttab_map_grant_ref m[2];
	unsigned long long tx_ref, rx_ref, ptx, prx;
	int rc;

	q->tx_wait_fd = q->rx_wait_fd = q->rx_notify_fd = q->txc_notify_fd = -1;
	if (read_uint(nb, dir, "tx-ring-ref", UINT32_MAX, &tx_ref) < 0 ||
	    read_uint(nb, dir, "rx-ring-ref", UINT32_MAX, &rx_ref) < 0) {
		vif_dev_fatal(vif, EINVAL, "reading %s/{tx,rx}-ring-ref", dir);
		return -EINVAL;
	}
	if (read_uint(nb, dir, "event-channel-tx", EVTCHN_2L_NR_CHANNELS - 1, &ptx) == 0 &&
	    read_uint(nb, dir, "event-channel-rx", EVTCHN_2L_NR_CHANNELS - 1, &prx) == 0) {
		q->shared_evtchn = false;
	} else if (read_uint(nb, dir, "event-channel", EVTCHN_2L_NR_CHANNELS - 1, &ptx) == 0) {
		prx = ptx;
		q->shared_evtchn = true;
	} else {
		vif_dev_fatal(vif, EINVAL, "reading %s/event-channel(-tx/-rx)", dir);
		return -EINVAL;
	}
	if (ptx == 0 || prx == 0) {
		vif_dev_fatal(vif, EINVAL, "%s: event channel 0", dir);
		return -EINVAL;
	}
	rc = nb_rxq_init(q);
	if (rc < 0)
		return rc;
	rc = nb_txc_create(&q->txc);
	if (rc < 0)
		return rc;
	m[0] = (struct gnttab_map_grant_ref){
		.flags = GNTMAP_host_map, .ref = (grant_ref_t)tx_ref, .dom = vif->domid};
	m[1] = (struct gnttab_map_grant_ref){
		.flags = GNTMAP_host_map, .ref = (grant_ref_t)rx_ref, .dom = vif->domid};
	rc = gnttab_map_grant_ref(nb->hv, 0, m, 2);
	if (rc == 0 && m[0].status == GNTST_okay) {
		q->tx_page = (void *)(uintptr_t)m[0].host_addr;
		q->tx_handle = m[0].handle;
	}
	if (rc == 0 && m[1].status == GNTST_okay) {
		q->rx_page = (void *)(uintptr_t)m[1].host_addr;
		q->rx_handle = m[1].handle;
	}
	if (!q->tx_page || !q->rx_page) {
		bool quota = m[0].status == GNTST_no_space || m[1].status == GNTST_no_space;
		/* out of space: the domain's gnt-maps limit (pvnetd --limit), said so */
		vif_dev_fatal(vif, quota ? ENOSPC : EINVAL, "mapping ring-refs %llu/%llu: %s/%s%s",
			      tx_ref, rx_ref, gnttab_strstatus(m[0].status),
			      gnttab_strstatus(m[1].status),
			      quota ? " (the domain's gnt-maps limit)" : "");
		return quota ? -ENOSPC : -EINVAL;
	}
	BACK_RING_INIT(&q->txc->ring, (struct netif_tx_sring *)q->tx_page, PVNET_RING_PAGE_SIZE);
	BACK_RING_INIT(&q->rx, (struct netif_rx_sring *)q->rx_page, PVNET_RING_PAGE_SIZE);
	nb_cmpl_init(&q->txc->cmpl, 0);
	q->tx_cons = 0;

	rc = evtchn_bind_interdomain(nb->hv, 0, vif->domid, (evtchn_port_t)ptx, &q->tx_port);
	if (rc == 0)
		rc = evtchn_get_fds(nb->hv, 0, q->tx_port, &q->tx_wait_fd, &q->txc_notify_fd);
	if (rc == 0 && !q->shared_evtchn) {
		rc = evtchn_bind_interdomain(nb->hv, 0, vif->domid, (evtchn_port_t)prx,
					     &q->rx_port);
		if (rc == 0)
			rc = evtchn_get_fds(nb->hv, 0, q->rx_port, &q->rx_wait_fd,
					    &q->rx_notify_fd);
	} else if (rc == 0) {
		q->rx_port = q->tx_port;
		q->rx_wait_fd = q->tx_wait_fd;
		q->rx_notify_fd = q->txc_notify_fd;
	}
	if (rc < 0) {
		vif_dev_fatal(vif, -rc, "binding event channels %llu/%llu: %s", ptx, prx,
			      strerror(-rc));
		return rc;
	}
	q->txc->notify_fd = q->txc_notify_fd;
	return 0;
}

void nb_vif_disconnect(struct nb_vif *vif)
{
	if (!vif->connected && !vif->queues)
		return;
	/* 0. the NIC writes no guest buffer and no thread harvests its completions */
	nb_accel_vif_disconnect(vif);
	/* 1. no worker runs our TX or RX event handling any more */
	for (unsigned i = 0; i < vif->nr_queues; i++)
		if (vif->queues[i].worker)
			nb_worker_detach(vif->queues[i].worker, &vif->queues[i]);
	/* 2. no sender can reach us: vsw_port_del waits for sends in flight */
	if (vif->port) {
		vsw_port_del(vif->br, vif->port);
		vif->port = NULL;
	}
	/* 3. packets toward us are released, ours complete without responses */
	for (unsigned i = 0; i < vif->nr_queues; i++) {
		if (vif->queues[i].pend)
			nb_rx_purge(&vif->queues[i]);
		queue_fini(vif, &vif->queues[i]);
	}
	free(vif->queues);
	vif->queues = NULL;
	vif->nr_queues = 0;
	vif->connected = false;
	PVLOG(INFO, NB_MOD, "%s: disconnected", vif->name);
}

/* The backend `rate` node ("bytes,usec"); absent or invalid = unlimited. Applied
 * live: the workers pick the new value up at their next burst. */
static void vif_read_rate(struct nb_vif *vif)
{
	char path[160], *val = NULL;
	size_t len = 0;
	uint64_t packed = 0;

	snprintf(path, sizeof(path), "%s/rate", vif->be_path);
	if (xs_read(vif->nb->xs, 0, 0, path, &val, &len) == 0) {
		if (nb_rate_parse_node(val, len, &packed) < 0) {
			PVLOG(WARN, NB_MOD, "%s: ignoring rate '%.*s'", vif->name,
			      (int)(len > 40 ? 40 : len), val);
			packed = 0;
		}
		free(val);
	}
	if (packed != __atomic_load_n(&vif->rate, __ATOMIC_RELAXED)) {
		PVLOG(INFO, NB_MOD, "%s: rate %llu bytes per %llu us%s", vif->name,
		      (unsigned long long)(packed >> 32),
		      (unsigned long long)(packed & 0xffffffffu), packed ? "" : " (unlimited)");
		__atomic_store_n(&vif->rate, packed, __ATOMIC_RELAXED);
		nb_accel_vif_rate_changed(vif, packed);
	}
}

/* Parses a colon-separated VID list ("10:20"); 0 or -EINVAL. */
static int parse_vids(const char *s, uint16_t *vids, unsigned max, unsigned *n)
{
	*n = 0;
	while (*s) {
		const char *e = strchr(s, ':');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		unsigned long long v;

		if (*n == max || parse_uint(s, l, 4094, &v) < 0 || v == 0)
			return -EINVAL;
		vids[(*n)++] = (uint16_t)v;
		s += l + (e ? 1 : 0);
	}
	return 0;
}

/*
 * The toolstack's port policy, applied when the switch port is created: `vlan`
 * (access VLAN, or the trunk's native VLAN with `trunks`), `trunks` (tagged VIDs),
 * and anti-spoofing from `mac` + `ip` ("addr/prefix ..."). A bad node fails the
 * connect (the port would otherwise be more open than configured).
 */
static int vif_apply_port_policy(struct nb_vif *vif)
{
	struct nb *nb = vif->nb;
	char buf[512];
	unsigned long long vlan = 0;
	uint16_t vids[64];
	unsigned nv = 0;
	int rc;

	rc = read_uint(nb, vif->be_path, "vlan", 4094, &vlan);
	if (rc < 0 && rc != -ENOENT) {
		vif_dev_fatal(vif, EINVAL, "bad vlan node");
		return -EINVAL;
	}
	rc = read_str(nb, vif->be_path, "trunks", buf, sizeof(buf));
	if (rc == 0 && parse_vids(buf, vids, 64, &nv) < 0) {
		vif_dev_fatal(vif, EINVAL, "bad trunks node '%.40s'", buf);
		return -EINVAL;
	}
	if (nv)
		rc = vsw_port_set_trunk(vif->port, (uint16_t)vlan, vids, nv);
	else if (vlan)
		rc = vsw_port_set_access(vif->port, (uint16_t)vlan);
	else
		rc = 0;
	if (rc < 0) {
		vif_dev_fatal(vif, -rc, "vlan %llu / %u trunk(s): %s", vlan, nv, strerror(-rc));
		return rc;
	}
	if (vif->mac[0]) {
		struct vsw_ip_addr ips[VSW_ANTISPOOF_MAX_IPS];
		unsigned n_ips = 0;
		uint8_t mac[6];
		char *save = NULL;

		if (pvnet_mac_parse(vif->mac, mac)) {
			vif_dev_fatal(vif, EINVAL, "bad mac node '%s'", vif->mac);
			return -EINVAL;
		}
		if (read_str(nb, vif->be_path, "ip", buf, sizeof(buf)) == 0) {
			for (char *t = strtok_r(buf, " ", &save); t;
			     t = strtok_r(NULL, " ", &save)) {
				char *slash = strchr(t, '/');
				if (slash)
					*slash = 0;
				if (n_ips == VSW_ANTISPOOF_MAX_IPS ||
				    vsw_ip_parse(t, &ips[n_ips]) < 0) {
					vif_dev_fatal(vif, EINVAL, "bad ip node entry '%.40s'", t);
					return -EINVAL;
				}
				n_ips++;
			}
		}
		rc = vsw_port_set_antispoof(vif->port, mac, ips, n_ips);
		if (rc < 0) {
			vif_dev_fatal(vif, -rc, "anti-spoofing: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/*
 * The worker a new queue goes to: the one serving the fewest queues (ties in
 * turn from the last pick), so queues stay spread as vifs come and go (a new
 * vif fills the worker that lost one). Queues already attached are not moved.
 * Control thread (the only one that changes a worker's set).
 */
static struct nb_worker *worker_pick(struct nb *nb)
{
	unsigned best = nb->next_worker % nb->nr_workers;

	for (unsigned k = 1; k < nb->nr_workers; k++) {
		unsigned i = (nb->next_worker + k) % nb->nr_workers;
		if (nb->workers[i].nr_queues < nb->workers[best].nr_queues)
			best = i;
	}
	nb->next_worker = best + 1;
	return &nb->workers[best];
}

/* The frontend's request-rx-copy, queue count (*nq) and features
 * (vif->features). 0, or -errno with the device error written. */
static int read_frontend(struct nb_vif *vif, unsigned long long *out_nq)
{
	struct nb *nb = vif->nb;
	unsigned long long nq = 1;
	int rc;

	if (!read_flag(nb, vif->fe_path, "request-rx-copy")) {
		vif_dev_fatal(vif, EOPNOTSUPP, "frontend did not request rx-copy");
		return -EOPNOTSUPP;
	}
	rc = read_uint(nb, vif->fe_path, "multi-queue-num-queues", 0xffffffffull, &nq);
	if (rc == -ENOENT) {
		nq = 1;
	} else if (rc < 0 || nq < 1) {
		vif_dev_fatal(vif, EINVAL, "bad multi-queue-num-queues");
		return -EINVAL;
	} else if (nq > vif->max_queues) {
		/* Xen netback's refusal, word for word: more queues than we offered */
		vif_dev_fatal(vif, EINVAL,
			      "guest requested %llu queues, exceeding the maximum of %u.", nq,
			      vif->max_queues);
		return -EINVAL;
	}
	vif->features = 0;
	if (read_flag(nb, vif->fe_path, "feature-sg"))
		vif->features |= NB_FEAT_SG;
	if (read_flag(nb, vif->fe_path, "feature-gso-tcpv4"))
		vif->features |= NB_FEAT_GSO4;
	if (read_flag(nb, vif->fe_path, "feature-gso-tcpv6"))
		vif->features |= NB_FEAT_GSO6;
	if (!read_flag(nb, vif->fe_path, "feature-no-csum-offload"))
		vif->features |= NB_FEAT_CSUM;
	if (read_flag(nb, vif->fe_path, "feature-rx-notify"))
		vif->features |= NB_FEAT_RX_NOTIFY;
	if (read_flag(nb, vif->fe_path, "feature-persistent"))
		vif->features |= NB_FEAT_PERSISTENT;
	*out_nq = nq;
	return 0;
}

/* The switch port flags for what the frontend did not negotiate: the switch
 * does the software fallback for it. */
static unsigned port_flags(const struct nb_vif *vif)
{
	unsigned flags = 0;

	if (vif->features & NB_FEAT_CSUM)
		flags |= VSW_PORT_F_CSUM;
	if ((vif->features & (NB_FEAT_GSO4 | NB_FEAT_SG)) == (NB_FEAT_GSO4 | NB_FEAT_SG))
		flags |= VSW_PORT_F_TSO4;
	if ((vif->features & (NB_FEAT_GSO6 | NB_FEAT_SG)) == (NB_FEAT_GSO6 | NB_FEAT_SG))
		flags |= VSW_PORT_F_TSO6;
	return flags;
}

static int vif_connect(struct nb_vif *vif)
{
	struct nb *nb = vif->nb;
	unsigned long long nq = 1;
	int rc;

	rc = read_frontend(vif, &nq);
	if (rc < 0)
		return rc;
	vif->queues = calloc(nq, sizeof(*vif->queues));
	if (!vif->queues)
		return -ENOMEM;
	vif->nr_queues = (unsigned)nq;
	__atomic_store_n(&vif->disabled, 0, __ATOMIC_RELEASE);
	/* every queue's fds -1 before the first queue_init: a failure at queue i
	 * unwinds queues i+1.. too, and calloc's 0 would read as fd 0 to close */
	for (unsigned i = 0; i < nq; i++) {
		struct nb_queue *q = &vif->queues[i];
		q->vif = vif;
		q->index = i;
		q->tx_wait_fd = q->rx_wait_fd = q->rx_notify_fd = q->txc_notify_fd = -1;
	}
	for (unsigned i = 0; i < nq; i++) {
		char dir[160];
		struct nb_queue *q = &vif->queues[i];
		if (nq == 1)
			snprintf(dir, sizeof(dir), "%s", vif->fe_path);
		else
			snprintf(dir, sizeof(dir), "%s/queue-%u", vif->fe_path, i);
		rc = queue_init(vif, q, dir);
		if (rc < 0)
			goto fail;
	}
	rc = vsw_bridge_get_or_create(nb->sw, vif->bridge_name, &vif->br);
	if (rc < 0) {
		vif_dev_fatal(vif, -rc, "bridge '%s': %s", vif->bridge_name, strerror(-rc));
		goto fail;
	}
	rc = vsw_port_add(vif->br, vif->name, &nb_vif_port_ops, vif, port_flags(vif), &vif->port);
	if (rc < 0) {
		vif_dev_fatal(vif, -rc, "switch port %s on %s: %s", vif->name, vif->bridge_name,
			      strerror(-rc));
		goto fail;
	}
	vif->connected = true;
	rc = vif_apply_port_policy(vif);
	if (rc < 0)
		goto fail;
	vif_read_rate(vif);
	for (unsigned i = 0; i < nq; i++) {
		rc = nb_worker_attach(worker_pick(nb), &vif->queues[i]);
		if (rc < 0) {
			vif_dev_fatal(vif, -rc, "starting queue %u: %s", i, strerror(-rc));
			goto fail;
		}
	}
	nb_accel_vif_connect(vif); /* accel=/accel-level= nodes; failures fall back to software */
	vif->last_error[0] = 0;
	PVLOG(INFO, NB_MOD, "%s: connected, %llu queue(s), bridge %s, features 0x%x", vif->name, nq,
	      vif->bridge_name, vif->features);
	be_set_state(vif, XenbusStateConnected);
	return 0;
fail:
	vif->connected = true; /* let disconnect unwind what exists */
	nb_vif_disconnect(vif);
	return rc;
}

static bool valid_bridge_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static struct nb_vif **vif_bucket(struct nb *nb, domid_t domid)
{
	return &nb->vif_hash[domid & (NB_VIF_HASH - 1)];
}

/* O(vifs of the bucket): the domain's vifs and a few others'. */
static struct nb_vif *vif_find(struct nb *nb, domid_t domid, unsigned handle)
{
	for (struct nb_vif *v = *vif_bucket(nb, domid); v; v = v->hnext)
		if (v->domid == domid && v->handle == handle)
			return v;
	return NULL;
}

/* Queues vif for vif_update at the next nb_process (once). */
static void vif_mark(struct nb *nb, struct nb_vif *v)
{
	if (v->dirty)
		return;
	v->dirty = true;
	v->dnext = nb->dirty;
	nb->dirty = v;
}

static struct nb_vif *vif_create(struct nb *nb, domid_t domid, unsigned handle)
{
	struct nb_vif *vif = calloc(1, sizeof(*vif));
	unsigned long long feid, q;
	char expect[96];

	if (!vif)
		return NULL;
	vif->nb = nb;
	vif->domid = domid;
	vif->handle = handle;
	vif->fe_state = -1;
	vif->be_state = XenbusStateInitialising;
	vif->share = nb_share_get(nb, domid);
	if (!vif->share) {
		free(vif);
		return NULL;
	}
	snprintf(vif->name, sizeof(vif->name), "vif%u.%u", domid, handle);
	snprintf(vif->be_path, sizeof(vif->be_path), BE_ROOT "/%u/%u", domid, handle);
	snprintf(expect, sizeof(expect), "/local/domain/%u/device/vif/%u", domid, handle);
	/* the toolstack wrote these (dom0-only nodes), still checked */
	if (read_str(nb, vif->be_path, "frontend", vif->fe_path, sizeof(vif->fe_path)) < 0 ||
	    strcmp(vif->fe_path, expect) != 0 ||
	    read_uint(nb, vif->be_path, "frontend-id", HV_MAX_DOMID, &feid) < 0 || feid != domid) {
		/* not (yet) a complete backend dir: look again on the next event */
		nb_share_put(nb, vif->share);
		free(vif);
		return NULL;
	}
	if (read_str(nb, vif->be_path, "bridge", vif->bridge_name, sizeof(vif->bridge_name)) < 0 ||
	    !valid_bridge_name(vif->bridge_name))
		snprintf(vif->bridge_name, sizeof(vif->bridge_name), "br0");
	if (read_str(nb, vif->be_path, "mac", vif->mac, sizeof(vif->mac)) < 0)
		vif->mac[0] = 0;
	/* the vif's queues= (toolstack, dom0-only node); absent: netback's maximum */
	if (read_uint(nb, vif->be_path, "queues", 0xffffffffull, &q) < 0 || q == 0 ||
	    q > NB_MAX_QUEUES)
		q = NB_MAX_QUEUES;
	vif->max_queues = (unsigned)q;
	/* xl's vifname= (a dom0-only node): the switch port's name instead of vifD.N */
	if (read_str(nb, vif->be_path, "vifname", expect, 16) == 0 && valid_bridge_name(expect))
		memcpy(vif->name, expect, strlen(expect) + 1); /* < 16 bytes: fits */

	be_write(vif, "feature-sg", "1");
	be_write(vif, "feature-gso-tcpv4", "1");
	be_write(vif, "feature-gso-tcpv6", "1");
	be_write(vif, "feature-rx-copy", "1");
	be_write(vif, "feature-rx-flip", "0");
	be_write(vif, "feature-split-event-channels", "1");
	be_write(vif, "multi-queue-max-queues", "%u", vif->max_queues);
	be_write(vif, "feature-persistent", "1");
	vif->be_state = -1; /* force the write below */
	be_set_state(vif, XenbusStateInitWait);
	vif->next = nb->vifs;
	if (nb->vifs)
		nb->vifs->prev = vif;
	nb->vifs = vif;
	vif->hnext = *vif_bucket(nb, domid);
	*vif_bucket(nb, domid) = vif;
	PVLOG(INFO, NB_MOD, "%s: new vif (frontend %s, bridge %s)", vif->name, vif->fe_path,
	      vif->bridge_name);
	return vif;
}

static void vif_free(struct nb *nb, struct nb_vif *vif)
{
	nb_vif_disconnect(vif);
	if (vif->prev)
		vif->prev->next = vif->next;
	else
		nb->vifs = vif->next;
	if (vif->next)
		vif->next->prev = vif->prev;
	for (struct nb_vif **pp = vif_bucket(nb, vif->domid); *pp; pp = &(*pp)->hnext)
		if (*pp == vif) {
			*pp = vif->hnext;
			break;
		}
	if (vif->dirty)
		for (struct nb_vif **pp = &nb->dirty; *pp; pp = &(*pp)->dnext)
			if (*pp == vif) {
				*pp = vif->dnext;
				break;
			}
	PVLOG(INFO, NB_MOD, "%s: removed", vif->name);
	nb_share_put(nb, vif->share);
	free(vif);
}

/* Follows the frontend's state (see the header). */
static void vif_update(struct nb_vif *vif)
{
	unsigned long long st;
	int fe;

	if (read_uint(vif->nb, vif->fe_path, "state", 8, &st) < 0)
		fe = -1; /* gone or garbage: treat as closed */
	else
		fe = (int)st;
	if (fe != vif->fe_state)
		PVLOG(DEBUG, NB_MOD, "%s: frontend %s", vif->name, xenbus_strstate(fe));
	vif->fe_state = fe;

	if (vif->connected && __atomic_load_n(&vif->disabled, __ATOMIC_ACQUIRE)) {
		nb_vif_disconnect(vif);
		vif_dev_fatal(vif, EIO, "%s", vif->last_error[0] ? vif->last_error : "fatal error");
	}
	if (vif->connected)
		vif_read_rate(vif); /* the `rate` watch: applied live */
	switch (fe) {
	case XenbusStateInitialising:
		if (vif->connected)
			nb_vif_disconnect(vif);
		if (vif->be_state != XenbusStateInitWait) {
			__atomic_store_n(&vif->disabled, 0, __ATOMIC_RELEASE);
			be_set_state(vif, XenbusStateInitWait);
		}
		break;
	case XenbusStateInitialised:
	case XenbusStateConnected:
		if (!vif->connected && vif->be_state == XenbusStateInitWait)
			vif_connect(vif);
		break;
	case XenbusStateClosing:
		if (vif->connected)
			nb_vif_disconnect(vif);
		if (vif->be_state != XenbusStateClosed)
			be_set_state(vif, XenbusStateClosing);
		break;
	case XenbusStateClosed:
	case -1:
		if (vif->connected)
			nb_vif_disconnect(vif);
		if (vif->be_state != XenbusStateInitialising &&
		    vif->be_state != XenbusStateClosed &&
		    !(fe == -1 && vif->be_state == XenbusStateInitWait))
			be_set_state(vif, XenbusStateClosed);
		break;
	default:
		break;
	}
}

/* Every vif from the backend tree (a change of the tree's root: rare). */
static void rescan(struct nb *nb)
{
	char **doms = NULL;
	unsigned nd = 0;

	nb->rescans++;
	for (struct nb_vif *v = nb->vifs; v; v = v->next)
		v->seen = false;
	if (xs_directory(nb->xs, 0, 0, BE_ROOT, &doms, &nd) < 0)
		nd = 0;
	for (unsigned i = 0; i < nd; i++) {
		unsigned long long domid;
		char dir[96], **hs = NULL;
		unsigned nh = 0;

		if (parse_uint(doms[i], strlen(doms[i]), HV_MAX_DOMID, &domid) < 0 || domid == 0)
			continue;
		snprintf(dir, sizeof(dir), BE_ROOT "/%llu", domid);
		if (xs_directory(nb->xs, 0, 0, dir, &hs, &nh) < 0)
			continue;
		for (unsigned j = 0; j < nh; j++) {
			unsigned long long h;
			struct nb_vif *v;
			if (parse_uint(hs[j], strlen(hs[j]), 255, &h) < 0)
				continue;
			v = vif_find(nb, (domid_t)domid, (unsigned)h);
			if (!v)
				v = vif_create(nb, (domid_t)domid, (unsigned)h);
			if (v)
				v->seen = true;
		}
		xs_free_list(hs, nh);
	}
	xs_free_list(doms, nd);
	for (struct nb_vif *v = nb->vifs, *next; v; v = next) {
		next = v->next;
		if (!v->seen)
			vif_free(nb, v);
		else
			vif_mark(nb, v);
	}
}

/*
 * The vifs of one domain from its backend directory: new ones created, gone
 * ones freed, the others marked for an update. O(that domain's vifs): what a
 * create or destroy costs does not grow with the other domains.
 */
static void rescan_dom(struct nb *nb, domid_t domid)
{
	char dir[96], **hs = NULL;
	unsigned nh = 0;

	nb->rescans++;
	for (struct nb_vif *v = *vif_bucket(nb, domid); v; v = v->hnext)
		if (v->domid == domid)
			v->seen = false;
	snprintf(dir, sizeof(dir), BE_ROOT "/%u", (unsigned)domid);
	if (xs_directory(nb->xs, 0, 0, dir, &hs, &nh) < 0)
		nh = 0;
	for (unsigned j = 0; j < nh; j++) {
		unsigned long long h;
		struct nb_vif *v;
		if (parse_uint(hs[j], strlen(hs[j]), 255, &h) < 0)
			continue;
		v = vif_find(nb, domid, (unsigned)h);
		if (!v)
			v = vif_create(nb, domid, (unsigned)h);
		if (v)
			v->seen = true;
	}
	xs_free_list(hs, nh);
	for (struct nb_vif *v = *vif_bucket(nb, domid), *next; v; v = next) {
		next = v->hnext;
		if (v->domid != domid)
			continue;
		if (!v->seen)
			vif_free(nb, v);
		else
			vif_mark(nb, v);
	}
}

/* Parses a decimal path component at *p (ending at '/' or NUL); advances *p past it. */
static bool path_uint(const char **p, unsigned long long max, unsigned long long *out)
{
	size_t n = strcspn(*p, "/");

	if (parse_uint(*p, n, max, out) < 0)
		return false;
	*p += n;
	return true;
}

/* Makes sure nb_process runs in the next loop turn: one eventfd write per turn. */
static void kick(struct nb *nb)
{
	uint64_t one = 1;

	if (nb->kicked)
		return;
	nb->kicked = true;
	if (write(nb->ctl_fd, &one, sizeof(one)) < 0)
		PVLOG_RL(ERR, NB_MOD, "cannot kick the control eventfd: %d", errno);
}

static void mark_vif(struct nb *nb, domid_t domid, long handle)
{
	for (struct nb_vif *v = *vif_bucket(nb, domid); v; v = v->hnext) {
		if (v->domid == domid && (handle < 0 || v->handle == (unsigned)handle) &&
		    !v->dirty) {
			vif_mark(nb, v);
			kick(nb);
		}
	}
}

/* Asks for a rescan of one domain's backend directory at the next nb_process. */
static void mark_dom(struct nb *nb, domid_t domid)
{
	nb->rescan_dom[domid / 64] |= 1ull << (domid % 64);
	nb->rescan_some = true;
	kick(nb);
}

/*
 * Classifies one event (see the header): O(path + the domain's vifs), no store
 * access. A change of /local/domain/0/backend/vif itself asks for a rescan of
 * every domain; of .../vif/<d>[/<h>] itself, or below a vif not known yet, a
 * rescan of domain <d>; below a known vif's backend or frontend directory it
 * marks that vif; /local/domain/<d>[/device[/vif]] marks every vif of <d> (a subtree
 * removed at once); anything else is not ours.
 */
static void watch_cb(void *arg, const char *path, const char *token)
{
	static const char dom_root[] = "/local/domain";
	struct nb *nb = arg;
	unsigned long long d, h;
	const char *p;

	(void)token;
	nb->watch_events++;
	if (!strncmp(path, BE_ROOT, strlen(BE_ROOT)) &&
	    (path[strlen(BE_ROOT)] == '/' || !path[strlen(BE_ROOT)])) {
		p = path + strlen(BE_ROOT);
		if (*p == '/' && (p++, path_uint(&p, HV_MAX_DOMID, &d)) && d != 0) {
			if (*p == '/' && (p++, path_uint(&p, 255, &h)) && *p == '/' &&
			    vif_find(nb, (domid_t)d, (unsigned)h))
				mark_vif(nb, (domid_t)d, (long)h);
			else
				mark_dom(nb, (domid_t)d);
			return;
		}
		if (!nb->rescan_all) {
			nb->rescan_all = true;
			kick(nb);
		}
		return;
	}
	if (strncmp(path, dom_root, strlen(dom_root)))
		return;
	p = path + strlen(dom_root);
	if (!*p) {
		if (!nb->rescan_all) {
			nb->rescan_all = true;
			kick(nb);
		}
		return;
	}
	if (*p++ != '/' || !path_uint(&p, HV_MAX_DOMID, &d) || d == 0)
		return;
	if (!*p || !strcmp(p, "/device") || !strcmp(p, "/device/vif")) {
		mark_vif(nb, (domid_t)d, -1);
		return;
	}
	if (strncmp(p, "/device/vif/", 12))
		return;
	p += 12;
	if (path_uint(&p, 255, &h) && (*p == '/' || !*p))
		mark_vif(nb, (domid_t)d, (long)h);
}

void nb_process(struct nb *nb)
{
	uint64_t v;

	if (read(nb->ctl_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		PVLOG_RL(WARN, NB_MOD, "control eventfd: %d", errno);
	nb->kicked = false;
	/* the watch work of this turn: events that our own writes cause below are
	 * delivered after this call and handled in the next turn */
	if (nb->rescan_all) {
		nb->rescan_all = false;
		nb->rescan_some = false;
		memset(nb->rescan_dom, 0, sizeof(nb->rescan_dom));
		rescan(nb);
	} else if (nb->rescan_some) {
		nb->rescan_some = false;
		for (unsigned w = 0; w < (1u << 16) / 64; w++)
			while (nb->rescan_dom[w]) {
				unsigned b = (unsigned)__builtin_ctzll(nb->rescan_dom[w]);
				nb->rescan_dom[w] &= ~(1ull << b);
				rescan_dom(nb, (domid_t)(w * 64 + b));
			}
	}
	while (nb->dirty) {
		struct nb_vif *vif = nb->dirty;
		nb->dirty = vif->dnext;
		vif->dirty = false;
		nb->vif_updates++;
		vif_update(vif);
	}
	for (struct nb_vif *vif = nb->vifs; vif; vif = vif->next) {
		if (vif->connected && __atomic_load_n(&vif->disabled, __ATOMIC_ACQUIRE)) {
			/* XSA-90: the worker only flagged it; the teardown happens here */
			nb_vif_disconnect(vif);
			vif_dev_fatal(vif, EIO, "%s", vif->last_error);
		}
	}
}

int nb_xenbus_start(struct nb *nb)
{
	int rc = xs_watch_add(nb->xs, "/local/domain", "netback", watch_cb, nb, &nb->be_watch);
	if (rc < 0)
		return rc;
	nb->be_watch_set = true;
	return 0;
}

void nb_xenbus_stop(struct nb *nb)
{
	if (nb->be_watch_set)
		xs_watch_remove(nb->xs, nb->be_watch);
	nb->be_watch_set = false;
	while (nb->vifs)
		vif_free(nb, nb->vifs);
	nb_accel_fini(nb);
}
