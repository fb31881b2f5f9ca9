/* SPDX-License-Identifier: MIT */
/*
 * Port mirroring to a capture file or pipe, capture replay with pcap_open_offline,
 * and linearising frames (head + grant tail) for ports that need the whole frame
 * in one buffer.
 *
 * A mirror never makes the switch or the control loop wait for its output. The
 * data path (the port's ingress worker and every worker that floods to the port,
 * under the mirror's mutex once per burst) applies the filter (pcap_compile'd,
 * run with pcap_offline_filter) and the snap length, and copies each frame as a
 * pcap record into a bounded byte ring (VSW_MIRROR_QUEUE_DEFAULT, 4 MiB); when the
 * ring is full the frame is not recorded and counted (queue_drops). A writer
 * thread moves the ring to the file descriptor with write(2), outside the mutex:
 * a slow disk only fills the ring. Pipes and FIFOs are written non-blocking with
 * poll(), so a reader that stops reading also only fills the ring; a reader that
 * goes away (EPIPE) ends the mirror (no more records, counted as write_errors).
 * The pcap format (not pcapng) is written directly: a 24-byte file header, then
 * per frame a 16-byte record header and the captured bytes.
 *
 * Stopping drains the ring: all of it to a regular file (joined: the file is
 * complete when stop returns); to a pipe for at most STREAM_DRAIN_MS more, the
 * rest counted as write_errors, by the writer on its own (detached, it frees the
 * mirror): mirror-stop never waits for a pipe's reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>

#include "vsw_private.h"

#define MIRROR_SNAPLEN_MAX 65535
#define SCRATCH_SIZE (65536 + 64)
#define REPLAY_POOL 64
#define REPLAY_BUF 65536
#define REC_HLEN 16         /* pcap record header */
#define STREAM_DRAIN_MS 200 /* stop: how long a pipe reader gets to take the rest */
#define POLL_MS 100

struct vsw_mirror {
	pthread_mutex_t lock; /* everything below but the writer's fd use */
	pthread_cond_t cond;  /* writer: data queued, or stop */
	pthread_t thread;
	int fd;
	bool is_stream; /* pipe/FIFO/socket: non-blocking writes */
	bool stop;      /* vsw_mirror_free asked the writer to finish */
	bool closed;    /* no more records: --count reached or output gone */
	bool done;      /* the writer closed the output */
	bool detached;  /* stopped while draining a pipe: the writer frees it */
	uint64_t limit; /* 0: unlimited */
	uint32_t snaplen;
	bool have_filter;
	struct bpf_program prog;
	/* the byte ring: [tail, head) holds records not yet written; offsets grow
	 * forever, position = offset % ring_size. rec_end[] holds the end offset of
	 * each queued record (a ring of rec_max), so `written` counts whole records. */
	uint8_t *ring;
	size_t ring_size;
	uint64_t head, tail;
	uint64_t *rec_end;
	uint32_t rec_max, rec_head, rec_tail;
	/* counters */
	uint64_t queued, written, queue_drops, filtered, truncated, write_errors;
	char path[256];
	char filter[256];
	uint8_t scratch[SCRATCH_SIZE];
};

static vsw_tail_read_fn tail_fn;
static void *tail_arg;

void vsw_tail_reader_set(vsw_tail_read_fn fn, void *arg)
{
	__atomic_store_n(&tail_arg, arg, __ATOMIC_RELAXED);
	/* release: the argument is visible to whoever sees the function */
	__atomic_store_n(&tail_fn, fn, __ATOMIC_RELEASE);
}

int vsw_pkt_linearize(const struct pvnet_pkt *pkt, uint16_t vlan_tci, void *dst, uint32_t dst_size)
{
	uint32_t extra = vlan_tci ? PVNET_VLAN_HLEN : 0;
	uint32_t total = pkt->len + extra, head;
	vsw_tail_read_fn fn;
	int rc;

	if (total > dst_size)
		return -ENOSPC;
	head = pvnet_pkt_write_head(pkt, vlan_tci, dst, dst_size);
	if (pkt->len > pkt->head_size) {
		fn = __atomic_load_n(&tail_fn, __ATOMIC_ACQUIRE);
		if (pkt->src_kind != PVNET_PKT_SRC_GRANT || !fn)
			return -EOPNOTSUPP;
		rc = fn(__atomic_load_n(&tail_arg, __ATOMIC_RELAXED), pkt, (uint8_t *)dst + head,
			pkt->len - pkt->head_size);
		if (rc < 0)
			return rc;
	}
	return (int)total;
}

