/** The bundle library a console offers: each subdirectory of `serve --bundles DIR` holding a
 * bundle.json. The web only ever names a bundle by that subdirectory name (checked against the
 * directory listing, never joined as a path from a request) and only loads it with the trusted
 * keys of the controller config: there is no unsigned path here. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inspectBundle, loadBundle, type BundleManifest, type LoadedBundle, type SignatureStatus } from '../bundles/index.ts';
import { bundleOptions } from '../commands/bundle.ts';
import { AppError, errorInfo } from '../errors.ts';
import type { Fleet } from './fleet.ts';

export interface LibraryEntry {
  /** The subdirectory name: how pages and the API name the bundle. */
  name: string;
  sha256: string | null;
  manifest: BundleManifest | null;
  signature: SignatureStatus | null;
  /** Null when the bundle would be accepted; otherwise why it is refused. */
  refusal: { code: string; message: string } | null;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function names(fleet: Fleet): string[] {
  if (!fleet.bundlesDir) return [];
  let entries: string[];
  try {
    entries = readdirSync(fleet.bundlesDir);
  } catch (err) {
    throw new AppError('config', `bundle library ${fleet.bundlesDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return entries.filter((n) => NAME.test(n) && statSync(join(fleet.bundlesDir!, n), { throwIfNoEntry: false })?.isDirectory()).sort();
}

/** Every bundle of the library with its signature status; a refused one is listed with the reason. */
export async function listLibrary(fleet: Fleet): Promise<LibraryEntry[]> {
  const out: LibraryEntry[] = [];
  for (const name of names(fleet)) {
    try {
      const i = await inspectBundle(join(fleet.bundlesDir!, name), bundleOptions(fleet.config));
      out.push({ name, sha256: i.sha256, manifest: i.manifest, signature: i.signature, refusal: i.verdict.ok ? null : i.verdict.error });
    } catch (err) {
      const e = errorInfo(err);
      out.push({ name, sha256: null, manifest: null, signature: null, refusal: { code: e.code, message: e.message } });
    }
  }
  return out;
}

/** Loads one library bundle by name: signed by a trusted, unrevoked key, payload verified. */
export async function libraryBundle(fleet: Fleet, name: string): Promise<LoadedBundle> {
  if (!fleet.bundlesDir) throw new AppError('usage', 'this server was started without a bundle library: restart it with fleetpatch serve --bundles DIR');
  if (!names(fleet).includes(name)) throw new AppError('usage', `no bundle ${JSON.stringify(name.slice(0, 130))} in the library ${fleet.bundlesDir}`);
  return loadBundle(join(fleet.bundlesDir, name), bundleOptions(fleet.config));
}
