/* SPDX-License-Identifier: MIT */
/*
 * pvnet - the toolstack CLI (xl-like).
 *
 *   pvnet [--run-dir DIR] COMMAND [ARGS]
 *
 * The run dir defaults to $PVNET_RUN_DIR or /run/pvnet. Most commands are
 * answered by pvnetd over <run-dir>/pvnetd.sock; xenstore-ls talks to the
 * store directly over <run-dir>/xenstored, as dom0.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvnet/ctl.h>
#include <pvnet/ctl_commands.h>
#include <pvnet/version.h>
#include <pvnet/xs.h>
#include <pvnet/xs_client.h>

#include "capture.h"
#include "pvnet.h"

static const char *run_dir;

/* Writes text to f, wrapped at spaces before column 80. */
static void print_wrapped(FILE *f, const char *text)
{
	int col = 0;

	while (*text) {
		int len = (int)strcspn(text, " ");
		if (col > 0 && col + 1 + len > 79) {
			fputc('\n', f);
			col = 0;
		} else if (col > 0) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", len, text);
		col += len;
		text += len;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

/* `pvnet help`, `pvnet --help`: every command of the table (ctl_commands.h). */
static void usage(FILE *f)
{
	char line[1024];
	size_t n = 0;

	fprintf(f, "usage: pvnet [--run-dir DIR] COMMAND [ARGS]\n\n");
	pvnet_cmd_print_help(f, NULL, NULL);
	fprintf(f,
		"\nA vif's accel=PLUGIN,level=0..3 (config) picks the first NIC of that plugin.\n");
	for (unsigned i = 0; i < pvnet_n_cmds && n < sizeof(line); i++) {
		const struct pvnet_cmd_info *r = &pvnet_cmds[i];
		if (r->name && (r->flags & PVNET_CMD_JSON))
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s%s%s",
					      n ? ", " : "Read commands (", r->name,
					      r->sub ? " " : "", r->sub ? r->sub : "");
	}
	if (n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ") take --json: one JSON object or array.");
	print_wrapped(f, line);
	fprintf(f,
		"The run dir is --run-dir, else $PVNET_RUN_DIR, else " PVNET_DEFAULT_RUN_DIR ".\n"
		"pvnet help COMMAND [SUBCOMMAND]: that command's synopsis (--help: this list).\n"
		"pvnet --version: this program's release and control protocol version.\n"
		"pvnet --dump-commands: the command table, one tab-separated line per command\n"
		"(name, subcommand, flags, arguments, help).\n");
}

/* pvnet help [COMMAND [SUBCOMMAND]]: answered without pvnetd. */
static int cmd_help(int argc, char **argv)
{
	if (argc == 1) {
		usage(stdout);
		return 0;
	}
	if (argc > 3 || !pvnet_cmd_print_help(stdout, argv[1], argc == 3 ? argv[2] : NULL)) {
		fprintf(stderr, "pvnet: no command '%s%s%s' (pvnet help: the list)\n", argv[1],
			argc == 3 ? " " : "", argc == 3 ? argv[2] : "");
		return 2;
	}
	return 0;
}

static int connect_ctl(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, PVNET_CTL_SOCK) >=
	    (int)sizeof(sa.sun_path)) {
		fprintf(stderr, "pvnet: run dir path too long\n");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "pvnet: cannot reach pvnetd at %s: %s (is pvnetd running?)\n",
			sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends argv (+ payload) to pvnetd and relays its answer (stdout to `out`);
 * returns the exit status. */
static int ctl_call_to(FILE *out, int argc, char **argv, const char *payload, size_t payload_len)
{
	char *msg = malloc(PVNET_CTL_MSG_MAX + 1);
	char marker[32];
	size_t len;
	int fd, status = 1;
	bool first = true;

	if (!msg)
		return 1;
	len = (size_t)snprintf(marker, sizeof(marker), "%s%d", PVNET_CTL_MARKER,
			       PVNET_CTL_VERSION) +
	      1;
	memcpy(msg, marker, len);
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (len + l > PVNET_CTL_MSG_MAX)
			goto too_big;
		memcpy(msg + len, argv[i], l);
		len += l;
	}
	if (payload) {
		if (len + 1 + payload_len > PVNET_CTL_MSG_MAX)
			goto too_big;
		msg[len++] = PVNET_CTL_PAYLOAD_SEP;
		memcpy(msg + len, payload, payload_len);
		len += payload_len;
	}
	fd = connect_ctl();
	if (fd < 0)
		goto out;
	if (send(fd, msg, len, MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "pvnet: send: %s\n", strerror(errno));
		close(fd);
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, msg, PVNET_CTL_MSG_MAX, 0);
		if (n <= 0) {
			fprintf(stderr, "pvnet: pvnetd closed the connection\n");
			break;
		}
		if (first && msg[0] != 'V') {
			/* a daemon from before protocol versions: it would not understand us */
			fprintf(stderr,
				"pvnet: control protocol mismatch: pvnetd speaks version 1 (no "
				"version), this pvnet (%s) speaks version %d; use the pvnet "
				"program of the same release as pvnetd, or restart pvnetd from "
				"this release\n",
				PVNET_VERSION, PVNET_CTL_VERSION);
			status = 2;
			break;
		}
		first = false;
		if (msg[0] == 'V') {
			msg[n] = 0;
			if (atoi(msg + 1) != PVNET_CTL_VERSION) {
				/* pvnetd refuses the request itself and says why ('E') */
				fprintf(stderr,
					"pvnet: pvnetd speaks control protocol %s, this pvnet (%s) "
					"speaks %d\n",
					msg + 1, PVNET_VERSION, PVNET_CTL_VERSION);
			}
		} else if (msg[0] == 'O')
			fwrite(msg + 1, 1, (size_t)n - 1, out);
		else if (msg[0] == 'E')
			fwrite(msg + 1, 1, (size_t)n - 1, stderr);
		else if (msg[0] == 'X') {
			msg[n] = 0;
			status = atoi(msg + 1);
			break;
		}
		fflush(out);
	}
	close(fd);
