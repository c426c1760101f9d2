#!/bin/sh
# Builds the example livepatch modules out of tree against Debian's kernel headers:
#   build.sh [RELEASE [BUILD_ID]]  → native/livepatch/build/<release>/*.ko + modules.json
# Defaults: the lab kernel chosen by native/lab/vm/prepare.sh ($FLEETPATCH_LAB_CACHE, default
# /var/cache/fleetpatch-lab: kernel.json, and kernel/<release>/build-id, the GNU build-id read
# from the vmlinux inside that release's vmlinuz). Every module embeds that build-id as
# MODULE_INFO(fleetpatch_build_id); fp_wrongbuild embeds 000…001 instead. Skips the build when
# the sources, release and build-id are those of the last build.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${FLEETPATCH_LAB_CACHE:-/var/cache/fleetpatch-lab}
json_field() { sed -n "s/^ *\"$1\": \"\\(.*\\)\",\{0,1\}$/\\1/p" "$cache/kernel.json"; }
rel=${1:-}
if [ -z "$rel" ]; then
  [ -f "$cache/kernel.json" ] || { echo "livepatch: no $cache/kernel.json; run native/lab/setup.sh (root) or pass RELEASE BUILD_ID" >&2; exit 2; }
  rel=$(json_field release)
fi
build_id=${2:-}
[ -n "$build_id" ] || build_id=$(cat "$cache/kernel/$rel/build-id" 2>/dev/null || true)
echo "$build_id" | grep -Eq '^[0-9a-f]{40}$' || { echo "livepatch: no 40-hex build-id for $rel (pass it as the second argument)" >&2; exit 2; }
uname_v=$(cat "$cache/kernel/$rel/uname-v" 2>/dev/null || true)
headers=/usr/src/linux-headers-$rel
[ -f "$headers/Makefile" ] || { echo "livepatch: $headers is missing (apt-get install linux-headers-$rel)" >&2; exit 2; }

out=$here/build/$rel
stamp=$( (cd "$here/src" && cat ./* && echo "$rel $build_id $uname_v" && cat "$here/build.sh") | sha256sum | cut -d' ' -f1)
[ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && [ -f "$out/modules.json" ] && exit 0

echo "livepatch: building the example modules for $rel (build-id $build_id)" >&2
mkdir -p "$out"
for f in "$here"/src/*; do cmp -s "$f" "$out/${f##*/}" || cp "$f" "$out/"; done
make -s -C "$headers" M="$out" FP_BUILD_ID="$build_id" modules >"$out/build.log" 2>&1 || {
  cat "$out/build.log" >&2
  exit 1
}

modules="fp_good fp_wrongbuild fp_checkfail fp_stall_target fp_stall fp_cumulative_v1 fp_cumulative_v2"
entries=""
for m in $modules; do
  ko=$out/$m.ko
  vermagic=$(modinfo -F vermagic "$ko")
  got=$(modinfo -F fleetpatch_build_id "$ko")
  want=$build_id
  [ "$m" = fp_wrongbuild ] && want=0000000000000000000000000000000000000001
  case "$vermagic" in "$rel "*) ;; *) echo "livepatch: $m.ko has vermagic '$vermagic', not for $rel" >&2; exit 1 ;; esac
  [ "$got" = "$want" ] || { echo "livepatch: $m.ko has fleetpatch_build_id '$got', expected $want" >&2; exit 1; }
  strip --strip-debug "$ko"
  livepatch=false
  [ "$(modinfo -F livepatch "$ko")" = Y ] && livepatch=true
  entries="$entries${entries:+,}
    {\"name\": \"$m\", \"file\": \"$m.ko\", \"sha256\": \"$(sha256sum "$ko" | cut -d' ' -f1)\", \"size\": $(stat -c %s "$ko"), \"livepatch\": $livepatch, \"fleetpatchBuildId\": \"$got\", \"vermagic\": \"$vermagic\"}"
done
cat > "$out/modules.json" <<JSON
{
  "release": "$rel",
  "unameV": "$uname_v",
  "buildId": "$build_id",
  "modules": [$entries
  ]
}
JSON
echo "$stamp" > "$out/.stamp"
