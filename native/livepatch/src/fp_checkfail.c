// SPDX-License-Identifier: GPL-2.0
/*
 * fp_checkfail: loads and finishes its transition cleanly, but breaks what its check validates.
 * Patches version_proc_show (fs/proc/version.c): /proc/version becomes
 * "fleetpatch-livepatch-checkfail Linux version …", so it no longer starts with "Linux version ".
 * Check: grep -c "^Linux version " /proc/version → expected "1\n", exit 0; with this patch the
 * output is "0\n", exit 1 (the check fails, the patch must be rolled back).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include "fp_common.h"

static char fp_version[FP_TEXT_MAX];

static int fp_version_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s %s\n", FP_MARKER_PREFIX "checkfail", fp_version);
	return 0;
}

static struct klp_func fp_funcs[] = {
	{ .old_name = "version_proc_show", .new_func = fp_version_proc_show },
	{}
};

static struct klp_object fp_objs[] = {
	{ .name = NULL, .funcs = fp_funcs },
	{}
};

static struct klp_patch fp_patch = {
	.mod = THIS_MODULE,
	.objs = fp_objs,
};

static int __init fp_init(void)
{
	int ret = fp_read_clean("/proc/version", fp_version, sizeof(fp_version));

	if (ret) {
		pr_err("cannot read /proc/version: %d\n", ret);
		return ret;
	}
	return klp_enable_patch(&fp_patch);
}

static void __exit fp_exit(void)
{
}

module_init(fp_init);
module_exit(fp_exit);
MODULE_DESCRIPTION("fleetpatch example livepatch whose check fails: breaks /proc/version");
MODULE_INFO(livepatch, "Y");
