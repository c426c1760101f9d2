import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIni } from '../../server/inventory/ini.ts';
import { resolveTarget } from '../../server/inventory/index.ts';
import { hostVars } from '../../server/inventory/vars.ts';

const inv = (text: string) => parseIni(text, 'inv.ini');

describe('INI inventory', () => {
  it('puts hosts before any section in ungrouped and keeps file order', () => {
    const i = inv('b1\na1\n[web]\nw1\n');
    assert.deepEqual([...i.hosts.keys()], ['b1', 'a1', 'w1']);
    assert.deepEqual(resolveTarget(i, 'ungrouped').map((h) => h.name), ['b1', 'a1']);
  });

  it('reads host variables, host:port, quoting and comments', () => {
    const i = inv(`# comment\n; also a comment\n[web]\nweb1:2200 ansible_host=10.0.0.1 note="two words" # trailing\n`);
    assert.deepEqual(i.hosts.get('web1')!.vars, { ansible_host: '10.0.0.1', note: 'two words', ansible_port: 2200 });
  });

  it('expands zero-padded numeric, alphabetic and stepped ranges', () => {
    assert.deepEqual([...inv('[g]\nweb[08:11].x\n').hosts.keys()], ['web08.x', 'web09.x', 'web10.x', 'web11.x']);
    assert.deepEqual([...inv('[g]\nh[a:c]\n').hosts.keys()], ['ha', 'hb', 'hc']);
    assert.deepEqual([...inv('[g]\nn[1:9:3]\n').hosts.keys()], ['n1', 'n4', 'n7']);
  });

  it('applies group vars by depth: all < parent < child < host', () => {
    const i = inv(['[web]', 'w1 x=host', 'w2', '[prod:children]', 'web', '[prod:vars]', 'x=prod', 'y=prod', '[web:vars]', 'x=web', '[all:vars]', 'z=all'].join('\n'));
    assert.deepEqual(hostVars(i, 'w1').vars, { x: 'host', y: 'prod', z: 'all', inventory_hostname: 'w1' });
    assert.deepEqual(hostVars(i, 'w2').vars, { x: 'web', y: 'prod', z: 'all', inventory_hostname: 'w2' });
  });

  it('accepts children defined after their parent, and CRLF line ends', () => {
    const i = inv('[all_web:children]\r\nweb\r\n[web]\r\nw1\r\n');
    assert.deepEqual(resolveTarget(i, 'all_web').map((h) => h.name), ['w1']);
  });

  it('refuses malformed lines naming file and line', () => {
    assert.throws(() => inv('[web]\nw1\n[web:bogus]\n'), /inv\.ini:3: invalid section header/);
    assert.throws(() => inv('[g]\nh1 novalue\n'), /inv\.ini:2: expected key=value/);
    assert.throws(() => inv('[g]\nh1 a="open\n'), /inv\.ini:2: unterminated " quote/);
    assert.throws(() => inv('[g:vars]\njustakey\n'), /inv\.ini:2: expected key=value/);
    assert.throws(() => inv('[g]\nh[3:1]\n'), /inv\.ini:2: range \[3:1\] is empty/);
  });

  it('refuses a cycle of children', () => {
    const i = inv('[a:children]\nb\n[b:children]\na\n');
    assert.throws(() => resolveTarget(i, 'a'), /group cycle/);
  });
});
