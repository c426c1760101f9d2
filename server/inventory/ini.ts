/** Ansible's INI inventory plugin (ansible/plugins/inventory/ini.py), rule for rule: hosts before
 * any section go to `ungrouped`; `[g]`, `[g:vars]`, `[g:children]` (children may be declared
 * later); `#`/`;` comments; host lines split like a POSIX shell; `host:port` and ranges; values
 * typed by Python's literal_eval (a host line's `x="5"` is the int 5, a :vars line's `x="5"` the
 * string 5). Where Ansible fails to parse, this throws a SourceError naming the line. */
import { AddressError, expandHostPattern } from './address.ts';
import { InventoryDataError, type InventoryData } from './data.ts';
import { SourceError } from './errors.ts';
import { iniValue, LiteralTypeError } from './pyliteral.ts';
import { pySplitlines, pyStrip } from './pystr.ts';
import { ShlexError, shlexSplit } from './shlex.ts';
import type { PyValue } from './values.ts';

const S = String.raw`\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
const SECTION = new RegExp(String.raw`^\[([^:\]${S}]+)(?::([\p{L}\p{N}_]+))?\][${S}]*(?:#.*)?$`, 'u');
const GROUP_NAME = new RegExp(String.raw`^([^:\]${S}]+)[${S}]*(?:#.*)?$`, 'u');

interface Pending {
  line: number;
  state: 'vars' | 'children';
  name: string;
  parents: string[];
}

/** Reads one INI inventory into `inv`. `text` is the decoded file. */
export function parseIni(inv: InventoryData, text: string, file: string, wrap: (v: PyValue) => PyValue = (v) => v): void {
  const lines = pySplitlines(text);
  const editorLine = editorLineNumbers(text, lines);
  const pending = new Map<string, Pending>();
  let group = 'ungrouped';
  let state = 'hosts';
  let lineno = 0;
  const fail = (msg: string): never => {
    throw new SourceError(msg, file, editorLine[lineno - 1] ?? lineno);
  };
  const guard = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof InventoryDataError || err instanceof AddressError || err instanceof LiteralTypeError) fail(err.message);
      throw err;
    }
  };
  const where = () => `${file}:${editorLine[lineno - 1] ?? lineno}`;

  for (const raw of lines) {
    lineno++;
    const line = pyStrip(raw);
    if (!line || line[0] === ';' || line[0] === '#') continue;
    const m = SECTION.exec(line);
    if (m) {
      group = m[1]!;
      state = m[2] ?? 'hosts';
      if (!['hosts', 'children', 'vars'].includes(state)) fail(`Section [${m[1]}:${m[2]}] has unknown type: ${state}`);
      if (!inv.groups.has(group)) {
        if (state === 'vars' && !pending.has(group)) pending.set(group, { line: editorLine[lineno - 1]!, state: 'vars', name: group, parents: [] });
        guard(() => inv.addGroup(group, where()));
      }
      const p = pending.get(group);
      if (p && state !== 'vars') {
        if (p.state === 'children') guard(() => addPendingChildren(inv, group, pending));
        else pending.delete(group);
      }
      continue;
    }
    if (line.startsWith('[') && line.endsWith(']')) {
      fail(`Invalid section entry: '${line}'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters`);
    }
    if (state === 'hosts') {
      const { names, port, vars } = guard(() => hostDefinition(line, fail));
      guard(() => {
        for (const name of names) {
          inv.addHost(name, group, port, where());
          for (const [k, v] of vars) inv.setVariable(name, k, wrap(v));
        }
      });
    } else if (state === 'vars') {
      const eq = line.indexOf('=');
      if (eq < 0) fail(`Expected key=value, got: ${line}`);
      const key = pyStrip(line.slice(0, eq));
      const value = guard(() => iniValue(pyStrip(line.slice(eq + 1))));
      guard(() => inv.setVariable(group, key, wrap(value)));
    } else {
      const gm = GROUP_NAME.exec(line);
      if (!gm) fail(`Expected group name, got: ${line}`);
      const child = gm![1]!;
      if (!inv.groups.has(child)) {
        const p = pending.get(child);
        if (!p) pending.set(child, { line: editorLine[lineno - 1]!, state: 'children', name: child, parents: [group] });
        else p.parents.push(group);
      } else guard(() => inv.addChild(group, child));
    }
  }
  for (const p of pending.values()) {
    if (p.state === 'vars') throw new SourceError(`Section [${p.name}:vars] not valid for undefined group: ${p.name}`, file, p.line);
    throw new SourceError(`Section [${p.parents[p.parents.length - 1]}:children] includes undefined group: ${p.name}`, file, p.line);
  }
}

function addPendingChildren(inv: InventoryData, group: string, pending: Map<string, Pending>): void {
  for (const parent of pending.get(group)!.parents) {
    inv.addChild(parent, group);
    if (pending.get(parent)?.state === 'children') addPendingChildren(inv, parent, pending);
  }
  pending.delete(group);
}

/** `_parse_host_definition`: the names (ranges expanded), the port and the typed variables. */
function hostDefinition(line: string, fail: (msg: string) => never): { names: string[]; port: number | null; vars: Map<string, PyValue> } {
  let tokens: string[];
  try {
    tokens = shlexSplit(line, true);
  } catch (err) {
    if (err instanceof ShlexError) fail(`Error parsing host definition '${line}': ${err.message}`);
    throw err;
  }
  if (tokens.length === 0) fail(`Expected a host name, got: ${line}`);
  const pattern = tokens[0]!;
  const { names, port } = expandHostPattern(pattern);
  if (pyStrip(pattern).endsWith(':') && port === null) {
    fail(`Invalid host pattern '${pattern}' supplied, ending in ':' is not allowed, this character is reserved to provide a port.`);
  }
  if (names.some((n) => pyStrip(n) === '---')) fail(`Invalid host pattern '${pattern}' supplied, '---' is normally a sign this is a YAML file.`);
  const vars = new Map<string, PyValue>();
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq < 0) fail(`Expected key=value host variable assignment, got: ${t}`);
    vars.set(t.slice(0, eq), iniValue(t.slice(eq + 1)));
  }
  return { names, port, vars };
}

/** The editor line (counting \n, \r\n and \r) where each Python line starts: Python also ends
 * lines at \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029. */
function editorLineNumbers(text: string, lines: string[]): number[] {
  const out: number[] = [];
  let pos = 0;
  let line = 1;
  for (const l of lines) {
    out.push(line);
    const end = pos + l.length;
    for (let i = pos; i < end; i++) if (text[i] === '\n' || (text[i] === '\r' && text[i + 1] !== '\n')) line++;
    pos = end;
    if (text.startsWith('\r\n', pos)) {
      pos += 2;
      line++;
    } else if (pos < text.length) {
      if (text[pos] === '\n' || text[pos] === '\r') line++;
      pos += 1;
    }
  }
  return out;
}
