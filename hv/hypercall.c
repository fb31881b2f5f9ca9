/* SPDX-License-Identifier: MIT */
/*
 * hv/hypercall.c - server side of the guest hypercall transport: decodes one
 * fixed-size message (pvnet/hypercall.h), runs it as the guest's domain,
 * builds the response. Everything in a request is guest-controlled: it is
 * copied once into a local message and validated there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/hv.h>
#include <pvnet/hypercall.h>
#include <pvnet/log.h>

#include "hv_private.h"

static int do_hello(struct hv *hv, struct hv_domain *d, struct pvhc_msg *rsp, int *fds, int *nfds)
{
	struct pvhc_hello *h = &rsp->args.hello;
	hv_xs_connect_fn fn;
	void *arg;
	int ret, xs;

	ret = hv_domain_fds(hv, d->domid, &fds[0], &fds[1]);
	if (ret < 0)
		return ret;
	*nfds = 2;
	h->domid = d->domid;
	h->mem_size = d->mem_size;
	h->nr_grant_frames = d->nr_grant_frames;
	h->nr_grant_entries = d->nr_grant_entries;
	h->max_evtchns = d->max_evtchns;
	pthread_mutex_lock(&hv->lock);
	fn = hv->xs_connect;
	arg = hv->xs_arg;
	pthread_mutex_unlock(&hv->lock);
	if (!fn) {
		h->xs_error = -ENOENT;
		return 0;
	}
	xs = fn(arg, d->domid);
	if (xs < 0) {
		h->xs_error = xs;
		return 0;
	}
	fds[2] = xs;
	*nfds = 3;
	h->has_xs = 1;
	return 0;
}

/* Checks that the batch lies in guest memory; returns its byte size. */
static int batch_check(struct hv_domain *d, const struct pvhc_batch *b, size_t elem, size_t *size)
{
	if (b->count == 0 || b->count > PVHC_MAX_BATCH)
		return -EINVAL;
	*size = (size_t)b->count * elem;
	if (b->gpa > d->mem_size || *size > d->mem_size - b->gpa)
		return -EFAULT;
	return 0;
}

/*
 * Runs a grant batch whose array lives in the caller's memory: the array is read
 * once into a private copy, `run` works on the copy, and only the per-op status
 * fields are written back. The array may sit in a frame that a transfer just gave
 * away: the status write then lands in a now-unpopulated frame, harmlessly.
 */
static int run_batch(struct hv *hv, struct hv_domain *d, const struct pvhc_batch *b, size_t elem,
		     size_t status_off, int (*run)(struct hv *, domid_t, void *, unsigned))
{
	uint8_t *ops;
	size_t size;
	int ret;

	ret = batch_check(d, b, elem, &size);
	if (ret < 0)
		return ret;
	ops = malloc(size);
	if (!ops)
		return -ENOMEM;
	memcpy(ops, d->mem + b->gpa, size);
	ret = run(hv, d->domid, ops, b->count);
	for (unsigned i = 0; ret == 0 && i < b->count; i++)
		memcpy(d->mem + b->gpa + i * elem + status_off, ops + i * elem + status_off,
		       sizeof(int16_t));
	free(ops);
	return ret;
}

static int run_copy(struct hv *hv, domid_t caller, void *ops, unsigned count)
{
	return gnttab_copy(hv, caller, ops, count);
}

static int run_transfer(struct hv *hv, domid_t caller, void *ops, unsigned count)
{
	return gnttab_transfer(hv, caller, ops, count);
}

static int do_copy(struct hv *hv, struct hv_domain *d, const struct pvhc_batch *b)
{
	return run_batch(hv, d, b, sizeof(struct gnttab_copy), offsetof(struct gnttab_copy, status),
			 run_copy);
}

static int do_transfer(struct hv *hv, struct hv_domain *d, const struct pvhc_batch *b)
{
	return run_batch(hv, d, b, sizeof(struct gnttab_transfer),
			 offsetof(struct gnttab_transfer, status), run_transfer);
}

void hv_set_accel_connector(struct hv *hv, hv_accel_connect_fn fn, void *arg)
{
	pthread_mutex_lock(&hv->lock);
	hv->accel_connect = fn;
	hv->accel_arg = arg;
	pthread_mutex_unlock(&hv->lock);
}

