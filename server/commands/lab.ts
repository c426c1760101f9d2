/** `fleetpatch lab up|down|status|kill|start|slow|cut|loss`: the local fleet for demos and tests. */
import { resolve } from 'node:path';
import { AppError, EXIT } from '../errors.ts';
import { DEFAULT_LAB_DIR, LAB_PORT, labCut, labDown, labKill, labLoss, labSlow, labStart, labStatus, labUp, parseRate, type HostStatus } from '../lab/index.ts';
import { MAX_VMS } from '../lab/vm.ts';
import { intOption } from './common.ts';
import { table } from './table.ts';
import type { Command } from './types.ts';

export const labCommand: Command = {
  name: 'lab',
  summary: 'run a local lab fleet of real OpenSSH hosts and real-kernel VMs (needs root)',
  usage: 'fleetpatch lab up [--hosts N] [--vms K] [--port P] [--dir D] | down [--purge] | status | kill HOST | start HOST | slow HOST --rate RATE|--off | cut HOST [--off] | loss HOST --percent P|--off',
  details: [
    '  up              start N namespace hosts (default 5) and K VMs (default 0), or reuse and',
    '                  grow the lab in D (running hosts and VMs are kept as they are)',
    '  down            stop every host (processes, mounts, namespaces) and VM (qemu);',
    '                  --purge also deletes D',
    '  status          which hosts and VMs run',
    '  kill HOST       power a host or VM off (every process in it dies at once)',
    '  start HOST      boot a killed host again; a VM boots afresh (a real reboot)',
    '  slow HOST       shape the host\'s SSH traffic (both directions) to --rate RATE, a tc rate',
    '                  such as 64kbit, 1mbit or 100kbps (8kbit to 10gbit); --off: full speed',
    '                  again. Namespace hosts only; uses htb on lo (the kernel has no netem)',
    '  cut HOST        drop every packet of the host\'s SSH traffic, both directions (a cut',
    '                  cable: connections hang and time out); --off restores it',
    '  loss HOST       drop --percent P (1-100) of the host\'s SSH packets at random, both',
    '                  directions; --off: no loss. cut and loss are nftables rules (table inet',
    '                  fleetpatch_lab); namespace hosts only. Delay is not possible: no netem',
    '  --dir D         lab directory (default .lab)',
    '  --port P        SSH port of every host and VM of a new lab (default 2222)',
    '',
    'Each host is an sshd on its own loopback address (127.0.1.K:2222) in its own PID, mount and',
    'UTS namespaces, with private overlays of /etc, /usr, /opt, /var/lib and /var/cache. Each VM',
    '(vm-01…, group vms) is qemu booting Debian\'s own kernel with livepatch support, reached at',
    '127.0.2.K:2222; `sh native/lab/setup.sh` prepares its kernel once. `lab up`',
    'writes D/inventory.ini, D/known_hosts, D/id_ed25519 and D/fleetpatch.json, so',
    '  FLEETPATCH_CONFIG=D/fleetpatch.json fleetpatch facts -i D/inventory.ini',
    'uses the lab like a real fleet, with strict host key checking.',
  ].join('\n'),
  options: {
    hosts: { type: 'string', short: 'n' },
    vms: { type: 'string' },
    dir: { type: 'string', short: 'd' },
    port: { type: 'string', short: 'p' },
    purge: { type: 'boolean' },
    rate: { type: 'string' },
    off: { type: 'boolean' },
    percent: { type: 'string' },
  },
  async run(ctx) {
    const [action, host, ...extra] = ctx.positionals;
    const dir = resolve((ctx.values.dir as string | undefined) ?? DEFAULT_LAB_DIR);
    const needHost = () => {
      if (!host || extra.length) throw new AppError('usage', `usage: fleetpatch lab ${action} HOST [--dir D]`);
      return host;
    };
    switch (action) {
      case 'up': {
        const vms = intOption('--vms', (ctx.values.vms as string | undefined) ?? '0', 0, MAX_VMS);
        const count = intOption('--hosts', (ctx.values.hosts as string | undefined) ?? '5', 0, 2000);
        const port = intOption('--port', (ctx.values.port as string | undefined) ?? String(LAB_PORT), 1, 65535);
        const status = await labUp(dir, count, port, vms);
        const up = status.filter((h) => h.kind === 'namespace').length;
        const upVms = status.length - up;
        ctx.out(
          ctx.json
            ? JSON.stringify({ dir, hosts: status }, null, 2)
            : `${formatStatus(status)}\n\nLab in ${dir}: ${up} hosts${upVms ? ` and ${upVms} VMs` : ''} up.\nUse it:  FLEETPATCH_CONFIG=${dir}/fleetpatch.json npx fleetpatch facts -i ${dir}/inventory.ini`,
        );
        return EXIT.ok;
      }
      case 'down':
        await labDown(dir, ctx.values.purge === true);
        if (!ctx.json) ctx.out(`Lab in ${dir} stopped${ctx.values.purge ? ' and deleted' : ''}.`);
        return EXIT.ok;
      case 'status': {
        const status = labStatus(dir);
        ctx.out(ctx.json ? JSON.stringify({ dir, hosts: status }, null, 2) : formatStatus(status));
        return EXIT.ok;
      }
      case 'kill': {
        const killed = await labKill(dir, needHost());
        if (!ctx.json) ctx.out(killed ? `${host} powered off.` : `${host} was not running.`);
        return EXIT.ok;
      }
      case 'start': {
        const started = await labStart(dir, needHost());
        if (!ctx.json) ctx.out(started ? `${host} booted.` : `${host} was already running.`);
        return EXIT.ok;
      }
      case 'slow': {
        const name = needHost();
        const rate = ctx.values.rate as string | undefined;
        const off = ctx.values.off === true;
        if ((rate === undefined) === !off) throw new AppError('usage', 'usage: fleetpatch lab slow HOST --rate RATE (e.g. 64kbit, 1mbit) | --off [--dir D]');
        if (rate !== undefined) parseRate(rate);
        const r = await labSlow(dir, name, off ? null : rate!);
        ctx.out(
          ctx.json
            ? JSON.stringify(r, null, 2)
            : r.rate
              ? `${name} slowed to ${r.rate} (SSH traffic to and from ${r.address}:${r.port}).`
              : `${name} runs at full speed.`,
        );
        return EXIT.ok;
      }
      case 'cut': {
        const name = needHost();
        const r = await labCut(dir, name, ctx.values.off !== true);
        ctx.out(ctx.json ? JSON.stringify(r, null, 2) : r.cut ? `${name} cut off (SSH traffic to and from ${r.address}:${r.port} dropped).` : `${name} reconnected.`);
        return EXIT.ok;
      }
      case 'loss': {
        const name = needHost();
        const percent = ctx.values.percent as string | undefined;
        const off = ctx.values.off === true;
        if ((percent === undefined) === !off) throw new AppError('usage', 'usage: fleetpatch lab loss HOST --percent P (1-100) | --off [--dir D]');
        const p = off ? null : intOption('--percent', percent!, 1, 100);
        const r = await labLoss(dir, name, p);
        ctx.out(ctx.json ? JSON.stringify(r, null, 2) : r.loss !== null ? `${name} loses ${r.loss} % of its SSH packets (both directions).` : `${name} loses no packets.`);
        return EXIT.ok;
      }
      default:
        throw new AppError('usage', `unknown lab action ${JSON.stringify(action ?? '')}; usage: ${labCommand.usage}`);
    }
  },
};

function formatStatus(hosts: HostStatus[]): string {
  return table(
    ['HOST', 'KIND', 'ADDRESS', 'STATE', 'PID', 'RATE', 'FAULT'],
    hosts.map((h) => [
      h.name,
      h.kind,
      `${h.address}:${h.port}`,
      h.running ? 'running' : 'stopped',
      h.pid === null ? '-' : String(h.pid),
      h.rate ?? '-',
      [...(h.cut ? ['cut'] : []), ...(h.loss !== null ? [`loss ${h.loss}%`] : [])].join(', ') || '-',
    ]),
  );
}
