/* SPDX-License-Identifier: MIT */
/*
 * Domain lifecycle in the toolstack: create (hypervisor domain, store nodes,
 * the pvnet-guest process), destroy (graceful, then forced), and reaping.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvnet/ctl.h>
#include <pvnet/hvc.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/lib.h>
#include <pvnet/log.h>
#include <pvnet/io/vif.h>

#include "hvm.h"
#include "pvnetd.h"

#define MOD "toolstack"
#define SHUTDOWN_TIMEOUT_MS 3000
/* how long `pvnet create` waits for a PV domain's vifs to connect (2 cores under
 * load start a guest in well under a second) */
#define DOM_CONNECT_TIMEOUT_MS 15000

struct dom *dom_find(struct pvnetd *d, const char *name_or_id)
{
	char *end;
	long id = strtol(name_or_id, &end, 10);

	for (struct dom *dom = d->doms; dom; dom = dom->next) {
		if (!strcmp(dom->name, name_or_id))
			return dom;
		if (*name_or_id && !*end && id == dom->domid)
			return dom;
	}
	return NULL;
}

/* Writes dir/key = printf(fmt, ...) as dom0. 0 or -errno. */
static int __attribute__((format(printf, 4, 5)))
setf(struct pvnetd *d, const char *dir, const char *key, const char *fmt, ...)
{
	char path[256], val[1024];
	va_list ap;
	int n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, key) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(val))
		return -E2BIG;
	return xs_write(d->xs, 0, 0, path, val, (size_t)n);
}

/* The vif device directories the toolstack writes, as libxl does (pvnetd.h). */
int write_vif_nodes(struct pvnetd *d, struct dom *dom, unsigned n, const struct pvnet_vif_cfg *vif)
{
	char fe[128], be[128], mac[18];
	struct xs_perm fe_perms[2] = {{dom->domid, XS_PERM_NONE}, {0, XS_PERM_READ}};
	struct xs_perm be_perms[2] = {{0, XS_PERM_NONE}, {dom->domid, XS_PERM_READ}};
	int rc = 0;

	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/%u", dom->domid, n);
	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/%u", dom->domid, n);
	pvnet_mac_format(vif->mac, mac);

	rc |= xs_mkdir(d->xs, 0, 0, be);
	rc |= xs_set_perms(d->xs, 0, 0, be, be_perms, 2);
	rc |= setf(d, be, "frontend", "%s", fe);
	rc |= setf(d, be, "frontend-id", "%u", dom->domid);
	rc |= setf(d, be, "online", "1");
	rc |= setf(d, be, "state", "1");
	rc |= setf(d, be, "handle", "%u", n);
	rc |= setf(d, be, "mac", "%s", mac);
	rc |= setf(d, be, "bridge", "%s", vif->bridge);
	rc |= setf(d, be, "mtu", "%u", vif->mtu);
	rc |= setf(d, be, "type", "vif");
	/* pvnet: the vif's queues=, netback's multi-queue-max-queues for it (more is refused) */
	rc |= setf(d, be, "queues", "%u", vif->queues ? vif->queues : 1);
	if (vif->n_ip) {
		char ips[8 * 64] = "";
		for (unsigned i = 0; i < vif->n_ip; i++) {
			strcat(ips, i ? " " : "");
			strcat(ips, vif->ip[i].text);
		}
		rc |= setf(d, be, "ip", "%s", ips);
	}
	/* pvnet: the PV guest's default route(s) through this vif (vif `gateway=`) */
	if (vif->n_gateway)
		rc |= setf(d, be, "gateway", "%s%s%s", vif->gateway[0].text,
			   vif->n_gateway > 1 ? " " : "",
			   vif->n_gateway > 1 ? vif->gateway[1].text : "");
	/* the switch port's name (vif `vifname=`), as libxl writes it */
	if (vif->vifname[0])
		rc |= setf(d, be, "vifname", "%s", vif->vifname);
	if (vif->vlan)
		rc |= setf(d, be, "vlan", "%u", vif->vlan);
	if (vif->n_trunks) {
		char tr[64 * 6] = "";
		for (unsigned i = 0; i < vif->n_trunks; i++)
			snprintf(tr + strlen(tr), sizeof(tr) - strlen(tr), "%s%u", i ? ":" : "",
				 vif->trunks[i]);
		rc |= setf(d, be, "trunks", "%s", tr);
	}
	if (vif->rate_bytes)
		rc |= setf(d, be, "rate", "%llu,%u", (unsigned long long)vif->rate_bytes,
			   vif->rate_usec);
	/* pvnet: netback polling (vif `poll=`), read by the backend at connect */
	if (vif->poll_us)
		rc |= vif->poll_us < 0 ? setf(d, be, "pvnet-poll", "on")
				       : setf(d, be, "pvnet-poll", "%d", vif->poll_us);
	/* pvnet: the vif's NIC accelerator (netback.h "NIC accelerators") */
	if (vif->accel[0]) {
		rc |= setf(d, be, "accel", "%s", vif->accel);
		rc |= setf(d, be, "accel-level", "%d", vif->level < 0 ? 0 : vif->level);
		if (vif->devargs[0])
			rc |= setf(d, be, "accel-devargs", "%s", vif->devargs);
	}

	rc |= xs_mkdir(d->xs, 0, 0, fe);
	rc |= xs_set_perms(d->xs, 0, 0, fe, fe_perms, 2);
	rc |= setf(d, fe, "backend", "%s", be);
	rc |= setf(d, fe, "backend-id", "0");
	rc |= setf(d, fe, "state", "1");
	rc |= setf(d, fe, "handle", "%u", n);
	rc |= setf(d, fe, "mac", "%s", mac);
	rc |= setf(d, fe, "mtu", "%u", vif->mtu);
	/* pvnet: queues the frontend should ask for (vif `queues=`), capped by the backend's max */
	rc |= setf(d, fe, "queues", "%u", vif->queues ? vif->queues : 1);
	/* pvnet: netfront's attachment: tap (default), pktgen or sink */
	rc |= setf(d, fe, "pvnet-mode", "%s", vif->mode[0] ? vif->mode : "tap");
	if (vif->pkt)
		rc |= setf(d, fe, "pvnet-pkt", "%u", vif->pkt);
	rc |= setf(d, fe, "pvnet-pps", "%u", vif->pps);
	return rc ? -EIO : 0;
}

