/** The lab fleet: `fleetpatch lab up | down | status | kill | start`. Namespace hosts (lab-NN)
 * and qemu VMs with a real Debian kernel (vm-NN), side by side in one inventory. */
import PQueue from 'p-queue';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { run } from './exec.ts';
import { buildExampleBundles } from './example-bundles.ts';
import { buildExamplePackageBundles, installBaseline } from './example-packages.ts';
import { labHost, readState, writeControllerFiles, writeState, type LabState } from './files.ts';
import { bootHost, killHost, prepareHost, runningPid, sshBanner, waitForSsh, type LabHost } from './namespace-host.ts';
import { hostFaults, labUnfaultAll } from './faults.ts';
import { labUnshapeAll, slowedRates } from './shape.ts';
import { bootVm, killVm, labKernel, labQemuPids, MAX_VMS, prepareVm, vmHost, vmPid, waitForVm } from './vm.ts';

export { labSlow, parseRate } from './shape.ts';
export { labCut, labLoss } from './faults.ts';

export const DEFAULT_LAB_DIR = '.lab';
export const LAB_PORT = 2222;
const BOOT_TIMEOUT_MS = 30_000;
/** Hosts prepared, booted or given their baseline at once: a host's boot timeout starts when it is
 * booted, so a 1,000-host lab on 2 cores does not wait for 1,000 sshds at the same time. */
const HOST_PARALLEL = 16;

/** `fn` over every host, at most HOST_PARALLEL at a time; at the first failure nothing more is
 * started, and it rejects once the ones in flight have ended (else hosts booted after a caller's
 * `lab down` outlived it). */
async function limited<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = new PQueue({ concurrency: HOST_PARALLEL });
  try {
    await queue.addAll(items.map((item) => () => fn(item)));
  } catch (err) {
    queue.clear();
    await queue.onIdle();
    throw err;
  }
}
/** TCG boots take 3–8 s alone; several at once on 2 cores, or a busy machine, take longer. */
const VM_BOOT_TIMEOUT_MS = 90_000;

export type LabHostKind = 'namespace' | 'vm';

export interface HostStatus extends LabHost {
  kind: LabHostKind;
  running: boolean;
  pid: number | null;
  /** The rate the host's SSH traffic is shaped to (`lab slow`), null at full speed. */
  rate: string | null;
  /** The host's SSH traffic is dropped both ways (`lab cut`). */
  cut: boolean;
  /** Percentage of the host's SSH packets dropped at random (`lab loss`), null for none. */
  loss: number | null;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new AppError('not-root', 'the lab needs root: it creates namespaces and overlay mounts. Run it as root (e.g. sudo npx fleetpatch lab up)');
  }
}

function requireState(labDir: string): LabState {
  const state = readState(labDir);
  if (!state) throw new AppError('lab', `no lab in ${labDir}: start one with \`fleetpatch lab up --dir ${labDir}\``);
  return state;
}

function findHost(state: LabState, name: string, labDir: string): { host: LabHost; kind: LabHostKind } {
  const host = state.hosts.find((h) => h.name === name);
  if (host) return { host, kind: 'namespace' };
  const vm = state.vms?.find((v) => v.name === name);
  if (vm) return { host: vm, kind: 'vm' };
  const names = [...state.hosts, ...(state.vms ?? [])].map((h) => h.name).join(', ');
  throw new AppError('usage', `no lab host ${name} in ${labDir} (hosts: ${names})`);
}

/** Boots a VM and waits until it answers SSH; its index (1-based) only chooses its MAC. */
async function startVm(labDir: string, vm: LabHost, index: number): Promise<void> {
  await bootVm(labDir, vm, labKernel(), index);
  await waitForVm(labDir, vm, VM_BOOT_TIMEOUT_MS);
}

const vmIndex = (state: LabState, name: string) => (state.vms ?? []).findIndex((v) => v.name === name) + 1;

/** Starts a lab of `count` namespace hosts and `vms` VMs, or reuses (and grows) the one already
 * in `dir`: running hosts and VMs are left as they are, stopped ones are started. */
