/* SPDX-License-Identifier: MIT */
/*
 * Bridges and ports: creation, the port table, VLAN configuration, stats, and the
 * FDB entry points of vswitch.h. The data path is in input.c.
 *
 * Locking: br->lock (rwlock, writer-preferring) guards the port table and every
 * port's configuration (enabled, VLAN mode). Workers hold it for reading for the
 * duration of one vsw_input() call; control calls take it for writing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>

#include "vsw_private.h"

static uint64_t default_clock(void *arg)
{
	(void)arg;
	return pvnet_now_ns();
}

static const char *const drop_names[VSW_DROP__MAX] = {
	[VSW_DROP_INVALID_FRAME] = "invalid_frame",
	[VSW_DROP_VLAN_MISMATCH] = "vlan_mismatch",
	[VSW_DROP_INGRESS_DISABLED] = "ingress_disabled",
	[VSW_DROP_LOOP] = "loop",
	[VSW_DROP_NO_PORT] = "no_port",
	[VSW_DROP_EGRESS_FULL] = "egress_full",
	[VSW_DROP_NO_OFFLOAD] = "no_offload",
	[VSW_DROP_SPOOFED_MAC] = "spoofed_mac",
	[VSW_DROP_SPOOFED_IP] = "spoofed_ip",
	[VSW_DROP_SPOOFED_ARP] = "spoofed_arp",
	[VSW_DROP_SPOOFED_ND] = "spoofed_nd",
	[VSW_DROP_BAD_SRC_MAC] = "bad_src_mac",
	[VSW_DROP_LINK_LOCAL] = "link_local",
	[VSW_DROP_DOUBLE_TAGGED] = "double_tagged",
	[VSW_DROP_BAD_HEADERS] = "bad_headers",
	[VSW_DROP_RX_SHARE] = "rx_share",
	[VSW_DROP_UNKNOWN_REMOTE] = "unknown_remote",
	[VSW_DROP_SPOOFED_DHCP] = "spoofed_dhcp",
};

const char *vsw_drop_reason_name(enum vsw_drop_reason reason)
{
	if ((unsigned)reason >= VSW_DROP__MAX)
		return "?";
	return drop_names[reason];
}

static bool name_ok(const char *name)
{
	return name && name[0] && strlen(name) < VSW_NAME_MAX;
}

int vsw_create(const char *name, const struct vsw_bridge_config *cfg, struct vsw_bridge **out)
{
	struct vsw_bridge_config def = {0};
	pthread_rwlockattr_t attr;
	struct vsw_bridge *br;
	int rc = -EINVAL;

	*out = NULL;
	if (!name_ok(name))
		goto fail;
	if (cfg)
		def = *cfg;
	if (!def.fdb_max_entries)
		def.fdb_max_entries = VSW_FDB_DEFAULT_MAX;
	if (!def.fdb_ageing_ns)
		def.fdb_ageing_ns = VSW_FDB_DEFAULT_AGEING_NS;
	if (!def.clock_ns) {
		def.clock_ns = default_clock;
		def.clock_arg = NULL;
	}
	if (!def.fallback_pool_size)
		def.fallback_pool_size = 256;
	rc = -ENOMEM;
	br = calloc(1, sizeof(*br));
	if (!br)
		goto fail;
	strcpy(br->name, name);
	br->clock_ns = def.clock_ns;
	br->clock_arg = def.clock_arg;
	rc = vsw_fdb_create(def.fdb_max_entries, def.fdb_ageing_ns, &br->fdb);
	if (rc)
		goto fail_br;
	rc = pvnet_pkt_pool_create(def.fallback_pool_size, VSW_FALLBACK_BUF_SIZE, &br->fallback);
	if (rc)
		goto fail_fdb;
	pthread_rwlockattr_init(&attr);
	/* writer-preferring: a port delete must not starve behind busy workers */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = -pthread_rwlock_init(&br->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc)
		goto fail_pool;
	*out = br;
	return 0;

fail_pool:
	pvnet_pkt_pool_destroy(br->fallback);
fail_fdb:
	vsw_fdb_destroy(br->fdb);
