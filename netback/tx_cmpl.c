/* SPDX-License-Identifier: MIT */
/*
 * In-order TX responses. A guest's TX packets may complete out of order (one is
 * delivered at once, an earlier one waits in another vif's RX queue), but the
 * responses must be produced in ring order: slot `next` is answered only when it
 * is ready, and then every ready slot after it. One slot per request, so the
 * response index equals the request index.
 */
#include <string.h>

#include "nb_private.h"

#define MASK (NB_TX_RING - 1)

void nb_cmpl_init(struct nb_cmpl *c, RING_IDX start)
{
	memset(c, 0, sizeof(*c));
	c->next = start;
}

/* nb_cmpl_set, nb_cmpl_set_status and nb_cmpl_mark_ready are inline (nb_private.h) */

bool nb_cmpl_head_ready(const struct nb_cmpl *c)
{
	RING_IDX next = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&c->ready[next & MASK], __ATOMIC_ACQUIRE) != 0;
}

unsigned nb_cmpl_take(struct nb_cmpl *c, struct netif_tx_response *rsp, unsigned max)
{
	RING_IDX next = c->next;
	unsigned n = 0;

	while (n < max && __atomic_load_n(&c->ready[next & MASK], __ATOMIC_ACQUIRE)) {
		rsp[n] = c->rsp[next & MASK];
		__atomic_store_n(&c->ready[next & MASK], 0, __ATOMIC_RELAXED);
		next++;
		n++;
	}
	/* release: the slot reads as not-ready before the owner may reuse it */
	__atomic_store_n(&c->next, next, __ATOMIC_RELEASE);
	return n;
}

unsigned nb_cmpl_take_ring(struct nb_cmpl *c, struct netif_tx_back_ring *ring)
{
	RING_IDX next = c->next;
	unsigned n = 0;

	while (n < NB_TX_RING && __atomic_load_n(&c->ready[next & MASK], __ATOMIC_ACQUIRE)) {
		*RING_GET_RESPONSE(ring, ring->rsp_prod_pvt + n) = c->rsp[next & MASK];
		__atomic_store_n(&c->ready[next & MASK], 0, __ATOMIC_RELAXED);
		next++;
		n++;
	}
	/* release: the slot reads as not-ready before the owner may reuse it */
	__atomic_store_n(&c->next, next, __ATOMIC_RELEASE);
	return n;
}
