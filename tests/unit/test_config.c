/* Unit tests for the xl-style domain config parser (include/pvnet/config.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <pvnet/config.h>

static struct pvnet_dom_cfg cfg;
static char err[512];

static int parse(const char *text)
{
	memset(err, 0, sizeof(err));
	return pvnet_config_parse("t.cfg", text, strlen(text), &cfg, err, sizeof(err));
}

/* The parse must fail with -EINVAL and exactly this message. */
static void expect_err(const char *text, const char *msg)
{
	int rc = parse(text);

	if (rc != -EINVAL || strcmp(err, msg) != 0)
		print_error("text:\n%s\nrc %d, got  '%s'\nwanted '%s'\n", text, rc, err, msg);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err, msg);
}

static void expect_ok(const char *text)
{
	int rc = parse(text);

	if (rc)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
}

/* ---- valid configurations ---------------------------------------------- */

static void test_minimal_defaults(void **state)
{
	(void)state;
	expect_ok("name = \"d1\"\n");
	assert_string_equal(cfg.name, "d1");
	assert_int_equal(cfg.memory_mib, 64);
	assert_int_equal(cfg.maxmem_mib, 64);
	assert_int_equal(cfg.vcpus, 1);
	assert_string_equal(cfg.type, "pv");
	assert_string_equal(cfg.netns, "d1");
	assert_string_equal(cfg.on_crash, "destroy");
	assert_string_equal(cfg.uuid, "");
	assert_int_equal(cfg.n_vifs, 0);
	/* No trailing newline, no spaces. */
	expect_ok("name='x'");
	assert_string_equal(cfg.name, "x");
}

static void test_full_config(void **state)
{
	const char *text = "# a comment line\n"
			   "name = 'guest_1.a-b'   # trailing comment\n"
			   "memory = 256; maxmem = 512\n"
			   "vcpus=2\n"
			   "type = \"hvm\"\n"
			   "kernel = \"/boot/vmlinuz\"\n"
			   "initrd = '/boot/initrd.img'\n"
			   "extra = \"console=hvc0 root=/dev/xvda1 quote=\\\"x\\\"\"\n"
			   "netns = 'ns-g1'\n"
			   "on_crash = 'preserve'\n"
			   "uuid = '5E0D9D8A-1C2B-4F3A-9E1D-0A1B2C3D4E5F'\n"
			   "\n"
			   "vif = [  # list over several lines\n"
			   "   'mac=00:16:3e:00:00:0a,bridge=br1',\n"
			   "   # a comment inside the list\n"
			   "   \"ip=192.168.1.5/24\",\n"
			   "   '',\n"
			   "]\n";

	(void)state;
	expect_ok(text);
	assert_string_equal(cfg.name, "guest_1.a-b");
	assert_int_equal(cfg.memory_mib, 256);
	assert_int_equal(cfg.maxmem_mib, 512);
	assert_int_equal(cfg.vcpus, 2);
	assert_string_equal(cfg.type, "hvm");
	assert_string_equal(cfg.kernel, "/boot/vmlinuz");
	assert_string_equal(cfg.ramdisk, "/boot/initrd.img");
	assert_string_equal(cfg.cmdline, "console=hvc0 root=/dev/xvda1 quote=\"x\"");
	assert_string_equal(cfg.netns, "ns-g1");
	assert_string_equal(cfg.on_crash, "preserve");
	assert_string_equal(cfg.uuid, "5e0d9d8a-1c2b-4f3a-9e1d-0a1b2c3d4e5f");
	assert_int_equal(cfg.n_vifs, 3);
	assert_memory_equal(cfg.vifs[0].mac, ((uint8_t[]){0, 0x16, 0x3e, 0, 0, 0x0a}), 6);
	assert_string_equal(cfg.vifs[0].bridge, "br1");
	assert_string_equal(cfg.vifs[1].bridge, "br0");
	assert_int_equal(cfg.vifs[1].n_ip, 1);
	assert_string_equal(cfg.vifs[1].ip[0].text, "192.168.1.5/24");
	/* The empty spec is a vif with every default. */
	assert_int_equal(cfg.vifs[2].mtu, 1500);
	assert_int_equal(cfg.vifs[2].queues, 1);
	assert_int_equal(cfg.vifs[2].mac_set, 0);
}

static const char *example_path(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "examples/%s", name);
	return access(buf, R_OK) == 0 ? buf : NULL;
}

static void test_examples(void **state)
{
	static const struct {
		const char *file, *name, *v4, *v6;
		uint8_t last;
	} ex[] = {
		{"web1.cfg", "web1", "10.0.0.1/24", "fd00::1/64", 1},
		{"web2.cfg", "web2", "10.0.0.2/24", "fd00::2/64", 2},
	};
	char path[256];
	unsigned i;
	uint8_t a[4];
	int rc;

	(void)state;
	if (!example_path("web1.cfg", path, sizeof(path)))
		skip(); /* run from the repository root (tests/run.sh does) */
	for (i = 0; i < 2; i++) {
		assert_non_null(example_path(ex[i].file, path, sizeof(path)));
		rc = pvnet_config_load(path, &cfg, err, sizeof(err));
		if (rc)
			print_error("%s\n", err);
		assert_int_equal(rc, 0);
		assert_string_equal(cfg.name, ex[i].name);
		assert_string_equal(cfg.netns, ex[i].name);
		assert_int_equal(cfg.memory_mib, 64);
		assert_int_equal(cfg.n_vifs, 1);
		assert_string_equal(cfg.vifs[0].bridge, "br0");
		assert_memory_equal(cfg.vifs[0].mac, ((uint8_t[]){0, 0x16, 0x3e, 0, 0, ex[i].last}),
				    6);
		assert_int_equal(cfg.vifs[0].n_ip, 2);
		assert_string_equal(cfg.vifs[0].ip[0].text, ex[i].v4);
		assert_int_equal(cfg.vifs[0].ip[0].family, AF_INET);
		assert_int_equal(cfg.vifs[0].ip[0].prefix, 24);
		assert_int_equal(inet_pton(AF_INET, i ? "10.0.0.2" : "10.0.0.1", a), 1);
		assert_memory_equal(cfg.vifs[0].ip[0].addr, a, 4);
		assert_string_equal(cfg.vifs[0].ip[1].text, ex[i].v6);
		assert_int_equal(cfg.vifs[0].ip[1].family, AF_INET6);
		assert_int_equal(cfg.vifs[0].ip[1].prefix, 64);
	}
}

