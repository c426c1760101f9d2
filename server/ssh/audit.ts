/** The controller's audit log for SSH trust decisions: JSON lines, appended, next to the database. */
import { appendFileSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';

export const AUDIT_FILE = 'audit.jsonl';

/** The audit log beside a database file. */
export function auditFileFor(database: string): string {
  return join(dirname(database), AUDIT_FILE);
}

export function appendAudit(file: string, action: string, details: Record<string, unknown>): void {
  let by: string;
  try {
    by = userInfo().username;
  } catch {
    by = String(process.getuid?.() ?? 'unknown');
  }
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify({ time: new Date().toISOString(), action, by, pid: process.pid, ...details })}\n`, { mode: 0o600 });
}
