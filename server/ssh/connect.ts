/** One SSH connection to one host: strict host key checking against the configured known_hosts,
 * key authentication, a bounded connect time, and exec with optional stdin. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import PQueue from 'p-queue';
import ssh2 from 'ssh2';
import { AppError } from '../errors.ts';
import type { KnownHosts } from './known-hosts.ts';
import type { SshTarget } from './target.ts';

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  stdin?: Buffer;
  /** Gives up (and reports the host unreachable) when the command has not finished by then. */
  timeoutMs?: number;
  /** Output beyond this is a protocol error: a host cannot exhaust the controller's memory. */
  maxOutputBytes?: number;
}

/** The writable end of a running remote command. */
export interface Channel {
  write(data: string | Buffer): void;
  end(data?: string | Buffer): void;
}

export interface ConnectOptions {
  knownHosts: KnownHosts;
  timeoutMs: number;
}

/** Channels opened at once per connection: OpenSSH's MaxSessions defaults to 10. */
const CHANNELS_PER_CONNECTION = 4;
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export class SshConnection {
  private readonly channels = new PQueue({ concurrency: CHANNELS_PER_CONNECTION });
  private closedError: AppError | null = null;

  private constructor(
    readonly target: SshTarget,
    private readonly client: ssh2.Client,
  ) {
    client.on('close', () => {
      this.closedError ??= new AppError('unreachable', `${describe(target)}: connection closed`);
    });
    client.on('error', (err) => {
      this.closedError = new AppError('unreachable', `${describe(target)}: connection lost: ${err.message}`);
    });
  }

  static async open(target: SshTarget, opts: ConnectOptions): Promise<SshConnection> {
    const auth = credentials(target);
    const known = opts.knownHosts.keyTypes(target.host, target.port);
    let rejection: AppError | null = null;
    const client = new ssh2.Client();
    await new Promise<void>((resolveReady, reject) => {
      const fail = (err: Error & { level?: string; code?: string }) => {
        client.removeAllListeners('ready');
        client.end();
        reject(rejection ?? connectError(target, err, opts.timeoutMs));
      };
      client.once('ready', () => {
        client.removeListener('error', fail);
        resolveReady();
      });
      client.once('error', fail);
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        ...auth,
        readyTimeout: opts.timeoutMs,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        tryKeyboard: false,
        algorithms: { serverHostKey: hostKeyAlgorithms(known) },
        hostVerifier: (key: Buffer) => {
          try {
            opts.knownHosts.check(target.host, target.port, key);
            return true;
          } catch (err) {
            rejection = err as AppError;
            return false;
          }
        },
      });
    });
    return new SshConnection(target, client);
  }

  /** Runs a command line (already quoted, see quote.ts) and collects its output. */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.channels.add(async () => {
      const ch = await this.openChannel(command, opts);
      ch.end(opts.stdin);
      return ch.done;
    }) as Promise<ExecResult>;
  }

  /** Runs a command whose stdin stays open: `onStdout` sees output as it arrives, and the caller
   * writes to the command and ends its input when it decides to. */
  interact(command: string, onStdout: (chunk: Buffer, channel: Channel) => void, opts: Omit<ExecOptions, 'stdin'> = {}): Promise<ExecResult> {
    return this.channels.add(async () => (await this.openChannel(command, { ...opts, onStdout })).done) as Promise<ExecResult>;
  }

  private openChannel(command: string, opts: ExecOptions & { onStdout?: (chunk: Buffer, channel: Channel) => void }): Promise<Channel & { done: Promise<ExecResult> }> {
    if (this.closedError) return Promise.reject(this.closedError);
    const max = opts.maxOutputBytes ?? 16 * 1024 * 1024;
    return new Promise((resolveOpen, rejectOpen) => {
      this.client.exec(command, (err, stream) => {
        if (err) return rejectOpen(new AppError('unreachable', `${describe(this.target)}: cannot open a session: ${err.message}`));
        const channel: Channel = {
          write: (data) => void stream.write(data),
          end: (data) => void stream.end(data),
        };
        const done = new Promise<ExecResult>((resolveExec, reject) => {
          const out: Buffer[] = [];
          const errOut: Buffer[] = [];
          let size = 0;
          let settled = false;
          const finish = (fn: () => void) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            this.client.removeListener('close', onClose);
            fn();
          };
          const onClose = () => finish(() => reject(this.closedError ?? new AppError('unreachable', `${describe(this.target)}: connection closed during a command`)));
          this.client.once('close', onClose);
          const timer = opts.timeoutMs
            ? setTimeout(() => {
                finish(() => reject(new AppError('unreachable', `${describe(this.target)}: no answer within ${opts.timeoutMs! / 1000} s`)));
                stream.close();
              }, opts.timeoutMs)
            : undefined;
          const collect = (into: Buffer[], tap?: (chunk: Buffer) => void) => (chunk: Buffer) => {
            size += chunk.length;
            if (size > max) {
              finish(() => reject(new AppError('helper-protocol', `${describe(this.target)}: command output exceeds ${max} bytes`)));
              stream.close();
              return;
            }
            into.push(chunk);
            tap?.(chunk);
          };
          stream.on('data', collect(out, opts.onStdout && ((chunk) => opts.onStdout!(chunk, channel))));
          stream.stderr.on('data', collect(errOut));
          stream.on('close', (code: number | null, signal: string | null) =>
            finish(() => resolveExec({ stdout: Buffer.concat(out), stderr: Buffer.concat(errOut), code: code ?? null, signal: signal ?? null })),
          );
        });
        resolveOpen({ ...channel, done });
      });
    });
  }

  close(): void {
    this.closedError ??= new AppError('unreachable', `${describe(this.target)}: connection closed`);
    this.client.end();
  }
}

