/* SPDX-License-Identifier: MIT */
/*
 * HVM domains: QEMU guests on vhost-user switch ports (contract in hvm.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>
#include <pvnet/vhost.h>

#include "hvm.h"

#define MOD "hvm"
#define HVM_MAX_ARGS 96
#define HVM_STOP_TIMEOUT_MS 3000
#define KVM_PROBE_MS 6000

struct hvm_dom {
	domid_t domid;
	char name[PVNET_NAME_MAX];
	char run_dir[256];
	struct vsw_switch *sw;
	unsigned n_ports;
	char bridge[PVNET_MAX_VIFS][VSW_NAME_MAX];
	char port[PVNET_MAX_VIFS][VSW_NAME_MAX];
	char sock[PVNET_MAX_VIFS][300];
	char qmp_path[300];
	const char *accel;
	/* re-adopted after a pvnetd restart (hvm_adopt): QEMU is not our child, its
	 * exit is seen through /proc (pid + start time), not waitpid */
	bool adopted;
	unsigned long long start;
	/* QEMU's vhost-user chardevs are servers (server=on,wait=off) and the ports
	 * connect to them (vhost.h client mode), as OVS's dpdkvhostuserclient; false:
	 * a QEMU started by an older pvnetd, a reconnect=1 client of listening ports */
	bool vhost_client;
};

/* Argument vector with its strings in one arena. */
struct argv_buf {
	char *argv[HVM_MAX_ARGS + 1];
	unsigned argc;
	char arena[8192];
	size_t used;
	bool overflow;
};

static void __attribute__((format(printf, 2, 3))) arg_add(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->argc >= HVM_MAX_ARGS || a->used >= sizeof(a->arena)) {
		a->overflow = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(a->arena + a->used, sizeof(a->arena) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->arena) - a->used) {
		a->overflow = true;
		return;
	}
	a->argv[a->argc++] = a->arena + a->used;
	a->argv[a->argc] = NULL;
	a->used += (size_t)n + 1;
}

static const char *qemu_bin(void)
{
	const char *q = getenv("PVNET_QEMU");
	return q && *q ? q : "qemu-system-x86_64";
}

/* In the child: stdin /dev/null, stdout+stderr to `out_fd`, no inherited fds or
 * signal mask, then exec. Never returns. */
