/* SPDX-License-Identifier: MIT */
/* The registry of bridges by name (struct vsw_switch), for the daemon and CLI. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vsw_private.h"

struct vsw_switch {
	pthread_mutex_t lock;
	struct vsw_bridge *head, *tail; /* creation order */
	struct vsw_worker *uplink;      /* started on first use */
	uint32_t mac_limit;             /* default per-port MAC limit of new bridges; 0: built-in */
};

int vsw_switch_create(struct vsw_switch **out)
{
	struct vsw_switch *sw;
	int rc = -ENOMEM;

	*out = NULL;
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		goto fail;
	rc = -pthread_mutex_init(&sw->lock, NULL);
	if (rc)
		goto fail_sw;
	*out = sw;
	return 0;

fail_sw:
	free(sw);
fail:
	return rc;
}

void vsw_switch_destroy(struct vsw_switch *sw)
{
	struct vsw_bridge *br, *next;

	if (!sw)
		return;
	for (br = sw->head; br; br = next) {
		next = br->next;
		vsw_destroy(br);
	}
	/* after the bridges: their uplink ports unregister from it in destroy */
	vsw_worker_destroy(sw->uplink);
	pthread_mutex_destroy(&sw->lock);
	free(sw);
}

static struct vsw_bridge *find_locked(struct vsw_switch *sw, const char *name)
{
	struct vsw_bridge *br;

	for (br = sw->head; br; br = br->next)
		if (!strcmp(br->name, name))
			break;
	return br;
}

int vsw_bridge_get_or_create(struct vsw_switch *sw, const char *name, struct vsw_bridge **out)
{
	struct vsw_bridge *br;
	int rc = 0;

	*out = NULL;
	if (!name)
		return -EINVAL;
	pthread_mutex_lock(&sw->lock);
	br = find_locked(sw, name);
	if (!br) {
		rc = vsw_create(name, NULL, &br);
		if (!rc && sw->mac_limit)
			(void)vsw_bridge_set_mac_limit(br, sw->mac_limit);
		if (!rc) {
			if (sw->tail)
				sw->tail->next = br;
			else
				sw->head = br;
			sw->tail = br;
		}
	}
	pthread_mutex_unlock(&sw->lock);
	*out = br;
	return rc;
}

int vsw_switch_set_mac_limit(struct vsw_switch *sw, uint32_t max)
{
	struct vsw_bridge *br;
	int rc = 0;

	if (!sw || max == 0 || max > VSW_FDB_MAX_ENTRIES)
		return -EINVAL;
	pthread_mutex_lock(&sw->lock);
	sw->mac_limit = max;
	for (br = sw->head; br && !rc; br = br->next)
		rc = vsw_bridge_set_mac_limit(br, max);
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

int vsw_bridge_find(struct vsw_switch *sw, const char *name, struct vsw_bridge **out)
{
	pthread_mutex_lock(&sw->lock);
	*out = name ? find_locked(sw, name) : NULL;
	pthread_mutex_unlock(&sw->lock);
	return *out ? 0 : -ENOENT;
}

int vsw_bridge_del(struct vsw_switch *sw, const char *name)
{
	struct vsw_bridge *br, *prev = NULL;

	pthread_mutex_lock(&sw->lock);
	for (br = sw->head; br && strcmp(br->name, name); br = br->next)
		prev = br;
	if (br) {
		if (prev)
			prev->next = br->next;
		else
			sw->head = br->next;
		if (sw->tail == br)
			sw->tail = prev;
	}
	pthread_mutex_unlock(&sw->lock);
	if (!br)
		return -ENOENT;
	vsw_destroy(br);
	return 0;
}

int vsw_switch_foreach(struct vsw_switch *sw, int (*cb)(struct vsw_bridge *br, void *arg),
		       void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&sw->lock);
	for (struct vsw_bridge *br = sw->head; br && !rc; br = br->next)
		rc = cb(br, arg);
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

int vsw_switch_uplink_worker(struct vsw_switch *sw, struct vsw_worker **out)
{
	int rc = 0;

	pthread_mutex_lock(&sw->lock);
	if (!sw->uplink)
		rc = vsw_worker_create("vsw-uplink", &sw->uplink);
	*out = sw->uplink;
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

int vsw_switch_port_find(struct vsw_switch *sw, const char *port_name, struct vsw_bridge **br_out,
			 struct vsw_port **port_out)
{
	int rc = -ENOENT;

	*br_out = NULL;
	*port_out = NULL;
	if (!port_name)
		return -ENOENT;
	pthread_mutex_lock(&sw->lock);
	for (struct vsw_bridge *br = sw->head; br; br = br->next) {
		if (vsw_port_find(br, port_name, port_out) == 0) {
			*br_out = br;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sw->lock);
	return rc;
}
