/* SPDX-License-Identifier: MIT */
/*
 * pvnet-vhost-test: a stand-alone switch for trying the vhost-user port without
 * pvnetd. Creates bridge `br0`, a vhost-user port listening on --socket, and a TAP
 * port (--tap NAME, created in the current network namespace), prints "READY" and
 * runs until SIGINT/SIGTERM; SIGUSR1 (and exit) print the port counters.
 *
 *   pvnet-vhost-test --socket /run/x/vhu0.sock --tap tap0 [--pool N]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/log.h>
#include <pvnet/vhost.h>
#include <pvnet/vswitch.h>

static volatile sig_atomic_t stop, dump;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else
		stop = 1;
}

static int print_port(struct vsw_port *port, void *arg)
{
	struct vsw_port_stats s;
	uint64_t drops = 0;

	(void)arg;
	vsw_port_get_stats(port, &s);
	for (int i = 0; i < VSW_DROP__MAX; i++)
		drops += s.drops[i];
	printf("port %-8s rx %llu pkts %llu B  tx %llu pkts %llu B  drops %llu",
	       vsw_port_name(port), (unsigned long long)s.rx_packets,
	       (unsigned long long)s.rx_bytes, (unsigned long long)s.tx_packets,
	       (unsigned long long)s.tx_bytes, (unsigned long long)drops);
	for (int i = 0; i < VSW_DROP__MAX; i++)
		if (s.drops[i])
			printf(" %s=%llu", vsw_drop_reason_name(i), (unsigned long long)s.drops[i]);
	printf("\n");
	return 0;
}

static void print_stats(struct vsw_bridge *br, struct vsw_port *vhu)
{
	struct vsw_vhost_stats v;

	vsw_port_foreach(br, print_port, NULL);
	if (vsw_vhost_port_get_stats(vhu, &v) == 0)
		printf("vhost guest_tx %llu pkts %llu B guest_rx %llu pkts %llu B no_buffers %llu "
		       "not_ready %llu bad_desc tx %llu rx %llu bad_hdr %llu sw_csum %llu sw_tso %llu "
		       "fallback_drop %llu pool_empty %llu kicks %llu calls %llu connects %llu "
		       "features 0x%llx running %d\n",
		       (unsigned long long)v.guest_tx_packets, (unsigned long long)v.guest_tx_bytes,
		       (unsigned long long)v.guest_rx_packets, (unsigned long long)v.guest_rx_bytes,
		       (unsigned long long)v.rx_no_buffers, (unsigned long long)v.rx_not_ready,
		       (unsigned long long)v.tx_bad_desc, (unsigned long long)v.rx_bad_desc,
		       (unsigned long long)v.tx_bad_hdr, (unsigned long long)v.rx_sw_csum,
		       (unsigned long long)v.rx_sw_tso, (unsigned long long)v.rx_fallback_drop,
		       (unsigned long long)v.tx_pool_empty, (unsigned long long)v.kicks,
		       (unsigned long long)v.calls, (unsigned long long)v.connects,
		       (unsigned long long)v.features, v.running);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"tap", required_argument, NULL, 't'},
		{"pool", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *tap = NULL;
	struct vsw_vhost_config cfg = {0};
	struct vsw_bridge *br = NULL;
	struct vsw_worker *worker = NULL;
	struct vsw_port *vhu = NULL, *tport = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	int c, rc;

	while ((c = getopt_long(argc, argv, "s:t:p:", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 't': tap = optarg; break;
		case 'p': cfg.pool_size = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s --socket PATH [--tap NAME] [--pool N]\n", argv[0]);
			return 2;
		}
	}
	if (!sock) {
		fprintf(stderr, "%s: --socket is required\n", argv[0]);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = vsw_create("br0", NULL, &br);
	if (rc < 0)
		goto fail;
	rc = vsw_worker_create("uplink", &worker);
	if (rc < 0)
		goto fail;
	rc = vsw_vhost_port_add(br, "vhu0", sock, &cfg, &vhu);
	if (rc < 0)
		goto fail;
	if (tap) {
		rc = vsw_tap_port_add(br, worker, tap, &tport);
		if (rc < 0)
			goto fail;
	}
	printf("READY\n");
	fflush(stdout);
	while (!stop) {
		pause();
		if (dump) {
			dump = 0;
			print_stats(br, vhu);
		}
	}
	print_stats(br, vhu);
	vsw_destroy(br);
	vsw_worker_destroy(worker);
	return 0;
fail:
	fprintf(stderr, "pvnet-vhost-test: %s\n", strerror(-rc));
	vsw_destroy(br);
	vsw_worker_destroy(worker);
	return 1;
}
