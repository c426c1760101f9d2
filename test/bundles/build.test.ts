import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildBundle, generateBundleKey, loadBundle, signBundle } from '../../server/bundles/index.ts';
import { MODULE_A, MODULE_B, assertRefused, signedBundle, sourceManifest, tempDir, writeSource } from './support.ts';

describe('bundle keygen', () => {
  it('writes a 0600 PKCS8 private key and an SPKI public key and never overwrites them', () => {
    const dir = join(tempDir(), 'keys');
    const key = generateBundleKey(dir, 'release-2026');
    assert.equal(key.privateKeyFile, join(dir, 'release-2026.key'));
    assert.equal(statSync(key.privateKeyFile).mode & 0o777, 0o600);
    assert.match(readFileSync(key.privateKeyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(readFileSync(key.publicKeyFile, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
    assert.match(key.keyId, /^[0-9a-f]{16}$/);
    assert.throws(() => generateBundleKey(dir, 'release-2026'), /release-2026\.key: already exists; keygen never overwrites a key/);
    unlinkSync(key.privateKeyFile);
    assert.throws(() => generateBundleKey(dir, 'release-2026'), /release-2026\.pub: already exists/);
    assert.equal(existsSync(key.privateKeyFile), false, 'no half-written key pair');
    assert.throws(() => generateBundleKey(dir, '../x'), /key name "\.\.\/x" must be/);
  });
});

describe('bundle build', () => {
  it('copies exactly the named payload and fills files with sizes and sha256, replacing stale ones', async () => {
    const root = tempDir();
    const stale = { ...sourceManifest(), files: { [MODULE_A]: { sha256: '0'.repeat(64), size: 1 }, 'old.ko': { sha256: '0'.repeat(64), size: 1 } } };
    writeSource(join(root, 'src'), stale);
    writeFileSync(join(root, 'src', 'build.sh'), 'make\n');
    const built = await buildBundle(join(root, 'src'), join(root, 'out'));
    assert.deepEqual(readdirSync(built.dir).sort(), ['bundle.json', 'modules']);
    assert.deepEqual(readdirSync(join(built.dir, 'modules')).sort(), ['fp_good-6.1.0-56-amd64.ko', 'fp_good-6.1.0-57-amd64.ko']);
    const written = JSON.parse(readFileSync(join(built.dir, 'bundle.json'), 'utf8'));
    assert.deepEqual(written.files, {
      [MODULE_A]: { sha256: createHash('sha256').update('module for build A\n').digest('hex'), size: 19 },
      [MODULE_B]: { sha256: createHash('sha256').update('module for build B, a little longer\n').digest('hex'), size: 36 },
    });
    assert.deepEqual({ ...written, files: undefined }, { ...sourceManifest(), files: undefined });
    assert.equal(built.sha256, createHash('sha256').update(readFileSync(join(built.dir, 'bundle.json'))).digest('hex'));
    assert.equal((await loadBundle(built.dir, { trustedKeysDir: null, revokedKeyIds: [], maxFileBytes: 1024 }, { allowUnsigned: true, warn: () => {} })).files.size, 2);
  });

  it('refuses a source payload file that is a symlink, or lies under a symlinked directory', async () => {
    const root = tempDir();
    const src = writeSource(join(root, 'src'));
    renameSync(join(src, MODULE_A), join(root, 'a.ko'));
    symlinkSync(join(root, 'a.ko'), join(src, MODULE_A));
    await assertRefused(buildBundle(src, join(root, 'out')), 'bundle', new RegExp(`src/${MODULE_A}: is a symbolic link`));
    renameSync(join(src, 'modules'), join(root, 'elsewhere'));
    symlinkSync(join(root, 'elsewhere'), join(src, 'modules'));
    await assertRefused(buildBundle(src, join(root, 'out2')), 'bundle', /src\/modules: is a symbolic link/);
    assert.deepEqual(readdirSync(root).sort(), ['a.ko', 'elsewhere', 'src'], 'a failed build leaves nothing behind');
  });

  it('refuses a source bundle.json whose paths escape the source directory', async () => {
    const root = tempDir();
    const m = sourceManifest();
    (m.livepatch as { modules: { file: string }[] }).modules[0]!.file = '../../etc/x.ko';
    writeSource(join(root, 'src'), m);
    await assertRefused(buildBundle(join(root, 'src'), join(root, 'out')), 'bundle', /src\/bundle\.json: livepatch\.modules\[0\]\.file "\.\.\/\.\.\/etc\/x\.ko" contains "\.\." and would escape the bundle/);
  });

  it('refuses a missing payload file and a non-empty output directory', async () => {
    const root = tempDir();
    const src = writeSource(join(root, 'src'), sourceManifest(), { [MODULE_A]: 'a' });
    await assertRefused(buildBundle(src, join(root, 'out')), 'bundle', new RegExp(`src/${MODULE_B}: payload file \\(named in .*src/bundle\\.json\\) is missing`));
    mkdirSync(join(root, 'full'));
    writeFileSync(join(root, 'full', 'x'), '');
    await assertRefused(buildBundle(src, join(root, 'full')), 'usage', /full: exists and is not empty/);
  });
});

describe('bundle sign', () => {
  it('refuses to sign a bundle whose payload does not match its manifest', async () => {
    const f = await signedBundle();
    writeFileSync(join(f.dir, MODULE_A), 'module for build X\n');
    await assertRefused(signBundle(f.dir, f.key.privateKeyFile), 'bundle', /differs from files/);
  });

  it('refuses a private key that group or others can read, as ssh does', async () => {
    const f = await signedBundle();
    chmodSync(f.key.privateKeyFile, 0o644);
    await assertRefused(signBundle(f.dir, f.key.privateKeyFile), 'usage', /fleetpatch-bundle\.key: private key is accessible by group or others \(mode 644\); run chmod 600/);
  });

  it('refuses a public key or a missing file as the signing key', async () => {
    const f = await signedBundle();
    chmodSync(f.key.publicKeyFile, 0o600);
    await assertRefused(signBundle(f.dir, f.key.publicKeyFile), 'usage', /fleetpatch-bundle\.pub: not a PEM private key/);
    await assertRefused(signBundle(f.dir, join(f.root, 'nosuch.key')), 'usage', /cannot read signing key .*nosuch\.key: ENOENT/);
  });
});
