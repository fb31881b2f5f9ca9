/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/simnic/plugin.c - the one exported symbol of simnic.so. Only in the
 * shared object: the built-in registers simnic_accel_ops() directly. The .so is
 * built with -fvisibility=hidden, so this is its only dynamic symbol.
 */
#include "simnic.h"

__attribute__((visibility("default"))) const struct accel_ops *pvnet_accel_entry(void);

const struct accel_ops *pvnet_accel_entry(void)
{
	return simnic_accel_ops();
}
