/* fleetpatch-helper: the on-host half of fleetpatch. Every command answers in JSON lines that
 * start with {"fleetpatch":1; the last such line (type "result") decides the outcome. */
#include "helper.h"
#include <stdarg.h>
#include <sys/select.h>
#include <unistd.h>
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

int failf(json_t *j, const char *code, const char *fmt, ...) {
  char message[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return fail(j, code, message);
}

int result_outcome(json_t *j, const char *outcome) {
  json_begin_line(j);
  json_str(j, "type", "result");
  json_bool(j, "ok", true);
  json_str(j, "outcome", outcome);
  json_end_line(j);
  return 0;
}

/* Says it is waiting, then reads the controller's verdict line from stdin (at most 15 minutes);
 * an empty verdict means the controller is gone. */
void await_verdict(json_t *j, char *verdict, size_t len) {
  json_begin_line(j);
  json_str(j, "type", "awaiting-verdict");
  json_end_line(j);
  verdict[0] = 0;
  fd_set fds;
  struct timeval tv = {15 * 60, 0};
  FD_ZERO(&fds);
  FD_SET(0, &fds);
  if (select(1, &fds, NULL, NULL, &tv) > 0) {
    ssize_t n = read(0, verdict, len - 1);
    verdict[n > 0 ? n : 0] = 0;
  }
}

void step(json_t *j, const char *name, const char *status, const char *detail) {
  json_begin_line(j);
  json_str(j, "type", "step");
  json_str(j, "step", name);
  json_str(j, "status", status);
  json_str(j, "detail", detail);
  json_end_line(j);
}

static int command(json_t *j, int argc, char **argv);

int main(int argc, char **argv) {
  json_t j = {0};
  if (argc >= 2 && strcmp(argv[1], "--stage") == 0) {
    argc--, argv++;
    int rc = stage(&j, &argc, &argv);
    if (rc >= 0) return rc;
  }
  if (argc >= 2 && strcmp(argv[1], "--serve") == 0) {
    argv[1] = argv[0];
    int rc = command(&j, argc - 1, argv + 1);
    return rc == 0 ? serve_next(&j) : rc;
  }
  return command(&j, argc, argv);
}

static int command(json_t *j, int argc, char **argv) {
  const char *cmd = argc >= 2 ? argv[1] : "";
  if (strcmp(cmd, "facts") == 0) return cmd_facts(j, argc, argv);
  if (strcmp(cmd, "apply") == 0) return cmd_apply(j, argc, argv);
  if (strcmp(cmd, "rollback") == 0) return cmd_rollback(j, argc, argv);
  if (strcmp(cmd, "reconcile") == 0) return cmd_reconcile(j, argc, argv);
  if (strcmp(cmd, "pkg-query") == 0) return cmd_pkg_query(j, argc, argv);
  if (strcmp(cmd, "pkg-apply") == 0) return cmd_pkg_apply(j, argc, argv);
  if (strcmp(cmd, "pkg-rollback") == 0) return cmd_pkg_rollback(j, argc, argv);
  if (strcmp(cmd, "pkg-verify") == 0) return cmd_pkg_verify(j, argc, argv);
  if (strcmp(cmd, "version") == 0) {
    puts(HELPER_VERSION);
    return 0;
  }
  return fail(j, "usage", "usage: fleetpatch-helper facts [--packages NAME...] | apply ... | rollback ... | reconcile | pkg-query ... | pkg-apply ... | pkg-rollback ... | pkg-verify NAME=VERSION... | version");
}
