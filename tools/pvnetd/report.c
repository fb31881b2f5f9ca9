/* SPDX-License-Identifier: MIT */
/*
 * The read commands (report.h): one collector per command builds a json_t; the
 * text table and `--json` are both rendered from it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <jansson.h>

#include <pvnet/accel.h>
#include <pvnet/ctl.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/metrics.h>
#include <pvnet/version.h>

#include "pvnetd.h"
#include "report.h"
#include "switch_report.h"

/* ---- small helpers ----------------------------------------------------------------- */

static long long ji(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *js(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* o[key] = v, taking v; errors are caught once at the end (json_dumps of a
 * partial object is never sent: the collectors return NULL on any failure). */
static int put(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v);
}

/* Sends a long text in pieces that fit one reply message each. */
static void send_text(struct outbuf *o, const char *text)
{
	size_t len = strlen(text);

	for (size_t off = 0; off < len;) {
		size_t n = len - off > 4000 ? 4000 : len - off;
		const char *nl = memrchr(text + off, '\n', n);
		if (nl && off + n < len)
			n = (size_t)(nl - (text + off)) + 1;
		out_printf(o, "%.*s", (int)n, text + off);
		off += n;
	}
}

/* Prints j (one object per command) and a newline; takes j. */
static int send_json(struct outbuf *o, json_t *j)
{
	char *text;

	if (!j) {
		err_printf(o, "out of memory\n");
		return 1;
	}
	text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(j);
	if (!text) {
		err_printf(o, "out of memory\n");
		return 1;
	}
	send_text(o, text);
	out_printf(o, "\n");
	free(text);
	return 0;
}

/* The CPU seconds (user + system) of process pid from /proc/PID/stat, or -1. */
static double proc_cpu_seconds(pid_t pid)
{
	char path[64], line[1024];
	uint64_t ticks;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	bool ok;

	if (pid <= 0 || hz <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fgets(line, sizeof(line), f) && pvnet_proc_stat_cpu_ticks(line, &ticks) == 0;
	fclose(f);
	return ok ? (double)ticks / (double)hz : -1;
}

/*
 * xl's state letter of a guest from its process's threads (/proc/PID/task/T/stat,
 * at most 256 read): 'r' if one runs (R), 'p' if all are stopped (T, t: SIGSTOP or
 * a debugger), 's' or 'c' if it has exited and awaits its reaping (Z: 's' after pvnet
 * shutdown asked, 'c' otherwise), else 'b' (blocked: asleep, waiting). 0 if gone.
 */
static char proc_state_letter(pid_t pid, bool shutdown_asked)
{
	char path[64], line[512], *p;
	unsigned n = 0, stopped = 0, zombie = 0, running = 0;
	struct dirent *de;
	DIR *dir;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if (!(dir = opendir(path)))
		return 0;
	while ((de = readdir(dir)) && n < 256) {
		FILE *f;
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/stat", (long)pid, de->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		if (!p || p[1] != ' ')
			continue;
		n++;
		running += p[2] == 'R';
		stopped += p[2] == 'T' || p[2] == 't';
		zombie += p[2] == 'Z' || p[2] == 'X';
	}
	closedir(dir);
	if (!n)
		return 0;
	if (zombie == n)
		return shutdown_asked ? 's' : 'c';
	if (running)
		return 'r';
	if (stopped + zombie == n)
		return 'p';
	return 'b';
}

static json_t *cpu_json(pid_t pid)
{
	double s = proc_cpu_seconds(pid);
	return s < 0 ? json_null() : json_real(s);
}

/* CPU seconds as a number (0.0 when the process is gone): the Time(s) column. */
static json_t *cpu_seconds_json(pid_t pid)
{
	double s = pid > 0 ? proc_cpu_seconds(pid) : -1;
	return json_real(s < 0 ? 0.0 : s);
}

/* ---- info --------------------------------------------------------------------------- */

/* pvnetd's own: a /proc/self/status field in KiB ("RssAnon"), and its open fds; -1 if unknown. */
static long long self_status_kib(const char *key)
{
	char line[128];
	long long v = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtoll(line + kl + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static long long self_fds(void)
{
	long long n = 0;
	struct dirent *de;
	DIR *dir = opendir("/proc/self/fd");

	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	return n - 1; /* the directory's own fd */
}

static json_t *collect_info(struct pvnetd *d)
{
	struct hv_domain_info infos[HV_MAX_DOMID + 1];
	int n = hv_domain_list(d->hv, infos, HV_MAX_DOMID + 1);
	uint64_t up = (pvnet_now_ns() - d->started_ns) / 1000000000ull;
	uint64_t mem = 0;
	unsigned open_conns = 0;
	json_t *j = json_object(), *limits = json_object();
	int bad = !j || !limits;

	for (int i = 0; i < n; i++)
		mem += infos[i].mem_size;
	for (int i = 0; i < PVNET_CTL_MAX_CONNS; i++)
		open_conns += d->ctl_conns[i].fd >= 0;
	bad |= put(j, "pvnet_version", json_string(PVNET_VERSION));
	bad |= put(j, "pvnetd_pid", json_integer(getpid()));
	bad |= put(j, "run_dir", json_string(d->run_dir));
	bad |= put(j, "control_socket", json_string(d->ctl_path));
	bad |= put(j, "xenstore_socket", json_string(d->xs_path));
	bad |= put(j, "state_dir", json_string(d->state_dir));
	bad |= put(j, "guest_program", json_string(d->guest_bin));
	bad |= put(j, "uptime_s", json_integer((json_int_t)up));
	bad |= put(j, "loop_worst_turn_us", json_integer((json_int_t)(d->gauge.worst_ns / 1000)));
	bad |= put(j, "loop_worst_turn_10s_us",
		   json_integer((json_int_t)(loop_gauge_recent_ns(&d->gauge, pvnet_now_ns()) /
					     1000)));
	bad |= put(j, "loop_worst_turn_ran_us",
		   json_integer((json_int_t)(d->gauge_ran.g.worst_ns / 1000)));
	bad |= put(j, "loop_worst_turn_ran_10s_us",
		   json_integer((json_int_t)(loop_gauge_recent_ns(&d->gauge_ran.g, pvnet_now_ns()) /
					     1000)));
	bad |= put(j, "ctl_connections", json_integer(open_conns));
	bad |= put(j, "ctl_connections_max", json_integer(PVNET_CTL_MAX_CONNS));
	bad |= put(j, "ctl_refused", json_integer((json_int_t)d->ctl_refused));
	bad |= put(j, "ctl_dropped", json_integer((json_int_t)d->ctl_dropped));
	/* the per-domain ledger: each limit and how often a domain was refused by it */
	for (int r = 0; !bad && r < QUOTA_NR; r++) {
		uint64_t v = quota_limit(d->quota, (enum quota_res)r);
		json_t *l = json_object();
		bad |= put(limits, quota_res_name((enum quota_res)r), l);
		bad |= put(l, "limit",
			   v == QUOTA_UNLIMITED ? json_null() : json_integer((json_int_t)v));
		bad |= put(l, "refused",
			   json_integer((json_int_t)quota_refusals(d->quota, (enum quota_res)r)));
	}
	bad |= put(j, "limits", limits);
	limits = NULL;
	bad |= put(j, "xs_events_dropped",
		   json_integer((json_int_t)xs_server_events_dropped(d->xss)));
	bad |= put(j, "ctl_protocol", json_integer(PVNET_CTL_VERSION));
	bad |= put(j, "nr_domains", json_integer(n < 0 ? 0 : n));
	bad |= put(j, "guest_memory_mib", json_integer((json_int_t)(mem >> 20)));
	/* the host's totals for density (docs/operations.md): what pvnetd itself holds */
	bad |= put(j, "max_domains", json_integer(HV_MAX_DOMID));
	bad |= put(j, "netback_workers", json_integer(d->nb ? nb_nr_workers(d->nb) : 0));
	bad |= put(j, "pvnetd_mem_kib", json_integer(self_status_kib("RssAnon")));
	bad |= put(j, "pvnetd_guest_pages_kib",
		   json_integer(self_status_kib("RssShmem") + self_status_kib("RssFile")));
	bad |= put(j, "pvnetd_fds", json_integer(self_fds()));
	bad |= put(j, "nr_cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	bad |= put(j, "grant_table", json_string("v1 (map, unmap, copy, transfer)"));
	bad |= put(j, "event_channels", json_string("2-level, eventfd-backed"));
	bad |= put(j, "xen_abi", json_string("netif / grant_table / xenstore wire protocol"));
	json_decref(limits);
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* "key                     : value" lines, in the collector's order. */
static void render_info(struct outbuf *o, const json_t *j)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)j, key, v)
	{
		if (!strcmp(key, "ctl_connections_max"))
			continue;
		if (!strcmp(key, "ctl_connections")) {
			out_printf(o, "%-24s: %lld (at most %lld)\n", key,
				   (long long)json_integer_value(v), ji(j, "ctl_connections_max"));
		} else if (!strcmp(key, "limits")) {
			const char *res;
			json_t *l;
			json_object_foreach(v, res, l)
			{
				char k[48], val[24];
				json_t *lim = json_object_get(l, "limit");
				snprintf(k, sizeof(k), "limit_%s", res);
				if (json_is_null(lim))
					snprintf(val, sizeof(val), "unlimited");
				else
					snprintf(val, sizeof(val), "%lld",
						 (long long)json_integer_value(lim));
				out_printf(o, "%-24s: %s (refused %lld)\n", k, val,
					   ji(l, "refused"));
			}
		} else if (json_is_string(v)) {
			out_printf(o, "%-24s: %s\n", key, json_string_value(v));
		} else {
			out_printf(o, "%-24s: %lld\n", key, (long long)json_integer_value(v));
		}
	}
}

/* ---- list --------------------------------------------------------------------------- */

/* 1 if `list` names no domain (all are listed) or names this one. */
static bool list_wants(int argc, char **argv, const char *name, unsigned domid)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", domid);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name) || !strcmp(argv[i], id))
			return true;
	return argc < 2;
}

/* Domain-0's row of `list`: dom0's network work is pvnetd's, so are its numbers. */
static int list_dom0(struct pvnetd *d, json_t *arr)
{
	json_t *e = json_object();
	int bad = json_array_append_new(arr, e);

	bad |= put(e, "name", json_string("Domain-0"));
	bad |= put(e, "domid", json_integer(0));
	bad |= put(e, "type", json_string("dom0"));
	bad |= put(e, "mem_mib", json_integer(0));
	bad |= put(e, "vcpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	bad |= put(e, "state", json_string("r-----"));
	/* its CPU time is Time(s) */
	bad |= put(e, "time_s", cpu_seconds_json(getpid()));
	bad |= put(e, "uptime_s", json_real((double)(pvnet_now_ns() - d->started_ns) / 1e9));
	bad |= put(e, "pid", json_integer(getpid()));
	bad |= put(e, "cpu_time_s", cpu_json(getpid()));
	return bad;
}

/* xl's state letters into STATE ("------"): r running, b blocked, p paused,
 * s shutdown, c crashed, d dying: from the guest process (QEMU for HVM) as the
 * loop sees it now. */
static void list_state(const struct dom *dom, char state[8])
{
	char l;
	bool crashed;

	if (dom->dying) {
		state[5] = 'd';
		return;
	}
	l = proc_state_letter(dom->pid, dom->shutdown_ns != 0);
	crashed = dom->pid <= 0 && !dom->shutdown_ns &&
		  (WIFSIGNALED(dom->exit_status) ||
		   (WIFEXITED(dom->exit_status) && WEXITSTATUS(dom->exit_status)));
	if (!l) /* exited, not yet freed: a clean exit is a shutdown */
		l = crashed ? 'c' : 's';
	state[strchr("rbpscd", l) - "rbpscd"] = l;
}

static json_t *collect_list(struct pvnetd *d, int argc, char **argv, int *err)
{
	struct hv_domain_info infos[HV_MAX_DOMID + 1];
	struct dom *byid[HV_MAX_DOMID + 1] = {0}; /* one pass, no lookup per domain */
	int n = hv_domain_list(d->hv, infos, HV_MAX_DOMID + 1);
	json_t *arr;
	int bad = 0;

	for (struct dom *o = d->doms; o; o = o->next)
		if (o->domid <= HV_MAX_DOMID)
			byid[o->domid] = o;

	*err = n < 0 ? n : 0;
	if (n < 0 || !(arr = json_array()))
		return NULL;
	for (int i = 0; i < n && !bad; i++) {
		struct dom *dom = NULL;
		char state[8] = "------";
		double cpu;
		json_t *e;

		if (infos[i].domid == 0) {
			if (list_wants(argc, argv, "Domain-0", 0))
				bad |= list_dom0(d, arr);
			continue;
		}
		dom = infos[i].domid <= HV_MAX_DOMID ? byid[infos[i].domid] : NULL;
		if (!dom || !list_wants(argc, argv, dom->name, dom->domid))
			continue;
		list_state(dom, state);
		e = json_object();
		bad |= json_array_append_new(arr, e);
		bad |= put(e, "name", json_string(dom->name));
		bad |= put(e, "domid", json_integer(dom->domid));
		bad |= put(e, "type", json_string(dom->hvm ? "hvm" : "pv"));
		/* an HVM domain's hv memory is a token page: its RAM is QEMU's, memory= MiB */
		bad |= put(e, "mem_mib",
			   json_integer(dom->hvm ? (json_int_t)dom->cfg.memory_mib
						 : (json_int_t)(infos[i].mem_size >> 20)));
		bad |= put(e, "vcpus", json_integer(dom->cfg.vcpus ? dom->cfg.vcpus : 1));
		bad |= put(e, "state", json_string(state));
		/* xl list's Time(s): CPU seconds (the guest process; QEMU for HVM), not uptime */
		cpu = dom->pid > 0 ? proc_cpu_seconds(dom->pid) : -1; /* one /proc read for both */
		bad |= put(e, "time_s", json_real(cpu < 0 ? 0.0 : cpu));
		bad |= put(e, "uptime_s",
			   json_real((double)(pvnet_now_ns() - dom->created_ns) / 1e9));
		bad |= put(e, "pid", dom->pid > 0 ? json_integer(dom->pid) : json_null());
		bad |= put(e, "cpu_time_s", cpu < 0 ? json_null() : json_real(cpu));
		bad |= put(e, "uuid", dom->cfg.uuid[0] ? json_string(dom->cfg.uuid) : json_null());
	}
	if (bad) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* xl list's columns; -v (verbose) adds the UUID and the guest process's pid. */
static void render_list(struct outbuf *o, const json_t *arr, bool verbose)
{
	size_t i;
	json_t *e;

	out_printf(o, "%-32s %5s %6s %5s %9s %9s", "Name", "ID", "Mem", "VCPUs", "State",
		   "Time(s)");
	if (verbose)
		out_printf(o, " %-36s %8s", "UUID", "PID");
	out_printf(o, "\n");
	json_array_foreach((json_t *)arr, i, e)
	{
		out_printf(o, "%-32s %5lld %6lld %5lld %9s %9.1f", js(e, "name"), ji(e, "domid"),
			   ji(e, "mem_mib"), ji(e, "vcpus"), js(e, "state"),
			   json_real_value(json_object_get(e, "time_s")));
		if (verbose) {
			const char *uuid = json_string_value(json_object_get(e, "uuid"));
			json_t *pid = json_object_get(e, "pid");
			char p[24] = "-";
			if (json_is_integer(pid))
				snprintf(p, sizeof(p), "%lld", (long long)json_integer_value(pid));
			out_printf(o, " %-36s %8s", uuid ? uuid : "-", p);
		}
		out_printf(o, "\n");
	}
}

static int list_names(struct pvnetd *d, struct outbuf *o, int argc, char **argv,
		      enum report_fmt fmt, bool verbose);

static int cmd_list(struct pvnetd *d, struct outbuf *o, int argc, char **argv, enum report_fmt fmt)
{
	char **names = calloc((size_t)argc + 1, sizeof(*names));
	bool verbose = false;
	int n = 0, rc;

	if (!names) {
		err_printf(o, "out of memory\n");
		return 1;
	}
	/* -v/--verbose anywhere; the other words name domains (names[0] is "list") */
	for (int i = 0; i < argc; i++) {
		if (i > 0 && (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")))
			verbose = true;
		else
			names[n++] = argv[i];
	}
	rc = list_names(d, o, n, names, fmt, verbose);
	free(names);
	return rc;
}

static int list_names(struct pvnetd *d, struct outbuf *o, int argc, char **argv,
		      enum report_fmt fmt, bool verbose)
{
	json_t *arr;
	int err;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			err_printf(o, "usage: pvnet list [-v|--verbose] [--json] [NAME|ID ...]\n");
			return 2;
		}
		if (strcmp(argv[i], "Domain-0") && strcmp(argv[i], "0") && !dom_find(d, argv[i])) {
			err_printf(o, "no domain '%s'\n", argv[i]);
			return 1;
		}
	}
	arr = collect_list(d, argc, argv, &err);
	if (err < 0) {
		err_printf(o, "list: %s\n", strerror(-err));
		return 1;
	}
	if (fmt == REPORT_JSON)
		return send_json(o, arr);
	if (!arr) {
		err_printf(o, "out of memory\n");
		return 1;
	}
	render_list(o, arr, verbose);
	json_decref(arr);
	return 0;
}

/* ---- vif-list ----------------------------------------------------------------------- */

static json_t *features_json(unsigned f)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{NB_FEAT_SG, "sg"},
		     {NB_FEAT_GSO4, "gso4"},
		     {NB_FEAT_GSO6, "gso6"},
		     {NB_FEAT_CSUM, "csum"},
		     {NB_FEAT_RX_NOTIFY, "rx-notify"},
		     {NB_FEAT_PERSISTENT, "persistent"}};
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < sizeof(names) / sizeof(names[0]); i++)
		if ((f & names[i].bit) &&
		    json_array_append_new(arr, json_string(names[i].name)) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

struct vif_collect {
	json_t *arr;
	int bad;
};

static int vif_collect_cb(const struct nb_vif_info *vi, void *arg)
{
	struct vif_collect *c = arg;
	json_t *e = json_object();

	c->bad |= json_array_append_new(c->arr, e);
	c->bad |= put(e, "idx", json_integer(vi->handle));
	c->bad |= put(e, "name", json_string(vi->name));
	c->bad |= put(e, "domid", json_integer(vi->domid));
	c->bad |= put(e, "mac", vi->mac[0] ? json_string(vi->mac) : json_null());
	c->bad |= put(e, "state", json_string(xenbus_strstate(vi->be_state)));
	c->bad |= put(e, "be_state", json_integer(vi->be_state));
	c->bad |= put(e, "fe_state", json_integer(vi->fe_state));
	c->bad |= put(e, "connected", json_boolean(vi->connected));
	c->bad |= put(e, "queues", json_integer(vi->nr_queues));
	c->bad |= put(e, "bridge", json_string(vi->bridge));
	c->bad |= put(e, "features", features_json(vi->features));
	c->bad |= put(e, "last_error", json_string(vi->last_error));
	c->bad |= put(e, "accel", json_string(vi->accel));
	return c->bad ? -ENOMEM : 0;
}

/* domain: a name or id, Domain-0 / 0 included; NULL and a message if there is none. */
static json_t *collect_vif_list(struct pvnetd *d, struct outbuf *o, const char *domain)
{
	struct vif_collect c = {.arr = json_array()};
	struct dom *dom = NULL;
	int domid;

	if (!strcmp(domain, "Domain-0") || !strcmp(domain, "0")) {
		domid = 0;
	} else {
		dom = dom_find(d, domain);
		if (!dom) {
			err_printf(o, "no domain '%s'\n", domain);
			json_decref(c.arr);
			return NULL;
		}
		domid = dom->domid;
	}
	if (!c.arr)
		goto nomem;
	if (dom && dom->hvm) {
		/* HVM vifs are vhost-user ports, not netback vifs: list them from the
		 * config and the switch ("up" once QEMU's virtio-net driver is ready) */
		for (unsigned i = 0; i < dom->cfg.n_vifs && !c.bad; i++) {
			const struct pvnet_vif_cfg *v = &dom->cfg.vifs[i];
			struct vsw_bridge *br;
			struct vsw_port *port;
			char name[32], mac[18], line[512] = "";
			json_t *e = json_object(), *feat = json_array();

			snprintf(name, sizeof(name), "vif%u.%u", dom->domid, i);
			if (v->vifname[0])
				snprintf(name, sizeof(name), "%s", v->vifname);
			pvnet_mac_format(v->mac, mac);
			if (vsw_switch_port_find(d->sw, name, &br, &port) == 0)
				vsw_port_format(port, line, sizeof(line));
			c.bad |= json_array_append_new(c.arr, e);
			c.bad |= put(e, "idx", json_integer(i));
			c.bad |= put(e, "name", json_string(name));
			c.bad |= put(e, "domid", json_integer(dom->domid));
			c.bad |= put(e, "mac", json_string(mac));
			c.bad |= put(e, "state",
				     !line[0] ? json_null()
					      : json_string(strstr(line, " up ") ? "Connected"
										 : "Waiting"));
			c.bad |= put(e, "connected", json_boolean(line[0] && strstr(line, " up ")));
			c.bad |= put(e, "queues", json_integer(1));
			c.bad |= put(e, "bridge", json_string(v->bridge));
			c.bad |= json_array_append_new(feat, json_string("vhost-user"));
			c.bad |= json_array_append_new(feat, json_string("virtio-net"));
			c.bad |= put(e, "features", feat);
			c.bad |= put(e, "last_error", json_string(""));
			c.bad |= put(e, "accel", json_string(""));
		}
	} else {
		nb_vif_foreach(d->nb, domid, vif_collect_cb, &c);
	}
	if (!c.bad)
		return c.arr;
nomem:
	json_decref(c.arr);
	err_printf(o, "out of memory\n");
	return NULL;
}

static void render_vif_list(struct outbuf *o, const json_t *arr)
{
	size_t i, k;
	json_t *e, *f;

	out_printf(o, "%-4s %-8s %-17s %-12s %-6s %-8s %s\n", "Idx", "Name", "Mac", "State",
		   "Queues", "Bridge", "Features");
	json_array_foreach((json_t *)arr, i, e)
	{
		char feat[128] = "";
		const char *err = js(e, "last_error"), *acc = js(e, "accel");
		json_array_foreach(json_object_get(e, "features"), k, f)
		{
			size_t n = strlen(feat);
			snprintf(feat + n, sizeof(feat) - n, "%s%s", n ? "," : "",
				 json_string_value(f));
		}
		out_printf(o, "%-4lld %-8s %-17s %-12s %-6lld %-8s %s%s%s%s%s\n", ji(e, "idx"),
			   js(e, "name"),
			   json_is_string(json_object_get(e, "mac")) ? js(e, "mac") : "-",
			   json_is_string(json_object_get(e, "state")) ? js(e, "state") : "-",
			   ji(e, "queues"), js(e, "bridge"), feat[0] ? feat : "-",
			   acc && acc[0] ? "  accel: " : "", acc ? acc : "",
			   err[0] ? "  error: " : "", err);
	}
}

static int cmd_vif_list(struct pvnetd *d, struct outbuf *o, int argc, char **argv,
			enum report_fmt fmt)
{
	json_t *arr;

	if (argc != 2) {
		err_printf(o, "usage: pvnet %s DOMAIN [--json]\n", argv[0]);
		return 2;
	}
	arr = collect_vif_list(d, o, argv[1]);
	if (!arr)
		return 1;
	if (fmt == REPORT_JSON)
		return send_json(o, arr);
	render_vif_list(o, arr);
	json_decref(arr);
	return 0;
}

/* ---- stats -------------------------------------------------------------------------- */

struct stats_collect {
	struct pvnetd *d;
	json_t *arr;
	int bad;
	struct dom **byid; /* [HV_MAX_DOMID + 1]: a vif's domain without a scan; may be NULL */
};

static int stats_vif_cb(const struct nb_vif_info *vi, void *arg)
{
	struct stats_collect *c = arg;
	json_t *e = json_object(), *drops = json_object();
	struct dom *dom;

	if (c->byid)
		dom = vi->domid <= HV_MAX_DOMID ? c->byid[vi->domid] : NULL;
	else
		for (dom = c->d->doms; dom && dom->domid != vi->domid; dom = dom->next)
			;
	c->bad |= json_array_append_new(c->arr, e);
	c->bad |= put(e, "name", json_string(vi->name));
	c->bad |= put(e, "domid", json_integer(vi->domid));
	c->bad |= put(e, "domain", json_string(dom ? dom->name : vi->domid ? "" : "Domain-0"));
	c->bad |= put(e, "handle", json_integer(vi->handle));
	c->bad |= put(e, "state", json_string(xenbus_strstate(vi->be_state)));
	c->bad |= put(e, "connected", json_boolean(vi->connected));
	c->bad |= put(e, "disabled", json_boolean(vi->disabled));
	c->bad |= put(e, "queues", json_integer(vi->nr_queues));
	c->bad |= put(e, "bridge", json_string(vi->bridge));
	c->bad |= put(e, "last_error", json_string(vi->last_error));
	c->bad |= put(e, "tx_packets", json_integer((json_int_t)vi->tx_packets));
	c->bad |= put(e, "tx_bytes", json_integer((json_int_t)vi->tx_bytes));
	c->bad |= put(e, "rx_packets", json_integer((json_int_t)vi->rx_packets));
	c->bad |= put(e, "rx_bytes", json_integer((json_int_t)vi->rx_bytes));
	c->bad |= put(e, "rx_queued_bytes", json_integer((json_int_t)vi->rx_queued_bytes));
	c->bad |= put(e, "notifies", json_integer((json_int_t)vi->notifies));
	for (unsigned r = 0; r < NB_DROP__MAX; r++)
		c->bad |=
			put(drops, nb_drop_reason_name(r), json_integer((json_int_t)vi->drops[r]));
	c->bad |= put(e, "drops", drops);
	return c->bad ? -ENOMEM : 0;
}

static int stats_port_cb(struct vsw_port *port, void *arg)
{
	struct stats_collect *c = arg;
	json_t *e = json_object();

	c->bad |= json_array_append_new(c->arr, e);
	c->bad |= put(e, "name", json_string(vsw_port_name(port)));
	c->bad |= put(e, "port_no", json_integer(vsw_port_no(port)));
	c->bad |= !e || swr_port_counters(port, e) < 0;
	return c->bad ? -ENOMEM : 0;
}

static int stats_bridge_cb(struct vsw_bridge *br, void *arg)
{
	struct stats_collect *c = arg;
	struct vsw_bridge_stats bs;
	struct stats_collect pc = {.d = c->d, .arr = json_array()};
	json_t *e = json_object();

	vsw_bridge_get_stats(br, &bs);
	c->bad |= json_array_append_new(c->arr, e);
	c->bad |= put(e, "name", json_string(vsw_bridge_name(br)));
	c->bad |= put(e, "nr_ports", json_integer(bs.ports));
	c->bad |= put(e, "fdb_entries", json_integer((json_int_t)bs.fdb_entries));
	c->bad |= put(e, "flooded", json_integer((json_int_t)bs.flooded));
	c->bad |= put(e, "sw_csum", json_integer((json_int_t)bs.sw_csum));
	c->bad |= put(e, "sw_tso_segs", json_integer((json_int_t)bs.sw_tso_segs));
	c->bad |= put(e, "fdb_evicted", json_integer((json_int_t)bs.fdb_evicted));
	c->bad |= put(e, "fdb_ageing_s", json_integer(vsw_bridge_get_ageing(br)));
	c->bad |= put(e, "ports", pc.arr);
	if (!c->bad)
		vsw_port_foreach(br, stats_port_cb, &pc);
	c->bad |= pc.bad;
	return c->bad ? -ENOMEM : 0;
}

static json_t *collect_stats(struct pvnetd *d)
{
	struct stats_collect c = {.d = d};
	json_t *j = json_object(), *vifs = json_array(), *bridges = json_array();

	c.bad = !j || !vifs || !bridges;
	c.bad |= put(j, "workers", json_integer(nb_nr_workers(d->nb)));
	c.bad |= put(j, "vifs", vifs);
	c.bad |= put(j, "bridges", bridges);
	c.arr = vifs;
	if ((c.byid = calloc(HV_MAX_DOMID + 1, sizeof(*c.byid))))
		for (struct dom *o = d->doms; o; o = o->next)
			if (o->domid <= HV_MAX_DOMID)
				c.byid[o->domid] = o;
	if (!c.bad)
		nb_vif_foreach(d->nb, -1, stats_vif_cb, &c);
	free(c.byid);
	c.byid = NULL;
	c.arr = bridges;
	if (!c.bad)
		vsw_switch_foreach(d->sw, stats_bridge_cb, &c);
	if (c.bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* "  reason=N" for each non-zero drop counter of drops, appended to line. */
static size_t drops_text(const json_t *drops, char *line, size_t n, size_t size)
{
	const char *reason;
	json_t *v;

	json_object_foreach((json_t *)drops, reason, v) if (json_integer_value(v) && n < size) n +=
		(size_t)snprintf(line + n, size - n, "  %s=%lld", reason,
				 (long long)json_integer_value(v));
	return n;
}

static void render_stats(struct outbuf *o, const json_t *j)
{
	size_t i, k;
	json_t *v, *br, *p;

	out_printf(o, "netback: %lld worker(s)\n", ji(j, "workers"));
	json_array_foreach(json_object_get(j, "vifs"), i, v)
	{
		char line[4096];
		size_t n = (size_t)snprintf(
			line, sizeof(line),
			"%-10s %-12s tx %lld pkts %lld bytes  rx %lld pkts %lld bytes  queued %lld bytes",
			js(v, "name"), js(v, "state"), ji(v, "tx_packets"), ji(v, "tx_bytes"),
			ji(v, "rx_packets"), ji(v, "rx_bytes"), ji(v, "rx_queued_bytes"));
		const char *err = js(v, "last_error");
		drops_text(json_object_get(v, "drops"), line, n, sizeof(line));
		out_printf(o, "%s%s%s\n", line, err[0] ? "  error: " : "", err);
	}
	json_array_foreach(json_object_get(j, "bridges"), i, br)
	{
		out_printf(o, "bridge %s: %lld ports, %lld fdb entries, %lld flooded\n",
			   js(br, "name"), ji(br, "nr_ports"), ji(br, "fdb_entries"),
			   ji(br, "flooded"));
		json_array_foreach(json_object_get(br, "ports"), k, p)
		{
			char line[2048];
			size_t n = (size_t)snprintf(
				line, sizeof(line),
				"  port %-10s rx %lld pkts %lld bytes  tx %lld pkts %lld bytes",
				js(p, "name"), ji(p, "rx_packets"), ji(p, "rx_bytes"),
				ji(p, "tx_packets"), ji(p, "tx_bytes"));
			n = drops_text(json_object_get(p, "drops"), line, n, sizeof(line));
			if ((ji(p, "mac_evicted") || ji(p, "mac_limit_hits")) && n < sizeof(line))
				snprintf(line + n, sizeof(line) - n,
					 "  macs=%lld/%lld mac_evicted=%lld", ji(p, "macs"),
					 ji(p, "mac_limit"), ji(p, "mac_evicted"));
			out_printf(o, "%s\n", line);
		}
	}
}

static int cmd_stats(struct pvnetd *d, struct outbuf *o, int argc, enum report_fmt fmt)
{
	json_t *j;
	char *text;

	if (argc != 1) {
		err_printf(o, "usage: pvnet stats [--json | --format=text|json|prometheus]\n");
		return 2;
	}
	j = collect_stats(d);
	if (fmt == REPORT_JSON)
		return send_json(o, j);
	if (!j) {
		err_printf(o, "out of memory\n");
		return 1;
	}
	if (fmt == REPORT_TEXT) {
		render_stats(o, j);
		json_decref(j);
		return 0;
	}
	text = pvnet_prom_render(j);
	json_decref(j);
	if (!text) {
		err_printf(o, "out of memory\n");
		return 1;
	}
	send_text(o, text);
	free(text);
	return 0;
}

/* ---- switch show / fdb / port-show / list-br / list-ports ------------------------------ */

struct show_collect {
	json_t *arr;
	int bad;
};

static int show_port_cb(struct vsw_port *port, void *arg)
{
	struct show_collect *c = arg;

	c->bad |= json_array_append_new(c->arr, swr_port_settings(port));
	return c->bad ? -ENOMEM : 0;
}

static int show_bridge_cb(struct vsw_bridge *br, void *arg)
{
	struct show_collect *c = arg;
	struct show_collect pc = {.arr = json_array()};
	json_t *e = json_object();

	c->bad |= json_array_append_new(c->arr, e);
	c->bad |= put(e, "name", json_string(vsw_bridge_name(br)));
	c->bad |= put(e, "ageing_s", json_integer(vsw_bridge_get_ageing(br)));
	c->bad |= put(e, "mac_limit", json_integer(vsw_bridge_get_mac_limit(br)));
	c->bad |= put(e, "ports", pc.arr);
	if (!c->bad)
		vsw_port_foreach(br, show_port_cb, &pc);
	c->bad |= pc.bad;
	return c->bad ? -ENOMEM : 0;
}

/* Every bridge with its ports and each port's settings. */
static json_t *collect_show(struct pvnetd *d)
{
	struct show_collect c = {.arr = json_array()};
	json_t *j = json_object();

	c.bad = !j || !c.arr || put(j, "bridges", c.arr);
	if (!c.bad)
		vsw_switch_foreach(d->sw, show_bridge_cb, &c);
	if (c.bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void render_show(struct outbuf *o, const json_t *j)
{
	size_t i, k;
	json_t *br, *p;

	out_printf(o, "pvnet-switch\n");
	json_array_foreach(json_object_get(j, "bridges"), i, br)
	{
		out_printf(o, "    Bridge \"%s\"\n", js(br, "name"));
		json_array_foreach(json_object_get(br, "ports"), k, p)
			out_printf(o, "        Port \"%s\"\n            %s\n", js(p, "name"),
				   js(p, "summary"));
	}
}

/* Entries `switch fdb` shows at most (JSON and text alike): a table of a million
 * learnt MACs would cost pvnetd ~200 MB of JSON; the rest are counted in
 * "entries_omitted". */
#define FDB_SHOW_MAX 65536

struct fdb_collect {
	json_t *ports, *entries;
	uint64_t omitted;
	int bad;
};

static int fdb_port_cb(struct vsw_port *port, void *arg)
{
	struct fdb_collect *c = arg;
	json_t *e = json_object();

	c->bad |= json_array_append_new(c->ports, e);
	c->bad |= put(e, "port_no", json_integer(vsw_port_no(port)));
	c->bad |= put(e, "name", json_string(vsw_port_name(port)));
	return c->bad ? -ENOMEM : 0;
}

/* Runs under the FDB lock (the data path waits): builds JSON only, never calls
 * back into the bridge; port names are filled in after the dump. */
static int fdb_entry_cb(const struct vsw_fdb_entry *fe, void *arg)
{
	struct fdb_collect *c = arg;
	json_t *e;
	char mac[18];

	if (json_array_size(c->entries) >= FDB_SHOW_MAX) {
		c->omitted++;
		return 0;
	}
	e = json_object();
	pvnet_mac_format(fe->mac, mac);
	c->bad |= json_array_append_new(c->entries, e);
	c->bad |= put(e, "port_no", json_integer(fe->port_no));
	c->bad |= put(e, "vlan", json_integer(fe->vlan));
	c->bad |= put(e, "mac", json_string(mac));
	c->bad |= put(e, "static", json_boolean(fe->is_static));
	c->bad |= put(e, "age_s", json_integer((json_int_t)(fe->age_ns / 1000000000ull)));
	return c->bad ? -ENOMEM : 0;
}

static json_t *collect_fdb(struct vsw_bridge *br)
{
	struct fdb_collect c = {.ports = json_array(), .entries = json_array()};
	json_t *j = json_object();

	c.bad = !j || put(j, "bridge", json_string(vsw_bridge_name(br))) ||
		put(j, "ports", c.ports) || put(j, "entries", c.entries);
	if (!c.bad)
		vsw_port_foreach(br, fdb_port_cb, &c);
	if (!c.bad)
		vsw_fdb_dump(br, fdb_entry_cb, &c);
	if (!c.bad) {
		/* port names, outside the lock: ports by number first */
		json_t *byno = json_object(), *e, *p;
		char key[16];
		size_t i;

		c.bad |= !byno;
		json_array_foreach(c.ports, i, p)
		{
			snprintf(key, sizeof(key), "%lld", ji(p, "port_no"));
			c.bad |= json_object_set(byno, key, json_object_get(p, "name"));
		}
		json_array_foreach(c.entries, i, e)
		{
			snprintf(key, sizeof(key), "%lld", ji(e, "port_no"));
			p = json_object_get(byno, key);
			c.bad |= json_object_set_new(e, "port", p ? json_incref(p) : json_null());
		}
		json_decref(byno);
		c.bad |= put(j, "entries_omitted", json_integer((json_int_t)c.omitted));
	}
	if (c.bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void render_fdb(struct outbuf *o, const json_t *j)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(j, "ports"), i, e)
		out_printf(o, "# port %lld = %s\n", ji(e, "port_no"), js(e, "name"));
	out_printf(o, " port  VLAN  MAC                Age\n");
	json_array_foreach(json_object_get(j, "entries"), i, e)
	{
		if (json_is_true(json_object_get(e, "static")))
			out_printf(o, "%5lld %5lld  %s  static\n", ji(e, "port_no"), ji(e, "vlan"),
				   js(e, "mac"));
		else
			out_printf(o, "%5lld %5lld  %s  %4lld\n", ji(e, "port_no"), ji(e, "vlan"),
				   js(e, "mac"), ji(e, "age_s"));
	}
	if (ji(j, "entries_omitted"))
		out_printf(o, "# %lld more entries not shown (at most %d)\n",
			   ji(j, "entries_omitted"), FDB_SHOW_MAX);
}

/*
 * switch show|fdb (text and JSON, answered here) and port-show (JSON here; its text
 * is switch_cli.c's, as are list-br and list-ports with their --json). -1: not ours.
 */
static int cmd_switch_report(struct pvnetd *d, struct outbuf *o, int argc, char **argv,
			     enum report_fmt fmt)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	struct vsw_bridge *br;
	struct vsw_port *port;
	json_t *j;

	if (!strcmp(sub, "show")) {
		if (argc != 2) {
			err_printf(o, "usage: pvnet switch show [--json]\n");
			return 2;
		}
		j = collect_show(d);
		if (fmt == REPORT_JSON)
			return send_json(o, j);
		if (!j)
			return send_json(o, NULL);
		render_show(o, j);
		json_decref(j);
		return 0;
	}
	if (!strcmp(sub, "fdb")) {
		if (argc != 3) {
			err_printf(o, "usage: pvnet switch fdb BRIDGE [--json]\n");
			return 2;
		}
		if (vsw_bridge_find(d->sw, argv[2], &br) < 0) {
			err_printf(o, "no bridge '%s'\n", argv[2]);
			return 1;
		}
		j = collect_fdb(br);
		if (fmt == REPORT_JSON)
			return send_json(o, j);
		if (!j)
			return send_json(o, NULL);
		render_fdb(o, j);
		json_decref(j);
		return 0;
	}
	if (fmt != REPORT_JSON)
		return -1;
	if (!strcmp(sub, "port-show") && argc == 3) {
		if (vsw_switch_port_find(d->sw, argv[2], &br, &port) < 0) {
			err_printf(o, "no port '%s'\n", argv[2]);
			return 1;
		}
		return send_json(o, swr_port_show(br, port));
	}
	return -1;
}

/* ---- accel list / nic list ------------------------------------------------------------- */

#define ACCEL_LIST_MAX 64

static json_t *collect_accel_list(struct pvnetd *d)
{
	struct accel_plugin_info *info = calloc(ACCEL_LIST_MAX, sizeof(*info));
	json_t *arr = json_array();
	int n, bad = !info || !arr;

	n = bad ? 0 : accel_list(d->accel_reg, info, ACCEL_LIST_MAX);
	for (int i = 0; i < n && i < ACCEL_LIST_MAX && !bad; i++) {
		json_t *e = json_object(), *lv = json_array();
		char abi[16];

		snprintf(abi, sizeof(abi), "%u.%u", info[i].abi_major, info[i].abi_minor);
		bad |= json_array_append_new(arr, e);
		bad |= put(e, "name", json_string(info[i].name));
		bad |= put(e, "version", json_string(info[i].version));
		bad |= put(e, "abi", json_string(abi));
		for (unsigned l = 0; l <= ACCEL_LEVEL_MAX; l++)
			if (info[i].levels & ACCEL_LEVEL_BIT(l))
				bad |= json_array_append_new(lv, json_integer(l));
		bad |= put(e, "levels", lv);
		bad |= put(e, "flags", json_integer((json_int_t)info[i].flags));
		bad |= put(e, "source", json_string(info[i].source));
	}
	free(info);
	if (bad) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static void render_accel_list(struct outbuf *o, const json_t *arr)
{
	size_t i, k;
	json_t *e, *l;

	out_printf(o, "%-16s %-10s %-5s %-8s %s\n", "NAME", "VERSION", "ABI", "LEVELS", "SOURCE");
	json_array_foreach((json_t *)arr, i, e)
	{
		char lv[32] = "";
		json_array_foreach(json_object_get(e, "levels"), k, l)
		{
			size_t n = strlen(lv);
			snprintf(lv + n, sizeof(lv) - n, "%s%lld", n ? "," : "",
				 (long long)json_integer_value(l));
		}
		out_printf(o, "%-16s %-10s %-5s %-8s %s\n", js(e, "name"), js(e, "version"),
			   js(e, "abi"), lv, js(e, "source"));
	}
}

/* One object per NIC: name, plugin, wire ("-": none), bridge, vfs ("IN_USE/MAX", as
 * the table), vfs_in_use, max_vfs, wire_rx, wire_tx (packets). */
static json_t *collect_nic_list(struct pvnetd *d)
{
	struct nb_nic_info nics[NB_NIC_MAX];
	json_t *arr = json_array();
	int n = d->nb ? nb_nic_list(d->nb, nics, NB_NIC_MAX) : 0, bad = !arr;

	for (int i = 0; i < n && i < NB_NIC_MAX && !bad; i++) {
		const struct nb_nic_info *e = &nics[i];
		json_t *o = json_object();
		char vfs[48];

		snprintf(vfs, sizeof(vfs), "%llu/%u", (unsigned long long)e->vfs_in_use,
			 e->max_vfs);
		bad |= json_array_append_new(arr, o);
		bad |= put(o, "name", json_string(e->name));
		bad |= put(o, "plugin", json_string(e->plugin));
		bad |= put(o, "wire", json_string(e->wire[0] ? e->wire : "-"));
		bad |= put(o, "bridge", json_string(e->bridge));
		bad |= put(o, "vfs", json_string(vfs));
		bad |= put(o, "vfs_in_use", json_integer((json_int_t)e->vfs_in_use));
		bad |= put(o, "max_vfs", json_integer((json_int_t)e->max_vfs));
		bad |= put(o, "wire_rx", json_integer((json_int_t)e->wire_rx_packets));
		bad |= put(o, "wire_tx", json_integer((json_int_t)e->wire_tx_packets));
	}
	if (bad) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static void render_nic_list(struct outbuf *o, const json_t *arr)
{
	size_t i;
	json_t *e;

	out_printf(o, "%-15s %-10s %-15s %-15s %6s %12s %12s\n", "NAME", "PLUGIN", "WIRE", "BRIDGE",
		   "VFS", "WIRE_RX", "WIRE_TX");
	json_array_foreach((json_t *)arr, i, e)
		out_printf(o, "%-15s %-10s %-15s %-15s %2lld/%-3lld %12lld %12lld\n", js(e, "name"),
			   js(e, "plugin"), js(e, "wire"), js(e, "bridge"), ji(e, "vfs_in_use"),
			   ji(e, "max_vfs"), ji(e, "wire_rx"), ji(e, "wire_tx"));
}

int report_ethtool(struct pvnetd *d, struct outbuf *o, int argc, char **argv, enum report_fmt fmt)
{
	struct nb_ethtool_item *it;
	bool k;
	int n;

	if (argc != 3 || (strcmp(argv[1], "-k") && strcmp(argv[1], "-S") &&
			  strcmp(argv[1], "--show-features") && strcmp(argv[1], "--statistics"))) {
		err_printf(o,
			   "usage: ethtool -k|--show-features VIF | ethtool -S|--statistics VIF\n");
		return 2;
	}
	k = !strcmp(argv[1], "-k") || !strcmp(argv[1], "--show-features");
	it = calloc(NB_ETHTOOL_MAX, sizeof(*it));
	if (!it)
		return 1;
	n = d->nb ? nb_accel_ethtool(d->nb, argv[2], k ? 'k' : 'S', it, NB_ETHTOOL_MAX) : -ENOENT;
	if (n < 0) {
		err_printf(o, "ethtool %s: %s\n", argv[2],
			   n == -ENOENT   ? "no such vif or NIC"
			   : n == -ENODEV ? "the vif has no accelerator (Operation not supported)"
					  : strerror(-n));
		free(it);
		return 1;
	}
	if (fmt == REPORT_JSON) {
		json_t *j = json_object(), *v = k ? json_array() : json_object();
		int bad = !j || !v;

		bad |= put(j, "name", json_string(argv[2]));
		for (int i = 0; i < n && !bad; i++) {
			json_t *e;
			if (!k) {
				bad |= json_object_set_new(v, it[i].name,
							   json_integer((json_int_t)it[i].value)) <
				       0;
				continue;
			}
			e = json_object();
			bad |= json_array_append_new(v, e);
			/* a sub-item's tab is layout, not part of its name */
			bad |= put(e, "name", json_string(it[i].name + (it[i].name[0] == '\t')));
			bad |= put(e, "on", json_boolean(it[i].value));
			bad |= put(e, "fixed", json_boolean(it[i].fixed));
		}
		bad |= put(j, k ? "features" : "statistics", v);
		free(it);
		if (bad) {
			json_decref(j);
			j = NULL;
		}
		return send_json(o, j);
	}
	if (k)
		out_printf(o, "Features for %s:\n", argv[2]);
	else
		out_printf(o, "NIC statistics:\n");
	for (int i = 0; i < n; i++) {
		if (k)
			out_printf(o, "%s: %s%s\n", it[i].name, it[i].value ? "on" : "off",
				   it[i].fixed ? " [fixed]" : "");
		else
			out_printf(o, "     %s: %llu\n", it[i].name,
				   (unsigned long long)it[i].value);
	}
	free(it);
	return 0;
}

/* ---- entry points ------------------------------------------------------------------------ */

int report_take_format(struct outbuf *o, int *argc, char **argv, enum report_fmt *fmt)
{
	int seen = 0;

	*fmt = REPORT_TEXT;
	/* switch list-br|list-ports answer --json themselves (switch_cli.c) */
	if (*argc >= 2 && !strcmp(argv[0], "switch") &&
	    (!strcmp(argv[1], "list-br") || !strcmp(argv[1], "list-ports")))
		return 0;
	for (int i = 1; i < *argc;) {
		const char *f = NULL;
		int used = 1;

		if (!strcmp(argv[i], "--json"))
			f = "json";
		else if (!strncmp(argv[i], "--format=", 9))
			f = argv[i] + 9;
		else if (!strcmp(argv[i], "--format") && i + 1 < *argc) {
			f = argv[i + 1];
			used = 2;
		}
		if (!f) {
			i++;
			continue;
		}
		if (seen++) {
			err_printf(o, "%s: one output format at most\n", argv[0]);
			return -EINVAL;
		}
		if (!strcmp(f, "json"))
			*fmt = REPORT_JSON;
		else if (!strcmp(f, "prometheus"))
			*fmt = REPORT_PROMETHEUS;
		else if (strcmp(f, "text")) {
			err_printf(o, "%s: unknown format '%.32s' (text, json, prometheus)\n",
				   argv[0], f);
			return -EINVAL;
		}
		for (int k = i; k + used < *argc; k++)
			argv[k] = argv[k + used];
		*argc -= used;
	}
	return 0;
}

int report_dispatch(struct pvnetd *d, struct outbuf *o, int argc, char **argv, enum report_fmt fmt)
{
	const char *cmd = argv[0];
	int rc = -1;
	json_t *j;

	if (fmt == REPORT_PROMETHEUS && strcmp(cmd, "stats")) {
		err_printf(o, "%s: --format=prometheus is for pvnet stats only\n", cmd);
		return 2;
	}
	if (!strcmp(cmd, "info")) {
		if (argc != 1) {
			err_printf(o, "usage: pvnet info [--json]\n");
			return 2;
		}
		j = collect_info(d);
		if (fmt == REPORT_JSON)
			return send_json(o, j);
		if (!j)
			return send_json(o, NULL);
		render_info(o, j);
		json_decref(j);
		return 0;
	}
	if (!strcmp(cmd, "list"))
		return cmd_list(d, o, argc, argv, fmt);
	if (!strcmp(cmd, "vif-list"))
		return cmd_vif_list(d, o, argc, argv, fmt);
	/* network-list (xl's table and its JSON) is the hot-plug code's */
	if (!strcmp(cmd, "network-list") && fmt == REPORT_JSON)
		return cmd_network_list_json(d, o, argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(d, o, argc, fmt);
	if (!strcmp(cmd, "switch"))
		rc = cmd_switch_report(d, o, argc, argv, fmt);
	else if (!strcmp(cmd, "accel") && argc == 2 && !strcmp(argv[1], "list")) {
		j = collect_accel_list(d);
		if (fmt == REPORT_JSON)
			return send_json(o, j);
		if (!j)
			return send_json(o, NULL);
		render_accel_list(o, j);
		json_decref(j);
		return 0;
	} else if (!strcmp(cmd, "ethtool")) {
		return report_ethtool(d, o, argc, argv, fmt);
	} else if (!strcmp(cmd, "nic") && argc == 2 && !strcmp(argv[1], "list")) {
		/* netback returns the numbers; the table and the JSON are built here */
		j = collect_nic_list(d);
		if (fmt == REPORT_JSON)
			return send_json(o, j);
		if (!j)
			return send_json(o, NULL);
		render_nic_list(o, j);
		json_decref(j);
		return 0;
	}
	if (rc < 0 && fmt != REPORT_TEXT) {
		err_printf(o, "%s%s%s: no --json for this command\n", cmd, argc > 1 ? " " : "",
			   argc > 1 ? argv[1] : "");
		return 2;
	}
	return rc;
}
