/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a hostile Level-2/3 guest writes its accelerator queue pair.
 * The guest owns the descriptor rings and their producer indices (memory it maps
 * from the qp's memfd); simnic parses them inside pvnetd. The input fills the TX
 * and RX rings, the producer indices and the guest's registered pages; the
 * device polls; nothing may crash, leak or touch memory outside what the guest
 * registered (ASan/UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/accel.h>

#define PAGES 8

static uint64_t fz_now;
static uint64_t fz_clock(void *ctx)
{
	(void)ctx;
	return fz_now += 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = {0x00, 0x16, 0x3e, 0, 0, 0x0a};
	struct accel_host host = {.size = sizeof(host), .now_ns = fz_clock};
	struct accel_open_args oa = {.wire_fd = -1, .flags = ACCEL_OPEN_F_NO_THREAD, .max_vfs = 2};
	struct accel_vif_config c = {.domid = 5, .queues = 1, .iommu_quota = 64, .ring_len = 64};
	struct accel_registry *reg = NULL;
	struct accel_device *dev = NULL;
	struct accel_attach *a = NULL;
	struct accel_qp_map m;
	struct accel_mem_region r;
	uint8_t *pages = NULL, *mem;
	int wire[2] = {-1, -1};

	if (size < 4)
		return 0;
	c.level = 2 + (data[0] & 1); /* Level 2 queue pair or a Level 3 VF */
	memcpy(c.mac, mac, 6);
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, wire) < 0)
		return 0;
	oa.wire_fd = wire[0];
	if (accel_registry_create(&reg) || accel_register_builtins(reg) ||
	    accel_device_open(reg, "simnic", &host, &oa, &dev) || accel_attach_create(dev, &c, &a))
		goto out;
	pages = aligned_alloc(ACCEL_PAGE_SIZE, PAGES * ACCEL_PAGE_SIZE);
	if (!pages)
		goto out;
	memset(pages, 0, PAGES * ACCEL_PAGE_SIZE);
	/* half the pages read-only (TX buffers), half writable (RX buffers) */
	r = (struct accel_mem_region){.iova = 0x10000, .host = pages, .size = 4 * ACCEL_PAGE_SIZE};
	accel_attach_mem_register(a, &r, 1);
	r = (struct accel_mem_region){.iova = 0x20000,
				      .host = pages + 4 * ACCEL_PAGE_SIZE,
				      .size = 4 * ACCEL_PAGE_SIZE,
				      .flags = ACCEL_MEM_F_WRITABLE};
	accel_attach_mem_register(a, &r, 1);
	if (accel_attach_map_qp(a, 0, 5, &m))
		goto out;
	mem = mmap(NULL, m.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, m.mem_fd, 0);
	if (mem != MAP_FAILED) {
		struct accel_qp_shared *sh = (struct accel_qp_shared *)mem;
		size_t ring = (size_t)m.ring_len * sizeof(struct accel_desc);
		size_t off = 3, n;
		uint32_t prods[2];

		/* the guest's buffers get the first bytes, then the rings, then indices */
		n = size - off < 2 * ACCEL_PAGE_SIZE ? size - off : 2 * ACCEL_PAGE_SIZE;
		memcpy(pages, data + off, n);
		off += n;
		n = size - off < ring ? size - off : ring;
		memcpy(mem + m.tx_ring_off, data + off, n);
		off += n;
		n = size - off < ring ? size - off : ring;
		memcpy(mem + m.rx_ring_off, data + off, n);
		off += n;
		memset(prods, 0, sizeof(prods));
		memcpy(prods, data + off, size - off < sizeof(prods) ? size - off : sizeof(prods));
		accel_ring_store(&sh->tx_prod,
				 prods[0] % (2 * m.ring_len) + (data[1] & 0x80 ? 100000 : 0));
		accel_ring_store(&sh->rx_prod, prods[1] % (2 * m.ring_len));
		for (int i = 0; i < 4 && accel_device_poll(dev, 64) > 0; i++)
			;
		/* a wire frame toward the guest too */
		if (send(wire[1], data, size < 1514 ? size : 1514, MSG_DONTWAIT) >= 0)
			accel_device_poll(dev, 64);
		munmap(mem, m.mem_size);
	}
	close(m.mem_fd);
	close(m.doorbell_fd);
	close(m.irq_fd);
out:
	accel_device_close(dev); /* frees its attachments */
	accel_registry_destroy(reg);
	free(pages);
	close(wire[0]);
	close(wire[1]);
	return 0;
}
