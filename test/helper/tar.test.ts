import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tarFiles } from '../../server/helper/tar.ts';

describe('upload tar', () => {
  it('is a ustar stream GNU tar unpacks to the same names, modes and bytes', () => {
    const a = { name: 'a'.repeat(64), bytes: randomBytes(1000), mode: 0o600 };
    const b = { name: 'helper-' + 'b'.repeat(64), bytes: randomBytes(512), mode: 0o700 };
    const dir = mkdtempSync(join(tmpdir(), 'fp-tar-'));
    try {
      writeFileSync(join(dir, 'up.tar'), tarFiles([b, a]));
      execFileSync('tar', ['-xf', 'up.tar'], { cwd: dir });
      for (const f of [a, b]) {
        assert.deepEqual(readFileSync(join(dir, f.name)), f.bytes);
        assert.equal(statSync(join(dir, f.name)).mode & 0o777, f.mode);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('gives every host that lacks the same files one shared Buffer, and another for other files or modes', () => {
    const bytes = randomBytes(4096);
    const one = tarFiles([{ name: 'c'.repeat(64), bytes, mode: 0o600 }]);
    assert.equal(tarFiles([{ name: 'c'.repeat(64), bytes, mode: 0o600 }]), one);
    const other = tarFiles([{ name: 'c'.repeat(64), bytes, mode: 0o700 }]);
    assert.notEqual(other, one);
    assert.notDeepEqual(other, one);
    const two = tarFiles([{ name: 'd'.repeat(64), bytes: randomBytes(10), mode: 0o600 }, { name: 'c'.repeat(64), bytes, mode: 0o600 }]);
    assert.notEqual(two, one);
    assert.equal(two.length, 512 + 512 + 512 + 4096 + 1024);
  });
});
