/** Request checks that run before any route: Host header (DNS rebinding), origin of state
 * changes (CSRF), and the login rate limit. Pure helpers plus small middleware. */
import { isIPv6 } from 'node:net';
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

/** What a client address is counted under by the login limit: an IPv4 address as it is (an
 * IPv4-mapped IPv6 one too); an IPv6 address by its /64, since one client commonly holds a whole /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  // a trailing dotted quad is two groups
  const hex = bare.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const [head = '', tail] = hex.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const all = tail === undefined ? groups(head) : [...groups(head), ...Array<string>(8 - groups(head).length - groups(tail).length).fill('0'), ...groups(tail)];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** Login attempts counted per key (`user:NAME`, `addr:ADDRESS`) in a sliding window. An attempt
 * is counted when it starts and forgotten when it succeeds, so concurrent guesses cannot all pass
 * the check before any of them is counted. Memory is bounded: at most `maxKeys` keys, each holding
 * at most its limit of timestamps; when full, expired keys go first, then keys that are not
 * locked, and only then the oldest lock. */
export class LoginLimiter {
  private readonly attempts = new Map<string, number[]>();
  constructor(
    /** Failures allowed per user name in the window. */
    readonly maxFailures = 5,
    readonly windowMs = 15 * 60_000,
    /** Failures allowed per client address in the window (across user names). */
    readonly maxPerAddress = 20,
    readonly maxKeys = 100_000,
  ) {}

  /** Number of keys held (for tests of the memory bound). */
  get size(): number {
    return this.attempts.size;
  }

  /** 0 and the attempt counted for every key when none of them is locked; otherwise the
   * milliseconds until the last lock among them ends, and nothing counted. */
  attempt(keys: string[], now: number): number {
    const wait = Math.max(0, ...keys.map((k) => this.retryAfter(k, now)));
    if (wait > 0) return wait;
    for (const k of keys) {
      if (!this.attempts.has(k)) this.makeRoom(now);
      this.attempts.set(k, [...this.recent(k, now), now]);
    }
    return 0;
  }

  /** A successful login: its user name starts afresh and the attempt no longer counts against the other keys. */
  succeeded(userKey: string, otherKeys: string[], at: number): void {
    this.attempts.delete(userKey);
    for (const k of otherKeys) {
      const list = this.attempts.get(k) ?? [];
      const i = list.indexOf(at);
      if (i >= 0) list.splice(i, 1);
      if (!list.length) this.attempts.delete(k);
    }
  }

  private limit(key: string): number {
    return key.startsWith('addr:') ? this.maxPerAddress : this.maxFailures;
  }

  private retryAfter(key: string, now: number): number {
    const recent = this.recent(key, now);
    const limit = this.limit(key);
    return recent.length >= limit ? recent[recent.length - limit]! + this.windowMs - now : 0;
  }

  private recent(key: string, now: number): number[] {
    return (this.attempts.get(key) ?? []).filter((t) => now - t < this.windowMs);
  }

  private makeRoom(now: number): void {
    if (this.attempts.size < this.maxKeys) return;
    for (const k of [...this.attempts.keys()]) if (!this.recent(k, now).length) this.attempts.delete(k);
    if (this.attempts.size < this.maxKeys) return;
    const unlocked = [...this.attempts.keys()].find((k) => this.retryAfter(k, now) === 0);
    this.attempts.delete(unlocked ?? this.attempts.keys().next().value!);
  }
}
