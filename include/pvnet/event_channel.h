/* SPDX-License-Identifier: MIT */
/*
 * pvnet/event_channel.h - event-channel ABI constants and structs with Xen's
 * values (public/event_channel.h). Ports are per domain; port 0 is never
 * allocated.
 */
#ifndef PVNET_EVENT_CHANNEL_H
#define PVNET_EVENT_CHANNEL_H

#include <stdint.h>

#include "grant_table.h"

typedef uint32_t evtchn_port_t;

#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq 1
#define EVTCHNOP_bind_pirq 2
#define EVTCHNOP_close 3
#define EVTCHNOP_send 4
#define EVTCHNOP_status 5
#define EVTCHNOP_alloc_unbound 6
#define EVTCHNOP_bind_ipi 7
#define EVTCHNOP_bind_vcpu 8
#define EVTCHNOP_unmask 9

/* The 2-level ABI addresses 64 x 64 = 4096 ports. */
#define EVTCHN_2L_NR_CHANNELS 4096

#define EVTCHNSTAT_closed 0      /* not in use */
#define EVTCHNSTAT_unbound 1     /* waiting for a bind from status.u.unbound.dom */
#define EVTCHNSTAT_interdomain 2 /* connected to a port of another domain */
#define EVTCHNSTAT_pirq 3
#define EVTCHNSTAT_virq 4
#define EVTCHNSTAT_ipi 5

struct evtchn_status {
	domid_t dom;        /* IN: DOMID_SELF or (privileged) any domain */
	evtchn_port_t port; /* IN */
	uint32_t status;    /* OUT: EVTCHNSTAT_* */
	uint32_t vcpu;      /* OUT */
	union {
		struct {
			domid_t dom;
		} unbound;
		struct {
			domid_t dom;
			evtchn_port_t port;
		} interdomain;
		uint32_t pirq;
		uint32_t virq;
	} u;
};

#endif /* PVNET_EVENT_CHANNEL_H */
