/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** Starting a run: choose inventory pattern and bundle → live plan preview (facts gathered now)
 * → strategy → confirm. The emergency page is the same preview with emergency defaults and a
 * typed confirmation of the host count. */
import type { HostPlan } from '../server/plan/index.ts';
import type { Strategy } from '../server/rollout/strategy.ts';
import { formatWaves } from '../server/rollout/strategy.ts';
import type { LibraryEntry } from '../server/web/library.ts';
import type { Preview } from '../server/web/launch.ts';
import { Layout, type Viewer } from './layout.tsx';

function planDetail(p: HostPlan): string {
  const a = p.plan;
  if (a.action === 'not-applicable' || a.action === 'unreachable') return a.reason;
  return [...(a.action === 'apply' && a.module ? [`module for ${a.module.release}`] : []), ...(a.action === 'apply' && a.replaces.length ? [`replaces ${a.replaces.join(', ')}`] : []), ...a.notes].join('; ');
}

function HostList(props: { title: string; id: string; hosts: HostPlan[] }) {
  if (!props.hosts.length) return <></>;
  return (
    <div class="callout" id={props.id}>
      <strong>
        {props.title}: {props.hosts.length}
      </strong>
      <ul>
        {props.hosts.map((p) => (
          <li>
            {p.host}: {planDetail(p)}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function ErrorBox(props: { message: string }) {
  return (
    <p class="error" id="form-error" role="alert">
      {props.message}
    </p>
  );
}

/** The preview, then the strategy and the confirm button (or a typed count for an emergency). */
export function PreviewFragment(props: { preview: Preview; strategy: Strategy; csrfToken: string; emergency: boolean }) {
  const p = props.preview;
  const s = props.strategy;
  const verb = p.kind === 'apply' ? 'Apply' : 'Roll back';
  return (
    <section id="plan">
      <h2>
        Plan: {p.kind} {p.bundleId} serial {p.serial} on <code>{p.pattern}</code>
      </h2>
      <p id="plan-counts">
        {Object.entries(p.counts)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ') || 'no host'}
        {' '}— {p.changing} host(s) will be changed.
      </p>
      <HostList title="Reboot needed (no module for their kernel build)" id="reboot-needed" hosts={p.rebootNeeded} />
      <HostList title="Rollback impossible (not patched; use the CLI's --irreversible to override)" id="rollback-impossible" hosts={p.rollbackImpossible} />
      <HostList title="Unreachable now" id="unreachable" hosts={p.unreachable} />
      <table id="plan-hosts">
        <thead>
          <tr>
            <th>Host</th>
            <th>Kernel</th>
            <th>Action</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {p.plans.map((h) => (
            <tr>
              <td>
                {h.host}
                {h.aliases.length ? ` (= ${h.aliases.join(', ')})` : ''}
              </td>
              <td>{h.kernel ?? '-'}</td>
              <td class={`state state-${h.plan.action}`}>{h.plan.action}</td>
              <td>{planDetail(h)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.changing === 0 ? (
        <p id="nothing-to-do">Nothing to do: no host needs this bundle {p.kind === 'apply' ? 'applied' : 'rolled back'}.</p>
      ) : (
        <form method="post" action="/runs" class="strategy" id="start-form">
          <input type="hidden" name="_csrf" value={props.csrfToken} />
          <input type="hidden" name="bundle" value={p.bundle} />
          <input type="hidden" name="sha256" value={p.sha256} />
          <input type="hidden" name="pattern" value={p.pattern} />
          <input type="hidden" name="kind" value={p.kind} />
          <fieldset>
            <legend>Strategy</legend>
            <label>
              Waves <input name="waves" value={formatWaves(s.waves)} required size={14} />
            </label>
            <label>
              Forks <input name="forks" value={String(s.forks)} inputmode="numeric" size={5} />
            </label>
            <label>
              Max failures <input name="max-failures" value={s.maxFailures === null ? '' : String(s.maxFailures)} inputmode="numeric" size={5} />
            </label>
            <label>
              Max fail % <input name="max-fail-percentage" value={s.maxFailPercentage === null ? '' : String(s.maxFailPercentage)} inputmode="numeric" size={4} />
            </label>
            <label>
              On failure{' '}
              <select name="on-failure">
                <option value="rollback-host" selected={s.onFailure === 'rollback-host'}>
                  roll back the failed host
                </option>
                <option value="rollback-all" selected={s.onFailure === 'rollback-all'}>
                  after a halt, roll back every host this run patched
                </option>
              </select>
            </label>
            {!props.emergency && (
              <label>
                <input type="checkbox" name="check" /> Check only (connect and preflight; change nothing)
              </label>
            )}
          </fieldset>
          {props.emergency ? (
            <>
              <input type="hidden" name="expect" value={String(p.changing)} />
              <label>
                Type the number of hosts to patch ({p.changing}) to confirm: <input name="confirm" id="confirm" autocomplete="off" required size={6} />
              </label>{' '}
              <button type="submit" class="danger">
                Patch {p.changing} host(s) now
              </button>
            </>
          ) : (
            <button type="submit">
              {verb} on {p.changing} host(s)
            </button>
          )}
        </form>
      )}
    </section>
  );
}

function BundleChoice(props: { bundles: LibraryEntry[]; selected?: string }) {
  return (
    <select name="bundle" id="bundle" required>
      <option value="">— choose a bundle —</option>
      {props.bundles.map((b) => (
        <option value={b.name} disabled={b.refusal !== null} selected={b.name === props.selected}>
          {b.name}: {b.manifest ? `${b.manifest.title} (${b.manifest.kind}, ${b.manifest.severity}, serial ${b.manifest.serial})` : ''}
          {b.refusal ? ` — refused: ${b.refusal.message}` : ''}
        </option>
      ))}
    </select>
  );
}

export function NewRunPage(props: { viewer: Viewer; bundles: LibraryEntry[]; inventories: string[]; bundle?: string; pattern?: string; error?: string }) {
  return (
    <Layout title="New run" viewer={props.viewer}>
      <h1>New run</h1>
      {!props.inventories.length && <ErrorBox message="This server was started without an inventory: restart it with fleetpatch serve --inventory PATH." />}
      <p>Inventory: {props.inventories.join(', ') || 'none'}</p>
      <form method="post" action="/runs/preview" hx-post="/runs/preview" hx-target="#preview" hx-swap="innerHTML" hx-disabled-elt="find button" id="plan-form">
        <input type="hidden" name="_csrf" value={props.viewer.csrfToken} />
        <label>
          Hosts (pattern) <input name="pattern" id="pattern" value={props.pattern ?? 'all'} required size={30} />
        </label>{' '}
        <label>
          Bundle <BundleChoice bundles={props.bundles} selected={props.bundle} />
        </label>{' '}
        <label>
          <select name="kind">
            <option value="apply">apply</option>
            <option value="rollback">roll back</option>
          </select>
        </label>{' '}
        <button type="submit">Preview plan</button>
      </form>
      <p class="hint">The preview connects to every targeted host now (gathering facts, as fleetpatch plan does); nothing is changed on them.</p>
      <div id="preview">{props.error && <ErrorBox message={props.error} />}</div>
    </Layout>
  );
}

/** A page holding only a preview (the no-JavaScript path of the preview form). */
export function PreviewPage(props: { viewer: Viewer; children: unknown }) {
  return (
    <Layout title="Plan" viewer={props.viewer}>
      <div id="preview">{props.children as never}</div>
    </Layout>
  );
}

export function EmergencyPage(props: { viewer: Viewer; entry: LibraryEntry }) {
  const m = props.entry.manifest!;
  return (
    <Layout title="Emergency patch" viewer={props.viewer}>
      <h1 class="bad">Emergency patch: {m.title}</h1>
      <p>
        {m.id} serial {m.serial}, {m.kind}, severity {m.severity}
        {m.cves.length ? `, ${m.cves.join(', ')}` : ''}. Defaults: a canary of one host, then all the others; many forks; halt after more than 2 % of the hosts (at least one) fail; each failed host is rolled back.
      </p>
      <div id="preview" hx-post="/runs/preview" hx-trigger="load" hx-vals={JSON.stringify({ bundle: props.entry.name, pattern: 'all', kind: 'apply', emergency: '1' })} hx-swap="innerHTML">
        <p>Gathering facts from every host of the inventory…</p>
      </div>
    </Layout>
  );
}
