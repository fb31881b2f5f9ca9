/* SPDX-License-Identifier: MIT */
/*
 * pvnet/log.h - one log family for every module, with a module tag.
 *
 *   PVLOG(ERR, "gnttab", "bad ref %u from dom%u", ref, dom);
 *   PVLOG_RL(WARN, "netback", "...")   rate limited: at most 10 lines per 5 s per call site
 *
 * Output goes to stderr, or to the file given to pvnet_log_open(). Thread-safe.
 * Level names: ERR, WARN, INFO, DEBUG. The threshold comes from pvnet_log_set_level()
 * or the PVNET_LOG_LEVEL environment variable (err|warn|info|debug), default info.
 */
#ifndef PVNET_LOG_H
#define PVNET_LOG_H

#include <stdint.h>

enum pvnet_log_level { PVNET_LOG_ERR = 0, PVNET_LOG_WARN, PVNET_LOG_INFO, PVNET_LOG_DEBUG };

struct pvnet_ratelimit {
	uint64_t window_start_ns;
	uint32_t printed;
	uint32_t suppressed;
};

void pvnet_log(enum pvnet_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Returns 1 if a rate-limited message may be printed now. */
int pvnet_log_ratelimit(struct pvnet_ratelimit *rl);
/* Appends to `path` from now on; 0 or -errno. */
int pvnet_log_open(const char *path);
void pvnet_log_set_level(enum pvnet_log_level level);
int pvnet_log_enabled(enum pvnet_log_level level);

#define PVLOG(lvl, mod, ...)                                                             \
	do {                                                                             \
		if (pvnet_log_enabled(PVNET_LOG_##lvl))                                  \
			pvnet_log(PVNET_LOG_##lvl, (mod), __VA_ARGS__);                  \
	} while (0)

#define PVLOG_RL(lvl, mod, ...)                                                          \
	do {                                                                             \
		static struct pvnet_ratelimit __rl;                                      \
		if (pvnet_log_enabled(PVNET_LOG_##lvl) && pvnet_log_ratelimit(&__rl))    \
			pvnet_log(PVNET_LOG_##lvl, (mod), __VA_ARGS__);                  \
	} while (0)

#endif /* PVNET_LOG_H */
