/** One connection per host, opened on first use and reused for every later step; targets behind
 * jump hosts share the pool's bastion connections. */
import { BastionPool } from './bastions.ts';
import type { ConnectOptions, SshConnection } from './connect.ts';
import { SshConnection as Connection } from './connect.ts';
import type { SshTarget } from './target.ts';

export class ConnectionPool {
  private readonly open = new Map<string, Promise<SshConnection>>();
  readonly bastions: BastionPool;
  /** What every connection of this pool is opened with (a fresh connection uses it too). */
  readonly options: ConnectOptions;

  constructor(options: ConnectOptions) {
    this.bastions = options.bastions ?? new BastionPool(options);
    this.options = { ...options, bastions: this.bastions };
  }

  get(target: SshTarget): Promise<SshConnection> {
    const via = target.jump.map((j) => `${j.user}@${j.host}:${j.port}>`).join('');
    const key = `${via}${target.user}@${target.host}:${target.port}#${target.become?.user ?? ''}`;
    let conn = this.open.get(key);
    if (!conn) {
      conn = Connection.open(target, this.options);
      conn.then(
        (c) => c.onClose(() => this.open.get(key) === conn && this.open.delete(key)),
        () => this.open.delete(key),
      );
      this.open.set(key, conn);
    }
    return conn;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map(async (c) => (await c).close()));
    await this.bastions.closeAll();
  }
}
