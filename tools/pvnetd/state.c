/* SPDX-License-Identifier: MIT */
/*
 * pvnetd's persistent switch configuration (include/pvnet/state.h): the state
 * directory's lock, loading and applying <state-dir>/switch.conf at start,
 * saving it after every change, and the settings of guests' vifs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/state.h>

#include "pvnetd.h"
#include "switch_cli.h"

#define MOD "state"

struct pvnetd_state {
	struct pvnet_state *st;
	char path[PATH_MAX + 32];
	int lock_fd;
	unsigned pending; /* entries waiting for their vif port */
	char *written;    /* the file as pvnetd last wrote it (NULL before the first save) */
	size_t written_len;
};

/* Output of a replayed command: the text, for the error message. */
struct capture {
	char text[512];
};

static void capture_out(void *arg, int is_err, const char *text)
{
	struct capture *cap = arg;
	size_t n = strlen(cap->text);

	if (!is_err || n + 1 >= sizeof(cap->text))
		return;
	snprintf(cap->text + n, sizeof(cap->text) - n, "%s", text);
	n = strlen(cap->text);
	while (n && cap->text[n - 1] == '\n')
		cap->text[--n] = 0;
}

static void keep_copy(struct pvnetd *d, const char *why, const char *text, size_t len);

/*
 * Writes the file. A file that differs from what pvnetd last wrote was edited by
 * hand while pvnetd ran: the edit is not applied (the file is read at start only),
 * so it is kept aside, never lost silently under the new file.
 */
static int write_file(struct pvnetd *d)
{
	struct pvnetd_state *s = d->state;
	char *disk = NULL;
	size_t disk_len = 0;
	int rc;

	if (s->written && pvnet_state_read_file(s->path, &disk, &disk_len) == 0 &&
	    (disk_len != s->written_len || memcmp(disk, s->written, disk_len))) {
		PVLOG(WARN, MOD,
		      "%s was edited while pvnetd runs: the edit is not applied (edit it "
		      "only while pvnetd is stopped, or change settings with pvnet switch)",
		      s->path);
		keep_copy(d, "edited", disk, disk_len);
	}
	free(disk);
	rc = pvnet_state_save(s->st, s->path);
	if (rc < 0)
		return rc;
	free(s->written);
	s->written = NULL;
	if (pvnet_state_format(s->st, &s->written, &s->written_len) < 0)
		s->written = NULL; /* no comparison next time: nothing worse than before */
	return rc;
}

static int save(struct pvnetd *d)
{
	int rc = write_file(d);

	if (rc < 0)
		PVLOG(ERR, MOD, "cannot save %s: %s", d->state->path, strerror(-rc));
	return rc;
}

static int recorder(void *arg, int argc, char **argv, char *err, size_t size)
{
	return state_record(arg, argc, argv, err, size);
}

