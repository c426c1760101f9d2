#ifndef FP_HELPER_H
#define FP_HELPER_H
#include "json.h"
#include <stdbool.h>
#include <stddef.h>

#define HELPER_VERSION "0.2.0"
#define LIVEPATCH_SYSFS "/sys/kernel/livepatch"

/* util.c */
/* fsync of a directory (makes a new or renamed entry in it durable); -1 with errno on failure */
int sync_dir(const char *path);
char *read_small_file(const char *path, size_t max);
long read_long(const char *path, long fallback);
int write_string(const char *path, const char *value); /* 0, or errno */
long long now_ms(void);
void sleep_ms(long ms);
bool valid_token(const char *s); /* [A-Za-z0-9._:+~-]{1,128}: names, versions, ids */
const char *arg_value(int argc, char **argv, const char *name);
bool arg_flag(int argc, char **argv, const char *name);
const char *state_dir(void); /* /var/lib/fleetpatch (from /proc/self/exe: DIR/bin/helper-SHA) */
char *kernel_build_id(void);
/* Writes a reason into `why`; returns 1 (failed). */
int reason(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* sha256.c */
#include <stdint.h>
typedef struct {
  uint32_t h[8];
  uint64_t len;
  unsigned char buf[64];
} sha256_t;
void sha256_init(sha256_t *s);
void sha256_update(sha256_t *s, const void *data, size_t n);
void sha256_hex(sha256_t *s, char out[65]);

/* stage.c: the payloads before a command (`--stage SRC SHAS -- COMMAND ARGS`); -1 when the
 * command is to run (argc/argv then start at it), else the exit status */
int stage(json_t *j, int *argc, char ***argv);
int hash_file(const char *path, char got[65]); /* 1 when PATH is a regular file, hashed into got */

/* serve.c: after `--serve COMMAND` succeeded, the next command from stdin (exec'd; returns only
 * when there is none, 0, or after reporting why not) */
int serve_next(json_t *j);

/* main.c */
int fail(json_t *j, const char *code, const char *message);
int failf(json_t *j, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void step(json_t *j, const char *name, const char *status, const char *detail);
int result_outcome(json_t *j, const char *outcome); /* ok result line with an outcome */
void await_verdict(json_t *j, char *verdict, size_t len);

/* lock.c: the host lock, held until the process exits */
bool take_host_lock(json_t *j);

/* journal.c: fsync'd, append-only record of every apply/rollback intent and outcome */
typedef struct {
  char op[129], state[33], bundle[129], patch[129], sha[129];
  long long serial, time_ms;
} journal_entry;
int journal_append(json_t *j, const char *op, const char *state, const char *bundle, long long serial, const char *patch, const char *sha);
/* Latest entry per op, oldest first; returns count (entries malloc'd into *out). */
int journal_latest(journal_entry **out);
const char *journal_state_of(const char *op, journal_entry *all, int n);
bool journal_state_terminal(const char *state);
void journal_json(json_t *j, const char *key);

/* livepatch.c */
bool lp_exists(const char *patch);
long lp_value(const char *patch, const char *file);
bool lp_objects_patched(const char *patch, char *why, size_t why_len, char *note, size_t note_len);
bool lp_any_transition(char *which, size_t len);
/* Lists the tasks not yet at `target` as JSON under `key`, and as "pid N (comm), …" in summary. */
void lp_blocking_tasks(json_t *j, const char *key, int target, char *summary, size_t summary_len);
int lp_disable_and_unload(json_t *j, const char *patch, long timeout_ms);

/* apply.c: rolls back every journaled operation that was interrupted */
int reconcile_stale(json_t *j, long timeout_ms);

/* packages.c */
int pkg_reconcile(json_t *j, const journal_entry *e);
/* dpkg's database state (status file identity), "" while a change is in flight */
void dpkg_db_state(char *buf, size_t len);
#define MAX_PKG_NAMES 64
/* dpkg.c: dpkg -i (0; 3 when dpkg's lock is held and nothing changed; else 1) and the verify
 * after it (0 when every NAME=VERSION is installed and nothing is left half-done); `why` says why not */
int dpkg_install(char **debs, int n, char *why, size_t why_len);
int dpkg_verify(char **want, int n, char *why, size_t why_len);
/* query NAME...: dpkg-db, package and dpkg lines; 0, or non-zero with `why` set */
int pkg_query(json_t *j, char **names, int n, char *why, size_t why_len);
/* the previous state of each NAME=[PREVIOUS_DEB][=KNOWN] into DIR/prev.list.tmp and DIR/NAME.deb */
int pkg_save(json_t *j, const char *dir, char **specs, int n, char *why, size_t why_len);
/* pkg.sh SUB ARGS (its JSON lines passed through); on failure its message in `why` */
int run_pkg(const char *sub, char **args, int nargs, char *why, size_t why_len);
/* holders.c: processes still mapping or holding deleted files of these packages (holder lines) */
void pkg_holders(json_t *j, char **names, int n);

/* commands */
int cmd_facts(json_t *j, int argc, char **argv);
int cmd_apply(json_t *j, int argc, char **argv);
int cmd_verify(json_t *j, int argc, char **argv);
int cmd_commit(json_t *j, int argc, char **argv);
int cmd_rollback(json_t *j, int argc, char **argv);
int cmd_reconcile(json_t *j, int argc, char **argv);
int cmd_pkg_query(json_t *j, int argc, char **argv);
int cmd_pkg_apply(json_t *j, int argc, char **argv);
int cmd_pkg_rollback(json_t *j, int argc, char **argv);
int cmd_pkg_verify(json_t *j, int argc, char **argv);
#endif
