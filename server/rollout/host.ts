/** The per-host sequence: connect → facts (with the package query for a packages bundle, and
 * which payloads the host's cache lacks; the exec then waits) → (reconcile) → plan → apply (on
 * the facts exec, the missing payloads on its stdin; recorded as a push step) → checks → commit,
 * or rollback → verify rollback.
 * Every step is recorded; the host ends in exactly one state. */
import { randomBytes } from 'node:crypto';
import type { LoadedBundle } from '../bundles/index.ts';
import type { ControllerConfig } from '../config.ts';
import type { Db } from '../db/index.ts';
import { saveFacts } from '../db/hosts.ts';
import { appliedByMachine } from '../db/runs.ts';
import { errorInfo, isUnreachable } from '../errors.ts';
import { factsArgs, packagesFromLines } from '../facts/packages.ts';
import { IN_FLIGHT, validateFacts, type Facts } from '../facts/types.ts';
import type { HelperLine } from '../helper/protocol.ts';
import { payloadPath, runHelper, type HeldExec, type HelperOptions, type Payload, type UploadVia } from '../helper/remote.ts';
import type { TargetHost } from '../inventory/index.ts';
import { packageNames, planHost, type HostAction, type RunKind } from '../plan/index.ts';
import type { PackageHostState } from '../plan/packages.ts';
import type { PlanOptions } from '../plan/livepatch.ts';
import { describe, type ConnectOptions, type SshConnection } from '../ssh/connect.ts';
import type { ConnectionPool } from '../ssh/pool.ts';
import { sshTarget, type SshTarget } from '../ssh/target.ts';
import { applyLivepatch, rollbackLivepatch } from './livepatch.ts';
import { applyPackages, rollbackPackages } from './packages.ts';
import type { HostState, RunRecorder } from './record.ts';

export interface HostContext {
  db: Db;
  config: Pick<ControllerConfig, 'remoteDir'>;
  pool: ConnectionPool;
  /** How the pool connects, for the checks that need a connection of their own. */
  connect: ConnectOptions;
  rec: RunRecorder;
  bundle: LoadedBundle;
  kind: RunKind;
  /** Check mode: plan (and for livepatch, the helper's own preflight) and stop; nothing changes. */
  check: boolean;
  planOptions: PlanOptions;
  /** Machine-ids already taken by another name in this run: one machine is patched once. */
  machines: Map<string, string>;
  payloads: Map<string, Payload>;
}

export interface HostOutcome {
  state: HostState;
  reason: string | null;
}

export const HELPER_TIMEOUT_MS = 10 * 60_000;

/** One host's run: its connection, identity and the recorder calls bound to it. */
export class HostRun {
  conn!: SshConnection;
  hostId: number | undefined;
  readonly opId: string;

  constructor(
    readonly t: TargetHost,
    readonly hostResultId: number,
    readonly ctx: HostContext,
  ) {
    this.opId = `r${ctx.rec.runId}-h${hostResultId}-${randomBytes(3).toString('hex')}`;
  }

  step<T>(name: string, fn: () => Promise<T>, d?: (v: T) => { detail?: string; output?: string; failed?: boolean }): Promise<T> {
    return this.ctx.rec.step(this.hostResultId, this.t.name, name, fn, d);
  }

  /** A step decided on the controller at once (no I/O), recorded once, finished. */
  decide<T>(name: string, fn: () => T, d: (v: T) => { detail?: string; failed?: boolean }): T {
    return this.ctx.rec.decide(this.hostResultId, this.t.name, name, fn, d);
  }

  finish(state: HostState, reason: string | null): HostOutcome {
    this.ctx.rec.host(this.hostResultId, this.t.name, state, reason, { ...(this.hostId ? { hostId: this.hostId } : {}), ...(state === 'running' ? {} : { opId: this.opId }) });
    return { state, reason };
  }

  /** Steps the helper reported (disable, unload, save, install…), stored like the controller's own. */
  remoteSteps(lines: HelperLine[]): void {
    for (const l of lines) if (l.type === 'step') this.remoteStep(l);
  }

