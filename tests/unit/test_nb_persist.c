/* Unit tests for netback's persistent grant mappings (netback/persist.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvnet/hv.h>

#include "../../netback/nb_private.h"

#define PAGE 4096u
#define NFRAMES 16u
#define GNT_FRAMES 9u /* 4608 v1 entries: more than NB_PMAP_MAX */

struct fx {
	struct hv *hv;
	domid_t id, other;
	uint8_t *mem;
	struct grant_entry_v1 *gnt;
};

static domid_t dom_make(struct hv *hv, const char *name)
{
	struct hv_domain_config cfg;
	domid_t id;

	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, name);
	cfg.mem_size = NFRAMES * PAGE;
	cfg.nr_grant_frames = GNT_FRAMES;
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	return id;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int mfd, gfd;

	assert_non_null(f);
	assert_int_equal(hv_create(&f->hv), 0);
	f->id = dom_make(f->hv, "g");
	f->other = dom_make(f->hv, "o");
	assert_int_equal(hv_domain_fds(f->hv, f->id, &mfd, &gfd), 0);
	f->mem = mmap(NULL, NFRAMES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	f->gnt = mmap(NULL, GNT_FRAMES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, gfd, 0);
	assert_true(f->mem != MAP_FAILED && f->gnt != MAP_FAILED);
	close(mfd);
	close(gfd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	munmap(f->mem, NFRAMES * PAGE);
	munmap(f->gnt, GNT_FRAMES * PAGE);
	hv_destroy(f->hv);
	free(f);
	return 0;
}

static unsigned nr_maps(struct fx *f)
{
	struct hv_domain_info info;

	assert_int_equal(hv_domain_get_info(f->hv, 0, &info), 0);
	return info.nr_maps;
}

/* First sight maps, later sights return the same address without a new mapping;
 * the mapping pins the entry until the table is destroyed. */
static void test_map_once_and_pin(void **state)
{
	struct fx *f = *state;
	struct nb_pmap *m;
	uint8_t *va, *va2;
	unsigned base = nr_maps(f);

	gnttab_grant_access(f->gnt, 7, 0, 3, true);
	memcpy(f->mem + 3 * PAGE + 100, "persist", 8);
	assert_int_equal(nb_pmap_create(f->hv, f->id, false, &m), 0);
	assert_null(nb_pmap_lookup(m, 7));
	va = nb_pmap_get(m, 7);
	assert_non_null(va);
	assert_memory_equal(va + 100, "persist", 8);
	assert_int_equal(nr_maps(f), base + 1);
	va2 = nb_pmap_get(m, 7);
	assert_ptr_equal(va, va2);
	assert_ptr_equal(nb_pmap_lookup(m, 7), va);
	assert_int_equal(nr_maps(f), base + 1);
	/* the frontend cannot revoke a mapped ref (the persistent contract) */
	assert_int_equal(gnttab_end_access(f->gnt, 7), -EBUSY);
	/* the guest's later writes are seen through the mapping (no copy at map time) */
	f->mem[3 * PAGE + 100] = 'P';
	assert_int_equal(va[100], 'P');
	nb_pmap_destroy(m);
	assert_int_equal(nr_maps(f), base);
	assert_int_equal(gnttab_end_access(f->gnt, 7), 0);
	nb_pmap_destroy(NULL);
}

/* Refs the hv refuses to map give NULL (the caller grant-copies and gets the
 * copy's error), and are not remembered as mapped. */
static void test_refused_refs(void **state)
{
	struct fx *f = *state;
	struct nb_pmap *rw, *ro;
	unsigned base = nr_maps(f);

	assert_int_equal(nb_pmap_create(f->hv, f->id, true, &rw), 0);
	assert_int_equal(nb_pmap_create(f->hv, f->id, false, &ro), 0);
	/* not granted */
	assert_null(nb_pmap_get(rw, 20));
	/* granted to another domain */
	gnttab_grant_access(f->gnt, 21, f->other, 1, false);
	assert_null(nb_pmap_get(rw, 21));
	assert_null(nb_pmap_get(ro, 21));
	/* read-only grant: a writable (RX) map is refused, a read-only (TX) one works */
	gnttab_grant_access(f->gnt, 22, 0, 2, true);
	assert_null(nb_pmap_get(rw, 22));
	assert_null(nb_pmap_lookup(rw, 22));
	assert_non_null(nb_pmap_get(ro, 22));
	/* out of the table's range, and the ref whose key would be 0 */
	assert_null(nb_pmap_get(rw, GNT_FRAMES * PAGE / 8 + 5));
	assert_null(nb_pmap_get(rw, UINT32_MAX));
	assert_null(nb_pmap_lookup(rw, UINT32_MAX));
	/* revoked: permit_access cleared before the first sight */
	gnttab_grant_access(f->gnt, 23, 0, 4, false);
	assert_int_equal(gnttab_end_access(f->gnt, 23), 0);
	assert_null(nb_pmap_get(rw, 23));
	assert_int_equal(nr_maps(f), base + 1);
	nb_pmap_destroy(rw);
	nb_pmap_destroy(ro);
	assert_int_equal(nr_maps(f), base);
}

/* The table is bounded: beyond NB_PMAP_MAX entries, NULL (grant copy); the
 * entries already there keep working; destroy unmaps all of them. */
static void test_table_full(void **state)
{
	struct fx *f = *state;
	struct nb_pmap *m;
	unsigned base = nr_maps(f);

	for (grant_ref_t r = 0; r < NB_PMAP_MAX + 10; r++)
		gnttab_grant_access(f->gnt, r, 0, r % NFRAMES, false);
	assert_int_equal(nb_pmap_create(f->hv, f->id, true, &m), 0);
	for (grant_ref_t r = 0; r < NB_PMAP_MAX; r++) {
		uint8_t *va = nb_pmap_get(m, r);
		assert_non_null(va);
		if (r < NFRAMES)
			assert_ptr_equal(nb_pmap_get(m, r), va);
	}
	assert_null(nb_pmap_get(m, NB_PMAP_MAX));
	assert_null(nb_pmap_get(m, NB_PMAP_MAX + 9));
	assert_non_null(nb_pmap_lookup(m, 0));
	assert_non_null(nb_pmap_lookup(m, NB_PMAP_MAX - 1));
	assert_null(nb_pmap_lookup(m, NB_PMAP_MAX));
	assert_int_equal(nr_maps(f), base + NB_PMAP_MAX);
	/* writes through the mapping land in the guest's frame */
	nb_pmap_get(m, 5)[9] = 0x5a;
	assert_int_equal(f->mem[5 * PAGE + 9], 0x5a);
	nb_pmap_destroy(m);
	assert_int_equal(nr_maps(f), base);
	for (grant_ref_t r = 0; r < NB_PMAP_MAX + 10; r++)
		assert_int_equal(gnttab_end_access(f->gnt, r), 0);
}

/* A mapping outlives the domain's destruction until the table goes (the hv keeps
 * the granter's memory while dom0 maps it). */
static void test_destroy_after_domain(void **state)
{
	struct fx *f = *state;
	struct nb_pmap *m;
	uint8_t *va;

	gnttab_grant_access(f->gnt, 30, 0, 6, false);
	assert_int_equal(nb_pmap_create(f->hv, f->id, true, &m), 0);
	va = nb_pmap_get(m, 30);
	assert_non_null(va);
	assert_int_equal(hv_domain_destroy(f->hv, f->id), 0);
	va[0] = 1; /* still mapped memory (ASan would flag a use after unmap) */
	nb_pmap_destroy(m);
	assert_int_equal(nr_maps(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_map_once_and_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_after_domain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