export async function labUp(dir: string, count: number, port = LAB_PORT, vms = 0): Promise<HostStatus[]> {
  requireRoot();
  if (!Number.isInteger(count) || count < 0 || count > 2000) throw new AppError('usage', `--hosts must be an integer from 0 to 2000, got ${count}`);
  if (!Number.isInteger(vms) || vms < 0 || vms > MAX_VMS) throw new AppError('usage', `--vms must be an integer from 0 to ${MAX_VMS}, got ${vms}`);
  const labDir = resolve(dir);
  const overlaid = ['/etc', '/usr', '/opt', '/var/lib', '/var/cache', '/mnt'].find((d) => labDir === d || labDir.startsWith(`${d}/`));
  if (overlaid) throw new AppError('usage', `lab directory ${labDir} is under ${overlaid}, which every lab host overlays; choose another --dir`);
  const state = readState(labDir) ?? { version: 1, hosts: [], vms: [] };
  const vmList = (state.vms ??= []);
  const labPort = state.hosts[0]?.port ?? vmList[0]?.port ?? port;
  for (let i = state.hosts.length + 1; i <= count; i++) state.hosts.push(labHost(i, labPort));
  for (let i = vmList.length + 1; i <= vms; i++) vmList.push(vmHost(i, labPort));
  if (state.hosts.length + vmList.length === 0) throw new AppError('usage', 'a lab needs at least one host or VM (--hosts N, --vms K)');
  const clash = vmList.find((v) => state.hosts.some((h) => h.address === v.address && h.port === v.port));
  if (clash) throw new AppError('usage', `${clash.name} would share ${clash.address}:${clash.port} with a namespace host (more than 254 hosts); use fewer hosts or another lab`);
  if (vmList.length) labKernel(); // refuse early when the VM kernel is not prepared
  mkdirSync(labDir, { recursive: true, mode: 0o700 });
  const keyFile = join(labDir, 'id_ed25519');
  if (!existsSync(keyFile)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fleetpatch-lab-client', '-f', keyFile]);
  const publicKey = readFileSync(`${keyFile}.pub`, 'utf8');
  await Promise.all([limited(state.hosts, (h) => prepareHost(labDir, h, publicKey)), ...vmList.map((v) => prepareVm(labDir, v, publicKey))]);
  writeState(labDir, state);
  writeControllerFiles(labDir, state.hosts, vmList);
  // the example bundles need the example modules, which exist once the VM kernel is prepared
  if (vmList.length) await buildExampleBundles(labDir, labKernel().release);
  await buildExamplePackageBundles(labDir);
  // VMs first: their boots are the long pole, and they run while the namespace hosts start.
  await Promise.all([
    ...vmList.map(async (v, i) => {
      if (vmPid(labDir, v.name) === null) await startVm(labDir, v, i + 1);
    }),
    limited(state.hosts, async (h) => {
      if (runningPid(labDir, h.name) !== null) return;
      // a banner before this host is booted is someone else's sshd: it would pass for this one
      if (await sshBanner(h)) throw new AppError('lab', `${h.name}: ${h.address}:${h.port} already answers SSH (another lab, or an sshd of the machine); take this lab down or choose another --port`);
      bootHost(labDir, h);
      await waitForSsh(h, BOOT_TIMEOUT_MS, () => runningPid(labDir, h.name) !== null);
    }),
  ]);
  await limited(state.hosts, (h) => installBaseline(labDir, h));
  return labStatus(labDir);
}

export function labStatus(dir: string): HostStatus[] {
  const labDir = resolve(dir);
  const state = requireState(labDir);
  const rates = slowedRates(labDir);
  const faults = hostFaults(labDir);
  return [
    ...state.hosts.map((h): HostStatus => {
      const pid = runningPid(labDir, h.name);
      return { ...h, kind: 'namespace', running: pid !== null, pid, rate: rates.get(h.name) ?? null, cut: faults.get(h.name)?.cut ?? false, loss: faults.get(h.name)?.loss ?? null };
    }),
    ...(state.vms ?? []).map((v): HostStatus => {
      const pid = vmPid(labDir, v.name);
      return { ...v, kind: 'vm', running: pid !== null, pid, rate: null, cut: false, loss: null };
    }),
  ];
}

/** Stops every host and VM (no qemu of this lab survives it); with `purge`, also deletes the
 * lab directory. */
export async function labDown(dir: string, purge = false): Promise<void> {
  requireRoot();
  const labDir = resolve(dir);
  const state = readState(labDir);
  if (state) await Promise.all([...state.hosts.map((h) => killHost(labDir, h)), ...(state.vms ?? []).map((v) => killVm(labDir, v))]);
  if (existsSync(labDir)) {
    // a qemu whose pidfile was lost or overwritten is still this lab's: power it off too
    for (const pid of labQemuPids(labDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // it exited meanwhile
      }
    }
    for (let i = 0; i < 100 && labQemuPids(labDir).length; i++) await new Promise((r) => setTimeout(r, 50));
  }
  // the lab's classes and filters on lo (and the root qdisc once no lab uses it); before a purge,
  // which would delete the record of them
  await labUnshapeAll(labDir);
  // the lab's nftables rules (lab cut, lab loss), and our table once no lab uses it
  await labUnfaultAll(labDir);
  if (purge && existsSync(labDir)) rmSync(labDir, { recursive: true, force: true });
}

/** Powers a host or VM off (every process of a host dies at once; a VM's qemu is SIGKILLed). */
export async function labKill(dir: string, name: string): Promise<boolean> {
  requireRoot();
  const labDir = resolve(dir);
  const { host, kind } = findHost(requireState(labDir), name, labDir);
  return kind === 'vm' ? killVm(labDir, host) : killHost(labDir, host);
}

/** Boots a killed host again (its disk state kept), or a VM (a real reboot: a fresh root file
 * system, no livepatch loaded). */
export async function labStart(dir: string, name: string): Promise<boolean> {
  requireRoot();
  const labDir = resolve(dir);
  const state = requireState(labDir);
  const { host, kind } = findHost(state, name, labDir);
  if (kind === 'vm') {
    if (vmPid(labDir, name) !== null) return false;
    await startVm(labDir, host, vmIndex(state, name));
    return true;
  }
  if (runningPid(labDir, name) !== null) return false;
  bootHost(labDir, host);
  await waitForSsh(host, BOOT_TIMEOUT_MS, () => runningPid(labDir, name) !== null);
  return true;
}
