/* SPDX-License-Identifier: MIT */
/*
 * netback's NIC accelerators, Levels 2-3 (accel_int.h): the guest drives the queue
 * pair; dom0 maps the pools it granted, registers them in the port's IOMMU,
 * programs the TX filter, the rate and the RX filter, publishes accel-frontend /
 * accel-qp, and hands the qp's fds to the guest (nba_guest_connect).
 */
#include <errno.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/accel.h>
#include <pvnet/log.h>

#include "accel_int.h"


/* ---- Levels 2-3: the guest drives the queue pair, dom0 controls -------------------- */

void nba_be_node_write(struct nb_vif *vif, const char *key, const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", vif->be_path, key);
	if (xs_printf(vif->nb->xs, 0, path, "%s", val) < 0)
		PVLOG(WARN, NB_MOD, "%s: cannot write %s", vif->name, key);
}


static void be_node_rm(struct nb_vif *vif, const char *key)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", vif->be_path, key);
	(void)xs_rm(vif->nb->xs, 0, 0, path);
}


/* Reads "<first-ref> <count>" from the frontend dir. */
static int read_pool(struct nb_vif *vif, const char *key, uint32_t *ref, uint32_t *count)
{
	char path[160], *val = NULL, buf[48];
	size_t len = 0;
	unsigned long r, n;
	char *end;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", vif->fe_path, key);
	rc = xs_read(vif->nb->xs, 0, 0, path, &val, &len);
	if (rc < 0)
		return rc;
	if (len >= sizeof(buf)) {
		free(val);
		return -EINVAL;
	}
	memcpy(buf, val, len); /* one read of a guest-written node; parse the copy */
	buf[len] = 0;
	free(val);
	r = strtoul(buf, &end, 10);
	if (end == buf || *end != ' ')
		return -EINVAL;
	n = strtoul(end + 1, &end, 10);
	if (*end || n == 0 || n > L2_MAX_POOL || r > UINT32_MAX - n)
		return -EINVAL;
	*ref = (uint32_t)r;
	*count = (uint32_t)n;
	return 0;
}


/* The vif's `ip` node -> up to ACCEL_TXF_MAX_IPV4 IPv4 addresses (network order). */
static void tx_filter_from_vif(struct nb_vif *vif, const uint8_t mac[6], struct accel_tx_filter *f)
{
	char buf[256], *save = NULL;

	memset(f, 0, sizeof(*f));
	f->flags = ACCEL_TXF_CHECK_MAC;
	memcpy(f->mac, mac, 6);
	if (nba_read_be(vif, "ip", buf, sizeof(buf)) < 0)
		return;
	for (char *t = strtok_r(buf, " ,", &save); t && f->n_ipv4 < ACCEL_TXF_MAX_IPV4;
	     t = strtok_r(NULL, " ,", &save)) {
		struct in_addr a;
		t[strcspn(t, "/")] = 0;
		if (inet_pton(AF_INET, t, &a) == 1)
			f->ipv4[f->n_ipv4++] = a.s_addr;
	}
	if (f->n_ipv4)
		f->flags |= ACCEL_TXF_CHECK_IP;
}


void nba_l2_teardown(struct nb_accel_vif *av)
{
	struct nb_vif *vif = av->vif;
	struct nb *nb = vif->nb;

	/* the NIC first: after port_free it touches no registered page and no qp; only
	 * then tell the guest (it reuses its TX pages once accel-frontend is gone) */
	accel_attach_destroy(av->att);
	av->att = NULL;
	be_node_rm(vif, "accel-frontend");
	be_node_rm(vif, "accel-qp");
	be_node_rm(vif, "accel-local-macs");
	for (unsigned i = 0; i < av->l2_nmaps; i += 64) {
		struct gnttab_unmap_grant_ref u[64];
		unsigned n = av->l2_nmaps - i < 64 ? av->l2_nmaps - i : 64;
		for (unsigned k = 0; k < n; k++)
			u[k] = (struct gnttab_unmap_grant_ref){.handle = av->l2_handles[i + k]};
		gnttab_unmap_grant_ref(nb->hv, 0, u, n);
	}
	free(av->l2_handles);
	av->l2_handles = NULL;
	av->l2_nmaps = 0;
	av->guest = false;
	av->local_macs_set = false;
}


/*
 * Maps the frontend's pools and registers them at IOVA gref << 12: TX pages
 * read-only (the NIC only reads them), RX pages writable. All or nothing.
 */
static int l2_register_pools(struct nb_accel_vif *av, const uint32_t ref[2], const uint32_t cnt[2])
{
	struct nb_vif *vif = av->vif;
	unsigned total = cnt[0] + cnt[1], k = 0;
	struct gnttab_map_grant_ref *m = calloc(total, sizeof(*m));
	struct accel_mem_region *r = calloc(total, sizeof(*r));
	int rc = 0;

	av->l2_handles = calloc(total, sizeof(*av->l2_handles));
	if (!m || !r || !av->l2_handles) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned p = 0; p < 2; p++)
		for (uint32_t i = 0; i < cnt[p]; i++, k++)
			m[k] = (struct gnttab_map_grant_ref){
				.flags = GNTMAP_host_map | (p == 0 ? GNTMAP_readonly : 0),
				.ref = ref[p] + i,
				.dom = vif->domid};
	rc = gnttab_map_grant_ref(vif->nb->hv, 0, m, total);
	for (k = 0; k < total; k++) {
		if (rc == 0 && m[k].status == GNTST_okay) {
			av->l2_handles[av->l2_nmaps++] = m[k].handle;
		} else if (rc == 0) {
			PVLOG(WARN, NB_MOD, "%s: pool grant %u: status %d", vif->name, m[k].ref,
			      m[k].status);
			rc = -EPERM;
		}
	}
	if (rc < 0)
		goto out;
	for (k = 0; k < total; k++)
		r[k] = (struct accel_mem_region){
			.iova = (uint64_t)m[k].ref << 12,
			.host = (void *)(uintptr_t)m[k].host_addr,
			.size = ACCEL_PAGE_SIZE,
			.flags = (m[k].flags & GNTMAP_readonly) ? 0 : ACCEL_MEM_F_WRITABLE};
	rc = accel_attach_mem_register(av->att, r, total);
	if (rc == 0)
		av->grant_maps += total;
