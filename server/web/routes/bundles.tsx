/** @jsxRuntime automatic @jsxImportSource hono/jsx */
/** The bundle library page and API. Applicability is planned on the facts last gathered (for
 * livepatch bundles); a packages bundle's plan needs the hosts' package versions, read live. */
import type { Hono } from 'hono';
import { listHosts } from '../../db/hosts.ts';
import { appliedByMachine } from '../../db/runs.ts';
import { errorInfo } from '../../errors.ts';
import { planLivepatch } from '../../plan/livepatch.ts';
import { BundlesPage, type Applicability } from '../../../views/bundles.tsx';
import { viewerOf, type Deps, type Env } from '../context.ts';
import { listLibrary, type LibraryEntry } from '../library.ts';
import type { Db } from '../../db/index.ts';

function applicability(db: Db, e: LibraryEntry): Applicability {
  const m = e.manifest;
  if (!m) return { counts: null, note: '' };
  const counts: Record<string, number> = {};
  if (m.kind !== 'livepatch') {
    // the OS is in the facts; installed versions are read from the hosts when planning
    for (const h of listHosts(db)) {
      const os = `${h.facts.os.id}:${h.facts.os.version_id}`;
      const key = !m.packages.os.length || m.packages.os.includes(os) ? 'OS matches' : 'not-applicable (OS)';
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return { counts, note: '(package versions are checked by the plan)' };
  }
  for (const h of listHosts(db)) {
    const a = planLivepatch(m, h.facts, appliedByMachine(db, h.machineId));
    counts[a.action] = (counts[a.action] ?? 0) + 1;
  }
  return { counts, note: '' };
}

export function bundleRoutes(app: Hono<Env>, { db, need, fleet }: Deps): void {
  const view = async () => (await listLibrary(fleet)).map((entry) => ({ entry, applicability: applicability(db, entry) }));
  app.get('/bundles', need('viewer'), async (c) => c.html(<BundlesPage viewer={viewerOf(c)} library={fleet.bundlesDir} bundles={await view()} />));
  app.get('/api/bundles', need('viewer'), async (c) => {
    try {
      return c.json((await view()).map(({ entry, applicability: a }) => ({ ...entry, applicability: a })));
    } catch (err) {
      const e = errorInfo(err);
      return c.json({ code: e.code, message: e.message }, 500);
    }
  });
}
