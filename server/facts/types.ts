import { AppError } from '../errors.ts';

/** What the helper's `facts` command reports (native/helper/facts.c). */
export interface Facts {
  helper_version: string;
  hostname: string;
  machine_id: string;
  uname: { sysname: string; release: string; version: string; machine: string };
  arch: string;
  proc_version: string | null;
  /** GNU build-id of the running kernel (hex), from /sys/kernel/notes. */
  kernel_build_id: string | null;
  os: { id: string | null; version_id: string | null; pretty_name: string | null };
  taint: number;
  /** /sys/module/module/parameters/sig_enforce (Y/N), null when absent. */
  sig_enforce: string | null;
  /** /sys/kernel/security/lockdown, e.g. `[none] integrity confidentiality`; null when absent. */
  lockdown: string | null;
  livepatch_supported: boolean;
  livepatches: { name: string; enabled: number; transition: number; objects: { name: string; patched: number }[] }[];
  /** The helper's journal on this host: the latest state of every operation. */
  journal: JournalEntry[];
}

export interface JournalEntry {
  op: string;
  /** intent, loaded, rollback-intent (in flight); committed, rolled-back, reverted, replaced,
   * load-failed, rollback-failed (outcomes). */
  state: string;
  bundle: string;
  serial: number;
  patch: string;
  sha256: string;
  time_ms: number;
}

export const IN_FLIGHT = new Set(['intent', 'loaded', 'saved', 'installing', 'installed', 'rollback-intent']);

/** Field-naming validation of the helper's facts (a compromised host may answer anything). */
export function validateFacts(value: unknown, host: string): Facts {
  const f = value as Partial<Facts> | null;
  const problem = (field: string) => `${host}: helper facts field ${field} is missing or malformed`;
  const isStr = (v: unknown, max = 4096) => typeof v === 'string' && v.length <= max;
  if (typeof f !== 'object' || f === null) throw new AppError('helper-protocol', problem('facts'));
  if (!isStr(f.machine_id) || !/^[0-9a-f]{32}$/.test(f.machine_id!)) throw new AppError('helper-protocol', problem('machine_id (expected 32 hex digits in /etc/machine-id)'));
  if (!isStr(f.hostname, 255)) throw new AppError('helper-protocol', problem('hostname'));
  if (!isStr(f.arch, 64)) throw new AppError('helper-protocol', problem('arch'));
  if (!f.uname || !isStr(f.uname.release) || !isStr(f.uname.version)) throw new AppError('helper-protocol', problem('uname'));
  if (f.kernel_build_id !== null && !(isStr(f.kernel_build_id, 128) && /^[0-9a-f]+$/.test(f.kernel_build_id!))) throw new AppError('helper-protocol', problem('kernel_build_id'));
  if (!Array.isArray(f.livepatches) || f.livepatches.length > 1000) throw new AppError('helper-protocol', problem('livepatches'));
  if (typeof f.taint !== 'number') throw new AppError('helper-protocol', problem('taint'));
  if (!Array.isArray(f.journal)) throw new AppError('helper-protocol', problem('journal'));
  return f as Facts;
}