static void test_vif_all_keys(void **state)
{
	struct pvnet_vif_cfg v;
	uint8_t a6[16];
	int rc;

	(void)state;
	rc = pvnet_vif_parse(" mac=00:16:3E:aa:BB:0c , bridge=xenbr1, ip=10.1.2.3/8 fd00::5/128 "
			     "192.168.0.1/32, mtu=9000, queues=8, rate=10Mb/s@50ms, vlan=4094, "
			     "trunks=10:20:4094, model=virtio, accel=simnic, level=3, "
			     "mode=pktgen, pkt=60, script=vif-bridge, backend=dom0, "
			     "vifname=vif9.0-emu, type=ioemu, devargs=iova=pa;n=2, "
			     "socket=/run/pvnet/vhost.sock,",
			     &v, err, sizeof(err));
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(v.mac_set, 1);
	assert_memory_equal(v.mac, ((uint8_t[]){0, 0x16, 0x3e, 0xaa, 0xbb, 0x0c}), 6);
	assert_string_equal(v.bridge, "xenbr1");
	/* 31 characters, past a Linux interface name's 15: add-br takes it, so does a vif */
	{
		struct pvnet_vif_cfg w;
		char e[256];
		assert_int_equal(pvnet_vif_parse("bridge=a-bridge-name-of-31-characters", &w, e,
						 sizeof(e)),
				 0);
		assert_string_equal(w.bridge, "a-bridge-name-of-31-characters");
	}
	assert_int_equal(v.n_ip, 3);
	assert_int_equal(v.ip[0].family, AF_INET);
	assert_memory_equal(v.ip[0].addr, ((uint8_t[]){10, 1, 2, 3}), 4);
	assert_int_equal(v.ip[0].prefix, 8);
	assert_int_equal(v.ip[1].family, AF_INET6);
	assert_int_equal(inet_pton(AF_INET6, "fd00::5", a6), 1);
	assert_memory_equal(v.ip[1].addr, a6, 16);
	assert_int_equal(v.ip[1].prefix, 128);
	assert_int_equal(v.ip[2].prefix, 32);
	assert_int_equal(v.mtu, 9000);
	assert_int_equal(v.queues, 8);
	assert_int_equal(v.rate_bytes, 62500);
	assert_int_equal(v.rate_usec, 50000);
	assert_int_equal(v.vlan, 4094);
	assert_int_equal(v.n_trunks, 3);
	assert_int_equal(v.trunks[0], 10);
	assert_int_equal(v.trunks[1], 20);
	assert_int_equal(v.trunks[2], 4094);
	assert_string_equal(v.model, "virtio");
	assert_string_equal(v.accel, "simnic");
	assert_int_equal(v.level, 3);
	assert_string_equal(v.mode, "pktgen");
	assert_int_equal(v.pkt, 60);
	assert_string_equal(v.script, "vif-bridge");
	assert_string_equal(v.backend, "dom0");
	assert_string_equal(v.vifname, "vif9.0-emu");
	assert_string_equal(v.type, "ioemu");
	assert_string_equal(v.devargs, "iova=pa;n=2");
	assert_string_equal(v.socket, "/run/pvnet/vhost.sock");
}

static void test_vif_defaults(void **state)
{
	struct pvnet_vif_cfg v;

	(void)state;
	assert_int_equal(pvnet_vif_parse("", &v, err, sizeof(err)), 0);
	assert_int_equal(v.mac_set, 0);
	assert_string_equal(v.bridge, "br0");
	assert_int_equal(v.n_ip, 0);
	assert_int_equal(v.mtu, 1500);
	assert_int_equal(v.queues, 1);
	assert_int_equal(v.rate_bytes, 0);
	assert_int_equal(v.rate_usec, 0);
	assert_int_equal(v.vlan, 0);
	assert_int_equal(v.n_trunks, 0);
	assert_int_equal(v.level, -1);
	assert_string_equal(v.mode, "tap");
	assert_int_equal(v.pkt, 0);
	assert_string_equal(v.backend, "0");
	assert_string_equal(v.type, "vif");
	assert_string_equal(v.accel, "");
}

static void test_generated_mac_stable(void **state)
{
	uint8_t m0[6], m1[6], other[6];
	const char *text = "name = 'gen'\nvif = [ '', '' ]\n";

	(void)state;
	expect_ok(text);
	memcpy(m0, cfg.vifs[0].mac, 6);
	memcpy(m1, cfg.vifs[1].mac, 6);
	/* Xen's OUI, unicast, locally stable, distinct per vif. */
	assert_memory_equal(m0, ((uint8_t[]){0x00, 0x16, 0x3e}), 3);
	assert_memory_equal(m1, ((uint8_t[]){0x00, 0x16, 0x3e}), 3);
	assert_int_equal(m0[3] & 0x80, 0);
	assert_memory_not_equal(m0, m1, 6);
	assert_int_equal(cfg.vifs[0].mac_set, 0);
	/* Same name, same index: same MAC on every parse and from the helper. */
	expect_ok(text);
	assert_memory_equal(cfg.vifs[0].mac, m0, 6);
	assert_memory_equal(cfg.vifs[1].mac, m1, 6);
	pvnet_mac_default("gen", 1, 0, other);
	assert_memory_equal(other, m1, 6);
	/* Another domain name gives another MAC. */
	expect_ok("name = 'gen2'\nvif = [ '' ]\n");
	assert_memory_not_equal(cfg.vifs[0].mac, m0, 6);
	/* A generated MAC steps past an explicit one that happens to equal it. */
	{
		char buf[200], m[18];

		pvnet_mac_format(m0, m);
		snprintf(buf, sizeof(buf), "name = 'gen'\nvif = [ '', 'mac=%s' ]\n", m);
		expect_ok(buf);
		assert_memory_equal(cfg.vifs[1].mac, m0, 6);
		assert_memory_not_equal(cfg.vifs[0].mac, m0, 6);
	}
}

static void test_rate_parse(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
		uint32_t usec;
	} ok[] = {
		/* bytes_per_interval = bytes_per_sec * usec / 10^6, as libxl computes */
		{"10Mb/s@50ms", 62500, 50000},
		{"10Mb/s", 62500, 50000}, /* default interval 50 ms */
		{"100Mb/s", 625000, 50000},
		{"100Kb/s", 625, 50000},
		{"1Gb/s@20ms", 2500000, 20000},
		{"1GB/s@20ms", 20000000, 20000},
		{"5MB/s@1s", 5000000, 1000000},
		{"5MB/s@2", 10000000, 2000000}, /* no unit: seconds */
		{"1000B/s@100us", 0, 0},        /* 0.1 byte per interval: rejected */
		{"8000b/s@1000us", 1, 1000},
		{"123Kb/s@7ms", 107, 7000},        /* 15375 B/s * 7000 / 10^6 = 107.6 */
		{"10Mb/s@50", 62500000, 50000000}, /* 50 seconds */
	};
	static const char *const bad[] = {
		"",
		"Mb/s",
		"10",
		"10Mb",
		"10Mb/",
		"10Mbit/s",
		"10mb/s",
		"10Tb/s",
		"10Mb/s@",
		"10Mb/s@0ms",
		"10Mb/s@50ns",
		"10Mb/s@50ms ",
		" 10Mb/s",
		"-1Mb/s",
		"0Mb/s",
		"100GB/s@10s",
		"99999999999999999999B/s",
	};
	uint64_t bytes = 7;
	uint32_t usec = 7;
	unsigned i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		rc = pvnet_rate_parse(ok[i].s, &bytes, &usec);
		if (!ok[i].bytes) {
			assert_int_equal(rc, -EINVAL);
			continue;
		}
		if (rc)
			print_error("rate '%s' rejected\n", ok[i].s);
		assert_int_equal(rc, 0);
		assert_int_equal(bytes, ok[i].bytes);
		assert_int_equal(usec, ok[i].usec);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bytes = 7;
		usec = 7;
		if (pvnet_rate_parse(bad[i], &bytes, &usec) != -EINVAL)
			print_error("rate '%s' accepted\n", bad[i]);
		assert_int_equal(pvnet_rate_parse(bad[i], &bytes, &usec), -EINVAL);
		assert_int_equal(bytes, 7); /* untouched on error */
		assert_int_equal(usec, 7);
	}
}

