/* SPDX-License-Identifier: MIT */
/*
 * pvnet-guest - one guest domain (domU). Started by pvnetd with the guest's
 * end of its hypercall socket:
 *
 *   pvnet-guest --domid N --hv-fd FD [--name NAME] [--adopt PATH]
 *
 * Maps its memory and grant table (received over the socket), talks to the
 * store over the connection pvnetd handed it, creates its network namespace
 * (/local/domain/<d>/pvnet/netns, default the domain name, visible to
 * `ip netns exec`), starts a netfront for every vif under device/vif/,
 * announces itself (data/pvnet-guest), and exits cleanly - vifs Closing ->
 * Closed, namespace removed - when the toolstack writes control/shutdown or on
 * SIGTERM/SIGINT. When pvnetd goes away (stopped, crashed, upgraded) and
 * --adopt names its adopt socket, the guest keeps running: its namespace, TAP
 * devices and the sockets of programs inside stay; it retries the socket
 * (every 10 ms, backing off to 100 ms) until a pvnetd on the same run dir
 * re-adopts it (hvc_reattach), then re-publishes its store nodes and its vifs
 * run the connect sequence again. Without --adopt it exits, as before.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/config.h>
#include <pvnet/ctl.h>
#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/log.h>
#include <pvnet/migrate.h>
#include <pvnet/netfront.h>
#include <pvnet/pktgen.h>
#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

#include <arpa/inet.h>
#include <time.h>
#include <pvnet/version.h>

#define MOD "guest"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvnet-guest --domid N --hv-fd FD [--name NAME] [--adopt PATH]\n"
		   "Started by pvnetd for each domain; not meant to be run by hand.\n");
}

/*
 * mode=pktgen / mode=sink glue: one pktgen core per queue (the core is not
 * thread-safe), driven from netfront's queue threads through nf_app_ops. The
 * threads publish their counters after every burst with relaxed atomic
 * stores; the main loop sums them once a second into the store
 * (<home>/data/pktgen/...) and the console. Writing "stop" to
 * <home>/control/pktgen pauses every generator (sinks keep counting), so a
 * test can read settled counters; "start" resumes. After either, once the
 * counters have settled (frames in flight landed), the guest reports them and
 * writes <home>/data/pktgen/paused = 1 / 0: a reader that waits for it reads
 * settled counters at once.
 */
enum { PUB_TX_P, PUB_TX_B, PUB_RX_P, PUB_RX_B, PUB_LOST, PUB_LATE, PUB_OTHER, PUB__N };
static const char *const pub_names[PUB__N] = {
	"tx_packets", "tx_bytes", "rx_packets", "rx_bytes", "rx_lost", "rx_reordered", "rx_other"};

struct app_queue {
	struct pktgen *pg;
	uint64_t pub[PUB__N]; /* written by the queue thread, read by main */
	char pad[64];
};

struct app_vif {
	struct nf_vif_params params;
	int paused; /* atomic: generators send nothing */
	struct app_queue q[NF_MAX_QUEUES];
};

static void app_publish(struct app_queue *aq)
{
	struct pktgen_stats st;

	pktgen_stats_get(aq->pg, &st);
	__atomic_store_n(&aq->pub[PUB_TX_P], st.tx_frames, __ATOMIC_RELAXED);
	__atomic_store_n(&aq->pub[PUB_TX_B], st.tx_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&aq->pub[PUB_RX_P], st.rx_frames, __ATOMIC_RELAXED);
	__atomic_store_n(&aq->pub[PUB_RX_B], st.rx_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&aq->pub[PUB_LOST], st.rx_lost, __ATOMIC_RELAXED);
	__atomic_store_n(&aq->pub[PUB_LATE], st.rx_late, __ATOMIC_RELAXED);
	__atomic_store_n(&aq->pub[PUB_OTHER], st.rx_other, __ATOMIC_RELAXED);
}

static unsigned app_tx_fill(void *arg, unsigned queue, struct nf_app_frame *fr, unsigned n)
{
	struct app_vif *av = arg;
	struct app_queue *aq = &av->q[queue];
	uint64_t now = pvnet_now_ns(); /* once per burst */
	uint32_t size = pktgen_size(aq->pg);

	if (__atomic_load_n(&av->paused, __ATOMIC_RELAXED))
		return 0;
	n = pktgen_budget(aq->pg, now, n);
	for (unsigned i = 0; i < n; i++) {
		/* a page that still holds our frame of this size needs only a restamp */
		if (fr[i].len == size)
			pktgen_stamp(aq->pg, fr[i].data, now);
		else
			pktgen_fill(aq->pg, fr[i].data, fr[i].cap, now);
		fr[i].len = size;
	}
	if (n)
		app_publish(aq);
	return n;
}

