/** The per-host sequence: connect → facts → (reconcile) → plan → push → apply → checks → commit,
 * or rollback → verify rollback. Every step is recorded; the host ends in exactly one state. */
import { randomBytes } from 'node:crypto';
import type { LoadedBundle } from '../bundles/index.ts';
import type { ControllerConfig } from '../config.ts';
import type { Db } from '../db/index.ts';
import { saveFacts } from '../db/hosts.ts';
import { appliedByMachine, forgetPatch, recordPatch } from '../db/runs.ts';
import { AppError, errorInfo, isUnreachable } from '../errors.ts';
import { IN_FLIGHT, validateFacts, type Facts } from '../facts/types.ts';
import type { HelperLine } from '../helper/protocol.ts';
import { payloadPath, runHelper, type Payload } from '../helper/remote.ts';
import type { TargetHost } from '../inventory/index.ts';
import { planHost, type RunKind } from '../plan/index.ts';
import type { PlanOptions } from '../plan/livepatch.ts';
import { describe, type SshConnection } from '../ssh/connect.ts';
import type { ConnectionPool } from '../ssh/pool.ts';
import { sshTarget } from '../ssh/target.ts';
import { runChecks } from './checks.ts';
import type { HostState, RunRecorder } from './record.ts';

export interface HostContext {
  db: Db;
  config: Pick<ControllerConfig, 'remoteDir'>;
  pool: ConnectionPool;
  rec: RunRecorder;
  bundle: LoadedBundle;
  kind: RunKind;
  planOptions: PlanOptions;
  /** Machine-ids already taken by another name in this run: one machine is patched once. */
  machines: Map<string, string>;
  payloads: Map<string, Payload>;
}

export interface HostOutcome {
  state: HostState;
  reason: string | null;
}

const HELPER_TIMEOUT_MS = 10 * 60_000;

/** Steps the helper reported (disable, unload, reconcile…), stored like the controller's own. */
function recordRemoteSteps(rec: RunRecorder, hostResultId: number, host: string, lines: HelperLine[]): void {
  for (const l of lines) if (l.type === 'step') rec.remoteStep(hostResultId, host, String(l.step), String(l.status), typeof l.detail === 'string' ? l.detail : null);
}

