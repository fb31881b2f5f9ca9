/* SPDX-License-Identifier: MIT */
/*
 * netfront data path: one thread per queue moves frames TAP -> TX ring and
 * RX ring -> TAP in bursts. Frames are read from the TAP straight into the
 * granted TX pool pages and written to the TAP straight from the RX pages
 * (readv/writev), so the guest side makes no copy of its own.
 *
 * Syscalls: one readv/writev per frame (the TAP has no batch interface), at
 * most one notification per burst and direction; when idle, TAP readv
 * probes during the busy-poll window (PVNET_NF_POLL_US), then one epoll_wait.
 * The thread sleeps in its own epoll set: the event channels edge-triggered
 * (each notify is one event; the eventfds are never read, no read(2) per
 * wake-up), the TAP level-triggered while TX has room, the stop kick level.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>

#include "nf_private.h"

#define PAGE 4096u
/* below this many free TX pages or ring slots, TX completions wake the queue thread */
#define NF_TX_RECLAIM_LOW (NF_TX_POOL / 4)

static inline uint8_t *tx_page(struct nf_queue *q, unsigned i)
{
	return q->tx_pages + (size_t)i * PAGE;
}

static inline uint8_t *rx_page(struct nf_queue *q, unsigned i)
{
	return q->rx_pages + (size_t)i * PAGE;
}

void nf_notify(int fd, uint64_t *count)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0)
		PVLOG_RL(WARN, MOD, "event channel notify: %s", strerror(errno));
	(*count)++;
}

void nf_queue_broken(struct nf_queue *q, const char *why)
{
	if (!q->broken)
		PVLOG(ERR, MOD, "%s queue %u: backend protocol error (%s); queue disabled",
		      q->vif->ifname, q->idx, why);
	q->broken = true;
}

/* Fill every free RX slot: request id = slot, page i belongs to slot i. */
void nf_rx_refill(struct nf_queue *q, bool do_notify)
{
	const unsigned mask = RING_SIZE(&q->rx) - 1;
	RING_IDX start = q->rx.req_prod_pvt;
	int n;

	while (q->rx.req_prod_pvt - q->rx.rsp_cons < RING_SIZE(&q->rx)) {
		RING_IDX i = q->rx.req_prod_pvt++;
		struct netif_rx_request req = {.id = (uint16_t)(i & mask),
					       .gref = q->rx_ref_base + (i & mask)};
		*RING_GET_REQUEST(&q->rx, i) = req;
	}
	if (q->rx.req_prod_pvt == start)
		return;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->rx, n);
	if (n && do_notify && q->rx_notify >= 0)
		nf_notify(q->rx_notify, &q->rx_notify_count);
}

void nf_queue_reset(struct nf_queue *q)
{
	struct netif_tx_sring *txs =
		(struct netif_tx_sring *)(q->vif->alloc->mem + q->tx_ring_pfn * PAGE);
	struct netif_rx_sring *rxs =
		(struct netif_rx_sring *)(q->vif->alloc->mem + q->rx_ring_pfn * PAGE);

	memset(txs, 0, PAGE);
	memset(rxs, 0, PAGE);
	SHARED_RING_INIT(txs);
	SHARED_RING_INIT(rxs);
	FRONT_RING_INIT(&q->tx, txs, PAGE);
	FRONT_RING_INIT(&q->rx, rxs, PAGE);
	for (unsigned i = 0; i < NF_TX_POOL; i++) {
		q->tx_free[i] = (uint16_t)(NF_TX_POOL - 1 - i);
		q->tx_state[i] = NF_TX_FREE;
	}
	q->tx_nfree = NF_TX_POOL;
	memset(q->tx_app_len, 0, sizeof(q->tx_app_len));
	q->broken = false;
	q->rx_incomplete = false;
	q->stop = 0;
	/* post every RX buffer before connecting; the backend sees them at connect */
	nf_rx_refill(q, false);
}

