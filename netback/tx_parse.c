/* SPDX-License-Identifier: MIT */
/*
 * The guest TX validator: a pure function over requests already copied out of the
 * shared ring (no double fetch, XSA-155). The rules are Linux netback's
 * (xenvif_get_extras / xenvif_count_requests / xenvif_tx_build_gops), restated:
 *
 *   extras    type 0 or >= MAX -> fatal; missing (chain past the queue) -> fatal;
 *             GSO with size 0 or an unknown type -> fatal; MCAST add/del make the
 *             packet a control request (slot 0 OKAY, extras NULL)
 *   slots     up to 1 + 18 data slots accepted, 20..21 dropped, >= 22 fatal; a
 *             more_data chain past the queued requests -> fatal
 *   sizes     offset + size > 4096 -> fatal; a fragment larger than the bytes
 *             remaining -> drop; a zero-size later fragment -> drop (XSA-448);
 *             slot 0's own bytes < 14 -> drop
 */
#include <string.h>

#include <pvnet/io/netif.h>

#include "nb_private.h"

#define PAGE 4096u
#define ETH_HLEN 14u

const char *nb_tx_fatal_name(unsigned f)
{
	static const char *const names[NB_TXF__MAX] = {"none",
						       "chain past the queued requests",
						       "too many slots",
						       "offset+size > 4096",
						       "bad extra type",
						       "GSO size 0",
						       "unknown GSO type",
						       "req_prod overflow"};
	return f < NB_TXF__MAX ? names[f] : "?";
}

static int fatal(struct nb_tx_desc *d, unsigned why)
{
	d->reason = why;
	return NB_TX_FATAL;
}

/* check-funcs: the per-packet TX request walk (contract in tx_parse.h), kept
 * whole: each slot is read once and checked in one pass; a split would pass
 * the half-validated packet between functions. */
int nb_tx_parse(const struct netif_tx_request *reqs, unsigned avail, struct nb_tx_desc *d)
{
	const struct netif_tx_request *first = &reqs[0];
	uint32_t remaining;
	unsigned i, followers = 0;
	bool mcast = false;
	int drop = -1;

	*d = (struct nb_tx_desc){0};
	if (avail == 0)
		return fatal(d, NB_TXF_CHAIN_TRUNCATED);
	d->len = first->size;
	d->flags = first->flags;
	i = 1;

	/* Extras, chained by XEN_NETIF_EXTRA_FLAG_MORE. */
	if (first->flags & NETTXF_extra_info) {
		struct netif_extra_info ex;
		do {
			if (i >= avail)
				return fatal(d, NB_TXF_CHAIN_TRUNCATED);
			/* the extra overlays the request slot: reinterpret the private copy */
			_Static_assert(sizeof(ex) <= sizeof(reqs[0]), "extra fits a slot");
			memcpy(&ex, &reqs[i], sizeof(ex));
			if (ex.type == XEN_NETIF_EXTRA_TYPE_NONE ||
			    ex.type >= XEN_NETIF_EXTRA_TYPE_MAX)
				return fatal(d, NB_TXF_EXTRA_TYPE);
			if (ex.type == XEN_NETIF_EXTRA_TYPE_GSO) {
				if (ex.u.gso.size == 0)
					return fatal(d, NB_TXF_GSO_SIZE);
				if (ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
				    ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6)
					return fatal(d, NB_TXF_GSO_TYPE);
				d->gso_type = ex.u.gso.type;
				d->gso_size = ex.u.gso.size;
			} else if (ex.type == XEN_NETIF_EXTRA_TYPE_MCAST_ADD ||
				   ex.type == XEN_NETIF_EXTRA_TYPE_MCAST_DEL) {
				mcast = true;
			}
			i++;
			d->nr_extras++;
		} while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
	}
	if (mcast) {
		/* a control request: the data slot carries nothing to forward */
		d->nr_slots = i;
		d->nr_data = 1;
		d->first_size = 0;
		return NB_TX_MCAST;
	}

	/* Further data slots. */
	remaining = first->size;
	if (first->flags & NETTXF_more_data) {
		const struct netif_tx_request *txp;
		do {
			if (i >= avail)
				return fatal(d, NB_TXF_CHAIN_TRUNCATED);
			if (1 + followers + 1 >=
			    NB_TX_FATAL_DATA_SLOTS) /* this slot would be the 22nd */
				return fatal(d, NB_TXF_TOO_MANY_SLOTS);
			if (drop < 0 && followers >= XEN_NETIF_NR_SLOTS_MIN)
				drop = NB_DROP_TX_TOO_MANY_SLOTS;
			txp = &reqs[i];
			if (drop < 0 && txp->size > remaining)
				drop = NB_DROP_TX_FRAG_OVERFLOW;
			if (drop < 0 && txp->size == 0)
				drop = NB_DROP_TX_ZERO_FRAG;
			remaining = txp->size > remaining ? 0 : remaining - txp->size;
			if ((uint32_t)txp->offset + txp->size > PAGE)
				return fatal(d, NB_TXF_PAGE_OVERFLOW);
			i++;
			followers++;
		} while (txp->flags & NETTXF_more_data);
	}
	d->nr_slots = i;
	d->nr_data = 1 + followers;
	d->first_size = (uint16_t)remaining;
	if (drop < 0 && remaining < ETH_HLEN)
		drop = NB_DROP_TX_RUNT;
	if (drop >= 0) {
		d->reason = (unsigned)drop;
		return NB_TX_DROP;
	}
	if ((uint32_t)first->offset + remaining > PAGE)
		return fatal(d, NB_TXF_PAGE_OVERFLOW);
	return NB_TX_OK;
}
