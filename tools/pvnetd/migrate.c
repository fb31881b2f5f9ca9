/* SPDX-License-Identifier: MIT */
/*
 * Live migration of PV guests between two pvnetd hosts (docs/migration.md).
 *
 * Receiving: `--migrate-listen ADDR:PORT --migrate-key FILE`. Each accepted
 * TCP connection (at most MIG_MAX_IN at once, others closed at accept) is
 * served by its own thread, so the control loop never waits on a peer: the
 * handshake (both sides prove the key), CONFIG (checked against this host:
 * name and domid free, every vif's bridge present, the memory available)
 * answered ACCEPT with a one-time token or REFUSE, then the pages into a new
 * sealed memfd, the grant table, event channels, store nodes, devices, END
 * answered DONE. Every record goes through the validating parser (hv/save.c);
 * the first bad one refuses the stream and frees the memfds: nothing else was
 * allocated. A complete migration waits MIG_ATTACH_MS for its guest on
 * <run-dir>/migrate.sock (PVHC_OP_MIGRATE_IN + token), which builds the domain
 * over the received memory as a re-adoption does (adopt.c), and the vifs'
 * MACs are announced (RARP) from their ports as soon as they reconnect.
 *
 * Sending: `pvnet migrate DOM ADDR:PORT [--live|--no-live]` runs in the
 * control loop, pumping it while it waits on the socket or the guest (one
 * outgoing migration at a time): pre-copy rounds with log-dirty, suspend,
 * last round, switch-over; any failure before the destination's DONE resumes
 * the guest here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvnet/domrec.h>
#include <pvnet/hypercall.h>
#include <pvnet/log.h>
#include <pvnet/migrate.h>
#include <pvnet/pkt.h>

#include "pvnetd.h"

#define MOD "migrate"
#define MIG_SOCK "migrate.sock"
#define MIG_MAX_IN 2          /* incoming migrations at once */
#define MIG_IO_MS 10000       /* a peer silent this long is dropped */
#define MIG_ATTACH_MS 10000   /* a complete migration waits this long for its guest */
#define MIG_GUEST_MS 3000     /* the guest answers control/migrate within this */
#define MIG_ANNOUNCE_MS 5000  /* the vifs reconnect on this host within this */
#define MIG_MAX_RELEASED 64

enum { IN_RUNNING, IN_COMPLETE, IN_FAILED, IN_ATTACHED };

struct mig_in {
	struct mig_in *next;
	struct migrate *m;
	struct pvnetd *d;
	int fd;
	pthread_t thread;
	int state; /* IN_*, under m->lock */
	struct mig_rx rx;
	int mem_fd, gnt_fd;
	uint8_t *mem, *gnt;
	uint8_t token[MIG_TOKEN_SIZE];
	uint64_t done_ns;
	char peer[64];
};

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

static int load_key(const char *file, struct migrate *m)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, m->key, sizeof(m->key));
	close(fd);
	if (n < MIG_KEY_MIN)
		return -EINVAL;
	m->key_size = (size_t)n;
	return 0;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* --- blocking I/O with a deadline (receiver threads) --- */

static int io_full(int fd, void *buf, size_t size, bool wr)
{
	uint8_t *p = buf;

	while (size) {
		ssize_t n = wr ? send(fd, p, size, MSG_NOSIGNAL) : recv(fd, p, size, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -ECONNRESET; /* truncated */
		p += n, size -= (size_t)n;
	}
	return 0;
}

/* --- the sender's I/O: never blocks the control loop (pumps it) --- */

static int pio_full(struct pvnetd *d, int fd, void *buf, size_t size, bool wr, int ms)
{
	uint8_t *p = buf;
	uint64_t deadline = pvnet_now_ns() + (uint64_t)ms * 1000000u;

	while (size) {
		ssize_t n = wr ? send(fd, p, size, MSG_NOSIGNAL | MSG_DONTWAIT)
			       : recv(fd, p, size, MSG_DONTWAIT);
		if (n > 0) {
			p += n, size -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (pvnet_now_ns() > deadline)
			return -ETIMEDOUT;
		struct pollfd pf = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
		if (poll(&pf, 1, 1) == 0)
			pvnetd_pump(d, 0); /* the other guests, the store, the CLI */
	}
	return 0;
}

struct chan {
	struct pvnetd *d; /* NULL: blocking (thread) */
	int fd;
	uint8_t skey[32];
	uint64_t seq_out, seq_in;
	char dir_out, dir_in;
};

static int chan_io(struct chan *c, void *buf, size_t size, bool wr)
{
	return c->d ? pio_full(c->d, c->fd, buf, size, wr, MIG_IO_MS) : io_full(c->fd, buf, size, wr);
}

static int chan_send(struct chan *c, uint32_t type, const void *p, uint32_t len)
{
	struct mig_rec_hdr h = {.type = type, .len = len, .seq = c->seq_out++};
	uint8_t tag[32];
	int rc;

	mig_rec_tag(c->skey, c->dir_out, &h, p, tag);
	if (len <= 4096) {
		/* a small record in one segment (ACCEPT, DONE, END: each a round trip's half) */
		uint8_t one[sizeof(h) + 4096 + sizeof(tag)];
		memcpy(one, &h, sizeof(h));
		if (len)
			memcpy(one + sizeof(h), p, len);
		memcpy(one + sizeof(h) + len, tag, sizeof(tag));
		return chan_io(c, one, sizeof(h) + len + sizeof(tag), true);
	}
	rc = chan_io(c, &h, sizeof(h), true);
	if (rc == 0 && len)
		rc = chan_io(c, (void *)p, len, true);
	if (rc == 0)
		rc = chan_io(c, tag, sizeof(tag), true);
	return rc;
}

/* Sends a PAGES record. The pages are copied first: the guest may write them
 * meanwhile, and the tag must cover exactly the bytes sent (a later write is
 * in the dirty log and goes in the next round). buf: MIG_MAX_REC bytes. */
static int chan_send_pages(struct chan *c, uint32_t round, const uint64_t *pfns, uint32_t count,
			   const uint8_t *mem, uint8_t *buf)
{
	struct mig_pages_hdr ph = {.round = round, .count = count};
	size_t off = sizeof(ph) + count * 8u;

	memcpy(buf, &ph, sizeof(ph));
	memcpy(buf + sizeof(ph), pfns, count * 8u);
	for (uint32_t i = 0; i < count; i++)
		memcpy(buf + off + (size_t)i * MIG_PAGE_SIZE, mem + pfns[i] * MIG_PAGE_SIZE,
		       MIG_PAGE_SIZE);
	return chan_send(c, MIG_REC_PAGES, buf, (uint32_t)(off + count * MIG_PAGE_SIZE));
}

/* Receives one reply record (small: ACCEPT/REFUSE/DONE) and checks its tag and sequence. */
static int chan_recv_small(struct chan *c, struct mig_rec_hdr *h, void *p, size_t cap)
{
	uint8_t tag[32], want[32];
	int rc = chan_io(c, h, sizeof(*h), false);

	if (rc < 0)
		return rc;
	if (h->len > cap)
		return -EBADMSG;
	if ((rc = chan_io(c, p, h->len, false)) < 0 || (rc = chan_io(c, tag, 32, false)) < 0)
		return rc;
	mig_rec_tag(c->skey, c->dir_in, h, p, want);
	if (!mig_mac_equal(tag, want, 32) || h->seq != c->seq_in)
		return -EBADMSG;
	c->seq_in++;
	return 0;
}

/* SHA-256 over (pfn, page) of every frame of memfd `fd` that holds data (MIG_F_VERIFY). */
static void mem_digest(int fd, const uint8_t *mem, uint64_t nr_frames, uint8_t out[32])
{
	struct mig_sha256 s;
	off_t end = (off_t)(nr_frames * MIG_PAGE_SIZE), pos = 0;

	mig_sha256_init(&s);
	while (pos < end) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;
		if (data < 0)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		for (uint64_t f = (uint64_t)data / MIG_PAGE_SIZE; f < (uint64_t)hole / MIG_PAGE_SIZE; f++) {
			mig_sha256_update(&s, &f, 8);
			mig_sha256_update(&s, mem + f * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
		}
		pos = hole;
	}
	mig_sha256_final(&s, out);
}

/* --- receiving --- */

static int mem_avail_ok(uint64_t size)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	/* keep 64 MiB for the host */
	return kb && (size >> 10) + (64u << 10) > kb ? -ENOMEM : 0;
}

static int sealed_memfd(const char *name, uint64_t size, int *fd_out, uint8_t **map_out)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), rc;
	void *map;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*fd_out = fd;
	*map_out = map;
	return 0;
}

