import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../server/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'fp-config-'));
const file = (name: string, body: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
};

describe('controller config', () => {
  it('defaults to ~/.ssh/known_hosts, data/fleetpatch.db and 127.0.0.1', () => {
    const c = loadConfig({ env: {}, cwd: '/srv/x' });
    assert.match(c.knownHostsFiles[0]!, /\/\.ssh\/known_hosts$/);
    assert.equal(c.database, '/srv/x/data/fleetpatch.db');
    assert.equal(c.listen, '127.0.0.1:8080');
  });

  it('resolves paths in a config file relative to the file', () => {
    const path = file('a.json', { knownHostsFiles: ['kh'], database: 'db/fp.db' });
    const c = loadConfig({ env: { FLEETPATCH_CONFIG: path }, cwd: '/' });
    assert.deepEqual(c.knownHostsFiles, [join(dir, 'kh')]);
    assert.equal(c.database, join(dir, 'db/fp.db'));
    assert.equal(c.source, path);
  });

  it('ranks flags over environment over the config file', () => {
    const path = file('b.json', { forks: 3, listen: '127.0.0.1:9000', database: 'file.db' });
    const env = { FLEETPATCH_FORKS: '7', FLEETPATCH_DB: '/env.db' };
    assert.equal(loadConfig({ env, flags: { config: path } }).forks, 7);
    assert.equal(loadConfig({ env, flags: { config: path } }).database, '/env.db');
    assert.equal(loadConfig({ env, flags: { config: path } }).listen, '127.0.0.1:9000');
    assert.equal(loadConfig({ env, flags: { config: path, forks: 11 } }).forks, 11);
  });

  it('refuses unknown fields, wrong types and bad JSON, naming the file and field', () => {
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('c.json', { knownhostsfiles: [] }) } }), /c\.json: unknown field "knownhostsfiles"/);
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('d.json', { forks: 'many' }) } }), /d\.json: field forks must be an integer/);
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('e.json', '{oops') } }), /e\.json is not valid JSON/);
    assert.throws(() => loadConfig({ env: {}, flags: { config: join(dir, 'missing.json') } }), /cannot read config file .*missing\.json: ENOENT/);
    assert.throws(() => loadConfig({ env: { FLEETPATCH_FORKS: 'x' } }), /FLEETPATCH_FORKS=x: not an integer/);
  });

  it('defaults to no revoked bundle keys and a 256 MiB bundle file limit', () => {
    const c = loadConfig({ env: {}, cwd: '/' });
    assert.deepEqual(c.revokedKeyIds, []);
    assert.equal(c.maxBundleFileBytes, 268_435_456);
  });

  it('reads revokedKeyIds and maxBundleFileBytes and refuses malformed ones', () => {
    const c = loadConfig({ env: {}, flags: { config: file('f.json', { revokedKeyIds: ['0123456789abcdef'], maxBundleFileBytes: 1024 }) } });
    assert.deepEqual(c.revokedKeyIds, ['0123456789abcdef']);
    assert.equal(c.maxBundleFileBytes, 1024);
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('g.json', { revokedKeyIds: ['0123456789ABCDEF'] }) } }), /g\.json: field revokedKeyIds must be an array of bundle key ids/);
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('h.json', { revokedKeyIds: 'abc' }) } }), /h\.json: field revokedKeyIds/);
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('i.json', { maxBundleFileBytes: 0 }) } }), /i\.json: field maxBundleFileBytes must be a positive integer/);
  });

  it('defaults to ~/.ssh/config, no noexec fallback and no trust on first use', () => {
    const c = loadConfig({ env: {}, cwd: '/' });
    assert.match(c.sshConfigFile!, /\/\.ssh\/config$/);
    assert.equal(c.noexecRemoteDir, null);
    assert.equal(c.acceptNewHostKeys, false);
  });

  it('reads sshConfigFile (relative to the file) and noexecRemoteDir, and FLEETPATCH_SSH_CONFIG over the file', () => {
    const path = file('j.json', { sshConfigFile: 'ssh_config', noexecRemoteDir: '/opt/fleetpatch' });
    const c = loadConfig({ env: {}, flags: { config: path } });
    assert.equal(c.sshConfigFile, join(dir, 'ssh_config'));
    assert.equal(c.noexecRemoteDir, '/opt/fleetpatch');
    assert.equal(loadConfig({ env: { FLEETPATCH_SSH_CONFIG: '/etc/fp_ssh' }, flags: { config: path } }).sshConfigFile, '/etc/fp_ssh');
    assert.equal(loadConfig({ env: {}, flags: { config: file('k.json', { sshConfigFile: null }) } }).sshConfigFile, null);
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('l.json', { noexecRemoteDir: '/opt/$(x)' }) } }), /l\.json: field noexecRemoteDir must be null or an absolute path/);
  });

  it('accepts new host keys only per invocation: flag or environment, never the config file', () => {
    assert.equal(loadConfig({ env: { FLEETPATCH_ACCEPT_NEW_HOST_KEYS: '1' }, cwd: '/' }).acceptNewHostKeys, true);
    assert.equal(loadConfig({ env: {}, flags: { acceptNewHostKeys: true }, cwd: '/' }).acceptNewHostKeys, true);
    assert.throws(() => loadConfig({ env: { FLEETPATCH_ACCEPT_NEW_HOST_KEYS: 'yes' } }), /FLEETPATCH_ACCEPT_NEW_HOST_KEYS=yes: use 1/);
    assert.throws(() => loadConfig({ env: {}, flags: { config: file('m.json', { acceptNewHostKeys: true }) } }), /m\.json: acceptNewHostKeys cannot be set in a config file; .*--accept-new-host-keys/);
  });
});
