/** `fleetpatch inventory` output, the same as `ansible-inventory` prints it: --list (JSON, keys
 * sorted, the groups tree and `_meta.hostvars`), --host (one host's variables), --graph; with
 * secrets redacted — passwords (`ansible_password`, `ansible_become_pass`, …) and every value that
 * was vault-encrypted, inline or as a whole file. */
import type { Group } from './data.ts';
import type { Inventory } from './index.ts';
import { INTERNAL_VARS } from './vars.ts';
import { newDict, pyJsonDump, Secret, VaultText, type PyDict, type PyValue } from './values.ts';

export const REDACTED = '<redacted>';
const SECRET_NAME = /^ansible_(?:[a-z0-9]+_)*(?:pass|password|passwd|passphrase)$/;

export interface OutputOptions {
  /** Show secrets as Ansible does (tests compare with Ansible this way); the CLI always redacts. */
  redact: boolean;
}

function dump(value: PyValue, opts: OutputOptions, where: string): string {
  return pyJsonDump(value, opts.redact ? { replace: (key, v) => ((key !== null && SECRET_NAME.test(key)) || v instanceof VaultText || v instanceof Secret ? REDACTED : undefined) } : {}, where);
}

/** A host's variables as `ansible-inventory --host` shows them (Ansible's magic ones removed). */
export function hostVarsShown(inv: Inventory, host: string): PyDict {
  const out = newDict();
  for (const [k, v] of Object.entries(inv.hostVars.get(host) ?? {})) if (!INTERNAL_VARS.has(k)) out[k] = v;
  return out;
}

export function listText(inv: Inventory, opts: OutputOptions): string {
  const results = newDict();
  const seen = new Set<string>();
  const format = (g: Group): PyDict => {
    const out = newDict();
    const entry = newDict();
    out[g.name] = entry;
    if (g.name !== 'all' && g.hosts.length) entry.hosts = g.hosts.map((h) => h.name);
    const children: string[] = [];
    for (const sub of g.childGroups) {
      children.push(sub.name);
      if (!seen.has(sub.name)) {
        Object.assign(out, format(sub));
        seen.add(sub.name);
      }
    }
    if (children.length) entry.children = children;
    if (!Object.keys(entry).length) delete out[g.name];
    return out;
  };
  Object.assign(results, format(inv.data.groups.get('all')!));
  const hostvars = newDict();
  for (const h of inv.data.groups.get('all')!.getHosts()) {
    const vars = hostVarsShown(inv, h.name);
    if (Object.keys(vars).length) hostvars[h.name] = vars;
  }
  results._meta = Object.assign(newDict(), { hostvars });
  return dump(results, opts, '_meta.hostvars.');
}

export function hostText(inv: Inventory, host: string, opts: OutputOptions): string {
  return dump(hostVarsShown(inv, host), opts, `${host}: `);
}

export function graphText(inv: Inventory, start = 'all'): string {
  const name = (n: string, depth: number) => (depth ? `${'  |'.repeat(depth)}--${n}` : n);
  const walk = (g: Group, depth: number): string[] => {
    const lines = [name(`@${g.name}:`, depth)];
    for (const kid of g.childGroups) lines.push(...walk(kid, depth + 1));
    if (g.name !== 'all') for (const h of g.hosts) lines.push(name(h.name, depth + 1));
    return lines;
  };
  return walk(inv.data.groups.get(start)!, 0).join('\n');
}
