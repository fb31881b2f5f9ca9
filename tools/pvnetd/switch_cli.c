/* SPDX-License-Identifier: MIT */
/* `pvnet switch ...` configuration commands (see switch_cli.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <pvnet/ctl_commands.h>
#include <pvnet/lib.h>
#include <pvnet/state.h>
#include <pvnet/vhost.h>

#include "hvm.h"
#include "switch_cli.h"
#include "switch_report.h"

static switch_cli_record_fn recorder;
static void *recorder_arg;

static char vhost_run_dir[256] = "/run/pvnet"; /* vhostuser sockets: hvm_socket_path_ok */

void switch_cli_set_run_dir(const char *run_dir)
{
	snprintf(vhost_run_dir, sizeof(vhost_run_dir), "%s", run_dir);
}

void switch_cli_set_recorder(switch_cli_record_fn fn, void *arg)
{
	recorder = fn;
	recorder_arg = arg;
}

struct cli {
	switch_cli_out_fn fn;
	void *arg;
};

static void say(struct cli *c, int is_err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct cli *c, int is_err, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->fn(c->arg, is_err, buf);
}

#define OUT(c, ...) say((c), 0, __VA_ARGS__)
#define ERR(c, ...) say((c), 1, __VA_ARGS__)

/* After a change succeeded: save it (switch_cli_set_recorder). 0, or 1 when the
 * change is live but could not be saved (the reason goes to the caller). */
static int record(struct cli *c, int argc, char **argv)
{
	char err[512] = "";

	if (!recorder || recorder(recorder_arg, argc, argv, err, sizeof(err)) == 0)
		return 0;
	ERR(c, "%s: applied, but not saved: %s\n", argv[1], err);
	return 1;
}

/* `pvnet switch help`, made from the command table (ctl_commands.h) */
void switch_cli_print_usage(switch_cli_out_fn out, void *out_arg, int is_err)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f) {
		out(out_arg, 1, "out of memory\n");
		return;
	}
	pvnet_cmd_print_switch_help(f);
	if (fclose(f) == 0 && text)
		out(out_arg, is_err, text);
	else
		out(out_arg, 1, "out of memory\n");
	free(text);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static struct vsw_port *find_port(struct cli *c, struct vsw_switch *sw, const char *name)
{
	struct vsw_bridge *br;
	struct vsw_port *port;

	if (vsw_switch_port_find(sw, name, &br, &port)) {
		ERR(c, "no switch port '%s'\n", name);
		return NULL;
	}
	return port;
}

/* The options of switch add-port, as parsed. */
struct add_port_opts {
	struct vsw_vxlan_config vx;
	struct vsw_afxdp_config xc;
	struct vsw_vhost_config vc;
	const char *type, *vsock;
	bool have_xdp_opt, have_vhu_opt, have_vni;
};

/* Says how add-port is called; 2. */
static int add_port_usage(struct cli *c)
{
	ERR(c, "usage: pvnet switch add-port BRIDGE IFNAME [--type afpacket|tap|afxdp|vxlan] "
	       "[--vni N --remote IP [--local IP] [--dstport P]] "
	       "[--queue Q --mode skb|drv|auto --zero-copy|--copy]\n"
	       "       pvnet switch add-port BRIDGE NAME --type vhostuser --socket PATH "
	       "[--server|--client] [--queues N] [--poll on|off|USEC] [--mem-max BYTES]\n");
	return 2;
}

