/** Reading inventories and resolving a target (inventory + pattern → hosts with their vars). */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { emptyInventory, parseIni } from './ini.ts';
import { matchPattern } from './pattern.ts';
import type { Inventory, TargetHost } from './types.ts';
import { hostVars } from './vars.ts';

export type { Inventory, TargetHost } from './types.ts';

export function loadInventory(paths: string[]): Inventory {
  if (paths.length === 0) throw new AppError('usage', 'no inventory given: pass -i PATH');
  const inv = emptyInventory();
  for (const p of paths) {
    const path = resolve(p);
    let text: string;
    try {
      if (statSync(path).isDirectory()) {
        throw new AppError('inventory', `${path}: inventory directories are not supported yet; pass the INI file itself`);
      }
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('inventory', `cannot read inventory ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    if (/^\s*[{-]/.test(text) || /\.(ya?ml|json)$/.test(path)) {
      throw new AppError('inventory', `${path}: YAML/JSON inventories are not supported yet; use an INI inventory`);
    }
    parseIni(text, path, inv);
  }
  return inv;
}

/** The hosts a pattern selects, in inventory order, with merged variables. */
export function resolveTarget(inv: Inventory, pattern = 'all'): TargetHost[] {
  return matchPattern(inv, pattern).map((name) => {
    const { vars, groups } = hostVars(inv, name);
    return { name, vars, groups, source: inv.hosts.get(name)!.source };
  });
}
