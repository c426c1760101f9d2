/** A small lab for the SSH tests, beside the ordinary one: namespace hosts with rsa and ecdsa host
 * keys, without an sftp-server, with /var/lib noexec, hosts that accept only a non-root user with
 * sudo (NOPASSWD, and with a password), and two hosts in a network namespace of their own that the
 * controller has no route into, reached only through a bastion whose sshd runs in that namespace
 * (one `sshd -i` per connection, spawned by a small listener on the controller's loopback). */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { run } from './exec.ts';
import { bootHost, hostDir, hostKeyFile, killHost, prepareHost, runningPid, sshBanner, waitForSsh, type LabHost } from './namespace-host.ts';

/** The non-root login user on the sudo hosts. */
export const SUDO_USER = 'fpadmin';
const SUDO_UID = 4242;
/** Inside the hidden network namespace; every 127/8 address is local there, as here. */
const HIDDEN_ADDRESSES = ['127.0.9.1', '127.0.9.2'];
/** Not 22: a machine's own sshd on 0.0.0.0:22 would answer for these addresses outside the namespace. */
const HIDDEN_PORT = 2200;

export interface SshLab {
  dir: string;
  /** root login, rsa host key, no sftp-server; also the first of two jump hosts. */
  rsa: LabHost;
  /** root login, ecdsa host key, /var/lib noexec. */
  ecdsa: LabHost;
  /** only fpadmin may log in (key), sudo NOPASSWD. */
  sudo: LabHost;
  /** only fpadmin may log in (key or password), sudo asks for the password. */
  sudoPassword: LabHost;
  /** The bastion into the hidden network namespace (its sshd runs there). */
  bastion: LabHost;
  /** Reachable only through the bastion. */
  hidden: LabHost[];
  /** fpadmin's login and sudo password. */
  password: string;
  /** How many connections the bastion has accepted so far. */
  bastionConnections(): number;
}

interface State {
  hosts: LabHost[];
  bastion: LabHost;
  password: string;
  holderPid: number;
  bastionPid: number;
}

const STATE = 'ssh-lab.json';

