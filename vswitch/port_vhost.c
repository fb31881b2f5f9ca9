/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend port (see include/pvnet/vhost.h for the contract).
 *
 * Why our own backend rather than DPDK's librte_vhost: librte_vhost needs
 * rte_eal_init() in the daemon (process-global state, an lcore for its thread, EAL
 * arguments shared with the DPDK accelerator plugin), its frames arrive as rte_mbufs
 * that would be copied again into pvnet_pkt, and this tree links one set of
 * libraries into every program and test, so librte_vhost would become a link
 * dependency of all of them. The protocol subset a virtio-net guest needs is small
 * (the messages handled below, split virtqueues, the 12-byte virtio_net_hdr), and
 * here a guest frame is copied exactly once, straight between guest memory and the
 * pvnet_pkt / the egress packet.
 *
 * Memory layout written by the guest (virtio 1.x split ring, little endian; this
 * code runs on x86-64 only, as QEMU's TCG/KVM hosts here do):
 *   desc[num]  {u64 addr; u32 len; u16 flags; u16 next}
 *   avail      {u16 flags; u16 idx; u16 ring[num]}
 *   used       {u16 flags; u16 idx; {u32 id; u32 len} ring[num]}
 * Everything the guest can write is read once into locals and validated there.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/vhost.h>

#include "vsw_private.h"

#define MOD "vhost"

/* ---- vhost-user wire protocol ------------------------------------------------------ */

enum {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
};

#define VHU_VERSION 0x1u
#define VHU_FLAG_REPLY (1u << 2)
#define VHU_FLAG_NEED_REPLY (1u << 3)
#define VHU_VRING_NOFD (1ull << 8)
#define VHU_VRING_IDX_MASK 0xffull
#define VHU_MAX_REGIONS 8
#define VHU_MAX_FDS 8 /* SCM_RIGHTS fds per message: more and the VMM is dropped */
#define VHU_MSG_TIMEOUT_MS 1000u        /* default: a message must arrive whole in this */
#define VHU_MEM_MAX_DEFAULT (64ull << 30) /* default: guest memory a VMM may hand over */

struct vhu_state {
	uint32_t index, num;
};
struct vhu_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};
struct vhu_region_msg {
	uint64_t gpa, size, uva, mmap_offset;
};
struct vhu_mem {
	uint32_t nregions, padding;
	struct vhu_region_msg regions[VHU_MAX_REGIONS];
};
struct vhu_msg {
	uint32_t request, flags, size;
	union {
		uint64_t u64;
		struct vhu_state state;
		struct vhu_addr addr;
		struct vhu_mem mem;
	} p;
} __attribute__((packed));
#define VHU_HDR_SIZE 12u
_Static_assert(offsetof(struct vhu_msg, p) == VHU_HDR_SIZE, "vhost-user header");
_Static_assert(sizeof(struct vhu_addr) == 40, "vhost_vring_addr");
_Static_assert(sizeof(struct vhu_mem) == 8 + 8 * 32, "vhost-user memory");

/* ---- virtio ------------------------------------------------------------------------ */

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_F_VERSION_1 32
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define BIT(n) (1ull << (n))

#define VHU_FEATURES                                                                      \
	(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) | \
	 BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_HOST_TSO4) |                         \
	 BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_MRG_RXBUF) |                          \
	 BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_F_VERSION_1) |                         \
	 BIT(VHOST_USER_F_PROTOCOL_FEATURES))

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_USED_F_NO_NOTIFY 1
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_MAX_NUM 32768

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct vring_avail {
	uint16_t flags, idx;
	uint16_t ring[];
};
struct vring_used_elem {
	uint32_t id, len;
};
struct vring_used {
	uint16_t flags, idx;
	struct vring_used_elem ring[];
};
_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc");

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

struct virtio_net_hdr_mrg {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr_mrg) == 12, "virtio_net_hdr_mrg_rxbuf");

/* ---- the port ---------------------------------------------------------------------- */

/* vring 2q: guest RX of queue pair q (we write); 2q + 1: its guest TX (we read) */
#define VHU_RXQ 0
#define VHU_TXQ 1
#define VHU_NQ (2 * VSW_VHOST_MAX_QUEUES) /* vrings a port has room for */
#define VHU_IS_TXQ(q) (((q) & 1u) != 0)
#define VHU_PROTO_F_MQ 0 /* VHOST_USER_PROTOCOL_F_MQ */
#define VHU_CONNECT_BACKOFF_MIN_MS 100u  /* client mode: first retry */
#define VHU_CONNECT_BACKOFF_MAX_MS 2000u /* client mode: retries at least this often */
#define VHU_POLL_EPOLL_EVERY 64u /* polling: look at the control socket every N passes */
#define VHU_BUF_SIZE (65536u + 128u) /* a 64 KiB GSO frame plus tag and slack */
#define VHU_MAX_SEGS 64               /* guest buffer pieces gathered per chain */
#define VHU_TSO_MAX_SEGS 64

struct vhu_vq {
	uint32_t num; /* 0: not configured */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vhu_addr addr; /* as received (VMM virtual addresses) */
	bool have_addr;
	uint16_t last_avail; /* next avail entry to consume */
	uint16_t used_idx;   /* our copy of used->idx */
	int kick_fd, call_fd;
	bool enabled; /* SET_VRING_ENABLE (or implied without protocol features) */
	bool started; /* kick received, addresses mapped */
};

struct vhu_seg {
	uint8_t *p;
	uint32_t len;
};

struct vsw_vhost {
	struct vsw_bridge *br;
	struct vsw_port *port;
	char name[VSW_NAME_MAX];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, conn_fd, stop_fd, ep_fd;
	unsigned nq;       /* vrings offered: 2 * queue pairs */
	bool client;       /* connect to path (the frontend listens) */
	bool auto_connect; /* client: the port thread connects (not with test_port_add) */
	unsigned poll_us;  /* 0 event mode, VSW_VHOST_POLL_ALWAYS, or microseconds */
	uint64_t connect_at_ns;  /* client, unconnected: next attempt (CLOCK_MONOTONIC) */
	unsigned backoff_ms;     /* client: the wait after the next failure */
	uint64_t last_work_ns;   /* polling: when a burst last moved frames */
	unsigned poll_pass;      /* polling: passes since the last epoll look */
	pthread_t thread;
	bool thread_started;
	/*
	 * Teardown and the port thread (life_lock): `stopping` set by teardown, after
	 * which the thread no longer enters the switch (it holds life_lock across
	 * vsw_input); `exited` set by the thread as it ends; `orphan` set by a teardown
	 * that gave up waiting for it (stuck in the kernel on a file the VMM handed
	 * over): the thread then frees the port itself when it returns.
	 */
	pthread_mutex_t life_lock;
	bool stopping, exited, orphan;

	/* Guarded by `lock` (send() and the control path); the TX queue is touched only by
	 * the port thread, which also runs the control path. */
	pthread_mutex_t lock;
	struct vsw_vhost_region regions[VHU_MAX_REGIONS];
	unsigned nregions;
	struct vhu_vq vq[VHU_NQ];
	uint64_t features;
	bool features_set, protocol_features;
	uint32_t hdr_size; /* 12 with VERSION_1 or MRG_RXBUF, else 10 */
	uint8_t *scratch;  /* egress linearisation, under lock */
	uint64_t rx_burst_pkts, rx_burst_bytes; /* emitted in this send(), under lock */
	struct pvnet_pkt_pool *pool;    /* guest TX packets */
	unsigned pool_size;             /* packets in pool */
	struct pvnet_pkt_pool *fb_pool; /* egress software offload (under lock) */

	/*
	 * The control message being received (port thread only). The socket is
	 * non-blocking: a message arrives in as many reads as the VMM makes of it, and
	 * must be complete by rx_deadline_ns (CLOCK_MONOTONIC; 0: none in progress), else
	 * the VMM is dropped. The fds that came with it are held in rx_fds until it is
	 * handled or dropped.
	 */
	struct vhu_msg rx_msg;
	uint32_t rx_got; /* bytes of rx_msg received (header, then payload) */
	int rx_fds[VHU_MAX_FDS];
	unsigned rx_nfds;
	uint64_t rx_deadline_ns;
	unsigned msg_timeout_ms;
	uint64_t mem_max; /* bytes: no region may reach beyond this offset of its file */

	struct vsw_vhost_stats st; /* counters: relaxed atomics */
	bool busy, notify_off;     /* port thread only (port_step) */

	/* Set to 1 by the SIGBUS handler (port_vhost_mem.c) when guest memory faulted
	 * (its file shrank): the regions are zero pages now. Read with acquire by the
	 * port thread (port_step: drop and disconnect) and by send(). */
	int mem_fault;
	int wake_fd;            /* eventfd the handler writes: wakes the port thread */
	bool mem_fault_counted; /* a frame was counted for the current fault */
};

