/* SPDX-License-Identifier: MIT */
/*
 * netfront data path against a minimal in-process backend: the queue thread
 * runs as in pvnet-guest, with a SOCK_SEQPACKET socket standing in for the
 * TAP (one message = virtio_net_hdr + frame, as the TAP reads and writes) and
 * eventfds standing in for the event channels. The test plays netback: it
 * resolves grant refs through the frontend's grant table, checks the TX
 * framing (slot 0 size = whole packet, GSO extra after slot 0, more_data
 * chain, one response per slot), loops the packet into the posted RX buffers
 * (request id = slot, GSO extra after the first response) and checks what
 * comes out of the "TAP".
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/hv.h>

#include "../../netfront/nf_private.h"

#define PG 4096u
#define NPAGES (1 + 2 + NF_TX_POOL + NF_RX_POOL)
#define NREFS 1024

struct fixture {
	uint8_t *mem;
	struct grant_entry_v1 *gnt;
	struct nf_alloc alloc;
	struct nf_vif vif;
	struct nf_queue q;
	int tap; /* our end of the fake TAP */
	int ev_txreq, ev_txrsp, ev_rxreq, ev_rxrsp;
	RING_IDX tx_req_cons, rx_req_cons; /* backend private state */
	RING_IDX tx_rsp_prod, rx_rsp_prod;
	unsigned rx_chunk; /* bytes per RX slot the backend uses */
};

