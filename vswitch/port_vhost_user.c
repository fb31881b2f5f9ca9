/* SPDX-License-Identifier: MIT */
/*
 * vhost-user port, the control side: the messages the VMM sends on the Unix socket
 * (see include/pvnet/vhost.h for the contract and the hostile-VMM rules). A message
 * is received without ever waiting (read_msg), then dispatched through
 * vhu_handlers[], one entry per request with its rules as data: the payload size
 * it needs, whether its payload names a vring, whether it takes file descriptors,
 * whether it answers. The dispatcher enforces the rules, so a handler only does
 * its job (as DPDK's VHOST_MESSAGE_HANDLERS with accepts_fd).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "vhost_private.h"

static void unmap_regions(struct vsw_vhost *vh)
{
	for (unsigned i = 0; i < vh->nregions; i++)
		vsw_vhost_region_unmap(&vh->regions[i]);
	vh->nregions = 0;
}

void vsw_vhost_vq_reset(struct vhu_vq *vq)
{
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	if (vq->call_fd >= 0)
		close(vq->call_fd);
	memset(vq, 0, sizeof(*vq));
	vq->kick_fd = vq->call_fd = -1;
}

/* Maps the ring addresses of `vq` if both the memory and the addresses are known. */
static int vq_map(struct vsw_vhost *vh, struct vhu_vq *vq)
{
	uint64_t num = vq->num;

	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	if (!vq->have_addr || !num || !vh->nregions)
		return 0;
	vq->desc = (struct vring_desc *)vhu_uva_to_host(vh, vq->addr.desc, num * 16);
	vq->avail = (struct vring_avail *)vhu_uva_to_host(vh, vq->addr.avail, 6 + 2 * num);
	vq->used = (struct vring_used *)vhu_uva_to_host(vh, vq->addr.used, 6 + 8 * num);
	if (!vq->desc || !vq->avail || !vq->used || ((uintptr_t)vq->desc & 15) ||
	    ((uintptr_t)vq->avail & 1) || ((uintptr_t)vq->used & 3)) {
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -EINVAL;
	}
	vq->used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED);
	vq->signalled_used = vq->used_idx;
	return 0;
}

static void ep_set_kick(struct vsw_vhost *vh, int old_fd, int new_fd)
{
	if (old_fd >= 0)
		epoll_ctl(vh->ep_fd, EPOLL_CTL_DEL, old_fd, NULL);
	if (new_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = new_fd};
		epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, new_fd, &ev);
	}
}

/*
 * Closes a file the VMM sent. A socket first loses SO_LINGER: close() of the last
 * reference to a lingering TCP socket with unsent data waits up to its linger
 * time, which the VMM chose. (Any other file: ENOTSOCK, nothing changes.)
 */