static const struct vsw_port_ops vhost_ops;

#define CNT_ADD(vh, field, n) __atomic_fetch_add(&(vh)->st.field, (n), __ATOMIC_RELAXED)

/* ---- guest memory -------------------------------------------------------------------- */

/* Host pointer for guest-physical [gpa, gpa + len) if it lies in one region. */
static uint8_t *gpa_to_host(const struct vsw_vhost *vh, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < vh->nregions; i++) {
		const struct vsw_vhost_region *r = &vh->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

/* Host pointer for VMM-virtual [uva, uva + len) (ring addresses). */
static uint8_t *uva_to_host(const struct vsw_vhost *vh, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < vh->nregions; i++) {
		const struct vsw_vhost_region *r = &vh->regions[i];
		if (uva >= r->uva && uva - r->uva <= r->size && len <= r->size - (uva - r->uva))
			return r->host + (uva - r->uva);
	}
	return NULL;
}

static void unmap_regions(struct vsw_vhost *vh)
{
	for (unsigned i = 0; i < vh->nregions; i++)
		vsw_vhost_region_unmap(&vh->regions[i]);
	vh->nregions = 0;
}

static bool mem_faulted(const struct vsw_vhost *vh)
{
	/* acquire: pairs with the handler's release store after it replaced the pages */
	return __atomic_load_n(&vh->mem_fault, __ATOMIC_ACQUIRE) != 0;
}

/* Counts `n` frames lost to a guest memory fault. */
static void count_mem_fault(struct vsw_vhost *vh, unsigned n)
{
	if (!n)
		return;
	CNT_ADD(vh, guest_mem_fault, n);
	__atomic_store_n(&vh->mem_fault_counted, true, __ATOMIC_RELAXED);
}

/*
 * Walks the descriptor chain at `head` of `vq`, collecting its buffers into
 * segs[0..*nsegs). `want_write`: every buffer must be device-writable (RX) or
 * every one device-readable (TX). Bounds: at most vq->num descriptors (a loop
 * exceeds it), at most one indirect table (not nested, length a multiple of 16),
 * every buffer inside guest memory, total at most `max_size`. Returns the total
 * bytes, or -EINVAL.
 */
static int64_t walk_chain(const struct vsw_vhost *vh, const struct vhu_vq *vq, uint16_t head,
			  bool want_write, struct vhu_seg *segs, unsigned *nsegs, uint64_t max_size)
{
	const struct vring_desc *table = vq->desc;
	uint32_t table_len = vq->num, idx = head, budget = vq->num;
	bool indirect = false;
	uint64_t total = 0;
	unsigned n = 0;

	for (;;) {
		struct vring_desc d;

		if (idx >= table_len || budget-- == 0)
			return -EINVAL;
		memcpy(&d, (const void *)&table[idx], sizeof(d)); /* one read of guest memory */
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > VRING_MAX_NUM)
				return -EINVAL;
			table = (const struct vring_desc *)gpa_to_host(vh, d.addr, d.len);
			if (!table)
				return -EINVAL;
			indirect = true;
			table_len = d.len / sizeof(struct vring_desc);
			budget = table_len;
			idx = 0;
			continue;
		}
		if (!!(d.flags & VRING_DESC_F_WRITE) != want_write)
			return -EINVAL;
		if (d.len) {
			uint8_t *p = gpa_to_host(vh, d.addr, d.len);
			total += d.len;
			if (!p || total > max_size || n == VHU_MAX_SEGS)
				return -EINVAL;
			segs[n].p = p;
			segs[n].len = d.len;
			n++;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
	}
	*nsegs = n;
	return (int64_t)total;
}

/* Copies `size` bytes starting at byte `off` of the gathered buffers into dst. */
static void segs_read(const struct vhu_seg *segs, unsigned n, uint32_t off, void *dst, uint32_t size)
{
	uint8_t *out = dst;

	for (unsigned i = 0; i < n && size; i++) {
		if (off >= segs[i].len) {
			off -= segs[i].len;
			continue;
		}
		uint32_t c = segs[i].len - off;
		if (c > size)
			c = size;
		memcpy(out, segs[i].p + off, c);
		out += c;
		size -= c;
		off = 0;
	}
}

static void vq_push_used(struct vhu_vq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->num - 1)];

	e->id = head;
	e->len = len;
	vq->used_idx++;
}

/* Publishes the used entries written since the last call and signals the guest
 * unless it suppressed interrupts. */
static void vq_publish(struct vsw_vhost *vh, struct vhu_vq *vq)
{
	/* release: the used elements are visible before the index that exposes them */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	/* full fence: the index store is ordered before reading the guest's flags
	 * (otherwise a guest re-enabling interrupts could miss this update) */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->call_fd >= 0 &&
	    !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT)) {
		uint64_t one = 1;
		if (write(vq->call_fd, &one, sizeof(one)) == sizeof(one))
			CNT_ADD(vh, calls, 1);
	}
}

static bool vq_ready(const struct vhu_vq *vq)
{
	return vq->started && vq->enabled && vq->num;
}

/* ---- guest TX: guest -> switch ------------------------------------------------------- */

/* Maps a guest TX virtio_net_hdr onto the packet. 0 or -EINVAL. */
static int hdr_to_pkt(const struct virtio_net_hdr_mrg *h, struct pvnet_pkt *pkt)
{
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if ((uint32_t)h->csum_start + h->csum_offset + 2 > pkt->len)
			return -EINVAL;
		pkt->flags |= PVNET_PKT_F_CSUM_BLANK;
		pkt->csum_start = h->csum_start;
		pkt->csum_offset = h->csum_offset;
	} else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		pkt->flags |= PVNET_PKT_F_DATA_VALIDATED;
	}
	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		pkt->gso_type = PVNET_GSO_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		pkt->gso_type = PVNET_GSO_TCPV6;
		break;
	default: /* UFO: never negotiated */
		return -EINVAL;
	}
	if (!h->gso_size || !(pkt->flags & PVNET_PKT_F_CSUM_BLANK))
		return -EINVAL;
	pkt->gso_size = h->gso_size;
	return 0;
}

/* Reads one guest TX chain into `pkt`. 0, or -EINVAL (bad chain: counted by caller),
 * -EPROTO (bad header). */
static int tx_read_chain(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t head,
			 struct pvnet_pkt *pkt)
{
	struct vhu_seg segs[VHU_MAX_SEGS];
	struct virtio_net_hdr_mrg h = {0};
	unsigned n;
	int64_t total = walk_chain(vh, vq, head, false, segs, &n,
				   (uint64_t)vh->hdr_size + pkt->buf_size);

	if (total < 0 || total < (int64_t)vh->hdr_size + PVNET_ETH_HLEN)
		return -EINVAL;
	segs_read(segs, n, 0, &h, vh->hdr_size);
	pkt->len = pkt->head_size = (uint32_t)(total - vh->hdr_size);
	segs_read(segs, n, vh->hdr_size, pkt->data, pkt->len);
	return hdr_to_pkt(&h, pkt) < 0 ? -EPROTO : 0;
}

/* One burst from the guest's TX queue into the switch. Returns the number of chains
 * consumed (0: nothing to do), on the port thread only. */
