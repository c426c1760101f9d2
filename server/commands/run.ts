/** `fleetpatch run` and `fleetpatch rollback`: execute a bundle (or undo it) on every targeted
 * host, in waves, within a failure budget; Ctrl-C cancels (no new host starts). */
import { openDatabase, type Db } from '../db/index.ts';
import { getRun, runHostResults, type EventRow, type HostResultRow } from '../db/runs.ts';
import { AppError } from '../errors.ts';
import type { RunKind } from '../plan/index.ts';
import { retryStates, executeRun, type RunRequest, type RunResult } from '../rollout/run.ts';
import { DEFAULT_STRATEGY, parseWaves, type Strategy } from '../rollout/strategy.ts';
import { bundleFrom } from './bundle.ts';
import { configFrom, intOption, targetWithSources } from './common.ts';
import { PLAN_HELP, PLAN_OPTIONS, bundleDir } from './plan.ts';
import { table } from './table.ts';
import type { Command, CommandContext, Options } from './types.ts';

export const STRATEGY_OPTIONS: Options = {
  waves: { type: 'string' },
  'max-fail-percentage': { type: 'string' },
  'max-failures': { type: 'string' },
  'on-failure': { type: 'string' },
  check: { type: 'boolean' },
  'retry-failed': { type: 'string' },
};

const STRATEGY_HELP = [
  '  --waves SIZES           e.g. 1,10%,100%: a canary, then batches; the last size repeats (default 100%)',
  '  --max-fail-percentage X halt when more than X% of the hosts in waves failed (whole run)',
  '  --max-failures N        halt when more than N hosts failed',
  '  --on-failure POLICY     rollback-host (default: each failed host is rolled back) or rollback-all',
  '                          (after a halt, also roll back the hosts this run patched)',
  '  --check                 plan, connect and preflight only: nothing is changed on any host',
  '  --retry-failed RUN      target the hosts that failed or were unreachable in RUN',
  '                          (every run also writes them to a file for --limit @FILE)',
].join('\n');

export function strategyFrom(ctx: CommandContext, forks: number): Strategy {
  const v = ctx.values;
  const onFailure = (v['on-failure'] as string | undefined) ?? 'rollback-host';
  if (onFailure !== 'rollback-host' && onFailure !== 'rollback-all') throw new AppError('usage', `--on-failure must be rollback-host or rollback-all, got ${JSON.stringify(onFailure)}`);
  return {
    ...DEFAULT_STRATEGY,
    forks,
    waves: typeof v.waves === 'string' ? parseWaves(v.waves) : DEFAULT_STRATEGY.waves,
    maxFailPercentage: typeof v['max-fail-percentage'] === 'string' ? intOption('--max-fail-percentage', v['max-fail-percentage'], 0, 100) : null,
    maxFailures: typeof v['max-failures'] === 'string' ? intOption('--max-failures', v['max-failures'], 0, 1_000_000) : null,
    onFailure,
    check: v.check === true,
  };
}

/** Live progress on stderr: waves, one line per finished host, and the steps that finish. */
export function liveProgress(ctx: CommandContext): (e: EventRow) => void {
  return (e) => {
    const d = e.data as Record<string, unknown>;
    if (e.type === 'wave') ctx.err(`— wave ${d.wave} of ${d.of}: ${(d.hosts as string[]).length} host(s)`);
    if (e.type === 'step' && d.status !== 'running') ctx.err(`  ${String(d.host).padEnd(12)} ${String(d.step).padEnd(16)} ${String(d.status).padEnd(7)} ${d.detail ?? ''}`);
    if (e.type === 'host' && d.state !== 'running') ctx.err(`${String(d.host).padEnd(14)} → ${d.state}${d.reason ? `: ${d.reason}` : ''}`);
    if (e.type === 'run' && d.state === 'rolling-back-all') ctx.err(`— halted (${d.reason}): rolling back every host this run patched`);
  };
}

/** Ctrl-C once: cancel (hosts in flight finish or roll back); again: say so, never abandon a host. */
export function cancelOnInterrupt(ctx: CommandContext): { cancelled: () => boolean; release: () => void } {
  let cancelled = false;
  const onSigint = () => {
    if (!cancelled) ctx.err('\nCancelling: no new host starts; hosts in flight finish or roll back. (Ctrl-C again does not abandon them.)');
    else ctx.err('\nStill finishing the hosts in flight; they are never left half-applied.');
    cancelled = true;
  };
  process.on('SIGINT', onSigint);
  return { cancelled: () => cancelled, release: () => process.removeListener('SIGINT', onSigint) };
}

