/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** One host: its facts, what fleetpatch recorded for it, and every run it was part of. */
import type { HostDetail } from '../server/web/data.ts';
import { DriftCell } from './hosts.tsx';
import { Layout, type Viewer } from './layout.tsx';
import { age } from './time.ts';

const yesNo = (v: boolean) => (v ? 'yes' : 'no');

export function HostPage(props: { viewer: Viewer; host: HostDetail; now: Date }) {
  const h = props.host;
  const title = h.names[0] ?? h.hostname ?? `host ${h.id}`;
  return (
    <Layout title={title} viewer={props.viewer}>
      <h1>Host {title}</h1>
      <table id="host-facts" class="facts">
        <tbody>
          <tr>
            <th>Inventory names</th>
            <td>{h.names.length ? h.names.join(', ') : 'none'}</td>
          </tr>
          <tr>
            <th>Machine id</th>
            <td>
              <code>{h.machineId}</code>
            </td>
          </tr>
          <tr>
            <th>Hostname</th>
            <td>{h.hostname ?? ''}</td>
          </tr>
          <tr>
            <th>OS</th>
            <td>
              {h.os ?? 'unknown'} ({h.arch})
            </td>
          </tr>
          <tr>
            <th>Kernel</th>
            <td>
              {h.kernel}, build id <code>{h.kernelBuildId ?? 'unknown'}</code>
            </td>
          </tr>
          <tr>
            <th>Taint</th>
            <td>{h.taint}</td>
          </tr>
          <tr>
            <th>Livepatch support</th>
            <td>{yesNo(h.livepatchSupported)}</td>
          </tr>
          <tr>
            <th>Module signatures enforced</th>
            <td>{h.sigEnforce ?? 'unknown'}</td>
          </tr>
          <tr>
            <th>Lockdown</th>
            <td>{h.lockdown ?? 'unknown'}</td>
          </tr>
          <tr>
            <th>Drift</th>
            <DriftCell h={h} />
          </tr>
          <tr>
            <th>Facts</th>
            <td>
              {h.factsAt} ({age(new Date(h.factsAt), props.now)})
            </td>
          </tr>
        </tbody>
      </table>

      <h2>Livepatches</h2>
      {h.livepatches.length === 0 ? (
        <p>None loaded.</p>
      ) : (
        <table id="host-livepatches">
          <thead>
            <tr>
              <th>Name</th>
              <th>Enabled</th>
              <th>In transition</th>
            </tr>
          </thead>
          <tbody>
            {h.livepatches.map((p) => (
              <tr>
                <td>{p.name}</td>
                <td>{yesNo(p.enabled)}</td>
                <td>{yesNo(p.transition)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Patches recorded by fleetpatch</h2>
      {h.patches.length === 0 ? (
        <p>None.</p>
      ) : (
        <table id="host-patches">
          <thead>
            <tr>
              <th>Bundle</th>
              <th>Serial</th>
              <th>Patch</th>
              <th>Run</th>
              <th>Applied</th>
            </tr>
          </thead>
          <tbody>
            {h.patches.map((p) => (
              <tr>
                <td>{p.bundleId}</td>
                <td>{p.serial}</td>
                <td>{p.patch}</td>
                <td>{p.runId !== null ? <a href={`/runs/${p.runId}`}>#{p.runId}</a> : ''}</td>
                <td>{p.appliedAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>History</h2>
      {h.history.length === 0 ? (
        <p>No run has included this host.</p>
      ) : (
        <table id="host-history">
          <thead>
            <tr>
              <th>Run</th>
              <th>Name</th>
              <th>Kind</th>
              <th>Bundle</th>
              <th>State</th>
              <th>Reason</th>
              <th>Wave</th>
              <th>Started</th>
              <th>Finished</th>
            </tr>
          </thead>
          <tbody>
            {h.history.map((r) => (
              <tr id={`hr-${r.hostResultId}`}>
                <td>
                  <a href={`/runs/${r.runId}`}>#{r.runId}</a>
                </td>
                <td>{r.host}</td>
                <td>{r.kind}</td>
                <td>
                  {r.bundleId} serial {r.serial}
                  <br />
                  <span class="muted">{r.bundleTitle}</span>
                </td>
                <td class={`state state-${r.state}`}>{r.state}</td>
                <td>{r.reason ?? ''}</td>
                <td>{r.wave ?? ''}</td>
                <td>{r.startedAt ?? ''}</td>
                <td>{r.finishedAt ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