static uint8_t *frame_of(struct fixture *f, grant_ref_t ref, bool want_write)
{
	struct grant_entry_v1 e = f->gnt[ref];

	assert_true(ref < NREFS);
	assert_int_equal(e.flags & GTF_type_mask, GTF_permit_access);
	assert_int_equal(e.domid, 0);
	if (want_write)
		assert_false(e.flags & GTF_readonly);
	assert_true(e.frame < NPAGES);
	return f->mem + (size_t)e.frame * PG;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct nf_queue *q = &f->q;
	int sv[2];

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
	f->vif.gso_v4 = f->vif.gso_v6 = f->vif.sg = true;
	snprintf(f->vif.ifname, sizeof(f->vif.ifname), "test0");
	f->rx_chunk = PG;

	/* the layout xenbus.c uses: rings, TX pool, RX pool; refs alike */
	q->vif = &f->vif;
	q->tx_ring_pfn = 1;
	q->rx_ring_pfn = 2;
	q->tx_ring_ref = 8;
	q->rx_ring_ref = 9;
	q->tx_pool_pfn = 3;
	q->tx_ref_base = 10;
	q->rx_pool_pfn = 3 + NF_TX_POOL;
	q->rx_ref_base = 10 + NF_TX_POOL;
	q->tx_pages = f->mem + q->tx_pool_pfn * PG;
	q->rx_pages = f->mem + q->rx_pool_pfn * PG;
	for (unsigned p = 0; p < NF_TX_POOL; p++)
		gnttab_grant_access(f->gnt, q->tx_ref_base + p, 0, (uint32_t)(q->tx_pool_pfn + p),
				    true);
	for (unsigned p = 0; p < NF_RX_POOL; p++)
		gnttab_grant_access(f->gnt, q->rx_ref_base + p, 0, (uint32_t)(q->rx_pool_pfn + p),
				    false);

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	q->tap_fd = sv[0];
	f->tap = sv[1];
	f->ev_txreq = eventfd(0, EFD_NONBLOCK);
	f->ev_txrsp = eventfd(0, EFD_NONBLOCK);
	f->ev_rxreq = eventfd(0, EFD_NONBLOCK);
	f->ev_rxrsp = eventfd(0, EFD_NONBLOCK);
	q->tx_notify = f->ev_txreq;
	q->tx_wait = f->ev_txrsp;
	q->rx_notify = f->ev_rxreq;
	q->rx_wait = f->ev_rxrsp;

	nf_queue_reset(q);
	/* every RX buffer is posted before connect, id = slot */
	assert_int_equal(q->rx.sring->req_prod, NET_RX_RING_SIZE);
	assert_int_equal(nf_queue_start(q), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nf_queue_stop(&f->q);
	close(f->q.tap_fd);
	close(f->tap);
	close(f->ev_txreq);
	close(f->ev_txrsp);
	close(f->ev_rxreq);
	close(f->ev_rxrsp);
	free(f->mem);
	free(f->gnt);
	free(f);
	return 0;
}

static void kick(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

struct pkt {
	struct virtio_net_hdr vh;
	uint16_t txflags;
	bool has_gso;
	struct netif_extra_info gso;
	uint8_t data[70000];
	uint32_t len;
};

/* Backend TX: waits for one whole packet on the TX ring and consumes it. */
static void backend_tx_one(struct fixture *f, struct pkt *p)
{
	struct netif_tx_sring *s = f->q.tx.sring;
	const unsigned mask = NET_TX_RING_SIZE - 1;
	uint64_t deadline = pvnet_now_ms() + 3000;
	struct netif_tx_request req;
	uint32_t total, got = 0;
	bool more;

	for (;;) {
		RING_IDX prod = __atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE);
		/* whole packet present? walk it */
		if (prod != f->tx_req_cons) {
			RING_IDX c = f->tx_req_cons;
			memcpy(&req, &s->ring[c & mask].req, sizeof(req));
			c++;
			if (req.flags & NETTXF_extra_info)
				c++;
			more = req.flags & NETTXF_more_data;
			while (more && c != prod) {
				struct netif_tx_request r2;
				memcpy(&r2, &s->ring[c & mask].req, sizeof(r2));
				more = r2.flags & NETTXF_more_data;
				c++;
			}
			if (!more && (RING_IDX)(c - f->tx_req_cons) <= prod - f->tx_req_cons)
				break;
		}
		assert_true(pvnet_now_ms() < deadline);
		usleep(200);
	}
	/* consume: slot 0, extra, fragments; respond to every slot */
	memcpy(&req, &s->ring[f->tx_req_cons++ & mask].req, sizeof(req));
	total = req.size;
	p->txflags = req.flags;
	p->len = total;
	p->has_gso = false;
	struct netif_tx_response rsp = {.id = req.id, .status = NETIF_RSP_OKAY};
	uint32_t first = total < PG ? total : PG;
	assert_true(req.offset + first <= PG);
	memcpy(p->data, frame_of(f, req.gref, false) + req.offset, first);
	got = first;
	s->ring[f->tx_rsp_prod++ & mask].rsp = rsp;
	if (req.flags & NETTXF_extra_info) {
		memcpy(&p->gso, &s->ring[f->tx_req_cons++ & mask].req, sizeof(p->gso));
		assert_int_equal(p->gso.type, XEN_NETIF_EXTRA_TYPE_GSO);
		assert_int_equal(p->gso.flags & XEN_NETIF_EXTRA_FLAG_MORE, 0);
		p->has_gso = true;
		s->ring[f->tx_rsp_prod++ & mask].rsp =
			(struct netif_tx_response){.id = 0, .status = NETIF_RSP_NULL};
	}
	more = req.flags & NETTXF_more_data;
	unsigned slots = 1;
	while (more) {
		memcpy(&req, &s->ring[f->tx_req_cons++ & mask].req, sizeof(req));
		assert_false(req.flags & (NETTXF_extra_info | NETTXF_csum_blank));
		assert_true(req.offset + req.size <= PG);
		assert_true(got + req.size <= total);
		memcpy(p->data + got, frame_of(f, req.gref, false) + req.offset, req.size);
		got += req.size;
		more = req.flags & NETTXF_more_data;
		s->ring[f->tx_rsp_prod++ & mask].rsp =
			(struct netif_tx_response){.id = req.id, .status = NETIF_RSP_OKAY};
		slots++;
	}
	assert_true(slots <= XEN_NETIF_NR_SLOTS_MIN);
	assert_int_equal(got, total);
	__atomic_store_n(&s->rsp_prod, f->tx_rsp_prod, __ATOMIC_RELEASE);
	kick(f->ev_txrsp);
}

/*
 * Backend RX: copies `len` bytes into posted buffers, rx_chunk per slot,
 * flags `fl` on the first response, the GSO extra after it. `bad` != 0
 * corrupts the first response (1: wrong id, 2: status error).
 */
static void backend_rx(struct fixture *f, const uint8_t *data, uint32_t len, uint16_t fl,
		       const struct netif_extra_info *gso, int bad)
{
	struct netif_rx_sring *s = f->q.rx.sring;
	const unsigned mask = NET_RX_RING_SIZE - 1;
	uint64_t deadline = pvnet_now_ms() + 3000;
	uint32_t off = 0;
	bool first = true;

	while (off < len || first) {
		struct netif_rx_request req;
		uint32_t n = len - off < f->rx_chunk ? len - off : f->rx_chunk;
		if (n > PG - 64)
			n = PG - 64; /* data at offset 64 in the page */
		/* a request must be posted for this slot */
		while (__atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE) == f->rx_req_cons) {
			assert_true(pvnet_now_ms() < deadline);
			usleep(200);
		}
		memcpy(&req, &s->ring[f->rx_req_cons & mask].req, sizeof(req));
		assert_int_equal(req.id, f->rx_req_cons & mask);
		f->rx_req_cons++;
		memcpy(frame_of(f, req.gref, true) + 64, data + off, n);
		struct netif_rx_response rsp = {.id = req.id, .offset = 64, .status = (int16_t)n};
		off += n;
		rsp.flags = (uint16_t)((first ? fl : 0) | (off < len ? NETRXF_more_data : 0) |
				       (first && gso ? NETRXF_extra_info : 0));
		if (first && bad == 1)
			rsp.id ^= 1;
		if (first && bad == 2)
			rsp.status = NETIF_RSP_ERROR;
		s->ring[f->rx_rsp_prod++ & mask].rsp = rsp;
		if (first && gso) {
			while (__atomic_load_n(&s->req_prod, __ATOMIC_ACQUIRE) == f->rx_req_cons)
				usleep(200);
			f->rx_req_cons++;
			memcpy(&s->ring[f->rx_rsp_prod++ & mask], gso, sizeof(*gso));
		}
		first = false;
	}
	__atomic_store_n(&s->rsp_prod, f->rx_rsp_prod, __ATOMIC_RELEASE);
	kick(f->ev_rxrsp);
}