static void app_rx(void *arg, unsigned queue, const struct nf_app_frame *fr, unsigned n)
{
	struct app_queue *aq = &((struct app_vif *)arg)->q[queue];
	uint64_t now = pvnet_now_ns();

	for (unsigned i = 0; i < n; i++)
		pktgen_rx(aq->pg, fr[i].data, fr[i].len, now);
	app_publish(aq);
}

static const struct nf_app_ops app_gen_ops = {.tx_fill = app_tx_fill, .rx = app_rx};
static const struct nf_app_ops app_sink_ops = {.tx_fill = NULL, .rx = app_rx};

static void app_vif_free(struct app_vif *av)
{
	if (!av)
		return;
	for (unsigned i = 0; i < sizeof(av->q) / sizeof(av->q[0]); i++)
		pktgen_destroy(av->q[i].pg);
	free(av);
}

/* Sets up the generator/sink of a pktgen/sink vif; 0 for a tap vif (nothing to do). */
static int app_vif_attach(struct nf_vif *vif, struct app_vif **out)
{
	struct app_vif *av;
	struct pktgen_cfg cfg = {0};
	struct in_addr ip;
	int rc = 0;

	*out = NULL;
	av = calloc(1, sizeof(*av));
	if (!av)
		return -ENOMEM;
	nf_vif_get_params(vif, &av->params);
	if (av->params.mode == PVNET_VIF_MODE_TAP) {
		free(av);
		return 0;
	}
	cfg.size = av->params.pkt;
	memcpy(cfg.src_mac, av->params.mac, 6);
	memcpy(cfg.dst_mac, av->params.dst_mac, 6);
	cfg.src_ip = inet_pton(AF_INET, av->params.ip, &ip) == 1 ? ip.s_addr : 0;
	cfg.dst_ip = 0xffffffffu;
	cfg.rate_pps = av->params.pps;
	for (unsigned i = 0; i < sizeof(av->q) / sizeof(av->q[0]) && rc == 0; i++) {
		rc = pktgen_create(&cfg, &av->q[i].pg);
		if (rc == 0)
			pktgen_reset(av->q[i].pg, pvnet_now_ns());
	}
	if (rc == 0)
		rc = nf_vif_set_app(vif,
				    av->params.mode == PVNET_VIF_MODE_PKTGEN ? &app_gen_ops
									     : &app_sink_ops,
				    av);
	if (rc < 0) {
		app_vif_free(av);
		return rc;
	}
	*out = av;
	return 0;
}

/* Total time a clean exit may spend waiting for backends (pvnetd kills at 3 s). */
#define SHUTDOWN_BUDGET_MS 1500

struct guest {
	struct hvc *hv;
	struct xs_client *xs;
	struct nf_alloc alloc;
	struct nf_vif *vifs[PVNET_MAX_VIFS];
	struct app_vif *apps[PVNET_MAX_VIFS]; /* NULL for tap vifs */
	unsigned n_vifs, n_apps;
	uint64_t app_last[PUB__N], app_last_ns;
	char home[64];
	char netns[PVNET_NAME_MAX];
	bool netns_made;
	/* live migration (docs/migration.md): control/migrate asked us to suspend */
	bool suspended;
	char mig_path[MIG_PATH_MAX];
	uint8_t mig_token[MIG_TOKEN_SIZE];
};

static bool devid_listed(char **names, unsigned count, unsigned devid)
{
	char want[12];

	snprintf(want, sizeof(want), "%u", devid);
	for (unsigned i = 0; i < count; i++)
		if (!strcmp(names[i], want))
			return true;
	return false;
}

static bool devid_known(const struct guest *g, unsigned devid)
{
	for (unsigned i = 0; i < g->n_vifs; i++)
		if (nf_vif_devid(g->vifs[i]) == devid)
			return true;
	return false;
}

/*
 * Makes the vifs match device/vif/: starts a netfront for each new directory
 * and removes the vif of each directory the toolstack removed (hot-plug, as
 * Linux's xenbus probes and removes devices on its device/ watch). Other vifs'
 * data paths run on meanwhile: only the control path of this thread pauses.
 */
