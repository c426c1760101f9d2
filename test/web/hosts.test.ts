import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../server/config.ts';
import { saveFacts } from '../../server/db/hosts.ts';
import { insertHostResult, insertRun, insertStep, recordPatch, updateHostResult } from '../../server/db/runs.ts';
import type { Db } from '../../server/db/index.ts';
import type { Fleet } from '../../server/web/fleet.ts';
import { globAlternatives, globMatch } from '../../server/web/host-filter.ts';
import { browser, facts, login, webFixture, XSS } from './fixture.ts';

/** A fleet whose inventory is one INI file in a temporary directory. */
function iniFleet(ini: string): Fleet {
  const dir = mkdtempSync(join(tmpdir(), 'fp-web-inv-'));
  const file = join(dir, 'hosts.ini');
  writeFileSync(file, ini);
  return { inventories: [file], bundlesDir: null, config: defaultConfig(dir), loadOptions: { ansibleCfg: null, cwd: dir, env: {} } };
}

const INI = `[web]
web01
web02

[db]
db01

[prod:children]
web
`;

/** Three more hosts besides the fixture's `web01<script>…`: web01, web02, db01 (db01 also known as db01.example). */
function addHosts(db: Db): { web01: number; web02: number; db01: number } {
  const web01 = saveFacts(db, 'web01', '10.0.0.11', facts('1'.repeat(32), 'web01.example'));
  const web02 = saveFacts(db, 'web02', '10.0.0.12', facts('2'.repeat(32), 'web02.example', '6.1.0-41-amd64'));
  const db01 = saveFacts(db, 'db01', '10.0.0.13', facts('3'.repeat(32), 'db01.example'));
  saveFacts(db, 'db01.example', '10.0.0.13', facts('3'.repeat(32), 'db01.example'));
  return { web01, web02, db01 };
}

function rowIds(html: string): number[] {
  return [...html.matchAll(/<tr id="host-(\d+)"/g)].map((m) => Number(m[1]));
}

function run(db: Db, title = 'bundle title', strategy: unknown = { forks: 2 }) {
  return insertRun(db, {
    kind: 'apply',
    state: 'succeeded',
    bundleId: 'cve-2',
    bundleSerial: 3,
    bundleSha256: 'e'.repeat(64),
    bundleTitle: title,
    target: { inventories: ['inv'], pattern: 'all' },
    inventoryHash: 'x',
    strategy,
    startedBy: 'cli:root',
    createdAt: new Date(),
  });
}

