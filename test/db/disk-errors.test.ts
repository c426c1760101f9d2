/** A full, failing or read-only database disk is named as such, with what to do — not "internal". */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { errorInfo } from '../../server/errors.ts';

describe('database disk errors', () => {
  it('maps SQLite disk result codes to the database code with the cause and the way out', () => {
    for (const [code, text] of [
      ['SQLITE_FULL', /disk holding the database is full/],
      ['SQLITE_IOERR_WRITE', /failed to read or write/],
      ['SQLITE_READONLY', /read-only/],
    ] as const) {
      const err = Object.assign(new Error('x'), { code });
      const info = errorInfo(err);
      assert.equal(info.code, 'database', code);
      assert.match(info.message, text);
      assert.match(info.message, /fleetpatch resume RUN/);
    }
    assert.equal(errorInfo(new Error('boom')).code, 'internal');
  });

  it('a real read-only database gives SQLITE_READONLY, which is named', () => {
    const db = new Database(':memory:');
    db.exec('create table t (x)');
    db.pragma('query_only = 1');
    let caught: unknown;
    try {
      db.exec('insert into t values (1)');
    } catch (err) {
      caught = err;
    }
    assert.equal(errorInfo(caught).code, 'database');
  });
});
