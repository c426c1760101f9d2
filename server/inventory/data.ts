/** The inventory as Ansible holds it (ansible/inventory/{data,group,host}.py): groups with depth,
 * priority, ordered children and parents, hosts in the order first seen, and the rules that
 * `reconcile` applies once every source is read (`all` above every top group, `ungrouped`). */
import { pyInt } from './pystr.ts';
import { codePointCompare, newDict, PyFloat, pyType, Secret, type PyDict, type PyValue } from './values.ts';

export class InventoryDataError extends Error {}

export class Group {
  depth = 0;
  priority = 1;
  readonly hosts: Host[] = [];
  readonly childGroups: Group[] = [];
  readonly parentGroups: Group[] = [];
  vars: PyDict = newDict();
  /** Where the group was first declared, `file:line` (for messages). */
  source = '';

  constructor(readonly name: string) {}

  ancestors(): Set<Group> {
    return walk(this, 'parentGroups');
  }

  /** `Group.add_child_group`: refuses loops, keeps depth the longest path from the top. */
  addChildGroup(child: Group): boolean {
    if (child === this) throw new InventoryDataError("can't add group to itself");
    if (this.childGroups.includes(child)) return false;
    if (this.ancestors().has(child)) {
      throw new InventoryDataError(`Adding group '${child.name}' as child to '${this.name}' creates a recursive dependency loop.`);
    }
    this.childGroups.push(child);
    child.depth = Math.max(this.depth + 1, child.depth);
    child.checkChildrenDepth();
    if (!child.parentGroups.some((g) => g.name === this.name)) child.parentGroups.push(this);
    return true;
  }

  private checkChildrenDepth(): void {
    let depth = this.depth;
    const start = this.depth;
    const seen = new Set<Group>();
    let unprocessed = new Set(this.childGroups);
    while (unprocessed.size) {
      unprocessed.forEach((g) => seen.add(g));
      depth += 1;
      const next = new Set<Group>();
      for (const g of unprocessed) {
        if (g.depth < depth) {
          g.depth = depth;
          g.childGroups.forEach((c) => next.add(c));
        }
      }
      unprocessed = next;
      if (depth - start > seen.size) throw new InventoryDataError(`The group named '${this.name}' has a recursive dependency loop.`);
    }
  }

  addHost(host: Host): boolean {
    if (this.hosts.includes(host)) return false;
    this.hosts.push(host);
    return true;
  }

  removeHost(host: Host): void {
    const i = this.hosts.indexOf(host);
    if (i >= 0) this.hosts.splice(i, 1);
  }

  /** `Group.set_variable`: `ansible_group_priority` sets the priority instead of a variable. */
  setVariable(key: string, value: PyValue): void {
    if (key === 'ansible_group_priority') this.priority = pyIntOf(value instanceof Secret ? value.value : value, `group ${this.name}: ansible_group_priority`);
    else this.vars[key] = value;
  }

  /** `Group.get_hosts`: its own hosts, then its descendants' level by level, each host once.
   * Ansible walks the levels below the first through Python sets of groups, whose order follows
   * object identities; fleetpatch walks them in list order (docs/inventory.md). */
  getHosts(): Host[] {
    const seen = new Set<Host>();
    const out: Host[] = [];
    for (const g of descendantsInOrder(this)) {
      for (const h of g.hosts) {
        if (seen.has(h)) continue;
        seen.add(h);
        out.push(h);
      }
    }
    return out;
  }
}

export class Host {
  vars: PyDict = newDict();
  /** Every group the host belongs to, directly or through a child group, `all` included. */
  readonly groups: Group[] = [];

  constructor(
    readonly name: string,
    /** Where the host was first defined, `file:line`. */
    readonly source: string,
  ) {}

  setVariable(key: string, value: PyValue): void {
    this.vars[key] = value;
  }

  addGroup(group: Group): void {
    for (const g of group.ancestors()) if (!this.groups.includes(g)) this.groups.push(g);
    if (!this.groups.includes(group)) this.groups.push(group);
  }

  removeGroup(group: Group): void {
    const i = this.groups.indexOf(group);
    if (i < 0) return;
    this.groups.splice(i, 1);
    for (const old of group.ancestors()) {
      if (old.name === 'all') continue;
      if (!this.groups.some((g) => g.ancestors().has(old))) this.removeGroup(old);
    }
  }
}

/** `InventoryData`: the groups and hosts every source adds to, in insertion order. */
export class InventoryData {
  readonly groups = new Map<string, Group>();
  readonly hosts = new Map<string, Host>();

  constructor() {
    this.addGroup('all', '');
    this.addGroup('ungrouped', '');
    this.addChild('all', 'ungrouped');
  }

  addGroup(name: PyValue, source: string): string {
    if (typeof name !== 'string') {
      if (name === null || name === false || name === 0) throw new InventoryDataError(`Invalid empty/false group name provided: ${String(name)}`);
      throw new InventoryDataError(`Invalid group name supplied, expected a string but got ${pyType(name)} for ${String(name)}`);
    }
    if (!name) throw new InventoryDataError('Invalid empty/false group name provided: ');
    if (!this.groups.has(name)) {
      const g = new Group(name);
      g.source = source;
      this.groups.set(name, g);
    }
    return name;
  }

