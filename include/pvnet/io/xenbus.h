/* SPDX-License-Identifier: MIT */
/*
 * pvnet/io/xenbus.h - device connection states written to the store's `state`
 * nodes by frontends and backends, with Xen's values (public/io/xenbus.h).
 */
#ifndef PVNET_IO_XENBUS_H
#define PVNET_IO_XENBUS_H

enum xenbus_state {
	XenbusStateUnknown = 0,
	XenbusStateInitialising = 1,
	XenbusStateInitWait = 2,    /* backend: waiting for frontend details */
	XenbusStateInitialised = 3, /* frontend: details written (Linux skips this) */
	XenbusStateConnected = 4,
	XenbusStateClosing = 5,
	XenbusStateClosed = 6,
	XenbusStateReconfiguring = 7,
	XenbusStateReconfigured = 8
};
typedef enum xenbus_state XenbusState;

/* Human-readable name of a state, "Unknown" for values out of range. */
static inline const char *xenbus_strstate(int s)
{
	static const char *const names[] = {
		"Unknown", "Initialising", "InitWait",      "Initialised", "Connected",
		"Closing", "Closed",       "Reconfiguring", "Reconfigured"};
	return (s >= 0 && s <= 8) ? names[s] : "Unknown";
}

#endif /* PVNET_IO_XENBUS_H */