static void exec_child(int out_fd, char *const argv[])
{
	sigset_t none;
	int null = open("/dev/null", O_RDONLY);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (null >= 0)
		dup2(null, 0);
	if (out_fd >= 0) {
		dup2(out_fd, 1);
		dup2(out_fd, 2);
	}
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	setsid(); /* a terminal's ^C to pvnetd does not reach the guest */
	execvp(argv[0], argv);
	fprintf(stderr, "hvm: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Boots `kernel` under KVM for at most KVM_PROBE_MS and watches the console for the
 * kernel starting init, in slices of 20 ms with wait_cb(arg, 0) between them (the
 * caller's loop keeps turning). 1 if it did, 0 if not (or KVM unusable).
 */
static int kvm_probe(const char *kernel, const char *ramdisk, void (*wait_cb)(void *, int),
		     void *arg)
{
	struct argv_buf a = {0};
	char buf[4096], seen[8192] = "";
	size_t seen_len = 0;
	int pfd[2], found = 0, st;
	uint64_t deadline;
	pid_t pid;

	if (access("/dev/kvm", R_OK | W_OK) < 0)
		return 0;
	arg_add(&a, "%s", qemu_bin());
	arg_add(&a, "-machine");
	arg_add(&a, "q35,accel=kvm");
	arg_add(&a, "-m");
	arg_add(&a, "256");
	arg_add(&a, "-nographic");
	arg_add(&a, "-no-reboot");
	arg_add(&a, "-nic");
	arg_add(&a, "none");
	arg_add(&a, "-kernel");
	arg_add(&a, "%s", kernel);
	if (ramdisk && *ramdisk) {
		arg_add(&a, "-initrd");
		arg_add(&a, "%s", ramdisk);
	}
	arg_add(&a, "-append");
	arg_add(&a, "console=ttyS0 panic=-1 loglevel=7");
	if (a.overflow || pipe2(pfd, O_CLOEXEC) < 0)
		return 0;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return 0;
	}
	if (pid == 0)
		exec_child(pfd[1], a.argv);
	close(pfd[1]);
	deadline = pvnet_now_ms() + KVM_PROBE_MS;
	while (!found) {
		uint64_t t = pvnet_now_ms();
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int r;

		if (t >= deadline)
			break;
		r = poll(&p, 1, deadline - t < 20 ? (int)(deadline - t) : 20);
		if (r < 0)
			break;
		if (r == 0) {
			if (wait_cb)
				wait_cb(arg, 0);
			continue;
		}
		ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
		if (n <= 0)
			break;
		/* keep a sliding window so a marker split across reads is still found */
		if (seen_len + (size_t)n >= sizeof(seen)) {
			size_t keep = 256 < seen_len ? 256 : seen_len;
			memmove(seen, seen + seen_len - keep, keep);
			seen_len = keep;
		}
		memcpy(seen + seen_len, buf, (size_t)n);
		seen_len += (size_t)n;
		seen[seen_len] = '\0';
		found = strstr(seen, "as init process") != NULL;
	}
	kill(pid, SIGKILL);
	/* QEMU's exit (its guest memory freed) took 700 ms on a loaded machine: the
	 * loop keeps turning meanwhile (a blocking waitpid here was its worst turn) */
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (wait_cb)
			wait_cb(arg, 20);
		else
			usleep(20000);
	}
	close(pfd[0]);
	return found;
}

static const char *choose_accel(const char *kernel, const char *ramdisk,
				void (*wait_cb)(void *, int), void *arg)
{
	static int probed = -1; /* process-wide: one probe per daemon */
	const char *mode = getenv("PVNET_HVM_ACCEL");

	/* default "probe": KVM only where a short boot probe reaches init */
	if (mode && !strcmp(mode, "kvm"))
		return "kvm";
	if (mode && !strcmp(mode, "tcg"))
		return "tcg";
	if (probed < 0) {
		uint64_t t0 = pvnet_now_ms();
		probed = kvm_probe(kernel, ramdisk, wait_cb, arg);
		PVLOG(INFO, MOD, "KVM boot probe: %s in %llu ms",
		      probed ? "reached init" : "failed",
		      (unsigned long long)(pvnet_now_ms() - t0));
	}
	return probed ? "kvm" : "tcg";
}

/*
 * Whether `path` may be a vif's vhost-user socket (see hvm.h): its directory,
 * symlinks resolved, is the run dir, a directory below it, or the directory in
 * PVNET_VHOST_DIR; its last component is a plain name; and what is there now, if
 * anything, is a socket (the port replaces it; any other file is never touched).
 * 0, or -EPERM/-EEXIST/-EINVAL with the reason in err.
 */
int hvm_socket_path_ok(const char *path, const char *run_dir, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	const char *extra = getenv("PVNET_VHOST_DIR");
	char dir[PATH_MAX], real_dir[PATH_MAX], real_run[PATH_MAX], real_extra[PATH_MAX];
	struct stat st;
	size_t n;

	if (path[0] != '/' || !*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		snprintf(err, errlen, "socket=%.107s: not an absolute path to a file", path);
		return -EINVAL;
	}
	n = (size_t)(slash - path);
	snprintf(dir, sizeof(dir), "%.*s", (int)(n ? n : 1), path);
	if (!realpath(dir, real_dir) || !realpath(run_dir, real_run)) {
		snprintf(err, errlen, "socket=%.107s: directory %.107s: %s", path, dir,
			 strerror(errno));
		return -EINVAL;
	}
	n = strlen(real_run);
	if (!(strncmp(real_dir, real_run, n) == 0 && (real_dir[n] == 0 || real_dir[n] == '/')) &&
	    !(extra && *extra && realpath(extra, real_extra) && !strcmp(real_dir, real_extra))) {
		snprintf(err, errlen,
			 "socket=%.107s: refused: a vhost-user socket must be in the run "
			 "dir %.100s (or in $PVNET_VHOST_DIR%s%.100s)",
			 path, run_dir, extra && *extra ? " = " : ", not set",
			 extra && *extra ? extra : "");
		return -EPERM;
	}
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "socket=%.107s: refused: exists and is not a socket (pvnetd "
			 "replaces only a stale socket)",
			 path);
		return -EEXIST;
	}
	return 0;
}

