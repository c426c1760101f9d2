/** Package bundles on real dpkg in the lab's namespace hosts: applied, re-run, rolled back to the
 * exact previous state (listing, audit, file hashes), faults at every journal point reconciled. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { helperBinary } from '../../../server/helper/binary.ts';
import { writeLabBundle } from '../../../server/lab/example-bundles.ts';
import { labDown, labKill, labStart, labUp } from '../../../server/lab/index.ts';
import { hostDir, type LabHost } from '../../../server/lab/namespace-host.ts';
import { cli, freePort, labHosts, newLabDir, ssh, sshRun } from '../../support/lab.ts';

const HOSTS = 5;
const dir = newLabDir();
const config = join(dir, 'fleetpatch.json');
const inventory = join(dir, 'inventory.ini');
const bundle = (name: string) => join(dir, 'bundles', name);
const debs = join(process.cwd(), 'native/packages/build');

interface HostRow {
  inventoryName: string;
  state: string;
  reason: string | null;
}
interface StepRow {
  name: string;
  status: string;
  detail: string | null;
}

async function run(kind: 'run' | 'rollback', name: string, ...extra: string[]) {
  const r = await cli([kind, '-i', inventory, '--bundle', bundle(name), '--config', config, '--json', ...extra]);
  const data = JSON.parse(r.out) as { run: { id: number }; hosts: HostRow[] };
  return { code: r.code, runId: data.run.id, hosts: data.hosts, err: r.err };
}
async function steps(runId: number, host: string): Promise<StepRow[]> {
  const r = await cli(['show', String(runId), '--config', config, '--json']);
  return (JSON.parse(r.out) as { hosts: (HostRow & { steps: StepRow[] })[] }).hosts.find((h) => h.inventoryName === host)!.steps;
}

/** Everything that defines a host's package state: the dpkg listing, the audit, and the sha256
 * of every file the demo packages own. */
function packageState(h: LabHost): string {
  return ssh(
    dir,
    h,
    "dpkg-query -W; echo audit:; dpkg --audit; echo files:; for p in fp-demo fp-demo-lib fp-demo-app; do dpkg-query -L $p 2>/dev/null | while read -r f; do [ -f \"$f\" ] && sha256sum \"$f\"; done; done; cat /etc/fp-demo.conf 2>/dev/null; true",
  );
}
const version = (h: LabHost, pkg: string) => ssh(dir, h, `dpkg-query -W -f='\${Version}' ${pkg} 2>/dev/null || echo absent`).trim();

