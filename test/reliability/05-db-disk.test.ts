/** Fault 5: the controller's database on a small file system that fills up, or turns read-only,
 * in the middle of a run (a host held inside dpkg's postinst while the fault is injected, so the
 * next writes of the run hit it). The CLI must fail with a clear error, `PRAGMA integrity_check`
 * must say ok afterwards, and once the disk is writable again the run is resumed (or a new run
 * made) and the database and the hosts agree.
 *
 * The file system is a 32 MiB ext4 image on a loop device: a tmpfs cannot be remounted read-only
 * while the controller has the database open for writing (EBUSY), whereas ext4's `abort` mount
 * option turns it read-only at once, as a disk error with errors=remount-ro does (emergency_ro);
 * it is unmounted, and a copy of the image is fsck'd and mounted in its place afterwards (see
 * `replaceDisk`). */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { processesMounting } from '../support/lab.ts';
import { SKIP, apply, bundle, controller, dbState, markDead, existsInside, fault, host, integrityCheck, reset, sh, sleep, startLab, stopLab, waitFor, withDatabase, type Lab } from './support.ts';

/** An uncaught exception: node's stack trace and version footer rather than `fleetpatch: …`. */
const crashed = (stderr: string) => /^Node\.js v\d+/m.test(stderr) || /^\s+at .+:\d+:\d+\)?$/m.test(stderr);

/** The `{ok: false, error: {code, message}}` a command printed with --json, as `fleetpatch: CODE: MESSAGE`. */
function jsonError(stdout: string): string {
  for (const line of stdout.trim().split('\n').reverse()) {
    try {
      const e = (JSON.parse(line) as { ok?: boolean; error?: { code: string; message: string } }).error;
      if (e) return `fleetpatch: ${e.code}: ${e.message}`;
    } catch {
      // not a JSON line
    }
  }
  try {
    const e = (JSON.parse(stdout) as { error?: { code: string; message: string } }).error;
    if (e) return `fleetpatch: ${e.code}: ${e.message}`;
  } catch {
    // not JSON
  }
  return '';
}

