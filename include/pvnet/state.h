/* SPDX-License-Identifier: MIT */
/*
 * pvnet/state.h - the persistent switch configuration (pvnetd's state file,
 * <state-dir>/switch.conf), as Open vSwitch keeps conf.db.
 *
 * File format (version 1): plain text, one setting per line, each line a
 * command in the syntax of the `pvnet` CLI without the program name, so the
 * file reads (and replays) like an `ovs-vsctl` script:
 *
 *     # pvnet switch state: written by pvnetd on every change; see docs/operations.md
 *     version 1
 *     switch add-br br0
 *     switch set-ageing br0 120
 *     switch add-port br0 veth0 --type afpacket
 *     switch add-port br0 vx0 --type vxlan --vni 42 --remote 10.1.0.2 --local 10.1.0.1
 *     switch set-trunk veth0 10,20,native=5
 *     switch set-antispoof tap0 --mac 00:16:3e:00:00:01 --ip 10.0.0.1
 *     switch set-mac-limit veth0 64
 *     vif-set-rate vif3.0 10Mb/s@50ms
 *
 * - Lines are split at spaces and tabs; there is no quoting (no setting holds a
 *   space). A line whose first non-blank character is `#` is a comment; blank
 *   lines are ignored. Tokens are printable ASCII (0x21..0x7e), 1..255 bytes; a
 *   line is at most PVNET_STATE_LINE_MAX bytes, at most PVNET_STATE_MAX_ARGS
 *   tokens; the file at most PVNET_STATE_FILE_MAX bytes and
 *   PVNET_STATE_MAX_ENTRIES settings.
 * - The first line that is not blank or a comment must be `version 1`. A file
 *   without it is read as version 1 (with an error for line 1); any other
 *   version is refused as a whole (every line reported as not read).
 * - Settings (the only commands a file may hold):
 *     switch add-br BR
 *     switch set-ageing BR SECS
 *     switch add-port BR PORT [OPTIONS...]     (a bridge is implied if not added)
 *     switch set-vlan PORT VID | switch set-trunk PORT LIST   (one VLAN mode per port)
 *     switch set-antispoof PORT ...
 *     switch set-mac-limit PORT N | switch set-mac-limit --bridge BR N
 *     vif-set-rate VIF RATE                    (VIF vifD.N; D/N is stored as vifD.N)
 *   Bridge and port names are 1..31 characters of [A-Za-z0-9_.-]; add-port of a
 *   guest vif name (vifD.N) is refused. The values of each setting are checked
 *   by the command itself when pvnetd applies the line (one parser: the CLI's).
 * - Each setting has a key: the bridge (add-br, set-ageing, set-mac-limit
 *   --bridge), the port (add-port;
 *   set-vlan and set-trunk share one; set-antispoof; set-mac-limit) or the vif
 *   (vif-set-rate). A later line with the same key replaces the earlier one.
 * - The file is written in a canonical order that replays: bridges, ageing,
 *   bridges' MAC limits, ports, VLAN modes, anti-spoofing, MAC limits, rates (each in the order the
 *   settings were first made).
 *
 * Mirrors (`switch mirror`) are not settings: captures are not persisted.
 *
 * Nothing here is thread-safe: one owner (pvnetd's control loop) at a time.
 */
#ifndef PVNET_STATE_H
#define PVNET_STATE_H

#include <stdbool.h>
#include <stddef.h>

#define PVNET_DEFAULT_STATE_DIR "/var/lib/pvnet"
#define PVNET_STATE_VERSION 1
#define PVNET_STATE_FILE "switch.conf"
#define PVNET_STATE_LINE_MAX 1024
#define PVNET_STATE_TOKEN_MAX 255
#define PVNET_STATE_MAX_ARGS 64
#define PVNET_STATE_MAX_ENTRIES 16384
#define PVNET_STATE_FILE_MAX (4u << 20)
#define PVNET_STATE_NAME_MAX 31 /* bridge and port names (VSW_NAME_MAX - 1) */

/* Kinds of setting, in the order the file is written (and replayed). */
enum pvnet_state_kind {
	PVNET_STATE_BRIDGE = 0,   /* switch add-br BR */
	PVNET_STATE_AGEING,       /* switch set-ageing BR SECS */
	PVNET_STATE_BR_MAC_LIMIT, /* switch set-mac-limit --bridge BR N */
	PVNET_STATE_PORT,         /* switch add-port BR PORT ... */
	PVNET_STATE_VLAN,         /* switch set-vlan PORT VID / set-trunk PORT LIST */
	PVNET_STATE_ANTISPOOF,    /* switch set-antispoof PORT ... */
	PVNET_STATE_MAC_LIMIT,    /* switch set-mac-limit PORT N */
	PVNET_STATE_RATE,         /* vif-set-rate VIF RATE */
	PVNET_STATE__KINDS
};

