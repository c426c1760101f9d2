/** Running the helper on a host: check that fleetpatch's directory can be trusted, push the helper
 * and payloads only when their content-addressed copies are absent, verify every hash, then run
 * the helper — one SSH exec when everything is cached, three on first contact. */
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { Channel, ExecResult, SshConnection } from '../ssh/connect.ts';
import { commandFailed, describe } from '../ssh/connect.ts';
import { shScript } from '../ssh/quote.ts';
import { helperBinary } from './binary.ts';
import { helperResult, parseHelperLines, type HelperLine } from './protocol.ts';
import { tarFiles } from './tar.ts';

const PARENT = '${p%/*}';
const INSECURE = 'is not owned by root or is writable by group or others; a local user could plant code that root runs. Fix the owner and mode (chown root:root, chmod go-w) or remove';

/** POSIX sh (bash, dash and busybox alike). $1 remote dir, $2 helper sha256, $3 run|upload,
 * $4 where an upload comes from (`-` stdin, or a tar file fleetpatch put in /tmp over SFTP), $5 K,
 * then K payload sha256s, then the helper's arguments. Every refusal is a result line; a remote
 * dir on a noexec mount is reported (`noexec`) so the controller can use its fallback dir. */
const SCRIPT = String.raw`
set -u
d=$1 sha=$2 mode=$3 src=$4 k=$5; shift 5
esc() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/[\\"]/\\&/g'; }
fail() { printf '{"fleetpatch":1,"type":"result","ok":false,"error":{"code":"%s","message":"%s"}}\n' "$1" "$(esc "$2")"; exit 1; }
payloads=
while [ "$k" -gt 0 ]; do
  case "$1" in *[!0-9a-f]*|'') fail helper-protocol "bad payload digest";; esac
  payloads="$payloads $1"; shift; k=$((k - 1))
done
case "$src" in -|/tmp/.fleetpatch-upload-[0-9a-f]*.tar) ;; *) fail helper-protocol "bad upload source";; esac
[ "$src" = - ] || trap 'rm -f "$src"' EXIT
uid=$(id -u)
[ "$uid" = 0 ] || fail remote-user "fleetpatch needs root on the host but runs as uid $uid ($(id -un)); set ansible_become=true (sudo) for this host, or log in as root"
umask 077
p=$d
while [ ! -e "$p" ]; do p=${PARENT}; [ -n "$p" ] || p=/; done
real=$(cd "$p" && pwd -P) || fail insecure-remote-dir "cannot enter $p"
if awk -v p="$real" '{ m = $2; gsub(/\\040/, " ", m); if ((p == m || m == "/" || index(p, m "/") == 1) && length(m) >= best) { best = length(m); o = $4 } } END { exit !(("," o ",") ~ /,noexec,/) }' /proc/mounts; then
  printf '{"fleetpatch":1,"type":"noexec","dir":"%s"}\n' "$(esc "$d")"
  exit 0
fi
if [ "$mode" = upload ]; then mkdir -p "$d/bin" "$d/cache" || fail helper-upload "cannot create $d/bin and $d/cache"; fi
p=$d
while [ -n "$p" ]; do
  if [ -e "$p" ]; then
    [ -L "$p" ] && fail insecure-remote-dir "$p is a symbolic link; fleetpatch refuses to use $d"
    [ -n "$(find "$p" -maxdepth 0 \( ! -user 0 -o -perm -020 -o -perm -002 \) 2>/dev/null)" ] && fail insecure-remote-dir "$p ($(ls -ld "$p" 2>&1)) ${INSECURE} $d"
  fi
  p=${PARENT}
done
if [ -e "$d" ]; then
  bad=$(find "$d" \( ! -user 0 -o -perm -020 -o -perm -002 \) -print 2>&1 | head -n 1)
  [ -z "$bad" ] || fail insecure-remote-dir "$bad ($(ls -ld "$bad" 2>&1)) ${INSECURE} $d"
fi
if [ "$mode" = upload ]; then
  tmp=$(mktemp -d "$d/.upload.XXXXXX") || fail helper-upload "cannot create a temporary directory in $d (disk full?)"
  if ! tar -x -f "$src" -C "$tmp" >/dev/null 2>&1; then rm -rf "$tmp"; fail helper-upload "unpacking the upload into $d failed (disk full?)"; fi
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
    [ "$got" = "$2" ] || fail insecure-remote-dir "$1 has sha256 $got, expected $2: it was modified on the host; remove it and investigate"
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
  /** How it was pushed: SFTP when the host has an sftp-server, else exec with the tar on stdin. */
  uploadVia: 'sftp' | 'exec' | null;
  /** The directory used on the host (differs from the configured one on a noexec mount). */
  remoteDir: string;
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

/** The directory fleetpatch uses on this connection's host: fleetpatch_remote_dir or the
 * configured one, or the noexec fallback once the host reported a noexec mount there. */
export function remoteDirFor(conn: SshConnection, configured: string): string {
  const wanted = conn.target.remoteDir ?? configured;
  return (conn.memo.get(`remote-dir:${wanted}`) as string | undefined) ?? wanted;
}

export async function runHelper(conn: SshConnection, args: string[], opts: HelperOptions): Promise<HelperRun> {
  const host = describe(conn.target);
  const wanted = conn.target.remoteDir ?? opts.remoteDir;
  let dir = remoteDirFor(conn, opts.remoteDir);
  let helper = helperBinary(opts.arch ?? 'x86_64');
  const payloads = opts.payloads ?? [];
  // paths the caller computed under the configured dir point into the dir in use
  const helperArgs = () => args.map((a) => (dir !== opts.remoteDir && a.startsWith(`${opts.remoteDir}/`) ? dir + a.slice(opts.remoteDir.length) : a));
  const command = (mode: 'run' | 'upload', src = '-') =>
    shScript(SCRIPT, 'fleetpatch', [dir, helper.sha256, mode, src, String(payloads.length), ...payloads.map((p) => p.sha256), ...helperArgs()]);
  const exec = opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {};
  const run = async (): Promise<{ lines: HelperLine[]; res: ExecResult }> => {
    if (!opts.onLine) {
      const res = await conn.exec(command('run'), exec);
      return { lines: parseHelperLines(res.stdout), res };
    }
    let pending = '';
    const res = await conn.interact(
      command('run'),
      (chunk, channel) => {
        pending += chunk.toString('utf8');
        const complete = pending.slice(0, pending.lastIndexOf('\n') + 1);
        pending = pending.slice(complete.length);
        for (const line of parseHelperLines(complete)) {
          if (line.type === 'need' || line.type === 'noexec') channel.end();
          else opts.onLine!(line, channel);
        }
      },
      exec,
    );
    return { lines: parseHelperLines(res.stdout), res };
  };
  const noexec = (lines: HelperLine[]) => {
    if (!lines.some((l) => l.type === 'noexec')) return false;
    const fallback = conn.settings.noexecRemoteDir;
    if (!fallback || fallback === dir) {
      throw new AppError('config', `${host}: ${dir} is on a noexec mount, so the helper cannot run from it; set noexecRemoteDir in the controller config (a root-owned directory on a mount that allows exec, e.g. /opt/fleetpatch)`);
    }
    dir = fallback;
    conn.memo.set(`remote-dir:${wanted}`, dir);
    return true;
  };
  let { lines, res } = await run();
  if (noexec(lines)) ({ lines, res } = await run());
  const need = lines.find((l) => l.type === 'need');
  let uploadVia: HelperRun['uploadVia'] = null;
  if (need) {
    const missing = new Set(Array.isArray(need.missing) ? need.missing : []);
    if (typeof need.arch === 'string' && need.arch !== helper.arch) helper = helperBinary(need.arch);
    const files = [
      ...(missing.has(helper.sha256) || need.arch !== (opts.arch ?? 'x86_64') ? [{ name: `helper-${helper.sha256}`, bytes: helper.bytes, mode: 0o700 }] : []),
      ...payloads.filter((p) => missing.has(p.sha256)).map((p) => ({ name: p.sha256, bytes: p.bytes, mode: 0o600 })),
    ];
    uploadVia = await uploadFiles(conn, (src) => command('upload', src), tarFiles(files), exec);
    ({ lines, res } = await run());
    if (lines.some((l) => l.type === 'need')) throw new AppError('helper-upload', `${host}: files are still missing after upload`);
  }
  if (!lines.some((l) => l.type === 'result') && res.code !== 0) throw commandFailed(host, 'the helper', res);
  return { lines, result: helperResult(lines, host, res.stderr.toString('utf8')), uploaded: uploadVia !== null, uploadVia, remoteDir: dir };
}

/** Pushes one tar stream: over SFTP into a fresh file in /tmp when the host has an sftp-server
 * (the script, as root, unpacks and deletes it), else on the upload command's stdin. Either way
 * the script checks every file's sha256 against its name before moving it into place. */
export async function uploadFiles(conn: SshConnection, command: (src: string) => string, tar: Buffer, exec: { timeoutMs?: number } = {}): Promise<'sftp' | 'exec'> {
  const host = describe(conn.target);
  let via: 'sftp' | 'exec' = 'exec';
  let up: ExecResult | null = null;
  if (conn.memo.get('sftp') !== false) {
    const name = `/tmp/.fleetpatch-upload-${randomBytes(16).toString('hex')}.tar`;
    const sent = await conn.withSftp(
      (sftp) => new Promise<void>((resolve, reject) => sftp.writeFile(name, tar, { flag: 'wx', mode: 0o600 }, (err) => (err ? reject(new AppError('helper-upload', `${host}: SFTP upload to ${name} failed: ${err.message}`)) : resolve()))),
    );
    if (sent) {
      via = 'sftp';
      up = await conn.exec(command(name), exec);
    } else conn.memo.set('sftp', false);
  }
  up ??= await conn.exec(command('-'), { ...exec, stdin: tar });
  const upLines = parseHelperLines(up.stdout);
  if (!upLines.some((l) => l.type === 'uploaded')) {
    if (!upLines.some((l) => l.type === 'result') && up.code !== 0) throw commandFailed(host, 'the upload', up);
    helperResult(upLines, host, up.stderr.toString('utf8'));
  }
  return via;
}
