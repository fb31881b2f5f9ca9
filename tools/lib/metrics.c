/* SPDX-License-Identifier: MIT */
/* Machine-readable views of the read commands: pure helpers (include/pvnet/metrics.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/metrics.h>

/* A value of decimal digits as an integer, "-" as null (tables only), else a string. */
static json_t *scalar(const char *s, size_t len, bool dash_null)
{
	size_t i = 0;

	if (dash_null && len == 1 && s[0] == '-')
		return json_null();
	while (i < len && i < 19 && isdigit((unsigned char)s[i]))
		i++;
	if (len && i == len)
		return json_integer(strtoll(s, NULL, 10));
	return json_stringn(s, len);
}

/* "10,20" -> [10, 20]; "csum,tso4" -> ["csum", "tso4"]; "none" -> []. */
static json_t *list_value(const char *s, size_t len)
{
	json_t *arr = json_array();

	if (!arr || (len == 4 && !memcmp(s, "none", 4)))
		return arr;
	while (len) {
		const char *comma = memchr(s, ',', len);
		size_t n = comma ? (size_t)(comma - s) : len;
		if (n && json_array_append_new(arr, scalar(s, n, false)) < 0) {
			json_decref(arr);
			return NULL;
		}
		if (!comma)
			break;
		len -= n + 1;
		s = comma + 1;
	}
	return arr;
}

int pvnet_kv_line_to_json(const char *line, unsigned skip, json_t *obj)
{
	json_t *flags = NULL;
	unsigned tok = 0;

	while (*line) {
		const char *start, *eq;
		size_t len;
		char key[64];
		json_t *v;

		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line)
			break;
		start = line;
		while (*line && *line != ' ' && *line != '\t')
			line++;
		len = (size_t)(line - start);
		if (tok++ < skip)
			continue;
		eq = memchr(start, '=', len);
		if (!eq) {
			if ((len == 2 && !memcmp(start, "up", 2)) ||
			    (len == 4 && !memcmp(start, "down", 4))) {
				if (json_object_set_new(obj, "state", json_stringn(start, len)) < 0)
					return -ENOMEM;
				continue;
			}
			if (!flags && !(flags = json_object_get(obj, "flags"))) {
				if (json_object_set_new(obj, "flags", json_array()) < 0)
					return -ENOMEM;
				flags = json_object_get(obj, "flags");
			}
			if (json_array_append_new(flags, json_stringn(start, len)) < 0)
				return -ENOMEM;
			continue;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - start), start);
		if (!key[0])
			continue;
		eq++;
		len -= (size_t)(eq - start);
		if (!strcmp(key, "vlans") || !strcmp(key, "offloads") || !strcmp(key, "remotes"))
			v = list_value(eq, len);
		else
			v = scalar(eq, len, false);
		if (!v || json_object_set_new(obj, key, v) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Splits one line into at most max cells (pointers into line, lengths). */
static unsigned split_cells(const char *line, size_t size, const char **cell, size_t *len,
			    unsigned max)
{
	unsigned n = 0;
	size_t i = 0;

	while (i < size) {
		while (i < size && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i >= size)
			break;
		if (n == max)
			return max + 1;
		cell[n] = line + i;
		while (i < size && line[i] != ' ' && line[i] != '\t')
			i++;
		len[n] = (size_t)(line + i - cell[n]);
		n++;
	}
	return n;
}

#define TABLE_MAX_COLS 32

json_t *pvnet_table_to_json(const char *text)
{
	const char *hcell[TABLE_MAX_COLS], *cell[TABLE_MAX_COLS];
	size_t hlen[TABLE_MAX_COLS], clen[TABLE_MAX_COLS];
	char keys[TABLE_MAX_COLS][32];
	unsigned ncols = 0;
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t size = nl ? (size_t)(nl - text) : strlen(text);
		unsigned n = split_cells(text, size, ncols ? cell : hcell, ncols ? clen : hlen,
					 TABLE_MAX_COLS);

		text += size + (nl ? 1 : 0);
		if (n == 0)
			continue;
		if (n > TABLE_MAX_COLS)
			goto bad;
		if (!ncols) {
			ncols = n;
			for (unsigned i = 0; i < n; i++) {
				size_t k;
				for (k = 0; k < hlen[i] && k < sizeof(keys[i]) - 1; k++)
					keys[i][k] = (char)tolower((unsigned char)hcell[i][k]);
				keys[i][k] = 0;
			}
			continue;
		}
		if (n != ncols)
			goto bad;
		json_t *row = json_object();
		if (!row || json_array_append_new(arr, row) < 0)
			goto bad;
		for (unsigned i = 0; i < n; i++)
			if (json_object_set_new(row, keys[i], scalar(cell[i], clen[i], true)) < 0)
				goto bad;
	}
	return arr;
bad:
	json_decref(arr);
	return NULL;
}

