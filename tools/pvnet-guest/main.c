/* SPDX-License-Identifier: MIT */
/*
 * pvnet-guest - one guest domain (domU). Started by pvnetd with the guest's
 * end of its hypercall socket:
 *
 *   pvnet-guest --domid N --hv-fd FD [--name NAME]
 *
 * Maps its memory and grant table (received over the socket), talks to the
 * store over the connection pvnetd handed it, creates its network namespace
 * (/local/domain/<d>/pvnet/netns, default the domain name, visible to
 * `ip netns exec`), starts a netfront for every vif under device/vif/,
 * announces itself (data/pvnet-guest), and exits cleanly - vifs Closing ->
 * Closed, namespace removed - when the toolstack writes control/shutdown, on
 * SIGTERM/SIGINT, or when pvnetd goes away.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/config.h>
#include <pvnet/ctl.h>
#include <pvnet/hv.h>
#include <pvnet/hvc.h>
#include <pvnet/log.h>
#include <pvnet/netfront.h>
#include <pvnet/xs.h>

#define MOD "guest"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvnet-guest --domid N --hv-fd FD [--name NAME]\n"
		   "Started by pvnetd for each domain; not meant to be run by hand.\n");
}

/* Total time a clean exit may spend waiting for backends (pvnetd kills at 3 s). */
#define SHUTDOWN_BUDGET_MS 1500

struct guest {
	struct hvc *hv;
	struct xs_client *xs;
	struct nf_alloc alloc;
	struct nf_vif *vifs[PVNET_MAX_VIFS];
	unsigned n_vifs;
	char home[64];
	char netns[PVNET_NAME_MAX];
	bool netns_made;
};

static int start_vifs(struct guest *g)
{
	char dir[96], **names = NULL;
	unsigned count = 0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/device/vif", g->home);
	rc = xs_client_directory(g->xs, 0, dir, &names, &count);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < count && g->n_vifs < PVNET_MAX_VIFS; i++) {
		char *end;
		long devid = strtol(names[i], &end, 10);
		struct nf_vif *vif;

		if (*end || devid < 0 || devid > 255)
			continue;
		rc = nf_vif_create(g->hv, g->xs, &g->alloc, (unsigned)devid, &vif);
		if (rc < 0) {
			PVLOG(ERR, MOD, "vif %ld: %s", devid, strerror(-rc));
			continue;
		}
		g->vifs[g->n_vifs++] = vif;
	}
	xs_free_list(names, count);
	return 0;
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

static void stop_guest(struct guest *g)
{
	char path[128];
	int budget = g->n_vifs ? SHUTDOWN_BUDGET_MS / (int)g->n_vifs : 0;

	for (unsigned i = 0; i < g->n_vifs; i++) {
		nf_vif_shutdown(g->vifs[i], budget);
		nf_vif_log_stats(g->vifs[i]);
		nf_vif_destroy(g->vifs[i]);
		g->vifs[i] = NULL;
	}
	g->n_vifs = 0;
	if (g->netns_made) {
		int rc = nf_netns_remove(g->netns);
		if (rc < 0)
			PVLOG(WARN, MOD, "removing namespace %s: %s", g->netns, strerror(-rc));
		snprintf(path, sizeof(path), "%s/pvnet/netns-created", g->home);
		xs_client_rm(g->xs, 0, path);
		g->netns_made = false;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"domid", required_argument, NULL, 'd'},
					     {"hv-fd", required_argument, NULL, 'f'},
					     {"name", required_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct guest g = {0};
	const char *name = NULL;
	char path[128], shutdown_path[128], *val = NULL;
	long domid = -1;
	int hv_fd = -1, xs_fd, c, rc, status = 1;
	size_t len, mem_size;
	unsigned nr_gnt;
	uint8_t *mem;
	sigset_t block, orig;

	while ((c = getopt_long(argc, argv, "d:f:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			domid = strtol(optarg, NULL, 10);
			break;
		case 'f':
			hv_fd = (int)strtol(optarg, NULL, 10);
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (hv_fd < 0 || domid < 1) {
		usage(stderr);
		return 2;
	}
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
	rc = start_vifs(&g);
	if (rc < 0)
		PVLOG(ERR, MOD, "store: listing vifs: %s", strerror(-rc));

	snprintf(path, sizeof(path), "%s/control/feature-poweroff", g.home);
	xs_client_printf(g.xs, 0, path, "1");
	snprintf(path, sizeof(path), "%s/data/pvnet-guest", g.home);
	xs_client_printf(g.xs, 0, path, "%s pid %ld", PVNET_VERSION, (long)getpid());
	snprintf(shutdown_path, sizeof(shutdown_path), "%s/control/shutdown", g.home);
	rc = xs_client_watch(g.xs, shutdown_path, "shutdown");
	if (rc < 0) {
		PVLOG(ERR, MOD, "store: watch %s: %s", shutdown_path, strerror(-rc));
		goto stop;
	}

	while (!got_signal) {
		struct pollfd pfd[2] = {{.fd = xs_client_fd(g.xs), .events = POLLIN},
					{.fd = hv_fd, .events = 0}};
		char *wpath = NULL, *token = NULL;
		bool lost = false;

		rc = ppoll(pfd, 2, NULL, &orig);
		if (rc < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & (POLLHUP | POLLERR)) {
			PVLOG(WARN, MOD, "pvnetd went away");
			break;
		}
		/* handlers make store calls that may queue more events: drain them all */
		while (!got_signal && (rc = xs_client_read_watch(g.xs, 0, &wpath, &token)) == 0) {
			if (!strcmp(token, "shutdown")) {
				char *what = NULL;
				if (xs_client_read(g.xs, 0, shutdown_path, &what, &len) == 0 &&
				    len > 0) {
					PVLOG(INFO, MOD, "shutdown requested: %s", what);
					got_signal = SIGTERM;
				}
				free(what);
			}
			for (unsigned i = 0; i < g.n_vifs; i++)
				if (nf_vif_owns_token(g.vifs[i], token))
					nf_vif_handle_event(g.vifs[i]);
			free(wpath);
			free(token);
		}
		if (rc < 0 && rc != -ETIMEDOUT)
			lost = true;
		if (lost || (pfd[0].revents & (POLLHUP | POLLERR))) {
			PVLOG(WARN, MOD, "store connection lost");
			break;
		}
	}
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
