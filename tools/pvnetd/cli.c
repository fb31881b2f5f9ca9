/* SPDX-License-Identifier: MIT */
/* The toolstack commands pvnetd answers on its control socket (include/pvnet/ctl.h). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/accel.h>
#include <pvnet/ctl.h>
#include <pvnet/version.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/log.h>

#include "pvnetd.h"
#include "switch_cli.h"

#define MOD "ctl"
#define MAX_ARGS 64

/* Marks c dead: nothing more is sent, the main loop closes it. */
static void ctl_kill(struct ctl_conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	snprintf(c->why, sizeof(c->why), "%s", why);
}

int ctl_flush(struct ctl_conn *c)
{
	while (!c->dead && c->head) {
		struct ctl_msg *m = c->head;
		ssize_t n = send(c->fd, m->data, m->size, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0) {
			ctl_kill(c, errno == EPIPE || errno == ECONNRESET ? "" : "send failed");
			break;
		}
		c->head = m->next;
		if (!c->head)
			c->tail = NULL;
		c->queued -= m->size;
		free(m);
		c->progress_ns = pvnetd_now_ns();
		if (!c->head)
			c->since_ns = c->progress_ns; /* reply read: the idle timer restarts */
	}
	return c->dead ? -1 : 0;
}

/*
 * Sends one reply message without blocking; what the socket does not take is
 * queued, up to PVNET_CTL_OUT_MAX bytes per connection: past that the client has
 * stopped reading and is dropped (its queue freed, the connection closed by the
 * main loop).
 */
static void ctl_send(struct ctl_conn *c, const char *buf, size_t size)
{
	struct ctl_msg *m;

	if (c->dead)
		return;
	if (!c->head) {
		ssize_t n = send(c->fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0)
			return;
		if (errno != EAGAIN && errno != EINTR) {
			ctl_kill(c, errno == EPIPE || errno == ECONNRESET ? "" : "send failed");
			return;
		}
		c->progress_ns = pvnetd_now_ns(); /* the stall timer starts now */
	}
	if (c->queued + size > PVNET_CTL_OUT_MAX) {
		char why[96];
		snprintf(why, sizeof(why), "stopped reading (%zu bytes of replies queued, at most %d)",
			 c->queued, PVNET_CTL_OUT_MAX);
		ctl_kill(c, why);
		return;
	}
	m = malloc(sizeof(*m) + size);
	if (!m) {
		ctl_kill(c, "out of memory");
		return;
	}
	m->next = NULL;
	m->size = size;
	memcpy(m->data, buf, size);
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	c->queued += size;
}

void ctl_conn_close(struct ctl_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->dead && c->why[0])
		PVLOG_RL(WARN, MOD, "client pid %ld uid %u: %s: disconnected", (long)c->pid,
			 (unsigned)c->uid, c->why);
	while (c->head) {
		struct ctl_msg *m = c->head;
		c->head = m->next;
		free(m);
	}
	close(c->fd);
	*c = (struct ctl_conn){.fd = -1};
}

static void send_kind(struct outbuf *o, char kind, const char *fmt, va_list ap)
{
	char buf[8192];
	int n;

	buf[0] = kind;
	n = vsnprintf(buf + 1, sizeof(buf) - 1, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	if (o && o->conn)
		ctl_send(o->conn, buf, (size_t)n + 1);
	else if (kind == 'E')
		PVLOG(WARN, MOD, "%.*s", n, buf + 1);
}

void out_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_kind(o, 'O', fmt, ap);
	va_end(ap);
}

void err_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_kind(o, 'E', fmt, ap);
	va_end(ap);
}

static int cmd_info(struct pvnetd *d, struct outbuf *o)
{
	struct hv_domain_info infos[HV_MAX_DOMID + 1];
	int n = hv_domain_list(d->hv, infos, HV_MAX_DOMID + 1);
	uint64_t up = (pvnetd_now_ns() - d->started_ns) / 1000000000ull;
	uint64_t mem = 0;

	for (int i = 0; i < n; i++)
		mem += infos[i].mem_size;
	out_printf(o, "%-24s: %s\n", "pvnet_version", PVNET_VERSION);
	out_printf(o, "%-24s: %ld\n", "pvnetd_pid", (long)getpid());
	out_printf(o, "%-24s: %s\n", "run_dir", d->run_dir);
	out_printf(o, "%-24s: %s\n", "control_socket", d->ctl_path);
	out_printf(o, "%-24s: %s\n", "xenstore_socket", d->xs_path);
	out_printf(o, "%-24s: %s\n", "state_dir", d->state_dir);
	out_printf(o, "%-24s: %s\n", "guest_program", d->guest_bin);
	out_printf(o, "%-24s: %llu\n", "uptime_s", (unsigned long long)up);
	out_printf(o, "%-24s: %llu\n", "loop_worst_turn_us",
		   (unsigned long long)(d->gauge.worst_ns / 1000));
	out_printf(o, "%-24s: %llu\n", "loop_worst_turn_10s_us",
		   (unsigned long long)(loop_gauge_recent_ns(&d->gauge, pvnetd_now_ns()) / 1000));
	{
		unsigned open_conns = 0;
		for (int i = 0; i < PVNET_CTL_MAX_CONNS; i++)
			open_conns += d->ctl_conns[i].fd >= 0;
		out_printf(o, "%-24s: %u (at most %d)\n", "ctl_connections", open_conns,
			   PVNET_CTL_MAX_CONNS);
		out_printf(o, "%-24s: %llu\n", "ctl_refused", (unsigned long long)d->ctl_refused);
		out_printf(o, "%-24s: %llu\n", "ctl_dropped", (unsigned long long)d->ctl_dropped);
	}
	/* the per-domain ledger: each limit and how often a domain was refused by it */
	for (int r = 0; r < QUOTA_NR; r++) {
		uint64_t v = quota_limit(d->quota, (enum quota_res)r);
		char key[48], val[24];
		snprintf(key, sizeof(key), "limit_%s", quota_res_name((enum quota_res)r));
		if (v == QUOTA_UNLIMITED)
			snprintf(val, sizeof(val), "unlimited");
		else
			snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
		out_printf(o, "%-24s: %s (refused %llu)\n", key, val,
			   (unsigned long long)quota_refusals(d->quota, (enum quota_res)r));
	}
	out_printf(o, "%-24s: %llu\n", "xs_events_dropped",
		   (unsigned long long)xs_server_events_dropped(d->xss));
	out_printf(o, "%-24s: %d\n", "ctl_protocol", PVNET_CTL_VERSION);
	out_printf(o, "%-24s: %d\n", "nr_domains", n < 0 ? 0 : n);
	out_printf(o, "%-24s: %llu\n", "guest_memory_mib", (unsigned long long)(mem >> 20));
	out_printf(o, "%-24s: %ld\n", "nr_cpus", sysconf(_SC_NPROCESSORS_ONLN));
	out_printf(o, "%-24s: %s\n", "grant_table", "v1 (map, unmap, copy, transfer)");
	out_printf(o, "%-24s: %s\n", "event_channels", "2-level, eventfd-backed");
	out_printf(o, "%-24s: %s\n", "xen_abi", "netif / grant_table / xenstore wire protocol");
	return 0;
}

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

