/* SPDX-License-Identifier: MIT */
/*
 * vtep.h - pvnetd as the switch of an OVSDB hardware_vtep database (OVN's VTEP gateway
 * model, docs/ovn.md). pvnetd connects to the database (--vtep-db), publishes its
 * Physical_Switch (--vtep-name, tunnel_ips = --tunnel-ip) and its guest ports as
 * Physical_Ports, writes the MACs learnt on bound ports to Ucast_Macs_Local, and turns
 * the Logical_Switch bindings and the remote MACs/locators that ovn-controller-vtep
 * writes into VXLAN ports of its bridges (one per bound logical switch and bridge).
 *
 * Everything runs in pvnetd's control loop and never blocks it (ovsdb.h's connection).
 * When the database goes away the switch keeps its last state; a reconnect's monitor
 * reply replaces the view entirely and the switch is reconciled to it.
 */
#ifndef PVNETD_VTEP_H
#define PVNETD_VTEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pvnetd;
struct vtep;
struct pollfd;
struct outbuf;

struct vtep_opts {
	const char *db;        /* "unix:PATH" or "tcp:IP:PORT" */
	const char *name;      /* the Physical_Switch name */
	const char *tunnel_ip; /* this host's VTEP address (IPv4) */
	const char *sb;        /* optional: OVN's southbound database, for the other VTEPs */
	char buf[4][256];      /* vtep_opts_load() keeps what it read here */
};

/* The options are kept in STATE_DIR/vtep.conf (KEY=VALUE lines: db, name, tunnel_ip,
 * ovnsb_db) so that a pvnetd started without them joins OVN as before.
 * vtep_opts_load: fills o from the file when o has no option set; 0 (also when there is
 * no file), or -EINVAL (a file that does not parse; message in *err). */
int vtep_opts_load(const char *state_dir, struct vtep_opts *o, char *err, size_t size);
/* Writes v's options to STATE_DIR/vtep.conf (v NULL and forget: removes the file).
 * Called once the state dir is locked. 0 or -errno (logged). */
int vtep_opts_persist(struct vtep *v, const char *state_dir, bool forget);

/* 0 and *out, or -EINVAL (bad options, message logged), -ENOMEM. */
int vtep_create(struct pvnetd *d, const struct vtep_opts *o, struct vtep **out);
/* Closes the connection; the VXLAN ports it made stay until their bridges go. NULL ok. */
void vtep_destroy(struct vtep *v);
#define VTEP_MAX_POLLFDS 2 /* the VTEP database, OVN's southbound database */
/* Fills at most VTEP_MAX_POLLFDS pollfds; returns how many (0 while waiting to reconnect). */
int vtep_pollfds(struct vtep *v, struct pollfd *pfd);
/* Milliseconds until vtep_run() has a timer to serve. */
int vtep_timeout_ms(struct vtep *v);
/* One turn: I/O (the n pollfds vtep_pollfds filled, after poll()), reconciliation,
 * publication. */
void vtep_run(struct vtep *v, const struct pollfd *pfd, int n);
/* `pvnet vtep`-style status lines into the log (also used by tests through the log). */
void vtep_log_status(struct vtep *v);

#endif
