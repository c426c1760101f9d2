/** Livepatch bundles on one host: apply with a verdict (the module pushed on the same exec), or roll back; every
 * rollback is confirmed by reading the host's facts again. */
import type { BundleManifest } from '../bundles/index.ts';
import { forgetPatch, recordPatch } from '../db/runs.ts';
import { AppError, errorInfo } from '../errors.ts';
import { payloadPath } from '../helper/remote.ts';
import type { HostAction } from '../plan/index.ts';
import type { HostOutcome, HostRun } from './host.ts';
import { applyWithVerdict } from './verdict.ts';

type Livepatch = Extract<BundleManifest, { kind: 'livepatch' }>;

function opArgs(h: HostRun, m: Livepatch): string[] {
  return ['--op', h.opId, '--bundle', m.id, '--serial', String(m.serial), '--patch', m.livepatch.patch, '--timeout', String(m.livepatch.transitionTimeoutSeconds)];
}

export async function applyLivepatch(h: HostRun, m: Livepatch, plan: Extract<HostAction, { action: 'apply' }>): Promise<HostOutcome> {
  const module = plan.module;
  if (!module) throw new AppError('internal', 'a livepatch plan without a module');
  const payload = h.ctx.payloads.get(module.file)!;
  const path = payloadPath(h.ctx.config.remoteDir, payload.sha256);
  const args = ['apply', ...opArgs(h, m), '--module', path, ...(m.livepatch.replace ? ['--replace'] : [])];
  // the module travels on the held facts exec's stdin, after the plan, when that exec saw it absent
  const v = await applyWithVerdict(h, args, [payload], m.checks, { ready: async () => h.conn }, h.pushNote([payload], `${module.file} → ${path}`));
  if (v.error) {
    const info = errorInfo(v.error);
    if (info.code === 'transition-timeout' || info.code === 'verify-failed') return verifyRolledBack(h, m, info.message);
    if (info.code === 'rollback-failed') return h.finish('rollback-failed', info.message);
    throw v.error;
  }
  const outcome = v.run!.result.outcome;
  if (outcome === 'already-applied') return h.finish('already-applied', null);
  if (outcome === 'applied') {
    recordPatch(h.ctx.db, { hostId: h.hostId!, bundleId: m.id, serial: m.serial, patch: m.livepatch.patch, runId: h.ctx.rec.runId, appliedAt: new Date() });
    return h.finish('applied', null);
  }
  if (outcome === 'rolled-back') return verifyRolledBack(h, m, v.checkFailure ?? 'rolled back by the helper (no verdict)');
  throw new AppError('helper-protocol', `${h.t.name}: unexpected apply outcome ${String(outcome)}`);
}

/** After any rollback: read the host again and confirm the patch is gone from sysfs. */
async function verifyRolledBack(h: HostRun, m: Livepatch, reason: string): Promise<HostOutcome> {
  const facts = await h.readFacts('verify-rollback');
  if (facts.livepatches.some((p) => p.name === m.livepatch.patch)) {
    return h.finish('rollback-failed', `${reason}; and ${m.livepatch.patch} is still present in /sys/kernel/livepatch after the rollback`);
  }
  forgetPatch(h.ctx.db, h.hostId!, m.livepatch.patch);
  return h.finish('rolled-back', reason);
}

export async function rollbackLivepatch(h: HostRun, m: Livepatch): Promise<HostOutcome> {
  try {
    const r = await h.step('rollback', () => h.helper(['rollback', ...opArgs(h, m)]), (r) => ({ detail: String(r.result.outcome) }));
    h.remoteSteps(r.lines);
  } catch (err) {
    const info = errorInfo(err);
    if (info.code === 'rollback-failed') return h.finish('rollback-failed', info.message);
    throw err;
  }
  return verifyRolledBack(h, m, 'rolled back on request');
}
