/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/builtin_sdk.c - the plugin SDK (nic-accel/sdk/, pvnet/accel_sdk.h)
 * compiled once into libnic-accel for the built-in simnic (builtin_simnic_*.c).
 * Plugin .so files get their own, hidden copy from plugins.mk; the Makefile only
 * compiles nic-accel/ top-level .c files into the library, hence this include.
 */
#include "sdk/sdk_ops.c"
#include "sdk/sdk_dp.c"