describe('hosts filter', () => {
  it('resolves an Ansible group pattern against the server inventory, as you type and without JavaScript', async () => {
    const { app, db } = await webFixture({ fleet: iniFleet(INI) });
    const ids = addHosts(db);
    const { cookie } = await login(app, 'viewer');
    const rows = await app.request('/hosts/rows?pattern=prod', { headers: browser({ cookie, 'hx-request': 'true' }) });
    assert.equal(rows.status, 200);
    const rowsHtml = await rows.text();
    assert.deepEqual(rowIds(rowsHtml), [ids.web01, ids.web02]);
    assert.doesNotMatch(rowsHtml, /<html/);
    assert.equal(rows.headers.get('hx-replace-url'), '/hosts?pattern=prod');
    const page = await (await app.request('/hosts?pattern=db%2Cweb%5B1%5D', { headers: browser({ cookie }) })).text();
    assert.deepEqual(rowIds(page), [ids.web02, ids.db01]);
    assert.match(page, /<input type="search" name="pattern" value="db,web\[1\]"/);
    assert.match(page, /hx-get="\/hosts\/rows" hx-trigger="input changed delay:300ms, search" hx-target="#hosts-body"/);
    assert.match(page, /<form method="get" action="\/hosts"/);
    assert.match(page, /Ansible host pattern/);
    // db01 is one machine under two names: it matches by either
    assert.match(page, /db01, db01\.example/);
    // intersection and exclusion work as in Ansible
    assert.deepEqual(rowIds(await (await app.request('/hosts/rows?pattern=all:!db', { headers: browser({ cookie }) })).text()), [ids.web01, ids.web02]);
    assert.deepEqual(rowIds(await (await app.request('/hosts/rows?pattern=*e*:%26prod', { headers: browser({ cookie }) })).text()), [ids.web01, ids.web02]);
    // an empty pattern shows every host, the fixture's too
    assert.equal(rowIds(await (await app.request('/hosts/rows?pattern=', { headers: browser({ cookie }) })).text()).length, 4);
  });

  it('falls back to shell-style globs on known names when the server has no inventory, and says so', async () => {
    const { app, db } = await webFixture();
    const ids = addHosts(db);
    const { cookie } = await login(app, 'viewer');
    const page = await (await app.request('/hosts?pattern=web0%3F', { headers: browser({ cookie }) })).text();
    assert.deepEqual(rowIds(page), [ids.web01, ids.web02]);
    assert.match(page, /started without an inventory/);
    assert.deepEqual(rowIds(await (await app.request('/hosts/rows?pattern=db*.example,web02', { headers: browser({ cookie }) })).text()), [ids.web02, ids.db01]);
    assert.deepEqual(rowIds(await (await app.request('/hosts/rows?pattern=web01:db01', { headers: browser({ cookie }) })).text()), [ids.web01, ids.db01]);
    // regex characters are literal
    assert.deepEqual(rowIds(await (await app.request('/hosts/rows?pattern=web0.', { headers: browser({ cookie }) })).text()), []);
    assert.deepEqual(globAlternatives('a*b?, c::'), ['a*b?', 'c']);
  });

  it('a bad pattern, or one matching nothing, is an inline message with an empty table, never a 500', async () => {
    const { app, db } = await webFixture({ fleet: iniFleet(INI) });
    addHosts(db);
    const { cookie } = await login(app, 'viewer');
    const cases: [string, RegExp][] = [
      ['nosuchgroup', /matches no host/],
      ['web:!nosuch', /the exclusion !nosuch matches no host or group/],
      ['w[', /matches no host/],
      ['@/etc/passwd', /@file terms are not allowed/],
      ['web:!@/etc/passwd', /the exclusion !@\/etc\/passwd matches no host/],
      ['~(a+)+$', /~regex terms are not allowed/],
      ['&~web', /~regex terms are not allowed/],
      ['*a*a*a*b', /at most 2 \* per term/],
      ['x'.repeat(300), /longer than 256 characters/],
      ['web[7]', /No hosts matched the subscripted pattern/],
    ];
    for (const [pattern, message] of cases) {
      for (const path of ['/hosts', '/hosts/rows']) {
        const res = await app.request(`${path}?pattern=${encodeURIComponent(pattern)}`, { headers: browser({ cookie }) });
        assert.equal(res.status, 200, `${path} ${pattern}`);
        const html = await res.text();
        assert.deepEqual(rowIds(html), [], `${path} ${pattern}`);
        assert.match(html, /<tr class="message"><td colspan="7" class="error" role="alert">/, `${path} ${pattern}`);
        assert.match(html, message, `${path} ${pattern}`);
      }
    }
    // an inventory host without facts: selected, but nothing to show
    const { app: app2 } = await webFixture({ fleet: iniFleet(`${INI}\n[new]\nweb09\n`) });
    const c2 = await login(app2, 'viewer');
    assert.match(await (await app2.request('/hosts/rows?pattern=new', { headers: browser({ cookie: c2.cookie }) })).text(), /selects 1 inventory host, none with facts gathered yet/);
    // without an inventory
    const { app: app3 } = await webFixture();
    const c3 = await login(app3, 'viewer');
    const html = await (await app3.request('/hosts/rows?pattern=zz*', { headers: browser({ cookie: c3.cookie }) })).text();
    assert.match(html, /matches no known host name/);
  });

  it('a broken inventory is a message on the page, not a crash', async () => {
    const { app } = await webFixture({ fleet: iniFleet('[web\nweb01\n') });
    const { cookie } = await login(app, 'viewer');
    const res = await app.request('/hosts?pattern=web', { headers: browser({ cookie }) });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /class="error" role="alert">[^<]*hosts\.ini/);
  });

  it('rows show the patch level, drift, last seen and the newest result of any of the host\'s names', async () => {
    const { app, db } = await webFixture();
    const ids = addHosts(db);
    const r1 = run(db);
    const r2 = run(db);
    insertHostResult(db, { runId: r1.id, inventoryName: 'db01', state: 'applied', wave: 1 });
    const newest = insertHostResult(db, { runId: r2.id, inventoryName: 'db01.example', state: 'failed', wave: 1 });
    recordPatch(db, { hostId: ids.db01, bundleId: 'cve-2', serial: 3, patch: 'lp_cve_2', runId: r1.id, appliedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const html = await (await app.request('/hosts/rows?pattern=db01', { headers: browser({ cookie }) })).text();
    assert.match(html, /<a href="\/hosts\/\d+">db01, db01\.example<\/a>/);
    assert.match(html, /bundles: cve-2 serial 3/);
    // recorded but not loaded: drift
    assert.match(html, /<td class="bad">lp_cve_2 \(cve-2 serial 3\)<\/td>/);
    assert.match(html, new RegExp(`<a href="/runs/${r2.id}">#${r2.id}</a> <span class="state state-failed">failed</span>`));
    assert.match(html, /ago<\/td>/);
    const api = (await (await app.request('/api/hosts?pattern=db01', { headers: browser({ cookie }) })).json()) as { id: number; lastResult: { hostResultId: number } | null; patches: { bundleId: string }[] }[];
    assert.deepEqual(api.map((h) => [h.id, h.lastResult?.hostResultId, h.patches.map((p) => p.bundleId)]), [[ids.db01, newest.id, ['cve-2']]]);
  });

  it('GET /api/hosts?pattern= mirrors the filter; a bad pattern is 400 {code, message}', async () => {
    const { app, db } = await webFixture({ fleet: iniFleet(INI) });
    const ids = addHosts(db);
    const { cookie } = await login(app, 'viewer');
    const ok = await app.request('/api/hosts?pattern=web', { headers: browser({ cookie }) });
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { id: number }[]).map((h) => h.id), [ids.web01, ids.web02]);
    assert.equal(((await (await app.request('/api/hosts', { headers: browser({ cookie }) })).json()) as unknown[]).length, 4);
    for (const pattern of ['~(', 'nosuch', '*a*a*a*']) {
      const bad = await app.request(`/api/hosts?pattern=${encodeURIComponent(pattern)}`, { headers: browser({ cookie }) });
      assert.equal(bad.status, 400);
      const body = (await bad.json()) as { code: string; message: string };
      assert.equal(body.code, 'pattern');
      assert.match(body.message, /pattern/);
    }
  });

  it('<script> in host names, hostnames and patterns is inert in the filter rows', async () => {
    const { app, db } = await webFixture();
    saveFacts(db, `db${XSS}`, '10.0.0.9', facts('9'.repeat(32), `x${XSS}`));
    const { cookie } = await login(app, 'viewer');
    for (const path of ['/hosts/rows?pattern=*script*', `/hosts?pattern=${encodeURIComponent(`*${XSS}*`)}`, `/hosts/rows?pattern=${encodeURIComponent(`nomatch${XSS}`)}`]) {
      const html = await (await app.request(path, { headers: browser({ cookie }) })).text();
      assert.ok(!html.includes(XSS), `${path} contains a raw <script>`);
      assert.ok(html.includes('&lt;script&gt;'), `${path} shows the escaped text`);
    }
  });
});

