/* SPDX-License-Identifier: MIT */
/*
 * pvnet/config.h - domain configuration files in xl's format (xl.cfg(5)), and
 * the vif spec strings of xl-network-configuration(5).
 *
 * File syntax (as libxlu, xl's parser, reads it; docs/config.md lists every key)
 *   - one `key = value` per line; `;` may also end a statement; `key += value`
 *     appends to a list (vif) or a string (cmdline, extra, ...) set before, and
 *     is an error for a number;
 *   - `#` starts a comment that runs to the end of the line (outside strings);
 *   - a value is a string in "double" or 'single' quotes (no newline inside;
 *     escapes \\ \" \' \a \b \f \n \r \t \v \xHH), a number token, or a list
 *     `[ 'a', "b", [ 1, 2 ] ]` whose brackets may span several lines, may hold
 *     comments, may nest (at most PVNET_CONFIG_MAX_DEPTH deep) and may end with
 *     a trailing comma;
 *   - numbers follow xl.cfg(5) (strtol base 0): `0100` is octal 64, `0x40` hex
 *     64, `64` decimal; a leading `-` is accepted. As in xl, a quoted string
 *     may stand for a number (`memory = "64"`) and a number token for a string
 *     (`name = 5` names the domain "5").
 *   - Keys pvnet implements (domain):  name (required, [A-Za-z0-9_.-], 1..63
 *       chars), memory (MiB, default 64), maxmem (MiB, default = memory,
 *       >= memory), vcpus (1..128, default 1), type ("pv" default, "pvh",
 *       "hvm"), builder (deprecated xl spelling of type: "generic" or "hvm";
 *       warned), kernel, ramdisk (alias initrd), cmdline, root and extra (as xl:
 *       cmdline wins, else "root=ROOT EXTRA"), netns (the guest's network
 *       namespace; default = name), on_crash (destroy (default), restart,
 *       preserve, coredump-destroy, coredump-restart, rename-restart,
 *       soft-reset), uuid (8-4-4-4-12 hex), vif (list of vif specs, at most
 *       PVNET_MAX_VIFS), gateway (xm's domain-wide default route: each address
 *       goes to the first vif whose ip= prefix holds it).
 *   - Keys xl knows that pvnet does not implement (disk, bootloader,
 *     on_reboot, maxvcpus, cpus, vfb, serial, ...: the xl.cfg(5) list) are
 *     accepted with one warning each and otherwise ignored, whatever their
 *     value. Any other key is an error naming file and line (with a
 *     suggestion when a known key is one or two edits away). A key given twice
 *     with `=` in one file is an error (an alias counts as the same key).
 *
 * Overrides (`pvnet create FILE KEY=VALUE ...`, as `xl create`): each is one
 * statement in the file syntax, applied after the file in order; an override
 * replaces the file's value of its key (or appends with `+=`). A value that
 * does not start with a quote, a bracket, a digit or '-' is taken whole as a
 * string (`name=web3` is `name = "web3"`). Messages name an override as
 * `<override N>:1:` (N counting from 1).
 *
 * Vif spec: comma-separated `key=value` items and flags (empty items are
 * ignored, so `vif = [ '' ]` is one vif with every default). Keys:
 *   mac      six hex bytes `00:16:3e:00:00:01`, unicast, not all zero.
 *            Default: 00:16:3e + three bytes hashed from the domain name and
 *            the vif index (stable across runs; see pvnet_mac_default()).
 *   bridge   switch to attach to, <= 15 chars, default "br0"
 *   ip       space-separated addresses, IPv4 and/or IPv6, at most
 *            PVNET_MAX_VIF_IPS. With a prefix (`10.0.0.1/24`) the address is
 *            configured in a PV guest and allowed by the switch's
 *            anti-spoofing; without one (`10.0.0.1`, as xl's scripts take it)
 *            it is allowed by anti-spoofing only, the guest sets it itself.
 *   gateway  (pvnet) the PV guest's default route through this vif: one
 *            address per family, space-separated, each inside a prefix of this
 *            vif's ip= (the guest must reach it on the link)
 *   mtu      68..65535, default 1500          queues   1..8, default 1
 *   rate     Xen syntax `10Mb/s@50ms`; see pvnet_rate_parse(); default none
 *   vlan     an access VLAN 1..4094, or xl's form `10p/20/30-32/100+10x4`:
 *            the `p` term is the native VLAN (PVID), the others tagged; an
 *            untagged (`u`) term other than the PVID is refused
 *   trunks   (pvnet) tagged VLANs separated by ':', e.g. `trunks=10:20:30`,
 *            each 1..4094, at most PVNET_MAX_TRUNKS (with vlan= as native)
 *   devid    0..255: the vif's device id (xenstore handle, guest's ethN);
 *            default: the lowest id no other vif of the domain takes
 *   vifname  name of the vif's switch port (default vifDOMID.DEVID), an
 *            interface name of 1..15 chars not of the form vifN.N
 *   trusted, untrusted  flags: advice to the frontend (xl's); recorded only
 *   model    HVM device model; pvnet's HVM guests get virtio-net: another
 *            model is warned and read as "virtio"; ignored (warned) for PV
 *   type     "vif" (default) or "ioemu"; ioemu is warned for a PV guest
 *   script   hotplug script: warned, never run (pvnetd plugs the vif itself)
 *   backend  backend domain; anything but 0/dom0/Domain-0 is warned (no driver
 *            domains: the backend is pvnetd in dom0)
 *   gatewaydev, netdev (deprecated alias), forwarddev, colo_*: accepted with
 *            a warning, ignored (vif-route and COLO are not implemented)
 *   accel    accelerator plugin name          level   NIC tier 0..3
 *   devargs  opaque string for the accelerator (cannot contain a comma)
 *   mode     netfront attachment, a token of [A-Za-z0-9_.-] such as "tap"
 *            (default), "pktgen" or "sink"; netfront checks that it knows it
 *   pkt      frame size for pktgen, 60..65535
 *   pps      pktgen rate in packets per second, 0 (default) = as fast as possible
 *   poll     netback polling for this vif: "off" (default: the worker sleeps on
 *            event channels when idle), "on" (the worker busy-polls, yielding, and
 *            never sleeps while it serves the vif) or a busy-poll window in
 *            microseconds 1..1000000 after the last packet
 *   socket   Unix socket path (vhost-user), < 108 chars
 * Any other key is an error.
 *
 * Vif numbering in messages is the vif's index in the list, counting from 0
 * as Xen does: "vif 0" is the first entry of the list.
 *
 * Errors: every parser returns -EINVAL (or -ENOMEM/-errno from I/O) and writes
 * one line, NUL-terminated and truncated to err_size, into err when err is not
 * NULL and err_size > 0. File-level messages read "FILE:LINE: what was
 * expected", e.g. `web1.cfg:3: unknown key 'memry' (did you mean 'memory'?)`.
 * Warnings read "FILE:LINE: warning: ..." and go to the caller's callback, one
 * call per warning, at most one per key (vif keys: one per key for all vifs).
 *
 * Every struct here is plain data (no pointers, no heap), so a parsed domain
 * can be copied, compared, or sent over a socket as bytes between processes
 * of the same build. Strings are always NUL-terminated. Unused bytes are zero.
 */
