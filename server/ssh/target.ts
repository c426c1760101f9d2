/** How to reach an inventory host: address, port, user, credentials, jump hosts and privilege,
 * from its variables and the ssh config, as Ansible's ssh connection would. The inventory may
 * choose where and as whom to connect, never what to trust or what runs on the controller. */
import { userInfo } from 'node:os';
import { AppError } from '../errors.ts';
import type { TargetHost } from '../inventory/index.ts';
import { parseSshArgs, SshArgsError, type SshOptions } from '../inventory/ssh-args.ts';
import { Secret } from './secret.ts';
import { sshSettings } from './settings.ts';
import { expandPath, loadSshConfig, type SshClientConfig } from './ssh-config.ts';

/** One machine to open an SSH connection to: a target or a jump host. */
export interface SshEndpoint {
  /** The name it was given (inventory name, jump host spec), for messages. */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Key files to offer first (inventory, then ssh config); without any, ~/.ssh/id_* after the agent. */
  identityFiles: string[];
}

export interface Become {
  method: 'sudo';
  user: string;
  /** Sent on sudo's stdin when it asks; null: `sudo -n` (NOPASSWD). */
  password: Secret | null;
}

export interface SshTarget extends SshEndpoint {
  /** ansible_password: the last resort after keys and the agent. */
  password: Secret | null;
  become: Become | null;
  /** Jump hosts (ProxyJump), the first hop first. */
  jump: SshEndpoint[];
  /** fleetpatch_remote_dir: this host keeps fleetpatch's files there instead of the configured remoteDir. */
  remoteDir: string | null;
}

const HOST_RE = /^[A-Za-z0-9._:-]+$/;
const USER_RE = /^[A-Za-z0-9._][A-Za-z0-9._-]*$/;
const DIR_RE = /^\/[A-Za-z0-9._/-]+$/;

const ARGS_VARS = ['ansible_ssh_common_args', 'ansible_ssh_extra_args', 'ansible_ssh_args'];
const TRUE = new Set(['true', 'yes', '1', 'on']);

export function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

export function sshTarget(h: TargetHost, sshConfig: SshClientConfig = defaultSshConfig()): SshTarget {
  const v = h.vars;
  const where = `host ${h.name}`;
  const str = (key: string): string | null => {
    const value = v[key];
    if (value === undefined || value === null || value === '') return null;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new AppError('inventory', `${where}: variable ${key} must be a string, not ${typeof value}`);
    }
    const s = String(value);
    if (s.includes('{{') || s.includes('{%')) {
      throw new AppError('inventory', `${where}: variable ${key} is a template (${key.includes('pass') ? 'value hidden' : s}) that fleetpatch cannot evaluate; set a literal value`);
    }
    return s;
  };
  const args = sshArgs(ARGS_VARS.map((k) => [k, str(k)] as const), where, h.ssh);
  const alias = str('ansible_host') ?? str('ansible_ssh_host') ?? h.name;
  checkHost(alias, `${where}: ansible_host`);
  const invPort = str('ansible_port') ?? str('ansible_ssh_port') ?? args.port;
  const invUser = str('ansible_user') ?? str('ansible_ssh_user') ?? args.user;
  if (invUser !== null) checkUser(invUser, `${where}: ansible_user`);
  const key = str('ansible_ssh_private_key_file') ?? str('ansible_private_key_file') ?? args.identityFile;
  const endpoint = resolveEndpoint(sshConfig, h.name, alias, invUser, invPort === null ? null : parsePort(invPort, `${where}: ansible_port`), key ? [key] : [], where);
  const jumpSpec = args.jump ?? endpoint.proxyJump;
  const password = str('ansible_password') ?? str('ansible_ssh_pass') ?? str('ansible_ssh_password');
  const remoteDir = str('fleetpatch_remote_dir');
  if (remoteDir !== null && !(DIR_RE.test(remoteDir) && !remoteDir.split('/').includes('..'))) {
    throw new AppError('inventory', `${where}: fleetpatch_remote_dir must be an absolute path of letters, digits and ._/-`);
  }
  return {
    name: endpoint.name,
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    identityFiles: endpoint.identityFiles,
    password: password === null ? null : new Secret(password),
    become: become(str, where),
    // the keys named for the target are offered to its jump hosts too, after their own
    jump: jumpSpec === null || jumpSpec.toLowerCase() === 'none' ? [] : jumpHosts(sshConfig, jumpSpec, where, 0).map((j) => ({ ...j, identityFiles: [...new Set([...j.identityFiles, ...endpoint.identityFiles])] })),
    remoteDir,
  };
}

function defaultSshConfig(): SshClientConfig {
  const s = sshSettings();
  return loadSshConfig(s.sshConfigFile, s.sshConfigExplicit);
}