/* The console log: created 0640 or truncated (and made 0640), never through a
 * symlink, never anything but a regular file (a FIFO would block the open). */
static int open_console(const char *path)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (ftruncate(fd, 0) < 0 || fchmod(fd, 0640) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* After QEMU has exited: the vhost-user sockets it listened on (client mode: the
 * ports never remove the frontend's file), only what is still a socket. */
static void unlink_client_sockets(struct hvm_dom *h)
{
	for (unsigned i = 0; i < PVNET_MAX_VIFS && h->sock[i][0]; i++) {
		struct stat st;
		if (lstat(h->sock[i], &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(h->sock[i]);
	}
}

static void remove_ports(struct hvm_dom *h)
{
	for (unsigned i = 0; i < h->n_ports; i++) {
		struct vsw_bridge *br;
		struct vsw_port *port;

		if (vsw_bridge_find(h->sw, h->bridge[i], &br) == 0 &&
		    vsw_port_find(br, h->port[i], &port) == 0 && vsw_port_is_vhost(port))
			vsw_port_del(br, port); /* closes and unlinks its socket */
	}
	h->n_ports = 0;
}

static int add_ports(struct hvm_dom *h, const struct pvnet_dom_cfg *cfg, char *err, size_t errlen)
{
	/* the VMM may hand over the domain's RAM and no more */
	struct vsw_vhost_config vcfg = {.mem_max = (cfg->memory_mib ? cfg->memory_mib : 256) << 20,
					.client = h->vhost_client};
	const char *tmo = getenv("PVNET_VHOST_MSG_TIMEOUT_MS"); /* default 1000 (vhost.h) */

	if (tmo && *tmo)
		vcfg.msg_timeout_ms = (unsigned)strtoul(tmo, NULL, 10);

	for (unsigned i = 0; i < cfg->n_vifs; i++) {
		const struct pvnet_vif_cfg *vif = &cfg->vifs[i];
		const char *bridge = vif->bridge[0] ? vif->bridge : "br0";
		char sock[300];
		struct vsw_bridge *br;
		struct vsw_port *port;
		int rc;

		if (vif->model[0] && strcmp(vif->model, "virtio") &&
		    strcmp(vif->model, "virtio-net")) {
			snprintf(err, errlen, "vif %u: model '%s' not supported for hvm (virtio)",
				 i, vif->model);
			return -EINVAL;
		}
		if (vif->vifname[0]) /* vif `vifname=` names the port */
			snprintf(h->port[i], sizeof(h->port[i]), "%s", vif->vifname);
		else
			snprintf(h->port[i], sizeof(h->port[i]), "vif%u.%u", h->domid, i);
		snprintf(h->bridge[i], sizeof(h->bridge[i]), "%s", bridge);
		if (vif->socket[0]) {
			char why[400];
			rc = hvm_socket_path_ok(vif->socket, h->run_dir, why, sizeof(why));
			if (rc < 0) {
				snprintf(err, errlen, "vif %u: %s", i, why);
				return rc;
			}
			snprintf(sock, sizeof(sock), "%s", vif->socket);
		} else {
			snprintf(sock, sizeof(sock), "%s/vhu-%u.%u.sock", h->run_dir, h->domid, i);
		}
		snprintf(h->sock[i], sizeof(h->sock[i]), "%s", sock);
		rc = vsw_bridge_get_or_create(h->sw, bridge, &br);
		if (rc == 0)
			rc = vsw_vhost_port_add(br, h->port[i], sock, &vcfg, &port);
		if (rc < 0) {
			snprintf(err, errlen, "vif %u: vhost-user port %s on %s: %s", i, h->port[i],
				 bridge, strerror(-rc));
			return rc;
		}
		h->n_ports = i + 1;
		if (vif->vlan && vsw_port_set_access(port, (uint16_t)vif->vlan) < 0)
			PVLOG(WARN, MOD, "%s: cannot set access VLAN %u", h->port[i], vif->vlan);
	}
	return 0;
}

static int build_argv(struct hvm_dom *h, const struct pvnet_dom_cfg *cfg, struct argv_buf *a)
{
	uint64_t mem = cfg->memory_mib ? cfg->memory_mib : 256;
	char cmdline[1024];
	size_t len;

	arg_add(a, "%s", qemu_bin());
	arg_add(a, "-name");
	arg_add(a, "%s", cfg->name);
	arg_add(a, "-machine");
	arg_add(a, "q35,accel=%s,memory-backend=mem0", h->accel);
	if (!strcmp(h->accel, "kvm")) {
		arg_add(a, "-cpu");
		arg_add(a, "host");
	}
	arg_add(a, "-smp");
	arg_add(a, "%u", cfg->vcpus ? cfg->vcpus : 1);
	arg_add(a, "-m");
	arg_add(a, "%llu", (unsigned long long)mem);
	/* guest RAM on a shared memfd: the vhost-user backend maps it */
	arg_add(a, "-object");
	arg_add(a, "memory-backend-memfd,id=mem0,size=%lluM,share=on", (unsigned long long)mem);
	arg_add(a, "-nographic");
	arg_add(a, "-no-reboot");
	arg_add(a, "-nodefaults");
	arg_add(a, "-serial");
	arg_add(a, "stdio");
	arg_add(a, "-qmp");
	arg_add(a, "unix:%s,server=on,wait=off", h->qmp_path);
	arg_add(a, "-nic");
	arg_add(a, "none");
	for (unsigned i = 0; i < cfg->n_vifs; i++) {
		char mac[18];
		pvnet_mac_format(cfg->vifs[i].mac, mac);
		char sock[300];
		if (cfg->vifs[i].socket[0])
			snprintf(sock, sizeof(sock), "%s", cfg->vifs[i].socket);
		else
			snprintf(sock, sizeof(sock), "%s/vhu-%u.%u.sock", h->run_dir, h->domid, i);
		arg_add(a, "-chardev");
		/*
		 * QEMU is the server and the port connects (OVS's dpdkvhostuserclient):
		 * when pvnetd goes, QEMU listens again on the same socket and a restarted
		 * pvnetd connects at once, where a reconnect=1 client of QEMU's would
		 * wait up to a second. QEMU waits for that first connection before it
		 * boots the guest (wait=off only keeps the chardev from blocking).
		 */
		arg_add(a, "socket,id=vhu%u,path=%s,server=on,wait=off", i, sock);
		arg_add(a, "-netdev");
		arg_add(a, "vhost-user,id=net%u,chardev=vhu%u", i, i);
		/*
		 * vectors=0: QEMU 7.2 under TCG crashes in msix_set_vector_notifiers when a
		 * vhost-user virtio-net device has MSI-X (irqfd is KVM-only); INTx works.
		 * romfile=: no iPXE option ROM (faster boot, no network boot attempt).
		 * status=off: no link state for the guest. QEMU takes the link down
		 * while pvnetd is away (a restart); a guest that sees it flushes its
		 * ARP cache, and its first new ARP request, sent before the link is
		 * back, is lost: traffic waited for the retry 1 s later.
		 */
		arg_add(a, "-device");
		arg_add(a, "virtio-net-pci,netdev=net%u,mac=%s,status=off,romfile=%s%s", i, mac, "",
			!strcmp(h->accel, "tcg") ? ",vectors=0" : "");
	}
	if (cfg->kernel[0]) {
		arg_add(a, "-kernel");
		arg_add(a, "%s", cfg->kernel);
	}
	if (cfg->ramdisk[0]) {
		arg_add(a, "-initrd");
		arg_add(a, "%s", cfg->ramdisk);
	}
	len = (size_t)snprintf(cmdline, sizeof(cmdline), "console=ttyS0 quiet panic=-1 %s",
			       cfg->cmdline);
	if (cfg->n_vifs && cfg->vifs[0].n_ip && len < sizeof(cmdline))
		snprintf(cmdline + len, sizeof(cmdline) - len, " pvnet.ip=%s",
			 cfg->vifs[0].ip[0].text);
	arg_add(a, "-append");
	arg_add(a, "%s", cmdline);
	return a->overflow ? -E2BIG : 0;
}

/* kernel= and ramdisk= are readable regular files (QEMU only reads them). 0 or -errno. */
static int check_images(const struct pvnet_dom_cfg *cfg, char *err, size_t errlen)
{
	for (int k = 0; k < 2; k++) {
		const char *f = k ? cfg->ramdisk : cfg->kernel;
		struct stat st;
		int rc;

		if (!f[0])
			continue;
		if (stat(f, &st) < 0 || access(f, R_OK) < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot read %s: %s", f, strerror(-rc));
			return rc;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s=%s: not a regular file", k ? "ramdisk" : "kernel",
				 f);
			return -EINVAL;
		}
	}
	return 0;
}

int hvm_spawn(const struct pvnet_dom_cfg *cfg, domid_t domid, const char *run_dir,
	      struct vsw_switch *sw, struct hvm_dom **out, pid_t *pid_out, char *err, size_t errlen,
	      void (*wait_cb)(void *arg, int ms), void *arg)
{
	struct argv_buf *a = NULL;
	struct hvm_dom *h;
	char con[300];
	int rc, logfd = -1;
	pid_t pid;

	if (strcmp(cfg->type, "hvm")) {
		snprintf(err, errlen, "domain type '%s' is not hvm", cfg->type);
		return -EINVAL;
	}
	if (!cfg->kernel[0]) {
		snprintf(err, errlen,
			 "hvm needs kernel = '...' (scripts/guest-image.sh builds one)");
		return -EINVAL;
	}
	rc = check_images(cfg, err, errlen);
	if (rc < 0)
		return rc;
	h = calloc(1, sizeof(*h));
	a = calloc(1, sizeof(*a));
	if (!h || !a) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto free_h;
	}
	h->domid = domid;
	h->sw = sw;
	snprintf(h->name, sizeof(h->name), "%s", cfg->name);
	snprintf(h->run_dir, sizeof(h->run_dir), "%s", run_dir);
	snprintf(h->qmp_path, sizeof(h->qmp_path), "%s/qmp-%u.sock", run_dir, domid);
	h->vhost_client = true;
	if (strlen(h->qmp_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		rc = -ENAMETOOLONG;
		snprintf(err, errlen, "run dir too long for a socket path");
		goto free_h;
	}
	rc = add_ports(h, cfg, err, errlen);
	if (rc < 0)
		goto remove_ports;
	h->accel = choose_accel(cfg->kernel, cfg->ramdisk, wait_cb, arg);
	rc = build_argv(h, cfg, a);
	if (rc < 0) {
		snprintf(err, errlen, "QEMU command line too long");
		goto remove_ports;
	}
	snprintf(con, sizeof(con), "%s/console-%s.log", run_dir, cfg->name);
	logfd = open_console(con);
	if (logfd < 0) {
		rc = logfd;
		snprintf(err, errlen, "console log %s: %s", con,
			 rc == -ELOOP    ? "is a symlink: refused"
			 : rc == -EINVAL ? "not a regular file: refused"
					 : strerror(-rc));
		goto remove_ports;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-rc));
		goto close_log;
	}
	if (pid == 0)
		exec_child(logfd, a->argv);
	close(logfd);
	PVLOG(INFO, MOD, "domain %u '%s': QEMU pid %ld, accel %s%s, %u vif(s), console %s", domid,
	      cfg->name, (long)pid, h->accel,
	      !strcmp(h->accel, "tcg") ? " (virtio-net vectors=0)" : "", h->n_ports, con);
	free(a);
	*out = h;
	*pid_out = pid;
	return 0;

close_log:
	close(logfd);
remove_ports:
	remove_ports(h);
free_h:
	free(a);
	free(h);
	return rc;
}

/*
 * Asks QEMU to quit over QMP without waiting for it: a non-blocking connect (a full
 * backlog fails at once) and the two commands written into the socket buffer (QEMU
 * reads them after its greeting). The fd, or -errno; the caller keeps it open until
 * QEMU has exited, so QEMU does not see the client gone before reading.
 */
static int qmp_quit(const char *path)
{
	static const char cmds[] = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	/* QEMU creates it: a VMM could leave a symlink to another host socket there */
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, cmds, sizeof(cmds) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)(sizeof(cmds) - 1)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Waits up to `ms` for `pid` to exit, in slices of 20 ms spent in wait_cb (or
 * sleeping). true once it has been reaped (here, or by someone else: ECHILD);
 * for an adopted QEMU (not our child) once /proc shows it gone or a zombie. */
static bool wait_exit(const struct hvm_dom *h, pid_t pid, unsigned ms, int *status,
		      void (*wait_cb)(void *, int), void *arg)
{
	uint64_t deadline = pvnet_now_ms() + ms;

	for (;;) {
		pid_t r = h->adopted ? -1 : waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && !h->adopted && errno == ECHILD))
			return true;
		if (h->adopted && pvnet_proc_start_time(pid) != h->start)
			return true;
		if (pvnet_now_ms() >= deadline)
			return false;
		if (wait_cb)
			wait_cb(arg, 20);
		else
			usleep(20000);
	}
}

