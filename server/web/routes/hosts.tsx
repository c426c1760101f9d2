/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** Hosts: the filtered table of known hosts, one host's page (page and API). */
import type { Hono } from 'hono';
import { HostPage } from '../../../views/host.tsx';
import { HostRows, HostsPage } from '../../../views/hosts.tsx';
import { viewerOf, type Deps, type Env } from '../context.ts';
import { hostDetail, hostsView } from '../data.ts';
import { filterHint, filterHosts } from '../host-filter.ts';

export function hostRoutes(app: Hono<Env>, { db, now, need, fleet }: Deps): void {
  const filtered = (pattern: string | undefined) => {
    const all = hostsView(db);
    return { all, result: filterHosts(fleet, all, pattern) };
  };

  app.get('/hosts', need('viewer'), (c) => {
    const { all, result } = filtered(c.req.query('pattern'));
    return c.html(<HostsPage viewer={viewerOf(c)} result={result} hint={filterHint(result.mode)} known={all.length} now={now()} />);
  });

  /** The table body for a pattern: what the filter input swaps in as you type. */
  app.get('/hosts/rows', need('viewer'), (c) => {
    const { all, result } = filtered(c.req.query('pattern'));
    // the address bar shows the filtered page, so a reload or a copied link keeps the filter
    if (c.req.header('hx-request')) c.header('hx-replace-url', result.pattern ? `/hosts?${new URLSearchParams({ pattern: result.pattern })}` : '/hosts');
    return c.html(<HostRows result={result} now={now()} known={all.length} />);
  });

  app.get('/hosts/:id{[0-9]+}', need('viewer'), (c) => {
    const host = hostDetail(db, Number(c.req.param('id')));
    if (!host) return c.text('no such host', 404);
    return c.html(<HostPage viewer={viewerOf(c)} host={host} now={now()} />);
  });

  app.get('/api/hosts', need('viewer'), (c) => {
    const { result } = filtered(c.req.query('pattern'));
    return result.error ? c.json(result.error, 400) : c.json(result.hosts);
  });

  app.get('/api/hosts/:id{[0-9]+}', need('viewer'), (c) => {
    const host = hostDetail(db, Number(c.req.param('id')));
    return host ? c.json(host) : c.json({ code: 'not-found', message: `no host ${c.req.param('id')}` }, 404);
  });
}
