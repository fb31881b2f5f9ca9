/* SPDX-License-Identifier: MIT */
/*
 * Domain records (pvnet/domrec.h): parse and write. The file sits in pvnetd's
 * own state dir, but is read as untrusted text: bounded, every field checked.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/domrec.h>
#include <pvnet/hv.h>

static uint64_t fnv64(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

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

/* Hex (even length) to a malloc'ed NUL-terminated buffer. */
static int hex_get(const char *s, size_t n, char **out, size_t *len)
{
	char *buf;

	if (n % 2)
		return -EINVAL;
	buf = malloc(n / 2 + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(buf);
			return -EINVAL;
		}
		buf[i] = (char)(hi << 4 | lo);
	}
	buf[n / 2] = 0;
	*out = buf;
	*len = n / 2;
	return 0;
}

static void hex_put(FILE *f, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", b[i]);
}

/* A decimal number that is the whole of s, in [lo, hi]. */
static bool number(const char *s, unsigned long long lo, unsigned long long hi,
		   unsigned long long *v)
{
	unsigned long long x = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || x > (~0ull - 9) / 10)
			return false;
		x = x * 10 + (unsigned)(*s - '0');
	}
	if (x < lo || x > hi)
		return false;
	*v = x;
	return true;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= HV_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

/* An absolute path of printable characters without spaces, shorter than size. */
static bool path_ok(const char *s, size_t size)
{
	if (s[0] != '/' || strlen(s) >= size)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* "SIZE N HASH HEX" */
static int parse_vifs(struct pvnet_domrec *r, const char *val)
{
	unsigned long long sz = 0, nv = 0;
	unsigned long long hash = 0;
	const char *p = val, *q;
	char word[32], *bin = NULL;
	size_t len = 0;
	int rc;

	for (int i = 0; i < 3; i++) {
		q = strchr(p, ' ');
		if (!q || (size_t)(q - p) >= sizeof(word))
			return -EINVAL;
		memcpy(word, p, (size_t)(q - p));
		word[q - p] = 0;
		if (i == 0 && !number(word, 1, 1u << 20, &sz))
			return -EINVAL;
		if (i == 1 && !number(word, 0, PVNET_MAX_VIFS, &nv))
			return -EINVAL;
		if (i == 2) {
			char *e;
			if (strlen(word) != 16)
				return -EINVAL;
			hash = strtoull(word, &e, 16);
			if (*e)
				return -EINVAL;
		}
		p = q + 1;
	}
	rc = hex_get(p, strlen(p), &bin, &len);
	if (rc < 0)
		return rc;
	if (sz == sizeof(struct pvnet_vif_cfg) && len == nv * sz && fnv64(bin, len) == hash) {
		r->vifs = (struct pvnet_vif_cfg *)(void *)bin;
		r->n_vifs = (unsigned)nv;
		r->vifs_state = 1;
	} else {
		free(bin);
		r->vifs_state = -1;
	}
	return 0;
}

enum {
	K_VERSION,
	K_DOMID,
	K_NAME,
	K_PID,
	K_START,
	K_MEMORY,
	K_FILE,
	K_CONFIG,
	K_VIFS,
	K_TYPE,
	K_QMP,
	K_ACCEL,
	K_VHOST
};
static const char *const keys[] = {"version", "domid", "name", "pid", "start", "memory", "file",
				   "config",  "vifs",  "type", "qmp", "accel", "vhost"};
#define KEYS_REQUIRED ((1u << K_VIFS) - 1) /* version .. config */
#define KEYS_HVM (1u << K_QMP | 1u << K_ACCEL)
#define KEYS_HVM_ONLY (KEYS_HVM | 1u << K_VHOST)

/* An override line's hex value, appended to r->overrides. 0 or -EINVAL (why). */
static int add_override(struct pvnet_domrec *r, const char *val, unsigned lineno, char *why,
			size_t why_size)
{
	size_t l;

	if (r->n_overrides >= PVNET_DOMREC_MAX_OVERRIDES ||
	    hex_get(val, strlen(val), &r->overrides[r->n_overrides], &l) < 0) {
		snprintf(why, why_size, "line %u: bad override (or more than %u)", lineno,
			 PVNET_DOMREC_MAX_OVERRIDES);
		return -EINVAL;
	}
	if (strlen(r->overrides[r->n_overrides]) != l) {
		free(r->overrides[r->n_overrides]);
		r->overrides[r->n_overrides] = NULL;
		snprintf(why, why_size, "line %u: a NUL byte in an override", lineno);
		return -EINVAL;
	}
	r->n_overrides++;
	return 0;
}

/* The value of key k (not version, not override) into *r: false if it is bad. */
static bool parse_value(struct pvnet_domrec *r, int k, const char *val)
{
	unsigned long long v = 0;

	switch (k) {
	case K_DOMID:
		if (!number(val, 1, HV_MAX_DOMID, &v))
			return false;
		r->domid = (uint16_t)v;
		return true;
	case K_NAME:
		if (!name_ok(val))
			return false;
		snprintf(r->name, sizeof(r->name), "%s", val);
		return true;
	case K_PID:
		if (!number(val, 2, 1u << 22, &v))
			return false;
		r->pid = (long)v;
		return true;
	case K_START:
		return number(val, 1, ~0ull, &r->start);
	case K_MEMORY:
		return number(val, 1, HV_MAX_MEM_SIZE >> 20, &r->memory_mib);
	case K_FILE:
		if (!*val || strlen(val) >= sizeof(r->file))
			return false;
		snprintf(r->file, sizeof(r->file), "%s", val);
		return true;
	case K_CONFIG:
		return hex_get(val, strlen(val), &r->text, &r->text_len) == 0 &&
		       strlen(r->text) == r->text_len;
	case K_VIFS:
		return parse_vifs(r, val) == 0;
	case K_TYPE:
		if (strcmp(val, "pv") && strcmp(val, "hvm"))
			return false;
		r->hvm = !strcmp(val, "hvm");
		return true;
	case K_QMP:
		if (!path_ok(val, sizeof(r->qmp)))
			return false;
		snprintf(r->qmp, sizeof(r->qmp), "%s", val);
		return true;
	case K_ACCEL:
		if (strcmp(val, "tcg") && strcmp(val, "kvm"))
			return false;
		snprintf(r->accel, sizeof(r->accel), "%s", val);
		return true;
	case K_VHOST:
		if (strcmp(val, "client") && strcmp(val, "server"))
			return false;
		r->vhost_client = !strcmp(val, "client");
		return true;
	}
	return true; /* K_VERSION: checked by the caller */
}

/* After `end`: every required key there (qmp and accel too for type hvm), none of
 * the HVM keys in another record. 0 or -EINVAL with the reason in why. */
static int check_keys(const struct pvnet_domrec *r, unsigned seen, char *why, size_t why_size)
{
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		bool need = (KEYS_REQUIRED | (r->hvm ? KEYS_HVM : 0)) & (1u << i);
		if (need && !(seen & (1u << i))) {
			snprintf(why, why_size, "'%s' missing%s", keys[i],
				 KEYS_HVM & (1u << i) ? " (type hvm)" : "");
			return -EINVAL;
		}
		if (!r->hvm && (KEYS_HVM_ONLY & seen & (1u << i))) {
			snprintf(why, why_size, "'%s' in a record that is not type hvm", keys[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* One "key value" line (not a comment, not `end`) into *r; *seen: the keys had so
 * far. 0 or -EINVAL with the reason naming the line in why. */
static int parse_line(struct pvnet_domrec *r, char *line, unsigned lineno, unsigned *seen,
		      char *why, size_t why_size)
{
	unsigned long long v = 0;
	char *val = strchr(line, ' ');
	int k = -1;

	if (val)
		*val++ = 0;
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(line, keys[i]))
			k = (int)i;
	if (!strcmp(line, "override") && val)
		return add_override(r, val, lineno, why, why_size);
	if (k < 0 || !val) {
		snprintf(why, why_size, "line %u: unknown '%.32s'", lineno, line);
		return -EINVAL;
	}
	if (*seen & (1u << k)) {
		snprintf(why, why_size, "line %u: %s repeated", lineno, keys[k]);
		return -EINVAL;
	}
	*seen |= 1u << k;
	if (k == K_VERSION && !number(val, 1, 1, &v)) {
		snprintf(why, why_size, "line %u: version '%.16s' (this pvnetd reads 1)", lineno,
			 val);
		return -EINVAL;
	}
	if (!parse_value(r, k, val)) {
		snprintf(why, why_size, "line %u: bad %s", lineno, keys[k]);
		return -EINVAL;
	}
	return 0;
}

int pvnet_domrec_parse(const char *buf, size_t len, struct pvnet_domrec *r, char *why,
		       size_t why_size)
{
	unsigned seen = 0, lineno = 0;
	bool end = false;
	size_t pos = 0;
	char *line = NULL;

	memset(r, 0, sizeof(*r));
	if (len > PVNET_DOMREC_MAX_SIZE) {
		snprintf(why, why_size, "larger than %u bytes", PVNET_DOMREC_MAX_SIZE);
		return -EINVAL;
	}
	if (memchr(buf, 0, len)) {
		snprintf(why, why_size, "a NUL byte in it");
		return -EINVAL;
	}
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		lineno++;
		free(line);
		line = malloc(n + 1);
		if (!line) {
			snprintf(why, why_size, "out of memory");
			goto fail;
		}
		memcpy(line, buf + pos, n);
		line[n] = 0;
		pos += n + (nl ? 1 : 0);
		if (line[0] == '#' || (!line[0] && !end))
			continue;
		if (end) {
			snprintf(why, why_size, "line %u: after 'end'", lineno);
			goto fail;
		}
		if (!strcmp(line, "end")) {
			end = true;
			continue;
		}
		if (parse_line(r, line, lineno, &seen, why, why_size) < 0)
			goto fail;
	}
	free(line);
	line = NULL;
	if (!end) {
		snprintf(why, why_size, "no 'end' line (cut short?)");
		goto fail;
	}
	if (check_keys(r, seen, why, why_size) < 0)
		goto fail;
	return 0;
fail:
	free(line);
	pvnet_domrec_free(r);
	return -EINVAL;
}

int pvnet_domrec_write(FILE *f, const struct pvnet_domrec *r)
{
	fprintf(f, "# pvnetd domain record (re-adoption after a restart); do not edit\n");
	fprintf(f, "version 1\ndomid %u\nname %s\npid %ld\nstart %llu\nmemory %llu\nfile %s\n",
		r->domid, r->name, r->pid, r->start, r->memory_mib, r->file[0] ? r->file : "-");
	if (r->hvm)
		fprintf(f, "type hvm\nqmp %s\naccel %s\nvhost %s\n", r->qmp, r->accel,
			r->vhost_client ? "client" : "server");
	for (unsigned i = 0; i < r->n_overrides; i++) {
		fputs("override ", f);
		hex_put(f, r->overrides[i], strlen(r->overrides[i]));
		fputc('\n', f);
	}
	fputs("config ", f);
	hex_put(f, r->text, r->text_len);
	fputc('\n', f);
	if (r->vifs_state == 1) {
		size_t len = (size_t)r->n_vifs * sizeof(r->vifs[0]);
		fprintf(f, "vifs %zu %u %016llx ", sizeof(r->vifs[0]), r->n_vifs,
			(unsigned long long)fnv64(r->vifs, len));
		hex_put(f, r->vifs, len);
		fputc('\n', f);
	}
	fputs("end\n", f);
	return ferror(f) ? -EIO : 0;
}

void pvnet_domrec_free(struct pvnet_domrec *r)
{
	for (unsigned i = 0; i < r->n_overrides; i++)
		free(r->overrides[i]);
	free(r->text);
	free(r->vifs);
	memset(r, 0, sizeof(*r));
}
