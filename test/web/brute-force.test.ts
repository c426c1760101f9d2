/** Guessing passwords (issue 10): the login limiter per user name and per client address, under
 * concurrent guesses, without telling whether a user exists, in bounded memory. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'node:http';
import { serve } from '@hono/node-server';
import { addressKey, LoginLimiter } from '../../server/web/security.ts';
import { freePort } from '../support/lab.ts';
import { browser, form, PASSWORD, webFixture } from './fixture.ts';

type App = Awaited<ReturnType<typeof webFixture>>['app'];

async function attempt(app: App, name: string, password: string) {
  const res = await app.request('/login', { method: 'POST', headers: browser(), body: form({ name, password }) });
  return { status: res.status, body: (await res.text()).replaceAll(name, 'NAME'), retryAfter: res.headers.get('retry-after'), cookie: res.headers.get('set-cookie') };
}

describe('brute-force login', () => {
  it('locks a user name after 5 failures, the right password included, and opens again after the window', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const { app } = await webFixture({ limiter: new LoginLimiter(5, 60_000), now: () => new Date(t) });
    for (let i = 0; i < 5; i++) assert.equal((await attempt(app, 'admin', `wrong-password-${i}`)).status, 401);
    const locked = await attempt(app, 'admin', PASSWORD);
    assert.equal(locked.status, 429);
    assert.equal(locked.cookie, null, 'no session while locked');
    t += 59_000;
    assert.equal((await attempt(app, 'admin', PASSWORD)).status, 429, 'still inside the window');
    t += 2_000;
    assert.equal((await attempt(app, 'admin', PASSWORD)).status, 303, 'the window has passed');
  });

  it('answers an unknown user exactly like a known one with a wrong password, before and after the lock', async () => {
    const t = new Date('2026-01-01T00:00:00Z');
    const { app } = await webFixture({ limiter: new LoginLimiter(3, 60_000, 10_000), now: () => t });
    const known: unknown[] = [];
    const unknown: unknown[] = [];
    for (let i = 0; i < 5; i++) known.push(await attempt(app, 'operator', 'wrong-password-x'));
    for (let i = 0; i < 5; i++) unknown.push(await attempt(app, 'nobody-here', 'wrong-password-x'));
    assert.deepEqual(
      known.map((r) => (r as { status: number }).status),
      [401, 401, 401, 429, 429],
    );
    assert.deepEqual(unknown, known);
  });

  it('concurrent guesses cannot all pass the check before any is counted: at most 5 are tried', async () => {
    const { app } = await webFixture({ limiter: new LoginLimiter(5, 60_000) });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(app, 'admin', `wrong-password-${i}`)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(' '));
    assert.equal(statuses.filter((s) => s === 429).length, 25);
    assert.equal((await attempt(app, 'admin', PASSWORD)).status, 429);
  });

  it('one client guessing across user names is locked out by its address; another client is not', async () => {
    const { app } = await webFixture({ limiter: new LoginLimiter(5, 60_000, 20) });
    const port = await freePort();
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port });
    try {
      // a real socket, so the server sees the client's address; the source address picks the client
      const post = (name: string, password: string, localAddress = '127.0.0.1') =>
        new Promise<number>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, localAddress, method: 'POST', path: '/login', headers: { ...browser(), 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end(form({ name, password }).toString());
        });
      for (let i = 0; i < 20; i++) assert.equal(await post(`user-${i}`, 'wrong-password-x'), 401, `guess ${i}`);
      assert.equal(await post('viewer', PASSWORD), 429, 'this address is locked, even for a user it never guessed');
      assert.equal(await post('viewer', PASSWORD, '127.0.0.2'), 303, 'a client at another address logs in');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a success frees the address of its attempt: a user logging in again and again is never locked', async () => {
    const { app } = await webFixture({ limiter: new LoginLimiter(3, 60_000) });
    for (let i = 0; i < 6; i++) assert.equal((await attempt(app, 'viewer', PASSWORD)).status, 303, `login ${i}`);
  });

  it('keeps bounded memory: a flood of user names cannot grow it nor evict a lock', () => {
    const limiter = new LoginLimiter(5, 60_000, 20, 50);
    const t = 1_000_000;
    for (let i = 0; i < 5; i++) assert.equal(limiter.attempt(['user:admin'], t + i), 0);
    for (let i = 0; i < 10_000; i++) limiter.attempt([`user:flood-${i}`], t + 10);
    assert.ok(limiter.size <= 50, `${limiter.size} keys kept`);
    assert.ok(limiter.attempt(['user:admin'], t + 20) > 0, 'the lock survived the flood');
    assert.equal(limiter.attempt(['user:admin'], t + 60_001), 0, 'and ends with its window');
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), addressKey('2001:db8:1:2:ffff::1'));
    assert.equal(addressKey('2001:db8:1:2::'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002::1%eth0'), '2001:db8:1:2::/64');
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('64:ff9b::10.0.0.1'), '64:ff9b:0:0::/64');
    assert.equal(addressKey('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(addressKey('10.0.0.1'), '10.0.0.1');
    assert.equal(addressKey('unknown'), 'unknown');
  });
});
