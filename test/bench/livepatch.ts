/** Suite livepatch (issue 9): the example `good` livepatch bundle on every lab VM (qemu, Debian's
 * own kernel), applied and rolled back
 * - by fleetpatch: `run` and `rollback` through the CLI in-process with --json (run start → every
 *   host verified and committed, or rolled back and confirmed), every step recorded in SQLite; the
 *   helper is cached (pushed in a warm-up), the module is not (its cache is removed before every
 *   apply);
 * - by hand, as an admin would with plain OpenSSH, one `ssh` per VM in parallel: the .ko on stdin
 *   to a file, its sha256 checked, `insmod`, `/sys/kernel/livepatch/<patch>/transition` polled
 *   until 0, `enabled` = 1 and the bundle's check (its marker in /proc/cmdline); rollback: `echo 0 >
 *   enabled`, transition polled until 0, the sysfs directory waited for, `rmmod`, the module gone.
 * Each ratio is fleetpatch ÷ by hand for the same operation in the same round. Before every
 * variant the VMs are put in the state it starts from (unmeasured); after every variant every VM
 * is asserted over plain ssh (patch enabled with transition 0, or no fp_ module and no sysfs
 * directory) and, for fleetpatch, every host must be applied / rolled-back with finished step
 * records (`fleetpatch show --json`), whose medians are printed to show where the time goes. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readState } from '../../server/lab/files.ts';
import { labDown, labUp } from '../../server/lab/index.ts';
import type { LabHost } from '../../server/lab/namespace-host.ts';
import { labKernel } from '../../server/lab/vm.ts';
import { cli, freePort, newLabDir } from '../support/lab.ts';
import { interleave, runStepMedians, table, writeResults, type BenchOptions, type Variant } from './common.ts';

/** Who applies and rolls back. */
type Way = 'hand' | 'fleetpatch';

interface GoodBundle {
  livepatch: { patch: string; modules: { file: string }[] };
  checks: { argv: string[] }[];
}

function sshAsync(dir: string, vm: LabHost, command: string, input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = ['-q', '-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(vm.port), `root@${vm.address}`, command];
    const child = execFile('ssh', args, { encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`${vm.name}: ${command.slice(0, 80)}…: ${err.message} ${stderr}`)) : resolve(stdout)));
    child.stdin!.end(input);
  });
}

/** The by-hand commands (busybox sh on the guest); `patch` and `sha256` come from the signed
 * manifest ([a-z0-9_] and hex, checked below), so they need no quoting. */
function byHand(patch: string, sha256: string, marker: string) {
  const sys = `/sys/kernel/livepatch/${patch}`;
  const ko = `/tmp/${patch}.ko`;
  return {
    apply: `cat > ${ko} && echo '${sha256}  ${ko}' | sha256sum -c -s && insmod ${ko} && while [ "$(cat ${sys}/transition)" != 0 ]; do sleep 0.05; done && test "$(cat ${sys}/enabled)" = 1 && grep -q ${marker} /proc/cmdline`,
    rollback: `echo 0 > ${sys}/enabled && while [ "$(cat ${sys}/transition 2>/dev/null)" = 1 ]; do sleep 0.05; done; while [ -d ${sys} ]; do sleep 0.05; done; rmmod ${patch} && ! grep -q '^${patch} ' /proc/modules`,
    /** Back to unpatched whoever loaded it, and fleetpatch's module cache and our copy removed. */
    reset: `if [ -d ${sys} ]; then echo 0 > ${sys}/enabled; while [ -d ${sys} ]; do sleep 0.05; done; fi; if grep -q '^${patch} ' /proc/modules; then rmmod ${patch}; fi; rm -rf /var/lib/fleetpatch/cache ${ko}`,
    applied: `cat ${sys}/enabled ${sys}/transition`,
    gone: `ls /sys/kernel/livepatch; grep '^fp_' /proc/modules; true`,
  };
}

