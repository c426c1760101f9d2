/** Python's `json.loads` with Ansible's decoder, which every Ansible loader tries before YAML:
 * ints apart from floats, NaN and Infinity accepted, the last of duplicate keys wins, and
 * `{"__ansible_vault": …}` / `{"__ansible_unsafe": …}` objects turned into vault and unsafe values. */
import { PyMap, type Loaded } from './pymap.ts';
import { PyFloat, UnsafeText, VaultText } from './values.ts';

export class JsonError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export function parsePyJson(text: string, where: string): Loaded {
  let i = 0;
  const starts = [0];
  for (let k = text.indexOf('\n'); k >= 0; k = text.indexOf('\n', k + 1)) starts.push(k + 1);
  const lineAt = (offset: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (msg: string): never => {
    throw new JsonError(msg, i);
  };
  const value = (): Loaded => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const map = new PyMap();
      ws();
      if (text[i] === '}') {
        i++;
        return hook(map, where);
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('Expecting property name enclosed in double quotes');
        const keyLine = lineAt(i);
        const key = string();
        ws();
        if (text[i] !== ':') fail("Expecting ':' delimiter");
        i++;
        map.set(key, value(), keyLine);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return hook(map, where);
        }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === '[') {
      i++;
      const list: Loaded[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return list;
      }
      for (;;) {
        list.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return list;
        }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [['null', null], ['true', true], ['false', false], ['NaN', new PyFloat(NaN)], ['Infinity', new PyFloat(Infinity)], ['-Infinity', new PyFloat(-Infinity)]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i));
    if (!m) return fail('Expecting value');
    i += m[0].length;
    if (m[2] === undefined && m[3] === undefined) {
      const n = BigInt(m[1]!);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    return new PyFloat(Number(m[0]));
  };
  const string = (): string => {
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('Unterminated string starting at');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c < ' ') fail('Invalid control character at');
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) {
        out += simple[e];
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else fail('Invalid \\escape');
    }
  };
  const v = value();
  ws();
  if (i !== text.length) fail('Extra data');
  return v;
}

/** AnsibleJSONDecoder.object_hook: the first special key decides. */
function hook(map: PyMap, where: string): Loaded {
  for (const [k, v] of map.entries) {
    if (k === '__ansible_vault') return new VaultText(typeof v === 'string' ? v : String(v), where);
    if (k === '__ansible_unsafe') return wrapUnsafe(v);
  }
  return map;
}

/** Ansible's `wrap_var`: strings (and mapping keys) become unsafe, containers recursively. */
export function wrapUnsafe(v: Loaded): Loaded {
  if (typeof v === 'string') return new UnsafeText(v);
  if (Array.isArray(v)) return v.map(wrapUnsafe);
  if (v instanceof PyMap) {
    const out = new PyMap();
    for (const [k, x] of v.entries) out.set(wrapUnsafe(k), wrapUnsafe(x));
    return out;
  }
  return v;
}
