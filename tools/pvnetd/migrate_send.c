/* SPDX-License-Identifier: MIT */
/*
 * Sending a live migration: `pvnet migrate DOM IPV4:PORT [--live|--no-live]
 * [--verify]` (docs/migration.md). It runs in the control loop and pumps it
 * while it waits on the socket or the guest (one outgoing migration at a
 * time): the handshake and CONFIG (a refusal leaves the guest untouched),
 * log-dirty, pre-copy rounds, the backends removed and the guest suspended,
 * the last round, the state, END; on DONE the domain is released and the
 * guest process resumes at the destination. Any failure before DONE resumes
 * the guest here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/log.h>

#include "migrate_int.h"

/* Sends a PAGES record. The pages are copied first: the guest may write them
 * meanwhile, and the tag must cover exactly the bytes sent (a later write is
 * in the dirty log and goes in the next round). buf: MIG_MAX_REC bytes. */
static int chan_send_pages(struct chan *c, uint32_t round, const uint64_t *pfns, uint32_t count,
			   const uint8_t *mem, uint8_t *buf)
{
	struct mig_pages_hdr ph = {.round = round, .count = count};
	size_t off = sizeof(ph) + count * 8u;

	memcpy(buf, &ph, sizeof(ph));
	memcpy(buf + sizeof(ph), pfns, count * 8u);
	for (uint32_t i = 0; i < count; i++)
		memcpy(buf + off + (size_t)i * MIG_PAGE_SIZE, mem + pfns[i] * MIG_PAGE_SIZE,
		       MIG_PAGE_SIZE);
	return mig_chan_send(c, MIG_REC_PAGES, buf, (uint32_t)(off + count * MIG_PAGE_SIZE));
}


struct out {
	struct pvnetd *d;
	struct dom *dom;
	struct chan c;
	uint8_t *mem, *gnt;
	size_t gnt_size;
	int mem_fd, gnt_fd;
	uint64_t nr_frames, words;
	uint64_t *bits;
	uint8_t *buf; /* MIG_MAX_REC: one PAGES record */
	uint64_t total_pages;
	uint32_t round;
	domid_t domid;
	char home[64];
	/* the command */
	struct outbuf *ob;
	const char *name, *addr;
	struct sockaddr_in sa;
	bool live, verify, logdirty, suspended, backends_gone;
	char *text; /* room for struct mig_config, then the domain record */
	uint32_t text_len;
	char tok[2 * MIG_TOKEN_SIZE + 1];
	char target[MIG_PATH_MAX]; /* where the guest resumes (ACCEPT) */
	uint64_t t0, t_susp, t_ack;
};

/* The domain is still ours: the loop pumped meanwhile may have reaped a guest that died. */
static bool dom_alive(struct out *o)
{
	for (struct dom *dom = o->d->doms; dom; dom = dom->next)
		if (dom == o->dom && dom->domid == o->domid && !dom->dying && dom->pid > 0)
			return true;
	return false;
}

/* Waits (pumping) until the guest's data/migrate reads `want`. 0 or -ETIMEDOUT. */
static int wait_guest(struct out *o, const char *want, int ms, char *got, size_t size)
{
	char path[128];
	uint64_t deadline = pvnet_now_ns() + (uint64_t)ms * 1000000u;

	snprintf(path, sizeof(path), "%s/data/migrate", o->home);
	for (;;) {
		char *v = NULL;
		size_t len;
		bool ok = xs_read(o->d->xs, 0, 0, path, &v, &len) == 0 && !strcmp(v, want);
		if (got && v)
			snprintf(got, size, "%s", v);
		free(v);
		if (ok)
			return 0;
		if (pvnet_now_ns() > deadline)
			return -ETIMEDOUT;
		pvnetd_pump(o->d, 2);
		if (!dom_alive(o))
			return -ESRCH;
	}
}

/* Writes control/migrate = "what[ a b]" after clearing the guest's last answer. */
static int control(struct out *o, const char *what, const char *a, const char *b)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/data/migrate", o->home);
	xs_rm(o->d->xs, 0, 0, path);
	snprintf(path, sizeof(path), "%s/control/migrate", o->home);
	if (a)
		return xs_printf(o->d->xs, 0, path, "%s %s %s", what, a, b);
	return xs_printf(o->d->xs, 0, path, "%s", what);
}

