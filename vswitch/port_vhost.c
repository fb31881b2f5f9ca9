/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend port (see include/pvnet/vhost.h for the contract): the port
 * thread, creation, teardown and counters. The control messages are handled in
 * port_vhost_user.c, the virtqueues served in port_vhost_virtio.c, the VMM's memory
 * files mapped in port_vhost_mem.c; vhost_private.h has what they share.
 *
 * Why our own backend rather than DPDK's librte_vhost: librte_vhost needs
 * rte_eal_init() in the daemon (process-global state, an lcore for its thread, EAL
 * arguments shared with the DPDK accelerator plugin), its frames arrive as rte_mbufs
 * that would be copied again into pvnet_pkt, and this tree links one set of
 * libraries into every program and test, so librte_vhost would become a link
 * dependency of all of them. The protocol subset a virtio-net guest needs is small
 * (the messages in port_vhost_user.c, split virtqueues, the 12-byte
 * virtio_net_hdr), and a guest frame is copied exactly once, straight between
 * guest memory and the pvnet_pkt / the egress packet.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/vhost.h>

#include "vhost_private.h"

static const struct vsw_port_ops vhost_ops;

/* ---- the port thread --------------------------------------------------------------- */


/* The VMM goes away: as on a protocol error, the port listens again. */
static void drop_vmm(struct vsw_vhost *vh)
{
	vsw_vhost_disconnect(vh);
	vh->st.connected = false;
	vh->st.running = false;
	vh->notify_off = false;
	vh->busy = false;
	if (vh->client) { /* the frontend restarts: try again after the backoff */
		vh->connect_at_ns = pvnet_now_ns() + (uint64_t)vh->backoff_ms * 1000000ull;
		vh->backoff_ms = vh->backoff_ms * 2 > VHU_CONNECT_BACKOFF_MAX_MS
					 ? VHU_CONNECT_BACKOFF_MAX_MS
					 : vh->backoff_ms * 2;
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
	PVLOG(ERR, MOD,
	      "%s: guest memory faulted (the VMM shrank a memory file it handed "
	      "over): traffic dropped, VMM disconnected",
	      vh->name);
	drop_vmm(vh);
	pthread_mutex_lock(&vh->lock);
	__atomic_store_n(&vh->mem_fault, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&vh->mem_fault_counted, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vh->lock);
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
				 ? VHU_CONNECT_BACKOFF_MAX_MS
				 : vh->backoff_ms * 2;
}

/* Whether the port is in its polling window (poll_us) at `now`. */
static bool polling(const struct vsw_vhost *vh, uint64_t now)
{
	if (!vh->poll_us || vh->conn_fd < 0)
		return false;
	return vh->poll_us == VSW_VHOST_POLL_ALWAYS ||
	       now - vh->last_work_ns < (uint64_t)vh->poll_us * 1000ull;
}

/* Milliseconds from `now` to `at` (rounded up; 0 when it has passed), or `timeout`
 * if that is sooner (-1: none yet). */
static int timeout_min(int timeout, uint64_t now, uint64_t at)
{
	int left = now >= at ? 0 : (int)((at - now + 999999) / 1000000);

	return timeout < 0 || left < timeout ? left : timeout;
}

/*
 * How long the port thread may sleep in epoll (ms, -1: until an event). Idle and
 * not polling: the guest's kicks are re-enabled first, then the rings looked at
 * once more.
 */
static int step_timeout(struct vsw_vhost *vh, uint64_t now, bool poll_now)
{
	int timeout = -1;

	if (vh->busy || poll_now) {
		timeout = 0;
	} else if (vsw_vhost_any_tx_ready(vh)) {
		if (vh->notify_off) {
			vsw_vhost_tx_notify_all(vh, true);
			vh->notify_off = false;
		}
		/* full fence: notifications re-enabled before the last look at the ring,
		 * so a buffer the guest posts without kicking is seen now */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (vsw_vhost_tx_pending(vh))
			timeout = 0;
		if (pvnet_pkt_pool_avail(vh->pool) == 0)
			timeout = 1;
	}
	if (vh->client && vh->auto_connect && vh->conn_fd < 0) /* next connect attempt */
		timeout = timeout_min(timeout, now, vh->connect_at_ns);
	if (vh->rx_deadline_ns) /* a message is half received: wake up at its deadline */
		timeout = timeout_min(timeout, now, vh->rx_deadline_ns);
	return timeout;
}

/* Handles what epoll reported: a VMM connecting, a control message, a memory fault
 * wake-up, kicks. -1 when told to stop, else 0. */
static int step_events(struct vsw_vhost *vh, const struct epoll_event *evs, int n)
{
	uint64_t v;

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
			if (vhu_mem_faulted(vh))
				continue; /* disconnected after the events */
			if (vsw_vhost_msg_read(vh) < 0)
				drop_vmm(vh);
		} else if (fd == vh->wake_fd) {
			if (read(fd, &v, sizeof(v)) < 0)
				continue; /* already drained */
		} else {
			for (unsigned q = 0; q < vh->nq; q++)
				if (fd == vh->vq[q].kick_fd) {
					if (read(fd, &v, sizeof(v)) == sizeof(v))
						CNT_ADD(vh, kicks, 1);
					if (!VHU_IS_TXQ(q)) /* guest RX: buffers posted */
						vsw_vhost_rx_kicked(vh, &vh->vq[q]);
					break;
				}
		}
	}
	return 0;
}

