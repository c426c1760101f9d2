/** Benchmarks: `npm run bench -- <suite> [--hosts N] [--forks F] [--rounds R]` (root: each suite
 * starts its own lab). Suites:
 * - facts: fleetpatch facts (cached helper, first contact) vs one OpenSSH `ssh` per host;
 * - peer: the package job (push a ≈200 KiB .deb, check its hash, `dpkg -i`, verify with
 *   dpkg-query) by fleetpatch, Ansible (defaults, and pipelining), one OpenSSH `ssh` per host with
 *   the file on stdin (the floor) and bare ssh2 (one exec with stdin);
 * - inventory: `fleetpatch inventory --list` vs `ansible-inventory --list` on a generated N-host
 *   inventory (same JSON required);
 * - web: a run started through the console's API, watched by --browsers B Chromium pages (state
 *   change → row change latency, page load times during the run, controller RSS, bytes per
 *   update); `--hosts-cpu-shares S` puts the lab hosts in a cpu cgroup of weight S (see docs/benchmarks.md),
 *   `--lab DIR` uses a lab already up (all its hosts) instead of starting one;
 * - livepatch: the example `good` livepatch bundle applied and rolled back on --hosts K lab VMs
 *   (default 2) by fleetpatch and by hand over OpenSSH (insmod, poll sysfs, rmmod).
 * - page: what a live run page costs Chromium per row update, with 100 rows and --hosts rows
 *   (default 1,000); no lab (synthetic rows through the real views, CSS and live.js).
 * `--only a,b` runs just the variants whose names contain one of the fragments (with the baseline).
 * Rounds are interleaved, medians printed with min–max, ratios taken within each round; JSON goes
 * to test/bench/results/ (git-ignored). */
import { parseArgs } from 'node:util';
import type { BenchOptions } from './common.ts';
import { factsSuite } from './facts.ts';
import { peerSuite } from './peer.ts';
import { webSuite } from './web.ts';
import { inventorySuite } from './inventory.ts';
import { livepatchSuite } from './livepatch.ts';
import { pageSuite } from './page.tsx';

const { values, positionals } = parseArgs({
  options: { hosts: { type: 'string' }, forks: { type: 'string', default: '20' }, rounds: { type: 'string', default: '3' }, only: { type: 'string' }, browsers: { type: 'string', default: '5' }, 'hosts-cpu-shares': { type: 'string', default: '0' }, lab: { type: 'string' } },
  allowPositionals: true,
});
const suites: Record<string, (o: BenchOptions & { browsers?: number; hostsCpuShares?: number; lab?: string }) => Promise<void>> = { facts: factsSuite, peer: peerSuite, web: webSuite, inventory: inventorySuite, livepatch: livepatchSuite, page: pageSuite };
const suite = positionals[0] ?? 'facts';
const defaultHosts: Record<string, number> = { livepatch: 2, page: 1000 };
const run = suites[suite];
if (!run) throw new Error(`unknown bench suite ${suite}; suites: ${Object.keys(suites).join(', ')}`);
await run({ hosts: Number(values.hosts ?? defaultHosts[suite] ?? 20), forks: Number(values.forks), rounds: Number(values.rounds), browsers: Number(values.browsers), hostsCpuShares: Number(values['hosts-cpu-shares']), ...(values.only ? { only: values.only } : {}), ...(values.lab ? { lab: values.lab } : {}) });
