/* SPDX-License-Identifier: MIT */
/* The toolstack commands pvnetd answers on its control socket (include/pvnet/ctl.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvnet/ctl.h>
#include <pvnet/log.h>

#include "pvnetd.h"

#define MOD "ctl"
#define MAX_ARGS 64

static void send_kind(struct outbuf *o, char kind, const char *fmt, va_list ap)
{
	char buf[8192];
	int n;

	buf[0] = kind;
	n = vsnprintf(buf + 1, sizeof(buf) - 1, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	if (o && o->fd >= 0)
		(void)send(o->fd, buf, (size_t)n + 1, MSG_NOSIGNAL);
	else if (kind == 'E')
		PVLOG(WARN, MOD, "%.*s", n, buf + 1);
}

void out_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_kind(o, 'O', fmt, ap);
	va_end(ap);
}

void err_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_kind(o, 'E', fmt, ap);
	va_end(ap);
}

static int cmd_info(struct pvnetd *d, struct outbuf *o)
{
	struct hv_domain_info infos[HV_MAX_DOMID + 1];
	int n = hv_domain_list(d->hv, infos, HV_MAX_DOMID + 1);
	uint64_t up = (pvnetd_now_ns() - d->started_ns) / 1000000000ull;
	uint64_t mem = 0;

	for (int i = 0; i < n; i++)
		mem += infos[i].mem_size;
	out_printf(o, "%-24s: %s\n", "pvnet_version", PVNET_VERSION);
	out_printf(o, "%-24s: %ld\n", "pvnetd_pid", (long)getpid());
	out_printf(o, "%-24s: %s\n", "run_dir", d->run_dir);
	out_printf(o, "%-24s: %s\n", "control_socket", d->ctl_path);
	out_printf(o, "%-24s: %s\n", "xenstore_socket", d->xs_path);
	out_printf(o, "%-24s: %s\n", "guest_program", d->guest_bin);
	out_printf(o, "%-24s: %llu\n", "uptime_s", (unsigned long long)up);
	out_printf(o, "%-24s: %d\n", "nr_domains", n < 0 ? 0 : n);
	out_printf(o, "%-24s: %llu\n", "guest_memory_mib", (unsigned long long)(mem >> 20));
	out_printf(o, "%-24s: %ld\n", "nr_cpus", sysconf(_SC_NPROCESSORS_ONLN));
	out_printf(o, "%-24s: %s\n", "grant_table", "v1 (map, unmap, copy, transfer)");
	out_printf(o, "%-24s: %s\n", "event_channels", "2-level, eventfd-backed");
	out_printf(o, "%-24s: %s\n", "xen_abi", "netif / grant_table / xenstore wire protocol");
	return 0;
}

static int cmd_list(struct pvnetd *d, struct outbuf *o)
{
	struct hv_domain_info infos[HV_MAX_DOMID + 1];
	int n = hv_domain_list(d->hv, infos, HV_MAX_DOMID + 1);

	if (n < 0) {
		err_printf(o, "list: %s\n", strerror(-n));
		return 1;
	}
	out_printf(o, "%-32s %5s %6s %5s %9s %9s\n", "Name", "ID", "Mem", "VCPUs", "State",
		   "Time(s)");
	for (int i = 0; i < n; i++) {
		struct dom *dom = NULL;
		char state[8] = "------";
		double secs;

		if (infos[i].domid == 0) {
			state[0] = 'r';
			secs = (double)(pvnetd_now_ns() - d->started_ns) / 1e9;
			out_printf(o, "%-32s %5u %6llu %5ld %9s %9.1f\n", "Domain-0", 0u, 0ull,
				   sysconf(_SC_NPROCESSORS_ONLN), state, secs);
			continue;
		}
		for (dom = d->doms; dom && dom->domid != infos[i].domid; dom = dom->next)
			;
		if (!dom)
			continue;
		/* xl's state letters: r running/b blocked, s shutdown, c crashed, d dying */
		if (dom->dying)
			state[5] = 'd';
		else if (dom->pid > 0)
			state[1] = 'b';
		else
			state[4] = 'c';
		secs = (double)(pvnetd_now_ns() - dom->created_ns) / 1e9;
		out_printf(o, "%-32s %5u %6llu %5u %9s %9.1f\n", dom->name, dom->domid,
			   (unsigned long long)(infos[i].mem_size >> 20),
			   dom->cfg.vcpus ? dom->cfg.vcpus : 1, state, secs);
	}
	return 0;
}

