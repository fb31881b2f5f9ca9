/* SPDX-License-Identifier: MIT */
/* The log family of include/pvnet/log.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>

#define RL_WINDOW_NS 5000000000ull
#define RL_BURST 10

/* log_lock orders writes of lines and every change of the destination or levels */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = 2;
static char log_path[PATH_MAX]; /* "" while logging to stderr */
static int log_tee;

/* Thresholds, read without the lock: default_level (-1 until first used), each
 * module's (names are written before mod_count publishes them, release/acquire),
 * and max_level, the highest of all (the cheap first check). */
static int default_level = -1;
static int max_level = -1;
static char mod_names[PVNET_LOG_MAX_MODULES][PVNET_LOG_MODULE_MAX + 1];
static int mod_levels[PVNET_LOG_MAX_MODULES];
static unsigned mod_count;

static const char *const level_names[] = {"ERR", "WARN", "INFO", "DEBUG"};

int pvnet_log_level_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(name, level_names[i]))
			return i;
	if (!strcasecmp(name, "error"))
		return PVNET_LOG_ERR;
	if (!strcasecmp(name, "warning"))
		return PVNET_LOG_WARN;
	return -EINVAL;
}

const char *pvnet_log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

/* max_level from the default and every module's; caller holds log_lock */
static void recompute_max(void)
{
	int m = __atomic_load_n(&default_level, __ATOMIC_RELAXED);
	unsigned n = __atomic_load_n(&mod_count, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++) {
		int l = __atomic_load_n(&mod_levels[i], __ATOMIC_RELAXED);
		if (l > m)
			m = l;
	}
	__atomic_store_n(&max_level, m, __ATOMIC_RELAXED);
}

static int get_default_level(void)
{
	int cur = __atomic_load_n(&default_level, __ATOMIC_RELAXED);

	if (cur < 0) {
		int env = pvnet_log_level_parse(getenv("PVNET_LOG_LEVEL"));
		pthread_mutex_lock(&log_lock);
		cur = __atomic_load_n(&default_level, __ATOMIC_RELAXED);
		if (cur < 0) {
			cur = env < 0 ? PVNET_LOG_INFO : env;
			__atomic_store_n(&default_level, cur, __ATOMIC_RELAXED);
			recompute_max();
		}
		pthread_mutex_unlock(&log_lock);
	}
	return cur;
}

int pvnet_log_enabled(enum pvnet_log_level level)
{
	if (__atomic_load_n(&max_level, __ATOMIC_RELAXED) < 0)
		get_default_level();
	return (int)level <= __atomic_load_n(&max_level, __ATOMIC_RELAXED);
}

int pvnet_log_module_enabled(enum pvnet_log_level level, const char *module)
{
	unsigned n;

	if (!pvnet_log_enabled(level))
		return 0;
	n = __atomic_load_n(&mod_count, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; module && i < n; i++)
		if (!strcmp(mod_names[i], module))
			return (int)level <= __atomic_load_n(&mod_levels[i], __ATOMIC_RELAXED);
	return (int)level <= get_default_level();
}

void pvnet_log_set_level(enum pvnet_log_level level)
{
	pthread_mutex_lock(&log_lock);
	__atomic_store_n(&default_level, (int)level, __ATOMIC_RELAXED);
	recompute_max();
	pthread_mutex_unlock(&log_lock);
}

int pvnet_log_set_module_level(const char *module, enum pvnet_log_level level)
{
	size_t len = module ? strlen(module) : 0;
	unsigned n;
	int rc = -ENOSPC;

	if (len == 0 || len > PVNET_LOG_MODULE_MAX || (int)level < 0 || level > PVNET_LOG_DEBUG)
		return -EINVAL;
	get_default_level();
	pthread_mutex_lock(&log_lock);
	n = __atomic_load_n(&mod_count, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(mod_names[i], module)) {
			__atomic_store_n(&mod_levels[i], (int)level, __ATOMIC_RELAXED);
			rc = 0;
			goto out;
		}
	}
	if (n < PVNET_LOG_MAX_MODULES) {
		memcpy(mod_names[n], module, len + 1);
		__atomic_store_n(&mod_levels[n], (int)level, __ATOMIC_RELAXED);
		__atomic_store_n(&mod_count, n + 1, __ATOMIC_RELEASE); /* publishes the name */
		rc = 0;
	}
