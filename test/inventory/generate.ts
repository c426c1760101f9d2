/** A property-based generator of Ansible inventories: random groups, children (acyclic and
 * cyclic), hosts with ranges and ports, typed variable texts (INI host-line and :vars, YAML 1.1
 * scalars, JSON), group_vars/ and host_vars/ files or directories, one or several sources, and
 * host patterns over the names used. Each model renders to files; Ansible decides the meaning. */
import fc from 'fast-check';

export interface GroupModel {
  name: string;
  /** ansible_group_priority, when set. */
  priority: string | null;
  hosts: { spec: string; vars: [string, string][] }[];
  vars: [string, string][];
  children: string[];
}

export interface InventoryModel {
  format: 'ini' | 'yaml' | 'json';
  /** Hosts before any section (INI) or under `all` (YAML/JSON). */
  topHosts: { spec: string; vars: [string, string][] }[];
  groups: GroupModel[];
  groupVars: { group: string; form: 'yml' | 'noext' | 'dir' | 'json'; vars: [string, string][] }[];
  hostVars: { host: string; vars: [string, string][] }[];
  /** Split the groups over two files of a directory source, or two -i sources. */
  split: 'none' | 'dir' | 'two-sources';
  patterns: string[];
}

const GROUPS = ['web', 'db', 'app', 'prod', 'stage', 'eu', 'us', 'canary', 'g-1', 'g_2', 'Zeta', 'ñandú'];
const HOSTS = ['h1', 'h2', 'h3', 'web01', 'web02', 'db1.example.com', '10.0.0.7', 'app-a', 'app_b', 'Host9', 'ünï'];
const RANGES = ['r[1:3]', 'r[01:03]', 'x[a:c]', 'n[0:6:2]', 's[1:2].d[a:b]'];
const VAR_NAMES = ['a', 'b', 'port', 'ansible_user', 'ansible_port', 'x_y', 'Mixed', 'éq'];

/** Values for an INI host line, already shell-quoted where needed. */
const INI_HOST_VALUES = ['5', '-3', '1.5', '1e3', '0x1F', '012', '00', '1_000', 'True', 'false', 'None', 'yes', '"[1, 2]"', `"{'a': 1}"`, '"5"', `'x'`, '"two words"', 'a=b', '', '""', '"1,2"', `"(1,)"`, `"b'x'"`, '12345678901234567890', '1e999', 'abc', '"it\'s"', `"'q'"`, '1.0', '-0.0', '.5', '"a # b"', 'x#y', '0b11', '1e-7', '"\\"esc\\""', '~', 'ümlaut', '"[1, [2, {}]]"'];
/** Values for an INI :vars line (not shell-split: quotes stay). */
const INI_GROUP_VALUES = ['5', '"5"', "'5'", 'two words', '"two words"', '[1, 2]', "{'a': None}", 'True', '1.5', '012', 'a # b', '5 # five', "'a' 'b'", '1, 2', '', '"', 'x=y', 'None', "u'x'", '0o17', '"\\t"', 'r"\\d"'];
/** YAML scalars (and small collections) as they appear after `key: `. */
const YAML_VALUES = ['yes', 'No', 'on', 'OFF', 'y', 'n', '012', '09', '0x1f', '0b101', '1:30', '1:30.5', '1e5', '1.0e+5', '.5', '1.', '-.inf', '.nan', '~', '', 'null', '"012"', "'x y'", '2001-12-14', '2001-12-14 21:59:43.10 -5', 'abc', '[1, a, yes]', '{k: v, n: 1}', '+12', '-7', '1_000', '"quoted: colon"', '!!str 5', '!!float 1', 'True', '3.0', '123456789012345678901234567890'];
const JSON_VALUES = ['1', '1.0', '-2.5e3', '"s"', 'true', 'false', 'null', '[1, "a", {"b": []}]', '{"k": {"l": 1}}', '12345678901234567890', '"\\u00e9\\n"', '0', '-0', '1E2'];

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const varsArb = (values: string[], max = 3) => fc.array(fc.tuple(pick(VAR_NAMES), pick(values)), { maxLength: max });
const hostSpec = fc.oneof({ weight: 6, arbitrary: pick(HOSTS) }, { weight: 1, arbitrary: pick(RANGES) }, { weight: 1, arbitrary: fc.tuple(pick(HOSTS.slice(0, 5)), fc.constantFrom(22, 2222, 0)).map(([h, p]) => `${h}:${p}`) });

