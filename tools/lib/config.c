/* SPDX-License-Identifier: MIT */
/*
 * config.c - xl-style domain configuration files (see include/pvnet/config.h
 * for the syntax and the contract; config_vif.c parses the vif specs).
 *
 * The text is scanned once, statement by statement: key, '=' or '+=', value.
 * A value is read into a small tree (`struct cv`: atoms and nested lists),
 * then checked and stored by apply_key() and freed; keys pvnet does not
 * implement are only warned about. Overrides are parsed the same way after
 * the file. Defaults that depend on the whole configuration (netns, maxmem,
 * cmdline from root/extra, devids, generated MACs, gateways) are applied at
 * the end by finish().
 */
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
#include <unistd.h>

#include <pvnet/config.h>

#include "config_private.h"

#define ATOM_MAX 4096 /* longest string or number token, incl. NUL */
#define CONFIG_FILE_MAX (1u << 20)

/* ---- values ----------------------------------------------------------------- */

/* One value: an atom (string or number token) or a list of values. */
struct cv {
	struct cv *next;  /* next item of the enclosing list */
	struct cv *items; /* a list's first item */
	unsigned n;       /* a list's item count */
	unsigned line;
	bool list;
	bool quoted; /* an atom written in quotes */
	char *s;     /* an atom's text, unquoted */
};

static void cv_free(struct cv *v)
{
	struct cv *next;

	for (; v; v = next) {
		next = v->next;
		cv_free(v->items);
		free(v->s);
		free(v);
	}
}

/* ---- lexer ------------------------------------------------------------------ */

struct lexer {
	const char *p, *end;
	unsigned line;
	const char *file;
	char *err;
	size_t err_size;
	int rc; /* -ENOMEM once an allocation failed */
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
	cfg_set_err(lx->err, lx->err_size, "%s:%u: %s", lx->file, line, msg);
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

static struct cv *cv_new(struct lexer *lx, bool list)
{
	struct cv *v = calloc(1, sizeof(*v));

