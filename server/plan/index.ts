/** Planning a bundle over facts gathered from the target: one entry per machine. */
import type { LoadedBundle } from '../bundles/index.ts';
import { AppError } from '../errors.ts';
import type { HostFacts } from '../facts/gather.ts';
import type { Facts } from '../facts/types.ts';
import { planLivepatch, planLivepatchRollback, type PlanOptions } from './livepatch.ts';
import { planPackages, planPackagesRollback, type PackageHostState } from './packages.ts';
import type { AppliedPatch, HostAction, HostPlan } from './types.ts';

export type { AppliedPatch, HostAction, HostPlan } from './types.ts';
export { drift } from './livepatch.ts';

export type RunKind = 'apply' | 'rollback';

/** What the plan needs beyond facts: the package query, for packages bundles. */
export interface HostExtra {
  packages?: PackageHostState;
}

export function planHost(bundle: LoadedBundle, kind: RunKind, facts: Facts, applied: AppliedPatch[], opts: PlanOptions = {}, extra: HostExtra = {}): HostAction {
  const m = bundle.manifest;
  if (m.kind === 'livepatch') return kind === 'apply' ? planLivepatch(m, facts, applied, opts) : planLivepatchRollback(m, facts);
  if (kind === 'rollback') return planPackagesRollback(m, facts);
  if (!extra.packages) throw new AppError('internal', 'a packages plan needs the host\'s package query');
  return planPackages(m, facts, extra.packages, opts);
}

/** Package names a bundle's plan must ask hosts about. */
export function packageNames(bundle: LoadedBundle): string[] {
  return bundle.manifest.kind === 'packages' ? bundle.manifest.packages.debs.map((d) => d.name) : [];
}

/** Plans every host; names that reached the same machine (same machine-id) collapse into the
 * first one in inventory order. */
export function planFleet(bundle: LoadedBundle, kind: RunKind, results: HostFacts[], appliedFor: (machineId: string) => AppliedPatch[], opts: PlanOptions = {}): HostPlan[] {
  const plans: HostPlan[] = [];
  const byMachine = new Map<string, HostPlan>();
  for (const r of results) {
    if (!r.ok) {
      plans.push({ host: r.host, aliases: [], machineId: null, kernel: null, plan: { action: 'unreachable', reason: r.error.message } });
      continue;
    }
    const first = byMachine.get(r.facts.machine_id);
    if (first) {
      first.aliases.push(r.host);
      continue;
    }
    const plan: HostPlan = {
      host: r.host,
      aliases: [],
      machineId: r.facts.machine_id,
      kernel: r.facts.uname.release,
      plan: planHost(bundle, kind, r.facts, appliedFor(r.facts.machine_id), opts, r.packages ? { packages: r.packages } : {}),
    };
    byMachine.set(r.facts.machine_id, plan);
    plans.push(plan);
  }
  return plans;
}

export function planCounts(plans: HostPlan[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of plans) counts[p.plan.action] = (counts[p.plan.action] ?? 0) + 1;
  return counts;
}
