/** The CI subset of the reliability suite (test/reliability/, `npm run test:reliability`): a host
 * powered off between the install and the verdict, a link cut mid-upload, and the controller
 * SIGKILLed mid-run and resumed. Every verdict compares the hosts' real state (plain ssh: dpkg,
 * dpkg --audit, the helper journal) with the database, never the tool's own report. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labCut, labKill, labSlow, labStart } from '../../../server/lab/index.ts';
import {
  apply,
  bundle,
  cacheProblems,
  controller,
  exitOrKill,
  existsInside,
  fault,
  host,
  lastJournalLine,
  lastRun,
  reset,
  resume,
  sh,
  sleep,
  slowCheckBundle,
  startLab,
  startSlowUpload,
  stopLab,
  waitFor,
  type Lab,
} from '../../reliability/support.ts';

describe('reliability (CI subset)', { timeout: 300_000 }, () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(3);
    await slowCheckBundle(lab, 10);
  });
  after(async () => {
    if (lab) await stopLab(lab);
  });

  it('a host powered off between the install and the verdict is reconciled by its next run', async () => {
    const h = host(lab, 'lab-01');
    await fault('9a', 'CI subset: power off between apply and verify', 'lab-01 of 1', ['lab-01'], lab, async () => {
      const pending = apply(lab, 'test-slow-check', '--limit', 'lab-01');
      await waitFor(() => /\tinstalled\t/.test(lastJournalLine(lab, h)), 60_000, 'installed, checks running');
      await labKill(lab.dir, 'lab-01');
      const r = await pending;
      assert.equal(r.hosts[0]?.state, 'unreachable', JSON.stringify(r.hosts));
      await labStart(lab.dir, 'lab-01');
      const next = await apply(lab, 'pkg-good', '--limit', 'lab-01');
      return [`killed with the journal at installed; the next run: ${next.hosts[0]?.state}`];
    });
    await reset(lab);
  });

  it('a link cut for 8 s mid-upload: TCP recovers, nothing half-written, the database agrees', async () => {
    const h = host(lab, 'lab-02');
    await fault('9b', 'CI subset: link cut 8 s mid-upload', 'lab-02 of 1', ['lab-02'], lab, async () => {
      let code: number | null;
      try {
        const c = await startSlowUpload(lab, h, '512kbit');
        await labCut(lab.dir, h.name, true);
        await sleep(8_000);
        await labCut(lab.dir, h.name, false);
        code = await exitOrKill(c, 90_000);
      } finally {
        await labCut(lab.dir, h.name, false);
        await labSlow(lab.dir, h.name, null);
      }
      const run = lastRun(lab);
      assert.notEqual(code, null, `the run finishes once the link is back (run ${run.id} ${run.state})`);
      assert.deepEqual(cacheProblems(lab, h), []);
      return [`the run: exit ${code}, lab-02 ${run.hosts[0]?.state}; nothing half-written in the cache`];
    });
    await reset(lab);
  });

  it('the controller SIGKILLed inside a dpkg install, resumed: every host applied, the database agrees', async () => {
    const h = host(lab, 'lab-02');
    await fault('9c', 'CI subset: controller SIGKILLed once, resumed', 'all 3', null, lab, async () => {
      sh(lab, h, 'rm -f /run/fp-demo-at-*; touch /run/fp-demo-hold-fp-demo-1.1-postinst');
      const c = controller(lab, 'run', '-i', lab.inventory, '--bundle', bundle(lab, 'pkg-good'), '--forks', '1');
      try {
        await waitFor(() => existsInside(lab, h, '/run/fp-demo-at-fp-demo-1.1-postinst'), 90_000, 'lab-02 in its postinst');
        c.p.kill('SIGKILL');
        await c.exited;
      } finally {
        sh(lab, h, 'rm -f /run/fp-demo-hold-fp-demo-1.1-postinst');
      }
      const run = lastRun(lab);
      const code = await resume(lab, run.id);
      return [`killed during lab-02's postinst (run ${run.id} was ${run.state}); resume: exit ${code}, ${lastRun(lab).state}`];
    });
    await reset(lab);
  });
});
