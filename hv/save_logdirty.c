/* SPDX-License-Identifier: MIT */
/*
 * hv/save_logdirty.c - log-dirty for pre-copy migration (pvnet/migrate.h):
 * the hypervisor's log of dom0's writes into a guest and the shared log the
 * guest library fills with its own writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvnet/migrate.h>

#include "hv_private.h"

struct hv_logdirty {
	uint64_t *dom0; /* MIG_LOG_WORDS(nr_frames): frames dom0 wrote */
	int mem_fd;     /* the shared log */
	struct mig_logdirty_shared *shared;
	size_t size;
	int kick_fd;
};

static void ld_free(struct hv_logdirty *ld)
{
	if (!ld)
		return;
	if (ld->shared)
		munmap(ld->shared, ld->size);
	if (ld->mem_fd >= 0)
		close(ld->mem_fd);
	if (ld->kick_fd >= 0)
		close(ld->kick_fd);
	free(ld->dom0);
	free(ld);
}

void hv_logdirty_free(struct hv_domain *d)
{
	ld_free(d->ld);
	d->ld = NULL;
}

void hv_logdirty_mark(struct hv_domain *d, uint32_t frame)
{
	if (d->ld && frame < d->nr_frames)
		d->ld->dom0[frame / 64] |= 1ull << (frame % 64);
}

int hv_logdirty_fds(struct hv_domain *d, int *fds)
{
	fds[0] = fcntl(d->ld->mem_fd, F_DUPFD_CLOEXEC, 0);
	fds[1] = fcntl(d->ld->kick_fd, F_DUPFD_CLOEXEC, 0);
	if (fds[0] < 0 || fds[1] < 0) {
		int ret = -errno;
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return ret;
	}
	return 0;
}

int hv_logdirty_start(struct hv *hv, uint16_t domid)
{
	struct hv_domain *d = hv_domain_get(hv, domid);
	struct hv_logdirty *ld = NULL;
	int ret;

	if (!d)
		return -ENOENT;
	if (!d->mem) {
		ret = -EINVAL;
		goto put;
	}
	ld = calloc(1, sizeof(*ld));
	if (!ld) {
		ret = -ENOMEM;
		goto put;
	}
	ld->mem_fd = ld->kick_fd = -1;
	ld->size = MIG_LOG_SIZE(d->nr_frames);
	ld->dom0 = calloc(MIG_LOG_WORDS(d->nr_frames), 8);
	ld->mem_fd = memfd_create("pvnet-logdirty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ld->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!ld->dom0 || ld->mem_fd < 0 || ld->kick_fd < 0 ||
	    ftruncate(ld->mem_fd, (off_t)ld->size) < 0 ||
	    fcntl(ld->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		ret = ld->dom0 ? -errno : -ENOMEM;
		goto fail;
	}
	ld->shared = mmap(NULL, ld->size, PROT_READ | PROT_WRITE, MAP_SHARED, ld->mem_fd, 0);
	if (ld->shared == MAP_FAILED) {
		ld->shared = NULL;
		ret = -errno;
		goto fail;
	}
	ld->shared->magic = MIG_LOG_MAGIC;
	ld->shared->nr_frames = d->nr_frames;
	pthread_mutex_lock(&d->grant_lock);
	ret = d->ld ? -EBUSY : 0;
	if (!ret)
		d->ld = ld;
	pthread_mutex_unlock(&d->grant_lock);
	if (ret < 0)
		goto fail;
	hv_domain_put(d);
	return 0;

fail:
	ld_free(ld);
put:
	hv_domain_put(d);
	return ret;
}

void hv_logdirty_stop(struct hv *hv, uint16_t domid)
{
	struct hv_domain *d = hv_domain_get(hv, domid);
	struct hv_logdirty *ld;

	if (!d)
		return;
	pthread_mutex_lock(&d->grant_lock);
	ld = d->ld;
	d->ld = NULL;
	pthread_mutex_unlock(&d->grant_lock);
	ld_free(ld);
	hv_domain_put(d);
}

struct mig_logdirty_shared *hv_logdirty_shared(struct hv *hv, uint16_t domid, int *kick_fd)
{
	struct hv_domain *d = hv_domain_get(hv, domid);
	struct mig_logdirty_shared *s = NULL;

	if (!d)
		return NULL;
	pthread_mutex_lock(&d->grant_lock);
	if (d->ld) {
		s = d->ld->shared;
		*kick_fd = d->ld->kick_fd;
	}
	pthread_mutex_unlock(&d->grant_lock);
	hv_domain_put(d);
	return s; /* stays mapped until hv_logdirty_stop, which the same caller makes */
}

int hv_logdirty_harvest_dom0(struct hv *hv, uint16_t domid, uint64_t *bits)
{
	struct hv_domain *d = hv_domain_get(hv, domid);
	uint64_t words;

	if (!d)
		return -ENOENT;
	words = MIG_LOG_WORDS(d->nr_frames);
	pthread_mutex_lock(&d->grant_lock);
	if (d->ld) {
		for (uint64_t i = 0; i < words; i++) {
			bits[i] |= d->ld->dom0[i];
			d->ld->dom0[i] = 0;
		}
		/* still pinned writable: dom0 may write it until the unpin (Xen: dirty until unmapped) */
		for (uint32_t r = 0; r < d->nr_grant_entries; r++)
			if (d->active[r].wr_pins && d->active[r].frame < d->nr_frames)
				bits[d->active[r].frame / 64] |= 1ull << (d->active[r].frame % 64);
	}
	pthread_mutex_unlock(&d->grant_lock);
	hv_domain_put(d);
	return 0;
}
