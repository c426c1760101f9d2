/** Hosts and their latest facts. */
import { eq, sql } from 'drizzle-orm';
import type { Facts } from '../facts/types.ts';
import type { Db } from './index.ts';
import { hostNames, hosts } from './schema.ts';

/** Records facts for a machine reached under an inventory name; returns the host id. */
export function saveFacts(db: Db, inventoryName: string, address: string, facts: Facts, at = new Date()): number {
  return db.transaction((tx) => {
    const row = tx
      .insert(hosts)
      .values({ machineId: facts.machine_id, hostname: facts.hostname, facts, factsAt: at })
      .onConflictDoUpdate({ target: hosts.machineId, set: { hostname: facts.hostname, facts, factsAt: at } })
      .returning({ id: hosts.id })
      .get();
    tx.insert(hostNames)
      .values({ inventoryName, hostId: row.id, address, lastSeenAt: at })
      .onConflictDoUpdate({ target: hostNames.inventoryName, set: { hostId: row.id, address, lastSeenAt: at } })
      .run();
    return row.id;
  });
}

export interface StoredHost {
  id: number;
  machineId: string;
  hostname: string | null;
  facts: Facts;
  factsAt: Date;
  names: string[];
}

export function listHosts(db: Db): StoredHost[] {
  const rows = db
    .select({
      id: hosts.id,
      machineId: hosts.machineId,
      hostname: hosts.hostname,
      facts: hosts.facts,
      factsAt: hosts.factsAt,
      names: sql<string | null>`group_concat(${hostNames.inventoryName}, char(10))`,
    })
    .from(hosts)
    .leftJoin(hostNames, eq(hostNames.hostId, hosts.id))
    .groupBy(hosts.id)
    .orderBy(hosts.id)
    .all();
  return rows.map((r) => ({ ...r, facts: r.facts as Facts, names: r.names ? r.names.split('\n').sort() : [] }));
}
