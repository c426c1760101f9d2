import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { compareDebVersions } from '../../server/plan/debversion.ts';

const VERSIONS = ['1.0', '1.0-1', '1.0-2', '1.0~rc1', '1.0~rc1-1', '1.0+b1', '1.00', '1.0.1', '1:0.9', '2:1', '1.0a', '1.0-1+deb12u1', '1.0-1~bpo11', '10', '9.9', '1.10', '1.9', '0', '1.0-1.1', 'a1', '1.0--1', '1.0~~', '1.0~'];

function dpkg(a: string, op: string, b: string): boolean {
  try {
    execFileSync('dpkg', ['--compare-versions', a, op, b]);
    return true;
  } catch {
    return false;
  }
}

describe('Debian version comparison', () => {
  it('orders every pair exactly as dpkg --compare-versions', () => {
    for (const a of VERSIONS) {
      for (const b of VERSIONS) {
        const want = dpkg(a, 'lt', b) ? -1 : dpkg(a, 'eq', b) ? 0 : 1;
        assert.equal(compareDebVersions(a, b), want, `${a} vs ${b}`);
      }
    }
  });
});
