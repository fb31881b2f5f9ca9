/* SPDX-License-Identifier: MIT */
/*
 * netfront pktgen/sink data path: the queue thread of a vif in mode pktgen or
 * sink. No TAP: the application callbacks (struct nf_app_ops) write frames
 * straight into the granted TX pages and read them straight from the posted
 * RX pages, NF_APP_BURST at a time.
 *
 * Per burst: one tx_fill call, one push of the TX requests, at most one TX
 * notification; one rx call per batch of complete packets, one RX refill push
 * and at most one RX notification. No syscall while there is work: the thread
 * busy-polls, and only after NF_APP_SPIN empty passes does it arm the event
 * indices (nf_final_check) and sleep on the event channels.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include <pvnet/log.h>

#include "nf_private.h"

#define PAGE 4096u
/*
 * Idle back-off: NF_APP_SPIN empty passes with a pause, then NF_APP_YIELD
 * passes that give the CPU away (sched_yield) - on a machine with fewer
 * cores than busy threads the backend may be waiting for this very core -
 * then arm the event indices and sleep. Syscalls only on empty passes.
 */
#define NF_APP_SPIN 64
#define NF_APP_YIELD 256
/* sleep of a paced generator whose budget is empty */
#define NF_APP_PACE_NS 50000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Fills one burst of single-slot frames; *paced is set when the app had room but sent nothing. */
static unsigned app_tx_burst(struct nf_queue *q, bool *paced)
{
	const struct nf_app_ops *ops = q->vif->app;
	struct nf_app_frame fr[NF_APP_BURST];
	uint16_t ids[NF_APP_BURST];
	unsigned room = RING_FREE_REQUESTS(&q->tx), n = NF_APP_BURST, sent, ok = 0;
	int do_notify;

	*paced = false;
	if (!ops || !ops->tx_fill)
		return 0;
	if (n > room)
		n = room;
	if (n > q->tx_nfree)
		n = q->tx_nfree;
	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		ids[i] = q->tx_free[q->tx_nfree - 1 - i];
		fr[i] = (struct nf_app_frame){.data = q->tx_pages + (size_t)ids[i] * PAGE,
					      .len = q->tx_app_len[ids[i]],
					      .cap = PAGE};
	}
	sent = ops->tx_fill(q->vif->app_arg, q->idx, fr, n);
	if (sent > n)
		sent = n;
	if (!sent) {
		*paced = true;
		return 0;
	}
	q->tx_nfree -= sent;
	for (unsigned i = 0; i < sent; i++) {
		uint16_t id = ids[i];
		uint32_t len = fr[i].len;
		struct netif_tx_request req;

		if (len < 14 || len > PAGE) {
			/* an application bug, not a guest of ours: drop, keep the page */
			q->drops[NF_DROP_TX_RUNT]++;
			q->tx_app_len[id] = 0;
			q->tx_free[q->tx_nfree++] = id;
			continue;
		}
		/* the generator writes complete, correct checksums */
		req = (struct netif_tx_request){.gref = q->tx_ref_base + id,
						.offset = 0,
						.flags = NETTXF_data_validated,
						.id = id,
						.size = (uint16_t)len};
		q->tx_app_len[id] = (uint16_t)len;
		q->tx_state[id] = NF_TX_FIRST;
		*RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++) = req;
		q->tx_bytes += len;
		ok++;
	}
	q->tx_pkts += ok;
	if (ok) {
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->tx, do_notify);
		if (do_notify)
			nf_notify(q->tx_notify, &q->tx_notify_count);
	}
	return sent;
}

static void app_deliver(struct nf_queue *q, struct nf_app_frame *fr, unsigned *n)
{
	const struct nf_app_ops *ops = q->vif->app;

	if (*n && ops && ops->rx)
		ops->rx(q->vif->app_arg, q->idx, fr, *n);
	*n = 0;
}

/*
 * RX ring -> application. A packet is data slot 0, its extras (if
 * NETRXF_extra_info), then data slots while NETRXF_more_data; only complete
 * packets are consumed. Frames point into the RX pages, so they are handed
 * to the application before those slots are posted again (one refill at the
 * end). A multi-slot frame is copied into q->app_lin and delivered alone.
 * check-funcs: a data-path inner loop, kept whole (as rx_burst in datapath.c).
 */
