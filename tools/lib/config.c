/* SPDX-License-Identifier: MIT */
/*
 * config.c - xl-style domain configuration parser (see include/pvnet/config.h
 * for the syntax and the contract).
 *
 * The text is scanned once, statement by statement: key, '=', value. Values
 * are gathered into a heap scratch `struct value` (strings are bounded, so no
 * allocation per token), then checked and stored by apply_key(). Defaults that
 * depend on the whole file (netns, maxmem, generated MACs) are applied at the
 * end.
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

#define VAL_STR_MAX 4096 /* longest string value, incl. NUL */
#define VAL_LIST_MAX 16  /* most items in one list */
#define CONFIG_FILE_MAX (1u << 20)

static void set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (!err || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* Copy src into dst[cap]; -E2BIG (dst untouched) if it does not fit. */
static int copy_str(char *dst, size_t cap, const char *src)
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
static bool is_token(const char *s, size_t max)
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
static bool is_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s) || !isprint((unsigned char)*s))
			return false;
	return true;
}

/* ---- MAC and rate helpers --------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pvnet_mac_parse(const char *s, uint8_t mac[6])
{
	uint8_t tmp[6];
	int i, hi, lo;

	if (!s)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		hi = hexval(s[0]);
		lo = hi < 0 ? -1 : hexval(s[1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5 && *s++ != ':')
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	memcpy(mac, tmp, 6);
	return 0;
}

void pvnet_mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

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
	uint8_t le[8] = {(uint8_t)index, (uint8_t)(index >> 8), (uint8_t)(index >> 16),
			 (uint8_t)(index >> 24), (uint8_t)salt, (uint8_t)(salt >> 8),
			 (uint8_t)(salt >> 16), (uint8_t)(salt >> 24)};
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
}

/* One "ADDR/PREFIX" item of ip=. */
static int vif_parse_ip(const char *item, struct pvnet_ip_cfg *ip, char *err, size_t err_size)
{
	char addr[64];
	const char *slash = strchr(item, '/');
	unsigned prefix, max;
	size_t alen;

	if (strlen(item) >= sizeof(ip->text)) {
		set_err(err, err_size, "bad ip '%s' (too long)", item);
		return -EINVAL;
	}
	if (!slash) {
		set_err(err, err_size,
			"bad ip '%s' (expected ADDRESS/PREFIX, e.g. 10.0.0.1/24 or fd00::1/64)", item);
		return -EINVAL;
	}
	alen = (size_t)(slash - item);
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
		set_err(err, err_size, "bad ip '%s' ('%s' is not an IPv4 or IPv6 address)", item,
			addr);
		return -EINVAL;
	}
	if (parse_urange(slash + 1, 0, max, &prefix)) {
		set_err(err, err_size, "bad ip '%s' (expected a prefix length 0..%u after '/')",
			item, max);
		return -EINVAL;
	}
	ip->prefix = (uint8_t)prefix;
	strcpy(ip->text, item);
	return 0;
}

static int vif_parse_ips(char *val, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	char *save = NULL, *item;
	int rc;

	out->n_ip = 0;
	for (item = strtok_r(val, " \t", &save); item; item = strtok_r(NULL, " \t", &save)) {
		if (out->n_ip == PVNET_MAX_VIF_IPS) {
			set_err(err, err_size, "too many ip addresses (max %d)", PVNET_MAX_VIF_IPS);
			return -EINVAL;
		}
		rc = vif_parse_ip(item, &out->ip[out->n_ip], err, err_size);
		if (rc)
			return rc;
		out->n_ip++;
	}
	if (out->n_ip == 0) {
		set_err(err, err_size, "empty ip (expected ADDRESS/PREFIX ...)");
		return -EINVAL;
	}
	return 0;
}

