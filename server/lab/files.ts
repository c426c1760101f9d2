/** What `lab up` writes for the controller: an Ansible INI inventory, known_hosts, the client
 * key and a controller config, so the lab is used exactly like a real fleet. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from './namespace-host.ts';
import { hostDir } from './namespace-host.ts';
import { vmDir } from './vm.ts';

export interface LabState {
  version: 1;
  /** Namespace hosts (lab-NN on 127.0.1.K). */
  hosts: LabHost[];
  /** qemu VMs with a real Debian kernel (vm-NN on 127.0.2.K); absent in labs made before VMs. */
  vms?: LabHost[];
}

export const STATE_FILE = 'lab.json';

export function readState(labDir: string): LabState | null {
  try {
    const state = JSON.parse(readFileSync(join(labDir, STATE_FILE), 'utf8')) as LabState;
    state.vms ??= [];
    return state;
  } catch {
    return null;
  }
}

export function writeState(labDir: string, state: LabState): void {
  writeFileSync(join(labDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/** Host i (1-based) of the lab: lab-01 on 127.0.1.1, …; every address is on the loopback. */
export function labHost(i: number, port: number): LabHost {
  const name = `lab-${String(i).padStart(2, '0')}`;
  return { name, address: `127.0.${1 + Math.floor((i - 1) / 254)}.${((i - 1) % 254) + 1}`, port };
}

/** Groups that make patterns interesting: web (first half), db (the rest), canary (the first
 * host), and lab (parent of web and db); the VMs, when there are any, form the group vms. */
export function inventoryText(labDir: string, hosts: LabHost[], vms: LabHost[] = []): string {
  const half = Math.ceil(hosts.length / 2);
  const line = (h: LabHost) => `${h.name} ansible_host=${h.address} ansible_port=${h.port}`;
  return [
    '# fleetpatch lab inventory, rewritten by `fleetpatch lab up`.',
    '[web]',
    ...hosts.slice(0, half).map(line),
    '',
    '[db]',
    ...hosts.slice(half).map(line),
    '',
    '[canary]',
    ...hosts.slice(0, 1).map((h) => h.name),
    '',
    '[lab:children]',
    'web',
    'db',
    '',
    '[lab:vars]',
    'ansible_user=root',
    `ansible_ssh_private_key_file=${join(labDir, 'id_ed25519')}`,
    '',
    ...(vms.length
      ? [
          '# qemu VMs booting a real Debian kernel (livepatch-capable)',
          '[vms]',
          ...vms.map(line),
          '',
          '[vms:vars]',
          'ansible_user=root',
          `ansible_ssh_private_key_file=${join(labDir, 'id_ed25519')}`,
          '',
        ]
      : []),
  ].join('\n');
}

/** One `[address]:port type key` line per host and VM, each from the public key of the host key
 * the lab generated for it, so every later SSH connection checks it strictly. */
export function knownHostsText(labDir: string, hosts: LabHost[], vms: LabHost[] = []): string {
  const line = (h: LabHost, dir: string) => {
    const [type, key] = readFileSync(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
    return `[${h.address}]:${h.port} ${type} ${key}\n`;
  };
  return [...hosts.map((h) => line(h, hostDir(labDir, h.name))), ...vms.map((v) => line(v, vmDir(labDir, v.name)))].join('');
}

export function writeControllerFiles(labDir: string, hosts: LabHost[], vms: LabHost[] = []): void {
  writeFileSync(join(labDir, 'inventory.ini'), inventoryText(labDir, hosts, vms));
  writeFileSync(join(labDir, 'known_hosts'), knownHostsText(labDir, hosts, vms));
  writeFileSync(
    join(labDir, 'fleetpatch.json'),
    `${JSON.stringify({ $comment: 'controller config for this lab, written by fleetpatch lab up; trusted-keys/ holds only the lab bundle key; no ssh config, so ~/.ssh/config cannot change how the lab is reached', knownHostsFiles: ['known_hosts'], database: 'fleetpatch.db', trustedKeysDir: 'trusted-keys', sshConfigFile: null }, null, 2)}\n`,
  );
}