void pvnet_prom_escape(const char *in, char *buf, size_t size)
{
	size_t n = 0;

	if (!size)
		return;
	for (; *in && n + 3 < size; in++) {
		if (*in == '\\' || *in == '"') {
			buf[n++] = '\\';
			buf[n++] = *in;
		} else if (*in == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *in;
		}
	}
	buf[n] = 0;
}

enum prom_scope { PROM_TOP, PROM_VIF, PROM_BRIDGE, PROM_PORT };

/* One metric family: where its samples are, which key, which type. */
struct prom_family {
	enum prom_scope scope;
	const char *key;  /* the JSON key; an object of reasons for *_drops_total */
	const char *name; /* without the pvnet_ prefix */
	const char *type; /* counter or gauge */
	const char *help;
};

static const struct prom_family families[] = {
	{PROM_TOP, "workers", "netback_workers", "gauge", "netback worker threads"},
	{PROM_VIF, "connected", "vif_connected", "gauge", "1 if the vif's rings are connected"},
	{PROM_VIF, "tx_packets", "vif_tx_packets_total", "counter",
	 "packets the guest sent on the vif (its TX ring)"},
	{PROM_VIF, "tx_bytes", "vif_tx_bytes_total", "counter", "bytes the guest sent on the vif"},
	{PROM_VIF, "rx_packets", "vif_rx_packets_total", "counter",
	 "packets delivered to the guest (its RX ring)"},
	{PROM_VIF, "rx_bytes", "vif_rx_bytes_total", "counter", "bytes delivered to the guest"},
	{PROM_VIF, "rx_queued_bytes", "vif_rx_queued_bytes", "gauge",
	 "bytes queued for the guest, not yet on its RX ring"},
	{PROM_VIF, "notifies", "vif_notifies_total", "counter", "event channel notifications sent"},
	{PROM_VIF, "drops", "vif_drops_total", "counter", "packets netback dropped, by reason"},
	{PROM_BRIDGE, "fdb_entries", "bridge_fdb_entries", "gauge", "MAC table entries"},
	{PROM_BRIDGE, "flooded", "bridge_flooded_total", "counter",
	 "frames flooded (unknown destination, broadcast, multicast)"},
	{PROM_BRIDGE, "sw_csum", "bridge_sw_csum_total", "counter",
	 "checksums completed in software"},
	{PROM_BRIDGE, "sw_tso_segs", "bridge_sw_tso_segs_total", "counter",
	 "segments made by software TSO"},
	{PROM_BRIDGE, "fdb_evicted", "bridge_fdb_evicted_total", "counter",
	 "MAC table entries evicted to make room"},
	{PROM_BRIDGE, "fdb_ageing_s", "bridge_fdb_ageing_seconds", "gauge", "MAC ageing time"},
	{PROM_PORT, "rx_packets", "port_rx_packets_total", "counter",
	 "frames the switch received on the port"},
	{PROM_PORT, "rx_bytes", "port_rx_bytes_total", "counter",
	 "bytes the switch received on the port"},
	{PROM_PORT, "tx_packets", "port_tx_packets_total", "counter",
	 "frames the switch sent on the port"},
	{PROM_PORT, "tx_bytes", "port_tx_bytes_total", "counter",
	 "bytes the switch sent on the port"},
	{PROM_PORT, "macs", "port_macs", "gauge", "MAC table entries learnt on the port"},
	{PROM_PORT, "mac_limit", "port_mac_limit", "gauge", "the port's MAC table limit"},
	{PROM_PORT, "mac_learnt", "port_mac_learnt_total", "counter", "MACs learnt on the port"},
	{PROM_PORT, "mac_evicted", "port_mac_evicted_total", "counter",
	 "MACs of the port evicted from the table"},
	{PROM_PORT, "mac_limit_hits", "port_mac_limit_hits_total", "counter",
	 "new MACs not learnt because the port was at its limit"},
	{PROM_PORT, "drops", "port_drops_total", "counter", "frames the switch dropped, by reason"},
};

