/** Facts from every target host at once (bounded by forks), each stored under its machine-id. */
import PQueue from 'p-queue';
import type { ControllerConfig } from '../config.ts';
import type { Db } from '../db/index.ts';
import { saveFacts } from '../db/hosts.ts';
import { appliedByMachine } from '../db/runs.ts';
import { errorInfo, type ErrorCode } from '../errors.ts';
import { runHelper } from '../helper/remote.ts';
import type { TargetHost } from '../inventory/index.ts';
import { drift } from '../plan/livepatch.ts';
import type { AppliedPatch } from '../plan/types.ts';
import { describe } from '../ssh/connect.ts';
import { loadKnownHosts } from '../ssh/known-hosts.ts';
import { ConnectionPool } from '../ssh/pool.ts';
import { sshTarget, type SshTarget } from '../ssh/target.ts';
import type { PackageHostState } from '../plan/packages.ts';
import { factsArgs, packagesFromLines } from './packages.ts';
import { validateFacts, type Facts } from './types.ts';

export type HostFacts =
  | {
      host: string;
      ok: true;
      address: string;
      facts: Facts;
      helperUploaded: boolean;
      /** Patches fleetpatch applied that are no longer in effect. */
      drift: AppliedPatch[];
      /** The package query, when asked for (packages bundles). */
      packages?: PackageHostState;
    }
  | { host: string; ok: false; address: string | null; error: { code: ErrorCode; message: string } };

export interface GatherOptions {
  config: Pick<ControllerConfig, 'knownHostsFiles' | 'connectTimeoutMs' | 'remoteDir' | 'forks'>;
  db?: Db;
  /** Also query these packages on every host (for planning a packages bundle). */
  packageNames?: string[];
  /** Called as each host finishes, in completion order. */
  onResult?: (r: HostFacts) => void;
}

export async function gatherFacts(targets: TargetHost[], opts: GatherOptions): Promise<HostFacts[]> {
  const { config } = opts;
  const pool = new ConnectionPool({ knownHosts: loadKnownHosts(config.knownHostsFiles), timeoutMs: config.connectTimeoutMs });
  const queue = new PQueue({ concurrency: config.forks });
  try {
    return await Promise.all(
      targets.map((t) =>
        queue.add(async (): Promise<HostFacts> => {
          let address: string | null = null;
          let result: HostFacts;
          let target: SshTarget | null = null;
          try {
            target = sshTarget(t);
            address = `${target.host}:${target.port}`;
            const conn = await pool.get(target);
            // one exec: the package query (packages bundles) rides on the facts call
            const run = await runHelper(conn, factsArgs(opts.packageNames), { remoteDir: config.remoteDir, timeoutMs: opts.packageNames?.length ? 120_000 : 60_000 });
            const facts = validateFacts(run.result.facts, describe(target));
            if (opts.db) saveFacts(opts.db, t.name, address, facts);
            const applied = opts.db ? appliedByMachine(opts.db, facts.machine_id) : [];
            const packages = opts.packageNames?.length ? packagesFromLines(run.lines, opts.packageNames, describe(target)) : undefined;
            result = { host: t.name, ok: true, address, facts, helperUploaded: run.uploaded, drift: drift(facts, applied), ...(packages ? { packages } : {}) };
          } catch (err) {
            result = { host: t.name, ok: false, address, error: errorInfo(err) };
          } finally {
            // nothing reuses it: closed now, so 1,000 hosts never hold 1,000 connections
            if (target) pool.release(target);
          }
          opts.onResult?.(result);
          return result;
        }) as Promise<HostFacts>,
      ),
    );
  } finally {
    await pool.closeAll();
  }
}
