/*
 * Fuzz target: arbitrary bytes as pvnetd's state file (<state-dir>/switch.conf,
 * include/pvnet/state.h), which an operator may edit by hand. Parses, then checks
 * that what was kept formats into a file that parses again to the same text, and
 * applies a delete to the model. Must neither crash nor leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvnet/state.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(void *arg, unsigned line, const char *msg)
{
	(void)arg;
	(void)line;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvnet_state *a = NULL, *b = NULL;
	char *t1 = NULL, *t2 = NULL;
	size_t l1, l2;
	int bad;

	if (pvnet_state_create(&a) || pvnet_state_create(&b))
		goto out;
	bad = pvnet_state_parse(a, "fuzz", (const char *)data, size, ignore, NULL);
	if (bad < 0 || pvnet_state_format(a, &t1, &l1))
		goto out;
	/* what pvnetd writes, it reads back without an error and unchanged */
	if (pvnet_state_parse(b, "fuzz", t1, l1, ignore, NULL) != 0)
		__builtin_trap();
	if (pvnet_state_format(b, &t2, &l2) || l1 != l2 || memcmp(t1, t2, l1))
		__builtin_trap();
	if (pvnet_state_count(a) != pvnet_state_count(b))
		__builtin_trap();
	/* deleting the first bridge of the model leaves a consistent model */
	for (size_t i = 0; i < pvnet_state_count(a); i++) {
		struct pvnet_state_entry *e = pvnet_state_get(a, i);
		if (e->kind == PVNET_STATE_BRIDGE) {
			char name[PVNET_STATE_NAME_MAX + 1];
			char *argv[3] = {"switch", "del-br", name};
			strcpy(name, e->key);
			if (pvnet_state_record(a, 3, argv, 0, NULL, 0) != 1)
				__builtin_trap();
			for (size_t j = 0; j < pvnet_state_count(a); j++)
				if (!strcmp(pvnet_state_get(a, j)->key, name) &&
				    pvnet_state_get(a, j)->kind <= PVNET_STATE_AGEING)
					__builtin_trap();
			break;
		}
	}
out:
	free(t1);
	free(t2);
	pvnet_state_destroy(a);
	pvnet_state_destroy(b);
	return 0;
}