	if (!v) {
		lx->rc = -ENOMEM;
		cfg_set_err(lx->err, lx->err_size, "%s: out of memory", lx->file);
		return NULL;
	}
	v->list = list;
	v->line = lx->line;
	return v;
}

static int hexdigit(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* A quoted string; escapes as libxlu's: \\ \" \' \a \b \f \n \r \t \v \xHH. */
static int lx_string(struct lexer *lx, char *dst, size_t cap)
{
	char quote = *lx->p++;
	unsigned start = lx->line;
	size_t n = 0;
	int c, h, l;

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
			static const char from[] = "abfnrtv\\\"'", to[] = "\a\b\f\n\r\t\v\\\"'";
			const char *e;

			c = lx_peek(lx);
			e = c > 0 ? strchr(from, c) : NULL;
			if (e) {
				c = to[e - from];
				lx->p++;
			} else if (c == 'x' && lx->end - lx->p >= 3 &&
				   (h = hexdigit((unsigned char)lx->p[1])) >= 0 &&
				   (l = hexdigit((unsigned char)lx->p[2])) >= 0 && (h | l)) {
				c = h << 4 | l;
				lx->p += 3;
			} else {
				lex_err(lx, lx->line,
					"bad escape in string (expected \\\\, \\\", \\', \\a, \\b, "
					"\\f, \\n, \\r, \\t, \\v or \\xHH)");
				return -EINVAL;
			}
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

/* A number token as written: an optional '-', a digit, then [0-9A-Za-z_]. */
static int lx_number(struct lexer *lx, char *dst, size_t cap)
{
	size_t n = 0;
	char what[8];

	if (lx_peek(lx) == '-')
		dst[n++] = *lx->p++;
	if (lx_peek(lx) < '0' || lx_peek(lx) > '9') {
		lex_err(lx, lx->line, "expected digits after '-', got %s", lx_what(lx, what));
		return -EINVAL;
	}
	while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '_')) {
		if (n + 1 >= cap) {
			lex_err(lx, lx->line, "number too long");
			return -EINVAL;
		}
		dst[n++] = *lx->p++;
	}
	dst[n] = '\0';
	if (lx_peek(lx) == '.') {
		lex_err(lx, lx->line, "bad number '%s.' (expected an integer)", dst);
		return -EINVAL;
	}
	return 0;
}

static int lx_atom(struct lexer *lx, struct cv **out)
{
	char *buf = malloc(ATOM_MAX);
	struct cv *v = cv_new(lx, false);
	int c = lx_peek(lx), rc;

	if (!buf || !v) {
		free(buf);
		free(v);
		lx->rc = -ENOMEM;
		cfg_set_err(lx->err, lx->err_size, "%s: out of memory", lx->file);
		return -ENOMEM;
	}
	v->quoted = c == '"' || c == '\'';
	rc = v->quoted ? lx_string(lx, buf, ATOM_MAX) : lx_number(lx, buf, ATOM_MAX);
	if (!rc) {
		v->s = strdup(buf);
		if (!v->s) {
			lx->rc = -ENOMEM;
			rc = -ENOMEM;
		}
	}
	free(buf);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	return 0;
}

static int lx_value(struct lexer *lx, const char *key, unsigned depth, struct cv **out)
{
	struct cv *list, **tail;
	char what[8];
	int c = lx_peek(lx), rc;

	if (c == '"' || c == '\'' || c == '-' || (c >= '0' && c <= '9'))
		return lx_atom(lx, out);
	if (c != '[') {
		lex_err(lx, lx->line,
			"expected a value (string, number or list) after '%s =', got %s", key,
			lx_what(lx, what));
		return -EINVAL;
	}
	if (depth >= PVNET_CONFIG_MAX_DEPTH) {
		lex_err(lx, lx->line, "lists nested too deep for '%s' (max %d)", key,
			PVNET_CONFIG_MAX_DEPTH);
		return -EINVAL;
	}
	list = cv_new(lx, true);
	if (!list)
		return -ENOMEM;
	tail = &list->items;
	lx->p++;
	for (;;) {
		lx_skip(lx, true);
		c = lx_peek(lx);
		if (c == ']') {
			lx->p++;
			*out = list;
			return 0;
		}
		if (c < 0) {
			lex_err(lx, lx->line, "unterminated list for '%s' (missing ']')", key);
			rc = -EINVAL;
			goto fail;
		}
		if (c != '"' && c != '\'' && c != '[' && c != '-' && !(c >= '0' && c <= '9')) {
			lex_err(lx, lx->line, "expected a value in the list for '%s', got %s", key,
				lx_what(lx, what));
			rc = -EINVAL;
			goto fail;
		}
		rc = lx_value(lx, key, depth + 1, tail);
		if (rc)
			goto fail;
		tail = &(*tail)->next;
		list->n++;
		lx_skip(lx, true);
		c = lx_peek(lx);
		if (c == ',') {
			lx->p++;
		} else if (c != ']') {
			lex_err(lx, lx->line, "expected ',' or ']' in the list for '%s', got %s",
				key, lx_what(lx, what));
			rc = -EINVAL;
			goto fail;
		}
	}
fail:
	cv_free(list);
	return rc;
}

/* ---- keys ------------------------------------------------------------------- */

enum dom_key {
	DK_NAME,
	DK_MEMORY,
	DK_MAXMEM,
	DK_VCPUS,
	DK_TYPE,
	DK_BUILDER,
	DK_KERNEL,
	DK_RAMDISK,
	DK_CMDLINE,
	DK_EXTRA,
	DK_ROOT,
	DK_NETNS,
	DK_ON_CRASH,
	DK_UUID,
	DK_VIF,
	DK_GATEWAY,
	DK_COUNT
};

static const struct {
	const char *name;
	enum dom_key id;
} dom_keys[] = {
	{"name", DK_NAME},       {"memory", DK_MEMORY},     {"maxmem", DK_MAXMEM},
	{"vcpus", DK_VCPUS},     {"type", DK_TYPE},         {"builder", DK_BUILDER},
	{"kernel", DK_KERNEL},   {"ramdisk", DK_RAMDISK},   {"initrd", DK_RAMDISK},
	{"cmdline", DK_CMDLINE}, {"extra", DK_EXTRA},       {"root", DK_ROOT},
	{"netns", DK_NETNS},     {"on_crash", DK_ON_CRASH}, {"uuid", DK_UUID},
	{"vif", DK_VIF},         {"gateway", DK_GATEWAY},
};
#define N_DOM_KEYS (sizeof(dom_keys) / sizeof(dom_keys[0]))

/*
 * Keys of xl.cfg(5) (those xl_parse.c reads) that pvnet does not implement:
 * accepted with one warning each, whatever their value.
 */
static const char *const xl_only_keys[] = {
	"acpi",
	"acpi_firmware",
	"acpi_laptop_slate",
	"acpi_s3",
	"acpi_s4",
	"altp2m",
	"altp2m_count",
	"altp2mhvm",
	"apic",
	"arm_sci",
	"bios",
	"bios_path_override",
	"boot",
	"bootloader",
	"bootloader_args",
	"bootloader_restrict",
	"bootloader_user",
	"cap",
	"channel",
	"cpu_weight",
	"cpuid",
	"cpus",
	"cpus_soft",
	"device_model",
	"device_model_args",
	"device_model_args_hvm",
	"device_model_args_pv",
	"device_model_override",
	"device_model_stubdomain_override",
	"device_model_stubdomain_seclabel",
	"device_model_user",
	"device_model_version",
	"device_tree",
	"disk",
	"display",
	"dm_restrict",
	"driver_domain",
	"dtdev",
	"e820_host",
	"extratime",
	"firmware",
	"firmware_override",
	"gfx_passthru",
	"gic_version",
	"hap",
	"hdtype",
	"hpet",
	"hvm_pirq",
	"init_seclabel",
	"iomem",
	"ioports",
	"irqs",
	"keymap",
	"latency",
	"llc_colors",
	"localtime",
	"max_event_channels",
	"max_grant_frames",
	"max_grant_version",
	"max_maptrack_frames",
	"maxvcpus",
	"mca_caps",
	"mmio_hole",
	"ms_vm_genid",
	"msr_relaxed",
	"nestedhvm",
	"nographic",
	"nomigrate",
	"nr_spis",
	"nx",
	"on_poweroff",
	"on_reboot",
	"on_soft_reset",
	"on_watchdog",
	"oos",
	"opengl",
	"p9",
	"pae",
	"passthrough",
	"pci",
	"pci_msitranslate",
	"pci_permissive",
	"pci_power_mgmt",
	"pci_seize",
	"period",
	"pool",
	"pvcalls",
	"pvshim",
	"pvshim_cmdline",
	"pvshim_extra",
	"pvshim_path",
	"rdm",
	"rdm_mem_boundary",
	"rtc_timeoffset",
	"sdl",
	"seclabel",
	"serial",
	"shadow_memory",
	"slice",
	"smbios",
	"smbios_firmware",
	"soundhw",
	"spice",
	"spice_clipboard_sharing",
	"spice_image_compression",
	"spice_streaming_video",
	"spiceagent_mouse",
	"spicedisable_ticketing",
	"spicehost",
	"spicepasswd",
	"spiceport",
	"spicetls_port",
	"spiceusbredirection",
	"spicevdagent",
	"stdvga",
	"stubdomain_cmdline",
	"stubdomain_kernel",
	"stubdomain_memory",
	"stubdomain_ramdisk",
	"sve",
	"tee",
	"timer_mode",
	"trap_unmapped_accesses",
	"tsc_mode",
	"usb",
	"usbctrl",
	"usbdev",
	"usbdevice",
	"usbversion",
	"vdispl",
	"vendor_device",
	"vfb",
	"vga",
	"videoram",
	"viridian",
	"virtio",
	"vkb",
	"vkb_device",
	"vmtrace_buf_kb",
	"vnc",
	"vncdisplay",
	"vnclisten",
	"vncpasswd",
	"vncunused",
	"vncviewer",
	"vnuma",
	"vpmu",
	"vpt_align",
	"vsnd",
	"vtpm",
	"vuart",
	"weight",
	"xauthority",
	"xen_platform_pci",
	"xen_platform_pci_bar_uc",
	"xend_suspend_evtchn_compat",
	"xenstore_feature_mask",
	"xenstore_quota",
};
#define N_XL_ONLY (sizeof(xl_only_keys) / sizeof(xl_only_keys[0]))

struct parser {
	struct lexer lx;
	struct pvnet_dom_cfg *cfg;
	const struct pvnet_config_opts *opts;
	bool in_override;
	bool op_add;                  /* the statement being applied is `+=` */
	unsigned seen_line[DK_COUNT]; /* 0 = not seen */
	const char *seen_name[DK_COUNT];
	bool seen_override[DK_COUNT];
	unsigned vif_line[PVNET_MAX_VIFS];
	const char *vif_file[PVNET_MAX_VIFS];
	uint8_t xl_warned[(N_XL_ONLY + 7) / 8];
	uint32_t vif_warned; /* bits of enum cfg_vif_warning */
	char builder[16];
	char root[256];
	char extra[512];
	char gateway[256]; /* domain-wide (xm) gateway addresses */
	unsigned gateway_line;
	const char *gateway_file;
	char *scratch; /* ATOM_MAX bytes for string assembly */
};

static void warn_line(struct parser *ps, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void warn_line(struct parser *ps, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (!ps->opts || !ps->opts->warn)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%u: warning: ", file, line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	ps->opts->warn(ps->opts->warn_arg, msg);
}

/* Edit distance of a and b (both < 64 chars; a transposition is one edit), for
 * "did you mean". */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned d[65][65], i, j, la = (unsigned)strlen(a), lb = (unsigned)strlen(b), cost, m;

	if (la > 64 || lb > 64)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			cost = a[i - 1] != b[j - 1];
			m = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < m)
				m = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < m)
				m = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < m)
				m = d[i - 2][j - 2] + 1;
			d[i][j] = m;
		}
	}
	return d[la][lb];
}

