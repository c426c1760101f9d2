/** Property tests over the parsers hostile input reaches: the helper protocol (a compromised host
 * writes anything), the facts validator, the bundle manifest validator, the INI inventory reader
 * and the pattern matcher. Each must give a result or a clear AppError — never another exception. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseManifest } from '../../server/bundles/index.ts';
import { AppError } from '../../server/errors.ts';
import { validateFacts } from '../../server/facts/types.ts';
import { helperResult, parseHelperLines } from '../../server/helper/protocol.ts';
import { loadInventory, selectHosts } from '../../server/inventory/index.ts';
import { facts } from '../web/fixture.ts';
import { sourceManifest } from '../bundles/support.ts';

const RUNS = { numRuns: 300 };

/** Runs f; passes when it returns or throws an AppError with a message; fails on anything else. */
function resultOrAppError(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof AppError) || !err.message) throw new Error(`not an AppError: ${String((err as Error)?.stack ?? err)}`);
  }
}

/** A JSON value with a random leaf replaced at a random path. */
function mutated(base: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(base, []);
  return fc.tuple(fc.constantFrom(...paths), fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.string({ unit: 'binary', maxLength: 300 }))).map(([path, value]) => {
    const copy = structuredClone(base) as Record<string | number, unknown>;
    if (!path.length) return value;
    let at: Record<string | number, unknown> = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
    if (value === undefined) delete at[path.at(-1)!];
    else at[path.at(-1)!] = value;
    return copy;
  });
}

describe('hostile input properties', () => {
  it('helper output: any bytes, any JSON lines → a result line or an AppError', () => {
    const line = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => `{"fleetpatch":1,"type":"result","ok":${JSON.stringify(v)},"error":${JSON.stringify(v)}}`),
      mutated({ fleetpatch: 1, type: 'result', ok: false, error: { code: 'preflight', message: 'x' } }).map((v) => JSON.stringify(v) ?? ''),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.string({ maxLength: 200 }), (lines, stderr) => {
        resultOrAppError(() => helperResult(parseHelperLines(Buffer.from(lines.join('\n'))), 'h', stderr));
      }),
      RUNS,
    );
  });

  it('facts: any JSON, and valid facts with any field replaced → facts or helper-protocol error', () => {
    const valid = { ...facts('0'.repeat(32), 'h'), livepatches: [{ name: 'fp_good', enabled: 1, transition: 0, objects: [{ name: 'vmlinux', patched: 1 }] }], journal: [{ op: 'o', state: 'committed', bundle: 'b', serial: 1, patch: 'p', sha256: 's', time_ms: 1 }] };
    assert.doesNotThrow(() => validateFacts(structuredClone(valid), 'h'));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), mutated(valid)), (v) => {
        try {
          const f = validateFacts(v, 'h');
          // what the controller and pages read must then be there
          assert.equal(typeof f.uname.release, 'string');
          assert.ok(f.os && typeof f.os === 'object');
          for (const p of f.livepatches) assert.equal(typeof p.name, 'string');
        } catch (err) {
          assert.ok(err instanceof AppError && err.code === 'helper-protocol', String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('bundle manifests: any bytes, and valid manifests with any field replaced → a manifest or an AppError naming the field', () => {
    const valid = sourceManifest();
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated(valid).map((v) => Buffer.from(JSON.stringify(v) ?? 'null'))), (bytes) => {
        resultOrAppError(() => parseManifest(bytes, 'bundle.json', { withFiles: false }));
      }),
      { numRuns: 1000 },
    );
  });

  it('INI inventories: any text → an inventory or an AppError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-prop-inv-'));
    const file = join(dir, 'inv.ini');
    const ini = fc.array(
      fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('[web]', '[db:children]', '[all:vars]', '[x:vars]', 'web', 'h1 ansible_host=10.0.0.1', 'h[1:3]', 'h[a:c]', "h ansible_port='2", 'k=v'), fc.string({ unit: 'binary', maxLength: 40 })),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(ini, (lines) => {
        writeFileSync(file, lines.join('\n'));
        resultOrAppError(() => loadInventory([file], { ansibleCfg: null }));
      }),
      RUNS,
    );
  });

  it('host patterns: any text → hosts or an AppError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-prop-pat-'));
    writeFileSync(join(dir, 'inv.ini'), '[web]\nweb[01:20]\n[db]\ndb[1:5]\n[prod:children]\nweb\ndb\n');
    const inv = loadInventory([join(dir, 'inv.ini')], { ansibleCfg: null });
    const token = fc.oneof(fc.constantFrom('web', 'db', 'prod', 'all', '*', 'web0?', 'web[0:3]', 'web[-1]', '~web0[1-3]', '!db', '&prod', ':', ',', '[', ']', '~(', '@'), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }), (parts) => {
        resultOrAppError(() => selectHosts(inv, parts.join('')));
      }),
      { numRuns: 1000 },
    );
  });
});
