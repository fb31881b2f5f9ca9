/* SPDX-License-Identifier: MIT */
/*
 * pvnet/lib.h - the bottom layer (lib/): what every module may use and nothing
 * below it. Today: the MAC address parser and formatter; logging is
 * <pvnet/log.h> (lib/log.c). Nothing here depends on another pvnet module.
 */
#ifndef PVNET_LIB_H
#define PVNET_LIB_H

#include <stdint.h>

/*
 * Parse "xx:xx:xx:xx:xx:xx" (exactly two hex digits per byte, either case,
 * ':' separators, nothing after). Syntax only: multicast and zero MACs parse.
 * Returns 0 or -EINVAL (mac untouched on error).
 */
int pvnet_mac_parse(const char *s, uint8_t mac[6]);

/* Format as lower-case "xx:xx:xx:xx:xx:xx" plus NUL (18 bytes). */
void pvnet_mac_format(const uint8_t mac[6], char out[18]);

#endif /* PVNET_LIB_H */
