/* SPDX-License-Identifier: MIT */
/*
 * vif hot-plug on a running PV domain, with xl's commands and syntax:
 *
 *   network-attach DOM VIFSPEC   the spec of a config's vif list (config.h);
 *                                devid= or the lowest free one
 *   network-detach DOM DEVID|MAC
 *   network-list DOM             xl's columns, plus the switch port and bridge
 *
 * Attach writes the vif's backend and frontend directories as domain creation
 * does (write_vif_nodes); netback finds the backend directory by its watch and
 * waits in InitWait, the guest finds the frontend one by its watch on
 * device/vif and connects.
 *
 * Detach is libxl's device removal: backend `online` = 0 and `state` = Closing
 * (5); the frontend answers Closed, netback disconnects (the switch port and
 * its counters go) and writes Closed; then both directories are removed and
 * the guest drops the device. A frontend that does not answer within
 * HOTPLUG_DETACH_TIMEOUT_MS is not waited for further (xl's forced removal):
 * the directories are removed anyway, which makes netback disconnect and free
 * the vif. The wait runs the control loop (pvnetd_pump): the store, netback,
 * hypercalls and other clients' read-only commands are served meanwhile;
 * other state-changing commands wait in their sockets until it is over.
 *
 * Limits (charged to the domain when the vif is attached, refused with the
 * reason before anything is written):
 *   - at most PVNET_MAX_VIFS (8) vifs per domain, as a config's vif list;
 *   - the ledger's gnt-maps: each queue may make dom0 map 2 ring pages and
 *     NF_TX_POOL + NF_RX_POOL persistent pages of the guest (514 maps), so the
 *     sum over the domain's vifs of queues x 514 must stay within gnt-maps;
 *   - the ledger's evtchns: 2 ports per queue (split event channels).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <pvnet/io/xenbus.h>
#include <pvnet/log.h>
#include <pvnet/io/vif.h>
#include <pvnet/netfront.h>
#include <pvnet/quota.h>

#include "pvnetd.h"

#define MOD "hotplug"
#define HOTPLUG_DETACH_TIMEOUT_MS 2000
#define HOTPLUG_MAPS_PER_QUEUE (2u + NF_TX_POOL + NF_RX_POOL)
#define HOTPLUG_EVTCHNS_PER_QUEUE 2u

static unsigned vif_queues(const struct pvnet_vif_cfg *v)
{
	return v->queues ? v->queues : 1;
}

/* The domain for a hot-plug command: a live PV domain, else a message and NULL. */
static struct dom *hotplug_dom(struct pvnetd *d, struct outbuf *o, const char *cmd,
			       const char *name)
{
	struct dom *dom = dom_find(d, name);

	if (!dom) {
		err_printf(o, "%s: no domain '%.64s'\n", cmd, name);
		return NULL;
	}
	if (dom->hvm) {
		err_printf(o,
			   "%s: domain '%s' is an HVM guest: its vifs are QEMU's virtio-net "
			   "devices on vhost-user ports, fixed when QEMU starts; vif hot-plug is "
			   "for PV guests\n",
			   cmd, dom->name);
		return NULL;
	}
	if (dom->dying || dom->pid <= 0) {
		err_printf(o, "%s: domain '%s' is %s\n", cmd, dom->name,
			   dom->dying ? "being destroyed" : "not running");
		return NULL;
	}
	return dom;
}

/*
 * Would one more vif `v` take `dom` over its ledger limit of `r`? The domain's
 * worst case (every queue of every vif connected) is what counts.
 */
static bool over_quota(struct pvnetd *d, const struct dom *dom, const struct pvnet_vif_cfg *v,
		       enum quota_res r, uint64_t per_queue, uint64_t *need, uint64_t *limit)
{
	uint64_t sum = per_queue * vif_queues(v);

	for (unsigned i = 0; i < dom->cfg.n_vifs; i++)
		sum += per_queue * vif_queues(&dom->cfg.vifs[i]);
	*need = sum;
	*limit = quota_limit(d->quota, r);
	return *limit != QUOTA_UNLIMITED && sum > *limit;
}

/* Parser warnings go to the client's stderr. */
static void attach_warn(void *o, const char *msg)
{
	err_printf(o, "warning: %s\n", msg);
}

