#!/bin/sh
# Chooses, fetches and unpacks the Debian kernel the lab VMs boot and the example livepatch
# modules are built for, idempotently (root). Usage: kernel.sh CACHE_DIR
#
# On a fresh machine: picks the newest linux-headers-6.1.0-N-amd64 that apt offers, installs it
# (headers do not trigger an initramfs rebuild), downloads the matching linux-image .deb with
# `apt-get download` (never installs it: that would rebuild an initramfs, slowly) and unpacks it
# with `dpkg-deb -x`. Then reads the vmlinux GNU build-id (decompressing the vmlinux inside
# vmlinuz and reading its NT_GNU_BUILD_ID note) and `uname -v` (from linux_banner).
#
# Writes CACHE_DIR/kernel/<release>/{root/,vmlinux,build-id,uname-v,version} and prints the
# release. Once done for a release it is not redone; the release chosen is remembered in
# CACHE_DIR/release (delete that file to pick the newest again).
set -eu
exec 3>&1 1>&2 # stdout carries only the release; apt's chatter goes to stderr
cache=$1
mkdir -p "$cache"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

headers_ok() { dpkg-query -W -f='${Status}' "linux-headers-$1" 2>/dev/null | grep -q 'install ok installed'; }

rel=""
[ -f "$cache/release" ] && rel=$(cat "$cache/release")
if [ -z "$rel" ]; then
  pick() { apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sed 's/^linux-headers-//' | sort -V | tail -n 1; }
  rel=$(pick)
  if [ -z "$rel" ]; then apt-get update -qq; rel=$(pick); fi
  [ -n "$rel" ] || { echo "kernel: apt offers no linux-headers-6.1.0-N-amd64" >&2; exit 2; }
fi
kdir=$cache/kernel/$rel
if [ -f "$kdir/done" ] && headers_ok "$rel"; then echo "$rel" >&3; exit 0; fi

echo "kernel: preparing $rel in $kdir" >&2
if ! headers_ok "$rel"; then
  apt-get install -y -qq --no-install-recommends "linux-headers-$rel" >/dev/null || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "linux-headers-$rel" >/dev/null
  }
fi
version=$(dpkg-query -W -f='${Version}' "linux-headers-$rel")

mkdir -p "$cache/debs"
deb=""
for d in "$cache/debs" /var/cache/fleetpatch-kernel /var/cache/apt/archives; do
  for f in "$d"/linux-image-"$rel"_"$version"_amd64.deb; do [ -f "$f" ] && deb=$f && break 2; done
done
if [ -z "$deb" ]; then
  (cd "$cache/debs" && apt-get download "linux-image-$rel=$version" 2>/dev/null) || {
    apt-get update -qq
    (cd "$cache/debs" && apt-get download "linux-image-$rel=$version")
  }
  deb=$cache/debs/linux-image-${rel}_${version}_amd64.deb
  [ -f "$deb" ] || { echo "kernel: apt-get download gave no $deb" >&2; exit 1; }
fi

rm -rf "$kdir"
mkdir -p "$kdir"
dpkg-deb -x "$deb" "$kdir/root"
img=$kdir/root/boot/vmlinuz-$rel
[ -f "$img" ] || { echo "kernel: $deb has no /boot/vmlinuz-$rel" >&2; exit 1; }

# bzImage: the compressed vmlinux starts payload_offset (le32 at 0x248) bytes after the setup
# sectors ((setup_sects at 0x1f1, 0 meaning 4) + 1) * 512.
setup_sects=$(od -An -tu1 -j 497 -N1 "$img" | tr -d ' ')
[ "$setup_sects" = 0 ] && setup_sects=4
payload=$(od -An -tu4 -j 584 -N4 "$img" | tr -d ' ')
off=$(( (setup_sects + 1) * 512 + payload ))
magic=$(od -An -tx1 -j "$off" -N4 "$img" | tr -d ' \n')
case $magic in
  fd377a58) dec="xz -dc --single-stream" ;;
  28b52ffd) dec="zstd -dcq" ;;
  1f8b08*) dec="gzip -dc" ;;
  *) echo "kernel: unknown compression (magic $magic) in $img" >&2; exit 1 ;;
esac
# zstd/gzip complain about the trailing bytes after the payload; the output is complete.
tail -c +"$((off + 1))" "$img" | $dec > "$kdir/vmlinux" 2>/dev/null || true
build_id=$(readelf -n "$kdir/vmlinux" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p' | head -n 1)
echo "$build_id" | grep -Eq '^[0-9a-f]{40}$' || { echo "kernel: no GNU build-id in the vmlinux of $img" >&2; exit 1; }
banner=$(strings -n 20 "$kdir/vmlinux" | grep -m 1 "^Linux version $rel .*) #[0-9]")
echo "$build_id" > "$kdir/build-id"
echo "$banner" | sed 's/.*) \(#.*\)$/\1/' > "$kdir/uname-v"
echo "$version" > "$kdir/version"
touch "$kdir/done"
echo "$rel" > "$cache/release"
echo "$rel" >&3
