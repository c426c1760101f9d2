import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listAudit, sessionUser } from '../../server/db/users.ts';
import { LoginLimiter, validAllowedHost } from '../../server/web/security.ts';
import { browser, form, HOST, login, PASSWORD, sessionCookie, webFixture } from './fixture.ts';

const PAGES = ['/', '/hosts', '/hosts/1', '/hosts/rows', '/runs', '/runs/1', '/runs/1/hosts/1/steps', '/audit', '/bundles', '/runs/new', '/emergency/x'];
const JSON_GETS = ['/api/hosts', '/api/hosts/1', '/api/runs', '/api/runs/1', '/runs/1/events', '/api/bundles', '/api/audit'];
const POSTS = ['/logout', '/runs/1/cancel', '/runs/preview', '/runs', '/api/plan', '/api/runs', '/api/runs/1/cancel'];

describe('without a session', () => {
  it('every page redirects to /login', async () => {
    const { app } = await webFixture();
    for (const path of PAGES) {
      const res = await app.request(path, { headers: browser() });
      assert.equal(res.status, 302, path);
      assert.equal(res.headers.get('location'), '/login', path);
    }
  });

  it('every API route, live stream and state change answers 401', async () => {
    const { app } = await webFixture();
    for (const path of JSON_GETS) assert.equal((await app.request(path, { headers: browser() })).status, 401, path);
    for (const path of POSTS) assert.equal((await app.request(path, { method: 'POST', headers: browser() })).status, 401, path);
  });

  it('a forged or expired session cookie is no session', async () => {
    let clock = new Date('2026-01-01T00:00:00Z');
    const { app } = await webFixture({ now: () => clock, sessionTtlMs: 60_000 });
    assert.equal((await app.request('/api/hosts', { headers: browser({ cookie: 'fp_session=forged' }) })).status, 401);
    const { cookie } = await login(app, 'viewer');
    assert.equal((await app.request('/api/hosts', { headers: browser({ cookie }) })).status, 200);
    clock = new Date(clock.getTime() + 61_000);
    assert.equal((await app.request('/api/hosts', { headers: browser({ cookie }) })).status, 401);
  });

  it('the login page and our static assets are public', async () => {
    const { app } = await webFixture();
    assert.equal((await app.request('/login', { headers: browser() })).status, 200);
    for (const a of ['htmx.min.js', 'live.js', 'app.css']) assert.equal((await app.request(`/static/${a}`, { headers: browser() })).status, 200, a);
    assert.equal((await app.request('/static/..%2Fpackage.json', { headers: browser() })).status, 404);
    // revalidated, not fetched again: the asset's validator gets a 304 without a body, another a 200
    const first = await app.request('/static/htmx.min.js', { headers: browser() });
    const etag = first.headers.get('etag');
    assert.match(etag ?? '', /^"[A-Za-z0-9_-]{22}"$/);
    const again = await app.request('/static/htmx.min.js', { headers: browser({ 'if-none-match': etag! }) });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    assert.notEqual((await app.request('/static/app.css', { headers: browser({ 'if-none-match': etag! }) })).status, 304);
    assert.equal((await app.request('/static/htmx.min.js', { headers: browser({ 'if-none-match': '"other"' }) })).status, 200);
  });
});