/* --mem-max's bytes, or N K/M/G, at most 1 TiB, into *out; -EINVAL if bad. */
static int parse_mem_max(const char *val, uint64_t *out)
{
	char num[32], *sfx;
	unsigned shift = 0;
	uint64_t v;

	snprintf(num, sizeof(num), "%s", val);
	sfx = num + strcspn(num, "KkMmGg");
	if (*sfx && !sfx[1])
		shift = (*sfx | 0x20) == 'k' ? 10 : (*sfx | 0x20) == 'm' ? 20 : 30;
	if (*sfx && sfx[1])
		shift = 64;
	*sfx = 0;
	if (shift == 64 || parse_u64(num, (1ull << 40) >> shift, &v) || v == 0)
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* An afxdp or vxlan option with a value: 0 taken, 2 bad (said), 1 not one of these. */
static int add_port_opt_net(struct cli *c, struct add_port_opts *o, const char *opt,
			    const char *val)
{
	uint64_t v;

	if (!strcmp(opt, "--queue")) {
		if (parse_u64(val, UINT32_MAX, &v)) {
			ERR(c, "bad --queue '%s'\n", val);
			return 2;
		}
		o->xc.queue = (uint32_t)v;
		o->have_xdp_opt = true;
	} else if (!strcmp(opt, "--mode")) {
		if (!strcmp(val, "skb"))
			o->xc.mode = VSW_AFXDP_MODE_SKB;
		else if (!strcmp(val, "drv"))
			o->xc.mode = VSW_AFXDP_MODE_DRV;
		else if (!strcmp(val, "auto"))
			o->xc.mode = VSW_AFXDP_MODE_AUTO;
		else {
			ERR(c, "bad --mode '%s' (skb, drv, auto)\n", val);
			return 2;
		}
		o->have_xdp_opt = true;
	} else if (!strcmp(opt, "--vni")) {
		if (parse_u64(val, 0xffffff, &v)) {
			ERR(c, "bad --vni '%s' (0..16777215)\n", val);
			return 2;
		}
		o->vx.vni = (uint32_t)v;
		o->have_vni = true;
	} else if (!strcmp(opt, "--remote")) {
		if (o->vx.n_remotes == VSW_VXLAN_MAX_REMOTES ||
		    vsw_ip_parse(val, &o->vx.remotes[o->vx.n_remotes])) {
			ERR(c, "bad --remote '%s'\n", val);
			return 2;
		}
		o->vx.n_remotes++;
	} else if (!strcmp(opt, "--local")) {
		if (vsw_ip_parse(val, &o->vx.local)) {
			ERR(c, "bad --local '%s'\n", val);
			return 2;
		}
	} else if (!strcmp(opt, "--dstport")) {
		if (parse_u64(val, 65535, &v) || v == 0) {
			ERR(c, "bad --dstport '%s'\n", val);
			return 2;
		}
		o->vx.dstport = (uint16_t)v;
	} else {
		return 1;
	}
	return 0;
}

/* A vhostuser option with a value: 0 taken, 2 bad (said), 1 not one of these. */
static int add_port_opt_vhost(struct cli *c, struct add_port_opts *o, const char *opt,
			      const char *val)
{
	uint64_t v;

	if (!strcmp(opt, "--socket")) {
		o->vsock = val;
	} else if (!strcmp(opt, "--queues")) {
		if (parse_u64(val, VSW_VHOST_MAX_QUEUES, &v) || v == 0) {
			ERR(c, "bad --queues '%s' (1..%u)\n", val, VSW_VHOST_MAX_QUEUES);
			return 2;
		}
		o->vc.queues = (unsigned)v;
	} else if (!strcmp(opt, "--poll")) {
		if (!strcmp(val, "on"))
			o->vc.poll_us = VSW_VHOST_POLL_ALWAYS;
		else if (!strcmp(val, "off"))
			o->vc.poll_us = 0;
		else if (parse_u64(val, 10000000, &v) == 0 && v > 0)
			o->vc.poll_us = (unsigned)v;
		else {
			ERR(c, "bad --poll '%s' (on, off, or microseconds 1..10000000)\n", val);
			return 2;
		}
	} else if (!strcmp(opt, "--mem-max")) {
		if (parse_mem_max(val, &v)) {
			ERR(c, "bad --mem-max '%s' (bytes, or N K/M/G; at most 1 TiB)\n", val);
			return 2;
		}
		o->vc.mem_max = v;
	} else {
		return 1;
	}
	o->have_vhu_opt = true;
	return 0;
}

/* add-port's options (argv[4..]) into o: 0, 2 if one is bad (said), -1 for the usage. */
static int add_port_parse(struct cli *c, struct add_port_opts *o, int argc, char **argv)
{
	for (int i = 4; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int rc;

		if (!strcmp(opt, "--zero-copy") || !strcmp(opt, "--copy")) { /* afxdp, no value */
			o->xc.copy = opt[2] == 'z' ? VSW_AFXDP_ZEROCOPY : VSW_AFXDP_COPY;
			o->have_xdp_opt = true;
			continue;
		}
		if (!strcmp(opt, "--server") || !strcmp(opt, "--client")) { /* vhostuser */
			o->vc.client = opt[2] == 'c';
			o->have_vhu_opt = true;
			continue;
		}
		if (!val)
			return -1;
		i++;
		if (!strcmp(opt, "--type")) {
			o->type = val;
			continue;
		}
		rc = add_port_opt_net(c, o, opt, val);
		if (rc == 1)
			rc = add_port_opt_vhost(c, o, opt, val);
		if (rc == 1) {
			ERR(c, "unknown option '%s'\n", opt);
			return -1;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* The options fit the port type and the names are valid: 0, else 1 or 2 (said). */
static int add_port_check(struct cli *c, const struct add_port_opts *o, char **argv)
{
	const char *type = o->type;
	char why[256];

	if (strcmp(type, "vxlan") &&
	    (o->have_vni || o->vx.n_remotes || o->vx.dstport || o->vx.local.family)) {
		ERR(c, "--vni/--remote/--local/--dstport are for --type vxlan\n");
		return 2;
	}
	if (strcmp(type, "afxdp") && o->have_xdp_opt) {
		ERR(c, "--queue/--mode/--zero-copy/--copy are for --type afxdp\n");
		return 2;
	}
	if (strcmp(type, "vhostuser") && o->have_vhu_opt) {
		ERR(c, "--socket/--server/--client/--queues/--poll/--mem-max are for --type "
		       "vhostuser\n");
		return 2;
	}
	if (strcmp(type, "afpacket") && strcmp(type, "tap") && strcmp(type, "vxlan") &&
	    strcmp(type, "afxdp") && strcmp(type, "vhostuser")) {
		ERR(c, "unknown port type '%s' (afpacket, tap, afxdp, vxlan, vhostuser)\n", type);
		return 2;
	}
	if (!strcmp(type, "vhostuser")) {
		if (!o->vsock) {
			ERR(c, "--type vhostuser needs --socket PATH\n");
			return 2;
		}
		/* the rule of a vif's socket=: run dir, below it, or $PVNET_VHOST_DIR */
		if (hvm_socket_path_ok(o->vsock, vhost_run_dir, why, sizeof(why))) {
			ERR(c, "add-port %s %s: %s\n", argv[2], argv[3], why);
			return 1;
		}
	}
	if (!strcmp(type, "vxlan") && (!o->have_vni || !o->vx.n_remotes)) {
		ERR(c, "--type vxlan needs --vni N and --remote IP\n");
		return 2;
	}
	if (!pvnet_state_name_ok(argv[2]) || !pvnet_state_name_ok(argv[3])) {
		ERR(c,
		    "add-port: bridge and port names are 1..%d characters of A-Z a-z 0-9 _ . -\n",
		    PVNET_STATE_NAME_MAX);
		return 2;
	}
	return 0;
}

/* Adds the port of o's type to br; 0 or -errno (said). */
static int add_port_create(struct cli *c, struct add_port_opts *o, struct vsw_bridge *br,
			   struct vsw_worker *w, char **argv, struct vsw_port **port)
{
	const char *type = o->type;
	char why[256];
	int rc;

	if (!strcmp(type, "afxdp")) {
		rc = vsw_afxdp_port_add(br, w, argv[3], &o->xc, why, sizeof(why), port);
		if (rc)
			ERR(c, "add-port %s %s (afxdp): %s; use --type afpacket instead\n", argv[2],
			    argv[3], why);
	} else if (!strcmp(type, "vhostuser")) {
		const char *tmo = getenv("PVNET_VHOST_MSG_TIMEOUT_MS"); /* as for HVM vifs */
		uint64_t t;
		if (tmo && parse_u64(tmo, 600000, &t) == 0 && t > 0)
			o->vc.msg_timeout_ms = (unsigned)t;
		rc = vsw_vhost_port_add(br, argv[3], o->vsock, &o->vc, port);
		if (rc)
			ERR(c, "add-port %s %s (vhostuser): %s\n", argv[2], argv[3],
			    rc == -EEXIST ? "name taken, or a file that is not a socket at --socket"
					  : strerror(-rc));
	} else {
		if (!strcmp(type, "afpacket"))
			rc = vsw_afpacket_port_add(br, w, argv[3], port);
		else if (!strcmp(type, "tap"))
			rc = vsw_tap_port_add(br, w, argv[3], port);
		else
			rc = vsw_vxlan_port_add(br, w, argv[3], &o->vx, port);
		if (rc)
			ERR(c, "add-port %s %s (%s): %s\n", argv[2], argv[3], type,
			    rc == -ENODEV ? "no such interface" : strerror(-rc));
	}
	return rc;
}

static int swc_add_port(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct add_port_opts o = {.vc = {.mem_max = VSW_VHOST_MEM_MAX_CLI}, .type = "afpacket"};
	struct vsw_bridge *br;
	struct vsw_worker *w;
	struct vsw_port *port = NULL;
	bool created;
	int rc;

	if (argc < 4)
		return add_port_usage(c);
	rc = add_port_parse(c, &o, argc, argv);
	if (rc < 0)
		return add_port_usage(c);
	if (rc)
		return rc;
	rc = add_port_check(c, &o, argv);
	if (rc)
		return rc;
	rc = vsw_switch_uplink_worker(sw, &w);
	if (rc) {
		ERR(c, "uplink worker: %s\n", strerror(-rc));
		return 1;
	}
	/* a missing bridge is created for the port, and removed again if the port
	 * cannot be added: no command leaves a bridge behind by failing */
	created = vsw_bridge_find(sw, argv[2], &br) < 0;
	rc = vsw_bridge_get_or_create(sw, argv[2], &br);
	if (rc) {
		ERR(c, "bridge '%s': %s\n", argv[2], strerror(-rc));
		return 1;
	}
	rc = add_port_create(c, &o, br, w, argv, &port);
	if (rc) {
		struct vsw_bridge_stats bs;
		vsw_bridge_get_stats(br, &bs);
		if (created && bs.ports == 0)
			vsw_bridge_del(sw, argv[2]);
		return 1;
	}
	OUT(c, "%s: added port %s (%s), port %u\n", argv[2], argv[3], o.type, vsw_port_no(port));
	return record(c, argc, argv);
}

static int swc_del_port(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_bridge *br;
	struct vsw_port *port;
	char line[256];
	int rc;

	if (argc != 4) {
		ERR(c, "usage: pvnet switch del-port BRIDGE PORT\n");
		return 2;
	}
	if (vsw_bridge_find(sw, argv[2], &br)) {
		ERR(c, "no bridge '%s'\n", argv[2]);
		return 1;
	}
	if (vsw_port_find(br, argv[3], &port)) {
		ERR(c, "no port '%s' on %s\n", argv[3], argv[2]);
		return 1;
	}
	vsw_port_format(port, line, sizeof(line));
	if (strstr(line, " type=vif ")) {
		ERR(c, "%s is a guest's vif: it goes away with the domain (pvnet destroy)\n",
		    argv[3]);
		return 1;
	}
	rc = vsw_port_del(br, port);
	if (rc) {
		ERR(c, "del-port %s: %s\n", argv[3], strerror(-rc));
		return 1;
	}
	OUT(c, "%s: removed port %s\n", argv[2], argv[3]);
	return record(c, argc, argv);
}

static int swc_set_vlan(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_port *port;
	uint64_t vid;

	if (argc != 4) {
		ERR(c, "usage: pvnet switch set-vlan PORT VID\n");
		return 2;
	}
	if (parse_u64(argv[3], VSW_VLAN_MAX, &vid)) {
		ERR(c, "bad VLAN '%s' (0..%u, 0 = untagged)\n", argv[3], VSW_VLAN_MAX);
		return 2;
	}
	port = find_port(c, sw, argv[2]);
	if (!port)
		return 1;
	if (vsw_port_set_access(port, (uint16_t)vid))
		return 1;
	OUT(c, "%s: access port, vlan %u\n", argv[2], (unsigned)vid);
	return record(c, argc, argv);
}

static int swc_set_trunk(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	uint16_t vids[VSW_VLAN_MAX];
	uint64_t native = 0, v;
	unsigned n = 0;
	struct vsw_port *port;
	char *list, *tok, *save = NULL;
	int rc = 2;

	if (argc != 4) {
		ERR(c, "usage: pvnet switch set-trunk PORT VID[,VID...][,native=N]\n");
		return 2;
	}
	list = strdup(argv[3]);
	if (!list)
		return 1;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "native=", 7)) {
			if (parse_u64(tok + 7, VSW_VLAN_MAX, &native)) {
				ERR(c, "bad native VLAN '%s'\n", tok + 7);
				goto out;
			}
		} else if (parse_u64(tok, VSW_VLAN_MAX, &v) || v == 0 || n == VSW_VLAN_MAX) {
			ERR(c, "bad VLAN '%s' (1..%u)\n", tok, VSW_VLAN_MAX);
			goto out;
		} else {
			vids[n++] = (uint16_t)v;
		}
	}
	rc = 1;
	port = find_port(c, sw, argv[2]);
	if (!port)
		goto out;
	if (vsw_port_set_trunk(port, (uint16_t)native, vids, n))
		goto out;
	OUT(c, "%s: trunk, %u tagged VLAN(s), native %u\n", argv[2], n, (unsigned)native);
	rc = record(c, argc, argv);
out:
	free(list);
	return rc;
}

static int swc_mirror(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_mirror_opts o = {0};
	struct vsw_mirror_stats st;
	struct vsw_port *port;
	char why[256] = "";
	uint64_t v;
	int rc;

	if (argc < 4)
		goto usage;
	for (int i = 4; i < argc; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--count") && !parse_u64(argv[i + 1], UINT64_MAX, &v) && v) {
			o.count = v;
		} else if (!strcmp(argv[i], "--snaplen") && !parse_u64(argv[i + 1], 65535, &v) &&
			   v) {
			o.snaplen = (uint32_t)v;
		} else if (!strcmp(argv[i], "--filter")) {
			o.filter = argv[i + 1];
		} else {
			ERR(c, "bad option '%s %s'\n", argv[i], argv[i + 1]);
			goto usage;
		}
	}
	/* pvnet sends FILE made absolute against the user's cwd, and `-` as a FIFO
	 * it reads from */
	if (argv[3][0] != '/') {
		ERR(c, "mirror: give an absolute path (pvnetd's working directory is not yours)\n");
		return 2;
	}
	port = find_port(c, sw, argv[2]);
	if (!port)
		return 1;
	/* a running mirror is someone's capture (maybe a tshark on a pipe): never cut
	 * it off silently; one that reached its --count or lost its reader is done */
	if (vsw_port_mirror_get_stats(port, &st) == 0 && !st.done) {
		ERR(c,
		    "mirror %s: the port already has a running mirror (%llu frames written, "
		    "see pvnet switch port-show %s); pvnet switch mirror-stop %s first\n",
		    argv[2], (unsigned long long)st.written, argv[2], argv[2]);
		return 1;
	}
	o.path = argv[3];
	o.why = why;
	o.why_size = sizeof(why);
	rc = vsw_port_mirror_start_opts(port, &o);
	if (rc) {
		ERR(c, "mirror %s to %s: %s\n", argv[2], argv[3], why[0] ? why : strerror(-rc));
		return 1;
	}
	if (o.count)
		OUT(c, "%s: mirroring to %s, stops after %llu frames\n", argv[2], argv[3],
		    (unsigned long long)o.count);
	else
		OUT(c, "%s: mirroring to %s\n", argv[2], argv[3]);
	return 0;
usage:
	ERR(c, "usage: pvnet switch mirror PORT FILE.pcap|- [--count N] [--snaplen N] "
	       "[--filter 'EXPR']\n");
	return 2;
}

