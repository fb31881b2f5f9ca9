/* SPDX-License-Identifier: MIT */
/*
 * pvnet/hv.h - the hypervisor core as dom0 (pvnetd) sees it: domains and their
 * pseudo-physical memory, grant tables, event channels.
 *
 * Threading: every function here may be called from any thread of pvnetd
 * (the control loop, netback workers). Domain lifetime is reference counted:
 * hv_domain_destroy() makes the domain unreachable at once, and its memory is
 * unmapped when the last reference (a mapping handle, an in-flight copy) goes.
 *
 * Errors: int functions return 0 or -errno. Per-operation outcomes of grant
 * batches are GNTST_* codes in each op's `status`; the call itself returns 0
 * when the batch was processed, even if some ops failed.
 *
 * `caller` is the domain on whose behalf an operation runs: 0 for dom0
 * (pvnetd's own code), or a guest's domid when the hypercall dispatcher
 * (hv/hypercall.c) executes a guest's request. DOMID_SELF in an argument
 * means `caller`.
 */
#ifndef PVNET_HV_H
#define PVNET_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_channel.h"
#include "grant_table.h"

#define HV_PAGE_SHIFT 12
#define HV_PAGE_SIZE 4096u

/* Largest pseudo-physical memory of a domain (hv_domain_create -EINVAL above). */
#define HV_MAX_MEM_SIZE (64ull << 30)
/* Highest domid handed to guests (ids are 1..HV_MAX_DOMID, reused only after destroy). */
#define HV_MAX_DOMID 1023
#define HV_NAME_MAX 64

/* Defaults for hv_domain_config fields left 0. */
#define HV_DEFAULT_GRANT_FRAMES 32  /* 32 x 512 = 16384 grant entries */
#define HV_DEFAULT_MAX_EVTCHNS 1024 /* ports 1..1023 */
#define HV_DEFAULT_MAPTRACK 65536   /* grant mappings a guest may hold (as mapper) */

/*
 * Per-domain limits (Xen's model: what one domain may make the hypervisor hold
 * belongs to that domain, never to a shared table every domain needs):
 *
 *   HV_LIMIT_EVTCHNS   ports a guest may have open at once (unbound or bound),
 *                      Xen's max_event_channels (xl default 1023); beyond it
 *                      alloc_unbound / bind_interdomain fail with -ENOSPC.
 *                      Each interdomain port holds one eventfd in pvnetd, so
 *                      this also bounds the fds a guest can make pvnetd hold.
 *   HV_LIMIT_GNT_MAPS  mappings other domains (dom0's netback, in practice)
 *                      may hold of ONE guest's grants at once; beyond it a map
 *                      of that guest's grant gets GNTST_no_space. netback
 *                      needs 2 ring pages + at most 2 x 256 persistent pages
 *                      per queue: 8192 covers 15 full queues; a guest over
 *                      its cap only loses persistent maps (netback falls back
 *                      to grant copy) or its own next ring map.
 *
 * Domain 0 is never limited by these: its own port table holds
 * HV_DOM0_MAX_EVTCHNS ports and it may hold HV_DOM0_MAPTRACK mappings in all,
 * which the per-guest caps above keep any one guest from exhausting.
 */
#define HV_DEFAULT_EVTCHN_LIMIT 1023
#define HV_DEFAULT_GNT_MAPS_LIMIT 8192
#define HV_DOM0_MAX_EVTCHNS 32768   /* 2 ports per netback queue: 16384 queues */
#define HV_DOM0_MAPTRACK (1u << 22) /* dom0's mappings over all guests */

enum hv_limit { HV_LIMIT_EVTCHNS = 0, HV_LIMIT_GNT_MAPS = 1, HV_LIMIT__MAX };

/*
 * PVNET extension to gnttab_copy.flags, dom0 only: the pointer's u.gmfn holds a
 * virtual address in pvnetd (offset is ignored). A guest that sets these gets
 * GNTST_permission_denied.
 */
#define _GNTCOPY_source_va (14)
#define GNTCOPY_source_va (1 << _GNTCOPY_source_va)
#define _GNTCOPY_dest_va (15)
#define GNTCOPY_dest_va (1 << _GNTCOPY_dest_va)

struct hv;

struct hv_domain_config {
	char name[HV_NAME_MAX];   /* unique among live domains, [A-Za-z0-9_.-], non-empty */
	uint64_t mem_size;        /* bytes, multiple of HV_PAGE_SIZE, >= 1 page */
	uint32_t nr_grant_frames; /* 0: HV_DEFAULT_GRANT_FRAMES */
	uint32_t max_evtchns;     /* 0: HV_DEFAULT_MAX_EVTCHNS; at most 4096 */
};

