/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/dpa_dev.c - the control path: the ops table, devices and their
 * poll thread (the "hardware" CPU), ports, queue pairs and their shared memory,
 * the IOMMU table, RX filters, counters, features, detach/attach.
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

#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "dpa.h"

/* Empty passes before the poll thread starts sleeping on the doorbells. */
#define DPA_SPIN_PASSES 2048
#define DPA_IDLE_SLEEP_NS 100000 /* then wake every 100 us to poll the PMD */

uint64_t dpa_now(struct accel_dev *dev)
{
	struct timespec ts;

	if (dev->host.now_ns)
		return dev->host.now_ns(dev->host.ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void dpa_log(struct accel_dev *dev, enum accel_log_level lvl, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	if (!dev->host.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dev->host.log(dev->host.ctx, lvl, msg);
}

static uint64_t clock_ns(clockid_t cid)
{
	struct timespec ts;

	if (clock_gettime(cid, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Without opening anything: the ethdev's real offloads show in features_get. */
static int dpa_probe(const struct accel_host *host, struct accel_dev_info *info)
{
	(void)host;
	memset(info, 0, sizeof(*info));
	snprintf(info->model, sizeof(info->model), "dpdk");
	info->levels = ACCEL_LEVEL_BIT(0) | ACCEL_LEVEL_BIT(1);
	info->max_ports = DPA_MAX_PORTS;
	info->max_vfs = 0;
	info->max_qps_per_port = DPA_MAX_QPS;
	info->max_rx_filters = DPA_MAX_FILTERS;
	info->max_ring_len = DPA_MAX_RING;
	info->features = ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM) | ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM) |
	                 ACCEL_FEAT_BIT(ACCEL_FEAT_SG) | ACCEL_FEAT_BIT(ACCEL_FEAT_RX_VLAN_FILTER);
	return 0;
}

/*
 * The poll thread: busy-polls while there is work or for DPA_SPIN_PASSES empty
 * passes, then sleeps up to DPA_IDLE_SLEEP_NS on the doorbells (a PMD has no
 * descriptor to sleep on, so RX is polled at least every 100 us when idle).
 */
static void *engine_main(void *arg)
{
	struct accel_dev *dev = arg;
	struct pollfd pfd[DPA_MAX_PORTS];
	const struct timespec nap = {.tv_sec = 0, .tv_nsec = DPA_IDLE_SLEEP_NS};
	int registered = rte_thread_register() == 0; /* an lcore id: mempool cache */

	while (!dev->stop) {
		int moved;

		pthread_mutex_lock(&dev->lock);
		moved = dpa_engine_pass(dev, DPA_BURST);
		pthread_mutex_unlock(&dev->lock);
		if (moved) {
			dev->idle_passes = 0;
			continue;
		}
		if (++dev->idle_passes < DPA_SPIN_PASSES)
			continue;
		nfds_t n = 0;
		pthread_mutex_lock(&dev->lock);
		for (int i = 0; i < DPA_MAX_PORTS && n < DPA_MAX_PORTS; i++)
			if (dev->ports[i] && dev->ports[i]->n_qps)
				pfd[n++] = (struct pollfd){.fd = dev->ports[i]->qps[0]->doorbell_fd,
				                           .events = POLLIN};
		pthread_mutex_unlock(&dev->lock);
		/* a doorbell closed by qp_free while we sleep only causes a wake-up */
		if (ppoll(pfd, n, &nap, NULL) > 0) {
			for (nfds_t i = 0; i < n; i++) {
				uint64_t v;
				if ((pfd[i].revents & POLLIN) &&
				    read(pfd[i].fd, &v, sizeof(v)) < 0) {
					/* EAGAIN: someone else drained it */
				}
			}
			dev->idle_passes = 0;
		}
	}
	if (registered)
		rte_thread_unregister();
	return NULL;
}

static void port_destroy(struct accel_port *port);

static void dpa_close(struct accel_dev *dev)
{
	if (!dev)
		return;
	if (dev->thread_running) {
		dev->stop = 1;
		pthread_join(dev->thread, NULL);
		dev->thread_running = 0;
	}
	pthread_mutex_lock(&dev->lock);
	for (int i = 0; i < DPA_MAX_PORTS; i++)
		if (dev->ports[i])
			port_destroy(dev->ports[i]);
	dpa_tx_drain(dev);
	pthread_mutex_unlock(&dev->lock);
	dpa_ethdev_teardown(dev);
	dpa_vdev_remove(dev);
	dpa_log_sink_clear(dev);
	free(dev->scratch);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

static int dpa_open(const struct accel_host *host, const struct accel_open_args *args,
                    struct accel_dev **out)
{
	struct accel_dev *dev = calloc(1, sizeof(*dev));
	char err[DPA_ERR_MAX], said[DPA_ERR_MAX / 2];
	int rc;

	if (!dev)
		return -ENOMEM;
	/* host tables from an older framework are shorter: the tail reads as absent */
	if (host)
		memcpy(&dev->host, host,
		       host->size < sizeof(dev->host) ? host->size : sizeof(dev->host));
	pthread_mutex_init(&dev->lock, NULL);
	dev->flags = args ? args->flags : 0;
	err[0] = '\0';
	rc = dpa_devargs_parse(args ? args->devargs : NULL, dev->devargs, sizeof(dev->devargs),
	                       dev->name, sizeof(dev->name), err, sizeof(err));
	if (rc)
		goto err_log;
	dev->scratch = malloc(DPA_FRAME_MAX);
	if (!dev->scratch) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
		goto err_log;
	}
	if (args && args->wire_fd >= 0)
		dpa_log(dev, ACCEL_LOG_INFO, "dpdk: wire_fd %d ignored: the wire is %s",
		        args->wire_fd, dev->name);
	dpa_log_sink_set(dev);
	rc = dpa_eal_up(dev, err, sizeof(err));
	if (rc)
		goto err_log;
	rc = dpa_vdev_probe(dev, err, sizeof(err));
	if (rc)
		goto err_log;
	pthread_mutex_lock(&dev->lock);
	dpa_capture_begin();
	rc = dpa_ethdev_setup(dev, err, sizeof(err) / 2);
	dpa_capture_end(said, sizeof(said));
	pthread_mutex_unlock(&dev->lock);
	if (rc) {
		size_t l = strlen(err);
		snprintf(err + l, sizeof(err) - l, "; DPDK said: %s", said);
		goto err_log;
	}
	if (!(dev->flags & ACCEL_OPEN_F_NO_THREAD)) {
		rc = -pthread_create(&dev->thread, NULL, engine_main, dev);
		if (rc) {
			snprintf(err, sizeof(err), "cannot start the poll thread: %s",
			         strerror(-rc));
			goto err_log;
		}
		dev->thread_running = 1;
	}
	*out = dev;
	return 0;

err_log:
	dpa_log(dev, ACCEL_LOG_ERR, "dpdk: devargs '%s': %s",
	        args && args->devargs ? args->devargs : "(none)", err);
	dpa_close(dev);
	return rc;
}

/* ---- ports ---- */

static int dpa_port_alloc(struct accel_dev *dev, const struct accel_port_args *args,
                          struct accel_port **out)
{
	struct accel_port *port;
	uint32_t cap = 16, quota;
	int slot = -1, rc = 0;

	if (args->level > 1)
		return -EOPNOTSUPP;
	quota = args->iommu_quota ? args->iommu_quota : DPA_DEFAULT_QUOTA;
	if (quota > (1u << 24))
		return -EINVAL;
	while (cap < 2 * quota)
		cap <<= 1;
	pthread_mutex_lock(&dev->lock);
	for (int i = 0; i < DPA_MAX_PORTS && slot < 0; i++)
		if (!dev->ports[i])
			slot = i;
	if (slot < 0) {
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
	port->features = dev->features;
	port->mmu.cap = cap;
	port->mmu.quota = quota;
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
	if (qp->hwq > 0 && qp->hwq < DPA_MAX_HWQ && dev->hwq_owner[qp->hwq] == qp)
		dev->hwq_owner[qp->hwq] = NULL;
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

/* Caller holds dev->lock. */
static void port_destroy(struct accel_port *port)
{
	struct accel_dev *dev = port->dev;

	for (uint32_t f = 0; f < port->n_filters; f++)
		dpa_flow_del(dev, &port->filters[f]);
	while (port->n_qps)
		qp_destroy(port->qps[--port->n_qps]);
	dev->ports[port->idx] = NULL;
	free(port->mmu.tab);
	free(port);
}

static void dpa_port_free(struct accel_port *port)
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

static int dpa_qp_alloc(struct accel_port *port, const struct accel_qp_args *args,
                        struct accel_qp **out)
{
	struct accel_dev *dev = port->dev;
	uint32_t len = args && args->ring_len ? args->ring_len : 256;
	struct accel_qp *qp;
	int rc;

	if (len < 8 || len > DPA_MAX_RING || (len & (len - 1)))
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
	qp->mem_fd = memfd_create("dpdk-accel-qp", MFD_CLOEXEC);
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
	if (port->n_qps >= DPA_MAX_QPS || (port->level == 0 && port->n_qps >= 1)) {
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

static void dpa_qp_free(struct accel_qp *qp)
{
	struct accel_port *port;

	if (!qp)
		return;
	port = qp->port;
	pthread_mutex_lock(&port->dev->lock);
	for (uint32_t i = 0; i < port->n_qps; i++) {
		if (port->qps[i] != qp)
			continue;
		/* later qps shift down; filters follow their qp, this qp's go */
		memmove(&port->qps[i], &port->qps[i + 1], (port->n_qps - i - 1) * sizeof(qp));
		port->n_qps--;
		for (uint32_t k = i; k < port->n_qps; k++)
			port->qps[k]->idx = k;
		for (uint32_t f = 0; f < port->n_filters;) {
			if (port->filters[f].f.qid == i) {
				dpa_flow_del(port->dev, &port->filters[f]);
				port->filters[f] = port->filters[--port->n_filters];
				continue;
			}
			if (port->filters[f].f.qid > i)
				port->filters[f].f.qid--;
			f++;
		}
		break;
	}
	qp_destroy(qp);
	pthread_mutex_unlock(&port->dev->lock);
}

static int dpa_qp_map(struct accel_qp *qp, uint32_t domid, struct accel_qp_map *out)
{
	int rc;

	/* Levels 0-1 only: dom0 drives every queue pair */
	if (domid != 0)
		return -EPERM;
	memset(out, 0, sizeof(*out));
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

/* ---- IOMMU: open addressing on the page number, tombstones on delete ---- */

static uint32_t pfn_hash(uint64_t pfn)
{
	return (uint32_t)((pfn * 0x9E3779B97F4A7C15ull) >> 32);
}

static void iommu_put(struct dpa_iommu *m, uint64_t pfn, uint8_t *host, int writable)
{
	for (uint32_t i = 0, h = pfn_hash(pfn);; i++) {
		struct dpa_iommu_entry *e = &m->tab[(h + i) & (m->cap - 1)];
		if (e->state == 1)
			continue;
		if (e->state == 2)
			m->dead--;
		*e = (struct dpa_iommu_entry){
		    .pfn = pfn, .host = host, .state = 1, .writable = (uint8_t)writable};
		m->count++;
		return;
	}
}

static void iommu_compact(struct dpa_iommu *m)
{
	struct dpa_iommu_entry *old = m->tab;

	if (m->count + m->dead <= m->cap * 3 / 4)
		return;
	m->tab = calloc(m->cap, sizeof(*m->tab));
	if (!m->tab) {
		m->tab = old; /* keep working, just slower */
		return;
	}
	m->count = m->dead = 0;
	for (uint32_t i = 0; i < m->cap; i++)
		if (old[i].state == 1)
			iommu_put(m, old[i].pfn, old[i].host, old[i].writable);
	free(old);
}

static int dpa_mem_register(struct accel_port *port, const struct accel_mem_region *r,
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
		rc = -ENOSPC;
		goto out_unlock;
	}
	/* all or nothing: every page is checked (also against the request) first */
	for (uint32_t i = 0; i < count && !rc; i++)
		for (uint32_t p = 0; p < r[i].size / ACCEL_PAGE_SIZE && !rc; p++) {
			uint64_t pfn = (r[i].iova >> 12) + p;
			if (dpa_iommu_lookup(&port->mmu, pfn))
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

static int dpa_mem_unregister(struct accel_port *port, uint64_t iova, uint64_t size)
{
	if ((iova & (ACCEL_PAGE_SIZE - 1)) || (size % ACCEL_PAGE_SIZE))
		return -EINVAL;
	pthread_mutex_lock(&port->dev->lock);
	for (uint64_t p = 0; p < size / ACCEL_PAGE_SIZE; p++) {
		struct dpa_iommu_entry *e =
		    (struct dpa_iommu_entry *)dpa_iommu_lookup(&port->mmu, (iova >> 12) + p);
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

/* ---- RX filters: software table always, rte_flow rule when the PMD has it ---- */

static int filters_overlap(const struct accel_rx_filter *a, const struct accel_rx_filter *b)
{
	return memcmp(a->mac, b->mac, 6) == 0 &&
	       (a->vlan == b->vlan || a->vlan == ACCEL_VLAN_ANY || b->vlan == ACCEL_VLAN_ANY);
}

static int dpa_rx_filter_add(struct accel_port *port, const struct accel_rx_filter *f)
{
	struct accel_dev *dev = port->dev;
	struct dpa_filter *df;
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
	for (int i = 0; i < DPA_MAX_PORTS; i++) {
		struct accel_port *p = dev->ports[i];
		for (uint32_t k = 0; p && k < p->n_filters; k++)
			if (filters_overlap(&p->filters[k].f, f)) {
				rc = -EEXIST;
				goto out_unlock;
			}
	}
	if (port->n_filters >= DPA_MAX_FILTERS) {
		rc = -ENOSPC;
		goto out_unlock;
	}
	df = &port->filters[port->n_filters++];
	df->f = *f;
	df->flow = NULL;
	if (dev->flow_ok && dpa_flow_add(dev, df, port->qps[f->qid]) != 0)
		dev->st.flow_fallbacks++;
out_unlock:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

static int dpa_rx_filter_del(struct accel_port *port, const struct accel_rx_filter *f)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&port->dev->lock);
	for (uint32_t k = 0; k < port->n_filters; k++) {
		if (memcmp(port->filters[k].f.mac, f->mac, 6) == 0 &&
		    port->filters[k].f.vlan == f->vlan) {
			dpa_flow_del(port->dev, &port->filters[k]);
			port->filters[k] = port->filters[--port->n_filters];
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&port->dev->lock);
	return rc;
}

/* ---- counters ---- */

static const char *const port_stat_names[DPA_PORT_NSTATS] = {
    "rx_packets",     "tx_packets",     "rx_bytes",    "tx_bytes",
    "rx_dropped",     "tx_dropped",     "rx_no_buffer", "dma_faults",
    "tx_csum_filled", "tx_gso_dropped", "rx_csum_bad", "irq_raised",
    "iommu_quota_exceeded", "ring_errors", "rx_hw_steered",
};

static const char *const dev_stat_names[DPA_DEV_NSTATS] = {
    "wire_rx_packets", "wire_tx_packets", "tx_ring_full",  "mbuf_alloc_failed",
    "rx_filter_miss",  "rx_dropped",      "rx_oversize",   "flow_rules",
    "flow_fallbacks",
};

static uint64_t hw_cpu_ns(struct accel_dev *dev)
{
	clockid_t cid;

	if (dev->thread_running && pthread_getcpuclockid(dev->thread, &cid) == 0)
		return clock_ns(cid);
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

static int dpa_stats_get(struct accel_dev *dev, struct accel_port *port, struct accel_stat *out,
                         uint32_t max)
{
	int n = 0, rc = 0;

	pthread_mutex_lock(&dev->lock);
	if (port) {
		const uint64_t *v = (const uint64_t *)&port->st;
		char name[ACCEL_NAME_MAX];

		for (size_t i = 0; i < DPA_PORT_NSTATS; i++)
			put_stat(out, max, &n, port_stat_names[i], v[i]);
		put_stat(out, max, &n, "iommu_entries", port->mmu.count);
		for (uint32_t q = 0; q < port->n_qps; q++) {
			snprintf(name, sizeof(name), "rx_queue_%u_packets", q);
			put_stat(out, max, &n, name, port->qps[q]->rx_packets);
			snprintf(name, sizeof(name), "tx_queue_%u_packets", q);
			put_stat(out, max, &n, name, port->qps[q]->tx_packets);
		}
	} else {
		const uint64_t *v = (const uint64_t *)&dev->st;

		for (size_t i = 0; i < DPA_DEV_NSTATS; i++)
			put_stat(out, max, &n, dev_stat_names[i], v[i]);
		struct rte_eth_link link;

		memset(&link, 0, sizeof(link));
		if (dev->started)
			rte_eth_link_get_nowait(dev->port_id, &link);
		put_stat(out, max, &n, "link_up", link.link_status);
		put_stat(out, max, &n, "rx_steering_hw", (uint64_t)dev->flow_ok);
		put_stat(out, max, &n, "eth_rx_queues", dev->n_rxq);
		rc = dpa_ethdev_stats(dev, out, max, &n);
	}
	put_stat(out, max, &n, "hw_cpu_ns", hw_cpu_ns(dev));
	pthread_mutex_unlock(&dev->lock);
	return rc ? rc : n;
}

/* ---- features, migration, polling ---- */

static int dpa_features_get(struct accel_port *port, uint64_t *supported, uint64_t *active)
{
	pthread_mutex_lock(&port->dev->lock);
	*supported = port->dev->features;
	*active = port->features;
	pthread_mutex_unlock(&port->dev->lock);
	return 0;
}

static int dpa_features_set(struct accel_port *port, uint64_t active)
{
	if (active & ~port->dev->features)
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

static int dpa_detach(struct accel_port *port)
{
	return set_detached(port, 1);
}

static int dpa_attach(struct accel_port *port)
{
	return set_detached(port, 0);
}

static int dpa_poll(struct accel_dev *dev, uint32_t budget)
{
	uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	int n;

	pthread_mutex_lock(&dev->lock);
	n = dpa_engine_pass(dev, budget ? budget : DPA_BURST);
	dev->cpu_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

static const struct accel_ops dpa_ops = {
    .abi_major = ACCEL_ABI_MAJOR,
    .abi_minor = ACCEL_ABI_MINOR,
    .size = sizeof(struct accel_ops),
    .flags = ACCEL_F_THREAD_SAFE | ACCEL_F_HW_THREAD,
    .name = "dpdk",
    .version = DPA_VERSION,
    .levels = ACCEL_LEVEL_BIT(0) | ACCEL_LEVEL_BIT(1),
    .probe = dpa_probe,
    .open = dpa_open,
    .close = dpa_close,
    .port_alloc = dpa_port_alloc,
    .port_free = dpa_port_free,
    .qp_alloc = dpa_qp_alloc,
    .qp_free = dpa_qp_free,
    .qp_map = dpa_qp_map,
    .mem_register = dpa_mem_register,
    .mem_unregister = dpa_mem_unregister,
    .rx_filter_add = dpa_rx_filter_add,
    .rx_filter_del = dpa_rx_filter_del,
    .stats_get = dpa_stats_get,
    .features_get = dpa_features_get,
    .features_set = dpa_features_set,
    .detach = dpa_detach,
    .attach = dpa_attach,
    .poll = dpa_poll,
};

const struct accel_ops *dpa_accel_ops(void)
{
	return &dpa_ops;
}