/* list [NAME|ID ...]: every domain, or those named (as xl list does). */
static int cmd_list(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct hv_domain_info infos[HV_MAX_DOMID + 1];
	int n = hv_domain_list(d->hv, infos, HV_MAX_DOMID + 1);

	if (n < 0) {
		err_printf(o, "list: %s\n", strerror(-n));
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "Domain-0") && strcmp(argv[i], "0") && !dom_find(d, argv[i])) {
			err_printf(o, "no domain '%s'\n", argv[i]);
			return 1;
		}
	}
	out_printf(o, "%-32s %5s %6s %5s %9s %9s\n", "Name", "ID", "Mem", "VCPUs", "State",
		   "Time(s)");
	for (int i = 0; i < n; i++) {
		struct dom *dom = NULL;
		char state[8] = "------";
		double secs;

		if (infos[i].domid == 0) {
			if (!list_wants(argc, argv, "Domain-0", 0))
				continue;
			state[0] = 'r';
			secs = (double)(pvnetd_now_ns() - d->started_ns) / 1e9;
			out_printf(o, "%-32s %5u %6llu %5ld %9s %9.1f\n", "Domain-0", 0u, 0ull,
				   sysconf(_SC_NPROCESSORS_ONLN), state, secs);
			continue;
		}
		for (dom = d->doms; dom && dom->domid != infos[i].domid; dom = dom->next)
			;
		if (!dom || !list_wants(argc, argv, dom->name, dom->domid))
			continue;
		/* xl's state letters: r running/b blocked, s shutdown, c crashed, d dying */
		if (dom->dying)
			state[5] = 'd';
		else if (dom->pid > 0)
			state[1] = 'b';
		else
			state[4] = 'c';
		secs = (double)(pvnetd_now_ns() - dom->created_ns) / 1e9;
		/* an HVM domain's hv memory is a token page: its RAM is QEMU's, memory= MiB */
		out_printf(o, "%-32s %5u %6llu %5u %9s %9.1f\n", dom->name, dom->domid,
			   dom->hvm ? (unsigned long long)dom->cfg.memory_mib
				    : (unsigned long long)(infos[i].mem_size >> 20),
			   dom->cfg.vcpus ? dom->cfg.vcpus : 1, state, secs);
	}
	return 0;
}

/* Makes a relative path (kernel = "build/guest/vmlinuz") absolute against cwd. */
static int path_from_cwd(char *path, size_t size, const char *cwd)
{
	char abs[PATH_MAX];

	if (!path[0] || path[0] == '/')
		return 0;
	if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= size)
		return -ENAMETOOLONG;
	memcpy(path, abs, strlen(abs) + 1);
	return 0;
}

/* The config parser's warnings go to the client's stderr. */
static void create_warn(void *o, const char *msg)
{
	err_printf(o, "%s\n", msg);
}

