/* SPDX-License-Identifier: MIT */
/*
 * pvnet-hostile, case "store": a guest that attacks the store from the position
 * a tenant has (its own hypercall socket and store connections):
 *
 *  - asks pvnetd for more store connections (a HELLO per dup of its hypercall
 *    socket) until refused, and keeps them all open;
 *  - on those extra connections ("deaf"), registers watches and sends
 *    requests but never reads a byte: replies and watch events pile up in
 *    pvnetd unless it bounds them;
 *  - fills its node quota, registers watches until refused, opens
 *    transactions until refused, touches nodes in a transaction until
 *    refused, writes an over-long value and path;
 *  - then, for the rest of the attack, rewrites one node as fast as it can
 *    (every write fires an event to each of its watches) while the deaf
 *    connections keep sending.
 *
 * What it saw goes to stdout (the console log) and to its store node
 * data/hostile, as "case=store conns=N refused=N watches=N:ERR nodes=N:ERR
 * value=ERR path=ERR txs=N:ERR txnodes=N:ERR writes=N", ERR being the errno
 * name the store answered with when the attacker hit the limit.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/hvc.h>
#include <pvnet/io/xs_wire.h>

#include "hostile.h"

#define MAX_EXTRA 16

static const char *ename(int rc)
{
	switch (-rc) {
	case 0:
		return "none";
	case ENOSPC:
		return "ENOSPC";
	case E2BIG:
		return "E2BIG";
	case EINVAL:
		return "EINVAL";
	case EDQUOT:
		return "EDQUOT";
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EAGAIN:
		return "EAGAIN";
	default:
		return "other";
	}
}

/* Sends one request without waiting or reading anything; drops it if the socket is full. */
static void deaf_send(int fd, uint32_t type, uint32_t req, const char *a, const char *b)
{
	char buf[sizeof(struct xsd_sockmsg) + 512];
	size_t la = strlen(a) + 1, lb = b ? strlen(b) + 1 : 0;
	struct xsd_sockmsg h = {type, req, 0, (uint32_t)(la + lb)};
	if (la + lb > 512)
		return;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), a, la);
	if (lb)
		memcpy(buf + sizeof(h) + la, b, lb);
	(void)send(fd, buf, sizeof(h) + la + lb, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void drain_events(struct xs_client *xs)
{
	char *p, *t;
	while (xs_client_read_watch(xs, 0, &p, &t) == 0) {
		free(p);
		free(t);
	}
}

/* Watches on `data` until one is refused: how many were set, *err the refusal. */
static int fill_watches(struct xs_client *xs, int *err)
{
	char tok[32];
	int n = 0, rc;

	for (int i = 0; i < 1000; i++) {
		snprintf(tok, sizeof(tok), "w%d", i);
		if ((rc = xs_client_watch(xs, "data", tok))) {
			*err = rc;
			break;
		}
		n++;
		drain_events(xs);
	}
	return n;
}

/* Nodes data/nI until one is refused: how many were written, *err the refusal. */
static int fill_nodes(struct xs_client *xs, int *err)
{
	char path[64];
	int n = 0, rc;

	for (int i = 0; i < 100000; i++) {
		snprintf(path, sizeof(path), "data/n%d", i);
		if ((rc = xs_client_write(xs, 0, path, "x", 1))) {
			*err = rc;
			break;
		}
		n++;
		if (i % 16 == 0)
			drain_events(xs);
	}
	drain_events(xs);
	return n;
}

/* Nodes read inside transaction `tx` until refused (absent ones count too). */
static int fill_tx_nodes(struct xs_client *xs, uint32_t tx, int *err)
{
	char path[64];
	int n = 0, rc;

	for (int i = 0; i < 100000; i++) {
		char *v = NULL;
		size_t len;
		snprintf(path, sizeof(path), "data/t%d", i);
		rc = xs_client_read(xs, tx, path, &v, &len);
		free(v);
		if (rc && rc != -ENOENT) {
			*err = rc;
			break;
		}
		n++;
	}
	return n;
}

/* Says HELLO on dups of the hypercall socket (up to MAX_EXTRA): each hvc in
 * extra_hv[*nhv], each store connection it was given in deaf[*ndeaf]. How many
 * were refused a store connection. */
static int open_extra(int hv_fd, struct hvc **extra_hv, int *nhv, int *deaf, int *ndeaf)
{
	int refused = 0;

	for (int i = 0; i < MAX_EXTRA; i++) {
		int fd = dup(hv_fd);
		struct hvc *h;
		if (fd < 0 || hvc_open(fd, &h) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		extra_hv[(*nhv)++] = h;
		int xfd = hvc_take_xs_fd(h);
		if (xfd < 0)
			refused++;
		else
			deaf[(*ndeaf)++] = xfd;
	}
	return refused;
}

int hostile_store(int hv_fd, long domid, struct xs_client *xs, volatile sig_atomic_t *stop)
{
	struct hvc *extra_hv[MAX_EXTRA];
	int deaf[MAX_EXTRA], ndeaf = 0, nhv = 0, refused = 0;
	int rc, watches = 0, nodes = 0, txs = 0, txnodes = 0;
	int w_err = 0, n_err = 0, v_err = 0, p_err = 0, t_err = 0, tn_err = 0;
	unsigned writes = 0;
	uint32_t tx[64];
	char path[2300], tok[32], report[400];
	const char *s = getenv("PVNET_HOSTILE_SECS");
	double secs = s && *s ? atof(s) : 15.0, end;

	printf("hostile: case=store starting (%.0f s)\n", secs);
	/* A node for the report, made before the quota is full. */
	xs_client_printf(xs, 0, "data/hostile", "case=store running");

	/* 1. More store connections: one HELLO per dup of the hypercall socket. */
	refused = open_extra(hv_fd, extra_hv, &nhv, deaf, &ndeaf);

	/* 2. The deaf connections watch the attacker's own data (never read). */
	for (int d = 0; d < ndeaf; d++)
		for (int i = 0; i < 40; i++) {
			snprintf(tok, sizeof(tok), "deaf%d-%d", d, i);
			deaf_send(deaf[d], XS_WATCH, (uint32_t)i + 1, "data", tok);
		}
	usleep(300 * 1000);

	/* 3. Watches on the main connection until refused (the quota is the domain's). */
	watches = fill_watches(xs, &w_err);
	/* 4. Nodes until refused. */
	nodes = fill_nodes(xs, &n_err);
	/* 5. Over-long value and path. */
	{
		static char big[4000];
		memset(big, 'v', sizeof(big));
		v_err = xs_client_write(xs, 0, "data/n0", big, 3000);
		memset(path, 'p', 2100);
		memcpy(path, "data/", 5);
		path[2100] = '\0';
		p_err = xs_client_write(xs, 0, path, "x", 1);
	}
	/* 6. Transactions until refused; nodes touched in one until refused. */
	for (int i = 0; i < 64; i++) {
		if ((rc = xs_client_transaction_start(xs, &tx[i]))) {
			t_err = rc;
			break;
		}
		txs++;
	}
	if (txs > 0)
		txnodes = fill_tx_nodes(xs, tx[0], &tn_err);
	snprintf(report, sizeof(report),
		 "case=store conns=%d refused=%d watches=%d:%s nodes=%d:%s value=%s path=%s "
		 "txs=%d:%s txnodes=%d:%s",
		 1 + ndeaf, refused, watches, ename(w_err), nodes, ename(n_err), ename(v_err),
		 ename(p_err), txs, ename(t_err), txnodes, ename(tn_err));
	printf("hostile: %s\n", report);

	/* 7. A write storm, while the deaf connections keep asking and never read. */
	end = pvnet_now_s() + secs;
	while (!*stop && pvnet_now_s() < end) {
		for (int i = 0; i < 32; i++) {
			if (xs_client_printf(xs, 0, "data/n0", "%u", writes) == 0)
				writes++;
		}
		drain_events(xs);
		for (int d = 0; d < ndeaf; d++)
			deaf_send(deaf[d], XS_READ, 7, "data/n0", NULL);
	}
	printf("hostile: %s writes=%u\nhostile: store attack done\n", report, writes);
	xs_client_printf(xs, 0, "data/hostile", "%s writes=%u done", report, writes);

	while (!*stop)
		pause();
	for (int d = 0; d < ndeaf; d++)
		close(deaf[d]);
	for (int i = 0; i < nhv; i++)
		hvc_close(extra_hv[i]);
	(void)domid;
	return 0;
}
