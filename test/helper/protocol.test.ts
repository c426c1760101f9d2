import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helperResult, parseHelperLines } from '../../server/helper/protocol.ts';

describe('helper protocol', () => {
  it('ignores noise before and between its JSON lines', () => {
    const out = 'Welcome!\n{"not":"ours"}\n{"fleetpatch":1,"type":"step","name":"x"}\nnoise\n{"fleetpatch":1,"type":"result","ok":true}\n';
    const lines = parseHelperLines(out);
    assert.deepEqual(lines.map((l) => l.type), ['step', 'result']);
    assert.equal(helperResult(lines, 'h', '').ok, true);
  });
  it('turns a failed result into its error code, keeping only known codes', () => {
    const fail = (code: string) => parseHelperLines(`{"fleetpatch":1,"type":"result","ok":false,"error":{"code":"${code}","message":"m"}}`);
    assert.throws(() => helperResult(fail('insecure-remote-dir'), 'h1', ''), (e: Error & { code?: string }) => e.code === 'insecure-remote-dir' && e.message === 'h1: m');
    assert.throws(() => helperResult(fail('database'), 'h1', ''), (e: Error & { code?: string }) => e.code === 'helper-failed');
  });
  it('reports a missing result line with the end of stderr', () => {
    assert.throws(() => helperResult(parseHelperLines('{"fleetpatch":1,"type":"result"'), 'h1', 'Segmentation fault\n'), /h1: the helper gave no result line \(stderr: Segmentation fault\)/);
  });
});
