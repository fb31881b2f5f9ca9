/* SPDX-License-Identifier: MIT */
/*
 * vhost-user: the files a VMM hands over (contract in vsw_private.h): guest memory
 * that its VMM may shrink under us, and kick/call fds that must be eventfds.
 *
 * The port maps the VMM's memory files MAP_SHARED. If the VMM later truncates one,
 * every page beyond the new end of file raises SIGBUS on access, and an unhandled
 * SIGBUS kills pvnetd with every other guest. Two defences:
 *
 *  1. Sealing. A memfd created with MFD_ALLOW_SEALING gets F_SEAL_SHRINK when the
 *     port accepts it (SET_MEM_TABLE), so ftruncate() to a smaller size fails with
 *     EPERM for everyone, the VMM included. QEMU's memory-backend-memfd already
 *     seals (seal=on, the default); F_SEAL_GROW is not needed (growing is harmless).
 *  2. Recovery, for files that cannot be sealed (hugetlbfs and tmpfs files, memfds
 *     without MFD_ALLOW_SEALING): a process-wide SIGBUS handler, installed with the
 *     first guest memory (and put back by a later registration if someone replaced
 *     it meanwhile).
 *     When the faulting address lies in a registered guest region it maps anonymous
 *     zero pages over the whole region (MAP_FIXED: async-signal-safe, the range stays
 *     ours), sets the port's fault flag and returns, so the faulting load or store
 *     re-executes against the zero page. The port sees the flag on its next poll,
 *     drops the guest's traffic (guest_mem_fault) and disconnects the VMM. Any other
 *     SIGBUS goes to the handler that was installed before ours, or kills the
 *     process as SIG_DFL would.
 *
 * The region table is read by the signal handler, so it takes no lock there: a
 * fixed array of slots, each published through a sequence count (odd while a
 * writer changes it). Writers (register/unregister, never in a signal handler)
 * serialise on guard_lock. A fault in a region implies that region is live: the
 * faulting thread holds what keeps the mapping (the port's lock, or it is the
 * port thread that alone unmaps), so only a slot reused for some other region can
 * change under the handler, and the sequence count catches that.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/vswitch.h>

#include "vsw_private.h"

#define MOD "vhost"
#define GUARD_SLOTS 1024 /* mapped regions per process: QEMU hands over 1-2 per VMM, at most 8 */

struct guard_slot {
	uint32_t seq;    /* even: stable; odd: being rewritten */
	uintptr_t start; /* 0: free */
	size_t size;
	int *fault;  /* the port's flag, set to 1 on a fault */
	int wake_fd; /* eventfd written after a fault, or -1 */
};

static struct guard_slot slots[GUARD_SLOTS];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
/* The handler we chain to; written under guard_lock only while ours is not the
 * installed one (so it is not being read by a delivery of ours). */
static struct sigaction guard_prev;

/* Reads slot i consistently. true if it holds a region (copied to *out). */
static bool slot_read(unsigned i, struct guard_slot *out)
{
	for (;;) {
		struct guard_slot *s = &slots[i];
		/* acquire: the fields are read after the count that published them */
		uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if (seq & 1)
			return false; /* being written: not the region that faulted */
		out->start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
		out->size = __atomic_load_n(&s->size, __ATOMIC_RELAXED);
		out->fault = __atomic_load_n(&s->fault, __ATOMIC_RELAXED);
		out->wake_fd = __atomic_load_n(&s->wake_fd, __ATOMIC_RELAXED);
		/* acquire fence: the field reads complete before the count is read again */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq)
			return out->start != 0;
	}
}

static void slot_write(unsigned i, uintptr_t start, size_t size, int *fault, int wake_fd)
{
	struct guard_slot *s = &slots[i];
	uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
	/* release fence: the odd count is visible before any field changes */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&s->size, size, __ATOMIC_RELAXED);
	__atomic_store_n(&s->fault, fault, __ATOMIC_RELAXED);
	__atomic_store_n(&s->wake_fd, wake_fd, __ATOMIC_RELAXED);
	/* release: the fields are visible before the even count that publishes them */
	__atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

/* Hands a SIGBUS that is not ours to whoever had it before us. (A previous
 * handler that chains back to ours, having replaced it before we were put back,
 * would recurse until the stack overflows: the process dies either way.) */
