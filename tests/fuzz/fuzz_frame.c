/* libFuzzer target for the frame parser (include/pvnet/pkt_parse.h), which reads
 * every guest- and wire-controlled frame. The input is one frame, parsed from a
 * heap copy of exactly its size (ASan catches any read beyond it). Checks the
 * parser's promises: results only from the bytes given, every reported offset
 * within the frame, the tag and extension-header bounds, L2 agreeing with the
 * full parse, and pvnet_l4_locate agreeing with the frame it came from. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/pkt_parse.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvnet_frame fr, l2;
	struct pvnet_l4_info l4;
	uint32_t len = size > 70000 ? 70000 : (uint32_t)size;
	uint8_t *f = malloc(len ? len : 1);
	int rc, rc2;

	if (!f)
		return 0;
	memcpy(f, data, len);
	rc = pvnet_frame_parse(f, len, &fr);
	CHECK(rc == 0 || rc == -ENODATA || rc == -EINVAL);
	CHECK(fr.n_tags <= PVNET_FRAME_MAX_TAGS && fr.n_exthdrs <= PVNET_FRAME_MAX_EXTHDRS);
	CHECK(fr.l3_off <= len);
	if (fr.l3_off)
		CHECK(fr.l3_off == 14 + 4u * fr.n_tags);
	if (fr.l3 == PVNET_FRAME_L3_IPV4)
		CHECK(fr.l3_off + 20u <= len && fr.l4_off <= len && f[fr.l3_off] >> 4 == 4);
	if (fr.l3 == PVNET_FRAME_L3_IPV6)
		CHECK(fr.l3_off + 40u + 8u * fr.n_exthdrs <= fr.l4_off ||
		      (fr.flags & PVNET_FRAME_F_LATER_FRAG) ||
		      !(fr.flags & PVNET_FRAME_F_L4_PROTO));
	if (fr.l3 == PVNET_FRAME_L3_ARP)
		CHECK(fr.l3_off + 8u <= len);
	if (fr.flags & PVNET_FRAME_F_ARP_ETH_IP)
		CHECK(fr.l3 == PVNET_FRAME_L3_ARP && fr.l3_off + 28u <= len);
	if (fr.flags & PVNET_FRAME_F_L4_PROTO)
		CHECK(fr.l3 == PVNET_FRAME_L3_IPV4 || fr.l3 == PVNET_FRAME_L3_IPV6);
	if (fr.flags & PVNET_FRAME_F_L4)
		CHECK((fr.flags & PVNET_FRAME_F_L4_PROTO) && fr.l4_hdr_len >= 8 &&
		      (uint32_t)fr.l4_off + fr.l4_hdr_len <= len);
	if (fr.flags & PVNET_FRAME_F_LATER_FRAG)
		CHECK((fr.flags & PVNET_FRAME_F_FRAG) && !(fr.flags & PVNET_FRAME_F_L4_PROTO));

	/* the L2 pass alone agrees with the full parse */
	rc2 = pvnet_frame_parse_l2(f, len, &l2);
	CHECK(l2.n_tags == fr.n_tags && l2.l3_off == fr.l3_off && l2.outer_tci == fr.outer_tci);
	if (rc2 < 0)
		CHECK(rc2 == rc);

	if (pvnet_l4_locate(f, len, &l4) == 0) {
		CHECK(rc == 0 && (l4.proto == PVNET_IPPROTO_TCP || l4.proto == PVNET_IPPROTO_UDP));
		CHECK(l4.hdr_len <= len && l4.l4_off + 8u <= l4.hdr_len);
		CHECK(l4.csum_offset == (l4.proto == PVNET_IPPROTO_TCP ? 16 : 6));
	}
	free(f);
	return 0;
}
