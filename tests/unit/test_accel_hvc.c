/*
 * Unit tests for the ACCEL_QP hypercall (NIC Levels 2-3): hv/hypercall.c with
 * a connector like netback's against guest/hvc.c over real SOCK_SEQPACKET
 * socketpairs. A guest gets the queue pair of its OWN vif only: another
 * domain's id is -EPERM before the connector is asked, a vif the connector
 * does not know for the calling domain is its error, and no fd leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/hypercall.h>

#define PAGE 4096u
#define NGUESTS 2
#define QP_SIZE (3 * PAGE)

struct fx {
	struct hv *hv;
	domid_t id[NGUESTS];
	int srv_sock[NGUESTS];
	int gst_sock[NGUESTS];
	int stop;
	pthread_t thr;
	int qp_mem; /* the "NIC" queue pair of guest 0's vif 0 */
	int calls;  /* connector calls */
	domid_t last_domid;
};

static void *server(void *arg)
{
	struct fx *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p[NGUESTS];

		for (int i = 0; i < NGUESTS; i++)
			p[i] = (struct pollfd){.fd = f->srv_sock[i], .events = POLLIN};
		if (poll(p, NGUESTS, 20) <= 0)
			continue;
		for (int i = 0; i < NGUESTS; i++)
			if (p[i].fd >= 0 && p[i].revents &&
			    hv_hypercall_handle(f->hv, f->id[i], f->srv_sock[i]) == -ECONNRESET) {
				close(f->srv_sock[i]);
				f->srv_sock[i] = -1;
			}
	}
	return NULL;
}

/* netback's rule: only the calling domain's own vif 0, qp 0, has a queue pair. */
static int connector(void *arg, domid_t domid, uint32_t handle, uint32_t qp,
		     struct hv_accel_qp *out)
{
	struct fx *f = arg;

	f->calls++;
	f->last_domid = domid;
	if (domid != f->id[0] || handle != 0 || qp != 0)
		return -ENOENT;
	out->mem_fd = dup(f->qp_mem);
	out->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	out->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	out->ring_len = 64;
	out->mem_size = QP_SIZE;
	out->tx_ring_off = PAGE;
	out->rx_ring_off = 2 * PAGE;
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct hv_domain_config cfg;
	int sv[2];

	assert_non_null(f);
	assert_int_equal(hv_create(&f->hv), 0);
	for (int i = 0; i < NGUESTS; i++) {
		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.name, sizeof(cfg.name), "g%d", i);
		cfg.mem_size = 64 * PAGE;
		cfg.nr_grant_frames = 1;
		assert_int_equal(hv_domain_create(f->hv, &cfg, &f->id[i]), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		f->srv_sock[i] = sv[0];
		f->gst_sock[i] = sv[1];
	}
	f->qp_mem = memfd_create("qp", MFD_CLOEXEC);
	assert_true(f->qp_mem >= 0);
	assert_int_equal(ftruncate(f->qp_mem, QP_SIZE), 0);
	assert_int_equal(pthread_create(&f->thr, NULL, server, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_join(f->thr, NULL);
	for (int i = 0; i < NGUESTS; i++) {
		if (f->srv_sock[i] >= 0)
			close(f->srv_sock[i]);
		if (f->gst_sock[i] >= 0)
			close(f->gst_sock[i]);
	}
	close(f->qp_mem);
	hv_destroy(f->hv);
	free(f);
	return 0;
}

static struct hvc *open_guest(struct fx *f, int i)
{
	struct hvc *h = NULL;

	assert_int_equal(hvc_open(f->gst_sock[i], &h), 0);
	f->gst_sock[i] = -1;
	return h;
}

static void test_no_connector(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct hvc_accel_qp m;

	assert_int_equal(hvc_accel_qp_get(h, DOMID_SELF, 0, 0, &m), -ENOSYS);
	hvc_close(h);
}

static void test_own_qp(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct hvc_accel_qp m;
	uint64_t v = 0;
	uint8_t *p;

	hv_set_accel_connector(f->hv, connector, f);
	assert_int_equal(hvc_accel_qp_get(h, DOMID_SELF, 0, 0, &m), 0);
	assert_int_equal(f->last_domid, f->id[0]); /* the socket's domain, not the message's */
	assert_int_equal(m.ring_len, 64);
	assert_int_equal(m.mem_size, QP_SIZE);
	assert_int_equal(m.tx_ring_off, PAGE);
	assert_int_equal(m.rx_ring_off, 2 * PAGE);
	/* the same memory as the NIC's, and working eventfds */
	p = mmap(NULL, QP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, m.mem_fd, 0);
	assert_true(p != MAP_FAILED);
	p[PAGE + 5] = 0x5a;
	assert_int_equal(pread(f->qp_mem, &v, 1, PAGE + 5), 1);
	assert_int_equal(v, 0x5a);
	munmap(p, QP_SIZE);
	v = 1;
	assert_int_equal(write(m.doorbell_fd, &v, 8), 8);
	assert_int_equal(read(m.doorbell_fd, &v, 8), 8);
	close(m.mem_fd);
	close(m.doorbell_fd);
	close(m.irq_fd);
	/* its own id instead of DOMID_SELF is the same */
	assert_int_equal(hvc_accel_qp_get(h, f->id[0], 0, 0, &m), 0);
	close(m.mem_fd);
	close(m.doorbell_fd);
	close(m.irq_fd);
	hvc_close(h);
}

static void test_other_domain_eperm(void **state)
{
	struct fx *f = *state;
	struct hvc *h1 = open_guest(f, 1);
	struct hvc_accel_qp m = {.mem_fd = -1};
	int before;

	hv_set_accel_connector(f->hv, connector, f);
	before = count_fds();
	/* guest 1 names guest 0's domain: refused before the connector is asked */
	assert_int_equal(hvc_accel_qp_get(h1, f->id[0], 0, 0, &m), -EPERM);
	assert_int_equal(f->calls, 0);
	assert_int_equal(hvc_accel_qp_get(h1, 0, 0, 0, &m), -EPERM); /* nor dom0's */
	/* its own vif 0 has no queue pair: the connector says so */
	assert_int_equal(hvc_accel_qp_get(h1, DOMID_SELF, 0, 0, &m), -ENOENT);
	assert_int_equal(f->last_domid, f->id[1]);
	assert_int_equal(m.mem_fd, -1);
	/* nothing leaked on either side (the server may still be closing the HELLO fds
	 * it sent before `before` was taken, so the count can only go down) */
	assert_true(count_fds() <= before);
	hvc_close(h1);
}

static void test_bad_index(void **state)
{
	struct fx *f = *state;
	struct hvc *h = open_guest(f, 0);
	struct hvc_accel_qp m;

	hv_set_accel_connector(f->hv, connector, f);
	assert_int_equal(hvc_accel_qp_get(h, DOMID_SELF, 1, 0, &m), -ENOENT);
	assert_int_equal(hvc_accel_qp_get(h, DOMID_SELF, 0, 7, &m), -ENOENT);
	hv_set_accel_connector(f->hv, NULL, NULL);
	assert_int_equal(hvc_accel_qp_get(h, DOMID_SELF, 0, 0, &m), -ENOSYS);
	hvc_close(h);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_no_connector),
		T(test_own_qp),
		T(test_other_domain_eperm),
		T(test_bad_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