static int cmd_create(struct pvnetd *d, struct outbuf *o, int argc, char **argv,
		      const char *payload, size_t payload_len)
{
	struct pvnet_config_opts opts = {.warn = create_warn, .warn_arg = o};
	struct pvnet_dom_cfg *cfg;
	char err[512];
	int rc, first = 2;

	/* pvnet sends "create FILE [--cwd DIR] [KEY=VALUE ...]": DIR is the user's
	 * working directory, KEY=VALUE overrides keys of FILE (as xl create) */
	if (argc >= 4 && !strcmp(argv[2], "--cwd"))
		first = 4;
	if (argc < 2 || (first == 4 && argv[3][0] != '/') || !payload) {
		err_printf(o, "usage: pvnet create FILE [KEY=VALUE ...]\n");
		return 2;
	}
	opts.overrides = (const char *const *)argv + first;
	opts.n_overrides = (unsigned)(argc - first);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	rc = pvnet_config_parse_ex(argv[1], payload, payload_len, &opts, cfg, err, sizeof(err));
	if (rc < 0) {
		err_printf(o, "%s\n", err);
		free(cfg);
		return 1;
	}
	if (first == 4 && (path_from_cwd(cfg->kernel, sizeof(cfg->kernel), argv[3]) < 0 ||
			  path_from_cwd(cfg->ramdisk, sizeof(cfg->ramdisk), argv[3]) < 0)) {
		err_printf(o, "%s: kernel or ramdisk path too long once made absolute (%s/...)\n",
			   argv[1], argv[3]);
		free(cfg);
		return 1;
	}
	rc = dom_create(d, cfg, o);
	free(cfg);
	return rc < 0 ? 1 : 0;
}

static int cmd_destroy(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct dom *dom;

	if (argc != 2) {
		err_printf(o, "usage: pvnet destroy NAME|ID\n");
		return 2;
	}
	dom = dom_find(d, argv[1]);
	if (!dom) {
		err_printf(o, "no domain '%s'\n", argv[1]);
		return 1;
	}
	dom_destroy(d, dom, o);
	return 0;
}

static int cmd_domid(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct dom *dom = argc == 2 ? dom_find(d, argv[1]) : NULL;

	if (argc != 2) {
		err_printf(o, "usage: pvnet domid NAME\n");
		return 2;
	}
	if (!strcmp(argv[1], "Domain-0")) {
		out_printf(o, "0\n");
		return 0;
	}
	if (!dom) {
		err_printf(o, "no domain '%s'\n", argv[1]);
		return 1;
	}
	out_printf(o, "%u\n", dom->domid);
	return 0;
}

/* Output callback for the switch commands of switch_cli.c. */
static void switch_out(void *arg, int is_err, const char *text)
{
	struct outbuf *o = arg;

	if (is_err)
		err_printf(o, "%s", text);
	else
		out_printf(o, "%s", text);
}

/* ---- netback and switch commands --------------------------------------------- */

static const char *feat_text(unsigned f, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s%s", f & NB_FEAT_SG ? "sg," : "",
		 f & NB_FEAT_GSO4 ? "gso4," : "", f & NB_FEAT_GSO6 ? "gso6," : "",
		 f & NB_FEAT_CSUM ? "csum," : "", f & NB_FEAT_RX_NOTIFY ? "rx-notify," : "",
		 f & NB_FEAT_PERSISTENT ? "persistent," : "");
	if (*buf)
		buf[strlen(buf) - 1] = 0;
	else
		snprintf(buf, size, "-");
	return buf;
}

static int vif_list_cb(const struct nb_vif_info *vi, void *arg)
{
	struct outbuf *o = arg;
	char feat[64];

	out_printf(o, "%-4u %-8s %-17s %-12s %-6u %-8s %s%s%s\n", vi->handle, vi->name,
		   vi->mac[0] ? vi->mac : "-", xenbus_strstate(vi->be_state), vi->nr_queues,
		   vi->bridge, feat_text(vi->features, feat, sizeof(feat)),
		   vi->last_error[0] ? "  error: " : "", vi->last_error);
	return 0;
}

static int cmd_vif_list(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct dom *dom = NULL;
	int domid;

	if (argc != 2) {
		err_printf(o, "usage: pvnet vif-list DOMAIN\n");
		return 2;
	}
	if (!strcmp(argv[1], "Domain-0") || !strcmp(argv[1], "0")) {
		domid = 0;
	} else {
		dom = dom_find(d, argv[1]);
		if (!dom) {
			err_printf(o, "no domain '%s'\n", argv[1]);
			return 1;
		}
		domid = dom->domid;
	}
	out_printf(o, "%-4s %-8s %-17s %-12s %-6s %-8s %s\n", "Idx", "Name", "Mac", "State",
		   "Queues", "Bridge", "Features");
	if (dom && dom->hvm) {
		/* HVM vifs are vhost-user ports, not netback vifs: list them from the
		 * config and the switch ("up" once QEMU's virtio-net driver is ready) */
		for (unsigned i = 0; i < dom->cfg.n_vifs; i++) {
			const struct pvnet_vif_cfg *v = &dom->cfg.vifs[i];
			struct vsw_bridge *br;
			struct vsw_port *port;
			char name[32], mac[18], line[512] = "";

			snprintf(name, sizeof(name), "vif%u.%u", dom->domid, i);
			if (v->vifname[0])
				snprintf(name, sizeof(name), "%s", v->vifname);
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", v->mac[0],
				 v->mac[1], v->mac[2], v->mac[3], v->mac[4], v->mac[5]);
			if (vsw_switch_port_find(d->sw, name, &br, &port) == 0)
				vsw_port_format(port, line, sizeof(line));
			out_printf(o, "%-4u %-8s %-17s %-12s %-6u %-8s %s\n", i, name, mac,
				   !line[0] ? "-" : strstr(line, " up ") ? "Connected" : "Waiting",
				   1u, v->bridge, "vhost-user,virtio-net");
		}
		return 0;
	}
	nb_vif_foreach(d->nb, domid, vif_list_cb, o);
	return 0;
}

/* vif-set-rate VIF RATE: VIF is vif<d>.<n> or <d>/<n>; RATE in xl syntax
 * (10Mb/s@50ms) or "off". Writes (or removes) the backend `rate` node, which
 * netback watches and applies live. */
