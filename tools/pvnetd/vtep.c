/* SPDX-License-Identifier: MIT */
/*
 * vtep.c - pvnetd as an OVSDB hardware_vtep switch (contract in vtep.h, mapping in
 * docs/ovn.md).
 *
 * State flows one way each:
 *   database -> switch   the replica (Logical_Switch, Physical_Port.vlan_bindings,
 *                        Ucast/Mcast_Macs_Remote, Physical_Locator[_Set]) is turned into
 *                        VXLAN ports "vtep<VNI>" on the bound ports' bridges, their
 *                        remotes, replication lists and static remote MACs. A bound port
 *                        and its logical switch's VXLAN port share an access VLAN (the
 *                        VNI folded into 1..4094) so two logical switches on one bridge
 *                        stay apart.
 *   switch -> database   the Physical_Switch and its Physical_Ports (guest ports: vif,
 *                        tap), the MACs the FDB learnt on bound ports as
 *                        Ucast_Macs_Local and, per logical switch, an unknown-dst
 *                        Mcast_Macs_Local with this host's locator, written by one
 *                        transaction at a time; an FDB change (learn, move, ageing,
 *                        flush: vsw_fdb_generation) is written at once.
 *   OVN SB -> switch     (optional, --ovnsb-db) the other VTEPs bound to the same logical
 *                        switch: ovn-controller-vtep writes only hypervisor chassis as
 *                        locators, so without them guests on two pvnet hosts of one
 *                        logical switch would not reach each other. They join the
 *                        replication list; their MACs are learnt from their datagrams.
 * Reconciliation is level-triggered: every REFRESH_MS and after every update it compares
 * what is wanted with what is there, so a lost reply or a reconnect needs no special path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>
#include <pvnet/ovsdb.h>
#include <pvnet/vswitch.h>

#include "pvnetd.h"
#include "vtep.h"

#define MOD "vtep"
#define DB_NAME "hardware_vtep"
#define REFRESH_MS 250u /* local MACs reach the database within about this */
#define TXN_RETRY_MS 1000u
#define MAX_LS 256 /* logical switches realised at once */
#define MAX_LOCAL_MACS 4096
#define GEN_POLL_MS 50u /* how often the FDB generation is looked at */

struct ls_state {
	char uuid[37];
	uint32_t vni;
	char bridge[VSW_NAME_MAX];
	char port[VSW_NAME_MAX]; /* "vtep<VNI>" */
	uint16_t vid;
	struct vsw_ip_addr remotes[VSW_VXLAN_MAX_REMOTES];
	bool flood[VSW_VXLAN_MAX_REMOTES];
	unsigned n_remotes;
	uint8_t (*macs)[6]; /* static remote MACs installed */
	unsigned n_macs;
	bool wanted; /* scratch for one reconciliation */
};

/* A port bound to a logical switch: the access VLAN pvnetd gave it. */
struct bound_port {
	char name[VSW_NAME_MAX];
	char bridge[VSW_NAME_MAX];
	uint32_t port_no; /* a re-created port (same name) gets its VLAN again */
	uint16_t vid;
	bool seen;
};

#define MAX_BOUND 1024

struct vtep {
	struct pvnetd *d;
	struct ovsdb_conn *conn;
	struct ovsdb_replica rep;
	char name[64];
	char tip[64];
	struct vsw_ip_addr tip_addr;
	bool synced; /* the monitor reply arrived on this connection */
	uint64_t monitor_id;
	uint64_t txn_id; /* in flight, 0 if none */
	uint64_t txn_after_ms;
	uint64_t next_refresh_ms;
	struct ls_state ls[MAX_LS];
	unsigned n_ls;
	struct bound_port bound[MAX_BOUND];
	unsigned n_bound;
	struct pvnet_ratelimit rl;
	uint64_t updates, bad_updates, txns, txn_errors;
	char db[256];
	/* OVN's southbound database (NULL without --ovnsb-db): the other VTEPs */
	char sb_target[256];
	struct ovsdb_conn *sb;
	struct ovsdb_replica sbrep;
	bool sb_synced;
	uint64_t sb_monitor_id, sb_updates;
	uint64_t fdb_gen; /* sum of the bound bridges' vsw_fdb_generation() */
	uint64_t next_gen_ms;
	bool dirty; /* something to publish once no transaction is in flight */
};

static const char *col_uuid(const json_t *row, const char *col)
{
	const json_t *d = json_object_get(row, col);

	return ovsdb_set_len(d) == 1 ? ovsdb_atom_uuid(ovsdb_set_get(d, 0)) : NULL;
}

/* ---- which ports are ours, which are bound ---------------------------------------- */

struct port_scan {
	struct vtep *v;
	char (*names)[VSW_NAME_MAX];
	unsigned n, max;
};

static int scan_port(struct vsw_port *p, void *arg)
{
	struct port_scan *s = arg;
	char line[512];

	if (s->n >= s->max)
		return 1;
	vsw_port_format(p, line, sizeof(line));
	if (!strstr(line, " type=vif ") && !strstr(line, " type=tap "))
		return 0;
	snprintf(s->names[s->n++], VSW_NAME_MAX, "%s", vsw_port_name(p));
	return 0;
}

static int scan_bridge(struct vsw_bridge *br, void *arg)
{
	return vsw_port_foreach(br, scan_port, arg);
}

/* The uuid of our Physical_Switch row, or NULL. */
static const char *ps_uuid(struct vtep *v, json_t **row_out)
{
	json_t *t = ovsdb_replica_table(&v->rep, "Physical_Switch"), *row;
	const char *uuid;

	json_object_foreach(t, uuid, row)
	{
		const char *n = ovsdb_row_string(row, "name");

		if (n && !strcmp(n, v->name)) {
			if (row_out)
				*row_out = row;
			return uuid;
		}
	}
	return NULL;
}

/* 1 if Physical_Port `uuid` belongs to our switch. */
static int ps_has_port(json_t *ps, const char *uuid)
{
	const json_t *ports = json_object_get(ps, "ports");

	for (size_t i = 0; i < ovsdb_set_len(ports); i++) {
		const char *u = ovsdb_atom_uuid(ovsdb_set_get(ports, i));

		if (u && !strcmp(u, uuid))
			return 1;
	}
	return 0;
}

