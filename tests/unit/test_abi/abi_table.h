/*
 * The one list of the ABI conformance test, included by both of its sides:
 * tests/unit/test_abi.c (pvnet's headers) and tests/unit/test_abi/xen_side.c
 * (Debian's libxen-dev headers, Xen 4.17). Each side includes its own headers,
 * then this file once, which defines its table and count:
 *
 *   #define ABI_TABLE pvnet_abi            the array's name; the count is
 *                                          ABI_TABLE##_count (pvnet_abi_count)
 *   #define ABI_TX_RING_ENTRIES <expr>     the two values each side computes its
 *   #define ABI_RX_RING_ENTRIES <expr>     own way (Xen 4.17 declares ring[1], so
 *                                          its side uses __CONST_RING_SIZE)
 *
 * Names are produced by the same macros on both sides:
 *   SZ(T)            "sizeof(T)"          T is a full type name, e.g. struct x
 *   OFF(T, member)   "offsetof(T,member)" member may be nested: u.gso.size
 *   MSZ(T, member)   "sizeof(T.member)"
 *   C(X)             "X"                  a constant
 *   TY(T, member)    "type(T.member)"     +n unsigned / -n signed n-byte integer
 *   V(name, expr)    "name"               any other value
 * Groups start with a G("group") marker; each group is one cmocka case of
 * test_abi.c, which compares the two tables entry by entry. A new entry goes
 * here, once, and is checked against Xen's headers at the next build.
 */
#ifndef PVNET_TEST_ABI_TABLE_H
#define PVNET_TEST_ABI_TABLE_H

#include <stddef.h>
#include <stdint.h>

#if !defined(ABI_TABLE) || !defined(ABI_TX_RING_ENTRIES) || !defined(ABI_RX_RING_ENTRIES)
#error "define ABI_TABLE, ABI_TX_RING_ENTRIES and ABI_RX_RING_ENTRIES before including abi_table.h"
#endif

struct abi_entry {
	const char *name;
	long long value;
};

#define G(g) {"@" g, 0}
#define SZ(T) {"sizeof(" #T ")", (long long)sizeof(T)}
#define OFF(T, m) {"offsetof(" #T "," #m ")", (long long)offsetof(T, m)}
#define MSZ(T, m) {"sizeof(" #T "." #m ")", (long long)sizeof(((T *)0)->m)}
#define C(X) {#X, (long long)(X)}
#define V(n, e) {n, (long long)(e)}
/* Integer type of a member as a code: +bytes for unsigned, -bytes for signed. */
#define TYPECODE(x)                                                                      \
	_Generic((x), int8_t: -1, uint8_t: 1, int16_t: -2, uint16_t: 2, int32_t: -4,     \
		 uint32_t: 4, int64_t: -8, uint64_t: 8, default: 0)
#define TY(T, m) {"type(" #T "." #m ")", TYPECODE(((T *)0)->m)}
#define ABI_CAT_(a, b) a##b
#define ABI_CAT(a, b) ABI_CAT_(a, b)

extern const struct abi_entry ABI_TABLE[];
extern const size_t ABI_CAT(ABI_TABLE, _count);

