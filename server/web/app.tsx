/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The web console: a hono app over the database. Every route but /login and /static needs a
 * session; roles are checked on the server for every route; every state change needs one of our
 * origins and the session's CSRF token; the Host header must be ours. */
import { timingSafeEqual } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import { streamSSE } from 'hono/streaming';
import type { Db } from '../db/index.ts';
import { eventsAfter, getRun, requestCancel } from '../db/runs.ts';
import { createSession, deleteSession, findUser, hashPassword, listAudit, recordAudit, roleAtLeast, sessionUser, verifyPassword, type Role, type SessionRow, type UserRow } from '../db/users.ts';
import { AuditPage } from '../../views/audit.tsx';
import { HostsPage } from '../../views/hosts.tsx';
import type { Viewer } from '../../views/layout.tsx';
import { LoginPage } from '../../views/login.tsx';
import { HostCells, RunPage, RunStatus, StepLog } from '../../views/run.tsx';
import { RunsPage } from '../../views/runs.tsx';
import { hostResultIn, hostResultView, hostsView, isFinished, runSummary, runsView, runView } from './data.ts';
import { allowedHosts, hostCheck, isSafeMethod, LoginLimiter, originAllowed, originCheck } from './security.ts';
import { loadAssets } from './static.ts';

export const SESSION_COOKIE = 'fp_session';

export interface WebOptions {
  db: Db;
  /** The listen address (ADDR:PORT): the Host header and Origin must name it or a loopback name. */
  listen: string;
  sessionTtlMs?: number;
  limiter?: LoginLimiter;
  /** How often a live stream looks for new events in the database. */
  pollMs?: number;
  now?: () => Date;
}

type Env = { Variables: { user: UserRow; session: SessionRow } };

const CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

let dummyHash: Promise<string> | undefined;

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // no socket: a request made in-process
  }
}

