/* SPDX-License-Identifier: MIT */
/*
 * pvnet/grant_table.h - grant table ABI, v1, layout-compatible with Xen's
 * public/grant_table.h.
 *
 * A domain's grant table is an array of grant_entry_v1 in memory shared with
 * the hypervisor. The granter publishes an entry with no hypercall:
 *     e->domid = peer; e->frame = pfn; wmb(); e->flags = GTF_permit_access [| GTF_readonly];
 * and revokes it only while neither GTF_reading nor GTF_writing is set, with a
 * compare-and-swap of flags to 0 (gnttab_end_access below). The hypervisor sets
 * and clears GTF_reading / GTF_writing with compare-and-swap while a mapping or
 * a copy uses the frame.
 */
#ifndef PVNET_GRANT_TABLE_H
#define PVNET_GRANT_TABLE_H

#include <stdint.h>
#include <stddef.h>

typedef uint16_t domid_t;
typedef uint32_t grant_ref_t;
typedef uint32_t grant_handle_t;
typedef uint64_t xen_pfn_t;

#define DOMID_FIRST_RESERVED 0x7FF0U
#define DOMID_SELF 0x7FF0U
#define DOMID_INVALID 0x7FF4U

#define GNTTAB_NR_RESERVED_ENTRIES 8
#define GNTTAB_RESERVED_CONSOLE 0
#define GNTTAB_RESERVED_XENSTORE 1

struct grant_entry_v1 {
	uint16_t flags; /* GTF_* */
	domid_t domid;  /* the domain allowed to use the frame */
	uint32_t frame; /* permit_access: the granted frame; accept_transfer: receives the frame */
};
typedef struct grant_entry_v1 grant_entry_v1_t;

#define GNTTAB_ENTRIES_PER_FRAME (4096 / sizeof(struct grant_entry_v1))

/* Entry type, bits 0-1 */
#define GTF_invalid (0U << 0)
#define GTF_permit_access (1U << 0)
#define GTF_accept_transfer (2U << 0)
#define GTF_transitive (3U << 0)
#define GTF_type_mask (3U << 0)

/* Subflags of permit_access */
#define _GTF_readonly (2)
#define GTF_readonly (1U << _GTF_readonly)
#define _GTF_reading (3)
#define GTF_reading (1U << _GTF_reading) /* set by the hypervisor while read-pinned */
#define _GTF_writing (4)
#define GTF_writing (1U << _GTF_writing) /* set by the hypervisor while write-pinned */
#define _GTF_PWT (5)
#define GTF_PWT (1U << _GTF_PWT)
#define _GTF_PCD (6)
#define GTF_PCD (1U << _GTF_PCD)
#define _GTF_PAT (7)
#define GTF_PAT (1U << _GTF_PAT)
#define _GTF_sub_page (8)
#define GTF_sub_page (1U << _GTF_sub_page)

/* Subflags of accept_transfer */
#define _GTF_transfer_committed (2)
#define GTF_transfer_committed (1U << _GTF_transfer_committed)
#define _GTF_transfer_completed (3)
#define GTF_transfer_completed (1U << _GTF_transfer_completed)

/* Operation codes (GNTTABOP_*) */
#define GNTTABOP_map_grant_ref 0
#define GNTTABOP_unmap_grant_ref 1
#define GNTTABOP_setup_table 2
#define GNTTABOP_dump_table 3
#define GNTTABOP_transfer 4
#define GNTTABOP_copy 5
#define GNTTABOP_query_size 6

/* gnttab_map_grant_ref.flags */
#define _GNTMAP_device_map (0)
#define GNTMAP_device_map (1 << _GNTMAP_device_map)
#define _GNTMAP_host_map (1)
#define GNTMAP_host_map (1 << _GNTMAP_host_map)
#define _GNTMAP_readonly (2)
#define GNTMAP_readonly (1 << _GNTMAP_readonly)
#define _GNTMAP_application_map (3)
#define GNTMAP_application_map (1 << _GNTMAP_application_map)
#define _GNTMAP_contains_pte (4)
#define GNTMAP_contains_pte (1 << _GNTMAP_contains_pte)

