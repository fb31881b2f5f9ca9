/* SPDX-License-Identifier: MIT */
/* Unit tests for pvnet's command table (include/pvnet/ctl_commands.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pvnet/ctl_commands.h>

static int find(const char *a, const char *b, bool *exact)
{
	char *argv[] = {(char *)a, (char *)b, NULL};

	return pvnet_cmd_find(b ? 2 : 1, argv, exact);
}

static void test_find(void **state)
{
	bool exact;
	int i;

	(void)state;
	i = find("list", NULL, &exact);
	assert_true(i >= 0 && exact);
	assert_string_equal(pvnet_cmds[i].name, "list");
	assert_null(pvnet_cmds[i].sub);
	/* a command without subcommands ignores argv[1] */
	assert_int_equal(find("list", "vm1", &exact), i);
	assert_true(exact);
	i = find("switch", "add-port", &exact);
	assert_true(i >= 0 && exact);
	assert_string_equal(pvnet_cmds[i].sub, "add-port");
	i = find("nic", "del", &exact);
	assert_true(i >= 0 && exact);
	assert_string_equal(pvnet_cmds[i].sub, "del");
	/* a subcommand the command lacks, or none: its first row, not exact */
	i = find("switch", "frobnicate", &exact);
	assert_true(i >= 0 && !exact);
	assert_string_equal(pvnet_cmds[i].name, "switch");
	assert_int_equal(find("switch", NULL, &exact), i);
	assert_false(exact);
	assert_int_equal(find("frobnicate", NULL, &exact), -1);
	assert_false(exact);
	assert_int_equal(pvnet_cmd_find(0, NULL, NULL), -1);
}

static void test_read_only(void **state)
{
	(void)state;
	assert_true(pvnet_cmd_read_only((unsigned)find("info", NULL, NULL), 1));
	assert_true(pvnet_cmd_read_only((unsigned)find("switch", "show", NULL), 2));
	assert_false(pvnet_cmd_read_only((unsigned)find("switch", "add-br", NULL), 3));
	assert_false(pvnet_cmd_read_only((unsigned)find("destroy", NULL, NULL), 2));
	/* log-level reads with no argument and changes with one */
	assert_true(pvnet_cmd_read_only((unsigned)find("log-level", NULL, NULL), 1));
	assert_false(pvnet_cmd_read_only((unsigned)find("log-level", NULL, NULL), 2));
	assert_false(pvnet_cmd_read_only(pvnet_n_cmds, 1)); /* out of range: changes */
}

/* The rules the rows keep: unique (name, sub); a name has subcommands in all of
 * its rows or in none; PRIV and READ_BARE only with MUTATES; JSON rows say --json;
 * MUTATES rows need the daemon. */
static void test_rows(void **state)
{
	unsigned commands = 0;

	(void)state;
	for (unsigned i = 0; i < pvnet_n_cmds; i++) {
		const struct pvnet_cmd_info *r = &pvnet_cmds[i];

		if (!r->name) {
			assert_non_null(r->group);
			continue;
		}
		commands++;
		assert_non_null(r->args);
		assert_non_null(r->help);
		assert_true(r->help[0] != 0);
		if (r->flags & (PVNET_CMD_PRIV | PVNET_CMD_READ_BARE))
			assert_true(r->flags & PVNET_CMD_MUTATES);
		if (r->flags & PVNET_CMD_MUTATES)
			assert_true(r->flags & PVNET_CMD_DAEMON);
		if (r->flags & PVNET_CMD_JSON)
			assert_non_null(strstr(r->args, "--json"));
		for (unsigned k = 0; k < i; k++) {
			const struct pvnet_cmd_info *o = &pvnet_cmds[k];
			if (!o->name || strcmp(o->name, r->name))
				continue;
			assert_true(!o->sub == !r->sub);
			assert_true(r->sub && strcmp(o->sub, r->sub));
		}
	}
	assert_true(commands > 30);
}

static void test_help_and_dump(void **state)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	unsigned lines = 0, headings = 0;

	(void)state;
	assert_non_null(f);
	assert_int_equal(pvnet_cmd_print_help(f, "nic", NULL), 3);
	assert_int_equal(pvnet_cmd_print_help(f, "nic", "list"), 1);
	assert_int_equal(pvnet_cmd_print_help(f, "frobnicate", NULL), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(text, "  nic list [--json]"));
	free(text);

	f = open_memstream(&text, &size);
	pvnet_cmd_dump(f);
	assert_int_equal(fclose(f), 0);
	for (char *p = text; *p; p++) {
		if (*p != '\n')
			continue;
		lines++;
	}
	/* one line a command (headings are not commands), no raw newline inside */
	for (unsigned i = 0; i < pvnet_n_cmds; i++)
		headings += !pvnet_cmds[i].name;
	assert_true(headings > 0);
	assert_int_equal(lines, pvnet_n_cmds - headings);
	assert_non_null(strstr(text,
			       "log-level\t-\tdaemon,mutates,read-bare,priv\t[MODULE] LEVEL\t"));
	assert_non_null(strstr(text, "console\t-\t-\tNAME [-f]\t"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_help_and_dump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
