/** What the pages and the JSON API show, read from the database (one shape for both). */
import type { Db } from '../db/index.ts';
import { listHosts } from '../db/hosts.ts';
import { getRun, hostSteps, listRuns, patchesOf, runHostResults, type HostResultRow, type RunRow, type StepRow } from '../db/runs.ts';
import { drift } from '../plan/livepatch.ts';
import { events, hostNames, hostResults, hosts as hostsTable, runs } from '../db/schema.ts';
import { FAILED_STATES } from '../rollout/strategy.ts';
import type { HostState } from '../rollout/record.ts';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { StoredHost } from '../db/hosts.ts';
import type { Facts } from '../facts/types.ts';
import { hostRows, waveStates, type HostRow } from './live-rows.ts';

export interface HostView {
  id: number;
  machineId: string;
  names: string[];
  hostname: string | null;
  kernel: string;
  os: string | null;
  livepatches: { name: string; enabled: boolean; transition: boolean }[];
  factsAt: string;
  drift: { bundleId: string; serial: number; patch: string }[];
  /** What fleetpatch recorded as applied to this machine (host_patches). */
  patches: { bundleId: string; serial: number; patch: string; runId: number | null; appliedAt: string }[];
  /** The newest host result for any of the host's names, or null. */
  lastResult: { runId: number; hostResultId: number; host: string; state: string } | null;
}

function hostViewOf(db: Db, h: StoredHost, last: Map<string, HostView['lastResult']>): HostView {
  let lastResult: HostView['lastResult'] = null;
  for (const n of h.names) {
    const r = last.get(n);
    if (r && (!lastResult || r.hostResultId > lastResult.hostResultId)) lastResult = r;
  }
  // host_patches rows are per machine (one hosts row per machine-id): the basis of drift too
  const recorded = patchesOf(db, h.id);
  return {
    id: h.id,
    machineId: h.machineId,
    names: h.names,
    hostname: h.hostname,
    kernel: h.facts.uname.release,
    os: h.facts.os.pretty_name,
    livepatches: h.facts.livepatches.map((p) => ({ name: p.name, enabled: p.enabled === 1, transition: p.transition === 1 })),
    factsAt: h.factsAt.toISOString(),
    drift: drift(h.facts, recorded.map((p) => ({ bundleId: p.bundleId, serial: p.serial, patch: p.patch }))),
    patches: recorded
      .map((p) => ({ bundleId: p.bundleId, serial: p.serial, patch: p.patch, runId: p.runId, appliedAt: p.appliedAt.toISOString() }))
      .sort((a, b) => a.bundleId.localeCompare(b.bundleId) || a.serial - b.serial || a.patch.localeCompare(b.patch)),
    lastResult,
  };
}

/** The newest host result per inventory name (the highest id: rows are created when a run is planned). */
function lastResults(db: Db, names?: string[]): Map<string, HostView['lastResult']> {
  const newest = db
    .select({ id: sql<number>`max(${hostResults.id})` })
    .from(hostResults)
    .where(names ? inArray(hostResults.inventoryName, names) : undefined)
    .groupBy(hostResults.inventoryName);
  const rows = db
    .select({ id: hostResults.id, runId: hostResults.runId, host: hostResults.inventoryName, state: hostResults.state })
    .from(hostResults)
    .where(inArray(hostResults.id, newest))
    .all();
  return new Map(rows.map((r) => [r.host, { runId: r.runId, hostResultId: r.id, host: r.host, state: r.state }]));
}

export function hostsView(db: Db): HostView[] {
  const last = lastResults(db);
  return listHosts(db).map((h) => hostViewOf(db, h, last));
}

