/** The rollout rules (DESIGN.md → Rollout semantics), pure: waves, the failure budget, which host
 * states count as failures. */
import { AppError } from '../errors.ts';
import type { HostState } from './record.ts';

export type WaveSize = { count: number } | { percent: number };

export interface Strategy {
  forks: number;
  /** Batch sizes; the last repeats until every host is placed (like Ansible's serial). */
  waves: WaveSize[];
  /** Halt when failures exceed this percentage of the hosts placed in waves (strictly greater). */
  maxFailPercentage: number | null;
  /** Halt when failures exceed this count (strictly greater). */
  maxFailures: number | null;
  onFailure: 'rollback-host' | 'rollback-all';
  /** Plan, connect and preflight only: nothing changed on any host. */
  check: boolean;
}

export const DEFAULT_STRATEGY: Omit<Strategy, 'forks'> = { waves: [{ percent: 100 }], maxFailPercentage: null, maxFailures: null, onFailure: 'rollback-host', check: false };

/** `1,10%,100%` → wave sizes. */
export function parseWaves(text: string): WaveSize[] {
  const parts = text.split(',').map((p) => p.trim());
  if (!parts.length || parts.some((p) => p === '')) throw new AppError('usage', `--waves ${JSON.stringify(text)}: expected sizes such as 1,10%,100%`);
  return parts.map((p) => {
    const m = /^(\d+)(%?)$/.exec(p);
    const n = m ? Number(m[1]) : NaN;
    if (!m || n < 1 || (m[2] && n > 100)) throw new AppError('usage', `--waves: ${JSON.stringify(p)} is not a host count ≥ 1 or a percentage from 1% to 100%`);
    return m[2] ? { percent: n } : { count: n };
  });
}

export function formatWaves(waves: WaveSize[]): string {
  return waves.map((w) => ('count' in w ? String(w.count) : `${w.percent}%`)).join(',');
}

/** Splits hosts into waves: each size is a count or a percentage of all hosts (rounded up), the
 * last size repeats; every host is in exactly one wave, in order. */
export function placeInWaves<T>(hosts: readonly T[], waves: WaveSize[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  let w = 0;
  while (i < hosts.length) {
    const spec = waves[Math.min(w, waves.length - 1)]!;
    const size = waveSize(spec, hosts.length);
    out.push(hosts.slice(i, i + size));
    i += size;
    w++;
  }
  return out;
}

/** Whether the host at index `i` of the hosts to place (in order) is in the first wave whichever
 * of them turn out reachable: its place among the reachable is p ≤ i, their number n ≥ p + 1,
 * and the first wave's size(n) − p never grows with p (a percentage ≤ 100 % adds at most one host
 * per host), so size(i + 1) > i suffices. True for every host when the first wave is 100 %, for
 * the first `count` hosts of a count. */
export function certainlyFirstWave(i: number, waves: WaveSize[]): boolean {
  return i < waveSize(waves[0]!, i + 1);
}

function waveSize(spec: WaveSize, hosts: number): number {
  return Math.max(1, 'count' in spec ? spec.count : Math.ceil((spec.percent * hosts) / 100));
}

/** Host states that count against the failure budget. */
export const FAILED_STATES = new Set<HostState>(['failed', 'rolled-back', 'rollback-failed', 'unreachable']);

export class FailureBudget {
  failures = 0;

  constructor(
    /** Hosts placed in waves (hosts unreachable at plan time are not). */
    readonly total: number,
    readonly maxFailPercentage: number | null,
    readonly maxFailures: number | null,
  ) {}

  record(state: HostState): void {
    if (FAILED_STATES.has(state)) this.failures++;
  }

  /** Why the run must halt now, or null. */
  exceeded(): string | null {
    if (this.maxFailures !== null && this.failures > this.maxFailures) return `${this.failures} hosts failed, more than --max-failures ${this.maxFailures}`;
    if (this.maxFailPercentage !== null && this.total > 0 && (this.failures * 100) / this.total > this.maxFailPercentage) {
      return `${this.failures} of ${this.total} hosts failed (${((this.failures * 100) / this.total).toFixed(1)}%), more than --max-fail-percentage ${this.maxFailPercentage}`;
    }
    return null;
  }
}
