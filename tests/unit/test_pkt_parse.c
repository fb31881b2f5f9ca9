/* Unit tests for the frame parser (include/pvnet/pkt_parse.h): every VLAN TPID,
 * stacked and priority tags, IPv4 (options, fragments), IPv6 extension-header
 * chains (hop-by-hop, routing, fragment, destination options, AH, ESP, no next
 * header, the bound), TCP/UDP/ICMP/ICMPv6, ARP, and malformed or truncated input:
 * every prefix of every frame is parsed from a heap buffer of exactly that size
 * (ASan sees any read beyond it) and never reports an offset past it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pvnet/pkt_parse.h>

struct fb {
	uint8_t b[4096];
	uint32_t n;
};

static void put(struct fb *f, const void *p, uint32_t size)
{
	memcpy(f->b + f->n, p, size);
	f->n += size;
}

static void put8(struct fb *f, uint8_t v)
{
	f->b[f->n++] = v;
}

static void put16(struct fb *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void zeros(struct fb *f, uint32_t size)
{
	memset(f->b + f->n, 0, size);
	f->n += size;
}

static const uint8_t DST[6] = {0x02, 0, 0, 0, 0, 2}, SRC[6] = {0x02, 0, 0, 0, 0, 1};

/* MACs, then tags (tpid, tci) pairs, then the EtherType. */
static void eth(struct fb *f, uint16_t type, unsigned ntags, const uint16_t *tags)
{
	f->n = 0;
	put(f, DST, 6);
	put(f, SRC, 6);
	for (unsigned i = 0; i < ntags; i++) {
		put16(f, tags[2 * i]);
		put16(f, tags[2 * i + 1]);
	}
	put16(f, type);
}

static void ipv4(struct fb *f, uint8_t proto, uint8_t ihl_words, uint16_t frag, uint16_t payload)
{
	uint32_t s = f->n;
	put8(f, (uint8_t)(0x40 | ihl_words));
	put8(f, 0);
	put16(f, (uint16_t)(ihl_words * 4 + payload));
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	zeros(f, 2);
	put(f, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	while (f->n < s + ihl_words * 4u)
		put8(f, 1); /* NOP options */
}

static void ipv6(struct fb *f, uint8_t nh, uint16_t plen)
{
	put8(f, 0x60);
	zeros(f, 3);
	put16(f, plen);
	put8(f, nh);
	put8(f, 64);
	zeros(f, 32);
	f->b[f->n - 32 + 15] = 1;
	f->b[f->n - 16 + 15] = 2;
}

/* A (len+1)*8-byte extension header. */
static void exthdr(struct fb *f, uint8_t nh, uint8_t len8)
{
	put8(f, nh);
	put8(f, len8);
	zeros(f, (uint32_t)(len8 + 1) * 8 - 2);
}

static void tcp(struct fb *f, uint8_t doff_words)
{
	uint32_t s = f->n;
	zeros(f, 12);
	put8(f, (uint8_t)(doff_words << 4));
	put8(f, 0x10);
	zeros(f, 6);
	while (f->n < s + doff_words * 4u)
		put8(f, 1);
}

/* Parses every prefix of f (each from a malloc'd buffer of exactly that size)
 * and checks nothing it reports lies beyond the prefix; returns the result for
 * the whole frame. */
static int parse_all_prefixes(const struct fb *f, struct pvnet_frame *out)
{
	for (uint32_t n = 0; n < f->n; n++) {
		uint8_t *p = malloc(n ? n : 1);
		struct pvnet_frame fr;
		int rc;
		assert_non_null(p);
		memcpy(p, f->b, n);
		rc = pvnet_frame_parse(p, n, &fr);
		assert_true(rc == 0 || rc == -ENODATA || rc == -EINVAL);
		assert_true(fr.l3_off <= n);
		if (fr.flags & PVNET_FRAME_F_L4)
			assert_true((uint32_t)fr.l4_off + fr.l4_hdr_len <= n);
		if (fr.l3 == PVNET_FRAME_L3_IPV6)
			assert_true(fr.l3_off + 40u <= n);
		if (fr.flags & PVNET_FRAME_F_ARP_ETH_IP)
			assert_true(fr.l3_off + 28u <= n);
		free(p);
	}
	return pvnet_frame_parse(f->b, f->n, out);
}

static void test_untagged_ipv4(void **state)
{
	struct pvnet_frame fr;
	struct fb f;
	(void)state;

	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_TCP, 5, 0x4000, 20);
	tcp(&f, 5);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.n_tags, 0);
	assert_int_equal(fr.l3_off, 14);
	assert_int_equal(fr.l3_type, 0x0800);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_IPV4);
	assert_int_equal(fr.l4_proto, PVNET_IPPROTO_TCP);
	assert_int_equal(fr.l4_off, 34);
	assert_int_equal(fr.l4_hdr_len, 20);
	assert_int_equal(fr.ip_end, 54);
	assert_true(fr.flags & PVNET_FRAME_F_L4);
	assert_false(fr.flags & PVNET_FRAME_F_FRAG);

	/* options (IHL 15) and TCP options (doff 15) */
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_TCP, 15, 0, 60);
	tcp(&f, 15);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l4_off, 14 + 60);
	assert_int_equal(fr.l4_hdr_len, 60);

	/* UDP and ICMP: an 8-byte header */
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_UDP, 5, 0, 8);
	zeros(&f, 8);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l4_proto, PVNET_IPPROTO_UDP);
	assert_int_equal(fr.l4_hdr_len, 8);
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_ICMP, 5, 0, 8);
	zeros(&f, 8);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l4_proto, PVNET_IPPROTO_ICMP);
	assert_true(fr.flags & PVNET_FRAME_F_L4);

	/* another protocol: located, no header parsed, not an error */
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, 47, 5, 0, 4);
	zeros(&f, 4);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l4_proto, 47);
	assert_true(fr.flags & PVNET_FRAME_F_L4_PROTO);
	assert_false(fr.flags & PVNET_FRAME_F_L4);
}

