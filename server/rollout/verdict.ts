/** Applying with a verdict: the helper applies, verifies on the host, then waits on its stdin
 * while the controller runs the bundle's checks and answers `commit` or `rollback`. */
import type { BundleCheck } from '../bundles/index.ts';
import type { HelperOptions, HelperRun, Payload } from '../helper/remote.ts';
import type { SshConnection } from '../ssh/connect.ts';
import { runChecks } from './checks.ts';
import type { HostRun } from './host.ts';

export interface VerdictResult {
  /** The helper's run, or the error it ended with (after the verdict settled). */
  run: HelperRun | null;
  error: unknown;
  /** Why the checks failed, when they did. */
  checkFailure: string | null;
  /** Other protocol lines seen (warnings such as `holder`). */
  lines: { type: string; [k: string]: unknown }[];
}

/** Where the checks run. `ready` (memoized) opens or returns the connection; with `after`, it is
 * called as soon as the helper reports that step done (for packages: `install`, dpkg -i has
 * returned, so a new login proves the updated sshd), while the helper still verifies on the host,
 * instead of when it asks for the verdict. */
export interface ChecksOn {
  ready: () => Promise<SshConnection>;
  after?: string;
}

/** `onPayloads` sees the payloads in place (pushed on this exec, or cached) before the helper runs. */
export async function applyWithVerdict(h: HostRun, args: string[], payloads: Payload[], checks: BundleCheck[], checksOn: ChecksOn, onPayloads?: HelperOptions['onPayloads']): Promise<VerdictResult> {
  let checkFailure: string | null = null;
  let verdict: Promise<void> = Promise.resolve();
  const lines: VerdictResult['lines'] = [];
  try {
    const run = await h.step('apply', () =>
      h.helper(args, {
        payloads,
        ...(onPayloads ? { onPayloads } : {}),
        onLine: (line, channel) => {
          lines.push(line);
          if (line.type === 'step') {
            h.remoteStep(line);
            // a failure here is the check's to report (it awaits the same promise)
            if (line.step === checksOn.after && line.status === 'ok') checksOn.ready().catch(() => {});
          }
          if (line.type !== 'awaiting-verdict') return;
          verdict = h
            .step('check', async () => runChecks(await checksOn.ready(), checks), (c) => ({ detail: c.ok ? `${checks.length} checks passed` : 'a check failed', output: c.report, failed: !c.ok }))
            .then((c) => {
              if (!c.ok) checkFailure = c.report.split('\n').find((l) => l.includes('FAILED')) ?? 'a check failed';
              channel.end(c.ok ? 'commit\n' : 'rollback\n');
            })
            .catch((err) => {
              checkFailure = `checks could not run: ${(err as Error).message}`;
              channel.end('rollback\n');
            });
        },
      }),
    );
    await verdict;
    return { run, error: null, checkFailure, lines };
  } catch (error) {
    await verdict;
    return { run: null, error, checkFailure, lines };
  }
}