static int sync_vifs(struct guest *g)
{
	char dir[96], **names = NULL;
	unsigned count = 0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/device/vif", g->home);
	rc = xs_client_directory(g->xs, 0, dir, &names, &count);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	for (unsigned i = g->n_vifs; i-- > 0;) {
		/* gone, or closed for removal (a directory listed again is a new device) */
		if (devid_listed(names, count, nf_vif_devid(g->vifs[i])) &&
		    !nf_vif_removing(g->vifs[i]))
			continue;
		PVLOG(INFO, MOD, "vif %u: removed", nf_vif_devid(g->vifs[i]));
		nf_vif_remove(g->vifs[i]);
		if (g->apps[i])
			g->n_apps--;
		app_vif_free(g->apps[i]);
		/* keep the order: vifs[i] <-> apps[i] */
		memmove(&g->vifs[i], &g->vifs[i + 1], (g->n_vifs - i - 1) * sizeof(g->vifs[0]));
		memmove(&g->apps[i], &g->apps[i + 1], (g->n_vifs - i - 1) * sizeof(g->apps[0]));
		g->n_vifs--;
		g->vifs[g->n_vifs] = NULL;
		g->apps[g->n_vifs] = NULL;
	}
	for (unsigned i = 0; i < count; i++) {
		char *end;
		long devid = strtol(names[i], &end, 10);
		struct nf_vif *vif;

		if (*end || devid < 0 || devid > 255 || devid_known(g, (unsigned)devid))
			continue;
		if (g->n_vifs >= PVNET_MAX_VIFS) {
			PVLOG(WARN, MOD, "vif %ld: more than %d vifs; ignored", devid,
			      PVNET_MAX_VIFS);
			continue;
		}
		rc = nf_vif_create(g->hv, g->xs, &g->alloc, (unsigned)devid, &vif);
		if (rc == -ENODEV)
			continue; /* being removed */
		if (rc < 0) {
			PVLOG(ERR, MOD, "vif %ld: %s", devid, strerror(-rc));
			continue;
		}
		rc = app_vif_attach(vif, &g->apps[g->n_vifs]);
		if (rc < 0) {
			PVLOG(ERR, MOD, "vif %ld: pktgen/sink setup: %s", devid, strerror(-rc));
			nf_vif_destroy(vif);
			continue;
		}
		if (g->apps[g->n_vifs])
			g->n_apps++;
		g->vifs[g->n_vifs++] = vif;
	}
	xs_free_list(names, count);
	return 0;
}

/*
 * A watch event under device/vif: a directory appeared or went (device/vif
 * itself, device/vif/N, or below an N we do not have yet). Changes below a
 * vif we have (our own state writes, mostly) are that vif's business.
 */
static bool vifdir_event(const struct guest *g, const char *path)
{
	char dir[96];
	size_t n;
	char *end;
	long devid;

	snprintf(dir, sizeof(dir), "%s/device/vif", g->home);
	n = strlen(dir);
	if (strncmp(path, dir, n) || !path[n])
		return true; /* device/vif itself, or a parent removed */
	if (path[n] != '/')
		return false;
	devid = strtol(path + n + 1, &end, 10);
	if (end == path + n + 1 || (*end && *end != '/'))
		return false;
	return !*end || devid < 0 || devid > 255 || !devid_known(g, (unsigned)devid);
}

/* The namespace name: pvnet/netns, default the domain name. */
static int make_netns(struct guest *g, const char *name)
{
	char path[128], *val = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/pvnet/netns", g->home);
	if (xs_client_read(g->xs, 0, path, &val, &len) == 0 && len > 0)
		snprintf(g->netns, sizeof(g->netns), "%s", val);
	else
		snprintf(g->netns, sizeof(g->netns), "%s", name);
	free(val);
	rc = nf_netns_create(g->netns);
	if (rc < 0) {
		PVLOG(ERR, MOD, "cannot create network namespace '%s': %s", g->netns,
		      strerror(-rc));
		return rc;
	}
	g->netns_made = true;
	/* tells the toolstack it may remove the mount if we die without cleaning up */
	snprintf(path, sizeof(path), "%s/pvnet/netns-created", g->home);
	xs_client_printf(g->xs, 0, path, "%s", g->netns);
	return 0;
}

/* Sums the pktgen/sink counters of every vif into <home>/data/pktgen and logs the rates. */
static void app_report(struct guest *g)
{
	uint64_t sum[PUB__N] = {0}, now = pvnet_now_ns();
	double secs = g->app_last_ns ? (double)(now - g->app_last_ns) / 1e9 : 0;
	char path[128];

	for (unsigned v = 0; v < g->n_vifs; v++) {
		struct app_vif *av = g->apps[v];
		if (!av)
			continue;
		for (unsigned i = 0; i < sizeof(av->q) / sizeof(av->q[0]); i++)
			for (unsigned k = 0; k < PUB__N; k++)
				sum[k] += __atomic_load_n(&av->q[i].pub[k], __ATOMIC_RELAXED);
	}
	for (unsigned k = 0; k < PUB__N; k++) {
		snprintf(path, sizeof(path), "%s/data/pktgen/%s", g->home, pub_names[k]);
		xs_client_printf(g->xs, 0, path, "%llu", (unsigned long long)sum[k]);
	}
	if (secs > 0 &&
	    (sum[PUB_TX_P] != g->app_last[PUB_TX_P] || sum[PUB_RX_P] != g->app_last[PUB_RX_P]))
		PVLOG(INFO, MOD,
		      "pktgen: tx %llu pkts %.3f Mpps, rx %llu pkts %.3f Mpps, lost %llu, "
		      "reordered %llu",
		      (unsigned long long)sum[PUB_TX_P],
		      (double)(sum[PUB_TX_P] - g->app_last[PUB_TX_P]) / secs / 1e6,
		      (unsigned long long)sum[PUB_RX_P],
		      (double)(sum[PUB_RX_P] - g->app_last[PUB_RX_P]) / secs / 1e6,
		      (unsigned long long)sum[PUB_LOST], (unsigned long long)sum[PUB_LATE]);
	memcpy(g->app_last, sum, sizeof(sum));
	g->app_last_ns = now;
}

