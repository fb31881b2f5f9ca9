/* SPDX-License-Identifier: MIT */
/*
 * pvnet/xs.h - the store (xenstore): a hierarchical key/value tree with Xen's
 * permissions, watches, transactions and per-domain quotas, and a server that
 * speaks the xenstore wire protocol (xsd_sockmsg) so Debian's xenstore-utils
 * work against it unchanged.
 *
 * Threading: a store and its server are used by ONE thread (pvnetd's control
 * loop). In-process watch callbacks run from xs_store_dispatch(), never from
 * inside a call that modified the tree.
 *
 * Paths: absolute ("/local/domain/3/name") or relative to the caller's home
 * "/local/domain/<domid>". Path rules as Xen: characters [A-Za-z0-9/_@-],
 * no "//", no trailing "/" (except "/"), at most XS_ABS_PATH_MAX bytes
 * (XS_REL_PATH_MAX relative); watch paths may also be "@introduceDomain" /
 * "@releaseDomain".
 *
 * Permissions (Xen's): each node has a list; the first entry names the owner
 * and the access everyone else gets ('n' none, 'r' read, 'w' write, 'b' both);
 * further entries grant a domain r/w/b/n. The owner and dom0 have full access.
 * A new node inherits its parent's permissions, except that a node created by
 * a domain other than dom0 is owned by that domain.
 *
 * Errors: -errno with xenstore's meanings: -ENOENT, -EACCES, -EINVAL (bad path
 * or arguments), -E2BIG (value over quota / payload), -ENOSPC (node/watch/
 * transaction quota), -EAGAIN (transaction conflict), -EEXIST, -EISDIR, -ENOTEMPTY.
 */
#ifndef PVNET_XS_H
#define PVNET_XS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grant_table.h"
#include "quota.h"

#define XS_PAYLOAD_MAX 4096
#define XS_ABS_PATH_MAX 3072
#define XS_REL_PATH_MAX 2048


enum xs_perm_bits { XS_PERM_NONE = 0, XS_PERM_READ = 1, XS_PERM_WRITE = 2, XS_PERM_BOTH = 3 };

struct xs_perm {
	domid_t domid;
	uint8_t perm; /* enum xs_perm_bits */
};

#define XS_MAX_PERMS 32

struct xs_store;

/*
 * Creates "/", "/local", "/local/domain", "/tool". `led` is the per-domain
 * ledger (pvnet/quota.h) whose limits the store and its server enforce and
 * where they account nodes, watches, transactions, connections and queued
 * output; it must outlive the store. NULL: the store makes a private ledger
 * with the default limits.
 */
int xs_store_create(struct quota_ledger *led, struct xs_store **out);
void xs_store_destroy(struct xs_store *st);

/*
 * Domain lifecycle: creates /local/domain/<domid> owned by domid (readable by
 * dom0 only... as xl does: perms "n<domid>" i.e. owner domid, others none), writes
 * "domid" and "name" under it, and fires "@introduceDomain". Release removes the
 * subtree, the domain's watches and connections' transactions, and fires
 * "@releaseDomain".
 */
int xs_domain_introduce(struct xs_store *st, domid_t domid, const char *name);
int xs_domain_release(struct xs_store *st, domid_t domid);

/*
 * Node operations as domain `as` (0 = dom0, privileged), inside transaction
 * `tx` (0 = none). Values are bytes, not necessarily NUL-terminated; returned
 * buffers are malloc'd, NUL-terminated for convenience, and owned by the caller.
 */
int xs_read(struct xs_store *st, domid_t as, uint32_t tx, const char *path, char **val,
	    size_t *len);
/* Creates missing parents (as Xen does). */
int xs_write(struct xs_store *st, domid_t as, uint32_t tx, const char *path, const void *val,
	     size_t len);
int xs_mkdir(struct xs_store *st, domid_t as, uint32_t tx, const char *path);
/* Removes the node and its subtree; -ENOENT if absent. */
int xs_rm(struct xs_store *st, domid_t as, uint32_t tx, const char *path);
/* *names: malloc'd array of *count malloc'd strings (free with xs_free_list). */
int xs_directory(struct xs_store *st, domid_t as, uint32_t tx, const char *path, char ***names,
		 unsigned *count);
void xs_free_list(char **names, unsigned count);
int xs_get_perms(struct xs_store *st, domid_t as, uint32_t tx, const char *path,
		 struct xs_perm *perms, unsigned *count /* in: capacity, out: entries */);
