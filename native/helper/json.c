#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(json_t *j, const char *s, size_t n) {
  if (j->len + n + 1 > j->cap) {
    size_t cap = j->cap ? j->cap : 4096;
    while (cap < j->len + n + 1) cap *= 2;
    char *b = realloc(j->buf, cap);
    if (!b) { fputs("fleetpatch-helper: out of memory\n", stderr); _exit(70); }
    j->buf = b; j->cap = cap;
  }
  memcpy(j->buf + j->len, s, n);
  j->len += n;
}
static void puts_(json_t *j, const char *s) { put(j, s, strlen(s)); }

static void comma(json_t *j) {
  if (j->need_comma) put(j, ",", 1);
  j->need_comma = true;
}

static void quoted(json_t *j, const char *s) {
  put(j, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') { esc[0] = '\\'; esc[1] = (char)*p; put(j, esc, 2); }
    else if (*p == '\n') puts_(j, "\\n");
    else if (*p == '\t') puts_(j, "\\t");
    else if (*p < 0x20 || *p == 0x7f) { snprintf(esc, sizeof esc, "\\u%04x", *p); puts_(j, esc); }
    else put(j, (const char *)p, 1);
  }
  put(j, "\"", 1);
}

void json_key(json_t *j, const char *key) {
  comma(j);
  if (key) { quoted(j, key); put(j, ":", 1); }
}

void json_begin_line(json_t *j) {
  j->len = 0;
  j->need_comma = false;
  puts_(j, "{\"fleetpatch\":1");
  j->need_comma = true;
}

void json_end_line(json_t *j) {
  puts_(j, "}\n");
  size_t off = 0;
  while (off < j->len) {
    ssize_t w = write(1, j->buf + off, j->len - off);
    if (w <= 0) _exit(74);
    off += (size_t)w;
  }
  j->len = 0;
}

void json_str(json_t *j, const char *key, const char *value) {
  json_key(j, key);
  if (value) quoted(j, value); else puts_(j, "null");
}

void json_int(json_t *j, const char *key, long long value) {
  char num[32];
  json_key(j, key);
  snprintf(num, sizeof num, "%lld", value);
  puts_(j, num);
}

void json_bool(json_t *j, const char *key, bool value) {
  json_key(j, key);
  puts_(j, value ? "true" : "false");
}

void json_open(json_t *j, const char *key, char bracket) {
  json_key(j, key);
  put(j, &bracket, 1);
  j->need_comma = false;
}

void json_close(json_t *j, char bracket) {
  put(j, &bracket, 1);
  j->need_comma = true;
}
