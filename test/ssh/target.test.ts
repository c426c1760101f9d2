import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import type { TargetHost } from '../../server/inventory/index.ts';
import { becomeCommand, becomeFailure } from '../../server/ssh/become.ts';
import { Secret } from '../../server/ssh/secret.ts';
import { EMPTY_SSH_CONFIG, loadSshConfig } from '../../server/ssh/ssh-config.ts';
import { sshTarget } from '../../server/ssh/target.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-sshcfg-'));
const host = (name: string, vars: Record<string, unknown> = {}) => ({ name, vars, groups: [], source: 'inv:1' }) as unknown as TargetHost;
const config = (text: string, name = `c${Math.random()}`) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadSshConfig(file, true);
};

describe('ssh config applied as OpenSSH applies it', () => {
  it('takes the first value per option, accumulates IdentityFile, and lets the inventory win', () => {
    const c = config(['Host db-* !db-legacy', '  HostName %h.example.net', '  User ops', '  Port 2200', '  IdentityFile ~/.ssh/ops_%r', 'Host *', '  User nobody', '  Port 22', '  IdentityFile /keys/all', ''].join('\n'));
    const t = sshTarget(host('db-1'), c);
    assert.deepEqual([t.host, t.user, t.port], ['db-1.example.net', 'ops', 2200]);
    assert.match(t.identityFiles[0]!, /\/\.ssh\/ops_ops$/);
    assert.equal(t.identityFiles[1], '/keys/all');
    const legacy = sshTarget(host('db-legacy'), c);
    assert.deepEqual([legacy.host, legacy.user, legacy.port], ['db-legacy', 'nobody', 22]);
    const inv = sshTarget(host('db-2', { ansible_user: 'root', ansible_port: 22, ansible_ssh_private_key_file: '/k' }), c);
    assert.deepEqual([inv.user, inv.port, inv.identityFiles[0]], ['root', 22, '/k']);
  });

  it('expands Include in place and follows the first jump host\'s own ProxyJump', () => {
    mkdirSync(join(dir, 'conf.d'), { recursive: true });
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'Host inner\n  ProxyJump edge\n  User admin\nHost edge\n  HostName 127.0.0.9\n  Port 2201\n');
    const c = config(`Include ${join(dir, 'conf.d')}/*.conf\nHost app\n  ProxyJump inner,jump@10.0.0.1:2022\n`);
    const t = sshTarget(host('app', { ansible_user: 'root' }), c);
    assert.deepEqual(
      t.jump.map((j) => `${j.user}@${j.host}:${j.port}`),
      [`${process.env.USER ?? 'root'}@127.0.0.9:2201`, 'admin@inner:22', 'jump@10.0.0.1:2022'],
    );
  });

  it('refuses ProxyCommand, LocalCommand, KnownHostsCommand and Match exec, running none of them', () => {
    for (const opt of ['ProxyCommand nc %h %p', 'LocalCommand id', 'KnownHostsCommand /bin/true']) {
      const c = config(`Host x\n  ${opt}\n`);
      assert.throws(() => sshTarget(host('x'), c), (e: Error & { code?: string }) => e.code === 'config' && e.message.includes(opt.split(' ')[0]!));
    }
    assert.doesNotThrow(() => sshTarget(host('x'), config('Host x\n  ProxyCommand none\n')));
    assert.throws(() => config('Match exec "touch /tmp/fp-match-exec"\n  User x\n'), /Match exec/);
  });

  it('treats a missing default ~/.ssh/config as empty but a missing configured one as an error', () => {
    assert.equal(loadSshConfig(join(dir, 'absent'), false), EMPTY_SSH_CONFIG);
    assert.throws(() => loadSshConfig(join(dir, 'absent2'), true), /cannot read ssh config .*absent2: ENOENT; fix sshConfigFile/);
  });
});

