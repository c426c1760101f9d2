import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BundleManifest } from '../../server/bundles/index.ts';
import type { Facts } from '../../server/facts/types.ts';
import { planPackages, planPackagesRollback, type InstalledPackage } from '../../server/plan/packages.ts';

type Packages = Extract<BundleManifest, { kind: 'packages' }>;
const deb = (name: string, version: string, arch = 'all') => ({ name, version, arch, file: `debs/${name}_${version}_${arch}.deb` });

function bundle(over: Partial<Packages['packages']> = {}): Packages {
  return { schema: 1, id: 'fp-pkg', serial: 1, kind: 'packages', title: 't', cves: [], severity: 'low', checks: [], files: {}, packages: { debs: [deb('fp-demo', '1.1')], previous: [], installNew: false, os: [], ...over } };
}
const facts = { os: { id: 'debian', version_id: '12', pretty_name: null }, journal: [] } as unknown as Facts;
const pkg = (name: string, installed: string | null, aptCache = false, repackable = true): InstalledPackage => ({ name, installed, aptCache, repackable });
const host = (...packages: InstalledPackage[]) => ({ packages, dpkgArch: 'amd64', audit: '', dbState: null });
const plan = (b: Packages, ...p: InstalledPackage[]) => planPackages(b, facts, host(...p));

describe('packages plan', () => {
  it('applies an upgrade and says where the rollback will come from', () => {
    assert.match(JSON.stringify(plan(bundle(), pkg('fp-demo', '1.0'))), /"apply".*fp-demo: 1\.0 → 1\.1 \(rollback from a copy rebuilt on the host\)/);
    assert.match(JSON.stringify(plan(bundle(), pkg('fp-demo', '1.0', true))), /rollback from the apt cache/);
    assert.match(JSON.stringify(plan(bundle({ previous: [deb('fp-demo', '1.0')] }), pkg('fp-demo', '1.0', false, false))), /rollback from the bundle/);
  });

  it('is already-applied when every package is at its version', () => {
    assert.equal(plan(bundle(), pkg('fp-demo', '1.1')).action, 'already-applied');
  });

  it('says rollback impossible unless --irreversible', () => {
    const a = plan(bundle(), pkg('fp-demo', '1.0', false, false));
    assert.equal(a.action, 'not-applicable');
    assert.match(a.action === 'not-applicable' ? a.reason : '', /^rollback impossible: fp-demo 1\.0 .*pass --irreversible/);
    const forced = planPackages(bundle(), facts, host(pkg('fp-demo', '1.0', false, false)), { irreversible: true });
    assert.equal(forced.action, 'apply');
    assert.match(JSON.stringify(forced), /IRREVERSIBLE/);
  });

  it('refuses missing packages of an upgrade-only bundle, downgrades, other OSes and architectures, and a dirty dpkg', () => {
    assert.match(JSON.stringify(plan(bundle(), pkg('fp-demo', null))), /fp-demo is not installed \(the bundle only upgrades/);
    assert.equal(plan(bundle({ installNew: true }), pkg('fp-demo', null)).action, 'apply');
    assert.match(JSON.stringify(plan(bundle(), pkg('fp-demo', '1:0.5'))), /would downgrade fp-demo from 1:0\.5 to 1\.1/);
    assert.match(JSON.stringify(plan(bundle({ os: ['ubuntu:22.04'] }), pkg('fp-demo', '1.0'))), /the bundle is for ubuntu:22\.04; this host runs debian:12/);
    assert.match(JSON.stringify(plan(bundle({ debs: [deb('fp-demo', '1.1', 'arm64')] }), pkg('fp-demo', '1.0'))), /built for arm64; dpkg on this host is amd64/);
    assert.match(JSON.stringify(planPackages(bundle(), facts, { ...host(pkg('fp-demo', '1.0')), audit: 'fp-demo is half-installed' })), /dpkg --audit reports problems/);
  });

  it('rolls back only where fleetpatch committed the bundle', () => {
    assert.equal(planPackagesRollback(bundle(), facts).action, 'not-applicable');
    const applied = { ...facts, journal: [{ op: 'o', state: 'committed', bundle: 'fp-pkg', serial: 1, patch: 'packages', sha256: '-', time_ms: 0 }] } as Facts;
    assert.equal(planPackagesRollback(bundle(), applied).action, 'rollback');
  });
});