out:
	recompute_max();
	pthread_mutex_unlock(&log_lock);
	return rc;
}

size_t pvnet_log_format_levels(char *buf, size_t size)
{
	unsigned n = __atomic_load_n(&mod_count, __ATOMIC_ACQUIRE);
	size_t len = 0;
	int w;

	if (!size)
		return 0;
	buf[0] = 0;
	w = snprintf(buf, size, "default %s\n", level_names[get_default_level()]);
	for (unsigned i = 0; w >= 0 && i < n; i++) {
		len += (size_t)w;
		if (len >= size)
			break;
		w = snprintf(buf + len, size - len, "%s %s\n", mod_names[i],
			     level_names[__atomic_load_n(&mod_levels[i], __ATOMIC_RELAXED)]);
	}
	if (w > 0 && len < size)
		len += (size_t)w;
	return len >= size ? size - 1 : len;
}

static int open_log_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	return fd < 0 ? -errno : fd;
}

int pvnet_log_open(const char *path)
{
	int fd;

	if (strlen(path) >= sizeof(log_path))
		return -ENAMETOOLONG;
	fd = open_log_file(path);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&log_lock);
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	snprintf(log_path, sizeof(log_path), "%s", path);
	pthread_mutex_unlock(&log_lock);
	return 0;
}

int pvnet_log_reopen(void)
{
	char path[PATH_MAX];
	int fd;

	pthread_mutex_lock(&log_lock);
	snprintf(path, sizeof(path), "%s", log_path);
	pthread_mutex_unlock(&log_lock);
	if (!path[0])
		return 0;
	fd = open_log_file(path);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&log_lock);
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void pvnet_log_set_tee_stderr(int on)
{
	pthread_mutex_lock(&log_lock);
	log_tee = on;
	pthread_mutex_unlock(&log_lock);
}

int pvnet_log_ratelimit(struct pvnet_ratelimit *rl)
{
	uint64_t now = pvnet_now_ns();
	int ok;

	pthread_mutex_lock(&log_lock);
	if (now - rl->window_start_ns > RL_WINDOW_NS) {
		if (rl->suppressed) {
			char buf[96];
			int n = snprintf(buf, sizeof(buf), "log: %u messages suppressed\n",
					 rl->suppressed);
			if (write(log_fd, buf, (size_t)n) < 0) {
				/* nowhere left to report it */
			}
		}
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	ok = rl->printed < RL_BURST;
	if (ok)
		rl->printed++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&log_lock);
	return ok;
}

size_t pvnet_log_format_stamp(char *buf, size_t size, const struct timespec *ts)
{
	struct tm tm;
	long off, ms = ts->tv_nsec / 1000000;
	char sign = '+';
	int n;

	if (!localtime_r(&ts->tv_sec, &tm))
		return 0;
	off = tm.tm_gmtoff / 60; /* minutes east of UTC */
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld%c%02ld:%02ld",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ms, sign, off / 60, off % 60);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

void pvnet_log(enum pvnet_log_level level, const char *module, const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	va_list ap;
	size_t st;
	int n;

	if (!pvnet_log_module_enabled(level, module))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	st = pvnet_log_format_stamp(buf, sizeof(buf), &ts);
	n = snprintf(buf + st, sizeof(buf) - st, " %-5s %s: ", pvnet_log_level_name((int)level),
		     module ? module : "-");
	if (n >= 0)
		n += (int)st;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(buf))
		n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	pthread_mutex_lock(&log_lock);
	if (write(log_fd, buf, (size_t)n) < 0) {
		/* logging must never fail the caller */
	}
	if (log_tee && level <= PVNET_LOG_WARN && log_fd != 2 && write(2, buf, (size_t)n) < 0) {
		/* nor may the caller's stderr */
	}
	pthread_mutex_unlock(&log_lock);
}
