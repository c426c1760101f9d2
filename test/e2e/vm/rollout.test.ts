/** The mission on real kernels: signed livepatch bundles planned, applied, verified and rolled back
 * on Debian's own kernel booted in qemu (two VMs), through the CLI, judged by what the guests say
 * over plain ssh. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBundle, signBundle } from '../../../server/bundles/index.ts';
import type { HostFacts } from '../../../server/facts/gather.ts';
import { readState } from '../../../server/lab/files.ts';
import { labDown, labUp } from '../../../server/lab/index.ts';
import { labKernel } from '../../../server/lab/vm.ts';
import type { LabHost } from '../../../server/lab/namespace-host.ts';
import type { HostPlan } from '../../../server/plan/index.ts';
import { cli, freePort, newLabDir, ssh } from '../../support/lab.ts';

const dir = newLabDir();
const config = join(dir, 'fleetpatch.json');
const inventory = join(dir, 'inventory.ini');
const bundle = (name: string) => join(dir, 'bundles', name);
let vms: LabHost[] = [];

interface HostRow {
  inventoryName: string;
  state: string;
  reason: string | null;
  steps?: { name: string; status: string; detail: string | null; output: string | null }[];
}

async function fp(...args: string[]) {
  const r = await cli([...args, '--config', config, '--json']);
  return { code: r.code, data: JSON.parse(r.out || 'null') as Record<string, unknown>, err: r.err };
}
async function run(kind: 'run' | 'rollback', name: string, ...extra: string[]) {
  const r = await fp(kind, '-i', inventory, '--bundle', bundle(name), '--limit', 'vms', ...extra);
  return { code: r.code, run: r.data.run as { id: number; state: string }, hosts: r.data.hosts as HostRow[], err: r.err };
}
async function show(runId: number): Promise<HostRow[]> {
  return (await fp('show', String(runId))).data.hosts as HostRow[];
}
const onVm = (vm: LabHost, command: string) => ssh(dir, vm, command);
const livepatches = (vm: LabHost) => onVm(vm, 'ls /sys/kernel/livepatch; grep -o "^fp_[a-z0-9_]*" /proc/modules || true').split('\n').filter(Boolean).sort();

describe('livepatch bundles on real kernels', { timeout: 600_000 }, () => {
  before(async () => {
    await labUp(dir, 0, await freePort(), 2);
    vms = readState(dir)!.vms!;
  });
  after(async () => {
    await labDown(dir, true);
  });

  it('lab up wrote signed example bundles that only the lab config trusts', async () => {
    for (const name of ['good', 'checkfail', 'stall', 'wrongbuild', 'cumulative-v1', 'cumulative-v2']) {
      assert.equal((await fp('bundle', 'verify', bundle(name))).code, 0, name);
    }
    const elsewhere = await cli(['bundle', 'verify', bundle('good'), '--json']);
    assert.equal(elsewhere.code, 2, 'not trusted by the default config');
  });

  it('check mode runs the helper\'s own preflight on a real kernel and loads nothing', async () => {
    const r = await run('run', 'good', '--check');
    assert.equal(r.code, 0, JSON.stringify(r.hosts));
    for (const h of r.hosts) assert.match(h.reason!, /^check mode: would apply/);
    assert.ok((await show(r.run.id))[0]!.steps!.some((s) => s.name === 'preflight' && s.status === 'ok'));
    for (const vm of vms) assert.deepEqual(livepatches(vm), []);
    const wrong = await run('run', 'wrongbuild-lying', '--check', '--limit', 'vm-01');
    assert.equal(wrong.hosts[0]!.state, 'failed');
    assert.match(wrong.hosts[0]!.reason!, /built for kernel build-id 0{39}1/);
  });

  it('applies the good patch to both VMs at once; its effect shows over plain ssh', async () => {
    for (const vm of vms) assert.doesNotMatch(onVm(vm, 'cat /proc/cmdline'), /fleetpatch-livepatch-good/);
    const r = await run('run', 'good');
    assert.equal(r.code, 0, JSON.stringify(r.hosts));
    assert.deepEqual(r.hosts.map((h) => h.state), ['applied', 'applied']);
    for (const vm of vms) {
      assert.match(onVm(vm, 'cat /proc/cmdline'), /fleetpatch-livepatch-good/);
      assert.equal(onVm(vm, 'cat /sys/kernel/livepatch/fp_good/enabled /sys/kernel/livepatch/fp_good/transition'), '1\n0\n');
    }
    const steps = (await show(r.run.id))[0]!.steps!.map((s) => `${s.name}:${s.status}`);
    for (const s of ['connect:ok', 'facts:ok', 'plan:ok', 'push:ok', 'preflight:ok', 'load:ok', 'transition:ok', 'verify:ok', 'check:ok', 'commit:ok', 'apply:ok']) assert.ok(steps.includes(s), `${s} in ${steps}`);
  });

  it('a re-run is already-applied and uploads nothing', async () => {
    const listing = () => vms.map((vm) => onVm(vm, 'ls -l --full-time /var/lib/fleetpatch/bin /var/lib/fleetpatch/cache 2>&1 || ls -le /var/lib/fleetpatch/bin /var/lib/fleetpatch/cache'));
    const before = listing();
    const r = await run('run', 'good');
    assert.equal(r.code, 0);
    assert.deepEqual(r.hosts.map((h) => h.state), ['already-applied', 'already-applied']);
    assert.ok(!(await show(r.run.id)).some((h) => h.steps!.some((s) => s.name === 'push')), 'no push step');
    assert.deepEqual(listing(), before);
  });

  it('rollback restores the original behaviour and the module is gone from sysfs and /proc/modules', async () => {
    const r = await run('rollback', 'good');
    assert.equal(r.code, 0, JSON.stringify(r.hosts));
    assert.deepEqual(r.hosts.map((h) => h.state), ['rolled-back', 'rolled-back']);
    for (const vm of vms) {
      assert.doesNotMatch(onVm(vm, 'cat /proc/cmdline'), /fleetpatch-livepatch/);
      assert.deepEqual(livepatches(vm), []);
    }
  });

  it('rolls back a patch whose check fails after a clean load', async () => {
    const r = await run('run', 'checkfail', '--limit', 'vm-01');
    assert.equal(r.code, 1);
    assert.equal(r.hosts[0]!.state, 'rolled-back');
    assert.match(r.hosts[0]!.reason!, /\["grep","-c","\^Linux version ","\/proc\/version"\]: FAILED: exit 1, expected 0/);
    const steps = (await show(r.run.id))[0]!.steps!;
    assert.ok(steps.some((s) => s.name === 'check' && s.status === 'failed'));
    assert.ok(steps.some((s) => s.name === 'verify-rollback' && s.status === 'ok'));
    assert.deepEqual(livepatches(vms[0]!), []);
    assert.match(onVm(vms[0]!, 'cat /proc/version'), /^Linux version/);
  });

  it('reverses a transition that never finishes after the bundle timeout, naming the blocking task', async () => {
    const vm = vms[1]!;
    const target = readFileSync(join('native/livepatch/build', labKernel().release, 'fp_stall_target.ko'));
    await new Promise<void>((resolve, reject) => {
      const p = spawn('ssh', ['-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-p', String(vm.port), `root@${vm.address}`, 'cat > /tmp/target.ko && insmod /tmp/target.ko']);
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`insmod exit ${code}`))));
      p.stdin.end(target);
    });
    try {
      const r = await run('run', 'stall', '--limit', 'vm-02');
      assert.equal(r.code, 1);
      assert.equal(r.hosts[0]!.state, 'rolled-back');
      assert.match(r.hosts[0]!.reason!, /did not finish within 5 s; blocking: pid \d+ \(fp_stall_target\)/);
      assert.deepEqual(livepatches(vm), ['fp_stall_target']);
    } finally {
      onVm(vm, 'rmmod fp_stall_target');
    }
  });

  it('plans a module built for another build of the same release as not-applicable, and the helper refuses it when a bundle lies', async () => {
    const plan = await fp('plan', '-i', inventory, '--bundle', bundle('wrongbuild'), '--limit', 'vms');
    assert.equal(plan.code, 0);
    for (const h of plan.data.hosts as HostPlan[]) {
      assert.equal(h.plan.action, 'not-applicable');
      assert.match(h.plan.action === 'not-applicable' ? h.plan.reason : '', /reboot needed: the bundle's module for 6\.1\.0-\d+-amd64 is for kernel build 0{39}1/);
    }
    const lying = await run('run', 'wrongbuild-lying', '--limit', 'vm-01');
    assert.equal(lying.code, 1);
    assert.equal(lying.hosts[0]!.state, 'failed');
    assert.match(lying.hosts[0]!.reason!, /module fp_wrongbuild was built for kernel build-id 0{39}1 but this host runs build-id [0-9a-f]{40}/);
    assert.deepEqual(livepatches(vms[0]!), []);
  });

  it('upgrades cumulative v1 to v2 and says what rolling v2 back leaves', async () => {
    assert.equal((await run('run', 'cumulative-v1', '--limit', 'vm-01')).hosts[0]!.state, 'applied');
    assert.match(onVm(vms[0]!, 'cat /proc/cmdline'), /cumulative-v1/);
    const plan = await fp('plan', '-i', inventory, '--bundle', bundle('cumulative-v2'), '--limit', 'vm-01');
    const p = (plan.data.hosts as HostPlan[])[0]!.plan;
    assert.equal(p.action, 'apply');
    assert.deepEqual(p.action === 'apply' && p.replaces, ['fp_cumulative_v1']);
    assert.equal((await run('run', 'cumulative-v2', '--limit', 'vm-01')).hosts[0]!.state, 'applied');
    assert.match(onVm(vms[0]!, 'cat /proc/cmdline'), /cumulative-v2/);
    assert.deepEqual(livepatches(vms[0]!), ['fp_cumulative_v2', 'fp_cumulative_v2'], 'v1 disabled and unloaded');
    const back = await fp('plan', '-i', inventory, '--bundle', bundle('cumulative-v2'), '--limit', 'vm-01', '--rollback');
    const note = JSON.stringify((back.data.hosts as HostPlan[])[0]!.plan);
    assert.match(note, /host runs unpatched until one of fp-demo-cumulative serial 1 \(fp_cumulative_v1\) is applied again/);
    const downgrade = await fp('plan', '-i', inventory, '--bundle', bundle('cumulative-v1'), '--limit', 'vm-01');
    assert.match(JSON.stringify(downgrade.data.hosts), /host has serial 2 of series fp-demo-cumulative; bundle has serial 1/);
    assert.equal((await run('rollback', 'cumulative-v2', '--limit', 'vm-01')).hosts[0]!.state, 'rolled-back');
    assert.deepEqual(livepatches(vms[0]!), []);
  });

  it('shows drift after a VM reboots and plans the patch again', async () => {
    assert.equal((await run('run', 'good', '--limit', 'vm-02')).hosts[0]!.state, 'applied');
    assert.equal((await cli(['lab', 'kill', 'vm-02', '--dir', dir])).code, 0);
    assert.equal((await cli(['lab', 'start', 'vm-02', '--dir', dir])).code, 0);
    const facts = await fp('facts', '-i', inventory, '--limit', 'vm-02');
    const f = (facts.data as unknown as HostFacts[])[0]!;
    assert.ok(f.ok);
    assert.deepEqual(f.ok && f.drift.map((d) => d.patch), ['fp_good']);
    const plan = await fp('plan', '-i', inventory, '--bundle', bundle('good'), '--limit', 'vm-02');
    assert.equal((plan.data.hosts as HostPlan[])[0]!.plan.action, 'apply');
  });

  it('reconciles a host whose helper was killed between load and verify to exactly unpatched', async () => {
    const vm = vms[0]!;
    const slow = await slowCheckBundle();
    const controller = spawn('node', ['--import', 'tsx', 'server/main.ts', 'run', '-i', inventory, '--bundle', slow, '--limit', 'vm-01', '--config', config, '--json'], { stdio: 'ignore' });
    await waitFor(() => onVm(vm, 'cat /sys/kernel/livepatch/fp_good/enabled 2>/dev/null || true').trim() === '1');
    // a second run on the same database is refused before it starts (overlapping runs)
    const overlapping = await cli(['run', '-i', inventory, '--bundle', bundle('good'), '--limit', 'vm-01', '--config', config]);
    assert.equal(overlapping.code, 1);
    assert.match(overlapping.err, /is still working on vm-01/);
    // a second controller with its own database: refused as busy by the host lock, nothing touched
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ knownHostsFiles: ['known_hosts'], database: 'other.db', trustedKeysDir: 'trusted-keys', sshConfigFile: null }));
    const second = JSON.parse((await cli(['run', '-i', inventory, '--bundle', bundle('good'), '--limit', 'vm-01', '--config', other, '--json'])).out) as { hosts: HostRow[] };
    assert.equal(second.hosts[0]!.state, 'failed');
    assert.match(second.hosts[0]!.reason!, /another fleetpatch operation holds this host's lock/);
    onVm(vm, 'kill -9 $(pidof $(basename $(ls /var/lib/fleetpatch/bin/helper-*)))');
    await new Promise((resolve) => controller.on('exit', resolve));
    const stuck = await fp('facts', '-i', inventory, '--limit', 'vm-01');
    const journal = ((stuck.data as unknown as HostFacts[])[0] as Extract<HostFacts, { ok: true }>).facts.journal;
    assert.ok(journal.some((e) => e.state === 'loaded' && e.patch === 'fp_good'), JSON.stringify(journal));
    const next = await run('run', 'good', '--limit', 'vm-01');
    const steps = (await show(next.run.id))[0]!.steps!;
    assert.ok(steps.some((s) => s.name === 'reconcile' && s.status === 'ok' && /loaded → rolled back/.test(s.detail ?? '')), JSON.stringify(steps));
    assert.equal(next.hosts[0]!.state, 'applied');
    assert.deepEqual(livepatches(vm), ['fp_good', 'fp_good']);
    assert.equal((await run('rollback', 'good', '--limit', 'vm-01')).code, 0);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** TEST ONLY: the good module with a check that takes 20 s, to catch the helper mid-verdict. */
async function slowCheckBundle(): Promise<string> {
  const src = join(dir, 'slow-src');
  const good = JSON.parse(readFileSync(join(bundle('good'), 'bundle.json'), 'utf8')) as Record<string, unknown> & { livepatch: { modules: { file: string }[] } };
  mkdirSync(join(src, 'modules'), { recursive: true });
  const file = good.livepatch.modules[0]!.file;
  writeFileSync(join(src, file), readFileSync(join(bundle('good'), file)));
  writeFileSync(join(src, 'bundle.json'), JSON.stringify({ ...good, id: 'fp-test-slow-check', files: undefined, checks: [{ argv: ['sleep', '20'], exitCode: 0 }] }));
  const out = join(dir, 'bundles', 'slow-check');
  await buildBundle(src, out);
  await signBundle(out, join(dir, 'bundle-keys', 'lab.key'));
  return out;
}
