/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the domain config parser (include/pvnet/config.h), which
 * pvnetd runs on the text and overrides any control client sends with
 * `create`. The input is split at the first 0x1e byte: the file text before
 * it, then up to four overrides separated by 0x1f. A parsed domain is also
 * serialised to JSON; every vif spec string is fed to pvnet_vif_parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/config.h>

static void drop_warning(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *ov[4];
	char *copy, *sep, *p, err[256];
	struct pvnet_dom_cfg *cfg;
	struct pvnet_vif_cfg vif;
	struct pvnet_config_opts opts = {.overrides = ov, .warn = drop_warning};
	size_t text_len = size;

	if (size > 65536)
		return 0;
	copy = malloc(size + 1);
	cfg = malloc(sizeof(*cfg));
	if (!copy || !cfg)
		goto out;
	memcpy(copy, data, size);
	copy[size] = 0;
	sep = memchr(copy, 0x1e, size);
	if (sep) {
		text_len = (size_t)(sep - copy);
		*sep = 0;
		for (p = sep + 1; p && opts.n_overrides < 4;) {
			char *next = strchr(p, 0x1f);

			if (next)
				*next++ = 0;
			ov[opts.n_overrides++] = p;
			p = next;
		}
	}
	if (pvnet_config_parse_ex("fuzz.cfg", copy, text_len, &opts, cfg, err, sizeof(err)) == 0)
		free(pvnet_config_to_json(cfg));
	if (!memchr(copy, 0, text_len))
		(void)pvnet_vif_parse_warn(copy, &vif, drop_warning, NULL, err, sizeof(err));
out:
	free(cfg);
	free(copy);
	return 0;
}
