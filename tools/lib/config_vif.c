/* SPDX-License-Identifier: MIT */
/*
 * config_vif.c - vif spec strings (xl-network-configuration(5)), MAC and rate
 * helpers of the domain config parser (contract in include/pvnet/config.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/config.h>

#include "config_private.h"

#define SPEC_MAX 4096 /* longest trunks= value, incl. NUL */

void cfg_set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (!err || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* Copy src into dst[cap]; -E2BIG (dst untouched) if it does not fit. */
int cfg_copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -E2BIG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow. */
static int parse_udec(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int parse_urange(const char *s, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v;

	if (parse_udec(s, &v) || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* [A-Za-z0-9_.-]{1,max} */
bool cfg_is_token(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* A Linux interface name: 1..15 bytes, no '/', no whitespace, not "." or "..". */
bool cfg_is_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s) ||
		    !isprint((unsigned char)*s))
			return false;
	return true;
}

/* ---- default MACs and rate helpers (parse/format: lib/mac.c) --------------------------------------------- */

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

void pvnet_mac_default(const char *name, unsigned index, unsigned salt, uint8_t mac[6])
{
	uint8_t le[8] = {(uint8_t)index,         (uint8_t)(index >> 8), (uint8_t)(index >> 16),
			 (uint8_t)(index >> 24), (uint8_t)salt,         (uint8_t)(salt >> 8),
			 (uint8_t)(salt >> 16),  (uint8_t)(salt >> 24)};
	uint32_t h = 2166136261u;

	h = fnv1a(h, name, strlen(name) + 1); /* the NUL separates name and index */
	h = fnv1a(h, le, sizeof(le));
	mac[0] = 0x00;
	mac[1] = 0x16;
	mac[2] = 0x3e;
	mac[3] = (uint8_t)((h >> 16) & 0x7f); /* Xen keeps the top bit clear too */
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

int pvnet_rate_parse(const char *s, uint64_t *bytes_per_interval, uint32_t *interval_usec)
{
	uint64_t n = 0, mult = 1, bps, usec = PVNET_DEFAULT_RATE_USEC, bpi;
	const char *p = s;
	bool bits;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p == 'G')
		mult = 1000000000ull;
	else if (*p == 'M')
		mult = 1000000ull;
	else if (*p == 'K')
		mult = 1000ull;
	if (mult != 1)
		p++;
	if (*p != 'b' && *p != 'B')
		return -EINVAL;
	bits = *p++ == 'b';
	if (p[0] != '/' || p[1] != 's')
		return -EINVAL;
	p += 2;
	if (n > UINT64_MAX / mult)
		return -EINVAL;
	bps = n * mult;
	if (bits)
		bps /= 8;

	if (*p == '@') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (usec = 0; isdigit((unsigned char)*p); p++) {
			if (usec > UINT32_MAX)
				return -EINVAL;
			usec = usec * 10 + (uint64_t)(*p - '0');
		}
		if (!strcmp(p, "ms"))
			mult = 1000;
		else if (!strcmp(p, "us"))
			mult = 1;
		else if (!strcmp(p, "s") || !*p)
			mult = 1000000;
		else
			return -EINVAL;
		if (usec > UINT32_MAX / mult)
			return -EINVAL;
		usec *= mult;
	} else if (*p) {
		return -EINVAL;
	}
	if (usec == 0 || (bps && usec > UINT64_MAX / bps))
		return -EINVAL;
	bpi = bps * usec / 1000000u;
	if (bpi == 0 || bpi > UINT32_MAX)
		return -EINVAL;
	*bytes_per_interval = bpi;
	*interval_usec = (uint32_t)usec;
	return 0;
}

/* ---- warnings ------------------------------------------------------------ */

void cfg_warn(const struct cfg_wsink *ws, enum cfg_vif_warning id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (!ws || !ws->fn)
		return;
	if (ws->seen) {
		if (*ws->seen & (1u << id))
			return;
		*ws->seen |= 1u << id;
	}
	n = snprintf(msg, sizeof(msg), "%s", ws->prefix ? ws->prefix : "");
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	ws->fn(ws->arg, msg);
}

/* ---- vif specs ---------------------------------------------------------- */

void pvnet_vif_cfg_init(struct pvnet_vif_cfg *out)
{
	memset(out, 0, sizeof(*out));
	strcpy(out->bridge, PVNET_DEFAULT_BRIDGE);
	out->mtu = PVNET_DEFAULT_MTU;
	out->queues = 1;
	out->level = -1;
	strcpy(out->mode, "tap");
	strcpy(out->backend, "0");
	strcpy(out->type, "vif");
	out->devid = -1;
	out->trusted = -1;
}

int cfg_parse_ip(const char *item, const char *what, bool prefix_allowed, struct pvnet_ip_cfg *ip,
		 char *err, size_t err_size)
{
	char addr[64];
	const char *slash = strchr(item, '/');
	unsigned prefix, max;
	size_t alen;

	if (strlen(item) >= sizeof(ip->text)) {
		cfg_set_err(err, err_size, "bad %s '%s' (too long)", what, item);
		return -EINVAL;
	}
	if (slash && !prefix_allowed) {
		cfg_set_err(err, err_size, "bad %s '%s' (expected an address without a prefix)",
			    what, item);
		return -EINVAL;
	}
	alen = slash ? (size_t)(slash - item) : strlen(item);
	memcpy(addr, item, alen);
	addr[alen] = '\0';
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, addr, ip->addr) == 1) {
		ip->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, ip->addr) == 1) {
		ip->family = AF_INET6;
		max = 128;
	} else {
		cfg_set_err(err, err_size, "bad %s '%s' ('%s' is not an IPv4 or IPv6 address)",
			    what, item, addr);
		return -EINVAL;
	}
	ip->prefix = (uint8_t)max;
	if (slash) {
		if (parse_urange(slash + 1, 0, max, &prefix)) {
			cfg_set_err(err, err_size,
				    "bad %s '%s' (expected a prefix length 0..%u after '/')", what,
				    item, max);
			return -EINVAL;
		}
		ip->prefix = (uint8_t)prefix;
		ip->prefix_set = 1;
	}
	strcpy(ip->text, item);
	return 0;
}