/* Sends the frames set in o->bits as round o->round; returns the count or -errno. */
static int send_round(struct out *o)
{
	uint64_t pfns[MIG_MAX_PAGES_PER_REC];
	uint32_t n = 0, total = 0;
	struct mig_round_end re;
	int rc;

	for (uint64_t i = 0; i < o->words; i++) {
		for (uint64_t b = o->bits[i]; b; b &= b - 1) {
			uint64_t pfn = i * 64 + (uint64_t)__builtin_ctzll(b);
			if (pfn >= o->nr_frames)
				break;
			pfns[n++] = pfn;
			if (n == MIG_MAX_PAGES_PER_REC) {
				if ((rc = chan_send_pages(&o->c, o->round, pfns, n, o->mem,
							  o->buf)) < 0)
					return rc;
				total += n, n = 0;
			}
		}
		o->bits[i] = 0;
	}
	if (n && (rc = chan_send_pages(&o->c, o->round, pfns, n, o->mem, o->buf)) < 0)
		return rc;
	total += n;
	re = (struct mig_round_end){.round = o->round, .pages = total};
	if ((rc = mig_chan_send(&o->c, MIG_REC_ROUND_END, &re, sizeof(re))) < 0)
		return rc;
	o->total_pages += total;
	o->round++;
	return (int)total;
}

