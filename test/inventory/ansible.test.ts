/** fleetpatch's inventory code against Ansible's own (Debian's ansible-core), run as one
 * long-lived oracle process for the whole file: the hand-written inventories under
 * test/fixtures/inventory/, several hundred generated ones, host patterns against
 * `ansible PATTERN --list-hosts`, and the building blocks (INI value typing, shell splitting,
 * YAML scalars, vault, ansible.cfg) fuzzed value by value. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { readAnsibleCfg } from '../../server/inventory/ansible-cfg.ts';
import { jsonKeyOf, PyMap, toPyValue, type Loaded } from '../../server/inventory/pymap.ts';
import { iniValue, LiteralTypeError } from '../../server/inventory/pyliteral.ts';
import { shlexSplit } from '../../server/inventory/shlex.ts';
import { decryptVault } from '../../server/inventory/vault.ts';
import { floatRepr, isDict, Opaque, PyDate, PyFloat, UnsafeText, VaultText, type PyValue } from '../../server/inventory/values.ts';
import { loadData } from '../../server/inventory/yamlload.ts';
import { AnsibleOracle } from '../support/ansible-oracle.ts';
import { writeTree } from '../support/inventory-files.ts';
import { inventoryModel, render } from './generate.ts';
import { compareWithAnsible } from './parity.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/inventory');
const RUNS = Number(process.env.FP_INVENTORY_RUNS ?? 400);
const SEED = process.env.FP_INVENTORY_SEED ? Number(process.env.FP_INVENTORY_SEED) : undefined;

interface Case {
  about: string;
  sources: string[];
  patterns?: string[];
  vault?: string[];
  /** fleetpatch's message must match (file:line): Ansible refuses the input too. */
  error?: string;
  /** Reading succeeds but the inventory cannot be printed as JSON (Ansible fails the same way). */
  outputError?: string;
  /** A deliberate difference from Ansible (docs/inventory.md): fleetpatch refuses, Ansible reads. */
  deviation?: string;
}

const fixtures = readdirSync(ROOT)
  .filter((d) => !d.startsWith('.'))
  .sort()
  .map((name) => ({ name, dir: join(ROOT, name), c: JSON.parse(readFileSync(join(ROOT, name, 'case.json'), 'utf8')) as Case }));

let oracle: AnsibleOracle;
before(async () => {
  oracle = await AnsibleOracle.start();
});
after(() => oracle.close());

describe(`hand-written inventories (${fixtures.length}) read exactly as Ansible reads them`, () => {
  for (const { name, dir, c } of fixtures) {
    it(`${name}: ${c.about}`, async () => {
      const sources = c.sources.map((s) => (s.includes(',') ? s : join(dir, s)));
      const r = await compareWithAnsible(oracle, { sources, cwd: dir, patterns: c.patterns ?? [], vaultPasswordFiles: (c.vault ?? []).map((v) => join(dir, v)) });
      if (c.deviation) {
        assert.equal(r.ansible.ok, true, `Ansible reads it: ${r.ansible.error}`);
        assert.ok(r.error, 'fleetpatch refuses it');
        assert.match(r.error!, new RegExp(c.deviation));
        return;
      }
      assert.deepEqual(r.problems, []);
      if (c.error) {
        assert.equal(r.ansible.ok, false, 'Ansible refuses this input too');
        assert.match(r.error ?? '', new RegExp(c.error));
      } else if (c.outputError) {
        assert.equal(r.ansible.ok, false);
        assert.match(r.error ?? '', new RegExp(c.outputError));
      } else {
        assert.equal(r.ansible.ok, true, `Ansible reads it: ${r.ansible.error}`);
      }
    });
  }

  it('has at least 60 fixtures and 40 pattern × inventory pairs', () => {
    assert.ok(fixtures.length >= 60, `${fixtures.length} fixtures`);
    const pairs = fixtures.reduce((n, f) => n + (f.c.patterns?.length ?? 0), 0);
    assert.ok(pairs >= 40, `${pairs} pattern pairs`);
  });
});

describe('the example inventories in inventories/ read exactly as Ansible reads them', () => {
  const examples = join(ROOT, '../../../inventories');
  for (const name of readdirSync(examples).sort()) {
    it(name, async () => {
      const r = await compareWithAnsible(oracle, { sources: [join(examples, name)], cwd: examples, patterns: ['all', 'prod:!canary', 'web[0]'] });
      assert.equal(r.ansible.ok, true, r.ansible.error);
      assert.deepEqual(r.problems, []);
    });
  }
});