export async function livepatchSuite(opts: BenchOptions): Promise<void> {
  const { hosts, rounds } = opts;
  const dir = newLabDir();
  try {
    await labUp(dir, 0, await freePort(), hosts);
    const vms = readState(dir)!.vms!;
    const config = join(dir, 'fleetpatch.json');
    const inventory = join(dir, 'inventory.ini');
    const bundle = join(dir, 'bundles', 'good');
    const manifest = JSON.parse(readFileSync(join(bundle, 'bundle.json'), 'utf8')) as GoodBundle;
    const patch = manifest.livepatch.patch;
    const ko = readFileSync(join(bundle, manifest.livepatch.modules[0]!.file));
    const sha256 = createHash('sha256').update(ko).digest('hex');
    const marker = manifest.checks[0]!.argv[2]!;
    if (!/^[a-z0-9_]+$/.test(patch) || !/^[a-z0-9-]+$/.test(marker)) throw new Error(`bench: unexpected patch name ${patch} or marker ${marker} in ${bundle}/bundle.json`);
    const cmd = byHand(patch, sha256, marker);
    const all = (command: string, input?: Buffer) => Promise.all(vms.map((vm) => sshAsync(dir, vm, command, input)));

    /** What the VMs run now, as the last verified variant left them. */
    let state: 'unknown' | 'clean' | Way = 'unknown';
    const reset = async () => {
      if (state !== 'clean') await all(cmd.reset);
      state = 'clean';
    };
    const assertApplied = async () => {
      const out = await all(cmd.applied);
      out.forEach((o, i) => {
        if (o !== '1\n0\n') throw new Error(`bench: ${vms[i]!.name}: ${patch} enabled/transition ${JSON.stringify(o)}, expected 1/0`);
      });
    };
    const assertGone = async () => {
      const out = await all(cmd.gone);
      out.forEach((o, i) => {
        if (o.trim()) throw new Error(`bench: ${vms[i]!.name} still has ${JSON.stringify(o)} after the rollback`);
      });
    };
    const stepTimes: { variant: string; steps: Record<string, number> }[] = [];
    const fleetpatch = async (kind: 'run' | 'rollback') => {
      const r = await cli([kind, '-i', inventory, '--bundle', bundle, '--limit', 'vms', '--forks', String(hosts), '--config', config, '--json']);
      if (r.code !== 0) throw new Error(`bench: fleetpatch ${kind} exited ${r.code}: ${r.err} ${r.out.slice(0, 2000)}`);
      return (JSON.parse(r.out) as { run: { id: number } }).run.id;
    };
    let lastRun = 0;
    const ways: Record<Way, { apply: () => Promise<void>; rollback: () => Promise<void> }> = {
      hand: { apply: () => all(cmd.apply, ko).then(() => undefined), rollback: () => all(cmd.rollback).then(() => undefined) },
      fleetpatch: {
        apply: async () => {
          lastRun = await fleetpatch('run');
        },
        rollback: async () => {
          lastRun = await fleetpatch('rollback');
        },
      },
    };
    /** fleetpatch's step records of the run just measured: every VM in `hostState`. */
    const records = async (way: Way, variant: string, hostState: string) => {
      if (way === 'fleetpatch') stepTimes.push({ variant, steps: await runStepMedians(config, lastRun, vms.map((v) => v.name), hostState) });
    };
    const applyVariant = (way: Way, baseline: string): Variant => ({
      prepare: reset,
      run: ways[way].apply,
      verify: async () => {
        await assertApplied();
        await records(way, 'apply', 'applied');
        state = way;
      },
      baseline,
    });
    const rollbackVariant = (way: Way, baseline: string): Variant => ({
      prepare: async () => {
        if (state === way) return;
        await reset();
        await ways[way].apply();
        await assertApplied();
        state = way;
      },
      run: ways[way].rollback,
      verify: async () => {
        await assertGone();
        await records(way, 'rollback', 'rolled-back');
        state = 'clean';
      },
      baseline,
    });
    const HAND_APPLY = 'by hand: apply (ssh per VM)';
    const HAND_ROLLBACK = 'by hand: rollback (ssh per VM)';
    const variants: Record<string, Variant> = {
      [HAND_APPLY]: applyVariant('hand', HAND_APPLY),
      'fleetpatch run (apply)': applyVariant('fleetpatch', HAND_APPLY),
      [HAND_ROLLBACK]: rollbackVariant('hand', HAND_ROLLBACK),
      'fleetpatch rollback': rollbackVariant('fleetpatch', HAND_ROLLBACK),
    };
    // warm-up (not measured): the helper pushed to every VM, every code path loaded
    await reset();
    await ways.fleetpatch.apply();
    await assertApplied();
    state = 'fleetpatch';
    const samples = await interleave(variants, rounds, opts.only ? { only: opts.only } : {});
    console.log(`bench livepatch: ${hosts} VMs (qemu TCG, Debian ${labKernel().release}), module ${ko.length} bytes, ${rounds} rounds (medians; ratio = fleetpatch ÷ by hand, same operation, same round)`);
    console.log(table(samples, hosts));
    console.log(`fleetpatch step medians (ms, median over VMs), per measured run: ${JSON.stringify(stepTimes)}`);
    console.log(`results: ${writeResults('livepatch', opts, samples, { stepTimes, moduleBytes: ko.length })}`);
  } finally {
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
