/** The fleet a console acts on: the inventories it was started with (`serve --inventory`), the
 * bundle library (`serve --bundles DIR`, one signed bundle per subdirectory) and the controller
 * config (known hosts, trusted keys, forks). Inventories are read again for every request, so an
 * edit or a `git pull` shows at once; a broken inventory is an error on the page, not a crash. */
import type { ControllerConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { loadInventory, type Inventory, type LoadOptions } from '../inventory/index.ts';

export interface Fleet {
  /** Inventory sources (files, directories, scripts) as given to `serve --inventory`. */
  inventories: string[];
  /** The bundle library: each subdirectory holding a bundle.json is one bundle; null: none. */
  bundlesDir: string | null;
  config: ControllerConfig;
  loadOptions: LoadOptions;
}

export function noFleet(config: ControllerConfig): Fleet {
  return { inventories: [], bundlesDir: null, config, loadOptions: {} };
}

/** The configured inventories, read now; an AppError('usage') when the server has none. */
export function fleetInventory(fleet: Fleet): Inventory {
  if (!fleet.inventories.length) throw new AppError('usage', 'this server was started without an inventory: restart it with fleetpatch serve --inventory PATH');
  return loadInventory(fleet.inventories, fleet.loadOptions);
}
