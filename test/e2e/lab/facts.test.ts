/** The foundation end to end on real parts: a lab of OpenSSH namespace hosts, facts over SSH with
 * strict host key checking, the helper pushed once, refusals, a killed host, and a clean lab down. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listHosts } from '../../../server/db/hosts.ts';
import { openDatabase } from '../../../server/db/index.ts';
import type { HostFacts } from '../../../server/facts/gather.ts';
import { labDown, labUp } from '../../../server/lab/index.ts';
import { byName, cli, freePort, labFacts, labHosts, newLabDir, processesMounting, ssh } from '../../support/lab.ts';

const HOSTS = 5;
const dir = newLabDir();
const config = join(dir, 'fleetpatch.json');
const inventory = join(dir, 'inventory.ini');
type Ok = Extract<HostFacts, { ok: true }>;
type Failed = Extract<HostFacts, { ok: false }>;

const facts = (...extra: string[]) => labFacts(config, inventory, ...extra);
const helperStat = (h: ReturnType<typeof labHosts>[number]) => ssh(dir, h, 'stat -c "%i %Y %n" /var/lib/fleetpatch/bin/*; ls -A /var/lib/fleetpatch/bin | wc -l');

describe('lab fleet and facts over SSH', { timeout: 300_000 }, () => {
  before(async () => {
    await labUp(dir, HOSTS, await freePort());
  });
  after(async () => {
    await labDown(dir, true);
  });

  it('writes an inventory with groups, known_hosts, a client key and a controller config', async () => {
    const inv = readFileSync(inventory, 'utf8');
    for (const g of ['[web]', '[db]', '[canary]', '[lab:children]', '[lab:vars]']) assert.ok(inv.includes(g), g);
    assert.match(inv, /^lab-01 ansible_host=127\.0\.1\.1 ansible_port=\d+$/m);
    assert.equal(readFileSync(join(dir, 'known_hosts'), 'utf8').trim().split('\n').length, HOSTS);
    const list = await cli(['inventory', '-i', inventory, '--list-hosts', 'web:!canary']);
    assert.deepEqual(list.out.split('\n'), ['lab-02', 'lab-03']);
  });

  it('reuses a running lab: lab up again keeps every host, key and address', async () => {
    const before = await cli(['lab', 'status', '--dir', dir, '--json']);
    const keys = readFileSync(join(dir, 'known_hosts'), 'utf8');
    await labUp(dir, HOSTS);
    const after = await cli(['lab', 'status', '--dir', dir, '--json']);
    assert.deepEqual(JSON.parse(after.out), JSON.parse(before.out));
    assert.equal(readFileSync(join(dir, 'known_hosts'), 'utf8'), keys);
  });

  it('gathers facts that differ per host exactly as the lab made them and as plain ssh sees them', async () => {
    const { code, results, err } = await facts();
    assert.equal(code, 0, err + JSON.stringify(results));
    assert.equal(results.length, HOSTS);
    const machineIds = new Set<string>();
    for (const h of labHosts(dir)) {
      const r = byName(results, h.name) as Ok;
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.helperUploaded, true, 'first contact pushes the helper');
      const [hostname, machineId, release, ...osRelease] = ssh(dir, h, 'hostname; cat /etc/machine-id; uname -r; cat /etc/os-release').trim().split('\n');
      assert.equal(r.facts.hostname, h.name);
      assert.equal(r.facts.hostname, hostname);
      assert.equal(r.facts.machine_id, machineId);
      assert.equal(r.facts.uname.release, release);
      const pretty = osRelease.find((l) => l.startsWith('PRETTY_NAME='))!.replace(/^PRETTY_NAME="?|"$/g, '');
      assert.equal(r.facts.os.pretty_name, pretty);
      assert.ok(pretty.includes(h.name), 'os-release is the host\'s own');
      assert.match(r.facts.kernel_build_id ?? '', /^[0-9a-f]{40}$/);
      machineIds.add(r.facts.machine_id);
    }
    assert.equal(machineIds.size, HOSTS, 'every host has its own machine-id');
  });

  it('stores every machine by machine-id under its inventory name', () => {
    const db = openDatabase(join(dir, 'fleetpatch.db'));
    const stored = listHosts(db);
    db.$client.close();
    assert.deepEqual(stored.flatMap((h) => h.names).sort(), labHosts(dir).map((h) => h.name));
    assert.equal(new Set(stored.map((h) => h.machineId)).size, HOSTS);
  });

  it('gives each host its own writable /opt, /etc, /usr, /var/lib/dpkg and /var/lib/fleetpatch', () => {
    const [first, ...others] = labHosts(dir);
    const paths = ['/opt/fp-probe', '/etc/fp-probe', '/usr/fp-probe', '/var/lib/dpkg/fp-probe', '/var/lib/fleetpatch/fp-probe'];
    ssh(dir, first!, paths.map((p) => `echo ${first!.name} > ${p}`).join('; '));
    try {
      for (const h of others) assert.equal(ssh(dir, h, paths.map((p) => `test -e ${p} && echo ${p}`).join('; ') + '; true').trim(), '', `${h.name} sees nothing of ${first!.name}`);
    } finally {
      ssh(dir, first!, `rm -f ${paths.join(' ')}`);
    }
  });

  it('uploads the helper once: a second run pushes nothing', async () => {
    const before = labHosts(dir).map(helperStat);
    const { code, results } = await facts();
    assert.equal(code, 0);
    assert.deepEqual(results.map((r) => (r as Ok).helperUploaded), Array(HOSTS).fill(false));
    assert.deepEqual(labHosts(dir).map(helperStat), before, 'same inode, mtime and no temporary files on every host');
    assert.match(before[0]!, /\n1\n$/, 'exactly one file in bin/');
  });

  it('refuses a host whose helper directory is group/world-writable, and only that host', async () => {
    const h = labHosts(dir)[2]!;
    ssh(dir, h, 'chmod 777 /var/lib/fleetpatch/bin');
    try {
      const { code, results } = await facts();
      assert.equal(code, 1);
      const r = byName(results, h.name) as Failed;
      assert.equal(r.error.code, 'insecure-remote-dir');
      assert.match(r.error.message, /\/var\/lib\/fleetpatch\/bin \(drwxrwxrwx .*\) is not owned by root or is writable by group or others/);
      assert.equal(results.filter((x) => x.ok).length, HOSTS - 1);
    } finally {
      ssh(dir, h, 'chmod 700 /var/lib/fleetpatch/bin');
    }
  });

  it('refuses a host whose key differs from known_hosts, uploading nothing to it', async () => {
    const [, target, donor] = labHosts(dir);
    ssh(dir, target!, 'rm -rf /var/lib/fleetpatch');
    const lines = readFileSync(join(dir, 'known_hosts'), 'utf8').trim().split('\n');
    const targetName = `[${target!.address}]:${target!.port}`;
    const donorKey = lines.find((l) => l.startsWith(`[${donor!.address}]`))!.split(' ').slice(1).join(' ');
    const forged = join(dir, 'known_hosts.forged');
    writeFileSync(forged, lines.map((l) => (l.startsWith(`${targetName} `) ? `${targetName} ${donorKey}` : l)).join('\n') + '\n');
    const forgedConfig = join(dir, 'forged.json');
    writeFileSync(forgedConfig, JSON.stringify({ knownHostsFiles: [forged], database: 'fleetpatch.db' }));
    const r = await cli(['facts', '-i', inventory, '--config', forgedConfig, '--json']);
    assert.equal(r.code, 1);
    const results = JSON.parse(r.out) as HostFacts[];
    const refused = byName(results, target!.name) as Failed;
    assert.equal(refused.error.code, 'host-key-changed');
    // fingerprints as ssh-keygen prints them, read on the hosts themselves
    const realFp = ssh(dir, target!, 'ssh-keygen -lf /mnt/ssh_host_ed25519_key.pub').split(' ')[1]!;
    const donorFp = ssh(dir, donor!, 'ssh-keygen -lf /mnt/ssh_host_ed25519_key.pub').split(' ')[1]!;
    assert.ok(refused.error.message.includes(realFp) && refused.error.message.includes(donorFp), refused.error.message);
    assert.equal(results.filter((x) => x.ok).length, HOSTS - 1);
    assert.equal(ssh(dir, target!, 'test -e /var/lib/fleetpatch && echo present || echo absent').trim(), 'absent');
  });

  it('refuses a host missing from known_hosts', async () => {
    const [, , , unknown] = labHosts(dir);
    const lines = readFileSync(join(dir, 'known_hosts'), 'utf8').trim().split('\n');
    const partial = join(dir, 'known_hosts.partial');
    writeFileSync(partial, lines.filter((l) => !l.startsWith(`[${unknown!.address}]`)).join('\n') + '\n');
    const partialConfig = join(dir, 'partial.json');
    writeFileSync(partialConfig, JSON.stringify({ knownHostsFiles: [partial], database: 'fleetpatch.db' }));
    const r = await cli(['facts', '-i', inventory, '--config', partialConfig, '--json', '--limit', unknown!.name]);
    assert.equal(r.code, 1);
    const [res] = JSON.parse(r.out) as Failed[];
    assert.equal(res!.error.code, 'host-key-unknown');
    assert.match(res!.error.message, /no host key for \[127\.0\.1\.4\]:\d+ in .*known_hosts\.partial; the host offered ssh-ed25519 SHA256:/);
    const pinned = await cli(['facts', '-i', inventory, '--config', partialConfig, '--json', '--limit', unknown!.name, '--accept-new-host-keys']);
    assert.equal(pinned.code, 0, pinned.out);
    assert.ok(readFileSync(partial, 'utf8').includes(`[${unknown!.address}]:${unknown!.port} ssh-ed25519 `), 'the key is pinned in the configured known_hosts');
    const again = await cli(['facts', '-i', inventory, '--config', partialConfig, '--json', '--limit', unknown!.name]);
    assert.equal(again.code, 0, 'trusted from now on without the flag');
  });

  it('reports a killed host unreachable while the others succeed, then sees it again after start', async () => {
    const victim = labHosts(dir)[4]!;
    assert.equal((await cli(['lab', 'kill', victim.name, '--dir', dir])).code, 0);
    const { code, results } = await facts();
    assert.equal(code, 1);
    const r = byName(results, victim.name) as Failed;
    assert.equal(r.error.code, 'refused');
    assert.match(r.error.message, /connection refused on port \d+; is sshd running/);
    assert.equal(results.filter((x) => x.ok).length, HOSTS - 1);
    assert.equal((await cli(['lab', 'start', victim.name, '--dir', dir])).code, 0);
    const again = await facts('--limit', victim.name);
    assert.equal(again.code, 0);
    assert.equal((again.results[0] as Ok).facts.hostname, victim.name);
  });

  it('lab down leaves no sshd, mount, namespace or listening address behind', async () => {
    assert.ok(processesMounting(dir).length >= HOSTS, 'the check sees the running hosts');
    await labDown(dir);
    assert.deepEqual(processesMounting(dir), []);
    for (const h of labHosts(dir)) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = connect({ host: h.address, port: h.port });
        s.once('connect', () => (s.destroy(), resolve(false)));
        s.once('error', () => resolve(true));
      });
      assert.ok(refused, `${h.address}:${h.port} no longer accepts connections`);
    }
    const status = await cli(['lab', 'status', '--dir', dir, '--json']);
    assert.deepEqual((JSON.parse(status.out) as { hosts: { running: boolean }[] }).hosts.map((h) => h.running), Array(HOSTS).fill(false));
  });
});