static int vif_parse_trunks(const char *val, struct pvnet_vif_cfg *out, char *err,
			    size_t err_size)
{
	char buf[VAL_STR_MAX], *save = NULL, *item;
	unsigned v, i;

	out->n_trunks = 0;
	if (copy_str(buf, sizeof(buf), val))
		goto bad;
	if (!*buf || buf[0] == ':' || buf[strlen(buf) - 1] == ':' || strstr(buf, "::"))
		goto bad;
	for (item = strtok_r(buf, ":", &save); item; item = strtok_r(NULL, ":", &save)) {
		if (parse_urange(item, 1, 4094, &v))
			goto bad;
		if (out->n_trunks == PVNET_MAX_TRUNKS) {
			set_err(err, err_size, "too many trunks (max %d)", PVNET_MAX_TRUNKS);
			return -EINVAL;
		}
		for (i = 0; i < out->n_trunks; i++) {
			if (out->trunks[i] == v) {
				set_err(err, err_size, "bad trunks '%s' (VLAN %u listed twice)", val, v);
				return -EINVAL;
			}
		}
		out->trunks[out->n_trunks++] = (uint16_t)v;
	}
	return 0;
bad:
	set_err(err, err_size,
		"bad trunks '%s' (expected VLAN ids 1..4094 separated by ':', e.g. 10:20:30)", val);
	return -EINVAL;
}

enum vif_key {
	VK_MAC, VK_BRIDGE, VK_IP, VK_MTU, VK_QUEUES, VK_RATE, VK_VLAN, VK_TRUNKS, VK_MODEL,
	VK_ACCEL, VK_LEVEL, VK_MODE, VK_PKT, VK_SCRIPT, VK_BACKEND, VK_VIFNAME, VK_TYPE,
	VK_DEVARGS, VK_SOCKET, VK_PPS, VK_POLL, VK_COUNT
};

static const char *const vif_keys[VK_COUNT] = {
	"mac", "bridge", "ip", "mtu", "queues", "rate", "vlan", "trunks", "model", "accel",
	"level", "mode", "pkt", "script", "backend", "vifname", "type", "devargs", "socket",
	"pps", "poll",
};

