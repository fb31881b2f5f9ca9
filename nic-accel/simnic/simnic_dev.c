/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/simnic/simnic_dev.c - simnic's control path: the ops table (mostly
 * the SDK's ops), devices and their engine thread, VFs, TX filters, rate
 * limits, counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "simnic.h"

#define SIMNIC_FEATURES                                                                            \
	(ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM) | ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM) |                 \
	 ACCEL_FEAT_BIT(ACCEL_FEAT_SG) | ACCEL_FEAT_BIT(ACCEL_FEAT_TSO) |                          \
	 ACCEL_FEAT_BIT(ACCEL_FEAT_LRO) | ACCEL_FEAT_BIT(ACCEL_FEAT_RX_VLAN_FILTER) |              \
	 ACCEL_FEAT_BIT(ACCEL_FEAT_HW_TC))
/* Linux's defaults: everything but LRO on. */
#define SIMNIC_FEATURES_DEFAULT (SIMNIC_FEATURES & ~ACCEL_FEAT_BIT(ACCEL_FEAT_LRO))

static const struct accel_sdk_class simnic_class;

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

	while (!dev->sdk.stop) {
		nfds_t n = 0;

		pfd[n++] = (struct pollfd){.fd = dev->stop_fd, .events = POLLIN};
		if (dev->wire_fd >= 0)
			pfd[n++] = (struct pollfd){.fd = dev->wire_fd, .events = POLLIN};
		/* first qp's doorbell of each port; others are found by the tick */
		n = accel_sdk_doorbells(dev, pfd, n, 2 + SIMNIC_MAX_PORTS);
		/* A doorbell closed by qp_free while we sleep only causes a wake-up. */
		if (poll(pfd, n, 1) < 0 && errno != EINTR)
			break;
		if (dev->sdk.stop)
			break;
		/* busy-poll while there is work; the lock is dropped between passes
		 * so control ops are never starved by traffic */
		for (int moved = 1; moved > 0 && !dev->sdk.stop;) {
			pthread_mutex_lock(&dev->sdk.lock);
			moved = simnic_engine_pass(dev, SIMNIC_BURST);
			pthread_mutex_unlock(&dev->sdk.lock);
		}
	}
	return NULL;
}

static void simnic_close(struct accel_dev *dev)
{
	if (!dev)
		return;
	if (dev->sdk.thread_running) {
		uint64_t one = 1;
		dev->sdk.stop = 1;
		if (write(dev->stop_fd, &one, sizeof(one)) < 0) {
			/* the 1 ms tick ends the wait anyway */
		}
		pthread_join(dev->sdk.thread, NULL);
	}
	accel_sdk_dev_free_ports(dev);
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	if (dev->wire_fd >= 0)
		close(dev->wire_fd);
	free(dev->txbuf);
	free(dev->segbuf);
	free(dev->lrobuf);
	accel_sdk_dev_fini(dev);
	free(dev);
}

static int simnic_open(const struct accel_host *host, const struct accel_open_args *args,
		       struct accel_dev **out)
{
	struct accel_dev *dev = calloc(1, sizeof(*dev));
	int rc;

	if (!dev)
		return -ENOMEM;
	accel_sdk_dev_init(dev, &simnic_class, host, args);
	dev->sdk.features = SIMNIC_FEATURES;
	dev->sdk.features_default = SIMNIC_FEATURES_DEFAULT;
	dev->wire_fd = -1;
	dev->stop_fd = -1;
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
	if (!(dev->sdk.flags & ACCEL_OPEN_F_NO_THREAD)) {
		rc = -pthread_create(&dev->sdk.thread, NULL, engine_main, dev);
		if (rc)
			goto err_close;
		dev->sdk.thread_running = 1;
	}
	accel_sdk_log(dev, ACCEL_LOG_INFO, "simnic up: wire fd %d, %u VFs, %s", dev->wire_fd,
		      dev->max_vfs, dev->sdk.thread_running ? "engine thread" : "polled");
	*out = dev;
	return 0;

err_close:
	simnic_close(dev);
	return rc;
}

/* ---- ports (SDK hooks) ---- */

/* A Level 3 port takes one of the device's VFs. */
static int simnic_port_init(struct accel_port *port, const struct accel_port_args *args)
{
	struct accel_dev *dev = port->sdk.dev;

	(void)args;
	if (port->sdk.level != 3)
		return 0;
	if (dev->n_vfs >= dev->max_vfs)
		return -ENOSPC;
	dev->n_vfs++;
	return 0;
}