static void guard_chain(int sig, siginfo_t *si, void *uc)
{
	if (guard_prev.sa_flags & SA_SIGINFO) {
		if (guard_prev.sa_sigaction) {
			guard_prev.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (guard_prev.sa_handler == SIG_IGN) {
		if (si->si_code <= 0)
			return; /* sent by kill()/raise(): ignored, as it was before us */
	} else if (guard_prev.sa_handler != SIG_DFL) {
		guard_prev.sa_handler(sig);
		return;
	}
	/* SIG_DFL (an ignored SIGBUS from a fault would only re-fault forever): the
	 * default action, delivered as soon as this handler returns */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	uintptr_t a = (uintptr_t)si->si_addr;

	/* si_code > 0: raised by the kernel for an access, si_addr is meaningful */
	if (si->si_code > 0) {
		for (unsigned i = 0; i < GUARD_SLOTS; i++) {
			struct guard_slot s;
			if (!slot_read(i, &s) || a - s.start >= s.size)
				continue;
			if (mmap((void *)s.start, s.size, PROT_READ | PROT_WRITE,
				 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
				break; /* cannot recover: as if it were not ours */
			__atomic_store_n(s.fault, 1, __ATOMIC_RELEASE);
			if (s.wake_fd >= 0) {
				uint64_t one = 1;
				if (write(s.wake_fd, &one, sizeof(one)) < 0) {
					/* the port still sees the flag on its next poll */
				}
			}
			errno = saved_errno;
			return; /* the access re-executes against the zero page */
		}
	}
	errno = saved_errno;
	guard_chain(sig, si, uc);
}

/*
 * Installs the handler unless it is the one in place. Normally that happens once,
 * for the first guest memory; checking again on every registration puts it back
 * (chaining to the newcomer) if other code replaced it since (a library, a test
 * framework that sets its own handler around each test). Under guard_lock.
 */
static int guard_install(void)
{
	struct sigaction cur, sa;

	if (sigaction(SIGBUS, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == guard_handler)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	guard_prev = cur;
	if (sigaction(SIGBUS, &sa, NULL) < 0) {
		PVLOG(ERR, MOD, "cannot install the SIGBUS handler: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Adds F_SEAL_SHRINK to memfd `fd` if it allows sealing. true if the file cannot
 * shrink now (sealed by us or already by the VMM). Called with a shmem or
 * hugetlbfs file (F_GET_SEALS works on them). */
static bool mem_seal(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return false;
	if (!(seals & F_SEAL_SHRINK) && !(seals & F_SEAL_SEAL))
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
	/* check what holds now, whoever added it (QEMU seals its own memfds) */
	seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & F_SEAL_SHRINK);
}

static int mem_guard(void *start, size_t size, int *fault, int wake_fd)
{
	int rc;

	if (!start || !size || !fault)
		return -EINVAL;
	pthread_mutex_lock(&guard_lock);
	rc = guard_install();
	if (rc < 0)
		goto unlock;
	rc = -ENOSPC;
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		if (__atomic_load_n(&slots[i].start, __ATOMIC_RELAXED) == 0) {
			slot_write(i, (uintptr_t)start, size, fault, wake_fd);
			rc = 0;
			break;
		}
	}
unlock:
	pthread_mutex_unlock(&guard_lock);
	return rc;
}

static void mem_unguard(void *start)
{
	if (!start)
		return;
	pthread_mutex_lock(&guard_lock);
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		if (__atomic_load_n(&slots[i].start, __ATOMIC_RELAXED) == (uintptr_t)start) {
			slot_write(i, 0, 0, NULL, -1);
			break;
		}
	}
	pthread_mutex_unlock(&guard_lock);
}

int vsw_vhost_region_map(struct vsw_vhost_region *r, int fd, uint64_t mmap_offset, int *fault,
			 int wake_fd, bool *sealed)
{
	struct stat st;
	size_t map_size;
	void *map;
	int rc;

	if (!r->size || mmap_offset > SIZE_MAX - r->size || r->gpa > UINT64_MAX - r->size ||
	    r->uva > UINT64_MAX - r->size)
		return -EINVAL;
	/*
	 * Memory files only: memfd, tmpfs and hugetlbfs, the files F_GET_SEALS answers
	 * for (without asking any file system daemon). Anything else could block the
	 * threads that touch guest memory: pages of a FUSE file fault into its daemon,
	 * a device or a disk file has its own semantics.
	 */
	if (fcntl(fd, F_GET_SEALS) < 0)
		return -EBADF;
	/* sealed first, so the size checked below is one the file keeps */
	*sealed = mem_seal(fd);
	/* a region beyond the end of its file would map, then fault on first use */
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0 || (uint64_t)st.st_size < mmap_offset + r->size)
		return -EINVAL;
	map_size = r->size + mmap_offset;
	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	rc = mem_guard(map, map_size, fault, wake_fd);
	if (rc < 0) {
		munmap(map, map_size);
		return rc;
	}
	r->host = (uint8_t *)map + mmap_offset;
	r->map = map;
	r->map_size = map_size;
	return 0;
}

void vsw_vhost_region_unmap(struct vsw_vhost_region *r)
{
	/* out of the handler's table before the range can be reused */
	mem_unguard(r->map);
	munmap(r->map, r->map_size);
	r->map = NULL;
	r->host = NULL;
}

/*
 * A kick or call fd is read and written as an eventfd: any other file would be
 * written into (a memory file: 8 bytes of the VMM's memory at its file offset,
 * what fuzz_vhost's guard page caught), or block the switch thread that signals
 * the guest (a full pipe). One readlink per SET_VRING_KICK/CALL, control path only.
 */
bool vsw_vhost_fd_is_eventfd(int fd)
{
	char path[40], target[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return access("/proc/self/fd", F_OK) != 0; /* no /proc: cannot tell */
	target[n] = 0;
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}