/* Round 0: every frame that holds data (a never-written frame is a hole of the memfd). */
static void mark_populated(struct out *o)
{
	off_t end = (off_t)(o->nr_frames * MIG_PAGE_SIZE), pos = 0;

	while (pos < end) {
		off_t data = lseek(o->mem_fd, pos, SEEK_DATA), hole;
		if (data < 0)
			break;
		hole = lseek(o->mem_fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = end;
		for (uint64_t f = (uint64_t)data / MIG_PAGE_SIZE;
		     f < (uint64_t)(hole + MIG_PAGE_SIZE - 1) / MIG_PAGE_SIZE && f < o->nr_frames;
		     f++)
			o->bits[f / 64] |= 1ull << (f % 64);
		pos = hole;
	}
}

/* The frames written since the last harvest: the guest's log and dom0's. 0 or -errno. */
static int harvest(struct out *o)
{
	int kick = -1;
	struct mig_logdirty_shared *sh = hv_logdirty_shared(o->d->hv, o->domid, &kick);
	uint64_t *h, req, one = 1, deadline;

	if (!sh)
		return -ENOENT;
	h = (uint64_t *)(sh + 1) + o->words;
	req = __atomic_add_fetch(&sh->req_seq, 1, __ATOMIC_RELEASE);
	if (write(kick, &one, sizeof(one)) != sizeof(one))
		return -errno;
	deadline = pvnet_now_ns() + MIG_GUEST_MS * 1000000ull;
	while (__atomic_load_n(&sh->done_seq, __ATOMIC_ACQUIRE) != req) {
		if (pvnet_now_ns() > deadline)
			return -ETIMEDOUT;
		pvnetd_pump(o->d, 1);
		if (!dom_alive(o))
			return -ESRCH;
	}
	for (uint64_t i = 0; i < o->words; i++)
		o->bits[i] |= __atomic_exchange_n(&h[i], 0, __ATOMIC_ACQ_REL);
	return hv_logdirty_harvest_dom0(o->d->hv, o->domid, o->bits);
}

/* GNTTAB: the grant table's frames as they are now (the guest is suspended). */
static int send_gnttab(struct out *o)
{
	uint32_t nf = (uint32_t)(o->gnt_size / MIG_PAGE_SIZE);
	uint8_t *g = malloc(4 + (size_t)nf * MIG_PAGE_SIZE);
	int rc;

	if (!g)
		return -ENOMEM;
	memcpy(g, &nf, 4);
	memcpy(g + 4, o->gnt, (size_t)nf * MIG_PAGE_SIZE);
	rc = mig_chan_send(&o->c, MIG_REC_GNTTAB, g, 4 + nf * MIG_PAGE_SIZE);
	free(g);
	return rc;
}

/* EVTCHN: the ports the domain has open (the frontends bind new ones on resume). */
static int send_evtchn(struct out *o, uint8_t *buf)
{
	uint32_t n = 0;

	for (uint32_t port = 1; port < MIG_MAX_EVTCHNS; port++) {
		struct evtchn_status st = {.dom = o->domid, .port = port};
		struct mig_evtchn e;
		bool unbound;

		if (evtchn_status(o->d->hv, 0, &st) < 0)
			break;
		if (st.status != EVTCHNSTAT_unbound && st.status != EVTCHNSTAT_interdomain)
			continue;
		unbound = st.status == EVTCHNSTAT_unbound;
		e = (struct mig_evtchn){.port = port,
					.state = unbound ? 1 : 2,
					.remote_dom =
						unbound ? st.u.unbound.dom : st.u.interdomain.dom,
					.remote_port = unbound ? 0 : st.u.interdomain.port};
		memcpy(buf + 4 + n * sizeof(e), &e, sizeof(e));
		n++;
	}
	memcpy(buf, &n, 4);
	return mig_chan_send(&o->c, MIG_REC_EVTCHN, buf,
			     4 + n * (uint32_t)sizeof(struct mig_evtchn));
}

/* A data/ node name the destination's parser takes (hv/save.c path_ok). */
static bool store_name_ok(const char *n)
{
	return n[0] && n[0] != '.' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_-.") == strlen(n);
}

/* STORE: the guest's data/ nodes (the rest is rewritten from the config and by the guest). */
static int send_store(struct out *o, uint8_t *buf)
{
	char path[256], **names = NULL, *v = NULL;
	unsigned count = 0, kept = 0;
	uint32_t off = 4;
	size_t len;

	snprintf(path, sizeof(path), "%s/data", o->home);
	if (xs_directory(o->d->xs, 0, 0, path, &names, &count) < 0)
		count = 0;
	for (unsigned i = 0; i < count && kept < MIG_MAX_STORE_NODES; i++) {
		char rel[MIG_MAX_STORE_PATH + 1];
		uint16_t pl, vl;

		if (!store_name_ok(names[i]) ||
		    snprintf(rel, sizeof(rel), "data/%s", names[i]) >= (int)sizeof(rel))
			continue;
		snprintf(path, sizeof(path), "%s/%s", o->home, rel);
		if (xs_read(o->d->xs, 0, 0, path, &v, &len) < 0)
			continue;
		pl = (uint16_t)strlen(rel);
		if (len <= MIG_MAX_STORE_VALUE && !memchr(v, 0, len) && off + 4 + pl + len < 4096) {
			vl = (uint16_t)len;
			memcpy(buf + off, &pl, 2);
			memcpy(buf + off + 2, &vl, 2);
			memcpy(buf + off + 4, rel, pl);
			memcpy(buf + off + 4 + pl, v, vl);
			off += 4u + pl + vl;
			kept++;
		}
		free(v);
		v = NULL;
	}
	xs_free_list(names, count);
	memcpy(buf, &kept, 4);
	return mig_chan_send(&o->c, MIG_REC_STORE, buf, off);
}

/* DEVICE payload from the domain's vifs (before any send: the sends pump the loop). */
static uint32_t build_devices(const struct out *o, uint8_t *dev)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < o->dom->cfg.n_vifs && n < MIG_MAX_VIFS; i++) {
		const struct pvnet_vif_cfg *vc = &o->dom->cfg.vifs[i];
		struct mig_vif v = {
			.devid = vc->devid >= 0 ? (uint32_t)vc->devid : i,
			.accel_level = vc->level > 0 && vc->level <= 3 ? (uint8_t)vc->level : 0};
		memcpy(v.mac, vc->mac, 6);
		snprintf(v.bridge, sizeof(v.bridge), "%s", vc->bridge);
		snprintf(v.accel_plugin, sizeof(v.accel_plugin), "%s", vc->accel);
		memcpy(dev + 4 + n * sizeof(v), &v, sizeof(v));
		n++;
	}
	memcpy(dev, &n, 4);
	return 4 + n * (uint32_t)sizeof(struct mig_vif);
}

