/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/simnic/simnic_dev.c - simnic's control path: the ops table, devices
 * and their engine thread, ports (VFs), queue pairs and their shared memory, the
 * IOMMU table, filters, rate limits, counters, features, detach/attach.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "simnic.h"

#define SIMNIC_FEATURES                                                                            \
	(ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM) | ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM) |                 \
	 ACCEL_FEAT_BIT(ACCEL_FEAT_SG) | ACCEL_FEAT_BIT(ACCEL_FEAT_TSO) |                          \
	 ACCEL_FEAT_BIT(ACCEL_FEAT_LRO) | ACCEL_FEAT_BIT(ACCEL_FEAT_RX_VLAN_FILTER) |              \
	 ACCEL_FEAT_BIT(ACCEL_FEAT_HW_TC))
/* Linux's defaults: everything but LRO on. */
#define SIMNIC_FEATURES_DEFAULT (SIMNIC_FEATURES & ~ACCEL_FEAT_BIT(ACCEL_FEAT_LRO))

uint64_t simnic_now(struct accel_dev *dev)
{
	struct timespec ts;

	if (dev->host.now_ns)
		return dev->host.now_ns(dev->host.ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void simnic_log(struct accel_dev *dev, enum accel_log_level lvl, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!dev->host.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dev->host.log(dev->host.ctx, lvl, msg);
}

static uint64_t thread_cpu_ns(clockid_t cid)
{
	struct timespec ts;

	if (clock_gettime(cid, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int simnic_probe(const struct accel_host *host, struct accel_dev_info *info)
{
	(void)host;
	memset(info, 0, sizeof(*info));
	snprintf(info->model, sizeof(info->model), "simnic");
	info->levels = 0xf;
	info->max_ports = SIMNIC_MAX_PORTS;
	info->max_vfs = SIMNIC_DEFAULT_VFS;
	info->max_qps_per_port = SIMNIC_MAX_QPS;
	info->max_rx_filters = SIMNIC_MAX_FILTERS;
	info->max_ring_len = SIMNIC_MAX_RING;
	info->features = SIMNIC_FEATURES;
	return 0;
}

/* The engine thread: sleep on the wire, the stop fd and every doorbell (1 ms
 * tick for interrupt moderation), then run one pass under the device lock. */
static void *engine_main(void *arg)
{
	struct accel_dev *dev = arg;
	struct pollfd pfd[2 + SIMNIC_MAX_PORTS];

	while (!dev->stop) {
		nfds_t n = 0;

		pfd[n++] = (struct pollfd){.fd = dev->stop_fd, .events = POLLIN};
		if (dev->wire_fd >= 0)
			pfd[n++] = (struct pollfd){.fd = dev->wire_fd, .events = POLLIN};
		pthread_mutex_lock(&dev->lock);
		/* first qp's doorbell of each port; others are found by the tick */
		for (int i = 0; i < SIMNIC_MAX_PORTS && n < 2 + SIMNIC_MAX_PORTS; i++)
			if (dev->ports[i] && dev->ports[i]->n_qps)
				pfd[n++] = (struct pollfd){.fd = dev->ports[i]->qps[0]->doorbell_fd,
				                           .events = POLLIN};
		pthread_mutex_unlock(&dev->lock);
		/* A doorbell closed by qp_free while we sleep only causes a wake-up. */
		if (poll(pfd, n, 1) < 0 && errno != EINTR)
			break;
		if (dev->stop)
			break;
		/* busy-poll while there is work; the lock is dropped between passes
		 * so control ops are never starved by traffic */
		for (int moved = 1; moved > 0 && !dev->stop;) {
			pthread_mutex_lock(&dev->lock);
			moved = simnic_engine_pass(dev, SIMNIC_BURST);
			pthread_mutex_unlock(&dev->lock);
		}
	}
	return NULL;
}

static void port_destroy(struct accel_port *port);

static void simnic_close(struct accel_dev *dev)
{
	if (!dev)
		return;
	if (dev->thread_running) {
		uint64_t one = 1;
		dev->stop = 1;
		if (write(dev->stop_fd, &one, sizeof(one)) < 0) {
			/* the 1 ms tick ends the wait anyway */
		}
		pthread_join(dev->thread, NULL);
	}
	for (int i = 0; i < SIMNIC_MAX_PORTS; i++)
		if (dev->ports[i])
			port_destroy(dev->ports[i]);
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	if (dev->wire_fd >= 0)
		close(dev->wire_fd);
	free(dev->txbuf);
	free(dev->segbuf);
	free(dev->lrobuf);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

static int simnic_open(const struct accel_host *host, const struct accel_open_args *args,
                       struct accel_dev **out)
{
	struct accel_dev *dev = calloc(1, sizeof(*dev));
	int rc;

	if (!dev)
		return -ENOMEM;
	/* host tables from an older framework are shorter: the tail reads as absent */
	if (host)
		memcpy(&dev->host, host,
		       host->size < sizeof(dev->host) ? host->size : sizeof(dev->host));
	dev->wire_fd = -1;
	dev->stop_fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	dev->flags = args ? args->flags : 0;
	dev->max_vfs = args && args->max_vfs ? args->max_vfs : SIMNIC_DEFAULT_VFS;
	dev->txbuf = malloc(SIMNIC_FRAME_MAX);
	dev->segbuf = malloc(SIMNIC_FRAME_MAX);
	dev->lrobuf = malloc(SIMNIC_FRAME_MAX);
	if (!dev->txbuf || !dev->segbuf || !dev->lrobuf) {
		rc = -ENOMEM;
		goto err_close;
	}
	if (args && args->wire_fd >= 0) {
		dev->wire_fd = fcntl(args->wire_fd, F_DUPFD_CLOEXEC, 0);
		if (dev->wire_fd < 0) {
			rc = -errno;
			goto err_close;
		}
	}
	dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->stop_fd < 0) {
		rc = -errno;
		goto err_close;
	}
	if (!(dev->flags & ACCEL_OPEN_F_NO_THREAD)) {
		rc = -pthread_create(&dev->thread, NULL, engine_main, dev);
		if (rc)
			goto err_close;
		dev->thread_running = 1;
	}
	simnic_log(dev, ACCEL_LOG_INFO, "simnic up: wire fd %d, %u VFs, %s", dev->wire_fd,
	           dev->max_vfs, dev->thread_running ? "engine thread" : "polled");
	*out = dev;
	return 0;

err_close:
	simnic_close(dev);
	return rc;
}

/* ---- ports ---- */

static int simnic_port_alloc(struct accel_dev *dev, const struct accel_port_args *args,
                             struct accel_port **out)
{
	struct accel_port *port;
	uint32_t cap = 16, quota;
	int slot = -1, rc = 0;

	if (args->level > ACCEL_LEVEL_MAX)
		return -EINVAL;
	quota = args->iommu_quota ? args->iommu_quota : SIMNIC_DEFAULT_QUOTA;
	if (quota > (1u << 24))
		return -EINVAL;
	while (cap < 2 * quota)
		cap <<= 1;
	pthread_mutex_lock(&dev->lock);
	for (int i = 0; i < SIMNIC_MAX_PORTS && slot < 0; i++)
		if (!dev->ports[i])
			slot = i;
	if (slot < 0 || (args->level == 3 && dev->n_vfs >= dev->max_vfs)) {
		rc = -ENOSPC;
		goto out_unlock;
	}
	port = calloc(1, sizeof(*port));
	if (!port || !(port->mmu.tab = calloc(cap, sizeof(*port->mmu.tab)))) {
		free(port);
		rc = -ENOMEM;
		goto out_unlock;
	}
	port->dev = dev;
	port->idx = (uint32_t)slot;
	port->domid = args->domid;
	port->level = args->level;
	memcpy(port->mac, args->mac, 6);
	port->features = SIMNIC_FEATURES_DEFAULT;
	port->mmu.cap = cap;
	port->mmu.quota = quota;
	if (args->level == 3)
		dev->n_vfs++;
	dev->ports[slot] = port;
	*out = port;
out_unlock:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

static void qp_destroy(struct accel_qp *qp)
{
	struct accel_dev *dev = qp->port->dev;

	if (dev->default_qp == qp)
		dev->default_qp = NULL;
	if (qp->mem)
		munmap(qp->mem, qp->mem_size);
	if (qp->mem_fd >= 0)
		close(qp->mem_fd);
	if (qp->doorbell_fd >= 0)
		close(qp->doorbell_fd);
	if (qp->irq_fd >= 0)
		close(qp->irq_fd);
	free(qp);
}

/* Caller holds dev->lock (or the engine is stopped). */
static void port_destroy(struct accel_port *port)
{
	struct accel_dev *dev = port->dev;

	while (port->n_qps)
		qp_destroy(port->qps[--port->n_qps]);
	if (port->level == 3)
		dev->n_vfs--;
	dev->ports[port->idx] = NULL;
	free(port->mmu.tab);
	free(port);
}

static void simnic_port_free(struct accel_port *port)
{
	struct accel_dev *dev;

	if (!port)
		return;
	dev = port->dev;
	pthread_mutex_lock(&dev->lock);
	port_destroy(port);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- queue pairs ---- */

static int simnic_qp_alloc(struct accel_port *port, const struct accel_qp_args *args,
                           struct accel_qp **out)
{
	struct accel_dev *dev = port->dev;
	uint32_t len = args && args->ring_len ? args->ring_len : 256;
	struct accel_qp *qp;
	int rc;

	if (len < 8 || len > SIMNIC_MAX_RING || (len & (len - 1)))
		return -EINVAL;
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return -ENOMEM;
	qp->mem_fd = qp->doorbell_fd = qp->irq_fd = -1;
	qp->port = port;
	qp->ring_len = len;
	qp->flags = args ? args->flags : 0;
	qp->irq_frames = args ? args->irq_frames : 0;
	qp->irq_usecs = args ? args->irq_usecs : 0;
	qp->mem_size = ACCEL_PAGE_SIZE + 2 * (size_t)len * sizeof(struct accel_desc);
	qp->mem_size = (qp->mem_size + ACCEL_PAGE_SIZE - 1) & ~(size_t)(ACCEL_PAGE_SIZE - 1);
	qp->mem_fd = memfd_create("simnic-qp", MFD_CLOEXEC);
	if (qp->mem_fd < 0 || ftruncate(qp->mem_fd, (off_t)qp->mem_size) < 0) {
		rc = -errno;
		goto err_free;
	}
	qp->mem = mmap(NULL, qp->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, qp->mem_fd, 0);
	if (qp->mem == MAP_FAILED) {
		qp->mem = NULL;
		rc = -errno;
		goto err_free;
	}
	qp->sh = qp->mem;
	qp->tx = (struct accel_desc *)((uint8_t *)qp->mem + ACCEL_PAGE_SIZE);
	qp->rx = qp->tx + len;
	qp->sh->irq_enable.idx = 1;
	qp->sh->status.idx = ACCEL_QP_S_RUNNING;
	qp->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	qp->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (qp->doorbell_fd < 0 || qp->irq_fd < 0) {
		rc = -errno;
		goto err_free;
	}
	pthread_mutex_lock(&dev->lock);
	if (port->n_qps >= SIMNIC_MAX_QPS || (port->level == 0 && port->n_qps >= 1)) {
		rc = -ENOSPC;
		goto err_unlock;
	}
	if ((qp->flags & ACCEL_QP_F_DEFAULT_RX) && dev->default_qp) {
		rc = -EBUSY;
		goto err_unlock;
	}
	if (qp->flags & ACCEL_QP_F_DEFAULT_RX)
		dev->default_qp = qp;
	qp->idx = port->n_qps;
	port->qps[port->n_qps++] = qp;
	pthread_mutex_unlock(&dev->lock);
	*out = qp;
	return 0;

err_unlock:
	pthread_mutex_unlock(&dev->lock);
err_free:
	qp_destroy(qp);
	return rc;
}

static void simnic_qp_free(struct accel_qp *qp)
{
	struct accel_port *port;

	if (!qp)
		return;
	port = qp->port;
	pthread_mutex_lock(&port->dev->lock);
	for (uint32_t i = 0; i < port->n_qps; i++) {
		if (port->qps[i] != qp)
			continue;
		/* keep indices of the later qps stable for filters: shift down and
		 * drop filters that pointed at this qp */
		memmove(&port->qps[i], &port->qps[i + 1], (port->n_qps - i - 1) * sizeof(qp));
		port->n_qps--;
		for (uint32_t k = i; k < port->n_qps; k++)
			port->qps[k]->idx = k;
		for (uint32_t f = 0; f < port->n_filters;) {
			if (port->filters[f].qid == i) {
				port->filters[f] = port->filters[--port->n_filters];
				continue;
			}
			if (port->filters[f].qid > i)
				port->filters[f].qid--;
			f++;
		}
		break;
	}
	qp_destroy(qp);
	pthread_mutex_unlock(&port->dev->lock);
}

static int simnic_qp_map(struct accel_qp *qp, uint32_t domid, struct accel_qp_map *out)
{
	struct accel_port *port = qp->port;
	int rc = 0;

	if (domid != 0 && !(port->level >= 2 && domid == port->domid))
		return -EPERM;
	memset(out, 0, sizeof(*out));
	out->mem_fd = out->doorbell_fd = out->irq_fd = -1;
	out->mem_fd = fcntl(qp->mem_fd, F_DUPFD_CLOEXEC, 0);
	out->doorbell_fd = fcntl(qp->doorbell_fd, F_DUPFD_CLOEXEC, 0);
	out->irq_fd = fcntl(qp->irq_fd, F_DUPFD_CLOEXEC, 0);
	if (out->mem_fd < 0 || out->doorbell_fd < 0 || out->irq_fd < 0) {
		rc = -errno;
		goto err_close;
	}
	out->ring_len = qp->ring_len;
	out->mem_size = qp->mem_size;
	out->tx_ring_off = ACCEL_PAGE_SIZE;
	out->rx_ring_off = ACCEL_PAGE_SIZE + (uint64_t)qp->ring_len * sizeof(struct accel_desc);
	return 0;

err_close:
	if (out->mem_fd >= 0)
		close(out->mem_fd);
	if (out->doorbell_fd >= 0)
		close(out->doorbell_fd);
	if (out->irq_fd >= 0)
		close(out->irq_fd);
	out->mem_fd = out->doorbell_fd = out->irq_fd = -1;
	return rc;
}

/* ---- IOMMU ---- */

static struct simnic_iommu_entry *iommu_find_mut(struct simnic_iommu *m, uint64_t pfn)
{
	return (struct simnic_iommu_entry *)simnic_iommu_lookup(m, pfn);
}

static void iommu_put(struct simnic_iommu *m, uint64_t pfn, uint8_t *host, int writable)
{
	uint32_t h = (uint32_t)((pfn * 0x9E3779B97F4A7C15ull) >> 32);

	for (uint32_t i = 0;; i++) {
		struct simnic_iommu_entry *e = &m->tab[(h + i) & (m->cap - 1)];
		if (e->state != 1) {
			if (e->state == 2)
				m->dead--;
			e->state = 1;
			e->pfn = pfn;
			e->host = host;
			e->writable = (uint8_t)writable;
			m->count++;
			return;
		}
	}
}

/* Tombstones make probes long: rebuild when they pile up. */
static void iommu_compact(struct simnic_iommu *m)
{
	struct simnic_iommu_entry *old;
	uint32_t cap = m->cap;

	if (m->count + m->dead <= cap * 3 / 4)
		return;
	old = m->tab;
	m->tab = calloc(cap, sizeof(*m->tab));
	if (!m->tab) {
		m->tab = old; /* keep working, just slower */
		return;
	}
	m->count = m->dead = 0;
	for (uint32_t i = 0; i < cap; i++)
		if (old[i].state == 1)
			iommu_put(m, old[i].pfn, old[i].host, old[i].writable);
	free(old);
}

static int simnic_mem_register(struct accel_port *port, const struct accel_mem_region *r,
                               uint32_t count)
{
	struct accel_dev *dev = port->dev;
	uint64_t pages = 0;
	int rc = 0;

	for (uint32_t i = 0; i < count; i++) {
		if ((r[i].iova & (ACCEL_PAGE_SIZE - 1)) ||
		    ((uintptr_t)r[i].host & (ACCEL_PAGE_SIZE - 1)) || r[i].size == 0 ||
		    r[i].size % ACCEL_PAGE_SIZE || !r[i].host)
			return -EINVAL;
		pages += r[i].size / ACCEL_PAGE_SIZE;
	}
	pthread_mutex_lock(&dev->lock);
	if (port->mmu.count + pages > port->mmu.quota) {
		port->st.iommu_quota_exceeded++;
		simnic_log(dev, ACCEL_LOG_WARN, "dom%u: IOMMU quota of %u pages exceeded",
		           port->domid, port->mmu.quota);
		rc = -ENOSPC;
		goto out_unlock;
	}
	/* all or nothing: check every page (also against the request itself) first */
	for (uint32_t i = 0; i < count && !rc; i++)
		for (uint32_t p = 0; p < r[i].size / ACCEL_PAGE_SIZE && !rc; p++) {
			uint64_t pfn = (r[i].iova >> 12) + p;
			if (simnic_iommu_lookup(&port->mmu, pfn))
				rc = -EEXIST;
			for (uint32_t j = 0; j < i && !rc; j++)
				if (pfn >= r[j].iova >> 12 &&
				    pfn < (r[j].iova >> 12) + r[j].size / ACCEL_PAGE_SIZE)
					rc = -EEXIST;
		}
	if (rc)
		goto out_unlock;
	iommu_compact(&port->mmu);
	for (uint32_t i = 0; i < count; i++)
		for (uint32_t p = 0; p < r[i].size / ACCEL_PAGE_SIZE; p++)
			iommu_put(&port->mmu, (r[i].iova >> 12) + p,
			          (uint8_t *)r[i].host + (size_t)p * ACCEL_PAGE_SIZE,
			          !!(r[i].flags & ACCEL_MEM_F_WRITABLE));
out_unlock:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

static int simnic_mem_unregister(struct accel_port *port, uint64_t iova, uint64_t size)
{
	if ((iova & (ACCEL_PAGE_SIZE - 1)) || (size % ACCEL_PAGE_SIZE))
		return -EINVAL;
	pthread_mutex_lock(&port->dev->lock);
	for (uint64_t p = 0; p < size / ACCEL_PAGE_SIZE; p++) {
		struct simnic_iommu_entry *e = iommu_find_mut(&port->mmu, (iova >> 12) + p);
		if (e) {
			e->state = 2;
			e->host = NULL;
			port->mmu.count--;
			port->mmu.dead++;
		}
	}
	pthread_mutex_unlock(&port->dev->lock);
	return 0;
}

/* ---- filters, rate limits ---- */

static int filters_overlap(const struct accel_rx_filter *a, const struct accel_rx_filter *b)
{
	return memcmp(a->mac, b->mac, 6) == 0 &&
	       (a->vlan == b->vlan || a->vlan == ACCEL_VLAN_ANY || b->vlan == ACCEL_VLAN_ANY);
}

static int simnic_rx_filter_add(struct accel_port *port, const struct accel_rx_filter *f)
{
	struct accel_dev *dev = port->dev;
	int rc = 0;

	if (port->level == 0)
		return -EOPNOTSUPP; /* one queue: nothing to steer */
	if ((f->vlan > 4094 && f->vlan != ACCEL_VLAN_ANY) || (f->mac[0] & 1))
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (f->qid >= port->n_qps) {
		rc = -EINVAL;
		goto out_unlock;
	}
	for (int i = 0; i < SIMNIC_MAX_PORTS; i++) {
		struct accel_port *p = dev->ports[i];
		for (uint32_t k = 0; p && k < p->n_filters; k++)
			if (filters_overlap(&p->filters[k], f)) {
				rc = -EEXIST;
				goto out_unlock;
			}
	}
	if (port->n_filters >= SIMNIC_MAX_FILTERS) {
		rc = -ENOSPC;
		goto out_unlock;
	}
	port->filters[port->n_filters++] = *f;
out_unlock:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

static int simnic_rx_filter_del(struct accel_port *port, const struct accel_rx_filter *f)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&port->dev->lock);
	for (uint32_t k = 0; k < port->n_filters; k++) {
		if (memcmp(port->filters[k].mac, f->mac, 6) == 0 &&
		    port->filters[k].vlan == f->vlan) {
			port->filters[k] = port->filters[--port->n_filters];
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&port->dev->lock);
	return rc;
}

static int simnic_tx_filter_set(struct accel_qp *qp, const struct accel_tx_filter *f)
{
	if (f->n_ipv4 > ACCEL_TXF_MAX_IPV4 ||
	    (f->flags & ~(uint32_t)(ACCEL_TXF_CHECK_MAC | ACCEL_TXF_CHECK_IP)))
		return -EINVAL;
	pthread_mutex_lock(&qp->port->dev->lock);
	qp->txf = *f;
	pthread_mutex_unlock(&qp->port->dev->lock);
	return 0;
}

static int simnic_rate_limit_set(struct accel_qp *qp, uint64_t bytes_per_sec, uint64_t burst)
{
	struct accel_dev *dev = qp->port->dev;

	if (bytes_per_sec && !burst) {
		burst = bytes_per_sec / 100;
		if (burst < ACCEL_PKT_MAX)
			burst = ACCEL_PKT_MAX;
	}
	if (burst > (1ull << 40))
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	qp->rate_bps = bytes_per_sec;
	qp->burst = burst;
	qp->tokens = (int64_t)burst;
	qp->last_refill_ns = simnic_now(dev);
	qp->throttled = 0;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* ---- counters ---- */

static const char *const port_stat_names[SIMNIC_NSTATS] = {
    "rx_packets",           "tx_packets",        "rx_bytes",       "tx_bytes",
    "rx_dropped",           "tx_dropped",        "rx_no_buffer",   "dma_faults",
    "tx_spoof_dropped",     "tx_rate_throttled", "tx_csum_filled", "tso_segments",
    "lro_coalesced",        "rx_csum_bad",       "irq_raised",     "hairpin_packets",
    "iommu_quota_exceeded", "ring_errors",
};

static uint64_t hw_cpu_ns(struct accel_dev *dev)
{
	clockid_t cid;

	if (dev->thread_running && pthread_getcpuclockid(dev->thread, &cid) == 0)
		return thread_cpu_ns(cid);
	return dev->cpu_ns;
}

static void put_stat(struct accel_stat *out, uint32_t max, int *n, const char *name, uint64_t v)
{
	if ((uint32_t)*n < max) {
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", name);
		out[*n].value = v;
	}
	(*n)++;
}

static int simnic_stats_get(struct accel_dev *dev, struct accel_port *port, struct accel_stat *out,
                            uint32_t max)
{
	int n = 0;

	pthread_mutex_lock(&dev->lock);
	if (port) {
		const uint64_t *v = (const uint64_t *)&port->st;
		char name[ACCEL_NAME_MAX];

		for (size_t i = 0; i < SIMNIC_NSTATS; i++)
			put_stat(out, max, &n, port_stat_names[i], v[i]);
		put_stat(out, max, &n, "iommu_entries", port->mmu.count);
		for (uint32_t q = 0; q < port->n_qps; q++) {
			snprintf(name, sizeof(name), "rx_queue_%u_packets", q);
			put_stat(out, max, &n, name, port->qps[q]->rx_packets);
			snprintf(name, sizeof(name), "tx_queue_%u_packets", q);
			put_stat(out, max, &n, name, port->qps[q]->tx_packets);
		}
	} else {
		put_stat(out, max, &n, "wire_rx_packets", dev->wire_rx);
		put_stat(out, max, &n, "wire_tx_packets", dev->wire_tx);
		put_stat(out, max, &n, "wire_errors", dev->wire_errors);
		put_stat(out, max, &n, "rx_filter_miss", dev->rx_filter_miss);
		put_stat(out, max, &n, "rx_dropped", dev->rx_dropped);
		put_stat(out, max, &n, "vfs_in_use", dev->n_vfs);
	}
	put_stat(out, max, &n, "hw_cpu_ns", hw_cpu_ns(dev));
	pthread_mutex_unlock(&dev->lock);
	return n;
}

/* ---- features, migration, polling ---- */

static int simnic_features_get(struct accel_port *port, uint64_t *supported, uint64_t *active)
{
	pthread_mutex_lock(&port->dev->lock);
	*supported = SIMNIC_FEATURES;
	*active = port->features;
	pthread_mutex_unlock(&port->dev->lock);
	return 0;
}

static int simnic_features_set(struct accel_port *port, uint64_t active)
{
	if (active & ~(uint64_t)SIMNIC_FEATURES)
		return -EINVAL;
	pthread_mutex_lock(&port->dev->lock);
	port->features = active;
	pthread_mutex_unlock(&port->dev->lock);
	return 0;
}

static int set_detached(struct accel_port *port, int detached)
{
	pthread_mutex_lock(&port->dev->lock);
	port->detached = detached;
	for (uint32_t q = 0; q < port->n_qps; q++) {
		if (detached)
			port->qps[q]->sh->status.idx |= ACCEL_QP_S_DETACHED;
		else
			port->qps[q]->sh->status.idx &= ~(uint32_t)ACCEL_QP_S_DETACHED;
	}
	pthread_mutex_unlock(&port->dev->lock);
	return 0;
}

static int simnic_detach(struct accel_port *port)
{
	return set_detached(port, 1);
}

static int simnic_attach(struct accel_port *port)
{
	return set_detached(port, 0);
}

static int simnic_poll(struct accel_dev *dev, uint32_t budget)
{
	uint64_t t0 = thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	int n;

	pthread_mutex_lock(&dev->lock);
	n = simnic_engine_pass(dev, budget ? budget : SIMNIC_BURST);
	dev->cpu_ns += thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

static const struct accel_ops simnic_ops = {
    .abi_major = ACCEL_ABI_MAJOR,
    .abi_minor = ACCEL_ABI_MINOR,
    .size = sizeof(struct accel_ops),
    .flags = ACCEL_F_THREAD_SAFE | ACCEL_F_HW_THREAD,
    .name = "simnic",
    .version = SIMNIC_VERSION,
    .levels = 0xf,
    .probe = simnic_probe,
    .open = simnic_open,
    .close = simnic_close,
    .port_alloc = simnic_port_alloc,
    .port_free = simnic_port_free,
    .qp_alloc = simnic_qp_alloc,
    .qp_free = simnic_qp_free,
    .qp_map = simnic_qp_map,
    .mem_register = simnic_mem_register,
    .mem_unregister = simnic_mem_unregister,
    .rx_filter_add = simnic_rx_filter_add,
    .rx_filter_del = simnic_rx_filter_del,
    .tx_filter_set = simnic_tx_filter_set,
    .rate_limit_set = simnic_rate_limit_set,
    .stats_get = simnic_stats_get,
    .features_get = simnic_features_get,
    .features_set = simnic_features_set,
    .detach = simnic_detach,
    .attach = simnic_attach,
    .poll = simnic_poll,
};

const struct accel_ops *simnic_accel_ops(void)
{
	return &simnic_ops;
}
