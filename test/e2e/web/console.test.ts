/** The console in a real browser: Debian's Chromium (never a downloaded one) driven by
 * playwright-core against a real HTTP server on loopback. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type BrowserContext } from 'playwright-core';
import { openDatabase, type Db } from '../../../server/db/index.ts';
import { saveFacts } from '../../../server/db/hosts.ts';
import { insertEvent, insertHostResult, insertRun, insertStep, updateHostResult, updateRun } from '../../../server/db/runs.ts';
import { sessions } from '../../../server/db/schema.ts';
import { addUser } from '../../../server/db/users.ts';
import { createApp } from '../../../server/web/app.tsx';
import { facts, XSS } from '../../web/fixture.ts';

const PASSWORD = 'browser-password-1';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('web console in Chromium', () => {
  let dir: string;
  let db: Db;
  let server: ServerType;
  let browser: BrowserContext;
  let base: string;
  const consoleErrors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fp-e2e-web-'));
    db = openDatabase(join(dir, 'f.db'));
    await addUser(db, 'ops', 'operator', PASSWORD);
    saveFacts(db, `web01${XSS}`, '10.0.0.1', facts('1'.repeat(32), 'web01', '6.1.0-41-amd64'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const app = createApp({ db, listen: `127.0.0.1:${port}`, pollMs: 100 });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => resolve());
    });
    // a fresh profile (--user-data-dir) in the test's own directory
    browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    await browser?.close();
    (server as { closeAllConnections?: () => void } | undefined)?.closeAllConnections?.();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    db?.$client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in, shows the hosts, and a run page row turns applied when the run records it', async () => {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('dialog', () => assert.fail('a script ran: an alert() opened'));

    await page.goto(`${base}/hosts`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.fill('input[name=name]', 'ops');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/hosts`);
    const hostRow = page.locator('#hosts tbody tr').first();
    assert.match(await hostRow.innerText(), /web01<script>alert\(1\)<\/script>/, 'the name is shown as text');
    assert.match(await hostRow.innerText(), /6\.1\.0-41-amd64/);

    const run = insertRun(db, {
      kind: 'apply',
      state: 'running',
      bundleId: 'cve-2026-1',
      bundleSerial: 1,
      bundleSha256: 'e'.repeat(64),
      bundleTitle: 'example livepatch',
      target: { inventories: ['inv'], pattern: 'all' },
      inventoryHash: 'x',
      strategy: { forks: 2 },
      startedBy: 'cli:root',
      createdAt: new Date(),
    });
    const a = insertHostResult(db, { runId: run.id, inventoryName: 'web01', state: 'running', wave: 1, startedAt: new Date() });
    const b = insertHostResult(db, { runId: run.id, inventoryName: 'web02', state: 'running', wave: 1, startedAt: new Date() });

    await page.goto(`${base}/runs/${run.id}`);
    const rowA = page.locator(`#hr-${a.id} td.state`);
    const rowB = page.locator(`#hr-${b.id} td.state`);
    assert.equal(await rowA.innerText(), 'running');
    // wait until the stream is open, then let the run write as the engine does: state, then event
    await page.locator('#run[data-live="open"]').waitFor({ timeout: 10_000 });
    insertStep(db, { hostResultId: a.id, name: 'apply', status: 'ok', startedAt: new Date(), finishedAt: new Date() });
    updateHostResult(db, a.id, { state: 'applied', finishedAt: new Date() });
    insertEvent(db, { runId: run.id, hostResultId: a.id, type: 'host', data: { host: 'web01', state: 'applied' }, at: new Date() });

    await page.locator(`#hr-${a.id} td.state-applied`).waitFor({ timeout: 10_000 });
    assert.equal(await rowA.innerText(), 'applied');
    assert.equal(await rowB.innerText(), 'running', 'the other row is untouched');
    assert.equal(new URL(page.url()).pathname, `/runs/${run.id}`, 'no reload, no navigation');
    await page.click(`#hr-${a.id} button`);
    await page.locator(`#steps-${a.id} td`).filter({ hasText: 'apply' }).first().waitFor({ timeout: 10_000 });

    // the open step log follows the host's events; the run's end closes the stream
    insertStep(db, { hostResultId: a.id, name: 'verify-again', status: 'ok', startedAt: new Date(), finishedAt: new Date() });
    insertEvent(db, { runId: run.id, hostResultId: a.id, type: 'host', data: { host: 'web01', state: 'applied' }, at: new Date() });
    await page.locator(`#steps-${a.id} td`).filter({ hasText: 'verify-again' }).first().waitFor({ timeout: 10_000 });
    updateRun(db, run.id, { state: 'succeeded', finishedAt: new Date() });
    insertEvent(db, { runId: run.id, hostResultId: null, type: 'run', data: { state: 'succeeded' }, at: new Date() });
    await page.locator('#run[data-live="ended"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#run-state').innerText(), 'succeeded');
    assert.deepEqual(consoleErrors, [], 'no CSP violation or script error');
  });

  it('a run page whose stream drops and cannot come back says its live updates stopped', async () => {
    const page = await browser.newPage(); // still logged in: the profile keeps the session cookie
    const run = insertRun(db, { kind: 'apply', state: 'running', bundleId: 'cve-2026-1', bundleSerial: 1, bundleSha256: 'e'.repeat(64), bundleTitle: 'example livepatch', target: { inventories: ['inv'], pattern: 'all' }, inventoryHash: 'x', strategy: { forks: 2 }, startedBy: 'cli:root', createdAt: new Date() });
    insertHostResult(db, { runId: run.id, inventoryName: 'web01', state: 'running', wave: 1, startedAt: new Date() });
    await page.goto(`${base}/runs/${run.id}`);
    await page.locator('#run[data-live="open"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#live-status').innerText(), '');
    // the session ends and the connection drops: the browser's reconnect is refused (a login page)
    db.delete(sessions).run();
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    await page.locator('#run[data-live="stopped"]').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#live-status').innerText(), 'Live updates stopped: reload the page.');
  });
});
