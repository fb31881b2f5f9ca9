/* SPDX-License-Identifier: MIT */
/*
 * pvnet/io/xs_wire.h - the xenstore wire protocol, with Xen's numbering
 * (public/io/xs_wire.h). A message is a 16-byte header followed by `len`
 * payload bytes (at most XENSTORE_PAYLOAD_MAX), usually NUL-terminated strings.
 * Errors travel as XS_ERROR whose payload is the errno NAME ("ENOENT\0").
 * Watch events are XS_WATCH_EVENT, req_id 0, payload "path\0token\0".
 */
#ifndef PVNET_IO_XS_WIRE_H
#define PVNET_IO_XS_WIRE_H

#include <stdint.h>

enum xsd_sockmsg_type {
	XS_CONTROL = 0,
	XS_DIRECTORY = 1,
	XS_READ = 2,
	XS_GET_PERMS = 3,
	XS_WATCH = 4,
	XS_UNWATCH = 5,
	XS_TRANSACTION_START = 6,
	XS_TRANSACTION_END = 7,
	XS_INTRODUCE = 8,
	XS_RELEASE = 9,
	XS_GET_DOMAIN_PATH = 10,
	XS_WRITE = 11,
	XS_MKDIR = 12,
	XS_RM = 13,
	XS_SET_PERMS = 14,
	XS_WATCH_EVENT = 15,
	XS_ERROR = 16,
	XS_IS_DOMAIN_INTRODUCED = 17,
	XS_RESUME = 18,
	XS_SET_TARGET = 19,
	/* 20 was XS_RESTRICT, removed */
	XS_RESET_WATCHES = 21,
	XS_DIRECTORY_PART = 22,
	XS_TYPE_COUNT = 23,
	XS_INVALID = 0xffff
};

struct xsd_sockmsg {
	uint32_t type;   /* enum xsd_sockmsg_type */
	uint32_t req_id; /* echoed in the reply */
	uint32_t tx_id;  /* transaction, 0 = none */
	uint32_t len;    /* payload bytes that follow */
};
_Static_assert(sizeof(struct xsd_sockmsg) == 16, "xsd_sockmsg is 16 bytes");

enum xs_watch_type { XS_WATCH_PATH = 0, XS_WATCH_TOKEN = 1 };

#define XENSTORE_PAYLOAD_MAX 4096
#define XENSTORE_ABS_PATH_MAX 3072
#define XENSTORE_REL_PATH_MAX 2048

/*
 * Error names in Xen's table order (xsd_errors[]); the wire carries the name.
 * XS_ERRNO_NAMES expands to { errno, "NAME" } pairs.
 */
#define XS_ERRNO_NAMES                                                                   \
	{EINVAL, "EINVAL"}, {EACCES, "EACCES"}, {EEXIST, "EEXIST"}, {EISDIR, "EISDIR"},  \
		{ENOENT, "ENOENT"}, {ENOMEM, "ENOMEM"}, {ENOSPC, "ENOSPC"},              \
		{EIO, "EIO"}, {ENOTEMPTY, "ENOTEMPTY"}, {ENOSYS, "ENOSYS"},              \
		{EROFS, "EROFS"}, {EBUSY, "EBUSY"}, {EAGAIN, "EAGAIN"},                  \
		{EISCONN, "EISCONN"}, {E2BIG, "E2BIG"},                                  \
	{                                                                                \
		EPERM, "EPERM"                                                           \
	}

#endif /* PVNET_IO_XS_WIRE_H */