static void vmm_fd_close(int fd)
{
	struct linger off = {0, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
	close(fd);
}


/* Forgets the message being received, closing the fds that came with it. */
static void rx_reset(struct vsw_vhost *vh)
{
	for (unsigned i = 0; i < vh->rx_nfds; i++)
		vmm_fd_close(vh->rx_fds[i]);
	vh->rx_nfds = 0;
	vh->rx_got = 0;
	vh->rx_deadline_ns = 0;
}

void vsw_vhost_disconnect(struct vsw_vhost *vh)
{
	if (vh->conn_fd < 0)
		return;
	pthread_mutex_lock(&vh->lock);
	for (unsigned q = 0; q < VHU_NQ; q++) {
		ep_set_kick(vh, vh->vq[q].kick_fd, -1);
		vsw_vhost_vq_reset(&vh->vq[q]);
	}
	unmap_regions(vh);
	vh->features = 0;
	vh->features_set = vh->protocol_features = vh->event_idx = false;
	vh->hdr_size = 12;
	pthread_mutex_unlock(&vh->lock);
	rx_reset(vh);
	epoll_ctl(vh->ep_fd, EPOLL_CTL_DEL, vh->conn_fd, NULL);
	close(vh->conn_fd);
	vh->conn_fd = -1;
	CNT_ADD(vh, disconnects, 1);
	PVLOG(INFO, MOD, "%s: VMM disconnected", vh->name);
}

static int set_mem_table(struct vsw_vhost *vh, const struct vhu_msg *m, const int *fds,
			 unsigned nfds)
{
	struct vsw_vhost_region nr[VHU_MAX_REGIONS];
	unsigned n = m->p.mem.nregions, i, unsealed = 0;
	int rc = 0;

	uint64_t total = 0;

	if (n == 0 || n > VHU_MAX_REGIONS || n != nfds ||
	    m->size < 8 + n * sizeof(struct vhu_region_msg)) {
		PVLOG_RL(WARN, MOD,
			 "%s: memory table refused: %u region(s) with %u fd(s) in %u "
			 "bytes (at most %u regions, one fd each)",
			 vh->name, n, nfds, m->size, VHU_MAX_REGIONS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct vhu_region_msg rm;
		bool sealed;

		memcpy(&rm, (const uint8_t *)m + VHU_HDR_SIZE + 8 + i * sizeof(rm), sizeof(rm));
		/* bounded before anything is mapped: the whole table, and each region's
		 * reach into its file (what the mapping covers) */
		if (rm.size > vh->mem_max || rm.mmap_offset > vh->mem_max - rm.size ||
		    total + rm.size > vh->mem_max) {
			PVLOG_RL(WARN, MOD,
				 "%s: memory table refused: region %u (offset %llu, "
				 "%llu bytes) beyond the port's limit of %llu bytes",
				 vh->name, i, (unsigned long long)rm.mmap_offset,
				 (unsigned long long)rm.size, (unsigned long long)vh->mem_max);
			rc = -EINVAL;
			goto unmap;
		}
		total += rm.size;
		nr[i] = (struct vsw_vhost_region){.gpa = rm.gpa, .size = rm.size, .uva = rm.uva};
		rc = vsw_vhost_region_map(&nr[i], fds[i], rm.mmap_offset, &vh->mem_fault,
					  vh->wake_fd, &sealed);
		if (rc < 0) {
			PVLOG_RL(WARN, MOD, "%s: memory table refused: region %u: %s%s", vh->name,
				 i, strerror(-rc),
				 rc == -EBADF ? " (not a memfd, tmpfs or "
						"hugetlbfs file)"
					      : "");
			goto unmap;
		}
		unsealed += !sealed;
	}
	pthread_mutex_lock(&vh->lock);
	unmap_regions(vh);
	memcpy(vh->regions, nr, n * sizeof(nr[0]));
	vh->nregions = n;
	for (unsigned q = 0; q < VHU_NQ; q++)
		if (vq_map(vh, &vh->vq[q]) < 0)
			vh->vq[q].started = false;
	pthread_mutex_unlock(&vh->lock);
	PVLOG(INFO, MOD,
	      "%s: guest memory: %u region(s), first %llu MiB, %u not sealable "
	      "against shrinking (SIGBUS guard)",
	      vh->name, n, (unsigned long long)(nr[0].size >> 20), unsealed);
	return 0;
unmap:
	while (i-- > 0)
		vsw_vhost_region_unmap(&nr[i]);
	return rc;
}

static void refresh_started(struct vsw_vhost *vh, struct vhu_vq *vq)
{
	vq->started = vq->kick_fd >= 0 && vq->desc && vq->num;
	/* guest RX rings: the port looks at the avail index at every egress burst and
	 * never waits for a kick there, so the guest need not send one (a DPDK PMD would
	 * otherwise write the kick eventfd after every refill) */
	if (vq->started && !VHU_IS_TXQ((unsigned)(vq - vh->vq)))
		__atomic_store_n(&vq->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
	vh->st.running = vhu_vq_ready(&vh->vq[VHU_RXQ]) && vhu_vq_ready(&vh->vq[VHU_TXQ]);
	if (vh->st.running) /* client mode: a working connection resets the backoff */
		vh->backoff_ms = VHU_CONNECT_BACKOFF_MIN_MS;
}

static int send_reply(struct vsw_vhost *vh, const struct vhu_msg *req, const void *payload,
		      uint32_t size)
{
	struct vhu_msg r;

	r.request = req->request;
	r.flags = VHU_VERSION | VHU_FLAG_REPLY;
	r.size = size;
	memcpy(&r.p, payload, size);
	/* never waits: a VMM that does not read its replies fills the socket buffer
	 * (hundreds of KiB of 20-byte replies) and is dropped */
	if (send(vh->conn_fd, &r, VHU_HDR_SIZE + size, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)(VHU_HDR_SIZE + size)) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			CNT_ADD(vh, reply_stalls, 1);
			PVLOG_RL(WARN, MOD, "%s: the VMM does not read its replies: dropped",
				 vh->name);
		}
		return -EIO;
	}
	return 0;
}

/* The virtio features offered: VIRTIO_NET_F_MQ too with more than one queue pair. */
static uint64_t port_features(const struct vsw_vhost *vh)
{
	return VHU_FEATURES | (vh->nq > 2 ? BIT(VIRTIO_NET_F_MQ) : 0);
}

/* ---- the handlers ---------------------------------------------------------------------- */

/* One message being handled: what arrived, and the answer of a VHU_H_REPLY handler. */
struct vhu_call {
	const struct vhu_msg *m;
	int *fds; /* VHU_H_FDS: a handler keeping fds[i] sets it to -1; the rest are closed */
	unsigned nfds;
	uint32_t reply_size; /* VHU_H_REPLY: bytes of reply */
	union {
		uint64_t u64;
		struct vhu_state state;
	} reply;
};

/* The rules of a request, enforced by handle_msg before the handler runs. */
enum {
	VHU_H_FDS = 1u << 0,      /* accepts fds (SCM_RIGHTS); any other message's are closed */
	VHU_H_REPLY = 1u << 1,    /* answers: call.reply is sent when the handler returns 0 */
	VHU_H_RING = 1u << 2,     /* payload starts with a vring index (u32) < the vrings offered */
	VHU_H_RING_U64 = 1u << 3, /* payload is a u64 whose low byte is such an index */
};

struct vhu_handler {
	const char *name;
	int (*fn)(struct vsw_vhost *vh, struct vhu_call *c); /* 0 or -errno */
	uint32_t min_size; /* payload bytes at least, else -EINVAL */
	unsigned flags;    /* VHU_H_* */
};

static int h_get_features(struct vsw_vhost *vh, struct vhu_call *c)
{
	c->reply.u64 = port_features(vh);
	c->reply_size = sizeof(c->reply.u64);
	return 0;
}

static int h_set_features(struct vsw_vhost *vh, struct vhu_call *c)
{
	uint64_t f = c->m->p.u64;

	if (f & ~port_features(vh))
		return -EINVAL;
	pthread_mutex_lock(&vh->lock);
	vh->features = f;
	vh->features_set = true;
	vh->event_idx = f & BIT(VIRTIO_RING_F_EVENT_IDX);
	vh->hdr_size = (f & (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF))) ? 12 : 10;
	/* without VHOST_USER_F_PROTOCOL_FEATURES rings start enabled, with it they wait
	 * for SET_VRING_ENABLE */
	vh->protocol_features = f & BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	for (unsigned q = 0; q < vh->nq && !vh->protocol_features; q++)
		vh->vq[q].enabled = true;
	pthread_mutex_unlock(&vh->lock);
	__atomic_store_n(&vh->st.features, f, __ATOMIC_RELAXED);
	PVLOG(INFO, MOD,
	      "%s: features 0x%llx (mrg_rxbuf=%d event_idx=%d guest_csum=%d "
	      "guest_tso4=%d host_tso4=%d)",
	      vh->name, (unsigned long long)f, !!(f & BIT(VIRTIO_NET_F_MRG_RXBUF)),
	      !!(f & BIT(VIRTIO_RING_F_EVENT_IDX)), !!(f & BIT(VIRTIO_NET_F_GUEST_CSUM)),
	      !!(f & BIT(VIRTIO_NET_F_GUEST_TSO4)), !!(f & BIT(VIRTIO_NET_F_HOST_TSO4)));
	return 0;
}

