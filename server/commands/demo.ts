/** `fleetpatch demo`: the product on a local lab fleet — start the lab, then gather its facts. */
import { join, resolve } from 'node:path';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/index.ts';
import { EXIT } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import { loadInventory, resolveTarget } from '../inventory/index.ts';
import { DEFAULT_LAB_DIR, labUp } from '../lab/index.ts';
import { intOption } from './common.ts';
import { formatFacts } from './facts.ts';
import type { Command } from './types.ts';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'start a lab fleet and show its facts (needs root)',
  usage: 'fleetpatch demo [--hosts N] [--dir D]',
  details: '  --hosts N   lab hosts (default 5)\n  --dir D     lab directory (default .lab)',
  options: { hosts: { type: 'string', short: 'n' }, dir: { type: 'string', short: 'd' } },
  async run(ctx) {
    const dir = resolve((ctx.values.dir as string | undefined) ?? DEFAULT_LAB_DIR);
    const count = intOption('--hosts', (ctx.values.hosts as string | undefined) ?? '5', 1, 2000);
    ctx.err(`Starting a lab of ${count} hosts in ${dir} …`);
    await labUp(dir, count);
    const configFile = join(dir, 'fleetpatch.json');
    const config = loadConfig({ flags: { config: configFile } });
    const inventory = join(dir, 'inventory.ini');
    ctx.err(`Gathering facts over SSH (strict host key checking against ${config.knownHostsFiles.join(', ')}) …\n`);
    const db = openDatabase(config.database);
    try {
      const results = await gatherFacts(resolveTarget(loadInventory([inventory])), { config, db });
      ctx.out(ctx.json ? JSON.stringify(results, null, 2) : formatFacts(results));
      ctx.err(
        [
          '',
          'Try next:',
          `  export FLEETPATCH_CONFIG=${configFile}`,
          `  npx fleetpatch facts -i ${inventory} --limit 'web:!canary'`,
          `  npx fleetpatch lab kill lab-02 --dir ${dir}; npx fleetpatch facts -i ${inventory}`,
          `  npx fleetpatch hosts`,
          `  npx fleetpatch lab down --dir ${dir}`,
        ].join('\n'),
      );
      return results.every((r) => r.ok) ? EXIT.ok : EXIT.hostsFailed;
    } finally {
      db.$client.close();
    }
  },
};
