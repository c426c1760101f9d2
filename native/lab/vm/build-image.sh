#!/bin/sh
# Builds the shared initramfs of the lab VMs (root): busybox-static with its applets, dropbear
# and the shared libraries it needs, the virtio network module chain of the kernel, /init and
# an inittab. Usage: build-image.sh CACHE_DIR RELEASE  → CACHE_DIR/image/RELEASE/initramfs.cpio
# (uncompressed newc: the fastest to unpack under TCG). Rebuilt only when this directory's files,
# busybox or dropbear changed. Per-VM identity (host key, authorized_keys) is a second small cpio
# the lab appends to this one (server/lab/vm.ts).
set -eu
cache=$1 rel=$2
here=$(cd "$(dirname "$0")" && pwd)
kroot=$cache/kernel/$rel/root
out=$cache/image/$rel
[ -d "$kroot/lib/modules/$rel" ] || { echo "image: no unpacked kernel $rel in $kroot (run kernel.sh)" >&2; exit 2; }

stamp=$(cat "$here/build-image.sh" "$here/init" "$here/ready" /bin/busybox /usr/sbin/dropbear | sha256sum | cut -d' ' -f1)
if [ -f "$out/initramfs.cpio" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then exit 0; fi
echo "image: building the VM initramfs for $rel" >&2

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
umask 022
cd "$stage"
mkdir -p bin lib/x86_64-linux-gnu lib64 etc/dropbear etc/fleetpatch proc sys dev run tmp root var/lib var/log usr
chmod 700 root
chmod 1777 tmp
ln -s bin sbin
ln -s ../bin usr/bin
ln -s ../bin usr/sbin
ln -s ../lib usr/lib

cp /bin/busybox bin/busybox
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "bin/$a"; done
cp /usr/sbin/dropbear bin/dropbear
for lib in $(ldd /usr/sbin/dropbear | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
  case $lib in
    */ld-linux-x86-64.so.2) cp -L "$lib" lib64/ld-linux-x86-64.so.2 ;;
    *) cp -L "$lib" "lib/x86_64-linux-gnu/${lib##*/}" ;;
  esac
done

# the virtio network chain, dependencies first (from modules.dep, made by depmod if absent)
mods=$kroot/lib/modules/$rel
[ -f "$mods/modules.dep" ] || depmod -b "$kroot" "$rel"
order=""
add() {
  local path dep n
  path=$(grep -E "(^|/)$(echo "$1" | sed 's/[-_]/[-_]/g')\.ko(\.[a-z]+)?:" "$mods/modules.dep" | head -n 1 | cut -d: -f1)
  [ -n "$path" ] || { echo "image: module $1 not in $mods/modules.dep" >&2; exit 1; }
  case " $order " in *" $path "*) return ;; esac
  for dep in $(grep -E "^$path:" "$mods/modules.dep" | cut -d: -f2); do
    n=${dep##*/}; add "${n%%.ko*}"
  done
  order="$order $path"
}
for m in virtio_pci virtio_net virtio_rng; do add "$m"; done
: > etc/fleetpatch/modules
for path in $order; do
  case $path in *.ko) ;; *) echo "image: compressed module $path is not supported by busybox insmod here" >&2; exit 1 ;; esac
  mkdir -p "lib/modules/$rel/${path%/*}"
  cp "$mods/$path" "lib/modules/$rel/$path"
  echo "$path" >> etc/fleetpatch/modules
done

# modules.dep & co. for the modules present, so busybox modprobe/modinfo work in the guest
for f in modules.order modules.builtin modules.builtin.modinfo; do
  [ -f "$mods/$f" ] && cp "$mods/$f" "lib/modules/$rel/$f"
done
depmod -b "$stage" "$rel"

cp "$here/init" init
cp "$here/ready" etc/fleetpatch/ready
chmod 755 init etc/fleetpatch/ready
cat > etc/inittab <<'TAB'
::respawn:/bin/dropbear -F -E -s -j -k -p 22 -r /etc/dropbear/dropbear_ed25519_host_key
::once:/etc/fleetpatch/ready
::ctrlaltdel:/bin/poweroff -f
TAB
echo 'root:x:0:0:root:/root:/bin/sh' > etc/passwd
echo 'root:*:19000:0:99999:7:::' > etc/shadow
chmod 600 etc/shadow
printf 'root:x:0:\ntty:x:5:\n' > etc/group
echo /bin/sh > etc/shells
echo 'passwd: files' > etc/nsswitch.conf
printf '127.0.0.1 localhost\n' > etc/hosts
{
  grep -Ev '^(PRETTY_NAME|VARIANT|VARIANT_ID)=' /etc/os-release
  pretty=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)
  echo "PRETTY_NAME=\"$pretty [fleetpatch lab VM @NAME@]\""
  echo 'VARIANT="fleetpatch lab VM"'
  echo 'VARIANT_ID=fleetpatch-vm'
} > etc/os-release

mkdir -p "$out"
find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet > "$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
echo "$stamp" > "$out/stamp"