out:
	free(msg);
	return status;
too_big:
	fprintf(stderr, "pvnet: request too large\n");
	free(msg);
	return 1;
}

int ctl_call(int argc, char **argv, const char *payload, size_t payload_len)
{
	return ctl_call_to(stdout, argc, argv, payload, payload_len);
}

int ctl_call_capture(int argc, char **argv, char **text)
{
	size_t size = 0;
	FILE *f = open_memstream(text, &size);
	int status;

	*text = NULL;
	if (!f)
		return 1;
	status = ctl_call_to(f, argc, argv, NULL, 0);
	if (fclose(f) != 0)
		status = 1;
	if (status) {
		free(*text);
		*text = NULL;
	}
	return status;
}

static void print_escaped(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 32 || c >= 127)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static int ls_tree(struct xs_client *c, const char *path, int depth)
{
	char **names = NULL;
	unsigned count = 0;
	int rc = xs_client_directory(c, 0, path, &names, &count);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < count; i++) {
		char child[XS_ABS_PATH_MAX + 1];
		char *val = NULL;
		size_t len = 0;

		snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "", names[i]);
		printf("%*s%s = \"", depth, "", names[i]);
		if (xs_client_read(c, 0, child, &val, &len) == 0)
			print_escaped(val, len);
		printf("\"\n");
		free(val);
		ls_tree(c, child, depth + 1);
	}
	xs_free_list(names, count);
	return 0;
}

