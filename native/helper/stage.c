/* `--stage SRC [SHA | ?SHA]... -- COMMAND ARGS`: what the trust script hands to the helper once it
 * has walked fleetpatch's directory and checked the helper's own hash. SRC `+N`: a ustar stream of
 * N bytes on stdin (before the command's own input) holding payloads named by their sha256, each
 * written to DIR/cache under a temporary name, hashed, fsync'd and renamed into place; `-`: none.
 * Then every SHA the command needs is hashed in the cache (unless it just arrived), each ?SHA only
 * looked for. Lines: `uploaded` (files), `cache` (the ?SHAs absent), `need` (arch, the SHAs
 * absent: the command does not run), else `trusted` and the command runs. */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MAX_STAGED 256

static bool hex64(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return false;
  return n == 64;
}

/* Reads up to n bytes (fewer only at end of input); -1 on a read error. */
static ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static unsigned long long octal(const unsigned char *p, size_t n) {
  unsigned long long v = 0;
  for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++) v = v * 8 + (p[i] - '0');
  return v;
}

static bool header_ok(const unsigned char *h) {
  unsigned long sum = 0;
  for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  return sum == octal(h + 148, 8);
}

typedef struct {
  json_t *j;
  const char *cache;
  unsigned long long left; /* bytes of the stream not yet read */
  char buf[65536];
} stream_t;

static int upload_failed(stream_t *s, const char *fmt, const char *a, const char *b) {
  char message[1024];
  snprintf(message, sizeof message, fmt, a, b);
  return fail(s->j, "helper-upload", message);
}

/* Reads n bytes of the stream into s->buf (n ≤ its size); 0, or 1 after reporting why not. */
static int take(stream_t *s, size_t n) {
  if (n > s->left) return upload_failed(s, "the upload is not a tar archive of the size announced%s%s", "", "");
  ssize_t r = read_full(0, s->buf, n);
  if (r < 0) return upload_failed(s, "reading the upload from stdin failed: %s%s", strerror(errno), "");
  if ((size_t)r < n) return upload_failed(s, "the upload ended early (the connection dropped?)%s%s", "", "");
  s->left -= n;
  return 0;
}

/* One file of SIZE bytes into DIR/cache/NAME, never partly; 0, or 1 after reporting. */
static int receive_file(stream_t *s, const char *name, unsigned long long size) {
  char part[4200], final[4200], got[65];
  snprintf(part, sizeof part, "%s/.%s.part", s->cache, name);
  snprintf(final, sizeof final, "%s/%s", s->cache, name);
  int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return upload_failed(s, "cannot create %s: %s", part, strerror(errno));
  sha256_t h;
  sha256_init(&h);
  int err = 0;
  for (unsigned long long left = size + (512 - size % 512) % 512; left > 0;) {
    size_t n = left < sizeof s->buf ? (size_t)left : sizeof s->buf;
    if (take(s, n)) return close(fd), unlink(part), 1;
    size_t data = size > n ? n : (size_t)size; /* the rest is padding */
    sha256_update(&h, s->buf, data);
    if (!err && data && write(fd, s->buf, data) != (ssize_t)data) err = errno ? errno : ENOSPC;
    size -= data, left -= n;
  }
  if (!err && fsync(fd) != 0) err = errno;
  if (close(fd) != 0 && !err) err = errno;
  sha256_hex(&h, got);
  if (err) return unlink(part), upload_failed(s, "cannot write the upload into %s (disk full?): %s", s->cache, strerror(err));
  if (strcmp(got, name) != 0) return unlink(part), upload_failed(s, "uploaded file %s has sha256 %s: corrupted in transit", name, got);
  if (rename(part, final) != 0) return unlink(part), upload_failed(s, "cannot install %s: %s", final, strerror(errno));
  return 0;
}

