/** The lab's package fixtures: fp-demo 1.0 and fp-demo-lib 1.0 installed on every namespace host
 * with its own real dpkg, and signed example package bundles in D/bundles/. The .debs come from
 * native/packages/build.sh. */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AppError } from '../errors.ts';
import { writeLabBundle } from './example-bundles.ts';
import { hostDir, runningPid, type LabHost } from './namespace-host.ts';

const PACKAGES_BUILD = resolve(dirname(fileURLToPath(import.meta.url)), '../../native/packages/build');
const BASELINE = ['fp-demo_1.0_all.deb', 'fp-demo-lib_1.0_amd64.deb'];

function deb(file: string): string {
  const path = join(PACKAGES_BUILD, file);
  if (!existsSync(path)) throw new AppError('lab', `example package ${path} is missing; build it with native/packages/build.sh`);
  return path;
}

/** Installs the baseline packages on a namespace host (once), inside its own namespaces. */
export async function installBaseline(labDir: string, host: LabHost): Promise<void> {
  const dir = hostDir(labDir, host.name);
  if (existsSync(join(dir, 'baseline-installed'))) return;
  const pid = runningPid(labDir, host.name);
  if (pid === null) throw new AppError('lab', `${host.name} is not running`);
  // the namespaces are held by the unshare process's child, the host's PID 1
  const init = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
  if (!init) throw new AppError('lab', `${host.name}: no init process found`);
  for (const f of BASELINE) copyFileSync(deb(f), join(dir, f));
  try {
    await promisify(execFile)('nsenter', ['--target', init, '--mount', '--uts', '--pid', '--', 'env', 'DEBIAN_FRONTEND=noninteractive', 'dpkg', '-i', ...BASELINE.map((f) => `/mnt/${f}`)]);
  } catch (err) {
    throw new AppError('lab', `${host.name}: installing the baseline packages failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  copyFileSync(join(dir, BASELINE[0]!), join(dir, 'baseline-installed'));
}

const check = (argv: string[], stdout: string) => ({ argv, exitCode: 0, stdoutEquals: stdout });
const debEntry = (name: string, version: string, arch: string) => ({ name, version, arch, file: `debs/${name}_${version}_${arch}.deb` });

/** Signed example package bundles: pkg-good (fp-demo 1.1), pkg-bad (1.2, its check fails),
 * pkg-pair (fp-demo-lib 1.1 with the new fp-demo-app 1.1 that depends on it). */
export async function buildExamplePackageBundles(labDir: string): Promise<string[]> {
  const payload = (entries: ReturnType<typeof debEntry>[]) => Object.fromEntries(entries.map((e) => [e.file, deb(e.file.slice('debs/'.length))]));
  const good = [debEntry('fp-demo', '1.1', 'all')];
  const bad = [debEntry('fp-demo', '1.2', 'all')];
  const pair = [debEntry('fp-demo-lib', '1.1', 'amd64'), debEntry('fp-demo-app', '1.1', 'all')];
  return [
    await writeLabBundle(labDir, 'pkg-good', { id: 'fp-demo-pkg', serial: 11, kind: 'packages', title: 'Demo: fp-demo 1.1', severity: 'critical', cves: ['CVE-2026-99001'], packages: { debs: good, os: ['debian:12'] }, checks: [check(['fp-demo'], 'fp-demo 1.1')] }, payload(good)),
    await writeLabBundle(labDir, 'pkg-bad', { id: 'fp-demo-pkg-bad', serial: 12, kind: 'packages', title: 'Demo: fp-demo 1.2 installs, then its check fails', packages: { debs: bad }, checks: [check(['fp-demo'], 'fp-demo 1.2')] }, payload(bad)),
    await writeLabBundle(
      labDir,
      'pkg-pair',
      { id: 'fp-demo-pair', serial: 1, kind: 'packages', title: 'Demo: fp-demo-lib 1.1 and the new fp-demo-app that needs it', packages: { debs: pair, installNew: true }, checks: [{ argv: ['fp-demo-app'], exitCode: 0, stdoutContains: 'fp-demo-app 1.1 with' }] },
      payload(pair),
    ),
  ];
}
