import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { main } from '../../server/cli.ts';
import { BUILD_A, BUILD_B, MODULE_A, tempDir, writeSource } from './support.ts';

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** keygen → build → sign through the CLI, with a controller config trusting the key. */
async function signedViaCli() {
  const root = tempDir('fp-bundle-cli-');
  const keygen = await cli(['bundle', 'keygen', '--out', join(root, 'keys'), '--json']);
  assert.equal(keygen.code, 0, keygen.err);
  const key = JSON.parse(keygen.out) as { keyId: string; privateKeyFile: string; publicKeyFile: string };
  mkdirSync(join(root, 'trusted'));
  copyFileSync(key.publicKeyFile, join(root, 'trusted', 'release.pub'));
  const config = join(root, 'fleetpatch.json');
  writeFileSync(config, JSON.stringify({ trustedKeysDir: 'trusted' }));
  writeSource(join(root, 'src'));
  const dir = join(root, 'bundle');
  const build = await cli(['bundle', 'build', join(root, 'src'), '--out', dir, '--config', config]);
  assert.equal(build.code, 0, build.err);
  const sign = await cli(['bundle', 'sign', dir, '--key', key.privateKeyFile, '--config', config]);
  assert.equal(sign.code, 0, sign.err);
  return { root, dir, key, config };
}