bool cfg_ip_in_prefix(const struct pvnet_ip_cfg *a, const struct pvnet_ip_cfg *net)
{
	unsigned bits = net->prefix, i;

	if (a->family != net->family || !net->prefix_set)
		return false;
	for (i = 0; i < bits / 8; i++)
		if (a->addr[i] != net->addr[i])
			return false;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
		if ((a->addr[i] & mask) != (net->addr[i] & mask))
			return false;
	}
	return true;
}

static int vif_parse_ips(char *val, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	char *save = NULL, *item;
	int rc;

	out->n_ip = 0;
	for (item = strtok_r(val, " \t", &save); item; item = strtok_r(NULL, " \t", &save)) {
		if (out->n_ip == PVNET_MAX_VIF_IPS) {
			cfg_set_err(err, err_size, "too many ip addresses (max %d)",
				    PVNET_MAX_VIF_IPS);
			return -EINVAL;
		}
		rc = cfg_parse_ip(item, "ip", true, &out->ip[out->n_ip], err, err_size);
		if (rc)
			return rc;
		out->n_ip++;
	}
	if (out->n_ip == 0) {
		cfg_set_err(err, err_size, "empty ip (expected ADDRESS[/PREFIX] ...)");
		return -EINVAL;
	}
	return 0;
}

static int vif_parse_gateways(char *val, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	char *save = NULL, *item;
	unsigned i;
	int rc;

	out->n_gateway = 0;
	for (item = strtok_r(val, " \t", &save); item; item = strtok_r(NULL, " \t", &save)) {
		struct pvnet_ip_cfg gw;

		rc = cfg_parse_ip(item, "gateway", false, &gw, err, err_size);
		if (rc)
			return rc;
		for (i = 0; i < out->n_gateway; i++) {
			if (out->gateway[i].family == gw.family) {
				cfg_set_err(err, err_size,
					    "bad gateway '%s' (one gateway per address family)",
					    item);
				return -EINVAL;
			}
		}
		gw.prefix = 0;
		out->gateway[out->n_gateway++] = gw;
	}
	if (out->n_gateway == 0) {
		cfg_set_err(err, err_size, "empty gateway (expected an IPv4 and/or IPv6 address)");
		return -EINVAL;
	}
	return 0;
}

