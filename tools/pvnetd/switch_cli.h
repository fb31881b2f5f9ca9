/* SPDX-License-Identifier: MIT */
/*
 * The `pvnet switch ...` configuration commands (switch_cli.c), independent of
 * pvnetd's private state: output goes through a callback.
 */
#ifndef PVNETD_SWITCH_CLI_H
#define PVNETD_SWITCH_CLI_H

#include <pvnet/vswitch.h>

/* Receives one chunk of reply text; is_err: for stderr ('E') instead of stdout ('O'). */
typedef void (*switch_cli_out_fn)(void *arg, int is_err, const char *text);

/*
 * Called after a configuration command succeeded, with its argv ("switch",
 * "set-vlan", "veth0", "10"): saves it (pvnetd's state file). Returns 0, or
 * -errno with a one-line reason in err[0..size) (the change is live but not saved:
 * the command then exits 1 with that reason).
 */
typedef int (*switch_cli_record_fn)(void *arg, int argc, char **argv, char *err, size_t size);
/* The run dir, for the rule on vhostuser --socket paths (hvm_socket_path_ok). */
void switch_cli_set_run_dir(const char *run_dir);
/* Sets the recorder (NULL: none, e.g. while pvnetd replays its state file). */
void switch_cli_set_recorder(switch_cli_record_fn fn, void *arg);

/*
 * Runs `switch <sub> ...` (argv[0] == "switch"): the `switch` rows of the
 * command table (include/pvnet/ctl_commands.h) with a handler here: add-br,
 * del-br, list-br, list-ports, add-port, del-port, set-vlan, set-trunk, mirror,
 * mirror-stop, replay, set-antispoof, port-show, set-ageing, set-mac-limit, help.
 * add-port to a missing bridge creates it, and deletes it again if the
 * port cannot be added. del-br refuses a bridge with a guest's or NIC's port
 * (vif, vhost-user, nic): netback holds those; it deletes device ports first.
 * Returns the exit status (0 ok, 1 failed, 2 usage), or -1 when
 * argv[1] is not one of these (e.g. `show`, `fdb`: the caller dispatches those).
 */
/* Every `pvnet switch` command with its options (`switch help`; a bad subcommand's
 * usage, then is_err), from the command table. */
void switch_cli_print_usage(switch_cli_out_fn out, void *out_arg, int is_err);

int switch_cli_ext(struct vsw_switch *sw, switch_cli_out_fn out, void *out_arg, int argc,
		   char **argv);

#endif /* PVNETD_SWITCH_CLI_H */
