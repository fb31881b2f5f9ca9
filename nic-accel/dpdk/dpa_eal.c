/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/dpa_eal.c - the EAL, once per process; vdev hot-plug; DPDK's
 * log captured so that a failed init or probe says what DPDK said.
 *
 * EAL arguments: --no-huge -m 256 unless huge pages are free and hugetlbfs is
 * mounted, --no-pci, --in-memory (huge pages) or --no-shconf (without: DPDK
 * refuses --in-memory with --no-huge): no files under /var/run/dpdk, a per-process
 * --file-prefix, --proc-type=primary, --no-telemetry, one lcore: the first CPU
 * the caller may run on. rte_eal_init pins the calling thread to that lcore;
 * the caller's affinity is restored afterwards. PVNET_DPDK_EAL_ARGS (space
 * separated) is appended, for experiments.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_version.h>

#include "dpa.h"

#define EAL_ARGS_MAX 32

static pthread_mutex_t eal_lock = PTHREAD_MUTEX_INITIALIZER;
static int eal_state; /* 0 not tried, 1 up, -errno: the init failed (for good) */
static char eal_fail[DPA_ERR_MAX];

/* DPDK log: captured into cap_buf during our calls, else to the sink device. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char cap_buf[DPA_ERR_MAX];
static size_t cap_len;
static int capturing;
static struct accel_dev *log_sink;
static FILE *log_stream;

static enum accel_log_level map_level(uint32_t rte)
{
	if (rte <= RTE_LOG_ERR)
		return ACCEL_LOG_ERR;
	if (rte <= RTE_LOG_WARNING)
		return ACCEL_LOG_WARN;
	if (rte <= RTE_LOG_NOTICE)
		return ACCEL_LOG_INFO;
	return ACCEL_LOG_DEBUG;
}

static ssize_t log_write(void *cookie, const char *buf, size_t size)
{
	char line[256];
	size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	int lvl = rte_log_cur_msg_loglevel();

	(void)cookie;
	memcpy(line, buf, n);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	line[n] = '\0';
	pthread_mutex_lock(&log_lock);
	/* capture warnings and errors: they are what explains a failure */
	if (capturing && lvl <= (int)RTE_LOG_WARNING && n) {
		size_t room = sizeof(cap_buf) - cap_len;
		int w = snprintf(cap_buf + cap_len, room, "%s%s", cap_len ? " | " : "", line);
		if (w > 0)
			cap_len += (size_t)w < room ? (size_t)w : room - 1;
	}
	if (log_sink && n)
		accel_sdk_log(log_sink, map_level((uint32_t)lvl), "dpdk: %s", line);
	pthread_mutex_unlock(&log_lock);
	return (ssize_t)size;
}

void dpa_capture_begin(void)
{
	pthread_mutex_lock(&log_lock);
	cap_len = 0;
	cap_buf[0] = '\0';
	capturing = 1;
	pthread_mutex_unlock(&log_lock);
}

/* Ends the capture; copies what DPDK said (or "nothing logged"). */
void dpa_capture_end(char *out, size_t size)
{
	pthread_mutex_lock(&log_lock);
	capturing = 0;
	snprintf(out, size, "%s", cap_len ? cap_buf : "(DPDK logged nothing)");
	pthread_mutex_unlock(&log_lock);
}

void dpa_log_sink_set(struct accel_dev *dev)
{
	pthread_mutex_lock(&log_lock);
	log_sink = dev;
	pthread_mutex_unlock(&log_lock);
}

void dpa_log_sink_clear(struct accel_dev *dev)
{
	pthread_mutex_lock(&log_lock);
	if (log_sink == dev)
		log_sink = NULL;
	pthread_mutex_unlock(&log_lock);
}

#define DEVARGS_EXPECTED                                                                           \
	"expected a DPDK vdev string with ';' or ',' between its parts, e.g. "                     \
	"net_af_packet0;iface=veth1 | net_tap0;iface=dtap0 | "                                     \
	"net_memif0;role=client;socket=/run/x.sock"

