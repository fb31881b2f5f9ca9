/* SPDX-License-Identifier: MIT */
/*
 * pvnet-vhost-test: a stand-alone switch for trying the vhost-user port without
 * pvnetd. Creates bridge `br0`, a vhost-user port listening on --socket, and a TAP
 * port (--tap NAME, created in the current network namespace), prints "READY" and
 * runs until SIGINT/SIGTERM; SIGUSR1 (and exit) print the port counters.
 *
 *   pvnet-vhost-test --socket /run/x/vhu0.sock --tap tap0 [--pool N]
 *
 * HVM mode runs pvnetd's tools/pvnetd/hvm.c as pvnetd will: parses a domain config,
 * hvm_spawn()s QEMU on vhost-user ports of the bridges it names (the TAP joins
 * bridge br0), prints "READY pid=<qemu pid> accel=<tcg|kvm>", and when QEMU dies
 * (reaped every 100 ms) calls hvm_destroy() and prints "QEMU-EXITED ports=<n>"
 * (ports left on br0), staying up like the daemon. SIGTERM stops QEMU cleanly.
 *
 *   pvnet-vhost-test --hvm guest.cfg --run-dir DIR --tap tap0
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include <pvnet/config.h>
#include <pvnet/log.h>
#include <pvnet/vhost.h>
#include <pvnet/vswitch.h>

#include "../pvnetd/hvm.h"

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

static int find_vhost(struct vsw_port *port, void *arg)
{
	if (vsw_port_is_vhost(port)) {
		*(struct vsw_port **)arg = port;
		return 1;
	}
	return 0;
}

static int count_port(struct vsw_port *port, void *arg)
{
	(void)port;
	(*(unsigned *)arg)++;
	return 0;
}

static void print_stats(struct vsw_bridge *br, struct vsw_port *vhu)
{
	struct vsw_vhost_stats v;

	vsw_port_foreach(br, print_port, NULL);
	if (!vhu)
		vsw_port_foreach(br, find_vhost, &vhu);
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
		{"hvm", required_argument, NULL, 'H'},
		{"run-dir", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *tap = NULL, *hvm_cfg = NULL, *run_dir = "/tmp";
	struct vsw_switch *sw = NULL;
	struct hvm_dom *hvm = NULL;
	pid_t qpid = 0;
	struct vsw_vhost_config cfg = {0};
	struct vsw_bridge *br = NULL;
	struct vsw_worker *worker = NULL;
	struct vsw_port *vhu = NULL, *tport = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	int c, rc;

	while ((c = getopt_long(argc, argv, "s:t:p:H:r:", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 't': tap = optarg; break;
		case 'p': cfg.pool_size = (unsigned)atoi(optarg); break;
		case 'H': hvm_cfg = optarg; break;
		case 'r': run_dir = optarg; break;
		default:
			fprintf(stderr, "usage: %s --socket PATH [--tap NAME] [--pool N]\n", argv[0]);
			return 2;
		}
	}
	if (!sock && !hvm_cfg) {
		fprintf(stderr, "%s: --socket is required\n", argv[0]);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = vsw_switch_create(&sw);
	if (rc == 0)
		rc = vsw_bridge_get_or_create(sw, "br0", &br);
	if (rc < 0)
		goto fail;
	rc = vsw_worker_create("uplink", &worker);
	if (rc < 0)
		goto fail;
	if (sock) {
		rc = vsw_vhost_port_add(br, "vhu0", sock, &cfg, &vhu);
		if (rc < 0)
			goto fail;
	}
	if (tap) {
		rc = vsw_tap_port_add(br, worker, tap, &tport);
		if (rc < 0)
			goto fail;
	}
	if (hvm_cfg) {
		struct pvnet_dom_cfg dcfg;
		char err[256];

		rc = pvnet_config_load(hvm_cfg, &dcfg, err, sizeof(err));
		if (rc == 0)
			rc = hvm_spawn(&dcfg, 1, run_dir, sw, &hvm, &qpid, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "pvnet-vhost-test: %s\n", err);
			goto fail;
		}
		printf("READY pid=%ld accel=%s\n", (long)qpid, hvm_accel(hvm));
	} else {
		printf("READY\n");
	}
	fflush(stdout);
	while (!stop) {
		int st;
		if (hvm) {
			usleep(100000);
			if (qpid > 0 && waitpid(qpid, &st, WNOHANG) == qpid) {
				unsigned ports = 0;
				hvm_destroy(hvm, 0, 0, NULL);
				hvm = NULL;
				qpid = 0;
				vsw_port_foreach(br, count_port, &ports);
				printf("QEMU-EXITED status=%d ports=%u\n", st, ports);
				fflush(stdout);
			}
		} else {
			pause();
		}
		if (dump) {
			dump = 0;
			print_stats(br, vhu);
		}
	}
	print_stats(br, vhu);
	hvm_destroy(hvm, qpid, 0, NULL);
	vsw_switch_destroy(sw);
	vsw_worker_destroy(worker);
	return 0;
fail:
	fprintf(stderr, "pvnet-vhost-test: %s\n", strerror(-rc));
	vsw_switch_destroy(sw);
	vsw_worker_destroy(worker);
	return 1;
}
