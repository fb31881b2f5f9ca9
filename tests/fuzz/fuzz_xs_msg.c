/*
 * Fuzz target: arbitrary bytes as the input stream of one guest (dom3)
 * connection to the xenstore server, with no sockets (hv/xs_private.h).
 * The first byte picks how the stream is split into reads, so message
 * reassembly across reads is exercised too. Must neither crash nor leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <pvnet/log.h>
#include <pvnet/xs.h>

#include "../../hv/xs_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xs_quota q = {.nodes = 50, .value_size = 256, .watches = 8, .transactions = 3};
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
	if (xs_store_create(&q, &st) || xs_domain_introduce(st, 3, "fuzz") ||
	    xs_server_create(st, NULL, &srv) || xs_server_add_mem_conn(srv, 3, &guest) ||
	    xs_server_add_mem_conn(srv, 0, &dom0))
		goto out;
	/* A dom0 watch on everything, so every guest change produces events. */
	static const uint8_t watch_all[] = {4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
					    '/', 0, 't', 0};
	if (xs_conn_feed(srv, dom0, watch_all, sizeof(watch_all)))
		goto out;
	while (size) {
		size_t n = size < chunk ? size : chunk;
		if (xs_conn_feed(srv, guest, data, n))
			break; /* dropped (framing violation); freed by the server */
		xs_conn_output(guest, &len);
		xs_conn_output_consume(guest, len);
		xs_conn_output(dom0, &len);
		xs_conn_output_consume(dom0, len);
		xs_store_dispatch(st);
		data += n;
		size -= n;
	}
out:
	xs_server_destroy(srv);
	xs_store_destroy(st);
	return 0;
}