/* CONFIG against this host. 0, or -errno with the reason. */
static int check_config(struct mig_in *in, struct pvnet_domrec *r, char *why, size_t size)
{
	struct pvnetd *d = in->d;
	struct hv_domain_info info;
	domid_t id;
	int rc;

	rc = pvnet_domrec_parse(in->rx.text, in->rx.cfg.text_len, r, why, size);
	if (rc < 0)
		return rc;
	if (r->domid != in->rx.cfg.domid || r->memory_mib << 20 != in->rx.cfg.mem_size) {
		snprintf(why, size, "the domain record disagrees with the config");
		return -EINVAL;
	}
	if (hv_domain_lookup(d->hv, r->name, &id) == 0) {
		snprintf(why, size, "a domain '%s' runs here", r->name);
		return -EEXIST;
	}
	if (hv_domain_get_info(d->hv, r->domid, &info) == 0) {
		snprintf(why, size, "domid %u is taken here (migration keeps the domid)", r->domid);
		return -EEXIST;
	}
	for (unsigned i = 0; r->vifs_state == 1 && i < r->n_vifs; i++) {
		struct vsw_bridge *br;
		if (vsw_bridge_find(d->sw, r->vifs[i].bridge, &br) < 0) {
			snprintf(why, size, "no bridge '%s' here", r->vifs[i].bridge);
			return -ENODEV;
		}
	}
	if (mem_avail_ok(in->rx.cfg.mem_size) < 0) {
		snprintf(why, size, "not enough memory for %llu MiB",
			 (unsigned long long)(in->rx.cfg.mem_size >> 20));
		return -ENOMEM;
	}
	return 0;
}

static void in_release_mem(struct mig_in *in)
{
	if (in->mem)
		munmap(in->mem, in->rx.cfg.mem_size);
	if (in->gnt)
		munmap(in->gnt, (size_t)in->rx.cfg.nr_grant_frames * MIG_PAGE_SIZE);
	if (in->mem_fd >= 0)
		close(in->mem_fd);
	if (in->gnt_fd >= 0)
		close(in->gnt_fd);
	in->mem = in->gnt = NULL;
	in->mem_fd = in->gnt_fd = -1;
}

static void in_set_state(struct mig_in *in, int state)
{
	uint64_t one = 1;

	pthread_mutex_lock(&in->m->lock);
	in->state = state;
	in->done_ns = pvnet_now_ns();
	pthread_mutex_unlock(&in->m->lock);
	(void)!write(in->m->wake_fd, &one, sizeof(one));
}

/* The receiver's side of the handshake; the session key into c. 0 or -errno. */
static int in_handshake(struct mig_in *in, struct chan *c)
{
	struct migrate *m = in->m;
	struct mig_hello hr = {.magic = MIG_MAGIC, .version = MIG_VERSION}, hs;
	uint8_t want[32];
	int rc;

	if (getrandom(hr.nonce, sizeof(hr.nonce), 0) != sizeof(hr.nonce))
		return -EIO;
	if ((rc = io_full(in->fd, &hr, sizeof(hr), true)) < 0 ||
	    (rc = io_full(in->fd, &hs, sizeof(hs), false)) < 0)
		return rc;
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-c", hr.nonce, hs.nonce, want);
	if (hs.magic != MIG_MAGIC || hs.version != MIG_VERSION ||
	    !mig_mac_equal(want, hs.mac, 32)) {
		snprintf(in->rx.why, sizeof(in->rx.why), "not authenticated (wrong key or version)");
		return -EACCES;
	}
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-s", hr.nonce, hs.nonce, hr.mac);
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-k", hr.nonce, hs.nonce, c->skey);
	memset(hr.nonce, 0, sizeof(hr.nonce));
	return io_full(in->fd, &hr, sizeof(hr), true);
}

/* CONFIG parsed: checked against this host, memory made, ACCEPT with a token. 0 or -errno. */
static int in_accept(struct mig_in *in, struct chan *c, struct pvnet_domrec *r)
{
	struct mig_accept acc;
	char why[sizeof(in->rx.why)] = "";
	int rc;

	rc = check_config(in, r, why, sizeof(why));
	if (rc == 0)
		rc = sealed_memfd("pvnet-migin-mem", in->rx.cfg.mem_size, &in->mem_fd, &in->mem);
	if (rc == 0)
		rc = sealed_memfd("pvnet-migin-gnt", (uint64_t)in->rx.cfg.nr_grant_frames * MIG_PAGE_SIZE,
				  &in->gnt_fd, &in->gnt);
	if (rc < 0) {
		snprintf(in->rx.why, sizeof(in->rx.why), "%s", why[0] ? why : strerror(-rc));
		return rc;
	}
	mig_rx_set_target(&in->rx, in->mem, in->gnt);
	if (getrandom(in->token, sizeof(in->token), 0) != sizeof(in->token))
		return -EIO;
	memset(&acc, 0, sizeof(acc));
	memcpy(acc.token, in->token, sizeof(acc.token));
	memcpy(acc.path, in->m->sock_path, strnlen(in->m->sock_path, sizeof(acc.path) - 1));
	PVLOG(INFO, MOD, "from %s: domain %u '%s', %llu MiB, %s: accepted", in->peer, r->domid,
	      r->name, (unsigned long long)(in->rx.cfg.mem_size >> 20),
	      in->rx.cfg.flags & MIG_F_LIVE ? "live" : "not live");
	return chan_send(c, MIG_REC_ACCEPT, &acc, sizeof(acc));
}

/* --verify: what was received is the source's memory. 0 or -EIO. */
static int in_verify(struct mig_in *in)
{
	uint8_t mine[32];

	if (!(in->rx.cfg.flags & MIG_F_VERIFY))
		return 0;
	mem_digest(in->mem_fd, in->mem, in->rx.cfg.mem_size / MIG_PAGE_SIZE, mine);
	if (!mig_mac_equal(mine, in->rx.digest, 32)) {
		snprintf(in->rx.why, sizeof(in->rx.why),
			 "--verify: the memory received differs from the source's");
		return -EIO;
	}
	PVLOG(INFO, MOD, "from %s: domain %u: --verify: the memory received is the source's",
	      in->peer, in->rx.cfg.domid);
	return 0;
}

/* Reads one record and hands it to the parser. 0 or -errno. */
static int in_record(struct mig_in *in, uint8_t *buf)
{
	struct mig_rec_hdr h;
	uint8_t tag[32];
	int rc;

	if ((rc = io_full(in->fd, &h, sizeof(h), false)) < 0)
		return rc;
	if (h.len > MIG_MAX_REC) {
		snprintf(in->rx.why, sizeof(in->rx.why), "record of %u bytes", h.len);
		return -EINVAL;
	}
	if ((rc = io_full(in->fd, buf, h.len, false)) < 0 ||
	    (rc = io_full(in->fd, tag, sizeof(tag), false)) < 0)
		return rc;
	return mig_rx_record(&in->rx, &h, buf, tag);
}

