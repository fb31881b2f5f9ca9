/*
 * ABI conformance: pvnet's wire headers against Xen's public headers.
 *
 * This file sees only pvnet's headers; tests/unit/test_abi/xen_side.c sees
 * only Debian's libxen-dev headers (Xen 4.17). Both include the one list,
 * tests/unit/test_abi/abi_table.h, which builds a table of {name, value} over
 * each side's headers, and every group (one struct or one family of constants)
 * is one test case that compares sizes, member offsets, member integer types
 * and constant values by name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <pvnet/io/ring.h>
#include <pvnet/io/netif.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/grant_table.h>
#include <pvnet/event_channel.h>

#define ABI_TABLE pvnet_abi
#define ABI_TX_RING_ENTRIES NET_TX_RING_SIZE
#define ABI_RX_RING_ENTRIES NET_RX_RING_SIZE
#include "test_abi/abi_table.h"

/* From tests/unit/test_abi/xen_side.c (the same list over Xen's headers). */
extern const struct abi_entry xen_abi[];
extern const size_t xen_abi_count;

/* Index of the first entry of `group` (after its marker), or -1. */
static long group_start(const struct abi_entry *t, size_t n, const char *group)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].name[0] == '@' && !strcmp(t[i].name + 1, group))
			return (long)i + 1;
	return -1;
}

/* Compare every entry of one group, print each difference, fail if any. */
static void check_group(const char *group)
{
	long ours = group_start(pvnet_abi, pvnet_abi_count, group);
	long xen = group_start(xen_abi, xen_abi_count, group);
	size_t i, j, n_ours = 0, n_xen = 0;
	unsigned bad = 0;
	bool found;

	assert_true(ours >= 0);
	assert_true(xen >= 0);
	for (j = (size_t)xen; j < xen_abi_count && xen_abi[j].name[0] != '@'; j++)
		n_xen++;
	for (i = (size_t)ours; i < pvnet_abi_count && pvnet_abi[i].name[0] != '@'; i++) {
		n_ours++;
		found = false;
		for (j = (size_t)xen; j < xen_abi_count && xen_abi[j].name[0] != '@'; j++) {
			if (strcmp(pvnet_abi[i].name, xen_abi[j].name))
				continue;
			found = true;
			if (pvnet_abi[i].value != xen_abi[j].value) {
				print_error("%s: %s is %lld in pvnet, %lld in Xen\n", group,
					    pvnet_abi[i].name, pvnet_abi[i].value,
					    xen_abi[j].value);
				bad++;
			}
		}
		if (!found) {
			print_error("%s: %s not in xen_side.c's table\n", group, pvnet_abi[i].name);
			bad++;
		}
	}
	if (n_ours != n_xen) {
		print_error("%s: %zu entries here, %zu in xen_side.c (keep the lists identical)\n",
			    group, n_ours, n_xen);
		bad++;
	}
	assert_true(n_ours > 0);
	assert_int_equal(bad, 0);
}

static void test_netif_tx_request(void **state)
{
	(void)state;
	check_group("netif_tx_request");
}

static void test_netif_tx_response(void **state)
{
	(void)state;
	check_group("netif_tx_response");
}

static void test_netif_rx_request(void **state)
{
	(void)state;
	check_group("netif_rx_request");
}

static void test_netif_rx_response(void **state)
{
	(void)state;
	check_group("netif_rx_response");
}

static void test_netif_extra_info(void **state)
{
	(void)state;
	check_group("netif_extra_info");
}

static void test_sring(void **state)
{
	(void)state;
	check_group("sring");
}

static void test_ring_size(void **state)
{
	(void)state;
	check_group("ring_size");
}

static void test_grant_entry_v1(void **state)
{
	(void)state;
	check_group("grant_entry_v1");
}

static void test_gnttab_map_grant_ref(void **state)
{
	(void)state;
	check_group("gnttab_map_grant_ref");
}

static void test_gnttab_unmap_grant_ref(void **state)
{
	(void)state;
	check_group("gnttab_unmap_grant_ref");
}

