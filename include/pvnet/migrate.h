/* SPDX-License-Identifier: MIT */
/*
 * pvnet/migrate.h - the live-migration stream (docs/migration.md) and the
 * hypervisor's save/restore helpers (hv/save.c; SHA-256 and HMAC from nettle).
 *
 * Connection (TCP, sender = the source pvnetd, receiver = the destination's
 * --migrate-listen):
 *   1. receiver -> sender  struct mig_hello { magic, version, nonce_r }
 *   2. sender -> receiver  struct mig_hello { magic, version, nonce_s, mac }
 *                          mac = HMAC-SHA256(K, "pvnet-mig-c" nonce_r nonce_s)
 *   3. receiver -> sender  struct mig_hello { magic, version, 0, mac }
 *                          mac = HMAC-SHA256(K, "pvnet-mig-s" nonce_r nonce_s)
 *   K is the shared key (--migrate-key FILE, 32..4096 bytes). Both sides prove
 *   they hold it; the session key is S = HMAC-SHA256(K, "pvnet-mig-k" nonce_r
 *   nonce_s), so a stream recorded from another session never authenticates
 *   (the receiver's nonce is fresh each time).
 *   4. records, each `struct mig_rec_hdr` + len bytes + 32-byte tag,
 *      tag = HMAC-SHA256(S, dir || hdr || payload), dir 'S' from the sender,
 *      'R' from the receiver; seq counts 0, 1, 2 ... per direction, so a
 *      record replayed, dropped or reordered within the session is refused.
 *
 * Record order from the sender (each at most once unless said):
 *   CONFIG (the receiver answers ACCEPT or REFUSE), then PAGES and ROUND_END
 *   any number of times (rounds 0..MIG_MAX_ROUNDS-1, non-decreasing), then
 *   GNTTAB, EVTCHN, STORE, DEVICE, END; the receiver answers DONE or REFUSE.
 * All integers are little-endian. Every field is checked (mig_rx_*): a wrong
 * type for the state, a length that does not match the type, a pfn beyond the
 * domain's memory, a round going backwards, a count beyond its bound, a
 * non-printable or escaping store path - all refuse the whole stream.
 */
#ifndef PVNET_MIGRATE_H
#define PVNET_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>

#define MIG_MAGIC 0x3130474d54564e50ull /* "PNVTMG01" */
#define MIG_VERSION 1
#define MIG_NONCE_SIZE 32
#define MIG_MAC_SIZE 32
#define MIG_KEY_MIN 32
#define MIG_KEY_MAX 4096

#define MIG_PAGE_SIZE 4096u
#define MIG_MAX_PAGES_PER_REC 256u /* PAGES records carry 1..256 pages */
#define MIG_MAX_ROUNDS 30u
#define MIG_MAX_CONFIG (1u << 20) /* the domain record's text (pvnet/domrec.h) */
#define MIG_MAX_EVTCHNS 4096u
#define MIG_MAX_STORE_NODES 256u
#define MIG_MAX_STORE_PATH 128u
#define MIG_MAX_STORE_VALUE 1024u
#define MIG_MAX_VIFS 16u
#define MIG_MAX_GNT_FRAMES 1024u
#define MIG_MAX_MEM (64ull << 30)
/* Largest record payload: a full PAGES record (pfns + pages). */
#define MIG_MAX_REC (8u + MIG_MAX_PAGES_PER_REC * (8u + MIG_PAGE_SIZE))
#define MIG_TOKEN_SIZE 32
#define MIG_PATH_MAX 108

struct mig_hello {
	uint64_t magic;
	uint32_t version;
	uint32_t flags; /* 0 */
	uint8_t nonce[MIG_NONCE_SIZE];
	uint8_t mac[MIG_MAC_SIZE];
};
_Static_assert(sizeof(struct mig_hello) == 80, "mig_hello");

enum mig_rec_type {
	MIG_REC_CONFIG = 1,
	MIG_REC_PAGES = 2,
	MIG_REC_ROUND_END = 3,
	MIG_REC_GNTTAB = 4,
	MIG_REC_EVTCHN = 5,
	MIG_REC_STORE = 6,
	MIG_REC_DEVICE = 7,
	MIG_REC_END = 8,
	/* receiver -> sender */
	MIG_REC_ACCEPT = 64,
	MIG_REC_REFUSE = 65,
	MIG_REC_DONE = 66,
};

struct mig_rec_hdr {
	uint32_t type;
	uint32_t len; /* payload bytes, at most MIG_MAX_REC */
	uint64_t seq;
};
_Static_assert(sizeof(struct mig_rec_hdr) == 16, "mig_rec_hdr");

