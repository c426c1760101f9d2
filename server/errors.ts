/** Every error a user can see is an AppError: a code from this union, a message that says what
 * failed, where (file:line, host or field) and what to do. CLI exit codes derive from the code. */
export type ErrorCode =
  | 'usage' // bad command line
  | 'config' // controller config invalid
  | 'inventory' // inventory unreadable or invalid
  | 'pattern' // pattern invalid or matching no host
  | 'not-root' // a command that needs root was run without it
  | 'helper-missing' // the helper binary for an architecture is not built
  | 'host-key-unknown' // the host has no key in the configured known_hosts files
  | 'host-key-mismatch' // the host presented a key other than the known one
  | 'host-key-revoked' // the host presented a key marked @revoked
  | 'host-key-unsupported' // a known_hosts entry fleetpatch cannot honour (@cert-authority)
  | 'unreachable' // TCP connect refused, timed out, or the connection dropped
  | 'auth-failed' // the host refused our credentials
  | 'remote-user' // the remote user cannot do what is needed (not root)
  | 'helper-insecure' // /var/lib/fleetpatch or the helper is writable by others or not root's
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
    case 'host-key-unknown':
    case 'host-key-mismatch':
    case 'host-key-revoked':
    case 'host-key-unsupported':
    case 'unreachable':
    case 'auth-failed':
    case 'remote-user':
    case 'helper-insecure':
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

/** Any thrown value as {code, message}, for JSON output and storage. */
export function errorInfo(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof AppError) return { code: err.code, message: err.message };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}
