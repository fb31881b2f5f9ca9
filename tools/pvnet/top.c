/* SPDX-License-Identifier: MIT */
/*
 * pvnet top: xentop for pvnet. Per domain: state, CPU seconds and CPU% (the guest
 * process's user + system time, from `pvnet list --json`, which pvnetd reads from
 * /proc/PID/stat; Domain-0's is pvnetd's own), memory, vCPUs, vifs, and the network
 * rates over the last interval: NETTX/NETRX in kbit/s (TX = what the domain sent),
 * packets per second each way, drops (netback's and the switch's on the domain's
 * ports) with their rate, then xentop's cumulative NETTX(k)/NETRX(k) in KiB.
 *
 * Every frame compares two samples of `list --json` and `stats --json` taken
 * -d SECS apart (a baseline is taken before the first frame, so every frame has
 * real rates). -b prints the frames one after the other (batch); otherwise the
 * terminal is redrawn and `q` quits. -n ITER stops after ITER frames.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <pvnet/lib.h>
#include <pvnet/metrics.h>

#include "pvnet.h"

#define TOP_MAX_DOMS 1024

struct top_dom {
	long long domid;
	char name[64];
	char state[16];
	double cpu_s; /* -1: unknown (the process is gone) */
	long long mem_mib, vcpus;
	unsigned nets;
	uint64_t tx_bytes, rx_bytes, tx_pkts, rx_pkts, drops;
};

struct top_sample {
	struct top_dom dom[TOP_MAX_DOMS];
	unsigned n;
	double t; /* CLOCK_MONOTONIC seconds when taken */
};

static struct top_dom *find_dom(struct top_sample *s, long long domid)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->dom[i].domid == domid)
			return &s->dom[i];
	return NULL;
}

static uint64_t ju(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)v : 0;
}

static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : dflt;
}

static uint64_t drops_sum(const json_t *drops)
{
	const char *reason;
	json_t *v;
	uint64_t sum = 0;

	json_object_foreach((json_t *)drops, reason, v) if (json_integer_value(v) > 0) sum +=
		(uint64_t)json_integer_value(v);
	return sum;
}

/* Runs `pvnet ARGS --json` and parses its answer; NULL (and a message) on failure. */
static json_t *fetch(const char *cmd)
{
	char *argv[] = {(char *)cmd, "--json", NULL};
	json_error_t jerr;
	char *text;
	json_t *j;

	if (ctl_call_capture(2, argv, &text))
		return NULL;
	j = json_loads(text, 0, &jerr);
	if (!j)
		fprintf(stderr, "pvnet top: %s --json: bad JSON: %s\n", cmd, jerr.text);
	free(text);
	return j;
}

static int sample(struct top_sample *s)
{
	json_t *list = fetch("list"), *stats = list ? fetch("stats") : NULL, *e, *br, *p;
	size_t i, k;

	if (!list || !stats) {
		json_decref(list);
		return -EIO;
	}
	s->t = pvnet_now_s();
	s->n = 0;
	json_array_foreach(list, i, e)
	{
		struct top_dom *d;
		json_t *cpu = json_object_get(e, "cpu_time_s");

		if (s->n == TOP_MAX_DOMS)
			break;
		d = &s->dom[s->n++];
		memset(d, 0, sizeof(*d));
		d->domid = json_integer_value(json_object_get(e, "domid"));
		snprintf(d->name, sizeof(d->name), "%s", jstr(e, "name", "?"));
		snprintf(d->state, sizeof(d->state), "%s", jstr(e, "state", "-"));
		d->cpu_s = json_is_number(cpu) ? json_number_value(cpu) : -1;
		d->mem_mib = json_integer_value(json_object_get(e, "mem_mib"));
		d->vcpus = json_integer_value(json_object_get(e, "vcpus"));
	}
	/* netback's vifs: TX is what the guest sent */
	json_array_foreach(json_object_get(stats, "vifs"), i, e)
	{
		struct top_dom *d = find_dom(s, json_integer_value(json_object_get(e, "domid")));
		if (!d)
			continue;
		d->nets++;
		d->tx_bytes += ju(e, "tx_bytes");
		d->tx_pkts += ju(e, "tx_packets");
		d->rx_bytes += ju(e, "rx_bytes");
		d->rx_pkts += ju(e, "rx_packets");
		d->drops += drops_sum(json_object_get(e, "drops"));
	}
	/* the switch's ports named vifD.N: their drops (anti-spoofing, limits, ...); for
	 * a domain netback does not serve (HVM: vhost-user ports) its traffic as well,
	 * seen from the switch: the port's rx is what the guest sent */
	json_array_foreach(json_object_get(stats, "bridges"), i, br)
	{
		json_array_foreach(json_object_get(br, "ports"), k, p)
		{
			const char *name = json_string_value(json_object_get(p, "name"));
			unsigned dom, n;
			char tail;
			struct top_dom *d;

			if (!name || sscanf(name, "vif%u.%u%c", &dom, &n, &tail) != 2 ||
			    !(d = find_dom(s, dom)))
				continue;
			d->drops += drops_sum(json_object_get(p, "drops"));
			if (d->nets)
				continue;
			d->tx_bytes += ju(p, "rx_bytes");
			d->tx_pkts += ju(p, "rx_packets");
			d->rx_bytes += ju(p, "tx_bytes");
			d->rx_pkts += ju(p, "tx_packets");
		}
	}
	json_decref(list);
	json_decref(stats);
	return 0;
}

