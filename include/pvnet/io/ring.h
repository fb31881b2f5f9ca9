/* SPDX-License-Identifier: MIT */
/*
 * pvnet/io/ring.h - shared producer/consumer rings, layout-compatible with
 * Xen's public/io/ring.h.
 *
 * A shared ring occupies one 4096-byte page:
 *
 *   offset 0   u32 req_prod   frontend's request producer index
 *   offset 4   u32 req_event  backend asks to be notified when req_prod passes it
 *   offset 8   u32 rsp_prod   backend's response producer index
 *   offset 12  u32 rsp_event  frontend asks to be notified when rsp_prod passes it
 *   offset 16  u8  pvt[4], u8 pad[44]
 *   offset 64  entries: a union of request and response, as many as the largest
 *              power of two that fits in the rest of the page
 *
 * Indices are free-running 32-bit counters; a slot is index & (size - 1).
 * Each side keeps private state (its consumer index and its unpublished
 * producer index) in a front/back ring struct that is never shared.
 *
 * Every value read from the shared page is written by an untrusted peer: read
 * it once (PVNET_RING_READ_ONCE / RING_COPY_*), then validate the copy.
 */
#ifndef PVNET_IO_RING_H
#define PVNET_IO_RING_H

#include <stdint.h>
#include <string.h>

typedef uint32_t RING_IDX;

#define PVNET_RING_PAGE_SIZE 4096u
#define PVNET_RING_HDR_SIZE 64u

/* Compiler and CPU barriers (x86-64 is TSO: smp_wmb/rmb are compiler barriers). */
#define pvnet_barrier() __asm__ __volatile__("" ::: "memory")
#define pvnet_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define pvnet_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define pvnet_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

#define PVNET_RING_READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define PVNET_RING_WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Largest power of two <= x, for x < 2^16. */
#define __PVNET_RD2(x) (((x)&0x2) ? 0x2 : ((x)&0x1))
#define __PVNET_RD4(x) (((x)&0xc) ? __PVNET_RD2((x) >> 2) << 2 : __PVNET_RD2(x))
#define __PVNET_RD8(x) (((x)&0xf0) ? __PVNET_RD4((x) >> 4) << 4 : __PVNET_RD4(x))
#define __PVNET_RD16(x) (((x)&0xff00) ? __PVNET_RD8((x) >> 8) << 8 : __PVNET_RD8(x))
#define __PVNET_RD32(x)                                                                  \
	(((x)&0xffff0000) ? __PVNET_RD16((x) >> 16) << 16 : __PVNET_RD16(x))

/* Entries of @entry_size bytes that fit in one ring page. */
#define PVNET_RING_SIZE_FOR(entry_size)                                                  \
	((unsigned int)__PVNET_RD32((PVNET_RING_PAGE_SIZE - PVNET_RING_HDR_SIZE) /       \
				    (entry_size)))

/*
 * DEFINE_RING_TYPES(name, req_t, rsp_t) defines
 *   union name##_sring_entry, struct name##_sring (the shared page),
 *   struct name##_front_ring, struct name##_back_ring (private state).
 */
#define DEFINE_RING_TYPES(__name, __req_t, __rsp_t)                                      \
	union __name##_sring_entry {                                                     \
		__req_t req;                                                             \
		__rsp_t rsp;                                                             \
	};                                                                               \
	struct __name##_sring {                                                          \
		RING_IDX req_prod, req_event;                                            \
		RING_IDX rsp_prod, rsp_event;                                            \
		uint8_t pvt[4];                                                          \
		uint8_t __pad[44];                                                       \
		union __name##_sring_entry ring[];                                       \
	};                                                                               \
	struct __name##_front_ring {                                                     \
		RING_IDX req_prod_pvt;                                                   \
		RING_IDX rsp_cons;                                                       \
		unsigned int nr_ents;                                                    \
		struct __name##_sring *sring;                                            \
	};                                                                               \
	struct __name##_back_ring {                                                      \
		RING_IDX rsp_prod_pvt;                                                   \
		RING_IDX req_cons;                                                       \
		unsigned int nr_ents;                                                    \
		struct __name##_sring *sring;                                            \
	}