export interface HostHistoryEntry {
  runId: number;
  hostResultId: number;
  host: string;
  kind: string;
  bundleId: string;
  serial: number;
  bundleTitle: string;
  runState: string;
  state: string;
  reason: string | null;
  wave: number | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface HostDetail extends HostView {
  kernelBuildId: string | null;
  taint: number;
  livepatchSupported: boolean;
  sigEnforce: string | null;
  lockdown: string | null;
  arch: string;
  /** Every host result for the host's names, newest first. */
  history: HostHistoryEntry[];
}

/** One host with its facts in full and its history; undefined for an unknown id. */
export function hostDetail(db: Db, id: number): HostDetail | undefined {
  const row = db.select().from(hostsTable).where(eq(hostsTable.id, id)).get();
  if (!row) return undefined;
  const names = db.select({ name: hostNames.inventoryName }).from(hostNames).where(eq(hostNames.hostId, id)).all().map((n) => n.name).sort();
  const h: StoredHost = { id: row.id, machineId: row.machineId, hostname: row.hostname, facts: row.facts as Facts, factsAt: row.factsAt, names };
  const view = hostViewOf(db, h, h.names.length ? lastResults(db, h.names) : new Map());
  const history = h.names.length
    ? db
        .select({
          runId: hostResults.runId,
          hostResultId: hostResults.id,
          host: hostResults.inventoryName,
          kind: runs.kind,
          bundleId: runs.bundleId,
          serial: runs.bundleSerial,
          bundleTitle: runs.bundleTitle,
          runState: runs.state,
          state: hostResults.state,
          reason: hostResults.reason,
          wave: hostResults.wave,
          startedAt: hostResults.startedAt,
          finishedAt: hostResults.finishedAt,
        })
        .from(hostResults)
        .innerJoin(runs, eq(runs.id, hostResults.runId))
        .where(inArray(hostResults.inventoryName, h.names))
        .orderBy(desc(hostResults.runId), desc(hostResults.id))
        .all()
        .map((r) => ({ ...r, startedAt: r.startedAt?.toISOString() ?? null, finishedAt: r.finishedAt?.toISOString() ?? null }))
    : [];
  const f = h.facts;
  return {
    ...view,
    kernelBuildId: f.kernel_build_id,
    taint: f.taint,
    livepatchSupported: f.livepatch_supported,
    sigEnforce: f.sig_enforce,
    lockdown: f.lockdown,
    arch: f.arch,
    history,
  };
}

export interface RunSummary {
  id: number;
  kind: string;
  state: string;
  bundle: { id: string; serial: number; title: string; signedBy: string | null };
  target: unknown;
  strategy: unknown;
  inventoryCommit: string | null;
  haltReason: string | null;
  startedBy: string;
  createdAt: string;
  finishedAt: string | null;
  cancelRequested: boolean;
}

export function runSummary(r: RunRow): RunSummary {
  return {
    id: r.id,
    kind: r.kind,
    state: r.state,
    bundle: { id: r.bundleId, serial: r.bundleSerial, title: r.bundleTitle, signedBy: r.bundleKeyId },
    target: r.target,
    strategy: r.strategy,
    inventoryCommit: r.inventoryCommit,
    haltReason: r.haltReason,
    startedBy: r.startedBy,
    createdAt: r.createdAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    cancelRequested: r.cancelRequestedAt !== null,
  };
}

export function runsView(db: Db): RunSummary[] {
  return listRuns(db).map(runSummary);
}

/** A host of a run as the API and the step log show it: its row, its aliases and its step log. */
export interface HostResultView extends HostRow {
  aliases: unknown;
  steps: { name: string; status: string; detail: string | null; output: string | null; startedAt: string; finishedAt: string | null }[];
}

export function hostResultView(db: Db, h: HostResultRow): HostResultView {
  const steps: StepRow[] = hostSteps(db, h.id);
  const last = steps.at(-1);
  return {
    id: h.id,
    host: h.inventoryName,
    aliases: h.aliases,
    wave: h.wave,
    state: h.state,
    reason: h.reason,
    currentStep: last ? `${last.name} ${last.status}` : null,
    startedAt: h.startedAt?.toISOString() ?? null,
    finishedAt: h.finishedAt?.toISOString() ?? null,
    steps: steps.map((s) => ({ name: s.name, status: s.status, detail: s.detail, output: s.output, startedAt: s.startedAt.toISOString(), finishedAt: s.finishedAt?.toISOString() ?? null })),
  };
}

/** One host result of a run, for re-rendering its row. */
export function hostResultIn(db: Db, runId: number, id: number): HostResultRow | undefined {
  return db.select().from(hostResults).where(and(eq(hostResults.runId, runId), eq(hostResults.id, id))).get();
}

export interface WaveProgress {
  wave: number;
  hosts: number;
  /** Hosts in a final state (neither pending nor running). */
  finished: number;
  /** Hosts in a state that counts against the failure budget. */
  failed: number;
}

export interface RunProgress {
  waves: WaveProgress[];
  /** Hosts left out of the waves (unreachable at plan time, or not placed yet). */
  unplaced: number;
  budget: {
    /** Failed hosts among those placed in waves. */
    failed: number;
    /** Hosts placed in waves. */
    placed: number;
    maxFailPercentage: number | null;
    maxFailures: number | null;
    /** The most failures the budget tolerates (the run halts at one more); null: no budget. */
    allowed: number | null;
    exceeded: boolean;
  };
}

const numberOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Wave progress and the failure budget, derived from the host results and the stored strategy
 * with the rule of rollout/strategy.ts FailureBudget: the run halts when failures are strictly
 * more than --max-failures, or strictly more than --max-fail-percentage of the hosts placed in waves. */
export function runProgress(hostRows: { wave: number | null; state: string }[], strategy: unknown): RunProgress {
  const byWave = new Map<number, WaveProgress>();
  let unplaced = 0;
  for (const h of hostRows) {
    if (h.wave === null) {
      unplaced++;
      continue;
    }
    const w = byWave.get(h.wave) ?? { wave: h.wave, hosts: 0, finished: 0, failed: 0 };
    w.hosts++;
    if (isHostFinished(h.state)) w.finished++;
    if (FAILED_STATES.has(h.state as HostState)) w.failed++;
    byWave.set(h.wave, w);
  }
  const waves = [...byWave.values()].sort((a, b) => a.wave - b.wave);
  const placed = waves.reduce((n, w) => n + w.hosts, 0);
  const failed = waves.reduce((n, w) => n + w.failed, 0);
  const s = (strategy ?? {}) as { maxFailPercentage?: unknown; maxFailures?: unknown };
  const maxFailPercentage = numberOrNull(s.maxFailPercentage);
  const maxFailures = numberOrNull(s.maxFailures);
  const limits: number[] = [];
  if (maxFailures !== null) limits.push(maxFailures);
  if (maxFailPercentage !== null && placed > 0) limits.push(Math.floor((maxFailPercentage * placed) / 100));
  const allowed = limits.length ? Math.min(...limits) : null;
  const exceeded = (maxFailures !== null && failed > maxFailures) || (maxFailPercentage !== null && placed > 0 && (failed * 100) / placed > maxFailPercentage);
  return { waves, unplaced, budget: { failed, placed, maxFailPercentage, maxFailures, allowed, exceeded } };
}

export function isHostFinished(state: string): boolean {
  return state !== 'pending' && state !== 'running';
}

/** The progress of a run, read now. */
export function runProgressOf(db: Db, run: RunRow): RunProgress {
  return runProgress(waveStates(db, run.id), run.strategy);
}

/** A run and its hosts (`H`: the API's full host views, or the run page's rows), and its progress. */
export interface RunView<H = HostResultView> {
  run: RunSummary;
  hosts: H[];
  progress: RunProgress;
  /** The newest event when this view was read: a live stream resumes after it. */
  lastEventId: number;
}

/** What the run page shows: one row per host, without step logs. */
export type RunPageView = RunView<HostRow>;

/** Run `id` with the hosts `hostsOf` reads; the event id is read first, so a stream from it misses nothing. */
function readRun<H extends { wave: number | null; state: string }>(db: Db, id: number, hostsOf: (runId: number) => H[]): RunView<H> | undefined {
  const lastEventId = db.select({ id: sql<number | null>`max(${events.id})` }).from(events).where(eq(events.runId, id)).get()?.id ?? 0;
  const run = getRun(db, id);
  if (!run) return undefined;
  const hosts = hostsOf(id);
  return { run: runSummary(run), hosts, progress: runProgress(hosts, run.strategy), lastEventId };
}

/** The run and every host with its step log (the JSON API). */
export function runView(db: Db, id: number): RunView | undefined {
  return readRun(db, id, (runId) => runHostResults(db, runId).map((h) => hostResultView(db, h)));
}

/** The run page's view: one query for all the hosts' rows. */
export function runPageView(db: Db, id: number): RunPageView | undefined {
  return readRun(db, id, (runId) => hostRows(db, runId));
}

export function isFinished(state: string): boolean {
  return !['planned', 'running'].includes(state);
}