/* The queue pair of the caller's own vif, from the connector netback registered. */
static int do_accel_qp(struct hv *hv, domid_t domid, struct pvhc_accel_qp *a, int *fds, int *nfds)
{
	struct hv_accel_qp m = {.mem_fd = -1, .doorbell_fd = -1, .irq_fd = -1};
	hv_accel_connect_fn fn;
	void *arg;
	int ret;

	if (a->dom != DOMID_SELF && a->dom != domid)
		return -EPERM; /* another domain's queue pair: never */
	pthread_mutex_lock(&hv->lock);
	fn = hv->accel_connect;
	arg = hv->accel_arg;
	pthread_mutex_unlock(&hv->lock);
	if (!fn)
		return -ENOSYS;
	ret = fn(arg, domid, a->handle, a->qp, &m);
	if (ret < 0)
		return ret;
	if (m.mem_fd < 0 || m.doorbell_fd < 0 || m.irq_fd < 0) {
		if (m.mem_fd >= 0)
			close(m.mem_fd);
		if (m.doorbell_fd >= 0)
			close(m.doorbell_fd);
		if (m.irq_fd >= 0)
			close(m.irq_fd);
		return -EIO;
	}
	fds[0] = m.mem_fd;
	fds[1] = m.doorbell_fd;
	fds[2] = m.irq_fd;
	*nfds = 3;
	a->dom = domid;
	a->ring_len = m.ring_len;
	a->mem_size = m.mem_size;
	a->tx_ring_off = m.tx_ring_off;
	a->rx_ring_off = m.rx_ring_off;
	return 0;
}

static int do_status(struct hv *hv, domid_t domid, struct pvhc_status *s)
{
	struct evtchn_status st;
	int ret;

	memset(&st, 0, sizeof(st));
	st.dom = s->dom;
	st.port = s->port;
	ret = evtchn_status(hv, domid, &st);
	if (ret < 0)
		return ret;
	s->status = st.status;
	s->vcpu = st.vcpu;
	s->remote_dom = 0;
	s->remote_port = 0;
	if (st.status == EVTCHNSTAT_unbound) {
		s->remote_dom = st.u.unbound.dom;
	} else if (st.status == EVTCHNSTAT_interdomain) {
		s->remote_dom = st.u.interdomain.dom;
		s->remote_port = st.u.interdomain.port;
	}
	return 0;
}

/* Runs one well-formed request of `d` (domid); OUT fields go to rsp->args, fds
 * to fds_out (*nfds of them). 0 or -errno (-ENOSYS: unknown op). */
static int do_op(struct hv *hv, struct hv_domain *d, domid_t domid, const struct pvhc_msg *m,
		 struct pvhc_msg *rsp, int *fds_out, int *nfds)
{
	int ret;

	switch (m->hdr.op) {
	case PVHC_OP_HELLO:
		memset(&rsp->args, 0, sizeof(rsp->args));
		ret = do_hello(hv, d, rsp, fds_out, nfds);
		break;
	case PVHC_OP_EVTCHN_ALLOC_UNBOUND:
		ret = evtchn_alloc_unbound(hv, domid, m->args.alloc_unbound.dom,
					   m->args.alloc_unbound.remote_dom,
					   &rsp->args.alloc_unbound.port);
		break;
	case PVHC_OP_EVTCHN_BIND_INTERDOMAIN:
		ret = evtchn_bind_interdomain(hv, domid, m->args.bind_interdomain.remote_dom,
					      m->args.bind_interdomain.remote_port,
					      &rsp->args.bind_interdomain.local_port);
		break;
	case PVHC_OP_EVTCHN_SEND:
		ret = evtchn_send(hv, domid, m->args.port.port);
		break;
	case PVHC_OP_EVTCHN_CLOSE:
		ret = evtchn_close(hv, domid, m->args.port.port);
		break;
	case PVHC_OP_EVTCHN_STATUS:
		ret = do_status(hv, domid, &rsp->args.status);
		break;
	case PVHC_OP_EVTCHN_GET_FDS:
		/* Only ports of the calling domain: dom is the socket's domain. */
		ret = evtchn_get_fds(hv, domid, m->args.port.port, &fds_out[0], &fds_out[1]);
		if (ret == 0)
			*nfds = 2;
		break;
	case PVHC_OP_GNTTAB_COPY:
		ret = do_copy(hv, d, &m->args.batch);
		break;
	case PVHC_OP_GNTTAB_TRANSFER:
		ret = do_transfer(hv, d, &m->args.batch);
		break;
	case PVHC_OP_DECREASE_RESERVATION:
		ret = hv_decrease_reservation(hv, domid, m->args.reservation.pfn);
		break;
	case PVHC_OP_LOGDIRTY:
		pthread_mutex_lock(&d->grant_lock);
		ret = d->ld ? hv_logdirty_fds(d, fds_out) : -ENOENT;
		pthread_mutex_unlock(&d->grant_lock);
		*nfds = ret == 0 ? 2 : 0;
		break;
	case PVHC_OP_ACCEL_QP:
		ret = do_accel_qp(hv, domid, &rsp->args.accel_qp, fds_out, nfds);
		break;
	default:
		ret = -ENOSYS;
		break;
	}
	return ret;
}

