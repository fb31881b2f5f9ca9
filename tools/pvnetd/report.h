/* SPDX-License-Identifier: MIT */
/*
 * pvnetd's read commands (report.c): info, list, vif-list, stats, switch show /
 * fdb / port-show / list-br / list-ports, accel list, nic list. Each has one
 * collector that builds a json_t (libjansson); `--json` prints that object, the
 * text output is rendered from the same object, so the two cannot disagree.
 * `stats --format=prometheus` renders it in the Prometheus text format.
 */
#ifndef PVNETD_REPORT_H
#define PVNETD_REPORT_H

#include <stdbool.h>

struct pvnetd;
struct outbuf;

enum report_fmt { REPORT_TEXT, REPORT_JSON, REPORT_PROMETHEUS };

/*
 * Takes `--json`, `--format=FMT` or `--format FMT` (text, json, prometheus) out of
 * argv[1..argc) (shifting the rest), sets *fmt (REPORT_TEXT if none). 0, or -EINVAL
 * (unknown format, or given twice) with the reason sent to o.
 */
int report_take_format(struct outbuf *o, int *argc, char **argv, enum report_fmt *fmt);

/*
 * Answers a read command: the exit status (0 ok, 1 failed, 2 usage), or -1 if argv
 * is not one of them in this format (the caller dispatches it; a text-only
 * command given --json gets status 2 and a message instead).
 */
int report_dispatch(struct pvnetd *d, struct outbuf *o, int argc, char **argv, enum report_fmt fmt);

/*
 * pvnet ethtool -k|--show-features|-S|--statistics VIF|NIC: netback's items
 * (nb_accel_ethtool) as ethtool prints them ("Features for X:" / "NIC
 * statistics:"), or with --json an object: {"name", "features": [{"name", "on",
 * "fixed"}]} or {"name", "statistics": {NAME: VALUE}}. 0, 1 (no such vif/NIC,
 * plugin error), 2 (usage).
 */
int report_ethtool(struct pvnetd *d, struct outbuf *o, int argc, char **argv, enum report_fmt fmt);

#endif /* PVNETD_REPORT_H */
