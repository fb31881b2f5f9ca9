/* SPDX-License-Identifier: MIT */
/*
 * config_private.h - what the pieces of the domain config parser share
 * (config.c: file syntax and domain keys; config_vif.c: vif specs, MACs,
 * rates; config_json.c: JSON output). Not a public API: include/pvnet/config.h
 * is the contract.
 */
#ifndef PVNET_CONFIG_PRIVATE_H
#define PVNET_CONFIG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvnet/config.h>

/* Vif keys that are accepted with a warning: one bit each in cfg_wsink.seen. */
enum cfg_vif_warning {
	CFG_VW_SCRIPT,
	CFG_VW_GATEWAYDEV,
	CFG_VW_NETDEV,
	CFG_VW_FORWARDDEV,
	CFG_VW_COLO,
	CFG_VW_BACKEND,
	CFG_VW_MODEL_PV,
	CFG_VW_MODEL_HVM,
	CFG_VW_TYPE_IOEMU,
	CFG_VW_GATEWAY_HVM,
	CFG_VW_COUNT
};

/*
 * Where a vif spec's warnings go: fn(arg, prefix + message). `seen` (may be
 * NULL) holds one bit per enum cfg_vif_warning already given, so a file with
 * four vifs that all name script= gets one warning.
 */
struct cfg_wsink {
	pvnet_config_warn_fn *fn;
	void *arg;
	const char *prefix; /* e.g. "web.cfg:7: warning: vif 1: " */
	uint32_t *seen;
};

void cfg_set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_warn(const struct cfg_wsink *ws, enum cfg_vif_warning id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cfg_copy_str(char *dst, size_t cap, const char *src);
bool cfg_is_token(const char *s, size_t max);
bool cfg_is_ifname(const char *s);

/* pvnet_vif_parse with a warning sink (ws may be NULL). */
int cfg_vif_parse(const char *spec, struct pvnet_vif_cfg *out, const struct cfg_wsink *ws,
		  char *err, size_t err_size);

/* Parses "ADDR" or "ADDR/PREFIX" into *ip; `what` names the key in messages. */
int cfg_parse_ip(const char *item, const char *what, bool prefix_allowed, struct pvnet_ip_cfg *ip,
		 char *err, size_t err_size);

/* Is `a` inside the prefix of `net` (same family, net->prefix_set)? */
bool cfg_ip_in_prefix(const struct pvnet_ip_cfg *a, const struct pvnet_ip_cfg *net);

#endif /* PVNET_CONFIG_PRIVATE_H */
