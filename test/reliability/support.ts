/** Reliability suite support: a lab, the CLI (in-process or as a controller process that can be
 * SIGKILLed), and the verdict — every host's REAL state (plain ssh: dpkg-query, dpkg --audit, the
 * helper journal) compared with what the database says (host_results, steps, runs). The tool's own
 * report (exit codes, --json output) is never what a verdict rests on.
 *
 * Each fault adds one row (fault | hosts affected | final states | discrepancies) to
 * test/reliability/results/rows.json, and test/reliability/results/latest.md is rewritten from
 * the rows after each one. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { labDown, labUp } from '../../server/lab/index.ts';
import { runningPid, type LabHost } from '../../server/lab/namespace-host.ts';
import { cli, freePort, labHosts, labVms, newLabDir, sshRun } from '../support/lab.ts';

export const BASE = '1.0';
/** fp-demo's version once each example bundle is applied. */
export const BUNDLE_VERSION: Record<string, string> = { 'fp-demo-pkg': '1.1', 'fp-demo-pkg-bad': '1.2', 'fp-test-slow-check': '1.1' };
const IN_FLIGHT = new Set(['intent', 'loaded', 'saved', 'installing', 'installed', 'rollback-intent']);
const FINAL_RUN = new Set(['succeeded', 'failed', 'halted', 'cancelled']);
const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Lab {
  dir: string;
  config: string;
  inventory: string;
  hosts: LabHost[];
  /** The database the config names (the lab's own, or another written by `withDatabase`). */
  database: string;
}

export async function startLab(count: number): Promise<Lab> {
  const dir = newLabDir();
  await labUp(dir, count, await freePort());
  return { dir, config: join(dir, 'fleetpatch.json'), inventory: join(dir, 'inventory.ini'), hosts: labHosts(dir), database: join(dir, 'fleetpatch.db') };
}

export async function stopLab(lab: Lab): Promise<void> {
  await labDown(lab.dir, true);
}

/** A controller config like the lab's, with its database at `database` (absolute paths). */
export function withDatabase(lab: Lab, database: string): Lab {
  const config = join(lab.dir, `fleetpatch-${Date.now()}.json`);
  writeFileSync(config, JSON.stringify({ knownHostsFiles: [join(lab.dir, 'known_hosts')], database, trustedKeysDir: join(lab.dir, 'trusted-keys'), sshConfigFile: null }, null, 2));
  return { ...lab, config, database };
}

export const bundle = (lab: Lab, name: string) => join(lab.dir, 'bundles', name);
export const host = (lab: Lab, name: string) => lab.hosts.find((h) => h.name === name)!;

export interface HostRow {
  inventoryName: string;
  state: string;
  reason: string | null;
}
export interface RunOut {
  code: number;
  run: { id: number; state: string } | null;
  hosts: HostRow[];
  err: string;
}

/** The CLI in-process, with --json. */
export async function fp(lab: Lab, ...args: string[]): Promise<RunOut> {
  const r = await cli([...args, '--config', lab.config, '--json']);
  let data: { run?: { id: number; state: string }; hosts?: HostRow[] } | null = null;
  try {
    data = JSON.parse(r.out || 'null');
  } catch {
    data = null;
  }
  return { code: r.code, run: data?.run ?? null, hosts: data?.hosts ?? [], err: r.err };
}

export const apply = (lab: Lab, name: string, ...extra: string[]) => fp(lab, 'run', '-i', lab.inventory, '--bundle', bundle(lab, name), ...extra);
export const rollback = (lab: Lab, name: string, ...extra: string[]) => fp(lab, 'rollback', '-i', lab.inventory, '--bundle', bundle(lab, name), ...extra);

