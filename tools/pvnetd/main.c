/* SPDX-License-Identifier: MIT */
/*
 * pvnetd - the hypervisor and the privileged domain 0 in one process.
 *
 *   pvnetd [--run-dir DIR] [--foreground] [--log FILE] [--guest-bin PATH] [--workers N]
 *
 * Owns every domain's memory, grant tables and event channels, runs the store
 * (xenstore wire protocol on <run-dir>/xenstored) and answers the toolstack on
 * <run-dir>/pvnetd.sock. SIGTERM/SIGINT: destroys every domain, removes what it
 * created, exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/accel.h>
#include <pvnet/ctl.h>
#include <pvnet/hvc.h>
#include <pvnet/log.h>

#include "pvnetd.h"

#define MOD "pvnetd"

uint64_t pvnetd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Each guest costs pvnetd about 9 descriptors per vif queue (memfds, eventfds,
 * sockets): 30 guests with 4 queues need over 1,000, the usual soft limit. Raise
 * the soft limit to the hard one, as daemons do; binding a vif past the limit
 * fails with EMFILE (logged, the vif stays down).
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvnetd [--run-dir DIR] [--foreground] [--log FILE] [--guest-bin PATH]\n"
		   "              [--workers N] [--accel-dir DIR]\n"
		   "  --run-dir DIR     sockets and pid file (default " PVNET_DEFAULT_RUN_DIR
		   ", or $PVNET_RUN_DIR)\n"
		   "  --foreground      do not daemonize\n"
		   "  --log FILE        log to FILE (default: stderr with --foreground, else\n"
		   "                    <run-dir>/pvnetd.log)\n"
		   "  --guest-bin PATH  the pvnet-guest program (default: next to pvnetd)\n"
		   "  --workers N       netback worker threads (default 1)\n"
		   "  --accel-dir DIR   accelerator plugins (*.so) to load besides the built-ins\n"
		   "                    (default: ../lib/pvnet-accel next to pvnetd, else\n"
		   "                    /usr/lib/pvnet/accel)\n");
}

/* The guest's store connection: a socketpair, one end served as that domain. */
static int xs_connect_guest(void *arg, domid_t domid)
{
	struct pvnetd *d = arg;
	int sv[2];
	int rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	rc = xs_server_add_conn(d->xss, sv[0], domid);
	if (rc < 0) {
		close(sv[1]);
		return rc;
	}
	return sv[1];
}

static int listen_seqpacket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Is another pvnetd alive on this run dir? */
static bool other_daemon_alive(const char *pid_path)
{
	FILE *f = fopen(pid_path, "r");
	long pid = 0;

	if (!f)
		return false;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 && pid != getpid() && kill((pid_t)pid, 0) == 0;
}

static int write_pid(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) ? -errno : 0;
}

static void accept_ctl(struct pvnetd *d)
{
	int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CTL_CONNS; i++) {
		if (d->ctl_conns[i] < 0) {
			d->ctl_conns[i] = fd;
			return;
		}
	}
	PVLOG_RL(WARN, MOD, "too many control connections; refusing one");
	close(fd);
}

static void handle_signals(struct pvnetd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			dom_reap(d);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			PVLOG(INFO, MOD, "signal %u: shutting down", si.ssi_signo);
			d->stop = true;
		}
	}
}

void loop_gauge_note(struct loop_gauge *g, uint64_t now_ns, uint64_t ns)
{
	uint64_t sec = now_ns / 1000000000ull;
	unsigned b = (unsigned)(sec % LOOP_GAUGE_BUCKETS);

	if (ns > g->worst_ns)
		g->worst_ns = ns;
	if (g->bucket_sec[b] != sec) {
		g->bucket_sec[b] = sec;
		g->bucket_worst_ns[b] = 0;
	}
	if (ns > g->bucket_worst_ns[b])
		g->bucket_worst_ns[b] = ns;
}

uint64_t loop_gauge_recent_ns(const struct loop_gauge *g, uint64_t now_ns)
{
	uint64_t sec = now_ns / 1000000000ull, worst = 0;

	for (unsigned b = 0; b < LOOP_GAUGE_BUCKETS; b++)
		if (g->bucket_sec[b] + LOOP_GAUGE_BUCKETS > sec && g->bucket_worst_ns[b] > worst)
			worst = g->bucket_worst_ns[b];
	return worst;
}

