/* `facts`: what a host is (kernel identity, OS, livepatch state) as one JSON result line.
 * `facts --packages NAME...` first answers pkg-query's lines for those packages (one exec for
 * what a packages bundle's plan needs). */
#include "helper.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

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

static void objects(json_t *j, const char *patch) {
  char path[512];
  snprintf(path, sizeof path, LIVEPATCH_SYSFS "/%s", patch);
  DIR *d = opendir(path);
  json_open(j, "objects", '[');
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char file[1024];
    snprintf(file, sizeof file, "%s/%s/patched", path, e->d_name);
    if (e->d_name[0] == '.' || access(file, F_OK) != 0) continue;
    json_open(j, NULL, '{');
    json_str(j, "name", e->d_name);
    json_int(j, "patched", read_long(file, -1));
    json_close(j, '}');
  }
  if (d) closedir(d);
  json_close(j, ']');
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
    objects(j, e->d_name);
    json_close(j, '}');
  }
  if (d) closedir(d);
  json_close(j, ']');
}

int cmd_facts(json_t *j, int argc, char **argv) {
  if (argc >= 3) {
    if (strcmp(argv[2], "--packages") != 0 || argc < 4) return fail(j, "usage", "usage: facts [--packages NAME...]");
    for (int i = 3; i < argc; i++)
      if (!valid_token(argv[i])) return fail(j, "usage", "usage: facts [--packages NAME...]");
    char why[1024];
    if (pkg_query(j, argv + 3, argc - 3, why, sizeof why) != 0) return fail(j, "helper-failed", why);
  }
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
  char *sig = read_small_file("/sys/module/module/parameters/sig_enforce", 16);
  char *lockdown = read_small_file("/sys/kernel/security/lockdown", 256);
  json_str(j, "sig_enforce", sig);
  json_str(j, "lockdown", lockdown);
  free(sig);
  free(lockdown);
  livepatches(j);
  journal_json(j, "journal");
  json_close(j, '}');
  json_end_line(j);
  free(machine_id); free(proc_version); free(build_id); free(os);
  return 0;
}
