/** Executing a run: reachability first (hosts unreachable at plan time are reported and left out
 * of the waves; a host certainly in the first wave starts as soon as it answers), then wave after
 * wave with at most `forks` hosts in flight, the failure budget over the whole run, halt and
 * cancel (no new host starts; hosts in flight finish or roll back), and with --on-failure
 * rollback-all the hosts this run patched are rolled back after a halt. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import PQueue from 'p-queue';
import type { LoadedBundle } from '../bundles/index.ts';
import type { ControllerConfig } from '../config.ts';
import type { Db } from '../db/index.ts';
import { inTransaction, writeWave } from '../db/run-log.ts';
import { recordAudit } from '../db/users.ts';
import { cancelRequested as dbCancelRequested, closeOpenSteps, busyHosts, getRun, insertHostResult, markInterrupted, insertRun, runHostResults, updateRun, type EventRow, type HostResultRow, type RunRow } from '../db/runs.ts';
import { AppError, EXIT, errorInfo, isUnreachable } from '../errors.ts';
import type { Payload } from '../helper/remote.ts';
import type { TargetHost } from '../inventory/index.ts';
import type { RunKind } from '../plan/index.ts';
import type { PlanOptions } from '../plan/livepatch.ts';
import { loadKnownHosts } from '../ssh/known-hosts.ts';
import { ConnectionPool } from '../ssh/pool.ts';
import { sshTarget, type SshTarget } from '../ssh/target.ts';
import { runHost, type HostContext, type HostOutcome } from './host.ts';
import { RunRecorder } from './record.ts';
import { certainlyFirstWave, FAILED_STATES, FailureBudget, formatWaves, placeInWaves, type Strategy } from './strategy.ts';

export interface RunRequest {
  db: Db;
  config: Pick<ControllerConfig, 'knownHostsFiles' | 'connectTimeoutMs' | 'remoteDir' | 'forks' | 'database'>;
  bundle: LoadedBundle;
  kind: RunKind;
  targets: TargetHost[];
  inventories: string[];
  pattern: string;
  strategy: Strategy;
  planOptions?: PlanOptions;
  onEvent?: (e: EventRow) => void;
  /** In-process cancel (Ctrl-C); `fleetpatch cancel` requests it through the database. */
  cancelled?: () => boolean;
  /** Resume this run instead of starting a new one. */
  resume?: RunRow;
  /** Who starts it, as recorded in the run (default: OS user@host). */
  startedBy?: string;
  /** Who the audit log names (default: cli:<OS user>). */
  actor?: string;
}

export interface RunResult {
  run: RunRow;
  hosts: HostResultRow[];
  exitCode: number;
  /** Failed and unreachable hosts, one per line, for `--limit @FILE`; null when there are none. */
  retryFile: string | null;
}

/** Host states worth retrying after a run of this kind (a rolled-back host is a success of a rollback). */
export function retryStates(kind: string): Set<string> {
  return new Set(kind === 'rollback' ? ['failed', 'unreachable', 'rollback-failed'] : ['failed', 'unreachable', 'rolled-back', 'rollback-failed']);
}

/** Host states that leave the host where the run wanted it (DESIGN.md → CLI exit codes). */
const DONE: Record<RunKind, Set<string>> = {
  apply: new Set(['applied', 'already-applied', 'skipped']),
  rollback: new Set(['rolled-back', 'not-applicable', 'skipped']),
};
const FINAL = new Set(['applied', 'already-applied', 'rolled-back', 'rollback-failed', 'failed', 'unreachable', 'not-applicable', 'skipped']);
const HEARTBEAT_MS = 2_000;
/** Plan-time connections kept open for their hosts' turn; beyond that many a host connects again
 * at its turn. An idle connection that carried no command costs ≈30 KB here (V8 heap and buffers,
 * 200 idle lab connections measured) and a file descriptor, and a waiting sshd on its host; a
 * connection that dies while it waits (15 s keepalives) is forgotten and opened again. */
const KEPT_CONNECTIONS = 1000;

