/* SPDX-License-Identifier: MIT */
/*
 * netfront offload helpers: virtio_net_hdr <-> netif flags / GSO extra, and
 * validation of RX responses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pvnet/netfront.h>

/* Ethernet + IPv4/IPv6 + TCP (doff 5) or UDP headers, payload zero. */
static uint32_t make_frame(uint8_t *f, int ipv6, int udp)
{
	uint32_t off = 14;

	memset(f, 0, 128);
	f[12] = ipv6 ? 0x86 : 0x08;
	f[13] = ipv6 ? 0xdd : 0x00;
	if (ipv6) {
		f[off] = 0x60;
		f[off + 6] = udp ? 17 : 6;
		off += 40;
	} else {
		f[off] = 0x45;
		f[off + 9] = udp ? 17 : 6;
		off += 20;
	}
	if (!udp)
		f[off + 12] = 5 << 4;
	return off + (udp ? 8 : 20) + 10;
}

static void test_tx_plain(void **state)
{
	struct virtio_net_hdr vh = {0};
	struct netif_extra_info ex;
	uint16_t flags = 0xffff;
	bool has = true;

	(void)state;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), 0);
	assert_int_equal(flags, 0);
	assert_false(has);
}

static void test_tx_csum(void **state)
{
	struct virtio_net_hdr vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16};
	struct netif_extra_info ex;
	uint16_t flags;
	bool has;

	(void)state;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), 0);
	assert_int_equal(flags, NETTXF_csum_blank | NETTXF_data_validated);
	assert_false(has);

	vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), 0);
	assert_int_equal(flags, NETTXF_data_validated);
}

static void test_tx_gso(void **state)
{
	struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				    .gso_size = 1448,
				    .hdr_len = 66};
	struct netif_extra_info ex;
	uint16_t flags;
	bool has;

	(void)state;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, false, &flags, &ex, &has), 0);
	assert_true(has);
	assert_true(flags & NETTXF_extra_info);
	assert_true(flags & NETTXF_csum_blank);
	assert_false(flags & NETTXF_more_data);
	assert_int_equal(ex.type, XEN_NETIF_EXTRA_TYPE_GSO);
	assert_int_equal(ex.flags, 0);
	assert_int_equal(ex.u.gso.size, 1448);
	assert_int_equal(ex.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);

	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	vh.gso_size = 1428;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), 0);
	assert_int_equal(ex.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV6);
	assert_int_equal(ex.u.gso.size, 1428);
	/* not offered by the backend */
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, false, &flags, &ex, &has), -EOPNOTSUPP);
}

static void test_tx_unsupported(void **state)
{
	struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_size = 1400};
	struct netif_extra_info ex;
	uint16_t flags;
	bool has;

	(void)state;
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), -EOPNOTSUPP);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), -EOPNOTSUPP);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.gso_size = 0;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), -EOPNOTSUPP);
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	vh.flags = 0x80;
	assert_int_equal(nf_tx_flags_from_vnet(&vh, true, true, &flags, &ex, &has), -EOPNOTSUPP);
}

static void test_rx_csum_blank(void **state)
{
	uint8_t f[128];
	struct virtio_net_hdr vh;
	uint32_t len = make_frame(f, 0, 0);

	(void)state;
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank | NETRXF_data_validated, NULL, f, len,
					 &vh),
			 0);
	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.csum_start, 34);
	assert_int_equal(vh.csum_offset, 16);
	assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);

	len = make_frame(f, 1, 1);
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank, NULL, f, len, &vh), 0);
	assert_int_equal(vh.csum_start, 54);
	assert_int_equal(vh.csum_offset, 6);
}

static void test_rx_bits_swapped(void **state)
{
	uint8_t f[128];
	struct virtio_net_hdr vh;
	uint32_t len = make_frame(f, 0, 0);

	(void)state;
	/* bit 0 on RX is data_validated (on TX it is csum_blank) */
	assert_int_equal(NETRXF_data_validated, NETTXF_csum_blank);
	assert_int_equal(nf_vnet_from_rx(NETRXF_data_validated, NULL, f, len, &vh), 0);
	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	assert_int_equal(nf_vnet_from_rx(0, NULL, f, len, &vh), 0);
	assert_int_equal(vh.flags, 0);
}

