/** `fleetpatch inventory`: how fleetpatch reads an inventory (compare with ansible-inventory). */
import { AppError, EXIT } from '../errors.ts';
import { loadInventory, resolveTarget } from '../inventory/index.ts';
import { groupHosts, hostVars } from '../inventory/vars.ts';
import type { Inventory } from '../inventory/types.ts';
import type { Command } from './types.ts';

export const inventoryCommand: Command = {
  name: 'inventory',
  summary: 'show an inventory as fleetpatch reads it',
  usage: 'fleetpatch inventory -i PATH [-i PATH]... --list | --host NAME | --graph | --list-hosts PATTERN',
  details: [
    '  --list                 every group and host with variables (ansible-inventory --list shape)',
    '  --host NAME            one host\'s merged variables',
    '  --graph                the group tree',
    '  --list-hosts PATTERN   the hosts a pattern selects, one per line',
  ].join('\n'),
  options: {
    inventory: { type: 'string', short: 'i', multiple: true },
    list: { type: 'boolean' },
    host: { type: 'string' },
    graph: { type: 'boolean' },
    'list-hosts': { type: 'string' },
  },
  async run(ctx) {
    const inv = loadInventory((ctx.values.inventory as string[] | undefined) ?? []);
    if (ctx.values.list) {
      ctx.out(JSON.stringify(listShape(inv), null, 2));
    } else if (typeof ctx.values.host === 'string') {
      if (!inv.hosts.has(ctx.values.host)) throw new AppError('pattern', `no host ${ctx.values.host} in ${inv.sources.join(', ')}`);
      const { inventory_hostname: _, ...vars } = hostVars(inv, ctx.values.host).vars;
      ctx.out(JSON.stringify(vars, null, 2));
    } else if (ctx.values.graph) {
      ctx.out(graph(inv, 'all', 0).join('\n'));
    } else if (typeof ctx.values['list-hosts'] === 'string') {
      const hosts = resolveTarget(inv, ctx.values['list-hosts']).map((h) => h.name);
      ctx.out(ctx.json ? JSON.stringify(hosts) : hosts.join('\n'));
    } else {
      throw new AppError('usage', `one of --list, --host, --graph or --list-hosts is needed; usage: ${inventoryCommand.usage}`);
    }
    return EXIT.ok;
  },
};

function listShape(inv: Inventory): Record<string, unknown> {
  const out: Record<string, unknown> = { _meta: { hostvars: Object.fromEntries([...inv.hosts.values()].map((h) => [h.name, h.vars])) } };
  const allChildren = [...inv.groups.keys()].filter((g) => g !== 'all' && ![...inv.groups.values()].some((p) => p.children.includes(g)));
  for (const g of inv.groups.values()) {
    const hosts = g.name === 'ungrouped' ? groupHosts(inv, 'ungrouped') : g.name === 'all' ? [] : g.hosts;
    const children = g.name === 'all' ? allChildren : g.children;
    if (g.name !== 'all' && hosts.length === 0 && children.length === 0 && Object.keys(g.vars).length === 0) continue;
    out[g.name] = { ...(hosts.length ? { hosts } : {}), ...(children.length ? { children } : {}), ...(Object.keys(g.vars).length ? { vars: g.vars } : {}) };
  }
  return out;
}

function graph(inv: Inventory, name: string, depth: number): string[] {
  const g = inv.groups.get(name);
  const pad = '  '.repeat(depth);
  const lines = [`${pad}${depth ? '|--' : ''}@${name}:`];
  const children = name === 'all' ? [...inv.groups.keys()].filter((c) => c !== 'all' && ![...inv.groups.values()].some((p) => p.children.includes(c))) : (g?.children ?? []);
  for (const c of children) lines.push(...graph(inv, c, depth + 1));
  const hosts = name === 'ungrouped' ? groupHosts(inv, 'ungrouped') : name === 'all' ? [] : (g?.hosts ?? []);
  for (const h of hosts) lines.push(`${'  '.repeat(depth + 1)}|--${h}`);
  return lines;
}