static void *in_thread(void *arg)
{
	struct mig_in *in = arg;
	struct chan c = {.fd = in->fd, .dir_out = 'R', .dir_in = 'S'};
	struct mig_refuse ref = {0};
	struct pvnet_domrec r = {0};
	uint8_t *buf = NULL;
	bool authed = false;
	int rc;

	rc = in_handshake(in, &c);
	if (rc < 0)
		goto fail;
	authed = true;
	buf = malloc(MIG_MAX_REC);
	if (!buf) {
		rc = -ENOMEM;
		goto fail;
	}
	mig_rx_init(&in->rx, c.skey);
	while (in->rx.state != MIG_RX_DONE) {
		if ((rc = in_record(in, buf)) < 0)
			goto fail;
		c.seq_in++;
		if (in->rx.state == MIG_RX_TARGET && (rc = in_accept(in, &c, &r)) < 0)
			goto fail;
	}
	if ((rc = in_verify(in)) < 0)
		goto fail;
	/* complete before DONE: the guest the source then lets go finds us ready */
	in_set_state(in, IN_COMPLETE);
	PVLOG(INFO, MOD, "from %s: domain %u complete: %llu pages in %u rounds, %u ports, "
			 "%u store nodes, %u vifs",
	      in->peer, in->rx.cfg.domid, (unsigned long long)in->rx.total_pages,
	      in->rx.rounds_seen, in->rx.nr_evtchns, in->rx.n_store, in->rx.n_vifs);
	(void)chan_send(&c, MIG_REC_DONE, NULL, 0);
	pvnet_domrec_free(&r);
	free(buf);
	return NULL;

fail:
	ref.err = rc;
	{
		const char *w = in->rx.why[0] ? in->rx.why : strerror(-rc);
		memcpy(ref.why, w, strnlen(w, sizeof(ref.why) - 1));
	}
	PVLOG(WARN, MOD, "from %s: migration refused: %s", in->peer, ref.why);
	if (authed) /* an unauthenticated peer learns nothing */
		(void)chan_send(&c, MIG_REC_REFUSE, &ref, sizeof(ref));
	pvnet_domrec_free(&r);
	free(buf);
	in_release_mem(in);
	in_set_state(in, IN_FAILED);
	return NULL;
}

static void in_free(struct mig_in *in)
{
	in_release_mem(in);
	mig_rx_free(&in->rx);
	if (in->fd >= 0)
		close(in->fd);
	free(in);
}