/* Frontend only: initialise a freshly allocated shared page. */
#define SHARED_RING_INIT(_s)                                                             \
	do {                                                                             \
		(_s)->req_prod = (_s)->rsp_prod = 0;                                     \
		(_s)->req_event = (_s)->rsp_event = 1;                                   \
		memset((_s)->pvt, 0, sizeof((_s)->pvt));                                 \
		memset((_s)->__pad, 0, sizeof((_s)->__pad));                             \
	} while (0)

#define __RING_SIZE_OF(_s) PVNET_RING_SIZE_FOR(sizeof((_s)->ring[0]))

#define FRONT_RING_INIT(_r, _s, __size)                                                  \
	do {                                                                             \
		(_r)->req_prod_pvt = 0;                                                  \
		(_r)->rsp_cons = 0;                                                      \
		(_r)->nr_ents = PVNET_RING_SIZE_FOR(sizeof((_s)->ring[0]));              \
		(_r)->sring = (_s);                                                      \
		(void)(__size);                                                          \
	} while (0)

#define BACK_RING_INIT(_r, _s, __size)                                                   \
	do {                                                                             \
		(_r)->rsp_prod_pvt = 0;                                                  \
		(_r)->req_cons = 0;                                                      \
		(_r)->nr_ents = PVNET_RING_SIZE_FOR(sizeof((_s)->ring[0]));              \
		(_r)->sring = (_s);                                                      \
		(void)(__size);                                                          \
	} while (0)

#define RING_SIZE(_r) ((_r)->nr_ents)
#define RING_FREE_REQUESTS(_r) (RING_SIZE(_r) - ((_r)->req_prod_pvt - (_r)->rsp_cons))
#define RING_FULL(_r) (RING_FREE_REQUESTS(_r) == 0)

#define RING_GET_REQUEST(_r, _idx)                                                       \
	(&((_r)->sring->ring[(_idx) & (RING_SIZE(_r) - 1)].req))
#define RING_GET_RESPONSE(_r, _idx)                                                      \
	(&((_r)->sring->ring[(_idx) & (RING_SIZE(_r) - 1)].rsp))

/* Copy a request/response out of shared memory exactly once (no double fetch). */
#define RING_COPY_REQUEST(_r, _idx, _dst)                                                \
	do {                                                                             \
		const volatile void *__src = RING_GET_REQUEST(_r, _idx);                 \
		memcpy((_dst), (const void *)__src, sizeof(*(_dst)));                    \
		pvnet_barrier();                                                         \
	} while (0)
#define RING_COPY_RESPONSE(_r, _idx, _dst)                                               \
	do {                                                                             \
		const volatile void *__src = RING_GET_RESPONSE(_r, _idx);                \
		memcpy((_dst), (const void *)__src, sizeof(*(_dst)));                    \
		pvnet_barrier();                                                         \
	} while (0)

/* Unconsumed requests, clamped to what a well-behaved frontend could have queued. */
#define RING_HAS_UNCONSUMED_RESPONSES(_r)                                                \
	(PVNET_RING_READ_ONCE((_r)->sring->rsp_prod) - (_r)->rsp_cons)

/* A peer whose producer is more than a ring ahead of our consumer is broken. */
#define RING_REQUEST_PROD_OVERFLOW(_r, _prod)                                            \
	(((_prod) - (_r)->rsp_prod_pvt) > RING_SIZE(_r))
#define RING_RESPONSE_PROD_OVERFLOW(_r, _prod)                                           \
	(((_prod) - (_r)->rsp_cons) > RING_SIZE(_r))

#define RING_PUSH_REQUESTS(_r)                                                           \
	do {                                                                             \
		pvnet_wmb(); /* entries visible before the index */                      \
		PVNET_RING_WRITE_ONCE((_r)->sring->req_prod, (_r)->req_prod_pvt);        \
	} while (0)

#define RING_PUSH_RESPONSES(_r)                                                          \
	do {                                                                             \
		pvnet_wmb(); /* entries visible before the index */                      \
		PVNET_RING_WRITE_ONCE((_r)->sring->rsp_prod, (_r)->rsp_prod_pvt);        \
	} while (0)

/*
 * Publish and decide whether the peer asked to be notified: it did if its
 * event index lies in (old, new].
 */