static void test_rx_gso(void **state)
{
	uint8_t f[128];
	struct virtio_net_hdr vh;
	struct netif_extra_info ex = {.type = XEN_NETIF_EXTRA_TYPE_GSO};
	uint32_t len = make_frame(f, 1, 0);

	(void)state;
	ex.u.gso.size = 1428;
	ex.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV6;
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank | NETRXF_extra_info, &ex, f, len, &vh),
			 0);
	assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
	assert_int_equal(vh.gso_size, 1428);
	assert_int_equal(vh.hdr_len, 14 + 40 + 20);
	assert_int_equal(vh.csum_start, 54);
	assert_int_equal(vh.csum_offset, 16);
	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);

	/* v4 GSO type on a v6 frame, unknown GSO type, size 0, UDP frame: refused */
	ex.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank, &ex, f, len, &vh), -EINVAL);
	ex.u.gso.type = 7;
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank, &ex, f, len, &vh), -EINVAL);
	ex.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV6;
	ex.u.gso.size = 0;
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank, &ex, f, len, &vh), -EINVAL);
	ex.u.gso.size = 1428;
	len = make_frame(f, 1, 1);
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank, &ex, f, len, &vh), -EINVAL);
}

static void test_rx_csum_unparseable(void **state)
{
	uint8_t arp[60] = {0};
	struct virtio_net_hdr vh;

	(void)state;
	arp[12] = 0x08;
	arp[13] = 0x06;
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank, NULL, arp, sizeof(arp), &vh), -EINVAL);
	/* truncated TCP header */
	uint8_t f[128];
	make_frame(f, 0, 0);
	assert_int_equal(nf_vnet_from_rx(NETRXF_csum_blank, NULL, f, 40, &vh), -EINVAL);
}

static void test_rx_rsp_check(void **state)
{
	struct netif_rx_response r = {.id = 5, .offset = 0, .flags = 0, .status = 1514};

	(void)state;
	assert_int_equal(nf_rx_rsp_check(&r, 5), 0);
	assert_int_equal(nf_rx_rsp_check(&r, 6), -EPROTO);
	r.offset = 4000;
	r.status = 96;
	assert_int_equal(nf_rx_rsp_check(&r, 5), 0);
	r.status = 97;
	assert_int_equal(nf_rx_rsp_check(&r, 5), -EPROTO);
	r.offset = 0xffff;
	r.status = 0x7fff;
	assert_int_equal(nf_rx_rsp_check(&r, 5), -EPROTO);
	r.offset = 0;
	r.status = NETIF_RSP_ERROR;
	assert_int_equal(nf_rx_rsp_check(&r, 5), -EIO);
	r.status = NETIF_RSP_DROPPED;
	assert_int_equal(nf_rx_rsp_check(&r, 5), -EIO);
	r.status = 0;
	assert_int_equal(nf_rx_rsp_check(&r, 5), 0);
}

static void test_drop_names(void **state)
{
	(void)state;
	for (int d = 0; d < NF_DROP__COUNT; d++) {
		assert_non_null(nf_drop_name((enum nf_drop)d));
		assert_string_not_equal(nf_drop_name((enum nf_drop)d), "unknown");
	}
	assert_string_equal(nf_drop_name(NF_DROP__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_plain),      cmocka_unit_test(test_tx_csum),
		cmocka_unit_test(test_tx_gso),        cmocka_unit_test(test_tx_unsupported),
		cmocka_unit_test(test_rx_csum_blank), cmocka_unit_test(test_rx_bits_swapped),
		cmocka_unit_test(test_rx_gso),        cmocka_unit_test(test_rx_csum_unparseable),
		cmocka_unit_test(test_rx_rsp_check),  cmocka_unit_test(test_drop_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
