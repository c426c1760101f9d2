/** Starting runs from the console: a live plan preview (facts gathered over SSH now, planned as
 * `fleetpatch plan` would), then a run owned by this server process, started only for the exact
 * bundle the preview showed. Runs are the same `executeRun` the CLI uses; the page follows them
 * from the database like any other run. */
import type { Db } from '../db/index.ts';
import { appliedByMachine } from '../db/runs.ts';
import { intOption } from '../commands/common.ts';
import { AppError } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import { resolveTarget } from '../inventory/index.ts';
import { packageNames, planCounts, planFleet, type HostPlan, type RunKind } from '../plan/index.ts';
import { executeRun } from '../rollout/run.ts';
import { DEFAULT_STRATEGY, formatWaves, parseWaves, type Strategy } from '../rollout/strategy.ts';
import { fleetInventory, type Fleet } from './fleet.ts';
import { MAX_PATTERN, refuseCostlyPattern } from './host-filter.ts';
import { libraryBundle } from './library.ts';

export interface PlanRequest {
  bundle: string;
  pattern: string;
  kind: RunKind;
}

export interface Preview extends PlanRequest {
  title: string;
  bundleId: string;
  serial: number;
  bundleKind: string;
  severity: string;
  cves: string[];
  sha256: string;
  signedBy: string | null;
  plans: HostPlan[];
  counts: Record<string, number>;
  /** Hosts the run would change (apply, or rollback). */
  changing: number;
  rebootNeeded: HostPlan[];
  rollbackImpossible: HostPlan[];
  unreachable: HostPlan[];
}

/** Form or JSON fields → a plan request; field names in errors. */
export function planRequestFrom(v: Record<string, unknown>): PlanRequest {
  const bundle = typeof v.bundle === 'string' ? v.bundle.trim() : '';
  if (!bundle) throw new AppError('usage', 'field bundle: choose a bundle');
  const pattern = typeof v.pattern === 'string' && v.pattern.trim() ? v.pattern.trim() : '';
  if (!pattern) throw new AppError('usage', 'field pattern: give a host pattern (all for every host)');
  if (pattern.length > MAX_PATTERN) throw new AppError('usage', `field pattern: longer than ${MAX_PATTERN} characters`);
  refuseCostlyPattern(pattern); // no @file reads, no unbounded regular expressions from the web
  const kind = v.kind ?? 'apply';
  if (kind !== 'apply' && kind !== 'rollback') throw new AppError('usage', 'field kind: apply or rollback');
  return { bundle, pattern, kind };
}

/** Gathers facts from the targeted hosts now and plans the bundle on them. */
export async function previewPlan(db: Db, fleet: Fleet, req: PlanRequest): Promise<Preview> {
  const bundle = await libraryBundle(fleet, req.bundle);
  const targets = resolveTarget(fleetInventory(fleet), req.pattern);
  const facts = await gatherFacts(targets, { config: fleet.config, db, packageNames: packageNames(bundle) });
  const plans = planFleet(bundle, req.kind, facts, (id) => appliedByMachine(db, id));
  const m = bundle.manifest;
  const reason = (p: HostPlan) => (p.plan.action === 'not-applicable' ? p.plan.reason : '');
  return {
    ...req,
    title: m.title,
    bundleId: m.id,
    serial: m.serial,
    bundleKind: m.kind,
    severity: m.severity,
    cves: m.cves,
    sha256: bundle.sha256,
    signedBy: bundle.keyId,
    plans,
    counts: planCounts(plans),
    changing: plans.filter((p) => p.plan.action === req.kind).length,
    rebootNeeded: plans.filter((p) => reason(p).startsWith('reboot needed')),
    rollbackImpossible: plans.filter((p) => reason(p).startsWith('rollback impossible')),
    unreachable: plans.filter((p) => p.plan.action === 'unreachable'),
  };
}

/** The defaults of an emergency patch: a canary of one, then everything; many forks; a small budget. */
export function emergencyStrategy(hosts: number, forks: number): Strategy {
  return { ...DEFAULT_STRATEGY, waves: [{ count: 1 }, { percent: 100 }], forks: Math.max(forks, Math.min(100, hosts || 1)), maxFailures: Math.max(1, Math.ceil(hosts * 0.02)), maxFailPercentage: null, onFailure: 'rollback-host' };
}

