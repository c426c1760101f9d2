/** One SSH connection to one host: strict host key checking against the configured known_hosts
 * (every hop), the credentials of auth.ts tried once each, jump hosts through a shared pool of
 * bastion connections, a bounded connect time with bounded retries of transient failures,
 * keepalive, a few channels at once, and commands run through sudo when the host has become. */
import type { Duplex } from 'node:stream';
import PQueue from 'p-queue';
import ssh2 from 'ssh2';
import { AppError } from '../errors.ts';
import { appendAudit } from './audit.ts';
import { authHandler, authPlan } from './auth.ts';
import { BastionPool } from './bastions.ts';
import { becomeCommand, becomeFailure } from './become.ts';
import { fingerprint, lookupName, type KnownHosts } from './known-hosts.ts';
import { sshSettings, type SshSettings } from './settings.ts';
import type { SshEndpoint, SshTarget } from './target.ts';

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  stdin?: Buffer;
  /** Gives up (`timeout`) when the command has not finished by then. */
  timeoutMs?: number;
  /** Output beyond this is a protocol error: a host cannot exhaust the controller's memory. */
  maxOutputBytes?: number;
  /** Run as the login user even when the host has become (sudo). */
  asLoginUser?: boolean;
}

/** The writable end of a running remote command. */
export interface Channel {
  write(data: string | Buffer): void;
  end(data?: string | Buffer): void;
  /** Closes the session now, whatever the command is doing (its result then has no exit code). */
  close(): void;
  /** Bytes the command has written to stderr so far. */
  stderrBytes(): number;
}

export interface ConnectOptions {
  knownHosts: KnownHosts;
  /** Bound on TCP connect + SSH handshake + authentication, per hop. */
  timeoutMs: number;
  /** Overrides of the process's SSH settings (settings.ts). */
  settings?: Partial<SshSettings>;
  /** Shared bastion connections; without it a connection through jump hosts opens its own. */
  bastions?: BastionPool;
}

/** Channels opened at once per connection: OpenSSH's MaxSessions defaults to 10. */
const CHANNELS_PER_CONNECTION = 4;
/** Transient connect failures (refused while sshd restarts, reset, DNS hiccup) are retried. */
const CONNECT_RETRIES = 2;
const RETRY_BASE_MS = 250;
/** Targets whose sudo let a command run in this process (this connection or an earlier one to the
 * same target): a later refusal means sudo changed on the host mid-run, and says so. */
const becameRoot = new WeakSet<SshTarget>();

export class SshConnection {
  private readonly channels = new PQueue({ concurrency: CHANNELS_PER_CONNECTION });
  private closedError: AppError | null = null;
  private readonly closeHandlers: (() => void)[] = [];
  /** Per-connection facts learnt on the host (e.g. the remote dir in use), for helper/remote.ts. */
  readonly memo = new Map<string, unknown>();

  private constructor(
    readonly target: SshTarget,
    private readonly client: ssh2.Client,
    readonly settings: SshSettings,
    private readonly release: () => void,
  ) {
    client.on('close', () => {
      this.closedError ??= new AppError('channel', `${describe(target)}: connection closed`);
      this.release();
      for (const h of this.closeHandlers.splice(0)) h();
    });
    client.on('error', (err) => {
      this.closedError = new AppError('channel', `${describe(target)}: connection lost: ${err.message}`);
    });
  }

  static async open(target: SshTarget, opts: ConnectOptions): Promise<SshConnection> {
    const settings = sshSettings(opts.settings);
    for (let attempt = 0; ; attempt++) {
      try {
        return await SshConnection.openOnce(target, opts, settings);
      } catch (err) {
        if (!(err instanceof AppError && isTransient(err)) || attempt >= CONNECT_RETRIES) throw err;
        await new Promise((r) => setTimeout(r, RETRY_BASE_MS * 3 ** attempt));
      }
    }
  }

