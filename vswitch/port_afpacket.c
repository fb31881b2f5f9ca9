/* SPDX-License-Identifier: MIT */
/*
 * AF_PACKET uplink: a host interface on the bridge through PACKET_MMAP rings.
 *
 *   RX  TPACKET_V3 block ring (VSW_AFP_RX_BLOCKS x 1 MiB, 1 ms block timeout). The
 *       uplink worker walks retired blocks, copies each frame into a pool packet
 *       (one memcpy; the block goes back to the kernel at once) and switches bursts
 *       of 32. The kernel strips 802.1Q tags into metadata: we put them back so
 *       the switch sees the frame as it was on the wire.
 *   TX  TPACKET_V3 frame ring (64 x 68 KiB slots): send() fills slots for its
 *       burst and kicks the kernel with one sendto(MSG_DONTWAIT); qdisc bypassed.
 *   Offloads: PACKET_VNET_HDR on both rings, so partial checksums and 64 KiB GSO
 *       frames pass whole (the port advertises VSW_PORT_F_ALL).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "vsw_private.h"

#define VSW_AFP_RX_BLOCK (1u << 20)
#define VSW_AFP_RX_BLOCKS 8
#define VSW_AFP_RX_FRAME 2048 /* nominal, required by the V3 API */
#define VSW_AFP_TX_FRAME (17u * 4096)
#define VSW_AFP_TX_FRAMES 64
#define VSW_AFP_TX_DATA TPACKET_ALIGN(sizeof(struct tpacket3_hdr))

struct afp_port {
	struct vsw_port *port;
	struct vsw_bridge *br;
	struct vsw_worker *worker;
	struct pvnet_pkt_pool *pool;
	int fd;
	int ifindex;
	char ifname[IFNAMSIZ];
	uint8_t *map;
	size_t map_size;
	/* RX state: worker thread only */
	unsigned rx_block;
	struct tpacket3_hdr *rx_next; /* next frame in the current block, NULL: none */
	unsigned rx_left;             /* frames left in the current block */
	uint64_t rx_packets, rx_bytes, rx_errors, rx_nobuf;
	/* TX state */
	pthread_mutex_t tx_lock;
	unsigned tx_head;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_ring_full;
};

int vsw_netdev_up(const char *ifname, bool promisc, int *ifindex)
{
	struct ifreq ifr;
	int fd, rc = 0;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		rc = -errno;
		goto out;
	}
	*ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
		goto out;
	}
	ifr.ifr_flags |= IFF_UP | (promisc ? IFF_PROMISC : 0);
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
out:
	close(fd);
	return rc;
}

static struct tpacket_block_desc *rx_block(struct afp_port *ap, unsigned i)
{
	return (struct tpacket_block_desc *)(ap->map + (size_t)i * VSW_AFP_RX_BLOCK);
}

/* Copies one ring frame into pkt (tag re-inserted); 0 or -EINVAL. */
static int rx_copy(struct tpacket3_hdr *h, struct pvnet_pkt *pkt)
{
	const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
	const struct virtio_net_hdr *vh = (const void *)(frame - sizeof(struct virtio_net_hdr));
	uint32_t size = h->tp_snaplen, tag = 0;

	if (size != h->tp_len || size < PVNET_ETH_HLEN)
		return -EINVAL; /* truncated by the ring: never forward a partial frame */
	if (h->tp_status & TP_STATUS_VLAN_VALID)
		tag = PVNET_VLAN_HLEN;
	if (size + tag > pkt->buf_size)
		return -EINVAL;
	if (tag) {
		uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid
					? h->hv1.tp_vlan_tpid
					: PVNET_ETH_P_8021Q;
		memcpy(pkt->buf, frame, 12);
		pkt->buf[12] = (uint8_t)(tpid >> 8);
		pkt->buf[13] = (uint8_t)tpid;
		pkt->buf[14] = (uint8_t)(h->hv1.tp_vlan_tci >> 8);
		pkt->buf[15] = (uint8_t)h->hv1.tp_vlan_tci;
		memcpy(pkt->buf + 16, frame + 12, size - 12);
	} else {
		memcpy(pkt->buf, frame, size);
	}
	pkt->data = pkt->buf;
	pkt->len = pkt->head_size = size + tag;
	if (vsw_vnet_hdr_to_pkt(vh, pkt))
		return -EINVAL;
	if (pkt->flags & PVNET_PKT_F_CSUM_BLANK)
		pkt->csum_start = (uint16_t)(pkt->csum_start + tag);
	return 0;
}

