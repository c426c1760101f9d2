/** Running the helper on a host: check that fleetpatch's directory can be trusted, push the helper
 * and payloads only when their content-addressed copies are absent, verify every hash, then run
 * the helper — one SSH exec when everything is cached, three on first contact. */
import { AppError } from '../errors.ts';
import type { Channel, SshConnection } from '../ssh/connect.ts';
import { describe } from '../ssh/connect.ts';
import { shScript } from '../ssh/quote.ts';
import { helperBinary } from './binary.ts';
import { helperResult, parseHelperLines, type HelperLine } from './protocol.ts';
import { tarFiles } from './tar.ts';

const PARENT = '${p%/*}';
const INSECURE = 'is not owned by root or is writable by group or others; a local user could plant code that root runs. Fix the owner and mode (chown root:root, chmod go-w) or remove';

/** POSIX sh (bash, dash and busybox alike). $1 remote dir, $2 helper sha256, $3 run|upload,
 * $4 K, then K payload sha256s, then the helper's arguments. Every refusal is a result line. */
const SCRIPT = String.raw`
set -u
d=$1 sha=$2 mode=$3 k=$4; shift 4
esc() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/[\\"]/\\&/g'; }
fail() { printf '{"fleetpatch":1,"type":"result","ok":false,"error":{"code":"%s","message":"%s"}}\n' "$1" "$(esc "$2")"; exit 1; }
payloads=
while [ "$k" -gt 0 ]; do
  case "$1" in *[!0-9a-f]*|'') fail helper-protocol "bad payload digest";; esac
  payloads="$payloads $1"; shift; k=$((k - 1))
done
uid=$(id -u)
[ "$uid" = 0 ] || fail remote-user "fleetpatch needs root on the host; connected as uid $uid"
umask 077
if [ "$mode" = upload ]; then mkdir -p "$d/bin" "$d/cache" || fail helper-upload "cannot create $d/bin and $d/cache"; fi
p=$d
while [ -n "$p" ]; do
  if [ -e "$p" ]; then
    [ -L "$p" ] && fail helper-insecure "$p is a symbolic link; fleetpatch refuses to use $d"
    [ -n "$(find "$p" -maxdepth 0 \( ! -user 0 -o -perm -020 -o -perm -002 \) 2>/dev/null)" ] && fail helper-insecure "$p ($(ls -ld "$p" 2>&1)) ${INSECURE} $d"
  fi
  p=${PARENT}
done
if [ -e "$d" ]; then
  bad=$(find "$d" \( ! -user 0 -o -perm -020 -o -perm -002 \) -print 2>&1 | head -n 1)
  [ -z "$bad" ] || fail helper-insecure "$bad ($(ls -ld "$bad" 2>&1)) ${INSECURE} $d"
fi
if [ "$mode" = upload ]; then
  tmp=$(mktemp -d "$d/.upload.XXXXXX") || fail helper-upload "cannot create a temporary directory in $d (disk full?)"
  if ! tar -x -f - -C "$tmp" >/dev/null 2>&1; then rm -rf "$tmp"; fail helper-upload "unpacking the upload into $d failed (disk full?)"; fi
  for f in "$tmp"/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || { rm -rf "$tmp"; fail helper-upload "unexpected entry in the upload"; }
    name=${"$"}{f##*/}
    got=$(sha256sum < "$f" | cut -d' ' -f1)
    if [ "$name" = "helper-$got" ]; then chmod 700 "$f" && mv -f "$f" "$d/bin/$name"
    elif [ "$name" = "$got" ]; then chmod 600 "$f" && mv -f "$f" "$d/cache/$name"
    else rm -rf "$tmp"; fail helper-upload "uploaded file $name has sha256 $got: corrupted in transit"; fi || { rm -rf "$tmp"; fail helper-upload "cannot install $name"; }
  done
  rm -rf "$tmp"
  printf '{"fleetpatch":1,"type":"uploaded"}\n'
  exit 0
fi
missing=
check() {
  if [ -f "$1" ] && [ ! -L "$1" ]; then
    got=$(sha256sum < "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || fail helper-insecure "$1 has sha256 $got, expected $2: it was modified on the host; remove it and investigate"
  else
    missing="$missing,\"$2\""
  fi
}
check "$d/bin/helper-$sha" "$sha"
for h in $payloads; do check "$d/cache/$h" "$h"; done
if [ -n "$missing" ]; then
  printf '{"fleetpatch":1,"type":"need","arch":"%s","missing":[%s]}\n' "$(esc "$(uname -m)")" "${"$"}{missing#,}"
  exit 0
fi
exec "$d/bin/helper-$sha" "$@"
`;

