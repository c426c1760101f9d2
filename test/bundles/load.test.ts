import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateBundleKey, loadBundle, signBundle } from '../../server/bundles/index.ts';
import { BUILD_A, MODULE_A, MODULE_B, assertRefused, resignManifest, signedBundle } from './support.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('loading a signed bundle', () => {
  it('round trip: keygen → build → sign → load gives the manifest, its hash, the key and the verified files', async () => {
    const f = await signedBundle();
    const b = await loadBundle(f.dir, f.options);
    assert.equal(b.dir, f.dir);
    assert.equal(b.signed, true);
    assert.equal(b.keyId, f.key.keyId);
    assert.equal(b.manifest.id, 'fp-demo-good');
    assert.equal(b.manifest.serial, 3);
    assert.equal(b.manifest.kind, 'livepatch');
    assert.equal(b.manifest.kind === 'livepatch' && b.manifest.livepatch.modules[0]!.buildId, BUILD_A);
    const bytes = readFileSync(join(f.dir, 'bundle.json'));
    assert.deepEqual(b.manifestBytes, bytes);
    assert.equal(b.sha256, sha256(bytes));
    assert.deepEqual([...b.files.keys()].sort(), [MODULE_A, MODULE_B]);
    assert.deepEqual(b.files.get(MODULE_A), { sha256: sha256('module for build A\n'), size: 19, absPath: join(f.dir, MODULE_A) });
  });

  it('writes bundle.sig as {keyId, signature}: ed25519 over the exact bytes of bundle.json', async () => {
    const f = await signedBundle();
    const sig = JSON.parse(readFileSync(join(f.dir, 'bundle.sig'), 'utf8'));
    assert.deepEqual(Object.keys(sig), ['keyId', 'signature']);
    const raw = createPublicKey(readFileSync(f.key.publicKeyFile)).export({ type: 'spki', format: 'der' }).subarray(-32);
    assert.equal(sig.keyId, sha256(raw).slice(0, 16));
    assert.equal(Buffer.from(sig.signature, 'base64').length, 64);
  });

  it('accepts a key trusted under any *.pub name among other trusted keys', async () => {
    const f = await signedBundle();
    const other = generateBundleKey(join(f.root, 'other-keys'));
    copyFileSync(other.publicKeyFile, join(f.trustedKeysDir, 'aaa-other.pub'));
    writeFileSync(join(f.trustedKeysDir, 'README'), 'not a key, ignored\n');
    assert.equal((await loadBundle(f.dir, f.options)).keyId, f.key.keyId);
  });
});

