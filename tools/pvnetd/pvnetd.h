/* SPDX-License-Identifier: MIT */
/* pvnetd private state: the hypervisor, the store, the toolstack's domains. */
#ifndef PVNETD_H
#define PVNETD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvnet/config.h>
#include <pvnet/hv.h>
#include <pvnet/netback.h>
#include <pvnet/vswitch.h>
#include <pvnet/xs.h>

#define MAX_CTL_CONNS 32

struct hvm_dom;

struct outbuf;

/*
 * The control loop's worst turn: the longest time pvnetd spent between two
 * poll() calls (handling what was ready, with no fd served meanwhile), since
 * start and over the last 10 s (ten 1-second buckets). `pvnet info` shows both
 * as loop_worst_turn_us and loop_worst_turn_10s_us.
 */
#define LOOP_GAUGE_BUCKETS 10
struct loop_gauge {
	uint64_t last_poll_ns; /* when the previous poll() returned, 0 before the first */
	uint64_t worst_ns;     /* since start */
	uint64_t bucket_sec[LOOP_GAUGE_BUCKETS];
	uint64_t bucket_worst_ns[LOOP_GAUGE_BUCKETS];
};
/* Records one turn of `ns` ending at `now_ns`. */
void loop_gauge_note(struct loop_gauge *g, uint64_t now_ns, uint64_t ns);
/* The worst turn of the last 10 s as of `now_ns`. */
uint64_t loop_gauge_recent_ns(const struct loop_gauge *g, uint64_t now_ns);

/* A guest domain as the toolstack sees it. */
struct dom {
	struct dom *next;
	domid_t domid;
	char name[HV_NAME_MAX];
	struct pvnet_dom_cfg cfg;
	pid_t pid;       /* the pvnet-guest process, 0 once reaped */
	int hc_fd;       /* pvnetd's end of the hypercall socket, -1 when closed */
	int exit_status; /* wait status once reaped */
	bool dying;      /* destroy requested */
	uint64_t created_ns;
	struct hvm_dom *hvm; /* type = "hvm": the QEMU guest (pid is QEMU's) */
};

struct pvnetd {
	char run_dir[256];
	char guest_bin[PATH_MAX];
	char ctl_path[PATH_MAX];
	char xs_path[PATH_MAX];
	char pid_path[PATH_MAX];
	struct hv *hv;
	struct xs_store *xs;
	struct xs_server *xss;
	struct vsw_switch *sw; /* the dom0 switch: bridges by name */
	struct nb *nb;         /* netback: created after the store, destroyed before it */
	unsigned workers;      /* --workers N (netback worker threads), default 1 */
	struct accel_registry *accel_reg; /* NIC accelerator plugins (built-ins + --accel-dir) */
	char accel_dir[PATH_MAX];
	int ctl_fd;
	int sig_fd;
	int ctl_conns[MAX_CTL_CONNS];
	bool stop;
	struct dom *doms;
	uint64_t started_ns;
	struct loop_gauge gauge;
};

uint64_t pvnetd_now_ns(void);

/* domains.c */
/* Creates and starts a domain from a parsed config; errors go to `out` as text. */
int dom_create(struct pvnetd *d, const struct pvnet_dom_cfg *cfg, struct outbuf *out);
/* Gracefully stops (control/shutdown, then SIGKILL after the timeout) and destroys. */
int dom_destroy(struct pvnetd *d, struct dom *dom, struct outbuf *out);
struct dom *dom_find(struct pvnetd *d, const char *name_or_id);
/* Reaps exited guests (SIGCHLD) and destroys domains whose guest died. */
void dom_reap(struct pvnetd *d);
/* Destroys domains whose guest process died (called from the main loop only). */
void dom_collect_dead(struct pvnetd *d);
/* Handles a readable hypercall socket. */
void dom_hypercall(struct pvnetd *d, struct dom *dom);
/* Runs the store and hypercall sockets for up to `ms` milliseconds (used while waiting). */
void pvnetd_pump(struct pvnetd *d, int ms);

/* cli.c: `nic`, `accel` and `ethtool` commands (issue #6) */
int cmd_nic(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
int cmd_accel(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
int cmd_ethtool(struct pvnetd *d, struct outbuf *o, int argc, char **argv);

/* cli.c */
struct outbuf {
	int fd; /* the CLI connection */
	int status;
};
void out_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads one request from a control connection and answers it; -1 when the peer closed. */
int ctl_handle(struct pvnetd *d, int fd);

#endif /* PVNETD_H */