/* GNTTAB, EVTCHN, STORE, DEVICE. */
static int send_state(struct out *o)
{
	uint8_t dev[4 + MIG_MAX_VIFS * sizeof(struct mig_vif)];
	uint8_t *buf = malloc(4 + MIG_MAX_EVTCHNS * sizeof(struct mig_evtchn) + 4096);
	uint32_t dev_len = build_devices(o, dev);
	int rc;

	if (!buf)
		return -ENOMEM;
	if ((rc = send_gnttab(o)) == 0 && (rc = send_evtchn(o, buf)) == 0 &&
	    (rc = send_store(o, buf)) == 0)
		rc = mig_chan_send(&o->c, MIG_REC_DEVICE, dev, dev_len);
	free(buf);
	return rc;
}

/* The switch-over: the domain leaves this host, its guest process goes on (to the destination). */
static void release_dom(struct pvnetd *d, struct dom *dom)
{
	struct migrate *m = d->migrate;
	char path[128];

	hv_logdirty_stop(d->hv, dom->domid);
	for (unsigned i = 0; i < MIG_MAX_RELEASED; i++)
		if (m->released[i] <= 0 && !dom->adopted) {
			m->released[i] = dom->pid; /* reaped by migrate_pollfds when it exits */
			break;
		}
	if (dom->hc_fd >= 0) {
		loop_unwatch_hc(d, dom);
		close(dom->hc_fd); /* the guest's cue: resume at the destination */
	}
	dom->hc_fd = -1;
	if (dom->adopted && dom->pidfd >= 0)
		close(dom->pidfd);
	adopt_forget(d, dom);
	xs_server_drop_domain(d->xss, dom->domid);
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u", dom->domid);
	xs_rm(d->xs, 0, 0, path);
	xs_domain_release(d->xs, dom->domid);
	hv_domain_destroy(d->hv, dom->domid);
	for (struct dom **pp = &d->doms; *pp; pp = &(*pp)->next)
		if (*pp == dom) {
			*pp = dom->next;
			break;
		}
	state_forget_domain(d, dom);
	free(dom);
}

static int any_vif(const struct nb_vif_info *vi, void *arg)
{
	(void)vi, (void)arg;
	return 1;
}

struct accel_names {
	char name[8][VSW_NAME_MAX];
	unsigned n;
};

static int accel_vif(const struct nb_vif_info *vi, void *arg)
{
	struct accel_names *a = arg;

	if (vi->accel[0] && a->n < 8)
		snprintf(a->name[a->n++], sizeof(a->name[0]), "%s", vi->name);
	return 0;
}

/*
 * Solarflare netaccel's hot-unplug rule: before the last copy every
 * accelerated vif goes to the software path (`pvnet accel detach`: the NIC's
 * buffers handed back, nothing lost), so no NIC state is left to move; the
 * destination's netback re-attaches it to a NIC of the same plugin if it has
 * one, or keeps it on the software path with the reason in `pvnet vif-list`.
 */
static void accel_detach_all(struct pvnetd *d, struct dom *dom, struct outbuf *ob)
{
	struct accel_names a = {.n = 0};

	nb_vif_foreach(d->nb, dom->domid, accel_vif, &a);
	for (unsigned i = 0; i < a.n; i++) {
		int rc = nb_accel_vif_set_attached(d->nb, a.name[i], false);
		if (rc == 0)
			out_printf(ob, "%s: accelerator detached, software path for the copy\n",
				   a.name[i]);
		else if (rc != -EOPNOTSUPP && rc != -ENODEV)
			out_printf(ob, "%s: accelerator detach: %s\n", a.name[i], strerror(-rc));
	}
	if (a.n)
		pvnetd_pump(d, 5); /* what the NIC handed back goes out on the rings */
}

/* The answer to CONFIG or END: ACCEPT / REFUSE / DONE. */
union answer {
	struct mig_accept acc;
	struct mig_refuse ref;
	uint8_t raw[256];
};