static int swc_mirror_stop(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_port *port;
	uint64_t frames = 0;

	if (argc != 3) {
		ERR(c, "usage: pvnet switch mirror-stop PORT\n");
		return 2;
	}
	port = find_port(c, sw, argv[2]);
	if (!port)
		return 1;
	if (vsw_port_mirror_stop(port, &frames)) {
		ERR(c, "%s: no mirror\n", argv[2]);
		return 1;
	}
	OUT(c, "%s: mirror stopped, %llu frames written\n", argv[2], (unsigned long long)frames);
	return 0;
}

static int swc_replay(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_port *port;
	uint64_t skipped = 0;
	bool ingress = argc == 5 && !strcmp(argv[4], "--ingress");
	int rc;

	if (argc != 4 && !ingress) {
		ERR(c, "usage: pvnet switch replay PORT FILE.pcap [--ingress]\n");
		return 2;
	}
	if (argv[3][0] != '/') {
		ERR(c, "replay: give an absolute path\n");
		return 2;
	}
	port = find_port(c, sw, argv[2]);
	if (!port)
		return 1;
	rc = vsw_port_replay(port, argv[3], ingress, &skipped);
	if (rc < 0) {
		ERR(c, "replay %s into %s: %s\n", argv[3], argv[2],
		    rc == -EBADMSG ? "not a capture file (pcap or pcapng)" : strerror(-rc));
		return 1;
	}
	OUT(c, "%s: replayed %d frames %s (%llu skipped)\n", argv[2], rc,
	    ingress ? "into the bridge" : "out of the port", (unsigned long long)skipped);
	return 0;
}

