/** Ansible host patterns, the common subset (issue #5 completes them): `all`/`*`, names and
 * globs of hosts and groups, `~regex`, unions with `:` or `,`, then `&` intersections, then `!`
 * exclusions, in Ansible's evaluation order. A pattern that matches nothing is an error. */
import { AppError } from '../errors.ts';
import type { Inventory } from './types.ts';
import { groupHosts } from './vars.ts';

export function matchPattern(inv: Inventory, pattern: string): string[] {
  const terms = pattern.split(/[,:]/).map((t) => t.trim()).filter(Boolean);
  if (terms.length === 0) throw new AppError('pattern', `empty host pattern ${JSON.stringify(pattern)}`);
  const plain = terms.filter((t) => !t.startsWith('&') && !t.startsWith('!'));
  let selected = new Set<string>(plain.length ? plain.flatMap((t) => matchTerm(inv, t)) : []);
  for (const t of terms.filter((t) => t.startsWith('&'))) {
    const keep = new Set(matchTerm(inv, t.slice(1)));
    selected = new Set([...selected].filter((h) => keep.has(h)));
  }
  for (const t of terms.filter((t) => t.startsWith('!'))) {
    for (const h of matchTerm(inv, t.slice(1))) selected.delete(h);
  }
  const ordered = [...inv.hosts.keys()].filter((h) => selected.has(h));
  if (ordered.length === 0) {
    throw new AppError('pattern', `pattern ${JSON.stringify(pattern)} matches no host in ${inv.sources.join(', ')}`);
  }
  return ordered;
}

function matchTerm(inv: Inventory, term: string): string[] {
  if (term === 'all' || term === '*') return [...inv.hosts.keys()];
  if (term.startsWith('~')) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (err) {
      throw new AppError('pattern', `invalid regular expression in pattern term ${term}: ${(err as Error).message}`);
    }
    return matchBy(inv, (name) => re.test(name));
  }
  if (/[*?[]/.test(term)) {
    const re = globToRegExp(term);
    return matchBy(inv, (name) => re.test(name));
  }
  if (inv.groups.has(term)) return groupHosts(inv, term);
  if (inv.hosts.has(term)) return [term];
  return [];
}

function matchBy(inv: Inventory, test: (name: string) => boolean): string[] {
  const out = new Set<string>();
  for (const g of inv.groups.keys()) if (test(g)) groupHosts(inv, g).forEach((h) => out.add(h));
  for (const h of inv.hosts.keys()) if (test(h)) out.add(h);
  return [...out];
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const c of glob) re += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  return new RegExp(`^${re}$`);
}
