/* SPDX-License-Identifier: MIT */
/*
 * netfront control path: the xenbus frontend state machine of one vif, ring
 * and buffer-pool grants, event channels, TAP attachment.
 *
 *   backend InitWait  -> (tear down an old connection,) grant rings and pools,
 *                        allocate event channels, write our keys in one
 *                        transaction, state Connected
 *   backend Connected -> get the event-channel fds, start the queue threads
 *   backend Closing/Closed/gone -> stop the threads, revoke, close ports,
 *                        state Closed; after a connection that worked and a
 *                        backend Closed, state Initialising to ask for a
 *                        reconnect (the backend then returns to InitWait)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include <pvnet/lib.h>
#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/log.h>
#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

#include "nf_private.h"

#define PAGE 4096u
#define NF_QUEUE_BLOCK (2 + NF_TX_POOL + NF_RX_POOL) /* frames and refs of one queue */

void nf_alloc_init(struct nf_alloc *a, struct hvc *hv, uint64_t first_pfn)
{
	size_t size;
	unsigned nr;

	a->mem = hvc_mem(hv, &size);
	a->next_pfn = first_pfn;
	a->end_pfn = hvc_scratch_pfn(hv);
	a->gnt = hvc_grant_table(hv, &nr);
	a->next_ref = GNTTAB_NR_RESERVED_ENTRIES;
	a->end_ref = nr;
	a->nr_free = 0;
}

static int alloc_frames(struct nf_alloc *a, unsigned n, uint64_t *pfn, grant_ref_t *ref)
{
	if (a->end_pfn - a->next_pfn < n || a->end_ref - a->next_ref < n)
		return -ENOMEM;
	*pfn = a->next_pfn;
	*ref = a->next_ref;
	a->next_pfn += n;
	a->next_ref += n;
	return 0;
}

/*
 * Grants `frame` to dom under `ref` unless it is granted so already (an entry
 * the backend still held when we last revoked stays granted: rewriting its
 * flags would clear the hypervisor's GTF_reading/GTF_writing).
 */
static void grant(struct nf_alloc *a, grant_ref_t ref, domid_t dom, uint64_t frame, bool ro)
{
	struct grant_entry_v1 *e = &a->gnt[ref];
	uint16_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

	if ((flags & GTF_type_mask) == GTF_permit_access && e->domid == dom && e->frame == frame &&
	    !!(flags & GTF_readonly) == ro)
		return;
	gnttab_grant_access(a->gnt, ref, dom, (uint32_t)frame, ro);
}

/* Revokes n refs from `ref`; returns how many the backend still uses. */
static unsigned revoke_grants(struct nf_alloc *a, grant_ref_t ref, unsigned n)
{
	unsigned busy = 0;

	for (unsigned i = 0; i < n; i++)
		if (gnttab_end_access(a->gnt, ref + i) == -EBUSY)
			busy++;
	return busy;
}

static int xs_read_str(struct xs_client *xs, const char *dir, const char *key, char *buf,
		       size_t size)
{
	char path[192], *val = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	rc = xs_client_read(xs, 0, path, &val, &len);
	if (rc < 0)
		return rc;
	snprintf(buf, size, "%s", val);
	free(val);
	return 0;
}

static long xs_read_long(struct xs_client *xs, const char *dir, const char *key, long def)
{
	char buf[32], *end;
	long v;

	if (xs_read_str(xs, dir, key, buf, sizeof(buf)) < 0)
		return def;
	v = strtol(buf, &end, 10);
	return (end == buf || *end) ? def : v;
}

/*
 * Writes our state node, in a transaction that first checks our directory is
 * still there: after a hot-unplug removed it, a plain write would create a
 * stray device/vif/<n>/state. -ENOENT then (nothing written).
 */
static int write_state(struct nf_vif *vif, int state)
{
	char path[160], *val = NULL;
	size_t len;
	uint32_t tx;
	int rc = -EAGAIN;

	snprintf(path, sizeof(path), "%s/state", vif->fe);
	for (int attempt = 0; attempt < 10 && rc == -EAGAIN; attempt++) {
		char be[192];

		rc = xs_client_transaction_start(vif->xs, &tx);
		if (rc < 0)
			break;
		snprintf(be, sizeof(be), "%s/backend", vif->fe);
		rc = xs_client_read(vif->xs, tx, be, &val, &len);
		free(val);
		val = NULL;
		if (rc == 0)
			rc = xs_client_printf(vif->xs, tx, path, "%d", state);
		if (rc < 0) {
			xs_client_transaction_end(vif->xs, tx, false);
			break;
		}
		rc = xs_client_transaction_end(vif->xs, tx, true);
	}
	if (rc == -ENOENT)
		PVLOG(INFO, MOD, "%s: device directory gone; state %s not written", vif->ifname,
		      xenbus_strstate(state));
	if (rc == 0) {
		PVLOG(INFO, MOD, "%s: frontend %s -> %s", vif->ifname,
		      xenbus_strstate(vif->fe_state), xenbus_strstate(state));
		vif->fe_state = state;
	}
	return rc;
}