static void simnic_port_fini(struct accel_port *port)
{
	if (port->sdk.level == 3)
		port->sdk.dev->n_vfs--;
}

/* ---- TX filter, rate limit ---- */

static int simnic_tx_filter_set(struct accel_qp *qp, const struct accel_tx_filter *f)
{
	if (f->n_ipv4 > ACCEL_TXF_MAX_IPV4 ||
	    (f->flags & ~(uint32_t)(ACCEL_TXF_CHECK_MAC | ACCEL_TXF_CHECK_IP)))
		return -EINVAL;
	pthread_mutex_lock(&qp->sdk.port->sdk.dev->sdk.lock);
	qp->txf = *f;
	pthread_mutex_unlock(&qp->sdk.port->sdk.dev->sdk.lock);
	return 0;
}

static int simnic_rate_limit_set(struct accel_qp *qp, uint64_t bytes_per_sec, uint64_t burst)
{
	struct accel_dev *dev = qp->sdk.port->sdk.dev;

	if (bytes_per_sec && !burst) {
		burst = bytes_per_sec / 100;
		if (burst < ACCEL_PKT_MAX)
			burst = ACCEL_PKT_MAX;
	}
	if (burst > (1ull << 40))
		return -EINVAL;
	pthread_mutex_lock(&dev->sdk.lock);
	qp->rate_bps = bytes_per_sec;
	qp->burst = burst;
	qp->tokens = (int64_t)burst;
	qp->last_refill_ns = accel_sdk_now(dev);
	qp->throttled = 0;
	pthread_mutex_unlock(&dev->sdk.lock);
	return 0;
}

/* ---- counters ---- */

#define SDK_STAT(name) ACCEL_SDK_PORT_STAT(#name, sdk.st.name)
#define OWN_STAT(name) ACCEL_SDK_PORT_STAT(#name, st.name)
/* ethtool -S order */
static const struct accel_sdk_stat_desc port_stats[] = {
	SDK_STAT(rx_packets),        SDK_STAT(tx_packets),           SDK_STAT(rx_bytes),
	SDK_STAT(tx_bytes),          SDK_STAT(rx_dropped),           SDK_STAT(tx_dropped),
	SDK_STAT(rx_no_buffer),      SDK_STAT(dma_faults),           OWN_STAT(tx_spoof_dropped),
	OWN_STAT(tx_rate_throttled), OWN_STAT(tx_csum_filled),       OWN_STAT(tso_segments),
	OWN_STAT(lro_coalesced),     OWN_STAT(rx_csum_bad),          SDK_STAT(irq_raised),
	OWN_STAT(hairpin_packets),   SDK_STAT(iommu_quota_exceeded), SDK_STAT(ring_errors),
};

static int simnic_dev_stats(struct accel_dev *dev, struct accel_stat *out, uint32_t max, int *n)
{
	accel_sdk_stat_put(out, max, n, "wire_rx_packets", dev->wire_rx);
	accel_sdk_stat_put(out, max, n, "wire_tx_packets", dev->wire_tx);
	accel_sdk_stat_put(out, max, n, "wire_errors", dev->wire_errors);
	accel_sdk_stat_put(out, max, n, "rx_filter_miss", dev->rx_filter_miss);
	accel_sdk_stat_put(out, max, n, "rx_dropped", dev->rx_dropped);
	accel_sdk_stat_put(out, max, n, "vfs_in_use", dev->n_vfs);
	return 0;
}

static const struct accel_sdk_class simnic_class = {
	.qp_mem_name = "simnic-qp",
	.port_size = sizeof(struct accel_port),
	.qp_size = sizeof(struct accel_qp),
	.levels = 0xf,
	.burst = SIMNIC_BURST,
	.port_stats = port_stats,
	.n_port_stats = sizeof(port_stats) / sizeof(port_stats[0]),
	.port_init = simnic_port_init,
	.port_fini = simnic_port_fini,
	.dev_stats = simnic_dev_stats,
	.engine_pass = simnic_engine_pass,
};

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
	.tx_filter_set = simnic_tx_filter_set,
	.rate_limit_set = simnic_rate_limit_set,
	ACCEL_SDK_OPS,
};

const struct accel_ops *simnic_accel_ops(void)
{
	return &simnic_ops;
}
