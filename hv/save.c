/* SPDX-License-Identifier: MIT */
/*
 * hv/save.c - the receiving side of the migration stream: a parser that
 * checks every record (pvnet/migrate.h) before anything of it is used. It
 * never allocates more than the bounds in migrate.h: the domain record's text
 * (MIG_MAX_CONFIG) and the store nodes (MIG_MAX_STORE_NODES); pages and the
 * grant table go straight into the target the caller set.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/memops.h>

#include <pvnet/migrate.h>

/* --- SHA-256 and HMAC-SHA256: nettle's (pvnet/migrate.h) --- */

void mig_sha256_init(struct mig_sha256 *s)
{
	sha256_init(&s->ctx);
}

void mig_sha256_update(struct mig_sha256 *s, const void *data, size_t size)
{
	sha256_update(&s->ctx, size, data);
}

void mig_sha256_final(struct mig_sha256 *s, uint8_t out[32])
{
	sha256_digest(&s->ctx, SHA256_DIGEST_SIZE, out);
}

void mig_hmac_init(struct mig_hmac *m, const uint8_t *key, size_t key_size)
{
	hmac_sha256_set_key(&m->ctx, key_size, key);
}

void mig_hmac_update(struct mig_hmac *m, const void *data, size_t size)
{
	hmac_sha256_update(&m->ctx, size, data);
}

void mig_hmac_final(struct mig_hmac *m, uint8_t out[32])
{
	hmac_sha256_digest(&m->ctx, SHA256_DIGEST_SIZE, out);
}

bool mig_mac_equal(const uint8_t *a, const uint8_t *b, size_t size)
{
	return memeql_sec(a, b, size) != 0;
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

/* --- The receiver's validating parser --- */

void mig_rx_init(struct mig_rx *rx, const uint8_t skey[32])
{
	memset(rx, 0, sizeof(*rx));
	memcpy(rx->skey, skey, 32);
}

void mig_rx_free(struct mig_rx *rx)
{
	free(rx->text);
	free(rx->store);
	rx->text = NULL;
	rx->store = NULL;
	rx->n_store = 0;
}

void mig_rx_set_target(struct mig_rx *rx, uint8_t *mem, uint8_t *gnt)
{
	rx->mem = mem;
	rx->gnt = gnt;
	if (rx->state == MIG_RX_TARGET)
		rx->state = MIG_RX_PAGES;
}

static int fail(struct mig_rx *rx, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct mig_rx *rx, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rx->why, sizeof(rx->why), fmt, ap);
	va_end(ap);
	rx->state = MIG_RX_FAILED;
	return err;
}

static bool path_ok(const char *p, size_t n)
{
	if (n == 0 || p[0] == '/' || p[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '/'))
			return false;
		if (c == '/' && p[i + 1] == '/')
			return false;
		/* no "." or ".." component */
		if (c == '.' && (i == 0 || p[i - 1] == '/') &&
		    (i + 1 == n || p[i + 1] == '/' ||
		     (p[i + 1] == '.' && (i + 2 == n || p[i + 2] == '/'))))
			return false;
	}
	return true;
}

static int rx_config(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	struct mig_config c;

	if (len < sizeof(c))
		return fail(rx, -EINVAL, "CONFIG of %u bytes", len);
	memcpy(&c, p, sizeof(c));
	if (c.flags & ~(MIG_F_LIVE | MIG_F_VERIFY) || c.pad)
		return fail(rx, -EINVAL, "CONFIG: unknown flags %#x", c.flags);
	if (c.domid == 0 || c.domid > 1023)
		return fail(rx, -EINVAL, "CONFIG: domid %u", c.domid);
	if (c.mem_size < MIG_PAGE_SIZE || c.mem_size % MIG_PAGE_SIZE || c.mem_size > MIG_MAX_MEM)
		return fail(rx, -EINVAL, "CONFIG: memory of %llu bytes",
			    (unsigned long long)c.mem_size);
	if (c.nr_grant_frames == 0 || c.nr_grant_frames > MIG_MAX_GNT_FRAMES)
		return fail(rx, -EINVAL, "CONFIG: %u grant frames", c.nr_grant_frames);
	if (c.text_len == 0 || c.text_len > MIG_MAX_CONFIG || c.text_len != len - sizeof(c))
		return fail(rx, -EINVAL, "CONFIG: text of %u bytes in a record of %u", c.text_len,
			    len);
	if (memchr(p + sizeof(c), 0, c.text_len))
		return fail(rx, -EINVAL, "CONFIG: NUL byte in the domain record");
	rx->text = malloc((size_t)c.text_len + 1);
	if (!rx->text)
		return fail(rx, -ENOMEM, "CONFIG: no memory for the domain record");
	memcpy(rx->text, p + sizeof(c), c.text_len);
	rx->text[c.text_len] = 0;
	rx->cfg = c;
	rx->state = MIG_RX_TARGET;
	return 0;
}

