/* SPDX-License-Identifier: MIT */
/* The persistent switch configuration: model, parser, writer (include/pvnet/state.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/state.h>

struct pvnet_state {
	struct pvnet_state_entry **items; /* file order: grouped by kind, then by age */
	size_t count, cap;
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

int pvnet_state_create(struct pvnet_state **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void pvnet_state_destroy(struct pvnet_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->count; i++)
		free(st->items[i]);
	free(st->items);
	free(st);
}

size_t pvnet_state_count(const struct pvnet_state *st)
{
	return st->count;
}

struct pvnet_state_entry *pvnet_state_get(struct pvnet_state *st, size_t i)
{
	return i < st->count ? st->items[i] : NULL;
}

int pvnet_state_remove(struct pvnet_state *st, size_t i)
{
	if (i >= st->count)
		return -ENOENT;
	free(st->items[i]);
	memmove(&st->items[i], &st->items[i + 1], (st->count - i - 1) * sizeof(st->items[0]));
	st->count--;
	return 0;
}

bool pvnet_state_name_ok(const char *name)
{
	size_t n = 0;

	for (; name[n]; n++) {
		char c = name[n];
		if (n == PVNET_STATE_NAME_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return n > 0;
}

/* Decimal without sign or leading zero, <= max. */
static int parse_dec(const char *s, const char **end, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*end = p;
	*out = (unsigned)v;
	return 0;
}

int pvnet_state_vif_name(const char *name, unsigned *domid, unsigned *devid)
{
	const char *p;
	unsigned d, n;

	if (strncmp(name, "vif", 3) || parse_dec(name + 3, &p, 65535, &d) || d == 0 || *p != '.' ||
	    parse_dec(p + 1, &p, 255, &n) || *p)
		return -EINVAL;
	if (domid)
		*domid = d;
	if (devid)
		*devid = n;
	return 0;
}

/* "D/N" or "vifD.N" -> "vifD.N" in out[size]. */
static int vif_canon(const char *s, char *out, size_t size)
{
	const char *p;
	unsigned d, n;

	if (pvnet_state_vif_name(s, &d, &n) == 0 ||
	    (parse_dec(s, &p, 65535, &d) == 0 && d && *p == '/' &&
	     parse_dec(p + 1, &p, 255, &n) == 0 && !*p)) {
		snprintf(out, size, "vif%u.%u", d, n);
		return 0;
	}
	return -EINVAL;
}

static bool token_ok(const char *t)
{
	size_t n = 0;

	for (; t[n]; n++)
		if (n == PVNET_STATE_TOKEN_MAX || (unsigned char)t[n] < 0x21 ||
		    (unsigned char)t[n] > 0x7e)
			return false;
	return n > 0 && t[0] != '#';
}

enum op { OP_NONE, OP_SET, OP_DEL_BR, OP_DEL_PORT };

static const struct cmd {
	const char *name;
	enum op op;
	enum pvnet_state_kind kind;
	int min_argc, max_argc; /* counting "switch" and the command */
	int key, bridge;        /* argv index of the key / bridge name (0: none) */
} cmds[] = {
	{"add-br", OP_SET, PVNET_STATE_BRIDGE, 3, 3, 2, 2},
	{"set-ageing", OP_SET, PVNET_STATE_AGEING, 4, 4, 2, 2},
	{"add-port", OP_SET, PVNET_STATE_PORT, 4, PVNET_STATE_MAX_ARGS, 3, 2},
	{"set-vlan", OP_SET, PVNET_STATE_VLAN, 4, 4, 2, 0},
	{"set-trunk", OP_SET, PVNET_STATE_VLAN, 4, 4, 2, 0},
	{"set-antispoof", OP_SET, PVNET_STATE_ANTISPOOF, 4, PVNET_STATE_MAX_ARGS, 2, 0},
	{"set-mac-limit", OP_SET, PVNET_STATE_MAC_LIMIT, 4, 4, 2, 0},
	{"set-mac-limit", OP_SET, PVNET_STATE_BR_MAC_LIMIT, 5, 5, 3, 3}, /* --bridge BR N */
	{"del-br", OP_DEL_BR, PVNET_STATE_BRIDGE, 3, 3, 2, 2},
	{"del-port", OP_DEL_PORT, PVNET_STATE_PORT, 4, 4, 3, 2},
};

static const struct cmd rate_cmd = {"vif-set-rate", OP_SET, PVNET_STATE_RATE, 3, 3, 1, 0};

/* Builds one entry (a single allocation) from argv. */
static struct pvnet_state_entry *entry_new(enum pvnet_state_kind kind, int argc, char *const *argv,
					   int key, int bridge, unsigned line)
{
	struct pvnet_state_entry *e;
	size_t text = 0;
	char *p;

	for (int i = 0; i < argc; i++)
		text += strlen(argv[i]) + 1;
	e = calloc(1, sizeof(*e) + (size_t)(argc + 1) * sizeof(char *) + text);
	if (!e)
		return NULL;
	e->kind = kind;
	e->line = line;
	e->argc = argc;
	e->argv = (char **)(e + 1);
	p = (char *)(e->argv + argc + 1);
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;
		memcpy(p, argv[i], n);
		e->argv[i] = p;
		p += n;
	}
	e->argv[argc] = NULL;
	e->key = e->argv[key];
	e->bridge = bridge ? e->argv[bridge] : "";
	return e;
}

static long find(const struct pvnet_state *st, enum pvnet_state_kind kind, const char *key)
{
	for (size_t i = 0; i < st->count; i++)
		if (st->items[i]->kind == kind && !strcmp(st->items[i]->key, key))
			return (long)i;
	return -1;
}

/* Puts e at the end of its kind's group (st has room). */
static void insert(struct pvnet_state *st, struct pvnet_state_entry *e)
{
	size_t at = st->count;

	for (size_t i = 0; i < st->count; i++) {
		if (st->items[i]->kind > e->kind) {
			at = i;
			break;
		}
	}
	memmove(&st->items[at + 1], &st->items[at], (st->count - at) * sizeof(st->items[0]));
	st->items[at] = e;
	st->count++;
}

static int reserve(struct pvnet_state *st, size_t extra)
{
	struct pvnet_state_entry **n;
	size_t cap;

	if (st->count + extra > PVNET_STATE_MAX_ENTRIES)
		return -ENOSPC;
	if (st->count + extra <= st->cap)
		return 0;
	cap = st->cap ? st->cap * 2 : 32;
	while (cap < st->count + extra)
		cap *= 2;
	n = realloc(st->items, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->items = n;
	st->cap = cap;
	return 0;
}

static void remove_key(struct pvnet_state *st, enum pvnet_state_kind kind, const char *key)
{
	long i = find(st, kind, key);

	if (i >= 0)
		pvnet_state_remove(st, (size_t)i);
}

/* A port and its settings. `port` must not point into an entry removed here. */
static void del_port(struct pvnet_state *st, const char *port)
{
	remove_key(st, PVNET_STATE_PORT, port);
	remove_key(st, PVNET_STATE_VLAN, port);
	remove_key(st, PVNET_STATE_ANTISPOOF, port);
	remove_key(st, PVNET_STATE_MAC_LIMIT, port);
}

static void del_br(struct pvnet_state *st, const char *br)
{
	char name[PVNET_STATE_NAME_MAX + 1];

	remove_key(st, PVNET_STATE_BRIDGE, br);
	remove_key(st, PVNET_STATE_AGEING, br);
	remove_key(st, PVNET_STATE_BR_MAC_LIMIT, br);
	for (size_t i = 0; i < st->count;) {
		struct pvnet_state_entry *e = st->items[i];
		if (e->kind == PVNET_STATE_PORT && !strcmp(e->bridge, br)) {
			snprintf(name, sizeof(name), "%s", e->key);
			del_port(st, name);
			i = 0; /* entries moved */
			continue;
		}
		i++;
	}
}

/* The setting a command line makes (vif-set-rate or a switch subcommand; mac-limit
 * with --bridge is the bridge's), or NULL when it is not one. */
static const struct cmd *find_cmd(int argc, char *const *argv)
{
	bool br_opt = argc >= 3 && !strcmp(argv[2], "--bridge");

	if (!strcmp(argv[0], "vif-set-rate"))
		return &rate_cmd;
	if (strcmp(argv[0], "switch") || argc < 2)
		return NULL;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name) &&
		    (cmds[i].kind != PVNET_STATE_MAC_LIMIT || !br_opt) &&
		    (cmds[i].kind != PVNET_STATE_BR_MAC_LIMIT || br_opt))
			return &cmds[i];
	return NULL;
}

