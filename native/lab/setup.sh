#!/bin/sh
# Prepares this machine for fleetpatch and its lab, idempotently and quickly when nothing is
# missing: Debian packages (as root), node modules (npm ci when package-lock.json changed), and
# the helper (make). Called by `npm test`, `npm run demo` and .ci/run.
set -eu
cd "$(dirname "$0")/../.."

PACKAGES="openssh-server openssh-client iproute2 util-linux procps gcc make libc6-dev g++ python3"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root:$missing" >&2
    exit 2
  fi
  echo "setup: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

stamp=node_modules/.fleetpatch-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci (compiles better-sqlite3: a few minutes the first time)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

make -s -C native/helper
