/** Every error a user can see is an AppError: a code from this union, a message that says what
 * failed, where (file:line, host or field) and what to do. CLI exit codes derive from the code. */
export type ErrorCode =
  | 'usage' // bad command line
  | 'config' // controller config invalid
  | 'inventory' // inventory unreadable or invalid
  | 'pattern' // pattern invalid or matching no host
  | 'not-root' // a command that needs root was run without it
  | 'helper-missing' // the helper binary for an architecture is not built
  | 'dns' // the host name does not resolve
  | 'refused' // nothing accepts TCP connections on the host's SSH port
  | 'timeout' // no answer in time: TCP connect, SSH handshake, a jump host, sudo or a command
  | 'auth' // the host refused every credential offered, or sudo refused the become password
  | 'host-key-unknown' // the host has no key in the configured known_hosts files
  | 'host-key-changed' // the host presented a key other than the known one
  | 'host-key-revoked' // the host presented a key marked @revoked
  | 'channel' // the connection dropped, or the host refused to open a session or a forward
  | 'command-failed' // a remote command exited non-zero (exit code and stderr tail in the message)
  | 'remote-user' // the remote user cannot do what is needed (not root, no become)
  | 'insecure-remote-dir' // fleetpatch's directory on the host, or a file in it, could be changed by others
  | 'helper-upload' // pushing the helper failed (disk full, hash mismatch)
  | 'helper-protocol' // the helper's answer was missing or malformed
  | 'helper-failed' // the helper ran and reported a failure
  | 'host-busy' // another fleetpatch operation holds the host's lock
  | 'preflight' // the host refused the change before touching anything (wrong build, lockdown, …)
  | 'transition-timeout' // a livepatch transition did not finish in time and was reversed
  | 'verify-failed' // the change is in place but its verification or checks failed
  | 'rollback-failed' // the host could not be returned to its previous state
  | 'bundle' // a bundle is unsigned, badly signed, invalid, tampered with or escapes its directory
  | 'bundle-untrusted' // a bundle is signed by a key that is not trusted, or revoked
  | 'database' // the database cannot be opened or migrated
  | 'lab' // the lab failed to start or stop
  | 'internal';

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** DESIGN.md → CLI exit codes. */
export const EXIT = {
  ok: 0,
  hostsFailed: 1,
  usage: 2,
  halted: 3,
  cancelled: 4,
  interrupted: 5,
} as const;

/** Exit code for an error that ends a command (per-host errors are results, not this). */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'usage':
    case 'config':
    case 'inventory':
    case 'pattern':
    case 'not-root':
    case 'helper-missing':
    case 'bundle':
    case 'bundle-untrusted':
      return EXIT.usage;
    case 'dns':
    case 'refused':
    case 'timeout':
    case 'auth':
    case 'host-key-unknown':
    case 'host-key-changed':
    case 'host-key-revoked':
    case 'channel':
    case 'command-failed':
    case 'remote-user':
    case 'insecure-remote-dir':
    case 'helper-upload':
    case 'helper-protocol':
    case 'helper-failed':
    case 'host-busy':
    case 'preflight':
    case 'transition-timeout':
    case 'verify-failed':
    case 'rollback-failed':
    case 'database':
    case 'lab':
    case 'internal':
      return EXIT.hostsFailed;
  }
}

/** Codes that mean the host could not be reached (as opposed to refusing us): a run reports such
 * a host `unreachable`; host-key and auth refusals are failures someone must look at. */
export function isUnreachable(code: ErrorCode): boolean {
  return code === 'dns' || code === 'refused' || code === 'timeout' || code === 'channel';
}

/** SQLite's result codes a full, broken or read-only disk gives, and what to tell the admin. */
const SQLITE_DISK: Record<string, string> = {
  SQLITE_FULL: 'the disk holding the database is full',
  // an ext4 aborted by a disk error (errors=remount-ro) fails the writes of files open on it with EIO
  SQLITE_IOERR: 'the disk holding the database failed to read or write (a disk error; its file system may have gone read-only)',
  SQLITE_READONLY: 'the database is read-only (its disk or file is not writable)',
  SQLITE_CANTOPEN: 'the database file cannot be opened',
};

/** Any thrown value as {code, message}, for JSON output and storage. */
export function errorInfo(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof AppError) return { code: err.code, message: err.message };
  const sqlite = (err as { code?: unknown } | null)?.code;
  if (typeof sqlite === 'string') {
    const what = Object.entries(SQLITE_DISK).find(([k]) => sqlite.startsWith(k))?.[1];
    if (what) return { code: 'database', message: `${what} (${sqlite}: ${(err as Error).message}); nothing more was recorded — free space or make it writable, then \`fleetpatch resume RUN\` finishes an unfinished run` };
  }
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}
