/* SPDX-License-Identifier: MIT */
/*
 * pvnetd - the hypervisor and the privileged domain 0 in one process.
 *
 *   pvnetd [--run-dir DIR] [--foreground] [--log FILE] [--guest-bin PATH] [--workers N]
 *
 * Owns every domain's memory, grant tables and event channels, runs the store
 * (xenstore wire protocol on <run-dir>/xenstored) and answers the toolstack on
 * <run-dir>/pvnetd.sock. SIGTERM/SIGINT: leaves the guests (PV, and HVM's QEMU)
 * running for the next pvnetd (adopt.c; `pvnet shutdown --all` stops them),
 * destroys the other domains, removes what it created, exits 0. SIGHUP: reopens the log (logrotate).
 *
 * Host-side safety: the run dir is created 0700 and must be a directory owned by
 * the user pvnetd runs as (root) and not writable by its group or others, else
 * pvnetd refuses to start and says why. The pid file is opened without following
 * a symbolic link and write-locked (fcntl) for the daemon's life: a second pvnetd
 * on the same run dir is refused, naming the holder's pid, and touches nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#ifndef PVNET_PLUGINDIR
#define PVNET_PLUGINDIR "/usr/lib/pvnet/accel"
#endif
#ifndef PVNET_LIBEXECDIR
#define PVNET_LIBEXECDIR "/usr/lib/pvnet"
#endif

#include <pvnet/lib.h>
#include <pvnet/accel.h>
#include <pvnet/ctl.h>
#include <pvnet/hvc.h>
#include <pvnet/log.h>
#include <pvnet/state.h>
#include <pvnet/version.h>

#include "pvnetd.h"
#include "vtep.h"

#define MOD "pvnetd"

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
		   "              [--workers N] [--accel-dir DIR] [--state-dir DIR] [--version]\n"
		   "              [--migrate-listen IPV4:PORT] [--migrate-key FILE]\n"
		   "  --run-dir DIR     sockets and pid file (default " PVNET_DEFAULT_RUN_DIR
		   ", or $PVNET_RUN_DIR)\n"
		   "  --foreground      do not daemonize\n"
		   "  --log FILE        log to FILE (default: stderr with --foreground, else\n"
		   "                    <run-dir>/pvnetd.log)\n"
		   "  --guest-bin PATH  the pvnet-guest program (default: next to pvnetd)\n"
		   "  --workers N       netback worker threads (default: the CPUs pvnetd may\n"
		   "                    run on, as sched_getaffinity gives them)\n"
		   "  --accel-dir DIR   accelerator plugins (*.so) to load besides the built-ins\n"
		   "                    (default: ../lib/pvnet-accel next to pvnetd, else\n"
		   "                    /usr/lib/pvnet/accel)\n"
		   "  --limit KEY=VALUE per-domain limit (repeatable; keys and defaults in\n"
		   "                    docs/security.md, e.g. xs-nodes=1000, evtchns=1023)\n"
		   "  --limits FILE     per-domain limits, one KEY=VALUE per line\n"
		   "  --state-dir DIR   the saved switch configuration, DIR/switch.conf (default\n"
		   "                    " PVNET_DEFAULT_STATE_DIR ", or $PVNET_STATE_DIR)\n"
		   "  --vtep-db unix:PATH|tcp:IP:PORT --vtep-name NAME --tunnel-ip IP\n"
		   "                    join OVN as hardware VTEP NAME through its hardware_vtep\n"
		   "                    database (docs/ovn.md); kept in DIR/vtep.conf and used\n"
		   "                    when pvnetd starts without them; --vtep-db none forgets\n"
		   "  --ovnsb-db unix:PATH|tcp:IP:PORT[,...]\n"
		   "                    OVN's southbound database (read only): the other VTEPs\n"
		   "                    of each logical switch, so pvnet hosts reach each other\n");
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
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);      /* never follows a link; the run dir is ours (locked, root's, 0700) */
	old = umask(0177); /* the socket file is born 0600 */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Creates the run dir (0700) if missing and checks it: a directory, owned by the
 * user we run as, not writable by group or others. Sets d->run_dir to its real
 * path. 0, or -errno with the reason in `why`.
 */
static int run_dir_prepare(struct pvnetd *d, const char *arg, char *why, size_t size)
{
	char rp[PATH_MAX];
	struct stat st;

	if (mkdir(arg, 0700) < 0 && errno != EEXIST) {
		int rc = -errno;
		snprintf(why, size, "cannot create run dir %s: %s", arg, strerror(-rc));
		return rc;
	}
	/* realpath() writes up to PATH_MAX bytes: never straight into d->run_dir[] */
	errno = 0;
	if (!realpath(arg, rp) || strlen(rp) + 32 > sizeof(d->run_dir)) {
		snprintf(why, size, "run dir %s: %s", arg,
			 errno ? strerror(errno) : "path too long");
		return -ENAMETOOLONG;
	}
	memcpy(d->run_dir, rp, strlen(rp) + 1);
	if (lstat(d->run_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, size, "run dir %s is not a directory", d->run_dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, size,
			 "run dir %s is owned by uid %u, not by root (uid %u, the user pvnetd "
			 "runs as): refusing to start (chown it or use another --run-dir)",
			 d->run_dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, size,
			 "run dir %s is writable by its group or others (mode %04o): refusing to "
			 "start (chmod 0700 it)",
			 d->run_dir, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/*
 * Opens the pid file without following a link, write-locks it (fcntl, released
 * by the kernel when we die, not inherited by the guests we fork) and writes our
 * pid. Someone else's lock: -EBUSY naming the holder, the file untouched.
 */
static int pid_lock(struct pvnetd *d, char *why, size_t size)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		struct stat fst, pst;
		int fd = open(d->pid_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		int rc;

		if (fd < 0) {
			rc = -errno;
			if (rc == -ELOOP)
				snprintf(why, size,
					 "pid file %s is a symbolic link: refusing to start "
					 "(remove it)",
					 d->pid_path);
			else
				snprintf(why, size, "pid file %s: %s", d->pid_path, strerror(-rc));
			return rc;
		}
		if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
			snprintf(why, size, "pid file %s is not a regular file: refusing to start",
				 d->pid_path);
			close(fd);
			return -EINVAL;
		}
		if (fcntl(fd, F_SETLK, &fl) < 0) {
			rc = -errno;
			if (rc == -EAGAIN || rc == -EACCES) {
				struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
				if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK &&
				    q.l_pid > 0)
					snprintf(why, size,
						 "another pvnetd (pid %ld) holds %s: refusing "
						 "to start; the running one is left untouched",
						 (long)q.l_pid, d->pid_path);
				else
					snprintf(why, size,
						 "another pvnetd holds %s: refusing to start; "
						 "the running one is left untouched",
						 d->pid_path);
				rc = -EBUSY;
			} else {
				snprintf(why, size, "locking %s: %s", d->pid_path, strerror(-rc));
			}
			close(fd);
			return rc;
		}
		/* the holder before us may have unlinked the file as we opened it */
		if (lstat(d->pid_path, &pst) < 0 || pst.st_ino != fst.st_ino ||
		    pst.st_dev != fst.st_dev) {
			close(fd);
			continue;
		}
		if (ftruncate(fd, 0) < 0 || dprintf(fd, "%ld\n", (long)getpid()) < 0) {
			rc = -errno;
			snprintf(why, size, "writing %s: %s", d->pid_path, strerror(-rc));
			close(fd);
			return rc;
		}
		d->pid_fd = fd;
		return 0;
	}
	snprintf(why, size, "pid file %s keeps changing under us: refusing to start", d->pid_path);
	return -EBUSY;
}