int cmd_vif_set_rate(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	unsigned dom, n;
	char tail, path[128], val[48];
	uint64_t bytes;
	uint32_t usec;
	int rc;

	if (argc != 3) {
		err_printf(o, "usage: pvnet vif-set-rate VIF RATE (VIF: vifD.N or D/N; RATE: 10Mb/s@50ms or off)\n");
		return 2;
	}
	if ((sscanf(argv[1], "vif%u.%u%c", &dom, &n, &tail) != 2 &&
	     sscanf(argv[1], "%u/%u%c", &dom, &n, &tail) != 2) ||
	    dom == 0 || dom > HV_MAX_DOMID || n > 255) {
		err_printf(o, "bad vif '%.64s' (vifD.N or D/N)\n", argv[1]);
		return 2;
	}
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/%u/frontend", dom, n);
	{
		char *v = NULL;
		size_t len = 0;
		if (xs_read(d->xs, 0, 0, path, &v, &len) < 0) {
			err_printf(o, "no vif %u/%u\n", dom, n);
			return 1;
		}
		free(v);
	}
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/%u/rate", dom, n);
	if (!strcmp(argv[2], "off")) {
		rc = xs_rm(d->xs, 0, 0, path);
		if (rc == -ENOENT)
			rc = 0;
	} else {
		if (pvnet_rate_parse(argv[2], &bytes, &usec) < 0) {
			err_printf(o, "bad rate '%.64s' (e.g. 10Mb/s@50ms)\n", argv[2]);
			return 2;
		}
		snprintf(val, sizeof(val), "%llu,%u", (unsigned long long)bytes, usec);
		rc = xs_write(d->xs, 0, 0, path, val, strlen(val));
	}
	if (rc < 0) {
		err_printf(o, "writing %s: %s\n", path, strerror(-rc));
		return 1;
	}
	/* saved in the state dir (state.c), unless replayed from it (no client) */
	if (o->conn && state_record(d, argc, argv, val, sizeof(val)) < 0) {
		err_printf(o, "vif-set-rate: applied, but not saved: %s\n", val);
		return 1;
	}
	return 0;
}

/* JSON string body: only [A-Za-z0-9 ...] text of ours, escaped anyway. */
static const char *jstr(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	for (; *s && n + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			n += (size_t)snprintf(buf + n, size - n, "\\u%04x", c);
		} else {
			buf[n++] = (char)c;
		}
	}
	buf[n] = 0;
	return buf;
}

struct stats_ctx {
	struct outbuf *o;
	bool json;
	unsigned n; /* items printed so far at the current level */
};

static int stats_vif_cb(const struct nb_vif_info *vi, void *arg)
{
	struct stats_ctx *c = arg;
	char line[4096], esc[256];
	size_t n = 0;

	if (c->json) {
		n += (size_t)snprintf(line + n, sizeof(line) - n,
			"%s{\"name\":\"%s\",\"domid\":%u,\"handle\":%u,\"state\":\"%s\","
			"\"connected\":%s,\"disabled\":%s,\"queues\":%u,\"bridge\":\"%s\","
			"\"last_error\":\"%s\",\"tx_packets\":%llu,\"tx_bytes\":%llu,"
			"\"rx_packets\":%llu,\"rx_bytes\":%llu,\"rx_queued_bytes\":%llu,"
			"\"notifies\":%llu,\"drops\":{",
			c->n++ ? "," : "", vi->name, vi->domid, vi->handle,
			xenbus_strstate(vi->be_state), vi->connected ? "true" : "false",
			vi->disabled ? "true" : "false", vi->nr_queues, vi->bridge,
			jstr(vi->last_error, esc, sizeof(esc)), (unsigned long long)vi->tx_packets,
			(unsigned long long)vi->tx_bytes, (unsigned long long)vi->rx_packets,
			(unsigned long long)vi->rx_bytes, (unsigned long long)vi->rx_queued_bytes,
			(unsigned long long)vi->notifies);
		for (unsigned r = 0; r < NB_DROP__MAX; r++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s\"%s\":%llu", r ? "," : "",
					      nb_drop_reason_name(r), (unsigned long long)vi->drops[r]);
		snprintf(line + n, sizeof(line) - n, "}}");
		out_printf(c->o, "%s", line);
		return 0;
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n,
		"%-10s %-12s tx %llu pkts %llu bytes  rx %llu pkts %llu bytes  queued %llu bytes",
		vi->name, xenbus_strstate(vi->be_state), (unsigned long long)vi->tx_packets,
		(unsigned long long)vi->tx_bytes, (unsigned long long)vi->rx_packets,
		(unsigned long long)vi->rx_bytes, (unsigned long long)vi->rx_queued_bytes);
	for (unsigned r = 0; r < NB_DROP__MAX; r++)
		if (vi->drops[r])
			n += (size_t)snprintf(line + n, sizeof(line) - n, "  %s=%llu",
					      nb_drop_reason_name(r), (unsigned long long)vi->drops[r]);
	out_printf(c->o, "%s%s%s\n", line, vi->last_error[0] ? "  error: " : "", vi->last_error);
	return 0;
}