static void write_error(struct nf_vif *vif, const char *msg)
{
	char path[160];

	snprintf(path, sizeof(path), "/local/domain/%u/error/device/vif/%u/error", vif->domid,
		 vif->devid);
	xs_client_printf(vif->xs, 0, path, "%s", msg);
	PVLOG(ERR, MOD, "%s: %s", vif->ifname, msg);
}

static int backend_state(struct nf_vif *vif)
{
	return (int)xs_read_long(vif->xs, vif->be, "state", -1);
}

/* pvnet-mode, pvnet-pkt, pvnet-pps, pvnet-dst-mac (or $PVNET_PKTGEN_DST), first ip. */
static int read_params(struct nf_vif *vif)
{
	struct nf_vif_params *p = &vif->params;
	const char *env = getenv("PVNET_PKTGEN_DST");
	char buf[1024];
	long v;

	p->mode = PVNET_VIF_MODE_TAP;
	if (xs_read_str(vif->xs, vif->fe, "pvnet-mode", buf, sizeof(buf)) == 0 &&
	    pvnet_vif_mode_parse(buf, &p->mode) < 0) {
		write_error(vif, "unknown pvnet-mode");
		return -EINVAL;
	}
	memcpy(p->mac, vif->mac, 6);
	v = xs_read_long(vif->xs, vif->fe, "pvnet-pkt", 64);
	p->pkt = v >= 60 && v <= (long)PAGE ? (unsigned)v : 64;
	if (v != (long)p->pkt)
		PVLOG(WARN, MOD, "%s: pvnet-pkt %ld outside 60..%u, using %u", vif->ifname, v, PAGE,
		      p->pkt);
	v = xs_read_long(vif->xs, vif->fe, "pvnet-pps", 0);
	p->pps = v > 0 ? (unsigned)v : 0;
	memset(p->dst_mac, 0xff, 6);
	if (env && *env) {
		if (pvnet_mac_parse(env, p->dst_mac) < 0)
			PVLOG(WARN, MOD, "%s: bad PVNET_PKTGEN_DST '%s', broadcasting", vif->ifname,
			      env);
	} else if (xs_read_str(vif->xs, vif->fe, "pvnet-dst-mac", buf, sizeof(buf)) == 0 &&
		   pvnet_mac_parse(buf, p->dst_mac) < 0) {
		PVLOG(WARN, MOD, "%s: bad pvnet-dst-mac '%s', broadcasting", vif->ifname, buf);
		memset(p->dst_mac, 0xff, 6);
	}
	p->ip[0] = 0;
	if (xs_read_str(vif->xs, vif->be, "ip", buf, sizeof(buf)) == 0) {
		size_t n = strcspn(buf, " /");
		if (n < sizeof(p->ip)) {
			memcpy(p->ip, buf, n);
			p->ip[n] = 0;
		}
	}
	return 0;
}

void nf_vif_get_params(const struct nf_vif *vif, struct nf_vif_params *p)
{
	*p = vif->params;
}

int nf_vif_set_app(struct nf_vif *vif, const struct nf_app_ops *ops, void *arg)
{
	if (vif->params.mode == PVNET_VIF_MODE_TAP || vif->running)
		return -EINVAL;
	vif->app = ops;
	vif->app_arg = arg;
	return 0;
}

/* The device nodes: backend (its online = 0 is a hot-unplug under way:
 * -ENODEV), backend-id, mac (left in buf) and mtu. 0 or -errno, logged. */