/*
 * `ip netns exec NS pvnetd` runs pvnetd in a private mount namespace (slave of
 * the caller's, /sys remounted): the guests' namespaces it bind-mounts under
 * /run/netns would never reach the host. Detected as: another mount namespace
 * and another network namespace than our parent's, the latter named in
 * /run/netns. We then rejoin the parent's mount namespace, keeping the network
 * one, which is what `nsenter --net=/run/netns/NS` gives. 1 if rejoined (`note`
 * says so), 0 if not started that way, -errno (reason in `why`) if rejoining failed.
 */
static int netns_exec_fixup(char *note, size_t note_size, char *why, size_t size)
{
	char path[64], name[256] = "", cwd[PATH_MAX];
	struct stat self_mnt, parent_mnt, self_net, parent_net, st;
	pid_t ppid = getppid();
	DIR *dir;
	int fd, rc;

	snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", (long)ppid);
	if (stat("/proc/self/ns/mnt", &self_mnt) < 0 || stat(path, &parent_mnt) < 0 ||
	    (self_mnt.st_ino == parent_mnt.st_ino && self_mnt.st_dev == parent_mnt.st_dev))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)ppid);
	if (stat("/proc/self/ns/net", &self_net) < 0 || stat(path, &parent_net) < 0 ||
	    (self_net.st_ino == parent_net.st_ino && self_net.st_dev == parent_net.st_dev))
		return 0;
	dir = opendir("/run/netns");
	if (!dir)
		return 0;
	for (struct dirent *e; (e = readdir(dir));) {
		char p[300];
		snprintf(p, sizeof(p), "/run/netns/%s", e->d_name);
		if (e->d_name[0] != '.' && stat(p, &st) == 0 && st.st_ino == self_net.st_ino &&
		    st.st_dev == self_net.st_dev) {
			snprintf(name, sizeof(name), "%s", e->d_name);
			break;
		}
	}
	closedir(dir);
	if (!name[0])
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", (long)ppid);
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "/");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNS) < 0) {
		rc = -errno;
		snprintf(
			why, size,
			"started by `ip netns exec %.64s`, whose private mount namespace would hide "
			"the guests' namespaces from the host, and rejoining the caller's mount "
			"namespace failed (%s): start it with `nsenter --net=/run/netns/%.64s pvnetd ...`",
			name, strerror(-rc), name);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	if (chdir(cwd) < 0 && chdir("/") < 0) {
		/* the same directory in the caller's namespace, else "/": a relative
		 * --run-dir or --log then fails with its own message */
	}
	snprintf(
		note, note_size,
		"started by `ip netns exec %.64s`: rejoined the caller's mount namespace (the "
		"guests' namespaces stay visible to the host), as `nsenter --net=/run/netns/%.64s` "
		"would have done",
		name, name);
	return 1;
}

/* Picks the connection to close when all slots are taken: the idle one (no
 * request in service or waiting, no reply queued) idle longest, else NULL. */
static struct ctl_conn *ctl_evictable(struct pvnetd *d)
{
	struct ctl_conn *best = NULL;

	for (int i = 0; i < PVNET_CTL_MAX_CONNS; i++) {
		struct ctl_conn *c = &d->ctl_conns[i];
		if (c->fd < 0 || c->busy || c->head || c->deferred)
			continue;
		if (!best || c->since_ns < best->since_ns)
			best = c;
	}
	return best;
}

/* Accepts what waits on the control socket (at most 16 a turn), never blocking. */
static void accept_ctl(struct pvnetd *d)
{
	for (int k = 0; k < 16; k++) {
		struct ucred cred = {0};
		socklen_t cl = sizeof(cred);
		struct ctl_conn *slot = NULL;
		int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		(void)getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
		for (int i = 0; i < PVNET_CTL_MAX_CONNS && !slot; i++)
			if (d->ctl_conns[i].fd < 0)
				slot = &d->ctl_conns[i];
		if (!slot) {
			slot = ctl_evictable(d);
			d->ctl_refused++;
			if (!slot) {
				PVLOG_RL(WARN, MOD,
					 "control connections at the cap (%d, all busy): "
					 "refusing pid %ld uid %u",
					 PVNET_CTL_MAX_CONNS, (long)cred.pid, (unsigned)cred.uid);
				close(fd);
				continue;
			}
			PVLOG_RL(WARN, MOD,
				 "control connections at the cap (%d): closing the "
				 "longest idle one (pid %ld uid %u) for pid %ld uid %u",
				 PVNET_CTL_MAX_CONNS, (long)slot->pid, (unsigned)slot->uid,
				 (long)cred.pid, (unsigned)cred.uid);
			ctl_conn_close(slot);
		}
		*slot = (struct ctl_conn){.fd = fd,
					  .pid = cred.pid,
					  .uid = cred.uid,
					  .since_ns = pvnet_now_ns(),
					  .serial = ++d->ctl_serial};
	}
}