int dpa_devargs_parse(const char *in, char *out, size_t out_size, char *name, size_t name_size,
		      char *err, size_t errlen)
{
	size_t len, i, nlen;

	if (!in || !in[0]) {
		snprintf(err, errlen, "no devargs given; %s", DEVARGS_EXPECTED);
		return -EINVAL;
	}
	len = strlen(in);
	if (len >= out_size) {
		snprintf(err, errlen, "longer than %zu bytes", out_size - 1);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'') {
			snprintf(err, errlen, "bad character at offset %zu; %s", i,
				 DEVARGS_EXPECTED);
			return -EINVAL;
		}
		out[i] = c == ';' ? ',' : (char)c;
	}
	out[len] = '\0';
	nlen = strcspn(out, ",");
	if (nlen == 0 || nlen >= name_size || nlen >= RTE_DEV_NAME_MAX_LEN) {
		snprintf(err, errlen, "no device name before the first ';'; %s", DEVARGS_EXPECTED);
		return -EINVAL;
	}
	memcpy(name, out, nlen);
	name[nlen] = '\0';
	if (strncmp(name, "net_", 4) != 0) {
		snprintf(err, errlen, "'%s' is not a DPDK network vdev (net_*); %s", name,
			 DEVARGS_EXPECTED);
		return -EINVAL;
	}
	return 0;
}

/* 1 if huge pages are free and hugetlbfs is mounted. */
static int huge_pages_usable(void)
{
	char line[256];
	long free_pages = 0;
	int mounted = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &free_pages) == 1)
			break;
	fclose(f);
	if (free_pages <= 0)
		return 0;
	f = fopen("/proc/mounts", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " hugetlbfs "))
			mounted = 1;
	fclose(f);
	return mounted;
}

/* The EAL arguments: one lcore, no PCI, no files, plus PVNET_DPDK_EAL_ARGS; argc. */
static int eal_args(char **argv, char *lcore, char *prefix, int huge)
{
	static char extra[512];
	const char *env = getenv("PVNET_DPDK_EAL_ARGS");
	int argc = 0;

	argv[argc++] = (char *)"pvnet-dpdk";
	argv[argc++] = (char *)"-l";
	argv[argc++] = lcore;
	if (!huge)
		argv[argc++] = (char *)"--no-huge";
	argv[argc++] = (char *)"-m";
	argv[argc++] = (char *)"256";
	argv[argc++] = (char *)"--no-pci";
	/* no files under /var/run/dpdk: --in-memory needs huge pages (--no-huge is
	 * legacy memory), --no-shconf is its equivalent without them */
	argv[argc++] = huge ? (char *)"--in-memory" : (char *)"--no-shconf";
	argv[argc++] = (char *)"--file-prefix";
	argv[argc++] = prefix;
	argv[argc++] = (char *)"--proc-type=primary";
	argv[argc++] = (char *)"--no-telemetry";
	if (env) {
		snprintf(extra, sizeof(extra), "%s", env);
		for (char *save = NULL, *t = strtok_r(extra, " ", &save); t && argc < EAL_ARGS_MAX;
		     t = strtok_r(NULL, " ", &save))
			argv[argc++] = t;
	}
	argv[argc] = NULL;
	return argc;
}

