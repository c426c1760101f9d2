import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSerial, moduleForBuild, parseManifest } from '../../server/bundles/index.ts';
import { BUILD_A, BUILD_B, MODULE_A, MODULE_B, sourceManifest } from './support.ts';

const bundle = { id: 'fp-demo-good', serial: 3 };

describe('checkSerial (downgrade protection)', () => {
  it('allows a bundle on a host that has nothing of its series', () => {
    assert.deepEqual(checkSerial(bundle, [], false), { ok: true, downgrade: false });
    assert.deepEqual(checkSerial(bundle, [{ id: 'other-series', serial: 99 }], false), { ok: true, downgrade: false });
  });

  it('allows a newer or the same serial', () => {
    assert.deepEqual(checkSerial(bundle, [{ id: 'fp-demo-good', serial: 2 }], false), { ok: true, downgrade: false });
    assert.deepEqual(checkSerial(bundle, [{ id: 'fp-demo-good', serial: 3 }], false), { ok: true, downgrade: false });
  });

  it('refuses an older serial than the host has, saying how to override', () => {
    assert.deepEqual(checkSerial(bundle, [{ id: 'fp-demo-good', serial: 5 }], false), {
      ok: false,
      reason: 'host has serial 5 of series fp-demo-good; bundle has serial 3; pass --allow-downgrade',
    });
  });

  it('compares with the newest serial of the series the host has', () => {
    const installed = [{ id: 'fp-demo-good', serial: 1 }, { id: 'fp-demo-good', serial: 7 }, { id: 'x', serial: 1 }];
    assert.match((checkSerial(bundle, installed, false) as { reason: string }).reason, /^host has serial 7 of series fp-demo-good/);
  });

  it('allows a downgrade only when asked, and says it is one', () => {
    assert.deepEqual(checkSerial(bundle, [{ id: 'fp-demo-good', serial: 5 }], true), { ok: true, downgrade: true });
  });

  it('takes a loaded bundle as well as {id, serial}', () => {
    assert.equal(checkSerial({ manifest: bundle }, [{ id: 'fp-demo-good', serial: 4 }], false).ok, false);
  });
});

describe('moduleForBuild', () => {
  const manifest = parseManifest(
    Buffer.from(JSON.stringify(sourceManifest({ files: { [MODULE_A]: { sha256: 'a'.repeat(64), size: 1 }, [MODULE_B]: { sha256: 'b'.repeat(64), size: 1 } } }))),
    'bundle.json',
  );

  it('picks the module built for the running kernel build-id', () => {
    assert.equal(moduleForBuild(manifest, BUILD_B)?.file, MODULE_B);
    assert.equal(moduleForBuild(manifest, BUILD_A.toUpperCase())?.release, '6.1.0-56-amd64');
  });

  it('finds nothing for another build, even of the same release', () => {
    assert.equal(moduleForBuild(manifest, '1'.repeat(40)), null);
  });

  it('finds nothing in a packages bundle', () => {
    const deb = 'debs/fp-demo_1.0_amd64.deb';
    const packages = sourceManifest({ kind: 'packages', livepatch: undefined, packages: { debs: [{ name: 'fp-demo', version: '1.0', arch: 'amd64', file: deb }] }, files: { [deb]: { sha256: 'a'.repeat(64), size: 1 } } });
    assert.equal(moduleForBuild(parseManifest(Buffer.from(JSON.stringify(packages)), 'bundle.json'), BUILD_A), null);
  });
});
