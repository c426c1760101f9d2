/** Running the helper on a host: check that fleetpatch's directory can be trusted, push the helper
 * and payloads only when their content-addressed copies are absent, verify every hash, then run
 * the helper — one SSH exec when everything is cached or its absence is known from an earlier exec
 * on the connection (the missing files then travel on that exec's stdin), three otherwise. A
 * `hold` exec stays open after its command (serve.c): the next command runs in it, with no new
 * session, shell or script — the helper makes the script's checks again itself (the directory's
 * ownership walk, its own hash) before it becomes the next command, whose payloads it hashes. */
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { Channel, ExecResult, SshConnection } from '../ssh/connect.ts';
import { commandFailed, describe } from '../ssh/connect.ts';
import { shScript } from '../ssh/quote.ts';
import { helperBinary } from './binary.ts';
import { helperResult, parseHelperLines, type HelperLine } from './protocol.ts';
import { tarFiles } from './tar.ts';

const D = '$';
const PARENT = '${p%/*}';
const INSECURE = 'is not owned by root or is writable by group or others; a local user could plant code that root runs. Fix the owner and mode (chown root:root, chmod go-w) or remove';

/** POSIX sh (bash, dash and busybox alike). $1 remote dir, $2 helper sha256 (`=SHA`: hashed
 * already on this SSH connection), $3 run|upload, $4 where an upload comes from (`-` stdin,
 * a tar file fleetpatch put in /tmp over SFTP, or in run mode `+N`: a tar of N bytes on stdin
 * before the helper's own input), $5 flags (`x`: the dir's mount was seen to allow exec on this
 * connection; `-`), $6 K, then K payload sha256s (`?SHA` only asked about: a `cache` line says
 * which are absent), then the helper's arguments.
 * Every refusal is a result line; a remote dir on a noexec mount is reported (`noexec`) so the
 * controller can use its fallback dir. The ownership walk (the dir, its parents and everything
 * under it) runs on every exec; `=` only skips re-hashing the helper this connection hashed.
 * Once the helper's hash is checked, the helper itself unpacks a `+N` upload and hashes the
 * payloads (`--stage`, native/helper/stage.c), so a run starts no process but find (and
 * sha256sum once per connection) before the helper; upload mode (the helper itself may be in
 * the tar) unpacks here, with tar and sha256sum. */