describe('package bundles on real dpkg', { timeout: 600_000 }, () => {
  let hosts: LabHost[];
  let baseline: string[];
  before(async () => {
    await labUp(dir, HOSTS, await freePort());
    hosts = labHosts(dir);
    // lab-02's sshd logs every session it starts (first value wins in sshd_config)
    const sshdConfig = join(hostDir(dir, 'lab-02'), 'sshd_config');
    writeFileSync(sshdConfig, `LogLevel VERBOSE\n${readFileSync(sshdConfig, 'utf8')}`);
    await labKill(dir, 'lab-02');
    await labStart(dir, 'lab-02');
  });
  after(async () => {
    await labDown(dir, true);
  });

  it('lab hosts start with fp-demo 1.0 installed by their own dpkg', () => {
    for (const h of hosts) assert.equal(version(h, 'fp-demo'), '1.0');
    baseline = hosts.map(packageState);
  });

  it("the helper's verify catches what dpkg --audit catches after dpkg -i, from one dpkg-query", () => {
    const h = hosts[3]!;
    const pushed = sshRun(dir, h, 'cat > /root/fp-helper && chmod 700 /root/fp-helper', helperBinary('x86_64').bytes);
    assert.equal(pushed.status, 0, pushed.stderr);
    const verify = (...args: string[]) => sshRun(dir, h, `/root/fp-helper pkg-verify ${args.join(' ')}`, Buffer.alloc(0));
    const audit = () => ssh(dir, h, 'dpkg --audit; true');
    const before = packageState(h);
    const ok = verify('fp-demo=1.0');
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /"type":"verified","packages":1/);
    // a package on hold is installed all the same
    ssh(dir, h, "echo 'fp-demo hold' | dpkg --set-selections");
    const held = verify('fp-demo=1.0');
    ssh(dir, h, "echo 'fp-demo install' | dpkg --set-selections");
    assert.match(held.stdout, /"type":"verified","packages":1/, held.stdout);
    assert.match(verify('fp-demo=1.1').stdout, /"message":"fp-demo is not installed at 1\.1 after dpkg -i \(dpkg: ii \|1\.0\)"/);
    assert.match(verify('fp-demo=1.0', 'fp-demo-app=1.1').stdout, /"message":"fp-demo-app is not installed at 1\.1 after dpkg -i \(dpkg: not known\)"/);
    // another package left unpacked, not configured: dpkg --audit names it, and so does verify
    // the .deb goes on stdin: a lab host may not see this checkout's path (its /tmp is its own)
    const unpack = sshRun(dir, h, 'f=/root/fp-demo-app.deb && cat > $f && dpkg --unpack $f; rc=$?; rm -f $f; exit $rc', readFileSync(join(debs, 'fp-demo-app_1.1_all.deb')));
    assert.equal(unpack.status, 0, unpack.stderr);
    assert.match(audit(), /not yet configured[\s\S]*fp-demo-app/);
    const unpacked = verify('fp-demo=1.0');
    assert.equal(unpacked.status, 1);
    assert.match(unpacked.stdout, /"message":"packages left not fully installed or configured \(as dpkg --audit would report\): iU \|fp-demo-app/);
    // the plan's query: dpkg --audit's own words, and an unpacked package is not installed
    const query = (...names: string[]) => {
      const r = sshRun(dir, h, `/root/fp-helper pkg-query ${names.join(' ')}`, Buffer.alloc(0));
      assert.equal(r.status, 0, r.stdout + r.stderr);
      return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    };
    const q = query('fp-demo', 'fp-demo-app');
    assert.deepEqual(q.filter((l) => l.type === 'package').map((l) => [l.name, l.installed, l.repackable]), [['fp-demo', '1.0', true], ['fp-demo-app', null, false]]);
    const dpkgLine = (lines: Record<string, unknown>[]) => lines.find((l) => l.type === 'dpkg')!;
    assert.match(String(dpkgLine(q).audit), /not yet configured[\s\S]*fp-demo-app/);
    assert.equal(dpkgLine(q).auditBy, 'dpkg');
    // an installed file changed: no copy can be rebuilt from the installed files
    ssh(dir, h, 'cp -p /opt/fp-demo/VERSION /root/VERSION && echo changed >> /opt/fp-demo/VERSION');
    assert.deepEqual(query('fp-demo').filter((l) => l.type === 'package').map((l) => l.repackable), [false]);
    ssh(dir, h, 'cp -p /root/VERSION /opt/fp-demo/VERSION && rm /root/VERSION');
    ssh(dir, h, 'dpkg --purge fp-demo-app >/dev/null');
    // a clean host: the query's own scan of dpkg's rows says so without running dpkg --audit; each
    // thing dpkg --audit reports makes it ask dpkg --audit, whose words the plan shows
    assert.deepEqual([dpkgLine(query('fp-demo')).audit, dpkgLine(query('fp-demo')).auditBy, audit()], ['', 'scan', '']);
    const reported = (change: string, undo: string, words: RegExp) => {
      ssh(dir, h, change);
      try {
        const seen = dpkgLine(query('fp-demo'));
        assert.equal(seen.auditBy, 'dpkg', change);
        assert.match(String(seen.audit), words);
        assert.match(audit(), words);
      } finally {
        ssh(dir, h, undo);
      }
    };
    reported('mv /var/lib/dpkg/info/fp-demo.list /root/fp-demo.list', 'mv /root/fp-demo.list /var/lib/dpkg/info/fp-demo.list', /missing the list control file[\s\S]*fp-demo/);
    reported('mv /var/lib/dpkg/info/fp-demo.md5sums /root/fp-demo.md5sums', 'mv /root/fp-demo.md5sums /var/lib/dpkg/info/fp-demo.md5sums', /missing the md5sums control file[\s\S]*fp-demo/);
    // one field of fp-demo's entry in dpkg's status file changed, the file restored after
    const status = '/var/lib/dpkg/status';
    const edited = (from: string, to: string, words: RegExp) =>
      reported(`cp -p ${status} /root/status && sed -i '/^Package: fp-demo$/,/^$/s/^${from}$/${to}/' ${status}`, `mv /root/status ${status}`, words);
    edited('Architecture: all', 'Architecture: armhf', /unknown foreign architecture[\s\S]*fp-demo/);
    edited('Architecture: all', 'Architecture: Arm_hf!', /illegal architecture[\s\S]*fp-demo/);
    edited('Status: install ok installed', 'Status: install reinstreq installed', /must be reinstalled[\s\S]*fp-demo/);
    // the package's hashes gone from dpkg's database: dpkg --audit says reinstall it, so does verify
    ssh(dir, h, 'mv /var/lib/dpkg/info/fp-demo.md5sums /root/fp-demo.md5sums');
    assert.match(audit(), /missing the md5sums control file[\s\S]*fp-demo/);
    assert.match(verify('fp-demo=1.0').stdout, /"message":"dpkg's database has no md5sums file for fp-demo after dpkg -i/);
    ssh(dir, h, 'mv /root/fp-demo.md5sums /var/lib/dpkg/info/fp-demo.md5sums');
    ssh(dir, h, 'rm /root/fp-helper');
    assert.equal(audit(), '');
    assert.equal(packageState(h), before);
  });

  it("an apply whose save cannot rebuild the previous version refuses before dpkg runs: journaled save-failed, host unchanged", () => {
    // the plan would have said "rollback impossible" (not repackable); this is the race where an
    // installed file changes after the facts, so the helper is run directly, in a state dir of its own
    const h = hosts[3]!;
    const state = '/root/fp-save';
    const helper = helperBinary('x86_64').bytes;
    const pushed = sshRun(dir, h, `mkdir -p -m 700 ${state}/bin ${state}/cache && cat > ${state}/bin/helper && chmod 700 ${state}/bin/helper`, helper);
    assert.equal(pushed.status, 0, pushed.stderr);
    assert.equal(sshRun(dir, h, `cat > ${state}/cache/fp-demo.deb`, readFileSync(join(debs, 'fp-demo_1.1_all.deb'))).status, 0);
    const before = packageState(h);
    ssh(dir, h, 'cp -p /opt/fp-demo/VERSION /root/VERSION && echo changed >> /opt/fp-demo/VERSION');
    let r: ReturnType<typeof sshRun>;
    try {
      r = sshRun(dir, h, `${state}/bin/helper pkg-apply --op save-test --bundle b1 --serial 1 --deb fp-demo=1.1=${state}/cache/fp-demo.deb`, Buffer.alloc(0));
    } finally {
      ssh(dir, h, 'cp -p /root/VERSION /opt/fp-demo/VERSION && rm /root/VERSION');
    }
    const result = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).findLast((l) => l.type === 'result')!;
    assert.equal(result.ok, false, r.stdout);
    const error = result.error as { code: string; message: string };
    assert.equal(error.code, 'preflight');
    assert.match(error.message, /^rollback impossible for fp-demo 1\.0: no previous \.deb in the bundle or the apt cache, and it cannot be rebuilt \(.+\)$/);
    assert.ok(!r.stdout.includes('"install"'), 'dpkg -i never ran');
    assert.match(ssh(dir, h, `tail -n 1 ${state}/journal`), /save-test.*save-failed/);
    assert.equal(ssh(dir, h, `ls -A ${state}/ops 2>/dev/null | wc -l`).trim(), '0', 'no op directory left');
    assert.equal(packageState(h), before);
    ssh(dir, h, `rm -rf ${state}`);
  });

  it('a bad bundle leaves every host exactly as it was: listing, audit, file hashes', async () => {
    const before = hosts.map(packageState);
    const r = await run('run', 'pkg-bad');
    assert.equal(r.code, 1);
    assert.deepEqual(r.hosts.map((h) => h.state), Array(HOSTS).fill('rolled-back'));
    assert.match(r.hosts[0]!.reason!, /\["fp-demo"\]: FAILED: stdout is not "fp-demo 1\.2"/);
    // the checks' early connection (opened at the install step) served the failed check, and no
    // step record is left running
    for (const h of hosts) {
      const s = await steps(r.runId, h.name);
      assert.deepEqual(s.map((x) => x.name).filter((n) => ['install', 'reconnect', 'check'].includes(n)), ['install', 'reconnect', 'check'], JSON.stringify(s));
      assert.deepEqual(s.filter((x) => x.status === 'running'), [], JSON.stringify(s));
    }
    assert.deepEqual(hosts.map(packageState), before);
  });

  it('applies the good bundle on every host; a re-run is already-applied and uploads nothing', async () => {
    // a process on lab-01 keeps a file of fp-demo 1.0 open: the holders scan names it
    const h1 = hosts[0]!;
    const holder = spawn('ssh', ['-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-p', String(h1.port), `root@${h1.address}`, 'exec 3</opt/fp-demo/VERSION; echo held; exec sleep 60']);
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const sshdLog = join(hostDir(dir, 'lab-02'), 'console.log');
    const logFrom = statSync(sshdLog).size;
    let r: Awaited<ReturnType<typeof run>>;
    try {
      // more hosts than forks: a host's plan-time connection still waits for its turn
      r = await run('run', 'pkg-good', '--forks', '2');
    } finally {
      holder.kill();
      ssh(dir, h1, 'pkill -x sleep || true');
    }
    assert.equal(r.code, 0, JSON.stringify(r.hosts));
    assert.deepEqual(r.hosts.map((h) => h.state), Array(HOSTS).fill('applied'));
    assert.match(r.hosts.find((h) => h.inventoryName === 'lab-01')!.reason ?? '', /^warning: processes still use replaced files .*: pid \d+ \(sleep\): \/opt\/fp-demo\/VERSION$/);
    assert.equal(r.hosts.find((h) => h.inventoryName === 'lab-02')!.reason, null);
    // one connection from the plan's reach check on: the facts, the push and the apply in one exec
    // on it; the checks over a new connection
    const sshd = readFileSync(sshdLog).subarray(logFrom).toString('utf8');
    assert.equal(sshd.match(/Accepted publickey for root/g)?.length, 2, sshd);
    assert.equal(sshd.match(/Starting session: command for root/g)?.length, 2, sshd);
    for (const h of hosts) assert.equal(ssh(dir, h, 'fp-demo'), 'fp-demo 1.1\n');
    const s = await steps(r.runId, 'lab-01');
    assert.ok(s.some((x) => x.name === 'push' && x.status === 'ok' && /^1 \.deb file\(s\): 1 uploaded \([\d,]+ bytes on the helper's stdin\); sha256 checked on the host before use$/.test(x.detail ?? '')), JSON.stringify(s));
    assert.ok(s.some((x) => x.name === 'packages' && x.status === 'ok' && /^fp-demo 1\.0/.test(x.detail ?? '')), JSON.stringify(s));
    assert.ok(s.some((x) => x.name === 'reconnect' && x.status === 'ok'), 'checks ran over a new SSH connection');
    // that connection is opened once dpkg -i has returned, while the helper still verifies
    const order = s.map((x) => x.name).filter((n) => ['install', 'reconnect', 'verify', 'check'].includes(n));
    assert.deepEqual(order, ['install', 'reconnect', 'verify', 'check'], JSON.stringify(s));
    assert.ok(s.some((x) => x.name === 'save-previous' && /fp-demo 1\.0: restorable from rebuilt/.test(x.detail ?? '')), JSON.stringify(s));
    const cache = () => hosts.map((h) => ssh(dir, h, 'ls -l --full-time /var/lib/fleetpatch/cache'));
    const listing = cache();
    const again = await run('run', 'pkg-good');
    assert.deepEqual(again.hosts.map((h) => h.state), Array(HOSTS).fill('already-applied'));
    assert.ok(!(await steps(again.runId, 'lab-01')).some((x) => x.name === 'push'));
    assert.deepEqual(cache(), listing);
  });

  it("the apply's save reuses the facts query's versions only while dpkg's database is in the state that query read", async () => {
    const h = hosts[4]!; // at fp-demo 1.1 since the apply test, its .deb in the cache
    const helper = `/var/lib/fleetpatch/bin/helper-${helperBinary('x86_64').sha256}`;
    const deb = `/var/lib/fleetpatch/cache/${createHash('sha256').update(readFileSync(join(debs, 'fp-demo_1.1_all.deb'))).digest('hex')}`;
    const dbState = () => /"type":"dpkg-db","state":"([^"]+)"/.exec(ssh(dir, h, `${helper} pkg-query fp-demo`))![1]!;
    let op = 0;
    // no verdict on stdin: the helper rolls its apply back, so the host ends as it started
    const apply = (state: string, known: string) => ssh(dir, h, `${helper} pkg-apply --op test-known-${++op} --bundle fp-test-known --serial 1 --deb fp-demo=1.1=${deb} --db-state ${state} --known fp-demo=${known} </dev/null; true`);
    const before = packageState(h);
    const unchanged = apply(dbState(), '1.1');
    assert.match(unchanged, /"step":"save","status":"ok","detail":"previous versions recorded \(dpkg's database unchanged since the facts query/);
    assert.match(unchanged, /"outcome":"rolled-back"/);
    // a made-up version in the same state is taken at its word, and then caught: the copy saved
    // to restore it is not that version, so nothing is installed
    assert.match(apply(dbState(), '0.9'), /"code":"preflight","message":"the saved copy of fp-demo is not version 0\.9"/);
    // dpkg rewrites its database (here to the same selections): the old state is stale, the
    // made-up version ignored, dpkg asked again
    const stale = dbState();
    ssh(dir, h, "echo 'fp-demo hold' | dpkg --set-selections && echo 'fp-demo install' | dpkg --set-selections");
    assert.notEqual(dbState(), stale);
    const asked = apply(stale, '0.9');
    assert.match(asked, /"step":"save","status":"ok","detail":"previous versions recorded \(queried from dpkg\)/);
    assert.match(asked, /"step":"save-previous","status":"ok","detail":"fp-demo 1\.1: restorable from/);
    // the previous version's .deb from the bundle, else from the host's apt cache
    const applyWith = (previous: string) => ssh(dir, h, `${helper} pkg-apply --op test-known-${++op} --bundle fp-test-known --serial 1 --deb fp-demo=1.1=${deb}${previous} </dev/null; true`);
    const fromBundle = applyWith(`=${deb}`);
    assert.match(fromBundle, /"step":"save-previous","status":"ok","detail":"fp-demo 1\.1: restorable from bundle"/);
    assert.match(fromBundle, /"outcome":"rolled-back"/);
    const apt = '/var/cache/apt/archives/fp-demo_1.1_all.deb';
    ssh(dir, h, `cp ${deb} ${apt}`);
    try {
      assert.match(applyWith(''), /"step":"save-previous","status":"ok","detail":"fp-demo 1\.1: restorable from apt-cache"/);
    } finally {
      ssh(dir, h, `rm -f ${apt}`);
    }
    assert.equal(packageState(h), before);
  });

  it('rolls a good bundle back with a rebuilt copy of the previous version, exactly', async () => {
    const h = hosts[1]!;
    const r = await run('rollback', 'pkg-good', '--limit', h.name);
    assert.equal(r.code, 0, JSON.stringify(r.hosts));
    assert.equal(r.hosts[0]!.state, 'rolled-back');
    assert.equal(version(h, 'fp-demo'), '1.0');
    assert.equal(packageState(h), baseline[1], 'listing, audit and every file hash as before the update');
    assert.equal(ssh(dir, h, 'fp-demo; cat /opt/fp-demo/VERSION /etc/fp-demo.conf'), 'fp-demo 1.0\n1.0\n# fp-demo configuration (a conffile), shipped by 1.0\n');
    assert.equal(ssh(dir, h, 'dpkg --audit; dpkg --verify fp-demo; echo ok'), 'ok\n');
  });

  it('installs a library and a new package that depends on it together, reports a process still mapping the old library, and rolls the pair back', async () => {
    const h = hosts[2]!;
    const before = packageState(h);
    ssh(dir, h, 'LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libfpdemo.so.1 nohup sleep 600 >/dev/null 2>&1 &');
    try {
      const r = await run('run', 'pkg-pair', '--limit', h.name);
      assert.equal(r.hosts[0]!.state, 'applied', JSON.stringify(r.hosts));
      assert.match(r.hosts[0]!.reason ?? '', /warning: processes still use replaced files .*pid \d+ \(sleep\): \/usr\/lib\/x86_64-linux-gnu\/libfpdemo\.so\.1/);
      assert.equal(version(h, 'fp-demo-lib'), '1.1');
      assert.equal(version(h, 'fp-demo-app'), '1.1');
      const back = await run('rollback', 'pkg-pair', '--limit', h.name);
      assert.equal(back.hosts[0]!.state, 'rolled-back');
    } finally {
      ssh(dir, h, 'pkill -x sleep || true');
    }
    assert.equal(version(h, 'fp-demo-app'), 'absent');
    assert.equal(packageState(h), before);
  });

  it('refuses a conflicting .deb, an unreadable .deb and a locked dpkg with a clear error, host unchanged', async () => {
    const h = hosts[3]!;
    const deb = (name: string, version: string) => ({ name, version, arch: 'all', file: `debs/${name}_${version}_all.deb` });
    await writeLabBundle(dir, 'test-clash', { id: 'fp-test-clash', serial: 1, kind: 'packages', title: 'TEST: a package that overwrites another', packages: { debs: [deb('fp-demo-clash', '1.0')], installNew: true }, checks: [] }, { 'debs/fp-demo-clash_1.0_all.deb': join(debs, 'fp-demo-clash_1.0_all.deb') });
    await writeLabBundle(dir, 'test-garbage', { id: 'fp-test-garbage', serial: 1, kind: 'packages', title: 'TEST: not a .deb', packages: { debs: [deb('fp-demo', '1.3')] }, checks: [] }, { 'debs/fp-demo_1.3_all.deb': join(process.cwd(), 'package.json') });
    const before = packageState(h);
    const clash = await run('run', 'test-clash', '--limit', h.name);
    assert.equal(clash.hosts[0]!.state, 'rolled-back');
    assert.match(clash.hosts[0]!.reason!, /dpkg -i failed: .*trying to overwrite '\/usr\/bin\/fp-demo'/s);
    assert.equal(packageState(h), before);
    const garbage = await run('run', 'test-garbage', '--limit', h.name);
    assert.notEqual(garbage.hosts[0]!.state, 'applied');
    assert.match(garbage.hosts[0]!.reason!, /not a Debian format archive|dpkg-deb/);
    assert.equal(packageState(h), before);
    const holder = spawn('ssh', ['-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-p', String(h.port), `root@${h.address}`, `python3 -c "import fcntl,time; f=open('/var/lib/dpkg/lock-frontend','w'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"`]);
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    try {
      const locked = await run('run', 'pkg-bad', '--limit', h.name);
      assert.equal(locked.hosts[0]!.state, 'failed');
      assert.match(locked.hosts[0]!.reason!, /dpkg is locked by another process.*nothing was changed/s);
    } finally {
      holder.kill();
      ssh(dir, h, 'pkill -f "fcntl.lock[f]" || true');
    }
    assert.equal(packageState(h), before);
  });

  it('prepares a test bundle whose check takes 20 s, to catch the helper before its verdict', async () => {
    const deb = { name: 'fp-demo', version: '1.1', arch: 'all', file: 'debs/fp-demo_1.1_all.deb' };
    await writeLabBundle(dir, 'test-slow-check', { id: 'fp-test-slow-check', serial: 1, kind: 'packages', title: 'TEST: a slow check', packages: { debs: [deb] }, checks: [{ argv: ['sleep', '20'], exitCode: 0 }] }, { [deb.file]: join(debs, 'fp-demo_1.1_all.deb') });
  });

  for (const point of [
    { name: 'before install (new preinst)', hold: 'fp-demo-1.1-preinst', bundle: 'pkg-good' },
    { name: 'during install (new postinst)', hold: 'fp-demo-1.1-postinst', bundle: 'pkg-good' },
    { name: 'before verify (checks running)', hold: null, bundle: 'test-slow-check' },
    { name: 'during rollback (old postinst)', hold: 'fp-demo-1.0-postinst', bundle: 'pkg-bad' },
  ]) {
    it(`reconciles a host whose helper was killed ${point.name} to exactly its previous state`, async () => {
      const h = hosts[1]!; // back at fp-demo 1.0 since the rollback test
      const before = packageState(h);
      ssh(dir, h, `rm -f /run/fp-demo-at-*${point.hold ? `; touch /run/fp-demo-hold-${point.hold}` : ''}`);
      const controller = spawn('node', ['--import', 'tsx', 'server/main.ts', 'run', '-i', inventory, '--bundle', bundle(point.bundle), '--limit', h.name, '--config', config, '--json'], { stdio: 'ignore' });
      const exited = new Promise((resolve) => controller.on('exit', resolve));
      try {
        const reached = point.hold ? `test -e /run/fp-demo-at-${point.hold}` : 'tail -n 1 /var/lib/fleetpatch/journal | grep -q "\tinstalled\t"';
        await waitFor(() => ssh(dir, h, `${reached} && echo yes || true`).trim() === 'yes');
        // power cut for fleetpatch on the host: the helper and everything it started die at once
        ssh(dir, h, 'kill -9 -- -$(ps -o pgid= -p $(pgrep -f "/bin/helper-[0-9a-f]{64}" | head -n 1) | tr -d " ")');
      } finally {
        if (point.hold) ssh(dir, h, `rm -f /run/fp-demo-hold-${point.hold}`);
        await exited;
      }
      const journal = ssh(dir, h, 'tail -n 1 /var/lib/fleetpatch/journal');
      assert.match(journal, /\t(installing|installed|rollback-intent)\t/, 'the journal shows the operation in flight');
      const next = await run('run', 'pkg-bad', '--limit', h.name);
      const s = await steps(next.runId, h.name);
      assert.ok(s.some((x) => x.name === 'reconcile' && x.status === 'ok'), JSON.stringify(s));
      assert.equal(next.hosts[0]!.state, 'rolled-back');
      assert.equal(packageState(h), before);
      const latest = ssh(dir, h, "awk -F'\\t' '{ s[$2] = $3 } END { for (o in s) print s[o] }' /var/lib/fleetpatch/journal | sort -u");
      assert.doesNotMatch(latest, /^(intent|saved|installing|installed|rollback-intent)$/m, 'no operation left in flight');
    });
  }
});

async function waitFor(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 200));
  }
}