static int swc_set_antispoof(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_ip_addr ips[VSW_ANTISPOOF_MAX_IPS];
	uint8_t mac[6];
	bool have_mac = false, off = false;
	unsigned n = 0;
	struct vsw_port *port;
	int rc;

	if (argc < 4)
		goto usage;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--off")) {
			off = true;
		} else if (!strcmp(argv[i], "--mac") && i + 1 < argc) {
			if (pvnet_mac_parse(argv[++i], mac) || (mac[0] & 1)) {
				ERR(c, "bad MAC '%s'\n", argv[i]);
				return 2;
			}
			have_mac = true;
		} else if (!strcmp(argv[i], "--ip") && i + 1 < argc) {
			if (n == VSW_ANTISPOOF_MAX_IPS || vsw_ip_parse(argv[++i], &ips[n])) {
				ERR(c, "bad or too many --ip '%s' (at most %u)\n", argv[i],
				    VSW_ANTISPOOF_MAX_IPS);
				return 2;
			}
			n++;
		} else {
			goto usage;
		}
	}
	if (off == have_mac || (off && n))
		goto usage;
	port = find_port(c, sw, argv[2]);
	if (!port)
		return 1;
	rc = vsw_port_set_antispoof(port, off ? NULL : mac, ips, n);
	if (rc) {
		ERR(c, "set-antispoof %s: %s\n", argv[2], strerror(-rc));
		return 1;
	}
	if (off)
		OUT(c, "%s: anti-spoofing off\n", argv[2]);
	else
		OUT(c, "%s: anti-spoofing on (mac%s)\n", argv[2], n ? " + ip" : " only");
	return record(c, argc, argv);
