/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/dpa_port.c - the ethdev under a device: queues, offloads (as
 * ethtool features), rte_flow MAC/VLAN steering for Level 1, ethdev counters.
 *
 * Queues: TX queue 0 is shared by every queue pair (only the engine sends). RX
 * queue 0 is the default; when the PMD validates a MAC -> QUEUE rte_flow rule,
 * up to DPA_MAX_HWQ RX queues are configured and each Level 1 queue pair that
 * is the target of a filter gets one of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dpa.h"

#define DPA_NB_MBUF 8191
#define DPA_RX_DESC 512
#define DPA_TX_DESC 512

static uint64_t pool_seq;

/* TX queues: as many as RX queues when the PMD allows (net_tap wants them
 * equal); only queue 0 is used. */
static int configure(struct accel_dev *dev, uint16_t nrxq, uint16_t ntxq)
{
	struct rte_eth_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.rxmode.offloads = dev->rx_offloads;
	conf.txmode.offloads = dev->tx_offloads;
	dev->n_txq = ntxq;
	return rte_eth_dev_configure(dev->port_id, nrxq, ntxq, &conf);
}

/* 1 if the PMD takes "destination MAC -> RX queue 1" through rte_flow. */
static int flow_probe(struct accel_dev *dev, char *why, size_t whylen)
{
	struct rte_flow_attr attr = {.ingress = 1};
	struct rte_flow_item_eth spec, mask;
	struct rte_flow_action_queue q = {.index = 1};
	struct rte_flow_item pattern[2];
	struct rte_flow_action actions[2];
	struct rte_flow_error ferr;
	int rc;

	memset(&spec, 0, sizeof(spec));
	memset(&mask, 0, sizeof(mask));
	memset(pattern, 0, sizeof(pattern));
	memset(actions, 0, sizeof(actions));
	memset(&ferr, 0, sizeof(ferr));
	spec.hdr.dst_addr.addr_bytes[0] = 0x02;
	spec.hdr.dst_addr.addr_bytes[5] = 0x01;
	memset(mask.hdr.dst_addr.addr_bytes, 0xff, 6);
	pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
	pattern[0].spec = &spec;
	pattern[0].mask = &mask;
	pattern[1].type = RTE_FLOW_ITEM_TYPE_END;
	actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
	actions[0].conf = &q;
	actions[1].type = RTE_FLOW_ACTION_TYPE_END;
	rc = rte_flow_validate(dev->port_id, &attr, pattern, actions, &ferr);
	if (rc && ferr.message && strcmp(ferr.message, strerror(-rc)) != 0)
		snprintf(why, whylen, "%s (%s)", ferr.message, strerror(-rc));
	else if (rc)
		snprintf(why, whylen, "%s", strerror(-rc));
	return rc == 0;
}

/* Offloads: what the PMD has of checksum verify and multi-segment TX, as features. */
static void offloads_pick(struct accel_dev *dev, const struct rte_eth_dev_info *info)
{
	/* offloads: what the PMD has of checksum verify and multi-segment TX */
	dev->rx_offloads = info->rx_offload_capa &
			   (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
			    RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	dev->tx_offloads = info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	dev->sdk.features = ACCEL_FEAT_BIT(ACCEL_FEAT_SG); /* the plugin gathers chains itself */
	if (info->rx_offload_capa & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM))
		dev->sdk.features |= ACCEL_FEAT_BIT(ACCEL_FEAT_RX_CSUM);
	/* TX checksums are filled by the plugin's CPU when the PMD lacks them: the
	 * feature is honoured either way (tx_csum_filled counts it) */
	dev->sdk.features |= ACCEL_FEAT_BIT(ACCEL_FEAT_TX_CSUM);
	if (info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO)
		dev->sdk.features |= ACCEL_FEAT_BIT(ACCEL_FEAT_TSO);
	if (info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_VLAN_FILTER)
		dev->sdk.features |= ACCEL_FEAT_BIT(ACCEL_FEAT_RX_VLAN_FILTER);
	/* the plugin does not hand TSO/LRO to the PMD yet: GSO frames larger than
	 * the MTU are dropped and counted (tx_gso_dropped) */
	dev->sdk.features &= ~ACCEL_FEAT_BIT(ACCEL_FEAT_TSO);
}

