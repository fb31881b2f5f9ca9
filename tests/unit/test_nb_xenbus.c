/*
 * Unit tests for netback's xenbus side (netback/xenbus.c) against a real hypervisor
 * core, store and switch in this process: the test writes the toolstack's backend
 * nodes and plays the frontend itself (its rings in the guest's memory, its grants
 * and event channels through hv as the guest's domain).
 *   - a frontend asking for more queues than the vif's `queues` is refused as Xen
 *     netback refuses it (error node + backend closed);
 *   - a frontend writing its nodes in a loop costs one vif update per control-loop
 *     turn (nb_process), not one per write;
 *   - a multi-queue connect failing at queue 0 closes no fd it never opened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvnet/io/netif.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/log.h>

#include "../../netback/nb_private.h"

#define PAGE 4096u
#define NFRAMES 8u

struct fx {
	struct hv *hv;
	struct xs_store *xs;
	struct vsw_switch *sw;
	struct nb *nb;
	domid_t id;
	uint8_t *mem;
	struct grant_entry_v1 *gnt;
	char fe[96], be[96];
};

static void setf(struct fx *f, const char *dir, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void setf(struct fx *f, const char *dir, const char *key, const char *fmt, ...)
{
	char path[192], val[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	assert_int_equal(xs_write(f->xs, 0, 0, path, val, (size_t)n), 0);
}

static long getl(struct fx *f, const char *path)
{
	char *v = NULL;
	size_t len;
	long r;

	if (xs_read(f->xs, 0, 0, path, &v, &len) < 0)
		return -1;
	r = strtol(v, NULL, 10);
	free(v);
	return r;
}

/* One control-loop turn as pvnetd runs it: store events delivered, then nb_process. */
static void turn(struct fx *f)
{
	while (xs_store_dispatch(f->xs) > 0)
		;
	nb_process(f->nb);
}

static void turns(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		turn(f);
}

/* The toolstack's nodes for vif 0 of the guest, with `queues` (0: no node). */
static void toolstack_vif(struct fx *f, unsigned queues)
{
	snprintf(f->fe, sizeof(f->fe), "/local/domain/%u/device/vif/0", f->id);
	snprintf(f->be, sizeof(f->be), "/local/domain/0/backend/vif/%u/0", f->id);
	setf(f, f->fe, "backend", "%s", f->be);
	setf(f, f->fe, "state", "1");
	setf(f, f->be, "frontend", "%s", f->fe);
	setf(f, f->be, "frontend-id", "%u", f->id);
	setf(f, f->be, "bridge", "brx");
	setf(f, f->be, "mac", "00:16:3e:00:00:01");
	if (queues)
		setf(f, f->be, "queues", "%u", queues);
	setf(f, f->be, "state", "1");
}

