/** Starting runs from the console without a lab: a bundle library of signed, unsigned and
 * tampered bundles, an inventory of hosts that refuse connections (closed loopback ports). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../server/config.ts';
import { getRun, runHostResults } from '../../server/db/runs.ts';
import { listAudit } from '../../server/db/users.ts';
import { writeLabBundle } from '../../server/lab/example-bundles.ts';
import type { Fleet } from '../../server/web/fleet.ts';
import { RunManager } from '../../server/web/launch.ts';
import { freePort } from '../support/lab.ts';
import { browser, form, login, webFixture, XSS } from './fixture.ts';

async function library(): Promise<{ fleet: Fleet; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-web-lib-'));
  const deb = join(dir, 'x.deb');
  writeFileSync(deb, 'not really a deb, but hashed like one');
  const debs = [{ name: 'fp-x', version: '1.1', arch: 'all', file: 'debs/fp-x_1.1_all.deb' }];
  const manifest = (id: string, severity: string, title: string) => ({ id, serial: 1, kind: 'packages', title, severity, cves: ['CVE-2026-99002'], packages: { debs } });
  await writeLabBundle(dir, 'crit', manifest('crit-fix', 'critical', `Critical ${XSS}`), { 'debs/fp-x_1.1_all.deb': deb });
  await writeLabBundle(dir, 'high', manifest('high-fix', 'high', 'High'), { 'debs/fp-x_1.1_all.deb': deb });
  cpSync(join(dir, 'bundles/high'), join(dir, 'bundles/unsigned'), { recursive: true });
  rmSync(join(dir, 'bundles/unsigned/bundle.sig'));
  cpSync(join(dir, 'bundles/high'), join(dir, 'bundles/tampered'), { recursive: true });
  writeFileSync(join(dir, 'bundles/tampered/debs/fp-x_1.1_all.deb'), 'not really a deb, but hashed like 0ne'); // same size, other bytes
  const [p1, p2] = [await freePort(), await freePort()];
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  writeFileSync(join(dir, 'inventory.ini'), `[all:vars]\nansible_ssh_private_key_file=${join(dir, 'id_ed25519')}\n[web]\nweb-a ansible_host=127.0.0.1 ansible_port=${p1}\nweb-b ansible_host=127.0.0.1 ansible_port=${p2}\n[db]\ndb-a ansible_host=127.0.0.1 ansible_port=${p2}\n`);
  writeFileSync(join(dir, 'known_hosts'), '');
  const config = { ...defaultConfig(dir), knownHostsFiles: [join(dir, 'known_hosts')], trustedKeysDir: join(dir, 'trusted-keys'), sshConfigFile: null, connectTimeoutMs: 3000 };
  return { dir, fleet: { inventories: [join(dir, 'inventory.ini')], bundlesDir: join(dir, 'bundles'), config, loadOptions: { ansibleCfg: null } } };
}

async function setup() {
  const { fleet, dir } = await library();
  let runs: RunManager | undefined;
  const f = await webFixture((db) => ({ fleet, runs: (runs = new RunManager(db, fleet)) }));
  return { ...f, dir, fleet, runs: runs! };
}

describe('bundles page', () => {
  it('lists kind, CVEs, severity, serial and signature; refused bundles say why; titles are inert', async () => {
    const { app } = await setup();
    const { cookie } = await login(app, 'viewer');
    const html = await (await app.request('/bundles', { headers: browser({ cookie }) })).text();
    assert.match(html, /id="bundle-crit"[^]*critical[^]*CVE-2026-99002[^]*trusted \(key [0-9a-f]{16}\)/);
    assert.match(html, /id="bundle-crit"[^]*1 OS matches<span class="hint"> \(package versions are checked by the plan\)/, "one known host (fixture facts: debian 12) and no OS restriction");
    assert.match(html, /Critical &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /id="bundle-unsigned"[^]*unsigned: refused/);
    assert.match(html, /id="bundle-tampered"[^]*refused: [^<]*sha256/, 'the payload check names the hash');
    assert.doesNotMatch(html, /New run/, 'a viewer gets no start links');
    const api = (await (await app.request('/api/bundles', { headers: browser({ cookie }) })).json()) as { name: string; refusal: unknown }[];
    assert.deepEqual(
      api.map((b) => [b.name, b.refusal === null]),
      [
        ['crit', true],
        ['high', true],
        ['tampered', false],
        ['unsigned', false],
      ],
    );
  });

  it('an operator gets New run links, and Emergency patch only for the critical bundle', async () => {
    const { app } = await setup();
    const { cookie } = await login(app, 'operator');
    const html = await (await app.request('/bundles', { headers: browser({ cookie }) })).text();
    assert.match(html, /href="\/runs\/new\?bundle=crit"/);
    assert.match(html, /href="\/emergency\/crit"/);
    assert.doesNotMatch(html, /href="\/emergency\/high"/);
    assert.doesNotMatch(html, /href="\/runs\/new\?bundle=unsigned"/);
  });
});

describe('plan preview', () => {
  it('plans the pattern on the hosts now: unreachable hosts are called out, nothing to start', async () => {
    const { app } = await setup();
    const { cookie, csrf } = await login(app, 'operator');
    const res = await app.request('/runs/preview', { method: 'POST', headers: browser({ cookie, 'hx-request': 'true' }), body: form({ _csrf: csrf, bundle: 'crit', pattern: 'web', kind: 'apply' }) });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /id="plan-counts">2 unreachable/);
    assert.match(html, /id="unreachable"[^]*web-a[^]*web-b/);
    assert.doesNotMatch(html, /db-a/);
    assert.match(html, /id="nothing-to-do"/);
    assert.doesNotMatch(html, /id="start-form"/);
  });

  it('refuses clearly: unknown bundle, unsigned or tampered bundle, a pattern matching nothing, a missing field', async () => {
    const { app } = await setup();
    const { cookie, csrf } = await login(app, 'operator');
    const preview = async (values: Record<string, string>) => {
      const res = await app.request('/api/plan', { method: 'POST', headers: { ...browser({ cookie, 'x-csrf-token': csrf }), 'content-type': 'application/json' }, body: JSON.stringify(values) });
      return { status: res.status, body: (await res.json()) as { code: string; message: string } };
    };
    assert.match((await preview({ bundle: '../etc', pattern: 'all' })).body.message, /no bundle "..\/etc" in the library/);
    assert.equal((await preview({ bundle: 'unsigned', pattern: 'all' })).body.code, 'bundle');
    assert.match((await preview({ bundle: 'tampered', pattern: 'all' })).body.message, /sha256/);
    const none = await preview({ bundle: 'crit', pattern: 'nosuchgroup' });
    assert.equal(none.status, 400);
    assert.equal(none.body.code, 'pattern');
    assert.match((await preview({ bundle: 'crit' })).body.message, /field pattern/);
    assert.match((await preview({ bundle: 'crit', pattern: '~(a+)+$' })).body.message, /~regex terms are not allowed/);
    assert.match((await preview({ bundle: 'crit', pattern: '@/etc/passwd' })).body.message, /@file terms are not allowed/);
    assert.match((await preview({ bundle: 'crit', pattern: '*a*a*a*a*a*b' })).body.message, /at most 2 \*/);
    assert.match((await preview({ bundle: 'crit', pattern: 'all', kind: 'sideways' })).body.message, /field kind/);
  });

  it('an htmx preview error is a 200 fragment naming the problem (htmx swaps only 2xx)', async () => {
    const { app } = await setup();
    const { cookie, csrf } = await login(app, 'operator');
    const res = await app.request('/runs/preview', { method: 'POST', headers: browser({ cookie, 'hx-request': 'true' }), body: form({ _csrf: csrf, bundle: 'crit', pattern: `[${XSS}` }) });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /id="form-error"/);
    assert.doesNotMatch(html, /<script>alert/);
  });
});