static ssize_t tap_recv(struct fixture *f, struct virtio_net_hdr *vh, uint8_t *buf, size_t size)
{
	struct iovec iov[2] = {{vh, sizeof(*vh)}, {buf, size}};
	struct pollfd pfd = {.fd = f->tap, .events = POLLIN};

	if (poll(&pfd, 1, 3000) != 1)
		return -ETIMEDOUT;
	ssize_t n = readv(f->tap, iov, 2);
	return n < 0 ? -errno : n - (ssize_t)sizeof(*vh);
}

static void tap_send(struct fixture *f, const struct virtio_net_hdr *vh, const uint8_t *buf,
		     size_t len)
{
	struct iovec iov[2] = {{(void *)vh, sizeof(*vh)}, {(void *)buf, len}};

	assert_int_equal(writev(f->tap, iov, 2), (ssize_t)(sizeof(*vh) + len));
}

static uint32_t tcp_frame(uint8_t *b, uint32_t len, int ipv6)
{
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	b[12] = ipv6 ? 0x86 : 0x08;
	b[13] = ipv6 ? 0xdd : 0x00;
	if (ipv6) {
		b[14] = 0x60;
		b[20] = 6;
		b[54 + 12] = 5 << 4;
	} else {
		b[14] = 0x45;
		b[20] = 0;
		b[21] = 0; /* not a fragment */
		b[23] = 6;
		b[34 + 12] = 5 << 4;
	}
	return len;
}

static struct pkt P;
static uint8_t rxbuf[70000];

/* A plain frame: TAP -> TX ring -> RX ring -> TAP, unchanged, no offload flags. */
static void test_plain_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr vh = {0}, out;
	uint8_t frame[60];

	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	tap_send(f, &vh, frame, sizeof(frame));
	backend_tx_one(f, &P);
	assert_int_equal(P.len, sizeof(frame));
	assert_int_equal(P.txflags, 0);
	assert_memory_equal(P.data, frame, sizeof(frame));
	backend_rx(f, P.data, P.len, 0, NULL, 0);
	assert_int_equal(tap_recv(f, &out, rxbuf, sizeof(rxbuf)), sizeof(frame));
	assert_memory_equal(rxbuf, frame, sizeof(frame));
	assert_int_equal(out.flags, 0);
	assert_int_equal(out.gso_type, 0);
}