describe('roles', () => {
  it('a viewer may read but not cancel a run (403) nor see the audit log (403)', async () => {
    const { app } = await webFixture();
    const { cookie, csrf } = await login(app, 'viewer');
    for (const path of ['/hosts', '/runs', '/runs/1', '/api/hosts', '/api/runs', '/api/runs/1']) assert.equal((await app.request(path, { headers: browser({ cookie }) })).status, 200, path);
    assert.equal((await app.request('/audit', { headers: browser({ cookie }) })).status, 403);
    const cancel = await app.request('/runs/1/cancel', { method: 'POST', headers: browser({ cookie }), body: form({ _csrf: csrf }) });
    assert.equal(cancel.status, 403);
    assert.doesNotMatch(await (await app.request('/runs/1', { headers: browser({ cookie }) })).text(), /Cancel run/);
  });

  it('an operator cancels a running run, audited; not the audit page (403)', async () => {
    const { app, db } = await webFixture();
    const { cookie, csrf } = await login(app, 'operator');
    assert.equal((await app.request('/audit', { headers: browser({ cookie }) })).status, 403);
    const res = await app.request('/runs/1/cancel', { method: 'POST', headers: browser({ cookie }), body: form({ _csrf: csrf }) });
    assert.equal(res.status, 303);
    assert.ok(listAudit(db).some((a) => a.who === 'operator' && a.what === 'run-cancel'));
  });

  it('an admin sees the audit log', async () => {
    const { app } = await webFixture();
    const { cookie } = await login(app, 'admin');
    const res = await app.request('/audit', { headers: browser({ cookie }) });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /login/);
  });
});

describe('CSRF', () => {
  it('a state change without the session token is refused (403), with it accepted', async () => {
    const { app } = await webFixture();
    const { cookie, csrf } = await login(app, 'operator');
    assert.equal((await app.request('/runs/1/cancel', { method: 'POST', headers: browser({ cookie }), body: form({}) })).status, 403);
    assert.equal((await app.request('/runs/1/cancel', { method: 'POST', headers: browser({ cookie }), body: form({ _csrf: 'x'.repeat(43) }) })).status, 403);
    assert.equal((await app.request('/runs/1/cancel', { method: 'POST', headers: browser({ cookie, 'x-csrf-token': csrf, 'hx-request': 'true' }) })).status, 204);
  });

  it('a cross-site Origin is refused (403) even with the right token, for any content type', async () => {
    const { app } = await webFixture();
    const { cookie, csrf } = await login(app, 'operator');
    for (const origin of ['http://evil.example', 'http://127.0.0.1:9999', 'null']) {
      const res = await app.request('/runs/1/cancel', { method: 'POST', headers: browser({ cookie, origin }), body: form({ _csrf: csrf }) });
      assert.equal(res.status, 403, origin);
      const json = await app.request('/runs/1/cancel', { method: 'POST', headers: { ...browser({ cookie, origin, 'x-csrf-token': csrf }), 'content-type': 'application/json' }, body: '{}' });
      assert.equal(json.status, 403, origin);
    }
  });

  it('a POST with neither Origin nor Sec-Fetch-Site: same-origin is refused (403), login included', async () => {
    const { app } = await webFixture();
    const res = await app.request('/login', { method: 'POST', headers: { host: HOST }, body: form({ name: 'admin', password: PASSWORD }) });
    assert.equal(res.status, 403);
    assert.equal(sessionCookie(res), undefined);
  });
});

