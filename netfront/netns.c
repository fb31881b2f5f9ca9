/* SPDX-License-Identifier: MIT */
/*
 * The guest's network stack: its namespace (made as `ip netns add` makes one),
 * the TAP device that stands for the PV NIC, and interface configuration by
 * ioctl (MAC, MTU, IPv4/IPv6 addresses, link up).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
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

#include <pvnet/log.h>

#include "nf_private.h"

#define NETNS_RUN_DIR "/run/netns"

static bool netns_name_ok(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") &&
	       strlen(name) < 200;
}

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

	if (!netns_name_ok(name))
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
			PVLOG(ERR, MOD, "network namespace '%s' already exists (%s); remove it "
			      "(ip netns del %s) or set netns= in the domain config", name, path, name);
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

int nf_netns_remove(const char *name)
{
	char path[256];
	int rc = 0;

	if (!netns_name_ok(name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
		rc = -errno;
	if (unlink(path) < 0 && !rc)
		rc = -errno;
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

static int if_add_one(const char *ifname, const char *item)
{
	char addr[64], *slash;
	long prefix = -1;
	struct ifreq ifr;
	int rc;

	snprintf(addr, sizeof(addr), "%s", item);
	slash = strchr(addr, '/');
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
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1 || prefix > 32)
		return -EINVAL;
	rc = if_ioctl(AF_INET, SIOCSIFADDR, &ifr);
	if (rc < 0)
		return rc;
	if (prefix < 0)
		prefix = 24;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
	return if_ioctl(AF_INET, SIOCSIFNETMASK, &ifr);
}

int nf_if_add_addrs(const char *ifname, const char *ips)
{
	char buf[1024], *save = NULL, *tok;
	int rc, ret = 0;

	snprintf(buf, sizeof(buf), "%s", ips);
	for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		rc = if_add_one(ifname, tok);
		if (rc < 0 && rc != -EEXIST) {
			PVLOG(WARN, MOD, "%s: cannot add address %s: %s", ifname, tok, strerror(-rc));
			ret = rc;
		}
	}
	return ret;
}
