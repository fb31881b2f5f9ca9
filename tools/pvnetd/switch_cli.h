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
 * Runs `switch <sub> ...` (argv[0] == "switch"). Handles add-port, del-port,
 * set-vlan, set-trunk, mirror, mirror-stop, replay, set-antispoof, port-show
 * (and `help`). Returns the exit status (0 ok, 1 failed, 2 usage), or -1 when
 * argv[1] is not one of these (e.g. `show`, `fdb`: the caller dispatches those).
 */
int switch_cli_ext(struct vsw_switch *sw, switch_cli_out_fn out, void *out_arg, int argc,
		   char **argv);

#endif /* PVNETD_SWITCH_CLI_H */
