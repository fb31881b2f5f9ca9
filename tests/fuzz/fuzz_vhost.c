/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a hostile virtio-net guest (and its VMM) against the vhost-user port
 * (vswitch/port_vhost.c). The fuzzer plays QEMU on the port's real Unix socket,
 * hands over two memfds as guest RAM (region A: gpa 0, 256 KiB, the rings live
 * there; region B: gpa 1 MiB, 128 KiB, mapped at offset 4 KiB of its memfd behind
 * a guard page that is not guest memory) and plays the port thread itself with
 * vsw_vhost_test_poll(), so every run is deterministic.
 *
 * Input: [features][queue sizes][avail bases][ring placement; bit 6: EVENT_IDX] then a byte-code of
 * operations: write guest memory, descriptors (direct and in indirect tables:
 * addresses inside/outside/straddling the regions, lengths, NEXT/WRITE/INDIRECT,
 * loops), virtio_net_hdr + frames, avail entries / index / flags, kicks, TX polls
 * (guest -> switch), frames injected by another port toward the guest (switch ->
 * guest: mergeable buffers, csum/GSO headers, software fallback, VLAN tags), raw
 * vhost-user messages (any request, size, flags, fds), memory tables with lying
 * sizes and offsets, truncated messages and reconnects, messages split across
 * polls (the port completes them without blocking) with up to 12 fds (more than 8:
 * the VMM is dropped, every fd closed), and the VMM shrinking
 * region B's (unsealable) memfd under the port: its SIGBUS guard must turn the
 * fault into a counted drop and a disconnect (region A's memfd is sealed by the
 * port, so it cannot shrink).
 *
 * Two ports of the same bridge are played: inputs of even length go to "vhu0"
 * (pvnetd listens: the fuzzer connects), inputs of odd length to "vhu1", a
 * client-mode port with 2 queue pairs (the fuzzer listens on its socket, the port
 * connects through vsw_vhost_test_connect, the fuzzer accepts): standalone
 * `switch add-port --type vhostuser --client --queues 2`. Queue numbers 0..3 of
 * raw messages are then all valid rings.
 *
 * Checks beyond ASan/UBSan, all hard failures (see tests/fuzz/corpus/fuzz_vhost/README
 * for how each was triaged): the guard page in front of region B is never written;
 * every packet injected toward the guest returns to its pool; after each input
 * every guest-TX packet is back in the port's pool and, the VMM gone, no file
 * descriptor is left.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/vhost.h>
#include <pvnet/vswitch.h>

#define A_SIZE (256u << 10)
#define B_GPA 0x100000ull
#define B_SIZE (128u << 10)
#define B_OFF 4096u /* mmap_offset of region B: the guard page before it */
#define UVA_A 0x7f0000000000ull
#define UVA_B (UVA_A + A_SIZE)            /* adjacent in the VMM's space, not in the guest's */
#define Q_BASE(q) (0x1000u + (q)*0x4000u) /* desc +0, avail +0x1000, used +0x2000 */
#define BUF_BASE 0x10000u
#define IND_BASE 0x38000u /* indirect tables written by op IDESC */
#define INJ_POOL 8
#define INJ_BUF (65536u + 128u)

enum {
	REQ_GET_FEATURES = 1,
	REQ_SET_FEATURES = 2,
	REQ_SET_OWNER = 3,
	REQ_SET_MEM_TABLE = 5,
	REQ_SET_VRING_NUM = 8,
	REQ_SET_VRING_ADDR = 9,
	REQ_SET_VRING_BASE = 10,
	REQ_SET_VRING_KICK = 12,
	REQ_SET_VRING_CALL = 13,
	REQ_SET_VRING_ENABLE = 18
};

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct in *in)
{
	uint8_t v = 0;
	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}