/* Reclaims TX responses; returns how many slots were answered. */
unsigned nf_tx_reclaim(struct nf_queue *q)
{
	struct netif_tx_response rsp;
	RING_IDX prod = PVNET_RING_READ_ONCE(q->tx.sring->rsp_prod), cons;
	unsigned n = 0;

	if (prod == q->tx.rsp_cons)
		return 0;
	if (prod - q->tx.rsp_cons > q->tx.req_prod_pvt - q->tx.rsp_cons) {
		nf_queue_broken(q, "tx rsp_prod beyond our requests");
		return 0;
	}
	pvnet_rmb(); /* rsp_prod before the responses it covers */
	for (cons = q->tx.rsp_cons; cons != prod; cons++, n++) {
		RING_COPY_RESPONSE(&q->tx, cons, &rsp);
		if (rsp.status == NETIF_RSP_NULL)
			continue; /* answer to an extra-info slot */
		if (rsp.id >= NF_TX_POOL || q->tx_state[rsp.id] == NF_TX_FREE) {
			nf_queue_broken(q, "tx response with a bad id");
			break;
		}
		if (rsp.status != NETIF_RSP_OKAY && q->tx_state[rsp.id] == NF_TX_FIRST)
			q->drops[NF_DROP_TX_BACKEND]++;
		q->tx_state[rsp.id] = NF_TX_FREE;
		q->tx_free[q->tx_nfree++] = rsp.id;
	}
	q->tx.rsp_cons = cons;
	return n;
}

/*
 * Whether the queue thread must be woken for TX completions before it sleeps:
 * only when TX is (nearly) stuck without them -- fewer than NF_TX_RECLAIM_LOW free
 * pages or too few free ring slots for the largest packet, or the NIC path is
 * blocked. Otherwise the answered slots are reclaimed at the next pass (an RX
 * event or a TAP frame): in a request/response exchange the backend's TX response
 * to the request then costs no notification and no wake-up here.
 */
static bool nf_tx_need_reclaim(struct nf_queue *q)
{
	if (q->tx_nfree == NF_TX_POOL)
		return false;
	return q->tx_nfree < NF_TX_RECLAIM_LOW || RING_FREE_REQUESTS(&q->tx) < NF_TX_RECLAIM_LOW ||
	       (q->acc && nf_accel_tx_blocked(q));
}

/* TAP -> TX ring. Sets *tap_empty when the TAP had nothing more to give.
 * check-funcs: a data-path inner loop, kept whole: one pass over a burst with
 * the ring indices and grant batch in locals; split, they would go through
 * memory on every packet. */