export async function runHost(t: TargetHost, hostResultId: number, ctx: HostContext): Promise<HostOutcome> {
  const { rec } = ctx;
  const finish = (state: HostState, reason: string | null, extra: { hostId?: number; opId?: string } = {}): HostOutcome => {
    rec.host(hostResultId, t.name, state, reason, extra);
    return { state, reason };
  };
  rec.host(hostResultId, t.name, 'running');
  const step = <T>(name: string, fn: () => Promise<T>, d?: (v: T) => { detail?: string; output?: string }) => rec.step(hostResultId, t.name, name, fn, d);
  let conn: SshConnection;
  let hostId: number | undefined;
  try {
    conn = await step('connect', () => ctx.pool.get(sshTarget(t)), (c) => ({ detail: describe(c.target) }));
    const readFacts = async (name = 'facts') =>
      step(name, async () => {
        const run = await runHelper(conn, ['facts'], { remoteDir: ctx.config.remoteDir, timeoutMs: 120_000 });
        const facts = validateFacts(run.result.facts, describe(conn.target));
        hostId = saveFacts(ctx.db, t.name, `${conn.target.host}:${conn.target.port}`, facts);
        return facts;
      }, (f) => ({ detail: `${f.hostname} ${f.uname.release} build ${f.kernel_build_id}; livepatches: ${f.livepatches.map((p) => `${p.name}(enabled=${p.enabled},transition=${p.transition})`).join(' ') || 'none'}` }));
    let facts = await readFacts();
    const owner = ctx.machines.get(facts.machine_id);
    if (owner && owner !== t.name) return finish('skipped', `same machine as ${owner} (machine-id ${facts.machine_id}): patched once, under ${owner}`, { hostId: hostId! });
    ctx.machines.set(facts.machine_id, t.name);
    if (facts.journal.some((e) => IN_FLIGHT.has(e.state))) {
      const r = await step('reconcile', () => runHelper(conn, ['reconcile', '--timeout', String(timeoutSeconds(ctx))], { remoteDir: ctx.config.remoteDir, timeoutMs: HELPER_TIMEOUT_MS }), (r) => ({
        detail: r.lines.filter((l) => l.type === 'reconcile').map((l) => `${String(l.op)}: ${String(l.from)} → rolled back`).join('; '),
      }));
      recordRemoteSteps(rec, hostResultId, t.name, r.lines);
      facts = await readFacts();
    }
    const plan = await step('plan', async () => planHost(ctx.bundle, ctx.kind, facts, appliedByMachine(ctx.db, facts.machine_id), ctx.planOptions), (p) => ({
      detail: p.action === 'not-applicable' || p.action === 'unreachable' ? `${p.action}: ${p.reason}` : [p.action, ...p.notes].join('; '),
    }));
    if (plan.action === 'already-applied') return finish('already-applied', null, { hostId: hostId! });
    if (plan.action === 'not-applicable' || plan.action === 'unreachable') return finish('not-applicable', plan.reason, { hostId: hostId! });
    const opId = `r${rec.runId}-h${hostResultId}-${randomBytes(3).toString('hex')}`;
    if (plan.action === 'rollback') return await rollback(conn, t, hostResultId, ctx, opId, hostId!, finish, readFacts);
    const payload = ctx.payloads.get(plan.module.file)!;
    await step('push', () => runHelper(conn, ['facts'], { remoteDir: ctx.config.remoteDir, payloads: [payload], timeoutMs: HELPER_TIMEOUT_MS }), (r) => ({
      detail: `${plan.module.file} → ${payloadPath(ctx.config.remoteDir, payload.sha256)} (${r.uploaded ? 'uploaded' : 'already cached'})`,
    }));
    return await apply(conn, t, hostResultId, ctx, opId, hostId!, payload, finish, readFacts);
  } catch (err) {
    const info = errorInfo(err);
    // host-key and auth refusals are failures, not unreachability: someone must look at them
    return finish(isUnreachable(info.code) ? 'unreachable' : 'failed', info.message, hostId ? { hostId } : {});
  }
}

function timeoutSeconds(ctx: HostContext): number {
  return ctx.bundle.manifest.kind === 'livepatch' ? ctx.bundle.manifest.livepatch.transitionTimeoutSeconds : 30;
}

type Finish = (state: HostState, reason: string | null, extra?: { hostId?: number; opId?: string }) => HostOutcome;
type ReadFacts = (name?: string) => Promise<Facts>;

function opArgs(ctx: HostContext, opId: string): string[] {
  const m = ctx.bundle.manifest;
  if (m.kind !== 'livepatch') throw new AppError('internal', 'livepatch bundle expected');
  return ['--op', opId, '--bundle', m.id, '--serial', String(m.serial), '--patch', m.livepatch.patch, '--timeout', String(m.livepatch.transitionTimeoutSeconds)];
}

