/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fp_cumulative_v1 / fp_cumulative_v2: cumulative (.replace = true) patches of one series.
 * Loading either replaces every livepatch enabled before it (fp_good, the other version, …).
 *   v1: /proc/cmdline ends with " fleetpatch-livepatch-cumulative-v1"
 *   v2: /proc/cmdline ends with " fleetpatch-livepatch-cumulative-v2" and, a second patched
 *       function, /proc/version ends with " fleetpatch-livepatch-cumulative-v2"
 * Define FP_CUMULATIVE_VERSION (1 or 2) before including this file.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include "fp_common.h"

#define FP_STR2(x) #x
#define FP_STR(x) FP_STR2(x)
#define FP_CUMULATIVE_MARKER FP_MARKER_PREFIX "cumulative-v" FP_STR(FP_CUMULATIVE_VERSION)

static char fp_cmdline[FP_TEXT_MAX];

static int fp_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s%s%s\n", fp_cmdline, fp_cmdline[0] ? " " : "", FP_CUMULATIVE_MARKER);
	return 0;
}

#if FP_CUMULATIVE_VERSION >= 2
static char fp_version[FP_TEXT_MAX];

static int fp_version_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s %s\n", fp_version, FP_CUMULATIVE_MARKER);
	return 0;
}
#endif

static struct klp_func fp_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = fp_cmdline_proc_show },
#if FP_CUMULATIVE_VERSION >= 2
	{ .old_name = "version_proc_show", .new_func = fp_version_proc_show },
#endif
	{}
};

static struct klp_object fp_objs[] = {
	{ .name = NULL, .funcs = fp_funcs },
	{}
};

static struct klp_patch fp_patch = {
	.mod = THIS_MODULE,
	.objs = fp_objs,
	.replace = true,
};

static int __init fp_init(void)
{
	int ret = fp_read_clean("/proc/cmdline", fp_cmdline, sizeof(fp_cmdline));

#if FP_CUMULATIVE_VERSION >= 2
	if (!ret)
		ret = fp_read_clean("/proc/version", fp_version, sizeof(fp_version));
#endif
	if (ret) {
		pr_err("cannot read /proc: %d\n", ret);
		return ret;
	}
	return klp_enable_patch(&fp_patch);
}

static void __exit fp_exit(void)
{
}

module_init(fp_init);
module_exit(fp_exit);
MODULE_DESCRIPTION("fleetpatch example cumulative livepatch, version " FP_STR(FP_CUMULATIVE_VERSION));
MODULE_INFO(livepatch, "Y");
