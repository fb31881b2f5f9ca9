/* SPDX-License-Identifier: MIT */
/*
 * vhost-user port against an in-process fake driver: the test plays QEMU and the
 * guest. It connects to the port's socket, hands over a memfd as guest memory,
 * builds split virtqueues in it and checks what the port does with descriptor
 * chains, mergeable RX buffers, offload headers and malformed descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvnet/lib.h>
#include <pvnet/vhost.h>
#include <pvnet/vswitch.h>

#define MEM_SIZE (1u << 20)
#define UVA_BASE 0x7f0000000000ull /* the "VMM" address of guest-physical 0 */
#define QNUM 16
/* queue q: desc at Q_BASE(q), avail +0x400, used +0x800; buffers from 0x10000 */
#define Q_BASE(q) (0x1000u + (q)*0x1000u)
#define BUF_BASE 0x10000u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

struct sink {
	unsigned n;
	uint32_t len[64];
	uint16_t flags[64];
	uint8_t gso_type[64];
	uint16_t gso_size[64];
	uint8_t first[64][64];
};

struct fx {
	struct vsw_bridge *br;
	struct vsw_port *vhu, *sinkp;
	struct sink sink;
	char path[108];
	int sock, memfd, kick[2], call[2];
	uint8_t *mem;
	uint16_t avail_idx[2];
};

static int sink_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	struct sink *s = vsw_port_priv(port);
	for (unsigned i = 0; i < b->count; i++) {
		struct pvnet_pkt *p = b->pkts[i];
		if (s->n < 64) {
			s->len[s->n] = p->len;
			s->flags[s->n] = p->flags;
			s->gso_type[s->n] = p->gso_type;
			s->gso_size[s->n] = p->gso_size;
			memcpy(s->first[s->n], p->data, p->len < 64 ? p->len : 64);
			__atomic_store_n(&s->n, s->n + 1, __ATOMIC_RELEASE);
		}
		pvnet_pkt_put(p);
	}
	return (int)b->count;
}
static const struct vsw_port_ops sink_ops = {.type = "test", .send = sink_send};

static void msg(struct fx *f, uint32_t req, const void *payload, uint32_t size, int fd)
{
	uint8_t buf[12 + 300];
	uint32_t hdr[3] = {req, 1, size};
	struct iovec iov = {.iov_base = buf, .iov_len = 12 + size};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	memcpy(buf, hdr, 12);
	if (size)
		memcpy(buf + 12, payload, size);
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(f->sock, &mh, 0), 12 + size);
}

static uint64_t get_features(struct fx *f) /* also a barrier: replies come in order */
{
	uint8_t r[20];
	uint64_t v;
	msg(f, 1, NULL, 0, -1);
	assert_int_equal(recv(f->sock, r, 20, MSG_WAITALL), 20);
	memcpy(&v, r + 12, 8);
	return v;
}

static void setup_queue(struct fx *f, unsigned q)
{
	uint32_t st[2] = {q, QNUM};
	uint64_t addr[5] = {0};
	uint32_t *a32 = (uint32_t *)addr;
	uint64_t u;

	msg(f, 8, st, 8, -1);
	st[1] = 0;
	msg(f, 10, st, 8, -1);
	a32[0] = q;
	addr[1] = UVA_BASE + Q_BASE(q);
	addr[2] = UVA_BASE + Q_BASE(q) + 0x800; /* used */
	addr[3] = UVA_BASE + Q_BASE(q) + 0x400; /* avail */
	msg(f, 9, addr, 40, -1);
	u = q;
	msg(f, 12, &u, 8, f->kick[q]);
	msg(f, 13, &u, 8, f->call[q]);
	st[1] = 1;
	msg(f, 18, st, 8, -1);
}

static unsigned memfd_flags; /* MFD_ALLOW_SEALING for the sealed fixture */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t mem[5] = {1, 0, MEM_SIZE, UVA_BASE, 0}; /* nregions, pad | gpa size uva off */
	uint32_t *m32 = (uint32_t *)mem;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/test_vhost.%d.sock", getpid());
	assert_int_equal(vsw_create("br0", NULL, &f->br), 0);
	assert_int_equal(vsw_vhost_port_add(f->br, "vhu0", f->path, NULL, &f->vhu), 0);
	assert_int_equal(vsw_port_add(f->br, "sink", &sink_ops, &f->sink, VSW_PORT_F_ALL,
				      &f->sinkp),
			 0);
	f->memfd = memfd_create("guest", memfd_flags);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, MEM_SIZE), 0);
	f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->mem != MAP_FAILED);
	for (int q = 0; q < 2; q++) {
		f->kick[q] = eventfd(0, EFD_NONBLOCK);
		f->call[q] = eventfd(0, EFD_NONBLOCK);
	}
	f->sock = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	m32[0] = 1;
	m32[1] = 0;
	uint64_t feat =
		(1ull << 32) | (1ull << 15) | 1 | 2 | (1ull << 7) | (1ull << 11) | (1ull << 30);
	assert_true(get_features(f) & (1ull << 15));
	msg(f, 2, &feat, 8, -1);
	msg(f, 5, mem, 40, f->memfd);
	setup_queue(f, 0);
	setup_queue(f, 1);
	get_features(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->sock >= 0)
		close(f->sock);
	vsw_destroy(f->br);
	munmap(f->mem, MEM_SIZE);
	close(f->memfd);
	for (int q = 0; q < 2; q++) {
		close(f->kick[q]);
		close(f->call[q]);
	}
	assert_int_not_equal(access(f->path, F_OK), 0); /* socket unlinked */
	free(f);
	return 0;
}

