/** Suite inventory: `fleetpatch inventory --list` against Debian's `ansible-inventory --list` on a
 * generated inventory of --hosts N hosts (default for this suite: pass --hosts 10000): INI groups
 * web/db/cache with `[x:children]` parents, host ranges, group and host vars. Both run as separate
 * processes (start-up included, as an admin runs them); rounds interleaved; every run's JSON must
 * equal Ansible's (no speed from skipped work). The baseline (ratio 1.00) is ansible-inventory. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { interleave, table, writeResults, type BenchOptions } from './common.ts';

function generate(dir: string, n: number): string {
  const lines: string[] = [];
  const groups = ['web', 'db', 'cache'];
  const per = Math.ceil(n / groups.length);
  for (const [g, name] of groups.entries()) {
    lines.push(`[${name}]`);
    // half as ranges (one line per 100 hosts), half one per line with host vars
    for (let i = 0; i < per; i += 100) {
      if (i % 200 === 0) lines.push(`${name}-r${String(i).padStart(6, '0')}-[00:99] ansible_user=ops`);
      else for (let k = i; k < i + 100; k++) lines.push(`${name}-h${String(k).padStart(6, '0')} ansible_host=10.${g}.${(k >> 8) & 255}.${k & 255} rack=r${k % 40}`);
    }
    lines.push(`[${name}:vars]`, `tier=${name}`, `ntp_server=ntp${g}.example.org`);
  }
  lines.push('[prod:children]', 'web', 'db', '[backend:children]', 'db', 'cache', '[all:vars]', 'ansible_python_interpreter=/usr/bin/python3');
  const file = join(dir, 'inventory.ini');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function runJson(cmd: string, args: string[]): Promise<unknown> {
  return new Promise((res, rej) =>
    execFile(cmd, args, { maxBuffer: 1 << 30, encoding: 'utf8', env: { ...process.env, ANSIBLE_INVENTORY_UNPARSED_WARNING: 'False' } }, (err, out, errOut) => (err ? rej(new Error(`${cmd}: ${err.message} ${errOut}`)) : res(JSON.parse(out)))),
  );
}

export async function inventorySuite(o: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-bench-inv-'));
  const file = generate(dir, o.hosts);
  const bin = resolve('bin/fleetpatch.js');
  const expected = JSON.stringify(await runJson('ansible-inventory', ['-i', file, '--list']));
  const check = (got: unknown, who: string) => {
    if (JSON.stringify(got) !== expected) throw new Error(`${who}: --list differs from ansible-inventory's`);
  };
  let last: unknown;
  const samples = await interleave(
    {
      'ansible-inventory --list (baseline)': { run: async () => void (last = await runJson('ansible-inventory', ['-i', file, '--list'])), verify: () => check(last, 'ansible-inventory') },
      'fleetpatch inventory --list': { run: async () => void (last = await runJson(process.execPath, [bin, 'inventory', '-i', file, '--list'])), verify: () => check(last, 'fleetpatch') },
    },
    o.rounds,
    o.only ? { only: o.only } : {},
  );
  console.log(table(samples, o.hosts).replace('× floor', '× ansible-inventory'));
  console.error(`results: ${writeResults('inventory', o, samples, { file })}`);
}
