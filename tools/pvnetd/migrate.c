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
 * Sending: migrate_send.c (`pvnet migrate`); what both halves share is in
 * migrate_int.h.
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

#include "migrate_int.h"

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

int mig_parse_addr(const char *s, struct sockaddr_in *sa)
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

int mig_pio_full(struct pvnetd *d, int fd, void *buf, size_t size, bool wr, int ms)
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


static int chan_io(struct chan *c, void *buf, size_t size, bool wr)
{
	return c->d ? mig_pio_full(c->d, c->fd, buf, size, wr, MIG_IO_MS)
		    : io_full(c->fd, buf, size, wr);
}

int mig_chan_send(struct chan *c, uint32_t type, const void *p, uint32_t len)
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

/* Receives one reply record (small: ACCEPT/REFUSE/DONE) and checks its tag and sequence. */
int mig_chan_recv_small(struct chan *c, struct mig_rec_hdr *h, void *p, size_t cap)
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
void mig_mem_digest(int fd, const uint8_t *mem, uint64_t nr_frames, uint8_t out[32])
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
		for (uint64_t f = (uint64_t)data / MIG_PAGE_SIZE;
		     f < (uint64_t)hole / MIG_PAGE_SIZE; f++) {
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
		snprintf(in->rx.why, sizeof(in->rx.why),
			 "not authenticated (wrong key or version)");
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
		rc = sealed_memfd("pvnet-migin-gnt",
				  (uint64_t)in->rx.cfg.nr_grant_frames * MIG_PAGE_SIZE, &in->gnt_fd,
				  &in->gnt);
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
	return mig_chan_send(c, MIG_REC_ACCEPT, &acc, sizeof(acc));
}

/* --verify: what was received is the source's memory. 0 or -EIO. */
static int in_verify(struct mig_in *in)
{
	uint8_t mine[32];

	if (!(in->rx.cfg.flags & MIG_F_VERIFY))
		return 0;
	mig_mem_digest(in->mem_fd, in->mem, in->rx.cfg.mem_size / MIG_PAGE_SIZE, mine);
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
	PVLOG(INFO, MOD,
	      "from %s: domain %u complete: %llu pages in %u rounds, %u ports, "
	      "%u store nodes, %u vifs",
	      in->peer, in->rx.cfg.domid, (unsigned long long)in->rx.total_pages,
	      in->rx.rounds_seen, in->rx.nr_evtchns, in->rx.n_store, in->rx.n_vifs);
	(void)mig_chan_send(&c, MIG_REC_DONE, NULL, 0);
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
		(void)mig_chan_send(&c, MIG_REC_REFUSE, &ref, sizeof(ref));
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
	if (poll(&pf, 1, 50) != 1 ||
	    (n = recv(fd, &req, sizeof(req), MSG_DONTWAIT)) != sizeof(req) ||
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
			m->ann[i] = (struct announce){
				.domid = r.domid, .since_ns = pvnet_now_ns(), .used = true};
			break;
		}
	m->completed++;
	PVLOG(INFO, MOD,
	      "domain %u '%s' resumed here (guest pid %ld), %llu ms after the stream "
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
	    vsw_bridge_find(x->d->sw, vi->bridge, &br) < 0 ||
	    vsw_port_find(br, vi->name, &port) < 0)
		return 0;
	for (int k = 0; k < 3 && (p = pvnet_pkt_alloc(m->pool)); k++) {
		uint8_t *f = p->data;
		memset(f, 0, 60);
		memset(f, 0xff, 6);
		memcpy(f + 6, mac, 6);
		f[12] = 0x80, f[13] = 0x35;                 /* RARP */
		f[14] = 0, f[15] = 1;                       /* Ethernet */
		f[16] = 0x08, f[17] = 0;                    /* IPv4 */
		f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 3; /* reverse request */
		memcpy(f + 22, mac, 6);
		memcpy(f + 32, mac, 6);
		p->len = p->head_size = 60;
		batch.pkts[batch.count++] = p;
	}
	if (batch.count)
		vsw_input(br, port, &batch);
	x->a->done_mask |= 1u << vi->handle;
	PVLOG(INFO, MOD,
	      "domain %u: %s announced (RARP x3 from %s on %s), %llu ms after resume%s%s",
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
	if (mig_parse_addr(listen_addr, &sa) < 0) {
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
