/** Suite peer: issue 9's anchor job — push a ≈200 KiB .deb (incompressible payload), check its
 * hash, `dpkg -i`, verify with dpkg-query — on every lab host, by
 * - OpenSSH, one `ssh` per host with the file on stdin (the floor, every ratio's denominator);
 * - bare ssh2, one exec with stdin (the same command);
 * - bare ssh2 doing the least DESIGN.md asks of a packages run (a lower bound for fleetpatch, see
 *   ssh2Least): the plan's facts, then the job on the same exec, then the verify over a new
 *   connection;
 * - fleetpatch `run` of a signed packages bundle (installNew), in-process through the CLI: plan
 *   (facts), push, apply (journal, fsync, dpkg -i, dpkg-query, dpkg --audit), verify over a new
 *   connection, every step recorded in SQLite; the helper is cached (pushed in a warm-up), the
 *   .deb is not (the payload cache is emptied with the package between rounds; its directory stays,
 *   as on any host the helper was pushed to);
 * - Ansible (Debian's ansible-core) with default settings, and tuned with pipelining: a playbook
 *   (gather_facts off: the job needs none) of copy, shell `sha256sum -c`, shell `dpkg -i`,
 *   command dpkg-query; pointed at the lab's inventory unchanged, ANSIBLE_SSH_ARGS adding the
 *   lab's known_hosts and key to Ansible's default ssh arguments.
 * Same lab, same forks, rounds interleaved; before every run each host is reset (`dpkg --purge`,
 * fleetpatch's payload cache and /tmp copies removed) and after every run each host must have the
 * package at its version with a clean `dpkg --audit`. Controller CPU = this process plus waited-for
 * children, plus the ssh ControlPersist masters Ansible daemonizes (read from /proc before they
 * are stopped). */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import ssh2 from 'ssh2';
import { labDown, labUp } from '../../server/lab/index.ts';
import { writeLabBundle } from '../../server/lab/example-bundles.ts';
import { runningPid, type LabHost } from '../../server/lab/namespace-host.ts';
import { SshConnection } from '../../server/ssh/connect.ts';
import { loadKnownHosts } from '../../server/ssh/known-hosts.ts';
import { cli, freePort, labHosts, newLabDir } from '../support/lab.ts';
import { interleave, runStepMedians, table, writeResults, type BenchOptions, type Variant } from './common.ts';

const PKG = 'fp-bench';
const VERSION = '1.0';
const PAYLOAD_BYTES = 200 * 1024;
const REMOTE_DEB = `/tmp/${PKG}.deb`;

/** fp-bench_1.0_all.deb carrying 200 KiB of random bytes (incompressible: the .deb stays ≈200 KiB). */
function buildDeb(dir: string): string {
  const root = mkdtempSync(join(dir, '.deb-src-'));
  mkdirSync(join(root, 'DEBIAN'));
  mkdirSync(join(root, 'opt', PKG), { recursive: true });
  writeFileSync(join(root, 'DEBIAN', 'control'), `Package: ${PKG}\nVersion: ${VERSION}\nArchitecture: all\nMaintainer: fleetpatch bench <bench@localhost>\nDescription: fleetpatch benchmark payload\n 200 KiB of random bytes.\n`);
  writeFileSync(join(root, 'opt', PKG, 'payload'), randomBytes(PAYLOAD_BYTES));
  const deb = join(dir, `${PKG}_${VERSION}_all.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
  return deb;
}

const sshOpts = (dir: string) => ['-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'];

function sshAsync(dir: string, h: LabHost, command: string, input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('ssh', ['-q', ...sshOpts(dir), '-p', String(h.port), `root@${h.address}`, command], { encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${h.name}: ${err.message} ${stderr}`)) : resolve(stdout)));
    if (input) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

function fanOut(lab: LabHost[], forks: number, one: (h: LabHost) => Promise<unknown>): Promise<void> {
  const q = new PQueue({ concurrency: forks });
  return Promise.all(lab.map((h) => q.add(() => one(h)))).then(() => undefined);
}

