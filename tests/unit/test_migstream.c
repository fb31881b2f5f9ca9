/*
 * Unit tests of the migration stream (pvnet/migrate.h): our use of nettle's
 * SHA-256 and HMAC against the standards' vectors, the MAC comparison, the receiver's parser on a full stream, and
 * its refusals: a corrupt tag, a replayed record, a record out of order, a
 * pfn beyond memory, a store path that escapes, an END that does not add up.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/mman.h>
#include <unistd.h>

#include <pvnet/hv.h>
#include <pvnet/migrate.h>

static const uint8_t skey[32] = {7, 7, 7};
static uint8_t mem[8 * MIG_PAGE_SIZE], gnt[MIG_PAGE_SIZE];

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_sha256_vectors(void **state)
{
	struct mig_sha256 s;
	struct mig_hmac m;
	uint8_t out[32], out2[32], key[20], bigkey[131];
	char h[65];

	(void)state;
	mig_sha256_init(&s);
	mig_sha256_update(&s, "abc", 3);
	mig_sha256_final(&s, out);
	hex(out, 32, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	mig_sha256_init(&s);
	for (int i = 0; i < 1000; i++) /* across block boundaries */
		mig_sha256_update(&s, "a", 1);
	mig_sha256_final(&s, out);
	hex(out, 32, h);
	assert_string_equal(h, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
	/* RFC 4231 test case 2 and 1 */
	mig_hmac_init(&m, (const uint8_t *)"Jefe", 4);
	mig_hmac_update(&m, "what do ya want for nothing?", 28);
	mig_hmac_final(&m, out);
	hex(out, 32, h);
	assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(key, 0x0b, sizeof(key));
	mig_hmac_init(&m, key, sizeof(key));
	mig_hmac_update(&m, "Hi There", 8);
	mig_hmac_final(&m, out);
	hex(out, 32, h);
	assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* RFC 4231 test case 6: a key longer than the block (--migrate-key takes 4096) */
	memset(bigkey, 0xaa, sizeof(bigkey));
	mig_hmac_init(&m, bigkey, sizeof(bigkey));
	mig_hmac_update(&m, "Test Using Larger Than Block-Size Key - Hash Key First", 54);
	mig_hmac_final(&m, out);
	hex(out, 32, h);
	assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	/* the comparison: equal, and a difference in the first or the last byte */
	memcpy(out2, out, 32);
	assert_true(mig_mac_equal(out, out2, 32));
	out2[31] ^= 1;
	assert_false(mig_mac_equal(out, out2, 32));
	out2[31] ^= 1, out2[0] ^= 0x80;
	assert_false(mig_mac_equal(out, out2, 32));
}

/* Feeds one record with a correct tag; returns mig_rx_record's result. */
static int feed(struct mig_rx *rx, uint32_t type, const void *p, uint32_t len, uint64_t seq)
{
	struct mig_rec_hdr h = {.type = type, .len = len, .seq = seq};
	uint8_t tag[32];

	mig_rec_tag(skey, 'S', &h, p, tag);
	return mig_rx_record(rx, &h, p, tag);
}

static uint8_t buf[MIG_MAX_REC];

static int send_config(struct mig_rx *rx)
{
	const char text[] = "version 1\n";
	struct mig_config c = {.flags = MIG_F_LIVE,
			       .domid = 5,
			       .mem_size = sizeof(mem),
			       .nr_grant_frames = 1,
			       .text_len = sizeof(text) - 1};
	int rc;

	memcpy(buf, &c, sizeof(c));
	memcpy(buf + sizeof(c), text, c.text_len);
	rc = feed(rx, MIG_REC_CONFIG, buf, (uint32_t)(sizeof(c) + c.text_len), rx->seq);
	if (rc == 0)
		mig_rx_set_target(rx, mem, gnt);
	return rc;
}

static uint32_t pages_rec(uint32_t round, uint64_t pfn, uint8_t fill)
{
	struct mig_pages_hdr ph = {.round = round, .count = 1};

	memcpy(buf, &ph, sizeof(ph));
	memcpy(buf + sizeof(ph), &pfn, 8);
	memset(buf + sizeof(ph) + 8, fill, MIG_PAGE_SIZE);
	return (uint32_t)(sizeof(ph) + 8 + MIG_PAGE_SIZE);
}

static void send_tail(struct mig_rx *rx, uint64_t total, uint32_t rounds, int want_end)
{
	uint32_t one = 1, zero = 0;
	struct mig_evtchn e = {.port = 3, .state = 2, .remote_dom = 0, .remote_port = 9};
	struct mig_vif v = {.devid = 0, .mac = {0, 0x16, 0x3e, 1, 2, 3}};
	struct mig_end end = {.total_pages = total, .rounds = rounds};

	memcpy(buf, &one, 4);
	memset(buf + 4, 0xab, MIG_PAGE_SIZE);
	assert_int_equal(feed(rx, MIG_REC_GNTTAB, buf, 4 + MIG_PAGE_SIZE, rx->seq), 0);
	memcpy(buf, &one, 4);
	memcpy(buf + 4, &e, sizeof(e));
	assert_int_equal(feed(rx, MIG_REC_EVTCHN, buf, 4 + sizeof(e), rx->seq), 0);
	memcpy(buf, &zero, 4);
	assert_int_equal(feed(rx, MIG_REC_STORE, buf, 4, rx->seq), 0);
	strcpy(v.bridge, "br0");
	memcpy(buf, &one, 4);
	memcpy(buf + 4, &v, sizeof(v));
	assert_int_equal(feed(rx, MIG_REC_DEVICE, buf, 4 + sizeof(v), rx->seq), 0);
	assert_int_equal(feed(rx, MIG_REC_END, &end, sizeof(end), rx->seq), want_end);
}

