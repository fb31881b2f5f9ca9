/* SPDX-License-Identifier: MIT */
/*
 * tools/pvnet-hostile/hostile_hv.h - the hypervisor- and netback-resource attacks of
 * pvnet-hostile (hv.c): event channels, grant maps, queues, store write storms.
 */
#ifndef PVNET_HOSTILE_HV_H
#define PVNET_HOSTILE_HV_H

#include <signal.h>
#include <stddef.h>

#include <pvnet/grant_table.h>

struct hvc;
struct xs_client;

struct hostile_env {
	struct hvc *hv;
	struct xs_client *xs;
	long domid;
	const char *fe, *be; /* vif 0's frontend and backend directories */
	const uint8_t *mac;  /* vif 0's MAC (6 bytes) */
	volatile sig_atomic_t *stop;
};

/*
 * Runs case `c` if it is one of hv.c's: evtchn_flood, map_storm, queues_over,
 * store_storm, state_flap. Reports as main.c does (stdout and /local/domain/<d>/data/hostile),
 * then returns 0 and the caller idles until SIGTERM. -ENOENT: not a case of hv.c.
 */
int hostile_hv_run(const struct hostile_env *env, const char *c);

#endif /* PVNET_HOSTILE_HV_H */
