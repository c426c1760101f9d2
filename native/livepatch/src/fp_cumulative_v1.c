// SPDX-License-Identifier: GPL-2.0
/* fp_cumulative_v1: see fp_cumulative.h */
#define FP_CUMULATIVE_VERSION 1
#include "fp_cumulative.h"
