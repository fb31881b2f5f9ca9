/* SPDX-License-Identifier: MIT */
/*
 * pvnet/io/netif.h - the paravirtual NIC wire ABI, byte-compatible with Xen's
 * public/io/netif.h. Sizes and offsets are asserted below and, against
 * Debian's libxen-dev headers, in tests/unit/test_abi.c.
 *
 * Packet framing on the TX ring (guest -> backend):
 *   slot 0: first fragment; its `size` is the length of the WHOLE packet
 *   then, if slot 0 has NETTXF_extra_info: netif_extra_info slots, chained by
 *           XEN_NETIF_EXTRA_FLAG_MORE
 *   then, while the previous data slot has NETTXF_more_data: further fragments,
 *           each `size` its own length
 * Every slot, including extras, gets a netif_tx_response (extras: NETIF_RSP_NULL).
 *
 * On the RX ring the backend answers each posted netif_rx_request in the SAME
 * ring slot; status is the byte count in that slot or a negative NETIF_RSP_*.
 */
#ifndef PVNET_IO_NETIF_H
#define PVNET_IO_NETIF_H

#include <stdint.h>
#include <stddef.h>

#include "ring.h"

typedef uint32_t grant_ref_t;

/* Minimum slots per packet any backend must accept. */
#define XEN_NETIF_NR_SLOTS_MIN 18
#define XEN_NETIF_MAX_TX_SIZE 0xFFFF

/* netif_tx_request.flags */
#define _NETTXF_csum_blank 0
#define NETTXF_csum_blank (1U << _NETTXF_csum_blank) /* checksum not yet computed */
#define _NETTXF_data_validated 1
#define NETTXF_data_validated (1U << _NETTXF_data_validated) /* checksum known good */
#define _NETTXF_more_data 2
#define NETTXF_more_data (1U << _NETTXF_more_data) /* another data slot follows */
#define _NETTXF_extra_info 3
#define NETTXF_extra_info (1U << _NETTXF_extra_info) /* extra-info slot(s) follow */

struct netif_tx_request {
	grant_ref_t gref; /* grant of the page holding this fragment */
	uint16_t offset;  /* offset of the data in that page */
	uint16_t flags;   /* NETTXF_* */
	uint16_t id;      /* echoed in the response */
	uint16_t size;    /* slot 0: whole packet; others: this fragment */
};

/* netif_extra_info.type */
#define XEN_NETIF_EXTRA_TYPE_NONE 0
#define XEN_NETIF_EXTRA_TYPE_GSO 1
#define XEN_NETIF_EXTRA_TYPE_MCAST_ADD 2
#define XEN_NETIF_EXTRA_TYPE_MCAST_DEL 3
#define XEN_NETIF_EXTRA_TYPE_HASH 4
#define XEN_NETIF_EXTRA_TYPE_MAX 5

/* netif_extra_info.flags */
#define _XEN_NETIF_EXTRA_FLAG_MORE 0
#define XEN_NETIF_EXTRA_FLAG_MORE (1U << _XEN_NETIF_EXTRA_FLAG_MORE)

/* GSO types */
#define XEN_NETIF_GSO_TYPE_NONE 0
#define XEN_NETIF_GSO_TYPE_TCPV4 1
#define XEN_NETIF_GSO_TYPE_TCPV6 2

/* Hash types (Toeplitz over these tuples) */
#define _XEN_NETIF_CTRL_HASH_TYPE_IPV4 0
#define XEN_NETIF_CTRL_HASH_TYPE_IPV4 (1U << _XEN_NETIF_CTRL_HASH_TYPE_IPV4)
#define _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP 1
#define XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP (1U << _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP)
#define _XEN_NETIF_CTRL_HASH_TYPE_IPV6 2
#define XEN_NETIF_CTRL_HASH_TYPE_IPV6 (1U << _XEN_NETIF_CTRL_HASH_TYPE_IPV6)
#define _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP 3
#define XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP (1U << _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP)
#define XEN_NETIF_CTRL_HASH_ALGORITHM_NONE 0
#define XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ 1

