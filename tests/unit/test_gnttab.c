/* Unit tests for grant tables v1 (hv/gnttab.c): map/unmap, copy, transfer, revoke. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/hv.h>
#include <pvnet/quota.h>

#define PAGE 4096u
#define NFRAMES 16u

/* A guest as its process would see it: its own mappings of memory and grant table. */
struct guest {
	domid_t id;
	uint8_t *mem;
	struct grant_entry_v1 *gnt;
	size_t gnt_size;
};

struct fx {
	struct hv *hv;
	struct guest a, b;
};

static void guest_make(struct hv *hv, const char *name, struct guest *g)
{
	struct hv_domain_config cfg;
	int mfd, gfd;

	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, name);
	cfg.mem_size = NFRAMES * PAGE;
	cfg.nr_grant_frames = 1;
	assert_int_equal(hv_domain_create(hv, &cfg, &g->id), 0);
	assert_int_equal(hv_domain_fds(hv, g->id, &mfd, &gfd), 0);
	g->mem = mmap(NULL, NFRAMES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	g->gnt_size = PAGE;
	g->gnt = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, gfd, 0);
	assert_true(g->mem != MAP_FAILED && g->gnt != MAP_FAILED);
	close(mfd);
	close(gfd);
}

static void guest_unmap(struct guest *g)
{
	munmap(g->mem, NFRAMES * PAGE);
	munmap(g->gnt, g->gnt_size);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(hv_create(&f->hv), 0);
	guest_make(f->hv, "a", &f->a);
	guest_make(f->hv, "b", &f->b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	guest_unmap(&f->a);
	guest_unmap(&f->b);
	hv_destroy(f->hv);
	free(f);
	return 0;
}

static int16_t map1(struct hv *hv, domid_t caller, domid_t dom, grant_ref_t ref, uint32_t flags,
		    struct gnttab_map_grant_ref *op)
{
	memset(op, 0, sizeof(*op));
	op->dom = dom;
	op->ref = ref;
	op->flags = flags;
	assert_int_equal(gnttab_map_grant_ref(hv, caller, op, 1), 0);
	return op->status;
}

static int16_t unmap1(struct hv *hv, domid_t caller, grant_handle_t h)
{
	struct gnttab_unmap_grant_ref op;

	memset(&op, 0, sizeof(op));
	op.handle = h;
	assert_int_equal(gnttab_unmap_grant_ref(hv, caller, &op, 1), 0);
	return op.status;
}

/* A copy op from/to grants or raw frames; use the flags to pick. */
static int16_t copy1(struct hv *hv, domid_t caller, uint16_t flags, domid_t sdom, uint64_t s,
		     uint16_t soff, domid_t ddom, uint64_t d, uint16_t doff, uint16_t len)
{
	struct gnttab_copy op;

	memset(&op, 0, sizeof(op));
	op.flags = flags;
	op.source.domid = sdom;
	op.dest.domid = ddom;
	if (flags & GNTCOPY_source_gref)
		op.source.u.ref = (grant_ref_t)s;
	else
		op.source.u.gmfn = s;
	if (flags & GNTCOPY_dest_gref)
		op.dest.u.ref = (grant_ref_t)d;
	else
		op.dest.u.gmfn = d;
	op.source.offset = soff;
	op.dest.offset = doff;
	op.len = len;
	op.status = 99;
	assert_int_equal(gnttab_copy(hv, caller, &op, 1), 0);
	return op.status;
}

#define VA(p) ((uint64_t)(uintptr_t)(p))

static void test_map_reads_granted_frame(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;

	memset(f->a.mem + 3 * PAGE, 0x5a, PAGE);
	gnttab_grant_access(f->a.gnt, 10, 0, 3, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 10, GNTMAP_host_map, &op), GNTST_okay);
	assert_int_equal(((uint8_t *)(uintptr_t)op.host_addr)[100], 0x5a);
	assert_int_equal(f->a.gnt[10].flags, GTF_permit_access | GTF_reading | GTF_writing);
	/* Writes through the mapping are seen by the guest. */
	((uint8_t *)(uintptr_t)op.host_addr)[7] = 0x11;
	assert_int_equal(f->a.mem[3 * PAGE + 7], 0x11);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_okay);
	assert_int_equal(f->a.gnt[10].flags, GTF_permit_access);
}

static void test_ref_out_of_range(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;
	unsigned n = (unsigned)(PAGE / sizeof(struct grant_entry_v1));

	assert_int_equal(map1(f->hv, 0, f->a.id, n, GNTMAP_host_map, &op), GNTST_bad_gntref);
	assert_int_equal(map1(f->hv, 0, f->a.id, 0xffffffffu, GNTMAP_host_map, &op),
			 GNTST_bad_gntref);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, n, 0, 0,
			       VA(f->b.mem), 0, 8),
			 GNTST_bad_gntref);
}

static void test_wrong_domid(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;
	uint8_t buf[16];

	gnttab_grant_access(f->a.gnt, 11, f->b.id, 2, false); /* for b, not dom0 */
	assert_int_equal(map1(f->hv, 0, f->a.id, 11, GNTMAP_host_map, &op),
			 GNTST_permission_denied);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, 11, 0, 0,
			       VA(buf), 0, 16),
			 GNTST_permission_denied);
	assert_int_equal(f->a.gnt[11].flags, GTF_permit_access);
}