#ifndef PVNET_CONFIG_H
#define PVNET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <pvnet/io/vif.h>
#include <pvnet/lib.h>

#define PVNET_MAX_VIFS 8
#define PVNET_MAX_VIF_IPS 8
#define PVNET_MAX_TRUNKS 64
#define PVNET_MAX_QUEUES 8
#define PVNET_NAME_MAX 64 /* incl. NUL: names are at most 63 characters */

#define PVNET_DEFAULT_MEMORY_MIB 64
#define PVNET_DEFAULT_BRIDGE "br0"
/* PVNET_DEFAULT_MTU: <pvnet/io/vif.h> */
#define PVNET_DEFAULT_RATE_USEC 50000 /* rate interval when `@...` is omitted */
#define PVNET_POLL_ALWAYS (-1)        /* vif `poll=on` */
#define PVNET_MAX_DEVID 255
#define PVNET_MAX_VIF_GATEWAYS 2 /* one IPv4, one IPv6 */
#define PVNET_CONFIG_MAX_DEPTH 8 /* nesting of [ ] lists */
#define PVNET_CONFIG_MAX_OVERRIDES 32

/* One address of a vif (`ip=` item). */
struct pvnet_ip_cfg {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t addr[16];   /* network byte order; IPv4 uses the first 4 bytes */
	uint8_t prefix;     /* 0..32 (IPv4) or 0..128 (IPv6); 32/128 when not given */
	uint8_t prefix_set; /* 1: written ADDR/PREFIX; 0: bare ADDR (anti-spoofing only) */
	char text[64];      /* as written, e.g. "10.0.0.1/24" or "10.0.0.1" */
};