/* Copies size bytes into the ring at offset off (wrapping). Lock held. */
static void ring_put(struct vsw_mirror *m, uint64_t off, const void *src, size_t size)
{
	size_t pos = (size_t)(off % m->ring_size), first = m->ring_size - pos;

	if (first > size)
		first = size;
	memcpy(m->ring + pos, src, first);
	memcpy(m->ring, (const uint8_t *)src + first, size - first);
}

void vsw_mirror_record(struct vsw_mirror *m, struct pvnet_pkt *const *pkts, const uint16_t *tags,
		       unsigned n)
{
	struct pcap_pkthdr h;
	struct timeval tv;
	bool added = false;

	if (!n)
		return;
	gettimeofday(&tv, NULL);
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < n && !m->closed; i++) {
		const struct pvnet_pkt *pkt = pkts[i];
		uint16_t tci = tags ? tags[i] : 0;
		const uint8_t *bytes;
		uint32_t rec[4];
		int size;

		h.ts = tv;
		h.len = pkt->len + (tci ? PVNET_VLAN_HLEN : 0);
		if (!tci && pkt->head_size == pkt->len) {
			bytes = pkt->data;
			h.caplen = pkt->len;
		} else {
			size = vsw_pkt_linearize(pkt, tci, m->scratch, sizeof(m->scratch));
			if (size < 0) { /* head only: tail unreadable here */
				h.caplen = pvnet_pkt_write_head(pkt, tci, m->scratch,
								sizeof(m->scratch));
				m->truncated++;
			} else {
				h.caplen = (uint32_t)size;
			}
			bytes = m->scratch;
		}
		if (h.caplen > m->snaplen)
			h.caplen = m->snaplen;
		if (m->have_filter && !pcap_offline_filter(&m->prog, &h, bytes)) {
			m->filtered++;
			continue;
		}
		if (m->head - m->tail + REC_HLEN + h.caplen > m->ring_size ||
		    m->rec_head - m->rec_tail == m->rec_max) {
			m->queue_drops++; /* the writer is behind: never wait for it */
			continue;
		}
		rec[0] = (uint32_t)h.ts.tv_sec;
		rec[1] = (uint32_t)h.ts.tv_usec;
		rec[2] = h.caplen;
		rec[3] = h.len;
		ring_put(m, m->head, rec, REC_HLEN);
		ring_put(m, m->head + REC_HLEN, bytes, h.caplen);
		m->head += REC_HLEN + h.caplen;
		m->rec_end[m->rec_head++ % m->rec_max] = m->head;
		added = true;
		if (++m->queued == m->limit)
			m->closed = true; /* the writer closes the file once it is out */
	}
	if (added)
		pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* Records whose bytes are all out count as written. Lock held. */
static void pop_written(struct vsw_mirror *m)
{
	while (m->rec_tail != m->rec_head && m->rec_end[m->rec_tail % m->rec_max] <= m->tail) {
		m->rec_tail++;
		m->written++;
	}
}

/* Drops what is queued (output gone, or out of drain time). Lock held. */
static void discard_queue(struct vsw_mirror *m)
{
	m->write_errors += m->rec_head - m->rec_tail;
	m->rec_tail = m->rec_head;
	m->tail = m->head;
}

static void mirror_release(struct vsw_mirror *m);

/* The writer: moves the ring to the fd, never holding the lock across write(2). */
static void *mirror_writer(void *arg)
{
	struct vsw_mirror *m = arg;
	uint64_t deadline = 0;
	bool self_free;
	sigset_t set;

	/* a reader that went away must give EPIPE here, not kill the process */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_mutex_lock(&m->lock);
	for (;;) {
		size_t pos, len;
		ssize_t w;

		while (m->head == m->tail && !m->stop && !m->closed)
			pthread_cond_wait(&m->cond, &m->lock);
		if (m->head == m->tail)
			break; /* stopped or complete, and everything is out */
		if (m->stop && m->is_stream) {
			if (!deadline)
				deadline = pvnet_now_ms() + STREAM_DRAIN_MS;
			else if (pvnet_now_ms() >= deadline) {
				discard_queue(m);
				break;
			}
		}
		pos = (size_t)(m->tail % m->ring_size);
		len = (size_t)(m->head - m->tail);
		if (len > m->ring_size - pos)
			len = m->ring_size - pos;
		pthread_mutex_unlock(&m->lock);
		/* [tail, tail + len) is not touched by producers until tail moves */
		w = write(m->fd, m->ring + pos, len);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = {.fd = m->fd, .events = POLLOUT};
			(void)poll(&pfd, 1, POLL_MS);
		}
		pthread_mutex_lock(&m->lock);
		if (w > 0) {
			m->tail += (uint64_t)w;
			pop_written(m);
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			PVLOG(WARN, VSW_LOG, "mirror %s: %s: capture ended", m->path,
			      errno == EPIPE ? "the reader went away" : strerror(errno));
			m->closed = true;
			discard_queue(m);
			break;
		}
	}
	if (m->closed && !m->stop && m->limit && m->queued == m->limit)
		PVLOG(INFO, VSW_LOG, "mirror %s: %llu frames, complete", m->path,
		      (unsigned long long)m->written);
	/* --count reached or output gone: close now, so a reader sees the end */
	close(m->fd);
	m->fd = -1;
	m->done = true;
	self_free = m->detached;
	pthread_mutex_unlock(&m->lock);
	if (self_free)
		mirror_release(m);
	return NULL;
}

