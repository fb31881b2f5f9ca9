/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/device.c - open devices and per-vif attachments: the framework side
 * of every op (missing optional op -> -EOPNOTSUPP, per-vif IOMMU quota), and the
 * ethtool -S / -k renderings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>

#include "accel_private.h"

#define ACCEL_DEFAULT_QUOTA 4096u

static uint64_t host_now(void *ctx)
{
	(void)ctx;
	return pvnet_now_ns();
}

/* Default log for a device opened without a host: ctx is the plugin's name. */
static void host_log(void *ctx, enum accel_log_level level, const char *msg)
{
	if (pvnet_log_enabled((enum pvnet_log_level)level))
		pvnet_log((enum pvnet_log_level)level, ctx ? (const char *)ctx : "accel", "%s",
			  msg);
}

/* Default log for a host that brought a ctx of its own but no log function. */
static void host_log_anon(void *ctx, enum accel_log_level level, const char *msg)
{
	(void)ctx;
	host_log(NULL, level, msg);
}

/* Serialise plugin calls unless the plugin says it is thread-safe. */
static void dev_lock(struct accel_device *d)
{
	if (!(d->ops->flags & ACCEL_F_THREAD_SAFE))
		pthread_mutex_lock(&d->lock);
}

static void dev_unlock(struct accel_device *d)
{
	if (!(d->ops->flags & ACCEL_F_THREAD_SAFE))
		pthread_mutex_unlock(&d->lock);
}

int accel_device_open(struct accel_registry *reg, const char *name, const struct accel_host *host,
		      const struct accel_open_args *args, struct accel_device **out)
{
	const struct accel_plugin *p = accel_find(reg, name);
	struct accel_device *d;
	int rc;

	if (!p)
		return -ENOENT;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->plugin = p;
	d->ops = &p->ops;
	d->host.size = sizeof(d->host);
	d->host.now_ns = host_now;
	d->host.log = host_log;
	d->host.ctx = (void *)p->ops.name;
	if (host) {
		d->host.ctx = host->ctx;
		d->host.log = host_log_anon;
		if (host->now_ns)
			d->host.now_ns = host->now_ns;
		if (host->log)
			d->host.log = host->log;
	}
	pthread_mutex_init(&d->lock, NULL);
	rc = d->ops->open(&d->host, args, &d->dev);
	if (rc)
		goto err_free;
	*out = d;
	return 0;

err_free:
	pthread_mutex_destroy(&d->lock);
	free(d);
	return rc;
}