static int stats_port_cb(struct vsw_port *port, void *arg)
{
	struct stats_ctx *c = arg;
	struct vsw_port_fdb_stats fs;
	struct vsw_port_stats st;
	char line[2048];
	size_t n = 0;

	vsw_port_get_stats(port, &st);
	vsw_port_get_fdb_stats(port, &fs);
	if (c->json) {
		n += (size_t)snprintf(line + n, sizeof(line) - n,
			"%s{\"name\":\"%s\",\"port_no\":%u,\"rx_packets\":%llu,\"rx_bytes\":%llu,"
			"\"tx_packets\":%llu,\"tx_bytes\":%llu,\"macs\":%llu,\"mac_limit\":%llu,"
			"\"mac_learnt\":%llu,\"mac_evicted\":%llu,\"mac_limit_hits\":%llu,\"drops\":{",
			c->n++ ? "," : "", vsw_port_name(port), vsw_port_no(port),
			(unsigned long long)st.rx_packets, (unsigned long long)st.rx_bytes,
			(unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
			(unsigned long long)fs.entries, (unsigned long long)fs.limit,
			(unsigned long long)fs.learnt, (unsigned long long)fs.evicted,
			(unsigned long long)fs.limit_hits);
		for (unsigned r = 0; r < VSW_DROP__MAX; r++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s\"%s\":%llu", r ? "," : "",
					      vsw_drop_reason_name(r), (unsigned long long)st.drops[r]);
		snprintf(line + n, sizeof(line) - n, "}}");
		out_printf(c->o, "%s", line);
		return 0;
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n,
		"  port %-10s rx %llu pkts %llu bytes  tx %llu pkts %llu bytes", vsw_port_name(port),
		(unsigned long long)st.rx_packets, (unsigned long long)st.rx_bytes,
		(unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes);
	for (unsigned r = 0; r < VSW_DROP__MAX; r++)
		if (st.drops[r])
			n += (size_t)snprintf(line + n, sizeof(line) - n, "  %s=%llu",
					      vsw_drop_reason_name(r), (unsigned long long)st.drops[r]);
	if (fs.evicted || fs.limit_hits)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "  macs=%llu/%llu mac_evicted=%llu",
				      (unsigned long long)fs.entries, (unsigned long long)fs.limit,
				      (unsigned long long)fs.evicted);
	out_printf(c->o, "%s\n", line);
	return 0;
}

static int stats_bridge_cb(struct vsw_bridge *br, void *arg)
{
	struct stats_ctx *c = arg;
	struct vsw_bridge_stats bs;
	struct stats_ctx pc = {.o = c->o, .json = c->json};

	vsw_bridge_get_stats(br, &bs);
	if (c->json) {
		out_printf(c->o, "%s{\"name\":\"%s\",\"fdb_entries\":%llu,\"flooded\":%llu,"
			   "\"sw_csum\":%llu,\"sw_tso_segs\":%llu,\"fdb_evicted\":%llu,"
			   "\"fdb_ageing_s\":%u,\"ports\":[",
			   c->n++ ? "," : "", vsw_bridge_name(br), (unsigned long long)bs.fdb_entries,
			   (unsigned long long)bs.flooded, (unsigned long long)bs.sw_csum,
			   (unsigned long long)bs.sw_tso_segs, (unsigned long long)bs.fdb_evicted,
			   vsw_bridge_get_ageing(br));
		vsw_port_foreach(br, stats_port_cb, &pc);
		out_printf(c->o, "]}");
		return 0;
	}
	out_printf(c->o, "bridge %s: %u ports, %llu fdb entries, %llu flooded\n", vsw_bridge_name(br),
		   bs.ports, (unsigned long long)bs.fdb_entries, (unsigned long long)bs.flooded);
	vsw_port_foreach(br, stats_port_cb, &pc);
	return 0;
}

static int cmd_stats(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct stats_ctx c = {.o = o};

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json"))) {
		err_printf(o, "usage: pvnet stats [--json]\n");
		return 2;
	}
	c.json = argc == 2;
	if (c.json) {
		out_printf(o, "{\"workers\":%u,\"vifs\":[", nb_nr_workers(d->nb));
		nb_vif_foreach(d->nb, -1, stats_vif_cb, &c);
		out_printf(o, "],\"bridges\":[");
		c.n = 0;
		vsw_switch_foreach(d->sw, stats_bridge_cb, &c);
		out_printf(o, "]}\n");
		return 0;
	}
	out_printf(o, "netback: %u worker(s)\n", nb_nr_workers(d->nb));
	nb_vif_foreach(d->nb, -1, stats_vif_cb, &c);
	vsw_switch_foreach(d->sw, stats_bridge_cb, &c);
	return 0;
}

static int show_port_cb(struct vsw_port *port, void *arg)
{
	struct outbuf *o = arg;
	char line[1024];

	vsw_port_format(port, line, sizeof(line));
	out_printf(o, "        Port \"%s\"\n            %s\n", vsw_port_name(port), line);
	return 0;
}

static int show_bridge_cb(struct vsw_bridge *br, void *arg)
{
	out_printf(arg, "    Bridge \"%s\"\n", vsw_bridge_name(br));
	vsw_port_foreach(br, show_port_cb, arg);
	return 0;
}

struct fdb_ctx {
	struct outbuf *o;
	struct vsw_bridge *br;
};

static int fdb_age_cb(const struct vsw_fdb_entry *e, void *arg)
{
	struct fdb_ctx *c = arg;
	char mac[18];

	pvnet_mac_format(e->mac, mac);
	if (e->is_static)
		out_printf(c->o, "%5u %5u  %s  static\n", e->port_no, e->vlan, mac);
	else
		out_printf(c->o, "%5u %5u  %s  %4llu\n", e->port_no, e->vlan, mac,
			   (unsigned long long)(e->age_ns / 1000000000ull));
	return 0;
}

