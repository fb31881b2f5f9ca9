/* SPDX-License-Identifier: MIT */
/*
 * The guest's network stack: its namespace (made as `ip netns add` makes one),
 * the TAP device that stands for the PV NIC, and interface configuration by
 * ioctl (MAC, MTU, IPv6 addresses, link up) and rtnetlink (IPv4 addresses:
 * SIOCSIFADDR would replace the interface's one primary address, so a second
 * IPv4 address in ip= would silently evict the first).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvnet/lib.h>
#include <pvnet/log.h>

#include "nf_private.h"

#define NETNS_RUN_DIR PVNET_NETNS_DIR

/* /run/netns must be a shared mount point, so mounts below it propagate. */
static int netns_run_dir_prepare(void)
{
	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* not a mount point yet: bind it onto itself, then make it shared */
	if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		return -errno;
	return 0;
}

int nf_netns_create(const char *name)
{
	char path[256];
	int fd, rc;

	if (!pvnet_netns_name_ok(name))
		return -EINVAL;
	rc = netns_run_dir_prepare();
	if (rc < 0) {
		PVLOG(ERR, MOD, "cannot prepare %s: %s", NETNS_RUN_DIR, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		if (rc == -EEXIST)
			PVLOG(ERR, MOD,
			      "network namespace '%s' already exists (%s); remove it "
			      "(ip netns del %s) or set netns= in the domain config",
			      name, path, name);
		else
			PVLOG(ERR, MOD, "cannot create %s: %s", path, strerror(-rc));
		return rc;
	}
	close(fd);
	if (unshare(CLONE_NEWNET) < 0) {
		rc = -errno;
		PVLOG(ERR, MOD, "unshare(CLONE_NEWNET): %s", strerror(-rc));
		goto unlink_file;
	}
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		rc = -errno;
		PVLOG(ERR, MOD, "bind mount of the namespace on %s: %s", path, strerror(-rc));
		goto unlink_file;
	}
	rc = nf_if_up("lo");
	if (rc < 0)
		PVLOG(WARN, MOD, "loopback up: %s", strerror(-rc));
	return 0;

unlink_file:
	unlink(path);
	return rc;
}

int nf_tap_open(const char *ifname, int *out)
{
	struct ifreq ifr;
	int fd, rc, hdr_size = (int)sizeof(struct virtio_net_hdr);

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	/* always multi-queue: later queues attach to the same device */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) < 0)
		goto fail;
	*out = fd;
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int nf_tap_set_offload(int fd, unsigned offload)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)offload) < 0 ? -errno : 0;
}

static int if_ioctl(int family, unsigned long req, void *arg)
{
	int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, req, arg) < 0)
		rc = -errno;
	close(s);
	return rc;
}

int nf_if_up(const char *ifname)
{
	struct ifreq ifr;
	int rc;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	rc = if_ioctl(AF_INET, SIOCGIFFLAGS, &ifr);
	if (rc < 0)
		return rc;
	ifr.ifr_flags |= IFF_UP;
	return if_ioctl(AF_INET, SIOCSIFFLAGS, &ifr);
}

/* Writes a per-namespace sysctl of our interface (best effort). */
static void if_sysctl(const char *ifname, const char *key, const char *val)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, key);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0)
		PVLOG(DEBUG, MOD, "%s: %s", path, strerror(errno));
	close(fd);
}

int nf_if_configure(const char *ifname, const uint8_t mac[6], unsigned mtu)
{
	struct ifreq ifr;
	int rc;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	rc = if_ioctl(AF_INET, SIOCSIFHWADDR, &ifr);
	if (rc < 0)
		return rc;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_mtu = (int)mtu;
	rc = if_ioctl(AF_INET, SIOCSIFMTU, &ifr);
	if (rc < 0)
		return rc;
	/*
	 * The link is a point-to-point cable into our own switch port: skip IPv6
	 * duplicate address detection so addresses are usable at once.
	 */
	if_sysctl(ifname, "accept_dad", "0");
	return nf_if_up(ifname);
}

/* struct in6_ifreq of <linux/ipv6.h>, which clashes with <netinet/in.h>. */
struct nf_in6_ifreq {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

/* Appends a route attribute to an rtnetlink request (buffer known to be large enough). */
static void nl_attr_put(struct nlmsghdr *nh, unsigned short type, const void *data, size_t size)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(size);
	memcpy(RTA_DATA(rta), data, size);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends one rtnetlink request and returns the kernel's acknowledgement: 0 or -errno. */
static int nl_request(struct nlmsghdr *req)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char ack[NLMSG_SPACE(sizeof(struct nlmsgerr)) + 256];
	struct nlmsghdr *nh;
	ssize_t n;
	int s, rc;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	if (sendto(s, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		rc = -errno;
		goto close_sock;
	}
	n = recv(s, ack, sizeof(ack), 0);
	if (n < 0) {
		rc = -errno;
		goto close_sock;
	}
	nh = (struct nlmsghdr *)ack;
	if (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_type != NLMSG_ERROR ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		rc = -EPROTO;
		goto close_sock;
	}
	rc = ((struct nlmsgerr *)NLMSG_DATA(nh))->error; /* 0 or -errno */
close_sock:
	close(s);
	return rc;
}

/*
 * Adds an IPv4 address as `ip addr add A/P brd + dev IF` does (RTM_NEWADDR,
 * NLM_F_EXCL): unlike SIOCSIFADDR it adds, never replaces. 0 or -errno from the
 * kernel's acknowledgement (-EEXIST if the address is already there).
 */
static int if_addr4_add(int ifindex, struct in_addr a, unsigned prefix)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
		char attrs[64];
	} req;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	req.nh.nlmsg_seq = 1;
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = (unsigned char)prefix;
	req.ifa.ifa_index = (unsigned)ifindex;
	nl_attr_put(&req.nh, IFA_LOCAL, &a, sizeof(a));
	nl_attr_put(&req.nh, IFA_ADDRESS, &a, sizeof(a));
	if (prefix < 31) {
		struct in_addr brd = {.s_addr = a.s_addr | htonl(prefix ? ~0u >> prefix : ~0u)};
		nl_attr_put(&req.nh, IFA_BROADCAST, &brd, sizeof(brd));
	}
	return nl_request(&req.nh);
}

