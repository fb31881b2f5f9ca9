/* SPDX-License-Identifier: MIT */
/*
 * Netback workers: run-to-completion threads, each polling its set of queues.
 *
 * The worker holds worker->lock across its polling rounds and lets go of it only
 * to sleep or when another thread asks (ctl_want): a round costs no lock and no
 * atomic read-modify-write, idle or not. The control thread raises ctl_want and
 * takes the lock to change the set, so when nb_worker_detach returns the worker is
 * not inside that queue. A round runs a TX burst on every queue and drains RX
 * queues that hold packets. While rounds find
 * work the worker keeps polling; after NB_SPIN_ROUNDS empty rounds it arms the
 * rings' event indices (RING_FINAL_CHECK) and sleeps in epoll on the queues' event
 * fds, with a timeout while packets wait for RX buffers (so they can expire) and
 * no longer than the earliest credit timer of a rate-limited queue (rate.c;
 * epoll_pwait2 for a nanosecond deadline).
 *
 * Polling mode (vif `poll=`, backend node `pvnet-poll`): a worker serving a vif
 * with poll=on never sleeps; with poll=<us> it keeps polling that long after
 * its last work. Past the NB_SPIN_ROUNDS pause rounds each empty round ends in
 * sched_yield: on a machine with fewer cores than busy threads, spinning in
 * place would starve the guests whose packets it waits for. While polling the
 * worker never arms req_event (RING_FINAL_CHECK), so the guest's pushes find no
 * event requested and send no notification: no write(2) in the guest, no
 * wake-up here. Packets waiting for RX buffers are still expired, every
 * NB_POLL_EXPIRE_MS. Measured (docs/benchmarks.md, round 3): a lower rr p50 on a
 * quiet machine, a far worse p99 on a loaded one -- under EEVDF each yield pushes
 * the thread's deadline a slice further, so pollers that never sleep queue behind
 * CPU-bound tasks for whole slices (a nap every 64 passes did not help: p50 60 us).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/xs.h>

#include "nb_private.h"

#define NB_SPIN_ROUNDS                                                                             \
	50 /* ~5-10 us of empty rounds: the 2 cores are shared with the guests (200 cost Mpps in pktgen->sink; rr pings arrive 1 ms apart, after any spin window) */
#define NB_PENDING_TIMEOUT_MS 100
#define NB_POLL_EXPIRE_MS 10 /* polling mode: how often pending RX packets are checked for expiry */
#define NB_POLL_MAX_US 1000000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Worker: hands the lock to a thread that raised ctl_want, takes it back after. */
static void worker_yield_lock(struct nb_worker *w)
{
	pthread_mutex_unlock(&w->lock);
	/* acquire: the set the control thread changed before lowering ctl_want */
	while (__atomic_load_n(&w->ctl_want, __ATOMIC_ACQUIRE))
		sched_yield();
	pthread_mutex_lock(&w->lock);
}

/* Another thread: takes the lock from a worker that may hold it across rounds. */
static void ctl_lock(struct nb_worker *w)
{
	__atomic_fetch_add(&w->ctl_want, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&w->lock);
}

static void ctl_unlock(struct nb_worker *w)
{
	pthread_mutex_unlock(&w->lock);
	__atomic_fetch_sub(&w->ctl_want, 1, __ATOMIC_RELEASE);
}

int nb_poll_parse_node(const char *s, size_t len, int64_t *ns)
{
	unsigned long long us = 0;

	if (len == 2 && !memcmp(s, "on", 2)) {
		*ns = -1;
		return 0;
	}
	if (len == 3 && !memcmp(s, "off", 3)) {
		*ns = 0;
		return 0;
	}
	if (len == 0 || len > 7)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		us = us * 10 + (unsigned)(s[i] - '0');
	}
	if (us < 1 || us > NB_POLL_MAX_US)
		return -EINVAL;
	*ns = (int64_t)us * 1000;
	return 0;
}

/* Control thread: the vif's `pvnet-poll` node; absent or invalid = event mode. */
static int64_t vif_read_poll(struct nb_vif *vif)
{
	char path[160], *val = NULL;
	size_t len = 0;
	int64_t ns = 0;

	snprintf(path, sizeof(path), "%s/pvnet-poll", vif->be_path);
	if (xs_read(vif->nb->xs, 0, 0, path, &val, &len) < 0)
		return 0;
	if (nb_poll_parse_node(val, len, &ns) < 0) {
		PVLOG(WARN, NB_MOD, "%s: ignoring pvnet-poll '%.*s'", vif->name,
		      (int)(len > 40 ? 40 : len), val);
		ns = 0;
	}
	free(val);
	return ns;
}

