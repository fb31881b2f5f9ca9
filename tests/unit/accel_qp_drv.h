/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/accel_qp_drv.h - a driver's side of one accelerator queue pair,
 * for the plugin tests (test_simnic, test_accel_dpdk): map the ring memory the
 * framework hands out (accel_attach_map_qp), post TX packets and RX buffers,
 * reap completions, look up counters. Include after <cmocka.h> and
 * <pvnet/accel.h>; cmocka assertions end the test on any failure.
 */
#ifndef PVNET_TEST_ACCEL_QP_DRV_H
#define PVNET_TEST_ACCEL_QP_DRV_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Attaches a vif (IOMMU quota 64 pages, rings of 64) to dev. */
static inline struct accel_attach *drv_vif(struct accel_device *dev, uint32_t domid, uint32_t level,
					   const uint8_t *mac, uint32_t queues, uint32_t qp_flags)
{
	struct accel_vif_config c = {.domid = domid,
				     .level = level,
				     .queues = queues,
				     .iommu_quota = 64,
				     .ring_len = 64,
				     .qp_flags = qp_flags};
	struct accel_attach *a = NULL;

	memcpy(c.mac, mac, 6);
	assert_int_equal(accel_attach_create(dev, &c, &a), 0);
	return a;
}

/* `n` zeroed "guest" pages registered at `iova` (writable by the device or
 * not). The memory is stored in *slot before anything can fail; the caller
 * frees it after closing the device. */
static inline uint8_t *drv_pages(struct accel_attach *a, uint64_t iova, uint32_t n, int writable,
				 void **slot)
{
	uint8_t *p = aligned_alloc(ACCEL_PAGE_SIZE, (size_t)n * ACCEL_PAGE_SIZE);
	struct accel_mem_region r = {.iova = iova,
				     .host = p,
				     .size = n * ACCEL_PAGE_SIZE,
				     .flags = writable ? ACCEL_MEM_F_WRITABLE : 0};

	assert_non_null(p);
	*slot = p;
	memset(p, 0, (size_t)n * ACCEL_PAGE_SIZE);
	assert_int_equal(accel_attach_mem_register(a, &r, 1), 0);
	return p;
}

/* A driver's view of one mapped queue pair. */
struct drv {
	struct accel_qp_map m;
	void *mem;
	struct accel_qp_shared *sh;
	struct accel_desc *tx, *rx;
	uint32_t tx_prod, tx_cons, rx_prod, rx_cons;
};

/* Maps queue pair `qid` of `a` as domain `domid` would. */
static inline void drv_map(struct accel_attach *a, uint32_t qid, uint32_t domid, struct drv *d)
{
	memset(d, 0, sizeof(*d));
	assert_int_equal(accel_attach_map_qp(a, qid, domid, &d->m), 0);
	d->mem = mmap(NULL, d->m.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->m.mem_fd, 0);
	assert_true(d->mem != MAP_FAILED);
	d->sh = d->mem;
	d->tx = (struct accel_desc *)((uint8_t *)d->mem + d->m.tx_ring_off);
	d->rx = (struct accel_desc *)((uint8_t *)d->mem + d->m.rx_ring_off);
}

static inline void drv_unmap(struct drv *d)
{
	munmap(d->mem, d->m.mem_size);
	close(d->m.mem_fd);
	close(d->m.doorbell_fd);
	close(d->m.irq_fd);
}

/* Publishes one TX slot. */
static inline void drv_tx(struct drv *d, uint64_t iova, uint16_t len, uint16_t flags, uint32_t id)
{
	d->tx[d->tx_prod & (d->m.ring_len - 1)] =
		(struct accel_desc){.iova = iova, .len = len, .flags = flags, .id = id};
	d->tx_prod++;
	accel_ring_store(&d->sh->tx_prod, d->tx_prod);
}

/* Posts one RX buffer. */
static inline void drv_rx_post(struct drv *d, uint64_t iova, uint16_t len, uint32_t id)
{
	d->rx[d->rx_prod & (d->m.ring_len - 1)] =
		(struct accel_desc){.iova = iova, .len = len, .id = id};
	d->rx_prod++;
	accel_ring_store(&d->sh->rx_prod, d->rx_prod);
}

/* Next RX completion, or NULL. */
static inline const struct accel_desc *drv_rx_next(struct drv *d)
{
	if (d->rx_cons == accel_ring_load(&d->sh->rx_cons))
		return NULL;
	return &d->rx[d->rx_cons++ & (d->m.ring_len - 1)];
}

/* Next TX completion, or NULL. */
static inline const struct accel_desc *drv_tx_next(struct drv *d)
{
	if (d->tx_cons == accel_ring_load(&d->sh->tx_cons))
		return NULL;
	return &d->tx[d->tx_cons++ & (d->m.ring_len - 1)];
}

/* The value of counter `name` among the first n (at most max) of st; fails the
 * test when there is none. */
static inline uint64_t drv_stat_of(const struct accel_stat *st, int n, int max, const char *name)
{
	for (int i = 0; i < n && i < max; i++)
		if (strcmp(st[i].name, name) == 0)
			return st[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

#endif /* PVNET_TEST_ACCEL_QP_DRV_H */