struct pvnet_vif_cfg {
	uint8_t mac[6];
	uint8_t mac_set; /* 1 if `mac=` was given, 0 if generated/unset */
	char bridge[32]; /* default "br0"; 1..31 characters as `switch add-br`
				      * takes (VSW_NAME_MAX), or a Linux interface name */
	unsigned n_ip;
	struct pvnet_ip_cfg ip[PVNET_MAX_VIF_IPS];
	unsigned mtu;        /* default 1500 */
	unsigned queues;     /* default 1 */
	uint64_t rate_bytes; /* bytes per interval; 0 = unlimited */
	uint32_t rate_usec;  /* interval in microseconds; 0 = unlimited */
	unsigned vlan;       /* 0 = untagged/none */
	unsigned n_trunks;
	uint16_t trunks[PVNET_MAX_TRUNKS];
	char model[16];
	char accel[32]; /* "" = no accelerator */
	int level;      /* -1 = unset */
	char mode[16];  /* default "tap" */
	unsigned pkt;   /* 0 = unset */
	unsigned pps;   /* pktgen rate, 0 = max */
	char script[128];
	char backend[64]; /* default "0" */
	char vifname[16];
	char type[8]; /* default "vif" */
	char devargs[256];
	char socket[108];
	int poll_us; /* netback polling: 0 off (default), PVNET_POLL_ALWAYS, else us */
	int devid;   /* -1 unset (pvnet_vif_parse); 0..255 after pvnet_config_parse */
	int trusted; /* -1 unset (default), 0 `untrusted`, 1 `trusted` */
	unsigned n_gateway;
	struct pvnet_ip_cfg gateway[PVNET_MAX_VIF_GATEWAYS]; /* prefix 0, prefix_set 0 */
	char gatewaydev[16]; /* recorded only (vif-route is not implemented) */
};

struct pvnet_dom_cfg {
	char name[PVNET_NAME_MAX];
	uint64_t memory_mib; /* default 64 */
	uint64_t maxmem_mib; /* default = memory_mib */
	unsigned vcpus;      /* default 1 */
	char type[8];        /* "pv" (default), "pvh", "hvm" */
	char kernel[256];
	char ramdisk[256];
	char cmdline[512];
	char netns[PVNET_NAME_MAX]; /* default = name */
	char on_crash[24];          /* default "destroy" */
	char uuid[40];              /* "" if not given, else lower-case 36 chars */
	unsigned n_vifs;
	struct pvnet_vif_cfg vifs[PVNET_MAX_VIFS];
};

/*
 * Warning sink: called with one message line (no newline), e.g.
 * "web.cfg:4: warning: 'disk' is not implemented by pvnet; ignored".
 * The string lives only for the call.
 */
typedef void pvnet_config_warn_fn(void *arg, const char *msg);

struct pvnet_config_opts {
	const char *const *overrides; /* n_overrides "KEY=VALUE" statements, see top */
	unsigned n_overrides;         /* at most PVNET_CONFIG_MAX_OVERRIDES */
	pvnet_config_warn_fn *warn;   /* NULL: warnings are dropped */
	void *warn_arg;
};

/*
 * Fill *out with defaults (no name, no vifs) / a vif with every default and
 * no MAC. Never fail.
 */
void pvnet_dom_cfg_init(struct pvnet_dom_cfg *out);
void pvnet_vif_cfg_init(struct pvnet_vif_cfg *out);

/*
 * Parse the configuration `text` of `len` bytes (need not be NUL-terminated;
 * a NUL byte inside is an error). `filename` is used only in messages (NULL:
 * "<config>"). On success *out holds the domain with every default applied
 * (MACs generated, netns defaulted) and 0 is returned. On error returns
 * -EINVAL, writes "FILE:LINE: ..." to err, and *out is unspecified (but still
 * plain data, nothing to free). The caller owns every buffer throughout.
 */
int pvnet_config_parse(const char *filename, const char *text, size_t len,
		       struct pvnet_dom_cfg *out, char *err, size_t err_size);

/* As pvnet_config_parse, with overrides and a warning sink (opts may be NULL). */
int pvnet_config_parse_ex(const char *filename, const char *text, size_t len,
			  const struct pvnet_config_opts *opts, struct pvnet_dom_cfg *out,
			  char *err, size_t err_size);

