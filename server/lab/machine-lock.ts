/** A machine-wide lock file for lab changes to shared kernel state (lo's qdisc, our nft table):
 * created exclusively, holding the owner's pid; a lock whose owner died is taken over. */
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { AppError } from '../errors.ts';

const TIMEOUT_MS = 30_000;

/** The lock file for `name`, in /run/lock when the machine has it. */
export function machineLockFile(name: string): string {
  return existsSync('/run/lock') ? `/run/lock/fleetpatch-lab-${name}.lock` : `/tmp/fleetpatch-lab-${name}.lock`;
}

/** Runs `fn` holding the lock `file`; waits up to 30 s for another holder. */
export async function withMachineLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    let fd: number | null = null;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (fd !== null) {
      try {
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return await fn();
      } finally {
        rmSync(file, { force: true });
      }
    }
    if (isStale(file)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new AppError('lab', `${file} is held by another process for more than ${TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function isStale(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!pid) return Date.now() - statSync(file).mtimeMs > 5_000;
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  } catch {
    return false; // gone meanwhile: the next open will tell
  }
}