/* CONFIG: this struct, then text_len bytes of the domain record (domrec.h). */
struct mig_config {
	uint32_t flags; /* MIG_F_* */
	uint16_t domid;
	uint16_t pad;
	uint64_t mem_size;        /* bytes, page multiple, <= MIG_MAX_MEM */
	uint32_t nr_grant_frames; /* 1..MIG_MAX_GNT_FRAMES */
	uint32_t text_len;        /* 1..MIG_MAX_CONFIG */
};
#define MIG_F_LIVE 1u
#define MIG_F_VERIFY 2u /* END carries a digest of the memory (pvnet migrate --verify) */
_Static_assert(sizeof(struct mig_config) == 24, "mig_config");

/* ACCEPT: where and with what the guest resumes (on one machine: a unix socket). */
struct mig_accept {
	uint8_t token[MIG_TOKEN_SIZE];
	char path[MIG_PATH_MAX]; /* NUL-terminated */
	uint32_t pad;
};
_Static_assert(sizeof(struct mig_accept) == 144, "mig_accept");

/* REFUSE: a negative errno and a NUL-terminated reason. */
struct mig_refuse {
	int32_t err;
	char why[124];
};
_Static_assert(sizeof(struct mig_refuse) == 128, "mig_refuse");

/* PAGES: round, count, then count pfns (u64), then count pages. */
struct mig_pages_hdr {
	uint32_t round;
	uint32_t count;
};

struct mig_round_end {
	uint32_t round;
	uint32_t pages; /* pages this round carried; must match what came */
};

/* EVTCHN: count, then count of these (the source's ports of the domain). */
struct mig_evtchn {
	uint32_t port;
	uint8_t state; /* 0 closed, 1 unbound, 2 interdomain */
	uint8_t pad;
	uint16_t remote_dom;
	uint32_t remote_port;
};
_Static_assert(sizeof(struct mig_evtchn) == 12, "mig_evtchn");

/* STORE: count, then per node u16 path_len, u16 value_len, path, value;
 * paths relative to the domain's home, [A-Za-z0-9_./-], no "..", no leading '/'. */

/* DEVICE: count, then count of these. */
struct mig_vif {
	uint32_t devid;
	uint8_t mac[6];
	uint8_t accel_level; /* 0: software path; 1..3: the NIC level it had */
	uint8_t pad;
	char bridge[32];       /* NUL-terminated */
	char accel_plugin[32]; /* NUL-terminated; "" for none */
};
_Static_assert(sizeof(struct mig_vif) == 76, "mig_vif");

/* END. digest: with MIG_F_VERIFY, SHA-256 over (pfn as u64, page) of every
 * frame of the source's memory that holds data once the guest is stopped; the
 * receiver computes the same over what it received and refuses a mismatch (a
 * check of the dirty tracking, as xc_domain_save's verify mode); zero without. */
struct mig_end {
	uint64_t total_pages;
	uint32_t rounds;
	uint32_t pad;
	uint8_t digest[32];
};
_Static_assert(sizeof(struct mig_end) == 48, "mig_end");

/* --- SHA-256 / HMAC (hv/save.c): thin wrappers over nettle's sha256 and
 * hmac_sha256 (nettle-dev); no hash is written in this tree. --- */
struct mig_sha256 {
	struct sha256_ctx ctx;
};
void mig_sha256_init(struct mig_sha256 *s);
void mig_sha256_update(struct mig_sha256 *s, const void *data, size_t size);
void mig_sha256_final(struct mig_sha256 *s, uint8_t out[32]);

struct mig_hmac {
	struct hmac_sha256_ctx ctx;
};
void mig_hmac_init(struct mig_hmac *m, const uint8_t *key, size_t key_size);
void mig_hmac_update(struct mig_hmac *m, const void *data, size_t size);
void mig_hmac_final(struct mig_hmac *m, uint8_t out[32]);
/* Constant-time comparison (nettle's memeql_sec): true if equal. */
bool mig_mac_equal(const uint8_t *a, const uint8_t *b, size_t size);

/* The handshake MACs and the session key (labels as above). */
void mig_auth_mac(const uint8_t *key, size_t key_size, const char *label,
		  const uint8_t nonce_r[MIG_NONCE_SIZE], const uint8_t nonce_s[MIG_NONCE_SIZE],
		  uint8_t out[32]);
/* The tag of one record: dir 'S' or 'R'. */
void mig_rec_tag(const uint8_t skey[32], char dir, const struct mig_rec_hdr *h, const void *payload,
		 uint8_t out[32]);

/* --- The receiver's validating parser (hv/save.c) --- */

enum mig_rx_state {
	MIG_RX_CONFIG = 0, /* expects CONFIG */
	MIG_RX_TARGET,     /* CONFIG parsed; the caller must mig_rx_set_target */
	MIG_RX_PAGES,      /* PAGES / ROUND_END / GNTTAB */
	MIG_RX_EVTCHN,
	MIG_RX_STORE,
	MIG_RX_DEVICE,
	MIG_RX_END,
	MIG_RX_DONE,  /* END parsed: the stream is complete */
	MIG_RX_FAILED /* refused: every later record is refused too */
};

