/* SPDX-License-Identifier: MIT */
/* The log family of include/pvnet/log.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/log.h>

#define RL_WINDOW_NS 5000000000ull
#define RL_BURST 10

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = 2;
static int log_level = -1;

static const char *const level_names[] = {"ERR", "WARN", "INFO", "DEBUG"};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int pvnet_log_enabled(enum pvnet_log_level level)
{
	int cur = __atomic_load_n(&log_level, __ATOMIC_RELAXED);
	if (cur < 0) {
		const char *env = getenv("PVNET_LOG_LEVEL");
		cur = PVNET_LOG_INFO;
		for (int i = 0; env && i < 4; i++)
			if (!strcasecmp(env, level_names[i]) ||
			    (i == 0 && !strcasecmp(env, "error")) ||
			    (i == 1 && !strcasecmp(env, "warning")))
				cur = i;
		__atomic_store_n(&log_level, cur, __ATOMIC_RELAXED);
	}
	return (int)level <= cur;
}

void pvnet_log_set_level(enum pvnet_log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

int pvnet_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&log_lock);
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

int pvnet_log_ratelimit(struct pvnet_ratelimit *rl)
{
	uint64_t now = now_ns();
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

void pvnet_log(enum pvnet_log_level level, const char *module, const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld %-5s %s: ", tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], module);
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
	pthread_mutex_unlock(&log_lock);
}
