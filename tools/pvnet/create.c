/* SPDX-License-Identifier: MIT */
/*
 * pvnet create [-n|--dry-run] FILE [KEY=VALUE ...], as `xl create`.
 *
 * Each KEY=VALUE is a statement in the config file's syntax applied after the
 * file (include/pvnet/config.h "Overrides"). With -n the configuration is
 * parsed here, warnings go to stderr and the parsed domain is printed as JSON;
 * nothing is created and pvnetd is not needed. Without -n the file's text and
 * the overrides go to pvnetd, which parses them (its warnings come back on
 * stderr) and creates the domain.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/config.h>
#include <pvnet/ctl.h>

#include "pvnet.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: pvnet create [-n|--dry-run] FILE [KEY=VALUE ...]\n"
		   "  KEY=VALUE  overrides a key of FILE (xl syntax: memory=128, name=web3,\n"
		   "             'vif=[\"bridge=br1,ip=10.1.0.5/24\"]', 'vif+=[\"\"]')\n"
		   "  -n         check FILE and print the parsed configuration as JSON;\n"
		   "             create nothing\n");
}

static void warn_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static int dry_run(const char *path, char **overrides, unsigned n)
{
	struct pvnet_config_opts opts = {
		.overrides = (const char *const *)overrides, .n_overrides = n, .warn = warn_stderr};
	struct pvnet_dom_cfg *cfg = calloc(1, sizeof(*cfg));
	char err[512], *json;
	int rc;

	if (!cfg) {
		fprintf(stderr, "pvnet: out of memory\n");
		return 1;
	}
	rc = pvnet_config_load_ex(path, &opts, cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%s\n", err);
		free(cfg);
		return 1;
	}
	json = pvnet_config_to_json(cfg);
	free(cfg);
	if (!json) {
		fprintf(stderr, "pvnet: out of memory\n");
		return 1;
	}
	fputs(json, stdout);
	free(json);
	return fflush(stdout) == 0 ? 0 : 1;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	/* the request holds the text: ctl_call refuses more than PVNET_CTL_MSG_MAX */
	buf = malloc(PVNET_CTL_MSG_MAX + 1);
	if (!buf) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, PVNET_CTL_MSG_MAX + 1, f);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	buf[n < PVNET_CTL_MSG_MAX ? n : PVNET_CTL_MSG_MAX] = 0;
	*len = n;
	return buf;
}

int cmd_create(int argc, char **argv)
{
	char *cargv[4 + PVNET_CONFIG_MAX_OVERRIDES], cwd[PATH_MAX], *text;
	bool dry = false;
	unsigned n_over, i, c = 0;
	size_t len = 0;
	int first = 1, rc;

	while (first < argc && argv[first][0] == '-') {
		if (!strcmp(argv[first], "-n") || !strcmp(argv[first], "--dry-run")) {
			dry = true;
		} else if (!strcmp(argv[first], "-h") || !strcmp(argv[first], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
		first++;
	}
	if (first >= argc) {
		usage(stderr);
		return 2;
	}
	n_over = (unsigned)(argc - first - 1);
	if (n_over > PVNET_CONFIG_MAX_OVERRIDES) {
		fprintf(stderr, "pvnet: at most %d KEY=VALUE overrides\n",
			PVNET_CONFIG_MAX_OVERRIDES);
		return 2;
	}
	for (i = 0; i < n_over; i++) {
		if (!strchr(argv[first + 1 + i], '=') ||
		    strchr(argv[first + 1 + i], PVNET_CTL_PAYLOAD_SEP)) {
			fprintf(stderr, "pvnet: bad override '%s' (expected KEY=VALUE)\n",
				argv[first + 1 + i]);
			return 2;
		}
	}
	if (dry)
		return dry_run(argv[first], argv + first + 1, n_over);

	text = read_all(argv[first], &len);
	if (!text) {
		fprintf(stderr, "pvnet: cannot read %s: %s\n", argv[first], strerror(errno));
		return 1;
	}
	/*
	 * "create FILE [--cwd DIR] [KEY=VALUE ...]": relative kernel/ramdisk paths
	 * are the user's, as with xl, so pvnetd resolves them against our working
	 * directory (none if it was removed under us: then they stay pvnetd's).
	 */
	cargv[c++] = "create";
	cargv[c++] = argv[first];
	if (getcwd(cwd, sizeof(cwd))) {
		cargv[c++] = "--cwd";
		cargv[c++] = cwd;
	}
	for (i = 0; i < n_over; i++)
		cargv[c++] = argv[first + 1 + i];
	rc = ctl_call((int)c, cargv, text, len);
	free(text);
	return rc;
}
