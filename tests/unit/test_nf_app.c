/* SPDX-License-Identifier: MIT */
/*
 * netfront's pktgen/sink data path (mode=pktgen / mode=sink, netfront/app.c)
 * against a minimal in-process backend: the queue thread runs as in
 * pvnet-guest with eventfds standing in for the event channels; the test
 * plays netback, resolving grant refs through the frontend's grant table.
 * Checks: one slot per generated frame (size, flags, gref of the pool page
 * carrying it), bursts of at most NF_APP_BURST and at most one notification
 * per burst, the restamp hint (len of the frame last written into a reused
 * page), TX reclaim and page reuse, application length errors counted, and
 * on RX: frames delivered in order from the posted pages (multi-slot ones
 * linearised), every slot posted again, bad responses dropped and counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/hv.h>

#include "../../netfront/nf_private.h"

#define PG 4096u
#define NPAGES (1 + 2 + NF_TX_POOL + NF_RX_POOL)
#define NREFS 1024

struct app_state {
	unsigned to_send;   /* frames tx_fill may still send (test -> thread) */
	unsigned sent;      /* frames filled */
	unsigned calls;     /* tx_fill calls that returned > 0 */
	unsigned max_n;     /* largest n offered */
	unsigned restamps;  /* buffers offered with len == 64 */
	uint32_t bad_len;   /* if != 0, the length the next frame gets */
	unsigned rx_frames; /* frames seen by rx */
	uint32_t rx_len[64];
	uint8_t rx_first[64];
	uint8_t rx_last[64];
};

struct fixture {
	uint8_t *mem;
	struct grant_entry_v1 *gnt;
	struct nf_alloc alloc;
	struct nf_vif vif;
	struct nf_queue q;
	int ev_txreq, ev_txrsp, ev_rxreq, ev_rxrsp;
	RING_IDX tx_req_cons, tx_rsp_prod, rx_req_cons, rx_rsp_prod;
	struct app_state app;
};

static unsigned fill(void *arg, unsigned queue, struct nf_app_frame *fr, unsigned n)
{
	struct app_state *a = arg;
	unsigned k = __atomic_load_n(&a->to_send, __ATOMIC_ACQUIRE);

	assert_int_equal(queue, 0);
	if (n > a->max_n)
		a->max_n = n;
	if (k > n)
		k = n;
	for (unsigned i = 0; i < k; i++) {
		assert_int_equal(fr[i].cap, PG);
		if (fr[i].len == 64)
			a->restamps++;
		memset(fr[i].data, 0, 64);
		memcpy(fr[i].data + 14, &a->sent, sizeof(a->sent)); /* sequence */
		fr[i].len = 64;
		if (a->bad_len) {
			fr[i].len = a->bad_len;
			a->bad_len = 0;
		}
		a->sent++;
	}
	if (k)
		a->calls++;
	__atomic_store_n(&a->to_send, __atomic_load_n(&a->to_send, __ATOMIC_RELAXED) - k,
			 __ATOMIC_RELEASE);
	return k;
}

static void rx(void *arg, unsigned queue, const struct nf_app_frame *fr, unsigned n)
{
	struct app_state *a = arg;
	unsigned c = __atomic_load_n(&a->rx_frames, __ATOMIC_RELAXED);

	assert_int_equal(queue, 0);
	for (unsigned i = 0; i < n && c < 64; i++, c++) {
		a->rx_len[c] = fr[i].len;
		a->rx_first[c] = fr[i].data[0];
		a->rx_last[c] = fr[i].data[fr[i].len - 1];
	}
	__atomic_store_n(&a->rx_frames, c, __ATOMIC_RELEASE);
}

static const struct nf_app_ops gen_ops = {.tx_fill = fill, .rx = rx};

