/* SPDX-License-Identifier: MIT */
/*
 * Restarts that keep the guests: per-domain records in the state dir and the
 * re-adoption of running PV guests by a new pvnetd (docs/operations.md,
 * "Restart and upgrade").
 *
 * Record: <state-dir>/domains/<domid>.dom, written when a PV domain is created
 * (write to a temporary file, fsync, rename: a crash leaves the old or the new
 * record, never half of one) and removed when it is destroyed. It holds what
 * pvnetd cannot learn from the guest: the domain's id and name, its guest's pid
 * and start time (/proc/PID/stat field 22: a recycled pid does not match), its
 * memory size, and the config file's text with the `create` overrides.
 *
 * At start (adopt_start, after the switch state is loaded) every record is read;
 * a record whose guest is gone is removed with a log line; a malformed one is
 * named in the log and left alone (never a crash; the others are adopted). Then
 * <run-dir>/adopt.sock listens, and the start waits up to ADOPT_START_MS for the
 * live guests. A guest whose pvnetd went away retries that socket and sends
 * PVHC_OP_ADOPT with its domid and its memory and grant-table memfds (hvc.h
 * hvc_reattach). It is taken back only if its SO_PEERCRED pid is the record's,
 * with the recorded start time, the domid it claims is its record's, and the
 * memfds are sealed and of the recorded sizes (hv_domain_adopt): a guest cannot
 * claim another domain. The domain is rebuilt over its own memory, the store
 * nodes the toolstack writes at create are written again from the record's
 * config, the connection becomes the domain's hypercall socket, and the guest
 * re-publishes its own nodes; netfront and netback then run the xenbus connect
 * sequence with new rings and event channels. Late guests are still adopted
 * from the main loop (the socket stays open; at most ADOPT_PENDING_MAX
 * connections wait for their first message, ADOPT_MSG_MS each).
 *
 * Why re-publish rather than save the store: the store's contents after the
 * restart are then exactly what the config and the live guest say, with no
 * snapshot to go stale or to be half-written by a crash; what the guest wrote
 * (frontend keys, state) is rewritten by the connect sequence anyway.
 *
 * The guests' liveness: adopted guests are not pvnetd's children (no SIGCHLD),
 * so each is watched through a pidfd polled by the main loop.
 *
 * HVM domains (type = "hvm") have a record too (type hvm, QEMU's pid and start
 * time, its QMP socket, its accelerator, the config and vifs). QEMU has no adopt
 * socket: its vhost-user chardevs are clients that reconnect every second
 * (hvm.c). A stopping pvnetd (SIGTERM) closes their ports and leaves QEMU
 * running (hvm_detach); a killed one leaves it running anyway. At start, a
 * record whose QEMU runs (pid and start time) is adopted at once, while the
 * records are read: the hv domain is rebuilt with its token memory, its store
 * nodes are written again, QMP is asked the guest's name (a wrong one refuses
 * the adoption; no answer within the shared start-up budget is only logged), and
 * the vhost-user ports are created again on the same sockets, where QEMU
 * reconnects. A record whose QEMU is gone is removed with its stale sockets.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvnet/domrec.h>
#include <pvnet/hypercall.h>
#include <pvnet/lib.h>
#include <pvnet/log.h>

#include "hvm.h"
#include "pvnetd.h"

#define MOD "adopt"
#define ADOPT_SOCK "adopt.sock"
#define ADOPT_START_MS 2000   /* start-up wait for the live guests */
#define ADOPT_PENDING_MAX 8   /* connections waiting for their first message */
#define ADOPT_MSG_MS 1000     /* ... each at most this long */
#define ADOPT_MAX_RECORDS 256 /* records read at start */

struct adopt_rec {
	struct pvnet_domrec r; /* pvnet/domrec.h */
	bool adopted;
};

struct adopt_pending {
	int fd;
	uint64_t since_ns;
};

struct adopt {
	int listen_fd;
	char path[PATH_MAX];
	struct adopt_rec *recs[ADOPT_MAX_RECORDS];
	unsigned n_recs;
	struct adopt_pending pending[ADOPT_PENDING_MAX];
	uint64_t refused;         /* connections refused (no record, bad memfd, ...) */
	uint64_t qmp_deadline_ns; /* start-up budget for asking adopted QEMUs over QMP */
};

/* The config of the `create` being served (adopt_note_create), for adopt_save. */
static struct {
	const char *file, *text;
	size_t len;
	const char *const *overrides;
	unsigned n;
} cur_create;

