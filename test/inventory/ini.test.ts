import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveTarget } from '../../server/inventory/index.ts';
import { inventoryOf } from '../support/inventory-files.ts';

const vars = (text: string, host: string) => {
  const t = resolveTarget(inventoryOf(text), host)[0]!;
  const { inventory_hostname: _a, inventory_hostname_short: _b, group_names: _c, ...rest } = t.vars;
  return rest;
};

describe('INI inventory', () => {
  it('puts hosts before any section in ungrouped and keeps file order', () => {
    const i = inventoryOf('b1\na1\n[web]\nw1\n');
    assert.deepEqual([...i.data.hosts.keys()], ['b1', 'a1', 'w1']);
    assert.deepEqual(resolveTarget(i, 'ungrouped').map((h) => h.name), ['b1', 'a1']);
  });

  it('reads host variables as Python literals, host:port, quoting and comments', () => {
    assert.deepEqual(vars(`# comment\n; also a comment\n[web]\nweb1:2200 ansible_host=10.0.0.1 note="two words" n=5 f=1.5 ok=True # trailing\n`, 'web1'), {
      ansible_port: 2200,
      ansible_host: '10.0.0.1',
      note: 'two words',
      n: 5,
      f: 1.5,
      ok: true,
    });
  });

  it('keeps the quotes of a :vars value out of the value only when they make a Python string', () => {
    assert.deepEqual(vars('[g]\nh\n[g:vars]\na="5"\nb=5\nc=two words\n', 'h'), { a: '5', b: 5, c: 'two words' });
  });

  it('expands zero-padded numeric, alphabetic and stepped ranges', () => {
    assert.deepEqual([...inventoryOf('[g]\nweb[08:11].x\n').data.hosts.keys()], ['web08.x', 'web09.x', 'web10.x', 'web11.x']);
    assert.deepEqual([...inventoryOf('[g]\nh[a:c]\n').data.hosts.keys()], ['ha', 'hb', 'hc']);
    assert.deepEqual([...inventoryOf('[g]\nn[1:9:3]\n').data.hosts.keys()], ['n1', 'n4', 'n7']);
  });

  it('applies group vars by depth: all < parent < child < host', () => {
    const text = ['[web]', 'w1 x=host', 'w2', '[prod:children]', 'web', '[prod:vars]', 'x=prod', 'y=prod', '[web:vars]', 'x=web', '[all:vars]', 'z=all'].join('\n');
    assert.deepEqual(vars(text, 'w1'), { x: 'host', y: 'prod', z: 'all' });
    assert.deepEqual(vars(text, 'w2'), { x: 'web', y: 'prod', z: 'all' });
  });

  it('accepts children defined after their parent, and CRLF line ends', () => {
    const i = inventoryOf('[all_web:children]\r\nweb\r\n[web]\r\nw1\r\n');
    assert.deepEqual(resolveTarget(i, 'all_web').map((h) => h.name), ['w1']);
  });

  it('refuses malformed lines naming file and line', () => {
    assert.throws(() => inventoryOf('[web]\nw1\n[web:bogus]\n'), /hosts:3: Section \[web:bogus\] has unknown type: bogus/);
    assert.throws(() => inventoryOf('[g]\nh1 novalue\n'), /hosts:2: Expected key=value host variable assignment, got: novalue/);
    assert.throws(() => inventoryOf('[g]\nh1 a="open\n'), /hosts:2: Error parsing host definition .*No closing quotation/);
    assert.throws(() => inventoryOf('[g]\nh\n[g:vars]\njustakey\n'), /hosts:4: Expected key=value, got: justakey/);
    assert.throws(() => inventoryOf('[g]\nh[01:1]\n'), /hosts:2: host range must specify equal-length begin and end formats/);
  });

  it('names the line an editor shows, also past characters Python ends lines at (form feed)', () => {
    assert.throws(() => inventoryOf('[g]\nh1 a=1\x0cb\nh2 novalue\n'), /hosts:3: Expected key=value/);
  });

  it('refuses a cycle of children and never returns a partial inventory', () => {
    assert.throws(() => inventoryOf('[a:children]\nb\n[b:children]\na\n'), /recursive dependency loop/);
  });
});