static uint64_t evcount(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

static void kick(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct nf_queue *q = &f->q;

	f->mem = aligned_alloc(PG, (size_t)NPAGES * PG);
	f->gnt = calloc(NREFS, sizeof(*f->gnt));
	assert_non_null(f->mem);
	memset(f->mem, 0, (size_t)NPAGES * PG);
	f->alloc = (struct nf_alloc){.mem = f->mem,
				     .next_pfn = 1,
				     .end_pfn = NPAGES,
				     .gnt = f->gnt,
				     .next_ref = 8,
				     .end_ref = NREFS};
	f->vif.alloc = &f->alloc;
	f->vif.params.mode = PVNET_VIF_MODE_PKTGEN;
	f->vif.app = &gen_ops;
	f->vif.app_arg = &f->app;
	snprintf(f->vif.ifname, sizeof(f->vif.ifname), "test0");
	q->vif = &f->vif;
	q->tx_ring_pfn = 1;
	q->rx_ring_pfn = 2;
	q->tx_pool_pfn = 3;
	q->tx_ref_base = 10;
	q->rx_pool_pfn = 3 + NF_TX_POOL;
	q->rx_ref_base = 10 + NF_TX_POOL;
	q->tx_pages = f->mem + q->tx_pool_pfn * PG;
	q->rx_pages = f->mem + q->rx_pool_pfn * PG;
	q->tap_fd = -1;
	for (unsigned p = 0; p < NF_TX_POOL; p++)
		gnttab_grant_access(f->gnt, q->tx_ref_base + p, 0, (uint32_t)(q->tx_pool_pfn + p),
				    true);
	for (unsigned p = 0; p < NF_RX_POOL; p++)
		gnttab_grant_access(f->gnt, q->rx_ref_base + p, 0, (uint32_t)(q->rx_pool_pfn + p),
				    false);
	f->ev_txreq = eventfd(0, EFD_NONBLOCK);
	f->ev_txrsp = eventfd(0, EFD_NONBLOCK);
	f->ev_rxreq = eventfd(0, EFD_NONBLOCK);
	f->ev_rxrsp = eventfd(0, EFD_NONBLOCK);
	q->tx_notify = f->ev_txreq;
	q->tx_wait = f->ev_txrsp;
	q->rx_notify = f->ev_rxreq;
	q->rx_wait = f->ev_rxrsp;
	nf_queue_reset(q);
	assert_int_equal(nf_queue_start(q), 0);
	evcount(f->ev_rxreq); /* the start kick */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nf_queue_stop(&f->q);
	close(f->ev_txreq);
	close(f->ev_txrsp);
	close(f->ev_rxreq);
	close(f->ev_rxrsp);
	free(f->q.app_lin);
	free(f->mem);
	free(f->gnt);
	free(f);
	return 0;
}

static uint8_t *frame_of(struct fixture *f, grant_ref_t ref, bool want_write)
{
	struct grant_entry_v1 e = f->gnt[ref];

	assert_true(ref < NREFS);
	assert_int_equal(e.flags & GTF_type_mask, GTF_permit_access);
	if (want_write)
		assert_false(e.flags & GTF_readonly);
	assert_true(e.frame < NPAGES);
	return f->mem + (size_t)e.frame * PG;
}

/* Waits until req_prod reaches `want` TX requests beyond what we consumed. */
static RING_IDX wait_tx(struct fixture *f, unsigned want)
{
	struct netif_tx_sring *s = f->q.tx.sring;
	uint64_t deadline = pvnet_now_ms() + 3000;
	RING_IDX prod;

	while ((prod = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE)) - f->tx_req_cons < want) {
		assert_true(pvnet_now_ms() < deadline);
		usleep(200);
	}
	return prod;
}

/* Consumes `n` one-slot TX requests, checks them, answers them all. */
static void backend_tx(struct fixture *f, unsigned n, uint32_t *seq)
{
	struct netif_tx_sring *s = f->q.tx.sring;
	const unsigned mask = NET_TX_RING_SIZE - 1;

	wait_tx(f, n);
	for (unsigned i = 0; i < n; i++) {
		struct netif_tx_request req;
		uint32_t got;

		memcpy(&req, &s->ring[f->tx_req_cons++ & mask].req, sizeof(req));
		assert_int_equal(req.size, 64);
		assert_int_equal(req.offset, 0);
		assert_int_equal(req.flags, NETTXF_data_validated);
		assert_true(req.id < NF_TX_POOL);
		assert_int_equal(req.gref, f->q.tx_ref_base + req.id);
		memcpy(&got, frame_of(f, req.gref, false) + 14, sizeof(got));
		assert_int_equal(got, (*seq)++);
		s->ring[f->tx_rsp_prod++ & mask].rsp =
			(struct netif_tx_response){.id = req.id, .status = NETIF_RSP_OKAY};
	}
	__atomic_store_n(&s->rsp_prod, f->tx_rsp_prod, __ATOMIC_RELEASE);
	kick(f->ev_txrsp);
}

/* The generator fills bursts of <= 32, one slot per frame, in sequence, and
 * notifies at most once per burst; pages come back and are restamped. */
static void test_gen_bursts(void **state)
{
	struct fixture *f = *state;
	uint32_t seq = 0;
	uint64_t notifies;

	/* 200 frames: fits the ring (256) without any response */
	__atomic_store_n(&f->app.to_send, 200, __ATOMIC_RELEASE);
	wait_tx(f, 200);
	assert_int_equal(__atomic_load_n(&f->app.to_send, __ATOMIC_ACQUIRE), 0);
	assert_true(f->app.max_n <= NF_APP_BURST);
	notifies = evcount(f->ev_txreq);
	assert_true(notifies >= 1);
	assert_true(notifies <= f->app.calls);
	assert_true(f->app.calls >= 200 / NF_APP_BURST);
	backend_tx(f, 200, &seq);

	/* 300 more: needs the 200 pages back; reused pages carry len 64 */
	__atomic_store_n(&f->app.to_send, 300, __ATOMIC_RELEASE);
	backend_tx(f, 256, &seq);
	backend_tx(f, 44, &seq);
	assert_int_equal(seq, 500);
	assert_true(f->app.restamps >= 200);
	nf_queue_stop(&f->q);
	assert_int_equal(f->q.tx_pkts, 500);
	assert_int_equal(f->q.tx_bytes, 500 * 64);
	assert_int_equal(f->q.drops[NF_DROP_TX_RUNT], 0);
}

