/* SPDX-License-Identifier: MIT */
/* pvnet client: the switch capture commands that need the client's side (capture.c). */
#ifndef PVNET_TOOL_CAPTURE_H
#define PVNET_TOOL_CAPTURE_H

/* Sends argv (+ payload) to pvnetd and relays its answer; returns the exit status
 * (main.c). */
int ctl_call(int argc, char **argv, const char *payload, size_t payload_len);

/*
 * `pvnet switch mirror PORT FILE|- ...` and `pvnet switch replay PORT FILE ...`:
 * a relative FILE is made absolute against the client's working directory (pvnetd's
 * is not the user's). `mirror PORT -` streams the capture to stdout: pvnet makes a
 * FIFO in a private temporary directory, pvnetd's mirror writes into it, pvnet
 * copies it to stdout until pvnetd closes it (--count reached, mirror-stop) or
 * stdout's reader goes away; pvnetd's messages go to stderr. Without FILE (argc < 4)
 * argv goes to pvnetd as it is. Returns the exit status.
 */
int cmd_switch_capture(int argc, char **argv);

#endif
