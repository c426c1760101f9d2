// SPDX-License-Identifier: GPL-2.0
/*
 * fp_good: /proc/cmdline ends with " fleetpatch-livepatch-good" while the patch is enabled.
 * Patches cmdline_proc_show (fs/proc/cmdline.c) in vmlinux.
 * Check: grep -o fleetpatch-livepatch-good /proc/cmdline  → "fleetpatch-livepatch-good\n", exit 0.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include "fp_common.h"

#ifndef FP_GOOD_MARKER
#define FP_GOOD_MARKER FP_MARKER_PREFIX "good"
#endif

static char fp_cmdline[FP_TEXT_MAX];

static int fp_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s%s%s\n", fp_cmdline, fp_cmdline[0] ? " " : "", FP_GOOD_MARKER);
	return 0;
}

static struct klp_func fp_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = fp_cmdline_proc_show },
	{}
};

static struct klp_object fp_objs[] = {
	{ .name = NULL /* vmlinux */, .funcs = fp_funcs },
	{}
};

static struct klp_patch fp_patch = {
	.mod = THIS_MODULE,
	.objs = fp_objs,
};

static int __init fp_init(void)
{
	int ret = fp_read_clean("/proc/cmdline", fp_cmdline, sizeof(fp_cmdline));

	if (ret) {
		pr_err("cannot read /proc/cmdline: %d\n", ret);
		return ret;
	}
	return klp_enable_patch(&fp_patch);
}

static void __exit fp_exit(void)
{
}

module_init(fp_init);
module_exit(fp_exit);
MODULE_DESCRIPTION("fleetpatch example livepatch: marks /proc/cmdline");
MODULE_INFO(livepatch, "Y");
