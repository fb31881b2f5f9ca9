/* SPDX-License-Identifier: MIT */
/*
 * pvnet-hostile: a deliberately broken netfront for netback's robustness tests
 * (the reference's bad-input cases). Started by pvnetd in place of pvnet-guest
 * (PVNET_GUEST_BIN_<name>), with the same arguments. It does the xenbus handshake
 * itself, then writes ONE bad case into its TX (or RX) ring and notifies. The case
 * is $PVNET_HOSTILE_CASE, else the part of --name after its last '-'.
 *
 * Cases: ok (one valid frame), prod_overflow, slots19, slots20, slots22,
 * chain_trunc, page_overflow, runt, zero_frag, extra_type0, extra_unknown,
 * gso_size0, bad_gref, foreign_gref, rx_ro, rx_revoked, rx_bad_gref, no_rx,
 * rewrite; store (a store attack, see store.c).
 *
 * It prints what it observed ("hostile: case=... be_state=... rsp=... status=...")
 * on stdout (the domain's console log) and in the store at
 * /local/domain/<d>/data/hostile, then stays until SIGTERM. It owns everything it
 * allocates; the process exit releases it (pvnetd tears the domain down).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/grant_table.h>
#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/io/netif.h>
#include <pvnet/io/ring.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/lib.h>
#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

#include "hostile_hv.h"
#include <pvnet/version.h>

#include "hostile.h"

#define PAGE 4096u
#define PFN_TX 1
#define PFN_RX 2
#define PFN_DATA 3 /* 24 data pages */
#define NDATA 24
#define REF_TX 8
#define REF_RX 9
#define REF_DATA 10 /* REF_DATA + i grants page PFN_DATA + i */
#define REF_SPARE 40

static volatile sig_atomic_t got_signal;
static void on_signal(int sig)
{
	got_signal = sig;
}

struct hs {
	struct hvc *hv;
	struct xs_client *xs;
	uint8_t *mem;
	struct grant_entry_v1 *gnt;
	unsigned nr_gnt;
	char fe[96], be[160];
	struct netif_tx_front_ring tx;
	struct netif_rx_front_ring rx;
	evtchn_port_t tx_port, rx_port;
	int tx_wait, tx_notify, rx_wait, rx_notify;
	uint8_t mac[6];
	volatile int stop_rewrite;
};

static long read_long(struct hs *h, const char *dir, const char *key, long def)
{
	char path[200], *v = NULL;
	size_t len;
	long r = def;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (xs_client_read(h->xs, 0, path, &v, &len) == 0) {
		r = strtol(v, NULL, 10);
		free(v);
	}
	return r;
}

static void msleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int wait_be_state(struct hs *h, long want, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 20) {
		long st = read_long(h, h->be, "state", -1);
		if (st == want)
			return 0;
		msleep(20);
	}
	return -ETIMEDOUT;
}

static int set_state(struct hs *h, int st)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/state", h->fe);
	return xs_client_printf(h->xs, 0, path, "%d", st);
}

