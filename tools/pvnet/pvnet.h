/* SPDX-License-Identifier: MIT */
/* pvnet.h - what the pvnet CLI's source files share. */
#ifndef PVNET_CLI_H
#define PVNET_CLI_H

#include <stddef.h>

/*
 * Sends argv (+ payload when not NULL) to pvnetd and relays its answer to
 * stdout/stderr; returns the command's exit status (1 if pvnetd is unreachable).
 */
int ctl_call(int argc, char **argv, const char *payload, size_t payload_len);

/* pvnet create [-n] FILE [KEY=VALUE ...] (create.c); argv[0] is "create". */
int cmd_create(int argc, char **argv);

#endif /* PVNET_CLI_H */
