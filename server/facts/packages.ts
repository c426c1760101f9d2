/** The helper's package query (native/helper/dpkg.c): installed versions and how each could be restored.
 * Asked on its own (`pkg-query`, after a rollback) or folded into the facts exec
 * (`facts --packages NAME...`), so planning a packages bundle costs one exec. */
import { AppError } from '../errors.ts';
import { runHelper } from '../helper/remote.ts';
import type { HelperLine } from '../helper/protocol.ts';
import type { PackageHostState } from '../plan/packages.ts';
import type { SshConnection } from '../ssh/connect.ts';

export async function queryPackages(conn: SshConnection, names: string[], remoteDir: string): Promise<PackageHostState> {
  const run = await runHelper(conn, ['pkg-query', ...names], { remoteDir, timeoutMs: 120_000 });
  return packagesFromLines(run.lines, names, conn.target.name);
}

/** The helper's arguments for facts, with the package query when there are names. */
export function factsArgs(packageNames: readonly string[] = []): string[] {
  return packageNames.length ? ['facts', '--packages', ...packageNames] : ['facts'];
}

/** The query's answer from the helper's lines (`package` per name, one `dpkg`, `dpkg-db` unless a
 * dpkg change was in flight). */
export function packagesFromLines(lines: HelperLine[], names: readonly string[], host: string): PackageHostState {
  const dpkg = lines.find((l) => l.type === 'dpkg');
  if (!dpkg || typeof dpkg.arch !== 'string') throw new AppError('helper-protocol', `${host}: the package query gave no dpkg line`);
  const packages = lines
    .filter((l) => l.type === 'package' && typeof l.name === 'string' && names.includes(l.name))
    .map((l) => ({ name: l.name as string, installed: typeof l.installed === 'string' ? l.installed : null, aptCache: l.aptCache === true, repackable: l.repackable === true }));
  const db = lines.find((l) => l.type === 'dpkg-db');
  return { packages, dpkgArch: dpkg.arch, audit: typeof dpkg.audit === 'string' ? dpkg.audit : '', dbState: typeof db?.state === 'string' ? db.state : null };
}