static struct ls_state *ls_find(struct vtep *v, const char *uuid)
{
	for (unsigned i = 0; i < v->n_ls; i++)
		if (!strcmp(v->ls[i].uuid, uuid))
			return &v->ls[i];
	return NULL;
}

static uint16_t vni_vid(uint32_t vni)
{
	return (uint16_t)(vni >= 1 && vni <= 4094 ? vni : vni % 4094 + 1);
}

/* ---- database -> switch -------------------------------------------------------------- */

static int locator_ip(struct vtep *v, const char *loc_uuid, struct vsw_ip_addr *out)
{
	json_t *row = loc_uuid ? ovsdb_replica_row(&v->rep, "Physical_Locator", loc_uuid) : NULL;
	const char *ip = ovsdb_row_string(row, "dst_ip");

	if (!ip || vsw_ip_parse(ip, out) || out->family != v->tip_addr.family)
		return -EINVAL;
	return 0;
}

static int remote_add(struct ls_state *w, const struct vsw_ip_addr *a, bool flood)
{
	for (unsigned i = 0; i < w->n_remotes; i++)
		if (!memcmp(&w->remotes[i], a, sizeof(*a))) {
			w->flood[i] |= flood;
			return 0;
		}
	if (w->n_remotes >= VSW_VXLAN_MAX_REMOTES)
		return -ENOSPC;
	w->remotes[w->n_remotes] = *a;
	w->flood[w->n_remotes++] = flood;
	return 0;
}

/* The other VTEPs on logical switch w, from OVN's southbound database: the chassis
 * (their vxlan Encap) of the vtep Port_Bindings of the datapath whose tunnel key is w's
 * VNI. They are flooded to; unicast to their MACs follows learning. */
static void ls_peers(struct vtep *v, struct ls_state *w)
{
	json_t *t = v->sb ? ovsdb_replica_table(&v->sbrep, "Port_Binding") : NULL, *row;
	const char *uuid;

	json_object_foreach(t, uuid, row)
	{
		const char *type = ovsdb_row_string(row, "type"), *dp = col_uuid(row, "datapath");
		const char *ch = col_uuid(row, "chassis"), *cname;
		json_t *dprow, *chrow;
		const json_t *key, *encaps;

		if (!type || strcmp(type, "vtep") || !dp || !ch)
			continue;
		dprow = ovsdb_replica_row(&v->sbrep, "Datapath_Binding", dp);
		key = json_object_get(dprow, "tunnel_key");
		if (!json_is_integer(key) || (uint32_t)json_integer_value(key) != w->vni)
			continue;
		chrow = ovsdb_replica_row(&v->sbrep, "Chassis", ch);
		cname = ovsdb_row_string(chrow, "name");
		if (!cname || !strcmp(cname, v->name))
			continue;
		encaps = json_object_get(chrow, "encaps");
		for (size_t i = 0; i < ovsdb_set_len(encaps); i++) {
			const char *eu = ovsdb_atom_uuid(ovsdb_set_get(encaps, i));
			json_t *erow = eu ? ovsdb_replica_row(&v->sbrep, "Encap", eu) : NULL;
			const char *et = ovsdb_row_string(erow, "type");
			const char *ip = ovsdb_row_string(erow, "ip");
			struct vsw_ip_addr a;

			if (!et || strcmp(et, "vxlan") || !ip || vsw_ip_parse(ip, &a) ||
			    a.family != v->tip_addr.family || !memcmp(&a, &v->tip_addr, sizeof(a)))
				continue;
			if (remote_add(w, &a, true))
				PVLOG_RL(WARN, MOD,
					 "logical switch %s: more than %d VTEPs, some ignored",
					 w->uuid, VSW_VXLAN_MAX_REMOTES);
		}
	}
}

/* The remotes, flood list and remote MACs OVN wants for logical switch w->uuid. */
static void ls_wanted(struct vtep *v, struct ls_state *w, uint8_t (*macs)[6], unsigned max,
		      unsigned *n_macs, struct vsw_ip_addr *mac_to)
{
	json_t *t, *row;
	const char *uuid;

	w->n_remotes = 0;
	*n_macs = 0;
	t = ovsdb_replica_table(&v->rep, "Mcast_Macs_Remote");
	json_object_foreach(t, uuid, row)
	{
		const char *ls = col_uuid(row, "logical_switch"), *set;
		const json_t *locs;
		json_t *setrow;

		if (!ls || strcmp(ls, w->uuid))
			continue;
		if (!ovsdb_row_string(row, "MAC") ||
		    strcmp(ovsdb_row_string(row, "MAC"), "unknown-dst"))
			continue; /* only the BUM entry is used: multicast is flooded with it */
		set = col_uuid(row, "locator_set");
		setrow = set ? ovsdb_replica_row(&v->rep, "Physical_Locator_Set", set) : NULL;
		locs = json_object_get(setrow, "locators");
		for (size_t i = 0; i < ovsdb_set_len(locs); i++) {
			struct vsw_ip_addr a;

			if (!locator_ip(v, ovsdb_atom_uuid(ovsdb_set_get(locs, i)), &a) &&
			    memcmp(&a, &v->tip_addr, sizeof(a)) && remote_add(w, &a, true))
				PVLOG_RL(WARN, MOD,
					 "logical switch %s: more than %d VTEPs, some ignored",
					 w->uuid, VSW_VXLAN_MAX_REMOTES);
		}
	}
	ls_peers(v, w);
	t = ovsdb_replica_table(&v->rep, "Ucast_Macs_Remote");
	json_object_foreach(t, uuid, row)
	{
		const char *ls = col_uuid(row, "logical_switch");
		struct vsw_ip_addr a;
		uint8_t mac[6];

		if (!ls || strcmp(ls, w->uuid) || *n_macs >= max)
			continue;
		if (pvnet_mac_parse(ovsdb_row_string(row, "MAC"), mac) || (mac[0] & 1) ||
		    locator_ip(v, col_uuid(row, "locator"), &a) ||
		    !memcmp(&a, &v->tip_addr, sizeof(a))) {
			v->bad_updates++;
			continue;
		}
		if (remote_add(w, &a, false))
			continue;
		memcpy(macs[*n_macs], mac, 6);
		mac_to[(*n_macs)++] = a;
	}
}