void hvm_destroy(struct hvm_dom *h, pid_t pid, unsigned timeout_ms, int *status,
		 void (*wait_cb)(void *arg, int ms), void *arg)
{
	int st = 0;

	if (!h)
		return;
	if (!timeout_ms)
		timeout_ms = HVM_STOP_TIMEOUT_MS;
	if (pid > 0 && timeout_ms == HVM_STOP_NOW) {
		/* pvnet destroy: xl's destroy asks nothing of the guest */
		kill(pid, SIGKILL);
		if (!wait_exit(h, pid, HVM_STOP_TIMEOUT_MS, &st, wait_cb, arg))
			PVLOG(WARN, MOD, "domain %u: QEMU pid %ld not reaped after SIGKILL",
			      h->domid, (long)pid);
		if (status)
			*status = st;
	} else if (pid > 0) {
		/* one polite request (QMP quit, or SIGTERM where QMP is not reachable),
		 * then SIGKILL: a VMM that ignores the one ignores the other (QEMU quits
		 * the same way on both) */
		int qfd = qmp_quit(h->qmp_path);
		bool done;

		if (qfd < 0)
			kill(pid, SIGTERM);
		done = wait_exit(h, pid, timeout_ms / 2, &st, wait_cb, arg);
		if (!done) {
			PVLOG(WARN, MOD,
			      "domain %u: QEMU pid %ld did not quit (%s) in %u ms; SIGKILL",
			      h->domid, (long)pid, qfd >= 0 ? "QMP quit" : "SIGTERM",
			      timeout_ms / 2);
			kill(pid, SIGKILL);
			/* SIGKILL is not ignored; bounded anyway (a process stuck in the
			 * kernel is reaped later by the SIGCHLD handler) */
			wait_exit(h, pid, timeout_ms / 2, &st, wait_cb, arg);
		}
		if (qfd >= 0)
			close(qfd);
		if (status)
			*status = st;
	}
	remove_ports(h);
	if (h->vhost_client)
		unlink_client_sockets(h);
	unlink(h->qmp_path);
	PVLOG(INFO, MOD, "domain %u '%s': stopped, ports removed", h->domid, h->name);
	free(h);
}

