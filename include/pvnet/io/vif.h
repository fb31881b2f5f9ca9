/* SPDX-License-Identifier: MIT */
/*
 * pvnet/io/vif.h - values of a vif's store nodes that both ends of the store
 * ABI spell: the toolstack checks a vif spec with them before it writes the
 * nodes (tools/lib, tools/pvnetd), netfront parses the nodes it reads
 * (netfront/xenbus.c). Header-only: no module owns them (as Xen's public/io
 * headers). docs/store-keys.md lists every node.
 *
 * Frontend node `pvnet-mode`, what netfront attaches the vif to:
 *   tap     a TAP device eth<n> in the guest's namespace (default: node absent)
 *   pktgen  netfront's in-ring frame generator
 *   sink    netfront counts and drops what it receives
 */
#ifndef PVNET_IO_VIF_H
#define PVNET_IO_VIF_H

#include <errno.h>
#include <string.h>

/* Frontend node `mtu`: its value when the node is absent (or not a number). */
#define PVNET_DEFAULT_MTU 1500

enum pvnet_vif_mode {
	PVNET_VIF_MODE_TAP = 0,
	PVNET_VIF_MODE_PKTGEN,
	PVNET_VIF_MODE_SINK
};

/* "tap"/"pktgen"/"sink" -> *mode (untouched on error); -EINVAL for anything
 * else, NULL included. */
static inline int pvnet_vif_mode_parse(const char *s, enum pvnet_vif_mode *mode)
{
	static const char *const names[] = {"tap", "pktgen", "sink"};

	for (unsigned i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*mode = (enum pvnet_vif_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* The node's spelling of `mode`; "?" for a value outside the enum. */
static inline const char *pvnet_vif_mode_name(enum pvnet_vif_mode mode)
{
	switch (mode) {
	case PVNET_VIF_MODE_TAP:
		return "tap";
	case PVNET_VIF_MODE_PKTGEN:
		return "pktgen";
	case PVNET_VIF_MODE_SINK:
		return "sink";
	}
	return "?";
}

#endif /* PVNET_IO_VIF_H */
