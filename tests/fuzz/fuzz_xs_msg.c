/*
 * Fuzz target: arbitrary bytes as the input stream of one guest (dom3)
 * connection to the xenstore server, with no sockets (hv/xs_private.h).
 * The first byte picks how the stream is split into reads, so message
 * reassembly across reads is exercised too. Must neither crash nor leak.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <pvnet/log.h>
#include <pvnet/xs.h>

#include "../../hv/xs_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct quota_limits lim;
	struct quota_ledger *led = NULL;
	struct xs_store *st = NULL;
	struct xs_server *srv = NULL;
	struct xs_conn *guest = NULL, *dom0 = NULL;
	size_t chunk, len;

	pvnet_log_set_level(PVNET_LOG_ERR);
	if (size < 1)
		return 0;
	chunk = (size_t)data[0] * 7 + 1;
	data++;
	size--;
	/* Small limits so that inputs reach each of them. */
	quota_limits_default(&lim);
	lim.v[QUOTA_XS_NODES] = 50;
	lim.v[QUOTA_XS_VALUE_SIZE] = 256;
	lim.v[QUOTA_XS_WATCHES] = 8;
	lim.v[QUOTA_XS_TRANSACTIONS] = 3;
	lim.v[QUOTA_XS_TX_NODES] = 16;
	lim.v[QUOTA_XS_PATH_SIZE] = 64;
	lim.v[QUOTA_XS_OUTPUT_BYTES] = 8192;
	lim.v[QUOTA_XS_WATCH_EVENTS] = 4;
	if (quota_ledger_create(&lim, &led) || xs_store_create(led, &st) ||
	    xs_domain_introduce(st, 3, "fuzz") || xs_server_create(st, NULL, &srv) ||
	    xs_server_add_mem_conn(srv, 3, &guest) || xs_server_add_mem_conn(srv, 0, &dom0))
		goto out;
	/* A dom0 watch on everything, so every guest change produces events. */
	static const uint8_t watch_all[] = {4, 0, 0, 0, 1, 0, 0,   0, 0,   0,
					    0, 0, 4, 0, 0, 0, '/', 0, 't', 0};
	if (xs_conn_feed(srv, dom0, watch_all, sizeof(watch_all)) < 0)
		goto out;
	while (size) {
		size_t n = size < chunk ? size : chunk;
		int rc = xs_conn_feed(srv, guest, data, n);
		if (rc < 0)
			break; /* dropped (framing violation); freed by the server */
		/* Every few chunks the guest "does not read": its output stays queued. */
		if ((size_t)rc < n || (data[0] & 3) != 0) {
			while (xs_conn_output(guest, &len), len)
				xs_conn_output_consume(srv, guest, len);
		}
		while (xs_conn_output(dom0, &len), len)
			xs_conn_output_consume(srv, dom0, len);
		xs_store_dispatch(st);
		data += (size_t)rc;
		size -= (size_t)rc;
	}
	/* What the guest holds stays within its limits, whatever it sent. */
	if (quota_usage(led, 3, QUOTA_XS_WATCHES) > 8 ||
	    quota_usage(led, 3, QUOTA_XS_TRANSACTIONS) > 3 ||
	    quota_usage(led, 3, QUOTA_XS_NODES) > 50 ||
	    quota_usage(led, 3, QUOTA_XS_WATCH_EVENTS) > 4 ||
	    quota_usage(led, 3, QUOTA_XS_OUTPUT_BYTES) > 8192 + 4096 + 16)
		__builtin_trap();
out:
	xs_server_destroy(srv);
	xs_store_destroy(st);
	quota_ledger_destroy(led);
	return 0;
}