static int connect(struct hs *h)
{
	static const char *const feats[] = {"request-rx-copy",   "feature-rx-notify",
					    "feature-sg",        "feature-gso-tcpv4",
					    "feature-gso-tcpv6", "feature-persistent"};
	char path[200];
	int rc;

	SHARED_RING_INIT((struct netif_tx_sring *)(h->mem + PFN_TX * PAGE));
	SHARED_RING_INIT((struct netif_rx_sring *)(h->mem + PFN_RX * PAGE));
	FRONT_RING_INIT(&h->tx, (struct netif_tx_sring *)(h->mem + PFN_TX * PAGE), PAGE);
	FRONT_RING_INIT(&h->rx, (struct netif_rx_sring *)(h->mem + PFN_RX * PAGE), PAGE);
	gnttab_grant_access(h->gnt, REF_TX, 0, PFN_TX, false);
	gnttab_grant_access(h->gnt, REF_RX, 0, PFN_RX, false);
	for (unsigned i = 0; i < NDATA; i++)
		gnttab_grant_access(h->gnt, REF_DATA + i, 0, PFN_DATA + i, false);
	rc = hvc_evtchn_alloc_unbound(h->hv, 0, &h->tx_port);
	if (rc == 0)
		rc = hvc_evtchn_alloc_unbound(h->hv, 0, &h->rx_port);
	if (rc < 0)
		return rc;
	for (int attempt = 0; attempt < 20; attempt++) {
		uint32_t tx;
		int w = 0;
		rc = xs_client_transaction_start(h->xs, &tx);
		if (rc < 0)
			return rc;
#define KEY(k, fmt, v)                                                                             \
	do {                                                                                       \
		snprintf(path, sizeof(path), "%s/%s", h->fe, k);                                   \
		w |= xs_client_printf(h->xs, tx, path, fmt, v);                                    \
	} while (0)
		KEY("tx-ring-ref", "%u", REF_TX);
		KEY("rx-ring-ref", "%u", REF_RX);
		KEY("event-channel-tx", "%u", h->tx_port);
		KEY("event-channel-rx", "%u", h->rx_port);
		for (unsigned i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
			KEY(feats[i], "%s", "1");
#undef KEY
		if (w) {
			xs_client_transaction_end(h->xs, tx, false);
			return -EIO;
		}
		rc = xs_client_transaction_end(h->xs, tx, true);
		if (rc != -EAGAIN)
			break;
	}
	if (rc < 0)
		return rc;
	rc = set_state(h, XenbusStateConnected);
	if (rc < 0)
		return rc;
	rc = wait_be_state(h, XenbusStateConnected, 5000);
	if (rc < 0)
		return rc;
	rc = hvc_evtchn_get_fds(h->hv, h->tx_port, &h->tx_wait, &h->tx_notify);
	if (rc == 0)
		rc = hvc_evtchn_get_fds(h->hv, h->rx_port, &h->rx_wait, &h->rx_notify);
	return rc;
}

/* A broadcast frame of `len` bytes from our MAC in data page i. */
static void make_frame(struct hs *h, unsigned page, unsigned off, unsigned len)
{
	uint8_t *p = h->mem + (PFN_DATA + page) * PAGE + off;
	memset(p, 0xff, 6);
	memcpy(p + 6, h->mac, 6);
	p[12] = 0x88; /* local experimental ethertype 0x88b5 */
	p[13] = 0xb5;
	for (unsigned i = 14; i < len && off + i < PAGE; i++)
		p[i] = (uint8_t)i;
}

static void notify(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) < 0)
		perror("notify");
}

static struct netif_tx_request *txreq(struct hs *h, unsigned k)
{
	return RING_GET_REQUEST(&h->tx, h->tx.req_prod_pvt + k);
}

static void tx_push(struct hs *h, unsigned n)
{
	int dummy;
	h->tx.req_prod_pvt += n;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&h->tx, dummy);
	(void)dummy;
	notify(h->tx_notify);
}

/* A chain of n data slots of 100 bytes each (slot 0's size = the total). */
static void tx_chain(struct hs *h, unsigned n)
{
	make_frame(h, 0, 0, 100);
	for (unsigned k = 0; k < n; k++) {
		struct netif_tx_request *r = txreq(h, k);
		*r = (struct netif_tx_request){.gref = REF_DATA,
					       .offset = 0,
					       .flags = k + 1 < n ? NETTXF_more_data : 0,
					       .id = (uint16_t)k,
					       .size = (uint16_t)(k ? 100 : 100 * n)};
	}
	tx_push(h, n);
}

static void tx_one(struct hs *h, grant_ref_t gref, unsigned off, unsigned size, unsigned flags)
{
	*txreq(h, 0) = (struct netif_tx_request){.gref = gref,
						 .offset = (uint16_t)off,
						 .flags = (uint16_t)flags,
						 .id = 0,
						 .size = (uint16_t)size};
}

static void tx_extra(struct hs *h, unsigned k, uint8_t type, uint16_t gso_size)
{
	struct netif_extra_info *e = (struct netif_extra_info *)txreq(h, k);
	memset(e, 0, sizeof(*e));
	e->type = type;
	if (type == XEN_NETIF_EXTRA_TYPE_GSO) {
		e->u.gso.size = gso_size;
		e->u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
	}
}

