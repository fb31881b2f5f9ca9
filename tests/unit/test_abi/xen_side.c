/*
 * The Xen half of the ABI conformance test (tests/unit/test_abi.c): this
 * translation unit sees ONLY Debian's libxen-dev headers (Xen 4.17 public
 * headers) and exports their sizes, offsets and constants as a table of
 * {name, value}. test_abi.c builds the same names from pvnet's headers and
 * compares. The two sides never share a translation unit, so the identically
 * named types and macros cannot clash.
 *
 * The list itself is abi_table.h, shared with test_abi.c.
 */
#define __XEN_TOOLS__ 1 /* latest interface version, every declaration visible */

#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/event_channel.h>
#include <xen/io/ring.h>
#include <xen/io/netif.h>
#include <xen/io/xenbus.h>

#define ABI_TABLE xen_abi
#define ABI_TX_RING_ENTRIES __CONST_RING_SIZE(netif_tx, 4096)
#define ABI_RX_RING_ENTRIES __CONST_RING_SIZE(netif_rx, 4096)
#include "abi_table.h"