static void test_ipv4_fragments_and_malformed(void **state)
{
	struct pvnet_frame fr;
	struct fb f;
	(void)state;

	/* first fragment (MF, offset 0): the L4 header is here */
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_UDP, 5, 0x2000, 8);
	zeros(&f, 8);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_true(fr.flags & PVNET_FRAME_F_FRAG);
	assert_false(fr.flags & PVNET_FRAME_F_LATER_FRAG);
	assert_true(fr.flags & PVNET_FRAME_F_L4);
	/* a later fragment: no L4 header */
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_UDP, 5, 0x0010, 8);
	zeros(&f, 8);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_true(fr.flags & PVNET_FRAME_F_LATER_FRAG);
	assert_false(fr.flags & (PVNET_FRAME_F_L4 | PVNET_FRAME_F_L4_PROTO));
	/* IHL < 5, wrong version */
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_TCP, 5, 0, 20);
	tcp(&f, 5);
	f.b[14] = 0x44;
	assert_int_equal(pvnet_frame_parse(f.b, f.n, &fr), -EINVAL);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_NONE);
	f.b[14] = 0x65;
	assert_int_equal(pvnet_frame_parse(f.b, f.n, &fr), -EINVAL);
	/* TCP data offset < 5 */
	f.b[14] = 0x45;
	f.b[34 + 12] = 0x40;
	assert_int_equal(pvnet_frame_parse(f.b, f.n, &fr), -EINVAL);
	/* truncated: inside IPv4, inside its options, inside TCP */
	f.b[34 + 12] = 0x50;
	assert_int_equal(pvnet_frame_parse(f.b, 14 + 19, &fr), -ENODATA);
	assert_int_equal(fr.l3_off, 14);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_NONE);
	assert_int_equal(pvnet_frame_parse(f.b, 34 + 19, &fr), -ENODATA);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_IPV4);
	assert_true(fr.flags & PVNET_FRAME_F_L4_PROTO);
	assert_false(fr.flags & PVNET_FRAME_F_L4);
	f.b[14] = 0x46;
	assert_int_equal(pvnet_frame_parse(f.b, 14 + 23, &fr), -ENODATA);
	/* runts */
	assert_int_equal(pvnet_frame_parse(f.b, 13, &fr), -ENODATA);
	assert_int_equal(fr.l3_off, 0);
	assert_int_equal(pvnet_frame_parse(f.b, 0, &fr), -ENODATA);
}

