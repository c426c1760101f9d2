/** `fleetpatch runs`, `show RUN`, `cancel RUN`, `resume RUN`: runs from the database, whoever
 * owns them. */
import { hostname } from 'node:os';
import { loadBundle } from '../bundles/index.ts';
import { openDatabase, type Db } from '../db/index.ts';
import { userInfo } from 'node:os';
import { recordAudit } from '../db/users.ts';
import { getRun, hostSteps, listRuns, markInterrupted, requestCancel, runHostResults, type RunRow } from '../db/runs.ts';
import { AppError, EXIT } from '../errors.ts';
import { loadInventory, resolveTarget } from '../inventory/index.ts';
import { parseWaves, type Strategy } from '../rollout/strategy.ts';
import { bundleOptions } from './bundle.ts';
import { configFrom } from './common.ts';
import { executeWithProgress, formatHostResults } from './run.ts';
import { table } from './table.ts';
import type { Command, CommandContext } from './types.ts';

function withDb<T>(ctx: CommandContext, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = openDatabase(configFrom(ctx).database);
  markInterrupted(db, hostname());
  return fn(db).finally(() => db.$client.close());
}

function runArg(ctx: CommandContext, db: Db, usage: string): RunRow {
  const id = Number(ctx.positionals[0]);
  if (!Number.isInteger(id) || id <= 0) throw new AppError('usage', `usage: ${usage}`);
  const run = getRun(db, id);
  if (!run) throw new AppError('usage', `no run ${id} in the database`);
  return run;
}

export const runsCommand: Command = {
  name: 'runs',
  summary: 'list recent runs',
  usage: 'fleetpatch runs [--json]',
  details: 'Newest first, from the database; a run whose owner died shows as interrupted.',
  options: {},
  run: (ctx) =>
    withDb(ctx, async (db) => {
      const rows = listRuns(db);
      ctx.out(ctx.json ? JSON.stringify(rows, null, 2) : table(['RUN', 'KIND', 'STATE', 'BUNDLE', 'SERIAL', 'STARTED BY', 'CREATED'], rows.map((r) => [String(r.id), r.kind, r.state, r.bundleId, String(r.bundleSerial), r.startedBy, r.createdAt.toISOString()])));
      return EXIT.ok;
    }),
};

export const showCommand: Command = {
  name: 'show',
  summary: "show a run: every host's state, wave, steps and timings",
  usage: 'fleetpatch show RUN [--json]',
  details: 'Reads the database; works for runs started anywhere, running or finished.',
  options: {},
  run: (ctx) =>
    withDb(ctx, async (db) => {
      const run = runArg(ctx, db, showCommand.usage);
      const hosts = runHostResults(db, run.id).map((h) => ({ ...h, steps: hostSteps(db, h.id) }));
      if (ctx.json) ctx.out(JSON.stringify({ run, hosts }, null, 2));
      else {
        const signed = run.bundleKeyId ? `signed by key ${run.bundleKeyId}` : 'UNSIGNED (command-line override)';
        const git = run.inventoryCommit ? `, inventory at ${run.inventoryCommit.slice(0, 12)}${run.inventoryDirty ? ' (dirty)' : ''}` : '';
        const lines = [`Run ${run.id}: ${run.kind} ${run.bundleId} serial ${run.bundleSerial} (${signed}) — ${run.state}${run.haltReason ? `: ${run.haltReason}` : ''}`, `started by ${run.startedBy} at ${run.createdAt.toISOString()}${git}`, '', formatHostResults(hosts), ''];
        for (const h of hosts) {
          lines.push(`${h.inventoryName}:`);
          for (const s of h.steps) lines.push(`  ${s.name.padEnd(16)} ${s.status.padEnd(7)} ${s.finishedAt ? `${String(s.finishedAt.getTime() - s.startedAt.getTime()).padStart(6)} ms` : '     …   '}  ${s.detail ?? ''}`);
        }
        ctx.out(lines.join('\n'));
      }
      return EXIT.ok;
    }),
};

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'ask the owner of a running run to cancel it',
  usage: 'fleetpatch cancel RUN',
  details: 'No new host starts; hosts in flight finish or roll back. The owner acts within seconds.',
  options: {},
  run: (ctx) =>
    withDb(ctx, async (db) => {
      const run = runArg(ctx, db, cancelCommand.usage);
      if (!requestCancel(db, run.id)) throw new AppError('usage', `run ${run.id} is ${run.state}, not running: nothing to cancel`);
      recordAudit(db, `cli:${userInfo().username}`, 'run-cancel', { run: run.id });
      ctx.out(`Cancel requested for run ${run.id}; its owner (${run.owner}) stops starting hosts within a few seconds.`);
      return EXIT.ok;
    }),
};

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'take over an interrupted run and finish it',
  usage: 'fleetpatch resume RUN [--json]',
  details: 'Reconciles each host that was in flight through its helper journal, then continues the remaining waves.',
  options: {},
  run: (ctx) =>
    withDb(ctx, async (db) => {
      const run = runArg(ctx, db, resumeCommand.usage);
      if (run.state !== 'interrupted') throw new AppError('usage', `run ${run.id} is ${run.state}; only an interrupted run can be resumed`);
      const config = configFrom(ctx);
      const target = run.target as { inventories: string[]; pattern: string; bundleDir: string };
      const bundle = await loadBundle(target.bundleDir, bundleOptions(config));
      if (bundle.sha256 !== run.bundleSha256) throw new AppError('bundle', `${target.bundleDir} is no longer the bundle run ${run.id} started with (sha256 ${run.bundleSha256})`);
      const stored = run.strategy as Omit<Strategy, 'waves'> & { waves: string };
      const targets = resolveTarget(loadInventory(target.inventories), target.pattern);
      return executeWithProgress(ctx, {
        db,
        config: { ...config, forks: stored.forks },
        bundle,
        kind: run.kind as 'apply' | 'rollback',
        targets,
        strategy: { ...stored, waves: parseWaves(stored.waves) },
        inventories: target.inventories,
        pattern: target.pattern,
        resume: run,
      });
    }),
};