static void test_full_stream(void **state)
{
	struct mig_rx rx;
	struct mig_round_end re = {.round = 0, .pages = 2};

	(void)state;
	memset(mem, 0, sizeof(mem));
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	assert_string_equal(rx.text, "version 1\n");
	assert_int_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(0, 1, 0x11), rx.seq), 0);
	assert_int_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(0, 7, 0x22), rx.seq), 0);
	assert_int_equal(feed(&rx, MIG_REC_ROUND_END, &re, sizeof(re), rx.seq), 0);
	/* round 1 rewrites page 1 */
	assert_int_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(1, 1, 0x33), rx.seq), 0);
	re.round = 1, re.pages = 1;
	assert_int_equal(feed(&rx, MIG_REC_ROUND_END, &re, sizeof(re), rx.seq), 0);
	send_tail(&rx, 3, 2, 0);
	assert_int_equal(rx.state, MIG_RX_DONE);
	assert_int_equal(mem[MIG_PAGE_SIZE], 0x33);
	assert_int_equal(mem[7 * MIG_PAGE_SIZE + 4095], 0x22);
	assert_int_equal(mem[0], 0);
	assert_int_equal(gnt[0], 0xab);
	assert_int_equal(rx.n_vifs, 1);
	assert_int_equal(rx.nr_bound, 1);
	mig_rx_free(&rx);
}

static void test_refusals(void **state)
{
	struct mig_rx rx;
	struct mig_rec_hdr h;
	uint8_t tag[32];
	uint32_t len;

	(void)state;
	/* corrupt: one bit of the payload flipped after tagging */
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	len = pages_rec(0, 1, 0x44);
	h = (struct mig_rec_hdr){.type = MIG_REC_PAGES, .len = len, .seq = rx.seq};
	mig_rec_tag(skey, 'S', &h, buf, tag);
	buf[100] ^= 1;
	assert_int_equal(mig_rx_record(&rx, &h, buf, tag), -EBADMSG);
	assert_int_equal(rx.state, MIG_RX_FAILED);
	/* and everything after is refused too */
	assert_int_not_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(0, 1, 1), rx.seq), 0);
	mig_rx_free(&rx);

	/* replayed: the CONFIG record again with its old sequence number */
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	assert_int_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(0, 1, 1), 0), -EBADMSG);
	mig_rx_free(&rx);

	/* another session's key */
	mig_rx_init(&rx, (const uint8_t[32]){9});
	assert_int_equal(send_config(&rx), -EBADMSG);
	mig_rx_free(&rx);

	/* pfn beyond memory; nothing written */
	memset(mem, 0, sizeof(mem));
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	assert_int_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(0, 8, 0x55), rx.seq), -EINVAL);
	mig_rx_free(&rx);

	/* out of order: END before the grant table */
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	assert_int_equal(feed(&rx, MIG_REC_END, &(struct mig_end){0}, sizeof(struct mig_end),
			      rx.seq),
			 -EPROTO);
	mig_rx_free(&rx);

	/* a round going backwards */
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	assert_int_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(2, 1, 1), rx.seq), 0);
	assert_int_equal(feed(&rx, MIG_REC_PAGES, buf, pages_rec(1, 1, 1), rx.seq), -EINVAL);
	mig_rx_free(&rx);

	/* END that does not add up (a page record lost on the way) */
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	send_tail(&rx, 5, 0, -EINVAL);
	mig_rx_free(&rx);

	/* a store path with a ".." component */
	mig_rx_init(&rx, skey);
	assert_int_equal(send_config(&rx), 0);
	{
		uint32_t one = 1, n = 0;
		const char path[] = "data/../../0/x";
		uint16_t pl = sizeof(path) - 1, vl = 1;
		memcpy(buf, &one, 4);
		memset(buf + 4, 0, MIG_PAGE_SIZE);
		assert_int_equal(feed(&rx, MIG_REC_GNTTAB, buf, 4 + MIG_PAGE_SIZE, rx.seq), 0);
		assert_int_equal(feed(&rx, MIG_REC_EVTCHN, &n, 4, rx.seq), 0);
		memcpy(buf, &one, 4);
		memcpy(buf + 4, &pl, 2);
		memcpy(buf + 6, &vl, 2);
		memcpy(buf + 8, path, pl);
		buf[8 + pl] = 'x';
		assert_int_equal(feed(&rx, MIG_REC_STORE, buf, 8u + pl + vl, rx.seq), -EINVAL);
	}
	mig_rx_free(&rx);

	/* bad CONFIG: memory not a page multiple */
	mig_rx_init(&rx, skey);
	{
		struct mig_config c = {
			.domid = 5, .mem_size = 4097, .nr_grant_frames = 1, .text_len = 1};
		memcpy(buf, &c, sizeof(c));
		buf[sizeof(c)] = 'x';
		assert_int_equal(feed(&rx, MIG_REC_CONFIG, buf, sizeof(c) + 1, 0), -EINVAL);
	}
	mig_rx_free(&rx);
}

