/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsw_sink.h - a fake switch port for the device-port unit tests
 * (test_vsw_ports.c, test_vsw_afxdp.c): it records what the switch sends it.
 * With `type` set, only frames of that ethertype (after any 802.1Q tag) are
 * counted and kept: the kernel's own traffic on fresh devices (IPv6 router
 * solicitations, MLD reports) may reach the switch at any moment and is counted
 * in `other`. Also the shell and raw-socket helpers both tests use.
 * Include after <cmocka.h> and <pvnet/vswitch.h>.
 */
#ifndef PVNET_TESTS_VSW_SINK_H
#define PVNET_TESTS_VSW_SINK_H

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/types.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sink {
	pthread_mutex_t lock;
	uint16_t type; /* 0: every frame */
	unsigned n, other;
	uint8_t last[2048];
	uint32_t last_len;
	uint16_t last_tci;
};

static inline int sink_send(struct vsw_port *port, struct pvnet_pkt_batch *b)
{
	struct sink *s = vsw_port_priv(port);

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < b->count; i++) {
		uint8_t f[2048];
		uint32_t len = pvnet_pkt_write_head(b->pkts[i], b->vlan_tci[i], f, sizeof(f));
		unsigned off = len >= 18 && f[12] == 0x81 && f[13] == 0x00 ? 16 : 12;
		uint16_t type = len >= off + 2 ? (uint16_t)(f[off] << 8 | f[off + 1]) : 0;

		pvnet_pkt_put(b->pkts[i]);
		if (s->type && type != s->type) {
			s->other++;
			continue;
		}
		s->n++;
		s->last_tci = b->vlan_tci[i];
		s->last_len = len;
		memcpy(s->last, f, len);
	}
	pthread_mutex_unlock(&s->lock);
	return (int)b->count;
}

static const struct vsw_port_ops sink_ops = {.type = "test", .send = sink_send};

static inline unsigned sink_count(struct sink *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* true once the sink has counted n frames (polled for up to 3 s) */
static inline bool wait_count(struct sink *s, unsigned n)
{
	for (int i = 0; i < 300; i++) {
		if (sink_count(s) >= n)
			return true;
		usleep(10000);
	}
	return false;
}

static inline void sh(const char *cmd)
{
	assert_int_equal(system(cmd), 0);
}

/* An AF_PACKET socket bound to ifname for ethertype `proto` (ETH_P_ALL: every frame). */
static inline int raw_socket_proto(const char *ifname, uint16_t proto)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(proto)};
	int fd = socket(AF_PACKET, SOCK_RAW, htons(proto));
	assert_true(fd >= 0);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

/* Reads frames on fd (for up to ~5 s) until one whose source MAC ends in src_id
 * arrives; returns its size or -1. With PACKET_AUXDATA on the socket the
 * kernel's stripped 802.1Q tag is returned in *tci (else 0). */
static inline ssize_t raw_recv(int fd, uint8_t *buf, size_t size, uint8_t src_id, uint16_t *tci)
{
	for (int tries = 0; tries < 50; tries++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char cbuf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		struct iovec iov = {buf, size};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvmsg(fd, &mh, 0);
		if (n < 14 || buf[11] != src_id)
			continue;
		*tci = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
				struct tpacket_auxdata *a = (void *)CMSG_DATA(c);
				if (a->tp_status & TP_STATUS_VLAN_VALID)
					*tci = a->tp_vlan_tci;
			}
		}
		return n;
	}
	return -1;
}

#endif