fail_br:
	free(br);
fail:
	return rc;
}

static void port_free(struct vsw_port *port)
{
	if (port->ops->destroy)
		port->ops->destroy(port);
	vsw_mirror_free(port->mirror, NULL);
	vsw_antispoof_free(port->antispoof);
	free(port);
}

void vsw_destroy(struct vsw_bridge *br)
{
	if (!br)
		return;
	for (unsigned i = 0; i < VSW_PORTS_MAX; i++)
		if (br->ports[i])
			port_free(br->ports[i]);
	pthread_rwlock_destroy(&br->lock);
	pvnet_pkt_pool_destroy(br->fallback);
	vsw_fdb_destroy(br->fdb);
	vsw_antispoof_owners_free(br);
	free(br);
}

const char *vsw_bridge_name(const struct vsw_bridge *br)
{
	return br->name;
}

void vsw_bridge_get_stats(struct vsw_bridge *br, struct vsw_bridge_stats *st)
{
	struct vsw_fdb_counters c;

	memset(st, 0, sizeof(*st));
	vsw_fdb_get_counters(br->fdb, &c);
	st->fdb_entries = vsw_fdb_count(br->fdb);
	st->fdb_learned = c.learned;
	st->fdb_moves = c.moves;
	st->fdb_aged = c.aged;
	st->fdb_learn_full = c.learn_full;
	st->fdb_evicted = c.evicted;
	st->flooded = vsw_atomic_read(&br->flooded);
	st->sw_csum = vsw_atomic_read(&br->sw_csum);
	st->sw_tso_segs = vsw_atomic_read(&br->sw_tso_segs);
	pthread_rwlock_rdlock(&br->lock);
	st->ports = br->n_active;
	pthread_rwlock_unlock(&br->lock);
}

/* Rebuilds the dense list of ports, in port-number order. Write lock held. */
static void rebuild_active(struct vsw_bridge *br)
{
	unsigned n = 0;

	for (unsigned i = 0; i < VSW_PORTS_MAX; i++)
		if (br->ports[i])
			br->active[n++] = br->ports[i];
	br->n_active = n;
}

static struct vsw_port *find_locked(struct vsw_bridge *br, const char *name)
{
	for (unsigned i = 0; i < br->n_active; i++)
		if (!strcmp(br->active[i]->name, name))
			return br->active[i];
	return NULL;
}

int vsw_port_add(struct vsw_bridge *br, const char *name, const struct vsw_port_ops *ops,
		 void *priv, unsigned flags, struct vsw_port **out)
{
	struct vsw_port *port = NULL;
	unsigned no;
	int rc = -EINVAL;

	*out = NULL;
	if (!br || !name_ok(name) || !ops || !ops->send || (flags & ~VSW_PORT_F_ALL))
		goto fail;
	rc = -ENOMEM;
	port = aligned_alloc(64, sizeof(*port));
	if (!port)
		goto fail;
	memset(port, 0, sizeof(*port));
	port->br = br;
	port->ops = ops;
	port->priv = priv;
	port->flags = flags;
	port->enabled = true;
	port->mode = VSW_MODE_ACCESS;
	strcpy(port->name, name);

	pthread_rwlock_wrlock(&br->lock);
	rc = -EEXIST;
	if (find_locked(br, name))
		goto fail_unlock;
	rc = -ENOSPC;
	for (no = 0; no < VSW_PORTS_MAX && br->ports[no]; no++)
		;
	if (no == VSW_PORTS_MAX)
		goto fail_unlock;
	port->port_no = no;
	vsw_fdb_port_reset(br->fdb, no); /* default limit, zero counters */
	br->ports[no] = port;
	rebuild_active(br);
	pthread_rwlock_unlock(&br->lock);
	PVLOG(INFO, VSW_LOG, "%s: port %u %s (%s) added", br->name, no, name, ops->type);
	*out = port;
	return 0;

fail_unlock:
	pthread_rwlock_unlock(&br->lock);
	free(port);
fail:
	return rc;
}