static unsigned tx_burst(struct vsw_vhost *vh, struct vhu_vq *vq)
{
	struct pvnet_pkt_batch batch;
	struct pvnet_pkt *pkts[PVNET_BATCH_MAX];
	uint64_t bytes = 0;
	unsigned got, used = 0, bad = 0, badhdr = 0;
	uint16_t avail_idx, n;

	if (!vq_ready(vq))
		return 0;
	/* acquire: ring entries up to avail->idx are read after the index */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	n = (uint16_t)(avail_idx - vq->last_avail);
	if (!n)
		return 0;
	if (n > vq->num) { /* the guest broke its ring: stop serving it */
		PVLOG_RL(WARN, MOD, "%s: guest TX avail index jumped by %u (ring %u): queue stopped",
			 vh->name, n, vq->num);
		CNT_ADD(vh, tx_bad_desc, 1);
		vq->started = false;
		return 0;
	}
	if (n > PVNET_BATCH_MAX)
		n = PVNET_BATCH_MAX;
	got = pvnet_pkt_alloc_bulk(vh->pool, pkts, n);
	if (got < n)
		CNT_ADD(vh, tx_pool_empty, 1);
	batch.count = 0;
	for (unsigned i = 0; i < got; i++) {
		uint16_t head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
						__ATOMIC_RELAXED);
		struct pvnet_pkt *pkt = pkts[i];
		int rc;

		vq->last_avail++;
		rc = head < vq->num ? tx_read_chain(vh, vq, head, pkt) : -EINVAL;
		/* the data is copied out: the buffer goes back to the guest at once */
		if (head < vq->num)
			vq_push_used(vq, head, 0);
		used++;
		if (rc < 0) {
			rc == -EPROTO ? badhdr++ : bad++;
			pvnet_pkt_put(pkt);
			continue;
		}
		bytes += pkt->len;
		batch.vlan_tci[batch.count] = 0;
		batch.pkts[batch.count++] = pkt;
	}
	if (mem_faulted(vh)) {
		/* some chain was read from zero pages: nothing of this burst is trusted */
		count_mem_fault(vh, batch.count);
		pvnet_pkt_put_batch(&batch);
		return used;
	}
	if (used)
		vq_publish(vh, vq);
	if (bad) {
		CNT_ADD(vh, tx_bad_desc, bad);
		PVLOG_RL(WARN, MOD, "%s: %u malformed guest TX chains dropped", vh->name, bad);
	}
	if (badhdr)
		CNT_ADD(vh, tx_bad_hdr, badhdr);
	CNT_ADD(vh, guest_tx_packets, batch.count);
	CNT_ADD(vh, guest_tx_bytes, bytes);
	if (batch.count) {
		pthread_mutex_lock(&vh->life_lock);
		if (!vh->stopping)
			vsw_input(vh->br, vh->port, &batch);
		else
			pvnet_pkt_put_batch(&batch); /* the port is leaving the bridge */
		pthread_mutex_unlock(&vh->life_lock);
	}
	return used;
}

/* ---- guest RX: switch -> guest ------------------------------------------------------- */

/*
 * Writes one frame (hdr + data[0..len)) into the guest's RX buffers: one chain
 * without MRG_RXBUF, as many as needed with it. The used entries are written but
 * not published. 0, -ENOBUFS (not enough buffers posted: nothing consumed),
 * -EINVAL (a malformed chain was consumed and returned empty; the frame is lost).
 */
static int rx_emit(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t avail_idx,
		   struct virtio_net_hdr_mrg *h, const uint8_t *data, uint32_t len)
{
	bool mrg = vh->features & BIT(VIRTIO_NET_F_MRG_RXBUF);
	uint16_t save_avail = vq->last_avail, save_used = vq->used_idx, nbufs = 0;
	uint32_t hdr_size = vh->hdr_size, off = 0, hdr_off = 0;
	const uint32_t nb_off = offsetof(struct virtio_net_hdr_mrg, num_buffers);
	uint8_t *nb_p[2] = {NULL, NULL}; /* where the two num_buffers bytes landed */

	h->num_buffers = 1;
	while (off < len || hdr_off < hdr_size) {
		struct vhu_seg segs[VHU_MAX_SEGS];
		unsigned n = 0;
		uint32_t written = 0;
		int64_t cap;
		uint16_t head;

		if (vq->last_avail == avail_idx) {
			vq->last_avail = save_avail;
			vq->used_idx = save_used;
			return -ENOBUFS;
		}
		head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
				       __ATOMIC_RELAXED);
		vq->last_avail++;
		cap = head < vq->num ? walk_chain(vh, vq, head, true, segs, &n, UINT32_MAX) : -EINVAL;
		if (cap < 0 || (nbufs == 0 && cap < hdr_size) || (!mrg && cap < hdr_size + len)) {
			/* every chain taken for this frame goes back empty; the frame is lost */
			uint16_t end = vq->last_avail;
			vq->used_idx = save_used;
			for (uint16_t a = save_avail; a != end; a++) {
				uint16_t hd = __atomic_load_n(&vq->avail->ring[a & (vq->num - 1)],
							      __ATOMIC_RELAXED);
				if (hd < vq->num)
					vq_push_used(vq, hd, 0);
			}
			CNT_ADD(vh, rx_bad_desc, 1);
			return -EINVAL;
		}
		/* the header first (it may span buffers), then the frame */
		for (unsigned s = 0; s < n && (off < len || hdr_off < hdr_size); s++) {
			uint32_t pos = 0;
			if (hdr_off < hdr_size) {
				uint32_t c = segs[s].len < hdr_size - hdr_off ? segs[s].len
									     : hdr_size - hdr_off;
				for (uint32_t b = 0; b < 2; b++)
					if (nb_off + b >= hdr_off && nb_off + b < hdr_off + c)
						nb_p[b] = segs[s].p + (nb_off + b - hdr_off);
				memcpy(segs[s].p, (uint8_t *)h + hdr_off, c);
				hdr_off += c;
				pos = c;
			}
			if (pos < segs[s].len && off < len) {
				uint32_t c = segs[s].len - pos < len - off ? segs[s].len - pos : len - off;
				memcpy(segs[s].p + pos, data + off, c);
				off += c;
				pos += c;
			}
			written += pos;
		}
		vq_push_used(vq, head, written);
		nbufs++;
	}
	if (nbufs > 1 && nb_p[0] && nb_p[1]) {
		/* num_buffers lives in the first buffer's header (little endian) */
		*nb_p[0] = (uint8_t)nbufs;
		*nb_p[1] = (uint8_t)(nbufs >> 8);
	}
	return 0;
}

/* Fills the virtio_net_hdr for an egress packet (tag_len: 4 when a tag is inserted). */
static void pkt_to_hdr(const struct vsw_vhost *vh, const struct pvnet_pkt *pkt, uint32_t tag_len,
		       struct virtio_net_hdr_mrg *h)
{
	memset(h, 0, sizeof(*h));
	if (pkt->flags & PVNET_PKT_F_CSUM_BLANK) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = (uint16_t)(pkt->csum_start + tag_len);
		h->csum_offset = pkt->csum_offset;
	} else if ((pkt->flags & PVNET_PKT_F_DATA_VALIDATED) &&
		   (vh->features & BIT(VIRTIO_NET_F_GUEST_CSUM))) {
		h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	if (pkt->gso_type != PVNET_GSO_NONE) {
		h->gso_type = pkt->gso_type == PVNET_GSO_TCPV4 ? VIRTIO_NET_HDR_GSO_TCPV4
							       : VIRTIO_NET_HDR_GSO_TCPV6;
		h->gso_size = pkt->gso_size;
		/* a hint for the guest: Ethernet + IP + TCP headers, bounded by the frame */
		uint32_t hl = (uint32_t)h->csum_start + 20, fl = pkt->len + tag_len;
		h->hdr_len = (uint16_t)(hl <= fl ? hl : fl);
	}
}

/* Emits one egress packet as it is (offloads the guest can take). Under lock. */
static int rx_emit_pkt(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t avail_idx,
		       const struct pvnet_pkt *pkt, uint16_t tci)
{
	struct virtio_net_hdr_mrg h;
	const uint8_t *data = pkt->data;
	uint32_t len = pkt->len, tag_len = tci ? PVNET_VLAN_HLEN : 0;
	int rc;

	if (tci || pkt->len > pkt->head_size) {
		rc = vsw_pkt_linearize(pkt, tci, vh->scratch, VHU_BUF_SIZE);
		if (rc < 0)
			return rc == -ENOSPC ? -EINVAL : rc;
		data = vh->scratch;
		len = (uint32_t)rc;
	}
	pkt_to_hdr(vh, pkt, tag_len, &h);
	rc = rx_emit(vh, vq, avail_idx, &h, data, len);
	if (rc == 0) { /* counted by vhost_send: delivered, or lost to a memory fault */
		vh->rx_burst_pkts++;
		vh->rx_burst_bytes += len;
	}
	return rc;
}

/*
 * A packet needing an offload the guest did not negotiate: copy it into our own
 * LOCAL packet (shared packets are read-only), then checksum or segment it in
 * software and emit the result. Frames lost here are counted rx_fallback_drop.
 */
