/** `fleetpatch demo`: the product on a local lab fleet — start the lab (namespace hosts and
 * real-kernel VMs), gather its facts, plan the example livepatch bundle and roll it out to the VMs,
 * showing each command as an admin would type it; then the web console on that lab, with an
 * admin user whose random password is printed once (--no-serve stops after the CLI part). */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatabase } from '../db/index.ts';
import { addUser, findUser, recordAudit } from '../db/users.ts';
import { EXIT } from '../errors.ts';
import { DEFAULT_LAB_DIR } from '../lab/index.ts';
import { intOption } from './common.ts';
import type { Command, CommandContext } from './types.ts';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'start a lab fleet, show its facts and livepatch its VMs (needs root)',
  usage: 'fleetpatch demo [--hosts N] [--vms K] [--dir D] [--listen ADDR:PORT] [--no-serve]',
  details: [
    '  --hosts N           lab namespace hosts (default 5)',
    "  --vms K             lab VMs running Debian's kernel (default 2; 0 skips the livepatch part)",
    '  --dir D             lab directory (default .lab)',
    '  --listen ADDR:PORT  where the web console listens (default 127.0.0.1:8080)',
    '  --no-serve          stop after the command-line part (no web console)',
  ].join('\n'),
  options: { hosts: { type: 'string', short: 'n' }, vms: { type: 'string' }, dir: { type: 'string', short: 'd' }, listen: { type: 'string' }, 'no-serve': { type: 'boolean' } },
  async run(ctx) {
    const { main } = await import('../cli.ts');
    const dir = resolve((ctx.values.dir as string | undefined) ?? DEFAULT_LAB_DIR);
    const hosts = intOption('--hosts', (ctx.values.hosts as string | undefined) ?? '5', 0, 2000);
    const vms = intOption('--vms', (ctx.values.vms as string | undefined) ?? '2', 0, 64);
    const config = join(dir, 'fleetpatch.json');
    const inventory = join(dir, 'inventory.ini');
    const good = join(dir, 'bundles/good');
    const step = async (args: string[]) => {
      ctx.err(`\n$ fleetpatch ${args.join(' ')}`);
      return main(args, { out: ctx.out, err: ctx.err });
    };
    const lastVm = `vm-${String(vms).padStart(2, '0')}`;
    const lab = await step(['lab', 'up', '--hosts', String(hosts), '--vms', String(vms), '--dir', dir]);
    if (lab !== EXIT.ok) return lab;
    ctx.err(`\n$ export FLEETPATCH_CONFIG=${config}`);
    process.env.FLEETPATCH_CONFIG = config;
    let code = await step(['facts', '-i', inventory]);
    if (vms > 0) {
      await step(['plan', '-i', inventory, '--bundle', good]);
      code = Math.max(code, await step(['run', '-i', inventory, '--bundle', good, '--limit', 'vms']));
    }
    ctx.err(
      [
        '',
        'Try next (the lab keeps running):',
        `  export FLEETPATCH_CONFIG=${config}`,
        `  npx fleetpatch facts -i ${inventory} --limit 'web:!canary'`,
        ...(vms > 0
          ? [
              `  npx fleetpatch rollback -i ${inventory} --bundle ${good} --limit vms`,
              `  npx fleetpatch run -i ${inventory} --bundle ${join(dir, 'bundles/checkfail')} --limit vm-01   # rolled back by its failing check`,
              `  npx fleetpatch lab kill ${lastVm} --dir ${dir}; npx fleetpatch lab start ${lastVm} --dir ${dir}; npx fleetpatch facts -i ${inventory}   # drift`,
            ]
          : []),
        '  npx fleetpatch runs; npx fleetpatch show 1',
        `  npx fleetpatch lab down --dir ${dir}`,
      ].join('\n'),
    );
    if (ctx.values['no-serve'] === true) return code;
    await demoUser(ctx, join(dir, 'fleetpatch.db'));
    const listen = typeof ctx.values.listen === 'string' ? ctx.values.listen : '127.0.0.1:8080';
    return step(['serve', '--listen', listen, '-i', inventory, '--bundles', join(dir, 'bundles')]);
  },
};

/** The demo's console user: `admin` with a random password, printed once, when it does not exist yet. */
async function demoUser(ctx: CommandContext, database: string): Promise<void> {
  const db = openDatabase(database);
  try {
    if (findUser(db, 'admin')) {
      ctx.err('\nThe console user admin exists already (its password was printed when the demo created it);\nadd another with: FLEETPATCH_CONFIG=… npx fleetpatch user add NAME --role admin');
      return;
    }
    const password = randomBytes(12).toString('base64url');
    await addUser(db, 'admin', 'admin', password);
    recordAudit(db, `cli:${userInfo().username}`, 'user-add', { user: 'admin', role: 'admin', by: 'demo' });
    ctx.err(`\nWeb console user: admin   password: ${password}   (shown only now)`);
  } finally {
    db.$client.close();
  }
}
