/* SPDX-License-Identifier: MIT */
/*
 * The uplink worker: one thread, epoll over the RX fds of uplink ports (AF_PACKET,
 * TAP, VXLAN), bursts of PVNET_BATCH_MAX into vsw_input.
 *
 * Sources live in a fixed table; an epoll event carries the slot index and a
 * generation so a stale event for a removed (or reused) slot is ignored. The
 * worker holds `lock` while it polls the sources of one epoll wake-up (one lock
 * per wake-up, not per packet); vsw_worker_del takes it too, so when del returns
 * the worker is not inside that source's poll() and cannot find it again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "vsw_private.h"

#define WORKER_SOURCES 256
#define WORKER_EVENTS 32
#define WORKER_ROUNDS 8 /* full bursts per source per wake-up before yielding to others */

struct source {
	int fd; /* -1: free slot */
	uint32_t gen;
	vsw_rx_poll_fn poll;
	void *arg;
};

struct vsw_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	int epfd;
	int stopfd; /* eventfd: wakes the thread to stop */
	bool stop;
	struct source src[WORKER_SOURCES];
	uint64_t wakeups, polls;
};

#define STOP_KEY UINT64_MAX

static void *worker_main(void *arg)
{
	struct vsw_worker *w = arg;
	struct epoll_event ev[WORKER_EVENTS];

	for (;;) {
		int n = epoll_wait(w->epfd, ev, WORKER_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			PVLOG(ERR, VSW_LOG, "uplink worker: epoll_wait: %s", strerror(errno));
			break;
		}
		pthread_mutex_lock(&w->lock);
		if (w->stop) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		w->wakeups++;
		for (int i = 0; i < n; i++) {
			uint64_t key = ev[i].data.u64;
			uint32_t slot = (uint32_t)key, gen = (uint32_t)(key >> 32);
			struct source *s;

			if (key == STOP_KEY || slot >= WORKER_SOURCES)
				continue;
			s = &w->src[slot];
			if (s->fd < 0 || s->gen != gen)
				continue; /* removed since epoll_wait returned */
			for (int r = 0; r < WORKER_ROUNDS; r++) {
				int got = s->poll(s->arg, PVNET_BATCH_MAX);
				w->polls++;
				if (got < 0)
					PVLOG_RL(WARN, VSW_LOG, "uplink fd %d: receive: %s", s->fd,
						 strerror(-got));
				if (got < PVNET_BATCH_MAX)
					break;
			}
		}
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

int vsw_worker_create(const char *name, struct vsw_worker **out)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_KEY};
	struct vsw_worker *w;
	int rc = -ENOMEM;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		goto fail;
	for (unsigned i = 0; i < WORKER_SOURCES; i++)
		w->src[i].fd = -1;
	rc = -pthread_mutex_init(&w->lock, NULL);
	if (rc)
		goto fail_w;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		rc = -errno;
		goto fail_lock;
	}
	w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stopfd < 0) {
		rc = -errno;
		goto fail_ep;
	}
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stopfd, &ev) < 0) {
		rc = -errno;
		goto fail_stop;
	}
	rc = -pthread_create(&w->thread, NULL, worker_main, w);
	if (rc)
		goto fail_stop;
	if (name)
		pthread_setname_np(w->thread, name);
	*out = w;
	return 0;

fail_stop:
	close(w->stopfd);
fail_ep:
	close(w->epfd);
fail_lock:
	pthread_mutex_destroy(&w->lock);
fail_w:
	free(w);
fail:
	return rc;
}

void vsw_worker_destroy(struct vsw_worker *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_mutex_unlock(&w->lock);
	if (write(w->stopfd, &one, sizeof(one)) < 0)
		PVLOG(WARN, VSW_LOG, "uplink worker: wake for stop: %s", strerror(errno));
	pthread_join(w->thread, NULL);
	close(w->stopfd);
	close(w->epfd);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int vsw_worker_add(struct vsw_worker *w, int fd, vsw_rx_poll_fn poll, void *arg)
{
	struct epoll_event ev = {.events = EPOLLIN};
	unsigned i, slot = WORKER_SOURCES;
	int rc = 0;

	if (!w || fd < 0 || !poll)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	for (i = 0; i < WORKER_SOURCES; i++) {
		if (w->src[i].fd == fd) {
			rc = -EEXIST;
			goto out;
		}
		if (w->src[i].fd < 0 && slot == WORKER_SOURCES)
			slot = i;
	}
	rc = -ENOSPC;
	if (slot == WORKER_SOURCES)
		goto out;
	w->src[slot].gen++;
	ev.data.u64 = (uint64_t)w->src[slot].gen << 32 | slot;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = -errno;
		goto out;
	}
	w->src[slot].fd = fd;
	w->src[slot].poll = poll;
	w->src[slot].arg = arg;
	rc = 0;
out:
	pthread_mutex_unlock(&w->lock);
	return rc;
}

int vsw_worker_del(struct vsw_worker *w, int fd)
{
	int rc = -ENOENT;

	if (!w)
		return -ENOENT;
	pthread_mutex_lock(&w->lock);
	for (unsigned i = 0; i < WORKER_SOURCES; i++) {
		if (w->src[i].fd == fd) {
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
			w->src[i].fd = -1;
			w->src[i].poll = NULL;
			w->src[i].arg = NULL;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void vsw_worker_get_stats(struct vsw_worker *w, uint64_t *wakeups, uint64_t *polls)
{
	pthread_mutex_lock(&w->lock);
	*wakeups = w->wakeups;
	*polls = w->polls;
	pthread_mutex_unlock(&w->lock);
}
