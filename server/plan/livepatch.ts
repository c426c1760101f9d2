/** Applicability of a livepatch bundle to one host, from its facts: pure, no I/O. */
import { checkSerial, moduleForBuild, type BundleManifest } from '../bundles/index.ts';
import { IN_FLIGHT, type Facts } from '../facts/types.ts';
import type { AppliedPatch, HostAction } from './types.ts';

export interface PlanOptions {
  allowDowngrade?: boolean;
  /** Packages: apply even where a rollback would be impossible. */
  irreversible?: boolean;
  /** Let a cumulative patch replace livepatches fleetpatch did not load. */
  replaceForeign?: boolean;
}

type Livepatch = Extract<BundleManifest, { kind: 'livepatch' }>;

/** Reasons the kernel would refuse our (unsigned) modules, or null. */
function signaturePolicy(f: Facts): string | null {
  if (f.sig_enforce === 'Y') return 'module signature enforcement is on (sig_enforce=Y): the bundle\'s module must be signed with a key this host trusts';
  if (f.lockdown && !f.lockdown.includes('[none]')) return `the kernel is locked down (${f.lockdown}): the bundle's module must be signed with a key this host trusts`;
  return null;
}

/** Patches fleetpatch loaded on this host, from its journal and from the database. */
function ownPatches(f: Facts, applied: AppliedPatch[]): Set<string> {
  return new Set([...f.journal.filter((e) => e.state === 'committed').map((e) => e.patch), ...applied.map((a) => a.patch)]);
}

export function planLivepatch(m: Livepatch, f: Facts, applied: AppliedPatch[], opts: PlanOptions = {}): HostAction {
  const lp = m.livepatch;
  const notes: string[] = [];
  const pending = f.journal.filter((e) => IN_FLIGHT.has(e.state));
  if (pending.length) notes.push(`interrupted operation ${pending.map((e) => `${e.op} (${e.patch}: ${e.state})`).join(', ')} will be reconciled (rolled back) first`);
  if (!f.livepatch_supported) return { action: 'not-applicable', reason: `kernel ${f.uname.release} has no livepatch support (/sys/kernel/livepatch is missing)` };
  const enabled = f.livepatches.find((p) => p.name === lp.patch);
  if (enabled && enabled.enabled === 1 && enabled.transition === 0) return { action: 'already-applied', notes };
  const installed = [
    ...f.journal.filter((e) => e.state === 'committed').map((e) => ({ id: e.bundle, serial: e.serial })),
    ...applied.map((a) => ({ id: a.bundleId, serial: a.serial })),
  ];
  const serial = checkSerial(m, installed, opts.allowDowngrade ?? false);
  if (!serial.ok) return { action: 'not-applicable', reason: serial.reason };
  if (serial.downgrade) notes.push('downgrade allowed by --allow-downgrade');
  const module = f.kernel_build_id ? moduleForBuild(m, f.kernel_build_id) : null;
  if (!module) {
    const sameRelease = lp.modules.find((x) => x.release === f.uname.release);
    const covered = [...new Set(lp.modules.map((x) => x.release))].join(', ');
    return {
      action: 'not-applicable',
      reason: sameRelease
        ? `reboot needed: the bundle's module for ${f.uname.release} is for kernel build ${sameRelease.buildId}, this host runs build ${f.kernel_build_id ?? 'unknown'}`
        : `reboot needed: no module for kernel ${f.uname.release} (build ${f.kernel_build_id ?? 'unknown'}); the bundle covers ${covered}`,
    };
  }
  const policy = signaturePolicy(f);
  if (policy) return { action: 'not-applicable', reason: policy };
  if (enabled) return { action: 'not-applicable', reason: `livepatch ${lp.patch} is present but not settled (enabled=${enabled.enabled}, transition=${enabled.transition})` };
  const replaces = lp.replace ? f.livepatches.filter((p) => p.name !== lp.patch && p.enabled === 1).map((p) => p.name) : [];
  const own = ownPatches(f, applied);
  const foreign = replaces.filter((p) => !own.has(p));
  if (foreign.length && !opts.replaceForeign) {
    return { action: 'not-applicable', reason: `cumulative patch would replace livepatches fleetpatch did not load: ${foreign.join(', ')}; pass --replace-foreign to allow it` };
  }
  if (replaces.length) {
    notes.push(`replaces ${replaces.join(', ')}; rolling this patch back later leaves the host without them unless their bundle is applied again`);
  }
  return { action: 'apply', module, replaces, notes };
}

/** Rolling a livepatch bundle back on one host. */
export function planLivepatchRollback(m: Livepatch, f: Facts): HostAction {
  const lp = m.livepatch;
  if (!f.livepatches.some((p) => p.name === lp.patch)) return { action: 'not-applicable', reason: `livepatch ${lp.patch} is not loaded` };
  const notes: string[] = [];
  if (lp.replace) {
    const replaced = [...new Set(f.journal.filter((e) => e.state === 'replaced').map((e) => `${e.bundle} serial ${e.serial} (${e.patch})`))];
    notes.push(
      `${lp.patch} is cumulative: the patches it replaced are gone, so after rollback the host runs unpatched` +
        (replaced.length ? ` until one of ${replaced.join(', ')} is applied again` : ''),
    );
  }
  return { action: 'rollback', notes };
}

/** Patches fleetpatch applied that are no longer in effect on the host (rebooted, removed). */
export function drift(f: Facts, applied: AppliedPatch[]): AppliedPatch[] {
  return applied.filter((a) => !f.livepatches.some((p) => p.name === a.patch && p.enabled === 1));
}
