/* SPDX-License-Identifier: MIT */
/*
 * AF_XDP uplink: one queue of a host interface on the bridge through an XDP socket.
 *
 *   Program  our own five-instruction XDP program (built here, loaded with libbpf,
 *            no bpffs needed): redirect the frame into the XSKMAP slot of its RX
 *            queue, XDP_PASS when no socket is bound there. Attached through a BPF
 *            link held only by our fd, so the kernel detaches it when the port goes
 *            or pvnetd dies, even by SIGKILL. Kernels without XDP links (< 5.9): a
 *            netlink attach with UPDATE_IF_NOEXIST, detached with REPLACE + our fd.
 *            Either way an interface already running an XDP program is refused,
 *            never taken over, and only our own program is ever removed.
 *   UMEM     VSW_XDP_FRAMES x 4 KiB, anonymous memory: frames [0, RX_FRAMES) cycle
 *            between the fill and RX rings; [RX_FRAMES, FRAMES) are TX frames on a
 *            free stack, returned by the completion ring. Socket and UMEM come from
 *            libxdp (xsk_umem__create / xsk_socket__create, program load inhibited).
 *   RX       the uplink worker epolls the socket (EPOLLIN = RX ring not empty),
 *            peeks a burst, copies each frame into a pool packet, gives the frames
 *            back to the fill ring in one submit, and switches the burst. A fill
 *            ring flagged need_wakeup gets one recvfrom(MSG_DONTWAIT) per burst.
 *   TX       send() (under tx_lock, once per burst) reaps the completion ring, copies
 *            each packet into a free frame, submits the burst and kicks the kernel
 *            with one sendto(MSG_DONTWAIT) if the TX ring is flagged need_wakeup.
 *   Offloads none: the switch completes checksums and segments TCP before send();
 *            frames larger than a UMEM frame are dropped as tx_too_big. RX frames
 *            are taken as they are on the wire (an XDP program sees no checksum
 *            metadata), so peers must send complete checksums (real NICs do; on a
 *            veth, turn TX checksum offload off on the peer).
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include <pvnet/log.h>

#include "vsw_private.h"

#define VSW_XDP_FRAME XSK_UMEM__DEFAULT_FRAME_SIZE
#define VSW_XDP_RX_FRAMES 2048 /* = fill ring size: a returned frame always fits */
#define VSW_XDP_TX_FRAMES 2048 /* = TX and completion ring size */
#define VSW_XDP_FRAMES (VSW_XDP_RX_FRAMES + VSW_XDP_TX_FRAMES)
#define VSW_XDP_UMEM_SIZE ((size_t)VSW_XDP_FRAMES * VSW_XDP_FRAME)
#define VSW_XDP_POOL 1024 /* RX packets in flight in the bridge (4 KiB buffers) */
#define VSW_XDP_KICKS 4   /* sendto retries per burst while the kernel says EAGAIN */

struct xdp_port {
	struct vsw_port *port;
	struct vsw_bridge *br;
	struct vsw_worker *worker;
	struct pvnet_pkt_pool *pool;
	char ifname[IFNAMSIZ];
	int ifindex;
	uint32_t queue;
	unsigned nqueues;  /* RX queues of the interface (0: unknown) */
	uint32_t xdp_mode; /* XDP_FLAGS_SKB_MODE or XDP_FLAGS_DRV_MODE: attached */
	bool zero_copy;    /* the socket is bound in zero-copy mode */
	int map_fd, prog_fd;
	int link_fd; /* BPF link holding the attachment, -1: netlink attach */
	uint32_t prog_id;
	uint8_t *umem_area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	int fd;
	/* RX state: the worker thread only */
	struct xsk_ring_prod fq;
	struct xsk_ring_cons rx;
	uint64_t fill_stash[VSW_XDP_RX_FRAMES]; /* frames waiting for room in the fill ring */
	unsigned fill_stashed;
	uint64_t rx_packets, rx_bytes, rx_bad_desc, rx_nobuf, rx_fill_wakeups;
	/* TX state: under tx_lock, on its own cache lines */
	pthread_mutex_t tx_lock __attribute__((aligned(64)));
	struct xsk_ring_prod tx;
	struct xsk_ring_cons cq;
	uint64_t tx_free[VSW_XDP_TX_FRAMES];
	unsigned tx_nfree;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_too_big, tx_ring_full, tx_kicks,
		tx_kick_errors, tx_bad_completion;
};

