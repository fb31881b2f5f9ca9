/* SPDX-License-Identifier: MIT */
/* tools/pvnet-hostile: attack modes kept in their own files. */
#ifndef PVNET_HOSTILE_H
#define PVNET_HOSTILE_H

#include <signal.h>

#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

/*
 * case "store" (store.c): attacks the store as this guest for
 * $PVNET_HOSTILE_SECS seconds (default 15), reports, then idles until *stop.
 * `xs` is the guest's store client; hv_fd its hypercall socket (dup'ed to ask
 * for more store connections). Returns the process exit status.
 */
int hostile_store(int hv_fd, long domid, struct xs_client *xs, volatile sig_atomic_t *stop);

#endif
