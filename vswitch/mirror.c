/* SPDX-License-Identifier: MIT */
/*
 * Port mirroring to a capture file with libpcap's writer, capture replay with
 * pcap_open_offline, and linearising frames (head + grant tail) for ports that
 * need the whole frame in one buffer.
 *
 * A mirror is shared by the port's ingress worker and every worker that floods to
 * the port: its mutex is taken once per burst. Writes go through libpcap's stdio
 * buffer and are flushed once per burst (one write(2) per burst at most).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <pvnet/log.h>

#include "vsw_private.h"

#define MIRROR_SNAPLEN 65535
#define SCRATCH_SIZE (65536 + 64)
#define REPLAY_POOL 64
#define REPLAY_BUF 65536

struct vsw_mirror {
	pthread_mutex_t lock;
	pcap_t *dead;
	pcap_dumper_t *dumper; /* NULL once --count frames were written */
	uint64_t limit;        /* 0: unlimited */
	uint64_t written;
	uint64_t truncated;    /* grant-backed frames written head-only */
	char path[256];
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

void vsw_mirror_record(struct vsw_mirror *m, struct pvnet_pkt *const *pkts, const uint16_t *tags,
		       unsigned n)
{
	struct pcap_pkthdr h;
	struct timeval tv;
	unsigned done = 0;

	if (!n)
		return;
	gettimeofday(&tv, NULL);
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < n && m->dumper; i++) {
		const struct pvnet_pkt *pkt = pkts[i];
		uint16_t tci = tags ? tags[i] : 0;
		const uint8_t *bytes;
		int size;

		h.ts = tv;
		h.len = pkt->len + (tci ? PVNET_VLAN_HLEN : 0);
		if (!tci && pkt->head_size == pkt->len) {
			bytes = pkt->data;
			h.caplen = pkt->len;
		} else {
			size = vsw_pkt_linearize(pkt, tci, m->scratch, sizeof(m->scratch));
			if (size < 0) { /* head only: tail unreadable here */
				h.caplen = pvnet_pkt_write_head(pkt, tci, m->scratch, sizeof(m->scratch));
				m->truncated++;
			} else {
				h.caplen = (uint32_t)size;
			}
			bytes = m->scratch;
		}
		if (h.caplen > MIRROR_SNAPLEN)
			h.caplen = MIRROR_SNAPLEN;
		pcap_dump((u_char *)m->dumper, &h, bytes);
		done++;
		if (m->limit && ++m->written == m->limit) {
			pcap_dump_close(m->dumper);
			m->dumper = NULL;
			PVLOG(INFO, VSW_LOG, "mirror %s: %llu frames, complete", m->path,
			      (unsigned long long)m->written);
		} else if (!m->limit) {
			m->written++;
		}
	}
	if (done && m->dumper)
		pcap_dump_flush(m->dumper);
	pthread_mutex_unlock(&m->lock);
}

void vsw_mirror_free(struct vsw_mirror *m, uint64_t *frames)
{
	if (!m)
		return;
	if (frames)
		*frames = m->written;
	if (m->dumper)
		pcap_dump_close(m->dumper);
	pcap_close(m->dead);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int vsw_mirror_format(const struct vsw_mirror *m, char *buf, size_t size)
{
	struct vsw_mirror *mm = (struct vsw_mirror *)m;
	int n;

	pthread_mutex_lock(&mm->lock);
	if (m->limit)
		n = snprintf(buf, size, "%s(%llu/%llu%s)", m->path, (unsigned long long)m->written,
			     (unsigned long long)m->limit, m->dumper ? "" : ",done");
	else
		n = snprintf(buf, size, "%s(%llu)", m->path, (unsigned long long)m->written);
	pthread_mutex_unlock(&mm->lock);
	return n;
}

int vsw_port_mirror_start(struct vsw_port *port, const char *path, uint64_t count)
{
	struct vsw_mirror *m, *old;
	size_t len;
	FILE *f;
	int rc = -EINVAL;

	if (!port || !path || !path[0] || strlen(path) >= sizeof(m->path))
		return -EINVAL;
	len = strlen(path);
	if (len > 7 && !strcmp(path + len - 7, ".pcapng")) {
		/* libpcap (1.10) writes only pcap; an honest error beats a mislabelled file */
		PVLOG(WARN, VSW_LOG, "mirror %s: pcapng output is not supported, use .pcap", path);
		return -EPROTONOSUPPORT;
	}
	rc = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail;
	rc = -pthread_mutex_init(&m->lock, NULL);
	if (rc)
		goto fail_m;
	strcpy(m->path, path);
	m->limit = count;
	rc = -ENOMEM;
	m->dead = pcap_open_dead(DLT_EN10MB, MIRROR_SNAPLEN);
	if (!m->dead)
		goto fail_lock;
	/* opened here rather than by pcap_dump_open, so the caller gets the real errno
	 * (a missing directory is -ENOENT, not a generic -EIO) */
	f = fopen(path, "wbe");
	if (!f) {
		rc = -errno;
		PVLOG(WARN, VSW_LOG, "mirror %s: %s", path, strerror(-rc));
		goto fail_dead;
	}
	m->dumper = pcap_dump_fopen(m->dead, f); /* owns f from here on, even on failure */
	if (!m->dumper) {
		PVLOG(WARN, VSW_LOG, "mirror %s: %s", path, pcap_geterr(m->dead));
		rc = -EIO;
		goto fail_dead;
	}
	pcap_dump_flush(m->dumper); /* the file header, so readers see a valid file at once */
	pthread_rwlock_wrlock(&port->br->lock);
	old = port->mirror;
	port->mirror = m;
	pthread_rwlock_unlock(&port->br->lock);
	vsw_mirror_free(old, NULL);
	PVLOG(INFO, VSW_LOG, "%s: mirror to %s (count %llu)", port->name, path,
	      (unsigned long long)count);
	return 0;

fail_dead:
	pcap_close(m->dead);
fail_lock:
	pthread_mutex_destroy(&m->lock);
fail_m:
	free(m);
fail:
	return rc;
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
		return -ENOENT;
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
