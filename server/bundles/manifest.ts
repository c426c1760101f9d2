/** bundle.json, schema 1: the types and a strict validator whose errors name the field path. */
import { AppError } from '../errors.ts';

export type BundleKind = 'livepatch' | 'packages';
export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** A livepatch module built for one kernel build, identified by vmlinux's GNU build-id. */
export interface LivepatchModule {
  buildId: string;
  release: string;
  version: string;
  file: string;
}

export interface LivepatchSpec {
  /** Patch name: the module name with '-' → '_'; /sys/kernel/livepatch/<patch>. */
  patch: string;
  /** Cumulative patch (atomic replace): disables every other livepatch on the host. */
  replace: boolean;
  transitionTimeoutSeconds: number;
  modules: LivepatchModule[];
}

export interface DebPackage {
  name: string;
  version: string;
  arch: string;
  file: string;
}

export interface PackagesSpec {
  /** Installed together in one dpkg transaction. */
  debs: DebPackage[];
  /** The versions hosts run now, shipped so a rollback can reinstall them exactly. */
  previous: DebPackage[];
  /** Whether a host lacking a package gets it (rollback removes it); false: the bundle only upgrades. */
  installNew: boolean;
  /** `id:version_id` pairs from os-release the bundle is for; empty means any. */
  os: string[];
}

/** A command run on the host after applying; argv only, never a shell string. */
export interface BundleCheck {
  argv: string[];
  exitCode: number;
  stdoutEquals?: string;
  stdoutContains?: string;
  stdoutNotContains?: string;
}

export interface FileEntry {
  sha256: string;
  size: number;
}

interface ManifestCommon {
  schema: 1;
  id: string;
  serial: number;
  title: string;
  cves: string[];
  severity: Severity;
  /** Absent in bundle.json means none. */
  checks: BundleCheck[];
  /** Every payload file (path relative to the bundle) and only those. */
  files: Record<string, FileEntry>;
}

export type BundleManifest =
  | (ManifestCommon & { kind: 'livepatch'; livepatch: LivepatchSpec })
  | (ManifestCommon & { kind: 'packages'; packages: PackagesSpec });

/** Names a bundle may not use for payload: they are the bundle's own. */
export const MANIFEST_FILE = 'bundle.json';
export const SIGNATURE_FILE = 'bundle.sig';
/** bundle.json is read whole, so it gets a bound of its own. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const CVE = /^CVE-\d{4}-\d{4,}$/;
const PATCH = /^[A-Za-z0-9_]{1,55}$/;
const RELEASE = /^[A-Za-z0-9._+~-]{1,64}$/;
const DEB_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const DEB_VERSION = /^(?:\d+:)?[0-9][A-Za-z0-9.+~:-]*$/;
const DEB_ARCH = /^[a-z0-9-]{1,32}$/;
// Text shown on terminals: control characters could rewrite what the operator sees.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why a bundle-relative path is unsafe, or null when it is a plain relative path inside the bundle. */
export function unsafePathReason(path: string): string | null {
  if (path === '') return 'is empty';
  if (path.length > 255) return 'is longer than 255 characters';
  if (path.startsWith('/')) return 'is absolute; paths in a bundle are relative to it';
  if (path.includes('\\')) return 'contains a backslash';
  if (CONTROL.test(path)) return 'contains a control character';
  for (const segment of path.split('/')) {
    if (segment === '..') return 'contains ".." and would escape the bundle';
    if (segment === '' || segment === '.') return 'is not in canonical form (empty or "." segment)';
  }
  if (path === MANIFEST_FILE || path === SIGNATURE_FILE) return `names the bundle's own ${path}`;
  return null;
}

/** The payload files the manifest's modules or debs name. */
export function referencedFiles(manifest: Pick<BundleManifest, 'kind'> & Partial<{ livepatch: LivepatchSpec; packages: Pick<PackagesSpec, 'debs'> & Partial<PackagesSpec> }>): string[] {
  const list = manifest.kind === 'livepatch' ? (manifest.livepatch?.modules ?? []) : [...(manifest.packages?.debs ?? []), ...(manifest.packages?.previous ?? [])];
  return [...new Set(list.map((m) => m.file))];
}

/**
 * Parses and validates bundle.json. `where` names the file in messages. With `withFiles: false`
 * (a build's source manifest) the `files` field is ignored and returned empty.
 */
export function parseManifest(bytes: Uint8Array, where: string, { withFiles = true } = {}): BundleManifest {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AppError('bundle', `${where}: not valid UTF-8`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new AppError('bundle', `${where}: not valid JSON: ${(err as Error).message}`);
  }
  return new ManifestReader(where).manifest(data, withFiles);
}

type Json = Record<string, unknown>;

class ManifestReader {
  constructor(private readonly where: string) {}

  fail(path: string, what: string): never {
    throw new AppError('bundle', `${this.where}: ${path} ${what}`);
  }