struct mig_store_node {
	char path[MIG_MAX_STORE_PATH + 1];
	char value[MIG_MAX_STORE_VALUE + 1];
	uint16_t value_len;
};

struct mig_rx {
	enum mig_rx_state state;
	uint64_t seq; /* next expected */
	uint8_t skey[32];
	/* from CONFIG */
	struct mig_config cfg;
	char *text; /* owned, NUL-terminated */
	/* set by mig_rx_set_target: where pages and the grant table go (not owned) */
	uint8_t *mem, *gnt;
	/* progress */
	uint32_t round, round_pages;
	uint64_t total_pages;
	uint32_t rounds_seen;
	uint32_t nr_evtchns, nr_bound;
	struct mig_store_node *store; /* owned, [n_store] */
	unsigned n_store;
	struct mig_vif vifs[MIG_MAX_VIFS];
	unsigned n_vifs;
	bool have_gnttab;
	uint8_t digest[32]; /* END's (MIG_F_VERIFY) */
	char why[128];      /* why the stream was refused */
};

/* Starts a parser with the session key. */
void mig_rx_init(struct mig_rx *rx, const uint8_t skey[32]);
/* Frees what the parser owns. Safe on an initialised or zeroed parser. */
void mig_rx_free(struct mig_rx *rx);
/*
 * Parses one record (header, payload of h->len bytes, tag). 0 when accepted;
 * -EBADMSG (tag, sequence), -EPROTO (type out of order), -EINVAL (a field
 * out of bounds) and rx->why say why; the parser is then FAILED. After CONFIG
 * the state is TARGET: the caller validates the config, then sets the target.
 */
int mig_rx_record(struct mig_rx *rx, const struct mig_rec_hdr *h, const uint8_t *payload,
		  const uint8_t tag[32]);
/* Where pages (cfg.mem_size bytes) and the grant table (nr_grant_frames pages) go. */
void mig_rx_set_target(struct mig_rx *rx, uint8_t *mem, uint8_t *gnt);

/*
 * --- Log-dirty (pre-copy) ---
 *
 * Two logs make the pages written since the last round:
 *  - dom0's writes into the guest (netback's grant copies into RX buffers,
 *    writable grant mappings): marked by the hypervisor in gnttab.c at every
 *    writable unpin, as Xen's paging_mark_dirty does; a frame still pinned
 *    writable at a harvest counts as dirty (Xen: dirty until unmapped).
 *  - the guest's own writes: the guest library (hvc_logdirty_start) write-
 *    protects its memory with userfaultfd (kernel writes into it, a TAP read
 *    for instance, fault too) and sets the frame's bit in the shared log at
 *    the first write of each round, then lets the write go on.
 * The shared log (a memfd the guest gets with PVHC_OP_LOGDIRTY): this header,
 * then `live` and `harvested` bitmaps of words (nr_frames + 63) / 64 each.
 * A harvest: pvnetd bumps req_seq and kicks the eventfd; the guest moves every
 * live bit to harvested, write-protecting those frames again, then sets
 * done_seq = req_seq. A guest that lies only corrupts its own copy.
 */
#define MIG_LOG_MAGIC 0x4c474f4cu
struct mig_logdirty_shared {
	uint32_t magic;
	uint32_t nr_frames;
	uint64_t req_seq;  /* pvnetd */
	uint64_t done_seq; /* guest */
	uint64_t faults;   /* guest: write faults taken */
	uint64_t pad[4];
};
_Static_assert(sizeof(struct mig_logdirty_shared) == 64, "mig_logdirty_shared");
#define MIG_LOG_WORDS(nr_frames) (((uint64_t)(nr_frames) + 63) / 64)
#define MIG_LOG_SIZE(nr_frames)                                                                    \
	((sizeof(struct mig_logdirty_shared) + 16 * MIG_LOG_WORDS(nr_frames) + 4095) & ~4095ull)

struct hv;
/*
 * Starts log-dirty for domain `domid` (dom0 side): the hypervisor's log of
 * dom0 writes and the shared log the guest fetches with PVHC_OP_LOGDIRTY.
 * -EBUSY if already on, -ENOENT unknown domain. Stopped by hv_logdirty_stop
 * or when the domain is destroyed.
 */
int hv_logdirty_start(struct hv *hv, uint16_t domid);
void hv_logdirty_stop(struct hv *hv, uint16_t domid);
/* The shared log mapped in pvnetd (NULL if log-dirty is off) and its kick eventfd. */
struct mig_logdirty_shared *hv_logdirty_shared(struct hv *hv, uint16_t domid, int *kick_fd);
/*
 * ORs into `bits` (MIG_LOG_WORDS words) the frames dom0 wrote since the last
 * call, plus the frames pinned writable now, and clears dom0's log. 0 or -ENOENT.
 */
int hv_logdirty_harvest_dom0(struct hv *hv, uint16_t domid, uint64_t *bits);

#endif /* PVNET_MIGRATE_H */