out:
	free(m);
	free(r);
	return rc;
}


/* Xen's rate ("bytes per usec window", packed as in nb_rate_parse_node; 0 =
 * unlimited) as the queue pair's token bucket: bytes per second, and a burst of
 * one window's credit plus one maximal packet, the cap netback's own credit
 * scheduler keeps (rate.c). */
int nba_l2_rate_set(struct nb_accel_vif *av, uint64_t packed)
{
	uint64_t bytes = packed >> 32, usec = packed & 0xffffffffu;
	uint64_t bps = usec ? bytes * 1000000u / usec : 0;

	return accel_attach_rate_limit_set(av->att, 0, bps,
					   bps ? bytes + XEN_NETIF_MAX_TX_SIZE : 0);
}

/* Level 2/3 with the guest half. -EOPNOTSUPP: the frontend offers no pools. */
int nba_l2_setup(struct nb_accel_vif *av)
{
	struct nb_vif *vif = av->vif;
	struct accel_vif_config vc = {.domid = vif->domid,
				      .handle = vif->handle,
				      .level = av->want_level,
				      .queues = 1,
				      .ring_len = L2_RING};
	struct accel_rx_filter f = {.vlan = ACCEL_VLAN_NONE, .qid = 0};
	struct accel_tx_filter tf;
	uint32_t ref[2], cnt[2];
	char buf[64];
	int rc;

	if (read_pool(vif, "accel-tx-pool", &ref[0], &cnt[0]) < 0 ||
	    read_pool(vif, "accel-rx-pool", &ref[1], &cnt[1]) < 0)
		return -EOPNOTSUPP;
	if (cnt[0] + cnt[1] > L2_MAX_POOL)
		return -E2BIG;
	if (pvnet_mac_parse(vif->mac, vc.mac))
		return -EINVAL;
	memcpy(f.mac, vc.mac, 6);
	vc.iommu_quota = cnt[0] + cnt[1]; /* the per-vif quota: exactly its pools */
	rc = accel_attach_create(av->nic->dev, &vc, &av->att);
	if (rc < 0)
		return rc;
	av->guest = true; /* from here on nba_l2_teardown undoes */
	/* an LRO frame would carry no MSS for the guest's TAP */
	(void)accel_attach_feature_set_name(av->att, "large-receive-offload", 0);
	rc = l2_register_pools(av, ref, cnt);
	if (rc < 0)
		goto fail;
	tx_filter_from_vif(vif, vc.mac, &tf);
	rc = accel_attach_tx_filter_set(av->att, 0, &tf);
	if (rc < 0)
		goto fail;
	if (nba_read_be(vif, "rate", buf, sizeof(buf)) == 0) {
		uint64_t packed = 0;
		if (nb_rate_parse_node(buf, strlen(buf), &packed) == 0 && packed) {
			rc = nba_l2_rate_set(av, packed);
			if (rc < 0)
				goto fail;
		}
	}
	rc = accel_attach_rx_filter_add(av->att, &f);
	if (rc < 0)
		goto fail;
	nba_be_node_write(vif, "accel-qp", "0");
	nba_be_node_write(vif, "accel-frontend", av->nic->plugin);
	PVLOG(INFO, NB_MOD,
	      "%s: guest-driven qp (level %u): %u TX + %u RX pool pages registered, "
	      "TX filter mac%s (%u IPv4)",
	      vif->name, av->want_level, cnt[0], cnt[1],
	      (tf.flags & ACCEL_TXF_CHECK_IP) ? "+ip" : "", tf.n_ipv4);
	return 0;
fail:
	nba_l2_teardown(av);
	return rc;
}


static struct nb_vif *vif_by_dom(struct nb *nb, domid_t domid, uint32_t handle)
{
	for (struct nb_vif *v = nb->vifs; v; v = v->next)
		if (v->domid == domid && v->handle == handle)
			return v;
	return NULL;
}


/* hv's accelerator connector (control thread): the qp of the caller's own vif. */
int nba_guest_connect(void *arg, domid_t domid, uint32_t handle, uint32_t qp,
		      struct hv_accel_qp *out)
{
	struct nb_vif *vif = vif_by_dom(arg, domid, handle);
	struct accel_qp_map map;
	int rc;

	if (!vif || !vif->accel || !vif->accel->guest || !vif->accel->att)
		return -ENOENT;
	if (qp >= accel_attach_queues(vif->accel->att))
		return -ENOENT;
	/* the plugin checks domid against the port's owner too (-EPERM) */
	rc = accel_attach_map_qp(vif->accel->att, qp, domid, &map);
	if (rc < 0)
		return rc;
	*out = (struct hv_accel_qp){.mem_fd = map.mem_fd,
				    .doorbell_fd = map.doorbell_fd,
				    .irq_fd = map.irq_fd,
				    .ring_len = map.ring_len,
				    .mem_size = map.mem_size,
				    .tx_ring_off = map.tx_ring_off,
				    .rx_ring_off = map.rx_ring_off};
	PVLOG(INFO, NB_MOD, "%s: queue pair %u handed to dom%u", vif->name, qp, domid);
	return 0;
}