/* The known key closest to `key` within two edits (pvnet's own keys first on a
 * tie), or NULL. */
static const char *suggest_key(const char *key)
{
	const char *best = NULL;
	unsigned d, best_d = 3, i;

	if (strlen(key) < 3)
		return NULL;
	for (i = 0; i < N_DOM_KEYS; i++) {
		d = edit_distance(key, dom_keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = dom_keys[i].name;
		}
	}
	for (i = 0; i < N_XL_ONLY; i++) {
		d = edit_distance(key, xl_only_keys[i]);
		if (d < best_d) {
			best_d = d;
			best = xl_only_keys[i];
		}
	}
	return best;
}

/* A number as xl reads one (strtol, base 0): "64", "0100" (octal), "0x40". */
static int xl_number(const char *s, long long *out)
{
	char *end;
	long long v;

	if (!*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end || end == s)
		return -EINVAL;
	*out = v;
	return 0;
}

static int want_atom(struct parser *ps, unsigned line, const char *key, const struct cv *v)
{
	if (!v->list)
		return 0;
	lex_err(&ps->lx, line, "expected a single value for '%s', got a list", key);
	return -EINVAL;
}

static int apply_int(struct parser *ps, unsigned line, const char *key, const struct cv *v,
		     bool add, long long min, long long max, uint64_t *out)
{
	long long n;
	int rc = want_atom(ps, line, key, v);

	if (rc)
		return rc;
	if (add || ps->op_add) {
		lex_err(&ps->lx, line, "cannot use += with a number for '%s'", key);
		return -EINVAL;
	}
	if (xl_number(v->s, &n)) {
		lex_err(&ps->lx, line,
			"bad %s '%s' (expected a number: decimal, octal with a leading 0, or hex "
			"with 0x)",
			key, v->s);
		return -EINVAL;
	}
	if (n < min || n > max) {
		lex_err(&ps->lx, line, "bad %s %lld (expected %lld..%lld)", key, n, min, max);
		return -EINVAL;
	}
	*out = (uint64_t)n;
	return 0;
}

