/* Unit tests for domains and their memory (hv/domain.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/hv.h>

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

static void test_dom0_exists(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_info info;
	domid_t id = 99;

	assert_int_equal(hv_domain_get_info(hv, 0, &info), 0);
	assert_string_equal(info.name, "Domain-0");
	assert_int_equal(info.mem_size, 0);
	assert_int_equal(hv_domain_lookup(hv, "Domain-0", &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(hv_domain_destroy(hv, 0), -EPERM);
}

static void test_create_info_list(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	struct hv_domain_info info, infos[4];
	domid_t a, b, found;

	cfg_init(&cfg, "web1", 1 << 20);
	assert_int_equal(hv_domain_create(hv, &cfg, &a), 0);
	cfg_init(&cfg, "web2", 8192);
	cfg.nr_grant_frames = 2;
	assert_int_equal(hv_domain_create(hv, &cfg, &b), 0);
	assert_true(a >= 1 && b >= 1 && a != b);
	assert_int_equal(hv_domain_get_info(hv, a, &info), 0);
	assert_string_equal(info.name, "web1");
	assert_int_equal(info.mem_size, 1 << 20);
	assert_int_equal(info.nr_grant_entries, HV_DEFAULT_GRANT_FRAMES * 512);
	assert_int_equal(info.nr_maps, 0);
	assert_int_equal(info.nr_ports_bound, 0);
	assert_false(info.dying);
	assert_int_equal(hv_domain_get_info(hv, b, &info), 0);
	assert_int_equal(info.nr_grant_entries, 1024);
	assert_int_equal(hv_domain_lookup(hv, "web2", &found), 0);
	assert_int_equal(found, b);
	assert_int_equal(hv_domain_lookup(hv, "nope", &found), -ENOENT);
	assert_int_equal(hv_domain_list(hv, infos, 4), 3);
	assert_int_equal(infos[0].domid, 0);
	assert_int_equal(infos[1].domid, a);
	assert_int_equal(infos[2].domid, b);
	assert_int_equal(hv_domain_list(hv, infos, 2), 2);
	assert_int_equal(hv_domain_destroy(hv, a), 0);
	assert_int_equal(hv_domain_destroy(hv, a), -ENOENT);
	assert_int_equal(hv_domain_get_info(hv, a, &info), -ENOENT);
	assert_int_equal(hv_domain_list(hv, infos, 4), 2);
}

static void test_duplicate_name(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	domid_t a, b;

	cfg_init(&cfg, "dup", 4096);
	assert_int_equal(hv_domain_create(hv, &cfg, &a), 0);
	assert_int_equal(hv_domain_create(hv, &cfg, &b), -EEXIST);
	cfg_init(&cfg, "Domain-0", 4096);
	assert_int_equal(hv_domain_create(hv, &cfg, &b), -EEXIST);
	/* Free again after destroy. */
	cfg_init(&cfg, "dup", 4096);
	assert_int_equal(hv_domain_destroy(hv, a), 0);
	assert_int_equal(hv_domain_create(hv, &cfg, &b), 0);
}

static void test_bad_config(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	domid_t id;

	cfg_init(&cfg, "", 4096);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), -EINVAL);
	cfg_init(&cfg, "a b", 4096);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), -EINVAL);
	cfg_init(&cfg, "a/b", 4096);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), -EINVAL);
	cfg_init(&cfg, "x", 0);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), -EINVAL);
	cfg_init(&cfg, "x", 4097);
	assert_int_equal(hv_domain_create(hv, &cfg, &id), -EINVAL);
	cfg_init(&cfg, "x", 4096);
	cfg.max_evtchns = 4097;
	assert_int_equal(hv_domain_create(hv, &cfg, &id), -EINVAL);
	cfg_init(&cfg, "x", 4096);
	memset(cfg.name, 'n', sizeof(cfg.name)); /* not terminated */
	assert_int_equal(hv_domain_create(hv, &cfg, &id), -EINVAL);
	assert_int_equal(hv_domain_create(hv, NULL, &id), -EINVAL);
}