static void accept_tcp(struct pvnetd *d, struct migrate *m)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	const struct timeval tmo = {MIG_IO_MS / 1000, 0};
	struct mig_in *in;
	unsigned n = 0;
	int fd = accept4(m->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	pthread_mutex_lock(&m->lock);
	for (in = m->ins; in; in = in->next)
		n += in->state == IN_RUNNING || in->state == IN_COMPLETE;
	pthread_mutex_unlock(&m->lock);
	in = n < MIG_MAX_IN ? calloc(1, sizeof(*in)) : NULL;
	if (!in) {
		m->refused++;
		PVLOG_RL(WARN, MOD, "incoming connection refused: %u migrations already", n);
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	/* no Nagle: a small answer (ACCEPT, DONE) must not wait for the peer's delayed ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	in->m = m;
	in->d = d;
	in->fd = fd;
	in->mem_fd = in->gnt_fd = -1;
	inet_ntop(AF_INET, &sa.sin_addr, in->peer, sizeof(in->peer));
	pthread_mutex_lock(&m->lock);
	in->next = m->ins;
	m->ins = in;
	pthread_mutex_unlock(&m->lock);
	if (pthread_create(&in->thread, NULL, in_thread, in) != 0) {
		pthread_mutex_lock(&m->lock);
		m->ins = in->next;
		pthread_mutex_unlock(&m->lock);
		in_free(in);
		m->refused++;
	}
}

/* Joins and frees failed ones and complete ones whose guest never came. */
static void reap_ins(struct migrate *m)
{
	uint64_t now = pvnet_now_ns();

	pthread_mutex_lock(&m->lock);
	for (struct mig_in **pp = &m->ins; *pp;) {
		struct mig_in *in = *pp;
		bool gone = in->state == IN_FAILED || in->state == IN_ATTACHED ||
			    (in->state == IN_COMPLETE &&
			     now - in->done_ns > MIG_ATTACH_MS * 1000000ull);
		if (!gone) {
			pp = &in->next;
			continue;
		}
		if (in->state == IN_COMPLETE)
			PVLOG(WARN, MOD, "domain %u: its guest never came; memory freed",
			      in->rx.cfg.domid);
		if (in->state == IN_FAILED)
			m->refused++;
		*pp = in->next;
		pthread_mutex_unlock(&m->lock);
		pthread_join(in->thread, NULL);
		in_free(in);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
}

static void send_ret(int fd, const struct pvhc_msg *req, int ret)
{
	struct pvhc_msg rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.hdr.magic = PVHC_MAGIC;
	rsp.hdr.version = PVHC_VERSION;
	rsp.hdr.op = req->hdr.op;
	rsp.hdr.seq = req->hdr.seq;
	rsp.hdr.ret = ret;
	(void)send(fd, &rsp, sizeof(rsp), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* A guest resuming here: PVHC_OP_MIGRATE_IN with its domid and token. */
static void accept_guest(struct pvnetd *d, struct migrate *m)
{
	struct pvhc_msg req;
	struct ucred cred = {0};
	socklen_t cl = sizeof(cred);
	struct pollfd pf;
	struct mig_in *in, *found = NULL;
	struct pvnet_domrec r = {0};
	char why[160];
	int fd = accept4(m->sock_fd, NULL, NULL, SOCK_CLOEXEC), rc = -EPERM;
	ssize_t n;

	if (fd < 0)
		return;
	pf = (struct pollfd){.fd = fd, .events = POLLIN};
	/* the guest sends at once; a local process that does not is dropped after 50 ms */
	if (poll(&pf, 1, 50) != 1 || (n = recv(fd, &req, sizeof(req), MSG_DONTWAIT)) != sizeof(req) ||
	    req.hdr.magic != PVHC_MAGIC || req.hdr.op != PVHC_OP_MIGRATE_IN ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		m->refused++;
		close(fd);
		return;
	}
	pthread_mutex_lock(&m->lock);
	for (in = m->ins; in; in = in->next)
		if (in->state == IN_COMPLETE && in->rx.cfg.domid == req.args.hello.domid &&
		    mig_mac_equal(in->token, req.args.raw + 32, MIG_TOKEN_SIZE))
			found = in;
	if (found)
		found->state = IN_ATTACHED; /* ours now: not reaped under us */
	pthread_mutex_unlock(&m->lock);
	if (!found)
		goto refuse;
	rc = pvnet_domrec_parse(found->rx.text, found->rx.cfg.text_len, &r, why, sizeof(why));
	if (rc < 0)
		goto refuse;
	r.pid = cred.pid;
	rc = adopt_domain_build(d, &r, fd, found->mem_fd, found->gnt_fd);
	if (rc < 0)
		goto refuse;
	send_ret(fd, &req, 0);
	{
		struct dom *dom = dom_find(d, r.name);
		if (dom) {
			adopt_note_create(strcmp(r.file, "-") ? r.file : NULL, r.text, r.text_len,
					  (const char *const *)r.overrides, r.n_overrides);
			adopt_save(d, dom); /* a restart of this pvnetd re-adopts it */
			adopt_note_create(NULL, NULL, 0, NULL, 0);
		}
	}
	for (unsigned i = 0; i < sizeof(m->ann) / sizeof(m->ann[0]); i++)
		if (!m->ann[i].used) {
			m->ann[i] = (struct announce){.domid = r.domid, .since_ns = pvnet_now_ns(),
						      .used = true};
			break;
		}
	m->completed++;
	PVLOG(INFO, MOD, "domain %u '%s' resumed here (guest pid %ld), %llu ms after the stream "
			 "ended",
	      r.domid, r.name, (long)cred.pid,
	      (unsigned long long)((pvnet_now_ns() - found->done_ns) / 1000000u));
	pvnet_domrec_free(&r);
	return;

refuse:
	m->refused++;
	PVLOG_RL(WARN, MOD, "guest pid %ld refused for domain %u: %s", (long)cred.pid,
		 req.args.hello.domid, strerror(-rc));
	if (found)
		in_set_state(found, IN_FAILED);
	pvnet_domrec_free(&r);
	send_ret(fd, &req, rc);
	close(fd);
}

/* RARP from each connected vif of the domain, as if the guest sent it (QEMU's announce). */
struct ann_ctx {
	struct pvnetd *d;
	struct announce *a;
};

static int announce_vif(const struct nb_vif_info *vi, void *arg)
{
	struct ann_ctx *x = arg;
	struct migrate *m = x->d->migrate;
	struct vsw_bridge *br;
	struct vsw_port *port;
	struct pvnet_pkt_batch batch = {0};
	struct pvnet_pkt *p;
	uint8_t mac[6];

	if (!vi->connected || vi->handle >= 32 || (x->a->done_mask & (1u << vi->handle)))
		return 0;
	if (sscanf(vi->mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		   &mac[4], &mac[5]) != 6 ||
	    vsw_bridge_find(x->d->sw, vi->bridge, &br) < 0 || vsw_port_find(br, vi->name, &port) < 0)
		return 0;
	for (int k = 0; k < 3 && (p = pvnet_pkt_alloc(m->pool)); k++) {
		uint8_t *f = p->data;
		memset(f, 0, 60);
		memset(f, 0xff, 6);
		memcpy(f + 6, mac, 6);
		f[12] = 0x80, f[13] = 0x35;         /* RARP */
		f[14] = 0, f[15] = 1;               /* Ethernet */
		f[16] = 0x08, f[17] = 0;            /* IPv4 */
		f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 3; /* reverse request */
		memcpy(f + 22, mac, 6);
		memcpy(f + 32, mac, 6);
		p->len = p->head_size = 60;
		batch.pkts[batch.count++] = p;
	}
	if (batch.count)
		vsw_input(br, port, &batch);
	x->a->done_mask |= 1u << vi->handle;
	PVLOG(INFO, MOD, "domain %u: %s announced (RARP x3 from %s on %s), %llu ms after resume%s%s",
	      vi->domid, vi->mac, vi->name, vi->bridge,
	      (unsigned long long)((pvnet_now_ns() - x->a->since_ns) / 1000000u),
	      vi->accel[0] ? "; accelerator: " : "", vi->accel);
	return 0;
}

static void run_announces(struct pvnetd *d, struct migrate *m)
{
	for (unsigned i = 0; i < sizeof(m->ann) / sizeof(m->ann[0]); i++) {
		struct announce *a = &m->ann[i];
		struct ann_ctx x = {d, a};
		struct dom *dom;
		char id[16];
		unsigned want = 0;

		if (!a->used)
			continue;
		snprintf(id, sizeof(id), "%u", a->domid);
		dom = dom_find(d, id);
		if (!dom || pvnet_now_ns() - a->since_ns > MIG_ANNOUNCE_MS * 1000000ull) {
			a->used = false;
			continue;
		}
		nb_vif_foreach(d->nb, a->domid, announce_vif, &x);
		for (unsigned k = 0; k < dom->cfg.n_vifs && k < 32; k++)
			want |= 1u << (dom->cfg.vifs[k].devid >= 0 ? dom->cfg.vifs[k].devid : 0);
		if ((a->done_mask & want) == want)
			a->used = false;
	}
}

int migrate_pollfds(struct pvnetd *d, struct pollfd *pfd, void **ptr, int max)
{
	struct migrate *m = d->migrate;
	int n = 0;

	if (!m)
		return 0;
	for (unsigned i = 0; i < MIG_MAX_RELEASED; i++)
		if (m->released[i] > 0 && waitpid(m->released[i], NULL, WNOHANG) != 0)
			m->released[i] = 0;
	run_announces(d, m);
	reap_ins(m); /* failed ones, and complete ones whose guest never came (MIG_ATTACH_MS) */
	if (m->listen_fd >= 0 && n < max)
		pfd[n] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN}, ptr[n++] = NULL;
	if (m->sock_fd >= 0 && n < max)
		pfd[n] = (struct pollfd){.fd = m->sock_fd, .events = POLLIN}, ptr[n++] = NULL;
	if (n < max)
		pfd[n] = (struct pollfd){.fd = m->wake_fd, .events = POLLIN}, ptr[n++] = NULL;
	return n;
}

void migrate_handle(struct pvnetd *d, int fd, void *ptr)
{
	struct migrate *m = d->migrate;
	uint64_t v;

	(void)ptr;
	if (!m)
		return;
	if (fd == m->listen_fd)
		accept_tcp(d, m);
	else if (fd == m->sock_fd)
		accept_guest(d, m);
	else if (fd == m->wake_fd && read(m->wake_fd, &v, sizeof(v)) == sizeof(v))
		reap_ins(m);
}

int migrate_init(struct pvnetd *d, const char *listen_addr, const char *key_file)
{
	struct migrate *m;
	struct sockaddr_in sa;
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	int one = 1, rc;

	if (!listen_addr && !key_file)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->listen_fd = m->sock_fd = m->wake_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	d->migrate = m;
	if (!key_file) {
		PVLOG(ERR, MOD, "--migrate-listen needs --migrate-key FILE");
		return -EINVAL;
	}
	rc = load_key(key_file, m);
	if (rc < 0) {
		PVLOG(ERR, MOD, "--migrate-key %s: %s (at least %d bytes)", key_file,
		      rc == -EINVAL ? "too short" : strerror(-rc), MIG_KEY_MIN);
		return rc;
	}
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = pvnet_pkt_pool_create(16, 2048, &m->pool);
	if (m->wake_fd < 0 || rc < 0)
		return m->wake_fd < 0 ? -errno : rc;
	snprintf(m->sock_path, sizeof(m->sock_path), "%s/%s", d->run_dir, MIG_SOCK);
	if (strlen(m->sock_path) >= MIG_PATH_MAX)
		return -ENAMETOOLONG;
	strcpy(su.sun_path, m->sock_path);
	unlink(m->sock_path);
	m->sock_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->sock_fd < 0 || bind(m->sock_fd, (struct sockaddr *)&su, sizeof(su)) < 0 ||
	    chmod(m->sock_path, 0600) < 0 || listen(m->sock_fd, 8) < 0)
		return -errno;
	if (!listen_addr)
		return 0;
	if (parse_addr(listen_addr, &sa) < 0) {
		PVLOG(ERR, MOD, "--migrate-listen %s: not IPv4ADDR:PORT", listen_addr);
		return -EINVAL;
	}
	m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listen_fd < 0)
		return -errno;
	setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(m->listen_fd, 4) < 0) {
		rc = -errno;
		PVLOG(ERR, MOD, "--migrate-listen %s: %s", listen_addr, strerror(-rc));
		return rc;
	}
	PVLOG(INFO, MOD, "listening for migrations on %s", listen_addr);
	return 0;
}

void migrate_close(struct pvnetd *d)
{
	struct migrate *m = d->migrate;

	if (!m)
		return;
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->sock_fd >= 0) {
		close(m->sock_fd);
		unlink(m->sock_path);
	}
	for (struct mig_in *in = m->ins; in; in = in->next)
		shutdown(in->fd, SHUT_RDWR); /* the thread's next read fails */
	while (m->ins) {
		struct mig_in *in = m->ins;
		m->ins = in->next;
		pthread_join(in->thread, NULL);
		in_free(in);
	}
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	pvnet_pkt_pool_destroy(m->pool);
	pthread_mutex_destroy(&m->lock);
	free(m);
	d->migrate = NULL;
}

/* --- sending: pvnet migrate DOM ADDR:PORT [--live|--no-live] --- */