/* Creates or updates the VXLAN port of logical switch w on bridge `br`. */
static int ls_realise(struct vtep *v, struct ls_state *w, struct vsw_bridge *br)
{
	struct vsw_port *vx;
	int rc;

	if (vsw_port_find(br, w->port, &vx)) {
		struct vsw_vxlan_config cfg = {.vni = w->vni, .local = v->tip_addr, .n_remotes = 1};
		struct vsw_worker *wk;

		cfg.remotes[0] = v->tip_addr; /* replaced below: set_remotes takes 0 remotes */
		rc = vsw_switch_uplink_worker(v->d->sw, &wk);
		if (!rc)
			rc = vsw_vxlan_port_add(br, wk, w->port, &cfg, &vx);
		if (rc) {
			PVLOG_RL(ERR, MOD, "%s: VXLAN port %s (VNI %u): %s", vsw_bridge_name(br),
				 w->port, w->vni, strerror(-rc));
			return rc;
		}
		vsw_port_set_access(vx, w->vid);
		PVLOG(INFO, MOD, "logical switch %s: VNI %u on bridge %s (port %s, vlan %u)",
		      w->uuid, w->vni, vsw_bridge_name(br), w->port, w->vid);
	}
	return vsw_vxlan_set_remotes(vx, w->remotes, w->flood, w->n_remotes);
}

static void ls_macs_sync(struct ls_state *w, struct vsw_port *vx, uint8_t (*macs)[6], unsigned n,
			 const struct vsw_ip_addr *to)
{
	uint8_t(*keep)[6] = n ? malloc(n * 6) : NULL;

	if (n && !keep)
		return;
	for (unsigned i = 0; i < w->n_macs; i++) {
		bool still = false;

		for (unsigned k = 0; k < n && !still; k++)
			still = !memcmp(w->macs[i], macs[k], 6);
		if (!still)
			vsw_vxlan_mac_del(vx, w->macs[i]);
	}
	for (unsigned k = 0; k < n; k++) {
		vsw_vxlan_mac_add(vx, macs[k], &to[k]); /* replaces: the locator may have moved */
		memcpy(keep[k], macs[k], 6);
	}
	free(w->macs);
	w->macs = keep;
	w->n_macs = n;
}

static void ls_remove(struct vtep *v, struct ls_state *w)
{
	struct vsw_bridge *br;
	struct vsw_port *vx;

	if (!vsw_bridge_find(v->d->sw, w->bridge, &br) && !vsw_port_find(br, w->port, &vx)) {
		vsw_port_del(br, vx);
		PVLOG(INFO, MOD, "logical switch %s: VNI %u left bridge %s", w->uuid, w->vni,
		      w->bridge);
	}
	free(w->macs);
	*w = v->ls[--v->n_ls];
}

/* Puts port p (of br) on the access VLAN of its logical switch, once: the change flushes
 * the port's learnt MACs, so it is made only when something differs. */
static void bind_port(struct vtep *v, struct vsw_bridge *br, struct vsw_port *p, uint16_t vid)
{
	struct bound_port *b = NULL;

	for (unsigned i = 0; i < v->n_bound && !b; i++)
		if (!strcmp(v->bound[i].name, vsw_port_name(p)))
			b = &v->bound[i];
	if (!b) {
		if (v->n_bound >= MAX_BOUND)
			return;
		b = &v->bound[v->n_bound++];
		memset(b, 0, sizeof(*b));
		snprintf(b->name, sizeof(b->name), "%s", vsw_port_name(p));
	} else if (b->vid == vid && b->port_no == vsw_port_no(p) &&
		   !strcmp(b->bridge, vsw_bridge_name(br))) {
		b->seen = true;
		return;
	}
	snprintf(b->bridge, sizeof(b->bridge), "%s", vsw_bridge_name(br));
	b->port_no = vsw_port_no(p);
	b->vid = vid;
	b->seen = true;
	vsw_port_set_access(p, vid);
}

/* Ports no longer bound go back to untagged (VLAN 0). */
static void unbind_unseen(struct vtep *v)
{
	for (unsigned i = 0; i < v->n_bound;) {
		struct bound_port *b = &v->bound[i];
		struct vsw_bridge *br;
		struct vsw_port *p;

		if (b->seen) {
			i++;
			continue;
		}
		if (!vsw_bridge_find(v->d->sw, b->bridge, &br) && !vsw_port_find(br, b->name, &p) &&
		    vsw_port_no(p) == b->port_no)
			vsw_port_set_access(p, 0);
		*b = v->bound[--v->n_bound];
	}
}

/* Takes the logical switch a port's binding names, creating its state; NULL if full. */
static struct ls_state *ls_take(struct vtep *v, const char *lsu)
{
	struct ls_state *w = ls_find(v, lsu);

	if (!w) {
		if (v->n_ls >= MAX_LS)
			return NULL;
		w = &v->ls[v->n_ls++];
		memset(w, 0, sizeof(*w));
		snprintf(w->uuid, sizeof(w->uuid), "%s", lsu);
	}
	return w;
}

/* Applies one vlan_bindings pair (VLAN k -> logical switch val) of port pname. */
static void reconcile_binding(struct vtep *v, const char *pname, struct vsw_bridge *br,
			      struct vsw_port *p, const json_t *k, const json_t *val)
{
	const char *lsu;
	json_t *lsrow;
	const json_t *key;
	struct ls_state *w;

