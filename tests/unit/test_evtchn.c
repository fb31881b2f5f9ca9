/* Unit tests for event channels (hv/evtchn.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/hv.h>
#include <pvnet/quota.h>

struct fx {
	struct hv *hv;
	domid_t a, b;
};

static domid_t make_dom(struct hv *hv, const char *name, uint32_t max_evtchns)
{
	struct hv_domain_config cfg;
	domid_t id;

	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, name);
	cfg.mem_size = 4096;
	cfg.nr_grant_frames = 1;
	cfg.max_evtchns = max_evtchns;
	assert_int_equal(hv_domain_create(hv, &cfg, &id), 0);
	return id;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(hv_create(&f->hv), 0);
	f->a = make_dom(f->hv, "a", 0);
	f->b = make_dom(f->hv, "b", 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	hv_destroy(f->hv);
	free(f);
	return 0;
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Reads (clears) an eventfd; returns the counter or 0. */
static uint64_t drain(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* dom0 offers a port to guest a; a binds. */
static void bind_pair(struct fx *f, evtchn_port_t *p0, evtchn_port_t *pa)
{
	assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->a, p0), 0);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, *p0, pa), 0);
}

static void test_alloc_unbound_status(void **state)
{
	struct fx *f = *state;
	struct evtchn_status st;
	evtchn_port_t p;

	assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->a, &p), 0);
	assert_true(p != 0);
	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = p;
	assert_int_equal(evtchn_status(f->hv, 0, &st), 0);
	assert_int_equal(st.status, EVTCHNSTAT_unbound);
	assert_int_equal(st.u.unbound.dom, f->a);
	/* dom0 may allocate on behalf of a guest; a guest only for itself. */
	assert_int_equal(evtchn_alloc_unbound(f->hv, 0, f->b, 0, &p), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, f->b, 0, &p), -EPERM);
	st.port = 0;
	assert_int_equal(evtchn_status(f->hv, 0, &st), -EINVAL);
}

static void test_bind_signals(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p0, pa;
	int w0, n0, wa, na;
	uint64_t one = 1;
	struct evtchn_status st;

	bind_pair(f, &p0, &pa);
	assert_int_equal(evtchn_get_fds(f->hv, 0, p0, &w0, &n0), 0);
	assert_int_equal(evtchn_get_fds(f->hv, f->a, pa, &wa, &na), 0);
	/* The binder's new port starts pending; dom0's is not. */
	assert_true(readable(wa));
	assert_false(readable(w0));
	assert_int_equal(drain(wa), 1);
	/* send from a -> dom0's wait fd; and back. */
	assert_int_equal(evtchn_send(f->hv, f->a, pa), 0);
	assert_true(readable(w0));
	assert_false(readable(wa));
	assert_int_equal(drain(w0), 1);
	assert_int_equal(evtchn_send(f->hv, 0, p0), 0);
	assert_true(readable(wa));
	drain(wa);
	/* Data path: writing the notify fd signals the peer without the hv. */
	assert_int_equal(write(na, &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_true(readable(w0));
	drain(w0);
	memset(&st, 0, sizeof(st));
	st.dom = f->a;
	st.port = pa;
	assert_int_equal(evtchn_status(f->hv, 0, &st), 0);
	assert_int_equal(st.status, EVTCHNSTAT_interdomain);
	assert_int_equal(st.u.interdomain.dom, 0);
	assert_int_equal(st.u.interdomain.port, p0);
	close(w0);
	close(n0);
	close(wa);
	close(na);
}

static void test_close_stops_signals(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p0, pa, pa2;
	int w0, n0, wa, na, w0b, n0b;
	uint64_t one = 1;
	struct evtchn_status st;

	bind_pair(f, &p0, &pa);
	assert_int_equal(evtchn_get_fds(f->hv, 0, p0, &w0, &n0), 0);
	assert_int_equal(evtchn_get_fds(f->hv, f->a, pa, &wa, &na), 0);
	drain(wa);
	assert_int_equal(evtchn_close(f->hv, f->a, pa), 0);
	/* dom0's port is unbound again, reserved for a. */
	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = p0;
	assert_int_equal(evtchn_status(f->hv, 0, &st), 0);
	assert_int_equal(st.status, EVTCHNSTAT_unbound);
	assert_int_equal(st.u.unbound.dom, f->a);
	/* Sending on either side now is harmless and signals nothing. */
	assert_int_equal(evtchn_send(f->hv, 0, p0), 0);
	assert_int_equal(evtchn_send(f->hv, f->a, pa), 0);
	assert_false(readable(w0));
	assert_false(readable(wa));
	assert_int_equal(evtchn_get_fds(f->hv, 0, p0, &w0b, &n0b), -ENOTCONN);
	/* a rebinds: fresh eventfds; the stale notify fd a kept reaches no waiter. */
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, p0, &pa2), 0);
	assert_int_equal(evtchn_get_fds(f->hv, 0, p0, &w0b, &n0b), 0);
	assert_int_equal(write(na, &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_false(readable(w0b));
	assert_int_equal(evtchn_send(f->hv, f->a, pa2), 0);
	assert_true(readable(w0b));
	close(w0);
	close(n0);
	close(wa);
	close(na);
	close(w0b);
	close(n0b);
}

static void test_bind_not_reserved(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p0, pl;

	/* Offered to b; a may not take it. */
	assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->b, &p0), 0);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, p0, &pl), -EINVAL);
	/* A closed port, port 0, out of range. */
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, p0 + 1, &pl), -EINVAL);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, 0, &pl), -EINVAL);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, 100000, &pl), -EINVAL);
	/* An already bound port. */
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->b, 0, p0, &pl), 0);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->b, 0, p0, &pl), -EINVAL);
	/* Unknown remote domain. */
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 999, 1, &pl), -ESRCH);
}