#define RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(_r, _notify)                                 \
	do {                                                                             \
		RING_IDX __old = (_r)->sring->req_prod;                                  \
		RING_IDX __new = (_r)->req_prod_pvt;                                     \
		pvnet_wmb(); /* entries before req_prod */                               \
		PVNET_RING_WRITE_ONCE((_r)->sring->req_prod, __new);                     \
		pvnet_mb(); /* req_prod before reading req_event */                      \
		(_notify) = ((RING_IDX)(__new -                                          \
					PVNET_RING_READ_ONCE((_r)->sring->req_event)) <  \
			     (RING_IDX)(__new - __old));                                 \
	} while (0)

#define RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(_r, _notify)                                \
	do {                                                                             \
		RING_IDX __old = (_r)->sring->rsp_prod;                                  \
		RING_IDX __new = (_r)->rsp_prod_pvt;                                     \
		pvnet_wmb(); /* entries before rsp_prod */                               \
		PVNET_RING_WRITE_ONCE((_r)->sring->rsp_prod, __new);                     \
		pvnet_mb(); /* rsp_prod before reading rsp_event */                      \
		(_notify) = ((RING_IDX)(__new -                                          \
					PVNET_RING_READ_ONCE((_r)->sring->rsp_event)) <  \
			     (RING_IDX)(__new - __old));                                 \
	} while (0)

/*
 * Notification hold-off, the consumer's half (Xen's "final check"), written once
 * here and used by every ring consumer before it stops looking (netback's TX and
 * RX queues and workers, netfront's queue threads, the accelerator glue):
 *
 *   *event = want      ask the producer for an event once its index reaches want
 *                      (consumed + 1: "at the next entry"; more to wait for
 *                      several entries, e.g. the slots a waiting packet needs)
 *   full barrier       the request visible before the index is read again
 *   return *prod       read once more: an entry published before the producer
 *                      could see the request is found here, not lost
 *
 * The producer's half is RING_PUSH_*_AND_CHECK_NOTIFY: it notifies when the event
 * index lies in (old, new]. The write is skipped when the event index already
 * holds `want` (a consumer that re-arms every idle round does not dirty the
 * peer's cache line; the barrier that followed the earlier write still orders
 * it). Both fields are in shared memory: a peer that rewrites the event index
 * only delays its own notifications.
 */
static inline RING_IDX pvnet_ring_holdoff(RING_IDX *event, const RING_IDX *prod,
					  RING_IDX want)
{
	if (PVNET_RING_READ_ONCE(*event) != want) {
		PVNET_RING_WRITE_ONCE(*event, want);
		pvnet_mb(); /* event index before re-reading the producer index */
	}
	return PVNET_RING_READ_ONCE(*prod);
}

/*
 * Backend: are there requests? If not, ask for a notification at the next one
 * and look once more (pvnet_ring_holdoff). _work_to_do receives the number of
 * unconsumed requests (0 if none).
 */
#define RING_FINAL_CHECK_FOR_REQUESTS(_r, _work_to_do)                                   \
	do {                                                                             \
		(_work_to_do) =                                                          \
			PVNET_RING_READ_ONCE((_r)->sring->req_prod) - (_r)->req_cons;    \
		if (_work_to_do)                                                         \
			break;                                                           \
		(_work_to_do) =                                                          \
			pvnet_ring_holdoff(&(_r)->sring->req_event,                      \
					   &(_r)->sring->req_prod, (_r)->req_cons + 1) - \
			(_r)->req_cons;                                                  \
	} while (0)

#define RING_FINAL_CHECK_FOR_RESPONSES(_r, _work_to_do)                                  \
	do {                                                                             \
		(_work_to_do) = RING_HAS_UNCONSUMED_RESPONSES(_r);                       \
		if (_work_to_do)                                                         \
			break;                                                           \
		(_work_to_do) =                                                          \
			pvnet_ring_holdoff(&(_r)->sring->rsp_event,                      \
					   &(_r)->sring->rsp_prod, (_r)->rsp_cons + 1) - \
			(_r)->rsp_cons;                                                  \
	} while (0)

#endif /* PVNET_IO_RING_H */