static struct desc *D(struct fx *f, unsigned q)
{
	return (struct desc *)(f->mem + Q_BASE(q));
}
static uint16_t *avail(struct fx *f, unsigned q)
{
	return (uint16_t *)(f->mem + Q_BASE(q) + 0x400);
}
static uint16_t *used(struct fx *f, unsigned q)
{
	return (uint16_t *)(f->mem + Q_BASE(q) + 0x800);
}
static uint32_t used_len(struct fx *f, unsigned q, unsigned i)
{
	return *(uint32_t *)(f->mem + Q_BASE(q) + 0x800 + 4 + 8 * (i % QNUM) + 4);
}

static void post(struct fx *f, unsigned q, uint16_t head)
{
	avail(f, q)[2 + f->avail_idx[q] % QNUM] = head;
	f->avail_idx[q]++;
	__atomic_store_n(&avail(f, q)[1], f->avail_idx[q], __ATOMIC_RELEASE);
	uint64_t one = 1;
	assert_int_equal(write(f->kick[q], &one, 8), 8);
}

static int wait_until(volatile uint16_t *p, uint16_t v)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(p, __ATOMIC_ACQUIRE) == v)
			return 0;
		usleep(1000);
	}
	return -1;
}

static void frame(uint8_t *p, unsigned len, uint8_t tag)
{
	memset(p, tag, len);
	memset(p, 0xff, 6); /* broadcast: floods to the other port */
	memcpy(p + 6, "\x02\x00\x00\x00\x00\x01", 6);
	p[12] = 0x08;
	p[13] = 0x00;
}

static struct vsw_vhost_stats stats(struct fx *f)
{
	struct vsw_vhost_stats s;
	assert_int_equal(vsw_vhost_port_get_stats(f->vhu, &s), 0);
	return s;
}

