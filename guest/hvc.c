/* SPDX-License-Identifier: MIT */
/*
 * guest/hvc.c - guest-side hypercall client (pvnet/hvc.h), the guest library.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

#include <pvnet/hvc.h>
#include <pvnet/hypercall.h>
#include <pvnet/migrate.h>

#define HVC_PAGE 4096u

struct hvc {
	int sock;
	pthread_mutex_t lock; /* one outstanding request */
	uint32_t seq;
	domid_t domid;
	uint8_t *mem;
	uint64_t mem_size;
	struct grant_entry_v1 *gnt;
	uint32_t nr_grant_frames, nr_grant_entries;
	uint64_t scratch_pfn;
	int xs_fd;
	int mem_fd, gnt_fd;      /* kept to hand back to a restarted pvnetd (hvc_reattach) */
	struct hvc_logdirty *ld; /* hvc_logdirty_start, NULL when off */
};

static void close_fds(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int sock_send(int sock, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = send(sock, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	return 0;
}

/* Receives one message; fds (up to PVHC_MAX_FDS) into fds, *nfds their count. */
static ssize_t sock_recv(int sock, void *buf, size_t len, int *fds, int *nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * PVHC_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	mh.msg_control = cbuf.b;
	mh.msg_controllen = sizeof(cbuf.b);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int), i;
			for (i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				if (*nfds < PVHC_MAX_FDS)
					fds[(*nfds)++] = fd;
				else
					close(fd);
			}
		}
	}
	if (n == 0)
		return -ECONNRESET;
	return n;
}

/*
 * One request/response. On success the reply is in *rsp, its fds (the caller
 * owns them) in fds/nfds, and the return is the reply's hdr.ret.
 */
static int call_locked(struct hvc *h, struct pvhc_msg *req, struct pvhc_msg *rsp, int *fds,
		       int *nfds)
{
	ssize_t n;
	int ret;

	req->hdr.magic = PVHC_MAGIC;
	req->hdr.version = PVHC_VERSION;
	req->hdr.seq = ++h->seq;
	req->hdr.ret = 0;
	req->hdr.nfds = 0;
	ret = sock_send(h->sock, req, sizeof(*req));
	if (ret < 0)
		return ret;
	for (;;) {
		n = sock_recv(h->sock, rsp, sizeof(*rsp), fds, nfds);
		if (n < 0)
			return (int)n;
		if (n == sizeof(*rsp) && rsp->hdr.magic == PVHC_MAGIC && rsp->hdr.seq == h->seq)
			break;
		close_fds(fds, *nfds); /* a stale or foreign reply */
	}
	if (rsp->hdr.nfds != (uint32_t)*nfds) {
		close_fds(fds, *nfds);
		*nfds = 0;
		return -EPROTO;
	}
	return rsp->hdr.ret;
}

