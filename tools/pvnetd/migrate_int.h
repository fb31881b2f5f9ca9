/* SPDX-License-Identifier: MIT */
/*
 * tools/pvnetd/migrate_int.h - what the two halves of live migration share:
 * migrate.c (the listener, the receiving threads, the guest's attach, the
 * announce; the stream's I/O) and migrate_send.c (`pvnet migrate`).
 * docs/migration.md has the design.
 */
#ifndef PVNETD_MIGRATE_INT_H
#define PVNETD_MIGRATE_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvnet/migrate.h>

#include "pvnetd.h"

#define MOD "migrate"
#define MIG_SOCK "migrate.sock"
#define MIG_MAX_IN 2         /* incoming migrations at once */
#define MIG_IO_MS 10000      /* a peer silent this long is dropped */
#define MIG_ATTACH_MS 10000  /* a complete migration waits this long for its guest */
#define MIG_GUEST_MS 3000    /* the guest answers control/migrate within this */
#define MIG_ANNOUNCE_MS 5000 /* the vifs reconnect on this host within this */
#define MIG_MAX_RELEASED 64

struct mig_in;

struct announce {
	domid_t domid;
	uint64_t since_ns;
	uint32_t done_mask; /* vifs (by handle) announced */
	bool used;
};

struct migrate {
	int listen_fd, sock_fd, wake_fd;
	char sock_path[PATH_MAX];
	uint8_t key[MIG_KEY_MAX];
	size_t key_size;
	pthread_mutex_t lock;
	struct mig_in *ins;
	struct announce ann[8];
	struct pvnet_pkt_pool *pool;
	pid_t released[MIG_MAX_RELEASED]; /* guests that left: our children still */
	uint64_t refused, completed, sent;
	bool busy; /* an outgoing migration runs */
};

/* One direction pair of the authenticated record stream (pvnet/migrate.h). */
struct chan {
	struct pvnetd *d; /* NULL: blocking (thread) */
	int fd;
	uint8_t skey[32];
	uint64_t seq_out, seq_in;
	char dir_out, dir_in;
};

/* IPV4:PORT. 0 or -EINVAL. */
int mig_parse_addr(const char *s, struct sockaddr_in *sa);
/* All of buf, pumping pvnetd's loop while the socket is not ready; -ETIMEDOUT after ms. */
int mig_pio_full(struct pvnetd *d, int fd, void *buf, size_t size, bool wr, int ms);
/* One record with its tag (small ones in one write). 0 or -errno. */
int mig_chan_send(struct chan *c, uint32_t type, const void *p, uint32_t len);
/* One small answer (ACCEPT/REFUSE/DONE), its tag and sequence checked. 0 or -errno. */
int mig_chan_recv_small(struct chan *c, struct mig_rec_hdr *h, void *p, size_t cap);
/* SHA-256 over (pfn, page) of every frame of memfd fd that holds data (MIG_F_VERIFY). */
void mig_mem_digest(int fd, const uint8_t *mem, uint64_t nr_frames, uint8_t out[32]);

#endif /* PVNETD_MIGRATE_INT_H */