/* Prints one sample: name{labels[,reason]} value. */
static void prom_sample(FILE *f, const char *name, const char *labels, const char *reason,
			const json_t *v)
{
	char esc[256];

	fprintf(f, "pvnet_%s", name);
	if (labels[0] || reason) {
		fprintf(f, "{%s", labels);
		if (reason) {
			pvnet_prom_escape(reason, esc, sizeof(esc));
			fprintf(f, "%sreason=\"%s\"", labels[0] ? "," : "", esc);
		}
		fputc('}', f);
	}
	if (json_is_integer(v))
		fprintf(f, " %lld\n", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(f, " %.17g\n", json_real_value(v));
	else
		fprintf(f, " %d\n", json_is_true(v) ? 1 : 0);
}

/* The samples of family fam in object o (a vif, bridge, port or the top). */
static void prom_object(FILE *f, const struct prom_family *fam, const json_t *o, const char *labels)
{
	const json_t *v = json_object_get(o, fam->key);
	const char *reason;
	json_t *n;

	if (!v)
		return;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, reason, n) if (json_is_number(n))
			prom_sample(f, fam->name, labels, reason, n);
		return;
	}
	if (json_is_number(v) || json_is_boolean(v))
		prom_sample(f, fam->name, labels, NULL, v);
}

/* name="escaped value" appended to labels. */
static void label_add(char *labels, size_t size, const char *name, const char *value)
{
	char esc[200];
	size_t n = strlen(labels);

	if (!value)
		return;
	pvnet_prom_escape(value, esc, sizeof(esc));
	snprintf(labels + n, size - n, "%s%s=\"%s\"", n ? "," : "", name, esc);
}

char *pvnet_prom_render(const json_t *stats)
{
	const json_t *vifs = json_object_get(stats, "vifs");
	const json_t *bridges = json_object_get(stats, "bridges");
	char *text = NULL, labels[768];
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		const struct prom_family *fam = &families[i];
		size_t j, k;
		json_t *x, *p;

		fprintf(f, "# HELP pvnet_%s %s\n# TYPE pvnet_%s %s\n", fam->name, fam->help,
			fam->name, fam->type);
		switch (fam->scope) {
		case PROM_TOP:
			prom_object(f, fam, stats, "");
			break;
		case PROM_VIF:
			json_array_foreach((json_t *)vifs, j, x)
			{
				char id[16];
				const char *dom = json_string_value(json_object_get(x, "domain"));
				labels[0] = 0;
				snprintf(id, sizeof(id), "%lld",
					 (long long)json_integer_value(json_object_get(x,
										       "domid")));
				label_add(labels, sizeof(labels), "domain", dom ? dom : id);
				label_add(labels, sizeof(labels), "vif",
					  json_string_value(json_object_get(x, "name")));
				label_add(labels, sizeof(labels), "bridge",
					  json_string_value(json_object_get(x, "bridge")));
				prom_object(f, fam, x, labels);
			}
			break;
		case PROM_BRIDGE:
			json_array_foreach((json_t *)bridges, j, x)
			{
				labels[0] = 0;
				label_add(labels, sizeof(labels), "bridge",
					  json_string_value(json_object_get(x, "name")));
				prom_object(f, fam, x, labels);
			}
			break;
		case PROM_PORT:
			json_array_foreach((json_t *)bridges, j, x)
			{
				json_array_foreach(json_object_get(x, "ports"), k, p)
				{
					labels[0] = 0;
					label_add(labels, sizeof(labels), "bridge",
						  json_string_value(json_object_get(x, "name")));
					label_add(labels, sizeof(labels), "port",
						  json_string_value(json_object_get(p, "name")));
					prom_object(f, fam, p, labels);
				}
			}
			break;
		}
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int pvnet_proc_stat_cpu_ticks(const char *line, uint64_t *ticks)
{
	const char *p = strrchr(line, ')');
	unsigned long long utime, stime;

	/* after "pid (comm)": state is field 3, utime field 14, stime field 15 */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
			 &stime) != 2)
		return -EINVAL;
	*ticks = utime + stime;
	return 0;
}
