/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/sdk/sdk_ops.c - the plugin SDK's control path (pvnet/accel_sdk.h):
 * devices, ports, queue pairs and their shared memory, the IOMMU table, RX
 * filters, counters, features, detach/attach, polling.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/accel_sdk.h>

#define SDK_DEV(d) ACCEL_SDK_DEV(d)
#define SDK_PORT(p) ACCEL_SDK_PORT(p)
#define SDK_QP(q) ACCEL_SDK_QP(q)

/* ---- devices ---- */

void accel_sdk_dev_init(struct accel_dev *dev, const struct accel_sdk_class *cls,
			const struct accel_host *host, const struct accel_open_args *args)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);

	d->cls = *cls;
	if (!d->cls.max_ports || d->cls.max_ports > ACCEL_SDK_MAX_PORTS)
		d->cls.max_ports = ACCEL_SDK_MAX_PORTS;
	if (!d->cls.max_qps || d->cls.max_qps > ACCEL_SDK_MAX_QPS)
		d->cls.max_qps = ACCEL_SDK_MAX_QPS;
	if (!d->cls.max_filters || d->cls.max_filters > ACCEL_SDK_MAX_FILTERS)
		d->cls.max_filters = ACCEL_SDK_MAX_FILTERS;
	if (!d->cls.max_ring || d->cls.max_ring > ACCEL_SDK_MAX_RING)
		d->cls.max_ring = ACCEL_SDK_MAX_RING;
	if (!d->cls.default_quota)
		d->cls.default_quota = ACCEL_SDK_DEFAULT_QUOTA;
	if (!d->cls.burst)
		d->cls.burst = ACCEL_SDK_DEFAULT_BURST;
	/* host tables from an older framework are shorter: the tail reads as absent */
	if (host)
		memcpy(&d->host, host, host->size < sizeof(d->host) ? host->size : sizeof(d->host));
	d->flags = args ? args->flags : 0;
	pthread_mutex_init(&d->lock, NULL);
}

uint64_t accel_sdk_now(struct accel_dev *dev)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);

	if (d->host.now_ns)
		return d->host.now_ns(d->host.ctx);
	return pvnet_clock_ns(CLOCK_MONOTONIC);
}

void accel_sdk_log(struct accel_dev *dev, enum accel_log_level lvl, const char *fmt, ...)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);
	char msg[1536];
	va_list ap;

	if (!d->host.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->host.log(d->host.ctx, lvl, msg);
}

void accel_sdk_log_rl(struct accel_dev *dev, enum accel_log_level lvl, const char *fmt, ...)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);
	uint64_t now;
	char msg[1536];
	va_list ap;

	if (!d->host.log)
		return;
	now = accel_sdk_now(dev);
	if (now - d->log_window_ns >= ACCEL_SDK_LOG_RL_NS) {
		d->log_window_ns = now;
		d->log_lines = 0;
	}
	if (d->log_lines >= ACCEL_SDK_LOG_RL_LINES) {
		d->log_suppressed++;
		return;
	}
	d->log_lines++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->log_suppressed) {
		size_t l = strlen(msg);
		snprintf(msg + l, sizeof(msg) - l, " (%u similar lines suppressed)",
			 d->log_suppressed);
		d->log_suppressed = 0;
	}
	d->host.log(d->host.ctx, lvl, msg);
}

