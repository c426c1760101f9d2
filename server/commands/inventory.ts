/** `fleetpatch inventory`: an inventory as fleetpatch reads it, printed as `ansible-inventory`
 * prints it (secrets redacted), and the hosts a pattern selects as `ansible PATTERN --list-hosts`. */
import { AppError, EXIT } from '../errors.ts';
import { loadInventory, selectHosts } from '../inventory/index.ts';
import { graphText, hostText, listText } from '../inventory/output.ts';
import { matchPattern, PatternError } from '../inventory/pattern.ts';
import { inventoryOptionsFrom, INVENTORY_OPTIONS, printWarnings } from './common.ts';
import type { Command } from './types.ts';

export const inventoryCommand: Command = {
  name: 'inventory',
  summary: 'show an inventory as fleetpatch (and Ansible) reads it',
  usage: 'fleetpatch inventory -i PATH [-i PATH]... [--vault-password-file F] [--ansible-cfg F] --list | --host NAME | --graph | --list-hosts PATTERN',
  details: [
    '  --list                 every group and host with variables, as `ansible-inventory --list` prints them',
    '  --host NAME            one host\'s variables, as `ansible-inventory --host NAME` prints them',
    '  --graph                the group tree, as `ansible-inventory --graph` draws it',
    '  --list-hosts PATTERN   the hosts a pattern selects, one per line, in `ansible PATTERN --list-hosts` order',
    '  --vault-password-file F  decrypt vault values and files (repeatable; F may be an executable printing it)',
    '  --ansible-cfg F        the ansible.cfg to read (default: where Ansible looks: $ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg)',
    'Secrets (ansible_password, ansible_become_pass, …, and every vault-encrypted value) are shown as "<redacted>".',
  ].join('\n'),
  options: {
    ...INVENTORY_OPTIONS,
    list: { type: 'boolean' },
    host: { type: 'string' },
    graph: { type: 'boolean' },
    'list-hosts': { type: 'string' },
  },
  async run(ctx) {
    const actions = ['list', 'host', 'graph', 'list-hosts'].filter((a) => ctx.values[a] !== undefined && ctx.values[a] !== false);
    if (actions.length !== 1) {
      throw new AppError('usage', `${actions.length ? 'only one' : 'one'} of --list, --host, --graph or --list-hosts is needed; usage: ${inventoryCommand.usage}`);
    }
    const inv = loadInventory((ctx.values.inventory as string[] | undefined) ?? [], inventoryOptionsFrom(ctx));
    const redacted = { redact: true };
    if (ctx.values.list) {
      ctx.out(listText(inv, redacted));
    } else if (typeof ctx.values.host === 'string') {
      let hosts;
      try {
        hosts = matchPattern(inv.data, ctx.values.host, inv.cwd).hosts;
      } catch (err) {
        if (err instanceof PatternError) throw new AppError('pattern', `--host ${ctx.values.host}: ${err.message}`);
        throw err;
      }
      if (hosts.length !== 1) throw new AppError('pattern', `--host needs exactly one host: ${JSON.stringify(ctx.values.host)} matches ${hosts.length} in ${inv.sources.join(', ')}`);
      ctx.out(hostText(inv, hosts[0]!.name, redacted));
    } else if (ctx.values.graph) {
      ctx.out(graphText(inv));
    } else {
      const hosts = selectHosts(inv, ctx.values['list-hosts'] as string).map((h) => h.name);
      ctx.out(ctx.json ? JSON.stringify(hosts) : hosts.join('\n'));
    }
    printWarnings(ctx, inv);
    return EXIT.ok;
  },
};