export async function executeRun(req: RunRequest): Promise<RunResult> {
  const { db, bundle, config, strategy } = req;
  const m = bundle.manifest;
  const owner = { owner: `${hostname()}:${process.pid}`, ownerPid: process.pid, heartbeatAt: new Date() };
  // overlapping runs are refused, not queued: an admin should decide, not wait unseen
  markInterrupted(db, hostname());
  const busy = busyHosts(db, req.targets.map((t) => t.name)).filter((b) => b.runId !== req.resume?.id);
  if (busy.length) {
    throw new AppError('host-busy', busy.map((b) => `run ${b.runId} (owner ${b.owner}) is still working on ${b.hosts.slice(0, 10).join(', ')}${b.hosts.length > 10 ? ` and ${b.hosts.length - 10} more` : ''}`).join('; ') + '; wait for it, cancel it (fleetpatch cancel RUN), or narrow --limit');
  }
  const git = gitState(req.inventories);
  const run =
    req.resume ??
    insertRun(db, {
      kind: req.kind,
      state: 'running',
      bundleId: m.id,
      bundleSerial: m.serial,
      bundleSha256: bundle.sha256,
      bundleTitle: m.title,
      bundleKeyId: bundle.keyId,
      target: { inventories: req.inventories, pattern: req.pattern, bundleDir: bundle.dir },
      inventoryHash: inventoryHash(req.inventories),
      inventoryCommit: git.commit,
      inventoryDirty: git.dirty,
      strategy: { ...strategy, waves: formatWaves(strategy.waves) },
      startedBy: req.startedBy ?? `${userInfo().username}@${hostname()}`,
      ...owner,
      createdAt: new Date(),
    });
  if (req.resume) {
    updateRun(db, run.id, { state: 'running', ...owner });
    closeOpenSteps(db, run.id, 'the controller executing this step died; the run was resumed and each host reconciled');
  }
  recordAudit(db, req.actor ?? `cli:${userInfo().username}`, req.resume ? 'run-resume' : 'run-start', {
    run: run.id,
    kind: req.kind,
    bundle: m.id,
    serial: m.serial,
    sha256: bundle.sha256,
    signedBy: bundle.keyId,
    pattern: req.pattern,
    inventories: req.inventories,
    inventoryCommit: git.commit,
    inventoryDirty: git.dirty,
    hosts: req.targets.length,
    check: strategy.check,
  });
  const rec = new RunRecorder(db, run.id, req.onEvent);
  rec.event('run', { state: 'running', kind: req.kind, bundle: m.id, serial: m.serial, signedBy: bundle.keyId, hosts: req.targets.length, resumed: Boolean(req.resume) });
  const existing = new Map(runHostResults(db, run.id).map((r) => [r.inventoryName, r]));
  const rows = inTransaction(db, () => req.targets.map((t) => existing.get(t.name) ?? insertHostResult(db, { runId: run.id, inventoryName: t.name, state: 'pending' })));
  const payloads = new Map<string, Payload>();
  for (const [path, f] of bundle.files) {
    const bytes = readFileSync(f.absPath);
    // the bundle was verified when loaded; refuse a file changed on disk since then
    if (createHash('sha256').update(bytes).digest('hex') !== f.sha256) throw new AppError('bundle', `${f.absPath} changed after the bundle was verified; nothing was started`);
    payloads.set(path, { sha256: f.sha256, bytes });
  }
  const connect = { knownHosts: loadKnownHosts(config.knownHostsFiles), timeoutMs: config.connectTimeoutMs };
  // a host's plan-time connection stays open for its turn (up to KEPT_CONNECTIONS of them); a host
  // done holds no connection beyond forks idle ones (pool.ts)
  const pool = new ConnectionPool(connect, config.forks, KEPT_CONNECTIONS);
  let cancelRequested = false;
  const heartbeat = setInterval(() => {
    try {
      updateRun(db, run.id, { heartbeatAt: new Date() });
    } catch (err) {
      // the database stopped taking writes (disk full, read-only): hosts in flight go on and the
      // next step write fails the run with a clear error; this timer must not crash the process
      process.stderr.write(`fleetpatch: run ${run.id}: cannot record the heartbeat: ${(err as Error).message}\n`);
    }
  }, HEARTBEAT_MS);
  /** A cancel stored in the database (the web console, `fleetpatch cancel` from another process) is
   * read before every wave and every host start, so no host starts after it was recorded. */
  const isCancelled = () => {
    if (!cancelRequested) {
      try {
        cancelRequested = dbCancelRequested(db, run.id);
      } catch {
        // an unreadable database: the heartbeat reports it, the next step write fails the run
      }
    }
    return cancelRequested || (req.cancelled?.() ?? false);
  };
  const ctx: HostContext = { db, config, pool, connect, rec, bundle, kind: req.kind, check: strategy.check, planOptions: req.planOptions ?? {}, machines: new Map(), payloads };
  const outcomes = new Map<number, HostOutcome>();
  for (const r of rows) if (FINAL.has(r.state)) outcomes.set(r.id, { state: r.state as HostOutcome['state'], reason: r.reason });
  let halted: string | null = null;
  try {
    // plan time: who answers at all. A host certainly in the first wave starts as soon as it
    // answers (a slow or dead host delays no one); until every host has answered and the failure
    // budget's denominator is known, such early starts stop at the first failure.
    let budget: FailureBudget | null = null;
    const unjudged: HostOutcome['state'][] = [];
    /** A host's turn; false when it may not start now (halted, cancelled, or a failure the budget cannot judge yet). */
    const turn = async (x: { t: TargetHost; row: HostResultRow }): Promise<boolean> => {
      if (halted || isCancelled() || (!budget && unjudged.some((s) => FAILED_STATES.has(s)))) return false;
      const outcome = await runHost(x.t, x.row.id, ctx);
      outcomes.set(x.row.id, outcome);
      if (outcome.state === 'rollback-failed') halted ??= `${x.t.name} could not be rolled back: ${outcome.reason}`;
      if (!budget) unjudged.push(outcome.state);
      else budget.record(outcome.state);
      halted ??= budget?.exceeded() ?? null;
      return true;
    };
    const firstWave = new PQueue({ concurrency: config.forks });
    const early = new Map<number, Promise<boolean>>();
    const todo = req.targets.map((t, i) => ({ t, row: rows[i]! })).filter((x) => !outcomes.has(x.row.id));
    const reach = new PQueue({ concurrency: config.forks });
    const answers = async (x: (typeof todo)[number]): Promise<boolean> => {
      let target: SshTarget | null = null;
      try {
        target = sshTarget(x.t);
        await pool.get(target);
        return true;
      } catch (err) {
        const info = errorInfo(err);
        const state = isUnreachable(info.code) ? 'unreachable' : 'failed';
        rec.host(x.row.id, x.t.name, state, `at plan time, left out of the waves: ${info.message}`);
        outcomes.set(x.row.id, { state, reason: info.message });
        return false;
      } finally {
        if (target) pool.release(target, true);
      }
    };
    const reachable = (
      await Promise.all(
        todo.map((x, i) =>
          reach.add(async () => {
            if (x.row.wave !== null) return x; // placed before an interruption
            if (!(await answers(x))) return null;
            if (!req.resume && certainlyFirstWave(i, strategy.waves)) {
              writeWave(db, x.row.id, 1);
              const started = firstWave.add(() => turn(x));
              started.catch(() => {}); // awaited below; a failure before then is not unhandled
              early.set(x.row.id, started);
            }
            return x;
          }),
        ),
      )
    ).filter((x): x is NonNullable<typeof x> => x !== null && x !== undefined);
    const placedBefore = rows.filter((r) => r.wave !== null).length;
    const waves = req.resume ? regroup(reachable) : placeInWaves(reachable, strategy.waves);
    if (!req.resume) inTransaction(db, () => waves.forEach((w, i) => w.forEach((x) => writeWave(db, x.row.id, i + 1))));
    budget = new FailureBudget(req.resume ? placedBefore : reachable.length, strategy.maxFailPercentage, strategy.maxFailures);
    for (const r of rows) if (r.wave !== null && outcomes.has(r.id)) budget.record(outcomes.get(r.id)!.state);
    for (const state of unjudged) budget.record(state);
    halted ??= budget.exceeded();
    for (const [i, wave] of waves.entries()) {
      if (halted || isCancelled()) break;
      rec.event('wave', { wave: i + 1, of: waves.length, hosts: wave.map((x) => x.t.name) });
      const queue = i === 0 ? firstWave : new PQueue({ concurrency: config.forks });
      // a host started early is not started again; one whose early start was refused starts now
      await Promise.all(wave.map(async (x) => (await early.get(x.row.id)) || queue.add(() => turn(x))));
    }
    // hosts started early finish (or roll back) before the run ends, even when it halted before wave 1
    await Promise.all(early.values());
    const stopReason = halted ?? (isCancelled() ? 'cancelled by request' : null);
    for (const x of reachable) {
      if (!outcomes.has(x.row.id)) {
        rec.host(x.row.id, x.t.name, 'skipped', `never started: ${stopReason}`);
        outcomes.set(x.row.id, { state: 'skipped', reason: stopReason });
      }
    }
    if (halted && strategy.onFailure === 'rollback-all' && req.kind === 'apply') {
      rec.event('run', { state: 'rolling-back-all', reason: halted });
      const undo = new PQueue({ concurrency: config.forks });
      await Promise.all(
        req.targets.map((t, i) =>
          undo.add(async () => {
            const row = rows[i]!;
            if (outcomes.get(row.id)?.state !== 'applied') return;
            const o = await runHost(t, row.id, { ...ctx, kind: 'rollback', machines: new Map() });
            const reason = o.state === 'rolled-back' ? `rolled back because the run halted (--on-failure rollback-all): ${halted}` : o.reason;
            rec.host(row.id, t.name, o.state, reason);
            outcomes.set(row.id, { state: o.state, reason });
          }),
        ),
      );
    }
  } finally {
    clearInterval(heartbeat);
    await pool.closeAll();
  }
  const cancelled = !halted && isCancelled();
  const ok = rows.every((r) => DONE[req.kind].has(outcomes.get(r.id)?.state ?? 'pending') || (strategy.check && outcomes.get(r.id)?.state === 'not-applicable'));
  const state = cancelled ? 'cancelled' : halted ? 'halted' : ok ? 'succeeded' : 'failed';
  closeOpenSteps(db, run.id, 'never finished: its host or connection went away mid-step');
  updateRun(db, run.id, { state, haltReason: halted, finishedAt: new Date(), heartbeatAt: new Date() });
  rec.event('run', { state, ...(halted ? { reason: halted } : {}) });
  const exitCode = { cancelled: EXIT.cancelled, halted: EXIT.halted, succeeded: EXIT.ok, failed: EXIT.hostsFailed }[state];
  const hosts = runHostResults(db, run.id);
  return { run: getRun(db, run.id)!, hosts, exitCode, retryFile: writeRetryFile(config.database, run.id, hosts, req.kind) };
}

