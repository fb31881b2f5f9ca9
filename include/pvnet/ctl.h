/* SPDX-License-Identifier: MIT */
/*
 * pvnet/ctl.h - the toolstack control protocol between `pvnet` (the CLI) and
 * pvnetd, over the SOCK_SEQPACKET socket <run-dir>/pvnetd.sock.
 *
 * Request: one message: the protocol marker "pvnet-ctl/<PVNET_CTL_VERSION>" and
 * then the command's argv, as NUL-terminated strings
 * ("pvnet-ctl/2\0create\0web1.cfg\0"), optionally followed by
 * PVNET_CTL_PAYLOAD_SEP and a payload (the config file's text for `create`).
 * At most PVNET_CTL_MSG_MAX bytes; a larger one is refused ('E' + "X2").
 *
 * Replies: any number of messages whose first byte says what follows:
 *   'V' first: the daemon's protocol version and release, "V2 0.1.0";
 *   'O' text for stdout, 'E' text for stderr, and finally
 *   'X' followed by the exit status as decimal text ("X0", "X1").
 * The daemon closes nothing on a bad request: it answers 'E' + 'X2'. A request
 * without the marker (protocol 1, before versions) or with another version is
 * answered 'E' naming both versions + "X2" and not run; a client that gets no 'V'
 * first is talking to a daemon of protocol 1 and says so.
 *
 * Limits (docs/security.md, "Control plane"): a connection may hold at most
 * PVNET_CTL_OUT_MAX bytes of replies the client has not read, else it is closed;
 * one with queued replies and no progress for PVNET_CTL_STALL_MS, or that sends no
 * request for PVNET_CTL_IDLE_MS after connecting or after its last reply, is
 * closed; at most PVNET_CTL_MAX_CONNS connections are open, a new one past that
 * closing the oldest idle one. The daemon never blocks on a client.
 */
#ifndef PVNET_CTL_H
#define PVNET_CTL_H

#include <pvnet/version.h>

#define PVNET_CTL_VERSION 2
#define PVNET_CTL_MARKER "pvnet-ctl/" /* + decimal version: the request's first string */
#define PVNET_CTL_MSG_MAX (256 * 1024)
#define PVNET_CTL_OUT_MAX (1024 * 1024)
#define PVNET_CTL_STALL_MS 5000
#define PVNET_CTL_IDLE_MS 5000
#define PVNET_CTL_MAX_CONNS 64
#define PVNET_CTL_PAYLOAD_SEP '\x1e' /* ASCII record separator, never in an argument */
#define PVNET_DEFAULT_RUN_DIR "/run/pvnet"
#define PVNET_CTL_SOCK "pvnetd.sock"
#define PVNET_XS_SOCK "xenstored"
#define PVNET_PID_FILE "pvnetd.pid"

#endif /* PVNET_CTL_H */
