// SPDX-License-Identifier: GPL-2.0
/*
 * fp_wrongbuild: fp_good's code, for the same release string, but claiming another vmlinux
 * build (fleetpatch_build_id 000…001). fleetpatch must refuse to load it on any real kernel.
 * Should it be forced in, /proc/cmdline ends with " fleetpatch-livepatch-wrongbuild".
 */
#define FP_BUILD_ID_OVERRIDE "0000000000000000000000000000000000000001"
#define FP_GOOD_MARKER FP_MARKER_PREFIX "wrongbuild"
#include "fp_good.c"
