/** Every route of the console, as the app lists them (`app.routes`), classified by who may call
 * it, with a request the route answers with success for such a caller. A route the app has and
 * this table lacks (or the reverse) fails the tests that use it: a new route must be classified. */
import type { Role } from '../../server/db/users.ts';
import { insertRun } from '../../server/db/runs.ts';
import { listLibrary } from '../../server/web/library.ts';
import { hostileConsole } from './hostile-fleet.ts';

export type Access = 'public' | Role;
export type World = Awaited<ReturnType<typeof hostileConsole>> & { sha256: string };

export interface RouteCase {
  access: Access;
  /** A path the route answers; may add what it acts on to the database (a run to cancel). */
  path: (w: World) => string;
  /** Fields of a state change. */
  fields?: (w: World) => Record<string, string>;
  /** The status an allowed caller gets. */
  ok: number;
}

const freshRun = (w: World) => insertRun(w.db, { kind: 'apply', state: 'running', bundleId: 'b', bundleSerial: 1, bundleSha256: 'f'.repeat(64), bundleTitle: 't', target: {}, inventoryHash: 'x', strategy: { forks: 1 }, startedBy: 'test', createdAt: new Date() }).id;
const fixed = (path: string) => () => path;
const plan = () => ({ bundle: 'crit', pattern: 'all', kind: 'apply' });
const start = (w: World) => ({ bundle: 'crit', sha256: w.sha256, pattern: 'web-b', kind: 'apply', waves: '1,100%' });

export const ROUTES: Record<string, RouteCase> = {
  'GET /static/:name': { access: 'public', path: fixed('/static/app.css'), ok: 200 },
  'GET /favicon.ico': { access: 'public', path: fixed('/favicon.ico'), ok: 204 },
  'GET /login': { access: 'public', path: fixed('/login'), ok: 200 },
  'POST /login': { access: 'public', path: fixed('/login'), fields: () => ({ name: 'viewer', password: 'a-long-password-1' }), ok: 303 },
  'POST /logout': { access: 'viewer', path: fixed('/logout'), fields: () => ({}), ok: 303 },
  'GET /': { access: 'viewer', path: fixed('/'), ok: 302 },
  'GET /hosts': { access: 'viewer', path: fixed('/hosts'), ok: 200 },
  'GET /hosts/rows': { access: 'viewer', path: fixed('/hosts/rows?pattern=all'), ok: 200 },
  'GET /hosts/:id{[0-9]+}': { access: 'viewer', path: (w) => `/hosts/${w.hostId}`, ok: 200 },
  'GET /api/hosts': { access: 'viewer', path: fixed('/api/hosts'), ok: 200 },
  'GET /api/hosts/:id{[0-9]+}': { access: 'viewer', path: (w) => `/api/hosts/${w.hostId}`, ok: 200 },
  'GET /bundles': { access: 'viewer', path: fixed('/bundles'), ok: 200 },
  'GET /api/bundles': { access: 'viewer', path: fixed('/api/bundles'), ok: 200 },
  'GET /runs/new': { access: 'operator', path: fixed('/runs/new'), ok: 200 },
  'POST /runs/preview': { access: 'operator', path: fixed('/runs/preview'), fields: plan, ok: 200 },
  'POST /runs': { access: 'operator', path: fixed('/runs'), fields: start, ok: 303 },
  'GET /emergency/:name': { access: 'operator', path: fixed('/emergency/crit'), ok: 200 },
  'POST /api/plan': { access: 'operator', path: fixed('/api/plan'), fields: plan, ok: 200 },
  'POST /api/runs': { access: 'operator', path: fixed('/api/runs'), fields: start, ok: 201 },
  'GET /runs': { access: 'viewer', path: fixed('/runs'), ok: 200 },
  'GET /runs/:id{[0-9]+}': { access: 'viewer', path: (w) => `/runs/${w.running}`, ok: 200 },
  'GET /runs/:id{[0-9]+}/hosts/:hr{[0-9]+}/steps': { access: 'viewer', path: (w) => `/runs/${w.finished}/hosts/${w.hostResult}/steps`, ok: 200 },
  'POST /runs/:id{[0-9]+}/cancel': { access: 'operator', path: (w) => `/runs/${freshRun(w)}/cancel`, fields: () => ({}), ok: 303 },
  'POST /api/runs/:id{[0-9]+}/cancel': { access: 'operator', path: (w) => `/api/runs/${freshRun(w)}/cancel`, fields: () => ({}), ok: 202 },
  // a finished run: its stream ends after sending what there is
  'GET /runs/:id{[0-9]+}/events': { access: 'viewer', path: (w) => `/runs/${w.finished}/events`, ok: 200 },
  'GET /api/runs': { access: 'viewer', path: fixed('/api/runs'), ok: 200 },
  'GET /api/runs/:id{[0-9]+}': { access: 'viewer', path: (w) => `/api/runs/${w.running}`, ok: 200 },
  'GET /audit': { access: 'admin', path: fixed('/audit'), ok: 200 },
  'GET /api/audit': { access: 'admin', path: fixed('/api/audit'), ok: 200 },
};

/** `METHOD path` of every route handler of the app (middleware left out), once each. */
export function appRoutes(app: { routes: { method: string; path: string }[] }): string[] {
  return [...new Set(app.routes.filter((r) => !(r.method === 'ALL' && r.path === '/*')).map((r) => `${r.method} ${r.path}`))];
}

/** The hostile console with the sha256 its bundle `crit` is started with. */
export async function world(): Promise<World> {
  const c = await hostileConsole();
  const crit = (await listLibrary(c.fleet)).find((e) => e.name === 'crit');
  if (!crit?.sha256 || crit.refusal) throw new Error(`the hostile fleet's bundle crit is refused: ${crit?.refusal?.message}`);
  return { ...c, sha256: crit.sha256 };
}