static int trunk_add(struct pvnet_vif_cfg *out, unsigned v, const char *val, char *err,
		     size_t err_size)
{
	unsigned i;

	for (i = 0; i < out->n_trunks; i++) {
		if (out->trunks[i] == v) {
			cfg_set_err(err, err_size, "bad %s '%s' (VLAN %u listed twice)",
				    strchr(val, '/') ? "vlan" : "trunks", val, v);
			return -EINVAL;
		}
	}
	if (out->n_trunks == PVNET_MAX_TRUNKS) {
		cfg_set_err(err, err_size, "too many tagged VLANs (max %d)", PVNET_MAX_TRUNKS);
		return -EINVAL;
	}
	out->trunks[out->n_trunks++] = (uint16_t)v;
	return 0;
}

static int vif_parse_trunks(const char *val, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	char buf[SPEC_MAX], *save = NULL, *item;
	unsigned v;
	int rc;

	out->n_trunks = 0;
	if (cfg_copy_str(buf, sizeof(buf), val))
		goto bad;
	if (!*buf || buf[0] == ':' || buf[strlen(buf) - 1] == ':' || strstr(buf, "::"))
		goto bad;
	for (item = strtok_r(buf, ":", &save); item; item = strtok_r(NULL, ":", &save)) {
		if (parse_urange(item, 1, 4094, &v))
			goto bad;
		rc = trunk_add(out, v, val, err, err_size);
		if (rc)
			return rc;
	}
	return 0;
bad:
	cfg_set_err(err, err_size,
		    "bad trunks '%s' (expected VLAN ids 1..4094 separated by ':', e.g. 10:20:30)",
		    val);
	return -EINVAL;
}

/* Leading decimal digits of *p as a VLAN id 1..4094; advances *p. */
static int vid_take(const char **p, unsigned *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > 4094)
			return -EINVAL;
	}
	if (v < 1)
		return -EINVAL;
	*p = s;
	*out = (unsigned)v;
	return 0;
}

/* One term of xl's vlan= form: N, A-B or N+OxC (VLANs a..b every off), then 'p'
 * (the PVID, a single VLAN) or 'u' (untagged). 0, or -1 when malformed. */
static int vlan_term(const char *p, unsigned *a, unsigned *b, unsigned *off, bool *untagged,
		     bool *is_pvid)
{
	if (vid_take(&p, a))
		return -1;
	*b = *a;
	*off = 1;
	if (*p == '-') {
		p++;
		if (vid_take(&p, b) || *b < *a)
			return -1;
	} else if (*p == '+') {
		uint64_t o = 0, c = 0;
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p) && o <= 4094; p++)
			o = o * 10 + (uint64_t)(*p - '0');
		if (*p++ != 'x' || !isdigit((unsigned char)*p) || o == 0)
			return -1;
		for (; isdigit((unsigned char)*p) && c <= 4094; p++)
			c = c * 10 + (uint64_t)(*p - '0');
		if (*a + o * c > 4094)
			return -1;
		*off = (unsigned)o;
		*b = *a + *off * (unsigned)c;
	}
	if (*p == 'p' && *b == *a) {
		*is_pvid = true;
		p++;
	} else if (*p == 'u') {
		*untagged = true;
		p++;
	}
	return *p ? -1 : 0;
}

/*
 * vlan=N (an access VLAN) or xl's form TERM/TERM/...: N[p|u], A-B[u], N+OxC[u].
 * The `p` term becomes the native VLAN, every other VLAN is tagged.
 */
