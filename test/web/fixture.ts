/** A web console over a fresh database with one user per role, a host and a run. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../server/db/index.ts';
import { saveFacts } from '../../server/db/hosts.ts';
import { insertEvent, insertHostResult, insertRun } from '../../server/db/runs.ts';
import { addUser } from '../../server/db/users.ts';
import type { Facts } from '../../server/facts/types.ts';
import { createApp, SESSION_COOKIE, type WebOptions } from '../../server/web/app.tsx';

export const LISTEN = '127.0.0.1:8080';
export const ORIGIN = 'http://127.0.0.1:8080';
export const HOST = '127.0.0.1:8080';
export const PASSWORD = 'a-long-password-1';
export const XSS = '<script>alert(1)</script>';

export function facts(machineId: string, hostname: string, release = '6.1.0-40-amd64'): Facts {
  return {
    helper_version: '1',
    hostname,
    machine_id: machineId,
    uname: { sysname: 'Linux', release, version: '#1 SMP', machine: 'x86_64' },
    arch: 'x86_64',
    proc_version: null,
    kernel_build_id: 'ab12',
    os: { id: 'debian', version_id: '12', pretty_name: 'Debian 12' },
    taint: 0,
    sig_enforce: null,
    lockdown: null,
    livepatch_supported: true,
    livepatches: [],
    journal: [],
  };
}

export async function webFixture(options: Partial<WebOptions> | ((db: Db) => Partial<WebOptions>) = {}) {
  const db: Db = openDatabase(join(mkdtempSync(join(tmpdir(), 'fp-web-')), 'f.db'));
  for (const role of ['viewer', 'operator', 'admin'] as const) await addUser(db, role, role, PASSWORD);
  saveFacts(db, `web01${XSS}`, '10.0.0.1', facts('0'.repeat(32), `h${XSS}`));
  const run = insertRun(db, {
    kind: 'apply',
    state: 'running',
    bundleId: 'cve-1',
    bundleSerial: 1,
    bundleSha256: 'f'.repeat(64),
    bundleTitle: `title ${XSS}`,
    target: { inventories: ['inv'], pattern: `all${XSS}` },
    inventoryHash: 'x',
    strategy: { forks: 2 },
    startedBy: 'cli:root',
    createdAt: new Date(),
  });
  const hostA = insertHostResult(db, { runId: run.id, inventoryName: `web01${XSS}`, state: 'pending', wave: 1, reason: `reason ${XSS}` });
  const hostB = insertHostResult(db, { runId: run.id, inventoryName: 'web02', state: 'pending', wave: 1 });
  const extra = typeof options === 'function' ? options(db) : options;
  const app = createApp({ db, listen: LISTEN, pollMs: 20, ...extra });
  const event = (hostResultId: number | null, type = 'host') => insertEvent(db, { runId: run.id, hostResultId, type, data: {}, at: new Date() });
  return { db, app, run, hostA, hostB, event };
}

export type App = Awaited<ReturnType<typeof webFixture>>['app'];

/** Headers of a same-origin browser request. */
export function browser(extra: Record<string, string> = {}): Record<string, string> {
  return { host: HOST, origin: ORIGIN, ...extra };
}

export function form(values: Record<string, string>): URLSearchParams {
  return new URLSearchParams(values);
}

export function sessionCookie(res: Response): string | undefined {
  const m = /fp_session=([^;]*)/.exec(res.headers.get('set-cookie') ?? '');
  return m?.[1] || undefined;
}

/** Logs in and returns the session cookie and the CSRF token the pages carry. */
export async function login(app: App, name: string, password = PASSWORD): Promise<{ cookie: string; csrf: string }> {
  const res = await app.request('/login', { method: 'POST', headers: browser(), body: form({ name, password }) });
  const id = sessionCookie(res);
  if (res.status !== 303 || !id) throw new Error(`login as ${name} failed: ${res.status}`);
  const cookie = `${SESSION_COOKIE}=${id}`;
  const page = await (await app.request('/hosts', { headers: browser({ cookie }) })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!csrf) throw new Error('no CSRF token on the hosts page');
  return { cookie, csrf };
}