static int read_device_nodes(struct nf_vif *vif, char *buf, size_t size)
{
	struct xs_client *xs = vif->xs;
	int rc;

	rc = xs_read_str(xs, vif->fe, "backend", vif->be, sizeof(vif->be));
	if (rc < 0) {
		PVLOG(ERR, MOD, "%s: no backend node in %s", vif->ifname, vif->fe);
		return rc;
	}
	if (xs_read_long(xs, vif->be, "online", 1) == 0)
		return -ENODEV; /* a directory hot-unplug is removing (backend online = 0) */
	vif->backend_id = (domid_t)xs_read_long(xs, vif->fe, "backend-id", 0);
	if (xs_read_str(xs, vif->fe, "mac", buf, size) < 0 || pvnet_mac_parse(buf, vif->mac) < 0) {
		PVLOG(ERR, MOD, "%s: missing or bad mac node", vif->ifname);
		return -EINVAL;
	}
	vif->mtu = (unsigned)xs_read_long(xs, vif->fe, "mtu", PVNET_DEFAULT_MTU);
	if (vif->mtu < 68 || vif->mtu > 65535)
		vif->mtu = PVNET_DEFAULT_MTU;
	return 0;
}

/* The TAP's MAC, MTU and link, then the addresses (backend ip, read into buf
 * when present) and default routes (backend gateway) the toolstack gives the
 * vif. 0 or -errno (logged). */
static int tap_configure(struct nf_vif *vif, char *buf, size_t size)
{
	char gw[256];
	int rc;

	rc = nf_if_configure(vif->ifname, vif->mac, vif->mtu);
	if (rc < 0) {
		PVLOG(ERR, MOD, "%s: cannot configure MAC/MTU/link: %s", vif->ifname,
		      strerror(-rc));
		return rc;
	}
	/* the toolstack's address list lives in the backend dir, readable by us */
	if (xs_read_str(vif->xs, vif->be, "ip", buf, size) == 0)
		nf_if_add_addrs(vif->ifname, buf);
	/* pvnet: the default route(s) the toolstack gives this vif (vif `gateway=`) */
	if (xs_read_str(vif->xs, vif->be, "gateway", gw, sizeof(gw)) == 0)
		nf_if_add_gateways(vif->ifname, gw);
	return 0;
}

int nf_vif_create(struct hvc *hv, struct xs_client *xs, struct nf_alloc *alloc, unsigned devid,
		  struct nf_vif **out)
{
	struct nf_vif *vif;
	char buf[1024];
	int rc;

	vif = calloc(1, sizeof(*vif));
	if (!vif)
		return -ENOMEM;
	vif->hv = hv;
	vif->xs = xs;
	vif->alloc = alloc;
	vif->domid = hvc_domid(hv);
	vif->devid = devid;
	vif->tap_fd = -1;
	vif->fe_state = XenbusStateInitialising;
	snprintf(vif->fe, sizeof(vif->fe), "/local/domain/%u/device/vif/%u", vif->domid, devid);
	snprintf(vif->token, sizeof(vif->token), "vif%u", devid);
	snprintf(vif->ifname, sizeof(vif->ifname), "eth%u", devid);

	rc = read_device_nodes(vif, buf, sizeof(buf));
	if (rc < 0)
		goto free_vif;
	rc = read_params(vif);
	if (rc < 0)
		goto free_vif;
	if (vif->params.mode != PVNET_VIF_MODE_TAP) {
		/* pktgen/sink: the rings are driven by the application, no TAP */
		rc = xs_client_watch(xs, vif->be, vif->token);
		if (rc < 0)
			goto free_vif;
		PVLOG(INFO, MOD, "%s: vif %u, backend %s (dom%u), mode %s, %u B frames, %u pps",
		      vif->ifname, devid, vif->be, vif->backend_id,
		      pvnet_vif_mode_name(vif->params.mode), vif->params.pkt, vif->params.pps);
		*out = vif;
		return 0;
	}
	rc = nf_tap_open(vif->ifname, &vif->tap_fd);
	if (rc < 0) {
		PVLOG(ERR, MOD, "%s: cannot create the TAP device: %s", vif->ifname, strerror(-rc));
		goto free_vif;
	}
	rc = tap_configure(vif, buf, sizeof(buf));
	if (rc < 0)
		goto close_tap;
	rc = xs_client_watch(xs, vif->be, vif->token);
	if (rc < 0) {
		PVLOG(ERR, MOD, "%s: watch %s: %s", vif->ifname, vif->be, strerror(-rc));
		goto close_tap;
	}
	PVLOG(INFO, MOD, "%s: vif %u, backend %s (dom%u), mtu %u, addresses '%s'", vif->ifname,
	      devid, vif->be, vif->backend_id, vif->mtu, buf);
	*out = vif;
	return 0;

close_tap:
	close(vif->tap_fd);
free_vif:
	free(vif);
	return rc;
}