/* dom0's writes into a guest are logged: a grant copy into its frame, a frame
 * mapped writable (dirty while mapped and at the unmap); a read is not. */
static void test_logdirty_dom0(void **state)
{
	struct hv *hv;
	struct hv_domain_config cfg = {.name = "ld", .mem_size = 16 * 4096, .nr_grant_frames = 1};
	struct grant_entry_v1 *table;
	uint64_t bits[1];
	domid_t id;
	int mfd, gfd;
	uint8_t data[64] = {1};
	struct gnttab_copy op = {0};
	struct gnttab_map_grant_ref map = {0};
	struct gnttab_unmap_grant_ref unmap = {0};

	(void)state;
	assert_int_equal(hv_create(&hv), 0);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	assert_int_equal(hv_domain_fds(hv, id, &mfd, &gfd), 0);
	table = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, gfd, 0);
	assert_true(table != MAP_FAILED);
	gnttab_grant_access(table, 1, 0, 5, false);
	gnttab_grant_access(table, 2, 0, 9, false);
	gnttab_grant_access(table, 3, 0, 11, true);
	/* before log-dirty: nothing is logged, and a harvest of an unknown domain fails */
	assert_int_equal(hv_logdirty_harvest_dom0(hv, 77, bits), -ENOENT);
	assert_int_equal(hv_logdirty_start(hv, id), 0);
	assert_int_equal(hv_logdirty_start(hv, id), -EBUSY);

	/* a copy into frame 5 (through ref 1), a copy out of frame 11 (ref 3) */
	op.source.u.gmfn = (uintptr_t)data;
	op.dest.u.ref = 1;
	op.dest.domid = id;
	op.len = sizeof(data);
	op.flags = GNTCOPY_source_va | GNTCOPY_dest_gref;
	assert_int_equal(gnttab_copy(hv, 0, &op, 1), 0);
	assert_int_equal(op.status, GNTST_okay);
	memset(&op, 0, sizeof(op));
	op.source.u.ref = 3;
	op.source.domid = id;
	op.dest.u.gmfn = (uintptr_t)data;
	op.len = sizeof(data);
	op.flags = GNTCOPY_source_gref | GNTCOPY_dest_va;
	assert_int_equal(gnttab_copy(hv, 0, &op, 1), 0);
	assert_int_equal(op.status, GNTST_okay);
	bits[0] = 0;
	assert_int_equal(hv_logdirty_harvest_dom0(hv, id, bits), 0);
	assert_int_equal(bits[0], 1ull << 5);
	bits[0] = 0;
	assert_int_equal(hv_logdirty_harvest_dom0(hv, id, bits), 0);
	assert_int_equal(bits[0], 0); /* the log was cleared */

	/* frame 9 mapped writable: dirty at every harvest while mapped, and after the unmap */
	map.flags = GNTMAP_host_map;
	map.ref = 2;
	map.dom = id;
	assert_int_equal(gnttab_map_grant_ref(hv, 0, &map, 1), 0);
	assert_int_equal(map.status, GNTST_okay);
	for (int i = 0; i < 2; i++) {
		bits[0] = 0;
		assert_int_equal(hv_logdirty_harvest_dom0(hv, id, bits), 0);
		assert_int_equal(bits[0], 1ull << 9);
	}
	unmap.handle = map.handle;
	unmap.host_addr = map.host_addr;
	assert_int_equal(gnttab_unmap_grant_ref(hv, 0, &unmap, 1), 0);
	bits[0] = 0;
	assert_int_equal(hv_logdirty_harvest_dom0(hv, id, bits), 0);
	assert_int_equal(bits[0], 1ull << 9);
	bits[0] = 0;
	assert_int_equal(hv_logdirty_harvest_dom0(hv, id, bits), 0);
	assert_int_equal(bits[0], 0);

	/* the shared log the guest fetches */
	{
		int kick = -1;
		struct mig_logdirty_shared *sh = hv_logdirty_shared(hv, id, &kick);
		assert_non_null(sh);
		assert_int_equal(sh->magic, MIG_LOG_MAGIC);
		assert_int_equal(sh->nr_frames, 16);
		assert_true(kick >= 0);
	}
	hv_logdirty_stop(hv, id);
	assert_null(hv_logdirty_shared(hv, id, &(int){0}));
	munmap(table, 4096);
	close(mfd);
	close(gfd);
	hv_destroy(hv); /* with log-dirty on, the domain's log goes with it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_full_stream),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_logdirty_dom0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