static void post_rx(struct hs *h, grant_ref_t gref, unsigned n)
{
	int dummy;
	for (unsigned k = 0; k < n; k++) {
		struct netif_rx_request *r = RING_GET_REQUEST(&h->rx, h->rx.req_prod_pvt + k);
		r->id = (uint16_t)((h->rx.req_prod_pvt + k) & (NET_RX_RING_SIZE - 1));
		r->gref = gref;
	}
	h->rx.req_prod_pvt += n;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&h->rx, dummy);
	(void)dummy;
	notify(h->rx_notify);
}

static void *rewriter(void *arg)
{
	struct hs *h = arg;
	unsigned i = 0;

	while (!h->stop_rewrite) {
		for (unsigned k = 0; k < NET_TX_RING_SIZE; k++) {
			struct netif_tx_request *r = RING_GET_REQUEST(&h->tx, k);
			/* sizes that are each valid alone; netback must use the one it copied */
			__atomic_store_n(&r->size, (uint16_t)((i & 1) ? 60 : 1000),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&r->flags, (uint16_t)0, __ATOMIC_RELAXED);
		}
		i++;
	}
	return NULL;
}

/* rx_ro, rx_revoked, rx_bad_gref: an RX buffer netback must not write, then a frame. */
static void case_rx_bad(struct hs *h, const char *c)
{
	grant_ref_t g = 100000;

	if (!strcmp(c, "rx_ro")) {
		g = REF_SPARE;
		gnttab_grant_access(h->gnt, g, 0, PFN_DATA + 5, true);
	} else if (!strcmp(c, "rx_revoked")) {
		g = REF_SPARE + 1;
		gnttab_grant_access(h->gnt, g, 0, PFN_DATA + 6, false);
		gnttab_end_access(h->gnt, g);
	}
	post_rx(h, g, 64);
	/* announce our MAC so unicast reaches us too */
	tx_one(h, REF_DATA, 0, 60, 0);
	tx_push(h, 1);
}

/* rewrite: TX bursts while a thread keeps rewriting the requests in the shared ring. */
static int case_rewrite(struct hs *h, char *note, size_t nsize)
{
	pthread_t t;
	unsigned sent = 0, okay = 0, other = 0;

	if (pthread_create(&t, NULL, rewriter, h) != 0)
		return -EAGAIN;
	for (unsigned round = 0; round < 2000; round++) {
		RING_IDX cons;
		unsigned n = 16;
		if (RING_FREE_REQUESTS(&h->tx) < n) {
			msleep(1);
		} else {
			for (unsigned k = 0; k < n; k++)
				*txreq(h, k) = (struct netif_tx_request){
					.gref = REF_DATA, .id = (uint16_t)k, .size = 60};
			tx_push(h, n);
			sent += n;
		}
		cons = h->tx.rsp_cons;
		for (; cons != h->tx.sring->rsp_prod; cons++) {
			if (RING_GET_RESPONSE(&h->tx, cons)->status == NETIF_RSP_OKAY)
				okay++;
			else
				other++;
		}
		h->tx.rsp_cons = cons;
	}
	h->stop_rewrite = 1;
	pthread_join(t, NULL);
	snprintf(note, nsize, " sent=%u okay=%u other=%u", sent, okay, other);
	return 0;
}

