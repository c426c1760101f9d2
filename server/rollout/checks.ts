/** A bundle's checks: argv arrays run on the host (quoted by quote.ts), judged by exit code and
 * stdout. */
import type { BundleCheck } from '../bundles/index.ts';
import type { SshConnection } from '../ssh/connect.ts';
import { shellCommand } from '../ssh/quote.ts';

export interface CheckOutcome {
  ok: boolean;
  /** One line per check: what ran and how it ended. */
  report: string;
}

export async function runChecks(conn: SshConnection, checks: BundleCheck[]): Promise<CheckOutcome> {
  const lines: string[] = [];
  let ok = true;
  for (const c of checks) {
    const res = await conn.exec(shellCommand(c.argv), { timeoutMs: 60_000, maxOutputBytes: 1024 * 1024 });
    const stdout = res.stdout.toString('utf8');
    const problems: string[] = [];
    if (res.code !== c.exitCode) problems.push(`exit ${res.code ?? res.signal}, expected ${c.exitCode}`);
    if (c.stdoutEquals !== undefined && stdout.trimEnd() !== c.stdoutEquals.trimEnd()) problems.push(`stdout is not ${JSON.stringify(c.stdoutEquals)}`);
    if (c.stdoutContains !== undefined && !stdout.includes(c.stdoutContains)) problems.push(`stdout lacks ${JSON.stringify(c.stdoutContains)}`);
    if (c.stdoutNotContains !== undefined && stdout.includes(c.stdoutNotContains)) problems.push(`stdout contains ${JSON.stringify(c.stdoutNotContains)}`);
    ok &&= problems.length === 0;
    lines.push(`${JSON.stringify(c.argv)}: ${problems.length ? `FAILED: ${problems.join('; ')}` : 'ok'} | stdout: ${stdout.slice(0, 500).trimEnd()}`);
  }
  return { ok, report: lines.join('\n') };
}
