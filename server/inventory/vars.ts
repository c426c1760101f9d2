/** Group membership and variable precedence: `all` < parent groups < child groups (by depth,
 * then name, as Ansible sorts them) < host variables. */
import { AppError } from '../errors.ts';
import type { Inventory, Vars } from './types.ts';

/** Every host in a group or its descendants, in inventory order. */
export function groupHosts(inv: Inventory, name: string): string[] {
  if (name === 'all') return [...inv.hosts.keys()];
  const found = new Set<string>();
  const visit = (g: string, path: string[]) => {
    if (path.includes(g)) throw new AppError('inventory', `group cycle: ${[...path, g].join(' → ')}`);
    const group = inv.groups.get(g);
    if (!group) return;
    group.hosts.forEach((h) => found.add(h));
    group.children.forEach((c) => visit(c, [...path, g]));
  };
  visit(name, []);
  if (name === 'ungrouped') return ungrouped(inv);
  return [...inv.hosts.keys()].filter((h) => found.has(h));
}

/** Hosts that belong to no group other than all/ungrouped. */
function ungrouped(inv: Inventory): string[] {
  const grouped = new Set<string>();
  for (const g of inv.groups.values()) if (g.name !== 'all' && g.name !== 'ungrouped') g.hosts.forEach((h) => grouped.add(h));
  return [...inv.hosts.keys()].filter((h) => !grouped.has(h));
}

/** The groups a host belongs to (transitively), sorted for variable precedence. */
export function hostGroups(inv: Inventory, host: string): string[] {
  const depth = new Map<string, number>();
  const visit = (g: string, d: number, path: string[]) => {
    if (path.includes(g)) throw new AppError('inventory', `group cycle: ${[...path, g].join(' → ')}`);
    depth.set(g, Math.max(depth.get(g) ?? 0, d));
    for (const c of inv.groups.get(g)?.children ?? []) visit(c, d + 1, [...path, g]);
  };
  visit('all', 0, []);
  for (const g of inv.groups.keys()) if (!depth.has(g)) visit(g, 1, []);
  const member = [...inv.groups.keys()].filter((g) => g === 'all' || groupHosts(inv, g).includes(host));
  return member.sort((a, b) => depth.get(a)! - depth.get(b)! || a.localeCompare(b));
}

export function hostVars(inv: Inventory, host: string): { vars: Vars; groups: string[] } {
  const groups = hostGroups(inv, host);
  const vars: Vars = {};
  for (const g of groups) Object.assign(vars, inv.groups.get(g)?.vars);
  Object.assign(vars, inv.hosts.get(host)?.vars, { inventory_hostname: host });
  return { vars, groups };
}