struct out {
	struct pvnetd *d;
	struct dom *dom;
	struct chan c;
	uint8_t *mem, *gnt;
	size_t gnt_size;
	int mem_fd, gnt_fd;
	uint64_t nr_frames, words;
	uint64_t *bits;
	uint8_t *buf; /* MIG_MAX_REC: one PAGES record */
	uint64_t total_pages;
	uint32_t round;
	domid_t domid;
	char home[64];
	/* the command */
	struct outbuf *ob;
	const char *name, *addr;
	struct sockaddr_in sa;
	bool live, verify, logdirty, suspended, backends_gone;
	char *text; /* room for struct mig_config, then the domain record */
	uint32_t text_len;
	char tok[2 * MIG_TOKEN_SIZE + 1];
	char target[MIG_PATH_MAX]; /* where the guest resumes (ACCEPT) */
	uint64_t t0, t_susp, t_ack;
};

/* The domain is still ours: the loop pumped meanwhile may have reaped a guest that died. */
static bool dom_alive(struct out *o)
{
	for (struct dom *dom = o->d->doms; dom; dom = dom->next)
		if (dom == o->dom && dom->domid == o->domid && !dom->dying && dom->pid > 0)
			return true;
	return false;
}

/* Waits (pumping) until the guest's data/migrate reads `want`. 0 or -ETIMEDOUT. */
static int wait_guest(struct out *o, const char *want, int ms, char *got, size_t size)
{
	char path[128];
	uint64_t deadline = pvnet_now_ns() + (uint64_t)ms * 1000000u;

	snprintf(path, sizeof(path), "%s/data/migrate", o->home);
	for (;;) {
		char *v = NULL;
		size_t len;
		bool ok = xs_read(o->d->xs, 0, 0, path, &v, &len) == 0 && !strcmp(v, want);
		if (got && v)
			snprintf(got, size, "%s", v);
		free(v);
		if (ok)
			return 0;
		if (pvnet_now_ns() > deadline)
			return -ETIMEDOUT;
		pvnetd_pump(o->d, 2);
		if (!dom_alive(o))
			return -ESRCH;
	}
}

/* Writes control/migrate = "what[ a b]" after clearing the guest's last answer. */
static int control(struct out *o, const char *what, const char *a, const char *b)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/data/migrate", o->home);
	xs_rm(o->d->xs, 0, 0, path);
	snprintf(path, sizeof(path), "%s/control/migrate", o->home);
	if (a)
		return xs_printf(o->d->xs, 0, path, "%s %s %s", what, a, b);
	return xs_printf(o->d->xs, 0, path, "%s", what);
}

/* Sends the frames set in o->bits as round o->round; returns the count or -errno. */
static int send_round(struct out *o)
{
	uint64_t pfns[MIG_MAX_PAGES_PER_REC];
	uint32_t n = 0, total = 0;
	struct mig_round_end re;
	int rc;

	for (uint64_t i = 0; i < o->words; i++) {
		for (uint64_t b = o->bits[i]; b; b &= b - 1) {
			uint64_t pfn = i * 64 + (uint64_t)__builtin_ctzll(b);
			if (pfn >= o->nr_frames)
				break;
			pfns[n++] = pfn;
			if (n == MIG_MAX_PAGES_PER_REC) {
				if ((rc = chan_send_pages(&o->c, o->round, pfns, n, o->mem, o->buf)) < 0)
					return rc;
				total += n, n = 0;
			}
		}
		o->bits[i] = 0;
	}
	if (n && (rc = chan_send_pages(&o->c, o->round, pfns, n, o->mem, o->buf)) < 0)
		return rc;
	total += n;
	re = (struct mig_round_end){.round = o->round, .pages = total};
	if ((rc = chan_send(&o->c, MIG_REC_ROUND_END, &re, sizeof(re))) < 0)
		return rc;
	o->total_pages += total;
	o->round++;
	return (int)total;
}

/* Round 0: every frame that holds data (a never-written frame is a hole of the memfd). */
static void mark_populated(struct out *o)
{
	off_t end = (off_t)(o->nr_frames * MIG_PAGE_SIZE), pos = 0;

	while (pos < end) {
		off_t data = lseek(o->mem_fd, pos, SEEK_DATA), hole;
		if (data < 0)
			break;
		hole = lseek(o->mem_fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = end;
		for (uint64_t f = (uint64_t)data / MIG_PAGE_SIZE;
		     f < (uint64_t)(hole + MIG_PAGE_SIZE - 1) / MIG_PAGE_SIZE && f < o->nr_frames; f++)
			o->bits[f / 64] |= 1ull << (f % 64);
		pos = hole;
	}
}

/* The frames written since the last harvest: the guest's log and dom0's. 0 or -errno. */
static int harvest(struct out *o)
{
	int kick = -1;
	struct mig_logdirty_shared *sh = hv_logdirty_shared(o->d->hv, o->domid, &kick);
	uint64_t *h, req, one = 1, deadline;

	if (!sh)
		return -ENOENT;
	h = (uint64_t *)(sh + 1) + o->words;
	req = __atomic_add_fetch(&sh->req_seq, 1, __ATOMIC_RELEASE);
	if (write(kick, &one, sizeof(one)) != sizeof(one))
		return -errno;
	deadline = pvnet_now_ns() + MIG_GUEST_MS * 1000000ull;
	while (__atomic_load_n(&sh->done_seq, __ATOMIC_ACQUIRE) != req) {
		if (pvnet_now_ns() > deadline)
			return -ETIMEDOUT;
		pvnetd_pump(o->d, 1);
		if (!dom_alive(o))
			return -ESRCH;
	}
	for (uint64_t i = 0; i < o->words; i++)
		o->bits[i] |= __atomic_exchange_n(&h[i], 0, __ATOMIC_ACQ_REL);
	return hv_logdirty_harvest_dom0(o->d->hv, o->domid, o->bits);
}

/* GNTTAB: the grant table's frames as they are now (the guest is suspended). */
static int send_gnttab(struct out *o)
{
	uint32_t nf = (uint32_t)(o->gnt_size / MIG_PAGE_SIZE);
	uint8_t *g = malloc(4 + (size_t)nf * MIG_PAGE_SIZE);
	int rc;

	if (!g)
		return -ENOMEM;
	memcpy(g, &nf, 4);
	memcpy(g + 4, o->gnt, (size_t)nf * MIG_PAGE_SIZE);
	rc = chan_send(&o->c, MIG_REC_GNTTAB, g, 4 + nf * MIG_PAGE_SIZE);
	free(g);
	return rc;
}

/* EVTCHN: the ports the domain has open (the frontends bind new ones on resume). */
static int send_evtchn(struct out *o, uint8_t *buf)
{
	uint32_t n = 0;

	for (uint32_t port = 1; port < MIG_MAX_EVTCHNS; port++) {
		struct evtchn_status st = {.dom = o->domid, .port = port};
		struct mig_evtchn e;
		bool unbound;

		if (evtchn_status(o->d->hv, 0, &st) < 0)
			break;
		if (st.status != EVTCHNSTAT_unbound && st.status != EVTCHNSTAT_interdomain)
			continue;
		unbound = st.status == EVTCHNSTAT_unbound;
		e = (struct mig_evtchn){.port = port,
					.state = unbound ? 1 : 2,
					.remote_dom = unbound ? st.u.unbound.dom : st.u.interdomain.dom,
					.remote_port = unbound ? 0 : st.u.interdomain.port};
		memcpy(buf + 4 + n * sizeof(e), &e, sizeof(e));
		n++;
	}
	memcpy(buf, &n, 4);
	return chan_send(&o->c, MIG_REC_EVTCHN, buf, 4 + n * (uint32_t)sizeof(struct mig_evtchn));
}

/* A data/ node name the destination's parser takes (hv/save.c path_ok). */
static bool store_name_ok(const char *n)
{
	return n[0] && n[0] != '.' && strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						"0123456789_-.") == strlen(n);
}