/** The job as one shell command reading the .deb on stdin (floor and bare ssh2). */
const jobCommand = (sha256: string) =>
  `cat > ${REMOTE_DEB} && echo '${sha256}  ${REMOTE_DEB}' | sha256sum -c --quiet && DEBIAN_FRONTEND=noninteractive dpkg -i ${REMOTE_DEB} >/dev/null && test "$(dpkg-query -W -f='\${Version}' ${PKG})" = ${VERSION}`;

/** A bare ssh2 connection to a lab host, the host key checked against the lab's known_hosts. */
function ssh2Connect(dir: string, h: LabHost, knownHosts: ReturnType<typeof loadKnownHosts>): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', (err) => reject(new Error(`${h.name}: ${err.message}`)));
    c.on('ready', () => resolve(c));
    c.connect({
      host: h.address,
      port: h.port,
      username: 'root',
      privateKey: readFileSync(join(dir, 'id_ed25519')),
      hostVerifier: (key: Buffer) => {
        try {
          knownHosts.check(h.address, h.port, key);
          return true;
        } catch {
          return false;
        }
      },
    });
  });
}

/** One exec on `c`: its stdin gets `opts.stdin` (or nothing) and ends, unless `opts.onStdout` is
 * given: then that sees all of the channel's stdout so far on each chunk, and writes and ends the
 * stdin itself. Resolves on exit 0. */
function ssh2Exec(c: ssh2.Client, h: LabHost, command: string, opts: { stdin?: Buffer; onStdout?: (stdout: string, stdin: NodeJS.WritableStream) => void } = {}): Promise<void> {
  return new Promise((resolve, reject) =>
    c.exec(command, (err, stream) => {
      if (err) return reject(new Error(`${h.name}: ${err.message}`));
      let stdout = '';
      let stderr = '';
      stream.on('data', (d: Buffer) => {
        stdout += d.toString();
        opts.onStdout?.(stdout, stream);
      });
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      stream.on('close', (code: number | null) => (code === 0 ? resolve() : reject(new Error(`${h.name}: exit ${code}: ${stderr}`))));
      if (!opts.onStdout) stream.end(opts.stdin);
    }),
  );
}

/** The floor's command over bare ssh2: one connection, one exec, the .deb on stdin. */
async function ssh2Job(dir: string, h: LabHost, command: string, deb: Buffer, knownHosts: ReturnType<typeof loadKnownHosts>): Promise<void> {
  const c = await ssh2Connect(dir, h, knownHosts);
  try {
    await ssh2Exec(c, h, command, { stdin: deb });
  } finally {
    c.end();
  }
}

/** A lower bound for any tool that does what DESIGN.md requires of a packages run, over bare ssh2
 * and a shell instead of a helper: the plan's facts (the installed version, read before anything
 * is touched and returned to the controller before the install starts), then on the same exec
 * the push, hash check and `dpkg -i`; then the verify with dpkg-query over a new connection. Left
 * out, so the bound is generous: the ownership and helper-hash checks, the fsync'd journal, the
 * save of the previous state, the `dpkg --audit`, the report of processes using replaced files,
 * every record. */
