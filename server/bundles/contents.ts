/** A bundle directory on disk: read its own files without following symlinks, and check that the
 * payload is exactly what the manifest lists — no symlink, no extra file, sizes before hashes. */
import { createHash } from 'node:crypto';
import { constants, lstatSync, readdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors.ts';
import { MANIFEST_FILE, SIGNATURE_FILE, type BundleManifest } from './manifest.ts';

export interface BundleFile {
  sha256: string;
  size: number;
  absPath: string;
}

/**
 * Opens a regular file for reading without following a symlink (O_NOFOLLOW: ELOOP) or blocking on
 * a FIFO. Returns null for a missing file when `optional`.
 */
export async function openRegularFile(path: string, maxBytes: number, what: string, optional?: false): Promise<{ handle: FileHandle; size: number }>;
export async function openRegularFile(path: string, maxBytes: number, what: string, optional: true): Promise<{ handle: FileHandle; size: number } | null>;
export async function openRegularFile(path: string, maxBytes: number, what: string, optional = false): Promise<{ handle: FileHandle; size: number } | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new AppError('bundle', `${path}: is a symbolic link; bundles may not contain symlinks`);
    if (code === 'ENOENT' && optional) return null;
    if (code === 'ENOENT') throw new AppError('bundle', `${path}: ${what} is missing`);
    throw new AppError('bundle', `${path}: cannot read ${what}: ${code ?? (err as Error).message}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new AppError('bundle', `${path}: ${what} is not a regular file`);
    if (st.size > maxBytes) throw new AppError('bundle', `${path}: ${what} is ${st.size} bytes, over the limit of ${maxBytes} (maxBundleFileBytes in the controller config)`);
    return { handle, size: st.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Reads a small file of the bundle whole, or null when it does not exist. */
export async function readBundleFile(path: string, maxBytes: number, what: string): Promise<Buffer | null> {
  const opened = await openRegularFile(path, maxBytes, what, true);
  if (!opened) return null;
  try {
    return await opened.handle.readFile();
  } finally {
    await opened.handle.close();
  }
}

/** sha256 of everything readable from the handle; closes it. */
export async function hashHandle(handle: FileHandle): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Walks the bundle directory with lstat: every entry must be a directory or a regular file, and
 * every file one of bundle.json, bundle.sig (at the top) or a path listed in `files`.
 */
export function checkDirectoryEntries(dir: string, listed: ReadonlySet<string>): void {
  const walk = (rel: string) => {
    const abs = rel ? join(dir, rel) : dir;
    let entries: string[];
    try {
      entries = readdirSync(abs).sort();
    } catch (err) {
      throw new AppError('bundle', `${abs}: cannot read bundle directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const name of entries) {
      const path = rel ? `${rel}/${name}` : name;
      let st;
      try {
        st = lstatSync(join(dir, path));
      } catch (err) {
        throw new AppError('bundle', `${join(dir, path)}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (st.isSymbolicLink()) throw new AppError('bundle', `${join(dir, path)}: is a symbolic link; bundles may not contain symlinks`);
      if (st.isDirectory()) walk(path);
      else if (!st.isFile()) throw new AppError('bundle', `${join(dir, path)}: is not a regular file or directory`);
      else if (!listed.has(path) && !(rel === '' && (name === MANIFEST_FILE || name === SIGNATURE_FILE))) {
        throw new AppError('bundle', `${join(dir, path)}: is not listed in bundle.json's files; a bundle holds its listed payload only (remove it, or rebuild the bundle)`);
      }
    }
  };
  walk('');
}

/**
 * Checks the payload against the manifest: the directory holds exactly the listed files, each a
 * regular file within the size limit and of the listed size (all sizes first), then each hash.
 */
export async function verifyPayload(dir: string, manifest: BundleManifest, maxFileBytes: number): Promise<Map<string, BundleFile>> {
  const entries = Object.entries(manifest.files);
  for (const [path, entry] of entries) {
    if (entry.size > maxFileBytes) {
      throw new AppError('bundle', `${join(dir, MANIFEST_FILE)}: files[${JSON.stringify(path)}].size is ${entry.size} bytes, over the limit of ${maxFileBytes} (maxBundleFileBytes in the controller config)`);
    }
  }
  checkDirectoryEntries(dir, new Set(entries.map(([path]) => path)));
  for (const [path, entry] of entries) {
    const absPath = join(dir, path);
    const { handle, size } = await openRegularFile(absPath, maxFileBytes, 'payload file');
    await handle.close();
    if (size !== entry.size) throw new AppError('bundle', `${absPath}: is ${size} bytes but bundle.json lists files[${JSON.stringify(path)}].size ${entry.size}; the payload was changed or the manifest is wrong`);
  }
  const files = new Map<string, BundleFile>();
  for (const [path, entry] of entries) {
    const absPath = join(dir, path);
    const { handle } = await openRegularFile(absPath, maxFileBytes, 'payload file');
    const { sha256, size } = await hashHandle(handle);
    if (size !== entry.size) throw new AppError('bundle', `${absPath}: changed size while being verified; try again`);
    if (sha256 !== entry.sha256) {
      throw new AppError('bundle', `${absPath}: sha256 ${sha256} differs from files[${JSON.stringify(path)}].sha256 ${entry.sha256} in bundle.json; the payload was tampered with`);
    }
    files.set(path, { sha256, size, absPath });
  }
  return files;
}
