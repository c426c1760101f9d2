/** Controller config: what the operator, not the inventory, decides. Flags > environment >
 * config file (`--config FILE` or FLEETPATCH_CONFIG, JSON). Paths in a config file are relative
 * to that file; paths from flags and the environment are relative to the working directory. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { AppError } from './errors.ts';
import { auditFileFor } from './ssh/audit.ts';
import { useSshSettings } from './ssh/settings.ts';

export interface ControllerConfig {
  /** known_hosts files checked for every host key; the only trust anchors for hosts. */
  knownHostsFiles: string[];
  /** SQLite database file. */
  database: string;
  /** Address the web server binds to. */
  listen: string;
  /** Directory of trusted bundle public keys (`*.pub`, ed25519 SPKI PEM). */
  trustedKeysDir: string | null;
  /** Bundle key ids (16 hex digits) refused even when their key is in trustedKeysDir. */
  revokedKeyIds: string[];
  /** Largest payload file a bundle may hold; larger ones are refused before hashing. */
  maxBundleFileBytes: number;
  /** Bound on TCP connect + SSH handshake + authentication, per host. */
  connectTimeoutMs: number;
  /** Hosts worked on at once. */
  forks: number;
  /** Where fleetpatch keeps its helper and cache on each host. */
  remoteDir: string;
  /** Used instead of remoteDir on hosts where remoteDir sits on a noexec mount; null: refuse them. */
  noexecRemoteDir: string | null;
  /** OpenSSH client config for Host aliases, HostName, User, Port, IdentityFile, ProxyJump; null: none. */
  sshConfigFile: string | null;
  /** Trust on first use, per invocation only (flag or environment, never the file): an unknown
   * host key is appended to the first knownHostsFiles entry and audited. */
  acceptNewHostKeys: boolean;
}

type Field = keyof ControllerConfig;

export interface ConfigSources {
  /** Values from command-line flags (already typed). */
  flags?: Partial<ControllerConfig> & { config?: string };
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function defaultConfig(cwd: string): ControllerConfig {
  return {
    knownHostsFiles: [resolve(homedir(), '.ssh/known_hosts')],
    database: resolve(cwd, 'data/fleetpatch.db'),
    listen: '127.0.0.1:8080',
    trustedKeysDir: null,
    revokedKeyIds: [],
    maxBundleFileBytes: 256 * 1024 * 1024,
    connectTimeoutMs: 10_000,
    forks: 20,
    remoteDir: '/var/lib/fleetpatch',
    noexecRemoteDir: null,
    sshConfigFile: resolve(homedir(), '.ssh/config'),
    acceptNewHostKeys: false,
  };
}

const ENV: Record<string, Field> = {
  FLEETPATCH_KNOWN_HOSTS: 'knownHostsFiles',
  FLEETPATCH_DB: 'database',
  FLEETPATCH_LISTEN: 'listen',
  FLEETPATCH_TRUSTED_KEYS: 'trustedKeysDir',
  FLEETPATCH_CONNECT_TIMEOUT_MS: 'connectTimeoutMs',
  FLEETPATCH_FORKS: 'forks',
  FLEETPATCH_SSH_CONFIG: 'sshConfigFile',
  FLEETPATCH_ACCEPT_NEW_HOST_KEYS: 'acceptNewHostKeys',
};

const PATH_FIELDS = new Set<Field>(['knownHostsFiles', 'database', 'trustedKeysDir', 'sshConfigFile']);

export function loadConfig(sources: ConfigSources = {}): ControllerConfig & { source: string | null } {
  const cwd = sources.cwd ?? process.cwd();
  const env = sources.env ?? process.env;
  const config = defaultConfig(cwd);
  const file = sources.flags?.config ?? env.FLEETPATCH_CONFIG ?? null;
  const source = file ? resolve(cwd, file) : null;
  const fromFile = source ? readConfigFile(source) : {};
  Object.assign(config, fromFile);
  for (const [name, field] of Object.entries(ENV)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    Object.assign(config, { [field]: parseEnvValue(field, raw, name, cwd) });
  }
  for (const [field, value] of Object.entries(sources.flags ?? {})) {
    if (field !== 'config' && value !== undefined) Object.assign(config, { [field]: value });
  }
  validate(config, 'config');
  const explicitSshConfig = Boolean(env.FLEETPATCH_SSH_CONFIG) || sources.flags?.sshConfigFile !== undefined || 'sshConfigFile' in fromFile;
  useSshSettings({
    sshConfigFile: config.sshConfigFile,
    sshConfigExplicit: explicitSshConfig,
    acceptNewHostKeys: config.acceptNewHostKeys,
    knownHostsAppendFile: config.knownHostsFiles[0] ?? null,
    auditFile: auditFileFor(config.database),
    noexecRemoteDir: config.noexecRemoteDir,
  });
  return { ...config, source };
}

function readConfigFile(path: string): Partial<ControllerConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AppError('config', `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new AppError('config', `config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new AppError('config', `config file ${path} must hold a JSON object`);
  }
  const defaults = defaultConfig('/');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === '$comment') continue;
    if (key === 'acceptNewHostKeys') {
      throw new AppError('config', `config file ${path}: acceptNewHostKeys cannot be set in a config file; trusting new host keys is an opt-in per invocation (--accept-new-host-keys or FLEETPATCH_ACCEPT_NEW_HOST_KEYS=1)`);
    }
    if (!(key in defaults)) {
      throw new AppError('config', `config file ${path}: unknown field "${key}" (known: ${Object.keys(defaults).filter((k) => k !== 'acceptNewHostKeys').join(', ')})`);
    }
    const field = key as Field;
    out[field] = PATH_FIELDS.has(field) ? resolvePaths(value, dirname(path)) : value;
  }
  validate(out, `config file ${path}`);
  return out as Partial<ControllerConfig>;
}

