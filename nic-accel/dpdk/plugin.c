/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/dpdk/plugin.c - the one exported symbol of dpdk.so (built with
 * -fvisibility=hidden, so this is its only dynamic symbol).
 */
#include "dpa.h"

__attribute__((visibility("default"))) const struct accel_ops *pvnet_accel_entry(void);

const struct accel_ops *pvnet_accel_entry(void)
{
	return dpa_accel_ops();
}
