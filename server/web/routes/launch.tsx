/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** New runs from the console: the form, the live plan preview, the start (operators), the
 * emergency page for critical bundles; and their JSON API. */
import type { Context, Hono } from 'hono';
import { errorInfo } from '../../errors.ts';
import { EmergencyPage, ErrorBox, NewRunPage, PreviewFragment, PreviewPage } from '../../../views/launch.tsx';
import { viewerOf, type Deps, type Env } from '../context.ts';
import { emergencyStrategy, planRequestFrom, previewPlan, strategyFromFields } from '../launch.ts';
import { listLibrary } from '../library.ts';
import { DEFAULT_STRATEGY } from '../../rollout/strategy.ts';

type Fields = Record<string, unknown>;

async function fields(c: Context<Env>): Promise<Fields> {
  if ((c.req.header('content-type') ?? '').startsWith('application/json')) {
    const body: unknown = await c.req.json().catch(() => null);
    return body && typeof body === 'object' && !Array.isArray(body) ? (body as Fields) : {};
  }
  return (await c.req.parseBody()) as Fields;
}

const status = (code: string) => (code === 'host-busy' ? 409 : code === 'internal' ? 500 : 400);

export function launchRoutes(app: Hono<Env>, { db, need, fleet, runs }: Deps): void {
  app.get('/runs/new', need('operator'), async (c) => {
    let bundles = [] as Awaited<ReturnType<typeof listLibrary>>;
    let error: string | undefined;
    try {
      bundles = await listLibrary(fleet);
    } catch (err) {
      error = errorInfo(err).message;
    }
    return c.html(<NewRunPage viewer={viewerOf(c)} bundles={bundles} inventories={fleet.inventories} bundle={c.req.query('bundle')} pattern={c.req.query('pattern')} error={error} />);
  });

  app.post('/runs/preview', need('operator'), async (c) => {
    const v = await fields(c);
    const htmx = c.req.header('hx-request') === 'true';
    try {
      const preview = await previewPlan(db, fleet, planRequestFrom(v));
      const emergency = v.emergency === '1';
      const strategy = emergency ? emergencyStrategy(preview.changing, fleet.config.forks) : { ...DEFAULT_STRATEGY, forks: fleet.config.forks };
      const fragment = <PreviewFragment preview={preview} strategy={strategy} csrfToken={c.get('session').csrfToken} emergency={emergency} />;
      return c.html(htmx ? fragment : <PreviewPage viewer={viewerOf(c)}>{fragment}</PreviewPage>);
    } catch (err) {
      const e = errorInfo(err);
      // htmx swaps only 2xx answers: the message must reach the page
      return htmx ? c.html(<ErrorBox message={e.message} />) : c.html(<PreviewPage viewer={viewerOf(c)}><ErrorBox message={e.message} /></PreviewPage>, status(e.code));
    }
  });

  const start = async (c: Context<Env>, v: Fields) => {
    if (v.expect !== undefined && String(v.confirm ?? '').trim() !== String(v.expect)) {
      return { error: { code: 'usage', message: `field confirm: type ${String(v.expect).slice(0, 10)}, the number of hosts to patch, to confirm` } };
    }
    try {
      const req = planRequestFrom(v);
      const strategy = strategyFromFields(typeof v.strategy === 'object' && v.strategy ? (v.strategy as Fields) : v, fleet.config.forks);
      const id = await runs.start({ ...req, sha256: typeof v.sha256 === 'string' ? v.sha256 : '', strategy, user: c.get('user').name });
      return { id };
    } catch (err) {
      return { error: errorInfo(err) };
    }
  };

  app.post('/runs', need('operator'), async (c) => {
    const r = await start(c, await fields(c));
    if ('id' in r) return c.redirect(`/runs/${r.id}`, 303);
    const bundles = await listLibrary(fleet).catch(() => []);
    return c.html(<NewRunPage viewer={viewerOf(c)} bundles={bundles} inventories={fleet.inventories} error={r.error.message} />, status(r.error.code));
  });

  app.get('/emergency/:name', need('operator'), async (c) => {
    const entry = (await listLibrary(fleet)).find((e) => e.name === c.req.param('name'));
    if (!entry || entry.refusal || !entry.manifest) return c.text(entry ? `bundle ${entry.name} is refused: ${entry.refusal?.message}` : 'no such bundle', entry ? 400 : 404);
    if (entry.manifest.severity !== 'critical') return c.text(`bundle ${entry.name} is ${entry.manifest.severity}, not critical: start it from New run`, 400);
    return c.html(<EmergencyPage viewer={viewerOf(c)} entry={entry} />);
  });

  app.post('/api/plan', need('operator'), async (c) => {
    try {
      return c.json(await previewPlan(db, fleet, planRequestFrom(await fields(c))));
    } catch (err) {
      const e = errorInfo(err);
      return c.json({ code: e.code, message: e.message }, status(e.code));
    }
  });

  app.post('/api/runs', need('operator'), async (c) => {
    const r = await start(c, await fields(c));
    return 'id' in r ? c.json({ run: r.id, url: `/runs/${r.id}` }, 201) : c.json({ code: r.error.code, message: r.error.message }, status(r.error.code));
  });
}
