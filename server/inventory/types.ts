/** What the rest of fleetpatch sees of an inventory host. */
import type { SshOptions } from './ssh-args.ts';

/** A host selected for work: its name, merged variables and the groups it belongs to. */
export interface TargetHost {
  name: string;
  /** Variables with Ansible's precedence, as plain values (ints, floats, strings, lists, objects);
   * vault values decrypt when read; ansible.cfg's remote_user / private_key_file fill in
   * ansible_user / ansible_ssh_private_key_file where the inventory sets neither. */
  vars: Record<string, unknown>;
  /** Ansible's group_names: every group the host is in, `all` excepted, sorted. */
  groups: string[];
  /** Where the host was first defined, `file:line`. */
  source: string;
  /** ansible.cfg [ssh_connection] ssh_args, already checked against the refusal rules. */
  ssh?: SshOptions;
}
