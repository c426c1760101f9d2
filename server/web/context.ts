/** What every route module of the web console gets: the database, the clock, the session check
 * for a role, and the fleet the server may act on. */
import type { Context, MiddlewareHandler } from 'hono';
import type { Db } from '../db/index.ts';
import type { Role, SessionRow, UserRow } from '../db/users.ts';
import type { Viewer } from '../../views/layout.tsx';
import type { Fleet } from './fleet.ts';
import type { RunManager } from './launch.ts';

export type Env = { Variables: { user: UserRow; session: SessionRow } };

export interface Deps {
  db: Db;
  now: () => Date;
  /** Refuses without a session (401 or a redirect to /login), with too small a role (403), and a
   * state change without the session's CSRF token (403). */
  need: (role: Role) => MiddlewareHandler<Env>;
  /** How often a live stream looks for new events in the database. */
  pollMs: number;
  fleet: Fleet;
  /** The runs this server owns (started from the console). */
  runs: RunManager;
}

export const viewerOf = (c: Context<Env>): Viewer => ({ name: c.get('user').name, role: c.get('user').role, csrfToken: c.get('session').csrfToken });
