#include "helper.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

/* A non-blocking flock on DIR/lock: a second fleetpatch operation on the same host is refused
 * at once (host-busy) instead of racing the first. The fd stays open until the process exits. */
bool take_host_lock(json_t *j) {
  char path[4200];
  snprintf(path, sizeof path, "%s/lock", state_dir());
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    failf(j, "helper-failed", "cannot open %s", path);
    return false;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    fail(j, "host-busy", "another fleetpatch operation holds this host's lock (" "/var/lib/fleetpatch/lock" "); try again when it has finished");
    return false;
  }
  return true;
}