static void test_entry_not_permitted(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;
	uint8_t buf[16];

	/* Never granted (flags 0) and an accept_transfer entry. */
	assert_int_equal(map1(f->hv, 0, f->a.id, 12, GNTMAP_host_map, &op),
			 GNTST_permission_denied);
	gnttab_grant_transfer(f->a.gnt, 13, 0, 4);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, 13, 0, 0,
			       VA(buf), 0, 16),
			 GNTST_permission_denied);
	/* Revoked entry. */
	gnttab_grant_access(f->a.gnt, 14, 0, 4, false);
	assert_int_equal(gnttab_end_access(f->a.gnt, 14), 0);
	assert_int_equal(map1(f->hv, 0, f->a.id, 14, GNTMAP_host_map, &op),
			 GNTST_permission_denied);
}

static void test_readonly_copy_dest_refused(void **state)
{
	struct fx *f = *state;
	uint8_t buf[32];

	memset(buf, 0xee, sizeof(buf));
	memset(f->a.mem + 5 * PAGE, 0, PAGE);
	gnttab_grant_access(f->a.gnt, 20, 0, 5, true);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_va | GNTCOPY_dest_gref, 0, VA(buf), 0,
			       f->a.id, 20, 0, 32),
			 GNTST_permission_denied);
	assert_int_equal(f->a.mem[5 * PAGE], 0);
	/* Reading from it is fine. */
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, 20, 0, 0,
			       VA(buf), 0, 32),
			 GNTST_okay);
	assert_int_equal(buf[0], 0);
	assert_int_equal(f->a.gnt[20].flags, GTF_permit_access | GTF_readonly);
}

static void test_readonly_write_map_refused(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;

	gnttab_grant_access(f->a.gnt, 21, 0, 5, true);
	assert_int_equal(map1(f->hv, 0, f->a.id, 21, GNTMAP_host_map, &op),
			 GNTST_permission_denied);
	assert_int_equal(f->a.gnt[21].flags, GTF_permit_access | GTF_readonly);
	assert_int_equal(map1(f->hv, 0, f->a.id, 21, GNTMAP_host_map | GNTMAP_readonly, &op),
			 GNTST_okay);
	assert_int_equal(f->a.gnt[21].flags, GTF_permit_access | GTF_readonly | GTF_reading);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_okay);
	assert_int_equal(f->a.gnt[21].flags, GTF_permit_access | GTF_readonly);
}

static void test_copy_crossing_page(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];

	gnttab_grant_access(f->a.gnt, 22, 0, 6, false);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, 22, 4090,
			       0, VA(buf), 0, 7),
			 GNTST_bad_copy_arg);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_va | GNTCOPY_dest_gref, 0, VA(buf), 0,
			       f->a.id, 22, 4095, 2),
			 GNTST_bad_copy_arg);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, 22, 4089,
			       0, VA(buf), 0, 7),
			 GNTST_okay);
	/* Nothing stays pinned after a failed op. */
	assert_int_equal(f->a.gnt[22].flags, GTF_permit_access);
}

static void test_raw_frame_foreign_refused(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];

	/* dom0 naming a guest's raw frame. */
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_dest_va, f->a.id, 1, 0, 0, VA(buf), 0, 16),
			 GNTST_permission_denied);
	/* guest a naming guest b's raw frame, as source and as destination. */
	assert_int_equal(copy1(f->hv, f->a.id, 0, f->b.id, 1, 0, DOMID_SELF, 2, 0, 16),
			 GNTST_permission_denied);
	assert_int_equal(copy1(f->hv, f->a.id, 0, DOMID_SELF, 1, 0, f->b.id, 2, 0, 16),
			 GNTST_permission_denied);
}

static void test_guest_va_refused(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];

	assert_int_equal(copy1(f->hv, f->a.id, GNTCOPY_dest_va, DOMID_SELF, 1, 0, 0, VA(buf), 0,
			       16),
			 GNTST_permission_denied);
}

static void test_guest_own_frames(void **state)
{
	struct fx *f = *state;

	/* Guest a: raw frame 1 (its own) -> its frame 2, then -> b's grant to a. */
	memcpy(f->a.mem + PAGE, "hello", 6);
	assert_int_equal(copy1(f->hv, f->a.id, 0, DOMID_SELF, 1, 0, f->a.id, 2, 10, 6), GNTST_okay);
	assert_string_equal((char *)f->a.mem + 2 * PAGE + 10, "hello");
	gnttab_grant_access(f->b.gnt, 30, f->a.id, 9, false);
	assert_int_equal(copy1(f->hv, f->a.id, GNTCOPY_dest_gref, DOMID_SELF, 1, 0, f->b.id, 30,
			       100, 6),
			 GNTST_okay);
	assert_string_equal((char *)f->b.mem + 9 * PAGE + 100, "hello");
	/* Raw frame out of range. */
	assert_int_equal(copy1(f->hv, f->a.id, 0, DOMID_SELF, NFRAMES, 0, DOMID_SELF, 2, 0, 6),
			 GNTST_bad_page);
}

static void test_revoke_while_mapped(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;

	gnttab_grant_access(f->a.gnt, 40, 0, 7, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 40, GNTMAP_host_map, &op), GNTST_okay);
	assert_int_equal(gnttab_end_access(f->a.gnt, 40), -EBUSY);
	assert_int_equal(f->a.gnt[40].flags & GTF_permit_access, GTF_permit_access);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_okay);
	assert_int_equal(gnttab_end_access(f->a.gnt, 40), 0);
	assert_int_equal(f->a.gnt[40].flags, 0);
}