static int rx_emit_fallback(struct vsw_vhost *vh, struct vhu_vq *vq, uint16_t avail_idx,
			    const struct pvnet_pkt *pkt, uint16_t tci)
{
	struct pvnet_pkt *copy = pvnet_pkt_alloc(vh->fb_pool), *segs[VHU_TSO_MAX_SEGS];
	int rc, nseg;

	if (!copy)
		goto drop;
	rc = vsw_pkt_linearize(pkt, 0, copy->data, copy->buf_size);
	if (rc < 0)
		goto put_copy;
	copy->len = copy->head_size = (uint32_t)rc;
	copy->flags = pkt->flags & (PVNET_PKT_F_CSUM_BLANK | PVNET_PKT_F_DATA_VALIDATED);
	copy->csum_start = pkt->csum_start;
	copy->csum_offset = pkt->csum_offset;
	copy->gso_type = pkt->gso_type;
	copy->gso_size = pkt->gso_size;
	if (copy->gso_type == PVNET_GSO_NONE) {
		if (vsw_offload_csum(copy) < 0)
			goto put_copy;
		CNT_ADD(vh, rx_sw_csum, 1);
		rc = rx_emit_pkt(vh, vq, avail_idx, copy, tci);
		pvnet_pkt_put(copy);
		return rc;
	}
	nseg = vsw_offload_tso(copy, vh->fb_pool, segs, VHU_TSO_MAX_SEGS);
	pvnet_pkt_put(copy);
	if (nseg < 0)
		goto drop;
	CNT_ADD(vh, rx_sw_tso, 1);
	rc = 0;
	for (int i = 0; i < nseg; i++) {
		/* segments carry full checksums; an earlier failure drops the rest */
		if (rc == 0)
			rc = rx_emit_pkt(vh, vq, avail_idx, segs[i], tci);
		pvnet_pkt_put(segs[i]);
	}
	return rc == -ENOBUFS ? -EINVAL : rc; /* partly delivered: never retried */
put_copy:
	pvnet_pkt_put(copy);
drop:
	CNT_ADD(vh, rx_fallback_drop, 1);
	return -EINVAL;
}

static bool needs_fallback(const struct vsw_vhost *vh, const struct pvnet_pkt *pkt)
{
	uint64_t f = vh->features;

	if (pkt->gso_type == PVNET_GSO_TCPV4)
		return !(f & BIT(VIRTIO_NET_F_GUEST_TSO4)) || !(f & BIT(VIRTIO_NET_F_GUEST_CSUM));
	if (pkt->gso_type == PVNET_GSO_TCPV6)
		return !(f & BIT(VIRTIO_NET_F_GUEST_TSO6)) || !(f & BIT(VIRTIO_NET_F_GUEST_CSUM));
	return (pkt->flags & PVNET_PKT_F_CSUM_BLANK) && !(f & BIT(VIRTIO_NET_F_GUEST_CSUM));
}

/*
 * The guest RX queue pair for an egress frame: by a hash of its flow (MACs, and the
 * IPv4/IPv6 addresses and TCP/UDP ports when present in the linear head), so a flow
 * keeps its order; among the `n` ready pairs listed in `ready`.
 */
static unsigned pick_rxq(const struct pvnet_pkt *pkt, const unsigned *ready, unsigned n)
{
	const uint8_t *d = pkt->data;
	uint32_t hl = pkt->head_size < pkt->len ? pkt->head_size : pkt->len, h = 2166136261u;
	uint32_t off = 14, from = 0, to = 12;
	uint16_t et;

	if (n == 1 || hl < 14)
		return ready[0];
	et = (uint16_t)(d[12] << 8 | d[13]);
	if (et == 0x8100 && hl >= 18) {
		et = (uint16_t)(d[16] << 8 | d[17]);
		off = 18;
	}
	if (et == 0x0800 && hl >= off + 20 && (d[off] >> 4) == 4) {
		uint32_t ihl = (uint32_t)(d[off] & 15) * 4;
		bool l4 = (d[off + 9] == 6 || d[off + 9] == 17) && !(d[off + 6] & 0x3f) &&
			  !d[off + 7] && ihl >= 20 && hl >= off + ihl + 4;
		for (uint32_t i = off + 12; i < off + 20; i++) /* addresses */
			h = (h ^ d[i]) * 16777619u;
		from = l4 ? off + ihl : 0; /* ports, or the MACs */
		to = l4 ? off + ihl + 4 : 12;
	} else if (et == 0x86dd && hl >= off + 40) {
		bool l4 = (d[off + 6] == 6 || d[off + 6] == 17) && hl >= off + 44;
		for (uint32_t i = off + 8; i < off + 40; i++)
			h = (h ^ d[i]) * 16777619u;
		from = l4 ? off + 40 : 0;
		to = l4 ? off + 44 : 12;
	}
	for (uint32_t i = from; i < to; i++)
		h = (h ^ d[i]) * 16777619u;
	return ready[h % n];
}

static int vhost_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct vsw_vhost *vh = vsw_port_priv(port);
	unsigned i = 0, nready = 0, ready[VSW_VHOST_MAX_QUEUES];
	uint16_t avail_idx[VSW_VHOST_MAX_QUEUES];
	uint32_t emitted = 0; /* bit per queue pair */

	pthread_mutex_lock(&vh->lock);
	if (mem_faulted(vh)) { /* the port thread disconnects the VMM */
		i = batch->count;
		count_mem_fault(vh, i);
		goto unlock;
	}
	for (unsigned q = 0; q < vh->nq / 2; q++) {
		struct vhu_vq *vq = &vh->vq[2 * q];
		if (!vq_ready(vq))
			continue;
		/* acquire: the guest's buffers are read after the index that publishes them */
		avail_idx[q] = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
		if ((uint16_t)(avail_idx[q] - vq->last_avail) > vq->num) {
			CNT_ADD(vh, rx_bad_desc, 1);
			vq->started = false;
			continue;
		}
		ready[nready++] = q;
	}
	if (!nready) {
		CNT_ADD(vh, rx_not_ready, batch->count);
		goto unlock;
	}
	vh->rx_burst_pkts = vh->rx_burst_bytes = 0;
	for (; i < batch->count; i++) {
		const struct pvnet_pkt *pkt = batch->pkts[i];
		unsigned q = pick_rxq(pkt, ready, nready);
		struct vhu_vq *vq = &vh->vq[2 * q];
		int rc = needs_fallback(vh, pkt)
				 ? rx_emit_fallback(vh, vq, avail_idx[q], pkt, batch->vlan_tci[i])
				 : rx_emit_pkt(vh, vq, avail_idx[q], pkt, batch->vlan_tci[i]);
		if (rc == -ENOBUFS)
			break;
		emitted |= 1u << q; /* delivered, or consumed a bad chain (counted) */
	}
	if (mem_faulted(vh)) {
		/* written into zero pages, not the guest's: lost */
		count_mem_fault(vh, (unsigned)vh->rx_burst_pkts);
	} else {
		CNT_ADD(vh, guest_rx_packets, vh->rx_burst_pkts);
		CNT_ADD(vh, guest_rx_bytes, vh->rx_burst_bytes);
		for (unsigned k = 0; k < nready; k++)
			if (emitted & (1u << ready[k]))
				vq_publish(vh, &vh->vq[2 * ready[k]]);
	}
	if (i < batch->count)
		CNT_ADD(vh, rx_no_buffers, batch->count - i);
unlock:
	pthread_mutex_unlock(&vh->lock);
	for (unsigned k = 0; k < i; k++)
		pvnet_pkt_put(batch->pkts[k]);
	return (int)i;
}

/* ---- control path ------------------------------------------------------------------ */

static void vq_reset(struct vhu_vq *vq)
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
	vq->desc = (struct vring_desc *)uva_to_host(vh, vq->addr.desc, num * 16);
	vq->avail = (struct vring_avail *)uva_to_host(vh, vq->addr.avail, 6 + 2 * num);
	vq->used = (struct vring_used *)uva_to_host(vh, vq->addr.used, 6 + 8 * num);
	if (!vq->desc || !vq->avail || !vq->used || ((uintptr_t)vq->desc & 15) ||
	    ((uintptr_t)vq->avail & 1) || ((uintptr_t)vq->used & 3)) {
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -EINVAL;
	}
	vq->used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED);
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

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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

