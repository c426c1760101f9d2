/** Python's `ast.literal_eval`, which the INI reader applies to every variable value: `5` is an
 * int, `1.0` a float, `True` a bool, `[1, 2]` a list, `'a'` the string a, `{1, 2}` a set, and
 * anything that is not a Python literal stays the string it was. */
import { floatRepr, newDict, Opaque, PyFloat, type PyValue } from './values.ts';

/** A value Python's literal_eval raises TypeError for (an unhashable dict key or set member):
 * Ansible does not catch it, so the inventory fails to parse. */
export class LiteralTypeError extends Error {}

/** A literal fleetpatch cannot evaluate as Python would (a `\N{NAME}` escape needs Unicode's
 * name table): refused rather than read differently. */
export class LiteralUnsupportedError extends LiteralTypeError {}

type Node =
  | { k: 'const'; v: Lit }
  | { k: 'str'; parts: string[]; bytes: boolean; f: boolean }
  | { k: 'list' | 'tuple' | 'set'; elts: Node[] }
  | { k: 'dict'; keys: (Node | null)[]; values: Node[] }
  | { k: 'unary'; op: string; operand: Node }
  | { k: 'bin'; op: string; left: Node; right: Node }
  | { k: 'call'; name: string; args: number }
  | { k: 'name'; name: string };

/** Values during evaluation: Python objects before `to_text` turns top-level bytes into text. */
type Lit =
  | { t: 'none' }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: bigint }
  | { t: 'float'; v: number }
  | { t: 'complex'; re: number; im: number }
  | { t: 'str'; v: string }
  | { t: 'bytes'; v: number[] }
  | { t: 'ellipsis' }
  | { t: 'list' | 'tuple'; v: Lit[] }
  | { t: 'set'; v: Lit[] }
  | { t: 'dict'; keys: Lit[]; values: Lit[] };

class Malformed extends Error {}

/** The INI plugin's `_parse_value`: the typed value, or the text itself when it is no literal. */
export function iniValue(text: string): PyValue {
  namedEscape = false;
  let node: Node;
  try {
    node = parse(text.replace(/^[ \t]+/, ''));
  } catch (err) {
    if (err instanceof Malformed) return text;
    throw err;
  }
  let lit: Lit;
  try {
    lit = convert(node);
  } catch (err) {
    if (err instanceof Malformed) return text;
    throw err;
  }
  if (namedEscape) throw new LiteralUnsupportedError(`the value ${text} uses a \\N{…} escape, which fleetpatch cannot decode; write the character itself`);
  if (lit.t === 'bytes') return utf8Decode(lit.v);
  return toPy(lit);
}

/** Set while tokenizing when a string uses `\N{NAME}`. */
let namedEscape = false;

// ---------------------------------------------------------------- tokenizer

type Tok = { t: 'num'; lit: Lit } | { t: 'str'; v: string; bytes: boolean; f: boolean } | { t: 'name'; v: string } | { t: 'op'; v: string } | { t: 'end' };