export interface Payload {
  sha256: string;
  bytes: Buffer;
}

export interface HelperRun {
  lines: HelperLine[];
  result: HelperLine;
  /** Whether this call pushed anything (the helper or a payload). */
  uploaded: boolean;
}

export interface HelperOptions {
  remoteDir: string;
  timeoutMs?: number;
  /** The host's architecture when known (from stored facts); x86_64 otherwise. */
  arch?: string;
  /** Files the command needs in DIR/cache/<sha256>. */
  payloads?: Payload[];
  /** Sees every protocol line as it arrives and may answer on the helper's stdin (which stays
   * open until the handler ends it); without it the helper's stdin is closed at once. */
  onLine?: (line: HelperLine, channel: Channel) => void;
}

/** Where a payload lives on the host. */
export function payloadPath(remoteDir: string, sha256: string): string {
  return `${remoteDir}/cache/${sha256}`;
}

export async function runHelper(conn: SshConnection, args: string[], opts: HelperOptions): Promise<HelperRun> {
  const host = describe(conn.target);
  let helper = helperBinary(opts.arch ?? 'x86_64');
  const payloads = opts.payloads ?? [];
  const command = (mode: 'run' | 'upload') =>
    shScript(SCRIPT, 'fleetpatch', [opts.remoteDir, helper.sha256, mode, String(payloads.length), ...payloads.map((p) => p.sha256), ...args]);
  const exec = opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {};
  const run = async () => {
    if (!opts.onLine) {
      const res = await conn.exec(command('run'), exec);
      return { lines: parseHelperLines(res.stdout), stderr: res.stderr.toString('utf8') };
    }
    let pending = '';
    const seen: HelperLine[] = [];
    const res = await conn.interact(
      command('run'),
      (chunk, channel) => {
        pending += chunk.toString('utf8');
        const complete = pending.slice(0, pending.lastIndexOf('\n') + 1);
        pending = pending.slice(complete.length);
        for (const line of parseHelperLines(complete)) {
          seen.push(line);
          if (line.type === 'need') channel.end();
          else opts.onLine!(line, channel);
        }
      },
      exec,
    );
    return { lines: parseHelperLines(res.stdout), stderr: res.stderr.toString('utf8') };
  };
  let { lines, stderr } = await run();
  const need = lines.find((l) => l.type === 'need');
  let uploaded = false;
  if (need) {
    const missing = new Set(Array.isArray(need.missing) ? need.missing : []);
    if (typeof need.arch === 'string' && need.arch !== helper.arch) helper = helperBinary(need.arch);
    const files = [
      ...(missing.has(helper.sha256) || need.arch !== (opts.arch ?? 'x86_64') ? [{ name: `helper-${helper.sha256}`, bytes: helper.bytes, mode: 0o700 }] : []),
      ...payloads.filter((p) => missing.has(p.sha256)).map((p) => ({ name: p.sha256, bytes: p.bytes, mode: 0o600 })),
    ];
    const up = await conn.exec(command('upload'), { ...exec, stdin: tarFiles(files) });
    const upLines = parseHelperLines(up.stdout);
    if (!upLines.some((l) => l.type === 'uploaded')) helperResult(upLines, host, up.stderr.toString('utf8'));
    uploaded = true;
    ({ lines, stderr } = await run());
    if (lines.some((l) => l.type === 'need')) throw new AppError('helper-upload', `${host}: files are still missing after upload`);
  }
  return { lines, result: helperResult(lines, host, stderr), uploaded };
}
