import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveTarget } from '../../server/inventory/index.ts';
import { globToRegExp, splitHostPattern } from '../../server/inventory/pattern.ts';
import { inventoryOf } from '../support/inventory-files.ts';

const inv = inventoryOf(['[web]', 'web1', 'web2', 'web3', '[db]', 'db1', 'db2', '[canary]', 'web1', '[prod:children]', 'web', 'db', '[staging]', 'stage1'].join('\n'));
const m = (p: string) => resolveTarget(inv, p).map((h) => h.name);

describe('host patterns', () => {
  it('selects all hosts with all or *, in Ansible\'s order: the group tree level by level', () => {
    assert.deepEqual(m('all'), ['web1', 'stage1', 'web2', 'web3', 'db1', 'db2']);
    assert.deepEqual(m('*'), m('all'));
  });
  it('selects groups (with children) and hosts; unions keep the order of their terms, as Ansible', () => {
    assert.deepEqual(m('prod'), ['web1', 'web2', 'web3', 'db1', 'db2']);
    assert.deepEqual(m('db:stage1'), ['db1', 'db2', 'stage1']);
    assert.deepEqual(m('stage1,db'), ['stage1', 'db1', 'db2']);
  });
  it('intersects with & and excludes with ! after the unions, whatever their order', () => {
    assert.deepEqual(m('web:!canary'), ['web2', 'web3']);
    assert.deepEqual(m('!canary:web'), ['web2', 'web3']);
    assert.deepEqual(m('prod:&canary'), ['web1']);
    assert.deepEqual(m('!db'), ['web1', 'stage1', 'web2', 'web3']);
  });
  it('matches globs and ~regex (from the start of the name) on host and group names', () => {
    assert.deepEqual(m('db*'), ['db1', 'db2']);
    assert.deepEqual(m('~web[12]'), ['web1', 'web2']);
    assert.deepEqual(m('stag*'), ['stage1']);
    assert.throws(() => m('~eb'), /matches no host/);
  });
  it('takes subscripts of a group: [i], [-i], [a:b], [a:]', () => {
    assert.deepEqual(m('web[0]'), ['web1']);
    assert.deepEqual(m('web[-1]'), ['web3']);
    assert.deepEqual(m('prod[1:3]'), ['web2', 'web3', 'db1']);
    assert.deepEqual(m('prod[3:]'), ['db1', 'db2']);
    assert.throws(() => m('web[7]'), /No hosts matched the subscripted pattern/);
  });
  it('refuses a pattern that matches nothing instead of meaning all', () => {
    assert.throws(() => m('nosuch'), (e: Error & { code?: string }) => e.code === 'pattern' && /matches no host/.test(e.message));
    assert.throws(() => m('web:&db'), /matches no host/);
  });
  it('refuses an empty pattern, which Ansible would read as all', () => {
    assert.throws(() => m(''), /an empty pattern selects nothing/);
    assert.throws(() => m(' , '), /an empty pattern selects nothing/);
  });
  it('refuses an exclusion that matches nothing: a typo there would patch the hosts it meant to spare', () => {
    assert.throws(() => m('web:!canray'), /the exclusion !canray matches no host or group/);
  });
  it('splits on commas, or on colons outside brackets when the pattern is not one address', () => {
    assert.deepEqual(splitHostPattern('a,b[1], c[2:3] , d'), ['a', 'b[1]', 'c[2:3]', 'd']);
    assert.deepEqual(splitHostPattern('web:db[1:2]:!x'), ['web', 'db[1:2]', '!x']);
    assert.deepEqual(splitHostPattern('host:22'), ['host:22']);
    assert.deepEqual(splitHostPattern('2001:db8::1'), ['2001:db8::1']);
  });
  it('translates globs as Python fnmatch does, empty ranges included', () => {
    const re = (g: string) => new RegExp(`^(?:${globToRegExp(g)})$`, 'su');
    assert.ok(re('web0[1-3]*').test('web02.x'));
    assert.ok(!re('web0[!1-3]').test('web02'));
    assert.ok(re('a[z-a]b').test('a') === false);
    assert.ok(re('[]]').test(']'));
    assert.ok(re('x[').test('x['));
  });
});
