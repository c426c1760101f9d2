/** What the controller config decides about SSH, for every connection this process opens. The
 * commands load the controller config once (config.ts → useSshSettings); a pool or connection may
 * also be given its own settings (tests, the clean command). */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { promptHidden } from './prompt.ts';

export interface SshSettings {
  /** OpenSSH client config applied to inventory hosts and jump hosts; null: none. */
  sshConfigFile: string | null;
  /** Whether sshConfigFile was chosen by the operator (a missing file is then an error). */
  sshConfigExplicit: boolean;
  /** Trust on first use: an unknown host key is appended to knownHostsAppendFile and audited. */
  acceptNewHostKeys: boolean;
  knownHostsAppendFile: string | null;
  /** JSON-lines audit log (next to the database). */
  auditFile: string | null;
  /** Used instead of the remote dir on hosts where it sits on a noexec mount. */
  noexecRemoteDir: string | null;
  keepaliveIntervalMs: number;
  /** Asks the person at the terminal without echo; null when nobody is there. */
  prompt: ((question: string) => Promise<string>) | null;
  env: NodeJS.ProcessEnv;
}

/** Environment variable holding the passphrase of encrypted key files. */
export const PASSPHRASE_ENV = 'FLEETPATCH_SSH_KEY_PASSPHRASE';

export function defaultSshSettings(): SshSettings {
  return {
    sshConfigFile: resolve(homedir(), '.ssh/config'),
    sshConfigExplicit: false,
    acceptNewHostKeys: false,
    knownHostsAppendFile: null,
    auditFile: null,
    noexecRemoteDir: null,
    keepaliveIntervalMs: 15_000,
    prompt: process.stdin.isTTY && process.stderr.isTTY ? promptHidden : null,
    env: process.env,
  };
}

let current: SshSettings | null = null;

export function sshSettings(overrides: Partial<SshSettings> = {}): SshSettings {
  current ??= defaultSshSettings();
  return { ...current, ...overrides };
}

export function useSshSettings(settings: Partial<SshSettings>): void {
  current = { ...defaultSshSettings(), ...settings };
}
