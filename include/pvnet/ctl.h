/* SPDX-License-Identifier: MIT */
/*
 * pvnet/ctl.h - the toolstack control protocol between `pvnet` (the CLI) and
 * pvnetd, over the SOCK_SEQPACKET socket <run-dir>/pvnetd.sock.
 *
 * Request: one message, the command's argv as NUL-terminated strings
 * ("create\0web1.cfg\0"), optionally followed by PVNET_CTL_PAYLOAD_SEP and a
 * payload (the config file's text for `create`). At most PVNET_CTL_MSG_MAX bytes.
 *
 * Replies: any number of messages whose first byte says what follows:
 *   'O' text for stdout, 'E' text for stderr, and finally
 *   'X' followed by the exit status as decimal text ("X0", "X1").
 * The daemon closes nothing on a bad request: it answers 'E' + 'X2'.
 */
#ifndef PVNET_CTL_H
#define PVNET_CTL_H

#define PVNET_CTL_MSG_MAX (256 * 1024)
#define PVNET_CTL_PAYLOAD_SEP '\x1e' /* ASCII record separator, never in an argument */
#define PVNET_DEFAULT_RUN_DIR "/run/pvnet"
#define PVNET_CTL_SOCK "pvnetd.sock"
#define PVNET_XS_SOCK "xenstored"
#define PVNET_PID_FILE "pvnetd.pid"
#define PVNET_VERSION "0.1.0"

#endif /* PVNET_CTL_H */
