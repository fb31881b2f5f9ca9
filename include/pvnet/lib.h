/* SPDX-License-Identifier: MIT */
/*
 * pvnet/lib.h - the bottom layer (lib/): what every module may use and nothing
 * below it: the MAC address parser and formatter (lib/mac.c), the clock, the
 * big-endian (network byte order) loads and stores, the Internet checksum
 * (RFC 1071) with its pseudo-header helpers, the network namespace name
 * helpers (lib/netns.c); logging is <pvnet/log.h>
 * (lib/log.c). Nothing here depends on another pvnet module.
 *
 * The clock, byte-order and checksum helpers are on data paths and are used by
 * the NIC plugins too (which see only include/ and link nothing of pvnet's):
 * hence header-only, static inline. Pure functions, no state, any thread.
 */
#ifndef PVNET_LIB_H
#define PVNET_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Parse "xx:xx:xx:xx:xx:xx" (exactly two hex digits per byte, either case,
 * ':' separators, nothing after). Syntax only: multicast and zero MACs parse.
 * Returns 0 or -EINVAL (mac untouched on error).
 */
int pvnet_mac_parse(const char *s, uint8_t mac[6]);

/* Format as lower-case "xx:xx:xx:xx:xx:xx" plus NUL (18 bytes). */
void pvnet_mac_format(const uint8_t mac[6], char out[18]);

/* ---- network namespace names (lib/netns.c) -------------------------------- */

/* Where `ip netns` keeps the names of network namespaces (a bind mount each). */
#define PVNET_NETNS_DIR "/run/netns"

/*
 * Whether NAME can name a network namespace under PVNET_NETNS_DIR: not empty,
 * no '/', not "." or "..", shorter than 200 bytes.
 */
bool pvnet_netns_name_ok(const char *name);

/*
 * Removes the name PVNET_NETNS_DIR/NAME as `ip netns del` does: detaches the
 * namespace's bind mount (umount2 MNT_DETACH; EINVAL, not mounted, is no error)
 * and unlinks the file, which is tried even when the unmount failed. 0; -EINVAL
 * for a NAME pvnet_netns_name_ok() refuses (nothing touched); else the first
 * -errno (of the unmount, else of the unlink).
 * The namespace itself lives on while a process runs in it.
 */
int pvnet_netns_remove(const char *name);

/* ---- clock -------------------------------------------------------------- */

/* Clock `clk` (a clock_gettime clock: CLOCK_MONOTONIC, CLOCK_REALTIME,
 * CLOCK_THREAD_CPUTIME_ID, ...) in ns; 0 when clock_gettime fails. */
static inline uint64_t pvnet_clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts)) /* vDSO for the monotonic and real-time clocks */
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The monotonic clock in ns (what every timeout, deadline and rate uses). */
static inline uint64_t pvnet_now_ns(void)
{
	return pvnet_clock_ns(CLOCK_MONOTONIC);
}

/* The monotonic clock in ms. */
static inline uint64_t pvnet_now_ms(void)
{
	return pvnet_now_ns() / 1000000u;
}

/* The monotonic clock in seconds (for tools that print or compare seconds). */
static inline double pvnet_now_s(void)
{
	return (double)pvnet_now_ns() / 1e9;
}

/* ---- byte order: big-endian loads and stores at any alignment -------------- */

static inline uint16_t pvnet_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pvnet_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t pvnet_rd64(const uint8_t *p)
{
	return (uint64_t)pvnet_rd32(p) << 32 | pvnet_rd32(p + 4);
}

static inline void pvnet_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void pvnet_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void pvnet_wr64(uint8_t *p, uint64_t v)
{
	pvnet_wr32(p, (uint32_t)(v >> 32));
	pvnet_wr32(p + 4, (uint32_t)v);
}

/* ---- the Internet checksum (RFC 1071) ------------------------------------- */

/*
 * Adds the 16-bit big-endian words of buf[0, size) to the running sum `sum` (an
 * odd last byte is padded with zero) and returns the new sum, end-around carries
 * kept: any size and any number of chained calls are exact as long as every
 * chunk but the last has an even size. Start with 0.
 */
static inline uint32_t pvnet_csum_partial(const void *buf, size_t size, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = sum;
	size_t i = 0;

	for (; i + 1 < size; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < size)
		acc += (uint32_t)p[i] << 8; /* odd byte, padded with zero */
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

/* Folds a running sum to its 16-bit one's-complement sum, NOT inverted (what a
 * partial checksum field holds: virtio NEEDS_CSUM, Xen csum_blank). */
static inline uint16_t pvnet_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum field's value for a running sum: the folded sum inverted. Over
 * data that includes a correct checksum field it is 0. (UDP: a result of 0 is
 * sent as 0xffff, which callers do.) */
static inline uint16_t pvnet_csum_finish(uint32_t sum)
{
	return (uint16_t)~pvnet_csum_fold(sum);
}

/*
 * The TCP/UDP pseudo-header's sum: the source and destination addresses, the
 * protocol and the upper-layer length `l4_size`, from the IP header at `ip`
 * (IPv4: its addresses at 12..19; IPv6: at 8..39). Add the upper-layer bytes to
 * it with pvnet_csum_partial.
 */
static inline uint32_t pvnet_csum_pseudo4(const uint8_t *ip, uint8_t proto, uint32_t l4_size)
{
	return pvnet_csum_partial(ip + 12, 8, proto + (l4_size >> 16) + (l4_size & 0xffff));
}

static inline uint32_t pvnet_csum_pseudo6(const uint8_t *ip, uint8_t proto, uint32_t l4_size)
{
	return pvnet_csum_partial(ip + 8, 32, proto + (l4_size >> 16) + (l4_size & 0xffff));
}

#endif /* PVNET_LIB_H */
