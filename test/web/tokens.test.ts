/** Per-user API tokens: Bearer auth on /api/ only, role checked, revocable, stored as a hash. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiTokens } from '../../server/db/schema.ts';
import { createToken, listTokens, revokeToken } from '../../server/db/tokens.ts';
import { findUser, listAudit } from '../../server/db/users.ts';
import { HOST, webFixture } from './fixture.ts';

const bearer = (token: string, extra: Record<string, string> = {}) => ({ host: HOST, authorization: `Bearer ${token}`, ...extra });

describe('API tokens', () => {
  it('a viewer token reads the API, is refused state changes (403), and only its hash is stored', async () => {
    const { app, db } = await webFixture();
    const { token } = createToken(db, findUser(db, 'viewer')!, 'dashboards');
    assert.match(token, /^fpt_[A-Za-z0-9_-]{43}$/);
    assert.equal((await app.request('/api/hosts', { headers: bearer(token) })).status, 200);
    assert.equal((await app.request('/api/runs/1', { headers: bearer(token) })).status, 200);
    assert.equal((await app.request('/api/runs/1/cancel', { method: 'POST', headers: bearer(token) })).status, 403);
    const stored = db.select().from(apiTokens).all();
    assert.equal(stored.length, 1);
    assert.ok(!JSON.stringify(stored).includes(token.slice(4)), 'the token itself is not in the database');
    assert.ok(listTokens(db, findUser(db, 'viewer')!.id)[0]!.lastUsedAt, 'use is recorded');
  });

  it('an operator token cancels a run without cookie or CSRF token (no Origin: not a browser), audited', async () => {
    const { app, db } = await webFixture();
    const { token } = createToken(db, findUser(db, 'operator')!, 'ci');
    const res = await app.request('/api/runs/1/cancel', { method: 'POST', headers: bearer(token) });
    assert.equal(res.status, 202);
    assert.ok(listAudit(db).some((a) => a.who === 'operator' && a.what === 'run-cancel'));
  });

  it('refuses: unknown, malformed and revoked tokens (401), tokens on pages (401), a token with a foreign Origin (403)', async () => {
    const { app, db } = await webFixture();
    const user = findUser(db, 'admin')!;
    const { token, row } = createToken(db, user, 'x');
    for (const t of ['fpt_' + 'A'.repeat(43), 'nonsense', '']) assert.equal((await app.request('/api/hosts', { headers: bearer(t) })).status, 401, t);
    assert.equal((await app.request('/hosts', { headers: bearer(token) })).status, 401, 'pages need a login');
    assert.equal((await app.request('/runs/1/events', { headers: bearer(token) })).status, 401);
    assert.equal((await app.request('/api/runs/1/cancel', { method: 'POST', headers: bearer(token, { origin: 'http://evil.example' }) })).status, 403);
    assert.ok(revokeToken(db, user.id, row.id));
    assert.equal((await app.request('/api/hosts', { headers: bearer(token) })).status, 401);
    assert.equal(revokeToken(db, user.id, row.id), false, 'already revoked');
  });

  it('a token never lets a cookie-less cross-site form through: no Bearer, no Origin exemption', async () => {
    const { app } = await webFixture();
    const res = await app.request('/api/runs/1/cancel', { method: 'POST', headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(res.status, 403);
  });
});
