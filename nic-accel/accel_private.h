/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/accel_private.h - framework internals shared by the loader
 * (registry.c) and the device/attachment layer (device.c). Not for plugins.
 */
#ifndef PVNET_ACCEL_PRIVATE_H
#define PVNET_ACCEL_PRIVATE_H

#include <pthread.h>

#include <pvnet/accel.h>

#define ACCEL_MOD "accel"
#define ACCEL_PLUGINS_MAX 64
#define ACCEL_ATTACH_QPS_MAX 16

struct accel_plugin {
	struct accel_ops ops; /* normalised copy: undeclared bytes are zero */
	uint32_t declared_size;
	char source[256];
	void *dl; /* dlopen handle, NULL for built-ins */
};

struct accel_registry {
	struct accel_plugin *plugins[ACCEL_PLUGINS_MAX];
	size_t count;
};

struct accel_device {
	const struct accel_plugin *plugin;
	const struct accel_ops *ops;
	struct accel_dev *dev;
	struct accel_host host;
	pthread_mutex_t lock;             /* serialises ops unless ACCEL_F_THREAD_SAFE */
	struct accel_attach *attachments; /* list, under lock */
};

struct accel_attach {
	struct accel_device *dev;
	struct accel_attach *next;
	struct accel_vif_config cfg;
	struct accel_port *port;
	struct accel_qp *qps[ACCEL_ATTACH_QPS_MAX];
	uint32_t n_qps;
	uint64_t iommu_pages;          /* registered through the framework */
	uint64_t iommu_quota_exceeded; /* -ENOSPC returned by the framework's check */
	int detached;
};

/* The simnic built-in's table (nic-accel/simnic/simnic_dev.c). */
const struct accel_ops *simnic_accel_ops(void);

#endif /* PVNET_ACCEL_PRIVATE_H */
