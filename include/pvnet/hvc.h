/* SPDX-License-Identifier: MIT */
/*
 * pvnet/hvc.h - the guest side of the hypercall transport: what a guest
 * process (pvnet-guest, netfront) uses to talk to the hypervisor in pvnetd.
 *
 * A struct hvc owns: the hypercall socket given to hvc_open (closed by
 * hvc_close), the mappings of the domain's memory and grant table, and the
 * store fd until hvc_take_xs_fd() hands it out.
 *
 * Calls are synchronous, one outstanding request at a time, serialised by a
 * mutex inside the handle, so any thread of the guest may call them. Every
 * call returns 0 or -errno (the hypervisor's error, or a transport error:
 * -ECONNRESET when pvnetd has gone, -EPROTO for a malformed reply).
 *
 * Scratch area: batched grant ops travel through guest memory (see
 * pvnet/hypercall.h). hvc_gnttab_copy/transfer pass the caller's array in
 * place when it already lies inside guest memory (hvc_mem); otherwise they
 * copy it, in chunks, into the LAST HVC_SCRATCH_FRAMES frames of guest memory
 * (fewer if memory is smaller), which the guest must then not use for
 * anything else (netfront allocates buffers below hvc_scratch_pfn()).
 */
#ifndef PVNET_HVC_H
#define PVNET_HVC_H

#include <stddef.h>
#include <stdint.h>

#include "event_channel.h"
#include "grant_table.h"

/* 512 copy ops x 40 bytes = 5 frames. */
#define HVC_SCRATCH_FRAMES 5

struct hvc;

/*
 * Says HELLO on `sock` (a connected SOCK_SEQPACKET socket to pvnetd), maps the
 * memory and grant table it returns. On success the hvc owns sock; on failure
 * the caller still owns it.
 */
int hvc_open(int sock, struct hvc **out);
/* Unmaps, closes the socket and an untaken store fd. NULL is a no-op. */
void hvc_close(struct hvc *h);

/*
 * After pvnetd restarted (the old hypercall socket hung up): on `sock`, a new
 * connection to the restarted pvnetd's adopt socket (<run-dir>/adopt.sock),
 * sends PVHC_OP_ADOPT with our domid and our memory and grant-table memfds,
 * then HELLO; the memory stays mapped as it was. On success the hvc owns sock
 * (the old one is closed), a new store fd waits for hvc_take_xs_fd, and every
 * grant entry's GTF_reading/GTF_writing is cleared (no mapping survives a
 * restart). On failure the caller still owns sock and nothing changed.
 * Callers make no other hvc call meanwhile.
 */
int hvc_reattach(struct hvc *h, int sock);
/*
 * Live migration (pvnet/migrate.h, docs/migration.md). hvc_logdirty_start:
 * fetches the shared log (PVHC_OP_LOGDIRTY, only while pvnetd migrates us),
 * write-protects our memory with userfaultfd and starts a thread that logs
 * each frame's first write of a round and serves pvnetd's harvests.
 * hvc_logdirty_stop ends it (a no-op when off; hvc_close calls it).
 * hvc_migrate_resume: on `sock`, a connection to the destination pvnetd's
 * migrate.sock, presents our domid and the token, says HELLO and maps the
 * destination's memory and grant table over ours at the same addresses; a new
 * store fd waits for hvc_take_xs_fd. On success hvc owns sock and the old
 * socket is closed; on failure before the remap nothing changed.
 */
int hvc_logdirty_start(struct hvc *h);
void hvc_logdirty_stop(struct hvc *h);
int hvc_migrate_resume(struct hvc *h, int sock, const uint8_t token[32]);
/* The hypercall socket (poll it for POLLHUP: pvnetd went away). */
int hvc_sock(const struct hvc *h);

domid_t hvc_domid(const struct hvc *h);
/* The guest's pseudo-physical memory (frame n at byte n * 4096). */
void *hvc_mem(struct hvc *h, size_t *size);
/* First frame of the scratch area (see above). */
uint64_t hvc_scratch_pfn(const struct hvc *h);
/* The guest's grant table, written directly (gnttab_grant_access etc.). */
struct grant_entry_v1 *hvc_grant_table(struct hvc *h, unsigned *nr_entries);
/* The connected store socket; ownership passes to the caller. -ENOENT if none (or taken). */
int hvc_take_xs_fd(struct hvc *h);

/* Event channels of this domain (see pvnet/hv.h for semantics). */
int hvc_evtchn_alloc_unbound(struct hvc *h, domid_t remote_dom, evtchn_port_t *port);
int hvc_evtchn_bind_interdomain(struct hvc *h, domid_t remote_dom, evtchn_port_t remote_port,
				evtchn_port_t *local_port);
/* The caller owns both fds: read wait_fd to consume events, write 1 to notify_fd to signal. */
int hvc_evtchn_get_fds(struct hvc *h, evtchn_port_t port, int *wait_fd, int *notify_fd);
int hvc_evtchn_send(struct hvc *h, evtchn_port_t port);
int hvc_evtchn_close(struct hvc *h, evtchn_port_t port);
/* st->dom (DOMID_SELF or own id) and st->port in; the rest out. */
int hvc_evtchn_status(struct hvc *h, struct evtchn_status *st);

/* Grant batches run as this domain; per-op status written back into ops. */
int hvc_gnttab_copy(struct hvc *h, struct gnttab_copy *ops, unsigned count);
int hvc_gnttab_transfer(struct hvc *h, struct gnttab_transfer *ops, unsigned count);
/* Balloons frame pfn out (it reads as zeroes afterwards). */
int hvc_decrease_reservation(struct hvc *h, xen_pfn_t pfn);

/*
 * The NIC queue pair (Levels 2-3) dom0 attached to this guest's vif `handle`,
 * index `qp` (the backend's accel-qp node). dom: DOMID_SELF (anything else but
 * our own id gets -EPERM). On success the caller owns the three fds in *out
 * (mmap mem_fd MAP_SHARED for mem_size bytes; see pvnet/accel_plugin.h "driver half").
 * -ENOENT: no queue pair published for that vif. On error no fd is left open.
 */
struct hvc_accel_qp {
	int mem_fd, doorbell_fd, irq_fd;
	uint32_t ring_len;
	uint64_t mem_size;
	uint64_t tx_ring_off, rx_ring_off;
};
int hvc_accel_qp_get(struct hvc *h, domid_t dom, unsigned handle, unsigned qp,
		     struct hvc_accel_qp *out);

/*
 * Sends `len` raw bytes as one message and waits for one reply of up to
 * rsp_len bytes (fds it carries are closed). For tests of malformed input.
 * Returns the reply's length or -errno.
 */
int hvc_call_raw(struct hvc *h, const void *req, size_t len, void *rsp, size_t rsp_len);

#endif /* PVNET_HVC_H */