enum { SRC_SIG, SRC_CTL_LISTEN, SRC_CTL, SRC_XS, SRC_HC, SRC_NB };

#define MAX_POLL 2048

/*
 * One turn of the control loop: poll every control-plane fd for up to `ms`,
 * handle what is ready, deliver store watch events. `ctl` false while a CLI
 * request is being served (no nested CLI handling).
 */
static void loop_once(struct pvnetd *d, int ms, bool ctl)
{
	struct pollfd pfd[MAX_POLL];
	int kind[MAX_POLL];
	void *ptr[MAX_POLL];
	int n = 0, nxs, nready;
	uint64_t now;

	pfd[n] = (struct pollfd){.fd = d->sig_fd, .events = POLLIN};
	kind[n++] = SRC_SIG;
	if (d->nb) {
		pfd[n] = (struct pollfd){.fd = nb_ctl_fd(d->nb), .events = POLLIN};
		kind[n++] = SRC_NB;
	}
	if (ctl) {
		pfd[n] = (struct pollfd){.fd = d->ctl_fd, .events = POLLIN};
		kind[n++] = SRC_CTL_LISTEN;
		for (int i = 0; i < MAX_CTL_CONNS; i++) {
			if (d->ctl_conns[i] < 0)
				continue;
			pfd[n] = (struct pollfd){.fd = d->ctl_conns[i], .events = POLLIN};
			ptr[n] = &d->ctl_conns[i];
			kind[n++] = SRC_CTL;
		}
	}
	/* store connections: POLLOUT too where replies or watch events wait */
	nxs = xs_server_pollfds(d->xss, pfd + n, MAX_POLL / 2);
	for (int i = 0; i < nxs; i++)
		kind[n++] = SRC_XS;
	for (struct dom *dom = d->doms; dom && n < MAX_POLL; dom = dom->next) {
		if (dom->hc_fd < 0)
			continue;
		pfd[n] = (struct pollfd){.fd = dom->hc_fd, .events = POLLIN};
		ptr[n] = dom;
		kind[n++] = SRC_HC;
	}

	/* the turn that ends here: everything done since the previous poll() returned
	 * (a nested pump from a CLI command starts and ends turns of its own) */
	now = pvnetd_now_ns();
	if (d->gauge.last_poll_ns)
		loop_gauge_note(&d->gauge, now, now - d->gauge.last_poll_ns);
	nready = poll(pfd, (nfds_t)n, ms);
	d->gauge.last_poll_ns = pvnetd_now_ns();
	if (nready > 0) {
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			switch (kind[i]) {
			case SRC_SIG:
				handle_signals(d);
				break;
			case SRC_CTL_LISTEN:
				accept_ctl(d);
				break;
			case SRC_CTL: {
				int *slot = ptr[i];
				if (ctl_handle(d, *slot) < 0) {
					close(*slot);
					*slot = -1;
				}
				break;
			}
			case SRC_XS:
				xs_server_handle(d->xss, pfd[i].fd);
				break;
			case SRC_NB:
				nb_process(d->nb);
				break;
			case SRC_HC: {
				/* the domain may have been destroyed by an earlier handler this turn */
				for (struct dom *dom = d->doms; dom; dom = dom->next)
					if (dom == ptr[i] && dom->hc_fd == pfd[i].fd)
						dom_hypercall(d, dom);
				break;
			}
			}
		}
	}
	while (xs_store_dispatch(d->xs) > 0)
		;
	xs_server_flush(d->xss);
}

void pvnetd_pump(struct pvnetd *d, int ms)
{
	loop_once(d, ms, false);
}

