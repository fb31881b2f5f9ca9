/* SPDX-License-Identifier: MIT */
/*
 * HVM domains: an unmodified Linux guest in QEMU (qemu-system-x86_64), its RAM on a
 * shared memfd backend, each vif a virtio-net-pci device attached to the switch
 * through a vhost-user port "vif<domid>.<n>" (include/pvnet/vhost.h).
 *
 * Acceleration: KVM if a short KVM boot probe of the domain's kernel reaches init
 * (run once per pvnetd, the first time an HVM domain is created), else TCG; env
 * PVNET_HVM_ACCEL=tcg or =kvm skips the probe. This machine's /dev/kvm is kvm-pvm,
 * which boots only PVM guest kernels: a stock kernel spins, the probe fails and TCG
 * is used. The choice is logged and shown by `pvnet create`. QEMU binary: env PVNET_QEMU, default
 * "qemu-system-x86_64" from PATH.
 *
 * Files in run_dir: console-<name>.log (serial console and QEMU's own messages,
 * for `pvnet console`; created 0640, never opened through a symlink or as anything
 * but a regular file), qmp-<domid>.sock (QMP, used to quit and, after a
 * pvnetd restart, to check the guest's name), vhu-<domid>.<n>.sock.
 *
 * Paths a config names (docs/security.md "Host-side safety"): a vif's `socket=`
 * (the vhost-user socket, default run_dir/vhu-<domid>.<n>.sock) must be absolute
 * and lie in the run dir, a directory below it, or the directory named by
 * pvnetd's environment variable PVNET_VHOST_DIR (symlinks resolved); if a file is
 * there already it must be a socket (a stale one is replaced), anything else is
 * refused and left alone. `kernel=` and `ramdisk=` must be readable regular files;
 * pvnetd only checks them, QEMU reads them. A VMM may hand over at most the
 * domain's memory= as guest memory (vsw_vhost_config.mem_max), and must send each
 * vhost-user message whole within PVNET_VHOST_MSG_TIMEOUT_MS (pvnetd's
 * environment; default 1000) of its first byte.
 * Kernel command line: "console=ttyS0 quiet panic=-1 " + cfg->cmdline +
 * " pvnet.ip=<first IP of vif 0>" (the guest image's /init reads it, see
 * scripts/guest-image.sh).
 */
#ifndef PVNETD_HVM_H
#define PVNETD_HVM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <pvnet/config.h>
#include <pvnet/grant_table.h>
#include <pvnet/vswitch.h>

struct hvm_dom;

/*
 * Creates the vhost-user ports of cfg's vifs on their bridges (created on first
 * use) and starts QEMU. On success *out (owned by the caller, release with
 * hvm_destroy) and *pid_out (QEMU's pid; the caller reaps it like any child, or lets
 * hvm_destroy do it). On error nothing is left (ports removed, no process), a
 * one-line reason is in err, and -errno is returned (-EINVAL: not type "hvm", no
 * kernel, kernel/ramdisk not a regular file, a vif whose model is not virtio, or
 * a console log that is not a regular file; -ENOENT kernel/ramdisk missing;
 * -EPERM a socket= outside the allowed directories; -EEXIST a socket= naming a
 * file that is not a socket; -ELOOP the console log is a symlink). The KVM boot
 * probe (up to 6 s, once per process) calls wait_cb(arg, 0) every 20 ms (pvnetd:
 * one turn of its loop) if wait_cb is not NULL.
 */
/*
 * Whether `path` may be a vhost-user socket (a vif's socket=, or a standalone
 * `switch add-port --type vhostuser --socket`): absolute, its directory (symlinks
 * resolved) the run dir, below it, or $PVNET_VHOST_DIR; a plain last component;
 * anything already there a socket. 0, or -EINVAL/-EPERM/-EEXIST with the reason in err.
 */
int hvm_socket_path_ok(const char *path, const char *run_dir, char *err, size_t errlen);

int hvm_spawn(const struct pvnet_dom_cfg *cfg, domid_t domid, const char *run_dir,
	      struct vsw_switch *sw, struct hvm_dom **out, pid_t *pid_out, char *err, size_t errlen,
	      void (*wait_cb)(void *arg, int ms), void *arg);