const char *hvm_accel(const struct hvm_dom *h)
{
	return h->accel;
}

const char *hvm_qmp_path(const struct hvm_dom *h)
{
	return h->qmp_path;
}

bool hvm_vhost_client(const struct hvm_dom *h)
{
	return h->vhost_client;
}

void hvm_detach(struct hvm_dom *h)
{
	if (!h)
		return;
	/* closing the connections is all QEMU sees: a server QEMU listens again and
	 * the next pvnetd connects (an older QEMU client retries, reconnect=1, until
	 * the next pvnetd listens); its QMP socket is QEMU's and stays */
	remove_ports(h);
	PVLOG(INFO, MOD, "domain %u '%s': QEMU left running, its ports closed", h->domid, h->name);
	free(h);
}

/*
 * Reads from a QMP connection until a line that is a JSON object with `key`
 * arrives (QEMU's greeting has "QMP", a reply "return" or "error"; events are
 * skipped), or the deadline. The object (caller json_decref's it), or NULL.
 */
static json_t *qmp_read(int fd, char *buf, size_t size, size_t *have, uint64_t deadline,
			const char *key, const char *alt)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);
		uint64_t t = pvnet_now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		while (nl) {
			json_t *o;
			*nl = 0;
			o = json_loads(buf, 0, NULL);
			*have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, *have);
			if (json_is_object(o) &&
			    (json_object_get(o, key) || (alt && json_object_get(o, alt))))
				return o;
			json_decref(o);
			nl = memchr(buf, '\n', *have);
		}
		if (*have >= size - 1 || t >= deadline || poll(&p, 1, (int)(deadline - t)) <= 0)
			return NULL; /* a line longer than the buffer, or silent too long */
		n = read(fd, buf + *have, size - 1 - *have);
		if (n <= 0)
			return NULL;
		*have += (size_t)n;
	}
}

