/** Executing a run: every targeted host through its sequence with at most `forks` at once. The
 * rollout issue adds waves, the failure budget, cancel and resume around `runHost`. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import PQueue from 'p-queue';
import type { LoadedBundle } from '../bundles/index.ts';
import type { ControllerConfig } from '../config.ts';
import type { Db } from '../db/index.ts';
import { insertHostResult, insertRun, runHostResults, updateRun, type EventRow, type HostResultRow, type RunRow } from '../db/runs.ts';
import { AppError, EXIT } from '../errors.ts';
import type { Payload } from '../helper/remote.ts';
import type { TargetHost } from '../inventory/index.ts';
import type { RunKind } from '../plan/index.ts';
import type { PlanOptions } from '../plan/livepatch.ts';
import { loadKnownHosts } from '../ssh/known-hosts.ts';
import { ConnectionPool } from '../ssh/pool.ts';
import { runHost, type HostOutcome } from './host.ts';
import { RunRecorder } from './record.ts';

export interface RunRequest {
  db: Db;
  config: Pick<ControllerConfig, 'knownHostsFiles' | 'connectTimeoutMs' | 'remoteDir' | 'forks'>;
  bundle: LoadedBundle;
  kind: RunKind;
  targets: TargetHost[];
  inventories: string[];
  pattern: string;
  planOptions?: PlanOptions;
  onEvent?: (e: EventRow) => void;
}

export interface RunResult {
  run: RunRow;
  hosts: HostResultRow[];
  exitCode: number;
}

/** Host states that leave the host where the run wanted it (DESIGN.md → CLI exit codes). */
const DONE: Record<RunKind, Set<string>> = {
  apply: new Set(['applied', 'already-applied', 'skipped']),
  rollback: new Set(['rolled-back', 'not-applicable', 'skipped']),
};

export async function executeRun(req: RunRequest): Promise<RunResult> {
  const { db, bundle, config } = req;
  const m = bundle.manifest;
  const run = insertRun(db, {
    kind: req.kind,
    state: 'running',
    bundleId: m.id,
    bundleSerial: m.serial,
    bundleSha256: bundle.sha256,
    bundleTitle: m.title,
    bundleKeyId: bundle.keyId,
    target: { inventories: req.inventories, pattern: req.pattern },
    inventoryHash: inventoryHash(req.inventories),
    strategy: { forks: config.forks },
    startedBy: `${userInfo().username}@${hostname()}`,
    owner: `${hostname()}:${process.pid}`,
    ownerPid: process.pid,
    heartbeatAt: new Date(),
    createdAt: new Date(),
  });
  const rec = new RunRecorder(db, run.id, req.onEvent);
  rec.event('run', { state: 'running', kind: req.kind, bundle: m.id, serial: m.serial, signedBy: bundle.keyId, hosts: req.targets.length });
  const rows = req.targets.map((t) => insertHostResult(db, { runId: run.id, inventoryName: t.name, state: 'pending' }));
  const payloads = new Map<string, Payload>();
  for (const [path, f] of bundle.files) {
    const bytes = readFileSync(f.absPath);
    // the bundle was verified when loaded; refuse a file changed on disk since then
    if (createHash('sha256').update(bytes).digest('hex') !== f.sha256) throw new AppError('bundle', `${f.absPath} changed after the bundle was verified; nothing was started`);
    payloads.set(path, { sha256: f.sha256, bytes });
  }
  const connect = { knownHosts: loadKnownHosts(config.knownHostsFiles), timeoutMs: config.connectTimeoutMs };
  const pool = new ConnectionPool(connect);
  const heartbeat = setInterval(() => updateRun(db, run.id, { heartbeatAt: new Date() }), 5_000);
  const queue = new PQueue({ concurrency: config.forks });
  const ctx = { db, config, pool, connect, rec, bundle, kind: req.kind, planOptions: req.planOptions ?? {}, machines: new Map<string, string>(), payloads };
  let outcomes: HostOutcome[];
  try {
    outcomes = (await Promise.all(req.targets.map((t, i) => queue.add(() => runHost(t, rows[i]!.id, ctx))))) as HostOutcome[];
  } finally {
    clearInterval(heartbeat);
    await pool.closeAll();
  }
  const state = outcomes.every((o) => DONE[req.kind].has(o.state)) ? 'succeeded' : 'failed';
  updateRun(db, run.id, { state, finishedAt: new Date(), heartbeatAt: new Date() });
  rec.event('run', { state });
  return { run: { ...run, state }, hosts: runHostResults(db, run.id), exitCode: state === 'succeeded' ? EXIT.ok : EXIT.hostsFailed };
}

function inventoryHash(paths: string[]): string {
  const h = createHash('sha256');
  for (const p of paths) h.update(p).update('\0').update(readFileSync(p)).update('\0');
  return h.digest('hex');
}