static void disconnect(struct vsw_vhost *vh)
{
	if (vh->conn_fd < 0)
		return;
	pthread_mutex_lock(&vh->lock);
	for (unsigned q = 0; q < VHU_NQ; q++) {
		if (VHU_IS_TXQ(q))
			ep_set_kick(vh, vh->vq[q].kick_fd, -1);
		vq_reset(&vh->vq[q]);
	}
	unmap_regions(vh);
	vh->features = 0;
	vh->features_set = vh->protocol_features = false;
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
		PVLOG_RL(WARN, MOD, "%s: memory table refused: %u region(s) with %u fd(s) in %u "
			 "bytes (at most %u regions, one fd each)", vh->name, n, nfds, m->size,
			 VHU_MAX_REGIONS);
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
			PVLOG_RL(WARN, MOD, "%s: memory table refused: region %u (offset %llu, "
				 "%llu bytes) beyond the port's limit of %llu bytes", vh->name, i,
				 (unsigned long long)rm.mmap_offset, (unsigned long long)rm.size,
				 (unsigned long long)vh->mem_max);
			rc = -EINVAL;
			goto unmap;
		}
		total += rm.size;
		nr[i] = (struct vsw_vhost_region){.gpa = rm.gpa, .size = rm.size, .uva = rm.uva};
		rc = vsw_vhost_region_map(&nr[i], fds[i], rm.mmap_offset, &vh->mem_fault,
					  vh->wake_fd, &sealed);
		if (rc < 0) {
			PVLOG_RL(WARN, MOD, "%s: memory table refused: region %u: %s%s", vh->name,
				 i, strerror(-rc), rc == -EBADF ? " (not a memfd, tmpfs or "
				 "hugetlbfs file)" : "");
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
	PVLOG(INFO, MOD, "%s: guest memory: %u region(s), first %llu MiB, %u not sealable "
	      "against shrinking (SIGBUS guard)", vh->name, n,
	      (unsigned long long)(nr[0].size >> 20), unsealed);
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
	vh->st.running = vq_ready(&vh->vq[VHU_RXQ]) && vq_ready(&vh->vq[VHU_TXQ]);
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

/* Handles one message. 0, or -errno to drop the connection. Takes every fd in fds. */
static int handle_msg(struct vsw_vhost *vh, struct vhu_msg *m, int *fds, unsigned nfds)
{
	struct vhu_vq *vq = NULL;
	uint64_t u64 = 0;
	bool replied = false;
	int rc = 0;
	unsigned qi;

	PVLOG(DEBUG, MOD, "%s: request %u size %u flags 0x%x fds %u", vh->name, m->request,
	      m->size, m->flags, nfds);
	switch (m->request) {
	case VHU_GET_FEATURES:
		u64 = port_features(vh);
		rc = send_reply(vh, m, &u64, sizeof(u64));
		replied = true;
		break;
	case VHU_SET_FEATURES:
		if (m->size < 8 || (m->p.u64 & ~port_features(vh))) {
			rc = -EINVAL;
			break;
		}
		pthread_mutex_lock(&vh->lock);
		vh->features = m->p.u64;
		vh->features_set = true;
		vh->hdr_size = (vh->features & (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF)))
				       ? 12 : 10;
		/* without VHOST_USER_F_PROTOCOL_FEATURES rings start enabled, with it
		 * they wait for SET_VRING_ENABLE */
		vh->protocol_features = vh->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES);
		for (unsigned q = 0; q < vh->nq && !vh->protocol_features; q++)
			vh->vq[q].enabled = true;
		pthread_mutex_unlock(&vh->lock);
		__atomic_store_n(&vh->st.features, vh->features, __ATOMIC_RELAXED);
		PVLOG(INFO, MOD, "%s: features 0x%llx (mrg_rxbuf=%d guest_csum=%d guest_tso4=%d "
		      "host_tso4=%d)", vh->name, (unsigned long long)vh->features,
		      !!(vh->features & BIT(VIRTIO_NET_F_MRG_RXBUF)),
		      !!(vh->features & BIT(VIRTIO_NET_F_GUEST_CSUM)),
		      !!(vh->features & BIT(VIRTIO_NET_F_GUEST_TSO4)),
		      !!(vh->features & BIT(VIRTIO_NET_F_HOST_TSO4)));
		break;
	case VHU_SET_OWNER:
	case VHU_SET_PROTOCOL_FEATURES:
		break;
	case VHU_RESET_OWNER:
		pthread_mutex_lock(&vh->lock);
		for (unsigned q = 0; q < VHU_NQ; q++) {
			if (VHU_IS_TXQ(q))
				ep_set_kick(vh, vh->vq[q].kick_fd, -1);
			vq_reset(&vh->vq[q]);
		}
		vh->st.running = false;
		pthread_mutex_unlock(&vh->lock);
		break;
	case VHU_GET_PROTOCOL_FEATURES:
		u64 = vh->nq > 2 ? BIT(VHU_PROTO_F_MQ) : 0;
		rc = send_reply(vh, m, &u64, sizeof(u64));
		replied = true;
		break;
	case VHU_SET_MEM_TABLE:
		rc = set_mem_table(vh, m, fds, nfds);
		break;
	case VHU_SET_VRING_NUM:
	case VHU_SET_VRING_BASE:
	case VHU_GET_VRING_BASE:
	case VHU_SET_VRING_ENABLE:
		qi = m->p.state.index;
		if (m->size < sizeof(struct vhu_state) || qi >= vh->nq) {
			rc = -EINVAL;
			break;
		}
		vq = &vh->vq[qi];
		pthread_mutex_lock(&vh->lock);
		if (m->request == VHU_SET_VRING_NUM) {
			uint32_t num = m->p.state.num;
			if (!num || num > VRING_MAX_NUM || (num & (num - 1)))
				rc = -EINVAL;
			else
				vq->num = num;
			vq_map(vh, vq);
		} else if (m->request == VHU_SET_VRING_BASE) {
			vq->last_avail = (uint16_t)m->p.state.num;
		} else if (m->request == VHU_GET_VRING_BASE) {
			/* stops the ring; the VMM reads where to resume */
			struct vhu_state s = {.index = qi, .num = vq->last_avail};
			if (VHU_IS_TXQ(qi))
				ep_set_kick(vh, vq->kick_fd, -1);
			if (vq->kick_fd >= 0)
				close(vq->kick_fd);
			vq->kick_fd = -1;
			vq->started = false;
			vh->st.running = false;
			rc = send_reply(vh, m, &s, sizeof(s));
			replied = true;
		} else {
			vq->enabled = m->p.state.num != 0;
		}
		if (m->request != VHU_GET_VRING_BASE)
			refresh_started(vh, vq);
		pthread_mutex_unlock(&vh->lock);
		break;
	case VHU_SET_VRING_ADDR:
		qi = m->p.addr.index;
		if (m->size < sizeof(struct vhu_addr) || qi >= vh->nq) {
			rc = -EINVAL;
			break;
		}
		vq = &vh->vq[qi];
		pthread_mutex_lock(&vh->lock);
		vq->addr = m->p.addr;
		vq->have_addr = true;
		rc = vq_map(vh, vq);
		refresh_started(vh, vq);
		pthread_mutex_unlock(&vh->lock);
		break;
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR: {
		int fd = -1;
		if (m->size < 8 || (m->p.u64 & VHU_VRING_IDX_MASK) >= vh->nq) {
			rc = -EINVAL;
			break;
		}
		qi = (unsigned)(m->p.u64 & VHU_VRING_IDX_MASK);
		if (!(m->p.u64 & VHU_VRING_NOFD)) {
			if (nfds != 1) {
				rc = -EINVAL;
				break;
			}
			fd = fds[0];
			fds[0] = -1;
			if (!vsw_vhost_fd_is_eventfd(fd)) { /* see port_vhost_mem.c */
				vmm_fd_close(fd);
				rc = -EINVAL;
				break;
			}
		}
		vq = &vh->vq[qi];
		if (m->request == VHU_SET_VRING_ERR) {
			if (fd >= 0)
				close(fd);
			break;
		}
		pthread_mutex_lock(&vh->lock);
		if (m->request == VHU_SET_VRING_KICK) {
			if (VHU_IS_TXQ(qi))
				ep_set_kick(vh, vq->kick_fd, fd);
			if (vq->kick_fd >= 0)
				close(vq->kick_fd);
			vq->kick_fd = fd;
			if (fd >= 0)
				fcntl(fd, F_SETFL, O_NONBLOCK);
			refresh_started(vh, vq);
		} else {
			if (vq->call_fd >= 0)
				close(vq->call_fd);
			vq->call_fd = fd;
		}
		pthread_mutex_unlock(&vh->lock);
		if (vh->st.running)
			PVLOG(INFO, MOD, "%s: queues running", vh->name);
		break;
	}
	case VHU_GET_QUEUE_NUM:
		u64 = vh->nq / 2;
		rc = send_reply(vh, m, &u64, sizeof(u64));
		replied = true;
		break;
	case VHU_SET_LOG_BASE:
	case VHU_SET_LOG_FD:
	default:
		PVLOG_RL(WARN, MOD, "%s: unsupported vhost-user request %u", vh->name, m->request);
		CNT_ADD(vh, bad_msgs, 1);
		break;
	}
	for (unsigned i = 0; i < nfds; i++) /* memory mappings outlive their fds */
		if (fds[i] >= 0)
			vmm_fd_close(fds[i]);
	if (rc < 0) {
		CNT_ADD(vh, bad_msgs, 1);
		PVLOG_RL(WARN, MOD, "%s: vhost-user request %u (size %u, first word %u) failed: %s",
			 vh->name, m->request, m->size, m->size >= 4 ? m->p.state.index : 0,
			 strerror(-rc));
	}
	if (!replied && (m->flags & VHU_FLAG_NEED_REPLY)) {
		u64 = rc < 0 ? 1 : 0;
		if (send_reply(vh, m, &u64, sizeof(u64)) < 0)
			return -EIO;
		return 0;
	}
	/* a failed request that expects no answer is reported by dropping the link only
	 * when the state is unusable (bad memory table); others are just counted */
	return rc == -EIO ? rc : 0;
}

