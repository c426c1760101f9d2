/** One VM of the lab: qemu (TCG, no KVM needed) booting Debian's own kernel with the shared guest
 * initramfs built by native/lab/vm/prepare.sh, plus a per-VM cpio carrying its dropbear host key
 * and root's authorized_keys. Reached through slirp's hostfwd from the VM's own loopback address
 * (127.0.2.K) and the lab's port to the guest's port 22. SIGKILL of qemu is pulling the power;
 * starting it again is a real reboot (livepatches gone, /var/lib/fleetpatch empty). */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../errors.ts';
import { cpioArchive } from './cpio.ts';
import { run } from './exec.ts';
import { powerOff, sshBanner, type LabHost } from './namespace-host.ts';

/** Where native/lab/vm/prepare.sh keeps the kernel and the guest image. */
export function labCacheDir(): string {
  return process.env.FLEETPATCH_LAB_CACHE ?? '/var/cache/fleetpatch-lab';
}

/** CACHE/kernel.json, written by native/lab/vm/prepare.sh. */
export interface LabKernel {
  release: string;
  /** Debian package version, e.g. 6.1.192-2. */
  version: string;
  /** `uname -v` of this kernel. */
  unameV: string;
  /** GNU build-id of its vmlinux (40 hex), as /sys/kernel/notes shows it on a booted VM. */
  buildId: string;
  vmlinuz: string;
  vmlinux: string;
  /** The vmlinux has a PVH entry: qemu boots it directly, skipping decompression under TCG. */
  pvh: boolean;
  modules: string;
  headers: string;
  initramfs: string;
}

export function labKernel(): LabKernel {
  const file = join(labCacheDir(), 'kernel.json');
  let k: LabKernel;
  try {
    k = JSON.parse(readFileSync(file, 'utf8')) as LabKernel;
  } catch {
    throw new AppError('lab', `no VM kernel prepared (${file} is missing): run \`sh native/lab/setup.sh\` as root once`);
  }
  const boot = k.pvh ? k.vmlinux : k.vmlinuz;
  for (const f of [boot, k.initramfs]) {
    if (!existsSync(f)) throw new AppError('lab', `${f} (from ${file}) is missing: run \`sh native/lab/setup.sh\` as root`);
  }
  return k;
}

export const VM_MEMORY_MIB = 256;
export const MAX_VMS = 64;
export const READY_MARKER = 'FLEETPATCH-VM-READY';
const FAILED_MARKER = 'FLEETPATCH-VM-FAILED';

/** VM i (1-based): vm-01 on 127.0.2.1, … */
export function vmHost(i: number, port: number): LabHost {
  return { name: `vm-${String(i).padStart(2, '0')}`, address: `127.0.2.${i}`, port };
}

export function vmDir(labDir: string, name: string): string {
  return join(labDir, 'vms', name);
}

/** Creates the VM's identity once: dropbear host key (and its OpenSSH public form for
 * known_hosts), machine-id; and, every time, the per-VM cpio with root's authorized_keys. */