/* STORE: the guest's data/ nodes (the rest is rewritten from the config and by the guest). */
static int send_store(struct out *o, uint8_t *buf)
{
	char path[256], **names = NULL, *v = NULL;
	unsigned count = 0, kept = 0;
	uint32_t off = 4;
	size_t len;

	snprintf(path, sizeof(path), "%s/data", o->home);
	if (xs_directory(o->d->xs, 0, 0, path, &names, &count) < 0)
		count = 0;
	for (unsigned i = 0; i < count && kept < MIG_MAX_STORE_NODES; i++) {
		char rel[MIG_MAX_STORE_PATH + 1];
		uint16_t pl, vl;

		if (!store_name_ok(names[i]) ||
		    snprintf(rel, sizeof(rel), "data/%s", names[i]) >= (int)sizeof(rel))
			continue;
		snprintf(path, sizeof(path), "%s/%s", o->home, rel);
		if (xs_read(o->d->xs, 0, 0, path, &v, &len) < 0)
			continue;
		pl = (uint16_t)strlen(rel);
		if (len <= MIG_MAX_STORE_VALUE && !memchr(v, 0, len) && off + 4 + pl + len < 4096) {
			vl = (uint16_t)len;
			memcpy(buf + off, &pl, 2);
			memcpy(buf + off + 2, &vl, 2);
			memcpy(buf + off + 4, rel, pl);
			memcpy(buf + off + 4 + pl, v, vl);
			off += 4u + pl + vl;
			kept++;
		}
		free(v);
		v = NULL;
	}
	xs_free_list(names, count);
	memcpy(buf, &kept, 4);
	return chan_send(&o->c, MIG_REC_STORE, buf, off);
}

/* DEVICE payload from the domain's vifs (before any send: the sends pump the loop). */
static uint32_t build_devices(const struct out *o, uint8_t *dev)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < o->dom->cfg.n_vifs && n < MIG_MAX_VIFS; i++) {
		const struct pvnet_vif_cfg *vc = &o->dom->cfg.vifs[i];
		struct mig_vif v = {.devid = vc->devid >= 0 ? (uint32_t)vc->devid : i,
				    .accel_level = vc->level > 0 && vc->level <= 3 ? (uint8_t)vc->level : 0};
		memcpy(v.mac, vc->mac, 6);
		snprintf(v.bridge, sizeof(v.bridge), "%s", vc->bridge);
		snprintf(v.accel_plugin, sizeof(v.accel_plugin), "%s", vc->accel);
		memcpy(dev + 4 + n * sizeof(v), &v, sizeof(v));
		n++;
	}
	memcpy(dev, &n, 4);
	return 4 + n * (uint32_t)sizeof(struct mig_vif);
}

/* GNTTAB, EVTCHN, STORE, DEVICE. */
static int send_state(struct out *o)
{
	uint8_t dev[4 + MIG_MAX_VIFS * sizeof(struct mig_vif)];
	uint8_t *buf = malloc(4 + MIG_MAX_EVTCHNS * sizeof(struct mig_evtchn) + 4096);
	uint32_t dev_len = build_devices(o, dev);
	int rc;

	if (!buf)
		return -ENOMEM;
	if ((rc = send_gnttab(o)) == 0 && (rc = send_evtchn(o, buf)) == 0 &&
	    (rc = send_store(o, buf)) == 0)
		rc = chan_send(&o->c, MIG_REC_DEVICE, dev, dev_len);
	free(buf);
	return rc;
}

/* The switch-over: the domain leaves this host, its guest process goes on (to the destination). */
static void release_dom(struct pvnetd *d, struct dom *dom)
{
	struct migrate *m = d->migrate;
	char path[128];

	hv_logdirty_stop(d->hv, dom->domid);
	for (unsigned i = 0; i < MIG_MAX_RELEASED; i++)
		if (m->released[i] <= 0 && !dom->adopted) {
			m->released[i] = dom->pid; /* reaped by migrate_pollfds when it exits */
			break;
		}
	if (dom->hc_fd >= 0)
		close(dom->hc_fd); /* the guest's cue: resume at the destination */
	dom->hc_fd = -1;
	if (dom->adopted && dom->pidfd >= 0)
		close(dom->pidfd);
	adopt_forget(d, dom);
	xs_server_drop_domain(d->xss, dom->domid);
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u", dom->domid);
	xs_rm(d->xs, 0, 0, path);
	xs_domain_release(d->xs, dom->domid);
	hv_domain_destroy(d->hv, dom->domid);
	for (struct dom **pp = &d->doms; *pp; pp = &(*pp)->next)
		if (*pp == dom) {
			*pp = dom->next;
			break;
		}
	state_forget_domain(d, dom);
	free(dom);
}

static int any_vif(const struct nb_vif_info *vi, void *arg)
{
	(void)vi, (void)arg;
	return 1;
}

struct accel_names {
	char name[8][VSW_NAME_MAX];
	unsigned n;
};

static int accel_vif(const struct nb_vif_info *vi, void *arg)
{
	struct accel_names *a = arg;

	if (vi->accel[0] && a->n < 8)
		snprintf(a->name[a->n++], sizeof(a->name[0]), "%s", vi->name);
	return 0;
}

/*
 * Solarflare netaccel's hot-unplug rule: before the last copy every
 * accelerated vif goes to the software path (`pvnet accel detach`: the NIC's
 * buffers handed back, nothing lost), so no NIC state is left to move; the
 * destination's netback re-attaches it to a NIC of the same plugin if it has
 * one, or keeps it on the software path with the reason in `pvnet vif-list`.
 */
static void accel_detach_all(struct pvnetd *d, struct dom *dom, struct outbuf *ob)
{
	struct accel_names a = {.n = 0};

	nb_vif_foreach(d->nb, dom->domid, accel_vif, &a);
	for (unsigned i = 0; i < a.n; i++) {
		int rc = nb_accel_vif_set_attached(d->nb, a.name[i], false);
		if (rc == 0)
			out_printf(ob, "%s: accelerator detached, software path for the copy\n",
				   a.name[i]);
		else if (rc != -EOPNOTSUPP && rc != -ENODEV)
			out_printf(ob, "%s: accelerator detach: %s\n", a.name[i], strerror(-rc));
	}
	if (a.n)
		pvnetd_pump(d, 5); /* what the NIC handed back goes out on the rings */
}

/* The answer to CONFIG or END: ACCEPT / REFUSE / DONE. */
union answer {
	struct mig_accept acc;
	struct mig_refuse ref;
	uint8_t raw[256];
};

/* Arguments and what must hold before anything is sent. 0, or the command's status. */
static int out_parse(struct out *o, int argc, char **argv)
{
	struct migrate *m = o->d->migrate;

	o->live = true;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--live"))
			o->live = true;
		else if (!strcmp(argv[i], "--no-live"))
			o->live = false;
		else if (!strcmp(argv[i], "--verify"))
			o->verify = true;
		else if (!o->name)
			o->name = argv[i];
		else if (!o->addr)
			o->addr = argv[i];
		else
			o->name = NULL, o->addr = NULL, i = argc;
	}
	if (!o->name || !o->addr || parse_addr(o->addr, &o->sa) < 0) {
		err_printf(o->ob, "usage: pvnet migrate DOM IPV4ADDR:PORT [--live|--no-live] [--verify]\n");
		return 2;
	}
	if (!m || !m->key_size) {
		err_printf(o->ob, "this pvnetd has no --migrate-key: it cannot migrate\n");
		return 1;
	}
	o->dom = dom_find(o->d, o->name);
	if (!o->dom || o->dom->dying || o->dom->hvm || o->dom->pid <= 0 || o->dom->hc_fd < 0) {
		err_printf(o->ob, "%s: no running PV domain of that name%s\n", o->name,
			   o->dom && o->dom->hvm ? " (HVM migration is not done yet)" : "");
		return 1;
	}
	if (m->busy) {
		err_printf(o->ob, "a migration is already running\n");
		return 1;
	}
	o->domid = o->dom->domid;
	snprintf(o->home, sizeof(o->home), "/local/domain/%u", o->domid);
	return 0;
}