/*
 * Receives what the VMM has sent of the current message, without waiting, and
 * handles the message once it is whole. 1: a message was handled; 0: the rest has
 * not arrived yet (the deadline set at its first byte runs); -errno: drop the VMM
 * (EOF, a bad header, more than VHU_MAX_FDS fds, a fatal handler error).
 */
static int read_msg(struct vsw_vhost *vh)
{
	struct vhu_msg *m = &vh->rx_msg;
	int rc;

	for (;;) {
		uint32_t want = vh->rx_got < VHU_HDR_SIZE ? VHU_HDR_SIZE - vh->rx_got
							   : VHU_HDR_SIZE + m->size - vh->rx_got;
		char cbuf[CMSG_SPACE(VHU_MAX_FDS * sizeof(int))];
		struct iovec iov = {.iov_base = (uint8_t *)m + vh->rx_got, .iov_len = want};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
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
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); r > 0 && c; c = CMSG_NXTHDR(&mh, c)) {
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
					fd_flood = true;
				}
			}
		}
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
			vh->rx_deadline_ns = mono_ns() + (uint64_t)vh->msg_timeout_ms * 1000000ull;
		vh->rx_got += (uint32_t)r;
		if (vh->rx_got == VHU_HDR_SIZE &&
		    ((m->flags & 3) != VHU_VERSION || m->size > sizeof(m->p))) {
			CNT_ADD(vh, bad_msgs, 1);
			PVLOG_RL(WARN, MOD, "%s: bad vhost-user header (request %u, flags 0x%x, "
				 "size %u; at most %zu): VMM dropped", vh->name, m->request,
				 m->flags, m->size, sizeof(m->p));
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

/* ---- the port thread --------------------------------------------------------------- */

static void set_tx_notify(struct vhu_vq *vq, bool on)
{
	uint16_t f = __atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED);

	f = on ? f & ~VRING_USED_F_NO_NOTIFY : f | VRING_USED_F_NO_NOTIFY;
	__atomic_store_n(&vq->used->flags, f, __ATOMIC_RELAXED);
}

/* The VMM goes away: as on a protocol error, the port listens again. */
static void drop_vmm(struct vsw_vhost *vh)
{
	disconnect(vh);
	vh->st.connected = false;
	vh->st.running = false;
	vh->notify_off = false;
	vh->busy = false;
	if (vh->client) { /* the frontend restarts: try again after the backoff */
		vh->connect_at_ns = mono_ns() + (uint64_t)vh->backoff_ms * 1000000ull;
		vh->backoff_ms = vh->backoff_ms * 2 > VHU_CONNECT_BACKOFF_MAX_MS
					 ? VHU_CONNECT_BACKOFF_MAX_MS : vh->backoff_ms * 2;
	}
}

/*
 * Guest memory faulted (the SIGBUS handler replaced a region with zero pages):
 * count it, say so once, and disconnect. The mappings go with the connection; the
 * flag is cleared only once they are gone (under the lock, so send() sees either
 * the flag or no ring).
 */
static void handle_mem_fault(struct vsw_vhost *vh)
{
	if (!__atomic_load_n(&vh->mem_fault_counted, __ATOMIC_RELAXED))
		CNT_ADD(vh, guest_mem_fault, 1);
	PVLOG(ERR, MOD, "%s: guest memory faulted (the VMM shrank a memory file it handed "
	      "over): traffic dropped, VMM disconnected", vh->name);
	drop_vmm(vh);
	pthread_mutex_lock(&vh->lock);
	__atomic_store_n(&vh->mem_fault, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&vh->mem_fault_counted, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vh->lock);
}

/* Notifications of every ready guest TX queue on or off. */
static void set_tx_notify_all(struct vsw_vhost *vh, bool on)
{
	for (unsigned q = VHU_TXQ; q < vh->nq; q += 2)
		if (vq_ready(&vh->vq[q]))
			set_tx_notify(&vh->vq[q], on);
}

/* Whether a ready guest TX queue has buffers we have not consumed. */
static bool tx_pending(const struct vsw_vhost *vh)
{
	for (unsigned q = VHU_TXQ; q < vh->nq; q += 2) {
		const struct vhu_vq *tq = &vh->vq[q];
		if (vq_ready(tq) &&
		    __atomic_load_n(&tq->avail->idx, __ATOMIC_ACQUIRE) != tq->last_avail)
			return true;
	}
	return false;
}

static bool any_tx_ready(const struct vsw_vhost *vh)
{
	for (unsigned q = VHU_TXQ; q < vh->nq; q += 2)
		if (vq_ready(&vh->vq[q]))
			return true;
	return false;
}

/* A new connection to the frontend (accepted, or connected in client mode). */
static void conn_up(struct vsw_vhost *vh, int c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};

	vh->conn_fd = c;
	epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, c, &ev);
	CNT_ADD(vh, connects, 1);
	vh->st.connected = true;
	PVLOG(INFO, MOD, "%s: VMM connected", vh->name);
}

/*
 * Client mode: one connection attempt to the frontend's socket, never waiting (a
 * non-blocking AF_UNIX connect completes or fails at once). The path must be a
 * socket, not a symlink (pvnetd never connects where a link points). On failure the
 * next attempt is after the backoff, which doubles up to VHU_CONNECT_BACKOFF_MAX_MS.
 */
static void client_try(struct vsw_vhost *vh, uint64_t now)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int c = -1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", vh->path);
	if (lstat(vh->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (c >= 0 && connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(c);
			c = -1;
		}
	}
	if (c >= 0) {
		conn_up(vh, c);
		return;
	}
	CNT_ADD(vh, connect_fails, 1);
	vh->connect_at_ns = now + (uint64_t)vh->backoff_ms * 1000000ull;
	vh->backoff_ms = vh->backoff_ms * 2 > VHU_CONNECT_BACKOFF_MAX_MS
				 ? VHU_CONNECT_BACKOFF_MAX_MS : vh->backoff_ms * 2;
}

/* Whether the port is in its polling window (poll_us) at `now`. */
static bool polling(const struct vsw_vhost *vh, uint64_t now)
{
	if (!vh->poll_us || vh->conn_fd < 0)
		return false;
	return vh->poll_us == VSW_VHOST_POLL_ALWAYS ||
	       now - vh->last_work_ns < (uint64_t)vh->poll_us * 1000ull;
}

/*
 * One pass of the port thread's loop: waits for events (not at all unless
 * `may_block`), accepts (or, in client mode, connects to) a VMM, handles at most
 * one control message, drains kicks, then runs one burst of every guest TX queue.
 * Returns the chains consumed, or -1 when told to stop. While polling (poll_us) the
 * guest's kicks stay suppressed and epoll is looked at only every
 * VHU_POLL_EPOLL_EVERY passes that moved frames (at once when one moved none).
 */
