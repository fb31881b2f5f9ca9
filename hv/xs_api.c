/* SPDX-License-Identifier: MIT */
/*
 * The store's dom0 API (pvnet/xs.h): thin wrappers that run the store's
 * operations as a domain with no connection, small conveniences for dom0 code,
 * and the wire's errno names. The tree, permissions, quotas, watches and
 * transactions are in xs_store.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xs_private.h"

/* ---------- errno names ---------- */

static const struct {
	int err;
	const char *name;
} errno_names[] = {XS_ERRNO_NAMES};

const char *xs_errno_name(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
	return "EIO";
}

int xs_errno_from_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (strlen(errno_names[i].name) == len && !memcmp(errno_names[i].name, name, len))
			return -errno_names[i].err;
	return -EIO;
}

#define CALLER(as) (&(struct xs_caller){.dom = (as), .conn = NULL})

int xs_read(struct xs_store *st, domid_t as, uint32_t tx, const char *path, char **val, size_t *len)
{
	return xsi_read(st, CALLER(as), tx, path, val, len);
}

int xs_write(struct xs_store *st, domid_t as, uint32_t tx, const char *path, const void *val,
	     size_t len)
{
	return xsi_write(st, CALLER(as), tx, path, val, len);
}

int xs_mkdir(struct xs_store *st, domid_t as, uint32_t tx, const char *path)
{
	return xsi_mkdir(st, CALLER(as), tx, path);
}

int xs_rm(struct xs_store *st, domid_t as, uint32_t tx, const char *path)
{
	return xsi_rm(st, CALLER(as), tx, path, false);
}

int xs_directory(struct xs_store *st, domid_t as, uint32_t tx, const char *path, char ***names,
		 unsigned *count)
{
	return xsi_directory(st, CALLER(as), tx, path, names, count, NULL);
}

int xs_get_perms(struct xs_store *st, domid_t as, uint32_t tx, const char *path,
		 struct xs_perm *perms, unsigned *count)
{
	return xsi_get_perms(st, CALLER(as), tx, path, perms, count);
}

int xs_set_perms(struct xs_store *st, domid_t as, uint32_t tx, const char *path,
		 const struct xs_perm *perms, unsigned count)
{
	return xsi_set_perms(st, CALLER(as), tx, path, perms, count);
}

int xs_transaction_start(struct xs_store *st, domid_t as, uint32_t *tx)
{
	return xsi_transaction_start(st, CALLER(as), tx);
}

int xs_transaction_end(struct xs_store *st, domid_t as, uint32_t tx, bool commit)
{
	return xsi_transaction_end(st, CALLER(as), tx, commit);
}

int xs_printf(struct xs_store *st, uint32_t tx, const char *path, const char *fmt, ...)
{
	char buf[XS_PAYLOAD_MAX];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -E2BIG;
	return xs_write(st, 0, tx, path, buf, (size_t)n);
}

int xs_read_int(struct xs_store *st, uint32_t tx, const char *path, long long *out)
{
	char *val, *end;
	long long v;
	int rc = xs_read(st, 0, tx, path, &val, NULL);
	if (rc)
		return rc;
	errno = 0;
	v = strtoll(val, &end, 0);
	if (end == val || *end != '\0' || errno)
		rc = -EINVAL;
	else
		*out = v;
	free(val);
	return rc;
}
