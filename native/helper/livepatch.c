/* The kernel's livepatch sysfs interface, read and driven the way kpatch does it:
 * done = enabled 1 and transition 0; disable = write 0 to enabled, done when the directory
 * vanishes; then delete_module. `force` is never written. */
#include "helper.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

bool lp_exists(const char *patch) {
  char path[512];
  snprintf(path, sizeof path, LIVEPATCH_SYSFS "/%s", patch);
  return access(path, F_OK) == 0;
}

long lp_value(const char *patch, const char *file) {
  char path[512];
  snprintf(path, sizeof path, LIVEPATCH_SYSFS "/%s/%s", patch, file);
  return read_long(path, -1);
}

/* Every object of the patch whose code is loaded (vmlinux, or a module present in /sys/module)
 * must read patched = 1. A patch none of whose objects is loaded (a fix for a module this host
 * does not run) is in effect as far as it can be: the kernel patches each module as it loads.
 * `note` then says so. */
bool lp_objects_patched(const char *patch, char *why, size_t why_len, char *note, size_t note_len) {
  char path[512];
  snprintf(path, sizeof path, LIVEPATCH_SYSFS "/%s", patch);
  DIR *d = opendir(path);
  if (!d) {
    snprintf(why, why_len, "%s is missing", path);
    return false;
  }
  bool ok = true;
  int objects = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char file[1024], mod[600];
    snprintf(file, sizeof file, "%s/%s/patched", path, e->d_name);
    if (e->d_name[0] == '.' || access(file, F_OK) != 0) continue;
    snprintf(mod, sizeof mod, "/sys/module/%s", e->d_name);
    if (strcmp(e->d_name, "vmlinux") != 0 && access(mod, F_OK) != 0) continue;
    objects++;
    if (read_long(file, -1) != 1) {
      snprintf(why, why_len, "%s reads %ld, expected 1", file, read_long(file, -1));
      ok = false;
      break;
    }
  }
  closedir(d);
  if (ok) snprintf(note, note_len, "%s", objects ? "every loaded object patched=1" : "no object of the patch is loaded: the kernel patches each module as it loads");
  return ok;
}

bool lp_any_transition(char *which, size_t len) {
  DIR *d = opendir(LIVEPATCH_SYSFS);
  struct dirent *e;
  bool found = false;
  while (d && !found && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (lp_value(e->d_name, "transition") == 1) {
      snprintf(which, len, "%s", e->d_name);
      found = true;
    }
  }
  if (d) closedir(d);
  return found;
}

/* Tasks whose /proc/<pid>/task/<tid>/patch_state is not yet `target` (1 while patching, 0 while
 * unpatching): the ones blocking a transition. */
void lp_blocking_tasks(json_t *j, const char *key, int target, char *summary, size_t summary_len) {
  size_t used = 0;
  if (summary_len) summary[0] = 0;
  json_open(j, key, '[');
  DIR *proc = opendir("/proc");
  struct dirent *p;
  int listed = 0;
  while (proc && listed < 50 && (p = readdir(proc))) {
    if (p->d_name[0] < '0' || p->d_name[0] > '9') continue;
    char tasks[300];
    snprintf(tasks, sizeof tasks, "/proc/%s/task", p->d_name);
    DIR *td = opendir(tasks);
    struct dirent *t;
    while (td && listed < 50 && (t = readdir(td))) {
      if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
      char path[700];
      snprintf(path, sizeof path, "%s/%s/patch_state", tasks, t->d_name);
      long state = read_long(path, -1);
      if (state == -1 || state == target) continue;
      snprintf(path, sizeof path, "%s/%s/comm", tasks, t->d_name);
      char *comm = read_small_file(path, 64);
      snprintf(path, sizeof path, "%s/%s/stack", tasks, t->d_name);
      char *stack = read_small_file(path, 2048);
      if (used + 1 < summary_len) {
        int n = snprintf(summary + used, summary_len - used, "%spid %s (%s)", used ? ", " : "", t->d_name, comm ? comm : "?");
        if (n > 0) used += (size_t)n < summary_len - used ? (size_t)n : summary_len - used - 1;
      }
      json_open(j, NULL, '{');
      json_int(j, "pid", atol(t->d_name));
      json_str(j, "comm", comm ? comm : "?");
      json_str(j, "stack", stack);
      json_close(j, '}');
      free(comm);
      free(stack);
      listed++;
    }
    if (td) closedir(td);
  }
  if (proc) closedir(proc);
  json_close(j, ']');
}

static bool module_loaded(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "/sys/module/%s", name);
  return access(path, F_OK) == 0;
}

/* Disable the patch (reversing it if it is mid-transition), wait for its sysfs directory to
 * vanish, unload the module and verify it is gone. 0 on success, else a failed result line. */
int lp_disable_and_unload(json_t *j, const char *patch, long timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  if (lp_exists(patch) && lp_value(patch, "enabled") == 1) {
    char path[512];
    snprintf(path, sizeof path, LIVEPATCH_SYSFS "/%s/enabled", patch);
    int err = write_string(path, "0");
    if (err && err != EINVAL) return failf(j, "rollback-failed", "writing 0 to %s failed: %s", path, strerror(err));
    step(j, "disable", "ok", patch);
  }
  while (lp_exists(patch) && now_ms() < deadline) sleep_ms(50);
  if (lp_exists(patch)) {
    json_begin_line(j);
    json_str(j, "type", "result");
    json_bool(j, "ok", false);
    char msg[600];
    char tasks[300];
    lp_blocking_tasks(j, "blocking", 0, tasks, sizeof tasks);
    snprintf(msg, sizeof msg, "livepatch %s is still in transition after %ld s of disabling; blocking: %s. Nothing more is done automatically (force is never written)", patch, timeout_ms / 1000, tasks[0] ? tasks : "no task found");
    json_open(j, "error", '{');
    json_str(j, "code", "rollback-failed");
    json_str(j, "message", msg);
    json_close(j, '}');
    json_end_line(j);
    return 1;
  }
  while (module_loaded(patch)) {
    if (syscall(SYS_delete_module, patch, O_NONBLOCK) == 0) break;
    if ((errno != EAGAIN && errno != EBUSY && errno != EWOULDBLOCK) || now_ms() >= deadline) {
      return failf(j, "rollback-failed", "unloading module %s failed: %s", patch, strerror(errno));
    }
    sleep_ms(50);
  }
  if (module_loaded(patch) || lp_exists(patch)) return failf(j, "rollback-failed", "module %s is still present after unloading", patch);
  step(j, "unload", "ok", patch);
  return 0;
}
