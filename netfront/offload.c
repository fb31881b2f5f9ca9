/* SPDX-License-Identifier: MIT */
/*
 * netfront offload metadata: virtio_net_hdr (the TAP's language) <-> netif
 * flags and GSO extra info (the ring's), and RX response validation. Pure
 * functions, no state.
 */
#include <errno.h>
#include <string.h>

#include <pvnet/netfront.h>
#include <pvnet/pkt_parse.h>

static const char *const drop_names[NF_DROP__COUNT] = {
	[NF_DROP_TX_RUNT] = "tx_runt",
	[NF_DROP_TX_BAD_VNET] = "tx_bad_vnet_hdr",
	[NF_DROP_TX_TOO_BIG] = "tx_too_big",
	[NF_DROP_TX_BROKEN] = "tx_queue_broken",
	[NF_DROP_TX_BACKEND] = "tx_backend_error",
	[NF_DROP_RX_BAD_RSP] = "rx_bad_response",
	[NF_DROP_RX_BACKEND] = "rx_backend_error",
	[NF_DROP_RX_BAD_EXTRA] = "rx_bad_extra",
	[NF_DROP_RX_CSUM_SETUP] = "rx_csum_setup",
	[NF_DROP_RX_TAP_WRITE] = "rx_tap_write",
};

const char *nf_drop_name(enum nf_drop d)
{
	return (unsigned)d < NF_DROP__COUNT ? drop_names[d] : "unknown";
}

int nf_tx_flags_from_vnet(const struct virtio_net_hdr *vh, bool gso_v4, bool gso_v6,
			  uint16_t *flags, struct netif_extra_info *extra, bool *has_extra)
{
	uint16_t f = 0;
	uint8_t gso_type;

	*has_extra = false;
	if (vh->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return -EOPNOTSUPP;
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		f |= NETTXF_csum_blank | NETTXF_data_validated;
	else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID)
		f |= NETTXF_data_validated;

	switch (vh->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (vh->gso_size == 0)
			return -EOPNOTSUPP;
		gso_type = vh->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 ? XEN_NETIF_GSO_TYPE_TCPV4
								    : XEN_NETIF_GSO_TYPE_TCPV6;
		if ((gso_type == XEN_NETIF_GSO_TYPE_TCPV4 && !gso_v4) ||
		    (gso_type == XEN_NETIF_GSO_TYPE_TCPV6 && !gso_v6))
			return -EOPNOTSUPP;
		memset(extra, 0, sizeof(*extra));
		extra->type = XEN_NETIF_EXTRA_TYPE_GSO;
		extra->u.gso.size = vh->gso_size;
		extra->u.gso.type = gso_type;
		/* a GSO packet always carries a partial checksum */
		f |= NETTXF_csum_blank | NETTXF_data_validated | NETTXF_extra_info;
		*has_extra = true;
		break;
	default: /* UDP, ECN, USO: never offered to the TAP */
		return -EOPNOTSUPP;
	}
	*flags = f;
	return 0;
}

int nf_vnet_from_rx(uint16_t rx_flags, const struct netif_extra_info *gso, const uint8_t *frame,
		    uint32_t len, struct virtio_net_hdr *vh)
{
	struct pvnet_l4_info l4;

	memset(vh, 0, sizeof(*vh));
	if (gso) {
		if (gso->type != XEN_NETIF_EXTRA_TYPE_GSO || gso->u.gso.size == 0)
			return -EINVAL;
		if (gso->u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4)
			vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		else if (gso->u.gso.type == XEN_NETIF_GSO_TYPE_TCPV6)
			vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
		else
			return -EINVAL;
		if (pvnet_l4_locate(frame, len, &l4) < 0 || l4.proto != PVNET_IPPROTO_TCP ||
		    l4.ipv6 != (vh->gso_type == VIRTIO_NET_HDR_GSO_TCPV6))
			return -EINVAL;
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->gso_size = gso->u.gso.size;
		vh->hdr_len = l4.hdr_len;
		vh->csum_start = l4.l4_off;
		vh->csum_offset = l4.csum_offset;
		return 0;
	}
	if (rx_flags & NETRXF_csum_blank) {
		if (pvnet_l4_locate(frame, len, &l4) < 0)
			return -EINVAL;
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = l4.l4_off;
		vh->csum_offset = l4.csum_offset;
	} else if (rx_flags & NETRXF_data_validated) {
		vh->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	return 0;
}

int nf_rx_rsp_check(const struct netif_rx_response *rsp, uint16_t slot_id)
{
	if (rsp->id != slot_id)
		return -EPROTO;
	if (rsp->status < 0)
		return -EIO;
	if ((uint32_t)rsp->offset + (uint32_t)rsp->status > PVNET_RING_PAGE_SIZE)
		return -EPROTO;
	return 0;
}
