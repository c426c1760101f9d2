/** Test support: inventories written to a temporary directory and read with loadInventory. */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadInventory, type Inventory, type LoadOptions } from '../../server/inventory/index.ts';

/** Writes `files` (path → content; a leading `!` in the path makes it executable) under a new
 * temporary directory and returns the directory. */
export function writeTree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fp-inv-'));
  for (const [rel, content] of Object.entries(files)) {
    const exec = rel.startsWith('!');
    const p = join(dir, exec ? rel.slice(1) : rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    if (exec) chmodSync(p, 0o755);
  }
  return dir;
}

/** One inventory file (named `name`) read as fleetpatch reads it. */
export function inventoryOf(text: string, name = 'hosts', opts: LoadOptions = {}): Inventory {
  const dir = writeTree({ [name]: text });
  return loadInventory([join(dir, name)], { ansibleCfg: null, cwd: dir, ...opts });
}
