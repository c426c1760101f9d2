/** Benchmarks: `npm run bench -- <suite> [--hosts N] [--forks F] [--rounds R]`.
 * Suites: facts — fleetpatch facts (helper cached, and first contact) against the OpenSSH floor
 * (one `ssh host cat /etc/machine-id` per host), same lab, same concurrency, rounds interleaved,
 * medians and ratios taken within each round. Needs root (it starts its own lab). */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import PQueue from 'p-queue';
import { loadConfig } from '../../server/config.ts';
import { gatherFacts } from '../../server/facts/gather.ts';
import { loadInventory, resolveTarget } from '../../server/inventory/index.ts';
import { labDown, labUp } from '../../server/lab/index.ts';
import type { LabHost } from '../../server/lab/namespace-host.ts';
import { freePort, labHosts, newLabDir, ssh } from '../support/lab.ts';

const { values, positionals } = parseArgs({
  options: { hosts: { type: 'string', default: '20' }, forks: { type: 'string', default: '20' }, rounds: { type: 'string', default: '3' } },
  allowPositionals: true,
});
const suite = positionals[0] ?? 'facts';
if (suite !== 'facts') throw new Error(`unknown bench suite ${suite}; suites: facts`);
const hosts = Number(values.hosts);
const forks = Number(values.forks);
const rounds = Number(values.rounds);

/** CPU seconds of this process, and of its waited-for children (from /proc/self/stat). */
function cpu(): { self: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const tick = 100; // USER_HZ on Linux
  const u = process.cpuUsage();
  return { self: (u.user + u.system) / 1e6, children: (Number(fields[13]) + Number(fields[14])) / tick };
}

async function measure(fn: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  const c0 = cpu();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const c1 = cpu();
  return { wall, cpu: c1.self - c0.self + (c1.children - c0.children) };
}

function opensshFloor(dir: string, lab: LabHost[]): Promise<void> {
  const q = new PQueue({ concurrency: forks });
  const one = (h: LabHost) =>
    new Promise<void>((resolve, reject) =>
      execFile('ssh', ['-q', '-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(h.port), `root@${h.address}`, 'cat /etc/machine-id'], (err) => (err ? reject(err) : resolve())),
    );
  return Promise.all(lab.map((h) => q.add(() => one(h)))).then(() => undefined);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = newLabDir();
try {
  await labUp(dir, hosts, await freePort());
  const lab = labHosts(dir);
  const config = { ...loadConfig({ flags: { config: join(dir, 'fleetpatch.json') } }), forks };
  const targets = resolveTarget(loadInventory([join(dir, 'inventory.ini')]));
  const facts = async () => {
    const results = await gatherFacts(targets, { config });
    const failed = results.filter((r) => !r.ok);
    if (failed.length) throw new Error(`bench: ${failed.length} hosts failed: ${JSON.stringify(failed[0])}`);
  };
  const variants: Record<string, { prepare?: () => void; run: () => Promise<void> }> = {
    'OpenSSH, one ssh per host (floor)': { run: () => opensshFloor(dir, lab) },
    'fleetpatch facts, helper cached': { run: facts },
    'fleetpatch facts, first contact (push helper)': { prepare: () => lab.forEach((h) => ssh(dir, h, 'rm -rf /var/lib/fleetpatch')), run: facts },
  };
  await facts(); // warm: the helper is on every host, connections code paths are loaded
  const samples: Record<string, { wall: number; cpu: number; ratio: number }[]> = {};
  for (let r = 0; r < rounds; r++) {
    const names = Object.keys(variants);
    const order = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
    const round: Record<string, { wall: number; cpu: number }> = {};
    for (const name of order) {
      variants[name]!.prepare?.();
      round[name] = await measure(variants[name]!.run);
    }
    const floor = round[names[0]!]!.wall;
    for (const name of names) (samples[name] ??= []).push({ ...round[name]!, ratio: round[name]!.wall / floor });
  }
  console.log(`bench facts: ${hosts} lab hosts, forks ${forks}, ${rounds} rounds (medians; ratio = wall ÷ OpenSSH floor in the same round)`);
  console.log('| variant | wall s | controller CPU s | CPU ms/host | × floor |');
  console.log('|---|---|---|---|---|');
  for (const [name, xs] of Object.entries(samples)) {
    const cpuMed = median(xs.map((x) => x.cpu));
    console.log(`| ${name} | ${median(xs.map((x) => x.wall)).toFixed(2)} | ${cpuMed.toFixed(2)} | ${((cpuMed / hosts) * 1000).toFixed(1)} | ${median(xs.map((x) => x.ratio)).toFixed(2)} |`);
  }
} finally {
  await labDown(dir);
  rmSync(dir, { recursive: true, force: true });
}
