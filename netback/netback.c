/* SPDX-License-Identifier: MIT */
/* netback: creation, teardown, fatal-error hand-off to the control thread, stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/io/xenbus.h>
#include <pvnet/log.h>

#include "nb_private.h"

#define NB_POOL_PKTS 8192

const char *nb_drop_reason_name(unsigned reason)
{
	static const char *const names[NB_DROP__MAX] = {
		"tx_fatal",      "tx_too_many_slots", "tx_frag_overflow", "tx_zero_frag",
		"tx_runt",       "tx_copy_error",     "tx_csum_setup",    "tx_disabled",
		"rx_queue_full", "rx_expired",        "rx_copy_error",    "rx_too_big",
		"rx_disabled",   "rx_share"};
	return reason < NB_DROP__MAX ? names[reason] : "?";
}

void nb_vif_fatal(struct nb_vif *vif, const char *why)
{
	uint64_t one = 1;

	if (__atomic_exchange_n(&vif->disabled, 1, __ATOMIC_ACQ_REL))
		return;
	/* only the first reporter writes last_error; the control thread reads it
	 * after the eventfd below (a syscall: ordered) */
	snprintf(vif->last_error, sizeof(vif->last_error), "fatal: %s", why);
	nb_add(&vif->drops[NB_DROP_TX_FATAL], 1);
	PVLOG_RL(WARN, NB_MOD, "%s: %s; vif disabled", vif->name, why);
	if (write(vif->nb->ctl_fd, &one, sizeof(one)) < 0)
		PVLOG_RL(ERR, NB_MOD, "%s: cannot wake the control thread", vif->name);
}

struct nb_share *nb_share_get(struct nb *nb, domid_t domid)
{
	struct nb_share *s;