async function ssh2Least(dir: string, h: LabHost, sha256: string, deb: Buffer, knownHosts: ReturnType<typeof loadKnownHosts>): Promise<void> {
  const c = await ssh2Connect(dir, h, knownHosts);
  try {
    const facts = `dpkg-query -W -f='\${Status} \${Version}\\n' ${PKG} 2>/dev/null; echo facts-end; read -r go && [ "$go" = go ] && `;
    const job = `cat > ${REMOTE_DEB} && echo '${sha256}  ${REMOTE_DEB}' | sha256sum -c --quiet && DEBIAN_FRONTEND=noninteractive dpkg -i ${REMOTE_DEB} >/dev/null`;
    let sent = false;
    await ssh2Exec(c, h, facts + job, {
      onStdout: (out, stdin) => {
        if (sent || !out.includes('facts-end\n')) return;
        sent = true;
        // the plan's applicability: the package is not installed yet (hosts are reset), else the exec fails
        if (out.includes(`installed ${VERSION}`)) return void stdin.end('stop\n');
        stdin.write('go\n');
        stdin.end(deb);
      },
    });
  } finally {
    c.end();
  }
  const v = await ssh2Connect(dir, h, knownHosts);
  try {
    await ssh2Exec(v, h, `test "$(dpkg-query -W -f='\${Version}' ${PKG})" = ${VERSION}`);
  } finally {
    v.end();
  }
}

const PLAYBOOK = (deb: string, sha256: string) => `- hosts: lab
  gather_facts: false
  tasks:
    - name: push the .deb
      copy: { src: ${deb}, dest: ${REMOTE_DEB}, mode: '0600' }
    - name: check its hash
      shell: echo '${sha256}  ${REMOTE_DEB}' | sha256sum -c --quiet
    - name: install it
      shell: DEBIAN_FRONTEND=noninteractive dpkg -i ${REMOTE_DEB}
    - name: verify it
      command: dpkg-query -W -f=\${Version} ${PKG}
      register: q
      failed_when: q.stdout != '${VERSION}'
`;

/** CPU seconds of live processes whose command line mentions `needle` (Ansible's daemonized ssh
 * ControlPersist masters), then stops them by pid so the next run starts cold. */
