/** Options and steps shared by commands that act on an inventory's hosts. */
import { loadConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { loadInventory, resolveTarget, type Inventory, type LoadOptions, type TargetHost } from '../inventory/index.ts';
import type { CommandContext, Options } from './types.ts';

/** How every command reads inventories: -i sources, vault passwords, ansible.cfg. */
export const INVENTORY_OPTIONS: Options = {
  inventory: { type: 'string', short: 'i', multiple: true },
  'vault-password-file': { type: 'string', multiple: true },
  'ansible-cfg': { type: 'string' },
};

export const TARGET_OPTIONS: Options = {
  ...INVENTORY_OPTIONS,
  limit: { type: 'string', short: 'l' },
};

export const FORKS_OPTION: Options = { forks: { type: 'string', short: 'f' } };

export function configFrom(ctx: CommandContext) {
  const flags: Parameters<typeof loadConfig>[0] = { flags: {} };
  if (typeof ctx.values.config === 'string') flags.flags!.config = ctx.values.config;
  if (typeof ctx.values.forks === 'string') flags.flags!.forks = intOption('--forks', ctx.values.forks, 1, 10_000);
  if (ctx.values['accept-new-host-keys'] === true) flags.flags!.acceptNewHostKeys = true;
  return loadConfig(flags);
}

export function inventoryOptionsFrom(ctx: CommandContext): LoadOptions {
  const opts: LoadOptions = { vaultPasswordFiles: (ctx.values['vault-password-file'] as string[] | undefined) ?? [] };
  if (typeof ctx.values['ansible-cfg'] === 'string') opts.ansibleCfg = ctx.values['ansible-cfg'];
  return opts;
}

/** The target: the inventory (-i, or ansible.cfg's inventory) and --limit (no --limit: all). */
export function targetFrom(ctx: CommandContext): TargetHost[] {
  return targetWithSources(ctx).targets;
}

/** The target and the inventory sources it came from (`-i` paths, or ansible.cfg's). */
export function targetWithSources(ctx: CommandContext): { targets: TargetHost[]; sources: string[] } {
  const paths = (ctx.values.inventory as string[] | undefined) ?? [];
  const inv = loadInventory(paths, inventoryOptionsFrom(ctx));
  const targets = resolveTarget(inv, (ctx.values.limit as string | undefined) ?? 'all');
  printWarnings(ctx, inv);
  return { targets, sources: inv.sources };
}

/** What Ansible would have warned about, on stderr. */
export function printWarnings(ctx: CommandContext, inv: Inventory): void {
  for (const w of inv.warnings) ctx.err(`warning: ${w}`);
}

export function intOption(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new AppError('usage', `${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}
