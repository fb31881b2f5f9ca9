/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/builtin_simnic_dev.c - compiles simnic's control path into
 * libnic-accel so simnic is also a built-in plugin (registered by
 * accel_register_builtins). The same source builds simnic.so (plugins.mk); the
 * Makefile only compiles nic-accel/ top-level .c files into the library, hence this include.
 * simnic's SDK (nic-accel/sdk/) comes in once, through builtin_sdk.c.
 */
#include "simnic/simnic_dev.c"