/* Closes dead connections and those past their idle or stall timeout. */
static void ctl_expire(struct pvnetd *d, uint64_t now)
{
	for (int i = 0; i < PVNET_CTL_MAX_CONNS; i++) {
		struct ctl_conn *c = &d->ctl_conns[i];

		if (c->fd < 0 || c->busy || c->deferred) /* deferred: a request waits for us */
			continue;
		if (!c->dead && c->head && now - c->progress_ns > PVNET_CTL_STALL_MS * 1000000ull) {
			c->dead = true;
			snprintf(c->why, sizeof(c->why),
				 "stopped reading (%zu bytes of replies unread for %d ms)",
				 c->queued, PVNET_CTL_STALL_MS);
		} else if (!c->dead && !c->head &&
			   now - c->since_ns > PVNET_CTL_IDLE_MS * 1000000ull) {
			c->dead = true;
			snprintf(c->why, sizeof(c->why), "sent no request for %d ms",
				 PVNET_CTL_IDLE_MS);
		}
		if (c->dead) {
			if (c->why[0])
				d->ctl_dropped++;
			ctl_conn_close(c);
		}
	}
}

static void handle_signals(struct pvnetd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			dom_reap(d);
		} else if (si.ssi_signo == SIGHUP) {
			int rc = pvnet_log_reopen();
			if (rc < 0)
				PVLOG(ERR, MOD,
				      "SIGHUP: reopening the log: %s (still writing the old file)",
				      strerror(-rc));
			else
				PVLOG(INFO, MOD, "SIGHUP from pid %u: log reopened", si.ssi_pid);
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
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

/* The control thread's run-queue wait so far (ns), 0 without schedstat. */
static uint64_t sched_wait_ns(struct loop_gauge_ran *r)
{
	char buf[96];
	unsigned long long run, wait;
	ssize_t n;

	if (!r->sched_tried) {
		r->sched_tried = true;
		r->sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	}
	if (r->sched_fd < 0)
		return 0;
	n = pread(r->sched_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return sscanf(buf, "%llu %llu", &run, &wait) == 2 ? (uint64_t)wait : 0;
}

/* A turn of `ns` wall time ending at `now`: recorded with and without the time the
 * thread waited to run (long turns only read schedstat again: it costs a read). */
static void loop_gauge_turn(struct pvnetd *d, uint64_t now, uint64_t ns)
{
	struct loop_gauge_ran *r = &d->gauge_ran;
	uint64_t ran = ns;

	loop_gauge_note(&d->gauge, now, ns);
	if (ns > 1000000 && r->sched_fd >= 0) {
		uint64_t w = sched_wait_ns(r);
		uint64_t waited = w > r->wait_ns ? w - r->wait_ns : 0;
		ran = waited < ns ? ns - waited : 0;
	}
	loop_gauge_note(&r->g, now, ran);
	/* a long turn the machine's load does not explain: where it sits in the log
	 * says what the loop was doing (the worst-turn checks fail on it) */
	if (ran > 50000000)
		PVLOG_RL(WARN, MOD,
			 "control loop: a turn of %llu ms (%llu ms of it waiting to run)",
			 (unsigned long long)(ns / 1000000),
			 (unsigned long long)((ns - ran) / 1000000));
}

enum {
	SRC_SIG,
	SRC_CTL_LISTEN,
	SRC_CTL,
	SRC_CTL_OUT,
	SRC_EP,
	SRC_NB,
	SRC_ADOPT,
	SRC_VTEP,
	SRC_MIG
};

/* Room for pvnetd's own fds, the control connections, the adopt and migrate
 * sockets, the epoll set's, and an adopted guest's pidfd each (adopt.c, up to
 * HV_MAX_DOMID after a restart): the store connections and hypercall sockets
 * are in the epoll set, not here. On the stack: 28 bytes each, filled as needed. */
#define MAX_POLL 4096

/*
 * The epoll set of the fds there is one of per guest: registered once when
 * they open, removed before they close, so a turn costs what happened, not
 * how many guests exist. Level-triggered, at most LOOP_EP_EVENTS events a
 * turn, one bounded handler call each: the kernel hands the ones still ready
 * back from the end of its ready list, so a flooding guest cannot starve the
 * others. data.u64: the kind in the high 32 bits, the fd in the low 32.
 */
#define LOOP_EP_EVENTS 256
#define EP_XS (1ull << 32)
#define EP_HC (2ull << 32)
static int loop_ep = -1;
static struct dom **hc_byfd; /* [fd]: the domain whose hypercall socket fd is */
static int hc_nbyfd;

void loop_watch_hc(struct pvnetd *d, struct dom *dom)
{
	struct epoll_event e = {.events = EPOLLIN};
	int fd = dom->hc_fd;

	(void)d;
	if (loop_ep < 0 || fd < 0)
		return;
	if (fd >= hc_nbyfd) {
		int n = fd < 256 ? 512 : fd * 2;
		struct dom **nb = realloc(hc_byfd, sizeof(*nb) * (size_t)n);
		if (!nb) {
			PVLOG(ERR, MOD, "dom%u: out of memory watching its hypercall socket",
			      (unsigned)dom->domid);
			return;
		}
		memset(nb + hc_nbyfd, 0, sizeof(*nb) * (size_t)(n - hc_nbyfd));
		hc_byfd = nb;
		hc_nbyfd = n;
	}
	e.data.u64 = EP_HC | (uint32_t)fd;
	if (epoll_ctl(loop_ep, EPOLL_CTL_ADD, fd, &e) < 0 &&
	    (errno != EEXIST || epoll_ctl(loop_ep, EPOLL_CTL_MOD, fd, &e) < 0)) {
		PVLOG(ERR, MOD, "dom%u: watching its hypercall socket: %s", (unsigned)dom->domid,
		      strerror(errno));
		return;
	}
	hc_byfd[fd] = dom;
}

void loop_unwatch_hc(struct pvnetd *d, struct dom *dom)
{
	int fd = dom->hc_fd;

	(void)d;
	if (loop_ep < 0 || fd < 0 || fd >= hc_nbyfd || hc_byfd[fd] != dom)
		return;
	hc_byfd[fd] = NULL;
	(void)epoll_ctl(loop_ep, EPOLL_CTL_DEL, fd, NULL);
}

/* Creates the epoll set and registers the store server and the domains that exist. */
static int loop_ep_init(struct pvnetd *d)
{
	int rc;

	if (loop_ep < 0) {
		loop_ep = epoll_create1(EPOLL_CLOEXEC);
		if (loop_ep < 0) {
			rc = -errno;
			PVLOG(ERR, MOD, "epoll_create1: %s", strerror(-rc));
			return rc;
		}
	}
	rc = xs_server_watch(d->xss, loop_ep, EP_XS);
	if (rc < 0) {
		PVLOG(ERR, MOD, "store: watching its sockets: %s", strerror(-rc));
		return rc;
	}
	for (struct dom *dom = d->doms; dom; dom = dom->next)
		loop_watch_hc(d, dom);
	return 0;
}

static void loop_ep_close(void)
{
	if (loop_ep >= 0)
		close(loop_ep);
	loop_ep = -1;
	free(hc_byfd);
	hc_byfd = NULL;
	hc_nbyfd = 0;
}

/* Handles up to LOOP_EP_EVENTS ready per-guest fds, one bounded call each. */
static void loop_ep_run(struct pvnetd *d)
{
	struct epoll_event ev[LOOP_EP_EVENTS];
	int n = epoll_wait(loop_ep, ev, LOOP_EP_EVENTS, 0);

	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)ev[i].data.u64;

		if ((ev[i].data.u64 & ~0xffffffffull) == EP_XS) {
			xs_server_handle(d->xss, fd);
		} else if ((ev[i].data.u64 & ~0xffffffffull) == EP_HC) {
			/* removed (maybe reused) by an earlier handler this turn: then NULL or
			 * another domain, whose socket a read finds empty or ready */
			struct dom *dom = fd < hc_nbyfd ? hc_byfd[fd] : NULL;
			if (dom && dom->hc_fd == fd)
				dom_hypercall(d, dom);
		}
	}
}

