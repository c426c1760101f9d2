import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { main } from '../server/cli.ts';

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('CLI', () => {
  it('npx fleetpatch --help lists the commands and exits 0', () => {
    const r = spawnSync('npx', ['fleetpatch', '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const c of ['facts', 'inventory', 'lab', 'demo', 'hosts']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  });

  it('prints a command\'s help with its usage', async () => {
    const r = await cli(['facts', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: fleetpatch facts -i PATH/);
  });

  it('exits 2 with a clear message on usage errors', async () => {
    assert.equal((await cli(['nosuch'])).code, 2);
    assert.match((await cli(['nosuch'])).err, /unknown command "nosuch"/);
    const r = await cli(['facts', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.err, /Unknown option '--bogus'/);
    assert.match((await cli(['facts'])).err, /no inventory given: pass -i PATH/);
  });

  it('reports errors as JSON with --json', async () => {
    const r = await cli(['inventory', '-i', '/nonexistent.ini', '--list', '--json']);
    assert.equal(r.code, 2);
    assert.deepEqual(JSON.parse(r.out), { ok: false, error: { code: 'inventory', message: 'cannot read inventory /nonexistent.ini: ENOENT' } });
  });

  it('lists the hosts a pattern selects from a checked-in inventory', async () => {
    const r = await cli(['inventory', '-i', 'inventories/example.ini', '--list-hosts', 'web:!canary']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.split('\n'), ['web02.example.com', 'web03.example.com']);
    const none = await cli(['inventory', '-i', 'inventories/example.ini', '--list-hosts', 'nosuch']);
    assert.equal(none.code, 2);
    assert.match(none.err, /pattern "nosuch" matches no host/);
  });
});

describe('lab without root', () => {
  it('says that the lab needs root (fake: getuid reports an ordinary user)', async () => {
    const realGetuid = process.getuid;
    process.getuid = () => 1000;
    try {
      const r = await cli(['lab', 'up', '--dir', '/nonexistent/lab']);
      assert.equal(r.code, 2);
      assert.match(r.err, /the lab needs root/);
    } finally {
      process.getuid = realGetuid;
    }
  });
});
