/* SPDX-License-Identifier: MIT */
/*
 * A vif spec for a running domain (`pvnet network-attach DOM SPEC`): the same
 * spec parser as a config's vif list (config_vif.c), then the checks the file
 * parser makes across a domain's vifs (config.c's finish_*), against the vifs
 * the domain already has.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config_private.h"

/* Every gateway= must lie inside one of the vif's ip= prefixes. 0 or -EINVAL. */
static int check_gateways(const struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	unsigned i, j;

	for (i = 0; i < out->n_gateway; i++) {
		for (j = 0; j < out->n_ip; j++)
			if (cfg_ip_in_prefix(&out->gateway[i], &out->ip[j]))
				break;
		if (j == out->n_ip) {
			cfg_set_err(err, err_size,
				    "gateway %s is not inside any ip=ADDRESS/PREFIX of this vif "
				    "(the guest could not reach it)",
				    out->gateway[i].text);
			return -EINVAL;
		}
	}
	return 0;
}

/* model= and type=ioemu are HVM keys: warned (and ignored) for a PV domain. */
static void warn_hvm_keys(const struct pvnet_dom_cfg *dom, const struct pvnet_vif_cfg *out,
			  pvnet_config_warn_fn *warn, void *arg)
{
	char msg[256];

	if (!strcmp(dom->type, "hvm") || !warn)
		return;
	if (out->model[0]) {
		snprintf(msg, sizeof(msg),
			 "vif: model=%s is for HVM guests; ignored for a %s guest", out->model,
			 dom->type);
		warn(arg, msg);
	}
	if (!strcmp(out->type, "ioemu")) {
		snprintf(msg, sizeof(msg),
			 "vif: type=ioemu is for HVM guests; a %s guest gets a PV vif", dom->type);
		warn(arg, msg);
	}
}

int pvnet_vif_attach_parse(const struct pvnet_dom_cfg *dom, const char *spec,
			   pvnet_config_warn_fn *warn, void *arg, struct pvnet_vif_cfg *out,
			   char *err, size_t err_size)
{
	uint8_t used[PVNET_MAX_DEVID + 1] = {0};
	unsigned i, j, salt;
	char a[18];
	int rc;

	rc = pvnet_vif_parse_warn(spec, out, warn, arg, err, err_size);
	if (rc < 0)
		return rc;
	if (dom->n_vifs >= PVNET_MAX_VIFS) {
		cfg_set_err(err, err_size, "domain '%s' has %u vifs, at most %d", dom->name,
			    dom->n_vifs, PVNET_MAX_VIFS);
		return -ENOSPC;
	}
	for (i = 0; i < dom->n_vifs; i++)
		if (dom->vifs[i].devid >= 0 && dom->vifs[i].devid <= PVNET_MAX_DEVID)
			used[dom->vifs[i].devid] = 1;
	/* an explicit devid must be free; else the lowest free one (xl) */
	if (out->devid >= 0 && used[out->devid]) {
		cfg_set_err(err, err_size, "devid %d is already a vif of domain '%s'", out->devid,
			    dom->name);
		return -EEXIST;
	}
	if (out->devid < 0) {
		for (j = 0; j <= PVNET_MAX_DEVID && used[j]; j++)
			;
		out->devid = (int)j; /* < PVNET_MAX_VIFS vifs: one is free */
	}
	for (i = 0; i < dom->n_vifs && out->vifname[0]; i++) {
		if (!strcmp(out->vifname, dom->vifs[i].vifname)) {
			cfg_set_err(err, err_size, "vifname '%s' is already vif %d's", out->vifname,
				    dom->vifs[i].devid);
			return -EEXIST;
		}
	}
	rc = check_gateways(out, err, err_size);
	if (rc < 0)
		return rc;
	warn_hvm_keys(dom, out, warn, arg);
	/* an explicit MAC must be the domain's only one; a generated one steps past */
	if (out->mac_set) {
		for (i = 0; i < dom->n_vifs; i++) {
			if (!memcmp(out->mac, dom->vifs[i].mac, 6)) {
				pvnet_mac_format(out->mac, a);
				cfg_set_err(err, err_size, "mac %s is already vif %d's", a,
					    dom->vifs[i].devid);
				return -EEXIST;
			}
		}
		return 0;
	}
	for (salt = 0;; salt++) {
		pvnet_mac_default(dom->name, (unsigned)out->devid, salt, out->mac);
		for (i = 0; i < dom->n_vifs && memcmp(out->mac, dom->vifs[i].mac, 6); i++)
			;
		if (i == dom->n_vifs)
			break;
	}
	return 0;
}
