/* apply / rollback / reconcile of a livepatch module, under the host lock, journaled.
 * apply: preflight → journal intent → finit_module (EBUSY retried) → transition (reversed after
 * the timeout) → objects patched → wait on stdin for the controller's verdict ("commit" after
 * its checks passed, "rollback" otherwise; end of input = the controller is gone = rollback). */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>


/* The value of KEY in a module's .modinfo strings ("key=value\0"), or NULL. */
static char *modinfo(const char *buf, size_t len, const char *key) {
  size_t klen = strlen(key);
  for (size_t i = 0; i + klen + 1 < len; i++) {
    if ((i == 0 || buf[i - 1] == 0) && memcmp(buf + i, key, klen) == 0 && buf[i + klen] == '=') {
      const char *v = buf + i + klen + 1;
      size_t vlen = strnlen(v, len - (size_t)(v - buf));
      return strndup(v, vlen);
    }
  }
  return NULL;
}

static bool has_signature(const char *buf, size_t len) {
  static const char marker[] = "~Module signature appended~\n";
  return len > sizeof marker && memcmp(buf + len - (sizeof marker - 1), marker, sizeof marker - 1) == 0;
}

static char *read_fd(int fd, size_t *len) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) return NULL;
  char *buf = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  ssize_t n;
  while (buf && got < (size_t)st.st_size && (n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got)) > 0) got += (size_t)n;
  *len = got;
  return buf;
}

/* Everything that must hold on the host, whatever the controller believes. */
static int preflight(json_t *j, const char *patch, const char *buf, size_t len) {
  struct utsname u;
  uname(&u);
  if (access(LIVEPATCH_SYSFS, F_OK) != 0) return fail(j, "preflight", "this kernel has no livepatch support (" LIVEPATCH_SYSFS " is missing)");
  char *name = modinfo(buf, len, "name"), *lp = modinfo(buf, len, "livepatch"), *vermagic = modinfo(buf, len, "vermagic");
  char *want = modinfo(buf, len, "fleetpatch_build_id"), *have = kernel_build_id();
  char *sig = read_small_file("/sys/module/module/parameters/sig_enforce", 16);
  char *lockdown = read_small_file("/sys/kernel/security/lockdown", 256);
  int rc = 0;
  size_t rlen = strlen(u.release);
  if (!name || strcmp(name, patch) != 0) rc = failf(j, "preflight", "the module's name is %s, not the bundle's patch name %s", name ? name : "(none)", patch);
  else if (!lp || strcmp(lp, "Y") != 0) rc = failf(j, "preflight", "module %s is not a livepatch module (modinfo livepatch=Y missing)", patch);
  else if (!vermagic || strncmp(vermagic, u.release, rlen) != 0 || (vermagic[rlen] != ' ' && vermagic[rlen] != 0))
    rc = failf(j, "preflight", "module vermagic \"%s\" does not match the running kernel %s", vermagic ? vermagic : "(none)", u.release);
  else if (!have) rc = fail(j, "preflight", "cannot read the running kernel's build-id from /sys/kernel/notes");
  else if (!want || strcmp(want, have) != 0)
    rc = failf(j, "preflight", "module %s was built for kernel build-id %s but this host runs build-id %s (%s %s): a reboot into a kernel the bundle covers is needed", patch, want ? want : "(none)", have, u.release, u.version);
  else if (sig && sig[0] == 'Y' && !has_signature(buf, len))
    rc = fail(j, "preflight", "module signature enforcement is on (sig_enforce=Y) and the module is unsigned; sign it with a key this host trusts");
  else if (lockdown && !strstr(lockdown, "[none]") && !has_signature(buf, len))
    rc = failf(j, "preflight", "the kernel is locked down (%s) and the module is unsigned; sign it with a key this host trusts", lockdown);
  char busy[256];
  if (rc == 0 && lp_any_transition(busy, sizeof busy)) rc = failf(j, "host-busy", "livepatch %s is in transition; try again when it has finished", busy);
  free(name); free(lp); free(vermagic); free(want); free(have); free(sig); free(lockdown);
  if (rc == 0) step(j, "preflight", "ok", "build-id, vermagic, sysfs, signature policy");
  return rc;
}

/* Rolls back every journaled operation that was interrupted (intent, loaded, rollback-intent). */
int reconcile_stale(json_t *j, long timeout_ms) {
  journal_entry *all;
  int n = journal_latest(&all), rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    if (journal_state_terminal(all[i].state)) continue;
    json_begin_line(j);
    json_str(j, "type", "reconcile");
    json_str(j, "op", all[i].op);
    json_str(j, "from", all[i].state);
    json_str(j, "patch", all[i].patch);
    json_end_line(j);
    if (strcmp(all[i].patch, "packages") == 0) {
      rc = pkg_reconcile(j, &all[i]);
      continue;
    }
    if (lp_disable_and_unload(j, all[i].patch, timeout_ms) != 0) {
      journal_append(j, all[i].op, "rollback-failed", all[i].bundle, all[i].serial, all[i].patch, all[i].sha);
      rc = 1;
    } else {
      rc = journal_append(j, all[i].op, "rolled-back", all[i].bundle, all[i].serial, all[i].patch, all[i].sha);
    }
  }
  free(all);
  return rc;
}