nfds_t accel_sdk_doorbells(struct accel_dev *dev, struct pollfd *pfd, nfds_t n, nfds_t max)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);

	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < d->ports_end && n < max; i++) {
		struct accel_sdk_port *p = SDK_PORT(d->ports[i]);
		if (p && p->n_qps)
			pfd[n++] = (struct pollfd){.fd = SDK_QP(p->qps[0])->doorbell_fd,
						   .events = POLLIN};
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* ---- queue pairs ---- */

/* Caller holds the lock, or qp is not in its port yet. */
static void qp_destroy(struct accel_qp *qp)
{
	struct accel_sdk_qp *q = SDK_QP(qp);
	struct accel_sdk_dev *d = SDK_DEV(SDK_PORT(q->port)->dev);

	if (d->cls.qp_fini)
		d->cls.qp_fini(qp);
	if (d->default_qp == qp)
		d->default_qp = NULL;
	if (q->mem)
		munmap(q->mem, q->mem_size);
	if (q->mem_fd >= 0)
		close(q->mem_fd);
	if (q->doorbell_fd >= 0)
		close(q->doorbell_fd);
	if (q->irq_fd >= 0)
		close(q->irq_fd);
	free(qp);
}

int accel_sdk_qp_alloc(struct accel_port *port, const struct accel_qp_args *args,
		       struct accel_qp **out)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);
	uint32_t len = args && args->ring_len ? args->ring_len : ACCEL_SDK_DEFAULT_RING;
	struct accel_qp *qp;
	struct accel_sdk_qp *q;
	int rc;

	if (len < 8 || len > d->cls.max_ring || (len & (len - 1)))
		return -EINVAL;
	qp = calloc(1, d->cls.qp_size);
	if (!qp)
		return -ENOMEM;
	q = SDK_QP(qp);
	q->mem_fd = q->doorbell_fd = q->irq_fd = -1;
	q->port = port;
	q->ring_len = len;
	q->flags = args ? args->flags : 0;
	q->irq_frames = args ? args->irq_frames : 0;
	q->irq_usecs = args ? args->irq_usecs : 0;
	q->mem_size = ACCEL_PAGE_SIZE + 2 * (size_t)len * sizeof(struct accel_desc);
	q->mem_size = (q->mem_size + ACCEL_PAGE_SIZE - 1) & ~(size_t)(ACCEL_PAGE_SIZE - 1);
	q->mem_fd = memfd_create(d->cls.qp_mem_name, MFD_CLOEXEC);
	if (q->mem_fd < 0 || ftruncate(q->mem_fd, (off_t)q->mem_size) < 0) {
		rc = -errno;
		goto err_free;
	}
	q->mem = mmap(NULL, q->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, q->mem_fd, 0);
	if (q->mem == MAP_FAILED) {
		q->mem = NULL;
		rc = -errno;
		goto err_free;
	}
	q->sh = q->mem;
	q->tx = (struct accel_desc *)((uint8_t *)q->mem + ACCEL_PAGE_SIZE);
	q->rx = q->tx + len;
	q->sh->irq_enable.idx = 1;
	q->sh->status.idx = ACCEL_QP_S_RUNNING;
	q->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->doorbell_fd < 0 || q->irq_fd < 0) {
		rc = -errno;
		goto err_free;
	}
	pthread_mutex_lock(&d->lock);
	if (p->n_qps >= d->cls.max_qps || (p->level == 0 && p->n_qps >= 1)) {
		rc = -ENOSPC;
		goto err_unlock;
	}
	if ((q->flags & ACCEL_QP_F_DEFAULT_RX) && d->default_qp) {
		rc = -EBUSY;
		goto err_unlock;
	}
	if (q->flags & ACCEL_QP_F_DEFAULT_RX)
		d->default_qp = qp;
	q->idx = p->n_qps;
	p->qps[p->n_qps++] = qp;
	pthread_mutex_unlock(&d->lock);
	*out = qp;
	return 0;

err_unlock:
	pthread_mutex_unlock(&d->lock);
err_free:
	qp_destroy(qp);
	return rc;
}

