/*
 * Fuzz target: arbitrary bytes as a migration stream after the handshake
 * (pvnet/migrate.h), parsed by the receiver's validating parser (hv/save.c)
 * into an 8-page memory and a 1-frame grant table. The records are framed by
 * the input; the tags are computed here with the session key, so the fuzzer
 * gets past authentication into every record parser (first byte: whether to
 * keep the input's own sequence numbers and tags instead, so the tag and
 * sequence checks are exercised too). Must neither crash nor leak, and never
 * write outside the target.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/migrate.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t skey[32] = {1, 2, 3};
	static uint8_t mem[8 * MIG_PAGE_SIZE], gnt[MIG_PAGE_SIZE];
	struct mig_rx rx;
	bool raw;

	if (size < 1)
		return 0;
	raw = data[0] & 1;
	data++, size--;
	mig_rx_init(&rx, skey);
	while (size >= sizeof(struct mig_rec_hdr) && rx.state != MIG_RX_FAILED &&
	       rx.state != MIG_RX_DONE) {
		struct mig_rec_hdr h;
		uint8_t tag[32];

		memcpy(&h, data, sizeof(h));
		data += sizeof(h), size -= sizeof(h);
		if (h.len > size)
			h.len = (uint32_t)size; /* take what is there */
		if (!raw) {
			h.seq = rx.seq;
			mig_rec_tag(skey, 'S', &h, data, tag);
		} else if (size - h.len >= 32) {
			memcpy(tag, data + h.len, 32);
		} else {
			memset(tag, 0, 32);
		}
		(void)mig_rx_record(&rx, &h, data, tag);
		data += h.len, size -= h.len;
		if (raw && size >= 32)
			data += 32, size -= 32;
		if (rx.state == MIG_RX_TARGET) {
			/* the fuzz target's own domain: 8 pages and 1 grant frame */
			if (rx.cfg.mem_size != sizeof(mem) || rx.cfg.nr_grant_frames != 1)
				break;
			mig_rx_set_target(&rx, mem, gnt);
		}
	}
	mig_rx_free(&rx);
	return 0;
}
