/** Fault 2: the network. A link cut (nftables drops every packet of the host's SSH traffic, both
 * ways: `lab cut`) in the middle of the helper's upload, briefly (TCP recovers) and for good (the
 * controller gives up on the host; the next run after the link is back reconciles), and 5 %
 * random packet loss on one host for a whole run (`lab loss`). Delay is not injected: this kernel
 * has no netem. The verdict compares the hosts' real state with the database. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labCut, labLoss, labSlow } from '../../server/lab/index.ts';
import { SKIP, apply, cacheProblems, exitOrKill, tmpLeftovers, fault, host, lastRun, reset, resume, sh, sleep, startLab, startSlowUpload, stopLab, type Lab } from './support.ts';


describe('reliability: network faults', { timeout: 900_000, skip: SKIP }, () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(4);
  });
  after(async () => {
    if (lab) await stopLab(lab);
  });

  it('link cut for 10 s mid-upload: TCP recovers, the run finishes', async () => {
    const h = host(lab, 'lab-01');
    await fault('2a', 'link cut 10 s mid-upload', 'lab-01 of 1', ['lab-01'], lab, async () => {
      const notes: string[] = [];
      let code: number | null;
      try {
        const c = await startSlowUpload(lab, h);
        await labCut(lab.dir, h.name, true);
        await sleep(10_000);
        await labCut(lab.dir, h.name, false);
        code = await exitOrKill(c, 120_000);
      } finally {
        await labCut(lab.dir, h.name, false);
        await labSlow(lab.dir, h.name, null);
      }
      const run = lastRun(lab);
      if (code === null) {
        notes.push(`DISCREPANCY: run ${run.id} hung after a 10 s cut mid-upload: still ${run.state} 120 s later, lab-01 ${run.hosts[0]?.state}; the controller was SIGKILLed`);
        notes.push(`resume ${run.id}: exit ${await resume(lab, run.id)}`);
      } else notes.push(`the run: exit ${code}, lab-01 ${run.hosts[0]?.state}`);
      assert.deepEqual(cacheProblems(lab, h), []);
      notes.push('nothing half-written in the cache');
      return notes;
    });
    await reset(lab);
  });

  it('link cut for good mid-upload: the host is given up, the next run after the cut reconciles', async () => {
    const h = host(lab, 'lab-02');
    await fault('2b', 'link cut mid-upload (until the run gives up)', 'lab-02 of 1', ['lab-02'], lab, async () => {
      const notes: string[] = [];
      let code: number | null;
      const t0 = Date.now();
      try {
        const c = await startSlowUpload(lab, h);
        await labCut(lab.dir, h.name, true);
        code = await exitOrKill(c, 150_000);
      } finally {
        await labCut(lab.dir, h.name, false);
        await labSlow(lab.dir, h.name, null);
      }
      const run = lastRun(lab);
      if (code === null) {
        notes.push(`DISCREPANCY: run ${run.id} hung with the link cut mid-upload: still ${run.state} 150 s later (SSH keepalive is 3 × 15 s), lab-02 ${run.hosts[0]?.state}; the controller was SIGKILLed`);
        notes.push(`after the link came back, resume ${run.id}: exit ${await resume(lab, run.id)}`);
      } else notes.push(`during the cut the run ended after ${((Date.now() - t0) / 1000).toFixed(0)} s: exit ${code}, lab-02 ${run.hosts[0]?.state}`);
      assert.deepEqual(cacheProblems(lab, h), [], 'nothing half-written in the cache');
      const left = tmpLeftovers(lab, h);
      if (left.length) notes.push(`a partial SFTP upload stays in the host's /tmp: ${left.join(', ')} (outside the cache; never used)`);
      const next = await apply(lab, 'pkg-good', '--limit', h.name);
      notes.push(`the next run: lab-02 ${next.hosts[0]?.state}; nothing half-written in the cache`);
      return notes;
    });
    await reset(lab);
  });

  it('5 % packet loss on one host during a whole run (with a helper upload)', async () => {
    const h = host(lab, 'lab-03');
    await fault('2c', '5 % packet loss on one host', 'lab-03 of 4', null, lab, async () => {
      sh(lab, h, 'rm -f /var/lib/fleetpatch/bin/* /var/lib/fleetpatch/cache/*');
      await labLoss(lab.dir, h.name, 5);
      let r;
      const t0 = Date.now();
      try {
        r = await apply(lab, 'pkg-good', '--forks', '4');
      } finally {
        await labLoss(lab.dir, h.name, null);
      }
      return [`run ${r.run?.id}: ${r.hosts.map((x) => `${x.inventoryName} ${x.state}`).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`];
    });
    await reset(lab);
  });
});