static int vif_parse_vlan(const char *val, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	char buf[SPEC_MAX], *save = NULL, *term;
	unsigned pvid = 0, nterms = 0, a, b, off, i;
	int rc;

	out->vlan = 0;
	out->n_trunks = 0;
	if (cfg_copy_str(buf, sizeof(buf), val) || !*buf || buf[0] == '/' ||
	    buf[strlen(buf) - 1] == '/' || strstr(buf, "//"))
		goto bad;
	for (term = strtok_r(buf, "/", &save); term; term = strtok_r(NULL, "/", &save)) {
		bool untagged = false, is_pvid = false;

		nterms++;
		if (vlan_term(term, &a, &b, &off, &untagged, &is_pvid))
			goto bad;
		if (is_pvid) {
			if (pvid) {
				cfg_set_err(err, err_size,
					    "bad vlan '%s' (more than one PVID marked 'p')", val);
				return -EINVAL;
			}
			pvid = a;
			continue;
		}
		if (untagged) {
			cfg_set_err(err, err_size,
				    "bad vlan '%s' (untagged VLANs other than the PVID are not "
				    "implemented)",
				    val);
			return -EINVAL;
		}
		for (i = a; i <= b; i += off) {
			rc = trunk_add(out, i, val, err, err_size);
			if (rc)
				return rc;
		}
	}
	if (nterms == 1 && !pvid && out->n_trunks == 1) {
		/* `vlan=10`: a single VLAN is the PVID without its 'p', as in xl */
		pvid = out->trunks[0];
		out->n_trunks = 0;
		out->trunks[0] = 0;
	}
	if (!pvid) {
		cfg_set_err(err, err_size,
			    "bad vlan '%s' (one VLAN must be marked as the PVID with 'p', "
			    "e.g. 10p/20)",
			    val);
		return -EINVAL;
	}
	for (i = 0; i < out->n_trunks; i++) {
		if (out->trunks[i] == pvid) {
			cfg_set_err(err, err_size, "bad vlan '%s' (VLAN %u listed twice)", val,
				    pvid);
			return -EINVAL;
		}
	}
	out->vlan = pvid;
	return 0;
bad:
	if (!strchr(val, '/') && !strpbrk(val, "-+"))
		cfg_set_err(err, err_size, "bad vlan '%s' (expected 1..4094)", val);
	else
		cfg_set_err(err, err_size,
			    "bad vlan '%s' (expected VLAN terms N[p|u], A-B[u] or N+OxC[u] "
			    "separated by '/', VLAN ids 1..4094, e.g. 10p/20/30-32)",
			    val);
	return -EINVAL;
}

enum vif_key {
	VK_MAC,
	VK_BRIDGE,
	VK_IP,
	VK_MTU,
	VK_QUEUES,
	VK_RATE,
	VK_VLAN,
	VK_TRUNKS,
	VK_MODEL,
	VK_ACCEL,
	VK_LEVEL,
	VK_MODE,
	VK_PKT,
	VK_SCRIPT,
	VK_BACKEND,
	VK_VIFNAME,
	VK_TYPE,
	VK_DEVARGS,
	VK_SOCKET,
	VK_PPS,
	VK_POLL,
	VK_DEVID,
	VK_GATEWAY,
	VK_GATEWAYDEV,
	VK_NETDEV,
	VK_FORWARDDEV,
	VK_COUNT
};

static const char *const vif_keys[VK_COUNT] = {
	"mac",     "bridge",  "ip",         "mtu",     "queues",     "rate", "vlan",
	"trunks",  "model",   "accel",      "level",   "mode",       "pkt",  "script",
	"backend", "vifname", "type",       "devargs", "socket",     "pps",  "poll",
	"devid",   "gateway", "gatewaydev", "netdev",  "forwarddev",
};

/* mac=: a unicast, non-zero Ethernet address. */
static int vif_apply_mac(char *val, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	if (pvnet_mac_parse(val, out->mac)) {
		cfg_set_err(err, err_size,
			    "bad mac '%s' (expected six hex bytes like 00:16:3e:00:00:01)", val);
		return -EINVAL;
	}
	if (out->mac[0] & 1) {
		cfg_set_err(err, err_size,
			    "bad mac '%s' (multicast bit set; expected a unicast address)", val);
		return -EINVAL;
	}
	if (!(out->mac[0] | out->mac[1] | out->mac[2] | out->mac[3] | out->mac[4] | out->mac[5])) {
		cfg_set_err(err, err_size, "bad mac '%s' (all zero; expected a unicast address)",
			    val);
		return -EINVAL;
	}
	out->mac_set = 1;
	return 0;
}

/* bridge=: a switch name or a Linux interface name. */
static int vif_apply_bridge(char *val, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	/* any name `pvnet switch add-br` takes (1..31 of [A-Za-z0-9_.-]), and the
	 * Linux interface names xl configs use */
	if (!cfg_is_token(val, sizeof(out->bridge) - 1) && !cfg_is_ifname(val)) {
		cfg_set_err(err, err_size,
			    "bad bridge '%s' (expected 1..%zu characters from "
			    "[A-Za-z0-9_.-], as pvnet switch add-br takes)",
			    val, sizeof(out->bridge) - 1);
		return -EINVAL;
	}
	strcpy(out->bridge, val);
	return 0;
}

