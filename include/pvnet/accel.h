/* SPDX-License-Identifier: MIT */
/*
 * pvnet/accel.h - the nic-accel framework's host-side API (as DPDK's
 * rte_ethdev.h): what netback, netfront and pvnetd call - the plugin registry
 * and loader, devices, and per-vif attachments. Implemented in nic-accel/.
 * The plugin ABI it is built on (ops table, objects, host services, queue-pair
 * rings; the levels, object and DMA models) is pvnet/accel_plugin.h, included
 * here; plugins see only that and the SDK (pvnet/accel_sdk.h).
 */
#ifndef PVNET_ACCEL_H
#define PVNET_ACCEL_H

#include <stddef.h>
#include <stdint.h>

#include <pvnet/accel_plugin.h>

/* ======================================================================= */
/* The framework (nic-accel/)                                                */
/* ======================================================================= */

/*
 * Registry: the set of known plugins. Built-ins are registered by
 * accel_register_builtins() (the one list of them); external plugins are
 * dlopen'ed by accel_load_dir() / accel_load_file(). Not thread-safe: build it
 * at start-up, then only read it. A registry must outlive every device opened
 * from it.
 */
struct accel_registry;
struct accel_plugin; /* one registered plugin (owned by the registry) */
struct accel_device; /* an open device (framework wrapper) */
struct accel_attach; /* one vif attached to a device port */

/* The default directory searched by pvnetd (config key accel_dir overrides). */
#define ACCEL_PLUGIN_DIR_DEFAULT "build/lib/pvnet-accel"

int accel_registry_create(struct accel_registry **out);
/* Closes dlopen handles. Every device must already be closed. NULL is a no-op. */
void accel_registry_destroy(struct accel_registry *reg);

/* Registers simnic (and any later built-in). -EEXIST if already registered. */
int accel_register_builtins(struct accel_registry *reg);

/*
 * Validates and registers a table. `source` is "built-in" or the .so path (copied).
 * On error writes a one-line reason to err (if errlen > 0), e.g.
 *   "bad.so: ABI version 2.0 not supported (this loader takes 1.x)"
 *   "short.so: ops table is 24 bytes, shorter than the 96 bytes ABI 1.0 requires"
 *   "flags.so: unknown flag bits 0x100 in ops table"
 * Errors: -EPROTO (version), -EINVAL (short table, NULL required op, bad name),
 * -ENOTSUP (unknown flags), -EEXIST (name taken).
 */
int accel_register_ops(struct accel_registry *reg, const struct accel_ops *ops, const char *source,
		       char *err, size_t errlen);

/* dlopen one plugin; on failure the handle is closed and err says why
 * ("x.so: missing symbol pvnet_accel_entry: ..."): -ENOENT (no symbol / cannot
 * open), or accel_register_ops's errors. */
int accel_load_file(struct accel_registry *reg, const char *path, char *err, size_t errlen);

/* Loads every *.so in `dir` (sorted). Failures are logged and skipped. A file
 * <name>.so whose <name> is a registered built-in is not opened (the built-in
 * serves; a dev tree's dir holds simnic.so). Returns the number loaded, or -errno
 * if the directory cannot be read. */
int accel_load_dir(struct accel_registry *reg, const char *dir);

/* What `pvnet accel list` shows. */
struct accel_plugin_info {
	char name[ACCEL_NAME_MAX];
	char version[ACCEL_NAME_MAX];
	uint16_t abi_major, abi_minor;
	uint32_t levels;
	uint64_t flags;
	char source[256]; /* "built-in" or the path */
};
/* Fills up to max entries; returns the number of plugins. */
int accel_list(const struct accel_registry *reg, struct accel_plugin_info *out, size_t max);
/* Renders the list as a table ("NAME VERSION ABI LEVELS SOURCE"); returns the
 * length snprintf would have written. */
int accel_format_list(const struct accel_registry *reg, char *buf, size_t size);
/* Levels mask as text, e.g. "0,1,2,3". */
void accel_levels_str(uint32_t levels, char *buf, size_t size);

const struct accel_plugin *accel_find(const struct accel_registry *reg, const char *name);
/* The normalised table: bytes the plugin did not declare read as zero/NULL. */
const struct accel_ops *accel_plugin_ops(const struct accel_plugin *p);

