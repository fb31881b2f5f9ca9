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
#include <pvnet/lib.h>
#include <pvnet/netback.h>
#include <pvnet/vswitch.h>
#include <pvnet/xs.h>

#include <pvnet/ctl.h>

/* One reply message waiting for the client to read (seqpacket: kept whole). */
struct ctl_msg {
	struct ctl_msg *next;
	size_t size;
	char data[];
};

/*
 * A control connection. Replies are sent with MSG_DONTWAIT; what the socket does
 * not take waits in the queue (at most PVNET_CTL_OUT_MAX bytes, else the client is
 * dropped) and pvnetd reads no further request from it until the queue is empty.
 */
struct ctl_conn {
	int fd;    /* -1: free slot */
	pid_t pid; /* SO_PEERCRED at accept */
	uid_t uid;
	uint64_t since_ns;    /* accepted, or its last reply fully sent: idle timer */
	uint64_t progress_ns; /* the socket last took queued bytes: stall timer */
	struct ctl_msg *head, *tail;
	size_t queued;   /* bytes in the queue */
	bool busy;       /* a request of it is being served */
	bool dead;       /* to be closed (overflow, peer gone): nothing more is sent */
	bool deferred;   /* its request changes state: left for the top-level loop */
	uint64_t serial; /* tells a reused slot from the connection polled */
	char why[96];    /* why it is dead, for the log */
};

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
/* The same turns less the time the control thread was runnable but not running
 * (its run-queue wait, /proc/thread-self/schedstat): what the loop itself spent,
 * computing or blocked, without what a loaded machine's other tasks took from it.
 * `pvnet info`: loop_worst_turn_ran_us, loop_worst_turn_ran_10s_us. Wall time
 * where the kernel has no schedstat (sched_fd -1). */
struct loop_gauge_ran {
	struct loop_gauge g;
	bool sched_tried; /* sched_fd opened (or tried) */
	int sched_fd;     /* /proc/thread-self/schedstat, -1 = none */
	uint64_t wait_ns; /* run-queue wait when the previous poll() returned */
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
	pid_t pid;            /* the pvnet-guest process, 0 once reaped */
	int hc_fd;            /* pvnetd's end of the hypercall socket, -1 when closed */
	int exit_status;      /* wait status once reaped */
	bool dying;           /* destroy requested */
	uint64_t shutdown_ns; /* pvnet shutdown asked it (control/shutdown), 0: never */
	uint64_t created_ns;
	struct hvm_dom *hvm; /* type = "hvm": the QEMU guest (pid is QEMU's) */
	bool adopted;        /* re-adopted after a restart (adopt.c): not our child */
	bool no_adopt;       /* its guest program was not told of adopt.sock: no record */
	int pidfd;           /* adopted: the guest's pidfd (-1 if none), polled for its exit */
};

struct pvnetd {
	char run_dir[256];
	char guest_bin[PATH_MAX];
	char ctl_path[PATH_MAX];
	char xs_path[PATH_MAX];
	char pid_path[PATH_MAX];
	struct hv *hv;
	struct xs_store *xs;
	struct quota_ledger *quota; /* per-domain limits and usage (--limit, --limits) */
	struct xs_server *xss;
	struct vsw_switch *sw; /* the dom0 switch: bridges by name */
	struct nb *nb;         /* netback: created after the store, destroyed before it */
	unsigned workers;      /* --workers N (netback worker threads), default 1 */
	struct accel_registry *accel_reg; /* NIC accelerator plugins (built-ins + --accel-dir) */
	char accel_dir[PATH_MAX];
	int ctl_fd;
	int sig_fd;
	struct ctl_conn ctl_conns[PVNET_CTL_MAX_CONNS];
	uint64_t ctl_refused; /* connections refused or evicted at the cap */
	uint64_t ctl_dropped; /* connections closed for overflow, stall or idleness */
	int pid_fd;           /* the locked pid file, -1 until locked */
	bool stop;
	bool foreground;     /* --foreground */
	uint64_t ctl_serial; /* numbers control connections (their `serial`) */
	struct dom *doms;
	uint64_t started_ns;
	struct loop_gauge gauge;
	struct loop_gauge_ran gauge_ran; /* the same turns without run-queue wait */
	char state_dir[PATH_MAX];        /* --state-dir (state.c) */
	struct pvnetd_state *state;      /* the switch.conf model; NULL before state_lock */
	struct adopt *adopt;             /* adopt.c: records and the adopt socket */
	struct vtep *vtep;               /* vtep.c: --vtep-db (OVN hardware VTEP), or NULL */
	struct migrate *migrate;         /* migrate.c: --migrate-listen/--migrate-key, or NULL */
};

