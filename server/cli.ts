/** fleetpatch <command>: parse the command line, run the command, map errors to exit codes. */
import { parseArgs } from 'node:util';
import { bundleCommand } from './commands/bundle.ts';
import { cleanCommand } from './commands/clean.ts';
import { demoCommand } from './commands/demo.ts';
import { factsCommand } from './commands/facts.ts';
import { hostsCommand } from './commands/hosts.ts';
import { inventoryCommand } from './commands/inventory.ts';
import { labCommand } from './commands/lab.ts';
import { planCommand } from './commands/plan.ts';
import { rollbackCommand, runCommand } from './commands/run.ts';
import { cancelCommand, resumeCommand, runsCommand, showCommand } from './commands/runs.ts';
import { serveCommand } from './commands/serve.ts';
import type { Command, CommandContext, Options } from './commands/types.ts';
import { userCommand } from './commands/user.ts';
import { AppError, EXIT, errorInfo, exitCodeFor } from './errors.ts';

const COMMANDS: Command[] = [factsCommand, hostsCommand, inventoryCommand, bundleCommand, planCommand, runCommand, rollbackCommand, runsCommand, showCommand, cancelCommand, resumeCommand, cleanCommand, labCommand, demoCommand, userCommand, serveCommand];

const GLOBAL: Options = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'accept-new-host-keys': { type: 'boolean' },
};

const GLOBAL_HELP = [
  'Every command takes:',
  '  -c, --config FILE   controller config (JSON); also FLEETPATCH_CONFIG',
  '      --json          machine-readable output',
  '  -h, --help          this help',
  '      --accept-new-host-keys  trust unknown host keys on first use (appended to the first',
  '                      known_hosts file, audited); changed keys are still refused',
  '',
  'Exit codes: 0 success; 1 some hosts failed; 2 usage, config or input error (nothing touched);',
  '3 halted by the failure budget; 4 cancelled; 5 interrupted (resume possible).',
].join('\n');

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'fleetpatch — rebootless fleet patching over plain SSH',
    '',
    'Usage: fleetpatch <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    GLOBAL_HELP,
    '',
    'Run `fleetpatch <command> --help` for a command\'s options.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return [`Usage: ${c.usage}`, '', c.summary, '', c.details, '', GLOBAL_HELP].join('\n');
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  let json = rest.includes('--json');
  try {
    if (!command) throw new AppError('usage', `unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: rest, options: { ...GLOBAL, ...command.options }, allowPositionals: true, strict: true });
    } catch (err) {
      throw new AppError('usage', `${(err as Error).message}\nusage: ${command.usage}`);
    }
    if (parsed.values.help) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    json = parsed.values.json === true;
    const ctx: CommandContext = { values: parsed.values, positionals: parsed.positionals, json, ...io };
    return await command.run(ctx);
  } catch (err) {
    const info = errorInfo(err);
    if (json) io.out(JSON.stringify({ ok: false, error: info }));
    else io.err(`fleetpatch: ${info.code === 'internal' ? 'internal error: ' : ''}${info.message}`);
    if (info.code === 'internal' && process.env.FLEETPATCH_DEBUG) io.err(String((err as Error).stack));
    return info.code === 'internal' ? EXIT.hostsFailed : exitCodeFor(info.code);
  }
}
