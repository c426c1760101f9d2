/** The example livepatch modules (native/livepatch) on a lab VM, over plain ssh — no fleetpatch
 * apply/rollback involved: each .ko is pushed over the exec channel's stdin, loaded with insmod,
 * observed through /sys/kernel/livepatch and its documented check (native/livepatch/catalog.json),
 * then disabled and unloaded. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labDown, labUp } from '../../../server/lab/index.ts';
import type { LabHost } from '../../../server/lab/namespace-host.ts';
import { labKernel } from '../../../server/lab/vm.ts';
import { shellCommand } from '../../../server/ssh/quote.ts';
import { freePort, labVms, newLabDir, sshRun } from '../../support/lab.ts';

const root = join(import.meta.dirname, '../../..');
const dir = newLabDir();
let vm: LabHost;
let buildDir: string;

interface Check {
  argv: string[];
  exitCode: number;
  stdout: string;
  patched?: { exitCode: number; stdout: string };
  unpatched: { exitCode: number; stdout: string };
}
interface CatalogEntry {
  name: string;
  livepatch: boolean;
  replace: boolean;
  checks: Check[];
}
const catalog = (JSON.parse(readFileSync(join(root, 'native/livepatch/catalog.json'), 'utf8')) as { modules: CatalogEntry[] }).modules;
const entry = (name: string) => catalog.find((m) => m.name === name)!;

function guest(command: string, input?: Buffer): string {
  const r = sshRun(dir, vm, command, input);
  assert.equal(r.status, 0, `${command}: exit ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function push(name: string): void {
  guest(`cat > /tmp/${name}.ko`, readFileSync(join(buildDir, `${name}.ko`)));
}

/** Runs a catalog check on the guest. */
function check(c: Check): { exitCode: number; stdout: string } {
  const r = sshRun(dir, vm, shellCommand(c.argv));
  return { exitCode: r.status, stdout: r.stdout };
}

const UPTIME = `cut -d' ' -f1 /proc/uptime`;
/** insmod, then waits (on the guest, at most `limit` s) until enabled=1 and transition=0;
 * prints the seconds it took, or "stuck" when the limit passed first. */
function loadScript(name: string, limit: number): string {
  const lp = `/sys/kernel/livepatch/${name}`;
  return `s=$(${UPTIME}); insmod /tmp/${name}.ko || exit 10
    while [ "$(cat ${lp}/enabled 2>/dev/null)$(cat ${lp}/transition 2>/dev/null)" != 10 ]; do
      awk -v s=$s -v l=${limit} '{ exit !($1 - s > l) }' /proc/uptime && { echo stuck; exit 0; }
      sleep 0.01
    done
    awk -v s=$s '{ printf "%.2f\\n", $1 - s }' /proc/uptime`;
}
/** Writes 0 to enabled, waits for the directory to vanish, then rmmod; prints the seconds. */
function unloadScript(name: string): string {
  const lp = `/sys/kernel/livepatch/${name}`;
  return `s=$(${UPTIME}); echo 0 > ${lp}/enabled || exit 11
    i=0; while [ -d ${lp} ]; do i=$((i + 1)); [ $i -gt 3000 ] && exit 12; sleep 0.01; done
    rmmod ${name} || exit 13
    awk -v s=$s '{ printf "%.2f\\n", $1 - s }' /proc/uptime`;
}

