/** Fault 6: a host whose disk fills during the upload: a 64 KiB tmpfs mounted over the host's
 * /var/lib/fleetpatch (or its bin) inside its own mount namespace, so the ≈150 KB helper cannot be
 * written whole. The host must fail with nothing half-written (every file there whole, no temporary
 * upload left), and once there is space again the next run patches it; the verdict compares the
 * host's real state with the database. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SKIP, apply, cacheProblems, fault, host, reset, sh, startLab, stopLab, type Lab } from './support.ts';


describe('reliability: a host\'s disk fills during the upload', { timeout: 600_000, skip: SKIP }, () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(2);
  });
  after(async () => {
    if (lab) await stopLab(lab);
  });

  for (const v of [
    { order: '6a', dir: '/var/lib/fleetpatch', size: '64k', name: 'host disk full during upload (tmpfs over /var/lib/fleetpatch)', todo: undefined },
    { order: '6b', dir: '/var/lib/fleetpatch/bin', size: '64k', name: 'host disk full during upload (helper dir on its own small file system)', todo: undefined },
  ]) {
    it(`${v.dir} on a ${v.size} tmpfs fills up during the upload; the next run with space succeeds`, { todo: v.todo }, async () => {
      const h = host(lab, 'lab-01');
      await fault(v.order, v.name, 'lab-01 of 2', null, lab, async () => {
        const notes: string[] = [];
        sh(lab, h, 'mkdir -p /var/lib/fleetpatch/bin /var/lib/fleetpatch/cache && rm -f /var/lib/fleetpatch/bin/* /var/lib/fleetpatch/cache/*');
        const mode = sh(lab, h, `stat -c %a ${v.dir}`).trim();
        sh(lab, h, `mount -t tmpfs -o size=${v.size},mode=${mode} fp-hostdisk ${v.dir}`);
        try {
          const r = await apply(lab, 'pkg-good');
          const full = r.hosts.find((x) => x.inventoryName === 'lab-01')!;
          notes.push(`with ${v.size} for ${v.dir}: lab-01 ${full.state}: ${full.reason}`);
          assert.notEqual(full.state, 'applied');
          notes.push(`after the failed upload: ${sh(lab, h, `df -k ${v.dir} | tail -n 1`).trim()}`);
          const problems = cacheProblems(lab, h);
          notes.push(...problems.map((p) => `DISCREPANCY: half-written file under its final name: ${p}`));
          if (!problems.length) notes.push('nothing half-written in /var/lib/fleetpatch');
        } finally {
          sh(lab, h, `umount ${v.dir} || true`);
        }
        const r = await apply(lab, 'pkg-good', '--limit', 'lab-01');
        notes.push(`with space again: lab-01 ${r.hosts[0]?.state}`);
        return notes;
      });
      await reset(lab);
    });
  }
});
