/* The holders scan after a package install, in one process: the files the packages own
 * (dpkg's file lists), then every process's maps and open fds that point at a deleted file of
 * theirs — the fix is not in effect for those processes until they restart. One `holder` line per
 * such process (pid, comm, up to three such files in sorted order); a warning, never a failure. */
#include "helper.h"
#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DELETED " (deleted)"
#define DPKG_INFO "/var/lib/dpkg/info"

typedef struct {
  char **v;
  size_t n, cap;
} strs;

static void push(strs *s, const char *p, size_t len) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    char **v = realloc(s->v, s->cap * sizeof *v);
    if (!v) return;
    s->v = v;
  }
  char *copy = strndup(p, len);
  if (copy) s->v[s->n++] = copy;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void clear(strs *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  *s = (strs){0};
}

/* Adds the absolute paths listed in dpkg's file list `list` (one path a line) to `files`. */
static void read_list(strs *files, const char *list) {
  FILE *in = fopen(list, "re");
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while (in && (len = getline(&line, &cap, in)) > 0) {
    while (len > 0 && line[len - 1] == '\n') line[--len] = 0;
    if (line[0] == '/') push(files, line, (size_t)len);
  }
  free(line);
  if (in) fclose(in);
}

/* The absolute paths dpkg lists for these packages, sorted: dpkg's own file lists, read directly
 * (what `dpkg-query -L` prints, without a process that loads dpkg's whole status database):
 * info/NAME.list, or info/NAME:ARCH.list for a multi-arch package; unknown names add nothing. */
static strs package_files(char **names, int n) {
  strs files = {0};
  for (int i = 0; i < n && i < MAX_PKG_NAMES; i++) {
    char pattern[600];
    snprintf(pattern, sizeof pattern, DPKG_INFO "/%s.list", names[i]);
    if (access(pattern, F_OK) == 0) {
      read_list(&files, pattern);
      continue;
    }
    snprintf(pattern, sizeof pattern, DPKG_INFO "/%s:*.list", names[i]);
    glob_t g;
    if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0)
      for (size_t k = 0; k < g.gl_pathc; k++) read_list(&files, g.gl_pathv[k]);
    globfree(&g);
  }
  qsort(files.v, files.n, sizeof *files.v, cmp);
  return files;
}

/* When `path` (len bytes) ends in " (deleted)" and the rest is one of `files`, adds it to hits. */
static void match(const strs *files, strs *hits, const char *path, size_t len) {
  size_t d = strlen(DELETED);
  if (len <= d || memcmp(path + len - d, DELETED, d) != 0) return;
  char *name = strndup(path, len - d);
  if (!name) return;
  if (bsearch(&name, files->v, files->n, sizeof *files->v, cmp)) {
    bool seen = false;
    for (size_t i = 0; i < hits->n && !seen; i++) seen = strcmp(hits->v[i], name) == 0;
    if (!seen) push(hits, name, strlen(name));
  }
  free(name);
}

void pkg_holders(json_t *j, char **names, int n) {
  strs files = package_files(names, n);
  if (!files.n) return clear(&files);
  DIR *proc = opendir("/proc");
  struct dirent *p;
  char self[32];
  snprintf(self, sizeof self, "%d", (int)getpid());
  while (proc && (p = readdir(proc))) {
    if (p->d_name[0] < '0' || p->d_name[0] > '9' || strcmp(p->d_name, self) == 0) continue;
    strs hits = {0};
    char path[600], target[4200];
    /* mapped files: the path starts after the fifth field */
    snprintf(path, sizeof path, "/proc/%s/maps", p->d_name);
    FILE *maps = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (maps && (len = getline(&line, &cap, maps)) > 0) {
      while (len > 0 && line[len - 1] == '\n') line[--len] = 0;
      const char *s = line;
      for (int field = 0; field < 5 && *s; field++) {
        s += strcspn(s, " ");
        s += strspn(s, " ");
      }
      if (*s == '/') match(&files, &hits, s, strlen(s));
    }
    free(line);
    if (maps) fclose(maps);
    /* open file descriptors */
    snprintf(path, sizeof path, "/proc/%s/fd", p->d_name);
    DIR *fd = opendir(path);
    struct dirent *f;
    while (fd && (f = readdir(fd))) {
      if (f->d_name[0] == '.') continue;
      char link[900];
      snprintf(link, sizeof link, "%s/%s", path, f->d_name);
      ssize_t k = readlink(link, target, sizeof target - 1);
      if (k <= 0) continue;
      target[k] = 0;
      if (target[0] == '/') match(&files, &hits, target, (size_t)k);
    }
    if (fd) closedir(fd);
    if (hits.n) {
      qsort(hits.v, hits.n, sizeof *hits.v, cmp);
      char list[3 * 1400] = "";
      size_t used = 0;
      for (size_t i = 0; i < hits.n && i < 3; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? " " : "", hits.v[i]);
        if (w < 0 || (size_t)w >= sizeof list - used) break;
        used += (size_t)w;
      }
      snprintf(path, sizeof path, "/proc/%s/comm", p->d_name);
      char *comm = read_small_file(path, 64);
      json_begin_line(j);
      json_str(j, "type", "holder");
      json_int(j, "pid", atol(p->d_name));
      json_str(j, "comm", comm ? comm : "");
      json_str(j, "files", list);
      json_end_line(j);
      free(comm);
    }
    clear(&hits);
  }
  if (proc) closedir(proc);
  clear(&files);
}
