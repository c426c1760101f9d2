/** Every hand-written inventory under test/fixtures/inventory/, read by fleetpatch and by Ansible
 * itself (one long-lived oracle process): --list, every --host, --graph and each case's patterns
 * must be identical; where Ansible refuses an input, fleetpatch refuses it too, naming file and
 * line. Each fixture's case.json says what it is about. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AnsibleOracle } from '../support/ansible-oracle.ts';
import { compareWithAnsible } from './parity.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/inventory');

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

describe(`hand-written inventories (${fixtures.length}) read exactly as Ansible reads them`, () => {
  before(async () => {
    oracle = await AnsibleOracle.start();
  });
  after(() => oracle.close());

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
});
