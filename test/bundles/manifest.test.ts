import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManifest } from '../../server/bundles/index.ts';
import { AppError } from '../../server/errors.ts';
import { BUILD_A, MODULE_A, MODULE_B, sourceManifest } from './support.ts';

const HASH = 'a'.repeat(64);

/** A complete, valid livepatch manifest (with files). */
function manifest(): Record<string, any> {
  return sourceManifest({ files: { [MODULE_A]: { sha256: HASH, size: 19 }, [MODULE_B]: { sha256: HASH, size: 36 } } });
}

function packagesManifest(): Record<string, any> {
  const { livepatch: _, ...rest } = manifest();
  return {
    ...rest,
    kind: 'packages',
    packages: { debs: [{ name: 'fp-demo', version: '1:1.2-3', arch: 'amd64', file: 'debs/fp-demo_1.2-3_amd64.deb' }] },
    files: { 'debs/fp-demo_1.2-3_amd64.deb': { sha256: HASH, size: 100 } },
  };
}

const parse = (m: unknown) => parseManifest(Buffer.from(typeof m === 'string' ? m : JSON.stringify(m)), 'b/bundle.json');

function refused(edit: (m: Record<string, any>) => void, message: RegExp, base = manifest) {
  const m = base();
  edit(m);
  assert.throws(() => parse(m), (err: unknown) => err instanceof AppError && err.code === 'bundle' && message.test(err.message) ? true : assert.fail(`${err}`));
}

