/** Downgrade protection and module selection: pure functions of a manifest and host state. */
import type { BundleManifest, LivepatchModule } from './manifest.ts';

/** A bundle series and serial, as a host has it installed. */
export interface InstalledSerial {
  id: string;
  serial: number;
}

export type SerialCheck = { ok: true; downgrade: boolean } | { ok: false; reason: string };

/**
 * Whether a bundle may go to a host that has `installed`: never an older serial of the same series
 * unless `allowDowngrade` (then ok with `downgrade: true`, for the plan to say so). The same serial
 * is ok: whether it is already applied is for the plan to judge from facts.
 */
export function checkSerial(bundle: InstalledSerial | { manifest: InstalledSerial }, installed: readonly InstalledSerial[], allowDowngrade: boolean): SerialCheck {
  const { id, serial } = 'manifest' in bundle ? bundle.manifest : bundle;
  const newest = Math.max(0, ...installed.filter((i) => i.id === id).map((i) => i.serial));
  if (newest <= serial) return { ok: true, downgrade: false };
  if (allowDowngrade) return { ok: true, downgrade: true };
  return { ok: false, reason: `host has serial ${newest} of series ${id}; bundle has serial ${serial}; pass --allow-downgrade` };
}

/** The livepatch module built for the kernel with this vmlinux build-id, or null (also for a packages bundle). */
export function moduleForBuild(manifest: BundleManifest, buildId: string): LivepatchModule | null {
  if (manifest.kind !== 'livepatch') return null;
  const wanted = buildId.toLowerCase();
  return manifest.livepatch.modules.find((m) => m.buildId === wanted) ?? null;
}