/*
 * Whether the port thread may busy-wait (vh->may_spin): polling, or pinned to fewer
 * CPUs than are online. Re-read every VHU_CPU_CHECK_NS, as the mask may change
 * under a running thread (taskset -a).
 */
static void cpu_check(struct vsw_vhost *vh, uint64_t now)
{
	cpu_set_t set;
	long online;

	if (vh->cpu_checked_ns && now - vh->cpu_checked_ns < VHU_CPU_CHECK_NS)
		return;
	vh->cpu_checked_ns = now;
	online = sysconf(_SC_NPROCESSORS_ONLN);
	vh->may_spin = vh->poll_us ||
		       (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < online);
	vsw_vhost_set_may_spin(vh->may_spin);
}

/*
 * Back-pressure: after a burst whose frames mostly went nowhere (their egress rings
 * full), pause before reading the guest's TX ring again, longer while it lasts,
 * until a vhost-user egress that ran dry gets buffers from its guest.
 * The frames wait in the guest's ring, where virtio lets them wait, and the
 * sender sees its ring full as it would with any slower device.
 */
static void tx_backoff(struct vsw_vhost *vh, uint32_t refill_gen)
{
	if (!vh->tx_lossy) {
		vh->tx_backoff_ns = 0;
		return;
	}
	vh->tx_lossy = false;
	vh->tx_backoff_ns = !vh->tx_backoff_ns                              ? VHU_TX_BACKOFF_MIN_NS
			    : vh->tx_backoff_ns * 2 > VHU_TX_BACKOFF_MAX_NS ? VHU_TX_BACKOFF_MAX_NS
									    : vh->tx_backoff_ns * 2;
	CNT_ADD(vh, tx_backoffs, 1);
	/* a vhost-user egress that ran dry asked its guest to kick when it posts
	 * buffers: that ends the pause early (and starts the next one short) */
	if (vsw_vhost_refill_wait(refill_gen, vh->tx_backoff_ns))
		vh->tx_backoff_ns = 0;
}

/*
 * One pass of the port thread's loop: waits for events (not at all unless
 * `may_block`), accepts (or, in client mode, connects to) a VMM, handles at most
 * one control message, drains kicks, then runs one burst of every guest TX queue.
 * Returns the chains consumed, or -1 when told to stop. While frames flow (and
 * while polling, poll_us) the guest's kicks stay suppressed and epoll is looked at
 * only every VHU_POLL_EPOLL_EVERY passes that moved frames (at once when one moved
 * none).
 */
