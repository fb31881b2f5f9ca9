/* SPDX-License-Identifier: MIT */
/*
 * netfront/accel_gro.c: receive coalescing of the NIC fast path. Frames are
 * built here as the NIC would DMA them (MTU TCP segments, CSUM_OK), offered to
 * nf_gro_merge / nf_gro_start as accel.c does, and the super-frame that
 * nf_gro_finish returns is checked field by field: virtio_net_hdr (GSO type,
 * MSS, NEEDS_CSUM at the TCP check field), patched IP length and header
 * checksum, the partial TCP checksum (completing it over the linearised frame
 * gives a valid checksum), the payload bytes in order, and every reason a frame
 * must not merge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvnet/lib.h>

#include "../../netfront/nf_private.h"

#define MSS 1448u
#define FRAME_MAX 2048u

struct seg_opts {
	bool v6;
	uint32_t seq, ack;
	uint16_t sport, dport, win;
	uint8_t flags;  /* TCP flags, default ACK */
	uint32_t tsval; /* timestamp option value */
	uint32_t pay;   /* payload bytes */
	uint16_t frag;  /* IPv4 frag field, default DF */
	bool no_df;     /* IPv4 frag field 0 */
	uint8_t ihl;    /* IPv4 header words, default 5 */
	int tot_adjust; /* added to the IP length field (malformed frames) */
	uint8_t ttl;
};

/* Builds one Ethernet/IP/TCP segment with payload bytes (seq + i) & 0xff. */
static uint32_t build(uint8_t *f, const struct seg_opts *o)
{
	static const uint8_t dst[6] = {0x00, 0x16, 0x3e, 0x62, 0x02, 0x01};
	static const uint8_t src[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x64};
	uint32_t l3 = 14, l4, thl = 32, ipl;
	uint8_t ihl = o->ihl ? o->ihl : 5;

	memset(f, 0, FRAME_MAX);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (!o->v6) {
		pvnet_wr16(f + 12, 0x0800);
		l4 = l3 + ihl * 4u;
		ipl = ihl * 4u + thl + o->pay;
		f[l3] = (uint8_t)(0x40 | ihl);
		pvnet_wr16(f + l3 + 2, (uint16_t)((int)ipl + o->tot_adjust));
		pvnet_wr16(f + l3 + 4, (uint16_t)(o->seq >> 3)); /* an ID that changes */
		pvnet_wr16(f + l3 + 6, o->no_df ? 0 : o->frag ? o->frag : 0x4000);
		f[l3 + 8] = o->ttl ? o->ttl : 64;
		f[l3 + 9] = 6;
		pvnet_wr32(f + l3 + 12, 0x0a3e0064); /* 10.62.0.100 */
		pvnet_wr32(f + l3 + 16, 0x0a3e000e); /* 10.62.0.14 */
		pvnet_wr16(f + l3 + 10,
			   (uint16_t)~pvnet_csum_fold(pvnet_csum_partial(f + l3, ihl * 4u, 0)));
	} else {
		pvnet_wr16(f + 12, 0x86dd);
		l4 = l3 + 40;
		ipl = 40 + thl + o->pay;
		f[l3] = 0x60;
		pvnet_wr16(f + l3 + 4, (uint16_t)((int)(thl + o->pay) + o->tot_adjust));
		f[l3 + 6] = 6;
		f[l3 + 7] = o->ttl ? o->ttl : 64;
		f[l3 + 8] = 0xfd;
		f[l3 + 23] = 0x64;
		f[l3 + 24] = 0xfd;
		f[l3 + 39] = 0x0e;
	}
	pvnet_wr16(f + l4, o->sport ? o->sport : 5201);
	pvnet_wr16(f + l4 + 2, o->dport ? o->dport : 40000);
	pvnet_wr32(f + l4 + 4, o->seq);
	pvnet_wr32(f + l4 + 8, o->ack ? o->ack : 777);
	f[l4 + 12] = (uint8_t)((thl / 4) << 4);
	f[l4 + 13] = o->flags ? o->flags : 0x10;
	pvnet_wr16(f + l4 + 14, o->win ? o->win : 502);
	/* NOP NOP TS(tsval, 99) */
	f[l4 + 20] = 1;
	f[l4 + 21] = 1;
	f[l4 + 22] = 8;
	f[l4 + 23] = 10;
	pvnet_wr32(f + l4 + 24, o->tsval ? o->tsval : 1000);
	pvnet_wr32(f + l4 + 28, 99);
	for (uint32_t i = 0; i < o->pay; i++)
		f[l4 + thl + i] = (uint8_t)(o->seq + i);
	return 14 + ipl;
}

