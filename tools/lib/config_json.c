/* SPDX-License-Identifier: MIT */
/*
 * config_json.c - a parsed domain configuration as JSON (`pvnet create -n`),
 * built with libjansson (contract in include/pvnet/config.h).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/config.h>

/* A string, or null when empty. */
static json_t *str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *ip_list(const struct pvnet_ip_cfg *ip, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(ip[i].text));
	return a;
}

static json_t *vif_json(const struct pvnet_vif_cfg *v)
{
	json_t *o = json_object(), *trunks = json_array(), *rate;
	char mac[18];

	if (!o || !trunks) {
		json_decref(o);
		json_decref(trunks);
		return NULL;
	}
	pvnet_mac_format(v->mac, mac);
	for (unsigned i = 0; i < v->n_trunks; i++)
		json_array_append_new(trunks, json_integer(v->trunks[i]));
	rate = v->rate_bytes
		       ? json_pack("{s:I,s:I}", "bytes_per_interval", (json_int_t)v->rate_bytes,
				   "interval_us", (json_int_t)v->rate_usec)
		       : json_null();
	json_object_set_new(o, "devid", json_integer(v->devid));
	json_object_set_new(o, "mac", json_string(mac));
	json_object_set_new(o, "bridge", json_string(v->bridge));
	json_object_set_new(o, "vifname", str_or_null(v->vifname));
	json_object_set_new(o, "ip", ip_list(v->ip, v->n_ip));
	json_object_set_new(o, "gateway", ip_list(v->gateway, v->n_gateway));
	json_object_set_new(o, "mtu", json_integer(v->mtu));
	json_object_set_new(o, "queues", json_integer(v->queues));
	json_object_set_new(o, "rate", rate);
	json_object_set_new(o, "vlan", v->vlan ? json_integer(v->vlan) : json_null());
	json_object_set_new(o, "trunks", trunks);
	json_object_set_new(o, "model", str_or_null(v->model));
	json_object_set_new(o, "type", json_string(v->type));
	json_object_set_new(o, "script", str_or_null(v->script));
	json_object_set_new(o, "backend", json_string(v->backend));
	json_object_set_new(o, "gatewaydev", str_or_null(v->gatewaydev));
	json_object_set_new(o, "trusted", v->trusted < 0 ? json_null() : json_boolean(v->trusted));
	json_object_set_new(o, "accel", str_or_null(v->accel));
	json_object_set_new(o, "level", v->level < 0 ? json_null() : json_integer(v->level));
	json_object_set_new(o, "mode", json_string(v->mode));
	json_object_set_new(o, "pkt", v->pkt ? json_integer(v->pkt) : json_null());
	json_object_set_new(o, "pps", json_integer(v->pps));
	json_object_set_new(o, "poll",
			    v->poll_us == PVNET_POLL_ALWAYS ? json_string("on")
			    : v->poll_us                    ? json_integer(v->poll_us)
							    : json_string("off"));
	json_object_set_new(o, "devargs", str_or_null(v->devargs));
	json_object_set_new(o, "socket", str_or_null(v->socket));
	return o;
}

char *pvnet_config_to_json(const struct pvnet_dom_cfg *cfg)
{
	json_t *o = json_object(), *vifs = json_array(), *v;
	char *text = NULL;

	if (!o || !vifs)
		goto out;
	json_object_set_new(o, "name", json_string(cfg->name));
	json_object_set_new(o, "type", json_string(cfg->type));
	json_object_set_new(o, "memory", json_integer((json_int_t)cfg->memory_mib));
	json_object_set_new(o, "maxmem", json_integer((json_int_t)cfg->maxmem_mib));
	json_object_set_new(o, "vcpus", json_integer(cfg->vcpus));
	json_object_set_new(o, "kernel", str_or_null(cfg->kernel));
	json_object_set_new(o, "ramdisk", str_or_null(cfg->ramdisk));
	json_object_set_new(o, "cmdline", str_or_null(cfg->cmdline));
	json_object_set_new(o, "netns", json_string(cfg->netns));
	json_object_set_new(o, "on_crash", json_string(cfg->on_crash));
	json_object_set_new(o, "uuid", str_or_null(cfg->uuid));
	for (unsigned i = 0; i < cfg->n_vifs; i++) {
		v = vif_json(&cfg->vifs[i]);
		if (!v || json_array_append_new(vifs, v) < 0)
			goto out;
	}
	json_object_set(o, "vifs", vifs);
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text) {
		/* a trailing newline, as a command's output should end */
		size_t n = strlen(text);
		char *t = realloc(text, n + 2);

		if (!t) {
			free(text);
			text = NULL;
		} else {
			text = t;
			text[n] = '\n';
			text[n + 1] = '\0';
		}
	}
out:
	json_decref(vifs);
	json_decref(o);
	return text;
}
