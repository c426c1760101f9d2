/** Slowing one lab host's network: `fleetpatch lab slow HOST --rate R | --off`.
 *
 * The lab's hosts share the controller's network namespace, so their SSH traffic crosses the
 * loopback device `lo`. This kernel has no netem (nor prio), so a slowed host gets bandwidth
 * shaping with htb: a root htb on `lo` (handle f1ee:) whose default class f1ee:ffff passes every
 * other packet at 100gbit, and one class per slowed host at its rate, fed by two u32 filters that
 * match the host's SSH traffic in both directions (ip dst ADDR + dport PORT; ip src ADDR + sport
 * PORT). Another lab on the same address with another port, and any other loopback traffic, stay
 * in the default class.
 *
 * The root qdisc is shared by every lab on the machine: it is installed when the first host is
 * slowed and removed when no slowed host of any lab remains; a root qdisc on `lo` that is not this
 * htb is never replaced or deleted. What a lab installed (class, filter preference, rate) is kept
 * in D/shape.json, so `--off` and `lab down` remove exactly that. Changes to `lo` are serialised
 * between processes by a lock file. Every tc call is argv-only (execFile). */
import { machineLockFile, withMachineLock } from './machine-lock.ts';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { run } from './exec.ts';
import { readState } from './files.ts';

export const SHAPE_FILE = 'shape.json';
export const SHAPE_DEV = 'lo';
/** Major number of the lab's root htb: "f1ee(t)". */
export const SHAPE_MAJOR = 'f1ee';
const ROOT_HANDLE = `${SHAPE_MAJOR}:`;
const DEFAULT_MINOR = 0xffff;
/** Large enough for the loopback's 64 KiB (GSO) packets; keeps the kernel from warning. */
const QUANTUM = '65536';
const LOCK_FILE = machineLockFile('shape');

export interface SlowedHost {
  address: string;
  port: number;
  /** As given (validated tc rate syntax), e.g. `64kbit`. */
  rate: string;
  /** htb class minor (hex in tc's output), also the preference of the host's two u32 filters. */
  minor: number;
}

export interface ShapeState {
  version: 1;
  hosts: Record<string, SlowedHost>;
}

const RATE_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
};
const MIN_RATE_BITS = 8_000;
const MAX_RATE_BITS = 10e9;

/** Bits per second of a tc rate (`64kbit`, `1mbit`, `1.5mbit`, `100kbps`…); anything else, or a
 * rate outside 8kbit…10gbit, is refused. */