struct fx {
	struct nf_gro g;
	uint8_t frames[80][FRAME_MAX];
	uint32_t len[80];
	uint8_t lin[70000];
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	nf_gro_reset(&x->g);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Offers frame i as accel.c does; returns true if GRO holds it. */
static bool offer(struct fx *x, unsigned i, bool csum_ok)
{
	if (nf_gro_merge(&x->g, x->frames[i], x->len[i], csum_ok))
		return true;
	return false;
}

/* Linearises the super-frame after the virtio_net_hdr; returns its length. */
static uint32_t linearise(struct fx *x, const struct iovec *iov, unsigned n)
{
	uint32_t off = 0;

	assert_int_equal(iov[0].iov_len, sizeof(struct virtio_net_hdr));
	for (unsigned i = 1; i < n; i++) {
		assert_true(off + iov[i].iov_len <= sizeof(x->lin));
		memcpy(x->lin + off, iov[i].iov_base, iov[i].iov_len);
		off += (uint32_t)iov[i].iov_len;
	}
	return off;
}

/* Completes the partial checksum as the stack would and checks it verifies. */
static void check_partial_csum(const uint8_t *f, uint32_t len, const struct virtio_net_hdr *vh,
			       bool v6)
{
	uint8_t buf[70000];
	uint32_t s, l4 = vh->csum_start, tcp_len = len - l4;

	memcpy(buf, f, len);
	s = pvnet_csum_partial(buf + l4, tcp_len, 0);
	pvnet_wr16(buf + l4 + vh->csum_offset, (uint16_t)~pvnet_csum_fold(s));
	/* verify: pseudo header + segment sums to 0xffff */
	s = v6 ? pvnet_csum_partial(buf + 14 + 8, 32, 0) : pvnet_csum_partial(buf + 14 + 12, 8, 0);
	s += 6 + tcp_len;
	s = pvnet_csum_partial(buf + l4, tcp_len, s);
	assert_int_equal(pvnet_csum_fold(s), 0xffff);
}

static void run_merge(void **state, bool v6)
{
	struct fx *x = *state;
	struct iovec *iov;
	uint32_t bytes, len, seq0 = 100000;
	unsigned n;

	for (unsigned i = 0; i < 3; i++)
		x->len[i] = build(x->frames[i],
				  &(struct seg_opts){.v6 = v6, .seq = seq0 + i * MSS, .pay = MSS});
	assert_false(offer(x, 0, true)); /* nothing held yet */
	assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
	assert_true(offer(x, 1, true));
	assert_true(offer(x, 2, true));
	n = nf_gro_finish(&x->g, &iov, &bytes);
	assert_int_equal(n, 2 + 3);
	len = linearise(x, iov, n);
	assert_int_equal(len, bytes);
	const struct virtio_net_hdr *vh = iov[0].iov_base;
	uint32_t l4 = v6 ? 54 : 34, hl = l4 + 32;
	assert_int_equal(len, hl + 3 * MSS);
	assert_int_equal(vh->flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh->gso_type, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vh->gso_size, MSS);
	assert_int_equal(vh->hdr_len, hl);
	assert_int_equal(vh->csum_start, l4);
	assert_int_equal(vh->csum_offset, 16);
	if (!v6) {
		assert_int_equal(pvnet_rd16(x->lin + 16), len - 14);
		assert_int_equal(pvnet_csum_fold(pvnet_csum_partial(x->lin + 14, 20, 0)), 0xffff);
	} else {
		assert_int_equal(pvnet_rd16(x->lin + 18), len - 54);
	}
	/* headers are the first segment's: seq, flags */
	assert_memory_equal(x->lin + l4 + 4, x->frames[0] + l4 + 4, 4);
	for (uint32_t i = 0; i < 3 * MSS; i++)
		if (x->lin[hl + i] != (uint8_t)(seq0 + i))
			fail_msg("payload byte %u", i);
	check_partial_csum(x->lin, len, vh, v6);
	/* the frames themselves were not modified */
	uint8_t again[FRAME_MAX];
	build(again, &(struct seg_opts){.v6 = v6, .seq = seq0, .pay = MSS});
	assert_memory_equal(again, x->frames[0], x->len[0]);
	assert_int_equal(x->g.super, 1);
	assert_int_equal(x->g.merged, 3);
	assert_int_equal(nf_gro_finish(&x->g, &iov, &bytes), 0); /* nothing held now */
}

static void test_merge_v4(void **state)
{
	run_merge(state, false);
}

static void test_merge_v6(void **state)
{
	run_merge(state, true);
}

static void test_single_frame_unchanged(void **state)
{
	struct fx *x = *state;
	struct iovec *iov;
	uint32_t bytes;

	x->len[0] = build(x->frames[0], &(struct seg_opts){.seq = 5, .pay = 300});
	assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
	assert_int_equal(nf_gro_finish(&x->g, &iov, &bytes), 2);
	assert_ptr_equal(iov[1].iov_base, x->frames[0]);
	assert_int_equal(iov[1].iov_len, x->len[0]);
	assert_int_equal(bytes, x->len[0]);
	const struct virtio_net_hdr *vh = iov[0].iov_base;
	assert_int_equal(vh->flags, VIRTIO_NET_HDR_F_DATA_VALID);
	assert_int_equal(vh->gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(x->g.super, 0);
}

/* Each case: frame 0 held, frame 1 built with one difference must not merge. */
static void test_no_merge(void **state)
{
	struct fx *x = *state;
	const struct seg_opts base = {.seq = 1000, .pay = MSS};
	struct seg_opts cases[] = {
		{.seq = 1000 + MSS + 1, .pay = MSS},            /* a hole */
		{.seq = 1000, .pay = MSS},                      /* a retransmission */
		{.seq = 1000 + MSS, .pay = MSS, .sport = 5202}, /* another flow */
		{.seq = 1000 + MSS, .pay = MSS, .ack = 778},    /* ack moved */
		{.seq = 1000 + MSS, .pay = MSS, .win = 600},    /* window moved */
		{.seq = 1000 + MSS, .pay = MSS, .tsval = 1001}, /* options differ */
		{.seq = 1000 + MSS, .pay = MSS, .flags = 0x11}, /* FIN */
		{.seq = 1000 + MSS, .pay = MSS, .flags = 0x50}, /* ECE */
		{.seq = 1000 + MSS, .pay = MSS, .ttl = 63},     /* IP header differs */
		{.seq = 1000 + MSS, .pay = MSS + 1},            /* bigger than the MSS */
		{.seq = 1000 + MSS, .pay = MSS, .v6 = true},    /* other family */
		{.seq = 1000 + MSS, .pay = 0},                  /* pure ACK */
	};

	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		x->len[0] = build(x->frames[0], &base);
		x->len[1] = build(x->frames[1], &cases[c]);
		assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
		if (nf_gro_merge(&x->g, x->frames[1], x->len[1], true))
			fail_msg("case %u merged", c);
		nf_gro_reset(&x->g);
	}
	/* the NIC did not verify the checksum */
	x->len[1] = build(x->frames[1], &(struct seg_opts){.seq = 1000 + MSS, .pay = MSS});
	assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
	assert_false(nf_gro_merge(&x->g, x->frames[1], x->len[1], false));
	assert_false(nf_gro_start(&x->g, x->frames[1], x->len[1], false));
}

/* Frames GRO must not even hold. */
static void test_not_started(void **state)
{
	struct fx *x = *state;
	struct seg_opts cases[] = {
		{.seq = 1, .pay = MSS, .flags = 0x02},       /* SYN */
		{.seq = 1, .pay = MSS, .flags = 0x14},       /* RST */
		{.seq = 1, .pay = MSS, .flags = 0x30},       /* URG */
		{.seq = 1, .pay = MSS, .frag = 0x2000},      /* more fragments */
		{.seq = 1, .pay = MSS, .no_df = true},       /* no DF */
		{.seq = 1, .pay = MSS, .ihl = 6},            /* IP options */
		{.seq = 1, .pay = MSS, .tot_adjust = 1},     /* IP length beyond the frame */
		{.seq = 1, .pay = MSS, .tot_adjust = -1400}, /* padded frame: held (below) */
		{.seq = 1, .pay = 0},                        /* no payload */
		{.seq = 1, .pay = MSS, .v6 = true, .tot_adjust = 1},
	};

	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		x->len[0] = build(x->frames[0], &cases[c]);
		if (c == 7) {
			/* a shorter IP length than the frame (Ethernet padding) is fine: the
			 * payload is what the IP length says */
			struct iovec *iov;
			uint32_t bytes;
			assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
			assert_int_equal(nf_gro_finish(&x->g, &iov, &bytes), 2);
			continue;
		}
		if (nf_gro_start(&x->g, x->frames[0], x->len[0], true))
			fail_msg("case %u held", c);
	}
	/* truncated frames and garbage: never held, never read beyond len */
	x->len[0] = build(x->frames[0], &(struct seg_opts){.seq = 1, .pay = MSS});
	for (uint32_t l = 0; l < 60; l++) {
		uint8_t *cut = malloc(l ? l : 1);
		assert_non_null(cut);
		memcpy(cut, x->frames[0], l);
		assert_false(nf_gro_start(&x->g, cut, l, true));
		free(cut);
	}
	uint8_t junk[FRAME_MAX];
	srand(7);
	for (unsigned r = 0; r < 2000; r++) {
		uint32_t l = 54 + (uint32_t)rand() % 200;
		memcpy(junk, x->frames[0], 14 + 20);
		for (uint32_t i = 34; i < l; i++)
			junk[i] = (uint8_t)rand();
		if (nf_gro_start(&x->g, junk, l, true)) {
			(void)nf_gro_merge(&x->g, junk, l, true);
			nf_gro_reset(&x->g);
		}
	}
}

