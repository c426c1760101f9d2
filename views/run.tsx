/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The run page: a per-host table that follows the run over SSE (sse-swap per row). */
import type { HostResultView, RunSummary, RunView } from '../server/web/data.ts';
import { isFinished } from '../server/web/data.ts';
import { Layout, type Viewer } from './layout.tsx';
import { duration } from './time.ts';

/** The cells of one host's row; the SSE stream sends exactly this for the row to swap in. */
export function HostCells(props: { h: HostResultView; runId: number; now: Date }) {
  const h = props.h;
  return (
    <>
      <td>
        <button type="button" class="link" hx-get={`/runs/${props.runId}/hosts/${h.id}/steps`} hx-target={`#steps-${h.id}`} hx-swap="innerHTML" title="show the step log">
          {h.host}
        </button>
      </td>
      <td>{h.wave ?? ''}</td>
      <td class={`state state-${h.state}`}>{h.state}</td>
      <td>{h.currentStep ?? ''}</td>
      <td>{duration(h.startedAt, h.finishedAt, props.now)}</td>
      <td>{h.reason ?? ''}</td>
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

export function RunPage(props: { viewer: Viewer; view: RunView; now: Date }) {
  const { run, hosts, lastEventId } = props.view;
  const canCancel = props.viewer.role !== 'viewer' && !isFinished(run.state);
  const live = isFinished(run.state) ? {} : { 'hx-ext': 'sse', 'sse-connect': `/runs/${run.id}/events?after=${lastEventId}`, 'sse-close': 'end' };
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
        <p id="run-state" sse-swap="run" hx-swap="innerHTML">
          <RunStatus run={run} />
        </p>
        {canCancel && (
          <form method="post" action={`/runs/${run.id}/cancel`}>
            <input type="hidden" name="_csrf" value={props.viewer.csrfToken} />
            <button type="submit">Cancel run</button>
          </form>
        )}
        <table id="run-hosts">
          <thead>
            <tr>
              <th>Host</th>
              <th>Wave</th>
              <th>State</th>
              <th>Current step</th>
              <th>Duration</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {hosts.map((h) => (
              <>
                <tr id={`hr-${h.id}`} sse-swap={`host-${h.id}`} hx-swap="innerHTML">
                  <HostCells h={h} runId={run.id} now={props.now} />
                </tr>
                <tr id={`steps-${h.id}`} class="steps"></tr>
              </>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

/** One host's step log, loaded into the row under the host when its name is clicked. */
export function StepLog(props: { h: HostResultView }) {
  return (
    <td colspan={6}>
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