const ID_START = /[\p{L}\p{Nl}_\u1885\u1886\u2118\u212e\u309b\u309c]/u;
const ID_CONTINUE = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}_\u00b7\u0387\u1369-\u1371\u19da]/u;
const DIGITS = String.raw`\d(?:_?\d)*`;
const EXP = String.raw`[eE][+-]?${DIGITS}`;
const FLOAT = new RegExp(String.raw`^(?:${DIGITS}\.(?:${DIGITS})?(?:${EXP})?|\.${DIGITS}(?:${EXP})?|${DIGITS}${EXP})`);
const IMAG_DIGITS = new RegExp(String.raw`^${DIGITS}[jJ]`);
const INT = /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?0)*|[1-9](?:_?\d)*)/;
const STRING_PREFIX = /^(?:[rRuUfFbB]|[fF][rR]|[rR][fF]|[bB][rR]|[rR][bB])?(?='|")/;
const OPS = ['...', '**', '//', '<<', '>>', '<=', '>=', '==', '!=', '->', ':=', '(', ')', '[', ']', '{', '}', ',', ':', '.', ';', '@', '=', '+', '-', '*', '/', '%', '|', '&', '^', '~', '<', '>'];

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '#') break;
    const rest = src.slice(i);
    const prefix = STRING_PREFIX.exec(rest);
    if (prefix) {
      const p = prefix[0].toLowerCase();
      const start = i + prefix[0].length;
      const q = src.startsWith(src[start]!.repeat(3), start) ? src[start]!.repeat(3) : src[start]!;
      let j = start + q.length;
      let body = '';
      for (;;) {
        if (j >= src.length) throw new Malformed();
        if (src.startsWith(q, j)) break;
        if (src[j] === '\\') {
          if (j + 1 >= src.length) throw new Malformed();
          body += src.slice(j, j + 2);
          j += 2;
        } else body += src[j++];
      }
      i = j + q.length;
      const bytes = p.includes('b');
      const raw = p.includes('r');
      toks.push({ t: 'str', v: decodeString(body, raw, bytes), bytes, f: p.includes('f') });
      continue;
    }
    if (/[0-9.]/.test(c) && (c !== '.' || /^\.\d/.test(rest))) {
      let lit: Lit;
      let len: number;
      const f = FLOAT.exec(rest);
      const im = IMAG_DIGITS.exec(rest);
      if (f && /^[jJ]/.test(rest.slice(f[0].length))) {
        lit = { t: 'complex', re: 0, im: Number(f[0].replace(/_/g, '')) };
        len = f[0].length + 1;
      } else if (f) {
        lit = { t: 'float', v: Number(f[0].replace(/_/g, '')) };
        len = f[0].length;
      } else if (im) {
        lit = { t: 'complex', re: 0, im: Number(im[0].slice(0, -1).replace(/_/g, '')) };
        len = im[0].length;
      } else {
        const m = INT.exec(rest);
        if (!m) throw new Malformed();
        const digits = m[0].replace(/_/g, '');
        lit = { t: 'int', v: BigInt(/^0[oO]/.test(digits) ? `0o${digits.slice(2)}` : digits) };
        len = m[0].length;
      }
      const next = src.slice(i + len)[Symbol.iterator]().next();
      if (!next.done && (ID_CONTINUE.test(next.value) || next.value === '.')) throw new Malformed();
      toks.push({ t: 'num', lit });
      i += len;
      continue;
    }
    const cp = String.fromCodePoint(src.codePointAt(i)!);
    if (ID_START.test(cp)) {
      let j = i + cp.length;
      for (;;) {
        if (j >= src.length) break;
        const d = String.fromCodePoint(src.codePointAt(j)!);
        if (!ID_CONTINUE.test(d)) break;
        j += d.length;
      }
      toks.push({ t: 'name', v: src.slice(i, j) });
      i = j;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new Malformed();
    toks.push({ t: 'op', v: op });
    i += op.length;
  }
  toks.push({ t: 'end' });
  return toks;
}

const SIMPLE_ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\x0b' };

function decodeString(body: string, raw: boolean, bytes: boolean): string {
  if (bytes && /[^\x00-\x7f]/.test(body)) throw new Malformed();
  if (raw) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i]!;
    if (e in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[e];
    else if (/[0-7]/.test(e)) {
      let digits = e;
      while (digits.length < 3 && /[0-7]/.test(body[i + 1] ?? '')) digits += body[++i];
      const n = parseInt(digits, 8);
      if (bytes && n > 0o377) throw new Malformed();
      out += String.fromCodePoint(n);
    } else if (e === 'x' || (!bytes && (e === 'u' || e === 'U'))) {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + len);
      if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) throw new Malformed();
      const n = parseInt(hex, 16);
      if (n > 0x10ffff) throw new Malformed();
      out += String.fromCodePoint(n);
      i += len;
    } else if (!bytes && e === 'N') {
      const end = body.indexOf('}', i);
      if (body[i + 1] !== '{' || end < 0) throw new Malformed();
      namedEscape = true;
      out += body.slice(i - 1, end + 1);
      i = end;
    } else out += `\\${e}`;
  }
  return out;
}

// ---------------------------------------------------------------- parser

