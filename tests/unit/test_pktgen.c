/* Unit tests for the pktgen core (include/pvnet/pktgen.h): frames and their
 * checksums (checked with an independent RFC 1071 verification), sequence and
 * loss accounting, pacing, latency histogram and percentiles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/pktgen.h>

static uint8_t buf[PKTGEN_SIZE_MAX + 64];

static struct pktgen *make(uint32_t size, uint64_t rate)
{
	struct pktgen_cfg c;
	struct pktgen *pg = NULL;

	memset(&c, 0, sizeof(c));
	c.size = size;
	c.rate_pps = rate;
	memcpy(c.src_mac, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(c.dst_mac, "\x02\x00\x00\x00\x00\x02", 6);
	c.src_ip = htonl(0xc0a80001);
	c.dst_ip = htonl(0xc0a800c7);
	c.src_port = 1234;
	c.dst_port = 5678;
	assert_int_equal(pktgen_create(&c, &pg), 0);
	return pg;
}

static void check_frame(const uint8_t *f, uint32_t size)
{
	uint8_t pseudo[12];
	uint16_t ulen = (uint16_t)(size - 34);

	assert_int_equal(f[12], 0x08);
	assert_int_equal(f[13], 0x00);
	assert_int_equal((f[16] << 8) | f[17], size - 14);
	assert_int_equal(f[23], 17);
	assert_int_equal((f[38] << 8) | f[39], ulen);
	assert_int_equal(pvnet_csum_fold(pvnet_csum_partial(f + 14, 20, 0)), 0xffff);
	memcpy(pseudo, f + 26, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	pseudo[10] = ulen >> 8;
	pseudo[11] = ulen & 0xff;
	assert_int_equal(pvnet_csum_fold(pvnet_csum_partial(f + 34, ulen,
							    pvnet_csum_partial(pseudo, 12, 0))),
			 0xffff);
	assert_true(f[40] || f[41]); /* never "no checksum" */
}

static void test_create_sizes(void **state)
{
	struct pktgen_cfg c;
	struct pktgen *pg = NULL;
	(void)state;

	memset(&c, 0, sizeof(c));
	c.size = 59;
	assert_int_equal(pktgen_create(&c, &pg), -EINVAL);
	c.size = 9001;
	assert_int_equal(pktgen_create(&c, &pg), -EINVAL);
	assert_int_equal(pktgen_create(NULL, &pg), -EINVAL);
	c.size = 60;
	assert_int_equal(pktgen_create(&c, &pg), 0);
	assert_int_equal(pktgen_size(pg), 60);
	pktgen_destroy(pg);
	pktgen_destroy(NULL);
}

static void test_frame_checksums(void **state)
{
	static const uint32_t sizes[] = {60, 61, 64, 65, 512, 1499, 1500, 9000};
	size_t s;
	int i;
	(void)state;

	srand(7);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct pktgen *pg = make(sizes[s], 0);

		pktgen_reset(pg, 0);
		for (i = 0; i < 200; i++) {
			uint64_t ts =
				i < 100 ? (uint64_t)i : ((uint64_t)rand() << 33) ^ (uint64_t)rand();

			memset(buf, 0xa5, sizeof(buf));
			assert_int_equal(pktgen_fill(pg, buf, sizeof(buf), ts), sizes[s]);
			check_frame(buf, sizes[s]);
			assert_int_equal(buf[sizes[s]], 0xa5); /* nothing past the frame */
			assert_int_equal(pvnet_rd64(buf + PKTGEN_OFF_SEQ), (uint64_t)i);
			assert_int_equal(pvnet_rd64(buf + PKTGEN_OFF_TS), ts);
			assert_int_equal((buf[42] << 8) | buf[43], PKTGEN_MAGIC);
		}
		pktgen_destroy(pg);
	}
}

