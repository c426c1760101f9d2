/** Real bundles in temporary directories: keys, sources, built and signed bundles. */
import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildBundle, generateBundleKey, signBundle, type BundleLoadOptions } from '../../server/bundles/index.ts';
import { AppError, type ErrorCode } from '../../server/errors.ts';

export const BUILD_A = '0123456789abcdef0123456789abcdef01234567';
export const BUILD_B = 'fedcba9876543210fedcba9876543210fedcba98';
export const MODULE_A = 'modules/fp_good-6.1.0-56-amd64.ko';
export const MODULE_B = 'modules/fp_good-6.1.0-57-amd64.ko';

const tempDirs: string[] = [];
process.on('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A temporary directory removed when the test process exits. */
export function tempDir(prefix = 'fp-bundle-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A source bundle.json (no files) for a livepatch with modules for two kernel builds. */
export function sourceManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 1,
    id: 'fp-demo-good',
    serial: 3,
    kind: 'livepatch',
    title: 'Demo livepatch: marker in /proc/cmdline',
    cves: ['CVE-2026-12345'],
    severity: 'high',
    livepatch: {
      patch: 'fp_good',
      replace: false,
      transitionTimeoutSeconds: 30,
      modules: [
        { buildId: BUILD_A, release: '6.1.0-56-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)', file: MODULE_A },
        { buildId: BUILD_B, release: '6.1.0-57-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.159-1 (2025-12-01)', file: MODULE_B },
      ],
    },
    checks: [{ argv: ['cat', '/proc/cmdline'], exitCode: 0, stdoutContains: 'marker' }],
    ...overrides,
  };
}

/** Writes a bundle source: bundle.json plus payload files (default: two small modules). */
export function writeSource(dir: string, manifest: unknown = sourceManifest(), payload: Record<string, string | Buffer> = { [MODULE_A]: 'module for build A\n', [MODULE_B]: 'module for build B, a little longer\n' }): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bundle.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest, null, 2));
  for (const [path, content] of Object.entries(payload)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

export interface Fixture {
  root: string;
  /** A built and signed bundle. */
  dir: string;
  key: ReturnType<typeof generateBundleKey>;
  /** Directory holding the trusted .pub (only this fixture's key). */
  trustedKeysDir: string;
  options: BundleLoadOptions;
}

/** keygen → build → sign, with a trust directory holding the signing key's .pub. */
export async function signedBundle(manifest: unknown = sourceManifest(), name = 'bundle'): Promise<Fixture> {
  const root = tempDir();
  const key = generateBundleKey(join(root, 'keys'));
  const trustedKeysDir = join(root, 'trusted');
  mkdirSync(trustedKeysDir);
  copyFileSync(key.publicKeyFile, join(trustedKeysDir, 'release.pub'));
  writeSource(join(root, 'src'), manifest);
  const dir = join(root, name);
  await buildBundle(join(root, 'src'), dir);
  await signBundle(dir, key.privateKeyFile);
  return { root, dir, key, trustedKeysDir, options: { trustedKeysDir, revokedKeyIds: [], maxFileBytes: 256 * 1024 * 1024 } };
}

/**
 * Rewrites bundle.json and signs it with the real key, as a careless or malicious signer would:
 * unlike signBundle, no check that the manifest or payload is whole.
 */
export function resignManifest(dir: string, keyFile: string, edit: (manifest: Record<string, any>) => unknown): void {
  const manifest = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8'));
  const bytes = Buffer.from(JSON.stringify(edit(manifest) ?? manifest, null, 2));
  writeFileSync(join(dir, 'bundle.json'), bytes);
  const sig = JSON.parse(readFileSync(join(dir, 'bundle.sig'), 'utf8'));
  sig.signature = sign(null, bytes, createPrivateKey(readFileSync(keyFile))).toString('base64');
  writeFileSync(join(dir, 'bundle.sig'), JSON.stringify(sig));
}

/** Asserts that `promise` rejects with an AppError of `code` whose message matches every pattern. */
export async function assertRefused(promise: Promise<unknown>, code: ErrorCode, ...patterns: RegExp[]): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return err;
  }
  assert.fail(`expected a refusal (${code})`);
}