static int afp_rx_poll(void *arg, unsigned budget)
{
	struct afp_port *ap = arg;
	struct pvnet_pkt_batch b;
	unsigned got = 0;

	b.count = 0;
	while (got < budget) {
		struct tpacket_block_desc *bd = rx_block(ap, ap->rx_block);
		struct tpacket3_hdr *h;
		struct pvnet_pkt *pkt;

		if (!ap->rx_next) {
			/* acquire: the block's frames are visible once its status says USER */
			if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
			      TP_STATUS_USER))
				break;
			ap->rx_left = bd->hdr.bh1.num_pkts;
			ap->rx_next = (struct tpacket3_hdr *)((uint8_t *)bd +
							      bd->hdr.bh1.offset_to_first_pkt);
		}
		if (ap->rx_left) {
			h = ap->rx_next;
			ap->rx_left--;
			ap->rx_next = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
			got++;
			const struct sockaddr_ll *ll =
				(const void *)((uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
			pkt = ll->sll_pkttype == PACKET_OUTGOING ? NULL : pvnet_pkt_alloc(ap->pool);
			if (ll->sll_pkttype == PACKET_OUTGOING) {
				/* our own TX seen by an older kernel: not a received frame */
			} else if (!pkt) {
				ap->rx_nobuf++;
			} else if (rx_copy(h, pkt)) {
				ap->rx_errors++;
				pvnet_pkt_put(pkt);
			} else {
				ap->rx_packets++;
				ap->rx_bytes += pkt->len;
				b.vlan_tci[b.count] = 0;
				b.pkts[b.count++] = pkt;
			}
		}
		if (!ap->rx_left) {
			/* release: our copies are done before the kernel refills the block */
			__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
					 __ATOMIC_RELEASE);
			ap->rx_next = NULL;
			ap->rx_block = (ap->rx_block + 1) % VSW_AFP_RX_BLOCKS;
		}
	}
	if (b.count)
		vsw_input(ap->br, ap->port, &b);
	return (int)got;
}

static struct tpacket3_hdr *tx_frame(struct afp_port *ap, unsigned i)
{
	return (struct tpacket3_hdr *)(ap->map + (size_t)VSW_AFP_RX_BLOCK * VSW_AFP_RX_BLOCKS +
				       (size_t)i * VSW_AFP_TX_FRAME);
}