static void test_mac_roundtrip(void **state)
{
	static const char *const good[] = {"00:16:3e:00:00:01", "ff:ff:ff:ff:ff:ff",
					   "0a:1b:2c:3d:4e:5f", "00:00:00:00:00:00"};
	static const char *const bad[] = {"",
					  "00:16:3e:00:00",
					  "00:16:3e:00:00:01:02",
					  "00:16:3e:zz:00:01",
					  "0:16:3e:00:00:01",
					  "00-16-3e-00-00-01",
					  "00:16:3e:00:00:01 ",
					  "000:16:3e:00:00:1"};
	uint8_t mac[6], keep[6] = {1, 2, 3, 4, 5, 6};
	char out[18];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(pvnet_mac_parse(good[i], mac), 0);
		pvnet_mac_format(mac, out);
		assert_string_equal(out, good[i]);
	}
	assert_int_equal(pvnet_mac_parse("00:16:3E:AB:cd:EF", mac), 0);
	assert_memory_equal(mac, ((uint8_t[]){0, 0x16, 0x3e, 0xab, 0xcd, 0xef}), 6);
	pvnet_mac_format(mac, out);
	assert_string_equal(out, "00:16:3e:ab:cd:ef");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(mac, keep, 6);
		assert_int_equal(pvnet_mac_parse(bad[i], mac), -EINVAL);
		assert_memory_equal(mac, keep, 6);
	}
}

