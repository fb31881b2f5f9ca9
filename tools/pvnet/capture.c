/* SPDX-License-Identifier: MIT */
/* pvnet client side of `switch mirror` / `switch replay` (see capture.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"

/* Copies the FIFO to stdout until pvnetd closes it or stdout's reader goes away. */
static int copy_out(int rfd)
{
	static char buf[65536];

	for (;;) {
		ssize_t n = read(rfd, buf, sizeof(buf));
		if (n == 0)
			return 0; /* pvnetd closed the capture */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pvnet: reading the capture: %s\n", strerror(errno));
			return 1;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return errno == EPIPE ? 0 : 1; /* the reader is done: so are we */
			off += w;
		}
	}
}

static int mirror_to_stdout(int argc, char **argv)
{
	char dir[] = "/tmp/pvnet-mirror.XXXXXX", fifo[sizeof(dir) + 16];
	int rfd, saved, status;

	if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "pvnet: mirror -: stdout is a terminal; pipe it, e.g. "
				"pvnet switch mirror PORT - | tshark -r -\n");
		return 2;
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "pvnet: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(fifo, sizeof(fifo), "%s/capture", dir);
	if (mkfifo(fifo, 0600) < 0) {
		fprintf(stderr, "pvnet: mkfifo %s: %s\n", fifo, strerror(errno));
		rmdir(dir);
		return 1;
	}
	/* the read end first: pvnetd opens the write end non-blocking, which needs it */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0) {
		fprintf(stderr, "pvnet: open %s: %s\n", fifo, strerror(errno));
		unlink(fifo);
		rmdir(dir);
		return 1;
	}
	/* stdout carries the capture: pvnetd's answer goes to stderr meanwhile */
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(STDERR_FILENO, STDOUT_FILENO);
	argv[3] = fifo;
	status = ctl_call(argc, argv, NULL, 0);
	fflush(stdout);
	if (saved >= 0) {
		dup2(saved, STDOUT_FILENO);
		close(saved);
	}
	/* pvnetd holds the write end now (or failed): the name is no longer needed */
	unlink(fifo);
	rmdir(dir);
	if (status == 0) {
		signal(SIGPIPE, SIG_IGN); /* EPIPE from write: the reader is done */
		(void)fcntl(rfd, F_SETFL, 0);
		status = copy_out(rfd);
	}
	close(rfd);
	return status;
}

int cmd_switch_capture(int argc, char **argv)
{
	char cwd[PATH_MAX], abs[PATH_MAX];

	if (argc < 4) /* no FILE: pvnetd answers with the usage */
		return ctl_call(argc, argv, NULL, 0);
	if (!strcmp(argv[3], "-")) {
		if (strcmp(argv[1], "mirror")) {
			fprintf(stderr, "pvnet: replay reads a file, not stdin\n");
			return 2;
		}
		return mirror_to_stdout(argc, argv);
	}
	if (argv[3][0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			fprintf(stderr, "pvnet: getcwd: %s\n", strerror(errno));
			return 1;
		}
		if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, argv[3]) >= sizeof(abs)) {
			fprintf(stderr, "pvnet: path too long\n");
			return 2;
		}
		argv[3] = abs;
	}
	return ctl_call(argc, argv, NULL, 0);
}
