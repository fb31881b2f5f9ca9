/* SPDX-License-Identifier: MIT */
/*
 * vswitch/vhost_private.h - what the three halves of the vhost-user port share
 * (include/pvnet/vhost.h has the public contract):
 *   port_vhost_user.c    the vhost-user control side: receiving messages from the
 *                        VMM and the table of their handlers (as DPDK's vhost_user.c)
 *   port_vhost_virtio.c  the virtio data side: guest TX and RX split rings (as DPDK's
 *                        virtio_net.c)
 *   port_vhost.c         the port: its thread, creation, teardown, counters
 *   port_vhost_mem.c     the files the VMM hands over (declared in vsw_private.h)
 * Private to those files.
 */
#ifndef PVNET_VHOST_PRIVATE_H
#define PVNET_VHOST_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>
#include <time.h>

#include <pvnet/lib.h>
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
#define VHU_MAX_FDS 8            /* SCM_RIGHTS fds per message: more and the VMM is dropped */
#define VHU_MSG_TIMEOUT_MS 1000u /* default: a message must arrive whole in this */
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
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define BIT(n) (1ull << (n))

#define VHU_FEATURES                                                                               \
	(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |    \
	 BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_HOST_TSO4) |                              \
	 BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_MRG_RXBUF) |                               \
	 BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_RING_F_EVENT_IDX) |                         \
	 BIT(VIRTIO_F_VERSION_1) | BIT(VHOST_USER_F_PROTOCOL_FEATURES))

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
#define VHU_IS_TXQ(q) (((q)&1u) != 0)
#define VHU_PROTO_F_MQ 0                 /* VHOST_USER_PROTOCOL_F_MQ */
#define VHU_CONNECT_BACKOFF_MIN_MS 100u  /* client mode: first retry */
#define VHU_CONNECT_BACKOFF_MAX_MS 2000u /* client mode: retries at least this often */
#define VHU_POLL_EPOLL_EVERY 64u         /* polling: look at the control socket every N passes */
#define VHU_TX_BACKOFF_MIN_NS 10000u     /* a lossy TX burst: pause this long first */
#define VHU_TX_BACKOFF_MAX_NS 500000u    /* ... doubling up to this */
#define VHU_RX_WAIT_NS 4000u             /* guest RX out of buffers: wait this long per send() */
#define VHU_CPU_CHECK_NS 100000000u      /* the port thread re-reads its CPU mask this often */
#define VHU_BUF_SIZE (65536u + 128u)     /* a 64 KiB GSO frame plus tag and slack */
#define VHU_MAX_SEGS 64                  /* guest buffer pieces gathered per chain */
#define VHU_TSO_MAX_SEGS 64

struct vhu_vq {
	uint32_t num; /* 0: not configured */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vhu_addr addr; /* as received (VMM virtual addresses) */
	bool have_addr;
	uint16_t last_avail;     /* next avail entry to consume */
	uint16_t used_idx;       /* our copy of used->idx */
	uint16_t signalled_used; /* used->idx when the guest was last told (EVENT_IDX) */
	int kick_fd, call_fd;
	bool enabled;    /* SET_VRING_ENABLE (or implied without protocol features) */
	bool started;    /* kick received, addresses mapped */
	bool rx_kick_on; /* guest RX ran dry: kicks asked for until it posts buffers */
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
	unsigned nq;            /* vrings offered: 2 * queue pairs */
	bool client;            /* connect to path (the frontend listens) */
	bool auto_connect;      /* client: the port thread connects (not with test_port_add) */
	unsigned poll_us;       /* 0 event mode, VSW_VHOST_POLL_ALWAYS, or microseconds */
	uint64_t connect_at_ns; /* client, unconnected: next attempt (CLOCK_MONOTONIC) */
	unsigned backoff_ms;    /* client: the wait after the next failure */
	uint64_t last_work_ns;  /* polling: when a burst last moved frames */
	unsigned poll_pass;     /* polling: passes since the last epoll look */
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
	bool event_idx;    /* VIRTIO_RING_F_EVENT_IDX negotiated: used_event/avail_event
			    * instead of the ring flags */
	uint32_t hdr_size; /* 12 with VERSION_1 or MRG_RXBUF, else 10 */
	uint8_t *scratch;  /* egress linearisation, under lock */
	uint64_t rx_burst_pkts, rx_burst_bytes; /* emitted in this send(), under lock */
	struct pvnet_pkt_pool *pool;            /* guest TX packets */
	unsigned pool_size;                     /* packets in pool */
	struct pvnet_pkt_pool *fb_pool;         /* egress software offload (under lock) */

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
	/*
	 * Back-pressure (port thread): guest TX frames no egress took (counted by the
	 * packets' completion, relaxed atomic); tx_lossy when most of the last burst
	 * was such, and the pause the thread takes then before it reads the guest's
	 * ring again (VHU_TX_BACKOFF_MIN_NS doubling to _MAX_NS while bursts stay
	 * lossy), so a sender faster than its receivers keeps its frames in its own
	 * ring instead of pvnetd copying them only to drop them.
	 */
	uint64_t tx_undelivered;
	bool tx_lossy;
	uint64_t tx_backoff_ns;
	/* Whether the port thread may busy-wait (port thread only): polling, or its
	 * CPU mask narrower than the online CPUs (pinned, a core of its own), re-read
	 * every VHU_CPU_CHECK_NS (cpu_checked_ns). Otherwise it may share a core with
	 * the very guest it would wait for, and never spins then (rx_wait: a full
	 * guest RX ring asks for a kick at once; tx_backoff sleeps either way). */
	bool may_spin;
	uint64_t cpu_checked_ns;

