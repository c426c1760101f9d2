/** Writes a run's progress to the database as it happens (host states, steps, events) and tells
 * an optional observer, such as the CLI's live output. */
import type { Db } from '../db/index.ts';
import { insertEvent, insertStep, updateHostResult, updateStep, type EventRow } from '../db/runs.ts';

export type HostState = 'pending' | 'running' | 'applied' | 'already-applied' | 'rolled-back' | 'rollback-failed' | 'failed' | 'unreachable' | 'not-applicable' | 'skipped';

const MAX_OUTPUT = 16 * 1024;

export class RunRecorder {
  constructor(
    private readonly db: Db,
    readonly runId: number,
    private readonly observer?: (e: EventRow) => void,
  ) {}

  event(type: string, data: Record<string, unknown>, hostResultId: number | null = null): void {
    const row = insertEvent(this.db, { runId: this.runId, hostResultId, type, data, at: new Date() });
    this.observer?.(row);
  }

  host(hostResultId: number, host: string, state: HostState, reason: string | null = null, extra: { hostId?: number; opId?: string } = {}): void {
    const now = new Date();
    updateHostResult(this.db, hostResultId, {
      state,
      reason,
      ...extra,
      ...(state === 'running' ? { startedAt: now } : state === 'pending' ? {} : { finishedAt: now }),
    });
    this.event('host', { host, state, reason }, hostResultId);
  }

  /** Runs `fn` as a step; its result's `detail`/`output` are stored, a throw marks it failed. */
  async step<T>(hostResultId: number, host: string, name: string, fn: () => Promise<T>, describe?: (v: T) => { detail?: string; output?: string; failed?: boolean }): Promise<T> {
    const row = insertStep(this.db, { hostResultId, name, status: 'running', startedAt: new Date() });
    this.event('step', { host, step: name, status: 'running' }, hostResultId);
    try {
      const value = await fn();
      const d = describe?.(value) ?? {};
      this.finishStep(row.id, hostResultId, host, name, d.failed ? 'failed' : 'ok', d.detail ?? null, d.output ?? null);
      return value;
    } catch (err) {
      this.finishStep(row.id, hostResultId, host, name, 'failed', err instanceof Error ? err.message : String(err), null);
      throw err;
    }
  }

  /** A step that happened on the host (reported by the helper), recorded as it arrives. */
  remoteStep(hostResultId: number, host: string, name: string, status: string, detail: string | null, output: string | null = null): void {
    const now = new Date();
    insertStep(this.db, { hostResultId, name, status, detail, output: output?.slice(0, MAX_OUTPUT) ?? null, startedAt: now, finishedAt: now });
    this.event('step', { host, step: name, status, detail }, hostResultId);
  }

  private finishStep(id: number, hostResultId: number, host: string, name: string, status: 'ok' | 'failed', detail: string | null, output: string | null): void {
    updateStep(this.db, id, { status, detail, output: output?.slice(0, MAX_OUTPUT) ?? null, finishedAt: new Date() });
    this.event('step', { host, step: name, status, detail }, hostResultId);
  }
}