static void test_fields(void **state)
{
	struct pktgen *pg = make(128, 0);
	(void)state;

	pktgen_fill(pg, buf, sizeof(buf), 1);
	assert_memory_equal(buf, "\x02\x00\x00\x00\x00\x02", 6);
	assert_memory_equal(buf + 6, "\x02\x00\x00\x00\x00\x01", 6);
	assert_memory_equal(buf + 26, "\xc0\xa8\x00\x01\xc0\xa8\x00\xc7", 8);
	assert_int_equal((buf[34] << 8) | buf[35], 1234);
	assert_int_equal((buf[36] << 8) | buf[37], 5678);
	assert_int_equal(buf[14], 0x45);
	assert_int_equal(buf[22], 64);
	pktgen_destroy(pg);
}

static void test_stamp_matches_fill(void **state)
{
	static uint8_t a[1500], b[1500];
	struct pktgen *p1 = make(1500, 0), *p2 = make(1500, 0);
	int i;
	(void)state;

	pktgen_fill(p2, b, sizeof(b), 0); /* a slot written once */
	pktgen_reset(p2, 0);
	for (i = 0; i < 50; i++) {
		assert_int_equal(pktgen_fill(p1, a, sizeof(a), 1000u * (unsigned)i + 7), 1500);
		assert_int_equal(pktgen_stamp(p2, b, 1000u * (unsigned)i + 7), 1500);
		assert_memory_equal(a, b, 1500);
	}
	pktgen_destroy(p1);
	pktgen_destroy(p2);
}

static void test_fill_too_small(void **state)
{
	struct pktgen *pg = make(100, 0);
	struct pktgen_stats st;
	(void)state;

	assert_int_equal(pktgen_fill(pg, buf, 99, 0), 0);
	pktgen_stats_get(pg, &st);
	assert_int_equal(st.tx_frames, 0);
	assert_int_equal(pktgen_fill(pg, buf, 100, 0), 100);
	pktgen_stats_get(pg, &st);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(st.tx_bytes, 100);
	pktgen_destroy(pg);
}

static void test_rx_loss(void **state)
{
	struct pktgen *tx = make(64, 0), *rx = make(64, 0);
	static uint8_t f[10][64];
	struct pktgen_stats st;
	int i;
	(void)state;

	for (i = 0; i < 10; i++)
		pktgen_fill(tx, f[i], 64, 100);
	/* 0 1 2, 3 and 4 missing, 5 6, then 3 late, then 7 8 9. */
	assert_int_equal(pktgen_rx(rx, f[0], 64, 150), 0);
	pktgen_rx(rx, f[1], 64, 150);
	pktgen_rx(rx, f[2], 64, 150);
	pktgen_rx(rx, f[5], 64, 150);
	pktgen_rx(rx, f[6], 64, 150);
	pktgen_stats_get(rx, &st);
	assert_int_equal(st.rx_lost, 2);
	pktgen_rx(rx, f[3], 64, 150);
	pktgen_stats_get(rx, &st);
	assert_int_equal(st.rx_lost, 1);
	assert_int_equal(st.rx_late, 1);
	for (i = 7; i < 10; i++)
		pktgen_rx(rx, f[i], 64, 150);
	pktgen_stats_get(rx, &st);
	assert_int_equal(st.rx_frames, 9);
	assert_int_equal(st.rx_bytes, 9 * 64);
	assert_int_equal(st.rx_lost, 1);
	assert_int_equal(st.rx_lat_count, 9);
	assert_int_equal(pktgen_latency_pct(rx, 50), 50);

	/* Not ours: wrong port, no magic, too short, not IPv4. */
	memcpy(buf, f[0], 64);
	buf[37] ^= 1;
	assert_int_equal(pktgen_rx(rx, buf, 64, 150), -EINVAL);
	memcpy(buf, f[0], 64);
	buf[42] = 0;
	assert_int_equal(pktgen_rx(rx, buf, 64, 150), -EINVAL);
	assert_int_equal(pktgen_rx(rx, f[0], 59, 150), -EINVAL);
	memcpy(buf, f[0], 64);
	buf[12] = 0x86;
	assert_int_equal(pktgen_rx(rx, buf, 64, 150), -EINVAL);
	/* A timestamp from the future is counted but not sampled. */
	pktgen_rx(rx, f[9], 64, 10);
	pktgen_stats_get(rx, &st);
	assert_int_equal(st.rx_other, 4);
	assert_int_equal(st.rx_frames, 10);
	assert_int_equal(st.rx_lat_count, 9);
	pktgen_destroy(tx);
	pktgen_destroy(rx);
}

