/* SPDX-License-Identifier: MIT */
/*
 * pvnet/hypercall.h - wire format of hypercalls from a guest process to
 * pvnetd over a Unix SOCK_SEQPACKET socket.
 *
 * pvnetd creates one socketpair per domain and hands one end to the guest
 * process it spawns: the socket identifies the domain, nothing in a message
 * does. Every request and every response is exactly one PVHC_MSG_SIZE-byte
 * message (struct pvhc_msg); fds travel with the response as SCM_RIGHTS, in
 * the order given for each op. One request is outstanding at a time; the
 * response echoes the request's seq and op.
 *
 * Errors: hdr.ret in the response is 0 or -errno (Linux values). A message of
 * the wrong size -> -EINVAL, wrong magic or version -> -EINVAL (seq echoed
 * when the header was complete), unknown op -> -ENOSYS.
 *
 * Grant batches (GNTTAB_COPY, GNTTAB_TRANSFER) do not travel in the message:
 * the array lives in the guest's own memory at guest-physical byte address
 * `gpa` (frame = gpa / 4096). pvnetd copies it out once, runs the ops as the
 * calling domain and writes back only each op's `status` field. count is at
 * most PVHC_MAX_BATCH; the array must lie inside guest memory.
 */
#ifndef PVNET_HYPERCALL_H
#define PVNET_HYPERCALL_H

#include <stddef.h>
#include <stdint.h>

#include "event_channel.h"
#include "grant_table.h"

#define PVHC_MAGIC 0x43485650u /* "PVHC" little-endian */
#define PVHC_VERSION 1
#define PVHC_MSG_SIZE 256
#define PVHC_HDR_SIZE 64
#define PVHC_MAX_FDS 3
#define PVHC_MAX_BATCH 512

enum pvhc_op {
	PVHC_OP_HELLO = 1,                   /* -> hello; fds: memory, grant table[, store] */
	PVHC_OP_EVTCHN_ALLOC_UNBOUND = 2,    /* alloc_unbound */
	PVHC_OP_EVTCHN_BIND_INTERDOMAIN = 3, /* bind_interdomain */
	PVHC_OP_EVTCHN_SEND = 4,             /* port */
	PVHC_OP_EVTCHN_CLOSE = 5,            /* port */
	PVHC_OP_EVTCHN_STATUS = 6,           /* status */
	PVHC_OP_EVTCHN_GET_FDS = 7,          /* port; fds: wait, notify */
	PVHC_OP_GNTTAB_COPY = 8,             /* batch (struct gnttab_copy[]) */
	PVHC_OP_GNTTAB_TRANSFER = 9,         /* batch (struct gnttab_transfer[]) */
	PVHC_OP_DECREASE_RESERVATION = 10,   /* reservation */
	PVHC_OP_ACCEL_QP = 11,               /* accel_qp; fds: memory, doorbell, interrupt */
	PVHC_OP_LOGDIRTY = 12, /* none; fds: the shared log memfd, kick eventfd (pvnet/migrate.h) */
	PVHC_OP_MAX = 12,
	/* first message on <run-dir>/adopt.sock only (tools/pvnetd/adopt.c), never
	 * dispatched: hello (domid, mem_size, nr_grant_frames); fds: memory, grant table */
	PVHC_OP_ADOPT = 64,
	/* first message on <run-dir>/migrate.sock only (tools/pvnetd/migrate.c):
	 * a migrated guest resumes on this host; hello.domid, raw[32..63] the token */
	PVHC_OP_MIGRATE_IN = 65,
};

struct pvhc_hdr {
	uint32_t magic;   /* PVHC_MAGIC */
	uint16_t version; /* PVHC_VERSION */
	uint16_t op;      /* enum pvhc_op */
	uint32_t seq;     /* chosen by the guest, echoed */
	int32_t ret;      /* response: 0 or -errno; request: 0 */
	uint32_t nfds;    /* response: number of SCM_RIGHTS fds attached */
	uint8_t pad[44];
};

/* HELLO response. */
struct pvhc_hello {
	domid_t domid;
	uint16_t has_xs;          /* 1: the third fd is a connected store socket */
	int32_t xs_error;         /* -errno from the store connector, when has_xs is 0 */
	uint64_t mem_size;        /* bytes; the memory fd has this size */
	uint32_t nr_grant_frames; /* the grant-table fd is nr_grant_frames * 4096 bytes */
	uint32_t nr_grant_entries;
	uint32_t max_evtchns;
	uint32_t pad;
};