  remoteStep(l: HelperLine): void {
    this.ctx.rec.remoteStep(this.hostResultId, this.t.name, String(l.step), String(l.status), typeof l.detail === 'string' ? l.detail : null, l.blocking ? JSON.stringify(l.blocking) : null);
  }

  /** The facts exec, kept waiting for the command the plan leads to (serve.c): that command
   * runs on it, with no second session, shell or trust script on the host. */
  private held: HeldExec | null = null;

  helper(args: string[], opts: Pick<HelperOptions, 'payloads' | 'onLine' | 'onPayloads'> = {}) {
    const held = this.held;
    this.held = null;
    return runHelper(this.conn, args, { remoteDir: this.ctx.config.remoteDir, timeoutMs: HELPER_TIMEOUT_MS, held, ...opts });
  }

  /** Lets a held facts exec end (the host needs no further helper command). */
  endHeld(): void {
    this.held?.end();
    this.held = null;
  }

  /** A step the controller saw happen inside another step's exec, recorded as it is seen. */
  note(name: string, detail: string): void {
    this.ctx.rec.remoteStep(this.hostResultId, this.t.name, name, 'ok', detail);
  }

  /** The push step of an apply: the payloads travel on the helper's stdin (the held facts exec's,
   * or the apply exec's) when the facts exec saw them absent, so this records what was sent, and how, as it is known. */
  pushNote(payloads: Payload[], what: string): HelperOptions['onPayloads'] {
    if (!payloads.length) return undefined;
    return ({ pushed, via }) => {
      const bytes = (ps: Payload[]) => ps.reduce((n, p) => n + p.bytes.length, 0).toLocaleString('en-US');
      const cached = payloads.filter((p) => !pushed.includes(p));
      const how: Record<UploadVia, string> = { stdin: "on the helper's stdin", sftp: 'over SFTP', exec: 'on an upload exec' };
      const parts = [
        ...(pushed.length ? [`${pushed.length} uploaded (${bytes(pushed)} bytes ${how[via ?? 'stdin']})`] : []),
        ...(cached.length ? [`${cached.length} already cached (${bytes(cached)} bytes)`] : []),
      ];
      this.note('push', `${what}: ${parts.join(', ')}; sha256 checked on the host before use`);
    };
  }

  /** Facts over one exec; with package names, the package query rides on it (`packages`). The
   * first read also asks which of the bundle's payloads the host's cache lacks, so the apply can
   * carry them, and is held for the apply (or whatever the plan leads to) to run in. */
  packages: PackageHostState | undefined;

  readFacts(name = 'facts', packageNames: string[] = []): Promise<Facts> {
    return this.step(
      name,
      async () => {
        // the first read is followed by the plan's command, on the same exec
        const first = name === 'facts';
        this.endHeld();
        const run = await runHelper(this.conn, factsArgs(packageNames), { remoteDir: this.ctx.config.remoteDir, timeoutMs: 120_000, ...(first ? { probe: [...this.ctx.payloads.values()], hold: { timeoutMs: HELPER_TIMEOUT_MS } } : {}) });
        this.held = run.held;
        const facts = validateFacts(run.result.facts, describe(this.conn.target));
        this.hostId = saveFacts(this.ctx.db, this.t.name, `${this.conn.target.host}:${this.conn.target.port}`, facts);
        if (packageNames.length) this.packages = packagesFromLines(run.lines, packageNames, describe(this.conn.target));
        return facts;
      },
      (f) => ({ detail: `${f.hostname} ${f.uname.release} build ${f.kernel_build_id}; livepatches: ${f.livepatches.map((p) => `${p.name}(enabled=${p.enabled},transition=${p.transition})`).join(' ') || 'none'}` }),
    );
  }
}