const SCRIPT = String.raw`
set -u
nl='
'
d=$1 sha=$2 mode=$3 src=$4 flags=$5 k=$6; shift 6
esc() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/[\\"]/\\&/g'; }
fail() { printf '{"fleetpatch":1,"type":"result","ok":false,"error":{"code":"%s","message":"%s"}}\n' "$1" "$(esc "$2")"; exit 1; }
case "$d" in */..|*/../*|*//*|*[!A-Za-z0-9._/-]*|[!/]*|'') fail helper-protocol "bad remote dir";; esac
known=
case "$sha" in =*) sha=${D}{sha#=}; known=" $sha";; esac
case "$sha" in *[!0-9a-f]*|'') fail helper-protocol "bad helper digest";; esac
payloads= staged=
while [ "$k" -gt 0 ]; do
  h=$1 staged="$staged $1"
  case "$h" in
    \?*) h=${D}{h#?};;
    *) payloads="$payloads $h";;
  esac
  case "$h" in *[!0-9a-f]*|'') fail helper-protocol "bad payload digest";; esac
  shift; k=$((k - 1))
done
case "$src" in
  -|/tmp/.fleetpatch-upload-[0-9a-f]*.tar) ;;
  +[0-9]*) [ "$mode" = run ] || fail helper-protocol "bad upload source"; case "${D}{src#+}" in *[!0-9]*) fail helper-protocol "bad upload source";; esac;;
  *) fail helper-protocol "bad upload source";;
esac
case "$src" in /tmp/*) trap 'rm -f "$src"' EXIT;; esac
uid=
while read -r key r e rest; do [ "$key" = Uid: ] && { uid=$e; break; }; done 2>/dev/null < /proc/self/status
[ -n "$uid" ] || uid=$(id -u)
[ "$uid" = 0 ] || fail remote-user "fleetpatch needs root on the host but runs as uid $uid ($(id -un)); set ansible_become=true (sudo) for this host, or log in as root"
umask 077
case "$flags" in *x*) ;; *)
  p=$d
  while [ ! -e "$p" ]; do p=${PARENT}; [ -n "$p" ] || p=/; done
  cd -P "$p" 2>/dev/null || fail insecure-remote-dir "cannot enter $p"
  real=$PWD
  cd /
  # the mount holding it: the longest mount point above it, the last one listed if mounted over
  o= best=-1
  while read -r dev m rest; do
    while :; do case "$m" in *'\040'*) m=${D}{m%%'\040'*}" "${D}{m#*'\040'};; *) break;; esac; done
    case "$m" in /) ;; *) case "$real" in "$m"|"$m"/*) ;; *) continue;; esac;; esac
    [ ${D}{#m} -ge "$best" ] || continue
    best=${D}{#m} o=${D}{rest#* }
    o=${D}{o%% *}
  done < /proc/mounts
  if case ",$o," in *,noexec,*) true;; *) false;; esac; then
    printf '{"fleetpatch":1,"type":"noexec","dir":"%s"}\n' "$(esc "$d")"
    exit 0
  fi
  printf '{"fleetpatch":1,"type":"exec-ok"}\n';;
esac
if [ "$mode" = upload ]; then
  [ -d "$d/bin" ] && [ -d "$d/cache" ] || mkdir -p "$d/bin" "$d/cache" || fail helper-upload "cannot create $d/bin and $d/cache"
fi
# one find for the dir, its parents (never descended into) and everything under the dir ($d holds
# no glob characters or //: checked above)
pd=$d
while :; do case "$pd" in ?*/) pd=${D}{pd%/};; *) break;; esac; done
levels= p=$pd
while [ -n "$p" ]; do
  if [ -e "$p" ] || [ -L "$p" ]; then levels="$levels $p"; fi
  p=${PARENT}
done
if [ -n "$levels" ]; then
  bad=$(find $levels \( -path "$pd" -o -path "$pd/*" -o -prune \) \( -type l -o ! -user 0 -o -perm -020 -o -perm -002 \) -print 2>&1)
  if [ -n "$bad" ]; then
    bad=${D}{bad%%"$nl"*}
    [ -L "$bad" ] && fail insecure-remote-dir "$bad is a symbolic link; fleetpatch refuses to use $d"
    fail insecure-remote-dir "$bad ($(ls -ld "$bad" 2>&1)) ${INSECURE} $d"
  fi
fi
# into DIR under NAME, never partly: a move across file systems copies, so it goes to a temporary
# name in DIR first; only the rename within DIR (atomic) gives it its final name
place() {
  mv -f "$1" "$2/.$3.part" && mv -f "$2/.$3.part" "$2/$3" || { rm -f "$2/.$3.part"; return 1; }
}
if [ "$mode" = upload ]; then
  tmp=$(mktemp -d "$d/.upload.XXXXXX") || fail helper-upload "cannot create a temporary directory in $d (disk full?)"
  tar -x -f "$src" -C "$tmp" >/dev/null 2>&1 || { rm -rf "$tmp"; fail helper-upload "unpacking the upload into $d failed (disk full?)"; }
  for f in "$tmp"/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || { rm -rf "$tmp"; fail helper-upload "unexpected entry in the upload"; }
    name=${D}{f##*/}
    got=$(sha256sum < "$f") || got=
    got=${D}{got%% *}
    if [ "$name" = "helper-$got" ]; then chmod 700 "$f" && place "$f" "$d/bin" "$name"
    elif [ "$name" = "$got" ]; then chmod 600 "$f" && place "$f" "$d/cache" "$name"
    else rm -rf "$tmp"; fail helper-upload "uploaded file $name has sha256 $got: corrupted in transit"; fi || { rm -rf "$tmp"; fail helper-upload "cannot install $name"; }
  done
  rm -rf "$tmp"
  printf '{"fleetpatch":1,"type":"uploaded"}\n'
  exit 0
fi
h=$d/bin/helper-$sha
if [ -f "$h" ] && [ ! -L "$h" ]; then
  case "$known" in '') got=$(sha256sum < "$h") || got=
    got=${D}{got%% *}
    [ "$got" = "$sha" ] || fail insecure-remote-dir "$h has sha256 $got, expected $sha: it was modified on the host; remove it and investigate";;
  esac
else
  # no helper (the payloads are hashed by the helper once it is here)
  missing=",\"$sha\""
  for p in $payloads; do [ -f "$d/cache/$p" ] && [ ! -L "$d/cache/$p" ] || missing="$missing,\"$p\""; done
  printf '{"fleetpatch":1,"type":"need","arch":"%s","missing":[%s]}\n' "$(esc "$(uname -m)")" "${D}{missing#,}"
  exit 0
fi
# the helper, verified, unpacks an upload on stdin and hashes the payloads (stage.c); \?SHA is no glob
set -f
exec "$h" --stage "$src" $staged -- "$@"
`;