static void wait_reclaimed(struct fixture *f)
{
	uint64_t deadline = pvnet_now_ms() + 3000;

	while (__atomic_load_n(&f->q.tx.rsp_cons, __ATOMIC_ACQUIRE) != f->tx_rsp_prod) {
		assert_true(pvnet_now_ms() < deadline);
		usleep(200);
	}
}

/* A frame length the ring cannot carry is dropped, counted, page kept. */
static void test_gen_bad_len(void **state)
{
	struct fixture *f = *state;
	uint32_t seq = 1; /* frame 0 is the bad one */

	f->app.bad_len = 10;
	__atomic_store_n(&f->app.to_send, 3, __ATOMIC_RELEASE);
	backend_tx(f, 2, &seq);
	wait_reclaimed(f);
	nf_queue_stop(&f->q);
	assert_int_equal(f->q.drops[NF_DROP_TX_RUNT], 1);
	assert_int_equal(f->q.tx_pkts, 2);
	assert_int_equal(f->q.tx_nfree, NF_TX_POOL); /* both answered, bad page back */
}

/* Backend RX: one frame of `len` bytes in slots of `chunk`; bad = 1 breaks the id. */
static void backend_rx(struct fixture *f, uint32_t len, uint32_t chunk, uint8_t tag, int bad)
{
	struct netif_rx_sring *s = f->q.rx.sring;
	const unsigned mask = NET_RX_RING_SIZE - 1;
	uint32_t off = 0;

	while (off < len) {
		struct netif_rx_request req;
		uint32_t n = len - off < chunk ? len - off : chunk;
		uint8_t *page;

		assert_true(__atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE) != f->rx_req_cons);
		memcpy(&req, &s->ring[f->rx_req_cons & mask].req, sizeof(req));
		assert_int_equal(req.id, f->rx_req_cons & mask);
		f->rx_req_cons++;
		page = frame_of(f, req.gref, true) + 32;
		for (uint32_t i = 0; i < n; i++)
			page[i] = (uint8_t)(tag + off + i);
		off += n;
		struct netif_rx_response rsp = {.id = req.id, .offset = 32, .status = (int16_t)n};
		rsp.flags = off < len ? NETRXF_more_data : 0;
		if (bad)
			rsp.id ^= 1;
		s->ring[f->rx_rsp_prod++ & mask].rsp = rsp;
	}
}

static void rx_push(struct fixture *f)
{
	__atomic_store_n(&f->q.rx.sring->rsp_prod, f->rx_rsp_prod, __ATOMIC_RELEASE);
	kick(f->ev_rxrsp);
}

static void wait_rx(struct fixture *f, unsigned n)
{
	uint64_t deadline = pvnet_now_ms() + 3000;

	while (__atomic_load_n(&f->app.rx_frames, __ATOMIC_ACQUIRE) < n) {
		assert_true(pvnet_now_ms() < deadline);
		usleep(200);
	}
}

/* Sink: frames delivered in order from the posted pages, a 3-slot frame
 * linearised, every consumed slot posted again; a bad response is dropped. */
static void test_sink_rx(void **state)
{
	struct fixture *f = *state;
	struct netif_rx_sring *s = f->q.rx.sring;
	uint64_t deadline;

	for (unsigned i = 0; i < 40; i++)
		backend_rx(f, 60 + i, PG, (uint8_t)i, 0);
	rx_push(f);
	wait_rx(f, 40);
	for (unsigned i = 0; i < 40; i++) {
		assert_int_equal(f->app.rx_len[i], 60 + i);
		assert_int_equal(f->app.rx_first[i], (uint8_t)i);
		assert_int_equal(f->app.rx_last[i], (uint8_t)(i + 60 + i - 1));
	}
	backend_rx(f, 9000, 4000, 7, 0); /* 3 slots */
	backend_rx(f, 64, PG, 1, 1);     /* wrong id: dropped */
	backend_rx(f, 64, PG, 9, 0);
	rx_push(f);
	wait_rx(f, 42);
	assert_int_equal(f->app.rx_len[40], 9000);
	assert_int_equal(f->app.rx_first[40], 7);
	assert_int_equal(f->app.rx_last[40], (uint8_t)(7 + 8999));
	assert_int_equal(f->app.rx_len[41], 64);
	assert_int_equal(f->app.rx_first[41], 9);
	/* every consumed slot is posted again */
	deadline = pvnet_now_ms() + 3000;
	while (__atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE) !=
	       f->rx_rsp_prod + NET_RX_RING_SIZE) {
		assert_true(pvnet_now_ms() < deadline);
		usleep(200);
	}
	/* the backend never asked (req_event stays 1): no RX notification due */
	assert_int_equal(evcount(f->ev_rxreq), 0);
	nf_queue_stop(&f->q);
	assert_int_equal(f->q.rx_pkts, 42);
	assert_int_equal(f->q.drops[NF_DROP_RX_BAD_RSP], 1);
	assert_false(f->q.broken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gen_bursts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gen_bad_len, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_rx, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