  object(value: unknown, path: string, required: string[], optional: string[] = []): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path || 'the manifest', 'must be a JSON object');
    const prefix = path ? `${path}.` : '';
    for (const key of required) if (!(key in value)) this.fail(`${prefix}${key}`, 'is missing');
    const known = new Set([...required, ...optional]);
    for (const key of Object.keys(value)) {
      if (!known.has(key)) this.fail(`${prefix}${key}`, `is not a known field (known: ${[...known].join(', ')})`);
    }
    return value as Json;
  }

  string(value: unknown, path: string, pattern: RegExp | null, what: string, maxLength = 256): string {
    if (typeof value !== 'string') this.fail(path, `must be a string (${what})`);
    if (pattern ? !pattern.test(value) : value === '' || value.length > maxLength || CONTROL.test(value)) this.fail(path, `must be ${what}`);
    return value;
  }

  integer(value: unknown, path: string, min: number, max: number): number {
    if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) this.fail(path, `must be an integer from ${min} to ${max}`);
    return value as number;
  }

  array(value: unknown, path: string, { nonEmpty = false, max = 10_000 } = {}): unknown[] {
    if (!Array.isArray(value)) this.fail(path, 'must be an array');
    if (nonEmpty && value.length === 0) this.fail(path, 'must not be empty');
    if (value.length > max) this.fail(path, `must have at most ${max} entries`);
    return value;
  }

  path(value: unknown, path: string, suffix: string): string {
    const p = this.string(value, path, /^/, 'a relative path inside the bundle');
    const reason = unsafePathReason(p);
    if (reason) this.fail(path, `${JSON.stringify(p)} ${reason}`);
    if (!p.endsWith(suffix)) this.fail(path, `${JSON.stringify(p)} must end in ${suffix}`);
    return p;
  }

  manifest(data: unknown, withFiles: boolean): BundleManifest {
    const raw = this.object(data, '', [], Object.keys((data ?? {}) as object));
    if ('schema' in raw && raw.schema !== 1) this.fail('schema', `must be 1 (this fleetpatch reads bundle schema 1), got ${JSON.stringify(raw.schema)}`);
    if (!('kind' in raw)) this.fail('kind', 'is missing');
    const kind = this.string(raw.kind, 'kind', /^(livepatch|packages)$/, '"livepatch" or "packages"') as BundleKind;
    const other = kind === 'livepatch' ? 'packages' : 'livepatch';
    if (other in raw) this.fail(other, `is not allowed in a bundle of kind ${kind}`);
    const top = this.object(raw, '', ['schema', 'id', 'serial', 'kind', 'title', 'cves', 'severity', kind, ...(withFiles ? ['files'] : [])], ['checks', ...(withFiles ? [] : ['files'])]);
    const common = {
      schema: 1 as const,
      id: this.string(top.id, 'id', ID, 'a bundle series id: [a-z0-9][a-z0-9._-]{0,63}'),
      serial: this.integer(top.serial, 'serial', 1, Number.MAX_SAFE_INTEGER),
      title: this.string(top.title, 'title', null, 'a non-empty line of at most 200 characters', 200),
      cves: this.array(top.cves, 'cves').map((c, i) => this.string(c, `cves[${i}]`, CVE, 'a CVE id such as CVE-2026-12345')),
      severity: this.string(top.severity, 'severity', /^(low|medium|high|critical)$/, 'low, medium, high or critical') as Severity,
      checks: top.checks === undefined ? [] : this.array(top.checks, 'checks', { max: 100 }).map((c, i) => this.check(c, `checks[${i}]`)),
      files: {} as Record<string, FileEntry>,
    };
    const manifest: BundleManifest =
      kind === 'livepatch' ? { ...common, kind, livepatch: this.livepatch(top.livepatch) } : { ...common, kind, packages: this.packages(top.packages) };
    if (withFiles) manifest.files = this.files(top.files, referencedFiles(manifest));
    return manifest;
  }

  livepatch(value: unknown): LivepatchSpec {
    const lp = this.object(value, 'livepatch', ['patch', 'replace', 'transitionTimeoutSeconds', 'modules']);
    if (typeof lp.replace !== 'boolean') this.fail('livepatch.replace', 'must be true or false');
    const seen = new Map<string, number>();
    const modules = this.array(lp.modules, 'livepatch.modules', { nonEmpty: true, max: 1000 }).map((m, i) => {
      const at = `livepatch.modules[${i}]`;
      const o = this.object(m, at, ['buildId', 'release', 'version', 'file']);
      const buildId = this.string(o.buildId, `${at}.buildId`, HEX40, '40 lowercase hex digits');
      const first = seen.get(buildId);
      if (first !== undefined) this.fail(`${at}.buildId`, `duplicates livepatch.modules[${first}].buildId (one module per kernel build)`);
      seen.set(buildId, i);
      return {
        buildId,
        release: this.string(o.release, `${at}.release`, RELEASE, 'a kernel release as `uname -r` prints it'),
        version: this.string(o.version, `${at}.version`, null, 'the kernel version as `uname -v` prints it'),
        file: this.path(o.file, `${at}.file`, '.ko'),
      };
    });
    return {
      patch: this.string(lp.patch, 'livepatch.patch', PATCH, "the module name with '-' replaced by '_' (letters, digits, _; at most 55)"),
      replace: lp.replace,
      transitionTimeoutSeconds: this.integer(lp.transitionTimeoutSeconds, 'livepatch.transitionTimeoutSeconds', 1, 3600),
      modules,
    };
  }

  packages(value: unknown): PackagesSpec {
    const p = this.object(value, 'packages', ['debs'], ['previous', 'installNew', 'os']);
    const debs = this.debs(p.debs, 'packages.debs', true);
    const previous = p.previous === undefined ? [] : this.debs(p.previous, 'packages.previous', false);
    previous.forEach((d, i) => {
      if (!debs.some((x) => x.name === d.name)) this.fail(`packages.previous[${i}].name`, `${d.name} is not one of packages.debs`);
    });
    if (p.installNew !== undefined && typeof p.installNew !== 'boolean') this.fail('packages.installNew', 'must be true or false');
    const os = p.os === undefined ? [] : this.array(p.os, 'packages.os', { nonEmpty: true, max: 100 }).map((o, i) => this.string(o, `packages.os[${i}]`, /^[a-z0-9._-]+:[A-Za-z0-9._-]+$/, 'id:version_id as in os-release, e.g. debian:12'));
    return { debs, previous, installNew: p.installNew === true, os };
  }

  debs(value: unknown, at0: string, nonEmpty: boolean): DebPackage[] {
    const seen = new Set<string>();
    return this.array(value, at0, { nonEmpty, max: 1000 }).map((d, i) => {
      const at = `${at0}[${i}]`;
      const o = this.object(d, at, ['name', 'version', 'arch', 'file']);
      const deb = {
        name: this.string(o.name, `${at}.name`, DEB_NAME, 'a Debian package name'),
        version: this.string(o.version, `${at}.version`, DEB_VERSION, 'a Debian version'),
        arch: this.string(o.arch, `${at}.arch`, DEB_ARCH, 'a Debian architecture (amd64, arm64, all, …)'),
        file: this.path(o.file, `${at}.file`, '.deb'),
      };
      if (seen.has(`${deb.name}:${deb.arch}`)) this.fail(`${at}.name`, `${deb.name}:${deb.arch} is listed twice`);
      seen.add(`${deb.name}:${deb.arch}`);
      return deb;
    });
  }

  check(value: unknown, at: string): BundleCheck {
    const o = this.object(value, at, ['argv', 'exitCode'], ['stdoutEquals', 'stdoutContains', 'stdoutNotContains']);
    const argv = this.array(o.argv, `${at}.argv`, { nonEmpty: true, max: 256 }).map((a, i) => {
      if (typeof a !== 'string' || a.includes('\0') || a.length > 4096) this.fail(`${at}.argv[${i}]`, 'must be a string without NUL of at most 4096 characters (argv, never a shell line)');
      return a;
    });
    if (argv[0] === '') this.fail(`${at}.argv[0]`, 'must name a program');
    const check: BundleCheck = { argv, exitCode: this.integer(o.exitCode, `${at}.exitCode`, 0, 255) };
    for (const key of ['stdoutEquals', 'stdoutContains', 'stdoutNotContains'] as const) {
      if (o[key] === undefined) continue;
      if (typeof o[key] !== 'string' || o[key].includes('\0') || o[key].length > 65536) this.fail(`${at}.${key}`, 'must be a string without NUL of at most 65536 characters');
      check[key] = o[key];
    }
    return check;
  }

  files(value: unknown, referenced: string[]): Record<string, FileEntry> {
    const o = this.object(value, 'files', [], Object.keys((value ?? {}) as object));
    const files: Record<string, FileEntry> = {};
    for (const [path, entry] of Object.entries(o)) {
      const at = `files[${JSON.stringify(path)}]`;
      const reason = unsafePathReason(path);
      if (reason) this.fail(at, reason);
      const e = this.object(entry, at, ['sha256', 'size']);
      files[path] = {
        sha256: this.string(e.sha256, `${at}.sha256`, HEX64, '64 lowercase hex digits'),
        size: this.integer(e.size, `${at}.size`, 0, Number.MAX_SAFE_INTEGER),
      };
    }
    for (const path of referenced) {
      if (!(path in files)) this.fail(`files[${JSON.stringify(path)}]`, 'is missing: every file a module or package names must be listed with its sha256 and size');
    }
    for (const path of Object.keys(files)) {
      if (!referenced.includes(path)) this.fail(`files[${JSON.stringify(path)}]`, 'is not named by any module or package; files lists payload files only');
    }
    return files;
  }
}
