#!/bin/sh
# Prepares this machine for fleetpatch and its lab, idempotently and quickly when nothing is
# missing: Debian packages (as root), node modules (npm ci when package-lock.json changed), the
# helper (make), the lab VMs' kernel and guest image (native/lab/vm/prepare.sh: the newest Debian
# linux-headers-6.1.0-N-amd64 installed, the matching linux-image unpacked, never installed, under
# /var/cache/fleetpatch-lab) and the example livepatch modules built for that kernel
# (native/livepatch/build.sh). Called by `npm test`, `npm run demo` and .ci/run.
set -eu
cd "$(dirname "$0")/../.."

PACKAGES="openssh-server openssh-client iproute2 nftables util-linux procps gcc make libc6-dev musl-tools g++ python3
  qemu-system-x86 busybox-static dropbear-bin cpio xz-utils zstd kmod binutils sudo openssl ansible-core chromium"
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
sh native/packages/build.sh

# Lab VMs (qemu) and the example livepatch modules: root only (apt, /var/cache).
if [ "$(id -u)" = 0 ]; then
  sh native/lab/vm/prepare.sh
  sh native/livepatch/build.sh
elif [ ! -f "${FLEETPATCH_LAB_CACHE:-/var/cache/fleetpatch-lab}/kernel.json" ]; then
  echo "setup: the lab VMs' kernel is not prepared; run this script as root once" >&2
fi
