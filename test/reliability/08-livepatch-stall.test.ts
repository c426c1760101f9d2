/** Fault 8: a livepatch transition that never finishes, in the middle of one wave, on real kernels
 * (three lab VMs). `fp_stall_target` keeps a task asleep inside the function `fp_stall` patches,
 * so on a VM where it is loaded the `stall` bundle's transition never completes, while on the
 * others it does at once. (a) Stalled on one VM of three, forks 3, budget 1: that VM is reversed
 * after the bundle's 5 s timeout (rolled-back, naming the blocking task), the others applied, the
 * run finished within budget. (b) Stalled on two VMs of three, forks 2, budget 0: the run halts
 * when the first stalled VM is reversed, the other in flight is reversed too, and the third,
 * never started, is skipped and untouched. The verdict compares every VM's real
 * /sys/kernel/livepatch, /proc/modules and helper journal with the database. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LabHost } from '../../server/lab/namespace-host.ts';
import { labKernel } from '../../server/lab/vm.ts';
import { cli, sshRun } from '../support/lab.ts';
import { SKIP, apply, host, lastRun, livepatchFault, realLivepatch, rollback, sh, startVmLab, stopLab, type Lab, type RunOut } from './support.ts';

const TARGET = 'fp_stall_target';
const BLOCKED = /the livepatch transition of fp_stall did not finish within 5 s; blocking: pid \d+ \(fp_stall_target\)/;

function loadStallTarget(lab: Lab, vm: LabHost): void {
  const ko = readFileSync(join('native/livepatch/build', labKernel().release, `${TARGET}.ko`));
  const r = sshRun(lab.dir, vm, `cat > /tmp/${TARGET}.ko && insmod /tmp/${TARGET}.ko`, ko);
  assert.equal(r.status, 0, `${vm.name}: insmod ${TARGET}: ${r.stderr}`);
}

const states = (r: RunOut) => Object.fromEntries(r.hosts.map((h) => [h.inventoryName, h.state]));
const reasonOf = (r: RunOut, name: string) => r.hosts.find((h) => h.inventoryName === name)!.reason ?? '';

describe('reliability: a livepatch transition that never finishes, mid-wave', { timeout: 900_000, skip: SKIP }, () => {
  let lab: Lab;
  before(async () => {
    lab = await startVmLab(3);
  });
  after(async () => {
    if (lab) await stopLab(lab);
  });

  it('stalled on one VM of a wave: that VM is reversed, the others applied, within budget', async () => {
    const stalled = host(lab, 'vm-02');
    await livepatchFault('8a', 'livepatch transition never finishes on one VM mid-wave (forks 3, --max-failures 1)', 'vm-02 of 3 VMs', lab, async () => {
      loadStallTarget(lab, stalled);
      try {
        const r = await apply(lab, 'stall', '--limit', 'vms', '--forks', '3', '--waves', '100%', '--max-failures', '1');
        assert.deepEqual(states(r), { 'vm-01': 'applied', 'vm-02': 'rolled-back', 'vm-03': 'applied' }, JSON.stringify(r.hosts));
        assert.match(reasonOf(r, 'vm-02'), BLOCKED);
        assert.equal(r.code, 1, 'finished with a failed host, not halted');
        assert.equal(lastRun(lab).state, 'failed');
        assert.deepEqual([...realLivepatch(lab, stalled).patches.keys()], [], 'reversed on the stalled VM');
        // fp_stall patches only fp_stall_target, which the others do not run: in effect as far as it can be
        const shown = JSON.parse((await cli(['show', String(r.run!.id), '--config', lab.config, '--json'])).out) as { hosts: { inventoryName: string; steps: { name: string; status: string; detail: string | null }[] }[] };
        const verify = shown.hosts.find((h) => h.inventoryName === 'vm-01')!.steps.find((s) => s.name === 'verify')!;
        assert.match(`${verify.status}: ${verify.detail}`, /^ok: enabled=1 transition=0, no object of the patch is loaded: the kernel patches each module as it loads$/);
        return [`vm-02: ${reasonOf(r, 'vm-02')}`];
      } finally {
        sh(lab, stalled, `rmmod ${TARGET}`);
      }
    });
    const undo = await rollback(lab, 'stall', '--limit', 'vms');
    assert.equal(undo.code, 0, JSON.stringify(undo.hosts));
    for (const vm of lab.hosts) assert.deepEqual(realLivepatch(lab, vm).modules, [], `${vm.name} clean`);
  });

  it('stalled on two VMs with --max-failures 0: the run halts, the VM never started is skipped and untouched', async () => {
    const [first, second, third] = ['vm-01', 'vm-02', 'vm-03'].map((n) => host(lab, n)) as [LabHost, LabHost, LabHost];
    await livepatchFault('8b', 'livepatch transition never finishes on two VMs, --max-failures 0 (forks 2): halt', 'vm-01, vm-02 of 3 VMs', lab, async () => {
      const journalBefore = sh(lab, third, 'cat /var/lib/fleetpatch/journal');
      loadStallTarget(lab, first);
      loadStallTarget(lab, second);
      try {
        const r = await apply(lab, 'stall', '--limit', 'vms', '--forks', '2', '--waves', '100%', '--max-failures', '0');
        assert.deepEqual(states(r), { 'vm-01': 'rolled-back', 'vm-02': 'rolled-back', 'vm-03': 'skipped' }, JSON.stringify(r.hosts));
        for (const n of ['vm-01', 'vm-02']) assert.match(reasonOf(r, n), BLOCKED);
        assert.match(reasonOf(r, 'vm-03'), /^never started: 1 hosts failed, more than --max-failures 0/);
        assert.equal(r.code, 3, 'halted by the failure budget');
        assert.equal(lastRun(lab).state, 'halted');
        const shown = JSON.parse((await cli(['show', String(r.run!.id), '--config', lab.config, '--json'])).out) as { hosts: { inventoryName: string; steps: unknown[] }[] };
        assert.deepEqual(shown.hosts.find((h) => h.inventoryName === 'vm-03')!.steps, [], 'no step on the skipped VM');
        assert.equal(sh(lab, third, 'cat /var/lib/fleetpatch/journal'), journalBefore, 'the skipped VM\'s journal is unchanged');
        assert.deepEqual(realLivepatch(lab, third).modules, [], 'nothing loaded on the skipped VM');
        return [`halted: ${reasonOf(r, 'vm-03')}`, `vm-01: ${reasonOf(r, 'vm-01')}`];
      } finally {
        sh(lab, first, `rmmod ${TARGET}`);
        sh(lab, second, `rmmod ${TARGET}`);
      }
    });
  });
});