/* A short segment or PSH ends the super-frame; PSH is carried. */
static void test_close(void **state)
{
	struct fx *x = *state;
	struct iovec *iov;
	uint32_t bytes;

	x->len[0] = build(x->frames[0], &(struct seg_opts){.seq = 0, .pay = MSS});
	x->len[1] = build(x->frames[1], &(struct seg_opts){.seq = MSS, .pay = 100});
	x->len[2] = build(x->frames[2], &(struct seg_opts){.seq = MSS + 100, .pay = 100});
	assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
	assert_true(nf_gro_merge(&x->g, x->frames[1], x->len[1], true));
	assert_false(nf_gro_merge(&x->g, x->frames[2], x->len[2], true));
	assert_int_equal(nf_gro_finish(&x->g, &iov, &bytes), 4);
	assert_int_equal(bytes, 14 + 20 + 32 + MSS + 100);

	x->len[1] = build(x->frames[1], &(struct seg_opts){.seq = MSS, .pay = MSS, .flags = 0x18});
	x->len[2] = build(x->frames[2], &(struct seg_opts){.seq = 2 * MSS, .pay = MSS});
	assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
	assert_true(nf_gro_merge(&x->g, x->frames[1], x->len[1], true));
	assert_false(nf_gro_merge(&x->g, x->frames[2], x->len[2], true));
	assert_int_equal(nf_gro_finish(&x->g, &iov, &bytes), 4);
	assert_int_equal(((const uint8_t *)iov[1].iov_base)[34 + 13], 0x18); /* ACK|PSH */
	assert_int_equal(x->frames[0][34 + 13], 0x10); /* the frame itself untouched */
}