static void mirror_release(struct vsw_mirror *m)
{
	if (m->have_filter)
		pcap_freecode(&m->prog);
	if (m->fd >= 0)
		close(m->fd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->rec_end);
	free(m->ring);
	free(m);
}

void vsw_mirror_free(struct vsw_mirror *m, uint64_t *frames)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_signal(&m->cond);
	if (m->is_stream && !m->done) {
		/* a pipe's reader may be slow: the writer drains what it can in
		 * STREAM_DRAIN_MS and frees the mirror itself; the caller (the
		 * control loop) does not wait for it */
		m->detached = true;
		if (frames)
			*frames = m->written;
		pthread_mutex_unlock(&m->lock);
		pthread_detach(m->thread);
		return;
	}
	pthread_mutex_unlock(&m->lock);
	/* a file: the rest of the queue (at most queue_size bytes) goes to the page
	 * cache; or the writer has already finished */
	pthread_join(m->thread, NULL);
	if (frames)
		*frames = m->written;
	if (m->queue_drops || m->write_errors)
		PVLOG(INFO, VSW_LOG,
		      "mirror %s: %llu frames written, %llu not recorded (queue "
		      "full), %llu lost on output",
		      m->path, (unsigned long long)m->written, (unsigned long long)m->queue_drops,
		      (unsigned long long)m->write_errors);
	mirror_release(m);
}

static void mirror_get(struct vsw_mirror *m, struct vsw_mirror_stats *st)
{
	pthread_mutex_lock(&m->lock);
	st->queued = m->queued;
	st->written = m->written;
	st->queue_drops = m->queue_drops;
	st->filtered = m->filtered;
	st->truncated = m->truncated;
	st->write_errors = m->write_errors;
	st->done = m->done;
	pthread_mutex_unlock(&m->lock);
}

int vsw_mirror_format(const struct vsw_mirror *m, char *buf, size_t size)
{
	struct vsw_mirror *mm = (struct vsw_mirror *)m;
	struct vsw_mirror_stats st;
	char lim[32] = "";
	int n;

	mirror_get(mm, &st);
	if (m->limit)
		snprintf(lim, sizeof(lim), "/%llu", (unsigned long long)m->limit);
	n = snprintf(buf, size,
		     "%s(%llu%s%s) mirror_queue_drops=%llu mirror_filtered=%llu mirror_lost=%llu "
		     "mirror_snaplen=%u%s%s%s",
		     m->path, (unsigned long long)st.written, lim, st.done ? ",done" : "",
		     (unsigned long long)st.queue_drops, (unsigned long long)st.filtered,
		     (unsigned long long)st.write_errors, m->snaplen,
		     m->have_filter ? " mirror_filter='" : "", m->have_filter ? m->filter : "",
		     m->have_filter ? "'" : "");
	return n;
}

static void why_set(const struct vsw_mirror_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void why_set(const struct vsw_mirror_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->why || !o->why_size)
		return;
	va_start(ap, fmt);
	vsnprintf(o->why, o->why_size, fmt, ap);
	va_end(ap);
}

/* Opens the output: a FIFO/pipe non-blocking (needs a reader: -ENXIO), a file
 * created 0600 or truncated, never through a symlink. */