export function parseRate(rate: string): number {
  const m = /^(\d{1,9}(?:\.\d{1,6})?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/.exec(rate);
  if (!m) {
    throw new AppError('usage', `--rate ${JSON.stringify(rate)} is not a tc rate: write a number and a unit, e.g. 64kbit, 1mbit, 1.5mbit or 100kbps (units: ${Object.keys(RATE_UNITS).join(', ')})`);
  }
  const bits = Number(m[1]) * RATE_UNITS[m[2]!]!;
  if (!(bits >= MIN_RATE_BITS && bits <= MAX_RATE_BITS)) throw new AppError('usage', `--rate ${rate} is out of range: from 8kbit to 10gbit`);
  return bits;
}

export function readShapeState(labDir: string): ShapeState | null {
  try {
    const s = JSON.parse(readFileSync(join(labDir, SHAPE_FILE), 'utf8')) as ShapeState;
    return s && typeof s.hosts === 'object' ? s : null;
  } catch {
    return null;
  }
}

/** The rate of every slowed host of the lab, by name (from D/shape.json; tc is not asked). */
export function slowedRates(labDir: string): Map<string, string> {
  return new Map(Object.entries(readShapeState(labDir)?.hosts ?? {}).map(([name, h]) => [name, h.rate]));
}

function writeShapeState(labDir: string, state: ShapeState): void {
  const file = join(labDir, SHAPE_FILE);
  if (!Object.keys(state.hosts).length) {
    rmSync(file, { force: true });
    return;
  }
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

const tc = (args: string[]) => run('tc', args);
const hex = (n: number) => n.toString(16);
const classId = (minor: number) => `${SHAPE_MAJOR}:${hex(minor)}`;

/** `lo`'s root qdisc: none (noqueue), ours, or someone else's. */
async function rootQdisc(): Promise<'none' | 'ours' | { kind: string; handle: string }> {
  const list = JSON.parse(await tc(['-j', 'qdisc', 'show', 'dev', SHAPE_DEV])) as { kind: string; handle: string; root?: boolean; options?: { default?: string } }[];
  const root = list.find((q) => q.root);
  if (!root || root.kind === 'noqueue') return 'none';
  if (root.kind === 'htb' && root.handle === ROOT_HANDLE && Number(root.options?.default) === DEFAULT_MINOR) return 'ours';
  return { kind: root.kind, handle: root.handle };
}

/** Minors of the classes under our root htb, the default class excluded. */
async function hostClassMinors(): Promise<Set<number>> {
  const out = await tc(['class', 'show', 'dev', SHAPE_DEV]);
  const minors = new Set<number>();
  for (const m of out.matchAll(new RegExp(`^class htb ${SHAPE_MAJOR}:([0-9a-f]+) `, 'gm'))) {
    const minor = parseInt(m[1]!, 16);
    if (minor !== DEFAULT_MINOR) minors.add(minor);
  }
  return minors;
}

async function ensureRoot(): Promise<void> {
  const root = await rootQdisc();
  if (root === 'ours') return;
  if (root !== 'none') {
    throw new AppError(
      'lab',
      `${SHAPE_DEV} already has a root qdisc (${root.kind} ${root.handle}) that the lab did not install; the lab will not replace it. Remove it yourself if nobody needs it (tc qdisc del dev ${SHAPE_DEV} root), then slow the host again`,
    );
  }
  await tc(['qdisc', 'add', 'dev', SHAPE_DEV, 'root', 'handle', ROOT_HANDLE, 'htb', 'default', hex(DEFAULT_MINOR)]);
  try {
    // explicit bursts: at 100gbit tc's default burst rounds down to 0 bytes
    await tc(['class', 'add', 'dev', SHAPE_DEV, 'parent', ROOT_HANDLE, 'classid', classId(DEFAULT_MINOR), 'htb', 'rate', '100gbit', 'ceil', '100gbit', 'burst', '4m', 'cburst', '4m', 'quantum', QUANTUM]);
  } catch (err) {
    await tc(['qdisc', 'del', 'dev', SHAPE_DEV, 'root', 'handle', ROOT_HANDLE, 'htb']).catch(() => undefined);
    throw err;
  }
}

/** Deletes our root qdisc when no slowed host of any lab remains under it. */
async function dropRootIfUnused(): Promise<void> {
  if ((await rootQdisc()) !== 'ours') return;
  if ((await hostClassMinors()).size) return;
  await tc(['qdisc', 'del', 'dev', SHAPE_DEV, 'root', 'handle', ROOT_HANDLE, 'htb']);
}

async function addHostClass(h: SlowedHost): Promise<void> {
  const id = classId(h.minor);
  const pref = String(h.minor);
  await tc(['class', 'add', 'dev', SHAPE_DEV, 'parent', ROOT_HANDLE, 'classid', id, 'htb', 'rate', h.rate, 'ceil', h.rate, 'quantum', QUANTUM]);
  try {
    const port = String(h.port);
    const common = ['filter', 'add', 'dev', SHAPE_DEV, 'parent', ROOT_HANDLE, 'protocol', 'ip', 'pref', pref, 'u32'];
    await tc([...common, 'match', 'ip', 'dst', `${h.address}/32`, 'match', 'ip', 'protocol', '6', '0xff', 'match', 'ip', 'dport', port, '0xffff', 'flowid', id]);
    await tc([...common, 'match', 'ip', 'src', `${h.address}/32`, 'match', 'ip', 'protocol', '6', '0xff', 'match', 'ip', 'sport', port, '0xffff', 'flowid', id]);
  } catch (err) {
    await removeHostClass(h.minor);
    throw err;
  }
}

/** Removes a host's filters and class; either may already be gone (the root deleted by hand). */
async function removeHostClass(minor: number): Promise<void> {
  if ((await rootQdisc()) !== 'ours') return;
  await tc(['filter', 'del', 'dev', SHAPE_DEV, 'parent', ROOT_HANDLE, 'protocol', 'ip', 'pref', String(minor), 'u32']).catch(() => undefined);
  if ((await hostClassMinors()).has(minor)) await tc(['class', 'del', 'dev', SHAPE_DEV, 'parent', ROOT_HANDLE, 'classid', classId(minor)]);
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new AppError('not-root', 'slowing a lab host changes the loopback device\'s queueing: run it as root');
}

/** Slows the lab host `name` to `rate` (tc syntax, e.g. `64kbit`), changes the rate of a host
 * already slowed, or with `rate` null lets it run at full speed again. Only namespace hosts
 * (127.0.1.K) can be slowed. Returns the host's rate afterwards. */
export async function labSlow(dir: string, name: string, rate: string | null): Promise<{ host: string; address: string; port: number; rate: string | null }> {
  const labDir = resolve(dir);
  const lab = readState(labDir);
  if (!lab) throw new AppError('lab', `no lab in ${labDir}: start one with \`fleetpatch lab up --dir ${labDir}\``);
  if (rate !== null) parseRate(rate);
  requireRoot();
  const host = lab.hosts.find((h) => h.name === name);
  if (!host) {
    if (lab.vms?.some((v) => v.name === name)) throw new AppError('usage', `${name} is a VM: only the lab's namespace hosts (127.0.1.K) can be slowed`);
    throw new AppError('usage', `no lab host ${name} in ${labDir} (hosts: ${lab.hosts.map((h) => h.name).join(', ')})`);
  }
  if (!/^127\.0\.1\.\d{1,3}$/.test(host.address) || host.variant?.netnsPid) {
    throw new AppError('usage', `${name} (${host.address}) is not reached over the controller's loopback at 127.0.1.K: only those lab hosts can be slowed`);
  }
  return withMachineLock(LOCK_FILE, async () => {
    const state = readShapeState(labDir) ?? { version: 1, hosts: {} };
    const current = state.hosts[name];
    if (rate === null) {
      if (current) {
        await removeHostClass(current.minor);
        delete state.hosts[name];
        writeShapeState(labDir, state);
      }
      await dropRootIfUnused();
      return { host: name, address: host.address, port: host.port, rate: null };
    }
    await ensureRoot();
    const minors = await hostClassMinors();
    if (current && minors.has(current.minor) && current.address === host.address && current.port === host.port) {
      await tc(['class', 'change', 'dev', SHAPE_DEV, 'parent', ROOT_HANDLE, 'classid', classId(current.minor), 'htb', 'rate', rate, 'ceil', rate, 'quantum', QUANTUM]);
      current.rate = rate;
    } else {
      if (current) await removeHostClass(current.minor);
      let minor = 1;
      while (minors.has(minor) && minor < DEFAULT_MINOR) minor++;
      if (minor >= DEFAULT_MINOR) throw new AppError('lab', `${SHAPE_DEV}: no free htb class left under ${ROOT_HANDLE}`);
      const slowed: SlowedHost = { address: host.address, port: host.port, rate, minor };
      // recorded first, so a crash between the tc calls still leaves a trace for --off / lab down
      state.hosts[name] = slowed;
      writeShapeState(labDir, state);
      try {
        await addHostClass(slowed);
      } catch (err) {
        delete state.hosts[name];
        writeShapeState(labDir, state);
        await dropRootIfUnused().catch(() => undefined);
        throw err;
      }
    }
    writeShapeState(labDir, state);
    return { host: name, address: host.address, port: host.port, rate };
  });
}

/** Removes every class and filter the lab installed on `lo`, and our root qdisc when no other lab
 * uses it (`lab down`). Without D/shape.json, tc is not even run. */
export async function labUnshapeAll(dir: string): Promise<void> {
  const labDir = resolve(dir);
  if (!readShapeState(labDir)) return;
  await withMachineLock(LOCK_FILE, async () => {
    const state = readShapeState(labDir);
    if (!state) return;
    for (const [name, h] of Object.entries(state.hosts)) {
      await removeHostClass(h.minor);
      delete state.hosts[name];
      writeShapeState(labDir, state);
    }
    writeShapeState(labDir, state);
    await dropRootIfUnused();
  });
}