bool nf_vif_owns_token(const struct nf_vif *vif, const char *token)
{
	return !strcmp(vif->token, token);
}

static struct nf_queue *queue_get(struct nf_vif *vif, unsigned i)
{
	struct nf_queue *q = vif->q[i];
	struct nf_alloc *a = vif->alloc;
	grant_ref_t ref;

	if (q)
		return q;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	/* 2 ring pages, then the TX pool, then the RX pool: contiguous frames and refs;
	 * first a block of a removed vif that no backend maps any more */
	for (unsigned b = 0; b < a->nr_free; b++) {
		if (revoke_grants(a, a->free_blk[b].ref, NF_QUEUE_BLOCK) == 0) {
			q->tx_ring_pfn = a->free_blk[b].pfn;
			ref = a->free_blk[b].ref;
			a->free_blk[b] = a->free_blk[--a->nr_free];
			goto got_block;
		}
	}
	if (alloc_frames(a, NF_QUEUE_BLOCK, &q->tx_ring_pfn, &ref) < 0) {
		PVLOG(ERR, MOD, "%s queue %u: guest memory or grant table exhausted", vif->ifname,
		      i);
		free(q);
		return NULL;
	}
got_block:
	q->vif = vif;
	q->idx = i;
	q->tx_ring_ref = ref;
	q->rx_ring_pfn = q->tx_ring_pfn + 1;
	q->rx_ring_ref = ref + 1;
	q->tx_pool_pfn = q->tx_ring_pfn + 2;
	q->tx_ref_base = ref + 2;
	q->rx_pool_pfn = q->tx_pool_pfn + NF_TX_POOL;
	q->rx_ref_base = q->tx_ref_base + NF_TX_POOL;
	q->tx_pages = a->mem + q->tx_pool_pfn * PAGE;
	q->rx_pages = a->mem + q->rx_pool_pfn * PAGE;
	q->tx_wait = q->tx_notify = q->rx_wait = q->rx_notify = -1;
	q->tap_fd = -1;
	q->stop_fd = -1;
	vif->q[i] = q;
	return q;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Adds a finished connection's counters to the vif's totals. */
static void queue_account(struct nf_vif *vif, struct nf_queue *q)
{
	vif->tot[0] += q->tx_pkts;
	vif->tot[1] += q->tx_bytes;
	vif->tot[2] += q->rx_pkts;
	vif->tot[3] += q->rx_bytes;
	for (unsigned d = 0; d < NF_DROP__COUNT; d++)
		vif->tot_drops[d] += q->drops[d];
	PVLOG(INFO, MOD,
	      "%s queue %u: tx %llu pkts %llu bytes (%llu gso), rx %llu pkts %llu bytes "
	      "(%llu gso), notifies tx %llu rx %llu, wakeups %llu",
	      vif->ifname, q->idx, (unsigned long long)q->tx_pkts, (unsigned long long)q->tx_bytes,
	      (unsigned long long)q->tx_gso_pkts, (unsigned long long)q->rx_pkts,
	      (unsigned long long)q->rx_bytes, (unsigned long long)q->rx_gso_pkts,
	      (unsigned long long)q->tx_notify_count, (unsigned long long)q->rx_notify_count,
	      (unsigned long long)q->wakeups);
	q->tx_pkts = q->tx_bytes = q->rx_pkts = q->rx_bytes = 0;
	q->tx_gso_pkts = q->rx_gso_pkts = q->tx_notify_count = q->rx_notify_count = 0;
	q->wakeups = 0;
	memset(q->drops, 0, sizeof(q->drops));
}

/* Stops the data path and releases the connection's resources. */
static void disconnect(struct nf_vif *vif)
{
	unsigned busy = 0;

	if (!vif->connected)
		return;
	for (unsigned i = 0; i < vif->nr_queues; i++)
		nf_queue_stop(vif->q[i]);
	nf_accel_disconnect(vif); /* threads stopped: the qp is ours to unmap */
	for (unsigned i = 0; i < vif->nr_queues; i++) {
		struct nf_queue *q = vif->q[i];
		close_fd(&q->tx_wait);
		close_fd(&q->tx_notify);
		close_fd(&q->rx_wait);
		close_fd(&q->rx_notify);
		if (q->tx_port)
			hvc_evtchn_close(vif->hv, q->tx_port);
		if (q->rx_port)
			hvc_evtchn_close(vif->hv, q->rx_port);
		q->tx_port = q->rx_port = 0;
		busy += revoke_grants(vif->alloc, q->tx_ring_ref, NF_QUEUE_BLOCK);
		q->acc = NULL;
		if (i > 0 && vif->params.mode == PVNET_VIF_MODE_TAP)
			close_fd(&q->tap_fd);
		q->tap_fd = -1;
		queue_account(vif, q);
	}
	if (vif->acc && vif->nr_queues == 1)
		busy += revoke_grants(vif->alloc, nf_accel_rx_ref(vif), NF_ACCEL_RX_POOL);
	if (busy)
		PVLOG(WARN, MOD, "%s: %u grants still in use by the backend; kept granted",
		      vif->ifname, busy);
	vif->connected = false;
	vif->running = false;
	PVLOG(INFO, MOD, "%s: disconnected", vif->ifname);
}

/* Queues wanted: the pvnet `queues` node of our vif dir, else our vCPU count. */
static unsigned queues_wanted(struct nf_vif *vif)
{
	char cpu[64], **names = NULL;
	unsigned count = 0;
	long v = xs_read_long(vif->xs, vif->fe, "queues", -1);

	if (v > 0)
		return (unsigned)v;
	snprintf(cpu, sizeof(cpu), "/local/domain/%u/cpu", vif->domid);
	if (xs_client_directory(vif->xs, 0, cpu, &names, &count) < 0)
		return 1;
	xs_free_list(names, count);
	return count ? count : 1;
}

static int write_queue_keys(struct nf_vif *vif, uint32_t tx, const char *dir,
			    const struct nf_queue *q)
{
	char path[192];
	int rc = 0;

	snprintf(path, sizeof(path), "%s/tx-ring-ref", dir);
	rc |= xs_client_printf(vif->xs, tx, path, "%u", q->tx_ring_ref);
	snprintf(path, sizeof(path), "%s/rx-ring-ref", dir);
	rc |= xs_client_printf(vif->xs, tx, path, "%u", q->rx_ring_ref);
	snprintf(path, sizeof(path), "%s/event-channel-tx", dir);
	rc |= xs_client_printf(vif->xs, tx, path, "%u", q->tx_port);
	snprintf(path, sizeof(path), "%s/event-channel-rx", dir);
	rc |= xs_client_printf(vif->xs, tx, path, "%u", q->rx_port);
	return rc;
}

static int write_keys(struct nf_vif *vif)
{
	static const char *const features[] = {"request-rx-copy",   "feature-rx-notify",
					       "feature-sg",        "feature-gso-tcpv4",
					       "feature-gso-tcpv6", "feature-persistent"};
	char path[192];
	int rc;

	for (int attempt = 0; attempt < 20; attempt++) {
		uint32_t tx;
		int wrc = 0;

		rc = xs_client_transaction_start(vif->xs, &tx);
		if (rc < 0)
			return rc;
		if (vif->nr_queues == 1) {
			wrc |= write_queue_keys(vif, tx, vif->fe, vif->q[0]);
		} else {
			snprintf(path, sizeof(path), "%s/multi-queue-num-queues", vif->fe);
			wrc |= xs_client_printf(vif->xs, tx, path, "%u", vif->nr_queues);
			for (unsigned i = 0; i < vif->nr_queues; i++) {
				char dir[160];
				snprintf(dir, sizeof(dir), "%s/queue-%u", vif->fe, i);
				wrc |= write_queue_keys(vif, tx, dir, vif->q[i]);
			}
		}
		for (unsigned i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", vif->fe, features[i]);
			wrc |= xs_client_printf(vif->xs, tx, path, "1");
		}
		wrc |= nf_accel_write_keys(vif, tx);
		if (wrc) {
			xs_client_transaction_end(vif->xs, tx, false);
			return -EIO;
		}
		rc = xs_client_transaction_end(vif->xs, tx, true);
		if (rc != -EAGAIN)
			return rc;
	}
	return -EAGAIN;
}

/* The backend's features: rx-copy and split event channels required (else an
 * error node, Closed, -EOPNOTSUPP), sg and GSO, and the queue count. */
static int read_backend_features(struct nf_vif *vif)
{
	unsigned want, max;

	if (xs_read_long(vif->xs, vif->be, "feature-rx-copy", 0) != 1) {
		write_error(vif, "backend does not support copying receive path");
		write_state(vif, XenbusStateClosed);
		return -EOPNOTSUPP;
	}
	if (xs_read_long(vif->xs, vif->be, "feature-split-event-channels", 0) != 1) {
		write_error(vif, "backend does not offer split event channels");
		write_state(vif, XenbusStateClosed);
		return -EOPNOTSUPP;
	}
	vif->sg = xs_read_long(vif->xs, vif->be, "feature-sg", 0) == 1;
	vif->gso_v4 = vif->sg && xs_read_long(vif->xs, vif->be, "feature-gso-tcpv4", 0) == 1;
	vif->gso_v6 = vif->sg && xs_read_long(vif->xs, vif->be, "feature-gso-tcpv6", 0) == 1;
	max = (unsigned)xs_read_long(vif->xs, vif->be, "multi-queue-max-queues", 1);
	want = queues_wanted(vif);
	vif->nr_queues = want < max ? want : max;
	if (vif->nr_queues > NF_MAX_QUEUES)
		vif->nr_queues = NF_MAX_QUEUES;
	if (vif->nr_queues < 1)
		vif->nr_queues = 1;
	if (vif->nr_queues < want)
		PVLOG(INFO, MOD, "%s: %u queues asked, the backend offers %u: using %u",
		      vif->ifname, want, max, vif->nr_queues);
	return 0;
}

/* Queue i: its TAP (a queue of its own past queue 0, TAP mode), rings and pools
 * granted to the backend, two event channels. On failure vif->nr_queues counts
 * the queues disconnect() must undo. 0 or -errno. */
static int queue_connect(struct nf_vif *vif, unsigned i)
{
	struct nf_alloc *a = vif->alloc;
	struct nf_queue *q = queue_get(vif, i);
	int rc;

	if (!q) {
		vif->nr_queues = i;
		return -ENOMEM;
	}
	q->tap_fd = -1;
	if (i == 0 || vif->params.mode != PVNET_VIF_MODE_TAP) {
		q->tap_fd = vif->tap_fd;
	} else {
		rc = nf_tap_open(vif->ifname, &q->tap_fd);
		if (rc < 0) {
			PVLOG(ERR, MOD, "%s: TAP queue %u: %s", vif->ifname, i, strerror(-rc));
			vif->nr_queues = i + 1;
			return rc;
		}
	}
	nf_queue_reset(q);
	grant(a, q->tx_ring_ref, vif->backend_id, q->tx_ring_pfn, false);
	grant(a, q->rx_ring_ref, vif->backend_id, q->rx_ring_pfn, false);
	for (unsigned p = 0; p < NF_TX_POOL; p++)
		grant(a, q->tx_ref_base + p, vif->backend_id, q->tx_pool_pfn + p, true);
	for (unsigned p = 0; p < NF_RX_POOL; p++)
		grant(a, q->rx_ref_base + p, vif->backend_id, q->rx_pool_pfn + p, false);
	q->acc = NULL;
	vif->connected = true; /* from here on, disconnect() undoes */
	rc = hvc_evtchn_alloc_unbound(vif->hv, vif->backend_id, &q->tx_port);
	if (rc == 0)
		rc = hvc_evtchn_alloc_unbound(vif->hv, vif->backend_id, &q->rx_port);
	if (rc < 0) {
		PVLOG(ERR, MOD, "%s: event channel: %s", vif->ifname, strerror(-rc));
		vif->nr_queues = i + 1;
		return rc;
	}
	return 0;
}

/* Backend in InitWait: set up everything and announce Connected. */
static int connect_backend(struct nf_vif *vif)
{
	struct nf_alloc *a = vif->alloc;
	unsigned offload;
	int rc;

	rc = read_backend_features(vif);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < vif->nr_queues; i++) {
		rc = queue_connect(vif, i);
		if (rc < 0)
			goto undo;
	}
	vif->connected = true;
	/* NIC Levels 2-3: only when the toolstack asked for them (backend accel-level),
	 * for a one-queue TAP vif; the RX pool is allocated once, after the queues */
	if (vif->params.mode == PVNET_VIF_MODE_TAP && vif->nr_queues == 1 &&
	    xs_read_long(vif->xs, vif->be, "accel-level", 0) >= 2 && !vif->acc &&
	    nf_accel_create(vif, a) < 0)
		PVLOG(WARN, MOD, "%s: no memory for the NIC fast path's RX pool; rings only",
		      vif->ifname);
	if (vif->acc && vif->nr_queues == 1) {
		vif->q[0]->acc = vif->acc;
		nf_accel_grant(vif);
	}
	offload = TUN_F_CSUM | (vif->gso_v4 ? TUN_F_TSO4 : 0) | (vif->gso_v6 ? TUN_F_TSO6 : 0);
	rc = vif->tap_fd >= 0 ? nf_tap_set_offload(vif->tap_fd, offload) : 0;
	if (rc < 0)
		PVLOG(WARN, MOD, "%s: TUNSETOFFLOAD %#x: %s", vif->ifname, offload, strerror(-rc));
	rc = write_keys(vif);
	if (rc < 0) {
		PVLOG(ERR, MOD, "%s: writing the frontend keys: %s", vif->ifname, strerror(-rc));
		goto undo;
	}
	rc = write_state(vif, XenbusStateConnected);
	if (rc < 0)
		goto undo;
	PVLOG(INFO, MOD, "%s: %u queue(s), sg %d gso4 %d gso6 %d, keys written", vif->ifname,
	      vif->nr_queues, vif->sg, vif->gso_v4, vif->gso_v6);
	return 0;

undo:
	disconnect(vif);
	return rc;
}

