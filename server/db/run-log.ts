/** The hot writes of a run in progress (steps, events, host states): prepared statements kept for
 * the life of the connection instead of a query built and prepared anew per row, so that a run
 * recorder can write a row and its event in one transaction. */
import { perConnection, type Db } from './index.ts';
import type { events, hostResults } from './schema.ts';

type EventRow = typeof events.$inferSelect;

const statements = perConnection((c) => ({
  event: c.prepare('INSERT INTO events (run_id, host_result_id, type, data, at) VALUES (?, ?, ?, ?, ?)'),
  stepStart: c.prepare("INSERT INTO steps (host_result_id, name, status, started_at) VALUES (?, ?, 'running', ?)"),
  stepEnd: c.prepare('UPDATE steps SET status = ?, detail = ?, output = ?, finished_at = ? WHERE id = ?'),
  stepDone: c.prepare('INSERT INTO steps (host_result_id, name, status, detail, output, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
  // a field given as null keeps its value (callers never clear these)
  host: c.prepare('UPDATE host_results SET state = ?, reason = ?, host_id = coalesce(?, host_id), op_id = coalesce(?, op_id), started_at = coalesce(?, started_at), finished_at = coalesce(?, finished_at) WHERE id = ?'),
  wave: c.prepare('UPDATE host_results SET wave = ? WHERE id = ?'),
  tx: c.transaction((fn: () => unknown) => fn()),
}));

/** Runs `fn` in one transaction (nested calls become savepoints). */
export function inTransaction<T>(db: Db, fn: () => T): T {
  return statements(db).tx(fn) as T;
}

export function writeEvent(db: Db, v: typeof events.$inferInsert): EventRow {
  const hostResultId = v.hostResultId ?? null;
  const id = Number(statements(db).event.run(v.runId, hostResultId, v.type, JSON.stringify(v.data), v.at.getTime()).lastInsertRowid);
  return { id, runId: v.runId, hostResultId, type: v.type, data: v.data, at: v.at };
}

/** A step that starts now (status `running`); returns its id. */
export function writeStepStart(db: Db, hostResultId: number, name: string, at: Date): number {
  return Number(statements(db).stepStart.run(hostResultId, name, at.getTime()).lastInsertRowid);
}

export function writeStepEnd(db: Db, id: number, status: string, detail: string | null, output: string | null, at: Date): void {
  statements(db).stepEnd.run(status, detail, output, at.getTime(), id);
}

/** A step recorded once, already finished (it took no time of its own, or happened elsewhere). */
export function writeStepDone(db: Db, hostResultId: number, name: string, status: string, detail: string | null, output: string | null, at: Date): void {
  statements(db).stepDone.run(hostResultId, name, status, detail, output, at.getTime(), at.getTime());
}

type HostValues = Pick<typeof hostResults.$inferInsert, 'state' | 'reason' | 'hostId' | 'opId' | 'startedAt' | 'finishedAt'>;

/** A host result's new state; an absent hostId, opId, startedAt or finishedAt keeps the stored one. */
export function writeHostState(db: Db, id: number, v: HostValues): void {
  statements(db).host.run(v.state, v.reason ?? null, v.hostId ?? null, v.opId ?? null, v.startedAt?.getTime() ?? null, v.finishedAt?.getTime() ?? null, id);
}

/** The wave a host result was placed in. */
export function writeWave(db: Db, id: number, wave: number): void {
  statements(db).wave.run(wave, id);
}
