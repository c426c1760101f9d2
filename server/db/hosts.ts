/** Hosts and their latest facts. */
import { eq, sql } from 'drizzle-orm';
import type { Facts } from '../facts/types.ts';
import { perConnection, type Db } from './index.ts';
import { inTransaction } from './run-log.ts';
import { hostNames, hosts } from './schema.ts';

// prepared once per connection: saveFacts runs for every host of every run and facts gathering
const statements = perConnection((c) => ({
  host: c.prepare<[string, string | null, string, number]>(
    'INSERT INTO hosts (machine_id, hostname, facts, facts_at) VALUES (?, ?, ?, ?) ON CONFLICT (machine_id) DO UPDATE SET hostname = excluded.hostname, facts = excluded.facts, facts_at = excluded.facts_at RETURNING id',
  ),
  name: c.prepare<[string, number, string, number]>(
    'INSERT INTO host_names (inventory_name, host_id, address, last_seen_at) VALUES (?, ?, ?, ?) ON CONFLICT (inventory_name) DO UPDATE SET host_id = excluded.host_id, address = excluded.address, last_seen_at = excluded.last_seen_at',
  ),
}));

/** Records facts for a machine reached under an inventory name; returns the host id. */
export function saveFacts(db: Db, inventoryName: string, address: string, facts: Facts, at = new Date()): number {
  const s = statements(db);
  return inTransaction(db, () => {
    const { id } = s.host.get(facts.machine_id, facts.hostname, JSON.stringify(facts), at.getTime()) as { id: number };
    s.name.run(inventoryName, id, address, at.getTime());
    return id;
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