/* The fds one turn of the control loop polls, each with its source and object. */
struct loop_fds {
	struct pollfd pfd[MAX_POLL];
	int kind[MAX_POLL];
	void *ptr[MAX_POLL];
	uint64_t serial[MAX_POLL]; /* SRC_CTL: the connection's serial when polled */
	int n, vtep_first, vtep_n;
};

/* Adds the control socket's listener and its clients to lf. */
static void loop_ctl_fds(struct pvnetd *d, struct loop_fds *lf, bool top)
{
	int n = lf->n;

	lf->pfd[n] = (struct pollfd){.fd = d->ctl_fd, .events = POLLIN};
	lf->kind[n++] = SRC_CTL_LISTEN;
	for (int i = 0; i < PVNET_CTL_MAX_CONNS; i++) {
		struct ctl_conn *c = &d->ctl_conns[i];
		if (top)
			c->deferred = false; /* the command that deferred it is over */
		if (c->fd >= 0 && c->busy && !c->dead && c->head) {
			/* its command runs (this is a nested turn): what it has printed
			 * so far goes out as the client reads it, else a command longer
			 * than PVNET_CTL_STALL_MS (shutdown --all --wait of 1,000 guests)
			 * ended with its client closed as "stopped reading" */
			lf->pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
			lf->ptr[n] = c;
			lf->serial[n] = c->serial;
			lf->kind[n++] = SRC_CTL_OUT;
			continue;
		}
		if (c->fd < 0 || c->busy || c->dead || c->deferred)
			continue;
		/* a client with replies queued is not read until it takes them */
		lf->pfd[n] = (struct pollfd){.fd = c->fd, .events = c->head ? POLLOUT : POLLIN};
		lf->ptr[n] = c;
		lf->serial[n] = c->serial;
		lf->kind[n++] = SRC_CTL;
	}
	lf->n = n;
}

/* Fills lf with every control-plane fd; *ms shortened to the VTEP's next timer. */
static void loop_fds_fill(struct pvnetd *d, struct loop_fds *lf, bool top, int *ms)
{
	lf->n = lf->vtep_first = lf->vtep_n = 0;
	lf->pfd[lf->n] = (struct pollfd){.fd = d->sig_fd, .events = POLLIN};
	lf->kind[lf->n++] = SRC_SIG;
	if (loop_ep >= 0) {
		lf->pfd[lf->n] = (struct pollfd){.fd = loop_ep, .events = POLLIN};
		lf->kind[lf->n++] = SRC_EP;
	}
	if (d->nb) {
		lf->pfd[lf->n] = (struct pollfd){.fd = nb_ctl_fd(d->nb), .events = POLLIN};
		lf->kind[lf->n++] = SRC_NB;
	}
	if (d->ctl_fd >= 0)
		loop_ctl_fds(d, lf, top);
	/* adopt.c: the adopt socket, its pending connections, adopted guests' pidfds */
	for (int k = adopt_pollfds(d, lf->pfd + lf->n, lf->ptr + lf->n, MAX_POLL - 16 - lf->n);
	     k > 0; k--)
		lf->kind[lf->n++] = SRC_ADOPT;
	for (int k = migrate_pollfds(d, lf->pfd + lf->n, lf->ptr + lf->n, MAX_POLL - 16 - lf->n);
	     k > 0; k--)
		lf->kind[lf->n++] = SRC_MIG; /* migrate.c: listeners, finished receivers */
	/* vtep.c: the VTEP database connection and its timers */
	if (d->vtep) {
		int vt = vtep_timeout_ms(d->vtep);

		lf->vtep_first = lf->n;
		lf->vtep_n = vtep_pollfds(d->vtep, &lf->pfd[lf->n]);
		for (int k = 0; k < lf->vtep_n; k++)
			lf->kind[lf->n++] = SRC_VTEP;
		if (vt < *ms)
			*ms = vt;
	}
}