static void test_send_closed_harmless(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p;

	assert_int_equal(evtchn_send(f->hv, f->a, 5), 0); /* never used */
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &p), 0);
	assert_int_equal(evtchn_send(f->hv, f->a, p), 0);       /* unbound */
	assert_int_equal(evtchn_send(f->hv, f->a, 0), -EINVAL); /* port 0 */
	assert_int_equal(evtchn_send(f->hv, f->a, 1024), -EINVAL);
}

static void test_status_other_domain(void **state)
{
	struct fx *f = *state;
	struct evtchn_status st;
	evtchn_port_t p0, pa;

	bind_pair(f, &p0, &pa);
	memset(&st, 0, sizeof(st));
	st.dom = 0;
	st.port = p0;
	assert_int_equal(evtchn_status(f->hv, f->b, &st), -EPERM);
	st.dom = f->a;
	st.port = pa;
	assert_int_equal(evtchn_status(f->hv, f->b, &st), -EPERM);
	assert_int_equal(evtchn_status(f->hv, f->a, &st), 0);
}

static void test_own_ports_only(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p0, pa;
	struct evtchn_status st;

	bind_pair(f, &p0, &pa);
	/* b has no port pa (closed in b's table): close -> -EINVAL, send harmless. */
	assert_int_equal(evtchn_close(f->hv, f->b, pa), -EINVAL);
	assert_int_equal(evtchn_send(f->hv, f->b, pa), 0);
	memset(&st, 0, sizeof(st));
	st.dom = f->a;
	st.port = pa;
	assert_int_equal(evtchn_status(f->hv, 0, &st), 0);
	assert_int_equal(st.status, EVTCHNSTAT_interdomain);
	assert_int_equal(evtchn_close(f->hv, f->a, pa), 0);
	assert_int_equal(evtchn_close(f->hv, f->a, pa), -EINVAL); /* already closed */
	assert_int_equal(evtchn_close(f->hv, f->a, 0), -EINVAL);
}

static void test_port_exhaustion(void **state)
{
	struct fx *f = *state;
	domid_t c = make_dom(f->hv, "c", 4);
	evtchn_port_t p;
	int i;

	for (i = 1; i < 4; i++) {
		assert_int_equal(evtchn_alloc_unbound(f->hv, c, DOMID_SELF, 0, &p), 0);
		assert_int_equal(p, (evtchn_port_t)i);
	}
	assert_int_equal(evtchn_alloc_unbound(f->hv, c, DOMID_SELF, 0, &p), -ENOSPC);
	assert_int_equal(evtchn_close(f->hv, c, 2), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, c, DOMID_SELF, 0, &p), 0);
	assert_int_equal(p, 2);
}

static void test_destroy_unbinds_peer(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p0, pa;
	struct evtchn_status st;
	struct hv_domain_info info;
	int w0, n0;

	bind_pair(f, &p0, &pa);
	assert_int_equal(hv_domain_get_info(f->hv, f->a, &info), 0);
	assert_int_equal(info.nr_ports_bound, 1);
	assert_int_equal(evtchn_get_fds(f->hv, 0, p0, &w0, &n0), 0);
	assert_int_equal(hv_domain_destroy(f->hv, f->a), 0);
	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = p0;
	assert_int_equal(evtchn_status(f->hv, 0, &st), 0);
	assert_int_equal(st.status, EVTCHNSTAT_unbound);
	assert_int_equal(evtchn_send(f->hv, 0, p0), 0);
	assert_int_equal(evtchn_send(f->hv, f->a, pa), -ESRCH);
	close(w0);
	close(n0);
}

static void test_loopback_same_domain(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p1, p2;
	int w1, n1;

	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, DOMID_SELF, &p1), 0);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, DOMID_SELF, p1, &p2), 0);
	assert_true(p1 != p2);
	assert_int_equal(evtchn_get_fds(f->hv, f->a, p1, &w1, &n1), 0);
	assert_false(readable(w1));
	assert_int_equal(evtchn_send(f->hv, f->a, p2), 0);
	assert_true(readable(w1));
	close(w1);
	close(n1);
}