static int port_step(struct vsw_vhost *vh, bool may_block)
{
	struct epoll_event evs[4 + VHU_NQ];
	uint64_t now = pvnet_now_ns();
	bool poll_now = polling(vh, now);
	int n, timeout, used = 0;
	uint32_t refill_gen;

	/* no syscall between bursts while frames flow (kicks are off meanwhile), polling
	 * or not; the test poll (!may_block) looks at its events every time it is not
	 * polling */
	if ((poll_now || may_block) && vh->busy && ++vh->poll_pass < VHU_POLL_EPOLL_EVERY &&
	    !vh->rx_deadline_ns)
		goto burst;
	vh->poll_pass = 0;
	timeout = step_timeout(vh, now, poll_now); /* also re-enables kicks when idle */
	n = epoll_wait(vh->ep_fd, evs, (int)(sizeof(evs) / sizeof(evs[0])),
		       may_block ? timeout : 0);
	if (step_events(vh, evs, n) < 0)
		return -1;
	if (vh->rx_deadline_ns && vh->conn_fd >= 0 && pvnet_now_ns() >= vh->rx_deadline_ns) {
		CNT_ADD(vh, msg_timeouts, 1);
		PVLOG_RL(WARN, MOD,
			 "%s: the VMM sent %u bytes of a message and stalled for %u "
			 "ms: dropped",
			 vh->name, vh->rx_got, vh->msg_timeout_ms);
		drop_vmm(vh);
	}
	if (vh->client && vh->auto_connect && vh->conn_fd < 0 &&
	    pvnet_now_ns() >= vh->connect_at_ns)
		client_try(vh, pvnet_now_ns());
burst:
	if (may_block)
		cpu_check(vh, now);
	refill_gen = vsw_vhost_refill_gen();
	if (!vhu_mem_faulted(vh))
		for (unsigned q = VHU_TXQ; q < vh->nq; q += 2)
			used += (int)vsw_vhost_tx_burst(vh, &vh->vq[q]);
	if (vhu_mem_faulted(vh)) { /* before or during the burst */
		handle_mem_fault(vh);
		used = 0;
	}
	vh->busy = used > 0;
	if (may_block)
		tx_backoff(vh, refill_gen);
	if (vh->busy && vh->poll_us)
		vh->last_work_ns = now;
	else if (poll_now && may_block)
		sched_yield(); /* an empty poll gives the core to whoever shares it */
	if ((vh->busy || poll_now) && !vh->notify_off && vsw_vhost_any_tx_ready(vh)) {
		vsw_vhost_tx_notify_all(vh, false); /* polling: the guest need not kick */
		vh->notify_off = true;
	}
	return used;
}

static void vhost_release(struct vsw_vhost *vh);

static void *vhost_thread(void *arg)
{
	struct vsw_vhost *vh = arg;
	bool orphan;

	/* its pauses (tx_backoff) are tens of microseconds: a 1 us timer slack, not the
	 * default 50 */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
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
	vsw_vhost_disconnect(vh);
	for (unsigned q = 0; q < VHU_NQ; q++)
		vsw_vhost_vq_reset(&vh->vq[q]);
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
				PVLOG(WARN, MOD,
				      "%s: port thread did not stop in %u ms (stuck in the "
				      "kernel on a file its VMM handed over?); removed without it, it "
				      "frees the port when it returns",
				      vh->name, VHU_JOIN_TIMEOUT_MS);
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
	return snprintf(buf, size,
			"socket=%s mode=%s queues=%u poll=%s %s features=0x%llx "
			"guest_mem_fault=%llu vmm_bad_msgs=%llu vmm_msg_timeouts=%llu "
			"vmm_reply_stalls=%llu vmm_fd_floods=%llu vmm_connects=%llu "
			"vmm_disconnects=%llu connect_fails=%llu rx_no_buffers=%llu "
			"rx_not_ready=%llu rx_waits=%llu tx_backoffs=%llu kicks=%llu calls=%llu",
			vh->path, vh->client ? "client" : "server", vh->nq / 2,
			!vh->poll_us                           ? "off"
			: vh->poll_us == VSW_VHOST_POLL_ALWAYS ? "on"
							       : "usec",
			vh->st.running     ? "running"
			: vh->st.connected ? "connected"
			: vh->client       ? "connecting"
					   : "listening",
			LD(features), LD(guest_mem_fault), LD(bad_msgs), LD(msg_timeouts),
			LD(reply_stalls), LD(fd_floods), LD(connects), LD(disconnects),
			LD(connect_fails), LD(rx_no_buffers), LD(rx_not_ready), LD(rx_waits),
			LD(tx_backoffs), LD(kicks), LD(calls));
#undef LD
}