void accel_sdk_qp_free(struct accel_qp *qp)
{
	struct accel_sdk_port *p;
	struct accel_sdk_dev *d;

	if (!qp)
		return;
	p = SDK_PORT(SDK_QP(qp)->port);
	d = SDK_DEV(p->dev);
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < p->n_qps; i++) {
		if (p->qps[i] != qp)
			continue;
		/* later qps shift down; filters follow their qp, this qp's go */
		memmove(&p->qps[i], &p->qps[i + 1], (p->n_qps - i - 1) * sizeof(qp));
		p->n_qps--;
		for (uint32_t k = i; k < p->n_qps; k++)
			SDK_QP(p->qps[k])->idx = k;
		for (uint32_t f = 0; f < p->n_filters;) {
			if (p->filters[f].f.qid == i) {
				if (d->cls.filter_removed)
					d->cls.filter_removed(SDK_QP(qp)->port, &p->filters[f]);
				p->filters[f] = p->filters[--p->n_filters];
				continue;
			}
			if (p->filters[f].f.qid > i)
				p->filters[f].f.qid--;
			f++;
		}
		break;
	}
	qp_destroy(qp);
	pthread_mutex_unlock(&d->lock);
}

int accel_sdk_qp_map(struct accel_qp *qp, uint32_t domid, struct accel_qp_map *out)
{
	struct accel_sdk_qp *q = SDK_QP(qp);
	struct accel_sdk_port *p = SDK_PORT(q->port);
	int rc;

	if (domid != 0 && !(p->level >= 2 && domid == p->domid))
		return -EPERM;
	memset(out, 0, sizeof(*out));
	out->mem_fd = fcntl(q->mem_fd, F_DUPFD_CLOEXEC, 0);
	out->doorbell_fd = fcntl(q->doorbell_fd, F_DUPFD_CLOEXEC, 0);
	out->irq_fd = fcntl(q->irq_fd, F_DUPFD_CLOEXEC, 0);
	if (out->mem_fd < 0 || out->doorbell_fd < 0 || out->irq_fd < 0) {
		rc = -errno;
		goto err_close;
	}
	out->ring_len = q->ring_len;
	out->mem_size = q->mem_size;
	out->tx_ring_off = ACCEL_PAGE_SIZE;
	out->rx_ring_off = ACCEL_PAGE_SIZE + (uint64_t)q->ring_len * sizeof(struct accel_desc);
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

/* ---- ports ---- */

int accel_sdk_port_alloc(struct accel_dev *dev, const struct accel_port_args *args,
			 struct accel_port **out)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);
	struct accel_port *port;
	struct accel_sdk_port *p;
	uint32_t cap = 16, quota;
	int slot = -1, rc = 0;

	if (args->level > ACCEL_LEVEL_MAX)
		return -EINVAL;
	if (!(d->cls.levels & ACCEL_LEVEL_BIT(args->level)))
		return -EOPNOTSUPP;
	quota = args->iommu_quota ? args->iommu_quota : d->cls.default_quota;
	if (quota > (1u << 24))
		return -EINVAL;
	while (cap < 2 * quota)
		cap <<= 1;
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < d->cls.max_ports && slot < 0; i++)
		if (!d->ports[i])
			slot = (int)i;
	if (slot < 0) {
		rc = -ENOSPC;
		goto out_unlock;
	}
	port = calloc(1, d->cls.port_size);
	p = SDK_PORT(port);
	if (!port || !(p->mmu.tab = calloc(cap, sizeof(*p->mmu.tab)))) {
		free(port);
		rc = -ENOMEM;
		goto out_unlock;
	}
	p->dev = dev;
	p->idx = (uint32_t)slot;
	p->domid = args->domid;
	p->level = args->level;
	memcpy(p->mac, args->mac, 6);
	p->features = d->features_default;
	p->mmu.cap = cap;
	p->mmu.quota = quota;
	if (d->cls.port_init && (rc = d->cls.port_init(port, args)) != 0) {
		free(p->mmu.tab);
		free(port);
		goto out_unlock;
	}
	d->ports[slot] = port;
	if ((uint32_t)slot >= d->ports_end)
		d->ports_end = (uint32_t)slot + 1;
	*out = port;
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* Caller holds the lock. */
static void port_destroy(struct accel_port *port)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);

	for (uint32_t f = 0; f < p->n_filters && d->cls.filter_removed; f++)
		d->cls.filter_removed(port, &p->filters[f]);
	p->n_filters = 0;
	while (p->n_qps)
		qp_destroy(p->qps[--p->n_qps]);
	if (d->cls.port_fini)
		d->cls.port_fini(port);
	d->ports[p->idx] = NULL;
	while (d->ports_end && !d->ports[d->ports_end - 1])
		d->ports_end--;
	free(p->mmu.tab);
	free(port);
}