usage:
	ERR(c, "usage: pvnet switch set-antispoof PORT --mac MAC [--ip ADDR ...] | --off\n");
	return 2;
}

/* port-show PORT: text from the collector `port-show --json` prints (switch_report.c) */
static int swc_port_show(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_bridge *br;
	struct vsw_port *port;
	char *text;
	json_t *j;

	if (argc != 3) {
		ERR(c, "usage: pvnet switch port-show PORT [--json]\n");
		return 2;
	}
	if (!find_port(c, sw, argv[2]) || vsw_switch_port_find(sw, argv[2], &br, &port))
		return 1;
	j = swr_port_show(br, port);
	text = j ? swr_port_show_text(j) : NULL;
	json_decref(j);
	if (!text) {
		ERR(c, "out of memory\n");
		return 1;
	}
	OUT(c, "%s", text);
	free(text);
	return 0;
}

/* MAC table knobs (vswitch.h "MAC table limits and ageing"). */
static int swc_set_ageing(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct vsw_bridge *br;
	uint64_t secs;

	if (argc != 4 || parse_u64(argv[3], VSW_FDB_AGEING_MAX_S, &secs) || secs == 0) {
		ERR(c, "usage: pvnet switch set-ageing BRIDGE SECS (1..%u)\n",
		    VSW_FDB_AGEING_MAX_S);
		return 2;
	}
	if (vsw_bridge_find(sw, argv[2], &br)) {
		ERR(c, "no bridge '%s'\n", argv[2]);
		return 1;
	}
	if (vsw_bridge_set_ageing(br, (uint32_t)secs))
		return 1;
	OUT(c, "%s: MAC ageing time %u s\n", argv[2], vsw_bridge_get_ageing(br));
	return record(c, argc, argv);
}