/* The domain record (adopt.c): the config the destination rebuilds the domain from. */
static int out_read_record(struct out *o)
{
	char path[PATH_MAX + 32];
	struct stat st;
	int rf;

	snprintf(path, sizeof(path), "%s/domains/%u.dom", o->d->state_dir, o->domid);
	rf = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (rf < 0 || fstat(rf, &st) < 0 || st.st_size <= 0 || st.st_size > MIG_MAX_CONFIG ||
	    !(o->text = malloc((size_t)st.st_size + sizeof(struct mig_config))) ||
	    read(rf, o->text + sizeof(struct mig_config), (size_t)st.st_size) != st.st_size) {
		err_printf(o->ob, "%s: no domain record %s (a guest started without the state dir "
				  "cannot be migrated)\n",
			   o->name, path);
		if (rf >= 0)
			close(rf);
		return -1;
	}
	close(rf);
	o->text_len = (uint32_t)st.st_size;
	return 0;
}

/* Connects and proves the key both ways; the session key into o->c. 0 or -1. */
static int out_connect(struct out *o)
{
	struct migrate *m = o->d->migrate;
	struct mig_hello hr, hs = {.magic = MIG_MAGIC, .version = MIG_VERSION}, ha;
	uint8_t want[32];
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	o->c = (struct chan){.d = o->d, .fd = fd, .dir_out = 'S', .dir_in = 'R'};
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	if (fd < 0 || (connect(fd, (struct sockaddr *)&o->sa, sizeof(o->sa)) < 0 &&
		       errno != EINPROGRESS)) {
		err_printf(o->ob, "connect %s: %s\n", o->addr, strerror(errno));
		return -1;
	}
	if ((err = pio_full(o->d, fd, &hr, sizeof(hr), false, 5000)) < 0) {
		err_printf(o->ob, "%s: no migration listener answered: %s\n", o->addr, strerror(-err));
		return -1;
	}
	if (hr.magic != MIG_MAGIC || hr.version != MIG_VERSION ||
	    getrandom(hs.nonce, sizeof(hs.nonce), 0) != sizeof(hs.nonce)) {
		err_printf(o->ob, "%s: not a pvnet migration listener of version %d\n", o->addr,
			   MIG_VERSION);
		return -1;
	}
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-c", hr.nonce, hs.nonce, hs.mac);
	if ((err = pio_full(o->d, fd, &hs, sizeof(hs), true, MIG_IO_MS)) < 0 ||
	    (err = pio_full(o->d, fd, &ha, sizeof(ha), false, MIG_IO_MS)) < 0) {
		err_printf(o->ob, "%s: handshake: %s (wrong key?)\n", o->addr, strerror(-err));
		return -1;
	}
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-s", hr.nonce, hs.nonce, want);
	if (!mig_mac_equal(want, ha.mac, 32)) {
		err_printf(o->ob, "%s: the destination does not hold our key\n", o->addr);
		return -1;
	}
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-k", hr.nonce, hs.nonce, o->c.skey);
	return 0;
}

/* CONFIG, then the destination's verdict: nothing has happened to the guest yet. 0 or -1. */
static int out_offer(struct out *o)
{
	struct mig_config cfg = {.flags = (o->live ? MIG_F_LIVE : 0) | (o->verify ? MIG_F_VERIFY : 0),
				 .domid = o->domid,
				 .text_len = o->text_len};
	struct hv_domain_info info;
	struct mig_rec_hdr h;
	union answer rep;
	int err;

	if (!dom_alive(o) || hv_domain_get_info(o->d->hv, o->domid, &info) < 0) {
		err_printf(o->ob, "%s: the guest died\n", o->name);
		return -1;
	}
	cfg.mem_size = info.mem_size;
	cfg.nr_grant_frames = info.nr_grant_entries / 512;
	memcpy(o->text, &cfg, sizeof(cfg));
	if ((err = chan_send(&o->c, MIG_REC_CONFIG, o->text, (uint32_t)sizeof(cfg) + o->text_len)) < 0 ||
	    (err = chan_recv_small(&o->c, &h, &rep, sizeof(rep))) < 0) {
		err_printf(o->ob, "%s: sending the config: %s\n", o->addr, strerror(-err));
		return -1;
	}
	if (h.type == MIG_REC_REFUSE && h.len == sizeof(rep.ref)) {
		rep.ref.why[sizeof(rep.ref.why) - 1] = 0;
		err_printf(o->ob, "%s refused domain '%s': %s (the guest runs on here)\n", o->addr,
			   o->name, rep.ref.why);
		return -1;
	}
	if (h.type != MIG_REC_ACCEPT || h.len != sizeof(rep.acc) ||
	    !memchr(rep.acc.path, 0, sizeof(rep.acc.path))) {
		err_printf(o->ob, "%s: unexpected answer %u\n", o->addr, h.type);
		return -1;
	}
	for (unsigned i = 0; i < MIG_TOKEN_SIZE; i++)
		sprintf(o->tok + 2 * i, "%02x", rep.acc.token[i]);
	memcpy(o->target, rep.acc.path, sizeof(o->target));
	return 0;
}

/* The domain's memory and grant table, mapped read-only here. 0 or -1. */
static int out_map(struct out *o)
{
	struct hv_domain_info info;

	if (hv_domain_fds(o->d->hv, o->domid, &o->mem_fd, &o->gnt_fd) < 0 ||
	    hv_domain_get_info(o->d->hv, o->domid, &info) < 0)
		return -1;
	o->nr_frames = info.mem_size / MIG_PAGE_SIZE;
	o->words = MIG_LOG_WORDS(o->nr_frames);
	o->mem = mmap(NULL, info.mem_size, PROT_READ, MAP_SHARED, o->mem_fd, 0);
	o->gnt_size = (size_t)info.nr_grant_entries / 512 * MIG_PAGE_SIZE;
	o->gnt = mmap(NULL, o->gnt_size, PROT_READ, MAP_SHARED, o->gnt_fd, 0);
	o->bits = calloc(o->words, 8);
	o->buf = malloc(MIG_MAX_REC);
	if (o->mem == MAP_FAILED || o->gnt == MAP_FAILED || !o->bits || !o->buf) {
		err_printf(o->ob, "mapping the domain's memory failed\n");
		return -1;
	}
	return 0;
}

/* Log-dirty on before the first copy, so every later write is caught; off (and
 * --no-live's copy) when the guest does not start it. 0, or -1 to cancel. */
static int out_logdirty(struct out *o)
{
	char got[64] = "";

	if (!o->live)
		return 0;
	if (hv_logdirty_start(o->d->hv, o->domid) < 0) {
		o->live = false;
		return 0;
	}
	o->logdirty = true;
	control(o, "logdirty", NULL, NULL);
	if (wait_guest(o, "logdirty", MIG_GUEST_MS, got, sizeof(got)) == 0)
		return 0;
	out_printf(o->ob, "guest did not start log-dirty (%s): stop-and-copy instead\n",
		   got[0] ? got : "no answer");
	if (!dom_alive(o))
		return -1;
	hv_logdirty_stop(o->d->hv, o->domid);
	control(o, "resume", NULL, NULL); /* whatever it started, it stops */
	o->logdirty = o->live = false;
	return 0;
}

