/* Unit tests for the log family (include/pvnet/log.h): ISO 8601 stamps, the level
 * table, per-module thresholds, the file destination and its reopening. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/log.h>

static void stamp_in(const char *tz, time_t sec, long nsec, const char *want)
{
	struct timespec ts = {.tv_sec = sec, .tv_nsec = nsec};
	char buf[64];

	setenv("TZ", tz, 1);
	tzset();
	assert_int_equal(pvnet_log_format_stamp(buf, sizeof(buf), &ts), strlen(want));
	assert_string_equal(buf, want);
}

static void test_stamp_iso8601(void **state)
{
	(void)state;
	/* 1765154000 = 2025-12-08 00:33:20 UTC */
	stamp_in("UTC0", 1765154000, 123456789, "2025-12-08T00:33:20.123+00:00");
	/* POSIX TZ signs are west-positive: EST5 is UTC-5, IST-5:30 is UTC+5:30 */
	stamp_in("EST5", 1765154000, 0, "2025-12-07T19:33:20.000-05:00");
	stamp_in("IST-5:30", 1765154000, 999999999, "2025-12-08T06:03:20.999+05:30");
	stamp_in("NPT-5:45", 0, 1000000, "1970-01-01T05:45:00.001+05:45");
	setenv("TZ", "UTC0", 1);
	tzset();
}

static void test_stamp_small_buffer(void **state)
{
	struct timespec ts = {.tv_sec = 1765154000};
	char buf[30];

	(void)state;
	setenv("TZ", "UTC0", 1);
	tzset();
	assert_int_equal(pvnet_log_format_stamp(buf, 29, &ts), 0); /* 29 + NUL needed */
	assert_int_equal(pvnet_log_format_stamp(buf, 30, &ts), 29);
}

static void test_level_table(void **state)
{
	(void)state;
	assert_int_equal(pvnet_log_level_parse("err"), PVNET_LOG_ERR);
	assert_int_equal(pvnet_log_level_parse("ERROR"), PVNET_LOG_ERR);
	assert_int_equal(pvnet_log_level_parse("warn"), PVNET_LOG_WARN);
	assert_int_equal(pvnet_log_level_parse("Warning"), PVNET_LOG_WARN);
	assert_int_equal(pvnet_log_level_parse("info"), PVNET_LOG_INFO);
	assert_int_equal(pvnet_log_level_parse("DEBUG"), PVNET_LOG_DEBUG);
	assert_int_equal(pvnet_log_level_parse("loud"), -EINVAL);
	assert_int_equal(pvnet_log_level_parse(""), -EINVAL);
	assert_int_equal(pvnet_log_level_parse(NULL), -EINVAL);
	assert_string_equal(pvnet_log_level_name(PVNET_LOG_ERR), "ERR");
	assert_string_equal(pvnet_log_level_name(PVNET_LOG_DEBUG), "DEBUG");
	assert_string_equal(pvnet_log_level_name(4), "?");
	assert_string_equal(pvnet_log_level_name(-1), "?");
}

static void test_module_levels(void **state)
{
	char buf[256];

	(void)state;
	pvnet_log_set_level(PVNET_LOG_INFO);
	assert_false(pvnet_log_enabled(PVNET_LOG_DEBUG));
	assert_true(pvnet_log_module_enabled(PVNET_LOG_INFO, "netback"));
	assert_false(pvnet_log_module_enabled(PVNET_LOG_DEBUG, "netback"));

	assert_int_equal(pvnet_log_set_module_level("netback", PVNET_LOG_DEBUG), 0);
	assert_true(pvnet_log_enabled(PVNET_LOG_DEBUG)); /* some module wants DEBUG */
	assert_true(pvnet_log_module_enabled(PVNET_LOG_DEBUG, "netback"));
	assert_false(pvnet_log_module_enabled(PVNET_LOG_DEBUG, "vswitch"));
	assert_false(pvnet_log_module_enabled(PVNET_LOG_DEBUG, NULL));

	assert_int_equal(pvnet_log_set_module_level("ctl", PVNET_LOG_ERR), 0);
	assert_false(pvnet_log_module_enabled(PVNET_LOG_WARN, "ctl"));
	assert_true(pvnet_log_module_enabled(PVNET_LOG_ERR, "ctl"));
	/* the default moves, a module's own level stays */
	pvnet_log_set_level(PVNET_LOG_WARN);
	assert_false(pvnet_log_module_enabled(PVNET_LOG_INFO, "vswitch"));
	assert_true(pvnet_log_module_enabled(PVNET_LOG_DEBUG, "netback"));

	pvnet_log_format_levels(buf, sizeof(buf));
	assert_string_equal(buf, "default WARN\nnetback DEBUG\nctl ERR\n");
	/* truncation keeps a terminated string */
	assert_int_equal(pvnet_log_format_levels(buf, 10), 9);
	assert_int_equal(strlen(buf), 9);

	/* lowering netback lowers the cheap global check too */
	assert_int_equal(pvnet_log_set_module_level("netback", PVNET_LOG_INFO), 0);
	assert_false(pvnet_log_enabled(PVNET_LOG_DEBUG));
	pvnet_log_set_level(PVNET_LOG_INFO);
}