static int mirror_open(struct vsw_mirror *m, const struct vsw_mirror_opts *o)
{
	struct stat st;
	int fd;

	fd = open(o->path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = -errno;
		why_set(o, "%s",
			rc == -ELOOP   ? "is a symbolic link (not followed)"
			: rc == -ENXIO ? "a pipe with no reader"
				       : strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		why_set(o, "not a file or pipe");
		close(fd);
		return -EINVAL;
	}
	m->is_stream = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode);
	if (S_ISREG(st.st_mode)) {
		/* truncated only once known to be a regular file; blocking writes (on
		 * the writer thread) for files */
		if (ftruncate(fd, 0) < 0 || fcntl(fd, F_SETFL, 0) < 0) {
			int rc = -errno;
			why_set(o, "%s", strerror(-rc));
			close(fd);
			return rc;
		}
	}
	m->fd = fd;
	return 0;
}

/* The 24-byte pcap file header: the first bytes of the queue, so the writer puts
 * it out at once (readers see a valid file) and a full pipe cannot fail the start. */
static void mirror_queue_header(struct vsw_mirror *m)
{
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t thiszone;
		uint32_t sigfigs, snaplen, linktype;
	} fh = {0xa1b2c3d4, 2, 4, 0, 0, m->snaplen, DLT_EN10MB};

	_Static_assert(sizeof(fh) == 24, "pcap file header");
	ring_put(m, 0, &fh, sizeof(fh));
	m->head = sizeof(fh);
}

