/*
 * Unit tests for re-adoption after a pvnetd restart (hv_domain_adopt in
 * hv/domain.c): a domain rebuilt over the memfds its guest kept sees the
 * guest's memory as it was; memfds that are unsealed, of the wrong size or
 * write-sealed are refused; a taken id or name is refused; new domains get ids
 * above the adopted ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvnet/hv.h>

#define MEM (1u << 20)
#define GNT (HV_DEFAULT_GRANT_FRAMES * HV_PAGE_SIZE)

static int setup(void **state)
{
	struct hv *hv;

	assert_int_equal(hv_create(&hv), 0);
	*state = hv;
	return 0;
}

static int teardown(void **state)
{
	hv_destroy(*state);
	return 0;
}

static void cfg_init(struct hv_domain_config *cfg, const char *name, uint64_t mem)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "%s", name);
	cfg->mem_size = mem;
}

/* A memfd as the old pvnetd made it (seals: shrink, grow, seal), plus extra seals. */
static int memfd(size_t size, int extra_seals)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (extra_seals >= 0)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | extra_seals),
				 0);
	return fd;
}

static void test_adopt_keeps_memory(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	struct hv_domain_info info;
	int m = memfd(MEM, 0), g = memfd(GNT, 0), m2 = -1, g2 = -1;
	uint8_t *p = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0), *q;

	assert_true(p != MAP_FAILED);
	memcpy(p + 4096, "guest data", 11);
	cfg_init(&cfg, "web", MEM);
	assert_int_equal(hv_domain_adopt(hv, &cfg, 7, m, g), 0);
	assert_int_equal(hv_domain_get_info(hv, 7, &info), 0);
	assert_string_equal(info.name, "web");
	assert_int_equal(info.mem_size, MEM);
	/* the memory hv hands out is the guest's own */
	assert_int_equal(hv_domain_fds(hv, 7, &m2, &g2), 0);
	q = mmap(NULL, MEM, PROT_READ, MAP_SHARED, m2, 0);
	assert_true(q != MAP_FAILED);
	assert_string_equal((const char *)q + 4096, "guest data");
	munmap(q, MEM);
	munmap(p, MEM);
	close(m2);
	close(g2);
	/* hv dup'ed the fds: ours are still ours */
	assert_true(fcntl(m, F_GETFD) >= 0);
	close(m);
	close(g);
	assert_int_equal(hv_domain_destroy(hv, 7), 0);
}

static void test_adopt_refuses_bad_memfds(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	int good_g = memfd(GNT, 0);
	struct {
		int fd;
		const char *why;
	} bad[] = {
		{memfd(MEM, -1), "unsealed: the guest could shrink it under pvnetd"},
		{memfd(MEM / 2, 0), "smaller than the recorded memory"},
		{memfd(MEM, F_SEAL_WRITE), "write-sealed"},
		{memfd(MEM, F_SEAL_FUTURE_WRITE), "future-write-sealed"},
	};

	cfg_init(&cfg, "bad", MEM);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("%s\n", bad[i].why);
		assert_int_equal(hv_domain_adopt(hv, &cfg, 5, bad[i].fd, good_g), -EINVAL);
		close(bad[i].fd);
	}
	/* a grant-table memfd of the wrong size */
	{
		int m = memfd(MEM, 0), g = memfd(GNT - HV_PAGE_SIZE, 0);
		assert_int_equal(hv_domain_adopt(hv, &cfg, 5, m, g), -EINVAL);
		close(m);
		close(g);
	}
	/* not a memfd at all */
	{
		int m = open("/dev/null", O_RDWR);
		assert_int_equal(hv_domain_adopt(hv, &cfg, 5, m, good_g), -EINVAL);
		close(m);
	}
	close(good_g);
	assert_int_equal(hv_domain_get_info(hv, 5, &(struct hv_domain_info){0}), -ENOENT);
}

static void test_adopt_taken_and_ids(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	int m = memfd(MEM, 0), g = memfd(GNT, 0);
	domid_t id;

	cfg_init(&cfg, "a", MEM);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	assert_int_equal(id, 1);
	cfg_init(&cfg, "b", MEM);
	assert_int_equal(hv_domain_adopt(hv, &cfg, 1, m, g), -EEXIST); /* id taken */
	cfg_init(&cfg, "a", MEM);
	assert_int_equal(hv_domain_adopt(hv, &cfg, 9, m, g), -EEXIST); /* name taken */
	assert_int_equal(hv_domain_adopt(hv, &cfg, 0, m, g), -EINVAL); /* dom0 */
	cfg_init(&cfg, "b", MEM);
	assert_int_equal(hv_domain_adopt(hv, &cfg, 9, m, g), 0);
	/* new domains get ids above the adopted one, and above reserved ones */
	cfg_init(&cfg, "c", MEM);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	assert_int_equal(id, 10);
	hv_domain_reserve_ids(hv, 20);
	cfg_init(&cfg, "d", MEM);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	assert_int_equal(id, 21);
	close(m);
	close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_adopt_keeps_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_refuses_bad_memfds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_taken_and_ids, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
