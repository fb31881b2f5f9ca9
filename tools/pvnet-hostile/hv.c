/* SPDX-License-Identifier: MIT */
/*
 * pvnet-hostile, hypervisor and netback resources (hostile_hv.h). Each case attacks
 * what one domain can make pvnetd hold, from the position a tenant really has: its
 * own hypercalls, its own grant table, its own store nodes.
 *
 *   evtchn_flood  allocates event channels (loopback pairs: each bound port is an
 *                 eventfd in pvnetd) until the hypervisor refuses; reports how many
 *                 and the error (Xen's -ENOSPC at the domain's limit).
 *   map_storm     connects with feature-persistent and sends frames from
 *                 $PVNET_HOSTILE_REFS (default 3000) distinct granted pages, so
 *                 netback maps each on first sight; reports the TX statuses (the
 *                 maps beyond the domain's gnt-maps limit or netback's table fall
 *                 back to grant copy: still okay).
 *   queues_over   asks for one queue more than the backend's multi-queue-max-queues;
 *                 reports the backend state it ends in (Xen: closed, error node).
 *   store_storm   connects, then rewrites its own frontend nodes in a loop for
 *                 $PVNET_HOSTILE_SECS (default 6) seconds; reports the writes.
 *   state_flap    the same with its state flipping Initialising / Connected, so
 *                 netback tears the vif down and connects it again and again.
 *
 * Layout in guest memory: rings in frames 1 and 2 (refs 8 and 9), data pages from
 * frame 16 (refs from 100).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/io/netif.h>
#include <pvnet/io/ring.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

#include "hostile_hv.h"

#define PAGE 4096u
#define PFN_TX 1
#define PFN_RX 2
#define PFN_DATA 16
#define REF_TX 8
#define REF_RX 9
#define REF_DATA 100

struct fe {
	const struct hostile_env *e;
	uint8_t *mem;
	size_t mem_size;
	struct grant_entry_v1 *gnt;
	unsigned nr_gnt;
	struct netif_tx_front_ring tx;
	evtchn_port_t port;
	int wait_fd, notify_fd;
};

static void msleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long read_long(const struct hostile_env *e, const char *dir, const char *key, long def)
{
	char path[200], *v = NULL;
	size_t len;
	long r = def;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (xs_client_read(e->xs, 0, path, &v, &len) == 0) {
		r = strtol(v, NULL, 10);
		free(v);
	}
	return r;
}

static unsigned env_uint(const char *name, unsigned def, unsigned max)
{
	const char *v = getenv(name);
	unsigned long n;

	if (!v || !*v)
		return def;
	n = strtoul(v, NULL, 10);
	return n == 0 || n > max ? def : (unsigned)n;
}

/* Waits up to ms for the backend to reach one of two states; returns the last seen. */
static long wait_be(const struct hostile_env *e, long a, long b, unsigned ms)
{
	long st = -1;

	for (unsigned t = 0; t <= ms && !*e->stop; t += 20) {
		st = read_long(e, e->be, "state", -1);
		if (st == a || st == b)
			break;
		msleep(20);
	}
	return st;
}