static void test_module_limits(void **state)
{
	char name[40];

	(void)state;
	assert_int_equal(pvnet_log_set_module_level("", PVNET_LOG_INFO), -EINVAL);
	assert_int_equal(pvnet_log_set_module_level(NULL, PVNET_LOG_INFO), -EINVAL);
	memset(name, 'm', 32);
	name[32] = 0; /* 32 bytes: one too long */
	assert_int_equal(pvnet_log_set_module_level(name, PVNET_LOG_INFO), -EINVAL);
	name[31] = 0;
	assert_int_equal(pvnet_log_set_module_level(name, PVNET_LOG_INFO), 0);
	assert_int_equal(pvnet_log_set_module_level("x", (enum pvnet_log_level)7), -EINVAL);
	/* fill the table (netback, ctl and the 31-byte name are in it already) */
	for (int i = 0; i < PVNET_LOG_MAX_MODULES - 3; i++) {
		snprintf(name, sizeof(name), "mod%d", i);
		assert_int_equal(pvnet_log_set_module_level(name, PVNET_LOG_INFO), 0);
	}
	assert_int_equal(pvnet_log_set_module_level("one-more", PVNET_LOG_INFO), -ENOSPC);
	/* a module already in the table can still change */
	assert_int_equal(pvnet_log_set_module_level("ctl", PVNET_LOG_DEBUG), 0);
	assert_true(pvnet_log_module_enabled(PVNET_LOG_DEBUG, "ctl"));
}

static char *slurp(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

static void test_open_reopen_nofollow(void **state)
{
	char dir[] = "/tmp/pvnet-test-log.XXXXXX", path[128], rot[128], link[128], victim[128];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pvnetd.log", dir);
	snprintf(rot, sizeof(rot), "%s/pvnetd.log.1", dir);
	snprintf(link, sizeof(link), "%s/link.log", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);

	assert_int_equal(pvnet_log_open(path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640 & ~umask(umask(0)));
	pvnet_log(PVNET_LOG_WARN, "unit", "first %d", 1);
	assert_non_null(strstr(slurp(path), " WARN  unit: first 1\n"));
	/* the line starts with the stamp: YYYY-MM-DDThh:mm:ss.mmm+hh:mm */
	assert_int_equal(slurp(path)[10], 'T');

	/* a symbolic link is refused, the old destination stays */
	assert_int_equal(close(open(victim, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(pvnet_log_open(link), -ELOOP);
	pvnet_log(PVNET_LOG_WARN, "unit", "second");
	assert_non_null(strstr(slurp(path), "unit: second\n"));
	assert_string_equal(slurp(victim), "");

	/* logrotate: rename, then reopen creates the file again */
	assert_int_equal(rename(path, rot), 0);
	assert_int_equal(pvnet_log_reopen(), 0);
	pvnet_log(PVNET_LOG_WARN, "unit", "third");
	assert_non_null(strstr(slurp(path), "unit: third\n"));
	assert_null(strstr(slurp(rot), "third"));
	/* filtered lines are not written */
	assert_int_equal(pvnet_log_set_module_level("ctl", PVNET_LOG_ERR), 0);
	pvnet_log(PVNET_LOG_WARN, "ctl", "hidden");
	assert_null(strstr(slurp(path), "hidden"));

	unlink(path);
	unlink(rot);
	unlink(link);
	unlink(victim);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stamp_iso8601), cmocka_unit_test(test_stamp_small_buffer),
		cmocka_unit_test(test_level_table),   cmocka_unit_test(test_module_levels),
		cmocka_unit_test(test_module_limits), cmocka_unit_test(test_open_reopen_nofollow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