static void test_load_names_file(void **state)
{
	char path[] = "/tmp/pvnet-test-config-XXXXXX";
	const char *text = "name = 'a'\n\nmemry = 64\n";
	char want[300];
	int fd, rc;

	(void)state;
	rc = pvnet_config_load("/nonexistent/dir/x.cfg", &cfg, err, sizeof(err));
	assert_int_equal(rc, -ENOENT);
	assert_string_equal(err, "/nonexistent/dir/x.cfg: No such file or directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = pvnet_config_load(path, &cfg, err, sizeof(err));
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	snprintf(want, sizeof(want), "%s:3: unknown key 'memry' (did you mean 'memory'?)", path);
	assert_string_equal(err, want);
}

static void test_err_buffer_handling(void **state)
{
	char small[12];

	(void)state;
	/* No buffer: still fails cleanly. */
	assert_int_equal(pvnet_config_parse("t.cfg", "bogus = 1", 9, &cfg, NULL, 0), -EINVAL);
	/* Small buffer: truncated, NUL-terminated. */
	assert_int_equal(pvnet_config_parse("t.cfg", "bogus = 1", 9, &cfg, small, sizeof(small)),
			 -EINVAL);
	assert_string_equal(small, "t.cfg:1: un");
	/* Text is bounded by len, not by a NUL: "name='ab'" cut after 'a'. */
	assert_int_equal(pvnet_config_parse("t.cfg", "name='ab'", 7, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "t.cfg:1: unterminated string (missing closing ')");
	/* A NUL byte inside the text is an error, not the end. */
	assert_int_equal(pvnet_config_parse("t.cfg", "name='a'\n\0", 10, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "t.cfg:2: expected a key, got 0x00");
	assert_int_equal(pvnet_config_parse("t.cfg", "name='a\0b'", 11, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "t.cfg:1: NUL byte inside a string");
	/* A NULL filename is named <config>. */
	assert_int_equal(pvnet_config_parse(NULL, "x=1", 3, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "<config>:1: unknown key 'x'");
}

/* ---- errors: each names file, line and what was expected ----------------- */

static void test_err_unknown_key(void **state)
{
	(void)state;
	expect_err("name = 'web1'\nmemory = 64\nmemry = 64\n",
		   "t.cfg:3: unknown key 'memry' (did you mean 'memory'?)");
}

static void test_err_unknown_vif_key(void **state)
{
	(void)state;
	expect_err("name = 'web1'\nvif = [ 'mac=00:16:3e:00:00:01, colour=blue' ]\n",
		   "t.cfg:2: vif 0: unknown vif key 'colour'");
	expect_err("name = 'web1'\nvif = [ 'bridge' ]\n",
		   "t.cfg:2: vif 0: expected key=value, got 'bridge'");
	expect_err("name = 'web1'\nvif = [ 'mtu=1500,mtu=9000' ]\n",
		   "t.cfg:2: vif 0: duplicate vif key 'mtu'");
}

static void test_err_bad_mac(void **state)
{
	(void)state;
	expect_err("name = 'web1'\n"
		   "vif = [\n"
		   "  'mac=00:16:3e:00:00:02',\n"
		   "  'mac=00:16:3e:zz:00:01',\n"
		   "]\n",
		   "t.cfg:4: vif 1: bad mac '00:16:3e:zz:00:01' "
		   "(expected six hex bytes like 00:16:3e:00:00:01)");
}

static void test_err_expected_equals(void **state)
{
	(void)state;
	expect_err("# comment\nname \"web1\"\n", "t.cfg:2: expected '=' after 'name'");
	expect_err("name\n= 'web1'\n", "t.cfg:1: expected '=' after 'name'");
}

static void test_err_missing_value(void **state)
{
	(void)state;
	expect_err("name =\n", "t.cfg:1: expected a value (string, number or list) after "
			       "'name =', got end of line");
	expect_err("name = web1\n", "t.cfg:1: expected a value (string, number or list) after "
				    "'name =', got 'w'");
}

static void test_err_trailing_garbage(void **state)
{
	(void)state;
	expect_err("name = 'a' 'b'\n",
		   "t.cfg:1: expected end of line after the value of 'name', got '''");
	expect_err("memory = 64MB\nname='a'\n",
		   "t.cfg:1: bad memory '64MB' (expected a number: decimal, octal with a leading "
		   "0, or hex with 0x)");
	expect_err("name='a'\nmemory = 1.5\n", "t.cfg:2: bad number '1.' (expected an integer)");
}

static void test_err_unterminated_string(void **state)
{
	(void)state;
	expect_err("name = 'web1'\nkernel = \"/boot/vmlinuz\n",
		   "t.cfg:2: unterminated string (missing closing \")");
	expect_err("name = 'web1", "t.cfg:1: unterminated string (missing closing ')");
	expect_err("name = 'web1'\nvif = [\n  'mac=00:16:3e:00:00:01,\n  bridge=br0'\n]\n",
		   "t.cfg:3: unterminated string (missing closing ')");
}

static void test_err_unterminated_list(void **state)
{
	(void)state;
	expect_err("name = 'web1'\nvif = [ 'bridge=br0',\n",
		   "t.cfg:3: unterminated list for 'vif' (missing ']')");
	expect_err("name = 'web1'\nvif = [ 'a=b' 'c=d' ]\n",
		   "t.cfg:2: expected ',' or ']' in the list for 'vif', got '''");
	/* as in xl, a number in the list is its text: not a vif spec */
	expect_err("name = 'web1'\nvif = [ 5 ]\n", "t.cfg:2: vif 0: expected key=value, got '5'");
	expect_err("name = 'web1'\nvif = [ x ]\n",
		   "t.cfg:2: expected a value in the list for 'vif', got 'x'");
	expect_err("name = 'web1'\nvif = [ ['bridge=br0'] ]\n",
		   "t.cfg:2: vif 0: expected a string, got a list");
}

static void test_err_missing_name(void **state)
{
	(void)state;
	expect_err("memory = 64\nvcpus = 1\n", "t.cfg:3: missing required key 'name'");
	expect_err("", "t.cfg:1: missing required key 'name'");
}

static void test_err_bad_name(void **state)
{
	char text[200];

	(void)state;
	expect_err("name = 'web 1'\n", "t.cfg:1: bad name 'web 1' (expected 1..63 characters "
				       "from [A-Za-z0-9_.-])");
	expect_err("name = ''\n",
		   "t.cfg:1: bad name '' (expected 1..63 characters from [A-Za-z0-9_.-])");
	snprintf(text, sizeof(text), "name = '%064d'\n", 0);
	expect_err(text, "t.cfg:1: value of 'name' too long (max 63 characters)");
	snprintf(text, sizeof(text), "name = '%063d'\n", 0);
	expect_ok(text);
	assert_int_equal(strlen(cfg.name), 63);
}

static void test_err_duplicate_key(void **state)
{
	(void)state;
	expect_err("name = 'a'\nmemory = 64\nmemory = 128\n",
		   "t.cfg:3: duplicate key 'memory' ('memory' already set on line 2)");
	expect_err("name = 'a'\nramdisk = '/r'\ninitrd = '/i'\n",
		   "t.cfg:3: duplicate key 'initrd' ('ramdisk' already set on line 2)");
}

static void test_err_type_mismatch(void **state)
{
	(void)state;
	/* as xl (libxlu keeps every atom as text): a quoted number is a number... */
	expect_ok("name = 'a'\nmemory = \"64\"\nvcpus = '0x2'\n");
	assert_int_equal(cfg.memory_mib, 64);
	assert_int_equal(cfg.vcpus, 2);
	/* ...and a number token is a string where one is expected */
	expect_ok("name = 5\n");
	assert_string_equal(cfg.name, "5");
	expect_err(
		"name = 'a'\nmemory = \"lots\"\n",
		"t.cfg:2: bad memory 'lots' (expected a number: decimal, octal with a leading 0, "
		"or hex with 0x)");
	expect_err("name = 'a'\nvif = 'bridge=br0'\n",
		   "t.cfg:2: expected a list for 'vif', got a string");
	expect_err("name = ['a']\n", "t.cfg:1: expected a single value for 'name', got a list");
	expect_err("name = 'a'\nmemory = [64]\n",
		   "t.cfg:2: expected a single value for 'memory', got a list");
}

static void test_err_int_range(void **state)
{
	(void)state;
	expect_err("name = 'a'\nmemory = 0\n", "t.cfg:2: bad memory 0 (expected 1..1048576)");
	expect_err("name = 'a'\nvcpus = -1\n", "t.cfg:2: bad vcpus -1 (expected 1..128)");
	expect_err("name = 'a'\nmemory = 128\nmaxmem = 64\n",
		   "t.cfg:3: bad maxmem 64 (expected at least memory, 128)");
	expect_err("name = 'a'\ntype = 'xen'\n",
		   "t.cfg:2: bad type 'xen' (expected \"pv\", \"pvh\" or \"hvm\")");
	expect_err("name = 'a'\nuuid = '1234'\n",
		   "t.cfg:2: bad uuid '1234' (expected 8-4-4-4-12 hex digits, e.g. "
		   "5e0d9d8a-1c2b-4f3a-9e1d-0a1b2c3d4e5f)");
}

static void test_err_mac_multicast(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'mac=01:00:5e:00:00:01' ]\n",
		   "t.cfg:2: vif 0: bad mac '01:00:5e:00:00:01' (multicast bit set; expected a "
		   "unicast address)");
	expect_err("name = 'a'\nvif = [ 'mac=ff:ff:ff:ff:ff:ff' ]\n",
		   "t.cfg:2: vif 0: bad mac 'ff:ff:ff:ff:ff:ff' (multicast bit set; expected a "
		   "unicast address)");
}

static void test_err_mac_zero(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'mac=00:00:00:00:00:00' ]\n",
		   "t.cfg:2: vif 0: bad mac '00:00:00:00:00:00' (all zero; expected a unicast "
		   "address)");
}

static void test_err_duplicate_mac(void **state)
{
	(void)state;
	expect_err("name = 'a'\n"
		   "vif = [ 'mac=00:16:3e:00:00:01,bridge=br0',\n"
		   "        'bridge=br1',\n"
		   "        'mac=00:16:3E:00:00:01,bridge=br2' ]\n",
		   "t.cfg:4: vif 2: duplicate mac 00:16:3e:00:00:01 (already used by vif 0)");
}

static void test_err_ip_without_prefix(void **state)
{
	(void)state;
	/* as xl's scripts take it: anti-spoofing only, the guest does not get it */
	expect_ok("name = 'a'\nvif = [ 'ip=10.0.0.1/24 fd00::1 192.168.7.9' ]\n");
	assert_int_equal(cfg.vifs[0].n_ip, 3);
	assert_int_equal(cfg.vifs[0].ip[0].prefix_set, 1);
	assert_int_equal(cfg.vifs[0].ip[0].prefix, 24);
	assert_int_equal(cfg.vifs[0].ip[1].prefix_set, 0);
	assert_int_equal(cfg.vifs[0].ip[1].prefix, 128);
	assert_int_equal(cfg.vifs[0].ip[1].family, AF_INET6);
	assert_string_equal(cfg.vifs[0].ip[1].text, "fd00::1");
	assert_int_equal(cfg.vifs[0].ip[2].prefix_set, 0);
	assert_int_equal(cfg.vifs[0].ip[2].prefix, 32);
	assert_string_equal(cfg.vifs[0].ip[2].text, "192.168.7.9");
}

static void test_err_ip_bad_address(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'ip=10.0.0.256/24' ]\n",
		   "t.cfg:2: vif 0: bad ip '10.0.0.256/24' ('10.0.0.256' is not an IPv4 or IPv6 "
		   "address)");
	expect_err("name = 'a'\nvif = [ 'ip=' ]\n",
		   "t.cfg:2: vif 0: empty ip (expected ADDRESS[/PREFIX] ...)");
}

