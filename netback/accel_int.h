/* SPDX-License-Identifier: MIT */
/*
 * netback's NIC-accelerator driver, shared between its files (not an API):
 *   accel.c     common: queue-pair mapping, the registry and the guest qp connector,
 *               per-vif connect / disconnect / rate dispatch by level, the CLI
 *               views (numbers: nb_nic_list; ethtool), accel attach/detach
 *   accel_l0.c  Level 0: the NIC, its wire and its uplink port on the switch
 *   accel_l1.c  Level 1: the guest's posted RX grants on the vif's own NIC queue
 *   accel_l2.c  Levels 2-3: the guest drives the queue pair, dom0 controls it
 *   accel_l3.c  Level 3: VF-to-VF hairpin on one NIC and accel-local-macs
 * The design, the rings and the locks are described at the top of accel.c.
 * Helpers used across these files carry the nba_ prefix.
 */
#ifndef NB_ACCEL_INT_H
#define NB_ACCEL_INT_H

#include <net/if.h>
#include <pthread.h>

#include <pvnet/accel.h>

#include "nb_private.h"

#define NIC_MAX NB_NIC_MAX
#define NIC_RING 256u
#define NIC_TX_BUF 65536u          /* one (GSO) frame per TX slot */
#define NIC_RX_BUF 4096u           /* one page per RX slot */
#define NIC_IOVA_TX 0x100000000ull /* dom0's IOVAs, far above any gref << 12 */
#define NIC_IOVA_RX 0x200000000ull
#define NIC_QUOTA ((NIC_RING * NIC_TX_BUF + NIC_RING * NIC_RX_BUF) / ACCEL_PAGE_SIZE)
#define NIC_POOL_PKTS 512u
#define L1_MAX_GREFS 1024u /* distinct guest RX grants a Level-1 vif may have mapped */

/* A mapped queue pair, driven by dom0. */
struct nb_qp {
	struct accel_qp_map map;
	void *mem;
	struct accel_qp_shared *sh;
	struct accel_desc *tx, *rx;
	uint32_t mask;
	uint32_t tx_prod; /* ours, published to sh->tx_prod */
	uint32_t rx_prod; /* ours, published to sh->rx_prod */
	uint32_t rx_next; /* next RX completion to read */
};

struct nb_nic {
	char name[16];
	char plugin[ACCEL_NAME_MAX];
	char wire[IFNAMSIZ];
	char bridge[VSW_NAME_MAX];
	unsigned max_vfs;
	int wire_fd;
	struct nb *nb;
	struct accel_device *dev;
	struct accel_attach *up; /* the uplink's Level-0 port, default RX queue */
	struct nb_qp qp;
	uint8_t *txbuf, *rxbuf; /* registered dom0 buffers */
	struct pvnet_pkt_pool *pool;
	struct vsw_bridge *br;
	struct vsw_port *port;
	struct vsw_worker *worker;
	bool worker_added;
	pthread_mutex_t tx_lock;
	/* counters (relaxed atomics) */
	uint64_t tx_ring_full, tx_too_big, rx_no_pkt, rx_errors, rx_packets, tx_packets;
};

struct nb_accel {
	struct accel_registry *reg;
	struct nb_nic *nics[NIC_MAX];
};

struct l1_gref {
	uint32_t gref;
	bool used;
	grant_handle_t handle;
	void *host;
};

/* One vif's accelerator state. */
struct nb_accel_vif {
	struct nb_vif *vif;
	struct nb_nic *nic;
	unsigned level; /* effective level (0 = uplink only) */
	unsigned want_level;
	struct accel_attach *att; /* Level >= 1 */
	struct nb_qp qp;
	bool worker_added;
	/* under queue 0's rx_lock */
	bool rx_active;              /* Level-1 RX running */
	bool port_detached;          /* detached to give the ring back to software */
	bool user_detached;          /* `pvnet accel detach` */
	uint16_t req_id[NB_RX_RING]; /* guest request ids by ring index */
	struct l1_gref grefs[L1_MAX_GREFS];
	unsigned n_grefs;
	bool grefs_full;
	/* counters */
	uint64_t nic_rx_packets, nic_rx_bytes, nic_rx_errors, reclaims, grant_maps;
	/* Levels 2-3, guest-driven (control thread only) */
	bool guest;                 /* the guest drives the qp; dom0 only controls */
	grant_handle_t *l2_handles; /* mapped pool pages, unmapped at teardown */
	unsigned l2_nmaps;
	char local_macs[18 * 16]; /* last accel-local-macs written */
	bool local_macs_set;
};

#define L2_MAX_POOL 1024u /* pool pages (TX + RX) a guest may have registered */
#define L2_MAX_LOCAL 15u  /* MACs in accel-local-macs */
#define L2_RING                                                                                    \
	512u /* descriptors per ring of a guest-driven qp (the guest posts
			   * min(ring, its RX pool) buffers: slack while it is descheduled) */

/* accel.c */
void nba_qp_unmap(struct nb_qp *q);
int nba_qp_mapin(struct accel_attach *att, struct nb_qp *q);
void nba_qp_doorbell(struct nb_qp *q);
void nba_irq_drain(struct nb_qp *q);
struct nb_nic *nba_nic_find(struct nb *nb, const char *name);
/* A backend node of the vif (its whole value, NUL-free, shorter than size). */
int nba_read_be(struct nb_vif *vif, const char *key, char *buf, size_t size);

/* accel_l1.c: Level 1 (dom0 drives the vif's port; RX into the guest's grants) */
int nba_l1_setup(struct nb_accel_vif *av);
void nba_l1_teardown(struct nb_accel_vif *av);

/* accel_l2.c: Levels 2-3 (the guest drives the queue pair) */
int nba_l2_setup(struct nb_accel_vif *av);
void nba_l2_teardown(struct nb_accel_vif *av);
int nba_l2_rate_set(struct nb_accel_vif *av, uint64_t packed);
void nba_be_node_write(struct nb_vif *vif, const char *key, const char *val);
/* hv's accelerator connector (hv_set_accel_connector): the qp of the caller's own vif */
int nba_guest_connect(void *arg, domid_t domid, uint32_t handle, uint32_t qp,
		      struct hv_accel_qp *out);

/* accel_l3.c: Level 3 hairpin and the local MACs of the guest-driven vifs */
void nba_local_macs_refresh(struct nb *nb, const char *bridge, const struct nb_vif *gone);

#endif /* NB_ACCEL_INT_H */
