/** The inventory model shared by every reader: hosts and groups as Ansible sees them. */
export type Vars = Record<string, unknown>;

export interface InventoryHost {
  /** Inventory name (alias), e.g. `lab-01`. */
  name: string;
  /** Variables set on the host itself (host line, host_vars). */
  vars: Vars;
  /** Where the host was first defined, `file:line`. */
  source: string;
}

export interface InventoryGroup {
  name: string;
  /** Hosts listed directly in the group, in file order. */
  hosts: string[];
  /** Child groups, in file order. */
  children: string[];
  vars: Vars;
}

export interface Inventory {
  /** Hosts in the order they were first defined. */
  hosts: Map<string, InventoryHost>;
  groups: Map<string, InventoryGroup>;
  /** The files read. */
  sources: string[];
}

/** A host selected for work: its name, merged variables and the groups it belongs to. */
export interface TargetHost {
  name: string;
  vars: Vars;
  groups: string[];
  source: string;
}