struct op_args {
  const char *op, *bundle, *patch, *module;
  long long serial;
  long timeout_ms;
};

static int parse_op_args(json_t *j, int argc, char **argv, struct op_args *a, bool need_module) {
  a->op = arg_value(argc, argv, "--op");
  a->bundle = arg_value(argc, argv, "--bundle");
  a->patch = arg_value(argc, argv, "--patch");
  a->module = arg_value(argc, argv, "--module");
  const char *serial = arg_value(argc, argv, "--serial"), *timeout = arg_value(argc, argv, "--timeout");
  a->serial = serial ? atoll(serial) : 0;
  a->timeout_ms = (timeout ? atol(timeout) : 30) * 1000L;
  if (!valid_token(a->op) || !valid_token(a->bundle) || !valid_token(a->patch) || a->serial < 0 || a->timeout_ms <= 0 || (need_module && !a->module))
    return fail(j, "usage", "usage: apply|rollback --op ID --bundle ID --serial N --patch NAME [--module PATH] [--timeout S] [--replace]");
  return 0;
}

static const char *sha_of(const char *module) {
  const char *slash = module ? strrchr(module, '/') : NULL;
  return slash ? slash + 1 : "-";
}

/* Waits for every other enabled patch to be gone after an atomic replace, then unloads them. */
static void unload_replaced(json_t *j, const char *patch, long timeout_ms) {
  journal_entry *all;
  int n = journal_latest(&all);
  for (int i = 0; i < n; i++) {
    if (strcmp(all[i].state, "committed") != 0 || strcmp(all[i].patch, patch) == 0) continue;
    if (lp_disable_and_unload(j, all[i].patch, timeout_ms) == 0) journal_append(j, all[i].op, "replaced", all[i].bundle, all[i].serial, all[i].patch, all[i].sha);
  }
  free(all);
}

