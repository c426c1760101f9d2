/** Network faults on one lab host: `fleetpatch lab cut HOST [--off]` and `fleetpatch lab loss HOST
 * --percent P | --off`.
 *
 * This kernel has no netem (CONFIG_NET_SCH_NETEM is not set), so neither delay nor loss can come
 * from tc; it has nftables (CONFIG_NF_TABLES, CONFIG_NFT_NUMGEN). The lab's hosts share the
 * controller's network namespace, so every packet to or from a host's sshd is delivered locally
 * over `lo` and crosses the input hook: a chain there, in a table of our own (`table inet
 * fleetpatch_lab`), drops the host's SSH traffic in both directions (ip daddr ADDR tcp dport PORT;
 * ip saddr ADDR tcp sport PORT) — always for a cut (packets vanish: connections time out, as on a
 * cut cable, rather than being refused), or at random with `numgen random mod 100 < P` for a loss
 * of P %. Delay (latency) is not possible without netem and is not offered.
 *
 * Every rule carries a comment naming the lab and the host, so `--off` and `lab down` delete
 * exactly the rules of this lab (by handle) and the table is deleted once it holds no rule of any
 * lab. What a lab installed is also kept in D/faults.json (for `lab status`). Changes are
 * serialised between processes by a lock file. Every nft call is argv-only (execFile). */
import { machineLockFile, withMachineLock } from './machine-lock.ts';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { run } from './exec.ts';
import { readState } from './files.ts';

export const FAULTS_FILE = 'faults.json';
export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'fleetpatch_lab';
export const NFT_CHAIN = 'input';
const LOCK_FILE = machineLockFile('faults');

export interface HostFaults {
  address: string;
  port: number;
  /** The host's SSH traffic is dropped in both directions. */
  cut: boolean;
  /** Percentage of the host's SSH packets dropped at random (1–100), or null. */
  loss: number | null;
}

export interface FaultsState {
  version: 1;
  hosts: Record<string, HostFaults>;
}

export function readFaultsState(labDir: string): FaultsState | null {
  try {
    const s = JSON.parse(readFileSync(join(labDir, FAULTS_FILE), 'utf8')) as FaultsState;
    return s && typeof s.hosts === 'object' ? s : null;
  } catch {
    return null;
  }
}

/** The faults of every lab host that has some, by name (from D/faults.json; nft is not asked). */
export function hostFaults(labDir: string): Map<string, HostFaults> {
  return new Map(Object.entries(readFaultsState(resolve(labDir))?.hosts ?? {}));
}

