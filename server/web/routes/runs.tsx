/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** Runs: the list, the live run page with its SSE stream, a host's step log, cancel. */
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { eventsAfter, getRun, nextRunEvent, requestCancel } from '../../db/runs.ts';
import { recordAudit } from '../../db/users.ts';
import { HostCells, ProgressView, RunPage, RunStatus, StepLog } from '../../../views/run.tsx';
import { RunsPage } from '../../../views/runs.tsx';
import { viewerOf, type Deps, type Env } from '../context.ts';
import { hostResultIn, hostResultView, isFinished, runProgressOf, runSummary, runsView, runView } from '../data.ts';

function remember<K, V>(cache: Map<K, V>, key: K, value: V): void {
  if (cache.has(key)) return;
  cache.set(key, value);
  if (cache.size > 20_000) cache.delete(cache.keys().next().value as K);
}

export function runRoutes(app: Hono<Env>, { db, now, need, pollMs }: Deps): void {
  /** Renders shared by every stream of this app: event id → the row it re-rendered; run:event →
   * the progress after it. Bounded; an evicted entry is just rendered again. */
  const rendered = new Map<number, { name: string; html: string }>();
  const progressRendered = new Map<string, string>();
  app.get('/runs', need('viewer'), (c) => c.html(<RunsPage viewer={viewerOf(c)} runs={runsView(db)} />));
  app.get('/runs/:id{[0-9]+}', need('viewer'), (c) => {
    const view = runView(db, Number(c.req.param('id')));
    if (!view) return c.text('no such run', 404);
    return c.html(<RunPage viewer={viewerOf(c)} view={view} now={now()} />);
  });
  app.get('/runs/:id{[0-9]+}/hosts/:hr{[0-9]+}/steps', need('viewer'), (c) => {
    const hr = hostResultIn(db, Number(c.req.param('id')), Number(c.req.param('hr')));
    return hr ? c.html(<StepLog h={hostResultView(db, hr)} runId={hr.runId} />) : c.text('no such host in this run', 404);
  });

  const cancel = (c: Context<Env>) => {
    const id = Number(c.req.param('id'));
    if (!getRun(db, id)) return c.json({ code: 'not-found', message: `no run ${id}` }, 404);
    if (!requestCancel(db, id)) return c.json({ code: 'not-running', message: `run ${id} is not running` }, 409);
    recordAudit(db, c.get('user').name, 'run-cancel', { run: id }, now());
    if (c.req.path.startsWith('/api/')) return c.json({ ok: true, run: id }, 202);
    return c.req.header('hx-request') ? c.body(null, 204) : c.redirect(`/runs/${id}`, 303);
  };
  app.post('/runs/:id{[0-9]+}/cancel', need('operator'), cancel);
  app.post('/api/runs/:id{[0-9]+}/cancel', need('operator'), cancel);

  /** The run's events after Last-Event-ID (or ?after=), then new ones as the database gets them;
   * each event re-renders the current row of its host (or the run's status). After every batch of
   * events, a `progress` event re-renders wave progress and the failure budget: it carries no id,
   * so the browser's Last-Event-ID stays the last database event's. Ends after a finished run. */
  app.get('/runs/:id{[0-9]+}/events', need('viewer'), (c) => {
    const id = Number(c.req.param('id'));
    if (!getRun(db, id)) return c.json({ code: 'not-found', message: `no run ${id}` }, 404);
    const from = c.req.header('last-event-id') ?? c.req.query('after') ?? '0';
    let last = /^\d{1,15}$/.test(from) ? Number(from) : 0;
    return streamSSE(c, async (stream) => {
      let finishedSeen = false;
      while (!stream.aborted) {
        const finished = isFinished(getRun(db, id)?.state ?? 'gone');
        const batch = eventsAfter(db, id, last);
        // every event is sent (resume needs each id), but a row is rendered once per batch, and
        // once for all the streams following the run (they share `rendered`)
        const inBatch = new Map<number | null, { name: string; html: string }>();
        for (const e of batch) {
          let out = rendered.get(e.id) ?? inBatch.get(e.hostResultId);
          if (!out) {
            const hr = e.hostResultId === null ? undefined : hostResultIn(db, id, e.hostResultId);
            const html = hr ? await (<HostCells h={hostResultView(db, hr)} runId={id} now={now()} />).toString() : await (<RunStatus run={runSummary(getRun(db, id)!)} />).toString();
            out = { name: hr ? `host-${hr.id}` : 'run', html };
            inBatch.set(e.hostResultId, out);
          }
          remember(rendered, e.id, out);
          await stream.writeSSE({ id: String(e.id), event: out.name, data: out.html });
          last = e.id;
        }
        if (batch.length) {
          const key = `${id}:${last}`;
          let html = progressRendered.get(key);
          const run = html === undefined ? getRun(db, id) : undefined;
          if (run) remember(progressRendered, key, (html = await (<ProgressView p={runProgressOf(db, run)} />).toString()));
          if (html !== undefined) await stream.writeSSE({ event: 'progress', data: html });
        }
        // one more pass after the run is seen finished: its last events may land just after its state
        if (finished && finishedSeen) {
          await stream.writeSSE({ event: 'end', data: 'finished' });
          return;
        }
        finishedSeen = finished;
        if (finished) await stream.sleep(0);
        else {
          // woken at once by a run this process executes (then 20 ms to gather a burst); runs of
          // other processes (the CLI) are found by the poll
          await nextRunEvent(id, pollMs);
          await stream.sleep(20);
        }
      }
    });
  });

  app.get('/api/runs', need('viewer'), (c) => c.json(runsView(db)));
  app.get('/api/runs/:id{[0-9]+}', need('viewer'), (c) => {
    const view = runView(db, Number(c.req.param('id')));
    return view ? c.json(view) : c.json({ code: 'not-found', message: `no run ${c.req.param('id')}` }, 404);
  });
}
