/** Ansible INI inventory reader (the common subset; full Ansible parity is issue #5's work):
 * hosts before any section, [g], [g:vars], [g:children], comments, host:port, quoting, ranges. */
import { AppError } from '../errors.ts';
import type { Inventory, InventoryGroup, Vars } from './types.ts';

export function parseIni(text: string, file: string, inv: Inventory = emptyInventory()): Inventory {
  inv.sources.push(file);
  let section = { group: 'ungrouped', kind: 'hosts' as 'hosts' | 'vars' | 'children' };
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const [name, kind = 'hosts'] = header[1]!.split(':') as [string, string?];
      if (!['hosts', 'vars', 'children'].includes(kind) || !/^[A-Za-z_][\w-]*$/.test(name)) {
        throw new AppError('inventory', `${where}: invalid section header ${line}`);
      }
      section = { group: name, kind: kind as typeof section.kind };
      group(inv, name);
      return;
    }
    if (section.kind === 'vars') {
      const eq = line.indexOf('=');
      if (eq <= 0) throw new AppError('inventory', `${where}: expected key=value in [${section.group}:vars], got ${line}`);
      group(inv, section.group).vars[line.slice(0, eq).trim()] = unquote(line.slice(eq + 1).trim(), where);
      return;
    }
    const tokens = splitWords(line, where);
    if (section.kind === 'children') {
      if (tokens.length !== 1) throw new AppError('inventory', `${where}: expected one group name in [${section.group}:children]`);
      const child = tokens[0]!;
      const parent = group(inv, section.group);
      group(inv, child);
      if (!parent.children.includes(child)) parent.children.push(child);
      return;
    }
    const [spec, ...assignments] = tokens;
    const vars: Vars = {};
    for (const a of assignments) {
      const eq = a.indexOf('=');
      if (eq <= 0) throw new AppError('inventory', `${where}: expected key=value after the host name, got ${a}`);
      vars[a.slice(0, eq)] = a.slice(eq + 1);
    }
    const { names, port } = hostSpec(spec!, where);
    if (port !== undefined) vars.ansible_port = port;
    const g = group(inv, section.group);
    for (const name of names) {
      const host = inv.hosts.get(name) ?? { name, vars: {}, source: where };
      Object.assign(host.vars, vars);
      inv.hosts.set(name, host);
      if (!g.hosts.includes(name)) g.hosts.push(name);
    }
  });
  return inv;
}

export function emptyInventory(): Inventory {
  const inv: Inventory = { hosts: new Map(), groups: new Map(), sources: [] };
  group(inv, 'all');
  group(inv, 'ungrouped');
  return inv;
}

function group(inv: Inventory, name: string): InventoryGroup {
  let g = inv.groups.get(name);
  if (!g) {
    g = { name, hosts: [], children: [], vars: {} };
    inv.groups.set(name, g);
  }
  return g;
}

/** `name`, `name:port`, and ranges `web[01:20]`, `[a:f]`, `[1:9:3]` expanded. */
function hostSpec(spec: string, where: string): { names: string[]; port?: number } {
  let port: number | undefined;
  const m = /^(.*[^:]):(\d+)$/.exec(spec);
  if (m && !m[1]!.includes(':')) {
    spec = m[1]!;
    port = Number(m[2]);
    if (port < 1 || port > 65535) throw new AppError('inventory', `${where}: port ${m[2]} out of range`);
  }
  if (!/^[\w.\-[\]:]+$/u.test(spec) && !/^[\p{L}\p{N}_.\-[\]:]+$/u.test(spec)) {
    throw new AppError('inventory', `${where}: invalid host name ${JSON.stringify(spec)}`);
  }
  return { names: expandRanges(spec, where), ...(port !== undefined ? { port } : {}) };
}

function expandRanges(spec: string, where: string): string[] {
  const m = /^(.*?)\[([^\]]+)\](.*)$/.exec(spec);
  if (!m) return [spec];
  const [, head, range, tail] = m as unknown as [string, string, string, string];
  const parts = range.split(':');
  if (parts.length < 2 || parts.length > 3) throw new AppError('inventory', `${where}: invalid range [${range}]`);
  const [start, end, stepText = '1'] = parts as [string, string, string?];
  const step = Number(stepText);
  const items: string[] = [];
  if (/^\d+$/.test(start) && /^\d+$/.test(end) && Number.isInteger(step) && step > 0) {
    const width = start.length;
    for (let n = Number(start); n <= Number(end); n += step) items.push(String(n).padStart(width, '0'));
  } else if (/^[a-z]$/i.test(start) && /^[a-z]$/i.test(end) && Number.isInteger(step) && step > 0) {
    for (let c = start.charCodeAt(0); c <= end.charCodeAt(0); c += step) items.push(String.fromCharCode(c));
  } else {
    throw new AppError('inventory', `${where}: invalid range [${range}]`);
  }
  if (items.length === 0) throw new AppError('inventory', `${where}: range [${range}] is empty`);
  return items.flatMap((item) => expandRanges(`${head}${item}${tail}`, where));
}

/** Shell-like word splitting: quotes, backslash escapes, `#` starting a comment. */
function splitWords(line: string, where: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new AppError('inventory', `${where}: unterminated ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

function unquote(value: string, where: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
    return splitWords(value, where)[0] ?? '';
  }
  return value;
}