function writeFaultsState(labDir: string, state: FaultsState): void {
  const file = join(labDir, FAULTS_FILE);
  for (const [name, h] of Object.entries(state.hosts)) if (!h.cut && h.loss === null) delete state.hosts[name];
  if (!Object.keys(state.hosts).length) {
    rmSync(file, { force: true });
    return;
  }
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** A short tag naming the lab directory in rule comments (the path itself may be long). */
export function labTag(labDir: string): string {
  return createHash('sha256').update(resolve(labDir)).digest('hex').slice(0, 12);
}

function nft(args: string[]): Promise<string> {
  if (!['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].some((p) => existsSync(p))) {
    return Promise.reject(new AppError('lab', 'nft is not installed: network faults need nftables (apt-get install nftables, or sh native/lab/setup.sh)'));
  }
  return run('nft', args);
}

interface NftRule {
  handle: number;
  comment?: string;
}

/** Rules of our chain, or null when our table (or chain) does not exist. */
async function chainRules(): Promise<NftRule[] | null> {
  let out: string;
  try {
    out = await nft(['-j', 'list', 'chain', NFT_FAMILY, NFT_TABLE, NFT_CHAIN]);
  } catch {
    return null;
  }
  const list = (JSON.parse(out) as { nftables: { rule?: NftRule }[] }).nftables;
  return list.flatMap((e) => (e.rule ? [{ handle: e.rule.handle, ...(e.rule.comment === undefined ? {} : { comment: e.rule.comment }) }] : []));
}

async function ensureChain(): Promise<void> {
  // both are no-ops when they exist already
  await nft(['add', 'table', NFT_FAMILY, NFT_TABLE]);
  await nft(['add', 'chain', NFT_FAMILY, NFT_TABLE, NFT_CHAIN, '{', 'type', 'filter', 'hook', 'input', 'priority', '0', ';', 'policy', 'accept', ';', '}']);
}

/** Deletes our table when no lab has a rule in it any more. */
async function dropTableIfUnused(): Promise<void> {
  const rules = await chainRules();
  if (rules === null) {
    await nft(['delete', 'table', NFT_FAMILY, NFT_TABLE]).catch(() => undefined);
    return;
  }
  if (!rules.length) await nft(['delete', 'table', NFT_FAMILY, NFT_TABLE]);
}

const comment = (labDir: string, name: string, kind: 'cut' | 'loss') => `fleetpatch-lab ${labTag(labDir)} ${name} ${kind}`;

/** Deletes the host's rules of one kind (or of every kind), found by their comment. */
async function deleteRules(labDir: string, name: string | null, kind: 'cut' | 'loss' | null): Promise<void> {
  const rules = await chainRules();
  if (!rules) return;
  const prefix = `fleetpatch-lab ${labTag(labDir)} `;
  for (const r of rules) {
    if (!r.comment?.startsWith(prefix)) continue;
    const [, , host, k] = r.comment.split(' ');
    if ((name === null || host === name) && (kind === null || k === kind)) {
      await nft(['delete', 'rule', NFT_FAMILY, NFT_TABLE, NFT_CHAIN, 'handle', String(r.handle)]);
    }
  }
}

/** Adds the host's two rules (to its sshd, from its sshd) of one kind. */
async function addRules(labDir: string, name: string, h: { address: string; port: number }, kind: 'cut' | 'loss', percent = 100): Promise<void> {
  const port = String(h.port);
  const match = kind === 'loss' ? ['numgen', 'random', 'mod', '100', '<', String(percent)] : [];
  const note = ['comment', `"${comment(labDir, name, kind)}"`];
  await nft(['add', 'rule', NFT_FAMILY, NFT_TABLE, NFT_CHAIN, 'ip', 'daddr', h.address, 'tcp', 'dport', port, ...match, 'counter', 'drop', ...note]);
  await nft(['add', 'rule', NFT_FAMILY, NFT_TABLE, NFT_CHAIN, 'ip', 'saddr', h.address, 'tcp', 'sport', port, ...match, 'counter', 'drop', ...note]);
}

/** The namespace host `name` of the lab in `labDir`, reached over the controller's loopback. */
function faultHost(labDir: string, name: string): { address: string; port: number } {
  const lab = readState(labDir);
  if (!lab) throw new AppError('lab', `no lab in ${labDir}: start one with \`fleetpatch lab up --dir ${labDir}\``);
  const host = lab.hosts.find((h) => h.name === name);
  if (!host) {
    if (lab.vms?.some((v) => v.name === name)) throw new AppError('usage', `${name} is a VM: only the lab's namespace hosts (127.0.1.K) take network faults`);
    throw new AppError('usage', `no lab host ${name} in ${labDir} (hosts: ${lab.hosts.map((h) => h.name).join(', ')})`);
  }
  if (!/^127\.0\.1\.\d{1,3}$/.test(host.address) || host.variant?.netnsPid) {
    throw new AppError('usage', `${name} (${host.address}) is not reached over the controller's loopback at 127.0.1.K: only those lab hosts take network faults`);
  }
  return { address: host.address, port: host.port };
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new AppError('not-root', 'a network fault on a lab host changes the machine\'s nftables rules: run it as root');
}

export interface FaultResult {
  host: string;
  address: string;
  port: number;
  cut: boolean;
  loss: number | null;
}

async function change(dir: string, name: string, kind: 'cut' | 'loss', value: boolean | number | null): Promise<FaultResult> {
  const labDir = resolve(dir);
  const host = faultHost(labDir, name);
  requireRoot();
  return withMachineLock(LOCK_FILE, async () => {
    const state = readFaultsState(labDir) ?? { version: 1, hosts: {} };
    const current = (state.hosts[name] ??= { ...host, cut: false, loss: null });
    await deleteRules(labDir, name, kind);
    if (kind === 'cut') current.cut = false;
    else current.loss = null;
    writeFaultsState(labDir, state);
    state.hosts[name] = current;
    if (value !== false && value !== null) {
      Object.assign(current, host);
      if (kind === 'cut') current.cut = true;
      else current.loss = value as number;
      // recorded first, so a crash between the nft calls still leaves a trace for --off / lab down
      writeFaultsState(labDir, state);
      try {
        await ensureChain();
        await addRules(labDir, name, host, kind, typeof value === 'number' ? value : 100);
      } catch (err) {
        await deleteRules(labDir, name, kind).catch(() => undefined);
        if (kind === 'cut') current.cut = false;
        else current.loss = null;
        writeFaultsState(labDir, state);
        await dropTableIfUnused().catch(() => undefined);
        throw err;
      }
    } else {
      await dropTableIfUnused();
    }
    return { host: name, ...host, cut: current.cut, loss: current.loss };
  });
}

/** Cuts (on) or restores (off) the lab host's SSH traffic, both directions: its packets are
 * dropped, so connections to it hang and time out instead of being refused. */
export function labCut(dir: string, name: string, on: boolean): Promise<FaultResult> {
  return change(dir, name, 'cut', on);
}

/** Drops `percent` % (an integer from 1 to 100) of the lab host's SSH packets at random, both
 * directions; null removes the loss. */
export function labLoss(dir: string, name: string, percent: number | null): Promise<FaultResult> {
  if (percent !== null && !(Number.isInteger(percent) && percent >= 1 && percent <= 100)) {
    throw new AppError('usage', `--percent must be an integer from 1 to 100, got ${percent}`);
  }
  return change(dir, name, 'loss', percent);
}

/** Removes every rule the lab installed, and our table when no other lab uses it (`lab down`).
 * Without D/faults.json, nft is not even run. */
export async function labUnfaultAll(dir: string): Promise<void> {
  const labDir = resolve(dir);
  if (!readFaultsState(labDir)) return;
  await withMachineLock(LOCK_FILE, async () => {
    await deleteRules(labDir, null, null);
    rmSync(join(labDir, FAULTS_FILE), { force: true });
    await dropTableIfUnused();
  });
}
