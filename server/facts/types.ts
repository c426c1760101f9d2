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

/** Field-naming validation of the helper's facts: every field the controller, the database and
 * the pages use, with its type and a size bound (a compromised host may answer anything). */
export function validateFacts(value: unknown, host: string): Facts {
  const f = value as Partial<Facts> | null;
  const bad = (field: string): never => {
    throw new AppError('helper-protocol', `${host}: helper facts field ${field} is missing or malformed`);
  };
  const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;
  const strOrNull = (v: unknown, field: string, max = 4096) => v === null || isStr(v, max) || bad(field);
  const int = (v: unknown, field: string) => (typeof v === 'number' && Number.isSafeInteger(v)) || bad(field);
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return bad('facts');
  if (!isStr(f.machine_id) || !/^[0-9a-f]{32}$/.test(f.machine_id)) bad('machine_id (expected 32 hex digits in /etc/machine-id)');
  if (!isStr(f.helper_version, 64)) bad('helper_version');
  if (!isStr(f.hostname, 255)) bad('hostname');
  if (!isStr(f.arch, 64)) bad('arch');
  const u = f.uname;
  if (typeof u !== 'object' || u === null || !isStr(u.release, 256) || !isStr(u.version) || !isStr(u.sysname, 64) || !isStr(u.machine, 64)) bad('uname');
  strOrNull(f.proc_version, 'proc_version');
  if (f.kernel_build_id !== null && !(isStr(f.kernel_build_id, 128) && /^[0-9a-f]+$/.test(f.kernel_build_id))) bad('kernel_build_id');
  const os = f.os;
  if (typeof os !== 'object' || os === null) bad('os');
  strOrNull(os!.id, 'os.id', 256);
  strOrNull(os!.version_id, 'os.version_id', 256);
  strOrNull(os!.pretty_name, 'os.pretty_name', 1024);
  int(f.taint, 'taint');
  strOrNull(f.sig_enforce, 'sig_enforce', 16);
  strOrNull(f.lockdown, 'lockdown', 256);
  if (typeof f.livepatch_supported !== 'boolean') bad('livepatch_supported');
  if (!Array.isArray(f.livepatches) || f.livepatches.length > 1000) bad('livepatches');
  for (const [i, p] of f.livepatches!.entries()) {
    if (typeof p !== 'object' || p === null || !isStr(p.name, 64) || !/^[A-Za-z0-9_]+$/.test(p.name)) bad(`livepatches[${i}].name`);
    int(p.enabled, `livepatches[${i}].enabled`);
    int(p.transition, `livepatches[${i}].transition`);
    if (!Array.isArray(p.objects) || p.objects.length > 10_000) bad(`livepatches[${i}].objects`);
    for (const [j, o] of p.objects.entries()) {
      if (typeof o !== 'object' || o === null || !isStr(o.name, 256)) bad(`livepatches[${i}].objects[${j}].name`);
      int(o.patched, `livepatches[${i}].objects[${j}].patched`);
    }
  }
  if (!Array.isArray(f.journal) || f.journal.length > 100_000) bad('journal');
  for (const [i, j] of f.journal!.entries()) {
    if (typeof j !== 'object' || j === null) bad(`journal[${i}]`);
    for (const k of ['op', 'state', 'bundle', 'patch', 'sha256'] as const) if (!isStr(j[k], 512)) bad(`journal[${i}].${k}`);
    int(j.serial, `journal[${i}].serial`);
    int(j.time_ms, `journal[${i}].time_ms`);
  }
  return f as Facts;
}