static unsigned app_rx_burst(struct nf_queue *q)
{
	const unsigned mask = RING_SIZE(&q->rx) - 1;
	RING_IDX prod = PVNET_RING_READ_ONCE(q->rx.sring->rsp_prod);
	RING_IDX cons = q->rx.rsp_cons;
	struct nf_app_frame fr[NF_APP_BURST];
	unsigned pkts = 0, nfr = 0;

	q->rx_incomplete = false;
	if (prod == cons)
		return 0;
	if (prod - cons > q->rx.req_prod_pvt - cons) {
		nf_queue_broken(q, "rx rsp_prod beyond our requests");
		return 0;
	}
	pvnet_rmb(); /* rsp_prod before the responses it covers */
	while (cons != prod && pkts < NF_BURST) {
		struct netif_rx_response rsp, slots[NF_RX_MAX_DATA_SLOTS];
		RING_IDX c = cons;
		unsigned nd = 0;
		uint32_t total = 0;
		int err = -1;
		bool more = true, first = true, incomplete = false;

		while (more) {
			int rc;

			if (c == prod) {
				incomplete = true;
				break;
			}
			RING_COPY_RESPONSE(&q->rx, c, &rsp);
			rc = nf_rx_rsp_check(&rsp, (uint16_t)(c & mask));
			c++;
			if (rc == -EIO)
				err = NF_DROP_RX_BACKEND;
			else if (rc < 0 || nd >= NF_RX_MAX_DATA_SLOTS)
				err = NF_DROP_RX_BAD_RSP;
			else if (err < 0) {
				slots[nd++] = rsp;
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
					pvnet_barrier(); /* one copy, then only the copy is used */
					c++;
					if (ex.type == XEN_NETIF_EXTRA_TYPE_NONE ||
					    ex.type >= XEN_NETIF_EXTRA_TYPE_MAX)
						err = NF_DROP_RX_BAD_EXTRA;
				} while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
				if (incomplete)
					break;
			}
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
		if (err >= 0) {
			q->drops[err]++;
			PVLOG_RL(WARN, MOD, "%s queue %u: dropped a received packet: %s",
				 q->vif->ifname, q->idx, nf_drop_name((enum nf_drop)err));
			continue;
		}
		q->rx_pkts++;
		q->rx_bytes += total;
		if (nd == 1) {
			uint16_t slot = slots[0].id;
			fr[nfr++] = (struct nf_app_frame){
				.data = q->rx_pages + (size_t)slot * PAGE + slots[0].offset,
				.len = total,
				.cap = total};
		} else {
			uint32_t off = 0;

			app_deliver(q, fr, &nfr); /* app_lin holds one frame at a time */
			for (unsigned i = 0; i < nd; i++) {
				memcpy(q->app_lin + off,
				       q->rx_pages + (size_t)slots[i].id * PAGE + slots[i].offset,
				       (size_t)slots[i].status);
				off += (uint32_t)slots[i].status;
			}
			fr[nfr++] =
				(struct nf_app_frame){.data = q->app_lin, .len = off, .cap = off};
			app_deliver(q, fr, &nfr);
		}
		if (nfr == NF_APP_BURST)
			app_deliver(q, fr, &nfr);
	}
	app_deliver(q, fr, &nfr);
	q->rx.rsp_cons = cons;
	if (pkts)
		nf_rx_refill(q, true);
	return pkts;
}

void *nf_app_thread(void *arg)
{
	struct nf_queue *q = arg;
	unsigned idle = 0;

	while (!__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd[3];
		struct timespec pace = {0, NF_APP_PACE_NS};
		bool paced = false;
		unsigned work = 0;

		if (!q->broken) {
			work += nf_tx_reclaim(q);
			work += app_rx_burst(q);
			work += app_tx_burst(q, &paced);
			if (work) {
				idle = 0;
				continue;
			}
			if (++idle < NF_APP_SPIN) {
				cpu_relax();
				continue;
			}
			if (idle < NF_APP_SPIN + NF_APP_YIELD) {
				sched_yield();
				continue;
			}
			if (nf_final_check(&q->rx, &q->tx, q->rx_incomplete,
					   q->tx_nfree != NF_TX_POOL)) {
				idle = 0;
				continue;
			}
		}
		idle = 0;
		pfd[0] = (struct pollfd){.fd = q->stop_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = q->rx_wait, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = q->tx_wait, .events = POLLIN};
		q->sleeps++;
		/* a paced generator wakes itself; otherwise only an event does */
		if (ppoll(pfd, 3, paced && !q->broken ? &pace : NULL, NULL) < 0 && errno != EINTR) {
			PVLOG(ERR, MOD, "%s queue %u: poll: %s", q->vif->ifname, q->idx,
			      strerror(errno));
			break;
		}
		q->wakeups++;
		if (pfd[1].revents & POLLIN)
			nf_drain_eventfd(q->rx_wait);
		if (pfd[2].revents & POLLIN)
			nf_drain_eventfd(q->tx_wait);
	}
	return NULL;
}