/*
 * Connects to QEMU's QMP socket, negotiates and asks query-name: 0 if it answers
 * with `name`, -EPERM if another name, -ETIMEDOUT/-errno if it cannot be asked
 * within timeout_ms (detail in err).
 */
static int qmp_check_name(const char *path, const char *name, unsigned timeout_ms, char *err,
			  size_t errlen)
{
	static const char cmds[] = "{\"execute\":\"qmp_capabilities\"}\n"
				   "{\"execute\":\"query-name\"}\n";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t deadline = pvnet_now_ms() + timeout_ms;
	char buf[4096];
	size_t have = 0;
	json_t *o = NULL;
	struct stat st;
	int fd, rc = -ETIMEDOUT;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s is not a socket", path);
		return -ENOTSOCK;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, cmds, sizeof(cmds) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)(sizeof(cmds) - 1)) {
		rc = -errno;
		snprintf(err, errlen, "connect to %s: %s", path, strerror(-rc));
		goto out;
	}
	snprintf(err, errlen, "no answer on %s in %u ms", path, timeout_ms);
	o = qmp_read(fd, buf, sizeof(buf), &have, deadline, "QMP", NULL); /* greeting */
	if (!o)
		goto out;
	for (int i = 0; i < 2; i++) { /* qmp_capabilities, then query-name */
		json_decref(o);
		o = qmp_read(fd, buf, sizeof(buf), &have, deadline, "return", "error");
		if (!o)
			goto out;
	}
	{
		const char *got =
			json_string_value(json_object_get(json_object_get(o, "return"), "name"));
		if (!got) {
			snprintf(err, errlen, "query-name: no name in the answer");
			rc = -EPROTO;
		} else if (strcmp(got, name)) {
			snprintf(err, errlen, "QMP says its name is '%.64s', not '%s'", got, name);
			rc = -EPERM;
		} else {
			rc = 0;
		}
	}
