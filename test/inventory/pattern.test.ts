import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIni } from '../../server/inventory/ini.ts';
import { matchPattern } from '../../server/inventory/pattern.ts';

const inv = parseIni(
  ['[web]', 'web1', 'web2', 'web3', '[db]', 'db1', 'db2', '[canary]', 'web1', '[prod:children]', 'web', 'db', '[staging]', 'stage1'].join('\n'),
  'inv.ini',
);
const m = (p: string) => matchPattern(inv, p);

describe('host patterns', () => {
  it('selects all hosts with all or *', () => {
    assert.deepEqual(m('all'), ['web1', 'web2', 'web3', 'db1', 'db2', 'stage1']);
    assert.deepEqual(m('*'), m('all'));
  });
  it('selects groups (with children), hosts, and unions with : or ,', () => {
    assert.deepEqual(m('prod'), ['web1', 'web2', 'web3', 'db1', 'db2']);
    assert.deepEqual(m('db:stage1'), ['db1', 'db2', 'stage1']);
    assert.deepEqual(m('stage1,db'), ['db1', 'db2', 'stage1']);
  });
  it('intersects with & and excludes with ! after the unions, whatever their order', () => {
    assert.deepEqual(m('web:!canary'), ['web2', 'web3']);
    assert.deepEqual(m('!canary:web'), ['web2', 'web3']);
    assert.deepEqual(m('prod:&canary'), ['web1']);
  });
  it('matches globs and ~regex on host and group names', () => {
    assert.deepEqual(m('db*'), ['db1', 'db2']);
    assert.deepEqual(m('~web[12]'), ['web1', 'web2']);
    assert.deepEqual(m('stag*'), ['stage1']);
  });
  it('refuses a pattern that matches nothing instead of meaning all', () => {
    assert.throws(() => m('nosuch'), (e: Error & { code?: string }) => e.code === 'pattern' && /matches no host/.test(e.message));
    assert.throws(() => m('web:&db'), /matches no host/);
  });
});
