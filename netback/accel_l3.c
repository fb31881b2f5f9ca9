/* SPDX-License-Identifier: MIT */
/*
 * netback's NIC accelerators, Level 3 (accel_int.h): VFs of one NIC reach each
 * other through the NIC (hairpin); every other vif on the bridge is listed in a
 * guest-driven vif's accel-local-macs, so its guest sends those frames on the
 * rings instead of to the NIC.
 */
#include <errno.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/accel.h>
#include <pvnet/log.h>

#include "accel_int.h"


/* Can the NIC carry unicast from `a` straight to `b`? Only VF to VF (Level 3
 * hairpin) on one NIC, both attached. */
static bool nic_reaches(const struct nb_accel_vif *a, const struct nb_vif *b)
{
	const struct nb_accel_vif *bv = b->accel;

	return a->level == 3 && bv && bv->guest && bv->level == 3 && bv->nic == a->nic &&
	       !a->user_detached && !bv->user_detached;
}


/*
 * accel-local-macs of every guest-driven vif on `bridge`: the MACs of the other
 * connected vifs there that the NIC cannot reach (the guest sends frames to them
 * on the rings; the NIC would put them on the wire). `gone` is leaving: omitted.
 */
void nba_local_macs_refresh(struct nb *nb, const char *bridge, const struct nb_vif *gone)
{
	for (struct nb_vif *v = nb->vifs; v; v = v->next) {
		struct nb_accel_vif *av = v->accel;
		char list[sizeof(av->local_macs)] = "";
		size_t off = 0;
		unsigned n = 0;

		if (v == gone || !av || !av->guest || strcmp(v->bridge_name, bridge))
			continue;
		for (struct nb_vif *o = nb->vifs; o && n < L2_MAX_LOCAL; o = o->next) {
			if (o == v || o == gone || !o->connected ||
			    strcmp(o->bridge_name, bridge) || nic_reaches(av, o))
				continue;
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						n ? " " : "", o->mac);
			n++;
		}
		if (av->local_macs_set && !strcmp(list, av->local_macs))
			continue;
		snprintf(av->local_macs, sizeof(av->local_macs), "%s", list);
		av->local_macs_set = true;
		nba_be_node_write(v, "accel-local-macs", list);
	}
}