describe('fleetpatch bundle', () => {
  it('is listed in fleetpatch --help and has its own help', async () => {
    assert.match((await cli(['--help'])).out, /^ {2}bundle +create signing keys, build, sign, verify and inspect patch bundles$/m);
    const help = await cli(['bundle', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: fleetpatch bundle keygen --out DIR \[--name N\] \| build SRC --out DIR \| sign DIR --key K \| verify DIR \| inspect DIR/);
  });

  it('keygen writes the key pair and prints the key id', async () => {
    const root = tempDir('fp-bundle-cli-');
    const r = await cli(['bundle', 'keygen', '--out', root, '--name', 'release']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^key id [0-9a-f]{16}\n/);
    assert.equal(statSync(join(root, 'release.key')).mode & 0o777, 0o600);
    assert.equal((await cli(['bundle', 'keygen', '--out', root, '--name', 'release'])).code, 2);
  });

  it('keygen → build → sign → verify exits 0 and names the trusted key', async () => {
    const b = await signedViaCli();
    const r = await cli(['bundle', 'verify', b.dir, '--config', b.config]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `ok: ${b.dir} (fp-demo-good serial 3) is valid and signed by trusted key ${b.key.keyId}; 2 payload files verified.`);
    const json = JSON.parse((await cli(['bundle', 'verify', b.dir, '--config', b.config, '--json'])).out);
    assert.equal(json.ok, true);
    assert.equal(json.keyId, b.key.keyId);
  });

  it('verify exits 2 with the reason when the bundle is tampered, untrusted or unsigned', async () => {
    const b = await signedViaCli();
    writeFileSync(join(b.dir, MODULE_A), 'module for build Z\n');
    const tampered = await cli(['bundle', 'verify', b.dir, '--config', b.config]);
    assert.equal(tampered.code, 2);
    assert.match(tampered.err, new RegExp(`^fleetpatch: ${b.dir}/${MODULE_A}: sha256 .* the payload was tampered with$`));

    const c = await signedViaCli();
    const untrusted = await cli(['bundle', 'verify', c.dir, '--config', b.config, '--json']);
    assert.equal(untrusted.code, 2);
    assert.equal(JSON.parse(untrusted.out).error.code, 'bundle-untrusted');

    unlinkSync(join(c.dir, 'bundle.sig'));
    const unsigned = await cli(['bundle', 'verify', c.dir, '--config', c.config]);
    assert.equal(unsigned.code, 2);
    assert.match(unsigned.err, /bundle\.sig: missing; the bundle is unsigned/);
    assert.match((await cli(['bundle', 'verify', c.dir, '--allow-unsigned'])).err, /Unknown option '--allow-unsigned'/, 'verify answers "trusted or not": no override');
  });

  it('verify refuses a bundle signed by a revoked key', async () => {
    const b = await signedViaCli();
    writeFileSync(b.config, JSON.stringify({ trustedKeysDir: 'trusted', revokedKeyIds: [b.key.keyId] }));
    const r = await cli(['bundle', 'verify', b.dir, '--config', b.config]);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`signed by key ${b.key.keyId}, which is revoked`));
  });

  it('inspect shows the manifest, the trusted signature, modules, checks and files', async () => {
    const b = await signedViaCli();
    const r = await cli(['bundle', 'inspect', b.dir, '--config', b.config]);
    assert.equal(r.code, 0, r.err);
    for (const line of [
      /^id +fp-demo-good$/m,
      /^serial +3$/m,
      /^kind +livepatch$/m,
      /^title +Demo livepatch: marker in \/proc\/cmdline$/m,
      /^severity +high$/m,
      /^cves +CVE-2026-12345$/m,
      new RegExp(`^signature +trusted \\(key ${b.key.keyId}, .*release\\.pub\\)$`, 'm'),
      /^patch +fp_good \(replace: no; transition timeout 30 s\)$/m,
      new RegExp(`^ {2}6\\.1\\.0-56-amd64 +${BUILD_A} +${MODULE_A}`, 'm'),
      new RegExp(`^ {2}6\\.1\\.0-57-amd64 +${BUILD_B} `, 'm'),
      /^ {2}\["cat","\/proc\/cmdline"\] → exit 0, stdout contains "marker"$/m,
      /^files \(verified\):$/m,
      new RegExp(`^ {2}${MODULE_A} +19 +[0-9a-f]{64}$`, 'm'),
      /^verdict +ok: valid and signed by a trusted key$/m,
    ]) {
      assert.match(r.out, line);
    }
  });

  it('inspect shows an untrusted, an invalid and a missing signature, and exits 2', async () => {
    const b = await signedViaCli();
    const untrusted = await cli(['bundle', 'inspect', b.dir]);
    assert.equal(untrusted.code, 2);
    assert.match(untrusted.out, new RegExp(`^signature +untrusted \\(key ${b.key.keyId}\\)$`, 'm'));
    assert.match(untrusted.out, /^verdict +refused \(bundle-untrusted\): .*no trustedKeysDir is configured/m);

    const path = join(b.dir, 'bundle.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"severity": "high"', '"severity": "low"'));
    const invalid = await cli(['bundle', 'inspect', b.dir, '--config', b.config]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.out, /^severity +low$/m);
    assert.match(invalid.out, new RegExp(`^signature +invalid \\(claims key ${b.key.keyId}\\)$`, 'm'));

    unlinkSync(join(b.dir, 'bundle.sig'));
    const unsigned = await cli(['bundle', 'inspect', b.dir, '--config', b.config, '--json']);
    assert.equal(unsigned.code, 2);
    const json = JSON.parse(unsigned.out);
    assert.deepEqual(json.signature, { state: 'unsigned' });
    assert.equal(json.manifest.id, 'fp-demo-good');
    assert.equal(json.files[MODULE_A].size, 19);
    assert.equal(json.verdict.error.code, 'bundle');
  });

  it('exits 2 on usage errors', async () => {
    assert.match((await cli(['bundle'])).err, /unknown bundle action ""/);
    assert.equal((await cli(['bundle', 'frobnicate'])).code, 2);
    const noOut = await cli(['bundle', 'keygen']);
    assert.equal(noOut.code, 2);
    assert.match(noOut.err, /fleetpatch bundle keygen needs --out/);
    assert.match((await cli(['bundle', 'sign', '/tmp'])).err, /fleetpatch bundle sign needs --key/);
    assert.match((await cli(['bundle', 'verify'])).err, /usage: fleetpatch bundle verify DIR/);
  });
});