struct hv_domain_info {
	domid_t domid;
	char name[HV_NAME_MAX];
	uint64_t mem_size;
	uint32_t nr_grant_entries;
	uint32_t nr_maps;        /* grant mappings this domain currently holds */
	uint32_t nr_ports_bound; /* event-channel ports not closed */
	uint32_t nr_mapped;      /* mappings other domains hold of this domain's grants */
	uint64_t evtchn_refused; /* port allocations refused at HV_LIMIT_EVTCHNS */
	uint64_t maps_refused;   /* maps of its grants refused at HV_LIMIT_GNT_MAPS */
	bool dying;
};

/* Creates the hypervisor with domain 0 (named "Domain-0", no guest memory). */
int hv_create(struct hv **out);
/* Destroys every domain, then the hypervisor. hv_destroy(NULL) is a no-op. */
void hv_destroy(struct hv *hv);

/*
 * Creates a domain: a memfd of cfg->mem_size (its pseudo-physical memory, in
 * 4 KiB frames) and a memfd for its grant table, both mapped in pvnetd.
 * Returns -EEXIST for a duplicate name, -EINVAL for a bad config, -ENOSPC when
 * no domid is free. On success *domid receives the new id.
 */
int hv_domain_create(struct hv *hv, const struct hv_domain_config *cfg, domid_t *domid);

/*
 * Re-adoption after a pvnetd restart (tools/pvnetd/adopt.c): builds domain
 * `domid` over the memory and grant-table memfds its still-running guest sends
 * back, instead of new ones. Each fd must be a memfd sealed against shrinking
 * and growing, of exactly cfg->mem_size and nr_grant_frames pages; they are
 * dup'ed (the caller keeps its fds). Event channels and grant mappings start
 * empty. -EEXIST if the id or name is taken, -EINVAL for a bad config or fd.
 */
int hv_domain_adopt(struct hv *hv, const struct hv_domain_config *cfg, domid_t domid, int mem_fd,
		    int gnt_fd);
/* New domains get ids above `domid` (ids of guests still to be re-adopted). */
void hv_domain_reserve_ids(struct hv *hv, domid_t domid);

/*
 * Destroys a domain: closes its event channels (peers' ports go back to
 * unbound), drops its mappings of other domains' grants, and releases its
 * memory once no other domain still maps it. -ENOENT if unknown, -EPERM for 0.
 * Mappings that other domains (dom0's netback) hold of its grants are NOT
 * force-released: their host_addr stays valid until gnttab_unmap_grant_ref,
 * and the memory and grant-table mappings go with the last unmap. The domid
 * and name are free again at once.
 */
int hv_domain_destroy(struct hv *hv, domid_t domid);

/* Looks up by name; -ENOENT if none. */
int hv_domain_lookup(struct hv *hv, const char *name, domid_t *domid);
int hv_domain_get_info(struct hv *hv, domid_t domid, struct hv_domain_info *info);
/* Fills up to `max` infos in domid order (dom0 first); returns the count or -errno. */
int hv_domain_list(struct hv *hv, struct hv_domain_info *infos, unsigned max);

/*
 * Duplicates of the domain's memory and grant-table memfds, for handing to the
 * guest process (SCM_RIGHTS). The caller owns and must close the returned fds.
 */
int hv_domain_fds(struct hv *hv, domid_t domid, int *mem_fd, int *gnt_fd);

/*
 * Bounds the number of grant mappings `domid` may hold as mapper (default
 * HV_DEFAULT_MAPTRACK for guests, HV_DOM0_MAPTRACK for dom0, at most that);
 * maps beyond it get GNTST_no_space. Existing mappings are kept.
 * 0 or -ENOENT / -EINVAL (limit 0 or above the maximum).
 */
int hv_domain_set_max_maptrack(struct hv *hv, domid_t domid, uint32_t limit);

/*
 * Sets a per-guest limit (enum hv_limit, see above) for every guest, present
 * and future; usage above a lowered limit is kept, only new allocations are
 * refused. pvnetd sets them from its ledger (`--limit evtchns=N`,
 * `--limit gnt-maps=N`). 0, or -EINVAL (unknown limit, or value 0).
 */
int hv_set_limit(struct hv *hv, enum hv_limit which, uint32_t value);
uint32_t hv_get_limit(struct hv *hv, enum hv_limit which);

/*
 * The per-domain ledger (pvnet/quota.h) to which refusals at these limits are
 * reported (quota_note_refusal of `evtchns` / `gnt-maps`, shown by `pvnet info`).
 * The ledger stays the caller's; unset it (NULL) before destroying it. Limits are
 * still set with hv_set_limit.
 */