static int setup(struct pvnetd *d)
{
	sigset_t mask;
	int rc;

	if (mkdir(d->run_dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		fprintf(stderr, "pvnetd: cannot create run dir %s: %s\n", d->run_dir, strerror(-rc));
		return rc;
	}
	snprintf(d->ctl_path, sizeof(d->ctl_path), "%s/%s", d->run_dir, PVNET_CTL_SOCK);
	snprintf(d->xs_path, sizeof(d->xs_path), "%s/%s", d->run_dir, PVNET_XS_SOCK);
	snprintf(d->pid_path, sizeof(d->pid_path), "%s/%s", d->run_dir, PVNET_PID_FILE);
	if (other_daemon_alive(d->pid_path)) {
		fprintf(stderr, "pvnetd: another pvnetd is running on %s\n", d->run_dir);
		return -EBUSY;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_fd < 0)
		return -errno;

	rc = hv_create(&d->hv);
	if (rc < 0) {
		fprintf(stderr, "pvnetd: hypervisor: %s\n", strerror(-rc));
		return rc;
	}
	rc = xs_store_create(NULL, &d->xs);
	if (rc < 0) {
		fprintf(stderr, "pvnetd: store: %s\n", strerror(-rc));
		return rc;
	}
	rc = xs_server_create(d->xs, d->xs_path, &d->xss);
	if (rc < 0) {
		fprintf(stderr, "pvnetd: store socket %s: %s\n", d->xs_path, strerror(-rc));
		return rc;
	}
	hv_set_xs_connector(d->hv, xs_connect_guest, d);
	rc = xs_domain_introduce(d->xs, 0, "Domain-0");
	if (rc < 0)
		return rc;
	rc = vsw_switch_create(&d->sw);
	if (rc < 0) {
		fprintf(stderr, "pvnetd: switch: %s\n", strerror(-rc));
		return rc;
	}
	rc = nb_create(d->hv, d->xs, d->sw, d->workers, &d->nb);
	if (rc < 0) {
		fprintf(stderr, "pvnetd: netback: %s\n", strerror(-rc));
		return rc;
	}
	rc = accel_registry_create(&d->accel_reg);
	if (rc == 0)
		rc = accel_register_builtins(d->accel_reg);
	if (rc < 0) {
		fprintf(stderr, "pvnetd: accelerator registry: %s\n", strerror(-rc));
		return rc;
	}
	if (d->accel_dir[0]) {
		int nl = accel_load_dir(d->accel_reg, d->accel_dir);
		if (nl < 0)
			PVLOG(WARN, MOD, "accelerator dir %s: %s", d->accel_dir, strerror(-nl));
		else
			PVLOG(INFO, MOD, "accelerator dir %s: %d plugin(s) loaded", d->accel_dir, nl);
	}
	nb_accel_set_registry(d->nb, d->accel_reg);
	d->ctl_fd = listen_seqpacket(d->ctl_path);
	if (d->ctl_fd < 0) {
		fprintf(stderr, "pvnetd: control socket %s: %s\n", d->ctl_path,
			strerror(-d->ctl_fd));
		return d->ctl_fd;
	}
	rc = write_pid(d->pid_path);
	if (rc < 0)
		return rc;
	return 0;
}

static void teardown(struct pvnetd *d)
{
	while (d->doms)
		dom_destroy(d, d->doms, NULL);
	for (int i = 0; i < MAX_CTL_CONNS; i++)
		if (d->ctl_conns[i] >= 0)
			close(d->ctl_conns[i]);
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(d->ctl_path);
	}
	nb_destroy(d->nb); /* before the store: it removes its watch; closes the NICs */
	d->nb = NULL;
	accel_registry_destroy(d->accel_reg); /* after every device is closed */
	d->accel_reg = NULL;
	xs_server_destroy(d->xss); /* removes the socket file */
	unlink(d->xs_path);
	xs_store_destroy(d->xs);
	vsw_switch_destroy(d->sw);
	hv_destroy(d->hv);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	unlink(d->pid_path);
	rmdir(d->run_dir); /* only if empty: never removes what others put there */
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"run-dir", required_argument, NULL, 'r'},
					     {"foreground", no_argument, NULL, 'f'},
					     {"log", required_argument, NULL, 'l'},
					     {"guest-bin", required_argument, NULL, 'g'},
					     {"workers", required_argument, NULL, 'w'},
					     {"accel-dir", required_argument, NULL, 'a'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	static struct pvnetd d = {.ctl_fd = -1, .sig_fd = -1, .workers = 1};
	const char *run_dir = getenv("PVNET_RUN_DIR");
	const char *log_path = NULL;
	char self_guest[PATH_MAX];
	bool foreground = false;
	int c, rc;

	if (!run_dir || !*run_dir)
		run_dir = PVNET_DEFAULT_RUN_DIR;
	while ((c = getopt_long(argc, argv, "r:fl:g:w:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			run_dir = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'g':
			snprintf(d.guest_bin, sizeof(d.guest_bin), "%s", optarg);
			break;
		case 'w': {
			char *end;
			long w = strtol(optarg, &end, 10);
			if (*end || w < 1 || w > NB_MAX_WORKERS) {
				fprintf(stderr, "pvnetd: --workers takes 1..%d\n", NB_MAX_WORKERS);
				return 2;
			}
			d.workers = (unsigned)w;
			break;
		}
		case 'a':
			snprintf(d.accel_dir, sizeof(d.accel_dir), "%s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	raise_fd_limit();
	for (int i = 0; i < MAX_CTL_CONNS; i++)
		d.ctl_conns[i] = -1;
	if (realpath(run_dir, d.run_dir) == NULL)
		snprintf(d.run_dir, sizeof(d.run_dir), "%s", run_dir);
	if (!d.guest_bin[0]) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = 0;
			snprintf(d.guest_bin, sizeof(d.guest_bin), "%s/pvnet-guest", dirname(self));
		}
	}
	if (!d.accel_dir[0]) {
		/* build/bin/pvnetd -> build/lib/pvnet-accel; installed: /usr/lib/pvnet/accel */
		char self[PATH_MAX], cand[PATH_MAX + 32];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		snprintf(d.accel_dir, sizeof(d.accel_dir), "/usr/lib/pvnet/accel");
		if (n > 0) {
			self[n] = 0;
			snprintf(cand, sizeof(cand), "%s/../lib/pvnet-accel", dirname(self));
			if (access(cand, R_OK) == 0 && realpath(cand, self))
				snprintf(d.accel_dir, sizeof(d.accel_dir), "%s", self);
		}
		if (access(d.accel_dir, R_OK) != 0)
			d.accel_dir[0] = 0; /* built-ins only */
	}
	/* the daemon runs in "/": paths given relative to the caller's directory first */
	if (d.guest_bin[0] && realpath(d.guest_bin, self_guest))
		snprintf(d.guest_bin, sizeof(d.guest_bin), "%s", self_guest);
	if (d.accel_dir[0] && realpath(d.accel_dir, self_guest))
		snprintf(d.accel_dir, sizeof(d.accel_dir), "%s", self_guest);
	if (access(d.guest_bin, X_OK) != 0) {
		fprintf(stderr, "pvnetd: guest program %s not found (use --guest-bin)\n",
			d.guest_bin);
		return 1;
	}
	if (log_path && (rc = pvnet_log_open(log_path)) < 0) {
		fprintf(stderr, "pvnetd: cannot open log %s: %s\n", log_path, strerror(-rc));
		return 1;
	}
	if (!foreground) {
		int pfd[2];
		char ok = 0;
		pid_t pid;

		if (pipe(pfd) < 0)
			return 1;
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0) {
			close(pfd[1]);
			/* the parent returns once the daemon is ready (or failed) */
			if (read(pfd[0], &ok, 1) != 1)
				ok = 0;
			return ok ? 0 : 1;
		}
		close(pfd[0]);
		setsid();
		d.started_ns = pvnetd_now_ns();
		rc = setup(&d);
		if (rc == 0 && !log_path) {
			/* a daemon keeps no hold on the caller's terminal or pipe (a
			 * `pvnetd 2>&1 | tee` would never end): log into the run dir */
			char def_log[PATH_MAX + 16];
			snprintf(def_log, sizeof(def_log), "%s/pvnetd.log", d.run_dir);
			if (pvnet_log_open(def_log) < 0)
				fprintf(stderr, "pvnetd: cannot open log %s\n", def_log);
		}
		if (rc == 0) {
			int nul = open("/dev/null", O_RDWR);
			ok = 1;
			if (chdir("/") < 0)
				PVLOG(WARN, MOD, "chdir /: %s", strerror(errno));
			if (write(pfd[1], &ok, 1) < 0)
				ok = 0;
			if (nul >= 0) {
				dup2(nul, 0);
				dup2(nul, 1);
				dup2(nul, 2);
				close(nul);
			}
		}
		close(pfd[1]);
	} else {
		d.started_ns = pvnetd_now_ns();
		rc = setup(&d);
	}
	if (rc < 0) {
		teardown(&d);
		return 1;
	}
	PVLOG(INFO, MOD, "pvnetd " PVNET_VERSION " ready on %s (pid %ld)", d.run_dir,
	      (long)getpid());
	while (!d.stop) {
		loop_once(&d, 1000, true);
		dom_collect_dead(&d);
	}
	teardown(&d);
	PVLOG(INFO, MOD, "stopped");
	return 0;
}