/* SET_OWNER, SET_PROTOCOL_FEATURES: nothing to keep (the connection is the owner;
 * the only protocol feature offered, MQ, changes nothing on this side). */
static int h_nop(struct vsw_vhost *vh, struct vhu_call *c)
{
	(void)vh;
	(void)c;
	return 0;
}

static int h_reset_owner(struct vsw_vhost *vh, struct vhu_call *c)
{
	(void)c;
	pthread_mutex_lock(&vh->lock);
	for (unsigned q = 0; q < VHU_NQ; q++) {
		ep_set_kick(vh, vh->vq[q].kick_fd, -1);
		vsw_vhost_vq_reset(&vh->vq[q]);
	}
	vh->st.running = false;
	pthread_mutex_unlock(&vh->lock);
	return 0;
}

static int h_get_protocol_features(struct vsw_vhost *vh, struct vhu_call *c)
{
	c->reply.u64 = vh->nq > 2 ? BIT(VHU_PROTO_F_MQ) : 0;
	c->reply_size = sizeof(c->reply.u64);
	return 0;
}

static int h_get_queue_num(struct vsw_vhost *vh, struct vhu_call *c)
{
	c->reply.u64 = vh->nq / 2;
	c->reply_size = sizeof(c->reply.u64);
	return 0;
}