/*
 * Devices. host may be NULL (real clock, pvnet log). The framework copies host.
 * -ENOENT if no plugin has that name.
 */
int accel_device_open(struct accel_registry *reg, const char *name, const struct accel_host *host,
		      const struct accel_open_args *args, struct accel_device **out);
/* Destroys remaining attachments first. NULL is a no-op. */
void accel_device_close(struct accel_device *dev);
int accel_device_info(struct accel_device *dev, struct accel_dev_info *out);
/* Runs the engine (devices opened with ACCEL_OPEN_F_NO_THREAD). */
int accel_device_poll(struct accel_device *dev, uint32_t budget);
/* Device-wide counters (rx_filter_miss, wire_*, hw_cpu_ns...). */
int accel_device_stats(struct accel_device *dev, struct accel_stat *out, uint32_t max);

/*
 * Attachment: one vif on one device port with its queue pairs, the per-vif state
 * pvnetd keeps (quota accounting, detach state). Created from a vif config
 * (accel=<name>,level=<n>). queues: number of qps (Level 0: must be 1).
 * iommu_quota: max registered pages, enforced by the framework too (-ENOSPC,
 * counted in iommu_quota_exceeded); 0 = 4096 pages.
 */
struct accel_vif_config {
	uint32_t domid;
	uint32_t handle; /* vif number */
	uint32_t level;
	uint32_t queues; /* 0 = 1 */
	uint32_t iommu_quota;
	uint32_t ring_len; /* 0 = 256 */
	uint32_t qp_flags; /* ACCEL_QP_F_* for queue 0 */
	uint32_t irq_frames, irq_usecs;
	uint8_t mac[6];
};
int accel_attach_create(struct accel_device *dev, const struct accel_vif_config *cfg,
			struct accel_attach **out);
/* Frees the port (its qps, filters, IOMMU entries). NULL is a no-op. */
void accel_attach_destroy(struct accel_attach *att);

struct accel_qp *accel_attach_qp(struct accel_attach *att, uint32_t qid);
uint32_t accel_attach_queues(const struct accel_attach *att);
int accel_attach_map_qp(struct accel_attach *att, uint32_t qid, uint32_t domid,
			struct accel_qp_map *out);
int accel_attach_mem_register(struct accel_attach *att, const struct accel_mem_region *r,
			      uint32_t count);
int accel_attach_mem_unregister(struct accel_attach *att, uint64_t iova, uint64_t size);
int accel_attach_rx_filter_add(struct accel_attach *att, const struct accel_rx_filter *f);
int accel_attach_rx_filter_del(struct accel_attach *att, const struct accel_rx_filter *f);
int accel_attach_tx_filter_set(struct accel_attach *att, uint32_t qid,
			       const struct accel_tx_filter *f);
int accel_attach_rate_limit_set(struct accel_attach *att, uint32_t qid, uint64_t bytes_per_sec,
				uint64_t burst);
/* Port counters followed by the framework's (iommu_pages, iommu_quota_exceeded). */
int accel_attach_stats(struct accel_attach *att, struct accel_stat *out, uint32_t max);
int accel_attach_features_get(struct accel_attach *att, uint64_t *supported, uint64_t *active);
int accel_attach_features_set(struct accel_attach *att, uint64_t active);
/* Set / clear one feature by its ethtool name ("tcp-segmentation-offload"). */
int accel_attach_feature_set_name(struct accel_attach *att, const char *name, int on);
int accel_attach_detach(struct accel_attach *att);
int accel_attach_reattach(struct accel_attach *att);
int accel_attach_is_detached(const struct accel_attach *att);

/* ethtool layouts. ifname is the vif name ("vif3.0"). Return snprintf's length. */
int accel_format_stats(struct accel_attach *att, char *buf, size_t size); /* ethtool -S */
int accel_format_features(struct accel_attach *att, const char *ifname, char *buf,
			  size_t size); /* ethtool -k */
/* "rx-checksumming" for ACCEL_FEAT_RX_CSUM; NULL if out of range. */
const char *accel_feature_name(unsigned int feat);

#endif /* PVNET_ACCEL_H */