describe('generated inventories read exactly as Ansible reads them', () => {
  it(`${RUNS} random inventories (INI, YAML, JSON; directories, several sources, group_vars/host_vars) and their patterns`, async () => {
    const stats = { ok: 0, refused: 0, patterns: 0, setOrdered: 0 };
    await fc.assert(
      fc.asyncProperty(inventoryModel, async (m) => {
        const { files, sources } = render(m);
        const dir = writeTree(files);
        try {
          const r = await compareWithAnsible(oracle, { sources: sources.map((s) => join(dir, s)), cwd: dir, patterns: m.patterns });
          if (r.problems.length) throw new Error(`${r.problems.join('\n')}\nfiles: ${JSON.stringify(files, null, 1)}`);
          if (r.ansible.ok) stats.ok++;
          else stats.refused++;
          stats.patterns += r.ansible.ok ? m.patterns.length : 0;
          stats.setOrdered += r.setOrdered;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
    assert.ok(stats.ok > RUNS / 2, `most generated inventories are valid: ${JSON.stringify(stats)}`);
    process.stdout.write(`# generated inventories: ${JSON.stringify(stats)}\n`);
  });
});

/** A typed rendering of a value, the way the oracle renders Python values. */
function encode(v: PyValue | Loaded): unknown {
  if (v === null) return ['none'];
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'number' || typeof v === 'bigint') return ['int', String(v)];
  if (v instanceof PyFloat) return ['float', floatRepr(v.value)];
  if (v instanceof VaultText) return ['vault', v.ciphertext];
  if (v instanceof UnsafeText) return ['unsafe', v.text];
  if (typeof v === 'string') return ['str', v];
  if (v instanceof PyDate) return ['date', v.iso];
  if (v instanceof Opaque) return ['opaque', v.kind];
  if (Array.isArray(v)) return ['list', v.map((x) => encode(x))];
  if (isDict(v)) return ['dict', Object.entries(v).map(([k, x]) => [k, encode(x)])];
  if (v instanceof PyMap) return ['dict', v.entries.map(([k, x]) => [jsonKeyOf(k) ?? String(k), encode(x)])];
  return encode(toPyValue(v as Loaded));
}

const OPAQUE_NAMES: Record<string, string> = { set: 'set', complex: 'complex', bytes: 'bytes', ellipsis: 'ellipsis', dict: 'dict' };

describe('building blocks fuzzed against Python and Ansible', () => {
  it('types INI values exactly as the ini plugin does (Python literal_eval)', async () => {
    const atoms = ['0', '1', '12', '012', '0x1F', '0o7', '0b1', '1_0', '1.5', '.5', '5.', '1e3', '1E-2', '1j', 'True', 'False', 'None', "'a'", '"b"', "b'c'", "r'\\d'", "u'x'", "f'y'", '...', 'x', 'set()', '()', '[]', '{}', "'''t'''", '"\\x41"', '"\\u00e9"', "'\\''", '1__0', '00', '09', '1e999', '123456789012345678901234567890'];
    const glue = [' ', '', ',', ', ', ':', '+', '-', '--', ' # c', '#', '=', '(', ')', '[', ']', '{', '}', '.', 'j'];
    const text = fc.array(fc.oneof(fc.constantFrom(...atoms), fc.constantFrom(...glue), fc.string({ maxLength: 3 })), { maxLength: 7 }).map((xs) => xs.join(''));
    const samples = fc.sample(text, { numRuns: 3000, ...(SEED !== undefined ? { seed: SEED } : {}) });
    const { values } = await oracle.request<{ values: unknown[] }>('literal', { values: samples });
    const problems: string[] = [];
    samples.forEach((s, i) => {
      let mine: unknown;
      try {
        const v = iniValue(s);
        mine = v instanceof Opaque ? ['opaque', OPAQUE_NAMES[v.kind] ?? v.kind] : encode(v);
      } catch (err) {
        mine = err instanceof LiteralTypeError ? ['error', 'TypeError'] : ['error', String(err)];
      }
      const want = values[i] as unknown[];
      const wantNorm = want[0] === 'opaque' && want[1] === 'tuple' ? want : want;
      if (JSON.stringify(mine) !== JSON.stringify(wantNorm)) problems.push(`${JSON.stringify(s)}: python ${JSON.stringify(want)} fleetpatch ${JSON.stringify(mine)}`);
    });
    assert.deepEqual(problems.slice(0, 20), []);
  });

  it('splits host lines exactly as shlex.split(line, comments=True)', async () => {
    const text = fc.array(fc.constantFrom('a', 'b=c', ' ', '\t', '"', "'", '\\', '#', 'x y', '=', '""', "''", 'é'), { maxLength: 10 }).map((xs) => xs.join(''));
    const samples = fc.sample(text, { numRuns: 3000, ...(SEED !== undefined ? { seed: SEED } : {}) });
    const { tokens } = await oracle.request<{ tokens: unknown[] }>('shlex', { lines: samples });
    const problems: string[] = [];
    samples.forEach((s, i) => {
      let mine: unknown;
      try {
        mine = shlexSplit(s, true);
      } catch (err) {
        mine = { error: (err as Error).message };
      }
      if (JSON.stringify(mine) !== JSON.stringify(tokens[i])) problems.push(`${JSON.stringify(s)}: python ${JSON.stringify(tokens[i])} fleetpatch ${JSON.stringify(mine)}`);
    });
    assert.deepEqual(problems.slice(0, 20), []);
  });

  it('loads YAML and JSON exactly as Ansible\'s DataLoader (types, merges, tags, duplicates)', async () => {
    const scalar = fc.constantFrom('yes', 'no', 'On', 'y', '012', '0o12', '09', '0x_1f', '0b1', '1:30', '-1:30.5', '1e5', '1.0e+5', '1.e+5', '.5', '-.5', '+.inf', '.NaN', '~', 'null', 'Null', '', '"012"', "'yes'", '2001-12-14', '2001-1-2 3:04:05', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43 Z', '2001-02-30', 'abc', 'a b', '!!str 12', '!!int "0x10"', '!!float "1"', '!unsafe x', '=', '<<', '1_000', '+1', '-0', '0.0', '1.5_0', '100000000000000000000', '[]', '{}');
    const doc = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', '1', 'true', '"q"'), scalar), { minLength: 1, maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${k}: ${v}`).join('\n'));
    const extra = ['{"a": 1, "a": 2.0, "b": [true, null, "x"]}', '{"__ansible_unsafe": "x"}', 'a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2', 'a:\n  - 1\n  - [2, {b: c}]', '- a\n- b', 'a: !!set {x, y}', 'a: !!omap [{x: 1}, {y: 2}]', 'a: !!binary aGk=', '--- 1\n--- 2', 'a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3031', 'a: !unsafe {b: {c: 1}, d: 2}', '{"a": NaN, "b": 1E400, "c": -0.0}', '"just a string"', 'a: b: c'];
    const samples = [...fc.sample(doc, { numRuns: 1500, ...(SEED !== undefined ? { seed: SEED } : {}) }), ...extra];
    const { values } = await oracle.request<{ values: unknown[] }>('yaml', { texts: samples });
    const problems: string[] = [];
    samples.forEach((s, i) => {
      let mine: unknown;
      try {
        const v = loadData(s, '<test>');
        mine = encode(v as Loaded);
      } catch {
        mine = ['error'];
      }
      const want = values[i] as unknown[];
      const w = want[0] === 'error' ? ['error'] : want;
      const m = Array.isArray(mine) && mine[0] === 'opaque' ? mine : mine;
      if (JSON.stringify(m) !== JSON.stringify(w)) problems.push(`${JSON.stringify(s)}: ansible ${JSON.stringify(want)} fleetpatch ${JSON.stringify(mine)}`);
    });
    assert.deepEqual(problems.slice(0, 20), []);
  });

  it('decrypts what Ansible Vault encrypts (1.1 and 1.2 with vault ids, any plaintext)', async () => {
    const cases = fc.sample(fc.record({ plaintext: fc.string({ maxLength: 40, unit: 'binary' }), password: fc.string({ minLength: 1, maxLength: 20 }), id: fc.constantFrom('default', 'prod', 'dev@x') }), { numRuns: 25 });
    for (const c of cases) {
      const { vaulttext } = await oracle.request<{ vaulttext: string }>('encrypt', { plaintext: c.plaintext, password: c.password, vault_id: c.id });
      assert.equal(vaulttext.startsWith(c.id === 'default' ? '$ANSIBLE_VAULT;1.1;AES256\n' : `$ANSIBLE_VAULT;1.2;AES256;${c.id}\n`), true);
      const plain = decryptVault(vaulttext, [{ id: 'other', password: Buffer.from('wrong'), source: 'x' }, { id: c.id, password: Buffer.from(c.password), source: 'y' }], 'test');
      assert.equal(plain.toString('utf8'), c.plaintext);
      assert.throws(() => decryptVault(vaulttext, [{ id: c.id, password: Buffer.from(`${c.password}!`), source: 'z' }], 'test'), /decryption failed/);
    }
  });

  it('reads ansible.cfg as Ansible does: inventory paths, remote_user, private_key_file, ssh_args', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-cfg-'));
    const texts = [
      '[defaults]\ninventory = hosts, ../other/inv.yml ,~/x\nremote_user = "deploy"\nprivate_key_file = keys/id_ed25519\n[ssh_connection]\nssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o ProxyJump=bastion\n',
      '[defaults]\n# comment\ninventory=./inv ; inline comment\nremote_user: admin\n  continued\n[DEFAULT]\nprivate_key_file=/abs/key\n',
      '[defaults]\nremote_user = \'single\'\nprivate_key_file = $HOME/.ssh/id\n[ssh_connection]\nssh_args = -o Port=2222 -oUser=x\n',
    ];
    try {
      for (const [i, text] of texts.entries()) {
        const file = join(dir, `a${i}.cfg`);
        writeFileSync(file, text);
        const want = await oracle.request<{ inventory: string[]; remote_user: string | null; private_key_file: string | null; ssh_args: string | null }>('config', { path: file });
        const mine = readAnsibleCfg(file, dir);
        assert.deepEqual(mine.inventory, want.inventory.length === 1 && want.inventory[0] === '/etc/ansible/hosts' ? null : want.inventory, text);
        assert.equal(mine.remoteUser, want.remote_user, text);
        assert.equal(mine.privateKeyFile, want.private_key_file, text);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