int vsw_port_del(struct vsw_bridge *br, struct vsw_port *port)
{
	int rc = -ENOENT;

	if (!br || !port)
		return -ENOENT;
	/* Once we hold the write lock no worker is inside vsw_input(), so none is in
	 * this port's send(); after we drop it none can find the port again. */
	pthread_rwlock_wrlock(&br->lock);
	if (port->port_no < VSW_PORTS_MAX && br->ports[port->port_no] == port) {
		br->ports[port->port_no] = NULL;
		rebuild_active(br);
		if (vsw_antispoof_owners_rebuild(br) < 0) /* its addresses are nobody's now */
			PVLOG(ERR, VSW_LOG, "%s: no memory for the anti-spoofing table", br->name);
		/* flushed before the port number can be reused by an add */
		vsw_fdb_flush_port(br->fdb, port->port_no, true);
		rc = 0;
	}
	pthread_rwlock_unlock(&br->lock);
	if (rc)
		return rc;
	PVLOG(INFO, VSW_LOG, "%s: port %u %s removed", br->name, port->port_no, port->name);
	port_free(port);
	return 0;
}

int vsw_port_find(struct vsw_bridge *br, const char *name, struct vsw_port **out)
{
	int rc;

	pthread_rwlock_rdlock(&br->lock);
	*out = name ? find_locked(br, name) : NULL;
	rc = *out ? 0 : -ENOENT;
	pthread_rwlock_unlock(&br->lock);
	return rc;
}

void *vsw_port_priv(const struct vsw_port *port)
{
	return port->priv;
}

void vsw_port_count_drop(struct vsw_port *port, enum vsw_drop_reason reason, uint64_t n)
{
	if (port && (unsigned)reason < VSW_DROP__MAX && n)
		vsw_atomic_add(&port->drops[reason], n);
}

const char *vsw_port_name(const struct vsw_port *port)
{
	return port->name;
}

uint32_t vsw_port_no(const struct vsw_port *port)
{
	return port->port_no;
}

unsigned vsw_port_flags(const struct vsw_port *port)
{
	return port->flags;
}

void vsw_port_set_enabled(struct vsw_port *port, bool enabled)
{
	pthread_rwlock_wrlock(&port->br->lock);
	port->enabled = enabled;
	pthread_rwlock_unlock(&port->br->lock);
}

int vsw_port_set_access(struct vsw_port *port, uint16_t vid)
{
	if (vid > VSW_VLAN_MAX)
		return -EINVAL;
	pthread_rwlock_wrlock(&port->br->lock);
	port->mode = VSW_MODE_ACCESS;
	port->vid = vid;
	memset(port->trunk, 0, sizeof(port->trunk));
	vsw_fdb_flush_port(port->br->fdb, port->port_no, false);
	pthread_rwlock_unlock(&port->br->lock);
	return 0;
}

int vsw_port_set_trunk(struct vsw_port *port, uint16_t native, const uint16_t *vids, unsigned n)
{
	uint64_t set[sizeof(port->trunk) / sizeof(port->trunk[0])] = {0};

	if (native > VSW_VLAN_MAX || (n && !vids))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (vids[i] == 0 || vids[i] > VSW_VLAN_MAX)
			return -EINVAL;
		set[vids[i] / 64] |= 1ull << (vids[i] % 64);
	}
	pthread_rwlock_wrlock(&port->br->lock);
	port->mode = VSW_MODE_TRUNK;
	port->vid = native;
	memcpy(port->trunk, set, sizeof(set));
	vsw_fdb_flush_port(port->br->fdb, port->port_no, false);
	pthread_rwlock_unlock(&port->br->lock);
	return 0;
}

void vsw_port_get_stats(struct vsw_port *port, struct vsw_port_stats *st)
{
	st->rx_packets = vsw_atomic_read(&port->rx_packets);
	st->rx_bytes = vsw_atomic_read(&port->rx_bytes);
	st->tx_packets = vsw_atomic_read(&port->tx_packets);
	st->tx_bytes = vsw_atomic_read(&port->tx_bytes);
	for (unsigned i = 0; i < VSW_DROP__MAX; i++)
		st->drops[i] = vsw_atomic_read(&port->drops[i]);
}

