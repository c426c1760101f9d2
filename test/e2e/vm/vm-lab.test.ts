/** Lab VMs end to end: qemu booting Debian's own kernel next to a namespace host, facts over SSH
 * (dropbear, strict host key checking) that match the kernel image the lab booted, a VM powered
 * off and booted again, and a lab down that leaves no qemu behind. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HostFacts } from '../../../server/facts/gather.ts';
import { labDown, labUp } from '../../../server/lab/index.ts';
import { labKernel, vmDir } from '../../../server/lab/vm.ts';
import { byName, cli, freePort, labFacts, labHosts, labVms, newLabDir, qemuProcesses, sshRun } from '../../support/lab.ts';

const dir = newLabDir();
const config = join(dir, 'fleetpatch.json');
const inventory = join(dir, 'inventory.ini');
type Ok = Extract<HostFacts, { ok: true }>;
type Failed = Extract<HostFacts, { ok: false }>;

const facts = (...extra: string[]) => labFacts(config, inventory, ...extra);

/** The GNU build-id note (type 3, name "GNU") of /sys/kernel/notes, read on the guest. */
function guestBuildId(vm: ReturnType<typeof labVms>[number]): string {
  const r = sshRun(dir, vm, 'od -An -tx1 -v /sys/kernel/notes');
  assert.equal(r.status, 0, r.stderr);
  const notes = Buffer.from(r.stdout.replace(/\s+/g, ''), 'hex');
  for (let off = 0; off + 12 <= notes.length; ) {
    const namesz = notes.readUInt32LE(off);
    const descsz = notes.readUInt32LE(off + 4);
    const type = notes.readUInt32LE(off + 8);
    const name = off + 12;
    const desc = name + Math.ceil(namesz / 4) * 4;
    if (type === 3 && notes.toString('latin1', name, name + namesz) === 'GNU\0') return notes.toString('hex', desc, desc + descsz);
    off = desc + Math.ceil(descsz / 4) * 4;
  }
  throw new Error('no GNU build-id note in /sys/kernel/notes');
}

describe('lab VMs with a real Debian kernel', { timeout: 180_000 }, () => {
  before(async () => {
    await labUp(dir, 1, await freePort(), 2);
  });
  after(async () => {
    await labDown(dir, true);
  });

  it('puts the VMs in the inventory group vms, on 127.0.2.K, with their keys pinned in known_hosts', () => {
    const inv = readFileSync(inventory, 'utf8');
    assert.match(inv, /^\[vms\]\nvm-01 ansible_host=127\.0\.2\.1 ansible_port=\d+\nvm-02 ansible_host=127\.0\.2\.2 ansible_port=\d+$/m);
    assert.match(inv, /^\[vms:vars\]\nansible_user=root\n/m);
    const known = readFileSync(join(dir, 'known_hosts'), 'utf8').trim().split('\n');
    assert.equal(known.length, 3);
    for (const vm of labVms(dir)) {
      const pub = readFileSync(join(vmDir(dir, vm.name), 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      assert.ok(known.includes(`[${vm.address}]:${vm.port} ${pub}`), `${vm.name}'s key is pinned`);
    }
  });

  it('reports the Debian kernel the lab booted: release, uname -v, build-id from /sys/kernel/notes, livepatch support', async () => {
    const kernel = labKernel();
    assert.match(kernel.release, /^6\.1\.0-\d+-amd64$/);
    assert.match(kernel.buildId, /^[0-9a-f]{40}$/);
    const { code, results, err } = await facts();
    assert.equal(code, 0, err + JSON.stringify(results));
    assert.equal(results.length, 3);
    const machineIds = new Set<string>();
    for (const vm of labVms(dir)) {
      const r = byName(results, vm.name) as Ok;
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.facts.hostname, vm.name);
      assert.equal(r.facts.uname.release, kernel.release);
      assert.equal(r.facts.uname.version, kernel.unameV);
      assert.equal(r.facts.kernel_build_id, kernel.buildId, 'the build-id read from the image at build time');
      assert.equal(guestBuildId(vm), kernel.buildId, 'the build-id the guest kernel exposes');
      assert.equal(r.facts.livepatch_supported, true);
      assert.equal(r.facts.machine_id, readFileSync(join(vmDir(dir, vm.name), 'machine-id'), 'utf8').trim());
      machineIds.add(r.facts.machine_id);
    }
    const host = byName(results, labHosts(dir)[0]!.name) as Ok;
    assert.equal(host.ok, true);
    machineIds.add(host.facts.machine_id);
    assert.equal(machineIds.size, 3, 'every host and VM has its own machine-id');
  });

  it('reuses running VMs: lab up again changes nothing', async () => {
    const before = (await cli(['lab', 'status', '--dir', dir, '--json'])).out;
    await labUp(dir, 1, undefined, 2);
    assert.deepEqual(JSON.parse((await cli(['lab', 'status', '--dir', dir, '--json'])).out), JSON.parse(before));
  });

  it('a killed VM is unreachable; started again, it is a fresh boot of the same machine', async () => {
    const victim = labVms(dir)[1]!;
    const idBefore = (byName((await facts('--limit', victim.name)).results, victim.name) as Ok).facts.machine_id;
    assert.equal((await cli(['lab', 'kill', victim.name, '--dir', dir])).code, 0);
    const down = await facts();
    assert.equal(down.code, 1);
    assert.equal((byName(down.results, victim.name) as Failed).error.code, 'refused');
    assert.equal(down.results.filter((r) => r.ok).length, 2);
    assert.equal((await cli(['lab', 'start', victim.name, '--dir', dir])).code, 0);
    const up = await facts('--limit', victim.name);
    assert.equal(up.code, 0, up.err);
    const r = up.results[0] as Ok;
    assert.equal(r.facts.machine_id, idBefore);
    assert.equal(r.helperUploaded, true, 'a reboot empties the guest\'s root file system: the helper is pushed again');
  });

  it('lab down leaves no qemu and no forwarded port behind', async () => {
    assert.equal(qemuProcesses(dir).length, 2, 'the check sees the running VMs');
    await labDown(dir);
    assert.deepEqual(qemuProcesses(dir), []);
    for (const h of [...labHosts(dir), ...labVms(dir)]) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = connect({ host: h.address, port: h.port });
        s.once('connect', () => (s.destroy(), resolve(false)));
        s.once('error', () => resolve(true));
      });
      assert.ok(refused, `${h.address}:${h.port} no longer accepts connections`);
    }
    const status = JSON.parse((await cli(['lab', 'status', '--dir', dir, '--json'])).out) as { hosts: { kind: string; running: boolean }[] };
    assert.deepEqual(status.hosts.map((h) => [h.kind, h.running]), [['namespace', false], ['vm', false], ['vm', false]]);
  });
});