async function apply(conn: SshConnection, t: TargetHost, hostResultId: number, ctx: HostContext, opId: string, hostId: number, payload: Payload, finish: Finish, readFacts: ReadFacts): Promise<HostOutcome> {
  const { rec } = ctx;
  const m = ctx.bundle.manifest;
  if (m.kind !== 'livepatch') throw new AppError('internal', 'livepatch bundle expected');
  let checkFailure: string | null = null;
  let verdict: Promise<void> = Promise.resolve();
  const args = ['apply', ...opArgs(ctx, opId), '--module', payloadPath(ctx.config.remoteDir, payload.sha256), ...(m.livepatch.replace ? ['--replace'] : [])];
  let run;
  try {
    run = await rec.step(hostResultId, t.name, 'apply', () =>
      runHelper(conn, args, {
        remoteDir: ctx.config.remoteDir,
        payloads: [payload],
        timeoutMs: HELPER_TIMEOUT_MS,
        onLine: (line, channel) => {
          if (line.type === 'step') rec.remoteStep(hostResultId, t.name, String(line.step), String(line.status), typeof line.detail === 'string' ? line.detail : null, line.blocking ? JSON.stringify(line.blocking) : null);
          if (line.type !== 'awaiting-verdict') return;
          verdict = rec
            .step(hostResultId, t.name, 'check', () => runChecks(conn, m.checks), (c) => ({ detail: c.ok ? `${m.checks.length} checks passed` : 'a check failed', output: c.report, failed: !c.ok }))
            .then((c) => {
              if (!c.ok) checkFailure = c.report.split('\n').find((l) => l.includes('FAILED')) ?? 'a check failed';
              channel.end(c.ok ? 'commit\n' : 'rollback\n');
            })
            .catch((err) => {
              checkFailure = `checks could not run: ${(err as Error).message}`;
              channel.end('rollback\n');
            });
        },
      }),
    );
  } catch (err) {
    await verdict;
    const info = errorInfo(err);
    if (info.code === 'transition-timeout' || info.code === 'verify-failed') return verifyRolledBack(t, hostResultId, ctx, readFacts, finish, info.message, hostId, opId);
    if (info.code === 'rollback-failed') return finish('rollback-failed', info.message, { hostId, opId });
    throw err;
  }
  await verdict;
  const outcome = run.result.outcome;
  if (outcome === 'already-applied') return finish('already-applied', null, { hostId, opId });
  if (outcome === 'applied') {
    recordPatch(ctx.db, { hostId, bundleId: m.id, serial: m.serial, patch: m.livepatch.patch, runId: rec.runId, appliedAt: new Date() });
    return finish('applied', null, { hostId, opId });
  }
  if (outcome === 'rolled-back') return verifyRolledBack(t, hostResultId, ctx, readFacts, finish, checkFailure ?? 'rolled back by the helper (no verdict)', hostId, opId);
  throw new AppError('helper-protocol', `${t.name}: unexpected apply outcome ${String(outcome)}`);
}

/** After any rollback: read the host again and confirm the patch is gone from sysfs. */
async function verifyRolledBack(t: TargetHost, hostResultId: number, ctx: HostContext, readFacts: ReadFacts, finish: Finish, reason: string, hostId: number, opId: string): Promise<HostOutcome> {
  const m = ctx.bundle.manifest;
  if (m.kind !== 'livepatch') throw new AppError('internal', 'livepatch bundle expected');
  const facts = await readFacts('verify-rollback');
  if (facts.livepatches.some((p) => p.name === m.livepatch.patch)) {
    return finish('rollback-failed', `${reason}; and ${m.livepatch.patch} is still present in /sys/kernel/livepatch after the rollback`, { hostId, opId });
  }
  forgetPatch(ctx.db, hostId, m.livepatch.patch);
  return finish('rolled-back', reason, { hostId, opId });
}

async function rollback(conn: SshConnection, t: TargetHost, hostResultId: number, ctx: HostContext, opId: string, hostId: number, finish: Finish, readFacts: ReadFacts): Promise<HostOutcome> {
  try {
    const r = await ctx.rec.step(hostResultId, t.name, 'rollback', () => runHelper(conn, ['rollback', ...opArgs(ctx, opId)], { remoteDir: ctx.config.remoteDir, timeoutMs: HELPER_TIMEOUT_MS }), (r) => ({
      detail: String(r.result.outcome),
    }));
    recordRemoteSteps(ctx.rec, hostResultId, t.name, r.lines);
  } catch (err) {
    const info = errorInfo(err);
    if (info.code === 'rollback-failed') return finish('rollback-failed', info.message, { hostId, opId });
    throw err;
  }
  return verifyRolledBack(t, hostResultId, ctx, readFacts, finish, 'rolled back on request', hostId, opId);
}
