/* SPDX-License-Identifier: MIT */
/*
 * pvnet-hostile vmm: a hostile VMM on a vhost-user port (the frontend side), for
 * tests/integration/test_isolation_vhost.sh. pvnetd starts it in place of QEMU
 * (PVNET_QEMU naming a wrapper that runs `pvnet-hostile vmm "$@"`), so it gets
 * QEMU's arguments: the vhost-user socket from `-chardev socket,...,path=P`, the
 * QMP socket from `-qmp unix:P,...` and the attack from `attack=NAME` in `-append`
 * (the domain config's cmdline). Standalone: `pvnet-hostile vmm --socket P
 * --attack NAME`.
 *
 * Like a VMM that means harm, it ignores SIGTERM and listens on its QMP socket
 * without ever answering. It prints what it does to stdout (the domain's console
 * log): "hostile-vmm: attack=NAME engaged ..." once the attack is on, then one
 * line per round for the attacks that repeat (the port drops it, it comes back).
 *
 * Attacks:
 *   half-header   half a message header, then silence (again after each drop)
 *   huge-payload  a header claiming a 256 MiB payload, a few bytes of it, silence
 *   fd-flood      one message carrying 200 fds (SCM_RIGHTS), again after each drop
 *   mem-table     SET_MEM_TABLE with REPLY_ACK: 9 regions, a region beyond its
 *                 file, a huge offset, a disk file, more than the domain's memory;
 *                 prints the acks ("acks=1,1,1,1,1": all refused) and stays
 *   no-read       REPLY_ACK/GET_FEATURES requests without reading a reply, until
 *                 dropped, again after each drop
 *   child-holds   half a header, fork a child that keeps the socket (and sleeps),
 *                 then the VMM itself exits; the child prints its pid
 *   stall-child   the same, but the VMM stays (silent) until pvnetd kills it
 *   qmp-link      replaces its QMP socket with a symlink to trap=PATH (from
 *                 -append), another socket on the host
 *   seal-lock     hands over a memfd whose inode lock a child of it holds in a
 *                 write() that faults on a userfaultfd page nobody serves: the
 *                 port thread blocks sealing it until the child dies, which
 *                 outlives the VMM (needs userfaultfd: root); prints its pid
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>

int vmm_main(int argc, char **argv);

#define VMM_FLOOD_FDS 200
#define VMM_MEM_SIZE (1u << 20)

enum { REQ_GET_FEATURES = 1, REQ_SET_MEM_TABLE = 5 };
#define F_VERSION 1u
#define F_NEED_REPLY 8u

struct vmm {
	char sock_path[108], qmp_path[108], attack[32], trap[108];
	int qmp_fd;
	bool server; /* -chardev ...,server=on: it listens and pvnetd's port connects */
};

static void msleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The vhost-user connection, as QEMU gets it: accepted on its own socket (server,
 * within 5 s of asking) or connected to pvnetd's (tried for 5 s). */
static int vmm_connect(const struct vmm *v)
{
	static int lfd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	strcpy(sa.sun_path, v->sock_path);
	if (v->server) {
		struct pollfd p = {.events = POLLIN};
		if (lfd < 0) {
			lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			unlink(v->sock_path);
			if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			    listen(lfd, 4) < 0)
				return -1;
		}
		p.fd = lfd;
		return poll(&p, 1, 5000) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	}
	for (int i = 0; i < 100; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		msleep(50);
	}
	return -1;
}

