/* SPDX-License-Identifier: MIT */
/* The command table's descriptions, and the help made from them (ctl_commands.h). */
#include <string.h>

#include <pvnet/ctl_commands.h>

#define ROW_G(title) {.group = (title)},
#define ROW_C(name_, sub_, dfn, cfn, flags_, args_, help_)                                         \
	{.name = (name_), .sub = (sub_), .flags = (flags_), .args = (args_), .help = (help_)},
#define ROW_S(sub_, swfn, cfn, flags_, args_, help_) ROW_C("switch", sub_, , , flags_, args_, help_)

const struct pvnet_cmd_info pvnet_cmds[] = {PVNET_CTL_COMMANDS(ROW_G, ROW_C, ROW_S)};
const unsigned pvnet_n_cmds = sizeof(pvnet_cmds) / sizeof(pvnet_cmds[0]);
_Static_assert(sizeof(pvnet_cmds) / sizeof(pvnet_cmds[0]) == PVNET_CTL_NROWS, "one row each");
_Static_assert(PVNET_CMD_PRIV == 1u << 4, "pvnet_cmd_dump's flag words follow the bits");

int pvnet_cmd_find(int argc, char *const *argv, bool *exact)
{
	int first = -1;

	if (exact)
		*exact = false;
	if (argc < 1 || !argv[0])
		return -1;
	for (unsigned i = 0; i < pvnet_n_cmds; i++) {
		const struct pvnet_cmd_info *r = &pvnet_cmds[i];

		if (!r->name || strcmp(r->name, argv[0]))
			continue;
		if (first < 0)
			first = (int)i;
		if (!r->sub || (argc >= 2 && !strcmp(r->sub, argv[1]))) {
			if (exact)
				*exact = true;
			return (int)i;
		}
	}
	return first;
}

bool pvnet_cmd_read_only(unsigned i, int argc)
{
	unsigned f = i < pvnet_n_cmds ? pvnet_cmds[i].flags : PVNET_CMD_MUTATES;

	return !(f & PVNET_CMD_MUTATES) || ((f & PVNET_CMD_READ_BARE) && argc == 1);
}

/* Writes `text` from its second line on, each line indented by `col`. */
static void print_rest(FILE *f, const char *text, int col)
{
	for (const char *nl = strchr(text, '\n'); nl; nl = strchr(nl + 1, '\n')) {
		int len = (int)strcspn(nl + 1, "\n");
		fprintf(f, "%*s%.*s\n", col, "", len, nl + 1);
	}
}

/*
 * "  NAME SUB ARGS" padded to `col`, then HELP; a synopsis too long for that puts
 * HELP on the next line. skip_name: the switch help leaves out "switch ".
 */
static void print_row(FILE *f, const struct pvnet_cmd_info *r, int col, bool skip_name)
{
	char head[256];
	int n, argcol;

	if (skip_name)
		n = snprintf(head, sizeof(head), "  %s", r->sub);
	else
		n = snprintf(head, sizeof(head), "  %s%s%s", r->name, r->sub ? " " : "",
			     r->sub ? r->sub : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	argcol = n + 1;
	if (r->args[0])
		snprintf(head + n, sizeof(head) - (size_t)n, " %.*s", (int)strcspn(r->args, "\n"),
			 r->args);
	n = (int)strlen(head);
	if (strchr(r->args, '\n')) {
		/* a synopsis of several lines: the help comes after it */
		fprintf(f, "%s\n", head);
		print_rest(f, r->args, argcol);
		fprintf(f, "%*s%.*s\n", col, "", (int)strcspn(r->help, "\n"), r->help);
	} else if (n + 2 > col) {
		fprintf(f, "%s\n%*s%.*s\n", head, col, "", (int)strcspn(r->help, "\n"), r->help);
	} else {
		fprintf(f, "%-*s%.*s\n", col, head, (int)strcspn(r->help, "\n"), r->help);
	}
	print_rest(f, r->help, col);
}

unsigned pvnet_cmd_print_help(FILE *f, const char *name, const char *sub)
{
	const char *group = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < pvnet_n_cmds; i++) {
		const struct pvnet_cmd_info *r = &pvnet_cmds[i];

		if (!r->name) {
			group = r->group;
			continue;
		}
		if (name && strcmp(r->name, name))
			continue;
		if (sub && (!r->sub || strcmp(r->sub, sub)))
			continue;
		if (!name && group) {
			fprintf(f, "%s:\n", group);
			group = NULL;
		}
		print_row(f, r, 28, false);
		n++;
	}
	return n;
}

void pvnet_cmd_print_switch_help(FILE *f)
{
	fprintf(f, "usage: pvnet switch COMMAND ...\n");
	for (unsigned i = 0; i < pvnet_n_cmds; i++)
		if (pvnet_cmds[i].name && !strcmp(pvnet_cmds[i].name, "switch") &&
		    strcmp(pvnet_cmds[i].sub, "help"))
			print_row(f, &pvnet_cmds[i], 37, true);
	fprintf(f,
		"Settings (not mirrors) are saved in pvnetd's state dir and restored at start.\n");
}

/* Writes s with '\n' as the two characters \n and a tab as a space. */
static void dump_field(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s == '\t' ? ' ' : *s, f);
	}
}

void pvnet_cmd_dump(FILE *f)
{
	static const char *const words[] = {"daemon", "mutates", "read-bare", "json", "priv"};

	for (unsigned i = 0; i < pvnet_n_cmds; i++) {
		const struct pvnet_cmd_info *r = &pvnet_cmds[i];
		bool any = false;

		if (!r->name)
			continue;
		fprintf(f, "%s\t%s\t", r->name, r->sub ? r->sub : "-");
		for (unsigned b = 0; b < sizeof(words) / sizeof(words[0]); b++) {
			if (r->flags & (1u << b)) {
				fprintf(f, "%s%s", any ? "," : "", words[b]);
				any = true;
			}
		}
		fprintf(f, "%s\t", any ? "" : "-");
		dump_field(f, r->args);
		fputc('\t', f);
		dump_field(f, r->help);
		fputc('\n', f);
	}
}
