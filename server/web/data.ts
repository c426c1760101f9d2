/** What the pages and the JSON API show, read from the database (one shape for both). */
import type { Db } from '../db/index.ts';
import { listHosts } from '../db/hosts.ts';
import { appliedByMachine, getRun, hostSteps, listRuns, runHostResults, type HostResultRow, type RunRow, type StepRow } from '../db/runs.ts';
import { drift } from '../plan/livepatch.ts';
import { events, hostResults } from '../db/schema.ts';
import { and, eq, sql } from 'drizzle-orm';

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
}

export function hostsView(db: Db): HostView[] {
  return listHosts(db).map((h) => ({
    id: h.id,
    machineId: h.machineId,
    names: h.names,
    hostname: h.hostname,
    kernel: h.facts.uname.release,
    os: h.facts.os.pretty_name,
    livepatches: h.facts.livepatches.map((p) => ({ name: p.name, enabled: p.enabled === 1, transition: p.transition === 1 })),
    factsAt: h.factsAt.toISOString(),
    drift: drift(h.facts, appliedByMachine(db, h.machineId)),
  }));
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

export interface HostResultView {
  id: number;
  host: string;
  aliases: unknown;
  wave: number | null;
  state: string;
  reason: string | null;
  currentStep: string | null;
  startedAt: string | null;
  finishedAt: string | null;
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

export interface RunView {
  run: RunSummary;
  hosts: HostResultView[];
  /** The newest event when this view was read: a live stream resumes after it. */
  lastEventId: number;
}

/** The run and its hosts; the event id is read first, so a stream from it misses nothing. */
export function runView(db: Db, id: number): RunView | undefined {
  const lastEventId = db.select({ id: sql<number | null>`max(${events.id})` }).from(events).where(eq(events.runId, id)).get()?.id ?? 0;
  const run = getRun(db, id);
  if (!run) return undefined;
  return { run: runSummary(run), hosts: runHostResults(db, id).map((h) => hostResultView(db, h)), lastEventId };
}

export function isFinished(state: string): boolean {
  return !['planned', 'running'].includes(state);
}