static int swc_set_mac_limit(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	bool bridge = argc == 5 && !strcmp(argv[2], "--bridge");
	struct vsw_bridge *br;
	struct vsw_port *port;
	uint64_t n;

	if ((argc != 4 && !bridge) || parse_u64(argv[argc - 1], VSW_FDB_MAX_ENTRIES, &n) ||
	    (bridge && n == 0)) {
		ERR(c,
		    "usage: pvnet switch set-mac-limit PORT N (0 = bridge default) | "
		    "--bridge BRIDGE N (1..%u)\n",
		    VSW_FDB_MAX_ENTRIES);
		return 2;
	}
	if (bridge) {
		if (vsw_bridge_find(sw, argv[3], &br)) {
			ERR(c, "no bridge '%s'\n", argv[3]);
			return 1;
		}
		if (vsw_bridge_set_mac_limit(br, (uint32_t)n))
			return 1;
		OUT(c, "%s: default MAC limit per port %u\n", argv[3],
		    vsw_bridge_get_mac_limit(br));
		return record(c, argc, argv);
	}
	port = find_port(c, sw, argv[2]);
	if (!port)
		return 1;
	if (vsw_port_set_mac_limit(port, (uint32_t)n))
		return 1;
	OUT(c, "%s: MAC limit %u\n", argv[2], vsw_port_get_mac_limit(port));
	return record(c, argc, argv);
}


/* ---- bridge lifecycle ------------------------------------------------------------ */

