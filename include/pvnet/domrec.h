/* SPDX-License-Identifier: MIT */
/*
 * pvnet/domrec.h - the domain record pvnetd keeps per domain in its state
 * dir (STATE_DIR/domains/<domid>.dom) so that a restarted pvnetd re-adopts the
 * running guest (tools/pvnetd/adopt.c, docs/operations.md "Restart and
 * upgrade"). Text, one "key value" a line:
 *
 *   # comment lines
 *   version 1
 *   domid 3                   1..HV_MAX_DOMID
 *   name web1                 1..63 characters, no space
 *   pid 1234                  the guest process (type hvm: QEMU)
 *   start 567890              its start time, /proc/PID/stat field 22 (> 0)
 *   memory 64                 MiB, 1..HV_MAX_MEM_SIZE
 *   file /etc/pvnet/web1.cfg  the config's name as given to create ("-": none)
 *   override KEY=VALUE        0..PVNET_DOMREC_MAX_OVERRIDES, hex-encoded
 *   config 6e616d65...        the config file's text, hex-encoded (required)
 *   vifs SIZE N HASH HEX      optional: the domain's vifs now (config, then
 *                             network-attach/-detach): N struct pvnet_vif_cfg
 *                             of SIZE bytes each, FNV-1a 64 HASH, hex
 *   type hvm                  optional: "pv" (the default) or "hvm"
 *   qmp /run/pvnet/qmp-3.sock type hvm only, required: QEMU's QMP socket
 *                             (absolute, printable, no space, < 108 bytes)
 *   accel tcg                 type hvm only, required: "tcg" or "kvm"
 *   vhost client              type hvm only, optional: "client" (QEMU's vhost-user
 *                             chardevs are servers, pvnetd's ports connect) or
 *                             "server" (pvnetd's ports listen, QEMU reconnects:
 *                             what a record without the line means, as written
 *                             before the line existed)
 *   end                       required, last
 *
 * Every key but override once; a repeated or unknown key, a bad number, a NUL
 * byte, a missing key or a missing `end` makes the record invalid (the reason
 * names the line); so do qmp, accel or vhost in a record that is not type hvm, or
 * missing from one that is. A vifs line of another SIZE (an upgrade changed
 * the struct), a wrong count or hash is not an error: vifs_state says the vifs
 * are unusable.
 */
#ifndef PVNET_DOMREC_H
#define PVNET_DOMREC_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "config.h"

#define PVNET_DOMREC_MAX_OVERRIDES 32
#define PVNET_DOMREC_MAX_SIZE (1u << 20) /* a record file larger than this is refused */

struct pvnet_domrec {
	uint16_t domid;
	char name[64];
	long pid;
	unsigned long long start;
	unsigned long long memory_mib;
	char file[PATH_MAX];
	char *overrides[PVNET_DOMREC_MAX_OVERRIDES]; /* NUL-terminated, owned */
	unsigned n_overrides;
	char *text; /* NUL-terminated (text_len bytes before it), owned */
	size_t text_len;
	struct pvnet_vif_cfg *vifs; /* owned; valid when vifs_state == 1 */
	unsigned n_vifs;
	int vifs_state;   /* 0: no vifs line, 1: usable, -1: another layout or damaged */
	int hvm;          /* type hvm: pid is QEMU's; qmp and accel are set */
	char qmp[108];    /* hvm: QEMU's QMP socket (sun_path size) */
	char accel[8];    /* hvm: "tcg" or "kvm" */
	int vhost_client; /* hvm: 1 'vhost client', 0 'vhost server' or no line */
};

/*
 * Parses `len` bytes of a record into *r (zeroed first). 0, or -EINVAL with the
 * reason ("line N: ...") in why; on error nothing is left to free.
 */
int pvnet_domrec_parse(const char *buf, size_t len, struct pvnet_domrec *r, char *why,
		       size_t why_size);

/* Writes *r in the format above (vifs line if vifs_state == 1). 0 or -EIO. */
int pvnet_domrec_write(FILE *f, const struct pvnet_domrec *r);

/* Frees what *r owns (not r itself) and zeroes it. */
void pvnet_domrec_free(struct pvnet_domrec *r);

#endif /* PVNET_DOMREC_H */
