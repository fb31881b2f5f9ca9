/*
 * Unit tests for the hypercall transport: hv/hypercall.c (server) against
 * guest/hvc.c (guest client) over real SOCK_SEQPACKET socketpairs. A server
 * thread plays pvnetd's control loop; the test thread plays the guests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/hypercall.h>

#define PAGE 4096u
#define NGUESTS 2

struct fx {
	struct hv *hv;
	domid_t id[NGUESTS];
	int srv_sock[NGUESTS]; /* pvnetd's ends; -1 once the guest hung up */
	int gst_sock[NGUESTS];
	int hangups;
	int stop;
	pthread_t thr;
	int xs_peer; /* test's end of the last store connection */
};

static void *server(void *arg)
{
	struct fx *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p[NGUESTS];
		int i;

		for (i = 0; i < NGUESTS; i++) {
			p[i].fd = f->srv_sock[i];
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		if (poll(p, NGUESTS, 20) <= 0)
			continue;
		for (i = 0; i < NGUESTS; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (hv_hypercall_handle(f->hv, f->id[i], f->srv_sock[i]) == -ECONNRESET) {
				close(f->srv_sock[i]);
				f->srv_sock[i] = -1;
				__atomic_add_fetch(&f->hangups, 1, __ATOMIC_RELEASE);
			}
		}
	}
	return NULL;
}

