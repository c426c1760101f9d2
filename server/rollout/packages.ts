/** Packages bundles on one host: apply with a verdict (the .debs pushed on the same exec) (the checks run over a
 * new SSH connection: an updated sshd must still accept logins), or roll back; every rollback is
 * confirmed by querying dpkg again. */
import type { BundleManifest } from '../bundles/index.ts';
import { AppError, errorInfo, isUnreachable } from '../errors.ts';
import { queryPackages } from '../facts/packages.ts';
import { payloadPath, type Payload } from '../helper/remote.ts';
import type { PackageHostState } from '../plan/packages.ts';
import { SshConnection } from '../ssh/connect.ts';
import type { HostOutcome, HostRun } from './host.ts';
import { applyWithVerdict } from './verdict.ts';

type Packages = Extract<BundleManifest, { kind: 'packages' }>;

export async function applyPackages(h: HostRun, m: Packages, before: PackageHostState): Promise<HostOutcome> {
  const dir = h.ctx.config.remoteDir;
  const payload = (file: string): Payload => h.ctx.payloads.get(file)!;
  const installed = (name: string) => before.packages.find((p) => p.name === name)?.installed ?? null;
  const specs: string[] = [];
  const payloads: Payload[] = [];
  for (const d of m.packages.debs) {
    const deb = payload(d.file);
    const prev = m.packages.previous.find((p) => p.name === d.name && p.version === installed(d.name));
    payloads.push(deb, ...(prev ? [payload(prev.file)] : []));
    specs.push('--deb', [d.name, d.version, payloadPath(dir, deb.sha256), ...(prev ? [payloadPath(dir, payload(prev.file).sha256)] : [])].join('='));
  }
  // what the facts query saw, for the helper's save step to reuse if dpkg's database is unchanged
  const known = before.dbState ? ['--db-state', before.dbState, ...m.packages.debs.flatMap((d) => ['--known', `${d.name}=${installed(d.name) ?? '-'}`])] : [];
  // opened once dpkg -i has returned (the helper's `install` step), while the helper verifies
  let fresh = null as Promise<SshConnection> | null;
  const ready = () => (fresh ??= h.step('reconnect', () => SshConnection.open(h.conn.target, h.ctx.connect), () => ({ detail: 'a new SSH connection for the checks' })));
  try {
    // the .debs the facts exec saw absent travel on this exec's stdin; the push step records them
    const v = await applyWithVerdict(h, ['pkg-apply', '--op', h.opId, '--bundle', m.id, '--serial', String(m.serial), ...specs, ...known], payloads, m.checks, { ready, after: 'install' }, h.pushNote(payloads, `${payloads.length} .deb file(s)`));
    const holders = v.lines.filter((l) => l.type === 'holder').map((l) => `pid ${String(l.pid)} (${String(l.comm)}): ${String(l.files).trim()}`);
    if (v.error) {
      const info = errorInfo(v.error);
      if (info.code === 'preflight') return h.finish('failed', info.message);
      if (info.code === 'rollback-failed') return h.finish('rollback-failed', info.message);
      if (info.code === 'verify-failed' || info.code === 'helper-failed') return verifyRestored(h, m, before, info.message);
      throw v.error;
    }
    const outcome = v.run!.result.outcome;
    if (outcome === 'applied') return h.finish('applied', holders.length ? `warning: processes still use replaced files (the fix is not in effect for them until they restart): ${holders.join('; ')}` : null);
    if (outcome === 'rolled-back') return verifyRestored(h, m, before, v.checkFailure ?? 'rolled back by the helper (no verdict)');
    throw new AppError('helper-protocol', `${h.t.name}: unexpected pkg-apply outcome ${String(outcome)}`);
  } finally {
    // settled before this host's part of the run ends: a connection still opening when the
    // helper failed (opened at its install step) finishes its step record now, not after the run
    if (fresh) await fresh.then((c) => c.close(), () => {});
  }
}

/** After a rollback: dpkg must show exactly the versions the host had before. A query that
 * cannot run (sudo refused, connection lost) leaves the host failed, the reason saying both why
 * it was rolled back and why that is unconfirmed. */
async function verifyRestored(h: HostRun, m: Packages, before: PackageHostState, reason: string): Promise<HostOutcome> {
  const names = m.packages.debs.map((d) => d.name);
  let after: PackageHostState;
  try {
    after = await h.step('verify-rollback', () => queryPackages(h.conn, names, h.ctx.config.remoteDir), (s) => ({ detail: s.packages.map((p) => `${p.name} ${p.installed ?? 'absent'}`).join(', ') }));
  } catch (err) {
    const info = errorInfo(err);
    if (isUnreachable(info.code)) throw err;
    return h.finish('failed', `${reason}; then rolled back, unconfirmed: dpkg could not be queried afterwards to check that ${names.join(', ')} are back at their previous versions (${reason.includes(info.message) ? 'the same error' : info.message})`);
  }
  const differ = names.filter((n) => (before.packages.find((p) => p.name === n)?.installed ?? null) !== (after.packages.find((p) => p.name === n)?.installed ?? null));
  if (differ.length) return h.finish('rollback-failed', `${reason}; and ${differ.join(', ')} did not return to the previous version`);
  return h.finish('rolled-back', reason);
}

export async function rollbackPackages(h: HostRun, m: Packages): Promise<HostOutcome> {
  try {
    const r = await h.step('rollback', () => h.helper(['pkg-rollback', '--op', h.opId, '--bundle', m.id, '--serial', String(m.serial)]), (r) => ({ detail: String(r.result.outcome) }));
    h.remoteSteps(r.lines);
    if (r.result.outcome === 'not-applied') return h.finish('not-applicable', `${m.id} is not applied here`);
  } catch (err) {
    const info = errorInfo(err);
    if (info.code === 'rollback-failed') return h.finish('rollback-failed', info.message);
    throw err;
  }
  return h.finish('rolled-back', 'rolled back on request: the previous package versions are reinstalled');
}
