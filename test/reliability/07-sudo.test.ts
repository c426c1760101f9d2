/** Fault 7: sudo stops working mid-run. lab-02 and lab-03 log in as an unprivileged user and
 * become root with `sudo -n` (ansible_become=true); lab-01 logs in as root. On lab-02, sudo is
 * broken in the middle of a run: its NOPASSWD rule removed while the host's facts exec (already
 * root) is held by a PAM session hook — the apply runs on that same exec (serve.c), so it is still
 * root, and the checks' new connection is the first sudo refused — and, in the second case, the rule changed to one that wants a password while the host is held
 * inside dpkg's postinst — so the apply is already root, and the checks' connection and
 * everything after it is refused. lab-02 must end failed or rolled back with a reason naming sudo
 * and the host, nothing half-applied; the other hosts are unaffected; once sudo works again the
 * next run patches lab-02. Third case, sudo -S: lab-02's inventory gives ansible_become_password
 * and its rule wants it; the login user's password is changed while the facts exec is held, so
 * the checks' sudo refuses the inventory's password (once: no retry, no lock-out) after the apply. The verdict compares every host's real state with the database, right
 * after the faulted run and after the retry. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LabHost } from '../../server/lab/namespace-host.ts';
import { SKIP, SUDO_LOGIN, addSudoLogin, apply, existsInside, fault, fp, host, reset, setSudo, sh, startLab, stopLab, summarise, verdict, waitFor, withSudoInventory, type HostRow, type Lab, type RunOut } from './support.ts';

/** A run on `l` (forks 3) during which lab-02 is held — in the exec whose sudo command line holds
 * `hold` (the PAM hook), or inside dpkg's postinst when `hold` is null — while `breakSudo` runs,
 * then let go. Asserts the other hosts applied; returns the run, its hosts by name, and notes
 * with what lab-02 looks like and the verdict right after the faulted run. */
async function faultedRun(l: Lab, h: LabHost, hold: string | null, breakSudo: () => void): Promise<{ r: RunOut; states: Record<string, HostRow>; notes: string[] }> {
  let held: string;
  if (hold) {
    sh(l, h, `rm -f /run/fp-sudo-held; printf '%s' '${hold}' > /run/fp-sudo-hold`);
    held = '/run/fp-sudo-held';
  } else {
    sh(l, h, 'rm -f /run/fp-demo-at-*; touch /run/fp-demo-hold-fp-demo-1.1-postinst');
    held = '/run/fp-demo-at-fp-demo-1.1-postinst';
  }
  const pending = apply(l, 'pkg-good', '--forks', '3');
  try {
    await waitFor(() => existsInside(l, h, held), 120_000, `lab-02 held (${held})`);
    breakSudo();
  } finally {
    sh(l, h, 'rm -f /run/fp-sudo-hold /run/fp-demo-hold-fp-demo-1.1-postinst');
  }
  const r = await pending;
  const states = Object.fromEntries(r.hosts.map((x) => [x.inventoryName, x]));
  const notes = [`the run: exit ${r.code}; ${r.hosts.map((x) => `${x.inventoryName} ${x.state}`).join(', ')}`, `lab-02's reason: ${states['lab-02']?.reason}`];
  notes.push(`lab-02 after the run: ${sh(l, h, "dpkg-query -W -f='fp-demo ${Version} ${Status}' fp-demo").trim()}; journal: ${sh(l, h, 'tail -n 1 /var/lib/fleetpatch/journal 2>/dev/null || true').trim() || 'empty'}`);
  assert.equal(states['lab-01']?.state, 'applied');
  assert.equal(states['lab-03']?.state, 'applied');
  // the hosts and the database agree right after the faulted run too, not only after the retry
  const mid = verdict(l);
  notes.push(`after the faulted run: ${summarise(mid.states)}`, ...mid.discrepancies.map((d) => `DISCREPANCY: after the faulted run: ${d}`));
  return { r, states, notes };
}

