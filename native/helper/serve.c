/* `--serve COMMAND ARGS`: once COMMAND has succeeded, the helper reads the next command from
 * stdin and becomes it, so the controller plans on the facts it just read and applies over the
 * same exec: one SSH session, shell and trust walk per host instead of two. The next command is
 * one argument per line, ended by an empty line, and must start with `--stage` (its payloads are
 * hashed, or unpacked from the `+N` bytes that follow on stdin, exactly as after the trust
 * script). End of input or an empty first line: nothing more, exit. The process re-executes its
 * own binary by its path (DIR/bin/helper-SHA; `ps` and `pgrep` then show it as usual), so the
 * command starts as fresh as after an exec of its own — after the trust script's checks, made
 * again here (trusted()): the directory is still safe, the binary's hash still its name's. */
#include "helper.h"
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ARGS 1024
#define MAX_BYTES 65536
#define WAIT_SECONDS (15 * 60)

/* One byte of stdin, waiting at most WAIT_SECONDS: 1, 0 at end of input (or the wait's end), -1 on
 * an error. Byte by byte: whatever follows the empty line (an upload) stays for the command. */
static int next_byte(char *c) {
  for (;;) {
    fd_set fds;
    struct timeval tv = {WAIT_SECONDS, 0};
    FD_ZERO(&fds);
    FD_SET(0, &fds);
    int s = select(1, &fds, NULL, NULL, &tv);
    if (s < 0 && errno == EINTR) continue;
    if (s <= 0) return s;
    ssize_t n = read(0, c, 1);
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -1 : (int)n;
  }
}

static char bad[4096];

static bool unsafe(const char *path, const struct stat *st, bool link) {
  if (!link && st->st_uid == 0 && !(st->st_mode & 022)) return false;
  snprintf(bad, sizeof bad, "%s", path);
  return true;
}

static int check_entry(const char *path, const struct stat *st, int type, struct FTW *f) {
  (void)f;
  return type == FTW_NS || type == FTW_DNR ? (snprintf(bad, sizeof bad, "%s", path), 1) : unsafe(path, st, type == FTW_SL);
}

/* The trust script's checks (remote.ts), in C: DIR, everything under it and its parents (/ aside)
 * owned by root, no symbolic link, nothing writable by group or others; SELF's sha256 the one its name
 * (helper-SHA) gives. 0, or 1 after reporting. */
static int trusted(json_t *j, const char *self) {
  const char *dir = state_dir();
  char p[4096];
  struct stat st;
  bad[0] = 0;
  snprintf(p, sizeof p, "%s", dir);
  /* its parents up to, not including, / (as the script's walk) */
  for (char *slash; (slash = strrchr(p, '/')) != NULL && slash != p;) {
    *slash = 0;
    if (lstat(p, &st) == 0 && unsafe(p, &st, S_ISLNK(st.st_mode))) break;
  }
  if (!bad[0] && nftw(dir, check_entry, 16, FTW_PHYS) != 0 && !bad[0]) snprintf(bad, sizeof bad, "%s", dir);
  if (bad[0]) {
    if (lstat(bad, &st) == 0 && S_ISLNK(st.st_mode)) return failf(j, "insecure-remote-dir", "%s is a symbolic link; fleetpatch refuses to use %s", bad, dir);
    return failf(j, "insecure-remote-dir", "%s (owner uid %ld, mode %04o) is not owned by root or is writable by group or others; a local user could plant code that root runs. Fix the owner and mode (chown root:root, chmod go-w) or remove %s",
                 bad, lstat(bad, &st) == 0 ? (long)st.st_uid : -1L, lstat(bad, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0u, dir);
  }
  const char *name = strrchr(self, '/');
  char got[65];
  name = name ? name + 1 : self;
  if (strncmp(name, "helper-", 7) != 0 || !hash_file(self, got) || strcmp(got, name + 7) != 0)
    return failf(j, "insecure-remote-dir", "%s has sha256 %s, expected the one its name gives: it was modified on the host; remove it and investigate", self, got[0] ? got : "(unreadable)");
  return 0;
}

int serve_next(json_t *j) {
  static char buf[MAX_BYTES];
  static char *args[MAX_ARGS + 2];
  size_t len = 0;
  int n = 0;
  static char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0) return failf(j, "helper-protocol", "cannot find the helper's own path: %s", strerror(errno));
  self[sl] = 0;
  args[n++] = self;
  args[n] = buf;
  for (;;) {
    char c;
    int r = next_byte(&c);
    if (r < 0) return failf(j, "helper-protocol", "reading the next command from stdin failed: %s", strerror(errno));
    if (r == 0) {
      if (len == 0) return 0; /* the controller has nothing more for this host */
      return fail(j, "helper-protocol", "the next command ended early (the connection dropped?)");
    }
    if (len + 1 >= sizeof buf) return fail(j, "helper-protocol", "the next command is too long");
    if (c == 0) return fail(j, "helper-protocol", "a NUL byte in the next command");
    if (c != '\n') {
      buf[len++] = c;
      continue;
    }
    if (args[n] == buf + len) break; /* an empty line: the end */
    buf[len++] = 0;
    if (n >= MAX_ARGS) return fail(j, "helper-protocol", "the next command has too many arguments");
    args[++n] = buf + len;
  }
  args[n] = NULL;
  if (n == 1) return 0; /* an empty first line: nothing more */
  if (strcmp(args[1], "--stage") != 0) return fail(j, "helper-protocol", "the next command must start with --stage");
  if (trusted(j, self)) return 1;
  execv(self, args);
  return failf(j, "helper-protocol", "cannot run the next command (re-executing %s): %s", self, strerror(errno));
}