static void test_domain_fds(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	struct stat st;
	domid_t id;
	int m, g;
	uint8_t *p1, *p2;

	cfg_init(&cfg, "fds", 16384);
	cfg.nr_grant_frames = 3;
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	assert_int_equal(hv_domain_fds(hv, id, &m, &g), 0);
	assert_int_equal(fstat(m, &st), 0);
	assert_int_equal(st.st_size, 16384);
	assert_int_equal(fstat(g, &st), 0);
	assert_int_equal(st.st_size, 3 * 4096);
	/* A guest holding the fd cannot shrink memory under pvnetd. */
	assert_int_not_equal(ftruncate(m, 4096), 0);
	/* Two mappings of the fd see the same memory. */
	p1 = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	p2 = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	assert_true(p1 != MAP_FAILED && p2 != MAP_FAILED);
	p1[12345] = 0x42;
	assert_int_equal(p2[12345], 0x42);
	/* Ballooning a frame out zeroes it. */
	assert_int_equal(hv_decrease_reservation(hv, id, 3), 0);
	assert_int_equal(p2[12345], 0);
	assert_int_equal(hv_decrease_reservation(hv, id, 4), -EINVAL);
	assert_int_equal(hv_decrease_reservation(hv, 555, 0), -ENOENT);
	munmap(p1, 16384);
	munmap(p2, 16384);
	close(m);
	close(g);
	assert_int_equal(hv_domain_fds(hv, 0, &m, &g), -EINVAL);
	assert_int_equal(hv_domain_fds(hv, 555, &m, &g), -ENOENT);
}

static int count_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int c, n = 0;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

static void test_create_destroy_200(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	domid_t id, last = 0;
	int i, fds0, maps0;
	evtchn_port_t p0, pl;

	cfg_init(&cfg, "churn", 64 * 1024);
	/* Warm up allocator state, then measure. */
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	assert_int_equal(hv_domain_destroy(hv, id), 0);
	fds0 = count_fds();
	maps0 = count_maps();
	for (i = 0; i < 200; i++) {
		assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
		assert_true(id != last); /* ids are not reused at once */
		last = id;
		/* Give it a bound channel too, so teardown has work to do. */
		assert_int_equal(evtchn_alloc_unbound(hv, 0, DOMID_SELF, id, &p0), 0);
		assert_int_equal(evtchn_bind_interdomain(hv, id, 0, p0, &pl), 0);
		assert_int_equal(hv_domain_destroy(hv, id), 0);
		assert_int_equal(evtchn_close(hv, 0, p0), 0);
	}
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(count_maps(), maps0);
}

static void test_domid_wraps(void **state)
{
	struct hv *hv = *state;
	struct hv_domain_config cfg;
	domid_t id = 0, first;
	int i;

	cfg_init(&cfg, "w", 4096);
	assert_int_equal(hv_domain_create(hv, &cfg, &first), 0);
	assert_int_equal(hv_domain_destroy(hv, first), 0);
	for (i = 0; i < HV_MAX_DOMID + 5; i++) {
		assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
		assert_true(id >= 1 && id <= HV_MAX_DOMID);
		assert_int_equal(hv_domain_destroy(hv, id), 0);
	}
}

static void test_set_max_maptrack(void **state)
{
	struct hv *hv = *state;

	assert_int_equal(hv_domain_set_max_maptrack(hv, 0, 16), 0);
	assert_int_equal(hv_domain_set_max_maptrack(hv, 0, 0), -EINVAL);
	assert_int_equal(hv_domain_set_max_maptrack(hv, 77, 16), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_dom0_exists), T(test_create_info_list), T(test_duplicate_name),
		T(test_bad_config),  T(test_domain_fds),       T(test_create_destroy_200),
		T(test_domid_wraps), T(test_set_max_maptrack),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
