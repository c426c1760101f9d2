/* Minimal streaming JSON writer: one object per output line (the helper protocol). */
#ifndef FP_JSON_H
#define FP_JSON_H
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char *buf;
  size_t len, cap;
  bool need_comma;
} json_t;

void json_begin_line(json_t *j);          /* "{"fleetpatch":1 */
void json_end_line(json_t *j);            /* "}\n", flushed to stdout */
void json_key(json_t *j, const char *key);
void json_str(json_t *j, const char *key, const char *value); /* NULL -> null */
void json_int(json_t *j, const char *key, long long value);
void json_bool(json_t *j, const char *key, bool value);
void json_open(json_t *j, const char *key, char bracket);   /* key may be NULL in arrays */
void json_close(json_t *j, char bracket);
#endif
