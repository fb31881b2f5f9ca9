/*
 * Fuzz target: domain records (pvnet/domrec.h), read by a restarted pvnetd from
 * its state dir. Parses; whatever parses is written back and must parse again
 * to the same record. HVM records (type hvm, qmp, accel) too: a parsed one has
 * an absolute QMP path without spaces and a known accelerator, a PV one neither.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/domrec.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvnet_domrec r, back;
	char why[160], *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (pvnet_domrec_parse((const char *)data, size, &r, why, sizeof(why)) < 0)
		return 0;
	f = open_memstream(&buf, &len);
	if (!f)
		abort();
	if (r.vifs_state < 0)
		r.vifs_state = 0; /* unusable vifs are not written back */
	pvnet_domrec_write(f, &r);
	fclose(f);
	if (pvnet_domrec_parse(buf, len, &back, why, sizeof(why)) < 0)
		abort();
	if (back.domid != r.domid || strcmp(back.name, r.name) || back.pid != r.pid ||
	    back.start != r.start || back.memory_mib != r.memory_mib ||
	    strcmp(back.file, r.file[0] ? r.file : "-") || back.n_overrides != r.n_overrides ||
	    back.text_len != r.text_len || memcmp(back.text, r.text, r.text_len) ||
	    back.vifs_state != r.vifs_state || back.n_vifs != r.n_vifs ||
	    (r.vifs_state == 1 && memcmp(back.vifs, r.vifs, r.n_vifs * sizeof(*r.vifs))) ||
	    back.hvm != r.hvm || strcmp(back.qmp, r.qmp) || strcmp(back.accel, r.accel))
		abort();
	/* what the HVM re-adoption relies on (adopt.c checks the rest) */
	if (r.hvm && (r.qmp[0] != '/' || strlen(r.qmp) >= sizeof(r.qmp) || strchr(r.qmp, ' ') ||
		      (strcmp(r.accel, "tcg") && strcmp(r.accel, "kvm"))))
		abort();
	if (!r.hvm && (r.qmp[0] || r.accel[0]))
		abort();
	for (unsigned i = 0; i < r.n_overrides; i++)
		if (strcmp(back.overrides[i], r.overrides[i]))
			abort();
	pvnet_domrec_free(&back);
	pvnet_domrec_free(&r);
	free(buf);
	return 0;
}