/* /proc/PID/stat field 22 (start time in clock ticks); 0 if the process is gone or a zombie. */
unsigned long long pvnet_proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0; /* a zombie (its parent, pvnetd, died) is gone too */
	/* after ") ": field 3 (state) ... field 22 */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p + 1, "%llu", &v) != 1)
		v = 0;
	return v;
}

static int records_dir(const struct pvnetd *d, char *buf, size_t size)
{
	if (!d->state_dir[0])
		return -ENOENT;
	if (snprintf(buf, size, "%s/domains", d->state_dir) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

void adopt_note_create(const char *file, const char *text, size_t len, const char *const *overrides,
		       unsigned n)
{
	cur_create.file = file;
	cur_create.text = text;
	cur_create.len = len;
	cur_create.overrides = overrides;
	cur_create.n = n;
}

/* Writes rec to <dir>/<domid>.dom: temporary file, fsync, rename. 0 or -errno. */
static int rec_store(const char *dir, const struct pvnet_domrec *rec)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	FILE *f;
	int fd, rc = 0;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%u.dom", dir, rec->domid);
	snprintf(tmp, sizeof(tmp), "%s/.%u.dom.tmp", dir, rec->domid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		return rc;
	}
	rc = pvnet_domrec_write(f, rec);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Reads and parses a record file. 0, or -errno with the reason in why. */
static int rec_load(const char *path, struct pvnet_domrec *rec, char *why, size_t size)
{
	struct stat st;
	char *buf;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, size, "%s", strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > PVNET_DOMREC_MAX_SIZE) {
		snprintf(why, size, "not a regular file of 1 B..%u B", PVNET_DOMREC_MAX_SIZE);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size) {
		snprintf(why, size, "cannot read it");
		free(buf);
		close(fd);
		return -EIO;
	}
	close(fd);
	rc = pvnet_domrec_parse(buf, (size_t)st.st_size, rec, why, size);
	free(buf);
	return rc;
}

int adopt_save(struct pvnetd *d, const struct dom *dom)
{
	struct pvnet_domrec rec = {0};
	char dir[PATH_MAX];
	int rc;

	if (dom->no_adopt || records_dir(d, dir, sizeof(dir)) < 0)
		return 0;
	rec.start = pvnet_proc_start_time(dom->pid);
	if (dom->hvm) { /* QEMU's pid; pvnetd finds it back through QMP and its sockets */
		rec.hvm = 1;
		snprintf(rec.qmp, sizeof(rec.qmp), "%s", hvm_qmp_path(dom->hvm));
		snprintf(rec.accel, sizeof(rec.accel), "%s", hvm_accel(dom->hvm));
		rec.vhost_client = hvm_vhost_client(dom->hvm);
	}
	if (!cur_create.text || !rec.start || strlen(cur_create.text) != cur_create.len) {
		PVLOG(WARN, MOD, "domain %u: no record saved (%s): it will not survive a restart",
		      dom->domid, rec.start ? "no config text" : "guest already gone");
		return -ENOENT;
	}
	rec.domid = dom->domid;
	snprintf(rec.name, sizeof(rec.name), "%s", dom->name);
	rec.pid = dom->pid;
	rec.memory_mib = dom->cfg.memory_mib;
	snprintf(rec.file, sizeof(rec.file), "%s", cur_create.file ? cur_create.file : "-");
	for (unsigned i = 0; i < cur_create.n && i < PVNET_DOMREC_MAX_OVERRIDES; i++)
		rec.overrides[rec.n_overrides++] = (char *)cur_create.overrides[i];
	rec.text = (char *)cur_create.text;
	rec.text_len = cur_create.len;
	rec.vifs = (struct pvnet_vif_cfg *)dom->cfg.vifs;
	rec.n_vifs = dom->cfg.n_vifs;
	rec.vifs_state = 1;
	rc = rec_store(dir, &rec); /* borrowed pointers: no pvnet_domrec_free */
	if (rc < 0)
		PVLOG(ERR, MOD,
		      "domain %u: saving its record in %s: %s (it will not survive a "
		      "restart)",
		      dom->domid, dir, strerror(-rc));
	return rc;
}

void adopt_save_vifs(struct pvnetd *d, const struct dom *dom)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], why[160] = "";
	struct pvnet_domrec rec;
	int rc;

	if (dom->hvm || records_dir(d, dir, sizeof(dir)) < 0)
		return;
	snprintf(path, sizeof(path), "%s/%u.dom", dir, dom->domid);
	rc = rec_load(path, &rec, why, sizeof(why));
	if (rc == -ENOENT)
		return; /* no record (it could not be saved at create): nothing to update */
	if (rc == 0) {
		struct pvnet_vif_cfg *v = malloc(dom->cfg.n_vifs * sizeof(*v) + 1);
		rc = -ENOMEM;
		if (v) {
			memcpy(v, dom->cfg.vifs, dom->cfg.n_vifs * sizeof(*v));
			free(rec.vifs);
			rec.vifs = v;
			rec.n_vifs = dom->cfg.n_vifs;
			rec.vifs_state = 1;
			rc = rec_store(dir, &rec);
		}
		pvnet_domrec_free(&rec);
		if (rc < 0)
			snprintf(why, sizeof(why), "%s", strerror(-rc));
	}
	if (rc < 0)
		PVLOG(ERR, MOD,
		      "domain %u: updating its record %s: %s (a restart brings back the "
		      "vifs it had before)",
		      dom->domid, path, why);
}

