/* SPDX-License-Identifier: MIT */
/*
 * pvnet/xs_client.h - a small blocking client of the store's wire protocol
 * (guest/xs_client.c, the guest library): what a guest (netfront, pvnet-guest)
 * and the pvnet CLI use to talk to the store server in pvnetd. One request is
 * outstanding at a time; watch events that arrive while waiting for a reply are
 * queued in order and handed out by xs_client_read_watch(). Every call returns
 * 0 or -errno (the server's error by name, or a transport error). Not thread
 * safe: one thread per client.
 */
#ifndef PVNET_XS_CLIENT_H
#define PVNET_XS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvnet/xs.h>

struct xs_client;

/* Takes ownership of a connected stream socket `fd`. */
int xs_client_open_fd(int fd, struct xs_client **out);
/* Connects to a server socket path. */
int xs_client_open(const char *socket_path, struct xs_client **out);
void xs_client_close(struct xs_client *c);
/* The fd to poll for watch events. */
int xs_client_fd(struct xs_client *c);
int xs_client_read(struct xs_client *c, uint32_t tx, const char *path, char **val, size_t *len);
int xs_client_write(struct xs_client *c, uint32_t tx, const char *path, const void *val,
		    size_t len);
int xs_client_printf(struct xs_client *c, uint32_t tx, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int xs_client_mkdir(struct xs_client *c, uint32_t tx, const char *path);
int xs_client_rm(struct xs_client *c, uint32_t tx, const char *path);
int xs_client_directory(struct xs_client *c, uint32_t tx, const char *path, char ***names,
			unsigned *count);
int xs_client_get_perms(struct xs_client *c, uint32_t tx, const char *path, struct xs_perm *perms,
			unsigned *count);
int xs_client_set_perms(struct xs_client *c, uint32_t tx, const char *path,
			const struct xs_perm *perms, unsigned count);
int xs_client_transaction_start(struct xs_client *c, uint32_t *tx);
int xs_client_transaction_end(struct xs_client *c, uint32_t tx, bool commit);
int xs_client_watch(struct xs_client *c, const char *path, const char *token);
int xs_client_unwatch(struct xs_client *c, const char *path, const char *token);
int xs_client_get_domain_path(struct xs_client *c, domid_t domid, char **path);
/*
 * Returns the next watch event (blocking up to timeout_ms, -1 forever; 0 polls).
 * *path and *token are malloc'd and owned by the caller. -ETIMEDOUT if none.
 * Events that arrive during other calls are queued, never lost.
 */
int xs_client_read_watch(struct xs_client *c, int timeout_ms, char **path, char **token);

#endif /* PVNET_XS_CLIENT_H */