/* The queue counts: rte_flow probed on 2 RX queues, then widened (or 1 queue). */
static int queues_configure(struct accel_dev *dev, const struct rte_eth_dev_info *info, char *why,
			    size_t whylen, char *err, size_t errlen)
{
	uint16_t nrxq, ntxq;
	int rc;

	/* Probe rte_flow on a 2-queue configuration, then widen. Queues are capped
	 * at 4 pairs: DPDK 22.11's net_tap passes every queue's fd in one
	 * multi-process message limited to 8 fds and smashes its stack beyond. */
	nrxq = info->max_rx_queues < DPA_MAX_HWQ ? info->max_rx_queues : DPA_MAX_HWQ;
	if (nrxq > 4)
		nrxq = 4;
	ntxq = info->max_tx_queues < 2 ? info->max_tx_queues : 2;
	rc = nrxq >= 2 ? configure(dev, 2, ntxq ? ntxq : 1) : -EINVAL;
	if (rc == 0) {
		dev->configured = 1;
		dev->flow_ok = flow_probe(dev, why, whylen);
	} else if (nrxq >= 2) {
		snprintf(why, whylen, "%u RX queues refused", nrxq);
	} else {
		snprintf(why, whylen, "the PMD has %u RX queue(s)", info->max_rx_queues);
	}
	if (dev->flow_ok) {
		ntxq = info->max_tx_queues < nrxq ? info->max_tx_queues : nrxq;
		rc = configure(dev, nrxq, ntxq ? ntxq : 1);
	} else {
		nrxq = 1;
		rc = configure(dev, 1, 1);
	}
	if (rc) {
		snprintf(err, errlen, "%s: rte_eth_dev_configure(%u rxq): %s", dev->name, nrxq,
			 strerror(-rc));
		return rc;
	}
	dev->configured = 1;
	dev->n_rxq = nrxq;
	return 0;
}

