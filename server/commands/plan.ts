/** `fleetpatch plan`: what a bundle would do on every targeted host; changes nothing on them. */
import { openDatabase } from '../db/index.ts';
import { appliedByMachine } from '../db/runs.ts';
import { AppError, EXIT } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import { packageNames, planCounts, planFleet, type HostPlan } from '../plan/index.ts';
import { ALLOW_UNSIGNED_HELP, ALLOW_UNSIGNED_OPTION, bundleFrom } from './bundle.ts';
import { FORKS_OPTION, TARGET_OPTIONS, configFrom, targetFrom } from './common.ts';
import { table } from './table.ts';
import type { Command, CommandContext, Options } from './types.ts';

export const PLAN_OPTIONS: Options = {
  ...TARGET_OPTIONS,
  ...FORKS_OPTION,
  ...ALLOW_UNSIGNED_OPTION,
  bundle: { type: 'string', short: 'b' },
  'allow-downgrade': { type: 'boolean' },
  'replace-foreign': { type: 'boolean' },
  irreversible: { type: 'boolean' },
};

export const PLAN_HELP = [
  '  -i, --inventory PATH   Ansible INI inventory (repeatable)',
  '  -b, --bundle DIR       the signed bundle',
  '  -l, --limit PATTERN    host pattern (default: all, said explicitly in the plan)',
  '  -f, --forks N          hosts contacted at once',
  '  --allow-downgrade      allow an older serial of a series a host already has',
  '  --replace-foreign      let a cumulative patch replace livepatches fleetpatch did not load',
  '  --irreversible         packages: apply even where the previous versions cannot be restored',
  ALLOW_UNSIGNED_HELP,
].join('\n');

export function bundleDir(ctx: CommandContext): string {
  const dir = ctx.values.bundle;
  if (typeof dir !== 'string') throw new AppError('usage', 'no bundle given: pass --bundle DIR');
  return dir;
}

export const planCommand: Command = {
  name: 'plan',
  summary: 'show what a bundle would do on every targeted host (changes nothing)',
  usage: 'fleetpatch plan -i PATH --bundle DIR [--limit PATTERN] [--rollback] [--forks N] [--json]',
  details: [PLAN_HELP, '  --rollback             plan rolling the bundle back instead', '', 'Gathers facts over SSH (pushing only the helper into its cache), then plans each machine:', 'apply, already-applied, not-applicable: <reason>, or unreachable. Exit 0 when no host is unreachable.'].join('\n'),
  options: { ...PLAN_OPTIONS, rollback: { type: 'boolean' } },
  async run(ctx) {
    const config = configFrom(ctx);
    const bundle = await bundleFrom(ctx, bundleDir(ctx), config);
    const targets = targetFrom(ctx);
    const db = openDatabase(config.database);
    try {
      const facts = await gatherFacts(targets, { config, db, packageNames: packageNames(bundle) });
      const plans = planFleet(bundle, ctx.values.rollback === true ? 'rollback' : 'apply', facts, (id) => appliedByMachine(db, id), {
        allowDowngrade: ctx.values['allow-downgrade'] === true,
        replaceForeign: ctx.values['replace-foreign'] === true,
        irreversible: ctx.values.irreversible === true,
      });
      const pattern = (ctx.values.limit as string | undefined) ?? 'all';
      if (ctx.json) ctx.out(JSON.stringify({ bundle: { id: bundle.manifest.id, serial: bundle.manifest.serial, sha256: bundle.sha256 }, pattern, counts: planCounts(plans), hosts: plans }, null, 2));
      else ctx.out(`Plan for ${bundle.manifest.id} serial ${bundle.manifest.serial} (${bundle.manifest.title}) on pattern ${JSON.stringify(pattern)}${ctx.values.limit ? '' : ' (no --limit: every host)'}:\n\n${formatPlans(plans)}`);
      return plans.some((p) => p.plan.action === 'unreachable') ? EXIT.hostsFailed : EXIT.ok;
    } finally {
      db.$client.close();
    }
  },
};

export function formatPlans(plans: HostPlan[]): string {
  const rows = plans.map((p) => {
    const a = p.plan;
    const what = a.action === 'not-applicable' || a.action === 'unreachable' ? a.reason : [...(a.action === 'apply' && a.module ? [`module for ${a.module.release}`] : []), ...a.notes].join('; ');
    return [p.host + (p.aliases.length ? ` (= ${p.aliases.join(', ')})` : ''), p.kernel ?? '-', a.action, what];
  });
  const counts = Object.entries(planCounts(plans)).map(([k, v]) => `${v} ${k}`).join(', ');
  return `${table(['HOST', 'KERNEL', 'ACTION', 'DETAIL'], rows)}\n\n${counts}.`;
}
