/** The lab's example bundles: built from the example livepatch modules
 * (native/livepatch/build/<release>/modules.json), signed with a lab key that only the lab's own
 * controller config trusts, written to D/bundles/<name>/. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundle, generateBundleKey, signBundle } from '../bundles/index.ts';
import { AppError } from '../errors.ts';

const LIVEPATCH_BUILD = resolve(dirname(fileURLToPath(import.meta.url)), '../../native/livepatch/build');

interface ModulesJson {
  release: string;
  unameV: string;
  buildId: string;
  modules: { name: string; file: string; fleetpatchBuildId: string }[];
}

/** native/livepatch/catalog.json: each example module's effect and checks. */
interface Catalog {
  modules: { name: string; checks: { argv: string[]; exitCode: number; stdout: string }[] }[];
}

interface Example {
  /** Directory name under D/bundles/. */
  name: string;
  id: string;
  serial: number;
  module: string;
  title: string;
  replace?: boolean;
  timeout?: number;
  /** The build-id the manifest declares: the module's own unless a test needs a lie. */
  declareBuildId?: 'module' | 'kernel';
}

export const EXAMPLES: Example[] = [
  { name: 'good', id: 'fp-demo-good', serial: 1, module: 'fp_good', title: 'Demo: /proc/cmdline shows a livepatch marker' },
  { name: 'checkfail', id: 'fp-demo-checkfail', serial: 1, module: 'fp_checkfail', title: 'Demo: loads cleanly, then its check fails' },
  { name: 'stall', id: 'fp-demo-stall', serial: 1, module: 'fp_stall', title: 'Demo: a transition that never finishes where fp_stall_target is loaded (elsewhere it applies, patching nothing yet)', timeout: 5 },
  { name: 'wrongbuild', id: 'fp-demo-wrongbuild', serial: 1, module: 'fp_wrongbuild', title: 'Demo: a module for another build of the same release' },
  { name: 'wrongbuild-lying', id: 'fp-demo-wrongbuild-lying', serial: 1, module: 'fp_wrongbuild', title: "TEST ONLY: declares the running kernel's build-id for a module built for another", declareBuildId: 'kernel' },
  { name: 'cumulative-v1', id: 'fp-demo-cumulative', serial: 1, module: 'fp_cumulative_v1', title: 'Demo: cumulative patch v1', replace: true },
  { name: 'cumulative-v2', id: 'fp-demo-cumulative', serial: 2, module: 'fp_cumulative_v2', title: 'Demo: cumulative patch v2 (replaces v1)', replace: true },
];

function catalogChecks(name: string): { argv: string[]; exitCode: number; stdoutEquals: string }[] {
  const catalog = JSON.parse(readFileSync(join(LIVEPATCH_BUILD, '../catalog.json'), 'utf8')) as Catalog;
  const entry = catalog.modules.find((m) => m.name === name);
  if (!entry) throw new AppError('lab', `example module ${name} is not in native/livepatch/catalog.json`);
  return entry.checks.map((c) => ({ argv: c.argv, exitCode: c.exitCode, stdoutEquals: c.stdout }));
}

export function modulesFor(release: string, buildDir = LIVEPATCH_BUILD): ModulesJson {
  const path = join(buildDir, release, 'modules.json');
  if (!existsSync(path)) throw new AppError('lab', `no example livepatch modules for ${release} (${path}); build them with native/livepatch/build.sh`);
  return JSON.parse(readFileSync(path, 'utf8')) as ModulesJson;
}

/** The lab's bundle key in labDir/bundle-keys; its public half is the only key in
 * labDir/trusted-keys, which only the lab's own fleetpatch.json trusts. */
export function labBundleKey(labDir: string): string {
  const keys = join(labDir, 'bundle-keys');
  if (!existsSync(join(keys, 'lab.key'))) {
    const key = generateBundleKey(keys, 'lab');
    mkdirSync(join(labDir, 'trusted-keys'), { recursive: true });
    writeFileSync(join(labDir, 'trusted-keys', 'lab.pub'), readFileSync(key.publicKeyFile));
  }
  return join(keys, 'lab.key');
}

/** Builds and signs labDir/bundles/<name> from a manifest and its payload (bundle path → source
 * file); kept when already there. */
export async function writeLabBundle(labDir: string, name: string, manifest: Record<string, unknown>, payload: Record<string, string>): Promise<string> {
  const out = join(labDir, 'bundles', name);
  if (existsSync(join(out, 'bundle.sig'))) return out;
  const key = labBundleKey(labDir);
  const src = mkdtempSync(join(labDir, '.bundle-src-'));
  try {
    for (const [path, from] of Object.entries(payload)) {
      mkdirSync(dirname(join(src, path)), { recursive: true });
      writeFileSync(join(src, path), readFileSync(from));
    }
    writeFileSync(join(src, 'bundle.json'), `${JSON.stringify({ schema: 1, cves: [], severity: 'high', ...manifest }, null, 2)}\n`);
    rmSync(out, { recursive: true, force: true });
    await buildBundle(src, out);
    await signBundle(out, key);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
  return out;
}

/** Builds and signs every example livepatch bundle into labDir/bundles. */
export async function buildExampleBundles(labDir: string, release: string, buildDir = LIVEPATCH_BUILD): Promise<string[]> {
  const mods = modulesFor(release, buildDir);
  const built: string[] = [];
  for (const ex of EXAMPLES) {
    const mod = mods.modules.find((m) => m.name === ex.module);
    if (!mod) throw new AppError('lab', `example module ${ex.module} is missing from ${join(buildDir, release, 'modules.json')}`);
    const file = `modules/${ex.module}-${release}.ko`;
    built.push(
      await writeLabBundle(
        labDir,
        ex.name,
        {
          id: ex.id,
          serial: ex.serial,
          kind: 'livepatch',
          title: ex.title,
          livepatch: {
            patch: ex.module,
            replace: ex.replace ?? false,
            transitionTimeoutSeconds: ex.timeout ?? 30,
            modules: [{ buildId: ex.declareBuildId === 'kernel' ? mods.buildId : mod.fleetpatchBuildId, release, version: mods.unameV, file }],
          },
          checks: catalogChecks(ex.module),
        },
        { [file]: join(buildDir, release, mod.file) },
      ),
    );
  }
  return built;
}