static int swc_add_br(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	bool may_exist = argc == 4 && !strcmp(argv[3], "--may-exist");
	char *rec[3] = {argv[0], argv[1], argv[2]};
	struct vsw_bridge *br;
	int rc;

	if (argc != 3 && !may_exist) {
		ERR(c, "usage: pvnet switch add-br BRIDGE [--may-exist]\n");
		return 2;
	}
	if (!pvnet_state_name_ok(argv[2])) {
		ERR(c, "add-br: bridge names are 1..%d characters of A-Z a-z 0-9 _ . -\n",
		    PVNET_STATE_NAME_MAX);
		return 2;
	}
	if (vsw_bridge_find(sw, argv[2], &br) == 0) {
		if (!may_exist) {
			ERR(c,
			    "add-br: bridge %s exists (--may-exist to keep it without an error)\n",
			    argv[2]);
			return 1;
		}
	} else {
		rc = vsw_bridge_get_or_create(sw, argv[2], &br);
		if (rc) {
			ERR(c, "add-br %s: %s\n", argv[2], strerror(-rc));
			return 1;
		}
		OUT(c, "%s: bridge added\n", argv[2]);
	}
	return record(c, 3, rec);
}

struct port_names {
	char (*names)[VSW_NAME_MAX];
	unsigned n, cap;
	char busy[VSW_NAME_MAX + 32]; /* the first guest-owned port: "vif3.0 (vif)" */
};

/* The port's type, from its `switch show` line ("... type=tap up ..."). */
static void port_type(struct vsw_port *port, char *type, size_t size)
{
	char line[1024];
	const char *t;

	vsw_port_format(port, line, sizeof(line));
	t = strstr(line, " type=");
	snprintf(type, size, "%.*s", t ? (int)strcspn(t + 6, " ") : 1, t ? t + 6 : "?");
}

static int collect_port_cb(struct vsw_port *port, void *arg)
{
	struct port_names *pn = arg;
	char type[32];

	port_type(port, type, sizeof(type));
	/* ports the guests and NICs own hold the bridge: netback keeps a pointer to it */
	if (!pn->busy[0] &&
	    (!strcmp(type, "vif") || !strcmp(type, "vhost-user") || !strcmp(type, "nic")))
		snprintf(pn->busy, sizeof(pn->busy), "%s (%s)", vsw_port_name(port), type);
	if (pn->n < pn->cap)
		snprintf(pn->names[pn->n++], VSW_NAME_MAX, "%s", vsw_port_name(port));
	return 0;
}

static int swc_del_br(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	struct port_names pn = {.cap = VSW_PORTS_MAX};
	struct vsw_bridge *br;
	struct vsw_port *port;
	int rc = 1;

	if (argc != 3) {
		ERR(c, "usage: pvnet switch del-br BRIDGE\n");
		return 2;
	}
	if (vsw_bridge_find(sw, argv[2], &br)) {
		ERR(c, "no bridge '%s'\n", argv[2]);
		return 1;
	}
	pn.names = calloc(pn.cap, sizeof(*pn.names));
	if (!pn.names)
		return 1;
	vsw_port_foreach(br, collect_port_cb, &pn);
	if (pn.busy[0]) {
		ERR(c,
		    "del-br %s: port %s belongs to a guest or NIC; destroy the guest (or nic "
		    "del) first\n",
		    argv[2], pn.busy);
		goto out;
	}
	/* ports one by one (each waits for the workers to leave it), then the empty bridge */
	for (unsigned i = 0; i < pn.n; i++)
		if (vsw_port_find(br, pn.names[i], &port) == 0)
			vsw_port_del(br, port);
	if (vsw_bridge_del(sw, argv[2])) {
		ERR(c, "del-br %s: already gone\n", argv[2]);
		goto out;
	}
	OUT(c, "%s: bridge deleted with %u port(s)\n", argv[2], pn.n);
	rc = record(c, argc, argv);
out:
	free(pn.names);
	return rc;
}

static int list_br_cb(struct vsw_bridge *br, void *arg)
{
	OUT((struct cli *)arg, "%s\n", vsw_bridge_name(br));
	return 0;
}

static int list_br_verbose_cb(struct vsw_bridge *br, void *arg)
{
	struct vsw_bridge_stats bs;

	vsw_bridge_get_stats(br, &bs);
	OUT((struct cli *)arg, "%s ports=%u ageing=%us mac_limit=%u fdb_entries=%llu\n",
	    vsw_bridge_name(br), bs.ports, vsw_bridge_get_ageing(br), vsw_bridge_get_mac_limit(br),
	    (unsigned long long)bs.fdb_entries);
	return 0;
}

