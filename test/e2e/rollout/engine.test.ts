/** The rollout engine on real hosts (lab namespace hosts, real dpkg): waves, the failure budget,
 * rollback-all, cancel, a controller SIGKILLed and resumed, check mode. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labCut, labDown, labUp } from '../../../server/lab/index.ts';
import type { LabHost } from '../../../server/lab/namespace-host.ts';
import { cli, freePort, labHosts, newLabDir, ssh } from '../../support/lab.ts';

const HOSTS = 5;
const dir = newLabDir();
const config = join(dir, 'fleetpatch.json');
const inventory = join(dir, 'inventory.ini');
const bundle = (name: string) => join(dir, 'bundles', name);

interface HostRow {
  inventoryName: string;
  state: string;
  reason: string | null;
  wave: number | null;
  startedAt: string | null;
  finishedAt: string | null;
}
interface RunRow {
  id: number;
  state: string;
  haltReason: string | null;
}

async function fp(...args: string[]) {
  const r = await cli([...args, '--config', config, '--json']);
  return { code: r.code, data: JSON.parse(r.out || 'null') as { run: RunRow; hosts: HostRow[]; retryFile?: string | null }, err: r.err };
}
const run = (kind: 'run' | 'rollback', name: string, ...extra: string[]) => fp(kind, '-i', inventory, '--bundle', bundle(name), ...extra);
const states = (hosts: HostRow[]) => Object.fromEntries(hosts.map((h) => [h.inventoryName, h.state]));
const version = (h: LabHost) => ssh(dir, h, "dpkg-query -W -f='${Version}' fp-demo").trim();
const controller = (...args: string[]) => {
  const p = spawn('node', ['--import', 'tsx', 'server/main.ts', ...args, '--config', config, '--json'], { stdio: 'ignore' });
  return { p, exited: new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code))) };
};
async function latestRun(): Promise<RunRow> {
  const r = await cli(['runs', '--config', config, '--json']);
  return (JSON.parse(r.out) as RunRow[])[0]!;
}
async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** fp-demo 1.1's postinst waits on HOST while /run/fp-demo-hold-… exists (the lab's package). */
const hold = (h: LabHost) => ssh(dir, h, 'rm -f /run/fp-demo-at-*; touch /run/fp-demo-hold-fp-demo-1.1-postinst');
const held = (h: LabHost) => waitFor(() => ssh(dir, h, 'test -e /run/fp-demo-at-fp-demo-1.1-postinst && echo y || true').trim() === 'y');
const release = (h: LabHost) => ssh(dir, h, 'rm -f /run/fp-demo-hold-fp-demo-1.1-postinst');

