/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** Runs: the list, the live run page with its SSE stream, a host's step log, cancel. */
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { getRun, nextRunEvent, requestCancel } from '../../db/runs.ts';
import { recordAudit } from '../../db/users.ts';
import { HostCells, ProgressView, RunPage, RunStatus, StepLog } from '../../../views/run.tsx';
import { RunsPage } from '../../../views/runs.tsx';
import { viewerOf, type Deps, type Env } from '../context.ts';
import { hostResultIn, hostResultView, isFinished, runPageView, runProgressOf, runSummary, runsView, runView } from '../data.ts';
import { eventRefsAfter, hostRow, runState, type EventRef } from '../live-rows.ts';

function remember<K, V>(cache: Map<K, V>, key: K, value: V): void {
  if (cache.has(key)) return;
  cache.set(key, value);
  if (cache.size > 20_000) cache.delete(cache.keys().next().value as K);
}

/** One server-sent event, as hono's writeSSE formats it (data split into lines; event and id are
 * our own names and numbers, never a line break). */
function sseFrame(event: string, data: string, id?: number): string {
  const lines = data
    .split(/\r\n|\r|\n/)
    .map((l) => `data: ${l}`)
    .join('\n');
  return `event: ${event}\n${lines}\n${id === undefined ? '' : `id: ${id}\n`}\n`;
}

export function runRoutes(app: Hono<Env>, { db, now, need, pollMs }: Deps): void {
  /** Frames shared by every stream of this app: event id → the frame that re-rendered its row;
   * run:event → the progress after it. Bounded; an evicted entry is just rendered again. */
  const rendered = new Map<number, string>();
  const progressRendered = new Map<string, string>();
  app.get('/runs', need('viewer'), (c) => c.html(<RunsPage viewer={viewerOf(c)} runs={runsView(db)} />));
  app.get('/runs/:id{[0-9]+}', need('viewer'), (c) => {
    const view = runPageView(db, Number(c.req.param('id')));
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

  /** The row an event concerns, rendered now (its host's cells, or the run's status), as a frame. */
  const frameOf = async (runId: number, e: EventRef): Promise<string> => {
    let frame = rendered.get(e.id);
    if (frame === undefined) {
      const row = e.hostResultId === null ? undefined : hostRow(db, runId, e.hostResultId);
      if (row) frame = sseFrame(`host-${row.id}`, await (<HostCells h={row} runId={runId} now={now()} />).toString(), e.id);
      else frame = sseFrame('run', await (<RunStatus run={runSummary(getRun(db, runId)!)} />).toString(), e.id);
      remember(rendered, e.id, frame);
    }
    return frame;
  };

  /** The run's events after Last-Event-ID (or ?after=), then new ones as the database gets them.
   * Each batch of new events is one write: for every row (a host's, or the run's status) the
   * newest event of the batch, re-rendering the row as it is now (an older event of the same row
   * is superseded by it, and the browser resumes from the last id it got, the batch's newest),
   * then a `progress` event re-rendering wave progress and the failure budget: it carries no id,
   * so the browser's Last-Event-ID stays the last database event's. Ends after a finished run. */
  app.get('/runs/:id{[0-9]+}/events', need('viewer'), (c) => {
    const id = Number(c.req.param('id'));
    if (!getRun(db, id)) return c.json({ code: 'not-found', message: `no run ${id}` }, 404);
    const from = c.req.header('last-event-id') ?? c.req.query('after') ?? '0';
    let last = /^\d{1,15}$/.test(from) ? Number(from) : 0;
    return streamSSE(c, async (stream) => {
      let finishedSeen = false;
      while (!stream.aborted) {
        const finished = isFinished(runState(db, id) ?? 'gone');
        const batch = eventRefsAfter(db, id, last);
        if (batch.length) {
          const newest = new Map<number | null, number>();
          for (const e of batch) newest.set(e.hostResultId, e.id);
          let text = '';
          for (const e of batch) if (newest.get(e.hostResultId) === e.id) text += await frameOf(id, e);
          last = batch.at(-1)!.id;
          const key = `${id}:${last}`;
          let progress = progressRendered.get(key);
          const run = progress === undefined ? getRun(db, id) : undefined;
          if (run) remember(progressRendered, key, (progress = sseFrame('progress', await (<ProgressView p={runProgressOf(db, run)} />).toString())));
          await stream.write(text + (progress ?? ''));
        }
        // one more pass after the run is seen finished: its last events may land just after its state
        if (finished && finishedSeen) {
          await stream.write(sseFrame('end', 'finished'));
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