void accel_sdk_port_free(struct accel_port *port)
{
	struct accel_sdk_dev *d;

	if (!port)
		return;
	d = SDK_DEV(SDK_PORT(port)->dev);
	pthread_mutex_lock(&d->lock);
	port_destroy(port);
	pthread_mutex_unlock(&d->lock);
}

void accel_sdk_dev_free_ports(struct accel_dev *dev)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);

	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < ACCEL_SDK_MAX_PORTS; i++)
		if (d->ports[i])
			port_destroy(d->ports[i]);
	pthread_mutex_unlock(&d->lock);
}

void accel_sdk_dev_fini(struct accel_dev *dev)
{
	pthread_mutex_destroy(&SDK_DEV(dev)->lock);
}

/* ---- IOMMU ---- */

static uint32_t iommu_hash(uint64_t pfn)
{
	return (uint32_t)((pfn * 0x9E3779B97F4A7C15ull) >> 32);
}

static void iommu_put(struct accel_sdk_iommu *m, uint64_t pfn, uint8_t *host, int writable)
{
	for (uint32_t i = 0, h = iommu_hash(pfn);; i++) {
		struct accel_sdk_iommu_entry *e = &m->tab[(h + i) & (m->cap - 1)];
		if (e->state == ACCEL_SDK_IOMMU_USED)
			continue;
		if (e->state == ACCEL_SDK_IOMMU_DELETED)
			m->dead--;
		*e = (struct accel_sdk_iommu_entry){.pfn = pfn,
						    .host = host,
						    .state = ACCEL_SDK_IOMMU_USED,
						    .writable = (uint8_t)writable};
		m->count++;
		return;
	}
}

/* Tombstones make probes long: rebuild when they pile up. */
static void iommu_compact(struct accel_sdk_iommu *m)
{
	struct accel_sdk_iommu_entry *old = m->tab;

	if (m->count + m->dead <= m->cap * 3 / 4)
		return;
	m->tab = calloc(m->cap, sizeof(*m->tab));
	if (!m->tab) {
		m->tab = old; /* keep working, just slower */
		return;
	}
	m->count = m->dead = 0;
	for (uint32_t i = 0; i < m->cap; i++)
		if (old[i].state == ACCEL_SDK_IOMMU_USED)
			iommu_put(m, old[i].pfn, old[i].host, old[i].writable);
	free(old);
}

