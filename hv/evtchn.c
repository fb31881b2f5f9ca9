/* SPDX-License-Identifier: MIT */
/*
 * hv/evtchn.c - interdomain event channels backed by eventfds.
 *
 * Every port state lives under hv->evtchn_lock, and hv->evt_doms[] (also
 * under it) says which domains have ports: a domain is published there when
 * created and removed, with all its ports closed, when destroyed. So evtchn
 * ops need no domain references. This is the control path; the data path uses
 * the eventfds from evtchn_get_fds() directly and never takes the lock.
 *
 * Each port of an interdomain channel has its own eventfd, created at bind
 * time and closed at close: "send on p" writes to the PEER port's eventfd, the
 * owner of a port waits on its own. An fd a guest kept from an old binding
 * therefore signals nothing anyone still waits on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "hv_private.h"

static void efd_signal(int efd)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: the port is pending anyway. */
	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		PVLOG_RL(WARN, "evtchn", "eventfd write: %s", strerror(errno));
}

static void port_reset(struct hv_port *p)
{
	if (p->efd >= 0)
		close(p->efd);
	memset(p, 0, sizeof(*p));
	p->efd = -1;
}

/* Closes port p of d for good: it no longer counts against d's limit. Lock held. */
static void port_free_locked(struct hv_domain *d, evtchn_port_t p)
{
	port_reset(&d->ports[p]);
	d->nr_ports--;
	if (p < d->port_hint)
		d->port_hint = p;
}

int hv_evtchn_attach(struct hv *hv, struct hv_domain *d, uint32_t max_evtchns)
{
	uint32_t i;

	d->ports = calloc(max_evtchns, sizeof(*d->ports));
	if (!d->ports)
		return -ENOMEM;
	for (i = 0; i < max_evtchns; i++)
		d->ports[i].efd = -1;
	d->max_evtchns = max_evtchns;
	d->nr_ports = 0;
	d->port_hint = 1;
	pthread_mutex_lock(&hv->evtchn_lock);
	hv->evt_doms[d->domid] = d;
	pthread_mutex_unlock(&hv->evtchn_lock);
	return 0;
}

/* Closes port p of d; the caller holds the lock and checked the range. */
static void port_close_locked(struct hv *hv, struct hv_domain *d, evtchn_port_t p)
{
	struct hv_port *port = &d->ports[p];

	if (port->state == HV_PORT_INTERDOMAIN) {
		struct hv_domain *rd = hv->evt_doms[port->remote_dom];
		if (rd && port->remote_port < rd->max_evtchns) {
			struct hv_port *peer = &rd->ports[port->remote_port];
			if (peer->state == HV_PORT_INTERDOMAIN && peer->remote_dom == d->domid &&
			    peer->remote_port == p) {
				/* Back to unbound, reserved for us; its eventfd goes too. */
				port_reset(peer);
				peer->state = HV_PORT_UNBOUND;
				peer->remote_dom = d->domid;
			}
		}
	}
	port_free_locked(d, p);
}

void hv_evtchn_detach(struct hv *hv, struct hv_domain *d)
{
	uint32_t p;

	pthread_mutex_lock(&hv->evtchn_lock);
	if (hv->evt_doms[d->domid] == d)
		hv->evt_doms[d->domid] = NULL;
	for (p = 1; d->ports && p < d->max_evtchns; p++)
		if (d->ports[p].state != HV_PORT_CLOSED)
			port_close_locked(hv, d, p);
	pthread_mutex_unlock(&hv->evtchn_lock);
	free(d->ports);
	d->ports = NULL;
	d->max_evtchns = 0;
}

uint32_t hv_evtchn_nr_bound(struct hv *hv, struct hv_domain *d, uint64_t *refused)
{
	uint32_t n;

	pthread_mutex_lock(&hv->evtchn_lock);
	n = d->ports ? d->nr_ports : 0;
	if (refused)
		*refused = d->evtchn_refused;
	pthread_mutex_unlock(&hv->evtchn_lock);
	return n;
}

/* The live domain `domid` for evtchn ops, or NULL. Caller holds the lock. */
static struct hv_domain *evt_dom(struct hv *hv, domid_t domid)
{
	return domid <= HV_MAX_DOMID ? hv->evt_doms[domid] : NULL;
}

