#!/bin/sh
# Everything the lab VMs need on this machine (root), idempotent and quick when done:
# the kernel (kernel.sh), the shared guest initramfs (build-image.sh), then CACHE/kernel.json,
# which server/lab/vm.ts and native/livepatch/build.sh read.
# Usage: prepare.sh [CACHE_DIR]   (default $FLEETPATCH_LAB_CACHE or /var/cache/fleetpatch-lab)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${FLEETPATCH_LAB_CACHE:-/var/cache/fleetpatch-lab}}
rel=$(sh "$here/kernel.sh" "$cache")
sh "$here/build-image.sh" "$cache" "$rel"
k=$cache/kernel/$rel
pvh=false
# an ELF vmlinux with a Xen PHYS32_ENTRY note (type 0x12) boots directly through PVH: no
# decompression of vmlinuz under TCG, ≈3 s less per boot
if readelf -n "$k/vmlinux" 2>/dev/null | grep -q 'Xen.*(0x00000012)'; then pvh=true; fi
json=$(cat <<JSON
{
  "release": "$rel",
  "version": "$(cat "$k/version")",
  "unameV": "$(sed 's/["\\]/\\&/g' "$k/uname-v")",
  "buildId": "$(cat "$k/build-id")",
  "vmlinuz": "$k/root/boot/vmlinuz-$rel",
  "vmlinux": "$k/vmlinux",
  "pvh": $pvh,
  "modules": "$k/root/lib/modules/$rel",
  "headers": "/usr/src/linux-headers-$rel",
  "initramfs": "$cache/image/$rel/initramfs.cpio"
}
JSON
)
if [ "$(cat "$cache/kernel.json" 2>/dev/null)" != "$json" ]; then
  printf '%s\n' "$json" > "$cache/kernel.json.tmp"
  mv "$cache/kernel.json.tmp" "$cache/kernel.json"
fi
