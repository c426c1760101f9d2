import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { shellCommand, shScript } from '../../server/ssh/quote.ts';

const HOSTILE = ["a b", "it's", '$(touch /tmp/pwned)', '`id`', 'x;y|z&', '"quoted"', '\\back', 'new\nline', '*', '-n', ''];

describe('remote command quoting', () => {
  it('passes every argument to the shell literally', () => {
    const out = execFileSync('sh', ['-c', `${shellCommand(['printf', '%s\\0', ...HOSTILE])}`]);
    assert.deepEqual(out.toString('utf8').split('\0').slice(0, -1), HOSTILE);
  });
  it('runs a fixed script with positional arguments, never spliced into it', () => {
    const out = execFileSync('sh', ['-c', shScript('printf "%s|" "$@"', 'name', ['$HOME', "'"])]);
    assert.equal(out.toString(), "$HOME|'|");
  });
  it('refuses NUL bytes', () => {
    assert.throws(() => shellCommand(['a\0b']), /NUL/);
  });
});