/* vifname=, gatewaydev=, netdev=: interface names (the last two only recorded). */
static int vif_apply_ifname(enum vif_key k, char *val, struct pvnet_vif_cfg *out,
			    const struct cfg_wsink *ws, char *err, size_t err_size)
{
	const char *what = vif_keys[k];
	unsigned a, b;
	char tail;

	if (!cfg_is_ifname(val)) {
		cfg_set_err(err, err_size,
			    "bad %s '%s' (expected an interface name of 1..15 characters)", what,
			    val);
		return -EINVAL;
	}
	if (k == VK_VIFNAME && !cfg_is_token(val, 15)) {
		cfg_set_err(err, err_size,
			    "bad vifname '%s' (expected 1..15 characters from [A-Za-z0-9_.-])",
			    val);
		return -EINVAL;
	}
	if (k == VK_VIFNAME && sscanf(val, "vif%u.%u%c", &a, &b, &tail) == 2) {
		cfg_set_err(err, err_size,
			    "bad vifname '%s' (names vifDOMID.DEVID are those pvnet gives "
			    "vifs; pick another)",
			    val);
		return -EINVAL;
	}
	if (k == VK_GATEWAYDEV || k == VK_NETDEV) {
		cfg_warn(ws, k == VK_NETDEV ? CFG_VW_NETDEV : CFG_VW_GATEWAYDEV,
			 "%s=%s is for xl's vif-route script, which pvnet does not run; "
			 "recorded, otherwise ignored%s",
			 what, val,
			 k == VK_NETDEV ? " (netdev is a deprecated alias of gatewaydev)" : "");
		strcpy(out->gatewaydev, val);
		return 0;
	}
	strcpy(out->vifname, val);
	return 0;
}

