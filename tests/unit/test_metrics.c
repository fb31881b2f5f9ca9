/* Unit tests for the machine-readable helpers (include/pvnet/metrics.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pvnet/metrics.h>

static void test_kv_line_port(void **state)
{
	json_t *o = json_object();

	(void)state;
	assert_int_equal(pvnet_kv_line_to_json("vif1.0 port 2 type=vif up mode=trunk native=0 "
					       "vlans=10,20 offloads=csum,tso4 macs=1/1024 "
					       "mirror=/tmp/m.pcap(12/100) learning",
					       3, o),
			 0);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "vif");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "up");
	assert_string_equal(json_string_value(json_object_get(o, "mode")), "trunk");
	assert_int_equal(json_integer_value(json_object_get(o, "native")), 0);
	assert_int_equal(json_array_size(json_object_get(o, "vlans")), 2);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "vlans"), 1)), 20);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "offloads"), 1)),
			    "tso4");
	assert_string_equal(json_string_value(json_object_get(o, "macs")), "1/1024");
	assert_string_equal(json_string_value(json_object_get(o, "mirror")), "/tmp/m.pcap(12/100)");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "flags"), 0)),
			    "learning");
	/* the skipped tokens are not keys */
	assert_null(json_object_get(o, "port"));
	json_decref(o);
}

static void test_kv_line_none_and_untagged(void **state)
{
	json_t *o = json_object();

	(void)state;
	assert_int_equal(pvnet_kv_line_to_json("u0 port 1 type=afpacket down mode=access "
					       "vlan=untagged offloads=none vlans=none  ",
					       3, o),
			 0);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "down");
	assert_string_equal(json_string_value(json_object_get(o, "vlan")), "untagged");
	assert_int_equal(json_array_size(json_object_get(o, "offloads")), 0);
	assert_int_equal(json_array_size(json_object_get(o, "vlans")), 0);
	/* an empty line and a line of skipped tokens leave the object as it was */
	assert_int_equal(pvnet_kv_line_to_json("", 0, o), 0);
	assert_int_equal(pvnet_kv_line_to_json("a b c", 3, o), 0);
	assert_int_equal(json_object_size(o), 6);
	json_decref(o);
}

static void test_table(void **state)
{
	json_t *t;

	(void)state;
	t = pvnet_table_to_json("NAME            PLUGIN     WIRE   VFS   WIRE_RX\n"
				"nic0            simnic     w0     0/2        17\n"
				"\n"
				"nic1            simnic     -      1/4         0\n");
	assert_non_null(t);
	assert_int_equal(json_array_size(t), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "name")),
			    "nic0");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(t, 0), "wire_rx")), 17);
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 1), "vfs")), "1/4");
	assert_true(json_is_null(json_object_get(json_array_get(t, 1), "wire")));
	json_decref(t);
	/* header only: no rows; a ragged row: refused */
	t = pvnet_table_to_json("A B\n");
	assert_int_equal(json_array_size(t), 0);
	json_decref(t);
	assert_null(pvnet_table_to_json("A B\n1 2 3\n"));
}

static void test_prom_escape(void **state)
{
	char buf[32];

	(void)state;
	pvnet_prom_escape("a\"b\\c\nd", buf, sizeof(buf));
	assert_string_equal(buf, "a\\\"b\\\\c\\nd");
	pvnet_prom_escape("0123456789", buf, 6); /* truncated, terminated */
	assert_true(strlen(buf) < 6);
}

static void test_prom_render(void **state)
{
	json_error_t err;
	json_t *j = json_loads(
		"{\"workers\":2,\"vifs\":[{\"name\":\"vif1.0\",\"domid\":1,\"domain\":\"web\\\"1\","
		"\"bridge\":\"br0\",\"connected\":true,\"tx_packets\":5,\"drops\":{\"bad_gref\":3}}],"
		"\"bridges\":[{\"name\":\"br0\",\"flooded\":7,\"ports\":[{\"name\":\"vif1.0\","
		"\"rx_packets\":9,\"drops\":{\"spoofed_mac\":1,\"vlan\":0}}]}]}",
		0, &err);
	char *text;

	(void)state;
	assert_non_null(j);
	text = pvnet_prom_render(j);
	assert_non_null(text);
	assert_non_null(strstr(text,
			       "# TYPE pvnet_netback_workers gauge\npvnet_netback_workers 2\n"));
	assert_non_null(strstr(text,
			       "# TYPE pvnet_vif_tx_packets_total counter\n"
			       "pvnet_vif_tx_packets_total{domain=\"web\\\"1\",vif=\"vif1.0\","
			       "bridge=\"br0\"} 5\n"));
	assert_non_null(strstr(text, "pvnet_vif_connected{domain=\"web\\\"1\",vif=\"vif1.0\","
				     "bridge=\"br0\"} 1\n"));
	assert_non_null(strstr(text, "pvnet_vif_drops_total{domain=\"web\\\"1\",vif=\"vif1.0\","
				     "bridge=\"br0\",reason=\"bad_gref\"} 3\n"));
	assert_non_null(strstr(text, "pvnet_bridge_flooded_total{bridge=\"br0\"} 7\n"));
	assert_non_null(strstr(text,
			       "pvnet_port_rx_packets_total{bridge=\"br0\",port=\"vif1.0\"} 9\n"));
	assert_non_null(strstr(text, "pvnet_port_drops_total{bridge=\"br0\",port=\"vif1.0\","
				     "reason=\"vlan\"} 0\n"));
	/* keys missing from the object give no sample (only the family's header) */
	assert_null(strstr(text, "pvnet_vif_rx_bytes_total{"));
	assert_non_null(strstr(text, "# TYPE pvnet_vif_rx_bytes_total counter\n"));
	/* every counter ends in _total, every gauge does not */
	for (const char *p = strstr(text, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
		const char *sp = strchr(p + 7, ' ');
		bool total = sp - p > 13 && !strncmp(sp - 6, "_total", 6);
		assert_int_equal(total, !strncmp(sp + 1, "counter", 7));
	}
	free(text);
	json_decref(j);
	/* an empty object renders only the headers */
	j = json_object();
	text = pvnet_prom_render(j);
	assert_non_null(text);
	assert_null(strstr(text, "\npvnet_"));
	free(text);
	json_decref(j);
}

static void test_proc_stat(void **state)
{
	uint64_t t = 0;

	(void)state;
	/* a command name with blanks and parentheses */
	assert_int_equal(pvnet_proc_stat_cpu_ticks("1234 (pv (net) g) S 1 1234 1234 0 -1 4194560 "
						   "100 0 0 0 250 50 0 0 20 0 1 0 100 0 0",
						   &t),
			 0);
	assert_int_equal(t, 300);
	assert_int_equal(pvnet_proc_stat_cpu_ticks("garbage", &t), -EINVAL);
	assert_int_equal(pvnet_proc_stat_cpu_ticks("1 (x) S 1 2", &t), -EINVAL);
}

static void test_counter_delta(void **state)
{
	(void)state;
	assert_int_equal(pvnet_counter_delta(10, 15), 5);
	assert_int_equal(pvnet_counter_delta(10, 10), 0);
	assert_int_equal(pvnet_counter_delta(100, 7), 7); /* reset: counts from 0 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_line_port),
		cmocka_unit_test(test_kv_line_none_and_untagged),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_prom_escape),
		cmocka_unit_test(test_prom_render),
		cmocka_unit_test(test_proc_stat),
		cmocka_unit_test(test_counter_delta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