static int port_map_cb(struct vsw_port *port, void *arg)
{
	out_printf(arg, "# port %u = %s\n", vsw_port_no(port), vsw_port_name(port));
	return 0;
}

static int cmd_switch(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "show")) {
		out_printf(o, "pvnet-switch\n");
		vsw_switch_foreach(d->sw, show_bridge_cb, o);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "fdb")) {
		struct fdb_ctx c = {.o = o};
		if (vsw_bridge_find(d->sw, argv[2], &c.br) < 0) {
			err_printf(o, "no bridge '%s'\n", argv[2]);
			return 1;
		}
		vsw_port_foreach(c.br, port_map_cb, o);
		out_printf(o, " port  VLAN  MAC                Age\n");
		vsw_fdb_dump(c.br, fdb_age_cb, &c);
		return 0;
	}
	/* the ports' commands are switch_cli.c's: list them all, as `pvnet switch help` does */
	err_printf(o, "usage: pvnet switch COMMAND ...\n"
		      "  show                               bridges, their ports and VLAN modes\n"
		      "  fdb BRIDGE                         the MAC table: port, VLAN, MAC, age\n"
		      "  add-port, del-port, set-vlan, set-trunk, mirror, mirror-stop, replay,\n"
		      "  set-antispoof, port-show           see pvnet switch help\n");
	return 2;
}

/*
 * switch add-port BR NAME with NAME already a port of another bridge, or of the
 * form vifD.N that netback gives guests' vifs: 1 and the reason, else 0. Port names are global (set-vlan, mirror, port-show take the name
 * alone and act on the first bridge that has it), and a second AF_PACKET socket on
 * one interface would bridge its frames into two bridges.
 */
static int switch_name_taken(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct vsw_bridge *br;
	struct vsw_port *port;
	unsigned a, b;
	char tail;

	if (argc >= 4 && !strcmp(argv[1], "add-port") &&
	    sscanf(argv[3], "vif%u.%u%c", &a, &b, &tail) == 2) {
		err_printf(o, "add-port %s %s: names vifD.N are the guests' vifs (pick another)\n",
			   argv[2], argv[3]);
		return 1;
	}
	if (argc < 4 || strcmp(argv[1], "add-port") || !d->sw ||
	    vsw_switch_port_find(d->sw, argv[3], &br, &port) < 0 ||
	    !strcmp(vsw_bridge_name(br), argv[2]))
		return 0;
	err_printf(o, "add-port %s %s: bridge %s already has a port named %s (port names are "
		      "global; del-port it there first)\n",
		   argv[2], argv[3], vsw_bridge_name(br), argv[3]);
	return 1;
}

/* ---- NIC accelerators (issue #6) ------------------------------------------------- */

/* Prints a long text in pieces that fit one reply message each. */
static void out_text(struct outbuf *o, const char *text)
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

int cmd_nic(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "list") && argc == 2) {
		char *buf = malloc(16384);
		if (!buf)
			return 1;
		nb_nic_format_list(d->nb, buf, 16384);
		out_text(o, buf);
		free(buf);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "del")) {
		int rc = nb_nic_del(d->nb, argv[2]);
		if (rc < 0) {
			err_printf(o, "nic del %s: %s\n", argv[2], rc == -ENOENT ? "no such NIC" : strerror(-rc));
			return 1;
		}
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "add")) {
		struct nb_nic_args a = {.name = argv[2]};
		char err[256] = "";
		int rc;

		for (int i = 3; i < argc; i++) {
			const char *v = i + 1 < argc ? argv[i + 1] : NULL;
			if (!v)
				goto usage;
			if (!strcmp(argv[i], "--plugin"))
				a.plugin = v;
			else if (!strcmp(argv[i], "--wire"))
				a.wire = v;
			else if (!strcmp(argv[i], "--bridge"))
				a.bridge = v;
			else if (!strcmp(argv[i], "--devargs"))
				a.devargs = v;
			else if (!strcmp(argv[i], "--vfs")) {
				char *end;
				long n = strtol(v, &end, 10);
				if (*end || n < 0 || n > 64) {
					err_printf(o, "--vfs takes 0..64\n");
					return 2;
				}
				a.vfs = (unsigned)n;
			} else
				goto usage;
			i++;
		}
		if (!a.plugin)
			goto usage;
		rc = nb_nic_add(d->nb, &a, err, sizeof(err));
		if (rc < 0) {
			err_printf(o, "nic add %s: %s\n", a.name, err[0] ? err : strerror(-rc));
			return 1;
		}
		return 0;
	}
usage:
	err_printf(o, "usage: nic add NAME --plugin PLUGIN [--wire IFNAME] [--vfs N] [--bridge BR] "
		      "[--devargs S] | nic list | nic del NAME\n");
	return 2;
}

int cmd_accel(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list")) {
		char buf[8192];
		accel_format_list(d->accel_reg, buf, sizeof(buf));
		out_text(o, buf);
		return 0;
	}
	if (argc == 3 && (!strcmp(argv[1], "detach") || !strcmp(argv[1], "attach"))) {
		int rc = nb_accel_vif_set_attached(d->nb, argv[2], !strcmp(argv[1], "attach"));
		if (rc < 0) {
			err_printf(o, "accel %s %s: %s\n", argv[1], argv[2],
				   rc == -ENOENT	? "no such vif"
				   : rc == -ENODEV	? "the vif has no accelerator"
				   : rc == -EOPNOTSUPP ? "a Level 0 vif shares the NIC's queue; nothing to detach"
							: strerror(-rc));
			return 1;
		}
		return 0;
	}
	err_printf(o, "usage: accel list | accel detach VIF | accel attach VIF\n");
	return 2;
}