static void print_frame(FILE *f, const struct top_sample *prev, const struct top_sample *cur)
{
	double secs = cur->t - prev->t;
	char clock[16];
	time_t t = time(NULL);
	struct tm tm;

	if (secs <= 0)
		secs = 1e-9;
	localtime_r(&t, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	fprintf(f, "pvnet top - %s  %u domains, interval %.1f s\n", clock, cur->n, secs);
	fprintf(f, "%-16s %5s %6s %10s %6s %8s %5s %4s %13s %13s %8s %8s %8s %7s %10s %10s\n",
		"NAME", "ID", "STATE", "CPU(sec)", "CPU(%)", "MEM(MiB)", "VCPUS", "NETS",
		"NETTX(kbit/s)", "NETRX(kbit/s)", "TX(pps)", "RX(pps)", "DROPS", "DROP/s",
		"NETTX(k)", "NETRX(k)");
	for (unsigned i = 0; i < cur->n; i++) {
		const struct top_dom *d = &cur->dom[i];
		const struct top_dom *p = find_dom((struct top_sample *)prev, d->domid);
		struct top_dom zero = *d; /* a new domain: no rate until its next frame */
		double cpu_pct = 0;

		if (!p || strcmp(p->name, d->name))
			p = &zero;
		if (d->cpu_s >= 0 && p->cpu_s >= 0 && d->cpu_s >= p->cpu_s)
			cpu_pct = (d->cpu_s - p->cpu_s) / secs * 100.0;
		fprintf(f,
			"%-16.16s %5lld %6s %10.1f %6.1f %8lld %5lld %4u %13.1f %13.1f %8.0f %8.0f "
			"%8" PRIu64 " %7.1f %10" PRIu64 " %10" PRIu64 "\n",
			d->name, d->domid, d->state, d->cpu_s >= 0 ? d->cpu_s : 0.0, cpu_pct,
			d->mem_mib, d->vcpus, d->nets,
			(double)pvnet_counter_delta(p->tx_bytes, d->tx_bytes) * 8 / 1000 / secs,
			(double)pvnet_counter_delta(p->rx_bytes, d->rx_bytes) * 8 / 1000 / secs,
			(double)pvnet_counter_delta(p->tx_pkts, d->tx_pkts) / secs,
			(double)pvnet_counter_delta(p->rx_pkts, d->rx_pkts) / secs, d->drops,
			(double)pvnet_counter_delta(p->drops, d->drops) / secs, d->tx_bytes / 1024,
			d->rx_bytes / 1024);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvnet top [-b|--batch] [-d|--delay SECS] [-n|--iterations ITER]\n"
		   "  -b      batch mode: print frames one after the other (default: redraw the\n"
		   "          terminal; q quits)\n"
		   "  -d SECS seconds between frames (default 3, 0.1..3600)\n"
		   "  -n ITER stop after ITER frames (default: batch 1, interactive until q)\n");
}

/* Waits secs; interactive: returns 1 early when q is pressed. */
static int wait_or_quit(double secs, bool interactive)
{
	double end = pvnet_now_s() + secs;

	for (;;) {
		double left = end - pvnet_now_s();
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		char c;

		if (left <= 0)
			return 0;
		if (!interactive) {
			struct timespec ts = {.tv_sec = (time_t)left,
					      .tv_nsec =
						      (long)((left - (double)(time_t)left) * 1e9)};
			nanosleep(&ts, NULL);
			continue;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) > 0) {
			if (read(STDIN_FILENO, &c, 1) != 1 || c == 'q' || c == 'Q')
				return 1;
		}
	}
}

/* Parses top's options into *batch, *delay, *iters. 0, 1 after --help, or 2
 * (usage error, printed). */
static int top_options(int argc, char **argv, bool *batch, double *delay, long *iters)
{
	static const struct option opts[] = {{"batch", no_argument, NULL, 'b'},
					     {"delay", required_argument, NULL, 'd'},
					     {"iterations", required_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	char *end;
	int c;

	optind = 0; /* GNU: start over on this argv */
	while ((c = getopt_long(argc, argv, "bd:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			*batch = true;
			break;
		case 'd':
			*delay = strtod(optarg, &end);
			if (*end || !(*delay >= 0.1 && *delay <= 3600)) {
				fprintf(stderr, "pvnet top: -d takes 0.1..3600 seconds\n");
				return 2;
			}
			break;
		case 'n':
			*iters = strtol(optarg, &end, 10);
			if (*end || *iters < 1 || *iters > 1000000) {
				fprintf(stderr, "pvnet top: -n takes 1..1000000\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct top_sample *prev = NULL, *cur = NULL, *tmp;
	struct termios saved, raw;
	bool batch = false, tty_raw = false;
	double delay = 3;
	long iters = -1;
	int status = 1;

	status = top_options(argc, argv, &batch, &delay, &iters);
	if (status)
		return status == 1 ? 0 : status;
	status = 1;
	if (batch && iters < 0)
		iters = 1;
	prev = calloc(1, sizeof(*prev));
	cur = calloc(1, sizeof(*cur));
	if (!prev || !cur)
		goto out;
	if (!batch && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tty_raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	if (sample(prev) < 0)
		goto out;
	for (long i = 0; iters < 0 || i < iters; i++) {
		if (wait_or_quit(delay, tty_raw))
			break;
		if (sample(cur) < 0)
			goto out;
		if (!batch)
			fputs("\033[H\033[2J", stdout);
		else if (i)
			fputc('\n', stdout);
		print_frame(stdout, prev, cur);
		fflush(stdout);
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	status = 0;
out:
	if (tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	free(prev);
	free(cur);
	return status;
}
