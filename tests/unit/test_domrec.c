/*
 * Unit tests for domain records (pvnet/domrec.h, tools/lib/domrec.c): a record
 * written reads back the same (overrides, config text, vifs); malformed ones
 * are refused naming the line; a vifs line of another layout or with a wrong
 * hash is not an error but unusable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/domrec.h>

static char *write_rec(const struct pvnet_domrec *r, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(pvnet_domrec_write(f, r), 0);
	fclose(f);
	return buf;
}

static void sample(struct pvnet_domrec *r, struct pvnet_vif_cfg *vifs)
{
	static char o1[] = "memory=64", o2[] = "vif=['bridge=br1']";
	static char text[] = "name = \"web1\"\nmemory = 32\nvif = [ 'bridge=br0' ]\n";

	memset(r, 0, sizeof(*r));
	r->domid = 3;
	strcpy(r->name, "web1");
	r->pid = 4242;
	r->start = 123456789;
	r->memory_mib = 64;
	strcpy(r->file, "/etc/pvnet/web 1.cfg");
	r->overrides[0] = o1;
	r->overrides[1] = o2;
	r->n_overrides = 2;
	r->text = text;
	r->text_len = strlen(text);
	memset(vifs, 0, 2 * sizeof(*vifs));
	strcpy(vifs[0].bridge, "br0");
	vifs[0].devid = 0;
	strcpy(vifs[1].bridge, "br1");
	vifs[1].devid = 1;
	r->vifs = vifs;
	r->n_vifs = 2;
	r->vifs_state = 1;
}

static void test_round_trip(void **state)
{
	struct pvnet_vif_cfg vifs[2];
	struct pvnet_domrec r, back;
	char why[160] = "", *buf;
	size_t len;

	(void)state;
	sample(&r, vifs);
	buf = write_rec(&r, &len);
	assert_int_equal(pvnet_domrec_parse(buf, len, &back, why, sizeof(why)), 0);
	assert_int_equal(back.domid, 3);
	assert_string_equal(back.name, "web1");
	assert_int_equal(back.pid, 4242);
	assert_int_equal(back.start, 123456789);
	assert_int_equal(back.memory_mib, 64);
	assert_string_equal(back.file, "/etc/pvnet/web 1.cfg");
	assert_int_equal(back.n_overrides, 2);
	assert_string_equal(back.overrides[1], "vif=['bridge=br1']");
	assert_int_equal(back.text_len, r.text_len);
	assert_string_equal(back.text, r.text);
	assert_int_equal(back.vifs_state, 1);
	assert_int_equal(back.n_vifs, 2);
	assert_memory_equal(back.vifs, vifs, sizeof(vifs));
	pvnet_domrec_free(&back);
	free(buf);
}

static void expect_bad(const char *text, const char *reason)
{
	struct pvnet_domrec r;
	char why[160] = "";

	assert_int_equal(pvnet_domrec_parse(text, strlen(text), &r, why, sizeof(why)), -EINVAL);
	if (!strstr(why, reason))
		fail_msg("'%s': got '%s', expected '%s'", text, why, reason);
}

#define HEAD "version 1\ndomid 3\nname web1\npid 4242\nstart 9\nmemory 64\nfile -\n"

static void test_malformed(void **state)
{
	(void)state;
	expect_bad(HEAD "config 41\n", "no 'end' line");
	expect_bad("version 2\n", "line 1: version '2'");
	expect_bad(HEAD "config 4\nend\n", "line 8: bad config");
	expect_bad(HEAD "config 4100\nend\n", "line 8: bad config"); /* a NUL in the text */
	expect_bad(HEAD "config zz\nend\n", "line 8: bad config");
	expect_bad(HEAD "config 41\ndomid 4\nend\n", "line 9: domid repeated");
	expect_bad(HEAD "config 41\nsecret 1\nend\n", "line 9: unknown 'secret'");
	expect_bad(HEAD "config 41\nend\nname x\n", "line 10: after 'end'");
	expect_bad("version 1\ndomid 0\n", "line 2: bad domid");
	expect_bad("version 1\ndomid 99999\n", "line 2: bad domid");
	expect_bad("version 1\nname a/b\n", "line 2: bad name");
	expect_bad("version 1\npid 1\n", "line 2: bad pid");
	expect_bad("version 1\npid -5\n", "line 2: bad pid");
	expect_bad("version 1\nmemory 99999999999999999999999\n", "line 2: bad memory");
	expect_bad("version 1\ndomid 3\nend\n", "'name' missing");
	expect_bad(HEAD "override 4100\nconfig 41\nend\n", "a NUL byte in an override");
	expect_bad(HEAD "config 41\nvifs 1 1 0000000000000000 zz\nend\n", "line 9: bad vifs");
	{
		const char nul[] = "version 1\0\n";
		struct pvnet_domrec r;
		char why[64];
		assert_int_equal(pvnet_domrec_parse(nul, sizeof(nul) - 1, &r, why, sizeof(why)),
				 -EINVAL);
	}
}

