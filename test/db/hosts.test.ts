import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listHosts, saveFacts } from '../../server/db/hosts.ts';
import { openDatabase } from '../../server/db/index.ts';
import type { Facts } from '../../server/facts/types.ts';

const facts = (machineId: string, hostname: string): Facts => ({
  helper_version: '0.1.0',
  hostname,
  machine_id: machineId,
  uname: { sysname: 'Linux', release: '6.1.0-1-amd64', version: '#1', machine: 'x86_64' },
  arch: 'x86_64',
  proc_version: null,
  kernel_build_id: 'ab',
  os: { id: 'debian', version_id: '12', pretty_name: null },
  taint: 0,
  sig_enforce: 'N',
  lockdown: null,
  livepatch_supported: true,
  livepatches: [],
  journal: [],
});

describe('hosts in the database', () => {
  it('migrates a new database in WAL mode with foreign keys on', () => {
    const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'fp-db-')), 'sub/fp.db'));
    assert.equal(db.$client.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.$client.pragma('foreign_keys', { simple: true }), 1);
    db.$client.close();
  });

  it('keys hosts by machine-id: two inventory names for one machine are one host', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'fp-db-')), 'fp.db');
    const db = openDatabase(path);
    const a = 'a'.repeat(32);
    saveFacts(db, 'web1', '10.0.0.1:22', facts(a, 'one'));
    saveFacts(db, 'web1.alias', '10.0.0.1:22', facts(a, 'one-renamed'));
    saveFacts(db, 'db1', '10.0.0.2:22', facts('b'.repeat(32), 'two'));
    db.$client.close();
    const again = openDatabase(path); // reopening applies no migration twice
    const hosts = listHosts(again);
    assert.deepEqual(hosts.map((h) => [h.machineId, h.names, h.hostname]), [
      [a, ['web1', 'web1.alias'], 'one-renamed'],
      ['b'.repeat(32), ['db1'], 'two'],
    ]);
    again.$client.close();
  });

  it('moves an inventory name to the machine it reaches now (a reinstalled host)', () => {
    const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'fp-db-')), 'fp.db'));
    saveFacts(db, 'web1', 'x:22', facts('a'.repeat(32), 'old'));
    saveFacts(db, 'web1', 'x:22', facts('c'.repeat(32), 'new'));
    assert.deepEqual(listHosts(db).map((h) => [h.hostname, h.names]), [['old', []], ['new', ['web1']]]);
    db.$client.close();
  });
});