/* Whether the domain's vifs with VIF added would exceed one of its ledger limits;
 * says which to the client and counts the refusal. */
static bool attach_over_quota(struct pvnetd *d, struct outbuf *o, struct dom *dom,
			      const struct pvnet_vif_cfg *vif)
{
	static const struct {
		enum quota_res res;
		uint64_t per_queue;
		const char *what;
	} charges[] = {
		{QUOTA_GNT_MAPS, HOTPLUG_MAPS_PER_QUEUE, "grant maps"},
		{QUOTA_EVTCHNS, HOTPLUG_EVTCHNS_PER_QUEUE, "event channels"},
	};
	uint64_t need, limit;

	for (unsigned i = 0; i < sizeof(charges) / sizeof(charges[0]); i++) {
		if (!over_quota(d, dom, vif, charges[i].res, charges[i].per_queue, &need, &limit))
			continue;
		quota_note_refusal(d->quota, charges[i].res);
		err_printf(o,
			   "network-attach: %s: its vifs would need up to %llu %s, above its "
			   "limit %s=%llu (%llu per queue; pvnetd --limit %s=N)\n",
			   dom->name, (unsigned long long)need, charges[i].what,
			   quota_res_name(charges[i].res), (unsigned long long)limit,
			   (unsigned long long)charges[i].per_queue,
			   quota_res_name(charges[i].res));
		return true;
	}
	return false;
}

int cmd_network_attach(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct pvnet_vif_cfg vif;
	enum pvnet_vif_mode mode = PVNET_VIF_MODE_TAP;
	struct dom *dom;
	char err[256], mac[18], fe[80];
	int rc;

	if (argc != 3) {
		err_printf(o, "usage: pvnet network-attach DOMAIN 'VIFSPEC' (as an item of a "
			      "config's vif list, e.g. 'bridge=br1,ip=10.1.0.2/24')\n");
		return 2;
	}
	dom = hotplug_dom(d, o, "network-attach", argv[1]);
	if (!dom)
		return 1;
	rc = pvnet_vif_attach_parse(&dom->cfg, argv[2], attach_warn, o, &vif, err, sizeof(err));
	if (rc < 0) {
		err_printf(o, "network-attach: %s: %s\n", dom->name, err);
		return 1;
	}
	if (vif.mode[0] && pvnet_vif_mode_parse(vif.mode, &mode) < 0) {
		err_printf(o,
			   "network-attach: %s: unknown mode '%s' (expected tap, pktgen or sink)\n",
			   dom->name, vif.mode);
		return 1;
	}
	if (mode == PVNET_VIF_MODE_TAP && vif.mtu > DOM_TAP_MTU_MAX) {
		err_printf(o,
			   "network-attach: %s: mtu %u is above %u, the largest a TAP device "
			   "takes\n",
			   dom->name, vif.mtu, DOM_TAP_MTU_MAX);
		return 1;
	}
	if (mac_check_free(d, "network-attach", dom->name, vif.mac, o, false) < 0)
		return 1;
	if (vif.vifname[0] && vifname_taken(d, vif.vifname)) {
		err_printf(o, "network-attach: %s: vifname '%s' is already a switch port's name\n",
			   dom->name, vif.vifname);
		return 1;
	}
	if (attach_over_quota(d, o, dom, &vif))
		return 1;
	/* a leftover of a forced detach (a guest that never answered) is replaced */
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/%d", dom->domid, vif.devid);
	xs_rm(d->xs, 0, 0, fe);
	rc = write_vif_nodes(d, dom, (unsigned)vif.devid, &vif);
	if (rc < 0) {
		char be[80];
		snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/%d", dom->domid,
			 vif.devid);
		xs_rm(d->xs, 0, 0, fe);
		xs_rm(d->xs, 0, 0, be);
		err_printf(o, "network-attach: %s: cannot write the vif's store nodes\n",
			   dom->name);
		return 1;
	}
	dom->cfg.vifs[dom->cfg.n_vifs++] = vif;
	adopt_save_vifs(d, dom); /* the domain's record (adopt.c): kept across a restart */
	pvnet_mac_format(vif.mac, mac);
	PVLOG(INFO, MOD, "domain %u '%s': attached vif %d (%s, bridge %s)", dom->domid, dom->name,
	      vif.devid, mac, vif.bridge);
	out_printf(o, "Attached vif %d (%s, bridge %s) to domain %u (%s)\n", vif.devid, mac,
		   vif.bridge, dom->domid, dom->name);
	return 0;
}