int state_record(struct pvnetd *d, int argc, char **argv, char *err, size_t size)
{
	int rc;

	if (!d->state)
		return 0;
	rc = pvnet_state_record(d->state->st, argc, argv, 0, err, size);
	if (rc == 0)
		return 0;
	if (rc == 1)
		rc = write_file(d);
	else if (rc == -EINVAL)
		return rc; /* err says why */
	if (rc < 0) {
		snprintf(err, size, "%s: %s", d->state->path, strerror(-rc));
		PVLOG(ERR, MOD, "cannot save %s: %s", d->state->path, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Is `name` the switch port of one of dom's vifs (vifD.N, or its vif's vifname=)? */
static bool dom_has_port(const struct dom *dom, const char *name)
{
	unsigned domid;

	if (pvnet_state_vif_name(name, &domid, NULL) == 0)
		return domid == dom->domid;
	for (unsigned i = 0; i < dom->cfg.n_vifs; i++)
		if (dom->cfg.vifs[i].vifname[0] && !strcmp(dom->cfg.vifs[i].vifname, name))
			return true;
	return false;
}

/* A setting of a guest's vif port of an existing domain: 1; of a vifD.N whose
 * domain is gone: -1; anything else: 0. */
static int vif_key(struct pvnetd *d, const struct pvnet_state_entry *e)
{
	if (e->kind < PVNET_STATE_VLAN)
		return 0;
	for (struct dom *dom = d->doms; dom; dom = dom->next)
		if (dom_has_port(dom, e->key))
			return 1;
	return pvnet_state_vif_name(e->key, NULL, NULL) == 0 ? -1 : 0;
}

static char *join(const struct pvnet_state_entry *e, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (int i = 0; i < e->argc && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? " " : "", e->argv[i]);
	return buf;
}

/* Applies one setting as the CLI would. 0, or -1 with the reason in cap. */
static int apply(struct pvnetd *d, struct pvnet_state_entry *e, struct capture *cap)
{
	int rc;

	cap->text[0] = 0;
	if (e->kind == PVNET_STATE_RATE) {
		struct outbuf o = {.conn = NULL}; /* errors go to the log */
		rc = cmd_vif_set_rate(d, &o, e->argc, e->argv);
		if (rc)
			snprintf(cap->text, sizeof(cap->text), "vif-set-rate failed (see above)");
	} else {
		rc = switch_cli_ext(d->sw, capture_out, cap, e->argc, e->argv);
	}
	return rc ? -1 : 0;
}

/* Copies the file as read to <file>.<why>-<UTC time>, so no line is lost. */
static void keep_copy(struct pvnetd *d, const char *why, const char *text, size_t len)
{
	char path[PATH_MAX + 128], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100 && fd < 0; i++) {
		if (i)
			snprintf(path, sizeof(path), "%s.%s-%s-%d", d->state->path, why, stamp, i);
		else
			snprintf(path, sizeof(path), "%s.%s-%s", d->state->path, why, stamp);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		PVLOG(ERR, MOD, "cannot keep a copy of %s: %s", d->state->path, strerror(errno));
		return;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		PVLOG(ERR, MOD, "writing %s: %s", path, strerror(errno));
	else
		PVLOG(WARN, MOD, "the file as it was is kept in %s", path);
}

#define MAX_LOGGED_ERRORS 100 /* per load: a garbage file must not flood the log */

static void parse_err(void *arg, unsigned line, const char *msg)
{
	unsigned *n = arg;

	(void)line;
	if (++*n <= MAX_LOGGED_ERRORS)
		PVLOG(ERR, MOD, "%s (line not applied)", msg);
	else if (*n == MAX_LOGGED_ERRORS + 1)
		PVLOG(ERR, MOD, "more lines with errors: not logged (all are in the .bad copy)");
}

int state_lock(struct pvnetd *d)
{
	char lock[PATH_MAX + 32], abs[PATH_MAX];
	struct stat sb;
	int rc;

	if (strlen(d->state_dir) + 32 > PATH_MAX) {
		PVLOG(ERR, MOD, "state dir path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(d->state_dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		PVLOG(ERR, MOD, "cannot create state dir %s: %s", d->state_dir, strerror(-rc));
		return rc;
	}
	if (realpath(d->state_dir, abs))
		snprintf(d->state_dir, sizeof(d->state_dir), "%s", abs);
	/* whoever can write the directory can write the switch's configuration */
	if (stat(d->state_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		PVLOG(ERR, MOD, "state dir %s: not a directory", d->state_dir);
		return -ENOTDIR;
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
		PVLOG(ERR, MOD,
		      "state dir %s must be owned by uid %u and not writable by group "
		      "or others (owner %u, mode %03o)",
		      d->state_dir, (unsigned)geteuid(), (unsigned)sb.st_uid,
		      (unsigned)(sb.st_mode & 0777));
		return -EPERM;
	}
	d->state = calloc(1, sizeof(*d->state));
	if (!d->state)
		return -ENOMEM;
	d->state->lock_fd = -1;
	rc = pvnet_state_create(&d->state->st);
	if (rc)
		return rc;
	snprintf(d->state->path, sizeof(d->state->path), "%s/%s", d->state_dir, PVNET_STATE_FILE);
	snprintf(lock, sizeof(lock), "%s/%s.lock", d->state_dir, PVNET_STATE_FILE);
	d->state->lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->state->lock_fd < 0) {
		rc = -errno;
		PVLOG(ERR, MOD, "state dir lock %s: %s", lock, strerror(-rc));
		return rc;
	}
	if (flock(d->state->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		PVLOG(ERR, MOD,
		      "state dir %s is in use by another pvnetd (give each its own "
		      "--state-dir)",
		      d->state_dir);
		return rc == -EWOULDBLOCK ? -EBUSY : rc;
	}
	return 0;
}

int state_load(struct pvnetd *d)
{
	struct pvnetd_state *s = d->state;
	char *text = NULL, cmd[PVNET_STATE_LINE_MAX + 1];
	struct capture cap;
	size_t len = 0;
	int bad = 0, rc, applied = 0;
	unsigned logged = 0;

	switch_cli_set_run_dir(d->run_dir); /* before any saved vhostuser port is replayed */
	rc = pvnet_state_read_file(s->path, &text, &len);
	if (rc == -ENOENT) {
		PVLOG(INFO, MOD, "no %s: the switch starts empty", s->path);
	} else if (rc < 0) {
		char aside[PATH_MAX + 128];
		PVLOG(ERR, MOD, "%s: cannot read it: %s; the switch starts empty", s->path,
		      rc == -ELOOP ? "a symbolic link (refused)" : strerror(-rc));
		snprintf(aside, sizeof(aside), "%s.bad-unreadable-%ld", s->path, (long)time(NULL));
		if (rc != -EACCES && rename(s->path, aside) == 0)
			PVLOG(WARN, MOD, "moved it aside to %s", aside);
		else
			return rc; /* never overwrite what we could not read */
	} else {
		bad = pvnet_state_parse(s->st, s->path, text, len, parse_err, &logged);
		if (bad < 0) {
			PVLOG(ERR, MOD, "%s: %s", s->path, strerror(-bad));
			free(text);
			return bad;
		}
	}
	for (size_t i = 0; i < pvnet_state_count(s->st);) {
		struct pvnet_state_entry *e = pvnet_state_get(s->st, i);
		int v = vif_key(d, e);
		struct vsw_bridge *br;
		struct vsw_port *port;

		join(e, cmd, sizeof(cmd));
		/* a guest's vif: applied once its port exists; dropped at the end of the
		 * first loop turn if its domain is not there (domains a restart re-adopts
		 * after this call keep theirs) */
		if (v < 0 || (v > 0 && e->kind != PVNET_STATE_RATE &&
			      vsw_switch_port_find(d->sw, e->key, &br, &port) < 0)) {
			e->pending = true;
			s->pending++;
			i++;
			continue;
		}
		if (apply(d, e, &cap) < 0) {
			if (++logged <= MAX_LOGGED_ERRORS)
				PVLOG(ERR, MOD, "%s:%u: '%s': %s (line not applied)", s->path,
				      e->line, cmd, cap.text);
			pvnet_state_remove(s->st, i);
			bad++;
			continue;
		}
		applied++;
		i++;
	}
	PVLOG(INFO, MOD,
	      "%s: %d setting(s) applied, %u waiting for their vif, %d line(s) with "
	      "errors",
	      s->path, applied, s->pending, bad);
	if (bad)
		keep_copy(d, "bad", text, len);
	free(text);
	switch_cli_set_recorder(recorder, d);
	/* the file now says what is applied (and waiting) */
	save(d);
	return 0;
}

void state_tick(struct pvnetd *d)
{
	struct pvnetd_state *s = d->state;
	char cmd[PVNET_STATE_LINE_MAX + 1];
	struct capture cap;
	bool changed = false;

	if (!s || !s->pending)
		return;
	for (size_t i = 0; i < pvnet_state_count(s->st);) {
		struct pvnet_state_entry *e = pvnet_state_get(s->st, i);
		struct vsw_bridge *br;
		struct vsw_port *port;
		int v;

		if (!e->pending) {
			i++;
			continue;
		}
		v = vif_key(d, e);
		if (v > 0 && vsw_switch_port_find(d->sw, e->key, &br, &port) < 0) {
			i++;
			continue;
		}
		s->pending--;
		join(e, cmd, sizeof(cmd));
		if (v < 0) {
			PVLOG(INFO, MOD, "%s:%u: '%s': its domain no longer exists; dropped",
			      s->path, e->line, cmd);
		} else {
			switch_cli_set_recorder(NULL, NULL);
			int rc = apply(d, e, &cap);
			switch_cli_set_recorder(recorder, d);
			if (rc == 0) {
				PVLOG(INFO, MOD, "'%s' applied (the vif is connected)", cmd);
				e->pending = false;
				i++;
				continue;
			}
			PVLOG(ERR, MOD, "%s:%u: '%s': %s (dropped)", s->path, e->line, cmd,
			      cap.text);
		}
		pvnet_state_remove(s->st, i);
		changed = true;
	}
	if (changed)
		save(d);
}

void state_forget_domain(struct pvnetd *d, const struct dom *dom)
{
	struct pvnetd_state *s = d->state;
	unsigned n = 0;

	if (!s)
		return;
	for (size_t i = 0; i < pvnet_state_count(s->st);) {
		struct pvnet_state_entry *e = pvnet_state_get(s->st, i);
		if (e->kind >= PVNET_STATE_VLAN && dom_has_port(dom, e->key)) {
			if (e->pending)
				s->pending--;
			pvnet_state_remove(s->st, i);
			n++;
			continue;
		}
		i++;
	}
	if (n) {
		PVLOG(INFO, MOD, "domain %u destroyed: %u setting(s) of its vifs forgotten",
		      dom->domid, n);
		save(d);
	}
}

void state_close(struct pvnetd *d)
{
	if (!d->state)
		return;
	switch_cli_set_recorder(NULL, NULL);
	pvnet_state_destroy(d->state->st);
	free(d->state->written);
	if (d->state->lock_fd >= 0)
		close(d->state->lock_fd);
	free(d->state);
	d->state = NULL;
}