static int afp_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct afp_port *ap = vsw_port_priv(port);
	unsigned i, queued = 0;

	pthread_mutex_lock(&ap->tx_lock);
	for (i = 0; i < batch->count; i++) {
		struct pvnet_pkt *pkt = batch->pkts[i];
		uint16_t tci = batch->vlan_tci[i];
		struct tpacket3_hdr *h = tx_frame(ap, ap->tx_head);
		uint8_t *data = (uint8_t *)h + VSW_AFP_TX_DATA;
		uint32_t room = VSW_AFP_TX_FRAME - VSW_AFP_TX_DATA - sizeof(struct virtio_net_hdr);
		int size;

		/* acquire: the kernel is done reading the slot it marked available */
		if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
			if (queued) { /* kick what we have, then look once more */
				(void)sendto(ap->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
				queued = 0;
			}
			if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) !=
			    TP_STATUS_AVAILABLE) {
				if (h->tp_status & TP_STATUS_WRONG_FORMAT) {
					ap->tx_errors++;
					__atomic_store_n(&h->tp_status, TP_STATUS_AVAILABLE,
							 __ATOMIC_RELAXED);
				} else {
					ap->tx_ring_full++;
					break;
				}
			}
		}
		vsw_pkt_to_vnet_hdr(pkt, tci, (struct virtio_net_hdr *)data);
		size = vsw_pkt_linearize(pkt, tci, data + sizeof(struct virtio_net_hdr), room);
		if (size < 0) {
			PVLOG_RL(WARN, VSW_LOG, "%s: cannot send frame of %u bytes: %s", ap->ifname,
				 pkt->len, strerror(-size));
			ap->tx_errors++;
			pvnet_pkt_put(pkt);
			continue;
		}
		h->tp_len = (uint32_t)size + sizeof(struct virtio_net_hdr);
		h->tp_next_offset = 0;
		/* release: the frame is written before the kernel may see the slot */
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		ap->tx_head = (ap->tx_head + 1) % VSW_AFP_TX_FRAMES;
		ap->tx_packets++;
		ap->tx_bytes += (uint32_t)size;
		queued++;
		pvnet_pkt_put(pkt);
	}
	if (queued && sendto(ap->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
	    errno != ENOBUFS)
		PVLOG_RL(WARN, VSW_LOG, "%s: tx kick: %s", ap->ifname, strerror(errno));
	pthread_mutex_unlock(&ap->tx_lock);
	return (int)i;
}

static int afp_get_stats(struct vsw_port *port, struct vsw_port_dev_stats *st)
{
	struct afp_port *ap = vsw_port_priv(port);

	pthread_mutex_lock(&ap->tx_lock);
	st->rx_packets = __atomic_load_n(&ap->rx_packets, __ATOMIC_RELAXED);
	st->rx_bytes = __atomic_load_n(&ap->rx_bytes, __ATOMIC_RELAXED);
	st->rx_errors = __atomic_load_n(&ap->rx_errors, __ATOMIC_RELAXED) +
			__atomic_load_n(&ap->rx_nobuf, __ATOMIC_RELAXED);
	st->tx_packets = ap->tx_packets;
	st->tx_bytes = ap->tx_bytes;
	st->tx_errors = ap->tx_errors;
	pthread_mutex_unlock(&ap->tx_lock);
	return 0;
}

static int afp_describe(struct vsw_port *port, char *buf, size_t size)
{
	struct afp_port *ap = vsw_port_priv(port);
	struct tpacket_stats_v3 ks = {0};
	socklen_t len = sizeof(ks);

	/* reading the kernel's counters resets them; only for the operator's view */
	(void)getsockopt(ap->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len);
	return snprintf(buf, size,
			"dev=%s ifindex=%d rx_ring=tpacket_v3:%ux%uKiB tx_ring=%ux%uKiB "
			"qdisc_bypass vnet_hdr rx_nobuf=%llu tx_ring_full=%llu kernel_drops=%u",
			ap->ifname, ap->ifindex, VSW_AFP_RX_BLOCKS, VSW_AFP_RX_BLOCK >> 10,
			VSW_AFP_TX_FRAMES, VSW_AFP_TX_FRAME >> 10,
			(unsigned long long)__atomic_load_n(&ap->rx_nobuf, __ATOMIC_RELAXED),
			(unsigned long long)ap->tx_ring_full, ks.tp_drops);
}

static void afp_free(struct afp_port *ap)
{
	if (ap->map)
		munmap(ap->map, ap->map_size);
	if (ap->fd >= 0)
		close(ap->fd);
	vsw_pool_release(ap->pool, VSW_DEV_POOL, ap->ifname);
	pthread_mutex_destroy(&ap->tx_lock);
	free(ap);
}

