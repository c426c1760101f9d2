/** Hostile and malformed inventories: clear errors naming file:line, never a crash, never a shell. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadInventory, resolveTarget } from '../../server/inventory/index.ts';
import { sshTarget } from '../../server/ssh/target.ts';
import { cli } from '../support/lab.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-hostile-inv-'));
const file = (name: string, content: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const load = (p: string) => loadInventory([p], { ansibleCfg: null });
const refused = (p: string, message: RegExp) => assert.throws(() => load(p), (e: Error) => message.test(e.message) && e.message.includes(p), `${p}: ${message}`);

describe('hostile inventories', () => {
  it('a group of 130,000 hosts loads and resolves (no argument spread overflows the stack)', () => {
    const lines = ['[web]'];
    for (let i = 0; i < 130_000; i++) lines.push(`h${i} ansible_host=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const inv = load(file('huge.ini', `${lines.join('\n')}\n[all:children]\nweb\n`));
    assert.equal(resolveTarget(inv, 'web').length, 130_000);
    assert.equal(resolveTarget(inv, 'h1299*').length, 111); // h1299, h12990-9, h129900-99
  });

  it('a children chain 2,000 groups deep resolves', () => {
    const lines = ['[g0]', 'h1'];
    for (let i = 1; i < 2000; i++) lines.push(`[g${i}:children]`, `g${i - 1}`);
    assert.deepEqual(resolveTarget(load(file('deep.ini', `${lines.join('\n')}\n`)), 'g1999').map((t) => t.name), ['h1']);
  });

  it('refuses cycles, binary garbage, NUL bytes, range bombs and too-deep YAML, naming the file and line', () => {
    refused(file('cycle.ini', '[a:children]\nb\n[b:children]\na\n'), /:4: .*recursive dependency loop/);
    refused(file('binary.ini', Buffer.from([0x5b, 0x77, 0x5d, 0x0a, 0xff, 0xfe, 0x80, 0x0a])), /:2: not valid UTF-8/);
    refused(file('nul.ini', '[web]\nh\0ost ansible_host=10.0.0.1\n'), /:2: contains a NUL byte/);
    refused(file('bomb.ini', '[web]\nh[1:1000][1:1000][1:1000]\n'), /more than 1,000,000 hosts/);
    let yaml = 'all:\n  children:\n';
    let indent = '    ';
    for (let i = 0; i < 3000; i++) {
      yaml += `${indent}g${i}:\n${indent}  children:\n`;
      indent += '    ';
    }
    refused(file('deep.yml', yaml), /:\d+: YAML nested too deeply/);
  });

  it('a 2 MB host name and a 1 MB value are data, not a crash', () => {
    const inv = load(file('long.ini', `[web]\n${'a'.repeat(2_000_000)} v=${'b'.repeat(1_000_000)}\n`));
    assert.equal(resolveTarget(inv, 'web')[0]!.name.length, 2_000_000);
  });

  it('shell metacharacters in names and values stay data: refused as an address, argv for ssh, nothing executes', async () => {
    const pwned = join(dir, 'pwned');
    const bad = resolveTarget(load(file('meta-host.ini', `[web]\nx ansible_host='\`touch ${pwned}\`;x'\n`)), 'all')[0]!;
    assert.throws(() => sshTarget(bad), /ansible_host: invalid host address/);
    const user = resolveTarget(load(file('meta-user.ini', `[web]\nx ansible_user='$(touch ${pwned}3)'\n`)), 'all')[0]!;
    assert.throws(() => sshTarget(user), /ansible_user: invalid user name/);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
    const inv = file('meta.ini', `[web]\n'$(touch ${pwned})' ansible_host=nowhere.invalid ansible_port=22 ansible_ssh_private_key_file=${join(dir, 'key')}\n`);
    const [t] = resolveTarget(load(inv), 'all');
    assert.equal(t!.name, `$(touch ${pwned})`);
    const r = await cli(['facts', '-i', inv, '--json', '--config', file('c.json', JSON.stringify({ knownHostsFiles: [file('kh', '')], database: join(dir, 'db.sqlite'), sshConfigFile: null, connectTimeoutMs: 2000 }))]);
    assert.notEqual(r.code, 0);
    const [res] = JSON.parse(r.out) as { ok: boolean; error: { code: string } }[];
    assert.equal(res!.ok, false);
    assert.equal(res!.error.code, 'dns', 'the address was looked up as a name, never run');
    for (const suffix of ['', '3']) assert.equal(existsSync(pwned + suffix), false, `nothing created ${pwned}${suffix}`);
  });
});