static void test_unmap_bad_handle(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;

	assert_int_equal(unmap1(f->hv, 0, 12345), GNTST_bad_handle);
	gnttab_grant_access(f->a.gnt, 41, 0, 7, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 41, GNTMAP_host_map, &op), GNTST_okay);
	/* A handle held by dom0 is not guest b's. */
	assert_int_equal(unmap1(f->hv, f->b.id, op.handle), GNTST_bad_handle);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_okay);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_bad_handle); /* double unmap */
}

static void test_unknown_domain(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;
	uint8_t buf[8];

	assert_int_equal(map1(f->hv, 0, 777, 1, GNTMAP_host_map, &op), GNTST_bad_domain);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, 777, 1, 0, 0,
			       VA(buf), 0, 8),
			 GNTST_bad_domain);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_va | GNTCOPY_dest_gref, 0, VA(buf), 0,
			       DOMID_INVALID, 1, 0, 8),
			 GNTST_bad_domain);
}

static void test_guest_to_guest_copy(void **state)
{
	struct fx *f = *state;
	struct gnttab_copy ops[2];
	unsigned i;

	for (i = 0; i < PAGE; i++)
		f->a.mem[4 * PAGE + i] = (uint8_t)(i * 7);
	memset(f->b.mem + 8 * PAGE, 0, PAGE);
	gnttab_grant_access(f->a.gnt, 50, 0, 4, true);  /* a's TX buffer, read-only */
	gnttab_grant_access(f->b.gnt, 51, 0, 8, false); /* b's RX buffer */
	memset(ops, 0, sizeof(ops));
	for (i = 0; i < 2; i++) {
		ops[i].flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
		ops[i].source.domid = f->a.id;
		ops[i].source.u.ref = 50;
		ops[i].source.offset = (uint16_t)(i * 2048);
		ops[i].dest.domid = f->b.id;
		ops[i].dest.u.ref = 51;
		ops[i].dest.offset = (uint16_t)(i * 2048);
		ops[i].len = 2048;
	}
	assert_int_equal(gnttab_copy(f->hv, 0, ops, 2), 0);
	assert_int_equal(ops[0].status, GNTST_okay);
	assert_int_equal(ops[1].status, GNTST_okay);
	assert_memory_equal(f->b.mem + 8 * PAGE, f->a.mem + 4 * PAGE, PAGE);
	assert_int_equal(f->a.gnt[50].flags, GTF_permit_access | GTF_readonly);
	assert_int_equal(f->b.gnt[51].flags, GTF_permit_access);
}

static void test_copy_len_zero(void **state)
{
	struct fx *f = *state;

	/* Even against an entry that is not granted: nothing is touched. */
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_gref, f->a.id, 60, 0,
			       f->b.id, 61, 0, 0),
			 GNTST_okay);
}

static void test_transfer(void **state)
{
	struct fx *f = *state;
	struct gnttab_transfer op;
	struct gnttab_map_grant_ref mop;
	unsigned i;

	for (i = 0; i < PAGE; i++)
		f->a.mem[5 * PAGE + i] = (uint8_t)(i ^ 0x3c);
	/* b balloons out frame 11 and offers it as the slot. */
	assert_int_equal(hv_decrease_reservation(f->hv, f->b.id, 11), 0);
	gnttab_grant_transfer(f->b.gnt, 70, f->a.id, 11);
	memset(&op, 0, sizeof(op));
	op.mfn = 5;
	op.domid = f->b.id;
	op.ref = 70;
	assert_int_equal(gnttab_transfer(f->hv, f->a.id, &op, 1), 0);
	assert_int_equal(op.status, GNTST_okay);
	for (i = 0; i < PAGE; i++)
		if (f->b.mem[11 * PAGE + i] != (uint8_t)(i ^ 0x3c))
			fail_msg("byte %u not transferred", i);
	for (i = 0; i < PAGE; i++)
		if (f->a.mem[5 * PAGE + i] != 0)
			fail_msg("sender byte %u not zero", i);
	assert_int_equal(f->b.gnt[70].flags,
			 GTF_accept_transfer | GTF_transfer_committed | GTF_transfer_completed);
	/* The sender's frame is gone: granting it yields bad_page, transferring again too. */
	gnttab_grant_access(f->a.gnt, 71, 0, 5, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 71, GNTMAP_host_map, &mop), GNTST_bad_page);
	assert_int_equal(f->a.gnt[71].flags, GTF_permit_access);
	op.status = 0;
	assert_int_equal(gnttab_transfer(f->hv, f->a.id, &op, 1), 0);
	assert_int_equal(op.status, GNTST_bad_page);
	/* The receiver's new frame is usable for grants. */
	gnttab_grant_access(f->b.gnt, 72, 0, 11, false);
	assert_int_equal(map1(f->hv, 0, f->b.id, 72, GNTMAP_host_map, &mop), GNTST_okay);
	assert_int_equal(unmap1(f->hv, 0, mop.handle), GNTST_okay);
}

