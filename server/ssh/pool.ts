/** One connection per host, opened on first use and reused for every later step. */
import type { ConnectOptions, SshConnection } from './connect.ts';
import { SshConnection as Connection } from './connect.ts';
import type { SshTarget } from './target.ts';

export class ConnectionPool {
  private readonly open = new Map<string, Promise<SshConnection>>();

  constructor(private readonly opts: ConnectOptions) {}

  get(target: SshTarget): Promise<SshConnection> {
    const key = `${target.user}@${target.host}:${target.port}`;
    let conn = this.open.get(key);
    if (!conn) {
      conn = Connection.open(target, this.opts);
      conn.catch(() => this.open.delete(key));
      this.open.set(key, conn);
    }
    return conn;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map(async (c) => (await c).close()));
  }
}
