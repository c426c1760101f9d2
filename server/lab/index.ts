/** The lab fleet: `fleetpatch lab up | down | status | kill | start`. */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { run } from './exec.ts';
import { labHost, readState, writeControllerFiles, writeState, type LabState } from './files.ts';
import { bootHost, killHost, prepareHost, runningPid, waitForSsh, type LabHost } from './namespace-host.ts';

export const DEFAULT_LAB_DIR = '.lab';
export const LAB_PORT = 2222;
const BOOT_TIMEOUT_MS = 30_000;

export interface HostStatus extends LabHost {
  running: boolean;
  pid: number | null;
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

function findHost(state: LabState, name: string, labDir: string): LabHost {
  const host = state.hosts.find((h) => h.name === name);
  if (!host) throw new AppError('usage', `no lab host ${name} in ${labDir} (hosts: ${state.hosts.map((h) => h.name).join(', ')})`);
  return host;
}

/** Starts a lab of `count` hosts, or reuses (and grows) the one already in `dir`. */
export async function labUp(dir: string, count: number, port = LAB_PORT): Promise<HostStatus[]> {
  requireRoot();
  if (!Number.isInteger(count) || count < 1 || count > 2000) throw new AppError('usage', `--hosts must be an integer from 1 to 2000, got ${count}`);
  const labDir = resolve(dir);
  const overlaid = ['/etc', '/usr', '/opt', '/var/lib', '/var/cache', '/mnt'].find((d) => labDir === d || labDir.startsWith(`${d}/`));
  if (overlaid) throw new AppError('usage', `lab directory ${labDir} is under ${overlaid}, which every lab host overlays; choose another --dir`);
  mkdirSync(labDir, { recursive: true, mode: 0o700 });
  const state = readState(labDir) ?? { version: 1, hosts: [] };
  for (let i = state.hosts.length + 1; i <= count; i++) state.hosts.push(labHost(i, state.hosts[0]?.port ?? port));
  const keyFile = join(labDir, 'id_ed25519');
  if (!existsSync(keyFile)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fleetpatch-lab-client', '-f', keyFile]);
  const publicKey = readFileSync(`${keyFile}.pub`, 'utf8');
  await Promise.all(state.hosts.map((h) => prepareHost(labDir, h, publicKey)));
  writeState(labDir, state);
  writeControllerFiles(labDir, state.hosts);
  await Promise.all(
    state.hosts.map(async (h) => {
      if (runningPid(labDir, h.name) !== null) return;
      bootHost(labDir, h);
      await waitForSsh(h, BOOT_TIMEOUT_MS, () => runningPid(labDir, h.name) !== null);
    }),
  );
  return labStatus(labDir);
}

export function labStatus(dir: string): HostStatus[] {
  const labDir = resolve(dir);
  return requireState(labDir).hosts.map((h) => {
    const pid = runningPid(labDir, h.name);
    return { ...h, running: pid !== null, pid };
  });
}

/** Stops every host; with `purge`, also deletes the lab directory. */
export async function labDown(dir: string, purge = false): Promise<void> {
  requireRoot();
  const labDir = resolve(dir);
  const state = readState(labDir);
  if (state) await Promise.all(state.hosts.map((h) => killHost(labDir, h)));
  if (purge && existsSync(labDir)) rmSync(labDir, { recursive: true, force: true });
}

export async function labKill(dir: string, name: string): Promise<boolean> {
  requireRoot();
  const labDir = resolve(dir);
  return killHost(labDir, findHost(requireState(labDir), name, labDir));
}

export async function labStart(dir: string, name: string): Promise<boolean> {
  requireRoot();
  const labDir = resolve(dir);
  const host = findHost(requireState(labDir), name, labDir);
  if (runningPid(labDir, name) !== null) return false;
  bootHost(labDir, host);
  await waitForSsh(host, BOOT_TIMEOUT_MS, () => runningPid(labDir, name) !== null);
  return true;
}
