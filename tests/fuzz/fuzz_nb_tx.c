/* libFuzzer target for netback's guest-TX validator (netback/tx_parse.c): the
 * input is a ring's worth of raw requests, parsed packet by packet as the TX burst
 * does. Checks the validator's promises: it never reads past `avail`, consumes at
 * least one slot and at most `avail` for non-fatal verdicts, and accepts only
 * packets within Linux netback's limits. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../netback/nb_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netif_tx_request reqs[NB_TX_RING];
	unsigned n = (unsigned)(size / sizeof(reqs[0])), i = 0;

	if (n > NB_TX_RING)
		n = NB_TX_RING;
	if (!n)
		return 0;
	memcpy(reqs, data, n * sizeof(reqs[0]));
	while (i < n) {
		struct nb_tx_desc d;
		int v = nb_tx_parse(&reqs[i], n - i, &d);
		if (v == NB_TX_FATAL)
			break;
		if (d.nr_slots == 0 || d.nr_slots > n - i)
			__builtin_trap();
		if (v == NB_TX_OK) {
			uint32_t sum = d.first_size;
			if (d.nr_data > NB_TX_MAX_DATA_SLOTS || d.first_size < 14 ||
			    (uint32_t)reqs[i].offset + d.first_size > 4096)
				__builtin_trap();
			for (unsigned k = 1; k < d.nr_data; k++) {
				const struct netif_tx_request *r = &reqs[i + d.nr_extras + k];
				if (r->size == 0 || (uint32_t)r->offset + r->size > 4096)
					__builtin_trap();
				sum += r->size;
			}
			if (sum != d.len)
				__builtin_trap();
		}
		i += d.nr_slots;
	}
	return 0;
}