function parse(src: string): Node {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p]!;
  const isOp = (v: string) => peek().t === 'op' && (peek() as { v: string }).v === v;
  const expectOp = (v: string) => {
    if (!isOp(v)) throw new Malformed();
    p++;
  };
  const startsExpr = () => {
    const t = peek();
    return t.t === 'num' || t.t === 'str' || t.t === 'name' || (t.t === 'op' && ['(', '[', '{', '+', '-', '~', '...'].includes(t.v));
  };

  const exprList = (close: string | null): { elts: Node[]; trailingComma: boolean } => {
    const elts: Node[] = [];
    let trailingComma = false;
    while (close === null ? startsExpr() : !isOp(close)) {
      elts.push(expr());
      trailingComma = false;
      if (!isOp(',')) break;
      p++;
      trailingComma = true;
    }
    return { elts, trailingComma };
  };

  const atom = (): Node => {
    const t = peek();
    if (t.t === 'num') {
      p++;
      return { k: 'const', v: t.lit };
    }
    if (t.t === 'str') {
      const parts: string[] = [];
      let f = false;
      const bytes = t.bytes;
      while (peek().t === 'str') {
        const s = peek() as Extract<Tok, { t: 'str' }>;
        if (s.bytes !== bytes) throw new Malformed();
        parts.push(s.v);
        f ||= s.f;
        p++;
      }
      return { k: 'str', parts, bytes, f };
    }
    if (t.t === 'name') {
      p++;
      if (t.v === 'True' || t.v === 'False') return { k: 'const', v: { t: 'bool', v: t.v === 'True' } };
      if (t.v === 'None') return { k: 'const', v: { t: 'none' } };
      if (['and', 'or', 'not', 'if', 'else', 'lambda', 'in', 'is', 'for', 'await', 'yield'].includes(t.v)) throw new Malformed();
      if (isOp('(')) {
        p++;
        const { elts } = exprList(')');
        expectOp(')');
        return { k: 'call', name: t.v, args: elts.length };
      }
      return { k: 'name', name: t.v };
    }
    if (t.t === 'op' && t.v === '...') {
      p++;
      return { k: 'const', v: { t: 'ellipsis' } };
    }
    if (t.t === 'op' && t.v === '(') {
      p++;
      const { elts, trailingComma } = exprList(')');
      expectOp(')');
      return elts.length === 1 && !trailingComma ? elts[0]! : { k: 'tuple', elts };
    }
    if (t.t === 'op' && t.v === '[') {
      p++;
      const { elts } = exprList(']');
      expectOp(']');
      return { k: 'list', elts };
    }
    if (t.t === 'op' && t.v === '{') {
      p++;
      if (isOp('}')) {
        p++;
        return { k: 'dict', keys: [], values: [] };
      }
      if (isOp('**')) throw new Malformed();
      const first = expr();
      if (isOp(':')) {
        p++;
        const keys: (Node | null)[] = [first];
        const values: Node[] = [expr()];
        while (isOp(',')) {
          p++;
          if (isOp('}')) break;
          if (isOp('**')) throw new Malformed();
          keys.push(expr());
          expectOp(':');
          values.push(expr());
        }
        expectOp('}');
        return { k: 'dict', keys, values };
      }
      const elts = [first];
      while (isOp(',')) {
        p++;
        if (isOp('}')) break;
        elts.push(expr());
      }
      expectOp('}');
      return { k: 'set', elts };
    }
    throw new Malformed();
  };

  const unary = (): Node => {
    if (isOp('-') || isOp('+') || isOp('~')) {
      const op = (peek() as { v: string }).v;
      p++;
      return { k: 'unary', op, operand: unary() };
    }
    const a = atom();
    if (isOp('**') || isOp('[') || isOp('.') || isOp('(')) throw new Malformed();
    return a;
  };

  const expr = (): Node => {
    let left = unary();
    while (isOp('+') || isOp('-')) {
      const op = (peek() as { v: string }).v;
      p++;
      left = { k: 'bin', op, left, right: unary() };
    }
    if (peek().t === 'op' && ['*', '/', '//', '%', '@', '<<', '>>', '&', '|', '^', '<', '>', '==', '!=', '<=', '>=', ':=', '='].includes((peek() as { v: string }).v)) {
      throw new Malformed();
    }
    return left;
  };

  const { elts, trailingComma } = exprList(null);
  if (peek().t !== 'end' || elts.length === 0) throw new Malformed();
  return elts.length === 1 && !trailingComma ? elts[0]! : { k: 'tuple', elts };
}

// ---------------------------------------------------------------- literal_eval's _convert