/** Starts the SSH lab in `dir` (root), on `port` for the hosts the controller reaches directly. */
export async function sshLabUp(dir: string, port: number, firstIndex = 200): Promise<SshLab> {
  if (process.getuid?.() !== 0) throw new AppError('not-root', 'the SSH lab needs root: it creates namespaces and overlay mounts');
  if (!existsSync('/usr/bin/sudo')) throw new AppError('lab', 'sudo is not installed on this machine; the SSH lab needs it for its sudo hosts (apt-get install sudo)');
  const labDir = resolve(dir);
  mkdirSync(labDir, { recursive: true, mode: 0o700 });
  const keyFile = join(labDir, 'id_ed25519');
  if (!existsSync(keyFile)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fleetpatch-ssh-lab', '-f', keyFile]);
  const publicKey = readFileSync(`${keyFile}.pub`, 'utf8');
  const password = `pw-${Math.random().toString(36).slice(2, 10)}-Zq7`;
  const at = (i: number) => `127.0.1.${firstIndex + i}`;
  const holderPid = startNetnsHolder(labDir);
  const rootOnly = ['PermitRootLogin prohibit-password'];
  const userOnly = ['PermitRootLogin no'];
  const hosts: LabHost[] = [
    { name: 'ssh-rsa', address: at(0), port, variant: { hostKeyType: 'rsa', sftp: false, sshd: rootOnly } },
    { name: 'ssh-ecdsa', address: at(1), port, variant: { hostKeyType: 'ecdsa', noexecVarLib: true, sshd: rootOnly } },
    { name: 'ssh-sudo', address: at(2), port, variant: { sshd: userOnly } },
    { name: 'ssh-sudopw', address: at(3), port, variant: { sshd: [...userOnly, 'PasswordAuthentication yes'] } },
    ...HIDDEN_ADDRESSES.map((address, i): LabHost => ({ name: `ssh-hidden-${i + 1}`, address, port: HIDDEN_PORT, variant: { netnsPid: holderPid, sshd: rootOnly } })),
  ];
  await Promise.all(hosts.map((h) => prepareHost(labDir, h, publicKey)));
  await addSudoUser(labDir, hosts[2]!, publicKey, null);
  await addSudoUser(labDir, hosts[3]!, publicKey, password);
  const bastion: LabHost = { name: 'ssh-bastion', address: at(4), port, variant: { netnsPid: holderPid } };
  const bastionPid = await startBastion(labDir, bastion, holderPid, publicKey);
  const state: State = { hosts, bastion, password, holderPid, bastionPid };
  writeFileSync(join(labDir, STATE), `${JSON.stringify(state, null, 2)}\n`);
  writeControllerFiles(labDir, state);
  for (const h of hosts) bootHost(labDir, h);
  await Promise.all(hosts.map((h) => (h.variant?.netnsPid ? waitInside(h, holderPid) : waitForSsh(h, 30_000, () => runningPid(labDir, h.name) !== null))));
  return labOf(labDir, state);
}

export async function sshLabDown(dir: string): Promise<void> {
  const labDir = resolve(dir);
  let state: State;
  try {
    state = JSON.parse(readFileSync(join(labDir, STATE), 'utf8')) as State;
  } catch {
    return;
  }
  for (const pid of [state.bastionPid, state.holderPid]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(state.hosts.filter((h) => runningPid(labDir, h.name) !== null).map((h) => (h.variant?.netnsPid ? killQuietly(labDir, h) : killHost(labDir, h))));
}

function labOf(dir: string, s: State): SshLab {
  const [rsa, ecdsa, sudo, sudoPassword, ...hidden] = s.hosts;
  return {
    dir,
    rsa: rsa!,
    ecdsa: ecdsa!,
    sudo: sudo!,
    sudoPassword: sudoPassword!,
    bastion: s.bastion,
    hidden,
    password: s.password,
    bastionConnections: () => {
      try {
        return readFileSync(join(dir, 'bastion', 'connections'), 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    },
  };
}

/** A process whose only job is to own the hidden network namespace (loopback up, nothing else). */
function startNetnsHolder(labDir: string): number {
  const child = spawn('unshare', ['--net', '--fork', '--kill-child', '--', '/bin/sh', '-c', 'ip link set lo up && exec sleep 2147483647', 'fp-netns', labDir], { detached: true, stdio: 'ignore' });
  child.unref();
  if (!child.pid) throw new AppError('lab', 'cannot start the network namespace holder');
  return child.pid;
}

/** The bastion: a listener on the controller's loopback that hands each connection to an
 * `sshd -i` inside the hidden namespace, which forwards on to the hidden hosts. */
async function startBastion(labDir: string, b: LabHost, holderPid: number, publicKey: string): Promise<number> {
  const dir = join(labDir, 'bastion');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(dir, 'ssh_host_ed25519_key'))) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bastion@fleetpatch-lab', '-f', join(dir, 'ssh_host_ed25519_key')]);
  writeFileSync(join(dir, 'authorized_keys'), publicKey, { mode: 0o600 });
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `HostKey ${dir}/ssh_host_ed25519_key`,
      'PidFile none',
      'PermitRootLogin prohibit-password',
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AllowTcpForwarding yes',
      'PermitTTY no',
      'X11Forwarding no',
      'ForceCommand /bin/false',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const listener = String.raw`
const net = require('node:net'), fs = require('node:fs'), { spawn } = require('node:child_process');
const [address, port, netns, dir] = process.argv.slice(1);
net.createServer({ pauseOnConnect: true }, (s) => {
  fs.appendFileSync(dir + '/connections', 'accepted\n');
  const log = fs.openSync(dir + '/sshd.log', 'a');
  spawn('nsenter', ['--net=' + netns, '/usr/sbin/sshd', '-i', '-f', dir + '/sshd_config'], { stdio: [s, s, log] });
  fs.closeSync(log);
  s.destroy();
}).listen(Number(port), address);
`;
  const log = openSync(join(dir, 'listener.log'), 'a');
  const child = spawn(process.execPath, ['-e', listener, b.address, String(b.port), `/proc/${holderPid}/ns/net`, dir], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  if (!child.pid) throw new AppError('lab', 'cannot start the bastion listener');
  for (let i = 0; i < 100; i++) {
    if (await sshBanner(b)) return child.pid;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new AppError('lab', `the bastion did not answer on ${b.address}:${b.port}; see ${dir}/listener.log and sshd.log`);
}

/** fpadmin: a home under /opt (overlaid per host), the lab key, sudo with or without password. */
async function addSudoUser(labDir: string, h: LabHost, publicKey: string, password: string | null): Promise<void> {
  const dir = hostDir(labDir, h.name);
  const etc = join(dir, 'upper/etc');
  // '*': no password login; '!' would lock the account, refusing keys too (sshd without PAM)
  const hash = password === null ? '*' : (await runWithInput('openssl', ['passwd', '-6', '-stdin'], `${password}\n`)).trim();
  const home = `/opt/home/${SUDO_USER}`;
  const append = (file: string, line: string) => {
    if (!existsSync(join(etc, file))) copyFileSync(`/etc/${file}`, join(etc, file));
    const text = readFileSync(join(etc, file), 'utf8').split('\n').filter((l) => l && !l.startsWith(`${SUDO_USER}:`));
    writeFileSync(join(etc, file), `${[...text, line].join('\n')}\n`);
  };
  append('passwd', `${SUDO_USER}:x:${SUDO_UID}:${SUDO_UID}:fleetpatch lab admin:${home}:/bin/sh`);
  append('group', `${SUDO_USER}:x:${SUDO_UID}:`);
  append('shadow', `${SUDO_USER}:${hash}:19000:0:99999:7:::`);
  chmodSync(join(etc, 'shadow'), 0o640);
  writeFileSync(join(etc, 'hosts'), `127.0.0.1 localhost ${h.name}\n`);
  mkdirSync(join(etc, 'sudoers.d'), { recursive: true, mode: 0o755 });
  writeFileSync(join(etc, 'sudoers.d', 'fleetpatch-lab'), `${SUDO_USER} ALL=(ALL:ALL) ${password === null ? 'NOPASSWD: ' : ''}ALL\n`, { mode: 0o440 });
  chmodSync(join(etc, 'sudoers.d', 'fleetpatch-lab'), 0o440);
  const ssh = join(dir, 'upper/opt/home', SUDO_USER, '.ssh');
  mkdirSync(ssh, { recursive: true, mode: 0o700 });
  writeFileSync(join(ssh, 'authorized_keys'), publicKey, { mode: 0o600 });
  for (const p of [join(dir, 'upper/opt/home', SUDO_USER), ssh, join(ssh, 'authorized_keys')]) chownSync(p, SUDO_UID, SUDO_UID);
  chmodSync(join(dir, 'upper/opt/home'), 0o755);
  chmodSync(join(dir, 'upper/opt'), 0o755);
}

function runWithInput(cmd: string, args: string[], input: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new AppError('lab', `${cmd}: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new AppError('lab', `${cmd} ${args.join(' ')} failed: ${err.trim()}`))));
    child.stdin.end(input);
  });
}

/** Waits for a hidden host's sshd from inside its namespace (the controller cannot reach it). */
async function waitInside(h: LabHost, holderPid: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const banner = await run('nsenter', [`--net=/proc/${holderPid}/ns/net`, 'bash', '-c', `exec 3<>/dev/tcp/${h.address}/${h.port} 2>/dev/null && head -c 4 <&3`]).catch(() => '');
      if (banner.startsWith('SSH-')) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new AppError('lab', `${h.name}: sshd did not answer inside its network namespace`);
}

async function killQuietly(labDir: string, h: LabHost): Promise<void> {
  const pid = runningPid(labDir, h.name);
  if (pid === null) return;
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && runningPid(labDir, h.name) !== null; i++) await new Promise((r) => setTimeout(r, 50));
}

/** inventory.ini, known_hosts (each host's own key type), ssh_config and fleetpatch.json. */
function writeControllerFiles(labDir: string, s: State): void {
  const [rsa, ecdsa, sudo, sudoPw, ...hidden] = s.hosts;
  const line = (h: LabHost, extra = '') => `${h.name} ansible_host=${h.address} ansible_port=${h.port}${extra}`;
  const jump = `root@${s.bastion.address}:${s.bastion.port}`;
  writeFileSync(
    join(labDir, 'inventory.ini'),
    [
      '# fleetpatch SSH lab inventory',
      '[rootlogin]',
      line(rsa!),
      line(ecdsa!),
      '',
      '[sudo]',
      line(sudo!),
      line(sudoPw!, ` ansible_become_password=${s.password}`),
      '',
      '[sudo:vars]',
      `ansible_user=${SUDO_USER}`,
      'ansible_become=true',
      '',
      '[hidden]',
      ...hidden.map((h) => `${h.name} ansible_host=${h.address} ansible_port=${h.port}`),
      '',
      '[hidden:vars]',
      `ansible_ssh_common_args='-o ProxyJump=${jump}'`,
      '',
      '[all:vars]',
      'ansible_user=root',
      `ansible_ssh_private_key_file=${join(labDir, 'id_ed25519')}`,
      '',
    ].join('\n'),
  );
  const key = (dir: string, file: string) => readFileSync(join(dir, `${file}.pub`), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const name = (h: LabHost) => (h.port === 22 ? h.address : `[${h.address}]:${h.port}`);
  writeFileSync(
    join(labDir, 'known_hosts'),
    [...s.hosts.map((h) => `${name(h)} ${key(hostDir(labDir, h.name), hostKeyFile(h))}`), `${name(s.bastion)} ${key(join(labDir, 'bastion'), 'ssh_host_ed25519_key')}`, ''].join('\n'),
  );
  writeFileSync(join(labDir, 'ssh_config'), '# the SSH lab: no aliases unless a test writes some\n');
  writeFileSync(
    join(labDir, 'fleetpatch.json'),
    `${JSON.stringify({ knownHostsFiles: ['known_hosts'], database: 'fleetpatch.db', sshConfigFile: 'ssh_config', noexecRemoteDir: '/opt/fleetpatch' }, null, 2)}\n`,
  );
}

/** Removes the lab directory (after sshLabDown). */
export function purgeSshLab(dir: string): void {
  rmSync(resolve(dir), { recursive: true, force: true });
}
