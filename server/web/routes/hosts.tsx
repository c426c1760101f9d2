/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** Hosts: the table of known hosts (page and API). */
import type { Hono } from 'hono';
import { HostsPage } from '../../../views/hosts.tsx';
import { viewerOf, type Deps, type Env } from '../context.ts';
import { hostsView } from '../data.ts';

export function hostRoutes(app: Hono<Env>, { db, now, need }: Deps): void {
  app.get('/hosts', need('viewer'), (c) => c.html(<HostsPage viewer={viewerOf(c)} hosts={hostsView(db)} now={now()} />));
  app.get('/api/hosts', need('viewer'), (c) => c.json(hostsView(db)));
}
