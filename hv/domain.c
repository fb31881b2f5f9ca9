/* SPDX-License-Identifier: MIT */
/*
 * hv/domain.c - the hypervisor object, domains, their memory and lifetime.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/quota.h>

#include "hv_private.h"

static bool name_valid(const char *name)
{
	size_t i, n = strnlen(name, HV_NAME_MAX);

	if (n == 0 || n == HV_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* A sealed memfd of `size` bytes mapped shared; the seals stop a guest that
 * holds a dup from shrinking it under pvnetd (which would SIGBUS the daemon). */
static int memfd_map(const char *tag, domid_t domid, uint64_t size, int *fd_out, void **map_out)
{
	char name[48];
	void *map;
	int fd, ret;

	snprintf(name, sizeof(name), "pvnet-dom%u-%s", domid, tag);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		ret = -errno;
		goto close_fd;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto close_fd;
	}
	*fd_out = fd;
	*map_out = map;
	return 0;

close_fd:
	close(fd);
	return ret;
}

static void domain_free(struct hv_domain *d)
{
	if (!d)
		return;
	if (d->mem)
		munmap(d->mem, d->mem_size);
	if (d->gnt)
		munmap(d->gnt, (size_t)d->nr_grant_frames * HV_PAGE_SIZE);
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	if (d->gnt_fd >= 0)
		close(d->gnt_fd);
	free(d->active);
	free(d->populated);
	free(d->frame_pins);
	free(d->mt);
	free(d->ports); /* normally already freed by hv_evtchn_detach */
	hv_logdirty_free(d);
	pthread_mutex_destroy(&d->grant_lock);
	pthread_mutex_destroy(&d->maptrack_lock);
	free(d);
}

/* An adopted memfd (hv_domain_adopt): sealed, of exactly `size`; dup'ed and mapped. */
static int memfd_adopt(int fd, uint64_t size, int *fd_out, void **map_out)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS), ret;
	void *map;

	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
	    (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return -EINVAL;
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*fd_out = fd;
	*map_out = map;
	return 0;
}

/* Builds a domain; cfg NULL builds dom0 (no memory, no grant table); adopt: the
 * memory and grant-table memfds of a re-adopted domain, NULL for new ones. */
static int domain_alloc(struct hv *hv, const struct hv_domain_config *cfg, domid_t domid,
			const int *adopt, struct hv_domain **out)
{
	struct hv_domain *d;
	void *map;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->hv = hv;
	d->domid = domid;
	d->refcnt = 1;
	d->mem_fd = d->gnt_fd = -1;
	d->mt_free = HV_MT_NONE;
	d->mt_limit = HV_DEFAULT_MAPTRACK;
	pthread_mutex_init(&d->grant_lock, NULL);
	pthread_mutex_init(&d->maptrack_lock, NULL);
	if (!cfg) {
		d->mt_limit = HV_DOM0_MAPTRACK;
		strcpy(d->name, "Domain-0");
		*out = d;
		return 0;
	}
	memcpy(d->name, cfg->name, HV_NAME_MAX);
	d->mem_size = cfg->mem_size;
	d->nr_frames = (uint32_t)(cfg->mem_size / HV_PAGE_SIZE);
	d->nr_grant_frames = cfg->nr_grant_frames ? cfg->nr_grant_frames : HV_DEFAULT_GRANT_FRAMES;
	d->nr_grant_entries = d->nr_grant_frames * (uint32_t)GNTTAB_ENTRIES_PER_FRAME;

	ret = adopt ? memfd_adopt(adopt[0], d->mem_size, &d->mem_fd, &map)
		    : memfd_map("mem", domid, d->mem_size, &d->mem_fd, &map);
	if (ret < 0)
		goto fail;
	d->mem = map;
	ret = adopt ? memfd_adopt(adopt[1], (uint64_t)d->nr_grant_frames * HV_PAGE_SIZE, &d->gnt_fd,
				  &map)
		    : memfd_map("gnttab", domid, (uint64_t)d->nr_grant_frames * HV_PAGE_SIZE,
				&d->gnt_fd, &map);
	if (ret < 0)
		goto fail;
	d->gnt = map;
	d->active = calloc(d->nr_grant_entries, sizeof(*d->active));
	d->populated = malloc(((size_t)d->nr_frames + 63) / 64 * sizeof(uint64_t));
	d->frame_pins = calloc(d->nr_frames, sizeof(*d->frame_pins));
	if (!d->active || !d->populated || !d->frame_pins) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Every frame starts populated. */
	memset(d->populated, 0xff, ((size_t)d->nr_frames + 63) / 64 * sizeof(uint64_t));
	*out = d;
	return 0;

fail:
	domain_free(d);
	return ret;
}

