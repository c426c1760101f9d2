/** Python's string primitives where they differ from JavaScript's: what counts as whitespace
 * (`str.strip`), what ends a line (`str.splitlines`), and `int()`. */

const PY_SPACE = '\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

export function isPySpace(c: string): boolean {
  return c.length > 0 && PY_SPACE.includes(c);
}

/** `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && PY_SPACE.includes(s[a]!)) a++;
  while (b > a && PY_SPACE.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/** `str.splitlines()`: \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029 end lines. */
export function pySplitlines(s: string): string[] {
  const lines = s.split(/\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Python's `int(text)` for the decimal forms inventory code meets (sign, underscores between
 * digits, surrounding whitespace); null where Python raises ValueError. */
export function pyInt(text: string): bigint | null {
  const t = pyStrip(text);
  if (!/^[+-]?\d+(?:_\d+)*$/.test(t)) return null;
  return BigInt(t.replace(/_/g, ''));
}