/*
 * The default route through `gw` on interface `ifindex`, as `ip route replace
 * default via GW dev IF` (RTM_NEWROUTE, NLM_F_REPLACE: a reconnecting vif
 * sets it again without an error). 0 or -errno from the kernel.
 */
static int route_default_set(int family, const void *gw, size_t gw_size, int ifindex)
{
	union {
		struct nlmsghdr nh;
		char buf[NLMSG_SPACE(sizeof(struct rtmsg)) + 64];
	} req;
	struct rtmsg *rt = NLMSG_DATA(&req.nh);
	uint32_t oif = (uint32_t)ifindex;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(*rt));
	req.nh.nlmsg_type = RTM_NEWROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	req.nh.nlmsg_seq = 1;
	rt->rtm_family = (unsigned char)family;
	rt->rtm_dst_len = 0;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	nl_attr_put(&req.nh, RTA_GATEWAY, gw, gw_size);
	nl_attr_put(&req.nh, RTA_OIF, &oif, sizeof(oif));
	return nl_request(&req.nh);
}

int nf_if_add_gateways(const char *ifname, const char *gws)
{
	char buf[256], *save = NULL, *tok;
	int ifindex = (int)if_nametoindex(ifname), rc, ret = 0;

	if (!ifindex)
		return -ENODEV;
	snprintf(buf, sizeof(buf), "%s", gws);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		struct in6_addr a6;
		struct in_addr a4;

		if (inet_pton(AF_INET, tok, &a4) == 1)
			rc = route_default_set(AF_INET, &a4, sizeof(a4), ifindex);
		else if (inet_pton(AF_INET6, tok, &a6) == 1)
			rc = route_default_set(AF_INET6, &a6, sizeof(a6), ifindex);
		else
			rc = -EINVAL;
		if (rc < 0) {
			PVLOG(WARN, MOD, "%s: cannot set the default route via %s: %s", ifname, tok,
			      strerror(-rc));
			ret = rc;
		} else {
			PVLOG(INFO, MOD, "%s: default route via %s", ifname, tok);
		}
	}
	return ret;
}

static int if_add_one(const char *ifname, const char *item)
{
	char addr[64], *slash;
	long prefix = -1;
	int ifindex;

	snprintf(addr, sizeof(addr), "%s", item);
	slash = strchr(addr, '/');
	if (!slash)
		return -ENOENT; /* no prefix: anti-spoofing only, the guest sets it (xl's ip=) */
	if (slash) {
		char *end;
		*slash = '\0';
		prefix = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1)
			return -EINVAL;
	}
	if (strchr(addr, ':')) {
		struct nf_in6_ifreq r6;
		memset(&r6, 0, sizeof(r6));
		if (inet_pton(AF_INET6, addr, &r6.addr) != 1 || prefix > 128)
			return -EINVAL;
		r6.prefixlen = prefix < 0 ? 64 : (uint32_t)prefix;
		r6.ifindex = (int)if_nametoindex(ifname);
		if (!r6.ifindex)
			return -ENODEV;
		return if_ioctl(AF_INET6, SIOCSIFADDR, &r6);
	}
	struct in_addr a4;
	if (inet_pton(AF_INET, addr, &a4) != 1 || prefix > 32)
		return -EINVAL;
	if (prefix < 0)
		prefix = 24;
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return -ENODEV;
	return if_addr4_add(ifindex, a4, (unsigned)prefix);
}

int nf_if_add_addrs(const char *ifname, const char *ips)
{
	char buf[1024], *save = NULL, *tok;
	int rc, ret = 0;

	snprintf(buf, sizeof(buf), "%s", ips);
	for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		rc = if_add_one(ifname, tok);
		if (rc == -ENOENT) {
			PVLOG(INFO, MOD,
			      "%s: %s has no prefix: allowed by anti-spoofing, not "
			      "configured",
			      ifname, tok);
			continue;
		}
		if (rc < 0 && rc != -EEXIST) {
			PVLOG(WARN, MOD, "%s: cannot add address %s: %s", ifname, tok,
			      strerror(-rc));
			ret = rc;
		}
	}
	return ret;
}