out:
	json_decref(o);
	close(fd);
	return rc;
}

/*
 * Whether process `pid` is the QEMU hvm_spawn started for this domain: its command
 * line (at most 64 KiB read) has "-name NAME" and the QMP argument naming
 * qmp_path, as build_argv wrote them; *servers and *clients count its vhost-user
 * chardevs of each role (server=on,wait=off / reconnect=1). Cheap and without
 * waiting on QEMU.
 */
static bool cmdline_is_ours(pid_t pid, const char *name, const char *qmp_path, unsigned *servers,
			    unsigned *clients)
{
	char path[64], want[400];
	bool has_name = false, has_qmp = false;
	size_t len = 0, cap = 64 << 10;
	char *buf = malloc(cap + 1);
	ssize_t n;
	int fd;

	if (!buf)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	snprintf(want, sizeof(want), "unix:%s,server=on,wait=off", qmp_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	if (fd >= 0)
		close(fd);
	buf[len] = 0;
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
		const char *arg = buf + off,
			   *next = off + strlen(arg) + 1 < len ? arg + strlen(arg) + 1 : "";
		if (!strcmp(arg, "-name") && !strcmp(next, name))
			has_name = true;
		if (!strcmp(arg, want))
			has_qmp = true;
		if (!strncmp(arg, "socket,id=vhu", 13)) { /* its vhost-user chardevs' role */
			size_t l = strlen(arg);
			if (l > 19 && !strcmp(arg + l - 19, ",server=on,wait=off"))
				++*servers;
			else if (l > 12 && !strcmp(arg + l - 12, ",reconnect=1"))
				++*clients;
		}
	}
	free(buf);
	return has_name && has_qmp;
}