static void test_budget(void **state)
{
	struct pktgen *pg = make(64, 1000), *fast = make(64, 0);
	int i;
	(void)state;

	pktgen_reset(pg, 1000000000u);
	assert_int_equal(pktgen_budget(pg, 1000000000u, 32), 0);
	assert_int_equal(pktgen_budget(pg, 1010000000u, 32), 10); /* 10 ms at 1 kpps */
	assert_int_equal(pktgen_budget(pg, 1100000000u, 32), 32); /* capped */
	for (i = 0; i < 10; i++)
		pktgen_fill(pg, buf, sizeof(buf), 0);
	assert_int_equal(pktgen_budget(pg, 1010000000u, 32), 0);
	assert_int_equal(pktgen_budget(pg, 1011000000u, 32), 1);
	assert_int_equal(pktgen_budget(fast, 0, 32), 32);
	pktgen_destroy(pg);
	pktgen_destroy(fast);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_buckets(void **state)
{
	uint64_t v;
	unsigned b, prev = 0;
	(void)state;

	for (v = 0; v < 64; v++)
		assert_int_equal(pktgen_lat_value(pktgen_lat_bucket(v)), v);
	for (v = 1; v < (1ull << 40); v = v * 3 / 2 + 1) {
		uint64_t r;

		b = pktgen_lat_bucket(v);
		assert_true(b >= prev);
		assert_true(b < PKTGEN_LAT_BUCKETS);
		prev = b;
		r = pktgen_lat_value(b);
		/* Within 1/32 of the value. */
		assert_true(r * 32 >= v * 31 && r * 31 <= v * 32);
	}
	assert_true(pktgen_lat_bucket(UINT64_MAX) < PKTGEN_LAT_BUCKETS);
}

static void test_percentiles(void **state)
{
	static uint64_t hist[PKTGEN_LAT_BUCKETS];
	static uint64_t vals[10000];
	static const double ps[] = {1, 50, 90, 99, 99.9, 100};
	size_t i, k;
	(void)state;

	/* Small exact values: 1..100, nearest rank. */
	memset(hist, 0, sizeof(hist));
	for (i = 1; i <= 50; i++)
		hist[pktgen_lat_bucket(i)]++;
	assert_int_equal(pktgen_hist_pct(hist, 50, 50), 25);
	assert_int_equal(pktgen_hist_pct(hist, 50, 99), 50);
	assert_int_equal(pktgen_hist_pct(hist, 50, 100), 50);
	assert_int_equal(pktgen_hist_pct(hist, 50, 2), 1);
	assert_int_equal(pktgen_hist_pct(hist, 0, 50), 0);

	/* Random, heavy-tailed: compare with a sort of the raw values. */
	srand(11);
	memset(hist, 0, sizeof(hist));
	for (i = 0; i < 10000; i++) {
		vals[i] = 1000 + (uint64_t)rand() % 5000;
		if (i % 97 == 0)
			vals[i] *= 100;
		hist[pktgen_lat_bucket(vals[i])]++;
	}
	qsort(vals, 10000, sizeof(vals[0]), cmp_u64);
	for (k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		size_t rank = (size_t)(ps[k] / 100.0 * 10000.0 + 0.999999);
		uint64_t exact = vals[(rank ? rank : 1) - 1];
		uint64_t got = pktgen_hist_pct(hist, 10000, ps[k]);

		assert_true(got * 32 >= exact * 31 && got * 31 <= exact * 32);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_sizes),   cmocka_unit_test(test_frame_checksums),
		cmocka_unit_test(test_fields),         cmocka_unit_test(test_stamp_matches_fill),
		cmocka_unit_test(test_fill_too_small), cmocka_unit_test(test_rx_loss),
		cmocka_unit_test(test_budget),         cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_percentiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