int hv_hypercall_dispatch(struct hv *hv, domid_t domid, const void *req, size_t len, void *rsp_buf,
			  int *fds_out, int *nfds_out)
{
	struct pvhc_msg m, *rsp = rsp_buf;
	struct hv_domain *d;
	int ret, nfds = 0, i;

	*nfds_out = 0;
	if (domid == 0)
		return -EPERM; /* dom0 calls the API directly */
	d = hv_domain_get(hv, domid);
	if (!d)
		return -ESRCH;
	memset(&m, 0, sizeof(m));
	memcpy(&m, req, len < sizeof(m) ? len : sizeof(m));
	memset(rsp, 0, sizeof(*rsp));
	rsp->hdr.magic = PVHC_MAGIC;
	rsp->hdr.version = PVHC_VERSION;
	if (len >= PVHC_HDR_SIZE) {
		rsp->hdr.op = m.hdr.op;
		rsp->hdr.seq = m.hdr.seq;
	}
	if (len != sizeof(m) || m.hdr.magic != PVHC_MAGIC || m.hdr.version != PVHC_VERSION) {
		ret = -EINVAL;
		goto out;
	}
	rsp->args = m.args; /* OUT fields are filled in place */
	ret = do_op(hv, d, domid, &m, rsp, fds_out, &nfds);
out:
	if (ret < 0) {
		for (i = 0; i < nfds; i++)
			close(fds_out[i]);
		nfds = 0;
		PVLOG_RL(DEBUG, "hypercall", "dom%u op %u: %d", domid, m.hdr.op, ret);
	}
	rsp->hdr.ret = ret;
	rsp->hdr.nfds = (uint32_t)nfds;
	*nfds_out = nfds;
	hv_domain_put(d);
	return 0;
}

static int send_reply(int sock, const struct pvhc_msg *rsp, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * PVHC_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)rsp, .iov_len = sizeof(*rsp)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds > 0) {
		struct cmsghdr *c;
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EPIPE || errno == ECONNRESET)
			return -ECONNRESET;
		PVLOG_RL(WARN, "hypercall", "reply dropped: %s", strerror(errno));
		return 0;
	}
	return 0;
}

/* Closes every fd that arrived with a message (guests send none). */
static void drop_fds(struct msghdr *mh)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int), i;
			for (i = 0; i < n; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				close(fd);
			}
		}
	}
}

int hv_hypercall_handle(struct hv *hv, domid_t domid, int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct pvhc_msg req, rsp;
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fds[PVHC_MAX_FDS], nfds = 0, ret, i;
	ssize_t n;

	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	/* MSG_TRUNC: n is the real length, so an oversized message is seen as such. */
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return -EAGAIN;
		if (errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN)
			return -ECONNRESET;
		return -errno;
	}
	drop_fds(&mh);
	if (n == 0)
		return -ECONNRESET; /* EOF: the guest has gone */
	ret = hv_hypercall_dispatch(hv, domid, &req, (size_t)n, &rsp, fds, &nfds);
	if (ret < 0)
		return ret;
	ret = send_reply(sock, &rsp, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return ret;
}
