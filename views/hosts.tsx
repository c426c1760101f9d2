/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { HostView } from '../server/web/data.ts';
import { Layout, type Viewer } from './layout.tsx';
import { age } from './time.ts';

export function HostsPage(props: { viewer: Viewer; hosts: HostView[]; now: Date }) {
  return (
    <Layout title="Hosts" viewer={props.viewer}>
      <h1>Hosts</h1>
      {props.hosts.length === 0 ? (
        <p>No host is known yet: run <code>fleetpatch facts -i INVENTORY</code> to gather facts.</p>
      ) : (
        <table id="hosts">
          <thead>
            <tr>
              <th>Names</th>
              <th>Hostname</th>
              <th>Kernel</th>
              <th>Livepatches</th>
              <th>Drift</th>
              <th>Facts age</th>
            </tr>
          </thead>
          <tbody>
            {props.hosts.map((h) => (
              <tr id={`host-${h.id}`}>
                <td>{h.names.join(', ')}</td>
                <td>{h.hostname ?? ''}</td>
                <td>{h.kernel}</td>
                <td>{h.livepatches.length ? h.livepatches.map((p) => `${p.name}${p.enabled ? '' : ' (disabled)'}${p.transition ? ' (in transition)' : ''}`).join(', ') : 'none'}</td>
                <td class={h.drift.length ? 'bad' : ''}>{h.drift.length ? h.drift.map((d) => `${d.patch} (${d.bundleId} serial ${d.serial})`).join(', ') : 'ok'}</td>
                <td title={h.factsAt}>{age(new Date(h.factsAt), props.now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