/* Sum of the published tx+rx frame counters of every queue. */
static uint64_t app_frames(const struct guest *g)
{
	uint64_t sum = 0;

	for (unsigned v = 0; v < g->n_vifs; v++) {
		const struct app_vif *av = g->apps[v];
		if (!av)
			continue;
		for (unsigned i = 0; i < sizeof(av->q) / sizeof(av->q[0]); i++)
			sum += __atomic_load_n(&av->q[i].pub[PUB_TX_P], __ATOMIC_RELAXED) +
			       __atomic_load_n(&av->q[i].pub[PUB_RX_P], __ATOMIC_RELAXED);
	}
	return sum;
}

/*
 * After a pause: waits until the frames in flight have landed (the counters
 * stay unchanged for APP_SETTLE_MS), at most APP_SETTLE_MAX_MS. A control-loop
 * wait, not on the data path.
 */
#define APP_SETTLE_MS 20
#define APP_SETTLE_MAX_MS 500
static void app_settle(const struct guest *g)
{
	const struct timespec tick = {0, APP_SETTLE_MS * 1000000L};
	uint64_t prev = app_frames(g), cur;

	for (int waited = 0; waited < APP_SETTLE_MAX_MS; waited += APP_SETTLE_MS) {
		nanosleep(&tick, NULL);
		cur = app_frames(g);
		if (cur == prev)
			break;
		prev = cur;
	}
}

static void app_control(struct guest *g, const char *path)
{
	char path2[128], *what = NULL;
	size_t len;
	int paused;

	if (xs_client_read(g->xs, 0, path, &what, &len) < 0)
		return;
	paused = !strcmp(what, "stop");
	PVLOG(INFO, MOD, "pktgen: %s", paused ? "paused" : "running");
	for (unsigned v = 0; v < g->n_vifs; v++)
		if (g->apps[v])
			__atomic_store_n(&g->apps[v]->paused, paused, __ATOMIC_RELAXED);
	free(what);
	if (paused)
		app_settle(g);
	app_report(g);
	/* after the report: a reader that sees paused=1 reads settled counters */
	snprintf(path2, sizeof(path2), "%s/data/pktgen/paused", g->home);
	xs_client_printf(g->xs, 0, path2, "%d", paused);
}

static void stop_guest(struct guest *g)
{
	char path[128];
	int budget = g->n_vifs ? SHUTDOWN_BUDGET_MS / (int)g->n_vifs : 0;

	for (unsigned i = 0; i < g->n_vifs; i++) {
		nf_vif_shutdown(g->vifs[i], budget);
		nf_vif_log_stats(g->vifs[i]);
	}
	if (g->n_apps)
		app_report(g); /* final counters, threads stopped */
	for (unsigned i = 0; i < g->n_vifs; i++) {
		nf_vif_destroy(g->vifs[i]);
		g->vifs[i] = NULL;
		app_vif_free(g->apps[i]);
		g->apps[i] = NULL;
	}
	g->n_vifs = g->n_apps = 0;
	if (g->netns_made) {
		int rc = pvnet_netns_remove(g->netns);
		if (rc < 0)
			PVLOG(WARN, MOD, "removing namespace %s: %s", g->netns, strerror(-rc));
		snprintf(path, sizeof(path), "%s/pvnet/netns-created", g->home);
		xs_client_rm(g->xs, 0, path);
		g->netns_made = false;
	}
}

/* The guest's own store nodes: written at start and again after a re-adoption
 * (the restarted pvnetd's store holds only what the toolstack wrote). */
