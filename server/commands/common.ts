/** Options and steps shared by commands that act on an inventory's hosts. */
import { loadConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { loadInventory, resolveTarget, type TargetHost } from '../inventory/index.ts';
import type { CommandContext, Options } from './types.ts';

export const TARGET_OPTIONS: Options = {
  inventory: { type: 'string', short: 'i', multiple: true },
  limit: { type: 'string', short: 'l' },
};

export const FORKS_OPTION: Options = { forks: { type: 'string', short: 'f' } };

export function configFrom(ctx: CommandContext) {
  const flags: Parameters<typeof loadConfig>[0] = { flags: {} };
  if (typeof ctx.values.config === 'string') flags.flags!.config = ctx.values.config;
  if (typeof ctx.values.forks === 'string') flags.flags!.forks = intOption('--forks', ctx.values.forks, 1, 10_000);
  return loadConfig(flags);
}

export function targetFrom(ctx: CommandContext): TargetHost[] {
  const paths = ctx.values.inventory as string[] | undefined;
  if (!paths?.length) throw new AppError('usage', 'no inventory given: pass -i PATH (an Ansible INI inventory)');
  return resolveTarget(loadInventory(paths), (ctx.values.limit as string | undefined) ?? 'all');
}

export function intOption(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new AppError('usage', `${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}
