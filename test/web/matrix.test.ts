/** Issue 10: every route of the console (read from the app) × every kind of caller: no session,
 * each role's session, each role's API token; every state change cross-site, without or with a
 * wrong CSRF token, with a foreign Host. A refused request changes nothing in the database. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { createToken } from '../../server/db/tokens.ts';
import { createSession, findUser, ROLES, roleAtLeast, type Role } from '../../server/db/users.ts';
import { MAX_BODY, SESSION_COOKIE } from '../../server/web/app.tsx';
import { browser, form, HOST, ORIGIN } from './fixture.ts';
import { appRoutes, ROUTES, world, type RouteCase, type World } from './route-table.ts';

interface Call {
  cookie?: string;
  csrf?: string;
  token?: string;
  /** null: no Origin header (default: ours for browsers, none for API tokens) */
  origin?: string | null;
  host?: string;
  fetchSite?: string;
}

const isSafe = (method: string) => method === 'GET';

async function send(w: World, method: string, path: string, fields: Record<string, string> | undefined, c: Call): Promise<Response> {
  const headers: Record<string, string> = { host: c.host ?? HOST };
  const origin = c.origin === undefined ? (c.token ? null : ORIGIN) : c.origin;
  if (origin !== null) headers.origin = origin;
  if (c.fetchSite) headers['sec-fetch-site'] = c.fetchSite;
  if (c.cookie) headers.cookie = `${SESSION_COOKIE}=${c.cookie}`;
  if (c.token) headers.authorization = `Bearer ${c.token}`;
  if (isSafe(method)) return w.app.request(path, { method, headers });
  if (c.token) return w.app.request(path, { method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(fields ?? {}) });
  return w.app.request(path, { method, headers, body: form({ ...fields, ...(c.csrf ? { _csrf: c.csrf } : {}) }) });
}

function session(w: World, role: Role): { cookie: string; csrf: string } {
  const s = createSession(w.db, findUser(w.db, role)!.id, 3600_000);
  return { cookie: s.id, csrf: s.csrfToken };
}

/** Every row of every table (a token's last use aside: reading with a token records it). */
function snapshot(w: World): string {
  const sql = w.db.$client;
  const tables = sql.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
  return JSON.stringify(tables.map(({ name }) => [name, (sql.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all() as Record<string, unknown>[]).map((r) => ({ ...r, last_used_at: undefined }))]));
}

/** What a caller without a session gets: pages redirect to /login; the API, streams and state changes 401. */
const anonymousStatus = (method: string, path: string) => (isSafe(method) && !path.startsWith('/api/') && !path.endsWith('/events') ? 302 : 401);

/** A route of the app: its method, its path pattern, its classification. */
interface Case {
  method: string;
  route: string;
  rc: RouteCase;
}

const cases = (w: World): Case[] =>
  appRoutes(w.app).map((key) => {
    const [method, route] = key.split(' ') as [string, string];
    return { method, route, rc: ROUTES[key]! };
  });

/** Sends a route's request for a caller, noting the database just before (after the path made what it acts on). */
async function call(w: World, { method, rc }: Case, caller: Call, who: string) {
  const path = rc.path(w);
  const before = snapshot(w);
  const res = await send(w, method, path, rc.fields?.(w), caller);
  return { res, body: await res.text(), before, label: `${method} ${path} — ${who}` };
}

interface Cell {
  label: string;
  call: Call;
  status: number;
}

/** The callers a route must refuse, with the status each gets. */
function refusals(w: World, { method, route, rc }: Case, tokens: Record<Role, string>): Cell[] {
  const api = route.startsWith('/api/');
  const admin = session(w, 'admin');
  const cells: Cell[] = [];
  const add = (label: string, call: Call, status: number) => cells.push({ label, call, status });
  add('foreign Host', { host: 'evil.example:8080', origin: 'http://evil.example:8080', ...admin }, 421);
  add('foreign Host, loopback on another port', { host: '127.0.0.1:9999', origin: 'http://127.0.0.1:9999', ...admin }, 421);
  if (!isSafe(method)) {
    add('foreign Origin', { origin: 'http://evil.example', ...admin }, 403);
    add('Origin null', { origin: 'null', ...admin }, 403);
    add('no Origin, no Sec-Fetch-Site', { origin: null, ...admin }, 403);
    add('no Origin, Sec-Fetch-Site: cross-site', { origin: null, fetchSite: 'cross-site', ...admin }, 403);
    if (rc.access !== 'public') {
      add('no CSRF token', { cookie: admin.cookie }, 403);
      add('wrong CSRF token', { cookie: admin.cookie, csrf: 'A'.repeat(43) }, 403);
      add("another session's CSRF token", { cookie: admin.cookie, csrf: session(w, 'admin').csrf }, 403);
    }
    if (api) {
      add('admin token, foreign Origin', { token: tokens.admin, origin: 'http://evil.example' }, 403);
      add('admin token, foreign Host', { token: tokens.admin, host: 'evil.example:8080' }, 421);
    }
  }
  if (rc.access === 'public') return cells;
  add('no session', {}, anonymousStatus(method, route));
  add('forged session cookie', { cookie: 'A'.repeat(43), csrf: 'A'.repeat(43) }, anonymousStatus(method, route));
  for (const role of ROLES) {
    if (!roleAtLeast(role, rc.access)) add(`${role} session`, session(w, role), 403);
    if (!api) add(`${role} token on a page`, { token: tokens[role], origin: ORIGIN }, 401);
    else if (!roleAtLeast(role, rc.access)) add(`${role} token`, { token: tokens[role] }, 403);
  }
  add('unknown token', { token: `fpt_${'A'.repeat(43)}`, origin: api ? null : ORIGIN }, 401);
  return cells;
}