/* The stored string of a string key. */
static char *str_slot(struct parser *ps, enum dom_key id, size_t *cap)
{
	struct pvnet_dom_cfg *c = ps->cfg;

#define SLOT(field)                                                                                \
	do {                                                                                       \
		*cap = sizeof(field);                                                              \
		return field;                                                                      \
	} while (0)
	switch (id) {
	case DK_NAME:
		SLOT(c->name);
	case DK_NETNS:
		SLOT(c->netns);
	case DK_TYPE:
		SLOT(c->type);
	case DK_BUILDER:
		SLOT(ps->builder);
	case DK_KERNEL:
		SLOT(c->kernel);
	case DK_RAMDISK:
		SLOT(c->ramdisk);
	case DK_CMDLINE:
		SLOT(c->cmdline);
	case DK_EXTRA:
		SLOT(ps->extra);
	case DK_ROOT:
		SLOT(ps->root);
	case DK_ON_CRASH:
		SLOT(c->on_crash);
	case DK_UUID:
		SLOT(c->uuid);
	case DK_GATEWAY:
		SLOT(ps->gateway);
	default:
		break;
	}
#undef SLOT
	*cap = 0;
	return NULL;
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

/* A string key: `=` stores, `+=` appends to what was there (as xl). */
static int apply_str(struct parser *ps, enum dom_key id, const char *key, unsigned line,
		     const struct cv *v, bool add)
{
	static const char *const crash_actions[] = {
		"destroy",          "restart",        "preserve",  "coredump-destroy",
		"coredump-restart", "rename-restart", "soft-reset"};
	size_t cap, have;
	char *dst = str_slot(ps, id, &cap), *s = ps->scratch;
	unsigned i;
	int rc = want_atom(ps, line, key, v);

	if (rc)
		return rc;
	have = add ? strlen(dst) : 0;
	if (have + strlen(v->s) >= cap) {
		lex_err(&ps->lx, line, "value of '%s' too long (max %zu characters)", key, cap - 1);
		return -EINVAL;
	}
	memcpy(s, dst, have);
	strcpy(s + have, v->s);
	switch (id) {
	case DK_NAME:
	case DK_NETNS:
		if (!cfg_is_token(s, PVNET_NAME_MAX - 1)) {
			lex_err(&ps->lx, line,
				"bad %s '%s' (expected 1..%d characters from [A-Za-z0-9_.-])", key,
				s, PVNET_NAME_MAX - 1);
			return -EINVAL;
		}
		break;
	case DK_TYPE:
		if (strcmp(s, "pv") && strcmp(s, "pvh") && strcmp(s, "hvm")) {
			lex_err(&ps->lx, line,
				"bad type '%s' (expected \"pv\", \"pvh\" or \"hvm\")", s);
			return -EINVAL;
		}
		break;
	case DK_BUILDER:
		if (strcmp(s, "generic") && strcmp(s, "hvm")) {
			lex_err(&ps->lx, line, "bad builder '%s' (expected \"generic\" or \"hvm\")",
				s);
			return -EINVAL;
		}
		break;
	case DK_ON_CRASH:
		for (i = 0; i < sizeof(crash_actions) / sizeof(crash_actions[0]); i++)
			if (!strcmp(s, crash_actions[i]))
				break;
		if (i == sizeof(crash_actions) / sizeof(crash_actions[0])) {
			lex_err(&ps->lx, line,
				"bad on_crash '%s' (expected destroy, restart, preserve, "
				"coredump-destroy, coredump-restart, rename-restart or soft-reset)",
				s);
			return -EINVAL;
		}
		break;
	case DK_UUID:
		if (!uuid_ok(s)) {
			lex_err(&ps->lx, line,
				"bad uuid '%s' (expected 8-4-4-4-12 hex digits, e.g. "
				"5e0d9d8a-1c2b-4f3a-9e1d-0a1b2c3d4e5f)",
				s);
			return -EINVAL;
		}
		for (i = 0; s[i]; i++)
			s[i] = (char)tolower((unsigned char)s[i]);
		break;
	case DK_GATEWAY:
		ps->gateway_line = line;
		ps->gateway_file = ps->lx.file;
		break;
	default:
		break;
	}
	strcpy(dst, s);
	return 0;
}

static int apply_vif(struct parser *ps, unsigned line, const struct cv *v, bool add)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	char msg[384], prefix[300];
	struct cfg_wsink ws = {.fn = ps->opts ? ps->opts->warn : NULL,
			       .arg = ps->opts ? ps->opts->warn_arg : NULL,
			       .prefix = prefix,
			       .seen = &ps->vif_warned};
	const struct cv *it;
	unsigned i, base = add ? c->n_vifs : 0;
	int rc;

	if (!v->list) {
		lex_err(&ps->lx, line, "expected a list for 'vif', got a string");
		return -EINVAL;
	}
	if (!add) {
		memset(c->vifs, 0, sizeof(c->vifs));
		c->n_vifs = 0;
	}
	for (i = 0, it = v->items; it; it = it->next, i++) {
		if (base + i == PVNET_MAX_VIFS) {
			lex_err(&ps->lx, it->line, "too many vifs (max %d)", PVNET_MAX_VIFS);
			return -EINVAL;
		}
		if (it->list) {
			lex_err(&ps->lx, it->line, "vif %u: expected a string, got a list",
				base + i);
			return -EINVAL;
		}
		snprintf(prefix, sizeof(prefix), "%s:%u: warning: vif %u: ", ps->lx.file, it->line,
			 base + i);
		rc = cfg_vif_parse(it->s, &c->vifs[base + i], &ws, msg, sizeof(msg));
		if (rc) {
			lex_err(&ps->lx, it->line, "vif %u: %s", base + i, msg);
			return rc;
		}
		ps->vif_line[base + i] = it->line;
		ps->vif_file[base + i] = ps->lx.file;
	}
	c->n_vifs = base + i;
	return 0;
}

