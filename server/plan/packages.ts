/** Applicability of a packages bundle to one host, from its facts and the helper's package query:
 * pure, no I/O. */
import type { BundleManifest } from '../bundles/index.ts';
import type { Facts } from '../facts/types.ts';
import { compareDebVersions } from './debversion.ts';
import type { HostAction } from './types.ts';

type Packages = Extract<BundleManifest, { kind: 'packages' }>;

/** What `pkg-query` reports about one package on the host. */
export interface InstalledPackage {
  name: string;
  installed: string | null;
  aptCache: boolean;
  repackable: boolean;
}

export interface PackageHostState {
  packages: InstalledPackage[];
  dpkgArch: string;
  /** `dpkg --audit` output: empty when dpkg's database is consistent. */
  audit: string;
  /** dpkg's database state the query read (the helper's `dpkg-db` line), null when a change was
   * in flight: the apply passes it back so the helper can tell whether these versions still hold. */
  dbState: string | null;
}

export interface PackagePlanOptions {
  allowDowngrade?: boolean;
  /** Apply even where a rollback would be impossible. */
  irreversible?: boolean;
}

export function planPackages(m: Packages, f: Facts, host: PackageHostState, opts: PackagePlanOptions = {}): HostAction {
  const p = m.packages;
  const os = `${f.os.id}:${f.os.version_id}`;
  if (p.os.length && !p.os.includes(os)) return { action: 'not-applicable', reason: `the bundle is for ${p.os.join(', ')}; this host runs ${os}` };
  const wrongArch = p.debs.find((d) => d.arch !== 'all' && d.arch !== host.dpkgArch);
  if (wrongArch) return { action: 'not-applicable', reason: `${wrongArch.name} is built for ${wrongArch.arch}; dpkg on this host is ${host.dpkgArch}` };
  if (host.audit.trim()) return { action: 'not-applicable', reason: `dpkg --audit reports problems; fix them first: ${host.audit.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')}` };
  const state = (name: string) => host.packages.find((x) => x.name === name) ?? { name, installed: null, aptCache: false, repackable: false };
  if (p.debs.every((d) => state(d.name).installed === d.version)) return { action: 'already-applied', notes: [] };
  const notes: string[] = [];
  const impossible: string[] = [];
  for (const d of p.debs) {
    const s = state(d.name);
    if (s.installed === null) {
      if (!p.installNew) return { action: 'not-applicable', reason: `${d.name} is not installed (the bundle only upgrades installed packages)` };
      notes.push(`${d.name}: new → ${d.version} (rollback removes it)`);
      continue;
    }
    const cmp = compareDebVersions(s.installed, d.version);
    if (cmp === 0) continue;
    if (cmp > 0 && !opts.allowDowngrade) return { action: 'not-applicable', reason: `would downgrade ${d.name} from ${s.installed} to ${d.version}; pass --allow-downgrade` };
    const source = p.previous.some((x) => x.name === d.name && x.version === s.installed) ? 'the bundle' : s.aptCache ? 'the apt cache' : s.repackable ? 'a copy rebuilt on the host' : null;
    if (!source) impossible.push(`${d.name} ${s.installed} (no previous .deb in the bundle or the apt cache, and its installed files differ from dpkg's record)`);
    notes.push(`${d.name}: ${s.installed} → ${d.version}${source ? ` (rollback from ${source})` : ''}`);
  }
  if (impossible.length) {
    if (!opts.irreversible) return { action: 'not-applicable', reason: `rollback impossible: ${impossible.join('; ')}; pass --irreversible to apply anyway` };
    notes.push(`IRREVERSIBLE (--irreversible): ${impossible.join('; ')}`);
  }
  return { action: 'apply', replaces: [], notes };
}

/** Rolling a packages bundle back: possible where fleetpatch's journal has it committed. */
export function planPackagesRollback(m: Packages, f: Facts): HostAction {
  const committed = f.journal.some((e) => e.patch === 'packages' && e.bundle === m.id && e.state === 'committed');
  return committed ? { action: 'rollback', notes: [] } : { action: 'not-applicable', reason: `${m.id} was not applied to this host by fleetpatch` };
}