/*
 * Stops QEMU if `pid` > 0 and it is still running: "quit" over QMP (sent without
 * waiting for QEMU's greeting; SIGTERM if the QMP socket cannot be reached), then
 * SIGKILL after `timeout_ms` / 2 (0: 3000 ms); reaps it and stores its wait status
 * in *status (may be NULL; 0 if someone else reaped it). While it waits it calls
 * wait_cb(arg, 20) in a loop (pvnetd: serve the store and the guests for 20 ms), or
 * sleeps if wait_cb is NULL: at most timeout_ms in all, whatever QEMU does.
 * Then removes the domain's ports from the switch (bounded, include/pvnet/vhost.h)
 * and its sockets (the console log stays, the toolstack removes it), and frees h.
 * Pass pid 0 when the caller already reaped QEMU. NULL is a no-op.
 */
/* timeout_ms for hvm_destroy: SIGKILL QEMU at once, no QMP quit (pvnet destroy) */
#define HVM_STOP_NOW 1u
void hvm_destroy(struct hvm_dom *h, pid_t pid, unsigned timeout_ms, int *status,
		 void (*wait_cb)(void *arg, int ms), void *arg);

/* "tcg" or "kvm": what this domain runs on. */
const char *hvm_accel(const struct hvm_dom *h);
/* Its QMP socket: run_dir/qmp-<domid>.sock. */
const char *hvm_qmp_path(const struct hvm_dom *h);
/* Whether its vhost-user ports connect to QEMU (QEMU's chardevs are servers). */
bool hvm_vhost_client(const struct hvm_dom *h);

/*
 * pvnetd restarts (tools/pvnetd/adopt.c). QEMU's vhost-user chardevs are servers
 * (server=on,wait=off) and the ports connect to them (vhost.h client mode, OVS's
 * dpdkvhostuserclient): when pvnetd goes, QEMU keeps running and listens again on
 * the same socket, and the next pvnetd connects as soon as it has re-adopted the
 * domain (re-sending the memory table and rings is QEMU's part of the reconnect).
 * The socket file is QEMU's: the port never removes it; hvm_destroy does once
 * QEMU has exited. A QEMU an older pvnetd started has reconnect=1 clients instead
 * (its record has no 'vhost' line): its ports listen, as they did.
 *
 * hvm_detach: pvnetd stops but QEMU stays: removes the domain's ports (closing
 * the vhost-user connections), leaves QEMU and its QMP socket
 * alone, frees h. NULL is a no-op.
 *
 * hvm_adopt: takes back a QEMU a previous pvnetd started. Checks that qmp_path
 * is run_dir/qmp-<domid>.sock and that `pid` still has start time `start`
 * (/proc/PID/stat field 22: a recycled pid does not match) and that its command
 * line is the one hvm_spawn gave it (-name and -qmp: -EPERM if not); asks QMP for the
 * guest's name (query-name) for at most qmp_timeout_ms (0: not asked): another
 * name refuses the adoption (-EPERM), no answer is logged and the pid check
 * stands; then creates cfg's vhost-user ports again as hvm_spawn does (same
 * names, sockets and limits). vhost_client (the record's 'vhost client'): QEMU's
 * vhost-user chardevs are servers and the ports connect to them at once; false
 * (a QEMU an older pvnetd started): they are reconnect=1 clients and the ports
 * listen, QEMU reconnecting within a second. A command line whose chardevs have
 * the other role refuses the adoption (-EPERM). On success
 * *out; QEMU's exit is seen by the caller (a pidfd: it is not our child) and
 * hvm_destroy waits on /proc instead of waitpid. On error nothing is left and
 * the reason is in err.
 */
void hvm_detach(struct hvm_dom *h);
int hvm_adopt(const struct pvnet_dom_cfg *cfg, domid_t domid, const char *run_dir,
	      struct vsw_switch *sw, const char *qmp_path, const char *accel, bool vhost_client,
	      pid_t pid, unsigned long long start, unsigned qmp_timeout_ms, struct hvm_dom **out,
	      char *err, size_t errlen);

/* /proc/PID/stat field 22 (start time in clock ticks); 0 if the process is gone or
 * a zombie (adopt.c). */
unsigned long long pvnet_proc_start_time(pid_t pid);

#endif /* PVNETD_HVM_H */
