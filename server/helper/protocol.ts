/** The helper protocol: JSON lines starting with {"fleetpatch":1; anything else on stdout (noisy
 * shell rc files, motd) is ignored. The last `result` line decides the outcome. */
import { AppError, type ErrorCode } from '../errors.ts';

export interface HelperLine {
  fleetpatch: 1;
  type: string;
  [key: string]: unknown;
}

export function parseHelperLines(stdout: Buffer | string): HelperLine[] {
  const lines: HelperLine[] = [];
  for (const raw of stdout.toString('utf8').split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('{"fleetpatch":1')) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (isLine(value)) lines.push(value);
    } catch {
      // a truncated or corrupted line is not a protocol line
    }
  }
  return lines;
}

function isLine(v: unknown): v is HelperLine {
  return typeof v === 'object' && v !== null && (v as HelperLine).fleetpatch === 1 && typeof (v as HelperLine).type === 'string';
}

const HELPER_CODES = new Set<ErrorCode>(['remote-user', 'insecure-remote-dir', 'helper-upload', 'helper-failed', 'host-busy', 'preflight', 'transition-timeout', 'verify-failed', 'rollback-failed']);

/** The final result line as a value, or the AppError it reports. */
export function helperResult(lines: HelperLine[], host: string, stderr: string): HelperLine {
  const result = lines.findLast((l) => l.type === 'result');
  if (!result) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    throw new AppError('helper-protocol', `${host}: the helper gave no result line${tail ? ` (stderr: ${tail.slice(0, 500)})` : ''}`);
  }
  if (result.ok === true) return result;
  const error = result.error as { code?: unknown; message?: unknown } | undefined;
  const code = typeof error?.code === 'string' && HELPER_CODES.has(error.code as ErrorCode) ? (error.code as ErrorCode) : 'helper-failed';
  const message = typeof error?.message === 'string' ? error.message.slice(0, 2000) : 'no message';
  throw new AppError(code, `${host}: ${message}`);
}