int accel_sdk_mem_register(struct accel_port *port, const struct accel_mem_region *r,
			   uint32_t count)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);
	uint64_t pages = 0;
	int rc = 0;

	for (uint32_t i = 0; i < count; i++) {
		if ((r[i].iova & (ACCEL_PAGE_SIZE - 1)) ||
		    ((uintptr_t)r[i].host & (ACCEL_PAGE_SIZE - 1)) || r[i].size == 0 ||
		    r[i].size % ACCEL_PAGE_SIZE || !r[i].host)
			return -EINVAL;
		pages += r[i].size / ACCEL_PAGE_SIZE;
	}
	pthread_mutex_lock(&d->lock);
	if (p->mmu.count + pages > p->mmu.quota) {
		p->st.iommu_quota_exceeded++;
		accel_sdk_log(p->dev, ACCEL_LOG_WARN, "dom%u: IOMMU quota of %u pages exceeded",
			      p->domid, p->mmu.quota);
		rc = -ENOSPC;
		goto out_unlock;
	}
	/* all or nothing: every page is checked (also against the request) first */
	for (uint32_t i = 0; i < count && !rc; i++)
		for (uint32_t pg = 0; pg < r[i].size / ACCEL_PAGE_SIZE && !rc; pg++) {
			uint64_t pfn = (r[i].iova >> 12) + pg;
			if (accel_sdk_iommu_lookup(&p->mmu, pfn))
				rc = -EEXIST;
			for (uint32_t j = 0; j < i && !rc; j++)
				if (pfn >= r[j].iova >> 12 &&
				    pfn < (r[j].iova >> 12) + r[j].size / ACCEL_PAGE_SIZE)
					rc = -EEXIST;
		}
	if (rc)
		goto out_unlock;
	iommu_compact(&p->mmu);
	for (uint32_t i = 0; i < count; i++)
		for (uint32_t pg = 0; pg < r[i].size / ACCEL_PAGE_SIZE; pg++)
			iommu_put(&p->mmu, (r[i].iova >> 12) + pg,
				  (uint8_t *)r[i].host + (size_t)pg * ACCEL_PAGE_SIZE,
				  !!(r[i].flags & ACCEL_MEM_F_WRITABLE));
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

int accel_sdk_mem_unregister(struct accel_port *port, uint64_t iova, uint64_t size)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);

	if ((iova & (ACCEL_PAGE_SIZE - 1)) || (size % ACCEL_PAGE_SIZE))
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	for (uint64_t pg = 0; pg < size / ACCEL_PAGE_SIZE; pg++) {
		struct accel_sdk_iommu_entry *e =
			(struct accel_sdk_iommu_entry *)accel_sdk_iommu_lookup(&p->mmu,
									       (iova >> 12) + pg);
		if (e) {
			e->state = ACCEL_SDK_IOMMU_DELETED;
			e->host = NULL;
			p->mmu.count--;
			p->mmu.dead++;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* ---- RX filters ---- */

static int filters_overlap(const struct accel_rx_filter *a, const struct accel_rx_filter *b)
{
	return memcmp(a->mac, b->mac, 6) == 0 &&
	       (a->vlan == b->vlan || a->vlan == ACCEL_VLAN_ANY || b->vlan == ACCEL_VLAN_ANY);
}

int accel_sdk_rx_filter_add(struct accel_port *port, const struct accel_rx_filter *f)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);
	struct accel_sdk_filter *nf;
	int rc = 0;

	if (p->level == 0)
		return -EOPNOTSUPP; /* one queue: nothing to steer */
	if ((f->vlan > 4094 && f->vlan != ACCEL_VLAN_ANY) || (f->mac[0] & 1))
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	if (f->qid >= p->n_qps) {
		rc = -EINVAL;
		goto out_unlock;
	}
	for (uint32_t i = 0; i < d->ports_end; i++) {
		struct accel_sdk_port *o = SDK_PORT(d->ports[i]);
		for (uint32_t k = 0; o && k < o->n_filters; k++)
			if (filters_overlap(&o->filters[k].f, f)) {
				rc = -EEXIST;
				goto out_unlock;
			}
	}
	if (p->n_filters >= d->cls.max_filters) {
		rc = -ENOSPC;
		goto out_unlock;
	}
	nf = &p->filters[p->n_filters++];
	nf->f = *f;
	nf->hw = NULL;
	if (d->cls.filter_added)
		d->cls.filter_added(port, nf);
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

int accel_sdk_rx_filter_del(struct accel_port *port, const struct accel_rx_filter *f)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);
	int rc = -ENOENT;

	pthread_mutex_lock(&d->lock);
	for (uint32_t k = 0; k < p->n_filters; k++) {
		if (memcmp(p->filters[k].f.mac, f->mac, 6) == 0 &&
		    p->filters[k].f.vlan == f->vlan) {
			if (d->cls.filter_removed)
				d->cls.filter_removed(port, &p->filters[k]);
			p->filters[k] = p->filters[--p->n_filters];
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* ---- counters ---- */

void accel_sdk_stat_put(struct accel_stat *out, uint32_t max, int *n, const char *name, uint64_t v)
{
	if ((uint32_t)*n < max) {
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", name);
		out[*n].value = v;
	}
	(*n)++;
}

static uint64_t hw_cpu_ns(struct accel_sdk_dev *d)
{
	clockid_t cid;

	if (d->thread_running && pthread_getcpuclockid(d->thread, &cid) == 0)
		return pvnet_clock_ns(cid);
	return d->cpu_ns;
}

int accel_sdk_stats_get(struct accel_dev *dev, struct accel_port *port, struct accel_stat *out,
			uint32_t max)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);
	int n = 0, rc = 0;

	pthread_mutex_lock(&d->lock);
	if (port) {
		struct accel_sdk_port *p = SDK_PORT(port);
		char name[ACCEL_NAME_MAX];

		for (uint32_t i = 0; i < d->cls.n_port_stats; i++) {
			uint64_t v;
			memcpy(&v, (const char *)port + d->cls.port_stats[i].off, sizeof(v));
			accel_sdk_stat_put(out, max, &n, d->cls.port_stats[i].name, v);
		}
		accel_sdk_stat_put(out, max, &n, "iommu_entries", p->mmu.count);
		for (uint32_t q = 0; q < p->n_qps; q++) {
			snprintf(name, sizeof(name), "rx_queue_%u_packets", q);
			accel_sdk_stat_put(out, max, &n, name, SDK_QP(p->qps[q])->rx_packets);
			snprintf(name, sizeof(name), "tx_queue_%u_packets", q);
			accel_sdk_stat_put(out, max, &n, name, SDK_QP(p->qps[q])->tx_packets);
		}
	} else if (d->cls.dev_stats) {
		rc = d->cls.dev_stats(dev, out, max, &n);
	}
	accel_sdk_stat_put(out, max, &n, "hw_cpu_ns", hw_cpu_ns(d));
	pthread_mutex_unlock(&d->lock);
	return rc ? rc : n;
}

