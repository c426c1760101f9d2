// SPDX-License-Identifier: GPL-2.0
/* fp_cumulative_v2: see fp_cumulative.h (adds a second patched function) */
#define FP_CUMULATIVE_VERSION 2
#include "fp_cumulative.h"