/* Arguments and what must hold before anything is sent. 0, or the command's status. */
static int out_parse(struct out *o, int argc, char **argv)
{
	struct migrate *m = o->d->migrate;

	o->live = true;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--live"))
			o->live = true;
		else if (!strcmp(argv[i], "--no-live"))
			o->live = false;
		else if (!strcmp(argv[i], "--verify"))
			o->verify = true;
		else if (!o->name)
			o->name = argv[i];
		else if (!o->addr)
			o->addr = argv[i];
		else
			o->name = NULL, o->addr = NULL, i = argc;
	}
	if (!o->name || !o->addr || mig_parse_addr(o->addr, &o->sa) < 0) {
		err_printf(
			o->ob,
			"usage: pvnet migrate DOM IPV4ADDR:PORT [--live|--no-live] [--verify]\n");
		return 2;
	}
	if (!m || !m->key_size) {
		err_printf(o->ob, "this pvnetd has no --migrate-key: it cannot migrate\n");
		return 1;
	}
	o->dom = dom_find(o->d, o->name);
	if (!o->dom || o->dom->dying || o->dom->hvm || o->dom->pid <= 0 || o->dom->hc_fd < 0) {
		err_printf(o->ob, "%s: no running PV domain of that name%s\n", o->name,
			   o->dom && o->dom->hvm ? " (HVM migration is not done yet)" : "");
		return 1;
	}
	if (m->busy) {
		err_printf(o->ob, "a migration is already running\n");
		return 1;
	}
	o->domid = o->dom->domid;
	snprintf(o->home, sizeof(o->home), "/local/domain/%u", o->domid);
	return 0;
}

/* The domain record (adopt.c): the config the destination rebuilds the domain from. */
static int out_read_record(struct out *o)
{
	char path[PATH_MAX + 32];
	struct stat st;
	int rf;

	snprintf(path, sizeof(path), "%s/domains/%u.dom", o->d->state_dir, o->domid);
	rf = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (rf < 0 || fstat(rf, &st) < 0 || st.st_size <= 0 || st.st_size > MIG_MAX_CONFIG ||
	    !(o->text = malloc((size_t)st.st_size + sizeof(struct mig_config))) ||
	    read(rf, o->text + sizeof(struct mig_config), (size_t)st.st_size) != st.st_size) {
		err_printf(o->ob,
			   "%s: no domain record %s (a guest started without the state dir "
			   "cannot be migrated)\n",
			   o->name, path);
		if (rf >= 0)
			close(rf);
		return -1;
	}
	close(rf);
	o->text_len = (uint32_t)st.st_size;
	return 0;
}

/* Connects and proves the key both ways; the session key into o->c. 0 or -1. */
static int out_connect(struct out *o)
{
	struct migrate *m = o->d->migrate;
	struct mig_hello hr, hs = {.magic = MIG_MAGIC, .version = MIG_VERSION}, ha;
	uint8_t want[32];
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	o->c = (struct chan){.d = o->d, .fd = fd, .dir_out = 'S', .dir_in = 'R'};
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	if (fd < 0 ||
	    (connect(fd, (struct sockaddr *)&o->sa, sizeof(o->sa)) < 0 && errno != EINPROGRESS)) {
		err_printf(o->ob, "connect %s: %s\n", o->addr, strerror(errno));
		return -1;
	}
	if ((err = mig_pio_full(o->d, fd, &hr, sizeof(hr), false, 5000)) < 0) {
		err_printf(o->ob, "%s: no migration listener answered: %s\n", o->addr,
			   strerror(-err));
		return -1;
	}
	if (hr.magic != MIG_MAGIC || hr.version != MIG_VERSION ||
	    getrandom(hs.nonce, sizeof(hs.nonce), 0) != sizeof(hs.nonce)) {
		err_printf(o->ob, "%s: not a pvnet migration listener of version %d\n", o->addr,
			   MIG_VERSION);
		return -1;
	}
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-c", hr.nonce, hs.nonce, hs.mac);
	if ((err = mig_pio_full(o->d, fd, &hs, sizeof(hs), true, MIG_IO_MS)) < 0 ||
	    (err = mig_pio_full(o->d, fd, &ha, sizeof(ha), false, MIG_IO_MS)) < 0) {
		err_printf(o->ob, "%s: handshake: %s (wrong key?)\n", o->addr, strerror(-err));
		return -1;
	}
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-s", hr.nonce, hs.nonce, want);
	if (!mig_mac_equal(want, ha.mac, 32)) {
		err_printf(o->ob, "%s: the destination does not hold our key\n", o->addr);
		return -1;
	}
	mig_auth_mac(m->key, m->key_size, "pvnet-mig-k", hr.nonce, hs.nonce, o->c.skey);
	return 0;
}