  private static async openOnce(target: SshTarget, opts: ConnectOptions, settings: SshSettings): Promise<SshConnection> {
    let own: BastionPool | null = null;
    let tunnel: { stream: Duplex; release(): void } | null = null;
    const cleanup = () => {
      tunnel?.release();
      void own?.closeAll();
    };
    try {
      if (target.jump.length) {
        const bastions = opts.bastions ?? (own = new BastionPool(opts));
        try {
          tunnel = await bastions.tunnel(target.jump, target.host, target.port);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          throw new AppError(err.code, `${describe(target)}: cannot get through its jump hosts: ${err.message}`);
        }
      }
      const client = await handshake(target, opts, settings, tunnel?.stream);
      return new SshConnection(target, client, settings, once(cleanup));
    } catch (err) {
      cleanup();
      throw err;
    }
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
   * writes to the command and ends its input when it decides to. `stdin`, when given, is written
   * first (after sudo, with become), without ending the input. */
  interact(command: string, onStdout: (chunk: Buffer, channel: Channel) => void, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.channels.add(async () => {
      const ch = await this.openChannel(command, { ...opts, onStdout });
      if (opts.stdin) ch.write(opts.stdin);
      return ch.done;
    }) as Promise<ExecResult>;
  }

  /** An SFTP session for `use`, or null when the host has no sftp-server. */
  async withSftp<T>(use: (sftp: ssh2.SFTPWrapper) => Promise<T>): Promise<{ value: T } | null> {
    return this.channels.add(async () => {
      if (this.closedError) throw this.closedError;
      const sftp = await new Promise<ssh2.SFTPWrapper | null>((resolve) => this.client.sftp((err, s) => resolve(err ? null : s)));
      if (!sftp) return null;
      // ssh2 drops an SFTP request on a channel that died (a write then never calls back): the
      // session's or the connection's end fails the transfer instead of leaving it pending forever
      const lost = new Promise<never>((_, reject) => {
        const fail = (what: string) => () => reject(this.closedError ?? new AppError('channel', `${describe(this.target)}: ${what} during an SFTP transfer`));
        this.onClose(fail('connection closed'));
        sftp.once('close', fail('SFTP session closed'));
      });
      lost.catch(() => undefined); // settled after a successful transfer too: not an error then
      try {
        return { value: await Promise.race([use(sftp), lost]) };
      } finally {
        sftp.end();
      }
    }) as Promise<{ value: T } | null>;
  }

  /** A TCP stream from this host to host:port (this connection serves as a jump host). */
  forward(host: string, port: number, timeoutMs: number): Promise<ssh2.ClientChannel> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new AppError('timeout', `${describe(this.target)} did not open a forward to ${host}:${port} within ${timeoutMs / 1000} s`)), timeoutMs);
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
        clearTimeout(timer);
        if (!err) return resolve(stream);
        const why = err.message.replace(/^\(SSH\) Channel open failure: /, '');
        const code = /refused/i.test(why) ? 'refused' : /resolve|name|known/i.test(why) ? 'dns' : 'channel';
        const hint = /prohibited/i.test(why) ? ' (the jump host forbids forwarding: AllowTcpForwarding in its sshd_config)' : '';
        reject(new AppError(code, `${describe(this.target)} could not connect on to ${host}:${port}: ${why}${hint}`));
      });
    });
  }

  onClose(handler: () => void): void {
    if (this.closedError) handler();
    else this.closeHandlers.push(handler);
  }

  private openChannel(command: string, opts: ExecOptions & { onStdout?: (chunk: Buffer, channel: Channel) => void }): Promise<Channel & { done: Promise<ExecResult> }> {
    if (this.closedError) return Promise.reject(this.closedError);
    const max = opts.maxOutputBytes ?? 16 * 1024 * 1024;
    const become = opts.asLoginUser ? null : this.target.become;
    const wrapped = become ? becomeCommand(become, command) : null;
    const host = describe(this.target);
    return new Promise((resolveOpen, rejectOpen) => {
      this.client.exec(wrapped?.command ?? command, (err, stream) => {
        if (err) return rejectOpen(new AppError('channel', `${host}: cannot open a session: ${err.message}`));
        // input after the end (or after the command exited) is dropped, never an error
        let ended = false;
        let errBytes = 0;
        const channel: Channel = {
          write: (data) => void (ended || stream.write(data)),
          end: (data) => {
            if (ended) return;
            ended = true;
            stream.end(data);
          },
          close: () => {
            ended = true;
            stream.close();
          },
          stderrBytes: () => errBytes,
        };
        stream.on('error', () => {});
        // with become, the caller gets the channel once sudo has let the command run
        let opened = !wrapped;
        let before = Buffer.alloc(0);
        let beforeErr = '';
        let prompts = 0;
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
          const fail = (e: AppError) => {
            finish(() => reject(e));
            if (!opened) rejectOpen(e);
            stream.close();
          };
          const onClose = () => fail(this.closedError ?? new AppError('channel', `${host}: connection closed during a command`));
          this.client.once('close', onClose);
          const timer = opts.timeoutMs
            ? setTimeout(() => fail(new AppError('timeout', `${host}: no answer within ${opts.timeoutMs! / 1000} s${opened ? '' : ' (waiting for sudo)'}`)), opts.timeoutMs)
            : undefined;
          const collect = (into: Buffer[], tap?: (chunk: Buffer) => void) => (chunk: Buffer) => {
            size += chunk.length;
            if (size > max) return fail(new AppError('helper-protocol', `${host}: command output exceeds ${max} bytes`));
            into.push(chunk);
            tap?.(chunk);
          };
          const onOut = collect(out, opts.onStdout && ((chunk) => opts.onStdout!(chunk, channel)));
          const onErr = collect(errOut, (chunk) => void (errBytes += chunk.length));
          stream.on('data', (chunk: Buffer) => {
            if (opened) return onOut(chunk);
            before = Buffer.concat([before, chunk]);
            if (before.length > 64 * 1024) return fail(new AppError('helper-protocol', `${host}: no sign of sudo after 64 KiB of output`));
            const mark = before.indexOf(`${wrapped!.marker}\n`);
            if (mark < 0) return;
            opened = true;
            becameRoot.add(this.target);
            resolveOpen({ ...channel, done });
            const rest = before.subarray(mark + wrapped!.marker.length + 1);
            if (rest.length) onOut(rest);
          });
          stream.stderr.on('data', (chunk: Buffer) => {
            if (opened) return onErr(chunk);
            beforeErr += chunk.toString('utf8');
            const seen = beforeErr.split(wrapped!.prompt).length - 1;
            if (seen > prompts) {
              prompts = seen;
              // a second prompt means the password was wrong: never retried
              if (prompts > 1 || !become!.password) return fail(becomeFailure('incorrect password', become!, host, null, becameRoot.has(this.target)));
              stream.write(`${become!.password.reveal()}\n`);
            }
          });
          stream.on('close', (code: number | null, signal: string | null) => {
            ended = true;
            if (!opened) return fail(becomeFailure(beforeErr.split(wrapped!.prompt).join(''), become!, host, code ?? null, becameRoot.has(this.target)));
            finish(() => resolveExec({ stdout: Buffer.concat(out), stderr: Buffer.concat(errOut), code: code ?? null, signal: signal ?? null }));
          });
        });
        // observed by the caller once the channel is open; before that, failures go through rejectOpen
        done.catch(() => {});
        if (opened) resolveOpen({ ...channel, done });
      });
    });
  }

  close(): void {
    this.closedError ??= new AppError('channel', `${describe(this.target)}: connection closed`);
    this.client.end();
    this.release();
  }
}