describe('glob matching without an inventory', () => {
  it('matches whole names with * and ?, everything else literal', () => {
    const cases: [string, string, boolean][] = [
      ['web*', 'web01', true],
      ['web*', 'xweb01', false],
      ['w?b0?', 'web01', true],
      ['w?b0?', 'web1', false],
      ['*', '', true],
      ['*.example', 'db01.example', true],
      ['db01.example', 'db01xexample', false],
      ['*a*b', 'aXaXb', true],
      ['*a*b', 'aXaXbX', false],
      ['[ab]', 'a', false],
      ['[ab]', '[ab]', true],
      ['web**01', 'web01', true],
    ];
    for (const [glob, name, want] of cases) assert.equal(globMatch(glob, name), want, `${glob} ~ ${name}`);
  });

  it('takes linear steps on a pattern built to backtrack', () => {
    const started = Date.now();
    assert.equal(globMatch(`${'*a'.repeat(400)}*b`, 'a'.repeat(255)), false);
    assert.ok(Date.now() - started < 1000);
  });
});

describe('host page', () => {
  it('shows the facts, livepatches, recorded patches and every result for its names, newest first', async () => {
    const { app, db } = await webFixture();
    const ids = addHosts(db);
    const f = facts('3'.repeat(32), 'db01.example');
    f.livepatches = [{ name: 'lp_cve_2', enabled: 1, transition: 0, objects: [] }];
    f.lockdown = '[integrity] confidentiality';
    f.sig_enforce = 'Y';
    saveFacts(db, 'db01', '10.0.0.13', f);
    const r1 = run(db, 'first');
    const r2 = run(db, 'second');
    const r3 = run(db, 'third');
    const a = insertHostResult(db, { runId: r1.id, inventoryName: 'db01', state: 'applied', wave: 1 });
    const other = insertHostResult(db, { runId: r1.id, inventoryName: 'web01', state: 'applied', wave: 1 });
    const b = insertHostResult(db, { runId: r2.id, inventoryName: 'db01.example', state: 'failed', wave: 2, reason: 'check failed' });
    const c = insertHostResult(db, { runId: r3.id, inventoryName: 'db01', state: 'running', wave: 1 });
    updateHostResult(db, a.id, { startedAt: new Date(1_700_000_000_000), finishedAt: new Date(1_700_000_060_000) });
    recordPatch(db, { hostId: ids.db01, bundleId: 'cve-2', serial: 3, patch: 'lp_cve_2', runId: r1.id, appliedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const res = await app.request(`/hosts/${ids.db01}`, { headers: browser({ cookie }) });
    assert.equal(res.status, 200);
    const html = await res.text();
    for (const text of ['db01, db01.example', '3'.repeat(32), 'Debian 12', '6.1.0-40-amd64', 'ab12', '[integrity] confidentiality', '<td>lp_cve_2</td><td>yes</td><td>no</td>', 'check failed', '2023-11-14T22:13:20.000Z']) {
      assert.ok(html.includes(text), `missing ${text}`);
    }
    assert.match(html, /<h2>Patches recorded by fleetpatch<\/h2><table id="host-patches">.*<td>cve-2<\/td><td>3<\/td><td>lp_cve_2<\/td>/s);
    const history = [...html.matchAll(/<tr id="hr-(\d+)">/g)].map((m) => Number(m[1]));
    assert.deepEqual(history, [c.id, b.id, a.id]);
    assert.ok(!history.includes(other.id));
    const api = (await (await app.request(`/api/hosts/${ids.db01}`, { headers: browser({ cookie }) })).json()) as { machineId: string; history: { hostResultId: number; kind: string; bundleId: string; serial: number }[] };
    assert.equal(api.machineId, '3'.repeat(32));
    assert.deepEqual(api.history.map((h) => [h.hostResultId, h.kind, h.bundleId, h.serial]), [[c.id, 'apply', 'cve-2', 3], [b.id, 'apply', 'cve-2', 3], [a.id, 'apply', 'cve-2', 3]]);
  });

  it('an unknown host is 404 (page and API); the hosts page links to each host', async () => {
    const { app } = await webFixture();
    const { cookie } = await login(app, 'viewer');
    assert.equal((await app.request('/hosts/999', { headers: browser({ cookie }) })).status, 404);
    const api = await app.request('/api/hosts/999', { headers: browser({ cookie }) });
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { code: string }).code, 'not-found');
    assert.match(await (await app.request('/hosts', { headers: browser({ cookie }) })).text(), /<a href="\/hosts\/1">/);
  });

  it('the new pages carry the CSP and use no inline script, style or event handler', async () => {
    const { app, db, hostA } = await webFixture();
    insertStep(db, { hostResultId: hostA.id, name: 'connect', status: 'ok', startedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    for (const path of ['/hosts?pattern=web*', '/hosts?pattern=%5B', '/hosts/rows?pattern=web*', '/hosts/1', '/runs/1', `/runs/1/hosts/${hostA.id}/steps`]) {
      const res = await app.request(path, { headers: browser({ cookie }) });
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'; style-src 'self'/, path);
      const html = await res.text();
      assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=|<script(?![^>]*\ssrc=)|<style/i, path);
    }
  });

  it('needs a session: redirect for the page, 401 for the API', async () => {
    const { app } = await webFixture();
    const page = await app.request('/hosts/1', { headers: browser() });
    assert.equal(page.status, 302);
    assert.equal((await app.request('/api/hosts/1', { headers: browser() })).status, 401);
    assert.equal((await app.request('/hosts/rows?pattern=x', { headers: browser() })).status, 302);
  });

  it('<script> in host names, facts, reasons and bundle titles is inert on the host page', async () => {
    const { app, db } = await webFixture();
    const f = facts('0'.repeat(32), `h${XSS}`);
    f.os.pretty_name = `Debian ${XSS}`;
    f.lockdown = `[none] ${XSS}`;
    f.livepatches = [{ name: `lp${XSS}`, enabled: 1, transition: 1, objects: [] }];
    saveFacts(db, `web01${XSS}`, '10.0.0.1', f);
    const r = run(db, `title ${XSS}`);
    insertHostResult(db, { runId: r.id, inventoryName: `web01${XSS}`, state: 'failed', wave: 1, reason: `reason ${XSS}` });
    recordPatch(db, { hostId: 1, bundleId: `b${XSS}`, serial: 1, patch: `lp${XSS}`, runId: r.id, appliedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const html = await (await app.request('/hosts/1', { headers: browser({ cookie }) })).text();
    assert.ok(!html.includes(XSS), 'the host page contains a raw <script>');
    for (const text of ['web01&lt;script&gt;', 'h&lt;script&gt;', 'Debian &lt;script&gt;', 'reason &lt;script&gt;', 'title &lt;script&gt;', 'b&lt;script&gt;', '[none] &lt;script&gt;']) assert.ok(html.includes(text), `missing ${text}`);
    const rows = await (await app.request('/hosts/rows', { headers: browser({ cookie }) })).text();
    assert.ok(!rows.includes(XSS) && rows.includes('lp&lt;script&gt;'), 'the filter rows escape livepatch and bundle names');
  });
});