/* ---- features, migration, polling ---- */

int accel_sdk_features_get(struct accel_port *port, uint64_t *supported, uint64_t *active)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);

	pthread_mutex_lock(&d->lock);
	*supported = d->features;
	*active = p->features;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int accel_sdk_features_set(struct accel_port *port, uint64_t active)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (active & ~d->features)
		rc = -EINVAL;
	else
		p->features = active;
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int set_detached(struct accel_port *port, int detached)
{
	struct accel_sdk_port *p = SDK_PORT(port);
	struct accel_sdk_dev *d = SDK_DEV(p->dev);

	pthread_mutex_lock(&d->lock);
	p->detached = detached;
	for (uint32_t q = 0; q < p->n_qps; q++) {
		struct accel_qp_shared *sh = SDK_QP(p->qps[q])->sh;
		if (detached)
			sh->status.idx |= ACCEL_QP_S_DETACHED;
		else
			sh->status.idx &= ~(uint32_t)ACCEL_QP_S_DETACHED;
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int accel_sdk_detach(struct accel_port *port)
{
	return set_detached(port, 1);
}

int accel_sdk_attach(struct accel_port *port)
{
	return set_detached(port, 0);
}

int accel_sdk_poll(struct accel_dev *dev, uint32_t budget)
{
	struct accel_sdk_dev *d = SDK_DEV(dev);
	uint64_t t0;
	int n;

	if (!d->cls.engine_pass)
		return -EOPNOTSUPP;
	t0 = pvnet_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	pthread_mutex_lock(&d->lock);
	n = d->cls.engine_pass(dev, budget ? budget : d->cls.burst);
	d->cpu_ns += pvnet_clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	pthread_mutex_unlock(&d->lock);
	return n;
}
