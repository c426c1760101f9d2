/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The audit log (admins only). */
import type { Hono } from 'hono';
import { listAudit } from '../../db/users.ts';
import { AuditPage } from '../../../views/audit.tsx';
import { viewerOf, type Deps, type Env } from '../context.ts';

export function auditRoutes(app: Hono<Env>, { db, need }: Deps): void {
  app.get('/audit', need('admin'), (c) => c.html(<AuditPage viewer={viewerOf(c)} entries={listAudit(db)} />));
  app.get('/api/audit', need('admin'), (c) => c.json(listAudit(db)));
}
