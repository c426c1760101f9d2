/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The hosts page: a pattern filter (htmx swaps the table body as you type; a plain GET form
 * without JavaScript) over the table of known hosts. */
import type { HostView } from '../server/web/data.ts';
import { MAX_PATTERN, type FilterResult } from '../server/web/host-filter.ts';
import { Layout, type Viewer } from './layout.tsx';
import { age } from './time.ts';

const COLUMNS = 7;

/** Enabled livepatches and the bundles fleetpatch recorded for the host. */
export function PatchLevel(props: { h: HostView }) {
  const h = props.h;
  const live = h.livepatches.filter((p) => p.enabled).map((p) => `${p.name}${p.transition ? ' (in transition)' : ''}`);
  const bundles = [...new Set(h.patches.map((p) => `${p.bundleId} serial ${p.serial}`))];
  if (!live.length && !bundles.length) return <>none</>;
  return (
    <>
      {live.length > 0 && <span class="livepatches">{live.join(', ')}</span>}
      {live.length > 0 && bundles.length > 0 && <br />}
      {bundles.length > 0 && <span class="bundles">bundles: {bundles.join(', ')}</span>}
    </>
  );
}

export function DriftCell(props: { h: HostView }) {
  const d = props.h.drift;
  return <td class={d.length ? 'bad' : undefined}>{d.length ? d.map((x) => `${x.patch} (${x.bundleId} serial ${x.serial})`).join(', ') : 'ok'}</td>;
}

/** The rows of the hosts table (what /hosts/rows answers for htmx to swap into #hosts-body). */
export function HostRows(props: { result: FilterResult; now: Date; known: number }) {
  const { result } = props;
  if (result.error) {
    return (
      <tr class="message">
        <td colspan={COLUMNS} class="error" role="alert">
          {result.error.message}
        </td>
      </tr>
    );
  }
  if (props.known === 0) {
    return (
      <tr class="message">
        <td colspan={COLUMNS}>
          No host is known yet: run <code>fleetpatch facts -i INVENTORY</code> to gather facts.
        </td>
      </tr>
    );
  }
  return (
    <>
      {result.hosts.map((h) => (
        <tr id={`host-${h.id}`}>
          <td>
            <a href={`/hosts/${h.id}`}>{h.names.length ? h.names.join(', ') : `host ${h.id}`}</a>
          </td>
          <td>{h.hostname ?? ''}</td>
          <td>{h.kernel}</td>
          <td>
            <PatchLevel h={h} />
          </td>
          <DriftCell h={h} />
          <td title={h.factsAt}>{age(new Date(h.factsAt), props.now)}</td>
          <td>
            {h.lastResult ? (
              <>
                <a href={`/runs/${h.lastResult.runId}`}>#{h.lastResult.runId}</a> <span class={`state state-${h.lastResult.state}`}>{h.lastResult.state}</span>
              </>
            ) : (
              'never patched'
            )}
          </td>
        </tr>
      ))}
    </>
  );
}

export function HostsPage(props: { viewer: Viewer; result: FilterResult; hint: string; known: number; now: Date }) {
  const { result } = props;
  return (
    <Layout title="Hosts" viewer={props.viewer}>
      <h1>Hosts</h1>
      <form method="get" action="/hosts" role="search" class="filter">
        <label>
          Pattern{' '}
          <input
            type="search"
            name="pattern"
            value={result.pattern}
            placeholder={result.mode === 'inventory' ? 'all, webservers:&prod, web*' : 'web*, db?'}
            autocomplete="off"
            maxlength={MAX_PATTERN}
            hx-get="/hosts/rows"
            hx-trigger="input changed delay:300ms, search"
            hx-target="#hosts-body"
            hx-swap="innerHTML"
          />
        </label>{' '}
        <button type="submit">Filter</button>
        <p class="hint">{props.hint}</p>
      </form>
      <table id="hosts">
        <thead>
          <tr>
            <th>Names</th>
            <th>Hostname</th>
            <th>Kernel</th>
            <th>Patch level</th>
            <th>Drift</th>
            <th>Last seen</th>
            <th>Last result</th>
          </tr>
        </thead>
        <tbody id="hosts-body">
          <HostRows result={result} now={props.now} known={props.known} />
        </tbody>
      </table>
    </Layout>
  );
}
