/** `fleetpatch serve`: the web console on the listen address (127.0.0.1:8080 by default). */
import { serve } from '@hono/node-server';
import { openDatabase, type Db } from '../db/index.ts';
import { countUsers } from '../db/users.ts';
import { AppError, EXIT } from '../errors.ts';
import { createApp } from '../web/app.tsx';
import { resolve } from 'node:path';
import { configFrom, INVENTORY_OPTIONS, inventoryOptionsFrom } from './common.ts';
import { fleetInventory, type Fleet } from '../web/fleet.ts';
import { RunManager } from '../web/launch.ts';
import { validAllowedHost } from '../web/security.ts';
import type { Command } from './types.ts';

export function splitListen(listen: string): { hostname: string; port: number } {
  const at = listen.lastIndexOf(':');
  const port = Number(listen.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new AppError('usage', `--listen must be ADDRESS:PORT, got ${JSON.stringify(listen)}`);
  return { hostname: listen.slice(0, at).replace(/^\[|\]$/g, ''), port };
}

/** Binds the console; resolves with its URL once listening, and a close that ends open streams too. */
export function startConsole(db: Db, listen: string, fleet?: Fleet, allowedHosts: string[] = []): Promise<{ url: string; close: () => Promise<void> }> {
  const { hostname, port } = splitListen(listen);
  const runs = fleet ? new RunManager(db, fleet) : undefined;
  const app = createApp({ db, listen, allowedHosts, ...(fleet ? { fleet } : {}), ...(runs ? { runs } : {}) });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }, (info) => {
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      // runs this server owns are cancelled and finished first: no host is abandoned mid-patch
      const close = async () => {
        await runs?.close();
        await new Promise<void>((done) => {
          server.close(() => done());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
      };
      resolve({ url: `http://${shown}:${info.port}/`, close });
    });
    server.on('error', (err) => reject(new AppError('config', `cannot listen on ${listen}: ${err.message}`)));
  });
}

/** What a first start without users says. */
export function noUsersHint(db: Db, database: string): string[] {
  return countUsers(db) === 0 ? ['No user can log in yet. Create one with:', `  FLEETPATCH_DB=${database} fleetpatch user add NAME --role admin`] : [];
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the web console',
  usage: 'fleetpatch serve [--listen ADDR:PORT] [--db FILE] [-i INVENTORY]... [--bundles DIR]',
  details: [
    '  --listen ADDR:PORT  address to bind (default 127.0.0.1:8080; also FLEETPATCH_LISTEN or the',
    '                      config file). Only this address and the loopback names are accepted',
    '                      in the Host header.',
    '  --db FILE           the database (default data/fleetpatch.db)',
    '  -i, --inventory P   inventory the console plans and runs on (repeatable; read again for',
    '                      every request, so a git pull shows at once)',
    '  --bundles DIR       bundle library: each subdirectory holding a signed bundle is offered',
    '                      (only bundles signed by a trusted key can be run; no unsigned path)',
    '  --allowed-host NAME[:PORT]  also answer to this Host header (repeatable): the name users',
    '                      type when the console listens beyond loopback or sits behind a proxy',
    '  --vault-password-file F, --ansible-cfg F   as for the other inventory commands',
    'Users are added with `fleetpatch user add NAME --role viewer|operator|admin`.',
  ].join('\n'),
  options: { listen: { type: 'string' }, db: { type: 'string' }, bundles: { type: 'string' }, 'allowed-host': { type: 'string', multiple: true }, ...INVENTORY_OPTIONS },
  async run(ctx) {
    const config = configFrom(ctx);
    const listen = typeof ctx.values.listen === 'string' ? ctx.values.listen : config.listen;
    const database = typeof ctx.values.db === 'string' ? ctx.values.db : config.database;
    splitListen(listen);
    const db = openDatabase(database);
    try {
      for (const line of noUsersHint(db, database)) ctx.err(line);
      const fleet: Fleet = {
        inventories: ((ctx.values.inventory as string[] | undefined) ?? []).map((p) => resolve(p)),
        bundlesDir: typeof ctx.values.bundles === 'string' ? resolve(ctx.values.bundles) : null,
        config,
        loadOptions: inventoryOptionsFrom(ctx),
      };
      if (fleet.inventories.length) fleetInventory(fleet); // a broken inventory fails the start, not the first page
      const extraHosts = (ctx.values['allowed-host'] as string[] | undefined) ?? [];
      const bad = extraHosts.find((h) => !validAllowedHost(h));
      if (bad !== undefined) throw new AppError('usage', `--allowed-host ${JSON.stringify(bad)}: expected NAME or NAME:PORT (a DNS name, IPv4 address or [IPv6])`);
      const { url, close } = await startConsole(db, listen, fleet, extraHosts);
      ctx.out(ctx.json ? JSON.stringify({ ok: true, url }) : `fleetpatch web console on ${url} (Ctrl-C stops it)`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    } finally {
      db.$client.close();
    }
    return EXIT.ok;
  },
};