describe('example livepatch modules on a real Debian kernel', { timeout: 180_000 }, () => {
  before(async () => {
    execFileSync('sh', [join(root, 'native/livepatch/build.sh')], { stdio: 'inherit' });
    buildDir = join(root, 'native/livepatch/build', labKernel().release);
    await labUp(dir, 0, await freePort(), 1);
    vm = labVms(dir)[0]!;
  });
  after(async () => {
    await labDown(dir, true);
  });

  it('every module embeds the build-id of the kernel the VM runs, fp_wrongbuild another one', () => {
    const kernel = labKernel();
    const built = JSON.parse(readFileSync(join(buildDir, 'modules.json'), 'utf8')) as { buildId: string; modules: { name: string; file: string }[] };
    assert.equal(built.buildId, kernel.buildId);
    const release = guest('uname -r').trim();
    for (const m of built.modules) {
      const ko = join(buildDir, m.file);
      const modinfo = (field: string) => execFileSync('modinfo', ['-F', field, ko], { encoding: 'utf8' }).trim();
      assert.equal(modinfo('fleetpatch_build_id'), m.name === 'fp_wrongbuild' ? '0000000000000000000000000000000000000001' : kernel.buildId, m.name);
      assert.equal(modinfo('vermagic').split(' ')[0], release, m.name);
      assert.equal(modinfo('livepatch') === 'Y', entry(m.name).livepatch, m.name);
    }
    assert.deepEqual(built.modules.map((m) => m.name).sort(), catalog.map((m) => m.name).sort());
  });

  it('fp_good: loads, finishes its transition, passes its check; disabled and unloaded, the effect is gone', (t) => {
    const [c] = entry('fp_good').checks;
    assert.deepEqual(check(c!), c!.unpatched);
    push('fp_good');
    const took = guest(loadScript('fp_good', 30)).trim();
    assert.notEqual(took, 'stuck');
    t.diagnostic(`fp_good transition: ${took} s`);
    assert.equal(guest('cat /sys/kernel/livepatch/fp_good/vmlinux/patched').trim(), '1');
    assert.match(guest('cat /proc/cmdline'), / fleetpatch-livepatch-good\n$/);
    assert.deepEqual(check(c!), { exitCode: c!.exitCode, stdout: c!.stdout });
    assert.match(guest('cat /proc/sys/kernel/tainted').trim(), /^\d+$/);
    t.diagnostic(`fp_good rollback: ${guest(unloadScript('fp_good')).trim()} s`);
    assert.equal(guest('lsmod').includes('fp_good'), false);
    assert.deepEqual(check(c!), c!.unpatched);
    assert.doesNotMatch(guest('cat /proc/cmdline'), /fleetpatch-livepatch/);
  });

  it('fp_checkfail: transitions cleanly but its check fails', () => {
    const [c] = entry('fp_checkfail').checks;
    assert.deepEqual(check(c!), { exitCode: c!.exitCode, stdout: c!.stdout });
    push('fp_checkfail');
    assert.notEqual(guest(loadScript('fp_checkfail', 30)).trim(), 'stuck');
    assert.deepEqual(check(c!), c!.patched);
    guest(unloadScript('fp_checkfail'));
    assert.deepEqual(check(c!), c!.unpatched);
  });

  it('fp_cumulative_v1 then v2 replace every other livepatch, fp_good included', () => {
    push('fp_good');
    push('fp_cumulative_v1');
    push('fp_cumulative_v2');
    guest(loadScript('fp_good', 30));
    assert.notEqual(guest(loadScript('fp_cumulative_v1', 30)).trim(), 'stuck');
    assert.equal(guest('ls /sys/kernel/livepatch').trim(), 'fp_cumulative_v1', 'fp_good was replaced');
    assert.deepEqual(check(entry('fp_cumulative_v1').checks[0]!), { exitCode: 0, stdout: 'fleetpatch-livepatch-cumulative-v1\n' });
    assert.notEqual(guest(loadScript('fp_cumulative_v2', 30)).trim(), 'stuck');
    assert.equal(guest('ls /sys/kernel/livepatch').trim(), 'fp_cumulative_v2');
    for (const c of entry('fp_cumulative_v2').checks) assert.deepEqual(check(c), { exitCode: c.exitCode, stdout: c.stdout }, c.argv.join(' '));
    // replaced patches stay loaded as modules until removed
    guest('rmmod fp_good fp_cumulative_v1');
    guest(unloadScript('fp_cumulative_v2'));
    assert.doesNotMatch(guest('cat /proc/cmdline /proc/version'), /fleetpatch-livepatch/);
  });

  it('fp_stall: the transition never finishes for the target kthread; writing 0 to enabled reverses it', (t) => {
    push('fp_stall_target');
    push('fp_stall');
    guest('insmod /tmp/fp_stall_target.ko');
    assert.equal(guest(loadScript('fp_stall', 3)).trim(), 'stuck');
    const pid = guest('for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = fp_stall_target ] && echo ${p#/proc/}; done; true').trim();
    assert.match(pid, /^\d+$/);
    assert.equal(guest(`cat /sys/kernel/livepatch/fp_stall/transition /sys/kernel/livepatch/fp_stall/fp_stall_target/patched /proc/${pid}/patch_state /proc/self/patch_state`), '1\n1\n0\n1\n');
    t.diagnostic(`fp_stall reversal and unload: ${guest(unloadScript('fp_stall')).trim()} s`);
    guest('rmmod fp_stall_target');
    assert.equal(guest('ls /sys/kernel/livepatch').trim(), '');
  });
});
