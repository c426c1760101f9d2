/** Ansible's data loader (`DataLoader.load`): JSON first, then YAML the way Ansible's PyYAML
 * loader reads it — YAML 1.1 implicit types (yes/no/on/off, 012 octal, 1:30 sexagesimal,
 * timestamps), merge keys, `!vault`, `!unsafe`, the last of duplicate keys winning. */
import { Alias, isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar, type Node } from 'yaml';
import { JsonError, parsePyJson, wrapUnsafe } from './pyjson.ts';
import { PyMap, UnhashableError, type Loaded } from './pymap.ts';
import { Opaque, PyDate, PyFloat, UnsafeText, VaultText } from './values.ts';

/** A load failure with the 1-based line it was found on (when known). */
export class LoadError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
  ) {
    super(message);
  }
}

/** `from_yaml(text)`: JSON when it parses as JSON, YAML otherwise. */
export function loadData(text: string, where: string): Loaded {
  try {
    return parsePyJson(text, where);
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
  }
  return loadYaml(text, where);
}

const T = 'tag:yaml.org,2002:';

/** PyYAML's implicit resolvers, in the order Resolver registers them. */
const IMPLICIT: [string, RegExp][] = [
  ['bool', /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/],
  ['float', /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/],
  ['int', /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/],
  ['merge', /^(?:<<)$/],
  ['null', /^(?:~|null|Null|NULL|)$/],
  ['timestamp', /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/],
  ['value', /^(?:=)$/],
];

const TIMESTAMP = /^([0-9]{4})-([0-9][0-9]?)-([0-9][0-9]?)(?:(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9][0-9]):([0-9][0-9])(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9][0-9]))?))?)?$/;

type YNode = Node | Alias | null;