int cmd_ethtool(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	char *buf;
	int n;

	if (argc != 3 || (strcmp(argv[1], "-k") && strcmp(argv[1], "-S") &&
			  strcmp(argv[1], "--show-features") && strcmp(argv[1], "--statistics"))) {
		err_printf(o, "usage: ethtool -k|--show-features VIF | ethtool -S|--statistics VIF\n");
		return 2;
	}
	buf = malloc(32768);
	if (!buf)
		return 1;
	n = nb_accel_ethtool(d->nb, argv[2],
			     (!strcmp(argv[1], "-k") || !strcmp(argv[1], "--show-features")) ? 'k' : 'S',
			     buf, 32768);
	if (n < 0) {
		err_printf(o, "ethtool %s: %s\n", argv[2],
			   n == -ENOENT	  ? "no such vif or NIC"
			   : n == -ENODEV ? "the vif has no accelerator (Operation not supported)"
					  : strerror(-n));
		free(buf);
		return 1;
	}
	out_text(o, buf);
	free(buf);
	return 0;
}

/* log-level [MODULE] LEVEL, or no argument: the thresholds. */
static int cmd_log_level(struct outbuf *o, int argc, char **argv)
{
	int level, rc = 0;

	if (argc == 1) {
		char buf[2048];
		pvnet_log_format_levels(buf, sizeof(buf));
		out_printf(o, "%s", buf);
		return 0;
	}
	if (argc > 3 || (level = pvnet_log_level_parse(argv[argc - 1])) < 0) {
		err_printf(o, "usage: pvnet log-level [MODULE] err|warn|info|debug\n");
		return 2;
	}
	if (argc == 2)
		pvnet_log_set_level((enum pvnet_log_level)level);
	else
		rc = pvnet_log_set_module_level(argv[1], (enum pvnet_log_level)level);
	if (rc < 0) {
		err_printf(o, "log-level %.64s: %s\n", argv[1],
			   rc == -ENOSPC ? "too many modules with a level of their own"
					 : "bad module name (1..31 characters)");
		return 1;
	}
	return 0;
}

/* Commands that change nothing (not logged unless refused). */
static bool ctl_read_only(int argc, char **argv)
{
	static const char *const ro[] = {"info", "list", "domid", "vif-list", "stats",
					 "ethtool", "network-list", "top", NULL};
	static const char *const ro_sub[] = {"show", "fdb", "port-show", "help", "list",
					     "list-br", "list-ports", NULL};

	if (argc == 1 && !strcmp(argv[0], "log-level"))
		return true;
	for (int i = 0; ro[i]; i++)
		if (!strcmp(argv[0], ro[i]))
			return true;
	if (argc >= 2 && (!strcmp(argv[0], "switch") || !strcmp(argv[0], "nic") ||
			  !strcmp(argv[0], "accel")))
		for (int i = 0; ro_sub[i]; i++)
			if (!strcmp(argv[1], ro_sub[i]))
				return true;
	return false;
}

/* Logs a state-changing command or a refusal with who asked (SO_PEERCRED). */
static void ctl_log_request(const struct ctl_conn *c, int argc, char **argv, int status)
{
	char line[384];
	size_t n = 0;

	if (status == 0 && argc > 0 && ctl_read_only(argc, argv))
		return;
	for (int i = 0; i < argc && n + 8 < sizeof(line); i++) {
		if (i)
			line[n++] = ' ';
		for (const char *p = argv[i]; *p && n + 5 < sizeof(line); p++) {
			unsigned char ch = (unsigned char)*p;
			if (ch < 0x20 || ch >= 0x7f || ch == '\\')
				n += (size_t)snprintf(line + n, sizeof(line) - n, "\\x%02x", ch);
			else
				line[n++] = (char)ch;
		}
	}
	line[n] = 0;
	if (status == 0)
		PVLOG(INFO, MOD, "pid %ld uid %u: %s: done", (long)c->pid, (unsigned)c->uid, line);
	else
		PVLOG_RL(WARN, MOD, "pid %ld uid %u: %s: refused (exit %d)", (long)c->pid,
			 (unsigned)c->uid, line, status);
}