static void report(const struct hostile_env *e, const char *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report(const struct hostile_env *e, const char *c, const char *fmt, ...)
{
	char msg[256], path[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("hostile: case=%s %s\n", c, msg);
	snprintf(path, sizeof(path), "/local/domain/%ld/data/hostile", e->domid);
	xs_client_printf(e->xs, 0, path, "case=%s %s", c, msg);
}

/* The frontend handshake with nq queues (all on the same rings: a refused connect
 * never maps them) and optionally feature-persistent. Returns the backend state. */
static long fe_connect(struct fe *f, unsigned nq, bool persistent)
{
	const struct hostile_env *e = f->e;
	char path[200], dir[160];
	int w = 0;

	SHARED_RING_INIT((struct netif_tx_sring *)(f->mem + PFN_TX * PAGE));
	SHARED_RING_INIT((struct netif_rx_sring *)(f->mem + PFN_RX * PAGE));
	FRONT_RING_INIT(&f->tx, (struct netif_tx_sring *)(f->mem + PFN_TX * PAGE), PAGE);
	gnttab_grant_access(f->gnt, REF_TX, 0, PFN_TX, false);
	gnttab_grant_access(f->gnt, REF_RX, 0, PFN_RX, false);
	if (hvc_evtchn_alloc_unbound(e->hv, 0, &f->port) < 0)
		return -1;
#define KEY(d, k, fmt, v)                                                                          \
	do {                                                                                       \
		snprintf(path, sizeof(path), "%s/%s", d, k);                                       \
		w |= xs_client_printf(e->xs, 0, path, fmt, v);                                     \
	} while (0)
	KEY(e->fe, "request-rx-copy", "%s", "1");
	KEY(e->fe, "feature-sg", "%s", "1");
	if (persistent)
		KEY(e->fe, "feature-persistent", "%s", "1");
	if (nq > 1)
		KEY(e->fe, "multi-queue-num-queues", "%u", nq);
	for (unsigned q = 0; q < nq; q++) {
		if (nq > 1)
			snprintf(dir, sizeof(dir), "%s/queue-%u", e->fe, q);
		else
			snprintf(dir, sizeof(dir), "%s", e->fe);
		KEY(dir, "tx-ring-ref", "%u", REF_TX);
		KEY(dir, "rx-ring-ref", "%u", REF_RX);
		KEY(dir, "event-channel", "%u", f->port);
	}
	KEY(e->fe, "state", "%d", XenbusStateConnected);
#undef KEY
	if (w)
		return -1;
	return wait_be(e, XenbusStateConnected, XenbusStateClosed, 5000);
}

/* ------------------------------------------------------------------ cases */

static void evtchn_flood(const struct hostile_env *e, const char *c)
{
	evtchn_port_t p1, p2;
	unsigned ports = 0;
	int rc = 0;

	for (;;) {
		rc = hvc_evtchn_alloc_unbound(e->hv, (domid_t)e->domid, &p1);
		if (rc < 0)
			break;
		ports++;
		/* a loopback bind: the second port and an eventfd per port in pvnetd */
		rc = hvc_evtchn_bind_interdomain(e->hv, (domid_t)e->domid, p1, &p2);
		if (rc < 0)
			break;
		ports++;
	}
	/* the refusal is stable, not a transient */
	if (hvc_evtchn_alloc_unbound(e->hv, 0, &p1) == 0)
		rc = 1;
	report(e, c, "ports=%u err=%d", ports, rc);
}

static void map_storm(struct fe *f, const char *c)
{
	const struct hostile_env *e = f->e;
	unsigned nrefs = env_uint("PVNET_HOSTILE_REFS", 3000, 12000);
	unsigned okay = 0, other = 0, sent = 0;
	long st = fe_connect(f, 1, true);
	double deadline;

	if (st != XenbusStateConnected) {
		report(e, c, "connect failed be_state=%ld", st);
		return;
	}
	if (hvc_evtchn_get_fds(e->hv, f->port, &f->wait_fd, &f->notify_fd) < 0) {
		report(e, c, "no event channel fds");
		return;
	}
	if (PFN_DATA + nrefs > f->mem_size / PAGE - HVC_SCRATCH_FRAMES - 1 ||
	    REF_DATA + nrefs > f->nr_gnt)
		nrefs = (unsigned)(f->mem_size / PAGE) - PFN_DATA - HVC_SCRATCH_FRAMES - 1;
	deadline = pvnet_now_s() + 20;
	while ((sent < nrefs || f->tx.rsp_cons != f->tx.req_prod_pvt) && pvnet_now_s() < deadline &&
	       !*e->stop) {
		unsigned n = 0;
		int notify;

		while (sent < nrefs && RING_FREE_REQUESTS(&f->tx) > 0 && n < 64) {
			uint8_t *p = f->mem + (size_t)(PFN_DATA + sent) * PAGE;
			/* to our own MAC: the switch drops it as a loop once it learnt us,
			 * and nobody else sees the storm */
			memcpy(p, e->mac, 6);
			memcpy(p + 6, e->mac, 6);
			p[12] = 0x88;
			p[13] = 0xb5;
			memset(p + 14, 0x5a, 46);
			gnttab_grant_access(f->gnt, REF_DATA + sent, 0, PFN_DATA + sent, true);
			*RING_GET_REQUEST(&f->tx, f->tx.req_prod_pvt) = (struct netif_tx_request){
				.gref = REF_DATA + sent,
				.id = (uint16_t)(f->tx.req_prod_pvt & 255),
				.size = 60};
			f->tx.req_prod_pvt++;
			sent++;
			n++;
		}
		if (n) {
			uint64_t one = 1;
			RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f->tx, notify);
			if (notify && write(f->notify_fd, &one, sizeof(one)) < 0)
				break;
		}
		for (RING_IDX i = f->tx.rsp_cons; i != f->tx.sring->rsp_prod; i++) {
			if (RING_GET_RESPONSE(&f->tx, i)->status == NETIF_RSP_OKAY)
				okay++;
			else
				other++;
			f->tx.rsp_cons = i + 1;
		}
		if (!n)
			msleep(1);
	}
	report(e, c, "be_state=%ld refs=%u sent=%u okay=%u other=%u",
	       read_long(e, e->be, "state", -1), nrefs, sent, okay, other);
}

static void queues_over(struct fe *f, const char *c)
{
	const struct hostile_env *e = f->e;
	long max = read_long(e, e->be, "multi-queue-max-queues", 1);
	long st = fe_connect(f, (unsigned)max + 1, false);

	report(e, c, "asked=%ld max=%ld be_state=%ld", max + 1, max, st);
}

/* store_storm rewrites feature-sg and state=Connected; state_flap flips state
 * between Initialising and Connected, so netback disconnects and reconnects the vif
 * whenever a loop turn sees the other state. */
static void store_storm(struct fe *f, const char *c)
{
	const struct hostile_env *e = f->e;
	unsigned secs = env_uint("PVNET_HOSTILE_SECS", 6, 600), writes = 0, errors = 0;
	bool flap = !strcmp(c, "state_flap");
	char path[200];
	long st = fe_connect(f, 1, false);
	double end;

	if (st != XenbusStateConnected) {
		report(e, c, "connect failed be_state=%ld", st);
		return;
	}
	printf("hostile: case=%s storming for %u s\n", c, secs);
	fflush(stdout);
	end = pvnet_now_s() + secs;
	while (pvnet_now_s() < end && !*e->stop) {
		/* nodes netback reads: every write is a watch event on our vif */
		snprintf(path, sizeof(path), "%s/%s", e->fe, flap ? "state" : "feature-sg");
		if (xs_client_printf(e->xs, 0, path, "%u",
				     flap ? XenbusStateInitialising : writes & 1) < 0)
			errors++;
		if (flap)
			msleep(1); /* let a loop turn see it */
		snprintf(path, sizeof(path), "%s/state", e->fe);
		if (xs_client_printf(e->xs, 0, path, "%d", XenbusStateConnected) < 0)
			errors++;
		writes += 2;
		if (flap)
			msleep(1);
	}
	if (flap) /* settle: connected again */
		wait_be(e, XenbusStateConnected, XenbusStateConnected, 3000);
	report(e, c, "be_state=%ld writes=%u errors=%u", read_long(e, e->be, "state", -1), writes,
	       errors);
}

int hostile_hv_run(const struct hostile_env *env, const char *c)
{
	struct fe f = {.e = env, .wait_fd = -1, .notify_fd = -1};

	if (strcmp(c, "evtchn_flood") && strcmp(c, "map_storm") && strcmp(c, "queues_over") &&
	    strcmp(c, "store_storm") && strcmp(c, "state_flap"))
		return -ENOENT;
	f.mem = hvc_mem(env->hv, &f.mem_size);
	f.gnt = hvc_grant_table(env->hv, &f.nr_gnt);
	if (wait_be(env, XenbusStateInitWait, XenbusStateInitWait, 5000) != XenbusStateInitWait) {
		report(env, c, "backend never reached InitWait");
		return 0;
	}
	if (!strcmp(c, "evtchn_flood"))
		evtchn_flood(env, c);
	else if (!strcmp(c, "map_storm"))
		map_storm(&f, c);
	else if (!strcmp(c, "queues_over"))
		queues_over(&f, c);
	else
		store_storm(&f, c);
	return 0;
}