/* CONFIG, then the destination's verdict: nothing has happened to the guest yet. 0 or -1. */
static int out_offer(struct out *o)
{
	struct mig_config cfg = {.flags = (o->live ? MIG_F_LIVE : 0) |
					  (o->verify ? MIG_F_VERIFY : 0),
				 .domid = o->domid,
				 .text_len = o->text_len};
	struct hv_domain_info info;
	struct mig_rec_hdr h;
	union answer rep;
	int err;

	if (!dom_alive(o) || hv_domain_get_info(o->d->hv, o->domid, &info) < 0) {
		err_printf(o->ob, "%s: the guest died\n", o->name);
		return -1;
	}
	cfg.mem_size = info.mem_size;
	cfg.nr_grant_frames = info.nr_grant_entries / 512;
	memcpy(o->text, &cfg, sizeof(cfg));
	if ((err = mig_chan_send(&o->c, MIG_REC_CONFIG, o->text,
				 (uint32_t)sizeof(cfg) + o->text_len)) < 0 ||
	    (err = mig_chan_recv_small(&o->c, &h, &rep, sizeof(rep))) < 0) {
		err_printf(o->ob, "%s: sending the config: %s\n", o->addr, strerror(-err));
		return -1;
	}
	if (h.type == MIG_REC_REFUSE && h.len == sizeof(rep.ref)) {
		rep.ref.why[sizeof(rep.ref.why) - 1] = 0;
		err_printf(o->ob, "%s refused domain '%s': %s (the guest runs on here)\n", o->addr,
			   o->name, rep.ref.why);
		return -1;
	}
	if (h.type != MIG_REC_ACCEPT || h.len != sizeof(rep.acc) ||
	    !memchr(rep.acc.path, 0, sizeof(rep.acc.path))) {
		err_printf(o->ob, "%s: unexpected answer %u\n", o->addr, h.type);
		return -1;
	}
	for (unsigned i = 0; i < MIG_TOKEN_SIZE; i++)
		sprintf(o->tok + 2 * i, "%02x", rep.acc.token[i]);
	memcpy(o->target, rep.acc.path, sizeof(o->target));
	return 0;
}

/* The domain's memory and grant table, mapped read-only here. 0 or -1. */
static int out_map(struct out *o)
{
	struct hv_domain_info info;

	if (hv_domain_fds(o->d->hv, o->domid, &o->mem_fd, &o->gnt_fd) < 0 ||
	    hv_domain_get_info(o->d->hv, o->domid, &info) < 0)
		return -1;
	o->nr_frames = info.mem_size / MIG_PAGE_SIZE;
	o->words = MIG_LOG_WORDS(o->nr_frames);
	o->mem = mmap(NULL, info.mem_size, PROT_READ, MAP_SHARED, o->mem_fd, 0);
	o->gnt_size = (size_t)info.nr_grant_entries / 512 * MIG_PAGE_SIZE;
	o->gnt = mmap(NULL, o->gnt_size, PROT_READ, MAP_SHARED, o->gnt_fd, 0);
	o->bits = calloc(o->words, 8);
	o->buf = malloc(MIG_MAX_REC);
	if (o->mem == MAP_FAILED || o->gnt == MAP_FAILED || !o->bits || !o->buf) {
		err_printf(o->ob, "mapping the domain's memory failed\n");
		return -1;
	}
	return 0;
}

/* Log-dirty on before the first copy, so every later write is caught; off (and
 * --no-live's copy) when the guest does not start it. 0, or -1 to cancel. */
static int out_logdirty(struct out *o)
{
	char got[64] = "";

	if (!o->live)
		return 0;
	if (hv_logdirty_start(o->d->hv, o->domid) < 0) {
		o->live = false;
		return 0;
	}
	o->logdirty = true;
	control(o, "logdirty", NULL, NULL);
	if (wait_guest(o, "logdirty", MIG_GUEST_MS, got, sizeof(got)) == 0)
		return 0;
	out_printf(o->ob, "guest did not start log-dirty (%s): stop-and-copy instead\n",
		   got[0] ? got : "no answer");
	if (!dom_alive(o))
		return -1;
	hv_logdirty_stop(o->d->hv, o->domid);
	control(o, "resume", NULL, NULL); /* whatever it started, it stops */
	o->logdirty = o->live = false;
	return 0;
}

