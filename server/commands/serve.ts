/** `fleetpatch serve`: the web console on the listen address (127.0.0.1:8080 by default). */
import { serve } from '@hono/node-server';
import { openDatabase, type Db } from '../db/index.ts';
import { countUsers } from '../db/users.ts';
import { AppError, EXIT } from '../errors.ts';
import { createApp } from '../web/app.tsx';
import { configFrom } from './common.ts';
import type { Command } from './types.ts';

export function splitListen(listen: string): { hostname: string; port: number } {
  const at = listen.lastIndexOf(':');
  const port = Number(listen.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new AppError('usage', `--listen must be ADDRESS:PORT, got ${JSON.stringify(listen)}`);
  return { hostname: listen.slice(0, at).replace(/^\[|\]$/g, ''), port };
}

/** Binds the console; resolves with its URL once listening, and a close that ends open streams too. */
export function startConsole(db: Db, listen: string): Promise<{ url: string; close: () => Promise<void> }> {
  const { hostname, port } = splitListen(listen);
  const app = createApp({ db, listen });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }, (info) => {
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      const close = () =>
        new Promise<void>((done) => {
          server.close(() => done());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
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
  usage: 'fleetpatch serve [--listen ADDR:PORT] [--db FILE]',
  details: [
    '  --listen ADDR:PORT  address to bind (default 127.0.0.1:8080; also FLEETPATCH_LISTEN or the',
    '                      config file). Only this address and the loopback names are accepted',
    '                      in the Host header.',
    '  --db FILE           the database (default data/fleetpatch.db)',
    'Users are added with `fleetpatch user add NAME --role viewer|operator|admin`.',
  ].join('\n'),
  options: { listen: { type: 'string' }, db: { type: 'string' } },
  async run(ctx) {
    const config = configFrom(ctx);
    const listen = typeof ctx.values.listen === 'string' ? ctx.values.listen : config.listen;
    const database = typeof ctx.values.db === 'string' ? ctx.values.db : config.database;
    splitListen(listen);
    const db = openDatabase(database);
    try {
      for (const line of noUsersHint(db, database)) ctx.err(line);
      const { url, close } = await startConsole(db, listen);
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
