/** The plan: what will happen on every targeted host, decided before anything is touched. */
import type { LivepatchModule } from '../bundles/index.ts';

export type HostAction =
  | {
      action: 'apply';
      /** The livepatch module for this host's kernel build (livepatch bundles). */
      module?: LivepatchModule;
      /** Enabled livepatches an atomic replace disables. */
      replaces: string[];
      notes: string[];
    }
  | { action: 'rollback'; notes: string[] }
  | { action: 'already-applied'; notes: string[] }
  | { action: 'not-applicable'; reason: string }
  | { action: 'unreachable'; reason: string };

/** What fleetpatch's database says it applied to a machine (drift is measured against this). */
export interface AppliedPatch {
  bundleId: string;
  serial: number;
  patch: string;
}

export interface HostPlan {
  /** The inventory name planned; `aliases` are other names that reached the same machine. */
  host: string;
  aliases: string[];
  machineId: string | null;
  kernel: string | null;
  plan: HostAction;
}
