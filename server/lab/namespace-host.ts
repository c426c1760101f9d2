/** One namespace host of the lab: a real OpenSSH sshd as PID 1 of its own PID, mount and UTS
 * namespaces, with overlays that give it a private writable /etc, /usr, /opt, /var/lib and
 * /var/cache, its own /root, /tmp and /run, its own hostname, machine-id and os-release, and its
 * own loopback address. Killing the `unshare` process kills the whole host (--kill-child). */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, closeSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { AppError } from '../errors.ts';
import { run } from './exec.ts';

export interface LabHost {
  name: string;
  address: string;
  port: number;
  /** Variations for the SSH tests (ssh-variants.ts); absent on ordinary lab hosts. */
  variant?: HostVariant;
}

export interface HostVariant {
  hostKeyType?: 'ed25519' | 'ecdsa' | 'rsa';
  /** false: no sftp-server (uploads must go over exec). */
  sftp?: boolean;
  /** sshd_config lines placed first, so they win over the defaults (sshd takes the first value). */
  sshd?: string[];
  /** /var/lib (and so /var/lib/fleetpatch) mounted noexec. */
  noexecVarLib?: boolean;
  /** Join the network namespace of this process instead of the machine's (a host behind a bastion). */
  netnsPid?: number;
}

/** Directories overlaid per host (lower = the machine's own, upper = the host's). */
const OVERLAYS = ['etc', 'usr', 'opt', 'var/lib', 'var/cache'];

/** Where the host's own directory appears inside it: bound there first, so the mounts on /tmp,
 * /run or /root that follow cannot hide it wherever the lab directory lives. */
const INSIDE = '/mnt';

/** Runs inside the new namespaces, then becomes sshd. $1 host dir, $2 host name, $3 noexec|-. */
const BOOT = String.raw`
set -eu
name=$2
mount --bind "$1" ${INSIDE}
h=${INSIDE}
for d in ${OVERLAYS.join(' ')}; do
  k=$(echo "$d" | tr / _)
  mkdir -p "$h/upper/$k" "$h/work/$k"
  mount -t overlay "lab-$k" -o "lowerdir=/$d,upperdir=$h/upper/$k,workdir=$h/work/$k" "/$d"
done
[ "$3" = noexec ] && mount -o remount,bind,noexec /var/lib
mount --bind "$h/root" /root
mount -t tmpfs -o mode=1777 lab-tmp /tmp
mount -t tmpfs -o mode=755 lab-run /run
mkdir -p /run/sshd
hostname "$name"
exec /usr/sbin/sshd -D -e -f "$h/sshd_config"
`;

export function hostDir(labDir: string, name: string): string {
  return join(labDir, 'hosts', name);
}

/** Creates the host's files once: host key, identity files, root's home, sshd_config. */
export async function prepareHost(labDir: string, host: LabHost, clientPublicKey: string): Promise<void> {
  const dir = hostDir(labDir, host.name);
  const etc = join(dir, 'upper/etc');
  const root = join(dir, 'root');
  mkdirSync(etc, { recursive: true });
  mkdirSync(join(root, '.ssh'), { recursive: true, mode: 0o700 });
  chmodSync(root, 0o700);
  const keyType = host.variant?.hostKeyType ?? 'ed25519';
  const hostKey = hostKeyFile(host);
  if (!existsSync(join(dir, hostKey))) {
    await run('ssh-keygen', ['-q', '-t', keyType, ...(keyType === 'rsa' ? ['-b', '3072'] : []), '-N', '', '-C', `${host.name}@fleetpatch-lab`, '-f', join(dir, hostKey)]);
  }
  if (!existsSync(join(etc, 'machine-id'))) writeFileSync(join(etc, 'machine-id'), `${randomBytes(16).toString('hex')}\n`);
  writeFileSync(join(etc, 'hostname'), `${host.name}\n`);
  writeFileSync(join(etc, 'os-release'), osRelease(host.name));
  for (const f of ['.bashrc', '.profile']) if (existsSync(`/etc/skel/${f}`)) copyFileSync(`/etc/skel/${f}`, join(root, f));
  writeFileSync(join(root, '.ssh/authorized_keys'), clientPublicKey, { mode: 0o600 });
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      ...(host.variant?.sshd ?? []),
      `ListenAddress ${host.address}:${host.port}`,
      `HostKey ${INSIDE}/${hostKey}`,
      'PidFile none',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'AuthorizedKeysFile .ssh/authorized_keys',
      ...(host.variant?.sftp === false ? [] : ['Subsystem sftp /usr/lib/openssh/sftp-server']),
      'MaxStartups 200:30:400',
      'MaxSessions 10',
      'PrintMotd no',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );
}