const term = (names: string[]) =>
  fc.oneof(
    { weight: 5, arbitrary: pick([...names, 'all', '*', 'ungrouped']) },
    { weight: 1, arbitrary: pick(['h*', 'web0?', '*.example.com', 'g?[12]', 'app[-_]*', '[hw]*']) },
    { weight: 1, arbitrary: pick(['~h[12]', '~web', '~.*[0-9]$', '~(db|app)']) },
    { weight: 2, arbitrary: fc.tuple(pick(names), pick(['[0]', '[-1]', '[1]', '[0:1]', '[1:]', '[2:3]', '[5]'])).map(([n, s]) => n + s) },
  );

function patternArb(names: string[]): fc.Arbitrary<string> {
  const t = term(names);
  return fc
    .array(fc.tuple(pick(['', '', '', '&', '!']), t), { minLength: 1, maxLength: 4 })
    .chain((terms) => pick([':', ',']).map((sep) => terms.map(([op, x]) => op + x).join(sep)));
}

export const inventoryModel: fc.Arbitrary<InventoryModel> = fc
  .record({
    format: fc.constantFrom<InventoryModel['format']>('ini', 'ini', 'yaml', 'json'),
    groupNames: fc.uniqueArray(pick(GROUPS), { minLength: 1, maxLength: 6 }),
    cyclic: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  })
  .chain(({ format, groupNames, cyclic }) => {
    const values = format === 'ini' ? INI_HOST_VALUES : format === 'yaml' ? YAML_VALUES : JSON_VALUES;
    const groupValues = format === 'ini' ? INI_GROUP_VALUES : values;
    const group = (name: string, i: number) =>
      fc.record({
        name: fc.constant(name),
        priority: fc.option(fc.constantFrom('1', '3', '10', '-2', '"7"'), { freq: 3 }),
        hosts: fc.array(fc.record({ spec: hostSpec, vars: varsArb(values, 2) }), { maxLength: 4 }),
        vars: varsArb(groupValues),
        // Children only later in the list keeps the tree acyclic, except in a few cases.
        children: ((pool) => fc.subarray(pool, { maxLength: Math.min(3, pool.length) }))(cyclic ? groupNames.filter((g) => g !== name) : groupNames.slice(i + 1)),
      });
    const hostNames = [...HOSTS, 'r1', 'r01', 'xa'];
    return fc.record({
      format: fc.constant(format),
      topHosts: fc.array(fc.record({ spec: hostSpec, vars: varsArb(values, 2) }), { maxLength: 3 }),
      groups: fc.tuple(...groupNames.map((n, i) => group(n, i))),
      groupVars: fc.array(fc.record({ group: pick([...groupNames, 'all']), form: fc.constantFrom<'yml' | 'noext' | 'dir' | 'json'>('yml', 'noext', 'dir', 'json'), vars: varsArb(YAML_VALUES.filter((v) => !v.startsWith('!!'))) }), { maxLength: 3 }),
      hostVars: fc.array(fc.record({ host: pick(HOSTS), vars: varsArb(YAML_VALUES) }), { maxLength: 2 }),
      split: fc.constantFrom<InventoryModel['split']>('none', 'none', 'dir', 'two-sources'),
      patterns: fc.array(patternArb([...groupNames, ...hostNames]), { minLength: 2, maxLength: 5 }),
    });
  })
  .map((m) => ({ ...m, groups: [...m.groups] }));

/** The files (relative path → content) and the sources to pass as -i. */
export function render(m: InventoryModel): { files: Record<string, string>; sources: string[] } {
  const files: Record<string, string> = {};
  const parts = m.split === 'none' ? [m.groups] : [m.groups.filter((_, i) => i % 2 === 0), m.groups.filter((_, i) => i % 2 === 1)];
  const ext = m.format === 'ini' ? '' : m.format === 'yaml' ? '.yml' : '.json';
  const base = m.split === 'dir' ? 'inv/' : '';
  const sources: string[] = [];
  parts.forEach((groups, i) => {
    const top = i === 0 ? m.topHosts : [];
    const name = m.split === 'two-sources' ? `src${i}/hosts${ext}` : `${base}hosts${i}${ext}`;
    files[name] = m.format === 'ini' ? renderIni(top, groups) : m.format === 'yaml' ? renderYaml(top, groups) : renderJson(top, groups);
    if (m.split !== 'dir') sources.push(name);
  });
  if (m.split === 'dir') sources.push('inv');
  const varsDirs = m.split === 'two-sources' ? ['src0/', 'src1/'] : m.split === 'dir' ? ['inv/'] : [''];
  m.groupVars.forEach((gv, i) => {
    const dir = varsDirs[i % varsDirs.length]!;
    const body = gv.form === 'json' ? `{${gv.vars.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}\n` : yamlVars(gv.vars);
    const path = gv.form === 'dir' ? `${dir}group_vars/${gv.group}/${i}.yml` : gv.form === 'noext' ? `${dir}group_vars/${gv.group}` : gv.form === 'json' ? `${dir}group_vars/${gv.group}.json` : `${dir}group_vars/${gv.group}.yml`;
    if (!(path in files) && !Object.keys(files).some((f) => f.startsWith(`${path}/`) || path.startsWith(`${f}/`))) files[path] = body;
  });
  m.hostVars.forEach((hv, i) => {
    files[`${varsDirs[i % varsDirs.length]!}host_vars/${hv.host}.yml`] = yamlVars(hv.vars);
  });
  return { files, sources };
}