static void test_gnttab_copy(void **state)
{
	(void)state;
	check_group("gnttab_copy");
}

static void test_gnttab_transfer(void **state)
{
	(void)state;
	check_group("gnttab_transfer");
}

static void test_evtchn_status(void **state)
{
	(void)state;
	check_group("evtchn_status");
}

static void test_gntst(void **state)
{
	(void)state;
	check_group("GNTST");
}

static void test_gtf(void **state)
{
	(void)state;
	check_group("GTF");
}

static void test_gntmap(void **state)
{
	(void)state;
	check_group("GNTMAP");
}

static void test_gntcopy(void **state)
{
	(void)state;
	check_group("GNTCOPY");
}

static void test_gnttabop(void **state)
{
	(void)state;
	check_group("GNTTABOP");
}

static void test_grant_table_misc(void **state)
{
	(void)state;
	check_group("grant_table_misc");
}

static void test_nettxf(void **state)
{
	(void)state;
	check_group("NETTXF");
}

static void test_netrxf(void **state)
{
	(void)state;
	check_group("NETRXF");
}

static void test_netif_rsp(void **state)
{
	(void)state;
	check_group("NETIF_RSP");
}

static void test_xen_netif_extra(void **state)
{
	(void)state;
	check_group("XEN_NETIF_EXTRA");
}

static void test_xen_netif_limits(void **state)
{
	(void)state;
	check_group("XEN_NETIF_limits");
}

static void test_xen_netif_ctrl_hash(void **state)
{
	(void)state;
	check_group("XEN_NETIF_CTRL_HASH");
}

static void test_xenbusstate(void **state)
{
	(void)state;
	check_group("XenbusState");
}

static void test_evtchnop(void **state)
{
	(void)state;
	check_group("EVTCHNOP");
}

static void test_evtchnstat(void **state)
{
	(void)state;
	check_group("EVTCHNSTAT");
}

/* The two tables list the same groups in the same order. */
static void test_tables_agree(void **state)
{
	size_t i, j = 0;

	(void)state;
	for (i = 0; i < pvnet_abi_count; i++) {
		if (pvnet_abi[i].name[0] != '@')
			continue;
		while (j < xen_abi_count && xen_abi[j].name[0] != '@')
			j++;
		assert_true(j < xen_abi_count);
		assert_string_equal(pvnet_abi[i].name, xen_abi[j].name);
		j++;
	}
	while (j < xen_abi_count && xen_abi[j].name[0] != '@')
		j++;
	assert_int_equal(j, xen_abi_count);
	assert_int_equal(pvnet_abi_count, xen_abi_count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netif_tx_request),
		cmocka_unit_test(test_netif_tx_response),
		cmocka_unit_test(test_netif_rx_request),
		cmocka_unit_test(test_netif_rx_response),
		cmocka_unit_test(test_netif_extra_info),
		cmocka_unit_test(test_sring),
		cmocka_unit_test(test_ring_size),
		cmocka_unit_test(test_grant_entry_v1),
		cmocka_unit_test(test_gnttab_map_grant_ref),
		cmocka_unit_test(test_gnttab_unmap_grant_ref),
		cmocka_unit_test(test_gnttab_copy),
		cmocka_unit_test(test_gnttab_transfer),
		cmocka_unit_test(test_evtchn_status),
		cmocka_unit_test(test_gntst),
		cmocka_unit_test(test_gtf),
		cmocka_unit_test(test_gntmap),
		cmocka_unit_test(test_gntcopy),
		cmocka_unit_test(test_gnttabop),
		cmocka_unit_test(test_grant_table_misc),
		cmocka_unit_test(test_nettxf),
		cmocka_unit_test(test_netrxf),
		cmocka_unit_test(test_netif_rsp),
		cmocka_unit_test(test_xen_netif_extra),
		cmocka_unit_test(test_xen_netif_limits),
		cmocka_unit_test(test_xen_netif_ctrl_hash),
		cmocka_unit_test(test_xenbusstate),
		cmocka_unit_test(test_evtchnop),
		cmocka_unit_test(test_evtchnstat),
		cmocka_unit_test(test_tables_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