static int publish(struct guest *g, const char *shutdown_path)
{
	char path[128];
	int rc;

	if (g->netns_made) {
		snprintf(path, sizeof(path), "%s/pvnet/netns-created", g->home);
		xs_client_printf(g->xs, 0, path, "%s", g->netns);
	}
	snprintf(path, sizeof(path), "%s/control/feature-poweroff", g->home);
	xs_client_printf(g->xs, 0, path, "1");
	snprintf(path, sizeof(path), "%s/data/pvnet-guest", g->home);
	xs_client_printf(g->xs, 0, path, "%s pid %ld", PVNET_VERSION, (long)getpid());
	/* hot-plug: vifs attached and detached while we run */
	snprintf(path, sizeof(path), "%s/device/vif", g->home);
	rc = xs_client_watch(g->xs, path, "vifdir");
	if (rc < 0)
		PVLOG(WARN, MOD, "store: watch %s: %s (no vif hot-plug)", path, strerror(-rc));
	snprintf(path, sizeof(path), "%s/control/migrate", g->home);
	if (xs_client_watch(g->xs, path, "migrate") < 0)
		PVLOG(WARN, MOD, "store: watch %s: no live migration", path);
	rc = xs_client_watch(g->xs, shutdown_path, "shutdown");
	if (rc < 0) {
		PVLOG(ERR, MOD, "store: watch %s: %s", shutdown_path, strerror(-rc));
		return rc;
	}
	return 0;
}