static int xs_connect(void *arg, domid_t domid)
{
	struct fx *f = arg;
	int sv[2];

	(void)domid;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (f->xs_peer >= 0)
		close(f->xs_peer);
	f->xs_peer = sv[0];
	return sv[1];
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct hv_domain_config cfg;
	int i, sv[2];

	assert_non_null(f);
	f->xs_peer = -1;
	assert_int_equal(hv_create(&f->hv), 0);
	for (i = 0; i < NGUESTS; i++) {
		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.name, sizeof(cfg.name), "g%d", i);
		cfg.mem_size = 64 * PAGE;
		cfg.nr_grant_frames = 1;
		assert_int_equal(hv_domain_create(f->hv, &cfg, &f->id[i]), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		f->srv_sock[i] = sv[0];
		f->gst_sock[i] = sv[1];
	}
	assert_int_equal(pthread_create(&f->thr, NULL, server, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int i;

	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_join(f->thr, NULL);
	for (i = 0; i < NGUESTS; i++) {
		if (f->srv_sock[i] >= 0)
			close(f->srv_sock[i]);
		if (f->gst_sock[i] >= 0)
			close(f->gst_sock[i]);
	}
	if (f->xs_peer >= 0)
		close(f->xs_peer);
	hv_destroy(f->hv);
	free(f);
	return 0;
}

/* Opens guest i; the hvc owns the socket from now on. */
static struct hvc *open_guest(struct fx *f, int i)
{
	struct hvc *h = NULL;

	assert_int_equal(hvc_open(f->gst_sock[i], &h), 0);
	f->gst_sock[i] = -1;
	return h;
}

static void test_hello_and_map(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct grant_entry_v1 *gt;
	struct gnttab_map_grant_ref op;
	unsigned nr;
	size_t size;
	uint8_t *mem;

	assert_int_equal(hvc_domid(h), f->id[0]);
	mem = hvc_mem(h, &size);
	assert_int_equal(size, 64 * PAGE);
	gt = hvc_grant_table(h, &nr);
	assert_int_equal(nr, 512);
	assert_int_equal(hvc_take_xs_fd(h), -ENOENT); /* no connector registered */
	/* The guest grants frame 7; dom0 maps it and sees the guest's bytes. */
	memcpy(mem + 7 * PAGE + 10, "from the guest", 15);
	gnttab_grant_access(gt, 9, 0, 7, false);
	memset(&op, 0, sizeof(op));
	op.dom = f->id[0];
	op.ref = 9;
	op.flags = GNTMAP_host_map;
	assert_int_equal(gnttab_map_grant_ref(f->hv, 0, &op, 1), 0);
	assert_int_equal(op.status, GNTST_okay);
	assert_string_equal((char *)(uintptr_t)op.host_addr + 10, "from the guest");
	assert_int_equal(gnttab_end_access(gt, 9), -EBUSY);
	{
		struct gnttab_unmap_grant_ref u = {.handle = op.handle};
		assert_int_equal(gnttab_unmap_grant_ref(f->hv, 0, &u, 1), 0);
		assert_int_equal(u.status, GNTST_okay);
	}
	assert_int_equal(gnttab_end_access(gt, 9), 0);
	hvc_close(h);
}

static void test_hello_store_fd(void **state)
{
	struct fx *f = *state;
	struct hvc *h;
	char buf[8] = {0};
	int xs;

	hv_set_xs_connector(f->hv, xs_connect, f);
	h = open_guest(f, 0);
	xs = hvc_take_xs_fd(h);
	assert_true(xs >= 0);
	assert_int_equal(hvc_take_xs_fd(h), -ENOENT);
	assert_int_equal(write(xs, "ping", 4), 4);
	assert_int_equal(read(f->xs_peer, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "ping");
	close(xs);
	hvc_close(h);
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 1000) == 1 && (p.revents & POLLIN);
}

static void test_evtchn_over_hypercall(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct evtchn_status st;
	evtchn_port_t gp, p0;
	int w, n, w0, n0;
	uint64_t v;

	assert_int_equal(hvc_evtchn_alloc_unbound(h, 0, &gp), 0);
	assert_int_equal(evtchn_bind_interdomain(f->hv, 0, f->id[0], gp, &p0), 0);
	assert_int_equal(hvc_evtchn_get_fds(h, gp, &w, &n), 0);
	assert_int_equal(evtchn_get_fds(f->hv, 0, p0, &w0, &n0), 0);
	/* dom0 -> guest through the hv, guest -> dom0 by hypercall and by fd. */
	while (read(w0, &v, sizeof(v)) == sizeof(v))
		;
	assert_int_equal(evtchn_send(f->hv, 0, p0), 0);
	assert_true(readable(w));
	assert_int_equal(read(w, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(hvc_evtchn_send(h, gp), 0);
	assert_true(readable(w0));
	assert_int_equal(read(w0, &v, sizeof(v)), (ssize_t)sizeof(v));
	v = 1;
	assert_int_equal(write(n, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_true(readable(w0));
	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = gp;
	assert_int_equal(hvc_evtchn_status(h, &st), 0);
	assert_int_equal(st.status, EVTCHNSTAT_interdomain);
	assert_int_equal(st.u.interdomain.dom, 0);
	assert_int_equal(st.u.interdomain.port, p0);
	/* Another domain's port: refused. */
	st.dom = 0;
	st.port = p0;
	assert_int_equal(hvc_evtchn_status(h, &st), -EPERM);
	/* Binding a port not reserved for us. */
	{
		evtchn_port_t other, lp;
		assert_int_equal(evtchn_alloc_unbound(f->hv, 0, DOMID_SELF, f->id[1], &other), 0);
		assert_int_equal(hvc_evtchn_bind_interdomain(h, 0, other, &lp), -EINVAL);
	}
	assert_int_equal(hvc_evtchn_close(h, gp), 0);
	assert_int_equal(hvc_evtchn_send(h, gp), 0); /* closed: harmless */
	assert_int_equal(hvc_evtchn_get_fds(h, gp, &w0, &n0), -ENOTCONN);
	close(w);
	close(n);
	close(w0);
	close(n0);
	hvc_close(h);
}

static void test_copy_guest_to_guest(void **state)
{
	struct fx *f = *state;
	struct hvc *a = open_guest(f, 0), *b = open_guest(f, 1);
	struct gnttab_copy ops[2];
	uint8_t *am = hvc_mem(a, NULL), *bm = hvc_mem(b, NULL);

	/* b grants its frame 3 to a; a copies from its own frame 2 into it. */
	memcpy(am + 2 * PAGE, "guest a data", 13);
	gnttab_grant_access(hvc_grant_table(b, NULL), 4, f->id[0], 3, false);
	memset(ops, 0, sizeof(ops));
	ops[0].flags = GNTCOPY_dest_gref;
	ops[0].source.domid = DOMID_SELF;
	ops[0].source.u.gmfn = 2;
	ops[0].dest.domid = f->id[1];
	ops[0].dest.u.ref = 4;
	ops[0].dest.offset = 100;
	ops[0].len = 13;
	ops[1] = ops[0];
	ops[1].dest.u.ref = 5; /* not granted */
	/* Array outside guest memory: goes through the scratch area. */
	assert_int_equal(hvc_gnttab_copy(a, ops, 2), 0);
	assert_int_equal(ops[0].status, GNTST_okay);
	assert_int_equal(ops[1].status, GNTST_permission_denied);
	assert_string_equal((char *)bm + 3 * PAGE + 100, "guest a data");
	/* Array inside guest memory: in place. */
	{
		struct gnttab_copy *in = (struct gnttab_copy *)(am + 10 * PAGE);
		in[0] = ops[0];
		in[0].dest.offset = 200;
		in[0].status = 55;
		assert_int_equal(hvc_gnttab_copy(a, in, 1), 0);
		assert_int_equal(in[0].status, GNTST_okay);
		assert_string_equal((char *)bm + 3 * PAGE + 200, "guest a data");
	}
	/* A guest cannot use dom0's virtual-address extension. */
	ops[0].flags = GNTCOPY_source_va;
	ops[0].source.u.gmfn = (uint64_t)(uintptr_t)ops;
	ops[0].dest.domid = DOMID_SELF;
	ops[0].dest.u.gmfn = 1;
	assert_int_equal(hvc_gnttab_copy(a, ops, 1), 0);
	assert_int_equal(ops[0].status, GNTST_permission_denied);
	hvc_close(a);
	hvc_close(b);
}

static void test_transfer_and_balloon(void **state)
{
	struct fx *f = *state;
	struct hvc *a = open_guest(f, 0), *b = open_guest(f, 1);
	struct gnttab_transfer t;
	uint8_t *am = hvc_mem(a, NULL), *bm = hvc_mem(b, NULL);

	memset(am + 5 * PAGE, 0xab, PAGE);
	assert_int_equal(hvc_decrease_reservation(b, 20), 0);
	assert_int_equal(hvc_decrease_reservation(b, 64), -EINVAL);
	gnttab_grant_transfer(hvc_grant_table(b, NULL), 6, f->id[0], 20);
	memset(&t, 0, sizeof(t));
	t.mfn = 5;
	t.domid = f->id[1];
	t.ref = 6;
	assert_int_equal(hvc_gnttab_transfer(a, &t, 1), 0);
	assert_int_equal(t.status, GNTST_okay);
	assert_int_equal(bm[20 * PAGE + 4095], 0xab);
	assert_int_equal(am[5 * PAGE], 0);
	hvc_close(a);
	hvc_close(b);
}

static void test_batch_bounds(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct pvhc_msg req, rsp;

	memset(&req, 0, sizeof(req));
	req.hdr.magic = PVHC_MAGIC;
	req.hdr.version = PVHC_VERSION;
	req.hdr.op = PVHC_OP_GNTTAB_COPY;
	req.args.batch.count = PVHC_MAX_BATCH + 1;
	assert_int_equal(hvc_call_raw(h, &req, sizeof(req), &rsp, sizeof(rsp)), (int)sizeof(rsp));
	assert_int_equal(rsp.hdr.ret, -EINVAL);
	req.args.batch.count = 0;
	assert_int_equal(hvc_call_raw(h, &req, sizeof(req), &rsp, sizeof(rsp)), (int)sizeof(rsp));
	assert_int_equal(rsp.hdr.ret, -EINVAL);
	req.args.batch.count = 2;
	req.args.batch.gpa = 64 * PAGE - 40; /* second op past the end */
	assert_int_equal(hvc_call_raw(h, &req, sizeof(req), &rsp, sizeof(rsp)), (int)sizeof(rsp));
	assert_int_equal(rsp.hdr.ret, -EFAULT);
	req.args.batch.gpa = UINT64_MAX - 8;
	assert_int_equal(hvc_call_raw(h, &req, sizeof(req), &rsp, sizeof(rsp)), (int)sizeof(rsp));
	assert_int_equal(rsp.hdr.ret, -EFAULT);
	hvc_close(h);
}

/* Sends a malformed message; expects an error reply, then a valid call works. */
static void expect_error_then_ok(struct hvc *h, const void *msg, size_t len, int err)
{
	struct pvhc_msg rsp;
	struct evtchn_status st;
	evtchn_port_t p;

	memset(&rsp, 0, sizeof(rsp));
	assert_int_equal(hvc_call_raw(h, msg, len, &rsp, sizeof(rsp)), (int)sizeof(rsp));
	assert_int_equal(rsp.hdr.magic, PVHC_MAGIC);
	assert_int_equal(rsp.hdr.ret, err);
	assert_int_equal(rsp.hdr.nfds, 0);
	assert_int_equal(hvc_evtchn_alloc_unbound(h, 0, &p), 0);
	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = p;
	assert_int_equal(hvc_evtchn_status(h, &st), 0);
	assert_int_equal(st.status, EVTCHNSTAT_unbound);
}

static void valid_header(struct pvhc_msg *m, uint16_t op)
{
	memset(m, 0, sizeof(*m));
	m->hdr.magic = PVHC_MAGIC;
	m->hdr.version = PVHC_VERSION;
	m->hdr.op = op;
	m->hdr.seq = 0x1234;
}

static void test_truncated_message(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct pvhc_msg m;

	valid_header(&m, PVHC_OP_EVTCHN_SEND);
	expect_error_then_ok(h, &m, 10, -EINVAL);
	expect_error_then_ok(h, &m, sizeof(m) - 1, -EINVAL);
	hvc_close(h);
}

static void test_oversized_message(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	uint8_t big[PVHC_MSG_SIZE * 4];

	valid_header((struct pvhc_msg *)big, PVHC_OP_EVTCHN_SEND);
	memset(big + PVHC_MSG_SIZE, 0xff, sizeof(big) - PVHC_MSG_SIZE);
	expect_error_then_ok(h, big, sizeof(big), -EINVAL);
	expect_error_then_ok(h, big, PVHC_MSG_SIZE + 1, -EINVAL);
	hvc_close(h);
}

static void test_wrong_magic_version(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct pvhc_msg m;

	valid_header(&m, PVHC_OP_EVTCHN_SEND);
	m.hdr.magic = 0xdeadbeef;
	expect_error_then_ok(h, &m, sizeof(m), -EINVAL);
	valid_header(&m, PVHC_OP_EVTCHN_SEND);
	m.hdr.version = 2;
	expect_error_then_ok(h, &m, sizeof(m), -EINVAL);
	hvc_close(h);
}

static void test_unknown_op(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct pvhc_msg m;

	valid_header(&m, 0);
	expect_error_then_ok(h, &m, sizeof(m), -ENOSYS);
	valid_header(&m, PVHC_OP_MAX + 1);
	expect_error_then_ok(h, &m, sizeof(m), -ENOSYS);
	valid_header(&m, 0xffff);
	expect_error_then_ok(h, &m, sizeof(m), -ENOSYS);
	hvc_close(h);
}

static void test_seq_echoed(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct pvhc_msg m, rsp;

	valid_header(&m, PVHC_OP_EVTCHN_SEND);
	m.hdr.seq = 0xabcdef;
	m.args.port.port = 3;
	assert_int_equal(hvc_call_raw(h, &m, sizeof(m), &rsp, sizeof(rsp)), (int)sizeof(rsp));
	assert_int_equal(rsp.hdr.seq, 0xabcdef);
	assert_int_equal(rsp.hdr.op, PVHC_OP_EVTCHN_SEND);
	assert_int_equal(rsp.hdr.ret, 0);
	hvc_close(h);
}

static void test_hangup_detected(void **state)
{
	struct fx *f = *state;
	int i;

	close(f->gst_sock[0]);
	f->gst_sock[0] = -1;
	for (i = 0; i < 200 && !__atomic_load_n(&f->hangups, __ATOMIC_ACQUIRE); i++)
		usleep(5000);
	assert_int_equal(__atomic_load_n(&f->hangups, __ATOMIC_ACQUIRE), 1);
}

static void test_dispatch_direct(void **state)
{
	struct fx *f = *state;
	struct pvhc_msg m, rsp;
	int fds[PVHC_MAX_FDS], nfds = -1, i;

	valid_header(&m, PVHC_OP_HELLO);
	assert_int_equal(hv_hypercall_dispatch(f->hv, 999, &m, sizeof(m), &rsp, fds, &nfds),
			 -ESRCH);
	assert_int_equal(hv_hypercall_dispatch(f->hv, 0, &m, sizeof(m), &rsp, fds, &nfds), -EPERM);
	assert_int_equal(hv_hypercall_dispatch(f->hv, f->id[1], &m, sizeof(m), &rsp, fds, &nfds),
			 0);
	assert_int_equal(rsp.hdr.ret, 0);
	assert_int_equal(nfds, 2);
	assert_int_equal(rsp.args.hello.domid, f->id[1]);
	assert_int_equal(rsp.args.hello.mem_size, 64 * PAGE);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	/* Empty message. */
	assert_int_equal(hv_hypercall_dispatch(f->hv, f->id[1], &m, 0, &rsp, fds, &nfds), 0);
	assert_int_equal(rsp.hdr.ret, -EINVAL);
	assert_int_equal(nfds, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_hello_and_map),
		T(test_hello_store_fd),
		T(test_evtchn_over_hypercall),
		T(test_copy_guest_to_guest),
		T(test_transfer_and_balloon),
		T(test_batch_bounds),
		T(test_truncated_message),
		T(test_oversized_message),
		T(test_wrong_magic_version),
		T(test_unknown_op),
		T(test_seq_echoed),
		T(test_hangup_detected),
		T(test_dispatch_direct),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