/* The index in dom->cfg.vifs of the vif named by a devid or a MAC, or -1. */
static int vif_lookup(const struct dom *dom, const char *what)
{
	uint8_t mac[6];
	char *end;
	long devid;

	if (pvnet_mac_parse(what, mac) == 0) {
		for (unsigned i = 0; i < dom->cfg.n_vifs; i++)
			if (!memcmp(dom->cfg.vifs[i].mac, mac, 6))
				return (int)i;
		return -1;
	}
	devid = strtol(what, &end, 10);
	if (!*what || *end || devid < 0 || devid > PVNET_MAX_DEVID)
		return -1;
	for (unsigned i = 0; i < dom->cfg.n_vifs; i++)
		if (dom->cfg.vifs[i].devid == devid)
			return (int)i;
	return -1;
}

static long store_long(struct pvnetd *d, const char *dir, const char *key)
{
	char path[160], *val = NULL, *end;
	size_t len = 0;
	long v = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (xs_read(d->xs, 0, 0, path, &val, &len) < 0)
		return -1;
	if (len > 0 && len < 12) {
		v = strtol(val, &end, 10);
		if (end != val + len || v < 0)
			v = -1;
	}
	free(val);
	return v;
}

int cmd_network_detach(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	char fe[80], be[80], path[128], mac[18];
	uint64_t deadline;
	struct dom *dom;
	domid_t domid;
	bool forced = false;
	int idx, devid;
	long st = -1;

	if (argc != 3) {
		err_printf(o, "usage: pvnet network-detach DOMAIN DEVID|MAC\n");
		return 2;
	}
	dom = hotplug_dom(d, o, "network-detach", argv[1]);
	if (!dom)
		return 1;
	idx = vif_lookup(dom, argv[2]);
	if (idx < 0) {
		err_printf(o,
			   "network-detach: domain '%s' has no vif '%.64s' (a devid or a MAC; "
			   "see pvnet network-list %s)\n",
			   dom->name, argv[2], dom->name);
		return 1;
	}
	domid = dom->domid;
	devid = dom->cfg.vifs[idx].devid;
	pvnet_mac_format(dom->cfg.vifs[idx].mac, mac);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/%d", domid, devid);
	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/%d", domid, devid);

	/* libxl: online = 0 says "being removed" (no reconnect), state = Closing asks */
	snprintf(path, sizeof(path), "%s/online", be);
	xs_printf(d->xs, 0, path, "0");
	snprintf(path, sizeof(path), "%s/state", be);
	xs_printf(d->xs, 0, path, "%d", XenbusStateClosing);
	deadline = pvnet_now_ns() + HOTPLUG_DETACH_TIMEOUT_MS * 1000000ull;
	for (;;) {
		st = store_long(d, be, "state");
		/* netback writes Closed once the frontend closed and it disconnected */
		if (st == XenbusStateClosed || st < 0 || dom->pid <= 0)
			break;
		if (pvnet_now_ns() >= deadline) {
			forced = true;
			break;
		}
		pvnetd_pump(d, 20);
		if (dom_find(d, argv[1]) != dom) /* cannot happen in a pump: be sure */
			return 1;
	}
	if (forced)
		PVLOG(WARN, MOD,
		      "domain %u '%s': vif %d: the frontend did not close within %d ms (backend "
		      "%s); removing it anyway",
		      domid, dom->name, devid, HOTPLUG_DETACH_TIMEOUT_MS, xenbus_strstate((int)st));
	/* removing the backend dir makes netback drop the vif (and its switch port) */
	xs_rm(d->xs, 0, 0, fe);
	xs_rm(d->xs, 0, 0, be);
	snprintf(path, sizeof(path), "/local/domain/0/error/backend/vif/%u/%d", domid, devid);
	xs_rm(d->xs, 0, 0, path);
	snprintf(path, sizeof(path), "/local/domain/%u/error/device/vif/%d", domid, devid);
	xs_rm(d->xs, 0, 0, path);

	/* the slot may have moved if the list changed meanwhile (it cannot: be sure) */
	idx = -1;
	for (unsigned i = 0; i < dom->cfg.n_vifs; i++)
		if (dom->cfg.vifs[i].devid == devid)
			idx = (int)i;
	if (idx >= 0) {
		memmove(&dom->cfg.vifs[idx], &dom->cfg.vifs[idx + 1],
			(dom->cfg.n_vifs - (unsigned)idx - 1) * sizeof(dom->cfg.vifs[0]));
		dom->cfg.n_vifs--;
		memset(&dom->cfg.vifs[dom->cfg.n_vifs], 0, sizeof(dom->cfg.vifs[0]));
		adopt_save_vifs(d, dom); /* the domain's record (adopt.c) */
	}
	PVLOG(INFO, MOD, "domain %u '%s': detached vif %d (%s)%s", domid, dom->name, devid, mac,
	      forced ? " (forced)" : "");
	out_printf(o, "Detached vif %d (%s) from domain %u (%s)%s\n", devid, mac, domid, dom->name,
		   forced ? ": forced, the guest did not answer" : "");
	return 0;
}

