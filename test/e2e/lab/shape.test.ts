/** `fleetpatch lab slow`: one lab host's SSH traffic shaped by htb + u32 on lo, on a real lab.
 * Byte counters, not timings, are asserted (the machine is noisy). Other labs may use lo's root
 * htb at the same time, so only this lab's classes and filters are expected to come and go. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labDown, labUp } from '../../../server/lab/index.ts';
import type { LabHost } from '../../../server/lab/namespace-host.ts';
import { readShapeState, SHAPE_MAJOR } from '../../../server/lab/shape.ts';
import { cli, freePort, labHosts, newLabDir, ssh, sshRun } from '../../support/lab.ts';

const dir = newLabDir();
const BYTES = 300_000;

const tc = (...args: string[]) => execFileSync('tc', args, { encoding: 'utf8' });
const slow = (name: string, ...opts: string[]) => cli(['lab', 'slow', name, ...opts, '--dir', dir]);
const minorOf = (name: string) => readShapeState(dir)?.hosts[name]?.minor;

/** Bytes sent through each class of our root htb, by minor. */
function classBytes(): Map<number, number> {
  const bytes = new Map<number, number>();
  for (const m of tc('-s', 'class', 'show', 'dev', 'lo').matchAll(new RegExp(`^class htb ${SHAPE_MAJOR}:([0-9a-f]+) [^\\n]*\\n\\s*Sent (\\d+) bytes`, 'gm'))) {
    bytes.set(parseInt(m[1]!, 16), Number(m[2]));
  }
  return bytes;
}

/** u32 filters on lo that match this host's address and this lab's port (either direction). */
function filtersFor(h: LabHost): number {
  const addr = h.address.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  const port = h.port.toString(16).padStart(4, '0');
  return tc('filter', 'show', 'dev', 'lo')
    .split(/^filter /m)
    .filter((f) => (f.includes(`match ${addr}/ffffffff at 16`) && f.includes(`match 0000${port}/0000ffff at 20`)) || (f.includes(`match ${addr}/ffffffff at 12`) && f.includes(`match ${port}0000/ffff0000 at 20`))).length;
}

const ourRoot = () => tc('qdisc', 'show', 'dev', 'lo').includes(`qdisc htb ${SHAPE_MAJOR}: root`);
/** After the last of our hosts is released: no root qdisc of ours unless another lab still slows a host. */
function assertRootGoneUnlessShared(): void {
  const others = [...classBytes().keys()].filter((m) => m !== 0xffff);
  if (!others.length) assert.equal(ourRoot(), false, tc('qdisc', 'show', 'dev', 'lo'));
}

async function status(): Promise<Record<string, string | null>> {
  const r = await cli(['lab', 'status', '--dir', dir, '--json']);
  return Object.fromEntries((JSON.parse(r.out) as { hosts: { name: string; rate: string | null }[] }).hosts.map((h) => [h.name, h.rate]));
}