export function describe(t: SshEndpoint & { jump?: SshEndpoint[] }): string {
  const via = t.jump?.length ? ` via ${t.jump.map((j) => `${j.user}@${j.host}:${j.port}`).join(',')}` : '';
  const address = `${t.user}@${t.host}:${t.port}`;
  return t.name === address && !via ? address : `${t.name} (${address}${via})`;
}

/** `command-failed` with the exit status and the tail of stderr. */
export function commandFailed(host: string, what: string, res: ExecResult, hint = ''): AppError {
  const tail = res.stderr.toString('utf8').trim().split('\n').slice(-3).join(' | ').slice(-500);
  const status = res.code !== null ? `exit code ${res.code}` : `signal ${res.signal}`;
  return new AppError('command-failed', `${host}: ${what} failed with ${status}${tail ? `; stderr: ${tail}` : ''}${hint ? `; ${hint}` : ''}`);
}

function isTransient(err: AppError): boolean {
  return (err.code === 'refused' && !/no route/.test(err.message)) || (err.code === 'dns' && /temporar/i.test(err.message)) || (err.code === 'channel' && /reset|closed before/.test(err.message));
}

/** TCP (or a jump host's forward), host key check, authentication. */
async function handshake(t: SshTarget, opts: ConnectOptions, settings: SshSettings, sock?: Duplex): Promise<ssh2.Client> {
  const where = describe(t);
  const plan = await authPlan(t, settings, where);
  const known = opts.knownHosts.keyTypes(t.host, t.port);
  let rejection: AppError | null = null;
  const client = new ssh2.Client();
  await new Promise<void>((resolveReady, reject) => {
    const fail = (err: Error & { level?: string; code?: string }) => {
      client.removeAllListeners('ready');
      client.removeAllListeners('close');
      // later errors of a connection already given up on (e.g. "lost before handshake") are moot
      client.on('error', () => {});
      client.end();
      reject(rejection ?? connectError(t, err, opts.timeoutMs, plan.offered));
    };
    // ssh2 reports a connection lost after the server's greeting but before authentication
    // finished (a host powered off mid-handshake) only as 'close', with no 'error', and stops its
    // ready timer: without this the connect would wait forever
    const closed = () => fail(new Error('connection closed before the SSH handshake finished'));
    client.once('ready', () => {
      client.removeListener('error', fail);
      client.removeListener('close', closed);
      resolveReady();
    });
    client.once('error', fail);
    client.once('close', closed);
    client.connect({
      ...(sock ? { sock } : { host: t.host, port: t.port }),
      username: t.user,
      authHandler: authHandler(plan),
      agentForward: false,
      readyTimeout: opts.timeoutMs,
      keepaliveInterval: settings.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      tryKeyboard: false,
      algorithms: { serverHostKey: hostKeyAlgorithms(known) },
      hostVerifier: (key: Buffer) => {
        try {
          opts.knownHosts.check(t.host, t.port, key);
          return true;
        } catch (err) {
          if (err instanceof AppError && err.code === 'host-key-unknown' && settings.acceptNewHostKeys) return acceptNew(t, key, opts.knownHosts, settings);
          rejection = err as AppError;
          return false;
        }
      },
    });
    ignoreHostKeysAnnouncement(client);
  });
  return client;

  function acceptNew(e: SshEndpoint, key: Buffer, knownHosts: KnownHosts, s: SshSettings): boolean {
    const file = s.knownHostsAppendFile;
    try {
      if (!file) throw new AppError('config', `${where}: --accept-new-host-keys needs a known_hosts file to append to (knownHostsFiles in the controller config)`);
      const entry = knownHosts.accept(e.host, e.port, key, file);
      if (s.auditFile) appendAudit(s.auditFile, 'host-key-accepted', { host: e.name, address: lookupName(e.host, e.port), keyType: entry.keyType, fingerprint: fingerprint(key), knownHostsFile: file });
      return true;
    } catch (err) {
      rejection = err instanceof AppError ? err : new AppError('config', `${where}: ${(err as Error).message}`);
      return false;
    }
  }
}