	if (!json_is_integer(k))
		return;
	lsu = ovsdb_atom_uuid(val);
	lsrow = lsu ? ovsdb_replica_row(&v->rep, "Logical_Switch", lsu) : NULL;
	key = json_object_get(lsrow, "tunnel_key");
	if (ovsdb_set_len(key) != 1 || !json_is_integer(ovsdb_set_get(key, 0)) ||
	    json_integer_value(ovsdb_set_get(key, 0)) <= 0)
		return; /* no VNI yet (ovn-controller-vtep sets it; 0: unused) */
	if (json_integer_value(k) != 0) {
		PVLOG_RL(WARN, MOD,
			 "%s: vlan %lld binding ignored: guest ports take "
			 "vlan 0 (untagged) only",
			 pname, (long long)json_integer_value(k));
		return;
	}
	w = ls_take(v, lsu);
	if (!w)
		return;
	if (w->wanted && strcmp(w->bridge, vsw_bridge_name(br))) {
		PVLOG_RL(WARN, MOD,
			 "%s: logical switch %s is already on bridge %s: "
			 "bind ports of one bridge only",
			 pname, lsu, w->bridge);
		return;
	}
	if (w->vni && (w->vni != (uint32_t)json_integer_value(ovsdb_set_get(key, 0)) ||
		       strcmp(w->bridge, vsw_bridge_name(br)))) {
		/* the VNI or the bridge changed: start afresh */
		struct vsw_bridge *ob;
		struct vsw_port *ovx;

		if (!vsw_bridge_find(v->d->sw, w->bridge, &ob) && !vsw_port_find(ob, w->port, &ovx))
			vsw_port_del(ob, ovx);
		free(w->macs);
		w->macs = NULL;
		w->n_macs = 0;
	}
	w->vni = (uint32_t)json_integer_value(ovsdb_set_get(key, 0)) & 0xffffff;
	w->vid = vni_vid(w->vni);
	snprintf(w->bridge, sizeof(w->bridge), "%s", vsw_bridge_name(br));
	snprintf(w->port, sizeof(w->port), "vtep%u", w->vni);
	w->wanted = true;
	bind_port(v, br, p, w->vid);
}

/* Removes the logical switches no port binds any more and syncs the others' VTEP ports. */
static void reconcile_ls(struct vtep *v)
{
	static uint8_t macs[MAX_LOCAL_MACS][6];
	static struct vsw_ip_addr to[MAX_LOCAL_MACS];

	for (unsigned i = 0; i < v->n_ls;) {
		struct ls_state *w = &v->ls[i];
		struct vsw_bridge *br;
		struct vsw_port *vx;
		unsigned n;

		if (!w->wanted) {
			ls_remove(v, w);
			continue;
		}
		i++;
		ls_wanted(v, w, macs, MAX_LOCAL_MACS, &n, to);
		if (vsw_bridge_find(v->d->sw, w->bridge, &br) || ls_realise(v, w, br) ||
		    vsw_port_find(br, w->port, &vx))
			continue;
		ls_macs_sync(w, vx, macs, n, to);
	}
}

/* Brings the switch to what the replica says. */
static void reconcile(struct vtep *v)
{
	json_t *ps = NULL, *t, *row;
	const char *uuid;
	const char *psu = ps_uuid(v, &ps);

	for (unsigned i = 0; i < v->n_ls; i++)
		v->ls[i].wanted = false;
	for (unsigned i = 0; i < v->n_bound; i++)
		v->bound[i].seen = false;
	t = psu ? ovsdb_replica_table(&v->rep, "Physical_Port") : NULL;
	json_object_foreach(t, uuid, row)
	{
		const char *pname = ovsdb_row_string(row, "name");
		const json_t *vb = json_object_get(row, "vlan_bindings");
		struct vsw_bridge *br;
		struct vsw_port *p;

		if (!pname || !ps_has_port(ps, uuid) ||
		    vsw_switch_port_find(v->d->sw, pname, &br, &p))
			continue;
		for (size_t i = 0; i < ovsdb_map_len(vb); i++) {
			const json_t *k, *val;

			if (!ovsdb_map_pair(vb, i, &k, &val))
				reconcile_binding(v, pname, br, p, k, val);
		}
	}
	unbind_unseen(v);
	reconcile_ls(v);
}

/* ---- switch -> database ------------------------------------------------------------- */

struct local_mac {
	uint8_t mac[6];
	const char *ls;
};

struct fdb_scan {
	struct vtep *v;
	struct ls_state *w;
	struct vsw_bridge *br;
	uint32_t vx_no;
	struct local_mac *out;
	unsigned n, max;
};

static int scan_fdb(const struct vsw_fdb_entry *e, void *arg)
{
	struct fdb_scan *s = arg;

	if (e->vlan != s->w->vid || e->port_no == s->vx_no || e->is_static || s->n >= s->max)
		return 0;
	memcpy(s->out[s->n].mac, e->mac, 6);
	s->out[s->n++].ls = s->w->uuid;
	return 0;
}

static void op_add(json_t *ops, json_t *op)
{
	if (op)
		json_array_append_new(ops, op);
}

static json_t *where_uuid(const char *uuid)
{
	return json_pack("[[s,s,o]]", "_uuid", "==", ovsdb_uuid_ref(uuid));
}

/* Our Physical_Locator's uuid, or NULL (then the transaction inserts "loc"). */
static const char *own_locator(struct vtep *v)
{
	json_t *t = ovsdb_replica_table(&v->rep, "Physical_Locator"), *row;
	const char *uuid;

	json_object_foreach(t, uuid, row)
	{
		const char *ip = ovsdb_row_string(row, "dst_ip");
		const char *enc = ovsdb_row_string(row, "encapsulation_type");

		if (ip && enc && !strcmp(ip, v->tip) && !strcmp(enc, "vxlan_over_ipv4"))
			return uuid;
	}
	return NULL;
}

/* A reference to our Physical_Locator: `loc` if there is one, else the row this
 * transaction inserts (once) as "loc". */
static json_t *loc_ref(struct vtep *v, json_t *ops, const char *loc, bool *inserted)
{
	if (loc)
		return ovsdb_uuid_ref(loc);
	if (!*inserted) {
		op_add(ops, json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "op", "insert", "table",
				      "Physical_Locator", "uuid-name", "loc", "row",
				      "encapsulation_type", "vxlan_over_ipv4", "dst_ip", v->tip));
		*inserted = true;
	}
	return ovsdb_named_ref("loc");
}

/* 1 if Mcast_Macs_Local `row` is unknown-dst -> {our locator} of a realised logical
 * switch not yet seen; marks that switch in `seen`. */
