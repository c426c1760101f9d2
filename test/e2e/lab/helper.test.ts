/** The helper's on-host machinery on real namespace hosts: payloads pushed into the
 * content-addressed cache, the host lock, the journal and reconcile, and preflight refusals. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../server/config.ts';
import { errorInfo } from '../../../server/errors.ts';
import { runHelper, type Payload } from '../../../server/helper/remote.ts';
import { loadInventory, resolveTarget } from '../../../server/inventory/index.ts';
import { labDown, labUp } from '../../../server/lab/index.ts';
import { SshConnection } from '../../../server/ssh/connect.ts';
import { loadKnownHosts } from '../../../server/ssh/known-hosts.ts';
import { sshTarget } from '../../../server/ssh/target.ts';
import { freePort, labHosts, newLabDir, ssh } from '../../support/lab.ts';

const dir = newLabDir();
const REMOTE = '/var/lib/fleetpatch';
let conn: SshConnection;

const payload = (bytes: Buffer): Payload => ({ sha256: createHash('sha256').update(bytes).digest('hex'), bytes });
const opArgs = (op: string) => ['--op', op, '--bundle', 'fp-test', '--serial', '1', '--patch', 'fp_nosuch', '--timeout', '5'];

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return errorInfo(err);
  }
  throw new Error('expected a refusal');
}

describe('helper on the host', { timeout: 120_000 }, () => {
  before(async () => {
    await labUp(dir, 2, await freePort());
    const config = loadConfig({ flags: { config: join(dir, 'fleetpatch.json') } });
    const [first] = resolveTarget(loadInventory([join(dir, 'inventory.ini')]), 'lab-01');
    conn = await SshConnection.open(sshTarget(first!), { knownHosts: loadKnownHosts(config.knownHostsFiles), timeoutMs: 10_000 });
  });
  after(async () => {
    conn?.close();
    await labDown(dir, true);
  });

  it('pushes payloads once into the private content-addressed cache, whatever their bytes', async () => {
    const files = [payload(randomBytes(300_000)), payload(Buffer.from('small\n')), payload(Buffer.alloc(512))];
    const first = await runHelper(conn, ['facts'], { remoteDir: REMOTE, payloads: files });
    assert.equal(first.uploaded, true);
    const host = labHosts(dir)[0]!;
    for (const f of files) {
      assert.equal(ssh(dir, host, `stat -c '%a %U %s' ${REMOTE}/cache/${f.sha256}; sha256sum < ${REMOTE}/cache/${f.sha256}`), `600 root ${f.bytes.length}\n${f.sha256}  -\n`);
    }
    assert.equal(ssh(dir, host, `ls -A ${REMOTE}`).trim().split('\n').sort().join(' '), 'bin cache');
    const again = await runHelper(conn, ['facts'], { remoteDir: REMOTE, payloads: files });
    assert.equal(again.uploaded, false);
    // seen absent by a probe, then sent on the next exec's stdin and unpacked by the helper itself
    const more = [payload(randomBytes(200_001)), payload(Buffer.alloc(0)), payload(Buffer.from('x'.repeat(1023)))];
    await runHelper(conn, ['facts'], { remoteDir: REMOTE, probe: more });
    const sent = await runHelper(conn, ['facts'], { remoteDir: REMOTE, payloads: [...files, ...more] });
    assert.equal(sent.uploadVia, 'stdin');
    assert.deepEqual(sent.pushed.map((p) => p.sha256), more.map((p) => p.sha256));
    for (const f of more) {
      assert.equal(ssh(dir, host, `stat -c '%a %U %s' ${REMOTE}/cache/${f.sha256}; sha256sum < ${REMOTE}/cache/${f.sha256}`), `600 root ${f.bytes.length}\n${f.sha256}  -\n`);
    }
    assert.equal(ssh(dir, host, `ls -A ${REMOTE}/cache | wc -l`).trim(), String(files.length + more.length));
  });

  it('runs the next command in the held facts exec itself: its payloads on the same stdin, only its own output', async () => {
    const host = labHosts(dir)[0]!;
    const pids = (pattern: string) => ssh(dir, host, `pgrep -f -- '${pattern}' || true`).trim();
    // root's shell writes to stderr before every command: the facts exec's, not the next command's
    ssh(dir, host, "cp -p /root/.bashrc /root/.bashrc.fp && sed -i '1i echo shell-noise >&2' /root/.bashrc");
    let facts: Awaited<ReturnType<typeof runHelper>>;
    try {
      assert.equal((await conn.exec('true')).stderr.toString(), 'shell-noise\n');
      facts = await runHelper(conn, ['facts'], { remoteDir: REMOTE, hold: { timeoutMs: 60_000 } });
    } finally {
      ssh(dir, host, 'mv /root/.bashrc.fp /root/.bashrc');
    }
    assert.ok(facts.held, 'a successful --serve facts is held');
    const waiting = pids('/bin/helper-[0-9a-f]{64} .*-- --serve facts$');
    assert.match(waiting, /^\d+$/, 'one helper waits for the next command');
    // an upload announced larger than sent keeps the next command's stage reading: caught there
    const pending = facts.held.next(['--stage', '+1024', '--', 'version'], null, 'lab-01', () => {});
    await waitUntil(() => pids('/bin/helper-[0-9a-f]{64} --stage \\+1024 -- version$') !== '');
    assert.equal(pids('/bin/helper-[0-9a-f]{64} --stage \\+1024 -- version$'), waiting, 'the same process: no new session, shell or trust script');
    facts.held.end();
    const ended = await pending;
    assert.match(ended.stdout.toString(), /"code":"helper-upload".*ended early/);
    assert.equal(ended.stderr.toString(), '', "the facts exec's stderr is not the next command's");

    const f = payload(randomBytes(100_000));
    const probe = await runHelper(conn, ['facts'], { remoteDir: REMOTE, probe: [f], hold: { timeoutMs: 60_000 } });
    const next = await runHelper(conn, ['pkg-query', 'dpkg'], { remoteDir: REMOTE, payloads: [f], held: probe.held });
    assert.equal(next.uploadVia, 'stdin');
    assert.deepEqual(next.pushed, [f]);
    assert.equal(next.held, null);
    assert.deepEqual(next.lines.filter((l) => l.type === 'result' || l.type === 'facts' || l.command === 'facts').length, 1, 'the facts lines are not the next command\'s');
    assert.ok(next.lines.some((l) => l.type === 'package' && l.name === 'dpkg' && typeof l.installed === 'string'), JSON.stringify(next.lines));
    assert.equal(ssh(dir, host, `sha256sum < ${REMOTE}/cache/${f.sha256}`), `${f.sha256}  -\n`);
    await waitUntil(() => pids('/bin/helper-[0-9a-f]{64}') === '');

    // nothing follows: ended, the helper exits; a payload gone since the facts: pushed again, on a new exec
    const unused = await runHelper(conn, ['facts'], { remoteDir: REMOTE, hold: { timeoutMs: 60_000 } });
    unused.held!.end();
    await waitUntil(() => pids('/bin/helper-[0-9a-f]{64}') === '');
    const again = await runHelper(conn, ['facts'], { remoteDir: REMOTE, hold: { timeoutMs: 60_000 } });
    ssh(dir, host, `rm ${REMOTE}/cache/${f.sha256}`);
    const refetched = await runHelper(conn, ['pkg-query', 'dpkg'], { remoteDir: REMOTE, payloads: [f], held: again.held });
    assert.equal(refetched.result.ok, true);
    assert.deepEqual(refetched.pushed, [f]);
    assert.notEqual(refetched.uploadVia, 'stdin');
    assert.equal(ssh(dir, host, `sha256sum < ${REMOTE}/cache/${f.sha256}`), `${f.sha256}  -\n`);
    await waitUntil(() => pids('/bin/helper-[0-9a-f]{64}') === '');

    // the trust script's checks are made again, by the helper, before the next command
    const checked = await runHelper(conn, ['facts'], { remoteDir: REMOTE, hold: { timeoutMs: 60_000 } });
    ssh(dir, host, `touch ${REMOTE}/cache/planted; chmod o+w ${REMOTE}/cache/planted`);
    const refused = await refusal(runHelper(conn, ['pkg-query', 'dpkg'], { remoteDir: REMOTE, held: checked.held }));
    ssh(dir, host, `rm ${REMOTE}/cache/planted`);
    assert.equal(refused.code, 'insecure-remote-dir');
    assert.match(refused.message, /cache\/planted \(owner uid 0, mode 0646\) is not owned by root or is writable by group or others/);
  });

  it('refuses a cached payload that was modified on the host', async () => {
    const f = payload(Buffer.from('original'));
    await runHelper(conn, ['facts'], { remoteDir: REMOTE, payloads: [f] });
    ssh(dir, labHosts(dir)[0]!, `echo tampered > ${REMOTE}/cache/${f.sha256}`);
    const r = await refusal(runHelper(conn, ['facts'], { remoteDir: REMOTE, payloads: [f] }));
    assert.equal(r.code, 'insecure-remote-dir');
    assert.match(r.message, /was modified on the host/);
    ssh(dir, labHosts(dir)[0]!, `rm ${REMOTE}/cache/${f.sha256}`);
  });

  it('refuses to apply on a kernel without livepatch support, before touching anything', async () => {
    const f = payload(Buffer.from('not a module'));
    const r = await refusal(runHelper(conn, ['apply', ...opArgs('op-preflight'), '--module', `${REMOTE}/cache/${f.sha256}`], { remoteDir: REMOTE, payloads: [f] }));
    assert.equal(r.code, 'preflight');
    assert.match(r.message, /the module's name is \(none\)|no livepatch support/);
    assert.equal(ssh(dir, labHosts(dir)[0]!, `cat ${REMOTE}/journal 2>/dev/null | grep -c op-preflight || true`).trim(), '0', 'no journal entry: nothing was attempted');
  });

  it('refuses a second operation while another holds the host lock', async () => {
    const host = labHosts(dir)[0]!;
    const holder = spawn('ssh', ['-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-p', String(host.port), `root@${host.address}`, `flock ${REMOTE}/lock sh -c 'echo locked; sleep 30'`]);
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    try {
      const r = await refusal(runHelper(conn, ['reconcile'], { remoteDir: REMOTE }));
      assert.equal(r.code, 'host-busy');
      assert.match(r.message, /another fleetpatch operation holds this host's lock/);
    } finally {
      holder.kill();
      ssh(dir, host, 'pkill -x sleep || true');
    }
    const ok = await runHelper(conn, ['reconcile'], { remoteDir: REMOTE });
    assert.equal(ok.result.outcome, 'reconciled');
  });

  it('reconciles an interrupted operation from the journal to rolled-back, and reports it in facts', async () => {
    const host = labHosts(dir)[0]!;
    ssh(dir, host, `umask 077; printf '1\\top-crashed\\tloaded\\tfp-test\\t1\\tfp_nosuch\\tabc\\n' >> ${REMOTE}/journal`);
    const before = await runHelper(conn, ['facts'], { remoteDir: REMOTE });
    const journal = (before.result.facts as { journal: { op: string; state: string }[] }).journal;
    assert.deepEqual(journal.find((e) => e.op === 'op-crashed')?.state, 'loaded');
    const r = await runHelper(conn, ['reconcile'], { remoteDir: REMOTE });
    assert.ok(r.lines.some((l) => l.type === 'reconcile' && l.op === 'op-crashed' && l.from === 'loaded'));
    const afterFacts = await runHelper(conn, ['facts'], { remoteDir: REMOTE });
    assert.equal((afterFacts.result.facts as { journal: { op: string; state: string }[] }).journal.find((e) => e.op === 'op-crashed')?.state, 'rolled-back');
    assert.match(ssh(dir, host, `stat -c '%a' ${REMOTE}/journal ${REMOTE}/lock`), /^600\n600\n$/);
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}
