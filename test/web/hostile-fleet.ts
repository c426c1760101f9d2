/** A console over a database and a fleet full of hostile strings (issue 10): each field that can
 * reach a page carries `hostile(label)`, a script tag, an attribute break-out with an event
 * handler and a javascript: link, after a label naming the field. Hosts refuse connections
 * (closed loopback ports), so plans and runs finish at once. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../server/config.ts';
import type { Db } from '../../server/db/index.ts';
import { saveFacts } from '../../server/db/hosts.ts';
import { insertEvent, insertHostResult, insertRun, insertStep, recordPatch } from '../../server/db/runs.ts';
import { recordAudit } from '../../server/db/users.ts';
import { writeLabBundle } from '../../server/lab/example-bundles.ts';
import type { Fleet } from '../../server/web/fleet.ts';
import { RunManager } from '../../server/web/launch.ts';
import { freePort } from '../support/lab.ts';
import { facts, webFixture } from './fixture.ts';

export const hostile = (label: string): string => `${mark(label)}<script>alert(1)</script>"><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>`;

/** Line breaks that would end a server-sent event and forge the next (an early end, a later id). */
const SSE_BREAK = '\r\nevent: end\r\nid: 999999\r\n\r\ndata: ';

/** How a label shows in a page: distinct from every other label's. */
export const mark = (label: string): string => `%${label}%`;

/** The labels of every field seeded with hostile(label). */
export const SEEDED: string[] = [];
const h = (label: string): string => (SEEDED.includes(label) || SEEDED.push(label), hostile(label));

/** An inventory (YAML: names may hold any character) and a library of one trusted bundle with a
 * hostile title, and refused bundles whose id or CVE id is hostile. */
async function hostileFleet(): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-web-hostile-'));
  const deb = join(dir, 'x.deb');
  writeFileSync(deb, 'a payload only hashed');
  const debs = [{ name: 'fp-x', version: '1.1', arch: 'all', file: 'debs/fp-x_1.1_all.deb' }];
  await writeLabBundle(dir, 'crit', { id: 'crit-fix', serial: 1, kind: 'packages', title: h('bundle-title'), severity: 'critical', cves: ['CVE-2026-99003'], packages: { debs } }, { 'debs/fp-x_1.1_all.deb': deb });
  // unsigned, so refused before its manifest is read: its hostile id and CVE id are never shown
  mkdirSync(join(dir, 'bundles/unsigned'));
  writeFileSync(join(dir, 'bundles/unsigned/bundle.json'), JSON.stringify({ schema: 1, id: h('bundle-id'), serial: 1, kind: 'packages', title: 't', severity: 'high', cves: [h('bundle-cve')], packages: { debs } }));
  const [p1, p2] = [await freePort(), await freePort()];
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  const yaml = (s: string) => JSON.stringify(s); // JSON strings are YAML strings
  const inventory = [
    'all:',
    '  vars:',
    `    ansible_ssh_private_key_file: ${yaml(join(dir, 'id_ed25519'))}`,
    `    ansible_user: ${yaml(h('inventory-user'))}`,
    '  children:',
    '    web:',
    '      hosts:',
    `        ${yaml(h('inventory-name'))}: { ansible_host: 127.0.0.1, ansible_port: ${p1} }`,
    `        web-b: { ansible_host: 127.0.0.1, ansible_port: ${p2}, note: ${yaml(h('inventory-var'))} }`,
  ].join('\n');
  writeFileSync(join(dir, 'inventory.yml'), `${inventory}\n`);
  writeFileSync(join(dir, 'known_hosts'), '');
  const config = { ...defaultConfig(dir), knownHostsFiles: [join(dir, 'known_hosts')], trustedKeysDir: join(dir, 'trusted-keys'), sshConfigFile: null, connectTimeoutMs: 3000 };
  return { inventories: [join(dir, 'inventory.yml')], bundlesDir: join(dir, 'bundles'), config, loadOptions: { ansibleCfg: null } };
}

/** Facts, runs (one finished, one running), host results, steps, events, patches and audit
 * entries, every free-text field hostile. */
function seed(db: Db): { finished: number; running: number; hostId: number; /** in the finished run */ hostResult: number } {
  const f = facts('1'.repeat(32), h('fact-hostname'));
  f.os.pretty_name = h('fact-os');
  f.uname.release = h('fact-kernel');
  f.kernel_build_id = h('fact-build-id');
  f.lockdown = h('fact-lockdown');
  f.livepatches = [{ name: h('fact-livepatch'), enabled: 1, transition: 0, objects: [] }];
  const hostId = saveFacts(db, h('host-name'), '10.0.0.9', f);
  const run = (state: string) =>
    insertRun(db, {
      kind: 'apply',
      state,
      bundleId: h('run-bundle-id'),
      bundleSerial: 1,
      bundleSha256: 'e'.repeat(64),
      bundleTitle: h('run-bundle-title'),
      bundleKeyId: h('run-key'),
      target: { inventories: [h('run-inventory')], pattern: h('run-pattern') },
      inventoryHash: 'x',
      inventoryCommit: h('run-commit'),
      strategy: { forks: 1, waves: '1,100%' },
      haltReason: h('run-halt-reason'),
      startedBy: h('run-started-by'),
      createdAt: new Date(),
    }).id;
  const [finished, running] = [run('halted'), run('running')];
  const results: number[] = [];
  for (const runId of [finished, running]) {
    const hostResult = insertHostResult(db, { runId, inventoryName: h('result-host'), aliases: [h('result-alias')], hostId, state: 'failed', wave: 1, reason: h('result-reason') + SSE_BREAK, startedAt: new Date() }).id;
    insertStep(db, { hostResultId: hostResult, name: h('step-name'), status: 'failed', detail: h('step-detail'), output: h('step-output') + SSE_BREAK, startedAt: new Date() });
    insertEvent(db, { runId, hostResultId: hostResult, type: 'host', data: { x: h('event-data') }, at: new Date() });
    insertEvent(db, { runId, hostResultId: null, type: 'run', data: {}, at: new Date() });
    results.push(hostResult);
  }
  recordPatch(db, { hostId, bundleId: h('patch-bundle'), serial: 1, patch: h('patch-name'), runId: finished, appliedAt: new Date() });
  recordAudit(db, h('audit-who'), h('audit-what'), { note: h('audit-detail') });
  return { finished, running, hostId, hostResult: results[0]! };
}

/** The console of webFixture (one user per role) over the hostile database and fleet. */
export async function hostileConsole() {
  const fleet = await hostileFleet();
  let runs: RunManager | undefined;
  let seeded: ReturnType<typeof seed> | undefined;
  const f = await webFixture((db) => ((seeded = seed(db)), { fleet, runs: (runs = new RunManager(db, fleet)) }));
  return { ...f, ...seeded!, fleet, runs: runs! };
}
