/* SPDX-License-Identifier: MIT */
/*
 * pvnet/vhost.h - vhost-user switch ports: unmodified virtio-net guests (QEMU
 * `-netdev vhost-user`) attached to a pvnet bridge.
 *
 * The port is the vhost-user *backend* ("slave"): it listens on a Unix socket, the
 * VMM (QEMU) connects, hands over the guest's RAM (memfd regions, SCM_RIGHTS) and
 * the two split virtqueues of one virtio-net queue pair:
 *   queue 0  guest RX: the port writes frames into guest-posted buffers (egress)
 *   queue 1  guest TX: the port reads frames the guest posted (ingress)
 * The backend is pvnet's own (vswitch/port_vhost*.c), not DPDK's librte_vhost: no EAL
 * in the daemon, no mbuf conversion, and no extra link flags for every program (the
 * reasons are in the .c file's header).
 *
 * Features offered to the guest: VERSION_1, INDIRECT_DESC, RING_EVENT_IDX, MRG_RXBUF, CSUM,
 * GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6. A frame the guest sends with
 * VIRTIO_NET_HDR_F_NEEDS_CSUM / GSO enters the switch as CSUM_BLANK / GSO packet;
 * frames to the guest carry csum/GSO in their virtio_net_hdr. The port is added
 * with VSW_PORT_F_ALL and finishes checksums / segments TCP itself (software,
 * vswitch offload helpers) when the guest did not negotiate GUEST_CSUM / GUEST_TSO*.
 *
 * Threads: one thread per port polls the guest TX queue in bursts of
 * PVNET_BATCH_MAX (vsw_input once per burst, one used-ring publish and at most one
 * call-eventfd write per burst), handles the vhost-user control messages, and
 * sleeps in epoll on the kick eventfd (guest notifications re-enabled) when idle.
 * While frames flow the guest's kicks are off and the thread makes no system call
 * between bursts (epoll is looked at every 64 bursts).
 * Egress send() runs on the switch's threads under a per-port mutex (one lock per
 * burst) that the control path also takes while it changes memory or rings.
 * With cfg->poll_us the thread does not sleep while polling: the guest's kicks stay
 * suppressed (VRING_USED_F_NO_NOTIFY), epoll is looked at every 64 passes that
 * moved frames (at once after an empty one, which also yields the core). Egress
 * signals the guest only when it asked: its used_event passed with
 * VIRTIO_RING_F_EVENT_IDX, else VRING_AVAIL_F_NO_INTERRUPT clear (a polling DPDK
 * virtio PMD sets it: no syscall per burst either way); with EVENT_IDX the guest's
 * kicks are asked for through avail_event instead of VRING_USED_F_NO_NOTIFY.
 *
 * Full rings. Egress into a guest RX queue without buffers waits for the guest to
 * post more, spinning on its avail index for at most 4 us per send() (rx_waits)
 * when the sending port's thread has a core of its own (polling, or pinned to
 * fewer CPUs than are online; never on other threads), then drops the rest (rx_no_buffers; the switch counts them egress_full). Guest
 * TX: when most frames of a burst went nowhere (every egress full, or none), the
 * port thread pauses before it reads that guest's ring again, 10 us doubling to
 * 500 us while it lasts (tx_backoffs): the frames wait in the sender's own ring,
 * as with any device slower than its sender, instead of pvnetd copying them only
 * to drop them. A guest whose frames can go nowhere is thereby held to about 32
 * frames per 500 us.
 *
 * A hostile VMM (docs/security.md "vhost-user frontends"): the socket is
 * non-blocking, both ways. A message may arrive in pieces but must be whole within
 * msg_timeout_ms of its first byte (default 1 s), else the VMM is dropped
 * (msg_timeouts); a header claiming more payload than the largest message (264
 * bytes), more than 8 SCM_RIGHTS fds with one message (fd_floods) or a reply the
 * VMM leaves unread until the socket buffer is full (reply_stalls) drops it too.
 * Every fd that came with a dropped or refused message is closed (a socket first
 * loses SO_LINGER, so close() cannot wait). A memory table has at most 8 regions,
 * each a memfd, tmpfs or hugetlbfs file (others are refused: a FUSE file's pages
 * would fault into its daemon), at most mem_max bytes in all. A dropped VMM ends
 * its connection only: the port listens again. Removing the port never waits for
 * the VMM: the thread is told to stop and joined for at most 50 ms; a thread held
 * in the kernel on a file the VMM handed over (e.g. sealing a memfd whose inode
 * lock the VMM holds in a stalled write) is left to free the port when it returns.
 *
 * Client mode (cfg->client): the port connects to socket_path, where the frontend
 * listens, instead of listening there. It tries at once, then after every failure
 * or disconnect again with a backoff of 100 ms doubling to at most 2 s (reset once
 * a connection has its queues running), so a frontend that restarts is found again
 * within 2 s; the path must be a socket (never followed through a symlink), and the
 * file is the frontend's: the port never removes it. Connecting never blocks (a
 * non-blocking AF_UNIX connect either completes or fails at once). Every hostile-VMM
 * rule above holds for a connected frontend as for an accepted one.
 *
 * Multi-queue: with cfg->queues = N the port offers VHOST_USER_PROTOCOL_F_MQ and N
 * queue pairs (vring 2q: guest RX of pair q, 2q+1: its guest TX). The port thread
 * serves every enabled guest TX queue in turn (one burst each per pass); egress
 * picks the guest RX queue by the frame's flow (source and destination MAC and, for
 * IPv4/IPv6, addresses and ports) among the enabled ones, so one flow stays in order.
 *
 * Every guest descriptor is validated: addresses must lie inside one memory region,
 * chains are bounded by the queue size (loops), lengths by the packet buffer. A bad
 * chain is returned to the guest with length 0 and counted (bad_desc); it never
 * crashes the daemon. A VMM that disconnects (or dies) leaves the port in the
 * bridge, unconnected, listening again. Kick and call file descriptors must be
 * eventfds (anything else is refused and counted in bad_msgs).
 *
 * Guest memory files the VMM could shrink after handing them over: a memfd that
 * allows sealing gets F_SEAL_SHRINK at SET_MEM_TABLE (ftruncate to a smaller size
 * then fails with EPERM); for files that cannot be sealed a process-wide SIGBUS
 * handler (installed by the first port, chaining to any previous handler) replaces
 * a region that faults with zero pages, and the port drops the guest's traffic
 * (guest_mem_fault) and disconnects the VMM instead of the daemon dying. A SIGBUS
 * outside vhost guest memory keeps its previous (or default) behaviour.
 */