/*
 * Reserves the lowest closed port of d (the caller sets its state). A guest
 * with HV_LIMIT_EVTCHNS ports open gets Xen's -ENOSPC, as does any domain
 * whose table is full; dom0 is limited by its table only.
 */
static int port_alloc_locked(struct hv *hv, struct hv_domain *d, evtchn_port_t *out)
{
	uint32_t p;

	if (d->domid != 0 && d->nr_ports >= hv_limit_of(hv, HV_LIMIT_EVTCHNS)) {
		d->evtchn_refused++;
		hv_note_refusal(hv, HV_LIMIT_EVTCHNS);
		PVLOG_RL(INFO, "evtchn", "dom%u: %u ports open, limit reached", d->domid,
			 d->nr_ports);
		return -ENOSPC;
	}
	for (p = d->port_hint ? d->port_hint : 1; p < d->max_evtchns; p++) {
		if (d->ports[p].state == HV_PORT_CLOSED) {
			*out = p;
			d->nr_ports++;
			d->port_hint = p + 1;
			return 0;
		}
	}
	d->port_hint = d->max_evtchns;
	return -ENOSPC;
}

int evtchn_alloc_unbound(struct hv *hv, domid_t caller, domid_t dom, domid_t remote_dom,
			 evtchn_port_t *port)
{
	struct hv_domain *d;
	evtchn_port_t p;
	int ret;

	if (dom == DOMID_SELF)
		dom = caller;
	if (remote_dom == DOMID_SELF)
		remote_dom = caller;
	if (dom != caller && caller != 0)
		return -EPERM;
	if (remote_dom > HV_MAX_DOMID)
		return -EINVAL;
	pthread_mutex_lock(&hv->evtchn_lock);
	d = evt_dom(hv, dom);
	if (!d || !evt_dom(hv, caller)) {
		ret = -ESRCH;
		goto unlock;
	}
	ret = port_alloc_locked(hv, d, &p);
	if (ret < 0)
		goto unlock;
	d->ports[p].state = HV_PORT_UNBOUND;
	d->ports[p].remote_dom = remote_dom;
	*port = p;
unlock:
	pthread_mutex_unlock(&hv->evtchn_lock);
	return ret;
}

int evtchn_bind_interdomain(struct hv *hv, domid_t caller, domid_t remote_dom,
			    evtchn_port_t remote_port, evtchn_port_t *local_port)
{
	struct hv_domain *ld, *rd;
	struct hv_port *rp, *lp;
	evtchn_port_t p;
	int lfd = -1, rfd = -1, ret;

	if (remote_dom == DOMID_SELF)
		remote_dom = caller;
	/* Fresh eventfds, made before taking the lock. */
	lfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lfd < 0 || rfd < 0) {
		ret = -errno;
		goto close_fds;
	}
	pthread_mutex_lock(&hv->evtchn_lock);
	ld = evt_dom(hv, caller);
	rd = evt_dom(hv, remote_dom);
	if (!ld || !rd) {
		ret = -ESRCH;
		goto unlock;
	}
	if (remote_port == 0 || remote_port >= rd->max_evtchns) {
		ret = -EINVAL;
		goto unlock;
	}
	rp = &rd->ports[remote_port];
	if (rp->state != HV_PORT_UNBOUND || rp->remote_dom != caller) {
		ret = -EINVAL;
		goto unlock;
	}
	ret = port_alloc_locked(hv, ld, &p);
	if (ret < 0)
		goto unlock;
	lp = &ld->ports[p];
	lp->state = HV_PORT_INTERDOMAIN;
	lp->remote_dom = remote_dom;
	lp->remote_port = remote_port;
	lp->efd = lfd;
	rp->state = HV_PORT_INTERDOMAIN;
	rp->remote_dom = caller;
	rp->remote_port = p;
	rp->efd = rfd;
	lfd = rfd = -1;
	/* As Xen: the new local port starts pending. */
	efd_signal(lp->efd);
	*local_port = p;
	ret = 0;
unlock:
	pthread_mutex_unlock(&hv->evtchn_lock);
close_fds:
	if (lfd >= 0)
		close(lfd);
	if (rfd >= 0)
		close(rfd);
	return ret;
}

