/* SPDX-License-Identifier: MIT */
/*
 * TAP port: gives the host's own stack a leg on the bridge. IFF_VNET_HDR with
 * TUNSETOFFLOAD(csum, TSO4, TSO6), so 64 KiB TCP segments and partial checksums
 * cross whole in both directions.
 *
 * The tun API forces one read(2)/write(2) per frame; a wake-up reads up to a burst
 * and a send() writes its burst in one go (never a lock per packet: one mutex per
 * burst guards the linearising buffer).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "vsw_private.h"

struct tap_port {
	struct vsw_port *port;
	struct vsw_bridge *br;
	struct vsw_worker *worker;
	struct pvnet_pkt_pool *pool;
	int fd;
	int ifindex;
	char ifname[IFNAMSIZ];
	pthread_mutex_t tx_lock;                            /* scratch + per-burst serialisation */
	uint64_t rx_packets, rx_bytes, rx_errors, rx_nobuf; /* worker thread only */
	uint64_t tx_packets, tx_bytes, tx_errors;           /* under tx_lock */
	uint8_t scratch[VSW_DEV_BUF_SIZE];
};

int vsw_vnet_hdr_to_pkt(const struct virtio_net_hdr *vh, struct pvnet_pkt *pkt)
{
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if ((uint32_t)vh->csum_start + vh->csum_offset + 2 > pkt->len)
			return -EINVAL;
		pkt->flags |= PVNET_PKT_F_CSUM_BLANK;
		pkt->csum_start = vh->csum_start;
		pkt->csum_offset = vh->csum_offset;
	} else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		pkt->flags |= PVNET_PKT_F_DATA_VALIDATED;
	}
	switch (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		pkt->gso_type = PVNET_GSO_TCPV4;
		pkt->gso_size = vh->gso_size;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		pkt->gso_type = PVNET_GSO_TCPV6;
		pkt->gso_size = vh->gso_size;
		break;
	default:
		return -EINVAL; /* UDP fragmentation offload etc.: not carried by the switch */
	}
	if (pkt->gso_type != PVNET_GSO_NONE && !pkt->gso_size)
		return -EINVAL;
	return 0;
}

void vsw_pkt_to_vnet_hdr(const struct pvnet_pkt *pkt, uint16_t vlan_tci, struct virtio_net_hdr *vh)
{
	uint16_t shift = vlan_tci ? PVNET_VLAN_HLEN : 0;

	memset(vh, 0, sizeof(*vh));
	if (pkt->flags & PVNET_PKT_F_CSUM_BLANK) {
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = (uint16_t)(pkt->csum_start + shift);
		vh->csum_offset = pkt->csum_offset;
	} else if (pkt->flags & PVNET_PKT_F_DATA_VALIDATED) {
		vh->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	if (pkt->gso_type != PVNET_GSO_NONE) {
		uint32_t l4 = pkt->csum_start, hl = l4 + 20;
		vh->gso_type = pkt->gso_type == PVNET_GSO_TCPV4 ? VIRTIO_NET_HDR_GSO_TCPV4
								: VIRTIO_NET_HDR_GSO_TCPV6;
		vh->gso_size = pkt->gso_size;
		if ((pkt->flags & PVNET_PKT_F_CSUM_BLANK) && l4 + 13 <= pkt->head_size)
			hl = l4 + (uint32_t)(pkt->data[l4 + 12] >> 4) * 4;
		vh->hdr_len = (uint16_t)(hl + shift);
	}
}

void vsw_pool_release(struct pvnet_pkt_pool *pool, unsigned count, const char *who)
{
	if (!pool)
		return;
	for (int i = 0; i < 1000 && pvnet_pkt_pool_avail(pool) != count; i++)
		usleep(1000);
	if (pvnet_pkt_pool_avail(pool) == count)
		pvnet_pkt_pool_destroy(pool);
	else
		PVLOG(WARN, VSW_LOG, "%s: %u packets still held elsewhere, pool leaked", who,
		      count - pvnet_pkt_pool_avail(pool));
}

static int tap_rx_poll(void *arg, unsigned budget)
{
	struct tap_port *tp = arg;
	struct pvnet_pkt_batch b;
	struct virtio_net_hdr vh;
	unsigned got = 0;
	int rc = 0;

	b.count = 0;
	while (got < budget) {
		struct pvnet_pkt *pkt = pvnet_pkt_alloc(tp->pool);
		struct iovec iov[2] = {{&vh, sizeof(vh)}, {NULL, 0}};
		ssize_t n;

		/* no buffer: read into scratch and drop, as a NIC without descriptors does
		 * (otherwise the level-triggered fd would spin the worker) */
		iov[1].iov_base = pkt ? pkt->buf : tp->scratch;
		iov[1].iov_len = pkt ? pkt->buf_size : sizeof(tp->scratch);
		if (!pkt)
			pthread_mutex_lock(&tp->tx_lock);
		n = readv(tp->fd, iov, 2);
		if (!pkt)
			pthread_mutex_unlock(&tp->tx_lock);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				rc = -errno;
			pvnet_pkt_put(pkt);
			break;
		}
		got++;
		if (!pkt) {
			tp->rx_nobuf++;
			continue;
		}
		if ((size_t)n < sizeof(vh) + PVNET_ETH_HLEN) {
			tp->rx_errors++;
			pvnet_pkt_put(pkt);
			continue;
		}
		pkt->len = pkt->head_size = (uint32_t)((size_t)n - sizeof(vh));
		if (vsw_vnet_hdr_to_pkt(&vh, pkt)) {
			PVLOG_RL(WARN, VSW_LOG, "%s: unsupported virtio header (gso %u)",
				 tp->ifname, vh.gso_type);
			tp->rx_errors++;
			pvnet_pkt_put(pkt);
			continue;
		}
		tp->rx_packets++;
		tp->rx_bytes += pkt->len;
		b.vlan_tci[b.count] = 0;
		b.pkts[b.count++] = pkt;
	}
	if (b.count)
		vsw_input(tp->br, tp->port, &b);
	return rc ? rc : (int)got;
}