static uint16_t get16(struct in *in)
{
	return (uint16_t)(get8(in) | get8(in) << 8);
}
static uint32_t get32(struct in *in)
{
	return get16(in) | (uint32_t)get16(in) << 16;
}
static uint64_t get64(struct in *in)
{
	return get32(in) | (uint64_t)get32(in) << 32;
}
static size_t getbytes(struct in *in, void *dst, size_t size)
{
	size_t n = size < in->n ? size : in->n;
	memcpy(dst, in->p, n);
	in->p += n;
	in->n -= n;
	return n;
}

/* ---- the world, built once ------------------------------------------------------- */

static struct {
	struct vsw_bridge *br;
	struct vsw_port *vhu, *peer;
	struct vsw_port *vhu_srv, *vhu_cli; /* vhu: the one this input plays */
	char cpath[108];                    /* vhu_cli's socket: the fuzzer listens */
	int lfd;
	struct pvnet_pkt_pool *inj;
	char path[108];
	int memfd[2], evfd;
	uint8_t *a, *b_file;  /* region A; region B's memfd (guard page first) */
	uint32_t b_file_size; /* region B's memfd now (op SHRINK makes it smaller) */
	uint8_t scratch[INJ_BUF];
} W;

static volatile uint8_t peer_sum;

static int peer_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	(void)port;
	for (unsigned i = 0; i < b->count; i++) {
		const struct pvnet_pkt *p = b->pkts[i];
		uint8_t sum = 0;
		if (p->head_size > p->len || p->len < PVNET_ETH_HLEN || p->len > INJ_BUF)
			__builtin_trap();
		for (uint32_t k = 0; k < p->head_size; k += 61) /* reads the whole head */
			sum += p->data[k];
		if (p->head_size)
			sum += p->data[p->head_size - 1];
		peer_sum = sum;
		pvnet_pkt_put(b->pkts[i]);
	}
	return (int)b->count;
}
static const struct vsw_port_ops peer_ops = {.type = "fuzz", .send = peer_send};

/* An invariant broke: say which before the trap (libFuzzer saves the input). */
__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_vhost: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__builtin_trap();
}

/* Lists the open fds and what they are (on failure: which one leaked). */
static void dump_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], target[256];
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
	}
	if (d)
		closedir(d);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The world lives until the process exits: its socket file goes with it. */
static void world_fini(void)
{
	unlink(W.path);
	unlink(W.cpath);
}

