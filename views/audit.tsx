/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { Layout, type Viewer } from './layout.tsx';

export interface AuditEntry {
  who: string;
  what: string;
  detail: unknown;
  at: Date;
}

export function AuditPage(props: { viewer: Viewer; entries: AuditEntry[] }) {
  return (
    <Layout title="Audit" viewer={props.viewer}>
      <h1>Audit</h1>
      <table id="audit">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {props.entries.map((e) => (
            <tr>
              <td>{e.at.toISOString()}</td>
              <td>{e.who}</td>
              <td>{e.what}</td>
              <td>
                <code>{JSON.stringify(e.detail)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}