static int rx_pages(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	struct mig_pages_hdr ph;
	uint64_t nr_frames = rx->cfg.mem_size / MIG_PAGE_SIZE;

	if (len < sizeof(ph))
		return fail(rx, -EINVAL, "PAGES of %u bytes", len);
	memcpy(&ph, p, sizeof(ph));
	if (ph.count == 0 || ph.count > MIG_MAX_PAGES_PER_REC ||
	    len != sizeof(ph) + (uint64_t)ph.count * (8 + MIG_PAGE_SIZE))
		return fail(rx, -EINVAL, "PAGES: %u pages in %u bytes", ph.count, len);
	if (ph.round >= MIG_MAX_ROUNDS || ph.round < rx->round)
		return fail(rx, -EINVAL, "PAGES: round %u after round %u", ph.round, rx->round);
	if (ph.round != rx->round)
		rx->round_pages = 0;
	rx->round = ph.round;
	/* every pfn first: a bad one refuses the record before any page is written */
	for (uint32_t i = 0; i < ph.count; i++) {
		uint64_t pfn;
		memcpy(&pfn, p + sizeof(ph) + 8 * i, 8);
		if (pfn >= nr_frames)
			return fail(rx, -EINVAL, "PAGES: pfn %llu of %llu", (unsigned long long)pfn,
				    (unsigned long long)nr_frames);
	}
	for (uint32_t i = 0; i < ph.count; i++) {
		uint64_t pfn;
		memcpy(&pfn, p + sizeof(ph) + 8 * i, 8);
		memcpy(rx->mem + pfn * MIG_PAGE_SIZE,
		       p + sizeof(ph) + 8 * (size_t)ph.count + (size_t)i * MIG_PAGE_SIZE,
		       MIG_PAGE_SIZE);
	}
	rx->round_pages += ph.count;
	rx->total_pages += ph.count;
	return 0;
}

static int rx_round_end(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	struct mig_round_end re;

	if (len != sizeof(re))
		return fail(rx, -EINVAL, "ROUND_END of %u bytes", len);
	memcpy(&re, p, sizeof(re));
	if (re.round != rx->round || re.pages != rx->round_pages)
		return fail(rx, -EINVAL, "ROUND_END: round %u with %u pages, %u with %u came",
			    re.round, re.pages, rx->round, rx->round_pages);
	rx->rounds_seen = re.round + 1;
	rx->round = re.round + 1;
	rx->round_pages = 0;
	return 0;
}

static int rx_gnttab(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	uint32_t n;

	if (len < 4)
		return fail(rx, -EINVAL, "GNTTAB of %u bytes", len);
	memcpy(&n, p, 4);
	if (n != rx->cfg.nr_grant_frames || len != 4 + (uint64_t)n * MIG_PAGE_SIZE)
		return fail(rx, -EINVAL, "GNTTAB: %u frames in %u bytes, %u configured", n, len,
			    rx->cfg.nr_grant_frames);
	memcpy(rx->gnt, p + 4, (size_t)n * MIG_PAGE_SIZE);
	rx->have_gnttab = true;
	rx->state = MIG_RX_EVTCHN;
	return 0;
}

static int rx_evtchn(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	uint32_t n, last = 0;

	if (len < 4)
		return fail(rx, -EINVAL, "EVTCHN of %u bytes", len);
	memcpy(&n, p, 4);
	if (n > MIG_MAX_EVTCHNS || len != 4 + (uint64_t)n * sizeof(struct mig_evtchn))
		return fail(rx, -EINVAL, "EVTCHN: %u ports in %u bytes", n, len);
	for (uint32_t i = 0; i < n; i++) {
		struct mig_evtchn e;
		memcpy(&e, p + 4 + (size_t)i * sizeof(e), sizeof(e));
		if (e.port == 0 || e.port >= MIG_MAX_EVTCHNS || (i && e.port <= last) ||
		    e.state > 2 || e.pad || e.remote_dom > 1023 || e.remote_port >= 32768 ||
		    (e.state == 0 && (e.remote_dom || e.remote_port)))
			return fail(rx, -EINVAL, "EVTCHN: entry %u (port %u state %u)", i, e.port,
				    e.state);
		last = e.port;
		rx->nr_bound += e.state == 2;
	}
	rx->nr_evtchns = n;
	rx->state = MIG_RX_STORE;
	return 0;
}

static int rx_store(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	uint32_t n, off = 4;

	if (len < 4)
		return fail(rx, -EINVAL, "STORE of %u bytes", len);
	memcpy(&n, p, 4);
	if (n > MIG_MAX_STORE_NODES)
		return fail(rx, -EINVAL, "STORE: %u nodes", n);
	rx->store = n ? calloc(n, sizeof(*rx->store)) : NULL;
	if (n && !rx->store)
		return fail(rx, -ENOMEM, "STORE: no memory");
	for (uint32_t i = 0; i < n; i++) {
		struct mig_store_node *s = &rx->store[i];
		uint16_t pl, vl;

		if (len - off < 4)
			return fail(rx, -EINVAL, "STORE: node %u truncated", i);
		memcpy(&pl, p + off, 2);
		memcpy(&vl, p + off + 2, 2);
		off += 4;
		if (pl > MIG_MAX_STORE_PATH || vl > MIG_MAX_STORE_VALUE ||
		    (uint64_t)len - off < (uint64_t)pl + vl)
			return fail(rx, -EINVAL, "STORE: node %u of %u+%u bytes", i, pl, vl);
		if (!path_ok((const char *)p + off, pl))
			return fail(rx, -EINVAL, "STORE: node %u: bad path", i);
		memcpy(s->path, p + off, pl);
		memcpy(s->value, p + off + pl, vl);
		s->value_len = vl;
		if (memchr(s->value, 0, vl))
			return fail(rx, -EINVAL, "STORE: node %u: NUL in its value", i);
		off += pl + vl;
		rx->n_store = i + 1;
	}
	if (off != len)
		return fail(rx, -EINVAL, "STORE: %u bytes after the last node", len - off);
	rx->state = MIG_RX_DEVICE;
	return 0;
}