#ifndef PVNET_VHOST_H
#define PVNET_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include <pvnet/vswitch.h>

/* Optional settings; zero fields take the defaults. */
struct vsw_vhost_config {
	unsigned pool_size;      /* packets for guest TX (64 KiB buffers); default 256 */
	unsigned socket_mode;    /* chmod of the socket; default 0600 */
	unsigned msg_timeout_ms; /* a control message must arrive whole within this
				  * from its first byte, else the VMM is dropped; default 1000 */
	uint64_t mem_max;        /* bytes of guest memory a VMM may hand over (sum of the
			   * regions, and each region's end offset in its file);
			   * default 64 GiB (HV_MAX_MEM_SIZE). pvnetd: the domain's memory=,
			   * or a standalone port's --mem-max (default VSW_VHOST_MEM_MAX_CLI) */
	bool client;             /* connect to socket_path (the frontend listens, e.g. DPDK
			   * virtio-user server=1; OVS's dpdkvhostuserclient) instead of
			   * listening there; see "Client mode" above */
	unsigned queues;         /* queue pairs offered (VHOST_USER_PROTOCOL_F_MQ, GET_QUEUE_NUM);
			   * default 1, at most VSW_VHOST_MAX_QUEUES */
	unsigned poll_us;        /* 0: event mode (sleep on kicks, notifications suppressed only
			   * while a burst is being served); VSW_VHOST_POLL_ALWAYS: the port
			   * thread busy-polls its rings and never sleeps while a frontend is
			   * connected; N: keep polling N microseconds after the last frame */
};

#define VSW_VHOST_MAX_QUEUES 8
#define VSW_VHOST_POLL_ALWAYS 0xffffffffu
#define VSW_VHOST_MEM_MAX_CLI (4ull << 30) /* pvnet switch add-port --type vhostuser */