void adopt_forget(struct pvnetd *d, const struct dom *dom)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];

	if (records_dir(d, dir, sizeof(dir)) < 0)
		return;
	snprintf(path, sizeof(path), "%s/%u.dom", dir, dom->domid);
	unlink(path);
}

/*
 * A guest that died while no pvnetd ran: one killed outright leaves its network
 * namespace's name behind (one that exited removed it). Its record's config
 * names it; removed as dom_destroy does for a guest that died under pvnetd.
 */
static void remove_dead_netns(const struct pvnet_domrec *r)
{
	struct pvnet_config_opts opts = {.overrides = (const char *const *)r->overrides,
					 .n_overrides = r->n_overrides};
	struct pvnet_dom_cfg *cfg = calloc(1, sizeof(*cfg));
	char err[256], path[PATH_MAX];
	struct stat st;

	if (!cfg)
		return;
	if (pvnet_config_parse_ex(r->name, r->text, r->text_len, &opts, cfg, err, sizeof(err)) ==
	    0) {
		const char *ns = cfg->netns[0] ? cfg->netns : cfg->name;
		snprintf(path, sizeof(path), "%s/%s", PVNET_NETNS_DIR, ns);
		if (pvnet_netns_name_ok(ns) && lstat(path, &st) == 0 && pvnet_netns_remove(ns) == 0)
			PVLOG(INFO, MOD, "removed network namespace %s left by domain %u", ns,
			      r->domid);
	}
	free(cfg);
}

static int adopt_hvm(struct pvnetd *d, struct adopt *a, struct pvnet_domrec *r, char *err,
		     size_t errlen);

/* The sockets a dead QEMU's domain left in the run dir: its QMP socket and the
 * default vhost-user sockets (socket= ones are left: a new port replaces them). */
static void remove_dead_hvm_sockets(struct pvnetd *d, const struct pvnet_domrec *r)
{
	char path[PATH_MAX];
	struct stat st;

	for (unsigned i = 0; i <= PVNET_MAX_VIFS; i++) {
		if (i < PVNET_MAX_VIFS)
			snprintf(path, sizeof(path), "%s/vhu-%u.%u.sock", d->run_dir, r->domid, i);
		else
			snprintf(path, sizeof(path), "%s/qmp-%u.sock", d->run_dir, r->domid);
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
	}
}

static void load_records(struct pvnetd *d, struct adopt *a)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], why[160];
	struct dirent *de;
	DIR *dp;

	if (records_dir(d, dir, sizeof(dir)) < 0 || !(dp = opendir(dir)))
		return;
	while ((de = readdir(dp))) {
		size_t n = strlen(de->d_name);
		struct adopt_rec *ar;
		struct pvnet_domrec *r;

		if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".dom"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ar = calloc(1, sizeof(*ar));
		if (!ar)
			break;
		r = &ar->r;
		why[0] = 0;
		if (rec_load(path, r, why, sizeof(why)) < 0) {
			PVLOG(ERR, MOD, "domain record %s: %s; not adopted (file left as it is)",
			      path, why);
			free(ar);
			continue;
		}
		if (strtoul(de->d_name, NULL, 10) != r->domid) {
			PVLOG(ERR, MOD, "domain record %s: says domain %u; not adopted", path,
			      r->domid);
		} else if (pvnet_proc_start_time((pid_t)r->pid) != r->start) {
			PVLOG(INFO, MOD,
			      "domain %u '%s': its %s (pid %ld) is gone; record %s removed",
			      r->domid, r->name, r->hvm ? "QEMU" : "guest", r->pid, path);
			if (r->hvm)
				remove_dead_hvm_sockets(d, r);
			else
				remove_dead_netns(r);
			unlink(path);
		} else if (r->hvm) {
			char err[512] = "";
			if (adopt_hvm(d, a, r, err, sizeof(err)) < 0)
				PVLOG(ERR, MOD,
				      "domain %u '%s' (QEMU pid %ld, record %s): not adopted: "
				      "%s (the process is left alone, the file as it is)",
				      r->domid, r->name, r->pid, path, err);
		} else if (a->n_recs >= ADOPT_MAX_RECORDS) {
			PVLOG(ERR, MOD, "domain record %s: more than %u records; not adopted", path,
			      ADOPT_MAX_RECORDS);
		} else {
			hv_domain_reserve_ids(d->hv, r->domid);
			a->recs[a->n_recs++] = ar;
			PVLOG(INFO, MOD, "domain %u '%s': guest pid %ld still runs; waiting for it",
			      r->domid, r->name, r->pid);
			continue;
		}
		pvnet_domrec_free(r);
		free(ar);
	}
	closedir(dp);
}