function collectMasters(needle: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) continue;
      const f = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(f[11]) + Number(f[12])) / 100;
      process.kill(Number(entry), 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** CPU seconds used so far inside every lab host: its PID 1 (sshd) and every descendant it has
 * waited for (sessions, shells, dpkg, the helper), from /proc/<pid>/stat — read once every
 * session has ended, so none is still running or unreaped (a client that closes its connections
 * without waiting, as fleetpatch's pool does, would otherwise have its last sessions missed). */
async function hostCpu(dir: string, lab: LabHost[]): Promise<number> {
  const children = (pid: number | string) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  const listeners = lab.map((h) => {
    const pid = runningPid(dir, h.name);
    if (pid === null) throw new Error(`bench: ${h.name} is not running`);
    return children(pid);
  });
  // at most 2 s: Ansible's ControlPersist masters keep their sessions open until they are stopped
  for (let i = 0; i < 100 && listeners.flat().some((l) => children(l).length); i++) await new Promise((r) => setTimeout(r, 20));
  let total = 0;
  for (const l of listeners.flat()) {
    const f = readFileSync(`/proc/${l}/stat`, 'utf8').split(') ')[1]!.split(' ');
    total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  }
  return total;
}

/** Counts SshConnection.open calls and the channels opened on connections (exec, interact, SFTP)
 * until stop(): the in-process fleetpatch run's SSH work, per host. */
function countChannels(): { connections: number; channels: number; stop(): void } {
  const proto = SshConnection.prototype as unknown as Record<'exec' | 'interact' | 'withSftp', (...a: unknown[]) => unknown>;
  const saved = { exec: proto.exec, interact: proto.interact, withSftp: proto.withSftp, open: SshConnection.open };
  const c = {
    connections: 0,
    channels: 0,
    stop() {
      Object.assign(proto, { exec: saved.exec, interact: saved.interact, withSftp: saved.withSftp });
      SshConnection.open = saved.open;
    },
  };
  for (const k of ['exec', 'interact', 'withSftp'] as const) {
    const orig = saved[k];
    proto[k] = function (this: unknown, ...a: unknown[]) {
      c.channels++;
      return orig.apply(this, a);
    };
  }
  SshConnection.open = (...a: Parameters<typeof SshConnection.open>) => {
    c.connections++;
    return saved.open.apply(SshConnection, a);
  };
  return c;
}

export async function peerSuite(opts: BenchOptions): Promise<void> {
  const { hosts, forks, rounds } = opts;
  const dir = newLabDir();
  try {
    await labUp(dir, hosts, await freePort());
    const lab = labHosts(dir);
    const debPath = buildDeb(dir);
    const deb = readFileSync(debPath);
    const sha256 = createHash('sha256').update(deb).digest('hex');
    const file = `debs/${PKG}_${VERSION}_all.deb`;
    const bundle = await writeLabBundle(dir, 'bench', { id: 'fp-bench', serial: 1, kind: 'packages', title: 'bench: fp-bench 1.0 (200 KiB)', packages: { debs: [{ name: PKG, version: VERSION, arch: 'all', file }], installNew: true } }, { [file]: debPath });
    const config = join(dir, 'fleetpatch.json');
    const inventory = join(dir, 'inventory.ini');
    const knownHosts = loadKnownHosts([join(dir, 'known_hosts')]);
    const command = jobCommand(sha256);
    const playbook = join(dir, 'bench-playbook.yml');
    writeFileSync(playbook, PLAYBOOK(debPath, sha256));

    const reset = () => fanOut(lab, forks, (h) => sshAsync(dir, h, `dpkg --purge ${PKG} >/dev/null 2>&1; rm -rf /var/lib/fleetpatch/cache ${REMOTE_DEB} && mkdir -m 700 /var/lib/fleetpatch/cache; ! dpkg-query -W ${PKG} >/dev/null 2>&1`));
    const verify = () =>
      fanOut(lab, forks, async (h) => {
        const out = await sshAsync(dir, h, `dpkg-query -W -f='\${Status} \${Version}' ${PKG}; test -z "$(dpkg --audit)" && echo ' audit-clean'`);
        if (out.trim() !== `install ok installed ${VERSION} audit-clean`) throw new Error(`bench: ${h.name} ended as ${JSON.stringify(out)}`);
      });
    const runIds: number[] = [];
    /** SSH connections and channels (execs, SFTP sessions) fleetpatch opened, per host, per run. */
    const channels: { connections: number; channels: number }[] = [];
    /** The controller's peak RSS (MB) per fleetpatch run: this process's high-water mark, reset before each run. */
    const peakRss: number[] = [];
    const fleetpatch = async () => {
      writeFileSync('/proc/self/clear_refs', '5');
      const counts = countChannels();
      let r: Awaited<ReturnType<typeof cli>>;
      const started = Date.now();
      try {
        r = await cli(['run', '-i', inventory, '--bundle', bundle, '--config', config, '--forks', String(forks), '--json']);
      } finally {
        counts.stop();
      }
      const ended = Date.now();
      peakRss.push(Math.round(Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024));
      channels.push({ connections: counts.connections / hosts, channels: counts.channels / hosts });
      let res: { run: { id: number }; hosts: { inventoryName: string; state: string; reason: string | null }[] };
      try {
        res = JSON.parse(r.out);
      } catch {
        throw new Error(`bench: fleetpatch run exited ${r.code}: ${r.err} ${r.out.slice(0, 2000)}`);
      }
      // every host that did not end applied, with its reason: the failure must be diagnosable after the lab is gone
      const notApplied = res.hosts.filter((x) => x.state !== 'applied');
      if (r.code !== 0 || res.hosts.length !== hosts || notApplied.length) {
        throw new Error(`bench: fleetpatch run ${res.run.id} exited ${r.code}, ${res.hosts.length} of ${hosts} hosts, not applied:\n${notApplied.map((x) => `  ${x.inventoryName}: ${x.state}: ${x.reason ?? ''}`).join('\n')}\n${r.err}`);
      }
      runIds.push(res.run.id);
      // BENCH_TIMELINE: the CLI's own time before the run starts and after its last host ends
      if (process.env.BENCH_TIMELINE) {
        const run = res.run as unknown as { createdAt: string };
        const last = Math.max(...(res.hosts as unknown as { finishedAt: string }[]).map((x) => Date.parse(x.finishedAt)));
        console.error(`timeline run ${res.run.id}: CLI start → run start ${Date.parse(run.createdAt) - started} ms, run start → last host end ${last - Date.parse(run.createdAt)} ms, last host end → CLI end ${ended - last} ms`);
      }
    };
    /** Per fleetpatch round: median ms of every step over the hosts, and of each host's whole span. */
    const stepTimes: Record<string, number>[] = [];
    const verifyRecords = async () => {
      stepTimes.push(await runStepMedians(config, runIds.at(-1)!, lab.map((h) => h.name), 'applied'));
    };
    let cpDir = '';
    const ansible = (tuned: boolean): Variant => ({
      prepare: reset,
      run: async () => {
        cpDir = mkdtempSync(join(dir, '.ansible-cp-'));
        const env: NodeJS.ProcessEnv = {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANSIBLE_'))),
          ANSIBLE_SSH_ARGS: `-C -o ControlMaster=auto -o ControlPersist=60s ${sshOpts(dir).join(' ')}`,
          ANSIBLE_SSH_CONTROL_PATH_DIR: cpDir,
          ANSIBLE_FORKS: String(forks),
          ANSIBLE_PIPELINING: tuned ? 'True' : 'False',
          ANSIBLE_NOCOLOR: '1',
          ANSIBLE_RETRY_FILES_ENABLED: 'False',
        };
        await new Promise<void>((resolve, reject) =>
          execFile('ansible-playbook', ['-i', inventory, playbook], { env, cwd: dir, maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(new Error(`bench: ansible-playbook failed: ${err.message}\n${stdout.slice(-3000)}`)) : resolve())),
        );
      },
      extraCpu: () => collectMasters(cpDir),
      verify,
    });
    const variants: Record<string, Variant> = {
      'OpenSSH, one ssh per host, file on stdin (floor)': { prepare: reset, run: () => fanOut(lab, forks, (h) => sshAsync(dir, h, command, deb)), verify },
      'bare ssh2, one exec with stdin': { prepare: reset, run: () => fanOut(lab, forks, (h) => ssh2Job(dir, h, command, deb, knownHosts)), verify },
      "bare ssh2, DESIGN.md's least (facts, job, verify on a new connection)": { prepare: reset, run: () => fanOut(lab, forks, (h) => ssh2Least(dir, h, sha256, deb, knownHosts)), verify },
      'fleetpatch run (packages bundle)': {
        prepare: reset,
        run: fleetpatch,
        verify: async () => {
          await verify();
          await verifyRecords();
        },
      },
      'Ansible tuned (pipelining)': ansible(true),
      'Ansible defaults': ansible(false),
    };
    // warm-up (not measured): pushes fleetpatch's helper to every host, loads every code path
    await reset();
    await fleetpatch();
    await verify();
    const samples = await interleave(variants, rounds, { ...(opts.only ? { only: opts.only } : {}), hostCpu: () => hostCpu(dir, lab) });
    const head = `bench peer: ${hosts} lab hosts, forks ${forks}, ${rounds} rounds, .deb ${deb.length} bytes (medians; ratio = wall ÷ OpenSSH floor in the same round)`;
    console.log(head);
    console.log(table(samples, hosts));
    console.log(`fleetpatch step medians per round (ms, median over hosts): ${JSON.stringify(stepTimes)}`);
    console.log(`fleetpatch SSH connections and channels per host, per run (warm-up first): ${JSON.stringify(channels)}`);
    console.log(`fleetpatch controller peak RSS per run (MB, warm-up first): ${JSON.stringify(peakRss)}`);
    console.log(`results: ${writeResults('peer', opts, samples, { stepTimes, channels, peakRss, debBytes: deb.length, ansible: execFileSync('ansible', ['--version'], { encoding: 'utf8' }).split('\n')[0] })}`);
  } finally {
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