/*
 * Map a granted frame. IN: flags, ref, dom. OUT: status, handle, host_addr
 * (in pvnet, host_addr receives the address of the mapping in the caller's
 * address space; the caller's value is ignored).
 */
struct gnttab_map_grant_ref {
	uint64_t host_addr;
	uint32_t flags; /* GNTMAP_* */
	grant_ref_t ref;
	domid_t dom;
	int16_t status; /* GNTST_* */
	grant_handle_t handle;
	uint64_t dev_bus_addr;
};

struct gnttab_unmap_grant_ref {
	uint64_t host_addr; /* 0, or must match the mapping */
	uint64_t dev_bus_addr;
	grant_handle_t handle;
	int16_t status; /* GNTST_* */
};

/* Give frame `mfn` of the caller to `domid`, which offered entry `ref` (accept_transfer). */
struct gnttab_transfer {
	xen_pfn_t mfn;
	domid_t domid;
	grant_ref_t ref;
	int16_t status;
};

#define _GNTCOPY_source_gref (0)
#define GNTCOPY_source_gref (1 << _GNTCOPY_source_gref)
#define _GNTCOPY_dest_gref (1)
#define GNTCOPY_dest_gref (1 << _GNTCOPY_dest_gref)

struct gnttab_copy_ptr {
	union {
		grant_ref_t ref; /* with GNTCOPY_*_gref */
		xen_pfn_t
			gmfn; /* otherwise: a frame of the caller (domid must be DOMID_SELF or the caller) */
	} u;
	domid_t domid;
	uint16_t offset;
};

struct gnttab_copy {
	struct gnttab_copy_ptr source, dest;
	uint16_t len;
	uint16_t flags; /* GNTCOPY_* */
	int16_t status; /* GNTST_* */
};

/* Status codes; every error is negative. */
#define GNTST_okay (0)
#define GNTST_general_error (-1)
#define GNTST_bad_domain (-2)
#define GNTST_bad_gntref (-3)
#define GNTST_bad_handle (-4)
#define GNTST_bad_virt_addr (-5)
#define GNTST_bad_dev_addr (-6)
#define GNTST_no_device_space (-7)
#define GNTST_permission_denied (-8)
#define GNTST_bad_page (-9)
#define GNTST_bad_copy_arg (-10)
#define GNTST_address_too_big (-11)
#define GNTST_eagain (-12)
#define GNTST_no_space (-13)

/* Text for a GNTST_* code; "unknown status" out of range. */
static inline const char *gnttab_strstatus(int st)
{
	static const char *const msg[] = {"okay",
					  "undefined error",
					  "unrecognised domain id",
					  "invalid grant reference",
					  "invalid mapping handle",
					  "invalid virtual address",
					  "invalid device address",
					  "no spare translation slot in the I/O MMU",
					  "permission denied",
					  "bad page",
					  "copy arguments cross page boundary",
					  "page address size too large",
					  "operation not done; try again",
					  "out of space"};
	return (st <= 0 && st >= -13) ? msg[-st] : "unknown status";
}

_Static_assert(sizeof(struct grant_entry_v1) == 8, "grant_entry_v1");
_Static_assert(sizeof(struct gnttab_map_grant_ref) == 32, "gnttab_map_grant_ref");
_Static_assert(offsetof(struct gnttab_map_grant_ref, status) == 18, "map.status");
_Static_assert(offsetof(struct gnttab_map_grant_ref, handle) == 20, "map.handle");
_Static_assert(sizeof(struct gnttab_unmap_grant_ref) == 24, "gnttab_unmap_grant_ref");
_Static_assert(sizeof(struct gnttab_copy) == 40, "gnttab_copy");
_Static_assert(offsetof(struct gnttab_copy, dest) == 16, "copy.dest");
_Static_assert(offsetof(struct gnttab_copy, len) == 32, "copy.len");
_Static_assert(offsetof(struct gnttab_copy, status) == 36, "copy.status");
_Static_assert(sizeof(struct gnttab_transfer) == 24, "gnttab_transfer");

#endif /* PVNET_GRANT_TABLE_H */
