import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { main } from '../../server/cli.ts';
import { openDatabase } from '../../server/db/index.ts';
import { findUser, hashPassword, verifyPassword } from '../../server/db/users.ts';

describe('passwords', () => {
  it('are stored as salted scrypt hashes that verify only the right password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    assert.match(a, /^scrypt\$16384\$8\$1\$/);
    assert.notEqual(a, b, 'a random salt per hash');
    assert.equal(await verifyPassword('correct horse battery', a), true);
    assert.equal(await verifyPassword('correct horse batterY', a), false);
  });
});

describe('fleetpatch user add', () => {
  const run = async (args: string[], env: Record<string, string | undefined>) => {
    const out: string[] = [];
    const err: string[] = [];
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      process.env = saved;
    }
  };

  it('adds a user with the password from FLEETPATCH_USER_PASSWORD and never prints it', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'fp-user-')), 'f.db');
    const r = await run(['user', 'add', 'alice', '--role', 'operator'], { FLEETPATCH_DB: db, FLEETPATCH_USER_PASSWORD: 'alice-password-1' });
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out + r.err, /alice-password-1/);
    const handle = openDatabase(db);
    const user = findUser(handle, 'alice');
    assert.equal(user?.role, 'operator');
    assert.equal(await verifyPassword('alice-password-1', user!.passwordHash), true);
    handle.$client.close();
  });

  it('refuses an unknown role, a short password and a second user of the same name', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'fp-user-')), 'f.db');
    assert.equal((await run(['user', 'add', 'bob', '--role', 'root'], { FLEETPATCH_DB: db, FLEETPATCH_USER_PASSWORD: 'long-enough-pass' })).code, 2);
    assert.equal((await run(['user', 'add', 'bob', '--role', 'viewer'], { FLEETPATCH_DB: db, FLEETPATCH_USER_PASSWORD: 'short' })).code, 2);
    assert.equal((await run(['user', 'add', 'bob', '--role', 'viewer'], { FLEETPATCH_DB: db, FLEETPATCH_USER_PASSWORD: 'long-enough-pass' })).code, 0);
    const again = await run(['user', 'add', 'bob', '--role', 'admin'], { FLEETPATCH_DB: db, FLEETPATCH_USER_PASSWORD: 'long-enough-pass' });
    assert.equal(again.code, 2);
    assert.match(again.err, /already exists/);
  });
});