function become(str: (key: string) => string | null, where: string): Become | null {
  const flag = str('ansible_become');
  if (flag === null || !TRUE.has(flag.toLowerCase())) return null;
  const method = str('ansible_become_method') ?? 'sudo';
  if (method !== 'sudo') throw new AppError('inventory', `${where}: ansible_become_method ${JSON.stringify(method)} is not supported; fleetpatch becomes root with sudo only`);
  for (const key of ['ansible_become_flags', 'ansible_become_exe', 'ansible_sudo_flags', 'ansible_sudo_exe']) {
    if (str(key) !== null) throw new AppError('inventory', `${where}: ${key} is not supported; fleetpatch runs sudo -n, or sudo -S when ansible_become_password is set`);
  }
  const user = str('ansible_become_user') ?? 'root';
  checkUser(user, `${where}: ansible_become_user`);
  const password = str('ansible_become_password') ?? str('ansible_become_pass') ?? str('ansible_sudo_pass');
  return { method: 'sudo', user, password: password === null ? null : new Secret(password) };
}

interface Resolved extends SshEndpoint {
  proxyJump: string | null;
}

function resolveEndpoint(config: SshClientConfig, name: string, alias: string, user: string | null, port: number | null, keys: string[], where: string): Resolved {
  const c = config.resolve(alias, user);
  const host = c.hostName ?? alias;
  checkHost(host, `${where}: HostName ${host} (ssh config ${config.file})`);
  const u = user ?? c.user ?? localUser();
  checkUser(u, `${where}: User (ssh config ${config.file})`);
  const p = port ?? c.port ?? 22;
  const t = { alias, host, user: u, port: p };
  return { name, host, port: p, user: u, identityFiles: [...keys, ...c.identityFiles].map((f) => expandPath(f, t)), proxyJump: c.proxyJump };
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, comma-separated; the ssh config applies to
 * each hop, and the first hop's own ProxyJump is followed, as ssh does. */
function jumpHosts(config: SshClientConfig, spec: string, where: string, depth: number): SshEndpoint[] {
  if (depth > 8) throw new AppError('config', `${where}: ProxyJump chain longer than 8 hops (a loop?)`);
  const hops = spec.split(',').map((s) => s.trim());
  const out: SshEndpoint[] = [];
  hops.forEach((hop, i) => {
    const m = /^(?:ssh:\/\/)?(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(hop);
    if (!m) throw new AppError('inventory', `${where}: jump host ${JSON.stringify(hop)} is not [user@]host[:port]`);
    const user = m[1] ?? null;
    if (user !== null) checkUser(user, `${where}: jump host user`);
    const alias = m[2]!.replace(/^\[|\]$/g, '');
    checkHost(alias, `${where}: jump host`);
    const r = resolveEndpoint(config, hop, alias, user, m[3] ? parsePort(m[3], `${where}: jump host port`) : null, [], `${where}: jump host ${hop}`);
    if (i === 0 && r.proxyJump !== null && r.proxyJump.toLowerCase() !== 'none') out.push(...jumpHosts(config, r.proxyJump, where, depth + 1));
    out.push({ name: r.name, host: r.host, port: r.port, user: r.user, identityFiles: r.identityFiles });
  });
  return out;
}

/** ProxyJump, Port, User and IdentityFile from ansible_ssh_common_args / _extra_args (split and
 * checked by the inventory's rules: trust anchors and controller-side commands are refused,
 * connection tuning ignored), then from ansible.cfg's ssh_args. */
function sshArgs(vars: (readonly [string, string | null])[], where: string, cfg: SshOptions | undefined): { jump: string | null; port: string | null; user: string | null; identityFile: string | null } {
  const out = { jump: null as string | null, port: null as string | null, user: null as string | null, identityFile: null as string | null };
  const take = (o: Record<string, string>) => {
    out.jump ??= o.ProxyJump ?? null;
    out.port ??= o.Port ?? null;
    out.user ??= o.User ?? null;
    out.identityFile ??= o.IdentityFile ?? null;
  };
  for (const [name, text] of vars) {
    if (text === null) continue;
    try {
      take(parseSshArgs(text).options);
    } catch (err) {
      if (err instanceof SshArgsError) throw new AppError('inventory', `${where}: ${name}: ${err.message}`);
      throw err;
    }
  }
  if (cfg) take(cfg.options);
  return out;
}

function parsePort(text: string, where: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new AppError('inventory', `${where}: ${JSON.stringify(text)} is not a port number`);
  return port;
}

function checkHost(host: string, where: string): void {
  if (!HOST_RE.test(host) || host.startsWith('-')) throw new AppError('inventory', `${where}: invalid host address ${JSON.stringify(host)}`);
}

function checkUser(user: string, where: string): void {
  if (!USER_RE.test(user)) throw new AppError('inventory', `${where}: invalid user name ${JSON.stringify(user)}`);
}