/* Under w->lock: the worker polls as hard as its most demanding queue asks. */
static void worker_update_poll(struct nb_worker *w)
{
	int64_t p = 0;

	for (unsigned i = 0; i < w->nr_queues; i++) {
		int64_t q = w->queues[i]->poll_ns;
		if (q < 0 || p < 0)
			p = -1;
		else if (q > p)
			p = q;
	}
	w->poll_ns = p;
}

/* A worker thread's loop. check-funcs: the data-path loop of the worker, kept
 * whole: wait, poll every queue, adapt the polling window, in one place. */
static void *worker_main(void *arg)
{
	struct nb_worker *w = arg;
	struct epoll_event evs[64];
	unsigned idle = 0;
	uint64_t idle_since = 0, last_expire = 0;

	pthread_mutex_lock(&w->lock);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		unsigned work = 0;
		bool pending = false, more = false;
		uint64_t timeout_ns;
		struct timespec ts;
		int n;

		/* a plain load per round: the line stays shared until someone asks */
		if (__atomic_load_n(&w->ctl_want, __ATOMIC_RELAXED))
			worker_yield_lock(w);
		for (unsigned i = 0; i < w->nr_queues; i++) {
			struct nb_queue *q = w->queues[i];
			if (__atomic_load_n(&q->vif->disabled, __ATOMIC_RELAXED))
				continue;
			work += nb_tx_burst(q);
			/* no lock while the guest has not posted what the head packet needs */
			if (nb_rx_can_progress(q))
				work += nb_rx_service(q);
			pending |= nb_rx_has_pending(q);
		}
		w->rounds++;
		if (work) {
			idle = 0;
			idle_since = 0;
			continue;
		}
		if (++idle < NB_SPIN_ROUNDS) {
			cpu_relax();
			continue;
		}
		if (w->poll_ns) {
			uint64_t now = pvnet_now_ns(); /* vDSO; idle rounds only */
			if (!idle_since)
				idle_since = now;
			if (w->poll_ns < 0 || now - idle_since < (uint64_t)w->poll_ns) {
				if (pending &&
				    now - last_expire >= NB_POLL_EXPIRE_MS * 1000000ull) {
					last_expire = now;
					for (unsigned i = 0; i < w->nr_queues; i++)
						if (nb_rx_has_pending(w->queues[i]) &&
						    !__atomic_load_n(&w->queues[i]->vif->disabled,
								     __ATOMIC_RELAXED))
							nb_rx_service(w->queues[i]);
				}
				w->polls++;
				sched_yield(); /* let the guests we wait for run */
				continue;
			}
		}
		idle_since = 0;
		if (pending) {
			/* before sleeping: expire what waited too long (nb_rx_can_progress
			 * does not look at the clock) */
			for (unsigned i = 0; i < w->nr_queues; i++)
				if (nb_rx_has_pending(w->queues[i]) &&
				    !__atomic_load_n(&w->queues[i]->vif->disabled,
						     __ATOMIC_RELAXED))
					work += nb_rx_service(w->queues[i]);
			if (work) {
				idle = 0;
				continue;
			}
		}
		timeout_ns = (pending ? NB_PENDING_TIMEOUT_MS : 1000) * 1000000ull;
		for (unsigned i = 0; i < w->nr_queues && !more; i++) {
			struct nb_queue *q = w->queues[i];
			more = nb_tx_final_check(q);
			if (q->rate_timer_ns) {
				/* a credit timer: sleep no longer than its deadline */
				uint64_t now = pvnet_now_ns();
				uint64_t left = q->rate_timer_ns > now ? q->rate_timer_ns - now : 0;
				if (left < timeout_ns)
					timeout_ns = left;
			}
		}
		if (more) {
			idle = 0;
			continue;
		}
		w->sleeps++;
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		pthread_mutex_unlock(&w->lock);
		n = epoll_pwait2(w->epfd, evs, 64, &ts, NULL);
		pthread_mutex_lock(&w->lock);
		/* the queues' event fds are edge-triggered: nothing to clear (no read(2)
		 * per wake-up); only the control kick is level-triggered and read */
		for (int i = 0; i < n; i++) {
			uint64_t v;

			if (evs[i].data.ptr)
				continue;
			if (read(w->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				PVLOG_RL(WARN, NB_MOD, "worker %u: read kick: %d", w->index, errno);
		}
		idle = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void kick(struct nb_worker *w)
{
	uint64_t one = 1;
	if (write(w->kick_fd, &one, sizeof(one)) < 0)
		PVLOG_RL(WARN, NB_MOD, "worker %u: kick: %d", w->index, errno);
}

/*
 * A queue's event fd, edge-triggered: every notify (a write to the eventfd) queues
 * one epoll event whether or not the counter was cleared, so the worker never
 * reads it (one syscall less per wake-up; the counter would need 2^64 notifies to
 * saturate). A notify that arrives while the worker is awake costs at most one
 * spurious wake-up, after which the final checks find nothing and it sleeps.
 */
static int ep_add(struct nb_worker *w, int fd, struct nb_evsrc *ev)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.ptr = ev};
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

int nb_worker_attach(struct nb_worker *w, struct nb_queue *q)
{
	int rc = 0;

	q->poll_ns = vif_read_poll(q->vif); /* before the lock: a store read */
	ctl_lock(w);
	if (w->nr_queues == w->cap_queues) {
		unsigned cap = w->cap_queues ? w->cap_queues * 2 : 8;
		struct nb_queue **nq = realloc(w->queues, cap * sizeof(*nq));
		if (!nq) {
			rc = -ENOMEM;
			goto out;
		}
		w->queues = nq;
		w->cap_queues = cap;
	}
	q->ev_tx = (struct nb_evsrc){.q = q, .kind = 0};
	q->ev_rx = (struct nb_evsrc){.q = q, .kind = 1};
	rc = ep_add(w, q->tx_wait_fd, &q->ev_tx);
	if (rc < 0)
		goto out;
	if (!q->shared_evtchn) {
		rc = ep_add(w, q->rx_wait_fd, &q->ev_rx);
		if (rc < 0) {
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, q->tx_wait_fd, NULL);
			goto out;
		}
	}
	w->queues[w->nr_queues++] = q;
	q->worker = w;
	worker_update_poll(w);
	if (q->poll_ns)
		PVLOG(INFO, NB_MOD, "%s: queue %u: netback polling %s", q->vif->name, q->index,
		      q->poll_ns < 0 ? "on" : "window");
out:
	ctl_unlock(w);
	if (rc == 0)
		kick(w);
	return rc;
}

void nb_worker_detach(struct nb_worker *w, struct nb_queue *q)
{
	ctl_lock(w);
	for (unsigned i = 0; i < w->nr_queues; i++) {
		if (w->queues[i] == q) {
			w->queues[i] = w->queues[--w->nr_queues];
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, q->tx_wait_fd, NULL);
			if (!q->shared_evtchn)
				epoll_ctl(w->epfd, EPOLL_CTL_DEL, q->rx_wait_fd, NULL);
			break;
		}
	}
	worker_update_poll(w);
	q->worker = NULL;
	ctl_unlock(w);
}