/* Backend Connected: its ports are bound now, so ours have fds. */
static int start_data_path(struct nf_vif *vif)
{
	int rc = 0;

	for (unsigned i = 0; i < vif->nr_queues; i++) {
		struct nf_queue *q = vif->q[i];
		rc = hvc_evtchn_get_fds(vif->hv, q->tx_port, &q->tx_wait, &q->tx_notify);
		if (rc == 0)
			rc = hvc_evtchn_get_fds(vif->hv, q->rx_port, &q->rx_wait, &q->rx_notify);
		if (rc == 0)
			rc = nf_queue_start(q);
		if (rc < 0) {
			PVLOG(ERR, MOD, "%s queue %u: cannot start: %s", vif->ifname, i,
			      strerror(-rc));
			return rc;
		}
	}
	vif->running = true;
	vif->ever_ran = true;
	PVLOG(INFO, MOD, "%s: connected, %u queue(s) running", vif->ifname, vif->nr_queues);
	return 0;
}

int nf_vif_handle_event(struct nf_vif *vif)
{
	int be = backend_state(vif);
	bool removing;
	int rc = 0;

	if (vif->shutting_down)
		return 0;
	switch (be) {
	case XenbusStateInitWait:
		/* another event while the backend still waits (it writes more nodes under
		 * its dir) is not a restart: the connection made for this InitWait stands */
		if (vif->connected && vif->be_seen == XenbusStateInitWait)
			break;
		if (vif->connected)
			disconnect(vif); /* the backend restarted under us */
		if (vif->fe_state == XenbusStateClosed && !vif->ever_ran)
			break; /* it refused us once: do not loop */
		rc = connect_backend(vif);
		break;
	case XenbusStateConnected:
		if (vif->connected && !vif->running && vif->fe_state == XenbusStateConnected) {
			rc = start_data_path(vif);
			if (rc < 0) {
				disconnect(vif);
				write_state(vif, XenbusStateClosed);
			}
		}
		break;
	case XenbusStateClosing:
	case XenbusStateClosed:
	case -1: /* backend dir gone: the domain or the device is going away */
		/* backend online = 0: the toolstack is removing the device (hot-unplug):
		 * answer Closed from any state and offer no new connection */
		removing = xs_read_long(vif->xs, vif->be, "online", 0) == 0; /* or gone */
		vif->removing |= removing;
		disconnect(vif);
		if (vif->fe_state != XenbusStateClosed &&
		    (removing || vif->fe_state != XenbusStateInitialising))
			write_state(vif, XenbusStateClosed);
		if (be == XenbusStateClosed && vif->ever_ran && !removing &&
		    vif->fe_state == XenbusStateClosed) {
			/* offer a new connection, as a freshly probed frontend does */
			vif->ever_ran = false;
			write_state(vif, XenbusStateInitialising);
		}
		break;
	default:
		break;
	}
	vif->be_seen = be;
	if (rc == 0 && vif->running)
		rc = nf_accel_update(vif); /* accel-frontend appeared, changed or went */
	return rc;
}

