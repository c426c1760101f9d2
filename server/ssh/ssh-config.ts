/** The OpenSSH client config (~/.ssh/config or the controller's sshConfigFile), parsed by the
 * `ssh-config` package and applied as ssh applies it: the first value obtained for an option
 * wins, IdentityFile accumulates, Host patterns with wildcards and negation, Include expanded in
 * place. Options that run commands on the controller are refused, never run. */
import { readdirSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import SSHConfig, { type Line } from 'ssh-config';
import { AppError } from '../errors.ts';

export interface SshConfigHost {
  hostName: string | null;
  user: string | null;
  port: number | null;
  identityFiles: string[];
  proxyJump: string | null;
}

/** Options fleetpatch never runs; a host they apply to is refused. */
const REFUSED = ['proxycommand', 'localcommand', 'knownhostscommand'];

export class SshClientConfig {
  constructor(
    private readonly parsed: SSHConfig,
    readonly file: string | null,
  ) {}

  /** What the config says for `alias` (the name ssh would be given) connecting as `user`. */
  resolve(alias: string, user: string | null): SshConfigHost {
    const computed = this.parsed.compute(user ? { Host: alias, User: user } : { Host: alias }, { ignoreCase: true, matchExec: false });
    const one = (key: string): string | null => {
      const v = computed[key];
      const s = Array.isArray(v) ? v[0] : v;
      return s === undefined || s === '' ? null : s;
    };
    for (const key of REFUSED) {
      const value = one(key);
      if (value !== null && !(key === 'proxycommand' && value.toLowerCase() === 'none')) {
        throw new AppError(
          'config',
          `ssh config ${this.file}: ${canonical(key)} applies to ${alias}, and fleetpatch never runs commands from an ssh config on the controller; use ProxyJump instead of ProxyCommand, or point sshConfigFile in the controller config at a config without it`,
        );
      }
    }
    const hostName = one('hostname');
    const portText = one('port');
    const port = portText === null ? null : Number(portText);
    if (port !== null && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      throw new AppError('config', `ssh config ${this.file}: Port ${JSON.stringify(portText)} for ${alias} is not a port number`);
    }
    const files = computed.identityfile;
    return {
      hostName: hostName === null ? null : hostName.replaceAll('%h', alias).replaceAll('%%', '%'),
      user: one('user'),
      port,
      identityFiles: (Array.isArray(files) ? files : files ? [files] : []).filter((f) => f.toLowerCase() !== 'none'),
      proxyJump: one('proxyjump'),
    };
  }
}

export const EMPTY_SSH_CONFIG = new SshClientConfig(SSHConfig.parse(''), null);

const cache = new Map<string, SshClientConfig>();

/** Reads an ssh config once per process. A missing default file is an empty config; a missing
 * file the operator named is an error. */
export function loadSshConfig(file: string | null, explicit: boolean): SshClientConfig {
  if (file === null) return EMPTY_SSH_CONFIG;
  const hit = cache.get(file);
  if (hit) return hit;
  let text: string;
  try {
    text = expandIncludes(readFileSync(file, 'utf8'), dirname(file), 0, file);
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return EMPTY_SSH_CONFIG;
    throw new AppError('config', `cannot read ssh config ${file}: ${code ?? err}; fix sshConfigFile in the controller config`);
  }
  let parsed: SSHConfig;
  try {
    parsed = SSHConfig.parse(text);
  } catch (err) {
    throw new AppError('config', `ssh config ${file} cannot be parsed: ${(err as Error).message}`);
  }
  refuseMatchExec(parsed, file);
  const config = new SshClientConfig(parsed, file);
  cache.set(file, config);
  return config;
}

function refuseMatchExec(lines: Line[], file: string): void {
  for (const line of lines) {
    if ('criteria' in line && Object.keys(line.criteria).some((k) => k.toLowerCase() === 'exec')) {
      throw new AppError('config', `ssh config ${file}: "Match exec" would run a command on the controller, which fleetpatch never does; point sshConfigFile in the controller config at a config without it`);
    }
    if ('config' in line) refuseMatchExec(line.config, file);
  }
}

/** Include, expanded in place (relative names are relative to ~/.ssh, as for ssh's user config;
 * `*` and `?` in the last path component). */
function expandIncludes(text: string, base: string, depth: number, file: string): string {
  if (depth > 16) throw new AppError('config', `ssh config ${file}: Include nested more than 16 deep`);
  return text
    .split(/\r?\n/)
    .map((line) => {
      const m = /^\s*include\s*[=\s]\s*(.+)$/i.exec(line);
      if (!m) return line;
      const parts: string[] = [];
      for (const token of m[1]!.match(/"[^"]*"|\S+/g) ?? []) {
        const raw = token.replace(/^"|"$/g, '').replace(/^~(?=\/|$)/, homedir());
        const path = isAbsolute(raw) ? raw : join(resolve(homedir(), '.ssh'), raw);
        for (const f of globFiles(path)) parts.push(expandIncludes(readFileSync(f, 'utf8'), dirname(f), depth + 1, f));
      }
      return parts.join('\n');
    })
    .join('\n');
}

function globFiles(path: string): string[] {
  const name = basename(path);
  if (!/[*?]/.test(name)) {
    try {
      readFileSync(path);
      return [path];
    } catch {
      return []; // ssh ignores an Include that matches nothing
    }
  }
  const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`);
  try {
    return readdirSync(dirname(path))
      .filter((f) => re.test(f))
      .sort()
      .map((f) => join(dirname(path), f));
  } catch {
    return [];
  }
}

function canonical(key: string): string {
  return { proxycommand: 'ProxyCommand', localcommand: 'LocalCommand', knownhostscommand: 'KnownHostsCommand' }[key] ?? key;
}

/** `%d %u %h %r %n %p %%` and a leading `~` in IdentityFile, as ssh expands them. */
export function expandPath(path: string, t: { alias: string; host: string; user: string; port: number }): string {
  const local = (() => {
    try {
      return userInfo().username;
    } catch {
      return process.env.USER ?? 'root';
    }
  })();
  const tokens: Record<string, string> = { d: homedir(), u: local, h: t.host, r: t.user, n: t.alias, p: String(t.port), '%': '%' };
  const expanded = path.replace(/%(.)/g, (all, c: string) => tokens[c] ?? all).replace(/^~(?=\/|$)/, homedir());
  return resolve(expanded);
}