/* mtu=, queues=, devid=, level=, pkt=: bounded decimal numbers. */
static int vif_apply_number(enum vif_key k, char *val, struct pvnet_vif_cfg *out, char *err,
			    size_t err_size)
{
	unsigned u;

	switch (k) {
	case VK_MTU:
		if (parse_urange(val, 68, 65535, &out->mtu)) {
			cfg_set_err(err, err_size, "bad mtu '%s' (expected 68..65535)", val);
			return -EINVAL;
		}
		return 0;
	case VK_QUEUES:
		if (parse_urange(val, 1, PVNET_MAX_QUEUES, &out->queues)) {
			cfg_set_err(err, err_size, "bad queues '%s' (expected 1..%d)", val,
				    PVNET_MAX_QUEUES);
			return -EINVAL;
		}
		return 0;
	case VK_DEVID:
		if (parse_urange(val, 0, PVNET_MAX_DEVID, &u)) {
			cfg_set_err(err, err_size, "bad devid '%s' (expected 0..%d)", val,
				    PVNET_MAX_DEVID);
			return -EINVAL;
		}
		out->devid = (int)u;
		return 0;
	case VK_LEVEL:
		if (parse_urange(val, 0, 3, &u)) {
			cfg_set_err(err, err_size, "bad level '%s' (expected 0..3)", val);
			return -EINVAL;
		}
		out->level = (int)u;
		return 0;
	case VK_PKT:
		if (parse_urange(val, 60, 65535, &out->pkt)) {
			cfg_set_err(err, err_size, "bad pkt '%s' (expected a frame size 60..65535)",
				    val);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

/* rate=, pps=, poll=: the vif's rate limits and polling. */
static int vif_apply_pacing(enum vif_key k, char *val, struct pvnet_vif_cfg *out, char *err,
			    size_t err_size)
{
	unsigned u;

	if (k == VK_RATE) {
		if (pvnet_rate_parse(val, &out->rate_bytes, &out->rate_usec)) {
			cfg_set_err(
				err, err_size,
				"bad rate '%s' (expected N[GMK]b/s or N[GMK]B/s with an optional "
				"@N[s|ms|us], e.g. 10Mb/s@50ms)",
				val);
			return -EINVAL;
		}
		return 0;
	}
	if (k == VK_PPS) {
		if (parse_urange(val, 0, 100000000, &out->pps)) {
			cfg_set_err(
				err, err_size,
				"bad pps '%s' (expected packets per second 0..100000000, 0 = max)",
				val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(val, "on")) {
		out->poll_us = PVNET_POLL_ALWAYS;
	} else if (!strcmp(val, "off")) {
		out->poll_us = 0;
	} else if (parse_urange(val, 1, 1000000, &u)) {
		cfg_set_err(err, err_size,
			    "bad poll '%s' (expected on, off or microseconds 1..1000000)", val);
		return -EINVAL;
	} else {
		out->poll_us = (int)u;
	}
	return 0;
}

/* model=, accel=, mode=, backend=: tokens (backend other than dom0 warned about). */
static int vif_apply_token(enum vif_key k, char *val, struct pvnet_vif_cfg *out,
			   const struct cfg_wsink *ws, char *err, size_t err_size)
{
	const char *what = vif_keys[k];
	char *dst = k == VK_MODEL   ? out->model
		    : k == VK_ACCEL ? out->accel
		    : k == VK_MODE  ? out->mode
				    : out->backend;
	size_t cap = k == VK_MODEL   ? sizeof(out->model)
		     : k == VK_ACCEL ? sizeof(out->accel)
		     : k == VK_MODE  ? sizeof(out->mode)
				     : sizeof(out->backend);

	if (!cfg_is_token(val, cap - 1)) {
		cfg_set_err(err, err_size,
			    "bad %s '%s' (expected 1..%zu characters from [A-Za-z0-9_.-])", what,
			    val, cap - 1);
		return -EINVAL;
	}
	strcpy(dst, val);
	if (k == VK_BACKEND && strcmp(val, "0") && strcmp(val, "dom0") && strcmp(val, "Domain-0"))
		cfg_warn(ws, CFG_VW_BACKEND,
			 "backend=%s: driver domains are not implemented; the backend is "
			 "pvnetd in dom0",
			 val);
	return 0;
}

/* script=, devargs=, socket=: free strings (script only recorded). */
static int vif_apply_string(enum vif_key k, char *val, struct pvnet_vif_cfg *out,
			    const struct cfg_wsink *ws, char *err, size_t err_size)
{
	const char *what = vif_keys[k];
	char *dst = k == VK_SCRIPT ? out->script : k == VK_DEVARGS ? out->devargs : out->socket;
	size_t cap = k == VK_SCRIPT    ? sizeof(out->script)
		     : k == VK_DEVARGS ? sizeof(out->devargs)
				       : sizeof(out->socket);

	if (!*val || cfg_copy_str(dst, cap, val)) {
		cfg_set_err(err, err_size, "bad %s '%s' (expected 1..%zu characters)", what, val,
			    cap - 1);
		return -EINVAL;
	}
	if (k == VK_SCRIPT)
		cfg_warn(ws, CFG_VW_SCRIPT,
			 "script=%s is not run: pvnetd plugs the vif into its own switch; "
			 "recorded, otherwise ignored",
			 val);
	return 0;
}

/* Apply one key=value of a vif spec; `val` may be modified. */
static int vif_apply(enum vif_key k, char *val, struct pvnet_vif_cfg *out,
		     const struct cfg_wsink *ws, char *err, size_t err_size)
{
	switch (k) {
	case VK_MAC:
		return vif_apply_mac(val, out, err, err_size);
	case VK_BRIDGE:
		return vif_apply_bridge(val, out, err, err_size);
	case VK_VIFNAME:
	case VK_GATEWAYDEV:
	case VK_NETDEV:
		return vif_apply_ifname(k, val, out, ws, err, err_size);
	case VK_IP:
		return vif_parse_ips(val, out, err, err_size);
	case VK_GATEWAY:
		return vif_parse_gateways(val, out, err, err_size);
	case VK_MTU:
	case VK_QUEUES:
	case VK_DEVID:
	case VK_LEVEL:
	case VK_PKT:
		return vif_apply_number(k, val, out, err, err_size);
	case VK_RATE:
	case VK_PPS:
	case VK_POLL:
		return vif_apply_pacing(k, val, out, err, err_size);
	case VK_VLAN:
		return vif_parse_vlan(val, out, err, err_size);
	case VK_TRUNKS:
		return vif_parse_trunks(val, out, err, err_size);
	case VK_TYPE:
		if (strcmp(val, "vif") && strcmp(val, "ioemu")) {
			cfg_set_err(err, err_size, "bad type '%s' (expected 'vif' or 'ioemu')",
				    val);
			return -EINVAL;
		}
		strcpy(out->type, val);
		return 0;
	case VK_MODEL:
	case VK_ACCEL:
	case VK_MODE:
	case VK_BACKEND:
		return vif_apply_token(k, val, out, ws, err, err_size);
	case VK_SCRIPT:
	case VK_DEVARGS:
	case VK_SOCKET:
		return vif_apply_string(k, val, out, ws, err, err_size);
	case VK_FORWARDDEV:
		cfg_warn(ws, CFG_VW_FORWARDDEV, "forwarddev=%s (COLO) is not implemented; ignored",
			 val);
		return 0;
	case VK_COUNT:
		break;
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* After every key of a spec: the tagged VLANs (vlan= first, then trunks=, not
 * both) and gatewaydev against its alias netdev. 0 or -errno (err set). */
static int vif_finish(struct pvnet_vif_cfg *out, const bool *seen, char *vlan_val, char *trunks_val,
		      const struct cfg_wsink *ws, char *err, size_t err_size)
{
	int rc;

	if (vlan_val && (rc = vif_apply(VK_VLAN, vlan_val, out, ws, err, err_size)))
		return rc;
	if (trunks_val && out->n_trunks) {
		cfg_set_err(
			err, err_size,
			"give tagged VLANs either in xl's vlan=N/M form or as trunks=, not both");
		return -EINVAL;
	}
	if (trunks_val && (rc = vif_apply(VK_TRUNKS, trunks_val, out, ws, err, err_size)))
		return rc;
	if (seen[VK_GATEWAYDEV] && seen[VK_NETDEV]) {
		cfg_set_err(err, err_size, "duplicate vif key 'netdev' (an alias of gatewaydev)");
		return -EINVAL;
	}
	return 0;
}

int cfg_vif_parse(const char *spec, struct pvnet_vif_cfg *out, const struct cfg_wsink *ws,
		  char *err, size_t err_size)
{
	char *buf = NULL, *item, *next, *eq, *key, *val;
	bool seen[VK_COUNT] = {false}, seen_trust = false;
	char *vlan_val = NULL, *trunks_val = NULL;
	unsigned k;
	int rc = -EINVAL;

	pvnet_vif_cfg_init(out);
	if (!spec) {
		cfg_set_err(err, err_size, "missing vif spec");
		goto out;
	}
	buf = strdup(spec);
	if (!buf) {
		rc = -ENOMEM;
		cfg_set_err(err, err_size, "out of memory");
		goto out;
	}
	for (item = buf; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		item = trim(item);
		if (!*item)
			continue; /* empty spec, ",," or a trailing comma */
		eq = strchr(item, '=');
		if (!eq && (!strcmp(item, "trusted") || !strcmp(item, "untrusted"))) {
			if (seen_trust) {
				cfg_set_err(err, err_size,
					    "duplicate vif flag '%s' (trusted and "
					    "untrusted exclude each other)",
					    item);
				rc = -EINVAL;
				goto out_free;
			}
			seen_trust = true;
			out->trusted = item[0] == 't';
			continue;
		}
		if (!eq) {
			cfg_set_err(err, err_size, "expected key=value, got '%s'", item);
			rc = -EINVAL;
			goto out_free;
		}
		*eq = '\0';
		key = trim(item);
		val = trim(eq + 1);
		if (!strncmp(key, "colo_", 5) && cfg_is_token(key, 64)) {
			cfg_warn(ws, CFG_VW_COLO, "%s= (COLO) is not implemented; ignored", key);
			continue;
		}
		for (k = 0; k < VK_COUNT; k++)
			if (!strcmp(key, vif_keys[k]))
				break;
		if (k == VK_COUNT) {
			cfg_set_err(err, err_size, "unknown vif key '%s'", key);
			rc = -EINVAL;
			goto out_free;
		}
		if (seen[k]) {
			cfg_set_err(err, err_size, "duplicate vif key '%s'", key);
			rc = -EINVAL;
			goto out_free;
		}
		seen[k] = true;
		if (k == VK_VLAN || k == VK_TRUNKS) {
			/* both set the tagged list: applied below, vlan first */
			*(k == VK_VLAN ? &vlan_val : &trunks_val) = val;
			continue;
		}
		rc = vif_apply((enum vif_key)k, val, out, ws, err, err_size);
		if (rc)
			goto out_free;
	}
	rc = vif_finish(out, seen, vlan_val, trunks_val, ws, err, err_size);
out_free:
	free(buf);
out:
	return rc;
}

int pvnet_vif_parse_warn(const char *spec, struct pvnet_vif_cfg *out, pvnet_config_warn_fn *warn,
			 void *arg, char *err, size_t err_size)
{
	struct cfg_wsink ws = {.fn = warn, .arg = arg, .prefix = "warning: vif: "};

	return cfg_vif_parse(spec, out, &ws, err, err_size);
}

int pvnet_vif_parse(const char *spec, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	return cfg_vif_parse(spec, out, NULL, err, err_size);
}