static void world_init(void)
{
	static const uint16_t vids[] = {5};

	pvnet_log_set_level(PVNET_LOG_ERR);
	snprintf(W.path, sizeof(W.path), "/tmp/fuzz_vhost.%d.sock", getpid());
	snprintf(W.cpath, sizeof(W.cpath), "/tmp/fuzz_vhost.%d.c.sock", getpid());
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		strcpy(sa.sun_path, W.cpath);
		unlink(W.cpath);
		W.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (W.lfd < 0 || bind(W.lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(W.lfd, 4))
			__builtin_trap();
	}
	/* A can be sealed (the port seals it against shrinking), B cannot: op SHRINK
	 * truncates it under the port, whose SIGBUS guard must catch the fault */
	W.memfd[0] = memfd_create("guest-a", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	W.memfd[1] = memfd_create("guest-b", MFD_CLOEXEC);
	W.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (W.memfd[0] < 0 || W.memfd[1] < 0 || W.evfd < 0 || ftruncate(W.memfd[0], A_SIZE) ||
	    ftruncate(W.memfd[1], B_OFF + B_SIZE))
		__builtin_trap();
	W.a = mmap(NULL, A_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, W.memfd[0], 0);
	W.b_file = mmap(NULL, B_OFF + B_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, W.memfd[1], 0);
	if (W.a == MAP_FAILED || W.b_file == MAP_FAILED)
		__builtin_trap();
	struct vsw_vhost_config cfg = {.pool_size = 64};
	struct vsw_vhost_config ccfg = {.pool_size = 64, .client = true, .queues = 2};
	if (vsw_create("fz0", NULL, &W.br) ||
	    vsw_vhost_test_port_add(W.br, "vhu0", W.path, &cfg, &W.vhu_srv) ||
	    vsw_vhost_test_port_add(W.br, "vhu1", W.cpath, &ccfg, &W.vhu_cli) ||
	    vsw_port_set_trunk(W.vhu_cli, 0, vids, 1) ||
	    vsw_port_add(W.br, "peer", &peer_ops, NULL, VSW_PORT_F_ALL, &W.peer) ||
	    vsw_port_set_trunk(W.vhu_srv, 0, vids, 1) || vsw_port_set_trunk(W.peer, 0, vids, 1) ||
	    pvnet_pkt_pool_create(INJ_POOL, INJ_BUF, &W.inj))
		__builtin_trap();
	W.b_file_size = B_OFF + B_SIZE;
	atexit(world_fini);
}

/* The VMM shrinks region B's file under the port (the guard page stays); the
 * harness then writes only what is left of B. */
static void shrink_b(struct in *in)
{
	uint32_t size = B_OFF + (uint32_t)(get8(in) % 32) * 4096u;

	if (ftruncate(W.memfd[1], size) < 0)
		__builtin_trap();
	W.b_file_size = size;
}

/* ---- the VMM side ------------------------------------------------------------------ */

struct run {
	int sock;
	unsigned reconnects;
	uint32_t num[2];
	uint16_t avail_idx[2];
	struct in *in;
};

static void poll_port(unsigned times)
{
	for (unsigned i = 0; i < times; i++)
		vsw_vhost_test_poll(W.vhu);
}

static void drain(struct run *r)
{
	uint8_t buf[512];
	while (r->sock >= 0 && recv(r->sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static bool connected(void)
{
	struct vsw_vhost_stats s;
	return vsw_vhost_port_get_stats(W.vhu, &s) == 0 && s.connected;
}

static void vmm_connect(struct run *r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (W.vhu == W.vhu_cli) { /* the port connects to us */
		if (vsw_vhost_test_connect(W.vhu) < 0)
			__builtin_trap();
		r->sock = accept4(W.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (r->sock < 0)
			__builtin_trap();
		return;
	}
	strcpy(sa.sun_path, W.path);
	r->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->sock < 0 || connect(r->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		__builtin_trap();
	poll_port(1); /* accept */
}

static void vmm_disconnect(struct run *r)
{
	if (r->sock >= 0)
		close(r->sock);
	r->sock = -1;
	for (unsigned i = 0; i < 4 && connected(); i++)
		poll_port(1); /* reads EOF: disconnect */
}

/* Sends one complete message (header + `size` payload bytes) with up to two fds,
 * lets the port handle it and drops the replies. */
static void vmm_msg(struct run *r, uint32_t req, uint32_t flags, uint32_t size, const void *payload,
		    uint32_t payload_size, const int *fds, unsigned nfds)
{
	uint8_t buf[12 + 300] = {0};
	uint32_t hdr[3] = {req, flags, size};
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = {.iov_base = buf};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	uint32_t body = size <= 300 ? size : 0; /* larger: the port refuses the header */

	if (r->sock < 0)
		return;
	memcpy(buf, hdr, 12);
	if (payload)
		memcpy(buf + 12, payload, payload_size < body ? payload_size : body);
	iov.iov_len = 12 + body;
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(r->sock, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		return; /* the port dropped us earlier in this operation */
	poll_port(1);
	drain(r);
}

static void msg_u64(struct run *r, uint32_t req, uint64_t v, int fd)
{
	vmm_msg(r, req, 1, 8, &v, 8, &fd, fd >= 0);
}

static void msg_state(struct run *r, uint32_t req, uint32_t q, uint32_t num)
{
	uint32_t st[2] = {q, num};
	vmm_msg(r, req, 1, 8, st, 8, NULL, 0);
}

/* set when this run's memory table made the guard page guest memory */
static int guard_exposed;

static void mem_table(struct run *r, uint8_t mode, uint64_t raw)
{
	uint64_t m[1 + 2 * 4] = {0};
	int fds[2] = {W.memfd[0], W.memfd[1]};
	unsigned n = mode & 1 ? 1 : 2;

	m[0] = n; /* nregions, padding */
	m[1] = 0, m[2] = A_SIZE, m[3] = UVA_A, m[4] = 0;
	m[5] = B_GPA, m[6] = B_SIZE, m[7] = UVA_B, m[8] = B_OFF;
	switch ((mode >> 1) & 7) {
	case 1:
		m[6] = B_SIZE + B_OFF;
		break; /* region B larger than its memfd */
	case 2:        /* any mmap offset: one below B_OFF makes (part of) the guard page guest
		 * memory, so the guard check does not apply to this run */
		m[8] = raw;
		if (raw < B_OFF)
			guard_exposed = 1;
		break;
	case 3:
		m[6] = raw;
		break; /* any size */
	case 4:
		m[5] = raw;
		break; /* any guest-physical base (overlap A?) */
	case 5:
		m[7] = UVA_A + 0x1000;
		break; /* overlapping VMM addresses */
	case 6:
		m[0] = raw & 0xffffffffu;
		break; /* nregions lies */
	default:
		break;
	}
	vmm_msg(r, REQ_SET_MEM_TABLE, 1, 8 + 32 * n, m, sizeof(m), fds, n);
}

static void setup_queue(struct run *r, unsigned q, uint32_t num, uint16_t base, uint8_t place)
{
	uint64_t addr[5] = {q, 0, 0, 0, 0}; /* index, flags | desc used avail log */
	uint64_t d = UVA_A + Q_BASE(q);

	msg_state(r, REQ_SET_VRING_NUM, q, num);
	msg_state(r, REQ_SET_VRING_BASE, q, base);
	addr[1] = d;
	addr[2] = d + 0x2000;
	addr[3] = d + 0x1000;
	switch (place & 3) {
	case 1:
		addr[2] = UVA_A + A_SIZE - 8;
		break; /* used ring straddles A and B */
	case 2:
		addr[1] += 8, addr[3] += 1;
		break; /* misaligned desc and avail */
	case 3:
		addr[3] = UVA_B + B_SIZE - 6 - 2 * num;
		break; /* avail at the very end of B */
	default:
		break;
	}
	vmm_msg(r, REQ_SET_VRING_ADDR, 1, 40, addr, 40, NULL, 0);
	msg_u64(r, REQ_SET_VRING_KICK, q, W.evfd);
	msg_u64(r, REQ_SET_VRING_CALL, q, W.evfd);
	msg_state(r, REQ_SET_VRING_ENABLE, q, 1);
}

/* The handshake QEMU does, shaped by the first input bytes. */
static void handshake(struct run *r, const uint8_t hdr[4])
{
	static const uint8_t fbits[8] = {15, 1, 7, 8, 32, 0, 28, 30};
	uint64_t feat = 0;

	for (unsigned i = 0; i < 8; i++)
		if (hdr[0] & (1u << i))
			feat |= 1ull << fbits[i];
	if (hdr[0] & (1u << 5))
		feat |= (1ull << 11) | (1ull << 12); /* host TSO with CSUM */
	if (hdr[3] & 0x40)
		feat |= 1ull << 29; /* VIRTIO_RING_F_EVENT_IDX: event indexes after the rings */
	vmm_msg(r, REQ_GET_FEATURES, 1, 0, NULL, 0, NULL, 0);
	vmm_msg(r, REQ_SET_OWNER, 1, 0, NULL, 0, NULL, 0);
	msg_u64(r, REQ_SET_FEATURES, feat, -1);
	mem_table(r, 0, 0);
	for (unsigned q = 0; q < 2; q++) {
		r->num[q] = 1u << ((q ? hdr[1] >> 4 : hdr[1] & 15) % 9); /* 1..256 */
		r->avail_idx[q] = (uint16_t)(hdr[2] >> (4 * q) & 15) * 0x1111u;
		setup_queue(r, q, r->num[q], r->avail_idx[q],
			    hdr[3] >> (2 * q) & (hdr[3] & 0x80 ? 3 : 0));
		/* the guest's view: avail idx where the port starts */
		uint16_t *avail = (uint16_t *)(W.a + Q_BASE(q) + 0x1000);
		__atomic_store_n(&avail[1], r->avail_idx[q], __ATOMIC_RELEASE);
	}
}

/* ---- the guest side ---------------------------------------------------------------- */

static uint8_t *guest_ptr(uint32_t off, uint32_t *room)
{
	off %= A_SIZE + B_SIZE;
	if (off < A_SIZE) {
		*room = A_SIZE - off;
		return W.a + off;
	}
	if (B_OFF + (off - A_SIZE) >= W.b_file_size) { /* shrunk away: write A */
		off %= A_SIZE;
		*room = A_SIZE - off;
		return W.a + off;
	}
	*room = W.b_file_size - B_OFF - (off - A_SIZE);
	return W.b_file + B_OFF + (off - A_SIZE);
}

static uint64_t guest_addr(struct in *in)
{
	uint8_t mode = get8(in);
	uint16_t v = get16(in);

	switch (mode & 3) {
	case 0:
		return BUF_BASE + v; /* region A buffers */
	case 1:
		return B_GPA + (uint32_t)v * 2; /* region B */
	case 2: {                               /* near the edges */
		static const uint64_t edge[] = {A_SIZE, B_GPA, B_GPA + B_SIZE, 0, IND_BASE};
		return edge[(mode >> 2) % 5] - (v & 0xff) + (mode & 0x80 ? 0x80 : 0);
	}
	default:
		return get64(in); /* anything */
	}
}

static struct desc make_desc(struct in *in)
{
	struct desc d;
	uint8_t f;

	d.addr = guest_addr(in);
	f = get8(in);
	d.len = f & 0x80 ? get32(in) : get16(in);
	d.flags = f & 0x40 ? get16(in) : (f & 7);
	d.next = get8(in);
	if (f & 0x20)
		d.next |= (uint16_t)get8(in) << 8;
	return d;
}

static void post(struct run *r, unsigned q, uint16_t head, bool kick)
{
	uint16_t *avail = (uint16_t *)(W.a + Q_BASE(q) + 0x1000);
	uint16_t i = r->avail_idx[q]++;

	avail[2 + (i & (r->num[q] - 1))] = head;
	__atomic_store_n(&avail[1], r->avail_idx[q], __ATOMIC_RELEASE);
	if (kick) {
		uint64_t one = 1;
		if (write(W.evfd, &one, 8) != 8)
			__builtin_trap();
	}
}

/* A frame: Ethernet (+ tag) + IPv4/IPv6 + TCP + payload, or raw input bytes. */
static uint32_t build_frame(struct in *in, uint8_t *f, uint32_t len, uint8_t kind)
{
	uint32_t l3 = 14, ipl;

	if (len < 14)
		len = 14;
	memset(f, 0, len);
	if (kind & 4) { /* raw */
		getbytes(in, f, len < 128 ? len : 128);
		return len;
	}
	memset(f, 0xff, 6);
	if (kind & 8)
		f[0] = 0x02; /* unicast */
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x09", 6);
	if (kind & 16) { /* 802.1Q, VID 5 */
		if (len < 18)
			len = 18;
		f[12] = 0x81, f[13] = 0x00, f[14] = 0x00, f[15] = 5;
		l3 = 18;
	}
	ipl = len > l3 ? len - l3 : 0;
	if (kind & 1) { /* IPv6 + TCP */
		f[l3 - 2] = 0x86, f[l3 - 1] = 0xdd;
		if (ipl >= 40 + 20) {
			f[l3] = 0x60;
			f[l3 + 4] = (uint8_t)((ipl - 40) >> 8), f[l3 + 5] = (uint8_t)(ipl - 40);
			f[l3 + 6] = 6, f[l3 + 7] = 64;
			f[l3 + 40 + 12] = 0x50;
		}
	} else {
		f[l3 - 2] = 0x08, f[l3 - 1] = 0x00;
		if (ipl >= 20 + 20) {
			f[l3] = 0x45;
			f[l3 + 2] = (uint8_t)(ipl >> 8), f[l3 + 3] = (uint8_t)ipl;
			f[l3 + 8] = 64, f[l3 + 9] = 6;
			f[l3 + 20 + 12] = 0x50;
		}
	}
	if (kind & 2) /* let the input bend the headers */
		getbytes(in, f + l3, len - l3 < 60 ? len - l3 : 60);
	return len;
}

static void inject(struct in *in)
{
	struct pvnet_pkt_batch b = {0};
	unsigned n = 1 + get8(in) % 4;

	for (unsigned i = 0; i < n; i++) {
		struct pvnet_pkt *p = pvnet_pkt_alloc(W.inj);
		uint8_t kind = get8(in), fl = get8(in);
		uint32_t len = get16(in);

		if (!p)
			__builtin_trap();
		len = build_frame(in, W.scratch, len, kind);
		if (pvnet_pkt_set_local(p, W.scratch, len))
			__builtin_trap();
		p->flags = fl & (PVNET_PKT_F_CSUM_BLANK | PVNET_PKT_F_DATA_VALIDATED);
		p->gso_type = (fl >> 4) % 3;
		p->gso_size = fl & 0x80 ? get16(in) : 1 + get8(in) * 8;
		p->csum_start =
			fl & 0x40 ? get16(in) : (kind & 16 ? 18 : 14) + (kind & 1 ? 40 : 20);
		p->csum_offset = fl & 0x08 ? get16(in) : 16;
		b.pkts[b.count++] = p;
	}
	vsw_input(W.br, W.peer, &b);
	if (pvnet_pkt_pool_avail(W.inj) != INJ_POOL) /* send() must return every packet */
		__builtin_trap();
}

/*
 * A message sent in two pieces with a port poll between them (the port keeps the
 * first piece and its fds and completes the message later), with up to 12 fds
 * (more than 8 and the port drops the VMM, closing all of them).
 */
static void split_msg(struct run *r, struct in *in)
{
	uint8_t buf[12 + 300] = {0};
	uint8_t sel = get8(in), nfds = get8(in) % 13;
	uint32_t size = get16(in) % 300u, cut;
	uint32_t hdr[3] = {sel % 20u, 1u | (sel & 0x80 ? 8u : 0u), size};
	int fds[12];
	char cbuf[CMSG_SPACE(12 * sizeof(int))];
	struct iovec iov = {.iov_base = buf};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (r->sock < 0)
		return;
	memcpy(buf, hdr, 12);
	getbytes(in, buf + 12, size);
	cut = 1 + get16(in) % (12 + size);
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = i & 1 ? W.evfd : W.memfd[0];
	iov.iov_len = cut;
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(r->sock, &mh, MSG_NOSIGNAL) != (ssize_t)cut)
		return;
	poll_port(1); /* the first piece: kept, nothing handled yet (unless it is whole) */
	if (cut < 12 + size && send(r->sock, buf + cut, 12 + size - cut, MSG_NOSIGNAL) < 0)
		return;
	poll_port(1);
	drain(r);
}

static void raw_msg(struct run *r, struct in *in)
{
	uint8_t payload[300];
	uint8_t sel = get8(in), fdsel = get8(in);
	uint32_t req = sel & 0x80 ? get32(in) : sel % 20u;
	uint32_t flags = fdsel & 0x80 ? get32(in) : 1u | (fdsel & 0x40 ? 8u : 0u);
	uint32_t size = get16(in) % 300u;
	int fds[2] = {W.memfd[(fdsel >> 2) & 1], W.evfd};

	size_t got = getbytes(in, payload, size);
	if (fdsel & 0x20)
		size = 300 + get8(in); /* larger than any message: refused */
	vmm_msg(r, req, flags, size, payload, (uint32_t)got, fds, fdsel & 3 ? (fdsel & 3) % 3 : 0);
}

static void truncated(struct run *r, struct in *in)
{
	uint8_t hdr[12];
	size_t n = 1 + get8(in) % 11;

	memset(hdr, 0, sizeof(hdr));
	getbytes(in, hdr, n);
	if (r->sock < 0 || send(r->sock, hdr, n, MSG_NOSIGNAL) != (ssize_t)n)
		return;
	shutdown(r->sock, SHUT_WR); /* the port sees a short read, then EOF */
	poll_port(2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct in in = {data, size};
	struct run r = {.sock = -1};
	uint8_t hdr[4] = {0};
	struct vsw_vhost_stats st;

	int nfds_before;

	if (!init) {
		world_init();
		init = true;
	}
	W.vhu = size & 1 ? W.vhu_cli : W.vhu_srv;
	/* Per input, not once at start: libFuzzer itself opens fds between inputs
	 * (reporting NEW_FUNC starts llvm-symbolizer: two pipes and /dev/null), which
	 * made a count taken once at world_init trip "intermittently". */
	nfds_before = count_fds();
	if (W.b_file_size != B_OFF + B_SIZE) { /* grown back: zero pages */
		if (ftruncate(W.memfd[1], B_OFF + B_SIZE) < 0)
			__builtin_trap();
		W.b_file_size = B_OFF + B_SIZE;
	}
	memset(W.a, 0, A_SIZE);
	guard_exposed = 0;
	memset(W.b_file, 0xa5, B_OFF);
	memset(W.b_file + B_OFF, 0, B_SIZE);
	getbytes(&in, hdr, sizeof(hdr));
	r.in = &in;
	vmm_connect(&r);
	handshake(&r, hdr);

	for (unsigned steps = 0; in.n && steps < 512; steps++) {
		uint8_t op = get8(&in);
		unsigned q = op >> 7;

		switch ((op & 15) == 15 ? 12 : (op & 15) % 12) {
		case 0: { /* raw guest memory */
			uint32_t room, off = get32(&in);
			uint8_t *p = guest_ptr(off, &room);
			uint32_t n = get8(&in);
			getbytes(&in, p, n < room ? n : room);
			break;
		}
		case 1: { /* a descriptor in the ring's table */
			uint16_t idx = get8(&in) % (r.num[q] ? r.num[q] : 1);
			struct desc d = make_desc(&in);
			memcpy(W.a + Q_BASE(q) + 16u * idx, &d, sizeof(d));
			break;
		}
		case 2: { /* a descriptor in an indirect table */
			uint32_t idx = get8(&in);
			struct desc d = make_desc(&in);
			memcpy(W.a + IND_BASE + 16u * idx, &d, sizeof(d));
			break;
		}
		case 3: /* post a head */
		case 4:
			post(&r, q, op & 0x40 ? get16(&in) : get8(&in), op & 0x20);
			break;
		case 5: { /* the guest scribbles on its avail index / flags */
			uint16_t *avail = (uint16_t *)(W.a + Q_BASE(q) + 0x1000);
			if (op & 0x40)
				r.avail_idx[q] = get16(&in);
			else
				r.avail_idx[q] += get8(&in) % 8;
			avail[0] = op & 0x20 ? 1 : 0; /* VRING_AVAIL_F_NO_INTERRUPT */
			__atomic_store_n(&avail[1], r.avail_idx[q], __ATOMIC_RELEASE);
			break;
		}
		case 6: /* the port thread runs: guest TX */
			poll_port(1 + (op >> 4) % 4);
			break;
		case 7: { /* virtio_net_hdr + frame in a TX buffer */
			uint32_t room, off = BUF_BASE + (uint32_t)get8(&in) * 256u;
			uint8_t *p = guest_ptr(off, &room);
			uint8_t h[12];
			memset(h, 0, sizeof(h));
			getbytes(&in, h, sizeof(h));
			memcpy(p, h, sizeof(h));
			build_frame(&in, W.scratch, 14 + get8(&in) * 4u, get8(&in) & ~4);
			memcpy(p + 12, W.scratch, room - 12 < 1200 ? room - 12 : 1200);
			break;
		}
		case 8: /* frames toward the guest: guest RX */
		case 9:
			inject(&in);
			break;
		case 10: /* a vhost-user message from a hostile VMM */
			if (op & 0x40)
				mem_table(&r, get8(&in), get64(&in));
			else if (op & 0x20)
				truncated(&r, &in);
			else if (op & 0x10)
				split_msg(&r, &in);
			else
				raw_msg(&r, &in);
			break;
		case 12: /* the VMM shrinks region B's file */
			shrink_b(&in);
			break;
		case 11: /* RESET_OWNER / GET_VRING_BASE / re-setup of one queue */
			if (op & 0x40)
				msg_state(&r, 11, q, 0);
			else if (op & 0x20)
				vmm_msg(&r, 4, 1, 0, NULL, 0, NULL, 0);
			else
				setup_queue(&r, q, 1u << (get8(&in) % 9), get16(&in), get8(&in));
			break;
		}
		if (!connected() && r.reconnects < 2) { /* the port dropped us: come back */
			r.reconnects++;
			vmm_disconnect(&r);
			vmm_connect(&r);
			handshake(&r, hdr);
		}
	}
	if (getenv("FUZZ_VHOST_DEBUG") && vsw_vhost_port_get_stats(W.vhu, &st) == 0)
		fprintf(stderr,
			"tx %llu bad_desc %llu bad_hdr %llu | rx %llu bad_desc %llu "
			"no_buf %llu not_ready %llu sw_csum %llu sw_tso %llu fb_drop %llu | "
			"msgs bad %llu connects %llu running %d mem_fault %llu\n",
			(unsigned long long)st.guest_tx_packets, (unsigned long long)st.tx_bad_desc,
			(unsigned long long)st.tx_bad_hdr, (unsigned long long)st.guest_rx_packets,
			(unsigned long long)st.rx_bad_desc, (unsigned long long)st.rx_no_buffers,
			(unsigned long long)st.rx_not_ready, (unsigned long long)st.rx_sw_csum,
			(unsigned long long)st.rx_sw_tso, (unsigned long long)st.rx_fallback_drop,
			(unsigned long long)st.bad_msgs, (unsigned long long)st.connects,
			st.running, (unsigned long long)st.guest_mem_fault);
	vmm_disconnect(&r);

	/* The guard page (not guest memory) is untouched: the port wrote there through
	 * a call fd that was this guest's memfd before it insisted on eventfds. */
	for (unsigned i = 0; i < B_OFF && !guard_exposed; i++)
		if (W.b_file[i] != 0xa5)
			fail("guard page before region B written at byte %u", i);
	if (vsw_vhost_port_get_stats(W.vhu, &st) || st.connected)
		fail("VMM still connected after it closed its socket");
	/* every guest-TX packet is back in the pool (the sink frees at once), and every
	 * fd the port took during this input was closed */
	if (st.tx_pool_avail != st.tx_pool_size)
		fail("guest-TX pool: %u of %u packets back", st.tx_pool_avail, st.tx_pool_size);
	int nfds = count_fds();
	if (nfds != nfds_before) {
		dump_fds();
		fail("fd count %d, was %d before this input", nfds, nfds_before);
	}
	return 0;
}