export async function prepareVm(labDir: string, vm: LabHost, clientPublicKey: string): Promise<void> {
  const dir = vmDir(labDir, vm.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = join(dir, 'dropbear_ed25519_host_key');
  const pub = join(dir, 'ssh_host_ed25519_key.pub');
  if (!existsSync(key) || !existsSync(pub)) {
    rmSync(key, { force: true });
    await run('dropbearkey', ['-t', 'ed25519', '-f', key]);
    const line = (await run('dropbearkey', ['-y', '-f', key])).split('\n').find((l) => l.startsWith('ssh-ed25519 '));
    if (!line) throw new AppError('lab', `${vm.name}: dropbearkey -y printed no ssh-ed25519 public key`);
    const [type, blob] = line.trim().split(/\s+/);
    writeFileSync(pub, `${type} ${blob} ${vm.name}@fleetpatch-lab\n`);
  }
  const idFile = join(dir, 'machine-id');
  if (!existsSync(idFile)) writeFileSync(idFile, `${randomBytes(16).toString('hex')}\n`);
  writeFileSync(
    join(dir, 'identity.cpio'),
    cpioArchive([
      { path: 'etc/dropbear', mode: 0o700 },
      { path: 'etc/dropbear/dropbear_ed25519_host_key', mode: 0o600, data: readFileSync(key) },
      { path: 'root', mode: 0o700 },
      { path: 'root/.ssh', mode: 0o700 },
      { path: 'root/.ssh/authorized_keys', mode: 0o600, data: clientPublicKey },
    ]),
  );
}

function machineId(labDir: string, name: string): string {
  return readFileSync(join(vmDir(labDir, name), 'machine-id'), 'utf8').trim();
}

/** The qemu command line of a VM. */
export function qemuArgs(labDir: string, vm: LabHost, kernel: LabKernel, index: number): string[] {
  const dir = vmDir(labDir, vm.name);
  const mac = `52:54:00:fb:${(index >> 8).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
  return [
    '-name', `fleetpatch-lab-${vm.name}`,
    '-accel', 'tcg',
    '-m', String(VM_MEMORY_MIB),
    '-smp', '1',
    '-nodefaults',
    '-display', 'none',
    '-no-reboot',
    '-kernel', kernel.pvh ? kernel.vmlinux : kernel.vmlinuz,
    '-initrd', join(dir, 'initrd.img'),
    '-append', `console=ttyS0 panic=-1 quiet fleetpatch.hostname=${vm.name} fleetpatch.machine_id=${machineId(labDir, vm.name)}`,
    '-serial', `file:${join(dir, 'console.log')}`,
    '-netdev', `user,id=net0,restrict=on,hostfwd=tcp:${vm.address}:${vm.port}-:22`,
    '-device', `virtio-net-pci,netdev=net0,mac=${mac}`,
    '-device', 'virtio-rng-pci',
    '-pidfile', join(dir, 'qemu.pid'),
    '-daemonize',
  ];
}

/** Powers the VM on: writes its initrd (shared image + its identity), keeps the previous
 * console log as console.log.1, and starts qemu, which daemonizes once its devices are set up
 * (so a port already taken fails here). Returns qemu's pid. */
export async function bootVm(labDir: string, vm: LabHost, kernel: LabKernel, index: number): Promise<number> {
  const dir = vmDir(labDir, vm.name);
  if (labDir.includes(',')) throw new AppError('lab', `the lab directory ${labDir} contains a comma, which qemu options cannot carry; choose another --dir`);
  writeFileSync(join(dir, 'initrd.img'), Buffer.concat([readFileSync(kernel.initramfs), readFileSync(join(dir, 'identity.cpio'))]));
  const log = join(dir, 'console.log');
  if (existsSync(log)) renameSync(log, `${log}.1`);
  rmSync(join(dir, 'qemu.pid'), { force: true });
  await new Promise<void>((resolve, reject) => {
    execFile('qemu-system-x86_64', qemuArgs(labDir, vm, kernel, index), { encoding: 'utf8', timeout: 30_000 }, (err, _out, stderr) => {
      if (err) reject(new AppError('lab', `${vm.name}: qemu did not start: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
  const pid = vmPid(labDir, vm.name);
  if (pid === null) throw new AppError('lab', `${vm.name}: qemu exited right after starting; see ${log}`);
  return pid;
}

function isVmQemu(pid: number, dir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!cmdline[0]?.endsWith('qemu-system-x86_64') || !cmdline.includes(join(dir, 'qemu.pid'))) return false;
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] !== 'Z';
  } catch {
    return false;
  }
}

/** The pid of the VM's running qemu, or null when it is off. */
export function vmPid(labDir: string, name: string): number | null {
  const dir = vmDir(labDir, name);
  try {
    const pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isVmQemu(pid, dir) ? pid : null;
  } catch {
    return null;
  }
}

/** Every live qemu of this lab's VMs, whatever their pidfiles say. */
export function labQemuPids(labDir: string): number[] {
  const root = join(labDir, 'vms');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmdline[0]?.endsWith('qemu-system-x86_64') || !cmdline.some((a) => a.startsWith(`${root}/`))) continue;
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, 'utf8'))) continue;
      pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Waits for the guest's ready marker on the serial log (slirp accepts TCP before the guest is
 * up, so a banner check alone would race), then for dropbear's banner through the forward. */
export async function waitForVm(labDir: string, vm: LabHost, timeoutMs: number): Promise<void> {
  const log = join(vmDir(labDir, vm.name), 'console.log');
  const deadline = Date.now() + timeoutMs;
  const tail = () => {
    try {
      return readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '(no console log)';
    }
  };
  for (;;) {
    let text = '';
    try {
      text = readFileSync(log, 'utf8');
    } catch {
      // qemu has not created it yet
    }
    if (text.includes(READY_MARKER)) break;
    if (text.includes(FAILED_MARKER)) throw new AppError('lab', `${vm.name}: the guest failed to start; console:\n${tail()}`);
    if (vmPid(labDir, vm.name) === null) throw new AppError('lab', `${vm.name}: qemu exited during boot; console:\n${tail()}`);
    if (Date.now() > deadline) throw new AppError('lab', `${vm.name}: not ready within ${timeoutMs / 1000} s; console:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  while (!(await sshBanner(vm))) {
    if (vmPid(labDir, vm.name) === null) throw new AppError('lab', `${vm.name}: qemu exited during boot; console:\n${tail()}`);
    if (Date.now() > deadline) throw new AppError('lab', `${vm.name}: dropbear did not answer on ${vm.address}:${vm.port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pulls the VM's power: SIGKILL to qemu; returns once the process is gone and its forwarded
 * port refuses connections. */
export async function killVm(labDir: string, vm: LabHost): Promise<boolean> {
  const pid = vmPid(labDir, vm.name);
  if (pid === null) return false;
  await powerOff(vm, pid, () => vmPid(labDir, vm.name) !== null);
  return true;
}
