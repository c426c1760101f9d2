/** Running the helper on a host: check that fleetpatch's directory can be trusted, push the
 * helper only when its content-addressed copy is absent, verify its hash, then run it — one SSH
 * exec when the helper is already there, two on first contact. */
import { AppError } from '../errors.ts';
import type { SshConnection } from '../ssh/connect.ts';
import { describe } from '../ssh/connect.ts';
import { shScript } from '../ssh/quote.ts';
import { helperBinary } from './binary.ts';
import { helperResult, parseHelperLines, type HelperLine } from './protocol.ts';

/** POSIX sh (bash, dash and busybox alike). $1 remote dir, $2 helper sha256, $3 run|upload,
 * the rest: helper arguments. Every refusal is a result line the controller turns into an error. */
const PARENT = '${p%/*}';
const SCRIPT = String.raw`
set -u
d=$1 sha=$2 mode=$3; shift 3
esc() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/[\\"]/\\&/g'; }
fail() { printf '{"fleetpatch":1,"type":"result","ok":false,"error":{"code":"%s","message":"%s"}}\n' "$1" "$(esc "$2")"; exit 1; }
need() { printf '{"fleetpatch":1,"type":"need-helper","arch":"%s"}\n' "$(esc "$(uname -m)")"; exit 0; }
uid=$(id -u)
[ "$uid" = 0 ] || fail remote-user "fleetpatch needs root on the host; connected as uid $uid"
umask 077
bin=$d/bin exe=$d/bin/helper-$sha
if [ "$mode" = upload ]; then mkdir -p "$bin" || fail helper-upload "cannot create $bin"; fi
[ -e "$d" ] || need
p=$d
while [ -n "$p" ]; do
  [ -L "$p" ] && fail helper-insecure "$p is a symbolic link; fleetpatch refuses to use $d"
  [ -n "$(find "$p" -maxdepth 0 \( ! -user 0 -o -perm -020 -o -perm -002 \) 2>/dev/null)" ] &&
    fail helper-insecure "$p is not owned by root or is writable by group or others ($(ls -ld "$p" 2>&1)); a local user could plant code that root runs. Fix the owner and mode (chown root:root, chmod go-w) or remove $d"
  p=${PARENT}
done
bad=$(find "$d" \( ! -user 0 -o -perm -020 -o -perm -002 \) -print 2>&1 | head -n 1)
[ -z "$bad" ] || fail helper-insecure "$bad is not owned by root or is writable by group or others ($(ls -ld "$bad" 2>&1)); a local user could plant code that root runs. Fix the owner and mode (chown root:root, chmod go-w) or remove $d"
if [ "$mode" = upload ]; then
  tmp=$bin/.upload-$sha.$$
  if ! cat > "$tmp"; then rm -f "$tmp"; fail helper-upload "writing $tmp failed (disk full?)"; fi
  got=$(sha256sum < "$tmp" | cut -d' ' -f1)
  [ "$got" = "$sha" ] || { rm -f "$tmp"; fail helper-upload "uploaded helper has sha256 $got, expected $sha"; }
  chmod 700 "$tmp" && mv -f "$tmp" "$exe" || { rm -f "$tmp"; fail helper-upload "cannot install $exe"; }
  printf '{"fleetpatch":1,"type":"uploaded"}\n'
fi
[ -f "$exe" ] && [ ! -L "$exe" ] || need
got=$(sha256sum < "$exe" | cut -d' ' -f1)
[ "$got" = "$sha" ] || fail helper-insecure "$exe has sha256 $got, expected $sha: it was modified on the host; remove it and investigate"
exec "$exe" "$@"
`;

export interface HelperRun {
  lines: HelperLine[];
  result: HelperLine;
  /** Whether this call pushed the helper. */
  uploaded: boolean;
}

export interface HelperOptions {
  remoteDir: string;
  timeoutMs?: number;
  /** The host's architecture when known (from stored facts); x86_64 otherwise. */
  arch?: string;
}

export async function runHelper(conn: SshConnection, args: string[], opts: HelperOptions): Promise<HelperRun> {
  const host = describe(conn.target);
  let helper = helperBinary(opts.arch ?? 'x86_64');
  const call = async (mode: 'run' | 'upload', stdin?: Buffer) => {
    const res = await conn.exec(shScript(SCRIPT, 'fleetpatch', [opts.remoteDir, helper.sha256, mode, ...args]), {
      ...(stdin ? { stdin } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
    return { lines: parseHelperLines(res.stdout), stderr: res.stderr.toString('utf8') };
  };
  let { lines, stderr } = await call('run');
  const need = lines.find((l) => l.type === 'need-helper');
  let uploaded = false;
  if (need) {
    const arch = typeof need.arch === 'string' ? need.arch : 'x86_64';
    helper = helperBinary(arch);
    ({ lines, stderr } = await call('upload', helper.bytes));
    uploaded = lines.some((l) => l.type === 'uploaded');
    if (lines.some((l) => l.type === 'need-helper')) {
      throw new AppError('helper-upload', `${host}: the helper is still missing after upload`);
    }
  }
  return { lines, result: helperResult(lines, host, stderr), uploaded };
}
