/** Writes a run's progress to the database as it happens (host states, steps, events) and tells
 * an optional observer, such as the CLI's live output. Each change is one transaction: the row
 * and the event that announces it, committed together. */
import type { Db } from '../db/index.ts';
import { inTransaction, writeHostState, writeStepDone, writeStepEnd, writeStepStart } from '../db/run-log.ts';
import { insertEvent, type EventRow } from '../db/runs.ts';

export type HostState = 'pending' | 'running' | 'applied' | 'already-applied' | 'rolled-back' | 'rollback-failed' | 'failed' | 'unreachable' | 'not-applicable' | 'skipped';

const MAX_OUTPUT = 16 * 1024;

type Describe<T> = (v: T) => { detail?: string; output?: string; failed?: boolean };

export class RunRecorder {
  constructor(
    private readonly db: Db,
    readonly runId: number,
    private readonly observer?: (e: EventRow) => void,
  ) {}

  event(type: string, data: Record<string, unknown>, hostResultId: number | null = null): void {
    this.commit(() => undefined, type, data, hostResultId);
  }

  host(hostResultId: number, host: string, state: HostState, reason: string | null = null, extra: { hostId?: number; opId?: string } = {}): void {
    this.commit(
      (now) => writeHostState(this.db, hostResultId, { state, reason, ...extra, ...(state === 'running' ? { startedAt: now } : state === 'pending' ? {} : { finishedAt: now }) }),
      'host',
      { host, state, reason },
      hostResultId,
    );
  }

  /** Runs `fn` as a step; its result's `detail`/`output` are stored, a throw marks it failed. */
  async step<T>(hostResultId: number, host: string, name: string, fn: () => Promise<T>, describe?: Describe<T>): Promise<T> {
    let id = 0;
    this.commit((now) => (id = writeStepStart(this.db, hostResultId, name, now)), 'step', { host, step: name, status: 'running' }, hostResultId);
    const finish = (status: 'ok' | 'failed', detail: string | null, output: string | null) =>
      this.commit((now) => writeStepEnd(this.db, id, status, detail, clip(output), now), 'step', { host, step: name, status, detail }, hostResultId);
    try {
      const value = await fn();
      const d = describe?.(value) ?? {};
      finish(d.failed ? 'failed' : 'ok', d.detail ?? null, d.output ?? null);
      return value;
    } catch (err) {
      finish('failed', err instanceof Error ? err.message : String(err), null);
      throw err;
    }
  }

  /** A step the controller decides at once (no I/O): recorded once, finished. */
  decide<T>(hostResultId: number, host: string, name: string, fn: () => T, describe: Describe<T>): T {
    let value: T;
    try {
      value = fn();
    } catch (err) {
      this.remoteStep(hostResultId, host, name, 'failed', err instanceof Error ? err.message : String(err));
      throw err;
    }
    const d = describe(value);
    this.remoteStep(hostResultId, host, name, d.failed ? 'failed' : 'ok', d.detail ?? null, d.output ?? null);
    return value;
  }

  /** A step that happened on the host (reported by the helper), recorded as it arrives. */
  remoteStep(hostResultId: number, host: string, name: string, status: string, detail: string | null, output: string | null = null): void {
    this.commit((now) => writeStepDone(this.db, hostResultId, name, status, detail, clip(output), now), 'step', { host, step: name, status, detail }, hostResultId);
  }

  /** `write` and the event announcing it in one transaction; the observer hears of it after. */
  private commit(write: (now: Date) => void, type: string, data: Record<string, unknown>, hostResultId: number | null): void {
    const at = new Date();
    const row = inTransaction(this.db, () => {
      write(at);
      return insertEvent(this.db, { runId: this.runId, hostResultId, type, data, at });
    });
    this.observer?.(row);
  }
}

const clip = (output: string | null) => output?.slice(0, MAX_OUTPUT) ?? null;
