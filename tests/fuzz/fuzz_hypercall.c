/*
 * Fuzz target for the hypercall dispatcher (hv/hypercall.c): every input is
 * one guest message. A fresh hypervisor with one small domain per input keeps
 * runs independent; returned fds are closed, so a leak shows up as fd growth
 * under LeakSanitizer / the fd limit.
 *
 * Input byte 0 selects the framing: odd -> the rest is the message body after
 * a valid header (magic, version, op from bytes 1-2), to reach the ops;
 * even -> the rest is sent as is.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <pvnet/hv.h>
#include <pvnet/hypercall.h>
#include <pvnet/log.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct hv_domain_config cfg;
	struct pvhc_msg msg, rsp;
	struct hv *hv;
	domid_t id;
	int fds[PVHC_MAX_FDS], nfds = 0, i;
	evtchn_port_t p;

	if (!quiet) {
		pvnet_log_set_level(PVNET_LOG_ERR);
		quiet = 1;
	}
	if (size < 1 || hv_create(&hv) < 0)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, "fuzz");
	cfg.mem_size = 8 * 4096;
	cfg.nr_grant_frames = 1;
	cfg.max_evtchns = 16;
	if (hv_domain_create(hv, &cfg, &id) < 0)
		goto out;
	/* Some state to poke at: an unbound port for the guest, a grant to dom0. */
	evtchn_alloc_unbound(hv, 0, DOMID_SELF, id, &p);
	if (data[0] & 1) {
		memset(&msg, 0, sizeof(msg));
		msg.hdr.magic = PVHC_MAGIC;
		msg.hdr.version = PVHC_VERSION;
		if (size >= 3)
			msg.hdr.op = (uint16_t)(data[1] | data[2] << 8) % (PVHC_OP_MAX + 2);
		if (size > 3)
			memcpy(&msg.args, data + 3,
			       size - 3 < sizeof(msg.args) ? size - 3 : sizeof(msg.args));
		hv_hypercall_dispatch(hv, id, &msg, sizeof(msg), &rsp, fds, &nfds);
	} else {
		uint8_t buf[PVHC_MSG_SIZE * 2];
		size_t n = size - 1 < sizeof(buf) ? size - 1 : sizeof(buf);
		memcpy(buf, data + 1, n);
		hv_hypercall_dispatch(hv, id, buf, size - 1, &rsp, fds, &nfds);
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
out:
	hv_destroy(hv);
	return 0;
}