function yamlVars(vars: [string, string][]): string {
  return vars.map(([k, v]) => `${k}: ${v}\n`).join('');
}

function renderIni(top: InventoryModel['topHosts'], groups: GroupModel[]): string {
  const hostLine = (h: { spec: string; vars: [string, string][] }) => [h.spec, ...h.vars.map(([k, v]) => `${k}=${v}`)].join(' ');
  const lines = top.map(hostLine);
  for (const g of groups) {
    lines.push(`[${g.name}]`, ...g.hosts.map(hostLine));
    const vars = [...g.vars, ...(g.priority ? ([['ansible_group_priority', g.priority]] as [string, string][]) : [])];
    if (vars.length) lines.push(`[${g.name}:vars]`, ...vars.map(([k, v]) => `${k}=${v}`));
    if (g.children.length) lines.push(`[${g.name}:children]`, ...g.children);
  }
  // A child group kept in the other file of a split inventory is declared here too, as INI needs.
  const declared = new Set(groups.map((g) => g.name));
  for (const c of new Set(groups.flatMap((g) => g.children))) if (!declared.has(c)) lines.push(`[${c}]`);
  return `${lines.join('\n')}\n`;
}

function renderYaml(top: InventoryModel['topHosts'], groups: GroupModel[]): string {
  const out: string[] = [];
  const hosts = (list: { spec: string; vars: [string, string][] }[], ind: string) => {
    out.push(`${ind}hosts:`);
    for (const h of list) {
      out.push(`${ind}  ${JSON.stringify(h.spec)}:`);
      for (const [k, v] of h.vars) out.push(`${ind}    ${k}: ${v}`);
    }
  };
  if (top.length) {
    out.push('all:');
    hosts(top, '  ');
  }
  for (const g of groups) {
    out.push(`${JSON.stringify(g.name)}:`);
    if (g.hosts.length) hosts(g.hosts, '  ');
    const vars = [...g.vars, ...(g.priority ? ([['ansible_group_priority', g.priority]] as [string, string][]) : [])];
    if (vars.length) out.push('  vars:', ...vars.map(([k, v]) => `    ${k}: ${v}`));
    if (g.children.length) out.push('  children:', ...g.children.map((c) => `    ${JSON.stringify(c)}:`));
  }
  return `${out.join('\n')}\n`;
}

function renderJson(top: InventoryModel['topHosts'], groups: GroupModel[]): string {
  const obj = (pairs: [string, string][]) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(', ')}}`;
  const hosts = (list: { spec: string; vars: [string, string][] }[]) => `{${list.map((h) => `${JSON.stringify(h.spec)}: ${h.vars.length ? obj(h.vars) : 'null'}`).join(', ')}}`;
  const entries: string[] = [];
  if (top.length) entries.push(`"all": {"hosts": ${hosts(top)}}`);
  for (const g of groups) {
    const parts: string[] = [];
    if (g.hosts.length) parts.push(`"hosts": ${hosts(g.hosts)}`);
    const vars = [...g.vars, ...(g.priority ? ([['ansible_group_priority', g.priority]] as [string, string][]) : [])];
    if (vars.length) parts.push(`"vars": ${obj(vars)}`);
    if (g.children.length) parts.push(`"children": {${g.children.map((c) => `${JSON.stringify(c)}: {}`).join(', ')}}`);
    entries.push(`${JSON.stringify(g.name)}: {${parts.join(', ')}}`);
  }
  return `{\n${entries.join(',\n')}\n}\n`;
}