/* Waits until the backend state is one of `mask` (bit per state; bit 0 = gone). */
static void wait_backend(struct nf_vif *vif, unsigned mask, int timeout_ms)
{
	uint64_t deadline = pvnet_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		int be = backend_state(vif);
		char *p = NULL, *t = NULL;
		uint64_t now;

		if (mask & (1u << (be < 0 ? 0 : be)))
			return;
		now = pvnet_now_ms();
		if (now >= deadline)
			return;
		if (xs_client_read_watch(vif->xs, (int)(deadline - now), &p, &t) < 0 &&
		    pvnet_now_ms() < deadline)
			return; /* store gone */
		free(p);
		free(t);
	}
}

void nf_vif_shutdown(struct nf_vif *vif, int timeout_ms)
{
	const unsigned closing = 1u << 0 | 1u << XenbusStateClosing | 1u << XenbusStateClosed |
				 1u << XenbusStateInitWait | 1u << XenbusStateInitialising;

	if (vif->shutting_down)
		return;
	vif->shutting_down = true;
	xs_client_unwatch(vif->xs, vif->be, vif->token);
	if (vif->connected && vif->fe_state == XenbusStateConnected) {
		write_state(vif, XenbusStateClosing);
		wait_backend(vif, closing, timeout_ms * 2 / 3);
		/* stop the threads before the backend unmaps and we revoke */
		for (unsigned i = 0; i < vif->nr_queues; i++)
			nf_queue_stop(vif->q[i]);
		write_state(vif, XenbusStateClosed);
		wait_backend(vif, 1u << 0 | 1u << XenbusStateClosed | 1u << XenbusStateInitWait,
			     timeout_ms / 3);
	} else if (vif->fe_state != XenbusStateClosed) {
		write_state(vif, XenbusStateClosed);
	}
	disconnect(vif);
}