export interface Payload {
  sha256: string;
  bytes: Buffer;
}

export type UploadVia = 'sftp' | 'exec' | 'stdin';

export interface HelperRun {
  lines: HelperLine[];
  result: HelperLine;
  /** Whether this call pushed anything (the helper or a payload). */
  uploaded: boolean;
  /** How it was pushed: on the command's own stdin when an earlier exec on the connection saw
   * the files absent; else SFTP when the host has an sftp-server, else an exec with the tar on
   * stdin. */
  uploadVia: UploadVia | null;
  /** The payloads pushed by this call. */
  pushed: Payload[];
  /** The directory used on the host (differs from the configured one on a noexec mount). */
  remoteDir: string;
  /** With `hold`: the exec, waiting for the next command. */
  held: HeldExec | null;
}

export interface HelperOptions {
  remoteDir: string;
  timeoutMs?: number;
  /** The host's architecture when known (from stored facts); x86_64 otherwise. */
  arch?: string;
  /** Files the command needs in DIR/cache/<sha256>. */
  payloads?: Payload[];
  /** Files only asked about (is each in the host's cache?), not needed by this command: the answer
   * is remembered on the connection, so a later call needing an absent one sends it on its own
   * stdin instead of learning of it from a failed first try. */
  probe?: readonly { sha256: string }[];
  /** Sees every protocol line as it arrives and may answer on the helper's stdin (which stays
   * open until the handler ends it); without it the helper's stdin is closed at once. */
  onLine?: (line: HelperLine, channel: Channel) => void;
  /** Called once, when every payload is in place and checked, just before the helper runs (with
   * onLine: as the host says so; else when the command has finished). */
  onPayloads?: (p: { pushed: Payload[]; via: UploadVia | null }) => void;
  /** Keep the exec open once the command has succeeded (`--serve`, serve.c): the result then
   * carries `held`, on which the next helper command runs, given at most this long in all. */
  hold?: { timeoutMs: number };
  /** A held exec from an earlier call on this connection: the command runs on it (no new
   * session, shell or script) when it is still waiting, else on a new exec as usual. */
  held?: HeldExec | null;
}

/** A helper exec waiting, after its `--serve` command, for the next command on its stdin: one
 * argument per line, an empty line, then the `+N` upload if any (serve.c). Used at most once;
 * `end()` lets the helper exit when nothing follows. */
export class HeldExec {
  private used = false;
  private sink: ((chunk: Buffer, channel: Channel) => void) | null = null;

  constructor(
    readonly dir: string,
    readonly helperSha: string,
    private readonly channel: Channel,
    private readonly done: Promise<ExecResult>,
    /** Bytes of output the exec gave before it was held. */
    private seen: number,
  ) {
    done.catch(() => {}); // observed by next(); an unused held exec's end is no error
  }