/* A number the guest wrote (its frontend dir is its own): digits only, else null. */
static json_t *store_num(struct pvnetd *d, const char *dir, const char *key)
{
	long v = store_long(d, dir, key);

	return v < 0 ? json_null() : json_integer(v);
}

struct port_lookup {
	unsigned handle;
	bool found;
	bool connected;
	char name[VSW_NAME_MAX];
	int be_state;
};

static int port_cb(const struct nb_vif_info *vi, void *arg)
{
	struct port_lookup *p = arg;

	if (vi->handle != p->handle)
		return 0;
	p->found = true;
	p->connected = vi->connected;
	p->be_state = vi->be_state;
	snprintf(p->name, sizeof(p->name), "%s", vi->name);
	return 1;
}

static int set(json_t *obj, const char *key, json_t *v)
{
	return v ? json_object_set_new(obj, key, v) : -1;
}

/*
 * The domain's vifs, one object each: xl network-list's fields (idx, backend_id,
 * mac, handle, fe_state, evtch_tx/rx, tx/rx_ring_ref, backend_path; the
 * frontend's numbers as the guest wrote them, null when absent or not a
 * number), then pvnet's: name (the switch port's), state (the backend's, as
 * vif-list says it), port (the switch port while connected, else null), bridge.
 * NULL when out of memory.
 */
