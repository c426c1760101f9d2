// SPDX-License-Identifier: GPL-2.0
/*
 * fp_stall: patches fp_stall_target_wait() in the module fp_stall_target (load that first).
 * Its kthread never leaves that function, so the transition never finishes:
 * /sys/kernel/livepatch/fp_stall/transition stays 1 and the kthread's
 * /proc/<pid>/patch_state stays 0 while every other task reads 1. The kernel never times a
 * transition out; reverse it by writing 0 to /sys/kernel/livepatch/fp_stall/enabled (the
 * reversal finishes at once, as the stuck task is already in the unpatched state), wait for the
 * directory to vanish, then rmmod fp_stall.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/sched.h>
#include "fp_common.h"

static unsigned long rounds;
module_param(rounds, ulong, 0444);
MODULE_PARM_DESC(rounds, "times a task woke up inside the patched fp_stall_target_wait()");

/* The replacement: the same loop, counting here (only a task that enters it anew runs it). */
static int fp_stall_target_wait(void)
{
	while (!kthread_should_stop()) {
		schedule_timeout_interruptible(HZ / 10);
		WRITE_ONCE(rounds, rounds + 1);
	}
	return 0;
}

static struct klp_func fp_funcs[] = {
	{ .old_name = "fp_stall_target_wait", .new_func = fp_stall_target_wait },
	{}
};

static struct klp_object fp_objs[] = {
	{ .name = "fp_stall_target", .funcs = fp_funcs },
	{}
};

static struct klp_patch fp_patch = {
	.mod = THIS_MODULE,
	.objs = fp_objs,
};

static int __init fp_init(void)
{
	return klp_enable_patch(&fp_patch);
}

static void __exit fp_exit(void)
{
}

module_init(fp_init);
module_exit(fp_exit);
MODULE_DESCRIPTION("fleetpatch example livepatch whose transition never finishes");
MODULE_INFO(livepatch, "Y");
