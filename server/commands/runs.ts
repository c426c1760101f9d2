/** `fleetpatch runs` and `fleetpatch show RUN`: what happened, from the database. */
import { openDatabase } from '../db/index.ts';
import { getRun, hostSteps, listRuns, runHostResults } from '../db/runs.ts';
import { AppError, EXIT } from '../errors.ts';
import { configFrom } from './common.ts';
import { formatHostResults } from './run.ts';
import { table } from './table.ts';
import type { Command } from './types.ts';

export const runsCommand: Command = {
  name: 'runs',
  summary: 'list recent runs',
  usage: 'fleetpatch runs [--json]',
  details: 'Newest first, from the database.',
  options: {},
  async run(ctx) {
    const db = openDatabase(configFrom(ctx).database);
    try {
      const rows = listRuns(db);
      ctx.out(ctx.json ? JSON.stringify(rows, null, 2) : table(['RUN', 'KIND', 'STATE', 'BUNDLE', 'SERIAL', 'STARTED BY', 'CREATED'], rows.map((r) => [String(r.id), r.kind, r.state, r.bundleId, String(r.bundleSerial), r.startedBy, r.createdAt.toISOString()])));
      return EXIT.ok;
    } finally {
      db.$client.close();
    }
  },
};

export const showCommand: Command = {
  name: 'show',
  summary: 'show a run: every host\'s state and steps',
  usage: 'fleetpatch show RUN [--json]',
  details: 'Reads the database; works for runs started anywhere.',
  options: {},
  async run(ctx) {
    const id = Number(ctx.positionals[0]);
    if (!Number.isInteger(id) || id <= 0) throw new AppError('usage', `usage: ${showCommand.usage}`);
    const db = openDatabase(configFrom(ctx).database);
    try {
      const run = getRun(db, id);
      if (!run) throw new AppError('usage', `no run ${id} in the database`);
      const hosts = runHostResults(db, id).map((h) => ({ ...h, steps: hostSteps(db, h.id) }));
      if (ctx.json) ctx.out(JSON.stringify({ run, hosts }, null, 2));
      else {
        const signed = run.bundleKeyId ? `signed by key ${run.bundleKeyId}` : 'UNSIGNED (--allow-unsigned)';
        const lines = [`Run ${run.id}: ${run.kind} ${run.bundleId} serial ${run.bundleSerial} (${signed}) — ${run.state} (started by ${run.startedBy} at ${run.createdAt.toISOString()})`, '', formatHostResults(hosts), ''];
        for (const h of hosts) {
          lines.push(`${h.inventoryName}:`);
          for (const s of h.steps) lines.push(`  ${s.name.padEnd(16)} ${s.status.padEnd(7)} ${s.detail ?? ''}`);
        }
        ctx.out(lines.join('\n'));
      }
      return EXIT.ok;
    } finally {
      db.$client.close();
    }
  },
};