static int write_dom_nodes(struct pvnetd *d, struct dom *dom)
{
	char base[64];
	int rc = 0;

	snprintf(base, sizeof(base), "/local/domain/%u", dom->domid);
	rc |= setf(d, base, "memory/target", "%llu",
		   (unsigned long long)dom->cfg.memory_mib * 1024);
	rc |= setf(d, base, "memory/static-max", "%llu",
		   (unsigned long long)dom->cfg.memory_mib * 1024);
	rc |= setf(d, base, "cpu/0/availability", "online");
	rc |= setf(d, base, "pvnet/netns", "%s", dom->cfg.netns[0] ? dom->cfg.netns : dom->name);
	rc |= setf(d, base, "pvnet/type", "%s", dom->cfg.type[0] ? dom->cfg.type : "pv");
	/* control/ is where the toolstack asks for shutdown; the guest may write its features */
	rc |= xs_mkdir(d->xs, 0, 0, "/local/domain/0/backend");
	{
		char ctl[80];
		struct xs_perm perms[1] = {{dom->domid, XS_PERM_NONE}};
		snprintf(ctl, sizeof(ctl), "%s/control", base);
		rc |= xs_mkdir(d->xs, 0, 0, ctl);
		rc |= xs_set_perms(d->xs, 0, 0, ctl, perms, 1);
		snprintf(ctl, sizeof(ctl), "%s/data", base);
		rc |= xs_mkdir(d->xs, 0, 0, ctl);
		rc |= xs_set_perms(d->xs, 0, 0, ctl, perms, 1);
	}
	for (unsigned i = 0; i < dom->cfg.n_vifs; i++)
		rc |= write_vif_nodes(d, dom, (unsigned)dom->cfg.vifs[i].devid, &dom->cfg.vifs[i]);
	return rc ? -EIO : 0;
}

int dom_write_store(struct pvnetd *d, struct dom *dom)
{
	return write_dom_nodes(d, dom);
}

static void console_path(struct pvnetd *d, const struct dom *dom, char *buf, size_t size)
{
	snprintf(buf, size, "%s/console-%s.log", d->run_dir, dom->name);
}

/* The guest's console log, opened here (0640, never through a symlink; O_NONBLOCK:
 * a FIFO there fails with ENXIO); /dev/null when refused. -1 if neither opens. */
