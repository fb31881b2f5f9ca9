/* Unit tests for the persistent switch configuration (include/pvnet/state.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvnet/state.h>

#define HEAD_VERSION "version 1\n"

/* Errors reported by the parser, one per line. */
static char errs[8192];
static unsigned n_errs;

static void on_err(void *arg, unsigned line, const char *msg)
{
	size_t n = strlen(errs);

	(void)arg;
	(void)line;
	snprintf(errs + n, sizeof(errs) - n, "%s\n", msg);
	n_errs++;
}

/* The settings of st, one a line, without the header comments. */
static char *body(struct pvnet_state *st)
{
	static char out[16384];
	char *text;
	size_t len;
	const char *v;

	assert_int_equal(pvnet_state_format(st, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	v = strstr(text, HEAD_VERSION);
	assert_non_null(v);
	snprintf(out, sizeof(out), "%s", v + strlen(HEAD_VERSION));
	free(text);
	return out;
}

static int rec(struct pvnet_state *st, const char *line)
{
	char buf[1024], *argv[64], *save = NULL, err[256] = "";
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	return pvnet_state_record(st, argc, argv, 0, err, sizeof(err));
}

static struct pvnet_state *parse(const char *text, int *bad)
{
	struct pvnet_state *st;

	errs[0] = 0;
	n_errs = 0;
	assert_int_equal(pvnet_state_create(&st), 0);
	*bad = pvnet_state_parse(st, "s.conf", text, strlen(text), on_err, NULL);
	return st;
}

static void test_canonical_order(void **unused)
{
	struct pvnet_state *st;

	(void)unused;
	assert_int_equal(pvnet_state_create(&st), 0);
	/* settings of a port recorded before the port: the file still replays */
	assert_int_equal(rec(st, "switch set-vlan u1 10"), 1);
	assert_int_equal(rec(st, "vif-set-rate 3/0 10Mb/s@50ms"), 1);
	assert_int_equal(rec(st, "switch add-port br0 u1 --type afpacket"), 1);
	assert_int_equal(rec(st, "switch set-ageing br0 30"), 1);
	assert_int_equal(rec(st, "switch add-br br1"), 1);
	assert_int_equal(rec(st, "switch set-mac-limit u1 64"), 1);
	assert_int_equal(rec(st, "switch set-mac-limit --bridge br1 100"), 1);
	assert_int_equal(rec(st, "switch set-mac-limit --bridge br0 200"), 1);
	assert_int_equal(rec(st, "switch set-mac-limit --bridge br1 300"), 1);
	assert_int_equal(rec(st, "switch set-mac-limit --bridge br1"), -EINVAL);
	assert_int_equal(rec(st, "switch set-antispoof u1 --mac 00:16:3e:00:00:01"), 1);
	assert_string_equal(body(st), "switch add-br br0\n"
				      "switch add-br br1\n"
				      "switch set-ageing br0 30\n"
				      "switch set-mac-limit --bridge br1 300\n"
				      "switch set-mac-limit --bridge br0 200\n"
				      "switch add-port br0 u1 --type afpacket\n"
				      "switch set-vlan u1 10\n"
				      "switch set-antispoof u1 --mac 00:16:3e:00:00:01\n"
				      "switch set-mac-limit u1 64\n"
				      "vif-set-rate vif3.0 10Mb/s@50ms\n");
	/* set-trunk replaces set-vlan of the same port, in its place */
	assert_int_equal(rec(st, "switch set-vlan u2 7"), 1);
	assert_int_equal(rec(st, "switch set-trunk u1 10,20,native=5"), 1);
	assert_int_equal(rec(st, "vif-set-rate vif3.0 off"), 1);
	assert_string_equal(body(st), "switch add-br br0\n"
				      "switch add-br br1\n"
				      "switch set-ageing br0 30\n"
				      "switch set-mac-limit --bridge br1 300\n"
				      "switch set-mac-limit --bridge br0 200\n"
				      "switch add-port br0 u1 --type afpacket\n"
				      "switch set-trunk u1 10,20,native=5\n"
				      "switch set-vlan u2 7\n"
				      "switch set-antispoof u1 --mac 00:16:3e:00:00:01\n"
				      "switch set-mac-limit u1 64\n"
				      "vif-set-rate vif3.0 off\n");
	assert_int_equal(pvnet_state_count(st), 11);
	pvnet_state_destroy(st);
}

static void test_not_settings(void **unused)
{
	struct pvnet_state *st;

	(void)unused;
	assert_int_equal(pvnet_state_create(&st), 0);
	assert_int_equal(rec(st, "switch port-show u1"), 0);
	assert_int_equal(rec(st, "switch mirror u1 /tmp/x.pcap"), 0);
	assert_int_equal(rec(st, "switch show"), 0);
	assert_int_equal(rec(st, "list"), 0);
	assert_int_equal(rec(st, "switch"), 0);
	assert_int_equal(pvnet_state_count(st), 0);
	pvnet_state_destroy(st);
}

static void test_delete_cascades(void **unused)
{
	struct pvnet_state *st;

	(void)unused;
	assert_int_equal(pvnet_state_create(&st), 0);
	rec(st, "switch add-br br0");
	rec(st, "switch add-br br1");
	rec(st, "switch set-ageing br0 30");
	rec(st, "switch set-mac-limit --bridge br0 30");
	rec(st, "switch add-port br0 u1");
	rec(st, "switch add-port br0 u2");
	rec(st, "switch add-port br1 u3");
	rec(st, "switch set-vlan u1 10");
	rec(st, "switch set-vlan u3 10");
	rec(st, "switch set-antispoof u2 --off");
	rec(st, "switch set-mac-limit u1 9");
	rec(st, "switch set-vlan vif1.0 4");
	assert_int_equal(rec(st, "switch del-port br0 u1"), 1);
	assert_string_equal(body(st), "switch add-br br0\n"
				      "switch add-br br1\n"
				      "switch set-ageing br0 30\n"
				      "switch set-mac-limit --bridge br0 30\n"
				      "switch add-port br0 u2\n"
				      "switch add-port br1 u3\n"
				      "switch set-vlan u3 10\n"
				      "switch set-vlan vif1.0 4\n"
				      "switch set-antispoof u2 --off\n");
	assert_int_equal(rec(st, "switch del-br br0"), 1);
	assert_string_equal(body(st), "switch add-br br1\n"
				      "switch add-port br1 u3\n"
				      "switch set-vlan u3 10\n"
				      "switch set-vlan vif1.0 4\n");
	/* deleting what is not there changes nothing */
	assert_int_equal(rec(st, "switch del-br nosuch"), 1);
	assert_int_equal(pvnet_state_count(st), 4);
	pvnet_state_destroy(st);
}

static void test_record_refuses(void **unused)
{
	struct pvnet_state *st;
	char err[256];
	char *bad_tok[] = {"switch", "add-br", "b r"};
	char *ctl[] = {"switch", "set-vlan", "u1", "1\x01"};

	(void)unused;
	assert_int_equal(pvnet_state_create(&st), 0);
	assert_int_equal(rec(st, "switch add-br"), -EINVAL);
	assert_int_equal(rec(st, "switch add-br a b"), -EINVAL);
	assert_int_equal(rec(st, "switch set-vlan u1"), -EINVAL);
	assert_int_equal(rec(st, "switch add-port br0 vif3.0"), -EINVAL);
	assert_int_equal(rec(st, "switch add-port br0 a/b"), -EINVAL);
	assert_int_equal(rec(st, "switch add-br 0123456789012345678901234567890123"), -EINVAL);
	assert_int_equal(rec(st, "vif-set-rate vif0.1 1Mb/s"), -EINVAL);
	assert_int_equal(rec(st, "vif-set-rate 3/256 1Mb/s"), -EINVAL);
	assert_int_equal(rec(st, "vif-set-rate 03/1 1Mb/s"), -EINVAL);
	assert_int_equal(pvnet_state_record(st, 3, bad_tok, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(pvnet_state_record(st, 4, ctl, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "printable"));
	assert_int_equal(pvnet_state_count(st), 0);
	pvnet_state_destroy(st);
}

static void test_vif_name(void **unused)
{
	unsigned d = 0, n = 0;

	(void)unused;
	assert_int_equal(pvnet_state_vif_name("vif3.0", &d, &n), 0);
	assert_int_equal(d, 3);
	assert_int_equal(n, 0);
	assert_int_equal(pvnet_state_vif_name("vif65535.255", &d, &n), 0);
	assert_int_equal(pvnet_state_vif_name("vif65536.0", NULL, NULL), -EINVAL);
	assert_int_equal(pvnet_state_vif_name("vif0.0", NULL, NULL), -EINVAL);
	assert_int_equal(pvnet_state_vif_name("vif1.", NULL, NULL), -EINVAL);
	assert_int_equal(pvnet_state_vif_name("vif1.01", NULL, NULL), -EINVAL);
	assert_int_equal(pvnet_state_vif_name("vif1.0x", NULL, NULL), -EINVAL);
	assert_int_equal(pvnet_state_vif_name("vif-1.0", NULL, NULL), -EINVAL);
	assert_true(pvnet_state_name_ok("br-0.x_y"));
	assert_false(pvnet_state_name_ok(""));
	assert_false(pvnet_state_name_ok("br 0"));
	assert_true(pvnet_state_name_ok("0123456789012345678901234567890"));
	assert_false(pvnet_state_name_ok("01234567890123456789012345678901"));
}

static void test_parse_good(void **unused)
{
	struct pvnet_state *st;
	struct pvnet_state_entry *e;
	int bad;

	(void)unused;
	st = parse("# a comment\n"
		   "\n"
		   "   version 1\r\n"
		   "  # indented comment\n"
		   "switch add-port\tbr0 u1   --type tap\r\n"
		   "switch set-vlan u1 5\n"
		   "vif-set-rate 2/1 5Mb/s", /* no final newline */
		   &bad);
	assert_int_equal(bad, 0);
	assert_string_equal(errs, "");
	assert_string_equal(body(st), "switch add-br br0\n"
				      "switch add-port br0 u1 --type tap\n"
				      "switch set-vlan u1 5\n"
				      "vif-set-rate vif2.1 5Mb/s\n");
	e = pvnet_state_get(st, 1);
	assert_int_equal(e->kind, PVNET_STATE_PORT);
	assert_int_equal(e->line, 5);
	assert_string_equal(e->key, "u1");
	assert_string_equal(e->bridge, "br0");
	assert_int_equal(e->argc, 6);
	assert_null(e->argv[6]);
	e = pvnet_state_get(st, 0);
	assert_int_equal(e->line, 5); /* implied by the add-port */
	assert_null(pvnet_state_get(st, 4));
	assert_int_equal(pvnet_state_remove(st, 4), -ENOENT);
	assert_int_equal(pvnet_state_remove(st, 0), 0);
	assert_int_equal(pvnet_state_count(st), 3);
	pvnet_state_destroy(st);
}

static void test_parse_errors_name_lines(void **unused)
{
	struct pvnet_state *st;
	char longline[1100];
	char text[4096];
	int bad;

	(void)unused;
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	snprintf(text, sizeof(text),
		 "version 1\n"                    /* 1 */
		 "switch add-br br0\n"            /* 2 */
		 "switch frobnicate br0\n"        /* 3 */
		 "switch mirror u1 /tmp/a.pcap\n" /* 4 */
		 "switch del-br br0\n"            /* 5 */
		 "switch set-vlan\n"              /* 6 */
		 "switch add-port br0 vif1.0\n"   /* 7 */
		 "%s\n"                           /* 8 */
		 "version 1\n"                    /* 9 */
		 "switch add-br b\xc3\xa9\n"      /* 10 */
		 "switch add-port br0 u9\n",      /* 11 */
		 longline);
	st = parse(text, &bad);
	assert_int_equal(bad, 8);
	assert_int_equal(n_errs, 8);
	assert_non_null(strstr(errs, "s.conf:3: 'switch frobnicate' is not a setting\n"));
	assert_non_null(strstr(
		errs, "s.conf:4: 'switch mirror' is not a setting (mirrors are not persisted)\n"));
	assert_non_null(strstr(errs, "s.conf:5: 'switch del-br' is an action"));
	assert_non_null(strstr(errs, "s.conf:6: 'set-vlan': wrong number of arguments\n"));
	assert_non_null(strstr(errs, "s.conf:7: 'vif1.0' is a guest vif's name"));
	assert_non_null(strstr(errs, "s.conf:8: line longer than 1024 bytes\n"));
	assert_non_null(strstr(errs, "s.conf:9: a second 'version' line\n"));
	assert_non_null(strstr(errs, "s.conf:10: argument 2 is not"));
	/* the good lines are all there */
	assert_string_equal(body(st), "switch add-br br0\nswitch add-port br0 u9\n");
	pvnet_state_destroy(st);
}

static void test_parse_version(void **unused)
{
	struct pvnet_state *st;
	int bad;

	(void)unused;
	/* no version line: read as version 1, one error */
	st = parse("switch add-br br0\n", &bad);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(errs, "s.conf:1: no 'version 1' line"));
	assert_int_equal(pvnet_state_count(st), 1);
	pvnet_state_destroy(st);
	/* a version from the future: nothing applied, every line reported */
	st = parse("# x\nversion 2\nswitch add-br br0\n\nswitch add-br br1\n", &bad);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(errs, "s.conf:2: unsupported 'version 2'"));
	assert_non_null(strstr(errs, "s.conf:3: not read (unsupported version)"));
	assert_non_null(strstr(errs, "s.conf:5: not read"));
	assert_int_equal(pvnet_state_count(st), 0);
	pvnet_state_destroy(st);
	st = parse("version\nswitch add-br br0\n", &bad);
	assert_int_equal(bad, 2);
	assert_int_equal(pvnet_state_count(st), 0);
	pvnet_state_destroy(st);
	/* empty and comment-only files are fine */
	st = parse("", &bad);
	assert_int_equal(bad, 0);
	pvnet_state_destroy(st);
	st = parse("# nothing\n\n", &bad);
	assert_int_equal(bad, 0);
	pvnet_state_destroy(st);
}

static void test_parse_binary(void **unused)
{
	static const char text[] = "version 1\nswitch add-br a\0b\nswitch add-br br2\n";
	struct pvnet_state *st;
	char many[4096] = "version 1\nswitch add-port br0 u1";
	int bad;

	(void)unused;
	errs[0] = 0;
	n_errs = 0;
	assert_int_equal(pvnet_state_create(&st), 0);
	bad = pvnet_state_parse(st, "s.conf", text, sizeof(text) - 1, on_err, NULL);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(errs, "s.conf:2: NUL byte"));
	assert_string_equal(body(st), "switch add-br br2\n");
	pvnet_state_destroy(st);
	for (int i = 0; i < 70; i++)
		strcat(many, " x");
	strcat(many, "\n");
	st = parse(many, &bad);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(errs, "s.conf:2: more than 64 words"));
	pvnet_state_destroy(st);
}