/* A super-frame stays within the 64 KiB IP length and NF_GRO_MAX_SEGS. */
static void test_limits(void **state)
{
	struct fx *x = *state;
	struct iovec *iov;
	uint32_t bytes, len;
	unsigned held = 1, n;

	for (unsigned i = 0; i < 60; i++)
		x->len[i] = build(x->frames[i], &(struct seg_opts){.seq = i * MSS, .pay = MSS});
	assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
	while (held < 60 && nf_gro_merge(&x->g, x->frames[held], x->len[held], true))
		held++;
	assert_int_equal(held, (65535 - 20 - 32) / MSS); /* 45 */
	n = nf_gro_finish(&x->g, &iov, &bytes);
	assert_int_equal(n, 2 + held);
	len = linearise(x, iov, n);
	assert_true(len - 14 <= 65535);
	check_partial_csum(x->lin, len, iov[0].iov_base, false);
	/* the next frame starts a new one */
	assert_true(nf_gro_start(&x->g, x->frames[held], x->len[held], true));

	/* small MSS: the segment count bounds it */
	nf_gro_reset(&x->g);
	for (unsigned i = 0; i < 80; i++)
		x->len[i] = build(x->frames[i], &(struct seg_opts){.seq = i * 200, .pay = 200});
	assert_true(nf_gro_start(&x->g, x->frames[0], x->len[0], true));
	for (held = 1; held < 80 && nf_gro_merge(&x->g, x->frames[held], x->len[held], true);)
		held++;
	assert_int_equal(held, NF_GRO_MAX_SEGS);
	assert_int_equal(nf_gro_finish(&x->g, &iov, &bytes), 2 + NF_GRO_MAX_SEGS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_merge_v4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_v6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_frame_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_started, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