describe('bundle.json schema 1', () => {
  it('parses a livepatch manifest, defaulting absent checks to none', () => {
    const m = parse(manifest());
    assert.equal(m.kind, 'livepatch');
    assert.equal(m.kind === 'livepatch' && m.livepatch.modules[0]!.buildId, BUILD_A);
    assert.deepEqual(m.checks, [{ argv: ['cat', '/proc/cmdline'], exitCode: 0, stdoutContains: 'marker' }]);
    const { checks: _, ...noChecks } = manifest();
    assert.deepEqual(parse(noChecks).checks, []);
  });

  it('parses a packages manifest (shape only)', () => {
    const m = parse(packagesManifest());
    assert.equal(m.kind === 'packages' && m.packages.debs[0]!.version, '1:1.2-3');
  });

  it('refuses bytes that are not UTF-8 JSON', () => {
    assert.throws(() => parseManifest(Buffer.from([0xff, 0xfe]), 'b/bundle.json'), /b\/bundle\.json: not valid UTF-8/);
    assert.throws(() => parse('{"schema": 1,'), /b\/bundle\.json: not valid JSON/);
    assert.throws(() => parse('[]'), /b\/bundle\.json: the manifest must be a JSON object/);
  });

  it('names the field path of every invalid field', () => {
    refused((m) => (m.schema = 2), /^b\/bundle\.json: schema must be 1 \(this fleetpatch reads bundle schema 1\), got 2$/);
    refused((m) => (m.id = 'Fp Demo'), /bundle\.json: id must be a bundle series id/);
    refused((m) => (m.id = `a${'b'.repeat(64)}`), /bundle\.json: id must be a bundle series id/);
    refused((m) => (m.serial = 0), /bundle\.json: serial must be an integer from 1/);
    refused((m) => (m.serial = 1.5), /bundle\.json: serial must be an integer/);
    refused((m) => (m.kind = 'kernel'), /bundle\.json: kind must be "livepatch" or "packages"/);
    refused((m) => (m.title = 'evil\u001b[2Jtitle'), /bundle\.json: title must be a non-empty line/);
    refused((m) => (m.cves = ['CVE-26-1']), /bundle\.json: cves\[0\] must be a CVE id/);
    refused((m) => (m.severity = 'urgent'), /bundle\.json: severity must be low, medium, high or critical/);
    refused((m) => delete m.title, /bundle\.json: title is missing/);
    refused((m) => (m.extra = 1), /bundle\.json: extra is not a known field/);
  });

  it('validates the livepatch section: build-ids, patch name, timeout, modules', () => {
    refused((m) => (m.livepatch.modules[1].buildId = BUILD_A.toUpperCase()), /^b\/bundle\.json: livepatch\.modules\[1\]\.buildId must be 40 lowercase hex digits$/);
    refused((m) => (m.livepatch.modules[1].buildId = BUILD_A), /livepatch\.modules\[1\]\.buildId duplicates livepatch\.modules\[0\]\.buildId \(one module per kernel build\)/);
    refused((m) => (m.livepatch.patch = 'fp-good'), /livepatch\.patch must be the module name with '-' replaced by '_'/);
    refused((m) => (m.livepatch.replace = 'no'), /livepatch\.replace must be true or false/);
    refused((m) => (m.livepatch.transitionTimeoutSeconds = 0), /livepatch\.transitionTimeoutSeconds must be an integer from 1 to 3600/);
    refused((m) => (m.livepatch.modules = []), /livepatch\.modules must not be empty/);
    refused((m) => delete m.livepatch.modules[0].release, /livepatch\.modules\[0\]\.release is missing/);
    refused((m) => (m.livepatch.modules[0].file = 'modules/x.so'), /livepatch\.modules\[0\]\.file "modules\/x\.so" must end in \.ko/);
    refused((m) => delete m.livepatch, /bundle\.json: livepatch is missing/);
    refused((m) => (m.packages = { debs: [] }), /bundle\.json: packages is not allowed in a bundle of kind livepatch/);
  });

  it('refuses payload paths that are absolute, escape, use backslashes or are not canonical', () => {
    refused((m) => (m.livepatch.modules[0].file = '../x.ko'), /livepatch\.modules\[0\]\.file "\.\.\/x\.ko" contains "\.\." and would escape the bundle/);
    refused((m) => (m.livepatch.modules[0].file = 'modules/../../x.ko'), /contains "\.\." and would escape/);
    refused((m) => (m.livepatch.modules[0].file = '/x.ko'), /livepatch\.modules\[0\]\.file "\/x\.ko" is absolute/);
    refused((m) => (m.livepatch.modules[0].file = 'modules\\x.ko'), /contains a backslash/);
    refused((m) => (m.livepatch.modules[0].file = './x.ko'), /is not in canonical form/);
    refused((m) => (m.livepatch.modules[0].file = 'modules//x.ko'), /is not in canonical form/);
    refused((m) => (m.files['../y.ko'] = { sha256: HASH, size: 1 }), /bundle\.json: files\["\.\.\/y\.ko"\] contains "\.\."/);
  });

  it('requires files to list exactly the payload the modules or debs name', () => {
    refused((m) => delete m.files[MODULE_B], new RegExp(`bundle\\.json: files\\["${MODULE_B}"\\] is missing: every file a module or package names must be listed`));
    refused((m) => (m.files['notes.txt'] = { sha256: HASH, size: 1 }), /bundle\.json: files\["notes\.txt"\] is not named by any module or package/);
    refused((m) => (m.files['bundle.sig'] = { sha256: HASH, size: 1 }), /files\["bundle\.sig"\] names the bundle's own bundle\.sig/);
    refused((m) => (m.files[MODULE_A].sha256 = 'abc'), new RegExp(`files\\["${MODULE_A}"\\]\\.sha256 must be 64 lowercase hex digits`));
    refused((m) => (m.files[MODULE_A].size = -1), new RegExp(`files\\["${MODULE_A}"\\]\\.size must be an integer from 0`));
    refused((m) => delete m.files, /bundle\.json: files is missing/);
  });

  it('takes checks only as argv arrays with an expected exit code', () => {
    refused((m) => (m.checks[0].argv = 'cat /proc/cmdline'), /bundle\.json: checks\[0\]\.argv must be an array/);
    refused((m) => (m.checks[0].argv = []), /checks\[0\]\.argv must not be empty/);
    refused((m) => (m.checks[0].argv = ['']), /checks\[0\]\.argv\[0\] must name a program/);
    refused((m) => (m.checks[0].argv = ['cat', 3]), /checks\[0\]\.argv\[1\] must be a string/);
    refused((m) => delete m.checks[0].exitCode, /checks\[0\]\.exitCode is missing/);
    refused((m) => (m.checks[0].exitCode = 256), /checks\[0\]\.exitCode must be an integer from 0 to 255/);
    refused((m) => (m.checks[0].shell = 'cat /proc/cmdline | grep x'), /checks\[0\]\.shell is not a known field/);
    refused((m) => (m.checks[0].stdoutEquals = 5), /checks\[0\]\.stdoutEquals must be a string/);
  });

  it('validates the packages section', () => {
    refused((m) => (m.packages.debs[0].name = 'Bad_Name'), /packages\.debs\[0\]\.name must be a Debian package name/, packagesManifest);
    refused((m) => (m.packages.debs[0].version = 'v1'), /packages\.debs\[0\]\.version must be a Debian version/, packagesManifest);
    refused((m) => (m.packages.debs[0].file = 'debs/x.ko'), /packages\.debs\[0\]\.file "debs\/x\.ko" must end in \.deb/, packagesManifest);
    refused((m) => m.packages.debs.push({ ...m.packages.debs[0] }), /packages\.debs\[1\]\.name fp-demo:amd64 is listed twice/, packagesManifest);
    refused((m) => (m.livepatch = {}), /bundle\.json: livepatch is not allowed in a bundle of kind packages/, packagesManifest);
  });
});