/** The host key's file in the host's directory (its `.pub` beside it). */
export function hostKeyFile(host: LabHost): string {
  return `ssh_host_${host.variant?.hostKeyType ?? 'ed25519'}_key`;
}

/** The machine's os-release, marked as this lab host's own. */
function osRelease(name: string): string {
  const base = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : 'ID=debian\nVERSION_ID="12"\n';
  const lines = base.split('\n').filter((l) => l && !/^(PRETTY_NAME|VARIANT|VARIANT_ID)=/.test(l));
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(base)?.[1] ?? 'Linux';
  return [`PRETTY_NAME="${pretty} [fleetpatch lab ${name}]"`, ...lines, 'VARIANT="fleetpatch lab host"', `VARIANT_ID=${name}`, ''].join('\n');
}

/** Starts the host in the background; returns the pid of its `unshare` process. */
export function bootHost(labDir: string, host: LabHost): number {
  const dir = hostDir(labDir, host.name);
  const log = openSync(join(dir, 'console.log'), 'a');
  const unshare = ['unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private', '--', '/bin/sh', '-c', BOOT, 'lab-boot', dir, host.name, host.variant?.noexecVarLib ? 'noexec' : '-'];
  // nsenter execs unshare, so the pid stays the host's unshare process
  const argv = host.variant?.netnsPid ? ['nsenter', `--net=/proc/${host.variant.netnsPid}/ns/net`, ...unshare] : unshare;
  const child = spawn(
    argv[0]!,
    argv.slice(1),
    { detached: true, stdio: ['ignore', log, log], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } },
  );
  closeSync(log);
  child.unref();
  if (!child.pid) throw new AppError('lab', `${host.name}: cannot start unshare`);
  writeFileSync(join(dir, 'pid'), `${child.pid}\n`);
  return child.pid;
}

/** The pid of the host's running `unshare` process, or null when the host is down. */
export function runningPid(labDir: string, name: string): number | null {
  const dir = hostDir(labDir, name);
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, 'pid'), 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // Guard against pid reuse: the process must be this host's unshare.
    if (!cmdline[0]?.endsWith('unshare') || !cmdline.includes(dir)) return null;
    const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return state === 'Z' ? null : pid;
  } catch {
    return null;
  }
}

/** `alive()`, asked again a few times before it is believed false: on a machine starting hundreds
 * of hosts, a single look at /proc once said a running host was gone (a 400-host lab up failed on a
 * host whose sshd had logged "Server listening" and kept running). */
async function stillAlive(alive: () => boolean): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    if (alive()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Waits until the host's sshd sends its banner. */
export async function waitForSsh(host: LabHost, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // alive first: a banner on a port another lab holds must not pass for this host's sshd
    if (!(await stillAlive(alive))) throw new AppError('lab', `${host.name}: sshd exited during start-up (is ${host.address}:${host.port} taken by another lab? see its console.log)`);
    if (await sshBanner(host)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new AppError('lab', `${host.name}: sshd did not answer on ${host.address}:${host.port} within ${timeoutMs / 1000} s`);
}

export function sshBanner(host: LabHost): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: host.address, port: host.port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.once('data', (d) => done(d.toString('latin1').startsWith('SSH-')));
    sock.once('error', () => done(false));
    // a dying sshd may accept and close without a byte: without this the promise would hang
    // with no handle left (the test runner then reports a pending promise on an empty loop)
    sock.once('close', () => done(false));
  });
}

/** Kills the host like pulling its power: every process in it dies at once. */
export async function killHost(labDir: string, host: LabHost): Promise<boolean> {
  const pid = runningPid(labDir, host.name);
  if (pid === null) return false;
  await powerOff(host, pid, () => runningPid(labDir, host.name) !== null);
  return true;
}

/** SIGKILLs `pid` and returns once it is gone and the host's SSH port no longer answers. */
export async function powerOff(host: LabHost, pid: number, running: () => boolean): Promise<void> {
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200; i++) {
    if (!running() && !(await sshBanner(host))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new AppError('lab', `${host.name}: still answering after SIGKILL`);
}
