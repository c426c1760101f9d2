/** The SSH transport on real OpenSSH: host key types, changed and revoked keys, trust on first use
 * with audit, ssh config aliases and refusals, agent and passphrase keys, jump hosts (one and two
 * hops, shared bastion connections, a bad key on a bastion), sudo with and without a password (the
 * password nowhere to be found), both upload paths, the noexec fallback, hostile values, and each
 * error code produced for real. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../../server/db/index.ts';
import { gatherFacts } from '../../../server/facts/gather.ts';
import { runHelper } from '../../../server/helper/remote.ts';
import type { TargetHost } from '../../../server/inventory/index.ts';
import { hostDir, killHost, type LabHost } from '../../../server/lab/namespace-host.ts';
import { purgeSshLab, sshLabDown, sshLabUp, SUDO_USER, type SshLab } from '../../../server/lab/ssh-variants.ts';
import { commandFailed, type ConnectOptions, SshConnection } from '../../../server/ssh/connect.ts';
import { fingerprint, loadKnownHosts } from '../../../server/ssh/known-hosts.ts';
import { ConnectionPool } from '../../../server/ssh/pool.ts';
import { shellCommand } from '../../../server/ssh/quote.ts';
import type { SshSettings } from '../../../server/ssh/settings.ts';
import { EMPTY_SSH_CONFIG, loadSshConfig } from '../../../server/ssh/ssh-config.ts';
import { sshTarget, type SshTarget } from '../../../server/ssh/target.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-sshlab-'));
const REMOTE = '/var/lib/fleetpatch';
let lab: SshLab;
let key: string;
const settings: Partial<SshSettings> = { sshConfigFile: null, noexecRemoteDir: '/opt/fleetpatch', env: {}, prompt: null };

const host = (h: LabHost, vars: Record<string, string> = {}, name = h.name): TargetHost =>
  ({ name, vars: { ansible_host: h.address, ansible_port: String(h.port), ansible_user: 'root', ansible_ssh_private_key_file: key, ...vars }, groups: [], source: 'test' }) as unknown as TargetHost;
const target = (h: LabHost, vars: Record<string, string> = {}): SshTarget => sshTarget(host(h, vars), EMPTY_SSH_CONFIG);
const options = (over: Partial<ConnectOptions> = {}, s: Partial<SshSettings> = {}): ConnectOptions => ({
  knownHosts: loadKnownHosts([join(dir, 'known_hosts')]),
  timeoutMs: 8000,
  ...over,
  settings: { ...settings, ...s },
});
const open = (t: SshTarget, over: Partial<ConnectOptions> = {}, s: Partial<SshSettings> = {}) => SshConnection.open(t, options(over, s));
const refusal = async (p: Promise<unknown>): Promise<Error & { code: string }> => {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: string };
  }
  assert.fail('expected a refusal');
};
const out = async (c: SshConnection, argv: string[], asLoginUser = false) => (await c.exec(shellCommand(argv), { asLoginUser })).stdout.toString().trim();
const jumpVia = (...hops: LabHost[]) => ({ ansible_ssh_common_args: `-J ${hops.map((h) => `root@${h.address}:${h.port}`).join(',')}` });
const pubKey = (path: string) => Buffer.from(readFileSync(path, 'utf8').trim().split(/\s+/)[1]!, 'base64');

describe('SSH transport on real OpenSSH', { timeout: 180_000 }, () => {
  before(async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    lab = await sshLabUp(dir, port);
    key = join(dir, 'id_ed25519');
  });
  after(async () => {
    await sshLabDown(dir);
    purgeSshLab(dir);
  });

  it('refuses a changed host key with both fingerprints and what to do, uploading nothing', async () => {
    const real = pubKey(join(hostDir(dir, lab.rsa.name), 'ssh_host_rsa_key.pub'));
    const donor = readFileSync(join(hostDir(dir, lab.ecdsa.name), 'ssh_host_ecdsa_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const forged = join(dir, 'known_hosts.changed');
    writeFileSync(forged, `[${lab.rsa.address}]:${lab.rsa.port} ${donor}\n`);
    const err = await refusal(open(target(lab.rsa), { knownHosts: loadKnownHosts([forged]) }));
    assert.equal(err.code, 'host-key-changed');
    assert.ok(err.message.includes(fingerprint(real)) && err.message.includes(fingerprint(Buffer.from(donor.split(' ')[1]!, 'base64'))), err.message);
    assert.match(err.message, /ssh-keygen -R/);
    const c = await open(target(lab.rsa));
    assert.equal(await out(c, ['sh', '-c', `test -e ${REMOTE} && echo present || echo absent`]), 'absent');
    c.close();
  });

  it('connects to hosts with rsa, ecdsa and ed25519 host keys, checked strictly', async () => {
    for (const h of [lab.rsa, lab.ecdsa, lab.sudo]) {
      const vars: Record<string, string> = h === lab.sudo ? { ansible_user: SUDO_USER } : {};
      const c = await open(target(h, vars));
      assert.equal(await out(c, ['hostname']), h.name);
      c.close();
    }
  });

  it('refuses a key marked @revoked and an unknown host, naming what to do', async () => {
    const revoked = join(dir, 'known_hosts.revoked');
    writeFileSync(revoked, `${readFileSync(join(dir, 'known_hosts'), 'utf8')}@revoked * ${readFileSync(join(hostDir(dir, lab.rsa.name), 'ssh_host_rsa_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')}\n`);
    assert.equal((await refusal(open(target(lab.rsa), { knownHosts: loadKnownHosts([revoked]) }))).code, 'host-key-revoked');
    const empty = join(dir, 'known_hosts.empty');
    writeFileSync(empty, '');
    const unknown = await refusal(open(target(lab.rsa), { knownHosts: loadKnownHosts([empty]) }));
    assert.equal(unknown.code, 'host-key-unknown');
    assert.match(unknown.message, /--accept-new-host-keys/);
  });

  it('with --accept-new-host-keys, pins an unknown key in the configured file and audits it; a changed key is still refused', async () => {
    const pinned = join(dir, 'known_hosts.tofu');
    const audit = join(dir, 'audit.jsonl');
    writeFileSync(pinned, '');
    const tofu = { acceptNewHostKeys: true, knownHostsAppendFile: pinned, auditFile: audit };
    const c = await open(target(lab.ecdsa), { knownHosts: loadKnownHosts([pinned]) }, tofu);
    c.close();
    const line = readFileSync(pinned, 'utf8');
    assert.match(line, new RegExp(`^\\[${lab.ecdsa.address.replaceAll('.', '\\.')}\\]:${lab.ecdsa.port} ecdsa-sha2-nistp256 `));
    // ssh itself now trusts the pinned file
    assert.ok(execFileSync('ssh-keygen', ['-F', `[${lab.ecdsa.address}]:${lab.ecdsa.port}`, '-f', pinned], { encoding: 'utf8' }).includes('ecdsa-sha2-nistp256'));
    const entry = JSON.parse(readFileSync(audit, 'utf8').trim()) as Record<string, string>;
    assert.equal(entry.action, 'host-key-accepted');
    assert.equal(entry.fingerprint, fingerprint(pubKey(join(hostDir(dir, lab.ecdsa.name), 'ssh_host_ecdsa_key.pub'))));
    (await open(target(lab.ecdsa), { knownHosts: loadKnownHosts([pinned]) })).close();
    writeFileSync(pinned, line.replace(/ecdsa-sha2-nistp256 \S+/, readFileSync(join(hostDir(dir, lab.rsa.name), 'ssh_host_rsa_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')));
    assert.equal((await refusal(open(target(lab.ecdsa), { knownHosts: loadKnownHosts([pinned]) }, tofu))).code, 'host-key-changed');
    assert.equal(readFileSync(audit, 'utf8').trim().split('\n').length, 1);
  });

  it('applies an ssh config: Host alias with HostName, User, Port, IdentityFile; ProxyJump; ProxyCommand refused, never run', async () => {
    const cfg = join(dir, 'ssh_config.aliases');
    const marker = join(dir, 'proxycommand-ran');
    writeFileSync(
      cfg,
      [
        'Host web-*',
        `  HostName ${lab.rsa.address}`,
        `  Port ${lab.rsa.port}`,
        'Host web-1 hidden-*',
        '  User root',
        `  IdentityFile ${key}`,
        'Host hidden-1',
        `  HostName ${lab.hidden[0]!.address}`,
        `  Port ${lab.hidden[0]!.port}`,
        `  ProxyJump root@${lab.bastion.address}:${lab.bastion.port}`,
        'Host evil',
        `  ProxyCommand touch ${marker}`,
        '',
      ].join('\n'),
    );
    const config = loadSshConfig(cfg, true);
    const bare = (name: string) => ({ name, vars: {}, groups: [], source: 'test' }) as unknown as TargetHost;
    const web = sshTarget(bare('web-1'), config);
    assert.deepEqual([web.host, web.port, web.user, web.identityFiles], [lab.rsa.address, lab.rsa.port, 'root', [key]]);
    const c = await open(web);
    assert.equal(await out(c, ['hostname']), lab.rsa.name);
    c.close();
    const hidden = await open(sshTarget(bare('hidden-1'), config));
    assert.equal(await out(hidden, ['hostname']), lab.hidden[0]!.name);
    hidden.close();
    assert.throws(() => sshTarget(bare('evil'), config), (e: Error & { code?: string }) => e.code === 'config' && /ProxyCommand applies to evil, and fleetpatch never runs commands/.test(e.message));
    assert.equal(existsSync(marker), false);
  });

  it('authenticates with ssh-agent, and the host sees no forwarded agent', async () => {
    const sock = join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      execFileSync('ssh-add', ['-q', key], { env: { SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const t = sshTarget({ name: 'agent', vars: { ansible_host: lab.rsa.address, ansible_port: String(lab.rsa.port), ansible_user: 'root' } } as unknown as TargetHost, EMPTY_SSH_CONFIG);
      assert.deepEqual(t.identityFiles, []);
      const c = await open(t, {}, { env: { SSH_AUTH_SOCK: sock } });
      assert.equal(await out(c, ['sh', '-c', 'echo "${SSH_AUTH_SOCK:-no agent}"']), 'no agent');
      c.close();
    } finally {
      agent.kill();
    }
  });

  it('opens a passphrase-protected key with FLEETPATCH_SSH_KEY_PASSPHRASE or one prompt, and refuses a wrong passphrase', async () => {
    const locked = join(dir, 'id_locked');
    copyFileSync(key, locked);
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'correct horse', '-f', locked]);
    const t = target(lab.rsa, { ansible_ssh_private_key_file: locked });
    (await open(t, {}, { env: { FLEETPATCH_SSH_KEY_PASSPHRASE: 'correct horse' } })).close();
    assert.equal((await refusal(open(t, {}, { env: { FLEETPATCH_SSH_KEY_PASSPHRASE: 'wrong' } }))).code, 'auth');
    const noWay = await refusal(open(t));
    assert.equal(noWay.code, 'auth');
    assert.match(noWay.message, /passphrase-protected: set FLEETPATCH_SSH_KEY_PASSPHRASE/);
    const asked: string[] = [];
    const prompt = async (q: string) => (asked.push(q), 'correct horse');
    const t2 = target(lab.ecdsa, { ansible_ssh_private_key_file: locked });
    const [a, b] = await Promise.all([open(t, {}, { prompt }), open(t2, {}, { prompt })]);
    a.close();
    b.close();
    assert.equal(asked.length, 1, 'asked once for both hosts');
  });

  it('reaches hosts behind a bastion over one shared bastion connection, and through two hops', async () => {
    const pool = new ConnectionPool(options());
    const before = lab.bastionConnections();
    try {
      const names = await Promise.all(lab.hidden.map(async (h) => out(await pool.get(target(h, jumpVia(lab.bastion))), ['hostname'])));
      assert.deepEqual(names, lab.hidden.map((h) => h.name));
      assert.equal(lab.bastionConnections() - before, 1, 'one bastion connection for both targets');
    } finally {
      await pool.closeAll();
    }
    const c = await open(target(lab.hidden[1]!, jumpVia(lab.rsa, lab.bastion)));
    assert.equal(await out(c, ['hostname']), lab.hidden[1]!.name);
    c.close();
  });

  it('pool: a released connection is reused; beyond maxIdle released ones the oldest is closed, never one in use', async () => {
    const pool = new ConnectionPool(options(), 1);
    const [rsa, ecdsa] = [target(lab.rsa), target(lab.ecdsa)];
    try {
      const a = await pool.get(rsa);
      const b = await pool.get(ecdsa);
      const bClosed = new Promise<void>((resolve) => b.onClose(resolve));
      pool.release(rsa);
      assert.equal(await pool.get(rsa), a, 'the released connection is handed out again');
      await pool.get(rsa); // a second holder of the same connection
      pool.release(rsa);
      pool.release(ecdsa); // idle: ecdsa (1, the limit); rsa still held once
      assert.equal(pool.size, 2);
      pool.release(rsa); // idle: ecdsa, rsa → the oldest released (ecdsa) is closed
      await bClosed;
      assert.equal(pool.size, 1);
      assert.equal(await out(a, ['hostname']), lab.rsa.name, 'the kept connection still works');
      const again = await pool.get(ecdsa);
      assert.notEqual(again, b, 'a closed host gets a new connection');
      assert.equal(await out(again, ['hostname']), lab.ecdsa.name);
    } finally {
      await pool.closeAll();
    }
  });

  it('refuses a two-hop route when the second bastion presents a wrong key, naming that bastion', async () => {
    const kh = readFileSync(join(dir, 'known_hosts'), 'utf8');
    const bastionName = `[${lab.bastion.address}]:${lab.bastion.port}`;
    const rsaKey = readFileSync(join(hostDir(dir, lab.rsa.name), 'ssh_host_rsa_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const forged = join(dir, 'known_hosts.badbastion');
    writeFileSync(forged, kh.split('\n').map((l) => (l.startsWith(`${bastionName} `) ? `${bastionName} ${rsaKey}` : l)).join('\n'));
    const err = await refusal(open(target(lab.hidden[0]!, jumpVia(lab.rsa, lab.bastion)), { knownHosts: loadKnownHosts([forged]) }));
    assert.equal(err.code, 'host-key-changed');
    assert.ok(err.message.includes(`REMOTE HOST IDENTIFICATION HAS CHANGED for ${bastionName}`), err.message);
    assert.match(err.message, /cannot get through its jump hosts/);
  });

  it('becomes root with sudo -n (NOPASSWD) and with sudo -S and the password on stdin', async () => {
    for (const [h, vars] of [
      [lab.sudo, {}],
      [lab.sudoPassword, { ansible_become_password: lab.password }],
    ] as const) {
      const c = await open(target(h, { ansible_user: SUDO_USER, ansible_become: 'true', ...vars }));
      assert.equal(await out(c, ['id', '-u']), '0');
      assert.equal(await out(c, ['id', '-un'], true), SUDO_USER);
      // stdin after sudo reaches the command intact
      const echoed = await c.exec(shellCommand(['cat']), { stdin: Buffer.from('line one\nline two\n') });
      assert.equal(echoed.stdout.toString(), 'line one\nline two\n');
      const run = await runHelper(c, ['facts'], { remoteDir: REMOTE, timeoutMs: 30_000 });
      assert.equal((run.result.facts as { hostname: string }).hostname, h.name);
      // as with the helper's apply: the controller answers on stdin once the command asks
      const verdict = await c.interact(shellCommand(['sh', '-c', 'echo awaiting-verdict; read v; echo "verdict=$v uid=$(id -u)"']), (chunk, ch) => {
        if (chunk.toString().includes('awaiting-verdict')) ch.end('commit\n');
      });
      assert.match(verdict.stdout.toString(), /verdict=commit uid=0/);
      c.close();
    }
  });

  it('refuses a wrong or missing sudo password without retrying, and a host without become says how to get root', async () => {
    const wrong = await refusal(open(target(lab.sudoPassword, { ansible_user: SUDO_USER, ansible_become: 'true', ansible_become_password: 'not-it' })).then((c) => c.exec(shellCommand(['id']))));
    assert.equal(wrong.code, 'auth');
    assert.match(wrong.message, /sudo refused ansible_become_password/);
    const missing = await refusal(open(target(lab.sudoPassword, { ansible_user: SUDO_USER, ansible_become: 'true' })).then((c) => c.exec(shellCommand(['id']))));
    assert.equal(missing.code, 'auth');
    assert.match(missing.message, /sudo needs a password for root: set ansible_become_password/);
    const c = await open(target(lab.sudo, { ansible_user: SUDO_USER }));
    const noBecome = await refusal(runHelper(c, ['facts'], { remoteDir: REMOTE }));
    c.close();
    assert.equal(noBecome.code, 'remote-user');
    assert.match(noBecome.message, /set ansible_become=true/);
  });

  it('keeps the sudo password out of argv on the host, the database, stored output and logs', async () => {
    const t = target(lab.sudoPassword, { ansible_user: SUDO_USER, ansible_become: 'true', ansible_become_password: lab.password });
    const c = await open(t);
    const slow = c.exec(shellCommand(['sleep', '2']));
    await new Promise((r) => setTimeout(r, 700));
    const ps = await out(c, ['ps', '-eo', 'args'], true);
    await slow;
    assert.ok(ps.includes('sleep 2'), ps);
    assert.ok(!ps.includes(lab.password), 'password in the process list');
    c.close();
    const db = openDatabase(join(dir, 'facts.db'));
    const results = await gatherFacts([host(lab.sudoPassword, { ansible_user: SUDO_USER, ansible_become: 'true', ansible_become_password: lab.password })], {
      config: { knownHostsFiles: [join(dir, 'known_hosts')], connectTimeoutMs: 8000, remoteDir: REMOTE, forks: 2 },
      db,
    });
    assert.equal(results[0]!.ok, true, JSON.stringify(results));
    assert.ok(!JSON.stringify(results).includes(lab.password));
    assert.ok(!JSON.stringify(t).includes(lab.password), 'the target serializes without the password');
    for (const file of [join(dir, 'facts.db'), join(hostDir(dir, lab.sudoPassword.name), 'console.log')]) {
      assert.ok(!readFileSync(file).includes(lab.password), `password in ${file}`);
    }
  });

  it('uploads over SFTP when the host has it and over exec otherwise, and detects a corrupted upload on both', async () => {
    for (const [h, via] of [
      [lab.sudo, 'sftp'],
      [lab.rsa, 'exec'],
    ] as const) {
      const c = await open(target(h, h === lab.sudo ? { ansible_user: SUDO_USER, ansible_become: 'true' } : {}));
      const payload = { sha256: 'a'.repeat(64), bytes: Buffer.from('payload') };
      await runHelper(c, ['facts'], { remoteDir: REMOTE, payloads: [] });
      // a fault that cannot be produced for real: bytes that do not match their name, as after corruption in transit
      const err = await refusal(
        runHelper(c, ['facts'], { remoteDir: REMOTE, payloads: [payload] }),
      );
      assert.equal(err.code, 'helper-upload');
      assert.match(err.message, /has sha256 [0-9a-f]{64}: corrupted in transit/);
      const good = { sha256: createHash('sha256').update('payload').digest('hex'), bytes: Buffer.from('payload') };
      const run = await runHelper(c, ['facts'], { remoteDir: REMOTE, payloads: [good] });
      assert.equal(run.uploadVia, via);
      assert.equal(await out(c, ['cat', `${REMOTE}/cache/${good.sha256}`]), 'payload');
      c.close();
    }
  });

  it("sends a payload an earlier exec saw absent on the next exec's own stdin, through sudo -S too", async () => {
    for (const [h, vars] of [
      [lab.sudoPassword, { ansible_user: SUDO_USER, ansible_become: 'true', ansible_become_password: lab.password }],
      [lab.rsa, {}],
    ] as const) {
      const c = await open(target(h, vars));
      const bytes = randomBytes(150_000);
      const p = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
      const probe = await runHelper(c, ['facts'], { remoteDir: REMOTE, probe: [p], timeoutMs: 30_000 });
      assert.equal(probe.pushed.length, 0);
      const told: string[] = [];
      // with onLine the helper's stdin stays open after the payload, as for a verdict
      const run = await runHelper(c, ['reconcile'], { remoteDir: REMOTE, payloads: [p], timeoutMs: 30_000, onLine: () => {}, onPayloads: (x) => told.push(`${x.pushed.length} via ${x.via}`) });
      assert.equal(run.result.outcome, 'reconciled');
      assert.equal(run.uploadVia, 'stdin');
      assert.deepEqual(told, ['1 via stdin']);
      assert.equal(await out(c, ['sh', '-c', `stat -c %a ${REMOTE}/cache/${p.sha256}; sha256sum < ${REMOTE}/cache/${p.sha256}`]), `600\n${p.sha256}  -`);
      const again = await runHelper(c, ['facts'], { remoteDir: REMOTE, payloads: [p], timeoutMs: 30_000 });
      assert.equal(again.uploaded, false);
      // bytes that do not match their name on that path too (the helper unpacks it): refused, nothing left behind
      const q = { sha256: createHash('sha256').update('other').digest('hex'), bytes: Buffer.from('not other') };
      await runHelper(c, ['facts'], { remoteDir: REMOTE, probe: [q], timeoutMs: 30_000 });
      const err = await refusal(runHelper(c, ['facts'], { remoteDir: REMOTE, payloads: [q], timeoutMs: 30_000 }));
      assert.equal(err.code, 'helper-upload');
      assert.match(err.message, new RegExp(`uploaded file ${q.sha256} has sha256 [0-9a-f]{64}: corrupted in transit`));
      assert.equal(await out(c, ['sh', '-c', `ls -A ${REMOTE}/cache | grep -c -e ${q.sha256} || true`]), '0');
      c.close();
    }
  });

  it('uses the configured noexecRemoteDir on a host whose /var/lib is noexec, and refuses without one', async () => {
    const c = await open(target(lab.ecdsa));
    const run = await runHelper(c, ['facts'], { remoteDir: REMOTE, timeoutMs: 30_000 });
    assert.equal(run.remoteDir, '/opt/fleetpatch');
    assert.match(await out(c, ['ls', '/opt/fleetpatch/bin']), /^helper-[0-9a-f]{64}$/);
    c.close();
    const strict = await open(target(lab.ecdsa), {}, { noexecRemoteDir: null });
    const err = await refusal(runHelper(strict, ['facts'], { remoteDir: REMOTE }));
    strict.close();
    assert.equal(err.code, 'config');
    assert.match(err.message, /\/var\/lib\/fleetpatch is on a noexec mount.*set noexecRemoteDir/);
  });

  it('never executes hostile values: they are refused in host vars, or reach the host verbatim as arguments', async () => {
    const hostile = ['$(touch /tmp/pwned)', '`touch /tmp/pwned`', "it's; touch /tmp/pwned", 'a\ntouch /tmp/pwned', '-rf', 'ünïcødé ☃', '"$HOME"', '\\'];
    for (const v of hostile) {
      for (const k of ['ansible_host', 'ansible_user', 'ansible_become_user', 'fleetpatch_remote_dir', 'ansible_port']) {
        assert.throws(() => target(lab.rsa, { [k]: v, ansible_become: 'true' }), (e: Error & { code?: string }) => e.code === 'inventory', `${k}=${JSON.stringify(v)}`);
      }
      assert.throws(() => target(lab.rsa, { ansible_ssh_common_args: `-o ProxyCommand=${v}` }), (e: Error & { code?: string }) => e.code === 'inventory');
    }
    assert.throws(() => target(lab.rsa, { ansible_ssh_common_args: "-o StrictHostKeyChecking=no" }), /StrictHostKeyChecking is refused/);
    const c = await open(target(lab.rsa));
    for (const v of hostile) assert.equal((await c.exec(shellCommand(['printf', '%s', v]))).stdout.toString(), v);
    assert.equal(await out(c, ['sh', '-c', 'test -e /tmp/pwned && echo pwned || echo clean']), 'clean');
    // hostile become password: it goes to sudo's stdin, never a shell
    c.close();
    const bad = await refusal(open(target(lab.sudoPassword, { ansible_user: SUDO_USER, ansible_become: 'true', ansible_become_password: "x'; touch /tmp/pwned; '" })).then((s) => s.exec(shellCommand(['id']))));
    assert.equal(bad.code, 'auth');
    const check = await open(target(lab.sudoPassword, { ansible_user: SUDO_USER }));
    assert.equal(await out(check, ['sh', '-c', 'test -e /tmp/pwned && echo pwned || echo clean']), 'clean');
    check.close();
  });

  it('produces each connection error code for real: refused, timeout, auth, dns, channel, command-failed', async () => {
    const nobody: LabHost = { name: 'nobody', address: '127.0.1.250', port: lab.rsa.port };
    assert.equal((await refusal(open(target(nobody)))).code, 'refused');
    const silent: Server = createServer(() => {}).listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    const mute: LabHost = { name: 'mute', address: '127.0.0.1', port: (silent.address() as { port: number }).port };
    const slow = await refusal(open(target(mute), { timeoutMs: 600 }));
    silent.close();
    assert.equal(slow.code, 'timeout');
    const other = join(dir, 'id_other');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const auth = await refusal(open(target(lab.rsa, { ansible_ssh_private_key_file: other })));
    assert.equal(auth.code, 'auth');
    assert.match(auth.message, /authentication refused for user root .*not retried/);
    // a name the bastion cannot resolve (its namespace has no network: no query leaves the machine)
    const dns = await refusal(open(target({ ...lab.hidden[0]!, address: 'no-such-host.invalid' }, jumpVia(lab.bastion))));
    assert.equal(dns.code, 'dns');
    const c = await open(target(lab.rsa));
    const failed = await c.exec(shellCommand(['ls', '/no/such/dir']));
    const err = commandFailed('ssh-rsa', 'ls', failed);
    assert.equal(err.code, 'command-failed');
    assert.match(err.message, /ls failed with exit code 2; stderr: .*No such file or directory/);
    const dropped = refusal(c.exec(shellCommand(['sleep', '30'])));
    await new Promise((r) => setTimeout(r, 300));
    await killHost(dir, lab.rsa);
    assert.equal((await dropped).code, 'channel');
  });
});
