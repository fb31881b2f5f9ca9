/* SPDX-License-Identifier: MIT */
/*
 * pvnet/version.h - the release every pvnet program reports with --version.
 *
 *   if (pvnet_version_opt(argc, argv, "pvnet-guest"))
 *           return 0;
 *
 * prints "pvnet-guest (pvnet) 0.1.0" when argv[1] is --version.
 */
#ifndef PVNET_VERSION_H
#define PVNET_VERSION_H

#include <stdio.h>
#include <string.h>

#define PVNET_VERSION "0.1.0"

/* 1 (after printing the version to stdout) if argv[1] is "--version", else 0. */
static inline int pvnet_version_opt(int argc, char **argv, const char *prog)
{
	if (argc < 2 || strcmp(argv[1], "--version"))
		return 0;
	printf("%s (pvnet) %s\n", prog, PVNET_VERSION);
	return 1;
}

#endif /* PVNET_VERSION_H */