/*
 * Read the file at `path` (at most 1 MiB) and parse it as above; messages name
 * `path` as given. Returns -errno if the file cannot be read ("PATH: strerror").
 */
int pvnet_config_load(const char *path, struct pvnet_dom_cfg *out, char *err, size_t err_size);
int pvnet_config_load_ex(const char *path, const struct pvnet_config_opts *opts,
			 struct pvnet_dom_cfg *out, char *err, size_t err_size);

/*
 * The parsed domain as JSON text (2-space indent, keys in a fixed order,
 * trailing newline), for `pvnet create -n`. Keys: name, type, memory, maxmem,
 * vcpus, kernel, ramdisk, cmdline, netns, on_crash, uuid (null if unset),
 * vifs: [{devid, mac, bridge, vifname (null = vifDOMID.DEVID), ip: [text],
 * gateway: [text], mtu, queues, rate: null | {bytes_per_interval, interval_us},
 * vlan (null = untagged), trunks: [..], model, type, script, backend,
 * gatewaydev, trusted (null/true/false), accel, level, mode, pkt, pps, poll,
 * devargs, socket}]; unset strings are null. Returns a malloc'ed string the
 * caller frees, or NULL on allocation failure.
 */
char *pvnet_config_to_json(const struct pvnet_dom_cfg *cfg);

/*
 * Parse one vif spec string (see top of file) into *out, starting from
 * pvnet_vif_cfg_init(). A MAC is not generated here: out->mac_set says whether
 * one was given. Returns 0 or -EINVAL with a message without file/line
 * (e.g. "bad mtu '9' (expected 68..65535)").
 */
int pvnet_vif_parse(const char *spec, struct pvnet_vif_cfg *out, char *err, size_t err_size);

/*
 * As pvnet_vif_parse, with warnings (script=, gatewaydev=, a foreign backend,
 * ...) sent to warn(arg, "vif: ...") when warn is not NULL. Checks that need the
 * domain (model/type against the domain type, gateway against ip=, devid and
 * vifname clashes) are pvnet_config_parse's.
 */
int pvnet_vif_parse_warn(const char *spec, struct pvnet_vif_cfg *out, pvnet_config_warn_fn *warn,
			 void *arg, char *err, size_t err_size);

/*
 * A vif spec for the running domain `dom` (`pvnet network-attach`): parsed by
 * pvnet_vif_parse_warn, then checked against dom's vifs as pvnet_config_parse
 * checks a file's: at most PVNET_MAX_VIFS vifs (-ENOSPC), an explicit devid,
 * vifname or mac that another vif has (-EEXIST), a gateway outside ip=
 * (-EINVAL). On success out->devid is set (given, else the lowest free one, as
 * xl) and out->mac (given, else pvnet_mac_default(dom->name, devid, salt)
 * stepping past the domain's MACs). Messages as pvnet_vif_parse's.
 */
int pvnet_vif_attach_parse(const struct pvnet_dom_cfg *dom, const char *spec,
			   pvnet_config_warn_fn *warn, void *arg, struct pvnet_vif_cfg *out,
			   char *err, size_t err_size);

/* pvnet_mac_parse / pvnet_mac_format: include/pvnet/lib.h (the bottom layer). */

/*
 * The default MAC for vif `index` of domain `name`: 00:16:3e followed by three
 * bytes of a 32-bit FNV-1a hash of the name, a NUL and the index. Stable across
 * runs and builds. `salt` is mixed in (0 normally; the parser uses 1, 2, ...
 * only to step past a collision with another vif of the same domain).
 */
void pvnet_mac_default(const char *name, unsigned index, unsigned salt, uint8_t mac[6]);

/*
 * Parse a Xen rate "RATE[@INTERVAL]": RATE is digits, an optional G/M/K
 * multiplier (decimal: 10^9/10^6/10^3), then "b/s" (bits) or "B/s" (bytes);
 * INTERVAL is digits with unit "s" (or none), "ms" or "us", default 50 ms.
 * Computes as libxl does:
 *   bytes_per_interval = bytes_per_sec * interval_usec / 1000000 (integer)
 * so 10Mb/s@50ms -> 62500 bytes per 50000 us. Returns -EINVAL on bad syntax,
 * a zero interval, or a result of 0 or above UINT32_MAX bytes per interval;
 * outputs are written only on success.
 */
int pvnet_rate_parse(const char *s, uint64_t *bytes_per_interval, uint32_t *interval_usec);

#endif /* PVNET_CONFIG_H */
