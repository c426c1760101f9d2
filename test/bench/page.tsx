/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** Suite page: what a live run page costs the browser per row update, with 100 rows and with
 * --hosts rows (default 1,000). No lab, no database: the real run page (views/run.tsx, our CSS,
 * htmx and live.js as the console serves them) with synthetic hosts, in headless Chromium, fed by
 * an event stream of real row frames (HostCells) in batches of 10 every 50 ms, each batch touching
 * rows spread over the table. Measured per round from Chromium's own counters (CDP
 * Performance.getMetrics) over --updates row updates (default 2,000): main-thread time per update
 * (task; of which script, layout, style) and layouts per batch; and the CPU of all Chromium's
 * processes per update (/proc: compositing, raster, the browser process's IPC and network too;
 * counts every Chromium on the machine, so run it alone). A page whose cost per update grows
 * with its rows cannot follow a 1,000-host run on a laptop. Every row must end showing its last
 * frame (no update lost). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import type { HostRow } from '../../server/web/live-rows.ts';
import { loadAssets } from '../../server/web/static.ts';
import { HostCells, RunPage } from '../../views/run.tsx';
import { median, writeResults, type BenchOptions } from './common.ts';
import { browserCpu } from './cpu-group.ts';

const BATCH = 10;
const STEPS = ['connect ok', 'upload running', 'upload ok', 'apply running', 'apply ok', 'verify running', 'verify ok'];

const hostRow = (id: number, k: number): HostRow => ({ id, host: `host-${String(id).padStart(4, '0')}.lab.example`, wave: 1 + (id % 3), state: k + 1 >= STEPS.length ? 'applied' : 'running', reason: null, currentStep: STEPS[k % STEPS.length]!, startedAt: new Date(Date.now() - 5000).toISOString(), finishedAt: null });

const frame = async (id: number, k: number) => `event: host-${id}\nid: ${k + 1}\ndata: ${(await (<HostCells h={hostRow(id, k)} runId={1} now={new Date()} />).toString()).replace(/\n/g, '\ndata: ')}\n\n`;

async function pageHtml(rows: number): Promise<string> {
  const hosts = Array.from({ length: rows }, (_, i) => hostRow(i + 1, 0));
  const run = { id: 1, kind: 'apply', state: 'running', bundle: { id: 'pkg-good', serial: 1, title: 'fp-demo 1.1', signedBy: 'bench' }, target: 'all', strategy: {}, inventoryCommit: null, haltReason: null, startedBy: 'bench', createdAt: new Date().toISOString(), finishedAt: null, cancelRequested: false };
  const progress = { waves: [{ wave: 1, hosts: rows, finished: 0, failed: 0 }], unplaced: 0, budget: { failed: 0, placed: rows, maxFailPercentage: null, maxFailures: null, allowed: null, exceeded: false } };
  return `<!doctype html>${await (<RunPage viewer={{ name: 'bench', role: 'viewer', csrfToken: 'x' }} view={{ run, hosts, progress, lastEventId: 0 }} now={new Date()} />).toString()}`;
}

/** Serves the page, our assets, and an event stream of `updates` row frames (row ids spread by a
 * stride coprime with `rows`); `last` ends up holding each row's last frame number. */
function serve(html: string, rows: number, updates: number, last: Map<number, number>): Server {
  const assets = loadAssets();
  return createServer((req, res) => {
    const a = req.url?.startsWith('/static/') ? assets.get(req.url.slice(8)) : undefined;
    if (a) return res.writeHead(200, { 'content-type': a.type }).end(a.body);
    if (req.url?.startsWith('/runs/1/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let closed = false;
      req.on('close', () => (closed = true));
      void (async () => {
        for (let k = 0; k < updates && !closed; ) {
          let batch = '';
          for (let j = 0; j < BATCH && k < updates; j++, k++) {
            const id = 1 + ((k * 7919) % rows);
            last.set(id, k);
            batch += await frame(id, Math.floor(k / rows));
          }
          res.write(batch);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      return;
    }
    if (req.url === '/runs/1') return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    res.writeHead(404).end();
  }).listen(0, '127.0.0.1');
}

type Metrics = Record<string, number>;

async function round(rows: number, updates: number): Promise<Record<string, number>> {
  const last = new Map<number, number>();
  const server = serve(await pageHtml(rows), rows, updates, last);
  await new Promise((r) => server.once('listening', r));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = async (): Promise<Metrics> => Object.fromEntries(((await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] }).metrics.map((m) => [m.name, m.value]));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/runs/1`);
    const m0 = await metrics();
    const cpu0 = browserCpu();
    // every update sent and the stream drained: each row's step cell shows its last frame
    await page.locator('#run[data-live="open"]').waitFor();
    while (last.size === 0 || [...last.values()].reduce((a, b) => Math.max(a, b), 0) < updates - 1) await new Promise((r) => setTimeout(r, 100));
    const expected = [...last].map(([id, k]) => [id, STEPS[Math.floor(k / rows) % STEPS.length]!] as const);
    await page.waitForFunction(`${JSON.stringify(expected)}.every(([id, step]) => document.querySelector('#hr-' + id + ' td:nth-child(4)').textContent === step)`, undefined, { timeout: 60_000 });
    const m1 = await metrics();
    const cpu1 = browserCpu();
    const per = (k: string) => ((m1[k]! - m0[k]!) * 1000) / updates;
    return { chromium: ((cpu1 - cpu0) * 1000) / updates, task: per('TaskDuration'), script: per('ScriptDuration'), layout: per('LayoutDuration'), style: per('RecalcStyleDuration'), layoutsPerBatch: ((m1.LayoutCount! - m0.LayoutCount!) * BATCH) / updates };
  } finally {
    await browser.close();
    server.close();
  }
}

export async function pageSuite(o: BenchOptions & { updates?: number }): Promise<void> {
  const sizes = [...new Set([100, o.hosts])];
  const updates = o.updates ?? 2000;
  const results: Record<string, Record<string, number>[]> = {};
  for (let r = 0; r < o.rounds; r++) {
    for (const rows of r % 2 ? [...sizes].reverse() : sizes) {
      const m = await round(rows, updates);
      (results[`${rows} rows`] ??= []).push(m);
      console.error(`round ${r + 1}/${o.rounds}: ${rows} rows: ${m.chromium!.toFixed(2)} ms of Chromium CPU (all its processes), ${m.task!.toFixed(2)} ms main thread per update (script ${m.script!.toFixed(2)}, layout ${m.layout!.toFixed(2)}, style ${m.style!.toFixed(2)})`);
    }
  }
  const lines = ['| rows | Chromium CPU ms per update (all processes) | main thread ms per update (min–max) | script | layout | style | layouts per batch of 10 |', '|---|---|---|---|---|---|---|'];
  for (const [name, xs] of Object.entries(results)) {
    const med = (k: string) => median(xs.map((x) => x[k]!)).toFixed(2);
    const tasks = xs.map((x) => x.task!);
    lines.push(`| ${name} | ${med('chromium')} | ${med('task')} (${Math.min(...tasks).toFixed(2)}–${Math.max(...tasks).toFixed(2)}) | ${med('script')} | ${med('layout')} | ${med('style')} | ${med('layoutsPerBatch')} |`);
  }
  console.log(lines.join('\n'));
  console.error(`results: ${writeResults('page', o, {}, { updates, batch: BATCH, results })}`);
}