/* Unpacks the stream's files into the cache; their names go to fresh[]. 0, or 1 after reporting. */
static int receive(json_t *j, const char *cache, unsigned long long bytes, char fresh[][65], int *nfresh) {
  static stream_t s;
  s.j = j, s.cache = cache, s.left = bytes;
  if (mkdir(cache, 0700) != 0 && errno != EEXIST) return failf(j, "helper-upload", "cannot create %s: %s", cache, strerror(errno));
  struct stat st;
  if (lstat(cache, &st) != 0 || !S_ISDIR(st.st_mode)) return failf(j, "helper-upload", "%s is not a directory", cache);
  for (;;) {
    if (take(&s, 512)) return 1;
    unsigned char *hd = (unsigned char *)s.buf;
    bool zero = true;
    for (int i = 0; i < 512 && zero; i++) zero = hd[i] == 0;
    if (zero) break;
    char name[101];
    memcpy(name, hd, 100);
    name[100] = 0;
    if (!header_ok(hd) || (hd[156] != '0' && hd[156] != 0) || !hex64(name) || *nfresh >= MAX_STAGED)
      return fail(j, "helper-upload", "unexpected entry in the upload");
    unsigned long long size = octal(hd + 124, 12);
    if (receive_file(&s, name, size)) return 1;
    memcpy(fresh[(*nfresh)++], name, 65);
  }
  while (s.left > 0) if (take(&s, s.left < sizeof s.buf ? (size_t)s.left : sizeof s.buf)) return 1;
  sync_dir(cache);
  json_begin_line(j);
  json_str(j, "type", "uploaded");
  json_int(j, "files", *nfresh);
  json_end_line(j);
  return 0;
}

/* 1 when PATH is a regular file (not a link), hashed into got[]; 0 when absent or not one. */
int hash_file(const char *path, char got[65]) {
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  static char buf[65536];
  sha256_t h;
  sha256_init(&h);
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) sha256_update(&h, buf, (size_t)n);
  close(fd);
  sha256_hex(&h, got);
  return 1;
}

static bool present(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* {"type":TYPE[,"arch":ARCH],"missing":[SHA...]} */
static void digests_line(json_t *j, const char *type, const char *arch, const char **shas, int n) {
  json_begin_line(j);
  json_str(j, "type", type);
  if (arch) json_str(j, "arch", arch);
  json_open(j, "missing", '[');
  for (int i = 0; i < n; i++) json_str(j, NULL, shas[i]);
  json_close(j, ']');
  json_end_line(j);
}

int stage(json_t *j, int *argc, char ***argv) {
  char **a = *argv;
  int n = *argc, end = 2;
  while (end < n && strcmp(a[end], "--") != 0) end++;
  const char *src = n > 1 ? a[1] : "";
  if (end >= n) return fail(j, "helper-protocol", "--stage without --");
  unsigned long long bytes = 0;
  if (src[0] == '+') {
    char *tail;
    errno = 0;
    bytes = strtoull(src + 1, &tail, 10);
    if (src[1] < '0' || src[1] > '9' || *tail || errno) return fail(j, "helper-protocol", "bad upload source");
  } else if (strcmp(src, "-") != 0) return fail(j, "helper-protocol", "bad upload source");
  for (int i = 2; i < end; i++)
    if (!hex64(a[i][0] == '?' ? a[i] + 1 : a[i]) || end - 2 > MAX_STAGED) return fail(j, "helper-protocol", "bad payload digest");
  char cache[4200];
  snprintf(cache, sizeof cache, "%s/cache", state_dir());
  static char fresh[MAX_STAGED][65];
  int nfresh = 0;
  if (src[0] == '+' && receive(j, cache, bytes, fresh, &nfresh)) return 1;
  const char *missing[MAX_STAGED], *absent[MAX_STAGED];
  int nmissing = 0, nabsent = 0;
  bool probes = false;
  for (int i = 2; i < end; i++) {
    const char *sha = a[i][0] == '?' ? a[i] + 1 : a[i];
    char path[4300], got[65];
    snprintf(path, sizeof path, "%s/%s", cache, sha);
    if (a[i][0] == '?') {
      probes = true;
      if (!present(path)) absent[nabsent++] = sha;
      continue;
    }
    bool just = false;
    for (int k = 0; k < nfresh && !just; k++) just = strcmp(fresh[k], sha) == 0;
    if (just) continue;
    if (!hash_file(path, got)) missing[nmissing++] = sha;
    else if (strcmp(got, sha) != 0)
      return failf(j, "insecure-remote-dir", "%s has sha256 %s, expected %s: it was modified on the host; remove it and investigate", path, got, sha);
  }
  if (probes) digests_line(j, "cache", NULL, absent, nabsent);
  if (nmissing) {
    struct utsname u;
    digests_line(j, "need", uname(&u) == 0 ? u.machine : "unknown", missing, nmissing);
    return 0;
  }
  json_begin_line(j);
  json_str(j, "type", "trusted");
  json_end_line(j);
  a[end] = a[0];
  *argv = a + end;
  *argc = n - end;
  return -1;
}
