/* Package bundles: pkg-query, pkg-apply, pkg-rollback. The save and the restore are pkg.sh
 * (compiled in), the query, install and verify dpkg.c; this file holds the lock, the journal and the order of steps:
 * intent → save previous state (and a .deb to restore it) → installing → installed → verify →
 * wait for the controller's verdict → committed, or restore → rolled-back. */
#include "helper.h"
#include "build/pkg_sh.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_DEBS MAX_PKG_NAMES
#define PKG_PATCH "packages"

/* Runs pkg.sh SUB ARGS, passing its JSON lines through; on failure copies its message to `why`. */
int run_pkg(const char *sub, char **args, int nargs, char *why, size_t why_len) {
  int fds[2];
  if (pipe(fds) != 0) return snprintf(why, why_len, "pipe: %s", strerror(errno)), 1;
  pid_t pid = fork();
  if (pid == 0) {
    char *argv[MAX_DEBS * 2 + 8];
    int k = 0;
    argv[k++] = "sh";
    argv[k++] = "-c";
    argv[k++] = (char *)PKG_SH;
    argv[k++] = "fleetpatch-pkg";
    argv[k++] = (char *)sub;
    for (int i = 0; i < nargs; i++) argv[k++] = args[i];
    argv[k] = NULL;
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv("/bin/sh", argv);
    _exit(127);
  }
  close(fds[1]);
  FILE *in = fdopen(fds[0], "r");
  char line[8192];
  if (why_len) why[0] = 0;
  while (in && fgets(line, sizeof line, in)) {
    fputs(line, stdout);
    fflush(stdout);
    const char *m = strstr(line, "\"type\":\"pkg-error\",\"message\":\"");
    if (m) {
      m += strlen("\"type\":\"pkg-error\",\"message\":\"");
      size_t n = strcspn(m, "\n");
      if (n > 1) n -= 2; /* drop the closing "} */
      snprintf(why, why_len, "%.*s", (int)n, m);
    }
  }
  if (in) fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  if (rc != 0 && why_len && !why[0]) snprintf(why, why_len, "pkg.sh %s exited with status %d", sub, rc);
  return rc;
}

static void ops_dir(char *buf, size_t len) { snprintf(buf, len, "%s/ops", state_dir()); }
static void op_dir(char *buf, size_t len, const char *op) { snprintf(buf, len, "%s/ops/%s", state_dir(), op); }

static void remove_op_dir(const char *op) {
  char dir[4300];
  op_dir(dir, sizeof dir, op);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
    _exit(127);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
}

/* The operation's directory (and ops/ above it), made before the save writes into it. A new ops/
 * has its entry synced here (the journal syncs the state directory only when it creates the
 * journal); the op directory's entry is synced by save_durable. */
static int make_op_dir(const char *dir, char *why, size_t why_len) {
  char ops[4300];
  ops_dir(ops, sizeof ops);
  bool made = mkdir(ops, 0700) == 0;
  if ((!made && errno != EEXIST) || (mkdir(dir, 0700) != 0 && errno != EEXIST))
    return reason(why, why_len, "cannot create %s: %s", dir, strerror(errno));
  if (made && sync_dir(state_dir()) != 0) return reason(why, why_len, "cannot sync %s: %s", state_dir(), strerror(errno));
  return 0;
}

/* Makes what the save wrote durable before dpkg runs: every file in DIR, then prev.list.tmp
 * renamed to prev.list, the directory and ops/ synced (without prev.list, a restore changes nothing). */
