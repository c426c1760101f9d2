/** Bundle keys and signatures: ed25519 over the exact bytes of bundle.json, via node:crypto. */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../errors.ts';

/** What bundle.sig holds. */
export interface SignatureFile {
  /** First 16 hex digits of the sha256 of the raw 32-byte ed25519 public key. */
  keyId: string;
  /** Base64 ed25519 signature over the exact bytes of bundle.json. */
  signature: string;
}

export interface TrustedKey {
  keyId: string;
  file: string;
  key: KeyObject;
}

/** Who may sign bundles: the controller config's trustedKeysDir and revokedKeyIds. */
export interface BundleTrust {
  trustedKeysDir: string | null;
  revokedKeyIds: readonly string[];
}

/**
 * The verdict on a bundle's signature. `untrusted` and `revoked` are verdicts on the key alone:
 * an untrusted key cannot be checked, and a revoked one is not worth checking.
 */
export type SignatureStatus =
  | { state: 'trusted'; keyId: string; keyFile: string }
  | { state: 'unsigned' }
  | { state: 'untrusted'; keyId: string; reason: string }
  | { state: 'revoked'; keyId: string; reason: string }
  | { state: 'invalid'; keyId: string | null; reason: string };

export const DEFAULT_KEY_NAME = 'fleetpatch-bundle';
const KEY_ID = /^[0-9a-f]{16}$/;

/** The key id of an ed25519 public (or private) key. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const raw = Buffer.from(pub.export({ format: 'jwk' }).x ?? '', 'base64url');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** Writes DIR/<name>.key (PKCS8 PEM, 0600) and DIR/<name>.pub (SPKI PEM); never overwrites. */
export function generateBundleKey(outDir: string, name = DEFAULT_KEY_NAME): { keyId: string; privateKeyFile: string; publicKeyFile: string } {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new AppError('usage', `key name ${JSON.stringify(name)} must be letters, digits and ._- (at most 64)`);
  const dir = resolve(outDir);
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  for (const file of [privateKeyFile, publicKeyFile]) {
    if (existsSync(file)) throw new AppError('usage', `${file}: already exists; keygen never overwrites a key (choose another --name or --out)`);
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    chmodSync(privateKeyFile, 0o600);
    writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new AppError('usage', `${(err as NodeJS.ErrnoException).path}: already exists; keygen never overwrites a key (choose another --name or --out)`);
    throw new AppError('usage', `cannot write keys to ${dir}: ${code ?? (err as Error).message}`);
  }
  return { keyId: keyIdOf(publicKey), privateKeyFile, publicKeyFile };
}

/** Reads a PKCS8 PEM ed25519 private key, refusing one that others may read (as ssh does). */
export function readSigningKey(keyFile: string): KeyObject {
  const file = resolve(keyFile);
  let pem: Buffer;
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) {
      throw new AppError('usage', `${file}: private key is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${file}`);
    }
    pem = readFileSync(file);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('usage', `cannot read signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new AppError('usage', `${file}: not a PEM private key (${(err as Error).message}); create one with \`fleetpatch bundle keygen\``);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AppError('usage', `${file}: is a ${key.asymmetricKeyType} key; bundles are signed with ed25519`);
  return key;
}

/** The bundle.sig content for these manifest bytes. */
export function signManifest(manifestBytes: Uint8Array, key: KeyObject): SignatureFile {
  return { keyId: keyIdOf(key), signature: sign(null, manifestBytes, key).toString('base64') };
}

/** Every `*.pub` in trustedKeysDir, by key id. A key file that is not ed25519 SPKI PEM is a config error. */
export function loadTrustedKeys(trustedKeysDir: string): Map<string, TrustedKey> {
  let names: string[];
  try {
    names = readdirSync(trustedKeysDir).filter((n) => n.endsWith('.pub')).sort();
  } catch (err) {
    throw new AppError('config', `cannot read trustedKeysDir ${trustedKeysDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const keys = new Map<string, TrustedKey>();
  for (const name of names) {
    const file = join(trustedKeysDir, name);
    let key: KeyObject;
    try {
      key = createPublicKey(readFileSync(file));
    } catch (err) {
      throw new AppError('config', `trusted key ${file}: not a PEM public key (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new AppError('config', `trusted key ${file}: is a ${key.asymmetricKeyType} key; bundle keys are ed25519`);
    const keyId = keyIdOf(key);
    if (!keys.has(keyId)) keys.set(keyId, { keyId, file, key });
  }
  return keys;
}

/**
 * Parses bundle.sig. Malformed content yields an `invalid` status rather than an exception, so
 * that `inspect` can show it; `where` names the file in the reason.
 */
export function parseSignatureFile(bytes: Uint8Array, where: string): SignatureFile | { invalid: string } {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    return { invalid: `${where}: not valid JSON: ${(err as Error).message}` };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { invalid: `${where}: must hold a JSON object {keyId, signature}` };
  const { keyId, signature, ...extra } = data as Record<string, unknown>;
  if (Object.keys(extra).length) return { invalid: `${where}: unknown field ${JSON.stringify(Object.keys(extra)[0])} (known: keyId, signature)` };
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) return { invalid: `${where}: keyId must be 16 lowercase hex digits` };
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(signature)) return { invalid: `${where}: signature must be a base64 ed25519 signature (64 bytes)` };
  return { keyId, signature };
}

/** Judges a signature against the trusted and revoked keys. `signatureBytes` null means no bundle.sig. */
export function judgeSignature(manifestBytes: Uint8Array, signatureBytes: Uint8Array | null, where: string, trust: BundleTrust, trustedKeys: Map<string, TrustedKey>): SignatureStatus {
  if (signatureBytes === null) return { state: 'unsigned' };
  const sig = parseSignatureFile(signatureBytes, where);
  if ('invalid' in sig) return { state: 'invalid', keyId: null, reason: sig.invalid };
  const { keyId } = sig;
  if (trust.revokedKeyIds.includes(keyId)) {
    return { state: 'revoked', keyId, reason: `${where}: signed by key ${keyId}, which is revoked (revokedKeyIds in the controller config); re-sign the bundle with a current key` };
  }
  const trusted = trustedKeys.get(keyId);
  if (!trusted) {
    const reason = trust.trustedKeysDir
      ? `${where}: signed by key ${keyId}, which is not among the trusted keys in ${trust.trustedKeysDir}; add its .pub there if you trust it`
      : `${where}: signed by key ${keyId}, but no trustedKeysDir is configured; set trustedKeysDir in the controller config to a directory holding the trusted *.pub keys`;
    return { state: 'untrusted', keyId, reason };
  }
  if (!verify(null, manifestBytes, trusted.key, Buffer.from(sig.signature, 'base64'))) {
    return {
      state: 'invalid',
      keyId,
      reason: `${where}: the signature by key ${keyId} does not match bundle.json (the manifest was changed after signing, or the signature belongs to another bundle)`,
    };
  }
  return { state: 'trusted', keyId, keyFile: trusted.file };
}
