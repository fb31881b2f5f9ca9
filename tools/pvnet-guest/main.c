/* SPDX-License-Identifier: MIT */
/*
 * pvnet-guest - one guest domain (domU). Started by pvnetd with the guest's
 * end of its hypercall socket:
 *
 *   pvnet-guest --domid N --hv-fd FD [--name NAME]
 *
 * Maps its memory and grant table (received over the socket), talks to the
 * store over the connection pvnetd handed it, announces itself, and exits
 * cleanly when the toolstack writes control/shutdown or pvnetd goes away.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/ctl.h>
#include <pvnet/hvc.h>
#include <pvnet/log.h>
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"domid", required_argument, NULL, 'd'},
					     {"hv-fd", required_argument, NULL, 'f'},
					     {"name", required_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct hvc *hv = NULL;
	struct xs_client *xs = NULL;
	const char *name = NULL;
	char home[64], path[128], *val = NULL;
	long domid = -1;
	int hv_fd = -1, xs_fd, c, rc, status = 1;
	size_t len, mem_size;
	unsigned nr_gnt;
	uint8_t *mem;

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

	rc = hvc_open(hv_fd, &hv);
	if (rc < 0) {
		PVLOG(ERR, MOD, "hypercall handshake failed: %s", strerror(-rc));
		return 1;
	}
	if (hvc_domid(hv) != domid) {
		PVLOG(ERR, MOD, "pvnetd says we are domain %u, not %ld", hvc_domid(hv), domid);
		goto close_hv;
	}
	mem = hvc_mem(hv, &mem_size);
	hvc_grant_table(hv, &nr_gnt);
	/* touch our memory: it is ours and writable */
	memset(mem, 0, HV_PAGE_SIZE);
	xs_fd = hvc_take_xs_fd(hv);
	if (xs_fd < 0 || xs_client_open_fd(xs_fd, &xs) < 0) {
		PVLOG(ERR, MOD, "no store connection");
		goto close_hv;
	}
	snprintf(home, sizeof(home), "/local/domain/%ld", domid);
	snprintf(path, sizeof(path), "%s/name", home);
	rc = xs_client_read(xs, 0, path, &val, &len);
	if (rc < 0 || (name && strcmp(val, name))) {
		PVLOG(ERR, MOD, "store: %s is '%s', expected '%s'", path, rc < 0 ? "?" : val,
		      name ? name : "");
		goto close_xs;
	}
	PVLOG(INFO, MOD, "domain %ld '%s' up: %zu MiB memory, %u grant entries", domid, val,
	      mem_size >> 20, nr_gnt);
	snprintf(path, sizeof(path), "%s/control/feature-poweroff", home);
	xs_client_printf(xs, 0, path, "1");
	snprintf(path, sizeof(path), "%s/data/pvnet-guest", home);
	xs_client_printf(xs, 0, path, "%s pid %ld", PVNET_VERSION, (long)getpid());
	snprintf(path, sizeof(path), "%s/control/shutdown", home);
	rc = xs_client_watch(xs, path, "shutdown");
	if (rc < 0) {
		PVLOG(ERR, MOD, "store: watch %s: %s", path, strerror(-rc));
		goto close_xs;
	}

	while (!got_signal) {
		struct pollfd pfd[2] = {{.fd = xs_client_fd(xs), .events = POLLIN},
					{.fd = hv_fd, .events = 0}};
		char *wpath = NULL, *token = NULL;

		rc = poll(pfd, 2, 1000);
		if (rc < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & (POLLHUP | POLLERR)) {
			PVLOG(WARN, MOD, "pvnetd went away");
			break;
		}
		while (xs_client_read_watch(xs, 0, &wpath, &token) == 0) {
			if (!strcmp(token, "shutdown")) {
				char *what = NULL;
				if (xs_client_read(xs, 0, path, &what, &len) == 0 && len > 0) {
					PVLOG(INFO, MOD, "shutdown requested: %s", what);
					got_signal = SIGTERM;
				}
				free(what);
			}
			free(wpath);
			free(token);
		}
		if (rc > 0 && (pfd[0].revents & (POLLHUP | POLLERR))) {
			PVLOG(WARN, MOD, "store connection lost");
			break;
		}
	}
	status = got_signal ? 0 : 1;
	PVLOG(INFO, MOD, "domain %ld stopping", domid);
close_xs:
	free(val);
	xs_client_close(xs);
close_hv:
	hvc_close(hv);
	return status;
}