static void test_round_trip(void **unused)
{
	struct pvnet_state *a, *b;
	char *text, *text2;
	size_t len, len2;
	int bad;

	(void)unused;
	a = parse(
		"version 1\n"
		"switch set-trunk veth0 10,20,native=5\n"
		"switch add-port br0 veth0\n"
		"switch add-port br0 vx0 --type vxlan --vni 42 --remote 10.1.0.2 --local 10.1.0.1\n"
		"switch set-antispoof vx0 --mac 00:16:3e:00:00:01 --ip 10.0.0.1 --ip fd00::1\n"
		"switch set-ageing br0 120\n"
		"switch set-mac-limit veth0 64\n"
		"switch set-mac-limit --bridge br0 64\n"
		"vif-set-rate vif3.0 10Mb/s@50ms\n",
		&bad);
	assert_int_equal(bad, 0);
	assert_int_equal(pvnet_state_format(a, &text, &len), 0);
	b = parse(text, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(pvnet_state_format(b, &text2, &len2), 0);
	assert_int_equal(len, len2);
	assert_string_equal(text, text2);
	assert_int_equal(pvnet_state_count(a), pvnet_state_count(b));
	free(text);
	free(text2);
	pvnet_state_destroy(a);
	pvnet_state_destroy(b);
}

static void test_limit_entries(void **unused)
{
	struct pvnet_state *st;
	char line[64];

	(void)unused;
	assert_int_equal(pvnet_state_create(&st), 0);
	for (int i = 0; i < PVNET_STATE_MAX_ENTRIES; i++) {
		snprintf(line, sizeof(line), "switch set-vlan p%d 1", i);
		assert_int_equal(rec(st, line), 1);
	}
	assert_int_equal(rec(st, "switch set-vlan one-more 1"), -ENOSPC);
	/* replacing a setting needs no new slot */
	assert_int_equal(rec(st, "switch set-vlan p7 2"), 1);
	assert_int_equal(pvnet_state_count(st), PVNET_STATE_MAX_ENTRIES);
	pvnet_state_destroy(st);
}

static void test_save_and_read(void **unused)
{
	char dir[] = "/tmp/pvnet-state-test.XXXXXX", path[128], link[128], other[128];
	struct pvnet_state *st;
	struct stat sb;
	char *text;
	size_t len;
	int fd;

	(void)unused;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/switch.conf", dir);
	assert_int_equal(pvnet_state_create(&st), 0);
	rec(st, "switch add-port br0 u1");
	assert_int_equal(pvnet_state_save(st, path), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(pvnet_state_read_file(path, &text, &len), 0);
	assert_non_null(strstr(text, "version 1\nswitch add-br br0\nswitch add-port br0 u1\n"));
	assert_int_equal(strlen(text), len);
	free(text);
	/* a second save replaces the file; no temporary is left */
	rec(st, "switch set-vlan u1 3");
	assert_int_equal(pvnet_state_save(st, path), 0);
	snprintf(other, sizeof(other), "%s/.switch.conf.tmp-%ld", dir, (long)getpid());
	assert_int_equal(access(other, F_OK), -1);
	/* a stale temporary of ours (a crash) does not block saving */
	fd = open(other, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pvnet_state_save(st, path), 0);
	assert_int_equal(access(other, F_OK), -1);
	/* reading does not follow a symbolic link */
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(pvnet_state_read_file(link, &text, &len), -ELOOP);
	assert_null(text);
	/* saving over a link replaces the link, never writes through it */
	assert_int_equal(pvnet_state_save(st, link), 0);
	assert_int_equal(lstat(link, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	/* absent; a directory; too big */
	snprintf(other, sizeof(other), "%s/none.conf", dir);
	assert_int_equal(pvnet_state_read_file(other, &text, &len), -ENOENT);
	assert_int_equal(pvnet_state_read_file(dir, &text, &len), -EINVAL);
	fd = open(other, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)PVNET_STATE_FILE_MAX + 1), 0);
	close(fd);
	assert_int_equal(pvnet_state_read_file(other, &text, &len), -EFBIG);
	/* a directory we cannot write into */
	snprintf(other, sizeof(other), "%s/nodir/switch.conf", dir);
	assert_int_equal(pvnet_state_save(st, other), -ENOENT);
	pvnet_state_destroy(st);
	snprintf(other, sizeof(other), "rm -rf '%s'", dir);
	assert_int_equal(system(other), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_order),
		cmocka_unit_test(test_not_settings),
		cmocka_unit_test(test_delete_cascades),
		cmocka_unit_test(test_record_refuses),
		cmocka_unit_test(test_vif_name),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors_name_lines),
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_parse_binary),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_limit_entries),
		cmocka_unit_test(test_save_and_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
