/** Runs, host results, steps and events: written as they happen, read by anyone following. */
import { EventEmitter } from 'node:events';
import { and, asc, desc, eq, gt, inArray } from 'drizzle-orm';
import { perConnection, type Db } from './index.ts';
import { writeEvent } from './run-log.ts';
import { events, hostPatches, hostResults, runs, steps } from './schema.ts';

export type RunRow = typeof runs.$inferSelect;
export type HostResultRow = typeof hostResults.$inferSelect;
export type StepRow = typeof steps.$inferSelect;
export type EventRow = typeof events.$inferSelect;

export function insertRun(db: Db, values: typeof runs.$inferInsert): RunRow {
  return db.insert(runs).values(values).returning().get();
}

export function updateRun(db: Db, id: number, values: Partial<typeof runs.$inferInsert>): void {
  db.update(runs).set(values).where(eq(runs.id, id)).run();
}

export function insertHostResult(db: Db, values: typeof hostResults.$inferInsert): HostResultRow {
  return db.insert(hostResults).values(values).returning().get();
}

export function updateHostResult(db: Db, id: number, values: Partial<typeof hostResults.$inferInsert>): void {
  db.update(hostResults).set(values).where(eq(hostResults.id, id)).run();
}

export function insertStep(db: Db, values: typeof steps.$inferInsert): StepRow {
  return db.insert(steps).values(values).returning().get();
}

export function updateStep(db: Db, id: number, values: Partial<typeof steps.$inferInsert>): void {
  db.update(steps).set(values).where(eq(steps.id, id)).run();
}

/** Marks the steps of a run still `running` as `interrupted` (their controller died, or their
 * host went away mid-step): a finished run has no step that looks in progress. Returns how many. */
export function closeOpenSteps(db: Db, runId: number, why: string, at = new Date()): number {
  const ids = db.select({ id: hostResults.id }).from(hostResults).where(eq(hostResults.runId, runId)).all().map((r) => r.id);
  if (!ids.length) return 0;
  return db
    .update(steps)
    .set({ status: 'interrupted', detail: why, finishedAt: at })
    .where(and(eq(steps.status, 'running'), inArray(steps.hostResultId, ids)))
    .run().changes;
}

/** Tells this process's live streams that a run has a new event ('event', runId), so a run this
 * process executes reaches its pages at once; runs of other processes are found by polling. */
export const runEvents = new EventEmitter().setMaxListeners(0);

export function insertEvent(db: Db, values: typeof events.$inferInsert): EventRow {
  const row = writeEvent(db, values);
  runEvents.emit('event', row.runId);
  return row;
}

/** Resolves when run `runId` gets an event in this process, or after `ms`, whichever is first. */
export function nextRunEvent(runId: number, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      runEvents.off('event', onEvent);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const onEvent = (id: number) => id === runId && done();
    const timer = setTimeout(done, ms);
    runEvents.on('event', onEvent);
    signal?.addEventListener('abort', done);
  });
}

export function getRun(db: Db, id: number): RunRow | undefined {
  return db.select().from(runs).where(eq(runs.id, id)).get();
}

export function listRuns(db: Db, limit = 50): RunRow[] {
  return db.select().from(runs).orderBy(desc(runs.id)).limit(limit).all();
}

export function runHostResults(db: Db, runId: number): HostResultRow[] {
  return db.select().from(hostResults).where(eq(hostResults.runId, runId)).orderBy(asc(hostResults.id)).all();
}

export function hostSteps(db: Db, hostResultId: number): StepRow[] {
  return db.select().from(steps).where(eq(steps.hostResultId, hostResultId)).orderBy(asc(steps.id)).all();
}

export function eventsAfter(db: Db, runId: number, afterId = 0): EventRow[] {
  return db.select().from(events).where(and(eq(events.runId, runId), gt(events.id, afterId))).orderBy(asc(events.id)).all();
}

/** Records that fleetpatch applied a patch to a machine (replacing any earlier record of it). */
export function recordPatch(db: Db, values: typeof hostPatches.$inferInsert): void {
  db.insert(hostPatches)
    .values(values)
    .onConflictDoUpdate({ target: [hostPatches.hostId, hostPatches.patch], set: { bundleId: values.bundleId, serial: values.serial, runId: values.runId, appliedAt: values.appliedAt } })
    .run();
}

export function forgetPatch(db: Db, hostId: number, patch: string): void {
  db.delete(hostPatches).where(and(eq(hostPatches.hostId, hostId), eq(hostPatches.patch, patch))).run();
}

export function patchesOf(db: Db, hostId: number): (typeof hostPatches.$inferSelect)[] {
  return db.select().from(hostPatches).where(eq(hostPatches.hostId, hostId)).all();
}

// the reads made for every host of a run, prepared once per connection
const statements = perConnection((c) => ({
  applied: c.prepare<[string]>('SELECT p.bundle_id AS bundleId, p.serial, p.patch FROM host_patches p JOIN hosts h ON h.id = p.host_id WHERE h.machine_id = ?'),
  cancel: c.prepare<[number]>('SELECT cancel_requested_at AS at FROM runs WHERE id = ?'),
}));

/** What fleetpatch applied to the machine with this machine-id. */
export function appliedByMachine(db: Db, machineId: string): { bundleId: string; serial: number; patch: string }[] {
  return statements(db).applied.all(machineId) as { bundleId: string; serial: number; patch: string }[];
}

/** A cancel of run `id` was requested (its cancelRequestedAt is set). */
export function cancelRequested(db: Db, id: number): boolean {
  const row = statements(db).cancel.get(id) as { at: number | null } | undefined;
  return row?.at != null;
}

/** A run whose owner stopped heartbeating (and, on this machine, whose owner process is gone) is
 * interrupted: `fleetpatch resume` can take it over. */
export function markInterrupted(db: Db, thisHost: string, now = Date.now(), leaseMs = 15_000): void {
  for (const r of db.select().from(runs).where(eq(runs.state, 'running')).all()) {
    const stale = !r.heartbeatAt || now - r.heartbeatAt.getTime() > leaseMs;
    const sameHost = r.owner?.startsWith(`${thisHost}:`) ?? false;
    let alive = false;
    if (sameHost && r.ownerPid) {
      try {
        process.kill(r.ownerPid, 0);
        alive = true;
      } catch {
        alive = false;
      }
    }
    // a live owner heartbeats every 2 s: a stale lease means it is dead or stuck
    if (stale || (sameHost && !alive)) {
      db.update(runs).set({ state: 'interrupted' }).where(and(eq(runs.id, r.id), eq(runs.state, 'running'))).run();
    }
  }
}

export function requestCancel(db: Db, id: number): boolean {
  return db.update(runs).set({ cancelRequestedAt: new Date() }).where(and(eq(runs.id, id), eq(runs.state, 'running'))).run().changes > 0;
}

/** Hosts that another live run (state running) has not finished yet, by run. */
export function busyHosts(db: Db, names: string[]): { runId: number; owner: string | null; hosts: string[] }[] {
  const wanted = new Set(names);
  return db
    .select()
    .from(runs)
    .where(eq(runs.state, 'running'))
    .all()
    .map((r) => ({
      runId: r.id,
      owner: r.owner,
      hosts: runHostResults(db, r.id)
        .filter((h) => (h.state === 'pending' || h.state === 'running') && wanted.has(h.inventoryName))
        .map((h) => h.inventoryName),
    }))
    .filter((b) => b.hosts.length > 0);
}