function convert(node: Node): Lit {
  switch (node.k) {
    case 'const':
      return node.v;
    case 'str':
      if (node.f) throw new Malformed();
      if (node.bytes) return { t: 'bytes', v: node.parts.join('').split('').map((c) => c.charCodeAt(0)) };
      return { t: 'str', v: node.parts.join('') };
    case 'list':
    case 'tuple':
      return { t: node.k, v: node.elts.map(convert) };
    case 'set': {
      const v: Lit[] = [];
      const seen = new Set<string>();
      for (const e of node.elts) {
        const x = convert(e);
        const key = hashKey(x);
        if (!seen.has(key)) {
          seen.add(key);
          v.push(x);
        }
      }
      return { t: 'set', v };
    }
    case 'dict': {
      const keys: Lit[] = [];
      const values: Lit[] = [];
      const index = new Map<string, number>();
      node.keys.forEach((kn, i) => {
        if (kn === null) throw new Malformed();
        const k = convert(kn);
        const v = convert(node.values[i]!);
        const h = hashKey(k);
        const at = index.get(h);
        if (at === undefined) {
          index.set(h, keys.length);
          keys.push(k);
          values.push(v);
        } else values[at] = v;
      });
      return { t: 'dict', keys, values };
    }
    case 'call':
      if (node.name === 'set' && node.args === 0) return { t: 'set', v: [] };
      throw new Malformed();
    case 'unary':
      return signedNum(node);
    case 'bin': {
      if (node.op !== '+' && node.op !== '-') throw new Malformed();
      const left = signedNum(node.left);
      const right = num(node.right);
      if ((left.t === 'int' || left.t === 'float') && right.t === 'complex') {
        const re = left.t === 'int' ? Number(left.v) : left.v;
        return { t: 'complex', re: node.op === '+' ? re + right.re : re - right.re, im: node.op === '+' ? right.im : -right.im };
      }
      throw new Malformed();
    }
    case 'name':
      throw new Malformed();
  }
}

function num(node: Node): Lit {
  if (node.k !== 'const' || !['int', 'float', 'complex'].includes(node.v.t)) throw new Malformed();
  return node.v;
}

function signedNum(node: Node): Lit {
  if (node.k === 'unary' && (node.op === '+' || node.op === '-')) {
    const v = num(node.operand);
    if (node.op === '+') return v;
    if (v.t === 'int') return { t: 'int', v: -v.v };
    if (v.t === 'float') return { t: 'float', v: -v.v };
    if (v.t === 'complex') return { t: 'complex', re: -v.re, im: -v.im };
  }
  return num(node);
}

/** Python's hash equality for the literals that are hashable; unhashable ones raise TypeError. */
function hashKey(v: Lit): string {
  switch (v.t) {
    case 'none':
      return 'N';
    case 'bool':
      return `n${v.v ? 1 : 0}`;
    case 'int':
      return `n${v.v}`;
    case 'float':
      return Number.isInteger(v.v) ? `n${BigInt(v.v)}` : `f${v.v}`;
    case 'complex':
      return v.im === 0 ? hashKey({ t: 'float', v: v.re }) : `c${v.re},${v.im}`;
    case 'str':
      return `s${v.v}`;
    case 'bytes':
      return `b${v.v.join(',')}`;
    case 'ellipsis':
      return 'E';
    case 'tuple':
      return `t(${v.v.map(hashKey).join('|')})`;
    default:
      throw new LiteralTypeError(`unhashable type: '${v.t}'`);
  }
}

function toPy(v: Lit): PyValue {
  switch (v.t) {
    case 'none':
      return null;
    case 'bool':
      return v.v;
    case 'int':
      return v.v >= BigInt(Number.MIN_SAFE_INTEGER) && v.v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v.v) : v.v;
    case 'float':
      return new PyFloat(v.v);
    case 'str':
      return v.v;
    case 'list':
    case 'tuple':
      return v.v.map(toPy);
    case 'dict': {
      const out = newDict();
      for (let i = 0; i < v.keys.length; i++) {
        const k = jsonKey(v.keys[i]!);
        if (k === null) return new Opaque('dict', 'a dict with keys JSON cannot carry');
        out[k] = toPy(v.values[i]!);
      }
      return out;
    }
    case 'complex':
      return new Opaque('complex', `(${v.re}+${v.im}j)`);
    case 'bytes':
      return new Opaque('bytes', 'bytes');
    case 'ellipsis':
      return new Opaque('ellipsis', 'Ellipsis');
    case 'set':
      return new Opaque('set', 'set');
  }
}

/** The key json.dumps writes for a Python dict key, or null where it raises. */
function jsonKey(k: Lit): string | null {
  if (k.t === 'str') return k.v;
  if (k.t === 'int') return k.v.toString();
  if (k.t === 'bool') return k.v ? 'true' : 'false';
  if (k.t === 'none') return 'null';
  if (k.t === 'float') return Number.isFinite(k.v) ? floatRepr(k.v) : Number.isNaN(k.v) ? 'NaN' : k.v > 0 ? 'Infinity' : '-Infinity';
  return null;
}

function utf8Decode(bytes: number[]): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes));
  } catch {
    return String.fromCharCode(...bytes.map((b) => (b < 0x80 ? b : 0xdc00 + b)));
  }
}
