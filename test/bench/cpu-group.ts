/** CPU shares for a bench's parties on a machine where they all share 2 cores. `nice` alone does
 * not work here: the kernel's autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled` = 1
 * on Debian) makes every new session (each SSH login on a lab host calls setsid) its own
 * scheduling group with an equal share, whatever its nice value, so 100 busy lab sessions get
 * 100 shares against the controller's one. A process in a (v1) cpu cgroup other than the root is
 * outside autogroup: the whole group competes with one weight, `cpu.shares`, and whatever its
 * processes start stays in it. */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup/cpu';

export interface CpuGroup {
  /** Moves these processes (each with all its threads) into the group; gone ones are skipped. */
  add(pids: number[]): void;
  /** Moves every process still in the group back to the root group and removes it. */
  remove(): void;
}

/** A cpu cgroup named `name` with `shares` (2–262144; the root's own groups have 1024). */
export function cpuGroup(name: string, shares: number): CpuGroup {
  const dir = join(ROOT, name);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cpu.shares'), String(shares));
  } catch (err) {
    throw new Error(`cannot make the cpu cgroup ${dir} (root, and cgroup v1's cpu controller at ${ROOT}, are needed): ${(err as Error).message}`);
  }
  const move = (to: string, pids: number[]) => {
    for (const pid of pids) {
      try {
        writeFileSync(join(to, 'cgroup.procs'), String(pid));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  };
  return {
    add: (pids) => move(dir, pids),
    remove: () => {
      // processes may still be starting in it (a lab host's new session): move until it is empty
      for (let i = 0; ; i++) {
        move(ROOT, readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean).map(Number));
        try {
          rmdirSync(dir);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || i === 50) throw err;
        }
      }
    },
  };
}

/** The pids of every process whose process group is one of `pgids`. */
export function processesInGroups(pgids: Set<number>): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (pgids.has(Number(fields[2]))) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The pids of every live process whose command name is one of `names` (from /proc/PID/stat). */
export function processesNamed(names: string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = /^\d+ \(([^)]*)\)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'))?.[1];
      if (comm && names.includes(comm)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export const CHROMIUM = ['chromium', 'chrome', 'chrome_crashpad'];

/** CPU seconds used so far by live Chromium processes (browser, renderers, utility processes). */
export function browserCpu(): number {
  let total = 0;
  for (const pid of processesNamed(CHROMIUM)) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}
