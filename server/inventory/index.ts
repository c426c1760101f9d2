/** Reading inventories exactly as Ansible reads them, and resolving a target (inventory +
 * pattern → hosts with their variables). See docs/inventory.md for every rule and the few
 * places where fleetpatch deliberately refuses what Ansible would accept. */
import { AppError } from '../errors.ts';
import { findAnsibleCfg, readAnsibleCfg, type AnsibleConfig } from './ansible-cfg.ts';
import { InventoryData, InventoryDataError, type Host } from './data.ts';
import { SourceError } from './errors.ts';
import { unfrackPath } from './paths.ts';
import { matchPattern, PatternError } from './pattern.ts';
import { parseSource } from './sources.ts';
import type { SshOptions } from './ssh-args.ts';
import type { TargetHost } from './types.ts';
import { plainValue, VaultText, type PyDict } from './values.ts';
import { readVaultPasswordFile, VaultError, decryptVault, type VaultSecret } from './vault.ts';
import { adjacentDirs, AdjacentVars, mergedHostVars } from './vars.ts';

export type { TargetHost } from './types.ts';

export interface LoadOptions {
  /** --vault-password-file: files (or executables printing) vault passwords. */
  vaultPasswordFiles?: string[];
  /** The ansible.cfg to read: a path, null for none, undefined to look where Ansible looks. */
  ansibleCfg?: string | null;
  /** The working directory relative paths and ansible.cfg are found from. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Inventory {
  data: InventoryData;
  /** The sources read, as absolute paths (or host lists). */
  sources: string[];
  config: AnsibleConfig | null;
  secrets: VaultSecret[];
  /** What Ansible would warn about (skipped YAML keys, patterns matching nothing, …). */
  warnings: string[];
  /** Every host's variables with Ansible's precedence (no magic variables). */
  hostVars: Map<string, PyDict>;
  adjacent: AdjacentVars;
  cwd: string;
}

/** Reads the inventory sources (`-i` paths, or ansible.cfg's `inventory`) completely, or throws
 * an AppError naming file and line: never a partial inventory. */
export function loadInventory(paths: string[], opts: LoadOptions = {}): Inventory {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  try {
    const cfgFile = opts.ansibleCfg === undefined ? findAnsibleCfg(cwd, env) : opts.ansibleCfg;
    const config = cfgFile ? readAnsibleCfg(cfgFile, cwd, env) : null;
    const warnings: string[] = [];
    if (config?.hostKeyCheckingDisabled) warnings.push(`${config.file}: host_key_checking = False is ignored: fleetpatch always checks host keys against the controller's known_hosts`);
    let sources = paths.map((p) => (p.includes(',') ? p : unfrackPath(p, cwd, env)));
    if (sources.length === 0) {
      if (!config?.inventory) throw new AppError('usage', `no inventory given: pass -i PATH${config ? ` (or set inventory in [defaults] of ${config.file})` : ''}`);
      sources = config.inventory;
    }
    const passwordFiles = [...(opts.vaultPasswordFiles ?? []).map((f) => unfrackPath(f, cwd, env)), ...(config?.vaultPasswordFile ? [config.vaultPasswordFile] : [])];
    const secrets = passwordFiles.map((f) => readVaultPasswordFile(f));
    let data = new InventoryData();
    const ctx = { secrets, cwd, warn: (m: string) => warnings.push(m) };
    for (const s of sources) if (s) data = parseSource(data, s, ctx);
    data.reconcile();
    for (const name of data.hosts.keys()) if (data.groups.has(name)) warnings.push(`Found both group and host with same name: ${name}`);
    const adjacent = new AdjacentVars(adjacentDirs(sources), secrets, ctx.warn);
    const hostVars = new Map<string, PyDict>();
    for (const h of data.hosts.values()) hostVars.set(h.name, mergedHostVars(data, h, adjacent));
    return { data, sources, config, secrets, warnings, hostVars, adjacent, cwd };
  } catch (err) {
    throw asAppError(err);
  }
}

/** The hosts a pattern selects (Ansible's order), with their variables as SSH code reads them:
 * plain values, ansible.cfg's remote_user and private_key_file where the host sets neither
 * ansible_user nor a key, and vault values decrypted when read. Matching nothing is an error. */
export function resolveTarget(inv: Inventory, pattern = 'all'): TargetHost[] {
  const hosts = selectHosts(inv, pattern);
  return hosts.map((h) => targetHost(inv, h));
}

/** The inventory hosts a pattern selects; an AppError('pattern') when none. */
export function selectHosts(inv: Inventory, pattern: string): Host[] {
  let result;
  try {
    result = matchPattern(inv.data, pattern, inv.cwd);
  } catch (err) {
    if (err instanceof PatternError) throw new AppError('pattern', `pattern ${JSON.stringify(pattern)}: ${err.message}`);
    throw err;
  }
  inv.warnings.push(...result.warnings.map((w) => `pattern ${JSON.stringify(pattern)}: ${w}`));
  if (result.hosts.length === 0) {
    throw new AppError('pattern', `pattern ${JSON.stringify(pattern)} matches no host in ${inv.sources.join(', ')}${result.warnings.length ? ` (${result.warnings.join('; ')})` : ''}`);
  }
  return result.hosts;
}

function targetHost(inv: Inventory, h: Host): TargetHost {
  const merged = inv.hostVars.get(h.name)!;
  const vars = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(merged)) {
    const plain = plainValue(v);
    if (plain instanceof VaultText) {
      Object.defineProperty(vars, k, { enumerable: true, get: () => decryptInline(inv, h.name, k, plain) });
    } else vars[k] = plain;
  }
  const cfg = inv.config;
  if (cfg?.remoteUser && vars.ansible_user === undefined && vars.ansible_ssh_user === undefined) vars.ansible_user = cfg.remoteUser;
  if (cfg?.privateKeyFile && vars.ansible_ssh_private_key_file === undefined && vars.ansible_private_key_file === undefined) vars.ansible_ssh_private_key_file = cfg.privateKeyFile;
  const groupNames = h.groups.filter((g) => g.name !== 'all').map((g) => g.name).sort();
  vars.inventory_hostname = h.name;
  vars.inventory_hostname_short = h.name.split('.')[0];
  vars.group_names = groupNames;
  const target: TargetHost = { name: h.name, vars, groups: groupNames, source: h.source };
  if (cfg?.ssh) target.ssh = cfg.ssh;
  return target;
}

function decryptInline(inv: Inventory, host: string, key: string, v: VaultText): string {
  try {
    return decryptVault(v.ciphertext, inv.secrets, `host ${host}: variable ${key} (${v.where})`).toString('utf8');
  } catch (err) {
    if (err instanceof VaultError) throw new AppError('inventory', err.message);
    throw err;
  }
}

function asAppError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  if (err instanceof SourceError) return new AppError('inventory', err.located);
  if (err instanceof VaultError || err instanceof InventoryDataError) return new AppError('inventory', err.message);
  return err;
}

export type { SshOptions };