export function printResult(ctx: CommandContext, result: RunResult): void {
  const r = result.run;
  if (ctx.json) ctx.out(JSON.stringify({ run: r, hosts: result.hosts, retryFile: result.retryFile }, null, 2));
  else {
    ctx.out(`\nRun ${r.id} (${r.kind} ${r.bundleId} serial ${r.bundleSerial}): ${r.state}${r.haltReason ? ` — ${r.haltReason}` : ''}\n\n${formatHostResults(result.hosts)}`);
    if (result.retryFile) ctx.out(`\nRetry the hosts that did not succeed: --limit @${result.retryFile}  (or --retry-failed ${r.id})`);
  }
}

async function execute(ctx: CommandContext, kind: RunKind): Promise<number> {
  const config = configFrom(ctx);
  const strategy = strategyFrom(ctx, config.forks);
  const bundle = await bundleFrom(ctx, bundleDir(ctx), config);
  const db = openDatabase(config.database);
  try {
    if (typeof ctx.values['retry-failed'] === 'string') ctx.values.limit = retryPattern(db, ctx.values['retry-failed'], ctx.values.limit);
    const { targets, sources } = targetWithSources(ctx);
    return await executeWithProgress(ctx, {
      db,
      config,
      bundle,
      kind,
      targets,
      strategy,
      inventories: sources,
      pattern: (ctx.values.limit as string | undefined) ?? 'all',
      planOptions: { allowDowngrade: ctx.values['allow-downgrade'] === true, replaceForeign: ctx.values['replace-foreign'] === true, irreversible: ctx.values.irreversible === true },
    });
  } finally {
    db.$client.close();
  }
}

/** Executes a run with live progress (none with --json), Ctrl-C as cancel, and the result printed. */
export async function executeWithProgress(ctx: CommandContext, req: Omit<RunRequest, 'cancelled' | 'onEvent'>): Promise<number> {
  const interrupt = cancelOnInterrupt(ctx);
  try {
    const result = await executeRun({ ...req, cancelled: interrupt.cancelled, ...(ctx.json ? {} : { onEvent: liveProgress(ctx) }) });
    printResult(ctx, result);
    return result.exitCode;
  } finally {
    interrupt.release();
  }
}

/** The hosts of an earlier run worth retrying, as a pattern. */
function retryPattern(db: Db, runText: string, limit: unknown): string {
  if (limit !== undefined) throw new AppError('usage', '--retry-failed and --limit cannot be combined (use --limit @RETRY_FILE to narrow further)');
  const id = Number(runText);
  if (!Number.isInteger(id) || !getRun(db, id)) throw new AppError('usage', `--retry-failed: no run ${runText} in the database`);
  const retry = retryStates(getRun(db, id)!.kind);
  const names = runHostResults(db, id).filter((h) => retry.has(h.state)).map((h) => h.inventoryName);
  if (!names.length) throw new AppError('pattern', `run ${id} has no failed or unreachable host to retry`);
  return names.join(',');
}

export function formatHostResults(hosts: HostResultRow[]): string {
  return table(['HOST', 'WAVE', 'STATE', 'REASON'], hosts.map((h) => [h.inventoryName, h.wave === null ? '-' : String(h.wave), h.state, h.reason ?? '']));
}

export const runCommand: Command = {
  name: 'run',
  summary: 'apply a bundle to the targeted hosts: push, apply, verify, roll back failures',
  usage: 'fleetpatch run -i PATH --bundle DIR [--limit PATTERN] [--forks N] [--waves 1,10%,100%] [--max-fail-percentage X] [--check] [--json]',
  details: [PLAN_HELP, STRATEGY_HELP, '', 'Every step of every host is stored (fleetpatch runs, fleetpatch show RUN).', 'Exit 0 when every host is applied or already-applied; 1 otherwise; 3 halted by the failure budget; 4 cancelled.'].join('\n'),
  options: { ...PLAN_OPTIONS, ...STRATEGY_OPTIONS },
  run: (ctx) => execute(ctx, 'apply'),
};

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'roll a bundle back on the targeted hosts',
  usage: 'fleetpatch rollback -i PATH --bundle DIR [--limit PATTERN] [--forks N] [--waves …] [--json]',
  details: [PLAN_HELP, STRATEGY_HELP, '', 'Exit 0 when the patch is gone from every host.'].join('\n'),
  options: { ...PLAN_OPTIONS, ...STRATEGY_OPTIONS },
  run: (ctx) => execute(ctx, 'rollback'),
};
