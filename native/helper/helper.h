#ifndef FP_HELPER_H
#define FP_HELPER_H
#include "json.h"
#include <stddef.h>

#define HELPER_VERSION "0.1.0"

char *read_small_file(const char *path, size_t max);
int fail(json_t *j, const char *code, const char *message);
int cmd_facts(json_t *j);
#endif