static int listen_adopt(struct adopt *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, rc;

	if (strlen(a->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, a->path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(a->path);
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, ADOPT_PENDING_MAX) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void send_ret(int fd, const struct pvhc_msg *req, int ret)
{
	struct pvhc_msg rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.hdr.magic = PVHC_MAGIC;
	rsp.hdr.version = PVHC_VERSION;
	rsp.hdr.op = req->hdr.op;
	rsp.hdr.seq = req->hdr.seq;
	rsp.hdr.ret = ret;
	(void)send(fd, &rsp, sizeof(rsp), MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static void adopt_warn(void *arg, const char *msg)
{
	PVLOG(WARN, MOD, "domain %s: config: %s", (const char *)arg, msg);
}

/* Rebuilds the domain of record r over the guest's memfds; fd becomes its hypercall
 * socket. 0 or -errno (the caller answers the guest). */
int adopt_domain_build(struct pvnetd *d, struct pvnet_domrec *r, int fd, int mem_fd, int gnt_fd)
{
	struct pvnet_config_opts opts = {.overrides = (const char *const *)r->overrides,
					 .n_overrides = r->n_overrides,
					 .warn = adopt_warn,
					 .warn_arg = r->name};
	struct hv_domain_config hcfg = {0};
	struct dom *dom = calloc(1, sizeof(*dom));
	char err[512];
	int rc;

	if (!dom)
		return -ENOMEM;
	rc = pvnet_config_parse_ex(strcmp(r->file, "-") ? r->file : r->name, r->text, r->text_len,
				   &opts, &dom->cfg, err, sizeof(err));
	if (rc < 0 || strcmp(dom->cfg.name, r->name) || dom->cfg.memory_mib != r->memory_mib) {
		/* rate-limited: the guest asks again every 100 ms */
		PVLOG_RL(ERR, MOD,
			 "domain %u '%s': its recorded config no longer parses as it did: %s",
			 r->domid, r->name, rc < 0 ? err : "name or memory differ");
		free(dom);
		return rc < 0 ? rc : -EINVAL;
	}
	if (r->vifs_state == 1) {
		/* the vifs it had (network-attach / network-detach since its create) */
		memcpy(dom->cfg.vifs, r->vifs, r->n_vifs * sizeof(r->vifs[0]));
		dom->cfg.n_vifs = r->n_vifs;
	} else if (r->vifs_state < 0) {
		PVLOG(WARN, MOD,
		      "domain %u '%s': its recorded vifs are of another layout or "
		      "damaged; the vifs of its config file are used",
		      r->domid, r->name);
	}
	dom->domid = r->domid;
	dom->hc_fd = -1;
	dom->pidfd = -1;
	snprintf(dom->name, sizeof(dom->name), "%s", r->name);
	snprintf(hcfg.name, sizeof(hcfg.name), "%s", r->name);
	hcfg.mem_size = (uint64_t)r->memory_mib << 20;
	if (dom_find(d, r->name)) {
		free(dom);
		return -EEXIST;
	}
	rc = hv_domain_adopt(d->hv, &hcfg, r->domid, mem_fd, gnt_fd);
	if (rc < 0) {
		free(dom);
		return rc;
	}
	rc = xs_domain_introduce(d->xs, dom->domid, dom->name);
	if (rc == 0)
		rc = dom_write_store(d, dom);
	if (rc < 0) {
		xs_domain_release(d->xs, dom->domid);
		hv_domain_destroy(d->hv, dom->domid);
		free(dom);
		return rc;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	dom->hc_fd = fd;
	loop_watch_hc(d, dom);
	dom->pid = (pid_t)r->pid;
	dom->adopted = true;
	dom->pidfd = pidfd_of((pid_t)r->pid);
	dom->created_ns = pvnet_now_ns();
	dom->next = d->doms;
	d->doms = dom;
	return 0;
}

/* A sealed memfd of `size` bytes (an HVM domain's token memory or grant table:
 * QEMU owns the guest's RAM). The fd or -errno. */
static int token_memfd(const char *name, uint64_t size)
{
	int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING), rc;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* The hv domain dom->domid (a token page, as hvm_create) and its store nodes. 0 or
 * -errno (reason in err; nothing left). */
static int hvm_domain_rebuild(struct pvnetd *d, struct dom *dom, char *err, size_t errlen)
{
	struct hv_domain_config hcfg = {.mem_size = HV_PAGE_SIZE};
	int rc, mem_fd, gnt_fd;
	char path[128];

	snprintf(hcfg.name, sizeof(hcfg.name), "%s", dom->name);
	mem_fd = token_memfd("pvnet-hvm-mem", HV_PAGE_SIZE);
	gnt_fd = token_memfd("pvnet-hvm-gnt", (uint64_t)HV_DEFAULT_GRANT_FRAMES * HV_PAGE_SIZE);
	rc = mem_fd < 0 ? mem_fd : gnt_fd < 0 ? gnt_fd : 0;
	if (rc == 0)
		rc = hv_domain_adopt(d->hv, &hcfg, dom->domid, mem_fd, gnt_fd);
	if (mem_fd >= 0)
		close(mem_fd);
	if (gnt_fd >= 0)
		close(gnt_fd);
	if (rc < 0) {
		snprintf(err, errlen, "domain %u: %s", dom->domid, strerror(-rc));
		return rc;
	}
	rc = xs_domain_introduce(d->xs, dom->domid, dom->name);
	snprintf(path, sizeof(path), "/local/domain/%u/pvnet/type", dom->domid);
	if (rc == 0)
		rc = xs_printf(d->xs, 0, path, "hvm");
	if (rc < 0) {
		snprintf(err, errlen, "store: %s", strerror(-rc));
		xs_domain_release(d->xs, dom->domid);
		hv_domain_destroy(d->hv, dom->domid);
	}
	return rc;
}

/*
 * Takes back the HVM domain of record r whose QEMU still runs (its pid and start
 * time were checked): as hvm_create, over the recorded domid, with the ports
 * created again on the sockets QEMU reconnects to. 0 or -errno (reason in err).
 */
static int adopt_hvm(struct pvnetd *d, struct adopt *a, struct pvnet_domrec *r, char *err,
		     size_t errlen)
{
	struct pvnet_config_opts opts = {.overrides = (const char *const *)r->overrides,
					 .n_overrides = r->n_overrides,
					 .warn = adopt_warn,
					 .warn_arg = r->name};
	struct dom *dom = calloc(1, sizeof(*dom));
	uint64_t now = pvnet_now_ns();
	unsigned qmp_ms = 0;
	int rc;

	if (!dom) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	dom->hc_fd = -1;
	dom->pidfd = -1;
	rc = pvnet_config_parse_ex(strcmp(r->file, "-") ? r->file : r->name, r->text, r->text_len,
				   &opts, &dom->cfg, err, errlen);
	if (rc == 0 && (strcmp(dom->cfg.name, r->name) || dom->cfg.memory_mib != r->memory_mib)) {
		snprintf(err, errlen, "its recorded config gives another name or memory");
		rc = -EINVAL;
	}
	if (rc < 0)
		goto free_dom;
	if (r->vifs_state == 1) {
		memcpy(dom->cfg.vifs, r->vifs, r->n_vifs * sizeof(r->vifs[0]));
		dom->cfg.n_vifs = r->n_vifs;
	}
	if (dom_find(d, r->name)) {
		snprintf(err, errlen, "a domain named '%s' exists already", r->name);
		rc = -EEXIST;
		goto free_dom;
	}
	dom->domid = r->domid;
	snprintf(dom->name, sizeof(dom->name), "%s", r->name);
	rc = hvm_domain_rebuild(d, dom, err, errlen);
	if (rc < 0)
		goto free_dom;
	if (a->qmp_deadline_ns > now)
		qmp_ms = (unsigned)((a->qmp_deadline_ns - now) / 1000000u);
	if (qmp_ms > 1000)
		qmp_ms = 1000;
	rc = hvm_adopt(&dom->cfg, dom->domid, d->run_dir, d->sw, r->qmp, r->accel, r->vhost_client,
		       (pid_t)r->pid, r->start, qmp_ms, &dom->hvm, err, errlen);
	if (rc < 0)
		goto release;
	dom->pid = (pid_t)r->pid;
	dom->adopted = true;
	dom->pidfd = pidfd_of((pid_t)r->pid);
	dom->created_ns = pvnet_now_ns();
	dom->next = d->doms;
	d->doms = dom;
	PVLOG(INFO, MOD, "domain %u '%s' re-adopted (QEMU pid %ld, %u vif)", r->domid, r->name,
	      r->pid, dom->cfg.n_vifs);
	return 0;

release:
	xs_domain_release(d->xs, dom->domid);
	hv_domain_destroy(d->hv, dom->domid);
free_dom:
	free(dom);
	return rc;
}

/* Reads the first message of a pending connection: 1 done (fd consumed or
 * closed), 0 nothing yet. */
static int handle_first(struct pvnetd *d, struct adopt *a, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cbuf;
	struct pvhc_msg req;
	struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fds[4], nfds = 0, rc = -EPROTO;
	struct adopt_rec *ar = NULL;
	struct pvnet_domrec *r = NULL;
	struct ucred cred = {0};
	socklen_t cl = sizeof(cred);
	ssize_t n;

	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
				if (nfds < 4)
					fds[nfds++] = f;
				else
					close(f);
			}
	if (n <= 0) {
		rc = -ECONNRESET;
		goto refuse;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		goto refuse;
	for (unsigned i = 0; i < a->n_recs; i++)
		if (!a->recs[i]->adopted && a->recs[i]->r.pid == cred.pid)
			ar = a->recs[i];
	r = ar ? &ar->r : NULL;
	if (n != sizeof(req) || req.hdr.magic != PVHC_MAGIC || req.hdr.op != PVHC_OP_ADOPT ||
	    nfds != 2)
		goto refuse;
	rc = -EPERM;
	if (!r || req.args.hello.domid != r->domid || pvnet_proc_start_time(cred.pid) != r->start)
		goto refuse;
	rc = -EINVAL;
	if (req.args.hello.mem_size != r->memory_mib << 20)
		goto refuse;
	rc = adopt_domain_build(d, r, fd, fds[0], fds[1]);
	if (rc < 0)
		goto refuse;
	ar->adopted = true;
	send_ret(fd, &req, 0);
	close(fds[0]);
	close(fds[1]);
	PVLOG(INFO, MOD, "domain %u '%s' re-adopted (guest pid %ld)", r->domid, r->name,
	      (long)r->pid);
	return 1;

refuse:
	a->refused++;
	PVLOG_RL(WARN, MOD, "refused a connection (pid %ld, domain %u): %s",
		 (long)(cl == sizeof(cred) ? cred.pid : 0),
		 n == sizeof(req) ? req.args.hello.domid : 0, strerror(-rc));
	if (n == sizeof(req))
		send_ret(fd, &req, rc);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(fd);
	return 1;
}

static void accept_adopt(struct pvnetd *d, struct adopt *a)
{
	for (;;) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		unsigned slot = ADOPT_PENDING_MAX;

		if (fd < 0)
			return;
		for (unsigned i = 0; i < ADOPT_PENDING_MAX; i++)
			if (a->pending[i].fd < 0)
				slot = i;
		if (slot == ADOPT_PENDING_MAX) {
			a->refused++;
			close(fd);
			continue;
		}
		if (handle_first(d, a, fd))
			continue;
		a->pending[slot].fd = fd;
		a->pending[slot].since_ns = pvnet_now_ns();
	}
}

int adopt_pollfds(struct pvnetd *d, struct pollfd *pfd, void **ptr, int max)
{
	struct adopt *a = d->adopt;
	uint64_t now = pvnet_now_ns();
	int n = 0;

	if (!a || max < 1)
		return 0;
	pfd[n] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
	ptr[n++] = NULL;
	for (unsigned i = 0; i < ADOPT_PENDING_MAX && n < max; i++) {
		struct adopt_pending *p = &a->pending[i];
		if (p->fd < 0)
			continue;
		if (now - p->since_ns > ADOPT_MSG_MS * 1000000ull) {
			close(p->fd); /* silent too long */
			p->fd = -1;
			a->refused++;
			continue;
		}
		pfd[n] = (struct pollfd){.fd = p->fd, .events = POLLIN};
		ptr[n++] = p;
	}
	for (struct dom *dom = d->doms; dom && n < max; dom = dom->next) {
		if (!dom->adopted || dom->pid <= 0)
			continue;
		if (dom->pidfd < 0) { /* no pidfd (old kernel): checked each turn */
			if (kill(dom->pid, 0) < 0 && errno == ESRCH)
				dom->pid = 0;
			continue;
		}
		pfd[n] = (struct pollfd){.fd = dom->pidfd, .events = POLLIN};
		ptr[n++] = dom;
	}
	return n;
}

void adopt_handle(struct pvnetd *d, int fd, void *ptr)
{
	struct adopt *a = d->adopt;

	if (!a)
		return;
	if (fd == a->listen_fd) {
		accept_adopt(d, a);
		return;
	}
	for (unsigned i = 0; i < ADOPT_PENDING_MAX; i++)
		if (ptr == &a->pending[i] && a->pending[i].fd == fd) {
			if (handle_first(d, a, fd))
				a->pending[i].fd = -1;
			return;
		}
	for (struct dom *dom = d->doms; dom; dom = dom->next)
		if (dom == ptr && dom->pidfd == fd && dom->pid > 0) {
			/* an adopted guest exited: as a reaped child (dom_collect_dead) */
			if (dom->dying)
				PVLOG(INFO, MOD, "guest of domain %u '%s' (pid %ld) exited",
				      dom->domid, dom->name, (long)dom->pid);
			else
				PVLOG(WARN, MOD, "guest of domain %u '%s' (pid %ld) exited",
				      dom->domid, dom->name, (long)dom->pid);
			close(dom->pidfd);
			dom->pidfd = -1;
			dom->pid = 0;
			dom->exit_status = 0;
			return;
		}
}

bool adopt_guest_gone(struct dom *dom)
{
	struct pollfd p = {.fd = dom->pidfd, .events = POLLIN};

	if (dom->pidfd < 0)
		return kill(dom->pid, 0) < 0 && errno == ESRCH;
	return poll(&p, 1, 0) == 1;
}

int adopt_start(struct pvnetd *d)
{
	struct adopt *a = calloc(1, sizeof(*a));
	uint64_t deadline;
	unsigned left;

	if (!a)
		return -ENOMEM;
	for (unsigned i = 0; i < ADOPT_PENDING_MAX; i++)
		a->pending[i].fd = -1;
	snprintf(a->path, sizeof(a->path), "%s/%s", d->run_dir, ADOPT_SOCK);
	d->adopt = a;
	a->qmp_deadline_ns = pvnet_now_ns() + ADOPT_START_MS * 1000000ull;
	load_records(d, a);
	a->listen_fd = listen_adopt(a);
	if (a->listen_fd < 0) {
		int rc = a->listen_fd;
		PVLOG(ERR, MOD, "adopt socket %s: %s", a->path, strerror(-rc));
		adopt_close(d);
		return rc;
	}
	/* the live guests retry every 100 ms at most: wait for them before serving */
	deadline = pvnet_now_ns() + ADOPT_START_MS * 1000000ull;
	for (;;) {
		struct pollfd pfd[1 + ADOPT_PENDING_MAX + ADOPT_MAX_RECORDS];
		void *ptr[1 + ADOPT_PENDING_MAX + ADOPT_MAX_RECORDS];
		uint64_t now = pvnet_now_ns();
		int n;

		left = 0;
		for (unsigned i = 0; i < a->n_recs; i++)
			left += !a->recs[i]->adopted;
		if (!left || now >= deadline)
			break;
		n = adopt_pollfds(d, pfd, ptr, (int)(sizeof(pfd) / sizeof(pfd[0])));
		if (poll(pfd, (nfds_t)n, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		for (int i = 0; i < n; i++)
			if (pfd[i].revents)
				adopt_handle(d, pfd[i].fd, ptr[i]);
	}
	if (a->n_recs)
		PVLOG(INFO, MOD, "%u of %u running guest(s) re-adopted at start%s",
		      a->n_recs - left, a->n_recs,
		      left ? "; the others are still taken when they call" : "");
	return 0;
}

static bool has_record(struct pvnetd *d, domid_t domid)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	struct stat st;

	if (records_dir(d, dir, sizeof(dir)) < 0)
		return false;
	snprintf(path, sizeof(path), "%s/%u.dom", dir, domid);
	return stat(path, &st) == 0;
}

void adopt_detach_all(struct pvnetd *d)
{
	struct adopt *a = d->adopt;

	/* no guest may reach a listener that will never answer */
	if (a && a->listen_fd >= 0) {
		close(a->listen_fd);
		unlink(a->path);
		a->listen_fd = -1;
	}
	for (struct dom **pp = &d->doms; *pp;) {
		struct dom *dom = *pp;

		/* only a guest with a record is left running; the rest are destroyed */
		if (dom->pid <= 0 || dom->dying || !has_record(d, dom->domid)) {
			pp = &dom->next;
			continue;
		}
		*pp = dom->next;
		PVLOG(INFO, MOD, "domain %u '%s' left running (%s pid %ld) for the next pvnetd",
		      dom->domid, dom->name, dom->hvm ? "QEMU" : "guest", (long)dom->pid);
		hvm_detach(dom->hvm); /* HVM: its ports closed, QEMU reconnects to the next */
		if (dom->hc_fd >= 0) {
			loop_unwatch_hc(d, dom);
			close(dom->hc_fd);
		}
		if (dom->adopted && dom->pidfd >= 0)
			close(dom->pidfd);
		xs_server_drop_domain(d->xss, dom->domid);
		free(dom);
	}
}

void adopt_close(struct pvnetd *d)
{
	struct adopt *a = d->adopt;

	if (!a)
		return;
	if (a->listen_fd >= 0) {
		close(a->listen_fd);
		unlink(a->path);
	}
	for (unsigned i = 0; i < ADOPT_PENDING_MAX; i++)
		if (a->pending[i].fd >= 0)
			close(a->pending[i].fd);
	for (unsigned i = 0; i < a->n_recs; i++)
		pvnet_domrec_free(&a->recs[i]->r), free(a->recs[i]);
	free(a);
	d->adopt = NULL;
}

const char *adopt_sock_path(const struct pvnetd *d)
{
	return d->adopt && d->adopt->listen_fd >= 0 ? d->adopt->path : NULL;
}

static bool dom_alive_id(struct pvnetd *d, int domid)
{
	for (struct dom *dom = d->doms; dom; dom = dom->next)
		if (dom->domid == domid)
			return true;
	return false;
}

/* pvnet shutdown [-w] [-t SECS] DOM | -a [-w] [-t SECS], as xl shutdown: asks the
 * guests (control/shutdown = poweroff) and returns; with --wait, returns once they
 * are gone, destroying (SIGKILL) those still running after the timeout (default 3 s,
 * at most 3600; xendomains' XENDOMAINS_STOP_MAXWAIT role). */
int cmd_shutdown(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	bool all = false, wait = false, bad = false;
	const char *name = NULL;
	unsigned timeout_s = 3, n = 0;
	int killed;

	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a"))
			all = true;
		else if (!strcmp(argv[i], "--wait") || !strcmp(argv[i], "-w"))
			wait = true;
		else if ((!strcmp(argv[i], "--timeout") || !strcmp(argv[i], "-t")) &&
			 i + 1 < argc) {
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (*end || !*argv[i] || v < 1 || v > 3600)
				bad = true;
			timeout_s = (unsigned)v;
		} else if (!name && argv[i][0] != '-')
			name = argv[i];
		else
			bad = true;
	}
	if (bad || all == !!name) {
		err_printf(o, "usage: pvnet shutdown [-w|--wait] [-t|--timeout SECS] NAME|ID | "
			      "-a|--all [-w] [-t SECS]\n");
		return 2;
	}
	if (name) {
		struct dom *dom = dom_find(d, name);
		int domid;
		if (!dom) {
			err_printf(o, "no domain '%s'\n", name);
			return 1;
		}
		if (dom->dying) {
			err_printf(o, "domain '%s' is being destroyed\n", name);
			return 1;
		}
		domid = dom->domid;
		dom_shutdown(d, dom, o); /* an HVM domain is gone on return */
		if (wait && dom_alive_id(d, domid))
			return dom_shutdown_wait(d, domid, timeout_s * 1000, o) ? 1 : 0;
		return 0;
	}
	for (struct dom *dom = d->doms, *next; dom; dom = next) {
		next = dom->next; /* an HVM domain is freed by dom_shutdown */
		if (!dom->dying)
			dom_shutdown(d, dom, o), n++;
	}
	killed = wait ? dom_shutdown_wait(d, -1, timeout_s * 1000, o) : 0;
	PVLOG(INFO, MOD, "shutdown --all%s: %u domain(s) asked, %d killed after %u s",
	      wait ? " --wait" : "", n, killed, timeout_s);
	return killed ? 1 : 0;
}