struct hv_domain *hv_domain_get(struct hv *hv, domid_t domid)
{
	struct hv_domain *d = NULL;

	if (domid > HV_MAX_DOMID)
		return NULL;
	pthread_mutex_lock(&hv->lock);
	d = hv->doms[domid];
	if (d && !d->dying)
		__atomic_add_fetch(&d->refcnt, 1, __ATOMIC_RELAXED);
	else
		d = NULL;
	pthread_mutex_unlock(&hv->lock);
	return d;
}

void hv_domain_put_n(struct hv_domain *d, unsigned n)
{
	if (!d || !n)
		return;
	/* acq_rel: every use of the domain by other threads happens before the free. */
	if (__atomic_sub_fetch(&d->refcnt, (int)n, __ATOMIC_ACQ_REL) == 0)
		domain_free(d);
}

void hv_domain_put(struct hv_domain *d)
{
	hv_domain_put_n(d, 1);
}

int hv_create(struct hv **out)
{
	struct hv *hv;
	struct hv_domain *d0 = NULL;
	int ret;

	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	pthread_mutex_init(&hv->lock, NULL);
	pthread_mutex_init(&hv->evtchn_lock, NULL);
	hv->next_domid = 1;
	hv->limits[HV_LIMIT_EVTCHNS] = HV_DEFAULT_EVTCHN_LIMIT;
	hv->limits[HV_LIMIT_GNT_MAPS] = HV_DEFAULT_GNT_MAPS_LIMIT;
	ret = domain_alloc(hv, NULL, 0, NULL, &d0);
	if (ret < 0)
		goto free_hv;
	ret = hv_evtchn_attach(hv, d0, HV_DOM0_MAX_EVTCHNS);
	if (ret < 0)
		goto free_d0;
	hv->doms[0] = d0;
	*out = hv;
	return 0;

free_d0:
	domain_free(d0);
free_hv:
	pthread_mutex_destroy(&hv->lock);
	pthread_mutex_destroy(&hv->evtchn_lock);
	free(hv);
	return ret;
}

/* Tears down a domain already removed from the table (dying set). */
static void domain_teardown(struct hv *hv, struct hv_domain *d)
{
	hv_evtchn_detach(hv, d);
	hv_gnttab_release_maps(d);
	hv_domain_put(d); /* the table's reference */
}

void hv_destroy(struct hv *hv)
{
	unsigned i;

	if (!hv)
		return;
	for (i = 1; i <= HV_MAX_DOMID; i++)
		if (hv->doms[i])
			hv_domain_destroy(hv, (domid_t)i);
	if (hv->doms[0]) {
		struct hv_domain *d0 = hv->doms[0];
		pthread_mutex_lock(&hv->lock);
		hv->doms[0] = NULL;
		d0->dying = true;
		pthread_mutex_unlock(&hv->lock);
		domain_teardown(hv, d0);
	}
	pthread_mutex_destroy(&hv->lock);
	pthread_mutex_destroy(&hv->evtchn_lock);
	free(hv);
}