static void test_err_ip_prefix_range(void **state)
{
	(void)state;
	expect_err(
		"name = 'a'\nvif = [ 'ip=10.0.0.1/33' ]\n",
		"t.cfg:2: vif 0: bad ip '10.0.0.1/33' (expected a prefix length 0..32 after '/')");
	expect_err("name = 'a'\nvif = [ 'ip=fd00::1/129' ]\n",
		   "t.cfg:2: vif 0: bad ip 'fd00::1/129' (expected a prefix length 0..128 after "
		   "'/')");
	expect_err("name = 'a'\nvif = [ 'ip=10.0.0.1/' ]\n",
		   "t.cfg:2: vif 0: bad ip '10.0.0.1/' (expected a prefix length 0..32 after '/')");
}

static void test_err_mtu_range(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'mtu=67' ]\n",
		   "t.cfg:2: vif 0: bad mtu '67' (expected 68..65535)");
	expect_err("name = 'a'\nvif = [ 'mtu=65536' ]\n",
		   "t.cfg:2: vif 0: bad mtu '65536' (expected 68..65535)");
	expect_err("name = 'a'\nvif = [ 'mtu=1500x' ]\n",
		   "t.cfg:2: vif 0: bad mtu '1500x' (expected 68..65535)");
	expect_ok("name = 'a'\nvif = [ 'mtu=68', 'mtu=65535' ]\n");
	assert_int_equal(cfg.vifs[1].mtu, 65535);
}

static void test_err_queues_range(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'queues=0' ]\n",
		   "t.cfg:2: vif 0: bad queues '0' (expected 1..8)");
	expect_err("name = 'a'\nvif = [ 'queues=9' ]\n",
		   "t.cfg:2: vif 0: bad queues '9' (expected 1..8)");
}

static void test_err_vlan_range(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'vlan=0' ]\n",
		   "t.cfg:2: vif 0: bad vlan '0' (expected 1..4094)");
	expect_err("name = 'a'\nvif = [ 'vlan=4095' ]\n",
		   "t.cfg:2: vif 0: bad vlan '4095' (expected 1..4094)");
	expect_err("name = 'a'\nvif = [ 'trunks=10,20' ]\n",
		   "t.cfg:2: vif 0: expected key=value, got '20'");
	expect_err("name = 'a'\nvif = [ 'trunks=10:4095' ]\n",
		   "t.cfg:2: vif 0: bad trunks '10:4095' (expected VLAN ids 1..4094 separated by "
		   "':', e.g. 10:20:30)");
	expect_err("name = 'a'\nvif = [ 'trunks=10::20' ]\n",
		   "t.cfg:2: vif 0: bad trunks '10::20' (expected VLAN ids 1..4094 separated by "
		   "':', e.g. 10:20:30)");
}

static void test_err_other_vif_values(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'rate=10Mbit' ]\n",
		   "t.cfg:2: vif 0: bad rate '10Mbit' (expected N[GMK]b/s or N[GMK]B/s with an "
		   "optional @N[s|ms|us], e.g. 10Mb/s@50ms)");
	expect_err("name = 'a'\nvif = [ 'level=4' ]\n",
		   "t.cfg:2: vif 0: bad level '4' (expected 0..3)");
	expect_err("name = 'a'\nvif = [ 'pkt=59' ]\n",
		   "t.cfg:2: vif 0: bad pkt '59' (expected a frame size 60..65535)");
	/* a bridge name is what `pvnet switch add-br` takes: up to 31 characters */
	expect_err("name = 'a'\nvif = [ 'bridge=a-very-long-bridge-name-over-31-chars' ]\n",
		   "t.cfg:2: vif 0: bad bridge 'a-very-long-bridge-name-over-31-chars' (expected "
		   "1..31 characters from [A-Za-z0-9_.-], as pvnet switch add-br takes)");
	expect_err("name = 'a'\nvif = [ 'bridge=br/0' ]\n",
		   "t.cfg:2: vif 0: bad bridge 'br/0' (expected 1..31 characters from "
		   "[A-Za-z0-9_.-], as pvnet switch add-br takes)");
	expect_err("name = 'a'\nvif = [ 'type=netfront' ]\n",
		   "t.cfg:2: vif 0: bad type 'netfront' (expected 'vif' or 'ioemu')");
}

static void test_err_too_many_vifs(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ '', '', '', '', '', '', '', '',\n '' ]\n",
		   "t.cfg:3: too many vifs (max 8)");
	expect_ok("name = 'a'\nvif = [ '', '', '', '', '', '', '', '' ]\n");
	assert_int_equal(cfg.n_vifs, 8);
}

/* ---- xl compatibility ------------------------------------------------------ */

/* Warnings collected from the parser, one string per call. */
static char warns[16][512];
static unsigned n_warns;

static void collect_warn(void *arg, const char *msg)
{
	(void)arg;
	if (n_warns < 16)
		snprintf(warns[n_warns], sizeof(warns[0]), "%s", msg);
	n_warns++;
}

static int parse_ov(const char *text, const char *const *ov, unsigned n)
{
	struct pvnet_config_opts opts = {.overrides = ov, .n_overrides = n, .warn = collect_warn};

	memset(err, 0, sizeof(err));
	n_warns = 0;
	return pvnet_config_parse_ex("t.cfg", text, strlen(text), &opts, &cfg, err, sizeof(err));
}

static void expect_ok_ov(const char *text, const char *const *ov, unsigned n)
{
	int rc = parse_ov(text, ov, n);

	if (rc)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
}

static void test_numbers_octal_hex(void **state)
{
	(void)state;
	expect_ok("name = 'n'\nmemory = 0100\nmaxmem = 0x100\nvcpus = 010\n");
	assert_int_equal(cfg.memory_mib, 64);  /* octal, as strtol base 0 */
	assert_int_equal(cfg.maxmem_mib, 256); /* hex */
	assert_int_equal(cfg.vcpus, 8);
	expect_ok("name = 'n'\nmemory = 0X40\nmaxmem = \"0100\"\n");
	assert_int_equal(cfg.memory_mib, 64);
	assert_int_equal(cfg.maxmem_mib, 64); /* a quoted number is read the same way */
}

static void test_numbers_bad(void **state)
{
	(void)state;
	expect_err("name = 'n'\nmemory = 09\n",
		   "t.cfg:2: bad memory '09' (expected a number: decimal, octal with a leading 0, "
		   "or hex with 0x)");
	expect_err("name = 'n'\nmemory = 0x\n",
		   "t.cfg:2: bad memory '0x' (expected a number: decimal, octal with a leading 0, "
		   "or hex with 0x)");
	expect_err("name = 'n'\nvcpus = 0x81\n", "t.cfg:2: bad vcpus 129 (expected 1..128)");
	expect_err("name = 'n'\nmemory = 99999999999999999999\n",
		   "t.cfg:2: bad memory '99999999999999999999' (expected a number: decimal, octal "
		   "with a leading 0, or hex with 0x)");
}