static void why_set(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_size)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

/* ---- RX ----------------------------------------------------------------------- */

/* Gives stashed frames back to the fill ring, as many as fit; one submit. */
static void fill_flush(struct xdp_port *xp)
{
	uint32_t idx;
	unsigned n;

	if (!xp->fill_stashed)
		return;
	n = xsk_ring_prod__reserve(&xp->fq, xp->fill_stashed, &idx);
	for (unsigned i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&xp->fq, idx + i) = xp->fill_stash[--xp->fill_stashed];
	/* release inside submit: the addresses are written before the producer moves */
	xsk_ring_prod__submit(&xp->fq, n);
	if (n && xsk_ring_prod__needs_wakeup(&xp->fq)) {
		__atomic_store_n(&xp->rx_fill_wakeups, xp->rx_fill_wakeups + 1, __ATOMIC_RELAXED);
		(void)recvfrom(xp->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

static int xdp_rx_poll(void *arg, unsigned budget)
{
	struct xdp_port *xp = arg;
	struct pvnet_pkt *pkts[PVNET_BATCH_MAX];
	struct pvnet_pkt_batch b;
	unsigned n, npkts, used = 0, bad = 0, nobuf = 0;
	uint64_t bytes = 0;
	uint32_t idx;

	b.count = 0;
	if (budget > PVNET_BATCH_MAX)
		budget = PVNET_BATCH_MAX;
	/* acquire inside peek: descriptors and frame data are visible once counted */
	n = xsk_ring_cons__peek(&xp->rx, budget, &idx);
	if (!n)
		return 0;
	npkts = pvnet_pkt_alloc_bulk(xp->pool, pkts, n); /* one CAS per burst */
	for (unsigned i = 0; i < n; i++) {
		/* the ring is shared with the kernel: read the descriptor once */
		const struct xdp_desc d = *xsk_ring_cons__rx_desc(&xp->rx, idx + i);
		uint64_t base = d.addr & ~(uint64_t)(VSW_XDP_FRAME - 1);
		struct pvnet_pkt *pkt;

		if (base >= (uint64_t)VSW_XDP_RX_FRAMES * VSW_XDP_FRAME) {
			bad++; /* not one of our RX frames: never recycle it */
			continue;
		}
		xp->fill_stash[xp->fill_stashed++] = base;
		if (d.len < PVNET_ETH_HLEN || d.addr + d.len > base + VSW_XDP_FRAME) {
			bad++;
			continue;
		}
		if (used == npkts) {
			nobuf++; /* the bridge still holds every packet of the pool */
			continue;
		}
		pkt = pkts[used++];
		memcpy(pkt->buf, xsk_umem__get_data(xp->umem_area, d.addr), d.len);
		pkt->data = pkt->buf;
		pkt->len = pkt->head_size = d.len;
		bytes += d.len;
		b.vlan_tci[b.count] = 0;
		b.pkts[b.count++] = pkt;
	}
	while (used < npkts)
		pvnet_pkt_put(pkts[used++]); /* bad descriptors left these unused */
	/* release: our copies are done before the kernel may reuse the frames */
	xsk_ring_cons__release(&xp->rx, n);
	fill_flush(xp);
	/* single writer: plain adds published with relaxed stores, once per burst */
	__atomic_store_n(&xp->rx_packets, xp->rx_packets + b.count, __ATOMIC_RELAXED);
	__atomic_store_n(&xp->rx_bytes, xp->rx_bytes + bytes, __ATOMIC_RELAXED);
	if (bad | nobuf) {
		__atomic_store_n(&xp->rx_bad_desc, xp->rx_bad_desc + bad, __ATOMIC_RELAXED);
		__atomic_store_n(&xp->rx_nobuf, xp->rx_nobuf + nobuf, __ATOMIC_RELAXED);
	}
	if (b.count)
		vsw_input(xp->br, xp->port, &b);
	return (int)n;
}

/* ---- TX ----------------------------------------------------------------------- */

/* Completed TX frames back to the free stack. Under tx_lock. */
static void tx_reap(struct xdp_port *xp)
{
	uint32_t idx;
	unsigned n = xsk_ring_cons__peek(&xp->cq, VSW_XDP_TX_FRAMES, &idx);

	for (unsigned i = 0; i < n; i++) {
		uint64_t addr = *xsk_ring_cons__comp_addr(&xp->cq, idx + i); /* read once */
		uint64_t lo = (uint64_t)VSW_XDP_RX_FRAMES * VSW_XDP_FRAME;

		if (addr < lo || addr >= VSW_XDP_UMEM_SIZE || (addr & (VSW_XDP_FRAME - 1)) ||
		    xp->tx_nfree == VSW_XDP_TX_FRAMES) {
			xp->tx_bad_completion++;
			continue;
		}
		xp->tx_free[xp->tx_nfree++] = addr;
	}
	xsk_ring_cons__release(&xp->cq, n);
}

/* Tells the kernel to transmit what the TX ring holds. Under tx_lock. */
static void tx_kick(struct xdp_port *xp)
{
	if (!xsk_ring_prod__needs_wakeup(&xp->tx))
		return;
	for (int k = 0; k < VSW_XDP_KICKS; k++) {
		xp->tx_kicks++;
		if (sendto(xp->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			return;
		if (errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN) {
			xp->tx_kick_errors++;
			PVLOG_RL(WARN, VSW_LOG, "%s: AF_XDP tx kick: %s", xp->ifname,
				 strerror(errno));
			return;
		}
		if (errno != EAGAIN)
			return; /* the kernel retries on the next kick */
	}
}

static int xdp_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct xdp_port *xp = vsw_port_priv(port);
	unsigned i, queued = 0;
	uint32_t idx;

	pthread_mutex_lock(&xp->tx_lock);
	tx_reap(xp);
	for (i = 0; i < batch->count; i++) {
		struct pvnet_pkt *pkt = batch->pkts[i];
		struct xdp_desc *d;
		uint64_t addr;
		int size;

		if (!xp->tx_nfree || xsk_ring_prod__reserve(&xp->tx, 1, &idx) != 1) {
			if (queued) { /* push what we have, then look once more */
				xsk_ring_prod__submit(&xp->tx, queued);
				queued = 0;
				tx_kick(xp);
			}
			tx_reap(xp);
			if (!xp->tx_nfree || xsk_ring_prod__reserve(&xp->tx, 1, &idx) != 1) {
				xp->tx_ring_full++;
				break; /* the switch counts the rest as egress_full */
			}
		}
		addr = xp->tx_free[xp->tx_nfree - 1];
		size = vsw_pkt_linearize(pkt, batch->vlan_tci[i],
					 xsk_umem__get_data(xp->umem_area, addr), VSW_XDP_FRAME);
		if (size < 0) {
			/* un-reserve the slot (libxdp has no prod cancel; nothing was
			 * published, only our cached producer index moved) */
			xp->tx.cached_prod--;
			if (size == -ENOSPC)
				xp->tx_too_big++;
			else
				xp->tx_errors++;
			PVLOG_RL(WARN, VSW_LOG, "%s: cannot send frame of %u bytes: %s", xp->ifname,
				 pkt->len,
				 size == -ENOSPC ? "larger than a UMEM frame" : strerror(-size));
			pvnet_pkt_put(pkt);
			continue;
		}
		xp->tx_nfree--;
		d = xsk_ring_prod__tx_desc(&xp->tx, idx);
		d->addr = addr;
		d->len = (uint32_t)size;
		d->options = 0;
		xp->tx_packets++;
		xp->tx_bytes += (uint32_t)size;
		queued++;
		pvnet_pkt_put(pkt);
	}
	if (queued) {
		/* release inside submit: descriptors and frames are written first */
		xsk_ring_prod__submit(&xp->tx, queued);
		tx_kick(xp);
	}
	pthread_mutex_unlock(&xp->tx_lock);
	return (int)i;
}

/* ---- port ops ------------------------------------------------------------------ */

static int xdp_get_stats(struct vsw_port *port, struct vsw_port_dev_stats *st)
{
	struct xdp_port *xp = vsw_port_priv(port);
	struct xdp_statistics ks = {0};
	socklen_t len = sizeof(ks);

	/* the kernel's drops (fill ring empty, RX ring full, invalid descriptors) */
	(void)getsockopt(xp->fd, SOL_XDP, XDP_STATISTICS, &ks, &len);
	pthread_mutex_lock(&xp->tx_lock);
	st->rx_packets = __atomic_load_n(&xp->rx_packets, __ATOMIC_RELAXED);
	st->rx_bytes = __atomic_load_n(&xp->rx_bytes, __ATOMIC_RELAXED);
	st->rx_errors = __atomic_load_n(&xp->rx_bad_desc, __ATOMIC_RELAXED) +
			__atomic_load_n(&xp->rx_nobuf, __ATOMIC_RELAXED) + ks.rx_dropped +
			ks.rx_ring_full + ks.rx_invalid_descs;
	st->tx_packets = xp->tx_packets;
	st->tx_bytes = xp->tx_bytes;
	st->tx_errors = xp->tx_errors + xp->tx_too_big + xp->tx_bad_completion +
			xp->tx_kick_errors + ks.tx_invalid_descs;
	pthread_mutex_unlock(&xp->tx_lock);
	return 0;
}

static int xdp_describe(struct vsw_port *port, char *buf, size_t size)
{
	struct xdp_port *xp = vsw_port_priv(port);
	struct xdp_statistics ks = {0};
	socklen_t len = sizeof(ks);
	uint64_t too_big, ring_full, tx_err, kicks;

	(void)getsockopt(xp->fd, SOL_XDP, XDP_STATISTICS, &ks, &len);
	pthread_mutex_lock(&xp->tx_lock);
	too_big = xp->tx_too_big;
	ring_full = xp->tx_ring_full;
	tx_err = xp->tx_errors + xp->tx_bad_completion + xp->tx_kick_errors;
	kicks = xp->tx_kicks;
	pthread_mutex_unlock(&xp->tx_lock);
	return snprintf(
		buf, size,
		"dev=%s ifindex=%d queue=%u/%u xdp=%s,%s prog_id=%u umem=%ux%uKiB "
		"rings=fill:%u,rx:%u,tx:%u,comp:%u need_wakeup rx_nobuf=%llu "
		"rx_bad_desc=%llu tx_too_big=%llu tx_ring_full=%llu tx_errors=%llu "
		"tx_kicks=%llu fill_wakeups=%llu kernel_rx_dropped=%llu kernel_rx_ring_full=%llu "
		"kernel_fill_empty=%llu kernel_invalid=%llu",
		xp->ifname, xp->ifindex, xp->queue, xp->nqueues,
		xp->xdp_mode == XDP_FLAGS_DRV_MODE ? "drv" : "skb", xp->zero_copy ? "zc" : "copy",
		xp->prog_id, VSW_XDP_FRAMES, VSW_XDP_FRAME >> 10, VSW_XDP_RX_FRAMES,
		VSW_XDP_RX_FRAMES, VSW_XDP_TX_FRAMES, VSW_XDP_TX_FRAMES,
		(unsigned long long)__atomic_load_n(&xp->rx_nobuf, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&xp->rx_bad_desc, __ATOMIC_RELAXED),
		(unsigned long long)too_big, (unsigned long long)ring_full,
		(unsigned long long)tx_err, (unsigned long long)kicks,
		(unsigned long long)__atomic_load_n(&xp->rx_fill_wakeups, __ATOMIC_RELAXED),
		(unsigned long long)ks.rx_dropped, (unsigned long long)ks.rx_ring_full,
		(unsigned long long)ks.rx_fill_ring_empty_descs,
		(unsigned long long)(ks.rx_invalid_descs + ks.tx_invalid_descs));
}

/* Removes our program from the interface, only if it is still the one attached. */
static void prog_detach(struct xdp_port *xp)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = xp->prog_fd);
	int rc;

	if (!xp->xdp_mode)
		return;
	if (xp->link_fd >= 0) {
		rc = bpf_link_detach(xp->link_fd);
		if (rc && rc != -ENOLINK)
			PVLOG(WARN, VSW_LOG, "%s: detaching XDP link: %s", xp->ifname,
			      strerror(-rc));
		close(xp->link_fd); /* the last reference: detached even if the call failed */
		xp->link_fd = -1;
		xp->xdp_mode = 0;
		return;
	}
	rc = bpf_xdp_detach(xp->ifindex, xp->xdp_mode | XDP_FLAGS_REPLACE, &opts);
	if (rc && rc != -ENODEV)
		PVLOG(WARN, VSW_LOG, "%s: removing XDP program %u: %s", xp->ifname, xp->prog_id,
		      strerror(-rc));
	xp->xdp_mode = 0;
}

/* Closes the socket and the UMEM (the kernel releases the queue asynchronously). */
static void xsk_close(struct xdp_port *xp)
{
	if (xp->xsk)
		xsk_socket__delete(xp->xsk);
	xp->xsk = NULL;
	xp->fd = -1;
	if (xp->umem)
		(void)xsk_umem__delete(xp->umem);
	xp->umem = NULL;
	if (xp->umem_area)
		munmap(xp->umem_area, VSW_XDP_UMEM_SIZE);
	xp->umem_area = NULL;
}

static void xdp_free(struct xdp_port *xp)
{
	xsk_close(xp);
	prog_detach(xp);
	if (xp->prog_fd >= 0)
		close(xp->prog_fd);
	if (xp->map_fd >= 0)
		close(xp->map_fd);
	vsw_pool_release(xp->pool, VSW_XDP_POOL, xp->ifname);
	pthread_mutex_destroy(&xp->tx_lock);
	free(xp);
}

static void xdp_destroy(struct vsw_port *port)
{
	struct xdp_port *xp = vsw_port_priv(port);

	vsw_worker_del(xp->worker, xp->fd);
	xdp_free(xp);
}

static const struct vsw_port_ops xdp_ops = {
	.type = "afxdp",
	.send = xdp_send,
	.get_stats = xdp_get_stats,
	.destroy = xdp_destroy,
	.describe = xdp_describe,
};

/* ---- setup -------------------------------------------------------------------- */

/* RX queues in use on `ifname`: ETHTOOL_GCHANNELS (current rx + combined), the
 * number an AF_XDP bind checks against. 0 and *n, or -errno (-EOPNOTSUPP). */
static int netdev_channels(const char *ifname, unsigned *n)
{
	struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
	struct ifreq ifr;
	int fd, rc = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, ifname); /* length checked by the caller */
	ifr.ifr_data = (char *)&ch;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		rc = -errno;
	else if (ch.rx_count + ch.combined_count == 0)
		rc = -EOPNOTSUPP;
	else
		*n = ch.rx_count + ch.combined_count;
	close(fd);
	return rc;
}

/* IFLA_NUM_RX_QUEUES of `ifindex` over rtnetlink (right for the caller's namespace,
 * unlike /sys): the queues allocated, an upper bound for drivers without
 * ETHTOOL_GCHANNELS. 0 and *n, or -errno. */
static int netdev_rx_queues(int ifindex, unsigned *n)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = {.nlmsg_len = sizeof(req),
		       .nlmsg_type = RTM_GETLINK,
		       .nlmsg_flags = NLM_F_REQUEST,
		       .nlmsg_seq = 1},
		.ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
	};
	uint8_t resp[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nh = (struct nlmsghdr *)resp;
	int fd, rc = -ENOENT;
	ssize_t got;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) < 0) {
		rc = -errno;
		goto out;
	}
	got = recv(fd, resp, sizeof(resp), 0);
	if (got < 0) {
		rc = -errno;
		goto out;
	}
	for (; NLMSG_OK(nh, (size_t)got); nh = NLMSG_NEXT(nh, got)) {
		struct ifinfomsg *ifi = NLMSG_DATA(nh);
		struct rtattr *rta = IFLA_RTA(ifi);
		int alen = (int)IFLA_PAYLOAD(nh);

		if (nh->nlmsg_type == NLMSG_ERROR) {
			rc = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
			break;
		}
		if (nh->nlmsg_type != RTM_NEWLINK)
			continue;
		for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
			if (rta->rta_type == IFLA_NUM_RX_QUEUES && RTA_PAYLOAD(rta) >= 4) {
				uint32_t v;
				memcpy(&v, RTA_DATA(rta), sizeof(v));
				*n = v;
				rc = 0;
			}
		}
		break;
	}
