/** Test support: a lab of real OpenSSH namespace hosts in a temporary directory, plain `ssh` to
 * its hosts, and the CLI run in-process. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../server/cli.ts';
import type { HostFacts } from '../../server/facts/gather.ts';
import { readState } from '../../server/lab/files.ts';
import type { LabHost } from '../../server/lab/namespace-host.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export function newLabDir(): string {
  return mkdtempSync(join(tmpdir(), 'fp-lab-'));
}

export function labHosts(dir: string): LabHost[] {
  return readState(dir)!.hosts;
}

/** Plain OpenSSH to a lab host, with strict host key checking against the lab's known_hosts. */
/** OpenSSH's arguments for `command` on a lab host as root: the lab's key, strict host key checking. */
export function sshArgs(dir: string, host: LabHost, command: string, knownHosts = join(dir, 'known_hosts')): string[] {
  return ['-q', '-i', join(dir, 'id_ed25519'), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(host.port), `root@${host.address}`, command];
}

export function ssh(dir: string, host: LabHost, command: string, knownHosts = join(dir, 'known_hosts')): string {
  return execFileSync('ssh', sshArgs(dir, host, command, knownHosts), { encoding: 'utf8' });
}

/** `fleetpatch facts --json` on a lab, in-process. */
export async function labFacts(config: string, inventory: string, ...extra: string[]): Promise<{ code: number; results: HostFacts[]; err: string }> {
  const r = await cli(['facts', '-i', inventory, '--config', config, '--json', ...extra]);
  return { code: r.code, results: JSON.parse(r.out) as HostFacts[], err: r.err };
}

export const byName = (results: HostFacts[], name: string): HostFacts => results.find((r) => r.host === name)!;

export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Live (non-zombie) processes whose mount table mentions `path`: a lab host's namespace. */
export function processesMounting(path: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, 'utf8'))) continue;
      if (readFileSync(`/proc/${entry}/mountinfo`, 'utf8').includes(path)) pids.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

/** The lab's VMs (vm-01…), from its state. */
export function labVms(dir: string): LabHost[] {
  return readState(dir)!.vms ?? [];
}

/** Plain OpenSSH like `ssh()`, feeding `input` to the remote command's stdin (an upload over
 * exec, as the guests have no sftp-server); returns stdout, stderr and the exit status. */
export function sshRun(dir: string, host: LabHost, command: string, input?: Buffer | string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ssh', sshArgs(dir, host, command), { encoding: 'utf8', ...(input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { input }) });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Live (non-zombie) qemu processes whose command line mentions `path`. */
export function qemuProcesses(path: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.startsWith('qemu-system') && !cmdline.includes('/qemu-system')) continue;
      if (!cmdline.includes(path)) continue;
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, 'utf8'))) continue;
      pids.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}