int cmd_apply(json_t *j, int argc, char **argv) {
  struct op_args a;
  bool check = arg_flag(argc, argv, "--check"); /* preflight only: no lock, no journal, nothing changed */
  if (parse_op_args(j, argc, argv, &a, true) || (!check && (!take_host_lock(j) || reconcile_stale(j, a.timeout_ms)))) return 1;
  int fd = open(a.module, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return failf(j, "helper-failed", "cannot open module %s: %s", a.module, strerror(errno));
  size_t len = 0;
  char *buf = read_fd(fd, &len);
  if (!buf) return failf(j, "helper-failed", "%s is not a regular file of at most 64 MiB", a.module);
  if (lp_exists(a.patch)) {
    if (lp_value(a.patch, "enabled") == 1 && lp_value(a.patch, "transition") == 0) {
      step(j, "preflight", "ok", "the same patch is already enabled");
      return result_outcome(j, "already-applied");
    }
    return failf(j, "host-busy", "livepatch %s is present but not settled (enabled=%ld transition=%ld)", a.patch, lp_value(a.patch, "enabled"), lp_value(a.patch, "transition"));
  }
  if (preflight(j, a.patch, buf, len)) return 1;
  free(buf);
  if (check) return result_outcome(j, "check-ok");
  if (journal_append(j, a.op, "intent", a.bundle, a.serial, a.patch, sha_of(a.module))) return 1;

  long long deadline = now_ms() + a.timeout_ms;
  int tries = 0;
  while (syscall(SYS_finit_module, fd, "", 0) != 0) {
    int err = errno;
    if (err == EBUSY && now_ms() < deadline) {
      tries++;
      sleep_ms(200);
      continue;
    }
    journal_append(j, a.op, "load-failed", a.bundle, a.serial, a.patch, sha_of(a.module));
    return failf(j, err == EBUSY ? "host-busy" : "helper-failed", "loading module %s failed: %s%s; nothing was changed", a.patch, strerror(err),
                 err == EBUSY ? " (another livepatch transition kept the kernel busy)" : "");
  }
  close(fd);
  char detail[64];
  snprintf(detail, sizeof detail, "finit_module after %d EBUSY retries", tries);
  step(j, "load", "ok", detail);
  if (journal_append(j, a.op, "loaded", a.bundle, a.serial, a.patch, sha_of(a.module))) return 1;

  long long started = now_ms();
  deadline = started + a.timeout_ms;
  while (!(lp_value(a.patch, "enabled") == 1 && lp_value(a.patch, "transition") == 0) && now_ms() < deadline) sleep_ms(50);
  if (lp_value(a.patch, "transition") != 0 || lp_value(a.patch, "enabled") != 1) {
    json_begin_line(j);
    json_str(j, "type", "step");
    json_str(j, "step", "transition");
    json_str(j, "status", "failed");
    json_str(j, "detail", "not finished in time: reversing");
    char blocking[400];
    lp_blocking_tasks(j, "blocking", 1, blocking, sizeof blocking);
    json_end_line(j);
    if (lp_disable_and_unload(j, a.patch, a.timeout_ms) != 0) {
      journal_append(j, a.op, "rollback-failed", a.bundle, a.serial, a.patch, sha_of(a.module));
      return 1;
    }
    journal_append(j, a.op, "reverted", a.bundle, a.serial, a.patch, sha_of(a.module));
    return failf(j, "transition-timeout", "the livepatch transition of %s did not finish within %ld s; blocking: %s; it was reversed and unloaded: the host is unpatched",
                 a.patch, a.timeout_ms / 1000, blocking[0] ? blocking : "no task found");
  }
  snprintf(detail, sizeof detail, "%lld ms", now_ms() - started);
  step(j, "transition", "ok", detail);
  char why[700], note[120];
  if (!lp_objects_patched(a.patch, why, sizeof why, note, sizeof note)) {
    step(j, "verify", "failed", why);
    if (lp_disable_and_unload(j, a.patch, a.timeout_ms) != 0) return journal_append(j, a.op, "rollback-failed", a.bundle, a.serial, a.patch, sha_of(a.module)), 1;
    journal_append(j, a.op, "rolled-back", a.bundle, a.serial, a.patch, sha_of(a.module));
    return failf(j, "verify-failed", "%s; the patch was rolled back", why);
  }
  char verified[160];
  snprintf(verified, sizeof verified, "enabled=1 transition=0, %s", note);
  step(j, "verify", "ok", verified);
  if (arg_flag(argc, argv, "--replace")) unload_replaced(j, a.patch, a.timeout_ms);

  char verdict[32];
  await_verdict(j, verdict, sizeof verdict);
  if (strncmp(verdict, "commit", 6) == 0) {
    if (journal_append(j, a.op, "committed", a.bundle, a.serial, a.patch, sha_of(a.module))) return 1;
    step(j, "commit", "ok", "journaled");
    return result_outcome(j, "applied");
  }
  step(j, "rollback", "running", verdict[0] ? "the controller asked for it" : "no verdict from the controller (gone?)");
  if (journal_append(j, a.op, "rollback-intent", a.bundle, a.serial, a.patch, sha_of(a.module))) return 1;
  if (lp_disable_and_unload(j, a.patch, a.timeout_ms) != 0) {
    journal_append(j, a.op, "rollback-failed", a.bundle, a.serial, a.patch, sha_of(a.module));
    return 1;
  }
  journal_append(j, a.op, "rolled-back", a.bundle, a.serial, a.patch, sha_of(a.module));
  return result_outcome(j, "rolled-back");
}

/* Operations that had committed this patch no longer hold: record that they were rolled back. */
static void mark_rolled_back(json_t *j, const char *patch) {
  journal_entry *all;
  int n = journal_latest(&all);
  for (int i = 0; i < n; i++)
    if (strcmp(all[i].patch, patch) == 0 && strcmp(all[i].state, "committed") == 0) journal_append(j, all[i].op, "rolled-back", all[i].bundle, all[i].serial, all[i].patch, all[i].sha);
  free(all);
}

int cmd_rollback(json_t *j, int argc, char **argv) {
  struct op_args a;
  if (parse_op_args(j, argc, argv, &a, false) || !take_host_lock(j) || reconcile_stale(j, a.timeout_ms)) return 1;
  if (!lp_exists(a.patch) && access("/sys/module", F_OK) == 0) {
    char path[512];
    snprintf(path, sizeof path, "/sys/module/%s", a.patch);
    if (access(path, F_OK) != 0) {
      step(j, "rollback", "ok", "the patch is not loaded");
      return result_outcome(j, "not-applied");
    }
  }
  if (journal_append(j, a.op, "rollback-intent", a.bundle, a.serial, a.patch, "-")) return 1;
  if (lp_disable_and_unload(j, a.patch, a.timeout_ms) != 0) {
    journal_append(j, a.op, "rollback-failed", a.bundle, a.serial, a.patch, "-");
    return 1;
  }
  journal_append(j, a.op, "rolled-back", a.bundle, a.serial, a.patch, "-");
  mark_rolled_back(j, a.patch);
  return result_outcome(j, "rolled-back");
}

int cmd_reconcile(json_t *j, int argc, char **argv) {
  const char *timeout = arg_value(argc, argv, "--timeout");
  if (!take_host_lock(j) || reconcile_stale(j, (timeout ? atol(timeout) : 30) * 1000L)) return 1;
  return result_outcome(j, "reconciled");
}
