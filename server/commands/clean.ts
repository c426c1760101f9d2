/** `fleetpatch clean`: removes from each host the cached helpers and payloads that no applied
 * patch needs. Kept: the helper this controller runs, and every payload the helper's journal
 * names for a committed or in-flight operation (what a rollback or reconcile would still load). */
import PQueue from 'p-queue';
import { loadConfig } from '../config.ts';
import { AppError, EXIT, errorInfo, type ErrorCode } from '../errors.ts';
import { validateFacts } from '../facts/types.ts';
import { helperBinary } from '../helper/binary.ts';
import { parseHelperLines } from '../helper/protocol.ts';
import { remoteDirFor, runHelper } from '../helper/remote.ts';
import { commandFailed, describe } from '../ssh/connect.ts';
import { loadKnownHosts } from '../ssh/known-hosts.ts';
import { ConnectionPool } from '../ssh/pool.ts';
import { shScript } from '../ssh/quote.ts';
import { sshTarget, type SshTarget } from '../ssh/target.ts';
import { FORKS_OPTION, intOption, TARGET_OPTIONS, targetFrom } from './common.ts';
import { table } from './table.ts';
import type { Command } from './types.ts';

/** Journal states after which an operation's payload is no longer needed on the host. */
const DONE_WITH_PAYLOAD = new Set(['rolled-back', 'reverted', 'replaced', 'load-failed']);

/** $1 remote dir, $2 helper sha256 to keep, then payload sha256s to keep. Holds the helper's lock
 * (non-blocking) so it never races an apply; prints one JSON line. */
const CLEAN = String.raw`
set -u
d=$1 keep_helper=$2; shift 2
[ "$(id -u)" = 0 ] || { echo '{"fleetpatch":1,"type":"result","ok":false,"error":{"code":"remote-user","message":"clean needs root: set ansible_become=true"}}'; exit 1; }
[ -d "$d" ] || { echo '{"fleetpatch":1,"type":"cleaned","removed":[],"bytes":0}'; exit 0; }
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$d/lock"
  flock -n 9 || { echo '{"fleetpatch":1,"type":"result","ok":false,"error":{"code":"host-busy","message":"another fleetpatch operation holds the host lock; clean again later"}}'; exit 1; }
fi
removed= bytes=0
drop() { n=$(wc -c < "$1" 2>/dev/null || echo 0); rm -rf "$1" && { bytes=$((bytes + n)); removed="$removed,\"${"$"}{1##*/}\""; }; }
for f in "$d"/bin/helper-*; do
  [ -e "$f" ] || continue
  [ "${"$"}{f##*/}" = "helper-$keep_helper" ] || drop "$f"
done
for f in "$d"/cache/*; do
  [ -e "$f" ] || continue
  name=${"$"}{f##*/} keep=no
  for k in "$@"; do [ "$name" = "$k" ] && keep=yes; done
  [ $keep = yes ] || drop "$f"
done
# interrupted uploads: the upload exec's directory, a file the helper was receiving (.SHA.part)
for f in "$d"/.upload.* "$d"/bin/.*.part "$d"/cache/.*.part; do [ -e "$f" ] && rm -rf "$f"; done
printf '{"fleetpatch":1,"type":"cleaned","removed":[%s],"bytes":%s}\n' "${"$"}{removed#,}" "$bytes"
`;

type CleanResult = { host: string; ok: true; remoteDir: string; removed: string[]; bytes: number; kept: number } | { host: string; ok: false; error: { code: ErrorCode; message: string } };

export const cleanCommand: Command = {
  name: 'clean',
  summary: 'remove cached helpers and payloads that no applied patch needs from hosts',
  usage: 'fleetpatch clean -i PATH [--limit PATTERN] [--forks N] [--accept-new-host-keys] [--json]',
  details: [
    '  -i, --inventory PATH      Ansible inventory (repeatable)',
    '  -l, --limit PATTERN       host pattern (default: all)',
    '  -f, --forks N             hosts worked on at once (default: config forks, 20)',
    '      --accept-new-host-keys  trust unknown host keys on first use: appended to the first',
    '                            knownHostsFiles entry and written to the audit log',
    '',
    "Keeps the helper this controller runs and every payload the host's helper journal names for a",
    'committed or in-flight operation; removes other helpers, payloads and interrupted uploads.',
    'Holds the host lock while it works, so it never races a run. Exit 0 when every host was cleaned.',
  ].join('\n'),
  options: { ...TARGET_OPTIONS, ...FORKS_OPTION, 'accept-new-host-keys': { type: 'boolean' } },
  async run(ctx) {
    const flags: NonNullable<Parameters<typeof loadConfig>[0]>['flags'] = {};
    if (typeof ctx.values.config === 'string') flags.config = ctx.values.config;
    if (typeof ctx.values.forks === 'string') flags.forks = intOption('--forks', ctx.values.forks, 1, 10_000);
    if (ctx.values['accept-new-host-keys'] === true) flags.acceptNewHostKeys = true;
    const config = loadConfig({ flags });
    const targets = targetFrom(ctx);
    const pool = new ConnectionPool({ knownHosts: loadKnownHosts(config.knownHostsFiles), timeoutMs: config.connectTimeoutMs });
    const queue = new PQueue({ concurrency: config.forks });
    try {
      const results = await Promise.all(
        targets.map((t) =>
          queue.add(async (): Promise<CleanResult> => {
            let target: SshTarget | null = null;
            try {
              target = sshTarget(t);
              const conn = await pool.get(target);
              const host = describe(conn.target);
              const facts = validateFacts((await runHelper(conn, ['facts'], { remoteDir: config.remoteDir, timeoutMs: 60_000 })).result.facts, host);
              const keep = [...new Set(facts.journal.filter((e) => !DONE_WITH_PAYLOAD.has(e.state) && /^[0-9a-f]{64}$/.test(e.sha256)).map((e) => e.sha256))];
              const dir = remoteDirFor(conn, config.remoteDir);
              const res = await conn.exec(shScript(CLEAN, 'fleetpatch-clean', [dir, helperBinary(facts.uname.machine).sha256, ...keep]), { timeoutMs: 60_000 });
              const line = parseHelperLines(res.stdout).findLast((l) => l.type === 'cleaned' || l.type === 'result');
              if (!line) throw commandFailed(host, 'clean', res);
              if (line.type === 'result') {
                const e = line.error as { code: ErrorCode; message: string };
                throw new AppError(e.code === 'host-busy' ? 'host-busy' : 'remote-user', `${host}: ${e.message}`);
              }
              return { host: t.name, ok: true, remoteDir: dir, removed: line.removed as string[], bytes: line.bytes as number, kept: keep.length };
            } catch (err) {
              return { host: t.name, ok: false, error: errorInfo(err) };
            } finally {
              if (target) pool.release(target);
            }
          }) as Promise<CleanResult>,
        ),
      );
      if (ctx.json) ctx.out(JSON.stringify(results, null, 2));
      else {
        ctx.out(table(['HOST', 'RESULT', 'REMOVED', 'FREED', 'KEPT PAYLOADS'], results.map((r) => (r.ok ? [r.host, 'ok', String(r.removed.length), `${(r.bytes / 1024).toFixed(0)} KiB`, String(r.kept)] : [r.host, r.error.code, '', '', '']))));
        for (const r of results) if (!r.ok) ctx.out(r.error.message);
      }
      return results.every((r) => r.ok) ? EXIT.ok : EXIT.hostsFailed;
    } finally {
      await pool.closeAll();
    }
  },
};
