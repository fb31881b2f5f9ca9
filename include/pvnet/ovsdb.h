/* SPDX-License-Identifier: MIT */
/*
 * pvnet/ovsdb.h - a small OVSDB client (RFC 7047: JSON-RPC 1.0 over a stream socket).
 *
 * Three layers, each usable and testable alone:
 *
 *   ovsdb_framer   splits a byte stream into JSON-RPC messages. OVSDB puts JSON texts
 *                  back to back with no delimiter; the framer tracks string/escape
 *                  state and {}/[] depth, so a message may arrive in any number of
 *                  pieces. Wire-controlled input: bounded (max_size bytes per message,
 *                  OVSDB_MSG_MAX_DEFAULT), fuzzed (tests/fuzz/fuzz_ovsdb.c).
 *   ovsdb_replica  a copy of the monitored tables built from a `monitor` reply and
 *                  `update` notifications (RFC 7047 4.1.5/4.1.6 <table-updates>).
 *                  An update is validated as a whole before any of it is applied: a
 *                  malformed one changes nothing. Bounded to max_rows rows.
 *   ovsdb_conn     a non-blocking connection (unix:PATH or tcp:IP:PORT) for a poll()
 *                  loop: bounded output queue, answers the server's echo, sends its own
 *                  echo after OVSDB_IDLE_PROBE_MS of silence and drops a connection
 *                  silent for twice that, reconnects with exponential backoff
 *                  (OVSDB_BACKOFF_MIN_MS doubling up to OVSDB_BACKOFF_MAX_MS).
 *
 * JSON values are libjansson's json_t. None of these functions blocks. Not thread-safe:
 * one owner thread per object.
 */
#ifndef PVNET_OVSDB_H
#define PVNET_OVSDB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define OVSDB_MSG_MAX_DEFAULT (16u << 20) /* one JSON-RPC message, bytes */
#define OVSDB_OUTQ_MAX (4u << 20)         /* queued output, bytes */
#define OVSDB_ROWS_MAX_DEFAULT 200000u    /* rows kept by a replica */
#define OVSDB_BACKOFF_MIN_MS 250u
#define OVSDB_BACKOFF_MAX_MS 8000u
#define OVSDB_MAX_REMOTES 8u /* "A,B,C" targets: a cluster's members */
#define OVSDB_IDLE_PROBE_MS 5000u

/* ---- framer ------------------------------------------------------------------------ */

struct ovsdb_framer {
	char *buf;
	size_t len; /* bytes held */
	size_t cap;
	size_t max;   /* largest message accepted */
	size_t start; /* first byte of the message being scanned */
	size_t scan;  /* next byte to scan */
	unsigned depth;
	int in_str;
	int esc;
};

/* Initialises an empty framer; max_size 0 means OVSDB_MSG_MAX_DEFAULT. */
void ovsdb_framer_init(struct ovsdb_framer *f, size_t max_size);
/* Frees the buffer; the framer may be initialised again. */
void ovsdb_framer_fini(struct ovsdb_framer *f);
/*
 * Appends `size` bytes. 0, -ENOMEM, or -EMSGSIZE when the message being received would
 * be longer than max_size (the framer is then reset: the stream has lost its framing
 * and the caller should drop the connection).
 */
int ovsdb_framer_push(struct ovsdb_framer *f, const void *data, size_t size);
/*
 * Takes the next complete message. 1 and *out (a new reference the caller owns), 0 when
 * no complete message is buffered yet, -EPROTO when the next text is not a JSON object
 * (it is consumed; a text that does not start with '{' makes the framer drop all it
 * holds, since the framing is lost).
 */
int ovsdb_framer_next(struct ovsdb_framer *f, json_t **out);

/* ---- replica ----------------------------------------------------------------------- */

struct ovsdb_replica {
	json_t *tables; /* {"Table": {"<uuid>": {column: datum, ...}}} */
	size_t rows;
	size_t max_rows;
};

/* max_rows 0 means OVSDB_ROWS_MAX_DEFAULT. 0 or -ENOMEM. */
int ovsdb_replica_init(struct ovsdb_replica *r, size_t max_rows);
void ovsdb_replica_fini(struct ovsdb_replica *r);
/* Forgets every row (a reconnect's full resync starts from here). */
void ovsdb_replica_clear(struct ovsdb_replica *r);
/*
 * Applies <table-updates> (borrowed). `replace` != 0 (a monitor reply): the replica
 * becomes exactly what `updates` holds, nothing earlier survives. Returns 0, -EINVAL
 * (malformed: nothing changed), -ENOSPC (more than max_rows rows: nothing changed) or
 * -ENOMEM. A "modify" row-update merges its "new" columns into the row.
 */
int ovsdb_replica_apply(struct ovsdb_replica *r, json_t *updates, int replace);
/* The row (borrowed, valid until the next apply/clear) or NULL. */
json_t *ovsdb_replica_row(const struct ovsdb_replica *r, const char *table, const char *uuid);
/* The table's {"<uuid>": row} object (borrowed) or NULL when it has no rows. */
json_t *ovsdb_replica_table(const struct ovsdb_replica *r, const char *table);