static void test_vlan_tags(void **state)
{
	static const uint16_t tpids[] = {0x8100, 0x88a8, 0x9100};
	struct pvnet_frame fr;
	struct fb f;
	(void)state;

	for (unsigned t = 0; t < 3; t++) {
		uint16_t one[] = {tpids[t], 0xa00a};
		uint16_t two[] = {tpids[t], 0x2014, 0x8100, 0x0064};
		uint16_t prio[] = {tpids[t], 0xe000};
		uint16_t prio_in[] = {tpids[t], 0x0000, tpids[(t + 1) % 3], 0x0007};

		eth(&f, 0x0800, 1, one);
		ipv4(&f, PVNET_IPPROTO_UDP, 5, 0, 8);
		zeros(&f, 8);
		assert_int_equal(parse_all_prefixes(&f, &fr), 0);
		assert_int_equal(fr.n_tags, 1);
		assert_int_equal(fr.outer_tpid, tpids[t]);
		assert_int_equal(fr.outer_tci & 0xfff, 10);
		assert_int_equal(fr.outer_tci >> 13, 5);
		assert_int_equal(fr.l3_off, 18);
		assert_int_equal(fr.l4_off, 38);
		assert_true(fr.flags & PVNET_FRAME_F_L4);

		eth(&f, 0x86dd, 2, two);
		ipv6(&f, PVNET_IPPROTO_TCP, 20);
		tcp(&f, 5);
		assert_int_equal(parse_all_prefixes(&f, &fr), 0);
		assert_int_equal(fr.n_tags, 2);
		assert_int_equal(fr.outer_tci & 0xfff, 20);
		assert_int_equal(fr.inner_tci & 0xfff, 100);
		assert_int_equal(fr.l3_off, 22);
		assert_int_equal(fr.l3, PVNET_FRAME_L3_IPV6);
		assert_int_equal(fr.l4_off, 62);

		/* priority tag (VID 0) only, and priority tag around another tag */
		eth(&f, 0x0806, 1, prio);
		zeros(&f, 28);
		assert_int_equal(parse_all_prefixes(&f, &fr), 0);
		assert_int_equal(fr.n_tags, 1);
		assert_int_equal(fr.outer_tci & 0xfff, 0);
		eth(&f, 0x0806, 2, prio_in);
		zeros(&f, 28);
		assert_int_equal(parse_all_prefixes(&f, &fr), 0);
		assert_int_equal(fr.n_tags, 2);
		assert_int_equal(fr.outer_tci & 0xfff, 0);
		assert_int_equal(fr.inner_tci & 0xfff, 7);
		assert_int_equal(fr.l3_type, 0x0806);
	}
	/* the bound: 8 tags parse, 9 are malformed */
	{
		uint16_t many[18];
		for (unsigned i = 0; i < 9; i++) {
			many[2 * i] = tpids[i % 3];
			many[2 * i + 1] = (uint16_t)(i + 1);
		}
		eth(&f, 0x0800, 8, many);
		ipv4(&f, PVNET_IPPROTO_UDP, 5, 0, 8);
		zeros(&f, 8);
		assert_int_equal(parse_all_prefixes(&f, &fr), 0);
		assert_int_equal(fr.n_tags, 8);
		assert_int_equal(fr.l3_off, 14 + 32);
		eth(&f, 0x0800, 9, many);
		ipv4(&f, PVNET_IPPROTO_UDP, 5, 0, 8);
		zeros(&f, 8);
		assert_int_equal(parse_all_prefixes(&f, &fr), -EINVAL);
		assert_int_equal(fr.n_tags, PVNET_FRAME_MAX_TAGS);
		assert_int_equal(fr.l3_off, 0);
		assert_int_equal(pvnet_frame_parse_l2(f.b, f.n, &fr), -EINVAL);
	}
	/* a tag cut short: the whole tags before it are reported */
	{
		uint16_t two[] = {0x8100, 5, 0x88a8, 6};
		eth(&f, 0x0800, 2, two);
		assert_int_equal(pvnet_frame_parse_l2(f.b, 16, &fr), -ENODATA);
		assert_int_equal(fr.n_tags, 0);
		assert_int_equal(pvnet_frame_parse_l2(f.b, 20, &fr), -ENODATA);
		assert_int_equal(fr.n_tags, 1);
		assert_int_equal(fr.outer_tci, 5);
		assert_int_equal(fr.l3_off, 0);
		assert_int_equal(pvnet_frame_parse_l2(f.b, 22, &fr), 0);
		assert_int_equal(fr.l3_type, 0x0800);
	}
}