static int cmd_xenstore_ls(int argc, char **argv)
{
	char sock[512];
	struct xs_client *c;
	const char *path = argc > 1 ? argv[1] : "/";
	int rc;

	snprintf(sock, sizeof(sock), "%s/%s", run_dir, PVNET_XS_SOCK);
	rc = xs_client_open(sock, &c);
	if (rc < 0) {
		fprintf(stderr, "pvnet: cannot reach the store at %s: %s\n", sock, strerror(-rc));
		return 1;
	}
	rc = ls_tree(c, path, 0);
	xs_client_close(c);
	if (rc < 0) {
		fprintf(stderr, "pvnet: xenstore-ls %s: %s\n", path, strerror(-rc));
		return 1;
	}
	return 0;
}

/* pvnet console NAME [-f]: the guest's console log, <run-dir>/console-<name>.log. */
static int cmd_console(int argc, char **argv)
{
	bool follow = argc == 3 && !strcmp(argv[2], "-f");
	char path[PATH_MAX], buf[4096];
	FILE *f;
	size_t n;

	if (argc < 2 || argc > 3 || (argc == 3 && !follow) || strchr(argv[1], '/')) {
		fprintf(stderr, "usage: pvnet console NAME [-f]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/console-%s.log", run_dir, argv[1]);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "pvnet: no console log for '%s' (%s: %s)\n", argv[1], path,
			strerror(errno));
		return 1;
	}
	for (;;) {
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, stdout);
		fflush(stdout);
		if (!follow)
			break;
		clearerr(f);
		usleep(200000);
	}
	fclose(f);
	return 0;
}

/* pvnet bench ...: runs perf/bench.sh of the tree this pvnet was built in
 * (build/bin/pvnet -> ../../perf/bench.sh), or $PVNET_PERF_DIR/bench.sh. */
static int cmd_bench(int argc, char **argv)
{
	char self[PATH_MAX], script[PATH_MAX + 32];
	const char *dir = getenv("PVNET_PERF_DIR");
	ssize_t n;

	if (dir && *dir) {
		snprintf(script, sizeof(script), "%s/bench.sh", dir);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0) {
			fprintf(stderr, "pvnet: cannot find myself: %s\n", strerror(errno));
			return 1;
		}
		self[n] = 0;
		snprintf(script, sizeof(script), "%s/../../perf/bench.sh", dirname(self));
	}
	if (access(script, X_OK) != 0) {
		fprintf(stderr, "pvnet: %s not found (set PVNET_PERF_DIR)\n", script);
		return 1;
	}
	argv[0] = script;
	execv(script, argv);
	fprintf(stderr, "pvnet: exec %s: %s\n", script, strerror(errno));
	(void)argc;
	return 1;
}

typedef int (*pvnet_cmd_fn)(int argc, char **argv);

/* pvnet's handler of each row of the command table, in its order (NULL: sent as is) */
#define CFN_G(title) NULL,
#define CFN_C(name, sub, dfn, cfn, flags, args, help) cfn,
#define CFN_S(sub, swfn, cfn, flags, args, help) cfn,
static const pvnet_cmd_fn client_fns[] = {PVNET_CTL_COMMANDS(CFN_G, CFN_C, CFN_S)};
_Static_assert(sizeof(client_fns) / sizeof(client_fns[0]) == PVNET_CTL_NROWS,
	       "one entry per row of the command table");

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"run-dir", required_argument, NULL, 'r'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int c, row;
	bool exact;

	if (argc == 2 && !strcmp(argv[1], "--dump-commands")) {
		pvnet_cmd_dump(stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("pvnet (pvnet) %s, control protocol %d\n", PVNET_VERSION, PVNET_CTL_VERSION);
		return 0;
	}
	run_dir = getenv("PVNET_RUN_DIR");
	if (!run_dir || !*run_dir)
		run_dir = PVNET_DEFAULT_RUN_DIR;
	while ((c = getopt_long(argc, argv, "+r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			run_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	/* pvnet's own commands, and those whose request it prepares */
	row = pvnet_cmd_find(argc, argv, &exact);
	if (row >= 0 && exact && client_fns[row])
		return client_fns[row](argc, argv);
	return ctl_call(argc, argv, NULL, 0);
}
