/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/registry.c - the plugin registry and the .so loader.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/log.h>

#include "accel_private.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

int accel_registry_create(struct accel_registry **out)
{
	struct accel_registry *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return -ENOMEM;
	*out = reg;
	return 0;
}

void accel_registry_destroy(struct accel_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->count; i++) {
		if (reg->plugins[i]->dl)
			dlclose(reg->plugins[i]->dl);
		free(reg->plugins[i]);
	}
	free(reg);
}

static int name_ok(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	n = strnlen(name, ACCEL_NAME_MAX);
	if (n == 0 || n >= ACCEL_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * Validation order is the order a reader needs the message in: version first
 * (a different major means nothing else in the table can be trusted), then the
 * size, then flags, then the contents.
 */
int accel_register_ops(struct accel_registry *reg, const struct accel_ops *ops, const char *source,
		       char *err, size_t errlen)
{
	const char *who = source ? base_name(source) : "plugin";
	struct accel_plugin *p;
	uint32_t size;
	uint64_t unknown;

	if (!ops) {
		set_err(err, errlen, "%s: entry returned no ops table", who);
		return -EINVAL;
	}
	/* The header (through `flags`) is stable across every ABI version. */
	if (ops->abi_major != ACCEL_ABI_MAJOR) {
		set_err(err, errlen,
			"%s: ABI version %u.%u not supported (this loader takes %u.x, x >= 0)", who,
			ops->abi_major, ops->abi_minor, ACCEL_ABI_MAJOR);
		return -EPROTO;
	}
	size = ops->size;
	if (size < ACCEL_OPS_MIN_SIZE) {
		set_err(err, errlen,
			"%s: ops table is %u bytes, shorter than the %zu bytes ABI %u.0 requires "
			"(through qp_free)",
			who, size, (size_t)ACCEL_OPS_MIN_SIZE, ACCEL_ABI_MAJOR);
		return -EINVAL;
	}
	unknown = ops->flags & ~(uint64_t)ACCEL_F_KNOWN;
	if (unknown) {
		set_err(err, errlen, "%s: unknown flag bits 0x%llx in ops table (known: 0x%llx)",
			who, (unsigned long long)unknown, (unsigned long long)ACCEL_F_KNOWN);
		return -ENOTSUP;
	}
	if (reg->count >= ACCEL_PLUGINS_MAX) {
		set_err(err, errlen, "%s: too many plugins (max %d)", who, ACCEL_PLUGINS_MAX);
		return -ENOSPC;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		set_err(err, errlen, "%s: out of memory", who);
		return -ENOMEM;
	}
	/* Use only the bytes the plugin declared; a newer minor's tail is ignored. */
	memcpy(&p->ops, ops, size < sizeof(p->ops) ? size : sizeof(p->ops));
	p->declared_size = size;
	if (!name_ok(p->ops.name)) {
		set_err(err, errlen, "%s: bad plugin name (1..31 chars of [a-z0-9_-])", who);
		goto err_free;
	}
	if (!p->ops.probe || !p->ops.open || !p->ops.close || !p->ops.port_alloc ||
	    !p->ops.port_free || !p->ops.qp_alloc || !p->ops.qp_free) {
		set_err(err, errlen,
			"%s: plugin '%s' lacks a required op (probe, open, close, "
			"port_alloc, port_free, qp_alloc, qp_free)",
			who, p->ops.name);
		goto err_free;
	}
	if (p->ops.levels == 0 || (p->ops.levels >> (ACCEL_LEVEL_MAX + 1)) != 0) {
		set_err(err, errlen, "%s: plugin '%s' declares levels 0x%x (want a subset of 0-3)",
			who, p->ops.name, p->ops.levels);
		goto err_free;
	}
	if (accel_find(reg, p->ops.name)) {
		set_err(err, errlen, "%s: a plugin named '%s' is already registered", who,
			p->ops.name);
		free(p);
		return -EEXIST;
	}
	snprintf(p->source, sizeof(p->source), "%s", source ? source : "built-in");
	reg->plugins[reg->count++] = p;
	return 0;

err_free:
	free(p);
	return -EINVAL;
}

int accel_load_file(struct accel_registry *reg, const char *path, char *err, size_t errlen)
{
	const char *who = base_name(path);
	accel_entry_fn entry;
	void *dl, *sym;
	int rc;

	/*
	 * RTLD_NODELETE: a plugin's code and the libraries it pulls in stay mapped
	 * after dlclose. Their constructors allocate memory that only their own
	 * globals point to and no destructor frees (DPDK's: log types, driver and
	 * bus lists, about 12 kB); unmapping them made that memory unreachable,
	 * which LeakSanitizer reported at every pvnetd exit, from modules it could
	 * no longer name. A plugin is loaded once per process, so keeping it costs
	 * nothing; a late call through a pointer the plugin handed out cannot land
	 * in unmapped code either.
	 */
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!dl) {
		set_err(err, errlen, "%s: cannot load: %s", who, dlerror());
		return -ENOENT;
	}
	dlerror();
	sym = dlsym(dl, ACCEL_ENTRY_SYMBOL);
	if (!sym) {
		const char *e = dlerror();
		set_err(err, errlen, "%s: missing symbol %s (%s)", who, ACCEL_ENTRY_SYMBOL,
			e ? e : "NULL value");
		rc = -ENOENT;
		goto err_close;
	}
	/* POSIX: a data pointer from dlsym converts to a function pointer. */
	*(void **)&entry = sym;
	rc = accel_register_ops(reg, entry(), path, err, errlen);
	if (rc)
		goto err_close;
	reg->plugins[reg->count - 1]->dl = dl;
	return 0;

err_close:
	dlclose(dl);
	return rc;
}

static int so_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

/* True if `file` is "<name>.so" and <name> is a registered built-in plugin. */
static bool builtin_named(const struct accel_registry *reg, const char *file)
{
	char name[ACCEL_NAME_MAX];
	size_t n = strlen(file);
	const struct accel_plugin *p;

	if (n <= 3 || n - 3 >= sizeof(name))
		return false;
	memcpy(name, file, n - 3);
	name[n - 3] = '\0';
	p = accel_find(reg, name);
	return p && !p->dl && strcmp(p->source, "built-in") == 0;
}

int accel_load_dir(struct accel_registry *reg, const char *dir)
{
	struct dirent **names;
	int n, loaded = 0;

	n = scandir(dir, &names, so_filter, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char path[512], err[256];
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (builtin_named(reg, names[i]->d_name)) {
			/* a dev tree's plugin dir holds simnic.so next to the built-in
			 * simnic: the built-in serves, the .so is not even opened */
			PVLOG(DEBUG, ACCEL_MOD, "%s: not loaded, a built-in plugin has its name",
			      path);
			free(names[i]);
			continue;
		}
		rc = accel_load_file(reg, path, err, sizeof(err));
		if (rc == 0) {
			loaded++;
			PVLOG(INFO, ACCEL_MOD, "loaded plugin %s", path);
		} else {
			PVLOG(WARN, ACCEL_MOD, "skipped plugin: %s", err);
		}
		free(names[i]);
	}
	free(names);
	return loaded;
}

const struct accel_plugin *accel_find(const struct accel_registry *reg, const char *name)
{
	if (!reg || !name)
		return NULL;
	for (size_t i = 0; i < reg->count; i++)
		if (strcmp(reg->plugins[i]->ops.name, name) == 0)
			return reg->plugins[i];
	return NULL;
}

const struct accel_ops *accel_plugin_ops(const struct accel_plugin *p)
{
	return p ? &p->ops : NULL;
}

int accel_list(const struct accel_registry *reg, struct accel_plugin_info *out, size_t max)
{
	for (size_t i = 0; i < reg->count && i < max; i++) {
		const struct accel_plugin *p = reg->plugins[i];
		struct accel_plugin_info *o = &out[i];

		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", p->ops.name);
		snprintf(o->version, sizeof(o->version), "%s",
			 p->ops.version ? p->ops.version : "-");
		o->abi_major = p->ops.abi_major;
		o->abi_minor = p->ops.abi_minor;
		o->levels = p->ops.levels;
		o->flags = p->ops.flags;
		snprintf(o->source, sizeof(o->source), "%s", p->source);
	}
	return (int)reg->count;
}

void accel_levels_str(uint32_t levels, char *buf, size_t size)
{
	size_t off = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (unsigned l = 0; l <= ACCEL_LEVEL_MAX; l++) {
		if (!(levels & ACCEL_LEVEL_BIT(l)))
			continue;
		int n = snprintf(buf + off, size - off, "%s%u", off ? "," : "", l);
		if (n < 0 || (size_t)n >= size - off)
			return;
		off += (size_t)n;
	}
}

int accel_format_list(const struct accel_registry *reg, char *buf, size_t size)
{
	size_t off = 0;
	int n;

#define APPEND(...)                                                                                \
	do {                                                                                       \
		n = snprintf(size > off ? buf + off : NULL, size > off ? size - off : 0,           \
			     __VA_ARGS__);                                                         \
		if (n > 0)                                                                         \
			off += (size_t)n;                                                          \
	} while (0)
	APPEND("%-16s %-10s %-5s %-8s %s\n", "NAME", "VERSION", "ABI", "LEVELS", "SOURCE");
	for (size_t i = 0; i < reg->count; i++) {
		const struct accel_plugin *p = reg->plugins[i];
		char lv[16], abi[16];

		accel_levels_str(p->ops.levels, lv, sizeof(lv));
		snprintf(abi, sizeof(abi), "%u.%u", p->ops.abi_major, p->ops.abi_minor);
		APPEND("%-16s %-10s %-5s %-8s %s\n", p->ops.name,
		       p->ops.version ? p->ops.version : "-", abi, lv, p->source);
	}
#undef APPEND
	return (int)off;
}

/* The one list of built-in plugins. */
int accel_register_builtins(struct accel_registry *reg)
{
	static const struct {
		const struct accel_ops *(*get)(void);
	} builtins[] = {
		{simnic_accel_ops},
	};
	char err[256];
	int rc;

	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		rc = accel_register_ops(reg, builtins[i].get(), "built-in", err, sizeof(err));
		if (rc) {
			PVLOG(ERR, ACCEL_MOD, "built-in plugin rejected: %s", err);
			return rc;
		}
	}
	return 0;
}
