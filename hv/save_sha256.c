/* SPDX-License-Identifier: MIT */
/*
 * hv/save_sha256.c - SHA-256 (FIPS 180-4) and HMAC (RFC 2104) for the
 * migration stream's authentication (pvnet/migrate.h). Written from the
 * standard; checked against its test vectors in tests/unit/test_migstream.c.
 */
#include <string.h>

#include <pvnet/migrate.h>

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2};

static inline uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;
	unsigned i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (i = 0; i < 64; i++) {
		uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
			      K256[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void mig_sha256_init(struct mig_sha256 *s)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

void mig_sha256_update(struct mig_sha256 *s, const void *data, size_t size)
{
	const uint8_t *p = data;

	s->len += size;
	if (s->n) {
		size_t take = 64 - s->n < size ? 64 - s->n : size;
		memcpy(s->buf + s->n, p, take);
		s->n += take, p += take, size -= take;
		if (s->n < 64)
			return;
		block(s->h, s->buf);
		s->n = 0;
	}
	for (; size >= 64; p += 64, size -= 64)
		block(s->h, p);
	memcpy(s->buf, p, size);
	s->n = size;
}

void mig_sha256_final(struct mig_sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->len * 8;
	uint8_t pad = 0x80, zero = 0, lenb[8];

	mig_sha256_update(s, &pad, 1);
	while (s->n != 56)
		mig_sha256_update(s, &zero, 1);
	for (unsigned i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
	mig_sha256_update(s, lenb, 8);
	for (unsigned i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void mig_hmac_init(struct mig_hmac *m, const uint8_t *key, size_t key_size)
{
	uint8_t k[64] = {0}, pad[64];

	if (key_size > 64) {
		struct mig_sha256 s;
		mig_sha256_init(&s);
		mig_sha256_update(&s, key, key_size);
		mig_sha256_final(&s, k);
	} else if (key_size) {
		memcpy(k, key, key_size);
	}
	for (unsigned i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	mig_sha256_init(&m->inner);
	mig_sha256_update(&m->inner, pad, 64);
	for (unsigned i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	mig_sha256_init(&m->outer);
	mig_sha256_update(&m->outer, pad, 64);
}

void mig_hmac_update(struct mig_hmac *m, const void *data, size_t size)
{
	mig_sha256_update(&m->inner, data, size);
}

void mig_hmac_final(struct mig_hmac *m, uint8_t out[32])
{
	uint8_t ih[32];

	mig_sha256_final(&m->inner, ih);
	mig_sha256_update(&m->outer, ih, 32);
	mig_sha256_final(&m->outer, out);
}

bool mig_mac_equal(const uint8_t *a, const uint8_t *b, size_t size)
{
	uint8_t diff = 0;

	for (size_t i = 0; i < size; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

void mig_auth_mac(const uint8_t *key, size_t key_size, const char *label,
		  const uint8_t nonce_r[MIG_NONCE_SIZE], const uint8_t nonce_s[MIG_NONCE_SIZE],
		  uint8_t out[32])
{
	struct mig_hmac m;

	mig_hmac_init(&m, key, key_size);
	mig_hmac_update(&m, label, strlen(label));
	mig_hmac_update(&m, nonce_r, MIG_NONCE_SIZE);
	mig_hmac_update(&m, nonce_s, MIG_NONCE_SIZE);
	mig_hmac_final(&m, out);
}

void mig_rec_tag(const uint8_t skey[32], char dir, const struct mig_rec_hdr *h, const void *payload,
		 uint8_t out[32])
{
	struct mig_hmac m;

	mig_hmac_init(&m, skey, 32);
	mig_hmac_update(&m, &dir, 1);
	mig_hmac_update(&m, h, sizeof(*h));
	if (h->len)
		mig_hmac_update(&m, payload, h->len);
	mig_hmac_final(&m, out);
}