/* A control client polled as SRC_CTL is ready: serves its request or flushes it. */
static void loop_ctl_ready(struct pvnetd *d, struct ctl_conn *c, uint64_t serial, short revents,
			   bool top)
{
	int rc = 0;

	if (c->fd < 0 || c->serial != serial)
		return; /* closed, maybe reused, this turn (evicted at accept) */
	if (revents & POLLIN)
		rc = ctl_handle(d, c, !top);
	else if (revents & POLLOUT)
		rc = ctl_flush(c);
	else
		rc = -1; /* POLLHUP/POLLERR: the client went away */
	if (rc < 0) {
		if (c->dead && c->why[0])
			d->ctl_dropped++;
		ctl_conn_close(c);
	}
}

/* Handles every fd of lf that poll() found ready. */
static void loop_dispatch(struct pvnetd *d, struct loop_fds *lf, bool top)
{
	for (int i = 0; i < lf->n; i++) {
		struct pollfd *pfd = &lf->pfd[i];

		if (!pfd->revents)
			continue;
		switch (lf->kind[i]) {
		case SRC_SIG:
			handle_signals(d);
			break;
		case SRC_CTL_LISTEN:
			accept_ctl(d);
			break;
		case SRC_CTL:
			loop_ctl_ready(d, lf->ptr[i], lf->serial[i], pfd->revents, top);
			break;
		case SRC_CTL_OUT: {
			struct ctl_conn *c = lf->ptr[i];
			/* sends only; a dead one is closed once its command is over */
			if (c->fd >= 0 && c->serial == lf->serial[i] && c->busy)
				(void)ctl_flush(c);
			break;
		}
		case SRC_EP:
			loop_ep_run(d);
			break;
		case SRC_NB:
			nb_process(d->nb);
			break;
		case SRC_ADOPT:
			adopt_handle(d, pfd->fd, lf->ptr[i]);
			break;
		case SRC_MIG:
			migrate_handle(d, pfd->fd, lf->ptr[i]);
			break;
		case SRC_VTEP:
			break; /* below, with its timers */
		}
	}
}

/*
 * One turn of the control loop: poll the control-plane fds (and the epoll set
 * of the per-guest ones) for up to `ms`, handle what is ready, deliver store
 * watch events. `top` false while a CLI request is being served (a nested
 * pump): other clients then get answers to read-only requests only; the rest
 * wait for a top-level turn.
 */
static void loop_once(struct pvnetd *d, int ms, bool top)
{
	struct loop_fds lf;
	int nready;
	uint64_t now;

	loop_fds_fill(d, &lf, top, &ms);
	/* the turn that ends here: everything done since the previous poll() returned
	 * (a nested pump from a CLI command starts and ends turns of its own) */
	now = pvnet_now_ns();
	if (d->gauge.last_poll_ns)
		loop_gauge_turn(d, now, now - d->gauge.last_poll_ns);
	nready = poll(lf.pfd, (nfds_t)lf.n, ms);
	d->gauge.last_poll_ns = pvnet_now_ns();
	d->gauge_ran.wait_ns = sched_wait_ns(&d->gauge_ran);
	if (nready > 0)
		loop_dispatch(d, &lf, top);
	if (d->vtep) /* I/O, and timers: reconnect, refresh, probe */
		vtep_run(d->vtep, lf.pfd + lf.vtep_first, nready > 0 ? lf.vtep_n : 0);
	while (xs_store_dispatch(d->xs) > 0)
		;
	xs_server_flush(d->xss);
	ctl_expire(d, pvnet_now_ns());
}

void pvnetd_pump(struct pvnetd *d, int ms)
{
	loop_once(d, ms, false);
}

/*
 * Takes the run dir: checks (or creates) it, then locks the pid file. Nothing
 * in the run dir is touched before the lock is ours. 0 or -errno, the reason
 * printed to stderr (the log may live in the run dir, which is not ours yet).
 */
static int claim_run_dir(struct pvnetd *d, const char *run_dir)
{
	char why[PATH_MAX + 256];
	int rc;

	rc = run_dir_prepare(d, run_dir, why, sizeof(why));
	if (rc == 0) {
		snprintf(d->ctl_path, sizeof(d->ctl_path), "%s/%s", d->run_dir, PVNET_CTL_SOCK);
		snprintf(d->xs_path, sizeof(d->xs_path), "%s/%s", d->run_dir, PVNET_XS_SOCK);
		snprintf(d->pid_path, sizeof(d->pid_path), "%s/%s", d->run_dir, PVNET_PID_FILE);
		rc = pid_lock(d, why, sizeof(why));
	}
	if (rc < 0)
		fprintf(stderr, "pvnetd: %s\n", why);
	return rc;
}

/* Everything after the run dir is ours; errors go to the log (and stderr meanwhile). */
static const char *mig_listen, *mig_key; /* --migrate-listen, --migrate-key */