int vsw_port_get_dev_stats(struct vsw_port *port, struct vsw_port_dev_stats *st)
{
	if (!port->ops->get_stats)
		return -EOPNOTSUPP;
	return port->ops->get_stats(port, st);
}

int vsw_port_foreach(struct vsw_bridge *br, int (*cb)(struct vsw_port *port, void *arg), void *arg)
{
	int rc = 0;

	pthread_rwlock_rdlock(&br->lock);
	for (unsigned i = 0; i < br->n_active && !rc; i++)
		rc = cb(br->active[i], arg);
	pthread_rwlock_unlock(&br->lock);
	return rc;
}

/* ---- FDB entry points ---- */

static bool vlan_ok(uint16_t vlan)
{
	return vlan <= VSW_VLAN_MAX;
}

int vsw_fdb_add_static(struct vsw_bridge *br, uint16_t vlan, const uint8_t mac[6],
		       struct vsw_port *port)
{
	int rc = -EINVAL;

	if (!vlan_ok(vlan) || !mac || !port || vsw_mac_is_multicast(mac))
		return rc;
	pthread_rwlock_rdlock(&br->lock);
	if (port->port_no < VSW_PORTS_MAX && br->ports[port->port_no] == port)
		rc = vsw_fdb_set_static(br->fdb, vlan, mac, port->port_no);
	pthread_rwlock_unlock(&br->lock);
	return rc;
}

int vsw_fdb_del(struct vsw_bridge *br, uint16_t vlan, const uint8_t mac[6])
{
	return vsw_fdb_remove(br->fdb, vlan, mac);
}

int vsw_fdb_lookup(struct vsw_bridge *br, uint16_t vlan, const uint8_t mac[6], uint32_t *port_no)
{
	uint64_t now = br->clock_ns(br->clock_arg);
	uint32_t p;

	vsw_fdb_lock(br->fdb);
	p = vsw_fdb_lookup_locked(br->fdb, vlan, mac, now);
	vsw_fdb_unlock(br->fdb);
	if (p == VSW_PORT_NONE)
		return -ENOENT;
	*port_no = p;
	return 0;
}

unsigned vsw_fdb_age(struct vsw_bridge *br)
{
	return vsw_fdb_expire(br->fdb, br->clock_ns(br->clock_arg));
}

void vsw_fdb_flush(struct vsw_bridge *br, struct vsw_port *port, bool statics)
{
	vsw_fdb_flush_port(br->fdb, port ? port->port_no : VSW_PORT_NONE, statics);
}

int vsw_fdb_dump(struct vsw_bridge *br, int (*cb)(const struct vsw_fdb_entry *e, void *arg),
		 void *arg)
{
	return vsw_fdb_walk(br->fdb, br->clock_ns(br->clock_arg), cb, arg);
}

uint64_t vsw_fdb_generation(struct vsw_bridge *br)
{
	return vsw_fdb_gen_get(br->fdb);
}

/* ---- MAC table limits and ageing ---- */

int vsw_bridge_set_ageing(struct vsw_bridge *br, uint32_t secs)
{
	if (!br || secs == 0 || secs > VSW_FDB_AGEING_MAX_S)
		return -EINVAL;
	vsw_fdb_set_ageing(br->fdb, (uint64_t)secs * 1000000000ull);
	PVLOG(INFO, VSW_LOG, "%s: MAC ageing time %u s", br->name, secs);
	return 0;
}

uint32_t vsw_bridge_get_ageing(const struct vsw_bridge *br)
{
	return (uint32_t)(vsw_fdb_get_ageing(br->fdb) / 1000000000ull);
}

int vsw_bridge_set_mac_limit(struct vsw_bridge *br, uint32_t max)
{
	int rc;

	if (!br)
		return -EINVAL;
	rc = vsw_fdb_set_default_limit(br->fdb, max, br->clock_ns(br->clock_arg));
	if (!rc)
		PVLOG(INFO, VSW_LOG, "%s: default MAC limit per port %u", br->name, max);
	return rc;
}

