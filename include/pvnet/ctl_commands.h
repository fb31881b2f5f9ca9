/* SPDX-License-Identifier: MIT */
/*
 * ctl_commands.h - every `pvnet` command, one row each: the table pvnetd
 * dispatches its control requests with (tools/pvnetd/cli.c, switch_cli.c), pvnet
 * runs its own commands with (tools/pvnet/main.c), and `pvnet help`, `pvnet
 * --dump-commands`, the bash completion and man pvnet(1)'s synopsis are made
 * from (scripts/cli-docs.py). Adding a command is one row here plus its handler.
 *
 * The table is an X-macro: PVNET_CTL_COMMANDS(G, C, S) expands
 *   G(TITLE)                               a heading of `pvnet help`
 *   C(NAME, SUB, DFN, CFN, FLAGS, ARGS, HELP)  a command (SUB: NULL, or its
 *                                          subcommand word, e.g. nic "add")
 *   S(SUB, SWFN, CFN, FLAGS, ARGS, HELP)   a `switch SUB` command
 * with
 *   DFN   pvnetd's handler, int (*)(struct pvnetd *, struct outbuf *, int argc,
 *         char **argv) (argv[0] is NAME; the request's output format and payload
 *         are in the outbuf); NULL: pvnetd does not answer it itself (report.c
 *         answers the PVNET_CMD_JSON ones; a NULL that report.c does not answer
 *         is an unknown command to pvnetd).
 *   SWFN  switch_cli.c's handler of a switch command (NULL: report.c's).
 *   CFN   pvnet's own handler, int (*)(int argc, char **argv): it runs the
 *         command or prepares the request (reads the config file, makes a path
 *         absolute); NULL: pvnet sends argv to pvnetd as it is.
 *   ARGS  the argument synopsis after "pvnet NAME [SUB]"; a '\n' starts a
 *         continuation line. Options are written as they are typed (--json).
 *   HELP  one line (a '\n' continues it in the help column).
 * Each expansion names the macros it needs and ignores the other columns, so a
 * handler is only referenced by the program that has it.
 */
#ifndef PVNET_CTL_COMMANDS_H
#define PVNET_CTL_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

enum pvnet_cmd_flags {
	/* needs a running pvnetd (help, console and bench do not) */
	PVNET_CMD_DAEMON = 1u << 0,
	/* changes something: pvnetd logs who asked, and does not serve it while
	 * another command runs (only commands without this flag are served then) */
	PVNET_CMD_MUTATES = 1u << 1,
	/* with PVNET_CMD_MUTATES: given no argument the command only reads */
	PVNET_CMD_READ_BARE = 1u << 2,
	/* takes --json (and --format=FMT): prints one JSON document */
	PVNET_CMD_JSON = 1u << 3,
	/* refused to a client whose uid is neither 0 nor pvnetd's (read commands are
	 * answered to anyone who can reach pvnetd.sock) */
	PVNET_CMD_PRIV = 1u << 4,
};

#define PVNET_CMD_RD (PVNET_CMD_DAEMON)
#define PVNET_CMD_RDJ (PVNET_CMD_DAEMON | PVNET_CMD_JSON)
#define PVNET_CMD_WR (PVNET_CMD_DAEMON | PVNET_CMD_MUTATES | PVNET_CMD_PRIV)