/* Play case c on the connected rings; note gets what the case measured. */
static int run_case(struct hs *h, const char *c, char *note, size_t nsize)
{
	*note = 0;
	make_frame(h, 0, 0, 1000);
	if (!strcmp(c, "ok")) {
		tx_one(h, REF_DATA, 0, 60, 0);
		tx_push(h, 1);
	} else if (!strcmp(c, "prod_overflow")) {
		tx_one(h, REF_DATA, 0, 60, 0);
		h->tx.sring->req_prod = h->tx.req_prod_pvt + 1000;
		notify(h->tx_notify);
	} else if (!strcmp(c, "slots19")) {
		tx_chain(h, 19);
	} else if (!strcmp(c, "slots20")) {
		tx_chain(h, 20);
	} else if (!strcmp(c, "slots22")) {
		tx_chain(h, 22);
	} else if (!strcmp(c, "chain_trunc")) {
		tx_one(h, REF_DATA, 0, 200, NETTXF_more_data);
		tx_push(h, 1);
	} else if (!strcmp(c, "page_overflow")) {
		tx_one(h, REF_DATA, 4000, 200, 0);
		tx_push(h, 1);
	} else if (!strcmp(c, "runt")) {
		tx_one(h, REF_DATA, 0, 10, 0);
		tx_push(h, 1);
	} else if (!strcmp(c, "zero_frag")) {
		tx_one(h, REF_DATA, 0, 100, NETTXF_more_data);
		*txreq(h, 1) = (struct netif_tx_request){.gref = REF_DATA + 1, .id = 1, .size = 0};
		tx_push(h, 2);
	} else if (!strcmp(c, "extra_type0") || !strcmp(c, "extra_unknown") ||
		   !strcmp(c, "gso_size0")) {
		tx_one(h, REF_DATA, 0, 100, NETTXF_extra_info);
		tx_extra(h, 1,
			 !strcmp(c, "extra_type0") ? 0
			 : !strcmp(c, "gso_size0") ? XEN_NETIF_EXTRA_TYPE_GSO
						   : 200,
			 0);
		tx_push(h, 2);
	} else if (!strcmp(c, "bad_gref")) {
		tx_one(h, 100000, 0, 60, 0);
		tx_push(h, 1);
	} else if (!strcmp(c, "foreign_gref")) {
		gnttab_grant_access(h->gnt, REF_SPARE, 77, PFN_DATA, true);
		tx_one(h, REF_SPARE, 0, 60, 0);
		tx_push(h, 1);
	} else if (!strcmp(c, "rx_ro") || !strcmp(c, "rx_revoked") || !strcmp(c, "rx_bad_gref")) {
		case_rx_bad(h, c);
	} else if (!strcmp(c, "no_rx")) {
		tx_one(h, REF_DATA, 0, 60, 0);
		tx_push(h, 1);
	} else if (!strcmp(c, "rewrite")) {
		return case_rewrite(h, note, nsize);
	} else {
		return -EINVAL;
	}
	return 0;
}

/* --domid, --hv-fd, --name; nonzero on an unknown option. */
static int parse_opts(int argc, char **argv, long *domid, int *hv_fd, const char **name)
{
	static const struct option opts[] = {{"domid", required_argument, NULL, 'd'},
					     {"hv-fd", required_argument, NULL, 'f'},
					     {"name", required_argument, NULL, 'n'},
					     {NULL, 0, NULL, 0}};
	int o;

	while ((o = getopt_long(argc, argv, "d:f:n:", opts, NULL)) != -1) {
		if (o == 'd')
			*domid = strtol(optarg, NULL, 10);
		else if (o == 'f')
			*hv_fd = (int)strtol(optarg, NULL, 10);
		else if (o == 'n')
			*name = optarg;
		else
			return 1;
	}
	return 0;
}

/* The frontend and backend paths and the MAC from the store; pvnet-guest node
 * written. Nonzero (said on stdout) when the backend node is missing. */
static int read_nodes(struct hs *h, long domid)
{
	char path[200], *val = NULL;
	size_t len;

	snprintf(h->fe, sizeof(h->fe), "/local/domain/%ld/device/vif/0", domid);
	snprintf(path, sizeof(path), "%s/backend", h->fe);
	if (xs_client_read(h->xs, 0, path, &val, &len) < 0 || len >= sizeof(h->be)) {
		printf("hostile: no backend node\n");
		return 1;
	}
	memcpy(h->be, val, len);
	h->be[len] = 0;
	free(val);
	snprintf(path, sizeof(path), "%s/mac", h->fe);
	if (xs_client_read(h->xs, 0, path, &val, &len) == 0) {
		pvnet_mac_parse(val, h->mac); /* h->mac stays as it was on a bad node */
		free(val);
	}
	snprintf(path, sizeof(path), "/local/domain/%ld/data/pvnet-guest", domid);
	xs_client_printf(h->xs, 0, path, "hostile pid %ld", (long)getpid());
	return 0;
}

