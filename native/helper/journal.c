/* The journal: one tab-separated line per intent or outcome, appended and fsync'd before the
 * action it announces, so an interrupted operation is found and finished on the next contact.
 * Fields are tokens ([A-Za-z0-9._:-]) so no escaping is needed. */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void journal_path(char *buf, size_t len) { snprintf(buf, len, "%s/journal", state_dir()); }

int journal_append(json_t *j, const char *op, const char *state, const char *bundle, long long serial, const char *patch, const char *sha) {
  char path[4200], line[1024];
  journal_path(path, sizeof path);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(line, sizeof line, "%lld\t%s\t%s\t%s\t%lld\t%s\t%s\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, op, state, bundle, serial, patch, sha);
  /* the directory is synced only when this append created the file: an append to an existing
   * file changes no directory entry, and its fsync makes the line and the new size durable */
  bool created = false;
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) created = (fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0;
  if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    return failf(j, "helper-failed", "cannot write the journal %s: %s; nothing was changed", path, strerror(err));
  }
  close(fd);
  if (created) sync_dir(state_dir());
  return 0;
}

int journal_latest(journal_entry **out) {
  char path[4200];
  journal_path(path, sizeof path);
  char *text = read_small_file(path, 8 << 20);
  *out = NULL;
  if (!text) return 0;
  int n = 0, cap = 0;
  journal_entry *all = NULL;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    journal_entry e = {0};
    if (sscanf(line, "%lld\t%128[^\t]\t%32[^\t]\t%128[^\t]\t%lld\t%128[^\t]\t%128[^\t\n]", &e.time_ms, e.op, e.state, e.bundle, &e.serial, e.patch, e.sha) != 7) continue;
    int k = 0;
    while (k < n && strcmp(all[k].op, e.op) != 0) k++;
    if (k == n) {
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        journal_entry *grown = realloc(all, (size_t)cap * sizeof *all);
        if (!grown) break;
        all = grown;
      }
      n++;
    }
    all[k] = e;
  }
  free(text);
  *out = all;
  return n;
}

const char *journal_state_of(const char *op, journal_entry *all, int n) {
  for (int i = 0; i < n; i++) if (strcmp(all[i].op, op) == 0) return all[i].state;
  return NULL;
}

/* intent, loaded, saved, installing, installed, rollback-intent are in flight; the others are outcomes. */
bool journal_state_terminal(const char *state) {
  static const char *in_flight[] = {"intent", "loaded", "saved", "installing", "installed", "rollback-intent"};
  for (size_t i = 0; i < sizeof in_flight / sizeof in_flight[0]; i++)
    if (strcmp(state, in_flight[i]) == 0) return false;
  return true;
}

void journal_json(json_t *j, const char *key) {
  journal_entry *all;
  int n = journal_latest(&all);
  json_open(j, key, '[');
  for (int i = 0; i < n; i++) {
    json_open(j, NULL, '{');
    json_str(j, "op", all[i].op);
    json_str(j, "state", all[i].state);
    json_str(j, "bundle", all[i].bundle);
    json_int(j, "serial", all[i].serial);
    json_str(j, "patch", all[i].patch);
    json_str(j, "sha256", all[i].sha);
    json_int(j, "time_ms", all[i].time_ms);
    json_close(j, '}');
  }
  json_close(j, ']');
  free(all);
}
