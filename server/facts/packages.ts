/** The helper's `pkg-query`: installed versions and how each could be restored. */
import { AppError } from '../errors.ts';
import { runHelper } from '../helper/remote.ts';
import type { PackageHostState } from '../plan/packages.ts';
import type { SshConnection } from '../ssh/connect.ts';

export async function queryPackages(conn: SshConnection, names: string[], remoteDir: string): Promise<PackageHostState> {
  const run = await runHelper(conn, ['pkg-query', ...names], { remoteDir, timeoutMs: 120_000 });
  const dpkg = run.lines.find((l) => l.type === 'dpkg');
  if (!dpkg || typeof dpkg.arch !== 'string') throw new AppError('helper-protocol', `${conn.target.name}: pkg-query gave no dpkg line`);
  const packages = run.lines
    .filter((l) => l.type === 'package' && typeof l.name === 'string' && names.includes(l.name))
    .map((l) => ({ name: l.name as string, installed: typeof l.installed === 'string' ? l.installed : null, aptCache: l.aptCache === true, repackable: l.repackable === true }));
  return { packages, dpkgArch: dpkg.arch, audit: typeof dpkg.audit === 'string' ? dpkg.audit : '' };
}