void nf_vif_log_stats(const struct nf_vif *vif)
{
	char drops[512] = "";
	size_t off = 0;

	for (unsigned d = 0; d < NF_DROP__COUNT; d++) {
		if (!vif->tot_drops[d])
			continue;
		off += (size_t)snprintf(drops + off, sizeof(drops) - off, " %s=%llu",
					nf_drop_name((enum nf_drop)d),
					(unsigned long long)vif->tot_drops[d]);
		if (off >= sizeof(drops))
			break;
	}
	nf_accel_log_stats(vif);
	PVLOG(INFO, MOD, "%s: total tx %llu pkts %llu bytes, rx %llu pkts %llu bytes, drops:%s",
	      vif->ifname, (unsigned long long)vif->tot[0], (unsigned long long)vif->tot[1],
	      (unsigned long long)vif->tot[2], (unsigned long long)vif->tot[3],
	      drops[0] ? drops : " none");
}

void nf_vif_orphan(struct nf_vif *vif)
{
	disconnect(vif);
	vif->fe_state = XenbusStateInitialising;
	vif->ever_ran = false;
	vif->removing = false; /* a store that went away with pvnetd is no hot-unplug */
	vif->be_seen = 0;      /* the next pvnetd's backend starts afresh */
}

int nf_vif_reattach(struct nf_vif *vif, struct xs_client *xs)
{
	vif->xs = xs;
	return vif->shutting_down ? 0 : xs_client_watch(xs, vif->be, vif->token);
}