/** The CLI as a controller process of its own (so it can be SIGKILLed), stderr kept. */
export function controller(lab: Lab, ...args: string[]): { p: ChildProcess; exited: Promise<number | null>; stderr: () => string; stdout: () => string } {
  const p = spawn('node', ['--import', 'tsx', 'server/main.ts', ...args, '--config', lab.config, '--json'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const err: Buffer[] = [];
  const out: Buffer[] = [];
  p.stderr!.on('data', (d: Buffer) => err.push(d));
  p.stdout!.on('data', (d: Buffer) => out.push(d));
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  return { p, exited, stderr: () => Buffer.concat(err).toString('utf8'), stdout: () => Buffer.concat(out).toString('utf8') };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 60_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a shell command on the host over plain ssh; throws on failure. */
export function sh(lab: Lab, h: LabHost, command: string): string {
  const r = sshRun(lab.dir, h, command);
  if (r.status !== 0) throw new Error(`${h.name}: ${command}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A path inside the running host's mount namespace, seen from the machine (/proc/PID/root),
 * to watch the host without an SSH connection of our own. */
export function insideHost(lab: Lab, h: LabHost, path: string): string | null {
  const pid = runningPid(lab.dir, h.name);
  if (pid === null) return null;
  try {
    const init = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return init ? `/proc/${init}/root${path}` : null;
  } catch {
    return null;
  }
}

export interface RealState {
  version: string | null;
  audit: string;
  /** op → latest state in the helper journal. */
  journal: Map<string, string>;
}

/** What is really on the host, over plain ssh (not through fleetpatch). */
export function realState(lab: Lab, h: LabHost): RealState {
  const out = sh(lab, h, "dpkg-query -W -f='${Version}' fp-demo 2>/dev/null; echo; echo '--audit--'; dpkg --audit 2>&1; echo '--journal--'; cat /var/lib/fleetpatch/journal 2>/dev/null || true");
  const [version, rest] = out.split('\n--audit--\n') as [string, string];
  const [audit, journalText] = rest.split('--journal--\n') as [string, string];
  const journal = new Map<string, string>();
  for (const line of journalText.split('\n')) {
    const f = line.split('\t');
    if (f.length >= 3) journal.set(f[1]!, f[2]!);
  }
  return { version: version.trim() || null, audit: audit.trim(), journal };
}

interface DbHostResult {
  id: number;
  run_id: number;
  inventory_name: string;
  state: string;
  op_id: string | null;
  kind: string;
  bundle_id: string;
  run_state: string;
}

/** What the database says, read directly (not through the CLI). */
export function dbState(database: string): { results: DbHostResult[]; runningSteps: { inventory_name: string; name: string; run_id: number }[]; runs: { id: number; state: string }[] } {
  const db = new Database(database, { readonly: true, fileMustExist: true });
  try {
    const results = db
      .prepare('SELECT hr.id, hr.run_id, hr.inventory_name, hr.state, hr.op_id, r.kind, r.bundle_id, r.state AS run_state FROM host_results hr JOIN runs r ON r.id = hr.run_id ORDER BY hr.id')
      .all() as DbHostResult[];
    const runningSteps = db
      .prepare("SELECT hr.inventory_name, s.name, hr.run_id FROM steps s JOIN host_results hr ON hr.id = s.host_result_id WHERE s.status = 'running'")
      .all() as { inventory_name: string; name: string; run_id: number }[];
    const runs = db.prepare('SELECT id, state FROM runs ORDER BY id').all() as { id: number; state: string }[];
    return { results, runningSteps, runs };
  } finally {
    db.close();
  }
}

export function integrityCheck(database: string): string {
  const db = new Database(database, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]).map((r) => r.integrity_check).join('\n');
  } finally {
    db.close();
  }
}

export interface Verdict {
  /** Every host's final DB state and real version, e.g. `applied (1.1)`. */
  states: Record<string, string>;
  discrepancies: string[];
  /** Steps of this fault's runs still `running` in the database though their run is finished (a
   * controller SIGKILLed mid-step: resume does not close them; a step the helper reported as
   * started on a host lost before it reported the end). Reported apart, as a bug. */
  staleSteps: string[];
}

/** Compares every host's real state with the database's history of it. The database's record
 * for a host, replayed in order from fp-demo BASE, gives the version it must have: applied /
 * already-applied → the bundle's version; rolled-back in a rollback run → BASE; anything else in an
 * apply run (failed, rolled-back, skipped, not-applicable) → unchanged; unreachable → unknown
 * until a later record settles it. Then: the version must match, dpkg --audit must be clean, no
 * journal operation may be in flight, the op of an applied host must be committed in the journal
 * (and that of a failed or rolled-back one not committed), no run may be left running or
 * interrupted, and no step may be left `running`. */
export function verdict(lab: Lab, names: string[] = lab.hosts.map((h) => h.name), sinceRun = 0): Verdict {
  const db = dbState(lab.database);
  const states: Record<string, string> = {};
  const discrepancies: string[] = [];
  const staleSteps: string[] = [];
  for (const r of db.runs) if (r.id > sinceRun && !FINAL_RUN.has(r.state)) discrepancies.push(`run ${r.id} is ${r.state}`);
  for (const s of db.runningSteps) if (s.run_id > sinceRun && names.includes(s.inventory_name)) staleSteps.push(`${s.inventory_name}: step ${s.name} of run ${s.run_id} left running`);
  for (const name of names) {
    const real = realState(lab, host(lab, name));
    let expected: string | null = BASE;
    let last: DbHostResult | null = null;
    for (const r of db.results.filter((x) => x.inventory_name === name)) {
      last = r;
      if (r.state === 'applied' || r.state === 'already-applied') expected = r.kind === 'rollback' ? BASE : (BUNDLE_VERSION[r.bundle_id] ?? `? (${r.bundle_id})`);
      else if (r.state === 'rolled-back' && r.kind === 'rollback') expected = BASE;
      else if (r.state === 'unreachable' || r.state === 'running' || r.state === 'pending' || r.state === 'rollback-failed') expected = null;
    }
    states[name] = `${last?.state ?? 'none'} (${real.version ?? 'absent'})`;
    if (expected === null) discrepancies.push(`${name}: the database does not know its state (last record: run ${last?.run_id} ${last?.state}); the host has ${real.version}`);
    else if (real.version !== expected) discrepancies.push(`${name}: the database says fp-demo ${expected} (run ${last?.run_id} ${last?.state}), the host has ${real.version}`);
    if (real.audit) discrepancies.push(`${name}: dpkg --audit is not clean: ${real.audit.split('\n')[0]}`);
    for (const [op, state] of real.journal) if (IN_FLIGHT.has(state)) discrepancies.push(`${name}: journal op ${op} still ${state}`);
    if (last?.op_id) {
      const j = real.journal.get(last.op_id);
      if (last.state === 'applied' && last.kind === 'apply' && j !== 'committed') discrepancies.push(`${name}: run ${last.run_id} says applied, the journal has op ${last.op_id} ${j ?? 'absent'}`);
      if ((last.state === 'failed' || last.state === 'rolled-back') && j === 'committed') discrepancies.push(`${name}: run ${last.run_id} says ${last.state}, the journal has op ${last.op_id} committed`);
    }
  }
  return { states, discrepancies, staleSteps };
}

/** Host states of a verdict, summarised: `3 applied (1.1), 1 rolled-back (1.0)`. */
export function summarise(states: Record<string, string>): string {
  const counts = new Map<string, number>();
  for (const s of Object.values(states)) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts.entries()].map(([s, n]) => `${n} ${s}`).join(', ');
}

export interface ResultRow {
  fault: string;
  hosts: string;
  finalStates: string;
  discrepancies: number;
  /** Step rows left `running` in finished runs (not counted as discrepancies; reported as a bug). */
  staleSteps: number;
  details?: string[];
  seconds: number;
  at: string;
}

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Records one fault's row and rewrites results/latest.md; prints the row. */
export function recordRow(row: Omit<ResultRow, 'at'>, order: string): void {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'rows.json');
  let rows: Record<string, ResultRow & { order: string }> = {};
  try {
    rows = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    rows = {};
  }
  rows[row.fault] = { ...row, at: new Date().toISOString(), order };
  writeFileSync(`${file}.tmp`, JSON.stringify(rows, null, 2));
  renameSync(`${file}.tmp`, file);
  const sorted = Object.values(rows).sort((a, b) => a.order.localeCompare(b.order));
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const md = [
    '# Reliability suite: latest results',
    '',
    'Every verdict compares each host\'s real state over plain ssh (`dpkg-query -W fp-demo`, `dpkg --audit`, the helper journal) with the database (runs, host_results, steps). Written by `npm run test:reliability` (and the CI subset, test/e2e/reliability/subset.test.ts).',
    '',
    '| fault | hosts affected | final states (DB state (real version)) | discrepancies | stale step rows | s | at |',
    '|---|---|---|---|---|---|---|',
    ...sorted.map((r) => `| ${esc(r.fault)} | ${esc(r.hosts)} | ${esc(r.finalStates)} | ${r.discrepancies} | ${r.staleSteps ?? 0} | ${r.seconds.toFixed(1)} | ${r.at.slice(0, 19)}Z |`),
    '',
    ...sorted.filter((r) => r.details?.length).flatMap((r) => [`## ${r.fault}`, '', ...r.details!.map((d) => `- ${d}`), '']),
  ].join('\n');
  writeFileSync(join(RESULTS, 'latest.md'), md);
  console.log(`| ${row.fault} | ${row.hosts} | ${row.finalStates} | ${row.discrepancies} | stale steps: ${row.staleSteps} |`);
}

/** Runs one fault scenario: `fn` injects the fault and drives the fleet back to a settled state;
 * then the verdict is taken over `names`, the row recorded, and no discrepancy allowed. */
export async function fault(order: string, name: string, affected: string, names: string[] | null, lab: Lab, fn: () => Promise<string[] | void>): Promise<Verdict> {
  const t0 = Date.now();
  let since = 0;
  try {
    since = Math.max(0, ...dbState(lab.database).runs.map((r) => r.id));
  } catch {
    since = 0; // no database yet
  }
  const notes = (await fn()) ?? [];
  const v = verdict(lab, names ?? undefined, since);
  // a scenario reports what it saw go wrong itself (a run that hung…) as `DISCREPANCY: …`
  v.discrepancies.push(...notes.filter((n) => n.startsWith('DISCREPANCY: ')).map((n) => n.slice('DISCREPANCY: '.length)));
  recordRow({ fault: name, hosts: affected, finalStates: summarise(v.states), discrepancies: v.discrepancies.length, staleSteps: v.staleSteps.length, details: [...notes.filter((n) => !n.startsWith('DISCREPANCY: ')), ...v.discrepancies.map((d) => `**discrepancy**: ${d}`), ...v.staleSteps.map((d) => `stale step row (left running in a finished run): ${d}`)], seconds: (Date.now() - t0) / 1000 }, order);
  assert.deepEqual(v.discrepancies, [], `${name}: the hosts and the database disagree`);
  return v;
}

/** Puts every host back at fp-demo BASE (a rollback run), and checks it really is. */
export async function reset(lab: Lab): Promise<void> {
  await rollback(lab, 'pkg-good');
  for (const h of lab.hosts) {
    const real = realState(lab, h);
    assert.equal(real.version, BASE, `${h.name} back at ${BASE}`);
  }
}

/** The example .debs, built by native/packages/build.sh. */
export const DEBS = join(REPO, 'native/packages/build');

/** A signed lab bundle installing fp-demo 1.1 whose check sleeps `seconds` (time to catch the host
 * between the install and the verdict). */
export async function slowCheckBundle(lab: Lab, seconds = 20): Promise<string> {
  const { writeLabBundle } = await import('../../server/lab/example-bundles.ts');
  const deb = { name: 'fp-demo', version: '1.1', arch: 'all', file: 'debs/fp-demo_1.1_all.deb' };
  return writeLabBundle(lab.dir, 'test-slow-check', { id: 'fp-test-slow-check', serial: 1, kind: 'packages', title: 'TEST: a slow check', packages: { debs: [deb] }, checks: [{ argv: ['sleep', String(seconds)], exitCode: 0 }] }, { [deb.file]: join(DEBS, 'fp-demo_1.1_all.deb') });
}

/** True when the file exists inside the running host (false when it does not, or the host is down). */
export function existsInside(lab: Lab, h: LabHost, path: string): boolean {
  const p = insideHost(lab, h, path);
  if (!p) return false;
  try {
    readFileSync(p);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EISDIR';
  }
}

/** The last line of the host's helper journal, read from outside (no ssh). */
export function lastJournalLine(lab: Lab, h: LabHost): string {
  const p = insideHost(lab, h, '/var/lib/fleetpatch/journal');
  try {
    return p ? (readFileSync(p, 'utf8').trim().split('\n').pop() ?? '') : '';
  } catch {
    return '';
  }
}

/** Every file in the host's fleetpatch cache and helper directory is whole: its sha256 is its
 * name, and no temporary upload directory is left there. Returns the problems. */
export function cacheProblems(lab: Lab, h: LabHost): string[] {
  const out = sh(lab, h, "cd /var/lib/fleetpatch 2>/dev/null || exit 0; for f in cache/* bin/*; do [ -e \"$f\" ] || continue; echo \"$f $(sha256sum < \"$f\" | cut -d' ' -f1)\"; done; ls -a cache bin . 2>/dev/null | grep -E '^\\.upload' || true; ls -a /tmp | grep -E '^\\.fleetpatch-upload' | sed 's/^/tmp:/' || true");
  const problems: string[] = [];
  for (const line of out.trim().split('\n').filter(Boolean)) {
    if (line.startsWith('tmp:')) continue; // /tmp: see tmpLeftovers
    if (line.startsWith('.upload')) {
      problems.push(`${h.name}: temporary upload left in /var/lib/fleetpatch: ${line}`);
      continue;
    }
    const [file, sum] = line.split(' ') as [string, string];
    const name = file.replace(/^(cache|bin)\//, '').replace(/^helper-/, '');
    if (/^[0-9a-f]{64}$/.test(name) && name !== sum) problems.push(`${h.name}: ${file} is not whole (sha256 ${sum})`);
  }
  return problems;
}

/** The reliability suite runs under `npm run test:reliability` (or with FP_RELIABILITY=1); the
 * globs of `npm test` and `npm run test:unit` (test/*\/*.test.ts) also match its files, and
 * there they skip: the CI subset is test/e2e/reliability/subset.test.ts. */
export const RELIABILITY = process.env.npm_lifecycle_event === 'test:reliability' || process.env.FP_RELIABILITY === '1';
export const SKIP: string | false = RELIABILITY ? false : 'reliability suite: npm run test:reliability (or FP_RELIABILITY=1)';

/** True while an upload to the host is in flight, seen from outside: a temporary upload directory
 * of the helper's (`/var/lib/fleetpatch/{bin,cache}/.upload.*`), a payload being unpacked from the
 * helper's stdin (`cache/.SHA.part`) or an SFTP upload file in /tmp. */
export function uploadInFlight(lab: Lab, h: LabHost): boolean {
  const upload = (f: string) => f.startsWith('.upload.');
  const partial = (f: string) => upload(f) || /^\.[0-9a-f]{64}\.part$/.test(f);
  const places: [string, (f: string) => boolean][] = [
    ['/var/lib/fleetpatch/bin', upload],
    ['/var/lib/fleetpatch/cache', partial],
    ['/var/lib/fleetpatch', upload],
    ['/tmp', (f) => f.startsWith('.fleetpatch-upload-')],
  ];
  for (const [dir, inFlight] of places) {
    const p = insideHost(lab, h, dir);
    try {
      if (p && readdirSync(p).some(inFlight)) return true;
    } catch {
      // not there (yet)
    }
  }
  return false;
}

/** Forgets the helper and payloads on the host (its next contact pushes the 0.7 MB helper again),
 * slows its link to `rate` and starts an apply on it in a controller process of its own (a hung
 * run can be SIGKILLed and resumed); resolves once the upload is in flight. */
export async function startSlowUpload(lab: Lab, h: LabHost, rate = '256kbit'): Promise<ReturnType<typeof controller>> {
  const { labSlow } = await import('../../server/lab/index.ts');
  sh(lab, h, 'rm -f /var/lib/fleetpatch/bin/* /var/lib/fleetpatch/cache/*');
  await labSlow(lab.dir, h.name, rate);
  const c = controller(lab, 'run', '-i', lab.inventory, '--bundle', bundle(lab, 'pkg-good'), '--limit', h.name);
  try {
    await waitFor(() => uploadInFlight(lab, h), 60_000, 'upload in flight');
  } catch (err) {
    c.p.kill('SIGKILL');
    throw err;
  }
  await sleep(1_500);
  return c;
}

/** Waits up to `ms` for the controller to exit; a controller still running then is SIGKILLed.
 * Returns its exit code, or null when it had to be killed. */
export async function exitOrKill(c: ReturnType<typeof controller>, ms: number): Promise<number | null> {
  const exited = await Promise.race([c.exited.then(() => true), sleep(ms).then(() => false)]);
  if (exited) return c.exited;
  c.p.kill('SIGKILL');
  await c.exited;
  return null;
}

/** The last run's id and state, and its host results, from the database. */
export function lastRun(lab: Lab): { id: number; state: string; hosts: { inventory_name: string; state: string }[] } {
  const s = dbState(lab.database);
  const run = s.runs.at(-1)!;
  return { ...run, hosts: s.results.filter((r) => r.run_id === run.id) };
}

/** `fleetpatch resume RUN` in a controller process; returns its exit code. */
export async function resume(lab: Lab, id: number): Promise<number | null> {
  await markDead(lab);
  const c = controller(lab, 'resume', String(id));
  return c.exited;
}

/** `fleetpatch runs`: marks runs whose owner died as interrupted (what an operator sees before
 * resuming). */
export async function markDead(lab: Lab): Promise<void> {
  await cli(['runs', '--config', lab.config, '--json']);
}

/** Partial SFTP upload files (/tmp/.fleetpatch-upload-*.tar) left on the host, with their sizes. */
export function tmpLeftovers(lab: Lab, h: LabHost): string[] {
  return sh(lab, h, 'for f in /tmp/.fleetpatch-upload-*; do [ -e "$f" ] && echo "$f $(stat -c %s "$f") bytes"; done; true').trim().split('\n').filter(Boolean);
}

/** The login user the sudo faults (07) make on lab hosts. */
export const SUDO_LOGIN = 'fpadmin';
/** Its NOPASSWD rule: the drop-in the sudo faults remove or change mid-run. */
export const SUDOERS_DROPIN = '/etc/sudoers.d/fp-reliability';

/** Makes `SUDO_LOGIN` on the host (home in the host's own /opt, the lab's key, NOPASSWD sudo
 * through `SUDOERS_DROPIN`) and adds a PAM session hook to sudo that holds any sudo whose command
 * line contains the text in /run/fp-sudo-hold, after sudo has let it through and before the
 * command runs, touching /run/fp-sudo-held meanwhile: a host caught inside an exec that already
 * became root, so sudo can be broken before the next one. */
export function addSudoLogin(lab: Lab, h: LabHost): void {
  sh(
    lab,
    h,
    `set -e
mkdir -p /opt/home
id ${SUDO_LOGIN} >/dev/null 2>&1 || useradd -m -d /opt/home/${SUDO_LOGIN} -s /bin/sh -p '*' ${SUDO_LOGIN}
install -d -m 700 -o ${SUDO_LOGIN} -g ${SUDO_LOGIN} /opt/home/${SUDO_LOGIN}/.ssh
install -m 600 -o ${SUDO_LOGIN} -g ${SUDO_LOGIN} /root/.ssh/authorized_keys /opt/home/${SUDO_LOGIN}/.ssh/authorized_keys
mkdir -p /usr/local/sbin
cat > /usr/local/sbin/fp-sudo-hold <<'HOOK'
#!/bin/sh
[ "$PAM_TYPE" = open_session ] && [ -e /run/fp-sudo-hold ] || exit 0
tr '\\000' ' ' < /proc/$PPID/cmdline | grep -qF -- "$(cat /run/fp-sudo-hold)" || exit 0
touch /run/fp-sudo-held
while [ -e /run/fp-sudo-hold ]; do sleep 0.1; done
HOOK
chmod 755 /usr/local/sbin/fp-sudo-hold
grep -q fp-sudo-hold /etc/pam.d/sudo || echo 'session optional pam_exec.so seteuid /usr/local/sbin/fp-sudo-hold' >> /etc/pam.d/sudo`,
  );
  setSudo(lab, h, 'nopasswd');
}

/** The login user's sudo rule: NOPASSWD, a password required (it has none), or no rule at all. */
export function setSudo(lab: Lab, h: LabHost, rule: 'nopasswd' | 'password' | 'none'): void {
  if (rule === 'none') sh(lab, h, `rm -f ${SUDOERS_DROPIN}`);
  else sh(lab, h, `printf '%s\\n' '${SUDO_LOGIN} ALL=(ALL:ALL) ${rule === 'nopasswd' ? 'NOPASSWD: ' : ''}ALL' > ${SUDOERS_DROPIN}.new && chmod 440 ${SUDOERS_DROPIN}.new && visudo -cqf ${SUDOERS_DROPIN}.new && mv ${SUDOERS_DROPIN}.new ${SUDOERS_DROPIN}`);
}

/** The lab with an inventory of its own in which `names` log in as `SUDO_LOGIN` and become root
 * with sudo (ansible_become=true); the other hosts still log in as root. */
export function withSudoInventory(lab: Lab, names: string[]): Lab {
  const inventory = join(lab.dir, 'inventory-sudo.ini');
  const lines = readFileSync(lab.inventory, 'utf8').split('\n').map((l) => {
    const name = l.split(/\s+/)[0]!;
    return names.includes(name) && /\bansible_host=/.test(l) ? `${l} ansible_user=${SUDO_LOGIN} ansible_become=true` : l;
  });
  writeFileSync(inventory, lines.join('\n'));
  return { ...lab, inventory };
}

/** A reliability lab of `count` VMs only (qemu, Debian's own kernel): `hosts` are the VMs. */
export async function startVmLab(count: number): Promise<Lab> {
  const dir = newLabDir();
  await labUp(dir, 0, await freePort(), count);
  return { dir, config: join(dir, 'fleetpatch.json'), inventory: join(dir, 'inventory.ini'), hosts: labVms(dir), database: join(dir, 'fleetpatch.db') };
}

export interface RealLivepatch {
  /** patch → `enabled transition` as read from /sys/kernel/livepatch/<patch>/. */
  patches: Map<string, string>;
  /** fp_* modules in /proc/modules. */
  modules: string[];
  /** op → latest state in the helper journal. */
  journal: Map<string, string>;
}

/** What a VM really runs, over plain ssh (not through fleetpatch). */
export function realLivepatch(lab: Lab, h: LabHost): RealLivepatch {
  const out = sh(lab, h, 'for d in /sys/kernel/livepatch/*; do [ -d "$d" ] && echo "patch ${d##*/} $(cat $d/enabled) $(cat $d/transition)"; done; grep -o "^fp_[a-z0-9_]*" /proc/modules | sed "s/^/module /"; sed "s/^/journal /" /var/lib/fleetpatch/journal 2>/dev/null; true');
  const real: RealLivepatch = { patches: new Map(), modules: [], journal: new Map() };
  for (const line of out.split('\n')) {
    const [kind, ...rest] = line.split(' ');
    if (kind === 'patch') real.patches.set(rest[0]!, rest.slice(1).join(' '));
    if (kind === 'module') real.modules.push(rest[0]!);
    const f = rest.join(' ').split('\t');
    if (kind === 'journal' && f.length >= 3) real.journal.set(f[1]!, f[2]!);
  }
  return real;
}

/** The livepatch counterpart of `verdict`. The database's record for a VM, replayed in order,
 * gives the patches it must run: applied / already-applied in an apply run → the bundle's patch;
 * rolled-back (apply or rollback run) or applied in a rollback run → gone; failed, skipped,
 * not-applicable → unchanged; unreachable, running, pending, rollback-failed → unknown. Then the
 * VM's enabled patches (each with transition 0) must be exactly those, and exactly what the
 * database believes in effect (host_patches, the basis of drift); every fp_ module but
 * `extraModules` must be one of its patches (no module left behind a reversed patch); no journal
 * operation may be in flight; an applied op must be committed, a failed or rolled-back one not. */
export function livepatchVerdict(lab: Lab, sinceRun: number, extraModules: string[] = []): Verdict {
  const patchOf = new Map<string, string>();
  for (const name of readdirSync(join(lab.dir, 'bundles'))) {
    try {
      const m = JSON.parse(readFileSync(join(lab.dir, 'bundles', name, 'bundle.json'), 'utf8')) as { id: string; livepatch?: { patch: string } };
      if (m.livepatch) patchOf.set(m.id, m.livepatch.patch);
    } catch {
      // not a bundle directory
    }
  }
  const db = dbState(lab.database);
  const sqlite = new Database(lab.database, { readonly: true, fileMustExist: true });
  const believed = (name: string) => (sqlite.prepare('SELECT hp.patch FROM host_patches hp JOIN host_names hn ON hn.host_id = hp.host_id WHERE hn.inventory_name = ? ORDER BY hp.patch').all(name) as { patch: string }[]).map((r) => r.patch);
  const states: Record<string, string> = {};
  const discrepancies: string[] = [];
  const staleSteps = db.runningSteps.filter((s) => s.run_id > sinceRun).map((s) => `${s.inventory_name}: step ${s.name} of run ${s.run_id} left running`);
  for (const r of db.runs) if (r.id > sinceRun && !FINAL_RUN.has(r.state)) discrepancies.push(`run ${r.id} is ${r.state}`);
  try {
    for (const h of lab.hosts) {
      const real = realLivepatch(lab, h);
      let expected: Set<string> | null = new Set();
      let last: DbHostResult | null = null;
      for (const r of db.results.filter((x) => x.inventory_name === h.name)) {
        last = r;
        const patch = patchOf.get(r.bundle_id) ?? `? (${r.bundle_id})`;
        if (['unreachable', 'running', 'pending', 'rollback-failed'].includes(r.state)) expected = null;
        else if (r.kind === 'apply' && (r.state === 'applied' || r.state === 'already-applied')) expected?.add(patch);
        else if (r.state === 'rolled-back' || (r.kind === 'rollback' && r.state === 'applied')) expected?.delete(patch);
      }
      const enabled = [...real.patches.keys()].sort();
      states[h.name] = `${last?.state ?? 'none'} (${enabled.join('+') || 'unpatched'})`;
      if (expected === null) discrepancies.push(`${h.name}: the database does not know its state (last record: run ${last?.run_id} ${last?.state}); the VM runs ${enabled.join(', ') || 'no livepatch'}`);
      else if (JSON.stringify([...expected].sort()) !== JSON.stringify(enabled)) discrepancies.push(`${h.name}: the database says ${[...expected].join(', ') || 'no livepatch'} (run ${last?.run_id} ${last?.state}), /sys/kernel/livepatch has ${enabled.join(', ') || 'none'}`);
      if (JSON.stringify(believed(h.name)) !== JSON.stringify(enabled)) discrepancies.push(`${h.name}: host_patches says ${believed(h.name).join(', ') || 'none'}, /sys/kernel/livepatch has ${enabled.join(', ') || 'none'}`);
      for (const [patch, st] of real.patches) if (st !== '1 0') discrepancies.push(`${h.name}: ${patch} enabled/transition is ${st}`);
      for (const m of real.modules) if (!real.patches.has(m) && !extraModules.includes(m)) discrepancies.push(`${h.name}: module ${m} is loaded without its livepatch`);
      for (const [op, state] of real.journal) if (IN_FLIGHT.has(state)) discrepancies.push(`${h.name}: journal op ${op} still ${state}`);
      const j = last?.op_id ? real.journal.get(last.op_id) : undefined;
      if (last?.op_id && last.state === 'applied' && last.kind === 'apply' && j !== 'committed') discrepancies.push(`${h.name}: run ${last.run_id} says applied, the journal has op ${last.op_id} ${j ?? 'absent'}`);
      if (last?.op_id && (last.state === 'failed' || last.state === 'rolled-back') && last.kind === 'apply' && j === 'committed') discrepancies.push(`${h.name}: run ${last.run_id} says ${last.state}, the journal has op ${last.op_id} committed`);
    }
  } finally {
    sqlite.close();
  }
  return { states, discrepancies, staleSteps };
}

/** `fault` for VMs: runs `fn`, takes the livepatch verdict over every VM, records the row and
 * allows no discrepancy. */
export async function livepatchFault(order: string, name: string, affected: string, lab: Lab, fn: () => Promise<string[]>, extraModules: string[] = []): Promise<Verdict> {
  const t0 = Date.now();
  const since = latestRunId(lab);
  const notes = await fn();
  const v = livepatchVerdict(lab, since, extraModules);
  recordRow({ fault: name, hosts: affected, finalStates: summarise(v.states), discrepancies: v.discrepancies.length, staleSteps: v.staleSteps.length, details: [...notes, ...v.discrepancies.map((d) => `**discrepancy**: ${d}`), ...v.staleSteps.map((d) => `stale step row (left running in a finished run): ${d}`)], seconds: (Date.now() - t0) / 1000 }, order);
  assert.deepEqual(v.discrepancies, [], `${name}: the VMs and the database disagree`);
  return v;
}

/** The newest run's id in the lab's database; 0 when it has none yet. */
function latestRunId(lab: Lab): number {
  try {
    return Math.max(0, ...dbState(lab.database).runs.map((r) => r.id));
  } catch {
    return 0; // no database yet
  }
}
