/* SPDX-License-Identifier: MIT */
/*
 * VXLAN port (RFC 7348) over one UDP socket, interoperating with Linux `vxlan`
 * devices: 8-byte header (flags 0x08 = I, 24-bit VNI), IPv4 or IPv6 underlay.
 *
 * Ports bound to the same local address and UDP port share one socket (one port
 * per VNI, as Linux vxlan devices share theirs): RX demultiplexes by VNI, and a
 * VNI no port has is counted (rx_bad_vni) and dropped.
 *
 *   RX  recvmmsg bursts of 32 straight into pool buffers (header split off by a
 *       second iovec); wrong VNI or flags are counted and dropped; a datagram
 *       whose source address is not one of the port's configured remotes is
 *       dropped and counted as unknown_remote on the port (so only configured
 *       VTEPs can inject frames or have inner MACs learnt); the inner source MAC
 *       is learned to the sending (configured) VTEP.
 *   TX  a frame to a learned MAC goes to its VTEP; broadcast, multicast and
 *       unknown unicast go to every configured remote (head-end replication, as
 *       Linux does with its all-zeros FDB entries). One sendmmsg per burst. The
 *       UDP source port is a hash of the inner flow (addresses and TCP/UDP ports,
 *       else the MACs and ethertype) in 49152-65535 (RFC 7348 section 5), so the
 *       underlay's ECMP/RSS spreads flows: datagrams leave through a raw socket
 *       that writes the UDP header itself (IPv4 checksum 0 as RFC 7348 allows;
 *       IPv6 checksum filled by the kernel, IPV6_CHECKSUM). Without CAP_NET_RAW
 *       the port falls back to the UDP socket (source port = dstport), logged.
 *
 * The VTEP table (inner MAC -> index of a configured remote) is locked once per
 * burst on each side; it holds at most VTEP_TABLE / 2 MACs and reuses aged slots.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>
#include <pvnet/pkt_parse.h>

#include "vsw_private.h"

#define VTEP_TABLE 1024 /* open addressing, power of two */
#define UDP_HLEN 8
#define SRC_PORT_MIN 49152 /* RFC 7348 section 5: the dynamic/private range */
#define VXLAN_FLAG_I 0x08
#define TX_MSGS (PVNET_BATCH_MAX * VSW_VXLAN_MAX_REMOTES)
#define VXLAN_SOCK_PORTS 64 /* VNIs on one UDP socket */

struct vtep_entry {
	uint8_t mac[6];
	bool used;
	bool is_static; /* set by vsw_vxlan_mac_add: never ages, learning leaves it */
	uint8_t remote; /* index into the port's configured remotes */
	uint64_t seen_ns;
};

/* An underlay address as the socket API takes it. */
union vxlan_sa {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

struct vxlan_port;

/*
 * One UDP socket per (local address, UDP port), shared by the ports bound there.
 * The list, the refcounts and each socket's port table change only under
 * vxlan_socks_lock and, for the table, with the socket's poll source unregistered
 * (vsw_worker_del returns once the worker is outside vxlan_rx_poll): the RX path
 * reads the table without a lock.
 */
struct vxlan_sock {
	struct vxlan_sock *next;
	int fd;
	int raw_fd;        /* TX with a per-flow source port; -1: TX on fd */
	uint8_t family;    /* AF_INET or AF_INET6 */
	uint8_t local[16]; /* network order; all-zero = any */
	uint16_t dstport;
	unsigned refs; /* ports holding the socket */
	bool polled;   /* registered with worker */
	struct vsw_worker *worker;
	struct pvnet_pkt_pool *pool;
	unsigned n_ports; /* ports receiving: their VNIs are distinct */
	struct vxlan_port *ports[VXLAN_SOCK_PORTS];
	uint64_t rx_errors, rx_bad_vni, rx_nobuf; /* worker only */
};

static pthread_mutex_t vxlan_socks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vxlan_sock *vxlan_socks;

struct vxlan_port {
	struct vsw_port *port;
	struct vsw_bridge *br;
	struct vxlan_sock *sock;
	struct vsw_vxlan_config cfg;
	char name[VSW_NAME_MAX];
	pthread_mutex_t vtep_lock;
	struct vtep_entry vteps[VTEP_TABLE];
	unsigned n_vteps;
	bool flood[VSW_VXLAN_MAX_REMOTES]; /* BUM replication list (tx_lock + vtep_lock) */
	uint64_t rx_packets, rx_bytes;     /* worker only */
	pthread_mutex_t tx_lock;           /* everything below */
	uint64_t tx_packets, tx_bytes, tx_errors, tx_flooded;
	uint8_t hdr[VSW_VXLAN_HLEN];
	union vxlan_sa remote_sa[VSW_VXLAN_MAX_REMOTES];  /* for the UDP socket */
	union vxlan_sa remote_raw[VSW_VXLAN_MAX_REMOTES]; /* for the raw socket (port 0) */
	struct mmsghdr msgs[TX_MSGS];
	struct iovec iovs[TX_MSGS][5];
	uint8_t udph[TX_MSGS][UDP_HLEN];
	uint8_t tags[PVNET_BATCH_MAX][PVNET_VLAN_HLEN];
	uint8_t scratch[PVNET_BATCH_MAX][2048]; /* linearised grant-backed frames */
};

void vsw_vxlan_encap_hdr(uint8_t hdr[VSW_VXLAN_HLEN], uint32_t vni)
{
	memset(hdr, 0, VSW_VXLAN_HLEN);
	hdr[0] = VXLAN_FLAG_I;
	hdr[4] = (uint8_t)(vni >> 16);
	hdr[5] = (uint8_t)(vni >> 8);
	hdr[6] = (uint8_t)vni;
}

int vsw_vxlan_decap_hdr(const uint8_t *data, size_t size, uint32_t *vni)
{
	if (size < VSW_VXLAN_HLEN || !(data[0] & VXLAN_FLAG_I))
		return -EINVAL;
	*vni = (uint32_t)data[4] << 16 | (uint32_t)data[5] << 8 | data[6];
	return 0;
}

static unsigned mac_hash(const uint8_t *mac)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h & (VTEP_TABLE - 1);
}