/* Compiles O's capture filter, if any, into M (pcap's BPF for Ethernet). */
static int mirror_compile_filter(struct vsw_mirror *m, const struct vsw_mirror_opts *o)
{
	pcap_t *dead;

	if (!o->filter || !o->filter[0])
		return 0;
	dead = pcap_open_dead(DLT_EN10MB, (int)m->snaplen);
	if (!dead)
		return -ENOMEM;
	if (pcap_compile(dead, &m->prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		why_set(o, "bad filter: %s", pcap_geterr(dead));
		pcap_close(dead);
		return -EINVAL;
	}
	pcap_close(dead);
	m->have_filter = true;
	strcpy(m->filter, o->filter);
	return 0;
}

int vsw_port_mirror_start_opts(struct vsw_port *port, const struct vsw_mirror_opts *o)
{
	struct vsw_mirror *m, *old;
	size_t len;
	int rc = -EINVAL;

	if (!port || !o || !o->path || !o->path[0] || strlen(o->path) >= sizeof(m->path) ||
	    o->snaplen > MIRROR_SNAPLEN_MAX ||
	    (o->filter && strlen(o->filter) >= sizeof(m->filter))) {
		why_set(o ? o : &(struct vsw_mirror_opts){0}, "bad arguments");
		return -EINVAL;
	}
	len = strlen(o->path);
	if (len > 7 && !strcmp(o->path + len - 7, ".pcapng")) {
		/* the writer writes pcap only; an honest error beats a mislabelled file */
		PVLOG(WARN, VSW_LOG, "mirror %s: pcapng output is not supported, use .pcap",
		      o->path);
		why_set(o, "pcapng output not supported, use .pcap");
		return -EPROTONOSUPPORT;
	}
	rc = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail;
	m->fd = -1;
	strcpy(m->path, o->path);
	m->limit = o->count;
	m->snaplen = o->snaplen ? o->snaplen : MIRROR_SNAPLEN_MAX;
	m->ring_size = o->queue_size ? o->queue_size : VSW_MIRROR_QUEUE_DEFAULT;
	if (m->ring_size < REC_HLEN + m->snaplen)
		m->ring_size = REC_HLEN + m->snaplen; /* at least one whole record */
	m->rec_max = (uint32_t)(m->ring_size / (REC_HLEN + PVNET_ETH_HLEN) + 1);
	m->ring = malloc(m->ring_size);
	m->rec_end = calloc(m->rec_max, sizeof(*m->rec_end));
	if (!m->ring || !m->rec_end) {
		free(m->ring);
		free(m->rec_end);
		free(m);
		goto fail;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	rc = mirror_compile_filter(m, o);
	if (rc)
		goto fail_m;
	rc = mirror_open(m, o);
	if (rc) {
		PVLOG(WARN, VSW_LOG, "mirror %s: cannot open: %s", o->path, strerror(-rc));
		goto fail_m;
	}
	mirror_queue_header(m);
	rc = -pthread_create(&m->thread, NULL, mirror_writer, m);
	if (rc) {
		why_set(o, "cannot start the writer thread: %s", strerror(-rc));
		goto fail_m;
	}
	pthread_setname_np(m->thread, "pvnet-mirror");
	pthread_rwlock_wrlock(&port->br->lock);
	old = port->mirror;
	port->mirror = m;
	pthread_rwlock_unlock(&port->br->lock);
	vsw_mirror_free(old, NULL);
	PVLOG(INFO, VSW_LOG, "%s: mirror to %s (count %llu, snaplen %u%s%s%s)", port->name, o->path,
	      (unsigned long long)o->count, m->snaplen, m->have_filter ? ", filter '" : "",
	      m->have_filter ? m->filter : "", m->have_filter ? "'" : "");
	return 0;

fail_m:
	mirror_release(m);
fail:
	return rc;
}

int vsw_port_mirror_start(struct vsw_port *port, const char *path, uint64_t count)
{
	struct vsw_mirror_opts o = {.path = path, .count = count};

	return vsw_port_mirror_start_opts(port, &o);
}

int vsw_port_mirror_stop(struct vsw_port *port, uint64_t *frames)
{
	struct vsw_mirror *m;

	pthread_rwlock_wrlock(&port->br->lock);
	m = port->mirror;
	port->mirror = NULL;
	pthread_rwlock_unlock(&port->br->lock);
	if (!m)
		return -ENOENT;
	vsw_mirror_free(m, frames);
	return 0;
}

int vsw_port_mirror_get_stats(struct vsw_port *port, struct vsw_mirror_stats *st)
{
	int rc = -ENOENT;

	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&port->br->lock);
	if (port->mirror) {
		mirror_get(port->mirror, st);
		rc = 0;
	}
	pthread_rwlock_unlock(&port->br->lock);
	return rc;
}

static void replay_flush(struct vsw_port *port, struct pvnet_pkt_batch *b, bool as_input)
{
	if (!b->count)
		return;
	if (as_input)
		vsw_input(port->br, port, b);
	else
		vsw_port_inject(port, b);
}

int vsw_port_replay(struct vsw_port *port, const char *path, bool as_input, uint64_t *skipped)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pvnet_pkt_pool *pool = NULL;
	struct pvnet_pkt_batch b;
	struct pcap_pkthdr *h;
	const u_char *bytes;
	uint64_t n = 0, skip = 0;
	pcap_t *pc;
	int rc;

	if (skipped)
		*skipped = 0;
	if (!port || !path)
		return -EINVAL;
	pc = pcap_open_offline(path, err);
	if (!pc) {
		PVLOG(WARN, VSW_LOG, "replay %s: %s", path, err);
		/* the caller says why: the file's errno, else not a capture libpcap reads */
		return access(path, R_OK) < 0 ? -errno : -EBADMSG;
	}
	rc = -EPROTONOSUPPORT;
	if (pcap_datalink(pc) != DLT_EN10MB)
		goto out_pc;
	rc = pvnet_pkt_pool_create(REPLAY_POOL, REPLAY_BUF, &pool);
	if (rc)
		goto out_pc;
	memset(&b, 0, sizeof(b));
	while ((rc = pcap_next_ex(pc, &h, &bytes)) == 1) {
		struct pvnet_pkt *pkt;

		if (h->caplen != h->len || h->caplen < PVNET_ETH_HLEN) {
			skip++; /* truncated frames cannot be sent as they were */
			continue;
		}
		pkt = pvnet_pkt_alloc(pool);
		while (!pkt) {
			/* every packet is in flight: push the burst, wait for completions */
			replay_flush(port, &b, as_input);
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
			pkt = pvnet_pkt_alloc(pool);
		}
		if (pvnet_pkt_set_local(pkt, bytes, h->caplen)) {
			pvnet_pkt_put(pkt);
			skip++;
			continue;
		}
		b.vlan_tci[b.count] = 0;
		b.pkts[b.count++] = pkt;
		n++;
		if (b.count == PVNET_BATCH_MAX)
			replay_flush(port, &b, as_input);
	}
	replay_flush(port, &b, as_input);
	rc = rc == -2 ? 0 : -EIO; /* -2: end of file */
	/* Packets a port still holds (queued for a guest) must return before the pool
	 * goes; give them two seconds, then leak the pool rather than free under them. */
	for (int i = 0; i < 2000 && pvnet_pkt_pool_avail(pool) != REPLAY_POOL; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	if (pvnet_pkt_pool_avail(pool) == REPLAY_POOL)
		pvnet_pkt_pool_destroy(pool);
	else
		PVLOG(WARN, VSW_LOG, "replay %s: packets still held by %s, pool leaked", path,
		      port->name);
out_pc:
	pcap_close(pc);
	if (skipped)
		*skipped = skip;
	return rc < 0 ? rc : (int)(n > INT32_MAX ? INT32_MAX : n);
}
