/** Suite facts: fleetpatch facts (helper cached, and first contact) against the OpenSSH floor (one
 * `ssh host cat /etc/machine-id` per host), same lab, same concurrency, rounds interleaved, medians
 * and ratios taken within each round. */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { loadConfig } from '../../server/config.ts';
import { gatherFacts } from '../../server/facts/gather.ts';
import { loadInventory, resolveTarget } from '../../server/inventory/index.ts';
import { labDown, labUp } from '../../server/lab/index.ts';
import type { LabHost } from '../../server/lab/namespace-host.ts';
import { freePort, labHosts, newLabDir, ssh } from '../support/lab.ts';
import { interleave, table, writeResults, type BenchOptions, type Variant } from './common.ts';

function opensshFloor(dir: string, lab: LabHost[], forks: number): Promise<void> {
  const q = new PQueue({ concurrency: forks });
  const one = (h: LabHost) =>
    new Promise<void>((resolve, reject) =>
      execFile('ssh', ['-q', '-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(h.port), `root@${h.address}`, 'cat /etc/machine-id'], (err) => (err ? reject(err) : resolve())),
    );
  return Promise.all(lab.map((h) => q.add(() => one(h)))).then(() => undefined);
}

export async function factsSuite(opts: BenchOptions): Promise<void> {
  const { hosts, forks, rounds } = opts;
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
    const variants: Record<string, Variant> = {
      'OpenSSH, one ssh per host (floor)': { run: () => opensshFloor(dir, lab, forks) },
      'fleetpatch facts, helper cached': { run: facts },
      'fleetpatch facts, first contact (push helper)': { prepare: () => lab.forEach((h) => ssh(dir, h, 'rm -rf /var/lib/fleetpatch')), run: facts },
    };
    await facts(); // warm: the helper is on every host, connections code paths are loaded
    const samples = await interleave(variants, rounds, { ...(opts.only ? { only: opts.only } : {}) });
    console.log(`bench facts: ${hosts} lab hosts, forks ${forks}, ${rounds} rounds (medians; ratio = wall ÷ OpenSSH floor in the same round)`);
    console.log(table(samples, hosts));
    console.log(`results: ${writeResults('facts', opts, samples)}`);
  } finally {
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