static int mcast_local_ok(struct vtep *v, json_t *row, bool *seen)
{
	const char *ls = col_uuid(row, "logical_switch"), *mac = ovsdb_row_string(row, "MAC");
	const char *set = col_uuid(row, "locator_set");
	json_t *setrow = set ? ovsdb_replica_row(&v->rep, "Physical_Locator_Set", set) : NULL;
	const json_t *locs = json_object_get(setrow, "locators");
	json_t *lrow;

	if (!ls || !mac || strcmp(mac, "unknown-dst") || ovsdb_set_len(locs) != 1)
		return 0;
	lrow = ovsdb_atom_uuid(ovsdb_set_get(locs, 0))
		       ? ovsdb_replica_row(&v->rep, "Physical_Locator",
					   ovsdb_atom_uuid(ovsdb_set_get(locs, 0)))
		       : NULL;
	if (!ovsdb_row_string(lrow, "dst_ip") || strcmp(ovsdb_row_string(lrow, "dst_ip"), v->tip))
		return 0;
	for (unsigned i = 0; i < v->n_ls; i++)
		if (!strcmp(v->ls[i].uuid, ls) && !seen[i])
			return seen[i] = true;
	return 0;
}

/* Mcast_Macs_Local: for every logical switch realised here, unknown-dst (broadcast,
 * multicast, unknown unicast) is replicated to this host's locator; nothing else. */
static void mcast_local_ops(struct vtep *v, json_t *ops, const char *loc, bool *loc_inserted)
{
	bool seen[MAX_LS] = {false};
	json_t *t = ovsdb_replica_table(&v->rep, "Mcast_Macs_Local"), *row;
	const char *uuid;

	json_object_foreach(t, uuid, row)
	{
		if (!mcast_local_ok(v, row, seen))
			op_add(ops, json_pack("{s:s,s:s,s:o}", "op", "delete", "table",
					      "Mcast_Macs_Local", "where", where_uuid(uuid)));
	}
	for (unsigned i = 0; i < v->n_ls; i++) {
		char set[24];

		if (seen[i])
			continue;
		snprintf(set, sizeof(set), "mset%u", i);
		op_add(ops, json_pack("{s:s,s:s,s:s,s:{s:o}}", "op", "insert", "table",
				      "Physical_Locator_Set", "uuid-name", set, "row", "locators",
				      loc_ref(v, ops, loc, loc_inserted)));
		op_add(ops, json_pack("{s:s,s:s,s:{s:s,s:o,s:o}}", "op", "insert", "table",
				      "Mcast_Macs_Local", "row", "MAC", "unknown-dst",
				      "logical_switch", ovsdb_uuid_ref(v->ls[i].uuid),
				      "locator_set", ovsdb_named_ref(set)));
	}
}

/* Physical_Ports for guest ports the switch does not list yet, their refs into newports. */
static void publish_new_ports(struct vtep *v, json_t *ops, json_t *newports, const char *psu,
			      json_t *psrow)
{
	static char names[1024][VSW_NAME_MAX];
	struct port_scan ps = {.v = v, .names = names, .max = 1024};
	json_t *t, *row;
	const char *uuid;
	unsigned named = 0;

	vsw_switch_foreach(v->d->sw, scan_bridge, &ps);
	for (unsigned i = 0; i < ps.n; i++) {
		bool listed = false;
		char nm[24];

		t = psu ? ovsdb_replica_table(&v->rep, "Physical_Port") : NULL;
		json_object_foreach(t, uuid, row)
		{
			const char *n = ovsdb_row_string(row, "name");

			if (n && !strcmp(n, names[i]) && ps_has_port(psrow, uuid))
				listed = true;
		}
		if (listed)
			continue;
		snprintf(nm, sizeof(nm), "port%u", named++);
		op_add(ops, json_pack("{s:s,s:s,s:s,s:{s:s}}", "op", "insert", "table",
				      "Physical_Port", "uuid-name", nm, "row", "name", names[i]));
		json_array_append_new(newports, ovsdb_named_ref(nm));
	}
}

/* The Physical_Switch row (taking newports) and its entry in Global's switches. */
static void publish_switch(struct vtep *v, json_t *ops, json_t *newports)
{
	json_t *t, *row;
	const char *uuid;

	op_add(ops, json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:o}}", "op", "insert", "table",
			      "Physical_Switch", "uuid-name", "ps", "row", "name", v->name,
			      "tunnel_ips", v->tip, "ports", ovsdb_set_of(newports)));
	t = ovsdb_replica_table(&v->rep, "Global");
	if (t && json_object_size(t)) {
		json_object_foreach(t, uuid, row) break;
		op_add(ops, json_pack("{s:s,s:s,s:o,s:[[s,s,o]]}", "op", "mutate", "table",
				      "Global", "where", where_uuid(uuid), "mutations", "switches",
				      "insert", ovsdb_named_ref("ps")));
	} else {
		op_add(ops, json_pack("{s:s,s:s,s:{s:o}}", "op", "insert", "table", "Global", "row",
				      "switches", ovsdb_named_ref("ps")));
	}
}

/* What the FDB learnt on the bound ports, per logical switch, into lm; the count. */
static unsigned local_macs(struct vtep *v, struct local_mac *lm)
{
	unsigned n_lm = 0;

	for (unsigned i = 0; i < v->n_ls; i++) {
		struct ls_state *w = &v->ls[i];
		struct fdb_scan fs = {
			.v = v, .w = w, .out = lm + n_lm, .max = MAX_LOCAL_MACS - n_lm};
		struct vsw_port *vx;

		if (vsw_bridge_find(v->d->sw, w->bridge, &fs.br) ||
		    vsw_port_find(fs.br, w->port, &vx))
			continue;
		fs.vx_no = vsw_port_no(vx);
		vsw_fdb_dump(fs.br, scan_fdb, &fs);
		n_lm += fs.n;
	}
	return n_lm;
}