int pvnet_state_record(struct pvnet_state *st, int argc, char *const *argv, unsigned line,
		       char *err, size_t err_size)
{
	char *args[PVNET_STATE_MAX_ARGS];
	char vif[32], brname[PVNET_STATE_NAME_MAX + 1];
	const struct cmd *c;
	struct pvnet_state_entry *e, *br = NULL;
	bool need_br;
	long at;
	int rc;

	if (argc < 1 || argc > PVNET_STATE_MAX_ARGS) {
		set_err(err, err_size, "%s", argc < 1 ? "empty command" : "too many arguments");
		return -EINVAL;
	}
	c = find_cmd(argc, argv);
	if (!c)
		return 0;
	if (argc < c->min_argc || argc > c->max_argc) {
		set_err(err, err_size, "'%s': wrong number of arguments",
			c == &rate_cmd ? argv[0] : argv[1]);
		return -EINVAL;
	}
	for (int i = 0; i < argc; i++) {
		if (!token_ok(argv[i])) {
			set_err(err, err_size, "argument %d is not 1..%d printable characters", i,
				PVNET_STATE_TOKEN_MAX);
			return -EINVAL;
		}
		args[i] = argv[i];
	}
	if (c->kind == PVNET_STATE_RATE) {
		if (vif_canon(argv[1], vif, sizeof(vif))) {
			set_err(err, err_size, "bad vif '%.64s' (vifD.N or D/N)", argv[1]);
			return -EINVAL;
		}
		args[1] = vif;
	} else if (!pvnet_state_name_ok(argv[c->key]) ||
		   (c->bridge && !pvnet_state_name_ok(argv[c->bridge]))) {
		set_err(err, err_size, "bad name '%.64s' (1..%d characters of A-Z a-z 0-9 _ . -)",
			pvnet_state_name_ok(argv[c->key]) ? argv[c->bridge] : argv[c->key],
			PVNET_STATE_NAME_MAX);
		return -EINVAL;
	}
	if (c->op == OP_DEL_PORT || c->op == OP_DEL_BR) {
		(c->op == OP_DEL_PORT ? del_port : del_br)(st, argv[c->key]);
		return 1;
	}
	if (c->kind == PVNET_STATE_PORT && pvnet_state_vif_name(argv[c->key], NULL, NULL) == 0) {
		set_err(err, err_size, "'%s' is a guest vif's name: not a port to add",
			argv[c->key]);
		return -EINVAL;
	}
	at = find(st, c->kind, args[c->key]);
	need_br = c->kind == PVNET_STATE_PORT && find(st, PVNET_STATE_BRIDGE, args[c->bridge]) < 0;
	rc = reserve(st, (at < 0) + need_br);
	if (rc) {
		set_err(err, err_size, "more than %d settings", PVNET_STATE_MAX_ENTRIES);
		return rc;
	}
	e = entry_new(c->kind, argc, args, c->key, c->bridge, line);
	if (!e)
		return -ENOMEM;
	if (need_br) {
		char *bargv[3] = {"switch", "add-br", brname};
		snprintf(brname, sizeof(brname), "%s", args[c->bridge]);
		br = entry_new(PVNET_STATE_BRIDGE, 3, bargv, 2, 2, line);
		if (!br) {
			free(e);
			return -ENOMEM;
		}
	}
	if (at >= 0) { /* same key: the new setting takes the old one's place */
		free(st->items[at]);
		st->items[at] = e;
	} else {
		insert(st, e);
	}
	if (br)
		insert(st, br);
	return 1;
}