void nf_vif_destroy(struct nf_vif *vif)
{
	struct nf_alloc *a;

	if (!vif)
		return;
	a = vif->alloc;
	if (vif->connected)
		nf_vif_shutdown(vif, 0);
	disconnect(vif);
	nf_accel_destroy(vif);
	for (unsigned i = 0; i < NF_MAX_QUEUES; i++) {
		if (!vif->q[i])
			continue;
		/* its frames and refs serve the next vif's queues (checked free then) */
		if (a->nr_free < NF_ALLOC_FREE_MAX) {
			a->free_blk[a->nr_free].pfn = vif->q[i]->tx_ring_pfn;
			a->free_blk[a->nr_free++].ref = vif->q[i]->tx_ring_ref;
		}
		free(vif->q[i]->app_lin);
		free(vif->q[i]);
	}
	close_fd(&vif->tap_fd);
	free(vif);
}

void nf_vif_remove(struct nf_vif *vif)
{
	if (!vif)
		return;
	if (!vif->shutting_down) {
		vif->shutting_down = true;
		/* the watched dir is gone; the watch itself is still ours to drop */
		xs_client_unwatch(vif->xs, vif->be, vif->token);
	}
	disconnect(vif); /* stops the threads first */
	PVLOG(INFO, MOD, "%s: device removed by the toolstack", vif->ifname);
	nf_vif_log_stats(vif);
	vif->connected = false;
	nf_vif_destroy(vif);
}

bool nf_vif_removing(const struct nf_vif *vif)
{
	return vif->removing;
}

unsigned nf_vif_devid(const struct nf_vif *vif)
{
	return vif->devid;
}