/* Ucast_Macs_Local: deletes the rows no longer learnt, inserts the new ones. */
static void ucast_local_ops(struct vtep *v, json_t *ops, const char *loc, bool *loc_needed)
{
	static struct local_mac lm[MAX_LOCAL_MACS];
	unsigned n_lm = local_macs(v, lm);
	json_t *t, *row;
	const char *uuid;

	t = ovsdb_replica_table(&v->rep, "Ucast_Macs_Local");
	json_object_foreach(t, uuid, row)
	{
		const char *ls = col_uuid(row, "logical_switch");
		uint8_t mac[6];
		bool keep = false;

		if (ls && !pvnet_mac_parse(ovsdb_row_string(row, "MAC"), mac))
			for (unsigned i = 0; i < n_lm; i++)
				if (lm[i].ls && !memcmp(lm[i].mac, mac, 6) &&
				    !strcmp(lm[i].ls, ls)) {
					lm[i].ls = NULL; /* present */
					keep = true;
				}
		if (!keep)
			op_add(ops, json_pack("{s:s,s:s,s:o}", "op", "delete", "table",
					      "Ucast_Macs_Local", "where", where_uuid(uuid)));
	}
	for (unsigned i = 0; i < n_lm; i++) {
		char m[18];

		if (!lm[i].ls)
			continue;
		pvnet_mac_format(lm[i].mac, m);
		op_add(ops, json_pack("{s:s,s:s,s:{s:s,s:o,s:o}}", "op", "insert", "table",
				      "Ucast_Macs_Local", "row", "MAC", m, "logical_switch",
				      ovsdb_uuid_ref(lm[i].ls), "locator",
				      loc_ref(v, ops, loc, loc_needed)));
	}
}

/* The operations that make the database show this switch; an empty array if none. */
static json_t *publish_ops(struct vtep *v)
{
	json_t *ops = json_array(), *psrow = NULL, *newports = json_array();
	const char *psu = ps_uuid(v, &psrow), *loc;
	bool loc_needed = false;

	if (!ops || !newports) {
		json_decref(ops);
		json_decref(newports);
		return NULL;
	}
	publish_new_ports(v, ops, newports, psu, psrow);
	if (!psu) {
		publish_switch(v, ops, newports);
		return ops; /* the MACs follow once the switch is there */
	}
	if (json_array_size(newports))
		op_add(ops, json_pack("{s:s,s:s,s:o,s:[[s,s,o]]}", "op", "mutate", "table",
				      "Physical_Switch", "where", where_uuid(psu), "mutations",
				      "ports", "insert", ovsdb_set_of(newports)));
	else
		json_decref(newports);
	loc = own_locator(v);
	ucast_local_ops(v, ops, loc, &loc_needed);
	mcast_local_ops(v, ops, loc, &loc_needed);
	return ops;
}

static void publish(struct vtep *v, uint64_t now)
{
	json_t *ops;
	int rc;

	if (!v->synced || v->txn_id || now < v->txn_after_ms)
		return;
	v->dirty = false;
	ops = publish_ops(v);
	if (!ops || !json_array_size(ops)) {
		json_decref(ops);
		return;
	}
	json_array_insert_new(ops, 0, json_string(DB_NAME));
	rc = ovsdb_conn_request(v->conn, "transact", ops, &v->txn_id);
	if (rc) {
		v->txn_id = 0;
		v->txn_after_ms = now + TXN_RETRY_MS;
		return;
	}
	v->txns++;
}

/* ---- connection callbacks ---------------------------------------------------------- */

static void on_connected(void *arg, struct ovsdb_conn *c)
{
	static const char *const tables[] = {
		"Global",           "Physical_Switch",     "Physical_Port",     "Logical_Switch",
		"Ucast_Macs_Local", "Ucast_Macs_Remote",   "Mcast_Macs_Remote", "Mcast_Macs_Local",
		"Physical_Locator", "Physical_Locator_Set"};
	struct vtep *v = arg;
	json_t *req = json_object(), *params;

	v->synced = false;
	v->txn_id = 0;
	for (size_t i = 0; req && i < sizeof(tables) / sizeof(tables[0]); i++)
		json_object_set_new(req, tables[i], json_object());
	params = json_pack("[s,s,o]", DB_NAME, "pvnetd", req);
	if (!params || ovsdb_conn_request(c, "monitor", params, &v->monitor_id))
		ovsdb_conn_reconnect(c);
}

static void on_disconnected(void *arg, struct ovsdb_conn *c)
{
	struct vtep *v = arg;

	(void)c;
	v->synced = false;
	v->txn_id = 0;
	PVLOG(WARN, MOD,
	      "VTEP database lost: forwarding on with the last state (%u logical "
	      "switches), reconnecting",
	      v->n_ls);
}

static void on_reply(void *arg, struct ovsdb_conn *c, uint64_t id, json_t *result, json_t *error)
{
	struct vtep *v = arg;

	if (id == v->monitor_id) {
		int rc = error ? -EPROTO : ovsdb_replica_apply(&v->rep, result, 1);

		if (rc) {
			v->bad_updates++;
			PVLOG(ERR, MOD, "monitor refused or malformed (%s): reconnecting",
			      error ? "error reply" : strerror(-rc));
			ovsdb_conn_reconnect(c);
			return;
		}
		v->synced = true;
		PVLOG(INFO, MOD, "synchronised: %zu rows", v->rep.rows);
		reconcile(v);
		publish(v, pvnet_now_ms());
		return;
	}
	if (id == v->txn_id) {
		size_t i;
		json_t *r;

		v->txn_id = 0;
		json_array_foreach(result, i, r)
		{
			if (json_object_get(r, "error")) {
				error = r;
				break;
			}
		}
		if (error) {
			char *s = json_dumps(error, JSON_COMPACT);

			v->txn_errors++;
			v->txn_after_ms = pvnet_now_ms() + TXN_RETRY_MS;
			PVLOG_RL(WARN, MOD, "transaction failed: %.300s", s ? s : "?");
			free(s);
		} else if (v->dirty) {
			publish(v, pvnet_now_ms()); /* what changed while this one was in flight */
		}
	}
}

static void on_notify(void *arg, struct ovsdb_conn *c, const char *method, json_t *params)
{
	struct vtep *v = arg;
	int rc;

	(void)c;
	if (strcmp(method, "update") || !v->synced)
		return;
	rc = json_array_size(params) == 2
		     ? ovsdb_replica_apply(&v->rep, json_array_get(params, 1), 0)
		     : -EINVAL;
	if (rc) {
		v->bad_updates++;
		if (pvnet_log_ratelimit(&v->rl))
			pvnet_log(PVNET_LOG_WARN, MOD, "an update ignored: %s", strerror(-rc));
		return;
	}
	v->updates++;
	reconcile(v);
}

static const struct ovsdb_conn_ops conn_ops = {on_connected, on_disconnected, on_reply, on_notify};

/* ---- OVN's southbound database (--ovnsb-db): read only ----------------------------- */

