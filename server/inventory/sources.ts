/** Reading inventory sources as Ansible's InventoryManager does: a directory is read entry by
 * entry in byte order (hidden files, group_vars/, host_vars/ and .ini/.cfg/.md/.txt/.retry/…
 * files skipped), a file is offered to the plugins in Ansible's order — script (executable or
 * `#!`), auto (a `plugin:` YAML config: refused), yaml (no extension, .yml, .yaml, .json), ini —
 * and the first that parses it wins; a comma-separated string is a host list. Each attempt works
 * on a copy, so a failed plugin leaves nothing behind; a source no plugin parses is an error. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AppError } from '../errors.ts';
import { parseAddress } from './address.ts';
import { InventoryDataError, type InventoryData } from './data.ts';
import { decodeUtf8, SourceError } from './errors.ts';
import { parseIni } from './ini.ts';
import { keyText, PyMap, truthyLoaded } from './pymap.ts';
import { runInventoryScript } from './script.ts';
import { decryptVault, isVaultText, VaultError, type VaultSecret } from './vault.ts';
import { Secret, type PyValue } from './values.ts';
import { parseYamlInventory } from './yaml.ts';
import { LoadError, loadData } from './yamlload.ts';

const IGNORED = /^\.|^host_vars$|^group_vars$|^vars_plugins$|\.pyc$|\.pyo$|\.swp$|\.bak$|~$|\.rpm$|\.md$|\.txt$|\.rst$|\.orig$|\.ini$|\.cfg$|\.retry$/;
const YAML_EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface SourceContext {
  secrets: VaultSecret[];
  cwd: string;
  warn: (msg: string) => void;
}

/** Parses one source (already an absolute path, or a host list) into `inv`; returns the
 * inventory data to continue with. */
export function parseSource(inv: InventoryData, source: string, ctx: SourceContext): InventoryData {
  let st;
  try {
    st = statSync(source);
  } catch (err) {
    if (source.includes(',')) return parseHostList(inv, source);
    throw new AppError('inventory', `cannot read inventory ${source}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (st.isDirectory()) {
    const names = readdirSync(source).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    let parsed = false;
    for (const name of names) {
      if (IGNORED.test(name)) continue;
      inv = parseSource(inv, join(source, name), ctx);
      parsed = true;
    }
    if (!parsed) throw new SourceError('no inventory file in this directory (Ansible skips hidden files, group_vars/, host_vars/ and .ini, .cfg, .md, .txt, .retry, … files in an inventory directory)', source);
    return inv;
  }
  return parseFile(inv, source, ctx);
}

function parseHostList(inv: InventoryData, list: string): InventoryData {
  const copy = inv.clone();
  try {
    for (const raw of list.split(',')) {
      const h = raw.trim();
      if (!h) continue;
      let host = h;
      let port: number | null = null;
      try {
        ({ host, port } = parseAddress(h, false));
      } catch {
        // not an address: the name is used as written
      }
      if (!copy.hosts.has(host)) copy.addHost(host, 'ungrouped', port, `-i ${JSON.stringify(list)}`);
    }
  } catch (err) {
    if (err instanceof InventoryDataError) throw new SourceError(`Invalid data from string, could not parse: ${err.message}`, `-i ${list}`);
    throw err;
  }
  return copy;
}

interface Attempt {
  plugin: 'script' | 'auto' | 'yaml' | 'ini';
  error: SourceError;
  /** The YAML loaded but was not a valid inventory (rather than not being YAML at all). */
  structural?: boolean;
}

function parseFile(inv: InventoryData, file: string, ctx: SourceContext): InventoryData {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new SourceError(`cannot read inventory source: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, file);
  }
  const attempts: Attempt[] = [];
  const ext = pySplitext(file);
  const shebang = bytes.subarray(0, 2).toString('latin1') === '#!';
  const executable = (statSync(file).mode & 0o111) !== 0;
  const attempt = (plugin: Attempt['plugin'], fn: (copy: InventoryData) => void, structural?: () => boolean): InventoryData | null => {
    const copy = inv.clone();
    try {
      fn(copy);
      return copy;
    } catch (err) {
      if (err instanceof SourceError) attempts.push({ plugin, error: err, structural: structural?.() ?? false });
      else if (err instanceof InventoryDataError) attempts.push({ plugin, error: new SourceError(err.message, file) });
      else throw err;
      return null;
    }
  };

  if (executable || shebang) {
    const done = attempt('script', (copy) => runInventoryScript(copy, file, ctx.cwd, (v) => v));
    if (done) return done;
  }

  // Everything but a script reads the file through Ansible's loader, which decrypts a vault.
  let text: string | null = null;
  let vaulted = false;
  const textOf = (): string => {
    if (text !== null) return text;
    let data = bytes;
    if (isVaultText(bytes)) {
      try {
        data = decryptVault(bytes.toString('latin1'), ctx.secrets, `inventory ${file}`);
      } catch (err) {
        if (err instanceof VaultError) throw new SourceError(err.message, file);
        throw err;
      }
      vaulted = true;
    }
    text = decodeUtf8(data, file);
    return text;
  };
  const wrap = (v: PyValue): PyValue => (vaulted ? new Secret(v, file) : v);
  let loaded: ReturnType<typeof loadData> | undefined;
  const load = () => {
    if (loaded !== undefined) return loaded;
    try {
      loaded = loadData(textOf(), file);
    } catch (err) {
      if (err instanceof LoadError) throw new SourceError(err.message, file, err.line);
      throw err;
    }
    return loaded;
  };

  if (file.endsWith('.yml') || file.endsWith('.yaml')) {
    try {
      const data = load();
      if (data instanceof PyMap && truthyLoaded(data.get('plugin'))) {
        throw new SourceError(`inventory plugin ${keyText(data.get('plugin')!)} (a "plugin:" inventory configuration) is not supported by fleetpatch; export it with \`ansible-inventory -i ${basename(file)} --list --export\` and use the result`, file, data.lineOf('plugin'));
      }
    } catch (err) {
      if (!(err instanceof SourceError) || /is not supported by fleetpatch/.test(err.message)) throw err;
    }
  }

  if (!ext || YAML_EXTENSIONS.includes(ext)) {
    let didLoad = false;
    const done = attempt(
      'yaml',
      (copy) => {
        const data = load();
        didLoad = data instanceof PyMap && data.size > 0;
        parseYamlInventory(copy, data, file, ctx.warn, wrap);
      },
      () => didLoad,
    );
    if (done) return done;
  }

  const done = attempt('ini', (copy) => parseIni(copy, textOf(), file, wrap));
  if (done) return done;

  throw bestFailure(attempts, ext, shebang);
}

/** The failure to show when no plugin could read a file: the plugin the file was meant for. */
function bestFailure(attempts: Attempt[], ext: string, shebang: boolean): SourceError {
  const by = (p: Attempt['plugin']) => attempts.find((a) => a.plugin === p);
  const pick =
    (shebang && by('script')) ||
    (YAML_EXTENSIONS.includes(ext) && by('yaml')) ||
    attempts.find((a) => a.plugin === 'yaml' && a.structural) ||
    by('ini') ||
    by('yaml') ||
    attempts[0];
  return pick?.error ?? new SourceError('no inventory plugin could read this file', '?');
}

/** Python's `os.path.splitext(path)[1]`. */
export function pySplitext(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const stripped = name.replace(/^\.+/, '');
  const dot = stripped.lastIndexOf('.');
  return dot < 0 ? '' : stripped.slice(dot);
}