/* HVM records: type, qmp and accel round-trip; qmp/accel only with type hvm, and
 * both required with it. */
static void test_hvm(void **state)
{
	struct pvnet_vif_cfg vifs[2];
	struct pvnet_domrec r, back;
	char why[160] = "", *buf;
	size_t len;

	(void)state;
	sample(&r, vifs);
	r.hvm = 1;
	strcpy(r.qmp, "/run/pvnet/qmp-3.sock");
	strcpy(r.accel, "tcg");
	buf = write_rec(&r, &len);
	assert_int_equal(pvnet_domrec_parse(buf, len, &back, why, sizeof(why)), 0);
	assert_int_equal(back.hvm, 1);
	assert_string_equal(back.qmp, "/run/pvnet/qmp-3.sock");
	assert_string_equal(back.accel, "tcg");
	assert_int_equal(back.n_vifs, 2);
	assert_int_equal(back.vhost_client, 0);
	assert_non_null(strstr(buf, "\nvhost server\n"));
	pvnet_domrec_free(&back);
	free(buf);
	/* the vhost-user role round-trips; a record without the line (as written
	 * before it existed) means pvnetd's ports listen */
	r.vhost_client = 1;
	buf = write_rec(&r, &len);
	assert_int_equal(pvnet_domrec_parse(buf, len, &back, why, sizeof(why)), 0);
	assert_int_equal(back.vhost_client, 1);
	pvnet_domrec_free(&back);
	{
		char *old = strstr(buf, "vhost client\n");
		assert_non_null(old);
		memmove(old, old + 13, strlen(old + 13) + 1);
		assert_int_equal(pvnet_domrec_parse(buf, strlen(buf), &back, why, sizeof(why)), 0);
		assert_int_equal(back.hvm, 1);
		assert_int_equal(back.vhost_client, 0);
		pvnet_domrec_free(&back);
	}
	free(buf);
	/* a PV record has none of them */
	sample(&r, vifs);
	buf = write_rec(&r, &len);
	assert_null(strstr(buf, "type "));
	assert_int_equal(pvnet_domrec_parse(buf, len, &back, why, sizeof(why)), 0);
	assert_int_equal(back.hvm, 0);
	assert_string_equal(back.qmp, "");
	pvnet_domrec_free(&back);
	free(buf);
	expect_bad(HEAD "type hvm\nqmp /q.sock\nconfig 41\nend\n", "'accel' missing (type hvm)");
	expect_bad(HEAD "type hvm\naccel kvm\nconfig 41\nend\n", "'qmp' missing (type hvm)");
	expect_bad(HEAD "qmp /q.sock\nconfig 41\nend\n", "'qmp' in a record that is not type hvm");
	expect_bad(HEAD "type pv\naccel tcg\nconfig 41\nend\n", "'accel' in a record that is not");
	expect_bad(HEAD "type xen\n", "line 8: bad type");
	expect_bad(HEAD "type hvm\ntype hvm\n", "line 9: type repeated");
	expect_bad(HEAD "accel hax\n", "line 8: bad accel");
	expect_bad(HEAD "vhost both\n", "line 8: bad vhost");
	expect_bad(HEAD "type pv\nvhost client\nconfig 41\nend\n",
		   "'vhost' in a record that is not");
	expect_bad(HEAD "qmp q.sock\n", "line 8: bad qmp"); /* relative */
	expect_bad(HEAD "qmp /a\tb\n", "line 8: bad qmp");  /* a control character */
	expect_bad(HEAD
		   "qmp /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		   "line 8: bad qmp"); /* longer than a socket path */
}

static void test_vifs_unusable(void **state)
{
	struct pvnet_vif_cfg vifs[2];
	struct pvnet_domrec r, back;
	char why[160], *buf, *h;
	size_t len;

	(void)state;
	/* another layout (an upgrade changed the struct) */
	{
		const char *t = HEAD "config 41\nvifs 16 1 0000000000000000 "
				     "00000000000000000000000000000000\nend\n";
		assert_int_equal(pvnet_domrec_parse(t, strlen(t), &back, why, sizeof(why)), 0);
		assert_int_equal(back.vifs_state, -1);
		assert_null(back.vifs);
		pvnet_domrec_free(&back);
	}
	/* a damaged copy: one hex digit of the vifs changed, the hash no longer matches */
	sample(&r, vifs);
	buf = write_rec(&r, &len);
	h = strstr(buf, "\nvifs ");
	assert_non_null(h);
	h = strrchr(h, ' ') + 1;
	h[10] = h[10] == '0' ? '1' : '0';
	assert_int_equal(pvnet_domrec_parse(buf, len, &back, why, sizeof(why)), 0);
	assert_int_equal(back.vifs_state, -1);
	pvnet_domrec_free(&back);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_vifs_unusable),
		cmocka_unit_test(test_hvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