static void test_strings_and_lists_as_xl(void **state)
{
	(void)state;
	/* both quotes, escapes, nested lists and numbers inside lists, empty lists,
	 * trailing commas, comments between items, ';' between statements */
	expect_ok("name = \"q\"; kernel = '/k\\x41\\t'\n"
		  "cpus = [ \"0-3\", 5, [ 1, 2, ], ]  # nested, mixed\n"
		  "pci = [ ]\n"
		  "vnuma = [ [ 'pnode=0', 'size=512', ],\n"
		  "          # a comment\n"
		  "          [ 'pnode=1', \"size=512\" ] ]\n"
		  "cmdline = 'a \"b\" c'");
	assert_string_equal(cfg.name, "q");
	assert_string_equal(cfg.kernel, "/kA\t");
	assert_string_equal(cfg.cmdline, "a \"b\" c");
	expect_err("name = 'a'\ncpus = [[[[[[[[[1]]]]]]]]]\n",
		   "t.cfg:2: lists nested too deep for 'cpus' (max 8)");
	expect_err("name = 'a\\q'\n",
		   "t.cfg:1: bad escape in string (expected \\\\, \\\", \\', \\a, \\b, \\f, \\n, "
		   "\\r, \\t, \\v or \\xHH)");
}

static void test_xl_keys_warn_once(void **state)
{
	(void)state;
	expect_ok_ov("name = 'w'\n"
		     "disk = [ 'phy:/dev/vg/w,xvda,w' ]\n"
		     "bootloader = 'pygrub'\n"
		     "on_reboot = 'restart'\n"
		     "on_poweroff = 'destroy'\n"
		     "maxvcpus = 4\n"
		     "cpus = '0-3'\n"
		     "vfb = [ 'vnc=1' ]\n"
		     "serial = 'pty'\n"
		     "disk += [ 'file:/x.img,xvdb,w' ]\n",
		     NULL, 0);
	assert_int_equal(n_warns, 8); /* disk once, though set twice */
	assert_string_equal(warns[0],
			    "t.cfg:2: warning: 'disk' is not implemented by pvnet; ignored");
	assert_string_equal(warns[1],
			    "t.cfg:3: warning: 'bootloader' is not implemented by pvnet; ignored");
	assert_string_equal(warns[4],
			    "t.cfg:6: warning: 'maxvcpus' is not implemented by pvnet; ignored");
	assert_string_equal(warns[7],
			    "t.cfg:9: warning: 'serial' is not implemented by pvnet; ignored");
	/* without a sink, warnings are dropped and the parse still succeeds */
	expect_ok("name = 'w'\ndisk = [ 'x' ]\n");
}

static void test_typos_are_errors(void **state)
{
	(void)state;
	expect_err("name = 'a'\n\nbootlader = 'pygrub'\n",
		   "t.cfg:3: unknown key 'bootlader' (did you mean 'bootloader'?)");
	expect_err("name = 'a'\nvfi = []\n", "t.cfg:2: unknown key 'vfi' (did you mean 'vif'?)");
	expect_err("name = 'a'\nfrobnicate = 1\n", "t.cfg:2: unknown key 'frobnicate'");
	expect_err("name = 'a'\nvcpus += 2\n", "t.cfg:2: cannot use += with a number for 'vcpus'");
}

static void test_root_extra_builder(void **state)
{
	(void)state;
	expect_ok_ov("name = 'r'\nroot = '/dev/xvda1 ro'\nextra = 'console=hvc0'\n"
		     "builder = 'hvm'\n",
		     NULL, 0);
	assert_string_equal(cfg.cmdline, "root=/dev/xvda1 ro console=hvc0");
	assert_string_equal(cfg.type, "hvm");
	assert_int_equal(n_warns, 1);
	assert_string_equal(warns[0], "t.cfg:4: warning: 'builder' is deprecated in xl.cfg(5); "
				      "read as type = \"hvm\"");
	expect_ok_ov("name = 'r'\ncmdline = 'quiet'\nextra = 'x'\nextra += ' y'\n", NULL, 0);
	assert_string_equal(cfg.cmdline, "quiet");
	assert_int_equal(n_warns, 1);
	expect_ok("name = 'r'\nextra = 'a'\nextra += ' b'\n");
	assert_string_equal(cfg.cmdline, "a b");
	expect_err("name = 'r'\ntype = 'pv'\nbuilder = 'hvm'\n",
		   "t.cfg:3: builder \"hvm\" contradicts type \"pv\"");
}

static void test_vif_xl_keys(void **state)
{
	(void)state;
	expect_ok_ov(
		"name = 'v'\nvif = [\n"
		" 'ip=10.0.0.5/24 10.0.0.9,gateway=10.0.0.254,vifname=web-eth0,devid=3,trusted',\n"
		" 'bridge=xenbr0,untrusted,gatewaydev=eth0,script=vif-route,backend=0',\n"
		" 'devid=0,script=/etc/xen/scripts/vif-bridge,model=e1000,type=ioemu',\n"
		" 'netdev=eth1,colo_checkpoint_host=1.2.3.4,forwarddev=eth2,backend=drv',\n"
		"]\n",
		NULL, 0);
	assert_int_equal(cfg.n_vifs, 4);
	assert_int_equal(cfg.vifs[0].devid, 3);
	assert_int_equal(cfg.vifs[1].devid, 1); /* lowest id nobody took: 0 is vif 2's */
	assert_int_equal(cfg.vifs[2].devid, 0);
	assert_int_equal(cfg.vifs[3].devid, 2);
	assert_string_equal(cfg.vifs[0].vifname, "web-eth0");
	assert_int_equal(cfg.vifs[0].trusted, 1);
	assert_int_equal(cfg.vifs[1].trusted, 0);
	assert_int_equal(cfg.vifs[2].trusted, -1);
	assert_int_equal(cfg.vifs[0].n_gateway, 1);
	assert_string_equal(cfg.vifs[0].gateway[0].text, "10.0.0.254");
	assert_string_equal(cfg.vifs[1].gatewaydev, "eth0");
	assert_string_equal(cfg.vifs[1].bridge, "xenbr0");
	/* one warning per key over all vifs: script, gatewaydev, netdev, colo, forwarddev,
	 * backend, then (at the end, knowing the domain is PV) model and type */
	assert_int_equal(n_warns, 8);
	assert_string_equal(warns[0], "t.cfg:4: warning: vif 1: gatewaydev=eth0 is for xl's "
				      "vif-route script, which pvnet does not run; recorded, "
				      "otherwise ignored");
	assert_string_equal(warns[1], "t.cfg:4: warning: vif 1: script=vif-route is not run: "
				      "pvnetd plugs the vif into its own switch; recorded, "
				      "otherwise ignored");
	assert_string_equal(warns[6],
			    "t.cfg:5: warning: vif 2: model=e1000 is for HVM guests; ignored for "
			    "a pv guest");
	assert_string_equal(warns[7], "t.cfg:5: warning: vif 2: type=ioemu is for HVM guests; a "
				      "pv guest gets a PV vif");
	/* HVM: another model is read as virtio */
	expect_ok_ov("name = 'h'\ntype = 'hvm'\nvif = [ 'model=rtl8139' ]\n", NULL, 0);
	assert_string_equal(cfg.vifs[0].model, "virtio");
	assert_int_equal(n_warns, 1);
}