describe('lab slow: one host shaped on lo', { timeout: 300_000 }, () => {
  let a: LabHost;
  let b: LabHost;
  before(async () => {
    await labUp(dir, 2, await freePort());
    [a, b] = labHosts(dir) as [LabHost, LabHost];
  });
  after(async () => {
    await labDown(dir, true);
  });

  it('refuses a rate that is not tc syntax, out of range, a missing host and a half command line, installing nothing', async () => {
    for (const rate of ['10Mb', '1mbit; reboot', '1 mbit', '', '-1kbit', '1e6bit', '1mbit ', '64KBIT', '4bit', '20gbit']) {
      const r = await slow(a.name, `--rate=${rate}`);
      assert.equal(r.code, 2, `${rate}: ${r.err}`);
      assert.match(r.err, /is not a tc rate|out of range/, rate);
    }
    assert.match((await slow('lab-99', '--rate', '1mbit')).err, /no lab host lab-99/);
    assert.match((await slow(a.name)).err, /usage: fleetpatch lab slow HOST --rate RATE/);
    assert.match((await slow(a.name, '--rate', '1mbit', '--off')).err, /usage: fleetpatch lab slow HOST --rate RATE/);
    assert.equal(existsSync(join(dir, 'shape.json')), false);
    assert.equal(filtersFor(a), 0);
    assert.deepEqual(await status(), { [a.name]: null, [b.name]: null });
  });

  it('sends the SSH bytes of host A, both directions, through A\'s class and those of host B not', async () => {
    const r = await slow(a.name, '--rate', '8mbit');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /slowed to 8mbit/);
    assert.deepEqual(await status(), { [a.name]: '8mbit', [b.name]: null });
    const minor = minorOf(a.name)!;
    assert.ok(minor >= 1 && minor < 0xffff);
    assert.equal(ourRoot(), true);
    assert.equal(filtersFor(a), 2);
    assert.equal(filtersFor(b), 0);

    const before = classBytes().get(minor)!;
    assert.equal(typeof before, 'number');
    // B: download and upload, none of it through A's class
    assert.equal(ssh(dir, b, `head -c ${BYTES} /dev/zero`).length, BYTES);
    assert.equal(sshRun(dir, b, 'wc -c', Buffer.alloc(BYTES)).stdout.trim(), String(BYTES));
    assert.equal(classBytes().get(minor), before);
    // A: a download, then an upload, each adds at least its payload to A's class
    assert.equal(ssh(dir, a, `head -c ${BYTES} /dev/zero`).length, BYTES);
    const afterDown = classBytes().get(minor)!;
    assert.ok(afterDown - before >= BYTES, `download: ${afterDown - before} bytes through A's class`);
    assert.equal(sshRun(dir, a, 'wc -c', Buffer.alloc(BYTES)).stdout.trim(), String(BYTES));
    const afterUp = classBytes().get(minor)!;
    assert.ok(afterUp - afterDown >= BYTES, `upload: ${afterUp - afterDown} bytes through A's class`);

    // a new rate changes the class in place
    assert.equal((await slow(a.name, '--rate', '2mbit')).code, 0);
    assert.equal(minorOf(a.name), minor);
    assert.match(tc('class', 'show', 'dev', 'lo'), new RegExp(`class htb ${SHAPE_MAJOR}:${minor.toString(16)} .*rate 2Mbit`));
    assert.equal((await status())[a.name], '2mbit');
  });

  it('--off removes exactly the host\'s class and filters, and the root qdisc with the last one', async () => {
    assert.equal((await slow(b.name, '--rate', '64kbit')).code, 0);
    const minorA = minorOf(a.name)!;
    const minorB = minorOf(b.name)!;
    assert.notEqual(minorA, minorB);
    const off = await slow(a.name, '--off');
    assert.equal(off.code, 0, off.err);
    assert.match(off.out, /full speed/);
    assert.equal(classBytes().has(minorA), false);
    assert.equal(classBytes().has(minorB), true);
    assert.equal(filtersFor(a), 0);
    assert.equal(filtersFor(b), 2);
    assert.deepEqual(await status(), { [a.name]: null, [b.name]: '64kbit' });
    assert.equal((await slow(b.name, '--off')).code, 0);
    assert.equal(filtersFor(b), 0);
    assert.equal(classBytes().has(minorB), false);
    assert.equal(existsSync(join(dir, 'shape.json')), false);
    assertRootGoneUnlessShared();
    // --off again is harmless
    assert.equal((await slow(b.name, '--off')).code, 0);
    assert.deepEqual(await status(), { [a.name]: null, [b.name]: null });
  });

  it('lab down removes what the lab installed on lo', async () => {
    assert.equal((await slow(a.name, '--rate', '1mbit')).code, 0);
    const minor = minorOf(a.name)!;
    assert.equal(filtersFor(a), 2);
    await labDown(dir);
    assert.equal(filtersFor(a), 0);
    assert.equal(classBytes().has(minor), false);
    assert.equal(existsSync(join(dir, 'shape.json')), false);
    assertRootGoneUnlessShared();
  });
});