/* One connection attempt to the adopt socket: 0 (re-adopted), or -errno. */
static int adopt_try(struct guest *g, const char *adopt_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const struct timeval tmo = {3, 0}; /* a pvnetd that accepted but never answers */
	int fd, rc;

	if (strlen(adopt_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, adopt_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = hvc_reattach(g->hv, fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return 0;
}

/* How long a guest waits for a run dir that has disappeared before it exits:
 * 60 s, or $PVNET_GUEST_ORPHAN_S (inherited from pvnetd's environment). */
static uint64_t orphan_ns(void)
{
	const char *e = getenv("PVNET_GUEST_ORPHAN_S");
	char *end;
	unsigned long v = e ? strtoul(e, &end, 10) : 0;

	if (!e || *end || v == 0 || v > 86400)
		v = 60;
	return (uint64_t)v * 1000000000ull;
}

/* 1 if the directory holding the adopt socket exists. */
static int run_dir_exists(const char *adopt_path)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", adopt_path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 1;
	*slash = 0;
	return stat(dir[0] ? dir : "/", &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * pvnetd went away: the vifs drop their connections (TAPs stay), then the adopt
 * socket is retried until a new pvnetd takes us back, or a signal. 0 once the
 * store client is new and every vif reconnects, -EINTR on a signal (the caller
 * exits; the old store client, dead, is still g->xs).
 */
static int readopt(struct guest *g, const char *adopt_path, sigset_t *orig)
{
	struct xs_client *xs;
	int delay_ms = 10, rc, last = 0;
	uint64_t since = pvnet_now_ns(), gone_since = 0;

	for (unsigned i = 0; i < g->n_vifs; i++)
		nf_vif_orphan(g->vifs[i]);
	PVLOG(WARN, MOD, "pvnetd went away; waiting to be re-adopted on %s", adopt_path);
	for (;;) {
		struct timespec ts = {0, delay_ms * 1000000L};

		rc = adopt_try(g, adopt_path);
		if (rc == 0)
			break;
		/* A run dir that stays gone means no pvnetd will ever adopt us (the
		 * host removed it); a restarting pvnetd keeps or recreates it. */
		if (!run_dir_exists(adopt_path)) {
			if (!gone_since)
				gone_since = pvnet_now_ns();
			else if (pvnet_now_ns() - gone_since > orphan_ns()) {
				PVLOG(ERR, MOD,
				      "run dir of %s gone for %u s: no pvnetd can adopt us; exiting",
				      adopt_path, (unsigned)(orphan_ns() / 1000000000u));
				return -ENOENT;
			}
		} else {
			gone_since = 0;
		}
		if (rc != last && rc != -ENOENT && rc != -ECONNREFUSED)
			PVLOG(WARN, MOD, "re-adoption refused: %s", strerror(-rc));
		last = rc;
		ppoll(NULL, 0, &ts, orig); /* signals are taken here */
		if (got_signal)
			return -EINTR;
		delay_ms = delay_ms * 2 > 100 ? 100 : delay_ms * 2;
	}
	rc = xs_client_open_fd(hvc_take_xs_fd(g->hv), &xs);
	if (rc < 0) {
		PVLOG(ERR, MOD, "re-adopted, but no store connection: %s", strerror(-rc));
		return rc;
	}
	xs_client_close(g->xs);
	g->xs = xs;
	for (unsigned i = 0; i < g->n_vifs; i++)
		if ((rc = nf_vif_reattach(g->vifs[i], xs)) < 0)
			PVLOG(ERR, MOD, "vif %u: watching its backend again: %s", i, strerror(-rc));
	PVLOG(INFO, MOD, "re-adopted by pvnetd after %llu ms",
	      (unsigned long long)((pvnet_now_ns() - since) / 1000000u));
	return 0;
}

/*
 * control/migrate, written by the source pvnetd (docs/migration.md):
 *   "logdirty"            start logging our writes (hvc_logdirty_start)
 *   "suspend PATH TOKEN"  stop the vifs' data paths (Xen's suspend), then wait:
 *                         a hang-up of the hypercall socket means resume at PATH
 *   "resume"              the migration failed: reconnect here (suspend cancelled)
 * Each answer goes to data/migrate.
 */
static void migrate_control(struct guest *g, const char *path)
{
	char ack[128], *what = NULL, tok[2 * MIG_TOKEN_SIZE + 1];
	size_t len;
	int rc = 0;

	if (xs_client_read(g->xs, 0, path, &what, &len) < 0 || !len) {
		free(what);
		return;
	}
	snprintf(ack, sizeof(ack), "%s/data/migrate", g->home);
	if (!strcmp(what, "logdirty")) {
		rc = hvc_logdirty_start(g->hv);
		xs_client_printf(g->xs, 0, ack, rc ? "logdirty-failed %d" : "logdirty", rc);
	} else if (!strncmp(what, "suspend ", 8) &&
		   sscanf(what + 8, "%107s %64s", g->mig_path, tok) == 2 &&
		   strlen(tok) == 2 * MIG_TOKEN_SIZE) {
		for (unsigned i = 0; i < MIG_TOKEN_SIZE; i++)
			sscanf(tok + 2 * i, "%2hhx", &g->mig_token[i]);
		for (unsigned i = 0; i < g->n_vifs; i++)
			nf_vif_orphan(g->vifs[i]); /* data paths stopped, rings and ports gone */
		g->suspended = true;
		PVLOG(INFO, MOD, "suspended for migration to %s", g->mig_path);
		xs_client_printf(g->xs, 0, ack, "suspended");
	} else if (!strcmp(what, "resume") && g->suspended) {
		hvc_logdirty_stop(g->hv);
		g->suspended = false;
		g->mig_path[0] = 0;
		PVLOG(INFO, MOD, "migration cancelled: resuming here");
		for (unsigned i = 0; i < g->n_vifs; i++)
			nf_vif_handle_event(g->vifs[i]); /* the connect sequence again */
		xs_client_printf(g->xs, 0, ack, "resumed");
	} else if (!strcmp(what, "resume")) {
		hvc_logdirty_stop(g->hv);
	}
	free(what);
}

/* The source let go of us: resume on the destination (its migrate.sock). 0 or -errno. */
static int migrate_in(struct guest *g)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct xs_client *xs;
	uint64_t since = pvnet_now_ns();
	int fd = -1, rc = -ENOENT;

	if (strlen(g->mig_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, g->mig_path);
	/* bounded: the destination is up (it answered DONE); 5 s for it to take us */
	while (pvnet_now_ns() - since < 5000000000ull) {
		const struct timespec ms10 = {0, 10000000L};
		const struct timeval tmo = {3, 0};
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
			     ? -errno
			     : hvc_migrate_resume(g->hv, fd, g->mig_token);
		if (rc == 0)
			break;
		close(fd);
		fd = -1;
		if (rc == -EPERM || rc == -EPROTO)
			return rc;
		nanosleep(&ms10, NULL);
	}
	if (fd < 0)
		return rc;
	/* from here our memory is the destination's: there is no way back */
	rc = xs_client_open_fd(hvc_take_xs_fd(g->hv), &xs);
	if (rc < 0)
		return -EXDEV;
	xs_client_close(g->xs);
	g->xs = xs;
	g->suspended = false;
	g->mig_path[0] = 0;
	for (unsigned i = 0; i < g->n_vifs; i++)
		if ((rc = nf_vif_reattach(g->vifs[i], xs)) < 0)
			PVLOG(ERR, MOD, "vif %u: watching its backend again: %s", i, strerror(-rc));
	PVLOG(INFO, MOD, "resumed on the destination after %llu ms",
	      (unsigned long long)((pvnet_now_ns() - since) / 1000000u));
	return 0;
}

/* The main loop's state beside the guest: its options and the store paths it watches. */
struct run {
	struct guest *g;
	const char *adopt_path;
	sigset_t *orig;
	char shutdown_path[128], pktgen_path[128];
	bool pktgen_watched, drain_now;
};

/* --domid, --hv-fd, --name, --adopt; -1 to go on, else main's exit status. */
static int parse_opts(int argc, char **argv, long *domid, int *hv_fd, const char **name,
		      const char **adopt_path)
{
	static const struct option opts[] = {
		{"domid", required_argument, NULL, 'd'}, {"hv-fd", required_argument, NULL, 'f'},
		{"name", required_argument, NULL, 'n'},  {"adopt", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "d:f:n:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			*adopt_path = optarg;
			break;
		case 'd':
			*domid = strtol(optarg, NULL, 10);
			break;
		case 'f':
			*hv_fd = (int)strtol(optarg, NULL, 10);
			break;
		case 'n':
			*name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (*hv_fd < 0 || *domid < 1) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* pktgen/sink vifs: watch control/pktgen once one exists, counters once a second. */
static void app_tick(struct run *r)
{
	struct guest *g = r->g;
	int rc;

	/* the first pktgen/sink vif (at start or hot-plugged) */
	if (g->n_apps && !r->pktgen_watched) {
		r->pktgen_watched = true;
		rc = xs_client_watch(g->xs, r->pktgen_path, "pktgen");
		if (rc < 0)
			PVLOG(WARN, MOD, "store: watch %s: %s", r->pktgen_path, strerror(-rc));
		app_report(g);
	}
	/* pktgen/sink: counters to the store once a second */
	if (g->n_apps && pvnet_now_ns() - g->app_last_ns >= 1000000000u)
		app_report(g);
}

/* The hypercall socket hung up while suspended for migration: resume on the
 * destination, or back on the source. 0 to go on, -1 to stop. */
static int on_migrated(struct run *r)
{
	struct guest *g = r->g;
	char path[128];
	int rc;

	rc = migrate_in(g);
	if (rc < 0 && (rc == -EXDEV || !r->adopt_path)) {
		PVLOG(ERR, MOD, "resuming on the destination failed: %s", strerror(-rc));
		return -1;
	}
	if (rc < 0) {
		/* the destination never took us (its stream failed, or it died):
		 * our memory is still the source's, so we are still the source's
		 * guest - wait to be re-adopted there, as after a restart */
		PVLOG(WARN, MOD, "the destination did not take us (%s): back to %s", strerror(-rc),
		      r->adopt_path);
		hvc_logdirty_stop(g->hv);
		g->suspended = false;
		g->mig_path[0] = 0;
		if (readopt(g, r->adopt_path, r->orig) < 0 || publish(g, r->shutdown_path) < 0)
			return -1;
		r->pktgen_watched = false;
		r->drain_now = true;
		return 0;
	}
	if (publish(g, r->shutdown_path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/data/migrate", g->home);
	xs_client_printf(g->xs, 0, path, "migrated");
	r->pktgen_watched = false;
	r->drain_now = true;
	return 0;
}

/* One store watch event to whichever part of the guest owns its token. */
static void on_watch(struct run *r, char *wpath, const char *token)
{
	struct guest *g = r->g;
	size_t len;

	if (!strcmp(token, "shutdown")) {
		char *what = NULL;
		if (xs_client_read(g->xs, 0, r->shutdown_path, &what, &len) == 0 && len > 0) {
			PVLOG(INFO, MOD, "shutdown requested: %s", what);
			got_signal = SIGTERM;
		}
		free(what);
	}
	if (!strcmp(token, "pktgen"))
		app_control(g, r->pktgen_path);
	if (!strcmp(token, "migrate"))
		migrate_control(g, wpath);
	if (!strcmp(token, "vifdir") && vifdir_event(g, wpath)) {
		int src = sync_vifs(g);
		if (src < 0)
			PVLOG(WARN, MOD, "store: listing vifs: %s", strerror(-src));
	}
	for (unsigned i = 0; i < g->n_vifs && !g->suspended; i++)
		if (nf_vif_owns_token(g->vifs[i], token))
			nf_vif_handle_event(g->vifs[i]);
}

/* Until a signal or pvnetd/the store goes away (for good): store events,
 * migration and re-adoption. */
static void run_loop(struct run *r)
{
	struct guest *g = r->g;
	int rc;

	while (!got_signal) {
		struct pollfd pfd[2] = {{.fd = xs_client_fd(g->xs), .events = POLLIN},
					{.fd = hvc_sock(g->hv), .events = 0}};
		char *wpath = NULL, *token = NULL;
		bool lost = false;
		const struct timespec second = {1, 0};

		app_tick(r);
		/* after a resume the backend watches' first events may already sit in the
		 * store client's buffer, with nothing more to wake the poll */
		const struct timespec zero = {0, 0};
		rc = ppoll(pfd, 2, r->drain_now ? &zero : g->n_apps ? &second : NULL, r->orig);
		r->drain_now = false;
		if (rc < 0 && errno != EINTR)
			break;
		if ((pfd[1].revents & (POLLHUP | POLLERR)) && g->suspended && g->mig_path[0]) {
			if (on_migrated(r) < 0)
				break;
			continue;
		}
		if (pfd[1].revents & (POLLHUP | POLLERR)) {
			if (!r->adopt_path) {
				PVLOG(WARN, MOD, "pvnetd went away");
				break;
			}
			if (readopt(g, r->adopt_path, r->orig) < 0 ||
			    publish(g, r->shutdown_path) < 0)
				break;
			r->pktgen_watched = false; /* watched again on the new connection */
			continue;
		}
		/* handlers make store calls that may queue more events: drain them all */
		while (!got_signal && (rc = xs_client_read_watch(g->xs, 0, &wpath, &token)) == 0) {
			on_watch(r, wpath, token);
			free(wpath);
			free(token);
		}
		if (rc < 0 && rc != -ETIMEDOUT)
			lost = true;
		if (lost || (pfd[0].revents & (POLLHUP | POLLERR))) {
			/* with --adopt, the hypercall socket's hangup (next turn) decides */
			if (r->adopt_path && !(pfd[1].revents & (POLLHUP | POLLERR))) {
				struct pollfd hp = {.fd = hvc_sock(g->hv), .events = 0};
				if (poll(&hp, 1, 1000) == 1)
					continue;
			}
			PVLOG(WARN, MOD, "store connection lost");
			break;
		}
	}
}

int main(int argc, char **argv)
{
	if (pvnet_version_opt(argc, argv, "pvnet-guest"))
		return 0;
	struct guest g = {0};
	struct run r = {.g = &g};
	const char *name = NULL;
	char path[128], *val = NULL;
	long domid = -1;
	int hv_fd = -1, xs_fd, rc, status = 1;
	size_t len, mem_size;
	unsigned nr_gnt;
	uint8_t *mem;
	sigset_t block, orig;

	rc = parse_opts(argc, argv, &domid, &hv_fd, &name, &r.adopt_path);
	if (rc >= 0)
		return rc;
	r.orig = &orig;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* signals are taken only inside ppoll(), so none is lost between checks */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	rc = hvc_open(hv_fd, &g.hv);
	if (rc < 0) {
		PVLOG(ERR, MOD, "hypercall handshake failed: %s", strerror(-rc));
		return 1;
	}
	if (hvc_domid(g.hv) != domid) {
		PVLOG(ERR, MOD, "pvnetd says we are domain %u, not %ld", hvc_domid(g.hv), domid);
		goto close_hv;
	}
	mem = hvc_mem(g.hv, &mem_size);
	hvc_grant_table(g.hv, &nr_gnt);
	/* touch our memory: it is ours and writable */
	memset(mem, 0, HV_PAGE_SIZE);
	xs_fd = hvc_take_xs_fd(g.hv);
	if (xs_fd < 0 || xs_client_open_fd(xs_fd, &g.xs) < 0) {
		PVLOG(ERR, MOD, "no store connection");
		goto close_hv;
	}
	snprintf(g.home, sizeof(g.home), "/local/domain/%ld", domid);
	snprintf(path, sizeof(path), "%s/name", g.home);
	rc = xs_client_read(g.xs, 0, path, &val, &len);
	if (rc < 0 || (name && strcmp(val, name))) {
		PVLOG(ERR, MOD, "store: %s is '%s', expected '%s'", path, rc < 0 ? "?" : val,
		      name ? name : "");
		goto close_xs;
	}
	PVLOG(INFO, MOD, "domain %ld '%s' up: %zu MiB memory, %u grant entries", domid, val,
	      mem_size >> 20, nr_gnt);

	/* before any thread exists: unshare(CLONE_NEWNET) acts on this thread only */
	if (make_netns(&g, val) < 0)
		goto close_xs;
	nf_alloc_init(&g.alloc, g.hv, 1);
	rc = sync_vifs(&g);
	if (rc < 0)
		PVLOG(ERR, MOD, "store: listing vifs: %s", strerror(-rc));

	snprintf(r.shutdown_path, sizeof(r.shutdown_path), "%s/control/shutdown", g.home);
	snprintf(r.pktgen_path, sizeof(r.pktgen_path), "%s/control/pktgen", g.home);
	if (publish(&g, r.shutdown_path) < 0)
		goto stop;

	run_loop(&r);
	status = got_signal ? 0 : 1;
	PVLOG(INFO, MOD, "domain %ld stopping", domid);
stop:
	stop_guest(&g);
close_xs:
	free(val);
	xs_client_close(g.xs);
close_hv:
	hvc_close(g.hv);
	return status;
}
