/* The dpkg work on the hot path, run by the helper without a shell: the plan's query, and the
 * save of the previous state, the install (dpkg -i) and the verify (one dpkg-query of every
 * package, read here) of every apply. Rebuilding a .deb from installed files and the restore
 * are pkg.sh's. */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs ARGV with dpkg's environment (C locale, noninteractive); its stdout, and stderr too when
 * `merge` (else stderr is discarded), into *out (malloc'd, NUL-terminated, trailing newlines
 * dropped). The exit status, or -1. */
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
    int null = merge ? -1 : open("/dev/null", O_WRONLY);
    dup2(merge ? fds[1] : null, 2);
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

/* dpkg's database holds NAME's EXT control file: NAME.EXT, or NAME:ARCH.EXT for Multi-Arch: same
 * (where dpkg's pkg_infodb_get_file looks). */
static bool has_info(const char *name, const char *arch, const char *ext) {
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "/var/lib/dpkg/info/%s.%s", name, ext);
  if (stat(path, &st) == 0) return true;
  snprintf(path, sizeof path, "/var/lib/dpkg/info/%s:%s.%s", name, arch, ext);
  return *arch && stat(path, &st) == 0;
}

/* The names in /var/lib/dpkg/info, sorted: one readdir for the audit's two lookups per package
 * (a stat each costs more, through an overlay above all). */
typedef struct { char **names; size_t n; } info_dir_t;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool read_info_dir(info_dir_t *d) {
  DIR *dir = opendir("/var/lib/dpkg/info");
  size_t cap = 0;
  d->names = NULL, d->n = 0;
  if (!dir) return false;
  bool ok = true;
  for (struct dirent *e; ok && (e = readdir(dir));) {
    if (d->n == cap) {
      char **more = realloc(d->names, sizeof(char *) * (cap = cap ? cap * 2 : 1024));
      if (!more) { ok = false; break; }
      d->names = more;
    }
    ok = (d->names[d->n] = strdup(e->d_name)) != NULL;
    d->n += ok;
  }
  closedir(dir);
  qsort(d->names, d->n, sizeof(char *), by_name);
  return ok;
}

static void free_info_dir(info_dir_t *d) {
  for (size_t i = 0; i < d->n; i++) free(d->names[i]);
  free(d->names);
}

/* As has_info, in the names D holds. */
static bool info_listed(const info_dir_t *d, const char *name, const char *arch, const char *ext) {
  char file[512], *key = file;
  snprintf(file, sizeof file, "%s.%s", name, ext);
  if (bsearch(&key, d->names, d->n, sizeof(char *), by_name)) return true;
  snprintf(file, sizeof file, "%s:%s.%s", name, arch, ext);
  return *arch && bsearch(&key, d->names, d->n, sizeof(char *), by_name);
}

/* One dpkg-query row: "SAB|NAME|VERSION|ARCH|", SAB being dpkg's three-letter status (desired
 * state, state, error flag). */
#define ROW_FORMAT "-f=${db:Status-Abbrev}|${Package}|${Version}|${Architecture}|\\n"
typedef struct { const char *sab, *name, *version, *arch; } row_t;

static bool next_row(char **cursor, row_t *r) {
  while (**cursor) {
    char *line = *cursor, *end = strchrnul(line, '\n');
    *cursor = *end ? end + 1 : end;
    *end = 0;
    char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL, *bar3 = bar2 ? strchr(bar2 + 1, '|') : NULL;
    if (!bar3) continue;
    *bar1 = *bar2 = *bar3 = 0;
    r->sab = line, r->name = bar1 + 1, r->version = bar2 + 1, r->arch = bar3 + 1;
    char *bar4 = strchr(bar3 + 1, '|');
    if (bar4) *bar4 = 0;
    return true;
  }
  return false;
}

/* dpkg-query's rows, pointing into out (which they cut up); NULL when out of memory. */
static row_t *read_rows(char *out, size_t *n) {
  size_t lines = 1;
  for (const char *p = out; *p; p++) lines += *p == '\n';
  row_t *rows = malloc(sizeof(row_t) * lines);
  *n = 0;
  for (char *c = out; rows && *n < lines && next_row(&c, &rows[*n]);) ++*n;
  return rows;
}

/* Installed, at any desired state (a held package counts), with no error flag. */
static bool row_installed(const row_t *r) {
  return strlen(r->sab) == 3 && r->sab[1] == 'i' && r->sab[2] == ' ';
}