/* This .so pinned in memory, and DPDK's log routed through log_write. */
static void eal_pin_and_log(struct accel_dev *dev)
{
	/* DPDK keeps our log stream (and its callbacks) for the process lifetime, and
	 * the EAL cannot start twice: this .so must never be unloaded from now on */
	Dl_info self;

	if (dladdr((void *)dpa_eal_up, &self) && self.dli_fname &&
	    !dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
		accel_sdk_log(dev, ACCEL_LOG_WARN, "dpdk: cannot pin %s: %s", self.dli_fname,
			      dlerror());
	if (!log_stream) {
		cookie_io_functions_t io = {.write = log_write};
		log_stream = fopencookie(NULL, "w", io);
		if (log_stream) {
			setvbuf(log_stream, NULL, _IOLBF, 0);
			rte_openlog_stream(log_stream);
		}
	}
}

static int eal_init_locked(struct accel_dev *dev, char *err, size_t errlen)
{
	char *argv[EAL_ARGS_MAX + 1];
	char lcore[16], prefix[48], said[DPA_ERR_MAX / 2];
	cpu_set_t saved;
	int argc, cpu = 0, huge, rc;

	CPU_ZERO(&saved);
	if (pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0) {
		for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved); cpu++)
			;
		if (cpu == CPU_SETSIZE)
			cpu = 0;
	}
	snprintf(lcore, sizeof(lcore), "%d", cpu);
	snprintf(prefix, sizeof(prefix), "pvnet-accel-%ld", (long)getpid());
	huge = huge_pages_usable();
	argc = eal_args(argv, lcore, prefix, huge);

	eal_pin_and_log(dev);
	dpa_capture_begin();
	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		rc = rte_errno ? -rte_errno : -EIO;
	else
		rc = 0;
	if (rc == -EALREADY) {
		/* the host program (or another plugin) initialised it: use it */
		dpa_capture_end(said, sizeof(said));
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
		accel_sdk_log(dev, ACCEL_LOG_INFO,
			      "dpdk: using the EAL already up in this process");
		return 0;
	}
	dpa_capture_end(said, sizeof(said));
	/* rte_eal_init pinned this thread to the main lcore: give it back */
	pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (rc) {
		snprintf(eal_fail, sizeof(eal_fail), "EAL init failed (%s): %s", strerror(-rc),
			 said);
		snprintf(err, errlen, "%s", eal_fail);
		return rc;
	}
	/* --no-shconf still makes an (empty) runtime directory: nothing will use it */
	if (!huge && rmdir(rte_eal_get_runtime_dir()) < 0 && errno != ENOENT)
		accel_sdk_log(dev, ACCEL_LOG_DEBUG, "dpdk: keeping %s: %s",
			      rte_eal_get_runtime_dir(), strerror(errno));
	accel_sdk_log(dev, ACCEL_LOG_INFO, "dpdk: EAL up (%s, lcore %d, %s)", rte_version(), cpu,
		      huge ? "huge pages" : "--no-huge -m 256");
	return 0;
}

int dpa_eal_up(struct accel_dev *dev, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&eal_lock);
	if (eal_state == 0) {
		rc = eal_init_locked(dev, err, errlen);
		eal_state = rc ? rc : 1;
	} else if (eal_state < 0) {
		rc = eal_state;
		snprintf(err, errlen, "%s (the EAL cannot be initialised twice in a process)",
			 eal_fail);
	}
	pthread_mutex_unlock(&eal_lock);
	return rc;
}

int dpa_vdev_probe(struct accel_dev *dev, char *err, size_t errlen)
{
	char said[DPA_ERR_MAX];
	uint16_t pid;
	int rc;

	pthread_mutex_lock(&eal_lock);
	if (rte_eth_dev_get_port_by_name(dev->name, &pid) == 0) {
		snprintf(err, errlen, "DPDK device %s is already open in this process", dev->name);
		rc = -EBUSY;
		goto out_unlock;
	}
	dpa_capture_begin();
	rc = rte_dev_probe(dev->devargs);
	dpa_capture_end(said, sizeof(said));
	if (rc < 0) {
		/* rte_dev_probe returns -1 or -errno: -1 would read as EPERM */
		if (rc == -1)
			rc = rte_errno > 0 && rte_errno != EPERM ? -rte_errno : -ENODEV;
		snprintf(err, errlen, "DPDK cannot probe '%s' (%s): %s; %s", dev->devargs,
			 strerror(-rc), said, DEVARGS_EXPECTED);
		goto out_unlock;
	}
	rc = rte_eth_dev_get_port_by_name(dev->name, &pid);
	if (rc) {
		snprintf(err, errlen, "DPDK probed '%s' but no ethdev port is named %s",
			 dev->devargs, dev->name);
		rc = -ENODEV;
		goto out_remove;
	}
	dev->port_id = pid;
	dev->probed = 1;
	pthread_mutex_unlock(&eal_lock);
	return 0;

out_remove:
	rte_eal_hotplug_remove("vdev", dev->name);
out_unlock:
	pthread_mutex_unlock(&eal_lock);
	return rc;
}

void dpa_vdev_remove(struct accel_dev *dev)
{
	if (!dev->probed)
		return;
	pthread_mutex_lock(&eal_lock);
	/* the port was closed by dpa_ethdev_teardown; remove the vdev itself so the
	 * same name can be probed again */
	if (rte_eal_hotplug_remove("vdev", dev->name) < 0)
		accel_sdk_log(dev, ACCEL_LOG_WARN, "dpdk: %s: vdev remove failed", dev->name);
	dev->probed = 0;
	pthread_mutex_unlock(&eal_lock);
}
