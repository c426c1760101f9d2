/* `facts`: what a host is (kernel identity, OS, livepatch state) as one JSON result line. */
#include "helper.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
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

static long read_long(const char *path, long fallback) {
  char *s = read_small_file(path, 64);
  if (!s) return fallback;
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s) v = fallback;
  free(s);
  return v;
}

/* The kernel's GNU build-id note (type 3, name "GNU") from /sys/kernel/notes, as hex. */
static char *kernel_build_id(void) {
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

/* Value of KEY in an os-release file, unquoted; NULL when absent. */
static char *os_release_value(const char *text, const char *key) {
  size_t klen = strlen(key);
  for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, key, klen) != 0 || line[klen] != '=') continue;
    const char *v = line + klen + 1;
    size_t vlen = strcspn(v, "\n");
    char *out = malloc(vlen + 1), *o = out;
    if (!out) return NULL;
    char q = (*v == '"' || *v == '\'') ? *v : 0;
    for (size_t i = q ? 1 : 0; i < vlen; i++) {
      if (q && v[i] == q) break;
      if (q == '"' && v[i] == '\\' && i + 1 < vlen) i++;
      *o++ = v[i];
    }
    *o = 0;
    return out;
  }
  return NULL;
}

static void livepatches(json_t *j) {
  DIR *d = opendir("/sys/kernel/livepatch");
  json_bool(j, "livepatch_supported", d != NULL);
  json_open(j, "livepatches", '[');
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[512];
    json_open(j, NULL, '{');
    json_str(j, "name", e->d_name);
    snprintf(path, sizeof path, "/sys/kernel/livepatch/%s/enabled", e->d_name);
    json_int(j, "enabled", read_long(path, -1));
    snprintf(path, sizeof path, "/sys/kernel/livepatch/%s/transition", e->d_name);
    json_int(j, "transition", read_long(path, -1));
    json_close(j, '}');
  }
  if (d) closedir(d);
  json_close(j, ']');
}

int cmd_facts(json_t *j) {
  struct utsname u;
  if (uname(&u) != 0) return fail(j, "facts-failed", "uname failed");
  char *machine_id = read_small_file("/etc/machine-id", 256);
  char *proc_version = read_small_file("/proc/version", 4096);
  char *build_id = kernel_build_id();
  char *os = read_small_file("/etc/os-release", 16384);
  if (!os) os = read_small_file("/usr/lib/os-release", 16384);

  json_begin_line(j);
  json_str(j, "type", "result");
  json_str(j, "command", "facts");
  json_bool(j, "ok", true);
  json_open(j, "facts", '{');
  json_str(j, "helper_version", HELPER_VERSION);
  json_str(j, "hostname", u.nodename);
  json_str(j, "machine_id", machine_id);
  json_open(j, "uname", '{');
  json_str(j, "sysname", u.sysname);
  json_str(j, "release", u.release);
  json_str(j, "version", u.version);
  json_str(j, "machine", u.machine);
  json_close(j, '}');
  json_str(j, "arch", u.machine);
  json_str(j, "proc_version", proc_version);
  json_str(j, "kernel_build_id", build_id);
  json_open(j, "os", '{');
  const char *keys[][2] = {{"id", "ID"}, {"version_id", "VERSION_ID"}, {"pretty_name", "PRETTY_NAME"}};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char *v = os ? os_release_value(os, keys[i][1]) : NULL;
    json_str(j, keys[i][0], v);
    free(v);
  }
  json_close(j, '}');
  json_int(j, "taint", read_long("/proc/sys/kernel/tainted", -1));
  livepatches(j);
  json_close(j, '}');
  json_end_line(j);
  free(machine_id); free(proc_version); free(build_id); free(os);
  return 0;
}