static void test_vif_xl_errors(void **state)
{
	(void)state;
	expect_err("name = 'a'\nvif = [ 'devid=1', 'devid=1' ]\n",
		   "t.cfg:2: vif 1: devid 1 is already vif 0's");
	expect_err("name = 'a'\nvif = [ 'devid=256' ]\n",
		   "t.cfg:2: vif 0: bad devid '256' (expected 0..255)");
	expect_err("name = 'a'\nvif = [ 'vifname=p1', 'vifname=p1' ]\n",
		   "t.cfg:2: vif 1: vifname 'p1' is already vif 0's");
	expect_err("name = 'a'\nvif = [ 'vifname=vif3.0' ]\n",
		   "t.cfg:2: vif 0: bad vifname 'vif3.0' (names vifDOMID.DEVID are those pvnet "
		   "gives vifs; pick another)");
	expect_err("name = 'a'\nvif = [ 'vifname=a-very-long-port-name' ]\n",
		   "t.cfg:2: vif 0: bad vifname 'a-very-long-port-name' (expected an interface "
		   "name of 1..15 characters)");
	expect_err("name = 'a'\nvif = [ 'trusted,untrusted' ]\n",
		   "t.cfg:2: vif 0: duplicate vif flag 'untrusted' (trusted and untrusted exclude "
		   "each other)");
	expect_err("name = 'a'\nvif = [ 'ip=10.0.0.5/24,gateway=10.1.0.1' ]\n",
		   "t.cfg:2: vif 0: gateway 10.1.0.1 is not inside any ip=ADDRESS/PREFIX of this "
		   "vif (the guest could not reach it)");
	expect_err("name = 'a'\nvif = [ 'ip=10.0.0.5,gateway=10.0.0.1' ]\n",
		   "t.cfg:2: vif 0: gateway 10.0.0.1 is not inside any ip=ADDRESS/PREFIX of this "
		   "vif (the guest could not reach it)");
	expect_err("name = 'a'\nvif = [ 'gateway=10.0.0.1/24' ]\n",
		   "t.cfg:2: vif 0: bad gateway '10.0.0.1/24' (expected an address without a "
		   "prefix)");
	expect_err("name = 'a'\nvif = [ 'gateway=10.0.0.1 10.0.0.2' ]\n",
		   "t.cfg:2: vif 0: bad gateway '10.0.0.2' (one gateway per address family)");
	expect_err("name = 'a'\nvif = [ 'gatewaydev=eth0,netdev=eth1' ]\n",
		   "t.cfg:2: vif 0: duplicate vif key 'netdev' (an alias of gatewaydev)");
	expect_ok("name = 'a'\nvif = [ 'ip=10.0.0.5/24 fd00::5/64,gateway=fd00::1 10.0.0.1' ]\n");
	assert_int_equal(cfg.vifs[0].n_gateway, 2);
	assert_int_equal(cfg.vifs[0].gateway[0].family, AF_INET6);
}

static void test_vif_parse_warn_api(void **state)
{
	struct pvnet_vif_cfg v;

	(void)state;
	n_warns = 0;
	assert_int_equal(pvnet_vif_parse_warn("script=vif-bridge,backend=drv1,gatewaydev=eth0", &v,
					      collect_warn, NULL, err, sizeof(err)),
			 0);
	assert_int_equal(n_warns, 3);
	assert_string_equal(warns[0], "warning: vif: script=vif-bridge is not run: pvnetd plugs "
				      "the vif into its own switch; recorded, otherwise ignored");
	assert_string_equal(v.script, "vif-bridge");
	assert_string_equal(v.backend, "drv1");
	assert_int_equal(v.devid, -1); /* assigned by pvnet_config_parse */
	/* without a sink: the same result, silently */
	assert_int_equal(pvnet_vif_parse("script=vif-bridge", &v, err, sizeof(err)), 0);
}

