/** The database schema (drizzle, SQLite). Migrations in migrations/ are generated from this file
 * with `npm run db:generate`. */
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** A machine, identified by its /etc/machine-id: two inventory names for one machine are one host. */
export const hosts = sqliteTable('hosts', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  machineId: text('machine_id').notNull().unique(),
  hostname: text('hostname'),
  /** The latest facts the helper reported, as JSON. */
  facts: text('facts', { mode: 'json' }).notNull(),
  factsAt: integer('facts_at', { mode: 'timestamp_ms' }).notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(sql`(unixepoch() * 1000)`),
});

/** Inventory names and the machine each one reached when last contacted. */
export const hostNames = sqliteTable(
  'host_names',
  {
    inventoryName: text('inventory_name').primaryKey(),
    hostId: integer('host_id')
      .notNull()
      .references(() => hosts.id, { onDelete: 'cascade' }),
    address: text('address').notNull(),
    lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('host_names_host_id').on(t.hostId)],
);

/** A run: the execution of a plan with a strategy. Lease columns (owner, heartbeat) let another
 * process follow it and tell a dead owner from a live one. */
export const runs = sqliteTable('runs', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** apply | rollback */
  kind: text('kind').notNull(),
  /** planned | running | succeeded | failed | halted | cancelled | interrupted */
  state: text('state').notNull(),
  bundleId: text('bundle_id').notNull(),
  bundleSerial: integer('bundle_serial').notNull(),
  bundleSha256: text('bundle_sha256').notNull(),
  bundleTitle: text('bundle_title').notNull(),
  /** The trusted key that signed the bundle; null for an unsigned one (a command-line-only override). */
  bundleKeyId: text('bundle_key_id'),
  /** {inventories: string[], pattern: string} */
  target: text('target', { mode: 'json' }).notNull(),
  inventoryHash: text('inventory_hash').notNull(),
  /** {forks: number, ...} */
  strategy: text('strategy', { mode: 'json' }).notNull(),
  /** The inventory's git commit and whether its work tree had changes, when it lives in git. */
  inventoryCommit: text('inventory_commit'),
  inventoryDirty: integer('inventory_dirty', { mode: 'boolean' }),
  /** Set by `fleetpatch cancel` (or the web); the owner acts on it. */
  cancelRequestedAt: integer('cancel_requested_at', { mode: 'timestamp_ms' }),
  /** Why the run halted, when it did. */
  haltReason: text('halt_reason'),
  startedBy: text('started_by').notNull(),
  owner: text('owner'),
  ownerPid: integer('owner_pid'),
  heartbeatAt: integer('heartbeat_at', { mode: 'timestamp_ms' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
});

/** One host's result in a run. */
export const hostResults = sqliteTable(
  'host_results',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: integer('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    inventoryName: text('inventory_name').notNull(),
    /** Other inventory names that reached the same machine (collapsed duplicates). */
    aliases: text('aliases', { mode: 'json' }).notNull().default(sql`'[]'`),
    hostId: integer('host_id').references(() => hosts.id),
    /** 1-based wave number; null for hosts left out of the waves (unreachable at plan time). */
    wave: integer('wave'),
    /** pending | running | applied | already-applied | rolled-back | rollback-failed | failed | unreachable | not-applicable | skipped */
    state: text('state').notNull(),
    reason: text('reason'),
    opId: text('op_id'),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
  },
  (t) => [index('host_results_run_id').on(t.runId)],
);

/** One stage of one host in a run: connect, facts, reconcile, plan, push, apply, check, rollback, verify-rollback. */
export const steps = sqliteTable(
  'steps',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hostResultId: integer('host_result_id')
      .notNull()
      .references(() => hostResults.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** running | ok | failed | skipped */
    status: text('status').notNull(),
    detail: text('detail'),
    output: text('output'),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
  },
  (t) => [index('steps_host_result_id').on(t.hostResultId)],
);

/** Persisted state changes, in order (the id is the SSE event id). */
export const events = sqliteTable(
  'events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: integer('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    hostResultId: integer('host_result_id'),
    type: text('type').notNull(),
    data: text('data', { mode: 'json' }).notNull(),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('events_run_id').on(t.runId, t.id)],
);

/** What fleetpatch applied to a machine and still believes in effect: the basis of drift. */
export const hostPatches = sqliteTable(
  'host_patches',
  {
    hostId: integer('host_id')
      .notNull()
      .references(() => hosts.id, { onDelete: 'cascade' }),
    bundleId: text('bundle_id').notNull(),
    serial: integer('serial').notNull(),
    /** The livepatch name in /sys/kernel/livepatch. */
    patch: text('patch').notNull(),
    runId: integer('run_id').references(() => runs.id),
    appliedAt: integer('applied_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.hostId, t.patch] })],
);

/** A local user of the web console. The password is stored as an scrypt hash with its own salt. */
export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  /** viewer | operator | admin */
  role: text('role').notNull(),
  /** `scrypt$N$r$p$salt-b64$hash-b64` */
  passwordHash: text('password_hash').notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
});

/** A logged-in browser: a random id (the cookie), its CSRF token and when it expires. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('sessions_user_id').on(t.userId)],
);

/** Who did what, when: logins, runs started or cancelled, users added. */
export const audit = sqliteTable('audit', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** A user name, or `cli:<os user>` for the command line. */
  who: text('who').notNull(),
  /** login | login-failed | logout | user-add | run-start | run-cancel … */
  what: text('what').notNull(),
  detail: text('detail', { mode: 'json' }).notNull(),
  at: integer('at', { mode: 'timestamp_ms' }).notNull(),
});

/** A per-user API token: only its sha256 is stored; the token itself is shown once. */
export const apiTokens = sqliteTable(
  'api_tokens',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    label: text('label').notNull(),
    /** sha256 hex of the token (tokens are 256 random bits: a plain hash is enough). */
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
  },
  (t) => [index('api_tokens_user_id').on(t.userId)],
);
