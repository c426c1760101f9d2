import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '../../server/db/index.ts';
import { insertHostResult, insertRun, insertStep, updateHostResult } from '../../server/db/runs.ts';
import { runProgress } from '../../server/web/data.ts';
import { browser, login, webFixture } from './fixture.ts';

/** A running run with a stored strategy: wave 1 = a (applied), b (failed); wave 2 = c (applied),
 * d (running); e unreachable at plan time (no wave). */
function wavedRun(db: Db, strategy: Record<string, unknown>) {
  const run = insertRun(db, {
    kind: 'apply',
    state: 'running',
    bundleId: 'cve-9',
    bundleSerial: 2,
    bundleSha256: 'd'.repeat(64),
    bundleTitle: 'waves',
    target: { inventories: ['inv'], pattern: 'all' },
    inventoryHash: 'x',
    strategy: { forks: 2, waves: '2,100%', onFailure: 'rollback-host', check: false, ...strategy },
    startedBy: 'cli:root',
    createdAt: new Date(),
  });
  const host = (name: string, wave: number | null, state: string) => insertHostResult(db, { runId: run.id, inventoryName: name, state, wave });
  const hosts = { a: host('a', 1, 'applied'), b: host('b', 1, 'failed'), c: host('c', 2, 'applied'), d: host('d', 2, 'running'), e: host('e', null, 'unreachable') };
  return { run, hosts };
}

const text = (html: string) => html.replace(/<[^>]+>/g, '');

describe('run page: wave progress and failure budget', () => {
  it('shows hosts, finished and failed per wave and the budget used against the stored strategy', async () => {
    const { app, db } = await webFixture();
    const { run } = wavedRun(db, { maxFailPercentage: 25, maxFailures: null });
    const { cookie } = await login(app, 'viewer');
    const html = await (await app.request(`/runs/${run.id}`, { headers: browser({ cookie }) })).text();
    assert.match(html, /<section id="run-progress" data-swap="progress">/);
    assert.match(html, /<tr id="wave-1"><td>1<\/td><td>2<\/td><td>2 of 2<\/td><td class="bad">1<\/td><\/tr>/);
    assert.match(html, /<tr id="wave-2"><td>2<\/td><td>2<\/td><td>1 of 2<\/td><td>0<\/td><\/tr>/);
    assert.match(html, /1 host not placed in a wave/);
    // 1 of 4 placed is 25%: not strictly more than 25%, so one failure is allowed
    const budget = /<p id="budget"[^>]*>(.*?)<\/p>/s.exec(html)?.[1] ?? '';
    assert.equal(text(budget), 'Failure budget: 1 failed of 1 allowed (--max-fail-percentage 25 of 4 hosts placed in waves; the run halts when more fail)');
    assert.match(html, /<p id="budget">/);
  });

  it('marks an exceeded budget, takes the smaller of both limits, and says when there is none', async () => {
    const { app, db } = await webFixture();
    const { run, hosts } = wavedRun(db, { maxFailPercentage: 50, maxFailures: 0 });
    const { run: none } = wavedRun(db, {});
    updateHostResult(db, hosts.d.id, { state: 'rolled-back' });
    const { cookie } = await login(app, 'viewer');
    const html = await (await app.request(`/runs/${run.id}`, { headers: browser({ cookie }) })).text();
    assert.match(html, /<p id="budget" class="bad">/);
    assert.equal(text(/<p id="budget"[^>]*>(.*?)<\/p>/s.exec(html)?.[1] ?? ''), 'Failure budget: 2 failed of 0 allowed (--max-failures 0, --max-fail-percentage 50 of 4 hosts placed in waves; the run halts when more fail) — exceeded');
    assert.match(html, /<tr id="wave-2"><td>2<\/td><td>2<\/td><td>2 of 2<\/td><td class="bad">1<\/td><\/tr>/);
    const plain = await (await app.request(`/runs/${none.id}`, { headers: browser({ cookie }) })).text();
    assert.match(text(plain), /Failure budget: no budget \(1 failed of 4 placed in waves\)/);
    const api = (await (await app.request(`/api/runs/${run.id}`, { headers: browser({ cookie }) })).json()) as { progress: { budget: { failed: number; placed: number; allowed: number; exceeded: boolean } } };
    assert.deepEqual(api.progress.budget, { failed: 2, placed: 4, maxFailPercentage: 50, maxFailures: 0, allowed: 0, exceeded: true });
  });

  it('follows FailureBudget: strictly more than the limit halts', () => {
    const rows = (failed: number, total: number) => Array.from({ length: total }, (_, i) => ({ wave: 1, state: i < failed ? 'failed' : 'applied' }));
    assert.equal(runProgress(rows(1, 10), { maxFailPercentage: 10 }).budget.exceeded, false);
    assert.equal(runProgress(rows(2, 10), { maxFailPercentage: 10 }).budget.exceeded, true);
    assert.equal(runProgress(rows(1, 10), { maxFailPercentage: 10 }).budget.allowed, 1);
    assert.equal(runProgress(rows(0, 3), { maxFailPercentage: 50 }).budget.allowed, 1);
    assert.equal(runProgress(rows(2, 3), { maxFailures: 2 }).budget.exceeded, false);
    assert.equal(runProgress(rows(3, 3), { maxFailures: 2 }).budget.exceeded, true);
    assert.deepEqual(runProgress([], { maxFailPercentage: 10 }).budget, { failed: 0, placed: 0, maxFailPercentage: 10, maxFailures: null, allowed: null, exceeded: false });
    // skipped and not-applicable hosts are finished, not failed; unreachable ones in a wave are failed
    const p = runProgress([{ wave: 1, state: 'skipped' }, { wave: 1, state: 'not-applicable' }, { wave: 1, state: 'unreachable' }, { wave: 1, state: 'pending' }], null);
    assert.deepEqual(p.waves, [{ wave: 1, hosts: 4, finished: 3, failed: 1 }]);
  });
});

