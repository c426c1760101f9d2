import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailureBudget, parseWaves, placeInWaves } from '../../server/rollout/strategy.ts';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => i);
const sizes = (n: number, waves: string) => placeInWaves(hosts(n), parseWaves(waves)).map((w) => w.length);

describe('waves', () => {
  it('places a canary, then percentages of all hosts rounded up, the last size repeating', () => {
    assert.deepEqual(sizes(50, '1,10%,100%'), [1, 5, 44]);
    assert.deepEqual(sizes(7, '1,10%,100%'), [1, 1, 5]);
    assert.deepEqual(sizes(1, '1,10%,100%'), [1]);
    assert.deepEqual(sizes(10, '2'), [2, 2, 2, 2, 2]);
    assert.deepEqual(sizes(10, '30%'), [3, 3, 3, 1]);
    assert.deepEqual(sizes(0, '1,100%'), []);
  });

  it('puts every host in exactly one wave, in order, for many fleet sizes and strategies', () => {
    for (const spec of ['1', '1,10%,100%', '5%', '3,25%', '1,2,3', '100%', '99%,1']) {
      for (let n = 0; n <= 120; n++) {
        const waves = placeInWaves(hosts(n), parseWaves(spec));
        assert.deepEqual(waves.flat(), hosts(n), `${spec} × ${n}`);
        assert.ok(waves.every((w) => w.length > 0));
      }
    }
  });

  it('refuses malformed sizes', () => {
    for (const bad of ['', '0', '1,,2', '101%', '-1', '1.5', 'a', '0%']) assert.throws(() => parseWaves(bad), /--waves/, bad);
  });
});

describe('failure budget', () => {
  it('halts only when failures are strictly greater than the budget', () => {
    const b = new FailureBudget(10, 20, null);
    b.record('failed');
    b.record('rolled-back');
    assert.equal(b.exceeded(), null, '2 of 10 = 20% is within 20%');
    b.record('unreachable');
    assert.match(b.exceeded()!, /3 of 10 hosts failed \(30\.0%\), more than --max-fail-percentage 20/);
  });

  it('counts failures by state: applied, already-applied, not-applicable and skipped do not count', () => {
    const b = new FailureBudget(5, null, 0);
    for (const s of ['applied', 'already-applied', 'not-applicable', 'skipped'] as const) b.record(s);
    assert.equal(b.exceeded(), null);
    b.record('rollback-failed');
    assert.match(b.exceeded()!, /1 hosts failed, more than --max-failures 0/);
  });
});