uint32_t vsw_bridge_get_mac_limit(const struct vsw_bridge *br)
{
	return vsw_fdb_get_default_limit(br->fdb);
}

int vsw_port_set_mac_limit(struct vsw_port *p, uint32_t max)
{
	struct vsw_bridge *br;
	int rc;

	if (!p)
		return -EINVAL;
	br = p->br;
	rc = vsw_fdb_port_set_limit(br->fdb, p->port_no, max, br->clock_ns(br->clock_arg));
	if (!rc)
		PVLOG(INFO, VSW_LOG, "%s: %s: MAC limit %u%s", br->name, p->name,
		      vsw_port_get_mac_limit(p), max ? "" : " (bridge default)");
	return rc;
}

uint32_t vsw_port_get_mac_limit(const struct vsw_port *p)
{
	struct vsw_port_fdb_stats st;

	vsw_fdb_port_get(p->br->fdb, p->port_no, &st);
	return (uint32_t)st.limit;
}

void vsw_port_get_fdb_stats(const struct vsw_port *p, struct vsw_port_fdb_stats *st)
{
	vsw_fdb_port_get(p->br->fdb, p->port_no, st);
}

/* ---- operator view ---- */

/* Appends to buf at *off (snprintf semantics, never past size). */
static void put(char *buf, size_t size, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*off < size ? buf + *off : NULL, *off < size ? size - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

int vsw_port_format(struct vsw_port *port, char *buf, size_t size)
{
	char tmp[512];
	size_t off = 0;
	struct vsw_bridge *br = port->br;

	if (size)
		buf[0] = 0;
	pthread_rwlock_rdlock(&br->lock);
	put(buf, size, &off, "%s port %u type=%s %s", port->name, port->port_no,
	    port->ops->type ? port->ops->type : "?", port->enabled ? "up" : "down");
	if (port->mode == VSW_MODE_ACCESS) {
		if (port->vid)
			put(buf, size, &off, " mode=access vlan=%u", port->vid);
		else
			put(buf, size, &off, " mode=access vlan=untagged");
	} else {
		const char *sep = "";
		put(buf, size, &off, " mode=trunk native=%u vlans=", port->vid);
		for (unsigned v = 1; v <= VSW_VLAN_MAX; v++) {
			if (port->trunk[v / 64] >> (v % 64) & 1) {
				put(buf, size, &off, "%s%u", sep, v);
				sep = ",";
			}
		}
		if (!*sep)
			put(buf, size, &off, "none");
	}
	put(buf, size, &off, " offloads=%s%s%s%s", port->flags & VSW_PORT_F_CSUM ? "csum," : "",
	    port->flags & VSW_PORT_F_TSO4 ? "tso4," : "",
	    port->flags & VSW_PORT_F_TSO6 ? "tso6," : "", port->flags ? "" : "none");
	if (off && off <= size && buf[off - 1] == ',')
		buf[--off] = 0;
	{
		struct vsw_port_fdb_stats fs;
		vsw_fdb_port_get(br->fdb, port->port_no, &fs);
		put(buf, size, &off,
		    " macs=%llu/%llu mac_learnt=%llu mac_evicted=%llu mac_limit_hits=%llu",
		    (unsigned long long)fs.entries, (unsigned long long)fs.limit,
		    (unsigned long long)fs.learnt, (unsigned long long)fs.evicted,
		    (unsigned long long)fs.limit_hits);
	}
	if (port->mirror) {
		vsw_mirror_format(port->mirror, tmp, sizeof(tmp));
		put(buf, size, &off, " mirror=%s", tmp);
	}
	if (port->antispoof) {
		vsw_antispoof_format(port->antispoof, tmp, sizeof(tmp));
		put(buf, size, &off, " antispoof=%s", tmp);
	}
	if (port->ops->describe) {
		tmp[0] = 0;
		port->ops->describe(port, tmp, sizeof(tmp));
		if (tmp[0])
			put(buf, size, &off, " %s", tmp);
	}
	pthread_rwlock_unlock(&br->lock);
	if (size && off >= size)
		buf[size - 1] = 0;
	return (int)off;
}
