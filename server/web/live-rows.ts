/** The reads behind the live run page, which run once per event batch of every stream and once per
 * page load: each host's row (its state and current step, without the step log) and the ids of new
 * events, through statements prepared once per connection. A 1,000-host run page is one query. */
import { perConnection, type Db } from '../db/index.ts';

/** What one row of the run page shows. */
export interface HostRow {
  id: number;
  host: string;
  wave: number | null;
  state: string;
  reason: string | null;
  /** The host's newest step as `name status`, or null before its first. */
  currentStep: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** An event as the stream needs it: its id, and the row it concerns (null: the run itself). */
export interface EventRef {
  id: number;
  hostResultId: number | null;
}

const ROW = `SELECT hr.id, hr.inventory_name AS host, hr.wave, hr.state, hr.reason, hr.started_at AS startedAt, hr.finished_at AS finishedAt,
  (SELECT s.name || ' ' || s.status FROM steps s WHERE s.host_result_id = hr.id ORDER BY s.id DESC LIMIT 1) AS currentStep
  FROM host_results hr`;

const statements = perConnection((c) => ({
  runState: c.prepare('SELECT state FROM runs WHERE id = ?').pluck(),
  waveStates: c.prepare('SELECT wave, state FROM host_results WHERE run_id = ?'),
  row: c.prepare(`${ROW} WHERE hr.run_id = ? AND hr.id = ?`),
  rows: c.prepare(`${ROW} WHERE hr.run_id = ? ORDER BY hr.id`),
  events: c.prepare('SELECT id, host_result_id AS hostResultId FROM events WHERE run_id = ? AND id > ? ORDER BY id'),
}));

type Raw = Omit<HostRow, 'startedAt' | 'finishedAt'> & { startedAt: number | null; finishedAt: number | null };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const rowOf = (r: Raw): HostRow => ({ ...r, startedAt: iso(r.startedAt), finishedAt: iso(r.finishedAt) });

/** One host's row of run `runId`, or undefined if that host result is not in this run. */
export function hostRow(db: Db, runId: number, hostResultId: number): HostRow | undefined {
  const r = statements(db).row.get(runId, hostResultId) as Raw | undefined;
  return r && rowOf(r);
}

/** Every host's row of run `runId`, in host result order. */
export function hostRows(db: Db, runId: number): HostRow[] {
  return (statements(db).rows.all(runId) as Raw[]).map(rowOf);
}

/** The run's events after `afterId`, oldest first. */
export function eventRefsAfter(db: Db, runId: number, afterId: number): EventRef[] {
  return statements(db).events.all(runId, afterId) as EventRef[];
}

/** Each host's wave and state: what wave progress and the failure budget are computed from. */
export function waveStates(db: Db, runId: number): { wave: number | null; state: string }[] {
  return statements(db).waveStates.all(runId) as { wave: number | null; state: string }[];
}

/** The run's state, or undefined if there is no such run. */
export function runState(db: Db, runId: number): string | undefined {
  return statements(db).runState.get(runId) as string | undefined;
}