static int h_set_mem_table(struct vsw_vhost *vh, struct vhu_call *c)
{
	return set_mem_table(vh, c->m, c->fds, c->nfds); /* the fds are closed after */
}

static int h_set_vring_num(struct vsw_vhost *vh, struct vhu_call *c)
{
	struct vhu_vq *vq = &vh->vq[c->m->p.state.index];
	uint32_t num = c->m->p.state.num;
	int rc = 0;

	pthread_mutex_lock(&vh->lock);
	if (!num || num > VRING_MAX_NUM || (num & (num - 1)))
		rc = -EINVAL;
	else
		vq->num = num;
	vq_map(vh, vq);
	refresh_started(vh, vq);
	pthread_mutex_unlock(&vh->lock);
	return rc;
}

static int h_set_vring_base(struct vsw_vhost *vh, struct vhu_call *c)
{
	struct vhu_vq *vq = &vh->vq[c->m->p.state.index];

	pthread_mutex_lock(&vh->lock);
	vq->last_avail = (uint16_t)c->m->p.state.num;
	refresh_started(vh, vq);
	pthread_mutex_unlock(&vh->lock);
	return 0;
}

/* Stops the ring; the VMM reads where to resume. */
static int h_get_vring_base(struct vsw_vhost *vh, struct vhu_call *c)
{
	unsigned qi = c->m->p.state.index;
	struct vhu_vq *vq = &vh->vq[qi];

	pthread_mutex_lock(&vh->lock);
	ep_set_kick(vh, vq->kick_fd, -1);
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	vq->kick_fd = -1;
	vq->started = false;
	vh->st.running = false;
	c->reply.state = (struct vhu_state){.index = qi, .num = vq->last_avail};
	c->reply_size = sizeof(c->reply.state);
	pthread_mutex_unlock(&vh->lock);
	return 0;
}

static int h_set_vring_enable(struct vsw_vhost *vh, struct vhu_call *c)
{
	struct vhu_vq *vq = &vh->vq[c->m->p.state.index];

	pthread_mutex_lock(&vh->lock);
	vq->enabled = c->m->p.state.num != 0;
	refresh_started(vh, vq);
	pthread_mutex_unlock(&vh->lock);
	return 0;
}