static int port_step(struct vsw_vhost *vh, bool may_block)
{
	struct epoll_event evs[4 + VHU_NQ];
	uint64_t now = mono_ns();
	bool poll_now = polling(vh, now);
	int timeout = -1, n = 0, used = 0;

	if (poll_now && vh->busy && ++vh->poll_pass < VHU_POLL_EPOLL_EVERY && !vh->rx_deadline_ns)
		goto burst; /* no syscall between bursts while frames flow */
	vh->poll_pass = 0;
	if (vh->busy || poll_now) {
		timeout = 0;
	} else if (any_tx_ready(vh)) {
		if (vh->notify_off) {
			set_tx_notify_all(vh, true);
			vh->notify_off = false;
		}
		/* full fence: notifications re-enabled before the last look at the ring,
		 * so a buffer the guest posts without kicking is seen now */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (tx_pending(vh))
			timeout = 0;
		if (pvnet_pkt_pool_avail(vh->pool) == 0)
			timeout = 1;
	}
	if (vh->client && vh->auto_connect && vh->conn_fd < 0) { /* next connect attempt */
		int left = now >= vh->connect_at_ns
				   ? 0 : (int)((vh->connect_at_ns - now + 999999) / 1000000);
		if (timeout < 0 || left < timeout)
			timeout = left;
	}
	if (vh->rx_deadline_ns) { /* a message is half received: wake up at its deadline */
		int left = now >= vh->rx_deadline_ns
				   ? 0 : (int)((vh->rx_deadline_ns - now + 999999) / 1000000);
		if (timeout < 0 || left < timeout)
			timeout = left;
	}
	if (!may_block)
		timeout = 0;
	n = epoll_wait(vh->ep_fd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if (fd == vh->stop_fd) {
			return -1;
		} else if (fd == vh->listen_fd) {
			/* non-blocking: the port thread never waits for the VMM */
			int c = accept4(vh->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c < 0)
				continue;
			if (vh->conn_fd >= 0) { /* one VMM at a time */
				close(c);
				continue;
			}
			conn_up(vh, c);
		} else if (fd == vh->conn_fd) {
			if (mem_faulted(vh))
				continue; /* disconnected below */
			if (read_msg(vh) < 0)
				drop_vmm(vh);
		} else if (fd == vh->wake_fd) {
			uint64_t v;
			if (read(fd, &v, sizeof(v)) < 0)
				continue; /* already drained */
		} else {
			uint64_t v;
			for (unsigned q = VHU_TXQ; q < vh->nq; q += 2)
				if (fd == vh->vq[q].kick_fd) {
					if (read(fd, &v, sizeof(v)) == sizeof(v))
						CNT_ADD(vh, kicks, 1);
					break;
				}
		}
	}
	if (vh->rx_deadline_ns && vh->conn_fd >= 0 && mono_ns() >= vh->rx_deadline_ns) {
		CNT_ADD(vh, msg_timeouts, 1);
		PVLOG_RL(WARN, MOD, "%s: the VMM sent %u bytes of a message and stalled for %u "
			 "ms: dropped", vh->name, vh->rx_got, vh->msg_timeout_ms);
		drop_vmm(vh);
	}
	if (vh->client && vh->auto_connect && vh->conn_fd < 0 && mono_ns() >= vh->connect_at_ns)
		client_try(vh, mono_ns());
burst:
	if (!mem_faulted(vh))
		for (unsigned q = VHU_TXQ; q < vh->nq; q += 2)
			used += (int)tx_burst(vh, &vh->vq[q]);
	if (mem_faulted(vh)) { /* before or during the burst */
		handle_mem_fault(vh);
		used = 0;
	}
	vh->busy = used > 0;
	if (vh->busy && vh->poll_us)
		vh->last_work_ns = now;
	else if (poll_now && may_block)
		sched_yield(); /* an empty poll gives the core to whoever shares it */
	if ((vh->busy || poll_now) && !vh->notify_off && any_tx_ready(vh)) {
		set_tx_notify_all(vh, false); /* polling: the guest need not kick */
		vh->notify_off = true;
	}
	return used;
}

static void vhost_release(struct vsw_vhost *vh);

static void *vhost_thread(void *arg)
{
	struct vsw_vhost *vh = arg;
	bool orphan;

	while (port_step(vh, true) >= 0)
		;
	pthread_mutex_lock(&vh->life_lock);
	vh->exited = true;
	orphan = vh->orphan;
	pthread_mutex_unlock(&vh->life_lock);
	if (orphan) { /* teardown returned long ago: the rest is ours to free */
		PVLOG(WARN, MOD, "%s: port thread returned; freeing the removed port", vh->name);
		vhost_release(vh);
	}
	return NULL;
}

/* ---- creation and teardown ----------------------------------------------------------- */

/* Teardown (on pvnetd's control loop) waits this long for the port thread, which
 * is never blocked on the VMM's socket and wakes on stop_fd at once; only a kernel
 * call on a file the VMM handed over (a seal on a memfd whose inode lock it holds
 * in a stuck write) can hold it longer. A thread merely descheduled past it is
 * orphaned too: harmless, it frees the port a little later. */
#define VHU_JOIN_TIMEOUT_MS 50

/* Frees everything of a port whose thread is gone (or never ran). */
static void vhost_release(struct vsw_vhost *vh)
{
	disconnect(vh);
	for (unsigned q = 0; q < VHU_NQ; q++)
		vq_reset(&vh->vq[q]);
	if (vh->listen_fd >= 0) {
		close(vh->listen_fd);
		if (vh->path[0])
			unlink(vh->path);
	}
	if (vh->stop_fd >= 0)
		close(vh->stop_fd);
	if (vh->wake_fd >= 0)
		close(vh->wake_fd);
	if (vh->ep_fd >= 0)
		close(vh->ep_fd);
	pvnet_pkt_pool_destroy(vh->pool);
	pvnet_pkt_pool_destroy(vh->fb_pool);
	free(vh->scratch);
	pthread_mutex_destroy(&vh->lock);
	pthread_mutex_destroy(&vh->life_lock);
	free(vh);
}

/*
 * Stops the port thread and frees the port, in bounded time: the thread is told to
 * stop and to stay out of the switch, then waited for at most VHU_JOIN_TIMEOUT_MS.
 * If it has not ended by then it is left to free the port itself when it returns
 * from the kernel; the socket file is removed now (its path may be reused at once).
 */
static void vhost_free(struct vsw_vhost *vh)
{
	if (vh->thread_started) {
		uint64_t one = 1;
		struct timespec dl;
		bool orphan = false;

		if (write(vh->stop_fd, &one, sizeof(one)) < 0)
			PVLOG(ERR, MOD, "%s: cannot stop thread", vh->name);
		pthread_mutex_lock(&vh->life_lock);
		vh->stopping = true;
		pthread_mutex_unlock(&vh->life_lock);
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += VHU_JOIN_TIMEOUT_MS / 1000;
		dl.tv_nsec += (long)(VHU_JOIN_TIMEOUT_MS % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(vh->thread, NULL, &dl) != 0) {
			pthread_mutex_lock(&vh->life_lock);
			if (!vh->exited) {
				if (vh->listen_fd >= 0)
					unlink(vh->path);
				vh->path[0] = 0; /* the thread must not unlink a successor's */
				vh->orphan = orphan = true;
			}
			pthread_mutex_unlock(&vh->life_lock);
			if (orphan) {
				PVLOG(WARN, MOD, "%s: port thread did not stop in %u ms (stuck in the "
				      "kernel on a file its VMM handed over?); removed without it, it "
				      "frees the port when it returns", vh->name, VHU_JOIN_TIMEOUT_MS);
				pthread_detach(vh->thread);
				return;
			}
			pthread_join(vh->thread, NULL); /* it was just ending */
		}
	}
	vhost_release(vh);
}

/* Registry of live vhost ports, to tell ours from others without the port's ops. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vsw_port *reg[VSW_PORTS_MAX];

static void reg_set(struct vsw_port *port, bool add)
{
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < VSW_PORTS_MAX; i++) {
		if (add ? reg[i] == NULL : reg[i] == port) {
			reg[i] = add ? port : NULL;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

static void vhost_destroy(struct vsw_port *port)
{
	struct vsw_vhost *vh = vsw_port_priv(port);

	PVLOG(INFO, MOD, "%s: removed (socket %s)", vh->name, vh->path);
	reg_set(port, false);
	vhost_free(vh);
}

static int vhost_get_stats(struct vsw_port *port, struct vsw_port_dev_stats *s)
{
	struct vsw_vhost *vh = vsw_port_priv(port);

	memset(s, 0, sizeof(*s));
	/* the switch's view: rx = from the guest, tx = to the guest */
	s->rx_packets = __atomic_load_n(&vh->st.guest_tx_packets, __ATOMIC_RELAXED);
	s->rx_bytes = __atomic_load_n(&vh->st.guest_tx_bytes, __ATOMIC_RELAXED);
	s->tx_packets = __atomic_load_n(&vh->st.guest_rx_packets, __ATOMIC_RELAXED);
	s->tx_bytes = __atomic_load_n(&vh->st.guest_rx_bytes, __ATOMIC_RELAXED);
	s->rx_errors = __atomic_load_n(&vh->st.tx_bad_desc, __ATOMIC_RELAXED) +
		       __atomic_load_n(&vh->st.tx_bad_hdr, __ATOMIC_RELAXED);
	s->tx_errors = __atomic_load_n(&vh->st.rx_bad_desc, __ATOMIC_RELAXED) +
		       __atomic_load_n(&vh->st.rx_fallback_drop, __ATOMIC_RELAXED);
	return 0;
}

