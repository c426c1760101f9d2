/* fleetpatch-helper: the on-host half of fleetpatch. Every command answers in JSON lines that
 * start with {"fleetpatch":1; the last such line (type "result") decides the outcome. */
#include "helper.h"
#include <stdio.h>
#include <string.h>

int fail(json_t *j, const char *code, const char *message) {
  json_begin_line(j);
  json_str(j, "type", "result");
  json_bool(j, "ok", false);
  json_open(j, "error", '{');
  json_str(j, "code", code);
  json_str(j, "message", message);
  json_close(j, '}');
  json_end_line(j);
  return 1;
}

int main(int argc, char **argv) {
  json_t j = {0};
  if (argc == 2 && strcmp(argv[1], "facts") == 0) return cmd_facts(&j);
  if (argc == 2 && strcmp(argv[1], "version") == 0) {
    puts(HELPER_VERSION);
    return 0;
  }
  return fail(&j, "usage", "usage: fleetpatch-helper facts|version");
}
