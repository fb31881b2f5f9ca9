/* SPDX-License-Identifier: MIT */
/*
 * pvnet-crr - short TCP connections per second (netperf's TCP_CRR shape):
 * per connection the client connects, sends SIZE bytes, the server answers
 * with SIZE bytes and closes, the client reads them and closes.
 *
 *   pvnet-crr server [--port 5299] [--size 1024] [--seconds 30]
 *   pvnet-crr client HOST [--port 5299] [--size 1024] [--seconds 2] [--json]
 *
 * One connection at a time on one thread (as TCP_CRR with one instance): the
 * rate is bound by the round trips of the handshake, the request and the
 * teardown, i.e. by the path's latency and the stacks' per-connection work.
 * The server closes first, so TIME_WAIT stays on the server and the client's
 * ephemeral ports are not used up. The server exits after --seconds; every
 * blocking call of both ends has a 2 s timeout, so neither can hang.
 *
 * Client output: a summary line, or with --json one JSON object:
 *   {"connections": N, "errors": E, "seconds": S, "rate": N/S,
 *    "p50_us": ..., "p99_us": ...}   (per-connection time, connect to close)
 * Exit status 0 when at least one connection completed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/version.h>

#define CRR_MAX_SIZE (64 * 1024)
#define CRR_MAX_SAMPLES (1u << 20)
#define CRR_IO_TIMEOUT_S 2

struct crr_opts {
	bool server;
	const char *host;
	uint16_t port;
	size_t size;
	double seconds;
	bool json;
};

static void crr_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = CRR_IO_TIMEOUT_S};

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* 0 when all LEN bytes were written, -errno otherwise. */
static int crr_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0 when all LEN bytes were read, -errno (-ECONNRESET on an early EOF). */
static int crr_read_all(int fd, char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int crr_server(const struct crr_opts *o, char *buf)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
				  .sin6_port = htons(o->port),
				  .sin6_addr = IN6ADDR_ANY_INIT};
	int one = 1, zero = 0, lfd, rc = 0;
	unsigned long served = 0, failed = 0;
	double end = pvnet_now_s() + o->seconds;

	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("pvnet-crr: socket");
		return 1;
	}
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(void)setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0) {
		perror("pvnet-crr: bind/listen");
		rc = 1;
		goto out;
	}
	for (;;) {
		double left = end - pvnet_now_s();
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		int fd, pr;

		if (left <= 0)
			break;
		pr = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (pr < 0 && errno != EINTR) {
			perror("pvnet-crr: poll");
			rc = 1;
			break;
		}
		if (pr <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		crr_timeouts(fd);
		if (crr_read_all(fd, buf, o->size) == 0 && crr_write_all(fd, buf, o->size) == 0)
			served++;
		else
			failed++;
		close(fd); /* the server closes first: TIME_WAIT stays here */
	}
	fprintf(stderr, "pvnet-crr server: %lu connections served, %lu failed\n", served, failed);
out:
	close(lfd);
	return rc;
}

static int crr_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double crr_pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static int crr_client(const struct crr_opts *o, char *buf)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[8];
	double *lat, t0, t1, end;
	unsigned long done = 0, errors = 0;
	size_t ns = 0;
	int rc, one = 1;

	snprintf(port, sizeof(port), "%u", o->port);
	rc = getaddrinfo(o->host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "pvnet-crr: %s: %s\n", o->host, gai_strerror(rc));
		return 1;
	}
	lat = malloc(CRR_MAX_SAMPLES * sizeof(*lat));
	if (!lat) {
		freeaddrinfo(ai);
		return 1;
	}
	memset(buf, 'r', o->size);
	t0 = pvnet_now_s();
	end = t0 + o->seconds;
	for (;;) {
		double c0 = pvnet_now_s();
		int fd;

		if (c0 >= end)
			break;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			errors++;
			break;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		crr_timeouts(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    crr_write_all(fd, buf, o->size) == 0 && crr_read_all(fd, buf, o->size) == 0) {
			done++;
			if (ns < CRR_MAX_SAMPLES)
				lat[ns++] = (pvnet_now_s() - c0) * 1e6;
		} else {
			errors++;
			if (errors > 100 && errors > done) {
				close(fd);
				break; /* the server is gone: stop rather than spin */
			}
		}
		close(fd);
	}
	t1 = pvnet_now_s();
	qsort(lat, ns, sizeof(*lat), crr_cmp);
	if (o->json)
		printf("{\"connections\":%lu,\"errors\":%lu,\"seconds\":%.6f,\"rate\":%.2f,"
		       "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
		       done, errors, t1 - t0, (double)done / (t1 - t0), crr_pct(lat, ns, 50),
		       crr_pct(lat, ns, 99));
	else
		printf("summary connections %lu errors %lu seconds %.3f rate %.1f/s p50 %.1f us p99 %.1f us\n",
		       done, errors, t1 - t0, (double)done / (t1 - t0), crr_pct(lat, ns, 50),
		       crr_pct(lat, ns, 99));
	free(lat);
	freeaddrinfo(ai);
	return done > 0 ? 0 : 1;
}

static void crr_usage(void)
{
	fprintf(stderr,
		"usage: pvnet-crr server [--port P] [--size B] [--seconds S]\n"
		"       pvnet-crr client HOST [--port P] [--size B] [--seconds S] [--json]\n");
}

int main(int argc, char **argv)
{
	struct crr_opts o = {.port = 5299, .size = 1024, .seconds = 2};
	char *buf;
	int i = 2, rc;

	if (pvnet_version_opt(argc, argv, "pvnet-crr"))
		return 0;
	if (argc < 2) {
		crr_usage();
		return 2;
	}
	if (strcmp(argv[1], "server") == 0) {
		o.server = true;
		o.seconds = 30;
	} else if (strcmp(argv[1], "client") == 0 && argc >= 3) {
		o.host = argv[2];
		i = 3;
	} else {
		crr_usage();
		return 2;
	}
	for (; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0) {
			o.json = true;
			continue;
		}
		if (!v) {
			crr_usage();
			return 2;
		}
		if (strcmp(a, "--port") == 0)
			o.port = (uint16_t)strtoul(v, NULL, 10);
		else if (strcmp(a, "--size") == 0)
			o.size = strtoul(v, NULL, 10);
		else if (strcmp(a, "--seconds") == 0)
			o.seconds = strtod(v, NULL);
		else {
			crr_usage();
			return 2;
		}
		i++;
	}
	if (o.size < 1 || o.size > CRR_MAX_SIZE || o.port == 0 || !(o.seconds > 0)) {
		crr_usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	buf = malloc(o.size);
	if (!buf)
		return 1;
	rc = o.server ? crr_server(&o, buf) : crr_client(&o, buf);
	free(buf);
	return rc;
}