/* After the case: the TX statuses netback answered, on stdout and in the store. */
static void report(struct hs *h, long domid, const char *c, const char *note)
{
	char path[200], rsp[256];

	msleep(500);
	{
		RING_IDX p = h->tx.sring->rsp_prod;
		size_t off = 0;
		rsp[0] = 0;
		for (RING_IDX i = h->tx.rsp_cons; i != p && off < sizeof(rsp) - 8; i++)
			off += (size_t)snprintf(rsp + off, sizeof(rsp) - off, "%s%d",
						off ? "," : "",
						RING_GET_RESPONSE(&h->tx, i)->status);
	}
	printf("hostile: case=%s be_state=%ld tx_rsp_prod=%u statuses=%s%s\n", c,
	       read_long(h, h->be, "state", -1), h->tx.sring->rsp_prod, rsp[0] ? rsp : "-", note);
	snprintf(path, sizeof(path), "/local/domain/%ld/data/hostile", domid);
	xs_client_printf(h->xs, 0, path, "case=%s be_state=%ld statuses=%s%s", c,
			 read_long(h, h->be, "state", -1), rsp[0] ? rsp : "-", note);
}

/* vmm.c: `pvnet-hostile vmm ...`, a hostile VMM on a vhost-user port */
int vmm_main(int argc, char **argv);

int main(int argc, char **argv)
{
	if (pvnet_version_opt(argc, argv, "pvnet-hostile"))
		return 0;
	if (argc > 1 && !strcmp(argv[1], "vmm"))
		return vmm_main(argc - 1, argv + 1);
	struct hs h = {.tx_wait = -1, .tx_notify = -1, .rx_wait = -1, .rx_notify = -1};
	const char *name = "", *c;
	char note[96];
	long domid = -1;
	int hv_fd = -1, rc;
	size_t size;

	if (parse_opts(argc, argv, &domid, &hv_fd, &name))
		return 2;
	c = getenv("PVNET_HOSTILE_CASE");
	if (!c || !*c)
		c = strrchr(name, '-') ? strrchr(name, '-') + 1 : "ok";
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (hv_fd < 0 || domid < 1 || hvc_open(hv_fd, &h.hv) < 0)
		return 2;
	h.mem = hvc_mem(h.hv, &size);
	h.gnt = hvc_grant_table(h.hv, &h.nr_gnt);
	if (xs_client_open_fd(hvc_take_xs_fd(h.hv), &h.xs) < 0) {
		printf("hostile: no store\n");
		return 1;
	}
	if (!strcmp(c, "store")) /* store attack: tools/pvnet-hostile/store.c */
		return hostile_store(hv_fd, domid, h.xs, &got_signal);
	if (read_nodes(&h, domid))
		return 1;
	{
		/* hv.c: event-channel, grant-map, queue and store-storm attacks */
		struct hostile_env env = {.hv = h.hv,
					  .xs = h.xs,
					  .domid = domid,
					  .fe = h.fe,
					  .be = h.be,
					  .mac = h.mac,
					  .stop = &got_signal};
		if (hostile_hv_run(&env, c) == 0)
			goto idle;
	}
	if (wait_be_state(&h, XenbusStateInitWait, 5000) < 0 || (rc = connect(&h)) < 0) {
		printf("hostile: case=%s connect failed (backend state %ld)\n", c,
		       read_long(&h, h.be, "state", -1));
		goto idle;
	}
	printf("hostile: case=%s connected\n", c);
	rc = run_case(&h, c, note, sizeof(note));
	if (rc < 0) {
		printf("hostile: case=%s unknown case\n", c);
		goto idle;
	}
	report(&h, domid, c, note);
idle:
	while (!got_signal)
		pause();
	set_state(&h, XenbusStateClosing);
	set_state(&h, XenbusStateClosed);
	xs_client_close(h.xs);
	hvc_close(h.hv);
	return 0;
}
