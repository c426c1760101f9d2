/** The hosts page filter: an Ansible host pattern resolved against the server's inventories (a
 * host matches when any of its inventory names is selected), or, when the server has no
 * inventory, shell-style globs on the names the database knows. A bad pattern, one matching
 * nothing, or an unreadable inventory is a message for the page, never an exception. */
import { AppError } from '../errors.ts';
import { selectHosts } from '../inventory/index.ts';
import { splitHostPattern } from '../inventory/pattern.ts';
import type { HostView } from './data.ts';
import { fleetInventory, type Fleet } from './fleet.ts';

export const MAX_PATTERN = 256;
/** Runs of `*` per term of an Ansible pattern: each is a backtracking `.*` in the inventory's
 * matcher, and k of them cost about (name length)^k steps per name. */
export const MAX_STARS = 2;

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
    ? 'An Ansible host pattern over the server’s inventory: names, groups, globs (at most 2 * per term), &group, !group, [subscripts], separated by , or :. ~regex and @file terms are for the command line only.'
    : 'This server was started without an inventory (fleetpatch serve --inventory PATH), so the pattern is matched against known host names only: shell-style globs (* and ?), alternatives separated by , or :.';
}

/** `web*,db?` → the alternatives, trimmed, empty ones dropped. */
export function globAlternatives(pattern: string): string[] {
  return pattern
    .split(/[,:]/)
    .map((p) => p.trim())
    .filter(Boolean);
}

/** Whether a whole name matches a glob (`*` any run, `?` one character, all else literal), in
 * O(name × glob) steps whatever the glob: no regular expression, so no catastrophic backtracking
 * on a pattern typed by a user. */
export function globMatch(glob: string, name: string): boolean {
  const g = [...glob];
  const n = [...name];
  let gi = 0;
  let ni = 0;
  let star = -1;
  let mark = 0;
  while (ni < n.length) {
    if (gi < g.length && (g[gi] === '?' || (g[gi] !== '*' && g[gi] === n[ni]))) {
      gi++;
      ni++;
    } else if (gi < g.length && g[gi] === '*') {
      star = gi++;
      mark = ni;
    } else if (star >= 0) {
      gi = star + 1;
      ni = ++mark;
    } else return false;
  }
  while (gi < g.length && g[gi] === '*') gi++;
  return gi === g.length;
}

/** What a console user may not make the server do through an Ansible pattern: read a file
 * (`@file`), or run a regular expression that can backtrack for minutes and stall every request
 * (`~regex`, or globs with many `*`: the inventory matcher compiles them to RegExps). */
export function refuseCostlyPattern(pattern: string): void {
  for (const term of splitHostPattern(pattern)) {
    const t = term.replace(/^[!&]/, '');
    const where = `pattern ${JSON.stringify(pattern)}: ${JSON.stringify(term)}`;
    if (term.startsWith('@')) throw new AppError('pattern', `${where}: @file terms are not allowed in the web console; list the hosts or groups instead`);
    if (t.startsWith('~')) throw new AppError('pattern', `${where}: ~regex terms are not allowed in the web console (a regular expression can take unbounded time to match); use names, groups and globs, or fleetpatch on the command line`);
    const stars = t.match(/\*+/g)?.length ?? 0;
    if (stars > MAX_STARS) throw new AppError('pattern', `${where}: at most ${MAX_STARS} * per term in the web console (each one multiplies the time to match); use a group or split the term`);
  }
}

function select(fleet: Fleet, all: HostView[], pattern: string): HostView[] {
  if (pattern.length > MAX_PATTERN) throw new AppError('pattern', `the pattern is longer than ${MAX_PATTERN} characters`);
  if (filterMode(fleet) === 'glob') {
    const alts = globAlternatives(pattern);
    if (!alts.length) throw new AppError('pattern', `pattern ${JSON.stringify(pattern)} names no host: write a name or a glob such as web*`);
    const hosts = all.filter((h) => h.names.some((n) => alts.some((glob) => globMatch(glob, n))));
    if (!hosts.length) throw new AppError('pattern', `pattern ${JSON.stringify(pattern)} matches no known host name`);
    return hosts;
  }
  refuseCostlyPattern(pattern);
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