/* clang-format off */
#define PVNET_CTL_COMMANDS(G, C, S)                                                              \
	G("Domains")                                                                             \
	C("info", NULL, NULL, NULL, PVNET_CMD_RDJ, "[--json]",                                   \
	  "hypervisor and daemon information")                                                   \
	C("list", NULL, NULL, NULL, PVNET_CMD_RDJ, "[-v] [NAME|ID ...] [--json]",                \
	  "domains (Name, ID, Mem, VCPUs, State, Time(s): CPU\n"                                 \
	  "seconds, as xl list; -v adds the UUID and PID)")                                      \
	C("create", NULL, cmd_create_dom, cmd_create, PVNET_CMD_WR, "[-n] FILE [KEY=VALUE ...]", \
	  "create a domain from an xl config file\n"                                             \
	  "(-n: check it, print it as JSON, create nothing)")                                    \
	C("destroy", NULL, cmd_destroy, NULL, PVNET_CMD_WR, "NAME|ID",                           \
	  "stop a domain at once (SIGKILL, as xl destroy)\n"                                     \
	  "and free everything it had")                                                          \
	C("shutdown", NULL, cmd_shutdown, NULL, PVNET_CMD_WR,                                    \
	  "[-w|--wait] [-t|--timeout SECS] NAME|ID | --all [-w] [-t SECS]",                      \
	  "ask domains to shut down (control/shutdown) and\n"                                    \
	  "return; --wait: until gone, destroyed after SECS\n"                                   \
	  "(3) (pvnetd's own stop leaves PV guests running)")                                    \
	C("migrate", NULL, cmd_migrate, NULL, PVNET_CMD_WR, "NAME|ID IPV4:PORT [--live|--no-live] [--verify]", \
	  "live-migrate a PV guest to the pvnetd listening\n"                                    \
	  "there (--migrate-listen, same --migrate-key)")                                        \
	C("domid", NULL, cmd_domid, NULL, PVNET_CMD_RD, "NAME", "the id of a domain")            \
	G("Network")                                                                             \
	C("vif-list", NULL, NULL, NULL, PVNET_CMD_RDJ, "DOMAIN [--json]",                        \
	  "the domain's vifs: state, queues, bridge, features")                                  \
	C("vif-set-rate", NULL, cmd_vif_set_rate, NULL, PVNET_CMD_WR, "VIF RATE",                \
	  "limit a vif's guest TX (vifD.N or D/N; 10Mb/s@50ms | off)")                           \
	C("network-attach", NULL, cmd_network_attach, NULL, PVNET_CMD_WR, "DOMAIN 'VIFSPEC'",    \
	  "add a vif to a running PV guest (xl's vif\n"                                          \
	  "syntax, e.g. 'bridge=br1,ip=10.1.0.2/24'; devid=N)")                                  \
	C("network-detach", NULL, cmd_network_detach, NULL, PVNET_CMD_WR, "DOMAIN DEVID|MAC",    \
	  "remove a vif (forced after 2 s without answer)")                                      \
	C("network-list", NULL, cmd_network_list, NULL, PVNET_CMD_RDJ, "DOMAIN [--json]",        \
	  "xl's vif table: Idx BE Mac handle state evt-ch refs")                                 \
	C("stats", NULL, NULL, NULL, PVNET_CMD_RDJ, "[--json|--format=prometheus]",              \
	  "per vif and switch port: packets, bytes, drops")                                      \
	C("top", NULL, NULL, cmd_top, PVNET_CMD_RD,                                              \
	  "[-b|--batch] [-d|--delay SECS] [-n|--iterations ITER]",                               \
	  "per domain: network rates, pps, drops, CPU (xentop)")                                 \
	G("Switch (switch settings are saved: pvnetd --state-dir)")                              \
	S("show", NULL, NULL, PVNET_CMD_RDJ, "[--json]", "bridges, their ports and VLAN modes")  \
	S("fdb", NULL, NULL, PVNET_CMD_RDJ, "BRIDGE [--json]",                                   \
	  "the MAC table: port, VLAN, MAC, age")                                                 \
	S("add-br", swc_add_br, NULL, PVNET_CMD_WR, "BRIDGE [--may-exist]", "create a bridge")   \
	S("del-br", swc_del_br, NULL, PVNET_CMD_WR, "BRIDGE",                                    \
	  "delete a bridge and its ports (not while guests use it)")                             \
	S("list-br", swc_list_br, NULL, PVNET_CMD_RDJ, "[-v|--json]",                            \
	  "bridges, one a line (-v: ports, ageing, MAC limit)")                                  \
	S("list-ports", swc_list_br, NULL, PVNET_CMD_RDJ, "BRIDGE [--json]",                     \
	  "ports of a bridge, one a line")                                                       \
	S("add-port", swc_add_port, NULL, PVNET_CMD_WR,                                          \
	  "BRIDGE IFNAME [--type afpacket|tap|afxdp|vxlan]\n"                                    \
	  "BRIDGE NAME --type vhostuser --socket PATH [--server|--client]\n"                     \
	  "[--queues N] [--poll on|off|USEC] [--mem-max BYTES[K|M|G]]\n"                         \
	  "[--queue Q] [--mode skb|drv|auto] [--zero-copy|--copy]   (afxdp)\n"                   \
	  "[--vni N --remote IP [--remote IP ...] [--local IP] [--dstport P]]",                  \
	  "add a port (a missing bridge is created)")                                            \
	S("del-port", swc_del_port, NULL, PVNET_CMD_WR, "BRIDGE PORT", "remove a port")          \
	S("set-vlan", swc_set_vlan, NULL, PVNET_CMD_WR, "PORT VID",                              \
	  "access port on VID (0 = untagged)")                                                   \
	S("set-trunk", swc_set_trunk, NULL, PVNET_CMD_WR, "PORT VID[,VID...][,native=N]",        \
	  "trunk port carrying these VLANs")                                                     \
	S("set-ageing", swc_set_ageing, NULL, PVNET_CMD_WR, "BRIDGE SECS",                       \
	  "MAC ageing time (default 300)")                                                       \
	S("set-mac-limit", swc_set_mac_limit, NULL, PVNET_CMD_WR,                                \
	  "PORT N | --bridge BRIDGE N", "learnt-MAC limit (0: bridge default)")                  \
	S("mirror", swc_mirror, cmd_switch_capture, PVNET_CMD_WR,                                \
	  "PORT FILE.pcap|- [--count N] [--snaplen N] [--filter 'EXPR']",                        \
	  "capture what PORT sends and receives\n"                                               \
	  "(- : to pvnet's stdout, e.g. | tshark -r -)")                                         \
	S("mirror-stop", swc_mirror_stop, NULL, PVNET_CMD_WR, "PORT", "stop PORT's mirror")      \
	S("replay", swc_replay, cmd_switch_capture, PVNET_CMD_WR, "PORT FILE.pcap [--ingress]",  \
	  "send a capture out of PORT (or into the bridge)")                                     \
	S("set-antispoof", swc_set_antispoof, NULL, PVNET_CMD_WR,                                \
	  "PORT --mac MAC [--ip ADDR ...] | --off",                                              \
	  "what a port may send from (MAC, addresses)")                                          \
	S("port-show", swc_port_show, NULL, PVNET_CMD_RDJ, "PORT [--json]",                      \
	  "settings and counters of one port")                                                   \
	S("help", swc_help, NULL, PVNET_CMD_RD, "", "every switch command with its options")     \
	G("NIC accelerators (docs/nic-levels.md)")                                               \
	C("nic", "add", cmd_nic, NULL, PVNET_CMD_WR,                                             \
	  "NAME --plugin P [--wire IFNAME] [--vfs N] [--bridge BR] [--devargs S]",               \
	  "open a NIC; its uplink port NAME joins BR (default br0)")                             \
	C("nic", "list", cmd_nic, NULL, PVNET_CMD_RDJ, "[--json]",                               \
	  "NICs: plugin, wire, bridge, VFs, wire counters")                                      \
	C("nic", "del", cmd_nic, NULL, PVNET_CMD_WR, "NAME", "close a NIC")                      \
	C("accel", "list", cmd_accel, NULL, PVNET_CMD_RDJ, "[--json]",                           \
	  "loaded accelerator plugins (name, version, ABI, levels)")                             \
	C("accel", "detach", cmd_accel, NULL, PVNET_CMD_WR, "VIF",                               \
	  "move a vif to the software path")                                                     \
	C("accel", "attach", cmd_accel, NULL, PVNET_CMD_WR, "VIF",                               \
	  "move a vif back to its accelerator")                                                  \
	C("ethtool", NULL, cmd_ethtool, NULL, PVNET_CMD_RD, "-k|-S VIF|NIC",                     \
	  "offload features (-k) or NIC counters (-S),\n"                                        \
	  "in ethtool's layouts")                                                                \
	G("Daemon")                                                                              \
	C("log-level", NULL, cmd_log_level, NULL, PVNET_CMD_WR | PVNET_CMD_READ_BARE,            \
	  "[MODULE] LEVEL",                                                                      \
	  "pvnetd's log threshold (err|warn|info|debug), for\n"                                  \
	  "all modules or one (pvnetd, ctl, netback, ...);\n"                                    \
	  "no argument: the thresholds in force")                                                \
	G("Store and consoles")                                                                  \
	C("xenstore-ls", NULL, NULL, cmd_xenstore_ls, PVNET_CMD_RD, "[PATH]",                    \
	  "the store tree under PATH (default /)")                                               \
	C("console", NULL, NULL, cmd_console, 0, "NAME [-f]",                                    \
	  "a guest's console log (-f: follow it)")                                               \
	G("Benchmarks and help")                                                                 \
	C("bench", NULL, NULL, cmd_bench, 0, "[--quick] [--json FILE]",                          \
	  "perf/bench.sh: pvnet and its peers, one table")                                       \
	C("help", NULL, NULL, cmd_help, 0, "[COMMAND [SUBCOMMAND]]",                             \
	  "this list, or one command's synopsis")