/* One setting. Owned by the state; valid until the next call that changes it. */
struct pvnet_state_entry {
	enum pvnet_state_kind kind;
	unsigned line;      /* line of the file it was read from; 0: recorded at run time */
	bool pending;       /* free for the owner (pvnetd: not applied yet) */
	const char *key;    /* bridge (BRIDGE, AGEING, BR_MAC_LIMIT), port (PORT, VLAN, ANTISPOOF,
			     * MAC_LIMIT) or vif (RATE) name */
	const char *bridge; /* PORT: its bridge; "" for the other kinds */
	int argc;
	char **argv; /* the command, e.g. {"switch", "add-br", "br0"}, NULL-terminated */
};

struct pvnet_state;

/* Receives one error about the file: "FILE:LINE: what" (NUL-terminated, no newline). */
typedef void (*pvnet_state_err_fn)(void *arg, unsigned line, const char *msg);

/* An empty state. 0 or -ENOMEM. The caller owns it (pvnet_state_destroy). */
int pvnet_state_create(struct pvnet_state **out);
/* Frees the state and its entries. NULL is a no-op. */
void pvnet_state_destroy(struct pvnet_state *st);

/*
 * Records a command that succeeded (argv as `pvnet` takes it without its options,
 * e.g. {"switch", "set-vlan", "veth0", "10"}): a setting replaces the entry with
 * its key; `switch del-port BR PORT` removes PORT's entries; `switch del-br BR`
 * removes BR's, its ports' and their settings. `add-port` to a bridge with no
 * entry adds `switch add-br BR` first (add-port creates the bridge). `line` is
 * kept in the entry (0 at run time). argv is copied; `vif-set-rate D/N` is stored
 * as vifD.N.
 * Returns 1 if the state changed (or may have), 0 if the command is not a
 * setting (e.g. `switch port-show`, `switch mirror`), -EINVAL (malformed: wrong
 * argument count, bad name or token; a line into err), -ENOSPC
 * (PVNET_STATE_MAX_ENTRIES), -ENOMEM. On error the state is unchanged.
 */
int pvnet_state_record(struct pvnet_state *st, int argc, char *const *argv, unsigned line,
		       char *err, size_t err_size);

/*
 * Reads a state file's text (need not be NUL-terminated) into `st` (normally
 * empty), line by line with pvnet_state_record; del-br/del-port and commands
 * that are not settings are errors in a file. Calls err_fn (may be NULL) once per
 * rejected line with "FILE:LINE: reason". Returns the number of lines rejected
 * (>= 0; the others are in `st`), or -ENOMEM (st then holds what was read).
 */
int pvnet_state_parse(struct pvnet_state *st, const char *file, const char *text, size_t len,
		      pvnet_state_err_fn err_fn, void *err_arg);

/* Settings in file order. pvnet_state_get returns NULL past the end. */
size_t pvnet_state_count(const struct pvnet_state *st);
struct pvnet_state_entry *pvnet_state_get(struct pvnet_state *st, size_t i);
/* Removes entry i (later entries move down by one). 0 or -ENOENT. */
int pvnet_state_remove(struct pvnet_state *st, size_t i);

/*
 * "vifD.N" -> 0, *domid = D, *devid = N (D 1..65535, N 0..255, no leading
 * zeros or signs); -EINVAL otherwise. domid/devid may be NULL.
 */
int pvnet_state_vif_name(const char *name, unsigned *domid, unsigned *devid);
/* 1..PVNET_STATE_NAME_MAX characters of [A-Za-z0-9_.-]. */
bool pvnet_state_name_ok(const char *name);

/* The file text (version line first); *text is malloc'ed, the caller frees it.
 * 0 or -ENOMEM. */
int pvnet_state_format(const struct pvnet_state *st, char **text, size_t *len);

/*
 * Writes `st` to `path` atomically: a temporary file in the same directory
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), fsync, rename over `path`, fsync of the
 * directory. A reader sees the old or the new file, never a mix; a crash leaves at
 * worst a stray temporary (".switch.conf.tmp-PID"). 0 or -errno.
 */
int pvnet_state_save(const struct pvnet_state *st, const char *path);

/*
 * Reads `path` (a regular file, not followed if a symlink: -ELOOP) into a
 * malloc'ed buffer, NUL-terminated; *len excludes the NUL. -ENOENT when absent,
 * -EFBIG above PVNET_STATE_FILE_MAX, -errno.
 */
int pvnet_state_read_file(const char *path, char **text, size_t *len);

#endif /* PVNET_STATE_H */