static int apply_key(struct parser *ps, enum dom_key id, const char *key, unsigned line,
		     const struct cv *v, bool add)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	uint64_t u;
	int rc;

	switch (id) {
	case DK_MEMORY:
		return apply_int(ps, line, key, v, add, 1, 1 << 20, &c->memory_mib);
	case DK_MAXMEM:
		return apply_int(ps, line, key, v, add, 1, 1 << 20, &c->maxmem_mib);
	case DK_VCPUS:
		rc = apply_int(ps, line, key, v, add, 1, 128, &u);
		if (!rc)
			c->vcpus = (unsigned)u;
		return rc;
	case DK_VIF:
		return apply_vif(ps, line, v, add);
	case DK_COUNT:
		return -EINVAL;
	default:
		return apply_str(ps, id, key, line, v, add);
	}
}

/* ---- statements ------------------------------------------------------------- */

/*
 * One statement's value in an override: xl syntax if it starts like a value,
 * else the rest of the text as a string (`name=web3`).
 */
static int override_value(struct lexer *lx, const char *key, struct cv **out)
{
	const char *e = lx->end;
	int c = lx_peek(lx);
	struct cv *v;

	if (c < 0 || c == '"' || c == '\'' || c == '[' || c == '-' || (c >= '0' && c <= '9'))
		return lx_value(lx, key, 0, out);
	while (e > lx->p && isspace((unsigned char)e[-1]))
		e--;
	if (memchr(lx->p, '\n', (size_t)(e - lx->p)) || memchr(lx->p, '\0', (size_t)(e - lx->p))) {
		lex_err(lx, lx->line, "bad value for '%s' (a newline or NUL byte)", key);
		return -EINVAL;
	}
	v = cv_new(lx, false);
	if (!v)
		return -ENOMEM;
	v->quoted = true;
	v->s = strndup(lx->p, (size_t)(e - lx->p));
	if (!v->s) {
		free(v);
		lx->rc = -ENOMEM;
		return -ENOMEM;
	}
	lx->p = lx->end;
	*out = v;
	return 0;
}

/* Reads a key at the lexer (letters, digits, '_', '.'; a letter or '_' first)
 * into key[64] and finds it: *i its dom_keys index, or N_DOM_KEYS and *x its
 * xl_only_keys index (a key pvnet ignores). 0, or -EINVAL with the error set
 * (an unknown key names the nearest known one). */
static int read_key(struct lexer *lx, unsigned line, char key[64], unsigned *i, unsigned *x)
{
	char what[8];
	size_t klen;
	int c = lx_peek(lx);

	if (!isalpha(c) && c != '_') {
		lex_err(lx, line, "expected a key, got %s", lx_what(lx, what));
		return -EINVAL;
	}
	for (klen = 0;
	     lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '_' || *lx->p == '.');
	     lx->p++) {
		if (klen + 1 >= 64) {
			lex_err(lx, line, "key too long");
			return -EINVAL;
		}
		key[klen++] = *lx->p;
	}
	key[klen] = '\0';
	for (*i = 0; *i < N_DOM_KEYS; (*i)++)
		if (!strcmp(key, dom_keys[*i].name))
			break;
	for (*x = 0; *i == N_DOM_KEYS && *x < N_XL_ONLY; (*x)++)
		if (!strcmp(key, xl_only_keys[*x]))
			break;
	if (*i == N_DOM_KEYS && *x == N_XL_ONLY) {
		const char *hint = suggest_key(key);

		if (hint)
			lex_err(lx, line, "unknown key '%s' (did you mean '%s'?)", key, hint);
		else
			lex_err(lx, line, "unknown key '%s'", key);
		return -EINVAL;
	}
	return 0;
}