function resolvePaths(value: unknown, base: string): unknown {
  if (typeof value === 'string') return resolve(base, value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? resolve(base, v) : v));
  return value;
}

function parseEnvValue(field: Field, raw: string, name: string, cwd: string): unknown {
  switch (field) {
    case 'knownHostsFiles':
      return raw.split(':').filter(Boolean).map((p) => resolve(cwd, p));
    case 'database':
    case 'trustedKeysDir':
    case 'sshConfigFile':
      return resolve(cwd, raw);
    case 'acceptNewHostKeys':
      if (raw !== '1' && raw !== '0') throw new AppError('config', `environment ${name}=${raw}: use 1 (accept new host keys) or 0`);
      return raw === '1';
    case 'connectTimeoutMs':
    case 'forks': {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new AppError('config', `environment ${name}=${raw}: not an integer`);
      return n;
    }
    default:
      return raw;
  }
}

function validate(config: Partial<Record<Field, unknown>>, where: string): void {
  const bad = (field: string, what: string) => new AppError('config', `${where}: field ${field} must be ${what}`);
  const c = config;
  if ('knownHostsFiles' in c && !(Array.isArray(c.knownHostsFiles) && c.knownHostsFiles.length > 0 && c.knownHostsFiles.every((p) => typeof p === 'string' && p))) {
    throw bad('knownHostsFiles', 'a non-empty array of file paths');
  }
  if ('database' in c && !(typeof c.database === 'string' && c.database)) throw bad('database', 'a file path');
  if ('listen' in c && !(typeof c.listen === 'string' && /^[^\s]+:\d{1,5}$/.test(c.listen))) throw bad('listen', 'ADDRESS:PORT');
  if ('trustedKeysDir' in c && c.trustedKeysDir !== null && typeof c.trustedKeysDir !== 'string') throw bad('trustedKeysDir', 'a directory path or null');
  if ('revokedKeyIds' in c && !(Array.isArray(c.revokedKeyIds) && c.revokedKeyIds.every((k) => typeof k === 'string' && /^[0-9a-f]{16}$/.test(k)))) {
    throw bad('revokedKeyIds', 'an array of bundle key ids (16 lowercase hex digits, as `fleetpatch bundle inspect` shows them)');
  }
  if ('maxBundleFileBytes' in c && !(Number.isSafeInteger(c.maxBundleFileBytes) && (c.maxBundleFileBytes as number) >= 1)) throw bad('maxBundleFileBytes', 'a positive integer (bytes)');
  if ('connectTimeoutMs' in c && !(Number.isInteger(c.connectTimeoutMs) && (c.connectTimeoutMs as number) >= 100)) throw bad('connectTimeoutMs', 'an integer ≥ 100');
  if ('forks' in c && !(Number.isInteger(c.forks) && (c.forks as number) >= 1 && (c.forks as number) <= 10_000)) throw bad('forks', 'an integer from 1 to 10000');
  if ('remoteDir' in c && !(typeof c.remoteDir === 'string' && /^\/[A-Za-z0-9._/-]+$/.test(c.remoteDir) && !c.remoteDir.includes('..'))) {
    throw bad('remoteDir', 'an absolute path of letters, digits and ._/-');
  }
  if ('noexecRemoteDir' in c && c.noexecRemoteDir !== null && !(typeof c.noexecRemoteDir === 'string' && /^\/[A-Za-z0-9._/-]+$/.test(c.noexecRemoteDir) && !c.noexecRemoteDir.includes('..'))) {
    throw bad('noexecRemoteDir', 'null or an absolute path of letters, digits and ._/-');
  }
  if ('sshConfigFile' in c && c.sshConfigFile !== null && !(typeof c.sshConfigFile === 'string' && c.sshConfigFile)) throw bad('sshConfigFile', 'a file path or null');
  if ('acceptNewHostKeys' in c && typeof c.acceptNewHostKeys !== 'boolean') throw bad('acceptNewHostKeys', 'true or false');
}