describe('starting a run', () => {
  it('starts the exact bundle previewed, owned by the server; recorded with who, target, bundle; audited', async () => {
    const { app, db, runs, fleet } = await setup();
    const { cookie, csrf } = await login(app, 'operator');
    const plan = (await (await app.request('/api/plan', { method: 'POST', headers: { ...browser({ cookie, 'x-csrf-token': csrf }), 'content-type': 'application/json' }, body: JSON.stringify({ bundle: 'high', pattern: 'db' }) })).json()) as { sha256: string };
    const res = await app.request('/runs', { method: 'POST', headers: browser({ cookie }), body: form({ _csrf: csrf, bundle: 'high', sha256: plan.sha256, pattern: 'db', kind: 'apply', waves: '1,100%', forks: '3', 'max-failures': '0' }) });
    assert.equal(res.status, 303);
    const id = Number(/^\/runs\/(\d+)$/.exec(res.headers.get('location') ?? '')?.[1]);
    assert.ok(id > 1);
    await runs.close();
    const run = getRun(db, id)!;
    assert.equal(run.startedBy, 'operator (web)');
    assert.equal(run.bundleId, 'high-fix');
    assert.deepEqual((run.target as { pattern: string }).pattern, 'db');
    assert.deepEqual((run.strategy as { waves: string; forks: number; maxFailures: number }).waves, '1,100%');
    assert.equal((run.strategy as { forks: number }).forks, 3);
    assert.deepEqual(
      runHostResults(db, id).map((h) => [h.inventoryName, h.state]),
      [['db-a', 'unreachable']],
    );
    const audit = listAudit(db).find((a) => a.what === 'run-start');
    assert.equal(audit?.who, 'operator');
    assert.deepEqual({ ...(audit?.detail as object), inventoryCommit: undefined, inventoryDirty: undefined }, {
      run: id,
      kind: 'apply',
      bundle: 'high-fix',
      serial: 1,
      sha256: plan.sha256,
      signedBy: run.bundleKeyId,
      pattern: 'db',
      inventories: fleet.inventories,
      inventoryCommit: undefined,
      inventoryDirty: undefined,
      hosts: 1,
      check: false,
    });
  });

  it('refuses a bundle changed since its preview, bad strategy fields, and a wrong typed count; nothing starts', async () => {
    const { app, db } = await setup();
    const { cookie, csrf } = await login(app, 'operator');
    const before = listAudit(db).filter((a) => a.what === 'run-start').length;
    const post = async (values: Record<string, string>) => {
      const res = await app.request('/runs', { method: 'POST', headers: browser({ cookie }), body: form({ _csrf: csrf, bundle: 'high', pattern: 'db', kind: 'apply', ...values }) });
      return { status: res.status, html: await res.text() };
    };
    assert.match((await post({ sha256: 'a'.repeat(64) })).html, /changed since its plan was shown/);
    const plan = (await (await app.request('/api/plan', { method: 'POST', headers: { ...browser({ cookie, 'x-csrf-token': csrf }), 'content-type': 'application/json' }, body: JSON.stringify({ bundle: 'high', pattern: 'db' }) })).json()) as { sha256: string };
    const waves = await post({ sha256: plan.sha256, waves: '0,50%' });
    assert.equal(waves.status, 400);
    assert.match(waves.html, /field waves/);
    assert.match((await post({ sha256: plan.sha256, forks: '-1' })).html, /field forks/);
    assert.match((await post({ sha256: plan.sha256, 'max-fail-percentage': '101' })).html, /field max-fail-percentage/);
    assert.match((await post({ sha256: plan.sha256, expect: '3', confirm: '2' })).html, /field confirm: type 3/);
    assert.equal(listAudit(db).filter((a) => a.what === 'run-start').length, before, 'no run started');
  });

  it('the emergency page exists only for critical, trusted bundles and asks for the host count', async () => {
    const { app } = await setup();
    const { cookie, csrf } = await login(app, 'operator');
    const page = await app.request('/emergency/crit', { headers: browser({ cookie }) });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /hx-trigger="load"/);
    assert.equal((await app.request('/emergency/high', { headers: browser({ cookie }) })).status, 400);
    assert.equal((await app.request('/emergency/unsigned', { headers: browser({ cookie }) })).status, 400);
    assert.equal((await app.request('/emergency/nope', { headers: browser({ cookie }) })).status, 404);
    const fragment = await (await app.request('/runs/preview', { method: 'POST', headers: browser({ cookie, 'hx-request': 'true' }), body: form({ _csrf: csrf, bundle: 'crit', pattern: 'all', emergency: '1' }) })).text();
    assert.match(fragment, /3 unreachable/);
  });
});