/*
 * hvm_adopt's checks of the process: `pid` still has start time h->start, its
 * command line is the one hvm_spawn gave QEMU for this domain, and its vhost-user
 * chardevs have the role h->vhost_client says. 0, or -ESRCH/-EPERM (reason in err).
 */
static int check_process(const struct hvm_dom *h, pid_t pid, char *err, size_t errlen)
{
	unsigned servers = 0, clients = 0;

	if (pvnet_proc_start_time(pid) != h->start) {
		snprintf(err, errlen, "QEMU pid %ld is gone (or the pid is another process's)",
			 (long)pid);
		return -ESRCH;
	}
	if (!cmdline_is_ours(pid, h->name, h->qmp_path, &servers, &clients)) {
		snprintf(err, errlen,
			 "pid %ld is not the QEMU pvnetd started for '%s' (its command "
			 "line has no -name %s and -qmp %s)",
			 (long)pid, h->name, h->name, h->qmp_path);
		return -EPERM;
	}
	if (h->vhost_client ? clients != 0 : servers != 0) {
		/* a port of the wrong role would wait forever, or (listening) replace the
		 * socket QEMU listens on */
		snprintf(err, errlen,
			 "its record says QEMU's vhost-user sockets are %s but QEMU "
			 "pid %ld has %u server and %u reconnecting client chardev(s)",
			 h->vhost_client ? "servers" : "clients (record without 'vhost')",
			 (long)pid, servers, clients);
		return -EPERM;
	}
	return 0;
}

int hvm_adopt(const struct pvnet_dom_cfg *cfg, domid_t domid, const char *run_dir,
	      struct vsw_switch *sw, const char *qmp_path, const char *accel, bool vhost_client,
	      pid_t pid, unsigned long long start, unsigned qmp_timeout_ms, struct hvm_dom **out,
	      char *err, size_t errlen)
{
	struct hvm_dom *h;
	char why[400];
	int rc;

	if (strcmp(cfg->type, "hvm")) {
		snprintf(err, errlen, "its config's type is '%s', not hvm", cfg->type);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->domid = domid;
	h->sw = sw;
	h->adopted = true;
	h->start = start;
	h->vhost_client = vhost_client;
	h->accel = !strcmp(accel, "kvm") ? "kvm" : "tcg";
	snprintf(h->name, sizeof(h->name), "%s", cfg->name);
	snprintf(h->run_dir, sizeof(h->run_dir), "%s", run_dir);
	snprintf(h->qmp_path, sizeof(h->qmp_path), "%s/qmp-%u.sock", run_dir, domid);
	/* the only QMP socket pvnetd ever names: a record cannot point it elsewhere */
	if (strcmp(qmp_path, h->qmp_path)) {
		snprintf(err, errlen, "its QMP socket %.100s is not %.100s", qmp_path, h->qmp_path);
		free(h);
		return -EINVAL;
	}
	rc = check_process(h, pid, err, errlen);
	if (rc < 0) {
		free(h);
		return rc;
	}
	if (qmp_timeout_ms) {
		why[0] = 0;
		rc = qmp_check_name(h->qmp_path, cfg->name, qmp_timeout_ms, why, sizeof(why));
		if (rc == -EPERM) {
			snprintf(err, errlen, "%s", why);
			free(h);
			return rc;
		}
		if (rc < 0)
			PVLOG(WARN, MOD,
			      "domain %u '%s': QMP: %s; adopted on its pid and start time", domid,
			      cfg->name, why);
		else
			PVLOG(INFO, MOD, "domain %u '%s': QMP answers with its name", domid,
			      cfg->name);
	} else {
		PVLOG(WARN, MOD,
		      "domain %u '%s': QMP not asked (start-up budget spent); adopted on "
		      "its pid and start time",
		      domid, cfg->name);
	}
	rc = add_ports(h, cfg, err, errlen);
	if (rc < 0) {
		remove_ports(h);
		free(h);
		return rc;
	}
	PVLOG(INFO, MOD,
	      "domain %u '%s': QEMU pid %ld re-adopted (%s), %u vhost-user port(s) "
	      "%s again",
	      domid, cfg->name, (long)pid, h->accel, h->n_ports,
	      vhost_client ? "connecting to QEMU" : "listening for QEMU (a reconnect=1 client)");
	*out = h;
	return 0;
}
