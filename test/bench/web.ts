/** Suite web: a run of the lab's `pkg-good` bundle (fp-demo 1.0 → 1.1) on every lab host, started
 * through the console's JSON API (a per-user token) and watched live by `--browsers B` headless
 * Chromium contexts (separate cookie jars, each logged in, each on the run page with its own SSE
 * stream). Measured per round: run wall time; state change → row change latency (the row's state
 * cell as a MutationObserver in each page sees it, minus the time the engine wrote that host event
 * into the database: same machine, same clock), median and p95 over every host state change seen
 * by every browser; load times of the hosts page and the run page fetched again and again by
 * another logged-in client while the run goes on (is the console usable meanwhile); peak RSS of the controller (this process serves the pages *and* runs the run);
 * bytes per update (the run's whole event stream replayed once, divided by its events); controller
 * CPU per host. Hosts are rolled back between rounds (unmeasured); after each round every host must
 * be `applied` (fp-demo 1.1 over ssh) or `rolled-back` (1.0: on an overloaded lab a host may not
 * answer the checks' new connection in time; counted in the row) or `unreachable` at plan time
 * (1.0, never touched; counted), with no step left running, `dpkg --audit` empty, and every
 * browser must show every host in the state the database has. All of that is checked and counted
 * (`discrepancies`, `browsersLosingEvents`) before the round fails, so its figures are kept. */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startConsole } from '../../server/commands/serve.ts';
import { libraryBundle } from '../../server/web/library.ts';
import { loadConfig } from '../../server/config.ts';
import { openDatabase } from '../../server/db/index.ts';
import { eventsAfter, getRun, hostSteps, runHostResults } from '../../server/db/runs.ts';
import { createToken } from '../../server/db/tokens.ts';
import { addUser, findUser } from '../../server/db/users.ts';
import { labDown, labUp } from '../../server/lab/index.ts';
import { runningPid } from '../../server/lab/namespace-host.ts';
import { cli, freePort, labHosts, newLabDir, sshArgs } from '../support/lab.ts';
import { cpu, median, type BenchOptions } from './common.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { CHROMIUM, browserCpu, cpuGroup, processesInGroups, processesNamed } from './cpu-group.ts';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const PASSWORD = 'bench-password-123';
const execFileAsync = promisify(execFile);
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))]!;

/** Records, in the page, when each host row's state cell changes text (page clock = Date.now()).
 * Only the rows the mutations touched are read, so a 1,000-row page is not rescanned per update. */
const OBSERVE = `(() => {
  window.__fpSeen = [];
  window.__fpInitial = [];
  window.__fpSse = { open: 0, error: 0, message: 0 };
  for (const [ev, k] of [['live:open', 'open'], ['live:error', 'error'], ['live', 'message']]) document.body.addEventListener(ev, () => window.__fpSse[k]++);
  const last = new Map();
  const stateOf = (row) => { const c = row.querySelector('td.state'); return c ? c.textContent.trim() : ''; };
  for (const row of document.querySelectorAll('#run-hosts tr[id^="hr-"]')) { last.set(row.id, stateOf(row)); window.__fpInitial.push([row.id.slice(3), last.get(row.id)]); }
  const tbody = document.querySelector('#run-hosts tbody') || document.querySelector('#run-hosts');
  new MutationObserver((records) => {
    const rows = new Set();
    for (const m of records) {
      const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      const row = el && el.closest('tr[id^="hr-"]');
      if (row) rows.add(row);
      for (const a of m.addedNodes) if (a.nodeType === 1 && a.matches('tr[id^="hr-"]')) rows.add(a);
    }
    const now = Date.now();
    for (const row of rows) {
      const text = stateOf(row);
      if (last.get(row.id) !== text) { last.set(row.id, text); window.__fpSeen.push([row.id.slice(3), text, now]); }
    }
  }).observe(tbody, { subtree: true, childList: true, characterData: true });
  return true;
})()`;

/** Response times (ms) of full page loads while the run goes on: the hosts page and the run page,
 * fetched one after the other every 5 s by a logged-in client (another admin looking), until
 * `stop` says so. */