static int cmd_create(struct pvnetd *d, struct outbuf *o, int argc, char **argv,
		      const char *payload, size_t payload_len)
{
	struct pvnet_dom_cfg *cfg;
	char err[512];
	int rc;

	if (argc != 2 || !payload) {
		err_printf(o, "usage: pvnet create FILE\n");
		return 2;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	rc = pvnet_config_parse(argv[1], payload, payload_len, cfg, err, sizeof(err));
	if (rc < 0) {
		err_printf(o, "%s\n", err);
		free(cfg);
		return 1;
	}
	rc = dom_create(d, cfg, o);
	free(cfg);
	return rc < 0 ? 1 : 0;
}

static int cmd_destroy(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct dom *dom;

	if (argc != 2) {
		err_printf(o, "usage: pvnet destroy NAME|ID\n");
		return 2;
	}
	dom = dom_find(d, argv[1]);
	if (!dom) {
		err_printf(o, "no domain '%s'\n", argv[1]);
		return 1;
	}
	dom_destroy(d, dom, o);
	return 0;
}

static int cmd_domid(struct pvnetd *d, struct outbuf *o, int argc, char **argv)
{
	struct dom *dom = argc == 2 ? dom_find(d, argv[1]) : NULL;

	if (argc == 2 && !strcmp(argv[1], "Domain-0")) {
		out_printf(o, "0\n");
		return 0;
	}
	if (!dom) {
		err_printf(o, "no domain '%s'\n", argc == 2 ? argv[1] : "");
		return 1;
	}
	out_printf(o, "%u\n", dom->domid);
	return 0;
}

int ctl_handle(struct pvnetd *d, int fd)
{
	char *buf = malloc(PVNET_CTL_MSG_MAX + 1);
	char *argv[MAX_ARGS];
	struct outbuf o = {.fd = fd};
	const char *payload = NULL;
	size_t payload_len = 0, len;
	int argc = 0, status = 2;
	ssize_t n;
	char *p, *end, xbuf[16];

	if (!buf)
		return -1;
	n = recv(fd, buf, PVNET_CTL_MSG_MAX + 1, MSG_TRUNC | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		free(buf);
		return -1;
	}
	if (n < 0) {
		free(buf);
		return 0;
	}
	if ((size_t)n > PVNET_CTL_MSG_MAX) {
		err_printf(&o, "request too large (%zd bytes, at most %d)\n", n, PVNET_CTL_MSG_MAX);
		goto reply;
	}
	len = (size_t)n;
	buf[len] = 0;
	end = memchr(buf, PVNET_CTL_PAYLOAD_SEP, len);
	if (end) {
		payload = end + 1;
		payload_len = len - (size_t)(payload - buf);
		*end = 0;
		len = (size_t)(end - buf);
	}
	for (p = buf; p < buf + len && argc < MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	if (argc == 0) {
		err_printf(&o, "empty request\n");
		goto reply;
	}
	if (!strcmp(argv[0], "info"))
		status = cmd_info(d, &o);
	else if (!strcmp(argv[0], "list"))
		status = cmd_list(d, &o);
	else if (!strcmp(argv[0], "create"))
		status = cmd_create(d, &o, argc, argv, payload, payload_len);
	else if (!strcmp(argv[0], "destroy"))
		status = cmd_destroy(d, &o, argc, argv);
	else if (!strcmp(argv[0], "domid"))
		status = cmd_domid(d, &o, argc, argv);
	else
		err_printf(&o, "unknown command '%.64s'\n", argv[0]);
reply:
	snprintf(xbuf, sizeof(xbuf), "X%d", status);
	(void)send(fd, xbuf, strlen(xbuf), MSG_NOSIGNAL);
	free(buf);
	return 0;
}
