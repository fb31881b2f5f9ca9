/* Unit tests for pvnet_vif_attach_parse (a vif spec for a running domain). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include <pvnet/config.h>

static struct pvnet_dom_cfg dom;
static struct pvnet_vif_cfg vif;
static char err[256];
static unsigned warnings;

static void count_warn(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
	warnings++;
}

/* A domain parsed from a config file: the vifs network-attach adds to. */
static void dom_from(const char *text)
{
	assert_int_equal(pvnet_config_parse("t.cfg", text, strlen(text), &dom, err, sizeof(err)),
			 0);
}

static int attach(const char *spec)
{
	memset(err, 0, sizeof(err));
	return pvnet_vif_attach_parse(&dom, spec, count_warn, NULL, &vif, err, sizeof(err));
}

static void devid_lowest_free(void **state)
{
	(void)state;
	dom_from("name = 'a'\nvif = [ 'devid=0,mac=00:16:3e:00:00:01', "
		 "'devid=2,mac=00:16:3e:00:00:02' ]\n");
	assert_int_equal(attach("bridge=br1"), 0);
	assert_int_equal(vif.devid, 1);
	assert_string_equal(vif.bridge, "br1");
	/* a generated MAC is the domain's default for that devid, unless taken */
	{
		uint8_t want[6];
		pvnet_mac_default("a", 1, 0, want);
		assert_memory_equal(vif.mac, want, 6);
	}
}

static void devid_given_and_taken(void **state)
{
	(void)state;
	dom_from("name = 'a'\nvif = [ '' ]\n");
	assert_int_equal(attach("devid=5"), 0);
	assert_int_equal(vif.devid, 5);
	assert_int_equal(attach("devid=0"), -EEXIST);
	assert_string_equal(err, "devid 0 is already a vif of domain 'a'");
}

static void mac_and_vifname_clash(void **state)
{
	char mac[18];

	(void)state;
	dom_from("name = 'a'\nvif = [ 'mac=00:16:3e:00:00:01, vifname=web0' ]\n");
	assert_int_equal(attach("mac=00:16:3e:00:00:01"), -EEXIST);
	assert_string_equal(err, "mac 00:16:3e:00:00:01 is already vif 0's");
	assert_int_equal(attach("vifname=web0"), -EEXIST);
	assert_string_equal(err, "vifname 'web0' is already vif 0's");
	assert_int_equal(attach("mac=00:16:3e:00:00:02, vifname=web1"), 0);
	pvnet_mac_format(vif.mac, mac);
	assert_string_equal(mac, "00:16:3e:00:00:02");
}

/* A generated MAC steps past one another vif already has. */
static void generated_mac_steps_past(void **state)
{
	uint8_t taken[6];
	char spec[64], mac[18];

	(void)state;
	pvnet_mac_default("a", 1, 0, taken);
	pvnet_mac_format(taken, mac);
	snprintf(spec, sizeof(spec), "name = 'a'\nvif = [ 'mac=%s' ]\n", mac);
	dom_from(spec);
	assert_int_equal(attach(""), 0);
	assert_int_equal(vif.devid, 1);
	assert_memory_not_equal(vif.mac, taken, 6);
}

static void limit_and_parser_errors(void **state)
{
	(void)state;
	dom_from("name = 'a'\nvif = [ '', '', '', '', '', '', '', '' ]\n");
	assert_int_equal(attach(""), -ENOSPC);
	assert_string_equal(err, "domain 'a' has 8 vifs, at most 8");
	dom_from("name = 'a'\n");
	assert_int_equal(attach("mtu=9"), -EINVAL);
	assert_string_equal(err, "bad mtu '9' (expected 68..65535)");
	assert_int_equal(attach("ip=10.0.0.2/24,gateway=10.1.0.1"), -EINVAL);
	assert_non_null(strstr(err, "gateway 10.1.0.1 is not inside"));
	assert_int_equal(attach("ip=10.0.0.2/24,gateway=10.0.0.1"), 0);
	assert_int_equal(vif.devid, 0);
}

static void warnings_as_config(void **state)
{
	(void)state;
	dom_from("name = 'a'\n");
	warnings = 0;
	assert_int_equal(attach("model=e1000,script=vif-bridge"), 0);
	assert_int_equal(warnings, 2); /* script= (parser), model= on a PV guest */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(devid_lowest_free),
		cmocka_unit_test(devid_given_and_taken),
		cmocka_unit_test(mac_and_vifname_clash),
		cmocka_unit_test(generated_mac_steps_past),
		cmocka_unit_test(limit_and_parser_errors),
		cmocka_unit_test(warnings_as_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