static int parse_statements(struct parser *ps)
{
	struct lexer *lx = &ps->lx;
	struct cv *v = NULL;
	char key[64], what[8];
	unsigned line, i, x;
	bool add;
	int c, rc;

	for (;;) {
		lx_skip(lx, true);
		c = lx_peek(lx);
		if (c < 0)
			return 0;
		if (c == ';') {
			lx->p++;
			continue;
		}
		line = lx->line;
		rc = read_key(lx, line, key, &i, &x);
		if (rc)
			return rc;
		lx_skip(lx, false);
		add = lx_peek(lx) == '+';
		if (add)
			lx->p++;
		if (lx_peek(lx) != '=') {
			lex_err(lx, line, "expected '=' %safter '%s'", add ? "after '+' " : "",
				key);
			return -EINVAL;
		}
		lx->p++;
		lx_skip(lx, false);
		rc = ps->in_override ? override_value(lx, key, &v) : lx_value(lx, key, 0, &v);
		if (rc)
			return rc;
		lx_skip(lx, false);
		c = lx_peek(lx);
		if (c >= 0 && c != '\n' && c != ';') {
			lex_err(lx, lx->line,
				"expected end of line after the value of '%s', got %s", key,
				lx_what(lx, what));
			rc = -EINVAL;
			goto free_value;
		}
		if (i == N_DOM_KEYS) {
			/* a key of xl.cfg(5) that pvnet does not implement */
			if (!(ps->xl_warned[x / 8] & (1u << (x % 8)))) {
				ps->xl_warned[x / 8] |= (uint8_t)(1u << (x % 8));
				warn_line(ps, lx->file, line,
					  "'%s' is not implemented by pvnet; ignored", key);
			}
			cv_free(v);
			v = NULL;
			continue;
		}
		enum dom_key id = dom_keys[i].id;

		if (ps->seen_line[id] && !add && !ps->in_override && !ps->seen_override[id]) {
			lex_err(lx, line, "duplicate key '%s' ('%s' already set on line %u)", key,
				ps->seen_name[id], ps->seen_line[id]);
			rc = -EINVAL;
			goto free_value;
		}
		ps->op_add = add;
		rc = apply_key(ps, id, key, line, v, add && ps->seen_line[id]);
		if (rc)
			goto free_value;
		ps->seen_line[id] = line;
		ps->seen_name[id] = dom_keys[i].name;
		ps->seen_override[id] = ps->in_override;
		cv_free(v);
		v = NULL;
	}
free_value:
	cv_free(v);
	return rc;
}

/* ---- whole-configuration checks and defaults ---------------------------------- */

static int finish_cmdline(struct parser *ps)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	int n;

	if (ps->seen_line[DK_CMDLINE]) {
		if (ps->seen_line[DK_ROOT] || ps->seen_line[DK_EXTRA])
			warn_line(ps, ps->lx.file,
				  ps->seen_line[DK_ROOT] ? ps->seen_line[DK_ROOT]
							 : ps->seen_line[DK_EXTRA],
				  "ignoring root= and extra= in favour of cmdline= (as xl does)");
		return 0;
	}
	if (ps->seen_line[DK_ROOT] && ps->seen_line[DK_EXTRA])
		n = snprintf(c->cmdline, sizeof(c->cmdline), "root=%s %s", ps->root, ps->extra);
	else if (ps->seen_line[DK_ROOT])
		n = snprintf(c->cmdline, sizeof(c->cmdline), "root=%s", ps->root);
	else
		n = snprintf(c->cmdline, sizeof(c->cmdline), "%s", ps->extra);
	if (n < 0 || (size_t)n >= sizeof(c->cmdline)) {
		lex_err(&ps->lx,
			ps->seen_line[DK_ROOT] ? ps->seen_line[DK_ROOT] : ps->seen_line[DK_EXTRA],
			"kernel command line from root= and extra= too long (max %zu characters)",
			sizeof(c->cmdline) - 1);
		return -EINVAL;
	}
	return 0;
}

static int finish_type(struct parser *ps)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	const char *want;

	if (!ps->seen_line[DK_BUILDER])
		return 0;
	want = strcmp(ps->builder, "hvm") ? "pv" : "hvm";
	if (ps->seen_line[DK_TYPE] && strcmp(c->type, want)) {
		lex_err(&ps->lx, ps->seen_line[DK_BUILDER],
			"builder \"%s\" contradicts type \"%s\"", ps->builder, c->type);
		return -EINVAL;
	}
	strcpy(c->type, want);
	warn_line(ps, ps->lx.file, ps->seen_line[DK_BUILDER],
		  "'builder' is deprecated in xl.cfg(5); read as type = \"%s\"", want);
	return 0;
}

/* Explicit devids must differ; the others get the lowest id still free (xl). */
static int finish_devids(struct parser *ps)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	uint8_t used[PVNET_MAX_DEVID + 1] = {0};
	unsigned i, j, next = 0;

	for (i = 0; i < c->n_vifs; i++) {
		int d = c->vifs[i].devid;

		if (d < 0)
			continue;
		if (used[d]) {
			for (j = 0; j < i && c->vifs[j].devid != d; j++)
				;
			lex_err(&ps->lx, ps->vif_line[i], "vif %u: devid %d is already vif %u's", i,
				d, j);
			return -EINVAL;
		}
		used[d] = 1;
	}
	for (i = 0; i < c->n_vifs; i++) {
		if (c->vifs[i].devid >= 0)
			continue;
		while (used[next])
			next++;
		c->vifs[i].devid = (int)next;
		used[next] = 1;
	}
	return 0;
}