static void test_transfer_bad_slot(void **state)
{
	struct fx *f = *state;
	struct gnttab_transfer op;

	/* Slot still populated: frame lost for a, status general_error. */
	memset(f->a.mem + 6 * PAGE, 0x77, PAGE);
	gnttab_grant_transfer(f->b.gnt, 73, f->a.id, 12);
	memset(&op, 0, sizeof(op));
	op.mfn = 6;
	op.domid = f->b.id;
	op.ref = 73;
	assert_int_equal(gnttab_transfer(f->hv, f->a.id, &op, 1), 0);
	assert_int_equal(op.status, GNTST_general_error);
	assert_int_equal(f->a.mem[6 * PAGE], 0);
	assert_int_equal(f->b.gnt[73].flags, GTF_accept_transfer);
	/* Entry not offered to a. */
	memset(f->a.mem + 7 * PAGE, 0x77, PAGE);
	op.mfn = 7;
	op.ref = 74;
	assert_int_equal(gnttab_transfer(f->hv, f->a.id, &op, 1), 0);
	assert_int_equal(op.status, GNTST_permission_denied);
	/* Frame out of range: kept (bad_page). */
	op.mfn = NFRAMES;
	assert_int_equal(gnttab_transfer(f->hv, f->a.id, &op, 1), 0);
	assert_int_equal(op.status, GNTST_bad_page);
}

static void test_decrease_reservation_busy(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;

	gnttab_grant_access(f->a.gnt, 80, 0, 9, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 80, GNTMAP_host_map, &op), GNTST_okay);
	assert_int_equal(hv_decrease_reservation(f->hv, f->a.id, 9), -EBUSY);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_okay);
	f->a.mem[9 * PAGE] = 1;
	assert_int_equal(hv_decrease_reservation(f->hv, f->a.id, 9), 0);
	assert_int_equal(f->a.mem[9 * PAGE], 0);
	assert_int_equal(hv_decrease_reservation(f->hv, f->a.id, NFRAMES), -EINVAL);
	assert_int_equal(map1(f->hv, 0, f->a.id, 80, GNTMAP_host_map, &op), GNTST_bad_page);
}

static void test_frame_beyond_memory(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;

	gnttab_grant_access(f->a.gnt, 81, 0, NFRAMES + 100, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 81, GNTMAP_host_map, &op), GNTST_bad_page);
	assert_int_equal(f->a.gnt[81].flags, GTF_permit_access);
}

static void test_map_flags_and_subpage(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;
	uint8_t buf[8];

	gnttab_grant_access(f->a.gnt, 82, 0, 3, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 82, 0, &op), GNTST_general_error);
	f->a.gnt[82].flags |= GTF_sub_page;
	assert_int_equal(map1(f->hv, 0, f->a.id, 82, GNTMAP_host_map, &op),
			 GNTST_permission_denied);
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, 82, 0, 0,
			       VA(buf), 0, 8),
			 GNTST_okay);
}

static void test_maptrack_full(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op[5];
	unsigned i;

	assert_int_equal(hv_domain_set_max_maptrack(f->hv, 0, 4), 0);
	gnttab_grant_access(f->a.gnt, 83, 0, 3, false);
	for (i = 0; i < 4; i++)
		assert_int_equal(map1(f->hv, 0, f->a.id, 83, GNTMAP_host_map, &op[i]), GNTST_okay);
	assert_int_equal(map1(f->hv, 0, f->a.id, 83, GNTMAP_host_map, &op[4]), GNTST_no_space);
	assert_int_equal(unmap1(f->hv, 0, op[0].handle), GNTST_okay);
	assert_int_equal(map1(f->hv, 0, f->a.id, 83, GNTMAP_host_map, &op[0]), GNTST_okay);
	for (i = 0; i < 4; i++)
		assert_int_equal(unmap1(f->hv, 0, op[i].handle), GNTST_okay);
	assert_int_equal(f->a.gnt[83].flags, GTF_permit_access);
}

static void test_frame_fixed_at_pin(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;
	uint8_t buf[4];

	memset(f->a.mem + 3 * PAGE, 0x33, 4);
	memset(f->a.mem + 4 * PAGE, 0x44, 4);
	gnttab_grant_access(f->a.gnt, 84, 0, 3, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 84, GNTMAP_host_map, &op), GNTST_okay);
	f->a.gnt[84].frame = 4; /* a misbehaving granter */
	assert_int_equal(copy1(f->hv, 0, GNTCOPY_source_gref | GNTCOPY_dest_va, f->a.id, 84, 0, 0,
			       VA(buf), 0, 4),
			 GNTST_okay);
	assert_int_equal(buf[0], 0x33);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_okay);
}

static void test_write_pin_upgrade(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref ro, rw;

	gnttab_grant_access(f->a.gnt, 85, 0, 3, false);
	assert_int_equal(map1(f->hv, 0, f->a.id, 85, GNTMAP_host_map | GNTMAP_readonly, &ro),
			 GNTST_okay);
	assert_int_equal(f->a.gnt[85].flags, GTF_permit_access | GTF_reading);
	assert_int_equal(map1(f->hv, 0, f->a.id, 85, GNTMAP_host_map, &rw), GNTST_okay);
	assert_int_equal(f->a.gnt[85].flags, GTF_permit_access | GTF_reading | GTF_writing);
	assert_int_equal(unmap1(f->hv, 0, rw.handle), GNTST_okay);
	assert_int_equal(f->a.gnt[85].flags, GTF_permit_access | GTF_reading);
	assert_int_equal(unmap1(f->hv, 0, ro.handle), GNTST_okay);
	assert_int_equal(f->a.gnt[85].flags, GTF_permit_access);
}

