import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BundleManifest, LoadedBundle } from '../../server/bundles/index.ts';
import type { HostFacts } from '../../server/facts/gather.ts';
import type { Facts, JournalEntry } from '../../server/facts/types.ts';
import { drift, planFleet } from '../../server/plan/index.ts';
import { planLivepatch, planLivepatchRollback } from '../../server/plan/livepatch.ts';

const BUILD = 'a'.repeat(40);
type Livepatch = Extract<BundleManifest, { kind: 'livepatch' }>;

function manifest(over: Partial<Livepatch['livepatch']> = {}, serial = 2): Livepatch {
  return {
    schema: 1,
    id: 'fp-demo',
    serial,
    kind: 'livepatch',
    title: 'demo',
    cves: [],
    severity: 'high',
    checks: [],
    files: {},
    livepatch: { patch: 'fp_good', replace: false, transitionTimeoutSeconds: 30, modules: [{ buildId: BUILD, release: '6.1.0-56-amd64', version: '#1', file: 'm.ko' }], ...over },
  };
}

function facts(over: Partial<Facts> = {}): Facts {
  return {
    helper_version: '0.2.0',
    hostname: 'h',
    machine_id: '1'.repeat(32),
    uname: { sysname: 'Linux', release: '6.1.0-56-amd64', version: '#1', machine: 'x86_64' },
    arch: 'x86_64',
    proc_version: null,
    kernel_build_id: BUILD,
    os: { id: 'debian', version_id: '12', pretty_name: null },
    taint: 0,
    sig_enforce: 'N',
    lockdown: '[none] integrity confidentiality',
    livepatch_supported: true,
    livepatches: [],
    journal: [],
    ...over,
  };
}

const lp = (name: string, enabled = 1, transition = 0) => ({ name, enabled, transition, objects: [{ name: 'vmlinux', patched: 1 }] });
const entry = (patch: string, state: string, bundle = 'fp-demo', serial = 1): JournalEntry => ({ op: `op-${patch}-${state}`, state, bundle, serial, patch, sha256: 'x', time_ms: 0 });

describe('livepatch plan', () => {
  it('applies the module built for the running kernel build', () => {
    const a = planLivepatch(manifest(), facts(), []);
    assert.equal(a.action, 'apply');
    assert.equal(a.action === 'apply' && a.module?.file, 'm.ko');
  });

  it('says already-applied when the patch is enabled and settled', () => {
    assert.equal(planLivepatch(manifest(), facts({ livepatches: [lp('fp_good')] }), []).action, 'already-applied');
  });

  it('needs a reboot when no module matches the build-id, even for the same release string', () => {
    const a = planLivepatch(manifest(), facts({ kernel_build_id: 'b'.repeat(40) }), []);
    assert.deepEqual(a.action, 'not-applicable');
    assert.match(a.action === 'not-applicable' ? a.reason : '', /reboot needed: the bundle's module for 6\.1\.0-56-amd64 is for kernel build a{40}, this host runs build b{40}/);
    const other = planLivepatch(manifest(), facts({ uname: { sysname: 'Linux', release: '6.1.0-55-amd64', version: '#1', machine: 'x86_64' }, kernel_build_id: 'c'.repeat(40) }), []);
    assert.match(other.action === 'not-applicable' ? other.reason : '', /no module for kernel 6\.1\.0-55-amd64 .*covers 6\.1\.0-56-amd64/);
  });

  it('refuses kernels without livepatch, with signature enforcement or lockdown', () => {
    assert.match(JSON.stringify(planLivepatch(manifest(), facts({ livepatch_supported: false }), [])), /no livepatch support/);
    assert.match(JSON.stringify(planLivepatch(manifest(), facts({ sig_enforce: 'Y' }), [])), /sig_enforce=Y/);
    assert.match(JSON.stringify(planLivepatch(manifest(), facts({ lockdown: 'none [integrity] confidentiality' }), [])), /locked down/);
  });

  it('refuses an older serial of a series the host has, unless downgrades are allowed', () => {
    const f = facts({ journal: [entry('fp_old', 'committed', 'fp-demo', 5)] });
    assert.match(JSON.stringify(planLivepatch(manifest({}, 3), f, [])), /host has serial 5 of series fp-demo; bundle has serial 3/);
    assert.equal(planLivepatch(manifest({}, 3), f, [], { allowDowngrade: true }).action, 'apply');
    assert.match(JSON.stringify(planLivepatch(manifest({}, 3), facts(), [{ bundleId: 'fp-demo', serial: 4, patch: 'x' }])), /serial 4/);
  });

  it('lists what a cumulative patch replaces and refuses replacing foreign livepatches by default', () => {
    const m = manifest({ patch: 'fp_v2', replace: true });
    const own = planLivepatch(m, facts({ livepatches: [lp('fp_v1')], journal: [entry('fp_v1', 'committed')] }), []);
    assert.equal(own.action, 'apply');
    assert.deepEqual(own.action === 'apply' && own.replaces, ['fp_v1']);
    const foreign = planLivepatch(m, facts({ livepatches: [lp('vendor_fix')] }), []);
    assert.match(JSON.stringify(foreign), /would replace livepatches fleetpatch did not load: vendor_fix/);
    assert.equal(planLivepatch(m, facts({ livepatches: [lp('vendor_fix')] }), [], { replaceForeign: true }).action, 'apply');
  });

  it('says that rolling back a cumulative patch leaves the host unpatched and which bundle restores it', () => {
    const m = manifest({ patch: 'fp_v2', replace: true });
    const a = planLivepatchRollback(m, facts({ livepatches: [lp('fp_v2')], journal: [entry('fp_v1', 'replaced', 'fp-cumulative', 1)] }));
    assert.equal(a.action, 'rollback');
    assert.match(JSON.stringify(a), /host runs unpatched until one of fp-cumulative serial 1 \(fp_v1\) is applied again/);
    assert.equal(planLivepatchRollback(m, facts()).action, 'not-applicable');
  });

  it('notes an interrupted operation that will be reconciled first', () => {
    assert.match(JSON.stringify(planLivepatch(manifest(), facts({ journal: [entry('fp_good', 'loaded')] }), [])), /will be reconciled/);
  });

  it('finds drift: a patch fleetpatch applied that is no longer enabled', () => {
    const applied = [{ bundleId: 'fp-demo', serial: 2, patch: 'fp_good' }];
    assert.deepEqual(drift(facts(), applied), applied);
    assert.deepEqual(drift(facts({ livepatches: [lp('fp_good')] }), applied), []);
  });

  it('collapses names that reach the same machine and keeps unreachable hosts', () => {
    const bundle = { manifest: manifest() } as LoadedBundle;
    const ok = (host: string, f: Facts): HostFacts => ({ host, ok: true, address: 'x', facts: f, helperUploaded: false, drift: [] });
    const plans = planFleet(
      bundle,
      'apply',
      [ok('a', facts()), ok('a-alias', facts()), ok('b', facts({ machine_id: '2'.repeat(32) })), { host: 'c', ok: false, address: null, error: { code: 'refused', message: 'refused' } }],
      () => [],
    );
    assert.deepEqual(plans.map((p) => [p.host, p.aliases, p.plan.action]), [['a', ['a-alias'], 'apply'], ['b', [], 'apply'], ['c', [], 'unreachable']]);
  });
});