/* domains.c */
/* Creates and starts a domain from a parsed config; errors go to `out` as text. */
int dom_create(struct pvnetd *d, const struct pvnet_dom_cfg *cfg, struct outbuf *out);
/* Gracefully stops (control/shutdown, then SIGKILL after the timeout) and destroys. */
int dom_destroy(struct pvnetd *d, struct dom *dom, struct outbuf *out);
/* pvnet shutdown: asks the guest (control/shutdown = poweroff) and returns; the
 * domain is freed when its guest exits, as any other. HVM: QMP quit, SIGKILL after
 * 3 s, freed on return. Always 0. */
int dom_shutdown(struct pvnetd *d, struct dom *dom, struct outbuf *out);
/* pvnet shutdown --wait: waits up to wait_ms (serving the loop) for the guests asked
 * to shut down (domid, or all if < 0), then frees them, destroying (SIGKILL) those
 * still running. Returns how many had to be killed. */
int dom_shutdown_wait(struct pvnetd *d, int domid, unsigned wait_ms, struct outbuf *out);
struct dom *dom_find(struct pvnetd *d, const char *name_or_id);
/* The largest MTU of a TAP device (the kernel's 65535 minus the Ethernet header). */
#define DOM_TAP_MTU_MAX 65521u
/* Writes vif n's backend and frontend directories (as libxl does). 0 or -EIO. */
int write_vif_nodes(struct pvnetd *d, struct dom *dom, unsigned n, const struct pvnet_vif_cfg *vif);
/* Is `name` a switch port, or the vifname of some domain's vif? */
bool vifname_taken(struct pvnetd *d, const char *name);
/* The domain one of whose vifs has `mac` (its devid in *devid), or NULL. */
const struct dom *mac_owner(struct pvnetd *d, const uint8_t mac[6], unsigned *devid);
/* 0 if no domain's vif has `mac`, else -EEXIST after "WHAT 'NAME': mac M is already
 * vif N of domain D (OWNER)" on out's stderr ("WHAT: NAME: ..." if !quote). */
int mac_check_free(struct pvnetd *d, const char *what, const char *name, const uint8_t mac[6],
		   struct outbuf *out, bool quote);
/* Reaps exited guests (SIGCHLD) and destroys domains whose guest died. */
void dom_reap(struct pvnetd *d);
/* Destroys domains whose guest process died (called from the main loop only). */
void dom_collect_dead(struct pvnetd *d);
/* Handles a readable hypercall socket. */
void dom_hypercall(struct pvnetd *d, struct dom *dom);
/*
 * Runs the store and hypercall sockets for up to `ms` milliseconds (used while
 * waiting), and serves read-only control requests (info, list, stats, ...) of
 * other clients meanwhile. The caller must hold no lock those take (netback's,
 * the switch's) and keep d->doms consistent.
 */
void pvnetd_pump(struct pvnetd *d, int ms);
/*
 * main.c: a domain's hypercall socket is in the control loop's epoll set from
 * when dom->hc_fd is set (loop_watch_hc) until just before it is closed
 * (loop_unwatch_hc, with dom->hc_fd still set).
 */
void loop_watch_hc(struct pvnetd *d, struct dom *dom);
void loop_unwatch_hc(struct pvnetd *d, struct dom *dom);