static int vhost_describe(struct vsw_port *port, char *buf, size_t size)
{
	struct vsw_vhost *vh = vsw_port_priv(port);

#define LD(f) (unsigned long long)__atomic_load_n(&vh->st.f, __ATOMIC_RELAXED)
	/* what the VMM got: drops of its connection by reason (docs/security.md) */
	return snprintf(buf, size, "socket=%s mode=%s queues=%u poll=%s %s features=0x%llx "
			"guest_mem_fault=%llu vmm_bad_msgs=%llu vmm_msg_timeouts=%llu "
			"vmm_reply_stalls=%llu vmm_fd_floods=%llu vmm_connects=%llu "
			"vmm_disconnects=%llu connect_fails=%llu rx_no_buffers=%llu "
			"rx_not_ready=%llu kicks=%llu calls=%llu", vh->path,
			vh->client ? "client" : "server", vh->nq / 2,
			!vh->poll_us ? "off" : vh->poll_us == VSW_VHOST_POLL_ALWAYS ? "on" : "usec",
			vh->st.running ? "running" : vh->st.connected ? "connected"
			: vh->client ? "connecting" : "listening",
			LD(features), LD(guest_mem_fault), LD(bad_msgs), LD(msg_timeouts),
			LD(reply_stalls), LD(fd_floods), LD(connects), LD(disconnects),
			LD(connect_fails), LD(rx_no_buffers), LD(rx_not_ready), LD(kicks), LD(calls));
#undef LD
}

static const struct vsw_port_ops vhost_ops = {
	.type = "vhost-user",
	.send = vhost_send,
	.get_stats = vhost_get_stats,
	.destroy = vhost_destroy,
	.describe = vhost_describe,
};

bool vsw_port_is_vhost(const struct vsw_port *port)
{
	/* the ops pointer is not public: compare through a probe of the type name */
	return port && vsw_vhost_port_get_stats((struct vsw_port *)port, NULL) == 0;
}

int vsw_vhost_port_get_stats(struct vsw_port *port, struct vsw_vhost_stats *stats)
{
	bool found = false;

	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < VSW_PORTS_MAX && !found; i++)
		found = reg[i] == port;
	if (found && stats) {
		struct vsw_vhost *vh = vsw_port_priv(port);
		uint64_t *dst = (uint64_t *)stats;
		const uint64_t *src = (const uint64_t *)&vh->st;
		/* every field before `connected` is a u64 counter */
		for (size_t i = 0; i < offsetof(struct vsw_vhost_stats, connected) / 8; i++)
			dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
		stats->connected = vh->st.connected;
		stats->running = vh->st.running;
		stats->tx_pool_avail = pvnet_pkt_pool_avail(vh->pool);
		stats->tx_pool_size = vh->pool_size;
	}
	pthread_mutex_unlock(&reg_lock);
	return found ? 0 : -EINVAL;
}

static int listen_on(const char *path, unsigned mode, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* a stale socket is replaced; any other file is never removed */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			PVLOG(ERR, MOD, "%s exists and is not a socket: refused", path);
			return -EEXIST;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, mode) < 0 ||
	    listen(fd, 4) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static int port_add(struct vsw_bridge *br, const char *name, const char *socket_path,
		    const struct vsw_vhost_config *cfg, bool thread, struct vsw_port **out)
{
	struct vsw_vhost *vh;
	unsigned pool_size = cfg && cfg->pool_size ? cfg->pool_size : 256;
	unsigned mode = cfg && cfg->socket_mode ? cfg->socket_mode : 0600;
	unsigned msg_timeout_ms = cfg && cfg->msg_timeout_ms ? cfg->msg_timeout_ms
							     : VHU_MSG_TIMEOUT_MS;
	uint64_t mem_max = cfg && cfg->mem_max ? cfg->mem_max : VHU_MEM_MAX_DEFAULT;
	unsigned queues = cfg && cfg->queues ? cfg->queues : 1;
	struct epoll_event ev = {.events = EPOLLIN};
	int rc;

	if (!br || !name || !socket_path || !out || strlen(name) >= VSW_NAME_MAX ||
	    queues > VSW_VHOST_MAX_QUEUES)
		return -EINVAL;
	if (strlen(socket_path) >= sizeof(vh->path))
		return -ENAMETOOLONG;
	vh = calloc(1, sizeof(*vh));
	if (!vh)
		return -ENOMEM;
	vh->br = br;
	vh->listen_fd = vh->conn_fd = vh->stop_fd = vh->ep_fd = vh->wake_fd = -1;
	vh->hdr_size = 12;
	vh->msg_timeout_ms = msg_timeout_ms;
	vh->mem_max = mem_max;
	vh->nq = 2 * queues;
	vh->client = cfg && cfg->client;
	vh->poll_us = cfg ? cfg->poll_us : 0;
	vh->backoff_ms = VHU_CONNECT_BACKOFF_MIN_MS;
	for (unsigned q = 0; q < VHU_NQ; q++) {
		/* no fds yet: calloc's zeros would make vq_reset close fd 0 (stdin) */
		vh->vq[q].kick_fd = vh->vq[q].call_fd = -1;
		vq_reset(&vh->vq[q]);
	}
	snprintf(vh->name, sizeof(vh->name), "%s", name);
	snprintf(vh->path, sizeof(vh->path), "%s", socket_path);
	pthread_mutex_init(&vh->lock, NULL);
	pthread_mutex_init(&vh->life_lock, NULL);
	vh->scratch = malloc(VHU_BUF_SIZE);
	if (!vh->scratch) {
		rc = -ENOMEM;
		goto free_vh;
	}
	vh->pool_size = pool_size;
	rc = pvnet_pkt_pool_create(pool_size, VHU_BUF_SIZE, &vh->pool);
	if (rc < 0)
		goto free_vh;
	rc = pvnet_pkt_pool_create(VHU_TSO_MAX_SEGS + 2, VHU_BUF_SIZE, &vh->fb_pool);
	if (rc < 0)
		goto free_vh;
	vh->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vh->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vh->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (vh->stop_fd < 0 || vh->wake_fd < 0 || vh->ep_fd < 0) {
		rc = -errno;
		goto free_vh;
	}
	if (!vh->client) {
		rc = listen_on(socket_path, mode, &vh->listen_fd);
		if (rc < 0)
			goto free_vh;
		ev.data.fd = vh->listen_fd;
		epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, vh->listen_fd, &ev);
	}
	ev.data.fd = vh->stop_fd;
	epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, vh->stop_fd, &ev);
	ev.data.fd = vh->wake_fd;
	epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, vh->wake_fd, &ev);
	rc = vsw_port_add(br, name, &vhost_ops, vh, VSW_PORT_F_ALL, &vh->port);
	if (rc < 0)
		goto free_vh;
	reg_set(vh->port, true);
	if (!thread)
		goto done;
	vh->auto_connect = true;
	rc = -pthread_create(&vh->thread, NULL, vhost_thread, vh);
	if (rc < 0) {
		/* vsw_port_del runs vhost_destroy, which frees vh (no thread yet) */
		reg_set(vh->port, false);
		vsw_port_del(br, vh->port);
		return rc;
	}
	vh->thread_started = true;
	{
		char tname[16];
		snprintf(tname, sizeof(tname), "vhu-%s", name);
		pthread_setname_np(vh->thread, tname);
	}
done:
	PVLOG(INFO, MOD, "%s: vhost-user port on %s, %s %s (%u queue pair(s), %s)", name,
	      vsw_bridge_name(br), vh->client ? "connecting to" : "listening on", socket_path,
	      queues, !vh->poll_us ? "event mode" : vh->poll_us == VSW_VHOST_POLL_ALWAYS
	      ? "polling" : "polling after traffic");
	*out = vh->port;
	return 0;
free_vh:
	vhost_free(vh);
	return rc;
}

int vsw_vhost_port_add(struct vsw_bridge *br, const char *name, const char *socket_path,
		       const struct vsw_vhost_config *cfg, struct vsw_port **out)
{
	return port_add(br, name, socket_path, cfg, true, out);
}

/* ---- for tests and fuzzers only ------------------------------------------------------ */

int vsw_vhost_test_port_add(struct vsw_bridge *br, const char *name, const char *socket_path,
			    const struct vsw_vhost_config *cfg, struct vsw_port **out)
{
	return port_add(br, name, socket_path, cfg, false, out);
}

int vsw_vhost_test_poll(struct vsw_port *port)
{
	struct vsw_vhost *vh;

	if (!vsw_port_is_vhost(port))
		return -EINVAL;
	vh = vsw_port_priv(port);
	if (vh->thread_started)
		return -EINVAL;
	return port_step(vh, false);
}

int vsw_vhost_test_connect(struct vsw_port *port)
{
	struct vsw_vhost *vh;

	if (!vsw_port_is_vhost(port))
		return -EINVAL;
	vh = vsw_port_priv(port);
	if (vh->thread_started || !vh->client)
		return -EINVAL;
	if (vh->conn_fd < 0)
		client_try(vh, mono_ns());
	return vh->conn_fd >= 0 ? 0 : -ECONNREFUSED;
}
