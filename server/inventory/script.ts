/** Executable inventory scripts as Ansible runs them (ansible/plugins/inventory/script.py):
 * `SCRIPT --list` prints a JSON object of groups (a list of hosts, or {hosts, vars, children},
 * or a host's own variables); `_meta.hostvars` gives every host's variables, and without it
 * `SCRIPT --host NAME` is asked for each host. fleetpatch stops a script after a minute. */
import { spawnSync } from 'node:child_process';
import { InventoryDataError, type InventoryData } from './data.ts';
import { SourceError } from './errors.ts';
import { JsonError, parsePyJson } from './pyjson.ts';
import { jsonKeyOf, keyText, PyMap, toPyValue, type Loaded } from './pymap.ts';
import { LoadError, loadData } from './yamlload.ts';
import type { PyValue } from './values.ts';

export const SCRIPT_TIMEOUT_MS = 60_000;

export function runInventoryScript(inv: InventoryData, file: string, cwd: string, wrap: (v: PyValue) => PyValue): void {
  const fail = (msg: string): never => {
    throw new SourceError(msg, file);
  };
  const r = spawnSync(file, ['--list'], { cwd, timeout: SCRIPT_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) fail(`problem running ${file} --list (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`);
  const err = r.stderr.toString('utf8');
  if (r.status !== 0) fail(`Inventory script (${file}) had an execution error: ${r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`}${err ? `: ${err.trim()}` : ''}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(r.stdout);
  } catch {
    return fail(`Inventory ${file} contained characters that cannot be interpreted as UTF-8`);
  }
  let processed: Loaded;
  try {
    processed = parsePyJson(text, file);
  } catch (e) {
    if (e instanceof JsonError) return fail(`failed to parse executable inventory script results from ${file}: ${e.message}`);
    throw e;
  }
  if (!(processed instanceof PyMap)) return fail(`failed to parse executable inventory script results from ${file}: needs to be a json dict`);

  const guard = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof InventoryDataError) fail(e.message);
      throw e;
    }
  };
  const hosts: Loaded[] = [];
  const seen = new Set<string>();
  let meta: Loaded | undefined;
  for (const [group, gdata] of processed.entries) {
    if (group === '_meta') {
      if (gdata instanceof PyMap && gdata.has('hostvars')) meta = gdata.get('hostvars');
      continue;
    }
    guard(() => parseGroup(group, gdata));
  }
  function parseGroup(groupKey: Loaded, raw: Loaded): void {
    const group = inv.addGroup(groupKey as PyValue, file);
    let data: PyMap;
    if (!(raw instanceof PyMap)) {
      data = new PyMap();
      data.set('hosts', raw);
    } else if (!['hosts', 'vars', 'children'].some((k) => raw.has(k))) {
      data = new PyMap();
      data.set('hosts', [group]);
      data.set('vars', raw);
    } else data = raw;
    if (data.has('hosts')) {
      const list = data.get('hosts');
      if (!Array.isArray(list)) fail(`You defined a group '${group}' with bad data for the host list:\n ${keyText(list ?? null)}`);
      for (const h of list as Loaded[]) {
        const key = typeof h === 'string' ? h : keyText(h);
        if (!seen.has(key)) {
          seen.add(key);
          hosts.push(h);
        }
        inv.addHost(h as PyValue, group, null, file);
      }
    }
    if (data.has('vars')) {
      const vars = data.get('vars');
      if (!(vars instanceof PyMap)) fail(`You defined a group '${group}' with bad data for variables:\n ${keyText(vars ?? null)}`);
      for (const [k, v] of (vars as PyMap).entries) inv.setVariable(group, jsonKeyOf(k) ?? keyText(k), wrap(toPyValue(v)));
    }
    if (data.has('children')) {
      for (const child of iterate(data.get('children')!)) inv.addChild(group, inv.addGroup(child as PyValue, file));
    }
  }
  for (const host of hosts) {
    let got: Loaded;
    if (meta === undefined) got = hostVariables(file, String(host), cwd);
    else if (meta instanceof PyMap) got = meta.get(host) ?? new PyMap();
    else return fail(`Improperly formatted host information for ${keyText(host)}: '${typeof meta}' object has no attribute 'get'`);
    if (!(got instanceof PyMap)) fail(`Invalid data from file, expected dictionary and got:\n\n${keyText(got)} (for host ${keyText(host)})`);
    guard(() => {
      for (const [k, v] of (got as PyMap).entries) inv.setVariable(String(host), jsonKeyOf(k) ?? keyText(k), wrap(toPyValue(v)));
    });
  }

  /** Python iteration: a dict's keys, a list's items, a string's characters. */
  function iterate(v: Loaded): Loaded[] {
    if (v instanceof PyMap) return v.entries.map(([k]) => k);
    if (Array.isArray(v)) return v;
    if (typeof v === 'string') return [...v];
    return fail(`'${v === null ? 'NoneType' : typeof v}' object is not iterable`);
  }
}

function hostVariables(file: string, host: string, cwd: string): Loaded {
  const r = spawnSync(file, ['--host', host], { cwd, timeout: SCRIPT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new SourceError(`problem running ${file} --host ${host} (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`, file);
  // Ansible's check for empty output compares bytes with a str and never matches: empty output
  // loads as None, which is refused like any non-dictionary.
  const out = r.stdout.toString('utf8');
  try {
    return loadData(out, file);
  } catch (e) {
    if (e instanceof LoadError) throw new SourceError(`could not parse post variable response: ${file} --host ${host}: ${e.message}`, file);
    throw e;
  }
}