static void sb_on_connected(void *arg, struct ovsdb_conn *c)
{
	struct vtep *v = arg;
	json_t *params = json_pack("[s,s,{s:{s:[s,s]},s:{s:[s,s]},s:{s:[s,s,s,s]},s:{s:[s]}}]",
				   "OVN_Southbound", "pvnetd-sb", "Chassis", "columns", "name",
				   "encaps", "Encap", "columns", "type", "ip", "Port_Binding",
				   "columns", "type", "datapath", "chassis", "logical_port",
				   "Datapath_Binding", "columns", "tunnel_key");

	v->sb_synced = false;
	if (!params || ovsdb_conn_request(c, "monitor", params, &v->sb_monitor_id))
		ovsdb_conn_reconnect(c);
}

static void sb_on_disconnected(void *arg, struct ovsdb_conn *c)
{
	struct vtep *v = arg;

	(void)c;
	v->sb_synced = false;
	PVLOG(WARN, MOD,
	      "OVN southbound database lost: keeping the other VTEPs last known, "
	      "reconnecting");
}

static void sb_on_reply(void *arg, struct ovsdb_conn *c, uint64_t id, json_t *result, json_t *error)
{
	struct vtep *v = arg;
	int rc;

	if (id != v->sb_monitor_id)
		return;
	rc = error ? -EPROTO : ovsdb_replica_apply(&v->sbrep, result, 1);
	if (rc) {
		v->bad_updates++;
		PVLOG(ERR, MOD, "southbound monitor refused or malformed (%s): reconnecting",
		      error ? "error reply" : strerror(-rc));
		ovsdb_conn_reconnect(c);
		return;
	}
	v->sb_synced = true;
	PVLOG(INFO, MOD, "southbound synchronised: %zu rows", v->sbrep.rows);
	if (v->synced)
		reconcile(v);
}

static void sb_on_notify(void *arg, struct ovsdb_conn *c, const char *method, json_t *params)
{
	struct vtep *v = arg;
	int rc;

	(void)c;
	if (strcmp(method, "update") || !v->sb_synced)
		return;
	rc = json_array_size(params) == 2
		     ? ovsdb_replica_apply(&v->sbrep, json_array_get(params, 1), 0)
		     : -EINVAL;
	if (rc) {
		v->bad_updates++;
		if (pvnet_log_ratelimit(&v->rl))
			pvnet_log(PVNET_LOG_WARN, MOD, "a southbound update ignored: %s",
				  strerror(-rc));
		return;
	}
	v->sb_updates++;
	if (v->synced)
		reconcile(v);
}

static const struct ovsdb_conn_ops sb_ops = {sb_on_connected, sb_on_disconnected, sb_on_reply,
					     sb_on_notify};

/* ---- life cycle -------------------------------------------------------------------- */

