/** Ansible host patterns (InventoryManager.get_hosts): terms separated by `,` (or `:` when the
 * whole pattern is not one address); each term a host name, a group, a glob on group and host
 * names, or `~regex` (matched from the start of the name), with an optional subscript `[i]`,
 * `[a:b]`, `[a:]`; `&term` intersects and `!term` excludes, applied after every plain term
 * whatever their order. `@file` terms read one term per line, as `--limit @file` does.
 * A pattern that matches no host is an error, and so is an exclusion that matches nothing (a
 * typo there would patch the hosts it meant to spare); see docs/inventory.md. */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseAddress } from './address.ts';
import type { Host, InventoryData } from './data.ts';

export class PatternError extends Error {}

const S = String.raw`\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
const TERM = new RegExp(String.raw`(?:[^${S}:\[\]]|\[[^\]]*\])+`, 'gu');
const SUBSCRIPT = /^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\](?=\n?$)/su;

/** `split_host_pattern`. */
export function splitHostPattern(pattern: string): string[] {
  let terms: string[];
  if (pattern.includes(',')) terms = pattern.split(',');
  else {
    try {
      parseAddress(pattern, true);
      terms = [pattern];
    } catch {
      terms = pattern.match(TERM) ?? [];
    }
  }
  return terms.map((t) => pyStripSpaces(t)).filter(Boolean);
}

function pyStripSpaces(s: string): string {
  return s.replace(new RegExp(`^[${S}]+|[${S}]+$`, 'gu'), '');
}

export interface PatternResult {
  hosts: Host[];
  warnings: string[];
}

/** The hosts a pattern selects, in Ansible's order. */
export function matchPattern(inv: InventoryData, pattern: string, cwd = process.cwd()): PatternResult {
  const warnings: string[] = [];
  const terms: string[] = [];
  const split = splitHostPattern(pattern);
  // Ansible reads an empty pattern as `all`; fleetpatch never turns "nothing" into "all".
  if (split.length === 0) throw new PatternError('an empty pattern selects nothing (write all to mean every host)');
  for (const t of split) {
    if (!t.startsWith('@')) {
      terms.push(t);
      continue;
    }
    const file = resolve(cwd, t.slice(1));
    let text: string;
    try {
      if (!statSync(file).isFile()) throw new PatternError(`Limit starting with "@" must be a file, not a directory: ${file}`);
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (err instanceof PatternError) throw err;
      throw new PatternError(`Unable to find limit file ${file}`);
    }
    terms.push(...text.split('\n').map((l) => pyStripSpaces(l)));
  }
  const cache = new Map<string, { hosts: Host[]; matched: boolean }>();
  let hosts: Host[] = [];
  for (const p of orderPatterns(terms)) {
    const plain = inv.hosts.get(p);
    if (plain) {
      hosts.push(plain);
      continue;
    }
    const that = matchOne(inv, p, cache, warnings);
    if (p[0] === '!') {
      const drop = new Set(that);
      hosts = hosts.filter((h) => !drop.has(h));
    } else if (p[0] === '&') {
      const keep = new Set(that);
      hosts = hosts.filter((h) => keep.has(h));
    } else {
      const existing = new Set(hosts.map((h) => h.name));
      for (const h of that) if (!existing.has(h.name)) hosts.push(h);
    }
  }
  return { hosts: [...new Set(hosts)], warnings };
}

/** `order_patterns`: plain terms, then `&` terms, then `!` terms; only `&`/`!` means `all` first. */
function orderPatterns(terms: string[]): string[] {
  const regular = terms.filter((p) => p && p[0] !== '!' && p[0] !== '&');
  const and = terms.filter((p) => p && p[0] === '&');
  const not = terms.filter((p) => p && p[0] === '!');
  return [...(regular.length ? regular : ['all']), ...and, ...not];
}

function matchOne(inv: InventoryData, pattern: string, cache: Map<string, { hosts: Host[]; matched: boolean }>, warnings: string[]): Host[] {
  const negated = pattern[0] === '!';
  if (pattern[0] === '&' || pattern[0] === '!') pattern = pattern.slice(1);
  let entry = cache.get(pattern);
  if (!entry) {
    if (!pattern) throw new PatternError('empty pattern term after & or !');
    const { expr, subscript } = splitSubscript(pattern);
    const { hosts, matched } = enumerateMatches(inv, expr);
    if (!matched && !negated) warnings.push(`Could not match supplied host pattern, ignoring: ${expr}`);
    entry = { hosts: applySubscript(hosts, subscript, pattern), matched };
    cache.set(pattern, entry);
  }
  if (negated && !entry.matched) throw new PatternError(`the exclusion !${pattern} matches no host or group, so it would exclude nothing; check the name`);
  return entry.hosts;
}

function splitSubscript(pattern: string): { expr: string; subscript: [number, number | null] | null } {
  if (pattern[0] === '~') return { expr: pattern, subscript: null };
  const m = SUBSCRIPT.exec(pattern);
  if (!m) return { expr: pattern, subscript: null };
  const [, expr, idx, start, , end] = m;
  if (idx) return { expr: expr!, subscript: [Number(idx), null] };
  return { expr: expr!, subscript: [Number(start), end ? Number(end) : -1] };
}

function applySubscript(hosts: Host[], subscript: [number, number | null] | null, pattern: string): Host[] {
  if (!hosts.length || !subscript) return hosts;
  const [start, end] = subscript;
  if (end) return hosts.slice(start, (end === -1 ? hosts.length - 1 : end) + 1);
  const i = start < 0 ? hosts.length + start : start;
  if (i < 0 || i >= hosts.length) throw new PatternError(`No hosts matched the subscripted pattern '${pattern}'`);
  return [hosts[i]!];
}

/** `_enumerate_matches`: every matching group's hosts, then matching host names when no group
 * matched or the term is a glob or regex (or has a dot). */
function enumerateMatches(inv: InventoryData, pattern: string): { hosts: Host[]; matched: boolean } {
  const re = compile(pattern);
  const results: Host[] = [];
  const groups = [...inv.groups.keys()].filter((g) => re.test(g));
  for (const g of groups) for (const h of inv.groups.get(g)!.getHosts()) results.push(h); // no spread: a group may hold 100,000s of hosts
  if (!groups.length || pattern[0] === '~' || /[.?*[]/.test(pattern)) {
    for (const [name, h] of inv.hosts) if (re.test(name)) results.push(h);
  }
  return { hosts: results, matched: results.length > 0 || groups.length > 0 || pattern === 'all' };
}

/** fnmatch.translate for globs, Python `re.match` for `~regex`. */
function compile(pattern: string): RegExp {
  try {
    if (pattern[0] !== '~') return new RegExp(`^(?:${globToRegExp(pattern)})$`, 'su');
    return pyRegExp(pattern.slice(1));
  } catch {
    throw new PatternError(`Invalid host list pattern: ${pattern}`);
  }
}

const ESCAPE = /[\\^$.*+?()[\]{}|/]/g;
const esc = (c: string) => c.replace(ESCAPE, '\\$&');

/** Python 3.11's fnmatch.translate, producing the same matches in JavaScript syntax. */
export function globToRegExp(pat: string): string {
  const p = [...pat];
  const n = p.length;
  const cls = (c: string) => c.replace(/[\\\]\[^-]/g, '\\$&');
  let out = '';
  let i = 0;
  while (i < n) {
    const c = p[i++]!;
    if (c === '*') {
      if (!out.endsWith('.*')) out += '.*';
    } else if (c === '?') out += '.';
    else if (c === '[') {
      let j = i;
      if (j < n && p[j] === '!') j++;
      if (j < n && p[j] === ']') j++;
      while (j < n && p[j] !== ']') j++;
      if (j >= n) {
        out += '\\[';
        continue;
      }
      const raw = p.slice(i, j);
      let stuff: string;
      let negate = false;
      if (!raw.includes('-')) {
        if (raw[0] === '!') {
          negate = true;
          raw.shift();
        }
        stuff = raw.map(cls).join('');
      } else {
        const chunks: string[][] = [];
        let start = i;
        let k = p[i] === '!' ? i + 2 : i + 1;
        for (;;) {
          k = p.indexOf('-', k);
          if (k < 0 || k >= j) break;
          chunks.push(p.slice(start, k));
          start = k + 1;
          k += 3;
        }
        const last = p.slice(start, j);
        if (last.length) chunks.push(last);
        else chunks[chunks.length - 1]!.push('-');
        for (let m = chunks.length - 1; m > 0; m--) {
          const prev = chunks[m - 1]!;
          if (prev[prev.length - 1]!.codePointAt(0)! > chunks[m]![0]!.codePointAt(0)!) {
            chunks[m - 1] = [...prev.slice(0, -1), ...chunks[m]!.slice(1)];
            chunks.splice(m, 1);
          }
        }
        if (chunks[0]?.[0] === '!') {
          negate = true;
          chunks[0] = chunks[0].slice(1);
        }
        stuff = chunks.map((ch) => ch.map(cls).join('')).join('-');
      }
      i = j + 1;
      if (!stuff && !negate) out += '(?!)';
      else if (!stuff) out += '.';
      else out += `[${negate ? '^' : ''}${stuff}]`;
    } else out += esc(c);
  }
  return out;
}

/** A Python regular expression as JavaScript: named groups, leading inline flags, \A and \Z. */
function pyRegExp(src: string): RegExp {
  let flags = '';
  const inline = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (inline) {
    for (const f of inline[1]!) {
      if (f === 'i' || f === 'm' || f === 's') flags += f;
      else if (f === 'x' || f === 'L') throw new Error(`inline flag ${f} is not supported`);
    }
    src = src.slice(inline[0].length);
  }
  const js = src
    .replace(/\(\?P<(\w+)>/g, '(?<$1>')
    .replace(/\(\?P=(\w+)\)/g, '\\k<$1>')
    .replace(/\\A/g, '^')
    .replace(/\\Z/g, '$(?![\\s\\S])');
  return new RegExp(`^(?:${js})`, flags);
}
