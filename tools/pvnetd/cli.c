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
#include <pvnet/ctl_commands.h>
#include <pvnet/version.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/log.h>

#include "pvnetd.h"
#include "report.h"
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
		c->progress_ns = pvnet_now_ns();
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
		c->progress_ns = pvnet_now_ns(); /* the stall timer starts now */
	}
	if (c->queued + size > PVNET_CTL_OUT_MAX) {
		char why[96];
		snprintf(why, sizeof(why),
			 "stopped reading (%zu bytes of replies queued, at most %d)", c->queued,
			 PVNET_CTL_OUT_MAX);
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

/* create FILE [--cwd DIR] [KEY=VALUE ...], the file's text as the payload */
static int cmd_create_dom(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct pvnet_config_opts opts = {.warn = create_warn, .warn_arg = o};
	const char *payload = o->payload;
	size_t payload_len = o->payload_len;
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
	adopt_note_create(argv[1], payload, payload_len, opts.overrides, opts.n_overrides);
	rc = dom_create(d, cfg, o);
	adopt_note_create(NULL, NULL, 0, NULL, 0);
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
	if (dom->dying) {
		err_printf(o, "domain '%s' is being destroyed\n", argv[1]);
		return 1;
	}
	dom_destroy(d, dom, o); /* immediate, as xl destroy: pvnet shutdown is graceful */
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
		err_printf(
			o,
			"usage: pvnet vif-set-rate VIF RATE (VIF: vifD.N or D/N; RATE: 10Mb/s@50ms or off)\n");
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
	err_printf(o,
		   "add-port %s %s: bridge %s already has a port named %s (port names are "
		   "global; del-port it there first)\n",
		   argv[2], argv[3], vsw_bridge_name(br), argv[3]);
	return 1;
}

/*
 * Every `switch SUB` row (show and fdb are report.c's, answered before this):
 * switch_cli.c's handler of SUB; a SUB it does not have gets the list of `pvnet
 * switch help` on stderr.
 */
static int cmd_switch(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	int status = switch_name_taken(d, o, argc, argv);

	if (status)
		return status; /* add-port of a name another bridge holds */
	status = switch_cli_ext(d->sw, switch_out, o, argc, argv);
	if (status >= 0)
		return status;
	switch_cli_print_usage(switch_out, o, 1);
	return 2;
}

/* ---- NIC accelerators ------------------------------------------------------ */

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
	/* nic list (text and --json) is report.c's */
	if (argc == 3 && !strcmp(argv[1], "del")) {
		int rc = nb_nic_del(d->nb, argv[2]);
		if (rc < 0) {
			err_printf(o, "nic del %s: %s\n", argv[2],
				   rc == -ENOENT ? "no such NIC" : strerror(-rc));
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
			err_printf(
				o, "accel %s %s: %s\n", argv[1], argv[2],
				rc == -ENOENT   ? "no such vif"
				: rc == -ENODEV ? "the vif has no accelerator"
				: rc == -EOPNOTSUPP
					? "a Level 0 vif shares the NIC's queue; nothing to detach"
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
	/* netback returns the items; report.c renders them (text, --json) */
	return report_ethtool(d, o, argc, argv, REPORT_TEXT);
}

/*
 * The module tags pvnetd's code logs with (a loaded accelerator plugin logs under its
 * own name too). A module outside these would take a level nothing reads: refused.
 */
static const char *const log_modules[] = {
	"accel", "adopt", "ctl",       "evtchn",  "gnttab",  "hotplug",
	"hv",    "hvm",   "hypercall", "netback", "ovsdb",   "pvnetd",
	"quota", "state", "toolstack", "vhost",   "vswitch", "xs",
};

static bool log_module_known(struct pvnetd *d, const char *m)
{
	for (size_t i = 0; i < sizeof(log_modules) / sizeof(log_modules[0]); i++)
		if (!strcmp(m, log_modules[i]))
			return true;
	return d->accel_reg && accel_find(d->accel_reg, m);
}

/* log-level [MODULE] LEVEL, or no argument: the thresholds. */
static int cmd_log_level(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
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
	if (argc == 3 && !log_module_known(d, argv[1])) {
		err_printf(o, "log-level: no module '%.64s' (modules:", argv[1]);
		for (size_t i = 0; i < sizeof(log_modules) / sizeof(log_modules[0]); i++)
			err_printf(o, " %s", log_modules[i]);
		err_printf(o, ", or a loaded accelerator plugin's name)\n");
		return 1;
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

/* ---- the command table ------------------------------------------------------ */

typedef int (*ctl_cmd_fn)(struct pvnetd *d, struct outbuf *o, int argc, char **argv);

/* pvnetd's handler of each row of include/pvnet/ctl_commands.h, in its order */
#define DFN_G(title) NULL,
#define DFN_C(name, sub, dfn, cfn, flags, args, help) dfn,
#define DFN_S(sub, swfn, cfn, flags, args, help) cmd_switch,
static const ctl_cmd_fn ctl_handlers[] = {PVNET_CTL_COMMANDS(DFN_G, DFN_C, DFN_S)};
_Static_assert(sizeof(ctl_handlers) / sizeof(ctl_handlers[0]) == PVNET_CTL_NROWS,
	       "one handler per row of the command table");

/* May this client run a PVNET_CMD_PRIV command? Root or pvnetd's own user. */
static bool ctl_client_privileged(const struct ctl_conn *c)
{
	return c->uid == 0 || c->uid == geteuid();
}

/*
 * Runs row `row` of the table (exact: argv names one of its rows; else the
 * command's first row, whose handler answers with its usage): the exit status.
 * A read command is offered to report.c first (it answers those it knows in the
 * requested format, text or JSON, -1 otherwise); a format given to a command
 * report.c does not answer is refused there.
 */
static int ctl_run(struct pvnetd *d, struct outbuf *o, int row, bool exact, int argc, char **argv)
{
	int rc;

	if (row < 0 || row >= PVNET_CTL_NROWS) {
		err_printf(o, "unknown command '%.64s'\n", argv[0]);
		return 2;
	}
	if ((pvnet_cmds[row].flags & PVNET_CMD_PRIV) && o->conn && exact &&
	    !pvnet_cmd_read_only((unsigned)row, argc) && !ctl_client_privileged(o->conn)) {
		err_printf(o,
			   "%s%s%s: changes pvnetd's state: root or uid %u only (you are uid %u)\n",
			   argv[0], pvnet_cmds[row].sub ? " " : "",
			   pvnet_cmds[row].sub ? pvnet_cmds[row].sub : "", (unsigned)geteuid(),
			   (unsigned)o->conn->uid);
		return 1;
	}
	if (o->fmt != REPORT_TEXT || (exact && (pvnet_cmds[row].flags & PVNET_CMD_JSON))) {
		rc = report_dispatch(d, o, argc, argv, (enum report_fmt)o->fmt);
		if (rc >= 0)
			return rc;
	}
	if (!ctl_handlers[row]) {
		err_printf(o, "unknown command '%.64s'\n", argv[0]);
		return 2;
	}
	return ctl_handlers[row](d, o, argc, argv);
}

/* Logs a state-changing command or a refusal with who asked (SO_PEERCRED). */
static void ctl_log_request(const struct ctl_conn *c, int argc, char **argv, int status,
			    bool read_only)
{
	char line[384];
	size_t n = 0;

	if (status == 0 && read_only)
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

/* One request as received: its arguments (marker removed), payload and command row. */
struct ctl_req {
	char *argv[MAX_ARGS];
	int argc, row;
	const char *payload, *bad; /* bad: "oversize", "empty" or "version", else NULL */
	size_t payload_len;
	bool exact, read_only;
	char theirs[16]; /* the client's protocol version when bad is "version" */
};

/* Cuts the len bytes in buf (NUL-terminated) into r's arguments and payload. */
static void ctl_parse(char *buf, size_t len, struct ctl_req *r)
{
	size_t mlen = strlen(PVNET_CTL_MARKER);
	char *p, *end = memchr(buf, PVNET_CTL_PAYLOAD_SEP, len);

	if (end) {
		r->payload = end + 1;
		r->payload_len = len - (size_t)(r->payload - buf);
		*end = 0;
		len = (size_t)(end - buf);
	}
	for (p = buf; p < buf + len && r->argc < MAX_ARGS; p += strlen(p) + 1)
		r->argv[r->argc++] = p;
	if (!r->bad && r->argc == 0) {
		r->bad = "empty";
	} else if (!r->bad && (strncmp(r->argv[0], PVNET_CTL_MARKER, mlen) ||
			       strtol(r->argv[0] + mlen, NULL, 10) != PVNET_CTL_VERSION)) {
		if (!strncmp(r->argv[0], PVNET_CTL_MARKER, mlen))
			snprintf(r->theirs, sizeof(r->theirs), "%.12s", r->argv[0] + mlen);
		r->bad = "version";
	} else if (!r->bad) {
		/* the marker is not an argument */
		for (int i = 1; i < r->argc; i++)
			r->argv[i - 1] = r->argv[i];
		if (--r->argc == 0)
			r->bad = "empty";
	}
	if (!r->bad) {
		r->row = pvnet_cmd_find(r->argc, r->argv, &r->exact);
		r->read_only =
			r->row >= 0 && r->exact && pvnet_cmd_read_only((unsigned)r->row, r->argc);
	}
}

/* Answers a malformed request (n bytes received) with why; its argv is what gets logged. */
static void ctl_refuse(struct outbuf *o, struct ctl_req *r, ssize_t n)
{
	if (!strcmp(r->bad, "oversize")) {
		err_printf(o, "request too large (%zd bytes, at most %d)\n", n, PVNET_CTL_MSG_MAX);
		r->argc = 0;
		r->argv[r->argc++] = "(oversize request)";
		return;
	}
	if (!strcmp(r->bad, "empty")) {
		err_printf(o, "empty request\n");
		r->argc = 0;
		r->argv[r->argc++] = "(empty request)";
		return;
	}
	err_printf(o,
		   "control protocol mismatch: this client speaks version %s, pvnetd %s "
		   "speaks version %d; use the pvnet program of the same release as "
		   "pvnetd\n",
		   r->theirs, PVNET_VERSION, PVNET_CTL_VERSION);
}

int ctl_handle(struct pvnetd *d, struct ctl_conn *c, bool nested)
{
	/* one buffer for the top-level request (its argv and payload stay in use while
	 * it runs, nested pumps included) and one for read-only requests served meanwhile */
	static char top_buf[PVNET_CTL_MSG_MAX + 1], nested_buf[PVNET_CTL_MSG_MAX + 1];
	char *buf = nested ? nested_buf : top_buf;
	struct ctl_req r = {.row = -1, .theirs = "1"};
	struct outbuf o = {.conn = c};
	size_t len;
	int status = 2;
	enum report_fmt fmt = REPORT_TEXT;
	ssize_t n;
	char xbuf[32];

	/* nested: peek first, the request stays queued unless it is read-only */
	n = recv(c->fd, buf, PVNET_CTL_MSG_MAX + 1,
		 MSG_TRUNC | MSG_DONTWAIT | (nested ? MSG_PEEK : 0));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n < 0)
		return 0;
	if ((size_t)n > PVNET_CTL_MSG_MAX) {
		r.bad = "oversize";
		len = 0;
	} else {
		len = (size_t)n;
	}
	buf[len] = 0;
	ctl_parse(buf, len, &r);
	if (nested) {
		char one;
		/* while a command runs, only commands that change nothing are served;
		 * the others wait in the socket for the top-level loop */
		if (r.bad || !r.read_only) {
			c->deferred = true;
			return 0;
		}
		if (recv(c->fd, &one, 1, MSG_DONTWAIT) < 0) /* consumes the peeked request */
			return -1;
	}
	c->busy = true;
	snprintf(xbuf, sizeof(xbuf), "V%d %s", PVNET_CTL_VERSION, PVNET_VERSION);
	ctl_send(c, xbuf, strlen(xbuf));
	/* a read command's --json / --format=FMT is taken off its arguments (report.c) */
	if (r.bad) {
		ctl_refuse(&o, &r, n);
	} else if (!r.read_only || report_take_format(&o, &r.argc, r.argv, &fmt) >= 0) {
		o.fmt = fmt;
		o.payload = r.payload;
		o.payload_len = r.payload_len;
		status = ctl_run(d, &o, r.row, r.exact, r.argc, r.argv);
	}
	ctl_log_request(c, r.argc, r.argv, status, r.read_only);
	snprintf(xbuf, sizeof(xbuf), "X%d", status);
	ctl_send(c, xbuf, strlen(xbuf));
	c->busy = false;
	if (!c->head)
		c->since_ns = pvnet_now_ns();
	return c->dead ? -1 : 0;
}
