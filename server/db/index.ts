/** Opening the database: create its directory, WAL, foreign keys, and apply migrations. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { AppError } from '../errors.ts';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const MIGRATIONS = resolve(dirname(fileURLToPath(import.meta.url)), '../../migrations');

export function openDatabase(path: string): Db {
  let sqlite: Database.Database;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    sqlite = new Database(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
  } catch (err) {
    throw new AppError('database', `cannot open database ${path}: ${(err as Error).message}`);
  }
  const db = drizzle(sqlite, { schema });
  try {
    // migrate() runs in one transaction, where PRAGMA foreign_keys is ignored: toggle it around.
    sqlite.pragma('foreign_keys = OFF');
    migrate(db, { migrationsFolder: MIGRATIONS });
    sqlite.pragma('foreign_keys = ON');
  } catch (err) {
    sqlite.close();
    throw new AppError('database', `cannot migrate database ${path}: ${(err as Error).message}`);
  }
  return db;
}

/** `build`'s statements for a connection, made on first use and kept for its life (prepared once,
 * not per row): the hot reads and writes of a run and its live page. */
export function perConnection<T>(build: (c: Database.Database) => T): (db: Db) => T {
  const cache = new WeakMap<Database.Database, T>();
  return (db) => {
    let s = cache.get(db.$client);
    if (s === undefined) cache.set(db.$client, (s = build(db.$client)));
    return s;
  };
}