static void test_ipv6_exthdrs(void **state)
{
	struct pvnet_frame fr;
	struct fb f;
	(void)state;

	/* hop-by-hop -> routing -> destination options -> ICMPv6 */
	eth(&f, 0x86dd, 0, NULL);
	ipv6(&f, PVNET_IPPROTO_HOPOPTS, 8 + 24 + 16 + 24);
	exthdr(&f, PVNET_IPPROTO_ROUTING, 0);
	exthdr(&f, PVNET_IPPROTO_DSTOPTS, 2);
	exthdr(&f, PVNET_IPPROTO_ICMPV6, 1);
	put8(&f, 136);
	zeros(&f, 23);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.n_exthdrs, 3);
	assert_true(fr.flags & PVNET_FRAME_F_EXTHDRS);
	assert_int_equal(fr.l4_proto, PVNET_IPPROTO_ICMPV6);
	assert_int_equal(fr.l4_off, 14 + 40 + 8 + 24 + 16);
	assert_int_equal(fr.l4_hdr_len, 8);
	assert_int_equal(fr.ip_end, f.n);
	assert_true(fr.flags & PVNET_FRAME_F_L4);

	/* AH: (len + 2) * 4 bytes */
	eth(&f, 0x86dd, 0, NULL);
	ipv6(&f, PVNET_IPPROTO_AH, 24 + 20);
	put8(&f, PVNET_IPPROTO_TCP);
	put8(&f, 4);
	zeros(&f, 22);
	tcp(&f, 5);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l4_proto, PVNET_IPPROTO_TCP);
	assert_int_equal(fr.l4_off, 14 + 40 + 24);

	/* first fragment: the upper layer follows; later fragment: it does not */
	eth(&f, 0x86dd, 0, NULL);
	ipv6(&f, PVNET_IPPROTO_FRAGMENT, 16);
	put8(&f, PVNET_IPPROTO_UDP);
	put8(&f, 0);
	put16(&f, 0x0001); /* offset 0, M */
	zeros(&f, 4);
	zeros(&f, 8);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_true(fr.flags & PVNET_FRAME_F_FRAG);
	assert_true(fr.flags & PVNET_FRAME_F_L4);
	assert_int_equal(fr.l4_off, 14 + 48);
	f.b[14 + 40 + 3] = 0x08; /* offset 1 */
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_true(fr.flags & PVNET_FRAME_F_LATER_FRAG);
	assert_false(fr.flags & PVNET_FRAME_F_L4_PROTO);

	/* ESP and "no next header" end the walk */
	eth(&f, 0x86dd, 0, NULL);
	ipv6(&f, PVNET_IPPROTO_DSTOPTS, 16);
	exthdr(&f, PVNET_IPPROTO_ESP, 0);
	zeros(&f, 8);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l4_proto, PVNET_IPPROTO_ESP);
	assert_false(fr.flags & PVNET_FRAME_F_L4);
	eth(&f, 0x86dd, 0, NULL);
	ipv6(&f, PVNET_IPPROTO_NONE, 0);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l4_proto, PVNET_IPPROTO_NONE);
	assert_int_equal(fr.ip_end, 0); /* payload length 0 */

	/* the bound: 15 extension headers walk, 16 are malformed */
	for (unsigned n = 15; n <= 16; n++) {
		eth(&f, 0x86dd, 0, NULL);
		ipv6(&f, PVNET_IPPROTO_DSTOPTS, (uint16_t)(n * 8 + 8));
		for (unsigned i = 0; i < n; i++)
			exthdr(&f, i + 1 < n ? PVNET_IPPROTO_DSTOPTS : PVNET_IPPROTO_ICMPV6, 0);
		put8(&f, 128);
		zeros(&f, 7);
		assert_int_equal(parse_all_prefixes(&f, &fr), n == 15 ? 0 : -EINVAL);
		if (n == 15)
			assert_int_equal(fr.l4_proto, PVNET_IPPROTO_ICMPV6);
		else
			assert_false(fr.flags & PVNET_FRAME_F_L4_PROTO);
	}

	/* an extension header whose length runs past the frame */
	eth(&f, 0x86dd, 0, NULL);
	ipv6(&f, PVNET_IPPROTO_HOPOPTS, 8);
	exthdr(&f, PVNET_IPPROTO_ICMPV6, 0);
	f.b[14 + 40 + 1] = 200;
	assert_int_equal(pvnet_frame_parse(f.b, f.n, &fr), -ENODATA);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_IPV6);
	assert_false(fr.flags & PVNET_FRAME_F_L4_PROTO);
	/* wrong version */
	f.b[14] = 0x40;
	assert_int_equal(pvnet_frame_parse(f.b, f.n, &fr), -EINVAL);
}