  /** Output arriving on the exec (before the next command: nothing, as serve.c writes none). */
  feed(chunk: Buffer): void {
    this.seen += chunk.length;
    this.sink?.(chunk, this.channel);
  }

  /** Whether a command can still run on it (unused, and for this dir and helper). */
  usable(dir: string, helperSha: string): boolean {
    return !this.used && dir === this.dir && helperSha === this.helperSha;
  }

  /** Runs ARGV (from `--stage` on) with UPLOAD after it; `onStdout` as interact's; without it the
   * input ends at once. The result holds only this command's output, stdout and stderr. */
  async next(argv: string[], upload: Buffer | null, host: string, onStdout?: (chunk: Buffer, channel: Channel) => void): Promise<ExecResult> {
    const bad = argv.find((a) => /[\n\0]/.test(a) || a === '');
    if (bad !== undefined) this.end();
    if (bad !== undefined) throw new AppError('helper-protocol', `${host}: a helper argument is empty or holds a newline or NUL: ${JSON.stringify(bad)}`);
    this.used = true;
    const from = this.seen;
    const errFrom = this.channel.stderrBytes();
    this.sink = onStdout ?? null;
    this.channel.write(`${argv.join('\n')}\n\n`);
    if (upload) this.channel.write(upload);
    if (!onStdout) this.channel.end();
    const res = await this.done;
    return { ...res, stdout: res.stdout.subarray(from), stderr: res.stderr.subarray(errFrom) };
  }

  end(): void {
    this.used = true;
    this.channel.end();
  }
}

