/** Fault 2: the network. A link cut (nftables drops every packet of the host's SSH traffic, both
 * ways: `lab cut`) in the middle of the helper's upload, briefly (TCP recovers) and for good (the
 * controller gives up on the host; the next run after the link is back reconciles), 5 % random
 * packet loss on one host for a whole run (`lab loss`), and 200 ms of latency each way on one host
 * for a whole run: this kernel has no netem, so the host is reached through a relay on loopback
 * that holds every chunk 200 ms in each direction (the inventory points the host at the relay;
 * known_hosts gets the host's own key under the relay's address). The verdict compares the hosts'
 * real state with the database. */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labCut, labLoss, labSlow } from '../../server/lab/index.ts';
import { freePort } from '../support/lab.ts';
import { SKIP, apply, cacheProblems, exitOrKill, tmpLeftovers, fault, host, lastRun, reset, resume, sh, sleep, startLab, startSlowUpload, stopLab, type Lab } from './support.ts';

/** A TCP relay on 127.0.0.1:`port` to `to`, delivering every chunk `delayMs` after it arrived, in
 * order, both ways. Counts what it relayed. */
async function delayingRelay(port: number, to: { address: string; port: number }, delayMs: number): Promise<{ server: Server; connections: number; bytes: number }> {
  const relay = { server: undefined as unknown as Server, connections: 0, bytes: 0 };
  const pipeLate = (from: Socket, into: Socket) => {
    from.on('data', (chunk) => {
      relay.bytes += chunk.length;
      setTimeout(() => into.destroyed || into.write(chunk), delayMs);
    });
    from.on('end', () => setTimeout(() => into.end(), delayMs));
    from.on('error', () => into.destroy());
    from.on('close', () => setTimeout(() => into.destroy(), delayMs + 10));
  };
  relay.server = createServer((client) => {
    relay.connections++;
    const upstream = createConnection({ host: to.address, port: to.port });
    pipeLate(client, upstream);
    pipeLate(upstream, client);
  });
  await new Promise<void>((resolve) => relay.server.listen(port, '127.0.0.1', resolve));
  return relay;
}


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

  it('200 ms of latency each way on one host during a whole run (with a helper upload)', async () => {
    const h = host(lab, 'lab-04');
    const port = await freePort();
    const relay = await delayingRelay(port, h, 200);
    // the host's own key under the relay's address: strict host key checking stays on
    const keyLine = readFileSync(join(lab.dir, 'known_hosts'), 'utf8').split('\n').find((l) => l.startsWith(`[${h.address}]:${h.port} `))!;
    appendFileSync(join(lab.dir, 'known_hosts'), `${keyLine.replace(/^\S+/, `[127.0.0.1]:${port}`)}\n`);
    const inventory = join(lab.dir, 'inventory-latency.ini');
    writeFileSync(inventory, readFileSync(lab.inventory, 'utf8').replace(new RegExp(`^${h.name} ansible_host=\\S+ ansible_port=\\d+`, 'm'), `${h.name} ansible_host=127.0.0.1 ansible_port=${port}`));
    const slow: Lab = { ...lab, inventory };
    try {
      await fault('2d', '200 ms latency each way on one host', 'lab-04 of 4', null, slow, async () => {
        sh(lab, h, 'rm -f /var/lib/fleetpatch/bin/* /var/lib/fleetpatch/cache/*');
        const t0 = Date.now();
        const r = await apply(slow, 'pkg-good', '--forks', '4');
        // the traffic really went through the relay (an inventory edit that missed would not)
        assert.ok(relay.connections >= 1 && relay.bytes > 100_000, `the relay carried lab-04's run (${relay.connections} connections, ${relay.bytes} bytes)`);
        return [`run ${r.run?.id}: ${r.hosts.map((x) => `${x.inventoryName} ${x.state}`).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s; the relay carried ${relay.connections} connection(s), ${(relay.bytes / 1024).toFixed(0)} KiB with the helper upload`];
      });
    } finally {
      relay.server.close();
    }
    await reset(lab);
  });
});
