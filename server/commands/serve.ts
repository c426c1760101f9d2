/** `fleetpatch serve`: the web console on the listen address (127.0.0.1:8080 by default). */
import { serve } from '@hono/node-server';
import { openDatabase } from '../db/index.ts';
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
    const { hostname, port } = splitListen(listen);
    const db = openDatabase(database);
    if (countUsers(db) === 0) {
      ctx.err('No user can log in yet. Create one with:');
      ctx.err(`  FLEETPATCH_DB=${database} fleetpatch user add NAME --role admin`);
    }
    const app = createApp({ db, listen });
    await new Promise<void>((resolve, reject) => {
      const server = serve({ fetch: app.fetch, hostname, port }, (info) => {
        const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        ctx.out(ctx.json ? JSON.stringify({ ok: true, url: `http://${shown}:${info.port}/` }) : `fleetpatch web console on http://${shown}:${info.port}/ (Ctrl-C stops it)`);
      });
      server.on('error', (err) => reject(new AppError('config', `cannot listen on ${listen}: ${err.message}`)));
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    db.$client.close();
    return EXIT.ok;
  },
};