/* Two threads pin/unpin one entry; the shared flags must track the pins. */
struct race {
	struct fx *f;
	int ro;
	int errors;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	struct fx *f = r->f;
	int i;

	for (i = 0; i < 100000; i++) {
		struct gnttab_map_grant_ref op;
		struct gnttab_unmap_grant_ref uop;
		uint8_t b;
		struct gnttab_copy c;

		memset(&op, 0, sizeof(op));
		op.dom = f->a.id;
		op.ref = 90;
		op.flags = GNTMAP_host_map | (r->ro ? GNTMAP_readonly : 0);
		gnttab_map_grant_ref(f->hv, 0, &op, 1);
		if (op.status != GNTST_okay) {
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (!(__atomic_load_n(&f->a.gnt[90].flags, __ATOMIC_ACQUIRE) & GTF_reading))
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
		if (!r->ro &&
		    !(__atomic_load_n(&f->a.gnt[90].flags, __ATOMIC_ACQUIRE) & GTF_writing))
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
		/* A copy pin in between. */
		memset(&c, 0, sizeof(c));
		c.flags = GNTCOPY_source_gref | GNTCOPY_dest_va;
		c.source.domid = f->a.id;
		c.source.u.ref = 90;
		c.dest.u.gmfn = (uint64_t)(uintptr_t)&b;
		c.len = 1;
		gnttab_copy(f->hv, 0, &c, 1);
		if (c.status != GNTST_okay)
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
		memset(&uop, 0, sizeof(uop));
		uop.handle = op.handle;
		gnttab_unmap_grant_ref(f->hv, 0, &uop, 1);
		if (uop.status != GNTST_okay)
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_concurrent_pin_unpin(void **state)
{
	struct fx *f = *state;
	struct race r1 = {f, 0, 0}, r2 = {f, 1, 0};
	pthread_t t1, t2;

	gnttab_grant_access(f->a.gnt, 90, 0, 3, false);
	assert_int_equal(pthread_create(&t1, NULL, race_thread, &r1), 0);
	assert_int_equal(pthread_create(&t2, NULL, race_thread, &r2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(r1.errors, 0);
	assert_int_equal(r2.errors, 0);
	assert_int_equal(f->a.gnt[90].flags, GTF_permit_access);
	assert_int_equal(gnttab_end_access(f->a.gnt, 90), 0);
}

/* A long batch (over one chunk) naming one entry again and again, with failing
 * ops in between: each op gets its own status, the data lands, nothing stays pinned. */
static void test_copy_batch_same_ref(void **state)
{
	struct fx *f = *state;
	struct gnttab_copy ops[150];
	uint8_t buf[150][16];
	unsigned i;

	for (i = 0; i < 16 * 150; i++)
		f->a.mem[3 * PAGE + i] = (uint8_t)(i * 13);
	gnttab_grant_access(f->a.gnt, 100, 0, 3, true);
	memset(ops, 0, sizeof(ops));
	memset(buf, 0, sizeof(buf));
	for (i = 0; i < 150; i++) {
		ops[i].flags = GNTCOPY_source_gref | GNTCOPY_dest_va;
		ops[i].source.domid = f->a.id;
		ops[i].source.u.ref = 100;
		ops[i].source.offset = (uint16_t)(i * 16);
		ops[i].dest.u.gmfn = VA(buf[i]);
		ops[i].len = 16;
		if (i % 37 == 5)
			ops[i].source.u.ref = 101; /* never granted */
		if (i % 41 == 7)
			ops[i].source.offset = 4090; /* crosses the page */
	}
	assert_int_equal(gnttab_copy(f->hv, 0, ops, 150), 0);
	for (i = 0; i < 150; i++) {
		if (i % 37 == 5) {
			assert_int_equal(ops[i].status, GNTST_permission_denied);
		} else if (i % 41 == 7) {
			assert_int_equal(ops[i].status, GNTST_bad_copy_arg);
		} else {
			assert_int_equal(ops[i].status, GNTST_okay);
			assert_memory_equal(buf[i], f->a.mem + 3 * PAGE + i * 16, 16);
		}
	}
	assert_int_equal(f->a.gnt[100].flags, GTF_permit_access | GTF_readonly);
	assert_int_equal(f->a.gnt[101].flags, 0);
	assert_int_equal(gnttab_end_access(f->a.gnt, 100), 0);
}

/* The source is looked at before the destination, as op-by-op processing does;
 * a failed destination leaves no pin on the source. */
static void test_copy_status_order(void **state)
{
	struct fx *f = *state;
	struct gnttab_copy ops[4];
	unsigned i;

	gnttab_grant_access(f->a.gnt, 102, 0, 4, false);
	gnttab_grant_access(f->b.gnt, 103, 0, 5, true); /* read-only: not a destination */
	memset(ops, 0, sizeof(ops));
	for (i = 0; i < 4; i++) {
		ops[i].flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
		ops[i].source.domid = f->a.id;
		ops[i].source.u.ref = 102;
		ops[i].dest.domid = f->b.id;
		ops[i].dest.u.ref = 103;
		ops[i].len = 8;
	}
	ops[0].source.u.ref = 9999; /* bad source and unknown dest: the source's error */
	ops[0].dest.domid = 777;
	ops[1].dest.domid = 777; /* good source, unknown dest */
	/* ops[2]: good source, read-only dest */
	ops[3].source.domid = 777; /* unknown source, read-only dest */
	assert_int_equal(gnttab_copy(f->hv, 0, ops, 4), 0);
	assert_int_equal(ops[0].status, GNTST_bad_gntref);
	assert_int_equal(ops[1].status, GNTST_bad_domain);
	assert_int_equal(ops[2].status, GNTST_permission_denied);
	assert_int_equal(ops[3].status, GNTST_bad_domain);
	assert_int_equal(f->a.gnt[102].flags, GTF_permit_access);
	assert_int_equal(f->b.gnt[103].flags, GTF_permit_access | GTF_readonly);
}

/* Batched maps alternating between granters, with a failure inside, then one
 * batched unmap: every mapping is right and every pin goes. */
static void test_map_unmap_batch(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref m[6];
	struct gnttab_unmap_grant_ref u[6];
	struct hv_domain_info info;
	unsigned i;

	for (i = 0; i < 6; i++) {
		struct guest *g = i % 2 ? &f->b : &f->a;
		memset(g->mem + (4 + i) * PAGE, (int)(0x10 + i), PAGE);
		gnttab_grant_access(g->gnt, 110 + i, 0, 4 + i, false);
	}
	memset(m, 0, sizeof(m));
	for (i = 0; i < 6; i++) {
		m[i].dom = i % 2 ? f->b.id : f->a.id;
		m[i].ref = 110 + i;
		m[i].flags = GNTMAP_host_map;
	}
	m[3].ref = 9999;
	assert_int_equal(gnttab_map_grant_ref(f->hv, 0, m, 6), 0);
	for (i = 0; i < 6; i++) {
		if (i == 3) {
			assert_int_equal(m[i].status, GNTST_bad_gntref);
			continue;
		}
		assert_int_equal(m[i].status, GNTST_okay);
		assert_int_equal(((uint8_t *)(uintptr_t)m[i].host_addr)[99], 0x10 + i);
	}
	assert_int_equal(hv_domain_get_info(f->hv, 0, &info), 0);
	assert_int_equal(info.nr_maps, 5);
	memset(u, 0, sizeof(u));
	for (i = 0; i < 6; i++)
		u[i].handle = m[i].handle;
	u[3].handle = 4242;
	assert_int_equal(gnttab_unmap_grant_ref(f->hv, 0, u, 6), 0);
	for (i = 0; i < 6; i++) {
		struct guest *g = i % 2 ? &f->b : &f->a;
		assert_int_equal(u[i].status, i == 3 ? GNTST_bad_handle : GNTST_okay);
		assert_int_equal(g->gnt[110 + i].flags, GTF_permit_access);
	}
	assert_int_equal(hv_domain_get_info(f->hv, 0, &info), 0);
	assert_int_equal(info.nr_maps, 0);
}

/*
 * Two threads copy a whole page from one entry while a third, the granter,
 * keeps trying to revoke it; each time a revoke succeeds it scribbles the frame
 * (as a guest reusing the page would), restores it and grants it again. A
 * revoke that succeeded under a copy's pin would let a copy see the scribble.
 */
#define RACE_PAT 0xa5
#define RACE_BAD 0x3c

struct revoke_race {
	struct fx *f;
	int stop;
	int bad_data;
	int bad_status;
	unsigned long copies_ok, revokes, busy;
};

static void *revoke_copier(void *arg)
{
	struct revoke_race *r = arg;
	struct fx *f = r->f;
	uint8_t *buf = malloc(PAGE);
	struct gnttab_copy c;
	unsigned long ok = 0;
	unsigned i;

	assert_non_null(buf);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		memset(&c, 0, sizeof(c));
		c.flags = GNTCOPY_source_gref | GNTCOPY_dest_va;
		c.source.domid = f->a.id;
		c.source.u.ref = 120;
		c.dest.u.gmfn = VA(buf);
		c.len = PAGE;
		gnttab_copy(f->hv, 0, &c, 1);
		if (c.status == GNTST_okay) {
			ok++;
			__atomic_add_fetch(&r->copies_ok, 1, __ATOMIC_RELAXED);
			for (i = 0; i < PAGE; i++)
				if (buf[i] != RACE_PAT) {
					__atomic_add_fetch(&r->bad_data, 1, __ATOMIC_RELAXED);
					break;
				}
		} else if (c.status != GNTST_permission_denied && c.status != GNTST_general_error) {
			/* revoked (flags 0) or lost the CAS race 5 times: both legal */
			__atomic_add_fetch(&r->bad_status, 1, __ATOMIC_RELAXED);
		}
	}
	(void)ok;
	free(buf);
	return NULL;
}

static void test_copy_vs_end_access(void **state)
{
	struct fx *f = *state;
	struct revoke_race r = {.f = f};
	pthread_t t[2];
	uint64_t t0 = pvnet_now_ms();
	unsigned i;

	memset(f->a.mem + 6 * PAGE, RACE_PAT, PAGE);
	gnttab_grant_access(f->a.gnt, 120, 0, 6, true);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, revoke_copier, &r), 0);
	/* Until both outcomes were seen often, or 5 s on a loaded host. */
	do {
		for (i = 0; i < 1000; i++) {
			if (gnttab_end_access(f->a.gnt, 120) == 0) {
				r.revokes++;
				memset(f->a.mem + 6 * PAGE, RACE_BAD, PAGE);
				memset(f->a.mem + 6 * PAGE, RACE_PAT, PAGE);
				gnttab_grant_access(f->a.gnt, 120, 0, 6, true);
			} else {
				r.busy++;
			}
		}
	} while ((__atomic_load_n(&r.copies_ok, __ATOMIC_RELAXED) < 20000 || r.busy < 10000 ||
		  r.revokes < 1000) &&
		 pvnet_now_ms() - t0 < 5000);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	print_message("copies ok %lu, revokes %lu, revokes refused %lu\n", r.copies_ok, r.revokes,
		      r.busy);
	assert_int_equal(r.bad_data, 0);
	assert_int_equal(r.bad_status, 0);
	assert_true(r.copies_ok > 0 && r.busy > 0);
	assert_int_equal(f->a.gnt[120].flags, GTF_permit_access | GTF_readonly);
	assert_int_equal(gnttab_end_access(f->a.gnt, 120), 0);
	assert_int_equal(f->a.gnt[120].flags, 0);
}

static int count_fds(void)
{
	int n = 0;
	char path[64];
	int fd;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static void test_destroy_while_mapped(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op;
	struct hv_domain_info info;
	struct guest c;
	uint8_t *p;
	int fds_before, fds_mid;
	domid_t again;

	fds_before = count_fds();
	guest_make(f->hv, "c", &c);
	memset(c.mem + 2 * PAGE, 0x9c, PAGE);
	gnttab_grant_access(c.gnt, 5, 0, 2, false);
	assert_int_equal(map1(f->hv, 0, c.id, 5, GNTMAP_host_map, &op), GNTST_okay);
	assert_int_equal(hv_domain_get_info(f->hv, 0, &info), 0);
	assert_int_equal(info.nr_maps, 1);
	guest_unmap(&c);
	assert_int_equal(hv_domain_destroy(f->hv, c.id), 0);
	assert_int_equal(hv_domain_get_info(f->hv, c.id, &info), -ENOENT);
	/* Still mapped in pvnetd: the memfd stays open until the unmap. */
	p = (uint8_t *)(uintptr_t)op.host_addr;
	assert_int_equal(p[4095], 0x9c);
	fds_mid = count_fds();
	assert_int_equal(fds_mid, fds_before + 2);
	/* The name is free again at once. */
	guest_make(f->hv, "c", &c);
	assert_int_not_equal(c.id, op.dom);
	guest_unmap(&c);
	assert_int_equal(hv_domain_lookup(f->hv, "c", &again), 0);
	assert_int_equal(hv_domain_destroy(f->hv, again), 0);
	assert_int_equal(unmap1(f->hv, 0, op.handle), GNTST_okay);
	assert_int_equal(count_fds(), fds_before);
}


/* The granter's cap: once HV_LIMIT_GNT_MAPS of a's grants are mapped, a further map
 * of a's grants gets no_space (counted), b's grants still map, and an unmap makes
 * room again. */
static void test_gnt_maps_per_domain_cap(void **state)
{
	struct fx *f = *state;
	struct gnttab_map_grant_ref op[4], ob[3];
	struct hv_domain_info info;
	unsigned i;

	assert_int_equal(hv_get_limit(f->hv, HV_LIMIT_GNT_MAPS), HV_DEFAULT_GNT_MAPS_LIMIT);
	assert_int_equal(hv_set_limit(f->hv, HV_LIMIT_GNT_MAPS, 0), -EINVAL);
	assert_int_equal(hv_set_limit(f->hv, HV_LIMIT__MAX, 3), -EINVAL);
	assert_int_equal(hv_set_limit(f->hv, HV_LIMIT_GNT_MAPS, 3), 0);
	for (i = 0; i < 4; i++)
		gnttab_grant_access(f->a.gnt, 90 + i, 0, 4 + i, false);
	for (i = 0; i < 3; i++) {
		gnttab_grant_access(f->b.gnt, 90 + i, 0, 4 + i, false);
		assert_int_equal(map1(f->hv, 0, f->a.id, 90 + i, GNTMAP_host_map, &op[i]),
				 GNTST_okay);
	}
	/* a different ref or the same one: the cap counts mappings, not entries */
	assert_int_equal(map1(f->hv, 0, f->a.id, 93, GNTMAP_host_map, &op[3]), GNTST_no_space);
	assert_int_equal(map1(f->hv, 0, f->a.id, 90, GNTMAP_host_map | GNTMAP_readonly, &op[3]),
			 GNTST_no_space);
	assert_int_equal(f->a.gnt[93].flags, GTF_permit_access); /* never pinned */
	{
		/* with a ledger set, the refusal is noted there too */
		struct quota_ledger *q;
		assert_int_equal(quota_ledger_create(NULL, &q), 0);
		hv_set_quota(f->hv, q);
		assert_int_equal(map1(f->hv, 0, f->a.id, 93, GNTMAP_host_map, &op[3]),
				 GNTST_no_space);
		assert_int_equal(quota_refusals(q, QUOTA_GNT_MAPS), 1);
		hv_set_quota(f->hv, NULL);
		quota_ledger_destroy(q);
	}
	assert_int_equal(hv_domain_get_info(f->hv, f->a.id, &info), 0);
	assert_int_equal(info.nr_mapped, 3);
	assert_int_equal(info.maps_refused, 3);
	/* the other guest is untouched by a's exhaustion */
	for (i = 0; i < 3; i++)
		assert_int_equal(map1(f->hv, 0, f->b.id, 90 + i, GNTMAP_host_map, &ob[i]),
				 GNTST_okay);
	assert_int_equal(hv_domain_get_info(f->hv, f->b.id, &info), 0);
	assert_int_equal(info.maps_refused, 0);
	/* a guest mapping a's grants (granted to it) counts against a too */
	gnttab_grant_access(f->a.gnt, 94, f->b.id, 8, false);
	assert_int_equal(unmap1(f->hv, 0, op[0].handle), GNTST_okay);
	assert_int_equal(map1(f->hv, f->b.id, f->a.id, 94, GNTMAP_host_map, &op[0]), GNTST_okay);
	assert_int_equal(map1(f->hv, 0, f->a.id, 93, GNTMAP_host_map, &op[3]), GNTST_no_space);
	assert_int_equal(unmap1(f->hv, f->b.id, op[0].handle), GNTST_okay);
	assert_int_equal(map1(f->hv, 0, f->a.id, 93, GNTMAP_host_map, &op[0]), GNTST_okay);
	for (i = 0; i < 3; i++) {
		assert_int_equal(unmap1(f->hv, 0, op[i].handle), GNTST_okay);
		assert_int_equal(unmap1(f->hv, 0, ob[i].handle), GNTST_okay);
	}
	assert_int_equal(hv_domain_get_info(f->hv, f->a.id, &info), 0);
	assert_int_equal(info.nr_mapped, 0);
	/* a dying guest's mappings are released with it: its count goes too */
	assert_int_equal(map1(f->hv, 0, f->a.id, 90, GNTMAP_host_map, &op[0]), GNTST_okay);
	assert_int_equal(unmap1(f->hv, 0, op[0].handle), GNTST_okay);
}

/* dom0's own table is no longer the shared bottleneck: with every guest under its
 * cap, dom0 holds more than the old 65,536 mappings in all. */
static void test_dom0_maps_beyond_old_table(void **state)
{
	struct fx *f = *state;
	enum { NG = 9, PER = HV_DEFAULT_GNT_MAPS_LIMIT };
	struct guest g[NG];
	struct gnttab_map_grant_ref *ops = calloc((size_t)NG * PER, sizeof(*ops));
	struct gnttab_unmap_grant_ref *un = calloc((size_t)NG * PER, sizeof(*un));
	struct hv_domain_info info;
	char name[8];

	assert_non_null(ops);
	assert_non_null(un);
	for (unsigned k = 0; k < NG; k++) {
		snprintf(name, sizeof(name), "m%u", k);
		guest_make(f->hv, name, &g[k]);
		gnttab_grant_access(g[k].gnt, 7, 0, 1, true);
		for (unsigned i = 0; i < PER; i++)
			ops[k * PER + i] = (struct gnttab_map_grant_ref){.flags = GNTMAP_host_map |
										  GNTMAP_readonly,
									 .ref = 7,
									 .dom = g[k].id};
	}
	assert_int_equal(gnttab_map_grant_ref(f->hv, 0, ops, NG * PER), 0);
	for (unsigned i = 0; i < NG * PER; i++) {
		if (ops[i].status != GNTST_okay)
			fail_msg("map %u: %d", i, ops[i].status);
		un[i].handle = ops[i].handle;
	}
	assert_int_equal(hv_domain_get_info(f->hv, 0, &info), 0);
	assert_true(info.nr_maps >= (unsigned)NG * PER);
	assert_true(info.nr_maps > 65536);
	/* each guest is at its cap: one more is refused */
	assert_int_equal(map1(f->hv, 0, g[0].id, 7, GNTMAP_host_map | GNTMAP_readonly, &ops[0]),
			 GNTST_no_space);
	assert_int_equal(gnttab_unmap_grant_ref(f->hv, 0, un, NG * PER), 0);
	for (unsigned k = 0; k < NG; k++) {
		assert_int_equal(g[k].gnt[7].flags, GTF_permit_access | GTF_readonly);
		guest_unmap(&g[k]);
		assert_int_equal(hv_domain_destroy(f->hv, g[k].id), 0);
	}
	free(ops);
	free(un);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_map_reads_granted_frame),
		T(test_ref_out_of_range),
		T(test_wrong_domid),
		T(test_entry_not_permitted),
		T(test_readonly_copy_dest_refused),
		T(test_readonly_write_map_refused),
		T(test_copy_crossing_page),
		T(test_raw_frame_foreign_refused),
		T(test_guest_va_refused),
		T(test_guest_own_frames),
		T(test_revoke_while_mapped),
		T(test_unmap_bad_handle),
		T(test_unknown_domain),
		T(test_guest_to_guest_copy),
		T(test_copy_len_zero),
		T(test_transfer),
		T(test_transfer_bad_slot),
		T(test_decrease_reservation_busy),
		T(test_frame_beyond_memory),
		T(test_map_flags_and_subpage),
		T(test_maptrack_full),
		T(test_frame_fixed_at_pin),
		T(test_write_pin_upgrade),
		T(test_concurrent_pin_unpin),
		T(test_destroy_while_mapped),
		T(test_copy_batch_same_ref),
		T(test_copy_status_order),
		T(test_map_unmap_batch),
		T(test_copy_vs_end_access),
		T(test_gnt_maps_per_domain_cap),
		T(test_dom0_maps_beyond_old_table),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