/** OpenSSH's sshd announces all its host keys after authentication (`hostkeys-00@openssh.com`,
 * for clients that update known_hosts: UpdateHostKeys). ssh2 answers every announcement by asking
 * the host to prove each key (`hostkeys-prove-00`): one signature per host key on the host (RSA
 * keys are costly) and one verification each here, for keys fleetpatch never uses — trust comes
 * only from the configured known_hosts. So the announcement is acknowledged as ssh2 would and
 * not proved; every other global request still goes to ssh2. Reaches into ssh2 1.17's protocol
 * handlers (pinned in package.json); test/ssh/hostkeys.test.ts fails if that stops working. */
function ignoreHostKeysAnnouncement(client: ssh2.Client): void {
  type Proto = { _handlers?: Record<string, (...a: unknown[]) => void>; requestSuccess(): void };
  const handlers = (client as unknown as { _protocol?: Proto })._protocol?._handlers;
  const forward = handlers?.GLOBAL_REQUEST;
  if (!handlers || !forward) return;
  handlers.GLOBAL_REQUEST = (proto: unknown, name: unknown, wantReply: unknown, ...rest: unknown[]) => {
    if (name !== 'hostkeys-00@openssh.com') return forward(proto, name, wantReply, ...rest);
    if (wantReply) (proto as Proto).requestSuccess();
  };
}