function writeRetryFile(database: string, runId: number, hosts: HostResultRow[], kind: RunKind): string | null {
  const retry = retryStates(kind);
  const names = hosts.filter((h) => retry.has(h.state)).map((h) => h.inventoryName);
  if (!names.length || database === ':memory:') return null;
  const file = join(dirname(resolve(database)), 'retry', `run-${runId}.retry`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${names.join('\n')}\n`);
  return file;
}

/** A resumed run's hosts by their recorded wave; hosts never placed (the run was interrupted at
 * plan time, maybe after a first-wave host started early) go last, after the placed ones. */
function regroup<T extends { row: HostResultRow }>(hosts: T[]): T[][] {
  const byWave = new Map<number, T[]>();
  const wave = (h: T) => h.row.wave ?? Number.MAX_SAFE_INTEGER;
  for (const h of hosts) byWave.set(wave(h), [...(byWave.get(wave(h)) ?? []), h]);
  return [...byWave.entries()].sort((a, b) => a[0] - b[0]).map(([, hs]) => hs);
}

/** sha256 over every inventory source: files' bytes, directories' files (sorted), host lists' text. */
function inventoryHash(sources: string[]): string {
  const h = createHash('sha256');
  const add = (p: string) => {
    const st = existsSync(p) ? statSync(p) : null;
    h.update(p).update('\0');
    if (st?.isDirectory()) for (const e of readdirSync(p).sort()) add(join(p, e));
    else if (st?.isFile()) h.update(readFileSync(p)).update('\0');
  };
  sources.forEach(add);
  return h.digest('hex');
}

/** The git commit of the first inventory's work tree and whether it has changes; nulls outside git. */
function gitState(paths: string[]): { commit: string | null; dirty: boolean | null } {
  const first = paths.find((p) => existsSync(p));
  if (!first) return { commit: null, dirty: null };
  try {
    const cwd = statSync(first).isDirectory() ? resolve(first) : dirname(resolve(first));
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', '.'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}