static int h_set_vring_addr(struct vsw_vhost *vh, struct vhu_call *c)
{
	struct vhu_vq *vq = &vh->vq[c->m->p.addr.index];
	int rc;

	pthread_mutex_lock(&vh->lock);
	vq->addr = c->m->p.addr;
	vq->have_addr = true;
	rc = vq_map(vh, vq);
	refresh_started(vh, vq);
	pthread_mutex_unlock(&vh->lock);
	return rc;
}

/*
 * The eventfd of a SET_VRING_KICK/CALL/ERR (taken from c->fds), or -1 with
 * VHU_VRING_NOFD. 0 or -EINVAL (not exactly one fd, or not an eventfd).
 */
static int vring_fd_take(struct vhu_call *c, int *out)
{
	int fd;

	*out = -1;
	if (c->m->p.u64 & VHU_VRING_NOFD)
		return 0;
	if (c->nfds != 1)
		return -EINVAL;
	fd = c->fds[0];
	c->fds[0] = -1;
	if (!vsw_vhost_fd_is_eventfd(fd)) { /* see port_vhost_mem.c */
		vmm_fd_close(fd);
		return -EINVAL;
	}
	*out = fd;
	return 0;
}

static int h_set_vring_kick(struct vsw_vhost *vh, struct vhu_call *c)
{
	unsigned qi = (unsigned)(c->m->p.u64 & VHU_VRING_IDX_MASK);
	struct vhu_vq *vq = &vh->vq[qi];
	int fd, rc = vring_fd_take(c, &fd);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&vh->lock);
	ep_set_kick(vh, vq->kick_fd, fd); /* guest TX: frames; guest RX: buffers */
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	vq->kick_fd = fd;
	if (fd >= 0)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	refresh_started(vh, vq);
	pthread_mutex_unlock(&vh->lock);
	if (vh->st.running)
		PVLOG(INFO, MOD, "%s: queues running", vh->name);
	return 0;
}

static int h_set_vring_call(struct vsw_vhost *vh, struct vhu_call *c)
{
	struct vhu_vq *vq = &vh->vq[c->m->p.u64 & VHU_VRING_IDX_MASK];
	int fd, rc = vring_fd_take(c, &fd);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&vh->lock);
	if (vq->call_fd >= 0)
		close(vq->call_fd);
	vq->call_fd = fd;
	pthread_mutex_unlock(&vh->lock);
	if (vh->st.running)
		PVLOG(INFO, MOD, "%s: queues running", vh->name);
	return 0;
}

/* The error eventfd is checked like the others, then not used. */
static int h_set_vring_err(struct vsw_vhost *vh, struct vhu_call *c)
{
	int fd, rc = vring_fd_take(c, &fd);

	(void)vh;
	if (fd >= 0)
		close(fd);
	return rc;
}

#define ST sizeof(struct vhu_state)
/* Indexed by request; a request without a handler (SET_LOG_BASE, SET_LOG_FD, ...) is
 * counted in bad_msgs and otherwise ignored (acknowledged if the VMM asks). */
