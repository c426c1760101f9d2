/** Host variables with Ansible's precedence (VariableManager.get_vars without a play), lowest
 * first: the `all` group's inventory vars; every other group's inventory vars, groups sorted by
 * depth, then ansible_group_priority, then name; group_vars/all next to each inventory source;
 * group_vars/<group> next to each source (sources in -i order, groups sorted); the host's own
 * inventory vars; host_vars/<host> next to each source. group_vars/ and host_vars/ entries are a
 * file (no extension, .yml, .yaml or .json) or a directory read recursively in sorted order. */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sortGroups, type Group, type Host, type InventoryData } from './data.ts';
import { decodeUtf8, SourceError } from './errors.ts';
import { jsonKeyOf, keyText, PyMap, toPyValue, truthyLoaded } from './pymap.ts';
import { pySplitext } from './sources.ts';
import { decryptVault, isVaultText, VaultError, type VaultSecret } from './vault.ts';
import { codePointCompare, newDict, Secret, type PyDict } from './values.ts';
import { LoadError, loadData } from './yamlload.ts';

const VARS_EXTENSIONS = ['.yml', '.yaml', '.json'];

/** Variables Ansible removes from `ansible-inventory` output (its own magic variables). */
export const INTERNAL_VARS = new Set(['ansible_diff_mode', 'ansible_config_file', 'ansible_facts', 'ansible_forks', 'ansible_inventory_sources', 'ansible_limit', 'ansible_playbook_python', 'ansible_run_tags', 'ansible_skip_tags', 'ansible_verbosity', 'ansible_version', 'inventory_dir', 'inventory_file', 'inventory_hostname', 'inventory_hostname_short', 'groups', 'group_names', 'omit', 'playbook_dir']);

/** The group_vars/ and host_vars/ files next to the inventory sources, each read once. */
export class AdjacentVars {
  private readonly files = new Map<string, PyDict | null>();
  private readonly found = new Map<string, string[]>();
  /** Every file read, for `fleetpatch inventory` to say where values came from. */
  readonly read: string[] = [];

  constructor(
    /** The directories next to the sources: a directory source itself, a file's directory. */
    private readonly dirs: string[],
    private readonly secrets: VaultSecret[],
    private readonly warn: (msg: string) => void,
  ) {}

  /** For each source directory, for each entity in order: its files' variables. */
  varsFor(kind: 'group_vars' | 'host_vars', names: string[]): PyDict {
    const out = newDict();
    for (const dir of this.dirs) {
      for (const name of names) {
        for (const file of this.filesFor(dir, kind, name)) {
          const vars = this.load(file);
          if (vars) Object.assign(out, vars);
        }
      }
    }
    return out;
  }

  private filesFor(dir: string, kind: string, name: string): string[] {
    if (name.startsWith('/')) return [];
    let base: string;
    try {
      base = realpathSync(join(dir, kind));
    } catch {
      return [];
    }
    const key = `${name}\0${base}`;
    const cached = this.found.get(key);
    if (cached) return cached;
    let files: string[] = [];
    if (!statSync(base).isDirectory()) {
      this.warn(`Found ${kind} that is not a directory, skipping: ${base}`);
    } else {
      for (const ext of ['', ...VARS_EXTENSIONS]) {
        const p = join(base, name) + ext;
        if (!existsSync(p)) continue;
        if (statSync(p).isDirectory()) files = dirFiles(p);
        else files = [p];
        break;
      }
    }
    this.found.set(key, files);
    return files;
  }

  private load(file: string): PyDict | null {
    if (this.files.has(file)) return this.files.get(file)!;
    this.read.push(file);
    let bytes: Buffer = readFileSync(file);
    let vaulted = false;
    if (isVaultText(bytes)) {
      try {
        bytes = decryptVault(bytes.toString('latin1'), this.secrets, `variables file ${file}`);
      } catch (err) {
        if (err instanceof VaultError) throw new SourceError(err.message, file);
        throw err;
      }
      vaulted = true;
    }
    const text = decodeUtf8(bytes, file);
    let data;
    try {
      data = loadData(text, file);
    } catch (err) {
      if (err instanceof LoadError) throw new SourceError(err.message, file, err.line);
      throw err;
    }
    let vars: PyDict | null = null;
    if (truthyLoaded(data)) {
      if (!(data instanceof PyMap)) throw new SourceError(`a variables file must hold a mapping of variable names to values, not ${Array.isArray(data) ? 'a list' : `the value ${keyText(data)}`}`, file);
      vars = newDict();
      for (const [k, v] of data.entries) {
        const value = toPyValue(v);
        vars[jsonKeyOf(k) ?? keyText(k)] = vaulted ? new Secret(value, file) : value;
      }
    }
    this.files.set(file, vars);
    return vars;
  }
}

/** `DataLoader._get_dir_vars_files`: sorted, hidden and backup files skipped, directories
 * without an extension entered. */
function dirFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort(codePointCompare)) {
    if (name.startsWith('.') || name.endsWith('~')) continue;
    const full = join(dir, name);
    const ext = pySplitext(name);
    const st = statSync(full, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory() && !ext) out.push(...dirFiles(full));
    else if (st.isFile() && (!ext || VARS_EXTENSIONS.includes(ext))) out.push(full);
  }
  return out;
}

/** The directories whose group_vars/ and host_vars/ apply: each source that is a directory, the
 * directory of each source that is a file (host lists have none). */
export function adjacentDirs(sources: string[]): string[] {
  const dirs: string[] = [];
  for (const s of sources) {
    if (s.includes(',') && !existsSync(s)) continue;
    let isDir = false;
    try {
      isDir = statSync(s).isDirectory();
    } catch {
      isDir = false;
    }
    dirs.push(isDir ? s : dirname(s));
  }
  return dirs;
}

/** A host's variables with Ansible's precedence (magic variables not included). */
export function mergedHostVars(inv: InventoryData, host: Host, adjacent: AdjacentVars): PyDict {
  const all = inv.groups.get('all')!;
  const groups: Group[] = sortGroups(host.groups.filter((g) => g.name !== 'all'));
  const out = newDict();
  Object.assign(out, all.vars);
  for (const g of groups) Object.assign(out, g.vars);
  Object.assign(out, adjacent.varsFor('group_vars', ['all']));
  Object.assign(out, adjacent.varsFor('group_vars', groups.map((g) => g.name)));
  Object.assign(out, host.vars);
  Object.assign(out, adjacent.varsFor('host_vars', [host.name]));
  return out;
}
