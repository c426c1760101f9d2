/** The database schema (drizzle, SQLite). Migrations in migrations/ are generated from this file
 * with `npm run db:generate`. */
import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

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