static const row_t *find_installed(const row_t *rows, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++) if (row_installed(&rows[i]) && strcmp(rows[i].name, name) == 0) return &rows[i];
  return NULL;
}

/* The apt cache holds NAME at VERSION for ARCH (epoch colon as %3a), as dpkg-deb reads it; its
 * path into path when it does. */
static bool apt_cached(const char *name, const char *version, const char *arch, char *path, size_t len) {
  char v[256];
  size_t k = 0;
  for (const char *p = version; *p && k + 4 < sizeof v; p++) k += (size_t)snprintf(v + k, sizeof v - k, *p == ':' ? "%%3a" : "%c", *p);
  v[k] = 0;
  snprintf(path, len, "/var/cache/apt/archives/%s_%s_%s.deb", name, v, arch);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  char *argv[] = {"dpkg-deb", "-f", path, "Version", NULL}, *out;
  bool same = capture(argv, false, &out) == 0 && strcmp(out, version) == 0;
  free(out);
  return same;
}

/* dpkg --verify finds no installed file of NAME changed or missing (changed conffiles are fine),
 * so a copy can be rebuilt from them. */
static bool repackable(const char *name) {
  char *argv[] = {"dpkg", "--verify", (char *)name, NULL}, *out;
  capture(argv, true, &out);
  bool clean = out != NULL;
  for (char *line = out; clean && line && *line;) {
    char *end = strchrnul(line, '\n');
    char keep = *end;
    *end = 0;
    clean = strstr(line, " c /") != NULL;
    *end = keep;
    line = keep ? end + 1 : end;
  }
  free(out);
  return clean;
}

/* TEXT (may be NULL) has WORD as one of its lines. */
static bool line_in(const char *text, const char *word) {
  size_t l = strlen(word);
  for (const char *p = text; l && p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, word, l) == 0 && (p[l] == '\n' || p[l] == 0)) return true;
  return false;
}

/* What `dpkg --audit` reports (dpkg's enquiry.c), checked on the rows of a dpkg-query of every
 * package, which reads dpkg's status and its pending updates as dpkg --audit does: a package
 * needing reinstallation, or half-installed, unpacked, half-configured, awaiting or pending
 * triggers; one at least half-installed without its list or md5sums file, or with no
 * architecture, an illegal one or a foreign one dpkg does not know. True only when every row is
 * not installed or config-files, or installed with both files and an architecture that is all,
 * NATIVE or one of /var/lib/dpkg/arch: anything else (an unreadable info directory too) is for
 * dpkg --audit itself to judge. */
static bool audit_clean(const row_t *rows, size_t n, const char *native) {
  char *foreign = read_small_file("/var/lib/dpkg/arch", 65536);
  info_dir_t info;
  bool clean = read_info_dir(&info);
  for (size_t i = 0; clean && i < n; i++) {
    const row_t *r = &rows[i];
    if (strlen(r->sab) != 3 || r->sab[2] != ' ') clean = false;
    else if (r->sab[1] == 'n' || r->sab[1] == 'c') continue;
    else if (r->sab[1] != 'i') clean = false;
    else if (strcmp(r->arch, "all") != 0 && strcmp(r->arch, native) != 0 && !line_in(foreign, r->arch)) clean = false;
    else clean = info_listed(&info, r->name, r->arch, "list") && info_listed(&info, r->name, r->arch, "md5sums");
  }
  free_info_dir(&info);
  free(foreign);
  return clean;
}