int vtep_create(struct pvnetd *d, const struct vtep_opts *o, struct vtep **out)
{
	struct vtep *v;
	int rc = -EINVAL;

	*out = NULL;
	if (!o->db || !o->name || !o->tunnel_ip || !*o->name || strlen(o->name) >= 64 ||
	    strlen(o->tunnel_ip) >= 64) {
		PVLOG(ERR, MOD, "--vtep-db, --vtep-name and --tunnel-ip go together");
		return -EINVAL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->d = d;
	snprintf(v->db, sizeof(v->db), "%s", o->db);
	snprintf(v->name, sizeof(v->name), "%s", o->name);
	snprintf(v->tip, sizeof(v->tip), "%s", o->tunnel_ip);
	if (vsw_ip_parse(o->tunnel_ip, &v->tip_addr) || v->tip_addr.family != AF_INET) {
		PVLOG(ERR, MOD, "--tunnel-ip %s: an IPv4 address (vxlan_over_ipv4)", o->tunnel_ip);
		goto fail_free;
	}
	rc = ovsdb_replica_init(&v->rep, 0);
	if (rc)
		goto fail_free;
	rc = ovsdb_conn_create(o->db, &conn_ops, v, &v->conn);
	if (rc) {
		PVLOG(ERR, MOD, "--vtep-db %s: unix:PATH or tcp:IP:PORT", o->db);
		goto fail_rep;
	}
	if (o->sb && *o->sb) {
		snprintf(v->sb_target, sizeof(v->sb_target), "%s", o->sb);
		rc = ovsdb_replica_init(&v->sbrep, 0);
		if (!rc) {
			rc = ovsdb_conn_create(o->sb, &sb_ops, v, &v->sb);
			if (rc)
				ovsdb_replica_fini(&v->sbrep);
		}
		if (rc) {
			PVLOG(ERR, MOD, "--ovnsb-db %s: unix:PATH or tcp:IP:PORT", o->sb);
			ovsdb_conn_destroy(v->conn);
			goto fail_rep;
		}
	}
	PVLOG(INFO, MOD, "switch %s, tunnel ip %s, database %s%s%s", v->name, v->tip, o->db,
	      v->sb ? ", other VTEPs from " : "", v->sb_target);
	*out = v;
	return 0;
fail_rep:
	ovsdb_replica_fini(&v->rep);
fail_free:
	free(v);
	return rc;
}

void vtep_destroy(struct vtep *v)
{
	if (!v)
		return;
	ovsdb_conn_destroy(v->conn);
	ovsdb_replica_fini(&v->rep);
	if (v->sb) {
		ovsdb_conn_destroy(v->sb);
		ovsdb_replica_fini(&v->sbrep);
	}
	for (unsigned i = 0; i < v->n_ls; i++)
		free(v->ls[i].macs);
	free(v);
}

int vtep_pollfds(struct vtep *v, struct pollfd *pfd)
{
	int fd = ovsdb_conn_fd(v->conn), n = 0;

	if (fd >= 0)
		pfd[n++] = (struct pollfd){.fd = fd, .events = ovsdb_conn_events(v->conn)};
	fd = v->sb ? ovsdb_conn_fd(v->sb) : -1;
	if (fd >= 0)
		pfd[n++] = (struct pollfd){.fd = fd, .events = ovsdb_conn_events(v->sb)};
	return n;
}

int vtep_timeout_ms(struct vtep *v)
{
	uint64_t now = pvnet_now_ms();
	int t = ovsdb_conn_timeout_ms(v->conn, now);
	int r = v->next_refresh_ms > now ? (int)(v->next_refresh_ms - now) : 0;
	int g = v->next_gen_ms > now ? (int)(v->next_gen_ms - now) : 0;

	if (v->sb && ovsdb_conn_timeout_ms(v->sb, now) < t)
		t = ovsdb_conn_timeout_ms(v->sb, now);
	if (g < r && v->n_ls)
		r = g;
	return t < r ? t : r;
}

/* The sum of the generations of the bridges that carry logical switches: it moves when
 * a MAC is learnt, moves, ages out or is flushed there. */
static uint64_t fdb_generation(struct vtep *v)
{
	uint64_t g = 0;

	for (unsigned i = 0; i < v->n_ls; i++) {
		struct vsw_bridge *br;

		if (!vsw_bridge_find(v->d->sw, v->ls[i].bridge, &br))
			g += vsw_fdb_generation(br) + i; /* + i: a bridge that comes or goes */
	}
	return g;
}

static short revents_of(const struct pollfd *pfd, int n, struct ovsdb_conn *c)
{
	int fd = c ? ovsdb_conn_fd(c) : -1;

	for (int i = 0; fd >= 0 && i < n; i++)
		if (pfd[i].fd == fd)
			return pfd[i].revents;
	return 0;
}

void vtep_run(struct vtep *v, const struct pollfd *pfd, int n)
{
	uint64_t now = pvnet_now_ms();

	ovsdb_conn_run(v->conn, revents_of(pfd, n, v->conn), now);
	if (v->sb)
		ovsdb_conn_run(v->sb, revents_of(pfd, n, v->sb), now);
	if (now >= v->next_gen_ms) {
		uint64_t g = fdb_generation(v);

		v->next_gen_ms = now + GEN_POLL_MS;
		if (g != v->fdb_gen) { /* an FDB change: report it now, not at the refresh */
			v->fdb_gen = g;
			v->dirty = true;
		}
	}
	if (now >= v->next_refresh_ms) {
		v->next_refresh_ms = now + REFRESH_MS;
		/* without a database the switch keeps what it has (nothing is torn down) */
		if (v->synced) {
			reconcile(v);
			v->dirty = true;
		}
	}
	if (v->dirty)
		publish(v, now);
	/* anything queued by the callbacks or publish goes out this turn */
	ovsdb_conn_run(v->conn, 0, now);
	if (v->sb)
		ovsdb_conn_run(v->sb, 0, now);
}

/* ---- options kept in the state dir ------------------------------------------------ */

#define VTEP_CONF "vtep.conf"

int vtep_opts_load(const char *state_dir, struct vtep_opts *o, char *err, size_t size)
{
	static const char *const keys[4] = {"db", "name", "tunnel_ip", "ovnsb_db"};
	const char **dst[4] = {&o->db, &o->name, &o->tunnel_ip, &o->sb};
	char path[4096], line[512];
	unsigned lineno = 0;
	FILE *f;

	if (o->db || o->name || o->tunnel_ip || o->sb)
		return 0; /* given on the command line: those */
	snprintf(path, sizeof(path), "%s/%s", state_dir, VTEP_CONF);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *nl = strchr(line, '\n');
		int k;

		lineno++;
		if (nl)
			*nl = 0;
		if (!line[0] || line[0] == '#')
			continue;
		for (k = 0; k < 4 && eq; k++)
			if ((size_t)(eq - line) == strlen(keys[k]) &&
			    !strncmp(line, keys[k], strlen(keys[k])))
				break;
		if (!eq || k == 4 || (!nl && !feof(f)) || strlen(eq + 1) >= sizeof(o->buf[k])) {
			snprintf(err, size,
				 "%s line %u: not db=, name=, tunnel_ip= or ovnsb_db=", path,
				 lineno);
			fclose(f);
			return -EINVAL;
		}
		snprintf(o->buf[k], sizeof(o->buf[k]), "%s", eq + 1);
		*dst[k] = o->buf[k];
	}
	fclose(f);
	return 0;
}

int vtep_opts_persist(struct vtep *v, const char *state_dir, bool forget)
{
	char path[4096], tmp[4200];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", state_dir, VTEP_CONF);
	if (!v) {
		if (forget && unlink(path) < 0 && errno != ENOENT) {
			rc = -errno;
			PVLOG(WARN, MOD, "%s: %s", path, strerror(-rc));
		}
		return rc;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		rc = -errno;
		PVLOG(WARN, MOD, "%s: %s: the VTEP options are not kept", tmp, strerror(-rc));
		return rc;
	}
	fprintf(f,
		"# pvnetd's OVN VTEP options (docs/ovn.md); pvnetd --vtep-db none forgets them\n"
		"db=%s\nname=%s\ntunnel_ip=%s\n",
		v->db, v->name, v->tip);
	if (v->sb)
		fprintf(f, "ovnsb_db=%s\n", v->sb_target);
	if (fflush(f) || fsync(fileno(f)))
		rc = -errno;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		PVLOG(WARN, MOD, "%s: %s: the VTEP options are not kept", path, strerror(-rc));
	}
	return rc;
}

void vtep_log_status(struct vtep *v)
{
	struct ovsdb_conn_stats st;

	ovsdb_conn_get_stats(v->conn, &st);
	PVLOG(INFO, MOD,
	      "status: %s synced=%d rows=%zu logical_switches=%u updates=%llu bad_updates=%llu "
	      "txns=%llu txn_errors=%llu connects=%llu disconnects=%llu bad_msgs=%llu "
	      "southbound=%s sb_synced=%d sb_updates=%llu",
	      ovsdb_conn_is_up(v->conn) ? "up" : "down", v->synced, v->rep.rows, v->n_ls,
	      (unsigned long long)v->updates, (unsigned long long)v->bad_updates,
	      (unsigned long long)v->txns, (unsigned long long)v->txn_errors,
	      (unsigned long long)st.connects, (unsigned long long)st.disconnects,
	      (unsigned long long)st.bad_msgs,
	      !v->sb                    ? "none"
	      : ovsdb_conn_is_up(v->sb) ? "up"
					: "down",
	      v->sb_synced, (unsigned long long)v->sb_updates);
}