	/* Set to 1 by the SIGBUS handler (port_vhost_mem.c) when guest memory faulted
	 * (its file shrank): the regions are zero pages now. Read with acquire by the
	 * port thread (port_step: drop and disconnect) and by send(). */
	int mem_fault;
	int wake_fd;            /* eventfd the handler writes: wakes the port thread */
	bool mem_fault_counted; /* a frame was counted for the current fault */
};

#define CNT_ADD(vh, field, n) __atomic_fetch_add(&(vh)->st.field, (n), __ATOMIC_RELAXED)

/* Host pointer for guest-physical [gpa, gpa + len) if it lies in one region. */
static inline uint8_t *vhu_gpa_to_host(const struct vsw_vhost *vh, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < vh->nregions; i++) {
		const struct vsw_vhost_region *r = &vh->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

/* Host pointer for VMM-virtual [uva, uva + len) (ring addresses). */
static inline uint8_t *vhu_uva_to_host(const struct vsw_vhost *vh, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < vh->nregions; i++) {
		const struct vsw_vhost_region *r = &vh->regions[i];
		if (uva >= r->uva && uva - r->uva <= r->size && len <= r->size - (uva - r->uva))
			return r->host + (uva - r->uva);
	}
	return NULL;
}

static inline bool vhu_mem_faulted(const struct vsw_vhost *vh)
{
	/* acquire: pairs with the handler's release store after it replaced the pages */
	return __atomic_load_n(&vh->mem_fault, __ATOMIC_ACQUIRE) != 0;
}

static inline bool vhu_vq_ready(const struct vhu_vq *vq)
{
	return vq->started && vq->enabled && vq->num;
}

/* ---- the virtio data side (port_vhost_virtio.c) ---- */

/* One burst from guest TX queue `vq` into the switch (vsw_input on the calling
 * thread, the port thread). Returns the chains consumed (0: nothing to do). */
unsigned vsw_vhost_tx_burst(struct vsw_vhost *vh, struct vhu_vq *vq);
/* The port's send op (switch threads): frames into the guest's RX queues. */
int vsw_vhost_send(struct vsw_port *port, struct pvnet_pkt_batch *batch);
/* Counts `n` frames lost to a guest memory fault. */
void vsw_vhost_count_mem_fault(struct vsw_vhost *vh, unsigned n);
/* A guest RX queue's kick came (port thread): if it ran dry and asked for one,
 * its buffers are back: kicks off again, and the senders waiting are woken. */
void vsw_vhost_rx_kicked(struct vsw_vhost *vh, struct vhu_vq *vq);
/*
 * Refills, process-wide: the generation counts guest RX queues that ran dry and
 * got buffers again. vsw_vhost_refill_wait() sleeps until the generation moves
 * from `gen` (read before the burst that found the egress full) or `ns` passed;
 * true when it moved.
 */
uint32_t vsw_vhost_refill_gen(void);
bool vsw_vhost_refill_wait(uint32_t gen, uint64_t ns);
/* Whether the calling thread may busy-wait for a guest's RX buffers (rx_wait in
 * send()): set by each port thread for itself from vh->may_spin; false on every
 * other thread (netback workers, uplinks), which never spin. */
void vsw_vhost_set_may_spin(bool on);
/* Guest kicks of every ready guest TX queue on or off (VRING_USED_F_NO_NOTIFY). */
void vsw_vhost_tx_notify_all(struct vsw_vhost *vh, bool on);
/* Whether a ready guest TX queue has buffers not consumed yet. */
bool vsw_vhost_tx_pending(const struct vsw_vhost *vh);
/* Whether any guest TX queue is ready. */
bool vsw_vhost_any_tx_ready(const struct vsw_vhost *vh);

/* ---- the vhost-user control side (port_vhost_user.c) ---- */

/*
 * Receives what the VMM has sent of the current message, without waiting, and
 * handles the message once it is whole. 1: a message was handled; 0: the rest has
 * not arrived yet (the deadline set at its first byte runs); -errno: drop the VMM
 * (EOF, a bad header, more than VHU_MAX_FDS fds, a fatal handler error).
 */
int vsw_vhost_msg_read(struct vsw_vhost *vh);
/* Closes the VMM's connection and forgets everything it set up (rings, memory,
 * features, a half-received message). No-op when not connected. */
void vsw_vhost_disconnect(struct vsw_vhost *vh);
/* Closes the eventfds of `vq` and clears it. */
void vsw_vhost_vq_reset(struct vhu_vq *vq);

#endif /* PVNET_VHOST_PRIVATE_H */
