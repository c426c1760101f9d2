/** Key files offered to hosts: opened once per process, and signing exactly as ssh2 would. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { authPlan } from '../../server/ssh/auth.ts';
import { sshSettings } from '../../server/ssh/settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-auth-'));
const keygen = (name: string, ...args: string[]) => {
  const path = join(dir, name);
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-N', '', '-f', path, ...args]);
  return path;
};
const plan = (path: string, env: NodeJS.ProcessEnv = {}) => authPlan({ name: 'h', host: '127.0.0.1', port: 22, user: 'root', identityFiles: [path] }, sshSettings({ env, prompt: null }), 'h');
const offeredKey = async (path: string, env: NodeJS.ProcessEnv = {}) => {
  const m = (await plan(path, env)).methods[0]!;
  assert.equal(m.type, 'publickey');
  return (m as ssh2.PublicKeyAuthMethod).key as ssh2.ParsedKey;
};

describe('key files offered to hosts', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, args, hashes] of [
    ['ed25519', ['-t', 'ed25519'], [undefined]],
    ['rsa', ['-t', 'rsa', '-b', '2048'], ['sha1', 'sha256', 'sha512']],
    ['ecdsa', ['-t', 'ecdsa', '-b', '384'], [undefined]],
  ] as const) {
    it(`a ${name} key signs what ssh2 itself would sign, and verifies`, async () => {
      const path = keygen(`id_${name}`, ...args);
      const key = await offeredKey(path);
      const own = ssh2.utils.parseKey(readFileSync(path)) as ssh2.ParsedKey;
      const data = Buffer.from(`session id and userauth request for ${name}`);
      for (const hash of hashes) {
        const signed = key.sign(data, hash);
        assert.ok(Buffer.isBuffer(signed), String(signed));
        assert.ok(own.verify(data, signed, hash), `${name} ${hash ?? '(default hash)'}`);
        // ed25519 and RSA (PKCS#1 v1.5) signatures are deterministic: the very bytes ssh2 makes
        if (name !== 'ecdsa') assert.deepEqual(signed, own.sign(data, hash));
      }
    });
  }

  it('is opened once while the file is unchanged, and again once it changed', async () => {
    const path = keygen('id_again', '-t', 'ed25519');
    const first = await offeredKey(path);
    assert.equal(await offeredKey(path), first);
    keygen('id_again', '-t', 'ed25519');
    const second = await offeredKey(path);
    assert.notEqual(second, first);
    assert.notDeepEqual(second.getPublicSSH(), first.getPublicSSH());
    const data = Buffer.from('x');
    assert.ok((ssh2.utils.parseKey(readFileSync(path)) as ssh2.ParsedKey).verify(data, second.sign(data)));
  });

  it('an encrypted key is reused only with the passphrase that opened it', async () => {
    const path = keygen('id_locked', '-t', 'ed25519');
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'correct horse', '-f', path]);
    const right = { FLEETPATCH_SSH_KEY_PASSPHRASE: 'correct horse' };
    const first = await offeredKey(path, right);
    await assert.rejects(plan(path, { FLEETPATCH_SSH_KEY_PASSPHRASE: 'wrong' }), /the passphrase does not open key/);
    await assert.rejects(plan(path), /no credentials to offer: \S+id_locked \(passphrase-protected/);
    assert.equal(await offeredKey(path, right), first);
  });
});
