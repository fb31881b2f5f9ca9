/* SPDX-License-Identifier: MIT */
/* One switch port as data, for text and JSON alike (switch_report.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <pvnet/metrics.h>

#include "switch_report.h"

json_t *swr_port_settings(struct vsw_port *port)
{
	char line[1024];
	json_t *e = json_object();

	if (!e)
		return NULL;
	vsw_port_format(port, line, sizeof(line));
	if (json_object_set_new(e, "name", json_string(vsw_port_name(port))) ||
	    json_object_set_new(e, "port_no", json_integer(vsw_port_no(port))) ||
	    pvnet_kv_line_to_json(line, 3, e) < 0 ||
	    json_object_set_new(e, "summary", json_string(line))) {
		json_decref(e);
		return NULL;
	}
	return e;
}

int swr_port_counters(struct vsw_port *port, json_t *e)
{
	struct vsw_port_fdb_stats fs;
	struct vsw_port_stats st;
	json_t *drops = json_object();
	int bad = !drops;

	vsw_port_get_stats(port, &st);
	vsw_port_get_fdb_stats(port, &fs);
	bad |= json_object_set_new(e, "rx_packets", json_integer((json_int_t)st.rx_packets));
	bad |= json_object_set_new(e, "rx_bytes", json_integer((json_int_t)st.rx_bytes));
	bad |= json_object_set_new(e, "tx_packets", json_integer((json_int_t)st.tx_packets));
	bad |= json_object_set_new(e, "tx_bytes", json_integer((json_int_t)st.tx_bytes));
	bad |= json_object_set_new(e, "macs", json_integer((json_int_t)fs.entries));
	bad |= json_object_set_new(e, "mac_limit", json_integer((json_int_t)fs.limit));
	bad |= json_object_set_new(e, "mac_learnt", json_integer((json_int_t)fs.learnt));
	bad |= json_object_set_new(e, "mac_evicted", json_integer((json_int_t)fs.evicted));
	bad |= json_object_set_new(e, "mac_limit_hits", json_integer((json_int_t)fs.limit_hits));
	for (unsigned r = 0; drops && r < VSW_DROP__MAX; r++)
		bad |= json_object_set_new(drops, vsw_drop_reason_name((enum vsw_drop_reason)r),
					   json_integer((json_int_t)st.drops[r]));
	bad |= json_object_set_new(e, "drops", drops);
	return bad ? -ENOMEM : 0;
}

json_t *swr_port_show(struct vsw_bridge *br, struct vsw_port *port)
{
	json_t *j = swr_port_settings(port);

	if (!j || json_object_set_new(j, "bridge", json_string(vsw_bridge_name(br))) ||
	    swr_port_counters(port, j) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static long long ji(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

char *swr_port_show_text(const json_t *j)
{
	const char *summary = json_string_value(json_object_get(j, "summary"));
	const char *reason;
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	json_t *v;
	int i = 0;

	if (!f)
		return NULL;
	fprintf(f, "%s\n", summary ? summary : "");
	fprintf(f, "  rx_packets=%lld rx_bytes=%lld tx_packets=%lld tx_bytes=%lld\n",
		ji(j, "rx_packets"), ji(j, "rx_bytes"), ji(j, "tx_packets"), ji(j, "tx_bytes"));
	fprintf(f, "  drops: ");
	json_object_foreach(json_object_get(j, "drops"), reason, v)
		fprintf(f, "%s%s=%lld", i++ ? " " : "", reason, (long long)json_integer_value(v));
	fprintf(f, "\n");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