static unsigned tx_burst(struct nf_queue *q, bool *tap_empty)
{
	struct iovec iov[1 + NF_TX_MAX_DATA_SLOTS];
	struct virtio_net_hdr vh;
	struct netif_extra_info extra;
	RING_IDX start = q->tx.req_prod_pvt;
	unsigned done = 0;
	int do_notify;

	*tap_empty = false;
	while (done < NF_BURST) {
		uint16_t flags;
		bool has_extra;
		ssize_t n;
		uint32_t len, nslots;

		if (RING_FREE_REQUESTS(&q->tx) < NF_TX_SLOTS_NEEDED ||
		    q->tx_nfree < NF_TX_MAX_DATA_SLOTS)
			break; /* wait for TX responses */
		if (q->acc && nf_accel_tx_blocked(q))
			break; /* wait for the NIC's TX completions (accel.c) */
		iov[0].iov_base = &vh;
		iov[0].iov_len = sizeof(vh);
		for (unsigned i = 0; i < NF_TX_MAX_DATA_SLOTS; i++) {
			iov[1 + i].iov_base = tx_page(q, q->tx_free[q->tx_nfree - 1 - i]);
			iov[1 + i].iov_len = PAGE;
		}
		n = readv(q->tap_fd, iov, 1 + NF_TX_MAX_DATA_SLOTS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				PVLOG_RL(WARN, MOD, "%s: TAP read: %s", q->vif->ifname,
					 strerror(errno));
			*tap_empty = true;
			break;
		}
		done++;
		if ((size_t)n < sizeof(vh) + 14) {
			q->drops[NF_DROP_TX_RUNT]++;
			continue;
		}
		len = (uint32_t)((size_t)n - sizeof(vh));
		if (len > XEN_NETIF_MAX_TX_SIZE) {
			q->drops[NF_DROP_TX_TOO_BIG]++;
			continue;
		}
		if (q->acc && nf_accel_tx(q, &vh, len)) {
			/* on the NIC queue pair (Levels 2-3); declined frames continue here */
			q->tx_pkts++;
			q->tx_bytes += len;
			continue;
		}
		if (nf_tx_flags_from_vnet(&vh, q->vif->gso_v4, q->vif->gso_v6, &flags, &extra,
					  &has_extra) < 0) {
			PVLOG_RL(WARN, MOD, "%s: virtio_net_hdr flags %#x gso %#x not expressible",
				 q->vif->ifname, vh.flags, vh.gso_type);
			q->drops[NF_DROP_TX_BAD_VNET]++;
			continue;
		}
		nslots = (len + PAGE - 1) / PAGE;
		/* the pages were taken from the top of the free stack, in order */
		for (uint32_t s = 0; s < nslots; s++) {
			uint16_t id = q->tx_free[--q->tx_nfree];
			struct netif_tx_request req = {
				.gref = q->tx_ref_base + id,
				.offset = 0,
				.flags = (uint16_t)((s == 0 ? flags : 0) |
						    (s + 1 < nslots ? NETTXF_more_data : 0)),
				.id = id,
				.size = (uint16_t)(s == 0 ? len
							  : (len - s * PAGE > PAGE
								     ? PAGE
								     : len - s * PAGE)),
			};
			q->tx_state[id] = s == 0 ? NF_TX_FIRST : NF_TX_FRAG;
			*RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++) = req;
			if (s == 0 && has_extra) {
				/* the extra-info slot follows the first data slot */
				memcpy(RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++), &extra,
				       sizeof(extra));
			}
		}
		q->tx_pkts++;
		q->tx_bytes += len;
		if (has_extra)
			q->tx_gso_pkts++;
	}
	if (q->acc)
		nf_accel_tx_flush(q);
	if (q->tx.req_prod_pvt != start) {
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->tx, do_notify);
		if (do_notify)
			nf_notify(q->tx_notify, &q->tx_notify_count);
	}
	return done;
}

/*
 * RX ring -> TAP. A packet is: data slot 0, its extras (if NETRXF_extra_info),
 * then data slots while NETRXF_more_data. Only complete packets are consumed.
 * check-funcs: a data-path inner loop, kept whole: one pass over the ring with
 * its indices and the iovec in locals.
 */
