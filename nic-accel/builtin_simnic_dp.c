/* SPDX-License-Identifier: MIT */
/*
 * nic-accel/builtin_simnic_dp.c - simnic's engine, built into libnic-accel
 * (see builtin_simnic_dev.c).
 */
#include "simnic/simnic_dp.c"