static const struct vhu_handler vhu_handlers[] = {
	[VHU_GET_FEATURES] = {"GET_FEATURES", h_get_features, 0, VHU_H_REPLY},
	[VHU_SET_FEATURES] = {"SET_FEATURES", h_set_features, 8, 0},
	[VHU_SET_OWNER] = {"SET_OWNER", h_nop, 0, 0},
	[VHU_RESET_OWNER] = {"RESET_OWNER", h_reset_owner, 0, 0},
	[VHU_SET_MEM_TABLE] = {"SET_MEM_TABLE", h_set_mem_table, 0, VHU_H_FDS},
	[VHU_SET_VRING_NUM] = {"SET_VRING_NUM", h_set_vring_num, ST, VHU_H_RING},
	[VHU_SET_VRING_ADDR] = {"SET_VRING_ADDR", h_set_vring_addr, sizeof(struct vhu_addr),
				VHU_H_RING},
	[VHU_SET_VRING_BASE] = {"SET_VRING_BASE", h_set_vring_base, ST, VHU_H_RING},
	[VHU_GET_VRING_BASE] = {"GET_VRING_BASE", h_get_vring_base, ST, VHU_H_RING | VHU_H_REPLY},
	[VHU_SET_VRING_KICK] = {"SET_VRING_KICK", h_set_vring_kick, 8, VHU_H_RING_U64 | VHU_H_FDS},
	[VHU_SET_VRING_CALL] = {"SET_VRING_CALL", h_set_vring_call, 8, VHU_H_RING_U64 | VHU_H_FDS},
	[VHU_SET_VRING_ERR] = {"SET_VRING_ERR", h_set_vring_err, 8, VHU_H_RING_U64 | VHU_H_FDS},
	[VHU_GET_PROTOCOL_FEATURES] = {"GET_PROTOCOL_FEATURES", h_get_protocol_features, 0,
				       VHU_H_REPLY},
	[VHU_SET_PROTOCOL_FEATURES] = {"SET_PROTOCOL_FEATURES", h_nop, 0, 0},
	[VHU_GET_QUEUE_NUM] = {"GET_QUEUE_NUM", h_get_queue_num, 0, VHU_H_REPLY},
	[VHU_SET_VRING_ENABLE] = {"SET_VRING_ENABLE", h_set_vring_enable, ST, VHU_H_RING},
};
#undef ST

/* Whether the vring index a VHU_H_RING / VHU_H_RING_U64 message names is offered. */
static bool ring_index_ok(const struct vsw_vhost *vh, const struct vhu_msg *m, unsigned flags)
{
	if (flags & VHU_H_RING)
		return m->p.state.index < vh->nq;
	if (flags & VHU_H_RING_U64)
		return (m->p.u64 & VHU_VRING_IDX_MASK) < vh->nq;
	return true;
}

/*
 * Handles one message through vhu_handlers[]. 0, or -errno to drop the connection
 * (only when an answer cannot be sent). Takes every fd in fds: those a handler does
 * not keep are closed here (memory mappings outlive their fds).
 */
static int handle_msg(struct vsw_vhost *vh, const struct vhu_msg *m, int *fds, unsigned nfds)
{
	const struct vhu_handler *h = m->request < sizeof(vhu_handlers) / sizeof(vhu_handlers[0])
					      ? &vhu_handlers[m->request]
					      : NULL;
	struct vhu_call c = {.m = m, .fds = fds, .nfds = nfds};
	bool replied = false;
	int rc = 0;

	PVLOG(DEBUG, MOD, "%s: request %u (%s) size %u flags 0x%x fds %u", vh->name, m->request,
	      h && h->fn ? h->name : "?", m->size, m->flags, nfds);
	if (!h || !h->fn) {
		PVLOG_RL(WARN, MOD, "%s: unsupported vhost-user request %u", vh->name, m->request);
		CNT_ADD(vh, bad_msgs, 1);
	} else if (m->size < h->min_size || !ring_index_ok(vh, m, h->flags)) {
		rc = -EINVAL;
	} else {
		if (!(h->flags & VHU_H_FDS))
			c.nfds = 0; /* the handler sees none; closed below */
		rc = h->fn(vh, &c);
		if (rc == 0 && (h->flags & VHU_H_REPLY)) {
			rc = send_reply(vh, m, &c.reply, c.reply_size);
			replied = true;
		}
	}
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			vmm_fd_close(fds[i]);
	if (rc < 0) {
		CNT_ADD(vh, bad_msgs, 1);
		PVLOG_RL(WARN, MOD, "%s: vhost-user request %u (size %u, first word %u) failed: %s",
			 vh->name, m->request, m->size, m->size >= 4 ? m->p.state.index : 0,
			 strerror(-rc));
	}
	if (!replied && (m->flags & VHU_FLAG_NEED_REPLY)) {
		uint64_t ack = rc < 0 ? 1 : 0;
		return send_reply(vh, m, &ack, sizeof(ack)) < 0 ? -EIO : 0;
	}
	/* a failed request that expects no answer is only counted; the link is dropped
	 * when an answer could not be sent */
	return rc == -EIO ? rc : 0;
}