/** Hands each complete protocol line of a command's stdout to `handle` as it arrives. */
function lineReader(handle: (line: HelperLine, channel: Channel) => void): (chunk: Buffer, channel: Channel) => void {
  let pending = '';
  return (chunk, channel) => {
    pending += chunk.toString('utf8');
    const complete = pending.slice(0, pending.lastIndexOf('\n') + 1);
    pending = pending.slice(complete.length);
    for (const line of parseHelperLines(complete)) handle(line, channel);
  };
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

/** Per-connection memo (conn.memo), never shared between connections:
 * `verified:DIR:SHA` the trust script hashed that helper binary on this connection (and then ran
 * it), so later execs on the connection skip re-hashing it (never a payload: those are hashed by
 * every exec that uses them); cleared by any upload. `absent:DIR:SHA` a probe saw it missing. `exec-ok:DIR` the
 * dir's mount allows exec. */
const verifiedKey = (dir: string, sha: string) => `verified:${dir}:${sha}`;
const absentKey = (dir: string, sha: string) => `absent:${dir}:${sha}`;

/** Any upload invalidates every hash this connection remembered: later execs hash again. */
function forgetVerified(conn: SshConnection): void {
  for (const k of [...conn.memo.keys()]) if (k.startsWith('verified:')) conn.memo.delete(k);
}

export async function runHelper(conn: SshConnection, args: string[], opts: HelperOptions): Promise<HelperRun> {
  const host = describe(conn.target);
  const wanted = conn.target.remoteDir ?? opts.remoteDir;
  let dir = remoteDirFor(conn, opts.remoteDir);
  let helper = helperBinary(opts.arch ?? 'x86_64');
  const payloads = opts.payloads ?? [];
  const probe = (opts.probe ?? []).filter((p) => !payloads.some((x) => x.sha256 === p.sha256));
  // paths the caller computed under the configured dir point into the dir in use
  const helperArgs = () => args.map((a) => (dir !== opts.remoteDir && a.startsWith(`${opts.remoteDir}/`) ? dir + a.slice(opts.remoteDir.length) : a));
  const known = (sha: string) => conn.memo.get(verifiedKey(dir, sha)) === true;
  const command = (mode: 'run' | 'upload', src = '-', skipHashes = true, before: string[] = []) =>
    shScript(SCRIPT, 'fleetpatch', [
      dir,
      (skipHashes && known(helper.sha256) ? '=' : '') + helper.sha256,
      mode,
      src,
      conn.memo.get(`exec-ok:${dir}`) === true ? 'x' : '-',
      String(payloads.length + probe.length),
      // payloads are hashed by every exec that uses them (a fresh upload once, at unpacking)
      ...payloads.map((p) => p.sha256),
      ...probe.map((p) => `?${p.sha256}`),
      ...before,
      ...helperArgs(),
    ]);
  const exec = opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {};
  const pushed: Payload[] = [];
  let uploadVia: UploadVia | null = null;
  let told = false;
  const tell = () => {
    if (told) return;
    told = true;
    opts.onPayloads?.({ pushed: [...pushed], via: uploadVia });
  };
  type Ran = { lines: HelperLine[]; res: ExecResult; hashed: string[] };
  // the held exec serves the first run only (a `need` after it uploads and runs on a new exec)
  let held = opts.held ?? null;
  let holding: HeldExec | null = null;
  const run = async (): Promise<Ran> => {
    // what an earlier exec on this connection saw absent goes on this exec's stdin
    const send = payloads.filter((p) => conn.memo.get(absentKey(dir, p.sha256)) === true);
    const tar = send.length ? tarFiles(send.map((p) => ({ name: p.sha256, bytes: p.bytes, mode: 0o600 }))) : null;
    const on = held?.usable(dir, helper.sha256) ? held : null;
    if (held && !on) held.end();
    held = null;
    // hashed by the script in this exec (the rest was hashed earlier on this connection; a held
    // exec runs no script: its helper is the process the script checked)
    const hashed = on || known(helper.sha256) ? [] : [helper.sha256];
    const src = tar ? `+${tar.length}` : '-';
    if (tar) forgetVerified(conn);
    const sent = () => {
      for (const p of send) {
        conn.memo.delete(absentKey(dir, p.sha256));
        if (!pushed.includes(p)) pushed.push(p);
      }
      uploadVia = 'stdin';
    };
    const onStdout = lineReader((line, channel) => {
      if (line.type === 'need' || line.type === 'noexec') channel.end();
      else if (line.type === 'uploaded') sent();
      else if (line.type === 'trusted') tell();
      else if (line.type !== 'cache' && line.type !== 'exec-ok') opts.onLine!(line, channel);
    });
    if (on) {
      const argv = ['--stage', src, ...payloads.map((p) => p.sha256), ...probe.map((p) => `?${p.sha256}`), '--', ...helperArgs()];
      const res = await on.next(argv, tar, host, opts.onLine ? onStdout : undefined);
      const lines = parseHelperLines(res.stdout);
      if (!opts.onLine && lines.some((l) => l.type === 'uploaded')) sent();
      return { lines, res, hashed };
    }
    const cmd = command('run', src, true, opts.hold ? ['--serve'] : []);
    const stdin = tar ? { stdin: tar } : {};
    if (opts.hold) return await runHeld(cmd, stdin, hashed, sent);
    if (!opts.onLine) {
      const res = await conn.exec(cmd, { ...exec, ...stdin });
      const lines = parseHelperLines(res.stdout);
      if (lines.some((l) => l.type === 'uploaded')) sent();
      return { lines, res, hashed };
    }
    const res = await conn.interact(cmd, onStdout, { ...exec, ...stdin });
    return { lines: parseHelperLines(res.stdout), res, hashed };
  };
  /** A `--serve` run: done at its result line, when that says ok the exec is kept (`holding`);
   * else (a refusal, `need`, `noexec`) when it ends. */
  const runHeld = (cmd: string, stdin: { stdin?: Buffer }, hashed: string[], sent: () => void): Promise<Ran> =>
    new Promise<Ran>((resolve, reject) => {
      const got: Buffer[] = [];
      let size = 0;
      let open: Channel | null = null;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const limit = opts.timeoutMs ?? 120_000;
      const timer = setTimeout(() => {
        open?.close();
        settle(() => reject(new AppError('timeout', `${host}: no answer within ${limit / 1000} s`)));
      }, limit);
      const read = lineReader((line, channel) => {
        if (line.type === 'need' || line.type === 'noexec') channel.end();
        else if (line.type === 'uploaded') sent();
        else if (line.type === 'result' && line.ok === true && !settled) {
          holding = new HeldExec(dir, helper.sha256, channel, done, size);
          const stdout = Buffer.concat(got);
          settle(() => resolve({ lines: parseHelperLines(stdout), res: { stdout, stderr: Buffer.alloc(0), code: 0, signal: null }, hashed }));
        }
      });
      const done: Promise<ExecResult> = conn.interact(
        cmd,
        (chunk, channel) => {
          open = channel;
          size += chunk.length;
          if (holding) return holding.feed(chunk);
          got.push(chunk);
          read(chunk, channel);
        },
        { ...stdin, timeoutMs: limit + opts.hold!.timeoutMs },
      );
      done.then(
        (res) => settle(() => resolve({ lines: parseHelperLines(res.stdout), res, hashed })),
        (err: unknown) => settle(() => reject(err)),
      );
    });
  const learn = (lines: HelperLine[], hashed: string[]) => {
    if (lines.some((l) => l.type === 'exec-ok')) conn.memo.set(`exec-ok:${dir}`, true);
    const cache = lines.find((l) => l.type === 'cache');
    if (cache && Array.isArray(cache.missing)) {
      for (const p of probe) {
        if (cache.missing.includes(p.sha256)) conn.memo.set(absentKey(dir, p.sha256), true);
        else conn.memo.delete(absentKey(dir, p.sha256));
      }
    }
    // the script reached the helper: everything it hashed on the way matched
    if (lines.some((l) => l.type === 'trusted')) for (const sha of hashed) conn.memo.set(verifiedKey(dir, sha), true);
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
  let { lines, res, hashed } = await run();
  if (noexec(lines)) ({ lines, res, hashed } = await run());
  learn(lines, hashed);
  const need = lines.find((l) => l.type === 'need');
  if (need) {
    const missing = new Set(Array.isArray(need.missing) ? need.missing : []);
    if (typeof need.arch === 'string' && need.arch !== helper.arch) helper = helperBinary(need.arch);
    const up = payloads.filter((p) => missing.has(p.sha256));
    const files = [
      ...(missing.has(helper.sha256) || need.arch !== (opts.arch ?? 'x86_64') ? [{ name: `helper-${helper.sha256}`, bytes: helper.bytes, mode: 0o700 }] : []),
      ...up.map((p) => ({ name: p.sha256, bytes: p.bytes, mode: 0o600 })),
    ];
    forgetVerified(conn);
    uploadVia = await uploadFiles(conn, (src) => command('upload', src, false), tarFiles(files), exec);
    for (const p of up) {
      conn.memo.delete(absentKey(dir, p.sha256));
      if (!pushed.includes(p)) pushed.push(p);
    }
    ({ lines, res, hashed } = await run());
    learn(lines, hashed);
    if (lines.some((l) => l.type === 'need')) throw new AppError('helper-upload', `${host}: files are still missing after upload`);
  }
  if (lines.some((l) => l.type === 'trusted')) tell();
  if (!lines.some((l) => l.type === 'result') && res.code !== 0) throw commandFailed(host, 'the helper', res);
  return { lines, result: helperResult(lines, host, res.stderr.toString('utf8')), uploaded: uploadVia !== null, uploadVia, pushed, remoteDir: dir, held: holding };
}

/** Pushes one tar stream: over SFTP into a fresh file in /tmp when the host has an sftp-server
 * (the script, as root, unpacks and deletes it), else on the upload command's stdin. Either way
 * the script checks every file's sha256 against its name before moving it into place. */
export async function uploadFiles(conn: SshConnection, command: (src: string) => string, tar: Buffer, exec: { timeoutMs?: number } = {}): Promise<'sftp' | 'exec'> {
  forgetVerified(conn);
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
