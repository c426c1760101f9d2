#!/bin/sh
# Builds the example .deb packages with dpkg-deb into native/packages/build/:
#   fp-demo 1.0 (installed on lab hosts), 1.1 (good), 1.2 (installs, then its check fails);
#   fp-demo-lib 1.0 / 1.1 (a real shared library) and fp-demo-app 1.1 (Depends: fp-demo-lib >= 1.1).
#   fp-demo-clash 1.0 ships /usr/bin/fp-demo too: dpkg refuses it while fp-demo is installed.
# Every maintainer script touches /run/fp-demo-at-<package>-<version>-<script> and waits while
# /run/fp-demo-hold-<package>-<version>-<script> exists: a hook for tests that must catch
# fleetpatch in the middle of dpkg (it does nothing otherwise).
# Skips the build when nothing changed since the last one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$here/build
stamp=$(cat "$here/build.sh" "$here"/src/* | sha256sum | cut -d' ' -f1)
[ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pkg NAME VERSION ARCH [DEPENDS]: starts a package tree in $root with control and hold hooks.
pkg() {
  root=$work/$1_$2
  mkdir -p "$root/DEBIAN"
  {
    echo "Package: $1"
    echo "Version: $2"
    echo "Architecture: $3"
    echo "Maintainer: fleetpatch lab <lab@fleetpatch.invalid>"
    echo "Section: misc"
    echo "Priority: optional"
    [ -n "${4:-}" ] && echo "Depends: $4"
    echo "Description: fleetpatch example package $1 $2"
    echo " Built by native/packages/build.sh for the lab and the tests."
  } > "$root/DEBIAN/control"
  for script in preinst postinst prerm postrm; do
    printf '#!/bin/sh\ntouch /run/fp-demo-at-%s-%s-%s\nwhile [ -e /run/fp-demo-hold-%s-%s-%s ]; do sleep 0.1; done\nexit 0\n' "$1" "$2" "$script" "$1" "$2" "$script" > "$root/DEBIAN/$script"
    chmod 755 "$root/DEBIAN/$script"
  done
}

build() {
  dpkg-deb --root-owner-group -Zxz -b "$root" "$out/$(basename "$root")_$1.deb" >/dev/null
}

for v in 1.0 1.1 1.2; do
  pkg fp-demo $v all
  mkdir -p "$root/usr/bin" "$root/opt/fp-demo" "$root/etc"
  say="fp-demo $v"
  [ $v = 1.2 ] && say="fp-demo BROKEN"
  printf '#!/bin/sh\necho "%s"\n' "$say" > "$root/usr/bin/fp-demo"
  chmod 755 "$root/usr/bin/fp-demo"
  echo "$v" > "$root/opt/fp-demo/VERSION"
  echo "# fp-demo configuration (a conffile), shipped by $v" > "$root/etc/fp-demo.conf"
  echo /etc/fp-demo.conf > "$root/DEBIAN/conffiles"
  build all
done

for v in 1.0 1.1; do
  pkg fp-demo-lib $v amd64
  mkdir -p "$root/usr/lib/x86_64-linux-gnu"
  sed "s/@VERSION@/$v/" "$here/src/libfpdemo.c" > "$work/libfpdemo.c"
  gcc -shared -fPIC -O2 -Wl,-soname,libfpdemo.so.1 -o "$root/usr/lib/x86_64-linux-gnu/libfpdemo.so.1" "$work/libfpdemo.c"
  build amd64
done

pkg fp-demo-app 1.1 all "fp-demo-lib (>= 1.1)"
mkdir -p "$root/usr/bin"
printf '#!/bin/sh\necho "fp-demo-app 1.1 with $(cat /opt/fp-demo/VERSION 2>/dev/null || echo no-fp-demo)"\n' > "$root/usr/bin/fp-demo-app"
chmod 755 "$root/usr/bin/fp-demo-app"
build all

pkg fp-demo-clash 1.0 all
mkdir -p "$root/usr/bin"
printf '#!/bin/sh\necho clash\n' > "$root/usr/bin/fp-demo"
chmod 755 "$root/usr/bin/fp-demo"
build all

echo "$stamp" > "$out/.stamp"