int hv_domain_create(struct hv *hv, const struct hv_domain_config *cfg, domid_t *domid)
{
	struct hv_domain *d = NULL;
	unsigned i, id = 0;
	uint32_t evtchns;
	int ret;

	if (!cfg || !name_valid(cfg->name) || cfg->mem_size < HV_PAGE_SIZE ||
	    cfg->mem_size % HV_PAGE_SIZE || cfg->mem_size > HV_MAX_MEM_SIZE ||
	    cfg->nr_grant_frames > HV_MAX_GRANT_FRAMES || cfg->max_evtchns > HV_MAX_EVTCHNS ||
	    cfg->max_evtchns == 1)
		return -EINVAL;
	evtchns = cfg->max_evtchns ? cfg->max_evtchns : HV_DEFAULT_MAX_EVTCHNS;

	/* Pick the id and reserve the name under the lock, build outside it. */
	pthread_mutex_lock(&hv->lock);
	for (i = 0; i <= HV_MAX_DOMID; i++) {
		struct hv_domain *o = hv->doms[i];
		if (o && strncmp(o->name, cfg->name, HV_NAME_MAX) == 0) {
			pthread_mutex_unlock(&hv->lock);
			return -EEXIST;
		}
	}
	for (i = 0; i < HV_MAX_DOMID; i++) {
		unsigned cand = (hv->next_domid - 1 + i) % HV_MAX_DOMID + 1;
		if (!hv->doms[cand]) {
			id = cand;
			break;
		}
	}
	pthread_mutex_unlock(&hv->lock);
	if (!id)
		return -ENOSPC;

	ret = domain_alloc(hv, cfg, (domid_t)id, NULL, &d);
	if (ret < 0)
		return ret;

	pthread_mutex_lock(&hv->lock);
	/* Re-check: another thread may have taken the id or the name meanwhile. */
	ret = hv->doms[id] ? -EAGAIN : 0;
	for (i = 0; !ret && i <= HV_MAX_DOMID; i++)
		if (hv->doms[i] && strncmp(hv->doms[i]->name, cfg->name, HV_NAME_MAX) == 0)
			ret = -EEXIST;
	if (!ret) {
		d->dying = true; /* invisible to hv_domain_get until its ports exist */
		hv->doms[id] = d;
		hv->next_domid = (domid_t)(id % HV_MAX_DOMID + 1);
	}
	pthread_mutex_unlock(&hv->lock);
	if (ret < 0)
		goto free_d;

	ret = hv_evtchn_attach(hv, d, evtchns);
	pthread_mutex_lock(&hv->lock);
	if (ret < 0)
		hv->doms[id] = NULL;
	else
		d->dying = false;
	pthread_mutex_unlock(&hv->lock);
	if (ret < 0)
		goto free_d;
	PVLOG(INFO, "hv", "domain %u '%s' created: %llu KiB, %u grant entries, %u ports", id,
	      d->name, (unsigned long long)(d->mem_size >> 10), d->nr_grant_entries, evtchns);
	*domid = (domid_t)id;
	return 0;

free_d:
	domain_free(d);
	return ret;
}

int hv_domain_adopt(struct hv *hv, const struct hv_domain_config *cfg, domid_t domid, int mem_fd,
		    int gnt_fd)
{
	const int fds[2] = {mem_fd, gnt_fd};
	struct hv_domain *d = NULL;
	int ret = 0;

	if (!cfg || !name_valid(cfg->name) || cfg->mem_size < HV_PAGE_SIZE ||
	    cfg->mem_size % HV_PAGE_SIZE || cfg->mem_size > HV_MAX_MEM_SIZE ||
	    cfg->nr_grant_frames > HV_MAX_GRANT_FRAMES || cfg->max_evtchns || domid == 0 ||
	    domid > HV_MAX_DOMID)
		return -EINVAL;
	ret = domain_alloc(hv, cfg, domid, fds, &d);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&hv->lock);
	for (unsigned i = 0; !ret && i <= HV_MAX_DOMID; i++)
		if (hv->doms[i] &&
		    (i == domid || !strncmp(hv->doms[i]->name, cfg->name, HV_NAME_MAX)))
			ret = -EEXIST;
	if (!ret) {
		d->dying = true; /* invisible to hv_domain_get until its ports exist */
		hv->doms[domid] = d;
	}
	pthread_mutex_unlock(&hv->lock);
	if (ret < 0)
		goto free_d;
	ret = hv_evtchn_attach(hv, d, HV_DEFAULT_MAX_EVTCHNS);
	pthread_mutex_lock(&hv->lock);
	if (ret < 0)
		hv->doms[domid] = NULL;
	else
		d->dying = false;
	pthread_mutex_unlock(&hv->lock);
	if (ret < 0)
		goto free_d;
	hv_domain_reserve_ids(hv, domid);
	PVLOG(INFO, "hv", "domain %u '%s' re-adopted: %llu KiB, %u grant entries", domid, d->name,
	      (unsigned long long)(d->mem_size >> 10), d->nr_grant_entries);
	return 0;