static int finish_vifs(struct parser *ps)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	bool hvm = !strcmp(c->type, "hvm");
	char prefix[300];
	struct cfg_wsink ws = {.fn = ps->opts ? ps->opts->warn : NULL,
			       .arg = ps->opts ? ps->opts->warn_arg : NULL,
			       .prefix = prefix,
			       .seen = &ps->vif_warned};
	unsigned i, j, g;

	for (i = 0; i < c->n_vifs; i++) {
		struct pvnet_vif_cfg *v = &c->vifs[i];

		ps->lx.file = ps->vif_file[i];
		snprintf(prefix, sizeof(prefix), "%s:%u: warning: vif %u: ", ps->vif_file[i],
			 ps->vif_line[i], i);
		for (j = 0; j < i && v->vifname[0]; j++) {
			if (!strcmp(v->vifname, c->vifs[j].vifname)) {
				lex_err(&ps->lx, ps->vif_line[i],
					"vif %u: vifname '%s' is already vif %u's", i, v->vifname,
					j);
				return -EINVAL;
			}
		}
		for (g = 0; g < v->n_gateway; g++) {
			for (j = 0; j < v->n_ip; j++)
				if (cfg_ip_in_prefix(&v->gateway[g], &v->ip[j]))
					break;
			if (j == v->n_ip) {
				lex_err(&ps->lx, ps->vif_line[i],
					"vif %u: gateway %s is not inside any ip=ADDRESS/PREFIX of "
					"this vif (the guest could not reach it)",
					i, v->gateway[g].text);
				return -EINVAL;
			}
		}
		if (hvm) {
			if (v->model[0] && strcmp(v->model, "virtio") &&
			    strcmp(v->model, "virtio-net")) {
				cfg_warn(&ws, CFG_VW_MODEL_HVM,
					 "model=%s is not implemented: pvnet's HVM guests get "
					 "virtio-net; read as model=virtio",
					 v->model);
				strcpy(v->model, "virtio");
			}
			if (v->n_gateway)
				cfg_warn(&ws, CFG_VW_GATEWAY_HVM,
					 "gateway= is applied to PV guests only; an HVM guest sets "
					 "its own route");
		} else {
			if (v->model[0])
				cfg_warn(&ws, CFG_VW_MODEL_PV,
					 "model=%s is for HVM guests; ignored for a %s guest",
					 v->model, c->type);
			if (!strcmp(v->type, "ioemu"))
				cfg_warn(&ws, CFG_VW_TYPE_IOEMU,
					 "type=ioemu is for HVM guests; a %s guest gets a PV vif",
					 c->type);
		}
	}
	return 0;
}

/* xm's domain-wide gateway: each address to the first vif whose prefix holds it. */
static int finish_gateway(struct parser *ps)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	char buf[sizeof(ps->gateway)], msg[256], *save = NULL, *item;
	struct pvnet_ip_cfg gw;
	unsigned i, j, g;

	if (!ps->seen_line[DK_GATEWAY])
		return 0;
	ps->lx.file = ps->gateway_file;
	strcpy(buf, ps->gateway);
	for (item = strtok_r(buf, " \t", &save); item; item = strtok_r(NULL, " \t", &save)) {
		if (cfg_parse_ip(item, "gateway", false, &gw, msg, sizeof(msg))) {
			lex_err(&ps->lx, ps->gateway_line, "%s", msg);
			return -EINVAL;
		}
		gw.prefix = 0;
		for (i = 0; i < c->n_vifs; i++) {
			for (j = 0; j < c->vifs[i].n_ip; j++)
				if (cfg_ip_in_prefix(&gw, &c->vifs[i].ip[j]))
					break;
			if (j < c->vifs[i].n_ip)
				break;
		}
		if (i == c->n_vifs) {
			lex_err(&ps->lx, ps->gateway_line,
				"gateway %s is not inside any vif's ip=ADDRESS/PREFIX", item);
			return -EINVAL;
		}
		for (g = 0; g < c->vifs[i].n_gateway; g++)
			if (c->vifs[i].gateway[g].family == gw.family)
				break;
		if (g < c->vifs[i].n_gateway) {
			lex_err(&ps->lx, ps->gateway_line,
				"gateway %s: vif %u already has gateway %s", item, i,
				c->vifs[i].gateway[g].text);
			return -EINVAL;
		}
		c->vifs[i].gateway[c->vifs[i].n_gateway++] = gw;
	}
	return 0;
}

