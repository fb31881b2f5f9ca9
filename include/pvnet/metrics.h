/* SPDX-License-Identifier: MIT */
/*
 * Machine-readable views of pvnetd's read commands (tools/lib/metrics.c): pure
 * helpers shared by pvnetd (--json, --format=prometheus) and pvnet (top), with no
 * I/O and no daemon state, so they are unit-tested alone.
 *
 * JSON values are libjansson's json_t. Every function that returns a json_t or a
 * string hands the caller one reference / the malloc'd buffer; NULL means out of
 * memory (or, where said, bad input).
 */
#ifndef PVNET_METRICS_H
#define PVNET_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Parses the `k=v` tokens of a one-line description (`pvnet switch show`'s port
 * line, "vif1.0 port 2 type=vif up mode=access vlan=untagged offloads=csum,tso4
 * macs=1/1024 ...") into `obj`: the first `skip` tokens are ignored; `up`/`down`
 * become "state"; a value of decimal digits becomes an integer; the values of
 * "vlans", "offloads" and "remotes" become arrays (of integers where they are
 * numbers; "none" is the empty array); any other bare word is appended to the array
 * "flags". Existing keys of obj are replaced. 0, or -ENOMEM.
 */
int pvnet_kv_line_to_json(const char *line, unsigned skip, json_t *obj);

/*
 * Parses a text table (a header line of column names, then one row per line,
 * columns separated by blanks, no blank inside a cell) into an array of objects
 * keyed by the lowercased column names; cells of decimal digits become integers,
 * "-" becomes null. Blank lines are skipped; a row with a different number of cells
 * than the header makes the function return NULL. The caller owns the array.
 */
json_t *pvnet_table_to_json(const char *text);

/*
 * Renders `pvnet stats --json`'s object ({"workers", "vifs": [...], "bridges":
 * [{..., "ports": [...]}]}) in the Prometheus text exposition format (version
 * 0.0.4): one # HELP and one # TYPE line per metric family, then its samples;
 * names start with pvnet_, counters end in _total; labels domain, vif, bridge,
 * port and reason, values escaped (\\, \", \n). Keys missing from the object are
 * skipped. Returns a malloc'd NUL-terminated text, or NULL (out of memory).
 */
char *pvnet_prom_render(const json_t *stats);

/* Escapes a Prometheus label value into buf (always NUL-terminated, truncated). */
void pvnet_prom_escape(const char *in, char *buf, size_t size);

/*
 * From one line of /proc/PID/stat, the process's CPU time in clock ticks (utime +
 * stime, fields 14 and 15; the command name in parentheses may hold blanks and
 * parentheses). 0 and *ticks, or -EINVAL (not such a line).
 */
int pvnet_proc_stat_cpu_ticks(const char *line, uint64_t *ticks);

/* The increase of a counter between two samples; a counter that went down was
 * reset (a vif reconnected) and counts from 0. */
static inline uint64_t pvnet_counter_delta(uint64_t prev, uint64_t cur)
{
	return cur >= prev ? cur - prev : cur;
}

#endif /* PVNET_METRICS_H */