  /** `InventoryData.add_host`: a new host gets the port; an existing one keeps its own. */
  addHost(name: PyValue, group: string | null, port: number | null, source: string): string {
    if (typeof name !== 'string') {
      if (name === null || name === false || name === 0) throw new InventoryDataError(`Invalid empty host name provided: ${String(name)}`);
      throw new InventoryDataError(`Invalid host name supplied, expected a string but got ${pyType(name)} for ${String(name)}`);
    }
    if (!name) throw new InventoryDataError('Invalid empty host name provided: ');
    let g: Group | undefined;
    if (group) {
      g = this.groups.get(group);
      if (!g) throw new InventoryDataError(`Could not find group ${group} in inventory`);
    }
    let h = this.hosts.get(name);
    if (!h) {
      h = new Host(name, source);
      if (port) h.setVariable('ansible_port', port);
      this.hosts.set(name, h);
    }
    if (g && g.addHost(h)) h.addGroup(g);
    return name;
  }

  setVariable(entity: string, key: string, value: PyValue): void {
    const target = this.groups.get(entity) ?? this.hosts.get(entity);
    if (!target) throw new InventoryDataError(`Could not identify group or host named ${entity}`);
    target.setVariable(key, value);
  }

  /** `InventoryData.add_child`: a child group, or a host when the name is a host's. */
  addChild(group: string, child: string): boolean {
    const g = this.groups.get(group);
    if (!g) throw new InventoryDataError(`${group} is not a known group`);
    const cg = this.groups.get(child);
    if (cg) {
      const newAncestors = new Set([...g.ancestors(), g]);
      for (const a of cg.ancestors()) newAncestors.delete(a);
      const added = g.addChildGroup(cg);
      if (added) for (const h of cg.getHosts()) for (const a of newAncestors) if (!h.groups.includes(a)) h.groups.push(a);
      return added;
    }
    const h = this.hosts.get(child);
    if (h) {
      if (!g.addHost(h)) return false;
      h.addGroup(g);
      return true;
    }
    throw new InventoryDataError(`${child} is not a known host nor group`);
  }

  /** `reconcile_inventory`, run once after every source is parsed. */
  reconcile(): void {
    const all = this.groups.get('all')!;
    const ungrouped = this.groups.get('ungrouped')!;
    for (const g of this.groups.values()) {
      if (g.name !== 'all' && g.ancestors().size === 0) this.addChild('all', g.name);
    }
    for (const h of this.hosts.values()) {
      if (h.groups.includes(ungrouped)) {
        if (h.groups.some((g) => g !== all && g !== ungrouped)) {
          ungrouped.removeHost(h);
          h.removeGroup(ungrouped);
        }
      } else if (h.groups.length === 0 || (h.groups.length === 1 && h.groups[0] === all)) {
        this.addChild('ungrouped', h.name);
      }
    }
  }

  clone(): InventoryData {
    const copy = Object.create(InventoryData.prototype) as InventoryData;
    const groups = new Map<Group, Group>();
    const hosts = new Map<Host, Host>();
    for (const g of this.groups.values()) {
      const c = Object.assign(new Group(g.name), { depth: g.depth, priority: g.priority, source: g.source, vars: Object.assign(newDict(), g.vars) });
      groups.set(g, c);
    }
    for (const h of this.hosts.values()) hosts.set(h, Object.assign(new Host(h.name, h.source), { vars: Object.assign(newDict(), h.vars) }));
    for (const [g, c] of groups) {
      // loops, not spreads: a group may hold more hosts than the call stack has room for arguments
      for (const h of g.hosts) c.hosts.push(hosts.get(h)!);
      for (const x of g.childGroups) c.childGroups.push(groups.get(x)!);
      for (const x of g.parentGroups) c.parentGroups.push(groups.get(x)!);
    }
    for (const [h, c] of hosts) for (const g of h.groups) c.groups.push(groups.get(g)!);
    Object.assign(copy, { groups: new Map([...groups.values()].map((g) => [g.name, g])), hosts: new Map([...hosts.values()].map((h) => [h.name, h])) });
    return copy;
  }
}

/** `sort_groups`: by depth, then priority, then name — the order group variables apply in. */
export function sortGroups(groups: Iterable<Group>): Group[] {
  return [...groups].sort((a, b) => a.depth - b.depth || a.priority - b.priority || codePointCompare(a.name, b.name));
}

function walk(start: Group, rel: 'parentGroups' | 'childGroups'): Set<Group> {
  const seen = new Set<Group>();
  let unprocessed = new Set(start[rel]);
  while (unprocessed.size) {
    unprocessed.forEach((g) => seen.add(g));
    const next = new Set<Group>();
    for (const g of unprocessed) for (const x of g[rel]) if (!seen.has(x)) next.add(x);
    unprocessed = next;
  }
  return seen;
}

/** `_walk_relationship(include_self=True, preserve_ordering=True)` with ordered sets. */
function descendantsInOrder(start: Group): Group[] {
  const ordered: Group[] = [start, ...start.childGroups];
  const seen = new Set<Group>();
  let unprocessed: Group[] = [start, ...start.childGroups.filter((g) => g !== start)];
  while (unprocessed.length) {
    unprocessed.forEach((g) => seen.add(g));
    const next: Group[] = [];
    for (const g of unprocessed) {
      for (const x of g.childGroups) {
        if (!next.includes(x)) next.push(x);
        if (!seen.has(x)) ordered.push(x);
      }
    }
    unprocessed = next.filter((x) => !seen.has(x));
  }
  return ordered;
}

/** Python's `int(value)` as Group.set_priority applies it. */
function pyIntOf(value: PyValue, what: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof PyFloat && Number.isFinite(value.value)) return Math.trunc(value.value);
  if (typeof value === 'string') {
    const n = pyInt(value);
    if (n !== null) return Number(n);
    throw new InventoryDataError(`${what}: invalid literal for int() with base 10: '${value}'`);
  }
  throw new InventoryDataError(`${what}: int() argument must be a string, a bytes-like object or a real number, not '${pyType(value)}'`);
}