static void test_arp(void **state)
{
	struct pvnet_frame fr;
	struct fb f;
	uint16_t tag[] = {0x88a8, 0x0000};
	(void)state;

	eth(&f, 0x0806, 1, tag);
	put16(&f, 1);
	put16(&f, 0x0800);
	put8(&f, 6);
	put8(&f, 4);
	put16(&f, 2);
	put(&f, SRC, 6);
	put(&f, "\x0a\x00\x00\x05", 4);
	zeros(&f, 10);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_ARP);
	assert_true(fr.flags & PVNET_FRAME_F_ARP_ETH_IP);
	assert_int_equal(fr.arp_op, 2);
	assert_memory_equal(f.b + fr.l3_off + PVNET_ARP_OFF_SHA, SRC, 6);
	assert_memory_equal(f.b + fr.l3_off + PVNET_ARP_OFF_SPA, "\x0a\x00\x00\x05", 4);
	/* cut at 27 bytes of ARP: Ethernet/IPv4 ARP is 28 */
	assert_int_equal(pvnet_frame_parse(f.b, f.n - 1, &fr), -ENODATA);
	assert_false(fr.flags & PVNET_FRAME_F_ARP_ETH_IP);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_ARP);
	/* another hardware type: ARP, not Ethernet/IPv4 */
	f.b[18 + 1] = 6;
	assert_int_equal(pvnet_frame_parse(f.b, f.n - 1, &fr), 0);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_ARP);
	assert_false(fr.flags & PVNET_FRAME_F_ARP_ETH_IP);
	/* shorter than the fixed 8 bytes */
	assert_int_equal(pvnet_frame_parse(f.b, 18 + 7, &fr), -ENODATA);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_NONE);
}

static void test_l4_locate(void **state)
{
	struct pvnet_l4_info l4;
	struct fb f;
	uint16_t tags[] = {0x9100, 3, 0x8100, 4, 0x88a8, 5};
	(void)state;

	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_TCP, 6, 0, 32);
	tcp(&f, 8);
	assert_int_equal(pvnet_l4_locate(f.b, f.n, &l4), 0);
	assert_int_equal(l4.l3_off, 14);
	assert_int_equal(l4.l4_off, 38);
	assert_int_equal(l4.csum_offset, 16);
	assert_int_equal(l4.hdr_len, 38 + 32);
	assert_int_equal(l4.proto, PVNET_IPPROTO_TCP);
	assert_int_equal(l4.ipv6, 0);
	/* three tags, IPv6 with a hop-by-hop header, UDP */
	eth(&f, 0x86dd, 3, tags);
	ipv6(&f, PVNET_IPPROTO_HOPOPTS, 16);
	exthdr(&f, PVNET_IPPROTO_UDP, 0);
	zeros(&f, 8);
	assert_int_equal(pvnet_l4_locate(f.b, f.n, &l4), 0);
	assert_int_equal(l4.l3_off, 26);
	assert_int_equal(l4.l4_off, 26 + 48);
	assert_int_equal(l4.csum_offset, 6);
	assert_int_equal(l4.hdr_len, 26 + 56);
	assert_int_equal(l4.ipv6, 1);
	/* not completable: ICMP, a fragment, cut short, ARP */
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_ICMP, 5, 0, 8);
	zeros(&f, 8);
	assert_int_equal(pvnet_l4_locate(f.b, f.n, &l4), -1);
	eth(&f, 0x0800, 0, NULL);
	ipv4(&f, PVNET_IPPROTO_UDP, 5, 0x2000, 8);
	zeros(&f, 8);
	assert_int_equal(pvnet_l4_locate(f.b, f.n, &l4), -1);
	f.b[14 + 6] = 0;
	assert_int_equal(pvnet_l4_locate(f.b, f.n, &l4), 0);
	assert_int_equal(pvnet_l4_locate(f.b, f.n - 1, &l4), -1);
	eth(&f, 0x0806, 0, NULL);
	zeros(&f, 28);
	assert_int_equal(pvnet_l4_locate(f.b, f.n, &l4), -1);
}

