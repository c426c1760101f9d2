/** Host names as Ansible reads them (ansible/parsing/utils/addresses.py and the inventory
 * plugins' `_expand_hostpattern`): `host:port`, `[v6]:port`, and ranges `web[01:20]`, `[a:f]`,
 * `[1:9:3]`, several per name. Python's `$` also matches before a final newline. */
import { pyInt } from './pystr.ts';

export class AddressError extends Error {}

const END = String.raw`(?=\n?$)`;
const W = String.raw`\p{L}\p{N}_`;
const NUMERIC_RANGE = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const HEX_RANGE = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`;
const ALNUM_RANGE = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const V6 = String.raw`(?:[0-9a-f]{1,4}|${HEX_RANGE})`;
const V4 = String.raw`(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${NUMERIC_RANGE})`;
const LABEL = String.raw`(?:[${W}]|${ALNUM_RANGE})(?:[${W}-]|${ALNUM_RANGE})*(?<![_-])`;

const BRACKETED_HOSTPORT = new RegExp(String.raw`^\[(.+)\]:([0-9]+)${END}`, 'u');
const HOSTPORT = new RegExp(String.raw`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)${END}`, 'u');
const IPV4 = new RegExp(String.raw`^(?:${V4}\.){3}${V4}${END}`, 'iu');
// As in Ansible, `^` binds to the first alternative and `$` to the last only.
const IPV6 = new RegExp(
  '^(?:' +
    [
      String.raw`(?:${V6}:){7}${V6}`,
      String.raw`(?:${V6}:){1,6}:`,
      String.raw`(?:${V6}:)(?::${V6}){1,6}`,
      String.raw`(?:${V6}:){2}(?::${V6}){1,5}`,
      String.raw`(?:${V6}:){3}(?::${V6}){1,4}`,
      String.raw`(?:${V6}:){4}(?::${V6}){1,3}`,
      String.raw`(?:${V6}:){5}(?::${V6}){1,2}`,
      String.raw`(?:${V6}:){6}(?::${V6})`,
      String.raw`:(?::${V6}){1,6}`,
      String.raw`${V6}?::`,
      String.raw`(?:0:){6}(?:${V6}\.){3}${V6}`,
      String.raw`::(?:ffff:)?(?:${V6}\.){3}${V6}`,
      String.raw`(?:0:){5}ffff:(?:${V6}\.){3}${V6}${END}`,
    ].join('|') +
    ')',
  'iu',
);
const HOSTNAME = new RegExp(String.raw`^${LABEL}(?:\.${LABEL})*${END}`, 'iu');

/** `parse_address(address, allow_ranges)`: the host and the port, or an AddressError. */
export function parseAddress(address: string, allowRanges = false): { host: string; port: number | null } {
  let port: number | null = null;
  for (const re of [BRACKETED_HOSTPORT, HOSTPORT]) {
    const m = re.exec(address);
    if (m) {
      address = m[1]!;
      port = Number(m[2]);
    }
  }
  if (![IPV4, IPV6, HOSTNAME].some((re) => re.test(address))) throw new AddressError(`Not a valid network hostname: ${address}`);
  if (!allowRanges && address.includes('[')) throw new AddressError('Detected range in host but was asked to ignore ranges');
  return { host: address, port };
}

const ASCII_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** `expand_hostname_range`: every name a ranged pattern stands for, in order. */
export function expandHostnameRange(line: string): string[] {
  if (!line) return [];
  const parts = line.replace('[', '|').replace(']', '|').split('|');
  if (parts.length !== 3) throw new AddressError(parts.length < 3 ? `not enough values to unpack (expected 3, got ${parts.length})` : 'too many values to unpack (expected 3)');
  const [head, nrange, tail] = parts as [string, string, string];
  const bounds = nrange.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) throw new AddressError('host range must be begin:end or begin:end:step');
  let beg = bounds[0]!;
  const end = bounds[1]!;
  const step = bounds.length === 3 ? bounds[2]! : '1';
  if (!beg) beg = '0';
  if (!end) throw new AddressError('host range must specify end value');
  let fill = (x: string) => x;
  if (beg[0] === '0' && beg.length > 1) {
    if (beg.length !== end.length) throw new AddressError('host range must specify equal-length begin and end formats');
    fill = (x) => zfill(x, beg.length);
  }
  let seq: string[] | null = null;
  const iBeg = ASCII_LETTERS.indexOf(beg);
  const iEnd = ASCII_LETTERS.indexOf(end);
  if (iBeg >= 0 && iEnd >= 0) {
    if (iBeg > iEnd) throw new AddressError('host range must have begin <= end');
    const s = pyInt(step);
    if (s !== null && s !== 0n) {
      seq = [];
      if (s > 0n) for (let i = iBeg; i <= iEnd; i += Number(s)) seq.push(ASCII_LETTERS[i]!);
    }
  }
  if (seq === null) {
    const [b, e, s] = [pyInt(beg), pyInt(end), pyInt(step)];
    if (b === null) throw new AddressError(`invalid literal for int() with base 10: '${beg}'`);
    if (e === null) throw new AddressError(`invalid literal for int() with base 10: '${end}'`);
    if (s === null) throw new AddressError(`invalid literal for int() with base 10: '${step}'`);
    if (s === 0n) throw new AddressError('range() arg 3 must not be zero');
    if ((e + 1n - b) / s > 1_000_000n) throw new AddressError(`host range [${nrange}] is too large`);
    seq = [];
    if (s > 0n) for (let i = b; i < e + 1n; i += s) seq.push(i.toString());
    else for (let i = b; i > e + 1n; i += s) seq.push(i.toString());
  }
  const hosts: string[] = [];
  for (const r of seq) {
    const name = `${head}${fill(r)}${tail}`;
    if (name.includes('[')) for (const h of expandHostnameRange(name)) hosts.push(h);
    else hosts.push(name);
    // nested ranges multiply: bound the whole expansion, not only each bracket
    if (hosts.length > 1_000_000) throw new AddressError(`host range ${JSON.stringify(`${head}[${nrange}]${tail}`.slice(0, 80))} expands to more than 1,000,000 hosts`);
  }
  return hosts;
}

/** Python's `str.zfill`. */
function zfill(s: string, width: number): string {
  if (s.length >= width) return s;
  const sign = s[0] === '-' || s[0] === '+' ? s[0] : '';
  return sign + '0'.repeat(width - s.length) + s.slice(sign.length);
}

/** The base inventory plugin's `_expand_hostpattern`: names and an optional port. */
export function expandHostPattern(pattern: string): { names: string[]; port: number | null } {
  let host = pattern;
  let port: number | null = null;
  try {
    ({ host, port } = parseAddress(pattern, true));
  } catch {
    // not a recognizable address: the pattern is used as it is
  }
  return { names: host.includes('[') ? expandHostnameRange(host) : [host], port };
}