export function describe(t: SshTarget): string {
  return `${t.name} (${t.user}@${t.host}:${t.port})`;
}

function credentials(t: SshTarget): { privateKey?: Buffer; agent?: string } {
  if (t.privateKeyFile) {
    const path = resolve(t.privateKeyFile.replace(/^~(?=\/)/, homedir()));
    try {
      return { privateKey: readFileSync(path) };
    } catch (err) {
      throw new AppError('inventory', `host ${t.name}: cannot read ansible_ssh_private_key_file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  if (process.env.SSH_AUTH_SOCK) return { agent: process.env.SSH_AUTH_SOCK };
  for (const name of DEFAULT_IDENTITIES) {
    try {
      return { privateKey: readFileSync(resolve(homedir(), '.ssh', name)) };
    } catch {
      // try the next default identity, as ssh does
    }
  }
  throw new AppError('auth-failed', `host ${t.name}: no credentials: set ansible_ssh_private_key_file, or run an ssh-agent`);
}

/** Offer the key types known_hosts has for the host first, as OpenSSH does. */
function hostKeyAlgorithms(knownTypes: string[]): ssh2.ServerHostKeyAlgorithm[] {
  const all: ssh2.ServerHostKeyAlgorithm[] = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ];
  const algOf = (alg: string) => (alg.startsWith('rsa-sha2') ? 'ssh-rsa' : alg);
  const preferred = all.filter((a) => knownTypes.includes(algOf(a)));
  return [...preferred, ...all.filter((a) => !preferred.includes(a))];
}

function connectError(t: SshTarget, err: Error & { level?: string; code?: string }, timeoutMs: number): AppError {
  if (err instanceof AppError) return err;
  if (err.level === 'client-authentication') {
    return new AppError('auth-failed', `${describe(t)}: authentication refused (tried ${t.privateKeyFile ? `key ${t.privateKeyFile}` : 'agent/default keys'})`);
  }
  if (err.level === 'client-timeout' || /timed out/i.test(err.message)) {
    return new AppError('unreachable', `${describe(t)}: no SSH answer within ${timeoutMs / 1000} s`);
  }
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused (sshd not running?)',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connect timed out',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'name not found',
    EAI_AGAIN: 'name lookup failed',
  };
  return new AppError('unreachable', `${describe(t)}: ${(err.code && why[err.code]) ?? err.message}`);
}