static int finish_macs(struct parser *ps)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	char a[18];
	unsigned i, j, salt;
	bool clash;

	/* Explicit MACs must be distinct... */
	for (i = 0; i < c->n_vifs; i++) {
		for (j = 0; j < i && c->vifs[i].mac_set; j++) {
			if (c->vifs[j].mac_set && !memcmp(c->vifs[i].mac, c->vifs[j].mac, 6)) {
				pvnet_mac_format(c->vifs[i].mac, a);
				ps->lx.file = ps->vif_file[i];
				lex_err(&ps->lx, ps->vif_line[i],
					"vif %u: duplicate mac %s (already used by vif %u)", i, a,
					j);
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

static int finish(struct parser *ps, const char *filename, unsigned last_line)
{
	struct pvnet_dom_cfg *c = ps->cfg;
	int rc;

	ps->lx.file = filename;
	if (!ps->seen_line[DK_NAME]) {
		lex_err(&ps->lx, last_line, "missing required key 'name'");
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
	rc = finish_type(ps);
	if (!rc)
		rc = finish_cmdline(ps);
	if (!rc)
		rc = finish_devids(ps);
	if (!rc)
		rc = finish_gateway(ps);
	if (!rc)
		rc = finish_vifs(ps);
	if (!rc)
		rc = finish_macs(ps);
	return rc;
}

void pvnet_dom_cfg_init(struct pvnet_dom_cfg *out)
{
	memset(out, 0, sizeof(*out));
	out->memory_mib = PVNET_DEFAULT_MEMORY_MIB;
	out->vcpus = 1;
	strcpy(out->type, "pv");
	strcpy(out->on_crash, "destroy");
}

int pvnet_config_parse_ex(const char *filename, const char *text, size_t len,
			  const struct pvnet_config_opts *opts, struct pvnet_dom_cfg *out,
			  char *err, size_t err_size)
{
	char ofile[PVNET_CONFIG_MAX_OVERRIDES][24]; /* "<override N>": messages may name it */
	struct parser *ps;
	unsigned i, last_line;
	int rc = -EINVAL;

	if (err && err_size)
		err[0] = '\0';
	pvnet_dom_cfg_init(out);
	if (!filename)
		filename = "<config>";
	if (!text && len) {
		cfg_set_err(err, err_size, "%s: no text", filename);
		return -EINVAL;
	}
	if (opts && opts->n_overrides > PVNET_CONFIG_MAX_OVERRIDES) {
		cfg_set_err(err, err_size, "too many overrides (max %d)",
			    PVNET_CONFIG_MAX_OVERRIDES);
		return -EINVAL;
	}
	ps = calloc(1, sizeof(*ps));
	if (ps)
		ps->scratch = malloc(ATOM_MAX);
	if (!ps || !ps->scratch) {
		cfg_set_err(err, err_size, "%s: out of memory", filename);
		rc = -ENOMEM;
		goto free_ps;
	}
	ps->lx = (struct lexer){.p = text,
				.end = text + len,
				.line = 1,
				.file = filename,
				.err = err,
				.err_size = err_size};
	ps->cfg = out;
	ps->opts = opts;
	rc = parse_statements(ps);
	last_line = ps->lx.line;
	for (i = 0; !rc && opts && i < opts->n_overrides; i++) {
		const char *o = opts->overrides[i] ? opts->overrides[i] : "";

		snprintf(ofile[i], sizeof(ofile[i]), "<override %u>", i + 1);
		ps->in_override = true;
		ps->lx = (struct lexer){.p = o,
					.end = o + strlen(o),
					.line = 1,
					.file = ofile[i],
					.err = err,
					.err_size = err_size};
		if (!*o) {
			lex_err(&ps->lx, 1, "empty override (expected KEY=VALUE)");
			rc = -EINVAL;
			break;
		}
		rc = parse_statements(ps);
	}
	if (!rc)
		rc = finish(ps, filename, last_line);
	if (rc && ps->lx.rc)
		rc = ps->lx.rc;
free_ps:
	if (ps)
		free(ps->scratch);
	free(ps);
	return rc;
}

int pvnet_config_parse(const char *filename, const char *text, size_t len,
		       struct pvnet_dom_cfg *out, char *err, size_t err_size)
{
	return pvnet_config_parse_ex(filename, text, len, NULL, out, err, err_size);
}

int pvnet_config_load_ex(const char *path, const struct pvnet_config_opts *opts,
			 struct pvnet_dom_cfg *out, char *err, size_t err_size)
{
	char *buf = NULL;
	size_t have = 0;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		cfg_set_err(err, err_size, "%s: %s", path, strerror(-rc));
		goto out;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		rc = -ENOMEM;
		cfg_set_err(err, err_size, "%s: out of memory", path);
		goto out_close;
	}
	for (;;) {
		n = read(fd, buf + have, CONFIG_FILE_MAX + 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			cfg_set_err(err, err_size, "%s: %s", path, strerror(-rc));
			goto out_free;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > CONFIG_FILE_MAX) {
			rc = -EFBIG;
			cfg_set_err(err, err_size, "%s: file too large (max %u bytes)", path,
				    CONFIG_FILE_MAX);
			goto out_free;
		}
	}
	rc = pvnet_config_parse_ex(path, buf, have, opts, out, err, err_size);
out_free:
	free(buf);
out_close:
	close(fd);
out:
	return rc;
}

int pvnet_config_load(const char *path, struct pvnet_dom_cfg *out, char *err, size_t err_size)
{
	return pvnet_config_load_ex(path, NULL, out, err, err_size);
}