/* clang-format on */

/* The number of rows (G rows included): every array expanded from the table has it. */
#define PVNET_CTL_ONE_G(title) +1
#define PVNET_CTL_ONE_C(name, sub, dfn, cfn, flags, args, help) +1
#define PVNET_CTL_ONE_S(sub, swfn, cfn, flags, args, help) +1
enum { PVNET_CTL_NROWS = 0 PVNET_CTL_COMMANDS(PVNET_CTL_ONE_G, PVNET_CTL_ONE_C, PVNET_CTL_ONE_S) };

/* One row of the table, without its handlers (tools/lib/ctl_commands.c). */
struct pvnet_cmd_info {
	const char *group; /* a G row's title; NULL for C and S rows */
	const char *name;  /* NULL for a G row */
	const char *sub;   /* NULL: the command takes no subcommand word */
	unsigned flags;    /* enum pvnet_cmd_flags */
	const char *args;
	const char *help;
};

/* The table, in order: pvnet_cmds[i] is row i of every expansion (G rows
 * included, so a handler array expanded from the same list lines up). */
extern const struct pvnet_cmd_info pvnet_cmds[];
extern const unsigned pvnet_n_cmds;

/*
 * The row of argv (argv[0] a command; argv[1] its subcommand when the command
 * has subcommands): its index, or -1 when argv[0] is no command. A command with
 * subcommands given none, or one it does not have, returns its first row and
 * sets *exact to false (the handler then answers with its usage); else *exact
 * is true. exact may be NULL.
 */
int pvnet_cmd_find(int argc, char *const *argv, bool *exact);

/* Does row i change nothing when run with argc arguments (argv[0] included)? */
bool pvnet_cmd_read_only(unsigned i, int argc);

/*
 * Writes the help to f: every command under its heading (name == NULL), the
 * commands called name (sub == NULL), or one. Returns the rows written.
 */
unsigned pvnet_cmd_print_help(FILE *f, const char *name, const char *sub);

/* `pvnet switch help`: "usage: pvnet switch COMMAND ..." and every switch row. */
void pvnet_cmd_print_switch_help(FILE *f);

/*
 * Writes the table for other tools, one row a line, tab-separated: name, sub
 * ("-" for none), flags (comma-separated words: daemon mutates read-bare json
 * priv; "-" for none), args, help; '\n' inside args and help written as "\n".
 */
void pvnet_cmd_dump(FILE *f);

#endif /* PVNET_CTL_COMMANDS_H */
