/* SPDX-License-Identifier: MIT */
/* The driver runs pvnetd's HVM code unchanged until pvnetd itself calls it. */
#include "../pvnetd/hvm.c"