/* A guest cannot open more than HV_LIMIT_EVTCHNS ports, whatever way it allocates
 * them (alloc_unbound, bind_interdomain, loopback); the refusal is Xen's -ENOSPC and
 * is counted; dom0 and other guests are not limited by it; a close makes room. */
static void test_evtchn_limit_per_domain(void **state)
{
	struct fx *f = *state;
	struct hv_domain_info info;
	evtchn_port_t p, p0, pl[5];
	int i;

	assert_int_equal(hv_get_limit(f->hv, HV_LIMIT_EVTCHNS), HV_DEFAULT_EVTCHN_LIMIT);
	assert_int_equal(hv_set_limit(f->hv, HV_LIMIT_EVTCHNS, 5), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &pl[i]), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->a, &p0), 0);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, p0, &pl[4]), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, DOMID_SELF, &p), -ENOSPC);
	assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->a, &p0), 0);
	assert_int_equal(evtchn_bind_interdomain(f->hv, f->a, 0, p0, &p), -ENOSPC);
	/* dom0 allocating a port OF the guest is refused the same way */
	assert_int_equal(evtchn_alloc_unbound(f->hv, 0, f->a, 0, &p), -ENOSPC);
	assert_int_equal(hv_domain_get_info(f->hv, f->a, &info), 0);
	assert_int_equal(info.nr_ports_bound, 5);
	assert_int_equal(info.evtchn_refused, 3);
	/* the other guest and dom0 keep allocating */
	for (i = 0; i < 5; i++)
		assert_int_equal(evtchn_alloc_unbound(f->hv, f->b, DOMID_SELF, 0, &p), 0);
	for (i = 0; i < 20; i++)
		assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->b, &p), 0);
	assert_int_equal(hv_domain_get_info(f->hv, f->b, &info), 0);
	assert_int_equal(info.evtchn_refused, 0);
	/* closing one port frees one slot of the limit; the lowest port is reused */
	assert_int_equal(evtchn_close(f->hv, f->a, pl[1]), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &p), 0);
	assert_int_equal(p, pl[1]);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &p), -ENOSPC);
	/* a peer's close leaves our port unbound: still ours, still counted */
	assert_int_equal(hv_domain_get_info(f->hv, f->a, &info), 0);
	assert_int_equal(info.nr_ports_bound, 5);
}

/* The default limit (1023) holds with a table larger than it. */
static void test_evtchn_default_limit(void **state)
{
	struct fx *f = *state;
	domid_t c = make_dom(f->hv, "big", 4096);
	evtchn_port_t p;
	unsigned i;

	for (i = 0; i < HV_DEFAULT_EVTCHN_LIMIT; i++)
		assert_int_equal(evtchn_alloc_unbound(f->hv, c, DOMID_SELF, 0, &p), 0);
	assert_int_equal(p, HV_DEFAULT_EVTCHN_LIMIT);
	assert_int_equal(evtchn_alloc_unbound(f->hv, c, DOMID_SELF, 0, &p), -ENOSPC);
	/* the limit applies live: raising it lets the guest go on */
	assert_int_equal(hv_set_limit(f->hv, HV_LIMIT_EVTCHNS, 2000), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, c, DOMID_SELF, 0, &p), 0);
	assert_int_equal(hv_domain_destroy(f->hv, c), 0);
}

/* dom0's table is large enough for thousands of netback queues. */
static void test_dom0_ports(void **state)
{
	struct fx *f = *state;
	evtchn_port_t p;
	unsigned i;

	for (i = 0; i < 5000; i++)
		assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->a, &p), 0);
	assert_int_equal(p, 5000);
}


/* With a ledger set, each refusal is noted there (pvnet info shows it). */
static void test_evtchn_refusal_noted_in_ledger(void **state)
{
	struct fx *f = *state;
	struct quota_ledger *q;
	evtchn_port_t p;

	assert_int_equal(quota_ledger_create(NULL, &q), 0);
	hv_set_quota(f->hv, q);
	assert_int_equal(hv_set_limit(f->hv, HV_LIMIT_EVTCHNS, 1), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &p), 0);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &p), -ENOSPC);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &p), -ENOSPC);
	assert_int_equal(quota_refusals(q, QUOTA_EVTCHNS), 2);
	assert_int_equal(quota_refusals(q, QUOTA_GNT_MAPS), 0);
	hv_set_quota(f->hv, NULL);
	quota_ledger_destroy(q);
	assert_int_equal(evtchn_alloc_unbound(f->hv, f->a, DOMID_SELF, 0, &p), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_alloc_unbound_status),
		T(test_bind_signals),
		T(test_close_stops_signals),
		T(test_bind_not_reserved),
		T(test_send_closed_harmless),
		T(test_status_other_domain),
		T(test_own_ports_only),
		T(test_port_exhaustion),
		T(test_destroy_unbinds_peer),
		T(test_loopback_same_domain),
		T(test_evtchn_limit_per_domain),
		T(test_evtchn_default_limit),
		T(test_dom0_ports),
		T(test_evtchn_refusal_noted_in_ledger),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