static unsigned rx_burst(struct nf_queue *q)
{
	const unsigned mask = RING_SIZE(&q->rx) - 1;
	struct iovec iov[1 + NF_RX_MAX_DATA_SLOTS];
	RING_IDX prod = PVNET_RING_READ_ONCE(q->rx.sring->rsp_prod);
	RING_IDX cons = q->rx.rsp_cons;
	unsigned pkts = 0;

	q->rx_incomplete = false;
	if (prod == cons)
		return 0;
	if (prod - cons > q->rx.req_prod_pvt - cons) {
		nf_queue_broken(q, "rx rsp_prod beyond our requests");
		return 0;
	}
	pvnet_rmb(); /* rsp_prod before the responses it covers */
	while (cons != prod && pkts < NF_BURST) {
		struct netif_extra_info gso;
		struct virtio_net_hdr vh;
		struct netif_rx_response rsp;
		RING_IDX c = cons;
		unsigned nd = 0;
		uint32_t total = 0;
		uint16_t first_flags = 0;
		int err = -1;
		bool has_gso = false, more = true, first = true, incomplete = false;

		while (more) {
			if (c == prod) {
				incomplete = true;
				break;
			}
			RING_COPY_RESPONSE(&q->rx, c, &rsp);
			int rc = nf_rx_rsp_check(&rsp, (uint16_t)(c & mask));
			uint16_t slot = (uint16_t)(c & mask);
			c++;
			if (rc == -EIO)
				err = NF_DROP_RX_BACKEND;
			else if (rc < 0 || nd >= NF_RX_MAX_DATA_SLOTS)
				err = NF_DROP_RX_BAD_RSP;
			else if (err < 0) {
				iov[1 + nd].iov_base = rx_page(q, slot) + rsp.offset;
				iov[1 + nd].iov_len = (size_t)rsp.status;
				nd++;
				total += (uint32_t)rsp.status;
			}
			more = rsp.flags & NETRXF_more_data;
			if (first && (rsp.flags & NETRXF_extra_info)) {
				struct netif_extra_info ex;
				do {
					if (c == prod) {
						incomplete = true;
						break;
					}
					memcpy(&ex, (const void *)RING_GET_RESPONSE(&q->rx, c),
					       sizeof(ex));
					pvnet_barrier();
					c++;
					if (ex.type == XEN_NETIF_EXTRA_TYPE_GSO) {
						gso = ex;
						has_gso = true;
					} else if (ex.type == XEN_NETIF_EXTRA_TYPE_NONE ||
						   ex.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
						err = NF_DROP_RX_BAD_EXTRA;
					}
				} while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
				if (incomplete)
					break;
			}
			if (first)
				first_flags = rsp.flags;
			first = false;
		}
		if (incomplete) {
			if (prod - cons >= RING_SIZE(&q->rx))
				nf_queue_broken(q, "rx packet longer than the ring");
			q->rx_incomplete = true;
			break;
		}
		cons = c;
		pkts++;
		if (err < 0 && total < 14)
			err = NF_DROP_RX_BAD_RSP;
		if (err < 0) {
			const uint8_t *hdr = iov[1].iov_base;
			uint32_t hlen = (uint32_t)iov[1].iov_len;
			uint8_t lin[256];
			int rc =
				nf_vnet_from_rx(first_flags, has_gso ? &gso : NULL, hdr, hlen, &vh);

			if (rc < 0 && nd > 1) {
				/* headers split over slots: look at a linear copy */
				uint32_t got = 0;
				for (unsigned i = 0; i < nd && got < sizeof(lin); i++) {
					size_t k = iov[1 + i].iov_len;
					if (k > sizeof(lin) - got)
						k = sizeof(lin) - got;
					memcpy(lin + got, iov[1 + i].iov_base, k);
					got += (uint32_t)k;
				}
				rc = nf_vnet_from_rx(first_flags, has_gso ? &gso : NULL, lin, got,
						     &vh);
			}
			if (rc < 0)
				err = has_gso && gso.type != XEN_NETIF_EXTRA_TYPE_GSO
					      ? NF_DROP_RX_BAD_EXTRA
					      : NF_DROP_RX_CSUM_SETUP;
		}
		if (err >= 0) {
			q->drops[err]++;
			PVLOG_RL(WARN, MOD, "%s queue %u: dropped a received packet: %s",
				 q->vif->ifname, q->idx, nf_drop_name((enum nf_drop)err));
			continue;
		}
		iov[0].iov_base = &vh;
		iov[0].iov_len = sizeof(vh);
		if (writev(q->tap_fd, iov, (int)(1 + nd)) < 0) {
			q->drops[NF_DROP_RX_TAP_WRITE]++;
			PVLOG_RL(WARN, MOD, "%s: TAP write: %s", q->vif->ifname, strerror(errno));
			continue;
		}
		q->rx_pkts++;
		q->rx_bytes += total;
		if (has_gso)
			q->rx_gso_pkts++;
	}
	q->rx.rsp_cons = cons;
	if (pkts)
		nf_rx_refill(q, true);
	return pkts;
}

void nf_drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		PVLOG_RL(WARN, MOD, "event channel read: %s", strerror(errno));
}

/*
 * Before sleeping: ask the backend for a notification at its next response
 * (rsp_event = target) and look once more, closing the race with a response
 * pushed in between. Returns true if there is work after all.
 */
bool nf_final_check(struct netif_rx_front_ring *rx, struct netif_tx_front_ring *tx,
		    bool rx_incomplete, bool tx_inflight)
{
	RING_IDX rx_prod = PVNET_RING_READ_ONCE(rx->sring->rsp_prod);
	/* an incomplete packet: wake when more than what we have arrives */
	RING_IDX rx_target = rx_incomplete ? rx_prod + 1 : rx->rsp_cons + 1;

	if (!rx_incomplete && rx_prod != rx->rsp_cons)
		return true;
	if (pvnet_ring_holdoff(&rx->sring->rsp_event, &rx->sring->rsp_prod, rx_target) != rx_prod)
		return true;
	return tx_inflight && pvnet_ring_holdoff(&tx->sring->rsp_event, &tx->sring->rsp_prod,
						 tx->rsp_cons + 1) != tx->rsp_cons;
}