static void test_tx_chain(void **state)
{
	struct fx *f = *state;
	struct vnet_hdr *h = (struct vnet_hdr *)(f->mem + BUF_BASE);

	memset(h, 0, sizeof(*h));
	frame(f->mem + BUF_BASE + 0x100, 100, 0xab);
	D(f, 1)[0] = (struct desc){BUF_BASE, 12, 1, 1};         /* header, NEXT */
	D(f, 1)[1] = (struct desc){BUF_BASE + 0x100, 40, 1, 2}; /* frame part 1 */
	D(f, 1)[2] = (struct desc){BUF_BASE + 0x128, 60, 0, 0}; /* frame part 2 */
	post(f, 1, 0);
	assert_int_equal(wait_until(&used(f, 1)[1], 1), 0);
	for (int i = 0; i < 1000 && !__atomic_load_n(&f->sink.n, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(f->sink.n, 1);
	assert_int_equal(f->sink.len[0], 100);
	assert_int_equal(f->sink.first[0][20], 0xab);
	assert_true(stats(f).running);
}

static void test_tx_offload_hdr(void **state)
{
	struct fx *f = *state;
	struct vnet_hdr *h = (struct vnet_hdr *)(f->mem + BUF_BASE);

	*h = (struct vnet_hdr){
		.flags = 1, .gso_type = 1, .gso_size = 1448, .csum_start = 34, .csum_offset = 16};
	frame(f->mem + BUF_BASE + 12, 1000, 0x11);
	D(f, 1)[3] = (struct desc){BUF_BASE, 12 + 1000, 0, 0}; /* header and frame together */
	post(f, 1, 3);
	assert_int_equal(wait_until(&used(f, 1)[1], 1), 0);
	for (int i = 0; i < 1000 && !__atomic_load_n(&f->sink.n, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(f->sink.n, 1);
	assert_true(f->sink.flags[0] & PVNET_PKT_F_CSUM_BLANK);
	assert_int_equal(f->sink.gso_type[0], PVNET_GSO_TCPV4);
	assert_int_equal(f->sink.gso_size[0], 1448);
}

static void test_tx_malformed(void **state)
{
	struct fx *f = *state;

	D(f, 1)[4] = (struct desc){MEM_SIZE - 8, 64, 0, 0};   /* beyond the region */
	D(f, 1)[5] = (struct desc){BUF_BASE, 64, 1, 5};       /* loops on itself */
	D(f, 1)[6] = (struct desc){UINT64_MAX - 4, 64, 0, 0}; /* address wraps */
	D(f, 1)[7] = (struct desc){BUF_BASE, 70000, 0, 0};    /* longer than a packet */
	D(f, 1)[8] = (struct desc){BUF_BASE, 64, 2, 0};       /* device-writable on TX */
	D(f, 1)[9] = (struct desc){BUF_BASE, 64, 1, 200};     /* next out of range */
	for (uint16_t h = 4; h <= 9; h++)
		post(f, 1, h);
	post(f, 1, 500); /* head out of range */
	for (int i = 0; i < 2000 && stats(f).tx_bad_desc < 7; i++)
		usleep(1000);
	assert_int_equal(stats(f).tx_bad_desc, 7);
	assert_int_equal(wait_until(&used(f, 1)[1], 6), 0); /* the six valid heads returned */
	assert_int_equal(f->sink.n, 0);
	assert_int_equal(stats(f).guest_tx_packets, 0);
}

static void inject(struct fx *f, uint32_t len, uint16_t flags, uint8_t gso)
{
	struct pvnet_pkt_pool *pool;
	struct pvnet_pkt_batch b = {0};
	uint8_t buf[2048];

	assert_int_equal(pvnet_pkt_pool_create(4, 2048, &pool), 0);
	frame(buf, len, 0x5a);
	b.pkts[0] = pvnet_pkt_alloc(pool);
	assert_int_equal(pvnet_pkt_set_local(b.pkts[0], buf, len), 0);
	b.pkts[0]->flags = flags;
	b.pkts[0]->csum_start = 34;
	b.pkts[0]->csum_offset = 16;
	b.pkts[0]->gso_type = gso;
	b.pkts[0]->gso_size = gso ? 1448 : 0;
	b.count = 1;
	assert_int_equal(vsw_input(f->br, f->sinkp, &b), 0);
	assert_int_equal(pvnet_pkt_pool_avail(pool), 4);
	pvnet_pkt_pool_destroy(pool);
}

static void test_rx_mergeable(void **state)
{
	struct fx *f = *state;
	struct vnet_hdr h;

	for (uint16_t i = 0; i < 3; i++) {
		D(f, 0)[i] = (struct desc){BUF_BASE + i * 0x100u, 64, 2, 0};
		post(f, 0, i);
	}
	inject(f, 150, 0, 0); /* 12 + 150 bytes: 64 + 64 + 34 */
	assert_int_equal(used(f, 0)[1], 3);
	assert_int_equal(used_len(f, 0, 0), 64);
	assert_int_equal(used_len(f, 0, 1), 64);
	assert_int_equal(used_len(f, 0, 2), 34);
	memcpy(&h, f->mem + BUF_BASE, 12);
	assert_int_equal(h.num_buffers, 3);
	assert_int_equal(f->mem[BUF_BASE + 0x100 + 40], 0x5a);
	assert_int_equal(stats(f).guest_rx_packets, 1);
}

static void test_rx_offload_hdr_and_nobufs(void **state)
{
	struct fx *f = *state;
	struct vnet_hdr h;

	D(f, 0)[0] = (struct desc){BUF_BASE, 2048, 2, 0};
	post(f, 0, 0);
	inject(f, 1000, PVNET_PKT_F_CSUM_BLANK, PVNET_GSO_TCPV4);
	assert_int_equal(used(f, 0)[1], 1);
	memcpy(&h, f->mem + BUF_BASE, 12);
	assert_int_equal(h.flags, 1);
	assert_int_equal(h.gso_type, 1);
	assert_int_equal(h.gso_size, 1448);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(h.num_buffers, 1);
	inject(f, 100, 0, 0); /* no buffer left: refused and counted */
	assert_int_equal(stats(f).rx_no_buffers, 1);
	struct vsw_port_stats ps;
	vsw_port_get_stats(f->vhu, &ps);
	assert_int_equal(ps.drops[VSW_DROP_EGRESS_FULL], 1);
}

static void test_rx_malformed(void **state)
{
	struct fx *f = *state;

	D(f, 0)[0] = (struct desc){BUF_BASE, 2048, 0, 0};       /* not device-writable */
	D(f, 0)[1] = (struct desc){MEM_SIZE - 100, 2048, 2, 0}; /* beyond memory */
	D(f, 0)[2] = (struct desc){BUF_BASE, 2048, 2, 0};       /* good */
	post(f, 0, 0);
	post(f, 0, 1);
	post(f, 0, 2);
	inject(f, 100, 0, 0);
	inject(f, 100, 0, 0);
	inject(f, 100, 0, 0);
	assert_int_equal(stats(f).rx_bad_desc, 2);
	assert_int_equal(stats(f).guest_rx_packets, 1);
	assert_int_equal(used(f, 0)[1], 3);
	assert_int_equal(used_len(f, 0, 0), 0);
	assert_int_equal(used_len(f, 0, 1), 0);
	assert_int_equal(used_len(f, 0, 2), 112);
}

static void test_bad_messages(void **state)
{
	struct fx *f = *state;
	uint32_t st[2] = {7, 16};     /* queue index out of range */
	uint32_t bad_num[2] = {0, 3}; /* not a power of two */

	msg(f, 8, st, 8, -1);
	msg(f, 8, bad_num, 8, -1);
	msg(f, 99, NULL, 0, -1);
	get_features(f); /* still connected and answering */
	assert_true(stats(f).bad_msgs >= 3);
	assert_true(stats(f).connected);
}

/* A VMM's memory table claiming more than its file holds (fuzz_vhost found it): the
 * port used to map it, then died of SIGBUS on the first buffer past the end. */
static void test_mem_table_beyond_file(void **state)
{
	struct fx *f = *state;
	uint64_t mem[5] = {1}; /* nregions, pad | gpa size uva offset: twice the memfd */
	uint64_t bad = stats(f).bad_msgs;

	mem[1] = 0;
	mem[2] = 2 * MEM_SIZE;
	mem[3] = UVA_BASE;
	mem[4] = 0;
	msg(f, 5, mem, 40, f->memfd);
	get_features(f);
	assert_int_equal(stats(f).bad_msgs, bad + 1);
	/* the old table stands: a buffer past the file is a bad descriptor */
	D(f, 1)[0] = (struct desc){MEM_SIZE + 0x1000, 64, 0, 0};
	post(f, 1, 0);
	for (int i = 0; i < 2000 && stats(f).tx_bad_desc < 1; i++)
		usleep(1000);
	assert_int_equal(stats(f).tx_bad_desc, 1);
	assert_true(stats(f).connected);
}

/* A VMM passing some other file as a call fd (fuzz_vhost's guard-page write: its
 * memory memfd): the port used to write() its 8-byte interrupt into the file, at
 * the file's offset, i.e. into guest memory at gpa 0. Refused now. */
static void test_call_fd_not_eventfd(void **state)
{
	struct fx *f = *state;
	uint64_t q = 0, bad = stats(f).bad_msgs;
	static const uint8_t zero[8];

	msg(f, 13, &q, 8, f->memfd);
	get_features(f);
	assert_int_equal(stats(f).bad_msgs, bad + 1);
	D(f, 0)[0] = (struct desc){BUF_BASE, 2048, 2, 0};
	post(f, 0, 0);
	inject(f, 100, 0, 0);
	assert_int_equal(stats(f).guest_rx_packets, 1);
	assert_memory_equal(f->mem, zero, sizeof(zero)); /* nothing written through the fd */
	uint64_t v;
	assert_int_equal(read(f->call[0], &v, 8), 8); /* the real call fd got the interrupt */
	assert_true(stats(f).connected);
}

/* Re-sends the memory table: the port maps it again (and, as pvnetd's first
 * mapping would, makes sure its SIGBUS handler is the installed one: cmocka sets
 * its own around each test and fixture). */
static void resend_mem_table(struct fx *f)
{
	uint64_t mem[5] = {1, 0, MEM_SIZE, UVA_BASE, 0};
	uint32_t *m32 = (uint32_t *)mem;

	m32[1] = 0;
	msg(f, 5, mem, 40, f->memfd);
	get_features(f);
}

static bool wait_disconnected(struct fx *f)
{
	for (int i = 0; i < 5000; i++) {
		struct vsw_vhost_stats s = stats(f);
		if (!s.connected && s.disconnects >= 1)
			return true;
		usleep(1000);
	}
	return false;
}

/* The port still serves: a new VMM connects and is answered. */
static void reconnect(struct fx *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	close(f->sock);
	f->sock = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(get_features(f) & (1ull << 15));
	assert_true(stats(f).connected);
}

/* Guest TX flowing, then the VMM shrinks an unsealable memory file under a buffer:
 * the port thread faults reading it, survives, drops and disconnects. */
static void test_mem_shrink_tx(void **state)
{
	struct fx *f = *state;
	const uint32_t far = MEM_SIZE / 2; /* beyond the new end of file */

	assert_true(fcntl(f->memfd, F_GET_SEALS) & F_SEAL_SEAL); /* no sealing for this one */
	resend_mem_table(f);
	memset(f->mem + BUF_BASE, 0, 12);
	frame(f->mem + BUF_BASE + 12, 100, 0x33);
	D(f, 1)[0] = (struct desc){BUF_BASE, 112, 0, 0};
	post(f, 1, 0);
	for (int i = 0; i < 2000 && !__atomic_load_n(&f->sink.n, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(f->sink.n, 1); /* traffic flows */
	memset(f->mem + far, 0, 12);
	frame(f->mem + far + 12, 100, 0x44);
	D(f, 1)[1] = (struct desc){far, 112, 0, 0};
	assert_int_equal(ftruncate(f->memfd, MEM_SIZE / 4), 0); /* f->mem[far] is gone too */
	post(f, 1, 1);
	assert_true(wait_disconnected(f));
	assert_true(stats(f).guest_mem_fault >= 1);
	assert_int_equal(stats(f).guest_tx_packets, 1);
	assert_int_equal(f->sink.n, 1); /* nothing read from the zero pages went on */
	char line[512];
	assert_true(vsw_port_format(f->vhu, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, "guest_mem_fault="));
	assert_null(strstr(line, "guest_mem_fault=0"));
	reconnect(f);
}

/* The same in the other direction: the switch thread (here, the test's) faults
 * writing a frame into an RX buffer past the end; the port thread disconnects. */
static void test_mem_shrink_rx(void **state)
{
	struct fx *f = *state;

	resend_mem_table(f);
	D(f, 0)[0] = (struct desc){MEM_SIZE / 2, 2048, 2, 0};
	assert_int_equal(ftruncate(f->memfd, MEM_SIZE / 4), 0);
	post(f, 0, 0);
	inject(f, 100, 0, 0); /* every packet still goes back to its pool */
	assert_true(wait_disconnected(f));
	assert_true(stats(f).guest_mem_fault >= 1);
	assert_int_equal(stats(f).guest_rx_packets, 0); /* written to zero pages: lost */
	inject(f, 100, 0, 0);                           /* no VMM now: not ready */
	assert_true(stats(f).rx_not_ready >= 1);
	reconnect(f);
}

/* Creating a port closed fd 0 (its zeroed queues' "fds"), i.e. the daemon's stdin,
 * and whatever file next took that number (found with the fork test below). */
static void test_port_add_keeps_fd0(void **state)
{
	struct vsw_bridge *br;
	struct vsw_port *port;
	char path[108];
	int fd0 = -1;

	(void)state;
	if (fcntl(0, F_GETFD) < 0) { /* stdin closed: put a file there to watch */
		fd0 = memfd_create("fd0", 0);
		assert_int_equal(fd0, 0);
	}
	snprintf(path, sizeof(path), "/tmp/test_vhost.%d.fd0.sock", getpid());
	assert_int_equal(vsw_create("brf", NULL, &br), 0);
	assert_int_equal(vsw_vhost_test_port_add(br, "vhf", path, NULL, &port), 0);
	assert_true(fcntl(0, F_GETFD) >= 0);
	vsw_destroy(br);
	assert_true(fcntl(0, F_GETFD) >= 0);
	if (fd0 == 0)
		close(fd0);
}

/*
 * Child process: `prev` becomes the SIGBUS action, then a vhost port (test mode,
 * no thread) takes a guest memory table, which installs the port's handler over
 * `prev`; then a SIGBUS outside guest memory. Returns only on setup failure (3).
 */
static void child_sigbus_elsewhere(const struct sigaction *prev)
{
	char path[108];
	struct vsw_bridge *br;
	struct vsw_port *port;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t mem[5] = {1, 0, 1u << 16, UVA_BASE, 0};
	uint32_t hdr[3] = {5, 1, 40};
	uint8_t buf[52];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int gfd = memfd_create("guest", 0), ofd = memfd_create("other", 0), sock;
	struct vsw_vhost_stats st;
	uint8_t *p;

	if (sigaction(SIGBUS, prev, NULL) < 0 || gfd < 0 || ofd < 0 ||
	    ftruncate(gfd, 1u << 16) < 0 || ftruncate(ofd, 8192) < 0)
		return;
	snprintf(path, sizeof(path), "/tmp/test_vhost.%d.child.sock", getpid());
	if (vsw_create("brc", NULL, &br) || vsw_vhost_test_port_add(br, "vhc", path, NULL, &port))
		return;
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return;
	vsw_vhost_test_poll(port); /* accept */
	((uint32_t *)mem)[1] = 0;
	memcpy(buf, hdr, 12);
	memcpy(buf + 12, mem, 40);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &gfd, sizeof(int));
	if (sendmsg(sock, &mh, 0) != (ssize_t)sizeof(buf))
		return;
	vsw_vhost_test_poll(port); /* SET_MEM_TABLE: maps, installs the handler */
	unlink(path);              /* the port is never deleted: the process dies below */
	if (vsw_vhost_port_get_stats(port, &st) || st.bad_msgs)
		return;
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, ofd, 0);
	if (p == MAP_FAILED || ftruncate(ofd, 4096) < 0)
		return;
	p[4096] = 1; /* not guest memory: must not be swallowed */
	_exit(0);
}

static void prev_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	_exit(sig == SIGBUS && si->si_code > 0 ? 42 : 4);
}

static int run_child(const struct sigaction *prev)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		child_sigbus_elsewhere(prev);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* A SIGBUS outside vhost guest memory keeps its previous behaviour: the default
 * (the process dies of SIGBUS), or the handler installed before the port's. */
static void test_sigbus_elsewhere(void **state)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL},
			 mine = {.sa_sigaction = prev_handler, .sa_flags = SA_SIGINFO};
	int st;

	(void)state;
	st = run_child(&dfl);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGBUS);
	st = run_child(&mine);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);
}