/* Sends header + payload with `nfds` fds. */
static ssize_t send_msg(int fd, uint32_t req, uint32_t flags, uint32_t size, const void *payload,
			uint32_t payload_size, const int *fds, unsigned nfds)
{
	uint8_t buf[12 + 512];
	uint32_t hdr[3] = {req, flags, size};
	static char cbuf[CMSG_SPACE(VMM_FLOOD_FDS * sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = 12 + payload_size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	memcpy(buf, hdr, 12);
	if (payload_size)
		memcpy(buf + 12, payload, payload_size);
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

/* Waits until the port closes the connection (read returns 0 or an error); the
 * replies that arrive meanwhile are discarded. Milliseconds it took. */
static long wait_dropped(int fd)
{
	uint64_t a = pvnet_now_ms();
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return (long)(pvnet_now_ms() - a);
}

/* REPLY_ACK of the last request: the u64 payload (0 = success), or -1. */
static long long read_ack(int fd)
{
	uint8_t r[20];
	uint64_t v;
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = read(fd, r + got, sizeof(r) - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	memcpy(&v, r + 12, 8);
	return (long long)v;
}

/* Repeats one round (connect, attack, wait for the drop) for ever. */
static void repeat(const struct vmm *v, int (*round)(int fd))
{
	for (unsigned n = 1;; n++) {
		int fd = vmm_connect(v);
		if (fd < 0) {
			msleep(200);
			continue;
		}
		if (round(fd) == 0) {
			long ms = wait_dropped(fd);
			printf("hostile-vmm: attack=%s round %u: dropped by the port after %ld ms\n",
			       v->attack, n, ms);
		}
		close(fd);
		msleep(50);
	}
}

static int round_half_header(int fd)
{
	uint32_t hdr[3] = {REQ_GET_FEATURES, F_VERSION, 0};
	return send(fd, hdr, 6, MSG_NOSIGNAL) == 6 ? 0 : -1;
}

static int round_huge_payload(int fd)
{
	uint32_t hdr[4] = {REQ_SET_MEM_TABLE, F_VERSION, 256u << 20, 1};
	return send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) == sizeof(hdr) ? 0 : -1;
}

static int round_fd_flood(int fd)
{
	static int fds[VMM_FLOOD_FDS], ev = -1;
	uint64_t idx = 0;

	if (ev < 0) {
		ev = eventfd(0, EFD_CLOEXEC);
		for (unsigned i = 0; i < VMM_FLOOD_FDS; i++)
			fds[i] = ev;
	}
	/* SET_VRING_KICK with 200 copies of one eventfd: each a new fd in pvnetd */
	return send_msg(fd, 12, F_VERSION, 8, &idx, 8, fds, VMM_FLOOD_FDS) > 0 ? 0 : -1;
}

static int round_no_read(int fd)
{
	uint32_t hdr[3] = {REQ_GET_FEATURES, F_VERSION | F_NEED_REPLY, 0};
	unsigned sent = 0;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		ssize_t n = send(fd, hdr, 12, MSG_NOSIGNAL);
		if (n == 12) {
			sent++;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break; /* dropped */
		/* our send buffer is full too: wait for room or for the drop */
		if (poll(&p, 1, 200) > 0 && (p.revents & (POLLHUP | POLLERR)))
			break;
		char c;
		if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			break;
	}
	printf("hostile-vmm: attack=no-read: %u requests sent, replies never read\n", sent);
	fcntl(fd, F_SETFL, 0);
	return 0;
}

static int attack_mem_table(const struct vmm *v)
{
	uint64_t m[1 + 4 * 8];
	long long acks[5];
	int fd = vmm_connect(v), mem = memfd_create("hostile-mem", MFD_CLOEXEC), disk, fds[8];
	uint32_t hdr[3] = {REQ_GET_FEATURES, F_VERSION, 0};

	if (fd < 0 || mem < 0 || ftruncate(mem, VMM_MEM_SIZE) < 0)
		return -1;
	if (send(fd, hdr, 12, MSG_NOSIGNAL) != 12 || read_ack(fd) < 0)
		return -1;
	for (int i = 0; i < 8; i++)
		fds[i] = mem;
	/* 9 regions claimed */
	memset(m, 0, sizeof(m));
	m[0] = 9;
	for (int i = 0; i < 8; i++) {
		m[1 + 4 * i] = (uint64_t)i << 16;
		m[2 + 4 * i] = 1u << 16;
		m[3 + 4 * i] = 0x7f0000000000ull + ((uint64_t)i << 16);
	}
	send_msg(fd, REQ_SET_MEM_TABLE, F_VERSION | F_NEED_REPLY, 8 + 8 * 32, m, 8 + 8 * 32, fds,
		 8);
	acks[0] = read_ack(fd);
	/* one region, twice as large as its file */
	memset(m, 0, sizeof(m));
	m[0] = 1, m[2] = 2 * VMM_MEM_SIZE, m[3] = 0x7f0000000000ull;
	send_msg(fd, REQ_SET_MEM_TABLE, F_VERSION | F_NEED_REPLY, 40, m, 40, &mem, 1);
	acks[1] = read_ack(fd);
	/* a huge mmap offset */
	m[2] = 4096, m[4] = 1ull << 62;
	send_msg(fd, REQ_SET_MEM_TABLE, F_VERSION | F_NEED_REPLY, 40, m, 40, &mem, 1);
	acks[2] = read_ack(fd);
	/* a file on disk, not memory: our own executable */
	disk = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	m[2] = 4096, m[4] = 0;
	send_msg(fd, REQ_SET_MEM_TABLE, F_VERSION | F_NEED_REPLY, 40, m, 40, &disk, 1);
	acks[3] = read_ack(fd);
	/* more memory than the domain has (memory= of its config: at most 4 GiB here) */
	if (ftruncate(mem, 8ull << 30) < 0)
		return -1;
	m[2] = 8ull << 30;
	send_msg(fd, REQ_SET_MEM_TABLE, F_VERSION | F_NEED_REPLY, 40, m, 40, &mem, 1);
	acks[4] = read_ack(fd);
	printf("hostile-vmm: attack=mem-table engaged acks=%lld,%lld,%lld,%lld,%lld\n", acks[0],
	       acks[1], acks[2], acks[3], acks[4]);
	/* still connected: the port answers */
	send(fd, hdr, 12, MSG_NOSIGNAL);
	printf("hostile-vmm: attack=mem-table still connected: %s\n",
	       read_ack(fd) >= 0 ? "yes" : "no");
	for (;;)
		pause(); /* keeps fd and mem */
}

/* Half a header, then a child that keeps the socket open for ever; the VMM itself
 * exits (child-holds) or stays, silent, until it is killed (stall-child). */
static int attack_child(const struct vmm *v, bool vmm_exits)
{
	int fd = vmm_connect(v);
	pid_t pid;

	if (fd < 0 || round_half_header(fd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		printf("hostile-vmm: attack=%s child pid %ld holds the socket\n", v->attack,
		       (long)getpid());
		for (;;)
			pause();
	}
	msleep(100);
	printf("hostile-vmm: attack=%s engaged: %s, child %ld holds the socket\n", v->attack,
	       vmm_exits ? "the VMM exits" : "the VMM stays silent", (long)pid);
	fflush(stdout);
	if (vmm_exits)
		_exit(0);
	for (;;)
		pause();
}

/*
 * A child process (it outlives the VMM: pvnetd kills only QEMU's pid) write()s into
 * the memfd from a userfaultfd page nobody serves, so it sleeps in the kernel with
 * the memfd's inode lock held; the VMM then hands the memfd over, and the port
 * thread, sealing it, waits for that lock until the child dies.
 */
static int attack_seal_lock(const struct vmm *v)
{
	uint64_t m[5] = {1, 0, VMM_MEM_SIZE, 0x7f0000000000ull, 0};
	int mem = memfd_create("hostile-sealable", MFD_CLOEXEC | MFD_ALLOW_SEALING), fd, pfd[2];
	char ready = 0;
	pid_t pid;

	if (mem < 0 || ftruncate(mem, VMM_MEM_SIZE) < 0 || pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct uffdio_api api = {.api = UFFD_API};
		struct uffdio_register reg = {.mode = UFFDIO_REGISTER_MODE_MISSING};
		int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
		void *src = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);

		reg.range.start = (uintptr_t)src;
		reg.range.len = 4096;
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0 || src == MAP_FAILED ||
		    ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
			ready = 'n';
			if (write(pfd[1], &ready, 1) < 0)
				_exit(1);
			_exit(1);
		}
		printf("hostile-vmm: attack=seal-lock lock holder pid %ld\n", (long)getpid());
		ready = 'y';
		if (write(pfd[1], &ready, 1) < 0)
			_exit(1);
		/* sleeps in the kernel, faulting on `src`, the inode lock held */
		if (pwrite(mem, src, 4096, 0) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &ready, 1) != 1 || ready != 'y') {
		printf("hostile-vmm: attack=seal-lock unavailable: no userfaultfd\n");
		return -1;
	}
	msleep(100); /* the child is parked in the fault */
	fd = vmm_connect(v);
	if (fd < 0)
		return -1;
	send_msg(fd, REQ_SET_MEM_TABLE, F_VERSION, 40, m, 40, &mem, 1);
	printf("hostile-vmm: attack=seal-lock engaged: memfd handed over, its inode lock "
	       "held by child %ld\n",
	       (long)pid);
	for (;;)
		pause();
}

/* QEMU's arguments (or --socket/--attack) into v. */
static int parse(struct vmm *v, int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i++) {
		const char *a = argv[i], *n = argv[i + 1], *p;

		if (!strcmp(a, "--socket"))
			snprintf(v->sock_path, sizeof(v->sock_path), "%s", n);
		else if (!strcmp(a, "--attack"))
			snprintf(v->attack, sizeof(v->attack), "%s", n);
		else if (!strcmp(a, "-chardev") && (p = strstr(n, "path=")) && !v->sock_path[0]) {
			snprintf(v->sock_path, sizeof(v->sock_path), "%.*s",
				 (int)strcspn(p + 5, ","), p + 5);
			v->server = strstr(n, ",server=on") != NULL;
		} else if (!strcmp(a, "-qmp") && !strncmp(n, "unix:", 5))
			snprintf(v->qmp_path, sizeof(v->qmp_path), "%.*s", (int)strcspn(n + 5, ","),
				 n + 5);
		else if (!strcmp(a, "-append") && (p = strstr(n, "attack=")))
			snprintf(v->attack, sizeof(v->attack), "%.*s", (int)strcspn(p + 7, " "),
				 p + 7);
		if (!strcmp(a, "-append") && (p = strstr(n, "trap=")))
			snprintf(v->trap, sizeof(v->trap), "%.*s", (int)strcspn(p + 5, " "), p + 5);
	}
	return v->sock_path[0] && v->attack[0] ? 0 : -1;
}

/* A QMP socket that accepts connections into its backlog and never answers. */
static void qmp_mute(struct vmm *v)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	v->qmp_fd = -1;
	if (!v->qmp_path[0])
		return;
	strcpy(sa.sun_path, v->qmp_path);
	v->qmp_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(v->qmp_path);
	if (v->qmp_fd < 0 || bind(v->qmp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(v->qmp_fd, 4) < 0)
		perror("hostile-vmm: qmp");
}

int vmm_main(int argc, char **argv)
{
	struct vmm v = {0};
	int rc = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse(&v, argc, argv) < 0) {
		fprintf(stderr, "usage: pvnet-hostile vmm --socket PATH --attack NAME "
				"(or QEMU's -chardev/-qmp/-append attack=NAME)\n");
		return 2;
	}
	signal(SIGTERM, SIG_IGN); /* as a hostile VMM would: pvnetd has to SIGKILL it */
	signal(SIGPIPE, SIG_IGN);
	qmp_mute(&v);
	printf("hostile-vmm: attack=%s socket=%s pid=%ld\n", v.attack, v.sock_path, (long)getpid());
	if (!strcmp(v.attack, "half-header")) {
		printf("hostile-vmm: attack=half-header engaged\n");
		repeat(&v, round_half_header);
	} else if (!strcmp(v.attack, "huge-payload")) {
		printf("hostile-vmm: attack=huge-payload engaged\n");
		repeat(&v, round_huge_payload);
	} else if (!strcmp(v.attack, "fd-flood")) {
		printf("hostile-vmm: attack=fd-flood engaged\n");
		repeat(&v, round_fd_flood);
	} else if (!strcmp(v.attack, "no-read")) {
		printf("hostile-vmm: attack=no-read engaged\n");
		repeat(&v, round_no_read);
	} else if (!strcmp(v.attack, "mem-table")) {
		rc = attack_mem_table(&v);
	} else if (!strcmp(v.attack, "child-holds")) {
		rc = attack_child(&v, true);
	} else if (!strcmp(v.attack, "stall-child")) {
		rc = attack_child(&v, false);
	} else if (!strcmp(v.attack, "seal-lock")) {
		rc = attack_seal_lock(&v);
	} else if (!strcmp(v.attack, "qmp-link") && v.qmp_path[0] && v.trap[0]) {
		/* its QMP socket becomes a symlink to another socket of the host: pvnetd
		 * must not connect there (and write its quit) when it stops the domain */
		close(v.qmp_fd);
		unlink(v.qmp_path);
		if (symlink(v.trap, v.qmp_path) == 0)
			printf("hostile-vmm: attack=qmp-link engaged: %s -> %s\n", v.qmp_path,
			       v.trap);
	} else {
		printf("hostile-vmm: unknown attack '%s'\n", v.attack);
		return 2;
	}
	printf("hostile-vmm: attack=%s failed to start\n", v.attack);
	for (;;)
		pause(); /* a VMM that stays: pvnetd has to kill it */
	return rc;
}