describe('rollout engine', { timeout: 600_000 }, () => {
  let hosts: LabHost[];
  const reset = async () => {
    await run('rollback', 'pkg-good');
    for (const h of hosts) assert.equal(version(h), '1.0');
  };
  before(async () => {
    await labUp(dir, HOSTS, await freePort());
    hosts = labHosts(dir);
  });
  after(async () => {
    await labDown(dir, true);
  });

  it('check mode plans and preflights without changing any host', async () => {
    const snapshot = 'dpkg-query -W; dpkg --audit; sha256sum /etc/fp-demo.conf /usr/bin/fp-demo; uname -r; ls /sys/kernel/livepatch 2>&1; ls /var/lib/fleetpatch/journal /var/lib/fleetpatch/ops 2>&1 || true';
    const before = hosts.map((h) => ssh(dir, h, snapshot));
    const r = await run('run', 'pkg-good', '--check');
    assert.equal(r.code, 0, JSON.stringify(r.data.hosts));
    for (const h of r.data.hosts) assert.match(h.reason!, /^check mode: would apply; fp-demo: 1\.0 → 1\.1/);
    assert.deepEqual(hosts.map((h) => ssh(dir, h, snapshot)), before, 'packages, config, kernel and fleetpatch state unchanged');
  });

  it('a failing canary halts the run before wave 2', async () => {
    const r = await run('run', 'pkg-bad', '--waves', '1,100%', '--max-failures', '0');
    assert.equal(r.code, 3);
    assert.equal(r.data.run.state, 'halted');
    assert.match(r.data.run.haltReason!, /1 hosts failed, more than --max-failures 0/);
    assert.deepEqual(states(r.data.hosts), { 'lab-01': 'rolled-back', 'lab-02': 'skipped', 'lab-03': 'skipped', 'lab-04': 'skipped', 'lab-05': 'skipped' });
    assert.deepEqual(r.data.hosts.map((h) => h.wave), [1, 2, 2, 2, 2]);
    for (const h of hosts) assert.equal(version(h), '1.0');
  });

  it('counts the budget across waves over the hosts placed in waves; a host down at plan time is left out', async () => {
    assert.equal((await cli(['lab', 'kill', 'lab-05', '--dir', dir])).code, 0);
    try {
      // 1 failure of 4 placed hosts = 25%: within 25%, so no halt
      ssh(dir, hosts[2]!, "printf '#!/bin/sh\\necho tampered\\n' > /usr/local/bin/fp-demo; chmod 755 /usr/local/bin/fp-demo");
      const r = await run('run', 'pkg-good', '--waves', '2', '--max-fail-percentage', '25');
      assert.equal(r.code, 1, JSON.stringify(r.data));
      assert.equal(r.data.run.state, 'failed');
      assert.deepEqual(states(r.data.hosts), { 'lab-01': 'applied', 'lab-02': 'applied', 'lab-03': 'rolled-back', 'lab-04': 'applied', 'lab-05': 'unreachable' });
      assert.equal(r.data.hosts[4]!.wave, null);
      assert.match(r.data.hosts[4]!.reason!, /at plan time, left out of the waves/);
      assert.equal(readFileSync(r.data.retryFile!, 'utf8'), 'lab-03\nlab-05\n', 'the retry file lists the hosts to retry');
      const listed = await cli(['inventory', '-i', inventory, '--list-hosts', `@${r.data.retryFile}`]);
      assert.deepEqual(listed.out.split('\n'), ['lab-03', 'lab-05']);
      assert.equal((await cli(['lab', 'start', 'lab-05', '--dir', dir])).code, 0);
      const retry = await run('run', 'pkg-good', '--retry-failed', String(r.data.run.id));
      assert.deepEqual(states(retry.data.hosts), { 'lab-03': 'rolled-back', 'lab-05': 'applied' });
    } finally {
      await cli(['lab', 'start', 'lab-05', '--dir', dir]);
    }
    await reset();
  });

  it('a host that does not answer at plan time delays only the hosts not certainly in the first wave', async () => {
    // lab-05's packets are dropped: its plan-time connect waits out the connect timeout
    await labCut(dir, 'lab-05', true);
    process.env.FLEETPATCH_CONNECT_TIMEOUT_MS = '3000';
    try {
      // 10% of the hosts that answer: only the first host is certainly in wave 1 before lab-05's answer
      const r = await run('run', 'pkg-good', '--waves', '10%');
      assert.equal(r.code, 1, JSON.stringify(r.data));
      const at = Object.fromEntries(r.data.hosts.map((h) => [h.inventoryName, h]));
      assert.equal(at['lab-05']!.state, 'unreachable');
      const given = Date.parse(at['lab-05']!.finishedAt!);
      assert.ok(Date.parse(at['lab-01']!.startedAt!) < given, 'the certain first-wave host started before lab-05 was given up');
      for (const n of ['lab-02', 'lab-03', 'lab-04']) assert.ok(Date.parse(at[n]!.startedAt!) >= given, `${n} waited for every answer`);
      assert.deepEqual(r.data.hosts.map((h) => h.wave), [1, 2, 3, 4, null]);
      await run('rollback', 'pkg-good');
      for (const h of hosts.slice(0, 4)) assert.equal(version(h), '1.0');
      // one wave of 100%: every host that answers starts at once
      const all = await run('run', 'pkg-good');
      const at2 = Object.fromEntries(all.data.hosts.map((h) => [h.inventoryName, h]));
      // lab-03's fp-demo is still the one tampered with above: its checks fail and it is rolled back
      assert.deepEqual(states(all.data.hosts), { 'lab-01': 'applied', 'lab-02': 'applied', 'lab-03': 'rolled-back', 'lab-04': 'applied', 'lab-05': 'unreachable' });
      for (const n of ['lab-01', 'lab-02', 'lab-03', 'lab-04']) {
        assert.ok(Date.parse(at2[n]!.startedAt!) < Date.parse(at2['lab-05']!.finishedAt!), `${n} started before lab-05 was given up`);
      }
    } finally {
      delete process.env.FLEETPATCH_CONNECT_TIMEOUT_MS;
      await labCut(dir, 'lab-05', false);
    }
    await reset();
  });

  it('a host lost mid-run counts against the budget and halts the run', async () => {
    hold(hosts[0]!);
    const pending = run('run', 'pkg-good', '--waves', '1,100%', '--max-failures', '0');
    await held(hosts[0]!);
    assert.equal((await cli(['lab', 'kill', 'lab-01', '--dir', dir])).code, 0);
    const r = await pending;
    assert.equal(r.code, 3, JSON.stringify(r.data));
    assert.equal(states(r.data.hosts)['lab-01'], 'unreachable');
    assert.ok(r.data.hosts.slice(1).every((h) => h.state === 'skipped'));
    assert.equal((await cli(['lab', 'start', 'lab-01', '--dir', dir])).code, 0);
    release(hosts[0]!);
    await reset(); // reconciles lab-01's interrupted install first
  });

  it('rollback-all: after a halt, the hosts this run patched are rolled back too', async () => {
    const r = await run('run', 'pkg-good', '--waves', '2,100%', '--max-failures', '0', '--on-failure', 'rollback-all');
    assert.equal(r.code, 3);
    const s = states(r.data.hosts);
    assert.equal(s['lab-03'], 'rolled-back', 'the tampered host fails in wave 2');
    assert.equal(s['lab-01'], 'rolled-back');
    assert.equal(s['lab-02'], 'rolled-back');
    assert.match(r.data.hosts[0]!.reason!, /rolled back because the run halted \(--on-failure rollback-all\)/);
    for (const h of hosts) assert.equal(version(h), '1.0');
    ssh(dir, hosts[2]!, 'rm /usr/local/bin/fp-demo');
  });

  it('cancel from another process: hosts in flight finish, the rest are skipped, exit 4', async () => {
    hold(hosts[0]!);
    const c = controller('run', '-i', inventory, '--bundle', bundle('pkg-good'), '--forks', '1');
    try {
      await held(hosts[0]!);
      const id = (await latestRun()).id;
      const live = await fp('show', String(id));
      assert.equal(live.data.run.state, 'running', 'show follows a run another process owns');
      assert.equal(states(live.data.hosts)['lab-01'], 'running');
      const overlapping = await cli(['run', '-i', inventory, '--bundle', bundle('pkg-good'), '--limit', 'lab-04:lab-05', '--config', config]);
      assert.equal(overlapping.code, 1);
      assert.match(overlapping.err, new RegExp(`run ${id} \\(owner .*\\) is still working on lab-04, lab-05; wait for it, cancel it`));
      // released at once: the owner reads the request before the next host starts, not at its heartbeat
      assert.equal((await cli(['cancel', String(id), '--config', config])).code, 0);
    } finally {
      release(hosts[0]!);
    }
    assert.equal(await c.exited, 4);
    const shown = await fp('show', String((await latestRun()).id));
    assert.equal(shown.data.run.state, 'cancelled');
    assert.equal(states(shown.data.hosts)['lab-01'], 'applied', 'the host in flight finished');
    assert.ok(shown.data.hosts.slice(1).every((h) => h.state === 'skipped'));
    await reset();
  });

  it('Ctrl-C twice cancels without abandoning the host in flight', async () => {
    hold(hosts[2]!);
    const c = controller('run', '-i', inventory, '--bundle', bundle('pkg-good'), '--limit', 'lab-03:lab-04:lab-05', '--forks', '1');
    try {
      await held(hosts[2]!);
      c.p.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 500));
      c.p.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      release(hosts[2]!);
    }
    assert.equal(await c.exited, 4);
    const shown = await fp('show', String((await latestRun()).id));
    assert.deepEqual(states(shown.data.hosts), { 'lab-03': 'applied', 'lab-04': 'skipped', 'lab-05': 'skipped' });
    assert.equal(version(hosts[2]!), '1.1');
    await reset();
  });

  it('a controller SIGKILLed mid-run is interrupted; resume finishes every host and the database agrees', async () => {
    hold(hosts[1]!);
    const c = controller('run', '-i', inventory, '--bundle', bundle('pkg-good'), '--forks', '1');
    try {
      await held(hosts[1]!);
      c.p.kill('SIGKILL');
      await c.exited;
    } finally {
      release(hosts[1]!);
    }
    const id = (await latestRun()).id;
    assert.equal((await latestRun()).state, 'interrupted');
    const r = await fp('resume', String(id));
    assert.equal(r.code, 0, JSON.stringify(r.data));
    assert.equal(r.data.run.state, 'succeeded');
    assert.deepEqual(new Set(r.data.hosts.map((h) => h.state)), new Set(['applied']));
    for (const h of hosts) assert.equal(version(h), '1.1', `${h.name} really has the update`);
    const latest = ssh(dir, hosts[1]!, "awk -F'\\t' '{ s[$2] = $3 } END { for (o in s) print s[o] }' /var/lib/fleetpatch/journal | sort -u");
    assert.doesNotMatch(latest, /^(intent|saved|installing|installed|rollback-intent)$/m, 'nothing left in flight on the host');
    await reset();
  });

  it('a run killed at plan time after its canary started early resumes the canary before the hosts never placed', async () => {
    hold(hosts[0]!);
    await labCut(dir, 'lab-05', true);
    process.env.FLEETPATCH_CONNECT_TIMEOUT_MS = '120000';
    const c = controller('run', '-i', inventory, '--bundle', bundle('pkg-good'), '--waves', '1,100%');
    delete process.env.FLEETPATCH_CONNECT_TIMEOUT_MS;
    try {
      // lab-01, the canary, is installing while lab-05 has not answered: the others are not placed yet
      await held(hosts[0]!);
      c.p.kill('SIGKILL');
      await c.exited;
    } finally {
      release(hosts[0]!);
      await labCut(dir, 'lab-05', false);
    }
    const id = (await latestRun()).id;
    assert.equal((await latestRun()).state, 'interrupted');
    const r = await fp('resume', String(id));
    assert.equal(r.code, 0, JSON.stringify(r.data));
    assert.deepEqual(new Set(r.data.hosts.map((h) => h.state)), new Set(['applied']));
    const canaryDone = Date.parse(r.data.hosts[0]!.finishedAt!);
    for (const h of r.data.hosts.slice(1)) assert.ok(Date.parse(h.startedAt!) >= canaryDone, `${h.inventoryName} started after the canary was reconciled`);
    for (const h of hosts) assert.equal(version(h), '1.1', `${h.name} really has the update`);
    await reset();
  });
});
