/** Data as Ansible's loaders return it (YAML, JSON, script output): mappings keep their keys'
 * Python types and their insertion order (a JavaScript object would move "10" before "a"). */
import { floatRepr, newDict, Opaque, PyDate, PyFloat, Secret, truthy, UnsafeText, VaultText, type PyDict, type PyValue } from './values.ts';

export type Loaded = null | boolean | number | bigint | string | PyFloat | PyDate | Opaque | VaultText | UnsafeText | Secret | PyMap | Loaded[];

/** A Python dict: keys compared as Python compares them (1 == 1.0 == True), first position kept. */
export class PyMap {
  private readonly index = new Map<string, number>();
  readonly entries: [Loaded, Loaded][] = [];
  /** The line each key is on in its file, when the loader knows it. */
  readonly lines: (number | null)[] = [];

  set(key: Loaded, value: Loaded, line: number | null = null): void {
    const h = hashOf(key);
    const i = this.index.get(h);
    if (i === undefined) {
      this.index.set(h, this.entries.length);
      this.entries.push([key, value]);
      this.lines.push(line);
    } else this.entries[i]![1] = value;
  }

  lineOf(key: Loaded): number | null {
    const i = this.index.get(hashOf(key));
    return i === undefined ? null : this.lines[i]!;
  }

  has(key: Loaded): boolean {
    return this.index.has(hashOf(key));
  }

  get(key: Loaded): Loaded | undefined {
    const i = this.index.get(hashOf(key));
    return i === undefined ? undefined : this.entries[i]![1];
  }

  get size(): number {
    return this.entries.length;
  }
}

export class UnhashableError extends Error {}

/** Python's hash equality for dictionary keys; unhashable values raise as Python does. */
export function hashOf(v: Loaded): string {
  if (v === null) return 'N';
  if (typeof v === 'boolean') return `n${v ? 1 : 0}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `n${v}`;
  if (v instanceof PyFloat) return Number.isInteger(v.value) ? `n${BigInt(v.value)}` : `f${v.value}`;
  if (typeof v === 'string') return `s${v}`;
  if (v instanceof UnsafeText) return `s${v.text}`;
  if (v instanceof VaultText) return `v${v.ciphertext}`;
  if (v instanceof PyDate) return `d${v.iso}`;
  if (v instanceof Secret) return hashOf(v.value as Loaded);
  if (v instanceof Opaque && v.kind !== 'set') return `o${v.kind}${v.text}`;
  throw new UnhashableError(`unhashable type: '${v instanceof PyMap ? 'dict' : Array.isArray(v) ? 'list' : 'set'}'`);
}

/** The key json.dumps writes for a dict key, or null where Python raises TypeError. */
export function jsonKeyOf(k: Loaded): string | null {
  if (typeof k === 'string') return k;
  if (k instanceof UnsafeText) return k.text;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (typeof k === 'boolean') return k ? 'true' : 'false';
  if (k === null) return 'null';
  if (k instanceof PyFloat) return Number.isFinite(k.value) ? floatRepr(k.value) : Number.isNaN(k.value) ? 'NaN' : k.value > 0 ? 'Infinity' : '-Infinity';
  return null;
}

/** Loaded data as a variable's value: mappings become dictionaries keyed as JSON prints them. */
export function toPyValue(v: Loaded): PyValue {
  if (v instanceof PyMap) {
    const out: PyDict = newDict();
    for (const [k, x] of v.entries) {
      const key = jsonKeyOf(k);
      if (key === null) return new Opaque('dict', 'a dict with keys JSON cannot carry');
      out[key] = toPyValue(x);
    }
    return out;
  }
  if (Array.isArray(v)) return v.map(toPyValue);
  return v;
}

/** Python's `str(key)`-like rendering of a key for messages. */
export function keyText(k: Loaded): string {
  return jsonKeyOf(k) ?? String(k);
}

/** Python's `bool(v)` for loaded data. */
export function truthyLoaded(v: Loaded | undefined): boolean {
  if (v instanceof PyMap) return v.size > 0;
  if (Array.isArray(v)) return v.length > 0;
  return truthy(v as PyValue | undefined);
}