int64_t nf_poll_ns_from_env(void)
{
	const char *v = getenv("PVNET_NF_POLL_US");
	char *end;
	long us;

	if (!v || !*v)
		return (int64_t)NF_POLL_US_DEFAULT * 1000;
	if (!strcmp(v, "always"))
		return -1;
	us = strtol(v, &end, 10);
	if (*end || us < 0 || us > 1000000) {
		PVLOG(WARN, MOD, "PVNET_NF_POLL_US='%s' ignored (microseconds or 'always')", v);
		return (int64_t)NF_POLL_US_DEFAULT * 1000;
	}
	return (int64_t)us * 1000;
}

enum { WS_STOP, WS_RX, WS_TX, WS_TAP, WS_ACC };

static int ws_add(int ep, int fd, uint32_t events, uint32_t tag)
{
	struct epoll_event e = {.events = events, .data.u32 = tag};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

/* The TAP-mode queue thread's wait set (before the thread starts). */
static int waitset_create(struct nf_queue *q)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), rc;

	if (ep < 0)
		return -errno;
	rc = ws_add(ep, q->stop_fd, EPOLLIN, WS_STOP);
	if (!rc)
		rc = ws_add(ep, q->rx_wait, EPOLLIN | EPOLLET, WS_RX);
	if (!rc && q->tx_wait != q->rx_wait)
		rc = ws_add(ep, q->tx_wait, EPOLLIN | EPOLLET, WS_TX);
	if (!rc)
		rc = ws_add(ep, q->tap_fd, EPOLLIN, WS_TAP);
	if (rc) {
		close(ep);
		return rc;
	}
	q->wait_ep = ep;
	return 0;
}

/*
 * Sleeps until an event channel fires, the TAP has a frame (watched only while
 * tx_room: a full ring would make it a busy loop), the NIC path's interrupt
 * (accel.c) or the stop kick. *tap_on: whether the set watches the TAP now.
 * 0, or -errno on a failed wait.
 */
static int queue_wait(struct nf_queue *q, bool tx_room, bool *tap_on)
{
	struct epoll_event ev[5];
	int acc_fd = q->acc ? nf_accel_wait_fd(q) : -1, n;

	if (tx_room != *tap_on) {
		struct epoll_event e = {.events = tx_room ? EPOLLIN : 0, .data.u32 = WS_TAP};
		if (epoll_ctl(q->wait_ep, EPOLL_CTL_MOD, q->tap_fd, &e) == 0)
			*tap_on = tx_room;
	}
	/* the NIC's fd is open only while the thread uses it: in the set for this sleep */
	if (acc_fd >= 0 && ws_add(q->wait_ep, acc_fd, EPOLLIN, WS_ACC) < 0)
		acc_fd = -1;
	n = epoll_wait(q->wait_ep, ev, 5, -1);
	if (acc_fd >= 0)
		epoll_ctl(q->wait_ep, EPOLL_CTL_DEL, acc_fd, NULL);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		if (ev[i].data.u32 == WS_STOP && !__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE))
			nf_drain_eventfd(q->stop_fd); /* a kick from the control thread (accel.c) */
	return 0;
}

