/** `fleetpatch run` and `fleetpatch rollback`: execute a bundle (or undo it) on every targeted host. */
import { openDatabase } from '../db/index.ts';
import type { EventRow, HostResultRow } from '../db/runs.ts';
import type { RunKind } from '../plan/index.ts';
import { executeRun } from '../rollout/run.ts';
import { bundleFrom } from './bundle.ts';
import { configFrom, targetFrom } from './common.ts';
import { PLAN_HELP, PLAN_OPTIONS, bundleDir } from './plan.ts';
import { table } from './table.ts';
import type { Command, CommandContext } from './types.ts';

async function execute(ctx: CommandContext, kind: RunKind): Promise<number> {
  const config = configFrom(ctx);
  const bundle = await bundleFrom(ctx, bundleDir(ctx), config);
  const targets = targetFrom(ctx);
  const db = openDatabase(config.database);
  try {
    const live = (e: EventRow) => {
      const d = e.data as Record<string, unknown>;
      if (e.type === 'step' && d.status !== 'running') ctx.err(`  ${String(d.host).padEnd(12)} ${String(d.step).padEnd(16)} ${String(d.status).padEnd(7)} ${d.detail ?? ''}`);
      if (e.type === 'host' && d.state !== 'running') ctx.err(`${String(d.host).padEnd(14)} → ${d.state}${d.reason ? `: ${d.reason}` : ''}`);
    };
    const result = await executeRun({
      db,
      config,
      bundle,
      kind,
      targets,
      inventories: ctx.values.inventory as string[],
      pattern: (ctx.values.limit as string | undefined) ?? 'all',
      planOptions: { allowDowngrade: ctx.values['allow-downgrade'] === true, replaceForeign: ctx.values['replace-foreign'] === true },
      ...(ctx.json ? {} : { onEvent: live }),
    });
    if (ctx.json) ctx.out(JSON.stringify({ run: result.run, hosts: result.hosts }, null, 2));
    else ctx.out(`\nRun ${result.run.id} (${kind} ${bundle.manifest.id} serial ${bundle.manifest.serial}): ${result.run.state}\n\n${formatHostResults(result.hosts)}`);
    return result.exitCode;
  } finally {
    db.$client.close();
  }
}

export function formatHostResults(hosts: HostResultRow[]): string {
  return table(['HOST', 'STATE', 'REASON'], hosts.map((h) => [h.inventoryName, h.state, h.reason ?? '']));
}

export const runCommand: Command = {
  name: 'run',
  summary: 'apply a bundle to the targeted hosts: push, apply, verify, roll back failures',
  usage: 'fleetpatch run -i PATH --bundle DIR [--limit PATTERN] [--forks N] [--json]',
  details: [PLAN_HELP, '', 'Every step of every host is stored (fleetpatch runs, fleetpatch show RUN).', 'Exit 0 when every host is applied or already-applied, 1 otherwise.'].join('\n'),
  options: PLAN_OPTIONS,
  run: (ctx) => execute(ctx, 'apply'),
};

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'roll a bundle back on the targeted hosts',
  usage: 'fleetpatch rollback -i PATH --bundle DIR [--limit PATTERN] [--forks N] [--json]',
  details: [PLAN_HELP, '', 'Exit 0 when the patch is gone from every host.'].join('\n'),
  options: PLAN_OPTIONS,
  run: (ctx) => execute(ctx, 'rollback'),
};
