/* The two dpkg steps of every package apply, run by the helper without a shell: the install
 * (dpkg -i) and the verify (one dpkg-query of every package, read here). */
#include "helper.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs ARGV with dpkg's environment (C locale, noninteractive); its stdout, and stderr too when
 * `merge`, into *out (malloc'd, NUL-terminated, trailing newlines dropped). The exit status, or -1. */
static int capture(char *const argv[], bool merge, char **out) {
  int fds[2];
  *out = NULL;
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return close(fds[0]), close(fds[1]), -1;
  if (pid == 0) {
    setenv("DEBIAN_FRONTEND", "noninteractive", 1);
    setenv("LC_ALL", "C", 1);
    setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
    dup2(fds[1], 1);
    if (merge) dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execvp(argv[0], argv);
    fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0, cap = 65536;
  char *buf = malloc(cap);
  for (ssize_t n; buf;) {
    if (len + 1 >= cap) {
      char *b = realloc(buf, cap *= 2);
      if (!b) { free(buf); buf = NULL; break; }
      buf = b;
    }
    n = read(fds[0], buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!buf) return -1;
  while (len && buf[len - 1] == '\n') len--;
  buf[len] = 0;
  *out = buf;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The last n lines of s. */
static const char *tail_lines(const char *s, int n) {
  const char *p = s + strlen(s);
  while (p > s && n > 0) if (*--p == '\n' && --n == 0) return p + 1;
  return s;
}

int dpkg_install(char **debs, int n, char *why, size_t len) {
  char *argv[MAX_PKG_NAMES + 6] = {"dpkg", "--force-confdef", "--force-confold", "-i"};
  for (int i = 0; i < n; i++) argv[4 + i] = debs[i];
  argv[4 + n] = NULL;
  char *out;
  int rc = capture(argv, true, &out);
  if (rc == 0) return free(out), 0;
  if (!out) return reason(why, len, "cannot run dpkg -i: %s", strerror(errno));
  /* dpkg checks its lock before touching anything: then nothing changed */
  const char *lock = strstr(out, "lock");
  if (strstr(out, "locked by another process") || (lock && strstr(lock, "held by"))) {
    reason(why, len, "dpkg is locked by another process (apt, unattended-upgrades?): %s", tail_lines(out, 2));
    return free(out), 3;
  }
  reason(why, len, "dpkg -i failed: %s", tail_lines(out, 5));
  return free(out), 1;
}

/* dpkg's database holds NAME's EXT control file (NAME.EXT, or NAME:ARCH.EXT for Multi-Arch: same). */
static bool has_info(const char *name, const char *ext) {
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "/var/lib/dpkg/info/%s.%s", name, ext);
  if (stat(path, &st) == 0) return true;
  DIR *d = opendir("/var/lib/dpkg/info");
  if (!d) return false;
  size_t nl = strlen(name), el = strlen(ext);
  bool found = false;
  for (struct dirent *e; !found && (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    found = l > nl + el + 2 && strncmp(e->d_name, name, nl) == 0 && e->d_name[nl] == ':' && e->d_name[l - el - 1] == '.' && strcmp(e->d_name + l - el, ext) == 0;
  }
  closedir(d);
  return found;
}

/* One dpkg-query row: "SAB|NAME|VERSION|ARCH|", SAB being dpkg's three-letter status. */
typedef struct { const char *sab, *name, *version; } row_t;

static bool next_row(char **cursor, row_t *r) {
  while (**cursor) {
    char *line = *cursor, *end = strchrnul(line, '\n');
    *cursor = *end ? end + 1 : end;
    *end = 0;
    char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL, *bar3 = bar2 ? strchr(bar2 + 1, '|') : NULL;
    if (!bar3) continue;
    *bar1 = *bar2 = *bar3 = 0;
    r->sab = line, r->name = bar1 + 1, r->version = bar2 + 1;
    return true;
  }
  return false;
}

/* Every NAME=VERSION installed at that version (a held package counts) with its file list and
 * hashes in dpkg's database, and no package at all half-installed, unpacked, half-configured,
 * awaiting or pending triggers, or needing reinstallation: what `dpkg --audit` checks, for what
 * dpkg -i can have changed (the plan's full `dpkg --audit` found the host clean before anything
 * was touched). One dpkg-query for all. */
int dpkg_verify(char **want, int n, char *why, size_t len) {
  char *argv[] = {"dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Package}|${Version}|${Architecture}|\\n", NULL};
  char *out;
  int rc = capture(argv, false, &out);
  if (rc != 0) {
    reason(why, len, "dpkg-query failed (exit status %d)%s%s", rc, out && *out ? ": " : "", out ? tail_lines(out, 2) : "");
    return free(out), 1;
  }
  size_t lines = 1;
  for (const char *p = out; *p; p++) lines += *p == '\n';
  row_t *rows = malloc(sizeof(row_t) * lines);
  if (!rows) return free(out), reason(why, len, "out of memory");
  size_t nrows = 0;
  for (char *c = out; nrows < lines && next_row(&c, &rows[nrows]);) nrows++;
  char bad[600] = "";
  int nbad = 0;
  for (size_t i = 0; i < nrows; i++) {
    const char *s = rows[i].sab;
    if (strlen(s) < 3 || (!strchr("HUFWt", s[1]) && s[2] != 'R')) continue;
    if (nbad++ < 5) snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s|%s ", s, rows[i].name);
  }
  if (nbad) rc = reason(why, len, "packages left not fully installed or configured (as dpkg --audit would report): %s", bad);
  for (int k = 0; rc == 0 && k < n; k++) {
    char name[160], *eq = strchr(want[k], '=');
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - want[k]) : 0, want[k]);
    const char *version = eq ? eq + 1 : "";
    const row_t *ok = NULL, *seen = NULL;
    for (size_t i = 0; i < nrows && !ok; i++) {
      if (strcmp(rows[i].name, name) != 0) continue;
      seen = seen ? seen : &rows[i];
      if (strlen(rows[i].sab) == 3 && rows[i].sab[1] == 'i' && rows[i].sab[2] == ' ' && strcmp(rows[i].version, version) == 0) ok = &rows[i];
    }
    if (!ok && seen) rc = reason(why, len, "%s is not installed at %s after dpkg -i (dpkg: %s|%s)", name, version, seen->sab, seen->version);
    else if (!ok) rc = reason(why, len, "%s is not installed at %s after dpkg -i (dpkg: not known)", name, version);
    for (int e = 0; rc == 0 && e < 2; e++) {
      const char *ext = e ? "md5sums" : "list";
      if (!has_info(name, ext)) rc = reason(why, len, "dpkg's database has no %s file for %s after dpkg -i (dpkg --audit: it needs to be reinstalled)", ext, name);
    }
  }
  free(rows);
  free(out);
  return rc;
}

int cmd_pkg_verify(json_t *j, int argc, char **argv) {
  char why[1024];
  for (int i = 2; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (eq) *eq = 0;
    bool good = eq && valid_token(argv[i]) && valid_token(eq + 1) && i - 2 < MAX_PKG_NAMES;
    if (eq) *eq = '=';
    if (!good) return fail(j, "usage", "usage: pkg-verify NAME=VERSION...");
  }
  if (dpkg_verify(argv + 2, argc - 2, why, sizeof why) != 0) return fail(j, "verify-failed", why);
  json_begin_line(j);
  json_str(j, "type", "verified");
  json_int(j, "packages", argc - 2);
  json_end_line(j);
  return result_outcome(j, "verified");
}
