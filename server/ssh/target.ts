/** How to reach an inventory host: address, port, user and credentials from its variables.
 * The inventory may choose where and as whom to connect, never what to trust. */
import { AppError } from '../errors.ts';
import type { TargetHost } from '../inventory/index.ts';

export interface SshTarget {
  /** Inventory name, for messages. */
  name: string;
  host: string;
  port: number;
  user: string;
  privateKeyFile: string | null;
}

/** Options in ansible_ssh_*_args that would let an inventory pick its own trust anchors or run
 * commands on the controller; refused wherever they appear. */
const REFUSED_ARGS = ['ansible_ssh_common_args', 'ansible_ssh_extra_args', 'ansible_ssh_args'];

export function sshTarget(h: TargetHost): SshTarget {
  const v = h.vars;
  const str = (key: string): string | null => {
    const value = v[key];
    if (value === undefined || value === null || value === '') return null;
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new AppError('inventory', `host ${h.name}: variable ${key} must be a string, not ${typeof value}`);
    }
    const s = String(value);
    if (s.includes('{{') || s.includes('{%')) {
      throw new AppError('inventory', `host ${h.name}: variable ${key} is a template (${s}) that fleetpatch cannot evaluate; set a literal value`);
    }
    return s;
  };
  for (const key of REFUSED_ARGS) {
    if (str(key) !== null) {
      throw new AppError('inventory', `host ${h.name}: ${key} is not supported yet (SSH options come from the controller config; ${h.source})`);
    }
  }
  const host = str('ansible_host') ?? str('ansible_ssh_host') ?? h.name;
  if (!/^[A-Za-z0-9._:-]+$/.test(host) || host.startsWith('-')) {
    throw new AppError('inventory', `host ${h.name}: invalid address ${JSON.stringify(host)} in ansible_host`);
  }
  const portText = str('ansible_port') ?? str('ansible_ssh_port') ?? '22';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AppError('inventory', `host ${h.name}: ansible_port ${JSON.stringify(portText)} is not a port number`);
  }
  const user = str('ansible_user') ?? str('ansible_ssh_user') ?? process.env.USER ?? 'root';
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(user)) {
    throw new AppError('inventory', `host ${h.name}: invalid user name ${JSON.stringify(user)} in ansible_user`);
  }
  return { name: h.name, host, port, user, privateKeyFile: str('ansible_ssh_private_key_file') ?? str('ansible_private_key_file') };
}