/* Pre-copy rounds until the dirty set is small or stops shrinking. 0, or -1 to cancel. */
static int out_precopy(struct out *o)
{
	unsigned prev = 0;
	int err;

	if (!o->live)
		return 0; /* --no-live, as xl's: one copy with the guest stopped */
	mark_populated(o);
	for (;;) {
		uint64_t tr = pvnet_now_ns();
		unsigned dirty = 0;
		int sent = send_round(o);

		if (sent < 0 || !dom_alive(o)) {
			err_printf(o->ob, "round %u: %s\n", o->round, strerror(sent < 0 ? -sent : ESRCH));
			return -1;
		}
		out_printf(o->ob, "round %u: %d pages (%.1f MiB) in %llu ms\n", o->round - 1, sent,
			   sent / 256.0, (unsigned long long)((pvnet_now_ns() - tr) / 1000000u));
		PVLOG(INFO, MOD, "domain %u: round %u: %d pages", o->domid, o->round - 1, sent);
		if (o->round >= MIG_MAX_ROUNDS - 2)
			return 0;
		if ((err = harvest(o)) < 0) {
			err_printf(o->ob, "log-dirty harvest: %s\n", strerror(-err));
			return -1;
		}
		for (uint64_t i = 0; i < o->words; i++)
			dirty += (unsigned)__builtin_popcountll(o->bits[i]);
		/* converged, or not converging any more */
		if (dirty <= 64 || o->round >= 8 || (o->round > 2 && dirty >= prev))
			return 0;
		prev = dirty;
	}
}

/*
 * Stops the guest: first the backends go (netback unmaps the rings and
 * persistent grants, its last writes logged) so that the frontend's Closing
 * revokes every grant; then the guest suspends (Xen's suspend). 0 or -1.
 */
static int out_suspend(struct out *o)
{
	char path[128], got[64] = "";

	o->t_susp = pvnet_now_ns();
	accel_detach_all(o->d, o->dom, o->ob);
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u", o->domid);
	xs_rm(o->d->xs, 0, 0, path);
	o->backends_gone = true;
	for (uint64_t dl = pvnet_now_ns() + 2000000000ull;
	     nb_vif_foreach(o->d->nb, o->domid, any_vif, NULL) && pvnet_now_ns() < dl;)
		pvnetd_pump(o->d, 1);
	control(o, "suspend", o->target, o->tok);
	if (wait_guest(o, "suspended", MIG_GUEST_MS, got, sizeof(got)) < 0) {
		err_printf(o->ob, "the guest did not suspend (%s)\n", got[0] ? got : "no answer");
		return -1;
	}
	o->suspended = true;
	o->t_ack = pvnet_now_ns();
	return 0;
}

/* The last round, the state and END; the destination's DONE. 0 or -1. */
static int out_stop_and_copy(struct out *o)
{
	struct mig_end end;
	struct mig_rec_hdr h;
	union answer rep;
	int sent, err;

	if (o->logdirty && (err = harvest(o)) < 0) {
		err_printf(o->ob, "log-dirty harvest: %s\n", strerror(-err));
		return -1;
	}
	if (!o->logdirty)
		mark_populated(o); /* --no-live: everything, once, the guest stopped */
	sent = send_round(o);
	if (sent >= 0 && !dom_alive(o))
		sent = -ESRCH; /* the guest died meanwhile */
	if (sent < 0 || (err = send_state(o)) < 0) {
		err_printf(o->ob, "stop-and-copy: %s\n", strerror(-(sent < 0 ? sent : err)));
		return -1;
	}
	out_printf(o->ob, "round %u (stop-and-copy): %d pages\n", o->round - 1, sent);
	end = (struct mig_end){.total_pages = o->total_pages, .rounds = o->round};
	if (o->verify) /* the guest is stopped and the backends gone: nothing writes now */
		mem_digest(o->mem_fd, o->mem, o->nr_frames, end.digest);
	if ((err = chan_send(&o->c, MIG_REC_END, &end, sizeof(end))) < 0 ||
	    (err = chan_recv_small(&o->c, &h, &rep, sizeof(rep))) < 0) {
		err_printf(o->ob, "%s: %s\n", o->addr, strerror(-err));
		return -1;
	}
	if (h.type != MIG_REC_DONE) {
		if (h.type == MIG_REC_REFUSE && h.len == sizeof(rep.ref))
			rep.ref.why[sizeof(rep.ref.why) - 1] = 0;
		err_printf(o->ob, "%s refused the stream: %s\n", o->addr,
			   h.type == MIG_REC_REFUSE && h.len == sizeof(rep.ref) ? rep.ref.why
										: "unexpected answer");
		return -1;
	}
	return 0;
}

static void out_report(struct out *o)
{
	uint64_t t_done = pvnet_now_ns();

	out_printf(o->ob, "migrated domain %u '%s' to %s: %llu pages in %u rounds, %llu ms in all; "
			  "stop-and-copy (guest suspended to destination DONE) %llu ms\n",
		   o->domid, o->name, o->addr, (unsigned long long)o->total_pages, o->round,
		   (unsigned long long)((t_done - o->t0) / 1000000u),
		   (unsigned long long)((t_done - o->t_susp) / 1000000u));
	PVLOG(INFO, MOD, "domain %u '%s' migrated to %s: %llu pages in %u rounds, stop-and-copy %llu ms "
			 "(backends gone and guest suspended %llu ms, last round and state to DONE %llu ms)",
	      o->domid, o->name, o->addr, (unsigned long long)o->total_pages, o->round,
	      (unsigned long long)((t_done - o->t_susp) / 1000000u),
	      (unsigned long long)((o->t_ack - o->t_susp) / 1000000u),
	      (unsigned long long)((t_done - o->t_ack) / 1000000u));
}

/* Before the destination's DONE nothing is lost: the guest resumes here. */
static void out_cancel(struct out *o)
{
	if (o->logdirty)
		hv_logdirty_stop(o->d->hv, o->domid);
	if (!dom_alive(o)) {
		PVLOG(WARN, MOD, "domain %u '%s': its guest died during the migration to %s", o->domid,
		      o->name, o->addr);
		return;
	}
	if (o->backends_gone)
		for (unsigned i = 0; i < o->dom->cfg.n_vifs; i++)
			write_vif_nodes(o->d, o->dom, (unsigned)o->dom->cfg.vifs[i].devid,
					&o->dom->cfg.vifs[i]);
	control(o, "resume", NULL, NULL);
	PVLOG(WARN, MOD, "domain %u '%s': migration to %s failed; %s here", o->domid, o->name,
	      o->addr, o->suspended ? "resumed" : "still running");
}

static void out_free(struct out *o)
{
	if (o->mem && o->mem != MAP_FAILED)
		munmap(o->mem, o->nr_frames * MIG_PAGE_SIZE);
	if (o->gnt && o->gnt != MAP_FAILED)
		munmap(o->gnt, o->gnt_size);
	if (o->mem_fd >= 0)
		close(o->mem_fd);
	if (o->gnt_fd >= 0)
		close(o->gnt_fd);
	if (o->c.fd >= 0)
		close(o->c.fd);
	free(o->bits);
	free(o->buf);
	free(o->text);
}

int cmd_migrate(struct pvnetd *d, struct outbuf *ob, int argc, char **argv)
{
	struct out o = {.d = d, .ob = ob, .mem_fd = -1, .gnt_fd = -1, .c.fd = -1,
			.t0 = pvnet_now_ns()};
	int rc = out_parse(&o, argc, argv);

	if (rc)
		return rc;
	if (out_read_record(&o) < 0) {
		out_free(&o);
		return 1;
	}
	d->migrate->busy = true;
	rc = 1;
	if (out_connect(&o) < 0 || out_offer(&o) < 0 || out_map(&o) < 0)
		goto out; /* the guest was not touched */
	if (out_logdirty(&o) < 0 || out_precopy(&o) < 0 || out_suspend(&o) < 0 ||
	    out_stop_and_copy(&o) < 0) {
		out_cancel(&o);
		goto out;
	}
	d->migrate->sent++;
	out_report(&o);
	if (dom_alive(&o))
		release_dom(d, o.dom); /* the switch-over */
	rc = 0;
out:
	out_free(&o);
	d->migrate->busy = false;
	return rc;
}