/* The frontend's half of a one-queue connect: rings in frames 1 and 2. */
static void frontend_connect(struct fx *f, unsigned num_queues)
{
	evtchn_port_t port;
	char dir[128];

	SHARED_RING_INIT((struct netif_tx_sring *)(f->mem + PAGE));
	SHARED_RING_INIT((struct netif_rx_sring *)(f->mem + 2 * PAGE));
	gnttab_grant_access(f->gnt, 8, 0, 1, false);
	gnttab_grant_access(f->gnt, 9, 0, 2, false);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->id, DOMID_SELF, 0, &port), 0);
	setf(f, f->fe, "request-rx-copy", "1");
	if (num_queues) {
		setf(f, f->fe, "multi-queue-num-queues", "%u", num_queues);
		for (unsigned q = 0; q < num_queues; q++) {
			snprintf(dir, sizeof(dir), "%s/queue-%u", f->fe, q);
			setf(f, dir, "tx-ring-ref", "8");
			setf(f, dir, "rx-ring-ref", "9");
			setf(f, dir, "event-channel", "%u", port);
		}
	} else {
		setf(f, f->fe, "tx-ring-ref", "8");
		setf(f, f->fe, "rx-ring-ref", "9");
		setf(f, f->fe, "event-channel", "%u", port);
	}
	setf(f, f->fe, "state", "%d", XenbusStateConnected);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct hv_domain_config cfg;
	int mfd, gfd;

	assert_non_null(f);
	pvnet_log_set_level(PVNET_LOG_WARN);
	assert_int_equal(hv_create(&f->hv), 0);
	assert_int_equal(xs_store_create(NULL, &f->xs), 0);
	assert_int_equal(vsw_switch_create(&f->sw), 0);
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, "g");
	cfg.mem_size = NFRAMES * PAGE;
	cfg.nr_grant_frames = 1;
	assert_int_equal(hv_domain_create(f->hv, &cfg, &f->id), 0);
	assert_int_equal(xs_domain_introduce(f->xs, f->id, "g"), 0);
	assert_int_equal(hv_domain_fds(f->hv, f->id, &mfd, &gfd), 0);
	f->mem = mmap(NULL, NFRAMES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	f->gnt = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, gfd, 0);
	assert_true(f->mem != MAP_FAILED && f->gnt != MAP_FAILED);
	close(mfd);
	close(gfd);
	assert_int_equal(nb_create(f->hv, f->xs, f->sw, 1, &f->nb), 0);
	turns(f, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nb_destroy(f->nb);
	munmap(f->mem, NFRAMES * PAGE);
	munmap(f->gnt, PAGE);
	vsw_switch_destroy(f->sw);
	xs_store_destroy(f->xs);
	hv_destroy(f->hv);
	free(f);
	return 0;
}

static void test_queues_over_vif_limit_refused(void **state)
{
	struct fx *f = *state;
	char path[192], *err = NULL;
	size_t len;

	toolstack_vif(f, 2);
	turns(f, 3);
	snprintf(path, sizeof(path), "%s/multi-queue-max-queues", f->be);
	assert_int_equal(getl(f, path), 2); /* the vif's queues=, not netback's maximum */
	snprintf(path, sizeof(path), "%s/state", f->be);
	assert_int_equal(getl(f, path), XenbusStateInitWait);
	frontend_connect(f, 3);
	turns(f, 3);
	assert_int_equal(getl(f, path), XenbusStateClosed);
	snprintf(path, sizeof(path), "/local/domain/0/error/backend/vif/%u/0/error", f->id);
	assert_int_equal(xs_read(f->xs, 0, 0, path, &err, &len), 0);
	assert_non_null(strstr(err, "guest requested 3 queues, exceeding the maximum of 2."));
	free(err);
	/* nothing of the refused connect is held: no ring mapped, no dom0 port bound */
	{
		struct hv_domain_info info;
		assert_int_equal(hv_domain_get_info(f->hv, f->id, &info), 0);
		assert_int_equal(info.nr_mapped, 0);
		assert_int_equal(info.nr_ports_bound, 1); /* the guest's own unbound port */
	}
}

static void test_queues_within_limit_connect(void **state)
{
	struct fx *f = *state;
	char path[192];

	toolstack_vif(f, 0); /* no node: netback's maximum */
	turns(f, 3);
	snprintf(path, sizeof(path), "%s/multi-queue-max-queues", f->be);
	assert_int_equal(getl(f, path), NB_MAX_QUEUES);
	frontend_connect(f, 0);
	turns(f, 3);
	snprintf(path, sizeof(path), "%s/state", f->be);
	assert_int_equal(getl(f, path), XenbusStateConnected);
}