describe('inventory variables for SSH', () => {
  it('accepts -J, -p, -l and -o ProxyJump/Port/User in ansible_ssh_common_args, and nothing else', () => {
    const t = sshTarget(host('h', { ansible_ssh_common_args: "-o 'ProxyJump=a@b:2,c' -p 2222 -l deploy" }), EMPTY_SSH_CONFIG);
    assert.deepEqual([t.port, t.user, t.jump.map((j) => `${j.user}@${j.host}:${j.port}`)], [2222, 'deploy', ['a@b:2', `${process.env.USER ?? 'root'}@c:22`]]);
    for (const bad of ['-o StrictHostKeyChecking=no', '-o UserKnownHostsFile=/tmp/kh', '-o ProxyCommand=nc', '-F /tmp/cfg', '-J $(id)']) {
      assert.throws(() => sshTarget(host('h', { ansible_ssh_extra_args: bad }), EMPTY_SSH_CONFIG), (e: Error & { code?: string }) => e.code === 'inventory', bad);
    }
  });

  it('ignores connection tuning (ControlMaster, -C) and takes ProxyJump/Port/User from ansible.cfg ssh_args last', () => {
    const t = sshTarget({ ...host('h', { ansible_ssh_common_args: '-C -o ControlMaster=auto -o ControlPersist=60s -p 2022' }), ssh: { options: { ProxyJump: 'bastion', Port: '2200', User: 'cfg' }, ignored: [] } } as TargetHost, EMPTY_SSH_CONFIG);
    assert.deepEqual([t.port, t.user, t.jump.map((j) => j.host)], [2022, 'cfg', ['bastion']]);
  });

  it('reads become: sudo only, no flags, the password a Secret that never serializes', () => {
    const t = sshTarget(host('h', { ansible_become: true, ansible_become_user: 'postgres', ansible_become_password: 's3cret' }), EMPTY_SSH_CONFIG);
    assert.equal(t.become?.user, 'postgres');
    assert.equal(t.become?.password?.reveal(), 's3cret');
    for (const shown of [JSON.stringify(t), inspect(t, { depth: 5 }), String(t.become?.password)]) assert.ok(!shown.includes('s3cret'), shown);
    assert.equal(sshTarget(host('h', { ansible_become: 'no' }), EMPTY_SSH_CONFIG).become, null);
    assert.throws(() => sshTarget(host('h', { ansible_become: 'yes', ansible_become_method: 'su' }), EMPTY_SSH_CONFIG), /sudo only/);
    assert.throws(() => sshTarget(host('h', { ansible_become: 'yes', ansible_become_flags: '-E' }), EMPTY_SSH_CONFIG), /ansible_become_flags is not supported/);
    assert.throws(() => sshTarget(host('h', { ansible_password: '{{ vault_pw }}' }), EMPTY_SSH_CONFIG), /template \(value hidden\)/);
  });
});

describe('sudo wrapping', () => {
  it('puts neither the password nor an unquoted command in the command line', () => {
    const b = becomeCommand({ method: 'sudo', user: 'root', password: new Secret('hunter2') }, "printf '%s' 'a b'", 'n0nce');
    assert.ok(!b.command.includes('hunter2'));
    assert.equal(b.marker, 'FLEETPATCH-BECOME-n0nce');
    assert.match(b.command, /^sudo -H -S -p '\[fleetpatch-sudo-n0nce\] password:' -u root -- sh -c /);
    assert.match(becomeCommand({ method: 'sudo', user: 'root', password: null }, 'id', 'x').command, /^sudo -H -n -u root -- /);
  });

  it('explains why sudo refused', () => {
    const b = { method: 'sudo' as const, user: 'root', password: null };
    assert.match(becomeFailure('sudo: a password is required\n', b, 'h1', 1).message, /^h1: sudo needs a password for root: set ansible_become_password/);
    assert.match(becomeFailure('fpadmin is not in the sudoers file.\n', b, 'h1', 1).message, /may not run commands as root/);
    assert.equal(becomeFailure('sh: 1: sudo: not found\n', b, 'h1', 127).code, 'command-failed');
    // sudo that worked earlier in the run and now refuses: said so, with sudo's own reason
    assert.match(becomeFailure('sudo: a password is required\n', b, 'h1', 1, true).message, /^h1: sudo stopped working mid-run: .*; sudo needs a password for root/);
  });
});