static int call(struct hvc *h, struct pvhc_msg *req, struct pvhc_msg *rsp, int *fds, int *nfds)
{
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = call_locked(h, req, rsp, fds, nfds);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/* A call with no fds expected. */
static int call_simple(struct hvc *h, uint16_t op, struct pvhc_msg *req, struct pvhc_msg *rsp)
{
	int fds[PVHC_MAX_FDS], nfds = 0, ret;

	req->hdr.op = op;
	ret = call(h, req, rsp, fds, &nfds);
	close_fds(fds, nfds);
	return ret;
}

int hvc_open(int sock, struct hvc **out)
{
	struct pvhc_msg req, rsp;
	struct hvc *h;
	int fds[PVHC_MAX_FDS], nfds = 0, ret;
	void *map;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->sock = sock;
	h->xs_fd = -1;
	h->mem_fd = h->gnt_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	memset(&req, 0, sizeof(req));
	req.hdr.op = PVHC_OP_HELLO;
	ret = call(h, &req, &rsp, fds, &nfds);
	if (ret < 0)
		goto fail;
	if (nfds < 2 || rsp.args.hello.mem_size == 0 || rsp.args.hello.mem_size % HVC_PAGE ||
	    rsp.args.hello.nr_grant_frames == 0 || (rsp.args.hello.has_xs && nfds != 3)) {
		ret = -EPROTO;
		goto close;
	}
	h->domid = rsp.args.hello.domid;
	h->mem_size = rsp.args.hello.mem_size;
	h->nr_grant_frames = rsp.args.hello.nr_grant_frames;
	h->nr_grant_entries = h->nr_grant_frames * (uint32_t)GNTTAB_ENTRIES_PER_FRAME;
	map = mmap(NULL, h->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto close;
	}
	h->mem = map;
	map = mmap(NULL, (size_t)h->nr_grant_frames * HVC_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fds[1], 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto unmap;
	}
	h->gnt = map;
	{
		uint64_t frames = h->mem_size / HVC_PAGE;
		h->scratch_pfn = frames > HVC_SCRATCH_FRAMES ? frames - HVC_SCRATCH_FRAMES : 0;
	}
	if (rsp.args.hello.has_xs) {
		h->xs_fd = fds[2];
		fds[2] = -1;
	}
	h->mem_fd = fds[0];
	h->gnt_fd = fds[1];
	fds[0] = fds[1] = -1;
	close_fds(fds, nfds);
	*out = h;
	return 0;

unmap:
	munmap(h->mem, h->mem_size);
close:
	close_fds(fds, nfds);
fail:
	pthread_mutex_destroy(&h->lock);
	free(h);
	return ret;
}

void hvc_close(struct hvc *h)
{
	if (!h)
		return;
	hvc_logdirty_stop(h);
	if (h->gnt)
		munmap(h->gnt, (size_t)h->nr_grant_frames * HVC_PAGE);
	if (h->mem)
		munmap(h->mem, h->mem_size);
	if (h->xs_fd >= 0)
		close(h->xs_fd);
	if (h->mem_fd >= 0)
		close(h->mem_fd);
	if (h->gnt_fd >= 0)
		close(h->gnt_fd);
	close(h->sock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int hvc_sock(const struct hvc *h)
{
	return h->sock;
}

/* Sends one request with fds (SCM_RIGHTS). */
static int sock_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * PVHC_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	ssize_t n;

	memset(&cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf.b;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/*
 * HELLO on a new connection (re-adoption, migration): the answer must describe the
 * same domain (domid, memory and grant-table sizes) and bring the memory, grant
 * table and store fds. Called with h->lock held.
 */
static int hello_again(struct hvc *h, int *fds, int *nfds)
{
	struct pvhc_msg req, rsp;
	int ret;

	memset(&req, 0, sizeof(req));
	req.hdr.op = PVHC_OP_HELLO;
	ret = call_locked(h, &req, &rsp, fds, nfds);
	if (ret == 0 &&
	    (rsp.args.hello.domid != h->domid || rsp.args.hello.mem_size != h->mem_size ||
	     rsp.args.hello.nr_grant_frames != h->nr_grant_frames || !rsp.args.hello.has_xs ||
	     *nfds != 3))
		ret = -EPROTO;
	return ret;
}

int hvc_reattach(struct hvc *h, int sock)
{
	struct pvhc_msg req, rsp;
	int fds[PVHC_MAX_FDS], nfds = 0, ret, old;
	const int mine[2] = {h->mem_fd, h->gnt_fd};

	if (h->mem_fd < 0 || h->gnt_fd < 0)
		return -EBADF;
	pthread_mutex_lock(&h->lock);
	old = h->sock;
	h->sock = sock;
	/* ADOPT: our domid and sizes, our memory and grant-table memfds */
	memset(&req, 0, sizeof(req));
	req.hdr.magic = PVHC_MAGIC;
	req.hdr.version = PVHC_VERSION;
	req.hdr.op = PVHC_OP_ADOPT;
	req.hdr.seq = ++h->seq;
	req.hdr.nfds = 2;
	req.args.hello.domid = h->domid;
	req.args.hello.mem_size = h->mem_size;
	req.args.hello.nr_grant_frames = h->nr_grant_frames;
	ret = sock_send_fds(sock, &req, sizeof(req), mine, 2);
	while (ret == 0) {
		ssize_t n = sock_recv(sock, &rsp, sizeof(rsp), fds, &nfds);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		close_fds(fds, nfds);
		if (n == sizeof(rsp) && rsp.hdr.magic == PVHC_MAGIC && rsp.hdr.seq == h->seq) {
			ret = rsp.hdr.ret;
			break;
		}
	}
	/* then HELLO as at start: the same memory comes back, and a new store socket */
	if (ret == 0) {
		ret = hello_again(h, fds, &nfds);
		if (ret == 0) {
			if (h->xs_fd >= 0)
				close(h->xs_fd);
			h->xs_fd = fds[2];
			fds[2] = -1;
		}
		close_fds(fds, nfds);
	}
	if (ret < 0) {
		h->sock = old;
		pthread_mutex_unlock(&h->lock);
		return ret;
	}
	close(old);
	/* nobody maps our grants any more: flags of the old pvnetd's mappings are stale */
	for (uint32_t i = 0; i < h->nr_grant_entries; i++)
		__atomic_and_fetch(&h->gnt[i].flags, (uint16_t) ~(GTF_reading | GTF_writing),
				   __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

domid_t hvc_domid(const struct hvc *h)
{
	return h->domid;
}

void *hvc_mem(struct hvc *h, size_t *size)
{
	if (size)
		*size = h->mem_size;
	return h->mem;
}

uint64_t hvc_scratch_pfn(const struct hvc *h)
{
	return h->scratch_pfn;
}

struct grant_entry_v1 *hvc_grant_table(struct hvc *h, unsigned *nr_entries)
{
	if (nr_entries)
		*nr_entries = h->nr_grant_entries;
	return h->gnt;
}

int hvc_take_xs_fd(struct hvc *h)
{
	int fd;

	pthread_mutex_lock(&h->lock);
	fd = h->xs_fd;
	h->xs_fd = -1;
	pthread_mutex_unlock(&h->lock);
	return fd >= 0 ? fd : -ENOENT;
}

int hvc_evtchn_alloc_unbound(struct hvc *h, domid_t remote_dom, evtchn_port_t *port)
{
	struct pvhc_msg req, rsp;
	int ret;

	memset(&req, 0, sizeof(req));
	req.args.alloc_unbound.dom = DOMID_SELF;
	req.args.alloc_unbound.remote_dom = remote_dom;
	ret = call_simple(h, PVHC_OP_EVTCHN_ALLOC_UNBOUND, &req, &rsp);
	if (ret == 0)
		*port = rsp.args.alloc_unbound.port;
	return ret;
}

int hvc_evtchn_bind_interdomain(struct hvc *h, domid_t remote_dom, evtchn_port_t remote_port,
				evtchn_port_t *local_port)
{
	struct pvhc_msg req, rsp;
	int ret;

	memset(&req, 0, sizeof(req));
	req.args.bind_interdomain.remote_dom = remote_dom;
	req.args.bind_interdomain.remote_port = remote_port;
	ret = call_simple(h, PVHC_OP_EVTCHN_BIND_INTERDOMAIN, &req, &rsp);
	if (ret == 0)
		*local_port = rsp.args.bind_interdomain.local_port;
	return ret;
}

int hvc_evtchn_get_fds(struct hvc *h, evtchn_port_t port, int *wait_fd, int *notify_fd)
{
	struct pvhc_msg req, rsp;
	int fds[PVHC_MAX_FDS], nfds = 0, ret;

	memset(&req, 0, sizeof(req));
	req.hdr.op = PVHC_OP_EVTCHN_GET_FDS;
	req.args.port.port = port;
	ret = call(h, &req, &rsp, fds, &nfds);
	if (ret == 0 && nfds != 2)
		ret = -EPROTO;
	if (ret < 0) {
		close_fds(fds, nfds);
		return ret;
	}
	*wait_fd = fds[0];
	*notify_fd = fds[1];
	return 0;
}

static int port_op(struct hvc *h, uint16_t op, evtchn_port_t port)
{
	struct pvhc_msg req, rsp;

	memset(&req, 0, sizeof(req));
	req.args.port.port = port;
	return call_simple(h, op, &req, &rsp);
}

int hvc_evtchn_send(struct hvc *h, evtchn_port_t port)
{
	return port_op(h, PVHC_OP_EVTCHN_SEND, port);
}

int hvc_evtchn_close(struct hvc *h, evtchn_port_t port)
{
	return port_op(h, PVHC_OP_EVTCHN_CLOSE, port);
}

int hvc_evtchn_status(struct hvc *h, struct evtchn_status *st)
{
	struct pvhc_msg req, rsp;
	int ret;

	memset(&req, 0, sizeof(req));
	req.args.status.dom = st->dom;
	req.args.status.port = st->port;
	ret = call_simple(h, PVHC_OP_EVTCHN_STATUS, &req, &rsp);
	if (ret < 0)
		return ret;
	st->status = rsp.args.status.status;
	st->vcpu = rsp.args.status.vcpu;
	memset(&st->u, 0, sizeof(st->u));
	if (st->status == EVTCHNSTAT_unbound) {
		st->u.unbound.dom = rsp.args.status.remote_dom;
	} else if (st->status == EVTCHNSTAT_interdomain) {
		st->u.interdomain.dom = rsp.args.status.remote_dom;
		st->u.interdomain.port = rsp.args.status.remote_port;
	}
	return 0;
}

/*
 * Runs a batch of `count` elements of `elem` bytes with `status_off` the
 * offset of each element's int16 status. In place when the array is in guest
 * memory, else chunked through the scratch area.
 */
static int batch_call(struct hvc *h, uint16_t op, void *ops, unsigned count, size_t elem,
		      size_t status_off)
{
	uint8_t *base = ops;
	struct pvhc_msg req, rsp;
	size_t scratch_size = h->mem_size - h->scratch_pfn * HVC_PAGE;
	unsigned chunk_max, done = 0, n, i;
	int ret = 0;

	if (count == 0)
		return 0;
	if ((uintptr_t)base >= (uintptr_t)h->mem &&
	    (uintptr_t)base - (uintptr_t)h->mem <= h->mem_size &&
	    (size_t)count * elem <= h->mem_size - ((uintptr_t)base - (uintptr_t)h->mem)) {
		/* In place, in batches of PVHC_MAX_BATCH. */
		while (done < count) {
			n = count - done < PVHC_MAX_BATCH ? count - done : PVHC_MAX_BATCH;
			memset(&req, 0, sizeof(req));
			req.args.batch.gpa = (uint64_t)(base + (size_t)done * elem - h->mem);
			req.args.batch.count = n;
			ret = call_simple(h, op, &req, &rsp);
			if (ret < 0)
				return ret;
			done += n;
		}
		return 0;
	}
	chunk_max = (unsigned)(scratch_size / elem);
	if (chunk_max > PVHC_MAX_BATCH)
		chunk_max = PVHC_MAX_BATCH;
	if (chunk_max == 0)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock); /* the scratch area is shared by all threads */
	while (done < count) {
		uint8_t *scratch = h->mem + h->scratch_pfn * HVC_PAGE;
		int fds[PVHC_MAX_FDS], nfds = 0;

		n = count - done < chunk_max ? count - done : chunk_max;
		memcpy(scratch, base + (size_t)done * elem, (size_t)n * elem);
		memset(&req, 0, sizeof(req));
		req.hdr.op = op;
		req.args.batch.gpa = h->scratch_pfn * HVC_PAGE;
		req.args.batch.count = n;
		ret = call_locked(h, &req, &rsp, fds, &nfds);
		close_fds(fds, nfds);
		if (ret < 0)
			break;
		for (i = 0; i < n; i++)
			memcpy(base + (size_t)(done + i) * elem + status_off,
			       scratch + (size_t)i * elem + status_off, sizeof(int16_t));
		done += n;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

int hvc_gnttab_copy(struct hvc *h, struct gnttab_copy *ops, unsigned count)
{
	return batch_call(h, PVHC_OP_GNTTAB_COPY, ops, count, sizeof(*ops),
			  offsetof(struct gnttab_copy, status));
}

int hvc_gnttab_transfer(struct hvc *h, struct gnttab_transfer *ops, unsigned count)
{
	return batch_call(h, PVHC_OP_GNTTAB_TRANSFER, ops, count, sizeof(*ops),
			  offsetof(struct gnttab_transfer, status));
}

int hvc_decrease_reservation(struct hvc *h, xen_pfn_t pfn)
{
	struct pvhc_msg req, rsp;

	memset(&req, 0, sizeof(req));
	req.args.reservation.pfn = pfn;
	return call_simple(h, PVHC_OP_DECREASE_RESERVATION, &req, &rsp);
}

int hvc_accel_qp_get(struct hvc *h, domid_t dom, unsigned handle, unsigned qp,
		     struct hvc_accel_qp *out)
{
	struct pvhc_msg req, rsp;
	int fds[PVHC_MAX_FDS], nfds = 0, ret;

	memset(&req, 0, sizeof(req));
	req.hdr.op = PVHC_OP_ACCEL_QP;
	req.args.accel_qp.dom = dom;
	req.args.accel_qp.handle = handle;
	req.args.accel_qp.qp = qp;
	ret = call(h, &req, &rsp, fds, &nfds);
	if (ret == 0 &&
	    (nfds != 3 || rsp.args.accel_qp.mem_size == 0 || rsp.args.accel_qp.ring_len == 0 ||
	     (rsp.args.accel_qp.ring_len & (rsp.args.accel_qp.ring_len - 1))))
		ret = -EPROTO;
	if (ret < 0) {
		close_fds(fds, nfds);
		return ret;
	}
	out->mem_fd = fds[0];
	out->doorbell_fd = fds[1];
	out->irq_fd = fds[2];
	out->ring_len = rsp.args.accel_qp.ring_len;
	out->mem_size = rsp.args.accel_qp.mem_size;
	out->tx_ring_off = rsp.args.accel_qp.tx_ring_off;
	out->rx_ring_off = rsp.args.accel_qp.rx_ring_off;
	return 0;
}

int hvc_call_raw(struct hvc *h, const void *req, size_t len, void *rsp, size_t rsp_len)
{
	int fds[PVHC_MAX_FDS], nfds = 0, ret;
	ssize_t n;

	pthread_mutex_lock(&h->lock);
	ret = sock_send(h->sock, req, len);
	if (ret == 0) {
		n = sock_recv(h->sock, rsp, rsp_len, fds, &nfds);
		close_fds(fds, nfds);
		ret = (int)n;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/* --- Migration: log-dirty of the guest's own writes, resume on another host --- */

struct hvc_logdirty {
	struct hvc *h;
	int uffd, kick_fd, stop_fd;
	struct mig_logdirty_shared *shared;
	size_t size;
	uint64_t *live, *harvested, words;
	pthread_t thread;
	bool thread_up;
};

static int uffd_wp(int uffd, uint64_t start, uint64_t len, bool on)
{
	struct uffdio_writeprotect wp = {.range = {.start = start, .len = len},
					 .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -errno : 0;
}

/* Moves every live bit to harvested, write-protecting those frames again. */
static void ld_harvest(struct hvc_logdirty *ld)
{
	uint64_t base = (uintptr_t)ld->h->mem;

	for (uint64_t i = 0; i < ld->words; i++) {
		uint64_t w = __atomic_exchange_n(&ld->live[i], 0, __ATOMIC_ACQ_REL);
		/* one ioctl per run of consecutive frames (RX buffers come in blocks) */
		for (uint64_t b = w; b;) {
			unsigned first = (unsigned)__builtin_ctzll(b);
			uint64_t run = b >> first;
			unsigned len = ~run ? (unsigned)__builtin_ctzll(~run) : 64 - first;
			(void)uffd_wp(ld->uffd, base + (i * 64 + first) * HVC_PAGE,
				      (uint64_t)len * HVC_PAGE, true);
			b = first + len >= 64 ? 0 : b & ~(((1ull << len) - 1) << first);
		}
		if (w)
			__atomic_or_fetch(&ld->harvested[i], w, __ATOMIC_RELEASE);
	}
}

/* Serves the write faults (marks the frame, lifts the protection) and the harvests. */
static void *ld_thread(void *arg)
{
	struct hvc_logdirty *ld = arg;
	uint64_t base = (uintptr_t)ld->h->mem, frames = ld->h->mem_size / HVC_PAGE;

	for (;;) {
		struct pollfd p[3] = {{.fd = ld->uffd, .events = POLLIN},
				      {.fd = ld->kick_fd, .events = POLLIN},
				      {.fd = ld->stop_fd, .events = POLLIN}};
		struct uffd_msg msg;
		uint64_t v;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[2].revents)
			break;
		while (read(ld->uffd, &msg, sizeof(msg)) == sizeof(msg)) {
			uint64_t addr = msg.arg.pagefault.address & ~(uint64_t)(HVC_PAGE - 1);
			uint64_t pfn = (addr - base) / HVC_PAGE;
			if (msg.event != UFFD_EVENT_PAGEFAULT || addr < base || pfn >= frames)
				continue;
			__atomic_or_fetch(&ld->live[pfn / 64], 1ull << (pfn % 64),
					  __ATOMIC_RELEASE);
			__atomic_add_fetch(&ld->shared->faults, 1, __ATOMIC_RELAXED);
			(void)uffd_wp(ld->uffd, addr, HVC_PAGE, false); /* wakes the writer */
		}
		if (p[1].revents && read(ld->kick_fd, &v, sizeof(v)) == sizeof(v)) {
			uint64_t req = __atomic_load_n(&ld->shared->req_seq, __ATOMIC_ACQUIRE);
			ld_harvest(ld);
			/* release: the harvested bits are visible before done_seq */
			__atomic_store_n(&ld->shared->done_seq, req, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

void hvc_logdirty_stop(struct hvc *h)
{
	struct hvc_logdirty *ld = h->ld;

	if (!ld)
		return;
	if (ld->thread_up) {
		uint64_t one = 1;
		(void)!write(ld->stop_fd, &one, sizeof(one));
		pthread_join(ld->thread, NULL);
	}
	if (ld->uffd >= 0) {
		struct uffdio_range r = {.start = (uintptr_t)h->mem, .len = h->mem_size};
		/* the mapping may already be another one (hvc_migrate_resume): errors are fine */
		(void)uffd_wp(ld->uffd, r.start, r.len, false);
		(void)ioctl(ld->uffd, UFFDIO_UNREGISTER, &r);
		close(ld->uffd);
	}
	if (ld->shared)
		munmap(ld->shared, ld->size);
	if (ld->kick_fd >= 0)
		close(ld->kick_fd);
	if (ld->stop_fd >= 0)
		close(ld->stop_fd);
	free(ld);
	h->ld = NULL;
}

int hvc_logdirty_start(struct hvc *h)
{
	struct pvhc_msg req, rsp;
	struct hvc_logdirty *ld;
	int fds[PVHC_MAX_FDS], nfds = 0, ret;
	struct uffdio_api api = {.api = UFFD_API,
				 .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM | (1ull << 14)};
	struct uffdio_register reg = {.range = {.start = (uintptr_t)h->mem, .len = h->mem_size},
				      .mode = UFFDIO_REGISTER_MODE_WP};

	if (h->ld)
		return -EBUSY;
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	ld->h = h;
	ld->uffd = ld->kick_fd = ld->stop_fd = -1;
	h->ld = ld;
	memset(&req, 0, sizeof(req));
	req.hdr.op = PVHC_OP_LOGDIRTY;
	ret = call(h, &req, &rsp, fds, &nfds);
	if (ret == 0 && nfds != 2)
		ret = -EPROTO;
	if (ret < 0) {
		close_fds(fds, nfds);
		goto fail;
	}
	ld->kick_fd = fds[1];
	ld->words = MIG_LOG_WORDS(h->mem_size / HVC_PAGE);
	ld->size = MIG_LOG_SIZE(h->mem_size / HVC_PAGE);
	ld->shared = mmap(NULL, ld->size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (ld->shared == MAP_FAILED) {
		ld->shared = NULL;
		ret = -errno;
		goto fail;
	}
	ld->live = (uint64_t *)(ld->shared + 1);
	ld->harvested = ld->live + ld->words;
	ld->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ld->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (ld->stop_fd < 0 || ld->uffd < 0 || ioctl(ld->uffd, UFFDIO_API, &api) < 0 ||
	    ioctl(ld->uffd, UFFDIO_REGISTER, &reg) < 0) {
		ret = -errno;
		goto fail;
	}
	/* every frame protected: its first write of the round faults and is logged */
	ret = uffd_wp(ld->uffd, (uintptr_t)h->mem, h->mem_size, true);
	if (ret < 0)
		goto fail;
	if (pthread_create(&ld->thread, NULL, ld_thread, ld) != 0) {
		ret = -EAGAIN;
		goto fail;
	}
	ld->thread_up = true;
	return 0;

fail:
	hvc_logdirty_stop(h);
	return ret;
}

int hvc_migrate_resume(struct hvc *h, int sock, const uint8_t token[32])
{
	struct pvhc_msg req, rsp;
	int fds[PVHC_MAX_FDS], nfds = 0, ret, old;
	void *m = MAP_FAILED, *g = MAP_FAILED;

	hvc_logdirty_stop(h);
	pthread_mutex_lock(&h->lock);
	old = h->sock;
	h->sock = sock;
	memset(&req, 0, sizeof(req));
	req.hdr.op = PVHC_OP_MIGRATE_IN;
	req.args.hello.domid = h->domid;
	req.args.hello.mem_size = h->mem_size;
	req.args.hello.nr_grant_frames = h->nr_grant_frames;
	memcpy(req.args.raw + 32, token, 32);
	ret = call_locked(h, &req, &rsp, fds, &nfds);
	close_fds(fds, nfds);
	nfds = 0;
	if (ret == 0) {
		ret = hello_again(h, fds, &nfds);
	}
	/* the destination's memory replaces ours at the same address: every
	 * pointer into guest memory stays valid (pseudo-physical frames unchanged) */
	if (ret == 0) {
		m = mmap(h->mem, h->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fds[0], 0);
		if (m == MAP_FAILED)
			ret = -errno;
	}
	if (ret == 0) {
		g = mmap(h->gnt, (size_t)h->nr_grant_frames * HVC_PAGE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fds[1], 0);
		if (g == MAP_FAILED)
			ret = -errno; /* memory is the new host's already: the guest cannot go back */
	}
	if (ret < 0) {
		close_fds(fds, nfds);
		h->sock = old;
		pthread_mutex_unlock(&h->lock);
		return ret;
	}
	close(h->mem_fd);
	close(h->gnt_fd);
	h->mem_fd = fds[0];
	h->gnt_fd = fds[1];
	if (h->xs_fd >= 0)
		close(h->xs_fd);
	h->xs_fd = fds[2];
	close(old);
	for (uint32_t i = 0; i < h->nr_grant_entries; i++)
		__atomic_and_fetch(&h->gnt[i].flags, (uint16_t) ~(GTF_reading | GTF_writing),
				   __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&h->lock);
	return 0;
}