free_d:
	domain_free(d);
	return ret;
}

void hv_domain_reserve_ids(struct hv *hv, domid_t domid)
{
	pthread_mutex_lock(&hv->lock);
	if (domid >= hv->next_domid && domid <= HV_MAX_DOMID)
		hv->next_domid = (domid_t)(domid % HV_MAX_DOMID + 1);
	pthread_mutex_unlock(&hv->lock);
}

int hv_domain_destroy(struct hv *hv, domid_t domid)
{
	struct hv_domain *d;

	if (domid == 0)
		return -EPERM;
	if (domid > HV_MAX_DOMID)
		return -ENOENT;
	pthread_mutex_lock(&hv->lock);
	d = hv->doms[domid];
	if (!d || d->dying) {
		pthread_mutex_unlock(&hv->lock);
		return -ENOENT;
	}
	d->dying = true;
	hv->doms[domid] = NULL;
	pthread_mutex_unlock(&hv->lock);
	PVLOG(INFO, "hv", "domain %u '%s' destroyed", domid, d->name);
	domain_teardown(hv, d);
	return 0;
}

int hv_domain_lookup(struct hv *hv, const char *name, domid_t *domid)
{
	unsigned i;
	int ret = -ENOENT;

	if (!name)
		return -EINVAL;
	pthread_mutex_lock(&hv->lock);
	for (i = 0; i <= HV_MAX_DOMID; i++) {
		struct hv_domain *d = hv->doms[i];
		if (d && !d->dying && strncmp(d->name, name, HV_NAME_MAX) == 0) {
			*domid = (domid_t)i;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&hv->lock);
	return ret;
}

static void fill_info(struct hv *hv, struct hv_domain *d, struct hv_domain_info *info)
{
	memset(info, 0, sizeof(*info));
	info->domid = d->domid;
	memcpy(info->name, d->name, HV_NAME_MAX);
	info->mem_size = d->mem_size;
	info->nr_grant_entries = d->nr_grant_entries;
	pthread_mutex_lock(&d->maptrack_lock);
	info->nr_maps = d->mt_used;
	pthread_mutex_unlock(&d->maptrack_lock);
	pthread_mutex_lock(&d->grant_lock);
	info->nr_mapped = d->nr_mapped;
	info->maps_refused = d->maps_refused;
	pthread_mutex_unlock(&d->grant_lock);
	info->nr_ports_bound = hv_evtchn_nr_bound(hv, d, &info->evtchn_refused);
	info->dying = d->dying;
}

int hv_domain_get_info(struct hv *hv, domid_t domid, struct hv_domain_info *info)
{
	struct hv_domain *d = hv_domain_get(hv, domid);

	if (!d)
		return -ENOENT;
	fill_info(hv, d, info);
	hv_domain_put(d);
	return 0;
}

int hv_domain_list(struct hv *hv, struct hv_domain_info *infos, unsigned max)
{
	unsigned i, n = 0;

	for (i = 0; i <= HV_MAX_DOMID && n < max; i++) {
		struct hv_domain *d = hv_domain_get(hv, (domid_t)i);
		if (!d)
			continue;
		fill_info(hv, d, &infos[n++]);
		hv_domain_put(d);
	}
	return (int)n;
}

int hv_domain_fds(struct hv *hv, domid_t domid, int *mem_fd, int *gnt_fd)
{
	struct hv_domain *d = hv_domain_get(hv, domid);
	int m = -1, g = -1, ret = 0;

	if (!d)
		return -ENOENT;
	if (d->mem_fd < 0) {
		ret = -EINVAL; /* dom0 has no guest memory */
		goto put;
	}
	m = fcntl(d->mem_fd, F_DUPFD_CLOEXEC, 0);
	g = fcntl(d->gnt_fd, F_DUPFD_CLOEXEC, 0);
	if (m < 0 || g < 0) {
		ret = -errno;
		if (m >= 0)
			close(m);
		if (g >= 0)
			close(g);
		goto put;
	}
	*mem_fd = m;
	*gnt_fd = g;
put:
	hv_domain_put(d);
	return ret;
}

int hv_domain_set_max_maptrack(struct hv *hv, domid_t domid, uint32_t limit)
{
	struct hv_domain *d;

	if (limit == 0 || limit > (domid == 0 ? HV_DOM0_MAPTRACK : HV_DEFAULT_MAPTRACK))
		return -EINVAL;
	d = hv_domain_get(hv, domid);
	if (!d)
		return -ENOENT;
	pthread_mutex_lock(&d->maptrack_lock);
	d->mt_limit = limit;
	pthread_mutex_unlock(&d->maptrack_lock);
	hv_domain_put(d);
	return 0;
}

int hv_set_limit(struct hv *hv, enum hv_limit which, uint32_t value)
{
	if ((unsigned)which >= HV_LIMIT__MAX || value == 0)
		return -EINVAL;
	__atomic_store_n(&hv->limits[which], value, __ATOMIC_RELAXED);
	return 0;
}

uint32_t hv_get_limit(struct hv *hv, enum hv_limit which)
{
	return (unsigned)which < HV_LIMIT__MAX ? hv_limit_of(hv, which) : 0;
}

void hv_set_quota(struct hv *hv, struct quota_ledger *q)
{
	__atomic_store_n(&hv->quota, q, __ATOMIC_RELEASE);
}

void hv_note_refusal(struct hv *hv, enum hv_limit which)
{
	struct quota_ledger *q = __atomic_load_n(&hv->quota, __ATOMIC_ACQUIRE);

	if (q)
		quota_note_refusal(q, which == HV_LIMIT_EVTCHNS ? QUOTA_EVTCHNS : QUOTA_GNT_MAPS);
}

void hv_set_xs_connector(struct hv *hv, hv_xs_connect_fn fn, void *arg)
{
	pthread_mutex_lock(&hv->lock);
	hv->xs_connect = fn;
	hv->xs_arg = arg;
	pthread_mutex_unlock(&hv->lock);
}

int hv_frame_unpopulate(struct hv_domain *d, uint64_t pfn)
{
	/* Punching the hole frees the page; later reads see zeroes, never SIGBUS. */
	if (fallocate(d->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(pfn * HV_PAGE_SIZE), HV_PAGE_SIZE) < 0) {
		int ret = -errno;
		PVLOG_RL(ERR, "hv", "dom%u: punching frame %llu failed: %d", d->domid,
			 (unsigned long long)pfn, ret);
		/* Still give the frame away: its old contents must not leak. */
		memset(d->mem + pfn * HV_PAGE_SIZE, 0, HV_PAGE_SIZE);
	}
	hv_frame_set_populated(d, pfn, false);
	return 0;
}

int hv_decrease_reservation(struct hv *hv, domid_t domid, xen_pfn_t pfn)
{
	struct hv_domain *d = hv_domain_get(hv, domid);
	int ret = 0;

	if (!d)
		return -ENOENT;
	if (pfn >= d->nr_frames) {
		ret = -EINVAL;
		goto put;
	}
	pthread_mutex_lock(&d->grant_lock);
	if (d->frame_pins[pfn])
		ret = -EBUSY;
	else if (hv_frame_populated(d, pfn))
		ret = hv_frame_unpopulate(d, pfn);
	pthread_mutex_unlock(&d->grant_lock);
put:
	hv_domain_put(d);
	return ret;
}