struct pvhc_alloc_unbound {
	domid_t dom;        /* DOMID_SELF or the caller */
	domid_t remote_dom; /* who may bind */
	evtchn_port_t port; /* OUT */
};

struct pvhc_bind_interdomain {
	domid_t remote_dom;
	uint16_t pad;
	evtchn_port_t remote_port;
	evtchn_port_t local_port; /* OUT */
};

struct pvhc_port {
	evtchn_port_t port;
};

/* A fixed-layout struct evtchn_status. */
struct pvhc_status {
	domid_t dom; /* IN: DOMID_SELF or the caller */
	uint16_t pad;
	evtchn_port_t port; /* IN */
	uint32_t status;    /* OUT: EVTCHNSTAT_* */
	uint32_t vcpu;
	domid_t remote_dom; /* unbound: who may bind; interdomain: peer */
	uint16_t pad2;
	evtchn_port_t remote_port; /* interdomain */
};

struct pvhc_batch {
	uint64_t gpa;   /* guest-physical byte address of the op array */
	uint32_t count; /* 1..PVHC_MAX_BATCH */
	uint32_t pad;
};

struct pvhc_reservation {
	uint64_t pfn;
};

/*
 * ACCEL_QP: the NIC queue pair dom0 attached to this domain's vif `handle`
 * (Levels 2-3; the backend vif dir announces it with accel-frontend/accel-qp).
 * dom must be DOMID_SELF or the caller's own id (-EPERM otherwise: a guest
 * never gets another domain's queue pair). Returns the ring geometry and three
 * fds: the qp memfd (struct accel_qp_shared at 0, rings at tx/rx_ring_off;
 * map it MAP_SHARED, mem_size bytes), the doorbell eventfd (write 8 bytes after
 * publishing producer indices) and the interrupt eventfd (readable when the NIC
 * completed descriptors). Errors: -ENOENT no such vif or no queue pair
 * published for it, -ENOSYS no accelerator connector in this hypervisor.
 */
struct pvhc_accel_qp {
	domid_t dom; /* IN: DOMID_SELF or the caller */
	uint16_t pad;
	uint32_t handle;      /* IN: vif number */
	uint32_t qp;          /* IN: queue-pair index (accel-qp node) */
	uint32_t ring_len;    /* OUT: descriptors per ring */
	uint64_t mem_size;    /* OUT: bytes of the memfd */
	uint64_t tx_ring_off; /* OUT */
	uint64_t rx_ring_off; /* OUT */
};

union pvhc_args {
	struct pvhc_hello hello;
	struct pvhc_alloc_unbound alloc_unbound;
	struct pvhc_bind_interdomain bind_interdomain;
	struct pvhc_port port;
	struct pvhc_status status;
	struct pvhc_batch batch;
	struct pvhc_reservation reservation;
	struct pvhc_accel_qp accel_qp;
	uint8_t raw[PVHC_MSG_SIZE - PVHC_HDR_SIZE];
};

struct pvhc_msg {
	struct pvhc_hdr hdr;
	union pvhc_args args;
};

_Static_assert(sizeof(struct pvhc_hdr) == PVHC_HDR_SIZE, "pvhc_hdr");
_Static_assert(sizeof(struct pvhc_msg) == PVHC_MSG_SIZE, "pvhc_msg");
_Static_assert(offsetof(struct pvhc_hdr, seq) == 8, "pvhc_hdr.seq");
_Static_assert(offsetof(struct pvhc_hdr, ret) == 12, "pvhc_hdr.ret");
_Static_assert(sizeof(struct pvhc_hello) == 32, "pvhc_hello");
_Static_assert(sizeof(struct pvhc_alloc_unbound) == 8, "pvhc_alloc_unbound");
_Static_assert(sizeof(struct pvhc_bind_interdomain) == 12, "pvhc_bind_interdomain");
_Static_assert(sizeof(struct pvhc_status) == 24, "pvhc_status");
_Static_assert(sizeof(struct pvhc_batch) == 16, "pvhc_batch");
_Static_assert(sizeof(struct pvhc_accel_qp) == 40, "pvhc_accel_qp");
_Static_assert(offsetof(struct pvhc_accel_qp, mem_size) == 16, "pvhc_accel_qp.mem_size");

#endif /* PVNET_HYPERCALL_H */