function intField(v: Record<string, unknown>, name: string, min: number, max: number): number | null {
  const t = typeof v[name] === 'string' ? (v[name] as string).trim() : typeof v[name] === 'number' ? String(v[name]) : '';
  return t === '' ? null : intOption(`field ${name}`, t, min, max);
}

/** Strategy fields (waves, forks, max-fail-percentage, max-failures, on-failure, check). */
export function strategyFromFields(v: Record<string, unknown>, defaultForks: number): Strategy {
  const waves = typeof v.waves === 'string' && v.waves.trim() ? v.waves.trim() : formatWaves(DEFAULT_STRATEGY.waves);
  let parsed;
  try {
    parsed = parseWaves(waves);
  } catch (err) {
    throw new AppError('usage', `field waves: ${(err as Error).message.replace(/^--waves:? ?/, '')}`);
  }
  const onFailure = v['on-failure'] ?? 'rollback-host';
  if (onFailure !== 'rollback-host' && onFailure !== 'rollback-all') throw new AppError('usage', 'field on-failure: rollback-host or rollback-all');
  const check = v.check === true || v.check === 'on' || v.check === 'true';
  return {
    ...DEFAULT_STRATEGY,
    waves: parsed,
    forks: intField(v, 'forks', 1, 1000) ?? defaultForks,
    maxFailPercentage: intField(v, 'max-fail-percentage', 0, 100),
    maxFailures: intField(v, 'max-failures', 0, 1_000_000),
    onFailure,
    check,
  };
}

export interface StartRequest extends PlanRequest {
  /** sha256 of the bundle.json the preview showed: a bundle changed since is refused. */
  sha256: string;
  strategy: Strategy;
  user: string;
}

/** The runs this server owns. Closing cancels them (no new host starts; hosts in flight finish or
 * roll back) and waits for them, so stopping the server never abandons a host. */
export class RunManager {
  private readonly active = new Map<number, { cancel: boolean; done: Promise<unknown> }>();
  private closing = false;

  constructor(
    private readonly db: Db,
    private readonly fleet: Fleet,
  ) {}

  /** Starts a run; resolves with its id once it is in the database (or rejects: nothing started). */
  async start(req: StartRequest): Promise<number> {
    if (this.closing) throw new AppError('usage', 'the server is shutting down: no new run starts');
    if (!/^[0-9a-f]{64}$/.test(req.sha256)) throw new AppError('usage', 'field sha256: the bundle hash the plan was shown for');
    const bundle = await libraryBundle(this.fleet, req.bundle);
    if (bundle.sha256 !== req.sha256) throw new AppError('bundle', `bundle ${req.bundle} changed since its plan was shown (now ${bundle.sha256.slice(0, 12)}…, planned ${req.sha256.slice(0, 12)}…): preview the plan again`);
    const inv = fleetInventory(this.fleet);
    const targets = resolveTarget(inv, req.pattern);
    const entry = { cancel: false, done: Promise.resolve() as Promise<unknown> };
    return new Promise<number>((resolve, reject) => {
      let id: number | null = null;
      entry.done = executeRun({
        db: this.db,
        config: this.fleet.config,
        bundle,
        kind: req.kind,
        targets,
        inventories: inv.sources,
        pattern: req.pattern,
        strategy: req.strategy,
        startedBy: `${req.user} (web)`,
        actor: req.user,
        cancelled: () => entry.cancel,
        onEvent: (e) => {
          if (id !== null) return;
          id = e.runId;
          this.active.set(id, entry);
          resolve(id);
        },
      }).then(
        () => id !== null && this.active.delete(id),
        (err: unknown) => {
          if (id === null) reject(err);
          else {
            this.active.delete(id);
            process.stderr.write(`fleetpatch serve: run ${id}: ${(err as Error).message}\n`);
          }
        },
      );
    });
  }

  get running(): number[] {
    return [...this.active.keys()];
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const e of this.active.values()) e.cancel = true;
    await Promise.all([...this.active.values()].map((e) => e.done));
  }
}
