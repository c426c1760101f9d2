/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The bundle library: what each bundle is, whether it is trusted, and where it applies. */
import type { LibraryEntry } from '../server/web/library.ts';
import { Layout, type Viewer } from './layout.tsx';

export interface Applicability {
  /** Action → hosts, planned on the facts last gathered; null when facts cannot decide (packages). */
  counts: Record<string, number> | null;
  note: string;
}

function signatureText(e: LibraryEntry): string {
  const s = e.signature;
  if (!s) return 'unreadable';
  if (s.state === 'trusted') return `trusted (key ${s.keyId})`;
  if (s.state === 'unsigned') return 'unsigned: refused';
  return `${s.state}: refused`;
}

export function BundlesPage(props: { viewer: Viewer; library: string | null; bundles: { entry: LibraryEntry; applicability: Applicability }[] }) {
  const operator = props.viewer.role !== 'viewer';
  return (
    <Layout title="Bundles" viewer={props.viewer}>
      <h1>Bundles</h1>
      {!props.library ? (
        <p>This server was started without a bundle library: restart it with <code>fleetpatch serve --bundles DIR</code>.</p>
      ) : props.bundles.length === 0 ? (
        <p>No bundle in {props.library}.</p>
      ) : (
        <table id="bundles">
          <thead>
            <tr>
              <th>Bundle</th>
              <th>Kind</th>
              <th>Title</th>
              <th>CVEs</th>
              <th>Severity</th>
              <th>Serial</th>
              <th>Signature</th>
              <th>Applies to (last facts)</th>
              {operator && <th></th>}
            </tr>
          </thead>
          <tbody>
            {props.bundles.map(({ entry: e, applicability: a }) => (
              <tr id={`bundle-${e.name}`}>
                <td>{e.name}</td>
                <td>{e.manifest?.kind ?? ''}</td>
                <td>{e.manifest?.title ?? ''}</td>
                <td>{e.manifest?.cves.join(', ') ?? ''}</td>
                <td class={e.manifest?.severity === 'critical' ? 'bad' : ''}>{e.manifest?.severity ?? ''}</td>
                <td>{e.manifest?.serial ?? ''}</td>
                <td class={e.refusal ? 'bad' : ''} title={e.refusal?.message ?? ''}>
                  {signatureText(e)}
                  {e.refusal && e.signature?.state === 'trusted' ? `; refused: ${e.refusal.message}` : ''}
                </td>
                <td>
                  {a.counts
                    ? Object.entries(a.counts)
                        .map(([k, v]) => `${v} ${k}`)
                        .join(', ') || 'no host known'
                    : ''}
                  {a.note && <span class="hint"> {a.note}</span>}
                </td>
                {operator && (
                  <td>
                    {!e.refusal && <a href={`/runs/new?bundle=${encodeURIComponent(e.name)}`}>New run</a>}{' '}
                    {!e.refusal && e.manifest?.severity === 'critical' && (
                      <a class="danger" href={`/emergency/${encodeURIComponent(e.name)}`}>
                        Emergency patch
                      </a>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