static void test_vif_vlan_xl_syntax(void **state)
{
	struct pvnet_vif_cfg v;

	(void)state;
	assert_int_equal(pvnet_vif_parse("vlan=10", &v, err, sizeof(err)), 0);
	assert_int_equal(v.vlan, 10);
	assert_int_equal(v.n_trunks, 0);
	assert_int_equal(pvnet_vif_parse("vlan=10p/20", &v, err, sizeof(err)), 0);
	assert_int_equal(v.vlan, 10);
	assert_int_equal(v.n_trunks, 1);
	assert_int_equal(v.trunks[0], 20);
	assert_int_equal(pvnet_vif_parse("vlan=10p/100+10x4/7-8", &v, err, sizeof(err)), 0);
	assert_int_equal(v.vlan, 10);
	assert_int_equal(v.n_trunks, 7);
	assert_int_equal(v.trunks[0], 100);
	assert_int_equal(v.trunks[4], 140);
	assert_int_equal(v.trunks[6], 8);
	assert_int_equal(pvnet_vif_parse("vlan=10/20", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad vlan '10/20' (one VLAN must be marked as the PVID with 'p', "
				 "e.g. 10p/20)");
	assert_int_equal(pvnet_vif_parse("vlan=10p/20u", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad vlan '10p/20u' (untagged VLANs other than the PVID are not "
				 "implemented)");
	assert_int_equal(pvnet_vif_parse("vlan=10p/10", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad vlan '10p/10' (VLAN 10 listed twice)");
	assert_int_equal(pvnet_vif_parse("vlan=10p/20,trunks=30", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(
		err, "give tagged VLANs either in xl's vlan=N/M form or as trunks=, not both");
	assert_int_equal(pvnet_vif_parse("trunks=30,vlan=5", &v, err, sizeof(err)), 0);
	assert_int_equal(v.vlan, 5);
	assert_int_equal(v.n_trunks, 1);
	assert_int_equal(pvnet_vif_parse("vlan=4000+100x1", &v, err, sizeof(err)), -EINVAL);
}

static void test_overrides(void **state)
{
	const char *base = "name = 'o'\nmemory = 64\nvif = [ 'bridge=br0' ]\n";

	(void)state;
	/* a key of the file replaced, a new one added, a bare word is a string */
	expect_ok_ov(base, (const char *const[]){"memory=0x80", "name=o2", "vcpus=2"}, 3);
	assert_int_equal(cfg.memory_mib, 128);
	assert_string_equal(cfg.name, "o2");
	assert_string_equal(cfg.netns, "o2");
	assert_int_equal(cfg.vcpus, 2);
	/* vif replaced, then appended to */
	expect_ok_ov(base,
		     (const char *const[]){"vif=['bridge=br1,vifname=p1']",
					   "vif+=[\"bridge=br2\"]"},
		     2);
	assert_int_equal(cfg.n_vifs, 2);
	assert_string_equal(cfg.vifs[0].bridge, "br1");
	assert_string_equal(cfg.vifs[0].vifname, "p1");
	assert_string_equal(cfg.vifs[1].bridge, "br2");
	assert_int_equal(cfg.vifs[1].devid, 1);
	/* two overrides of one key: the last wins, as in xl */
	expect_ok_ov(base, (const char *const[]){"memory=100", "memory=200"}, 2);
	assert_int_equal(cfg.memory_mib, 200);
	/* a statement with ';', and xl-only keys warn */
	expect_ok_ov(base, (const char *const[]){"vcpus=3; disk=['x']"}, 1);
	assert_int_equal(cfg.vcpus, 3);
	assert_int_equal(n_warns, 1);
	assert_string_equal(warns[0],
			    "<override 1>:1: warning: 'disk' is not implemented by pvnet; ignored");
	/* errors name the override */
	assert_int_equal(parse_ov(base, (const char *const[]){"vcpus=2", "memroy=5"}, 2), -EINVAL);
	assert_string_equal(err, "<override 2>:1: unknown key 'memroy' (did you mean 'memory'?)");
	assert_int_equal(parse_ov(base, (const char *const[]){"memory=lots"}, 1), -EINVAL);
	assert_string_equal(err, "<override 1>:1: bad memory 'lots' (expected a number: decimal, "
				 "octal with a leading 0, or hex with 0x)");
	assert_int_equal(parse_ov(base, (const char *const[]){"vif=['mtu=1']"}, 1), -EINVAL);
	assert_string_equal(err, "<override 1>:1: vif 0: bad mtu '1' (expected 68..65535)");
	assert_int_equal(parse_ov(base, (const char *const[]){""}, 1), -EINVAL);
	assert_string_equal(err, "<override 1>:1: empty override (expected KEY=VALUE)");
	/* the file's own duplicates are still errors */
	assert_int_equal(parse_ov("name='a'\nname='b'\n", NULL, 0), -EINVAL);
}

static void test_domain_gateway(void **state)
{
	(void)state;
	expect_ok("name = 'g'\ngateway = '10.1.0.1 fd01::1'\n"
		  "vif = [ 'ip=10.0.0.5/24', 'ip=10.1.0.5/16 fd01::5/64' ]\n");
	assert_int_equal(cfg.vifs[0].n_gateway, 0);
	assert_int_equal(cfg.vifs[1].n_gateway, 2);
	assert_string_equal(cfg.vifs[1].gateway[0].text, "10.1.0.1");
	expect_err("name = 'g'\ngateway = '10.9.0.1'\nvif = [ 'ip=10.0.0.5/24' ]\n",
		   "t.cfg:2: gateway 10.9.0.1 is not inside any vif's ip=ADDRESS/PREFIX");
}

static void test_json(void **state)
{
	char *j;

	(void)state;
	expect_ok("name = 'j'\nmemory = 0x80\nuuid = '5E0D9D8A-1C2B-4F3A-9E1D-0A1B2C3D4E5F'\n"
		  "vif = [ 'mac=00:16:3e:00:00:07,ip=10.0.0.7/24 10.0.0.8,gateway=10.0.0.1,"
		  "vifname=j-eth0,rate=10Mb/s,vlan=10p/20,trusted' ]\n");
	j = pvnet_config_to_json(&cfg);
	assert_non_null(j);
	assert_non_null(strstr(j, "\"name\": \"j\""));
	assert_non_null(strstr(j, "\"memory\": 128"));
	assert_non_null(strstr(j, "\"uuid\": \"5e0d9d8a-1c2b-4f3a-9e1d-0a1b2c3d4e5f\""));
	assert_non_null(strstr(j, "\"kernel\": null"));
	assert_non_null(strstr(j, "\"mac\": \"00:16:3e:00:00:07\""));
	assert_non_null(strstr(j, "\"vifname\": \"j-eth0\""));
	assert_non_null(strstr(j, "\"10.0.0.8\""));
	assert_non_null(strstr(j, "\"gateway\": [\n        \"10.0.0.1\"\n      ]"));
	assert_non_null(strstr(j, "\"bytes_per_interval\": 62500"));
	assert_non_null(strstr(j, "\"vlan\": 10"));
	assert_non_null(strstr(j, "\"trusted\": true"));
	assert_int_equal(j[strlen(j) - 1], '\n');
	free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_vif_all_keys),
		cmocka_unit_test(test_vif_defaults),
		cmocka_unit_test(test_generated_mac_stable),
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_mac_roundtrip),
		cmocka_unit_test(test_load_names_file),
		cmocka_unit_test(test_err_buffer_handling),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_unknown_vif_key),
		cmocka_unit_test(test_err_bad_mac),
		cmocka_unit_test(test_err_expected_equals),
		cmocka_unit_test(test_err_missing_value),
		cmocka_unit_test(test_err_trailing_garbage),
		cmocka_unit_test(test_err_unterminated_string),
		cmocka_unit_test(test_err_unterminated_list),
		cmocka_unit_test(test_err_missing_name),
		cmocka_unit_test(test_err_bad_name),
		cmocka_unit_test(test_err_duplicate_key),
		cmocka_unit_test(test_err_type_mismatch),
		cmocka_unit_test(test_err_int_range),
		cmocka_unit_test(test_err_mac_multicast),
		cmocka_unit_test(test_err_mac_zero),
		cmocka_unit_test(test_err_duplicate_mac),
		cmocka_unit_test(test_err_ip_without_prefix),
		cmocka_unit_test(test_err_ip_bad_address),
		cmocka_unit_test(test_err_ip_prefix_range),
		cmocka_unit_test(test_err_mtu_range),
		cmocka_unit_test(test_err_queues_range),
		cmocka_unit_test(test_err_vlan_range),
		cmocka_unit_test(test_err_other_vif_values),
		cmocka_unit_test(test_err_too_many_vifs),
		cmocka_unit_test(test_numbers_octal_hex),
		cmocka_unit_test(test_numbers_bad),
		cmocka_unit_test(test_strings_and_lists_as_xl),
		cmocka_unit_test(test_xl_keys_warn_once),
		cmocka_unit_test(test_typos_are_errors),
		cmocka_unit_test(test_root_extra_builder),
		cmocka_unit_test(test_vif_xl_keys),
		cmocka_unit_test(test_vif_xl_errors),
		cmocka_unit_test(test_vif_vlan_xl_syntax),
		cmocka_unit_test(test_vif_parse_warn_api),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_domain_gateway),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