int xs_set_perms(struct xs_store *st, domid_t as, uint32_t tx, const char *path,
		 const struct xs_perm *perms, unsigned count);

/* Transactions: end with commit=false to abort; -EAGAIN on a conflicting commit. */
int xs_transaction_start(struct xs_store *st, domid_t as, uint32_t *tx);
int xs_transaction_end(struct xs_store *st, domid_t as, uint32_t tx, bool commit);

/*
 * In-process watch for dom0 code (netback, the toolstack). `cb` runs from
 * xs_store_dispatch() with the path that changed (at or below `path`) and the
 * token; it fires once on registration with path itself, as Xen does. The
 * callback may call any xs_* function, including xs_watch_remove of itself.
 */
typedef void (*xs_watch_cb)(void *arg, const char *path, const char *token);
int xs_watch_add(struct xs_store *st, const char *path, const char *token, xs_watch_cb cb,
		 void *arg, uint64_t *handle);
int xs_watch_remove(struct xs_store *st, uint64_t handle);
/* Delivers queued in-process watch events; returns how many were delivered. */
int xs_store_dispatch(struct xs_store *st);

/* Convenience for dom0 code: printf-style write / read of small values. */
int xs_printf(struct xs_store *st, uint32_t tx, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Reads an integer value; -ENOENT if absent, -EINVAL if not a number. */
int xs_read_int(struct xs_store *st, uint32_t tx, const char *path, long long *out);

/* --- The wire-protocol server --- */

struct xs_server;

/*
 * Listens on a Unix stream socket at `socket_path` (mode 0600; connections on it
 * act as dom0, like xenstored's socket). The caller polls xs_server_fds() for
 * readability and calls xs_server_handle(); replies and watch events are
 * written from there.
 * socket_path may be NULL: no listener, only connections from xs_server_add_conn.
 * One server per store (the server registers itself with the store for watch
 * events of its connections). The store must outlive the server.
 * A connection is dropped only on a framing violation (len > 4096), EOF/error,
 * or when more than 1 MiB of replies/events wait unread.
 */
int xs_server_create(struct xs_store *st, const char *socket_path, struct xs_server **out);
void xs_server_destroy(struct xs_server *srv);
/*
 * Adds an already-connected stream socket (e.g. a socketpair end given to a
 * guest) whose requests act as `domid`. Takes ownership of fd, even on failure.
 */
int xs_server_add_conn(struct xs_server *srv, int fd, domid_t domid);
/*
 * Fills fds[] with every fd the server wants polled for input (listener and
 * connections); returns the count (at most max).
 */
int xs_server_fds(struct xs_server *srv, int *fds, int max);
/*
 * Like xs_server_fds, but asks for POLLOUT too on connections with output
 * pending (a slow reader). Preferred for poll loops.
 */
struct pollfd;
int xs_server_pollfds(struct xs_server *srv, struct pollfd *pfds, int max);
/*
 * The alternative to polling xs_server_pollfds() every turn: registers the
 * listener and every connection in the epoll set `epfd` (level-triggered,
 * data.u64 = tag | fd; the low 32 bits of tag must be 0), each new connection
 * when it is added and each removed before it closes; the events asked for
 * follow the connection's state (input unless its domain is throttled, output
 * while replies wait). The caller calls xs_server_handle(fd) for each event
 * and xs_server_flush() each turn. Once per server; 0 or -errno.
 */
int xs_server_watch(struct xs_server *srv, int epfd, uint64_t tag);
/* Handles whatever is ready on `fd` (non-blocking). Returns 0, or -ENOENT if fd is not the server's. */
int xs_server_handle(struct xs_server *srv, int fd);
/* Flushes events from other domains' changes to every connection (call each loop turn). */
void xs_server_flush(struct xs_server *srv);
/* Drops every connection of a domain (on domain destroy). */
void xs_server_drop_domain(struct xs_server *srv, domid_t domid);
/* Watch events dropped so far for domains over xs-output-bytes / xs-watch-events. */
uint64_t xs_server_events_dropped(const struct xs_server *srv);

/* The store's client (guest/xs_client.c) is in <pvnet/xs_client.h>. */

/* -errno for a wire error name ("ENOENT"); -EIO if unknown (hv/xs_api.c). */
int xs_errno_from_name(const char *name, size_t len);

#endif /* PVNET_XS_H */