struct netif_extra_info {
	uint8_t type;  /* XEN_NETIF_EXTRA_TYPE_* */
	uint8_t flags; /* XEN_NETIF_EXTRA_FLAG_* */
	union {
		struct {
			uint16_t size; /* MSS: bytes of payload per segment */
			uint8_t type;  /* XEN_NETIF_GSO_TYPE_* */
			uint8_t pad;
			uint16_t features; /* XEN_NETIF_GSO_FEAT_*, none defined */
		} gso;
		struct {
			uint8_t addr[6];
		} mcast;
		struct {
			uint8_t type;
			uint8_t algorithm;
			uint8_t value[4];
		} hash;
		uint16_t pad[3];
	} u;
};

struct netif_tx_response {
	uint16_t id;
	int16_t status; /* NETIF_RSP_* */
};

struct netif_rx_request {
	uint16_t id; /* echoed in the response */
	uint16_t pad;
	grant_ref_t gref; /* writable grant of the receive buffer page */
};

/* netif_rx_response.flags */
#define _NETRXF_data_validated 0
#define NETRXF_data_validated (1U << _NETRXF_data_validated)
#define _NETRXF_csum_blank 1
#define NETRXF_csum_blank (1U << _NETRXF_csum_blank)
#define _NETRXF_more_data 2
#define NETRXF_more_data (1U << _NETRXF_more_data)
#define _NETRXF_extra_info 3
#define NETRXF_extra_info (1U << _NETRXF_extra_info)
#define _NETRXF_gso_prefix 4
#define NETRXF_gso_prefix (1U << _NETRXF_gso_prefix) /* deprecated */

struct netif_rx_response {
	uint16_t id;
	uint16_t offset; /* data offset in the page */
	uint16_t flags;  /* NETRXF_* */
	int16_t status;  /* bytes in this slot, or NETIF_RSP_* < 0 */
};

#define NETIF_RSP_DROPPED -2
#define NETIF_RSP_ERROR -1
#define NETIF_RSP_OKAY 0
#define NETIF_RSP_NULL 1 /* response to an extra-info slot */

DEFINE_RING_TYPES(netif_tx, struct netif_tx_request, struct netif_tx_response);
DEFINE_RING_TYPES(netif_rx, struct netif_rx_request, struct netif_rx_response);

#define NET_TX_RING_SIZE PVNET_RING_SIZE_FOR(sizeof(union netif_tx_sring_entry))
#define NET_RX_RING_SIZE PVNET_RING_SIZE_FOR(sizeof(union netif_rx_sring_entry))

_Static_assert(sizeof(struct netif_tx_request) == 12, "netif_tx_request");
_Static_assert(offsetof(struct netif_tx_request, offset) == 4, "tx.offset");
_Static_assert(offsetof(struct netif_tx_request, flags) == 6, "tx.flags");
_Static_assert(offsetof(struct netif_tx_request, id) == 8, "tx.id");
_Static_assert(offsetof(struct netif_tx_request, size) == 10, "tx.size");
_Static_assert(sizeof(struct netif_tx_response) == 4, "netif_tx_response");
_Static_assert(sizeof(struct netif_rx_request) == 8, "netif_rx_request");
_Static_assert(sizeof(struct netif_rx_response) == 8, "netif_rx_response");
_Static_assert(sizeof(struct netif_extra_info) == 8, "netif_extra_info");
_Static_assert(offsetof(struct netif_extra_info, u) == 2, "extra.u");
_Static_assert(offsetof(struct netif_tx_sring, ring) == 64, "sring header");
_Static_assert(NET_TX_RING_SIZE == 256, "tx ring size");
_Static_assert(NET_RX_RING_SIZE == 256, "rx ring size");

#endif /* PVNET_IO_NETIF_H */