/* The vhost-user port's own counters (vsw_vhost_port_get_stats). */
struct vsw_vhost_stats {
	uint64_t guest_tx_packets, guest_tx_bytes; /* frames read from the guest's TX queue */
	uint64_t guest_rx_packets, guest_rx_bytes; /* frames written into guest RX buffers */
	uint64_t rx_no_buffers;    /* egress frames refused: the guest posted too few buffers */
	uint64_t rx_not_ready;     /* egress frames refused: no VMM connected / ring stopped */
	uint64_t rx_waits;         /* egress bursts that waited (at most 4 us) for the guest
				   * to post RX buffers; what still found none is rx_no_buffers */
	uint64_t tx_bad_desc;      /* guest TX chains rejected (range, loop, length, flags) */
	uint64_t rx_bad_desc;      /* guest RX chains rejected (returned with length 0) */
	uint64_t tx_bad_hdr;       /* guest TX frames with an unsupported virtio_net_hdr */
	uint64_t rx_sw_csum;       /* checksums finished in software for the guest */
	uint64_t rx_sw_tso;        /* GSO frames segmented in software for the guest */
	uint64_t rx_fallback_drop; /* frames that needed software offload and could not get it */
	uint64_t tx_pool_empty;    /* bursts cut short because the packet pool was empty */
	uint64_t tx_backoffs;      /* pauses (10 us doubling to 500 us) after guest TX bursts
				   * most of whose frames no egress took: back-pressure */
	uint64_t guest_mem_fault;  /* frames lost because guest memory faulted (its file
				   * shrank: SIGBUS caught, VMM disconnected); >= 1 per fault */
	uint64_t kicks, calls;     /* eventfd wake-ups received / interrupts sent */
	uint64_t connects, disconnects, bad_msgs;
	uint64_t msg_timeouts;  /* VMM dropped: a message not whole within msg_timeout_ms */
	uint64_t reply_stalls;  /* VMM dropped: it left its replies unread (socket full) */
	uint64_t fd_floods;     /* VMM dropped: more than 8 fds with one message */
	uint64_t connect_fails; /* client mode: connection attempts that failed */
	uint64_t features;      /* negotiated virtio feature bits */
	bool connected;         /* a VMM is connected */
	bool running;           /* both queues started */
	unsigned tx_pool_avail, tx_pool_size; /* guest-TX packets free / in the pool */
};

/*
 * Creates port `name` on `br` and listens on the Unix socket `socket_path` (an
 * existing socket file there is replaced, any other file is refused with -EEXIST
 * and left alone; the directory must exist). `cfg` may be
 * NULL. On success *out is the port: the bridge owns it, vsw_port_del() stops the
 * thread, disconnects the VMM, unmaps the guest memory, closes and unlinks the
 * socket, in bounded time whatever the VMM does (see "A hostile VMM" above). On
 * error nothing is left behind. 0 or -errno (-EINVAL, -ENAMETOOLONG
 * path too long for sun_path, -EEXIST name taken or a non-socket at the path,
 * socket errors).
 */
int vsw_vhost_port_add(struct vsw_bridge *br, const char *name, const char *socket_path,
		       const struct vsw_vhost_config *cfg, struct vsw_port **out);

/* Whether `port` is a vhost-user port (its ops are this module's). */
bool vsw_port_is_vhost(const struct vsw_port *port);

/* Copies the counters of vhost-user port `port`. 0, or -EINVAL (not a vhost port). */
int vsw_vhost_port_get_stats(struct vsw_port *port, struct vsw_vhost_stats *stats);

/*
 * ---- For unit tests and fuzzers only (tests/fuzz/fuzz_vhost.c); not for pvnetd. ----
 *
 * vsw_vhost_test_port_add() is vsw_vhost_port_add() without the port thread: the
 * caller plays that thread, deterministically, by calling vsw_vhost_test_poll(),
 * which runs one pass of the thread's loop without sleeping: accept a VMM on the
 * socket, receive what has arrived of the current vhost-user message and handle it
 * if it is whole (at most one; a part is kept for the next call, and the VMM is
 * dropped once its deadline has passed), drain a kick, then one guest TX burst into
 * the bridge (vsw_input on the calling thread). Call it from one thread at a time; send() may run concurrently as with
 * the real thread. Ownership and teardown are those of vsw_vhost_port_add().
 * vsw_vhost_test_poll returns the TX chains consumed (>= 0), or -EINVAL when
 * `port` is not a vhost port made by vsw_vhost_test_port_add().
 */
int vsw_vhost_test_port_add(struct vsw_bridge *br, const char *name, const char *socket_path,
			    const struct vsw_vhost_config *cfg, struct vsw_port **out);
int vsw_vhost_test_poll(struct vsw_port *port);
/* Client mode, test port: one connection attempt now (the test poll never connects
 * by itself, so the caller decides when, without the backoff's clock). 0 when
 * connected, -ECONNREFUSED, or -EINVAL (not a client-mode test port). */
int vsw_vhost_test_connect(struct vsw_port *port);

#endif /* PVNET_VHOST_H */
