/** Privilege through sudo, as Ansible's become does: `sudo -n` when no password is configured,
 * else `sudo -S` with a unique prompt; the password is written to sudo's stdin only when that
 * prompt appears on stderr, and the command's own stdin only after a marker line proves sudo is
 * done — so the password is never in argv, and never read by the command. */
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.ts';
import { shellCommand } from './quote.ts';
import type { Become } from './target.ts';

export interface BecomeCommand {
  command: string;
  /** Printed by the command once sudo has let it run. */
  marker: string;
  /** What sudo prints on stderr when it wants the password. */
  prompt: string;
}

/** Wraps a command line (from quote.ts) so it runs as `b.user` through sudo. */
export function becomeCommand(b: Become, command: string, nonce = randomBytes(12).toString('hex')): BecomeCommand {
  const marker = `FLEETPATCH-BECOME-${nonce}`;
  const prompt = `[fleetpatch-sudo-${nonce}] password:`;
  const auth = b.password ? ['-S', '-p', prompt] : ['-n'];
  // the inner command is passed as an argument, never pasted into the script
  const argv = ['sudo', '-H', ...auth, '-u', b.user, '--', 'sh', '-c', 'printf "%s\\n" "$0"; exec sh -c "$1"', marker, command];
  return { command: shellCommand(argv), marker, prompt };
}

/** Why sudo did not run the command, from what it printed before giving up; `worked`: sudo let
 * this host's login user become `b.user` earlier in this process (so it changed mid-run). */
export function becomeFailure(stderr: string, b: Become, host: string, exitCode: number | null, worked = false): AppError {
  const [code, why] = sudoRefusal(stderr, b, exitCode);
  const changed = worked ? `sudo stopped working mid-run: it let the login user become ${b.user} earlier in this run, so the host's sudo rules or the account changed since; ` : '';
  return new AppError(code, `${host}: ${changed}${why}`);
}

/** The error code and message (without the host) for what sudo printed before giving up. */
function sudoRefusal(stderr: string, b: Become, exitCode: number | null): ['auth' | 'command-failed', string] {
  const said = stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ').slice(0, 400);
  if (/a password is required/i.test(stderr)) {
    return ['auth', `sudo needs a password for ${b.user}: set ansible_become_password for this host, or give the login user NOPASSWD in sudoers`];
  }
  if (/incorrect password|try again/i.test(stderr)) {
    return ['auth', 'sudo refused ansible_become_password; fix the password in the inventory (it is not retried, so the account is not locked out)'];
  }
  if (/not in the sudoers|not allowed to (execute|run)|may not run sudo/i.test(stderr)) {
    return ['auth', `the login user may not run commands as ${b.user} with sudo (${said}); add a sudoers rule for it`];
  }
  if (exitCode === 127 || /sudo: (command )?not found/i.test(stderr)) {
    return ['command-failed', `sudo is not installed on the host (exit ${exitCode}); install it or log in as root`];
  }
  return ['auth', `becoming ${b.user} with sudo failed (exit ${exitCode}${said ? `: ${said}` : ''})`];
}