/* 64 KB TCPv4 GSO: 16 data slots + GSO extra on TX; 4 KiB slots + extra on RX. */
static void test_gso_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				    .gso_size = 1448,
				    .hdr_len = 54,
				    .csum_start = 34,
				    .csum_offset = 16},
			      out;
	static uint8_t frame[65000];
	uint32_t len = tcp_frame(frame, sizeof(frame), 0);

	tap_send(f, &vh, frame, len);
	backend_tx_one(f, &P);
	assert_int_equal(P.len, len);
	assert_true(P.txflags & NETTXF_csum_blank);
	assert_true(P.txflags & NETTXF_extra_info);
	assert_true(P.has_gso);
	assert_int_equal(P.gso.u.gso.size, 1448);
	assert_int_equal(P.gso.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_memory_equal(P.data, frame, len);

	backend_rx(f, P.data, P.len, NETRXF_csum_blank | NETRXF_data_validated, &P.gso, 0);
	assert_int_equal(tap_recv(f, &out, rxbuf, sizeof(rxbuf)), len);
	assert_memory_equal(rxbuf, frame, len);
	assert_int_equal(out.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(out.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.gso_size, 1448);
	assert_int_equal(out.hdr_len, 54);
	assert_int_equal(out.csum_start, 34);
	assert_int_equal(out.csum_offset, 16);
}

/* Headers split across small RX slots still yield csum_start (IPv6, 40-byte slots). */
static void test_rx_small_slots_csum(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr out;
	uint8_t frame[600];
	uint32_t len = tcp_frame(frame, sizeof(frame), 1);

	f->rx_chunk = 40;
	backend_rx(f, frame, len, NETRXF_csum_blank, NULL, 0);
	assert_int_equal(tap_recv(f, &out, rxbuf, sizeof(rxbuf)), len);
	assert_memory_equal(rxbuf, frame, len);
	assert_int_equal(out.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(out.csum_start, 54);
	assert_int_equal(out.csum_offset, 16);
}

/* Too many slots, a wrong id, an error status: dropped and counted; traffic continues. */
static void test_rx_bad_responses(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr out;
	uint8_t frame[1500];
	uint32_t len = tcp_frame(frame, sizeof(frame), 0);

	f->rx_chunk = 64; /* 24 slots > 19 */
	backend_rx(f, frame, len, 0, NULL, 0);
	f->rx_chunk = PG;
	backend_rx(f, frame, len, 0, NULL, 1);
	backend_rx(f, frame, len, 0, NULL, 2);
	backend_rx(f, frame, 100, 0, NULL, 0);
	assert_int_equal(tap_recv(f, &out, rxbuf, sizeof(rxbuf)), 100);
	assert_memory_equal(rxbuf, frame, 100);
	/* nothing else came out */
	struct pollfd pfd = {.fd = f->tap, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 50), 0);
	nf_queue_stop(&f->q);
	assert_int_equal(f->q.drops[NF_DROP_RX_BAD_RSP], 2);
	assert_int_equal(f->q.drops[NF_DROP_RX_BACKEND], 1);
	assert_int_equal(f->q.rx_pkts, 1);
	assert_false(f->q.broken);
}

/* 1000 frames each way through 256-slot rings: indices wrap, pages recycle. */
static void test_many_frames(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr vh = {0}, out;
	uint8_t frame[1514];

	for (unsigned i = 0; i < 1000; i++) {
		uint32_t len = 60 + (i * 37) % 1454;
		tcp_frame(frame, len, 0);
		frame[0] = (uint8_t)i;
		tap_send(f, &vh, frame, len);
		backend_tx_one(f, &P);
		assert_int_equal(P.len, len);
		assert_memory_equal(P.data, frame, len);
		backend_rx(f, P.data, P.len, NETRXF_data_validated, NULL, 0);
		assert_int_equal(tap_recv(f, &out, rxbuf, sizeof(rxbuf)), len);
		assert_memory_equal(rxbuf, frame, len);
		assert_int_equal(out.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	}
	nf_queue_stop(&f->q);
	assert_int_equal(f->q.tx_pkts, 1000);
	assert_int_equal(f->q.rx_pkts, 1000);
	/* every TX page came back */
	assert_int_equal(f->q.tx_nfree, NF_TX_POOL);
	for (unsigned d = 0; d < NF_DROP__COUNT; d++)
		assert_int_equal(f->q.drops[d], 0);
}

/* A runt from the TAP and an unexpressible virtio header: dropped, counted. */
static void test_tx_drops(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr vh = {0};
	uint8_t frame[100] = {0};

	tap_send(f, &vh, frame, 10);
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	vh.gso_size = 1000;
	tap_send(f, &vh, frame, sizeof(frame));
	vh.gso_type = 0;
	vh.gso_size = 0;
	tap_send(f, &vh, frame, 64);
	backend_tx_one(f, &P);
	assert_int_equal(P.len, 64);
	nf_queue_stop(&f->q);
	assert_int_equal(f->q.drops[NF_DROP_TX_RUNT], 1);
	assert_int_equal(f->q.drops[NF_DROP_TX_BAD_VNET], 1);
	assert_int_equal(f->q.tx_pkts, 1);
}

/* A backend producing a TX response we never asked for: the queue is disabled. */
static void test_tx_bad_id_breaks_queue(void **state)
{
	struct fixture *f = *state;
	struct netif_tx_sring *s = f->q.tx.sring;
	uint64_t deadline = pvnet_now_ms() + 3000;

	s->ring[f->tx_rsp_prod++ & (NET_TX_RING_SIZE - 1)].rsp =
		(struct netif_tx_response){.id = 999, .status = 0};
	__atomic_store_n(&s->rsp_prod, f->tx_rsp_prod, __ATOMIC_RELEASE);
	kick(f->ev_txrsp);
	while (!__atomic_load_n(&f->q.broken, __ATOMIC_ACQUIRE) && pvnet_now_ms() < deadline)
		usleep(500);
	nf_queue_stop(&f->q);
	assert_true(f->q.broken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gso_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_small_slots_csum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_bad_responses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_bad_id_breaks_queue, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
