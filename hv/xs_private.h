/* SPDX-License-Identifier: MIT */
/*
 * hv/xs_private.h - internals shared by the store (xs_store.c, xs_api.c) and its
 * server (xs_server.c).
 * Not for other modules.
 */
#ifndef PVNET_HV_XS_PRIVATE_H
#define PVNET_HV_XS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvnet/io/xs_wire.h>
#include <pvnet/xs.h>

/*
 * Who makes a request: a domain, and optionally the server connection it came
 * on (NULL for in-process callers). Transactions and watches belong to the
 * connection; quotas apply per domain, whatever connection a request came on.
 */
struct xs_caller {
	domid_t dom;
	void *conn;
};

/* The ledger the store enforces (borrowed). */
struct quota_ledger *xsi_ledger(struct xs_store *st);

/* Errno name for the wire ("ENOENT"); "EIO" for anything unknown. */
const char *xs_errno_name(int err);

/*
 * The server registers one hook: the store calls it (synchronously) for every
 * watch event of a watch owned by a connection. path/token are only borrowed.
 */
typedef void (*xs_conn_event_fn)(void *arg, void *conn, const char *path, const char *token);
void xsi_set_conn_event(struct xs_store *st, xs_conn_event_fn fn, void *arg);

int xsi_read(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
	     char **val, size_t *len);
int xsi_write(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
	      const void *val, size_t len);
int xsi_mkdir(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path);
/* wire_semantics: absent node with an existing parent is success, as xenstored does. */
int xsi_rm(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
	   bool wire_semantics);
/* *gen (may be NULL) gets the node's generation, for XS_DIRECTORY_PART. */
int xsi_directory(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
		  char ***names, unsigned *count, uint64_t *gen);
int xsi_get_perms(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
		  struct xs_perm *perms, unsigned *count);
int xsi_set_perms(struct xs_store *st, const struct xs_caller *c, uint32_t tx, const char *path,
		  const struct xs_perm *perms, unsigned count);
int xsi_transaction_start(struct xs_store *st, const struct xs_caller *c, uint32_t *tx);
int xsi_transaction_end(struct xs_store *st, const struct xs_caller *c, uint32_t tx, bool commit);
/* Adds a watch; does NOT fire the initial event (see xsi_watch_fire_initial). */
int xsi_watch_add(struct xs_store *st, const struct xs_caller *c, const char *path,
		  const char *token, xs_watch_cb cb, void *arg, uint64_t *handle);
void xsi_watch_fire_initial(struct xs_store *st, uint64_t handle);
/* Removes the connection's watch with exactly this path and token; -ENOENT if none. */
int xsi_unwatch(struct xs_store *st, const struct xs_caller *c, const char *path,
		const char *token);
/* Drops every watch and transaction of a connection (reset or close). */
void xsi_conn_gone(struct xs_store *st, void *conn);
bool xsi_domain_is_introduced(struct xs_store *st, domid_t domid);

/*
 * The server's dispatch table (hv/xs_server.c wire_funcs[]) has a row per wire
 * message type with these rules, as xenstored's XS_FLAG_*:
 */
#define XS_FLAG_PRIV (1u << 0)  /* dom0 only: others are refused EACCES before any other check */
#define XS_FLAG_NOTID (1u << 1) /* ignores the request's transaction id (runs outside any) */
#define XS_FLAG_NOTX (1u << 2)  /* refused EBUSY inside a transaction (tx_id != 0) */
#define XS_FLAG_PATH (1u << 3)  /* the payload's first string is a store path (EINVAL if none) */
#define XS_FLAG_RAW (1u << 4)   /* the payload is not a list of strings: no argument count */
/*
 * The row of a message type: its name ("READ"), XS_FLAG_* and whether the
 * server handles it (false: server-to-client types and unsupported ones, which
 * are answered ENOSYS). -ENOENT for a type with no row (also answered ENOSYS).
 */
int xs_server_wire_row(uint32_t type, const char **name, unsigned *flags, bool *handled);

/* --- Server internals used by the fuzzer (no sockets needed) --- */
struct xs_conn;
/* A connection with no fd: replies and events accumulate in memory. */
int xs_server_add_mem_conn(struct xs_server *srv, domid_t domid, struct xs_conn **out);
/*
 * Feeds bytes as if read from the connection's socket, after handling what
 * was left buffered. Returns how many bytes it took (fewer than len when the
 * domain's output is at its limit and the input buffer is full: consume
 * output, then feed the rest), or -EPROTO if the connection was dropped for a
 * framing violation (it is then freed and must not be used again).
 */
int xs_conn_feed(struct xs_server *srv, struct xs_conn *conn, const void *buf, size_t len);
/*
 * The next pending output bytes of a connection (borrowed; one queued message
 * at a time, NULL and 0 when none), and discarding len pending bytes.
 */
const void *xs_conn_output(struct xs_conn *conn, size_t *len);
void xs_conn_output_consume(struct xs_server *srv, struct xs_conn *conn, size_t len);

#endif /* PVNET_HV_XS_PRIVATE_H */