int pkg_query(json_t *j, char **names, int n, char *why, size_t len) {
  char state[160];
  dpkg_db_state(state, sizeof state);
  if (state[0]) {
    json_begin_line(j);
    json_str(j, "type", "dpkg-db");
    json_str(j, "state", state);
    json_end_line(j);
  }
  /* one dpkg-query of every package dpkg knows: the named ones, dpkg itself (dpkg's native
   * architecture is its own package's) and what the audit below checks */
  char *argv[] = {"dpkg-query", "-W", ROW_FORMAT, "*", NULL}, *out;
  if (capture(argv, false, &out) < 0 || !out) return reason(why, len, "cannot run dpkg-query: %s", strerror(errno));
  size_t nrows;
  row_t *rows = read_rows(out, &nrows);
  if (!rows) return free(out), reason(why, len, "out of memory");
  for (int i = 0; i < n; i++) {
    const row_t *r = find_installed(rows, nrows, names[i]);
    json_begin_line(j);
    json_str(j, "type", "package");
    json_str(j, "name", names[i]);
    json_str(j, "installed", r ? r->version : NULL);
    char cached[1024];
    json_bool(j, "aptCache", r && apt_cached(names[i], r->version, r->arch, cached, sizeof cached));
    json_bool(j, "repackable", r && repackable(names[i]));
    json_end_line(j);
  }
  const row_t *self = find_installed(rows, nrows, "dpkg");
  char *arch = self ? strdup(self->arch) : NULL;
  if (!arch) {
    char *pa[] = {"dpkg", "--print-architecture", NULL};
    capture(pa, false, &arch);
  }
  /* dpkg --audit runs, for its own words, only when the rows show something it would report or
   * something this does not know */
  bool clean = arch && audit_clean(rows, nrows, arch);
  char *audit_argv[] = {"dpkg", "--audit", NULL}, *audit = NULL;
  if (!clean) capture(audit_argv, true, &audit);
  if (audit && strlen(audit) > 500) audit[500] = 0;
  json_begin_line(j);
  json_str(j, "type", "dpkg");
  json_str(j, "arch", arch ? arch : "");
  json_str(j, "audit", audit ? audit : "");
  json_str(j, "auditBy", clean ? "scan" : "dpkg");
  json_end_line(j);
  free(rows);
  free(out);
  free(arch);
  free(audit);
  return 0;
}

/* Every NAME=VERSION installed at that version (a held package counts) with its file list and
 * hashes in dpkg's database, and no package at all half-installed, unpacked, half-configured,
 * awaiting or pending triggers, or needing reinstallation: what `dpkg --audit` checks, for what
 * dpkg -i can have changed (the plan's full `dpkg --audit` found the host clean before anything
 * was touched). One dpkg-query for all. */
