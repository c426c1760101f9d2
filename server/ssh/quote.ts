/** The one place where values become shell words. Remote commands are argv arrays; every element
 * is single-quoted here, so host and inventory values never reach a shell unquoted. */
import { AppError } from '../errors.ts';

export function shQuote(arg: string): string {
  if (arg.includes('\0')) throw new AppError('internal', 'a NUL byte cannot be passed in a remote command');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** argv → one command line for the remote login shell (`sh -c` semantics). */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new AppError('internal', 'empty remote command');
  return argv.map(shQuote).join(' ');
}

/** A fixed POSIX sh script run with positional arguments: `sh -c SCRIPT NAME ARGS...`. */
export function shScript(script: string, name: string, args: readonly string[]): string {
  return shellCommand(['sh', '-c', script, name, ...args]);
}