static void test_write_storm_coalesced(void **state)
{
	struct fx *f = *state;
	uint64_t ev0, up0, rs0;
	char path[192];

	toolstack_vif(f, 1);
	turns(f, 3);
	frontend_connect(f, 0);
	turns(f, 3);
	snprintf(path, sizeof(path), "%s/state", f->be);
	assert_int_equal(getl(f, path), XenbusStateConnected);

	ev0 = f->nb->watch_events;
	up0 = f->nb->vif_updates;
	rs0 = f->nb->rescans;
	/* one loop turn's worth of a guest's write storm on its own frontend nodes */
	for (unsigned i = 0; i < 2000; i++) {
		setf(f, f->fe, "feature-sg", "%u", i & 1);
		setf(f, f->fe, "state", "%d", XenbusStateConnected);
	}
	turn(f);
	assert_true(f->nb->watch_events - ev0 >= 4000);
	assert_int_equal(f->nb->vif_updates - up0, 1);
	assert_int_equal(f->nb->rescans, rs0);
	turns(f, 2); /* quiet: nothing more to do */
	assert_int_equal(f->nb->vif_updates - up0, 1);
	assert_int_equal(getl(f, path), XenbusStateConnected);

	/* writes to nodes that are no vif's, or to another domain's paths, cost nothing */
	for (unsigned i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/data/x", f->id);
		assert_int_equal(xs_write(f->xs, 0, 0, path, "1", 1), 0);
		assert_int_equal(xs_write(f->xs, 0, 0, "/local/domain/77/device/vif/0/state", "1",
					  1),
				 0);
	}
	turns(f, 2);
	assert_int_equal(f->nb->vif_updates - up0, 1);
	assert_int_equal(f->nb->rescans, rs0);

	/* the frontend closing is still seen within one turn */
	setf(f, f->fe, "state", "%d", XenbusStateClosing);
	turn(f);
	snprintf(path, sizeof(path), "%s/state", f->be);
	assert_int_equal(getl(f, path), XenbusStateClosing);
	/* the backend directory going: one rescan frees the vif */
	assert_int_equal(xs_rm(f->xs, 0, 0, f->be), 0);
	turn(f);
	assert_int_equal(f->nb->rescans, rs0 + 1);
	assert_null(f->nb->vifs);
}

/*
 * A multi-queue connect that fails at queue 0 (the frontend wrote no queue-0 ring
 * refs) unwinds queues that were never set up: their event fds were never opened
 * and must not be closed. Before, calloc's zeroes read as fd 0 and the unwind
 * closed fd 0 three times: whatever pvnetd held there (another vif's event fd, an
 * epoll set) went away under its owner, and a hostile guest could repeat it.
 */
static void test_failed_queue_leaves_other_fds(void **state)
{
	struct fx *f = *state;
	char path[192], *err = NULL, c = 0;
	size_t len;
	int saved, p[2];

	saved = dup(0);
	assert_true(saved >= 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], 0), 0); /* fd 0: an fd pvnetd holds for something else */
	signal(SIGPIPE, SIG_IGN);           /* a closed fd 0 fails the write below, not the run */
	close(p[0]);

	toolstack_vif(f, 2);
	turns(f, 3);
	frontend_connect(f, 2);
	snprintf(path, sizeof(path), "%s/queue-0/tx-ring-ref", f->fe);
	assert_int_equal(xs_rm(f->xs, 0, 0, path), 0);
	turns(f, 3);
	snprintf(path, sizeof(path), "%s/state", f->be);
	assert_int_equal(getl(f, path), XenbusStateClosed);
	snprintf(path, sizeof(path), "/local/domain/0/error/backend/vif/%u/0/error", f->id);
	assert_int_equal(xs_read(f->xs, 0, 0, path, &err, &len), 0);
	assert_non_null(strstr(err, "queue-0"));
	free(err);

	/* fd 0 is still the pipe: a byte written at the other end is read there */
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(read(0, &c, 1), 1);
	assert_int_equal(c, 'x');
	/* and nothing of the failed connect is held */
	{
		struct hv_domain_info info;
		assert_int_equal(hv_domain_get_info(f->hv, f->id, &info), 0);
		assert_int_equal(info.nr_mapped, 0);
		assert_int_equal(info.nr_ports_bound, 1);
	}
	close(p[1]);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_queues_over_vif_limit_refused),
		T(test_queues_within_limit_connect),
		T(test_write_storm_coalesced),
		T(test_failed_queue_leaves_other_fds),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
