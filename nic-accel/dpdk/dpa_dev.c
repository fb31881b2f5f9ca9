/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/dpa_dev.c - the control path: the ops table (mostly the SDK's
 * ops), devices and their poll thread (the "hardware" CPU), the SDK hooks
 * (rte_flow rules for RX filters, ethdev queue ownership), counters.
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

/* Without opening anything: the ethdev's real offloads show in features_get. */
static const struct accel_sdk_class dpa_class;

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

	while (!dev->sdk.stop) {
		int moved;

		pthread_mutex_lock(&dev->sdk.lock);
		moved = dpa_engine_pass(dev, DPA_BURST);
		pthread_mutex_unlock(&dev->sdk.lock);
		if (moved) {
			dev->idle_passes = 0;
			continue;
		}
		if (++dev->idle_passes < DPA_SPIN_PASSES)
			continue;
		nfds_t n = accel_sdk_doorbells(dev, pfd, 0, DPA_MAX_PORTS);
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

static void dpa_close(struct accel_dev *dev)
{
	if (!dev)
		return;
	if (dev->sdk.thread_running) {
		dev->sdk.stop = 1;
		pthread_join(dev->sdk.thread, NULL);
		dev->sdk.thread_running = 0;
	}
	accel_sdk_dev_free_ports(dev);
	pthread_mutex_lock(&dev->sdk.lock);
	dpa_tx_drain(dev);
	pthread_mutex_unlock(&dev->sdk.lock);
	dpa_ethdev_teardown(dev);
	dpa_vdev_remove(dev);
	dpa_log_sink_clear(dev);
	free(dev->scratch);
	accel_sdk_dev_fini(dev);
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
	accel_sdk_dev_init(dev, &dpa_class, host, args);
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
		accel_sdk_log(dev, ACCEL_LOG_INFO, "dpdk: wire_fd %d ignored: the wire is %s",
			      args->wire_fd, dev->name);
	dpa_log_sink_set(dev);
	rc = dpa_eal_up(dev, err, sizeof(err));
	if (rc)
		goto err_log;
	rc = dpa_vdev_probe(dev, err, sizeof(err));
	if (rc)
		goto err_log;
	pthread_mutex_lock(&dev->sdk.lock);
	dpa_capture_begin();
	rc = dpa_ethdev_setup(dev, err, sizeof(err) / 2);
	dpa_capture_end(said, sizeof(said));
	/* ports take what the ethdev offers, all of it on */
	dev->sdk.features_default = dev->sdk.features;
	pthread_mutex_unlock(&dev->sdk.lock);
	if (rc) {
		size_t l = strlen(err);
		snprintf(err + l, sizeof(err) - l, "; DPDK said: %s", said);
		goto err_log;
	}
	if (!(dev->sdk.flags & ACCEL_OPEN_F_NO_THREAD)) {
		rc = -pthread_create(&dev->sdk.thread, NULL, engine_main, dev);
		if (rc) {
			snprintf(err, sizeof(err), "cannot start the poll thread: %s",
				 strerror(-rc));
			goto err_log;
		}
		dev->sdk.thread_running = 1;
	}
	*out = dev;
	return 0;

err_log:
	accel_sdk_log(dev, ACCEL_LOG_ERR, "dpdk: devargs '%s': %s",
		      args && args->devargs ? args->devargs : "(none)", err);
	dpa_close(dev);
	return rc;
}

/* ---- SDK hooks ---- */

static void dpa_qp_fini(struct accel_qp *qp)
{
	struct accel_dev *dev = qp->sdk.port->sdk.dev;

	if (qp->hwq > 0 && qp->hwq < DPA_MAX_HWQ && dev->hwq_owner[qp->hwq] == qp)
		dev->hwq_owner[qp->hwq] = NULL;
}

/* RX filters: the SDK's software table always, an rte_flow rule when the PMD
 * has it. */
static void dpa_filter_added(struct accel_port *port, struct accel_sdk_filter *f)
{
	struct accel_dev *dev = port->sdk.dev;

	if (dev->flow_ok && dpa_flow_add(dev, f, port->sdk.qps[f->f.qid]) != 0)
		dev->st.flow_fallbacks++;
}

static void dpa_filter_removed(struct accel_port *port, struct accel_sdk_filter *f)
{
	dpa_flow_del(port->sdk.dev, f);
}

/* ---- counters ---- */

#define SDK_STAT(name) ACCEL_SDK_PORT_STAT(#name, sdk.st.name)
#define OWN_STAT(name) ACCEL_SDK_PORT_STAT(#name, st.name)
/* ethtool -S order */
static const struct accel_sdk_stat_desc port_stats[] = {
	SDK_STAT(rx_packets),
	SDK_STAT(tx_packets),
	SDK_STAT(rx_bytes),
	SDK_STAT(tx_bytes),
	SDK_STAT(rx_dropped),
	SDK_STAT(tx_dropped),
	SDK_STAT(rx_no_buffer),
	SDK_STAT(dma_faults),
	OWN_STAT(tx_csum_filled),
	OWN_STAT(tx_gso_dropped),
	OWN_STAT(rx_csum_bad),
	SDK_STAT(irq_raised),
	SDK_STAT(iommu_quota_exceeded),
	SDK_STAT(ring_errors),
	OWN_STAT(rx_hw_steered),
};

static const char *const dev_stat_names[DPA_DEV_NSTATS] = {
	"wire_rx_packets", "wire_tx_packets", "tx_ring_full", "mbuf_alloc_failed", "rx_filter_miss",
	"rx_dropped",      "rx_oversize",     "flow_rules",   "flow_fallbacks",
};

static int dpa_dev_stats(struct accel_dev *dev, struct accel_stat *out, uint32_t max, int *n)
{
	const uint64_t *v = (const uint64_t *)&dev->st;
	struct rte_eth_link link;

	for (size_t i = 0; i < DPA_DEV_NSTATS; i++)
		accel_sdk_stat_put(out, max, n, dev_stat_names[i], v[i]);
	memset(&link, 0, sizeof(link));
	if (dev->started)
		rte_eth_link_get_nowait(dev->port_id, &link);
	accel_sdk_stat_put(out, max, n, "link_up", link.link_status);
	accel_sdk_stat_put(out, max, n, "rx_steering_hw", (uint64_t)dev->flow_ok);
	accel_sdk_stat_put(out, max, n, "eth_rx_queues", dev->n_rxq);
	return dpa_ethdev_stats(dev, out, max, n);
}

static const struct accel_sdk_class dpa_class = {
	.qp_mem_name = "dpdk-accel-qp",
	.port_size = sizeof(struct accel_port),
	.qp_size = sizeof(struct accel_qp),
	.levels = ACCEL_LEVEL_BIT(0) | ACCEL_LEVEL_BIT(1),
	.burst = DPA_BURST,
	.port_stats = port_stats,
	.n_port_stats = sizeof(port_stats) / sizeof(port_stats[0]),
	.qp_fini = dpa_qp_fini,
	.filter_added = dpa_filter_added,
	.filter_removed = dpa_filter_removed,
	.dev_stats = dpa_dev_stats,
	.engine_pass = dpa_engine_pass,
};

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
	ACCEL_SDK_OPS,
};

const struct accel_ops *dpa_accel_ops(void)
{
	return &dpa_ops;
}