static int setup_sealable(void **state)
{
	memfd_flags = MFD_ALLOW_SEALING;
	int rc = setup(state);
	memfd_flags = 0;
	return rc;
}

/* A memfd that allows sealing is sealed against shrinking when handed over. */
static void test_mem_sealed(void **state)
{
	struct fx *f = *state;

	assert_true(fcntl(f->memfd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_false(fcntl(f->memfd, F_GET_SEALS) & F_SEAL_GROW);
	assert_int_equal(ftruncate(f->memfd, MEM_SIZE / 4), -1);
	assert_int_equal(errno, EPERM);
	memset(f->mem + BUF_BASE, 0, 12);
	frame(f->mem + BUF_BASE + 12, 100, 0x55);
	D(f, 1)[0] = (struct desc){BUF_BASE, 112, 0, 0};
	post(f, 1, 0);
	for (int i = 0; i < 2000 && !__atomic_load_n(&f->sink.n, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(f->sink.n, 1);
	assert_int_equal(stats(f).guest_mem_fault, 0);
	assert_true(stats(f).connected);
}

/* ---- a hostile VMM on the socket: the port never waits for it ---------------------- */

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* One message with any flags and up to 16 fds; returns sendmsg's result. */
static ssize_t msg_fds(struct fx *f, uint32_t req, uint32_t flags, const void *payload,
		       uint32_t size, const int *fds, unsigned nfds)
{
	uint8_t buf[12 + 300];
	uint32_t hdr[3] = {req, flags, size};
	struct iovec iov = {.iov_base = buf, .iov_len = 12 + (size <= 300 ? size : 0)};
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	memcpy(buf, hdr, 12);
	if (size && size <= 300)
		memcpy(buf + 12, payload, size);
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(f->sock, &mh, MSG_NOSIGNAL);
}

/* REPLY_ACK: the port's answer to a request sent with NEED_REPLY (0: success). */
static uint64_t reply_ack(struct fx *f)
{
	uint8_t r[20];
	uint64_t v;
	assert_int_equal(recv(f->sock, r, 20, MSG_WAITALL), 20);
	memcpy(&v, r + 12, 8);
	return v;
}

static bool wait_dropped(struct fx *f, uint64_t ms)
{
	uint64_t end = pvnet_now_ms() + ms;
	while (pvnet_now_ms() < end) {
		if (!stats(f).connected)
			return true;
		usleep(2000);
	}
	return false;
}

/* Half a header, then silence: the port keeps serving the switch, drops the VMM
 * after its message deadline (1 s by default) and its teardown does not wait. */
static void test_stall_mid_message(void **state)
{
	struct fx *f = *state;
	uint32_t hdr[3] = {1, 1, 0};
	uint64_t t0;

	assert_int_equal(send(f->sock, hdr, 6, 0), 6);
	/* the guest's traffic still flows while the message hangs */
	D(f, 0)[0] = (struct desc){BUF_BASE, 2048, 2, 0};
	post(f, 0, 0);
	inject(f, 100, 0, 0);
	assert_int_equal(stats(f).guest_rx_packets, 1);
	t0 = pvnet_now_ms();
	assert_true(wait_dropped(f, 5000));
	assert_true(pvnet_now_ms() - t0 <= 3000);
	assert_int_equal(stats(f).msg_timeouts, 1);
	reconnect(f); /* the port listens again */
}

/* Stalled mid-message and removed at once: teardown is bounded (it used to join a
 * port thread blocked in recvmsg for ever). */
static void test_stall_then_remove(void **state)
{
	struct fx *f = *state;
	uint32_t hdr[3] = {5, 1, 40};
	uint64_t t0;

	assert_int_equal(send(f->sock, hdr, 12, 0), 12); /* header: 40 bytes to come */
	usleep(20000);
	t0 = pvnet_now_ms();
	assert_int_equal(vsw_port_del(f->br, f->vhu), 0);
	assert_true(pvnet_now_ms() - t0 < 500);
	f->vhu = NULL;
	assert_int_not_equal(access(f->path, F_OK), 0);
}

/* A header claiming a payload larger than any message: dropped at the header. */
static void test_huge_payload(void **state)
{
	struct fx *f = *state;
	uint32_t hdr[3] = {5, 1, 0xfffffff0u};
	uint64_t bad = stats(f).bad_msgs;

	assert_int_equal(send(f->sock, hdr, 12, 0), 12);
	assert_true(wait_dropped(f, 2000));
	assert_int_equal(stats(f).bad_msgs, bad + 1);
	assert_int_equal(stats(f).msg_timeouts, 0);
}

/* Any of the port's fds that is one of the memfds named "flood" (which ones leaked). */
static int count_flood_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++) {
		char p[40], t[64];
		ssize_t r;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		r = readlink(p, t, sizeof(t) - 1);
		if (r > 0) {
			t[r] = 0;
			n += strncmp(t, "/memfd:flood", 12) == 0;
		}
	}
	return n;
}

/* Sixteen fds with one message: dropped, every fd closed. */
static void test_fd_flood(void **state)
{
	struct fx *f = *state;
	int fds[16];
	uint64_t q = 0;

	for (int i = 0; i < 16; i++)
		fds[i] = memfd_create("flood", 0);
	assert_int_equal(count_flood_fds(), 16);
	assert_true(msg_fds(f, 12, 1, &q, 8, fds, 16) > 0);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
	assert_true(wait_dropped(f, 2000));
	assert_int_equal(stats(f).fd_floods, 1);
	assert_int_equal(count_flood_fds(), 0); /* none kept by the port */
}

/* Memory tables the port refuses (REPLY_ACK != 0), the VMM staying connected: too
 * many regions, fds that do not match the regions, a file that is not memory, and
 * more memory than the port allows (mem_max). The old table stands. */
static void test_mem_table_limits(void **state)
{
	struct fx *f = *state;
	uint64_t mem[1 + 4 * 9] = {0};
	int fds[9], tmp;
	char tpath[64];

	for (int i = 0; i < 9; i++) {
		fds[i] = f->memfd;
		mem[1 + 4 * i] = (uint64_t)i * 4096; /* gpa */
		mem[2 + 4 * i] = 4096;               /* size */
		mem[3 + 4 * i] = UVA_BASE + (uint64_t)i * 4096;
	}
	mem[0] = 9; /* claims nine regions, one more than vhost-user allows (and fits) */
	assert_true(msg_fds(f, 5, 1 | 8, mem, 8 + 8 * 32, fds, 8) > 0);
	assert_int_not_equal(reply_ack(f), 0);
	mem[0] = 2; /* two regions, one fd */
	assert_true(msg_fds(f, 5, 1 | 8, mem, 8 + 2 * 32, fds, 1) > 0);
	assert_int_not_equal(reply_ack(f), 0);
	/* a regular file on disk, not memory */
	snprintf(tpath, sizeof(tpath), "/var/tmp/test_vhost.%d.mem", getpid());
	tmp = open(tpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(tmp >= 0);
	unlink(tpath);
	assert_int_equal(ftruncate(tmp, MEM_SIZE), 0);
	mem[0] = 1;
	if (fcntl(tmp, F_GET_SEALS) < 0) { /* unless /var/tmp is a tmpfs here */
		assert_true(msg_fds(f, 5, 1 | 8, mem, 8 + 32, &tmp, 1) > 0);
		assert_int_not_equal(reply_ack(f), 0);
	}
	close(tmp);
	/* a region reaching past the default limit (64 GiB) into its file */
	mem[2] = 4096;
	mem[4] = 64ull << 30;
	assert_true(msg_fds(f, 5, 1 | 8, mem, 8 + 32, &f->memfd, 1) > 0);
	assert_int_not_equal(reply_ack(f), 0);
	assert_true(stats(f).connected);
	/* the old table stands: guest TX still works */
	memset(f->mem + BUF_BASE, 0, 12);
	frame(f->mem + BUF_BASE + 12, 100, 0x77);
	D(f, 1)[0] = (struct desc){BUF_BASE, 112, 0, 0};
	post(f, 1, 0);
	for (int i = 0; i < 2000 && !__atomic_load_n(&f->sink.n, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(f->sink.n, 1);
}

/* A port whose mem_max is smaller than the guest's memory refuses its table. */
static void test_mem_max(void **state)
{
	struct vsw_vhost_config cfg = {.mem_max = MEM_SIZE / 2};
	struct fx f = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t mem[5] = {1, 0, MEM_SIZE, UVA_BASE, 0};

	(void)state;
	snprintf(f.path, sizeof(f.path), "/tmp/test_vhost.%d.max.sock", getpid());
	assert_int_equal(vsw_create("brm", NULL, &f.br), 0);
	assert_int_equal(vsw_vhost_port_add(f.br, "vhm", f.path, &cfg, &f.vhu), 0);
	f.memfd = memfd_create("guest", 0);
	assert_int_equal(ftruncate(f.memfd, MEM_SIZE), 0);
	f.sock = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, f.path);
	assert_int_equal(connect(f.sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(msg_fds(&f, 5, 1 | 8, mem, 40, &f.memfd, 1) > 0);
	assert_int_not_equal(reply_ack(&f), 0);
	mem[2] = MEM_SIZE / 2; /* within the limit */
	assert_true(msg_fds(&f, 5, 1 | 8, mem, 40, &f.memfd, 1) > 0);
	assert_int_equal(reply_ack(&f), 0);
	close(f.sock);
	vsw_destroy(f.br);
	close(f.memfd);
}

/* A VMM that asks and asks and never reads its replies: dropped once the socket
 * buffer is full, never waited for (the guest's traffic keeps flowing). */
static void test_unread_replies(void **state)
{
	struct fx *f = *state;
	uint64_t t0 = pvnet_now_ms();
	int sent = 0;

	/* requests until the port stops taking them or drops us */
	while (pvnet_now_ms() - t0 < 10000 && stats(f).connected) {
		uint32_t hdr[3] = {1, 1, 0};
		if (send(f->sock, hdr, 12, MSG_DONTWAIT | MSG_NOSIGNAL) == 12)
			sent++;
		else
			usleep(1000);
	}
	assert_false(stats(f).connected);
	assert_int_equal(stats(f).reply_stalls, 1);
	assert_true(sent > 100);
}

#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

static void *stuck_write(void *arg)
{
	void **a = arg;
	/* blocks in the kernel with the memfd's inode lock held, faulting in `src` */
	ssize_t r = pwrite((int)(intptr_t)a[0], a[1], 4096, 0);
	(void)r;
	return NULL;
}

/*
 * The port thread stuck in the kernel on a VMM's file: the VMM holds its memfd's
 * inode lock in a write() that faults on a userfaultfd page it never serves, then
 * hands the memfd over; sealing it blocks the port thread. Removing the port must
 * still return in bounded time, and once the VMM lets go the thread frees the
 * port itself (no fd left, ASan sees no leak).
 */
static void test_stuck_thread_orphaned(void **state)
{
	struct fx f = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t mem[5] = {1, 0, MEM_SIZE, UVA_BASE, 0};
	struct uffdio_api api = {.api = UFFD_API};
	struct uffdio_register reg = {.mode = UFFDIO_REGISTER_MODE_MISSING};
	pthread_t th;
	void *args[2];
	int uffd, base;
	uint8_t *src;
	uint64_t t0;

	(void)state;
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0) {
		if (uffd >= 0)
			close(uffd);
		skip(); /* needs userfaultfd for kernel faults (root) */
	}
	base = count_fds();
	src = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(src != MAP_FAILED);
	reg.range.start = (uintptr_t)src;
	reg.range.len = 4096;
	assert_int_equal(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);
	f.memfd = memfd_create("guest", MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(f.memfd, MEM_SIZE), 0);
	args[0] = (void *)(intptr_t)f.memfd;
	args[1] = src;
	assert_int_equal(pthread_create(&th, NULL, stuck_write, args), 0);
	usleep(50000); /* the writer is parked on the fault, holding the inode lock */

	snprintf(f.path, sizeof(f.path), "/tmp/test_vhost.%d.stuck.sock", getpid());
	assert_int_equal(vsw_create("brs", NULL, &f.br), 0);
	assert_int_equal(vsw_vhost_port_add(f.br, "vhs", f.path, NULL, &f.vhu), 0);
	f.sock = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, f.path);
	assert_int_equal(connect(f.sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(msg_fds(&f, 5, 1, mem, 40, &f.memfd, 1) > 0);
	usleep(100000); /* the port thread is now in F_ADD_SEALS, waiting for the lock */

	t0 = pvnet_now_ms();
	vsw_destroy(f.br);
	assert_true(pvnet_now_ms() - t0 < 3000);
	assert_int_not_equal(access(f.path, F_OK), 0); /* its socket is gone already */

	/* the VMM lets go: the write completes, the seal, then the thread frees all */
	close(uffd);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(f.sock);
	close(f.memfd);
	munmap(src, 4096);
	for (int i = 0; i < 3000 && count_fds() > base - 1; i++)
		usleep(1000);
	assert_int_equal(count_fds(), base - 1); /* uffd closed too */
}

/* A path naming a file that is not a socket is refused, the file untouched. */
static void test_socket_path_not_socket(void **state)
{
	struct vsw_bridge *br;
	struct vsw_port *port = NULL;
	char path[108], buf[8] = {0};
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_vhost.%d.file", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(vsw_create("brp", NULL, &br), 0);
	assert_int_equal(vsw_vhost_port_add(br, "vhp", path, NULL, &port), -EEXIST);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "keep");
	close(fd);
	unlink(path);
	vsw_destroy(br);
}

/* Accepts on `lfd` within `ms` (-1: nothing connected). */
static int accept_within(int lfd, uint64_t ms)
{
	uint64_t end = pvnet_now_ms() + ms;
	while (pvnet_now_ms() < end) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			return c;
		usleep(5000);
	}
	return -1;
}

/* Client mode (the frontend listens, as DPDK virtio-user server=1), 2 queue pairs:
 * the port connects, offers MQ and answers GET_QUEUE_NUM 2, refuses a ring beyond
 * the pairs, reconnects after the frontend hangs up, and never connects through a
 * symlink at its path. */
static void test_client_mode_mq(void **state)
{
	struct vsw_vhost_config cfg = {.client = true, .queues = 2};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char real[108], path[108];
	struct vsw_bridge *br;
	struct vsw_port *port;
	struct vsw_vhost_stats st;
	struct fx f = {0};
	uint32_t vs[2] = {4, 16}; /* ring 4 of 2 pairs: refused */
	uint64_t v;
	int lfd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_vhost_cli.%d.sock", getpid());
	snprintf(real, sizeof(real), "/tmp/test_vhost_cli.%d.real", getpid());
	unlink(path);
	unlink(real);
	strcpy(sa.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(vsw_create("brcl", NULL, &br), 0);
	assert_int_equal(vsw_vhost_port_add(br, "vcl", path, &cfg, &port), 0);
	f.sock = accept_within(lfd, 3000);
	assert_true(f.sock >= 0);
	assert_true(get_features(&f) & (1ull << 22)); /* VIRTIO_NET_F_MQ */
	msg(&f, 15, NULL, 0, -1);                     /* GET_PROTOCOL_FEATURES: MQ */
	v = reply_ack(&f);
	assert_true(v & 1);
	msg(&f, 17, NULL, 0, -1); /* GET_QUEUE_NUM */
	assert_int_equal(reply_ack(&f), 2);
	assert_true(msg_fds(&f, 8, 1 | 8, vs, sizeof(vs), NULL, 0) == 12 + 8); /* SET_VRING_NUM */
	assert_int_equal(reply_ack(&f), 1);
	vs[0] = 3;
	assert_true(msg_fds(&f, 8, 1 | 8, vs, sizeof(vs), NULL, 0) == 12 + 8);
	assert_int_equal(reply_ack(&f), 0);
	/* the frontend restarts: the port comes back on its own */
	close(f.sock);
	f.sock = accept_within(lfd, 3000);
	assert_true(f.sock >= 0);
	assert_int_equal(vsw_vhost_port_get_stats(port, &st), 0);
	assert_int_equal(st.connects, 2);
	/* a symlink at the path: never followed */
	assert_int_equal(rename(path, real), 0);
	assert_int_equal(symlink(real, path), 0);
	close(f.sock);
	assert_int_equal(accept_within(lfd, 1500), -1);
	assert_int_equal(vsw_vhost_port_get_stats(port, &st), 0);
	assert_true(st.connect_fails >= 1);
	assert_false(st.connected);
	assert_int_equal(vsw_port_del(br, port), 0);
	/* the frontend's socket file is not the port's to remove */
	assert_int_equal(access(real, F_OK), 0);
	vsw_destroy(br);
	close(lfd);
	unlink(path);
	unlink(real);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tx_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_offload_hdr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_offload_hdr_and_nobufs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_beyond_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_fd_not_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_shrink_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_shrink_rx, setup, teardown),
		cmocka_unit_test(test_port_add_keeps_fd0),
		cmocka_unit_test(test_sigbus_elsewhere),
		cmocka_unit_test_setup_teardown(test_mem_sealed, setup_sealable, teardown),
		cmocka_unit_test_setup_teardown(test_stall_mid_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_then_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_limits, setup, teardown),
		cmocka_unit_test(test_mem_max),
		cmocka_unit_test_setup_teardown(test_unread_replies, setup, teardown),
		cmocka_unit_test(test_stuck_thread_orphaned),
		cmocka_unit_test(test_socket_path_not_socket),
		cmocka_unit_test(test_client_mode_mq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