static json_t *collect_network_list(struct pvnetd *d, const struct dom *dom)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr && i < dom->cfg.n_vifs; i++) {
		const struct pvnet_vif_cfg *v = &dom->cfg.vifs[i];
		struct port_lookup p = {.handle = (unsigned)v->devid, .be_state = -1};
		char fe[80], be[80], qdir[96], mac[18];
		const char *keys = fe;
		json_t *row = json_object();
		int rc = 0;

		snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/%d", dom->domid, v->devid);
		snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/%d", dom->domid, v->devid);
		/* a multi-queue frontend writes the keys of queue 0 under queue-0 */
		if (store_long(d, fe, "multi-queue-num-queues") > 0) {
			snprintf(qdir, sizeof(qdir), "%s/queue-0", fe);
			keys = qdir;
		}
		pvnet_mac_format(v->mac, mac);
		if (d->nb)
			nb_vif_foreach(d->nb, dom->domid, port_cb, &p);
		if (!p.found)
			snprintf(p.name, sizeof(p.name), "%s", v->vifname);
		if (!p.name[0])
			snprintf(p.name, sizeof(p.name), "vif%u.%d", dom->domid, v->devid);
		rc |= set(row, "idx", json_integer(v->devid));
		rc |= set(row, "backend_id", json_integer(0));
		rc |= set(row, "mac", json_string(mac));
		rc |= set(row, "handle", json_integer(v->devid));
		rc |= set(row, "fe_state", store_num(d, fe, "state"));
		rc |= set(row, "evtch_tx", store_num(d, keys, "event-channel-tx"));
		rc |= set(row, "evtch_rx", store_num(d, keys, "event-channel-rx"));
		rc |= set(row, "tx_ring_ref", store_num(d, keys, "tx-ring-ref"));
		rc |= set(row, "rx_ring_ref", store_num(d, keys, "rx-ring-ref"));
		rc |= set(row, "backend_path", json_string(be));
		rc |= set(row, "name", json_string(p.name));
		rc |= set(row, "state", json_string(xenbus_strstate(p.be_state)));
		rc |= set(row, "port", p.connected ? json_string(p.name) : json_null());
		rc |= set(row, "bridge", json_string(v->bridge));
		if (!row || rc || json_array_append_new(arr, row)) {
			json_decref(row);
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

/* The network-list domain: a PV domain, else a message and NULL. */
static const struct dom *list_dom(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct dom *dom;

	if (argc != 2) {
		err_printf(o, "usage: pvnet network-list DOMAIN [--json]\n");
		return NULL;
	}
	dom = dom_find(d, argv[1]);
	if (!dom) {
		err_printf(o, "network-list: no domain '%.64s'\n", argv[1]);
		return NULL;
	}
	if (dom->hvm) {
		err_printf(o,
			   "network-list: domain '%s' is an HVM guest (vhost-user vifs, no "
			   "xenbus devices): see pvnet vif-list %s\n",
			   dom->name, dom->name);
		return NULL;
	}
	return dom;
}

/* "-" for null, else the integer. */
static const char *num_text(json_t *v, char *buf, size_t size)
{
	if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, size, "-");
	return buf;
}

int cmd_network_list(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	const struct dom *dom = list_dom(d, o, argc, argv);
	json_t *arr, *row;
	size_t i;

	if (!dom)
		return argc != 2 ? 2 : 1;
	arr = collect_network_list(d, dom);
	if (!arr) {
		err_printf(o, "network-list: out of memory\n");
		return 1;
	}
	/* xl's columns (frontend state and keys as the guest wrote them), then pvnet's */
	out_printf(o, "%-3s %-2s %-17s %-6s %-5s %-9s %-15s %-31s %-15s %s\n", "Idx", "BE",
		   "Mac Addr.", "handle", "state", "evt-ch", "tx-/rx-ring-ref", "BE-path", "Port",
		   "Bridge");
	json_array_foreach(arr, i, row)
	{
		char st[24], a[24], b[24], evt[52], refs[52];
		json_t *port = json_object_get(row, "port");

		snprintf(evt, sizeof(evt), "%s/%s",
			 num_text(json_object_get(row, "evtch_tx"), a, sizeof(a)),
			 num_text(json_object_get(row, "evtch_rx"), b, sizeof(b)));
		snprintf(refs, sizeof(refs), "%s/%s",
			 num_text(json_object_get(row, "tx_ring_ref"), a, sizeof(a)),
			 num_text(json_object_get(row, "rx_ring_ref"), b, sizeof(b)));
		out_printf(o, "%-3lld %-2lld %-17s %-6lld %-5s %-9s %-15s %-31s %-15s %s\n",
			   (long long)json_integer_value(json_object_get(row, "idx")),
			   (long long)json_integer_value(json_object_get(row, "backend_id")),
			   json_string_value(json_object_get(row, "mac")),
			   (long long)json_integer_value(json_object_get(row, "handle")),
			   num_text(json_object_get(row, "fe_state"), st, sizeof(st)), evt, refs,
			   json_string_value(json_object_get(row, "backend_path")),
			   json_is_string(port) ? json_string_value(port) : "-",
			   json_string_value(json_object_get(row, "bridge")));
	}
	json_decref(arr);
	return 0;
}

int cmd_network_list_json(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	const struct dom *dom = list_dom(d, o, argc, argv);
	json_t *arr;
	char *text;
	size_t len;

	if (!dom)
		return argc != 2 ? 2 : 1;
	arr = collect_network_list(d, dom);
	text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	if (!text) {
		err_printf(o, "network-list: out of memory\n");
		return 1;
	}
	/* in pieces that fit one reply message each (8 vifs: ~3 KiB) */
	len = strlen(text);
	for (size_t off = 0; off < len; off += 4000)
		out_printf(o, "%.*s", (int)(len - off > 4000 ? 4000 : len - off), text + off);
	out_printf(o, "\n");
	free(text);
	return 0;
}
