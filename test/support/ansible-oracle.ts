/** Test support: Ansible's own inventory code as an oracle, in one long-lived Python process
 * (test/support/ansible-oracle.py) answering JSON lines, so hundreds of comparisons cost one
 * start-up. Needs Debian's ansible-core (native/lab/setup.sh installs it). */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'ansible-oracle.py');
/** Debian's python3, where ansible-core is installed (a pyenv python3 may come first in PATH). */
const PYTHON = '/usr/bin/python3';

export interface OraclePattern {
  hosts?: string[];
  /** The same pattern with Python's set iteration replaced by list order (fleetpatch's order). */
  deterministic?: string[];
  warnings?: string[];
  error?: string;
}

export interface OracleInventory {
  ok: boolean;
  error?: string;
  list?: string;
  hosts?: Record<string, string>;
  graph?: string;
  patterns?: Record<string, OraclePattern>;
  warnings?: string[];
}

export class AnsibleOracle {
  private next = 1;
  private readonly waiting = new Map<number, (v: unknown) => void>();
  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {}

  static async start(): Promise<AnsibleOracle> {
    if (!existsSync('/usr/bin/ansible-inventory')) throw new Error('ansible-core is not installed: run native/lab/setup.sh as root (apt-get install ansible-core)');
    const proc = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    const oracle = new AnsibleOracle(proc);
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: proc.stdout });
    const ready = new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`the Ansible oracle exited (${code}): ${stderr}`)));
      lines.once('line', () => resolve());
    });
    await ready;
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { id: number };
      oracle.waiting.get(msg.id)?.(msg);
      oracle.waiting.delete(msg.id);
    });
    return oracle;
  }

  request<T>(op: string, payload: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.proc.stdin.write(`${JSON.stringify({ id, op, ...payload })}\n`);
    });
  }

  inventory(sources: string[], opts: { patterns?: string[]; vaultPasswordFiles?: string[]; cwd?: string } = {}): Promise<OracleInventory> {
    return this.request('inventory', { sources, patterns: opts.patterns ?? [], vault_password_files: opts.vaultPasswordFiles ?? [], cwd: opts.cwd });
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}
