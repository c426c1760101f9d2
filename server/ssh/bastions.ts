/** Connections to jump hosts, shared by every target behind them: a target's connection is a
 * forward (direct-tcpip) over a bastion connection; a bastion gets a second connection only when
 * its first already carries many targets. Deeper hops are reached through the hops before them. */
import type { Duplex } from 'node:stream';
import { type ConnectOptions, SshConnection } from './connect.ts';
import type { SshEndpoint, SshTarget } from './target.ts';

/** Targets carried by one bastion connection before another is opened… */
const TUNNELS_PER_CONNECTION = 16;
/** …up to this many connections per bastion; past that the least loaded one is shared. */
const CONNECTIONS_PER_BASTION = 4;

interface Entry {
  conn: Promise<SshConnection>;
  tunnels: number;
}

export interface Tunnel {
  stream: Duplex;
  release(): void;
}

export class BastionPool {
  private readonly entries = new Map<string, Entry[]>();
  /** Connections opened to each bastion chain so far (for tests and diagnostics). */
  readonly opened = new Map<string, number>();

  constructor(private readonly opts: ConnectOptions) {}

  /** A stream to host:port opened by the last of `hops`. */
  async tunnel(hops: SshEndpoint[], host: string, port: number): Promise<Tunnel> {
    const key = chainKey(hops);
    const list = this.entries.get(key) ?? [];
    this.entries.set(key, list);
    const entry = this.pick(list) ?? this.add(list, key, hops);
    entry.tunnels++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      entry.tunnels--;
    };
    try {
      const conn = await entry.conn;
      const stream = await conn.forward(host, port, this.opts.timeoutMs);
      stream.once('close', release);
      return { stream, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()].flat();
    this.entries.clear();
    await Promise.allSettled(all.map(async (e) => (await e.conn).close()));
  }

  private pick(list: Entry[]): Entry | null {
    const least = [...list].sort((a, b) => a.tunnels - b.tunnels)[0];
    if (!least) return null;
    if (least.tunnels < TUNNELS_PER_CONNECTION || list.length >= CONNECTIONS_PER_BASTION) return least;
    return null;
  }

  private add(list: Entry[], key: string, hops: SshEndpoint[]): Entry {
    const last = hops[hops.length - 1]!;
    const target: SshTarget = { ...last, password: null, become: null, jump: hops.slice(0, -1), remoteDir: null };
    const entry: Entry = { conn: SshConnection.open(target, { ...this.opts, bastions: this }), tunnels: 0 };
    const drop = () => {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
    };
    entry.conn.then((c) => c.onClose(drop), drop);
    list.push(entry);
    this.opened.set(key, (this.opened.get(key) ?? 0) + 1);
    return entry;
  }
}

function chainKey(hops: SshEndpoint[]): string {
  return hops.map((h) => `${h.user}@${h.host}:${h.port}`).join('>');
}
