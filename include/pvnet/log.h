/* SPDX-License-Identifier: MIT */
/*
 * pvnet/log.h - one log family for every module, with a module tag.
 *
 *   PVLOG(ERR, "gnttab", "bad ref %u from dom%u", ref, dom);
 *   PVLOG_RL(WARN, "netback", "...")   rate limited: at most 10 lines per 5 s per call site
 *
 * Output goes to stderr, or to the file given to pvnet_log_open(). Thread-safe.
 * A line is
 *   2026-12-08T00:31:05.123+00:00 INFO  pvnetd: text
 * (ISO 8601 local time, milliseconds, zone offset), then the level and the module.
 *
 * Levels: ERR, WARN, INFO, DEBUG. The default threshold comes from
 * pvnet_log_set_level() or the PVNET_LOG_LEVEL environment variable
 * (err|warn|info|debug), default info; a module may have its own threshold
 * (pvnet_log_set_module_level(), `pvnet log-level MODULE LEVEL` at run time).
 */
#ifndef PVNET_LOG_H
#define PVNET_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum pvnet_log_level { PVNET_LOG_ERR = 0, PVNET_LOG_WARN, PVNET_LOG_INFO, PVNET_LOG_DEBUG };

/* Modules that may have a threshold of their own; a module name is at most 31 bytes. */
#define PVNET_LOG_MAX_MODULES 32
#define PVNET_LOG_MODULE_MAX 31

struct pvnet_ratelimit {
	uint64_t window_start_ns;
	uint32_t printed;
	uint32_t suppressed;
};

/* Writes one line if `level` is enabled for `module` (its own threshold, else the default). */
void pvnet_log(enum pvnet_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Returns 1 if a rate-limited message may be printed now. */
int pvnet_log_ratelimit(struct pvnet_ratelimit *rl);
/*
 * Appends to `path` from now on (created 0640; a symbolic link is refused with
 * -ELOOP, never followed); the path is kept for pvnet_log_reopen(). 0 or -errno,
 * and on error the previous destination stays.
 */
int pvnet_log_open(const char *path);
/*
 * Reopens the file of the last successful pvnet_log_open() (logrotate's SIGHUP
 * convention: the old file was renamed away, a new one is created). 0 also when
 * logging to stderr (nothing to reopen); -errno, keeping the old file, on error.
 */
int pvnet_log_reopen(void);
/* 1: ERR and WARN lines also go to stderr while the log is a file (start-up). */
void pvnet_log_set_tee_stderr(int on);
/* Sets the default threshold (modules with their own keep theirs). */
void pvnet_log_set_level(enum pvnet_log_level level);
/*
 * Sets `module`'s own threshold. 0, -EINVAL (empty or longer than
 * PVNET_LOG_MODULE_MAX), -ENOSPC (PVNET_LOG_MAX_MODULES modules already have one).
 */
int pvnet_log_set_module_level(const char *module, enum pvnet_log_level level);
/* 1 if `level` is enabled for some module (cheap; the PVLOG macros' first check). */
int pvnet_log_enabled(enum pvnet_log_level level);
/* 1 if `level` is enabled for `module`. */
int pvnet_log_module_enabled(enum pvnet_log_level level, const char *module);
/* "err"/"error", "warn"/"warning", "info", "debug" (any case) -> level, else -EINVAL. */
int pvnet_log_level_parse(const char *name);
/* "ERR", "WARN", "INFO", "DEBUG"; "?" out of range. */
const char *pvnet_log_level_name(int level);
/*
 * Formats the thresholds as text lines "default info\n" then "MODULE LEVEL\n" per
 * module with its own; returns the length (truncated to size - 1).
 */
size_t pvnet_log_format_levels(char *buf, size_t size);
/*
 * Formats `ts` (CLOCK_REALTIME) as ISO 8601 local time with milliseconds and the
 * zone offset, "2026-12-08T01:31:05.123+01:00"; returns the length (29), 0 if
 * `size` is too small. Pure apart from the time zone (TZ).
 */
size_t pvnet_log_format_stamp(char *buf, size_t size, const struct timespec *ts);

#define PVLOG(lvl, mod, ...)                                                                       \
	do {                                                                                       \
		if (pvnet_log_enabled(PVNET_LOG_##lvl))                                            \
			pvnet_log(PVNET_LOG_##lvl, (mod), __VA_ARGS__);                            \
	} while (0)

#define PVLOG_RL(lvl, mod, ...)                                                                    \
	do {                                                                                       \
		static struct pvnet_ratelimit __rl;                                                \
		if (pvnet_log_module_enabled(PVNET_LOG_##lvl, (mod)) &&                            \
		    pvnet_log_ratelimit(&__rl))                                                    \
			pvnet_log(PVNET_LOG_##lvl, (mod), __VA_ARGS__);                            \
	} while (0)

#endif /* PVNET_LOG_H */