static int save_durable(const char *dir, char *why, size_t why_len) {
  DIR *d = opendir(dir);
  if (!d) return reason(why, why_len, "cannot open %s: %s", dir, strerror(errno));
  int dfd = dirfd(d), rc = 0;
  for (struct dirent *e; rc == 0 && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) rc = reason(why, why_len, "cannot sync %s/%s: %s", dir, e->d_name, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (rc == 0 && (renameat(dfd, "prev.list.tmp", dfd, "prev.list") != 0 || fsync(dfd) != 0))
    rc = reason(why, why_len, "cannot record %s/prev.list: %s", dir, strerror(errno));
  closedir(d);
  /* and the directory's own entry in ops/ */
  char ops[4300];
  ops_dir(ops, sizeof ops);
  if (rc == 0 && sync_dir(ops) != 0) rc = reason(why, why_len, "cannot sync %s: %s", ops, strerror(errno));
  return rc;
}

/* Restores the state saved for `op`; 0 when the host is back to it. */
int pkg_restore(const char *op, char *why, size_t why_len) {
  char dir[4300];
  op_dir(dir, sizeof dir, op);
  char *args[] = {dir};
  return run_pkg("restore", args, 1, why, why_len);
}

/* Finishes an interrupted package operation: back to the state saved before it. */
int pkg_reconcile(json_t *j, const journal_entry *e) {
  char why[1024];
  /* a rollback of a committed op names that op in its sha field */
  const char *target = strcmp(e->state, "rollback-intent") == 0 && strcmp(e->sha, "-") != 0 ? e->sha : e->op;
  if (pkg_restore(target, why, sizeof why) != 0) {
    journal_append(j, e->op, "rollback-failed", e->bundle, e->serial, PKG_PATCH, e->sha);
    return fail(j, "rollback-failed", why);
  }
  if (target != e->op) journal_append(j, target, "rolled-back", e->bundle, e->serial, PKG_PATCH, "-");
  journal_append(j, e->op, "rolled-back", e->bundle, e->serial, PKG_PATCH, e->sha);
  remove_op_dir(target);
  return 0;
}

/* dpkg's database as it stands: the status file's identity, or "" while a change is in flight
 * (updates/ holds entries) or the file cannot be read. dpkg ends every change by writing a new
 * status file and renaming it into place, so an unchanged string means unchanged packages. */
void dpkg_db_state(char *buf, size_t len) {
  struct stat st;
  buf[0] = 0;
  if (stat("/var/lib/dpkg/status", &st) != 0) return;
  DIR *d = opendir("/var/lib/dpkg/updates");
  if (!d) return;
  bool busy = false;
  for (struct dirent *e; (e = readdir(d));) busy |= e->d_name[0] != '.';
  closedir(d);
  if (busy) return;
  snprintf(buf, len, "%llx-%llx-%llx-%lld.%09ld-%lld.%09ld", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

int cmd_pkg_query(json_t *j, int argc, char **argv) {
  char why[1024];
  for (int i = 2; i < argc; i++)
    if (!valid_token(argv[i])) return fail(j, "usage", "usage: pkg-query NAME...");
  if (pkg_query(j, argv + 2, argc - 2, why, sizeof why) != 0) return fail(j, "helper-failed", why);
  return result_outcome(j, "queried");
}

/* Undo an apply that got past `intent`, journaling the result; returns the failed result line. */
static int undo(json_t *j, const char *op, const char *bundle, long long serial, const char *code, const char *what) {
  char why[1024], msg[2400];
  journal_append(j, op, "rollback-intent", bundle, serial, PKG_PATCH, "-");
  if (pkg_restore(op, why, sizeof why) != 0) {
    journal_append(j, op, "rollback-failed", bundle, serial, PKG_PATCH, "-");
    snprintf(msg, sizeof msg, "%s; restoring the previous packages also failed: %s", what, why);
    return fail(j, "rollback-failed", msg);
  }
  journal_append(j, op, "rolled-back", bundle, serial, PKG_PATCH, "-");
  remove_op_dir(op);
  snprintf(msg, sizeof msg, "%s; the previous packages were restored", what);
  return fail(j, code, msg);
}

int cmd_pkg_apply(json_t *j, int argc, char **argv) {
  const char *op = arg_value(argc, argv, "--op"), *bundle = arg_value(argc, argv, "--bundle"), *serial_s = arg_value(argc, argv, "--serial");
  /* --db-state S and --known NAME=VERSION|NAME=- (absent): what the facts query saw and the
   * database state it saw it in; the save below trusts them only if dpkg's database is still in
   * that state under the host lock, and asks dpkg again otherwise */
  const char *db_state = arg_value(argc, argv, "--db-state");
  char *names[MAX_DEBS], *want[MAX_DEBS], *debs[MAX_DEBS], *save[MAX_DEBS], *known[MAX_DEBS];
  int n = 0, nknown = 0;
  for (int i = 2; i + 1 < argc && nknown < MAX_DEBS; i++) {
    if (strcmp(argv[i], "--known") != 0) continue;
    char *k = argv[++i], *eq = strchr(k, '=');
    if (!eq || eq == k || !valid_token(eq + 1)) return fail(j, "usage", "pkg-apply: --known NAME=VERSION or NAME=-");
    known[nknown++] = k;
  }
  for (int i = 2; i + 1 < argc && n < MAX_DEBS; i++) {
    if (strcmp(argv[i], "--deb") != 0) continue;
    /* NAME=VERSION=PATH[=PREVIOUS_DEB] */
    char *spec = strdup(argv[++i]), *name = strtok(spec, "="), *version = strtok(NULL, "="), *path = strtok(NULL, "="), *prev = strtok(NULL, "=");
    if (!valid_token(name) || !valid_token(version) || !path || strncmp(path, state_dir(), strlen(state_dir())) != 0 || (prev && strncmp(prev, state_dir(), strlen(state_dir())) != 0))
      return fail(j, "usage", "pkg-apply: --deb NAME=VERSION=PATH[=PREVIOUS] with paths under the state directory");
    names[n] = name;
    debs[n] = path;
    want[n] = malloc(strlen(name) + strlen(version) + 2);
    sprintf(want[n], "%s=%s", name, version);
    /* pkg_save's NAME=[PREVIOUS_DEB][=KNOWN_VERSION]; the known version is added below */
    save[n] = malloc(strlen(name) + (prev ? strlen(prev) : 0) + 2);
    sprintf(save[n], "%s=%s", name, prev ? prev : "");
    n++;
  }
  if (!valid_token(op) || !valid_token(bundle) || !serial_s || n == 0) return fail(j, "usage", "usage: pkg-apply --op ID --bundle ID --serial N --deb NAME=VERSION=PATH[=PREVIOUS]... [--db-state S --known NAME=VERSION|NAME=-...]");
  long long serial = atoll(serial_s);
  if (!take_host_lock(j) || reconcile_stale(j, 30000)) return 1;

  char now[160];
  dpkg_db_state(now, sizeof now);
  bool unchanged = db_state && now[0] && strcmp(db_state, now) == 0;
  for (int i = 0; unchanged && i < n; i++) {
    const char *v = NULL;
    for (int k = 0; k < nknown; k++)
      if (strncmp(known[k], names[i], strlen(names[i])) == 0 && known[k][strlen(names[i])] == '=') v = known[k] + strlen(names[i]) + 1;
    if (!v) { unchanged = false; break; }
    char *s = malloc(strlen(save[i]) + strlen(v) + 2);
    sprintf(s, "%s=%s", save[i], v);
    save[i] = s;
  }
  if (!unchanged) /* back to NAME=PREVIOUS_DEB: pkg.sh asks dpkg */
    for (int i = 0; i < n; i++) *strchrnul(strchr(save[i], '=') + 1, '=') = 0;

  char dir[4300], why[1024];
  op_dir(dir, sizeof dir, op);
  if (journal_append(j, op, "intent", bundle, serial, PKG_PATCH, "-")) return 1;
  if (make_op_dir(dir, why, sizeof why) != 0 || pkg_save(j, dir, save, n, why, sizeof why) != 0 || save_durable(dir, why, sizeof why) != 0) {
    journal_append(j, op, "save-failed", bundle, serial, PKG_PATCH, "-");
    remove_op_dir(op);
    return fail(j, "preflight", why);
  }
  step(j, "save", "ok", unchanged ? "previous versions recorded (dpkg's database unchanged since the facts query, which read them), each with a .deb to restore it" : "previous versions recorded (queried from dpkg), each with a .deb to restore it");
  if (journal_append(j, op, "installing", bundle, serial, PKG_PATCH, "-")) return undo(j, op, bundle, serial, "helper-failed", "cannot journal");
  int rc = dpkg_install(debs, n, why, sizeof why);
  if (rc == 3) { /* dpkg's lock was held: dpkg changed nothing */
    journal_append(j, op, "lock-failed", bundle, serial, PKG_PATCH, "-");
    remove_op_dir(op);
    char msg[1200];
    snprintf(msg, sizeof msg, "%s; nothing was changed", why);
    return fail(j, "host-busy", msg);
  }
  if (rc != 0) return undo(j, op, bundle, serial, "helper-failed", why);
  step(j, "install", "ok", "dpkg -i (conffiles: --force-confdef --force-confold)");
  if (journal_append(j, op, "installed", bundle, serial, PKG_PATCH, "-")) return undo(j, op, bundle, serial, "helper-failed", "cannot journal");
  if (dpkg_verify(want, n, why, sizeof why) != 0) return undo(j, op, bundle, serial, "verify-failed", why);
  step(j, "verify", "ok", "dpkg-query: every package installed at its version with its file list and hashes; no package half-installed or half-configured");
  pkg_holders(j, names, n);

  char verdict[32];
  await_verdict(j, verdict, sizeof verdict);
  if (strncmp(verdict, "commit", 6) == 0) {
    if (journal_append(j, op, "committed", bundle, serial, PKG_PATCH, "-")) return 1;
    step(j, "commit", "ok", "journaled; the previous packages are kept for a later rollback");
    return result_outcome(j, "applied");
  }
  step(j, "rollback", "running", verdict[0] ? "the controller asked for it" : "no verdict from the controller (gone?)");
  journal_append(j, op, "rollback-intent", bundle, serial, PKG_PATCH, "-");
  if (pkg_restore(op, why, sizeof why) != 0) {
    journal_append(j, op, "rollback-failed", bundle, serial, PKG_PATCH, "-");
    return fail(j, "rollback-failed", why);
  }
  journal_append(j, op, "rolled-back", bundle, serial, PKG_PATCH, "-");
  remove_op_dir(op);
  return result_outcome(j, "rolled-back");
}

int cmd_pkg_rollback(json_t *j, int argc, char **argv) {
  const char *op = arg_value(argc, argv, "--op"), *bundle = arg_value(argc, argv, "--bundle"), *serial_s = arg_value(argc, argv, "--serial");
  if (!valid_token(op) || !valid_token(bundle) || !serial_s) return fail(j, "usage", "usage: pkg-rollback --op ID --bundle ID --serial N");
  long long serial = atoll(serial_s);
  if (!take_host_lock(j) || reconcile_stale(j, 30000)) return 1;
  journal_entry *all;
  int n = journal_latest(&all);
  const journal_entry *target = NULL;
  for (int i = 0; i < n; i++)
    if (strcmp(all[i].patch, PKG_PATCH) == 0 && strcmp(all[i].bundle, bundle) == 0 && strcmp(all[i].state, "committed") == 0) target = &all[i];
  if (!target) {
    free(all);
    step(j, "rollback", "ok", "this bundle is not applied here");
    return result_outcome(j, "not-applied");
  }
  char why[1024], target_op[129];
  snprintf(target_op, sizeof target_op, "%s", target->op);
  long long target_serial = target->serial;
  free(all);
  /* the new op's sha field names the op being undone, so reconcile can finish it */
  if (journal_append(j, op, "rollback-intent", bundle, serial, PKG_PATCH, target_op)) return 1;
  if (pkg_restore(target_op, why, sizeof why) != 0) {
    journal_append(j, op, "rollback-failed", bundle, serial, PKG_PATCH, target_op);
    return fail(j, "rollback-failed", why);
  }
  journal_append(j, target_op, "rolled-back", bundle, target_serial, PKG_PATCH, "-");
  journal_append(j, op, "rolled-back", bundle, serial, PKG_PATCH, target_op);
  remove_op_dir(target_op);
  return result_outcome(j, "rolled-back");
}