/* Apply one key=value of a vif spec; `val` may be modified. */
static int vif_apply(enum vif_key k, char *val, struct pvnet_vif_cfg *out, char *err,
		     size_t err_size)
{
	const char *what = vif_keys[k];
	unsigned u;

	switch (k) {
	case VK_MAC:
		if (pvnet_mac_parse(val, out->mac)) {
			set_err(err, err_size,
				"bad mac '%s' (expected six hex bytes like 00:16:3e:00:00:01)", val);
			return -EINVAL;
		}
		if (out->mac[0] & 1) {
			set_err(err, err_size,
				"bad mac '%s' (multicast bit set; expected a unicast address)", val);
			return -EINVAL;
		}
		if (!(out->mac[0] | out->mac[1] | out->mac[2] | out->mac[3] | out->mac[4] |
		      out->mac[5])) {
			set_err(err, err_size,
				"bad mac '%s' (all zero; expected a unicast address)", val);
			return -EINVAL;
		}
		out->mac_set = 1;
		return 0;
	case VK_BRIDGE:
	case VK_VIFNAME:
		if (!is_ifname(val)) {
			set_err(err, err_size,
				"bad %s '%s' (expected an interface name of 1..15 characters)", what,
				val);
			return -EINVAL;
		}
		strcpy(k == VK_BRIDGE ? out->bridge : out->vifname, val);
		return 0;
	case VK_IP:
		return vif_parse_ips(val, out, err, err_size);
	case VK_MTU:
		if (parse_urange(val, 68, 65535, &out->mtu)) {
			set_err(err, err_size, "bad mtu '%s' (expected 68..65535)", val);
			return -EINVAL;
		}
		return 0;
	case VK_QUEUES:
		if (parse_urange(val, 1, PVNET_MAX_QUEUES, &out->queues)) {
			set_err(err, err_size, "bad queues '%s' (expected 1..%d)", val,
				PVNET_MAX_QUEUES);
			return -EINVAL;
		}
		return 0;
	case VK_RATE:
		if (pvnet_rate_parse(val, &out->rate_bytes, &out->rate_usec)) {
			set_err(err, err_size,
				"bad rate '%s' (expected N[GMK]b/s or N[GMK]B/s with an optional "
				"@N[s|ms|us], e.g. 10Mb/s@50ms)",
				val);
			return -EINVAL;
		}
		return 0;
	case VK_VLAN:
		if (parse_urange(val, 1, 4094, &out->vlan)) {
			set_err(err, err_size, "bad vlan '%s' (expected 1..4094)", val);
			return -EINVAL;
		}
		return 0;
	case VK_TRUNKS:
		return vif_parse_trunks(val, out, err, err_size);
	case VK_LEVEL:
		if (parse_urange(val, 0, 3, &u)) {
			set_err(err, err_size, "bad level '%s' (expected 0..3)", val);
			return -EINVAL;
		}
		out->level = (int)u;
		return 0;
	case VK_PPS:
		if (parse_urange(val, 0, 100000000, &out->pps)) {
			set_err(err, err_size,
				"bad pps '%s' (expected packets per second 0..100000000, 0 = max)",
				val);
			return -EINVAL;
		}
		return 0;
	case VK_POLL:
		if (!strcmp(val, "on")) {
			out->poll_us = PVNET_POLL_ALWAYS;
		} else if (!strcmp(val, "off")) {
			out->poll_us = 0;
		} else if (parse_urange(val, 1, 1000000, &u)) {
			set_err(err, err_size,
				"bad poll '%s' (expected on, off or microseconds 1..1000000)", val);
			return -EINVAL;
		} else {
			out->poll_us = (int)u;
		}
		return 0;
	case VK_PKT:
		if (parse_urange(val, 60, 65535, &out->pkt)) {
			set_err(err, err_size, "bad pkt '%s' (expected a frame size 60..65535)", val);
			return -EINVAL;
		}
		return 0;
	case VK_TYPE:
		if (strcmp(val, "vif") && strcmp(val, "ioemu")) {
			set_err(err, err_size, "bad type '%s' (expected 'vif' or 'ioemu')", val);
			return -EINVAL;
		}
		strcpy(out->type, val);
		return 0;
	case VK_MODEL:
	case VK_ACCEL:
	case VK_MODE:
	case VK_BACKEND: {
		char *dst = k == VK_MODEL ? out->model
			    : k == VK_ACCEL ? out->accel
			    : k == VK_MODE  ? out->mode
					    : out->backend;
		size_t cap = k == VK_MODEL ? sizeof(out->model)
			     : k == VK_ACCEL ? sizeof(out->accel)
			     : k == VK_MODE  ? sizeof(out->mode)
					     : sizeof(out->backend);

		if (!is_token(val, cap - 1)) {
			set_err(err, err_size,
				"bad %s '%s' (expected 1..%zu characters from [A-Za-z0-9_.-])", what,
				val, cap - 1);
			return -EINVAL;
		}
		strcpy(dst, val);
		return 0;
	}
	case VK_SCRIPT:
	case VK_DEVARGS:
	case VK_SOCKET: {
		char *dst = k == VK_SCRIPT ? out->script : k == VK_DEVARGS ? out->devargs : out->socket;
		size_t cap = k == VK_SCRIPT    ? sizeof(out->script)
			     : k == VK_DEVARGS ? sizeof(out->devargs)
					       : sizeof(out->socket);

		if (!*val || copy_str(dst, cap, val)) {
			set_err(err, err_size, "bad %s '%s' (expected 1..%zu characters)", what, val,
				cap - 1);
			return -EINVAL;
		}
		return 0;
	}
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

int pvnet_vif_parse(const char *spec, struct pvnet_vif_cfg *out, char *err, size_t err_size)
{
	char *buf = NULL, *item, *next, *eq, *key, *val;
	bool seen[VK_COUNT] = {false};
	unsigned k;
	int rc = -EINVAL;

	pvnet_vif_cfg_init(out);
	if (!spec) {
		set_err(err, err_size, "missing vif spec");
		goto out;
	}
	buf = strdup(spec);
	if (!buf) {
		rc = -ENOMEM;
		set_err(err, err_size, "out of memory");
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
		if (!eq) {
			set_err(err, err_size, "expected key=value, got '%s'", item);
			rc = -EINVAL;
			goto out_free;
		}
		*eq = '\0';
		key = trim(item);
		val = trim(eq + 1);
		for (k = 0; k < VK_COUNT; k++)
			if (!strcmp(key, vif_keys[k]))
				break;
		if (k == VK_COUNT) {
			set_err(err, err_size, "unknown vif key '%s'", key);
			rc = -EINVAL;
			goto out_free;
		}
		if (seen[k]) {
			set_err(err, err_size, "duplicate vif key '%s'", key);
			rc = -EINVAL;
			goto out_free;
		}
		seen[k] = true;
		rc = vif_apply((enum vif_key)k, val, out, err, err_size);
		if (rc)
			goto out_free;
	}
	rc = 0;
out_free:
	free(buf);
out:
	return rc;
}

/* ---- the file parser ------------------------------------------------------ */

enum vkind { V_STR, V_INT, V_LIST };

struct value {
	enum vkind kind;
	long long num;
	char str[VAL_STR_MAX];
	unsigned n;
	unsigned item_line[VAL_LIST_MAX];
	char item[VAL_LIST_MAX][VAL_STR_MAX];
};

struct lexer {
	const char *p, *end;
	unsigned line;
	const char *file;
	char *err;
	size_t err_size;
};

static void lex_err(const struct lexer *lx, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "FILE:LINE: message" into the caller's err buffer (truncated to fit). */
static void lex_err(const struct lexer *lx, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(lx->err, lx->err_size, "%s:%u: %s", lx->file, line, msg);
}

static int lx_peek(const struct lexer *lx)
{
	return lx->p < lx->end ? (unsigned char)*lx->p : -1;
}

/* Skip blanks and comments; across newlines only if `newlines`. */
static void lx_skip(struct lexer *lx, bool newlines)
{
	int c;

	while ((c = lx_peek(lx)) >= 0) {
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			lx->p++;
		} else if (c == '#') {
			while (lx_peek(lx) >= 0 && lx_peek(lx) != '\n')
				lx->p++;
		} else if (c == '\n' && newlines) {
			lx->p++;
			lx->line++;
		} else {
			break;
		}
	}
}

/* What is at the cursor, for messages. */
static const char *lx_what(const struct lexer *lx, char buf[8])
{
	int c = lx_peek(lx);

	if (c < 0)
		return "end of file";
	if (c == '\n')
		return "end of line";
	if (isprint(c))
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", (unsigned)(c & 0xff));
	return buf;
}

static int lx_string(struct lexer *lx, char *dst, size_t cap)
{
	char quote = *lx->p++;
	unsigned start = lx->line;
	size_t n = 0;
	int c;

	for (;;) {
		c = lx_peek(lx);
		if (c < 0 || c == '\n') {
			lex_err(lx, start, "unterminated string (missing closing %c)", quote);
			return -EINVAL;
		}
		lx->p++;
		if (c == quote)
			break;
		if (c == '\0') {
			lex_err(lx, start, "NUL byte inside a string");
			return -EINVAL;
		}
		if (c == '\\') {
			c = lx_peek(lx);
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c != '\\' && c != '"' && c != '\'') {
				lex_err(lx, lx->line,
					"bad escape in string (expected \\\\, \\\", \\', \\n or \\t)");
				return -EINVAL;
			}
			lx->p++;
		}
		if (n + 1 >= cap) {
			lex_err(lx, start, "string too long (max %zu characters)", cap - 1);
			return -EINVAL;
		}
		dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return 0;
}

static int lx_int(struct lexer *lx, long long *out)
{
	bool neg = false;
	long long v = 0;
	char what[8];

	if (lx_peek(lx) == '-') {
		neg = true;
		lx->p++;
	}
	if (lx_peek(lx) < '0' || lx_peek(lx) > '9') {
		lex_err(lx, lx->line, "expected digits after '-', got %s", lx_what(lx, what));
		return -EINVAL;
	}
	while (lx_peek(lx) >= '0' && lx_peek(lx) <= '9') {
		if (v > (0x7fffffffffffffffLL - (*lx->p - '0')) / 10) {
			lex_err(lx, lx->line, "integer too large");
			return -EINVAL;
		}
		v = v * 10 + (*lx->p++ - '0');
	}
	if (lx_peek(lx) >= 0 && (isalpha(lx_peek(lx)) || lx_peek(lx) == '_' || lx_peek(lx) == '.')) {
		lex_err(lx, lx->line, "bad integer (expected only decimal digits, got %s)",
			lx_what(lx, what));
		return -EINVAL;
	}
	*out = neg ? -v : v;
	return 0;
}

static int lx_value(struct lexer *lx, const char *key, struct value *v)
{
	char what[8];
	int c = lx_peek(lx), rc;

	if (c == '"' || c == '\'') {
		v->kind = V_STR;
		return lx_string(lx, v->str, sizeof(v->str));
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		v->kind = V_INT;
		return lx_int(lx, &v->num);
	}
	if (c != '[') {
		lex_err(lx, lx->line, "expected a value (string, integer or list) after '%s =', got %s",
			key, lx_what(lx, what));
		return -EINVAL;
	}
	v->kind = V_LIST;
	v->n = 0;
	lx->p++;
	for (;;) {
		lx_skip(lx, true);
		c = lx_peek(lx);
		if (c == ']') {
			lx->p++;
			return 0;
		}
		if (c < 0) {
			lex_err(lx, lx->line, "unterminated list for '%s' (missing ']')", key);
			return -EINVAL;
		}
		if (c != '"' && c != '\'') {
			lex_err(lx, lx->line, "expected a quoted string in the list for '%s', got %s",
				key, lx_what(lx, what));
			return -EINVAL;
		}
		if (v->n == VAL_LIST_MAX) {
			lex_err(lx, lx->line, "too many items in the list for '%s' (max %d)", key,
				VAL_LIST_MAX);
			return -EINVAL;
		}
		v->item_line[v->n] = lx->line;
		rc = lx_string(lx, v->item[v->n], sizeof(v->item[0]));
		if (rc)
			return rc;
		v->n++;
		lx_skip(lx, true);
		c = lx_peek(lx);
		if (c == ',') {
			lx->p++;
		} else if (c != ']') {
			lex_err(lx, lx->line, "expected ',' or ']' in the list for '%s', got %s", key,
				lx_what(lx, what));
			return -EINVAL;
		}
	}
}

enum dom_key {
	DK_NAME, DK_MEMORY, DK_MAXMEM, DK_VCPUS, DK_TYPE, DK_KERNEL, DK_RAMDISK, DK_CMDLINE,
	DK_NETNS, DK_ON_CRASH, DK_UUID, DK_VIF, DK_COUNT
};

static const struct {
	const char *name;
	enum dom_key id;
} dom_keys[] = {
	{"name", DK_NAME},       {"memory", DK_MEMORY},   {"maxmem", DK_MAXMEM},
	{"vcpus", DK_VCPUS},     {"type", DK_TYPE},       {"kernel", DK_KERNEL},
	{"ramdisk", DK_RAMDISK}, {"initrd", DK_RAMDISK},  {"cmdline", DK_CMDLINE},
	{"extra", DK_CMDLINE},   {"netns", DK_NETNS},     {"on_crash", DK_ON_CRASH},
	{"uuid", DK_UUID},       {"vif", DK_VIF},
};

struct parser {
	struct lexer lx;
	struct pvnet_dom_cfg *cfg;
	unsigned seen_line[DK_COUNT]; /* 0 = not seen */
	const char *seen_name[DK_COUNT];
	unsigned vif_line[PVNET_MAX_VIFS];
};

static const char *kind_name(enum vkind k)
{
	return k == V_STR ? "a string" : k == V_INT ? "an integer" : "a list";
}

static int want_kind(struct parser *ps, unsigned line, const char *key, const struct value *v,
		     enum vkind want)
{
	if (v->kind == want)
		return 0;
	lex_err(&ps->lx, line, "expected %s for '%s', got %s", kind_name(want), key,
		kind_name(v->kind));
	return -EINVAL;
}

static bool uuid_ok(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	unsigned i, d = 0;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static int apply_int(struct parser *ps, unsigned line, const char *key, const struct value *v,
		     long long min, long long max, uint64_t *out)
{
	int rc = want_kind(ps, line, key, v, V_INT);

	if (rc)
		return rc;
	if (v->num < min || v->num > max) {
		lex_err(&ps->lx, line, "bad %s %lld (expected %lld..%lld)", key, v->num, min, max);
		return -EINVAL;
	}
	*out = (uint64_t)v->num;
	return 0;
}

static int apply_str(struct parser *ps, unsigned line, const char *key, const struct value *v,
		     char *dst, size_t cap)
{
	int rc = want_kind(ps, line, key, v, V_STR);

	if (rc)
		return rc;
	if (copy_str(dst, cap, v->str)) {
		lex_err(&ps->lx, line, "value of '%s' too long (max %zu characters)", key, cap - 1);
		return -EINVAL;
	}
	return 0;
}

static int apply_key(struct parser *ps, enum dom_key id, const char *key, unsigned line,
		     const struct value *v)
{
	static const char *const crash_actions[] = {
		"destroy", "restart", "preserve", "coredump-destroy", "coredump-restart",
		"rename-restart", "soft-reset"};
	struct pvnet_dom_cfg *c = ps->cfg;
	char msg[384];
	uint64_t u;
	unsigned i;
	int rc;

	switch (id) {
	case DK_NAME:
	case DK_NETNS:
		rc = apply_str(ps, line, key, v, id == DK_NAME ? c->name : c->netns, PVNET_NAME_MAX);
		if (rc)
			return rc;
		if (!is_token(v->str, PVNET_NAME_MAX - 1)) {
			lex_err(&ps->lx, line,
				"bad %s '%s' (expected 1..%d characters from [A-Za-z0-9_.-])", key,
				v->str, PVNET_NAME_MAX - 1);
			return -EINVAL;
		}
		return 0;
	case DK_MEMORY:
		return apply_int(ps, line, key, v, 1, 1 << 20, &c->memory_mib);
	case DK_MAXMEM:
		return apply_int(ps, line, key, v, 1, 1 << 20, &c->maxmem_mib);
	case DK_VCPUS:
		rc = apply_int(ps, line, key, v, 1, 128, &u);
		if (!rc)
			c->vcpus = (unsigned)u;
		return rc;
	case DK_TYPE:
		rc = apply_str(ps, line, key, v, c->type, sizeof(c->type));
		if (!rc && strcmp(c->type, "pv") && strcmp(c->type, "pvh") && strcmp(c->type, "hvm")) {
			lex_err(&ps->lx, line, "bad type '%s' (expected \"pv\", \"pvh\" or \"hvm\")",
				v->str);
			rc = -EINVAL;
		}
		return rc;
	case DK_KERNEL:
		return apply_str(ps, line, key, v, c->kernel, sizeof(c->kernel));
	case DK_RAMDISK:
		return apply_str(ps, line, key, v, c->ramdisk, sizeof(c->ramdisk));
	case DK_CMDLINE:
		return apply_str(ps, line, key, v, c->cmdline, sizeof(c->cmdline));
	case DK_ON_CRASH:
		rc = apply_str(ps, line, key, v, c->on_crash, sizeof(c->on_crash));
		if (rc)
			return rc;
		for (i = 0; i < sizeof(crash_actions) / sizeof(crash_actions[0]); i++)
			if (!strcmp(v->str, crash_actions[i]))
				return 0;
		lex_err(&ps->lx, line,
			"bad on_crash '%s' (expected destroy, restart, preserve, coredump-destroy, "
			"coredump-restart, rename-restart or soft-reset)",
			v->str);
		return -EINVAL;
	case DK_UUID:
		rc = apply_str(ps, line, key, v, c->uuid, sizeof(c->uuid));
		if (rc)
			return rc;
		if (!uuid_ok(v->str)) {
			lex_err(&ps->lx, line,
				"bad uuid '%s' (expected 8-4-4-4-12 hex digits, e.g. "
				"5e0d9d8a-1c2b-4f3a-9e1d-0a1b2c3d4e5f)",
				v->str);
			return -EINVAL;
		}
		for (i = 0; c->uuid[i]; i++)
			c->uuid[i] = (char)tolower((unsigned char)c->uuid[i]);
		return 0;
	case DK_VIF:
		rc = want_kind(ps, line, key, v, V_LIST);
		if (rc)
			return rc;
		if (v->n > PVNET_MAX_VIFS) {
			lex_err(&ps->lx, v->item_line[PVNET_MAX_VIFS], "too many vifs (max %d)",
				PVNET_MAX_VIFS);
			return -EINVAL;
		}
		for (i = 0; i < v->n; i++) {
			rc = pvnet_vif_parse(v->item[i], &c->vifs[i], msg, sizeof(msg));
			if (rc) {
				lex_err(&ps->lx, v->item_line[i], "vif %u: %s", i, msg);
				return rc;
			}
			ps->vif_line[i] = v->item_line[i];
		}
		c->n_vifs = v->n;
		return 0;
	case DK_COUNT:
		break;
	}
	return -EINVAL;
}

/* Whole-file checks and defaults, after the last statement. */
static int finish(struct parser *ps)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	char a[18];
	unsigned i, j, salt;
	bool clash;

	if (!ps->seen_line[DK_NAME]) {
		lex_err(&ps->lx, ps->lx.line, "missing required key 'name'");
		return -EINVAL;
	}
	if (!ps->seen_line[DK_NETNS])
		strcpy(c->netns, c->name);
	if (!ps->seen_line[DK_MAXMEM]) {
		c->maxmem_mib = c->memory_mib;
	} else if (c->maxmem_mib < c->memory_mib) {
		lex_err(&ps->lx, ps->seen_line[DK_MAXMEM],
			"bad maxmem %" PRIu64 " (expected at least memory, %" PRIu64 ")",
			c->maxmem_mib, c->memory_mib);
		return -EINVAL;
	}
	/* Explicit MACs must be distinct... */
	for (i = 0; i < c->n_vifs; i++) {
		for (j = 0; j < i && c->vifs[i].mac_set; j++) {
			if (c->vifs[j].mac_set && !memcmp(c->vifs[i].mac, c->vifs[j].mac, 6)) {
				pvnet_mac_format(c->vifs[i].mac, a);
				lex_err(&ps->lx, ps->vif_line[i],
					"vif %u: duplicate mac %s (already used by vif %u)", i, a, j);
				return -EINVAL;
			}
		}
	}
	/* ...and generated ones step past any MAC already taken. */
	for (i = 0; i < c->n_vifs; i++) {
		if (c->vifs[i].mac_set)
			continue;
		for (salt = 0;; salt++) {
			pvnet_mac_default(c->name, i, salt, c->vifs[i].mac);
			clash = false;
			for (j = 0; j < c->n_vifs; j++)
				if (j != i && (c->vifs[j].mac_set || j < i) &&
				    !memcmp(c->vifs[i].mac, c->vifs[j].mac, 6))
					clash = true;
			if (!clash)
				break;
		}
	}
	return 0;
}

void pvnet_dom_cfg_init(struct pvnet_dom_cfg *out)
{
	memset(out, 0, sizeof(*out));
	out->memory_mib = PVNET_DEFAULT_MEMORY_MIB;
	out->vcpus = 1;
	strcpy(out->type, "pv");
	strcpy(out->on_crash, "destroy");
}

int pvnet_config_parse(const char *filename, const char *text, size_t len,
		       struct pvnet_dom_cfg *out, char *err, size_t err_size)
{
	struct parser ps;
	struct value *v = NULL;
	char key[64], what[8];
	unsigned line, i;
	size_t klen;
	int rc = -EINVAL, c;

	memset(&ps, 0, sizeof(ps));
	ps.lx.p = text;
	ps.lx.end = text + len;
	ps.lx.line = 1;
	ps.lx.file = filename ? filename : "<config>";
	ps.lx.err = err;
	ps.lx.err_size = err_size;
	ps.cfg = out;
	if (err && err_size)
		err[0] = '\0';
	pvnet_dom_cfg_init(out);
	if (!text && len) {
		set_err(err, err_size, "%s: no text", ps.lx.file);
		goto out;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		set_err(err, err_size, "%s: out of memory", ps.lx.file);
		goto out;
	}

	for (;;) {
		lx_skip(&ps.lx, true);
		c = lx_peek(&ps.lx);
		if (c < 0)
			break;
		if (c == ';') {
			ps.lx.p++;
			continue;
		}
		line = ps.lx.line;
		if (!isalpha(c) && c != '_') {
			lex_err(&ps.lx, line, "expected a key, got %s", lx_what(&ps.lx, what));
			goto out_free;
		}
		for (klen = 0; ps.lx.p < ps.lx.end &&
			       (isalnum((unsigned char)*ps.lx.p) || *ps.lx.p == '_');
		     ps.lx.p++) {
			if (klen + 1 >= sizeof(key)) {
				lex_err(&ps.lx, line, "key too long");
				goto out_free;
			}
			key[klen++] = *ps.lx.p;
		}
		key[klen] = '\0';
		for (i = 0; i < sizeof(dom_keys) / sizeof(dom_keys[0]); i++)
			if (!strcmp(key, dom_keys[i].name))
				break;
		if (i == sizeof(dom_keys) / sizeof(dom_keys[0])) {
			lex_err(&ps.lx, line, "unknown key '%s'", key);
			goto out_free;
		}
		lx_skip(&ps.lx, false);
		if (lx_peek(&ps.lx) != '=') {
			lex_err(&ps.lx, line, "expected '=' after '%s'", key);
			goto out_free;
		}
		ps.lx.p++;
		lx_skip(&ps.lx, false);
		if (lx_value(&ps.lx, key, v))
			goto out_free;
		lx_skip(&ps.lx, false);
		c = lx_peek(&ps.lx);
		if (c >= 0 && c != '\n' && c != ';') {
			lex_err(&ps.lx, ps.lx.line, "expected end of line after the value of '%s', got %s",
				key, lx_what(&ps.lx, what));
			goto out_free;
		}
		if (ps.seen_line[dom_keys[i].id]) {
			lex_err(&ps.lx, line, "duplicate key '%s' ('%s' already set on line %u)", key,
				ps.seen_name[dom_keys[i].id], ps.seen_line[dom_keys[i].id]);
			goto out_free;
		}
		ps.seen_line[dom_keys[i].id] = line;
		ps.seen_name[dom_keys[i].id] = dom_keys[i].name;
		if (apply_key(&ps, dom_keys[i].id, key, line, v))
			goto out_free;
	}
	rc = finish(&ps);
out_free:
	free(v);
out:
	return rc;
}

int pvnet_config_load(const char *path, struct pvnet_dom_cfg *out, char *err, size_t err_size)
{
	char *buf = NULL;
	size_t have = 0;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		set_err(err, err_size, "%s: %s", path, strerror(-rc));
		goto out;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		rc = -ENOMEM;
		set_err(err, err_size, "%s: out of memory", path);
		goto out_close;
	}
	for (;;) {
		n = read(fd, buf + have, CONFIG_FILE_MAX + 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			set_err(err, err_size, "%s: %s", path, strerror(-rc));
			goto out_free;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > CONFIG_FILE_MAX) {
			rc = -EFBIG;
			set_err(err, err_size, "%s: file too large (max %u bytes)", path,
				CONFIG_FILE_MAX);
			goto out_free;
		}
	}
	rc = pvnet_config_parse(path, buf, have, out, err, err_size);
out_free:
	free(buf);
out_close:
	close(fd);
out:
	return rc;
}