out:
	close(fd);
	return rc;
}

/* Loads the redirect program: r2 = ctx->rx_queue_index; return
 * bpf_redirect_map(xskmap, r2, XDP_PASS) (XDP_PASS: the action when the slot is
 * empty). */
static int prog_load(struct xdp_port *xp, char *log, size_t log_size)
{
	struct bpf_insn insns[] = {
		{.code = BPF_LDX | BPF_MEM | BPF_W,
		 .dst_reg = BPF_REG_2,
		 .src_reg = BPF_REG_1,
		 .off = offsetof(struct xdp_md, rx_queue_index)},
		{.code = BPF_LD | BPF_DW | BPF_IMM,
		 .dst_reg = BPF_REG_1,
		 .src_reg = BPF_PSEUDO_MAP_FD,
		 .imm = xp->map_fd},
		{0}, /* second half of the 64-bit immediate */
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = (uint32_t)log_size,
		    .log_level = 0);
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pvnet_xsk", "Dual MIT/GPL", insns,
			   sizeof(insns) / sizeof(insns[0]), &opts);
	if (fd < 0)
		return fd;
	xp->prog_fd = fd;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		xp->prog_id = info.id;
	return 0;
}

/* Attaches the program in `mode` (XDP_FLAGS_*_MODE, or 0: native, then generic). */
static int prog_attach(struct xdp_port *xp, uint32_t mode)
{
	uint32_t modes[2] = {mode ? mode : XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
	int rc = -EINVAL;

	for (int i = 0; i < (mode ? 1 : 2); i++) {
		LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = modes[i]);

		rc = bpf_link_create(xp->prog_fd, xp->ifindex, BPF_XDP, &opts);
		if (rc >= 0) {
			xp->link_fd = rc;
			xp->xdp_mode = modes[i];
			return 0;
		}
		if (rc == -EBUSY || rc == -EEXIST)
			break;       /* someone else's program: never try to replace it */
		if (rc == -EINVAL) { /* no XDP links in this kernel: netlink attach */
			rc = bpf_xdp_attach(xp->ifindex, xp->prog_fd,
					    modes[i] | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
			if (!rc) {
				xp->xdp_mode = modes[i];
				return 0;
			}
			if (rc == -EBUSY || rc == -EEXIST)
				break;
		}
	}
	return rc;
}

static int xsk_open(struct xdp_port *xp, enum vsw_afxdp_copy copy)
{
	struct xsk_umem_config ucfg = {
		.fill_size = VSW_XDP_RX_FRAMES,
		.comp_size = VSW_XDP_TX_FRAMES,
		.frame_size = VSW_XDP_FRAME,
		.frame_headroom = 0,
		.flags = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = VSW_XDP_RX_FRAMES,
		.tx_size = VSW_XDP_TX_FRAMES,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = xp->xdp_mode,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xdp_options xo = {0};
	socklen_t olen = sizeof(xo);
	uint32_t idx;
	int rc;

	if (copy == VSW_AFXDP_COPY || xp->xdp_mode == XDP_FLAGS_SKB_MODE)
		scfg.bind_flags |= XDP_COPY;
	else if (copy == VSW_AFXDP_ZEROCOPY)
		scfg.bind_flags |= XDP_ZEROCOPY;
	xp->umem_area = mmap(NULL, VSW_XDP_UMEM_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (xp->umem_area == MAP_FAILED) {
		xp->umem_area = NULL;
		return -errno;
	}
	rc = xsk_umem__create(&xp->umem, xp->umem_area, VSW_XDP_UMEM_SIZE, &xp->fq, &xp->cq, &ucfg);
	if (rc) {
		xp->umem = NULL;
		return rc < 0 ? rc : -rc;
	}
	rc = xsk_socket__create(&xp->xsk, xp->ifname, xp->queue, xp->umem, &xp->rx, &xp->tx, &scfg);
	if (rc) {
		xp->xsk = NULL;
		return rc < 0 ? rc : -rc;
	}
	xp->fd = xsk_socket__fd(xp->xsk);
	if (!getsockopt(xp->fd, SOL_XDP, XDP_OPTIONS, &xo, &olen))
		xp->zero_copy = xo.flags & XDP_OPTIONS_ZEROCOPY;
	/* every RX frame into the fill ring (it has exactly that many slots) */
	if (xsk_ring_prod__reserve(&xp->fq, VSW_XDP_RX_FRAMES, &idx) != VSW_XDP_RX_FRAMES)
		return -ENOSPC;
	for (unsigned i = 0; i < VSW_XDP_RX_FRAMES; i++)
		*xsk_ring_prod__fill_addr(&xp->fq, idx + i) = (uint64_t)i * VSW_XDP_FRAME;
	xsk_ring_prod__submit(&xp->fq, VSW_XDP_RX_FRAMES);
	if (xsk_ring_prod__needs_wakeup(&xp->fq)) /* zero-copy drivers wait for a kick */
		(void)recvfrom(xp->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	for (unsigned i = 0; i < VSW_XDP_TX_FRAMES; i++)
		xp->tx_free[i] = (uint64_t)(VSW_XDP_RX_FRAMES + i) * VSW_XDP_FRAME;
	xp->tx_nfree = VSW_XDP_TX_FRAMES;
	return 0;
}

static const char *mode_name(uint32_t mode)
{
	return mode == XDP_FLAGS_DRV_MODE ? "drv" : mode == XDP_FLAGS_SKB_MODE ? "skb" : "auto";
}

/* A fresh port state for ifname, nothing opened yet (its fds -1). */
static int afxdp_new(struct vsw_bridge *br, struct vsw_worker *worker, const char *ifname,
		     const struct vsw_afxdp_config *cfg, struct xdp_port **out)
{
	struct xdp_port *xp;
	int rc;

	xp = calloc(1, sizeof(*xp));
	if (!xp)
		return -ENOMEM;
	xp->fd = xp->map_fd = xp->prog_fd = xp->link_fd = -1;
	xp->br = br;
	xp->worker = worker;
	xp->queue = cfg->queue;
	strcpy(xp->ifname, ifname);
	rc = -pthread_mutex_init(&xp->tx_lock, NULL);
	if (rc) {
		free(xp);
		return rc;
	}
	*out = xp;
	return 0;
}

/* The interface exists, has the queue, and runs no XDP program of anyone else. */
static int afxdp_check_iface(struct xdp_port *xp, char *why, size_t why_size)
{
	const char *ifname = xp->ifname;
	uint32_t cur = 0;
	int rc;

	xp->ifindex = (int)if_nametoindex(ifname);
	if (!xp->ifindex) {
		rc = errno == ENODEV || errno == ENXIO ? -ENODEV : -errno;
		why_set(why, why_size, rc == -ENODEV ? "no such interface %s" : "interface %s: %s",
			ifname, strerror(-rc));
		return rc;
	}
	/* checked before anything changes on the interface */
	if ((!netdev_channels(ifname, &xp->nqueues) ||
	     !netdev_rx_queues(xp->ifindex, &xp->nqueues)) &&
	    xp->queue >= xp->nqueues) {
		why_set(why, why_size, "queue %u out of range: %s has %u RX queue%s", xp->queue,
			ifname, xp->nqueues, xp->nqueues == 1 ? "" : "s");
		return -ERANGE;
	}
	if (!bpf_xdp_query_id(xp->ifindex, 0, &cur) && cur) {
		why_set(why, why_size, "%s already runs XDP program id %u (not ours to replace)",
			ifname, cur);
		return -EBUSY;
	}
	return 0;
}

/* Interface up, packet pool, XSKMAP, and the XDP program loaded and attached. */
static int afxdp_attach(struct xdp_port *xp, uint32_t mode, char *why, size_t why_size)
{
	const char *ifname = xp->ifname;
	char log[256] = "";
	int rc;

	rc = vsw_netdev_up(ifname, true, &xp->ifindex); /* promiscuous: guests' MACs */
	if (rc) {
		why_set(why, why_size, "interface %s: %s", ifname, strerror(-rc));
		return rc;
	}
	rc = pvnet_pkt_pool_create(VSW_XDP_POOL, VSW_XDP_FRAME, &xp->pool);
	if (rc) {
		why_set(why, why_size, "packet pool: %s", strerror(-rc));
		return rc;
	}
	rc = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "pvnet_xsks", sizeof(uint32_t), sizeof(uint32_t),
			    xp->queue + 1, NULL);
	if (rc < 0) {
		why_set(why, why_size,
			"cannot create an XSKMAP (kernel without BPF or AF_XDP?): %s",
			strerror(-rc));
		return rc;
	}
	xp->map_fd = rc;
	rc = prog_load(xp, log, sizeof(log));
	if (rc) {
		why_set(why, why_size, "cannot load the XDP program: %s%s%s", strerror(-rc),
			log[0] ? ": " : "", log);
		return rc;
	}
	rc = prog_attach(xp, mode);
	if (rc)
		why_set(why, why_size, "cannot attach XDP to %s in %s mode: %s", ifname,
			mode_name(mode), strerror(-rc));
	return rc;
}

/* The AF_XDP socket on the queue, entered in the XSKMAP. */
static int afxdp_socket(struct xdp_port *xp, enum vsw_afxdp_copy copy, char *why, size_t why_size)
{
	int rc;

	/* A socket closed on this queue a moment ago (del-port then add-port) lets go
	 * of the queue only when a kernel work item runs (the pool's deferred
	 * release): bind says EBUSY until then. Retry for up to ~2 s, control path
	 * only; a queue held by a live socket stays EBUSY and is reported. */
	for (int tries = 0;; tries++) {
		rc = xsk_open(xp, copy);
		if (rc != -EBUSY || tries == 100)
			break;
		xsk_close(xp);
		usleep(20000);
	}
	if (rc) {
		why_set(why, why_size, "AF_XDP socket on %s queue %u (%s mode%s): %s", xp->ifname,
			xp->queue, mode_name(xp->xdp_mode),
			copy == VSW_AFXDP_ZEROCOPY ? ", zero-copy" : "", strerror(-rc));
		return rc;
	}
	rc = xsk_socket__update_xskmap(xp->xsk, xp->map_fd);
	if (rc) {
		rc = rc < 0 ? rc : -rc;
		why_set(why, why_size, "XSKMAP update: %s", strerror(-rc));
	}
	return rc;
}

int vsw_afxdp_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *ifname,
		       const struct vsw_afxdp_config *cfg, char *why, size_t why_size,
		       struct vsw_port **out)
{
	static const struct vsw_afxdp_config defaults = {0};
	struct xdp_port *xp;
	uint32_t mode;
	int rc = -EINVAL;

	*out = NULL;
	why_set(why, why_size, "invalid arguments");
	if (!cfg)
		cfg = &defaults;
	if (!br || !worker || !ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ ||
	    cfg->mode > VSW_AFXDP_MODE_DRV || cfg->copy > VSW_AFXDP_ZEROCOPY)
		goto fail;
	mode = cfg->mode == VSW_AFXDP_MODE_SKB   ? XDP_FLAGS_SKB_MODE
	       : cfg->mode == VSW_AFXDP_MODE_DRV ? XDP_FLAGS_DRV_MODE
						 : 0;
	if (mode == XDP_FLAGS_SKB_MODE && cfg->copy == VSW_AFXDP_ZEROCOPY) {
		why_set(why, why_size, "zero-copy needs native (drv) mode, not skb");
		goto fail;
	}
	rc = afxdp_new(br, worker, ifname, cfg, &xp);
	if (rc)
		goto fail;
	rc = afxdp_check_iface(xp, why, why_size);
	if (rc)
		goto fail_xp;
	rc = afxdp_attach(xp, mode, why, why_size);
	if (rc)
		goto fail_xp;
	rc = afxdp_socket(xp, cfg->copy, why, why_size);
	if (rc)
		goto fail_xp;
	rc = vsw_port_add(br, ifname, &xdp_ops, xp, 0, &xp->port);
	if (rc) {
		why_set(why, why_size, "%s", rc == -EEXIST ? "port name taken" : strerror(-rc));
		goto fail_xp;
	}
	rc = vsw_worker_add(worker, xp->fd, xdp_rx_poll, xp);
	if (rc) {
		why_set(why, why_size, "uplink worker: %s", strerror(-rc));
		vsw_port_del(br, xp->port); /* runs xdp_destroy: frees xp */
		goto fail;
	}
	PVLOG(INFO, VSW_LOG, "%s: AF_XDP queue %u, %s mode, %s, program %u", ifname, xp->queue,
	      mode_name(xp->xdp_mode), xp->zero_copy ? "zero-copy" : "copy", xp->prog_id);
	why_set(why, why_size, "ok");
	*out = xp->port;
	return 0;

fail_xp:
	xdp_free(xp);
fail:
	return rc;
}
