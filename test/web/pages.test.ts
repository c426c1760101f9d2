import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { insertStep, updateHostResult, updateRun } from '../../server/db/runs.ts';
import { browser, login, webFixture, XSS } from './fixture.ts';

describe('pages', () => {
  it('the hosts page lists names, kernel, livepatches, drift and facts age', async () => {
    const { app } = await webFixture();
    const { cookie } = await login(app, 'viewer');
    const html = await (await app.request('/hosts', { headers: browser({ cookie }) })).text();
    assert.match(html, /6\.1\.0-40-amd64/);
    assert.match(html, /web01&lt;script&gt;/);
    assert.match(html, /ago</);
  });

  it('the run page shows one row per host with its state, live from the run\'s event stream', async () => {
    const { app, hostA, hostB } = await webFixture();
    const { cookie } = await login(app, 'viewer');
    const html = await (await app.request('/runs/1', { headers: browser({ cookie }) })).text();
    assert.match(html, new RegExp(`id="hr-${hostA.id}" class="host" role="row" data-swap="host-${hostA.id}"`));
    assert.match(html, new RegExp(`id="hr-${hostB.id}"`));
    assert.match(html, /data-events="\/runs\/1\/events\?after=0"/);
  });

  it('a finished run has no live stream and no cancel button', async () => {
    const { app, db, run } = await webFixture();
    updateRun(db, run.id, { state: 'succeeded', finishedAt: new Date() });
    const { cookie } = await login(app, 'admin');
    const html = await (await app.request('/runs/1', { headers: browser({ cookie }) })).text();
    assert.doesNotMatch(html, /data-events|live-status|Cancel run/);
  });

  it('an unknown run is 404', async () => {
    const { app } = await webFixture();
    const { cookie } = await login(app, 'viewer');
    assert.equal((await app.request('/runs/999', { headers: browser({ cookie }) })).status, 404);
    assert.equal((await app.request('/api/runs/999', { headers: browser({ cookie }) })).status, 404);
  });
});

describe('step log', () => {
  it('a host\'s steps load on demand, output escaped; a host of another run is 404', async () => {
    const { app, db, hostA } = await webFixture();
    insertStep(db, { hostResultId: hostA.id, name: 'check', status: 'failed', detail: `exit 1 ${XSS}`, output: `out ${XSS}`, startedAt: new Date(), finishedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const res = await app.request(`/runs/1/hosts/${hostA.id}/steps`, { headers: browser({ cookie }) });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<td>check<\/td>/);
    assert.ok(!html.includes(XSS) && html.includes('out &lt;script&gt;'));
    assert.equal((await app.request(`/runs/2/hosts/${hostA.id}/steps`, { headers: browser({ cookie }) })).status, 404);
  });
});

describe('run page rows', () => {
  it('each row shows its host\'s newest step and its duration, on the page and in the live stream', async () => {
    const { app, db, hostA, hostB, event } = await webFixture();
    const t = Date.parse('2026-11-27T10:00:00Z');
    insertStep(db, { hostResultId: hostA.id, name: 'facts', status: 'ok', detail: null, output: null, startedAt: new Date(t), finishedAt: new Date(t + 1000) });
    insertStep(db, { hostResultId: hostA.id, name: 'apply', status: 'running', detail: null, output: null, startedAt: new Date(t + 1000), finishedAt: null });
    // a step of another host is not hostA's newest, though written after it
    insertStep(db, { hostResultId: hostB.id, name: 'connect', status: 'failed', detail: null, output: null, startedAt: new Date(t + 2000), finishedAt: new Date(t + 2000) });
    updateHostResult(db, hostA.id, { state: 'running', startedAt: new Date(t), finishedAt: new Date(t + 125_000) });
    const { cookie } = await login(app, 'viewer');
    const page = await (await app.request('/runs/1', { headers: browser({ cookie }) })).text();
    const rowOf = (html: string, id: number) => new RegExp(`<tr id="hr-${id}"[^>]*>(.*?)</tr>`, 's').exec(html)?.[1] ?? '';
    assert.match(rowOf(page, hostA.id), /<td role="cell" class="state state-running">running<\/td><td role="cell">apply running<\/td><td role="cell">2 min<\/td>/);
    assert.match(rowOf(page, hostB.id), /<td role="cell" class="state state-pending">pending<\/td><td role="cell">connect failed<\/td><td role="cell"><\/td>/);
    event(hostA.id);
    updateRun(db, 1, { state: 'failed', finishedAt: new Date() });
    const stream = await (await app.request('/runs/1/events', { headers: browser({ cookie }) })).text();
    assert.match(stream, new RegExp(`event: host-${hostA.id}\ndata: .*<td role="cell">apply running</td><td role="cell">2 min</td>`));
  });
});

describe('XSS', () => {
  it('a host name, hostname, reason, bundle title, pattern or failed-login name containing <script> is escaped on every page', async () => {
    const { app, db, hostA } = await webFixture();
    await app.request('/login', { method: 'POST', headers: browser(), body: new URLSearchParams({ name: XSS, password: 'whatever-wrong' }) });
    updateHostResult(db, hostA.id, { state: 'failed', reason: `reason ${XSS}` });
    const { cookie } = await login(app, 'admin');
    for (const path of ['/hosts', '/hosts/1', `/hosts?pattern=${encodeURIComponent(`web01${XSS}`)}`, `/hosts/rows?pattern=${encodeURIComponent(`none${XSS}`)}`, '/runs', '/runs/1', '/audit']) {
      const html = await (await app.request(path, { headers: browser({ cookie }) })).text();
      assert.ok(!html.includes(XSS), `${path} contains a raw <script>`);
      assert.ok(html.includes('&lt;script&gt;'), `${path} shows the escaped text`);
    }
  });
});

describe('JSON API', () => {
  it('GET /api/hosts, /api/runs and /api/runs/:id mirror the pages', async () => {
    const { app, hostA } = await webFixture();
    const { cookie } = await login(app, 'viewer');
    const hosts = (await (await app.request('/api/hosts', { headers: browser({ cookie }) })).json()) as { names: string[]; kernel: string; drift: unknown[] }[];
    assert.deepEqual(hosts.map((h) => [h.names, h.kernel, h.drift]), [[[`web01${XSS}`], '6.1.0-40-amd64', []]]);
    const runs = (await (await app.request('/api/runs', { headers: browser({ cookie }) })).json()) as { id: number; state: string }[];
    assert.deepEqual(runs.map((r) => [r.id, r.state]), [[1, 'running']]);
    const run = (await (await app.request('/api/runs/1', { headers: browser({ cookie }) })).json()) as { run: { id: number }; hosts: { id: number; state: string }[] };
    assert.equal(run.run.id, 1);
    assert.deepEqual(run.hosts.map((h) => h.id), [hostA.id, hostA.id + 1]);
  });

  it('never returns password hashes, session ids or CSRF tokens', async () => {
    const { app } = await webFixture();
    const { cookie, csrf } = await login(app, 'admin');
    for (const path of ['/api/hosts', '/api/runs', '/api/runs/1']) {
      const text = await (await app.request(path, { headers: browser({ cookie }) })).text();
      assert.doesNotMatch(text, /scrypt\$|password/i, path);
      assert.ok(!text.includes(csrf) && !text.includes(cookie.split('=')[1]!), path);
    }
  });
});
