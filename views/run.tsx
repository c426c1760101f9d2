/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The run page: a per-host table that follows the run over SSE (live.js swaps each row's cells). */
import type { HostResultView, RunPageView, RunProgress, RunSummary } from '../server/web/data.ts';
import type { HostRow } from '../server/web/live-rows.ts';
import { isFinished } from '../server/web/data.ts';
import { Layout, type Viewer } from './layout.tsx';
import { duration } from './time.ts';

/** Where a host's step log is served: the host's button loads it, live.js reloads it. */
const stepLogUrl = (runId: number, hostResultId: number) => `/runs/${runId}/hosts/${hostResultId}/steps`;

/** The cells of one host's row; the SSE stream sends exactly this for the row to swap in. The run
 * table's rows are displayed as CSS grids (each row laid out alone), which makes some browsers
 * (Safari) drop the table semantics: hence the explicit ARIA roles on the table, rows and cells. */
export function HostCells(props: { h: HostRow; runId: number; now: Date }) {
  const h = props.h;
  return (
    <>
      <td role="cell">
        <button type="button" class="link" hx-get={stepLogUrl(props.runId, h.id)} hx-target={`#steps-${h.id}`} hx-swap="innerHTML" title="show the step log">
          {h.host}
        </button>
      </td>
      <td role="cell">{h.wave ?? ''}</td>
      <td role="cell" class={`state state-${h.state}`}>{h.state}</td>
      <td role="cell">{h.currentStep ?? ''}</td>
      <td role="cell">{duration(h.startedAt, h.finishedAt, props.now)}</td>
      <td role="cell">{h.reason ?? ''}</td>
    </>
  );
}

export function RunStatus(props: { run: RunSummary }) {
  const r = props.run;
  return (
    <>
      <span class={`state state-${r.state}`}>{r.state}</span>
      {r.cancelRequested && !isFinished(r.state) && ' (cancel requested)'}
      {r.haltReason && <span> — {r.haltReason}</span>}
    </>
  );
}

/** Wave progress and the failure budget; the SSE stream re-sends exactly this as `progress`. */
export function ProgressView(props: { p: RunProgress }) {
  const { waves, unplaced, budget: b } = props.p;
  const limits = [b.maxFailures !== null && `--max-failures ${b.maxFailures}`, b.maxFailPercentage !== null && `--max-fail-percentage ${b.maxFailPercentage} of ${b.placed} hosts placed in waves`].filter(Boolean).join(', ');
  return (
    <>
      {waves.length === 0 ? (
        <p>No host is placed in a wave yet.</p>
      ) : (
        <table id="waves" class="waves">
          <thead>
            <tr>
              <th>Wave</th>
              <th>Hosts</th>
              <th>Finished</th>
              <th>Failed</th>
            </tr>
          </thead>
          <tbody>
            {waves.map((w) => (
              <tr id={`wave-${w.wave}`}>
                <td>{w.wave}</td>
                <td>{w.hosts}</td>
                <td>
                  {w.finished} of {w.hosts}
                </td>
                <td class={w.failed ? 'bad' : undefined}>{w.failed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {unplaced > 0 && (
        <p>
          {unplaced} host{unplaced === 1 ? '' : 's'} not placed in a wave (unreachable at plan time, or not planned yet).
        </p>
      )}
      <p id="budget" class={b.exceeded ? 'bad' : undefined}>
        Failure budget:{' '}
        {b.maxFailures === null && b.maxFailPercentage === null ? (
          <>
            no budget ({b.failed} failed of {b.placed} placed in waves)
          </>
        ) : (
          <>
            {b.failed} failed of {b.allowed === null ? '(no host placed in a wave yet)' : b.allowed} allowed ({limits}; the run halts when more fail){b.exceeded && ' — exceeded'}
          </>
        )}
      </p>
    </>
  );
}

export function RunPage(props: { viewer: Viewer; view: RunPageView; now: Date }) {
  const { run, hosts, progress, lastEventId } = props.view;
  const canCancel = props.viewer.role !== 'viewer' && !isFinished(run.state);
  const live = isFinished(run.state) ? {} : { 'data-events': `/runs/${run.id}/events?after=${lastEventId}` };
  return (
    <Layout title={`Run #${run.id}`} viewer={props.viewer}>
      <div id="run" {...live}>
        <h1>
          Run #{run.id}: {run.kind} {run.bundle.title}
        </h1>
        <p>
          Bundle {run.bundle.id} serial {run.bundle.serial}, {run.bundle.signedBy ? `signed by ${run.bundle.signedBy}` : 'unsigned'}; started by {run.startedBy} at {run.createdAt}
          {run.inventoryCommit && `; inventory commit ${run.inventoryCommit}`}
        </p>
        <p id="run-state" data-swap="run">
          <RunStatus run={run} />
        </p>
        {!isFinished(run.state) && <p id="live-status" class="hint" role="status"></p>}
        {canCancel && (
          <form method="post" action={`/runs/${run.id}/cancel`}>
            <input type="hidden" name="_csrf" value={props.viewer.csrfToken} />
            <button type="submit">Cancel run</button>
          </form>
        )}
        <section id="run-progress" data-swap="progress">
          <ProgressView p={progress} />
        </section>
        <table id="run-hosts" role="table">
          <thead role="rowgroup">
            <tr role="row">
              <th role="columnheader">Host</th>
              <th role="columnheader">Wave</th>
              <th role="columnheader">State</th>
              <th role="columnheader">Current step</th>
              <th role="columnheader">Duration</th>
              <th role="columnheader">Reason</th>
            </tr>
          </thead>
          <tbody role="rowgroup">
            {hosts.map((h) => (
              <>
                <tr id={`hr-${h.id}`} class="host" role="row" data-swap={`host-${h.id}`}>
                  <HostCells h={h} runId={run.id} now={props.now} />
                </tr>
                <tr id={`steps-${h.id}`} class="steps" role="row" data-log={stepLogUrl(run.id, h.id)}></tr>
              </>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

/** One host's step log, loaded into the row under the host when its name is clicked. Once open it
 * follows the run: live.js reloads it when the host's SSE event re-renders the host's row. */
export function StepLog(props: { h: HostResultView; runId: number }) {
  return (
    <td role="cell" colspan={6}>
      {props.h.steps.length === 0 ? (
        'no step yet'
      ) : (
        <table class="step-log">
          <tbody>
            {props.h.steps.map((s) => (
              <tr>
                <td>{s.startedAt}</td>
                <td>{s.name}</td>
                <td class={`state state-${s.status}`}>{s.status}</td>
                <td>
                  {s.detail ?? ''}
                  {s.output && <pre>{s.output}</pre>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </td>
  );
}
