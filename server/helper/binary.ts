/** The helper binaries this controller can push, content-addressed by sha256. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors.ts';

export interface HelperBinary {
  arch: string;
  path: string;
  bytes: Buffer;
  sha256: string;
}

const BUILD_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../native/helper/build');
const cache = new Map<string, HelperBinary>();

export function helperBinary(arch: string, buildDir = BUILD_DIR): HelperBinary {
  const path = resolve(buildDir, `fleetpatch-helper-${arch}`);
  const hit = cache.get(path);
  if (hit) return hit;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new AppError('helper-missing', `no fleetpatch-helper for ${arch} at ${path}: build it with \`make -C native/helper\`${arch === 'x86_64' ? '' : ' (needs a cross compiler)'}`);
  }
  const helper = { arch, path, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  cache.set(path, helper);
  return helper;
}