describe('reliability: sudo stops working mid-run', { timeout: 900_000, skip: SKIP }, () => {
  let lab: Lab;
  before(async () => {
    const root = await startLab(3);
    for (const name of ['lab-02', 'lab-03']) addSudoLogin(root, host(root, name));
    lab = withSudoInventory(root, ['lab-02', 'lab-03']);
    // the helper is pushed on first contact: done before, so the fault meets cached files
    const facts = await fp(lab, 'facts', '-i', lab.inventory);
    assert.equal(facts.code, 0, facts.err);
  });
  after(async () => {
    if (lab) await stopLab(lab);
  });

  for (const v of [
    // the facts exec of an apply is the one with --packages
    // the apply runs on the facts exec (already root): the checks' connection meets the change
    { order: '7a', name: 'sudo rule removed between facts and apply', hold: '--packages', rule: 'none' as const, reason: /^checks could not run: lab-02 .*sudo stopped working mid-run.*then rolled back, unconfirmed/ },
    { order: '7b', name: 'sudo wants a password between apply and checks', hold: null, rule: 'password' as const, reason: /sudo stopped working mid-run.*then rolled back, unconfirmed/ },
  ]) {
    it(v.name, async () => {
      const h = host(lab, 'lab-02');
      try {
        await fault(v.order, v.name, 'lab-02 of 3 (lab-02, lab-03 via sudo)', null, lab, async () => {
          const { states, notes } = await faultedRun(lab, h, v.hold, () => setSudo(lab, h, v.rule));
          assert.ok(['failed', 'rolled-back'].includes(states['lab-02']?.state ?? ''), `lab-02 ends failed or rolled back: ${JSON.stringify(states['lab-02'])}`);
          assert.match(states['lab-02']!.reason ?? '', /lab-02/);
          assert.match(states['lab-02']!.reason ?? '', v.reason);
          setSudo(lab, h, 'nopasswd');
          const again = await apply(lab, 'pkg-good', '--limit', 'lab-02');
          notes.push(`with sudo back: lab-02 ${again.hosts[0]?.state}`);
          assert.equal(again.hosts[0]?.state, 'applied');
          return notes;
        });
      } finally {
        setSudo(lab, h, 'nopasswd');
        await reset(lab);
      }
    });
  }

  it('sudo -S: the login user\'s password changed between facts and apply', async () => {
    const h = host(lab, 'lab-02');
    // lab-02 becomes root with sudo -S and the inventory's password; its rule wants one
    const inventory = join(lab.dir, 'inventory-sudo-password.ini');
    writeFileSync(inventory, readFileSync(lab.inventory, 'utf8').replace(/^(lab-02 .*ansible_become=true)$/m, '$1 ansible_become_password=fp-pass-1'));
    const withPassword: Lab = { ...lab, inventory };
    sh(lab, h, `echo '${SUDO_LOGIN}:fp-pass-1' | chpasswd`);
    setSudo(lab, h, 'password');
    try {
      await fault('7c', 'sudo -S: password changed between facts and apply', 'lab-02 of 3 (lab-02 via sudo -S, lab-03 via sudo -n)', null, withPassword, async () => {
        const { r, states, notes } = await faultedRun(withPassword, h, '--packages', () => sh(lab, h, `echo '${SUDO_LOGIN}:fp-pass-2' | chpasswd`));
        assert.equal(states['lab-02']?.state, 'failed', JSON.stringify(states['lab-02']));
        assert.match(states['lab-02']!.reason ?? '', /^checks could not run: lab-02 .*: sudo stopped working mid-run.*sudo refused ansible_become_password.*then rolled back, unconfirmed/);
        assert.doesNotMatch(`${r.err}${JSON.stringify(r.hosts)}`, /fp-pass-/, 'the password is in no output');
        // the inventory fixed to the new password: the next run patches lab-02
        writeFileSync(inventory, readFileSync(inventory, 'utf8').replace('fp-pass-1', 'fp-pass-2'));
        const again = await apply(withPassword, 'pkg-good', '--limit', 'lab-02');
        notes.push(`with the inventory's password fixed: lab-02 ${again.hosts[0]?.state}`);
        assert.equal(again.hosts[0]?.state, 'applied');
        return notes;
      });
    } finally {
      sh(lab, h, 'rm -f /run/fp-sudo-hold');
      setSudo(lab, h, 'nopasswd');
      await reset(lab);
    }
  });
});
