/** `fleetpatch facts`: what every targeted host is, gathered over SSH and stored. */
import { openDatabase } from '../db/index.ts';
import { EXIT } from '../errors.ts';
import { gatherFacts, type HostFacts } from '../facts/gather.ts';
import { FORKS_OPTION, TARGET_OPTIONS, configFrom, targetFrom } from './common.ts';
import { table } from './table.ts';
import type { Command } from './types.ts';

export const factsCommand: Command = {
  name: 'facts',
  summary: 'gather facts (kernel, OS, livepatches) from hosts over SSH',
  usage: 'fleetpatch facts -i PATH [-i PATH]... [--limit PATTERN] [--forks N] [--json]',
  details: [
    '  -i, --inventory PATH   Ansible INI inventory (repeatable)',
    '  -l, --limit PATTERN    host pattern (default: all)',
    '  -f, --forks N          hosts contacted at once (default: config forks, 20)',
    '',
    'Pushes the helper to /var/lib/fleetpatch/bin on first contact (content-addressed, so later',
    'runs upload nothing). Exit 0 when every host answered, 1 when any failed.',
  ].join('\n'),
  options: { ...TARGET_OPTIONS, ...FORKS_OPTION },
  async run(ctx) {
    const config = configFrom(ctx);
    const targets = targetFrom(ctx);
    const db = openDatabase(config.database);
    try {
      const results = await gatherFacts(targets, { config, db });
      ctx.out(ctx.json ? JSON.stringify(results, null, 2) : formatFacts(results));
      return results.every((r) => r.ok) ? EXIT.ok : EXIT.hostsFailed;
    } finally {
      db.$client.close();
    }
  },
};

export function formatFacts(results: HostFacts[]): string {
  const rows = results.map((r) =>
    r.ok
      ? [r.host, r.address, r.drift.length ? 'DRIFT' : 'ok', r.facts.hostname, r.facts.machine_id.slice(0, 12), r.facts.uname.release, `${r.facts.os.id ?? '?'} ${r.facts.os.version_id ?? ''}`.trim(), livepatchSummary(r), r.helperUploaded ? 'uploaded' : 'cached']
      : [r.host, r.address ?? '-', r.error.code, '', '', '', '', '', ''],
  );
  const failed = results.filter((r) => !r.ok);
  const ok = results.length - failed.length;
  return [
    table(['HOST', 'ADDRESS', 'RESULT', 'HOSTNAME', 'MACHINE-ID', 'KERNEL', 'OS', 'LIVEPATCHES', 'HELPER'], rows),
    '',
    ...results.flatMap((r) => (r.ok && r.drift.length ? [`${r.host}: drift: ${r.drift.map((d) => `${d.patch} (${d.bundleId} serial ${d.serial})`).join(', ')} applied by fleetpatch but no longer in effect (rebooted or removed); plan again to re-apply`] : [])),
    ...failed.map((r) => (r.ok || r.error.message.startsWith(r.host) ? '' : `${r.host}: `) + (r.ok ? '' : r.error.message)),
    `${ok} of ${results.length} hosts answered${failed.length ? `, ${failed.length} failed` : ''}.`,
  ].join('\n');
}

function livepatchSummary(r: Extract<HostFacts, { ok: true }>): string {
  if (!r.facts.livepatch_supported) return 'unsupported';
  const on = r.facts.livepatches.filter((p) => p.enabled === 1).map((p) => p.name);
  return on.length ? on.join(',') : 'none';
}