/* Pre-copy rounds until the dirty set is small or stops shrinking. 0, or -1 to cancel. */
static int out_precopy(struct out *o)
{
	unsigned prev = 0;
	int err;

	if (!o->live)
		return 0; /* --no-live, as xl's: one copy with the guest stopped */
	mark_populated(o);
	for (;;) {
		uint64_t tr = pvnet_now_ns();
		unsigned dirty = 0;
		int sent = send_round(o);

		if (sent < 0 || !dom_alive(o)) {
			err_printf(o->ob, "round %u: %s\n", o->round,
				   strerror(sent < 0 ? -sent : ESRCH));
			return -1;
		}
		out_printf(o->ob, "round %u: %d pages (%.1f MiB) in %llu ms\n", o->round - 1, sent,
			   sent / 256.0, (unsigned long long)((pvnet_now_ns() - tr) / 1000000u));
		PVLOG(INFO, MOD, "domain %u: round %u: %d pages", o->domid, o->round - 1, sent);
		if (o->round >= MIG_MAX_ROUNDS - 2)
			return 0;
		if ((err = harvest(o)) < 0) {
			err_printf(o->ob, "log-dirty harvest: %s\n", strerror(-err));
			return -1;
		}
		for (uint64_t i = 0; i < o->words; i++)
			dirty += (unsigned)__builtin_popcountll(o->bits[i]);
		/* converged, or not converging any more */
		if (dirty <= 64 || o->round >= 8 || (o->round > 2 && dirty >= prev))
			return 0;
		prev = dirty;
	}
}

/*
 * Stops the guest: first the backends go (netback unmaps the rings and
 * persistent grants, its last writes logged) so that the frontend's Closing
 * revokes every grant; then the guest suspends (Xen's suspend). 0 or -1.
 */
static int out_suspend(struct out *o)
{
	char path[128], got[64] = "";

	o->t_susp = pvnet_now_ns();
	accel_detach_all(o->d, o->dom, o->ob);
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u", o->domid);
	xs_rm(o->d->xs, 0, 0, path);
	o->backends_gone = true;
	for (uint64_t dl = pvnet_now_ns() + 2000000000ull;
	     nb_vif_foreach(o->d->nb, o->domid, any_vif, NULL) && pvnet_now_ns() < dl;)
		pvnetd_pump(o->d, 1);
	control(o, "suspend", o->target, o->tok);
	if (wait_guest(o, "suspended", MIG_GUEST_MS, got, sizeof(got)) < 0) {
		err_printf(o->ob, "the guest did not suspend (%s)\n", got[0] ? got : "no answer");
		return -1;
	}
	o->suspended = true;
	o->t_ack = pvnet_now_ns();
	return 0;
}

/* The last round, the state and END; the destination's DONE. 0 or -1. */
static int out_stop_and_copy(struct out *o)
{
	struct mig_end end;
	struct mig_rec_hdr h;
	union answer rep;
	int sent, err;

	if (o->logdirty && (err = harvest(o)) < 0) {
		err_printf(o->ob, "log-dirty harvest: %s\n", strerror(-err));
		return -1;
	}
	if (!o->logdirty)
		mark_populated(o); /* --no-live: everything, once, the guest stopped */
	sent = send_round(o);
	if (sent >= 0 && !dom_alive(o))
		sent = -ESRCH; /* the guest died meanwhile */
	if (sent < 0 || (err = send_state(o)) < 0) {
		err_printf(o->ob, "stop-and-copy: %s\n", strerror(-(sent < 0 ? sent : err)));
		return -1;
	}
	out_printf(o->ob, "round %u (stop-and-copy): %d pages\n", o->round - 1, sent);
	end = (struct mig_end){.total_pages = o->total_pages, .rounds = o->round};
	if (o->verify) /* the guest is stopped and the backends gone: nothing writes now */
		mig_mem_digest(o->mem_fd, o->mem, o->nr_frames, end.digest);
	if ((err = mig_chan_send(&o->c, MIG_REC_END, &end, sizeof(end))) < 0 ||
	    (err = mig_chan_recv_small(&o->c, &h, &rep, sizeof(rep))) < 0) {
		err_printf(o->ob, "%s: %s\n", o->addr, strerror(-err));
		return -1;
	}
	if (h.type != MIG_REC_DONE) {
		if (h.type == MIG_REC_REFUSE && h.len == sizeof(rep.ref))
			rep.ref.why[sizeof(rep.ref.why) - 1] = 0;
		err_printf(o->ob, "%s refused the stream: %s\n", o->addr,
			   h.type == MIG_REC_REFUSE && h.len == sizeof(rep.ref)
				   ? rep.ref.why
				   : "unexpected answer");
		return -1;
	}
	return 0;
}