static void *queue_thread(void *arg)
{
	struct nf_queue *q = arg;
	int64_t idle_since = 0;
	bool tap_on = true; /* waitset_create put the TAP in the set */

	/* the backend may have answered before we started: look at once */
	while (!__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE)) {
		bool tap_empty = false, tx_room;
		unsigned work = 0;
		int rc;

		if (!q->broken) {
			work += nf_tx_reclaim(q);
			if (q->acc)
				work += nf_accel_poll(q);
			work += rx_burst(q);
			work += tx_burst(q, &tap_empty);
			if (work && !q->rx_incomplete) {
				idle_since = 0;
				/*
				 * The TAP said EAGAIN at the end of this pass and no RX
				 * response waits: another pass would only repeat that readv
				 * (a syscall per wake-up of a request/response exchange).
				 * Go to the final check; the wait set watches the TAP.
				 */
				if (!tap_empty || q->poll_ns || q->acc ||
				    PVNET_RING_READ_ONCE(q->rx.sring->rsp_prod) != q->rx.rsp_cons)
					continue;
			}
			/*
			 * Optional busy-poll before sleeping: a reply (rr) or the
			 * next burst usually arrives within microseconds, and a
			 * sleep costs a wake-up per hop. Each idle pass costs one
			 * TAP readv (EAGAIN) and a sched_yield: with fewer cores
			 * than busy threads, pausing in place starves netback and
			 * the guest stack (rr p50 went 37 -> 180 us), yielding
			 * does not (37 -> 29 us). Off by default: TCP lost to it.
			 */
			if (q->poll_ns) {
				int64_t now = (int64_t)pvnet_now_ns();
				if (!idle_since)
					idle_since = now;
				if (q->poll_ns < 0 || now - idle_since < q->poll_ns) {
					sched_yield(); /* let a co-scheduled backend or stack run */
					continue;
				}
			}
			idle_since = 0;
			/* TX completions are asked for (tx rsp_event) only when the TAP
			 * cannot be served without them; otherwise they are reclaimed at
			 * the next pass, and a request/response costs no wake-up of this
			 * thread for the completion of its request (NF_TX_RECLAIM_LOW) */
			if (nf_final_check(&q->rx, &q->tx, q->rx_incomplete, nf_tx_need_reclaim(q)))
				continue;
			if (q->acc && nf_accel_pending(q))
				continue;
		}
		tx_room = !q->broken && RING_FREE_REQUESTS(&q->tx) >= NF_TX_SLOTS_NEEDED &&
			  q->tx_nfree >= NF_TX_MAX_DATA_SLOTS &&
			  !(q->acc && nf_accel_tx_blocked(q));
		if (tx_room && !tap_empty)
			continue; /* TAP still has frames and we have room */
		q->sleeps++;
		rc = queue_wait(q, tx_room, &tap_on);
		if (rc < 0) {
			PVLOG(ERR, MOD, "%s queue %u: epoll_wait: %s", q->vif->ifname, q->idx,
			      strerror(-rc));
			break;
		}
		q->wakeups++;
	}
	return NULL;
}

int nf_queue_start(struct nf_queue *q)
{
	int rc;
	bool app = q->vif->params.mode != PVNET_VIF_MODE_TAP;

	q->stop = 0;
	q->poll_ns = nf_poll_ns_from_env();
	if (app && !q->app_lin) {
		q->app_lin = malloc(NF_RX_LIN_SIZE);
		if (!q->app_lin)
			return -ENOMEM;
	}
	q->wait_ep = -1;
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->stop_fd < 0)
		return -errno;
	if (!app && (rc = waitset_create(q)) < 0)
		goto fail;
	rc = -pthread_create(&q->thread, NULL, app ? nf_app_thread : queue_thread, q);
	if (rc < 0)
		goto fail;
	{
		char name[16];
		snprintf(name, sizeof(name), "nf-%.6s-q%u", q->vif->ifname, q->idx);
		pthread_setname_np(q->thread, name);
	}
	q->thread_running = true;
	/* the backend may need a kick for the RX buffers posted before connect */
	nf_notify(q->rx_notify, &q->rx_notify_count);
	return 0;
fail:
	if (q->wait_ep >= 0)
		close(q->wait_ep);
	q->wait_ep = -1;
	close(q->stop_fd);
	q->stop_fd = -1;
	return rc;
}

void nf_queue_stop(struct nf_queue *q)
{
	uint64_t one = 1;

	if (!q->thread_running)
		return;
	__atomic_store_n(&q->stop, 1, __ATOMIC_RELEASE);
	if (write(q->stop_fd, &one, sizeof(one)) < 0)
		PVLOG(WARN, MOD, "stop %s queue %u: %s", q->vif->ifname, q->idx, strerror(errno));
	pthread_join(q->thread, NULL);
	q->thread_running = false;
	close(q->stop_fd);
	q->stop_fd = -1;
	if (q->wait_ep >= 0)
		close(q->wait_ep);
	q->wait_ep = -1;
}
