/** `fleetpatch hosts`: the machines in the database and their latest facts. */
import { openDatabase } from '../db/index.ts';
import { listHosts } from '../db/hosts.ts';
import { EXIT } from '../errors.ts';
import { configFrom } from './common.ts';
import { table } from './table.ts';
import type { Command } from './types.ts';

export const hostsCommand: Command = {
  name: 'hosts',
  summary: 'list known machines (by machine-id) with their latest facts',
  usage: 'fleetpatch hosts [--json]',
  details: 'Reads only the database: run `fleetpatch facts` to refresh it.',
  options: {},
  async run(ctx) {
    const db = openDatabase(configFrom(ctx).database);
    try {
      const hosts = listHosts(db);
      ctx.out(
        ctx.json
          ? JSON.stringify(hosts, null, 2)
          : table(
              ['MACHINE-ID', 'NAMES', 'HOSTNAME', 'KERNEL', 'FACTS AT'],
              hosts.map((h) => [h.machineId, h.names.join(','), h.hostname ?? '', h.facts.uname.release, h.factsAt.toISOString()]),
            ),
      );
      return EXIT.ok;
    } finally {
      db.$client.close();
    }
  },
};
