// SPDX-License-Identifier: GPL-2.0
/*
 * fp_stall_target: an ordinary module (not a livepatch) whose kthread "fp_stall_target" spends
 * its whole life inside fp_stall_target_wait(), sleeping 100 ms at a time in a loop. fp_stall
 * patches that function: a task is only switched to a patch when no function the patch
 * replaces is on its stack, so that transition can never finish for this kthread.
 * Load it before fp_stall; unload it after fp_stall is gone.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>
#include "fp_common.h"

static struct task_struct *fp_thread;
static unsigned long rounds;
module_param(rounds, ulong, 0444);
MODULE_PARM_DESC(rounds, "times the kthread woke up inside fp_stall_target_wait()");

/* Not static, never inlined nor cloned: fp_stall finds it by this name in kallsyms. */
noinline __noclone int fp_stall_target_wait(void);
noinline __noclone int fp_stall_target_wait(void)
{
	while (!kthread_should_stop()) {
		schedule_timeout_interruptible(HZ / 10);
		WRITE_ONCE(rounds, rounds + 1);
	}
	return 0;
}

static int fp_stall_target_thread(void *data)
{
	int ret = fp_stall_target_wait();

	/* keeps the call above from becoming a tail call, so this frame stays too */
	pr_info("kthread stops (%d)\n", ret);
	return ret;
}

static int __init fp_init(void)
{
	fp_thread = kthread_run(fp_stall_target_thread, NULL, "fp_stall_target");
	return PTR_ERR_OR_ZERO(fp_thread);
}

static void __exit fp_exit(void)
{
	kthread_stop(fp_thread);
}

module_init(fp_init);
module_exit(fp_exit);
MODULE_DESCRIPTION("fleetpatch example: a kthread that never leaves the function fp_stall patches");
