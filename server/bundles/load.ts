/** Loading a bundle: signature first (over the exact manifest bytes), then the manifest, then the
 * payload. Anything short of valid and signed by a trusted, unrevoked key is refused. */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError, errorInfo, type ErrorCode } from '../errors.ts';
import { verifyPayload, readBundleFile, type BundleFile } from './contents.ts';
import { MANIFEST_FILE, MAX_MANIFEST_BYTES, SIGNATURE_FILE, parseManifest, type BundleManifest } from './manifest.ts';
import { judgeSignature, loadTrustedKeys, type BundleTrust, type SignatureStatus, type TrustedKey } from './sign.ts';

/** What the controller config decides about bundles (see loadConfig). */
export interface BundleLoadOptions extends BundleTrust {
  maxFileBytes: number;
}

/**
 * Overrides that exist only as command-line flags. The web server and the API never construct
 * this (a test checks that nothing outside server/commands and server/bundles names it).
 */
export interface CliOnlyBundleOverrides {
  /** `--allow-unsigned`: load a bundle without bundle.sig (never one with a bad signature). */
  allowUnsigned?: boolean;
  /** Where the warning about an unsigned bundle goes (default: stderr). */
  warn?: (message: string) => void;
}

export interface LoadedBundle {
  dir: string;
  manifest: BundleManifest;
  manifestBytes: Buffer;
  /** sha256 of bundle.json: the identity of this exact bundle. */
  sha256: string;
  /** The trusted key that signed it; null when unsigned (only with allowUnsigned). */
  keyId: string | null;
  signed: boolean;
  files: Map<string, BundleFile>;
}

interface BundleHead {
  dir: string;
  manifestPath: string;
  manifestBytes: Buffer;
  sha256: string;
  signature: SignatureStatus;
}

async function readHead(dir: string, options: BundleLoadOptions): Promise<BundleHead> {
  const abs = resolve(dir);
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (err) {
    throw new AppError('bundle', `no bundle at ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!isDir) throw new AppError('bundle', `${abs}: a bundle is a directory holding bundle.json, bundle.sig and the payload`);
  const manifestPath = join(abs, MANIFEST_FILE);
  const manifestBytes = await readBundleFile(manifestPath, MAX_MANIFEST_BYTES, MANIFEST_FILE);
  if (!manifestBytes) throw new AppError('bundle', `${manifestPath}: missing; ${abs} is not a bundle`);
  const signaturePath = join(abs, SIGNATURE_FILE);
  const signatureBytes = await readBundleFile(signaturePath, 4096, SIGNATURE_FILE);
  const trustedKeys: Map<string, TrustedKey> = signatureBytes && options.trustedKeysDir ? loadTrustedKeys(options.trustedKeysDir) : new Map();
  return {
    dir: abs,
    manifestPath,
    manifestBytes,
    sha256: createHash('sha256').update(manifestBytes).digest('hex'),
    signature: judgeSignature(manifestBytes, signatureBytes, signaturePath, options, trustedKeys),
  };
}

function signatureRefusal(head: BundleHead, allowUnsigned: boolean): AppError | null {
  const s = head.signature;
  switch (s.state) {
    case 'trusted':
      return null;
    case 'unsigned':
      return allowUnsigned ? null : new AppError('bundle', `${join(head.dir, SIGNATURE_FILE)}: missing; the bundle is unsigned. Sign it with \`fleetpatch bundle sign ${head.dir} --key KEY\``);
    case 'untrusted':
    case 'revoked':
      return new AppError('bundle-untrusted', s.reason);
    case 'invalid':
      return new AppError('bundle', s.reason);
  }
}

/**
 * Loads a bundle for use: refuses it (AppError 'bundle' or 'bundle-untrusted') unless it is signed
 * by a trusted, unrevoked key, its manifest is valid and its payload is exactly the listed files.
 * An unsigned bundle is accepted only with the CLI-only `allowUnsigned`, and then loudly.
 */
export async function loadBundle(dir: string, options: BundleLoadOptions, cliOnly: CliOnlyBundleOverrides = {}): Promise<LoadedBundle> {
  const head = await readHead(dir, options);
  const refusal = signatureRefusal(head, cliOnly.allowUnsigned === true);
  if (refusal) throw refusal;
  const manifest = parseManifest(head.manifestBytes, head.manifestPath);
  const files = await verifyPayload(head.dir, manifest, options.maxFileBytes);
  const signed = head.signature.state === 'trusted';
  if (!signed) {
    const warn = cliOnly.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
    warn(`WARNING: bundle ${head.dir} (${manifest.id} serial ${manifest.serial}, bundle.json sha256 ${head.sha256}) is UNSIGNED: nobody vouches for it. Loaded only because --allow-unsigned was given.`);
  }
  return { dir: head.dir, manifest, manifestBytes: head.manifestBytes, sha256: head.sha256, keyId: signed ? (head.signature as { keyId: string }).keyId : null, signed, files };
}

export interface BundleInspection {
  dir: string;
  sha256: string;
  signature: SignatureStatus;
  /** Null when bundle.json is invalid (see verdict). */
  manifest: BundleManifest | null;
  /** Null when the manifest is invalid or the payload does not match it. */
  files: Map<string, BundleFile> | null;
  /** What loadBundle (without overrides) would say. */
  verdict: { ok: true } | { ok: false; error: { code: ErrorCode; message: string } };
}

/**
 * Everything that can be said about a bundle, including one that would be refused (to decide
 * whether to trust its key, or to see what was tampered with). Throws only when there is no
 * readable bundle.json at all.
 */
export async function inspectBundle(dir: string, options: BundleLoadOptions): Promise<BundleInspection> {
  const head = await readHead(dir, options);
  const problems: unknown[] = [];
  const refusal = signatureRefusal(head, false);
  if (refusal) problems.push(refusal);
  let manifest: BundleManifest | null = null;
  let files: Map<string, BundleFile> | null = null;
  try {
    manifest = parseManifest(head.manifestBytes, head.manifestPath);
    files = await verifyPayload(head.dir, manifest, options.maxFileBytes);
  } catch (err) {
    problems.push(err);
  }
  return {
    dir: head.dir,
    sha256: head.sha256,
    signature: head.signature,
    manifest,
    files,
    verdict: problems.length ? { ok: false, error: errorInfo(problems[0]) } : { ok: true },
  };
}