export async function runHost(t: TargetHost, hostResultId: number, ctx: HostContext): Promise<HostOutcome> {
  const h = new HostRun(t, hostResultId, ctx);
  ctx.rec.host(hostResultId, t.name, 'running');
  let target: SshTarget | null = null;
  try {
    h.conn = await h.step('connect', () => ctx.pool.get((target = sshTarget(t))), (c) => ({ detail: describe(c.target) }));
    const names = ctx.kind === 'apply' ? packageNames(ctx.bundle) : [];
    let facts = await h.readFacts('facts', names);
    const owner = ctx.machines.get(facts.machine_id);
    if (owner && owner !== t.name) return h.finish('skipped', `same machine as ${owner} (machine-id ${facts.machine_id}): patched once, under ${owner}`);
    ctx.machines.set(facts.machine_id, t.name);
    if (facts.journal.some((e) => IN_FLIGHT.has(e.state))) {
      const r = await h.step('reconcile', () => h.helper(['reconcile', '--timeout', String(timeoutSeconds(ctx))]), (r) => ({
        detail: r.lines.filter((l) => l.type === 'reconcile').map((l) => `${String(l.op)}: ${String(l.from)} → rolled back`).join('; '),
      }));
      h.remoteSteps(r.lines);
      facts = await h.readFacts('facts', names);
    }
    // asked in the facts exec above (after any reconcile): recorded as its own step
    const packages = names.length ? h.decide('packages', () => h.packages!, (s) => ({ detail: `${s.packages.map((p) => `${p.name} ${p.installed ?? 'absent'}`).join(', ')} (queried in the facts exec)` })) : undefined;
    const plan = h.decide('plan', () => planHost(ctx.bundle, ctx.kind, facts, appliedByMachine(ctx.db, facts.machine_id), ctx.planOptions, packages ? { packages } : {}), (p) => ({ detail: describePlan(p) }));
    if (plan.action === 'already-applied') return h.finish('already-applied', null);
    if (plan.action === 'not-applicable' || plan.action === 'unreachable') return h.finish('not-applicable', plan.reason);
    const m = ctx.bundle.manifest;
    if (ctx.check) return await checkOnly(h, plan);
    if (m.kind === 'livepatch') return plan.action === 'rollback' ? await rollbackLivepatch(h, m) : await applyLivepatch(h, m, plan);
    return plan.action === 'rollback' ? await rollbackPackages(h, m) : await applyPackages(h, m, packages!);
  } catch (err) {
    const info = errorInfo(err);
    // host-key and auth refusals are failures, not unreachability: someone must look at them
    return h.finish(isUnreachable(info.code) ? 'unreachable' : 'failed', info.message);
  } finally {
    h.endHeld();
    // the host is done: its connection is kept only while few idle ones are (pool.ts)
    if (target) ctx.pool.release(target);
  }
}

/** Check mode ends here: what would happen, with the helper's preflight for a livepatch. */
async function checkOnly(h: HostRun, plan: HostAction): Promise<HostOutcome> {
  const m = h.ctx.bundle.manifest;
  if (m.kind === 'livepatch' && plan.action === 'apply' && plan.module) {
    const payload = h.ctx.payloads.get(plan.module.file)!;
    const args = ['apply', '--check', '--op', h.opId, '--bundle', m.id, '--serial', String(m.serial), '--patch', m.livepatch.patch, '--module', payloadPath(h.ctx.config.remoteDir, payload.sha256)];
    await h.step('preflight', () => h.helper(args, { payloads: [payload] }), () => ({ detail: 'the host would accept the module (nothing loaded)' }));
  }
  return h.finish('skipped', `check mode: would ${describePlan(plan)}`);
}

function describePlan(p: HostAction): string {
  return p.action === 'not-applicable' || p.action === 'unreachable' ? `${p.action}: ${p.reason}` : [p.action, ...p.notes].join('; ');
}

function timeoutSeconds(ctx: HostContext): number {
  return ctx.bundle.manifest.kind === 'livepatch' ? ctx.bundle.manifest.livepatch.transitionTimeoutSeconds : 30;
}