int ctl_handle(struct pvnetd *d, struct ctl_conn *c, bool nested)
{
	/* one buffer for the top-level request (its argv and payload stay in use while
	 * it runs, nested pumps included) and one for read-only requests served meanwhile */
	static char top_buf[PVNET_CTL_MSG_MAX + 1], nested_buf[PVNET_CTL_MSG_MAX + 1];
	char *buf = nested ? nested_buf : top_buf;
	char *argv[MAX_ARGS];
	struct outbuf o = {.conn = c};
	const char *payload = NULL, *bad = NULL;
	size_t payload_len = 0, len, mlen = strlen(PVNET_CTL_MARKER);
	int argc = 0, status = 2;
	ssize_t n;
	char *p, *end, xbuf[32], theirs[16] = "1";

	/* nested: peek first, the request stays queued unless it is read-only */
	n = recv(c->fd, buf, PVNET_CTL_MSG_MAX + 1,
		 MSG_TRUNC | MSG_DONTWAIT | (nested ? MSG_PEEK : 0));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n < 0)
		return 0;
	if ((size_t)n > PVNET_CTL_MSG_MAX) {
		bad = "oversize";
		len = 0;
	} else {
		len = (size_t)n;
	}
	buf[len] = 0;
	end = memchr(buf, PVNET_CTL_PAYLOAD_SEP, len);
	if (end) {
		payload = end + 1;
		payload_len = len - (size_t)(payload - buf);
		*end = 0;
		len = (size_t)(end - buf);
	}
	for (p = buf; p < buf + len && argc < MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	if (!bad && argc == 0) {
		bad = "empty";
	} else if (!bad && (strncmp(argv[0], PVNET_CTL_MARKER, mlen) ||
			    strtol(argv[0] + mlen, NULL, 10) != PVNET_CTL_VERSION)) {
		if (!strncmp(argv[0], PVNET_CTL_MARKER, mlen))
			snprintf(theirs, sizeof(theirs), "%.12s", argv[0] + mlen);
		bad = "version";
	} else if (!bad) {
		/* the marker is not an argument */
		for (int i = 1; i < argc; i++)
			argv[i - 1] = argv[i];
		if (--argc == 0)
			bad = "empty";
	}
	if (nested) {
		char one;
		/* while a command runs, only commands that change nothing are served;
		 * the others wait in the socket for the top-level loop */
		if (bad || !ctl_read_only(argc, argv)) {
			c->deferred = true;
			return 0;
		}
		if (recv(c->fd, &one, 1, MSG_DONTWAIT) < 0) /* consumes the peeked request */
			return -1;
	}
	c->busy = true;
	snprintf(xbuf, sizeof(xbuf), "V%d %s", PVNET_CTL_VERSION, PVNET_VERSION);
	ctl_send(c, xbuf, strlen(xbuf));
	if (bad && !strcmp(bad, "oversize")) {
		err_printf(&o, "request too large (%zd bytes, at most %d)\n", n, PVNET_CTL_MSG_MAX);
		argc = 0;
		argv[argc++] = "(oversize request)";
		goto reply;
	}
	if (bad && !strcmp(bad, "empty")) {
		err_printf(&o, "empty request\n");
		argc = 0;
		argv[argc++] = "(empty request)";
		goto reply;
	}
	if (bad) {
		err_printf(&o, "control protocol mismatch: this client speaks version %s, pvnetd %s "
			       "speaks version %d; use the pvnet program of the same release as "
			       "pvnetd\n", theirs, PVNET_VERSION, PVNET_CTL_VERSION);
		goto reply;
	}
	if (!strcmp(argv[0], "info") && argc != 1)
		err_printf(&o, "usage: pvnet info (no arguments)\n");
	else if (!strcmp(argv[0], "info"))
		status = cmd_info(d, &o);
	else if (!strcmp(argv[0], "log-level"))
		status = cmd_log_level(&o, argc, argv);
	else if (!strcmp(argv[0], "list"))
		status = cmd_list(d, &o, argc, argv);
	else if (!strcmp(argv[0], "create"))
		status = cmd_create(d, &o, argc, argv, payload, payload_len);
	else if (!strcmp(argv[0], "destroy"))
		status = cmd_destroy(d, &o, argc, argv);
	else if (!strcmp(argv[0], "domid"))
		status = cmd_domid(d, &o, argc, argv);
	else if (!strcmp(argv[0], "vif-list"))
		status = cmd_vif_list(d, &o, argc, argv);
	else if (!strcmp(argv[0], "network-attach"))
		status = cmd_network_attach(d, &o, argc, argv);
	else if (!strcmp(argv[0], "network-detach"))
		status = cmd_network_detach(d, &o, argc, argv);
	else if (!strcmp(argv[0], "network-list"))
		status = cmd_network_list(d, &o, argc, argv);
	else if (!strcmp(argv[0], "vif-set-rate"))
		status = cmd_vif_set_rate(d, &o, argc, argv);
	else if (!strcmp(argv[0], "stats"))
		status = cmd_stats(d, &o, argc, argv);
	else if (!strcmp(argv[0], "nic"))
		status = cmd_nic(d, &o, argc, argv);
	else if (!strcmp(argv[0], "accel"))
		status = cmd_accel(d, &o, argc, argv);
	else if (!strcmp(argv[0], "ethtool"))
		status = cmd_ethtool(d, &o, argc, argv);
	else if (!strcmp(argv[0], "switch") && (status = switch_name_taken(d, &o, argc, argv)))
		; /* add-port of a name another bridge holds */
	else if (!strcmp(argv[0], "switch") &&
		 (status = switch_cli_ext(d->sw, switch_out, &o, argc, argv)) >= 0)
		; /* add-port del-port set-vlan set-trunk mirror mirror-stop replay
		     set-antispoof port-show help; -1: show/fdb below */
	else if (!strcmp(argv[0], "switch"))
		status = cmd_switch(d, &o, argc, argv);
	else
		err_printf(&o, "unknown command '%.64s'\n", argv[0]);
reply:
	ctl_log_request(c, argc, argv, status);
	snprintf(xbuf, sizeof(xbuf), "X%d", status);
	ctl_send(c, xbuf, strlen(xbuf));
	c->busy = false;
	if (!c->head)
		c->since_ns = pvnetd_now_ns();
	return c->dead ? -1 : 0;
}