/* ---- datum helpers (RFC 7047 5.1 notation) ----------------------------------------- */

/* The uuid string of ["uuid","..."] (or ["named-uuid", ...]), else NULL. */
const char *ovsdb_atom_uuid(const json_t *atom);
/* 1 if `s` is a 36-character RFC 4122 textual uuid. */
int ovsdb_uuid_valid(const char *s);
/* Elements of a set datum: a bare atom counts as a set of one; ["set",[...]]. */
size_t ovsdb_set_len(const json_t *datum);
const json_t *ovsdb_set_get(const json_t *datum, size_t i);
/* Pairs of ["map",[[k,v],...]]: count, then 0 and borrowed *k and *v, or -EINVAL. */
size_t ovsdb_map_len(const json_t *datum);
int ovsdb_map_pair(const json_t *datum, size_t i, const json_t **k, const json_t **v);
/* The column as a string (a string atom, or a set of exactly one string), else NULL. */
const char *ovsdb_row_string(const json_t *row, const char *column);
/* New references: ["uuid", s], ["named-uuid", s], ["set", [...]] with `elems` stolen. */
json_t *ovsdb_uuid_ref(const char *uuid);
json_t *ovsdb_named_ref(const char *name);
json_t *ovsdb_set_of(json_t *elems);

/* ---- connection -------------------------------------------------------------------- */

struct ovsdb_conn;

struct ovsdb_conn_ops {
	/* The connection is up (again): the place to send monitor requests. */
	void (*connected)(void *arg, struct ovsdb_conn *c);
	/* The connection went down: requests in flight are lost. */
	void (*disconnected)(void *arg, struct ovsdb_conn *c);
	/* A reply to our request `id`; result or error (both borrowed, one may be null). */
	void (*reply)(void *arg, struct ovsdb_conn *c, uint64_t id, json_t *result, json_t *error);
	/* A notification or request other than echo (method and params borrowed). */
	void (*notify)(void *arg, struct ovsdb_conn *c, const char *method, json_t *params);
};

struct ovsdb_conn_stats {
	uint64_t connects;      /* successful connections */
	uint64_t connect_fails; /* attempts that failed */
	uint64_t disconnects;   /* established connections lost */
	uint64_t msgs_in;
	uint64_t msgs_out;
	uint64_t bad_msgs;   /* not JSON, not an object, not JSON-RPC: logged, ignored */
	uint64_t oversize;   /* a message longer than the limit: connection dropped */
	uint64_t outq_full;  /* a send refused, the output queue was at OVSDB_OUTQ_MAX */
	uint64_t idle_drops; /* silent past twice the probe interval: dropped */
};

/*
 * Creates a connection to `target` ("unix:PATH" or "tcp:IPv4:PORT" / "tcp:[IPv6]:PORT",
 * or up to OVSDB_MAX_REMOTES of them separated by commas: the members of a clustered
 * database, tried in turn, one more at each reconnect) and starts the first connect at
 * the next ovsdb_conn_run(). `ops` and `arg` are
 * borrowed for the connection's life. 0, -EINVAL (bad target), -ENOMEM.
 */
int ovsdb_conn_create(const char *target, const struct ovsdb_conn_ops *ops, void *arg,
		      struct ovsdb_conn **out);
/* Closes and frees; NULL is a no-op. Calls no callback. */
void ovsdb_conn_destroy(struct ovsdb_conn *c);
/* The fd to poll (-1 while waiting to reconnect) and the events to ask for. */
int ovsdb_conn_fd(const struct ovsdb_conn *c);
short ovsdb_conn_events(const struct ovsdb_conn *c);
/* Milliseconds until ovsdb_conn_run() has a timer to serve (a reconnect, a probe). */
int ovsdb_conn_timeout_ms(const struct ovsdb_conn *c, uint64_t now_ms);
/*
 * Does the connection's work: connects, reads everything available, calls the
 * callbacks, writes what the socket takes, runs the timers. `revents` from poll() (0 if
 * not polled). Callbacks may send and may call ovsdb_conn_reconnect(), not destroy.
 */
void ovsdb_conn_run(struct ovsdb_conn *c, short revents, uint64_t now_ms);
/* 1 while connected. */
int ovsdb_conn_is_up(const struct ovsdb_conn *c);
/*
 * Queues a request {"method", "params", "id"}; `params` is stolen (even on error).
 * 0 and *id, -ENOTCONN, -ENOBUFS (queue at OVSDB_OUTQ_MAX), -ENOMEM.
 */
int ovsdb_conn_request(struct ovsdb_conn *c, const char *method, json_t *params, uint64_t *id);
/* Drops the connection (disconnected() is called) and reconnects after the backoff. */
void ovsdb_conn_reconnect(struct ovsdb_conn *c);
void ovsdb_conn_get_stats(const struct ovsdb_conn *c, struct ovsdb_conn_stats *st);
/* The current backoff, ms (for tests and `status` output). */
unsigned ovsdb_conn_backoff_ms(const struct ovsdb_conn *c);

#endif