function wantsJson(c: Context): boolean {
  return c.req.path.startsWith('/api/') || c.req.path.endsWith('/events') || !isSafeMethod(c.req.method);
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createApp(opts: WebOptions): Hono<Env> {
  const { db } = opts;
  const now = opts.now ?? (() => new Date());
  const ttl = opts.sessionTtlMs ?? 8 * 3600_000;
  const limiter = opts.limiter ?? new LoginLimiter();
  const pollMs = opts.pollMs ?? 500;
  const hosts = allowedHosts(opts.listen);
  const assets = loadAssets();
  dummyHash ??= hashPassword('not a password of anyone');

  const app = new Hono<Env>();
  app.onError((err, c) => {
    process.stderr.write(`fleetpatch serve: ${c.req.method} ${c.req.path}: ${err.message}\n`);
    return c.text('internal error', 500);
  });
  app.use(hostCheck(hosts));
  app.use(secureHeaders({ contentSecurityPolicy: CSP, referrerPolicy: 'same-origin', crossOriginResourcePolicy: 'same-origin' }));
  app.use(originCheck(hosts));
  app.use(csrf({ origin: (origin) => originAllowed(origin, hosts) }));

  app.get('/static/:name', (c) => {
    const a = assets.get(c.req.param('name'));
    if (!a) return c.notFound();
    c.header('content-type', a.type);
    c.header('cache-control', 'no-cache');
    return c.body(a.body);
  });

  app.get('/favicon.ico', (c) => c.body(null, 204));

  const viewerOf = (c: Context<Env>): Viewer => ({ name: c.get('user').name, role: c.get('user').role, csrfToken: c.get('session').csrfToken });

  app.get('/login', (c) => c.html(<LoginPage />));

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const name = typeof form.name === 'string' ? form.name.slice(0, 64) : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const keys = [`user:${name}`, `addr:${clientAddress(c)}`];
    const wait = Math.max(...keys.map((k) => limiter.retryAfter(k, now().getTime())));
    if (wait > 0) {
      c.header('retry-after', String(Math.ceil(wait / 1000)));
      return c.html(<LoginPage name={name} error={`Too many failed logins: try again in ${Math.ceil(wait / 60_000)} min.`} />, 429);
    }
    const user = findUser(db, name);
    const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash!));
    if (!user || !ok) {
      for (const k of keys) limiter.fail(k, now().getTime());
      recordAudit(db, name || '(empty)', 'login-failed', { address: clientAddress(c) }, now());
      return c.html(<LoginPage name={name} error="Wrong user name or password." />, 401);
    }
    limiter.reset(`user:${name}`);
    // a session id the browser brought is never promoted: always a new one (session fixation)
    const old = getCookie(c, SESSION_COOKIE);
    if (old) deleteSession(db, old);
    const session = createSession(db, user.id, ttl, now());
    setCookie(c, SESSION_COOKIE, session.id, { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: Math.floor(ttl / 1000), secure: new URL(c.req.url).protocol === 'https:' });
    recordAudit(db, user.name, 'login', { address: clientAddress(c) }, now());
    return c.redirect('/hosts', 303);
  });

  /** Loads the session; refuses without one (401 or a redirect to /login), with too small a role
   * (403), and a state change without the session's CSRF token (403). */
  const need =
    (role: Role): MiddlewareHandler<Env> =>
    async (c, next) => {
      const id = getCookie(c, SESSION_COOKIE);
      const found = id ? sessionUser(db, id, now()) : undefined;
      if (!found) {
        if (id) deleteCookie(c, SESSION_COOKIE, { path: '/' });
        return wantsJson(c) ? c.json({ code: 'unauthenticated', message: 'log in first' }, 401) : c.redirect('/login', 302);
      }
      c.set('user', found.user);
      c.set('session', found.session);
      if (!isSafeMethod(c.req.method)) {
        let token = c.req.header('x-csrf-token');
        if (!token && /^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(c.req.header('content-type') ?? '')) {
          const form = await c.req.parseBody();
          token = typeof form._csrf === 'string' ? form._csrf : undefined;
        }
        if (!tokenMatches(token, found.session.csrfToken)) return c.json({ code: 'csrf', message: 'missing or wrong CSRF token: reload the page' }, 403);
      }
      if (!roleAtLeast(found.user.role, role)) return wantsJson(c) ? c.json({ code: 'forbidden', message: `this needs the ${role} role` }, 403) : c.text(`Forbidden: this needs the ${role} role.`, 403);
      await next();
    };

  app.post('/logout', need('viewer'), (c) => {
    deleteSession(db, c.get('session').id);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    recordAudit(db, c.get('user').name, 'logout', {}, now());
    return c.redirect('/login', 303);
  });

  app.get('/', need('viewer'), (c) => c.redirect('/hosts', 302));
  app.get('/hosts', need('viewer'), (c) => c.html(<HostsPage viewer={viewerOf(c)} hosts={hostsView(db)} now={now()} />));
  app.get('/runs', need('viewer'), (c) => c.html(<RunsPage viewer={viewerOf(c)} runs={runsView(db)} />));
  app.get('/runs/:id{[0-9]+}', need('viewer'), (c) => {
    const view = runView(db, Number(c.req.param('id')));
    if (!view) return c.text('no such run', 404);
    return c.html(<RunPage viewer={viewerOf(c)} view={view} now={now()} />);
  });
  app.get('/runs/:id{[0-9]+}/hosts/:hr{[0-9]+}/steps', need('viewer'), (c) => {
    const hr = hostResultIn(db, Number(c.req.param('id')), Number(c.req.param('hr')));
    return hr ? c.html(<StepLog h={hostResultView(db, hr)} />) : c.text('no such host in this run', 404);
  });
  app.get('/audit', need('admin'), (c) => c.html(<AuditPage viewer={viewerOf(c)} entries={listAudit(db)} />));

  app.post('/runs/:id{[0-9]+}/cancel', need('operator'), (c) => {
    const id = Number(c.req.param('id'));
    if (!getRun(db, id)) return c.json({ code: 'not-found', message: `no run ${id}` }, 404);
    if (!requestCancel(db, id)) return c.json({ code: 'not-running', message: `run ${id} is not running` }, 409);
    recordAudit(db, c.get('user').name, 'run-cancel', { run: id }, now());
    return c.req.header('hx-request') ? c.body(null, 204) : c.redirect(`/runs/${id}`, 303);
  });

  /** The run's events after Last-Event-ID (or ?after=), then new ones as the database gets them;
   * each event re-renders the current row of its host (or the run's status). Ends after a finished run. */
  app.get('/runs/:id{[0-9]+}/events', need('viewer'), (c) => {
    const id = Number(c.req.param('id'));
    if (!getRun(db, id)) return c.json({ code: 'not-found', message: `no run ${id}` }, 404);
    const from = c.req.header('last-event-id') ?? c.req.query('after') ?? '0';
    let last = /^\d{1,15}$/.test(from) ? Number(from) : 0;
    return streamSSE(c, async (stream) => {
      let finishedSeen = false;
      while (!stream.aborted) {
        const finished = isFinished(getRun(db, id)?.state ?? 'gone');
        for (const e of eventsAfter(db, id, last)) {
          const hr = e.hostResultId === null ? undefined : hostResultIn(db, id, e.hostResultId);
          const html = hr ? await (<HostCells h={hostResultView(db, hr)} runId={id} now={now()} />).toString() : await (<RunStatus run={runSummary(getRun(db, id)!)} />).toString();
          await stream.writeSSE({ id: String(e.id), event: hr ? `host-${hr.id}` : 'run', data: html });
          last = e.id;
        }
        // one more pass after the run is seen finished: its last events may land just after its state
        if (finished && finishedSeen) {
          await stream.writeSSE({ event: 'end', data: 'finished' });
          return;
        }
        finishedSeen = finished;
        await stream.sleep(finished ? 0 : pollMs);
      }
    });
  });

  app.get('/api/hosts', need('viewer'), (c) => c.json(hostsView(db)));
  app.get('/api/runs', need('viewer'), (c) => c.json(runsView(db)));
  app.get('/api/runs/:id{[0-9]+}', need('viewer'), (c) => {
    const view = runView(db, Number(c.req.param('id')));
    return view ? c.json(view) : c.json({ code: 'not-found', message: `no run ${c.req.param('id')}` }, 404);
  });

  return app;
}