const struct abi_entry ABI_TABLE[] = {
	G("netif_tx_request"),
	SZ(struct netif_tx_request),
	OFF(struct netif_tx_request, gref),
	OFF(struct netif_tx_request, offset),
	OFF(struct netif_tx_request, flags),
	OFF(struct netif_tx_request, id),
	OFF(struct netif_tx_request, size),
	TY(struct netif_tx_request, gref),
	TY(struct netif_tx_request, offset),
	TY(struct netif_tx_request, flags),
	TY(struct netif_tx_request, id),
	TY(struct netif_tx_request, size),

	G("netif_tx_response"),
	SZ(struct netif_tx_response),
	OFF(struct netif_tx_response, id),
	OFF(struct netif_tx_response, status),
	TY(struct netif_tx_response, id),
	TY(struct netif_tx_response, status),

	G("netif_rx_request"),
	SZ(struct netif_rx_request),
	OFF(struct netif_rx_request, id),
	OFF(struct netif_rx_request, pad),
	OFF(struct netif_rx_request, gref),
	TY(struct netif_rx_request, id),
	TY(struct netif_rx_request, gref),

	G("netif_rx_response"),
	SZ(struct netif_rx_response),
	OFF(struct netif_rx_response, id),
	OFF(struct netif_rx_response, offset),
	OFF(struct netif_rx_response, flags),
	OFF(struct netif_rx_response, status),
	TY(struct netif_rx_response, id),
	TY(struct netif_rx_response, offset),
	TY(struct netif_rx_response, flags),
	TY(struct netif_rx_response, status),

	G("netif_extra_info"),
	SZ(struct netif_extra_info),
	OFF(struct netif_extra_info, type),
	OFF(struct netif_extra_info, flags),
	OFF(struct netif_extra_info, u),
	MSZ(struct netif_extra_info, u),
	OFF(struct netif_extra_info, u.gso.size),
	OFF(struct netif_extra_info, u.gso.type),
	OFF(struct netif_extra_info, u.gso.pad),
	OFF(struct netif_extra_info, u.gso.features),
	MSZ(struct netif_extra_info, u.gso),
	OFF(struct netif_extra_info, u.mcast.addr),
	MSZ(struct netif_extra_info, u.mcast.addr),
	OFF(struct netif_extra_info, u.hash.type),
	OFF(struct netif_extra_info, u.hash.algorithm),
	OFF(struct netif_extra_info, u.hash.value),
	MSZ(struct netif_extra_info, u.hash.value),
	OFF(struct netif_extra_info, u.pad),
	MSZ(struct netif_extra_info, u.pad),

	G("sring"),
	OFF(struct netif_tx_sring, req_prod),
	OFF(struct netif_tx_sring, req_event),
	OFF(struct netif_tx_sring, rsp_prod),
	OFF(struct netif_tx_sring, rsp_event),
	OFF(struct netif_tx_sring, pvt),
	MSZ(struct netif_tx_sring, pvt),
	OFF(struct netif_tx_sring, __pad),
	MSZ(struct netif_tx_sring, __pad),
	OFF(struct netif_tx_sring, ring),
	MSZ(struct netif_tx_sring, ring[0]),
	TY(struct netif_tx_sring, req_prod),
	OFF(struct netif_rx_sring, req_prod),
	OFF(struct netif_rx_sring, req_event),
	OFF(struct netif_rx_sring, rsp_prod),
	OFF(struct netif_rx_sring, rsp_event),
	OFF(struct netif_rx_sring, ring),
	MSZ(struct netif_rx_sring, ring[0]),
	SZ(RING_IDX),

	G("ring_size"),
	V("tx_ring_entries(4096)", ABI_TX_RING_ENTRIES),
	V("rx_ring_entries(4096)", ABI_RX_RING_ENTRIES),

	G("grant_entry_v1"),
	SZ(struct grant_entry_v1),
	OFF(struct grant_entry_v1, flags),
	OFF(struct grant_entry_v1, domid),
	OFF(struct grant_entry_v1, frame),
	TY(struct grant_entry_v1, flags),
	TY(struct grant_entry_v1, domid),
	TY(struct grant_entry_v1, frame),
	SZ(domid_t),
	SZ(grant_ref_t),
	SZ(grant_handle_t),
	SZ(xen_pfn_t),

	G("gnttab_map_grant_ref"),
	SZ(struct gnttab_map_grant_ref),
	OFF(struct gnttab_map_grant_ref, host_addr),
	OFF(struct gnttab_map_grant_ref, flags),
	OFF(struct gnttab_map_grant_ref, ref),
	OFF(struct gnttab_map_grant_ref, dom),
	OFF(struct gnttab_map_grant_ref, status),
	OFF(struct gnttab_map_grant_ref, handle),
	OFF(struct gnttab_map_grant_ref, dev_bus_addr),
	TY(struct gnttab_map_grant_ref, status),
	TY(struct gnttab_map_grant_ref, handle),
	TY(struct gnttab_map_grant_ref, flags),

	G("gnttab_unmap_grant_ref"),
	SZ(struct gnttab_unmap_grant_ref),
	OFF(struct gnttab_unmap_grant_ref, host_addr),
	OFF(struct gnttab_unmap_grant_ref, dev_bus_addr),
	OFF(struct gnttab_unmap_grant_ref, handle),
	OFF(struct gnttab_unmap_grant_ref, status),
	TY(struct gnttab_unmap_grant_ref, status),

	G("gnttab_copy"),
	SZ(struct gnttab_copy),
	OFF(struct gnttab_copy, source),
	OFF(struct gnttab_copy, source.u.ref),
	OFF(struct gnttab_copy, source.u.gmfn),
	OFF(struct gnttab_copy, source.domid),
	OFF(struct gnttab_copy, source.offset),
	MSZ(struct gnttab_copy, source),
	OFF(struct gnttab_copy, dest),
	OFF(struct gnttab_copy, dest.u.ref),
	OFF(struct gnttab_copy, dest.u.gmfn),
	OFF(struct gnttab_copy, dest.domid),
	OFF(struct gnttab_copy, dest.offset),
	OFF(struct gnttab_copy, len),
	OFF(struct gnttab_copy, flags),
	OFF(struct gnttab_copy, status),
	TY(struct gnttab_copy, status),
	TY(struct gnttab_copy, len),
	TY(struct gnttab_copy, flags),
	TY(struct gnttab_copy, source.u.gmfn),

	G("gnttab_transfer"),
	SZ(struct gnttab_transfer),
	OFF(struct gnttab_transfer, mfn),
	OFF(struct gnttab_transfer, domid),
	OFF(struct gnttab_transfer, ref),
	OFF(struct gnttab_transfer, status),
	TY(struct gnttab_transfer, status),
	TY(struct gnttab_transfer, mfn),

	G("evtchn_status"),
	SZ(struct evtchn_status),
	OFF(struct evtchn_status, dom),
	OFF(struct evtchn_status, port),
	OFF(struct evtchn_status, status),
	OFF(struct evtchn_status, vcpu),
	OFF(struct evtchn_status, u),
	MSZ(struct evtchn_status, u),
	OFF(struct evtchn_status, u.unbound.dom),
	OFF(struct evtchn_status, u.interdomain.dom),
	OFF(struct evtchn_status, u.interdomain.port),
	OFF(struct evtchn_status, u.pirq),
	OFF(struct evtchn_status, u.virq),
	SZ(evtchn_port_t),

	G("GNTST"),
	C(GNTST_okay), C(GNTST_general_error), C(GNTST_bad_domain), C(GNTST_bad_gntref),
	C(GNTST_bad_handle), C(GNTST_bad_virt_addr), C(GNTST_bad_dev_addr),
	C(GNTST_no_device_space), C(GNTST_permission_denied), C(GNTST_bad_page),
	C(GNTST_bad_copy_arg), C(GNTST_address_too_big), C(GNTST_eagain), C(GNTST_no_space),

	G("GTF"),
	C(GTF_invalid), C(GTF_permit_access), C(GTF_accept_transfer), C(GTF_transitive),
	C(GTF_type_mask), C(_GTF_readonly), C(GTF_readonly), C(_GTF_reading), C(GTF_reading),
	C(_GTF_writing), C(GTF_writing), C(_GTF_PWT), C(GTF_PWT), C(_GTF_PCD), C(GTF_PCD),
	C(_GTF_PAT), C(GTF_PAT), C(_GTF_sub_page), C(GTF_sub_page),
	C(_GTF_transfer_committed), C(GTF_transfer_committed), C(_GTF_transfer_completed),
	C(GTF_transfer_completed),

	G("GNTMAP"),
	C(_GNTMAP_device_map), C(GNTMAP_device_map), C(_GNTMAP_host_map), C(GNTMAP_host_map),
	C(_GNTMAP_readonly), C(GNTMAP_readonly), C(_GNTMAP_application_map),
	C(GNTMAP_application_map), C(_GNTMAP_contains_pte), C(GNTMAP_contains_pte),

	G("GNTCOPY"),
	C(_GNTCOPY_source_gref), C(GNTCOPY_source_gref), C(_GNTCOPY_dest_gref),
	C(GNTCOPY_dest_gref),

	G("GNTTABOP"),
	C(GNTTABOP_map_grant_ref), C(GNTTABOP_unmap_grant_ref), C(GNTTABOP_setup_table),
	C(GNTTABOP_dump_table), C(GNTTABOP_transfer), C(GNTTABOP_copy), C(GNTTABOP_query_size),

	G("grant_table_misc"),
	C(GNTTAB_NR_RESERVED_ENTRIES), C(GNTTAB_RESERVED_CONSOLE), C(GNTTAB_RESERVED_XENSTORE),
	C(DOMID_FIRST_RESERVED), C(DOMID_SELF), C(DOMID_INVALID),

	G("NETTXF"),
	C(_NETTXF_csum_blank), C(NETTXF_csum_blank), C(_NETTXF_data_validated),
	C(NETTXF_data_validated), C(_NETTXF_more_data), C(NETTXF_more_data),
	C(_NETTXF_extra_info), C(NETTXF_extra_info),

	G("NETRXF"),
	C(_NETRXF_data_validated), C(NETRXF_data_validated), C(_NETRXF_csum_blank),
	C(NETRXF_csum_blank), C(_NETRXF_more_data), C(NETRXF_more_data), C(_NETRXF_extra_info),
	C(NETRXF_extra_info), C(_NETRXF_gso_prefix), C(NETRXF_gso_prefix),

	G("NETIF_RSP"),
	C(NETIF_RSP_DROPPED), C(NETIF_RSP_ERROR), C(NETIF_RSP_OKAY), C(NETIF_RSP_NULL),

	G("XEN_NETIF_EXTRA"),
	C(XEN_NETIF_EXTRA_TYPE_NONE), C(XEN_NETIF_EXTRA_TYPE_GSO),
	C(XEN_NETIF_EXTRA_TYPE_MCAST_ADD), C(XEN_NETIF_EXTRA_TYPE_MCAST_DEL),
	C(XEN_NETIF_EXTRA_TYPE_HASH), C(XEN_NETIF_EXTRA_TYPE_MAX),
	C(_XEN_NETIF_EXTRA_FLAG_MORE), C(XEN_NETIF_EXTRA_FLAG_MORE),
	C(XEN_NETIF_GSO_TYPE_NONE), C(XEN_NETIF_GSO_TYPE_TCPV4), C(XEN_NETIF_GSO_TYPE_TCPV6),

	G("XEN_NETIF_limits"),
	C(XEN_NETIF_NR_SLOTS_MIN), C(XEN_NETIF_MAX_TX_SIZE),

	G("XEN_NETIF_CTRL_HASH"),
	C(_XEN_NETIF_CTRL_HASH_TYPE_IPV4), C(XEN_NETIF_CTRL_HASH_TYPE_IPV4),
	C(_XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP), C(XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP),
	C(_XEN_NETIF_CTRL_HASH_TYPE_IPV6), C(XEN_NETIF_CTRL_HASH_TYPE_IPV6),
	C(_XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP), C(XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP),
	C(XEN_NETIF_CTRL_HASH_ALGORITHM_NONE), C(XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ),

	G("XenbusState"),
	C(XenbusStateUnknown), C(XenbusStateInitialising), C(XenbusStateInitWait),
	C(XenbusStateInitialised), C(XenbusStateConnected), C(XenbusStateClosing),
	C(XenbusStateClosed), C(XenbusStateReconfiguring), C(XenbusStateReconfigured),
	SZ(XenbusState),

	G("EVTCHNOP"),
	C(EVTCHNOP_bind_interdomain), C(EVTCHNOP_bind_virq), C(EVTCHNOP_bind_pirq),
	C(EVTCHNOP_close), C(EVTCHNOP_send), C(EVTCHNOP_status), C(EVTCHNOP_alloc_unbound),
	C(EVTCHNOP_bind_ipi), C(EVTCHNOP_bind_vcpu), C(EVTCHNOP_unmask),

	G("EVTCHNSTAT"),
	C(EVTCHNSTAT_closed), C(EVTCHNSTAT_unbound), C(EVTCHNSTAT_interdomain),
	C(EVTCHNSTAT_pirq), C(EVTCHNSTAT_virq), C(EVTCHNSTAT_ipi),
};

const size_t ABI_CAT(ABI_TABLE, _count) = sizeof(ABI_TABLE) / sizeof(ABI_TABLE[0]);

#endif /* PVNET_TEST_ABI_TABLE_H */