static void test_mac_helpers_and_other_types(void **state)
{
	static const uint8_t stp[6] = {0x01, 0x80, 0xc2, 0, 0, 0};
	static const uint8_t lldp[6] = {0x01, 0x80, 0xc2, 0, 0, 0x0e};
	static const uint8_t pause[6] = {0x01, 0x80, 0xc2, 0, 0, 0x01};
	static const uint8_t not_ll[6] = {0x01, 0x80, 0xc2, 0, 0, 0x10};
	static const uint8_t zero[6] = {0};
	struct pvnet_frame fr;
	struct fb f;
	(void)state;

	assert_true(pvnet_mac_is_link_local(stp));
	assert_true(pvnet_mac_is_link_local(lldp));
	assert_true(pvnet_mac_is_link_local(pause));
	assert_false(pvnet_mac_is_link_local(not_ll));
	assert_false(pvnet_mac_is_link_local(DST));
	assert_true(pvnet_mac_is_zero(zero));
	assert_false(pvnet_mac_is_zero(SRC));
	/* an unknown EtherType: L2 only, not an error */
	eth(&f, 0x88cc, 0, NULL);
	zeros(&f, 46);
	assert_int_equal(parse_all_prefixes(&f, &fr), 0);
	assert_int_equal(fr.l3, PVNET_FRAME_L3_NONE);
	assert_int_equal(fr.l3_type, 0x88cc);
	assert_int_equal(fr.l3_off, 14);
}

/* Random bytes, with a plausible Ethernet start now and then: no crash, no
 * offset beyond the buffer (ASan checks the reads). */
static void test_random(void **state)
{
	struct fb f;
	struct pvnet_frame fr;
	uint32_t seed = 12345;
	static const uint16_t types[] = {0x8100, 0x88a8, 0x9100, 0x0800, 0x86dd, 0x0806};
	(void)state;

	for (unsigned it = 0; it < 3000; it++) {
		f.n = 0;
		uint32_t n = 14 + (seed % 200);
		for (uint32_t i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			f.b[i] = (uint8_t)(seed >> 16);
		}
		/* steer types and IP versions so the deeper layers are reached */
		for (uint32_t o = 12; o + 1 < n && o < 40; o += 4) {
			uint16_t t = types[(seed >> (o % 16)) % 6];
			f.b[o] = (uint8_t)(t >> 8);
			f.b[o + 1] = (uint8_t)t;
			if (t == 0x0800 || t == 0x86dd) {
				if (o + 2 < n)
					f.b[o + 2] = t == 0x0800 ? 0x45 : 0x60;
				break;
			}
		}
		f.n = n;
		(void)parse_all_prefixes(&f, &fr);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untagged_ipv4),
		cmocka_unit_test(test_ipv4_fragments_and_malformed),
		cmocka_unit_test(test_vlan_tags),
		cmocka_unit_test(test_ipv6_exthdrs),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_l4_locate),
		cmocka_unit_test(test_mac_helpers_and_other_types),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
