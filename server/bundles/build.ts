/** Making bundles: `build` copies the payload a source manifest names and records its sizes and
 * hashes; `sign` signs the exact bytes of bundle.json after checking the bundle is whole. */
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AppError } from '../errors.ts';
import { openRegularFile, readBundleFile, verifyPayload } from './contents.ts';
import { MANIFEST_FILE, MAX_MANIFEST_BYTES, SIGNATURE_FILE, parseManifest, referencedFiles, type BundleManifest, type FileEntry } from './manifest.ts';
import { readSigningKey, signManifest } from './sign.ts';

/** The default of maxBundleFileBytes in the controller config. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

export interface BuiltBundle {
  dir: string;
  manifest: BundleManifest;
  /** sha256 of the written bundle.json. */
  sha256: string;
}

/**
 * Builds an unsigned bundle in `outDir` (absent or empty) from `srcDir`, whose bundle.json has no
 * `files` or stale ones: copies every file the modules or debs name and fills `files` in. Other
 * fields are written as they were. Refuses symlinks and paths that escape the source.
 */
export async function buildBundle(srcDir: string, outDir: string, { maxFileBytes = DEFAULT_MAX_FILE_BYTES } = {}): Promise<BuiltBundle> {
  const src = resolve(srcDir);
  const out = resolve(outDir);
  const sourcePath = join(src, MANIFEST_FILE);
  const bytes = await readBundleFile(sourcePath, MAX_MANIFEST_BYTES, MANIFEST_FILE);
  if (!bytes) throw new AppError('bundle', `${sourcePath}: missing; a bundle source holds bundle.json and the payload it names`);
  const source = parseManifest(bytes, sourcePath, { withFiles: false });
  const raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  if (outIsUsable(out) === 'not-empty') throw new AppError('usage', `${out}: exists and is not empty; build into a new or empty directory`);
  mkdirSync(dirname(out), { recursive: true });
  const work = mkdtempSync(join(dirname(out), `.${basename(out)}.build-`));
  try {
    const files: Record<string, FileEntry> = {};
    for (const path of referencedFiles(source).sort()) files[path] = await copyPayloadFile(src, path, work, maxFileBytes);
    const manifestBytes = Buffer.from(`${JSON.stringify({ ...raw, files }, null, 2)}\n`);
    const manifest = parseManifest(manifestBytes, join(out, MANIFEST_FILE));
    writeFileSync(join(work, MANIFEST_FILE), manifestBytes, { flag: 'wx', mode: 0o644 });
    await verifyPayload(work, manifest, maxFileBytes);
    chmodSync(work, 0o755);
    renameSync(work, out);
    return { dir: out, manifest, sha256: createHash('sha256').update(manifestBytes).digest('hex') };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function outIsUsable(out: string): 'absent' | 'empty' | 'not-empty' {
  try {
    const st = lstatSync(out);
    if (!st.isDirectory()) return 'not-empty';
    return readdirSync(out).length ? 'not-empty' : 'empty';
  } catch {
    return 'absent';
  }
}

async function copyPayloadFile(src: string, path: string, work: string, maxFileBytes: number): Promise<FileEntry> {
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const dir = join(src, ...segments.slice(0, i));
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      throw new AppError('bundle', `${join(src, path)}: payload file is missing (named in ${join(src, MANIFEST_FILE)})`);
    }
    if (st.isSymbolicLink()) throw new AppError('bundle', `${dir}: is a symbolic link; bundles may not contain symlinks`);
    if (!st.isDirectory()) throw new AppError('bundle', `${dir}: is not a directory`);
  }
  const { handle } = await openRegularFile(join(src, path), maxFileBytes, `payload file (named in ${join(src, MANIFEST_FILE)})`);
  const target = join(work, path);
  mkdirSync(dirname(target), { recursive: true });
  const output = await open(target, 'wx', 0o644);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxFileBytes) throw new AppError('bundle', `${join(src, path)}: grew over the limit of ${maxFileBytes} bytes while being copied`);
      hash.update(chunk);
      await output.write(chunk);
    }
    await output.sync();
  } finally {
    await handle.close();
    await output.close();
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Signs a bundle with an ed25519 private key (PKCS8 PEM, mode 0600), writing bundle.sig.
 * Refuses to sign a bundle whose manifest or payload is not whole.
 */
export async function signBundle(dir: string, keyFile: string, { maxFileBytes = DEFAULT_MAX_FILE_BYTES } = {}): Promise<{ keyId: string; sha256: string; signatureFile: string }> {
  const key = readSigningKey(keyFile);
  const abs = resolve(dir);
  const manifestPath = join(abs, MANIFEST_FILE);
  const manifestBytes = await readBundleFile(manifestPath, MAX_MANIFEST_BYTES, MANIFEST_FILE);
  if (!manifestBytes) throw new AppError('bundle', `${manifestPath}: missing; ${abs} is not a bundle (build one with \`fleetpatch bundle build\`)`);
  await verifyPayload(abs, parseManifest(manifestBytes, manifestPath), maxFileBytes);
  const signature = signManifest(manifestBytes, key);
  const signatureFile = join(abs, SIGNATURE_FILE);
  const temp = join(abs, `.${SIGNATURE_FILE}.${process.pid}.tmp`);
  writeFileSync(temp, `${JSON.stringify(signature)}\n`, { mode: 0o644 });
  renameSync(temp, signatureFile);
  return { keyId: signature.keyId, sha256: createHash('sha256').update(manifestBytes).digest('hex'), signatureFile };
}
