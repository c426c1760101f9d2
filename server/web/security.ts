/** Request checks that run before any route: Host header (DNS rebinding), origin of state
 * changes (CSRF), and the login rate limit. Pure helpers plus small middleware. */
import type { MiddlewareHandler } from 'hono';

/** Host header values this server answers to: the listen address and the loopback names, on the listen port. */
export function allowedHosts(listen: string, extra: string[] = []): Set<string> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = listen.slice(at + 1);
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  // a wildcard bind names no host: only the loopback names and explicitly configured ones are accepted
  if (host !== '0.0.0.0' && host !== '::' && host !== '') names.add(host.includes(':') ? `[${host}]` : host.toLowerCase());
  const out = new Set([...names].map((n) => `${n}:${port}`));
  // names the operator vouches for (a reverse proxy's, or the host's own on a non-loopback bind)
  for (const e of extra) out.add((/:\d+$/.test(e) && !/^\[[^\]]*$/.test(e) ? e : `${e}:${port}`).toLowerCase());
  return out;
}

/** `NAME` or `NAME:PORT` (NAME a DNS name, IPv4 address or [IPv6]); an AppError-free check for flags. */
export function validAllowedHost(value: string): boolean {
  return /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/i.test(value);
}

/** Refuses requests whose Host is not ours (421): a rebound DNS name must not reach the console. */
export function hostCheck(allowed: Set<string>): MiddlewareHandler {
  return async (c, next) => {
    const host = (c.req.header('host') ?? new URL(c.req.url).host).toLowerCase();
    const withPort = host.includes(':') && !host.endsWith(']') ? host : `${host}:80`;
    if (!allowed.has(host) && !allowed.has(withPort)) return c.text(`this server does not answer to host ${JSON.stringify(host)}`, 421);
    await next();
  };
}

export function originAllowed(origin: string | undefined, allowed: Set<string>): boolean {
  if (!origin) return false;
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && allowed.has(u.port ? u.host : `${u.host}:${u.protocol === 'https:' ? 443 : 80}`);
  } catch {
    return false;
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Every state change must come from one of our own origins (Origin, else Sec-Fetch-Site:
 * same-origin); whatever its content type. The per-session token is checked after the session. */
export function originCheck(allowed: Set<string>): MiddlewareHandler {
  return async (c, next) => {
    if (!SAFE.has(c.req.method)) {
      const origin = c.req.header('origin');
      // An API client with a token and no Origin is not a browser: browsers send Origin on every
      // cross-site POST and cannot add an Authorization header cross-site without a CORS preflight
      // (which this server never grants).
      const apiClient = isApiClient(c.req.raw, c.req.path);
      const ok = origin !== undefined ? originAllowed(origin, allowed) : apiClient || c.req.header('sec-fetch-site') === 'same-origin';
      if (!ok) return c.text('cross-site request refused', 403);
    }
    await next();
  };
}

/** A request with an API token and no Origin: not a browser (see originCheck). */
export function isApiClient(req: Request, path: string): boolean {
  return req.headers.get('origin') === null && path.startsWith('/api/') && /^Bearer /i.test(req.headers.get('authorization') ?? '');
}

export function isSafeMethod(method: string): boolean {
  return SAFE.has(method);
}

/** Failed logins counted per key (user name, client address) in a sliding window. */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(
    readonly maxFailures = 5,
    readonly windowMs = 15 * 60_000,
  ) {}

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string, now = Date.now()): number {
    const recent = this.recent(key, now);
    return recent.length >= this.maxFailures ? recent[0]! + this.windowMs - now : 0;
  }

  fail(key: string, now = Date.now()): void {
    this.failures.set(key, [...this.recent(key, now), now]);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }
}