struct quota_ledger;
void hv_set_quota(struct hv *hv, struct quota_ledger *q);

/*
 * The store connector: pvnetd registers it so that a guest's HELLO hypercall
 * receives a connected stream fd to the store. fn returns a new fd (ownership
 * passes to the hypervisor, which sends it to the guest and closes its copy)
 * or -errno, in which case the guest gets no store fd. fn is called from the
 * thread running hv_hypercall_handle(). fn NULL unregisters.
 */
typedef int (*hv_xs_connect_fn)(void *arg, domid_t domid);
void hv_set_xs_connector(struct hv *hv, hv_xs_connect_fn fn, void *arg);

/*
 * The accelerator connector (NIC Levels 2-3): netback registers it so that a
 * guest's ACCEL_QP hypercall (pvnet/hypercall.h) receives the memfd, doorbell
 * and interrupt eventfds of a NIC queue pair dom0 attached to ITS vif.
 * fn(arg, domid, handle, qp, out): domid is the calling domain (from its
 * hypercall socket, never from the message); fn returns 0 with three new fds
 * in out (ownership passes to the hypervisor, which sends them and closes its
 * copies) or -errno: -ENOENT no such vif or no queue pair published for it,
 * -EPERM a queue pair that is not this domain's. Called from the thread running
 * hv_hypercall_handle() (pvnetd's control loop). fn NULL unregisters.
 */
struct hv_accel_qp {
	int mem_fd, doorbell_fd, irq_fd;
	uint32_t ring_len;
	uint64_t mem_size;
	uint64_t tx_ring_off, rx_ring_off;
};
typedef int (*hv_accel_connect_fn)(void *arg, domid_t domid, uint32_t handle, uint32_t qp,
				   struct hv_accel_qp *out);
void hv_set_accel_connector(struct hv *hv, hv_accel_connect_fn fn, void *arg);

/* --- Grant tables (v1). All ops validate the entry as Xen does. --- */

/*
 * Maps granted frames into pvnetd (persistent mapping). For each op: dom is the
 * granter, ref the entry; GNTMAP_host_map must be set, GNTMAP_readonly selects
 * a read-only pin. On success status = GNTST_okay, handle identifies the
 * mapping and host_addr is the frame's address in pvnetd, valid until unmap.
 * The entry is pinned: GTF_reading (and GTF_writing unless read-only) stay set,
 * so the granter cannot revoke it. Without GNTMAP_host_map -> general_error;
 * dom unknown -> bad_domain; caller's maptrack full, or the granter's grants
 * already mapped HV_LIMIT_GNT_MAPS times (by anyone) -> no_space; entry not
 * permit_access, sub_page, granted to another domid, or read-only for a write
 * map -> permission_denied; frame beyond the granter's memory or unpopulated
 * -> bad_page. The frame read at the first pin is used until the last unpin.
 * Returns -ESRCH if caller is unknown.
 */
int gnttab_map_grant_ref(struct hv *hv, domid_t caller, struct gnttab_map_grant_ref *ops,
			 unsigned count);
/* Unmaps by handle; GNTST_bad_handle for a handle not held by caller. */
int gnttab_unmap_grant_ref(struct hv *hv, domid_t caller, struct gnttab_unmap_grant_ref *ops,
			   unsigned count);
/*
 * Batched copy. Each side is either a grant (GNTCOPY_*_gref: u.ref of domid's
 * table) or a frame of the caller (u.gmfn, domid DOMID_SELF or caller), or for
 * dom0 a pointer (GNTCOPY_*_va). Xen's checks apply: unknown domain ->
 * bad_domain; raw frame of another domain -> permission_denied; offset+len >
 * 4096 -> bad_copy_arg; ref out of range -> bad_gntref; entry not
 * permit_access or granted to another domid -> permission_denied; read-only
 * destination -> permission_denied; len 0 is a no-op.
 */
int gnttab_copy(struct hv *hv, domid_t caller, struct gnttab_copy *ops, unsigned count);
/*
 * Transfer: frame `mfn` of caller moves to op.domid, which must have entry
 * op.ref of type GTF_accept_transfer granted to caller. The receiving entry's
 * frame field names the (unpopulated) frame slot that receives it; on success
 * the flags gain GTF_transfer_committed|GTF_transfer_completed and the caller's
 * frame reads as zeroes from then on (it is no longer the caller's). As in Xen,
 * the frame is lost to the caller even on failure, except with GNTST_bad_page
 * (frame not the caller's, unpopulated, or pinned by a grant). Receiver errors:
 * bad_domain, bad_gntref, permission_denied (entry not accept_transfer for
 * caller, or already used), general_error (slot out of range or populated).
 */