static const struct vsw_port_ops vhost_ops = {
	.type = "vhost-user",
	.send = vsw_vhost_send,
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

/* Sets the fields of a new port from `cfg` (defaults for zeros). */
static void vh_init(struct vsw_vhost *vh, const char *name, const char *socket_path,
		    const struct vsw_vhost_config *cfg)
{
	vh->listen_fd = vh->conn_fd = vh->stop_fd = vh->ep_fd = vh->wake_fd = -1;
	vh->hdr_size = 12;
	vh->msg_timeout_ms = cfg && cfg->msg_timeout_ms ? cfg->msg_timeout_ms : VHU_MSG_TIMEOUT_MS;
	vh->mem_max = cfg && cfg->mem_max ? cfg->mem_max : VHU_MEM_MAX_DEFAULT;
	vh->nq = 2 * (cfg && cfg->queues ? cfg->queues : 1);
	vh->client = cfg && cfg->client;
	vh->poll_us = cfg ? cfg->poll_us : 0;
	vh->backoff_ms = VHU_CONNECT_BACKOFF_MIN_MS;
	vh->pool_size = cfg && cfg->pool_size ? cfg->pool_size : 256;
	for (unsigned q = 0; q < VHU_NQ; q++) {
		/* no fds yet: calloc's zeros would make vq_reset close fd 0 (stdin) */
		vh->vq[q].kick_fd = vh->vq[q].call_fd = -1;
		vsw_vhost_vq_reset(&vh->vq[q]);
	}
	snprintf(vh->name, sizeof(vh->name), "%s", name);
	snprintf(vh->path, sizeof(vh->path), "%s", socket_path);
	pthread_mutex_init(&vh->lock, NULL);
	pthread_mutex_init(&vh->life_lock, NULL);
}

/* Allocates what a port holds (buffers, eventfds, epoll, the listening socket
 * unless in client mode). 0 or -errno; the caller frees vh either way. */
static int vh_open(struct vsw_vhost *vh, const struct vsw_vhost_config *cfg)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int rc;

	vh->scratch = malloc(VHU_BUF_SIZE);
	if (!vh->scratch)
		return -ENOMEM;
	rc = pvnet_pkt_pool_create(vh->pool_size, VHU_BUF_SIZE, &vh->pool);
	if (rc < 0)
		return rc;
	rc = pvnet_pkt_pool_create(VHU_TSO_MAX_SEGS + 2, VHU_BUF_SIZE, &vh->fb_pool);
	if (rc < 0)
		return rc;
	vh->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vh->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vh->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (vh->stop_fd < 0 || vh->wake_fd < 0 || vh->ep_fd < 0)
		return -errno;
	if (!vh->client) {
		rc = listen_on(vh->path, cfg && cfg->socket_mode ? cfg->socket_mode : 0600,
			       &vh->listen_fd);
		if (rc < 0)
			return rc;
		ev.data.fd = vh->listen_fd;
		epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, vh->listen_fd, &ev);
	}
	ev.data.fd = vh->stop_fd;
	epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, vh->stop_fd, &ev);
	ev.data.fd = vh->wake_fd;
	epoll_ctl(vh->ep_fd, EPOLL_CTL_ADD, vh->wake_fd, &ev);
	return 0;
}

static int port_add(struct vsw_bridge *br, const char *name, const char *socket_path,
		    const struct vsw_vhost_config *cfg, bool thread, struct vsw_port **out)
{
	struct vsw_vhost *vh;
	char tname[16];
	int rc;

	if (!br || !name || !socket_path || !out || strlen(name) >= VSW_NAME_MAX ||
	    (cfg && cfg->queues > VSW_VHOST_MAX_QUEUES))
		return -EINVAL;
	if (strlen(socket_path) >= sizeof(vh->path))
		return -ENAMETOOLONG;
	vh = calloc(1, sizeof(*vh));
	if (!vh)
		return -ENOMEM;
	vh->br = br;
	vh_init(vh, name, socket_path, cfg);
	rc = vh_open(vh, cfg);
	if (rc < 0)
		goto free_vh;
	rc = vsw_port_add(br, name, &vhost_ops, vh, VSW_PORT_F_ALL, &vh->port);
	if (rc < 0)
		goto free_vh;
	reg_set(vh->port, true);
	if (thread) {
		vh->auto_connect = true;
		rc = -pthread_create(&vh->thread, NULL, vhost_thread, vh);
		if (rc < 0) {
			/* vsw_port_del runs vhost_destroy, which frees vh (no thread yet) */
			reg_set(vh->port, false);
			vsw_port_del(br, vh->port);
			return rc;
		}
		vh->thread_started = true;
		snprintf(tname, sizeof(tname), "vhu-%s", name);
		pthread_setname_np(vh->thread, tname);
	}
	PVLOG(INFO, MOD, "%s: vhost-user port on %s, %s %s (%u queue pair(s), %s)", name,
	      vsw_bridge_name(br), vh->client ? "connecting to" : "listening on", socket_path,
	      vh->nq / 2,
	      !vh->poll_us                           ? "event mode"
	      : vh->poll_us == VSW_VHOST_POLL_ALWAYS ? "polling"
						     : "polling after traffic");
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
		client_try(vh, pvnet_now_ns());
	return vh->conn_fd >= 0 ? 0 : -ECONNREFUSED;
}