describe('signature refusals', () => {
  it('refuses an unsigned bundle, naming bundle.sig', async () => {
    const f = await signedBundle();
    unlinkSync(join(f.dir, 'bundle.sig'));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', /bundle\.sig: missing; the bundle is unsigned/, /fleetpatch bundle sign/);
  });

  it('loads an unsigned bundle with allowUnsigned, loudly', async () => {
    const f = await signedBundle();
    unlinkSync(join(f.dir, 'bundle.sig'));
    const warnings: string[] = [];
    const b = await loadBundle(f.dir, f.options, { allowUnsigned: true, warn: (m) => warnings.push(m) });
    assert.equal(b.signed, false);
    assert.equal(b.keyId, null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^WARNING: bundle .* is UNSIGNED.*--allow-unsigned/);
  });

  it('refuses a bundle whose manifest changed by one byte after signing, even with allowUnsigned', async () => {
    const f = await signedBundle();
    const path = join(f.dir, 'bundle.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"serial": 3', '"serial": 9'));
    for (const cliOnly of [{}, { allowUnsigned: true }]) {
      await assertRefused(loadBundle(f.dir, f.options, cliOnly), 'bundle', /bundle\.sig: the signature by key [0-9a-f]{16} does not match bundle\.json/);
    }
  });

  it('refuses a signature taken from another bundle signed by the same trusted key', async () => {
    const f = await signedBundle();
    const other = join(f.root, 'other');
    mkdirSync(join(other, 'modules'), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(f.dir, 'bundle.json'), 'utf8'));
    manifest.serial = 4;
    writeFileSync(join(other, 'bundle.json'), JSON.stringify(manifest));
    for (const m of [MODULE_A, MODULE_B]) copyFileSync(join(f.dir, m), join(other, m));
    await signBundle(other, f.key.privateKeyFile);
    copyFileSync(join(other, 'bundle.sig'), join(f.dir, 'bundle.sig'));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${f.dir}/bundle\\.sig: the signature .* does not match`));
  });

  it('refuses a malformed bundle.sig', async () => {
    const f = await signedBundle();
    writeFileSync(join(f.dir, 'bundle.sig'), '{"keyId": "xyz", "signature": ""}');
    await assertRefused(loadBundle(f.dir, f.options, { allowUnsigned: true }), 'bundle', /bundle\.sig: keyId must be 16 lowercase hex digits/);
    writeFileSync(join(f.dir, 'bundle.sig'), 'garbage');
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', /bundle\.sig: not valid JSON/);
  });

  it('refuses a bundle signed by a key that is not trusted, naming the key and the trust directory', async () => {
    const f = await signedBundle();
    const stranger = generateBundleKey(join(f.root, 'stranger'));
    await signBundle(f.dir, stranger.privateKeyFile);
    await assertRefused(loadBundle(f.dir, f.options), 'bundle-untrusted', new RegExp(`bundle\\.sig: signed by key ${stranger.keyId}, which is not among the trusted keys in ${f.trustedKeysDir}`));
  });

  it('refuses every signed bundle when no trustedKeysDir is configured', async () => {
    const f = await signedBundle();
    await assertRefused(loadBundle(f.dir, { ...f.options, trustedKeysDir: null }), 'bundle-untrusted', /bundle\.sig: signed by key .*no trustedKeysDir is configured/);
  });

  it('refuses a bundle signed by a revoked key even though its .pub is trusted', async () => {
    const f = await signedBundle();
    await assertRefused(loadBundle(f.dir, { ...f.options, revokedKeyIds: [f.key.keyId] }), 'bundle-untrusted', new RegExp(`bundle\\.sig: signed by key ${f.key.keyId}, which is revoked`));
  });

  it('reports a trusted key file that is not an ed25519 public key as a config error', async () => {
    const f = await signedBundle();
    writeFileSync(join(f.trustedKeysDir, 'broken.pub'), 'ssh-ed25519 AAAA not PEM\n');
    await assertRefused(loadBundle(f.dir, f.options), 'config', /trusted key .*broken\.pub: not a PEM public key/);
  });
});

describe('payload refusals', () => {
  it('refuses a payload file with one byte changed', async () => {
    const f = await signedBundle();
    writeFileSync(join(f.dir, MODULE_A), 'module for build B\n');
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${f.dir}/${MODULE_A}: sha256 [0-9a-f]{64} differs from files\\["${MODULE_A}"\\]\\.sha256`), /tampered/);
  });

  it('refuses a payload file whose size differs from the manifest, before hashing', async () => {
    const f = await signedBundle();
    appendFileSync(join(f.dir, MODULE_B), 'x');
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${MODULE_B}: is 37 bytes but bundle\\.json lists files\\["${MODULE_B}"\\]\\.size 36`));
  });

  it('checks every size before hashing any file', async () => {
    const f = await signedBundle();
    writeFileSync(join(f.dir, MODULE_A), 'module for build X\n');
    appendFileSync(join(f.dir, MODULE_B), 'x');
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${MODULE_B}: is 37 bytes but`));
  });

  it('refuses a signed manifest that lies about a size', async () => {
    const f = await signedBundle();
    resignManifest(f.dir, f.key.privateKeyFile, (m) => void (m.files[MODULE_A].size = 18));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${MODULE_A}: is 19 bytes but bundle\\.json lists files\\["${MODULE_A}"\\]\\.size 18`));
  });

  it('refuses a missing payload file', async () => {
    const f = await signedBundle();
    unlinkSync(join(f.dir, MODULE_B));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${MODULE_B}: payload file is missing`));
  });

  it('refuses an extra file the manifest does not list, at the top or in a subdirectory', async () => {
    const f = await signedBundle();
    writeFileSync(join(f.dir, 'modules', 'evil.ko'), 'x');
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', /modules\/evil\.ko: is not listed in bundle\.json's files/);
    unlinkSync(join(f.dir, 'modules', 'evil.ko'));
    writeFileSync(join(f.dir, 'notes.txt'), 'x');
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', /notes\.txt: is not listed in bundle\.json's files/);
  });

  it('refuses a payload file that is a symlink, even to identical content', async () => {
    const f = await signedBundle();
    const outside = join(f.root, 'outside.ko');
    renameSync(join(f.dir, MODULE_A), outside);
    symlinkSync(outside, join(f.dir, MODULE_A));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${MODULE_A}: is a symbolic link; bundles may not contain symlinks`));
  });

  it('refuses a symlinked directory inside the bundle', async () => {
    const f = await signedBundle();
    renameSync(join(f.dir, 'modules'), join(f.root, 'modules-elsewhere'));
    symlinkSync(join(f.root, 'modules-elsewhere'), join(f.dir, 'modules'));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${f.dir}/modules: is a symbolic link`));
  });

  it('refuses bundle.json that is a symlink', async () => {
    const f = await signedBundle();
    renameSync(join(f.dir, 'bundle.json'), join(f.root, 'bundle.json'));
    symlinkSync(join(f.root, 'bundle.json'), join(f.dir, 'bundle.json'));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', /bundle\.json: is a symbolic link/);
  });

  it('refuses a signed manifest whose file path escapes the bundle with ../', async () => {
    const f = await signedBundle();
    writeFileSync(join(f.root, 'escape.ko'), 'module for build A\n');
    resignManifest(f.dir, f.key.privateKeyFile, (m) => {
      m.livepatch.modules[0].file = '../escape.ko';
      m.files['../escape.ko'] = m.files[MODULE_A];
      delete m.files[MODULE_A];
    });
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', /bundle\.json: livepatch\.modules\[0\]\.file "\.\.\/escape\.ko" contains "\.\." and would escape the bundle/);
  });

  it('refuses a signed manifest with an absolute file path', async () => {
    const f = await signedBundle();
    resignManifest(f.dir, f.key.privateKeyFile, (m) => void (m.livepatch.modules[1].file = '/lib/modules/x.ko'));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', /bundle\.json: livepatch\.modules\[1\]\.file "\/lib\/modules\/x\.ko" is absolute/);
  });

  it('refuses a signed but invalid manifest, naming the field', async () => {
    const f = await signedBundle();
    resignManifest(f.dir, f.key.privateKeyFile, (m) => void (m.livepatch.modules[1].buildId = 'ABC'));
    await assertRefused(loadBundle(f.dir, f.options), 'bundle', new RegExp(`${f.dir}/bundle\\.json: livepatch\\.modules\\[1\\]\\.buildId must be 40 lowercase hex digits`));
  });

  it('refuses a file over the size limit without reading it, whether the manifest says so or not', async () => {
    const f = await signedBundle();
    await assertRefused(loadBundle(f.dir, { ...f.options, maxFileBytes: 20 }), 'bundle', new RegExp(`files\\["${MODULE_B}"\\]\\.size is 36 bytes, over the limit of 20 \\(maxBundleFileBytes`));
    resignManifest(f.dir, f.key.privateKeyFile, (m) => void (m.files[MODULE_B].size = 10));
    await assertRefused(loadBundle(f.dir, { ...f.options, maxFileBytes: 20 }), 'bundle', new RegExp(`${MODULE_B}: payload file is 36 bytes, over the limit of 20`));
  });

  it('refuses a directory without bundle.json, and a path that is not a directory', async () => {
    const f = await signedBundle();
    await assertRefused(loadBundle(join(f.root, 'keys'), f.options), 'bundle', /keys\/bundle\.json: missing; .* is not a bundle/);
    await assertRefused(loadBundle(join(f.dir, 'bundle.json'), f.options), 'bundle', /bundle\.json: a bundle is a directory/);
    await assertRefused(loadBundle(join(f.root, 'nosuch'), f.options), 'bundle', /no bundle at .*nosuch: ENOENT/);
  });
});

describe('allowUnsigned is a command-line flag only', () => {
  it('is named nowhere in server/ outside server/commands and server/bundles (the web layer cannot pass it)', () => {
    const server = resolve(dirname(fileURLToPath(import.meta.url)), '../../server');
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.tsx?$/.test(name) && /allowUnsigned|allow-unsigned|CliOnlyBundleOverrides/.test(readFileSync(path, 'utf8'))) offenders.push(relative(server, path));
      }
    };
    walk(server);
    assert.deepEqual(offenders.filter((p) => !p.startsWith('commands/') && !p.startsWith('bundles/')), []);
  });
});