static int console_open(const char *con)
{
	int logfd = open(con, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
	struct stat st;

	if (logfd >= 0 && (fstat(logfd, &st) < 0 || !S_ISREG(st.st_mode) ||
			   ftruncate(logfd, 0) < 0 || fchmod(logfd, 0640) < 0)) {
		close(logfd);
		logfd = -1;
	}
	if (logfd >= 0)
		fcntl(logfd, F_SETFL, fcntl(logfd, F_GETFL) & ~O_NONBLOCK);
	else /* refused (a symlink, a FIFO...): the guest runs without its log */
		logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return logfd;
}

/*
 * posix_spawn, not fork: a fork copies pvnetd's page tables (every domain's
 * memory and grant mappings), a cost that grew with the number of guests; the
 * spawn (clone(CLONE_VM | CLONE_VFORK)) costs the same at 1,000 guests as at 1.
 */
static int spawn_guest(struct pvnetd *d, struct dom *dom, int guest_sock)
{
	char domid[16], con[PATH_MAX], var[HV_NAME_MAX + 32];
	const char *bin = d->guest_bin, *adopt = adopt_sock_path(d);
	char *argv[] = {"pvnet-guest", "--domid", domid, "--hv-fd", "3",
			"--name",      dom->name, NULL,  NULL,      NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int logfd, rc;
	pid_t pid;

	/*
	 * Tests substitute the guest program of one domain (e.g. a hostile
	 * frontend) with PVNET_GUEST_BIN_<name> in pvnetd's environment.
	 */
	snprintf(var, sizeof(var), "PVNET_GUEST_BIN_%s", dom->name);
	for (char *c = var; *c; c++)
		if (*c == '-' || *c == '.')
			*c = '_';
	if (getenv(var) && *getenv(var))
		bin = getenv(var), adopt = NULL; /* a test's program: told nothing of adopt.sock */
	dom->no_adopt = !adopt;
	if (adopt) {
		argv[7] = "--adopt";
		argv[8] = (char *)adopt;
	}
	snprintf(domid, sizeof(domid), "%u", dom->domid);
	console_path(d, dom, con, sizeof(con));
	logfd = console_open(con);
	if (logfd < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* the guest outlives pvnetd (adopt.c): its own session, default signals */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	/* dup2 onto itself clears FD_CLOEXEC (POSIX) */
	posix_spawn_file_actions_adddup2(&fa, guest_sock, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	rc = posix_spawn(&pid, bin, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(logfd);
	if (rc)
		return -rc;
	dom->pid = pid;
	return 0;
}

/* xl configs often say on_crash = "restart": accepted, but only destroy is done. */
static void dom_warn_on_crash(const struct pvnet_dom_cfg *cfg, struct outbuf *out)
{
	if (cfg->on_crash[0] && strcmp(cfg->on_crash, "destroy"))
		err_printf(out,
			   "warning: on_crash = \"%s\" is not implemented: a guest that dies "
			   "is destroyed\n",
			   cfg->on_crash);
}

/* hvm.c's waits keep pvnetd's loop turning */
static void pump_cb(void *arg, int ms)
{
	pvnetd_pump(arg, ms);
}

/*
 * type = "hvm": an unmodified guest in QEMU. The hv domain holds only a token
 * page (QEMU owns the guest RAM); each vif is a vhost-user port on its bridge,
 * so no xenbus vif directories are written (netback would wait for a frontend).
 */
static int hvm_create(struct pvnetd *d, const struct pvnet_dom_cfg *cfg, struct outbuf *out)
{
	struct hv_domain_config hcfg = {0};
	struct dom *dom = calloc(1, sizeof(*dom));
	char err[256] = "";
	int rc;

	if (!dom)
		return -ENOMEM;
	dom->cfg = *cfg;
	dom->hc_fd = -1;
	snprintf(dom->name, sizeof(dom->name), "%s", cfg->name);
	snprintf(hcfg.name, sizeof(hcfg.name), "%s", cfg->name);
	hcfg.mem_size = HV_PAGE_SIZE;
	rc = hv_domain_create(d->hv, &hcfg, &dom->domid);
	if (rc < 0) {
		err_printf(out, "cannot create domain '%s': %s\n", cfg->name, strerror(-rc));
		free(dom);
		return rc;
	}
	rc = xs_domain_introduce(d->xs, dom->domid, dom->name);
	if (rc == 0) {
		char base[64];
		snprintf(base, sizeof(base), "/local/domain/%u", dom->domid);
		rc = setf(d, base, "pvnet/type", "hvm");
	}
	if (rc < 0) {
		err_printf(out, "store: cannot introduce domain: %s\n", strerror(-rc));
		hv_domain_destroy(d->hv, dom->domid);
		free(dom);
		return rc;
	}
	rc = hvm_spawn(cfg, dom->domid, d->run_dir, d->sw, &dom->hvm, &dom->pid, err, sizeof(err),
		       pump_cb, d);
	if (rc < 0) {
		err_printf(out, "cannot start HVM domain '%s': %s\n", cfg->name, err);
		xs_domain_release(d->xs, dom->domid);
		hv_domain_destroy(d->hv, dom->domid);
		free(dom);
		return rc;
	}
	dom->created_ns = pvnet_now_ns();
	dom->next = d->doms;
	d->doms = dom;
	adopt_save(d, dom); /* its record: QEMU survives a pvnetd restart (adopt.c) */
	PVLOG(INFO, MOD, "created HVM domain %u '%s' (%llu MiB, %u vif) on %s, qemu pid %ld",
	      dom->domid, dom->name, (unsigned long long)cfg->memory_mib, cfg->n_vifs,
	      hvm_accel(dom->hvm), (long)dom->pid);
	dom_warn_on_crash(cfg, out);
	out_printf(out, "Created domain %u (%s, hvm, %s)\n", dom->domid, dom->name,
		   hvm_accel(dom->hvm));
	return 0;
}

/*
 * Checks what the config parser leaves to netfront and to hv_domain_create, so a
 * PV domain whose guest would fail at once (its vif stuck in InitWait, or the
 * guest exiting right after "Created") is refused here with the reason instead.
 */
/* Is `name` a switch port, or the vifname of another domain's vif (its port may
 * not exist yet)? */
bool vifname_taken(struct pvnetd *d, const char *name)
{
	struct vsw_bridge *br;
	struct vsw_port *port;

	if (d->sw && vsw_switch_port_find(d->sw, name, &br, &port) == 0)
		return true;
	for (struct dom *o = d->doms; o; o = o->next)
		for (unsigned i = 0; i < o->cfg.n_vifs; i++)
			if (!strcmp(o->cfg.vifs[i].vifname, name))
				return true;
	return false;
}

const struct dom *mac_owner(struct pvnetd *d, const uint8_t mac[6], unsigned *devid)
{
	for (struct dom *o = d->doms; o; o = o->next)
		for (unsigned i = 0; i < o->cfg.n_vifs; i++)
			if (!memcmp(o->cfg.vifs[i].mac, mac, 6)) {
				*devid = o->cfg.vifs[i].devid;
				return o;
			}
	return NULL;
}

/* A vif's MAC is its alone: the bridge's anti-spoofing table gives each MAC one port. */
int mac_check_free(struct pvnetd *d, const char *what, const char *name, const uint8_t mac[6],
		   struct outbuf *out, bool quote)
{
	unsigned devid = 0;
	const struct dom *o = mac_owner(d, mac, &devid);
	char s[18];

	if (!o)
		return 0;
	pvnet_mac_format(mac, s);
	err_printf(out,
		   quote ? "%s '%s': mac %s is already vif %u of domain %u (%s)\n"
			 : "%s: %s: mac %s is already vif %u of domain %u (%s)\n",
		   what, name, s, devid, o->domid, o->name);
	return -EEXIST;
}

static int dom_cfg_check(struct pvnetd *d, const struct pvnet_dom_cfg *cfg, struct outbuf *out)
{
	const char *ns = cfg->netns[0] ? cfg->netns : cfg->name;
	char path[PVNET_NAME_MAX + 16];
	struct stat st;

	if (cfg->memory_mib > HV_MAX_MEM_SIZE >> 20) {
		err_printf(out,
			   "cannot create domain '%s': memory %llu MiB is above the limit of "
			   "%llu MiB\n",
			   cfg->name, (unsigned long long)cfg->memory_mib,
			   (unsigned long long)(HV_MAX_MEM_SIZE >> 20));
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->n_vifs; i++) {
		const struct pvnet_vif_cfg *v = &cfg->vifs[i];
		enum pvnet_vif_mode mode = PVNET_VIF_MODE_TAP;

		if (v->mode[0] && pvnet_vif_mode_parse(v->mode, &mode) < 0) {
			err_printf(out,
				   "cannot create domain '%s': vif %u: unknown mode '%s' "
				   "(expected tap, pktgen or sink)\n",
				   cfg->name, i, v->mode);
			return -EINVAL;
		}
		if (v->vifname[0] && vifname_taken(d, v->vifname)) {
			err_printf(out,
				   "cannot create domain '%s': vif %u: vifname '%s' is already a "
				   "switch port's name\n",
				   cfg->name, i, v->vifname);
			return -EEXIST;
		}
		if (mode == PVNET_VIF_MODE_TAP && v->mtu > DOM_TAP_MTU_MAX) {
			err_printf(out,
				   "cannot create domain '%s': vif %u: mtu %u is above %u, "
				   "the largest a TAP device takes\n",
				   cfg->name, i, v->mtu, DOM_TAP_MTU_MAX);
			return -EINVAL;
		}
	}
	if (!strcmp(ns, ".") || !strcmp(ns, "..")) {
		err_printf(out,
			   "cannot create domain '%s': '%s' cannot name a network namespace; "
			   "set netns= in the domain config\n",
			   cfg->name, ns);
		return -EINVAL;
	}
	/* netfront refuses to take over a namespace it did not create */
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if (stat(path, &st) == 0) {
		err_printf(out,
			   "cannot create domain '%s': network namespace '%s' already exists "
			   "(%s); remove it (ip netns del %s) or set netns= in the domain config\n",
			   cfg->name, ns, path, ns);
		return -EEXIST;
	}
	return 0;
}

static bool reaped(struct dom *dom);

/* A store value as an int (-1 if absent or not a number). */
static int store_int(struct pvnetd *d, const char *path)
{
	char *val = NULL, *end;
	size_t len;
	long v;

	if (xs_read(d->xs, 0, 0, path, &val, &len) < 0)
		return -1;
	v = strtol(val, &end, 10);
	v = (end == val || *end) ? -1 : v;
	free(val);
	return (int)v;
}

/* Copies the error node at path (netback's or netfront's xenbus error) into buf; false if none. */
static bool store_error(struct pvnetd *d, const char *path, char *buf, size_t size)
{
	char *val = NULL;
	size_t len;

	if (xs_read(d->xs, 0, 0, path, &val, &len) < 0)
		return false;
	snprintf(buf, size, "%s", val);
	free(val);
	return true;
}

/*
 * A PV domain is "Created" only when every vif is Connected on both ends: this
 * waits for it (the loop keeps turning: the store, the data path and the other
 * guests are served; control clients wait, as for shutdown --wait), at most
 * DOM_CONNECT_TIMEOUT_MS. Otherwise -EIO and the reason: netback's or
 * netfront's error node (e.g. a grant-map limit reached), the guest's exit, or
 * the states the vif was left in.
 */
static int dom_wait_connected(struct pvnetd *d, struct dom *dom, struct outbuf *out)
{
	uint64_t deadline = pvnet_now_ns() + DOM_CONNECT_TIMEOUT_MS * 1000000ull;
	char path[160], why[160];
	unsigned i;

	for (;;) {
		int be = -1, fe = -1;

		for (i = 0; i < dom->cfg.n_vifs; i++) {
			int devid = dom->cfg.vifs[i].devid;

			snprintf(path, sizeof(path),
				 "/local/domain/0/error/backend/vif/%u/%d/error", dom->domid,
				 devid);
			if (store_error(d, path, why, sizeof(why)))
				goto fail;
			snprintf(path, sizeof(path), "/local/domain/%u/error/device/vif/%d/error",
				 dom->domid, devid);
			if (store_error(d, path, why, sizeof(why)))
				goto fail;
			snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/%d/state",
				 dom->domid, devid);
			be = store_int(d, path);
			snprintf(path, sizeof(path), "/local/domain/%u/device/vif/%d/state",
				 dom->domid, devid);
			fe = store_int(d, path);
			if (be != XenbusStateConnected || fe != XenbusStateConnected)
				break;
		}
		if (i == dom->cfg.n_vifs)
			return 0;
		if (reaped(dom)) {
			snprintf(why, sizeof(why), "the guest process exited (%s %d) first",
				 WIFSIGNALED(dom->exit_status) ? "signal" : "status",
				 WIFSIGNALED(dom->exit_status) ? WTERMSIG(dom->exit_status)
							       : WEXITSTATUS(dom->exit_status));
			goto fail;
		}
		if (pvnet_now_ns() >= deadline) {
			snprintf(why, sizeof(why),
				 "not connected after %u ms (backend state %d, frontend state %d)",
				 DOM_CONNECT_TIMEOUT_MS, be, fe);
			goto fail;
		}
		/* woken by what moves the vif on (the guest's store writes, netback's
		 * kick, SIGCHLD): the timeout only bounds the wait, a short one would
		 * poll every fd of every guest many times per create */
		pvnetd_pump(d, 100);
	}
fail:
	err_printf(
		out,
		"cannot create domain '%s': vif %u cannot connect: %s (console: pvnet console %s)\n",
		dom->name, i < dom->cfg.n_vifs ? i : 0, why, dom->name);
	PVLOG(WARN, MOD, "domain %u '%s': vif %u cannot connect: %s; destroying it", dom->domid,
	      dom->name, i < dom->cfg.n_vifs ? i : 0, why);
	return -EIO;
}

int dom_create(struct pvnetd *d, const struct pvnet_dom_cfg *cfg, struct outbuf *out)
{
	struct hv_domain_config hcfg = {0};
	struct dom *dom;
	int sv[2] = {-1, -1};
	int rc;

	if (!strcmp(cfg->name, "Domain-0") || dom_find(d, cfg->name)) {
		err_printf(out, "domain '%s' already exists\n", cfg->name);
		return -EEXIST;
	}
	for (unsigned i = 0; i < cfg->n_vifs; i++)
		if (mac_check_free(d, "cannot create domain", cfg->name, cfg->vifs[i].mac, out,
				   true) < 0)
			return -EEXIST;
	if (!strcmp(cfg->type, "hvm"))
		return hvm_create(d, cfg, out);
	rc = dom_cfg_check(d, cfg, out);
	if (rc < 0)
		return rc;
	dom = calloc(1, sizeof(*dom));
	if (!dom)
		return -ENOMEM;
	dom->cfg = *cfg;
	dom->hc_fd = -1;
	snprintf(dom->name, sizeof(dom->name), "%s", cfg->name);
	snprintf(hcfg.name, sizeof(hcfg.name), "%s", cfg->name);
	hcfg.mem_size = (uint64_t)cfg->memory_mib << 20;
	rc = hv_domain_create(d->hv, &hcfg, &dom->domid);
	if (rc < 0) {
		err_printf(out, "cannot create domain '%s': %s\n", cfg->name, strerror(-rc));
		goto free_dom;
	}
	rc = xs_domain_introduce(d->xs, dom->domid, dom->name);
	if (rc < 0) {
		err_printf(out, "store: cannot introduce domain: %s\n", strerror(-rc));
		goto destroy_hv;
	}
	rc = write_dom_nodes(d, dom);
	if (rc < 0) {
		err_printf(out, "store: cannot write the domain's nodes\n");
		goto release_xs;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		goto release_xs;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	dom->hc_fd = sv[0];
	loop_watch_hc(d, dom);
	dom->created_ns = pvnet_now_ns();
	dom->next = d->doms;
	d->doms = dom;
	rc = spawn_guest(d, dom, sv[1]);
	close(sv[1]);
	if (rc < 0) {
		err_printf(out, "cannot start %s: %s\n", d->guest_bin, strerror(-rc));
		dom_destroy(d, dom, NULL);
		return rc;
	}
	adopt_save(d, dom); /* its record: it survives a pvnetd restart */
	/* a test's substituted guest program (hostile frontends) is not waited for */
	if (!dom->no_adopt && (rc = dom_wait_connected(d, dom, out)) < 0) {
		dom_destroy(d, dom, NULL);
		return rc;
	}
	PVLOG(INFO, MOD, "created domain %u '%s' (%llu MiB, %u vif), guest pid %ld", dom->domid,
	      dom->name, (unsigned long long)cfg->memory_mib, cfg->n_vifs, (long)dom->pid);
	out_printf(out, "Created domain %u (%s)\n", dom->domid, dom->name);
	dom_warn_on_crash(cfg, out);
	return 0;

release_xs:
	xs_domain_release(d->xs, dom->domid);
destroy_hv:
	hv_domain_destroy(d->hv, dom->domid);
free_dom:
	free(dom);
	return rc;
}

static bool reaped(struct dom *dom)
{
	int st;

	if (dom->pid <= 0)
		return true;
	if (dom->adopted) { /* not our child (adopt.c) */
		if (!adopt_guest_gone(dom))
			return false;
		dom->exit_status = 0;
		dom->pid = 0;
		return true;
	}
	pid_t r = waitpid(dom->pid, &st, WNOHANG);
	if (r == dom->pid || (r < 0 && errno == ECHILD)) {
		dom->exit_status = r == dom->pid ? st : 0;
		dom->pid = 0;
		return true;
	}
	return false;
}

/* An empty regular file under /run/netns with no namespace mounted on it. */
static bool half_created_netns(const char *path)
{
	struct stat f, dir;

	return lstat(path, &f) == 0 && S_ISREG(f.st_mode) && f.st_size == 0 &&
	       stat("/run/netns", &dir) == 0 && f.st_dev == dir.st_dev;
}

/*
 * A guest that exits cleanly removes its own network namespace; one that was
 * killed leaves the bind mount under /run/netns behind. The name comes from the
 * toolstack's copy of the config (a guest can rewrite its store nodes), and only
 * a namespace the guest reported creating (pvnet/netns-created) or, when GUESTS,
 * the one the killed guest ran in is removed; so is the empty name of one it was
 * killed in the middle of creating.
 */
static void remove_guest_netns(struct pvnetd *d, struct dom *dom, bool guests)
{
	const char *name = dom->cfg.netns[0] ? dom->cfg.netns : dom->name;
	char path[128], *val = NULL;
	size_t len;

	if (!pvnet_netns_name_ok(name))
		return;
	snprintf(path, sizeof(path), "%s/%s", PVNET_NETNS_DIR, name);
	if (!dom->adopted && half_created_netns(path)) {
		/* killed between creating the name and mounting the namespace on it;
		 * the name did not exist when the domain was created (dom_cfg_check) */
		if (unlink(path) == 0)
			PVLOG(INFO, MOD, "removed half-created namespace name %s of domain %u",
			      name, dom->domid);
		return;
	}
	snprintf(path, sizeof(path), "/local/domain/%u/pvnet/netns-created", dom->domid);
	if (!guests && xs_read(d->xs, 0, 0, path, &val, &len) < 0)
		return;
	free(val);
	if (pvnet_netns_remove(name) == 0)
		PVLOG(INFO, MOD, "removed network namespace %s left by domain %u", name,
		      dom->domid);
}

/*
 * Whether the namespace named by PATH is the one guest process PID runs in: a
 * guest killed right after it created its namespace has not reported it yet
 * (pvnet/netns-created), but the namespace is its own.
 */
static bool netns_is_guests(pid_t pid, const char *path)
{
	char proc[64];
	struct stat a, b;

	snprintf(proc, sizeof(proc), "/proc/%ld/ns/net", (long)pid);
	return stat(proc, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/*
 * Processes the user started in the guest's namespace (`ip netns exec web2 iperf3
 * -s -D`) outlive the guest and keep its namespace alive with only `lo` in it: a
 * VM's would have died with it. Names up to 4 of them, so the user can stop them.
 */
static void warn_netns_survivors(const struct dom *dom, ino_t ns_ino, struct outbuf *out)
{
	char want[48], link[48], path[300], comm[32], list[160] = "";
	unsigned found = 0;
	size_t off = 0;
	struct dirent *de;
	DIR *proc;

	if (!ns_ino || !out || !(proc = opendir("/proc")))
		return;
	snprintf(want, sizeof(want), "net:[%llu]", (unsigned long long)ns_ino);
	while ((de = readdir(proc))) {
		ssize_t n;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strcmp(link, want))
			continue;
		if (found++ >= 4)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		comm[0] = 0;
		if ((f = fopen(path, "re"))) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
		}
		comm[strcspn(comm, "\n")] = 0;
		n = snprintf(list + off, sizeof(list) - off, "%s%s %s", off ? ", " : "", de->d_name,
			     comm);
		if (n > 0 && (size_t)n < sizeof(list) - off)
			off += (size_t)n;
	}
	closedir(proc);
	if (found)
		err_printf(out,
			   "warning: %u process(es) still run in domain %s's network namespace "
			   "and keep it alive: %s%s\n",
			   found, dom->name, list, found > 4 ? ", ..." : "");
}

static unsigned trim_count; /* destroys, for malloc_trim */

int dom_destroy(struct pvnetd *d, struct dom *dom, struct outbuf *out)
{
	const char *ns = dom->cfg.netns[0] ? dom->cfg.netns : dom->name;
	char path[128];
	uint64_t deadline;
	struct stat st;
	ino_t ns_ino = 0;
	bool guests_ns = false;

	dom->dying = true;
	/* the guest removes its namespace's name as it exits: note the namespace now */
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if (!dom->hvm && !strchr(ns, '/') && stat(path, &st) == 0) {
		ns_ino = st.st_ino;
		guests_ns = dom->pid > 0 && netns_is_guests(dom->pid, path);
	}
	if (dom->hvm) {
		/* immediate, as xl destroy: SIGKILL QEMU; the store and the other guests
		 * are served while it is reaped */
		hvm_destroy(dom->hvm, dom->pid, HVM_STOP_NOW, &dom->exit_status, pump_cb, d);
		dom->hvm = NULL;
		dom->pid = 0;
	}
	if (dom->pid > 0) {
		/* immediate, as xl destroy: the guest is not asked (pvnet shutdown asks) */
		kill(dom->pid, SIGKILL);
		deadline = pvnet_now_ns() + SHUTDOWN_TIMEOUT_MS * 1000000ull;
		while (!reaped(dom) && pvnet_now_ns() < deadline)
			pvnetd_pump(d, 20);
		if (!reaped(dom)) {
			/* in the kernel still (D state): the SIGCHLD handler reaps it later */
			PVLOG(WARN, MOD, "domain %u: pid %ld not gone %d ms after SIGKILL",
			      dom->domid, (long)dom->pid, SHUTDOWN_TIMEOUT_MS);
			dom->pid = 0;
		}
	}
	if (dom->hc_fd >= 0) {
		loop_unwatch_hc(d, dom);
		close(dom->hc_fd);
		dom->hc_fd = -1;
	}
	if (dom->adopted && dom->pidfd >= 0)
		close(dom->pidfd);
	adopt_forget(d, dom); /* its record (adopt.c) */
	remove_guest_netns(d, dom, guests_ns);
	warn_netns_survivors(dom, ns_ino, out);
	xs_server_drop_domain(d->xss, dom->domid);
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u", dom->domid);
	xs_rm(d->xs, 0, 0, path);
	xs_domain_release(d->xs, dom->domid);
	hv_domain_destroy(d->hv, dom->domid);
	/* the console log stays (as /var/log/xen/ does): the guest's last words */

	for (struct dom **pp = &d->doms; *pp; pp = &(*pp)->next) {
		if (*pp == dom) {
			*pp = dom->next;
			break;
		}
	}
	PVLOG(INFO, MOD, "destroyed domain %u '%s'", dom->domid, dom->name);
	/*
	 * What a guest held (queue state, store nodes, watches) is back in the heap;
	 * hand the free pages back to the system, as they add up: every 32 destroys
	 * and when the last guest goes (malloc_trim walks the heap: not every time).
	 */
	if (++trim_count % 32 == 0 || !d->doms)
		malloc_trim(0);
	state_forget_domain(d, dom); /* its vifs' saved settings (state.c) */
	if (out)
		out_printf(out, "Destroyed domain %u (%s)\n", dom->domid, dom->name);
	free(dom);
	return 0;
}

int dom_shutdown(struct pvnetd *d, struct dom *dom, struct outbuf *out)
{
	char path[128];

	if (dom->dying)
		return 0;
	if (out)
		out_printf(out, "Shutting down domain %u\n", dom->domid);
	if (dom->hvm) {
		/* QMP quit (SIGKILL after the timeout): QEMU is gone on return */
		dom->shutdown_ns = pvnet_now_ns();
		dom->dying = true;
		hvm_destroy(dom->hvm, dom->pid, SHUTDOWN_TIMEOUT_MS, &dom->exit_status, pump_cb, d);
		dom->hvm = NULL;
		dom->pid = 0;
		return dom_destroy(d, dom, out);
	}
	if (!dom->shutdown_ns) {
		snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown", dom->domid);
		xs_printf(d->xs, 0, path, "poweroff");
		dom->shutdown_ns = pvnet_now_ns();
		PVLOG(INFO, MOD, "domain %u '%s': shutdown requested", dom->domid, dom->name);
	}
	return 0;
}

static bool shutdown_pending(struct pvnetd *d, int domid)
{
	for (struct dom *dom = d->doms; dom; dom = dom->next)
		/* our children are reaped (and their exit logged) by dom_reap on SIGCHLD
		 * in the pump; an adopted guest's exit is seen here */
		if (dom->shutdown_ns && !dom->dying && (domid < 0 || dom->domid == domid) &&
		    dom->pid > 0 && (!dom->adopted || !reaped(dom)))
			return true;
	return false;
}

int dom_shutdown_wait(struct pvnetd *d, int domid, unsigned wait_ms, struct outbuf *out)
{
	uint64_t deadline = pvnet_now_ns() + (uint64_t)wait_ms * 1000000ull;
	int killed = 0;

	/* the nested pump serves no control client and frees no domain: the list holds */
	while (shutdown_pending(d, domid) && pvnet_now_ns() < deadline)
		pvnetd_pump(d, 20);
	for (struct dom *dom = d->doms, *next; dom; dom = next) {
		next = dom->next;
		if (!dom->shutdown_ns || dom->dying || (domid >= 0 && dom->domid != domid))
			continue;
		if (!reaped(dom)) {
			PVLOG(WARN, MOD, "domain %u did not shut down in %u ms; destroying it",
			      dom->domid, wait_ms);
			if (out)
				err_printf(out, "domain %u did not shut down in %u ms; destroyed\n",
					   dom->domid, wait_ms);
			killed++;
		}
		dom_destroy(d, dom, out);
	}
	return killed;
}

void dom_reap(struct pvnetd *d)
{
	for (struct dom *dom = d->doms; dom; dom = dom->next) {
		if (dom->pid > 0 && reaped(dom) && !dom->dying) {
			if (WIFSIGNALED(dom->exit_status))
				PVLOG(WARN, MOD, "guest of domain %u '%s' killed by signal %d",
				      dom->domid, dom->name, WTERMSIG(dom->exit_status));
			else
				PVLOG(INFO, MOD, "guest of domain %u '%s' exited with %d",
				      dom->domid, dom->name, WEXITSTATUS(dom->exit_status));
		}
	}
}

void dom_collect_dead(struct pvnetd *d)
{
	struct dom *dom = d->doms;

	while (dom) {
		struct dom *next = dom->next;
		/* on_crash = destroy: a guest that died frees its domain */
		if (dom->pid == 0 && !dom->dying)
			dom_destroy(d, dom, NULL);
		dom = next;
	}
}

void dom_hypercall(struct pvnetd *d, struct dom *dom)
{
	int rc = hv_hypercall_handle(d->hv, dom->domid, dom->hc_fd);

	if (rc == -ECONNRESET) {
		loop_unwatch_hc(d, dom);
		close(dom->hc_fd);
		dom->hc_fd = -1;
	}
}
