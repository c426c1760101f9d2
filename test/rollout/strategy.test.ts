import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { certainlyFirstWave, FailureBudget, formatWaves, parseWaves, placeInWaves } from '../../server/rollout/strategy.ts';

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

describe('certainlyFirstWave', () => {
  it('is true only for hosts the first wave holds whichever of the hosts turn out reachable', () => {
    const specs = ['100%', '10%', '34%', '50%', '99%', '1', '3', '1,100%', '2,10%'].map(parseWaves);
    for (const waves of specs) {
      for (let n = 1; n <= 9; n++) {
        // every subset of n hosts as the reachable ones
        for (let mask = 1; mask < 1 << n; mask++) {
          const up = [...Array(n).keys()].filter((i) => mask & (1 << i));
          const first = new Set(placeInWaves(up, waves)[0]);
          for (const i of up) if (certainlyFirstWave(i, waves)) assert.ok(first.has(i), `${formatWaves(waves)}: host ${i} of ${n}, reachable ${up}`);
        }
      }
    }
    assert.ok([...Array(50).keys()].every((i) => certainlyFirstWave(i, parseWaves('100%'))), '100%: every host');
    assert.deepEqual([...Array(6).keys()].filter((i) => certainlyFirstWave(i, parseWaves('3,100%'))), [0, 1, 2]);
    assert.deepEqual([...Array(30).keys()].filter((i) => certainlyFirstWave(i, parseWaves('10%'))), [0]);
    assert.deepEqual([...Array(30).keys()].filter((i) => certainlyFirstWave(i, parseWaves('50%'))), [0]);
  });
});