export function loadYaml(text: string, where: string): Loaded {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { version: '1.1', schema: 'failsafe', merge: false, uniqueKeys: false, lineCounter: lc, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    const e = doc.errors[0];
    // PyYAML names the line where it noticed the problem: the furthest position reported.
    const line = Math.max(0, ...doc.errors.flatMap((x) => (x.linePos ?? []).map((p) => p.line)));
    if (e) {
      const text = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new LoadError(/Maximum call stack/.test(text) ? 'YAML nested too deeply to read (the parser ran out of stack)' : `YAML syntax error: ${text}`, line || null);
    }
  }
  if (list.length > 1) throw new LoadError('expected a single document in the stream, but found another document', lineOf(lc, list[1]!.range[0]));
  if (list.length === 0 || list[0]!.contents === null) return null;
  const doc = list[0]!;
  const built = new Map<Node, Loaded>();
  const line = (n: Node | null | undefined) => (n?.range ? lineOf(lc, n.range[0]) : null);
  const fail = (msg: string, n: Node | null | undefined): never => {
    throw new LoadError(msg, line(n));
  };

  const resolve = (n: YNode): Node | null => {
    if (n && isAlias(n)) {
      const target = n.resolve(doc);
      if (!target) fail(`found undefined alias ${n.source}`, n);
      return target as Node;
    }
    return n as Node | null;
  };

  /** The tag PyYAML's composer gives a node: explicit, or resolved from a plain scalar. */
  const tagOf = (n: Node | null): string => {
    if (n === null) return `${T}null`;
    const explicit = n.tag;
    if (isScalar(n)) {
      if (explicit && explicit !== '!') return explicit;
      if (explicit === '!' || n.type !== 'PLAIN') return `${T}str`;
      const v = String(n.value);
      for (const [tag, re] of IMPLICIT) if (re.test(v)) return `${T}${tag}`;
      return `${T}str`;
    }
    if (explicit && explicit !== '!') return explicit;
    return isMap(n) ? `${T}map` : `${T}seq`;
  };

  const scalarText = (n: Node | null, tag: string): string => {
    if (n === null) return '';
    if (!isScalar(n)) fail(`expected a scalar node, but found ${isMap(n) ? 'mapping' : 'sequence'} (for the tag ${tag})`, n);
    const s = n as Scalar;
    const v = String(s.value);
    // A block scalar ending the file without a line break has no final newline in PyYAML.
    if ((s.type === 'BLOCK_LITERAL' || s.type === 'BLOCK_FOLDED') && v.endsWith('\n') && !/[\r\n]$/.test(text) && (s.range?.[1] ?? 0) >= text.length) return v.slice(0, -1);
    return v;
  };

  /** SafeConstructor.flatten_mapping: `<<` merges, earlier mappings of a list winning. */
  const pairsOf = (n: Node): [Node | null, Node | null][] => {
    if (!isMap(n)) fail('expected a mapping node', n);
    const own: [Node | null, Node | null][] = [];
    const merged: [Node | null, Node | null][] = [];
    for (const item of (n as unknown as { items: { key: YNode; value: YNode }[] }).items) {
      const k = resolve(item.key);
      const v = resolve(item.value);
      if (tagOf(k) === `${T}merge`) {
        if (v && isMap(v)) merged.push(...pairsOf(v));
        else if (v && isSeq(v)) {
          const subs: [Node | null, Node | null][][] = [];
          for (const s of v.items as YNode[]) {
            const sub = resolve(s);
            if (!sub || !isMap(sub)) fail(`while constructing a mapping: expected a mapping for merging, but found ${sub && isSeq(sub) ? 'sequence' : 'scalar'}`, sub ?? v);
            subs.push(pairsOf(sub as Node));
          }
          for (const s of subs.reverse()) merged.push(...s);
        } else fail(`while constructing a mapping: expected a mapping or list of mappings for merging, but found ${v && isScalar(v) ? 'scalar' : 'null'}`, v ?? n);
      } else own.push([k, v]);
    }
    return [...merged, ...own];
  };

  const construct = (raw: YNode, deep = true): Loaded => {
    const n = resolve(raw);
    if (n !== null && built.has(n)) return built.get(n)!;
    const tag = tagOf(n);
    const v = constructTagged(n, tag, deep);
    if (n !== null) built.set(n, v);
    return v;
  };

  const constructMap = (n: Node, deep: boolean): PyMap => {
    const map = new PyMap();
    if (n) built.set(n, map);
    for (const [kn, vn] of pairsOf(n)) {
      let key: Loaded;
      if (kn !== null && isScalar(kn) && tagOf(kn) === `${T}value`) key = scalarText(kn, 'str');
      else key = construct(kn);
      try {
        map.set(key, deep ? construct(vn) : shallow(vn), line(kn));
      } catch (err) {
        if (err instanceof UnhashableError) fail(`while constructing a mapping: found unacceptable key (${err.message})`, kn);
        throw err;
      }
    }
    return map;
  };

  /** PyYAML constructs nested collections later (deep=False); `!unsafe` copies them before. */
  const shallow = (raw: YNode): Loaded => {
    const n = resolve(raw);
    if (n !== null && built.has(n)) return built.get(n)!;
    const tag = tagOf(n);
    if (n && (tag === `${T}map` || tag === `${T}seq`)) {
      const v = construct(n);
      return v instanceof PyMap ? new PyMap() : [];
    }
    return construct(n);
  };

  const constructSeq = (n: Node, deep: boolean): Loaded[] => {
    if (!isSeq(n)) fail('expected a sequence node', n);
    const list: Loaded[] = [];
    built.set(n, list);
    for (const item of (n as unknown as { items: YNode[] }).items) list.push(deep ? construct(item) : shallow(item));
    return list;
  };

  const constructTagged = (n: Node | null, tag: string, deep: boolean): Loaded => {
    switch (tag) {
      case `${T}null`:
        return null;
      case `${T}bool`: {
        const v = scalarText(n, tag).toLowerCase();
        const b = ({ yes: true, no: false, true: true, false: false, on: true, off: false } as Record<string, boolean>)[v];
        if (b === undefined) fail(`invalid boolean ${JSON.stringify(v)}`, n);
        return b!;
      }
      case `${T}int`:
        return constructInt(scalarText(n, tag), n);
      case `${T}float`:
        return constructFloat(scalarText(n, tag), n);
      case `${T}timestamp`:
        return constructTimestamp(scalarText(n, tag), n);
      case `${T}str`:
      case `${T}python/unicode`:
        return scalarText(n, tag);
      case `${T}binary`:
        scalarText(n, tag);
        return new Opaque('bytes', 'binary');
      case `${T}map`:
      case `${T}python/dict`:
        if (!n || !isMap(n)) fail(`expected a mapping node, but found ${n && isSeq(n) ? 'sequence' : 'scalar'}`, n);
        return constructMap(n!, deep);
      case `${T}seq`:
        if (!n || !isSeq(n)) fail(`expected a sequence node, but found ${n && isMap(n) ? 'mapping' : 'scalar'}`, n);
        return constructSeq(n!, deep);
      case `${T}set`:
        if (!n || !isMap(n)) fail('expected a mapping node for a set', n);
        constructMap(n!, true);
        return new Opaque('set', 'set');
      case `${T}omap`:
      case `${T}pairs`: {
        if (!n || !isSeq(n)) fail(`while constructing an ordered map: expected a sequence, but found ${n && isMap(n) ? 'mapping' : 'scalar'}`, n);
        const out: Loaded[] = [];
        for (const item of (n as unknown as { items: YNode[] }).items) {
          const sub = resolve(item);
          if (!sub || !isMap(sub) || (sub.items as unknown[]).length !== 1) fail('while constructing an ordered map: expected a single mapping item', sub ?? n);
          const [[k, v]] = pairsOf(sub as Node) as [[Node | null, Node | null]];
          out.push([construct(k), construct(v)]);
        }
        return out;
      }
      case '!vault':
      case '!vault-encrypted':
        return new VaultText(scalarText(n, tag), `${where}:${line(n) ?? '?'}`);
      case '!unsafe': {
        if (n && isMap(n)) return wrapUnsafe(constructMap(n, false));
        if (n && isSeq(n)) return wrapUnsafe(constructSeq(n, false));
        return new UnsafeText(scalarText(n, tag));
      }
      default:
        return fail(`could not determine a constructor for the tag ${JSON.stringify(tag.replace(T, 'tag:yaml.org,2002:'))}`, n);
    }
  };

  const constructInt = (text: string, n: Node | null): Loaded => {
    let v = text.replace(/_/g, '');
    let sign = 1n;
    if (v[0] === '-') sign = -1n;
    if (v[0] === '-' || v[0] === '+') v = v.slice(1);
    let out: bigint;
    const bad = () => fail(`invalid literal for int(): '${text}'`, n);
    if (v === '0') out = 0n;
    else if (v.startsWith('0b')) out = /^[01]+$/.test(v.slice(2)) ? BigInt(`0b${v.slice(2)}`) : bad();
    else if (v.startsWith('0x')) out = /^[0-9a-fA-F]+$/.test(v.slice(2)) ? BigInt(`0x${v.slice(2)}`) : bad();
    else if (v[0] === '0') out = /^0[oO]?[0-7]+$|^0+$/.test(v) ? BigInt(`0o${v.replace(/^0[oO]?/, '') || '0'}`) : bad();
    else if (v.includes(':')) {
      out = 0n;
      let base = 1n;
      for (const part of v.split(':').reverse()) {
        if (!/^\d+$/.test(part)) bad();
        out += BigInt(part) * base;
        base *= 60n;
      }
    } else out = /^\d+$/.test(v) ? BigInt(v) : bad();
    out *= sign;
    return out >= BigInt(Number.MIN_SAFE_INTEGER) && out <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(out) : out;
  };

  const constructFloat = (text: string, n: Node | null): PyFloat => {
    let v = text.replace(/_/g, '').toLowerCase();
    let sign = 1;
    if (v[0] === '-') sign = -1;
    if (v[0] === '-' || v[0] === '+') v = v.slice(1);
    if (v === '.inf') return new PyFloat(sign * Infinity);
    if (v === '.nan') return new PyFloat(NaN);
    if (v.includes(':')) {
      let out = 0;
      let base = 1;
      for (const part of v.split(':').reverse()) {
        out += pyFloat(part, text, n) * base;
        base *= 60;
      }
      return new PyFloat(sign * out);
    }
    return new PyFloat(sign * pyFloat(v, text, n));
  };

  const pyFloat = (s: string, text: string, n: Node | null): number => {
    const t = s.trim();
    if (/^[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)$/.test(t)) return Number(t);
    if (/^[+-]?(?:inf|infinity)$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(t)) return NaN;
    return fail(`could not convert string to float: '${text}'`, n);
  };

  const constructTimestamp = (text: string, n: Node | null): PyDate => {
    const m = TIMESTAMP.exec(text);
    if (!m) return fail(`invalid timestamp ${JSON.stringify(text)}`, n);
    const [, y, mo, d, h, mi, s, frac, tz, tzSign, tzH, tzM] = m;
    const year = Number(y);
    const month = Number(mo);
    const day = Number(d);
    const pad = (x: number, w = 2) => String(x).padStart(w, '0');
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
    if (month < 1 || month > 12 || day < 1 || day > days || year < 1) fail(`day is out of range for month: ${text}`, n);
    const date = `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
    if (h === undefined) return new PyDate(date);
    const [hour, minute, second] = [Number(h), Number(mi), Number(s)];
    if (hour > 23 || minute > 59 || second > 59) fail(`invalid time in timestamp ${text}`, n);
    let iso = `${date}T${pad(hour)}:${pad(minute)}:${pad(second)}`;
    const micro = frac ? Number(frac.slice(0, 6).padEnd(6, '0')) : 0;
    if (micro) iso += `.${pad(micro, 6)}`;
    if (tzSign) {
      const minutes = Number(tzH) * 60 + Number(tzM ?? 0);
      if (minutes >= 24 * 60) fail(`offset must be a timedelta strictly between -timedelta(hours=24) and timedelta(hours=24): ${text}`, n);
      const signed = tzSign === '-' && minutes ? '-' : '+';
      iso += `${signed}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
    } else if (tz) iso += '+00:00';
    return new PyDate(iso);
  };

  return construct(doc.contents as YNode);
}

function lineOf(lc: LineCounter, offset: number): number {
  return lc.linePos(offset).line;
}