async function probePages(urls: string[], cookie: string, stop: () => boolean): Promise<number[]> {
  const times: number[] = [];
  while (!stop()) {
    for (const url of urls) {
      const t0 = performance.now();
      const res = await fetch(url, { headers: { cookie } });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${url}: ${res.status} while the run goes on`);
      times.push(performance.now() - t0);
    }
    await new Promise((r) => setTimeout(r, 5000));
  }
  return times;
}

/** The process groups of the lab's hosts (each host's sshd and whatever it runs). */
function hostProcessGroups(dir: string): Set<number> {
  const out = new Set<number>();
  for (const h of labHosts(dir)) {
    const pid = runningPid(dir, h.name);
    if (pid !== null) out.add(Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]));
  }
  return out;
}

export async function webSuite(o: BenchOptions & { browsers?: number; hostsCpuShares?: number; lab?: string }): Promise<void> {
  const browsers = o.browsers ?? 5;
  // --lab DIR: a lab already up (e.g. `fleetpatch lab up --hosts 1000`, which takes long to boot);
  // it is used with all its hosts and left up
  const dir = o.lab ?? newLabDir();
  if (o.lab) o = { ...o, hosts: labHosts(dir).length };
  else
    await labUp(dir, o.hosts, await freePort()).catch(async (err) => {
      await labDown(dir, true);
      throw err;
    });
  // --hosts-cpu-shares S: the lab's hosts in one cpu cgroup of weight S, the browsers in another of
  // 1024 (as much as this process's own scheduling group), so that on 2 shared cores the figures
  // measure the controller and the browsers rather than the wait behind 100 hosts' dpkg
  const groups = o.hostsCpuShares ? { lab: cpuGroup(`fleetpatch-bench-lab-${process.pid}`, o.hostsCpuShares), browsers: cpuGroup(`fleetpatch-bench-browsers-${process.pid}`, 1024) } : undefined;
  groups?.lab.add(processesInGroups(hostProcessGroups(dir)));
  const configFile = join(dir, 'fleetpatch.json');
  const inventory = join(dir, 'inventory.ini');
  const config = { ...loadConfig({ flags: { config: configFile } }), forks: o.forks };
  const db = openDatabase(config.database);
  // a reused lab (--lab) keeps the user of an earlier bench; its password is this one
  const user = findUser(db, 'bench') ?? (await addUser(db, 'bench', 'operator', PASSWORD));
  const { token } = createToken(db, user, 'bench');
  const web = await startConsole(db, `127.0.0.1:${await freePort()}`, { inventories: [inventory], bundlesDir: join(dir, 'bundles'), config, loadOptions: { ansibleCfg: null } });
  const base = web.url.replace(/\/$/, '');
  const api = async (path: string, body?: unknown) => {
    const res = await fetch(base + path, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  // one Chromium per watcher, as ten people have ten browsers: the contexts of one Chromium share
  // its limit of 6 HTTP/1.1 connections per host, so a 7th live run page (each holds its SSE
  // stream open) would wait for a free connection until a stream ends
  const launched: Browser[] = [];
  const pages: Page[] = [];
  for (let b = 0; b < browsers; b++) {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, handleSIGINT: false, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    launched.push(browser);
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/login`);
    await page.fill('input[name=name]', 'bench');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/hosts`);
    pages.push(page);
  }
  // renderers are started by processes already moved, so they stay in the group
  groups?.browsers.add(processesNamed(CHROMIUM));
  const cookie = (await pages[0]!.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const rows: Record<string, number | string>[] = [];
  let interrupted = false;
  process.once('SIGINT', () => (interrupted = true));
  try {
    for (let r = 0; r < o.rounds; r++) {
      const back = await cli(['rollback', '-i', inventory, '--bundle', join(dir, 'bundles', 'pkg-good'), '--config', configFile, '--forks', String(o.forks)]);
      if (back.code !== 0) throw new Error(`reset: ${back.err}`);
      // the hash the start must carry, from the same library load the server does (a preview,
      // POST /api/plan, would gather every host's facts again: minutes at 1,000 hosts, unmeasured)
      const plan = { sha256: (await libraryBundle({ inventories: [inventory], bundlesDir: join(dir, 'bundles'), config, loadOptions: { ansibleCfg: null } }, 'pkg-good')).sha256 };
      let peakRss = process.memoryUsage().rss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
      // how long the controller's event loop (server + run + this client, one process) was blocked
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const c0 = cpu();
      const b0 = browserCpu();
      const t0 = performance.now();
      const { run } = (await api('/api/runs', { bundle: 'pkg-good', pattern: 'all', sha256: plan.sha256, strategy: { waves: '100%', forks: String(o.forks) } })) as { run: number };
      const opened: number[] = [];
      await Promise.all(pages.map(async (p) => {
        const t = performance.now();
        await p.goto(`${base}/runs/${run}`, { timeout: 900_000 });
        await p.evaluate(OBSERVE);
        opened.push(performance.now() - t);
      }));
      let finished = false;
      const probe = probePages([`${base}/hosts`, `${base}/runs/${run}`], cookie, () => finished);
      let nextReport = performance.now() + 60_000;
      for (;;) {
        // Ctrl-C: the console's shutdown (below) cancels the run and waits for the hosts in flight
        if (interrupted) throw new Error(`interrupted: run ${run} cancelled`);
        if (performance.now() > nextReport) {
          nextReport += 60_000;
          const states = new Map<string, number>();
          for (const h of runHostResults(db, run)) states.set(h.state, (states.get(h.state) ?? 0) + 1);
          const seen = await Promise.all(pages.map((p) => p.evaluate('window.__fpSeen.length') as Promise<number>));
          console.error(`progress ${Math.round((performance.now() - t0) / 1000)} s: ${JSON.stringify(Object.fromEntries(states))}; rss ${Math.round(process.memoryUsage().rss / 1048576)} MB (peak ${Math.round(peakRss / 1048576)}); loop delay p99 ${Math.round(loop.percentile(99) / 1e6)} ms, max ${Math.round(loop.max / 1e6)} ms; browsers' CPU ${(browserCpu() - b0).toFixed(0)} s; changes seen per browser ${Math.min(...seen)}–${Math.max(...seen)}; controller CPU ${(cpu().self - c0.self).toFixed(1)} s`);
        }
        // read in-process: polling GET /api/runs/:id (the whole run view) 5 times a second would
        // itself be a load on the server under test
        const state = getRun(db, run)?.state;
        if (state !== 'running') break;
        await new Promise((res) => setTimeout(res, 200));
      }
      const wall = (performance.now() - t0) / 1000;
      console.error(`round ${r + 1}: run ${run} from ${(t0 / 1000).toFixed(1)} s to ${(performance.now() / 1000).toFixed(1)} s of this process`);
      const c1 = cpu();
      const b1 = browserCpu();
      finished = true;
      const pageMs = await probe;
      await new Promise((res) => setTimeout(res, 1500)); // the last events reach the pages
      clearInterval(sampler);
      loop.disable();
      // verify (what the header says): each check below is collected in `wrong` and the round's
      // figures are printed before any failure is thrown, so one bad host cannot lose an hour's figures
      const results = runHostResults(db, run);
      const wrong: string[] = [];
      if (results.length !== o.hosts) wrong.push(`run ${run}: ${results.length} of ${o.hosts} hosts in the database`);
      // unreachable: no answer at plan time, left out of the waves and never touched (still 1.0)
      for (const h of results.filter((h) => !['applied', 'rolled-back', 'unreachable'].includes(h.state))) wrong.push(`${h.inventoryName}: neither applied, rolled back nor unreachable: ${h.state}: ${h.reason ?? ''}`);
      for (const h of results) {
        const steps = hostSteps(db, h.id);
        if (h.state !== 'unreachable' && !steps.length) wrong.push(`${h.inventoryName}: ${h.state} without step records`);
        for (const st of steps) if (st.status === 'running' || !st.finishedAt) wrong.push(`${h.inventoryName}: step ${st.name} left ${st.status}`);
      }
      const byName = new Map(labHosts(dir).map((h) => [h.name, h]));
      const queue = [...results];
      await Promise.all(Array.from({ length: 16 }, async () => {
        for (let h = queue.shift(); h; h = queue.shift()) {
          const want = h.state === 'applied' ? '1.1' : '1.0';
          const query = () => execFileAsync('ssh', sshArgs(dir, byName.get(h.inventoryName)!, "dpkg-query -W -f='${Version}' fp-demo && dpkg --audit"), { encoding: 'utf8' });
          try {
            const got = (await query().catch(query)).stdout.trim(); // one retry: a starved host
            if (got !== want) wrong.push(`${h.inventoryName}: the database says ${h.state}, but fp-demo is ${got} (after it: dpkg --audit)`);
          } catch (err) {
            wrong.push(`${h.inventoryName}: could not be checked over ssh: ${(err as Error).message.split('\n')[0]}`);
          }
        }
      }));
      const events = eventsAfter(db, run, 0);
      const written = new Map<string, number>(); // "hr:state" → when the engine wrote it
      for (const e of events) if (e.type === 'host' && e.hostResultId !== null) written.set(`${e.hostResultId}:${(e.data as { state: string }).state}`, e.at.getTime());
      const latencies: number[] = [];
      const lost: string[] = [];
      const sse: { open: number; error: number; message: number }[] = [];
      for (const p of pages) {
        sse.push((await p.evaluate('window.__fpSse')) as { open: number; error: number; message: number });
        const seen = (await p.evaluate('window.__fpSeen')) as [string, string, number][];
        const initial = (await p.evaluate('window.__fpInitial')) as [string, string][];
        const shown = new Map<string, string>();
        for (const [hr, state] of [...initial, ...seen]) shown.set(hr, state);
        const missed = results.filter((h) => shown.get(String(h.id)) !== h.state);
        if (missed.length) lost.push(`browser ${pages.indexOf(p) + 1} shows ${missed.length} host(s) in another state than the database (${JSON.stringify(sse.at(-1))}): ${missed.slice(0, 5).map((h) => `${h.inventoryName}: ${shown.get(String(h.id))} vs ${h.state}`).join('; ')}`);
        for (const [hr, state, t] of seen) {
          const w = written.get(`${hr}:${state}`);
          if (w !== undefined) latencies.push(t - w);
        }
      }
      const stream = await fetch(`${base}/runs/${run}/events?after=0`, { headers: { cookie } });
      const replay = await stream.text();
      const bytes = Buffer.byteLength(replay);
      const frames = replay.split('\n\n').filter((f) => f.includes('\nid: ')).length;
      const row = {
        round: r + 1,
        hosts: o.hosts,
        forks: o.forks,
        browsers,
        hostsCpuShares: o.hostsCpuShares ?? 0,
        applied: results.filter((h) => h.state === 'applied').length,
        rolledBack: results.filter((h) => h.state === 'rolled-back').length,
        unreachable: results.filter((h) => h.state === 'unreachable').length,
        wallS: Number(wall.toFixed(2)),
        latencyMedianMs: median(latencies),
        latencyP95Ms: p95(latencies),
        changesMeasured: latencies.length,
        runPageOpenMedianMs: Math.round(median(opened)),
        runPageOpenMaxMs: Math.round(Math.max(...opened)),
        discrepancies: wrong.length,
        browsersLosingEvents: lost.length,
        sseErrors: sse.reduce((n, x) => n + x.error, 0),
        pageLoadMedianMs: Math.round(median(pageMs)),
        pageLoadMaxMs: Math.round(Math.max(...pageMs)),
        pageLoads: pageMs.length,
        peakRssMB: Math.round(peakRss / 1048576),
        loopDelayP99Ms: Math.round(loop.percentile(99) / 1e6),
        loopDelayMaxMs: Math.round(loop.max / 1e6),
        // a stream sends the newest event of each row per batch: a replay of the finished run is
        // one frame per row, so this is the size of one row's update
        bytesPerUpdate: Math.round(bytes / frames),
        browsersCpuS: Number((b1 - b0).toFixed(1)),
        controllerCpuMsPerHost: Number((((c1.self - c0.self + c1.children - c0.children) / o.hosts) * 1000).toFixed(1)),
        // of which waited-for child processes (e.g. git for the inventory's commit)
        controllerChildrenCpuS: Number((c1.children - c0.children).toFixed(1)),
      };
      rows.push(row);
      console.error(`round ${r + 1}: ${JSON.stringify(row)}`);
      if (wrong.length) throw new Error(`round ${r + 1}: the hosts and the database disagree:\n${wrong.join('\n')}`);
      if (lost.length) throw new Error(`round ${r + 1}: events lost: ${lost.join('\n')}`);
    }
  } finally {
    await Promise.all(launched.map((b) => b.close()));
    for (const g of [groups?.lab, groups?.browsers]) {
      try {
        g?.remove();
      } catch (err) {
        console.error(`bench web: ${(err as Error).message}`);
      }
    }
    await web.close();
    db.$client.close();
    if (!o.lab) await labDown(dir, true);
  }
  const keys = Object.keys(rows[0] ?? {});
  console.log([`| ${keys.join(' | ')} |`, `|${keys.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${keys.map((k) => r[k]).join(' | ')} |`)].join('\n'));
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `web-${o.hosts}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ suite: 'web', ...o, browsers, cores: cpus().length, node: process.version, chromium: execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim(), rows }, null, 2)}\n`);
  console.error(`results: ${file}`);
}