int gnttab_transfer(struct hv *hv, domid_t caller, struct gnttab_transfer *ops, unsigned count);

/*
 * Gives a frame back (balloon out): the frame is unpopulated afterwards and
 * may be the target of a transfer. -EINVAL out of range, -EBUSY if mapped.
 */
int hv_decrease_reservation(struct hv *hv, domid_t domid, xen_pfn_t pfn);

/* --- Granter side: pure shared-memory operations on an entry array. --- */

/* Publishes entry `ref`: domid and frame first, then flags (wmb between). */
void gnttab_grant_access(struct grant_entry_v1 *table, grant_ref_t ref, domid_t domid,
			 uint32_t frame, bool readonly);
/* Offers to receive a frame from domid into slot `frame`. */
void gnttab_grant_transfer(struct grant_entry_v1 *table, grant_ref_t ref, domid_t domid,
			   uint32_t frame);
/* Revokes entry `ref`: 0 on success, -EBUSY while GTF_reading/GTF_writing is set. */
int gnttab_end_access(struct grant_entry_v1 *table, grant_ref_t ref);

/* --- Event channels. Each port of an interdomain channel has an eventfd. --- */

/*
 * Allocates a port of `dom` (DOMID_SELF: caller; only dom0 may name another)
 * that remote_dom may bind. -ENOSPC when `dom` already has HV_LIMIT_EVTCHNS
 * ports open (a guest; counted in hv_domain_info.evtchn_refused) or its port
 * table is full.
 */
int evtchn_alloc_unbound(struct hv *hv, domid_t caller, domid_t dom, domid_t remote_dom,
			 evtchn_port_t *port);
/*
 * Binds a new port of caller to remote_dom's port, which must be unbound and
 * reserved for caller (else -EINVAL). The new local port is set pending.
 * The new port counts against caller's HV_LIMIT_EVTCHNS (-ENOSPC as above).
 */
int evtchn_bind_interdomain(struct hv *hv, domid_t caller, domid_t remote_dom,
			    evtchn_port_t remote_port, evtchn_port_t *local_port);
/* Signals the peer of `port`. A port that is not bound (closed, unbound) is ignored: returns 0. -EINVAL out of range. */
int evtchn_send(struct hv *hv, domid_t caller, evtchn_port_t port);
/* Closes caller's port; the peer's port returns to unbound (reserved for caller). */
int evtchn_close(struct hv *hv, domid_t caller, evtchn_port_t port);
int evtchn_status(struct hv *hv, domid_t caller, struct evtchn_status *status);
/*
 * The data-path fds of a bound port of `dom`: wait_fd becomes readable when the
 * port is signalled (read 8 bytes to clear), writing 1 to notify_fd signals the
 * peer. Duplicates owned by the caller of this function. -ENOTCONN if the port
 * is not interdomain-bound.
 */
int evtchn_get_fds(struct hv *hv, domid_t dom, evtchn_port_t port, int *wait_fd, int *notify_fd);

/* --- Hypercall transport (server side; wire format in pvnet/hypercall.h). --- */

/*
 * Serves one hypercall message from guest `domid` on `sock` (its end of a
 * SOCK_SEQPACKET socketpair; the socket identifies the domain). Reads one
 * message without blocking, dispatches it, replies (with SCM_RIGHTS fds when
 * the op returns any). Malformed messages get an error reply. Returns 0 when a
 * message was served, -EAGAIN when none was waiting, -ECONNRESET when the peer
 * has gone (EOF or reset: the caller closes sock and cleans up), other -errno
 * on a local failure. fds the guest sends are closed unread. Never blocks on
 * the guest: a reply that does not fit in the socket buffer is dropped.
 */
int hv_hypercall_handle(struct hv *hv, domid_t domid, int sock);

/*
 * Transport-neutral dispatcher: `req`/`len` is one request as received;
 * `rsp` (PVHC_MSG_SIZE bytes) receives the response, always filled when 0 is
 * returned (errors are reported in the response header). fds_out (room for
 * PVHC_MAX_FDS) receives fds the response carries, *nfds_out their count; the
 * caller owns them and must close them after sending. Returns -errno only
 * when no response can be built (unknown domid: -ESRCH).
 */
int hv_hypercall_dispatch(struct hv *hv, domid_t domid, const void *req, size_t len, void *rsp,
			  int *fds_out, int *nfds_out);

#endif /* PVNET_HV_H */