/** Offer the key types known_hosts has for the host first, as OpenSSH does. */
function hostKeyAlgorithms(knownTypes: string[]): ssh2.ServerHostKeyAlgorithm[] {
  const all: ssh2.ServerHostKeyAlgorithm[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const algOf = (alg: string) => (alg.startsWith('rsa-sha2') ? 'ssh-rsa' : alg);
  const preferred = all.filter((a) => knownTypes.includes(algOf(a)));
  return [...preferred, ...all.filter((a) => !preferred.includes(a))];
}

function connectError(t: SshTarget, err: Error & { level?: string; code?: string }, timeoutMs: number, offered: string[]): AppError {
  if (err instanceof AppError) return err;
  const where = describe(t);
  if (err.level === 'client-authentication') {
    return new AppError(
      'auth',
      `${where}: authentication refused for user ${t.user} (offered: ${offered.join('; ')}); not retried. Check that the key is in ~${t.user}/.ssh/authorized_keys on the host, or ansible_user and ansible_ssh_private_key_file`,
    );
  }
  if (err.level === 'client-timeout' || /timed out/i.test(err.message)) {
    return new AppError('timeout', `${where}: no SSH answer within ${timeoutMs / 1000} s; check that the host is up and that a firewall lets port ${t.port} through (connectTimeoutMs in the controller config)`);
  }
  switch (err.code) {
    case 'ECONNREFUSED':
      return new AppError('refused', `${where}: connection refused on port ${t.port}; is sshd running and listening there? (ansible_port)`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new AppError('refused', `${where}: no route to host ${t.host}; check ansible_host and the network`);
    case 'ETIMEDOUT':
      return new AppError('timeout', `${where}: TCP connect timed out; check that the host is up and reachable`);
    case 'ENOTFOUND':
      return new AppError('dns', `${where}: the name ${t.host} does not resolve; check ansible_host, the ssh config's HostName, or DNS`);
    case 'EAI_AGAIN':
      return new AppError('dns', `${where}: looking up ${t.host} failed temporarily; check the resolver`);
    case 'ECONNRESET':
      return new AppError('channel', `${where}: connection reset during the SSH handshake; check sshd's logs on the host (MaxStartups?)`);
  }
  if (/closed|ended/i.test(err.message)) return new AppError('channel', `${where}: connection closed before the SSH handshake finished; check sshd's logs on the host`);
  return new AppError('channel', `${where}: ${err.message}`);
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
