/* SPDX-License-Identifier: MIT */
/*
 * lib/netns.c - network namespace names under /run/netns (include/pvnet/lib.h):
 * the name check and the removal both the guest driver (netfront, which makes
 * the name) and the toolstack (pvnetd, which cleans up after a killed guest) use.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <pvnet/lib.h>

bool pvnet_netns_name_ok(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") &&
	       strlen(name) < 200;
}

int pvnet_netns_remove(const char *name)
{
	char path[256];
	int rc = 0;

	if (!pvnet_netns_name_ok(name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", PVNET_NETNS_DIR, name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
		rc = -errno;
	if (unlink(path) < 0 && !rc)
		rc = -errno;
	return rc;
}
