import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { noUsersHint, splitListen, startConsole } from '../../server/commands/serve.ts';
import { openDatabase } from '../../server/db/index.ts';
import { addUser } from '../../server/db/users.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A GET over real HTTP with a chosen Host header (fetch cannot set one). */
function get(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('fleetpatch serve', () => {
  it('answers on the listen address over real HTTP and refuses a rebound Host name (421)', async () => {
    const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'fp-serve-')), 'f.db'));
    const port = await freePort();
    const { url, close } = await startConsole(db, `127.0.0.1:${port}`);
    try {
      assert.equal(url, `http://127.0.0.1:${port}/`);
      assert.equal(await get(port, '/hosts', `127.0.0.1:${port}`), 302);
      assert.equal(await get(port, '/login', `localhost:${port}`), 200);
      assert.equal(await get(port, '/login', `attacker.example:${port}`), 421);
    } finally {
      await close();
      db.$client.close();
    }
  });

  it('says how to create a user when there is none, and nothing once there is one', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'fp-serve-')), 'f.db');
    const db = openDatabase(path);
    assert.match(noUsersHint(db, path).join('\n'), new RegExp(`FLEETPATCH_DB=${path} fleetpatch user add NAME --role admin`));
    await addUser(db, 'admin', 'admin', 'a-long-password-1');
    assert.deepEqual(noUsersHint(db, path), []);
    db.$client.close();
  });

  it('refuses a listen address without a port', () => {
    assert.throws(() => splitListen('127.0.0.1'), /ADDRESS:PORT/);
    assert.deepEqual(splitListen('[::1]:8080'), { hostname: '::1', port: 8080 });
  });

  it('renders pages when started through bin/fleetpatch.js from another directory (no tsconfig there)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-serve-'));
    const port = await freePort();
    const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/fleetpatch.js');
    const child = spawn(process.execPath, [bin, 'serve', '--listen', `127.0.0.1:${port}`, '--db', join(dir, 'f.db')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      await new Promise<void>((ok, fail) => {
        child.stdout.on('data', (d) => {
          out += String(d);
          if (out.includes('web console on')) ok();
        });
        child.on('exit', (code) => fail(new Error(`serve exited with ${code}`)));
      });
      assert.equal(await get(port, '/login', `127.0.0.1:${port}`), 200);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
