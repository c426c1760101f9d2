# fleetpatch-helper's package operations, run by the helper (which holds the host lock and writes
# the journal) as: sh -c "$THIS" fleetpatch-pkg SUBCOMMAND ARGS...
# Arguments are validated tokens (package names, versions, paths under the state directory).
# Output: JSON lines starting with {"fleetpatch":1 ; exit status 0 = done.
set -u
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
sub=$1; shift
# JSON string content; plain printable text (names, versions, most details) without a process
esc() {
  case "$1" in
    *[\\\"]*|*[![:print:]]*) printf '%s' "$1" | tr -d '\000-\037' | sed 's/[\\"]/\\&/g';;
    *) printf '%s' "$1";;
  esac
}
line() { printf '{"fleetpatch":1,"type":"%s",%s}\n' "$1" "$2"; }
die() { line pkg-error "\"message\":\"$(esc "$1")\""; exit 1; }

nl='
'
# One dpkg-query answers for every package asked (or all): a line "SAB|NAME|VERSION|ARCH|" per
# package, SAB being dpkg's three-letter status (desired state, state, error flag)
ROW_FORMAT='${db:Status-Abbrev}|${Package}|${Version}|${Architecture}|\n'

# row NAME: sets version and arch from $rows when NAME is installed (any desired state); else fails.
# For a few rows only (the pattern match is quadratic in dash).
row() {
  r=${rows#*"$nl"?"i |$1|"}
  [ "$r" != "$rows" ] || return 1
  r=${r%%"$nl"*} version=${r%%|*} r=${r#*|} arch=${r%%|*}
}

# installed NAME: row NAME from a dpkg-query of NAME alone
installed() {
  rows=$nl$(dpkg-query -W -f="$ROW_FORMAT" "$1" 2>/dev/null)$nl
  row "$1"
}

# Whether dpkg knows NAME in any state but not-installed (installed, half-installed, config-files…).
known() {
  s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
  [ -n "$s" ] && [ "$s" != "un " ]
}

# Rebuilds the installed package NAME as a .deb at OUT from its files and dpkg's control data,
# the way dpkg-repack does; refuses when dpkg --verify finds a changed or missing file.
repack() (
  umask 022
  name=$1 out=$2
  changed=$(dpkg --verify "$name" 2>&1 | grep -v ' c /' | head -n 3)
  [ -z "$changed" ] || { echo "installed files of $name differ from dpkg's record: $changed"; return 1; }
  tmp=$(mktemp -d) || return 1
  chmod 755 "$tmp"
  mkdir -m 755 "$tmp/DEBIAN"
  dpkg-query -s "$name" | awk '/^(Status|Conffiles|Config-Version):/ {skip=1; next} /^[^ ]/ {skip=0} !skip' > "$tmp/DEBIAN/control"
  info=/var/lib/dpkg/info
  arch=$(dpkg-query -W -f='${Architecture}' "$name")
  for f in preinst postinst prerm postrm conffiles triggers shlibs symbols templates config; do
    for src in "$info/$name.$f" "$info/$name:$arch.$f"; do
      [ -f "$src" ] && cp -p "$src" "$tmp/DEBIAN/$f"
    done
  done
  dpkg-query -L "$name" | grep '^/' | while IFS= read -r p; do
    [ "$p" = /. ] && continue
    if [ -d "$p" ] && [ ! -L "$p" ]; then mkdir -p "$tmp$p" && chmod "$(stat -c %a "$p")" "$tmp$p" && chown "$(stat -c %u:%g "$p")" "$tmp$p"
    elif [ -e "$p" ] || [ -L "$p" ]; then mkdir -p "$tmp${p%/*}" && cp -a "$p" "$tmp$p"
    fi
  done
  dpkg-deb -b "$tmp" "$out" >/dev/null 2>"$tmp.err" || { cat "$tmp.err"; rm -rf "$tmp" "$tmp.err"; return 1; }
  rm -rf "$tmp" "$tmp.err"
)

case "$sub" in
repack)
  # repack NAME OUT: NAME rebuilt from its installed files as a .deb at OUT (the save's last resort)
  why=$(repack "$1" "$2") || die "$why"
  ;;
restore)
  # restore OPDIR: back to exactly the state recorded by save (absent → purged, else reinstalled)
  dir=$1
  [ -f "$dir/prev.list" ] || { line restored '"changed":false'; exit 0; }
  purge= debs=
  while read -r name v src; do
    if [ "$v" = absent ]; then
      if known "$name"; then purge="$purge $name"; fi
    else debs="$debs $dir/$name.deb"; fi
  done < "$dir/prev.list"
  if [ -n "$purge" ]; then
    # shellcheck disable=SC2086
    out=$(dpkg --purge $purge 2>&1) || die "dpkg --purge$purge failed: $(printf '%s' "$out" | tail -n 5)"
  fi
  if [ -n "$debs" ]; then
    # shellcheck disable=SC2086
    out=$(dpkg --force-confdef --force-confold -i $debs 2>&1) || die "reinstalling the previous packages failed: $(printf '%s' "$out" | tail -n 5)"
  fi
  while read -r name v src; do
    if [ "$v" = absent ]; then ! known "$name" || die "$name is still known to dpkg after purge"
    else installed "$name" && [ "$version" = "$v" ] || die "$name is not back at $v"; fi
  done < "$dir/prev.list"
  line restored '"changed":true'
  ;;
*) die "unknown package subcommand $sub" ;;
esac