static int list_br_json_cb(struct vsw_bridge *br, void *arg)
{
	struct vsw_bridge_stats bs;

	vsw_bridge_get_stats(br, &bs);
	return json_array_append_new(arg,
				     json_pack("{s:s, s:i, s:I, s:I, s:I}", "name",
					       vsw_bridge_name(br), "ports", (int)bs.ports,
					       "ageing_s", (json_int_t)vsw_bridge_get_ageing(br),
					       "mac_limit",
					       (json_int_t)vsw_bridge_get_mac_limit(br),
					       "fdb_entries", (json_int_t)bs.fdb_entries))
		       ? -ENOMEM
		       : 0;
}

static int list_port_cb(struct vsw_port *port, void *arg)
{
	OUT((struct cli *)arg, "%s\n", vsw_port_name(port));
	return 0;
}

static int list_port_json_cb(struct vsw_port *port, void *arg)
{
	return json_array_append_new(arg, json_string(vsw_port_name(port))) ? -ENOMEM : 0;
}

/* Prints a JSON document (takes the reference), in pieces that fit a reply. */
static int out_json(struct cli *c, json_t *doc, int rc)
{
	char *text = rc ? NULL : json_dumps(doc, JSON_COMPACT);
	size_t len, off = 0;

	json_decref(doc);
	if (!text) {
		ERR(c, "out of memory\n");
		return 1;
	}
	len = strlen(text);
	while (off < len) {
		size_t n = len - off > 3000 ? 3000 : len - off;
		OUT(c, "%.*s", (int)n, text + off);
		off += n;
	}
	OUT(c, "\n");
	free(text);
	return 0;
}

/* list-br [-v|--json], list-ports BRIDGE [--json] */
static int swc_list_br(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	bool ports = !strcmp(argv[1], "list-ports");
	bool json = argc == 3 + ports && !strcmp(argv[argc - 1], "--json");
	bool verbose = !ports && argc == 3 && !strcmp(argv[2], "-v");
	struct vsw_bridge *br;
	json_t *doc;

	if (argc != 2 + ports && !json && !verbose) {
		ERR(c, "usage: pvnet switch list-br [-v|--json] | list-ports BRIDGE [--json]\n");
		return 2;
	}
	if (ports && vsw_bridge_find(sw, argv[2], &br)) {
		ERR(c, "no bridge '%s'\n", argv[2]);
		return 1;
	}
	if (json) {
		doc = json_array();
		if (!doc)
			return out_json(c, NULL, -ENOMEM);
		return out_json(c, doc,
				ports ? vsw_port_foreach(br, list_port_json_cb, doc)
				      : vsw_switch_foreach(sw, list_br_json_cb, doc));
	}
	if (ports)
		vsw_port_foreach(br, list_port_cb, c);
	else
		vsw_switch_foreach(sw, verbose ? list_br_verbose_cb : list_br_cb, c);
	return 0;
}

static int swc_help(struct cli *c, struct vsw_switch *sw, int argc, char **argv)
{
	(void)sw;
	(void)argc;
	(void)argv;
	switch_cli_print_usage(c->fn, c->arg, 0);
	return 0;
}

typedef int (*swc_fn)(struct cli *c, struct vsw_switch *sw, int argc, char **argv);

/* The handler of each `switch SUB` row of the command table (NULL: report.c's) */
static const struct {
	const char *sub;
	swc_fn fn;
} swc_cmds[] = {
#define SWC_G(title)
#define SWC_C(name, sub, dfn, cfn, flags, args, help)
#define SWC_S(sub, swfn, cfn, flags, args, help) {sub, swfn},
	PVNET_CTL_COMMANDS(SWC_G, SWC_C, SWC_S)};

int switch_cli_ext(struct vsw_switch *sw, switch_cli_out_fn out, void *out_arg, int argc,
		   char **argv)
{
	struct cli c = {out, out_arg};

	if (argc < 2 || strcmp(argv[0], "switch"))
		return -1;
	for (size_t i = 0; i < sizeof(swc_cmds) / sizeof(swc_cmds[0]); i++) {
		if (!swc_cmds[i].fn || strcmp(argv[1], swc_cmds[i].sub))
			continue;
		if (!sw) {
			ERR(&c, "the switch is not running\n");
			return 1;
		}
		return swc_cmds[i].fn(&c, sw, argc, argv);
	}
	return -1;
}