static void afp_destroy(struct vsw_port *port)
{
	struct afp_port *ap = vsw_port_priv(port);

	vsw_worker_del(ap->worker, ap->fd);
	afp_free(ap);
}

static const struct vsw_port_ops afp_ops = {
	.type = "afpacket",
	.send = afp_send,
	.get_stats = afp_get_stats,
	.destroy = afp_destroy,
	.describe = afp_describe,
};

static int afp_open(struct afp_port *ap)
{
	struct tpacket_req3 rx = {
		.tp_block_size = VSW_AFP_RX_BLOCK,
		.tp_block_nr = VSW_AFP_RX_BLOCKS,
		.tp_frame_size = VSW_AFP_RX_FRAME,
		.tp_frame_nr = VSW_AFP_RX_BLOCK / VSW_AFP_RX_FRAME * VSW_AFP_RX_BLOCKS,
		.tp_retire_blk_tov = 1, /* ms: bounds the latency of a part-filled block */
	};
	struct tpacket_req3 tx = {
		.tp_block_size = VSW_AFP_TX_FRAME,
		.tp_block_nr = VSW_AFP_TX_FRAMES,
		.tp_frame_size = VSW_AFP_TX_FRAME,
		.tp_frame_nr = VSW_AFP_TX_FRAMES,
	};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int v3 = TPACKET_V3, one = 1;

	/* protocol 0: nothing is queued before the rings exist; bind() starts it */
	ap->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ap->fd < 0)
		return -errno;
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3)) < 0 ||
	    setsockopt(ap->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0 ||
	    setsockopt(ap->fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx)) < 0 ||
	    setsockopt(ap->fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof(tx)) < 0 ||
	    setsockopt(ap->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		return -errno;
	/* our own transmissions must not come back on the RX ring */
	(void)setsockopt(ap->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	ap->map_size = (size_t)VSW_AFP_RX_BLOCK * VSW_AFP_RX_BLOCKS +
		       (size_t)VSW_AFP_TX_FRAME * VSW_AFP_TX_FRAMES;
	ap->map = mmap(NULL, ap->map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       ap->fd, 0);
	if (ap->map == MAP_FAILED) {
		ap->map = NULL;
		return -errno;
	}
	sll.sll_ifindex = ap->ifindex;
	if (bind(ap->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

int vsw_afpacket_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *ifname,
			  struct vsw_port **out)
{
	struct afp_port *ap;
	int rc = -EINVAL;

	*out = NULL;
	if (!br || !worker || !ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ)
		goto fail;
	rc = -ENOMEM;
	ap = calloc(1, sizeof(*ap));
	if (!ap)
		goto fail;
	ap->fd = -1;
	ap->br = br;
	ap->worker = worker;
	strcpy(ap->ifname, ifname);
	rc = -pthread_mutex_init(&ap->tx_lock, NULL);
	if (rc) {
		free(ap);
		goto fail;
	}
	rc = vsw_netdev_up(ifname, true, &ap->ifindex);
	if (rc)
		goto fail_ap;
	rc = pvnet_pkt_pool_create(VSW_DEV_POOL, VSW_DEV_BUF_SIZE, &ap->pool);
	if (rc)
		goto fail_ap;
	rc = afp_open(ap);
	if (rc) {
		PVLOG(WARN, VSW_LOG, "%s: AF_PACKET rings: %s", ifname, strerror(-rc));
		goto fail_ap;
	}
	rc = vsw_port_add(br, ifname, &afp_ops, ap, VSW_PORT_F_ALL, &ap->port);
	if (rc)
		goto fail_ap;
	rc = vsw_worker_add(worker, ap->fd, afp_rx_poll, ap);
	if (rc) {
		vsw_port_del(br, ap->port); /* runs afp_destroy: frees ap */
		goto fail;
	}
	*out = ap->port;
	return 0;

fail_ap:
	afp_free(ap);
fail:
	return rc;
}
