/** Inventory values as Ansible (Python) holds them, so that they print exactly as
 * `ansible-inventory` prints them: ints (number, or bigint past 2^53) apart from floats, dates,
 * vault-encrypted and `!unsafe` strings, and the Python types JSON cannot carry. */

/** A Python float: kept apart from ints because Ansible prints `1.0`, never `1`. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A YAML timestamp: Python's `date`/`datetime`, printed in ISO form. */
export class PyDate {
  constructor(readonly iso: string) {}
}

/** A value Ansible holds but cannot print as JSON (set, complex, bytes, Ellipsis). */
export class Opaque {
  constructor(
    readonly kind: string,
    readonly text: string,
  ) {}
}

/** An inline vault value (`!vault |`, `{"__ansible_vault": …}`): kept encrypted, decrypted only
 * when used, never printed. */
export class VaultText {
  constructor(
    readonly ciphertext: string,
    readonly where: string,
  ) {}
}

/** A string marked `!unsafe` (never templated by Ansible). */
export class UnsafeText {
  constructor(readonly text: string) {}
}

/** A value read from a vault-encrypted file: shown redacted like any secret. */
export class Secret {
  constructor(
    readonly value: PyValue,
    readonly where: string,
  ) {}
}

export type PyDict = { [key: string]: PyValue };
export type PyValue = null | boolean | number | bigint | string | PyFloat | PyDate | Opaque | VaultText | UnsafeText | Secret | PyValue[] | PyDict;

/** A dictionary without a prototype, so that keys such as `__proto__` are ordinary keys. */
export function newDict(): PyDict {
  return Object.create(null) as PyDict;
}

export function isDict(v: unknown): v is PyDict {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === null || proto === Object.prototype;
}

/** Python's `bool(v)`: the truth value Ansible tests with `if v:`. */
export function truthy(v: PyValue | undefined): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0 || v === 0n) return false;
  if (v instanceof PyFloat) return v.value !== 0;
  if (v instanceof Secret) return truthy(v.value);
  if (v instanceof UnsafeText) return v.text !== '';
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return true;
}

/** Python's type name, for messages that mirror Ansible's. */
export function pyType(v: PyValue | undefined): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'int';
  if (typeof v === 'string' || v instanceof UnsafeText || v instanceof VaultText) return 'str';
  if (v instanceof PyFloat) return 'float';
  if (v instanceof PyDate) return 'datetime';
  if (v instanceof Opaque) return v.kind;
  if (v instanceof Secret) return pyType(v.value);
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/** The string inside a str-like value, or null for other types. */
export function strValue(v: PyValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (v instanceof UnsafeText) return v.text;
  return null;
}

/** Python's `repr(float)`: the shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

/** Compares strings by code point, as Python sorts them. */
export function codePointCompare(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx - cy;
  }
}

export interface DumpOptions {
  /** Replaces a value (or returns undefined to keep it): how secrets are redacted. */
  replace?: (key: string | null, value: PyValue, path: string) => PyValue | undefined;
}

/** `json.dumps(v, cls=AnsibleJSONEncoder, sort_keys=True, indent=4, ensure_ascii=False)`, the way
 * ansible-inventory prints, including vault (`__ansible_vault`) and `!unsafe` (`__ansible_unsafe`)
 * values. A value Python cannot encode is an error naming where it is. */
export function pyJsonDump(value: PyValue, opts: DumpOptions = {}, where = ''): string {
  const out: string[] = [];
  const emit = (v: PyValue, indent: string, key: string | null, path: string): void => {
    const replaced = opts.replace?.(key, v, path);
    if (replaced !== undefined) v = replaced;
    if (v === null) out.push('null');
    else if (v === true) out.push('true');
    else if (v === false) out.push('false');
    else if (typeof v === 'number') out.push(Number.isInteger(v) ? String(v) : floatRepr(v));
    else if (typeof v === 'bigint') out.push(v.toString());
    else if (typeof v === 'string') out.push(jsonString(v));
    else if (v instanceof PyFloat) out.push(Number.isNaN(v.value) ? 'NaN' : !Number.isFinite(v.value) ? (v.value > 0 ? 'Infinity' : '-Infinity') : floatRepr(v.value));
    else if (v instanceof PyDate) out.push(jsonString(v.iso));
    else if (v instanceof UnsafeText) emit(Object.assign(newDict(), { __ansible_unsafe: v.text }), indent, key, path);
    else if (v instanceof VaultText) emit(Object.assign(newDict(), { __ansible_vault: v.ciphertext }), indent, key, path);
    else if (v instanceof Secret) emit(v.value, indent, key, path);
    else if (v instanceof Opaque) throw new TypeError(`${where}${path}: Object of type ${v.kind} is not JSON serializable`);
    else if (Array.isArray(v)) {
      if (v.length === 0) return void out.push('[]');
      const inner = `${indent}    `;
      out.push('[');
      v.forEach((item, i) => {
        out.push(`${i ? ',' : ''}\n${inner}`);
        emit(item, inner, null, `${path}[${i}]`);
      });
      out.push(`\n${indent}]`);
    } else {
      const keys = Object.keys(v).sort(codePointCompare);
      if (keys.length === 0) return void out.push('{}');
      const inner = `${indent}    `;
      out.push('{');
      keys.forEach((k, i) => {
        out.push(`${i ? ',' : ''}\n${inner}${jsonString(k)}: `);
        emit(v[k]!, inner, k, path ? `${path}.${k}` : k);
      });
      out.push(`\n${indent}}`);
    }
  };
  emit(value, '', null, '');
  return out.join('');
}

const JSON_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** A JSON string as Python writes it with ensure_ascii=False. */
export function jsonString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/["\\\x00-\x1f]/g, (c) => JSON_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/** Plain JavaScript data for code that connects to hosts: floats and dates as numbers and
 * strings, `!unsafe` and secret values unwrapped. Inline vault values stay VaultText. */
export function plainValue(v: PyValue): unknown {
  if (v instanceof PyFloat) return v.value;
  if (v instanceof PyDate) return v.iso;
  if (v instanceof UnsafeText) return v.text;
  if (v instanceof Secret) return plainValue(v.value);
  if (Array.isArray(v)) return v.map(plainValue);
  if (isDict(v)) {
    const out = newDict() as Record<string, unknown>;
    for (const [k, x] of Object.entries(v)) out[k] = plainValue(x);
    return out;
  }
  return v;
}
