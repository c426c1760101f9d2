/** The SSH transport through the CLI on the SSH lab: the lab's controller config (ssh config,
 * noexec fallback dir) reaches every connection; facts over sudo and through a bastion; `fleetpatch
 * clean`; trust on first use with --accept-new-host-keys and its audit entry. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HostFacts } from '../../../server/facts/gather.ts';
import { helperBinary } from '../../../server/helper/binary.ts';
import { purgeSshLab, sshLabDown, sshLabUp, type SshLab } from '../../../server/lab/ssh-variants.ts';
import { cli, sshRun } from '../../support/lab.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-sshcli-'));
let lab: SshLab;
const config = () => join(dir, 'fleetpatch.json');
const inventory = () => join(dir, 'inventory.ini');

describe('SSH transport through the CLI', { timeout: 120_000 }, () => {
  before(async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    lab = await sshLabUp(dir, port, 220);
  });
  after(async () => {
    await sshLabDown(dir);
    purgeSshLab(dir);
  });

  it('gathers facts from every kind of host: rsa and ecdsa keys, noexec /var/lib, sudo with and without password, behind a bastion', async () => {
    const r = await cli(['facts', '-i', inventory(), '--config', config(), '--json']);
    const results = JSON.parse(r.out) as HostFacts[];
    assert.equal(r.code, 0, r.err + r.out);
    assert.deepEqual(results.map((x) => x.ok && x.facts.hostname).sort(), ['ssh-ecdsa', 'ssh-hidden-1', 'ssh-hidden-2', 'ssh-rsa', 'ssh-sudo', 'ssh-sudopw']);
    assert.ok(!r.out.includes(lab.password) && !r.err.includes(lab.password));
    assert.ok(!readFileSync(join(dir, 'fleetpatch.db')).includes(lab.password), 'password in the database');
    assert.match(sshRun(dir, lab.ecdsa, 'ls /opt/fleetpatch/bin').stdout, /^helper-[0-9a-f]{64}$/m);
  });

  it('fleetpatch clean removes old helpers, unneeded payloads and broken uploads, keeping what the journal still needs', async () => {
    const d = '/var/lib/fleetpatch';
    const needed = 'b'.repeat(64);
    const setup = [
      `printf old > ${d}/bin/helper-${'0'.repeat(64)}`,
      `printf junk > ${d}/cache/${'c'.repeat(64)}`,
      `printf module > ${d}/cache/${needed}`,
      `printf gone > ${d}/cache/${'d'.repeat(64)}`,
      `mkdir ${d}/.upload.abc123`,
      `printf half > ${d}/cache/.${'e'.repeat(64)}.part`,
      `printf '1\\top-1\\tcommitted\\tb1\\t1\\tp1\\t${needed}\\n1\\top-2\\trolled-back\\tb1\\t2\\tp2\\t${'d'.repeat(64)}\\n' > ${d}/journal`,
      `chmod 600 ${d}/bin/helper-${'0'.repeat(64)} ${d}/cache/* ${d}/journal`,
    ].join(' && ');
    assert.equal(sshRun(dir, lab.rsa, setup).status, 0);
    const r = await cli(['clean', '-i', inventory(), '--config', config(), '--limit', 'ssh-rsa', '--json']);
    assert.equal(r.code, 0, r.err + r.out);
    const [res] = JSON.parse(r.out) as { ok: true; removed: string[]; kept: number }[];
    assert.deepEqual(res!.removed.sort(), [`helper-${'0'.repeat(64)}`, 'c'.repeat(64), 'd'.repeat(64)].sort());
    assert.equal(res!.kept, 1);
    const left = sshRun(dir, lab.rsa, `ls -A ${d}/bin ${d}/cache; ls -d ${d}/.upload.* ${d}/cache/.*.part 2>/dev/null | wc -l`).stdout;
    assert.ok(left.includes(`helper-${helperBinary('x86_64').sha256}`), left);
    assert.ok(left.includes(needed) && !left.includes('c'.repeat(64)), left);
    assert.match(left.trim(), /0$/);
  });

  it('--accept-new-host-keys pins an unknown host in the configured known_hosts and audits it; without it the host is refused', async () => {
    const kh = join(dir, 'known_hosts.partial');
    writeFileSync(kh, readFileSync(join(dir, 'known_hosts'), 'utf8').split('\n').filter((l) => !l.startsWith(`[${lab.sudo.address}]`)).join('\n'));
    const cfg = join(dir, 'partial.json');
    writeFileSync(cfg, JSON.stringify({ knownHostsFiles: ['known_hosts.partial'], database: 'partial/fleetpatch.db', sshConfigFile: 'ssh_config' }));
    const refused = await cli(['clean', '-i', inventory(), '--config', cfg, '--limit', 'ssh-sudo', '--json']);
    assert.equal(refused.code, 1);
    assert.equal((JSON.parse(refused.out) as { error: { code: string } }[])[0]!.error.code, 'host-key-unknown');
    const accepted = await cli(['clean', '-i', inventory(), '--config', cfg, '--limit', 'ssh-sudo', '--accept-new-host-keys', '--json']);
    assert.equal(accepted.code, 0, accepted.out);
    assert.ok(readFileSync(kh, 'utf8').includes(`[${lab.sudo.address}]:${lab.sudo.port} ssh-ed25519 `));
    const audit = readFileSync(join(dir, 'partial', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    assert.deepEqual(audit.map((a) => [a.action, a.host, a.address]), [['host-key-accepted', 'ssh-sudo', `[${lab.sudo.address}]:${lab.sudo.port}`]]);
    const again = await cli(['clean', '-i', inventory(), '--config', cfg, '--limit', 'ssh-sudo', '--json']);
    assert.equal(again.code, 0, again.out);
  });
});
