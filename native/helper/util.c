#include "helper.h"
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reads a small file whole; NULL when absent. Trailing newlines are trimmed. */
char *read_small_file(const char *path, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *buf = malloc(max + 1);
  size_t len = 0;
  ssize_t n;
  while (buf && len < max && (n = read(fd, buf + len, max - len)) > 0) len += (size_t)n;
  close(fd);
  if (!buf) return NULL;
  buf[len] = 0;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = 0;
  return buf;
}

long read_long(const char *path, long fallback) {
  char *s = read_small_file(path, 64);
  if (!s) return fallback;
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s) v = fallback;
  free(s);
  return v;
}

int write_string(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno;
  ssize_t n = write(fd, value, strlen(value));
  int err = n < 0 ? errno : 0;
  close(fd);
  return err;
}

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

bool valid_token(const char *s) {
  size_t n = 0;
  if (!s) return false;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-' || c == '+' || c == '~')) return false;
  }
  return n > 0 && n <= 128;
}

const char *arg_value(int argc, char **argv, const char *name) {
  for (int i = 2; i + 1 < argc; i++) if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return NULL;
}

bool arg_flag(int argc, char **argv, const char *name) {
  for (int i = 2; i < argc; i++) if (strcmp(argv[i], name) == 0) return true;
  return false;
}

const char *state_dir(void) {
  static char dir[4096];
  if (dir[0]) return dir;
  ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (n <= 0) return strcpy(dir, "/var/lib/fleetpatch");
  dir[n] = 0;
  for (int i = 0; i < 2; i++) {
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = 0;
  }
  return dir;
}

/* The kernel's GNU build-id note (type 3, name "GNU") from /sys/kernel/notes, as hex. */
char *kernel_build_id(void) {
  int fd = open("/sys/kernel/notes", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  unsigned char buf[4096];
  ssize_t len = read(fd, buf, sizeof buf);
  close(fd);
  size_t off = 0;
  while (len > 0 && off + 12 <= (size_t)len) {
    unsigned namesz, descsz, type;
    memcpy(&namesz, buf + off, 4);
    memcpy(&descsz, buf + off + 4, 4);
    memcpy(&type, buf + off + 8, 4);
    size_t name_off = off + 12, desc_off = name_off + ((namesz + 3) & ~3u);
    size_t next = desc_off + ((descsz + 3) & ~3u);
    if (next > (size_t)len || descsz > 64) break;
    if (type == 3 && namesz == 4 && memcmp(buf + name_off, "GNU", 4) == 0) {
      char *hex = malloc(descsz * 2 + 1);
      for (unsigned i = 0; hex && i < descsz; i++) sprintf(hex + 2 * i, "%02x", buf[desc_off + i]);
      return hex;
    }
    off = next;
  }
  return NULL;
}

int reason(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
  va_end(ap);
  return 1;
}

int sync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd), err = errno;
  close(fd);
  errno = err;
  return rc;
}
