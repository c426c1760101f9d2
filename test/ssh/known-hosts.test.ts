import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fingerprint, KnownHosts, loadKnownHosts, lookupName, parseKnownHosts } from '../../server/ssh/known-hosts.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-kh-'));
const keys: Record<string, { type: string; blob: Buffer; line: string; fp: string }> = {};

function newKey(name: string, type = 'ed25519') {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file]);
  const [t, b64] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(/\s+/)[1]!;
  keys[name] = { type: t!, blob: Buffer.from(b64!, 'base64'), line: `${t} ${b64}`, fp };
}

/** What `ssh-keygen -F name` finds in a file: the matching lines (hashed or not). */
function sshKeygenFind(file: string, name: string): string[] {
  try {
    return execFileSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/).slice(-2).join(' '));
  } catch {
    return [];
  }
}

describe('known_hosts', () => {
  before(() => ['a', 'b', 'c', 'd'].forEach((k) => newKey(k)));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints fingerprints exactly as ssh-keygen -l does', () => {
    assert.equal(fingerprint(keys.a!.blob), keys.a!.fp);
  });

  it('finds the same entries as ssh-keygen -F, plain and hashed, with ports, lists and wildcards', () => {
    // hashed by ssh-keygen -H itself (it refuses wildcards and invalid lines, so those live in a second file)
    const hashed = join(dir, 'known_hosts');
    writeFileSync(
      hashed,
      [`web1.example.com,10.0.0.1 ${keys.a!.line}`, `[10.0.0.2]:2222 ${keys.b!.line}`, `hashed.example.com ${keys.d!.line}`, `[hashed.example.com]:2200 ${keys.a!.line}`, ''].join('\n'),
    );
    execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'ignore' });
    assert.match(readFileSync(hashed, 'utf8'), /^\|1\|/m, 'ssh-keygen -H hashed the names');
    const plain = join(dir, 'known_hosts_plain');
    writeFileSync(plain, ['# comment', `web1.example.com ${keys.c!.line}`, `*.db.example.com,!secret.db.example.com ${keys.c!.line}`, 'garbage line', ''].join('\n'));
    const kh = loadKnownHosts([hashed, plain]);
    const names = [
      ['web1.example.com', 22],
      ['10.0.0.1', 22],
      ['10.0.0.2', 2222],
      ['10.0.0.2', 22],
      ['hashed.example.com', 22],
      ['hashed.example.com', 2200],
      ['nowhere', 22],
    ] as const;
    for (const [host, port] of names) {
      const ours = kh.forHost(host, port).map((e) => `${e.keyType} ${e.key.toString('base64')}`);
      const theirs = [hashed, plain].flatMap((f) => sshKeygenFind(f, lookupName(host, port)));
      assert.deepEqual(ours, theirs, `lookup of ${lookupName(host, port)}`);
    }
    assert.equal(kh.forHost('web1.example.com', 22).length, 2, 'several keys per host');
    assert.equal(kh.forHost('x.db.example.com', 22).length, 1, 'wildcard');
    assert.equal(kh.forHost('secret.db.example.com', 22).length, 0, 'negation');
  });

  it('accepts the known key and refuses unknown, changed and revoked keys with fingerprints', () => {
    const entries = parseKnownHosts(`[h]:2222 ${keys.a!.line}\n@revoked * ${keys.c!.line}\n@cert-authority *.ca ${keys.d!.line}\n`, 'kh');
    const known = new KnownHosts(entries, ['kh']);
    assert.doesNotThrow(() => known.check('h', 2222, keys.a!.blob));
    assert.throws(() => known.check('h', 2222, keys.b!.blob), (e: Error & { code?: string }) => e.code === 'host-key-changed' && e.message.includes(keys.a!.fp) && e.message.includes(keys.b!.fp) && e.message.includes('kh:1'));
    assert.throws(() => known.check('h', 22, keys.a!.blob), (e: Error & { code?: string }) => e.code === 'host-key-unknown' && e.message.includes(keys.a!.fp));
    assert.throws(() => known.check('h', 2222, keys.c!.blob), (e: Error & { code?: string }) => e.code === 'host-key-revoked' && e.message.includes('kh:2'));
    assert.throws(() => known.check('x.ca', 22, keys.b!.blob), /@cert-authority entry at kh:3 is not supported/);
  });
});
