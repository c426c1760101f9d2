/** The hosts page filter: an Ansible host pattern resolved against the server's inventories (a
 * host matches when any of its inventory names is selected), or, when the server has no
 * inventory, shell-style globs on the names the database knows. A bad pattern, one matching
 * nothing, or an unreadable inventory is a message for the page, never an exception. */
import { AppError } from '../errors.ts';
import { selectHosts } from '../inventory/index.ts';
import { splitHostPattern } from '../inventory/pattern.ts';
import type { HostView } from './data.ts';
import { fleetInventory, type Fleet } from './fleet.ts';

export const MAX_PATTERN = 1000;

export type FilterMode = 'inventory' | 'glob';

export interface FilterResult {
  pattern: string;
  mode: FilterMode;
  hosts: HostView[];
  /** What went wrong (an AppError message), or why nothing is shown; null when fine. */
  error: { code: string; message: string } | null;
}

export function filterMode(fleet: Fleet): FilterMode {
  return fleet.inventories.length ? 'inventory' : 'glob';
}

/** A one-line explanation of what the pattern means on this server. */
export function filterHint(mode: FilterMode): string {
  return mode === 'inventory'
    ? 'An Ansible host pattern over the server’s inventory: names, groups, globs, ~regex, &group, !group, separated by , or :.'
    : 'This server was started without an inventory (fleetpatch serve --inventory PATH), so the pattern is matched against known host names only: shell-style globs (* and ?), alternatives separated by , or :.';
}

/** `web*,db?` → one anchored RegExp per alternative: `*` any run, `?` one character, all else literal. */
export function globAlternatives(pattern: string): RegExp[] {
  return pattern
    .split(/[,:]/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => new RegExp(`^${[...p].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&'))).join('')}$`, 'su'));
}

function select(fleet: Fleet, all: HostView[], pattern: string): HostView[] {
  if (pattern.length > MAX_PATTERN) throw new AppError('pattern', `the pattern is longer than ${MAX_PATTERN} characters`);
  if (filterMode(fleet) === 'glob') {
    const alts = globAlternatives(pattern);
    if (!alts.length) throw new AppError('pattern', `pattern ${JSON.stringify(pattern)} names no host: write a name or a glob such as web*`);
    const hosts = all.filter((h) => h.names.some((n) => alts.some((re) => re.test(n))));
    if (!hosts.length) throw new AppError('pattern', `pattern ${JSON.stringify(pattern)} matches no known host name`);
    return hosts;
  }
  // `@file` reads a file on the server: a console user must not make it read files
  if (splitHostPattern(pattern).some((t) => t.startsWith('@'))) throw new AppError('pattern', `pattern ${JSON.stringify(pattern)}: @file terms are not allowed in the web console; list the hosts or groups instead`);
  const inv = fleetInventory(fleet);
  const selected = new Set(selectHosts(inv, pattern).map((h) => h.name));
  const hosts = all.filter((h) => h.names.some((n) => selected.has(n)));
  if (!hosts.length) {
    throw new AppError('pattern', `pattern ${JSON.stringify(pattern)} selects ${selected.size} inventory host${selected.size === 1 ? '' : 's'}, none with facts gathered yet (run fleetpatch facts)`);
  }
  return hosts;
}

/** The hosts a pattern selects; an empty pattern selects every host. */
export function filterHosts(fleet: Fleet, all: HostView[], rawPattern: string | undefined): FilterResult {
  const pattern = (rawPattern ?? '').trim();
  const mode = filterMode(fleet);
  if (!pattern) return { pattern, mode, hosts: all, error: null };
  try {
    return { pattern, mode, hosts: select(fleet, all, pattern), error: null };
  } catch (err) {
    if (err instanceof AppError) return { pattern, mode, hosts: [], error: { code: err.code, message: err.message } };
    return { pattern, mode, hosts: [], error: { code: 'internal', message: `the pattern could not be evaluated: ${err instanceof Error ? err.message : String(err)}` } };
  }
}