/* Blocks the signals the loop reads from its signalfd; 0 or -errno (logged). */
static int setup_signals(struct pvnetd *d)
{
	sigset_t mask;
	int rc;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_fd < 0) {
		rc = -errno;
		PVLOG(ERR, MOD, "signalfd: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* The hypervisor with its limits, the store and its socket, Domain-0; 0 or -errno. */
static int setup_hv_store(struct pvnetd *d)
{
	mode_t old;
	int rc;

	rc = hv_create(&d->hv);
	if (rc < 0) {
		PVLOG(ERR, MOD, "hypervisor: %s", strerror(-rc));
		return rc;
	}
	/* the per-domain ledger (--limit/--limits): the store enforces it, hv takes its limits */
	for (int i = 0; i < 2; i++) {
		uint64_t v = quota_limit(d->quota, i ? QUOTA_GNT_MAPS : QUOTA_EVTCHNS);
		if (v && hv_set_limit(d->hv, i ? HV_LIMIT_GNT_MAPS : HV_LIMIT_EVTCHNS,
				      v > UINT32_MAX ? UINT32_MAX : (uint32_t)v) < 0)
			PVLOG(WARN, MOD, "limit %s rejected", i ? "gnt-maps" : "evtchns");
	}
	hv_set_quota(d->hv, d->quota); /* hv's refusals show in pvnet info */
	rc = xs_store_create(d->quota, &d->xs);
	if (rc < 0) {
		PVLOG(ERR, MOD, "store: %s", strerror(-rc));
		return rc;
	}
	old = umask(0177); /* the store socket is born 0600 */
	rc = xs_server_create(d->xs, d->xs_path, &d->xss);
	umask(old);
	if (rc < 0) {
		PVLOG(ERR, MOD, "store socket %s: %s", d->xs_path, strerror(-rc));
		return rc;
	}
	rc = loop_ep_init(d); /* before any guest: their fds are watched as they open */
	if (rc < 0)
		return rc;
	hv_set_xs_connector(d->hv, xs_connect_guest, d);
	rc = xs_domain_introduce(d->xs, 0, "Domain-0");
	if (rc < 0) {
		PVLOG(ERR, MOD, "store: introducing Domain-0: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* The switch, netback with its workers, the accelerator registry; 0 or -errno. */
static int setup_switch(struct pvnetd *d)
{
	int rc;

	rc = vsw_switch_create(&d->sw);
	if (rc < 0) {
		PVLOG(ERR, MOD, "switch: %s", strerror(-rc));
		return rc;
	}
	if (!d->workers) {
		/* default: one worker per CPU given to pvnetd (taskset, cgroup cpusets) */
		cpu_set_t cs;
		int n = sched_getaffinity(0, sizeof(cs), &cs) == 0 ? CPU_COUNT(&cs) : 1;
		d->workers = n < 1 ? 1 : n > NB_MAX_WORKERS ? NB_MAX_WORKERS : (unsigned)n;
	}
	rc = nb_create(d->hv, d->xs, d->sw, d->workers, &d->nb);
	if (rc < 0) {
		PVLOG(ERR, MOD, "netback: %s", strerror(-rc));
		return rc;
	}
	(void)nb_set_rx_share_pct(d->nb, (unsigned)quota_limit(d->quota, QUOTA_RX_SHARE_PCT));
	nb_set_quota(d->nb, d->quota); /* rx_share drops show in pvnet info */
	/* every bridge's default learnt-MAC limit per port (set-mac-limit overrides) */
	(void)vsw_switch_set_mac_limit(d->sw, (uint32_t)quota_limit(d->quota, QUOTA_MAC_PER_PORT));
	rc = accel_registry_create(&d->accel_reg);
	if (rc == 0)
		rc = accel_register_builtins(d->accel_reg);
	if (rc < 0) {
		PVLOG(ERR, MOD, "accelerator registry: %s", strerror(-rc));
		return rc;
	}
	if (d->accel_dir[0]) {
		int nl = accel_load_dir(d->accel_reg, d->accel_dir);
		if (nl < 0)
			PVLOG(WARN, MOD, "accelerator dir %s: %s", d->accel_dir, strerror(-nl));
		else
			PVLOG(INFO, MOD, "accelerator dir %s: %d plugin(s) loaded", d->accel_dir,
			      nl);
	}
	nb_accel_set_registry(d->nb, d->accel_reg);
	return 0;
}

/* Everything after the run dir, step by step; 0 or -errno (logged). */
static int setup(struct pvnetd *d)
{
	int rc;

	rc = state_lock(d); /* one pvnetd per state dir */
	if (rc < 0)
		return rc;
	rc = setup_signals(d);
	if (rc < 0)
		return rc;
	rc = setup_hv_store(d);
	if (rc < 0)
		return rc;
	rc = setup_switch(d);
	if (rc < 0)
		return rc;
	/* the saved switch configuration (after any domains are known: their vifs'
	 * settings wait for the vifs) */
	rc = state_load(d);
	if (rc < 0) {
		PVLOG(ERR, MOD, "state %s: %s", d->state_dir, strerror(-rc));
		return rc;
	}
	rc = adopt_start(d); /* the guests a previous pvnetd left running */
	if (rc < 0)
		return rc;
	rc = migrate_init(d, mig_listen, mig_key); /* migrate.c */
	if (rc < 0)
		return rc;
	d->ctl_fd = listen_seqpacket(d->ctl_path);
	if (d->ctl_fd < 0) {
		PVLOG(ERR, MOD, "control socket %s: %s", d->ctl_path, strerror(-d->ctl_fd));
		return d->ctl_fd;
	}
	return 0;
}

/* Undoes what was done; removes only files of a run dir whose pid lock we hold. */
static void teardown(struct pvnetd *d)
{
	vtep_destroy(d->vtep); /* before the switch: it reads bridges and ports */
	d->vtep = NULL;
	adopt_detach_all(
		d); /* guests (and QEMUs) keep running; `pvnet shutdown --all` stops them */
	while (d->doms)
		dom_destroy(d, d->doms, NULL);
	adopt_close(d);
	migrate_close(d);
	for (int i = 0; i < PVNET_CTL_MAX_CONNS; i++)
		ctl_conn_close(&d->ctl_conns[i]);
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(d->ctl_path);
	}
	nb_destroy(d->nb); /* before the store: it removes its watch; closes the NICs */
	d->nb = NULL;
	accel_registry_destroy(d->accel_reg); /* after every device is closed */
	d->accel_reg = NULL;
	xs_server_destroy(d->xss); /* removes the socket file it created */
	d->xss = NULL;
	loop_ep_close();
	xs_store_destroy(d->xs);
	if (d->hv)
		hv_set_quota(d->hv, NULL); /* hv notes refusals in it */
	quota_ledger_destroy(d->quota);    /* after the store, which charges it */
	state_close(d);                    /* before the switch: no more saving */
	vsw_switch_destroy(d->sw);
	hv_destroy(d->hv);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	if (d->pid_fd >= 0) {
		unlink(d->pid_path); /* while still locked: a successor locks a new file */
		close(d->pid_fd);
		d->pid_fd = -1;
		rmdir(d->run_dir); /* only if empty: never removes what others put there */
	}
}

/*
 * Claims the run dir, opens the log (--log FILE, else <run-dir>/pvnetd.log for a
 * daemon, else stderr) and sets everything up. Every message from the log's
 * opening on goes to the log, and to stderr too until pvnetd is ready.
 */
static int start(struct pvnetd *d, const char *run_dir, const char *log_path, const char *ns_note)
{
	char def_log[PATH_MAX + 16];
	int rc = claim_run_dir(d, run_dir);

	if (rc < 0)
		return rc;
	if (!log_path && !d->foreground) {
		/* a daemon keeps no hold on the caller's terminal or pipe (a
		 * `pvnetd 2>&1 | tee` would never end): log into the run dir */
		snprintf(def_log, sizeof(def_log), "%s/pvnetd.log", d->run_dir);
		log_path = def_log;
	}
	if (log_path && (rc = pvnet_log_open(log_path)) < 0) {
		fprintf(stderr, "pvnetd: cannot open log %s: %s%s\n", log_path, strerror(-rc),
			rc == -ELOOP ? " (a symbolic link: refusing to follow it)" : "");
		return rc;
	}
	pvnet_log_set_tee_stderr(1);
	PVLOG(INFO, MOD, "pvnetd %s starting on %s (pid %ld, control protocol %d)", PVNET_VERSION,
	      d->run_dir, (long)getpid(), PVNET_CTL_VERSION);
	if (ns_note[0])
		PVLOG(WARN, MOD, "%s", ns_note);
	if (access(d->guest_bin, X_OK) != 0) {
		PVLOG(ERR, MOD, "guest program %s not found (use --guest-bin)", d->guest_bin);
		rc = -ENOENT;
	} else {
		rc = setup(d);
	}
	if (rc < 0) {
		PVLOG(ERR, MOD, "start-up failed: %s", strerror(-rc));
	} else {
		PVLOG(INFO, MOD, "pvnetd " PVNET_VERSION " ready on %s (pid %ld)", d->run_dir,
		      (long)getpid());
	}
	pvnet_log_set_tee_stderr(0);
	return rc;
}

/* What pvnetd's command line says, besides what goes straight into struct pvnetd. */
struct main_opts {
	const char *run_dir, *state_dir, *log_path;
	bool foreground, vtep_forget;
	struct quota_limits limits;
	struct vtep_opts vtep_o;
};

/* One option c (its value in optarg): -1 to go on, else the exit status. */
static int main_option(int c, struct pvnetd *d, struct main_opts *mo)
{
	char lerr[PATH_MAX + 256];

	switch (c) {
	case 'r':
		mo->run_dir = optarg;
		break;
	case 'f':
		mo->foreground = true;
		d->foreground = true;
		break;
	case 'l':
		mo->log_path = optarg;
		break;
	case 'g':
		snprintf(d->guest_bin, sizeof(d->guest_bin), "%s", optarg);
		break;
	case 'w': {
		char *end;
		long w = strtol(optarg, &end, 10);
		if (*end || w < 1 || w > NB_MAX_WORKERS) {
			fprintf(stderr, "pvnetd: --workers takes 1..%d\n", NB_MAX_WORKERS);
			return 2;
		}
		d->workers = (unsigned)w;
		break;
	}
	case 'a':
		snprintf(d->accel_dir, sizeof(d->accel_dir), "%s", optarg);
		break;
	case 'L':
	case 'Q':
		if ((c == 'L' ? quota_limits_parse(&mo->limits, optarg, lerr, sizeof(lerr))
			      : quota_limits_load(&mo->limits, optarg, lerr, sizeof(lerr)))) {
			fprintf(stderr, "pvnetd: --%s: %s\n", c == 'L' ? "limit" : "limits", lerr);
			return 2;
		}
		break;
	case 's':
		mo->state_dir = optarg;
		break;
	case 1001:
		mo->vtep_o.db = optarg;
		break;
	case 1101:
		mig_listen = optarg;
		break;
	case 1102:
		mig_key = optarg;
		break;
	case 1002:
		mo->vtep_o.name = optarg;
		break;
	case 1003:
		mo->vtep_o.tunnel_ip = optarg;
		break;
	case 1004:
		mo->vtep_o.sb = optarg;
		break;
	case 'h':
		usage(stdout);
		return 0;
	case 'V':
		printf("pvnetd (pvnet) %s, control protocol %d\n", PVNET_VERSION,
		       PVNET_CTL_VERSION);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
	return -1;
}

/* The command line (defaults from the environment): -1 to go on, else the exit status. */
static int main_parse(int argc, char **argv, struct pvnetd *d, struct main_opts *mo)
{
	static const struct option opts[] = {{"run-dir", required_argument, NULL, 'r'},
					     {"foreground", no_argument, NULL, 'f'},
					     {"log", required_argument, NULL, 'l'},
					     {"guest-bin", required_argument, NULL, 'g'},
					     {"workers", required_argument, NULL, 'w'},
					     {"accel-dir", required_argument, NULL, 'a'},
					     {"limit", required_argument, NULL, 'L'},
					     {"limits", required_argument, NULL, 'Q'},
					     {"state-dir", required_argument, NULL, 's'},
					     {"vtep-db", required_argument, NULL, 1001},
					     {"migrate-listen", required_argument, NULL, 1101},
					     {"migrate-key", required_argument, NULL, 1102},
					     {"vtep-name", required_argument, NULL, 1002},
					     {"tunnel-ip", required_argument, NULL, 1003},
					     {"ovnsb-db", required_argument, NULL, 1004},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	int c, rc;

	mo->run_dir = getenv("PVNET_RUN_DIR");
	mo->state_dir = getenv("PVNET_STATE_DIR");
	if (!mo->run_dir || !*mo->run_dir)
		mo->run_dir = PVNET_DEFAULT_RUN_DIR;
	quota_limits_default(&mo->limits);
	if (!mo->state_dir || !*mo->state_dir)
		mo->state_dir = PVNET_DEFAULT_STATE_DIR;
	while ((c = getopt_long(argc, argv, "r:fl:g:w:a:s:h", opts, NULL)) != -1) {
		rc = main_option(c, d, mo);
		if (rc >= 0)
			return rc;
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* OVN hardware VTEP (vtep.c): the options given or kept, checked here, connected
 * from the loop, kept once the state dir is ours; 0 or 2 (said). */
static int main_vtep(struct pvnetd *d, struct main_opts *mo)
{
	char lerr[PATH_MAX + 256];

	if (mo->vtep_o.db && !strcmp(mo->vtep_o.db, "none")) {
		mo->vtep_forget = true;
		mo->vtep_o.db = NULL;
	} else if (vtep_opts_load(mo->state_dir, &mo->vtep_o, lerr, sizeof(lerr))) {
		fprintf(stderr, "pvnetd: %s\n", lerr);
		return 2;
	}
	if ((mo->vtep_o.db || mo->vtep_o.name || mo->vtep_o.tunnel_ip || mo->vtep_o.sb) &&
	    vtep_create(d, &mo->vtep_o, &d->vtep))
		return 2;
	return 0;
}

/* The guest program and the plugin dir when not given, both made absolute. */
static void main_default_paths(struct pvnetd *d)
{
	char self_guest[PATH_MAX];

	if (!d->guest_bin[0]) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = 0;
			snprintf(d->guest_bin, sizeof(d->guest_bin), "%s/pvnet-guest",
				 dirname(self));
		}
		/* installed: pvnetd in sbin, the guest program in the libexec dir */
		if (access(d->guest_bin, X_OK) != 0)
			snprintf(d->guest_bin, sizeof(d->guest_bin), "%s/pvnet-guest",
				 PVNET_LIBEXECDIR);
	}
	if (!d->accel_dir[0]) {
		/* build/bin/pvnetd -> build/lib/pvnet-accel; installed: PLUGINDIR (Makefile) */
		char self[PATH_MAX], cand[PATH_MAX + 32];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		snprintf(d->accel_dir, sizeof(d->accel_dir), "%s", PVNET_PLUGINDIR);
		if (n > 0) {
			self[n] = 0;
			snprintf(cand, sizeof(cand), "%s/../lib/pvnet-accel", dirname(self));
			if (access(cand, R_OK) == 0 && realpath(cand, self))
				snprintf(d->accel_dir, sizeof(d->accel_dir), "%s", self);
		}
		if (access(d->accel_dir, R_OK) != 0)
			d->accel_dir[0] = 0; /* built-ins only */
	}
	/* the daemon runs in "/": paths given relative to the caller's directory first */
	if (d->guest_bin[0] && realpath(d->guest_bin, self_guest))
		snprintf(d->guest_bin, sizeof(d->guest_bin), "%s", self_guest);
	if (d->accel_dir[0] && realpath(d->accel_dir, self_guest))
		snprintf(d->accel_dir, sizeof(d->accel_dir), "%s", self_guest);
}

/* Forks and starts the daemon: in the parent the exit status once it is ready or
 * failed (1 if the fork fails); in the daemon -1, start()'s result in *rc. */
static int main_daemonize(struct pvnetd *d, const struct main_opts *mo, const char *ns_note,
			  int *rc)
{
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
	d->started_ns = pvnet_now_ns();
	*rc = start(d, mo->run_dir, mo->log_path, ns_note);
	if (*rc == 0) {
		int nul = open("/dev/null", O_RDWR);
		ok = 1;
		if (chdir("/") < 0)
			PVLOG(WARN, MOD, "chdir /: %s", strerror(errno));
		/* let go of the caller's terminal or pipe before it returns */
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			close(nul);
		}
		if (write(pfd[1], &ok, 1) < 0)
			ok = 0;
	}
	close(pfd[1]);
	return -1;
}

int main(int argc, char **argv)
{
	static struct pvnetd d = {.ctl_fd = -1, .sig_fd = -1, .pid_fd = -1, .workers = 0};
	static struct main_opts mo;
	char ns_note[512] = "", why[512];
	int rc;

	rc = main_parse(argc, argv, &d, &mo);
	if (rc >= 0)
		return rc;
	if (main_vtep(&d, &mo))
		return 2;
	/* before any thread exists (setns of a mount namespace requires one) */
	rc = netns_exec_fixup(ns_note, sizeof(ns_note), why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "pvnetd: %s\n", why);
		return 1;
	}
	if (quota_ledger_create(&mo.limits, &d.quota) < 0)
		return 1;
	raise_fd_limit();
	snprintf(d.state_dir, sizeof(d.state_dir), "%s", mo.state_dir); /* absolute in state_lock */
	for (int i = 0; i < PVNET_CTL_MAX_CONNS; i++)
		d.ctl_conns[i].fd = -1;
	main_default_paths(&d);
	if (!mo.foreground) {
		int status = main_daemonize(&d, &mo, ns_note, &rc);
		if (status >= 0)
			return status;
	} else {
		d.started_ns = pvnet_now_ns();
		rc = start(&d, mo.run_dir, mo.log_path, ns_note);
	}
	if (rc < 0) {
		teardown(&d);
		return 1;
	}
	vtep_opts_persist(d.vtep, d.state_dir, mo.vtep_forget);
	while (!d.stop) {
		loop_once(&d, 1000, true);
		dom_collect_dead(&d);
		state_tick(&d); /* saved settings of vifs that have connected since */
	}
	teardown(&d);
	PVLOG(INFO, MOD, "stopped");
	return 0;
}
