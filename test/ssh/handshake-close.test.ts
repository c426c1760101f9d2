/** A connection lost in the middle of the SSH handshake (the host powered off after its greeting)
 * must end the connect with a clear error, not leave it waiting forever: ssh2 reports that case
 * only as 'close'. The peer here sends an OpenSSH greeting, takes the client's first packet and
 * drops the connection. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TargetHost } from '../../server/inventory/index.ts';
import { SshConnection } from '../../server/ssh/connect.ts';
import { loadKnownHosts } from '../../server/ssh/known-hosts.ts';
import { EMPTY_SSH_CONFIG } from '../../server/ssh/ssh-config.ts';
import { sshTarget } from '../../server/ssh/target.ts';

describe('a connection closed mid-handshake', { timeout: 30_000 }, () => {
  let server: Server;
  let port = 0;
  let accepted = 0;
  const dir = mkdtempSync(join(tmpdir(), 'fp-dropper-'));
  before(async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
    server = createServer((s: Socket) => {
      accepted++;
      s.write('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');
      s.once('data', () => s.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails the connect with the channel error, after the bounded retries', async () => {
    const host = { name: 'dropper', vars: { ansible_host: '127.0.0.1', ansible_port: String(port), ansible_user: 'root', ansible_ssh_private_key_file: join(dir, 'id') }, groups: [], source: 'test' } as unknown as TargetHost;
    // a long connect timeout: the error must come from the close, not from a timer
    const err = await SshConnection.open(sshTarget(host, EMPTY_SSH_CONFIG), { knownHosts: loadKnownHosts([]), timeoutMs: 120_000, settings: { sshConfigFile: null, env: {}, prompt: null } }).then(
      () => assert.fail('connected to a peer that drops every connection'),
      (e: Error & { code: string }) => e,
    );
    assert.equal(err.code, 'channel');
    assert.match(err.message, /connection closed before the SSH handshake finished/);
    assert.equal(accepted, 3, 'tried once and retried twice (a transient failure)');
  });
});