static int tap_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct tap_port *tp = vsw_port_priv(port);
	unsigned i;

	pthread_mutex_lock(&tp->tx_lock);
	for (i = 0; i < batch->count; i++) {
		struct pvnet_pkt *pkt = batch->pkts[i];
		uint16_t tci = batch->vlan_tci[i];
		uint8_t tag[PVNET_VLAN_HLEN] = {PVNET_ETH_P_8021Q >> 8, PVNET_ETH_P_8021Q & 0xff,
						(uint8_t)(tci >> 8), (uint8_t)tci};
		struct virtio_net_hdr vh;
		struct iovec iov[4];
		int iovcnt;
		ssize_t n;

		vsw_pkt_to_vnet_hdr(pkt, tci, &vh);
		iov[0] = (struct iovec){&vh, sizeof(vh)};
		if (pkt->head_size == pkt->len && pkt->len >= 12) {
			if (tci) {
				iov[1] = (struct iovec){pkt->data, 12};
				iov[2] = (struct iovec){tag, sizeof(tag)};
				iov[3] = (struct iovec){pkt->data + 12, pkt->len - 12};
				iovcnt = 4;
			} else {
				iov[1] = (struct iovec){pkt->data, pkt->len};
				iovcnt = 2;
			}
		} else {
			int size = vsw_pkt_linearize(pkt, tci, tp->scratch, sizeof(tp->scratch));
			if (size < 0) {
				PVLOG_RL(WARN, VSW_LOG, "%s: cannot linearise frame: %s",
					 tp->ifname, strerror(-size));
				tp->tx_errors++;
				pvnet_pkt_put(pkt);
				continue;
			}
			iov[1] = (struct iovec){tp->scratch, (size_t)size};
			iovcnt = 2;
		}
		n = writev(tp->fd, iov, iovcnt);
		if (n < 0 && errno == EAGAIN)
			break; /* the rest are the switch's: egress_full */
		if (n < 0) {
			PVLOG_RL(WARN, VSW_LOG, "%s: write: %s", tp->ifname, strerror(errno));
			tp->tx_errors++;
		} else {
			tp->tx_packets++;
			tp->tx_bytes += pkt->len + (tci ? PVNET_VLAN_HLEN : 0);
		}
		pvnet_pkt_put(pkt);
	}
	pthread_mutex_unlock(&tp->tx_lock);
	return (int)i;
}