static void report(pvnet_state_err_fn fn, void *arg, const char *file, unsigned line,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report(pvnet_state_err_fn fn, void *arg, const char *file, unsigned line,
		   const char *fmt, ...)
{
	char msg[600], full[768];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s:%u: %s", file, line, msg);
	fn(arg, line, full);
}

/* Splits a line into at most PVNET_STATE_MAX_ARGS words (argv points into buf);
 * a first word starting with '#' is a comment. The word count, or -1 for a line
 * with more words. */
static int split_words(char *buf, char **argv)
{
	char *save = NULL, *tok;
	int argc = 0;

	for (tok = strtok_r(buf, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
		if (argc == 0 && tok[0] == '#')
			break;
		if (argc == PVNET_STATE_MAX_ARGS)
			return -1;
		argv[argc++] = tok;
	}
	return argc;
}

/* Reports a version line this pvnetd does not read. */
static void report_version(pvnet_state_err_fn fn, void *arg, const char *file, unsigned line,
			   int argc, char **argv)
{
	report(fn, arg, file, line,
	       "unsupported '%.64s%s%.32s' (this pvnetd reads version %d): "
	       "nothing in the file applied",
	       argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "", PVNET_STATE_VERSION);
}

/* Records one setting line (pvnet_state_record), reporting what it refuses.
 * 1 when reported, 0 when recorded, -ENOMEM. */
static int apply_line(struct pvnet_state *st, int argc, char **argv, const char *file,
		      unsigned lineno, pvnet_state_err_fn err_fn, void *err_arg)
{
	char err[300] = "";
	int rc = pvnet_state_record(st, argc, argv, lineno, err, sizeof(err));

	if (rc == 0) {
		report(err_fn, err_arg, file, lineno, "'%.32s%s%.32s' is not a setting%s", argv[0],
		       argc > 1 ? " " : "", argc > 1 ? argv[1] : "",
		       argc > 1 && !strncmp(argv[1], "mirror", 6) ? " (mirrors are not persisted)"
								  : "");
		return 1;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		report(err_fn, err_arg, file, lineno, "%s", err);
		return 1;
	}
	return 0;
}

int pvnet_state_parse(struct pvnet_state *st, const char *file, const char *text, size_t len,
		      pvnet_state_err_fn err_fn, void *err_arg)
{
	char buf[PVNET_STATE_LINE_MAX + 1];
	char *argv[PVNET_STATE_MAX_ARGS];
	bool version_seen = false, refuse_all = false;
	unsigned lineno = 0;
	int errors = 0;
	size_t off = 0;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
		const char *src = text + off;
		int argc, rc;

		off += n + (nl ? 1 : 0);
		lineno++;
		if (n > PVNET_STATE_LINE_MAX) {
			report(err_fn, err_arg, file, lineno, "line longer than %d bytes",
			       PVNET_STATE_LINE_MAX);
			errors++;
			continue;
		}
		if (memchr(src, 0, n)) {
			report(err_fn, err_arg, file, lineno, "NUL byte in the line");
			errors++;
			continue;
		}
		memcpy(buf, src, n);
		buf[n] = 0;
		argc = split_words(buf, argv);
		if (argc == 0)
			continue;
		if (refuse_all) {
			report(err_fn, err_arg, file, lineno, "not read (unsupported version)");
			errors++;
			continue;
		}
		if (argc < 0) {
			report(err_fn, err_arg, file, lineno, "more than %d words",
			       PVNET_STATE_MAX_ARGS);
			errors++;
			continue;
		}
		if (!strcmp(argv[0], "version")) {
			if (version_seen) {
				report(err_fn, err_arg, file, lineno, "a second 'version' line");
				errors++;
			} else if (argc != 2 || strcmp(argv[1], "1")) {
				report_version(err_fn, err_arg, file, lineno, argc, argv);
				errors++;
				refuse_all = true;
			}
			version_seen = true;
			continue;
		}
		if (!version_seen) {
			report(err_fn, err_arg, file, lineno,
			       "no 'version %d' line before the first setting; read as version %d",
			       PVNET_STATE_VERSION, PVNET_STATE_VERSION);
			errors++;
			version_seen = true;
		}
		if (argc >= 2 && !strcmp(argv[0], "switch") &&
		    (!strcmp(argv[1], "del-br") || !strcmp(argv[1], "del-port"))) {
			report(err_fn, err_arg, file, lineno,
			       "'switch %s' is an action, not a setting (delete the lines instead)",
			       argv[1]);
			errors++;
			continue;
		}
		rc = apply_line(st, argc, argv, file, lineno, err_fn, err_arg);
		if (rc == -ENOMEM)
			return rc;
		errors += rc;
	}
	return errors;
}

int pvnet_state_format(const struct pvnet_state *st, char **text, size_t *len)
{
	static const char head[] =
		"# pvnet switch state: written by pvnetd on every change, read at start.\n"
		"# One `pvnet` command per line (see docs/operations.md). Edit only while\n"
		"# pvnetd is stopped; mirrors are not kept.\n";
	size_t size = sizeof(head) + 16, n = 0;
	char *buf;

	for (size_t i = 0; i < st->count; i++)
		for (int a = 0; a < st->items[i]->argc; a++)
			size += strlen(st->items[i]->argv[a]) + 1;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	n = (size_t)snprintf(buf, size, "%sversion %d\n", head, PVNET_STATE_VERSION);
	for (size_t i = 0; i < st->count; i++) {
		for (int a = 0; a < st->items[i]->argc; a++) {
			size_t l = strlen(st->items[i]->argv[a]);
			memcpy(buf + n, st->items[i]->argv[a], l);
			n += l;
			buf[n++] = a + 1 < st->items[i]->argc ? ' ' : '\n';
		}
	}
	buf[n] = 0;
	*text = buf;
	*len = n;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int pvnet_state_save(const struct pvnet_state *st, const char *path)
{
	char tmp[4096], dir[4096];
	const char *slash = strrchr(path, '/');
	char *text = NULL;
	size_t len;
	int fd = -1, rc;

	if (slash && (size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld", dir, slash ? slash + 1 : path,
			     (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	rc = pvnet_state_format(st, &text, &len);
	if (rc)
		return rc;
	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST && attempt == 0)
			unlink(tmp); /* left by a crash of a process with our pid */
		else if (fd < 0)
			break;
	}
	if (fd < 0) {
		rc = -errno;
		goto out_text;
	}
	rc = write_all(fd, text, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		goto out_text;
	}
	/* the rename is durable once the directory is */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			rc = -errno;
		close(fd);
	}
out_text:
	free(text);
	return rc;
}

int pvnet_state_read_file(const char *path, char **text, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	size_t n = 0;
	int fd, rc = 0;

	*text = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out_fd;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = -EINVAL;
		goto out_fd;
	}
	if (sb.st_size > (off_t)PVNET_STATE_FILE_MAX) {
		rc = -EFBIG;
		goto out_fd;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out_fd;
	}
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out_buf;
		}
		if (r == 0)
			break; /* shrank meanwhile: what is there */
		n += (size_t)r;
	}
	buf[n] = 0;
	*text = buf;
	*len = n;
	goto out_fd;
out_buf:
	free(buf);
out_fd:
	close(fd);
	return rc;
}