int evtchn_send(struct hv *hv, domid_t caller, evtchn_port_t port)
{
	struct hv_domain *d, *rd;
	struct hv_port *lp;
	int ret = 0;

	pthread_mutex_lock(&hv->evtchn_lock);
	d = evt_dom(hv, caller);
	if (!d) {
		ret = -ESRCH;
		goto unlock;
	}
	if (port == 0 || port >= d->max_evtchns) {
		ret = -EINVAL;
		goto unlock;
	}
	lp = &d->ports[port];
	if (lp->state != HV_PORT_INTERDOMAIN)
		goto unlock; /* closed or unbound: silently dropped */
	rd = evt_dom(hv, lp->remote_dom);
	if (rd && lp->remote_port < rd->max_evtchns && rd->ports[lp->remote_port].efd >= 0)
		efd_signal(rd->ports[lp->remote_port].efd);
unlock:
	pthread_mutex_unlock(&hv->evtchn_lock);
	return ret;
}

int evtchn_close(struct hv *hv, domid_t caller, evtchn_port_t port)
{
	struct hv_domain *d;
	int ret = 0;

	pthread_mutex_lock(&hv->evtchn_lock);
	d = evt_dom(hv, caller);
	if (!d) {
		ret = -ESRCH;
		goto unlock;
	}
	if (port == 0 || port >= d->max_evtchns || d->ports[port].state == HV_PORT_CLOSED) {
		ret = -EINVAL;
		goto unlock;
	}
	port_close_locked(hv, d, port);
unlock:
	pthread_mutex_unlock(&hv->evtchn_lock);
	return ret;
}

int evtchn_status(struct hv *hv, domid_t caller, struct evtchn_status *status)
{
	struct hv_domain *d;
	struct hv_port *p;
	domid_t dom = status->dom == DOMID_SELF ? caller : status->dom;
	int ret = 0;

	if (dom != caller && caller != 0)
		return -EPERM;
	pthread_mutex_lock(&hv->evtchn_lock);
	d = evt_dom(hv, dom);
	if (!d) {
		ret = -ESRCH;
		goto unlock;
	}
	if (status->port == 0 || status->port >= d->max_evtchns) {
		ret = -EINVAL;
		goto unlock;
	}
	p = &d->ports[status->port];
	status->status = p->state;
	status->vcpu = 0;
	memset(&status->u, 0, sizeof(status->u));
	if (p->state == HV_PORT_UNBOUND) {
		status->u.unbound.dom = p->remote_dom;
	} else if (p->state == HV_PORT_INTERDOMAIN) {
		status->u.interdomain.dom = p->remote_dom;
		status->u.interdomain.port = p->remote_port;
	}
unlock:
	pthread_mutex_unlock(&hv->evtchn_lock);
	return ret;
}

int evtchn_get_fds(struct hv *hv, domid_t dom, evtchn_port_t port, int *wait_fd, int *notify_fd)
{
	struct hv_domain *d, *rd;
	struct hv_port *lp, *rp;
	int w = -1, n = -1, ret = 0;

	pthread_mutex_lock(&hv->evtchn_lock);
	d = evt_dom(hv, dom);
	if (!d) {
		ret = -ESRCH;
		goto unlock;
	}
	if (port == 0 || port >= d->max_evtchns) {
		ret = -EINVAL;
		goto unlock;
	}
	lp = &d->ports[port];
	rd = lp->state == HV_PORT_INTERDOMAIN ? evt_dom(hv, lp->remote_dom) : NULL;
	if (!rd || lp->remote_port >= rd->max_evtchns) {
		ret = -ENOTCONN;
		goto unlock;
	}
	rp = &rd->ports[lp->remote_port];
	w = fcntl(lp->efd, F_DUPFD_CLOEXEC, 0);
	n = fcntl(rp->efd, F_DUPFD_CLOEXEC, 0);
	if (w < 0 || n < 0) {
		ret = -errno;
		goto unlock;
	}
	*wait_fd = w;
	*notify_fd = n;
	w = n = -1;
unlock:
	pthread_mutex_unlock(&hv->evtchn_lock);
	if (w >= 0)
		close(w);
	if (n >= 0)
		close(n);
	return ret;
}