describe('Host header (DNS rebinding)', () => {
  it('a foreign Host is refused with 421 before anything else', async () => {
    const { app } = await webFixture();
    for (const host of ['evil.example', 'evil.example:8080', '127.0.0.1:9090', '10.0.0.5:8080']) {
      assert.equal((await app.request('/login', { headers: { host } })).status, 421, host);
      assert.equal((await app.request('/login', { method: 'POST', headers: { host, origin: `http://${host}` }, body: form({ name: 'admin', password: PASSWORD }) })).status, 421, host);
    }
  });

  it('names given with --allowed-host are accepted, as Host and as Origin; nothing else is', async () => {
    const { app } = await webFixture({ allowedHosts: ['console.example.org', 'proxy.example.org:443'] });
    assert.equal((await app.request('/login', { headers: { host: 'console.example.org:8080' } })).status, 200);
    assert.equal((await app.request('/login', { headers: { host: 'proxy.example.org:443' } })).status, 200);
    assert.equal((await app.request('/login', { headers: { host: 'console.example.org:9999' } })).status, 421);
    assert.equal((await app.request('/login', { headers: { host: 'other.example.org:8080' } })).status, 421);
    const res = await app.request('/login', { method: 'POST', headers: { host: 'console.example.org:8080', origin: 'http://console.example.org:8080' }, body: form({ name: 'admin', password: PASSWORD }) });
    assert.equal(res.status, 303);
    assert.deepEqual(['console.example.org', 'a.b:8443', '10.0.0.5', '[::1]:80', 'evil;rm -rf', '', 'a b', 'x:99999999'].map(validAllowedHost), [true, true, true, true, false, false, false, false]);
  });

  it('the listen address and the loopback names on its port are accepted', async () => {
    const { app } = await webFixture();
    for (const host of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080']) assert.equal((await app.request('/login', { headers: { host } })).status, 200, host);
  });
});

describe('login', () => {
  it('a wrong password is refused (401) without a session and audited', async () => {
    const { app, db } = await webFixture();
    const res = await app.request('/login', { method: 'POST', headers: browser(), body: form({ name: 'admin', password: 'wrong-password-x' }) });
    assert.equal(res.status, 401);
    assert.equal(sessionCookie(res), undefined);
    assert.ok(listAudit(db).some((a) => a.what === 'login-failed' && a.who === 'admin'));
  });

  it('is rate limited per user name: the 6th attempt within the window gets 429, even with the right password', async () => {
    let t = 1_000_000;
    const { app } = await webFixture({ limiter: new LoginLimiter(5, 60_000), now: () => new Date(t) });
    for (let i = 0; i < 5; i++) assert.equal((await app.request('/login', { method: 'POST', headers: browser(), body: form({ name: 'admin', password: 'wrong-password-x' }) })).status, 401);
    const blocked = await app.request('/login', { method: 'POST', headers: browser(), body: form({ name: 'admin', password: PASSWORD }) });
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    t += 61_000;
    assert.equal((await app.request('/login', { method: 'POST', headers: browser(), body: form({ name: 'admin', password: PASSWORD }) })).status, 303);
  });

  it('gives a new session id at login, never the one the browser brought (session fixation)', async () => {
    const { app, db } = await webFixture();
    const first = await login(app, 'viewer');
    const res = await app.request('/login', { method: 'POST', headers: browser({ cookie: first.cookie }), body: form({ name: 'viewer', password: PASSWORD }) });
    const second = sessionCookie(res)!;
    assert.ok(second);
    assert.notEqual(`fp_session=${second}`, first.cookie);
    assert.equal(sessionUser(db, first.cookie.split('=')[1]!), undefined, 'the old session is gone');
    const planted = await app.request('/login', { method: 'POST', headers: browser({ cookie: 'fp_session=attacker-chosen' }), body: form({ name: 'viewer', password: PASSWORD }) });
    assert.notEqual(sessionCookie(planted), 'attacker-chosen');
  });

  it('sets the session cookie httpOnly, SameSite=Strict, path /, with an expiry', async () => {
    const { app } = await webFixture();
    const res = await app.request('/login', { method: 'POST', headers: browser(), body: form({ name: 'viewer', password: PASSWORD }) });
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Path=\//);
    assert.match(cookie, /Max-Age=\d+/);
  });

  it('logout ends the session', async () => {
    const { app } = await webFixture();
    const { cookie, csrf } = await login(app, 'viewer');
    assert.equal((await app.request('/logout', { method: 'POST', headers: browser({ cookie }), body: form({ _csrf: csrf }) })).status, 303);
    assert.equal((await app.request('/api/hosts', { headers: browser({ cookie }) })).status, 401);
  });
});

describe('secure headers', () => {
  it('every page carries a CSP allowing only our own scripts, no framing, nosniff', async () => {
    const { app } = await webFixture();
    const { cookie } = await login(app, 'admin');
    for (const path of ['/login', '/hosts', '/runs', '/runs/1', '/audit', '/bundles', '/runs/new']) {
      const res = await app.request(path, { headers: browser({ cookie }) });
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.doesNotMatch(await res.text(), /<script>(?!alert)|<script [^>]*src="(?!\/static\/)/, path);
    }
  });
});