static int rx_device(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	uint32_t n;

	if (len < 4)
		return fail(rx, -EINVAL, "DEVICE of %u bytes", len);
	memcpy(&n, p, 4);
	if (n > MIG_MAX_VIFS || len != 4 + (uint64_t)n * sizeof(struct mig_vif))
		return fail(rx, -EINVAL, "DEVICE: %u vifs in %u bytes", n, len);
	for (uint32_t i = 0; i < n; i++) {
		struct mig_vif v;
		memcpy(&v, p + 4 + (size_t)i * sizeof(v), sizeof(v));
		if (v.devid > 255 || v.accel_level > 3 || v.pad ||
		    !memchr(v.bridge, 0, sizeof(v.bridge)) || !v.bridge[0] ||
		    !memchr(v.accel_plugin, 0, sizeof(v.accel_plugin)) || (v.mac[0] & 1))
			return fail(rx, -EINVAL, "DEVICE: vif %u", i);
		for (uint32_t k = 0; k < i; k++)
			if (rx->vifs[k].devid == v.devid)
				return fail(rx, -EINVAL, "DEVICE: vif %u twice", v.devid);
		rx->vifs[i] = v;
	}
	rx->n_vifs = n;
	rx->state = MIG_RX_END;
	return 0;
}

static int rx_end(struct mig_rx *rx, const uint8_t *p, uint32_t len)
{
	struct mig_end e;

	if (len != sizeof(e))
		return fail(rx, -EINVAL, "END of %u bytes", len);
	memcpy(&e, p, sizeof(e));
	if (e.pad || e.total_pages != rx->total_pages || e.rounds != rx->rounds_seen)
		return fail(rx, -EINVAL, "END: %llu pages in %u rounds, %llu in %u came",
			    (unsigned long long)e.total_pages, e.rounds,
			    (unsigned long long)rx->total_pages, rx->rounds_seen);
	memcpy(rx->digest, e.digest, sizeof(rx->digest));
	rx->state = MIG_RX_DONE;
	return 0;
}

int mig_rx_record(struct mig_rx *rx, const struct mig_rec_hdr *h, const uint8_t *payload,
		  const uint8_t tag[32])
{
	uint8_t want[32];

	if (rx->state == MIG_RX_FAILED)
		return -EPROTO;
	if (h->len > MIG_MAX_REC)
		return fail(rx, -EINVAL, "record of %u bytes", h->len);
	mig_rec_tag(rx->skey, 'S', h, payload, want);
	if (!mig_mac_equal(want, tag, 32))
		return fail(rx, -EBADMSG, "record %llu: bad tag (corrupt or not of this session)",
			    (unsigned long long)h->seq);
	if (h->seq != rx->seq)
		return fail(rx, -EBADMSG, "record %llu where %llu was due (replayed or dropped)",
			    (unsigned long long)h->seq, (unsigned long long)rx->seq);
	rx->seq++;
	switch (rx->state) {
	case MIG_RX_CONFIG:
		if (h->type == MIG_REC_CONFIG)
			return rx_config(rx, payload, h->len);
		break;
	case MIG_RX_PAGES:
		if (h->type == MIG_REC_PAGES)
			return rx_pages(rx, payload, h->len);
		if (h->type == MIG_REC_ROUND_END)
			return rx_round_end(rx, payload, h->len);
		if (h->type == MIG_REC_GNTTAB) {
			if (rx->round_pages)
				return fail(rx, -EPROTO, "GNTTAB inside round %u", rx->round);
			return rx_gnttab(rx, payload, h->len);
		}
		break;
	case MIG_RX_EVTCHN:
		if (h->type == MIG_REC_EVTCHN)
			return rx_evtchn(rx, payload, h->len);
		break;
	case MIG_RX_STORE:
		if (h->type == MIG_REC_STORE)
			return rx_store(rx, payload, h->len);
		break;
	case MIG_RX_DEVICE:
		if (h->type == MIG_REC_DEVICE)
			return rx_device(rx, payload, h->len);
		break;
	case MIG_RX_END:
		if (h->type == MIG_REC_END)
			return rx_end(rx, payload, h->len);
		break;
	default:
		break;
	}
	return fail(rx, -EPROTO, "record type %u unexpected in state %d", h->type, rx->state);
}