/* ---- receiving ------------------------------------------------------------------------ */

/* Keeps the fds that came with a piece of the message in vh->rx_fds, up to
 * VHU_MAX_FDS in all; closes the rest. true when there were more. */
static bool take_fds(struct vsw_vhost *vh, struct msghdr *mh)
{
	bool flood = false;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (vh->rx_nfds < VHU_MAX_FDS) {
				vh->rx_fds[vh->rx_nfds++] = fd;
			} else {
				vmm_fd_close(fd);
				flood = true;
			}
		}
	}
	return flood;
}

/* The socket is non-blocking: a message arrives in as many reads as the VMM makes
 * of it; its fds are collected in vh->rx_fds until it is whole (vhost_private.h). */
int vsw_vhost_msg_read(struct vsw_vhost *vh)
{
	struct vhu_msg *m = &vh->rx_msg;
	int rc;

	for (;;) {
		uint32_t want = vh->rx_got < VHU_HDR_SIZE ? VHU_HDR_SIZE - vh->rx_got
							  : VHU_HDR_SIZE + m->size - vh->rx_got;
		char cbuf[CMSG_SPACE(VHU_MAX_FDS * sizeof(int))];
		struct iovec iov = {.iov_base = (uint8_t *)m + vh->rx_got, .iov_len = want};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		bool fd_flood = false;
		ssize_t r;

		if (!want)
			break;
		r = recvmsg(vh->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r > 0)
			fd_flood = take_fds(vh, &mh);
		if (r <= 0) {
			rc = r == 0 ? -ECONNRESET : -errno;
			if (vh->rx_got)
				CNT_ADD(vh, bad_msgs, 1); /* closed mid-message */
			goto bad;
		}
		/* truncated control data: the kernel dropped fds beyond our buffer */
		if (fd_flood || (mh.msg_flags & MSG_CTRUNC)) {
			CNT_ADD(vh, fd_floods, 1);
			PVLOG_RL(WARN, MOD, "%s: more than %u fds with one message: VMM dropped",
				 vh->name, VHU_MAX_FDS);
			rc = -EPROTO;
			goto bad;
		}
		if (!vh->rx_got)
			vh->rx_deadline_ns =
				pvnet_now_ns() + (uint64_t)vh->msg_timeout_ms * 1000000ull;
		vh->rx_got += (uint32_t)r;
		if (vh->rx_got == VHU_HDR_SIZE &&
		    ((m->flags & 3) != VHU_VERSION || m->size > sizeof(m->p))) {
			CNT_ADD(vh, bad_msgs, 1);
			PVLOG_RL(WARN, MOD,
				 "%s: bad vhost-user header (request %u, flags 0x%x, "
				 "size %u; at most %zu): VMM dropped",
				 vh->name, m->request, m->flags, m->size, sizeof(m->p));
			rc = -EPROTO;
			goto bad;
		}
	}
	/* whole: handle_msg takes the fds */
	{
		int fds[VHU_MAX_FDS];
		unsigned nfds = vh->rx_nfds;

		memcpy(fds, vh->rx_fds, nfds * sizeof(int));
		vh->rx_nfds = 0;
		rx_reset(vh);
		rc = handle_msg(vh, m, fds, nfds);
	}
	return rc < 0 ? rc : 1;
bad:
	rx_reset(vh);
	return rc;
}