/* hotplug.c: network-attach / network-detach / network-list (xl's syntax) */
int cmd_network_attach(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
int cmd_network_detach(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
int cmd_network_list(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
/* network-list DOMAIN --json: xl's fields and pvnet's, one object per vif */
int cmd_network_list_json(struct pvnetd *d, struct outbuf *o, int argc, char **argv);

/* domains.c: (re)writes the store nodes the toolstack gives a PV domain at create. */
int dom_write_store(struct pvnetd *d, struct dom *dom);

/* adopt.c: restarts that keep the guests (see the top of adopt.c) */
struct pollfd;
/* Reads the domain records, listens on <run-dir>/adopt.sock, waits (bounded) for
 * the live guests. 0 or -errno (the socket could not be made). */
int adopt_start(struct pvnetd *d);
/* The main loop's fds of the adopt socket, its pending connections and the
 * adopted guests' pidfds (ptr: what adopt_handle needs back). */
int adopt_pollfds(struct pvnetd *d, struct pollfd *pfd, void **ptr, int max);
void adopt_handle(struct pvnetd *d, int fd, void *ptr);
/* Teardown: leaves every PV guest that has a record running (closes pvnetd's ends). */
void adopt_detach_all(struct pvnetd *d);
void adopt_close(struct pvnetd *d);
/* The `create` being served: its file name, text and overrides (for adopt_save). */
void adopt_note_create(const char *file, const char *text, size_t len, const char *const *overrides,
		       unsigned n);
/* Saves / removes the record of a PV domain (<state-dir>/domains/<domid>.dom). */
int adopt_save(struct pvnetd *d, const struct dom *dom);
void adopt_forget(struct pvnetd *d, const struct dom *dom);
/* After network-attach / network-detach: the record's vifs follow dom->cfg. */
void adopt_save_vifs(struct pvnetd *d, const struct dom *dom);
/* An adopted guest has exited (its pidfd is readable). */
bool adopt_guest_gone(struct dom *dom);
/* <run-dir>/adopt.sock once listening, else NULL (guests are then not told of it). */
const char *adopt_sock_path(const struct pvnetd *d);
/* pvnet shutdown NAME|ID | --all [--wait] */
int cmd_shutdown(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
/* adopt.c: builds domain r over memfds (re-adoption, or a migration's received memory). */
struct pvnet_domrec;
int adopt_domain_build(struct pvnetd *d, struct pvnet_domrec *r, int fd, int mem_fd, int gnt_fd);

/* migrate.c: live migration (docs/migration.md) */
int migrate_init(struct pvnetd *d, const char *listen_addr, const char *key_file);
int migrate_pollfds(struct pvnetd *d, struct pollfd *pfd, void **ptr, int max);
void migrate_handle(struct pvnetd *d, int fd, void *ptr);
void migrate_close(struct pvnetd *d);
int cmd_migrate(struct pvnetd *d, struct outbuf *o, int argc, char **argv);

/* cli.c: `nic`, `accel` and `ethtool` commands */
int cmd_nic(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
int cmd_accel(struct pvnetd *d, struct outbuf *o, int argc, char **argv);
int cmd_ethtool(struct pvnetd *d, struct outbuf *o, int argc, char **argv);

/* cli.c */
/* A reply's destination, and the request being answered (ctl_commands.h handlers) */
struct outbuf {
	struct ctl_conn *conn; /* the CLI connection; NULL: errors go to the log */
	int status;
	int fmt;             /* enum report_fmt: the --json/--format given (read commands) */
	const char *payload; /* create: the config file's text (NULL: none) */
	size_t payload_len;
};
void out_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Reads one request from a control connection and answers it (queued replies
 * included); -1 when the connection is to be closed (peer gone, or marked dead).
 * `nested` (from pvnetd_pump, while another request runs): only a request that
 * changes nothing (info, list, stats, ...) is served; any other stays in the
 * socket and c->deferred is set until the top-level loop takes it.
 */
int ctl_handle(struct pvnetd *d, struct ctl_conn *c, bool nested);
/* Sends what the socket takes of c's queue without blocking; -1 if c is dead. */
int ctl_flush(struct ctl_conn *c);
/* Frees c's queue and closes its socket; logs why if it was dropped. */
void ctl_conn_close(struct ctl_conn *c);

/* state.c: the persistent switch configuration (include/pvnet/state.h) */
struct pvnetd_state;
/* Creates and locks the state dir (one pvnetd per dir). 0 or -errno (-EBUSY: in use). */
int state_lock(struct pvnetd *d);
/* Reads <state-dir>/switch.conf, applies it (errors logged with file:line, the file
 * kept as switch.conf.bad-TIME), rewrites it, then saves every change. 0 or -errno. */
int state_load(struct pvnetd *d);
/* After a command succeeded: saves it if it is a setting. 0, or -errno and err. */
int state_record(struct pvnetd *d, int argc, char **argv, char *err, size_t size);
/* Applies saved settings of guests' vifs once their ports exist (main loop). */
void state_tick(struct pvnetd *d);
/* A domain is destroyed: forgets the settings of its vifs (vifD.N and vifname= ports). */
void state_forget_domain(struct pvnetd *d, const struct dom *dom);
void state_close(struct pvnetd *d);
/* cli.c: vif-set-rate VIF RATE (also replayed from the state file) */
int cmd_vif_set_rate(struct pvnetd *d, struct outbuf *o, int argc, char **argv);

#endif /* PVNETD_H */