describe('run page: step log follows live once open', () => {
  it('the row under each host names the log URL that live.js reloads, and that URL serves the log', async () => {
    const { app, db, hostA } = await webFixture();
    insertStep(db, { hostResultId: hostA.id, name: 'connect', status: 'ok', startedAt: new Date(), finishedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const page = await (await app.request('/runs/1', { headers: browser({ cookie }) })).text();
    const url = new RegExp(`<tr id="steps-${hostA.id}" class="steps" role="row" data-log="([^"]+)"></tr>`).exec(page)?.[1];
    assert.equal(url, `/runs/1/hosts/${hostA.id}/steps`, 'a closed log is an empty row that knows its URL');
    assert.doesNotMatch(page, /hx-trigger=/, 'no element listens for events: live.js asks for the reload');
    const log = await (await app.request(url, { headers: browser({ cookie }) })).text();
    assert.match(log, /^<td role="cell" colspan="6"><table class="step-log">/);
    assert.match(log, /<td>connect<\/td><td class="state state-ok">ok<\/td>/);
  });
});

describe('run page: the host table keeps its table semantics', () => {
  it('the grid-displayed rows carry ARIA roles, on the page and in every live row fragment', async () => {
    const { app, db, hostA } = await webFixture();
    const { cookie } = await login(app, 'viewer');
    const page = await (await app.request('/runs/1', { headers: browser({ cookie }) })).text();
    const table = /<table id="run-hosts"[^]*?<\/thead>/.exec(page)?.[0] ?? '';
    assert.match(table, /<table id="run-hosts" role="table"><thead role="rowgroup"><tr role="row">/);
    assert.equal(table.match(/<th role="columnheader">/g)?.length, 6);
    const row = new RegExp(`<tr id="hr-${hostA.id}" class="host" role="row"[^>]*>(.*?)</tr>`, 's').exec(page)?.[1] ?? '';
    assert.equal(row.match(/<td role="cell"/g)?.length, 6, row);
    assert.match(page, new RegExp(`<tr id="steps-${hostA.id}" class="steps" role="row" data-log="[^"]+"></tr>`));
    updateHostResult(db, hostA.id, { state: 'running' });
    insertStep(db, { hostResultId: hostA.id, name: 'connect', status: 'ok', startedAt: new Date(), finishedAt: new Date() });
    const log = await (await app.request(`/runs/1/hosts/${hostA.id}/steps`, { headers: browser({ cookie }) })).text();
    assert.match(log, /^<td role="cell" colspan="6"/);
  });
});
