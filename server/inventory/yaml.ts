/** Ansible's YAML inventory plugin (ansible/plugins/inventory/yaml.py), also used for JSON
 * files: top-level keys are groups, each with `hosts`, `vars` and `children` at any depth; a
 * section given as a string is a one-key mapping; null groups and hosts are allowed. */
import { AddressError, expandHostPattern } from './address.ts';
import { InventoryDataError, type InventoryData } from './data.ts';
import { SourceError } from './errors.ts';
import { jsonKeyOf, keyText, PyMap, toPyValue, truthyLoaded, type Loaded } from './pymap.ts';
import { PyDate, PyFloat, UnsafeText, type PyValue } from './values.ts';

export function parseYamlInventory(inv: InventoryData, data: Loaded, file: string, warn: (msg: string) => void, wrap: (v: PyValue) => PyValue = (v) => v): void {
  if (!truthyLoaded(data)) throw new SourceError('Parsed empty YAML file', file);
  if (!(data instanceof PyMap)) throw new SourceError(`YAML inventory has invalid structure, it should be a dictionary, got: ${pyTypeName(data)}`, file);
  if (truthyLoaded(data.get('plugin'))) throw new SourceError('Plugin configuration YAML file, not YAML inventory', file, data.lineOf('plugin'));

  const where = (map: PyMap, key: Loaded) => `${file}:${map.lineOf(key) ?? '?'}`;
  const fail = (msg: string, map: PyMap, key: Loaded): never => {
    throw new SourceError(msg, file, map.lineOf(key));
  };
  const guard = <T>(fn: () => T, map: PyMap, key: Loaded): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof InventoryDataError || err instanceof AddressError) fail(err.message, map, key);
      throw err;
    }
  };

  const parseGroup = (group: Loaded, groupData: Loaded, parent: PyMap): Loaded => {
    if (!(groupData instanceof PyMap) && groupData !== null) {
      warn(`Skipping '${keyText(group)}' as this is not a valid group definition`);
      return group;
    }
    let name: string;
    try {
      name = inv.addGroup(groupKey(group), where(parent, group));
    } catch (err) {
      if (err instanceof InventoryDataError) fail(`Unable to add group ${keyText(group)}: ${err.message}`, parent, group);
      throw err;
    }
    if (groupData === null) return name;
    for (const section of ['vars', 'children', 'hosts']) {
      if (!groupData.has(section)) continue;
      let v = groupData.get(section)!;
      if (typeof v === 'string' || v instanceof UnsafeText) {
        const one = new PyMap();
        one.set(v, null, groupData.lineOf(section));
        groupData.set(section, one);
        v = one;
      }
      if (!(v instanceof PyMap) && v !== null) {
        fail(`Invalid "${section}" entry for "${name}" group, requires a dictionary, found "${pyTypeName(v)}" instead.`, groupData, section);
      }
    }
    for (const [key, value] of groupData.entries) {
      if (!(value instanceof PyMap)) {
        if (value !== null) warn(`Skipping key (${keyText(key)}) in group (${name}) as it is not a mapping, it is a ${pyTypeName(value)}`);
        continue;
      }
      if (key === 'vars') {
        for (const [k, x] of value.entries) {
          const varName = jsonKeyOf(k);
          if (varName === null) fail(`variable name ${keyText(k)} in group ${name} is not a string`, value, k);
          guard(() => inv.setVariable(name, varName!, wrap(toPyValue(x))), value, k);
        }
      } else if (key === 'children') {
        for (const [sub, subData] of value.entries) {
          const child = parseGroup(sub, subData, value);
          guard(() => inv.addChild(name, groupKey(child) as string), value, sub);
        }
      } else if (key === 'hosts') {
        for (const [pattern, hostData] of value.entries) {
          if (typeof pattern !== 'string' && !(pattern instanceof UnsafeText)) {
            fail(`Host pattern ${keyText(pattern)} must be a string. Enclose integers/floats in quotation marks.`, value, pattern);
          }
          const text = typeof pattern === 'string' ? pattern : (pattern as UnsafeText).text;
          const { names, port } = guard(() => expandHostPattern(text), value, pattern);
          const vars = truthyLoaded(hostData) ? hostData : new PyMap();
          if (!(vars instanceof PyMap)) fail(`Invalid data from file, expected dictionary and got:\n\n${keyText(vars)}`, value, pattern);
          guard(() => {
            for (const h of names) {
              inv.addHost(h, name, port, where(value, pattern));
              for (const [k, x] of (vars as PyMap).entries) {
                const varName = jsonKeyOf(k);
                if (varName === null) throw new InventoryDataError(`variable name ${keyText(k)} of host ${h} is not a string`);
                inv.setVariable(h, varName, wrap(toPyValue(x)));
              }
            }
          }, value, pattern);
        }
      } else {
        warn(`Skipping unexpected key (${keyText(key)}) in group (${name}), only "vars", "children" and "hosts" are valid`);
      }
    }
    return name;
  };

  for (const [group, groupData] of data.entries) parseGroup(group, groupData, data);
}

/** A group key as Ansible's add_group sees it: strings (also `!unsafe` ones) are names. */
function groupKey(k: Loaded): PyValue {
  return k instanceof UnsafeText ? k.text : (k as PyValue);
}

/** Python's `type(v)` as Ansible's messages print it. */
export function pyTypeName(v: Loaded): string {
  const name =
    v === null ? 'NoneType'
    : typeof v === 'boolean' ? 'bool'
    : typeof v === 'number' || typeof v === 'bigint' ? 'int'
    : typeof v === 'string' ? 'ansible.parsing.yaml.objects.AnsibleUnicode'
    : v instanceof PyFloat ? 'float'
    : v instanceof PyDate ? 'datetime.date'
    : v instanceof PyMap ? 'ansible.parsing.yaml.objects.AnsibleMapping'
    : Array.isArray(v) ? 'ansible.parsing.yaml.objects.AnsibleSequence'
    : 'object';
  return `<class '${name}'>`;
}