int dpkg_verify(char **want, int n, char *why, size_t len) {
  char *argv[] = {"dpkg-query", "-W", ROW_FORMAT, NULL};
  char *out;
  int rc = capture(argv, true, &out);
  if (rc != 0) {
    reason(why, len, "dpkg-query failed (exit status %d)%s%s", rc, out && *out ? ": " : "", out ? tail_lines(out, 2) : "");
    return free(out), 1;
  }
  size_t nrows;
  row_t *rows = read_rows(out, &nrows);
  if (!rows) return free(out), reason(why, len, "out of memory");
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
      if (!has_info(name, ok->arch, ext)) rc = reason(why, len, "dpkg's database has no %s file for %s after dpkg -i (dpkg --audit: it needs to be reinstalled)", ext, name);
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

/* dpkg-deb's Package and Version fields of a .deb into pkg and ver; false when unreadable. */
static bool deb_fields(const char *deb, char *pkg, char *ver, size_t len) {
  char *argv[] = {"dpkg-deb", "-f", (char *)deb, "Package", "Version", NULL}, *out;
  pkg[0] = ver[0] = 0;
  if (capture(argv, false, &out) != 0) return free(out), false;
  for (char *line = out, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    if (strncmp(line, "Package: ", 9) == 0) snprintf(pkg, len, "%s", line + 9);
    if (strncmp(line, "Version: ", 9) == 0) snprintf(ver, len, "%s", line + 9);
  }
  free(out);
  return pkg[0] && ver[0];
}

/* A copy of SRC at DST (mode 0600), whole or not at all; 0, or errno. */
static int copy_file(const char *src, const char *dst) {
  int in = open(src, O_RDONLY | O_CLOEXEC), out = in < 0 ? -1 : open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  int err = in < 0 || out < 0 ? errno : 0;
  static char buf[65536];
  for (ssize_t n; !err && (n = read(in, buf, sizeof buf)) != 0;) {
    if (n < 0) err = errno;
    else if (write(out, buf, (size_t)n) != n) err = errno ? errno : ENOSPC;
  }
  if (out >= 0 && close(out) != 0 && !err) err = errno;
  if (in >= 0) close(in);
  if (err) unlink(dst);
  return err;
}

/* The previous state of every package into DIR (made by the caller, made durable after): a line
 * "NAME VERSION SOURCE" or "NAME absent -" per package in DIR/prev.list.tmp, and DIR/NAME.deb
 * to restore each installed one, from the bundle's previous .deb, else the apt cache, else
 * rebuilt from the installed files (pkg.sh repack). Each SPEC is NAME=[PREVIOUS_DEB][=KNOWN]:
 * KNOWN (a version, or - for absent) is given only when dpkg's database is unchanged since the
 * facts query read it; else one dpkg-query asks here. */
int pkg_save(json_t *j, const char *dir, char **specs, int n, char *why, size_t len) {
  char *names[MAX_PKG_NAMES], *given[MAX_PKG_NAMES], *known[MAX_PKG_NAMES];
  for (int i = 0; i < n && i < MAX_PKG_NAMES; i++) {
    names[i] = strdup(specs[i]);
    char *eq = strchr(names[i], '=');
    given[i] = known[i] = NULL;
    if (eq) {
      *eq = 0, given[i] = eq + 1;
      char *eq2 = strchr(given[i], '=');
      if (eq2) *eq2 = 0, known[i] = eq2 + 1;
      if (!*given[i]) given[i] = NULL;
    }
  }
  /* asked once, when a package's version or architecture (for the apt cache) is needed */
  char *argv[MAX_PKG_NAMES + 4] = {"dpkg-query", "-W", ROW_FORMAT}, *out = NULL;
  size_t nrows = 0;
  row_t *rows = NULL;
#define ASK_DPKG()                                                                              \
  if (!rows) {                                                                                  \
    for (int k = 0; k < n; k++) argv[3 + k] = names[k];                                         \
    argv[3 + n] = NULL;                                                                         \
    capture(argv, false, &out);                                                                 \
    if (!out || !(rows = read_rows(out, &nrows))) { rc = reason(why, len, "cannot run dpkg-query: %s", strerror(errno)); break; } \
  }
  char list[4400];
  snprintf(list, sizeof list, "%s/prev.list.tmp", dir);
  FILE *f = fopen(list, "we");
  if (!f) return free(rows), free(out), reason(why, len, "cannot write %s: %s", list, strerror(errno));
  int rc = 0;
  for (int i = 0; rc == 0 && i < n; i++) {
    const row_t *r = NULL;
    if (!known[i]) {
      ASK_DPKG();
      r = find_installed(rows, nrows, names[i]);
    }
    const char *v = known[i] ? (strcmp(known[i], "-") == 0 ? NULL : known[i]) : (r ? r->version : NULL);
    char detail[600];
    if (!v) {
      fprintf(f, "%s absent -\n", names[i]);
      snprintf(detail, sizeof detail, "%s: not installed (rollback removes it)", names[i]);
      step(j, "save-previous", "ok", detail);
      continue;
    }
    char deb[4500], pkg[256], ver[256], cached[1024];
    snprintf(deb, sizeof deb, "%s/%s.deb", dir, names[i]);
    const char *src = NULL;
    int err = 0;
    bool bundled = given[i] && deb_fields(given[i], pkg, ver, sizeof pkg) && strcmp(ver, v) == 0;
    if (!bundled && !r) {
      ASK_DPKG();
      r = find_installed(rows, nrows, names[i]);
    }
    if (bundled) src = "bundle", err = copy_file(given[i], deb);
    else if (r && apt_cached(names[i], v, r->arch, cached, sizeof cached)) src = "apt-cache", err = copy_file(cached, deb);
    else {
      char *args[] = {names[i], deb};
      char repack_why[1024];
      if (run_pkg("repack", args, 2, repack_why, sizeof repack_why) != 0)
        rc = reason(why, len, "rollback impossible for %s %s: no previous .deb in the bundle or the apt cache, and it cannot be rebuilt (%s)", names[i], v, repack_why);
      src = "rebuilt";
    }
    if (rc) break;
    if (err) rc = reason(why, len, "cannot save the previous %s into %s: %s", names[i], dir, strerror(err));
    else if (!deb_fields(deb, pkg, ver, sizeof pkg) || strcmp(pkg, names[i]) != 0 || strcmp(ver, v) != 0) rc = reason(why, len, "the saved copy of %s is not version %s", names[i], v);
    else {
      fprintf(f, "%s %s %s\n", names[i], v, src);
      snprintf(detail, sizeof detail, "%s %s: restorable from %s", names[i], v, src);
      step(j, "save-previous", "ok", detail);
    }
  }
#undef ASK_DPKG
  if (fclose(f) != 0 && rc == 0) rc = reason(why, len, "cannot write %s: %s", list, strerror(errno));
  for (int i = 0; i < n; i++) free(names[i]);
  free(rows);
  free(out);
  return rc;
}
