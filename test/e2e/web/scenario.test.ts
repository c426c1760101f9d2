/** The console end to end, as an on-call engineer uses it: Debian's Chromium (playwright-core,
 * never a downloaded browser) against `fleetpatch serve`'s own server on a real lab of OpenSSH
 * namespace hosts, one of them slowed by tc (htb rate limit: this kernel has no netem). Screenshots
 * of the main pages go to test/e2e/web/screenshots/ (git-ignored). */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startConsole } from '../../../server/commands/serve.ts';
import { loadConfig } from '../../../server/config.ts';
import { openDatabase, type Db } from '../../../server/db/index.ts';
import { addUser } from '../../../server/db/users.ts';
import { labDown, labUp } from '../../../server/lab/index.ts';
import { labSlow } from '../../../server/lab/shape.ts';
import type { Fleet } from '../../../server/web/fleet.ts';
import { cli, freePort, labHosts, newLabDir, ssh } from '../../support/lab.ts';

const PASSWORD = 'scenario-password-1';
const SHOTS = join(import.meta.dirname, 'screenshots');
const HOSTS = 4;
const WAIT = { timeout: 90_000 };

/** Polls from the test (the page's CSP forbids the eval that page.waitForFunction would need). */
async function until(cond: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('console scenario on a real lab', { timeout: 900_000 }, () => {
  const dir = newLabDir();
  const inventory = join(dir, 'inventory.ini');
  const configFile = join(dir, 'fleetpatch.json');
  let db: Db;
  let base: string;
  let close: () => Promise<void>;
  let browser: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  const version = (name: string) => ssh(dir, labHosts(dir).find((h) => h.name === name)!, "dpkg-query -W -f='${Version}' fp-demo").trim();
  const stateOf = (host: string) => page.locator('#run-hosts tr', { hasText: host }).locator('td.state').first();
  const shot = async (name: string) => {
    const file = join(SHOTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    assert.ok(statSync(file).size > 5_000, `${file} holds a rendered page`);
  };
  const login = async (name: string) => {
    await page.goto(`${base}/login`);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/hosts`);
  };
  const logout = async () => {
    await page.click('header button:has-text("Log out")');
    await page.waitForURL(`${base}/login`);
  };
  /** New run page → preview → strategy → start; returns the run page's path. */
  const startRun = async (opts: { pattern: string; kind: 'apply' | 'rollback'; waves: string; expectCounts: RegExp; screenshot?: string }) => {
    await page.goto(`${base}/runs/new?bundle=pkg-good`);
    await page.fill('#pattern', opts.pattern);
    await page.selectOption('select[name=kind]', opts.kind);
    await page.click('#plan-form button[type=submit]');
    await page.locator('#plan-counts').waitFor(WAIT);
    assert.match(await page.locator('#plan-counts').innerText(), opts.expectCounts);
    assert.equal(new URL(page.url()).pathname, '/runs/new', 'the preview came in place');
    await page.fill('#start-form input[name=waves]', opts.waves);
    await page.fill('#start-form input[name=forks]', String(HOSTS));
    if (opts.screenshot) await shot(opts.screenshot);
    await page.click('#start-form button[type=submit]');
    await page.waitForURL(/\/runs\/\d+$/, WAIT);
    return new URL(page.url()).pathname;
  };

  before(async () => {
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    const port = await freePort();
    await labUp(dir, HOSTS, port);
    const facts = await cli(['facts', '-i', inventory, '--config', configFile]);
    assert.equal(facts.code, 0, facts.err);
    const config = loadConfig({ flags: { config: configFile } });
    db = openDatabase(config.database);
    await addUser(db, 'ops', 'operator', PASSWORD);
    await addUser(db, 'vic', 'viewer', PASSWORD);
    await addUser(db, 'boss', 'admin', PASSWORD);
    const fleet: Fleet = { inventories: [inventory], bundlesDir: join(dir, 'bundles'), config, loadOptions: { ansibleCfg: null } };
    const web = await startConsole(db, `127.0.0.1:${await freePort()}`, fleet);
    base = web.url.replace(/\/$/, '');
    close = web.close;
    browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('dialog', () => assert.fail('a dialog opened: a script ran'));
  });

  after(async () => {
    await browser?.close();
    await close?.();
    db?.$client.close();
    await labDown(dir, true);
  });

  it('an operator filters hosts, previews a plan, and watches a run: fast hosts turn applied while the slowed one still runs, without a reload', async () => {
    await login('ops');
    const web = (await cli(['inventory', '-i', inventory, '--list-hosts', 'web', '--config', configFile])).out.split('\n').map((l) => l.trim()).filter(Boolean);
    await page.fill('input[name=pattern]', 'web');
    await until(async () => (await page.locator('#hosts-body tr').count()) === web.length);
    const shown = await page.locator('#hosts-body tr td:first-child').allInnerTexts();
    assert.deepEqual(shown.map((t) => t.trim()).sort(), [...web].sort());
    await shot('hosts-filtered');

    await page.goto(`${base}/bundles`);
    const bundleRow = await page.locator('#bundle-pkg-good').innerText();
    for (const text of ['critical', 'CVE-2026-99001', 'trusted (key', 'Emergency patch']) assert.ok(bundleRow.includes(text), `${text} in ${bundleRow}`);
    await shot('bundles');

    await labSlow(dir, 'lab-02', '16kbit');
    const runPath = await startRun({ pattern: 'lab', kind: 'apply', waves: '100%', expectCounts: new RegExp(`^${HOSTS} apply`), screenshot: 'new-run-preview' });
    try {
      for (const h of ['lab-01', 'lab-03', 'lab-04']) await page.locator('#run-hosts tr', { hasText: h }).locator('td.state-applied').waitFor(WAIT);
      // still at work: connecting at plan time (pending; the others did not wait for it) or running
      assert.match(await stateOf('lab-02').innerText(), /^(pending|running)$/, 'the slowed host is still at work');
      assert.equal(new URL(page.url()).pathname, runPath, 'no reload, no navigation');
      await shot('run-live');
    } finally {
      await labSlow(dir, 'lab-02', null);
    }
    await page.locator('#run-hosts tr', { hasText: 'lab-02' }).locator('td.state-applied').waitFor(WAIT);
    await page.locator('#run-state .state-succeeded').waitFor(WAIT);
    for (const h of ['lab-01', 'lab-02', 'lab-03', 'lab-04']) assert.equal(version(h), '1.1', `${h} really has the update`);

    // the slowed host's step log opens in place
    await page.locator('#run-hosts tr', { hasText: 'lab-02' }).locator('button').first().click();
    const log = page.locator('tr.steps').filter({ hasText: 'verify' }).first();
    await log.waitFor(WAIT);
    assert.equal(new URL(page.url()).pathname, runPath);
    await shot('run-step-log');
  });

  it('an operator cancels a second run from its page: hosts not started are skipped, nothing is half-done', async () => {
    await labSlow(dir, 'lab-01', '16kbit');
    try {
      await startRun({ pattern: 'lab', kind: 'rollback', waves: '1', expectCounts: new RegExp(`^${HOSTS} rollback`) });
      await page.locator('#hr-0, #run-hosts td.state-running').first().waitFor(WAIT);
      await page.click('button:has-text("Cancel run")');
      await page.locator('#run-state').filter({ hasText: 'cancel requested' }).waitFor(WAIT);
    } finally {
      await labSlow(dir, 'lab-01', null);
    }
    await page.locator('#run-state .state-cancelled').waitFor(WAIT);
    const states = await page.locator('#run-hosts td.state').allInnerTexts();
    assert.ok(states.includes('skipped'), `some host never started: ${states.join(', ')}`);
    for (const [i, h] of ['lab-01', 'lab-02', 'lab-03', 'lab-04'].entries()) {
      assert.equal(version(h), states[i] === 'rolled-back' ? '1.0' : '1.1', `${h} (${states[i]}) is where its row says`);
    }
    await shot('run-cancelled');

    // the emergency page: affected hosts planned on load, emergency defaults, typed host count
    await page.goto(`${base}/emergency/pkg-good`);
    await page.locator('#confirm').waitFor(WAIT);
    const changing = Number(/(\d+) host\(s\) will be changed/.exec(await page.locator('#plan-counts').innerText())?.[1]);
    assert.ok(changing > 0);
    assert.equal(await page.inputValue('#start-form input[name=waves]'), '1,100%');
    assert.equal(await page.inputValue('#start-form input[name=max-failures]'), '1');
    await shot('emergency');
    await page.fill('#confirm', String(changing + 1));
    await page.click('#start-form button[type=submit]');
    await page.locator('#form-error').filter({ hasText: `type ${changing}` }).waitFor(WAIT);
    await page.goto(`${base}/hosts`);
    await logout();
  });

  it('a viewer sees no start or cancel controls, and the server refuses them anyway', async () => {
    await login('vic');
    assert.equal(await page.locator('a[href="/runs/new"]').count(), 0);
    await page.goto(`${base}/runs/1`);
    assert.equal(await page.locator('button:has-text("Cancel run")').count(), 0);
    // a string, not a function: tsx would wrap a function with helpers the page does not have
    const answers = await page.evaluate(`(async () => {
      const token = JSON.parse(document.body.getAttribute('hx-headers') || '{}')['x-csrf-token'];
      const post = (path, body) => fetch(path, { method: 'POST', headers: { 'x-csrf-token': token, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);
      return [await post('/runs', { bundle: 'pkg-good', pattern: 'all' }), await post('/api/runs', { bundle: 'pkg-good', pattern: 'all' }), await post('/runs/1/cancel', {}), await post('/runs/preview', { bundle: 'pkg-good', pattern: 'all' })];
    })()`);
    assert.deepEqual(answers, [403, 403, 403, 403]);
    const newRun = await page.goto(`${base}/runs/new`);
    assert.equal(newRun?.status(), 403);
    await page.goto(`${base}/hosts`);
    await logout();
  });

  it('an admin sees the audit: logins, who started which run on what target with which bundle, the cancel', async () => {
    await login('boss');
    await page.goto(`${base}/audit`);
    const rows = await page.locator('#audit tbody tr').allInnerTexts();
    const starts = rows.filter((r) => /\bops\b\s+run-start/.test(r));
    assert.equal(starts.length, 2);
    assert.match(starts.join('\n'), /"bundle":"fp-demo-pkg"[^]*"pattern":"lab"/);
    assert.ok(rows.some((r) => /\bops\b\s+run-cancel/.test(r)));
    assert.ok(rows.some((r) => /\bvic\b\s+login/.test(r)));
    await shot('audit');
    assert.deepEqual(consoleErrors.filter((e) => !/status of 40[03]/.test(e)), [], 'no CSP violation or script error (refusals the test provoked aside)');
  });
});
