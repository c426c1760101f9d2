/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { RunSummary } from '../server/web/data.ts';
import { Layout, type Viewer } from './layout.tsx';

function targetText(target: unknown): string {
  const t = target as { inventories?: unknown; pattern?: unknown } | null;
  return t && typeof t.pattern === 'string' ? t.pattern : '';
}

export function RunsPage(props: { viewer: Viewer; runs: RunSummary[] }) {
  return (
    <Layout title="Runs" viewer={props.viewer}>
      <h1>Runs</h1>
      {props.runs.length === 0 ? (
        <p>No run yet.</p>
      ) : (
        <table id="runs">
          <thead>
            <tr>
              <th>Run</th>
              <th>Kind</th>
              <th>State</th>
              <th>Bundle</th>
              <th>Target</th>
              <th>Started by</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {props.runs.map((r) => (
              <tr>
                <td>
                  <a href={`/runs/${r.id}`}>#{r.id}</a>
                </td>
                <td>{r.kind}</td>
                <td class={`state-${r.state}`}>{r.state}</td>
                <td>
                  {r.bundle.title} ({r.bundle.id} serial {r.bundle.serial})
                </td>
                <td>{targetText(r.target)}</td>
                <td>{r.startedBy}</td>
                <td>{r.createdAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
