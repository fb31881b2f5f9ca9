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

/*
 * As ctl_call without a payload, but pvnetd's stdout replies are returned in *text
 * (malloc'd, NUL-terminated; the caller frees it) instead of printed; its stderr
 * replies still go to stderr. On a non-zero status *text is NULL.
 */
int ctl_call_capture(int argc, char **argv, char **text);

/* pvnet top [-b] [-d SECS] [-n ITER] (top.c); argv[0] is "top". */
int cmd_top(int argc, char **argv);

/* pvnet create [-n] FILE [KEY=VALUE ...] (create.c); argv[0] is "create". */
int cmd_create(int argc, char **argv);

#endif /* PVNET_CLI_H */