int nb_workers_start(struct nb *nb, unsigned n)
{
	int rc;

	nb->workers = calloc(n, sizeof(*nb->workers));
	if (!nb->workers)
		return -ENOMEM;
	nb->nr_workers = n;
	for (unsigned i = 0; i < n; i++) {
		struct nb_worker *w = &nb->workers[i];
		w->nb = nb;
		w->index = i;
		w->epfd = -1;
		w->kick_fd = -1;
		pthread_mutex_init(&w->lock, NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		struct nb_worker *w = &nb->workers[i];
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};

		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->epfd < 0 || w->kick_fd < 0 ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->kick_fd, &e) < 0) {
			rc = -errno;
			goto fail;
		}
		rc = -pthread_create(&w->thread, NULL, worker_main, w);
		if (rc < 0)
			goto fail;
		w->started = true;
	}
	return 0;
fail:
	nb_workers_stop(nb);
	return rc;
}

void nb_workers_stop(struct nb *nb)
{
	for (unsigned i = 0; i < nb->nr_workers; i++) {
		struct nb_worker *w = &nb->workers[i];
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
		if (w->started) {
			kick(w);
			pthread_join(w->thread, NULL);
		}
		if (w->epfd >= 0)
			close(w->epfd);
		if (w->kick_fd >= 0)
			close(w->kick_fd);
		free(w->queues);
		pthread_mutex_destroy(&w->lock);
	}
	free(nb->workers);
	nb->workers = NULL;
	nb->nr_workers = 0;
}
