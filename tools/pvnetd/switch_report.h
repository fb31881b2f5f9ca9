/* SPDX-License-Identifier: MIT */
/*
 * One switch port as data (switch_report.c): the collectors behind `switch show`,
 * `switch port-show` and the ports of `stats`, in text and JSON alike. They depend
 * on the switch only (no pvnetd state), so switch_cli.c and report.c share them.
 * Every json_t returned is the caller's (one reference); NULL: out of memory.
 */
#ifndef PVNETD_SWITCH_REPORT_H
#define PVNETD_SWITCH_REPORT_H

#include <jansson.h>

#include <pvnet/vswitch.h>

/* The port's settings: name, port_no, its `switch show` line as "summary" and that
 * line's fields (type, state, mode, vlan, offloads, ...; pvnet_kv_line_to_json). */
json_t *swr_port_settings(struct vsw_port *port);
/* Adds the port's counters to e: rx/tx packets and bytes, the MAC-table counters
 * (macs, mac_limit, mac_learnt, mac_evicted, mac_limit_hits) and "drops" by
 * reason. 0 or -ENOMEM. */
int swr_port_counters(struct vsw_port *port, json_t *e);
/* `switch port-show PORT`: settings, "bridge", then counters. */
json_t *swr_port_show(struct vsw_bridge *br, struct vsw_port *port);
/* port-show's text from swr_port_show's object: the settings line, then
 * "  rx_packets=.. rx_bytes=.. tx_packets=.. tx_bytes=..", then "  drops: r=N ...".
 * malloc'd; NULL: out of memory. */
char *swr_port_show_text(const json_t *j);

#endif /* PVNETD_SWITCH_REPORT_H */