static int tap_get_stats(struct vsw_port *port, struct vsw_port_dev_stats *st)
{
	struct tap_port *tp = vsw_port_priv(port);

	pthread_mutex_lock(&tp->tx_lock);
	st->rx_packets = __atomic_load_n(&tp->rx_packets, __ATOMIC_RELAXED);
	st->rx_bytes = __atomic_load_n(&tp->rx_bytes, __ATOMIC_RELAXED);
	st->rx_errors = __atomic_load_n(&tp->rx_errors, __ATOMIC_RELAXED) +
			__atomic_load_n(&tp->rx_nobuf, __ATOMIC_RELAXED);
	st->tx_packets = tp->tx_packets;
	st->tx_bytes = tp->tx_bytes;
	st->tx_errors = tp->tx_errors;
	pthread_mutex_unlock(&tp->tx_lock);
	return 0;
}

static int tap_describe(struct vsw_port *port, char *buf, size_t size)
{
	struct tap_port *tp = vsw_port_priv(port);

	return snprintf(buf, size,
			"dev=%s ifindex=%d vnet_hdr=10 offload=csum,tso4,tso6 rx_nobuf=%llu",
			tp->ifname, tp->ifindex,
			(unsigned long long)__atomic_load_n(&tp->rx_nobuf, __ATOMIC_RELAXED));
}

static void tap_free(struct tap_port *tp)
{
	if (tp->fd >= 0)
		close(tp->fd);
	vsw_pool_release(tp->pool, VSW_DEV_POOL, tp->ifname);
	pthread_mutex_destroy(&tp->tx_lock);
	free(tp);
}

static void tap_destroy(struct vsw_port *port)
{
	struct tap_port *tp = vsw_port_priv(port);

	vsw_worker_del(tp->worker, tp->fd);
	tap_free(tp);
}

static const struct vsw_port_ops tap_ops = {
	.type = "tap",
	.send = tap_send,
	.get_stats = tap_get_stats,
	.destroy = tap_destroy,
	.describe = tap_describe,
};

int vsw_tap_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *ifname,
		     struct vsw_port **out)
{
	struct ifreq ifr;
	struct tap_port *tp;
	int rc = -EINVAL, hdrsz = sizeof(struct virtio_net_hdr);

	*out = NULL;
	if (!br || !worker || !ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ)
		goto fail;
	rc = -ENOMEM;
	tp = calloc(1, sizeof(*tp));
	if (!tp)
		goto fail;
	tp->fd = -1;
	tp->br = br;
	tp->worker = worker;
	strcpy(tp->ifname, ifname);
	rc = -pthread_mutex_init(&tp->tx_lock, NULL);
	if (rc) {
		free(tp);
		goto fail;
	}
	rc = pvnet_pkt_pool_create(VSW_DEV_POOL, VSW_DEV_BUF_SIZE, &tp->pool);
	if (rc)
		goto fail_tp;
	tp->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tp->fd < 0) {
		rc = -errno;
		goto fail_tp;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(tp->fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		/* an existing interface that is not a TAP (a veth, say): the kernel's
		 * EINVAL says nothing; EEXIST and a log line say what is wrong */
		if (rc == -EINVAL && if_nametoindex(ifname)) {
			PVLOG(WARN, VSW_LOG,
			      "%s exists and is not a TAP device: use --type afpacket "
			      "to attach it",
			      ifname);
			rc = -EEXIST;
		}
		goto fail_tp;
	}
	if (ioctl(tp->fd, TUNSETVNETHDRSZ, &hdrsz) < 0 ||
	    ioctl(tp->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) <
		    0) {
		rc = -errno;
		goto fail_tp;
	}
	rc = vsw_netdev_up(ifname, false, &tp->ifindex);
	if (rc)
		goto fail_tp;
	rc = vsw_port_add(br, ifname, &tap_ops, tp, VSW_PORT_F_ALL, &tp->port);
	if (rc)
		goto fail_tp;
	rc = vsw_worker_add(worker, tp->fd, tap_rx_poll, tp);
	if (rc) {
		vsw_port_del(br, tp->port); /* runs tap_destroy: frees tp */
		goto fail;
	}
	*out = tp->port;
	return 0;

fail_tp:
	tap_free(tp);
fail:
	return rc;
}