/* vtep_lock held. Returns the entry for mac if present; else the slot to use for it
 * (the first aged slot on its probe sequence, or the first unused one); NULL when
 * the table has neither. Aged slots are reused in place: a probe sequence never
 * gets a hole, so lookups stay correct without tombstones. */
static struct vtep_entry *vtep_slot(struct vxlan_port *vp, const uint8_t *mac, uint64_t now,
				    uint64_t ageing_ns)
{
	struct vtep_entry *reuse = NULL;
	unsigned h = mac_hash(mac);

	for (unsigned i = 0; i < VTEP_TABLE; i++) {
		struct vtep_entry *e = &vp->vteps[(h + i) & (VTEP_TABLE - 1)];
		if (!e->used)
			return reuse ? reuse : e;
		if (!memcmp(e->mac, mac, 6))
			return e;
		if (!reuse && !e->is_static && now - e->seen_ns > ageing_ns)
			reuse = e;
	}
	return reuse;
}

static void vtep_learn(struct vxlan_port *vp, const uint8_t *mac, uint8_t remote, uint64_t now,
		       uint64_t ageing_ns)
{
	struct vtep_entry *e;

	if (vsw_mac_is_multicast(mac))
		return;
	e = vtep_slot(vp, mac, now, ageing_ns);
	if (!e || (!e->used && vp->n_vteps >= VTEP_TABLE / 2))
		return; /* half full: keep probes short; flooding still delivers */
	if (e->used && e->is_static && !memcmp(e->mac, mac, 6))
		return; /* the control plane's word stands over what the data says */
	if (!e->used) {
		e->used = true;
		vp->n_vteps++;
	}
	memcpy(e->mac, mac, 6);
	e->remote = remote;
	e->seen_ns = now;
}

/* 0 and *remote, or -ENOENT (unknown or aged: an aged one stops answering until
 * relearned, or its slot is reused). */
static int vtep_lookup(struct vxlan_port *vp, const uint8_t *mac, uint64_t now, uint64_t ageing_ns,
		       uint8_t *remote)
{
	struct vtep_entry *e = vtep_slot(vp, mac, now, ageing_ns);

	if (!e || !e->used || memcmp(e->mac, mac, 6) ||
	    (!e->is_static && now - e->seen_ns > ageing_ns))
		return -ENOENT;
	*remote = e->remote;
	return 0;
}

/* Index of the configured remote `from` is, or -1 (not one: unknown_remote). */
static int remote_index(const struct vxlan_port *vp, const union vxlan_sa *from)
{
	const void *a;
	size_t n;

	if (from->sa.sa_family == AF_INET) {
		a = &from->v4.sin_addr;
		n = 4;
	} else if (from->sa.sa_family == AF_INET6) {
		a = &from->v6.sin6_addr;
		n = 16;
	} else {
		return -1;
	}
	for (unsigned i = 0; i < vp->cfg.n_remotes; i++)
		if (vp->cfg.remotes[i].family == from->sa.sa_family &&
		    !memcmp(vp->cfg.remotes[i].addr, a, n))
			return (int)i;
	return -1;
}

/* The bridge's ageing time applies to learnt VTEPs too. */
static uint64_t vtep_ageing_ns(const struct vxlan_port *vp)
{
	return (uint64_t)vsw_bridge_get_ageing(vp->br) * 1000000000ull;
}

/* The port of `vni` on socket s, or NULL (worker; the table is stable in poll). */
static struct vxlan_port *sock_port(struct vxlan_sock *s, uint32_t vni)
{
	for (unsigned i = 0; i < s->n_ports; i++)
		if (s->ports[i]->cfg.vni == vni)
			return s->ports[i];
	return NULL;
}

/* Reads up to `budget` datagrams of the VTEP socket into the bridges.
 * check-funcs: a data-path inner loop, kept whole: one recvmmsg burst parsed
 * and delivered per port batch. */
