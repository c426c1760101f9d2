/** Comparing fleetpatch's reading of an inventory with Ansible's (the oracle), as one function
 * the fixture, generated and pattern suites share. */
import { AppError } from '../../server/errors.ts';
import { loadInventory, selectHosts, type Inventory } from '../../server/inventory/index.ts';
import { graphText, hostText, listText } from '../../server/inventory/output.ts';
import { splitHostPattern } from '../../server/inventory/pattern.ts';
import type { AnsibleOracle, OracleInventory } from '../support/ansible-oracle.ts';

export interface ParityCase {
  sources: string[];
  cwd: string;
  patterns?: string[];
  vaultPasswordFiles?: string[];
}

export interface ParityResult {
  /** Differences found; empty when fleetpatch reads the inventory exactly as Ansible. */
  problems: string[];
  ansible: OracleInventory;
  /** fleetpatch's error when it refused the inventory. */
  error?: string;
  /** Patterns whose Ansible order depends on Python set iteration (compared as sets). */
  setOrdered: number;
  inv?: Inventory;
}

export async function compareWithAnsible(oracle: AnsibleOracle, c: ParityCase): Promise<ParityResult> {
  const ansible = await oracle.inventory(c.sources, { patterns: c.patterns ?? [], vaultPasswordFiles: c.vaultPasswordFiles ?? [], cwd: c.cwd });
  const problems: string[] = [];
  let inv: Inventory | undefined;
  let error: string | undefined;
  let list: string | undefined;
  try {
    inv = loadInventory(c.sources, { ansibleCfg: null, cwd: c.cwd, vaultPasswordFiles: c.vaultPasswordFiles ?? [] });
    list = listText(inv, { redact: false });
  } catch (err) {
    if (!(err instanceof AppError) && !(err instanceof TypeError && /not JSON serializable/.test(err.message))) throw err;
    error = (err as Error).message;
  }
  if (!ansible.ok) {
    if (error === undefined) problems.push(`Ansible refused the inventory (${ansible.error}) but fleetpatch read it`);
    return { problems, ansible, error, setOrdered: 0, inv };
  }
  if (error !== undefined) {
    problems.push(`fleetpatch refused an inventory Ansible reads: ${error}`);
    return { problems, ansible, error, setOrdered: 0 };
  }
  if (list !== ansible.list) problems.push(`--list differs:\n${diff(ansible.list!, list!)}`);
  for (const [host, text] of Object.entries(ansible.hosts ?? {})) {
    let mine: string;
    try {
      mine = hostText(inv!, host, { redact: false });
    } catch (err) {
      mine = `error: ${(err as Error).message}`;
    }
    if (mine !== text) problems.push(`--host ${host} differs:\n${diff(text, mine)}`);
  }
  if (graphText(inv!) !== ansible.graph) problems.push(`--graph differs:\n${diff(ansible.graph!, graphText(inv!))}`);
  let setOrdered = 0;
  for (const p of c.patterns ?? []) {
    const want = ansible.patterns![p]!;
    let got: string[] | null = null;
    let gotError = '';
    try {
      got = selectHosts(inv!, p).map((h) => h.name);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      gotError = err.message;
    }
    const excludesNothing = (want.warnings ?? []).some((w) =>
      splitHostPattern(p).some((t) => {
        const x = w.replace(/^.*ignoring: /, '');
        return t.startsWith('!') && (t.slice(1) === x || t.slice(1).startsWith(`${x}[`));
      }),
    );
    if (want.error !== undefined || want.hosts!.length === 0 || excludesNothing) {
      if (got !== null) problems.push(`pattern ${p}: Ansible ${want.error ? `fails (${want.error})` : excludesNothing ? 'excludes a term that matches nothing' : 'matches no host'}, fleetpatch selects ${got.join(',')}`);
      continue;
    }
    if (got === null) {
      problems.push(`pattern ${p}: Ansible selects ${want.hosts!.join(',')}, fleetpatch fails: ${gotError}`);
      continue;
    }
    const setOrder = want.hosts!.join('\n') !== want.deterministic!.join('\n');
    if (setOrder) setOrdered++;
    if (got.join('\n') !== want.deterministic!.join('\n')) problems.push(`pattern ${p}: Ansible ${want.deterministic!.join(',')}, fleetpatch ${got.join(',')}`);
    // Where Ansible's own order follows Python set iteration, a subscript picks different hosts
    // from one Ansible run to the next: only the unsubscripted set is Ansible's to check.
    const subscripted = splitHostPattern(p).some((t) => /\[-?\d+(?::\d*)?\]$/.test(t));
    if (!(setOrder && subscripted) && [...got].sort().join('\n') !== [...want.hosts!].sort().join('\n')) problems.push(`pattern ${p}: not the set Ansible selects (${want.hosts!.join(',')})`);
  }
  return { problems, ansible, setOrdered, inv };
}

function diff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(x.length, y.length) && out.length < 12; i++) {
    if (x[i] !== y[i]) out.push(`  line ${i + 1}: ansible ${JSON.stringify(x[i])} fleetpatch ${JSON.stringify(y[i])}`);
  }
  return out.join('\n');
}