/** The callers a route must serve. */
function allowed(w: World, { route, rc }: Case, tokens: Record<Role, string>): { label: string; call: () => Call }[] {
  if (rc.access === 'public') return [{ label: 'no session', call: () => ({}) }];
  const access = rc.access;
  return ROLES.filter((role) => roleAtLeast(role, access)).flatMap((role) => [
    { label: `${role} session`, call: () => session(w, role) }, // a fresh one each time: logout ends it
    ...(route.startsWith('/api/') ? [{ label: `${role} token`, call: () => ({ token: tokens[role] }) }] : []),
  ]);
}

function tokensOf(w: World): Record<Role, string> {
  return Object.fromEntries(ROLES.map((role) => [role, createToken(w.db, findUser(w.db, role)!, 'matrix').token])) as Record<Role, string>;
}

/** The runs the console started have finished (a host is busy while a run on it goes on). */
async function idle(w: World): Promise<void> {
  while (w.runs.running.length) await sleep(10);
}

describe('route × caller matrix', () => {
  // one console for all: the refusals run first and change nothing
  let w: World;
  before(async () => {
    w = await world();
  });

  it('every route of the app is classified, and every classified route exists', () => {
    const routes = appRoutes(w.app);
    assert.deepEqual(
      routes.filter((r) => !ROUTES[r]),
      [],
      'routes of the app missing from test/web/route-table.ts (classify them: public, viewer, operator or admin)',
    );
    assert.deepEqual(
      Object.keys(ROUTES).filter((r) => !routes.includes(r)),
      [],
      'routes in the table the app no longer has',
    );
  });

  it('every caller that must be refused is, and the database is unchanged', async (t) => {
    const tokens = tokensOf(w);
    const cells = cases(w).flatMap((c) => refusals(w, c, tokens).map((cell) => ({ c, ...cell })));
    for (const { c, call: caller, status, label: who } of cells) {
      const { res, before, label } = await call(w, c, caller, who);
      assert.equal(res.status, status, label);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', label);
      if (res.status === 302) assert.equal(res.headers.get('location'), '/login', label);
      assert.equal(snapshot(w), before, `${label}: the database changed`);
    }
    t.diagnostic(`${cases(w).length} routes, ${cells.length} refused cells`);
  });

  it('every caller the route is for gets its answer', async (t) => {
    const tokens = tokensOf(w);
    const cells = cases(w).flatMap((c) => allowed(w, c, tokens).map((cell) => ({ c, ...cell })));
    for (const { c, call: caller, label: who } of cells) {
      await idle(w);
      const { res, body, label } = await call(w, c, caller(), who);
      assert.equal(res.status, c.rc.ok, `${label}: ${body.slice(0, 300)}`);
    }
    t.diagnostic(`${cells.length} allowed cells`);
    await w.runs.close();
  });

  it('a body larger than the limit is refused (413) before anything reads it, with or without a length', async () => {
    const tokens = tokensOf(w);
    const admin = session(w, 'admin');
    const big = 'x'.repeat(MAX_BODY + 1);
    for (const { method, route, rc } of cases(w).filter((c) => c.method !== 'GET')) {
      const key = `${method} ${route}`;
      const path = rc.path(w);
      const before = snapshot(w);
      const headers = { ...browser({ cookie: `${SESSION_COOKIE}=${admin.cookie}` }), 'content-type': 'application/x-www-form-urlencoded' };
      const sized = await w.app.request(path, { method: 'POST', headers, body: `_csrf=${admin.csrf}&name=${big}` });
      const stream = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(`_csrf=${admin.csrf}&x=${big}`)), c.close()) });
      const unsized = await w.app.request(path, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' }, body: stream, duplex: 'half' } as RequestInit);
      const api = path.startsWith('/api/') ? [await w.app.request(path, { method: 'POST', headers: { host: HOST, authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ x: big }) })] : [];
      for (const res of [sized, unsized, ...api]) assert.equal(res.status, 413, `${key}: ${await res.text()}`);
      assert.equal(snapshot(w), before, `${key}: the database changed`);
    }
  });

  it('another spelling of a path never reaches a route with fewer checks', async () => {
    const viewer = session(w, 'viewer');
    for (const { rc } of cases(w).filter((c) => c.method === 'GET' && c.rc.access !== 'public')) {
      const path = rc.path(w);
      const spellings = [`${path}/`, path.toUpperCase(), `/${path}`, `/.${path}`, `/%${path.charCodeAt(1).toString(16)}${path.slice(2)}`, path.replace(/\//g, '%2F'), `${path};x`];
      for (const p of spellings) {
        const anonymous = await w.app.request(p, { headers: browser() });
        assert.ok([302, 401, 404].includes(anonymous.status), `${p} without a session: ${anonymous.status}`);
        if (rc.access === 'viewer') continue;
        const res = await w.app.request(p, { headers: browser({ cookie: `${SESSION_COOKIE}=${viewer.cookie}` }) });
        assert.ok([403, 404].includes(res.status), `${p} as a viewer: ${res.status}`);
      }
    }
  });
});