describe('roles and CSRF on the new routes', () => {
  it('a viewer can neither open New run nor preview nor start (403), and sees no New run link', async () => {
    const { app } = await setup();
    const { cookie, csrf } = await login(app, 'viewer');
    assert.equal((await app.request('/runs/new', { headers: browser({ cookie }) })).status, 403);
    assert.equal((await app.request('/emergency/crit', { headers: browser({ cookie }) })).status, 403);
    for (const path of ['/runs/preview', '/runs', '/api/plan', '/api/runs']) {
      assert.equal((await app.request(path, { method: 'POST', headers: browser({ cookie }), body: form({ _csrf: csrf, bundle: 'crit', pattern: 'all' }) })).status, 403, path);
    }
    assert.doesNotMatch(await (await app.request('/hosts', { headers: browser({ cookie }) })).text(), /href="\/runs\/new"/);
  });

  it('an operator without the CSRF token, or cross-site, is refused', async () => {
    const { app } = await setup();
    const { cookie, csrf } = await login(app, 'operator');
    for (const path of ['/runs/preview', '/runs', '/api/plan', '/api/runs']) {
      assert.equal((await app.request(path, { method: 'POST', headers: browser({ cookie }), body: form({ bundle: 'crit', pattern: 'all' }) })).status, 403, `${path} without token`);
      assert.equal((await app.request(path, { method: 'POST', headers: browser({ cookie, origin: 'http://evil.example' }), body: form({ _csrf: csrf, bundle: 'crit', pattern: 'all' }) })).status, 403, `${path} cross-site`);
    }
  });
});