	for (s = nb->shares; s; s = s->next) {
		if (s->domid == domid) {
			s->refs++;
			return s;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->domid = domid;
	s->refs = 1;
	s->pct = nb->rx_share_pct;
	pthread_mutex_init(&s->lock, NULL);
	s->next = nb->shares;
	nb->shares = s;
	return s;
}

void nb_share_put(struct nb *nb, struct nb_share *s)
{
	if (!s || --s->refs)
		return;
	for (struct nb_share **pp = &nb->shares; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int nb_set_rx_share_pct(struct nb *nb, unsigned pct)
{
	if (pct < 1 || pct > 100)
		return -EINVAL;
	nb->rx_share_pct = pct;
	for (struct nb_share *s = nb->shares; s; s = s->next) {
		pthread_mutex_lock(&s->lock);
		s->pct = pct; /* keys seen from now on; a key's cap is recomputed when it frees */
		pthread_mutex_unlock(&s->lock);
	}
	return 0;
}

unsigned nb_get_rx_share_pct(const struct nb *nb)
{
	return nb->rx_share_pct;
}

void nb_set_quota(struct nb *nb, struct quota_ledger *q)
{
	__atomic_store_n(&nb->quota, q, __ATOMIC_RELEASE);
}

int nb_ctl_fd(const struct nb *nb)
{
	return nb->ctl_fd;
}

unsigned nb_nr_workers(const struct nb *nb)
{
	return nb->nr_workers;
}

/*
 * The switch's tail reader: ports that must linearise a frame (TAP, AF_PACKET,
 * vhost-user, VXLAN, mirrors) get the bytes still in the sender's grants. A
 * fragment whose ref the sender's persistent table maps (nb_tx_pkt_pmap) is one
 * memcpy; the others become one grant-copy batch, as dom0. A packet's fragments
 * were validated at TX (offset + size <= 4096), so each becomes at most one op.
 */
static int nb_tail_read(void *arg, const struct pvnet_pkt *pkt, void *dst, uint32_t size)
{
	struct nb *nb = arg;
	struct gnttab_copy ops[PVNET_PKT_MAX_FRAGS];
	const struct nb_pmap *sm;
	uint32_t fpos = 0, from = pkt->src.tail_off, done = 0;
	unsigned n = 0;

	if (pkt->src_kind != PVNET_PKT_SRC_GRANT)
		return -EINVAL;
	sm = nb_tx_pkt_pmap(pkt); /* NULL without feature-persistent */
	for (unsigned k = 0; k < pkt->src.nr_frags && done < size; k++) {
		const struct pvnet_pkt_frag *f = &pkt->src.frags[k];
		uint32_t end = fpos + f->size;

		if (end > from) {
			uint32_t skip = from > fpos ? from - fpos : 0;
			uint32_t len = f->size - skip;
			uint16_t off = (uint16_t)(f->offset + skip);
			const uint8_t *va = sm ? nb_pmap_lookup(sm, f->gref) : NULL;

			if (len > size - done)
				len = size - done;
			if (va) {
				memcpy((uint8_t *)dst + done, va + off, len);
			} else {
				ops[n] = (struct gnttab_copy){
					.source = {.u.ref = f->gref,
						   .domid = pkt->src.domid,
						   .offset = off},
					.dest = {.u.gmfn = (uint64_t)(uintptr_t)((uint8_t *)dst +
										 done)},
					.len = (uint16_t)len,
					.flags = GNTCOPY_source_gref | GNTCOPY_dest_va,
				};
				n++;
			}
			done += len;
		}
		fpos = end;
	}
	if (done != size)
		return -EINVAL;
	if (n && gnttab_copy(nb->hv, 0, ops, n) < 0)
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		if (ops[i].status != GNTST_okay)
			return -EFAULT;
	return 0;
}

int nb_create(struct hv *hv, struct xs_store *xs, struct vsw_switch *sw, unsigned nr_workers,
	      struct nb **out)
{
	struct nb *nb;
	int rc;

	*out = NULL;
	if (!hv || !xs || !sw || nr_workers > NB_MAX_WORKERS)
		return -EINVAL;
	if (nr_workers == 0)
		nr_workers = 1;
	nb = calloc(1, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	nb->hv = hv;
	nb->xs = xs;
	nb->sw = sw;
	nb->rx_share_pct = NB_RX_SHARE_PCT_DEFAULT;
	nb->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nb->ctl_fd < 0) {
		rc = -errno;
		goto free_nb;
	}
	rc = pvnet_pkt_pool_create(NB_POOL_PKTS, 0, &nb->pool);
	if (rc < 0)
		goto close_fd;
	rc = nb_workers_start(nb, nr_workers);
	if (rc < 0)
		goto free_pool;
	rc = nb_xenbus_start(nb);
	if (rc < 0)
		goto stop_workers;
	vsw_tail_reader_set(nb_tail_read, nb);
	PVLOG(INFO, NB_MOD, "netback ready: %u worker(s), %u packets", nr_workers, NB_POOL_PKTS);
	*out = nb;
	return 0;

stop_workers:
	nb_workers_stop(nb);
free_pool:
	pvnet_pkt_pool_destroy(nb->pool);
close_fd:
	close(nb->ctl_fd);
free_nb:
	free(nb);
	return rc;
}

void nb_destroy(struct nb *nb)
{
	if (!nb)
		return;
	vsw_tail_reader_set(NULL, NULL);
	nb_xenbus_stop(nb); /* disconnects and frees every vif */
	nb_workers_stop(nb);
	pvnet_pkt_pool_destroy(nb->pool);
	close(nb->ctl_fd);
	free(nb);
}

#define NB_FOREACH_STACK 64

/* By (domid, handle). */
static int vif_cmp(const void *a, const void *b)
{
	const struct nb_vif *x = *(struct nb_vif *const *)a, *y = *(struct nb_vif *const *)b;
	if (x->domid != y->domid)
		return x->domid < y->domid ? -1 : 1;
	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

int nb_vif_foreach(struct nb *nb, int domid, int (*cb)(const struct nb_vif_info *vi, void *arg),
		   void *arg)
{
	struct nb_vif *one[NB_FOREACH_STACK], **sorted = one;
	unsigned n = 0, cap = NB_FOREACH_STACK;
	int rc = 0;

	/* one domain: its hash chain; all: every vif, sorted (no cap on the count) */
	for (struct nb_vif *v = domid >= 0 ? nb->vif_hash[domid & (NB_VIF_HASH - 1)] : nb->vifs; v;
	     v = domid >= 0 ? v->hnext : v->next) {
		if (domid >= 0 && v->domid != domid)
			continue;
		if (n == cap) {
			struct nb_vif **ns = malloc(sizeof(*ns) * cap * 2);
			if (!ns) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(ns, sorted, sizeof(*ns) * n);
			if (sorted != one)
				free(sorted);
			sorted = ns;
			cap *= 2;
		}
		sorted[n++] = v;
	}
	qsort(sorted, n, sizeof(*sorted), vif_cmp);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct nb_vif *v = sorted[i];
		struct nb_vif_info vi;

		memset(&vi, 0, sizeof(vi));
		vi.domid = v->domid;
		vi.handle = v->handle;
		snprintf(vi.name, sizeof(vi.name), "%s", v->name);
		snprintf(vi.bridge, sizeof(vi.bridge), "%s", v->bridge_name);
		snprintf(vi.mac, sizeof(vi.mac), "%s", v->mac);
		vi.be_state = v->be_state;
		vi.fe_state = v->fe_state;
		vi.connected = v->connected;
		vi.disabled = __atomic_load_n(&v->disabled, __ATOMIC_RELAXED) != 0;
		vi.nr_queues = v->connected ? v->nr_queues : 0;
		vi.features = v->features;
		snprintf(vi.last_error, sizeof(vi.last_error), "%s", v->last_error);
		snprintf(vi.accel, sizeof(vi.accel), "%s", v->accel_note);
		vi.tx_packets = __atomic_load_n(&v->tx_packets, __ATOMIC_RELAXED);
		vi.tx_bytes = __atomic_load_n(&v->tx_bytes, __ATOMIC_RELAXED);
		vi.rx_packets = __atomic_load_n(&v->rx_packets, __ATOMIC_RELAXED);
		vi.rx_bytes = __atomic_load_n(&v->rx_bytes, __ATOMIC_RELAXED);
		for (unsigned r = 0; r < NB_DROP__MAX; r++)
			vi.drops[r] = __atomic_load_n(&v->drops[r], __ATOMIC_RELAXED);
		if (v->connected) {
			for (unsigned q = 0; q < v->nr_queues; q++) {
				vi.rx_queued_bytes +=
					__atomic_load_n(&v->queues[q].pend_bytes, __ATOMIC_RELAXED);
				vi.notifies += __atomic_load_n(&v->queues[q].txc->notifies,
							       __ATOMIC_RELAXED);
			}
		}
		rc = cb(&vi, arg);
	}
out:
	if (sorted != one)
		free(sorted);
	return rc;
}