/** The lines of a controller's stderr worth quoting: its `fleetpatch:` line or the error's. */
function describeStderr(err: string): string {
  const lines = err.split('\n').map((l) => l.trim()).filter(Boolean);
  const wanted = lines.filter((l) => /^fleetpatch:|Error\b|error:/i.test(l)).slice(0, 2);
  // where an uncaught exception came from: the first frame in fleetpatch's own code
  const frame = lines.find((l) => /^at .*\/server\/.*\.ts:\d+/.test(l));
  return [...(wanted.length ? wanted : lines.slice(-2)), ...(frame ? [frame.replace(/^.*\/server\//, 'thrown at server/')] : [])].join(' / ').slice(0, 400) || '(none)';
}

/** Writes zeros to `file` until the file system is full. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // the last partial blocks too
  const small = Buffer.alloc(512);
  const fd2 = openSync(`${file}.2`, 'w');
  try {
    for (;;) n += writeSync(fd2, small);
  } catch {
    // full
  } finally {
    closeSync(fd2);
  }
  return n;
}

describe('reliability: the database on a full or read-only disk', { timeout: 900_000, skip: SKIP }, () => {
  let lab: Lab;
  let mnt: string;
  let img: string;
  let mounted = false;
  /** Mounts the image, and checks that it came up read-write (not the aborted file system again). */
  const mountImage = () => {
    execFileSync('mount', ['-o', 'loop', img, mnt]);
    mounted = true;
    const options = execFileSync('findmnt', ['-no', 'OPTIONS', mnt], { encoding: 'utf8' }).trim();
    assert.ok(/^rw,/.test(options) && !/abort|emergency_ro/.test(options), `${img} mounted on ${mnt} with ${options}, not read-write`);
  };
  /** After the abort: unmounts, then fscks a copy of the image and mounts that. Unmounting here
   * does not end the aborted file system when a mount namespace made while it was mounted (a lab
   * host started meanwhile by anyone on this machine) still has it: its loop device stays
   * attached, e2fsck would repair an image still mounted, and `mount -o loop` of the same image
   * reuses that loop device and so mounts the aborted file system again, read-only (`rw,abort,
   * emergency_ro`: every open of the database then falls back to read-only, and every write is
   * SQLITE_READONLY). A copy is a new disk with the same contents. Returns what it saw. */
  const replaceDisk = (): string[] => {
    execFileSync('umount', [mnt]);
    mounted = false;
    const attached = execFileSync('losetup', ['-j', img], { encoding: 'utf8' }).trim();
    const holders = processesMounting(mnt).map((pid) => `${pid} ${spawnSync('cat', [`/proc/${pid}/comm`], { encoding: 'utf8' }).stdout.trim()}`);
    const copy = join(dirname(img), `db-${Date.now()}.img`);
    execFileSync('cp', ['--sparse=always', img, copy]);
    img = copy;
    const fsck = spawnSync('e2fsck', ['-fy', img], { encoding: 'utf8' });
    mountImage();
    return [
      `after the umount: loop device ${attached ? `still attached (${attached})` : 'released'}; ${holders.length} other processes still have the file system mounted${holders.length ? ` (${holders.slice(0, 4).join(', ')}…)` : ''}`,
      `e2fsck of its copy: exit ${fsck.status}; mounted read-write`,
    ];
  };
  before(async () => {
    lab = await startLab(3);
    const base = mkdtempSync(join(tmpdir(), 'fp-dbdisk-'));
    img = join(base, 'db.img');
    mnt = join(base, 'mnt');
    mkdirSync(mnt);
    execFileSync('truncate', ['-s', '32M', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    mountImage();
    lab = withDatabase(lab, join(mnt, 'fleetpatch.db'));
    // a database with some history first
    await apply(lab, 'pkg-good', '--limit', 'lab-01');
    await reset(lab);
  });
  after(async () => {
    if (mounted) {
      try {
        execFileSync('umount', [mnt]);
        rmSync(dirname(mnt), { recursive: true, force: true });
      } catch {
        // left for the machine's /tmp cleaning
      }
    }
    if (lab) await stopLab(lab);
  });

  for (const mode of ['full', 'read-only'] as const) {
    it(`the disk holding the database becomes ${mode} mid-run`, async () => {
      const unclear: string[] = [];
      const h = host(lab, 'lab-01');
      try {
        await fault(mode === 'full' ? '5a' : '5b', `database disk ${mode} mid-run`, 'controller DB; run on 3 hosts', null, lab, async () => {
          const notes: string[] = [];
          const clear: (string | null)[] = [];
          sh(lab, h, 'rm -f /run/fp-demo-at-*; touch /run/fp-demo-hold-fp-demo-1.1-postinst');
          const c = controller(lab, 'run', '-i', lab.inventory, '--bundle', bundle(lab, 'pkg-good'), '--forks', '1');
          let code: number | null;
          try {
            await waitFor(() => existsInside(lab, h, '/run/fp-demo-at-fp-demo-1.1-postinst'), 90_000, 'lab-01 in its postinst');
            if (mode === 'full') notes.push(`filled the file system with ${fill(join(mnt, 'filler'))} bytes`);
            else execFileSync('mount', ['-o', 'remount,abort', mnt]);
            sh(lab, h, 'rm -f /run/fp-demo-hold-fp-demo-1.1-postinst');
            const exited = await Promise.race([c.exited.then(() => true), sleep(120_000).then(() => false)]);
            if (!exited) clear.push('the controller still ran 2 minutes after its database refused writes');
            code = await c.exited;
            // with --json, a command that fails as a whole prints {ok: false, error} on stdout
            const err = `${c.stderr().trim()}\n${jsonError(c.stdout())}`.trim();
            notes.push(`the run's controller: exit ${code}; stderr: ${describeStderr(err)}`);
            if (code === 0) clear.push(`the run's controller exited 0 though its database refused writes`);
            if (!(mode === 'full' ? /full|space/i : /read-?only/i).test(err)) clear.push(`the run's controller (exit ${code}) did not name the cause: stderr ${JSON.stringify(err.slice(0, 300))}`);
            clear.push(crashed(err) ? `the run's controller crashed (uncaught exception, stack trace) instead of a clear error: ${describeStderr(err)}` : null);
            // a new command while the disk is still bad: a clear error too, not a crash
            const again = controller(lab, 'run', '-i', lab.inventory, '--bundle', bundle(lab, 'pkg-good'), '--limit', 'lab-03');
            const againCode = await again.exited;
            notes.push(`a new run meanwhile: exit ${againCode}; stderr: ${describeStderr(`${again.stderr().trim()}\n${jsonError(again.stdout())}`.trim())}`);
            if (againCode === 0) clear.push('a new run exited 0 though the database refuses writes');
            clear.push(crashed(again.stderr()) ? `a new run crashed (uncaught exception) instead of a clear error: ${describeStderr(again.stderr().trim())}` : null);
          } finally {
            sh(lab, h, 'rm -f /run/fp-demo-hold-fp-demo-1.1-postinst');
            if (mode === 'full') {
              rmSync(join(mnt, 'filler'), { force: true });
              rmSync(join(mnt, 'filler.2'), { force: true });
            }
            if (c.p.exitCode === null) {
              c.p.kill('SIGKILL');
              await c.exited;
            }
            if (mode === 'read-only') notes.push(...replaceDisk());
          }
          const integrity = integrityCheck(lab.database);
          notes.push(`PRAGMA integrity_check: ${integrity}`);
          assert.equal(integrity, 'ok');
          // disk writable again: finish the interrupted run (or, if the run was closed, run again)
          // every run left unfinished (the faulted one, and a new one that got its row in before failing)
          await markDead(lab);
          for (const last of dbState(lab.database).runs.filter((x) => !['succeeded', 'failed', 'halted', 'cancelled'].includes(x.state))) {
            await markDead(lab);
            const r = controller(lab, 'resume', String(last.id));
            const rc = await r.exited;
            notes.push(`resume ${last.id} (was ${last.state}): exit ${rc}, run ${dbState(lab.database).runs.find((x) => x.id === last.id)?.state}; ${describeStderr(`${r.stderr().trim()}\n${jsonError(r.stdout())}`.trim())}`);
          }
          const r = await apply(lab, 'pkg-good');
          notes.push(`a run afterwards: exit ${r.code} ${r.hosts.map((x) => `${x.inventoryName} ${x.state}`).join(', ')}${r.err ? ` ${r.err.split('\n')[0]}` : ''}`);
          unclear.push(...clear.filter((x): x is string => x !== null));
          return notes;
        });
      } finally {
        await reset(lab);
      }
      assert.deepEqual(unclear, [], 'the CLI fails with a clear error, not a crash');
    });
  }
});
