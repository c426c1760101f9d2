/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by fleetpatch's example livepatch modules.
 *
 * Every module records the GNU build-id of the vmlinux it was built for as the modinfo field
 * fleetpatch_build_id (read it with `modinfo -F fleetpatch_build_id x.ko`, or from the .ko's
 * .modinfo section), so the on-host helper can refuse a module built for another kernel build
 * before loading it: the release string alone (6.1.0-N-amd64) does not identify a build.
 *
 * The patched /proc show functions print the original text plus a marker. The original text
 * comes from kernel data these modules cannot name (saved_command_line and linux_proc_banner
 * are not exported to modules), so a module reads the /proc file once in its init, before
 * enabling its patch, and drops every word starting with FP_MARKER_PREFIX from it: whatever
 * livepatch was in effect then, the result is the unpatched text.
 */
#ifndef FP_COMMON_H
#define FP_COMMON_H

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/string.h>

#ifdef FP_BUILD_ID_OVERRIDE
MODULE_INFO(fleetpatch_build_id, FP_BUILD_ID_OVERRIDE);
#else
#ifndef FP_BUILD_ID
#error "build with FP_BUILD_ID=<40 hex digits of the vmlinux GNU build-id> (native/livepatch/build.sh)"
#endif
MODULE_INFO(fleetpatch_build_id, FP_BUILD_ID);
#endif
MODULE_LICENSE("GPL");
MODULE_AUTHOR("fleetpatch");

#define FP_MARKER_PREFIX "fleetpatch-livepatch-"
#define FP_TEXT_MAX 4096

static inline int fp_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/*
 * Reads the text file @path (a /proc file) into @buf, NUL-terminated, without the words that
 * start with FP_MARKER_PREFIX (with the blanks before them) and without trailing blanks.
 */
static int __init __maybe_unused fp_read_clean(const char *path, char *buf, size_t size)
{
	struct file *f;
	loff_t pos = 0;
	size_t len = 0, i = 0, w = 0;
	ssize_t n = 0;

	f = filp_open(path, O_RDONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	while (len < size - 1 && (n = kernel_read(f, buf + len, size - 1 - len, &pos)) > 0)
		len += n;
	filp_close(f, NULL);
	if (n < 0)
		return n;
	buf[len] = 0;

	while (i < len) {
		size_t sep = i, word, end;

		while (i < len && fp_is_space(buf[i]))
			i++;
		word = i;
		while (i < len && !fp_is_space(buf[i]))
			i++;
		end = i;
		if (word == end)
			break;
		if (!strncmp(buf + word, FP_MARKER_PREFIX, sizeof(FP_MARKER_PREFIX) - 1))
			continue;
		if (w == 0)
			sep = word;
		memmove(buf + w, buf + sep, end - sep);
		w += end - sep;
	}
	buf[w] = 0;
	return 0;
}

#endif