static int vxlan_rx_poll(void *arg, unsigned budget)
{
	struct vxlan_sock *s = arg;
	struct mmsghdr mm[PVNET_BATCH_MAX];
	struct iovec iov[PVNET_BATCH_MAX][2];
	union vxlan_sa from[PVNET_BATCH_MAX];
	uint8_t hdrs[PVNET_BATCH_MAX][VSW_VXLAN_HLEN];
	struct pvnet_pkt *pkts[PVNET_BATCH_MAX];
	struct pvnet_pkt_batch b;
	struct vxlan_port *cur = NULL;
	unsigned want = budget < PVNET_BATCH_MAX ? budget : PVNET_BATCH_MAX, have;
	uint64_t now, ageing_ns = 0;
	int n;

	have = pvnet_pkt_alloc_bulk(s->pool, pkts, want);
	if (!have) {
		/* no buffers: take one datagram and drop it, or the fd spins the worker */
		uint8_t junk[64];
		if (recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0)
			s->rx_nobuf++;
		return 1;
	}
	memset(mm, 0, sizeof(mm[0]) * have);
	for (unsigned i = 0; i < have; i++) {
		iov[i][0] = (struct iovec){hdrs[i], VSW_VXLAN_HLEN};
		iov[i][1] = (struct iovec){pkts[i]->buf, pkts[i]->buf_size};
		mm[i].msg_hdr.msg_iov = iov[i];
		mm[i].msg_hdr.msg_iovlen = 2;
		mm[i].msg_hdr.msg_name = &from[i];
		mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	n = recvmmsg(s->fd, mm, have, MSG_DONTWAIT, NULL);
	if (n < 0) {
		n = errno == EAGAIN || errno == EINTR ? 0 : -errno;
		for (unsigned i = 0; i < have; i++)
			pvnet_pkt_put(pkts[i]);
		return n;
	}
	for (unsigned i = (unsigned)n; i < have; i++)
		pvnet_pkt_put(pkts[i]);
	b.count = 0;
	now = pvnet_now_ns();
	/* runs of datagrams of one VNI go to their port as one burst, under one
	 * hold of its VTEP lock */
	for (int i = 0; i < n; i++) {
		uint32_t vni, size = mm[i].msg_len;
		struct pvnet_pkt *pkt = pkts[i];
		struct vxlan_port *vp;
		int r;

		if (size < VSW_VXLAN_HLEN + PVNET_ETH_HLEN ||
		    (mm[i].msg_hdr.msg_flags & MSG_TRUNC) ||
		    vsw_vxlan_decap_hdr(hdrs[i], VSW_VXLAN_HLEN, &vni)) {
			s->rx_errors++;
			pvnet_pkt_put(pkt);
			continue;
		}
		vp = cur && cur->cfg.vni == vni ? cur : sock_port(s, vni);
		if (!vp) {
			s->rx_bad_vni++;
			pvnet_pkt_put(pkt);
			continue;
		}
		if (vp != cur) {
			if (cur) {
				pthread_mutex_unlock(&cur->vtep_lock);
				vsw_input(cur->br, cur->port, &b);
				b.count = 0;
			}
			cur = vp;
			ageing_ns = vtep_ageing_ns(cur);
			/* the remotes change under this lock too (vsw_vxlan_set_remotes) */
			pthread_mutex_lock(&cur->vtep_lock);
		}
		r = remote_index(vp, &from[i]);
		if (r < 0) {
			/* not a configured VTEP: nothing it sends enters the bridge or
			 * the VTEP table */
			vsw_atomic_add(&vp->port->drops[VSW_DROP_UNKNOWN_REMOTE], 1);
			pvnet_pkt_put(pkt);
			continue;
		}
		pkt->len = pkt->head_size = size - VSW_VXLAN_HLEN;
		vtep_learn(cur, pkt->data + 6, (uint8_t)r, now, ageing_ns);
		cur->rx_packets++;
		cur->rx_bytes += pkt->len;
		b.vlan_tci[b.count] = 0;
		b.pkts[b.count++] = pkt;
	}
	if (cur) {
		pthread_mutex_unlock(&cur->vtep_lock);
		vsw_input(cur->br, cur->port, &b);
	}
	return n;
}

/*
 * The UDP source port of an inner frame (RFC 7348 section 5): a hash of the IP
 * addresses, protocol and TCP/UDP ports when the frame is TCP/UDP over IP, else of
 * the MACs and ethertype, folded into 49152-65535. One flow, one port: the
 * underlay keeps its packets in order.
 */
static uint16_t flow_src_port(const uint8_t *f, uint32_t len)
{
	struct pvnet_l4_info l4;
	uint32_t h = 2166136261u;

#define MIX(p, n)                                                                                  \
	do {                                                                                       \
		for (uint32_t k_ = 0; k_ < (n); k_++)                                              \
			h = (h ^ (p)[k_]) * 16777619u;                                             \
	} while (0)
	if (pvnet_l4_locate(f, len, &l4) == 0) {
		if (l4.ipv6)
			MIX(f + l4.l3_off + 8, 32u); /* source, destination */
		else
			MIX(f + l4.l3_off + 12, 8u);
		h = (h ^ l4.proto) * 16777619u;
		MIX(f + l4.l4_off, 4u); /* ports */
	} else {
		MIX(f, len < 14 ? len : 14u);
	}
#undef MIX
	h ^= h >> 16;
	return (uint16_t)(SRC_PORT_MIN + (h & 0x3fff));
}

/* Encapsulates a batch and sends it with one sendmmsg. check-funcs: a
 * data-path inner loop, kept whole: headers built in the message array in one
 * pass. */
static int vxlan_send(struct vsw_port *port, struct pvnet_pkt_batch *batch)
{
	struct vxlan_port *vp = vsw_port_priv(port);
	unsigned nmsg = 0, accepted = batch->count;
	uint64_t now = pvnet_now_ns(), ageing_ns = vtep_ageing_ns(vp);
	bool raw = vp->sock->raw_fd >= 0;
	int fd = raw ? vp->sock->raw_fd : vp->sock->fd;
	int sent;

	pthread_mutex_lock(&vp->tx_lock);
	pthread_mutex_lock(&vp->vtep_lock);
	for (unsigned i = 0; i < batch->count; i++) {
		struct pvnet_pkt *pkt = batch->pkts[i];
		uint16_t tci = batch->vlan_tci[i];
		struct iovec frame[3];
		unsigned nf, ndst = 0;
		uint8_t r, dsts[VSW_VXLAN_MAX_REMOTES];
		uint32_t wire;
		uint16_t sport = 0;

		if (pkt->head_size == pkt->len && pkt->len >= 12) {
			if (tci) {
				uint8_t *t = vp->tags[i];
				t[0] = PVNET_ETH_P_8021Q >> 8;
				t[1] = PVNET_ETH_P_8021Q & 0xff;
				t[2] = (uint8_t)(tci >> 8);
				t[3] = (uint8_t)tci;
				frame[0] = (struct iovec){pkt->data, 12};
				frame[1] = (struct iovec){t, PVNET_VLAN_HLEN};
				frame[2] = (struct iovec){pkt->data + 12, pkt->len - 12};
				nf = 3;
			} else {
				frame[0] = (struct iovec){pkt->data, pkt->len};
				nf = 1;
			}
			wire = pkt->len + (tci ? PVNET_VLAN_HLEN : 0);
		} else {
			int size =
				vsw_pkt_linearize(pkt, tci, vp->scratch[i], sizeof(vp->scratch[i]));
			if (size < 0) {
				vp->tx_errors++;
				continue;
			}
			frame[0] = (struct iovec){vp->scratch[i], (size_t)size};
			nf = 1;
			wire = (uint32_t)size;
		}
		if (raw)
			sport = flow_src_port(pkt->data, pkt->head_size);
		if (!vsw_mac_is_multicast(pkt->data) &&
		    vtep_lookup(vp, pkt->data, now, ageing_ns, &r) == 0) {
			dsts[ndst++] = r;
		} else {
			for (unsigned k = 0; k < vp->cfg.n_remotes; k++)
				if (vp->flood[k])
					dsts[ndst++] = (uint8_t)k;
			vp->tx_flooded++;
		}
		for (unsigned d = 0; d < ndst; d++) {
			struct msghdr *mh = &vp->msgs[nmsg].msg_hdr;
			struct iovec *iv = vp->iovs[nmsg];
			union vxlan_sa *sa =
				raw ? &vp->remote_raw[dsts[d]] : &vp->remote_sa[dsts[d]];
			unsigned k = 0;

			memset(mh, 0, sizeof(*mh));
			if (raw) {
				uint8_t *u = vp->udph[nmsg];
				uint32_t ulen = UDP_HLEN + VSW_VXLAN_HLEN + wire;
				u[0] = (uint8_t)(sport >> 8);
				u[1] = (uint8_t)sport;
				u[2] = (uint8_t)(vp->cfg.dstport >> 8);
				u[3] = (uint8_t)vp->cfg.dstport;
				u[4] = (uint8_t)(ulen >> 8);
				u[5] = (uint8_t)ulen;
				u[6] = u[7] = 0; /* IPv4: none (RFC 7348); IPv6: the kernel's */
				iv[k++] = (struct iovec){u, UDP_HLEN};
			}
			iv[k++] = (struct iovec){vp->hdr, VSW_VXLAN_HLEN};
			memcpy(&iv[k], frame, nf * sizeof(frame[0]));
			mh->msg_iov = iv;
			mh->msg_iovlen = k + nf;
			mh->msg_name = sa;
			mh->msg_namelen =
				sa->sa.sa_family == AF_INET6 ? sizeof(sa->v6) : sizeof(sa->v4);
			nmsg++;
		}
		vp->tx_packets++;
		vp->tx_bytes += wire;
	}
	pthread_mutex_unlock(&vp->vtep_lock);
	for (unsigned done = 0; done < nmsg;) {
		sent = sendmmsg(fd, vp->msgs + done, nmsg - done, MSG_DONTWAIT);
		if (sent <= 0) {
			/* socket buffer full or an ICMP error queued: count and move on
			 * (UDP gives no backpressure worth waiting for here) */
			PVLOG_RL(WARN, VSW_LOG, "%s: sendmmsg: %s", vp->name,
				 sent < 0 ? strerror(errno) : "nothing sent");
			vp->tx_errors += nmsg - done;
			break;
		}
		done += (unsigned)sent;
	}
	pthread_mutex_unlock(&vp->tx_lock);
	/* the data was copied into the socket by sendmmsg: release every packet */
	for (unsigned i = 0; i < batch->count; i++)
		pvnet_pkt_put(batch->pkts[i]);
	return (int)accepted;
}

static int vxlan_get_stats(struct vsw_port *port, struct vsw_port_dev_stats *st)
{
	struct vxlan_port *vp = vsw_port_priv(port);

	struct vxlan_sock *so = vp->sock;

	pthread_mutex_lock(&vp->tx_lock);
	st->rx_packets = __atomic_load_n(&vp->rx_packets, __ATOMIC_RELAXED);
	st->rx_bytes = __atomic_load_n(&vp->rx_bytes, __ATOMIC_RELAXED);
	/* the socket's drops (malformed, unknown VNI, no buffer) belong to no VNI: they
	 * are counted once, on the port that opened the socket (ports[0]) */
	st->rx_errors = 0;
	pthread_mutex_lock(&vxlan_socks_lock);
	if (so->n_ports && so->ports[0] == vp)
		st->rx_errors = __atomic_load_n(&so->rx_errors, __ATOMIC_RELAXED) +
				__atomic_load_n(&so->rx_bad_vni, __ATOMIC_RELAXED) +
				__atomic_load_n(&so->rx_nobuf, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vxlan_socks_lock);
	st->tx_packets = vp->tx_packets;
	st->tx_bytes = vp->tx_bytes;
	st->tx_errors = vp->tx_errors;
	pthread_mutex_unlock(&vp->tx_lock);
	return 0;
}

static int vxlan_describe(struct vsw_port *port, char *buf, size_t size)
{
	struct vxlan_port *vp = vsw_port_priv(port);
	char local[INET6_ADDRSTRLEN] = "any", r[INET6_ADDRSTRLEN];
	static const uint8_t zero[16];
	uint8_t fam = vp->sock->family;
	size_t off;
	unsigned learned;
	int n;

	if (memcmp(vp->sock->local, zero, sizeof(zero)))
		inet_ntop(fam, vp->sock->local, local, sizeof(local));
	n = snprintf(buf, size, "vni=%u dstport=%u local=%s remotes=", vp->cfg.vni, vp->cfg.dstport,
		     local);
	off = n > 0 ? (size_t)n : 0;
	/* the remotes change at run time (vsw_vxlan_set_remotes) under this lock */
	pthread_mutex_lock(&vp->vtep_lock);
	learned = vp->n_vteps;
	for (unsigned i = 0; i < vp->cfg.n_remotes && off < size; i++) {
		inet_ntop(vp->cfg.remotes[i].family, vp->cfg.remotes[i].addr, r, sizeof(r));
		n = snprintf(buf + off, size - off, "%s%s%s", i ? "," : "", r,
			     vp->flood[i] ? "" : "(noflood)");
		off += n > 0 ? (size_t)n : 0;
	}
	pthread_mutex_unlock(&vp->vtep_lock);
	if (off < size) {
		n = snprintf(
			buf + off, size - off,
			" macs_learned=%u rx_bad_vni=%llu socket_vnis=%u underlay=%s udp_src=%s",
			learned,
			(unsigned long long)__atomic_load_n(&vp->sock->rx_bad_vni,
							    __ATOMIC_RELAXED),
			vp->sock->refs, fam == AF_INET6 ? "ipv6" : "ipv4",
			vp->sock->raw_fd >= 0 ? "flow-hash" : "fixed");
		off += n > 0 ? (size_t)n : 0;
	}
	return (int)off;
}

static void vxlan_free(struct vxlan_port *vp)
{
	pthread_mutex_destroy(&vp->tx_lock);
	pthread_mutex_destroy(&vp->vtep_lock);
	free(vp);
}

/* vxlan_socks_lock held. Re-registers s with its worker if it has receiving ports. */
static int sock_poll_resume(struct vxlan_sock *s)
{
	int rc;

	if (!s->n_ports)
		return 0;
	rc = vsw_worker_add(s->worker, s->fd, vxlan_rx_poll, s);
	s->polled = rc == 0;
	if (rc)
		PVLOG(ERR, VSW_LOG, "vxlan udp:%u: cannot poll the socket: %s", s->dstport,
		      strerror(-rc));
	return rc;
}

/* vxlan_socks_lock held. After it, the worker is outside (and stays out of) s's poll. */
static void sock_poll_pause(struct vxlan_sock *s)
{
	if (s->polled)
		vsw_worker_del(s->worker, s->fd);
	s->polled = false;
}

/* Lets vp receive: its VNI joins the socket's table. 0 or -errno. */
static int sock_port_enable(struct vxlan_port *vp)
{
	struct vxlan_sock *s = vp->sock;
	int rc;

	pthread_mutex_lock(&vxlan_socks_lock);
	sock_poll_pause(s);
	s->ports[s->n_ports++] = vp;
	rc = sock_poll_resume(s);
	if (rc) {
		s->n_ports--;
		sock_poll_resume(s);
	}
	pthread_mutex_unlock(&vxlan_socks_lock);
	return rc;
}

/* Drops vp's reference to its socket (and its table slot); the last one closes it. */
static void sock_put(struct vxlan_port *vp)
{
	struct vxlan_sock *s = vp->sock, **pp;

	pthread_mutex_lock(&vxlan_socks_lock);
	for (unsigned i = 0; i < s->n_ports; i++) {
		if (s->ports[i] != vp)
			continue;
		sock_poll_pause(s);
		memmove(&s->ports[i], &s->ports[i + 1], (s->n_ports - i - 1) * sizeof(s->ports[0]));
		s->n_ports--;
		sock_poll_resume(s);
		break;
	}
	if (--s->refs == 0) {
		sock_poll_pause(s);
		for (pp = &vxlan_socks; *pp != s; pp = &(*pp)->next)
			;
		*pp = s->next;
		close(s->fd);
		if (s->raw_fd >= 0)
			close(s->raw_fd);
		vsw_pool_release(s->pool, VSW_DEV_POOL, "vxlan");
		free(s);
	}
	pthread_mutex_unlock(&vxlan_socks_lock);
	vp->sock = NULL;
}

static void vxlan_destroy(struct vsw_port *port)
{
	struct vxlan_port *vp = vsw_port_priv(port);

	sock_put(vp);
	vxlan_free(vp);
}

static const struct vsw_port_ops vxlan_ops = {
	.type = "vxlan",
	.send = vxlan_send,
	.get_stats = vxlan_get_stats,
	.destroy = vxlan_destroy,
	.describe = vxlan_describe,
};

/* Fills sa with family/addr and UDP port `port` (network order taken from host). */
static void sa_make(union vxlan_sa *sa, uint8_t family, const uint8_t *addr, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	if (family == AF_INET6) {
		sa->v6.sin6_family = AF_INET6;
		sa->v6.sin6_port = htons(port);
		memcpy(&sa->v6.sin6_addr, addr, 16);
	} else {
		sa->v4.sin_family = AF_INET;
		sa->v4.sin_port = htons(port);
		memcpy(&sa->v4.sin_addr, addr, 4);
	}
}

/*
 * The TX socket with per-flow source ports: raw IPPROTO_UDP, the UDP header ours.
 * A raw socket also gets a copy of every UDP datagram the host receives: a filter
 * that accepts nothing drops them before they are queued. -1 if it cannot be had
 * (no CAP_NET_RAW): the caller sends on the UDP socket instead.
 */
static int vxlan_open_raw(struct vxlan_sock *so)
{
	struct sock_filter none = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = {.len = 1, .filter = &none};
	union vxlan_sa sa;
	int fd, off = 6, dont = IP_PMTUDISC_DONT, rc;

	fd = socket(so->family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	if (!rc && so->family == AF_INET6)
		rc = setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof(off));
	if (!rc && so->family == AF_INET)
		rc = setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont));
	if (!rc) {
		sa_make(&sa, so->family, so->local, 0);
		rc = bind(fd, &sa.sa, so->family == AF_INET6 ? sizeof(sa.v6) : sizeof(sa.v4));
	}
	if (rc) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int vxlan_open(struct vxlan_sock *so)
{
	union vxlan_sa sa;
	int dont = IP_PMTUDISC_DONT, one = 1, bufsz = 4 << 20;

	so->raw_fd = -1;
	so->fd = socket(so->family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (so->fd < 0)
		return -errno;
	/* outer packets may exceed the underlay MTU: let the kernel fragment them, as
	 * Linux vxlan does with df unset */
	if (so->family == AF_INET)
		(void)setsockopt(so->fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont));
	else /* IPv4 datagrams never reach an IPv6 port (a separate socket may own them) */
		(void)setsockopt(so->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	(void)setsockopt(so->fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	(void)setsockopt(so->fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	sa_make(&sa, so->family, so->local, so->dstport);
	if (bind(so->fd, &sa.sa, so->family == AF_INET6 ? sizeof(sa.v6) : sizeof(sa.v4)) < 0)
		return -errno;
	so->raw_fd = vxlan_open_raw(so);
	if (so->raw_fd < 0) {
		PVLOG(WARN, VSW_LOG,
		      "vxlan udp:%u: no raw socket (%s): every datagram leaves with source port %u "
		      "instead of a per-flow hash",
		      so->dstport, strerror(-so->raw_fd), so->dstport);
		so->raw_fd = -1;
	} else {
		(void)setsockopt(so->raw_fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	}
	return 0;
}

/*
 * Takes a reference to the socket of vp's local address and UDP port, opening it
 * if no port has it yet. -EEXIST if a port there already has vp's VNI,
 * -EADDRINUSE if the port is taken by another worker or by something else.
 */
static int sock_get(struct vxlan_port *vp, struct vsw_worker *worker, uint8_t family)
{
	struct vxlan_sock *s;
	uint8_t local[16] = {0};
	int rc = 0;

	if (vp->cfg.local.family)
		memcpy(local, vp->cfg.local.addr, family == AF_INET6 ? 16 : 4);
	pthread_mutex_lock(&vxlan_socks_lock);
	for (s = vxlan_socks; s; s = s->next)
		if (s->dstport == vp->cfg.dstport && s->family == family &&
		    !memcmp(s->local, local, sizeof(local)))
			break;
	if (s) {
		rc = -EADDRINUSE;
		if (s->worker != worker || s->refs >= VXLAN_SOCK_PORTS)
			goto out;
		rc = -EEXIST;
		for (unsigned i = 0; i < s->n_ports; i++)
			if (s->ports[i]->cfg.vni == vp->cfg.vni)
				goto out;
		rc = 0;
		s->refs++;
		vp->sock = s;
		goto out;
	}
	rc = -ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->fd = s->raw_fd = -1;
	s->family = family;
	memcpy(s->local, local, sizeof(local));
	s->dstport = vp->cfg.dstport;
	s->worker = worker;
	rc = pvnet_pkt_pool_create(VSW_DEV_POOL, VSW_DEV_BUF_SIZE, &s->pool);
	if (rc)
		goto free_sock;
	rc = vxlan_open(s);
	if (rc) {
		PVLOG(WARN, VSW_LOG, "%s: UDP socket on port %u: %s", vp->name, s->dstport,
		      strerror(-rc));
		goto close_sock;
	}
	s->refs = 1;
	s->next = vxlan_socks;
	vxlan_socks = s;
	vp->sock = s;
	goto out;

close_sock:
	if (s->fd >= 0)
		close(s->fd);
	pvnet_pkt_pool_destroy(s->pool);
free_sock:
	free(s);
out:
	pthread_mutex_unlock(&vxlan_socks_lock);
	return rc;
}

int vsw_vxlan_port_add(struct vsw_bridge *br, struct vsw_worker *worker, const char *name,
		       const struct vsw_vxlan_config *cfg, struct vsw_port **out)
{
	struct vxlan_port *vp;
	uint8_t family;
	int rc = -EINVAL;

	*out = NULL;
	if (!br || !worker || !name || !name[0] || strlen(name) >= VSW_NAME_MAX || !cfg ||
	    cfg->vni > 0xffffff || cfg->n_remotes == 0 || cfg->n_remotes > VSW_VXLAN_MAX_REMOTES)
		goto fail;
	/* one underlay family per port: that of `local` if given, else the remotes' */
	family = cfg->local.family ? cfg->local.family : cfg->remotes[0].family;
	rc = -EAFNOSUPPORT;
	if (family != AF_INET && family != AF_INET6)
		goto fail;
	for (unsigned i = 0; i < cfg->n_remotes; i++)
		if (cfg->remotes[i].family != family)
			goto fail;
	rc = -ENOMEM;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		goto fail;
	vp->br = br;
	vp->cfg = *cfg;
	if (!vp->cfg.dstport)
		vp->cfg.dstport = VSW_VXLAN_PORT;
	strcpy(vp->name, name);
	vsw_vxlan_encap_hdr(vp->hdr, cfg->vni);
	for (unsigned i = 0; i < cfg->n_remotes; i++) {
		sa_make(&vp->remote_sa[i], family, cfg->remotes[i].addr, vp->cfg.dstport);
		sa_make(&vp->remote_raw[i], family, cfg->remotes[i].addr, 0);
		vp->flood[i] = true;
	}
	pthread_mutex_init(&vp->tx_lock, NULL);
	pthread_mutex_init(&vp->vtep_lock, NULL);
	rc = sock_get(vp, worker, family);
	if (rc)
		goto fail_vp;
	/* in the bridge (so sends find vp->sock) before its VNI receives */
	rc = vsw_port_add(br, name, &vxlan_ops, vp, 0, &vp->port);
	if (rc)
		goto put_sock;
	rc = sock_port_enable(vp);
	if (rc) {
		vsw_port_del(br, vp->port); /* runs vxlan_destroy: frees vp */
		goto fail;
	}
	*out = vp->port;
	return 0;

put_sock:
	sock_put(vp);
fail_vp:
	vxlan_free(vp);
fail:
	return rc;
}

/* ---- run-time control (an OVN hardware VTEP's remote MACs and replication list) ---- */

static int vxlan_port_of(struct vsw_port *port, struct vxlan_port **out)
{
	if (!port || port->ops != &vxlan_ops)
		return -EINVAL;
	*out = vsw_port_priv(port);
	return 0;
}

static int addr_index(const struct vsw_ip_addr *list, unsigned n, const struct vsw_ip_addr *a)
{
	size_t len = a->family == AF_INET6 ? 16 : 4;

	for (unsigned i = 0; i < n; i++)
		if (list[i].family == a->family && !memcmp(list[i].addr, a->addr, len))
			return (int)i;
	return -1;
}

int vsw_vxlan_set_remotes(struct vsw_port *port, const struct vsw_ip_addr *remotes,
			  const bool *flood, unsigned n_remotes)
{
	struct vsw_ip_addr old[VSW_VXLAN_MAX_REMOTES];
	struct vxlan_port *vp;
	unsigned n_old;
	int rc = vxlan_port_of(port, &vp);

	if (rc)
		return rc;
	if (n_remotes > VSW_VXLAN_MAX_REMOTES || (n_remotes && !remotes))
		return -EINVAL;
	for (unsigned i = 0; i < n_remotes; i++)
		if (remotes[i].family != vp->sock->family)
			return -EAFNOSUPPORT;
	/* tx_lock: vxlan_send points its messages at remote_sa until sendmmsg returns */
	pthread_mutex_lock(&vp->tx_lock);
	pthread_mutex_lock(&vp->vtep_lock);
	n_old = vp->cfg.n_remotes;
	memcpy(old, vp->cfg.remotes, sizeof(old));
	for (unsigned i = 0; i < n_remotes; i++) {
		vp->cfg.remotes[i] = remotes[i];
		vp->flood[i] = flood ? flood[i] : true;
		sa_make(&vp->remote_sa[i], vp->sock->family, remotes[i].addr, vp->cfg.dstport);
		sa_make(&vp->remote_raw[i], vp->sock->family, remotes[i].addr, 0);
	}
	vp->cfg.n_remotes = n_remotes;
	/* entries follow their VTEP to its new index; those of a VTEP gone age out now */
	for (unsigned i = 0; i < VTEP_TABLE; i++) {
		struct vtep_entry *e = &vp->vteps[i];
		int k;

		if (!e->used)
			continue;
		k = e->remote < n_old ? addr_index(remotes, n_remotes, &old[e->remote]) : -1;
		if (k < 0) {
			e->is_static = false;
			e->seen_ns = 0;
		} else {
			e->remote = (uint8_t)k;
		}
	}
	pthread_mutex_unlock(&vp->vtep_lock);
	pthread_mutex_unlock(&vp->tx_lock);
	return 0;
}

int vsw_vxlan_mac_add(struct vsw_port *port, const uint8_t mac[6], const struct vsw_ip_addr *remote)
{
	struct vxlan_port *vp;
	struct vtep_entry *e;
	int rc = vxlan_port_of(port, &vp);
	int k;

	if (rc)
		return rc;
	if (!mac || !remote || vsw_mac_is_multicast(mac))
		return -EINVAL;
	pthread_mutex_lock(&vp->vtep_lock);
	k = addr_index(vp->cfg.remotes, vp->cfg.n_remotes, remote);
	if (k < 0) {
		rc = -ENOENT;
		goto out;
	}
	e = vtep_slot(vp, mac, pvnet_now_ns(), vtep_ageing_ns(vp));
	if (!e || (!e->used && vp->n_vteps >= VTEP_TABLE / 2)) {
		rc = -ENOSPC;
		goto out;
	}
	if (!e->used) {
		e->used = true;
		vp->n_vteps++;
	}
	memcpy(e->mac, mac, 6);
	e->is_static = true;
	e->remote = (uint8_t)k;
	e->seen_ns = pvnet_now_ns();
out:
	pthread_mutex_unlock(&vp->vtep_lock);
	return rc;
}

int vsw_vxlan_mac_del(struct vsw_port *port, const uint8_t mac[6])
{
	struct vxlan_port *vp;
	struct vtep_entry *e;
	int rc = vxlan_port_of(port, &vp);

	if (rc)
		return rc;
	pthread_mutex_lock(&vp->vtep_lock);
	e = vtep_slot(vp, mac, pvnet_now_ns(), vtep_ageing_ns(vp));
	if (!e || !e->used || memcmp(e->mac, mac, 6) || !e->is_static) {
		rc = -ENOENT;
	} else {
		/* left in place, aged: probe sequences keep no holes (see vtep_slot) */
		e->is_static = false;
		e->seen_ns = 0;
	}
	pthread_mutex_unlock(&vp->vtep_lock);
	return rc;
}

int vsw_vxlan_mac_lookup(struct vsw_port *port, const uint8_t mac[6], struct vsw_ip_addr *remote,
			 bool *is_static)
{
	struct vxlan_port *vp;
	uint8_t r;
	int rc = vxlan_port_of(port, &vp);

	if (rc)
		return rc;
	pthread_mutex_lock(&vp->vtep_lock);
	rc = vtep_lookup(vp, mac, pvnet_now_ns(), vtep_ageing_ns(vp), &r);
	if (!rc) {
		struct vtep_entry *e = vtep_slot(vp, mac, pvnet_now_ns(), vtep_ageing_ns(vp));

		*remote = vp->cfg.remotes[r];
		if (is_static)
			*is_static = e && e->is_static;
	}
	pthread_mutex_unlock(&vp->vtep_lock);
	return rc;
}
