/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The web console: a hono app over the database. Every route but /login and /static needs a
 * session; roles are checked on the server for every route; every state change needs one of our
 * origins and the session's CSRF token; the Host header must be ours. */
import { timingSafeEqual } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { Db } from '../db/index.ts';
import { createSession, deleteSession, findUser, hashPassword, recordAudit, roleAtLeast, sessionUser, verifyPassword, type Role } from '../db/users.ts';
import { LoginPage } from '../../views/login.tsx';
import type { Deps, Env } from './context.ts';
import { tokenUser } from '../db/tokens.ts';
import { noFleet, type Fleet } from './fleet.ts';
import { defaultConfig } from '../config.ts';
import { auditRoutes } from './routes/audit.tsx';
import { hostRoutes } from './routes/hosts.tsx';
import { runRoutes } from './routes/runs.tsx';
import { bundleRoutes } from './routes/bundles.tsx';
import { launchRoutes } from './routes/launch.tsx';
import { RunManager } from './launch.ts';
import { addressKey, allowedHosts, hostCheck, isApiClient, isSafeMethod, LoginLimiter, originAllowed, originCheck } from './security.ts';
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
  /** Inventories, bundle library and controller config; without it the console only reads. */
  fleet?: Fleet;
  /** More Host names (NAME or NAME:PORT) this server answers to, beside the listen address and loopback. */
  allowedHosts?: string[];
  /** Owner of the runs started here (default: a new one over db and fleet). */
  runs?: RunManager;
}


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

/** The largest request body: every form and API call of the console is a few fields. */
export const MAX_BODY = 64 * 1024;

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

/** The token of an `Authorization: Bearer …` header; undefined without one. */
function bearerToken(c: Context): string | undefined {
  const h = c.req.header('authorization');
  if (h === undefined) return undefined;
  return /^Bearer (\S+)$/i.exec(h)?.[1] ?? '';
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
  const fleet = opts.fleet ?? noFleet(defaultConfig(process.cwd()));
  const hosts = allowedHosts(opts.listen, opts.allowedHosts ?? []);
  const assets = loadAssets();
  dummyHash ??= hashPassword('not a password of anyone');

  const app = new Hono<Env>();
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    process.stderr.write(`fleetpatch serve: ${c.req.method} ${c.req.path}: ${err.message}\n`);
    return c.text('internal error', 500);
  });
  // first: the refusals below (a foreign Host's 421 too) carry nosniff and the CSP
  app.use(secureHeaders({ contentSecurityPolicy: CSP, referrerPolicy: 'same-origin', crossOriginResourcePolicy: 'same-origin' }));
  app.use(hostCheck(hosts));
  // before anything reads a body: an unauthenticated client must not make the server buffer gigabytes
  app.use(bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.text(`request body larger than ${MAX_BODY} bytes`, 413) }));
  app.use(originCheck(hosts));
  const honoCsrf = csrf({ origin: (origin) => originAllowed(origin, hosts) });
  app.use((c, next) => (isApiClient(c.req.raw, c.req.path) ? next() : honoCsrf(c, next)));

  app.get('/static/:name', (c) => {
    const a = assets.get(c.req.param('name'));
    if (!a) return c.notFound();
    c.header('cache-control', 'no-cache');
    c.header('etag', a.etag);
    if ((c.req.header('if-none-match') ?? '').split(/\s*,\s*/).includes(a.etag)) return c.body(null, 304);
    c.header('content-type', a.type);
    return c.body(a.body);
  });

  app.get('/favicon.ico', (c) => c.body(null, 204));

  app.get('/login', (c) => c.html(<LoginPage />));

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const name = typeof form.name === 'string' ? form.name.slice(0, 64) : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const at = now().getTime();
    const [userKey, addrKey] = [`user:${name}`, `addr:${addressKey(clientAddress(c))}`];
    // counted before the password is checked: concurrent guesses see each other
    const wait = limiter.attempt([userKey, addrKey], at);
    if (wait > 0) {
      c.header('retry-after', String(Math.ceil(wait / 1000)));
      return c.html(<LoginPage name={name} error={`Too many failed logins: try again in ${Math.ceil(wait / 60_000)} min.`} />, 429);
    }
    const user = findUser(db, name);
    const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash!));
    if (!user || !ok) {
      recordAudit(db, name || '(empty)', 'login-failed', { address: clientAddress(c) }, now());
      return c.html(<LoginPage name={name} error="Wrong user name or password." />, 401);
    }
    limiter.succeeded(userKey, [addrKey], at);
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
      const bearer = bearerToken(c);
      if (bearer !== undefined) {
        // API clients: a per-user token, no cookie, so no CSRF token either (nothing ambient to forge)
        const t = c.req.path.startsWith('/api/') ? tokenUser(db, bearer, now()) : undefined;
        if (!t) return c.json({ code: 'unauthenticated', message: c.req.path.startsWith('/api/') ? 'unknown or revoked API token' : 'API tokens are accepted on /api/ routes only' }, 401);
        c.set('user', t.user);
        c.set('session', { id: `token:${t.token.id}`, userId: t.user.id, csrfToken: '', createdAt: t.token.createdAt, expiresAt: new Date(8.64e15) });
        if (!roleAtLeast(t.user.role, role)) return c.json({ code: 'forbidden', message: `this needs the ${role} role` }, 403);
        return next();
      }
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
  const deps: Deps = { db, now, need, pollMs, fleet, runs: opts.runs ?? new RunManager(db, fleet) };
    hostRoutes(app, deps);
  bundleRoutes(app, deps);
  launchRoutes(app, deps);
  runRoutes(app, deps);
  auditRoutes(app, deps);

  return app;
}
