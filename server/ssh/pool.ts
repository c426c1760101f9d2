/** One connection per host, opened on first use and reused for every later step; targets behind
 * jump hosts share the pool's bastion connections. A caller that is done with a host for now
 * releases it: the connection is then kept for a later `get` while at most `maxIdle` released
 * connections are open, and the oldest released one is closed beyond that — so a run over 1,000
 * hosts with forks 100 holds at most ≈200 busy or finished connections, not 1,000 for the whole run
 * (one that carried an upload held ≈0.6 MB: 1.3 GB of RSS at 1,000 hosts, docs/benchmarks.md).
 * A connection released with `keep` (a run's plan-time reach check of a host whose turn is still
 * to come) stays open for that turn, beyond `maxIdle`, up to `maxKept` of them: it has carried no
 * command, and closing it would cost the host a second handshake later. */
import { BastionPool } from './bastions.ts';
import type { ConnectOptions, SshConnection } from './connect.ts';
import { SshConnection as Connection } from './connect.ts';
import type { SshTarget } from './target.ts';

const keyOf = (target: SshTarget) => `${target.jump.map((j) => `${j.user}@${j.host}:${j.port}>`).join('')}${target.user}@${target.host}:${target.port}#${target.become?.user ?? ''}`;

export class ConnectionPool {
  private readonly open = new Map<string, Promise<SshConnection>>();
  /** How many callers hold each connection (got, not yet released). */
  private readonly users = new Map<string, number>();
  /** Released connections nobody holds, oldest first. */
  private readonly idle = new Set<string>();
  /** Released with `keep`: open for their host's turn, not counted in maxIdle. */
  private readonly kept = new Set<string>();
  readonly bastions: BastionPool;
  /** What every connection of this pool is opened with (a fresh connection uses it too). */
  readonly options: ConnectOptions;

  constructor(
    options: ConnectOptions,
    private readonly maxIdle = 0,
    private readonly maxKept = 0,
  ) {
    this.bastions = options.bastions ?? new BastionPool(options);
    this.options = { ...options, bastions: this.bastions };
  }

  get(target: SshTarget): Promise<SshConnection> {
    const key = keyOf(target);
    this.idle.delete(key);
    this.kept.delete(key);
    this.users.set(key, (this.users.get(key) ?? 0) + 1);
    let conn = this.open.get(key);
    if (!conn) {
      conn = Connection.open(target, this.options);
      const forget = () => {
        if (this.open.get(key) !== conn) return;
        this.open.delete(key);
        this.idle.delete(key);
        this.kept.delete(key);
      };
      conn.then((c) => c.onClose(forget), forget);
      this.open.set(key, conn);
    }
    return conn;
  }

  /** The caller is done with `target`'s connection for now (one `release` per `get`); `keep`: it
   * will be wanted again, so it stays open while fewer than maxKept are kept so. */
  release(target: SshTarget, keep = false): void {
    const key = keyOf(target);
    const users = (this.users.get(key) ?? 0) - 1;
    if (users > 0) return void this.users.set(key, users);
    this.users.delete(key);
    if (!this.open.has(key)) return;
    if (keep && this.kept.size < this.maxKept) return void this.kept.add(key);
    this.idle.add(key);
    for (const oldest of this.idle) {
      if (this.idle.size <= this.maxIdle) break;
      this.idle.delete(oldest);
      const conn = this.open.get(oldest)!;
      this.open.delete(oldest);
      conn.then(
        (c) => c.close(),
        () => undefined,
      );
    }
  }

  /** Connections open or opening (held and idle). */
  get size(): number {
    return this.open.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    this.idle.clear();
    this.kept.clear();
    this.users.clear();
    await Promise.allSettled(all.map(async (c) => (await c).close()));
    await this.bastions.closeAll();
  }
}