void accel_device_close(struct accel_device *d)
{
	if (!d)
		return;
	while (d->attachments)
		accel_attach_destroy(d->attachments);
	d->ops->close(d->dev);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int accel_device_info(struct accel_device *d, struct accel_dev_info *out)
{
	memset(out, 0, sizeof(*out));
	return d->ops->probe(&d->host, out);
}

int accel_device_poll(struct accel_device *d, uint32_t budget)
{
	int rc;

	if (!d->ops->poll)
		return -EOPNOTSUPP;
	dev_lock(d);
	rc = d->ops->poll(d->dev, budget);
	dev_unlock(d);
	return rc;
}

int accel_device_stats(struct accel_device *d, struct accel_stat *out, uint32_t max)
{
	int rc;

	if (!d->ops->stats_get)
		return -EOPNOTSUPP;
	dev_lock(d);
	rc = d->ops->stats_get(d->dev, NULL, out, max);
	dev_unlock(d);
	return rc;
}

int accel_attach_create(struct accel_device *d, const struct accel_vif_config *cfg,
			struct accel_attach **out)
{
	struct accel_port_args pa;
	struct accel_attach *a;
	uint32_t queues = cfg->queues ? cfg->queues : 1;
	int rc;

	if (cfg->level > ACCEL_LEVEL_MAX || !(d->ops->levels & ACCEL_LEVEL_BIT(cfg->level)))
		return -EOPNOTSUPP;
	if (queues > ACCEL_ATTACH_QPS_MAX || (cfg->level == 0 && queues != 1))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->dev = d;
	a->cfg = *cfg;
	a->cfg.queues = queues;
	if (!a->cfg.iommu_quota)
		a->cfg.iommu_quota = ACCEL_DEFAULT_QUOTA;
	memset(&pa, 0, sizeof(pa));
	pa.domid = cfg->domid;
	pa.level = cfg->level;
	pa.iommu_quota = a->cfg.iommu_quota;
	memcpy(pa.mac, cfg->mac, 6);
	dev_lock(d);
	rc = d->ops->port_alloc(d->dev, &pa, &a->port);
	if (rc)
		goto err_unlock;
	for (uint32_t q = 0; q < queues; q++) {
		struct accel_qp_args qa = {
			.ring_len = cfg->ring_len,
			.flags = q == 0 ? cfg->qp_flags : 0,
			.irq_frames = cfg->irq_frames,
			.irq_usecs = cfg->irq_usecs,
		};
		rc = d->ops->qp_alloc(a->port, &qa, &a->qps[q]);
		if (rc)
			goto err_qps;
		a->n_qps++;
	}
	a->next = d->attachments;
	d->attachments = a;
	dev_unlock(d);
	*out = a;
	return 0;

err_qps:
	while (a->n_qps)
		d->ops->qp_free(a->qps[--a->n_qps]);
	d->ops->port_free(a->port);
err_unlock:
	dev_unlock(d);
	free(a);
	return rc;
}

void accel_attach_destroy(struct accel_attach *a)
{
	struct accel_device *d;

	if (!a)
		return;
	d = a->dev;
	dev_lock(d);
	for (struct accel_attach **pp = &d->attachments; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	while (a->n_qps)
		d->ops->qp_free(a->qps[--a->n_qps]);
	d->ops->port_free(a->port);
	dev_unlock(d);
	free(a);
}

struct accel_qp *accel_attach_qp(struct accel_attach *a, uint32_t qid)
{
	return qid < a->n_qps ? a->qps[qid] : NULL;
}

uint32_t accel_attach_queues(const struct accel_attach *a)
{
	return a->n_qps;
}

/* Calls an optional op under the device lock; -EOPNOTSUPP if absent. */
#define CALL_OPT(a, op, ...)                                                                       \
	({                                                                                         \
		int rc_;                                                                           \
		if (!(a)->dev->ops->op) {                                                          \
			rc_ = -EOPNOTSUPP;                                                         \
		} else {                                                                           \
			dev_lock((a)->dev);                                                        \
			rc_ = (a)->dev->ops->op(__VA_ARGS__);                                      \
			dev_unlock((a)->dev);                                                      \
		}                                                                                  \
		rc_;                                                                               \
	})

int accel_attach_map_qp(struct accel_attach *a, uint32_t qid, uint32_t domid,
			struct accel_qp_map *out)
{
	if (qid >= a->n_qps)
		return -EINVAL;
	return CALL_OPT(a, qp_map, a->qps[qid], domid, out);
}

int accel_attach_mem_register(struct accel_attach *a, const struct accel_mem_region *r,
			      uint32_t count)
{
	uint64_t pages = 0;
	int rc;

	for (uint32_t i = 0; i < count; i++) {
		if (r[i].size == 0 || r[i].size % ACCEL_PAGE_SIZE)
			return -EINVAL;
		pages += r[i].size / ACCEL_PAGE_SIZE;
	}
	if (!a->dev->ops->mem_register)
		return -EOPNOTSUPP;
	if (a->iommu_pages + pages > a->cfg.iommu_quota) {
		a->iommu_quota_exceeded++;
		PVLOG_RL(WARN, ACCEL_MOD, "dom%u vif%u: IOMMU quota %u pages exceeded",
			 a->cfg.domid, a->cfg.handle, a->cfg.iommu_quota);
		return -ENOSPC;
	}
	rc = CALL_OPT(a, mem_register, a->port, r, count);
	if (rc == 0)
		a->iommu_pages += pages;
	return rc;
}

int accel_attach_mem_unregister(struct accel_attach *a, uint64_t iova, uint64_t size)
{
	int rc = CALL_OPT(a, mem_unregister, a->port, iova, size);
	uint64_t pages = size / ACCEL_PAGE_SIZE;

	/* The framework's count is an upper bound: pages never registered are not
	 * known here, so clamp at zero. */
	if (rc == 0)
		a->iommu_pages = a->iommu_pages > pages ? a->iommu_pages - pages : 0;
	return rc;
}

int accel_attach_rx_filter_add(struct accel_attach *a, const struct accel_rx_filter *f)
{
	return CALL_OPT(a, rx_filter_add, a->port, f);
}

int accel_attach_rx_filter_del(struct accel_attach *a, const struct accel_rx_filter *f)
{
	return CALL_OPT(a, rx_filter_del, a->port, f);
}

int accel_attach_tx_filter_set(struct accel_attach *a, uint32_t qid,
			       const struct accel_tx_filter *f)
{
	if (qid >= a->n_qps)
		return -EINVAL;
	return CALL_OPT(a, tx_filter_set, a->qps[qid], f);
}

int accel_attach_rate_limit_set(struct accel_attach *a, uint32_t qid, uint64_t bytes_per_sec,
				uint64_t burst)
{
	if (qid >= a->n_qps)
		return -EINVAL;
	return CALL_OPT(a, rate_limit_set, a->qps[qid], bytes_per_sec, burst);
}

int accel_attach_stats(struct accel_attach *a, struct accel_stat *out, uint32_t max)
{
	int n = 0;

	if (a->dev->ops->stats_get) {
		n = CALL_OPT(a, stats_get, a->dev->dev, a->port, out, max);
		if (n < 0)
			return n;
	}
	/* The framework's own counters follow the device's. */
	const struct {
		const char *name;
		uint64_t v;
	} mine[] = {
		{"fw_iommu_pages", a->iommu_pages},
		{"fw_iommu_quota_exceeded", a->iommu_quota_exceeded},
	};
	for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++, n++) {
		if ((uint32_t)n < max) {
			snprintf(out[n].name, sizeof(out[n].name), "%s", mine[i].name);
			out[n].value = mine[i].v;
		}
	}
	return n;
}

int accel_attach_features_get(struct accel_attach *a, uint64_t *supported, uint64_t *active)
{
	return CALL_OPT(a, features_get, a->port, supported, active);
}

int accel_attach_features_set(struct accel_attach *a, uint64_t active)
{
	return CALL_OPT(a, features_set, a->port, active);
}

static const char *const feature_names[ACCEL_FEAT_COUNT] = {
	[ACCEL_FEAT_RX_CSUM] = "rx-checksumming",   [ACCEL_FEAT_TX_CSUM] = "tx-checksumming",
	[ACCEL_FEAT_SG] = "scatter-gather",         [ACCEL_FEAT_TSO] = "tcp-segmentation-offload",
	[ACCEL_FEAT_LRO] = "large-receive-offload", [ACCEL_FEAT_RX_VLAN_FILTER] = "rx-vlan-filter",
	[ACCEL_FEAT_HW_TC] = "hw-tc-offload",
};

const char *accel_feature_name(unsigned int feat)
{
	return feat < ACCEL_FEAT_COUNT ? feature_names[feat] : NULL;
}

int accel_attach_feature_set_name(struct accel_attach *a, const char *name, int on)
{
	uint64_t sup, act;
	int rc;

	for (unsigned f = 0; f < ACCEL_FEAT_COUNT; f++) {
		if (strcmp(name, feature_names[f]) != 0)
			continue;
		rc = accel_attach_features_get(a, &sup, &act);
		if (rc)
			return rc;
		if (on)
			act |= ACCEL_FEAT_BIT(f);
		else
			act &= ~ACCEL_FEAT_BIT(f);
		return accel_attach_features_set(a, act);
	}
	return -ENOENT;
}

int accel_attach_detach(struct accel_attach *a)
{
	int rc = CALL_OPT(a, detach, a->port);

	if (rc == 0)
		a->detached = 1;
	return rc;
}

int accel_attach_reattach(struct accel_attach *a)
{
	int rc = CALL_OPT(a, attach, a->port);

	if (rc == 0)
		a->detached = 0;
	return rc;
}

int accel_attach_is_detached(const struct accel_attach *a)
{
	return a->detached;
}

#define APPEND(...)                                                                                \
	do {                                                                                       \
		int n_ = snprintf(size > off ? buf + off : NULL, size > off ? size - off : 0,      \
				  __VA_ARGS__);                                                    \
		if (n_ > 0)                                                                        \
			off += (size_t)n_;                                                         \
	} while (0)

/* ethtool -S: "NIC statistics:" then "     name: value" per counter. */
int accel_format_stats(struct accel_attach *a, char *buf, size_t size)
{
	struct accel_stat st[128];
	size_t off = 0;
	int n = accel_attach_stats(a, st, 128);

	if (n < 0)
		return n;
	if (n > 128)
		n = 128;
	if (size)
		buf[0] = '\0';
	APPEND("NIC statistics:\n");
	for (int i = 0; i < n; i++)
		APPEND("     %s: %llu\n", st[i].name, (unsigned long long)st[i].value);
	return (int)off;
}

/* ethtool -k: "Features for IF:" then "name: on|off", " [fixed]" if unchangeable. */
int accel_format_features(struct accel_attach *a, const char *ifname, char *buf, size_t size)
{
	uint64_t sup = 0, act = 0;
	size_t off = 0;
	int rc = accel_attach_features_get(a, &sup, &act);

	if (rc)
		return rc;
	if (size)
		buf[0] = '\0';
	APPEND("Features for %s:\n", ifname);
	for (unsigned f = 0; f < ACCEL_FEAT_COUNT; f++)
		APPEND("%s: %s%s\n", feature_names[f], (act & ACCEL_FEAT_BIT(f)) ? "on" : "off",
		       (sup & ACCEL_FEAT_BIT(f)) ? "" : " [fixed]");
	return (int)off;
}