/* The RX queues on the mbuf pool and the TX queues, with descriptor counts the PMD takes. */
static int queues_setup(struct accel_dev *dev, uint16_t nrxq, char *err, size_t errlen)
{
	uint16_t nb_rx = DPA_RX_DESC, nb_tx = DPA_TX_DESC;
	int rc;

	rte_eth_dev_adjust_nb_rx_tx_desc(dev->port_id, &nb_rx, &nb_tx);
	for (uint16_t q = 0; q < nrxq; q++) {
		rc = rte_eth_rx_queue_setup(dev->port_id, q, nb_rx, (unsigned)rte_socket_id(), NULL,
					    dev->pool);
		if (rc) {
			snprintf(err, errlen, "%s: RX queue %u setup: %s", dev->name, q,
				 strerror(-rc));
			return rc;
		}
	}
	for (uint16_t q = 0; q < dev->n_txq; q++) {
		rc = rte_eth_tx_queue_setup(dev->port_id, q, nb_tx, (unsigned)rte_socket_id(),
					    NULL);
		if (rc) {
			snprintf(err, errlen, "%s: TX queue %u setup: %s", dev->name, q,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int dpa_ethdev_setup(struct accel_dev *dev, char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	uint16_t nrxq;
	char pname[RTE_MEMPOOL_NAMESIZE], why[256] = "";
	int rc;

	rc = rte_eth_dev_info_get(dev->port_id, &info);
	if (rc) {
		snprintf(err, errlen, "%s: rte_eth_dev_info_get: %s", dev->name, strerror(-rc));
		return rc;
	}
	snprintf(dev->driver, sizeof(dev->driver), "%s", info.driver_name ? info.driver_name : "?");
	offloads_pick(dev, &info);

	snprintf(pname, sizeof(pname), "dpa_%llu",
		 (unsigned long long)__atomic_fetch_add(&pool_seq, 1, __ATOMIC_RELAXED));
	dev->pool = rte_pktmbuf_pool_create(pname, DPA_NB_MBUF, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    (int)rte_socket_id());
	if (!dev->pool) {
		snprintf(err, errlen, "%s: cannot create an mbuf pool of %u: %s", dev->name,
			 DPA_NB_MBUF, rte_strerror(rte_errno));
		return -ENOMEM;
	}

	rc = queues_configure(dev, &info, why, sizeof(why), err, errlen);
	if (rc)
		return rc;
	nrxq = dev->n_rxq;
	rc = queues_setup(dev, nrxq, err, errlen);
	if (rc)
		return rc;
	rc = rte_eth_dev_start(dev->port_id);
	if (rc) {
		snprintf(err, errlen, "%s: rte_eth_dev_start: %s", dev->name, strerror(-rc));
		return rc;
	}
	dev->started = 1;
	/* frames for the vifs' MACs must reach us; not every PMD has the notion */
	rc = rte_eth_promiscuous_enable(dev->port_id);
	if (rc && rc != -ENOTSUP)
		accel_sdk_log(dev, ACCEL_LOG_WARN, "dpdk: %s: promiscuous mode: %s", dev->name,
			      strerror(-rc));
	if (rte_eth_dev_get_mtu(dev->port_id, &dev->mtu) || dev->mtu == 0)
		dev->mtu = 1500;
	accel_sdk_log(dev, ACCEL_LOG_INFO,
		      "dpdk: %s (%s) port %u up: %u RX queue(s), mtu %u, rx offloads 0x%llx; "
		      "Level 1 steering: %s%s%s",
		      dev->name, dev->driver, dev->port_id, nrxq, dev->mtu,
		      (unsigned long long)dev->rx_offloads,
		      dev->flow_ok ? "rte_flow" : "software demux",
		      dev->flow_ok ? "" : " by destination MAC/VLAN; rte_flow unavailable: ",
		      dev->flow_ok ? "" : why);
	return 0;
}

void dpa_ethdev_teardown(struct accel_dev *dev)
{
	if (dev->started) {
		rte_eth_dev_stop(dev->port_id);
		dev->started = 0;
	}
	if (dev->probed && dev->configured) {
		rte_eth_dev_close(dev->port_id);
		dev->configured = 0;
	}
	if (dev->pool) {
		rte_mempool_free(dev->pool);
		dev->pool = NULL;
	}
}

/* rte_flow rule for one filter: ETH dst [+ VLAN tci] -> QUEUE qp->hwq. */
int dpa_flow_add(struct accel_dev *dev, struct accel_sdk_filter *df, struct accel_qp *qp)
{
	struct rte_flow_attr attr = {.ingress = 1};
	struct rte_flow_item_eth espec, emask;
	struct rte_flow_item_vlan vspec, vmask;
	struct rte_flow_action_queue q;
	struct rte_flow_item pattern[3];
	struct rte_flow_action actions[2];
	struct rte_flow_error ferr;
	int n = 0;

	if (!dev->flow_ok)
		return -EOPNOTSUPP;
	if (qp->hwq == 0) {
		for (uint32_t k = 1; k < dev->n_rxq && qp->hwq == 0; k++)
			if (!dev->hwq_owner[k]) {
				dev->hwq_owner[k] = qp;
				qp->hwq = (int)k;
			}
		if (qp->hwq == 0)
			return -ENOSPC;
	}
	memset(&espec, 0, sizeof(espec));
	memset(&emask, 0, sizeof(emask));
	memset(&vspec, 0, sizeof(vspec));
	memset(&vmask, 0, sizeof(vmask));
	memset(pattern, 0, sizeof(pattern));
	memset(actions, 0, sizeof(actions));
	memset(&ferr, 0, sizeof(ferr));
	memcpy(espec.hdr.dst_addr.addr_bytes, df->f.mac, 6);
	memset(emask.hdr.dst_addr.addr_bytes, 0xff, 6);
	pattern[n].type = RTE_FLOW_ITEM_TYPE_ETH;
	pattern[n].spec = &espec;
	pattern[n++].mask = &emask;
	if (df->f.vlan != ACCEL_VLAN_ANY && df->f.vlan != ACCEL_VLAN_NONE) {
		vspec.hdr.vlan_tci = rte_cpu_to_be_16(df->f.vlan);
		vmask.hdr.vlan_tci = rte_cpu_to_be_16(0x0fff);
		pattern[n].type = RTE_FLOW_ITEM_TYPE_VLAN;
		pattern[n].spec = &vspec;
		pattern[n++].mask = &vmask;
	}
	/* ACCEL_VLAN_NONE is matched on the MAC alone; the software classifier
	 * rejects tagged frames, so the rule only chooses the queue */
	pattern[n].type = RTE_FLOW_ITEM_TYPE_END;
	q.index = (uint16_t)qp->hwq;
	actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
	actions[0].conf = &q;
	actions[1].type = RTE_FLOW_ACTION_TYPE_END;
	df->hw = rte_flow_create(dev->port_id, &attr, pattern, actions, &ferr);
	if (!df->hw) {
		/* validated but refused (net_tap without the kernel's flower): no
		 * more attempts on this device, the software demux does it all */
		accel_sdk_log(
			dev, ACCEL_LOG_WARN,
			"dpdk: %s: rte_flow_create for %02x:%02x:%02x:%02x:%02x:%02x: %s; "
			"Level 1 steering is software demux by destination MAC/VLAN from now on",
			dev->name, df->f.mac[0], df->f.mac[1], df->f.mac[2], df->f.mac[3],
			df->f.mac[4], df->f.mac[5], ferr.message ? ferr.message : "failed");
		dev->hwq_owner[qp->hwq] = NULL;
		qp->hwq = 0;
		dev->flow_ok = 0;
		return -EIO;
	}
	dev->st.flow_rules++;
	return 0;
}

void dpa_flow_del(struct accel_dev *dev, struct accel_sdk_filter *df)
{
	struct rte_flow_error ferr;

	if (!df->hw)
		return;
	if (rte_flow_destroy(dev->port_id, df->hw, &ferr))
		accel_sdk_log(dev, ACCEL_LOG_WARN, "dpdk: %s: rte_flow_destroy: %s", dev->name,
			      ferr.message ? ferr.message : "failed");
	df->hw = NULL;
	dev->st.flow_rules--;
}

/*
 * The ethdev's own counters, ethtool-style: rte_eth_stats as eth_rx_packets,
 * eth_tx_packets, eth_rx_bytes, eth_tx_bytes, rx_missed_errors, rx_errors,
 * tx_errors, rx_nombuf; then the PMD's xstats prefixed "x_" (cut at 31 chars).
 */
int dpa_ethdev_stats(struct accel_dev *dev, struct accel_stat *out, uint32_t max, int *n)
{
	struct rte_eth_stats s;
	struct rte_eth_xstat_name *names = NULL;
	struct rte_eth_xstat *xs = NULL;
	char name[ACCEL_NAME_MAX];
	int nx, rc = 0;

	if (!dev->started)
		return 0;
	if (rte_eth_stats_get(dev->port_id, &s) == 0) {
		accel_sdk_stat_put(out, max, n, "eth_rx_packets", s.ipackets);
		accel_sdk_stat_put(out, max, n, "eth_tx_packets", s.opackets);
		accel_sdk_stat_put(out, max, n, "eth_rx_bytes", s.ibytes);
		accel_sdk_stat_put(out, max, n, "eth_tx_bytes", s.obytes);
		accel_sdk_stat_put(out, max, n, "rx_missed_errors", s.imissed);
		accel_sdk_stat_put(out, max, n, "rx_errors", s.ierrors);
		accel_sdk_stat_put(out, max, n, "tx_errors", s.oerrors);
		accel_sdk_stat_put(out, max, n, "rx_nombuf", s.rx_nombuf);
	}
	nx = rte_eth_xstats_get_names(dev->port_id, NULL, 0);
	if (nx <= 0)
		return 0;
	names = calloc((size_t)nx, sizeof(*names));
	xs = calloc((size_t)nx, sizeof(*xs));
	if (!names || !xs) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (rte_eth_xstats_get_names(dev->port_id, names, (unsigned)nx) != nx ||
	    rte_eth_xstats_get(dev->port_id, xs, (unsigned)nx) != nx)
		goto out_free;
	for (int i = 0; i < nx; i++) {
		snprintf(name, sizeof(name), "x_%.29s", names[xs[i].id].name);
		accel_sdk_stat_put(out, max, n, name, xs[i].value);
	}
out_free:
	free(names);
	free(xs);
	return rc;
}