static void out_report(struct out *o)
{
	uint64_t t_done = pvnet_now_ns();

	out_printf(o->ob,
		   "migrated domain %u '%s' to %s: %llu pages in %u rounds, %llu ms in all; "
		   "stop-and-copy (guest suspended to destination DONE) %llu ms\n",
		   o->domid, o->name, o->addr, (unsigned long long)o->total_pages, o->round,
		   (unsigned long long)((t_done - o->t0) / 1000000u),
		   (unsigned long long)((t_done - o->t_susp) / 1000000u));
	PVLOG(INFO, MOD,
	      "domain %u '%s' migrated to %s: %llu pages in %u rounds, stop-and-copy %llu ms "
	      "(backends gone and guest suspended %llu ms, last round and state to DONE %llu ms)",
	      o->domid, o->name, o->addr, (unsigned long long)o->total_pages, o->round,
	      (unsigned long long)((t_done - o->t_susp) / 1000000u),
	      (unsigned long long)((o->t_ack - o->t_susp) / 1000000u),
	      (unsigned long long)((t_done - o->t_ack) / 1000000u));
}

/* Before the destination's DONE nothing is lost: the guest resumes here. */
static void out_cancel(struct out *o)
{
	if (o->logdirty)
		hv_logdirty_stop(o->d->hv, o->domid);
	if (!dom_alive(o)) {
		PVLOG(WARN, MOD, "domain %u '%s': its guest died during the migration to %s",
		      o->domid, o->name, o->addr);
		return;
	}
	if (o->backends_gone)
		for (unsigned i = 0; i < o->dom->cfg.n_vifs; i++)
			write_vif_nodes(o->d, o->dom, (unsigned)o->dom->cfg.vifs[i].devid,
					&o->dom->cfg.vifs[i]);
	control(o, "resume", NULL, NULL);
	PVLOG(WARN, MOD, "domain %u '%s': migration to %s failed; %s here", o->domid, o->name,
	      o->addr, o->suspended ? "resumed" : "still running");
}

static void out_free(struct out *o)
{
	if (o->mem && o->mem != MAP_FAILED)
		munmap(o->mem, o->nr_frames * MIG_PAGE_SIZE);
	if (o->gnt && o->gnt != MAP_FAILED)
		munmap(o->gnt, o->gnt_size);
	if (o->mem_fd >= 0)
		close(o->mem_fd);
	if (o->gnt_fd >= 0)
		close(o->gnt_fd);
	if (o->c.fd >= 0)
		close(o->c.fd);
	free(o->bits);
	free(o->buf);
	free(o->text);
}

int cmd_migrate(struct pvnetd *d, struct outbuf *ob, int argc, char **argv)
{
	struct out o = {
		.d = d, .ob = ob, .mem_fd = -1, .gnt_fd = -1, .c.fd = -1, .t0 = pvnet_now_ns()};
	int rc = out_parse(&o, argc, argv);

	if (rc)
		return rc;
	if (out_read_record(&o) < 0) {
		out_free(&o);
		return 1;
	}
	d->migrate->busy = true;
	rc = 1;
	if (out_connect(&o) < 0 || out_offer(&o) < 0 || out_map(&o) < 0)
		goto out; /* the guest was not touched */
	if (out_logdirty(&o) < 0 || out_precopy(&o) < 0 || out_suspend(&o) < 0 ||
	    out_stop_and_copy(&o) < 0) {
		out_cancel(&o);
		goto out;
	}
	d->migrate->sent++;
	out_report(&o);
	if (dom_alive(&o))
		release_dom(d, o.dom); /* the switch-over */
	rc = 0;
out:
	out_free(&o);
	d->migrate->busy = false;
	return rc;
}
