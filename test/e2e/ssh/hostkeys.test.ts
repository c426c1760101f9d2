/** OpenSSH's sshd announces every host key after login (`hostkeys-00@openssh.com`); fleetpatch
 * must not ask the host to prove them (one signature per key on every connection, RSA among them,
 * for keys known_hosts decides on anyway). A real sshd with rsa and ed25519 host keys, at LogLevel
 * DEBUG3, says what it sent and what it was asked. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TargetHost } from '../../../server/inventory/index.ts';
import { SshConnection } from '../../../server/ssh/connect.ts';
import { loadKnownHosts } from '../../../server/ssh/known-hosts.ts';
import { EMPTY_SSH_CONFIG } from '../../../server/ssh/ssh-config.ts';
import { sshTarget } from '../../../server/ssh/target.ts';
import { freePort } from '../../support/lab.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-hostkeys-'));
let sshd: ChildProcess;
let port: number;
let log = '';

/** Resolves once the sshd log has a line matching `re` (the session's end is logged after all else). */
function logged(re: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const look = () => (re.test(log) ? (sshd.stderr!.off('data', look), resolve()) : undefined);
    sshd.stderr!.on('data', look);
    look();
  });
}

describe('host keys announced by sshd', { timeout: 60_000 }, () => {
  before(async () => {
    port = await freePort();
    for (const t of ['rsa', 'ed25519']) execFileSync('ssh-keygen', ['-q', '-t', t, '-N', '', '-f', join(dir, `host_${t}`)]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id.pub')), { mode: 0o600 });
    // known_hosts pins only the ed25519 key: the rsa one is announced but never trusted or used
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    writeFileSync(
      join(dir, 'sshd_config'),
      [`ListenAddress 127.0.0.1:${port}`, `HostKey ${dir}/host_rsa`, `HostKey ${dir}/host_ed25519`, 'PidFile none', 'PermitRootLogin prohibit-password', `AuthorizedKeysFile ${dir}/authorized_keys`, 'StrictModes no', 'UsePAM no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'LogLevel DEBUG3', ''].join('\n'),
    );
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    sshd.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
    await logged(/Server listening on 127\.0\.0\.1/);
  });
  after(() => {
    sshd?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('acknowledges the announcement without asking the host to prove its keys', async () => {
    const host = { name: 'announcer', vars: { ansible_host: '127.0.0.1', ansible_port: String(port), ansible_user: 'root', ansible_ssh_private_key_file: join(dir, 'id') }, groups: [], source: 'test' } as unknown as TargetHost;
    const conn = await SshConnection.open(sshTarget(host, EMPTY_SSH_CONFIG), { knownHosts: loadKnownHosts([join(dir, 'known_hosts')]), timeoutMs: 10_000, settings: { sshConfigFile: null, env: {}, prompt: null } });
    assert.equal((await conn.exec('echo first')).stdout.toString().trim(), 'first');
    assert.equal((await conn.exec('echo second')).stdout.toString().trim(), 'second');
    conn.close();
    await logged(/Received disconnect|Disconnected from/);
    // the host did announce both keys (so the test sees the case that matters) ...
    assert.match(log, /notify_hostkeys: sent 2 hostkeys/);
    // ... and was never asked to sign with them
    assert.doesNotMatch(log, /hostkeys-prove-00@openssh\.com/);
  });
});
